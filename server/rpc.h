/* rpc.h -- the RPC handlers, independent of the gRPC call machinery
 *
 * A handler turns request bytes into response bytes (or an error) using
 * one store connection; call.c moves the bytes on and off the wire. That
 * split keeps handlers testable with cmocka and the memory backend.
 */
#ifndef SL_RPC_H
#define SL_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <grpc/slice.h>

#include "auth.h"
#include "cache.h"
#include "error.h"
#include "store.h"
#include "validate.h"

/* The ids of a query, for the access log: set when they are valid,
 * else left empty. Owner: the caller. */
struct sl_query_ids {
    char project_id[SL_MAX_ID + 1];
    char service_id[SL_MAX_ID + 1];
    bool cached; /* the answer came from the response cache (no read) */
};

/* What a handler may use besides the request. Owner: the caller. */
struct sl_rpc_ctx {
    struct sl_store *store; /* the calling thread's connection */
    struct sl_auth *auth;   /* tokens; NULL when auth is off */
    const char *token;      /* x-auth-token as received (not NUL-terminated) */
    size_t token_len;       /* 0: no token */
    bool backend_ok;        /* false while health says the backend is down */
    int64_t deadline_us;    /* CLOCK_MONOTONIC µs; 0 = none */
    struct sl_cache *cache; /* the server's response cache (cache.h);
                               NULL: none. Queries look up and fill it,
                               writers invalidate it */
    struct sl_cache_extra *cache_extra; /* the in-process REST path's: on
                               a hit the JSON attached to the answer; the
                               answer's seq on a hit or a fill (cache.h);
                               NULL: not wanted */
};

struct sl_call;

/* The pure layer of a unary method: request bytes in, response bytes out
 * (*resp is the caller's on SL_OK), ids filled once they are valid. */
typedef int sl_rpc_fn(const struct sl_rpc_ctx *ctx, const uint8_t *req,
                      size_t req_len, grpc_slice *resp,
                      struct sl_query_ids *ids, struct sl_err *err);

/* rpc_unary.c, for the handlers of methods.h:
 * sl_rpc_ctx_from_call  the context of call c (its worker's store, the
 *                       server's tokens and health, c's deadline and
 *                       x-auth-token, which points into c's metadata).
 * sl_rpc_serve_unary    a unary handler's accept(): shedding, the context,
 *                       fn on c's request, with reports_reads the read's
 *                       outcome to health (sl_health_report_read), the
 *                       answer.
 * sl_rpc_pack_created   a PutServiceResponse / RecordServiceUpdateResponse
 *                       (both are {bool created = 1}).
 * sl_rpc_count_corrupt  for rc SL_ECORRUPT: counted (backend corrupt and
 *                       error metrics) and logged at warn with err's text;
 *                       nothing otherwise. */
void sl_rpc_ctx_from_call(struct sl_call *c, struct sl_rpc_ctx *ctx);
void sl_rpc_serve_unary(struct sl_call *c, sl_rpc_fn *fn, bool reports_reads);
grpc_slice sl_rpc_pack_created(bool created);
void sl_rpc_count_corrupt(int rc, const struct sl_err *err);

/* modelarts.v1.ServiceLogs/QueryServiceLogs: decode -> validate ->
 * authorize -> (ctx->cache: a hit answers here, ids->cached set) -> read
 * -> encode (-> fill the cache). Only answers are cached, never errors.
 * req/req_len: the packed QueryServiceLogsRequest (owned by the caller).
 * On SL_OK *resp holds the packed QueryServiceLogsResponse; the caller
 * unrefs it. ids (may be NULL) receives the request's ids once they are
 * valid. On failure *resp is empty and err says what went wrong:
 * SL_EINVAL (malformed message or field), SL_ENOTOKEN, SL_EBADTOKEN,
 * SL_EFORBIDDEN, SL_ENOTFOUND (also for another project's service),
 * SL_EBATCH, SL_EUNAVAIL (store), SL_ETIMEOUT, SL_ENOMEM.
 * THREAD SAFETY: ctx->store belongs to the calling thread. */
int sl_rpc_query_logs(const struct sl_rpc_ctx *ctx, const uint8_t *req,
                      size_t req_len, grpc_slice *resp,
                      struct sl_query_ids *ids, struct sl_err *err);

/* WatchServiceLogs' first step: the same request (its fields are
 * QueryServiceLogsRequest's), the same checks and errors as
 * sl_rpc_query_logs, then subscribe() once the request is valid and
 * authorized -- before the read, so that no change committed after the
 * read can be missed -- then the read (sl_store_query_snapshot). On SL_OK
 * *resp holds a packed WatchServiceLogsResponse whose snapshot field is
 * exactly sl_rpc_query_logs' answer, and seq the feed position it
 * reflects. When subscribe() fails its code is returned; when the read
 * fails after subscribe() succeeded, the caller unsubscribes. */
struct sl_rpc_snapshot {
    int (*subscribe)(void *arg, const struct sl_log_query *q,
                     struct sl_err *err);
    void *arg;   /* subscribe's */
    int64_t seq; /* out: the change seq the snapshot reflects */
};
int sl_rpc_watch_snapshot(const struct sl_rpc_ctx *ctx, const uint8_t *req,
                          size_t req_len, grpc_slice *resp,
                          struct sl_query_ids *ids,
                          struct sl_rpc_snapshot *snap, struct sl_err *err);

#endif
