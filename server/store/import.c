/* import.c -- parse the import document, pack its logs, hand them to a store
 *
 * Streaming: import_scan.c finds each services[i] in the file; jansson
 * parses that one element (json_loadb); parse_service() checks it and
 * packs its logs; the services gathered are handed to the store's import
 * session in batches (stream_flush), and only their keys are kept
 * (import_keys.c) to refuse duplicates.
 *
 * Ownership: the jansson tree lives for one service. What survives it
 * (ids, names, packed logs) is copied into the set's arena, which a
 * streamed import empties after each batch. The protobuf-c messages built
 * to pack one log point into the jansson tree and live in a scratch arena
 * that is emptied after each log.
 *
 * Errors: the parser keeps the JSON path of the value it is looking at in
 * struct parse; fail() prefixes every message with it.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "import.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "import_keys.h"
#include "import_scan.h"
#include "limits.h"
#include "json_path.h"
#include "log_rules.h"
#include "modelarts/v1/service_logs.pb-c.h"
#include "names.h"
#include "validate.h"

/* State of one sl_import_parse() call. */
struct parse {
    struct sl_import_set *set; /* the result being built */
    struct sl_arena scratch;   /* protobuf-c messages of the current log */
    struct sl_err *err;        /* the caller's */
    int infer_type;            /* of the service being parsed */
    struct sl_jpath path;      /* JSON path of the value being parsed */
};

/* common/names.h spells the enums; unit/test_names checks its numbers
 * against the generated ones. */
static const char *const service_keys[] = {
    "project_id", "service_id", "service_name", "infer_type", "logs", NULL};
static const char *const log_keys[] = {
    "update_time",   "result",     "config",        "success_num", "failed_num",
    "result_detail", "cluster_id", "extend_config", NULL};
static const char *const edge_keys[] = {"success_num", "failed_num",
                                        "result_detail", NULL};
static const char *const config_keys[] = {"model_id",      "model_name",
                                          "model_version", "weight",
                                          "specification", "instance_count",
                                          "envs",          "custom_spec",
                                          "cluster_id",    NULL};
static const char *const custom_spec_keys[] = {"gpu_p4", "memory", "cpu",
                                               "ascend_a310", NULL};
static const char *const node_keys[] = {"node_id", "node_name", "operation",
                                        "result", NULL};

/* Sets the error: "<path>: <message>" ("$" for the top level). */
__attribute__((format(printf, 2, 3))) static int fail(struct parse *p,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = sl_jpath_vfail(&p->path, p->err, SL_EFORMAT, fmt, ap);
    va_end(ap);
    return rc;
}

static int oom(struct parse *p)
{
    return sl_err_set(p->err, SL_ENOMEM, "%s: out of memory",
                      sl_jpath_str(&p->path));
}

/* ---- typed fields ------------------------------------------------------
 * Each getter is called with the path of obj; it reports errors about the
 * member at the member's path and leaves the path as it found it. */

static int expect_object(struct parse *p, const json_t *v)
{
    return json_is_object(v) ? SL_OK : fail(p, "expected an object");
}

static int check_keys(struct parse *p, json_t *obj, const char *const *known)
{
    for (void *it = json_object_iter(obj); it;
         it = json_object_iter_next(obj, it)) {
        const char *key = json_object_iter_key(it);
        size_t i = 0;
        while (known[i] && strcmp(known[i], key) != 0)
            i++;
        if (!known[i])
            return fail(p, "unknown field \"%.64s\"", key);
    }
    return SL_OK;
}

/* Fields that only some infer_types have. */
static int check_only(struct parse *p, json_t *obj, const char *key,
                      int infer_type)
{
    if (p->infer_type == infer_type || !json_object_get(obj, key))
        return SL_OK;
    const char *want = sl_name_of(sl_infer_type_names, infer_type, "");
    const char *have = sl_name_of(sl_infer_type_names, p->infer_type, "");
    sl_jpath_field(&p->path, key);
    return fail(p, "only allowed for %s services (this service is %s)", want,
                have);
}

/* A string of min..max bytes; *out stays NULL when optional and absent. */
static int get_str(struct parse *p, json_t *obj, const char *key, bool required,
                   size_t min, size_t max, const char **out, size_t *len)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    *len = 0;
    if (!v)
        return required ? fail(p, "missing required field %s", key) : SL_OK;
    size_t old = sl_jpath_field(&p->path, key);
    if (!json_is_string(v))
        return fail(p, "expected a string");
    size_t n = json_string_length(v);
    if (n < min)
        return fail(p, "must not be empty");
    if (n > max)
        return fail(p, "longer than %zu bytes", max);
    *out = json_string_value(v);
    *len = n;
    sl_jpath_pop(&p->path, old);
    return SL_OK;
}

/* A project_id or service_id (validate.h). */
static int get_id(struct parse *p, json_t *obj, const char *key,
                  const char **out, size_t *len)
{
    int rc = get_str(p, obj, key, true, 0, SIZE_MAX, out, len);
    if (rc != SL_OK)
        return rc;
    if (!sl_id_valid(*out, *len)) {
        sl_jpath_field(&p->path, key);
        return fail(p, "expected 1-%d characters of [A-Za-z0-9_-]", SL_MAX_ID);
    }
    return SL_OK;
}

/* An integer 0..max, as a JSON number or a string of decimal digits (the
 * spec's example quotes numbers); 0 when optional and absent. */
static int get_uint(struct parse *p, json_t *obj, const char *key,
                    bool required, int64_t max, int64_t *out)
{
    json_t *v = json_object_get(obj, key);
    *out = 0;
    if (!v)
        return required ? fail(p, "missing required field %s", key) : SL_OK;
    size_t old = sl_jpath_field(&p->path, key);
    int64_t x = 0;
    if (json_is_integer(v)) {
        x = json_integer_value(v);
        if (x < 0 || x > max)
            return fail(p, "out of range (0 to %" PRId64 ")", max);
    } else if (json_is_real(v)) {
        return fail(p, "expected an integer (no fraction or exponent)");
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        for (size_t i = 0; i < n; i++)
            if (s[i] < '0' || s[i] > '9')
                n = 0;
        if (n == 0)
            return fail(p, "expected a string of decimal digits");
        for (size_t i = 0; i < n; i++) {
            int d = s[i] - '0';
            if (x > (max - d) / 10)
                return fail(p, "out of range (0 to %" PRId64 ")", max);
            x = x * 10 + d;
        }
    } else {
        return fail(p, "expected an integer (a number or a string of "
                       "digits)");
    }
    *out = x;
    sl_jpath_pop(&p->path, old);
    return SL_OK;
}

static int get_enum(struct parse *p, json_t *obj, const char *key,
                    const struct sl_name *names, const char *expected, int *out)
{
    json_t *v = json_object_get(obj, key);
    *out = 0;
    if (!v)
        return fail(p, "missing required field %s", key);
    size_t old = sl_jpath_field(&p->path, key);
    const char *s = json_string_value(v); /* NULL when not a string */
    if (!s || sl_name_value(names, s, json_string_length(v), out) != 0)
        return fail(p, "expected %s", expected);
    sl_jpath_pop(&p->path, old);
    return SL_OK;
}

/* An array of at most max entries; *out stays NULL when optional and
 * absent. */
static int get_array(struct parse *p, json_t *obj, const char *key,
                     bool required, size_t max, json_t **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v)
        return required ? fail(p, "missing required field %s", key) : SL_OK;
    size_t old = sl_jpath_field(&p->path, key);
    if (!json_is_array(v))
        return fail(p, "expected an array");
    if (json_array_size(v) > max)
        return fail(p, "too many entries (%zu, at most %zu)",
                    json_array_size(v), max);
    *out = v;
    sl_jpath_pop(&p->path, old);
    return SL_OK;
}

/* ---- one log ----------------------------------------------------------- */

/* envs: an object of strings, as map entries (sl_log_pack sorts them). */
static int parse_envs(struct parse *p, json_t *obj,
                      Modelarts__V1__ServiceConfig *c)
{
    json_t *envs = json_object_get(obj, "envs");
    if (!envs)
        return SL_OK;
    size_t old = sl_jpath_field(&p->path, "envs");
    if (!json_is_object(envs))
        return fail(p, "expected an object");
    size_t n = json_object_size(envs);
    if (n > SL_MAX_ENVS)
        return fail(p, "too many entries (%zu, at most %d)", n, SL_MAX_ENVS);
    if (n == 0) {
        sl_jpath_pop(&p->path, old);
        return SL_OK;
    }
    c->envs = sl_arena_alloc(&p->scratch, n * sizeof(*c->envs));
    if (!c->envs)
        return oom(p);
    for (void *it = json_object_iter(envs); it;
         it = json_object_iter_next(envs, it)) {
        const char *key = json_object_iter_key(it);
        json_t *v = json_object_iter_value(it);
        size_t o2 = sl_jpath_key(&p->path, key);
        size_t klen = strlen(key);
        if (klen == 0)
            return fail(p, "empty variable name");
        if (klen > SL_MAX_ENV_KEY)
            return fail(p, "variable name longer than %d bytes",
                        SL_MAX_ENV_KEY);
        if (!json_is_string(v))
            return fail(p, "expected a string");
        if (json_string_length(v) > SL_MAX_ENV_VALUE)
            return fail(p, "longer than %d bytes", SL_MAX_ENV_VALUE);
        Modelarts__V1__ServiceConfig__EnvsEntry *e =
            sl_arena_alloc(&p->scratch, sizeof(*e));
        if (!e)
            return oom(p);
        modelarts__v1__service_config__envs_entry__init(e);
        e->key = (char *)key;
        e->value = (char *)json_string_value(v);
        c->envs[c->n_envs++] = e;
        sl_jpath_pop(&p->path, o2);
    }
    sl_jpath_pop(&p->path, old);
    return SL_OK;
}

/* A JSON number (integer or not) as a float; 0 when absent. Range and
 * sign are log_rules.c's (a float that overflows reads as infinite). */
static int get_float(struct parse *p, json_t *obj, const char *key, float *out)
{
    json_t *v = json_object_get(obj, key);
    *out = 0;
    if (!v)
        return SL_OK;
    if (!json_is_number(v)) {
        sl_jpath_field(&p->path, key);
        return fail(p, "expected a number");
    }
    *out = (float)json_number_value(v);
    return SL_OK;
}

/* custom_spec: an object of optional numbers. */
static int parse_custom_spec(struct parse *p, json_t *obj,
                             Modelarts__V1__ServiceConfig *c)
{
    json_t *v = json_object_get(obj, "custom_spec");
    int64_t x;
    int rc;
    if (!v)
        return SL_OK;
    size_t old = sl_jpath_field(&p->path, "custom_spec");
    if ((rc = expect_object(p, v)) != SL_OK ||
        (rc = check_keys(p, v, custom_spec_keys)) != SL_OK)
        return rc;
    Modelarts__V1__CustomSpec *cs = sl_arena_alloc(&p->scratch, sizeof(*cs));
    if (!cs)
        return oom(p);
    modelarts__v1__custom_spec__init(cs);
    if ((rc = get_float(p, v, "gpu_p4", &cs->gpu_p4)) != SL_OK ||
        (rc = get_uint(p, v, "memory", false, INT32_MAX, &x)) != SL_OK)
        return rc;
    cs->memory = (int32_t)x;
    if ((rc = get_float(p, v, "cpu", &cs->cpu)) != SL_OK ||
        (rc = get_uint(p, v, "ascend_a310", false, INT32_MAX, &x)) != SL_OK)
        return rc;
    cs->ascend_a310 = (int32_t)x;
    c->custom_spec = cs;
    sl_jpath_pop(&p->path, old);
    return SL_OK;
}

static int parse_config(struct parse *p, json_t *obj,
                        Modelarts__V1__ServiceConfig **out)
{
    const char *s;
    size_t len;
    int64_t x;
    int rc;
    if ((rc = expect_object(p, obj)) != SL_OK ||
        (rc = check_keys(p, obj, config_keys)) != SL_OK ||
        (rc = check_only(p, obj, "weight",
                         MODELARTS__V1__INFER_TYPE__REAL_TIME)) != SL_OK ||
        (rc = check_only(p, obj, "instance_count",
                         MODELARTS__V1__INFER_TYPE__REAL_TIME)) != SL_OK)
        return rc;
    Modelarts__V1__ServiceConfig *c = sl_arena_alloc(&p->scratch, sizeof(*c));
    if (!c)
        return oom(p);
    modelarts__v1__service_config__init(c);
    if ((rc = get_str(p, obj, "model_id", true, 1, SL_MAX_ID, &s, &len)) !=
        SL_OK)
        return rc;
    c->model_id = (char *)s;
    if ((rc = get_str(p, obj, "model_name", true, 1, SL_MAX_NAME, &s, &len)) !=
        SL_OK)
        return rc;
    c->model_name = (char *)s;
    if ((rc = get_str(p, obj, "model_version", true, 1, SL_MAX_VERSION, &s,
                      &len)) != SL_OK)
        return rc;
    c->model_version = (char *)s;
    if ((rc = get_uint(p, obj, "weight", false, SL_MAX_WEIGHT, &x)) != SL_OK)
        return rc;
    c->weight = (int32_t)x;
    if ((rc = get_str(p, obj, "specification", false, 0, SL_MAX_NAME, &s,
                      &len)) != SL_OK)
        return rc;
    if (s)
        c->specification = (char *)s;
    if ((rc = get_uint(p, obj, "instance_count", false, INT32_MAX, &x)) !=
        SL_OK)
        return rc;
    c->instance_count = (int32_t)x;
    if ((rc = parse_envs(p, obj, c)) != SL_OK ||
        (rc = parse_custom_spec(p, obj, c)) != SL_OK ||
        (rc = get_str(p, obj, "cluster_id", false, 0, SIZE_MAX, &s, &len)) !=
            SL_OK)
        return rc;
    if (s)
        c->cluster_id = (char *)s;
    *out = c;
    return SL_OK;
}

static int parse_node(struct parse *p, json_t *obj,
                      Modelarts__V1__NodeResult **out)
{
    const char *s;
    size_t len;
    int op;
    int rc;
    if ((rc = expect_object(p, obj)) != SL_OK ||
        (rc = check_keys(p, obj, node_keys)) != SL_OK)
        return rc;
    Modelarts__V1__NodeResult *r = sl_arena_alloc(&p->scratch, sizeof(*r));
    if (!r)
        return oom(p);
    modelarts__v1__node_result__init(r);
    if ((rc = get_str(p, obj, "node_id", true, 1, SL_MAX_ID, &s, &len)) !=
        SL_OK)
        return rc;
    r->node_id = (char *)s;
    if ((rc = get_str(p, obj, "node_name", true, 1, SL_MAX_NAME, &s, &len)) !=
        SL_OK)
        return rc;
    r->node_name = (char *)s;
    if ((rc = get_enum(p, obj, "operation", sl_node_operation_names,
                       "deploy or delete", &op)) != SL_OK)
        return rc;
    r->operation = (Modelarts__V1__NodeOperation)op;
    json_t *v = json_object_get(obj, "result");
    if (!v)
        return fail(p, "missing required field result");
    if (!json_is_boolean(v)) {
        sl_jpath_field(&p->path, "result");
        return fail(p, "expected true or false");
    }
    r->result = json_is_true(v);
    *out = r;
    return SL_OK;
}

/* Parses the log at the current path into messages in p->scratch, holds it
 * to the log rules (log_rules.h) and packs it into the set's arena. */
static int parse_log(struct parse *p, json_t *obj, struct sl_import_log *out)
{
    Modelarts__V1__ServiceLog log = MODELARTS__V1__SERVICE_LOG__INIT;
    json_t *config, *detail;
    int64_t x;
    int result;
    int rc;
    if ((rc = expect_object(p, obj)) != SL_OK ||
        (rc = check_keys(p, obj, log_keys)) != SL_OK)
        return rc;
    for (size_t i = 0; edge_keys[i]; i++)
        if ((rc = check_only(p, obj, edge_keys[i],
                             MODELARTS__V1__INFER_TYPE__EDGE)) != SL_OK)
            return rc;
    if ((rc = get_uint(p, obj, "update_time", true, INT64_MAX,
                       &log.update_time)) != SL_OK ||
        (rc = get_enum(p, obj, "result", sl_update_result_names,
                       "SUCCESS, FAIL or RUNNING", &result)) != SL_OK ||
        (rc = get_array(p, obj, "config", true, SL_MAX_CONFIGS, &config)) !=
            SL_OK)
        return rc;
    log.result = (Modelarts__V1__UpdateResult)result;

    log.n_config = json_array_size(config);
    if (log.n_config) {
        log.config =
            sl_arena_alloc(&p->scratch, log.n_config * sizeof(*log.config));
        if (!log.config)
            return oom(p);
    }
    size_t old = sl_jpath_field(&p->path, "config");
    for (size_t i = 0; i < log.n_config; i++) {
        size_t o2 = sl_jpath_push(&p->path, "[%zu]", i);
        rc = parse_config(p, json_array_get(config, i), &log.config[i]);
        if (rc != SL_OK)
            return rc;
        sl_jpath_pop(&p->path, o2);
    }
    sl_jpath_pop(&p->path, old);

    if ((rc = get_uint(p, obj, "success_num", false, INT32_MAX, &x)) != SL_OK)
        return rc;
    log.success_num = (int32_t)x;
    if ((rc = get_uint(p, obj, "failed_num", false, INT32_MAX, &x)) != SL_OK)
        return rc;
    log.failed_num = (int32_t)x;
    if ((rc = get_array(p, obj, "result_detail", false, SL_MAX_NODES,
                        &detail)) != SL_OK)
        return rc;
    log.n_result_detail = detail ? json_array_size(detail) : 0;
    if (log.n_result_detail) {
        log.result_detail = sl_arena_alloc(
            &p->scratch, log.n_result_detail * sizeof(*log.result_detail));
        if (!log.result_detail)
            return oom(p);
    }
    old = sl_jpath_field(&p->path, "result_detail");
    for (size_t i = 0; i < log.n_result_detail; i++) {
        size_t o2 = sl_jpath_push(&p->path, "[%zu]", i);
        rc = parse_node(p, json_array_get(detail, i), &log.result_detail[i]);
        if (rc != SL_OK)
            return rc;
        sl_jpath_pop(&p->path, o2);
    }
    sl_jpath_pop(&p->path, old);

    const char *s;
    size_t len;
    json_t *extend;
    if ((rc = get_str(p, obj, "cluster_id", false, 0, SIZE_MAX, &s, &len)) !=
        SL_OK)
        return rc;
    if (s)
        log.cluster_id = (char *)s;
    if ((rc = get_array(p, obj, "extend_config", false, SL_MAX_EXTEND,
                        &extend)) != SL_OK)
        return rc;
    log.n_extend_config = extend ? json_array_size(extend) : 0;
    if (log.n_extend_config) {
        log.extend_config = sl_arena_alloc(
            &p->scratch, log.n_extend_config * sizeof(*log.extend_config));
        if (!log.extend_config)
            return oom(p);
    }
    for (size_t i = 0; i < log.n_extend_config; i++) {
        const char *e = json_string_value(json_array_get(extend, i));
        if (!e) {
            sl_jpath_push(&p->path, ".extend_config[%zu]", i);
            return fail(p, "expected a string");
        }
        log.extend_config[i] = (char *)e;
    }

    /* The rules import shares with the writers (bounds, presence by value,
     * the new fields'), then the one canonical packing. */
    if ((rc = sl_log_check(&log, p->infer_type, p->path.buf, SL_EFORMAT,
                           p->err)) != SL_OK)
        return rc;
    if (sl_log_pack(&log, &p->scratch, &p->set->arena, out, p->err) != SL_OK)
        return oom(p);
    return SL_OK;
}

/* ---- services and the document ---------------------------------------- */

static int copy_str(struct parse *p, const char *s, size_t len,
                    const char **out)
{
    *out = sl_arena_strndup(&p->set->arena, s, len);
    return *out ? SL_OK : oom(p);
}

static int parse_service(struct parse *p, json_t *obj,
                         struct sl_import_service *svc)
{
    const char *s;
    size_t len;
    json_t *logs;
    int rc;
    if ((rc = expect_object(p, obj)) != SL_OK ||
        (rc = check_keys(p, obj, service_keys)) != SL_OK)
        return rc;
    if ((rc = get_id(p, obj, "project_id", &s, &len)) != SL_OK ||
        (rc = copy_str(p, s, len, &svc->project_id)) != SL_OK ||
        (rc = get_id(p, obj, "service_id", &s, &len)) != SL_OK ||
        (rc = copy_str(p, s, len, &svc->service_id)) != SL_OK ||
        (rc = get_str(p, obj, "service_name", true, 1, SL_MAX_NAME, &s,
                      &len)) != SL_OK ||
        (rc = copy_str(p, s, len, &svc->service_name)) != SL_OK ||
        (rc = get_enum(p, obj, "infer_type", sl_infer_type_names,
                       "real-time, edge or batch", &svc->infer_type)) !=
            SL_OK ||
        (rc = get_array(p, obj, "logs", true, SIZE_MAX, &logs)) != SL_OK)
        return rc;
    p->infer_type = svc->infer_type;

    size_t n = json_array_size(logs);
    struct sl_import_log *out = NULL;
    if (n) {
        if (n > SIZE_MAX / sizeof(*out))
            return oom(p);
        out = sl_arena_alloc(&p->set->arena, n * sizeof(*out));
        if (!out)
            return oom(p);
    }
    size_t old = sl_jpath_field(&p->path, "logs");
    for (size_t i = 0; i < n; i++) {
        size_t o2 = sl_jpath_push(&p->path, "[%zu]", i);
        rc = parse_log(p, json_array_get(logs, i), &out[i]);
        sl_arena_free(&p->scratch);
        if (rc != SL_OK)
            return rc;
        sl_jpath_pop(&p->path, o2);
    }
    sl_jpath_pop(&p->path, old);
    svc->logs = out;
    svc->n_logs = n;
    p->set->n_logs += n;
    return SL_OK;
}

/* ---- the document, one service at a time -------------------------------- */

#define IMPORT_BATCH_BYTES (4u << 20) /* packed logs handed over at once */
#define IMPORT_BATCH_SERVICES 1024    /* services handed over at once */

/* State of one streamed import. The services parsed since the last batch
 * went to the store live in svcs (malloc'd) and p.set->arena; without a
 * store, every service stays (sl_import_parse). */
struct stream {
    struct parse p;                 /* p.set: the services held now */
    struct sl_import_keys seen;     /* every key so far */
    struct sl_import_service *svcs; /* held services, file order */
    size_t n, cap;                  /* in svcs; its room */
    size_t held_bytes;              /* their packed logs, about */
    size_t n_services, n_logs;      /* over the whole document */
    struct sl_store *st;            /* the session's store; NULL: keep all */
};

/* Hands the held services to the store's session, then forgets them. */
static int stream_flush(struct stream *s, struct sl_err *err)
{
    if (!s->st || s->n == 0)
        return SL_OK;
    int rc = sl_store_import_add(s->st, s->svcs, s->n, err);
    sl_arena_free(&s->p.set->arena);
    sl_arena_init(&s->p.set->arena);
    s->n = 0;
    s->held_bytes = 0;
    return rc;
}

/* Parses services[i] from its text (which starts at line, column). */
static int stream_service(struct stream *s, size_t i, const char *text,
                          size_t len, int line, int column)
{
    struct parse *p = &s->p;
    json_error_t jerr;
    size_t first;
    int rc;

    json_t *obj =
        json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!obj)
        return sl_scan_json_error(&jerr, line, column, p->err);
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        struct sl_import_service *v = realloc(s->svcs, cap * sizeof(*v));
        if (!v) {
            json_decref(obj);
            return oom(p);
        }
        s->svcs = v;
        s->cap = cap;
    }
    struct sl_import_service *svc = &s->svcs[s->n];
    size_t old = sl_jpath_push(&p->path, "services[%zu]", i);
    rc = parse_service(p, obj, svc);
    json_decref(obj);
    if (rc != SL_OK)
        return rc;
    if ((rc = sl_import_keys_add(&s->seen, svc, i, &first)) != SL_OK)
        return rc == SL_ENOMEM ? oom(p) : fail(p, "internal error");
    if (first != SIZE_MAX) {
        sl_jpath_field(&p->path, "service_id");
        return fail(p, "duplicate of services[%zu]", first);
    }
    sl_jpath_pop(&p->path, old);
    s->n++;
    s->n_services++;
    s->n_logs += svc->n_logs;
    for (size_t j = 0; j < svc->n_logs; j++)
        s->held_bytes += svc->logs[j].body.len + sizeof(svc->logs[j]);
    if (s->held_bytes >= IMPORT_BATCH_BYTES || s->n >= IMPORT_BATCH_SERVICES)
        return stream_flush(s, p->err);
    return SL_OK;
}

/* Runs the document through sc into s (and its store). */
static int stream_run(struct stream *s, struct sl_scan *sc)
{
    for (size_t i = 0;; i++) {
        const char *text;
        size_t len;
        int line, column, rc;
        bool done;
        if ((rc = sl_scan_next(sc, &text, &len, &line, &column, &done,
                               s->p.err)) != SL_OK)
            return rc;
        if (done)
            return stream_flush(s, s->p.err);
        if ((rc = stream_service(s, i, text, len, line, column)) != SL_OK)
            return rc;
    }
}

static void stream_init(struct stream *s, struct sl_import_set *set,
                        struct sl_store *st, struct sl_err *err)
{
    memset(s, 0, sizeof(*s));
    s->p.set = set;
    s->p.err = err;
    s->st = st;
    sl_import_set_init(set);
    sl_arena_init(&s->p.scratch);
    sl_import_keys_init(&s->seen);
}

static void stream_free(struct stream *s)
{
    sl_arena_free(&s->p.scratch);
    sl_import_keys_free(&s->seen);
    free(s->svcs);
}

void sl_import_set_init(struct sl_import_set *set)
{
    set->services = NULL;
    set->n_services = 0;
    set->n_logs = 0;
    sl_arena_init(&set->arena);
}

void sl_import_set_free(struct sl_import_set *set)
{
    sl_arena_free(&set->arena);
    sl_import_set_init(set);
}

int sl_import_parse(const char *json, size_t len, struct sl_import_set *out,
                    struct sl_err *err)
{
    struct stream s;
    struct sl_scan sc;
    int rc;

    stream_init(&s, out, NULL, err);
    sl_scan_init_mem(&sc, json, len);
    if ((rc = stream_run(&s, &sc)) == SL_OK && s.n) {
        out->services =
            sl_arena_alloc(&out->arena, s.n * sizeof(*out->services));
        if (!out->services)
            rc = oom(&s.p);
        else
            memcpy(out->services, s.svcs, s.n * sizeof(*out->services));
        out->n_services = s.n;
    }
    sl_scan_free(&sc);
    stream_free(&s);
    if (rc != SL_OK)
        sl_import_set_free(out);
    return rc;
}

/* SL_EIO naming path and errno's text. (strerror: glibc's is thread-safe
 * since 2.32, and strerror_r has two incompatible prototypes.) */
static int io_error(const char *path, struct sl_err *err)
{
    return sl_err_set(err, SL_EIO, "%s: %s", path, strerror(errno));
}

/* Reads the whole file at fd into b (a backend without sessions). */
static int read_all(int fd, const char *path, struct sl_buf *b,
                    struct sl_err *err)
{
    for (;;) {
        if (!sl_buf_reserve(b, 1 << 16))
            return sl_err_set(err, SL_ENOMEM, "%s: out of memory", path);
        ssize_t r = read(fd, b->data + b->len, b->cap - b->len);
        if (r == 0)
            return SL_OK;
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return io_error(path, err);
        b->len += (size_t)r;
    }
}

/* A store.h v4 backend: the whole file, parsed, in one sl_store_import. */
static int import_whole(struct sl_store *st, int fd, const char *path,
                        size_t *n_services, size_t *n_logs, struct sl_err *err)
{
    struct sl_import_set set;
    struct sl_buf b;
    int rc;
    sl_import_set_init(&set);
    sl_buf_init(&b);
    if ((rc = read_all(fd, path, &b, err)) == SL_OK &&
        (rc = sl_import_parse(b.data ? b.data : "", b.len, &set, err)) ==
            SL_OK &&
        (rc = sl_store_import(st, set.services, set.n_services, err)) ==
            SL_OK) {
        *n_services = set.n_services;
        *n_logs = set.n_logs;
    }
    sl_import_set_free(&set);
    sl_buf_free(&b);
    return rc;
}

int sl_import_file(struct sl_store *st, const char *path, size_t *n_services,
                   size_t *n_logs, struct sl_err *err)
{
    struct sl_import_set batch;
    struct stream s;
    struct sl_scan sc;
    size_t ns = 0, nl = 0;
    int rc;

    if (n_services)
        *n_services = 0;
    if (n_logs)
        *n_logs = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return io_error(path, err);
    rc = sl_store_import_begin(st, err);
    if (rc == SL_EMETHOD) {
        rc = import_whole(st, fd, path, &ns, &nl, err);
        close(fd);
        goto out;
    }
    if (rc != SL_OK) {
        close(fd);
        return rc;
    }
    stream_init(&s, &batch, st, err);
    sl_scan_init_fd(&sc, fd, path);
    rc = stream_run(&s, &sc);
    if (rc == SL_OK) {
        rc = sl_store_import_end(st, true, err);
    } else {
        struct sl_err ignored;
        sl_store_import_end(st, false, &ignored);
    }
    ns = s.n_services;
    nl = s.n_logs;
    sl_scan_free(&sc);
    stream_free(&s);
    sl_import_set_free(&batch);
    close(fd);
out:
    if (rc == SL_OK && n_services)
        *n_services = ns;
    if (rc == SL_OK && n_logs)
        *n_logs = nl;
    return rc;
}
