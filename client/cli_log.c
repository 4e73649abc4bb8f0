/* cli_log.c -- `servicelogs record`: one documented log object, from JSON
 *
 * Strings stay in the jansson tree (cli_log.root) and the slc_log points
 * at them; the tree lives until cli_log_free(). Every error names the
 * member's path.
 */
#include "cli_log.h"

#include <jansson.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "names.h"

struct parse {
    char *msg;
    size_t msg_len;
};

__attribute__((format(printf, 2, 3))) static int fail(struct parse *p,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->msg, p->msg_len, fmt, ap);
    va_end(ap);
    return -1;
}

/* Refuses members not in keys (a typo would otherwise be lost). */
static int check_keys(struct parse *p, json_t *obj, const char *path,
                      const char *const *keys)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        bool known = false;
        for (size_t i = 0; keys[i] && !known; i++)
            known = strcmp(k, keys[i]) == 0;
        if (!known)
            return fail(p, "%s: unknown member \"%.64s\"", path, k);
    }
    return 0;
}

static int get_str(struct parse *p, json_t *obj, const char *path,
                   const char *key, const char **out)
{
    json_t *v = json_object_get(obj, key);
    *out = "";
    if (!v)
        return 0;
    if (!json_is_string(v))
        return fail(p, "%s.%s: not a string", path, key);
    *out = json_string_value(v);
    if (strlen(*out) != json_string_length(v))
        return fail(p, "%s.%s: holds a NUL character", path, key);
    return 0;
}

static int get_int(struct parse *p, json_t *obj, const char *path,
                   const char *key, int64_t min, int64_t max, int64_t *out)
{
    json_t *v = json_object_get(obj, key);
    *out = 0;
    if (!v)
        return 0;
    if (!json_is_integer(v))
        return fail(p, "%s.%s: not an integer", path, key);
    json_int_t n = json_integer_value(v);
    if (n < min || n > max)
        return fail(p, "%s.%s: out of range %" PRId64 "..%" PRId64, path, key,
                    min, max);
    *out = n;
    return 0;
}

static int get_i32(struct parse *p, json_t *obj, const char *path,
                   const char *key, int32_t *out)
{
    int64_t v;
    int rc = get_int(p, obj, path, key, INT32_MIN, INT32_MAX, &v);
    *out = (int32_t)v;
    return rc;
}

static int get_float(struct parse *p, json_t *obj, const char *path,
                     const char *key, float *out)
{
    json_t *v = json_object_get(obj, key);
    *out = 0;
    if (!v)
        return 0;
    if (!json_is_number(v))
        return fail(p, "%s.%s: not a number", path, key);
    double d = json_number_value(v);
    if (!isfinite((float)d))
        return fail(p, "%s.%s: out of a float's range", path, key);
    *out = (float)d;
    return 0;
}

static int get_enum(struct parse *p, json_t *obj, const char *path,
                    const char *key, const struct sl_name *names, bool need,
                    int *out)
{
    json_t *v = json_object_get(obj, key);
    *out = 0;
    if (!v && !need)
        return 0;
    if (!v)
        return fail(p, "%s.%s: required", path, key);
    if (!json_is_string(v) || sl_name_value(names, json_string_value(v),
                                            json_string_length(v), out) != 0) {
        char list[96] = "";
        for (size_t i = 0; names[i].name; i++)
            snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                     i ? ", " : "", names[i].name);
        return fail(p, "%s.%s: not one of %s", path, key, list);
    }
    return 0;
}

/* An optional array of at most max entries; *n = 0 when absent. */
static int get_array(struct parse *p, json_t *obj, const char *path,
                     const char *key, size_t max, json_t **out, size_t *n)
{
    json_t *v = json_object_get(obj, key);
    *out = v;
    *n = 0;
    if (!v)
        return 0;
    if (!json_is_array(v))
        return fail(p, "%s.%s: not an array", path, key);
    if (json_array_size(v) > max)
        return fail(p, "%s.%s: more than %zu entries", path, key, max);
    *n = json_array_size(v);
    return 0;
}

static const char *const config_keys[] = {"model_id",      "model_name",
                                          "model_version", "weight",
                                          "specification", "instance_count",
                                          "envs",          "custom_spec",
                                          "cluster_id",    NULL};
static const char *const spec_keys[] = {"gpu_p4", "memory", "cpu",
                                        "ascend_a310", NULL};
static const char *const node_keys[] = {"node_id", "node_name", "operation",
                                        "result", NULL};
static const char *const log_keys[] = {
    "update_time",   "result",     "config",        "success_num", "failed_num",
    "result_detail", "cluster_id", "extend_config", NULL};

static int parse_config(struct parse *p, json_t *o, size_t i, struct cli_log *l)
{
    char path[48];
    snprintf(path, sizeof(path), "log.config[%zu]", i);
    slc_config *c = &l->config[i];
    if (!json_is_object(o))
        return fail(p, "%s: not an object", path);
    if (check_keys(p, o, path, config_keys) ||
        get_str(p, o, path, "model_id", &c->model_id) ||
        get_str(p, o, path, "model_name", &c->model_name) ||
        get_str(p, o, path, "model_version", &c->model_version) ||
        get_i32(p, o, path, "weight", &c->weight) ||
        get_str(p, o, path, "specification", &c->specification) ||
        get_i32(p, o, path, "instance_count", &c->instance_count) ||
        get_str(p, o, path, "cluster_id", &c->cluster_id))
        return -1;
    json_t *envs = json_object_get(o, "envs");
    if (envs && !json_is_object(envs))
        return fail(p, "%s.envs: not an object", path);
    if (envs && json_object_size(envs) > SLC_MAX_ENVS)
        return fail(p, "%s.envs: more than %d entries", path, SLC_MAX_ENVS);
    const char *k;
    json_t *v;
    c->envs = l->envs[i];
    c->n_envs = 0;
    if (envs)
        json_object_foreach(envs, k, v)
        {
            if (!json_is_string(v))
                return fail(p, "%s.envs[\"%.64s\"]: not a string", path, k);
            l->envs[i][c->n_envs].key = k;
            l->envs[i][c->n_envs].value = json_string_value(v);
            c->n_envs++;
        }
    json_t *sp = json_object_get(o, "custom_spec");
    if (sp) {
        char spath[64];
        snprintf(spath, sizeof(spath), "%s.custom_spec", path);
        slc_custom_spec *s = &l->specs[i];
        if (!json_is_object(sp))
            return fail(p, "%s: not an object", spath);
        if (check_keys(p, sp, spath, spec_keys) ||
            get_float(p, sp, spath, "gpu_p4", &s->gpu_p4) ||
            get_i32(p, sp, spath, "memory", &s->memory) ||
            get_float(p, sp, spath, "cpu", &s->cpu) ||
            get_i32(p, sp, spath, "ascend_a310", &s->ascend_a310))
            return -1;
        c->custom_spec = s;
    }
    return 0;
}

static int parse_node(struct parse *p, json_t *o, size_t i, slc_node *n)
{
    char path[48];
    snprintf(path, sizeof(path), "log.result_detail[%zu]", i);
    if (!json_is_object(o))
        return fail(p, "%s: not an object", path);
    int op;
    if (check_keys(p, o, path, node_keys) ||
        get_str(p, o, path, "node_id", &n->node_id) ||
        get_str(p, o, path, "node_name", &n->node_name) ||
        get_enum(p, o, path, "operation", sl_node_operation_names, false, &op))
        return -1;
    n->operation = (modelarts_v1_NodeOperation)op;
    json_t *r = json_object_get(o, "result");
    if (r && !json_is_boolean(r))
        return fail(p, "%s.result: not true or false", path);
    n->result = r && json_is_true(r);
    return 0;
}

static int parse_log(struct parse *p, json_t *o, struct cli_log *l)
{
    slc_log *lg = &l->log;
    int64_t t;
    int result;
    json_t *cfg, *nodes, *ext;
    if (!json_is_object(o))
        return fail(p, "log: not an object");
    if (check_keys(p, o, "log", log_keys))
        return -1;
    if (!json_object_get(o, "update_time"))
        return fail(p, "log.update_time: required");
    if (get_int(p, o, "log", "update_time", 1, INT64_MAX, &t) ||
        get_enum(p, o, "log", "result", sl_update_result_names, true,
                 &result) ||
        get_i32(p, o, "log", "success_num", &lg->success_num) ||
        get_i32(p, o, "log", "failed_num", &lg->failed_num) ||
        get_str(p, o, "log", "cluster_id", &lg->cluster_id) ||
        get_array(p, o, "log", "config", SLC_MAX_CONFIGS, &cfg,
                  &lg->n_config) ||
        get_array(p, o, "log", "result_detail", SLC_MAX_NODES, &nodes,
                  &lg->n_result_detail) ||
        get_array(p, o, "log", "extend_config", SLC_MAX_EXTEND_CONFIG, &ext,
                  &lg->n_extend_config))
        return -1;
    lg->update_time = t;
    lg->result = (modelarts_v1_UpdateResult)result;
    lg->config = l->config;
    for (size_t i = 0; i < lg->n_config; i++)
        if (parse_config(p, json_array_get(cfg, i), i, l))
            return -1;
    lg->result_detail = l->nodes;
    for (size_t i = 0; i < lg->n_result_detail; i++)
        if (parse_node(p, json_array_get(nodes, i), i, &l->nodes[i]))
            return -1;
    lg->extend_config = l->extend;
    for (size_t i = 0; i < lg->n_extend_config; i++) {
        json_t *v = json_array_get(ext, i);
        if (!json_is_string(v))
            return fail(p, "log.extend_config[%zu]: not a string", i);
        l->extend[i] = json_string_value(v);
    }
    return 0;
}

int cli_log_parse(const char *text, size_t len, struct cli_log *out, char *msg,
                  size_t msg_len)
{
    memset(out, 0, sizeof(*out));
    struct parse p = {msg, msg_len};
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return fail(&p, "not JSON: %s (line %d, column %d)", jerr.text,
                    jerr.line, jerr.column);
    out->root = root;
    return parse_log(&p, root, out);
}

void cli_log_free(struct cli_log *l)
{
    json_decref((json_t *)l->root);
    l->root = NULL;
}
