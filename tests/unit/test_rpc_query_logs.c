/* test_rpc_query_logs.c -- the QueryServiceLogs handler on the memory store
 *
 * The handler splices stored packed logs into the response by hand; these
 * tests hold it to protobuf-c's own encoding of the same message, and feed
 * it malformed and hostile request bytes.
 */
#include "sl_test.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "modelarts/v1/service_logs.pb-c.h"
#include "auth.h"
#include "buf.h"
#include "metrics.h"
#include "rpc.h"
#include "rpc_writers.h"
#include "store.h"
#include "wire.h"

struct fixture {
    struct sl_store *st;
    uint8_t *bodies[3]; /* packed logs, owned here */
};

static uint8_t *pack_log(int64_t t, int result, const char *model, size_t *len)
{
    Modelarts__V1__ServiceConfig cfg = MODELARTS__V1__SERVICE_CONFIG__INIT;
    cfg.model_id = (char *)model;
    cfg.model_name = "mnist";
    cfg.model_version = "1.0.1";
    cfg.weight = 70;
    cfg.instance_count = 1;
    cfg.specification = "modelarts.vm.cpu.2u";
    Modelarts__V1__ServiceConfig *cfgs[] = {&cfg};
    Modelarts__V1__ServiceLog log = MODELARTS__V1__SERVICE_LOG__INIT;
    log.update_time = t;
    log.result = result;
    log.n_config = 1;
    log.config = cfgs;
    *len = modelarts__v1__service_log__get_packed_size(&log);
    uint8_t *buf = malloc(*len);
    modelarts__v1__service_log__pack(&log, buf);
    return buf;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct sl_err err;
    if (sl_store_open("memory:", &f->st, &err) != SL_OK)
        return -1;
    struct sl_import_log logs[3];
    const int64_t times[3] = {300, 100, 300};
    for (int i = 0; i < 3; i++) {
        size_t len;
        f->bodies[i] = pack_log(times[i], 1 + i, i == 2 ? "m-c" : "m-a", &len);
        logs[i].update_time = times[i];
        logs[i].body.data = f->bodies[i];
        logs[i].body.len = len;
    }
    struct sl_import_service svcs[] = {
        {"proj", "svc", "mnist", MODELARTS__V1__INFER_TYPE__REAL_TIME, 3, logs},
        {"proj", "batchy", "nightly", MODELARTS__V1__INFER_TYPE__BATCH, 0,
         NULL},
        {"other", "svc", "theirs", MODELARTS__V1__INFER_TYPE__EDGE, 0, NULL},
    };
    if (sl_store_import(f->st, svcs, 3, &err) != SL_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sl_store_close(f->st);
    for (int i = 0; i < 3; i++)
        free(f->bodies[i]);
    free(f);
    return 0;
}

static int query(struct fixture *f, const char *project, const char *service,
                 int64_t t, grpc_slice *out, struct sl_err *err)
{
    Modelarts__V1__QueryServiceLogsRequest req =
        MODELARTS__V1__QUERY_SERVICE_LOGS_REQUEST__INIT;
    req.project_id = (char *)project;
    req.service_id = (char *)service;
    req.update_time = t;
    uint8_t buf[256];
    size_t len = modelarts__v1__query_service_logs_request__pack(&req, buf);
    struct sl_rpc_ctx ctx = {.store = f->st, .backend_ok = true};
    return sl_rpc_query_logs(&ctx, buf, len, out, NULL, err);
}

static void test_oldest_first_and_byte_exact(void **state)
{
    struct fixture *f = *state;
    struct sl_err err;
    grpc_slice out;
    assert_sl_ok(query(f, "proj", "svc", 0, &out, &err), &err);
    Modelarts__V1__QueryServiceLogsResponse *r =
        modelarts__v1__query_service_logs_response__unpack(
            NULL, GRPC_SLICE_LENGTH(out), GRPC_SLICE_START_PTR(out));
    assert_non_null(r);
    assert_string_equal(r->service_id, "svc");
    assert_string_equal(r->service_name, "mnist");
    assert_int_equal(r->infer_type, MODELARTS__V1__INFER_TYPE__REAL_TIME);
    assert_int_equal(r->n_logs, 3);
    /* update_time ascending, ties in file order */
    assert_int_equal(r->logs[0]->update_time, 100);
    assert_int_equal(r->logs[1]->update_time, 300);
    assert_int_equal(r->logs[1]->result, 1);
    assert_int_equal(r->logs[2]->update_time, 300);
    assert_string_equal(r->logs[2]->config[0]->model_id, "m-c");
    /* protobuf-c's packing of the same message is the same bytes */
    size_t want_len =
        modelarts__v1__query_service_logs_response__get_packed_size(r);
    uint8_t *want = malloc(want_len);
    modelarts__v1__query_service_logs_response__pack(r, want);
    assert_int_equal(want_len, GRPC_SLICE_LENGTH(out));
    assert_memory_equal(want, GRPC_SLICE_START_PTR(out), want_len);
    free(want);
    modelarts__v1__query_service_logs_response__free_unpacked(r, NULL);
    grpc_slice_unref(out);
}

static void test_update_time_filter(void **state)
{
    struct fixture *f = *state;
    struct sl_err err;
    grpc_slice out;
    assert_sl_ok(query(f, "proj", "svc", 300, &out, &err), &err);
    Modelarts__V1__QueryServiceLogsResponse *r =
        modelarts__v1__query_service_logs_response__unpack(
            NULL, GRPC_SLICE_LENGTH(out), GRPC_SLICE_START_PTR(out));
    assert_int_equal(r->n_logs, 2);
    modelarts__v1__query_service_logs_response__free_unpacked(r, NULL);
    grpc_slice_unref(out);

    assert_sl_ok(query(f, "proj", "svc", 999, &out, &err), &err);
    r = modelarts__v1__query_service_logs_response__unpack(
        NULL, GRPC_SLICE_LENGTH(out), GRPC_SLICE_START_PTR(out));
    assert_int_equal(r->n_logs, 0);
    assert_string_equal(r->service_name, "mnist");
    modelarts__v1__query_service_logs_response__free_unpacked(r, NULL);
    grpc_slice_unref(out);
}

static void test_errors(void **state)
{
    struct fixture *f = *state;
    struct sl_err err;
    grpc_slice out;
    assert_sl_err(query(f, "proj", "nope", 0, &out, &err), SL_ENOTFOUND, &err);
    assert_true(GRPC_SLICE_IS_EMPTY(out));
    assert_sl_err(query(f, "proj", "batchy", 0, &out, &err), SL_EBATCH, &err);
    /* another project's service is not found through this project */
    assert_sl_err(query(f, "proj2", "svc", 0, &out, &err), SL_ENOTFOUND, &err);
    assert_sl_err(query(f, "", "svc", 0, &out, &err), SL_EINVAL, &err);
    assert_sl_err(query(f, "proj", "a/b", 0, &out, &err), SL_EINVAL, &err);
    assert_sl_err(query(f, "proj", "svc", -5, &out, &err), SL_EINVAL, &err);
}

static void test_hostile_bytes(void **state)
{
    struct fixture *f = *state;
    struct sl_err err;
    grpc_slice out;
    static const struct {
        const char *bytes;
        size_t len;
        int rc;
    } cases[] = {
        /* truncated length */
        {"\x0a\x05pro", 5, SL_EINVAL},
        /* length beyond the message */
        {"\x0a\xff\xff\xff\xff\x0f", 6, SL_EINVAL},
        /* embedded NUL in project_id must not be cut to "proj" */
        {"\x0a\x06proj\0x\x12\x03svc", 13, SL_EINVAL},
        /* wrong wire type for a known field */
        {"\x08\x01\x12\x03svc", 5, SL_EINVAL},
        /* group wire type */
        {"\x0b", 1, SL_EINVAL},
        /* field number 0 */
        {"\x02\x00", 2, SL_EINVAL},
        /* unterminated varint */
        {"\x18\xff\xff", 3, SL_EINVAL},
        /* unknown fields are skipped: field 9 varint, field 10 fixed32 */
        {"\x0a\x04proj\x12\x03svc\x48\x01\x55\x01\x02\x03\x04", 18, SL_OK},
        /* last occurrence wins */
        {"\x0a\x01x\x0a\x04proj\x12\x03svc", 14, SL_OK},
        /* empty message: ids missing */
        {"", 0, SL_EINVAL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sl_rpc_ctx ctx = {.store = f->st, .backend_ok = true};
        int rc = sl_rpc_query_logs(&ctx, (const uint8_t *)cases[i].bytes,
                                   cases[i].len, &out, NULL, &err);
        if (rc != cases[i].rc)
            fail_msg("case %zu: want %s got %s (%s)", i,
                     sl_err_name(cases[i].rc), sl_err_name(rc), err.msg);
        grpc_slice_unref(out);
    }
}

/* Auth, backend state and deadline, in the order the handler applies
 * them: validate -> authorize -> backend. */
static void test_auth_backend_deadline(void **state)
{
    struct fixture *f = *state;
    struct sl_err err;
    grpc_slice out;
    Modelarts__V1__QueryServiceLogsRequest req =
        MODELARTS__V1__QUERY_SERVICE_LOGS_REQUEST__INIT;
    req.project_id = "proj";
    req.service_id = "svc";
    uint8_t buf[64];
    size_t len = modelarts__v1__query_service_logs_request__pack(&req, buf);

    char path[] = "/tmp/sl-rpc-auth-XXXXXX";
    int fd = mkstemp(path);
    const char tokens[] = "t-proj proj\nt-other other\n";
    assert_int_equal(write(fd, tokens, sizeof(tokens) - 1),
                     (ssize_t)sizeof(tokens) - 1);
    close(fd);
    struct sl_auth *auth;
    assert_sl_ok(sl_auth_open(path, &auth, &err), &err);
    unlink(path);

    struct sl_rpc_ctx ctx = {.store = f->st, .auth = auth, .backend_ok = true};
    assert_sl_err(sl_rpc_query_logs(&ctx, buf, len, &out, NULL, &err),
                  SL_ENOTOKEN, &err);
    ctx.token = "nope";
    ctx.token_len = 4;
    assert_sl_err(sl_rpc_query_logs(&ctx, buf, len, &out, NULL, &err),
                  SL_EBADTOKEN, &err);
    assert_null(strstr(err.msg, "nope")); /* never echoes the token */
    ctx.token = "t-other";
    ctx.token_len = 7;
    assert_sl_err(sl_rpc_query_logs(&ctx, buf, len, &out, NULL, &err),
                  SL_EFORBIDDEN, &err);
    ctx.token = "t-proj";
    ctx.token_len = 6;
    assert_sl_ok(sl_rpc_query_logs(&ctx, buf, len, &out, NULL, &err), &err);
    grpc_slice_unref(out);

    /* other's token reads other's own service of the same name */
    Modelarts__V1__QueryServiceLogsRequest oreq = req;
    oreq.project_id = "other";
    uint8_t obuf[64];
    size_t olen = modelarts__v1__query_service_logs_request__pack(&oreq, obuf);
    ctx.token = "t-other";
    ctx.token_len = 7;
    assert_sl_ok(sl_rpc_query_logs(&ctx, obuf, olen, &out, NULL, &err), &err);
    grpc_slice_unref(out);
    ctx.token = "t-proj";
    ctx.token_len = 6;

    ctx.backend_ok = false;
    assert_sl_err(sl_rpc_query_logs(&ctx, buf, len, &out, NULL, &err),
                  SL_EUNAVAIL, &err);
    ctx.backend_ok = true;
    ctx.deadline_us = 1; /* long past */
    assert_sl_err(sl_rpc_query_logs(&ctx, buf, len, &out, NULL, &err),
                  SL_ETIMEOUT, &err);
    sl_auth_destroy(auth);
}

/* With a response cache: a hit still passes validation, auth and the
 * backend check; only answers are cached; a write through the writers'
 * path is in the next answer. */
static void test_cache_hits_are_checked(void **state)
{
    struct fixture *f = *state;
    struct sl_err err;
    grpc_slice out, first;
    struct sl_query_ids ids;
    Modelarts__V1__QueryServiceLogsRequest req =
        MODELARTS__V1__QUERY_SERVICE_LOGS_REQUEST__INIT;
    req.project_id = "proj";
    req.service_id = "svc";
    uint8_t buf[64];
    size_t len = modelarts__v1__query_service_logs_request__pack(&req, buf);

    char path[] = "/tmp/sl-rpc-cache-XXXXXX";
    int fd = mkstemp(path);
    const char tokens[] = "t-proj proj\nt-other other\n";
    assert_int_equal(write(fd, tokens, sizeof(tokens) - 1),
                     (ssize_t)sizeof(tokens) - 1);
    close(fd);
    struct sl_auth *auth;
    assert_sl_ok(sl_auth_open(path, &auth, &err), &err);
    unlink(path);
    struct sl_cache *cache;
    assert_sl_ok(sl_cache_create(1 << 20, &cache, &err), &err);

    struct sl_rpc_ctx ctx = {.store = f->st,
                             .auth = auth,
                             .backend_ok = true,
                             .token = "t-proj",
                             .token_len = 6,
                             .cache = cache};
    assert_sl_ok(sl_rpc_query_logs(&ctx, buf, len, &first, &ids, &err), &err);
    assert_false(ids.cached);
    assert_sl_ok(sl_rpc_query_logs(&ctx, buf, len, &out, &ids, &err), &err);
    assert_true(ids.cached);
    assert_true(grpc_slice_eq(out, first));
    assert_string_equal(ids.project_id, "proj"); /* the access log's */
    grpc_slice_unref(out);

    ctx.token = "t-other";
    ctx.token_len = 7;
    assert_sl_err(sl_rpc_query_logs(&ctx, buf, len, &out, &ids, &err),
                  SL_EFORBIDDEN, &err);
    ctx.token = NULL;
    ctx.token_len = 0;
    assert_sl_err(sl_rpc_query_logs(&ctx, buf, len, &out, &ids, &err),
                  SL_ENOTOKEN, &err);
    ctx.token = "t-proj";
    ctx.token_len = 6;
    ctx.backend_ok = false;
    assert_sl_err(sl_rpc_query_logs(&ctx, buf, len, &out, &ids, &err),
                  SL_EUNAVAIL, &err);
    ctx.backend_ok = true;
    assert_sl_err(sl_rpc_query_logs(&ctx, buf, len - 1, &out, &ids, &err),
                  SL_EINVAL, &err);

    /* Errors are not cached: a batch service is refused each time by the
     * store's answer. */
    req.service_id = "batchy";
    uint8_t bbuf[64];
    size_t blen = modelarts__v1__query_service_logs_request__pack(&req, bbuf);
    for (int i = 0; i < 2; i++) {
        assert_sl_err(sl_rpc_query_logs(&ctx, bbuf, blen, &out, &ids, &err),
                      SL_EBATCH, &err);
        assert_false(ids.cached);
    }

    /* A rename through PutService on the same cache: the next answer has
     * the new name, read from the store. */
    ctx.auth = NULL;
    Modelarts__V1__PutServiceRequest put =
        MODELARTS__V1__PUT_SERVICE_REQUEST__INIT;
    put.project_id = "proj";
    put.service_id = "svc";
    put.service_name = "renamed";
    put.infer_type = MODELARTS__V1__INFER_TYPE__REAL_TIME;
    uint8_t pbuf[64];
    size_t plen = modelarts__v1__put_service_request__pack(&put, pbuf);
    assert_sl_ok(sl_rpc_put_service(&ctx, pbuf, plen, &out, NULL, &err), &err);
    grpc_slice_unref(out);
    assert_sl_ok(sl_rpc_query_logs(&ctx, buf, len, &out, &ids, &err), &err);
    assert_false(ids.cached);
    assert_false(grpc_slice_eq(out, first));
    Modelarts__V1__QueryServiceLogsResponse *r =
        modelarts__v1__query_service_logs_response__unpack(
            NULL, GRPC_SLICE_LENGTH(out), GRPC_SLICE_START_PTR(out));
    assert_non_null(r);
    assert_string_equal(r->service_name, "renamed");
    modelarts__v1__query_service_logs_response__free_unpacked(r, NULL);
    grpc_slice_unref(out);
    grpc_slice_unref(first);
    sl_cache_destroy(cache);
    sl_auth_destroy(auth);
}

/* servicelogs_backend_corrupt_total as rendered now. */
static long corrupt_count(void)
{
    struct sl_buf b;
    sl_buf_init(&b);
    sl_metrics_render(&b);
    sl_buf_putc(&b, '\0');
    const char *line = strstr(b.data, "\nservicelogs_backend_corrupt_total ");
    long v = line ? strtol(line + 35, NULL, 10) : -1;
    sl_buf_free(&b);
    return v;
}

/* A stored service name that is not UTF-8 is not sent: protobuf parsers
 * refuse such a string. */
static void test_corrupt_name(void **state)
{
    struct fixture *f = *state;
    struct sl_err err;
    grpc_slice out;
    struct sl_import_service s = {
        "proj", "garbled", "na\xffme", MODELARTS__V1__INFER_TYPE__REAL_TIME,
        0,      NULL};
    assert_sl_ok(sl_store_import(f->st, &s, 1, &err), &err);
    long before = corrupt_count();
    assert_sl_err(query(f, "proj", "garbled", 0, &out, &err), SL_ECORRUPT,
                  &err);
    assert_true(GRPC_SLICE_IS_EMPTY(out));
    assert_non_null(strstr(err.msg, "stored data is corrupt"));
    assert_non_null(strstr(err.msg, "garbled"));
    assert_null(strchr(err.msg, '\xff')); /* never the bytes */
    assert_int_equal(corrupt_count(), before + 1);
}

/* Runs sql with one blob parameter on the database file. */
static void sqlite_blob_exec(const char *path, const char *sql,
                             const uint8_t *blob, size_t len)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (blob)
        sqlite3_bind_blob(st, 1, blob, (int)len, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* The body stored for the log with update_time t (one per t here). */
static size_t sqlite_body(const char *path, int64_t t, uint8_t *out)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT body FROM logs WHERE "
                                        "update_time = ?1",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, t);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    size_t n = (size_t)sqlite3_column_bytes(st, 0);
    memcpy(out, sqlite3_column_blob(st, 0), n);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static void put_body(const char *path, int64_t t, const uint8_t *b, size_t n)
{
    char sql[96];
    snprintf(sql, sizeof(sql),
             "UPDATE logs SET body = ?1 WHERE update_time = %lld",
             (long long)t);
    sqlite_blob_exec(path, sql, b, n);
}

/* The SQLite backend stores each log sealed with its CRC-32C, strips the
 * seal on the way out (answers stay byte-identical), and refuses a log
 * whose bytes changed -- even a change that leaves a valid message. Logs
 * stored before seals are checked field by field. */
static void test_sqlite_checks_every_log(void **state)
{
    (void)state;
    char dir[] = "/tmp/sl-rpc-corrupt-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64], uri[80];
    snprintf(path, sizeof(path), "%s/c.db", dir);
    snprintf(uri, sizeof(uri), "sqlite:%s", path);
    struct sl_err err;
    struct fixture sq = {0};
    assert_sl_ok(sl_store_open(uri, &sq.st, &err), &err);
    struct sl_import_log logs[2];
    uint8_t *bodies[2];
    size_t lens[2];
    for (int i = 0; i < 2; i++) {
        bodies[i] = pack_log(100 * (i + 1), 1, "m-a", &lens[i]);
        logs[i] = (struct sl_import_log){100 * (i + 1), {bodies[i], lens[i]}};
    }
    struct sl_import_service s = {
        "proj", "svc", "mnist", MODELARTS__V1__INFER_TYPE__REAL_TIME, 2, logs};
    assert_sl_ok(sl_store_import(sq.st, &s, 1, &err), &err);

    /* stored sealed; served as packed */
    uint8_t b[512];
    size_t n = sqlite_body(path, 200, b);
    assert_int_equal(n, lens[1] + SL_WIRE_SEAL_LEN);
    assert_int_equal(sl_wire_unseal(b, n), SL_WIRE_SEALED);
    grpc_slice out, want;
    assert_sl_ok(query(&sq, "proj", "svc", 0, &want, &err), &err);
    struct fixture mem = {0};
    assert_sl_ok(sl_store_open("memory:", &mem.st, &err), &err);
    assert_sl_ok(sl_store_import(mem.st, &s, 1, &err), &err);
    assert_sl_ok(query(&mem, "proj", "svc", 0, &out, &err), &err);
    assert_int_equal(GRPC_SLICE_LENGTH(out), GRPC_SLICE_LENGTH(want));
    assert_memory_equal(GRPC_SLICE_START_PTR(out), GRPC_SLICE_START_PTR(want),
                        GRPC_SLICE_LENGTH(want));
    grpc_slice_unref(out);
    sl_store_close(mem.st);

    /* one letter of model_id changed: still a valid ServiceLog, so only
     * the checksum can tell; nothing of the page is sent */
    uint8_t *m = memmem(b, n, "m-a", 3);
    assert_non_null(m);
    m[2] = 'b';
    put_body(path, 200, b, n);
    long before = corrupt_count();
    assert_sl_err(query(&sq, "proj", "svc", 0, &out, &err), SL_ECORRUPT, &err);
    assert_true(GRPC_SLICE_IS_EMPTY(out));
    assert_non_null(strstr(err.msg, "stored data is corrupt: service svc of "
                                    "project proj, log 2, update_time 200: "
                                    "checksum mismatch"));
    assert_int_equal(corrupt_count(), before + 1);
    /* the other log alone is fine */
    assert_sl_ok(query(&sq, "proj", "svc", 100, &out, &err), &err);
    grpc_slice_unref(out);

    /* a log stored before seals: served when intact, byte-identical */
    put_body(path, 200, bodies[1], lens[1]);
    assert_sl_ok(query(&sq, "proj", "svc", 0, &out, &err), &err);
    assert_int_equal(GRPC_SLICE_LENGTH(out), GRPC_SLICE_LENGTH(want));
    assert_memory_equal(GRPC_SLICE_START_PTR(out), GRPC_SLICE_START_PTR(want),
                        GRPC_SLICE_LENGTH(want));
    grpc_slice_unref(out);
    /* ... and refused, saying where, when its structure is broken */
    memcpy(b, bodies[1], lens[1]);
    b[lens[1] - 1] = 0x80; /* a varint that never ends */
    put_body(path, 200, b, lens[1]);
    assert_sl_err(query(&sq, "proj", "svc", 0, &out, &err), SL_ECORRUPT, &err);
    assert_non_null(strstr(err.msg, "(no checksum)"));
    assert_non_null(strstr(err.msg, "log 2, update_time 200"));
    grpc_slice_unref(want);

    sl_store_close(sq.st);
    for (int i = 0; i < 2; i++)
        free(bodies[i]);
    char side[96];
    const char *sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(side, sizeof(side), "%s%s", path, sfx[i]);
        unlink(side);
    }
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oldest_first_and_byte_exact),
        cmocka_unit_test(test_update_time_filter),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_hostile_bytes),
        cmocka_unit_test(test_auth_backend_deadline),
        cmocka_unit_test(test_cache_hits_are_checked),
        cmocka_unit_test(test_corrupt_name),
        cmocka_unit_test(test_sqlite_checks_every_log),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
