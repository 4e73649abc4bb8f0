/* json_out.c -- the documented JSON of a query, written to a FILE* */
#include "json_out.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "json.h"
#include "names.h"

/* The escaping is the server's (common/json.c); this is its FILE* sink. */
static void file_sink(void *ctx, const char *p, size_t n)
{
    fwrite(p, 1, n, (FILE *)ctx);
}

void slc_json_string(FILE *f, const char *s)
{
    sl_json_string(s, file_sink, f);
}

/* The documented spellings (common/names.h) use the proto's numbers. */
_Static_assert(modelarts_v1_UpdateResult_SUCCESS == SL_RESULT_SUCCESS &&
                   modelarts_v1_UpdateResult_FAIL == SL_RESULT_FAIL &&
                   modelarts_v1_UpdateResult_RUNNING == SL_RESULT_RUNNING,
               "UpdateResult numbers");
_Static_assert(modelarts_v1_NodeOperation_DEPLOY == SL_OPERATION_DEPLOY &&
                   modelarts_v1_NodeOperation_DELETE == SL_OPERATION_DELETE,
               "NodeOperation numbers");

/* UNSPECIFIED or newer than this build: as the REST shim. */
static const char *result_name(modelarts_v1_UpdateResult r)
{
    return sl_name_of(sl_update_result_names, (int)r, "UNKNOWN");
}

static const char *operation_name(modelarts_v1_NodeOperation op)
{
    return sl_name_of(sl_node_operation_names, (int)op, "unknown");
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
    putc('}', f);
    if (c->custom_spec) {
        char num[SL_JSON_FLOAT_MAX];
        sl_json_float(c->custom_spec->gpu_p4, num);
        fprintf(f, ",\"custom_spec\":{\"gpu_p4\":%s,\"memory\":%" PRId32, num,
                c->custom_spec->memory);
        sl_json_float(c->custom_spec->cpu, num);
        fprintf(f, ",\"cpu\":%s,\"ascend_a310\":%" PRId32 "}", num,
                c->custom_spec->ascend_a310);
    }
    if (c->cluster_id && c->cluster_id[0]) {
        fputs(",\"cluster_id\":", f);
        slc_json_string(f, c->cluster_id);
    }
    putc('}', f);
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
    if (log->cluster_id && log->cluster_id[0]) {
        fputs(",\"cluster_id\":", f);
        slc_json_string(f, log->cluster_id);
    }
    if (log->n_extend_config) {
        fputs(",\"extend_config\":[", f);
        for (size_t i = 0; i < log->n_extend_config; i++) {
            if (i)
                putc(',', f);
            slc_json_string(f, log->extend_config[i]);
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
