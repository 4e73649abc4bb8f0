/* http_local.c -- the REST shim's in-process query path (http_local.h)
 *
 * Threading: the shim's libmicrohttpd workers call in, one query per
 * worker at a time. Each worker queries on a store connection of its own
 * (pthread key, no destructor: the pool owns the connections); the pool
 * (stores[], taken from the front) is guarded by mu, taken once per
 * worker, on its first query. Shared with the server and the gRPC
 * workers: the health state (its own locking, rpc_health.h), the tokens
 * (atomic swaps, auth.h), the in-flight counter (an atomic); the warning
 * rate limiter is an atomic.
 *
 * Ownership: struct sl_http_local owns the pool's connections and the
 * key; what struct sl_server_local points to is the server's. Per query,
 * the packed request is on the stack and the packed answer (a slice) is
 * unref'd before returning; the unpacked answer goes to the caller.
 */
#include "http_local.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/slice.h>

#include "call.h"
#include "clock.h"
#include "http_upstream.h"
#include "http_web.h"
#include "log.h"
#include "metrics.h"
#include "render_json.h"
#include "rpc.h"
#include "validate.h"

struct sl_http_local {
    struct sl_server_local srv; /* the server's state (pointers: its) */
    int timeout_ms;             /* the shim's per-request deadline */
    pthread_key_t key;          /* a worker's struct sl_store * */
    bool key_made;              /* key exists (for cleanup) */
    pthread_mutex_t mu;         /* guards the pool below */
    struct sl_store **stores;   /* owned connections */
    size_t n_stores;            /* opened */
    size_t cap;                 /* room in stores */
    size_t taken;               /* stores[0..taken) have their worker */
    atomic_llong last_warn_s;   /* second of the last store warning */
};

/* Appends st to the pool (mu held, or before any worker runs). */
static int pool_add(struct sl_http_local *l, struct sl_store *st,
                    struct sl_err *err)
{
    if (l->n_stores == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        struct sl_store **p = realloc(l->stores, cap * sizeof(*p));
        if (!p)
            return sl_err_set(err, SL_ENOMEM, "out of memory");
        l->stores = p;
        l->cap = cap;
    }
    l->stores[l->n_stores++] = st;
    return SL_OK;
}

/* Opens one connection into the pool. */
static int pool_open(struct sl_http_local *l, struct sl_err *err)
{
    struct sl_store *st = NULL;
    int rc = sl_store_open_with(l->srv.backend, l->srv.store_opts, &st, err);
    if (rc == SL_OK && (rc = pool_add(l, st, err)) != SL_OK)
        sl_store_close(st);
    return rc;
}

void sl_http_local_close(struct sl_http_local *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n_stores; i++)
        sl_store_close(l->stores[i]);
    free(l->stores);
    if (l->key_made)
        pthread_key_delete(l->key);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

int sl_http_local_open(const struct sl_server_local *srv, int threads,
                       int timeout_ms, struct sl_http_local **out,
                       struct sl_err *err)
{
    *out = NULL;
    struct sl_http_local *l = calloc(1, sizeof(*l));
    if (!l)
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    l->srv = *srv;
    l->timeout_ms = timeout_ms;
    atomic_init(&l->last_warn_s, 0);
    pthread_mutex_init(&l->mu, NULL);
    int rc = SL_OK;
    if (pthread_key_create(&l->key, NULL) != 0) {
        rc = sl_err_set(err, SL_ENOMEM, "cannot create a thread key");
        goto out;
    }
    l->key_made = true;
    for (int i = 0; i < threads; i++)
        if ((rc = pool_open(l, err)) != SL_OK)
            goto out;
    *out = l;
    return SL_OK;
out:
    sl_http_local_close(l);
    return rc;
}

/* The calling worker's connection: its own since its first query; NULL
 * (err set) when none could be opened. */
static struct sl_store *worker_store(struct sl_http_local *l,
                                     struct sl_err *err)
{
    struct sl_store *st = pthread_getspecific(l->key);
    if (st)
        return st;
    pthread_mutex_lock(&l->mu);
    if (l->taken < l->n_stores || pool_open(l, err) == SL_OK)
        st = l->stores[l->taken++];
    pthread_mutex_unlock(&l->mu);
    if (st && pthread_setspecific(l->key, st) != 0) {
        sl_err_set(err, SL_ENOMEM, "cannot keep a store connection");
        return NULL; /* it stays in the pool; closed at the stop */
    }
    return st;
}

/* What call.c does for a gRPC call that fails for a storage reason. */
static void note_failure(int rc, const struct sl_err *err)
{
    if (rc == SL_EUNAVAIL || rc == SL_EIO || rc == SL_EINTERNAL ||
        rc == SL_ETIMEOUT) {
        sl_metrics_backend_error();
        sl_log(SL_LOG_WARN, "rest: query failed: %s: %s", sl_err_name(rc),
               err->msg);
    }
}

/* What the gRPC handler's context holds (sl_rpc_ctx_from_call), for a
 * request with token on the calling worker: the deadline is the sooner
 * of --query-timeout and the shim's. */
static void init_ctx(struct sl_http_local *l, const char *token,
                     struct sl_rpc_ctx *ctx)
{
    int ms = l->timeout_ms < l->srv.query_timeout_ms ? l->timeout_ms
                                                     : l->srv.query_timeout_ms;
    *ctx = (struct sl_rpc_ctx){
        .auth = l->srv.auth,
        .token = token,
        .token_len = token ? strlen(token) : 0,
        .backend_ok = sl_health_backend_ok(l->srv.health),
        .deadline_us = sl_clock_us() + (int64_t)ms * 1000,
        .cache = l->srv.cache,
    };
    struct sl_err open_err;
    sl_err_clear(&open_err);
    ctx->store = worker_store(l, &open_err);
    if (!ctx->store) {
        /* Refused as when the backend is down, after the same checks. */
        if (sl_log_once_a_second(&l->last_warn_s))
            sl_log(SL_LOG_WARN, "rest: no store connection: %s", open_err.msg);
        ctx->backend_ok = false;
    }
}

/* The query, its place taken: the packed answer into *resp (the
 * caller's: unref it), its ids into *ids and, with extra, what the cache
 * adds (cache.h). */
static int query(struct sl_http_local *l, const struct sl_route *rt,
                 const char *token, grpc_slice *resp,
                 struct sl_cache_extra *extra, struct sl_query_ids *ids,
                 struct sl_err *err)
{
    uint8_t wire[SL_ROUTE_PACK_MAX];
    struct sl_rpc_ctx ctx;
    init_ctx(l, token, &ctx);
    ctx.cache_extra = extra;
    size_t n = sl_http_route_pack(rt, wire);
    int rc = sl_rpc_query_logs(&ctx, wire, n, resp, ids, err);
    if (ctx.backend_ok && !ids->cached) /* else answered without a read */
        sl_health_report_read(l->srv.health, rc, ids->project_id,
                              ids->service_id, err);
    if (rc == SL_OK && !sl_reply_fits(GRPC_SLICE_LENGTH(*resp),
                                      l->srv.max_response_bytes, err))
        rc = err->code;
    if (rc != SL_OK) {
        grpc_slice_unref(*resp);
        *resp = grpc_empty_slice();
    }
    note_failure(rc, err);
    return rc;
}

static int unpack(grpc_slice resp,
                  Modelarts__V1__QueryServiceLogsResponse **out,
                  struct sl_err *err)
{
    *out = modelarts__v1__query_service_logs_response__unpack(
        NULL, GRPC_SLICE_LENGTH(resp), GRPC_SLICE_START_PTR(resp));
    return *out ? SL_OK
                : sl_err_set(err, SL_EINTERNAL,
                             "the answer could not be decoded");
}

/* The JSON body of the answer: the one the cache holds for it, else
 * rendered (and handed to the cache: rendered once per cached answer).
 * What the cache holds is the body's ETag hash (8 bytes, this process's
 * byte order) and then the body. */
static int query_json(struct sl_http_local *l, const struct sl_route *rt,
                      const char *token, struct sl_buf *body, uint64_t *hash,
                      bool *hashed, grpc_slice *big, struct sl_err *err)
{
    struct sl_cache_extra extra = {grpc_empty_slice(), -1};
    struct sl_query_ids ids;
    grpc_slice resp;
    int rc =
        query(l, rt, token, &resp, l->srv.cache ? &extra : NULL, &ids, err);
    if (rc == SL_OK && GRPC_SLICE_LENGTH(extra.json) >= sizeof(*hash)) {
        const uint8_t *p = GRPC_SLICE_START_PTR(extra.json);
        memcpy(hash, p, sizeof(*hash));
        *hashed = true;
        sl_buf_append(body, p + sizeof(*hash),
                      GRPC_SLICE_LENGTH(extra.json) - sizeof(*hash));
    } else if (rc == SL_OK && GRPC_SLICE_LENGTH(resp) >= SL_HTTP_STREAM_MIN) {
        *big = resp; /* the caller streams it (sl_http_stream_answer) */
        resp = grpc_empty_slice();
    } else if (rc == SL_OK) {
        Modelarts__V1__QueryServiceLogsResponse *r;
        if ((rc = unpack(resp, &r, err)) == SL_OK) {
            rc = sl_render_logs_json(r, body);
            modelarts__v1__query_service_logs_response__free_unpacked(r, NULL);
        }
        if (rc == SL_OK && extra.seq >= 0 && !body->oom) {
            *hash = sl_http_etag_hash(body->data, body->len);
            *hashed = true;
            grpc_slice json = grpc_slice_malloc(sizeof(*hash) + body->len);
            uint8_t *p = GRPC_SLICE_START_PTR(json);
            memcpy(p, hash, sizeof(*hash));
            memcpy(p + sizeof(*hash), body->data, body->len);
            sl_cache_attach_json(l->srv.cache, ids.project_id, ids.service_id,
                                 rt->update_time, extra.seq, json);
            grpc_slice_unref(json);
        }
    }
    grpc_slice_unref(extra.json);
    grpc_slice_unref(resp);
    return rc;
}

int sl_http_local_query(struct sl_http_local *l, const struct sl_route *rt,
                        const char *token,
                        Modelarts__V1__QueryServiceLogsResponse **out,
                        struct sl_err *err)
{
    *out = NULL;
    /* Shedding first, as the gRPC handler: the place is held until the
     * answer is decoded, refused or not. */
    grpc_slice resp = grpc_empty_slice();
    struct sl_query_ids ids;
    int rc = sl_admit(l->srv.in_flight, l->srv.max_in_flight, err)
                 ? query(l, rt, token, &resp, NULL, &ids, err)
                 : err->code;
    if (rc == SL_OK)
        rc = unpack(resp, out, err);
    grpc_slice_unref(resp);
    sl_admit_release(l->srv.in_flight);
    return rc;
}

int sl_http_local_query_json(struct sl_http_local *l, const struct sl_route *rt,
                             const char *token, struct sl_buf *body,
                             uint64_t *hash, bool *hashed, grpc_slice *big,
                             struct sl_err *err)
{
    *big = grpc_empty_slice();
    *hashed = false;
    int rc = sl_admit(l->srv.in_flight, l->srv.max_in_flight, err)
                 ? query_json(l, rt, token, body, hash, hashed, big, err)
                 : err->code;
    sl_admit_release(l->srv.in_flight);
    return rc;
}

enum sl_serving sl_http_local_health(struct sl_http_local *l)
{
    return sl_health_status(l->srv.health, "", 0);
}

/* snap->subscribe, noting that it listed the watcher (a read follows). */
struct noted_sub {
    struct sl_rpc_snapshot *snap; /* the caller's */
    bool listed;
};

static int subscribe_noted(void *arg, const struct sl_log_query *q,
                           struct sl_err *err)
{
    struct noted_sub *n = arg;
    int rc = n->snap->subscribe(n->snap->arg, q, err);
    n->listed = rc == SL_OK;
    return rc;
}

int sl_http_local_watch(struct sl_http_local *l, const struct sl_route *rt,
                        const char *token, struct sl_rpc_snapshot *snap,
                        grpc_slice *resp, struct sl_err *err)
{
    uint8_t wire[SL_ROUTE_PACK_MAX];
    struct sl_rpc_ctx ctx;
    struct sl_query_ids ids;
    struct noted_sub n = {snap, false};
    struct sl_rpc_snapshot mine = {.subscribe = subscribe_noted, .arg = &n};

    init_ctx(l, token, &ctx);
    size_t len = sl_http_route_pack(rt, wire);
    int rc = sl_rpc_watch_snapshot(&ctx, wire, len, resp, &ids, &mine, err);
    snap->seq = mine.seq;
    if (ctx.backend_ok && n.listed) /* as the handler: a read was made */
        sl_health_report_read(l->srv.health, rc, ids.project_id, ids.service_id,
                              err);
    size_t size = GRPC_SLICE_LENGTH(*resp);
    if (rc == SL_OK && size > l->srv.max_response_bytes) {
        /* The handler sends it; gRPC's send limit ends the call, and the
         * hop's shim answers this (answer_too_big, http_upstream.c). */
        rc = sl_http_too_big(size, (long long)l->srv.max_response_bytes, err);
        grpc_slice_unref(*resp);
        *resp = grpc_empty_slice();
    }
    note_failure(rc, err);
    return rc;
}

struct sl_feed *sl_http_local_feed(struct sl_http_local *l)
{
    return l->srv.feed;
}
