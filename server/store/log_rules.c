/* log_rules.c -- the rules of a service log, for import and the writers
 *
 * Pure functions over protobuf-c messages the caller owns. The path of the
 * value being checked is kept in struct path (json_path.h: bounded; a long
 * one is cut, never overflowed); bad() prefixes every message with it.
 */
#include "log_rules.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_path.h"
#include "limits.h"
#include "names.h"
#include "wire.h"

_Static_assert(SL_INFER_REAL_TIME == MODELARTS__V1__INFER_TYPE__REAL_TIME &&
                   SL_INFER_EDGE == MODELARTS__V1__INFER_TYPE__EDGE,
               "names.h and the proto disagree");

/* The path of the value being checked, and where errors go. */
struct path {
    struct sl_err *err;
    int code;
    struct sl_jpath jp;
};

__attribute__((format(printf, 2, 3))) static int bad(struct path *p,
                                                     const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = sl_jpath_vfail(&p->jp, p->err, p->code, fmt, ap);
    va_end(ap);
    return rc;
}

/* Field name of p at the error only: pushes, reports, and the caller
 * returns (the path is not popped: the error is final). */
#define BAD_FIELD(p, name, ...)                                                \
    (sl_jpath_field(&(p)->jp, (name)), bad((p), __VA_ARGS__))

/* A string field: min..max bytes of UTF-8. NULL reads as "". */
static int check_str(struct path *p, const char *name, const char *s,
                     size_t min, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n < min)
        return BAD_FIELD(p, name, "must not be empty");
    if (n > max)
        return BAD_FIELD(p, name, "longer than %zu bytes", max);
    if (n && !sl_wire_utf8((const uint8_t *)s, n))
        return BAD_FIELD(p, name, "not valid UTF-8");
    return SL_OK;
}

static int check_range(struct path *p, const char *name, int64_t v, int64_t max)
{
    if (v < 0 || v > max)
        return BAD_FIELD(p, name, "out of range (0 to %lld)", (long long)max);
    return SL_OK;
}

/* A field only services of infer_type `only` have, present (non-zero) in a
 * log of a service of p's infer_type. */
static int check_only(struct path *p, const char *name, bool present, int only,
                      int infer_type)
{
    if (!present || infer_type == only)
        return SL_OK;
    return BAD_FIELD(p, name,
                     "only allowed for %s services (this service is %s)",
                     sl_name_of(sl_infer_type_names, only, ""),
                     sl_name_of(sl_infer_type_names, infer_type, "unknown"));
}

static int check_count(struct path *p, const char *name, size_t n, size_t max)
{
    if (n > max)
        return BAD_FIELD(p, name, "too many entries (%zu, at most %zu)", n,
                         max);
    return SL_OK;
}

static int check_float(struct path *p, const char *name, float v)
{
    if (!isfinite(v) || v < 0)
        return BAD_FIELD(p, name, "must be a finite number, not negative");
    return SL_OK;
}

static int check_custom_spec(struct path *p, const Modelarts__V1__CustomSpec *s)
{
    int rc;
    size_t old = sl_jpath_field(&p->jp, "custom_spec");
    if ((rc = check_float(p, "gpu_p4", s->gpu_p4)) != SL_OK ||
        (rc = check_range(p, "memory", s->memory, INT32_MAX)) != SL_OK ||
        (rc = check_float(p, "cpu", s->cpu)) != SL_OK ||
        (rc = check_range(p, "ascend_a310", s->ascend_a310, INT32_MAX)) !=
            SL_OK)
        return rc;
    sl_jpath_pop(&p->jp, old);
    return SL_OK;
}

static int check_envs(struct path *p, const Modelarts__V1__ServiceConfig *c)
{
    int rc;
    if ((rc = check_count(p, "envs", c->n_envs, SL_MAX_ENVS)) != SL_OK)
        return rc;
    size_t old = sl_jpath_field(&p->jp, "envs");
    for (size_t i = 0; i < c->n_envs; i++) {
        const char *key = c->envs[i]->key ? c->envs[i]->key : "";
        const char *value = c->envs[i]->value ? c->envs[i]->value : "";
        size_t klen = strlen(key), vlen = strlen(value);
        size_t o2 = sl_jpath_key(&p->jp, key);
        if (klen == 0)
            return bad(p, "empty variable name");
        if (klen > SL_MAX_ENV_KEY)
            return bad(p, "variable name longer than %d bytes", SL_MAX_ENV_KEY);
        if (!sl_wire_utf8((const uint8_t *)key, klen))
            return bad(p, "variable name not valid UTF-8");
        if (vlen > SL_MAX_ENV_VALUE)
            return bad(p, "longer than %d bytes", SL_MAX_ENV_VALUE);
        if (!sl_wire_utf8((const uint8_t *)value, vlen))
            return bad(p, "not valid UTF-8");
        for (size_t j = 0; j < i; j++) /* at most 16: quadratic is fine */
            if (c->envs[j]->key && strcmp(c->envs[j]->key, key) == 0)
                return bad(p, "duplicate variable name");
        sl_jpath_pop(&p->jp, o2);
    }
    sl_jpath_pop(&p->jp, old);
    return SL_OK;
}

static int check_config(struct path *p, const Modelarts__V1__ServiceConfig *c,
                        int infer_type)
{
    int rc;
    if ((rc = check_str(p, "model_id", c->model_id, 1, SL_MAX_ID)) != SL_OK ||
        (rc = check_str(p, "model_name", c->model_name, 1, SL_MAX_NAME)) !=
            SL_OK ||
        (rc = check_str(p, "model_version", c->model_version, 1,
                        SL_MAX_VERSION)) != SL_OK ||
        (rc = check_range(p, "weight", c->weight, SL_MAX_WEIGHT)) != SL_OK ||
        (rc = check_only(p, "weight", c->weight != 0,
                         MODELARTS__V1__INFER_TYPE__REAL_TIME, infer_type)) !=
            SL_OK ||
        (rc = check_str(p, "specification", c->specification, 0,
                        SL_MAX_NAME)) != SL_OK ||
        (rc = check_range(p, "instance_count", c->instance_count, INT32_MAX)) !=
            SL_OK ||
        (rc = check_only(p, "instance_count", c->instance_count != 0,
                         MODELARTS__V1__INFER_TYPE__REAL_TIME, infer_type)) !=
            SL_OK ||
        (rc = check_envs(p, c)) != SL_OK ||
        (c->custom_spec &&
         (rc = check_custom_spec(p, c->custom_spec)) != SL_OK) ||
        (rc = check_str(p, "cluster_id", c->cluster_id, 0,
                        SL_MAX_CLUSTER_ID)) != SL_OK)
        return rc;
    return SL_OK;
}

static int check_node(struct path *p, const Modelarts__V1__NodeResult *r)
{
    int rc;
    if ((rc = check_str(p, "node_id", r->node_id, 1, SL_MAX_ID)) != SL_OK ||
        (rc = check_str(p, "node_name", r->node_name, 1, SL_MAX_NAME)) != SL_OK)
        return rc;
    if (r->operation != MODELARTS__V1__NODE_OPERATION__DEPLOY &&
        r->operation != MODELARTS__V1__NODE_OPERATION__DELETE)
        return BAD_FIELD(p, "operation", "expected deploy or delete");
    return SL_OK;
}

int sl_log_check(const Modelarts__V1__ServiceLog *log, int infer_type,
                 const char *prefix, int code, struct sl_err *err)
{
    struct path p = {.err = err, .code = code};
    int rc;
    sl_jpath_push(&p.jp, "%s", prefix ? prefix : "");
    if (log->update_time < 0)
        return BAD_FIELD(&p, "update_time", "must not be negative");
    if (log->result != MODELARTS__V1__UPDATE_RESULT__SUCCESS &&
        log->result != MODELARTS__V1__UPDATE_RESULT__FAIL &&
        log->result != MODELARTS__V1__UPDATE_RESULT__RUNNING)
        return BAD_FIELD(&p, "result", "expected SUCCESS, FAIL or RUNNING");
    if ((rc = check_count(&p, "config", log->n_config, SL_MAX_CONFIGS)) !=
        SL_OK)
        return rc;
    for (size_t i = 0; i < log->n_config; i++) {
        size_t old = sl_jpath_field(&p.jp, "config");
        sl_jpath_push(&p.jp, "[%zu]", i);
        if ((rc = check_config(&p, log->config[i], infer_type)) != SL_OK)
            return rc;
        sl_jpath_pop(&p.jp, old);
    }
    if ((rc = check_range(&p, "success_num", log->success_num, INT32_MAX)) !=
            SL_OK ||
        (rc = check_only(&p, "success_num", log->success_num != 0,
                         MODELARTS__V1__INFER_TYPE__EDGE, infer_type)) !=
            SL_OK ||
        (rc = check_range(&p, "failed_num", log->failed_num, INT32_MAX)) !=
            SL_OK ||
        (rc = check_only(&p, "failed_num", log->failed_num != 0,
                         MODELARTS__V1__INFER_TYPE__EDGE, infer_type)) !=
            SL_OK ||
        (rc = check_count(&p, "result_detail", log->n_result_detail,
                          SL_MAX_NODES)) != SL_OK ||
        (rc = check_only(&p, "result_detail", log->n_result_detail != 0,
                         MODELARTS__V1__INFER_TYPE__EDGE, infer_type)) != SL_OK)
        return rc;
    for (size_t i = 0; i < log->n_result_detail; i++) {
        size_t old = sl_jpath_field(&p.jp, "result_detail");
        sl_jpath_push(&p.jp, "[%zu]", i);
        if ((rc = check_node(&p, log->result_detail[i])) != SL_OK)
            return rc;
        sl_jpath_pop(&p.jp, old);
    }
    if ((rc = check_str(&p, "cluster_id", log->cluster_id, 0,
                        SL_MAX_CLUSTER_ID)) != SL_OK ||
        (rc = check_count(&p, "extend_config", log->n_extend_config,
                          SL_MAX_EXTEND)) != SL_OK)
        return rc;
    for (size_t i = 0; i < log->n_extend_config; i++) {
        size_t old = sl_jpath_field(&p.jp, "extend_config");
        sl_jpath_push(&p.jp, "[%zu]", i);
        const char *s = log->extend_config[i] ? log->extend_config[i] : "";
        size_t n = strlen(s);
        if (n == 0)
            return bad(&p, "must not be empty");
        if (n > SL_MAX_EXTEND_LEN)
            return bad(&p, "longer than %d bytes", SL_MAX_EXTEND_LEN);
        if (!sl_wire_utf8((const uint8_t *)s, n))
            return bad(&p, "not valid UTF-8");
        sl_jpath_pop(&p.jp, old);
    }
    return SL_OK;
}

/* ---- the canonical form ------------------------------------------------ */

static int cmp_env(const void *a, const void *b)
{
    const Modelarts__V1__ServiceConfig__EnvsEntry *x =
        *(Modelarts__V1__ServiceConfig__EnvsEntry *const *)a;
    const Modelarts__V1__ServiceConfig__EnvsEntry *y =
        *(Modelarts__V1__ServiceConfig__EnvsEntry *const *)b;
    return strcmp(x->key ? x->key : "", y->key ? y->key : "");
}

/* A copy of the n pointers of v (each copied struct of `size` bytes) in a,
 * unknown fields dropped; NULL when n is 0 or memory runs out (*ok false
 * then). */
static void **copy_msgs(struct sl_arena *a, void *const *v, size_t n,
                        size_t size, bool *ok)
{
    if (n == 0)
        return NULL;
    void **out = sl_arena_alloc(a, n * sizeof(*out));
    for (size_t i = 0; out && i < n; i++) {
        ProtobufCMessage *m = sl_arena_alloc(a, size);
        if (!m) {
            out = NULL;
            break;
        }
        memcpy(m, v[i], size);
        m->n_unknown_fields = 0;
        m->unknown_fields = NULL;
        out[i] = m;
    }
    if (!out)
        *ok = false;
    return out;
}

int sl_log_pack(const Modelarts__V1__ServiceLog *log, struct sl_arena *scratch,
                struct sl_arena *out_a, struct sl_import_log *out,
                struct sl_err *err)
{
    bool ok = true;
    memset(out, 0, sizeof(*out));
    Modelarts__V1__ServiceLog l = *log;
    l.base.n_unknown_fields = 0;
    l.base.unknown_fields = NULL;
    l.config = (Modelarts__V1__ServiceConfig **)copy_msgs(
        scratch, (void *const *)log->config, log->n_config,
        sizeof(**log->config), &ok);
    l.result_detail = (Modelarts__V1__NodeResult **)copy_msgs(
        scratch, (void *const *)log->result_detail, log->n_result_detail,
        sizeof(**log->result_detail), &ok);
    for (size_t i = 0; ok && i < l.n_config; i++) {
        Modelarts__V1__ServiceConfig *c = l.config[i];
        c->envs = (Modelarts__V1__ServiceConfig__EnvsEntry **)copy_msgs(
            scratch, (void *const *)c->envs, c->n_envs, sizeof(**c->envs), &ok);
        if (ok && c->n_envs > 1)
            qsort(c->envs, c->n_envs, sizeof(*c->envs), cmp_env);
        if (ok && c->custom_spec) {
            Modelarts__V1__CustomSpec *cs =
                sl_arena_alloc(scratch, sizeof(*cs));
            if (cs) {
                *cs = *c->custom_spec;
                cs->base.n_unknown_fields = 0;
                cs->base.unknown_fields = NULL;
            }
            c->custom_spec = cs;
            ok = cs != NULL;
        }
    }
    if (!ok)
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    size_t len = modelarts__v1__service_log__get_packed_size(&l);
    uint8_t *buf = sl_arena_alloc(out_a, len ? len : 1);
    if (!buf)
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    modelarts__v1__service_log__pack(&l, buf);
    out->update_time = l.update_time;
    out->body.data = buf;
    out->body.len = len;
    return SL_OK;
}

/* ---- strings on the wire ----------------------------------------------- */

#define MAX_DEPTH 16  /* deeper than any of our messages */
#define MAX_FIELDS 32 /* per type, for the repeated fields' indexes */

static int walk(const ProtobufCMessageDescriptor *d, const uint8_t *p,
                const uint8_t *end, struct path *path, int depth)
{
    unsigned seen[MAX_FIELDS] = {0};
    if (depth > MAX_DEPTH)
        return SL_OK; /* protobuf-c refuses or reads it; not ours */
    while (p < end) {
        struct sl_wire_field f;
        if (sl_wire_next(&p, end, &f) < 0)
            return SL_OK; /* malformed: unpack says so */
        if (f.type != 2)
            continue;
        const ProtobufCFieldDescriptor *fd =
            protobuf_c_message_descriptor_get_field(d, f.number);
        if (!fd || (fd->type != PROTOBUF_C_TYPE_STRING &&
                    fd->type != PROTOBUF_C_TYPE_MESSAGE))
            continue;
        size_t idx = (size_t)(fd - d->fields);
        size_t old = sl_jpath_field(&path->jp, fd->name);
        if (fd->label == PROTOBUF_C_LABEL_REPEATED)
            sl_jpath_push(&path->jp, "[%u]",
                          idx < MAX_FIELDS ? seen[idx]++ : 0);
        if (fd->type == PROTOBUF_C_TYPE_STRING) {
            if (memchr(f.data, 0, f.len))
                return bad(path, "contains a NUL byte");
            if (!sl_wire_utf8(f.data, f.len))
                return bad(path, "not valid UTF-8");
        } else {
            int rc =
                walk(fd->descriptor, f.data, f.data + f.len, path, depth + 1);
            if (rc != SL_OK)
                return rc;
        }
        sl_jpath_pop(&path->jp, old);
    }
    return SL_OK;
}

int sl_pb_check_strings(const ProtobufCMessageDescriptor *d, const uint8_t *msg,
                        size_t len, int code, struct sl_err *err)
{
    struct path p = {.err = err, .code = code};
    return walk(d, msg, msg + len, &p, 0);
}
