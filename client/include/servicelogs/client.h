/* client.h -- libslc: a small C client for modelarts.v1.ServiceLogs
 *
 * Query one service's update logs over gRPC (C core) with nanopb decoding,
 * follow them live (slc_watch), and record services and updates
 * (slc_put_service, slc_record: the ServiceLogWriter service), fit for an
 * edge agent:
 *
 *   - the request needs no heap in this library: it is checked and encoded
 *     into a stack buffer (gRPC itself still allocates its call state);
 *   - the response needs bounded memory: gRPC holds the received message
 *     (at most slc_options.max_response_bytes), and slc_query_each() decodes
 *     the logs one at a time into one decode buffer owned by the client
 *     (about 170 KiB: one nanopb ServiceLog plus its 8 ServiceConfigs, the
 *     bounds of proto/modelarts/v1/service_logs.options), whatever the
 *     history length;
 *   - slc_query() collects compact heap copies of the logs, for callers
 *     that want the whole history at once.
 *
 * Typical use:
 *
 *     slc_client *c;
 *     slc_error err;
 *     if (slc_client_create("127.0.0.1:50051", NULL, &c, &err) != SLC_OK)
 *         die(err.message);
 *     slc_request req = {.project_id = "p1", .service_id = "s1"};
 *     slc_result *res;
 *     if (slc_query(c, &req, &res, &err) == SLC_OK) {
 *         for (size_t i = 0; i < res->n_logs; i++)
 *             use(&res->logs[i]);
 *         slc_result_free(res);
 *     }
 *     slc_client_destroy(c);
 *
 * Errors: every function that can fail returns SLC_OK (0) or a negative
 * SLC_E* code, and fills the caller's slc_error (when not NULL) with the
 * same code, the gRPC status and the ModelArts error code the server sent.
 * The error path never allocates.
 *
 * THREAD SAFETY: an slc_client is not thread-safe: run one query at a time
 * on it (it owns one completion queue and one decode buffer). Different
 * clients may be used from different threads at once. slc_result objects
 * are plain data: read them from any thread; free each once.
 */
#ifndef SLC_CLIENT_H
#define SLC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "modelarts/v1/service_logs.pb.h"

#ifdef __cplusplus
extern "C" {
#endif

/* XX(name, message): every error the library returns (libuv's
 * UV_ERRNO_MAP). When each happens:
 *   EINVAL       a local argument is wrong; nothing was sent
 *   ENOMEM       a local allocation failed
 *   EUNAVAILABLE cannot connect, or gRPC UNAVAILABLE / DEADLINE_EXCEEDED
 *   ENOTFOUND    gRPC NOT_FOUND: no such service in this project
 *   EAUTH        gRPC UNAUTHENTICATED / PERMISSION_DENIED
 *   ESERVER      any other non-OK gRPC status (INVALID_ARGUMENT,
 *                FAILED_PRECONDITION for batch services, INTERNAL, ...)
 *   ETOOLARGE    the response is over max_response_bytes (gRPC
 *                RESOURCE_EXHAUSTED without server ErrorInfo), over
 *                max_logs, or over a nanopb bound of service_logs.options
 *   EDECODE      the response bytes are not a QueryServiceLogsResponse
 *   ECALLBACK    the on_log callback asked to stop
 *   EINTERNAL    gRPC refused to start the call */
#define SLC_ERR_MAP(XX)                                                        \
    XX(EINVAL, "invalid argument")                                             \
    XX(ENOMEM, "out of memory")                                                \
    XX(EUNAVAILABLE, "server unavailable")                                     \
    XX(ENOTFOUND, "service not found")                                         \
    XX(EAUTH, "not authorized")                                                \
    XX(ESERVER, "server error")                                                \
    XX(ETOOLARGE, "response exceeds client limits")                            \
    XX(EDECODE, "malformed response")                                          \
    XX(ECALLBACK, "stopped by the log callback")                               \
    XX(EINTERNAL, "internal client error")

/* SLC_OK is 0; errors are negative (-99 and up, in table order). */
#define SLC__ERR_ENUM(name, msg) SLC_##name,
enum slc_err_code {
    SLC_OK = 0,
    SLC__ERR_FIRST = -100,
    SLC_ERR_MAP(SLC__ERR_ENUM) SLC__ERR_END
};
#undef SLC__ERR_ENUM

#define SLC_ERROR_CODE_LEN 65 /* ErrorInfo.reason bound (status.options) */
#define SLC_ERROR_MSG_LEN 256
#define SLC_ID_LEN 65    /* ids: 64 characters + NUL */
#define SLC_NAME_LEN 129 /* service_name: 128 bytes + NUL */

/* What went wrong. Owner: the caller (usually on its stack). Every function
 * taking one sets all fields, on success too (code SLC_OK, strings ""). */
typedef struct slc_error {
    /* SLC_OK or an SLC_E* value: what the function returned. */
    int code;
    /* The call's grpc_status_code (0 = OK); -1 when no call completed
     * (local errors found before or without one). */
    int grpc_status;
    /* The ModelArts code from the server's google.rpc.ErrorInfo (domain
     * "modelarts"), e.g. "ModelArts.3502"; "" when none was sent. */
    char error_code[SLC_ERROR_CODE_LEN];
    /* Human text: the gRPC status message, or the local detail; truncated
     * to fit. Never holds the token. */
    char message[SLC_ERROR_MSG_LEN];
} slc_error;

/* "EINVAL", "OK"; "UNKNOWN" for other values. Static strings. */
const char *slc_err_name(int code);
/* The table's message ("service not found"). Static strings. */
const char *slc_strerror(int code);

/* Client options. A zeroed struct (or NULL) means all defaults. */
typedef struct slc_options {
    int timeout_ms;            /* deadline of each query and write; 0 =
                                  5000 */
    size_t max_response_bytes; /* largest response message accepted; 0 =
                                  4 MiB; at most INT_MAX */
    size_t max_logs;           /* slc_query() only: more logs than this is
                                  SLC_ETOOLARGE; 0 = 10000 */
    /* Appended in 0.2 (zeroed means the old behaviour): */
    const char *token;    /* sent as "x-auth-token" on every call whose
                             slc_request.token is NULL or "" (the writer
                             calls have no request struct: this is their
                             token); NULL or "" = none; 1-4096 printable
                             ASCII; copied by slc_client_create() */
    int watch_timeout_ms; /* slc_watch() only: deadline of the whole watch;
                             0 = none (until the callback stops it or the
                             server ends the stream) */
    /* Appended in 0.3 (NULL or "" everywhere: plaintext, as before). Paths
     * of PEM files, read once by slc_client_create() (not kept open, not
     * read again: restart the client to pick up renewed files): */
    const char *tls_ca;   /* the CA certificate(s) to trust; given: the
                             channel is TLS (grpc_ssl_credentials_create),
                             else plaintext */
    const char *tls_cert; /* client certificate chain, leaf first, for
                             mutual TLS; needs tls_ca and tls_key */
    const char *tls_key;  /* its private key (PEM, unencrypted) */
    const char *tls_name; /* the name expected in the server's certificate
                             instead of the target's host (gRPC's
                             GRPC_SSL_TARGET_NAME_OVERRIDE_ARG); needs
                             tls_ca; copied */
} slc_options;

#define SLC_DEFAULT_TIMEOUT_MS 5000
#define SLC_DEFAULT_MAX_RESPONSE_BYTES (4u * 1024 * 1024)
#define SLC_DEFAULT_MAX_LOGS 10000

typedef struct slc_client slc_client;

/* Creates a client for the gRPC target `target` ("HOST:PORT", or any target
 * grpc_channel_create accepts) over a plaintext channel, or over TLS when
 * opts->tls_ca is given: the tls_* files are read and checked here, so a
 * missing, unreadable or malformed file is SLC_EINVAL naming the option and
 * the path. Connecting is lazy: an unreachable server, and what only a TLS
 * handshake can tell (a server certificate the CA did not sign or that
 * does not name the host, a client certificate the server refuses, a key
 * that does not belong to tls_cert), show up as SLC_EUNAVAILABLE from the
 * first call.
 * Calls grpc_init(); slc_client_destroy() calls the matching grpc_shutdown().
 * Owner: on SLC_OK *out is a new client that the caller frees with
 * slc_client_destroy(); on failure *out is NULL and nothing is held.
 * Errors: SLC_EINVAL (NULL/empty target, bad options, a bad tls_* file),
 * SLC_ENOMEM, SLC_EINTERNAL (gRPC refused the TLS credentials).
 * THREAD SAFETY: thread-safe. */
int slc_client_create(const char *target, const slc_options *opts,
                      slc_client **out, slc_error *err);

/* Frees the client, its channel and completion queue; accepts NULL. No query
 * may be running on it.
 * THREAD SAFETY: not thread-safe with respect to the same client. */
void slc_client_destroy(slc_client *c);

/* One query. All pointers are borrowed for the duration of the call. */
typedef struct slc_request {
    const char *project_id; /* required: 1-64 characters of [A-Za-z0-9_-] */
    const char *service_id; /* required: same rule */
    int64_t update_time;    /* >= 0; 0 = all logs, otherwise only the logs
                               with exactly this update_time (ms) */
    const char *token;      /* sent as "x-auth-token"; NULL or "" = the
                               client's slc_options.token; 1-4096
                               printable ASCII characters */
} slc_request;

#define SLC_TOKEN_MAX 4096

/* Per-log bounds (service_logs.options; the server's import enforces the
 * same limits, server/limits.h). */
#define SLC_MAX_CONFIGS 8       /* config entries per log */
#define SLC_MAX_ENVS 16         /* envs per config */
#define SLC_MAX_NODES 64        /* result_detail entries per log */
#define SLC_MAX_EXTEND_CONFIG 8 /* extend_config entries per log */
/* String bounds, NUL excluded (what slc_record() accepts). */
#define SLC_MAX_ID 64            /* ids, model_version, cluster_id */
#define SLC_MAX_NAME 128         /* names, specification, env keys */
#define SLC_MAX_ENV_VALUE 1024   /* env values */
#define SLC_MAX_EXTEND_VALUE 256 /* each extend_config entry */

/* The response's fields other than the logs. */
typedef struct slc_head {
    char service_id[SLC_ID_LEN];
    char service_name[SLC_NAME_LEN];
    modelarts_v1_InferType infer_type; /* REAL_TIME or EDGE: decides which
                                          log fields are meaningful */
    size_t n_logs;                     /* number of logs in the response */
} slc_head;

/* One log, as both query forms deliver it. Strings are NUL-terminated,
 * never NULL. In slc_query_each() it points into the client's decode buffer
 * (valid during the callback); in an slc_result it points into memory that
 * the result owns. Counts are within the client's bounds (SLC_MAX_*); a
 * response beyond them fails with SLC_ETOOLARGE. Enum values are passed on
 * as received (a newer server may send values this header does not name).
 */
typedef struct slc_env {
    const char *key;
    const char *value;
} slc_env;

/* A custom resource flavour (the live platform's). */
typedef struct slc_custom_spec {
    float gpu_p4;
    int32_t memory;
    float cpu;
    int32_t ascend_a310;
} slc_custom_spec;

typedef struct slc_config {
    const char *model_id;
    const char *model_name;
    const char *model_version;
    int32_t weight; /* real-time only */
    const char *specification;
    int32_t instance_count; /* real-time only */
    size_t n_envs;
    const slc_env *envs; /* in the order the server sent them */
    /* Appended in 0.2; absent when not recorded: */
    const slc_custom_spec *custom_spec; /* NULL: none */
    const char *cluster_id;             /* "": none (slc_record: NULL too) */
} slc_config;

typedef struct slc_node {
    const char *node_id;
    const char *node_name;
    modelarts_v1_NodeOperation operation;
    bool result; /* true: the operation succeeded */
} slc_node;

typedef struct slc_log {
    int64_t update_time; /* ms since the epoch */
    modelarts_v1_UpdateResult result;
    size_t n_config;
    const slc_config *config;
    int32_t success_num; /* edge only */
    int32_t failed_num;  /* edge only */
    size_t n_result_detail;
    const slc_node *result_detail; /* edge only */
    /* Appended in 0.2; empty when not recorded: */
    const char *cluster_id; /* "": none (slc_record: NULL too) */
    size_t n_extend_config;
    const char *const *extend_config;
} slc_log;

/* Called once per log, oldest first. `head` is complete (infer_type and
 * n_logs included) from the first call on. `log` and everything it points
 * to live in the client's decode buffer: valid only until the callback
 * returns; copy what you keep. Return 0 to go on, anything else to stop the
 * query (it then returns SLC_ECALLBACK). The callback must not call into
 * the same client. */
typedef int (*slc_log_fn)(void *ctx, const slc_head *head, const slc_log *log);

/* Runs one QueryServiceLogs call and streams its logs to on_log (may be
 * NULL: then only the head is read). The request is checked before any
 * network traffic (SLC_EINVAL names the field). When head is not NULL it
 * is filled before the first on_log call and left zeroed on failure.
 * Memory: the received message (<= max_response_bytes, held by gRPC) plus
 * the client's decode buffer; nothing proportional to the number of logs.
 * A decoding error after some logs were delivered still fails the query:
 * treat what on_log received as partial then.
 * Errors: SLC_EINVAL, SLC_EUNAVAILABLE, SLC_ENOTFOUND, SLC_EAUTH,
 * SLC_ESERVER, SLC_ETOOLARGE, SLC_EDECODE, SLC_ECALLBACK, SLC_EINTERNAL.
 * THREAD SAFETY: one query at a time per client. */
int slc_query_each(slc_client *c, const slc_request *req, slc_head *head,
                   slc_log_fn on_log, void *ctx, slc_error *err);

/* A collected result: the head and compact copies of every log, owned by
 * the result. */
typedef struct slc_result {
    slc_head head;
    size_t n_logs; /* == head.n_logs */
    const slc_log *logs;
} slc_result;

/* Runs the query and collects every log (slc_query_each underneath).
 * Owner: on SLC_OK *out is a new result that the caller frees with
 * slc_result_free(); on failure *out is NULL and nothing is held.
 * Errors: as slc_query_each (never SLC_ECALLBACK), plus SLC_ETOOLARGE when
 * the response holds more than max_logs logs, and SLC_ENOMEM.
 * THREAD SAFETY: one query at a time per client. */
int slc_query(slc_client *c, const slc_request *req, slc_result **out,
              slc_error *err);

/* Frees a result from slc_query(); accepts NULL. */
void slc_result_free(slc_result *r);

/* ---- live watch (WatchServiceLogs) ----------------------------------- */

/* What a watch callback is handed. */
typedef enum slc_watch_event {
    SLC_WATCH_SNAPSHOT_LOG = 1, /* one log of the snapshot, oldest first */
    SLC_WATCH_SNAPSHOT_END = 2, /* the snapshot is complete; log is NULL
                                   (also sent when it holds no log) */
    SLC_WATCH_LOG = 3           /* one log recorded or replaced since, in commit
                                   order (a replaced log comes again, whole) */
} slc_watch_event;

/* Called for each event of a watch. head is complete from the first call
 * on (its n_logs counts the snapshot's logs). log and everything it points
 * to live in the client's decode buffer, as for slc_log_fn. Return 0 to go
 * on, anything else to cancel the watch (slc_watch then returns
 * SLC_ECALLBACK). The callback must not call into the same client. */
typedef int (*slc_watch_fn)(void *ctx, slc_watch_event ev, const slc_head *head,
                            const slc_log *log);

/* Runs one WatchServiceLogs call: the snapshot (what slc_query_each would
 * deliver), then every later log, until the stream ends. req is checked as
 * for a query. When head is not NULL it is filled from the snapshot (and
 * left zeroed when the snapshot never came).
 * Memory: one received message (held by gRPC, <= max_response_bytes) plus
 * the client's decode buffer, whatever the history length or the watch's
 * duration.
 * Returns when:
 *   - the callback returns non-zero: the call is cancelled, SLC_ECALLBACK;
 *   - the watch deadline (slc_options.watch_timeout_ms) passes after the
 *     snapshot arrived: SLC_OK (the watch ran its course); before it:
 *     SLC_EUNAVAILABLE;
 *   - the server ends the stream: SLC_OK for an OK status, else the
 *     status mapped as for a query (UNAVAILABLE at server shutdown:
 *     SLC_EUNAVAILABLE; RESOURCE_EXHAUSTED for a watcher that fell behind
 *     or over --max-watchers: SLC_ESERVER, error_code ModelArts.2799;
 *     watch again for a fresh snapshot).
 * Errors: those of slc_query_each; SLC_EDECODE also when the first
 * message holds no snapshot or a later one no log.
 * THREAD SAFETY: one call at a time per client. */
int slc_watch(slc_client *c, const slc_request *req, slc_head *head,
              slc_watch_fn on_event, void *ctx, slc_error *err);

/* ---- writers (ServiceLogWriter) -------------------------------------- */

/* Creates the service project_id/service_id, or renames it, with the
 * client's token (slc_options.token; the server wants the write role when
 * it checks tokens). infer_type is REAL_TIME, EDGE or BATCH and must
 * match an existing service's (else SLC_ESERVER, FAILED_PRECONDITION).
 * *created (when not NULL) tells whether the service is new; false on
 * failure. Arguments are checked before any network traffic (SLC_EINVAL:
 * ids as for a query, name 1-128 bytes).
 * Errors: SLC_EINVAL, SLC_EUNAVAILABLE, SLC_EAUTH, SLC_ESERVER,
 * SLC_EDECODE, SLC_EINTERNAL.
 * THREAD SAFETY: one call at a time per client. */
int slc_put_service(slc_client *c, const char *project_id,
                    const char *service_id, const char *service_name,
                    modelarts_v1_InferType infer_type, bool *created,
                    slc_error *err);

/* Records one update log of a service (RecordServiceUpdate): a new
 * update_time (> 0) appends, a known one replaces that log in place
 * (RUNNING, then SUCCESS or FAIL). log is only read; its strings may be
 * NULL for "" (never for env keys and values), its arrays NULL when their
 * count is 0. The library checks the bounds it can encode (counts
 * SLC_MAX_*, string lengths SLC_MAX_*; SLC_EINVAL names the field); the
 * server checks the rest (enum values, presence by infer_type: its
 * SLC_ESERVER, INVALID_ARGUMENT). Encoded with nanopb callbacks, straight
 * into one gRPC-owned slice.
 * *created (when not NULL): true when the log is new, false when it
 * replaced one; false on failure.
 * Errors: SLC_EINVAL, SLC_ENOTFOUND (no such service), SLC_EUNAVAILABLE,
 * SLC_EAUTH, SLC_ESERVER (batch services: FAILED_PRECONDITION),
 * SLC_EDECODE, SLC_ENOMEM, SLC_EINTERNAL.
 * THREAD SAFETY: one call at a time per client. */
int slc_record(slc_client *c, const char *project_id, const char *service_id,
               const slc_log *log, bool *created, slc_error *err);

#ifdef __cplusplus
}
#endif

#endif
