/* test_render_json.c -- the REST body against the spec's tables
 *
 * Exact expected strings for each presence rule (real-time, edge, other),
 * escaping and UTF-8 repair; every output is also parsed with jansson to
 * prove it is valid JSON. Messages are built on the stack with the
 * protobuf-c INIT macros (and once through pack/unpack), so nothing here
 * allocates but the buffers.
 */
#include "sl_test.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "render_json.h"

typedef Modelarts__V1__QueryServiceLogsResponse Resp;
typedef Modelarts__V1__ServiceLog Log;
typedef Modelarts__V1__ServiceConfig Config;
typedef Modelarts__V1__ServiceConfig__EnvsEntry Env;
typedef Modelarts__V1__NodeResult Node;
typedef Modelarts__V1__CustomSpec Spec;

/* Parses text with jansson (strict: one value, no duplicate keys) and
 * fails the test when it is not valid JSON. The caller decrefs. */
static json_t *must_parse(const char *text, size_t len)
{
    json_error_t jerr;
    json_t *j =
        json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!j)
        fail_msg("invalid JSON (%s at %d): %.*s", jerr.text, jerr.position,
                 (int)len, text);
    return j;
}

/* Streams packed[0..len) in parts of at least want bytes into one buffer
 * and checks it equals want_body (len bytes). */
static void expect_stream(const uint8_t *packed, size_t len, size_t want,
                          const char *want_body, size_t want_len)
{
    struct sl_json_stream *st;
    assert_int_equal(sl_json_stream_open(packed, len, &st), SL_OK);
    struct sl_buf all, part;
    sl_buf_init(&all);
    sl_buf_init(&part);
    bool done = false;
    for (int rounds = 0; !done; rounds++) {
        assert_true(rounds < 100000);
        part.len = 0;
        assert_int_equal(sl_json_stream_next(st, &part, want, &done), SL_OK);
        sl_buf_append(&all, part.data, part.len);
    }
    sl_json_stream_free(st);
    assert_int_equal(all.len, want_len);
    if (memcmp(all.data, want_body, want_len) != 0)
        fail_msg("streamed (want %zu)  %.*s\nwhole  %.*s", want, (int)all.len,
                 all.data, (int)want_len, want_body);
    sl_buf_free(&all);
    sl_buf_free(&part);
}

/* The streamed body of r's packed bytes equals the whole one, in parts of
 * every size from one byte up. */
static void expect_stream_same(const Resp *r, const char *body, size_t len)
{
    size_t n = modelarts__v1__query_service_logs_response__get_packed_size(r);
    uint8_t *packed = malloc(n ? n : 1);
    assert_non_null(packed);
    modelarts__v1__query_service_logs_response__pack(r, packed);
    size_t wants[] = {1, 64, 300, 1 << 20};
    for (size_t i = 0; i < sizeof(wants) / sizeof(wants[0]); i++)
        expect_stream(packed, n, wants[i], body, len);
    free(packed);
}

/* Renders r, compares with want exactly, and parses it; the streamed
 * rendering of its packed bytes gives the same bytes. */
static void expect_json_render(const Resp *r, const char *want)
{
    struct sl_buf b;
    sl_buf_init(&b);
    assert_int_equal(sl_render_logs_json(r, &b), SL_OK);
    assert_false(b.oom);
    assert_int_equal(b.len, strlen(want));
    if (memcmp(b.data, want, b.len) != 0)
        fail_msg("got  %.*s\nwant %s", (int)b.len, b.data, want);
    json_decref(must_parse(b.data, b.len));
    expect_stream_same(r, b.data, b.len);
    sl_buf_free(&b);
}

/* Renders s alone as a JSON string (no trailing newline). */
static char *render_string(const char *s, size_t *len)
{
    struct sl_buf b;
    sl_buf_init(&b);
    sl_buf_put_json_string(&b, s);
    sl_buf_putc(&b, '\0');
    assert_false(b.oom);
    *len = b.len - 1;
    return b.data;
}

/* Renders in, compares with want exactly, parses it, and (when in is
 * valid UTF-8) checks that it decodes back to in. */
static void expect_json_string(const char *in, const char *want)
{
    size_t len;
    char *got = render_string(in, &len);
    if (strcmp(got, want) != 0)
        fail_msg("input %s: got %s want %s", in, got, want);
    json_t *j = must_parse(got, len);
    json_t *orig = json_string(in); /* NULL: in is not valid UTF-8 */
    if (orig)
        assert_string_equal(json_string_value(j), in);
    json_decref(orig);
    json_decref(j);
    free(got);
}

/* The spec's example: real-time, one log, one config. */
static void test_spec_example(void **state)
{
    (void)state;
    Config c = MODELARTS__V1__SERVICE_CONFIG__INIT;
    c.model_id = "xxxx";
    c.model_name = "mnist";
    c.model_version = "1.0.1";
    c.weight = 70;
    c.specification = "modelarts.vm.cpu.2u";
    c.instance_count = 1;
    Config *cs[] = {&c};
    Log l = MODELARTS__V1__SERVICE_LOG__INIT;
    l.update_time = 123432423;
    l.result = MODELARTS__V1__UPDATE_RESULT__SUCCESS;
    l.n_config = 1;
    l.config = cs;
    l.success_num = 5; /* edge-only fields: not rendered for real-time */
    l.failed_num = 6;
    Log *ls[] = {&l};
    Resp r = MODELARTS__V1__QUERY_SERVICE_LOGS_RESPONSE__INIT;
    r.service_id = "xxxx";
    r.service_name = "mnist";
    r.infer_type = MODELARTS__V1__INFER_TYPE__REAL_TIME;
    r.n_logs = 1;
    r.logs = ls;

    expect_json_render(
        &r, "{\"service_id\":\"xxxx\",\"service_name\":\"mnist\","
            "\"logs\":[{\"update_time\":123432423,\"result\":\"SUCCESS\","
            "\"config\":[{\"model_id\":\"xxxx\",\"model_name\":\"mnist\","
            "\"model_version\":\"1.0.1\",\"weight\":70,"
            "\"specification\":\"modelarts.vm.cpu.2u\","
            "\"instance_count\":1,\"envs\":{}}]}]}\n");
}

/* The same document after a pack/unpack round trip (the shim's path),
 * checked field by field through jansson: numbers are JSON integers. */
static void test_spec_example_unpacked(void **state)
{
    (void)state;
    Config c = MODELARTS__V1__SERVICE_CONFIG__INIT;
    c.model_id = "xxxx";
    c.model_name = "mnist";
    c.model_version = "1.0.1";
    c.weight = 70;
    c.specification = "modelarts.vm.cpu.2u";
    c.instance_count = 1;
    Config *cs[] = {&c};
    Log l = MODELARTS__V1__SERVICE_LOG__INIT;
    l.update_time = 123432423;
    l.result = MODELARTS__V1__UPDATE_RESULT__SUCCESS;
    l.n_config = 1;
    l.config = cs;
    Log *ls[] = {&l};
    Resp r = MODELARTS__V1__QUERY_SERVICE_LOGS_RESPONSE__INIT;
    r.service_id = "xxxx";
    r.service_name = "mnist";
    r.infer_type = MODELARTS__V1__INFER_TYPE__REAL_TIME;
    r.n_logs = 1;
    r.logs = ls;

    uint8_t wire[512];
    size_t n = modelarts__v1__query_service_logs_response__pack(&r, wire);
    Resp *u = modelarts__v1__query_service_logs_response__unpack(NULL, n, wire);
    assert_non_null(u);
    struct sl_buf b;
    sl_buf_init(&b);
    assert_int_equal(sl_render_logs_json(u, &b), SL_OK);
    modelarts__v1__query_service_logs_response__free_unpacked(u, NULL);

    json_t *j = must_parse(b.data, b.len);
    assert_null(json_object_get(j, "infer_type"));
    json_t *log = json_array_get(json_object_get(j, "logs"), 0);
    assert_true(json_is_integer(json_object_get(log, "update_time")));
    assert_int_equal(json_integer_value(json_object_get(log, "update_time")),
                     123432423);
    assert_null(json_object_get(log, "success_num"));
    assert_null(json_object_get(log, "failed_num"));
    assert_null(json_object_get(log, "result_detail"));
    json_t *cfg = json_array_get(json_object_get(log, "config"), 0);
    assert_true(json_is_integer(json_object_get(cfg, "weight")));
    assert_int_equal(json_integer_value(json_object_get(cfg, "weight")), 70);
    assert_true(json_is_object(json_object_get(cfg, "envs")));
    json_decref(j);
    sl_buf_free(&b);
}

/* Real-time prints weight and instance_count even when 0. */
static void test_real_time_zero_printed(void **state)
{
    (void)state;
    Config c = MODELARTS__V1__SERVICE_CONFIG__INIT;
    c.model_id = "m";
    Config *cs[] = {&c};
    Log l = MODELARTS__V1__SERVICE_LOG__INIT;
    l.result = MODELARTS__V1__UPDATE_RESULT__FAIL;
    l.n_config = 1;
    l.config = cs;
    Log *ls[] = {&l};
    Resp r = MODELARTS__V1__QUERY_SERVICE_LOGS_RESPONSE__INIT;
    r.service_id = "s";
    r.service_name = "n";
    r.infer_type = MODELARTS__V1__INFER_TYPE__REAL_TIME;
    r.n_logs = 1;
    r.logs = ls;

    expect_json_render(&r,
                       "{\"service_id\":\"s\",\"service_name\":\"n\",\"logs\":["
                       "{\"update_time\":0,\"result\":\"FAIL\",\"config\":["
                       "{\"model_id\":\"m\",\"model_name\":\"\","
                       "\"model_version\":\"\",\"weight\":0,"
                       "\"specification\":\"\",\"instance_count\":0,"
                       "\"envs\":{}}]}]}\n");
}

/* Edge: success_num, failed_num, result_detail; no weight/instance_count. */
static void test_edge(void **state)
{
    (void)state;
    Env e1 = MODELARTS__V1__SERVICE_CONFIG__ENVS_ENTRY__INIT;
    e1.key = "A";
    e1.value = "1";
    Env e2 = MODELARTS__V1__SERVICE_CONFIG__ENVS_ENTRY__INIT;
    e2.key = "B";
    e2.value = "two";
    Env *es[] = {&e1, &e2};
    Config c = MODELARTS__V1__SERVICE_CONFIG__INIT;
    c.model_id = "m1";
    c.model_name = "mnist";
    c.model_version = "2.0";
    c.weight = 100; /* real-time only: not rendered */
    c.specification = "edge.cpu";
    c.instance_count = 3;
    c.n_envs = 2;
    c.envs = es;
    Config *cs[] = {&c};
    Node n1 = MODELARTS__V1__NODE_RESULT__INIT;
    n1.node_id = "n1";
    n1.node_name = "node one";
    n1.operation = MODELARTS__V1__NODE_OPERATION__DEPLOY;
    n1.result = 1;
    Node n2 = MODELARTS__V1__NODE_RESULT__INIT;
    n2.node_id = "n2";
    n2.node_name = "node two";
    n2.operation = MODELARTS__V1__NODE_OPERATION__DELETE;
    n2.result = 0;
    Node *ns[] = {&n1, &n2};
    Log l1 = MODELARTS__V1__SERVICE_LOG__INIT;
    l1.update_time = 1700000000000;
    l1.result = MODELARTS__V1__UPDATE_RESULT__RUNNING;
    l1.n_config = 1;
    l1.config = cs;
    l1.success_num = 1;
    l1.failed_num = 1;
    l1.n_result_detail = 2;
    l1.result_detail = ns;
    Log l2 = MODELARTS__V1__SERVICE_LOG__INIT; /* no nodes: [] */
    l2.update_time = 1700000000001;
    l2.result = MODELARTS__V1__UPDATE_RESULT__SUCCESS;
    Log *ls[] = {&l1, &l2};
    Resp r = MODELARTS__V1__QUERY_SERVICE_LOGS_RESPONSE__INIT;
    r.service_id = "edge-1";
    r.service_name = "edge service";
    r.infer_type = MODELARTS__V1__INFER_TYPE__EDGE;
    r.n_logs = 2;
    r.logs = ls;

    expect_json_render(
        &r, "{\"service_id\":\"edge-1\",\"service_name\":\"edge service\","
            "\"logs\":[{\"update_time\":1700000000000,\"result\":\"RUNNING\","
            "\"config\":[{\"model_id\":\"m1\",\"model_name\":\"mnist\","
            "\"model_version\":\"2.0\",\"specification\":\"edge.cpu\","
            "\"envs\":{\"A\":\"1\",\"B\":\"two\"}}],"
            "\"success_num\":1,\"failed_num\":1,\"result_detail\":["
            "{\"node_id\":\"n1\",\"node_name\":\"node one\","
            "\"operation\":\"deploy\",\"result\":true},"
            "{\"node_id\":\"n2\",\"node_name\":\"node two\","
            "\"operation\":\"delete\",\"result\":false}]},"
            "{\"update_time\":1700000000001,\"result\":\"SUCCESS\","
            "\"config\":[],\"success_num\":0,\"failed_num\":0,"
            "\"result_detail\":[]}]}\n");
}

static void test_empty_logs(void **state)
{
    (void)state;
    Resp r = MODELARTS__V1__QUERY_SERVICE_LOGS_RESPONSE__INIT;
    r.service_id = "s-1";
    r.service_name = "empty";
    r.infer_type = MODELARTS__V1__INFER_TYPE__REAL_TIME;
    expect_json_render(
        &r,
        "{\"service_id\":\"s-1\",\"service_name\":\"empty\",\"logs\":[]}\n");
}

/* UNSPECIFIED, BATCH and a newer infer_type: no optional field at all;
 * unknown result/operation values. NULL strings render as "". */
static void test_unknown_enums(void **state)
{
    (void)state;
    Config c = MODELARTS__V1__SERVICE_CONFIG__INIT;
    c.model_id = NULL;
    c.weight = 9;
    Config *cs[] = {&c};
    Node n = MODELARTS__V1__NODE_RESULT__INIT;
    n.operation = (Modelarts__V1__NodeOperation)7;
    Node *ns[] = {&n};
    Log l = MODELARTS__V1__SERVICE_LOG__INIT;
    l.result = (Modelarts__V1__UpdateResult)42;
    l.n_config = 1;
    l.config = cs;
    l.n_result_detail = 1;
    l.result_detail = ns;
    Log *ls[] = {&l};
    Resp r = MODELARTS__V1__QUERY_SERVICE_LOGS_RESPONSE__INIT;
    r.service_id = NULL;
    r.service_name = "x";
    r.n_logs = 1;
    r.logs = ls;
    const char *want =
        "{\"service_id\":\"\",\"service_name\":\"x\",\"logs\":[{"
        "\"update_time\":0,\"result\":\"UNKNOWN\",\"config\":[{"
        "\"model_id\":\"\",\"model_name\":\"\",\"model_version\":\"\","
        "\"specification\":\"\",\"envs\":{}}]}]}\n";

    int types[] = {MODELARTS__V1__INFER_TYPE__INFER_TYPE_UNSPECIFIED,
                   MODELARTS__V1__INFER_TYPE__BATCH, 17};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        r.infer_type = (Modelarts__V1__InferType)types[i];
        expect_json_render(&r, want);
    }
    l.result = MODELARTS__V1__UPDATE_RESULT__UPDATE_RESULT_UNSPECIFIED;
    expect_json_render(&r, want);

    /* An edge service shows the unknown operation. */
    r.infer_type = MODELARTS__V1__INFER_TYPE__EDGE;
    expect_json_render(
        &r, "{\"service_id\":\"\",\"service_name\":\"x\",\"logs\":[{"
            "\"update_time\":0,\"result\":\"UNKNOWN\",\"config\":[{"
            "\"model_id\":\"\",\"model_name\":\"\",\"model_version\":\"\","
            "\"specification\":\"\",\"envs\":{}}],\"success_num\":0,"
            "\"failed_num\":0,\"result_detail\":[{\"node_id\":\"\","
            "\"node_name\":\"\",\"operation\":\"unknown\","
            "\"result\":false}]}]}\n");
}

static void test_int64_extremes(void **state)
{
    (void)state;
    Log l1 = MODELARTS__V1__SERVICE_LOG__INIT;
    l1.update_time = INT64_MAX;
    l1.result = MODELARTS__V1__UPDATE_RESULT__SUCCESS;
    Log l2 = MODELARTS__V1__SERVICE_LOG__INIT;
    l2.update_time = INT64_MIN;
    l2.result = MODELARTS__V1__UPDATE_RESULT__SUCCESS;
    l2.success_num = INT32_MAX;
    l2.failed_num = INT32_MIN;
    Log *ls[] = {&l1, &l2};
    Resp r = MODELARTS__V1__QUERY_SERVICE_LOGS_RESPONSE__INIT;
    r.service_id = "s";
    r.service_name = "n";
    r.infer_type = MODELARTS__V1__INFER_TYPE__EDGE;
    r.n_logs = 2;
    r.logs = ls;
    expect_json_render(&r,
                       "{\"service_id\":\"s\",\"service_name\":\"n\",\"logs\":["
                       "{\"update_time\":9223372036854775807,"
                       "\"result\":\"SUCCESS\",\"config\":[],"
                       "\"success_num\":0,\"failed_num\":0,"
                       "\"result_detail\":[]},"
                       "{\"update_time\":-9223372036854775808,"
                       "\"result\":\"SUCCESS\",\"config\":[],"
                       "\"success_num\":2147483647,"
                       "\"failed_num\":-2147483648,\"result_detail\":[]}]}\n");
}

static void test_escaping(void **state)
{
    (void)state;
    expect_json_string("", "\"\"");
    expect_json_string("plain text/slash", "\"plain text/slash\"");
    expect_json_string("say \"hi\"", "\"say \\\"hi\\\"\"");
    expect_json_string("C:\\path\\", "\"C:\\\\path\\\\\"");
    expect_json_string("a\nb\rc\td\be\ff", "\"a\\nb\\rc\\td\\be\\ff\"");
    expect_json_string("\x01\x02\x1f", "\"\\u0001\\u0002\\u001f\"");
    expect_json_string("\x0b|\x1b", "\"\\u000b|\\u001b\"");
    expect_json_string("del\x7f", "\"del\x7f\""); /* DEL passes through */
}

static void test_utf8_passes(void **state)
{
    (void)state;
    expect_json_string("caf\xc3\xa9", "\"caf\xc3\xa9\""); /* é */
    expect_json_string("\xe4\xb8\xad\xe6\x96\x87",
                       "\"\xe4\xb8\xad\xe6\x96\x87\"");
    expect_json_string("\xf0\x9f\x98\x80",
                       "\"\xf0\x9f\x98\x80\"");             /* U+1F600 */
    expect_json_string("\xef\xbf\xbf", "\"\xef\xbf\xbf\""); /* U+FFFF */
    expect_json_string("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\""); /* max */
    expect_json_string("\xe2\x80\xa8", "\"\xe2\x80\xa8\""); /* U+2028 as is */

    /* ...in envs, keys and values, with everything else around them. */
    Env e = MODELARTS__V1__SERVICE_CONFIG__ENVS_ENTRY__INIT;
    e.key = "LANG_\xe4\xb8\xad";
    e.value = "\xe6\x96\x87 \"q\"\n";
    Env *es[] = {&e};
    Config c = MODELARTS__V1__SERVICE_CONFIG__INIT;
    c.n_envs = 1;
    c.envs = es;
    Config *cs[] = {&c};
    Log l = MODELARTS__V1__SERVICE_LOG__INIT;
    l.result = MODELARTS__V1__UPDATE_RESULT__SUCCESS;
    l.n_config = 1;
    l.config = cs;
    Log *ls[] = {&l};
    Resp r = MODELARTS__V1__QUERY_SERVICE_LOGS_RESPONSE__INIT;
    r.infer_type = MODELARTS__V1__INFER_TYPE__REAL_TIME;
    r.n_logs = 1;
    r.logs = ls;
    expect_json_render(&r,
                       "{\"service_id\":\"\",\"service_name\":\"\",\"logs\":[{"
                       "\"update_time\":0,\"result\":\"SUCCESS\",\"config\":[{"
                       "\"model_id\":\"\",\"model_name\":\"\","
                       "\"model_version\":\"\",\"weight\":0,"
                       "\"specification\":\"\",\"instance_count\":0,"
                       "\"envs\":{\"LANG_\xe4\xb8\xad\":"
                       "\"\xe6\x96\x87 \\\"q\\\"\\n\"}}]}]}\n");
}

#define FFFD "\xef\xbf\xbd"

/* Each maximal invalid subpart becomes one U+FFFD. */
static void test_utf8_invalid_replaced(void **state)
{
    (void)state;
    expect_json_string("\xff", "\"" FFFD "\"");
    expect_json_string("a\x80z", "\"a" FFFD "z\"");      /* lone trail */
    expect_json_string("\xc3", "\"" FFFD "\"");          /* cut at end */
    expect_json_string("\xc3(", "\"" FFFD "(\"");        /* bad trail */
    expect_json_string("\xe2\x82x", "\"" FFFD "x\"");    /* cut 3-byte */
    expect_json_string("\xf0\x9f\x98", "\"" FFFD "\"");  /* cut 4-byte */
    expect_json_string("\xc0\xaf", "\"" FFFD FFFD "\""); /* overlong / */
    expect_json_string("\xe0\x80\x80", "\"" FFFD FFFD FFFD "\""); /* overlong */
    expect_json_string("\xed\xa0\x80",
                       "\"" FFFD FFFD FFFD "\""); /* surrogate */
    expect_json_string("\xf4\x90\x80\x80", "\"" FFFD FFFD FFFD FFFD "\"");
    expect_json_string("\xf5\x80", "\"" FFFD FFFD "\"");
    expect_json_string("ok\xc3\xa9\xfe\"", "\"ok\xc3\xa9" FFFD "\\\"\"");
}

/* Property: any byte string renders to valid JSON; a valid UTF-8 one
 * decodes back to itself. A fixed-seed generator keeps it repeatable. */
static void test_random_strings_roundtrip(void **state)
{
    (void)state;
    uint32_t x = 2463534242u;
    char in[48];
    for (int iter = 0; iter < 20000; iter++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        size_t n = x % (sizeof(in) - 1);
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            /* Bias toward the interesting bytes. */
            unsigned v = x % 512;
            in[i] = (char)(v < 256 ? v % 256 : (v % 2 ? 0xC3 : 0xA9));
            if (in[i] == '\0')
                in[i] = 'a';
        }
        in[n] = '\0';

        size_t len;
        char *got = render_string(in, &len);
        json_error_t jerr;
        json_t *j = json_loadb(got, len, JSON_DECODE_ANY, &jerr);
        if (!j)
            fail_msg("iteration %d: invalid JSON: %s", iter, jerr.text);
        json_t *orig = json_string(in); /* NULL: in is not valid UTF-8 */
        if (orig)
            assert_string_equal(json_string_value(j), in);
        json_decref(orig);
        json_decref(j);
        free(got);
    }
}

static void test_error_json(void **state)
{
    (void)state;
    struct sl_buf b;
    sl_buf_init(&b);
    sl_render_error_json(SL_EINVAL, "project_id \"x\" is bad\n", &b);
    sl_buf_putc(&b, '\0');
    assert_string_equal(b.data, "{\"error_code\":\"ModelArts.0101\","
                                "\"error_msg\":\"project_id \\\"x\\\" is "
                                "bad\\n\"}\n");
    json_decref(must_parse(b.data, b.len - 1));
    sl_buf_free(&b);

    sl_render_error_json(SL_EMETHOD, NULL, &b);
    sl_buf_putc(&b, '\0');
    assert_string_equal(b.data, "{\"error_code\":\"ModelArts.2803\","
                                "\"error_msg\":\"method not allowed\"}\n");
    sl_buf_free(&b);

    sl_render_error_json(SL_EUNAVAIL, "", &b);
    sl_buf_putc(&b, '\0');
    assert_string_equal(b.data, "{\"error_code\":\"ModelArts.4302\","
                                "\"error_msg\":\"service unavailable\"}\n");
    sl_buf_free(&b);
}

/* A buffer that already failed: the renderer reports SL_ENOMEM. */
static void test_oom_reported(void **state)
{
    (void)state;
    Resp r = MODELARTS__V1__QUERY_SERVICE_LOGS_RESPONSE__INIT;
    struct sl_buf b;
    sl_buf_init(&b);
    b.oom = true;
    assert_int_equal(sl_render_logs_json(&r, &b), SL_ENOMEM);
    sl_buf_free(&b);
}

/* ---- the live platform's fields (DESIGN 2b) ---------------------------- */

/* One log alone (the watch's "event: log" data), compared exactly, no
 * newline, parsed. */
static void expect_log_render(const Log *l, int infer_type, const char *want)
{
    struct sl_buf b;
    sl_buf_init(&b);
    assert_int_equal(sl_render_log_json(l, infer_type, &b), SL_OK);
    assert_false(b.oom);
    if (b.len != strlen(want) || memcmp(b.data, want, b.len) != 0)
        fail_msg("got  %.*s\nwant %s", (int)b.len, b.data, want);
    json_decref(must_parse(b.data, b.len));
    sl_buf_free(&b);
}

/* sl_render_log_json is exactly the logs[] element of the body. */
static void test_log_alone(void **state)
{
    (void)state;
    Config c = MODELARTS__V1__SERVICE_CONFIG__INIT;
    c.model_id = "xxxx";
    c.model_name = "mnist";
    c.model_version = "1.0.1";
    c.weight = 70;
    c.specification = "modelarts.vm.cpu.2u";
    c.instance_count = 1;
    Config *cs[] = {&c};
    Node n = MODELARTS__V1__NODE_RESULT__INIT;
    n.node_id = "n1";
    n.node_name = "a";
    n.operation = MODELARTS__V1__NODE_OPERATION__DEPLOY;
    n.result = 1;
    Node *ns[] = {&n};
    Log l = MODELARTS__V1__SERVICE_LOG__INIT;
    l.update_time = 123432423;
    l.result = MODELARTS__V1__UPDATE_RESULT__RUNNING;
    l.n_config = 1;
    l.config = cs;
    l.success_num = 2;
    l.n_result_detail = 1;
    l.result_detail = ns;

    expect_log_render(&l, MODELARTS__V1__INFER_TYPE__REAL_TIME,
                      "{\"update_time\":123432423,\"result\":\"RUNNING\","
                      "\"config\":[{\"model_id\":\"xxxx\",\"model_name\":"
                      "\"mnist\",\"model_version\":\"1.0.1\",\"weight\":70,"
                      "\"specification\":\"modelarts.vm.cpu.2u\","
                      "\"instance_count\":1,\"envs\":{}}]}");
    expect_log_render(&l, MODELARTS__V1__INFER_TYPE__EDGE,
                      "{\"update_time\":123432423,\"result\":\"RUNNING\","
                      "\"config\":[{\"model_id\":\"xxxx\",\"model_name\":"
                      "\"mnist\",\"model_version\":\"1.0.1\","
                      "\"specification\":\"modelarts.vm.cpu.2u\","
                      "\"envs\":{}}],\"success_num\":2,\"failed_num\":0,"
                      "\"result_detail\":[{\"node_id\":\"n1\",\"node_name\":"
                      "\"a\",\"operation\":\"deploy\",\"result\":true}]}");
    expect_log_render(&l, MODELARTS__V1__INFER_TYPE__BATCH,
                      "{\"update_time\":123432423,\"result\":\"RUNNING\","
                      "\"config\":[{\"model_id\":\"xxxx\",\"model_name\":"
                      "\"mnist\",\"model_version\":\"1.0.1\","
                      "\"specification\":\"modelarts.vm.cpu.2u\","
                      "\"envs\":{}}]}");

    /* The same bytes as inside the whole body, for every infer_type. */
    Log *ls[] = {&l};
    Resp r = MODELARTS__V1__QUERY_SERVICE_LOGS_RESPONSE__INIT;
    r.service_id = "s";
    r.service_name = "n";
    r.n_logs = 1;
    r.logs = ls;
    for (int t = 0; t <= 4; t++) {
        r.infer_type = (Modelarts__V1__InferType)t;
        struct sl_buf body, one;
        sl_buf_init(&body);
        sl_buf_init(&one);
        assert_int_equal(sl_render_logs_json(&r, &body), SL_OK);
        assert_int_equal(sl_render_log_json(&l, t, &one), SL_OK);
        const char *pre = "{\"service_id\":\"s\",\"service_name\":\"n\","
                          "\"logs\":[";
        size_t pre_len = strlen(pre);
        assert_int_equal(body.len, pre_len + one.len + 3);
        assert_memory_equal(body.data, pre, pre_len);
        assert_memory_equal(body.data + pre_len, one.data, one.len);
        assert_memory_equal(body.data + pre_len + one.len, "]}\n", 3);
        sl_buf_free(&body);
        sl_buf_free(&one);
    }

    struct sl_buf b;
    sl_buf_init(&b);
    b.oom = true;
    assert_int_equal(sl_render_log_json(&l, 1, &b), SL_ENOMEM);
    sl_buf_free(&b);
}

/* Set: printed after the documented keys; empty: not printed at all. */
static void test_new_fields(void **state)
{
    (void)state;
    Spec sp = MODELARTS__V1__CUSTOM_SPEC__INIT;
    sp.gpu_p4 = 0.5f;
    sp.memory = 2048;
    sp.cpu = 1.0f;
    sp.ascend_a310 = 1;
    Config c = MODELARTS__V1__SERVICE_CONFIG__INIT;
    c.model_id = "m";
    c.custom_spec = &sp;
    c.cluster_id = "cl-c";
    Config *cs[] = {&c};
    char *ext[] = {"a=1", "b\"2"};
    Log l = MODELARTS__V1__SERVICE_LOG__INIT;
    l.update_time = 5;
    l.result = MODELARTS__V1__UPDATE_RESULT__SUCCESS;
    l.n_config = 1;
    l.config = cs;
    l.cluster_id = "cl-1";
    l.n_extend_config = 2;
    l.extend_config = ext;

    expect_log_render(
        &l, MODELARTS__V1__INFER_TYPE__REAL_TIME,
        "{\"update_time\":5,\"result\":\"SUCCESS\",\"config\":[{"
        "\"model_id\":\"m\",\"model_name\":\"\",\"model_version\":\"\","
        "\"weight\":0,\"specification\":\"\",\"instance_count\":0,"
        "\"envs\":{},\"custom_spec\":{\"gpu_p4\":0.5,\"memory\":2048,"
        "\"cpu\":1,\"ascend_a310\":1},\"cluster_id\":\"cl-c\"}],"
        "\"cluster_id\":\"cl-1\",\"extend_config\":[\"a=1\",\"b\\\"2\"]}");
    expect_log_render(
        &l, MODELARTS__V1__INFER_TYPE__EDGE,
        "{\"update_time\":5,\"result\":\"SUCCESS\",\"config\":[{"
        "\"model_id\":\"m\",\"model_name\":\"\",\"model_version\":\"\","
        "\"specification\":\"\",\"envs\":{},\"custom_spec\":{\"gpu_p4\":0.5,"
        "\"memory\":2048,\"cpu\":1,\"ascend_a310\":1},\"cluster_id\":"
        "\"cl-c\"}],\"success_num\":0,\"failed_num\":0,\"result_detail\":[],"
        "\"cluster_id\":\"cl-1\",\"extend_config\":[\"a=1\",\"b\\\"2\"]}");

    /* A zero custom_spec is present (all four printed); empty strings,
     * NULL strings and an empty list are absent. */
    Spec zero = MODELARTS__V1__CUSTOM_SPEC__INIT;
    c.custom_spec = &zero;
    c.cluster_id = "";
    l.cluster_id = NULL;
    l.n_extend_config = 0;
    expect_log_render(
        &l, MODELARTS__V1__INFER_TYPE__BATCH,
        "{\"update_time\":5,\"result\":\"SUCCESS\",\"config\":[{"
        "\"model_id\":\"m\",\"model_name\":\"\",\"model_version\":\"\","
        "\"specification\":\"\",\"envs\":{},\"custom_spec\":{\"gpu_p4\":0,"
        "\"memory\":0,\"cpu\":0,\"ascend_a310\":0}}]}");
    c.custom_spec = NULL;
    c.cluster_id = NULL;
    l.cluster_id = "";
    expect_log_render(
        &l, MODELARTS__V1__INFER_TYPE__BATCH,
        "{\"update_time\":5,\"result\":\"SUCCESS\",\"config\":[{"
        "\"model_id\":\"m\",\"model_name\":\"\",\"model_version\":\"\","
        "\"specification\":\"\",\"envs\":{}}]}");

    /* Through the wire: protobuf-c keeps presence of custom_spec. */
    c.custom_spec = &sp;
    l.cluster_id = "cl-1";
    Log *ls[] = {&l};
    Resp r = MODELARTS__V1__QUERY_SERVICE_LOGS_RESPONSE__INIT;
    r.service_id = "s";
    r.service_name = "n";
    r.infer_type = MODELARTS__V1__INFER_TYPE__REAL_TIME;
    r.n_logs = 1;
    r.logs = ls;
    uint8_t wire[512];
    size_t n = modelarts__v1__query_service_logs_response__pack(&r, wire);
    Resp *u = modelarts__v1__query_service_logs_response__unpack(NULL, n, wire);
    assert_non_null(u);
    expect_json_render(
        u, "{\"service_id\":\"s\",\"service_name\":\"n\",\"logs\":["
           "{\"update_time\":5,\"result\":\"SUCCESS\",\"config\":[{"
           "\"model_id\":\"m\",\"model_name\":\"\",\"model_version\":\"\","
           "\"weight\":0,\"specification\":\"\",\"instance_count\":0,"
           "\"envs\":{},\"custom_spec\":{\"gpu_p4\":0.5,\"memory\":2048,"
           "\"cpu\":1,\"ascend_a310\":1}}],\"cluster_id\":\"cl-1\"}]}\n");
    modelarts__v1__query_service_logs_response__free_unpacked(u, NULL);
}

/* Floats: the shortest text that reads back as the same float. */
static void test_float_format(void **state)
{
    (void)state;
    struct {
        float in;
        const char *out;
    } cases[] = {
        {0.0f, "0"},
        {-0.0f, "-0"},
        {0.5f, "0.5"},
        {1.0f, "1"},
        {0.1f, "0.1"},
        {2.25f, "2.25"},
        {-1.5f, "-1.5"},
        {1.0f / 3.0f, "0.33333334"},
        {16777216.0f, "16777216"},
        {3e38f, "3e+38"},
        {1e-7f, "1e-07"},
        {1.17549435e-38f, "1.1754944e-38"},
        {(float)NAN, "null"},
        {(float)INFINITY, "null"},
        {-(float)INFINITY, "null"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[SL_JSON_FLOAT_MAX];
        size_t n = sl_json_float(cases[i].in, out);
        if (strcmp(out, cases[i].out) != 0 || n != strlen(out))
            fail_msg("case %zu: got %s want %s", i, out, cases[i].out);
        json_decref(must_parse(out, n)); /* a JSON value, always */
    }
    /* Property: every finite float reads back exactly, and parses as a
     * JSON number (sampled bit patterns, fixed seed). */
    uint32_t x = 2463534242u;
    for (int iter = 0; iter < 200000; iter++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        float f;
        memcpy(&f, &x, sizeof(f));
        char out[SL_JSON_FLOAT_MAX];
        size_t n = sl_json_float(f, out);
        assert_true(n > 0 && n < SL_JSON_FLOAT_MAX);
        if (!isfinite(f))
            continue;
        if (strtof(out, NULL) != f)
            fail_msg("%08x: %s does not read back", (unsigned)x, out);
        if (iter % 97 == 0) {
            json_t *j = must_parse(out, n);
            assert_true(json_is_number(j));
            json_decref(j);
        }
    }
}

/* The stream reads the packed message as protobuf-c does: the last
 * occurrence of a singular field wins, unknown fields are skipped, and
 * bytes that are not the message are refused, not rendered. */
static void test_stream_wire_rules(void **state)
{
    (void)state;
    /* service_id "a", an unknown varint field 9, service_id "b" (wins),
     * one log {update_time 5}, infer_type 1 (real-time) then 2 (edge). */
    static const uint8_t msg[] = {0x0a, 1, 'a',  0x48, 7,    0x0a, 1,    'b',
                                  0x1a, 2, 0x08, 5,    0x20, 1,    0x20, 2};
    Modelarts__V1__QueryServiceLogsResponse *r =
        modelarts__v1__query_service_logs_response__unpack(NULL, sizeof(msg),
                                                           msg);
    assert_non_null(r);
    struct sl_buf b;
    sl_buf_init(&b);
    assert_int_equal(sl_render_logs_json(r, &b), SL_OK);
    modelarts__v1__query_service_logs_response__free_unpacked(r, NULL);
    sl_buf_putc(&b, '\0'); /* for strstr; not part of the body */
    b.len--;
    assert_non_null(strstr(b.data, "\"service_id\":\"b\""));
    assert_non_null(strstr(b.data, "\"result_detail\":[]")); /* edge */
    expect_stream(msg, sizeof(msg), 1, b.data, b.len);
    sl_buf_free(&b);

    struct sl_json_stream *st;
    static const uint8_t cut[] = {0x0a, 5, 'a'}; /* a length past the end */
    assert_int_equal(sl_json_stream_open(cut, sizeof(cut), &st), SL_ECORRUPT);
    static const uint8_t wrong_type[] = {0x18, 1}; /* logs as a varint */
    assert_int_equal(sl_json_stream_open(wrong_type, sizeof(wrong_type), &st),
                     SL_ECORRUPT);
    /* A log protobuf-c cannot unpack (its config a varint): refused when
     * its turn comes. */
    static const uint8_t bad_log[] = {0x1a, 2, 0x10, 1, 0x1a, 2, 0x18, 1};
    assert_int_equal(sl_json_stream_open(bad_log, sizeof(bad_log), &st), SL_OK);
    bool done;
    sl_buf_init(&b);
    int rc = SL_OK;
    while (rc == SL_OK && !(rc = sl_json_stream_next(st, &b, 1, &done)) &&
           !done)
        ;
    assert_int_equal(rc, SL_ECORRUPT);
    sl_json_stream_free(st);
    sl_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_example),
        cmocka_unit_test(test_spec_example_unpacked),
        cmocka_unit_test(test_real_time_zero_printed),
        cmocka_unit_test(test_edge),
        cmocka_unit_test(test_empty_logs),
        cmocka_unit_test(test_unknown_enums),
        cmocka_unit_test(test_int64_extremes),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_utf8_passes),
        cmocka_unit_test(test_utf8_invalid_replaced),
        cmocka_unit_test(test_random_strings_roundtrip),
        cmocka_unit_test(test_error_json),
        cmocka_unit_test(test_oom_reported),
        cmocka_unit_test(test_log_alone),
        cmocka_unit_test(test_new_fields),
        cmocka_unit_test(test_float_format),
        cmocka_unit_test(test_stream_wire_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
