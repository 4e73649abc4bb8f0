/* http_watch_local.c -- the REST watch in the server's process: a watcher
 * on the server's change feed, no gRPC hop (http_watch.h)
 *
 * DESIGN
 *
 * The stream -- its states, its bytes, suspend and resume, keepalives,
 * the hang-up poll, the stop -- is http_watch.c's, as for the hop; this
 * file is the source that fills it, in place of a WatchServiceLogs call:
 *
 * - the answer (sl__watch_local_answer, on the libmicrohttpd worker that
 *   read the request, no lock held): a new stream (WAITING; the hub's
 *   --http-max-watchers and stop refuse as for the hop), then
 *   sl_http_local_watch() (http_local.h): the handler's checks, then
 *   subscribe() lists the stream's struct sl_feed_watch on the feed
 *   (--max-watchers, the server's drain refuse), then the snapshot read.
 *   Then, under the feed lock and mu: sl_feed_ready(seq) (what the feed
 *   queued meanwhile and the snapshot holds is dropped, the rest stays
 *   queued in order: exactly once, in commit order, as for a gRPC
 *   watcher), the snapshot rendered as its event (the hop's rendering,
 *   sl__watch_on_message), then the queued changes. The response is
 *   queued at once (the worker read the snapshot itself: no suspend).
 *   Any failure before -- a refusal, the feed ending the watcher while
 *   it read, the shim's stop or the first-message deadline (the relay's
 *   tick) -- is the JSON error body, as the hop answers it.
 * - news (kick: the feed thread or the draining thread, feed lock held):
 *   under mu, the queued changes are rendered into out while fewer than
 *   SL_WATCH_HIGH_WATER bytes wait for the client, and the connection is
 *   resumed. Changes beyond stay on the feed (held); the reader's next
 *   sse_read that finds out empty pulls them (sl__watch_local_pull,
 *   taking the feed lock first). A reader that does not read lets the
 *   queue fill to --watch-queue, and the feed ends it (SL_ELAGGING) as it
 *   ends a gRPC watcher. An end from the feed (slow reader, replaced
 *   service, the server's drain, missed changes) is the closing "error"
 *   event with the feed's code and text -- the status the handler sends
 *   and the hop renders -- and unlists the watcher at once, as the
 *   handler does.
 * - a stream the hub ends (a hang-up, the shim's stop, out of memory) is
 *   only marked (cancel: mu alone is held there, the feed lock cannot be
 *   taken); the next kick unlists it, and so does its last reference.
 *
 * One rendering per change: the feed queues the same slice on every
 * watcher of a change, so the event rendered for the first (w->ev, with
 * a reference on the slice and the infer_type it was rendered for) is
 * copied for the others: the bytes sl__watch_on_message renders for that
 * message, without a decode and a render per watcher.
 *
 * Locking. The order: the feed lock, then the hub's mu, then
 * libmicrohttpd's own (MHD_resume_connection and MHD_suspend_connection
 * take the daemon's cleanup mutex for a moment). Every path that holds
 * both takes them in that order: kick (the feed holds its lock and calls
 * it; it takes mu), sse_read's pull, the answer's ready step, and every
 * path that may drop a stream's last reference (sse_free, request_done,
 * through sl__watch_lock), since that unlists the watcher. The paths
 * under mu alone (the relay's tick and hang-up poll, end_all, sse_read
 * without a pull) never take the feed lock. The feed calls kick holding
 * no lock of ours. libmicrohttpd calls our callbacks (the access handler,
 * sse_read, sse_free, the request's completion) without its cleanup mutex
 * held -- what the hop's relay relies on already when it resumes with mu
 * held -- so resuming with the feed lock held as well closes no cycle.
 * The feed lock is held across a dispatch; kick holds mu for one
 * watcher's events (a copy once the event is rendered).
 *
 * Ownership: the stream (http_watch.c) embeds its feed watcher, listed
 * from subscribe until the feed or a kick ends it or the stream's last
 * reference goes (sl__watch_local_release). w->ev and w->ev_msg are the
 * hub's, under the feed lock, freed at its stop.
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "feed.h"
#include "http_local.h"
#include "http_sse.h"
#include "http_watch.h"
#include "http_watch_int.h"
#include "render_json.h"
#include "rpc.h"

/* The event of msg (a packed WatchServiceLogsResponse {log}) for infer:
 * w->ev, rendered unless it holds it already. Feed lock held. SL_OK, or
 * the stream cannot go on (no memory, a message that is no log). */
static int log_event(struct sl_http_watch *w, grpc_slice msg, int infer)
{
    if (GRPC_SLICE_LENGTH(w->ev_msg) &&
        GRPC_SLICE_START_PTR(w->ev_msg) == GRPC_SLICE_START_PTR(msg) &&
        GRPC_SLICE_LENGTH(w->ev_msg) == GRPC_SLICE_LENGTH(msg) &&
        w->ev_infer == infer)
        return SL_OK; /* a reference keeps the bytes from being reused */
    grpc_slice_unref(w->ev_msg);
    w->ev_msg = grpc_empty_slice();
    w->ev.len = 0;
    w->ev.oom = false;
    Modelarts__V1__WatchServiceLogsResponse *m =
        modelarts__v1__watch_service_logs_response__unpack(
            NULL, GRPC_SLICE_LENGTH(msg), GRPC_SLICE_START_PTR(msg));
    if (!m || !m->log) {
        if (m)
            modelarts__v1__watch_service_logs_response__free_unpacked(m, NULL);
        return SL_EINTERNAL;
    }
    struct sl_buf b;
    sl_buf_init(&b);
    int rc = sl_render_log_json(m->log, infer, &b);
    if (rc == SL_OK)
        sl_sse_put_event(&w->ev, "log", b.data, b.len);
    sl_buf_free(&b);
    modelarts__v1__watch_service_logs_response__free_unpacked(m, NULL);
    if (rc == SL_OK && w->ev.oom)
        rc = SL_ENOMEM;
    if (rc != SL_OK)
        return rc;
    w->ev_msg = grpc_slice_ref(msg);
    w->ev_infer = infer;
    return SL_OK;
}

void sl__watch_local_pull(struct sl_watch_stream *s)
{
    struct sl_http_watch *w = s->w;
    grpc_slice msg;
    bool added = false;

    if (!s->ready || !s->fw.listed)
        return; /* the answer's (not ready), or over */
    if (s->cancelled || s->state != SL_WATCH_STREAMING) {
        sl_feed_remove(w->feed, &s->fw); /* ended by the hub */
        s->held = false;
        return;
    }
    while (sl__watch_pending(s) < SL_WATCH_HIGH_WATER &&
           sl_feed_pop(&s->fw, &msg)) {
        int rc = log_event(w, msg, s->infer_type);
        grpc_slice_unref(msg);
        if (rc == SL_OK)
            sl_buf_append(&s->out, w->ev.data, w->ev.len);
        if (rc != SL_OK || s->out.oom) {
            sl_feed_remove(w->feed, &s->fw);
            s->held = false;
            sl__watch_broken(s);
            return;
        }
        added = true;
    }
    s->held = s->fw.q_len > 0;
    if (s->fw.end_rc != SL_OK) { /* the feed ended it: the handler's status */
        sl__watch_end_streaming(s, s->fw.end_rc, s->fw.end_msg);
        sl_feed_remove(w->feed, &s->fw);
        s->held = false;
        return;
    }
    if (added) {
        s->last_ms = sl_clock_ms();
        sl__watch_wake(s);
    }
}

/* The feed's kick (feed.h): its lock held. */
static void kick(void *arg)
{
    struct sl_watch_stream *s = arg;

    pthread_mutex_lock(&s->w->mu);
    sl__watch_local_pull(s);
    pthread_mutex_unlock(&s->w->mu);
}

/* snap->subscribe: lists s on the feed. */
static int subscribe(void *arg, const struct sl_log_query *q,
                     struct sl_err *err)
{
    struct sl_watch_stream *s = arg;
    return sl_feed_add(s->w->feed, &s->fw, kick, s, q->project_id,
                       q->service_id, q->update_time, err);
}

/* The snapshot (packed, consumed) read at seq: rendered, then what the
 * feed queued after it. Feed lock and mu held; s WAITING. */
static void start_stream(struct sl_watch_stream *s, grpc_slice snap,
                         int64_t seq)
{
    struct sl_http_watch *w = s->w;
    Modelarts__V1__WatchServiceLogsResponse *m =
        modelarts__v1__watch_service_logs_response__unpack(
            NULL, GRPC_SLICE_LENGTH(snap), GRPC_SLICE_START_PTR(snap));
    grpc_slice_unref(snap);
    sl_feed_ready(w->feed, &s->fw, seq);
    s->ready = true;
    if (m) {
        sl__watch_on_message(s, m); /* STREAMING, or FAILED (no memory) */
        modelarts__v1__watch_service_logs_response__free_unpacked(m, NULL);
    } else {
        sl__watch_broken(s); /* out of memory: answered 500 */
    }
    sl__watch_local_pull(s); /* the changes since, or unlisted if failed */
}

enum MHD_Result sl__watch_local_answer(struct MHD_Connection *conn,
                                       struct sl_req *rq,
                                       struct sl_http_watch *w,
                                       const char *token,
                                       const struct sl_route *rt)
{
    struct sl_err err;
    int rc;

    sl_err_clear(&err);
    pthread_mutex_lock(&w->mu);
    struct sl_watch_stream *s = sl__watch_stream_new(w, &rc, &err);
    if (s) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        s->fd = ci ? ci->connect_fd : -1;
        s->conn = conn;
    }
    pthread_mutex_unlock(&w->mu);
    if (!s)
        return sl_http_respond_error(conn, rq, rc, err.msg);

    struct sl_rpc_snapshot snap = {.subscribe = subscribe, .arg = s};
    grpc_slice out;
    rc = sl_http_local_watch(w->local, rt, token, &snap, &out, &err);

    sl__watch_lock(w);
    if (rc == SL_OK && s->fw.end_rc != SL_OK) { /* ended while reading */
        rc = s->fw.end_rc;
        sl_err_set(&err, rc, "%s", s->fw.end_msg);
        grpc_slice_unref(out);
    }
    if (rc != SL_OK) {
        sl_feed_remove(w->feed, &s->fw); /* harmless when not listed */
        if (s->state == SL_WATCH_WAITING) {
            s->state = SL_WATCH_FAILED;
            s->err = err;
        }
    } else if (s->state == SL_WATCH_WAITING) {
        start_stream(s, out, snap.seq);
    } else { /* the hub failed it meanwhile (stop, deadline): its answer */
        grpc_slice_unref(out);
        sl_feed_remove(w->feed, &s->fw);
    }
    rq->watch = s; /* the request's reference, dropped in request_done */
    sl__watch_unlock(w);
    return sl_http_watch_resumed(conn, rq); /* the answer, as the hop's */
}

void sl__watch_local_release(struct sl_watch_stream *s)
{
    sl_feed_remove(s->w->feed, &s->fw);
}

void sl__watch_local_stop(struct sl_http_watch *w)
{
    grpc_slice_unref(w->ev_msg);
    w->ev_msg = grpc_empty_slice();
    sl_buf_free(&w->ev);
}
