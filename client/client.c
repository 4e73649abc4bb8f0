/* client.c -- libslc's gRPC C-core channel and its calls
 *
 * Ownership: an slc_client owns one channel, one pluck completion queue,
 * one decode buffer and a copy of the token option, plus one grpc_init()
 * reference. The channel's credentials (plaintext, or TLS from the
 * slc_options.tls_* files: creds.c) are released once the channel holds
 * them. A unary call (query, put-service, record) is one batch (send
 * metadata + message + close, receive metadata + message + status) plucked
 * to completion before the function returns. A watch is a first batch
 * (send metadata + message + close, receive metadata), a status batch
 * posted at once, and one receive batch at a time, each plucked by its own
 * tag; when the callback stops the watch, the call is cancelled and the
 * status batch plucked too. So no operation is ever outstanding between
 * calls and destroy needs no drain. Not thread-safe per client (see
 * client.h).
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
    int watch_timeout_ms; /* 0: none */
    size_t max_logs;
    char *token; /* owned copy of slc_options.token; NULL: none */
    bool tls;    /* the channel is TLS (slc_options.tls_ca given) */
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
    if (o.watch_timeout_ms < 0)
        return slc__err_set(err, SLC_EINVAL, -1,
                            "watch_timeout_ms must be >= 0");
    if (o.token && o.token[0] && !slc__token_valid(o.token))
        return slc__err_set(err, SLC_EINVAL, -1,
                            "token must be 1-%d printable ASCII characters",
                            SLC_TOKEN_MAX);
    if (!o.timeout_ms)
        o.timeout_ms = SLC_DEFAULT_TIMEOUT_MS;
    if (!o.max_response_bytes)
        o.max_response_bytes = SLC_DEFAULT_MAX_RESPONSE_BYTES;
    if (!o.max_logs)
        o.max_logs = SLC_DEFAULT_MAX_LOGS;

    slc_client *c = calloc(1, sizeof(*c));
    char *token = o.token && o.token[0] ? strdup(o.token) : NULL;
    if (!c || (o.token && o.token[0] && !token)) {
        free(c);
        free(token);
        return slc__err_set(err, SLC_ENOMEM, -1, "allocating the client");
    }
    c->timeout_ms = o.timeout_ms;
    c->watch_timeout_ms = o.watch_timeout_ms;
    c->max_logs = o.max_logs;
    c->token = token;

    grpc_init();
    grpc_channel_credentials *creds;
    int rc = slc__channel_creds(&o, &creds, err);
    if (rc != SLC_OK) {
        free(c->token);
        free(c);
        grpc_shutdown();
        return rc;
    }
    grpc_arg args[3];
    size_t n_args = 2;
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[0].value.integer = (int)o.max_response_bytes;
    args[1].type = GRPC_ARG_STRING;
    args[1].key = GRPC_ARG_PRIMARY_USER_AGENT_STRING;
    args[1].value.string = "servicelogs-slc/" SLC_VERSION;
    if (o.tls_name && o.tls_name[0]) {
        args[2].type = GRPC_ARG_STRING;
        args[2].key = GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
        args[2].value.string = (char *)o.tls_name;
        n_args = 3;
    }
    grpc_channel_args ch_args = {.num_args = n_args, .args = args};
    c->channel = grpc_channel_create(target, creds, &ch_args);
    grpc_channel_credentials_release(creds);
    c->tls = o.tls_ca && o.tls_ca[0];
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
    if (c->token) /* no token lingers in freed memory */
        explicit_bzero(c->token, strlen(c->token));
    free(c->token);
    free(c);
    grpc_shutdown();
}

size_t slc__client_max_logs(const slc_client *c)
{
    return c->max_logs;
}

/* The words put before gRPC's text when a TLS call ends UNAVAILABLE
 * without a response (gRPC says "Socket closed" or "Ssl handshake failed"
 * but not which file to look at). */
#define TLS_HINT                                                               \
    "TLS handshake failed or server unreachable (check the CA certificate, "   \
    "the server name and the client certificate)"

/* Fills err from a completed call's non-OK status. tls_hint: the call went
 * over TLS and received no response headers, so an UNAVAILABLE may be a
 * refused handshake: say so first (the message may be truncated). */
static int status_error(slc_error *err, grpc_status_code status,
                        const grpc_slice *details,
                        const grpc_metadata_array *trailers, bool tls_hint)
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
    if (tls_hint && status == GRPC_STATUS_UNAVAILABLE &&
        !memmem(text, (size_t)len, "Connection refused", 18))
        slc__err_set(err, code, (int)status, TLS_HINT ": %.*s", len, text);
    else
        slc__err_set(err, code, (int)status, "%.*s", len, text);
    if (err)
        memcpy(err->error_code, reason, sizeof(reason));
    return code;
}

/* The token a call sends: the request's, else the client's; NULL: none. */
static const char *call_token(const slc_client *c, const char *req_token)
{
    if (req_token && req_token[0])
        return req_token;
    return c->token;
}

/* What one call needs besides its batches. Owner: the caller's frame. */
static void wipe_free(void *p, size_t len)
{
    explicit_bzero(p, len);
    free(p);
}

/* A copy of the token that is wiped when gRPC releases it (a copied
 * slice would be freed as it is); empty out of memory (the call then
 * goes without it and fails UNAUTHENTICATED). */
static grpc_slice secret_slice(const char *token)
{
    size_t len = strlen(token);
    char *p = malloc(len ? len : 1);
    if (!p)
        return grpc_empty_slice();
    memcpy(p, token, len);
    return grpc_slice_new_with_len(p, len, wipe_free);
}

struct call {
    grpc_call *call;
    grpc_metadata md[1];
    size_t n_md;
    grpc_slice token;       /* gRPC-owned copy (retry buffering) */
    grpc_byte_buffer *send; /* the request */
    grpc_metadata_array init_md, trailers;
    grpc_status_code status;
    grpc_slice details;
};

/* Creates the call on c's queue with the request (consumed: its bytes
 * move into a gRPC-owned buffer) and the token. SLC_OK or SLC_EINTERNAL;
 * call_end() cleans up in both cases. */
static int call_begin(slc_client *c, struct call *k, const char *method,
                      grpc_slice req, const char *token, int timeout_ms,
                      slc_error *err)
{
    memset(k, 0, sizeof(*k));
    grpc_metadata_array_init(&k->init_md);
    grpc_metadata_array_init(&k->trailers);
    k->status = GRPC_STATUS_UNKNOWN;
    k->details = grpc_empty_slice();
    k->token = grpc_empty_slice();
    k->send = grpc_raw_byte_buffer_create(&req, 1);
    grpc_slice_unref(req);
    if (token) {
        k->token = secret_slice(token);
        k->md[0].key = grpc_slice_from_static_string(SLC__TOKEN_KEY);
        k->md[0].value = k->token;
        k->n_md = 1;
    }
    gpr_timespec deadline =
        timeout_ms > 0
            ? gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                           gpr_time_from_millis(timeout_ms, GPR_TIMESPAN))
            : gpr_inf_future(GPR_CLOCK_MONOTONIC);
    k->call = grpc_channel_create_call(
        c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq,
        grpc_slice_from_static_string(method), NULL, deadline, NULL);
    if (!k->call)
        return slc__err_set(err, SLC_EINTERNAL, -1, "cannot create the call");
    return SLC_OK;
}

static void call_end(struct call *k)
{
    if (k->call)
        grpc_call_unref(k->call);
    grpc_byte_buffer_destroy(k->send);
    grpc_metadata_array_destroy(&k->init_md);
    grpc_metadata_array_destroy(&k->trailers);
    grpc_slice_unref(k->details);
    grpc_slice_unref(k->token);
}

/* Starts ops as one batch with tag and plucks it. SLC_OK when the batch
 * completed (its ev.success in *success), else SLC_EINTERNAL. */
static int run_batch(slc_client *c, struct call *k, const grpc_op *ops,
                     size_t n, void *tag, bool *success, slc_error *err)
{
    *success = false;
    grpc_call_error ce = grpc_call_start_batch(k->call, ops, n, tag, NULL);
    if (ce != GRPC_CALL_OK)
        return slc__err_set(err, SLC_EINTERNAL, -1,
                            "grpc_call_start_batch failed (%d)", (int)ce);
    grpc_event ev = grpc_completion_queue_pluck(
        c->cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type != GRPC_OP_COMPLETE)
        return slc__err_set(err, SLC_EINTERNAL, -1,
                            "completion queue returned event type %d",
                            (int)ev.type);
    *success = ev.success != 0;
    return SLC_OK;
}

/* One unary call: method with the request (consumed), its reply in *recv
 * (the caller destroys it) when the status is OK. */
static int unary(slc_client *c, const char *method, grpc_slice req,
                 const char *token, grpc_byte_buffer **recv, slc_error *err)
{
    struct call k;
    *recv = NULL;
    int rc = call_begin(c, &k, method, req, token, c->timeout_ms, err);
    if (rc != SLC_OK)
        goto out;
    grpc_op ops[SL_UNARY_OPS];
    sl_unary_ops(ops, &(struct sl_unary_io){.md = k.md,
                                            .n_md = k.n_md,
                                            .send = k.send,
                                            .initial = &k.init_md,
                                            .recv = recv,
                                            .trailers = &k.trailers,
                                            .status = &k.status,
                                            .details = &k.details});
    bool ok;
    rc = run_batch(c, &k, ops, SL_UNARY_OPS, &k, &ok, err);
    if (rc != SLC_OK)
        goto out;
    /* The status is set whether or not the batch succeeded as a whole. */
    if (k.status != GRPC_STATUS_OK) {
        rc = status_error(err, k.status, &k.details, &k.trailers,
                          c->tls && !k.init_md.count);
        goto out;
    }
    if (!*recv)
        rc = slc__err_set(err, SLC_EDECODE, (int)k.status,
                          "the server sent no response message");
out:
    if (rc != SLC_OK && *recv) {
        grpc_byte_buffer_destroy(*recv);
        *recv = NULL;
    }
    call_end(&k);
    return rc;
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
    grpc_byte_buffer *recv;
    rc = unary(c, SLC__METHOD,
               grpc_slice_from_copied_buffer((const char *)req_buf, req_len),
               call_token(c, req->token), &recv, err);
    if (rc != SLC_OK)
        return rc;
    rc = slc__decode_response(recv, &c->buf, head, on_log, ctx, err);
    grpc_byte_buffer_destroy(recv);
    return rc;
}

int slc_put_service(slc_client *c, const char *project_id,
                    const char *service_id, const char *service_name,
                    modelarts_v1_InferType infer_type, bool *created,
                    slc_error *err)
{
    uint8_t req_buf[modelarts_v1_PutServiceRequest_size];
    size_t req_len;
    bool scratch;
    if (!created)
        created = &scratch;
    *created = false;
    if (!c)
        return slc__err_set(err, SLC_EINVAL, -1, "client is NULL");
    int rc = slc__encode_put_service(project_id, service_id, service_name,
                                     (int)infer_type, req_buf, sizeof(req_buf),
                                     &req_len, err);
    if (rc != SLC_OK)
        return rc;
    grpc_byte_buffer *recv;
    rc = unary(c, SLC__METHOD_PUT,
               grpc_slice_from_copied_buffer((const char *)req_buf, req_len),
               c->token, &recv, err);
    if (rc != SLC_OK)
        return rc;
    rc = slc__decode_created(recv, created, err);
    grpc_byte_buffer_destroy(recv);
    return rc;
}

int slc_record(slc_client *c, const char *project_id, const char *service_id,
               const slc_log *log, bool *created, slc_error *err)
{
    bool scratch;
    if (!created)
        created = &scratch;
    *created = false;
    if (!c)
        return slc__err_set(err, SLC_EINVAL, -1, "client is NULL");
    grpc_slice req;
    int rc =
        slc__encode_record(project_id, service_id, log, &c->buf, &req, err);
    if (rc != SLC_OK)
        return rc;
    grpc_byte_buffer *recv;
    rc = unary(c, SLC__METHOD_RECORD, req, c->token, &recv, err);
    if (rc != SLC_OK)
        return rc;
    rc = slc__decode_created(recv, created, err);
    grpc_byte_buffer_destroy(recv);
    return rc;
}

/* ---- watch ------------------------------------------------------------- */

/* Tags of a watch's batches: distinct addresses, plucked one by one. */
struct watch_tags {
    char start, recv, status;
};

/* The adapter from the decoder's slc_log_fn to the caller's slc_watch_fn. */
struct watch_ctx {
    slc_watch_fn fn;
    void *ctx;
    slc_watch_event ev; /* SNAPSHOT_LOG, then LOG */
};

static int watch_log(void *ctx, const slc_head *head, const slc_log *log)
{
    struct watch_ctx *w = ctx;
    return w->fn(w->ctx, w->ev, head, log);
}

/* Reads messages until the stream ends, the callback stops, or a message
 * does not decode. SLC_OK: the stream ended (look at the status). */
static int watch_loop(slc_client *c, struct call *k, struct watch_tags *t,
                      slc_head *head, struct watch_ctx *w, bool *snapshot,
                      slc_error *err)
{
    for (;;) {
        grpc_byte_buffer *recv = NULL;
        grpc_op op;
        memset(&op, 0, sizeof(op));
        op.op = GRPC_OP_RECV_MESSAGE;
        op.data.recv_message.recv_message = &recv;
        bool ok;
        int rc = run_batch(c, k, &op, 1, &t->recv, &ok, err);
        if (rc != SLC_OK)
            return rc;
        if (!recv) /* the stream ended: the status says how */
            return SLC_OK;
        bool first = !*snapshot;
        rc = slc__decode_watch(recv, &c->buf, first, head, watch_log, w, err);
        grpc_byte_buffer_destroy(recv);
        if (rc != SLC_OK)
            return rc;
        if (first) {
            *snapshot = true;
            w->ev = SLC_WATCH_LOG;
            if (w->fn(w->ctx, SLC_WATCH_SNAPSHOT_END, head, NULL) != 0)
                return slc__err_set(err, SLC_ECALLBACK, 0,
                                    "stopped by the watch callback");
        }
    }
}

int slc_watch(slc_client *c, const slc_request *req, slc_head *head,
              slc_watch_fn on_event, void *ctx, slc_error *err)
{
    uint8_t req_buf[modelarts_v1_WatchServiceLogsRequest_size];
    size_t req_len;
    slc_head scratch;
    if (!head)
        head = &scratch;
    memset(head, 0, sizeof(*head));
    if (!c)
        return slc__err_set(err, SLC_EINVAL, -1, "client is NULL");
    if (!on_event)
        return slc__err_set(err, SLC_EINVAL, -1, "on_event is NULL");
    /* WatchServiceLogsRequest has QueryServiceLogsRequest's fields. */
    _Static_assert(modelarts_v1_WatchServiceLogsRequest_size ==
                       modelarts_v1_QueryServiceLogsRequest_size,
                   "the watch request is the query request");
    int rc = slc__encode_request(req, req_buf, sizeof(req_buf), &req_len, err);
    if (rc != SLC_OK)
        return rc;

    struct watch_tags t;
    struct watch_ctx w = {
        .fn = on_event, .ctx = ctx, .ev = SLC_WATCH_SNAPSHOT_LOG};
    bool snapshot = false, status_posted = false, ok;
    struct call k;
    rc = call_begin(
        c, &k, SLC__METHOD_WATCH,
        grpc_slice_from_copied_buffer((const char *)req_buf, req_len),
        call_token(c, req->token), c->watch_timeout_ms, err);
    if (rc != SLC_OK)
        goto out;

    grpc_op ops[4];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = k.n_md;
    ops[0].data.send_initial_metadata.metadata = k.n_md ? k.md : NULL;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = k.send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &k.init_md;
    rc = run_batch(c, &k, ops, 4, &t.start, &ok, err);
    if (rc != SLC_OK)
        goto out;

    /* The status batch completes when the call does: posted now, plucked
     * last, so the read loop below only ever waits for messages. */
    grpc_op st;
    memset(&st, 0, sizeof(st));
    st.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    st.data.recv_status_on_client.trailing_metadata = &k.trailers;
    st.data.recv_status_on_client.status = &k.status;
    st.data.recv_status_on_client.status_details = &k.details;
    grpc_call_error ce = grpc_call_start_batch(k.call, &st, 1, &t.status, NULL);
    if (ce != GRPC_CALL_OK) {
        rc = slc__err_set(err, SLC_EINTERNAL, -1,
                          "grpc_call_start_batch failed (%d)", (int)ce);
        goto out;
    }
    status_posted = true;

    rc = watch_loop(c, &k, &t, head, &w, &snapshot, err);

out:
    if (status_posted) {
        if (rc != SLC_OK) /* stopped early: end the call, then its status */
            grpc_call_cancel(k.call, NULL);
        grpc_event ev = grpc_completion_queue_pluck(
            c->cq, &t.status, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (rc == SLC_OK && ev.type != GRPC_OP_COMPLETE)
            rc = slc__err_set(err, SLC_EINTERNAL, -1,
                              "completion queue returned event type %d",
                              (int)ev.type);
        else if (rc == SLC_OK && k.status == GRPC_STATUS_DEADLINE_EXCEEDED &&
                 snapshot)
            rc = slc__err_set(err, SLC_OK, (int)k.status, NULL);
        else if (rc == SLC_OK && k.status != GRPC_STATUS_OK)
            rc = status_error(err, k.status, &k.details, &k.trailers,
                              c->tls && !k.init_md.count);
        else if (rc == SLC_OK)
            rc = slc__err_set(err, SLC_OK, 0, NULL);
    }
    call_end(&k);
    if (rc != SLC_OK && !snapshot)
        memset(head, 0, sizeof(*head));
    return rc;
}
