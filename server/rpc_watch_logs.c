/* rpc_watch_logs.c -- WatchServiceLogs: the snapshot, then every change
 *
 * accept (worker thread): the request is a QueryServiceLogsRequest in all
 * but name, so rpc_query_logs.c checks it exactly as Query does (ids,
 * auth, project scoping: another project's service is NOT_FOUND) and, once
 * it is valid, lists the call on the server's feed (feed.h) before it
 * reads the snapshot, then tells the feed the snapshot's seq. Refusals
 * before the stream starts are a plain status, as a unary call's.
 *
 * Then the stream: the snapshot message goes out with the initial
 * metadata; each later message is one queued change. One SEND_MESSAGE is
 * in flight at a time: its completion (step) sends the next queued one,
 * or leaves the stream idle until the feed queues more and kicks it. The
 * feed's kick runs on the feed thread (or the draining thread), with the
 * feed lock held; every field of struct watch is under that lock.
 *
 * The end: the feed ends a watcher (slow reader, replaced service, drain)
 * by setting end_rc and kicking; the status is sent once nothing is in
 * flight. A slow reader's send may never complete (its window is shut):
 * then the call is cancelled with the status, which fails that send. The
 * client leaving (closed) unlists it; the call is freed once its last
 * batch completes (call.c).
 */
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "feed.h"
#include "methods.h"
#include "rpc.h"
#include "rpc_health.h"

/* c->data of a watch. */
struct watch {
    struct sl_feed_watch fw; /* the feed's part; first */
    grpc_byte_buffer *out;   /* the message in flight, or NULL */
    bool started;            /* the snapshot was posted */
    bool sending;            /* a SEND_MESSAGE is in flight */
    bool finished;           /* the status was posted */
};

/* Posts msg (consumed) as the next message. Feed lock held. */
static void send_msg(struct sl_call *c, grpc_slice msg, bool first)
{
    struct watch *wt = c->data;
    wt->out = grpc_raw_byte_buffer_create(&msg, 1);
    grpc_slice_unref(msg);
    grpc_op ops[2];
    size_t n = 0;
    memset(ops, 0, sizeof(ops));
    if (first)
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = wt->out;
    wt->sending = true;
    if (sl_call_post_batch(c, ops, n) != 0) {
        wt->sending = false;
        grpc_byte_buffer_destroy(wt->out);
        wt->out = NULL;
        sl_feed_remove(c->worker->feed, &wt->fw);
    }
}

/* Sends the status the feed chose. Feed lock held. */
static void finish(struct sl_call *c)
{
    struct watch *wt = c->data;
    struct sl_err err;
    sl_err_set(&err, wt->fw.end_rc, "%s", wt->fw.end_msg);
    sl_feed_remove(c->worker->feed, &wt->fw);
    wt->finished = true;
    sl_call_finish_stream(c, wt->fw.end_rc, &err);
}

/* What to do when nothing is in flight. Feed lock held. */
static void next(struct sl_call *c)
{
    struct watch *wt = c->data;
    if (!wt->started || wt->sending || wt->finished || !wt->fw.listed)
        return;
    if (wt->fw.end_rc != SL_OK) {
        finish(c);
        return;
    }
    grpc_slice msg;
    if (sl_feed_pop(&wt->fw, &msg))
        send_msg(c, msg, false);
}

/* The feed's kick (feed.h): news for this watcher, feed lock held. */
static void watch_kick(void *arg)
{
    struct sl_call *c = arg;
    struct watch *wt = c->data;
    if (!wt->sending) {
        next(c);
    } else if (wt->fw.end_rc != SL_OK && !wt->finished) {
        /* A send is stuck behind a reader that does not read: cancel the
         * call with the status; the send fails and step() unlists it. */
        wt->finished = true;
        c->status = sl_err_to_grpc(wt->fw.end_rc);
        c->err_code = wt->fw.end_rc;
        grpc_call_cancel_with_status(c->call, (grpc_status_code)c->status,
                                     wt->fw.end_msg, NULL);
    }
}

static int subscribe(void *arg, const struct sl_log_query *q,
                     struct sl_err *err)
{
    struct sl_call *c = arg;
    struct watch *wt = c->data;
    return sl_feed_add(c->worker->feed, &wt->fw, watch_kick, c, q->project_id,
                       q->service_id, q->update_time, err);
}

static void watch_accept(struct sl_call *c)
{
    struct sl_worker *w = c->worker;
    struct sl_err err;
    sl_err_clear(&err);
    struct watch *wt = calloc(1, sizeof(*wt));
    if (!wt) {
        sl_err_set(&err, SL_ENOMEM, "out of memory");
        sl_call_finish_unary(c, SL_ENOMEM, &err, NULL);
        return;
    }
    c->data = wt;
    struct sl_rpc_ctx ctx;
    sl_rpc_ctx_from_call(c, &ctx);
    struct sl_rpc_snapshot snap = {.subscribe = subscribe, .arg = c};
    grpc_slice in = sl_call_payload(c->req);
    grpc_slice out;
    int rc = sl_rpc_watch_snapshot(&ctx, GRPC_SLICE_START_PTR(in),
                                   GRPC_SLICE_LENGTH(in), &out, &c->ids, &snap,
                                   &err);
    grpc_slice_unref(in);
    if (ctx.backend_ok && wt->fw.listed)
        sl_health_report_read(w->health, rc, c->ids.project_id,
                              c->ids.service_id, &err);
    sl_feed_lock(w->feed);
    if (rc == SL_OK && wt->fw.end_rc != SL_OK) { /* ended while reading */
        rc = wt->fw.end_rc;
        sl_err_set(&err, rc, "%s", wt->fw.end_msg);
        grpc_slice_unref(out);
    }
    if (rc != SL_OK) {
        sl_feed_remove(w->feed, &wt->fw);
        sl_feed_unlock(w->feed);
        sl_call_finish_unary(c, rc, &err, NULL);
        return;
    }
    sl_feed_ready(w->feed, &wt->fw, snap.seq);
    wt->started = true;
    sl_call_post_close(c);
    send_msg(c, out, true);
    sl_feed_unlock(w->feed);
}

static void watch_step(struct sl_call *c, int success)
{
    struct watch *wt = c->data;
    struct sl_feed *f = c->worker->feed;
    sl_feed_lock(f);
    wt->sending = false;
    if (wt->out) {
        grpc_byte_buffer_destroy(wt->out);
        wt->out = NULL;
    }
    if (!success) /* the stream is gone (or was cancelled with a status) */
        sl_feed_remove(f, &wt->fw);
    else
        next(c);
    sl_feed_unlock(f);
}

static void watch_closed(struct sl_call *c)
{
    struct watch *wt = c->data;
    struct sl_feed *f = c->worker->feed;
    sl_feed_lock(f);
    sl_feed_remove(f, &wt->fw);
    sl_feed_unlock(f);
}

static void watch_release(struct sl_call *c)
{
    struct watch *wt = c->data;
    if (!wt)
        return;
    struct sl_feed *f = c->worker->feed;
    sl_feed_lock(f);
    sl_feed_remove(f, &wt->fw);
    sl_feed_unlock(f);
    if (wt->out)
        grpc_byte_buffer_destroy(wt->out);
    free(wt);
    c->data = NULL;
}

const struct sl_handler sl_rpc_watch_logs_handler = {
    .path = "/modelarts.v1.ServiceLogs/WatchServiceLogs",
    .kind = SL_RPC_SERVER_STREAMING,
    .slots = 2,
    .accept = watch_accept,
    .step = watch_step,
    .closed = watch_closed,
    .release = watch_release,
};
