/* call.c -- per-call state machines and the completion-queue loop
 *
 * A call's life starts as a posted slot (REQUESTED). When a client
 * arrives the slot's tag completes with success; the worker first re-posts
 * a slot for the same method (so the server never runs out), then:
 *
 *  - unary methods (QueryServiceLogs, Health/Check, unknown methods) run
 *    their handler synchronously on the worker's own store connection and
 *    post ONE batch: initial metadata, the message, the status and
 *    RECV_CLOSE_ON_SERVER (FINISHING);
 *  - Health/Watch posts RECV_CLOSE_ON_SERVER on the close tag, joins the
 *    health watcher list and sends the current status (WATCH_SEND); after
 *    each send it sends again if the status changed meanwhile, else waits
 *    (WATCH_IDLE) until sl_call_watch_kick(); at shutdown it sends
 *    NOT_SERVING and ends the stream with UNAVAILABLE;
 *  - ServerReflectionInfo (bidi) posts RECV_CLOSE_ON_SERVER on the close
 *    tag and reads (READING); each request is answered with one batch that
 *    also reads the next; the client's half-close ends it with OK. At the
 *    drain it is cancelled with UNAVAILABLE instead of holding shutdown
 *    up for the whole grace period.
 *
 * `pending` counts batches posted and not completed; the call is logged,
 * counted and freed when it drops to zero. A slot whose tag completes with
 * success == 0 means the server is shutting down: it is freed unused.
 */
#include "call.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/support/alloc.h>

#include "log.h"
#include "reflection.h"
#include "status.h"

static int64_t now_us(void)
{
    gpr_timespec t = gpr_now(GPR_CLOCK_MONOTONIC);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static void call_free(struct sl_call *c)
{
    if (c->call)
        grpc_call_unref(c->call);
    grpc_call_details_destroy(&c->details);
    grpc_metadata_array_destroy(&c->md_recv);
    if (c->req)
        grpc_byte_buffer_destroy(c->req);
    if (c->recv)
        grpc_byte_buffer_destroy(c->recv);
    if (c->resp)
        grpc_byte_buffer_destroy(c->resp);
    grpc_slice_unref(c->status_msg);
    grpc_slice_unref(c->trailer.value);
    free(c);
}

/* The call's last batch completed: count it, log it, free it. */
static void call_done(struct sl_call *c)
{
    if (!c->call) { /* a slot returned unused at shutdown */
        call_free(c);
        return;
    }
    int status = c->status >= 0 ? c->status
                 : c->cancelled ? GRPC_STATUS_CANCELLED
                                : GRPC_STATUS_UNKNOWN;
    uint64_t dur = (uint64_t)(now_us() - c->start_us);
    if (c->counted)
        atomic_fetch_sub(c->worker->in_flight, 1);
    sl_metrics_grpc_done(c->method, status, dur);
    if (SL_LOG_INFO <= sl_log_level) {
        char method[160];
        if (c->method == SL_METHOD_UNKNOWN)
            snprintf(method, sizeof(method), "%.*s",
                     (int)GRPC_SLICE_LENGTH(c->details.method),
                     (const char *)GRPC_SLICE_START_PTR(c->details.method));
        else
            snprintf(method, sizeof(method), "%s", sl_method_path(c->method));
        char *peer = grpc_call_get_peer(c->call);
        struct sl_access a = {
            .kind = "grpc",
            .method = method,
            .project_id = c->ids.project_id[0] ? c->ids.project_id : NULL,
            .service_id = c->ids.service_id[0] ? c->ids.service_id : NULL,
            .status = status,
            .error_code = c->err_code ? sl_err_mcode(c->err_code) : NULL,
            .duration_us = dur,
            .peer = peer,
            .request_id = c->request_id,
        };
        sl_access_log(&a);
        gpr_free(peer);
    }
    call_free(c);
}

int sl_call_post(struct sl_worker *w, enum sl_method m)
{
    struct sl_call *c = calloc(1, sizeof(*c));
    if (!c)
        return -1;
    c->tag.kind = SL_TAG_CALL;
    c->tag.owner = c;
    c->close_tag.kind = SL_TAG_CALL_CLOSE;
    c->close_tag.owner = c;
    c->state = SL_CALL_REQUESTED;
    c->method = m;
    c->worker = w;
    c->status = -1;
    atomic_init(&c->pending, 1);
    c->status_msg = grpc_empty_slice();
    c->trailer.value = grpc_empty_slice();
    grpc_call_details_init(&c->details);
    grpc_metadata_array_init(&c->md_recv);
    grpc_call_error e;
    if (m == SL_METHOD_UNKNOWN)
        e = grpc_server_request_call(w->server, &c->call, &c->details,
                                     &c->md_recv, w->cq, w->cq, &c->tag);
    else
        e = grpc_server_request_registered_call(
            w->server, w->methods[m], &c->call, &c->deadline, &c->md_recv,
            m == SL_METHOD_REFLECTION_V1 || m == SL_METHOD_REFLECTION_V1ALPHA
                ? NULL
                : &c->req,
            w->cq, w->cq, &c->tag);
    if (e != GRPC_CALL_OK) {
        call_free(c);
        return -1;
    }
    return 0;
}

/* Posts a batch on the main tag (or the close tag); counts it. */
static int post(struct sl_call *c, grpc_op *ops, size_t n, struct sl_tag *tag)
{
    atomic_fetch_add(&c->pending, 1);
    grpc_call_error e = grpc_call_start_batch(c->call, ops, n, tag, NULL);
    if (e != GRPC_CALL_OK) {
        atomic_fetch_sub(&c->pending, 1);
        sl_log(SL_LOG_ERROR, "grpc_call_start_batch: error %d", (int)e);
        return -1;
    }
    return 0;
}

/* Records the status to send: code, text and, on failure, the ErrorInfo. */
static void set_status(struct sl_call *c, int rc, const struct sl_err *err)
{
    c->status = sl_err_to_grpc(rc);
    if (rc == SL_OK)
        return;
    c->err_code = rc;
    grpc_slice_unref(c->status_msg);
    c->status_msg = grpc_slice_from_copied_string(err->msg);
    grpc_slice_unref(c->trailer.value);
    if (sl_status_details_pack(rc, err->msg, &c->trailer.value) == SL_OK)
        c->trailer.key = grpc_slice_from_static_string(SL_STATUS_DETAILS_KEY);
    if (rc == SL_EUNAVAIL || rc == SL_EIO || rc == SL_EINTERNAL ||
        rc == SL_ETIMEOUT) {
        sl_metrics_backend_error();
        sl_log(SL_LOG_WARN, "call failed: %s: %s", sl_err_name(rc), err->msg);
    }
}

static void fill_status_op(struct sl_call *c, grpc_op *op)
{
    op->op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    op->data.send_status_from_server.status = (grpc_status_code)c->status;
    if (c->status != GRPC_STATUS_OK) {
        op->data.send_status_from_server.status_details = &c->status_msg;
        if (!GRPC_SLICE_IS_EMPTY(c->trailer.value)) {
            op->data.send_status_from_server.trailing_metadata_count = 1;
            op->data.send_status_from_server.trailing_metadata = &c->trailer;
        }
    }
}

/* Unary reply: one batch with everything, close included. */
static void finish_unary(struct sl_call *c, int rc, const struct sl_err *err,
                         grpc_slice *msg)
{
    set_status(c, rc, err);
    grpc_op ops[4];
    size_t n = 0;
    memset(ops, 0, sizeof(ops));
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (msg) {
        c->resp = grpc_raw_byte_buffer_create(msg, 1);
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = c->resp;
    }
    fill_status_op(c, &ops[n++]);
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
    c->state = SL_CALL_FINISHING;
    post(c, ops, n, &c->tag);
}

/* Streams: the status batch (the close op is already posted). */
static void finish_stream(struct sl_call *c, int rc, const struct sl_err *err)
{
    set_status(c, rc, err);
    grpc_op op;
    memset(&op, 0, sizeof(op));
    fill_status_op(c, &op);
    c->state = SL_CALL_FINISHING;
    post(c, &op, 1, &c->tag);
}

static void post_close(struct sl_call *c)
{
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &c->cancelled;
    post(c, &op, 1, &c->close_tag);
}

static grpc_slice payload(grpc_byte_buffer *bb)
{
    grpc_byte_buffer_reader rd;
    if (!bb || !grpc_byte_buffer_reader_init(&rd, bb))
        return grpc_empty_slice();
    grpc_slice s = grpc_byte_buffer_reader_readall(&rd);
    grpc_byte_buffer_reader_destroy(&rd);
    return s;
}

/* The call's deadline as CLOCK_MONOTONIC µs: the client's, capped by the
 * server's query timeout. */
static int64_t deadline_us(const struct sl_call *c)
{
    int64_t cap = now_us() + (int64_t)c->worker->query_timeout_ms * 1000;
    if (gpr_time_cmp(c->deadline, gpr_inf_future(c->deadline.clock_type)) == 0)
        return cap;
    gpr_timespec d = gpr_convert_clock_type(c->deadline, GPR_CLOCK_MONOTONIC);
    int64_t us = (int64_t)d.tv_sec * 1000000 + d.tv_nsec / 1000;
    return us < cap ? us : cap;
}

static void metadata_value(const grpc_metadata_array *md, const char *key,
                           const char **val, size_t *len)
{
    *val = "";
    *len = 0;
    for (size_t i = 0; i < md->count; i++) {
        if (grpc_slice_str_cmp(md->metadata[i].key, key) == 0) {
            *val = (const char *)GRPC_SLICE_START_PTR(md->metadata[i].value);
            *len = GRPC_SLICE_LENGTH(md->metadata[i].value);
            return;
        }
    }
}

static void run_query_logs(struct sl_call *c)
{
    struct sl_worker *w = c->worker;
    struct sl_err err;
    sl_err_clear(&err);
    /* Shedding first: an overloaded server answers at once. in_flight
     * counts this call until call_done(). */
    c->counted = true;
    if (atomic_fetch_add(w->in_flight, 1) >= w->max_in_flight) {
        sl_err_set(&err, SL_EOVERLOAD,
                   "server overloaded: %d calls in flight; retry later",
                   w->max_in_flight);
        finish_unary(c, SL_EOVERLOAD, &err, NULL);
        return;
    }
    if (!c->req) {
        sl_err_set(&err, SL_EINVAL, "request message missing");
        finish_unary(c, SL_EINVAL, &err, NULL);
        return;
    }
    struct sl_rpc_ctx ctx = {
        .store = w->store,
        .auth = w->auth,
        .backend_ok = sl_health_backend_ok(w->health),
        .deadline_us = deadline_us(c),
    };
    metadata_value(&c->md_recv, "x-auth-token", &ctx.token, &ctx.token_len);
    grpc_slice in = payload(c->req);
    grpc_slice out;
    int rc = sl_rpc_query_logs(&ctx, GRPC_SLICE_START_PTR(in),
                               GRPC_SLICE_LENGTH(in), &out, &c->ids, &err);
    grpc_slice_unref(in);
    finish_unary(c, rc, &err, rc == SL_OK ? &out : NULL);
    if (rc == SL_OK)
        grpc_slice_unref(out);
}

static void run_health_check(struct sl_call *c)
{
    struct sl_err err;
    sl_err_clear(&err);
    grpc_slice in = payload(c->req);
    const char *name;
    size_t len;
    int rc = SL_OK;
    if (sl_health_decode_request(GRPC_SLICE_START_PTR(in),
                                 GRPC_SLICE_LENGTH(in), &name, &len) < 0) {
        rc = sl_err_set(&err, SL_EINVAL,
                        "request is not a valid HealthCheckRequest");
    } else {
        enum sl_serving s = sl_health_status(c->worker->health, name, len);
        if (s == SL_SERVICE_UNKNOWN) {
            rc = sl_err_set(&err, SL_ENOTFOUND, "unknown service %.*s",
                            (int)(len > 128 ? 128 : len), name);
        } else {
            grpc_slice out = sl_health_encode_response(s);
            finish_unary(c, SL_OK, &err, &out);
            grpc_slice_unref(out);
        }
    }
    grpc_slice_unref(in);
    if (rc != SL_OK)
        finish_unary(c, rc, &err, NULL);
}

/* Watch: sends s as the next message (health lock held). */
static void watch_send(struct sl_call *c, enum sl_serving s, bool first)
{
    if (c->resp) {
        grpc_byte_buffer_destroy(c->resp);
        c->resp = NULL;
    }
    grpc_slice out = sl_health_encode_response(s);
    c->resp = grpc_raw_byte_buffer_create(&out, 1);
    grpc_slice_unref(out);
    grpc_op ops[2];
    size_t n = 0;
    memset(ops, 0, sizeof(ops));
    if (first)
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = c->resp;
    c->last_sent = s;
    c->state = SL_CALL_WATCH_SEND;
    if (post(c, ops, n, &c->tag) != 0)
        sl_health_watch_remove(c->worker->health, c);
}

/* Watch: what to do when nothing is in flight (health lock held). */
static void watch_next(struct sl_call *c)
{
    struct sl_health *h = c->worker->health;
    enum sl_serving s = sl_health_status_locked(h, c->watch_name, c->watch_len);
    if (s != c->last_sent) {
        watch_send(c, s, false);
    } else if (sl_health_draining_locked(h)) {
        struct sl_err err;
        sl_err_set(&err, SL_EUNAVAIL, "server is shutting down");
        sl_health_watch_remove(h, c);
        finish_stream(c, SL_EUNAVAIL, &err);
    } else {
        c->state = SL_CALL_WATCH_IDLE;
    }
}

void sl_call_watch_kick(struct sl_call *c)
{
    if (c->method == SL_METHOD_HEALTH_WATCH) {
        if (c->state == SL_CALL_WATCH_IDLE)
            watch_next(c);
        return;
    }
    /* A reflection stream mostly waits for its client's next request:
     * end it now rather than at the end of the grace period. */
    if (sl_health_draining_locked(c->worker->health)) {
        sl_health_watch_remove(c->worker->health, c);
        grpc_call_cancel_with_status(c->call, GRPC_STATUS_UNAVAILABLE,
                                     "server is shutting down", NULL);
    }
}

static void run_health_watch(struct sl_call *c)
{
    struct sl_err err;
    grpc_slice in = payload(c->req);
    const char *name;
    size_t len;
    int bad = sl_health_decode_request(GRPC_SLICE_START_PTR(in),
                                       GRPC_SLICE_LENGTH(in), &name, &len);
    if (!bad) {
        /* Longer names cannot be known: keep a prefix, mark it unknown. */
        c->watch_len =
            len < sizeof(c->watch_name) ? len : sizeof(c->watch_name);
        memcpy(c->watch_name, name, c->watch_len);
    }
    grpc_slice_unref(in);
    if (bad || !c->req) {
        sl_err_set(&err, SL_EINVAL,
                   "request is not a valid HealthCheckRequest");
        finish_unary(c, SL_EINVAL, &err, NULL);
        return;
    }
    post_close(c);
    struct sl_health *h = c->worker->health;
    sl_health_lock(h);
    sl_health_watch_add(h, c);
    watch_send(c, sl_health_status_locked(h, c->watch_name, c->watch_len),
               true);
    sl_health_unlock(h);
}

static void on_watch_sent(struct sl_call *c, int success)
{
    struct sl_health *h = c->worker->health;
    sl_health_lock(h);
    if (!success || !c->watching)
        sl_health_watch_remove(h, c); /* the stream is gone */
    else
        watch_next(c);
    sl_health_unlock(h);
}

/* Reflection: read the next request (with the previous reply, if any). */
static void reflection_read(struct sl_call *c, bool first)
{
    grpc_op ops[2];
    size_t n = 0;
    memset(ops, 0, sizeof(ops));
    if (first)
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (c->resp) {
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = c->resp;
    }
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n++].data.recv_message.recv_message = &c->recv;
    c->state = SL_CALL_READING;
    post(c, ops, n, &c->tag);
}

static void on_reflection_read(struct sl_call *c, int success)
{
    if (c->resp) { /* sent with the read that just completed */
        grpc_byte_buffer_destroy(c->resp);
        c->resp = NULL;
    }
    if (!success)
        return;     /* cancelled: nothing more to do */
    if (!c->recv) { /* the client half-closed: done */
        finish_stream(c, SL_OK, NULL);
        return;
    }
    struct sl_err err;
    sl_err_clear(&err);
    grpc_slice in = payload(c->recv);
    grpc_byte_buffer_destroy(c->recv);
    c->recv = NULL;
    grpc_slice out;
    int rc =
        sl_reflection_answer(c->worker->reflection, GRPC_SLICE_START_PTR(in),
                             GRPC_SLICE_LENGTH(in), &out, &err);
    grpc_slice_unref(in);
    if (rc != SL_OK) {
        finish_stream(c, rc, &err);
        return;
    }
    c->resp = grpc_raw_byte_buffer_create(&out, 1);
    grpc_slice_unref(out);
    reflection_read(c, false);
}

/* Reads x-request-id, or makes one when the access log will want it. */
static void take_request_id(struct sl_call *c)
{
    const char *v;
    size_t len;
    metadata_value(&c->md_recv, "x-request-id", &v, &len);
    if (sl_request_id_valid(v, len)) {
        memcpy(c->request_id, v, len);
        c->request_id[len] = '\0';
    } else if (SL_LOG_INFO <= sl_log_level) {
        sl_request_id_new(c->request_id, sizeof(c->request_id));
    }
}

/* A client arrived on slot c. */
static void on_accept(struct sl_call *c)
{
    c->start_us = now_us();
    sl_metrics_grpc_start(c->method);
    take_request_id(c);
    struct sl_err err;
    switch (c->method) {
    case SL_METHOD_QUERY_LOGS:
        run_query_logs(c);
        break;
    case SL_METHOD_HEALTH_CHECK:
        run_health_check(c);
        break;
    case SL_METHOD_HEALTH_WATCH:
        run_health_watch(c);
        break;
    case SL_METHOD_REFLECTION_V1:
    case SL_METHOD_REFLECTION_V1ALPHA:
        post_close(c);
        sl_health_lock(c->worker->health);
        if (sl_health_draining_locked(c->worker->health)) {
            sl_health_unlock(c->worker->health);
            sl_err_set(&err, SL_EUNAVAIL, "server is shutting down");
            finish_stream(c, SL_EUNAVAIL, &err);
            break;
        }
        sl_health_watch_add(c->worker->health, c); /* ended at the drain */
        sl_health_unlock(c->worker->health);
        reflection_read(c, true);
        break;
    case SL_METHOD_UNKNOWN:
    case SL_METHOD__COUNT:
        sl_err_set(&err, SL_ENOROUTE, "unknown method %.*s",
                   (int)GRPC_SLICE_LENGTH(c->details.method),
                   (const char *)GRPC_SLICE_START_PTR(c->details.method));
        finish_unary(c, SL_ENOROUTE, &err, NULL);
        break;
    }
}

static void on_call_event(struct sl_call *c, int success)
{
    switch (c->state) {
    case SL_CALL_REQUESTED:
        if (!success) /* server shutting down: slot returned unused */
            break;
        /* Re-arm first, so a slot is free while this call is handled. */
        if (sl_call_post(c->worker, c->method) != 0)
            sl_log(SL_LOG_WARN, "could not re-post a request slot");
        on_accept(c);
        break;
    case SL_CALL_READING:
        on_reflection_read(c, success);
        break;
    case SL_CALL_WATCH_SEND:
        on_watch_sent(c, success);
        break;
    case SL_CALL_WATCH_IDLE: /* nothing is posted in this state */
    case SL_CALL_FINISHING:
        break;
    }
}

static void on_close_event(struct sl_call *c)
{
    if (c->method == SL_METHOD_HEALTH_WATCH ||
        c->method == SL_METHOD_REFLECTION_V1 ||
        c->method == SL_METHOD_REFLECTION_V1ALPHA) {
        struct sl_health *h = c->worker->health;
        sl_health_lock(h);
        sl_health_watch_remove(h, c);
        sl_health_unlock(h);
    }
}

void *sl_worker_main(void *arg)
{
    struct sl_worker *w = arg;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(
            w->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        struct sl_tag *tag = ev.tag;
        struct sl_call *c = tag->owner;
        switch (tag->kind) {
        case SL_TAG_CALL:
            on_call_event(c, ev.success);
            break;
        case SL_TAG_CALL_CLOSE:
            on_close_event(c);
            break;
        case SL_TAG_SHUTDOWN:
            continue;
        }
        if (atomic_fetch_sub(&c->pending, 1) == 1)
            call_done(c);
    }
    return NULL;
}
