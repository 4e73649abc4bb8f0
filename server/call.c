/* call.c -- per-call state machines and the completion-queue loop
 *
 * A call's life starts as a posted slot (REQUESTED) for one row of the
 * handler table (methods.h). When a client arrives the slot's tag
 * completes with success; the worker first re-posts a slot for the same
 * row (so the server never runs out), stamps the call (arrival time,
 * request id, in-flight gauge) and hands it to the row's accept().
 *
 * From there the handler drives: a unary handler answers with one batch
 * (sl_call_finish_unary: initial metadata, the message, the status and
 * RECV_CLOSE_ON_SERVER; FINISHING); a streaming handler posts
 * RECV_CLOSE_ON_SERVER on the close tag (its completion goes to closed())
 * and batches of its own on the main tag (ACTIVE; each completion goes to
 * step()), until it posts the status (sl_call_finish_stream; FINISHING).
 * The catch-all row (path NULL) is requested with grpc_server_request_call
 * and sees every method no row registered.
 *
 * `pending` counts batches posted and not completed; the call is logged,
 * counted and freed when it drops to zero, after the handler's release().
 * A slot whose tag completes with success == 0 means the server is
 * shutting down: it is freed unused.
 */
#include "call.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/support/alloc.h>

#include "clock.h"
#include "connguard.h"
#include "log.h"
#include "metrics.h"
#include "status.h"

static void call_free(struct sl_call *c)
{
    if (c->call)
        grpc_call_unref(c->call);
    if (!c->handler->path) /* only the catch-all row asks for them */
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
    gpr_free(c->peer);
    free(c);
}

/* The worker's sending list: unary calls whose reply is posted and not
 * yet sent, oldest first (every entry gets the same timeout, so appending
 * keeps it sorted by due time). The worker adds and removes its calls; the
 * server's reaper thread expires them: both under w->sending_mu, which is
 * uncontended but for the reaper's few sweeps a second. (A wait with a
 * deadline on the completion queue, instead, cost 4 % more instructions
 * per call.) */
static void sending_add(struct sl_call *c)
{
    struct sl_worker *w = c->worker;
    int64_t due = sl_clock_ms() + w->send_timeout_ms;
    c->send_listed = true;
    pthread_mutex_lock(&w->sending_mu);
    c->send_due_ms = due;
    c->send_prev = w->sending_tail;
    c->send_next = NULL;
    if (w->sending_tail)
        w->sending_tail->send_next = c;
    else
        w->sending = c;
    w->sending_tail = c;
    pthread_mutex_unlock(&w->sending_mu);
}

/* Unlinks c; the caller holds w->sending_mu. */
static void sending_unlink(struct sl_worker *w, struct sl_call *c)
{
    if (!c->send_due_ms)
        return;
    if (c->send_prev)
        c->send_prev->send_next = c->send_next;
    else
        w->sending = c->send_next;
    if (c->send_next)
        c->send_next->send_prev = c->send_prev;
    else
        w->sending_tail = c->send_prev;
    c->send_prev = c->send_next = NULL;
    c->send_due_ms = 0;
}

static void sending_remove(struct sl_call *c)
{
    if (!c->send_listed)
        return;
    pthread_mutex_lock(&c->worker->sending_mu);
    sending_unlink(c->worker, c);
    pthread_mutex_unlock(&c->worker->sending_mu);
}

/* Cancels the replies that their clients have not read within
 * --send-timeout (a zero HTTP/2 window, a stalled reader): they would
 * otherwise hold a call place and their bytes for as long as the client
 * likes. The batch then completes on the worker, and call_done() frees
 * the call; the lock keeps that from happening before the cancel. */
void sl_worker_expire_replies(struct sl_worker *w, int64_t now_ms)
{
    int n = 0;
    size_t bytes = 0;
    pthread_mutex_lock(&w->sending_mu);
    while (w->sending && w->sending->send_due_ms <= now_ms) {
        struct sl_call *c = w->sending;
        sending_unlink(w, c);
        n++;
        bytes += c->reply_bytes;
        c->send_expired = true;
        grpc_call_cancel_with_status(c->call, GRPC_STATUS_DEADLINE_EXCEEDED,
                                     "reply not read by the client within "
                                     "the server's --send-timeout",
                                     NULL);
    }
    pthread_mutex_unlock(&w->sending_mu);
    if (n)
        sl_log(SL_LOG_WARN,
               "%d repl%s (%zu bytes) not read by their clients within "
               "--send-timeout: cancelled",
               n, n == 1 ? "y" : "ies", bytes);
}

/* The call's last batch completed: count it, log it, free it. */
static void call_done(struct sl_call *c)
{
    if (!c->call) { /* a slot returned unused at shutdown */
        call_free(c);
        return;
    }
    if (c->handler->release)
        c->handler->release(c);
    sending_remove(c);
    if (c->answered)
        atomic_fetch_sub_explicit(&c->worker->answered, 1,
                                  memory_order_relaxed);
    if (c->guard_peer)
        sl_connguard_release(c->worker->guard, c->guard_peer);
    if (c->reply_bytes)
        atomic_fetch_sub(c->worker->inflight_bytes, (long long)c->reply_bytes);
    /* What the client got: a status we sent, unless the call was
     * cancelled first (the client left, or its reply expired). */
    int status = c->send_expired  ? GRPC_STATUS_DEADLINE_EXCEEDED
                 : c->cancelled   ? GRPC_STATUS_CANCELLED
                 : c->status >= 0 ? c->status
                                  : GRPC_STATUS_UNKNOWN;
    if (c->send_expired)
        c->err_code = SL_ETIMEOUT;
    else if (status == GRPC_STATUS_CANCELLED)
        c->err_code = SL_OK; /* the client left: no error of ours to name */
    uint64_t dur = (uint64_t)(sl_clock_us() - c->start_us);
    if (c->counted)
        sl_admit_release(c->worker->in_flight);
    atomic_fetch_sub(&c->worker->active, 1);
    sl_metrics_grpc_done(c->method, status, dur);
    if (SL_LOG_INFO <= sl_log_level) {
        char method[160];
        if (!c->handler->path)
            snprintf(method, sizeof(method), "%.*s",
                     (int)GRPC_SLICE_LENGTH(c->details.method),
                     (const char *)GRPC_SLICE_START_PTR(c->details.method));
        else
            snprintf(method, sizeof(method), "%s", c->handler->path);
        char *peer = c->peer ? c->peer : grpc_call_get_peer(c->call);
        c->peer = NULL;
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

int sl_call_post(struct sl_worker *w, unsigned method)
{
    const struct sl_handler *h = sl_methods[method];
    struct sl_call *c = calloc(1, sizeof(*c));
    if (!c)
        return -1;
    c->tag.kind = SL_TAG_CALL;
    c->tag.owner = c;
    c->close_tag.kind = SL_TAG_CALL_CLOSE;
    c->close_tag.owner = c;
    c->state = SL_CALL_REQUESTED;
    c->handler = h;
    c->method = method;
    c->worker = w;
    c->status = -1;
    atomic_init(&c->pending, 1);
    c->status_msg = grpc_empty_slice();
    c->trailer.value = grpc_empty_slice();
    if (!h->path)
        grpc_call_details_init(&c->details);
    grpc_metadata_array_init(&c->md_recv);
    grpc_call_error e;
    if (!h->path)
        e = grpc_server_request_call(w->server, &c->call, &c->details,
                                     &c->md_recv, w->cq, w->cq, &c->tag);
    else /* bidi streams read their messages themselves */
        e = grpc_server_request_registered_call(
            w->server, w->registered[method], &c->call, &c->deadline,
            &c->md_recv, h->kind == SL_RPC_BIDI ? NULL : &c->req, w->cq, w->cq,
            &c->tag);
    if (e != GRPC_CALL_OK) {
        call_free(c);
        return -1;
    }
    atomic_fetch_add(&w->posted, 1);
    return 0;
}

/* Posts a batch on the main tag (or the close tag); counts it. */
static int post(struct sl_call *c, const grpc_op *ops, size_t n,
                struct sl_tag *tag)
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

int sl_call_post_batch(struct sl_call *c, const grpc_op *ops, size_t n)
{
    c->state = SL_CALL_ACTIVE;
    return post(c, ops, n, &c->tag);
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

/* Counts an answered call, and by its connection (connguard.h) while
 * more answers wait here than one connection may have streams open: only
 * then can one connection's answers pile up, and only then is the peer
 * string (an allocation and a lookup under a lock) worth its cost. Long
 * streams (watchers) do not count until they end. */
static void guard_answered(struct sl_call *c)
{
    struct sl_worker *w = c->worker;
    c->answered = true;
    if (atomic_fetch_add_explicit(&w->answered, 1, memory_order_relaxed) <
        w->guard_from)
        return;
    char *peer = grpc_call_get_peer(c->call);
    c->guard_peer = sl_connguard_hold(w->guard, peer, sl_clock_ms());
    gpr_free(peer);
}

/* Charges a reply of n bytes to the server's in-flight reply bytes: false
 * (err set) when that would pass --max-inflight-bytes. One reply is always
 * let through when none is held, so an answer larger than the limit is
 * still served alone. */
static bool charge_reply(struct sl_call *c, size_t n, struct sl_err *err)
{
    struct sl_worker *w = c->worker;
    long long held = atomic_fetch_add(w->inflight_bytes, (long long)n);
    if (held > 0 && held + (long long)n > w->max_inflight_bytes) {
        atomic_fetch_sub(w->inflight_bytes, (long long)n);
        sl_err_set(err, SL_EOVERLOAD,
                   "server overloaded: %lld bytes of replies are waiting for "
                   "their clients to read them; retry later",
                   held);
        return false;
    }
    c->reply_bytes = n;
    return true;
}

bool sl_reply_fits(size_t len, size_t max, struct sl_err *err)
{
    if (len <= max)
        return true;
    sl_err_set(err, SL_ETOOBIG,
               "the answer (%zu bytes) is larger than "
               "--max-response-bytes (%zu); ask for less (update_time)",
               len, max);
    return false;
}

void sl_call_finish_unary(struct sl_call *c, int rc, const struct sl_err *err,
                          grpc_slice *msg)
{
    struct sl_err full;
    size_t len = msg ? GRPC_SLICE_LENGTH(*msg) : 0;
    if (msg && !sl_reply_fits(len, c->worker->max_response_bytes, &full)) {
        /* gRPC's send limit would only cancel the call; say why. */
        rc = full.code;
        err = &full;
        msg = NULL;
    } else if (msg && !charge_reply(c, len, &full)) {
        rc = full.code;
        err = &full;
        msg = NULL;
    }
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
    guard_answered(c);
    if (post(c, ops, n, &c->tag) == 0 && msg)
        sending_add(c);
}

void sl_call_finish_stream(struct sl_call *c, int rc, const struct sl_err *err)
{
    set_status(c, rc, err);
    grpc_op op;
    memset(&op, 0, sizeof(op));
    fill_status_op(c, &op);
    c->state = SL_CALL_FINISHING;
    guard_answered(c);
    post(c, &op, 1, &c->tag);
}

void sl_call_post_close(struct sl_call *c)
{
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &c->cancelled;
    post(c, &op, 1, &c->close_tag);
}

grpc_slice sl_call_payload(grpc_byte_buffer *bb)
{
    /* The usual request, one uncompressed slice: a reference, not a copy
     * (the reader's readall allocates and copies every time). */
    if (bb && bb->type == GRPC_BB_RAW &&
        bb->data.raw.compression == GRPC_COMPRESS_NONE &&
        bb->data.raw.slice_buffer.count == 1)
        return grpc_slice_ref(bb->data.raw.slice_buffer.slices[0]);
    grpc_byte_buffer_reader rd;
    if (!bb || !grpc_byte_buffer_reader_init(&rd, bb))
        return grpc_empty_slice();
    grpc_slice s = grpc_byte_buffer_reader_readall(&rd);
    grpc_byte_buffer_reader_destroy(&rd);
    return s;
}

int64_t sl_call_deadline_us(const struct sl_call *c)
{
    int64_t cap = sl_clock_us() + (int64_t)c->worker->query_timeout_ms * 1000;
    if (gpr_time_cmp(c->deadline, gpr_inf_future(c->deadline.clock_type)) == 0)
        return cap;
    gpr_timespec d = gpr_convert_clock_type(c->deadline, GPR_CLOCK_MONOTONIC);
    int64_t us = (int64_t)d.tv_sec * 1000000 + d.tv_nsec / 1000;
    return us < cap ? us : cap;
}

void sl_call_metadata(const struct sl_call *c, const char *key,
                      const char **val, size_t *len)
{
    const grpc_metadata_array *md = &c->md_recv;
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

bool sl_admit(atomic_int *in_flight, int max, struct sl_err *err)
{
    if (atomic_fetch_add(in_flight, 1) < max)
        return true;
    sl_err_set(err, SL_EOVERLOAD,
               "server overloaded: %d calls in flight; retry later", max);
    return false;
}

void sl_admit_release(atomic_int *in_flight)
{
    atomic_fetch_sub(in_flight, 1);
}

bool sl_call_admit(struct sl_call *c, struct sl_err *err)
{
    struct sl_worker *w = c->worker;
    /* The place is held from here until call_done(), refused or not. */
    c->counted = true;
    return sl_admit(w->in_flight, w->max_in_flight, err);
}

/* Reads x-request-id, or makes one when the access log will want it. */
static void take_request_id(struct sl_call *c)
{
    const char *v;
    size_t len;
    sl_call_metadata(c, "x-request-id", &v, &len);
    if (sl_request_id_valid(v, len)) {
        memcpy(c->request_id, v, len);
        c->request_id[len] = '\0';
    } else if (SL_LOG_INFO <= sl_log_level) {
        sl_request_id_new(c->request_id, sizeof(c->request_id));
    }
}

static void on_call_event(struct sl_call *c, int success)
{
    switch (c->state) {
    case SL_CALL_REQUESTED:
        if (!success) { /* server shutting down: slot returned unused */
            atomic_fetch_sub(&c->worker->posted, 1);
            break;
        }
        /* In flight before its slot stops counting (the stop sequence
         * reads slots, then active: it never sees neither). */
        atomic_fetch_add(&c->worker->active, 1);
        /* Re-arm first, so a slot is free while this call is handled. */
        if (sl_call_post(c->worker, c->method) != 0)
            sl_log(SL_LOG_WARN, "could not re-post a request slot");
        atomic_fetch_sub(&c->worker->posted, 1);
        c->start_us = sl_clock_us();
        sl_metrics_grpc_start(c->method);
        take_request_id(c);
        if (c->handler->path && c->handler->kind != SL_RPC_BIDI && !c->req) {
            /* No request message: the client half-closed without one or,
             * far more often, reset the stream before it came. Answered
             * here, before the handler: it costs no call place and no
             * backend work, and is logged CANCELLED when it was.
             * A reset one is cancelled first: gRPC 1.51 otherwise holds
             * the batch below (and the call, ~18 KB) until the client's
             * connection closes, so a rapid-reset flood piled up every
             * call it sent (20 000: 350 MiB; test_abuse.sh). The reset
             * counts against its connection: too many aborts it
             * (connguard.h). */
            struct sl_err err;
            sl_err_set(&err, SL_EINVAL, "request message missing");
            if (grpc_call_failed_before_recv_message(c->call)) {
                /* the peer first: a cancelled call forgets it */
                c->peer = grpc_call_get_peer(c->call);
                sl_connguard_reset(c->worker->guard, c->peer, sl_clock_ms());
                grpc_call_cancel(c->call, NULL);
            }
            sl_call_finish_unary(c, SL_EINVAL, &err, NULL);
        } else {
            c->handler->accept(c);
        }
        break;
    case SL_CALL_ACTIVE:
        if (c->handler->step)
            c->handler->step(c, success);
        break;
    case SL_CALL_FINISHING:
        break;
    }
}

void *sl_worker_main(void *arg)
{
    pthread_setname_np(pthread_self(), "sl-worker");
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
            if (c->handler->closed)
                c->handler->closed(c);
            break;
        case SL_TAG_SHUTDOWN:
            continue;
        }
        if (atomic_fetch_sub(&c->pending, 1) == 1)
            call_done(c);
    }
    return NULL;
}
