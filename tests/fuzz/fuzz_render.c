/* fuzz_render.c -- the REST body renderer (sl_render_logs_json)
 *
 * Input, used twice: (1) as a packed QueryServiceLogsResponse, rendered
 * when protobuf-c unpacks it (most random bytes do not); (2) as a recipe
 * for a response built field by field (fuzz_reader): strings of arbitrary
 * bytes (invalid UTF-8, control characters, NULL pointers), enums in and
 * out of range, random counts and numbers. Beyond "no crash":
 * - the body is one line of JSON, ending in its only raw newline, with no
 *   other raw control byte, and jansson parses it (flags 0);
 * - dumping the parsed value and parsing it again gives an equal value,
 *   and dumping that gives the same text (a stable round trip);
 * - the parsed document says what the message says: the keys present per
 *   infer_type (render_json.h), every number, every enum's spelling, every
 *   boolean; the live platform's fields (cluster_id, extend_config,
 *   custom_spec) exactly when set, floats as numbers that read back as
 *   the same float (null for NaN and infinities); a string that is valid UTF-8
 * comes back byte-identical, any other comes back with each maximal invalid
 * subpart replaced by one U+FFFD (checked against a reference written here from
 * Unicode's table 3-7); envs keys map to their last value.
 * The streamed rendering (sl_json_stream_*, from the packed bytes, in
 * parts of a size the input picks) gives the very same bytes: of the input
 * itself when protobuf-c unpacks it, and of the built response packed.
 */
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "error.h"
#include "fuzz.h"
#include "render_json.h"

typedef Modelarts__V1__QueryServiceLogsResponse Resp;
typedef Modelarts__V1__ServiceLog Log;
typedef Modelarts__V1__ServiceConfig Config;
typedef Modelarts__V1__ServiceConfig__EnvsEntry Env;
typedef Modelarts__V1__NodeResult Node;
typedef Modelarts__V1__CustomSpec Spec;

/* ---- the reference UTF-8 repair ---------------------------------------- */

/* Unicode 15 table 3-7: the well-formed byte sequences, by lead byte. */
struct wf_row {
    unsigned char lead_lo, lead_hi; /* lead byte range */
    unsigned char n;                /* bytes after the lead */
    unsigned char lo, hi;           /* range of the second byte */
};

static const struct wf_row wf_rows[] = {
    {0xC2, 0xDF, 1, 0x80, 0xBF}, {0xE0, 0xE0, 2, 0xA0, 0xBF},
    {0xE1, 0xEC, 2, 0x80, 0xBF}, {0xED, 0xED, 2, 0x80, 0x9F},
    {0xEE, 0xEF, 2, 0x80, 0xBF}, {0xF0, 0xF0, 3, 0x90, 0xBF},
    {0xF1, 0xF3, 3, 0x80, 0xBF}, {0xF4, 0xF4, 3, 0x80, 0x8F},
};

/* How many bytes at s form a prefix of a well-formed sequence (a whole
 * one when *complete). s is NUL-terminated; NUL never continues one. */
static size_t wf_prefix(const unsigned char *s, bool *complete)
{
    *complete = false;
    if (s[0] < 0x80) {
        *complete = true;
        return 1;
    }
    for (size_t i = 0; i < sizeof(wf_rows) / sizeof(wf_rows[0]); i++) {
        const struct wf_row *w = &wf_rows[i];
        if (s[0] < w->lead_lo || s[0] > w->lead_hi)
            continue;
        size_t k = 1;
        if (s[1] >= w->lo && s[1] <= w->hi) {
            k = 2;
            while (k <= w->n && s[k] >= 0x80 && s[k] <= 0xBF)
                k++;
        }
        *complete = k == (size_t)w->n + 1;
        return k;
    }
    return 0; /* not a lead byte */
}

/* s with every maximal ill-formed subpart replaced by U+FFFD, in a
 * malloc'd string. */
static char *ref_repair(const char *in)
{
    const unsigned char *s = (const unsigned char *)in;
    char *out = malloc(3 * strlen(in) + 1), *o = out;
    FUZZ_CHECK(out != NULL);
    while (*s) {
        bool complete;
        size_t k = wf_prefix(s, &complete);
        if (complete) {
            memcpy(o, s, k);
            o += k;
        } else {
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3;
        }
        s += k ? k : 1;
    }
    *o = '\0';
    return out;
}

/* ---- checking one rendering -------------------------------------------- */

static bool utf8_valid(const char *s)
{
    json_t *j = json_string(s); /* jansson checks, independently */
    json_decref(j);
    return j != NULL;
}

static void check_str(json_t *obj, const char *key, const char *in)
{
    json_t *v = json_object_get(obj, key);
    FUZZ_CHECK(json_is_string(v));
    const char *got = json_string_value(v);
    size_t got_len = json_string_length(v);
    if (!in)
        in = "";
    if (utf8_valid(in)) {
        FUZZ_CHECK(got_len == strlen(in) && memcmp(got, in, got_len) == 0);
    } else {
        char *want = ref_repair(in);
        FUZZ_CHECK(got_len == strlen(want) && memcmp(got, want, got_len) == 0);
        free(want);
    }
}

static void check_int(json_t *obj, const char *key, int64_t want)
{
    json_t *v = json_object_get(obj, key);
    FUZZ_CHECK(json_is_integer(v));
    FUZZ_CHECK(json_integer_value(v) == want);
}

static void check_name(json_t *obj, const char *key, const char *want)
{
    json_t *v = json_object_get(obj, key);
    FUZZ_CHECK(json_is_string(v));
    FUZZ_CHECK(strcmp(json_string_value(v), want) == 0);
}

static void check_envs(json_t *envs, const Config *c)
{
    FUZZ_CHECK(json_is_object(envs));
    size_t distinct = 0;
    char **keys = calloc(c->n_envs + 1, sizeof(*keys));
    FUZZ_CHECK(keys != NULL);
    for (size_t i = 0; i < c->n_envs; i++)
        keys[i] = ref_repair(c->envs[i]->key ? c->envs[i]->key : "");
    for (size_t i = 0; i < c->n_envs; i++) {
        bool later = false;
        for (size_t j = i + 1; j < c->n_envs && !later; j++)
            later = strcmp(keys[i], keys[j]) == 0;
        if (later)
            continue; /* jansson keeps the last of equal keys */
        distinct++;
        check_str(envs, keys[i], c->envs[i]->value);
    }
    FUZZ_CHECK(json_object_size(envs) == distinct);
    for (size_t i = 0; i < c->n_envs; i++)
        free(keys[i]);
    free(keys);
}

static bool str_set(const char *s)
{
    return s && s[0];
}

/* A float printed by sl_json_float: null when not finite, else a number
 * that reads back as f (jansson reads it as a double: allow the one ulp a
 * double rounding may cost). */
static void check_float(json_t *obj, const char *key, float f)
{
    json_t *v = json_object_get(obj, key);
    if (!isfinite(f)) {
        FUZZ_CHECK(json_is_null(v));
        return;
    }
    FUZZ_CHECK(json_is_number(v));
    float got = (float)json_number_value(v);
    if (got == f)
        return;
    uint32_t a, b; /* same sign, adjacent bit patterns: one ulp apart */
    memcpy(&a, &got, sizeof(a));
    memcpy(&b, &f, sizeof(b));
    FUZZ_CHECK(a - b == 1u || b - a == 1u);
}

static void check_spec(json_t *o, const Spec *sp)
{
    FUZZ_CHECK(json_is_object(o) && json_object_size(o) == 4);
    check_float(o, "gpu_p4", sp->gpu_p4);
    check_int(o, "memory", sp->memory);
    check_float(o, "cpu", sp->cpu);
    check_int(o, "ascend_a310", sp->ascend_a310);
}

static void check_config(json_t *o, const Config *c, bool rt)
{
    FUZZ_CHECK(json_is_object(o));
    FUZZ_CHECK(json_object_size(o) ==
               (rt ? 7u : 5u) + !!c->custom_spec + str_set(c->cluster_id));
    if (c->custom_spec)
        check_spec(json_object_get(o, "custom_spec"), c->custom_spec);
    else
        FUZZ_CHECK(json_object_get(o, "custom_spec") == NULL);
    if (str_set(c->cluster_id))
        check_str(o, "cluster_id", c->cluster_id);
    else
        FUZZ_CHECK(json_object_get(o, "cluster_id") == NULL);
    check_str(o, "model_id", c->model_id);
    check_str(o, "model_name", c->model_name);
    check_str(o, "model_version", c->model_version);
    check_str(o, "specification", c->specification);
    if (rt) {
        check_int(o, "weight", c->weight);
        check_int(o, "instance_count", c->instance_count);
    }
    check_envs(json_object_get(o, "envs"), c);
}

static void check_node(json_t *o, const Node *n)
{
    FUZZ_CHECK(json_is_object(o));
    FUZZ_CHECK(json_object_size(o) == 4);
    check_str(o, "node_id", n->node_id);
    check_str(o, "node_name", n->node_name);
    check_name(o, "operation",
               n->operation == MODELARTS__V1__NODE_OPERATION__DEPLOY ? "deploy"
               : n->operation == MODELARTS__V1__NODE_OPERATION__DELETE
                   ? "delete"
                   : "unknown");
    json_t *v = json_object_get(o, "result");
    FUZZ_CHECK(json_is_boolean(v));
    FUZZ_CHECK(json_is_true(v) == (n->result != 0));
}

static void check_log(json_t *o, const Log *l, bool rt, bool edge)
{
    static const char *const results[] = {"UNKNOWN", "SUCCESS", "FAIL",
                                          "RUNNING"};
    FUZZ_CHECK(json_is_object(o));
    FUZZ_CHECK(json_object_size(o) == (edge ? 6u : 3u) +
                                          str_set(l->cluster_id) +
                                          (l->n_extend_config > 0));
    if (str_set(l->cluster_id))
        check_str(o, "cluster_id", l->cluster_id);
    else
        FUZZ_CHECK(json_object_get(o, "cluster_id") == NULL);
    json_t *ext = json_object_get(o, "extend_config");
    if (l->n_extend_config) {
        FUZZ_CHECK(json_is_array(ext) &&
                   json_array_size(ext) == l->n_extend_config);
        for (size_t i = 0; i < l->n_extend_config; i++) {
            json_t *wrap = json_object(); /* check_str reads a key */
            FUZZ_CHECK(wrap != NULL);
            json_object_set(wrap, "v", json_array_get(ext, i));
            check_str(wrap, "v", l->extend_config[i]);
            json_decref(wrap);
        }
    } else {
        FUZZ_CHECK(ext == NULL);
    }
    check_int(o, "update_time", l->update_time);
    int res = (int)l->result;
    check_name(o, "result", results[res >= 0 && res <= 3 ? res : 0]);
    json_t *cfg = json_object_get(o, "config");
    FUZZ_CHECK(json_is_array(cfg) && json_array_size(cfg) == l->n_config);
    for (size_t i = 0; i < l->n_config; i++)
        check_config(json_array_get(cfg, i), l->config[i], rt);
    if (!edge)
        return;
    check_int(o, "success_num", l->success_num);
    check_int(o, "failed_num", l->failed_num);
    json_t *det = json_object_get(o, "result_detail");
    FUZZ_CHECK(json_is_array(det) &&
               json_array_size(det) == l->n_result_detail);
    for (size_t i = 0; i < l->n_result_detail; i++)
        check_node(json_array_get(det, i), l->result_detail[i]);
}

static void check_round_trip(json_t *j)
{
    const size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER;
    json_error_t e;
    char *d1 = json_dumps(j, flags);
    FUZZ_CHECK(d1 != NULL);
    json_t *j2 = json_loads(d1, 0, &e);
    FUZZ_CHECK(j2 != NULL);
    FUZZ_CHECK(json_equal(j, j2));
    char *d2 = json_dumps(j2, flags);
    FUZZ_CHECK(d2 != NULL && strcmp(d1, d2) == 0);
    free(d2);
    json_decref(j2);
    free(d1);
}

static void check_render(const Resp *r)
{
    struct sl_buf b;
    sl_buf_init(&b);
    FUZZ_CHECK(sl_render_logs_json(r, &b) == SL_OK && !b.oom);
    FUZZ_CHECK(b.len >= 2 && b.data[b.len - 1] == '\n');
    for (size_t i = 0; i + 1 < b.len; i++)
        FUZZ_CHECK((unsigned char)b.data[i] >= 0x20);

    json_error_t e;
    json_t *j = json_loadb(b.data, b.len, 0, &e);
    if (!j)
        fprintf(stderr, "jansson: %s at %d in %.*s", e.text, e.position,
                (int)b.len, b.data);
    FUZZ_CHECK(j != NULL);
    FUZZ_CHECK(json_is_object(j) && json_object_size(j) == 3);
    check_str(j, "service_id", r->service_id);
    check_str(j, "service_name", r->service_name);
    json_t *logs = json_object_get(j, "logs");
    FUZZ_CHECK(json_is_array(logs) && json_array_size(logs) == r->n_logs);
    bool rt = r->infer_type == MODELARTS__V1__INFER_TYPE__REAL_TIME;
    bool edge = r->infer_type == MODELARTS__V1__INFER_TYPE__EDGE;
    for (size_t i = 0; i < r->n_logs; i++)
        check_log(json_array_get(logs, i), r->logs[i], rt, edge);
    check_round_trip(j);
    json_decref(j);
    sl_buf_free(&b);
}

/* The streamed rendering of packed[0..n), in parts of at least want
 * bytes, equals sl_render_logs_json(r). The stream reads the wire format
 * strictly (wire.h: a field number past 2^29 - 1 is malformed) where
 * protobuf-c lets some through, so for bytes from outside (!must_open) it
 * may refuse what protobuf-c took; what it opens, it renders the same. */
static void check_stream(const uint8_t *packed, size_t n, const Resp *r,
                         size_t want, bool must_open)
{
    struct sl_json_stream *st;
    int rc = sl_json_stream_open(packed, n, &st);
    if (!must_open && rc == SL_ECORRUPT)
        return;
    FUZZ_CHECK(rc == SL_OK);
    struct sl_buf whole, streamed;
    sl_buf_init(&whole);
    sl_buf_init(&streamed);
    FUZZ_CHECK(sl_render_logs_json(r, &whole) == SL_OK);
    bool done = false;
    while (!done)
        FUZZ_CHECK(sl_json_stream_next(st, &streamed, want, &done) == SL_OK);
    sl_json_stream_free(st);
    FUZZ_CHECK(streamed.len == whole.len &&
               memcmp(streamed.data, whole.data, whole.len) == 0);
    sl_buf_free(&whole);
    sl_buf_free(&streamed);
}

/* Makes every NULL string of r "" (what the renderer prints for one), so
 * that protobuf-c can pack r. */
static void no_nulls(Resp *r)
{
#define NN(s) ((s) = (s) ? (s) : (char *)"")
    NN(r->service_id);
    NN(r->service_name);
    for (size_t i = 0; i < r->n_logs; i++) {
        Log *l = r->logs[i];
        NN(l->cluster_id);
        for (size_t k = 0; k < l->n_extend_config; k++)
            NN(l->extend_config[k]);
        for (size_t k = 0; k < l->n_result_detail; k++) {
            NN(l->result_detail[k]->node_id);
            NN(l->result_detail[k]->node_name);
        }
        for (size_t k = 0; k < l->n_config; k++) {
            Config *c = l->config[k];
            NN(c->model_id);
            NN(c->model_name);
            NN(c->model_version);
            NN(c->specification);
            NN(c->cluster_id);
            for (size_t e = 0; e < c->n_envs; e++) {
                NN(c->envs[e]->key);
                NN(c->envs[e]->value);
            }
        }
    }
#undef NN
}

/* ---- building a response from bytes ------------------------------------ */

static void *alloc(struct sl_arena *a, size_t n)
{
    void *p = sl_arena_alloc(a, n ? n : 1);
    FUZZ_CHECK(p != NULL);
    return p;
}

/* NULL (0xFF), or up to 63 arbitrary bytes up to the first NUL. */
static char *gen_str(struct fuzz_reader *r, struct sl_arena *a)
{
    uint8_t m = fuzz_u8(r);
    if (m == 0xFF)
        return NULL;
    size_t len;
    const uint8_t *p = fuzz_bytes(r, m % 64u, &len);
    char *s = alloc(a, len + 1);
    if (len)
        memcpy(s, p, len);
    s[len] = '\0';
    return s;
}

/* Mostly -1..4 (the known values and their neighbours), sometimes any. */
static int gen_enum(struct fuzz_reader *r)
{
    uint8_t m = fuzz_u8(r);
    if (m >= 0xF0)
        return (int)(int32_t)(uint32_t)fuzz_u64(r, 4);
    return m % 6 - 1;
}

static int32_t gen_i32(struct fuzz_reader *r)
{
    return (int32_t)(uint32_t)fuzz_u64(r, fuzz_u8(r) % 5);
}

static Config *gen_config(struct fuzz_reader *r, struct sl_arena *a)
{
    Config *c = alloc(a, sizeof(*c));
    modelarts__v1__service_config__init(c);
    c->model_id = gen_str(r, a);
    c->model_name = gen_str(r, a);
    c->model_version = gen_str(r, a);
    c->specification = gen_str(r, a);
    c->weight = gen_i32(r);
    c->instance_count = gen_i32(r);
    c->n_envs = fuzz_u8(r) % 4u;
    c->envs = alloc(a, c->n_envs * sizeof(*c->envs));
    for (size_t i = 0; i < c->n_envs; i++) {
        Env *e = alloc(a, sizeof(*e));
        modelarts__v1__service_config__envs_entry__init(e);
        e->key = gen_str(r, a);
        e->value = gen_str(r, a);
        c->envs[i] = e;
    }
    /* The live platform's fields: any float bit pattern (NaN, inf,
     * subnormals) half of the time, small values otherwise. */
    uint8_t m = fuzz_u8(r);
    if (m & 1) {
        Spec *sp = alloc(a, sizeof(*sp));
        modelarts__v1__custom_spec__init(sp);
        uint32_t g = (uint32_t)fuzz_u64(r, 4), cpu = (uint32_t)fuzz_u64(r, 4);
        if (m & 2) {
            memcpy(&sp->gpu_p4, &g, sizeof(g));
            memcpy(&sp->cpu, &cpu, sizeof(cpu));
        } else {
            sp->gpu_p4 = (float)(g % 64) / 4;
            sp->cpu = (float)(cpu % 1000) / 10;
        }
        sp->memory = gen_i32(r);
        sp->ascend_a310 = gen_i32(r);
        c->custom_spec = sp;
    }
    if (m & 4)
        c->cluster_id = gen_str(r, a);
    return c;
}

static Log *gen_log(struct fuzz_reader *r, struct sl_arena *a)
{
    Log *l = alloc(a, sizeof(*l));
    modelarts__v1__service_log__init(l);
    l->update_time = (int64_t)fuzz_u64(r, fuzz_u8(r) % 9);
    l->result = (Modelarts__V1__UpdateResult)gen_enum(r);
    l->n_config = fuzz_u8(r) % 4u;
    l->config = alloc(a, l->n_config * sizeof(*l->config));
    for (size_t i = 0; i < l->n_config; i++)
        l->config[i] = gen_config(r, a);
    l->success_num = gen_i32(r);
    l->failed_num = gen_i32(r);
    l->n_result_detail = fuzz_u8(r) % 4u;
    l->result_detail = alloc(a, l->n_result_detail * sizeof(*l->result_detail));
    for (size_t i = 0; i < l->n_result_detail; i++) {
        Node *n = alloc(a, sizeof(*n));
        modelarts__v1__node_result__init(n);
        n->node_id = gen_str(r, a);
        n->node_name = gen_str(r, a);
        n->operation = (Modelarts__V1__NodeOperation)gen_enum(r);
        n->result = fuzz_u8(r);
        l->result_detail[i] = n;
    }
    uint8_t m = fuzz_u8(r);
    if (m & 1)
        l->cluster_id = gen_str(r, a);
    l->n_extend_config = (m >> 1) % 4u;
    l->extend_config = alloc(a, l->n_extend_config * sizeof(char *));
    for (size_t i = 0; i < l->n_extend_config; i++)
        l->extend_config[i] = gen_str(r, a);
    return l;
}

static Resp *gen_resp(struct fuzz_reader *r, struct sl_arena *a)
{
    Resp *m = alloc(a, sizeof(*m));
    modelarts__v1__query_service_logs_response__init(m);
    m->infer_type = (Modelarts__V1__InferType)gen_enum(r);
    m->service_id = gen_str(r, a);
    m->service_name = gen_str(r, a);
    m->n_logs = fuzz_u8(r) % 5u;
    m->logs = alloc(a, m->n_logs * sizeof(*m->logs));
    for (size_t i = 0; i < m->n_logs; i++)
        m->logs[i] = gen_log(r, a);
    return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Resp *u =
        modelarts__v1__query_service_logs_response__unpack(NULL, size, data);
    size_t want = 1 + (size ? data[0] : 0) * 16u;
    if (u) {
        check_render(u);
        check_stream(data, size, u, want, false);
        modelarts__v1__query_service_logs_response__free_unpacked(u, NULL);
    }

    struct sl_arena a;
    sl_arena_init(&a);
    struct fuzz_reader r = {data, size};
    Resp *built = gen_resp(&r, &a);
    check_render(built);
    no_nulls(built);
    size_t n =
        modelarts__v1__query_service_logs_response__get_packed_size(built);
    uint8_t *packed = malloc(n ? n : 1);
    FUZZ_CHECK(packed != NULL);
    modelarts__v1__query_service_logs_response__pack(built, packed);
    /* Against the whole rendering of what the bytes say, not of built:
     * packing is not the identity (proto3 drops a float -0 as a 0). */
    Resp *back =
        modelarts__v1__query_service_logs_response__unpack(NULL, n, packed);
    FUZZ_CHECK(back != NULL);
    check_stream(packed, n, back, want, true);
    modelarts__v1__query_service_logs_response__free_unpacked(back, NULL);
    free(packed);
    sl_arena_free(&a);
    return 0;
}
