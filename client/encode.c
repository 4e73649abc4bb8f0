/* encode.c -- nanopb encoding of the writer requests (PutService,
 * RecordServiceUpdate)
 *
 * DESIGN. The caller's slc_log is a tree of borrowed pointers; nanopb wants
 * its bounded structs. The log is first checked against every bound that
 * the nanopb structs impose (so that copying can never truncate and every
 * error names its field), then copied into the client's scratch
 * ServiceLog (the decode buffer: not in use between calls). ServiceLog's
 * config field is FT_CALLBACK (service_logs.options): an encode callback
 * copies one slc_config at a time into one scratch ServiceConfig and
 * encodes it, so the largest struct ever filled is one config. The request
 * itself is written field by field (project, service, then the log as a
 * submessage) into one gRPC slice sized by a first, counting pass: no heap
 * of this library's own. Strings NULL mean "".
 */
#include <stdio.h>
#include <string.h>

#include <grpc/slice.h>
#include <pb_encode.h>

#include "slc_internal.h"

#define FIELD_SIZE(type, member) sizeof(((type *)0)->member)
_Static_assert(
    FIELD_SIZE(modelarts_v1_ServiceConfig, model_version) == SLC_MAX_ID + 1 &&
        FIELD_SIZE(modelarts_v1_ServiceConfig, model_id) == SLC_MAX_ID + 1 &&
        FIELD_SIZE(modelarts_v1_ServiceConfig, cluster_id) == SLC_MAX_ID + 1 &&
        FIELD_SIZE(modelarts_v1_ServiceLog, cluster_id) == SLC_MAX_ID + 1,
    "id-sized strings");
_Static_assert(FIELD_SIZE(modelarts_v1_ServiceConfig, model_name) ==
                       SLC_MAX_NAME + 1 &&
                   FIELD_SIZE(modelarts_v1_ServiceConfig, specification) ==
                       SLC_MAX_NAME + 1 &&
                   FIELD_SIZE(modelarts_v1_ServiceConfig_EnvsEntry, key) ==
                       SLC_MAX_NAME + 1 &&
                   FIELD_SIZE(modelarts_v1_NodeResult, node_name) ==
                       SLC_MAX_NAME + 1 &&
                   FIELD_SIZE(modelarts_v1_PutServiceRequest, service_name) ==
                       SLC_MAX_NAME + 1,
               "name-sized strings");
_Static_assert(FIELD_SIZE(modelarts_v1_ServiceConfig_EnvsEntry, value) ==
                   SLC_MAX_ENV_VALUE + 1,
               "env value");
_Static_assert(FIELD_SIZE(modelarts_v1_ServiceLog, extend_config[0]) ==
                   SLC_MAX_EXTEND_VALUE + 1,
               "extend_config entry");

static const char *str(const char *s)
{
    return s ? s : "";
}

/* Copies s (NULL: "") into a nanopb char array of cap bytes; checked. */
static void put_str(char *dst, size_t cap, const char *s)
{
    snprintf(dst, cap, "%s", str(s));
}

/* SLC_EINVAL unless s fits max bytes. what: the field's path. */
static int check_len(const char *s, size_t max, slc_error *err, const char *fmt,
                     size_t i, size_t j)
{
    if (strlen(str(s)) <= max)
        return SLC_OK;
    char what[96];
    snprintf(what, sizeof(what), fmt, i, j);
    return slc__err_set(err, SLC_EINVAL, -1, "%s is over %zu bytes", what, max);
}

#define CHECK(s, max, fmt, i, j)                                               \
    do {                                                                       \
        int rc_ = check_len((s), (max), err, (fmt), (i), (j));                 \
        if (rc_ != SLC_OK)                                                     \
            return rc_;                                                        \
    } while (0)

static int check_config(const slc_config *c, size_t i, slc_error *err)
{
    CHECK(c->model_id, SLC_MAX_ID, "log.config[%zu].model_id", i, 0);
    CHECK(c->model_name, SLC_MAX_NAME, "log.config[%zu].model_name", i, 0);
    CHECK(c->model_version, SLC_MAX_ID, "log.config[%zu].model_version", i, 0);
    CHECK(c->specification, SLC_MAX_NAME, "log.config[%zu].specification", i,
          0);
    CHECK(c->cluster_id, SLC_MAX_ID, "log.config[%zu].cluster_id", i, 0);
    if (c->n_envs > SLC_MAX_ENVS)
        return slc__err_set(err, SLC_EINVAL, -1,
                            "log.config[%zu].envs has more than %d entries", i,
                            SLC_MAX_ENVS);
    if (c->n_envs && !c->envs)
        return slc__err_set(err, SLC_EINVAL, -1, "log.config[%zu].envs is NULL",
                            i);
    for (size_t j = 0; j < c->n_envs; j++) {
        CHECK(c->envs[j].key, SLC_MAX_NAME, "log.config[%zu].envs[%zu].key", i,
              j);
        CHECK(c->envs[j].value, SLC_MAX_ENV_VALUE,
              "log.config[%zu].envs[%zu].value", i, j);
    }
    return SLC_OK;
}

static int check_log(const slc_log *log, slc_error *err)
{
    if (!log)
        return slc__err_set(err, SLC_EINVAL, -1, "log is NULL");
    if (log->update_time <= 0)
        return slc__err_set(err, SLC_EINVAL, -1,
                            "log.update_time must be > 0 (ms since the "
                            "epoch): it is the log's key");
    if (log->n_config > SLC_MAX_CONFIGS || (log->n_config && !log->config))
        return slc__err_set(err, SLC_EINVAL, -1,
                            "log.config: 0-%d entries, not NULL",
                            SLC_MAX_CONFIGS);
    for (size_t i = 0; i < log->n_config; i++) {
        int rc = check_config(&log->config[i], i, err);
        if (rc != SLC_OK)
            return rc;
    }
    if (log->n_result_detail > SLC_MAX_NODES ||
        (log->n_result_detail && !log->result_detail))
        return slc__err_set(err, SLC_EINVAL, -1,
                            "log.result_detail: 0-%d entries, not NULL",
                            SLC_MAX_NODES);
    for (size_t i = 0; i < log->n_result_detail; i++) {
        CHECK(log->result_detail[i].node_id, SLC_MAX_ID,
              "log.result_detail[%zu].node_id", i, 0);
        CHECK(log->result_detail[i].node_name, SLC_MAX_NAME,
              "log.result_detail[%zu].node_name", i, 0);
    }
    CHECK(log->cluster_id, SLC_MAX_ID, "log.cluster_id", 0, 0);
    if (log->n_extend_config > SLC_MAX_EXTEND_CONFIG ||
        (log->n_extend_config && !log->extend_config))
        return slc__err_set(err, SLC_EINVAL, -1,
                            "log.extend_config: 0-%d entries, not NULL",
                            SLC_MAX_EXTEND_CONFIG);
    for (size_t i = 0; i < log->n_extend_config; i++)
        CHECK(log->extend_config[i], SLC_MAX_EXTEND_VALUE,
              "log.extend_config[%zu]", i, 0);
    return SLC_OK;
}

/* ---- encoding --------------------------------------------------------- */

struct config_enc {
    const slc_log *log;
    modelarts_v1_ServiceConfig *scratch;
};

static void fill_config(modelarts_v1_ServiceConfig *o, const slc_config *c)
{
    *o = (modelarts_v1_ServiceConfig)modelarts_v1_ServiceConfig_init_zero;
    put_str(o->model_id, sizeof(o->model_id), c->model_id);
    put_str(o->model_name, sizeof(o->model_name), c->model_name);
    put_str(o->model_version, sizeof(o->model_version), c->model_version);
    o->weight = c->weight;
    put_str(o->specification, sizeof(o->specification), c->specification);
    o->instance_count = c->instance_count;
    o->envs_count = (pb_size_t)c->n_envs;
    for (size_t j = 0; j < c->n_envs; j++) {
        put_str(o->envs[j].key, sizeof(o->envs[j].key), c->envs[j].key);
        put_str(o->envs[j].value, sizeof(o->envs[j].value), c->envs[j].value);
    }
    if (c->custom_spec) {
        o->has_custom_spec = true;
        o->custom_spec.gpu_p4 = c->custom_spec->gpu_p4;
        o->custom_spec.memory = c->custom_spec->memory;
        o->custom_spec.cpu = c->custom_spec->cpu;
        o->custom_spec.ascend_a310 = c->custom_spec->ascend_a310;
    }
    put_str(o->cluster_id, sizeof(o->cluster_id), c->cluster_id);
}

/* ServiceLog.config: each slc_config through the one scratch struct. */
static bool encode_configs(pb_ostream_t *s, const pb_field_t *f,
                           void *const *arg)
{
    const struct config_enc *ce = *arg;
    for (size_t i = 0; i < ce->log->n_config; i++) {
        fill_config(ce->scratch, &ce->log->config[i]);
        if (!pb_encode_tag_for_field(s, f) ||
            !pb_encode_submessage(s, modelarts_v1_ServiceConfig_fields,
                                  ce->scratch))
            return false;
    }
    return true;
}

static void fill_log(modelarts_v1_ServiceLog *o, const slc_log *l,
                     struct config_enc *ce)
{
    *o = (modelarts_v1_ServiceLog)modelarts_v1_ServiceLog_init_zero;
    o->update_time = l->update_time;
    o->result = l->result;
    o->config.funcs.encode = encode_configs;
    o->config.arg = ce;
    o->success_num = l->success_num;
    o->failed_num = l->failed_num;
    o->result_detail_count = (pb_size_t)l->n_result_detail;
    for (size_t i = 0; i < l->n_result_detail; i++) {
        const slc_node *in = &l->result_detail[i];
        modelarts_v1_NodeResult *on = &o->result_detail[i];
        put_str(on->node_id, sizeof(on->node_id), in->node_id);
        put_str(on->node_name, sizeof(on->node_name), in->node_name);
        on->operation = in->operation;
        on->result = in->result;
    }
    put_str(o->cluster_id, sizeof(o->cluster_id), l->cluster_id);
    o->extend_config_count = (pb_size_t)l->n_extend_config;
    for (size_t i = 0; i < l->n_extend_config; i++)
        put_str(o->extend_config[i], sizeof(o->extend_config[i]),
                l->extend_config[i]);
}

/* Fields 1 and 2 of both writer requests: project_id, service_id. */
static bool encode_ids(pb_ostream_t *s, const char *project_id,
                       const char *service_id)
{
    return pb_encode_tag(s, PB_WT_STRING, 1) &&
           pb_encode_string(s, (const pb_byte_t *)project_id,
                            strlen(project_id)) &&
           pb_encode_tag(s, PB_WT_STRING, 2) &&
           pb_encode_string(s, (const pb_byte_t *)service_id,
                            strlen(service_id));
}

_Static_assert(modelarts_v1_RecordServiceUpdateRequest_project_id_tag == 1 &&
                   modelarts_v1_RecordServiceUpdateRequest_service_id_tag ==
                       2 &&
                   modelarts_v1_RecordServiceUpdateRequest_log_tag == 3,
               "RecordServiceUpdateRequest field numbers");

static bool encode_record(pb_ostream_t *s, const char *project_id,
                          const char *service_id,
                          const modelarts_v1_ServiceLog *log)
{
    return encode_ids(s, project_id, service_id) &&
           pb_encode_tag(s, PB_WT_STRING, 3) &&
           pb_encode_submessage(s, modelarts_v1_ServiceLog_fields, log);
}

static int check_ids(const char *project_id, const char *service_id,
                     slc_error *err)
{
    if (!slc__id_valid(project_id))
        return slc__err_set(err, SLC_EINVAL, -1,
                            "project_id must be 1-64 characters of "
                            "[A-Za-z0-9_-]");
    if (!slc__id_valid(service_id))
        return slc__err_set(err, SLC_EINVAL, -1,
                            "service_id must be 1-64 characters of "
                            "[A-Za-z0-9_-]");
    return SLC_OK;
}

int slc__encode_record(const char *project_id, const char *service_id,
                       const slc_log *log, struct slc__decode_buf *scratch,
                       grpc_slice *out, slc_error *err)
{
    *out = grpc_empty_slice();
    int rc = check_ids(project_id, service_id, err);
    if (rc == SLC_OK)
        rc = check_log(log, err);
    if (rc != SLC_OK)
        return rc;

    struct config_enc ce = {.log = log, .scratch = &scratch->config[0]};
    fill_log(&scratch->log, log, &ce);
    pb_ostream_t counter = PB_OSTREAM_SIZING;
    if (!encode_record(&counter, project_id, service_id, &scratch->log))
        return slc__err_set(err, SLC_EINTERNAL, -1, "sizing the request: %s",
                            PB_GET_ERROR(&counter));
    grpc_slice slice = grpc_slice_malloc(counter.bytes_written);
    pb_ostream_t os = pb_ostream_from_buffer(GRPC_SLICE_START_PTR(slice),
                                             GRPC_SLICE_LENGTH(slice));
    if (!encode_record(&os, project_id, service_id, &scratch->log) ||
        os.bytes_written != GRPC_SLICE_LENGTH(slice)) {
        grpc_slice_unref(slice);
        return slc__err_set(err, SLC_EINTERNAL, -1, "encoding the request: %s",
                            PB_GET_ERROR(&os));
    }
    *out = slice;
    return slc__err_set(err, SLC_OK, -1, NULL);
}

int slc__encode_put_service(const char *project_id, const char *service_id,
                            const char *service_name, int infer_type,
                            uint8_t *buf, size_t cap, size_t *len,
                            slc_error *err)
{
    *len = 0;
    int rc = check_ids(project_id, service_id, err);
    if (rc != SLC_OK)
        return rc;
    if (!service_name || !service_name[0] ||
        strlen(service_name) > SLC_MAX_NAME)
        return slc__err_set(err, SLC_EINVAL, -1,
                            "service_name must be 1-%d bytes", SLC_MAX_NAME);
    if (infer_type != modelarts_v1_InferType_REAL_TIME &&
        infer_type != modelarts_v1_InferType_EDGE &&
        infer_type != modelarts_v1_InferType_BATCH)
        return slc__err_set(err, SLC_EINVAL, -1,
                            "infer_type must be REAL_TIME, EDGE or BATCH");
    modelarts_v1_PutServiceRequest msg =
        modelarts_v1_PutServiceRequest_init_zero;
    put_str(msg.project_id, sizeof(msg.project_id), project_id);
    put_str(msg.service_id, sizeof(msg.service_id), service_id);
    put_str(msg.service_name, sizeof(msg.service_name), service_name);
    msg.infer_type = (modelarts_v1_InferType)infer_type;
    pb_ostream_t os = pb_ostream_from_buffer(buf, cap);
    if (!pb_encode(&os, modelarts_v1_PutServiceRequest_fields, &msg))
        return slc__err_set(err, SLC_EINTERNAL, -1, "encoding request: %s",
                            PB_GET_ERROR(&os));
    *len = os.bytes_written;
    return slc__err_set(err, SLC_OK, -1, NULL);
}
