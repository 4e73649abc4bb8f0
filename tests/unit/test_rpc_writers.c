/* test_rpc_writers.c -- PutService and RecordServiceUpdate on the memory
 * store: the auth rows, validation naming the field, the upsert, and the
 * canonical bytes (a recorded log is stored as its import would be)
 *
 * The memory store is one per process: each test uses its own project.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sl_test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "import.h"
#include "log_rules.h"
#include "modelarts/v1/service_logs.pb-c.h"
#include "rpc_writers.h"
#include "store.h"
#include "wire.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct fixture {
    struct sl_store *st;
    struct sl_auth *auth;
};

static void import_doc(struct sl_store *st, const char *json)
{
    struct sl_import_set set;
    struct sl_err err;
    assert_sl_ok(sl_import_parse(json, strlen(json), &set, &err), &err);
    assert_sl_ok(sl_store_import(st, set.services, set.n_services, &err), &err);
    sl_import_set_free(&set);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct sl_err err;
    if (sl_store_open("memory:", &f->st, &err) != SL_OK)
        return -1;
    char path[] = "/tmp/sl-writers-auth-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    static const char tokens[] = "w-tok auth write\n"
                                 "r-tok auth\n"
                                 "r2-tok auth read\n"
                                 "w-other other write\n";
    if (write(fd, tokens, sizeof(tokens) - 1) != (ssize_t)sizeof(tokens) - 1)
        return -1;
    close(fd);
    int rc = sl_auth_open(path, &f->auth, &err);
    unlink(path);
    if (rc != SL_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sl_store_close(f->st);
    sl_auth_destroy(f->auth);
    free(f);
    return 0;
}

static struct sl_rpc_ctx ctx_of(struct fixture *f, const char *token)
{
    struct sl_rpc_ctx c = {.store = f->st, .backend_ok = true};
    if (token) {
        c.auth = f->auth;
        c.token = token;
        c.token_len = strlen(token);
    }
    return c;
}

/* ---- requests ----------------------------------------------------------- */

struct bytes {
    uint8_t *p;
    size_t len;
};

static struct bytes put_req(const char *project, const char *service,
                            const char *name, int infer_type)
{
    Modelarts__V1__PutServiceRequest r =
        MODELARTS__V1__PUT_SERVICE_REQUEST__INIT;
    r.project_id = (char *)project;
    r.service_id = (char *)service;
    r.service_name = (char *)name;
    r.infer_type = infer_type;
    struct bytes b;
    b.len = modelarts__v1__put_service_request__get_packed_size(&r);
    b.p = malloc(b.len + 1);
    modelarts__v1__put_service_request__pack(&r, b.p);
    return b;
}

/* A length-delimited field with a one-byte key, appended to b. */
static void put_ld(struct bytes *b, uint8_t key, const void *data, size_t n)
{
    b->p = realloc(b->p, b->len + 11 + n);
    uint8_t *q = b->p + b->len;
    *q++ = key;
    q = sl_wire_put_varint(q, n);
    memcpy(q, data, n);
    b->len = (size_t)(q + n - b->p);
}

/* A RecordServiceUpdateRequest around already packed log bytes (NULL: no
 * log field). */
static struct bytes record_raw(const char *project, const char *service,
                               const uint8_t *log, size_t log_len)
{
    struct bytes b = {NULL, 0};
    put_ld(&b, 0x0a, project, strlen(project));
    put_ld(&b, 0x12, service, strlen(service));
    if (log)
        put_ld(&b, 0x1a, log, log_len);
    return b;
}

static struct bytes record_req(const char *project, const char *service,
                               const Modelarts__V1__ServiceLog *log)
{
    size_t n = modelarts__v1__service_log__get_packed_size(log);
    uint8_t *buf = malloc(n + 1);
    modelarts__v1__service_log__pack(log, buf);
    struct bytes b = record_raw(project, service, buf, n);
    free(buf);
    return b;
}

/* Runs fn on b (freed here); returns its code, *created from the answer. */
typedef int (*rpc_fn)(const struct sl_rpc_ctx *, const uint8_t *, size_t,
                      grpc_slice *, struct sl_query_ids *, struct sl_err *);

static int call(rpc_fn fn, const struct sl_rpc_ctx *ctx, struct bytes b,
                bool *created, struct sl_err *err)
{
    grpc_slice resp;
    struct sl_query_ids ids;
    sl_err_clear(err);
    int rc = fn(ctx, b.p, b.len, &resp, &ids, err);
    free(b.p);
    if (rc != SL_OK) {
        assert_int_equal(GRPC_SLICE_LENGTH(resp), 0);
        return rc;
    }
    /* Both answers are {bool created = 1}: protobuf-c reads them. */
    Modelarts__V1__PutServiceResponse *m =
        modelarts__v1__put_service_response__unpack(
            NULL, GRPC_SLICE_LENGTH(resp), GRPC_SLICE_START_PTR(resp));
    assert_non_null(m);
    if (created)
        *created = m->created;
    modelarts__v1__put_service_response__free_unpacked(m, NULL);
    grpc_slice_unref(resp);
    return rc;
}

#define expect_err(rc_expr, code, want_msg, err)                               \
    do {                                                                       \
        assert_sl_err((rc_expr), (code), (err));                               \
        if (strcmp((err)->msg, (want_msg)) != 0)                               \
            fail_msg("want \"%s\"\n got \"%s\"", (want_msg), (err)->msg);      \
    } while (0)

/* A real-time log with one config. */
struct log_buf {
    Modelarts__V1__ServiceLog log;
    Modelarts__V1__ServiceConfig cfg[2];
    Modelarts__V1__ServiceConfig *cfgs[2];
    Modelarts__V1__ServiceConfig__EnvsEntry env[3];
    Modelarts__V1__ServiceConfig__EnvsEntry *envs[3];
    Modelarts__V1__CustomSpec spec;
    Modelarts__V1__NodeResult node;
    Modelarts__V1__NodeResult *nodes[1];
    char *extend[9];
};

static void log_init(struct log_buf *b, int64_t t, int result)
{
    memset(b, 0, sizeof(*b));
    modelarts__v1__service_log__init(&b->log);
    b->log.update_time = t;
    b->log.result = result;
    for (int i = 0; i < 2; i++) {
        modelarts__v1__service_config__init(&b->cfg[i]);
        b->cfg[i].model_id = "m-1";
        b->cfg[i].model_name = "ranker";
        b->cfg[i].model_version = "1.0";
        b->cfgs[i] = &b->cfg[i];
    }
    b->log.n_config = 1;
    b->log.config = b->cfgs;
    for (int i = 0; i < 3; i++) {
        modelarts__v1__service_config__envs_entry__init(&b->env[i]);
        b->envs[i] = &b->env[i];
    }
    modelarts__v1__custom_spec__init(&b->spec);
    modelarts__v1__node_result__init(&b->node);
    b->node.node_id = "n1";
    b->node.node_name = "north";
    b->node.operation = MODELARTS__V1__NODE_OPERATION__DEPLOY;
    b->nodes[0] = &b->node;
}

/* The stored logs of a service, packed, oldest first. */
static size_t stored(struct sl_store *st, const char *project,
                     const char *service, int64_t t, struct sl_log_page *pg)
{
    struct sl_err err;
    struct sl_log_query q = {project, service, t, 0};
    assert_sl_ok(sl_store_query_logs(st, &q, pg, &err), &err);
    return pg->n_logs;
}

/* ---- PutService --------------------------------------------------------- */

static void test_put_service(void **state)
{
    struct fixture *f = *state;
    struct sl_rpc_ctx ctx = ctx_of(f, NULL); /* auth off */
    struct sl_err err;
    bool created = false;
    const int RT = MODELARTS__V1__INFER_TYPE__REAL_TIME;
    const int EDGE = MODELARTS__V1__INFER_TYPE__EDGE;

    assert_sl_ok(call(sl_rpc_put_service, &ctx,
                      put_req("put", "svc-1", "first", RT), &created, &err),
                 &err);
    assert_true(created);
    /* the same again: exists, nothing changes */
    assert_sl_ok(call(sl_rpc_put_service, &ctx,
                      put_req("put", "svc-1", "first", RT), &created, &err),
                 &err);
    assert_false(created);
    /* a rename */
    assert_sl_ok(call(sl_rpc_put_service, &ctx,
                      put_req("put", "svc-1", "renamed \xe2\x9c\x93", RT),
                      &created, &err),
                 &err);
    assert_false(created);
    struct sl_log_page pg;
    assert_int_equal(stored(f->st, "put", "svc-1", 0, &pg), 0);
    assert_string_equal(pg.service_name, "renamed \xe2\x9c\x93");
    assert_int_equal(pg.infer_type, RT);
    sl_log_page_free(&pg);
    /* infer_type never changes */
    assert_sl_err(call(sl_rpc_put_service, &ctx,
                       put_req("put", "svc-1", "x", EDGE), NULL, &err),
                  SL_ECONFLICT, &err);
    assert_non_null(strstr(err.msg, "svc-1"));
    /* the same id in another project is another service */
    assert_sl_ok(call(sl_rpc_put_service, &ctx,
                      put_req("put-2", "svc-1", "theirs", EDGE), &created,
                      &err),
                 &err);
    assert_true(created);

    /* validation, naming the field */
    static const struct {
        const char *project, *service, *name;
        int type;
        const char *msg;
    } bad[] = {
        {"", "s", "n", 1,
         "project_id must be 1-64 characters of [A-Za-z0-9_-]"},
        {"p.q", "s", "n", 1,
         "project_id must be 1-64 characters of [A-Za-z0-9_-]"},
        {"p", "", "n", 1,
         "service_id must be 1-64 characters of [A-Za-z0-9_-]"},
        {"p", "s", "", 1, "service_name must be 1-128 bytes of UTF-8"},
        {"p", "s", "n", 0, "infer_type must be REAL_TIME, EDGE or BATCH"},
        {"p", "s", "n", 4, "infer_type must be REAL_TIME, EDGE or BATCH"},
        {"p", "s", "n", -1, "infer_type must be REAL_TIME, EDGE or BATCH"},
        {"p", "s", "\xc3\x28", 1, "service_name: not valid UTF-8"},
    };
    for (size_t i = 0; i < N(bad); i++) {
        int rc = call(
            sl_rpc_put_service, &ctx,
            put_req(bad[i].project, bad[i].service, bad[i].name, bad[i].type),
            NULL, &err);
        if (rc != SL_EINVAL || strcmp(err.msg, bad[i].msg) != 0)
            fail_msg("case %zu: %s \"%s\"", i, sl_err_name(rc), err.msg);
    }
    char *long_name = malloc(SL_MAX_NAME + 2);
    memset(long_name, 'n', SL_MAX_NAME + 1);
    long_name[SL_MAX_NAME + 1] = '\0';
    expect_err(call(sl_rpc_put_service, &ctx,
                    put_req("put", "svc-2", long_name, RT), NULL, &err),
               SL_EINVAL, "service_name must be 1-128 bytes of UTF-8", &err);
    long_name[SL_MAX_NAME] = '\0'; /* at the limit */
    assert_sl_ok(call(sl_rpc_put_service, &ctx,
                      put_req("put", "svc-2", long_name, RT), &created, &err),
                 &err);
    free(long_name);

    /* A NUL inside a string is refused, not cut short. */
    struct bytes b = {NULL, 0};
    put_ld(&b, 0x0a, "put", 3);
    put_ld(&b, 0x12, "svc-3", 5);
    put_ld(&b, 0x1a, "na\0me", 5);
    b.p = realloc(b.p, b.len + 2);
    b.p[b.len++] = 0x20;
    b.p[b.len++] = 0x01;
    expect_err(call(sl_rpc_put_service, &ctx, b, NULL, &err), SL_EINVAL,
               "service_name: contains a NUL byte", &err);
    b = (struct bytes){NULL, 0};
    put_ld(&b, 0x0a, "pu\0t", 4);
    expect_err(call(sl_rpc_put_service, &ctx, b, NULL, &err), SL_EINVAL,
               "project_id: contains a NUL byte", &err);
    /* not a message */
    b.p = malloc(2);
    b.p[0] = 0x0a;
    b.p[1] = 0x05; /* 5 bytes promised, none there */
    b.len = 2;
    expect_err(call(sl_rpc_put_service, &ctx, b, NULL, &err), SL_EINVAL,
               "request is not a valid modelarts.v1.PutServiceRequest message",
               &err);

    /* the store down */
    ctx.backend_ok = false;
    assert_sl_err(call(sl_rpc_put_service, &ctx,
                       put_req("put", "svc-4", "n", RT), NULL, &err),
                  SL_EUNAVAIL, &err);
}

/* ---- the auth rows, for both methods ----------------------------------- */

static void test_auth_rows(void **state)
{
    struct fixture *f = *state;
    struct sl_err err;
    bool created;
    struct sl_rpc_ctx open = ctx_of(f, NULL);
    assert_sl_ok(
        call(sl_rpc_put_service, &open,
             put_req("auth", "svc", "n", MODELARTS__V1__INFER_TYPE__REAL_TIME),
             &created, &err),
        &err);
    static const struct {
        const char *token; /* "" : none sent */
        int want;
        const char *msg;
    } rows[] = {
        {"", SL_ENOTOKEN, "missing auth token (x-auth-token)"},
        {"nope", SL_EBADTOKEN, "invalid auth token"},
        {"w-toK", SL_EBADTOKEN, "invalid auth token"}, /* last byte */
        {"w-other", SL_EFORBIDDEN, "token not valid for project auth"},
        {"r-tok", SL_EREADONLY, "token lacks the write role for project auth"},
        {"r2-tok", SL_EREADONLY, "token lacks the write role for project auth"},
        {"w-tok", SL_OK, ""},
    };
    for (size_t i = 0; i < N(rows); i++) {
        struct sl_rpc_ctx ctx = ctx_of(f, rows[i].token);
        ctx.auth = f->auth; /* also for the empty token */
        int rc = call(
            sl_rpc_put_service, &ctx,
            put_req("auth", "svc", "n", MODELARTS__V1__INFER_TYPE__REAL_TIME),
            NULL, &err);
        if (rc != rows[i].want || (rc && strcmp(err.msg, rows[i].msg) != 0))
            fail_msg("PutService, token row %zu: %s \"%s\"", i, sl_err_name(rc),
                     err.msg);
        struct log_buf lb;
        log_init(&lb, 1000 + (int64_t)i, MODELARTS__V1__UPDATE_RESULT__SUCCESS);
        rc = call(sl_rpc_record_update, &ctx,
                  record_req("auth", "svc", &lb.log), NULL, &err);
        if (rc != rows[i].want || (rc && strcmp(err.msg, rows[i].msg) != 0))
            fail_msg("RecordServiceUpdate, token row %zu: %s \"%s\"", i,
                     sl_err_name(rc), err.msg);
    }
    /* Auth comes before the content: a read-only token learns nothing of
     * its request's faults. */
    struct sl_rpc_ctx ro = ctx_of(f, "r-tok");
    assert_sl_err(call(sl_rpc_put_service, &ro, put_req("auth", "svc", "", 9),
                       NULL, &err),
                  SL_EREADONLY, &err);
    struct log_buf lb;
    log_init(&lb, -5, 42);
    assert_sl_err(call(sl_rpc_record_update, &ro,
                       record_req("auth", "nothere", &lb.log), NULL, &err),
                  SL_EREADONLY, &err);
}

/* ---- RecordServiceUpdate ------------------------------------------------ */

static void test_record_upsert(void **state)
{
    struct fixture *f = *state;
    struct sl_rpc_ctx ctx = ctx_of(f, "w-tok");
    ctx.auth = NULL; /* project "rec" is not in the tokens file */
    struct sl_err err;
    bool created = false;
    import_doc(f->st, "{\"services\":[{\"project_id\":\"rec\",\"service_id\":"
                      "\"rt\",\"service_name\":\"r\",\"infer_type\":"
                      "\"real-time\",\"logs\":[{\"update_time\":100,\"result\":"
                      "\"SUCCESS\",\"config\":[]}]}]}");

    struct log_buf lb;
    log_init(&lb, 200, MODELARTS__V1__UPDATE_RESULT__RUNNING);
    lb.cfg[0].weight = 100;
    lb.cfg[0].instance_count = 1;
    assert_sl_ok(call(sl_rpc_record_update, &ctx,
                      record_req("rec", "rt", &lb.log), &created, &err),
                 &err);
    assert_true(created);
    log_init(&lb, 150, MODELARTS__V1__UPDATE_RESULT__FAIL);
    assert_sl_ok(call(sl_rpc_record_update, &ctx,
                      record_req("rec", "rt", &lb.log), &created, &err),
                 &err);
    assert_true(created);
    /* the same time again: RUNNING -> SUCCESS, in place */
    log_init(&lb, 200, MODELARTS__V1__UPDATE_RESULT__SUCCESS);
    lb.cfg[0].weight = 100;
    lb.cfg[0].instance_count = 2;
    assert_sl_ok(call(sl_rpc_record_update, &ctx,
                      record_req("rec", "rt", &lb.log), &created, &err),
                 &err);
    assert_false(created);

    struct sl_log_page pg;
    assert_int_equal(stored(f->st, "rec", "rt", 0, &pg), 3);
    static const int64_t times[] = {100, 150, 200};
    static const int results[] = {1, 2, 1};
    for (size_t i = 0; i < 3; i++) {
        Modelarts__V1__ServiceLog *m = modelarts__v1__service_log__unpack(
            NULL, pg.logs[i].len, pg.logs[i].data);
        assert_non_null(m);
        assert_int_equal(m->update_time, times[i]);
        assert_int_equal(m->result, results[i]);
        if (i == 2)
            assert_int_equal(m->config[0]->instance_count, 2);
        modelarts__v1__service_log__free_unpacked(m, NULL);
    }
    sl_log_page_free(&pg);

    /* unknown service, batch service, another project's service */
    import_doc(f->st, "{\"services\":[{\"project_id\":\"rec\",\"service_id\":"
                      "\"nightly\",\"service_name\":\"b\",\"infer_type\":"
                      "\"batch\",\"logs\":[]}]}");
    log_init(&lb, 300, MODELARTS__V1__UPDATE_RESULT__SUCCESS);
    assert_sl_err(call(sl_rpc_record_update, &ctx,
                       record_req("rec", "ghost", &lb.log), NULL, &err),
                  SL_ENOTFOUND, &err);
    assert_sl_err(call(sl_rpc_record_update, &ctx,
                       record_req("rec-other", "rt", &lb.log), NULL, &err),
                  SL_ENOTFOUND, &err);
    assert_sl_err(call(sl_rpc_record_update, &ctx,
                       record_req("rec", "nightly", &lb.log), NULL, &err),
                  SL_EBATCH, &err);
    ctx.backend_ok = false;
    assert_sl_err(call(sl_rpc_record_update, &ctx,
                       record_req("rec", "rt", &lb.log), NULL, &err),
                  SL_EUNAVAIL, &err);
}

/* Each bad log, with the exact message: the field's path from "log". */
static void test_record_validation(void **state)
{
    struct fixture *f = *state;
    struct sl_rpc_ctx ctx = ctx_of(f, NULL);
    struct sl_err err;
    import_doc(f->st,
               "{\"services\":[{\"project_id\":\"val\",\"service_id\":\"rt\","
               "\"service_name\":\"r\",\"infer_type\":\"real-time\","
               "\"logs\":[]},{\"project_id\":\"val\",\"service_id\":\"edge\","
               "\"service_name\":\"e\",\"infer_type\":\"edge\",\"logs\":[]}]}");
    enum { RT, EDGE } svc;
    struct log_buf lb;
#define CASE(which, setup, want)                                               \
    do {                                                                       \
        log_init(&lb, 5000, MODELARTS__V1__UPDATE_RESULT__SUCCESS);            \
        svc = which;                                                           \
        setup;                                                                 \
        expect_err(call(sl_rpc_record_update, &ctx,                            \
                        record_req("val", svc == RT ? "rt" : "edge", &lb.log), \
                        NULL, &err),                                           \
                   SL_EINVAL, want, &err);                                     \
    } while (0)
    CASE(RT, lb.log.update_time = 0,
         "log.update_time must be a positive number of milliseconds since the "
         "epoch");
    CASE(RT, lb.log.update_time = -1,
         "log.update_time must be a positive number of milliseconds since the "
         "epoch");
    CASE(RT, lb.log.result = 0,
         "log.result: expected SUCCESS, FAIL or RUNNING");
    CASE(RT, lb.log.result = 9,
         "log.result: expected SUCCESS, FAIL or RUNNING");
    CASE(EDGE, (lb.log.n_config = 2, lb.cfg[1].weight = 10),
         "log.config[1].weight: only allowed for real-time services (this "
         "service is edge)");
    CASE(EDGE, lb.cfg[0].instance_count = 1,
         "log.config[0].instance_count: only allowed for real-time services "
         "(this service is edge)");
    CASE(RT, lb.log.success_num = 1,
         "log.success_num: only allowed for edge services (this service is "
         "real-time)");
    CASE(RT, lb.log.failed_num = 2,
         "log.failed_num: only allowed for edge services (this service is "
         "real-time)");
    CASE(RT, (lb.log.n_result_detail = 1, lb.log.result_detail = lb.nodes),
         "log.result_detail: only allowed for edge services (this service is "
         "real-time)");
    CASE(EDGE, lb.log.success_num = -1,
         "log.success_num: out of range (0 to 2147483647)");
    CASE(RT, lb.cfg[0].weight = 101,
         "log.config[0].weight: out of range (0 to 100)");
    CASE(RT, lb.cfg[0].weight = -1,
         "log.config[0].weight: out of range (0 to 100)");
    CASE(RT, lb.cfg[0].instance_count = -3,
         "log.config[0].instance_count: out of range (0 to 2147483647)");
    CASE(RT, lb.cfg[0].model_id = "",
         "log.config[0].model_id: must not be empty");
    CASE(RT,
         lb.cfg[0].model_version =
             "0123456789012345678901234567890123456789012345678901234567890123"
             "4",
         "log.config[0].model_version: longer than 64 bytes");
    CASE(RT,
         (lb.cfg[0].n_envs = 2, lb.cfg[0].envs = lb.envs, lb.env[0].key = "A",
          lb.env[0].value = "1", lb.env[1].key = "A", lb.env[1].value = "2"),
         "log.config[0].envs.A: duplicate variable name");
    CASE(RT,
         (lb.cfg[0].n_envs = 1, lb.cfg[0].envs = lb.envs, lb.env[0].key = "",
          lb.env[0].value = "1"),
         "log.config[0].envs[\"\"]: empty variable name");
    CASE(
        RT, (lb.cfg[0].custom_spec = &lb.spec, lb.spec.cpu = NAN),
        "log.config[0].custom_spec.cpu: must be a finite number, not negative");
    CASE(RT, (lb.cfg[0].custom_spec = &lb.spec, lb.spec.gpu_p4 = -1),
         "log.config[0].custom_spec.gpu_p4: must be a finite number, not "
         "negative");
    CASE(RT, (lb.cfg[0].custom_spec = &lb.spec, lb.spec.memory = -1),
         "log.config[0].custom_spec.memory: out of range (0 to 2147483647)");
    CASE(
        RT,
        lb.cfg[0].cluster_id =
            "ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc",
        "log.config[0].cluster_id: longer than 64 bytes");
    CASE(EDGE,
         (lb.log.n_result_detail = 1, lb.log.result_detail = lb.nodes,
          lb.node.operation = 0),
         "log.result_detail[0].operation: expected deploy or delete");
    CASE(EDGE,
         (lb.log.n_result_detail = 1, lb.log.result_detail = lb.nodes,
          lb.node.node_name = ""),
         "log.result_detail[0].node_name: must not be empty");
    static char *nine[] = {"x", "x", "x", "x", "x", "x", "x", "x", "x"};
    static char *blank[] = {"x", ""};
    CASE(RT, (lb.log.n_extend_config = 9, lb.log.extend_config = nine),
         "log.extend_config: too many entries (9, at most 8)");
    CASE(RT, (lb.log.n_extend_config = 2, lb.log.extend_config = blank),
         "log.extend_config[1]: must not be empty");
    CASE(RT, (lb.cfg[0].model_name = "\xff"),
         "log.config[0].model_name: not valid UTF-8");
#undef CASE

    /* a string with a NUL, deep inside: the wire walk names it */
    log_init(&lb, 5000, MODELARTS__V1__UPDATE_RESULT__SUCCESS);
    lb.log.n_config = 2;
    lb.cfg[1].model_name = "ab";
    size_t n = modelarts__v1__service_log__get_packed_size(&lb.log);
    uint8_t *buf = malloc(n);
    modelarts__v1__service_log__pack(&lb.log, buf);
    uint8_t *at = memmem(buf, n, "ab", 2);
    assert_non_null(at);
    at[1] = '\0';
    expect_err(call(sl_rpc_record_update, &ctx, record_raw("val", "rt", buf, n),
                    NULL, &err),
               SL_EINVAL, "log.config[1].model_name: contains a NUL byte",
               &err);
    free(buf);
    /* no log at all */
    expect_err(call(sl_rpc_record_update, &ctx,
                    record_raw("val", "rt", NULL, 0), NULL, &err),
               SL_EINVAL, "log is required", &err);
    /* ids */
    log_init(&lb, 5000, MODELARTS__V1__UPDATE_RESULT__SUCCESS);
    expect_err(call(sl_rpc_record_update, &ctx,
                    record_req("val", "r t", &lb.log), NULL, &err),
               SL_EINVAL, "service_id must be 1-64 characters of [A-Za-z0-9_-]",
               &err);

    /* Zeros are absent: an edge log with weight 0 and instance_count 0 is
     * fine, as is a real-time one with success_num 0. */
    log_init(&lb, 5000, MODELARTS__V1__UPDATE_RESULT__SUCCESS);
    lb.log.success_num = 3;
    lb.log.n_result_detail = 1;
    lb.log.result_detail = lb.nodes;
    assert_sl_ok(call(sl_rpc_record_update, &ctx,
                      record_req("val", "edge", &lb.log), NULL, &err),
                 &err);
    log_init(&lb, 5000, MODELARTS__V1__UPDATE_RESULT__SUCCESS);
    lb.cfg[0].weight = 100;
    assert_sl_ok(call(sl_rpc_record_update, &ctx,
                      record_req("val", "rt", &lb.log), NULL, &err),
                 &err);
}

/* The canonical form: a log recorded over the wire in a scrambled but
 * valid encoding (envs out of order, an unknown field, a field that proto3
 * writers omit sent with its default) is stored as exactly the bytes the
 * import stores for the same log. */
static void test_recorded_equals_imported(void **state)
{
    struct fixture *f = *state;
    struct sl_rpc_ctx ctx = ctx_of(f, NULL);
    struct sl_err err;
    bool created;
    static const char doc[] =
        "{\"services\":[{\"project_id\":\"canon\",\"service_id\":\"rt\","
        "\"service_name\":\"r\",\"infer_type\":\"real-time\",\"logs\":["
        "{\"update_time\":7000,\"result\":\"SUCCESS\",\"cluster_id\":\"c-9\","
        "\"extend_config\":[\"a=1\",\"b\"],\"config\":[{\"model_id\":\"m-1\","
        "\"model_name\":\"ranker\",\"model_version\":\"1.0\",\"weight\":60,"
        "\"instance_count\":2,\"envs\":{\"ZED\":\"z\",\"ALPHA\":\"a\","
        "\"MID\":\"\"},\"custom_spec\":{\"gpu_p4\":0.5,\"memory\":4096,"
        "\"cpu\":1.25},\"cluster_id\":\"pool\"},{\"model_id\":\"m-2\","
        "\"model_name\":\"ranker\",\"model_version\":\"2.0\",\"weight\":40,"
        "\"custom_spec\":{}}]}]}]}";
    struct sl_import_set set;
    assert_sl_ok(sl_import_parse(doc, strlen(doc), &set, &err), &err);
    const struct sl_blob want = set.services[0].logs[0].body;

    /* the service exists without logs; then the log is recorded */
    import_doc(f->st,
               "{\"services\":[{\"project_id\":\"canon\",\"service_id\":\"rt\","
               "\"service_name\":\"r\",\"infer_type\":\"real-time\","
               "\"logs\":[]}]}");
    struct log_buf lb;
    log_init(&lb, 7000, MODELARTS__V1__UPDATE_RESULT__SUCCESS);
    lb.log.cluster_id = "c-9";
    lb.extend[0] = "a=1";
    lb.extend[1] = "b";
    lb.log.n_extend_config = 2;
    lb.log.extend_config = lb.extend;
    lb.log.n_config = 2;
    lb.cfg[0].weight = 60;
    lb.cfg[0].instance_count = 2;
    lb.cfg[0].n_envs = 3;
    lb.cfg[0].envs = lb.envs;
    lb.env[0].key = "ZED";
    lb.env[0].value = "z";
    lb.env[1].key = "MID";
    lb.env[1].value = "";
    lb.env[2].key = "ALPHA";
    lb.env[2].value = "a";
    lb.cfg[0].custom_spec = &lb.spec;
    lb.spec.gpu_p4 = 0.5f;
    lb.spec.memory = 4096;
    lb.spec.cpu = 1.25f;
    lb.cfg[0].cluster_id = "pool";
    static Modelarts__V1__CustomSpec empty = MODELARTS__V1__CUSTOM_SPEC__INIT;
    lb.cfg[1].model_id = "m-2";
    lb.cfg[1].model_version = "2.0";
    lb.cfg[1].weight = 40;
    lb.cfg[1].custom_spec = &empty;
    size_t n = modelarts__v1__service_log__get_packed_size(&lb.log);
    uint8_t *buf = malloc(n + 8);
    modelarts__v1__service_log__pack(&lb.log, buf);
    assert_true(n != want.len || memcmp(buf, want.data, n) != 0); /* envs */
    /* field 99 (unknown), varint 1; and success_num = 0 spelled out */
    buf[n++] = 0x98;
    buf[n++] = 0x06;
    buf[n++] = 0x01;
    buf[n++] = 0x20;
    buf[n++] = 0x00;
    /* (0x20 is field 4, success_num: a default a proto3 writer omits.) */
    assert_sl_ok(call(sl_rpc_record_update, &ctx,
                      record_raw("canon", "rt", buf, n), &created, &err),
                 &err);
    assert_true(created);
    free(buf);

    struct sl_log_page pg;
    assert_int_equal(stored(f->st, "canon", "rt", 7000, &pg), 1);
    assert_int_equal(pg.logs[0].len, want.len);
    assert_memory_equal(pg.logs[0].data, want.data, want.len);
    sl_log_page_free(&pg);

    /* and the stored bytes pass the check the query path holds them to */
    static struct sl_wire_schema schema;
    sl_wire_schema_init(&schema, &modelarts__v1__service_log__descriptor);
    assert_int_equal(sl_wire_check(&schema, want.data, want.len, NULL), 0);
    sl_import_set_free(&set);
}

/* sl_log_pack is a function of the log's values: the same log with its
 * envs in any order packs the same, and packing never changes the log. */
static void test_pack_canonical(void **state)
{
    (void)state;
    struct log_buf a, b;
    log_init(&a, 1, 1);
    log_init(&b, 1, 1);
    a.cfg[0].n_envs = b.cfg[0].n_envs = 3;
    a.cfg[0].envs = a.envs;
    b.cfg[0].envs = b.envs;
    static const char *const keys[] = {"B", "A", "C"};
    for (int i = 0; i < 3; i++) {
        a.env[i].key = (char *)keys[i];
        a.env[i].value = "v";
        b.env[i].key = (char *)keys[2 - i];
        b.env[i].value = "v";
    }
    struct sl_arena scratch, out;
    sl_arena_init(&scratch);
    sl_arena_init(&out);
    struct sl_import_log pa, pb;
    struct sl_err err;
    assert_sl_ok(sl_log_pack(&a.log, &scratch, &out, &pa, &err), &err);
    assert_sl_ok(sl_log_pack(&b.log, &scratch, &out, &pb, &err), &err);
    assert_int_equal(pa.body.len, pb.body.len);
    assert_memory_equal(pa.body.data, pb.body.data, pa.body.len);
    assert_string_equal(a.cfg[0].envs[0]->key, "B"); /* untouched */
    assert_int_equal(pa.update_time, 1);
    sl_arena_free(&scratch);
    sl_arena_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_service),
        cmocka_unit_test(test_auth_rows),
        cmocka_unit_test(test_record_upsert),
        cmocka_unit_test(test_record_validation),
        cmocka_unit_test(test_recorded_equals_imported),
        cmocka_unit_test(test_pack_canonical),
    };
    return cmocka_run_group_tests_name("rpc_writers", tests, setup, teardown);
}
