/* rpc_reflection.c -- ServerReflectionInfo (v1 and v1alpha), the stream
 *
 * A bidi stream: accept posts RECV_CLOSE_ON_SERVER and reads the first
 * request; each request is answered (reflection.c) with one batch that
 * also reads the next; the client's half-close ends the stream with OK.
 * A stream mostly waits for its client, so it joins the health list
 * (rpc_health.h) to hear of the drain, and is then cancelled with
 * UNAVAILABLE instead of holding shutdown up for the whole grace period.
 * Both protocol versions share the message layout, hence one handler body
 * under two paths.
 */
#include <string.h>

#include "call.h"
#include "methods.h"
#include "reflection.h"
#include "rpc_health.h"

/* Reads the next request (with the previous reply, if any). */
static void reflection_read(struct sl_call *c, bool first)
{
    grpc_op ops[3];
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
    sl_call_post_batch(c, ops, n);
}

static void reflection_accept(struct sl_call *c)
{
    sl_call_post_close(c);
    if (!sl_health_list_unless_draining(c->worker->health, c)) {
        struct sl_err err;
        sl_err_set(&err, SL_EUNAVAIL, "server is shutting down");
        sl_call_finish_stream(c, SL_EUNAVAIL, &err);
        return;
    }
    reflection_read(c, true);
}

static void reflection_step(struct sl_call *c, int success)
{
    if (c->resp) { /* sent with the read that just completed */
        grpc_byte_buffer_destroy(c->resp);
        c->resp = NULL;
    }
    if (!success)
        return;     /* cancelled: nothing more to do */
    if (!c->recv) { /* the client half-closed: done */
        sl_call_finish_stream(c, SL_OK, NULL);
        return;
    }
    struct sl_err err;
    sl_err_clear(&err);
    grpc_slice in = sl_call_payload(c->recv);
    grpc_byte_buffer_destroy(c->recv);
    c->recv = NULL;
    grpc_slice out;
    int rc =
        sl_reflection_answer(c->worker->reflection, GRPC_SLICE_START_PTR(in),
                             GRPC_SLICE_LENGTH(in), &out, &err);
    grpc_slice_unref(in);
    if (rc != SL_OK) {
        sl_call_finish_stream(c, rc, &err);
        return;
    }
    c->resp = grpc_raw_byte_buffer_create(&out, 1);
    grpc_slice_unref(out);
    reflection_read(c, false);
}

/* The drain: end the stream now (health lock held). */
static void reflection_kick(struct sl_call *c)
{
    struct sl_health *h = c->worker->health;
    if (sl_health_draining_locked(h)) {
        sl_health_watch_remove(h, c);
        grpc_call_cancel_with_status(c->call, GRPC_STATUS_UNAVAILABLE,
                                     "server is shutting down", NULL);
    }
}

static void reflection_closed(struct sl_call *c)
{
    sl_health_unlist(c->worker->health, c);
}

/* Both versions: the same handler under each path. */
#define REFLECTION_HANDLER(version)                                            \
    {                                                                          \
        .path = "/grpc.reflection." version                                    \
                ".ServerReflection/ServerReflectionInfo",                      \
        .kind = SL_RPC_BIDI, .slots = 2, .accept = reflection_accept,          \
        .step = reflection_step, .closed = reflection_closed,                  \
        .kick = reflection_kick,                                               \
    }

const struct sl_handler sl_rpc_reflection_v1_handler = REFLECTION_HANDLER("v1");
const struct sl_handler sl_rpc_reflection_v1alpha_handler =
    REFLECTION_HANDLER("v1alpha");
