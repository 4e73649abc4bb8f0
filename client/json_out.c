/* json_out.c -- the documented JSON of a query, written to a FILE* */
#include "json_out.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

/* Length of the well-formed UTF-8 sequence at p (Unicode table 3-7), or 0
 * with *bad = the length of its maximal ill-formed subpart (at least 1),
 * which becomes one U+FFFD. Never reads past a NUL. */
static size_t utf8_seq(const unsigned char *p, size_t *bad)
{
    unsigned char b = p[0], lo = 0x80, hi = 0xbf;
    size_t need;
    if (b >= 0xc2 && b <= 0xdf) {
        need = 1;
    } else if (b >= 0xe0 && b <= 0xef) {
        need = 2;
        if (b == 0xe0)
            lo = 0xa0;
        else if (b == 0xed)
            hi = 0x9f; /* no UTF-16 surrogates */
    } else if (b >= 0xf0 && b <= 0xf4) {
        need = 3;
        if (b == 0xf0)
            lo = 0x90;
        else if (b == 0xf4)
            hi = 0x8f; /* nothing above U+10FFFF */
    } else {
        *bad = 1;
        return 0;
    }
    for (size_t i = 1; i <= need; i++) {
        if (p[i] < lo || p[i] > hi) {
            *bad = i;
            return 0;
        }
        lo = 0x80;
        hi = 0xbf;
    }
    return need + 1;
}

void slc_json_string(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *run = p; /* bytes to copy as they are */
    putc('"', f);
    while (*p) {
        unsigned char b = *p;
        if (b >= 0x20 && b != '"' && b != '\\' && b < 0x80) {
            p++;
            continue;
        }
        size_t len = 0, bad = 0;
        if (b >= 0x80 && (len = utf8_seq(p, &bad)) > 0) {
            p += len;
            continue;
        }
        fwrite(run, 1, (size_t)(p - run), f);
        switch (b) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        case '\b':
            fputs("\\b", f);
            break;
        case '\f':
            fputs("\\f", f);
            break;
        default:
            if (b < 0x20) {
                fprintf(f, "\\u%04x", b);
            } else {
                fputs("\xef\xbf\xbd", f); /* U+FFFD */
                p += bad;
                run = p;
                continue;
            }
        }
        p++;
        run = p;
    }
    fwrite(run, 1, (size_t)(p - run), f);
    putc('"', f);
}

static const char *result_name(modelarts_v1_UpdateResult r)
{
    switch (r) {
    case modelarts_v1_UpdateResult_SUCCESS:
        return "SUCCESS";
    case modelarts_v1_UpdateResult_FAIL:
        return "FAIL";
    case modelarts_v1_UpdateResult_RUNNING:
        return "RUNNING";
    default: /* UNSPECIFIED or newer than this build: as the REST shim */
        return "UNKNOWN";
    }
}

static const char *operation_name(modelarts_v1_NodeOperation op)
{
    switch (op) {
    case modelarts_v1_NodeOperation_DEPLOY:
        return "deploy";
    case modelarts_v1_NodeOperation_DELETE:
        return "delete";
    default:
        return "unknown";
    }
}

static void config_obj(FILE *f, bool real_time, const slc_config *c)
{
    fputs("{\"model_id\":", f);
    slc_json_string(f, c->model_id);
    fputs(",\"model_name\":", f);
    slc_json_string(f, c->model_name);
    fputs(",\"model_version\":", f);
    slc_json_string(f, c->model_version);
    if (real_time)
        fprintf(f, ",\"weight\":%" PRId32, c->weight);
    fputs(",\"specification\":", f);
    slc_json_string(f, c->specification);
    if (real_time)
        fprintf(f, ",\"instance_count\":%" PRId32, c->instance_count);
    fputs(",\"envs\":{", f);
    for (size_t i = 0; i < c->n_envs; i++) {
        if (i)
            putc(',', f);
        slc_json_string(f, c->envs[i].key);
        putc(':', f);
        slc_json_string(f, c->envs[i].value);
    }
    fputs("}}", f);
}

static void node_obj(FILE *f, const slc_node *n)
{
    fputs("{\"node_id\":", f);
    slc_json_string(f, n->node_id);
    fputs(",\"node_name\":", f);
    slc_json_string(f, n->node_name);
    fputs(",\"operation\":", f);
    slc_json_string(f, operation_name(n->operation));
    fputs(n->result ? ",\"result\":true}" : ",\"result\":false}", f);
}

void slc_json_head(FILE *f, const slc_head *head)
{
    fputs("{\"service_id\":", f);
    slc_json_string(f, head->service_id);
    fputs(",\"service_name\":", f);
    slc_json_string(f, head->service_name);
    fputs(",\"logs\":[", f);
}

void slc_json_log(FILE *f, modelarts_v1_InferType infer_type,
                  const slc_log *log, bool first)
{
    bool real_time = infer_type == modelarts_v1_InferType_REAL_TIME;
    bool edge = infer_type == modelarts_v1_InferType_EDGE;
    if (!first)
        putc(',', f);
    fprintf(f, "{\"update_time\":%" PRId64 ",\"result\":", log->update_time);
    slc_json_string(f, result_name(log->result));
    fputs(",\"config\":[", f);
    for (size_t i = 0; i < log->n_config; i++) {
        if (i)
            putc(',', f);
        config_obj(f, real_time, &log->config[i]);
    }
    putc(']', f);
    if (edge) {
        fprintf(f, ",\"success_num\":%" PRId32 ",\"failed_num\":%" PRId32,
                log->success_num, log->failed_num);
        fputs(",\"result_detail\":[", f);
        for (size_t i = 0; i < log->n_result_detail; i++) {
            if (i)
                putc(',', f);
            node_obj(f, &log->result_detail[i]);
        }
        putc(']', f);
    }
    putc('}', f);
}

void slc_json_tail(FILE *f)
{
    fputs("]}\n", f);
}

int slc_json_result(FILE *f, const slc_result *r)
{
    slc_json_head(f, &r->head);
    for (size_t i = 0; i < r->n_logs; i++)
        slc_json_log(f, r->head.infer_type, &r->logs[i], i == 0);
    slc_json_tail(f);
    return ferror(f) ? -1 : 0;
}

void slc_json_stream_init(struct slc_json_stream *js, FILE *f)
{
    js->f = f;
    js->n = 0;
    js->write_errno = 0;
}

/* 0, or -1 with the errno of the failed write kept (later calls, gRPC's
 * included, may overwrite errno before the caller reports it). */
static int stream_status(struct slc_json_stream *js)
{
    if (!ferror(js->f))
        return 0;
    if (!js->write_errno)
        js->write_errno = errno ? errno : EIO;
    return -1;
}

int slc_json_stream_log(void *ctx, const slc_head *head, const slc_log *log)
{
    struct slc_json_stream *js = ctx;
    if (js->n == 0)
        slc_json_head(js->f, head);
    slc_json_log(js->f, head->infer_type, log, js->n == 0);
    js->n++;
    return stream_status(js) ? 1 : 0;
}

int slc_json_stream_end(struct slc_json_stream *js, const slc_head *head)
{
    if (js->n == 0)
        slc_json_head(js->f, head);
    slc_json_tail(js->f);
    if (fflush(js->f) != 0 && !js->write_errno)
        js->write_errno = errno;
    return stream_status(js);
}
