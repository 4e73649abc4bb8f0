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

#include <string.h>

#include "error.h"

/* Appends a string literal without strlen(). */
#define PUT_LIT(b, lit) sl_buf_append((b), (lit), sizeof(lit) - 1)

/* Length of the valid UTF-8 sequence at p (2-4), or 0 when it is invalid;
 * then *skip is the length of its maximal invalid subpart (at least 1),
 * which becomes one U+FFFD (Unicode 15, section 3.9, U+FFFD substitution).
 * p is NUL-terminated and NUL is never a continuation byte, so this never
 * reads past the terminator. */
static size_t utf8_seq_len(const unsigned char *p, size_t *skip)
{
    unsigned char c = p[0];
    unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
    size_t need;                        /* continuation bytes */

    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
    } else if (c == 0xE0) {
        need = 2;
        lo = 0xA0; /* no overlong 3-byte forms */
    } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
        need = 2;
    } else if (c == 0xED) {
        need = 2;
        hi = 0x9F; /* no surrogates U+D800..U+DFFF */
    } else if (c == 0xF0) {
        need = 3;
        lo = 0x90; /* no overlong 4-byte forms */
    } else if (c >= 0xF1 && c <= 0xF3) {
        need = 3;
    } else if (c == 0xF4) {
        need = 3;
        hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        *skip = 1; /* 0x80..0xC1, 0xF5..0xFF: never a lead byte */
        return 0;
    }
    if (p[1] < lo || p[1] > hi) {
        *skip = 1;
        return 0;
    }
    for (size_t i = 2; i <= need; i++) {
        if (p[i] < 0x80 || p[i] > 0xBF) {
            *skip = i;
            return 0;
        }
    }
    return need + 1;
}

void sl_render_json_string(struct sl_buf *out, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)(s ? s : "");

    sl_buf_putc(out, '"');
    for (;;) {
        /* The common case: a run of printable ASCII copied at once. */
        const unsigned char *run = p;
        while (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
            p++;
        if (p > run)
            sl_buf_append(out, run, (size_t)(p - run));

        unsigned char c = *p;
        if (c == '\0')
            break;
        if (c >= 0x80) {
            size_t skip = 0;
            size_t n = utf8_seq_len(p, &skip);
            if (n) {
                sl_buf_append(out, p, n);
                p += n;
            } else {
                PUT_LIT(out, "\xEF\xBF\xBD"); /* U+FFFD */
                p += skip;
            }
            continue;
        }
        p++;
        switch (c) {
        case '"':
            PUT_LIT(out, "\\\"");
            break;
        case '\\':
            PUT_LIT(out, "\\\\");
            break;
        case '\b':
            PUT_LIT(out, "\\b");
            break;
        case '\f':
            PUT_LIT(out, "\\f");
            break;
        case '\n':
            PUT_LIT(out, "\\n");
            break;
        case '\r':
            PUT_LIT(out, "\\r");
            break;
        case '\t':
            PUT_LIT(out, "\\t");
            break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
            sl_buf_append(out, u, sizeof(u));
            break;
        }
        }
    }
    sl_buf_putc(out, '"');
}

static const char *result_name(Modelarts__V1__UpdateResult r)
{
    switch (r) {
    case MODELARTS__V1__UPDATE_RESULT__SUCCESS:
        return "SUCCESS";
    case MODELARTS__V1__UPDATE_RESULT__FAIL:
        return "FAIL";
    case MODELARTS__V1__UPDATE_RESULT__RUNNING:
        return "RUNNING";
    default:
        return "UNKNOWN";
    }
}

static const char *operation_name(Modelarts__V1__NodeOperation op)
{
    switch (op) {
    case MODELARTS__V1__NODE_OPERATION__DEPLOY:
        return "deploy";
    case MODELARTS__V1__NODE_OPERATION__DELETE:
        return "delete";
    default:
        return "unknown";
    }
}

static void put_config(struct sl_buf *b, const Modelarts__V1__ServiceConfig *c,
                       int real_time)
{
    PUT_LIT(b, "{\"model_id\":");
    sl_render_json_string(b, c->model_id);
    PUT_LIT(b, ",\"model_name\":");
    sl_render_json_string(b, c->model_name);
    PUT_LIT(b, ",\"model_version\":");
    sl_render_json_string(b, c->model_version);
    if (real_time) {
        PUT_LIT(b, ",\"weight\":");
        sl_buf_put_i64(b, c->weight);
    }
    PUT_LIT(b, ",\"specification\":");
    sl_render_json_string(b, c->specification);
    if (real_time) {
        PUT_LIT(b, ",\"instance_count\":");
        sl_buf_put_i64(b, c->instance_count);
    }
    PUT_LIT(b, ",\"envs\":{");
    for (size_t i = 0; i < c->n_envs; i++) {
        const Modelarts__V1__ServiceConfig__EnvsEntry *e = c->envs[i];
        if (i)
            sl_buf_putc(b, ',');
        sl_render_json_string(b, e->key);
        sl_buf_putc(b, ':');
        sl_render_json_string(b, e->value);
    }
    PUT_LIT(b, "}}");
}

static void put_node(struct sl_buf *b, const Modelarts__V1__NodeResult *n)
{
    PUT_LIT(b, "{\"node_id\":");
    sl_render_json_string(b, n->node_id);
    PUT_LIT(b, ",\"node_name\":");
    sl_render_json_string(b, n->node_name);
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
    sl_render_json_string(out, r->service_id);
    PUT_LIT(out, ",\"service_name\":");
    sl_render_json_string(out, r->service_name);
    PUT_LIT(out, ",\"logs\":[");
    for (size_t i = 0; i < r->n_logs; i++) {
        if (i)
            sl_buf_putc(out, ',');
        put_log(out, r->logs[i], real_time, edge);
    }
    PUT_LIT(out, "]}\n");
    return out->oom ? SL_ENOMEM : SL_OK;
}

void sl_render_error_json(int sl_code, const char *msg, struct sl_buf *out)
{
    PUT_LIT(out, "{\"error_code\":\"");
    sl_buf_puts(out, sl_err_mcode(sl_code));
    PUT_LIT(out, "\",\"error_msg\":");
    sl_render_json_string(out, msg && *msg ? msg : sl_strerror(sl_code));
    PUT_LIT(out, "}\n");
}
