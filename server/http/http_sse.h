/* http_sse.h -- Server-Sent Events framing for the REST watch
 *
 * GET /v1/{project_id}/services/{service_id}/logs:watch[?update_time=N]
 * (http_watch.h runs it) answers, once the upstream's first message is
 * in, 200 with Content-Type: text/event-stream, Cache-Control: no-cache,
 * X-Accel-Buffering: no, chunked (HTTP/1.1), and this body:
 *
 *   event: snapshot
 *   data: <the body GET .../logs answers, without its trailing newline>
 *
 *   event: log
 *   data: <one log object, shaped as in logs[] of that body>
 *
 *   : keepalive
 *
 *   event: error
 *   data: {"error_code":"ModelArts.4302","error_msg":"..."}
 *
 * - One snapshot first, then one "log" event per log recorded or replaced
 *   after it, in the server's commit order; each event is sent when it
 *   happens (nothing is held back to fill a packet).
 * - A ": keepalive" comment line when nothing was sent for the keepalive
 *   interval (--http-sse-keepalive, 15 s by default): EventSource
 *   ignores it; proxies and clients see the connection alive.
 * - "error" is the last event, when the upstream ended the stream with a
 *   status (RESOURCE_EXHAUSTED when the watcher fell behind, UNAVAILABLE
 *   when the server stops, ...) or the shim is stopping; its data is the
 *   JSON error body of the same failure before the stream
 *   ({"error_code","error_msg"}, without the newline). The response then
 *   ends (the last chunk). A client that wants to go on watches again and
 *   gets a fresh snapshot.
 * - No "id:" fields: there is no resume. An EventSource that reconnects
 *   (with or without Last-Event-ID) gets a fresh snapshot, which holds
 *   every log the events before it carried.
 * Errors before the first message (bad id, unknown service, no token,
 * too many watchers, ...) are the usual JSON error body with its HTTP
 * status, like GET .../logs.
 *
 * This file holds only the framing: pure functions that append to a
 * struct sl_buf (no I/O, no locks), pinned by tests/unit/test_http_sse.c.
 * THREAD SAFETY: reentrant on distinct buffers.
 */
#ifndef SL_HTTP_SSE_H
#define SL_HTTP_SSE_H

#include <stddef.h>

#include "buf.h"

#define SL_SSE_CONTENT_TYPE "text/event-stream"
#define SL_SSE_KEEPALIVE ": keepalive\n\n"

/* Appends one event: "event: <event>\n", then data[0..n) as one
 * "data: " line per line (a "\n", "\r\n" or "\r" in data starts the next
 * "data: " line, so any text arrives whole: the client joins them with
 * "\n"), then the blank line that dispatches the event. event is a name
 * without line breaks; data NULL with n 0 is one empty data line. The
 * caller checks out->oom. */
void sl_sse_put_event(struct sl_buf *out, const char *event, const char *data,
                      size_t n);

/* Appends the keepalive comment, SL_SSE_KEEPALIVE. */
void sl_sse_put_keepalive(struct sl_buf *out);

/* Appends the closing "error" event of sl_code (an SL_ERR_MAP code) and
 * msg (NULL or empty: the code's message): data is
 * {"error_code":"...","error_msg":"..."} (render_json.h). The caller
 * checks out->oom. */
void sl_sse_put_error(struct sl_buf *out, int sl_code, const char *msg);

#endif
