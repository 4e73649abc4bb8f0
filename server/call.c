/* call.c -- per-call state machine and the completion-queue loop
 *
 * A call's life: a slot is posted (REQUESTED); a client arrives and the
 * slot's tag completes with success; the worker first re-posts a slot of
 * the same kind (so the server never runs out), then runs the handler
 * synchronously on its own store connection and posts ONE batch with
 * initial metadata, the message, the status and RECV_CLOSE_ON_SERVER
 * (FINISHING); when that batch completes, the call is freed. A slot whose
 * tag completes with success == 0 means the server is shutting down: it
 * is freed and not re-posted.
 */
#include "call.h"

#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>

#include "log.h"
#include "rpc.h"
#include "status.h"

static void call_free(struct sl_call *c)
{
    if (c->call)
        grpc_call_unref(c->call);
    grpc_call_details_destroy(&c->details);
    grpc_metadata_array_destroy(&c->md_recv);
    if (c->req)
        grpc_byte_buffer_destroy(c->req);
    if (c->resp)
        grpc_byte_buffer_destroy(c->resp);
    grpc_slice_unref(c->status_msg);
    grpc_slice_unref(c->trailer.value);
    free(c);
}

int sl_call_post(struct sl_worker *w, enum sl_call_kind kind)
{
    struct sl_call *c = calloc(1, sizeof(*c));
    if (!c)
        return -1;
    c->tag.kind = SL_TAG_CALL;
    c->tag.owner = c;
    c->state = SL_CALL_REQUESTED;
    c->kind = kind;
    c->worker = w;
    c->status_msg = grpc_empty_slice();
    c->trailer.value = grpc_empty_slice();
    grpc_call_details_init(&c->details);
    grpc_metadata_array_init(&c->md_recv);
    grpc_call_error e;
    if (kind == SL_CALL_QUERY_LOGS)
        e = grpc_server_request_registered_call(
            w->server, w->method_query_logs, &c->call, &c->deadline,
            &c->md_recv, &c->req, w->cq, w->cq, &c->tag);
    else
        e = grpc_server_request_call(w->server, &c->call, &c->details,
                                     &c->md_recv, w->cq, w->cq, &c->tag);
    if (e != GRPC_CALL_OK) {
        call_free(c);
        return -1;
    }
    return 0;
}

/* Runs the handler; fills c->resp, or the error status and trailer. */
static int handle(struct sl_call *c, struct sl_err *err)
{
    if (c->kind == SL_CALL_UNKNOWN) {
        return sl_err_set(
            err, SL_ENOROUTE, "unknown method %.*s",
            (int)GRPC_SLICE_LENGTH(c->details.method),
            (const char *)GRPC_SLICE_START_PTR(c->details.method));
    }
    if (!c->req)
        return sl_err_set(err, SL_EINVAL, "request message missing");

    grpc_byte_buffer_reader rd;
    if (!grpc_byte_buffer_reader_init(&rd, c->req))
        return sl_err_set(err, SL_EINVAL, "request message unreadable");
    grpc_slice in = grpc_byte_buffer_reader_readall(&rd);
    grpc_byte_buffer_reader_destroy(&rd);

    grpc_slice out;
    int rc = sl_rpc_query_logs(c->worker->store, GRPC_SLICE_START_PTR(in),
                               GRPC_SLICE_LENGTH(in), &out, err);
    grpc_slice_unref(in);
    if (rc == SL_OK) {
        c->resp = grpc_raw_byte_buffer_create(&out, 1);
        grpc_slice_unref(out);
    }
    return rc;
}

/* A client arrived on slot c: answer it with one batch. */
static void start_reply(struct sl_call *c)
{
    struct sl_err err;
    sl_err_clear(&err);
    int rc = handle(c, &err);
    if (rc != SL_OK) {
        if (rc == SL_EINTERNAL || rc == SL_EUNAVAIL || rc == SL_ENOMEM)
            sl_log(SL_LOG_WARN, "call failed: %s: %s", sl_err_name(rc),
                   err.msg);
        c->status_msg = grpc_slice_from_copied_string(err.msg);
        if (sl_status_details_pack(rc, err.msg, &c->trailer.value) == SL_OK)
            c->trailer.key =
                grpc_slice_from_static_string(SL_STATUS_DETAILS_KEY);
    }

    grpc_op ops[4];
    size_t n = 0;
    memset(ops, 0, sizeof(ops));
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (c->resp) {
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = c->resp;
    }
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status =
        (grpc_status_code)sl_err_to_grpc(rc);
    if (rc != SL_OK) {
        ops[n].data.send_status_from_server.status_details = &c->status_msg;
        if (!GRPC_SLICE_IS_EMPTY(c->trailer.value)) {
            ops[n].data.send_status_from_server.trailing_metadata_count = 1;
            ops[n].data.send_status_from_server.trailing_metadata = &c->trailer;
        }
    }
    n++;
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;

    c->state = SL_CALL_FINISHING;
    grpc_call_error e = grpc_call_start_batch(c->call, ops, n, &c->tag, NULL);
    if (e != GRPC_CALL_OK) {
        sl_log(SL_LOG_ERROR, "grpc_call_start_batch: error %d", (int)e);
        call_free(c);
    }
}

static void on_call_event(struct sl_call *c, int success)
{
    switch (c->state) {
    case SL_CALL_REQUESTED:
        if (!success) { /* server shutting down: slot returned unused */
            call_free(c);
            return;
        }
        /* Re-arm first, so a slot is free while this call is handled. */
        if (sl_call_post(c->worker, c->kind) != 0)
            sl_log(SL_LOG_WARN, "could not re-post a request slot");
        start_reply(c);
        return;
    case SL_CALL_FINISHING:
        call_free(c);
        return;
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
        switch (tag->kind) {
        case SL_TAG_CALL:
            on_call_event(tag->owner, ev.success);
            break;
        case SL_TAG_SHUTDOWN:
            break;
        }
    }
    return NULL;
}
