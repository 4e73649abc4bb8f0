/* render_json.c -- the REST body of QueryServiceLogs, written by hand
 *
 * Threading and ownership: no state of its own; every function reads its
 * message and appends to the caller's struct sl_buf. The buffer records an
 * allocation failure in buf.oom and ignores later appends, so the
 * encoders run straight through and check oom once at the end.
 *
 * Presence rules, enum spellings and escaping are documented in
 * render_json.h; the key order is the spec's table order.
 */
#include "render_json.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "json.h"
#include "names.h"
#include "wire.h"

/* Appends a string literal without strlen(). */
#define PUT_LIT(b, lit) sl_buf_append((b), (lit), sizeof(lit) - 1)

/* common/names.h spells the enums; unit/test_names checks its numbers
 * against the generated ones. */
static const char *result_name(Modelarts__V1__UpdateResult r)
{
    return sl_name_of(sl_update_result_names, (int)r, "UNKNOWN");
}

static const char *operation_name(Modelarts__V1__NodeOperation op)
{
    return sl_name_of(sl_node_operation_names, (int)op, "unknown");
}

static void put_float(struct sl_buf *b, float v)
{
    char num[SL_JSON_FLOAT_MAX];
    size_t n = sl_json_float(v, num);
    sl_buf_append(b, num, n);
}

/* The live platform's flavour: all four fields, always, as numbers. */
static void put_custom_spec(struct sl_buf *b,
                            const Modelarts__V1__CustomSpec *cs)
{
    PUT_LIT(b, ",\"custom_spec\":{\"gpu_p4\":");
    put_float(b, cs->gpu_p4);
    PUT_LIT(b, ",\"memory\":");
    sl_buf_put_i64(b, cs->memory);
    PUT_LIT(b, ",\"cpu\":");
    put_float(b, cs->cpu);
    PUT_LIT(b, ",\"ascend_a310\":");
    sl_buf_put_i64(b, cs->ascend_a310);
    sl_buf_putc(b, '}');
}

static void put_config(struct sl_buf *b, const Modelarts__V1__ServiceConfig *c,
                       int real_time)
{
    PUT_LIT(b, "{\"model_id\":");
    sl_buf_put_json_string(b, c->model_id);
    PUT_LIT(b, ",\"model_name\":");
    sl_buf_put_json_string(b, c->model_name);
    PUT_LIT(b, ",\"model_version\":");
    sl_buf_put_json_string(b, c->model_version);
    if (real_time) {
        PUT_LIT(b, ",\"weight\":");
        sl_buf_put_i64(b, c->weight);
    }
    PUT_LIT(b, ",\"specification\":");
    sl_buf_put_json_string(b, c->specification);
    if (real_time) {
        PUT_LIT(b, ",\"instance_count\":");
        sl_buf_put_i64(b, c->instance_count);
    }
    PUT_LIT(b, ",\"envs\":{");
    for (size_t i = 0; i < c->n_envs; i++) {
        const Modelarts__V1__ServiceConfig__EnvsEntry *e = c->envs[i];
        if (i)
            sl_buf_putc(b, ',');
        sl_buf_put_json_string(b, e->key);
        sl_buf_putc(b, ':');
        sl_buf_put_json_string(b, e->value);
    }
    sl_buf_putc(b, '}');
    if (c->custom_spec)
        put_custom_spec(b, c->custom_spec);
    if (c->cluster_id && c->cluster_id[0]) {
        PUT_LIT(b, ",\"cluster_id\":");
        sl_buf_put_json_string(b, c->cluster_id);
    }
    sl_buf_putc(b, '}');
}

static void put_node(struct sl_buf *b, const Modelarts__V1__NodeResult *n)
{
    PUT_LIT(b, "{\"node_id\":");
    sl_buf_put_json_string(b, n->node_id);
    PUT_LIT(b, ",\"node_name\":");
    sl_buf_put_json_string(b, n->node_name);
    PUT_LIT(b, ",\"operation\":\"");
    sl_buf_puts(b, operation_name(n->operation));
    if (n->result)
        PUT_LIT(b, "\",\"result\":true}");
    else
        PUT_LIT(b, "\",\"result\":false}");
}

static void put_log(struct sl_buf *b, const Modelarts__V1__ServiceLog *l,
                    int real_time, int edge)
{
    PUT_LIT(b, "{\"update_time\":");
    sl_buf_put_i64(b, l->update_time);
    PUT_LIT(b, ",\"result\":\"");
    sl_buf_puts(b, result_name(l->result));
    PUT_LIT(b, "\",\"config\":[");
    for (size_t i = 0; i < l->n_config; i++) {
        if (i)
            sl_buf_putc(b, ',');
        put_config(b, l->config[i], real_time);
    }
    sl_buf_putc(b, ']');
    if (edge) {
        PUT_LIT(b, ",\"success_num\":");
        sl_buf_put_i64(b, l->success_num);
        PUT_LIT(b, ",\"failed_num\":");
        sl_buf_put_i64(b, l->failed_num);
        PUT_LIT(b, ",\"result_detail\":[");
        for (size_t i = 0; i < l->n_result_detail; i++) {
            if (i)
                sl_buf_putc(b, ',');
            put_node(b, l->result_detail[i]);
        }
        sl_buf_putc(b, ']');
    }
    if (l->cluster_id && l->cluster_id[0]) {
        PUT_LIT(b, ",\"cluster_id\":");
        sl_buf_put_json_string(b, l->cluster_id);
    }
    if (l->n_extend_config) {
        PUT_LIT(b, ",\"extend_config\":[");
        for (size_t i = 0; i < l->n_extend_config; i++) {
            if (i)
                sl_buf_putc(b, ',');
            sl_buf_put_json_string(b, l->extend_config[i]);
        }
        sl_buf_putc(b, ']');
    }
    sl_buf_putc(b, '}');
}

int sl_render_logs_json(const Modelarts__V1__QueryServiceLogsResponse *r,
                        struct sl_buf *out)
{
    int real_time = r->infer_type == MODELARTS__V1__INFER_TYPE__REAL_TIME;
    int edge = r->infer_type == MODELARTS__V1__INFER_TYPE__EDGE;

    /* One allocation covers a typical response (the spec's example is
     * about 250 bytes; one log with one config ~200 more). */
    sl_buf_reserve(out, 512 + 256 * r->n_logs);
    PUT_LIT(out, "{\"service_id\":");
    sl_buf_put_json_string(out, r->service_id);
    PUT_LIT(out, ",\"service_name\":");
    sl_buf_put_json_string(out, r->service_name);
    PUT_LIT(out, ",\"logs\":[");
    for (size_t i = 0; i < r->n_logs; i++) {
        if (i)
            sl_buf_putc(out, ',');
        put_log(out, r->logs[i], real_time, edge);
    }
    PUT_LIT(out, "]}\n");
    return out->oom ? SL_ENOMEM : SL_OK;
}

/* ---- streaming --------------------------------------------------------- */

struct sl_json_stream {
    const uint8_t *p, *end; /* the packed bytes left to read */
    char *service_id;       /* NUL-terminated copies of fields 1 and 2 */
    char *service_name;
    int real_time, edge; /* from field 4 */
    size_t logs_out;     /* logs rendered so far */
    bool head_out;
};

/* A NUL-terminated copy of the field's bytes, replacing *dst. */
static int take_string(char **dst, const struct sl_wire_field *f)
{
    char *s = malloc(f->len + 1);
    if (!s)
        return SL_ENOMEM;
    if (f->len)
        memcpy(s, f->data, f->len);
    s[f->len] = '\0';
    free(*dst);
    *dst = s;
    return SL_OK;
}

int sl_json_stream_open(const uint8_t *packed, size_t len,
                        struct sl_json_stream **out)
{
    *out = NULL;
    struct sl_json_stream *s = calloc(1, sizeof(*s));
    if (!s)
        return SL_ENOMEM;
    s->p = packed;
    s->end = packed + len;
    /* A first pass for the singular fields, wherever they are: the head
     * needs them before the first log. */
    int rc = SL_OK;
    int64_t infer_type = 0;
    for (const uint8_t *p = packed; p < s->end && rc == SL_OK;) {
        struct sl_wire_field f;
        if (sl_wire_next(&p, s->end, &f) < 0) {
            rc = SL_ECORRUPT;
        } else if (f.number == 1 || f.number == 2) {
            if (f.type != 2)
                rc = SL_ECORRUPT;
            else
                rc = take_string(
                    f.number == 1 ? &s->service_id : &s->service_name, &f);
        } else if (f.number == 3 && f.type != 2) {
            rc = SL_ECORRUPT;
        } else if (f.number == 4) {
            if (f.type != 0)
                rc = SL_ECORRUPT;
            else
                infer_type = (int32_t)f.value; /* as protobuf-c: enum is
                                                  32-bit */
        }
    }
    if (rc != SL_OK) {
        sl_json_stream_free(s);
        return rc;
    }
    s->real_time = infer_type == MODELARTS__V1__INFER_TYPE__REAL_TIME;
    s->edge = infer_type == MODELARTS__V1__INFER_TYPE__EDGE;
    *out = s;
    return SL_OK;
}

int sl_json_stream_next(struct sl_json_stream *s, struct sl_buf *out,
                        size_t want, bool *done)
{
    *done = false;
    size_t start = out->len;
    if (!s->head_out) {
        PUT_LIT(out, "{\"service_id\":");
        sl_buf_put_json_string(out, s->service_id ? s->service_id : "");
        PUT_LIT(out, ",\"service_name\":");
        sl_buf_put_json_string(out, s->service_name ? s->service_name : "");
        PUT_LIT(out, ",\"logs\":[");
        s->head_out = true;
    }
    while (s->p < s->end && out->len - start < want && !out->oom) {
        struct sl_wire_field f;
        if (sl_wire_next(&s->p, s->end, &f) < 0)
            return SL_ECORRUPT; /* open() read these bytes whole */
        if (f.number != 3)
            continue;
        Modelarts__V1__ServiceLog *l =
            modelarts__v1__service_log__unpack(NULL, f.len, f.data);
        if (!l)
            return SL_ECORRUPT;
        if (s->logs_out++)
            sl_buf_putc(out, ',');
        put_log(out, l, s->real_time, s->edge);
        modelarts__v1__service_log__free_unpacked(l, NULL);
    }
    if (s->p >= s->end) {
        PUT_LIT(out, "]}\n");
        *done = true;
    }
    return out->oom ? SL_ENOMEM : SL_OK;
}

int sl_render_packed_json(const uint8_t *packed, size_t len, struct sl_buf *out)
{
    struct sl_json_stream *s;
    int rc = sl_json_stream_open(packed, len, &s);
    bool done = false;
    if (rc == SL_OK)
        rc = sl_json_stream_next(s, out, SIZE_MAX, &done);
    sl_json_stream_free(s);
    return rc;
}

void sl_json_stream_free(struct sl_json_stream *s)
{
    if (!s)
        return;
    free(s->service_id);
    free(s->service_name);
    free(s);
}

int sl_render_log_json(const Modelarts__V1__ServiceLog *log, int infer_type,
                       struct sl_buf *out)
{
    put_log(out, log, infer_type == MODELARTS__V1__INFER_TYPE__REAL_TIME,
            infer_type == MODELARTS__V1__INFER_TYPE__EDGE);
    return out->oom ? SL_ENOMEM : SL_OK;
}

void sl_render_error_json(int sl_code, const char *msg, struct sl_buf *out)
{
    PUT_LIT(out, "{\"error_code\":\"");
    sl_buf_puts(out, sl_err_mcode(sl_code));
    PUT_LIT(out, "\",\"error_msg\":");
    sl_buf_put_json_string(out, msg && *msg ? msg : sl_strerror(sl_code));
    PUT_LIT(out, "}\n");
}
