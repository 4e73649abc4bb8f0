/* client.c -- libslc's gRPC C-core channel and the QueryServiceLogs call
 *
 * Ownership: an slc_client owns one channel, one pluck completion queue and
 * one decode buffer, plus one grpc_init() reference. A query is
 * one batch (send metadata + message + close, receive metadata + message +
 * status) plucked to completion before slc_query_each() returns, so no
 * operation is ever outstanding between calls and destroy needs no drain.
 * Not thread-safe per client (see client.h).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "slc_internal.h"
#include "unary.h"

struct slc_client {
    grpc_channel *channel;
    grpc_completion_queue *cq; /* pluck: one batch at a time */
    int timeout_ms;
    size_t max_logs;
    struct slc__decode_buf buf; /* one log at a time (~170 KiB) */
};

int slc_client_create(const char *target, const slc_options *opts,
                      slc_client **out, slc_error *err)
{
    slc_options o = {0};
    if (out)
        *out = NULL;
    if (opts)
        o = *opts;
    if (!out)
        return slc__err_set(err, SLC_EINVAL, -1, "out is NULL");
    if (!target || !target[0])
        return slc__err_set(err, SLC_EINVAL, -1, "target is empty");
    if (o.timeout_ms < 0)
        return slc__err_set(err, SLC_EINVAL, -1, "timeout_ms must be >= 0");
    if (o.max_response_bytes > INT_MAX)
        return slc__err_set(err, SLC_EINVAL, -1,
                            "max_response_bytes must be <= %d", INT_MAX);
    if (!o.timeout_ms)
        o.timeout_ms = SLC_DEFAULT_TIMEOUT_MS;
    if (!o.max_response_bytes)
        o.max_response_bytes = SLC_DEFAULT_MAX_RESPONSE_BYTES;
    if (!o.max_logs)
        o.max_logs = SLC_DEFAULT_MAX_LOGS;

    slc_client *c = calloc(1, sizeof(*c));
    if (!c)
        return slc__err_set(err, SLC_ENOMEM, -1, "allocating the client");
    c->timeout_ms = o.timeout_ms;
    c->max_logs = o.max_logs;

    grpc_init();
    grpc_arg args[2];
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[0].value.integer = (int)o.max_response_bytes;
    args[1].type = GRPC_ARG_STRING;
    args[1].key = GRPC_ARG_PRIMARY_USER_AGENT_STRING;
    args[1].value.string = "servicelogs-slc/" SLC_VERSION;
    grpc_channel_args ch_args = {.num_args = 2, .args = args};
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    c->channel = grpc_channel_create(target, creds, &ch_args);
    grpc_channel_credentials_release(creds);
    c->cq = grpc_completion_queue_create_for_pluck(NULL);
    *out = c;
    return slc__err_set(err, SLC_OK, -1, NULL);
}

void slc_client_destroy(slc_client *c)
{
    if (!c)
        return;
    grpc_channel_destroy(c->channel);
    /* Every batch was plucked: the queue is empty, shutdown is immediate. */
    grpc_completion_queue_shutdown(c->cq);
    grpc_completion_queue_destroy(c->cq);
    free(c);
    grpc_shutdown();
}

size_t slc__client_max_logs(const slc_client *c)
{
    return c->max_logs;
}

/* Fills err from a completed call's non-OK status. */
static int status_error(slc_error *err, grpc_status_code status,
                        const grpc_slice *details,
                        const grpc_metadata_array *trailers)
{
    char reason[SLC_ERROR_CODE_LEN] = "";
    for (size_t i = 0; i < trailers->count; i++) {
        const grpc_metadata *md = &trailers->metadata[i];
        if (grpc_slice_str_cmp(md->key, SLC__STATUS_DETAILS_KEY) == 0) {
            slc__status_reason(GRPC_SLICE_START_PTR(md->value),
                               GRPC_SLICE_LENGTH(md->value), reason,
                               sizeof(reason));
            break;
        }
    }
    int code = slc__status_to_err(status, reason);
    int len = (int)GRPC_SLICE_LENGTH(*details);
    const char *text = (const char *)GRPC_SLICE_START_PTR(*details);
    if (len == 0) {
        text = slc_strerror(code);
        len = (int)strlen(text);
    }
    slc__err_set(err, code, (int)status, "%.*s", len, text);
    if (err)
        memcpy(err->error_code, reason, sizeof(reason));
    return code;
}

int slc_query_each(slc_client *c, const slc_request *req, slc_head *head,
                   slc_log_fn on_log, void *ctx, slc_error *err)
{
    uint8_t req_buf[modelarts_v1_QueryServiceLogsRequest_size];
    size_t req_len;
    slc_head scratch;
    if (!head)
        head = &scratch;
    memset(head, 0, sizeof(*head));
    if (!c)
        return slc__err_set(err, SLC_EINVAL, -1, "client is NULL");
    int rc = slc__encode_request(req, req_buf, sizeof(req_buf), &req_len, err);
    if (rc != SLC_OK)
        return rc;

    grpc_metadata md[1];
    size_t n_md = 0;
    grpc_metadata_array init_md, trailers;
    grpc_metadata_array_init(&init_md);
    grpc_metadata_array_init(&trailers);
    grpc_byte_buffer *recv_bb = NULL;
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    grpc_slice token = grpc_empty_slice();
    grpc_call *call = NULL;

    /* The request and the token go into gRPC-owned copies: the call may
     * keep them (retry buffering) after the batch, past this stack frame. */
    grpc_slice req_slice =
        grpc_slice_from_copied_buffer((const char *)req_buf, req_len);
    grpc_byte_buffer *send_bb = grpc_raw_byte_buffer_create(&req_slice, 1);
    grpc_slice_unref(req_slice);
    if (req->token && req->token[0]) {
        token = grpc_slice_from_copied_string(req->token);
        memset(&md[0], 0, sizeof(md[0]));
        md[0].key = grpc_slice_from_static_string(SLC__TOKEN_KEY);
        md[0].value = token;
        n_md = 1;
    }

    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                     gpr_time_from_millis(c->timeout_ms, GPR_TIMESPAN));
    call = grpc_channel_create_call(
        c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq,
        grpc_slice_from_static_string(SLC__METHOD), NULL, deadline, NULL);
    if (!call) {
        rc = slc__err_set(err, SLC_EINTERNAL, -1, "cannot create the call");
        goto out;
    }

    grpc_op ops[SL_UNARY_OPS];
    sl_unary_ops(ops, &(struct sl_unary_io){.md = md,
                                            .n_md = n_md,
                                            .send = send_bb,
                                            .initial = &init_md,
                                            .recv = &recv_bb,
                                            .trailers = &trailers,
                                            .status = &status,
                                            .details = &details});
    void *tag = c; /* the only batch in flight on this queue */
    grpc_call_error ce =
        grpc_call_start_batch(call, ops, SL_UNARY_OPS, tag, NULL);
    if (ce != GRPC_CALL_OK) {
        rc = slc__err_set(err, SLC_EINTERNAL, -1,
                          "grpc_call_start_batch failed (%d)", (int)ce);
        goto out;
    }
    grpc_event ev = grpc_completion_queue_pluck(
        c->cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type != GRPC_OP_COMPLETE) {
        rc = slc__err_set(err, SLC_EINTERNAL, -1,
                          "completion queue returned event type %d",
                          (int)ev.type);
        goto out;
    }
    /* The status is set whether or not the batch succeeded as a whole. */
    if (status != GRPC_STATUS_OK) {
        rc = status_error(err, status, &details, &trailers);
        goto out;
    }
    if (!recv_bb) {
        rc = slc__err_set(err, SLC_EDECODE, (int)status,
                          "the server sent no response message");
        goto out;
    }
    rc = slc__decode_response(recv_bb, &c->buf, head, on_log, ctx, err);

out:
    if (call)
        grpc_call_unref(call);
    grpc_byte_buffer_destroy(send_bb);
    if (recv_bb)
        grpc_byte_buffer_destroy(recv_bb);
    grpc_metadata_array_destroy(&init_md);
    grpc_metadata_array_destroy(&trailers);
    grpc_slice_unref(details);
    grpc_slice_unref(token);
    if (rc != SLC_OK)
        memset(head, 0, sizeof(*head));
    return rc;
}
