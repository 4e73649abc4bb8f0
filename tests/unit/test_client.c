/* test_client.c -- libslc without a server: codec, errors, JSON, no-route
 *
 * Responses are built with the server's protobuf-c code (gen/pbc), packed,
 * cut into gRPC slices of several sizes and decoded through the client's
 * slice-reading nanopb path, so both generators are checked against each
 * other. The only network test dials 127.0.0.1:1, where nothing listens.
 */
#define _POSIX_C_SOURCE 200809L /* open_memstream, clock_gettime */

#include "sl_test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <grpc/grpc.h>
#include <grpc/slice.h>
#include <pb_decode.h>

#include "../../client/json_out.h"
#include "../../client/slc_internal.h"
#include "google/protobuf/any.pb-c.h"
#include "google/rpc/error_details.pb-c.h"
#include "google/rpc/status.pb-c.h"
#include "limits.h"
#include "modelarts/v1/service_logs.pb-c.h"
#include "render_json.h"
#include "servicelogs/client.h"

/* The client mirrors the server's limits; it must not drift. */
_Static_assert(SLC_ID_LEN == SL_MAX_ID + 1, "id bound");
_Static_assert(SLC_NAME_LEN == SL_MAX_NAME + 1, "name bound");
_Static_assert(SLC_MAX_CONFIGS == SL_MAX_CONFIGS, "configs bound");
_Static_assert(SLC_MAX_ENVS == SL_MAX_ENVS, "envs bound");
_Static_assert(SLC_MAX_NODES == SL_MAX_NODES, "nodes bound");
_Static_assert(SLC_MAX_EXTEND_CONFIG == SL_MAX_EXTEND, "extend bound");
_Static_assert(SLC_MAX_EXTEND_VALUE == SL_MAX_EXTEND_LEN, "extend length");
_Static_assert(SLC_MAX_ID == SL_MAX_ID && SLC_MAX_ID == SL_MAX_VERSION &&
                   SLC_MAX_ID == SL_MAX_CLUSTER_ID,
               "id-sized strings");
_Static_assert(SLC_MAX_NAME == SL_MAX_NAME && SLC_MAX_NAME == SL_MAX_ENV_KEY,
               "name-sized strings");
_Static_assert(SLC_MAX_ENV_VALUE == SL_MAX_ENV_VALUE, "env value");

/* ---- helpers ----------------------------------------------------------- */

/* A packed message in a heap buffer. */
struct bytes {
    uint8_t *data;
    size_t len;
};

static struct bytes
pack_response(const Modelarts__V1__QueryServiceLogsResponse *m)
{
    struct bytes b;
    b.len = modelarts__v1__query_service_logs_response__get_packed_size(m);
    b.data = malloc(b.len ? b.len : 1);
    assert_non_null(b.data);
    modelarts__v1__query_service_logs_response__pack(m, b.data);
    return b;
}

/* A byte buffer holding data cut into slices of `step` bytes (0: one). */
static grpc_byte_buffer *make_bb(const struct bytes *b, size_t step)
{
    if (step == 0 || step > b->len)
        step = b->len ? b->len : 1;
    size_t n = b->len ? (b->len + step - 1) / step : 1;
    grpc_slice *slices = calloc(n, sizeof(*slices));
    assert_non_null(slices);
    for (size_t i = 0; i < n; i++) {
        size_t off = i * step;
        size_t len = b->len - off < step ? b->len - off : step;
        slices[i] = grpc_slice_from_copied_buffer((const char *)b->data + off,
                                                  b->len ? len : 0);
    }
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(slices, n);
    for (size_t i = 0; i < n; i++)
        grpc_slice_unref(slices[i]);
    free(slices);
    return bb;
}

/* Decodes b (cut in slices of step bytes) and prints it as JSON into a
 * string; returns the SLC code, *json holds the output (caller frees). */
static int decode_to_json(const struct bytes *b, size_t step, char **json,
                          slc_head *head, slc_error *err)
{
    static struct slc__decode_buf buf; /* ~170 KiB: not on the stack */
    char *out = NULL;
    size_t out_len = 0;
    FILE *f = open_memstream(&out, &out_len);
    assert_non_null(f);
    struct slc_json_stream js;
    slc_json_stream_init(&js, f);
    grpc_byte_buffer *bb = make_bb(b, step);
    int rc =
        slc__decode_response(bb, &buf, head, slc_json_stream_log, &js, err);
    if (rc == SLC_OK)
        assert_int_equal(slc_json_stream_end(&js, head), 0);
    grpc_byte_buffer_destroy(bb);
    fclose(f);
    *json = out;
    return rc;
}

/* Decodes with every slice size and checks the JSON each time. */
static void assert_json_all_steps(const struct bytes *b, const char *want)
{
    static const size_t steps[] = {0, 1, 2, 3, 7, 64, 1000};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        char *json;
        slc_head head;
        slc_error err;
        int rc = decode_to_json(b, steps[i], &json, &head, &err);
        if (rc != SLC_OK)
            fail_msg("step %zu: %s: %s", steps[i], slc_err_name(rc),
                     err.message);
        assert_string_equal(json, want);
        free(json);
    }
}

/* A real-time service: two logs, the first with two configs. */
static const char rt_json[] =
    "{\"service_id\":\"svc-1\",\"service_name\":\"mnist\",\"logs\":["
    "{\"update_time\":1700000000000,\"result\":\"SUCCESS\",\"config\":["
    "{\"model_id\":\"m1\",\"model_name\":\"mnist\",\"model_version\":"
    "\"1.0.1\",\"weight\":70,\"specification\":\"modelarts.vm.cpu.2u\","
    "\"instance_count\":1,\"envs\":{\"A\":\"1\",\"B\":\"x\\\"y\"}},"
    "{\"model_id\":\"m2\",\"model_name\":\"mnist\",\"model_version\":"
    "\"2.0\",\"weight\":0,\"specification\":\"s\",\"instance_count\":0,"
    "\"envs\":{}}]},"
    "{\"update_time\":1700000001000,\"result\":\"FAIL\",\"config\":[]}]}\n";

/* The same logs as an edge service (node results, no weights). */
static const char edge_json[] =
    "{\"service_id\":\"svc-1\",\"service_name\":\"mnist\",\"logs\":["
    "{\"update_time\":1700000000000,\"result\":\"SUCCESS\",\"config\":["
    "{\"model_id\":\"m1\",\"model_name\":\"mnist\",\"model_version\":"
    "\"1.0.1\",\"specification\":\"modelarts.vm.cpu.2u\","
    "\"envs\":{\"A\":\"1\",\"B\":\"x\\\"y\"}},"
    "{\"model_id\":\"m2\",\"model_name\":\"mnist\",\"model_version\":"
    "\"2.0\",\"specification\":\"s\",\"envs\":{}}],"
    "\"success_num\":1,\"failed_num\":1,\"result_detail\":["
    "{\"node_id\":\"n1\",\"node_name\":\"edge-a\",\"operation\":\"deploy\","
    "\"result\":true},"
    "{\"node_id\":\"n2\",\"node_name\":\"edge-b\",\"operation\":\"delete\","
    "\"result\":false}]},"
    "{\"update_time\":1700000001000,\"result\":\"FAIL\",\"config\":[],"
    "\"success_num\":0,\"failed_num\":0,\"result_detail\":[]}]}\n";

/* The fixture response (protobuf-c, all static storage). */
struct fixture {
    Modelarts__V1__CustomSpec spec;
    char *extend[2];
    Modelarts__V1__ServiceConfig__EnvsEntry env_a, env_b;
    Modelarts__V1__ServiceConfig__EnvsEntry *envs[2];
    Modelarts__V1__ServiceConfig cfg1, cfg2;
    Modelarts__V1__ServiceConfig *cfgs[2];
    Modelarts__V1__NodeResult node1, node2;
    Modelarts__V1__NodeResult *nodes[2];
    Modelarts__V1__ServiceLog log1, log2;
    Modelarts__V1__ServiceLog *logs[2];
    Modelarts__V1__QueryServiceLogsResponse resp;
};

static void fixture_init(struct fixture *fx, Modelarts__V1__InferType type)
{
    memset(fx, 0, sizeof(*fx));
    modelarts__v1__service_config__envs_entry__init(&fx->env_a);
    fx->env_a.key = "A";
    fx->env_a.value = "1";
    modelarts__v1__service_config__envs_entry__init(&fx->env_b);
    fx->env_b.key = "B";
    fx->env_b.value = "x\"y";
    fx->envs[0] = &fx->env_a;
    fx->envs[1] = &fx->env_b;

    modelarts__v1__service_config__init(&fx->cfg1);
    fx->cfg1.model_id = "m1";
    fx->cfg1.model_name = "mnist";
    fx->cfg1.model_version = "1.0.1";
    fx->cfg1.weight = type == MODELARTS__V1__INFER_TYPE__REAL_TIME ? 70 : 0;
    fx->cfg1.specification = "modelarts.vm.cpu.2u";
    fx->cfg1.instance_count = 1;
    fx->cfg1.n_envs = 2;
    fx->cfg1.envs = fx->envs;
    modelarts__v1__service_config__init(&fx->cfg2);
    fx->cfg2.model_id = "m2";
    fx->cfg2.model_name = "mnist";
    fx->cfg2.model_version = "2.0";
    fx->cfg2.specification = "s";
    fx->cfgs[0] = &fx->cfg1;
    fx->cfgs[1] = &fx->cfg2;

    modelarts__v1__node_result__init(&fx->node1);
    fx->node1.node_id = "n1";
    fx->node1.node_name = "edge-a";
    fx->node1.operation = MODELARTS__V1__NODE_OPERATION__DEPLOY;
    fx->node1.result = 1;
    modelarts__v1__node_result__init(&fx->node2);
    fx->node2.node_id = "n2";
    fx->node2.node_name = "edge-b";
    fx->node2.operation = MODELARTS__V1__NODE_OPERATION__DELETE;
    fx->nodes[0] = &fx->node1;
    fx->nodes[1] = &fx->node2;

    modelarts__v1__service_log__init(&fx->log1);
    fx->log1.update_time = 1700000000000;
    fx->log1.result = MODELARTS__V1__UPDATE_RESULT__SUCCESS;
    fx->log1.n_config = 2;
    fx->log1.config = fx->cfgs;
    /* Edge fields are sent for real-time too: the renderer must omit them */
    fx->log1.success_num = 1;
    fx->log1.failed_num = 1;
    fx->log1.n_result_detail = 2;
    fx->log1.result_detail = fx->nodes;
    modelarts__v1__service_log__init(&fx->log2);
    fx->log2.update_time = 1700000001000;
    fx->log2.result = MODELARTS__V1__UPDATE_RESULT__FAIL;
    fx->logs[0] = &fx->log1;
    fx->logs[1] = &fx->log2;

    modelarts__v1__custom_spec__init(&fx->spec);
    fx->extend[0] = "k=v";
    fx->extend[1] = "\xe4x\n";

    modelarts__v1__query_service_logs_response__init(&fx->resp);
    fx->resp.service_id = "svc-1";
    fx->resp.service_name = "mnist";
    fx->resp.infer_type = type;
    fx->resp.n_logs = 2;
    fx->resp.logs = fx->logs;
}

static int setup_grpc(void **state)
{
    (void)state;
    grpc_init();
    return 0;
}

static int teardown_grpc(void **state)
{
    (void)state;
    grpc_shutdown();
    return 0;
}

/* ---- request ----------------------------------------------------------- */

static void test_encode_request(void **state)
{
    (void)state;
    uint8_t buf[modelarts_v1_QueryServiceLogsRequest_size];
    size_t len;
    slc_error err;
    char id64[65];
    memset(id64, 'a', 64);
    id64[64] = '\0';
    slc_request req = {.project_id = "proj_1-A",
                       .service_id = id64,
                       .update_time = 1700000000000,
                       .token = "tok"};
    assert_int_equal(slc__encode_request(&req, buf, sizeof(buf), &len, &err),
                     SLC_OK);
    assert_int_equal(err.code, SLC_OK);

    /* nanopb reads it back */
    modelarts_v1_QueryServiceLogsRequest back =
        modelarts_v1_QueryServiceLogsRequest_init_zero;
    pb_istream_t is = pb_istream_from_buffer(buf, len);
    assert_true(
        pb_decode(&is, modelarts_v1_QueryServiceLogsRequest_fields, &back));
    assert_string_equal(back.project_id, "proj_1-A");
    assert_string_equal(back.service_id, id64);
    assert_true(back.update_time == 1700000000000);

    /* and so does the server's protobuf-c */
    Modelarts__V1__QueryServiceLogsRequest *m =
        modelarts__v1__query_service_logs_request__unpack(NULL, len, buf);
    assert_non_null(m);
    assert_string_equal(m->project_id, "proj_1-A");
    assert_string_equal(m->service_id, id64);
    assert_true(m->update_time == 1700000000000);
    modelarts__v1__query_service_logs_request__free_unpacked(m, NULL);
}

static void test_encode_request_invalid(void **state)
{
    (void)state;
    char id65[66], tok_long[SLC_TOKEN_MAX + 2];
    memset(id65, 'a', 65);
    id65[65] = '\0';
    memset(tok_long, 't', SLC_TOKEN_MAX + 1);
    tok_long[SLC_TOKEN_MAX + 1] = '\0';
    static const char *const bad_ids[] = {"",         "a b", "a/b",
                                          "\xc3\xa4", "a.b", "a\nb"};
    struct {
        const char *project, *service, *token;
        int64_t update_time;
        const char *why; /* a word the message must contain */
    } cases[] = {
        {NULL, "s", NULL, 0, "project_id"},
        {"p", NULL, NULL, 0, "service_id"},
        {id65, "s", NULL, 0, "project_id"},
        {"p", id65, NULL, 0, "service_id"},
        {"p", "s", NULL, -1, "update_time"},
        {"p", "s", "a\nb", 0, "token"},
        {"p", "s", "caf\xc3\xa9", 0, "token"},
        {"p", "s", tok_long, 0, "token"},
    };
    uint8_t buf[modelarts_v1_QueryServiceLogsRequest_size];
    size_t len = 99;
    slc_error err;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        slc_request req = {cases[i].project, cases[i].service,
                           cases[i].update_time, cases[i].token};
        int rc = slc__encode_request(&req, buf, sizeof(buf), &len, &err);
        if (rc != SLC_EINVAL || !strstr(err.message, cases[i].why))
            fail_msg("case %zu: %s: %s", i, slc_err_name(rc), err.message);
        assert_int_equal(err.code, SLC_EINVAL);
        assert_int_equal(err.grpc_status, -1);
        assert_int_equal(len, 0);
    }
    for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
        slc_request req = {.project_id = "p", .service_id = bad_ids[i]};
        assert_int_equal(
            slc__encode_request(&req, buf, sizeof(buf), &len, &err),
            SLC_EINVAL);
    }
    /* "" and NULL tokens mean "no token" */
    slc_request ok = {.project_id = "p", .service_id = "s", .token = ""};
    assert_int_equal(slc__encode_request(&ok, buf, sizeof(buf), &len, &err),
                     SLC_OK);
    assert_int_equal(slc__encode_request(NULL, buf, sizeof(buf), &len, &err),
                     SLC_EINVAL);
}

/* ---- response ---------------------------------------------------------- */

static void test_decode_real_time(void **state)
{
    (void)state;
    struct fixture fx;
    fixture_init(&fx, MODELARTS__V1__INFER_TYPE__REAL_TIME);
    struct bytes b = pack_response(&fx.resp);
    assert_json_all_steps(&b, rt_json);

    char *json;
    slc_head head;
    slc_error err;
    assert_int_equal(decode_to_json(&b, 5, &json, &head, &err), SLC_OK);
    assert_string_equal(head.service_id, "svc-1");
    assert_string_equal(head.service_name, "mnist");
    assert_int_equal(head.infer_type, modelarts_v1_InferType_REAL_TIME);
    assert_int_equal(head.n_logs, 2);
    free(json);
    free(b.data);
}

static void test_decode_edge(void **state)
{
    (void)state;
    struct fixture fx;
    fixture_init(&fx, MODELARTS__V1__INFER_TYPE__EDGE);
    struct bytes b = pack_response(&fx.resp);
    assert_json_all_steps(&b, edge_json);
    free(b.data);
}

static void test_decode_no_logs(void **state)
{
    (void)state;
    Modelarts__V1__QueryServiceLogsResponse resp =
        MODELARTS__V1__QUERY_SERVICE_LOGS_RESPONSE__INIT;
    resp.service_id = "s";
    resp.service_name = "n\xe4me"; /* invalid UTF-8 from a hostile server */
    resp.infer_type = MODELARTS__V1__INFER_TYPE__EDGE;
    struct bytes b = pack_response(&resp);
    assert_json_all_steps(
        &b, "{\"service_id\":\"s\",\"service_name\":\"n\xef\xbf\xbdme\","
            "\"logs\":[]}\n");
    free(b.data);

    /* An empty message is a valid, all-default response. */
    struct bytes empty = {(uint8_t *)"", 0};
    assert_json_all_steps(
        &empty, "{\"service_id\":\"\",\"service_name\":\"\",\"logs\":[]}\n");
}

/* The head (infer_type included) is complete in the first callback. */
static int check_head_cb(void *ctx, const slc_head *head, const slc_log *log)
{
    size_t *n = ctx;
    assert_int_equal(head->infer_type, modelarts_v1_InferType_EDGE);
    assert_int_equal(head->n_logs, 2);
    assert_string_equal(head->service_id, "svc-1");
    if (*n == 0) {
        assert_int_equal(log->n_config, 2);
        assert_string_equal(log->config[0].envs[1].value, "x\"y");
        assert_int_equal(log->n_result_detail, 2);
        assert_string_equal(log->result_detail[1].node_name, "edge-b");
    }
    return ++*n == 1 ? 0 : 1; /* stop at the second log */
}

static void test_decode_callback(void **state)
{
    (void)state;
    static struct slc__decode_buf buf;
    struct fixture fx;
    fixture_init(&fx, MODELARTS__V1__INFER_TYPE__EDGE);
    struct bytes b = pack_response(&fx.resp);
    grpc_byte_buffer *bb = make_bb(&b, 3);
    size_t n = 0;
    slc_head head;
    slc_error err;
    assert_int_equal(
        slc__decode_response(bb, &buf, &head, check_head_cb, &n, &err),
        SLC_ECALLBACK);
    assert_int_equal(n, 2);
    assert_int_equal(err.code, SLC_ECALLBACK);
    assert_int_equal(head.n_logs, 0); /* zeroed on failure */

    /* on_log NULL: the head only */
    assert_int_equal(slc__decode_response(bb, &buf, &head, NULL, NULL, &err),
                     SLC_OK);
    assert_int_equal(head.n_logs, 2);
    assert_int_equal(head.infer_type, modelarts_v1_InferType_EDGE);
    grpc_byte_buffer_destroy(bb);
    free(b.data);
}

/* Decodes b and expects code, with `word` in the message. */
static void assert_decode_fails(const struct bytes *b, int code,
                                const char *word)
{
    char *json;
    slc_head head;
    slc_error err;
    int rc = decode_to_json(b, 4, &json, &head, &err);
    if (rc != code || !strstr(err.message, word))
        fail_msg("want %s (%s), got %s: %s", slc_err_name(code), word,
                 slc_err_name(rc), err.message);
    assert_int_equal(err.grpc_status, 0);
    free(json);
}

static void test_decode_bounds(void **state)
{
    (void)state;
    char s65[66], s129[130], s1025[1026];
    memset(s65, 'x', 65);
    s65[65] = '\0';
    memset(s129, 'x', 129);
    s129[129] = '\0';
    memset(s1025, 'x', 1025);
    s1025[1025] = '\0';

    Modelarts__V1__ServiceConfig__EnvsEntry envs[SLC_MAX_ENVS + 1];
    Modelarts__V1__ServiceConfig__EnvsEntry *envp[SLC_MAX_ENVS + 1];
    char keys[SLC_MAX_ENVS + 1][16];
    for (int i = 0; i <= SLC_MAX_ENVS; i++) {
        modelarts__v1__service_config__envs_entry__init(&envs[i]);
        snprintf(keys[i], sizeof(keys[i]), "K%d", i);
        envs[i].key = keys[i];
        envs[i].value = "v";
        envp[i] = &envs[i];
    }
    Modelarts__V1__ServiceConfig cfg[SLC_MAX_CONFIGS + 1];
    Modelarts__V1__ServiceConfig *cfgp[SLC_MAX_CONFIGS + 1];
    for (int i = 0; i <= SLC_MAX_CONFIGS; i++) {
        modelarts__v1__service_config__init(&cfg[i]);
        cfg[i].model_id = "m";
        cfgp[i] = &cfg[i];
    }
    Modelarts__V1__NodeResult node[SLC_MAX_NODES + 1];
    Modelarts__V1__NodeResult *nodep[SLC_MAX_NODES + 1];
    for (int i = 0; i <= SLC_MAX_NODES; i++) {
        modelarts__v1__node_result__init(&node[i]);
        node[i].node_id = "n";
        nodep[i] = &node[i];
    }
    Modelarts__V1__ServiceLog log = MODELARTS__V1__SERVICE_LOG__INIT;
    Modelarts__V1__ServiceLog *logp = &log;
    Modelarts__V1__QueryServiceLogsResponse resp =
        MODELARTS__V1__QUERY_SERVICE_LOGS_RESPONSE__INIT;
    resp.service_id = "s";
    resp.infer_type = MODELARTS__V1__INFER_TYPE__EDGE;
    resp.n_logs = 1;
    resp.logs = &logp;

    /* Exactly at every bound: fine. */
    char s64[65], s128[129], s1024[1025];
    memcpy(s64, s65, 64);
    s64[64] = '\0';
    memcpy(s128, s129, 128);
    s128[128] = '\0';
    memcpy(s1024, s1025, 1024);
    s1024[1024] = '\0';
    resp.service_id = s64;
    resp.service_name = s128;
    log.n_config = SLC_MAX_CONFIGS;
    log.config = cfgp;
    cfg[0].n_envs = SLC_MAX_ENVS;
    cfg[0].envs = envp;
    envs[0].value = s1024;
    log.n_result_detail = SLC_MAX_NODES;
    log.result_detail = nodep;
    struct bytes b = pack_response(&resp);
    char *json;
    slc_head head;
    slc_error err;
    assert_int_equal(decode_to_json(&b, 0, &json, &head, &err), SLC_OK);
    free(json);
    free(b.data);

    /* One past each bound: ETOOLARGE, never a crash or a truncation. */
    struct {
        int what;
    } cases[] = {{0}, {1}, {2}, {3}, {4}, {5}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        resp.service_id = s64;
        resp.service_name = s128;
        log.n_config = SLC_MAX_CONFIGS;
        cfg[0].n_envs = SLC_MAX_ENVS;
        envs[0].value = s1024;
        log.n_result_detail = SLC_MAX_NODES;
        switch (cases[i].what) {
        case 0:
            resp.service_id = s65;
            break;
        case 1:
            resp.service_name = s129;
            break;
        case 2:
            log.n_config = SLC_MAX_CONFIGS + 1;
            break;
        case 3:
            cfg[0].n_envs = SLC_MAX_ENVS + 1;
            break;
        case 4:
            envs[0].value = s1025;
            break;
        case 5:
            log.n_result_detail = SLC_MAX_NODES + 1;
            break;
        }
        b = pack_response(&resp);
        assert_decode_fails(&b, SLC_ETOOLARGE, "overflow");
        free(b.data);
    }
}

static void test_decode_malformed(void **state)
{
    (void)state;
    struct fixture fx;
    fixture_init(&fx, MODELARTS__V1__INFER_TYPE__REAL_TIME);
    struct bytes b = pack_response(&fx.resp);
    /* Cut short inside the logs: no prefix of it is a message. */
    for (size_t cut = 20; cut < b.len - 1; cut += 17) {
        struct bytes t = {b.data, cut};
        assert_decode_fails(&t, SLC_EDECODE, "malformed");
    }
    free(b.data);

    static uint8_t junk[] = {0x1a, 0x05, 0x08}; /* logs: 5 bytes, has 1 */
    struct bytes j = {junk, sizeof(junk)};
    assert_decode_fails(&j, SLC_EDECODE, "malformed");
    static uint8_t badwire[] = {0x0f}; /* field 1, wire type 7 */
    struct bytes w = {badwire, sizeof(badwire)};
    assert_decode_fails(&w, SLC_EDECODE, "malformed");
    /* logs (field 3) and a log's config (field 3) sent as varints and as
     * fixed64: rejected, not misread. */
    static uint8_t log_varint[] = {0x18, 0x01};
    struct bytes lv = {log_varint, sizeof(log_varint)};
    assert_decode_fails(&lv, SLC_EDECODE, "wire type");
    static uint8_t log_fixed[] = {0x19, 1, 2, 3, 4, 5, 6, 7, 8};
    struct bytes lf = {log_fixed, sizeof(log_fixed)};
    assert_decode_fails(&lf, SLC_EDECODE, "wire type");
    static uint8_t cfg_varint[] = {0x1a, 0x02, 0x18, 0x05};
    struct bytes cv = {cfg_varint, sizeof(cfg_varint)};
    assert_decode_fails(&cv, SLC_EDECODE, "wire type");
}

/* ---- the collector (slc_query's path) ---------------------------------- */

static void test_collect(void **state)
{
    (void)state;
    static struct slc__decode_buf buf;
    struct fixture fx;
    fixture_init(&fx, MODELARTS__V1__INFER_TYPE__EDGE);
    struct bytes b = pack_response(&fx.resp);
    grpc_byte_buffer *bb = make_bb(&b, 9);
    slc_error err;
    slc_head head;

    struct slc__collect cl;
    assert_int_equal(slc__collect_init(&cl, 10, &err), SLC_OK);
    int rc = slc__decode_response(bb, &buf, &head, slc__collect_log, &cl, &err);
    slc_result *res;
    assert_int_equal(slc__collect_finish(&cl, rc, &head, &res, &err), SLC_OK);
    assert_non_null(res);
    assert_int_equal(res->n_logs, 2);
    assert_string_equal(res->head.service_name, "mnist");
    assert_string_equal(res->logs[0].config[0].envs[0].key, "A");
    assert_string_equal(res->logs[0].result_detail[0].node_id, "n1");
    assert_int_equal(res->logs[1].n_config, 0);

    /* The copy prints the same bytes as the stream. */
    char *out = NULL;
    size_t out_len = 0;
    FILE *f = open_memstream(&out, &out_len);
    assert_int_equal(slc_json_result(f, res), 0);
    fclose(f);
    assert_string_equal(out, edge_json);
    free(out);
    slc_result_free(res);
    slc_result_free(NULL);

    /* Over max_logs: ETOOLARGE, nothing handed out. */
    assert_int_equal(slc__collect_init(&cl, 1, &err), SLC_OK);
    rc = slc__decode_response(bb, &buf, &head, slc__collect_log, &cl, &err);
    assert_int_equal(rc, SLC_ECALLBACK);
    assert_int_equal(slc__collect_finish(&cl, rc, &head, &res, &err),
                     SLC_ETOOLARGE);
    assert_null(res);
    assert_non_null(strstr(err.message, "max_logs"));

    /* A failed query frees the collector too. */
    assert_int_equal(slc__collect_init(&cl, 10, &err), SLC_OK);
    assert_int_equal(
        slc__collect_finish(&cl, SLC_EUNAVAILABLE, &head, &res, &err),
        SLC_EUNAVAILABLE);
    assert_null(res);

    grpc_byte_buffer_destroy(bb);
    free(b.data);
}

/* ---- status details ---------------------------------------------------- */

/* Packs google.rpc.Status{details: the given Anys}. */
static struct bytes pack_status(Google__Protobuf__Any **anys, size_t n)
{
    Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
    st.code = 5;
    st.message = "service not found";
    st.n_details = n;
    st.details = anys;
    struct bytes b;
    b.len = google__rpc__status__get_packed_size(&st);
    b.data = malloc(b.len);
    google__rpc__status__pack(&st, b.data);
    return b;
}

/* An Any holding ErrorInfo{reason, domain}; value points into buf. */
static void error_info_any(Google__Protobuf__Any *any, const char *reason,
                           const char *domain, uint8_t *buf, size_t cap)
{
    Google__Rpc__ErrorInfo info = GOOGLE__RPC__ERROR_INFO__INIT;
    info.reason = (char *)reason;
    info.domain = (char *)domain;
    assert_true(google__rpc__error_info__get_packed_size(&info) <= cap);
    google__protobuf__any__init(any);
    any->type_url = "type.googleapis.com/google.rpc.ErrorInfo";
    any->value.data = buf;
    any->value.len = google__rpc__error_info__pack(&info, buf);
}

static void test_status_reason(void **state)
{
    (void)state;
    uint8_t ibuf[256], big[2048];
    char reason[SLC_ERROR_CODE_LEN];
    memset(big, 0x41, sizeof(big));

    /* The server's shape: one ErrorInfo. */
    Google__Protobuf__Any info;
    error_info_any(&info, "ModelArts.3502", "modelarts", ibuf, sizeof(ibuf));
    Google__Protobuf__Any *one[] = {&info};
    struct bytes b = pack_status(one, 1);
    slc__status_reason(b.data, b.len, reason, sizeof(reason));
    assert_string_equal(reason, "ModelArts.3502");
    free(b.data);

    /* After other details, one too big for the client's Any: still found. */
    Google__Protobuf__Any debug = GOOGLE__PROTOBUF__ANY__INIT;
    debug.type_url = "type.googleapis.com/google.rpc.DebugInfo";
    debug.value.data = big;
    debug.value.len = sizeof(big);
    Google__Protobuf__Any retry = GOOGLE__PROTOBUF__ANY__INIT;
    retry.type_url = "type.googleapis.com/google.rpc.RetryInfo";
    Google__Protobuf__Any *three[] = {&debug, &retry, &info};
    b = pack_status(three, 3);
    slc__status_reason(b.data, b.len, reason, sizeof(reason));
    assert_string_equal(reason, "ModelArts.3502");

    /* Truncated anywhere: never a crash; a complete ErrorInfo still counts
     * when the cut falls after it. */
    for (size_t cut = 0; cut < b.len; cut++)
        slc__status_reason(b.data, cut, reason, sizeof(reason));
    free(b.data);

    /* Another domain, no details, junk, empty: "". */
    Google__Protobuf__Any other;
    error_info_any(&other, "SOME_REASON", "example.com", ibuf, sizeof(ibuf));
    Google__Protobuf__Any *oth[] = {&other};
    b = pack_status(oth, 1);
    slc__status_reason(b.data, b.len, reason, sizeof(reason));
    assert_string_equal(reason, "");
    free(b.data);
    b = pack_status(NULL, 0);
    slc__status_reason(b.data, b.len, reason, sizeof(reason));
    assert_string_equal(reason, "");
    free(b.data);
    slc__status_reason(big, sizeof(big), reason, sizeof(reason));
    assert_string_equal(reason, "");
    slc__status_reason(NULL, 0, reason, sizeof(reason));
    assert_string_equal(reason, "");
}

static void test_status_to_err(void **state)
{
    (void)state;
    struct {
        int grpc;
        const char *reason;
        int want;
    } cases[] = {
        {GRPC_STATUS_OK, "", SLC_OK},
        {GRPC_STATUS_UNAVAILABLE, "ModelArts.4302", SLC_EUNAVAILABLE},
        {GRPC_STATUS_UNAVAILABLE, "", SLC_EUNAVAILABLE},
        {GRPC_STATUS_DEADLINE_EXCEEDED, "", SLC_EUNAVAILABLE},
        {GRPC_STATUS_NOT_FOUND, "ModelArts.3502", SLC_ENOTFOUND},
        {GRPC_STATUS_UNAUTHENTICATED, "ModelArts.0201", SLC_EAUTH},
        {GRPC_STATUS_PERMISSION_DENIED, "ModelArts.0210", SLC_EAUTH},
        {GRPC_STATUS_INVALID_ARGUMENT, "ModelArts.0101", SLC_ESERVER},
        {GRPC_STATUS_FAILED_PRECONDITION, "ModelArts.2858", SLC_ESERVER},
        {GRPC_STATUS_RESOURCE_EXHAUSTED, "ModelArts.2799", SLC_ESERVER},
        {GRPC_STATUS_RESOURCE_EXHAUSTED, "", SLC_ETOOLARGE},
        {GRPC_STATUS_INTERNAL, "ModelArts.0010", SLC_ESERVER},
        {GRPC_STATUS_UNIMPLEMENTED, "", SLC_ESERVER},
        {GRPC_STATUS_UNKNOWN, "", SLC_ESERVER},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (slc__status_to_err(cases[i].grpc, cases[i].reason) != cases[i].want)
            fail_msg("case %zu: gRPC %d %s", i, cases[i].grpc, cases[i].reason);
}

static void test_err_names(void **state)
{
    (void)state;
    assert_string_equal(slc_err_name(SLC_OK), "OK");
    assert_string_equal(slc_err_name(SLC_ENOTFOUND), "ENOTFOUND");
    assert_string_equal(slc_strerror(SLC_ENOTFOUND), "service not found");
    assert_string_equal(slc_err_name(12345), "UNKNOWN");
    for (int c = SLC__ERR_FIRST + 1; c < SLC__ERR_END; c++) {
        assert_true(c < 0);
        assert_string_not_equal(slc_err_name(c), "UNKNOWN");
        for (int d = c + 1; d < SLC__ERR_END; d++)
            assert_string_not_equal(slc_err_name(c), slc_err_name(d));
    }
}

/* ---- JSON strings ------------------------------------------------------ */

static void test_json_string(void **state)
{
    (void)state;
    struct {
        const char *in, *out;
    } cases[] = {
        {"", "\"\""},
        {"plain /text/", "\"plain /text/\""},
        {"q\"b\\", "\"q\\\"b\\\\\""},
        {"\n\r\t\b\f", "\"\\n\\r\\t\\b\\f\""},
        {"\x01\x1f\x7f", "\"\\u0001\\u001f\x7f\""},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
         "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""},
        {"\xe2\x80\xa8", "\"\xe2\x80\xa8\""}, /* U+2028 passes as is */
        /* invalid UTF-8: one U+FFFD per maximal ill-formed subpart */
        {"a\xff"
         "b",
         "\"a\xef\xbf\xbd"
         "b\""},
        {"\xc3", "\"\xef\xbf\xbd\""},
        {"\xe2\x82"
         "a",
         "\"\xef\xbf\xbd"
         "a\""},
        {"\xe2\x82\xe2\x82\xac", "\"\xef\xbf\xbd\xe2\x82\xac\""},
        {"\xc0\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\""}, /* overlong */
        {"\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""},
        {"\xf4\x90\x80\x80",
         "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""},
        {"\xf0\x9f\x98", "\"\xef\xbf\xbd\""},
        {"\x80\"", "\"\xef\xbf\xbd\\\"\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);
        slc_json_string(f, cases[i].in);
        fclose(f);
        if (strcmp(out, cases[i].out) != 0)
            fail_msg("case %zu: got %s want %s", i, out, cases[i].out);
        free(out);
    }
}

/* ---- same bytes as the REST shim's renderer --------------------------- */

/* Client JSON (decode + stream) == server JSON (sl_render_logs_json) for
 * the same protobuf-c message. */
static void
assert_same_as_server(const Modelarts__V1__QueryServiceLogsResponse *m)
{
    struct sl_buf sb;
    sl_buf_init(&sb);
    assert_int_equal(sl_render_logs_json(m, &sb), SL_OK);
    sl_buf_putc(&sb, '\0');
    struct bytes b = pack_response(m);
    assert_json_all_steps(&b, sb.data);
    free(b.data);
    sl_buf_free(&sb);
}

static void test_json_same_as_server(void **state)
{
    (void)state;
    static const Modelarts__V1__InferType types[] = {
        MODELARTS__V1__INFER_TYPE__REAL_TIME,
        MODELARTS__V1__INFER_TYPE__EDGE,
        MODELARTS__V1__INFER_TYPE__BATCH,
        MODELARTS__V1__INFER_TYPE__INFER_TYPE_UNSPECIFIED,
        (Modelarts__V1__InferType)9, /* newer than this build */
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        struct fixture fx;
        fixture_init(&fx, types[i]);
        assert_same_as_server(&fx.resp);

        /* Hostile strings, unknown enums, extreme numbers. */
        fx.resp.service_name = "a\x01\"\\\n\xff\xe2\x82\xc3\xa9\x7f/";
        fx.env_b.key = "\xed\xa0\x80k\t";
        fx.env_b.value = "\xf4\x90\x80\x80\xf0\x9f\x98\x80\x1f";
        fx.node1.node_name = "\xc0\xaf\r";
        fx.node1.operation = (Modelarts__V1__NodeOperation)0;
        fx.node2.operation = (Modelarts__V1__NodeOperation)7;
        fx.log1.result = (Modelarts__V1__UpdateResult)0;
        fx.log2.result = (Modelarts__V1__UpdateResult)42;
        fx.log1.update_time = INT64_MIN;
        fx.log2.update_time = INT64_MAX;
        fx.cfg1.weight = INT32_MIN;
        fx.cfg1.instance_count = INT32_MAX;
        fx.log1.success_num = -1;
        assert_same_as_server(&fx.resp);
    }
}

static void test_json_string_same_as_server(void **state)
{
    (void)state;
    /* Every lead byte, every second byte, typical third bytes: all the
     * UTF-8 branches (ASCII leads only need one pass). */
    static const unsigned char thirds[] = {0x00, 0x41, 0x80, 0xbf, 0xc0};
    char s[5];
    for (int a = 1; a < 256; a++) {
        for (int b = 0; b < 256; b += (a < 0x80 ? 255 : 1)) {
            for (size_t k = 0; k < sizeof(thirds); k++) {
                s[0] = (char)a;
                s[1] = (char)b;
                s[2] = (char)(b ? thirds[k] : 0);
                s[3] = (char)(b && thirds[k] ? 0x80 : 0);
                s[4] = '\0';
                char *out = NULL;
                size_t len = 0;
                FILE *f = open_memstream(&out, &len);
                slc_json_string(f, s);
                fclose(f);
                struct sl_buf sb;
                sl_buf_init(&sb);
                sl_buf_put_json_string(&sb, s);
                if (sb.len != len || memcmp(sb.data, out, len) != 0)
                    fail_msg("bytes %02x %02x %02x: client %s, server %.*s", a,
                             b, thirds[k], out, (int)sb.len, sb.data);
                sl_buf_free(&sb);
                free(out);
            }
        }
    }
}

/* An slc_log_fn printing each log alone (watch's line) into ctx's FILE. */
static int print_line(void *ctx, const slc_head *head, const slc_log *log)
{
    struct {
        FILE *f;
        int n;
    } *lc = ctx;
    slc_json_log(lc->f, head->infer_type, log, true);
    lc->n++;
    return 0;
}

/* ---- the live platform's fields ---------------------------------------- */

/* Sets the new fields on the fixture (a custom_spec with awkward floats). */
static void fixture_live(struct fixture *fx)
{
    fx->spec.gpu_p4 = 0.1f;
    fx->spec.memory = 4096;
    fx->spec.cpu = (float)NAN;
    fx->spec.ascend_a310 = -1;
    fx->cfg1.custom_spec = &fx->spec;
    fx->cfg2.cluster_id = "cfg-cluster";
    fx->log1.cluster_id = "cl-\x01";
    fx->log2.n_extend_config = 2;
    fx->log2.extend_config = fx->extend;
}

static void test_live_fields_same_as_server(void **state)
{
    (void)state;
    for (int t = 0; t <= 4; t++) {
        struct fixture fx;
        fixture_init(&fx, (Modelarts__V1__InferType)t);
        fixture_live(&fx);
        assert_same_as_server(&fx.resp);
        fx.spec.cpu = 2.5f;
        fx.spec.gpu_p4 = -(float)INFINITY;
        assert_same_as_server(&fx.resp);
    }
}

/* Decoded views carry the new fields; the collector copies them. */
static void test_live_fields_decoded(void **state)
{
    (void)state;
    static struct slc__decode_buf buf;
    struct fixture fx;
    fixture_init(&fx, MODELARTS__V1__INFER_TYPE__REAL_TIME);
    fixture_live(&fx);
    fx.spec.cpu = 2.0f;
    struct bytes b = pack_response(&fx.resp);
    grpc_byte_buffer *bb = make_bb(&b, 5);
    slc_error err;
    slc_head head;
    struct slc__collect cl;
    assert_int_equal(slc__collect_init(&cl, 10, &err), SLC_OK);
    int rc = slc__decode_response(bb, &buf, &head, slc__collect_log, &cl, &err);
    slc_result *res;
    assert_int_equal(slc__collect_finish(&cl, rc, &head, &res, &err), SLC_OK);
    memset(&buf, 0xa5, sizeof(buf)); /* the copy owns its data */
    const slc_log *l1 = &res->logs[0], *l2 = &res->logs[1];
    assert_non_null(l1->config[0].custom_spec);
    assert_true(l1->config[0].custom_spec->gpu_p4 == 0.1f);
    assert_int_equal(l1->config[0].custom_spec->memory, 4096);
    assert_true(l1->config[0].custom_spec->cpu == 2.0f);
    assert_int_equal(l1->config[0].custom_spec->ascend_a310, -1);
    assert_string_equal(l1->config[0].cluster_id, "");
    assert_null(l1->config[1].custom_spec);
    assert_string_equal(l1->config[1].cluster_id, "cfg-cluster");
    assert_string_equal(l1->cluster_id, "cl-\x01");
    assert_int_equal(l1->n_extend_config, 0);
    assert_string_equal(l2->cluster_id, "");
    assert_int_equal(l2->n_extend_config, 2);
    assert_string_equal(l2->extend_config[1], "\xe4x\n");
    slc_result_free(res);
    grpc_byte_buffer_destroy(bb);
    free(b.data);
}

/* One log alone: the client's line is the shim's "event: log" data. */
static void test_log_line_same_as_server(void **state)
{
    (void)state;
    static struct slc__decode_buf buf;
    for (int t = 0; t <= 4; t++) {
        struct fixture fx;
        fixture_init(&fx, (Modelarts__V1__InferType)t);
        fixture_live(&fx);
        Modelarts__V1__ServiceLog *logs[] = {&fx.log1, &fx.log2};
        for (size_t i = 0; i < 2; i++) {
            /* a later watch message: {log: ...} */
            Modelarts__V1__WatchServiceLogsResponse w =
                MODELARTS__V1__WATCH_SERVICE_LOGS_RESPONSE__INIT;
            w.log = logs[i];
            struct bytes b;
            b.len =
                modelarts__v1__watch_service_logs_response__get_packed_size(&w);
            b.data = malloc(b.len);
            modelarts__v1__watch_service_logs_response__pack(&w, b.data);
            grpc_byte_buffer *bb = make_bb(&b, 3);

            char *out = NULL;
            size_t out_len = 0;
            FILE *f = open_memstream(&out, &out_len);
            struct line_ctx {
                FILE *f;
                int n;
            } lc = {f, 0};
            slc_head head = {.infer_type = (modelarts_v1_InferType)t};
            slc_error err;
            assert_int_equal(slc__decode_watch(bb, &buf, false, &head,
                                               print_line, &lc, &err),
                             SLC_OK);
            fclose(f);
            assert_int_equal(lc.n, 1);
            assert_int_equal(head.infer_type, t); /* left as it was */

            struct sl_buf sb;
            sl_buf_init(&sb);
            assert_int_equal(sl_render_log_json(logs[i], t, &sb), SL_OK);
            if (sb.len != out_len || memcmp(sb.data, out, out_len) != 0)
                fail_msg("type %d log %zu:\nclient %s\nserver %.*s", t, i, out,
                         (int)sb.len, sb.data);
            sl_buf_free(&sb);
            free(out);
            grpc_byte_buffer_destroy(bb);
            free(b.data);
        }
    }
}

/* ---- watch messages ---------------------------------------------------- */

/* An slc_log_fn counting into *(size_t *)ctx, stopping at the first. */
static int stop_at_first(void *ctx, const slc_head *head, const slc_log *log)
{
    (void)head;
    (void)log;
    ++*(size_t *)ctx;
    return 1;
}

static struct bytes pack_watch(const Modelarts__V1__WatchServiceLogsResponse *w)
{
    struct bytes b;
    b.len = modelarts__v1__watch_service_logs_response__get_packed_size(w);
    b.data = malloc(b.len ? b.len : 1);
    assert_non_null(b.data);
    modelarts__v1__watch_service_logs_response__pack(w, b.data);
    return b;
}

/* The first message: the snapshot decodes exactly as a query answer
 * (same JSON, whatever the slicing), then the head stays for later logs. */
static void test_watch_snapshot(void **state)
{
    (void)state;
    static struct slc__decode_buf buf;
    static const size_t steps[] = {0, 1, 2, 7, 64};
    struct fixture fx;
    fixture_init(&fx, MODELARTS__V1__INFER_TYPE__EDGE);
    Modelarts__V1__WatchServiceLogsResponse w =
        MODELARTS__V1__WATCH_SERVICE_LOGS_RESPONSE__INIT;
    w.snapshot = &fx.resp;
    struct bytes b = pack_watch(&w);
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        char *out = NULL;
        size_t out_len = 0;
        FILE *f = open_memstream(&out, &out_len);
        struct slc_json_stream js;
        slc_json_stream_init(&js, f);
        grpc_byte_buffer *bb = make_bb(&b, steps[i]);
        slc_head head;
        slc_error err;
        int rc = slc__decode_watch(bb, &buf, true, &head, slc_json_stream_log,
                                   &js, &err);
        if (rc != SLC_OK)
            fail_msg("step %zu: %s", steps[i], err.message);
        assert_int_equal(slc_json_stream_end(&js, &head), 0);
        fclose(f);
        assert_string_equal(out, edge_json);
        assert_int_equal(head.n_logs, 2);
        assert_int_equal(head.infer_type, modelarts_v1_InferType_EDGE);
        free(out);

        /* head only (no callback) */
        assert_int_equal(
            slc__decode_watch(bb, &buf, true, &head, NULL, NULL, &err), SLC_OK);
        assert_string_equal(head.service_name, "mnist");
        grpc_byte_buffer_destroy(bb);
    }
    free(b.data);

    /* An empty snapshot is still a snapshot. */
    Modelarts__V1__QueryServiceLogsResponse empty =
        MODELARTS__V1__QUERY_SERVICE_LOGS_RESPONSE__INIT;
    w.snapshot = &empty;
    b = pack_watch(&w);
    assert_true(b.len == 2);
    grpc_byte_buffer *bb = make_bb(&b, 0);
    slc_head head;
    slc_error err;
    assert_int_equal(slc__decode_watch(bb, &buf, true, &head, NULL, NULL, &err),
                     SLC_OK);
    assert_int_equal(head.n_logs, 0);
    grpc_byte_buffer_destroy(bb);
    free(b.data);
}

/* Snapshot where a log is due, a log where the snapshot is due, nothing,
 * junk: EDECODE; a stopping callback: ECALLBACK. */
static void test_watch_malformed(void **state)
{
    (void)state;
    static struct slc__decode_buf buf;
    struct fixture fx;
    fixture_init(&fx, MODELARTS__V1__INFER_TYPE__REAL_TIME);
    Modelarts__V1__WatchServiceLogsResponse snap =
        MODELARTS__V1__WATCH_SERVICE_LOGS_RESPONSE__INIT;
    snap.snapshot = &fx.resp;
    Modelarts__V1__WatchServiceLogsResponse one =
        MODELARTS__V1__WATCH_SERVICE_LOGS_RESPONSE__INIT;
    one.log = &fx.log1;
    Modelarts__V1__WatchServiceLogsResponse none =
        MODELARTS__V1__WATCH_SERVICE_LOGS_RESPONSE__INIT;
    struct bytes bs = pack_watch(&snap), bl = pack_watch(&one),
                 bn = pack_watch(&none);
    static uint8_t junk[] = {0x0a, 0x05, 0x01}; /* cut short */
    static uint8_t varint1[] = {0x08, 0x01};    /* wrong wire type */
    static uint8_t unknown[] = {0x18, 0x01, 0x12,
                                0x00}; /* field 3, empty log */
    struct bytes bj = {junk, sizeof(junk)}, bv = {varint1, sizeof(varint1)},
                 bu = {unknown, sizeof(unknown)};
    struct {
        const struct bytes *b;
        bool first;
        int want;
        const char *word;
    } cases[] = {
        {&bl, true, SLC_EDECODE, "not a snapshot"},
        {&bs, false, SLC_EDECODE, "not a log"},
        {&bn, true, SLC_EDECODE, "no snapshot"},
        {&bn, false, SLC_EDECODE, "no log"},
        {&bj, true, SLC_EDECODE, "truncated"},
        {&bv, true, SLC_EDECODE, "wire type"},
        {&bu, false, SLC_OK, ""}, /* unknown fields are skipped */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        grpc_byte_buffer *bb = make_bb(cases[i].b, 1);
        slc_head head = {.n_logs = 7};
        slc_error err;
        int rc = slc__decode_watch(bb, &buf, cases[i].first, &head, NULL, NULL,
                                   &err);
        if (rc != cases[i].want || !strstr(err.message, cases[i].word))
            fail_msg("case %zu: %s: %s", i, slc_err_name(rc), err.message);
        if (rc != SLC_OK && cases[i].first)
            assert_int_equal(head.n_logs, 0);
        if (!cases[i].first)
            assert_int_equal(head.n_logs, 7); /* never touched */
        grpc_byte_buffer_destroy(bb);
    }

    /* The callback stops at a later log. */
    grpc_byte_buffer *bb = make_bb(&bl, 0);
    slc_head head = {0};
    slc_error err;
    size_t n = 0;
    assert_int_equal(
        slc__decode_watch(bb, &buf, false, &head, stop_at_first, &n, &err),
        SLC_ECALLBACK);
    assert_int_equal(n, 1);
    grpc_byte_buffer_destroy(bb);
    free(bs.data);
    free(bl.data);
    free(bn.data);
}

/* ---- writer requests and responses ------------------------------------- */

/* A record with everything set, in the public types. */
struct rec_fixture {
    slc_env envs[2];
    slc_custom_spec spec;
    slc_config cfg[2];
    slc_node nodes[2];
    const char *extend[2];
    slc_log log;
};

static void rec_init(struct rec_fixture *r)
{
    memset(r, 0, sizeof(*r));
    r->envs[0] = (slc_env){"A", "1"};
    r->envs[1] = (slc_env){"B", "x\"y"};
    r->spec = (slc_custom_spec){0.5f, 2048, 1.0f / 3.0f, 2};
    r->cfg[0] = (slc_config){.model_id = "m1",
                             .model_name = "mnist",
                             .model_version = "1.0.1",
                             .weight = 70,
                             .specification = "modelarts.vm.cpu.2u",
                             .instance_count = 1,
                             .n_envs = 2,
                             .envs = r->envs,
                             .custom_spec = &r->spec,
                             .cluster_id = "c-1"};
    r->cfg[1] = (slc_config){.model_id = "m2"}; /* NULL strings: "" */
    r->nodes[0] =
        (slc_node){"n1", "edge-a", modelarts_v1_NodeOperation_DEPLOY, true};
    r->nodes[1] =
        (slc_node){"n2", NULL, modelarts_v1_NodeOperation_DELETE, false};
    r->extend[0] = "k=v";
    r->extend[1] = "";
    r->log = (slc_log){.update_time = 1700000000000,
                       .result = modelarts_v1_UpdateResult_RUNNING,
                       .n_config = 2,
                       .config = r->cfg,
                       .success_num = 1,
                       .failed_num = 1,
                       .n_result_detail = 2,
                       .result_detail = r->nodes,
                       .cluster_id = "cl",
                       .n_extend_config = 2,
                       .extend_config = r->extend};
}

static Modelarts__V1__RecordServiceUpdateRequest *
encode_record_ok(const slc_log *log)
{
    static struct slc__decode_buf scratch;
    grpc_slice sl;
    slc_error err;
    int rc = slc__encode_record("proj-1", "svc_1", log, &scratch, &sl, &err);
    if (rc != SLC_OK)
        fail_msg("%s: %s", slc_err_name(rc), err.message);
    Modelarts__V1__RecordServiceUpdateRequest *m =
        modelarts__v1__record_service_update_request__unpack(
            NULL, GRPC_SLICE_LENGTH(sl), GRPC_SLICE_START_PTR(sl));
    grpc_slice_unref(sl);
    assert_non_null(m);
    return m;
}

/* The server's protobuf-c reads back every field; rendered by the server
 * it prints what the client prints for the same slc_log. */
static void test_encode_record(void **state)
{
    (void)state;
    struct rec_fixture r;
    rec_init(&r);
    Modelarts__V1__RecordServiceUpdateRequest *m = encode_record_ok(&r.log);
    assert_string_equal(m->project_id, "proj-1");
    assert_string_equal(m->service_id, "svc_1");
    const Modelarts__V1__ServiceLog *l = m->log;
    assert_non_null(l);
    assert_true(l->update_time == 1700000000000);
    assert_int_equal(l->result, MODELARTS__V1__UPDATE_RESULT__RUNNING);
    assert_int_equal(l->n_config, 2);
    assert_string_equal(l->config[0]->envs[1]->value, "x\"y");
    assert_non_null(l->config[0]->custom_spec);
    assert_true(l->config[0]->custom_spec->cpu == 1.0f / 3.0f);
    assert_null(l->config[1]->custom_spec);
    assert_string_equal(l->config[1]->model_name, "");
    assert_int_equal(l->n_result_detail, 2);
    assert_string_equal(l->result_detail[1]->node_name, "");
    assert_int_equal(l->n_extend_config, 2);
    assert_string_equal(l->extend_config[1], "");

    for (int t = 0; t <= 3; t++) {
        struct sl_buf sb;
        sl_buf_init(&sb);
        assert_int_equal(sl_render_log_json(l, t, &sb), SL_OK);
        char *out = NULL;
        size_t out_len = 0;
        FILE *f = open_memstream(&out, &out_len);
        slc_json_log(f, (modelarts_v1_InferType)t, &r.log, true);
        fclose(f);
        /* The client prints NULL strings as "" too. */
        if (sb.len != out_len || memcmp(sb.data, out, out_len) != 0)
            fail_msg("type %d:\nclient %s\nserver %.*s", t, out, (int)sb.len,
                     sb.data);
        free(out);
        sl_buf_free(&sb);
    }
    modelarts__v1__record_service_update_request__free_unpacked(m, NULL);

    /* Nothing but the key. */
    slc_log bare = {.update_time = 1};
    m = encode_record_ok(&bare);
    assert_int_equal(m->log->n_config, 0);
    modelarts__v1__record_service_update_request__free_unpacked(m, NULL);
}

static void test_encode_record_invalid(void **state)
{
    (void)state;
    static struct slc__decode_buf scratch;
    char s65[66], s129[130], s257[258], s1025[1026];
    memset(s65, 'x', 65);
    s65[65] = '\0';
    memset(s129, 'x', 129);
    s129[129] = '\0';
    memset(s257, 'x', 257);
    s257[257] = '\0';
    memset(s1025, 'x', 1025);
    s1025[1025] = '\0';
    struct rec_fixture r;
    grpc_slice sl;
    slc_error err;
#define EXPECT_BAD(stmt, word)                                                 \
    do {                                                                       \
        rec_init(&r);                                                          \
        stmt;                                                                  \
        int rc_ = slc__encode_record("p", "s", &r.log, &scratch, &sl, &err);   \
        if (rc_ != SLC_EINVAL || !strstr(err.message, word))                   \
            fail_msg("%s: %s: %s", #stmt, slc_err_name(rc_), err.message);     \
        assert_int_equal(GRPC_SLICE_LENGTH(sl), 0);                            \
    } while (0)
    EXPECT_BAD(r.log.update_time = 0, "update_time");
    EXPECT_BAD(r.log.update_time = -5, "update_time");
    EXPECT_BAD(r.cfg[1].model_id = s65, "log.config[1].model_id");
    EXPECT_BAD(r.cfg[0].model_name = s129, "log.config[0].model_name");
    EXPECT_BAD(r.cfg[0].model_version = s65, "model_version");
    EXPECT_BAD(r.cfg[0].specification = s129, "specification");
    EXPECT_BAD(r.cfg[0].cluster_id = s65, "log.config[0].cluster_id");
    EXPECT_BAD(r.envs[1].key = s129, "log.config[0].envs[1].key");
    EXPECT_BAD(r.envs[0].value = s1025, "log.config[0].envs[0].value");
    EXPECT_BAD(r.cfg[0].n_envs = SLC_MAX_ENVS + 1, "envs");
    EXPECT_BAD(r.log.n_config = SLC_MAX_CONFIGS + 1, "log.config");
    EXPECT_BAD(r.log.config = NULL, "log.config");
    EXPECT_BAD(r.nodes[1].node_id = s65, "log.result_detail[1].node_id");
    EXPECT_BAD(r.nodes[0].node_name = s129, "node_name");
    EXPECT_BAD(r.log.n_result_detail = SLC_MAX_NODES + 1, "result_detail");
    EXPECT_BAD(r.log.cluster_id = s65, "log.cluster_id");
    EXPECT_BAD(r.extend[1] = s257, "log.extend_config[1]");
    EXPECT_BAD(r.log.n_extend_config = SLC_MAX_EXTEND_CONFIG + 1,
               "extend_config");
#undef EXPECT_BAD
    rec_init(&r);
    assert_int_equal(
        slc__encode_record("p q", "s", &r.log, &scratch, &sl, &err),
        SLC_EINVAL);
    assert_non_null(strstr(err.message, "project_id"));
    assert_int_equal(slc__encode_record("p", NULL, &r.log, &scratch, &sl, &err),
                     SLC_EINVAL);
    assert_int_equal(slc__encode_record("p", "s", NULL, &scratch, &sl, &err),
                     SLC_EINVAL);

    /* Exactly at the bounds: fine. */
    rec_init(&r);
    s65[64] = s129[128] = s257[256] = s1025[1024] = '\0';
    r.cfg[0].model_id = r.log.cluster_id = r.nodes[0].node_id = s65;
    r.cfg[0].model_name = r.envs[0].key = s129;
    r.envs[0].value = s1025;
    r.extend[0] = s257;
    Modelarts__V1__RecordServiceUpdateRequest *m = encode_record_ok(&r.log);
    assert_int_equal(strlen(m->log->config[0]->envs[0]->value), 1024);
    assert_int_equal(strlen(m->log->extend_config[0]), 256);
    modelarts__v1__record_service_update_request__free_unpacked(m, NULL);
}

static void test_encode_put_service(void **state)
{
    (void)state;
    uint8_t buf[modelarts_v1_PutServiceRequest_size];
    size_t len;
    slc_error err;
    assert_int_equal(slc__encode_put_service("p1", "s1", "my svc", 2, buf,
                                             sizeof(buf), &len, &err),
                     SLC_OK);
    Modelarts__V1__PutServiceRequest *m =
        modelarts__v1__put_service_request__unpack(NULL, len, buf);
    assert_non_null(m);
    assert_string_equal(m->project_id, "p1");
    assert_string_equal(m->service_id, "s1");
    assert_string_equal(m->service_name, "my svc");
    assert_int_equal(m->infer_type, MODELARTS__V1__INFER_TYPE__EDGE);
    modelarts__v1__put_service_request__free_unpacked(m, NULL);

    char s129[130];
    memset(s129, 'n', 129);
    s129[129] = '\0';
    struct {
        const char *p, *s, *name;
        int type;
        const char *word;
    } cases[] = {
        {"p 1", "s", "n", 1, "project_id"},
        {"p", "", "n", 1, "service_id"},
        {"p", "s", "", 1, "service_name"},
        {"p", "s", NULL, 1, "service_name"},
        {"p", "s", s129, 1, "service_name"},
        {"p", "s", "n", 0, "infer_type"},
        {"p", "s", "n", 4, "infer_type"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = slc__encode_put_service(cases[i].p, cases[i].s, cases[i].name,
                                         cases[i].type, buf, sizeof(buf), &len,
                                         &err);
        if (rc != SLC_EINVAL || !strstr(err.message, cases[i].word))
            fail_msg("case %zu: %s: %s", i, slc_err_name(rc), err.message);
        assert_int_equal(len, 0);
    }
}

static void test_decode_created(void **state)
{
    (void)state;
    Modelarts__V1__RecordServiceUpdateResponse r =
        MODELARTS__V1__RECORD_SERVICE_UPDATE_RESPONSE__INIT;
    uint8_t wire[8];
    r.created = 1;
    struct bytes b = {
        wire, modelarts__v1__record_service_update_response__pack(&r, wire)};
    grpc_byte_buffer *bb = make_bb(&b, 1);
    bool created = false;
    slc_error err;
    assert_int_equal(slc__decode_created(bb, &created, &err), SLC_OK);
    assert_true(created);
    grpc_byte_buffer_destroy(bb);

    struct bytes empty = {(uint8_t *)"", 0}; /* created: false */
    bb = make_bb(&empty, 0);
    created = true;
    assert_int_equal(slc__decode_created(bb, &created, &err), SLC_OK);
    assert_false(created);
    grpc_byte_buffer_destroy(bb);

    static uint8_t junk[] = {0x0a, 0x09, 0x01};
    struct bytes bj = {junk, sizeof(junk)};
    bb = make_bb(&bj, 0);
    created = true;
    assert_int_equal(slc__decode_created(bb, &created, &err), SLC_EDECODE);
    assert_false(created);
    grpc_byte_buffer_destroy(bb);
}

/* ---- the real client, no server ---------------------------------------- */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void test_create_invalid(void **state)
{
    (void)state;
    slc_client *c = (slc_client *)1;
    slc_error err;
    assert_int_equal(slc_client_create(NULL, NULL, &c, &err), SLC_EINVAL);
    assert_null(c);
    assert_int_equal(slc_client_create("", NULL, &c, &err), SLC_EINVAL);
    slc_options bad = {.timeout_ms = -1};
    assert_int_equal(slc_client_create("127.0.0.1:1", &bad, &c, &err),
                     SLC_EINVAL);
    assert_null(c);
    slc_client_destroy(NULL);
}

static int watch_never(void *ctx, slc_watch_event ev, const slc_head *head,
                       const slc_log *log)
{
    (void)ctx;
    (void)ev;
    (void)head;
    (void)log;
    fail_msg("no event expected");
    return 1;
}

static void test_unreachable(void **state)
{
    (void)state;
    slc_options opts = {.timeout_ms = 2000};
    slc_client *c;
    slc_error err;
    assert_int_equal(slc_client_create("127.0.0.1:1", &opts, &c, &err), SLC_OK);

    /* A bad request fails before any network traffic. */
    slc_request bad = {.project_id = "p 1", .service_id = "s"};
    assert_int_equal(slc_query_each(c, &bad, NULL, NULL, NULL, &err),
                     SLC_EINVAL);
    assert_int_equal(err.grpc_status, -1);

    slc_request req = {
        .project_id = "p1", .service_id = "s1", .token = "secret"};
    slc_head head;
    double t0 = now_ms();
    int rc = slc_query_each(c, &req, &head, NULL, NULL, &err);
    double dt = now_ms() - t0;
    if (rc != SLC_EUNAVAILABLE)
        fail_msg("%s: %s", slc_err_name(rc), err.message);
    assert_true(err.grpc_status == GRPC_STATUS_UNAVAILABLE ||
                err.grpc_status == GRPC_STATUS_DEADLINE_EXCEEDED);
    assert_string_equal(err.error_code, "");
    assert_true(err.message[0] != '\0');
    assert_true(dt < 2500);

    /* The collecting form, on the same client. */
    slc_result *res = (slc_result *)1;
    assert_int_equal(slc_query(c, &req, &res, &err), SLC_EUNAVAILABLE);
    assert_null(res);

    /* The watch and the writers, on the same client. */
    head.n_logs = 9;
    assert_int_equal(slc_watch(c, &req, &head, watch_never, NULL, &err),
                     SLC_EUNAVAILABLE);
    assert_int_equal(head.n_logs, 0);
    assert_int_equal(slc_watch(c, &req, NULL, NULL, NULL, &err), SLC_EINVAL);
    assert_int_equal(slc_watch(c, &bad, NULL, watch_never, NULL, &err),
                     SLC_EINVAL);
    bool created = true;
    assert_int_equal(slc_put_service(c, "p1", "s1", "n",
                                     modelarts_v1_InferType_EDGE, &created,
                                     &err),
                     SLC_EUNAVAILABLE);
    assert_false(created);
    assert_int_equal(
        slc_put_service(c, "p1", "s1", "n",
                        modelarts_v1_InferType_INFER_TYPE_UNSPECIFIED, &created,
                        &err),
        SLC_EINVAL);
    assert_int_equal(err.grpc_status, -1);
    slc_log lg = {.update_time = 5};
    created = true;
    assert_int_equal(slc_record(c, "p1", "s1", &lg, &created, &err),
                     SLC_EUNAVAILABLE);
    assert_false(created);
    lg.update_time = 0;
    assert_int_equal(slc_record(c, "p1", "s1", &lg, NULL, &err), SLC_EINVAL);
    slc_client_destroy(c);

    /* A token option: checked and copied at create. */
    slc_options tok = {.timeout_ms = 500, .token = "a\nb"};
    assert_int_equal(slc_client_create("127.0.0.1:1", &tok, &c, &err),
                     SLC_EINVAL);
    assert_null(c);
    char token[] = "secret-token";
    tok.token = token;
    tok.watch_timeout_ms = -1;
    assert_int_equal(slc_client_create("127.0.0.1:1", &tok, &c, &err),
                     SLC_EINVAL);
    tok.watch_timeout_ms = 300;
    assert_int_equal(slc_client_create("127.0.0.1:1", &tok, &c, &err), SLC_OK);
    memset(token, 'x', sizeof(token) - 1); /* the client kept a copy */
    slc_request notoken = {.project_id = "p1", .service_id = "s1"};
    assert_int_equal(slc_watch(c, &notoken, NULL, watch_never, NULL, &err),
                     SLC_EUNAVAILABLE);
    slc_client_destroy(c);
}

/* ---- TLS options ------------------------------------------------------- */

/* A throw-away self-signed certificate (EC P-256, valid to 2126) and its
 * key: files that pass the create-time checks. */
static const char tls_cert_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBhjCCAS2gAwIBAgIUV2gtmzO2X/kcIK7Nvom1sag2XlAwCgYIKoZIzj0EAwIw\n"
    "GDEWMBQGA1UEAwwNc2xjIHVuaXQgdGVzdDAgFw0yNjEyMDUwODAyMDJaGA8yMTI2\n"
    "MTExMTA4MDIwMlowGDEWMBQGA1UEAwwNc2xjIHVuaXQgdGVzdDBZMBMGByqGSM49\n"
    "AgEGCCqGSM49AwEHA0IABMT1OrlkWP+RHS9tDAqhUqx5jeFivLE98OtfmsRKIuMA\n"
    "hCt7TWeqSXSmeCTYkQSZ6CVlPmkrXVmuDNJy+lV+DhGjUzBRMB0GA1UdDgQWBBSS\n"
    "wruvBqimkEtPOBPK5QwCmhSIYjAfBgNVHSMEGDAWgBSSwruvBqimkEtPOBPK5QwC\n"
    "mhSIYjAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0cAMEQCIFmeulqslVKK\n"
    "X4IZIS8i5vlKSasGzD1Z4h6WIn8MjGNPAiB6SI/aF1Kt1QtjDCCKLfAPyTHecSSA\n"
    "idFogMj/gMBAMw==\n"
    "-----END CERTIFICATE-----\n";
static const char tls_key_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgDNnzLrqv78rVLOkR\n"
    "Q6h74siRP3Tpw/wz0doiZucIJsuhRANCAATE9Tq5ZFj/kR0vbQwKoVKseY3hYryx\n"
    "PfDrX5rESiLjAIQre01nqkl0pngk2JEEmeglZT5pK11ZrgzScvpVfg4R\n"
    "-----END PRIVATE KEY-----\n";

/* Writes text to dir/name; returns the path (static buffer per slot). */
static const char *tls_file(const char *dir, const char *name, const void *text,
                            size_t len)
{
    static char paths[8][256];
    static int slot;
    char *p = paths[slot++ % 8];
    snprintf(p, 256, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return p;
}

/* slc_client_create with opts must fail with code, a NULL *out, and a
 * message holding want. */
static void create_fails(const slc_options *opts, int code, const char *want)
{
    slc_client *c = (slc_client *)1;
    slc_error err;
    int rc = slc_client_create("127.0.0.1:1", opts, &c, &err);
    if (rc != code || !strstr(err.message, want))
        fail_msg("want %s \"%s\", got %s: %s", slc_err_name(code), want,
                 slc_err_name(rc), err.message);
    assert_null(c);
    assert_int_equal(err.grpc_status, -1);
}

static void test_create_tls_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/slc-tls-XXXXXX";
    assert_non_null(mkdtemp(dir));
    const char *ca =
        tls_file(dir, "ca.pem", tls_cert_pem, strlen(tls_cert_pem));
    const char *key =
        tls_file(dir, "key.pem", tls_key_pem, strlen(tls_key_pem));
    const char *garbage = tls_file(dir, "garbage.pem", "not PEM\n", 8);
    static const char der[] = {0x30, (char)0x82, 0x01, 0x00, 0x00};
    const char *bin = tls_file(dir, "der.crt", der, sizeof(der));
    static const char broken[] = "-----BEGIN CERTIFICATE-----\n"
                                 "MIIB!!notbase64\n"
                                 "-----END CERTIFICATE-----\n";
    const char *brk = tls_file(dir, "broken.pem", broken, strlen(broken));
    static const char enc[] = "-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
                              "MIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAc\n"
                              "-----END ENCRYPTED PRIVATE KEY-----\n";
    const char *enck = tls_file(dir, "enc.key", enc, strlen(enc));
    char missing[300];
    snprintf(missing, sizeof(missing), "%s/missing.pem", dir);

    /* Table: each bad combination and the words its error must hold. */
    const struct {
        slc_options o;
        const char *want;
    } bad[] = {
        {{.tls_ca = missing}, "tls_ca"},
        {{.tls_ca = missing}, "cannot read: No such file"},
        {{.tls_ca = dir}, "cannot read"},
        {{.tls_ca = garbage}, "no PEM certificate in it"},
        {{.tls_ca = key}, "no PEM certificate in it"},
        {{.tls_ca = bin}, "binary data: not a PEM file"},
        {{.tls_ca = brk}, "a broken PEM certificate block"},
        {{.tls_ca = ca, .tls_cert = ca, .tls_key = ca},
         "tls_key " /* path follows */},
        {{.tls_ca = ca, .tls_cert = ca, .tls_key = ca},
         "no unencrypted PEM private key"},
        {{.tls_ca = ca, .tls_cert = key, .tls_key = key},
         "no PEM certificate in it"},
        {{.tls_ca = ca, .tls_cert = ca, .tls_key = enck},
         "an encrypted private key"},
        {{.tls_ca = ca, .tls_cert = ca, .tls_key = missing}, "cannot read"},
        {{.tls_ca = ca, .tls_cert = ca}, "tls_cert and tls_key go together"},
        {{.tls_ca = ca, .tls_key = key}, "tls_cert and tls_key go together"},
        {{.tls_cert = ca, .tls_key = key}, "need tls_ca"},
        {{.tls_name = "localhost"}, "need tls_ca"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        create_fails(&bad[i].o, SLC_EINVAL, bad[i].want);

    /* Good files: created; connecting is lazy, so the first call fails as
     * any unreachable server does. "" is "not given". */
    const slc_options good[] = {
        {.timeout_ms = 500, .tls_ca = ca},
        {.timeout_ms = 500, .tls_ca = ca, .tls_name = "other.example"},
        {.timeout_ms = 500, .tls_ca = ca, .tls_cert = ca, .tls_key = key},
        {.timeout_ms = 500,
         .tls_ca = "",
         .tls_cert = "",
         .tls_key = "",
         .tls_name = ""},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        slc_client *c;
        slc_error err;
        if (slc_client_create("127.0.0.1:1", &good[i], &c, &err) != SLC_OK)
            fail_msg("good[%zu]: %s", i, err.message);
        slc_request req = {.project_id = "p1", .service_id = "s1"};
        assert_int_equal(slc_query_each(c, &req, NULL, NULL, NULL, &err),
                         SLC_EUNAVAILABLE);
        slc_client_destroy(c);
    }

    const char *files[] = {ca, key, garbage, bin, brk, enck};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        assert_int_equal(unlink(files[i]), 0);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_request),
        cmocka_unit_test(test_encode_request_invalid),
        cmocka_unit_test(test_decode_real_time),
        cmocka_unit_test(test_decode_edge),
        cmocka_unit_test(test_decode_no_logs),
        cmocka_unit_test(test_decode_callback),
        cmocka_unit_test(test_decode_bounds),
        cmocka_unit_test(test_decode_malformed),
        cmocka_unit_test(test_collect),
        cmocka_unit_test(test_status_reason),
        cmocka_unit_test(test_status_to_err),
        cmocka_unit_test(test_err_names),
        cmocka_unit_test(test_json_string),
        cmocka_unit_test(test_json_same_as_server),
        cmocka_unit_test(test_json_string_same_as_server),
        cmocka_unit_test(test_live_fields_same_as_server),
        cmocka_unit_test(test_live_fields_decoded),
        cmocka_unit_test(test_log_line_same_as_server),
        cmocka_unit_test(test_watch_snapshot),
        cmocka_unit_test(test_watch_malformed),
        cmocka_unit_test(test_encode_record),
        cmocka_unit_test(test_encode_record_invalid),
        cmocka_unit_test(test_encode_put_service),
        cmocka_unit_test(test_decode_created),
        cmocka_unit_test(test_create_invalid),
        cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_create_tls_files),
    };
    return cmocka_run_group_tests(tests, setup_grpc, teardown_grpc);
}
