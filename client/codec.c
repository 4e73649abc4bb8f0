/* codec.c -- nanopb encoding of the request, decoding of the response
 *
 * DESIGN. The response's `logs` field is FT_CALLBACK (service_logs.options),
 * so decoding never needs memory proportional to the number of logs: each
 * log is decoded with pb_decode into one struct slc__decode_buf (owned by
 * the client), handed to the callback as an slc_log view, then overwritten
 * by the next. ServiceLog.config is FT_CALLBACK too (8 static ServiceConfigs
 * would make ServiceLog exceed nanopb's 64 KiB limit without PB_FIELD_32BIT,
 * which Debian's libprotobuf-nanopb is not built with): each config is
 * decoded into buf->config[], at most SLC_MAX_CONFIGS.
 *
 * infer_type (field 4) decides how a log is read, but the server writes it
 * after the logs (fields in number order). So the message is read twice:
 * pass 1 decodes the head and only counts the logs (skipping each in place,
 * a pointer move per slice); pass 2 decodes the logs. Both passes read the
 * gRPC byte buffer's slices in place through a pb_istream_t callback:
 * the message is never copied into one flat buffer.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>
#include <pb_decode.h>
#include <pb_encode.h>

#include "google/protobuf/any.pb.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "slc_internal.h"

_Static_assert(
    SLC_ID_LEN ==
        sizeof(((modelarts_v1_QueryServiceLogsResponse *)0)->service_id),
    "slc_head.service_id must match the nanopb bound");
_Static_assert(
    SLC_NAME_LEN ==
        sizeof(((modelarts_v1_QueryServiceLogsResponse *)0)->service_name),
    "slc_head.service_name must match the nanopb bound");
_Static_assert(
    SLC_ID_LEN ==
        sizeof(((modelarts_v1_QueryServiceLogsRequest *)0)->project_id),
    "request ids must match the nanopb bound");
#define COUNT_OF(type, member)                                                 \
    (sizeof(((type *)0)->member) / sizeof(((type *)0)->member[0]))
_Static_assert(SLC_MAX_ENVS == COUNT_OF(modelarts_v1_ServiceConfig, envs),
               "SLC_MAX_ENVS must match the nanopb bound");
_Static_assert(SLC_MAX_NODES ==
                   COUNT_OF(modelarts_v1_ServiceLog, result_detail),
               "SLC_MAX_NODES must match the nanopb bound");
_Static_assert(SLC_MAX_EXTEND_CONFIG ==
                   COUNT_OF(modelarts_v1_ServiceLog, extend_config),
               "SLC_MAX_EXTEND_CONFIG must match the nanopb bound");
_Static_assert(SLC_ERROR_CODE_LEN ==
                   sizeof(((google_rpc_ErrorInfo *)0)->reason),
               "slc_error.error_code must match the ErrorInfo bound");

/* ---- request ---------------------------------------------------------- */

/* True when s is 1-64 characters of [A-Za-z0-9_-] (DESIGN section 4). */
bool slc__id_valid(const char *s)
{
    if (!s)
        return false;
    size_t n = 0;
    for (; s[n]; n++) {
        char ch = s[n];
        if (n >= SLC_ID_LEN - 1)
            return false;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
            return false;
    }
    return n > 0;
}

/* True when s is 1-SLC_TOKEN_MAX printable ASCII characters: what gRPC
 * accepts in a non-binary metadata value. */
bool slc__token_valid(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        unsigned char ch = (unsigned char)s[n];
        if (n >= SLC_TOKEN_MAX || ch < 0x20 || ch > 0x7e)
            return false;
    }
    return n > 0;
}

int slc__encode_request(const slc_request *req, uint8_t *buf, size_t cap,
                        size_t *len, slc_error *err)
{
    *len = 0;
    if (!req)
        return slc__err_set(err, SLC_EINVAL, -1, "request is NULL");
    if (!slc__id_valid(req->project_id))
        return slc__err_set(err, SLC_EINVAL, -1,
                            "project_id must be 1-64 characters of "
                            "[A-Za-z0-9_-]");
    if (!slc__id_valid(req->service_id))
        return slc__err_set(err, SLC_EINVAL, -1,
                            "service_id must be 1-64 characters of "
                            "[A-Za-z0-9_-]");
    if (req->update_time < 0)
        return slc__err_set(err, SLC_EINVAL, -1,
                            "update_time must be >= 0 (0: all logs)");
    if (req->token && req->token[0] && !slc__token_valid(req->token))
        return slc__err_set(err, SLC_EINVAL, -1,
                            "token must be 1-%d printable ASCII characters",
                            SLC_TOKEN_MAX);

    modelarts_v1_QueryServiceLogsRequest msg =
        modelarts_v1_QueryServiceLogsRequest_init_zero;
    /* Lengths were checked above: both fit with their NUL. */
    strcpy(msg.project_id, req->project_id);
    strcpy(msg.service_id, req->service_id);
    msg.update_time = req->update_time;

    pb_ostream_t os = pb_ostream_from_buffer(buf, cap);
    if (!pb_encode(&os, modelarts_v1_QueryServiceLogsRequest_fields, &msg))
        return slc__err_set(err, SLC_EINTERNAL, -1, "encoding request: %s",
                            PB_GET_ERROR(&os));
    *len = os.bytes_written;
    return slc__err_set(err, SLC_OK, -1, NULL);
}

/* ---- a pb_istream_t over a grpc_byte_buffer's slices ------------------ */

struct bb_in {
    grpc_byte_buffer_reader reader; /* iterates the (decompressed) slices */
    const uint8_t *p;               /* unread part of the current slice */
    const uint8_t *end;
};

/* Makes the next slice current; false at the end of the buffer. */
static bool bb_next(struct bb_in *in)
{
    grpc_slice *slice;
    /* peek: the slice stays owned by the buffer, which outlives the pass */
    if (!grpc_byte_buffer_reader_peek(&in->reader, &slice))
        return false;
    in->p = GRPC_SLICE_START_PTR(*slice);
    in->end = in->p + GRPC_SLICE_LENGTH(*slice);
    return true;
}

static bool bb_read(pb_istream_t *s, pb_byte_t *buf, size_t count)
{
    struct bb_in *in = s->state;
    while (count) {
        if (in->p == in->end) {
            if (!bb_next(in))
                return false;
            continue;
        }
        size_t n = (size_t)(in->end - in->p);
        if (n > count)
            n = count;
        memcpy(buf, in->p, n);
        in->p += n;
        buf += n;
        count -= n;
    }
    return true;
}

/* Consumes the rest of stream s (a substream of a bb_read stream) without
 * copying: nanopb's own skip reads through a 16-byte buffer. */
static bool bb_skip_rest(pb_istream_t *s)
{
    struct bb_in *in = s->state;
    size_t count = s->bytes_left;
    while (count) {
        if (in->p == in->end) {
            if (!bb_next(in))
                PB_RETURN_ERROR(s, "io error");
            continue;
        }
        size_t n = (size_t)(in->end - in->p);
        if (n > count)
            n = count;
        in->p += n;
        count -= n;
    }
    s->bytes_left = 0;
    return true;
}

static bool bb_open(struct bb_in *in, grpc_byte_buffer *bb, pb_istream_t *s)
{
    if (!grpc_byte_buffer_reader_init(&in->reader, bb))
        return false;
    in->p = in->end = NULL;
    *s = (pb_istream_t){
        .callback = bb_read,
        .state = in,
        .bytes_left = grpc_byte_buffer_length(in->reader.buffer_out),
    };
    return true;
}

/* ---- response --------------------------------------------------------- */

/* Points b->view at the decoded log: no copy, no heap. */
static void log_view(struct slc__decode_buf *b)
{
    const modelarts_v1_ServiceLog *in = &b->log;
    struct slc__log_view *v = &b->view;
    slc_log *lg = &v->log;
    lg->update_time = in->update_time;
    lg->result = in->result;
    lg->n_config = b->n_config;
    lg->config = v->config;
    for (size_t i = 0; i < b->n_config; i++) {
        const modelarts_v1_ServiceConfig *ic = &b->config[i];
        slc_config *oc = &v->config[i];
        oc->model_id = ic->model_id;
        oc->model_name = ic->model_name;
        oc->model_version = ic->model_version;
        oc->weight = ic->weight;
        oc->specification = ic->specification;
        oc->instance_count = ic->instance_count;
        oc->n_envs = ic->envs_count;
        oc->envs = v->envs[i];
        for (size_t j = 0; j < ic->envs_count; j++) {
            v->envs[i][j].key = ic->envs[j].key;
            v->envs[i][j].value = ic->envs[j].value;
        }
        oc->custom_spec = NULL;
        if (ic->has_custom_spec) {
            v->specs[i] = (slc_custom_spec){
                .gpu_p4 = ic->custom_spec.gpu_p4,
                .memory = ic->custom_spec.memory,
                .cpu = ic->custom_spec.cpu,
                .ascend_a310 = ic->custom_spec.ascend_a310,
            };
            oc->custom_spec = &v->specs[i];
        }
        oc->cluster_id = ic->cluster_id;
    }
    lg->cluster_id = in->cluster_id;
    lg->n_extend_config = in->extend_config_count;
    lg->extend_config = v->extend;
    for (size_t i = 0; i < in->extend_config_count; i++)
        v->extend[i] = in->extend_config[i];
    lg->success_num = in->success_num;
    lg->failed_num = in->failed_num;
    lg->n_result_detail = in->result_detail_count;
    lg->result_detail = v->nodes;
    for (size_t i = 0; i < in->result_detail_count; i++) {
        const modelarts_v1_NodeResult *in_node = &in->result_detail[i];
        slc_node *on = &v->nodes[i];
        on->node_id = in_node->node_id;
        on->node_name = in_node->node_name;
        on->operation = in_node->operation;
        on->result = in_node->result;
    }
}

struct decode_ctx {
    struct slc__decode_buf *buf; /* where a log is decoded */
    slc_head *head;              /* complete before pass 2 */
    slc_log_fn on_log;
    void *ctx;
    size_t n_logs;         /* pass 1 count; pass 2 index */
    const char *inner_err; /* nanopb error from inside a callback */
    bool stopped;          /* on_log asked to stop */
};

/* True when s is a length-delimited field of our message. nanopb hands a
 * field sent with another wire type to the callback as a small memory
 * stream instead: a malformed message, and no bb_in behind s->state. */
static bool is_submessage(pb_istream_t *s, struct decode_ctx *d)
{
    if (s->callback == bb_read)
        return true;
    d->inner_err = "wrong wire type for a message field";
    return false;
}

/* Pass 1: count a log and skip it. */
static bool count_log(pb_istream_t *s, const pb_field_t *f, void **arg)
{
    (void)f;
    struct decode_ctx *d = *arg;
    if (!is_submessage(s, d))
        return false;
    d->n_logs++;
    if (!bb_skip_rest(s)) {
        d->inner_err = PB_GET_ERROR(s);
        return false;
    }
    return true;
}

/* ServiceLog.config: one ServiceConfig into the next slot of buf->config. */
static bool decode_config(pb_istream_t *s, const pb_field_t *f, void **arg)
{
    (void)f;
    struct decode_ctx *d = *arg;
    struct slc__decode_buf *b = d->buf;
    if (!is_submessage(s, d))
        return false;
    if (b->n_config >= SLC_MAX_CONFIGS) {
        d->inner_err = "array overflow";
        return false;
    }
    if (!pb_decode(s, modelarts_v1_ServiceConfig_fields,
                   &b->config[b->n_config])) {
        d->inner_err = PB_GET_ERROR(s);
        return false;
    }
    b->n_config++;
    return true;
}

/* Pass 2: decode a log into the buffer and hand its view over. */
static bool decode_log(pb_istream_t *s, const pb_field_t *f, void **arg)
{
    (void)f;
    struct decode_ctx *d = *arg;
    struct slc__decode_buf *b = d->buf;
    if (!is_submessage(s, d))
        return false;
    b->n_config = 0;
    b->log.config.funcs.decode = decode_config;
    b->log.config.arg = d;
    if (!pb_decode(s, modelarts_v1_ServiceLog_fields, &b->log)) {
        if (!d->inner_err)
            d->inner_err = PB_GET_ERROR(s);
        return false;
    }
    d->n_logs++;
    log_view(b);
    if (d->on_log(d->ctx, d->head, &b->view.log) != 0) {
        d->stopped = true;
        return false;
    }
    return true;
}

/* Runs one pass over the len bytes at in's position with `cb` as the logs
 * callback; in is left after them when it succeeds. */
static bool decode_pass(struct bb_in *in, size_t len, struct decode_ctx *d,
                        bool (*cb)(pb_istream_t *, const pb_field_t *, void **),
                        modelarts_v1_QueryServiceLogsResponse *msg,
                        const char **errmsg)
{
    pb_istream_t s = {.callback = bb_read, .state = in, .bytes_left = len};
    *errmsg = NULL;
    *msg = (modelarts_v1_QueryServiceLogsResponse)
        modelarts_v1_QueryServiceLogsResponse_init_zero;
    msg->logs.funcs.decode = cb;
    msg->logs.arg = d;
    bool ok = pb_decode(&s, modelarts_v1_QueryServiceLogsResponse_fields, msg);
    if (!ok)
        *errmsg = d->inner_err ? d->inner_err : PB_GET_ERROR(&s);
    return ok;
}

/* Decodes the QueryServiceLogsResponse in the len bytes at in's position:
 * pass 1 fills d->head, pass 2 (from the same position: a copy of the
 * reader is a bookmark) hands the logs to d->on_log. in ends after the
 * message. */
static bool decode_query(struct bb_in *in, size_t len, struct decode_ctx *d,
                         const char **emsg)
{
    const struct bb_in start = *in;
    modelarts_v1_QueryServiceLogsResponse msg;
    slc_head *head = d->head;

    if (!decode_pass(in, len, d, count_log, &msg, emsg))
        return false;
    memcpy(head->service_id, msg.service_id, sizeof(head->service_id));
    memcpy(head->service_name, msg.service_name, sizeof(head->service_name));
    head->infer_type = msg.infer_type;
    head->n_logs = d->n_logs;

    if (d->on_log && head->n_logs > 0) {
        *in = start;
        d->n_logs = 0;
        d->inner_err = NULL;
        if (!decode_pass(in, len, d, decode_log, &msg, emsg))
            return false;
    }
    return true;
}

/* True for nanopb's "a bound of the .options was exceeded" errors. */
static bool is_overflow(const char *msg)
{
    return msg && (strcmp(msg, "string overflow") == 0 ||
                   strcmp(msg, "array overflow") == 0 ||
                   strcmp(msg, "bytes overflow") == 0);
}

static int decode_error(slc_error *err, const struct decode_ctx *d,
                        const char *msg)
{
    if (d->stopped)
        return slc__err_set(err, SLC_ECALLBACK, 0,
                            "stopped by the log callback at log %zu",
                            d->n_logs);
    if (is_overflow(msg))
        return slc__err_set(err, SLC_ETOOLARGE, 0,
                            "response exceeds the client's bounds (%s)", msg);
    return slc__err_set(err, SLC_EDECODE, 0, "malformed response: %s",
                        msg ? msg : "unknown error");
}

int slc__decode_response(grpc_byte_buffer *bb, struct slc__decode_buf *buf,
                         slc_head *head, slc_log_fn on_log, void *ctx,
                         slc_error *err)
{
    memset(head, 0, sizeof(*head));
    struct decode_ctx d = {
        .buf = buf, .head = head, .on_log = on_log, .ctx = ctx};
    const char *emsg = "cannot read the message";
    struct bb_in in;
    pb_istream_t s;
    bool ok = bb_open(&in, bb, &s);
    if (ok) {
        ok = decode_query(&in, s.bytes_left, &d, &emsg);
        grpc_byte_buffer_reader_destroy(&in.reader);
    }
    if (ok)
        return slc__err_set(err, SLC_OK, 0, NULL);
    memset(head, 0, sizeof(*head));
    return decode_error(err, &d, emsg);
}

/* ---- watch messages --------------------------------------------------- */

#define WATCH_SNAPSHOT 1 /* WatchServiceLogsResponse.snapshot */
#define WATCH_LOG 2      /* WatchServiceLogsResponse.log */
_Static_assert(modelarts_v1_WatchServiceLogsResponse_snapshot_tag ==
                       WATCH_SNAPSHOT &&
                   modelarts_v1_WatchServiceLogsResponse_log_tag == WATCH_LOG,
               "WatchServiceLogsResponse field numbers");

/* Walks the message's fields by hand: the snapshot is decoded in place
 * (two passes, as a query answer) and the log straight into the decode
 * buffer, so no nanopb struct of the whole message is ever needed. */
static bool decode_watch_fields(struct bb_in *in, pb_istream_t *s, bool first,
                                struct decode_ctx *d, const char **emsg)
{
    int want = first ? WATCH_SNAPSHOT : WATCH_LOG;
    bool seen = false;
    while (s->bytes_left) {
        pb_wire_type_t wt;
        uint32_t tag, len;
        bool eof;
        if (!pb_decode_tag(s, &wt, &tag, &eof)) {
            if (eof)
                break;
            *emsg = PB_GET_ERROR(s);
            return false;
        }
        if (tag != WATCH_SNAPSHOT && tag != WATCH_LOG) {
            if (!pb_skip_field(s, wt)) {
                *emsg = PB_GET_ERROR(s);
                return false;
            }
            continue;
        }
        if ((int)tag != want || seen) {
            *emsg = first ? "the first watch message is not a snapshot"
                          : "a watch message after the snapshot is not a log";
            return false;
        }
        if (wt != PB_WT_STRING) {
            *emsg = "wrong wire type for a message field";
            return false;
        }
        if (!pb_decode_varint32(s, &len) || len > s->bytes_left) {
            *emsg = "truncated message";
            return false;
        }
        s->bytes_left -= len;
        seen = true;
        if (tag == WATCH_SNAPSHOT) {
            if (!decode_query(in, len, d, emsg))
                return false;
            continue;
        }
        pb_istream_t sub = {
            .callback = bb_read, .state = in, .bytes_left = len};
        void *arg = d;
        if (!decode_log(&sub, NULL, &arg)) {
            *emsg = d->inner_err ? d->inner_err : PB_GET_ERROR(&sub);
            return false;
        }
    }
    if (!seen) {
        *emsg = first ? "the first watch message holds no snapshot"
                      : "a watch message holds no log";
        return false;
    }
    return true;
}

/* The log callback of a later message (its head is the snapshot's, and
 * decode_log always calls on_log): a no-op when the caller passed none. */
static int ignore_log(void *ctx, const slc_head *head, const slc_log *log)
{
    (void)ctx;
    (void)head;
    (void)log;
    return 0;
}

int slc__decode_watch(grpc_byte_buffer *bb, struct slc__decode_buf *buf,
                      bool first, slc_head *head, slc_log_fn on_log, void *ctx,
                      slc_error *err)
{
    if (first)
        memset(head, 0, sizeof(*head));
    struct decode_ctx d = {
        .buf = buf, .head = head, .on_log = on_log, .ctx = ctx};
    if (!first && !on_log)
        d.on_log = ignore_log;
    const char *emsg = "cannot read the message";
    struct bb_in in;
    pb_istream_t s;
    bool ok = bb_open(&in, bb, &s);
    if (ok) {
        ok = decode_watch_fields(&in, &s, first, &d, &emsg);
        grpc_byte_buffer_reader_destroy(&in.reader);
    }
    if (ok)
        return slc__err_set(err, SLC_OK, 0, NULL);
    if (first)
        memset(head, 0, sizeof(*head));
    return decode_error(err, &d, emsg);
}

/* ---- writer responses ------------------------------------------------- */

_Static_assert(modelarts_v1_PutServiceResponse_created_tag == 1 &&
                   modelarts_v1_RecordServiceUpdateResponse_created_tag == 1,
               "created is field 1 of both writer responses");

int slc__decode_created(grpc_byte_buffer *bb, bool *created, slc_error *err)
{
    *created = false;
    struct bb_in in;
    pb_istream_t s;
    if (!bb_open(&in, bb, &s))
        return slc__err_set(err, SLC_EDECODE, 0, "cannot read the message");
    modelarts_v1_PutServiceResponse msg =
        modelarts_v1_PutServiceResponse_init_zero;
    bool ok = pb_decode(&s, modelarts_v1_PutServiceResponse_fields, &msg);
    const char *emsg = ok ? NULL : PB_GET_ERROR(&s);
    grpc_byte_buffer_reader_destroy(&in.reader);
    if (!ok)
        return slc__err_set(err, SLC_EDECODE, 0, "malformed response: %s",
                            emsg ? emsg : "unknown error");
    *created = msg.created;
    return slc__err_set(err, SLC_OK, 0, NULL);
}

/* ---- google.rpc.Status details ---------------------------------------- */

struct reason_ctx {
    char *out;
    size_t out_len;
    bool found;
};

/* One google.protobuf.Any of Status.details: an ErrorInfo of our domain
 * fills the reason; anything else (or anything unreadable) is skipped. */
static bool status_detail(pb_istream_t *s, const pb_field_t *f, void **arg)
{
    (void)f;
    struct reason_ctx *rc = *arg;
    google_protobuf_Any any = google_protobuf_Any_init_zero;
    if (rc->found || s->bytes_left > google_protobuf_Any_size ||
        !pb_decode(s, google_protobuf_Any_fields, &any))
        return pb_read(s, NULL, s->bytes_left);
    if (strcmp(any.type_url, SLC__ERRORINFO_URL) != 0)
        return true;
    google_rpc_ErrorInfo info = google_rpc_ErrorInfo_init_zero;
    pb_istream_t is = pb_istream_from_buffer(any.value.bytes, any.value.size);
    if (!pb_decode(&is, google_rpc_ErrorInfo_fields, &info) ||
        strcmp(info.domain, SLC__ERROR_DOMAIN) != 0)
        return true;
    snprintf(rc->out, rc->out_len, "%s", info.reason);
    rc->found = true;
    return true;
}

void slc__status_reason(const void *data, size_t len, char *out, size_t out_len)
{
    if (!out_len)
        return;
    out[0] = '\0';
    if (!data || !len)
        return;
    char reason[SLC_ERROR_CODE_LEN] = "";
    struct reason_ctx rc = {.out = reason, .out_len = sizeof(reason)};
    google_rpc_Status st = google_rpc_Status_init_zero;
    st.details.funcs.decode = status_detail;
    st.details.arg = &rc;
    pb_istream_t s = pb_istream_from_buffer(data, len);
    /* A failure after the ErrorInfo was read still leaves a good reason. */
    (void)pb_decode(&s, google_rpc_Status_fields, &st);
    if (rc.found)
        snprintf(out, out_len, "%s", reason);
}
