/* fuzz_import.c -- the import document parser (sl_import_parse)
 *
 * Input: the bytes of an import file. Beyond "no crash, no leak":
 * - a failure leaves the set empty and sets an SL_EFORMAT/SL_ENOMEM
 *   message that starts with a JSON path ("$" or "services...") or with
 *   "invalid JSON";
 * - on success every service's ids pass sl_id_valid, its name and
 *   infer_type are in range, no (project_id, service_id) repeats, and the
 *   log counts add up;
 * - every packed log unpacks with protobuf-c, packs back to the same bytes
 *   (import packs canonically), carries the indexed update_time, and holds
 *   what the import rules allow: limits.h bounds, envs sorted by key
 *   without repeats, real-time fields only on real-time services and edge
 *   fields only on edge ones, and the live platform's fields in their
 *   bounds (cluster_id, extend_config, custom_spec finite and not
 *   negative);
 * - every packed log passes sl_log_check (log_rules.h, the rules the
 *   writers apply) and sl_log_pack gives back the very same bytes.
 */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "import.h"
#include "limits.h"
#include "log_rules.h"
#include "modelarts/v1/service_logs.pb-c.h"
#include "validate.h"

static bool len_in(const char *s, size_t min, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    return n >= min && n <= max;
}

static void check_config(const Modelarts__V1__ServiceConfig *c, int infer_type)
{
    FUZZ_CHECK(len_in(c->model_id, 1, SL_MAX_ID));
    FUZZ_CHECK(len_in(c->model_name, 1, SL_MAX_NAME));
    FUZZ_CHECK(len_in(c->model_version, 1, SL_MAX_VERSION));
    FUZZ_CHECK(len_in(c->specification, 0, SL_MAX_NAME));
    FUZZ_CHECK(c->weight >= 0 && c->weight <= SL_MAX_WEIGHT);
    FUZZ_CHECK(c->instance_count >= 0);
    if (infer_type != MODELARTS__V1__INFER_TYPE__REAL_TIME)
        FUZZ_CHECK(c->weight == 0 && c->instance_count == 0);
    FUZZ_CHECK(c->n_envs <= SL_MAX_ENVS);
    for (size_t i = 0; i < c->n_envs; i++) {
        FUZZ_CHECK(len_in(c->envs[i]->key, 1, SL_MAX_ENV_KEY));
        FUZZ_CHECK(len_in(c->envs[i]->value, 0, SL_MAX_ENV_VALUE));
        if (i)
            FUZZ_CHECK(strcmp(c->envs[i - 1]->key, c->envs[i]->key) < 0);
    }
    FUZZ_CHECK(len_in(c->cluster_id, 0, SL_MAX_CLUSTER_ID));
    if (c->custom_spec) {
        const Modelarts__V1__CustomSpec *cs = c->custom_spec;
        FUZZ_CHECK(isfinite(cs->gpu_p4) && cs->gpu_p4 >= 0);
        FUZZ_CHECK(isfinite(cs->cpu) && cs->cpu >= 0);
        FUZZ_CHECK(cs->memory >= 0 && cs->ascend_a310 >= 0);
    }
}

static void check_log(const struct sl_import_log *in, int infer_type)
{
    Modelarts__V1__ServiceLog *l =
        modelarts__v1__service_log__unpack(NULL, in->body.len, in->body.data);
    FUZZ_CHECK(l != NULL);

    size_t len = modelarts__v1__service_log__get_packed_size(l);
    FUZZ_CHECK(len == in->body.len);
    uint8_t *again = malloc(len ? len : 1);
    FUZZ_CHECK(again != NULL);
    FUZZ_CHECK(modelarts__v1__service_log__pack(l, again) == len);
    FUZZ_CHECK(len == 0 || memcmp(again, in->body.data, len) == 0);
    free(again);

    FUZZ_CHECK(l->update_time == in->update_time);
    FUZZ_CHECK(l->update_time >= 0);
    FUZZ_CHECK(l->result >= MODELARTS__V1__UPDATE_RESULT__SUCCESS &&
               l->result <= MODELARTS__V1__UPDATE_RESULT__RUNNING);
    FUZZ_CHECK(l->n_config <= SL_MAX_CONFIGS);
    for (size_t i = 0; i < l->n_config; i++)
        check_config(l->config[i], infer_type);
    FUZZ_CHECK(l->success_num >= 0 && l->failed_num >= 0);
    if (infer_type != MODELARTS__V1__INFER_TYPE__EDGE)
        FUZZ_CHECK(l->success_num == 0 && l->failed_num == 0 &&
                   l->n_result_detail == 0);
    FUZZ_CHECK(l->n_result_detail <= SL_MAX_NODES);
    for (size_t i = 0; i < l->n_result_detail; i++) {
        const Modelarts__V1__NodeResult *r = l->result_detail[i];
        FUZZ_CHECK(len_in(r->node_id, 1, SL_MAX_ID));
        FUZZ_CHECK(len_in(r->node_name, 1, SL_MAX_NAME));
        FUZZ_CHECK(r->operation == MODELARTS__V1__NODE_OPERATION__DEPLOY ||
                   r->operation == MODELARTS__V1__NODE_OPERATION__DELETE);
    }
    FUZZ_CHECK(len_in(l->cluster_id, 0, SL_MAX_CLUSTER_ID));
    FUZZ_CHECK(l->n_extend_config <= SL_MAX_EXTEND);
    for (size_t i = 0; i < l->n_extend_config; i++)
        FUZZ_CHECK(len_in(l->extend_config[i], 1, SL_MAX_EXTEND_LEN));

    /* The writers' rules agree, and the canonical packing is a fixed
     * point. */
    struct sl_err err;
    FUZZ_CHECK(sl_log_check(l, infer_type, "log", SL_EINVAL, &err) == SL_OK);
    struct sl_arena a;
    struct sl_import_log re;
    sl_arena_init(&a);
    FUZZ_CHECK(sl_log_pack(l, &a, &a, &re, &err) == SL_OK);
    FUZZ_CHECK(re.body.len == in->body.len &&
               (re.body.len == 0 ||
                memcmp(re.body.data, in->body.data, re.body.len) == 0));
    sl_arena_free(&a);
    modelarts__v1__service_log__free_unpacked(l, NULL);
}

static void check_set(const struct sl_import_set *set)
{
    size_t n_logs = 0;
    for (size_t i = 0; i < set->n_services; i++) {
        const struct sl_import_service *s = &set->services[i];
        FUZZ_CHECK(sl_id_valid(s->project_id, strlen(s->project_id)));
        FUZZ_CHECK(sl_id_valid(s->service_id, strlen(s->service_id)));
        FUZZ_CHECK(len_in(s->service_name, 1, SL_MAX_NAME));
        FUZZ_CHECK(s->infer_type == MODELARTS__V1__INFER_TYPE__REAL_TIME ||
                   s->infer_type == MODELARTS__V1__INFER_TYPE__EDGE ||
                   s->infer_type == MODELARTS__V1__INFER_TYPE__BATCH);
        for (size_t j = 0; j < i; j++)
            FUZZ_CHECK(strcmp(s->project_id, set->services[j].project_id) !=
                           0 ||
                       strcmp(s->service_id, set->services[j].service_id) != 0);
        FUZZ_CHECK(s->n_logs == 0 || s->logs != NULL);
        for (size_t j = 0; j < s->n_logs; j++)
            check_log(&s->logs[j], s->infer_type);
        n_logs += s->n_logs;
    }
    FUZZ_CHECK(n_logs == set->n_logs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_import_set set;
    struct sl_err err;
    sl_err_clear(&err);
    int rc = sl_import_parse((const char *)data, size, &set, &err);
    if (rc == SL_OK) {
        check_set(&set);
    } else {
        FUZZ_CHECK(rc == SL_EFORMAT || rc == SL_ENOMEM);
        FUZZ_CHECK(err.code == rc);
        FUZZ_CHECK(strncmp(err.msg, "invalid JSON", 12) == 0 ||
                   strncmp(err.msg, "$: ", 3) == 0 ||
                   strncmp(err.msg, "services", 8) == 0);
        FUZZ_CHECK(set.n_services == 0 && set.services == NULL &&
                   set.n_logs == 0);
    }
    sl_import_set_free(&set);
    return 0;
}
