/* http_local.h -- the REST shim's in-process query path: no gRPC hop
 *
 * When the shim runs in the server's process (no --upstream), GET and
 * HEAD /v1/{p}/services/{s}/logs are answered on the libmicrohttpd worker
 * that read the request: route (http_route.h) -> the QueryServiceLogs
 * core, sl_rpc_query_logs() of rpc.h (decode, validate, authorize, read
 * the store, splice) -> render_json.h. It is the same function the gRPC
 * handler runs, on the same request bytes, so both transports answer the
 * same checks with the same codes and texts; what the gRPC handler adds
 * around it is done here too, with the server's own state (struct
 * sl_server_local, server.h):
 * - shedding: one place of --max-concurrent-calls (call.h, sl_admit),
 *   the places gRPC calls take, held for the query; refused: 429
 *   ModelArts.2799 with the gRPC text;
 * - the deadline: the sooner of --query-timeout and the shim's
 *   --upstream-timeout, from the request's start (504 past it);
 * - health: backend_ok refuses without a read (503 ModelArts.4302), and
 *   every read is reported (sl_health_report_read), as the handler does;
 * - --max-response-bytes: an answer larger than it is SL_ETOOBIG (500
 *   ModelArts.0010) with the handler's text (call.h, sl_reply_fits);
 * - the server's response cache (cache.h): a hit skips the read, and the
 *   JSON rendered from a cached answer is kept beside it
 *   (sl_http_local_query_json), so a hot answer is rendered once; a hit
 *   is no read for health;
 * - a failure for a storage reason (unavailable, i/o, internal, deadline)
 *   counts in servicelogs_backend_errors_total and is logged at warn
 *   ("rest: query failed: ..."), as call.c does for gRPC calls.
 * /healthz reads the server's serving status (rpc_health.h, service "")
 * directly: the state gRPC Health/Check answers from. The REST watch's
 * first step (the checks and the snapshot read, sl_http_local_watch) runs
 * here too; its stream follows the server's change feed
 * (http_watch_local.c).
 *
 * What is not there in this mode: the server's access line and gRPC
 * call metrics for the hidden hop (each REST request writes its own
 * "http" line and counts in the HTTP metrics only), and
 * --max-inflight-bytes, which bounds gRPC replies only.
 *
 * Store connections: one per shim worker thread. sl_http_local_open()
 * opens `threads` connections to the server's backend URI at start (so a
 * bad backend, or an SQLite file gone from its path, fails there rather
 * than a lazy open creating an empty database); a worker takes one on
 * its first query and keeps it (a thread key). A worker that finds none
 * left -- more threads than announced -- opens one more. All are closed
 * by sl_http_local_close().
 *
 * THREAD SAFETY: sl_http_local_query() and sl_http_local_health() from
 * any number of threads at once, one query per thread at a time.
 */
#ifndef SL_HTTP_LOCAL_H
#define SL_HTTP_LOCAL_H

#include "buf.h"
#include "error.h"
#include "http_route.h"
#include "modelarts/v1/service_logs.pb-c.h"
#include "rpc_health.h"
#include "server.h"

struct sl_http_local;

/* Opens threads (>= 1) store connections to srv->backend and keeps a copy
 * of *srv (its pointers stay the server's: close this before the server
 * stops). timeout_ms (> 0) caps each query's deadline besides
 * srv->query_timeout_ms. On success *out is owned by the caller and
 * released with sl_http_local_close(); on failure *out is NULL, nothing
 * is left open and err says why (the store's open error, SL_ENOMEM).
 * THREAD SAFETY: any thread. */
int sl_http_local_open(const struct sl_server_local *srv, int threads,
                       int timeout_ms, struct sl_http_local **out,
                       struct sl_err *err);

/* Closes every store connection and frees l. Accepts NULL. Call once no
 * thread queries through l any more (the shim: after MHD_stop_daemon).
 * THREAD SAFETY: once per l, not concurrently with a query. */
void sl_http_local_close(struct sl_http_local *l);

/* One QueryServiceLogs for rt (the logs route: ids, update_time) with
 * the client's token (NULL: none; the caller has checked it is printable
 * ASCII), on the calling thread's store connection. SL_OK and *out, owned
 * by the caller, who frees it with
 * modelarts__v1__query_service_logs_response__free_unpacked(); or the
 * error to answer with (the codes of sl_rpc_query_logs, SL_EOVERLOAD,
 * SL_ETOOBIG) and *out NULL. THREAD SAFETY: see the top. */
int sl_http_local_query(struct sl_http_local *l, const struct sl_route *rt,
                        const char *token,
                        Modelarts__V1__QueryServiceLogsResponse **out,
                        struct sl_err *err);

/* Answers of this many packed bytes or more are streamed
 * (sl_http_stream_answer, http_answer.h). */
#define SL_HTTP_STREAM_MIN (256 * 1024)

/* The same query, answered as its JSON body (render_json.h) appended to
 * body (the caller's): with the server's response cache, the rendering
 * cached beside a cached answer, else rendered here and handed to the
 * cache (cache.h: rendered once per cached answer). The cache keeps the
 * body's ETag hash (sl_http_etag_hash) with it: when it has it, *hash is
 * that and *hashed true (else false). An answer of
 * SL_HTTP_STREAM_MIN packed bytes or more without a cached rendering is
 * not rendered: *big is its packed bytes (the caller's reference; empty
 * otherwise), for sl_http_stream_answer (http_answer.h) to render while
 * it is sent. Same results
 * as sl_http_local_query. THREAD SAFETY: see the top. */
int sl_http_local_query_json(struct sl_http_local *l, const struct sl_route *rt,
                             const char *token, struct sl_buf *body,
                             uint64_t *hash, bool *hashed, grpc_slice *big,
                             struct sl_err *err);

/* The server's overall serving status (service ""), as Health/Check
 * answers it. THREAD SAFETY: any thread. */
enum sl_serving sl_http_local_health(struct sl_http_local *l);

struct sl_rpc_snapshot; /* rpc.h */
struct sl_feed;         /* feed.h */

/* The REST watch's first step in-process (http_watch_local.c): what the
 * WatchServiceLogs handler runs, sl_rpc_watch_snapshot() of rpc.h (the
 * same checks, codes and texts; snap->subscribe lists the watcher on the
 * server's feed before the read), for rt with the client's token (as for
 * sl_http_local_query), on the calling thread's store connection, with a
 * query's deadline here and no shedding (the handler sheds no watch). The
 * read is reported to health as the handler reports it. On SL_OK *resp is
 * the packed WatchServiceLogsResponse {snapshot} (owned by the caller:
 * unref it) and snap->seq its position in the feed; one over
 * --max-response-bytes is SL_ETOOBIG with the text the gRPC hop answers
 * (the server's send limit, http_upstream.c). On failure *resp is empty
 * and, when subscribe succeeded, the caller unlists its watcher.
 * THREAD SAFETY: see the top. */
int sl_http_local_watch(struct sl_http_local *l, const struct sl_route *rt,
                        const char *token, struct sl_rpc_snapshot *snap,
                        grpc_slice *resp, struct sl_err *err);

/* The server's change feed (server.h, struct sl_server_local): it lives
 * as long as l. THREAD SAFETY: any thread. */
struct sl_feed *sl_http_local_feed(struct sl_http_local *l);

#endif
