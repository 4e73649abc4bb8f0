/* http_watch.h -- the REST watch: one WatchServiceLogs stream per
 * Server-Sent Events client
 *
 * GET /v1/{project_id}/services/{service_id}/logs:watch[?update_time=N]
 * (http_route.h routes it like GET .../logs: same id, update_time,
 * method and token rules) is answered from one of two sources, with the
 * same bytes for the same history:
 * - in the server's process (struct sl_http_watch_config.local; the
 *   shim without --upstream): in-process, no gRPC hop
 *   (http_watch_local.c). The WatchServiceLogs handler's first step
 *   (sl_http_local_watch, http_local.h: its checks, codes and texts)
 *   runs on the libmicrohttpd worker, which lists the stream on the
 *   server's change feed (feed.h) before the snapshot read; each change
 *   the feed queues is rendered as its event and the connection resumed.
 *   The server's limits hold as for a gRPC watcher: --max-watchers
 *   (429), --watch-queue (a slow reader gets the closing "error" event
 *   429 ModelArts.2799, the gRPC watcher's RESOURCE_EXHAUSTED), a
 *   replaced service and the server's drain end the stream with the
 *   handler's codes and texts. No gRPC access line or call metrics.
 * - with --upstream (a shim-only process), the hop described below.
 *
 * The hop makes one server-streaming
 * /modelarts.v1.ServiceLogs/WatchServiceLogs call upstream, with the
 * client's X-Auth-Token and the request id as metadata and no deadline.
 * The answer (http_sse.h has the format):
 * - until the upstream's first message: nothing. An upstream error, or
 *   no first message within the upstream timeout (504), is answered as
 *   GET .../logs answers it: the JSON error body with its HTTP status.
 * - the first message (the snapshot): 200 text/event-stream, and the
 *   snapshot event; then one event per later message; a keepalive
 *   comment after keepalive_ms without an event; at the end (the
 *   upstream's status, or the shim stopping) an "error" event and the
 *   last chunk.
 * Refused before any upstream call: max_watchers streams already open,
 * 429 ModelArts.2799; the shim stopping, 503 ModelArts.4302.
 *
 * Watch calls never share a connection with the queries: they run on
 * channels of their own (sl_http_upstream_watch_channel), at most
 * streams_per_conn calls on each, a new channel (a new HTTP/2
 * connection) opened when every one is full. A watch thus never takes
 * one of the stream places (the server's --max-connection-streams) that
 * the shim's queries need, and never waits for one behind other watches.
 *
 * A client that leaves is noticed at once, not at the next event: while a
 * stream waits for data its connection is suspended (libmicrohttpd does
 * not watch it then), so the relay thread polls the socket for a hang-up
 * every SL_WATCH_TICK_MS; it then cancels the upstream call (the server
 * frees its watcher) and has libmicrohttpd close the connection.
 *
 * Threading and ownership: http_watch.c.
 */
#ifndef SL_HTTP_WATCH_H
#define SL_HTTP_WATCH_H

#include <stddef.h>

#include <microhttpd.h>

#include "error.h"
#include "http_answer.h"
#include "http_route.h"
#include "http_upstream.h"

#define SL_WATCH_TICK_MS 100 /* keepalives, deadlines, hang-ups checked */

/* How to run the watches. Owner: the caller; copied. */
struct sl_http_watch_config {
    struct sl_http_upstream *upstream; /* the channels' maker; outlives the
                                          watch (closed after it) */
    struct sl_http_local *local;       /* in the server's process: watches run
                                          in-process on its feed (see the top);
                                          outlives the watch. NULL: the hop */
    unsigned max_watchers;             /* streams at once (> 0) */
    unsigned keepalive_ms;     /* a comment after this long quiet (> 0) */
    unsigned streams_per_conn; /* watch calls per connection (> 0) */
    int first_ms;              /* the first message's deadline (> 0) */
};

struct sl_http_watch;

/* Creates the watch hub: its completion queue and its relay thread (no
 * channel yet: the first watch opens one; in-process none ever). On success
 * *out is owned by the caller and released with sl_http_watch_stop(); on
 * failure *out is NULL, nothing is left running or allocated and err says why
 * (SL_ENOMEM). THREAD SAFETY: any thread. */
int sl_http_watch_start(const struct sl_http_watch_config *cfg,
                        struct sl_http_watch **out, struct sl_err *err);

/* The shim is stopping: every stream ends now (a stream under way gets
 * the "error" event 503 ModelArts.4302 and its last chunk; one waiting
 * for its first message is answered 503 with the JSON body), its call is
 * cancelled, and every watch from now on is refused with 503. No
 * connection stays suspended once this returns (libmicrohttpd must not
 * be stopped with one). Accepts NULL. THREAD SAFETY: any thread. */
void sl_http_watch_end_all(struct sl_http_watch *w);

/* Cancels what is left, waits for every call to finish, joins the relay
 * thread, destroys the channels and the queue and frees w. Accepts
 * NULL. Call after libmicrohttpd stopped (every request completed) and
 * before the upstream is closed. THREAD SAFETY: once per w. */
void sl_http_watch_stop(struct sl_http_watch *w);

/* The watch route's request is in (rt: ids and update_time): checks the
 * token (max_token) and the bound, starts the call and suspends the
 * connection until its first message (or failure); on a refusal answers
 * at once. rq->watch holds the stream from then on. THREAD SAFETY: a
 * libmicrohttpd worker, for its request. */
enum MHD_Result sl_http_answer_watch(struct MHD_Connection *conn,
                                     struct sl_req *rq, struct sl_http_watch *w,
                                     size_t max_token,
                                     const struct sl_route *rt);

/* The handler is called again for a request with rq->watch (resumed):
 * answers the error, or queues the event stream. THREAD SAFETY: as
 * sl_http_answer_watch. */
enum MHD_Result sl_http_watch_resumed(struct MHD_Connection *conn,
                                      struct sl_req *rq);

/* rq completed (answered, or the client left): cancels its call if still
 * under way, notes the stream's closing error code (if any) in rq for
 * the access line, and releases rq->watch (NULL after). Accepts rq
 * without a watch. THREAD SAFETY: as sl_http_answer_watch. */
void sl_http_watch_request_done(struct sl_req *rq);

#endif
