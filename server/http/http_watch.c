/* http_watch.c -- the REST watch (http_watch.h has the rules)
 *
 * DESIGN
 *
 * One hub per shim (struct sl_http_watch): one completion queue for every
 * watch call, one relay thread that reads it, and the watch channels.
 * Each SSE client is a struct sl_watch_stream: its source, the bytes of
 * events not yet taken by libmicrohttpd (out), and its state:
 *
 *   WAITING --first message--> STREAMING --status / stop--> ENDED
 *      |                                                      |
 *      +--status / deadline / stop--> FAILED        last chunk sent
 *
 * Who runs what:
 * - a libmicrohttpd worker, in the access handler: starts the call
 *   (sl_http_answer_watch) and suspends the connection; once resumed,
 *   answers FAILED with the JSON error or queues the event stream
 *   (sl_http_watch_resumed). In the content reader (sse_read): hands out
 *   out's bytes; with none, either ends the response (ENDED: the last
 *   chunk; the client gone: a close) or suspends the connection and
 *   returns 0 (no busy loop: libmicrohttpd runs its internal threads).
 * - the relay thread: the call's events (the message, rendered into out
 *   as an event; the status), and every SL_WATCH_TICK_MS the timers
 *   (first message deadline, keepalives) and the hang-up poll of the
 *   suspended clients' sockets. Whenever it adds to a stream it resumes
 *   the connection if suspended.
 * - the shim's stop: sl_http_watch_end_all, then, once libmicrohttpd is
 *   stopped, sl_http_watch_stop.
 * That is the hop (with --upstream), whose source is a WatchServiceLogs
 * call. In the server's process the source is a watcher on the server's
 * change feed (http_watch_local.c has how): the worker reads the
 * snapshot itself and queues the stream at once (no WAITING suspend), the
 * feed's kick renders the changes and resumes the connection, and the
 * relay thread keeps only its timers and the hang-up poll (no call, no
 * channel). The states, the bytes, sse_read and the stop are shared.
 *
 * Locking: one mutex, w->mu, guards the hub and every stream's fields
 * (there are at most max_watchers; each event holds it for one render).
 * A stream is suspended only with mu held and `suspended` set in the same
 * hold, and resumed only with mu held (wake), so a resume never comes
 * before its suspend and never after the connection is gone (conn NULL).
 * Lock order: (in-process: the feed's lock,) mu, then libmicrohttpd's own
 * locks (suspend, resume); mu is never held while a response is created
 * or destroyed (libmicrohttpd may then call sse_free, which takes mu).
 * In-process, what may drop a stream's last reference takes the feed lock
 * first (sl__watch_lock): the last reference unlists its feed watcher.
 *
 * Ownership: a stream is reference-counted under mu: one reference for
 * the request (rq->watch, dropped when the request completes), one for
 * the response (its free callback), one per batch in flight (dropped
 * when its event is read). The last one unlinks and frees it, and
 * returns its channel place (in-process: unlists its feed watcher). The hub
 * owns the channels, the queue, the thread and the list.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* POLLRDHUP */
#endif

#include "http_watch.h"
#include "http_watch_int.h"

#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "clock.h"
#include "http_local.h"
#include "http_sse.h"
#include "log.h"
#include "render_json.h"

#define SL_WATCH_METHOD "/modelarts.v1.ServiceLogs/WatchServiceLogs"

/* ---- streams (mu held) ------------------------------------------------- */

/* Drops a reference: the last one unlinks and frees s (in-process: with
 * the feed lock held too, see http_watch_local.c). */
static void unref(struct sl_watch_stream *s)
{
    struct sl_http_watch *w = s->w;

    if (--s->refs)
        return;
    if (s->prev)
        s->prev->next = s->next;
    else
        w->head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    w->n--;
    if (w->feed)
        sl__watch_local_release(s); /* the feed lock is held too */
    else if (s->chan != SIZE_MAX)
        w->chans[s->chan].calls--;
    if (s->call)
        grpc_call_unref(s->call);
    for (size_t i = 0; i < s->n_md; i++)
        grpc_slice_unref(s->md[i].value);
    if (s->send_bb)
        grpc_byte_buffer_destroy(s->send_bb);
    if (s->recv_bb)
        grpc_byte_buffer_destroy(s->recv_bb);
    grpc_metadata_array_destroy(&s->init_md);
    grpc_metadata_array_destroy(&s->trail_md);
    grpc_slice_unref(s->details);
    sl_buf_free(&s->out);
    free(s);
    pthread_cond_broadcast(&w->gone);
}

/* Lets libmicrohttpd take up the connection again, if we suspended it. */
void sl__watch_wake(struct sl_watch_stream *s)
{
    if (s->suspended && s->conn) {
        s->suspended = false;
        MHD_resume_connection(s->conn);
    }
}

/* No more messages for s: its call cancelled (the hop); in-process, the
 * next kick unlists its watcher (http_watch_local.c). */
static void cancel(struct sl_watch_stream *s)
{
    if (s->cancelled)
        return;
    s->cancelled = true;
    if (s->call)
        grpc_call_cancel(s->call, NULL);
}

void sl__watch_lock(struct sl_http_watch *w)
{
    if (w->feed)
        sl_feed_lock(w->feed);
    pthread_mutex_lock(&w->mu);
}

void sl__watch_unlock(struct sl_http_watch *w)
{
    pthread_mutex_unlock(&w->mu);
    if (w->feed)
        sl_feed_unlock(w->feed);
}

/* Over before its first message: answered with code and msg. */
static void fail_waiting(struct sl_watch_stream *s, int code, const char *msg)
{
    s->state = SL_WATCH_FAILED;
    sl_err_set(&s->err, code, "%s", msg ? msg : sl_strerror(code));
    cancel(s);
    sl__watch_wake(s);
}

/* The stream's last event: the error code and msg, then the end. */
void sl__watch_end_streaming(struct sl_watch_stream *s, int code,
                             const char *msg)
{
    sl_sse_put_error(&s->out, code, msg);
    s->final = sl_err_mcode(code);
    s->state = SL_WATCH_ENDED;
    cancel(s);
    sl__watch_wake(s);
}

/* Out of memory rendering: the stream cannot go on; the connection is
 * closed (its bytes so far may end mid-event). */
void sl__watch_broken(struct sl_watch_stream *s)
{
    if (s->state == SL_WATCH_WAITING) {
        fail_waiting(s, SL_ENOMEM, "out of memory");
        return;
    }
    s->client_gone = true;
    s->state = SL_WATCH_ENDED;
    s->final = sl_err_mcode(SL_ENOMEM);
    cancel(s);
    sl__watch_wake(s);
}

/* Asks for the next message, unless one is asked for, the call is over,
 * or the client has too much to read. */
static void post_recv(struct sl_watch_stream *s)
{
    if (!s->call || s->recv_pending || s->status_in || s->cancelled ||
        sl__watch_pending(s) >= SL_WATCH_HIGH_WATER ||
        (s->state != SL_WATCH_WAITING && s->state != SL_WATCH_STREAMING))
        return;
    grpc_op op = {.op = GRPC_OP_RECV_MESSAGE};
    op.data.recv_message.recv_message = &s->recv_bb;
    s->refs++;
    s->recv_pending = true;
    if (grpc_call_start_batch(s->call, &op, 1, &s->t_recv, NULL) !=
        GRPC_CALL_OK) {
        s->recv_pending = false;
        s->refs--; /* the request's reference remains */
        cancel(s);
    }
}

/* Renders one received message into out as its event. */
void sl__watch_on_message(struct sl_watch_stream *s,
                          const Modelarts__V1__WatchServiceLogsResponse *m)
{
    struct sl_buf b;
    int rc;

    sl_buf_init(&b);
    if (s->state == SL_WATCH_WAITING) {
        if (!m->snapshot) {
            fail_waiting(s, SL_EINTERNAL,
                         "the query service sent a log before its snapshot");
            return;
        }
        rc = sl_render_logs_json(m->snapshot, &b);
        if (rc == SL_OK && b.len && b.data[b.len - 1] == '\n')
            b.len--; /* the data line is the body without its newline */
        if (rc == SL_OK)
            sl_sse_put_event(&s->out, "snapshot", b.data, b.len);
        s->infer_type = (int)m->snapshot->infer_type;
        s->state = SL_WATCH_STREAMING;
    } else if (m->log) {
        rc = sl_render_log_json(m->log, s->infer_type, &b);
        if (rc == SL_OK)
            sl_sse_put_event(&s->out, "log", b.data, b.len);
    } else {
        sl_buf_free(&b);
        return; /* nothing for the client */
    }
    sl_buf_free(&b);
    if (rc != SL_OK || s->out.oom) {
        sl__watch_broken(s);
        return;
    }
    s->last_ms = sl_clock_ms();
    sl__watch_wake(s);
}

/* The call is over (its status in, no message pending). */
static void finish(struct sl_watch_stream *s)
{
    struct sl_err err;

    if (s->state != SL_WATCH_WAITING && s->state != SL_WATCH_STREAMING)
        return; /* already answered for */
    sl_err_clear(&err);
    int code = SL_OK;
    if (s->status != GRPC_STATUS_OK)
        code = sl_http_upstream_error(s->w->upstream, s->status, s->details,
                                      &s->trail_md, &err);
    if (s->state == SL_WATCH_WAITING) {
        if (code == SL_OK)
            fail_waiting(s, SL_EINTERNAL,
                         "the query service ended the watch before its "
                         "snapshot");
        else
            fail_waiting(s, code, err.msg);
    } else if (code != SL_OK) {
        sl__watch_end_streaming(s, code, err.msg);
    } else {
        s->state = SL_WATCH_ENDED; /* a plain end: the last chunk */
        sl__watch_wake(s);
    }
}

/* One completion-queue event of s. */
static void on_event(struct sl_watch_tag *t, bool ok)
{
    struct sl_watch_stream *s = t->s;

    switch (t->kind) {
    case SL_WATCH_TAG_START:
        break; /* a failure shows in the status */
    case SL_WATCH_TAG_RECV: {
        grpc_byte_buffer *bb = s->recv_bb;
        s->recv_bb = NULL;
        s->recv_pending = false;
        if (ok && bb && !s->cancelled) {
            ProtobufCMessage *m = sl_http_upstream_unpack(
                &modelarts__v1__watch_service_logs_response__descriptor, bb);
            if (!m) {
                if (s->state == SL_WATCH_WAITING)
                    fail_waiting(s, SL_EINTERNAL,
                                 "the query service sent a malformed answer");
                else
                    sl__watch_end_streaming(
                        s, SL_EINTERNAL,
                        "the query service sent a malformed answer");
            } else {
                sl__watch_on_message(
                    s, (Modelarts__V1__WatchServiceLogsResponse *)m);
                protobuf_c_message_free_unpacked(m, NULL);
            }
            post_recv(s);
        }
        if (bb)
            grpc_byte_buffer_destroy(bb);
        if (s->status_in && !s->recv_pending)
            finish(s);
        break;
    }
    case SL_WATCH_TAG_STATUS:
        s->status_in = true;
        if (!s->recv_pending)
            finish(s);
        break;
    }
    unref(s);
}

/* ---- the relay thread -------------------------------------------------- */

/* Clients that hung up while suspended (libmicrohttpd does not watch
 * those): noted, their calls cancelled, their connections resumed to be
 * closed. */
static void poll_hangups(struct sl_http_watch *w)
{
    struct pollfd fds[64];
    struct sl_watch_stream *who[64];
    struct sl_watch_stream *s = w->head;

    while (s) {
        nfds_t n = 0;
        for (; s && n < 64; s = s->next) {
            if (!s->suspended || !s->conn || s->fd < 0 || s->client_gone)
                continue;
            fds[n] = (struct pollfd){.fd = s->fd, .events = POLLRDHUP};
            who[n++] = s;
        }
        if (n == 0 || poll(fds, n, 0) <= 0)
            continue;
        for (nfds_t i = 0; i < n; i++) {
            if (!(fds[i].revents & (POLLRDHUP | POLLHUP | POLLERR)))
                continue;
            struct sl_watch_stream *g = who[i];
            g->client_gone = true;
            if (g->state == SL_WATCH_WAITING)
                g->state = SL_WATCH_FAILED; /* the handler closes */
            else
                g->state = SL_WATCH_ENDED;
            cancel(g);
            sl__watch_wake(g);
        }
    }
}

/* The timers: the first message's deadline, keepalives. */
static void tick(struct sl_http_watch *w, int64_t now)
{
    for (struct sl_watch_stream *s = w->head; s; s = s->next) {
        if (s->state == SL_WATCH_WAITING && now - s->start_ms >= w->first_ms) {
            char msg[96];
            snprintf(msg, sizeof(msg),
                     "the query service did not answer within %d ms",
                     w->first_ms);
            fail_waiting(s, SL_ETIMEOUT, msg);
        } else if (s->state == SL_WATCH_STREAMING && !sl__watch_pending(s) &&
                   now - s->last_ms >= w->keepalive_ms) {
            sl_sse_put_keepalive(&s->out);
            s->last_ms = now;
            if (s->out.oom)
                sl__watch_broken(s);
            else
                sl__watch_wake(s);
        }
    }
    poll_hangups(w);
}

static void *relay_main(void *arg)
{
    pthread_setname_np(pthread_self(), "sl-sse-relay");
    struct sl_http_watch *w = arg;

    for (;;) {
        gpr_timespec until =
            gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                         gpr_time_from_millis(SL_WATCH_TICK_MS, GPR_TIMESPAN));
        grpc_event ev = grpc_completion_queue_next(w->cq, until, NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        pthread_mutex_lock(&w->mu);
        if (ev.type == GRPC_OP_COMPLETE)
            on_event(ev.tag, ev.success != 0);
        int64_t now = sl_clock_ms();
        if (now - w->last_tick_ms >= SL_WATCH_TICK_MS) {
            w->last_tick_ms = now;
            tick(w, now);
        }
        pthread_mutex_unlock(&w->mu);
    }
    return NULL;
}

/* ---- the hub ----------------------------------------------------------- */

int sl_http_watch_start(const struct sl_http_watch_config *cfg,
                        struct sl_http_watch **out, struct sl_err *err)
{
    struct sl_http_watch *w = calloc(1, sizeof(*w));

    *out = NULL;
    if (!w)
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    w->upstream = cfg->upstream;
    w->local = cfg->local;
    w->feed = cfg->local ? sl_http_local_feed(cfg->local) : NULL;
    w->ev_msg = grpc_empty_slice();
    sl_buf_init(&w->ev);
    w->max = cfg->max_watchers;
    w->per_conn = cfg->streams_per_conn;
    w->keepalive_ms = cfg->keepalive_ms;
    w->first_ms = cfg->first_ms;
    /* In-process no channel is opened: one place for calloc's sake. */
    w->n_chans = w->feed ? 1 : (w->max + w->per_conn - 1) / w->per_conn;
    w->chans = calloc(w->n_chans, sizeof(*w->chans));
    if (!w->chans) {
        free(w);
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->gone, NULL);
    if (w->feed) {
        /* In-process the relay only ticks (keep-alives, hang-ups): no
         * gRPC event comes to its queue. A polling queue would make it
         * one of gRPC's pollers (epoll1 lets any thread waiting on a
         * polling queue read every connection), and it then read and
         * parsed the server's gRPC traffic only to hand each completion
         * to a worker: 5.3 us and 0.12 context switches per gRPC call
         * (BENCHMARKS.md, "Where the gRPC time goes"). */
        grpc_completion_queue_attributes attr = {
            GRPC_CQ_CURRENT_VERSION, GRPC_CQ_NEXT, GRPC_CQ_NON_POLLING, NULL};
        w->cq = grpc_completion_queue_create(
            grpc_completion_queue_factory_lookup(&attr), &attr, NULL);
    } else {
        w->cq = grpc_completion_queue_create_for_next(NULL);
    }
    if (!w->cq || pthread_create(&w->relay, NULL, relay_main, w) != 0) {
        sl_http_watch_stop(w);
        return sl_err_set(err, SL_ENOMEM, "cannot start the watch relay");
    }
    w->relay_started = true;
    *out = w;
    return SL_OK;
}

void sl_http_watch_end_all(struct sl_http_watch *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->ending = true;
    for (struct sl_watch_stream *s = w->head; s; s = s->next) {
        if (s->state == SL_WATCH_WAITING)
            fail_waiting(s, SL_EUNAVAIL,
                         "the server is shutting down; try again");
        else if (s->state == SL_WATCH_STREAMING)
            sl__watch_end_streaming(s, SL_EUNAVAIL,
                                    "the server is shutting down; watch again");
        cancel(s);
        sl__watch_wake(s);
    }
    pthread_mutex_unlock(&w->mu);
}

void sl_http_watch_stop(struct sl_http_watch *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->ending = true;
    for (struct sl_watch_stream *s = w->head; s; s = s->next) {
        s->conn = NULL; /* libmicrohttpd is stopped */
        cancel(s);
    }
    while (w->head && w->relay_started)
        pthread_cond_wait(&w->gone, &w->mu); /* cancelled calls end soon */
    pthread_mutex_unlock(&w->mu);
    if (w->cq) {
        grpc_completion_queue_shutdown(w->cq);
        if (w->relay_started)
            pthread_join(w->relay, NULL);
        grpc_completion_queue_destroy(w->cq);
    }
    for (size_t i = 0; i < w->n_chans; i++)
        if (w->chans[i].ch)
            grpc_channel_destroy(w->chans[i].ch);
    free(w->chans);
    sl__watch_local_stop(w);
    pthread_cond_destroy(&w->gone);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

/* A channel place for one more call (mu held): the first channel with
 * room, opened when needed. SIZE_MAX when none can be opened. */
static size_t take_chan(struct sl_http_watch *w)
{
    for (size_t i = 0; i < w->n_chans; i++) {
        struct sl_watch_chan *c = &w->chans[i];
        if (c->ch && c->calls >= w->per_conn)
            continue;
        if (!c->ch) {
            c->ch = sl_http_upstream_watch_channel(w->upstream);
            if (!c->ch)
                return SIZE_MAX;
            c->method =
                grpc_channel_register_call(c->ch, SL_WATCH_METHOD, NULL, NULL);
        }
        c->calls++;
        return i;
    }
    return SIZE_MAX; /* cannot happen: n_chans places hold max calls */
}

static void add_md(struct sl_watch_stream *s, const char *key,
                   const char *value, bool secret)
{
    s->md[s->n_md].key = grpc_slice_from_static_string(key);
    s->md[s->n_md].value = secret ? sl_http_secret_slice(value)
                                  : grpc_slice_from_copied_string(value);
    s->n_md++;
}

/* Starts s's call (mu held): its three batches, each with a reference.
 * SL_OK, or the error to answer with (s then holds no batch). */
static int start_call(struct sl_http_watch *w, struct sl_watch_stream *s,
                      const struct sl_route *rt, const char *token,
                      const char *request_id, struct sl_err *err)
{
    uint8_t wire[SL_ROUTE_PACK_MAX];
    size_t n = sl_http_route_pack(rt, wire); /* WatchServiceLogsRequest's */
    grpc_slice payload = grpc_slice_from_copied_buffer((const char *)wire, n);
    s->send_bb = grpc_raw_byte_buffer_create(&payload, 1);
    grpc_slice_unref(payload);
    if (token)
        add_md(s, "x-auth-token", token, true);
    add_md(s, "x-request-id", request_id, false);

    struct sl_watch_chan *c = &w->chans[s->chan];
    s->call = grpc_channel_create_registered_call(
        c->ch, NULL, GRPC_PROPAGATE_DEFAULTS, w->cq, c->method,
        gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (!s->call)
        return sl_err_set(err, SL_EINTERNAL, "cannot create an upstream call");

    grpc_op ops[4] = {
        {.op = GRPC_OP_SEND_INITIAL_METADATA},
        {.op = GRPC_OP_SEND_MESSAGE},
        {.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT},
        {.op = GRPC_OP_RECV_INITIAL_METADATA},
    };
    ops[0].data.send_initial_metadata.count = s->n_md;
    ops[0].data.send_initial_metadata.metadata = s->md;
    ops[1].data.send_message.send_message = s->send_bb;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &s->init_md;
    if (grpc_call_start_batch(s->call, ops, 4, &s->t_start, NULL) !=
        GRPC_CALL_OK)
        return sl_err_set(err, SL_EINTERNAL, "cannot start the upstream call");
    s->refs++;
    grpc_op st = {.op = GRPC_OP_RECV_STATUS_ON_CLIENT};
    st.data.recv_status_on_client.trailing_metadata = &s->trail_md;
    st.data.recv_status_on_client.status = &s->status;
    st.data.recv_status_on_client.status_details = &s->details;
    if (grpc_call_start_batch(s->call, &st, 1, &s->t_status, NULL) ==
        GRPC_CALL_OK)
        s->refs++;
    else
        s->status_in = true; /* never comes: finish at the next recv */
    post_recv(s);
    return SL_OK;
}

struct sl_watch_stream *sl__watch_stream_new(struct sl_http_watch *w, int *rc,
                                             struct sl_err *err)
{
    struct sl_watch_stream *s = NULL;

    if (w->ending) {
        *rc = sl_err_set(err, SL_EUNAVAIL,
                         "the server is shutting down; try again");
        return NULL;
    }
    if (w->n >= w->max) {
        *rc = sl_err_set(err, SL_EOVERLOAD,
                         "too many watches at once (--http-max-watchers "
                         "%u); try again later",
                         w->max);
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        *rc = sl_err_set(err, SL_ENOMEM, "out of memory");
        return NULL;
    }
    s->w = w;
    s->chan = SIZE_MAX; /* none yet */
    s->fd = -1;
    s->refs = 1; /* the request's */
    s->state = SL_WATCH_WAITING;
    s->t_start = (struct sl_watch_tag){SL_WATCH_TAG_START, s};
    s->t_recv = (struct sl_watch_tag){SL_WATCH_TAG_RECV, s};
    s->t_status = (struct sl_watch_tag){SL_WATCH_TAG_STATUS, s};
    s->details = grpc_empty_slice();
    grpc_metadata_array_init(&s->init_md);
    grpc_metadata_array_init(&s->trail_md);
    sl_buf_init(&s->out);
    s->start_ms = s->last_ms = sl_clock_ms();
    s->next = w->head;
    if (w->head)
        w->head->prev = s;
    w->head = s;
    w->n++;
    *rc = SL_OK;
    return s;
}

enum MHD_Result sl_http_answer_watch(struct MHD_Connection *conn,
                                     struct sl_req *rq, struct sl_http_watch *w,
                                     size_t max_token,
                                     const struct sl_route *rt)
{
    struct sl_err err;
    const char *token = NULL;

    sl_err_clear(&err);
    int rc = sl_http_req_token(conn, rq, max_token, rt, &token, &err);
    if (rc != SL_OK)
        return sl_http_respond_error(conn, rq, rc, err.msg);
    if (w->feed)
        return sl__watch_local_answer(conn, rq, w, token, rt);
    pthread_mutex_lock(&w->mu);
    struct sl_watch_stream *s = sl__watch_stream_new(w, &rc, &err);
    if (!s)
        goto refuse;
    s->chan = take_chan(w);
    if (s->chan == SIZE_MAX) {
        rc = sl_err_set(&err, SL_ENOMEM, "cannot open an upstream channel");
        unref(s);
        goto refuse;
    }
    rc = start_call(w, s, rt, token, rq->request_id, &err);
    if (rc != SL_OK) {
        cancel(s);
        unref(s); /* the request's: frees s when no batch holds it */
        goto refuse;
    }
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    s->fd = ci ? ci->connect_fd : -1;
    s->conn = conn;
    s->suspended = true;
    MHD_suspend_connection(conn); /* until the first message or failure */
    rq->watch = s;
    pthread_mutex_unlock(&w->mu);
    return MHD_YES;

refuse:
    pthread_mutex_unlock(&w->mu);
    return sl_http_respond_error(conn, rq, rc, err.msg);
}

/* libmicrohttpd's content reader of the event stream. */
static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct sl_watch_stream *s = cls;
    ssize_t ret;

    (void)pos;
    pthread_mutex_lock(&s->w->mu);
    bool pull = s->held && !sl__watch_pending(s) && !s->client_gone;
    if (pull) { /* in-process: changes wait on the feed; its lock first */
        pthread_mutex_unlock(&s->w->mu);
        sl__watch_lock(s->w);
        sl__watch_local_pull(s);
    }
    size_t n = sl__watch_pending(s);
    if (s->client_gone) {
        ret = MHD_CONTENT_READER_END_WITH_ERROR; /* close */
    } else if (n) {
        if (n > max)
            n = max;
        memcpy(buf, s->out.data + s->out_off, n);
        s->out_off += n;
        if (s->out_off == s->out.len)
            s->out.len = s->out_off = 0; /* all taken: reuse the memory */
        post_recv(s);                    /* when it was held up by the client */
        ret = (ssize_t)n;
    } else if (s->state != SL_WATCH_STREAMING) {
        ret = MHD_CONTENT_READER_END_OF_STREAM; /* the last chunk */
    } else {
        s->suspended = true; /* until there is something to send */
        MHD_suspend_connection(s->conn);
        ret = 0;
    }
    if (pull)
        sl__watch_unlock(s->w);
    else
        pthread_mutex_unlock(&s->w->mu);
    return ret;
}

/* libmicrohttpd is done with the event stream's response. */
static void sse_free(void *cls)
{
    struct sl_watch_stream *s = cls;
    struct sl_http_watch *w = s->w;

    sl__watch_lock(w); /* in-process, the last reference unlists */
    cancel(s);
    unref(s);
    sl__watch_unlock(w);
}

enum MHD_Result sl_http_watch_resumed(struct MHD_Connection *conn,
                                      struct sl_req *rq)
{
    struct sl_watch_stream *s = rq->watch;
    struct sl_http_watch *w = s->w;
    struct sl_err err;

    pthread_mutex_lock(&w->mu);
    if (s->client_gone) {
        pthread_mutex_unlock(&w->mu);
        return MHD_NO; /* close */
    }
    if (s->state == SL_WATCH_WAITING) { /* not ours: wait on */
        s->suspended = true;
        MHD_suspend_connection(conn);
        pthread_mutex_unlock(&w->mu);
        return MHD_YES;
    }
    if (s->state == SL_WATCH_FAILED) {
        err = s->err;
        pthread_mutex_unlock(&w->mu);
        return sl_http_respond_error(conn, rq, err.code, err.msg);
    }
    s->refs++; /* the response's, dropped in sse_free */
    pthread_mutex_unlock(&w->mu);

    struct MHD_Response *r = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, SL_WATCH_BLOCK, sse_read, s, sse_free);
    if (!r) {
        sl__watch_lock(w);
        unref(s);
        sl__watch_unlock(w);
        return MHD_NO;
    }
    enum MHD_Result ret = MHD_NO;
    if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                SL_SSE_CONTENT_TYPE) == MHD_YES &&
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache") ==
            MHD_YES &&
        MHD_add_response_header(r, "X-Accel-Buffering", "no") == MHD_YES &&
        MHD_add_response_header(r, "X-Request-Id", rq->request_id) == MHD_YES &&
        sl_http_web_headers(r, conn, rq, false) == MHD_YES && /* CORS */
        (!sl_http_must_close(rq) ||
         MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close") ==
             MHD_YES))
        ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r); /* sse_free when libmicrohttpd is done */
    if (ret == MHD_YES)
        rq->status = MHD_HTTP_OK;
    return ret;
}

void sl_http_watch_request_done(struct sl_req *rq)
{
    struct sl_watch_stream *s = rq->watch;

    if (!s)
        return;
    struct sl_http_watch *w = s->w;
    sl__watch_lock(w); /* in-process, the last reference unlists */
    s->conn = NULL;
    s->suspended = false;
    if (s->final && rq->status == MHD_HTTP_OK)
        rq->error_code = s->final;
    cancel(s);
    unref(s);
    sl__watch_unlock(w);
    rq->watch = NULL;
}
