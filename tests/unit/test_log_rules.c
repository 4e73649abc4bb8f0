/* test_log_rules.c -- the log rules import and the writers share, the
 * wire walk over a request's strings, and server/limits.h against the
 * nanopb bounds of proto/modelarts/v1/service_logs.options
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sl_test.h"

#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "log_rules.h"
#include "modelarts/v1/service_logs.pb-c.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- limits.h == service_logs.options ---------------------------------- */

/* The number after "key:" on the options line of field (exact name), or -1
 * when the file has no such line or key. */
static long option(const char *text, const char *field, const char *key)
{
    size_t fl = strlen(field);
    for (const char *p = text; p && *p;
         p = strchr(p, '\n'), p = p ? p + 1 : p) {
        if (strncmp(p, field, fl) != 0 || (p[fl] != ' ' && p[fl] != '\t'))
            continue;
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        char line[256];
        snprintf(line, sizeof(line), "%.*s", (int)len, p);
        char want[64];
        snprintf(want, sizeof(want), " %s:", key);
        const char *k = strstr(line, want);
        return k ? strtol(k + strlen(want), NULL, 10) : -1;
    }
    return -1;
}

static void test_limits_match_options(void **state)
{
    (void)state;
    FILE *f =
        fopen(SL_SOURCE_DIR "/proto/modelarts/v1/service_logs.options", "r");
    assert_non_null(f);
    static char text[16384];
    text[fread(text, 1, sizeof(text) - 1, f)] = '\0';
    fclose(f);
#define M "modelarts.v1."
    static const struct {
        const char *field, *key;
        long want;
    } rows[] = {
        /* strings: the limit plus the NUL */
        {M "QueryServiceLogsRequest.project_id", "max_size", SL_MAX_ID + 1},
        {M "ServiceConfig.model_id", "max_size", SL_MAX_ID + 1},
        {M "ServiceConfig.model_name", "max_size", SL_MAX_NAME + 1},
        {M "ServiceConfig.model_version", "max_size", SL_MAX_VERSION + 1},
        {M "ServiceConfig.specification", "max_size", SL_MAX_NAME + 1},
        {M "ServiceConfig.EnvsEntry.key", "max_size", SL_MAX_ENV_KEY + 1},
        {M "ServiceConfig.EnvsEntry.value", "max_size", SL_MAX_ENV_VALUE + 1},
        {M "ServiceConfig.cluster_id", "max_size", SL_MAX_CLUSTER_ID + 1},
        {M "NodeResult.node_id", "max_size", SL_MAX_ID + 1},
        {M "NodeResult.node_name", "max_size", SL_MAX_NAME + 1},
        {M "ServiceLog.cluster_id", "max_size", SL_MAX_CLUSTER_ID + 1},
        {M "ServiceLog.extend_config", "max_size", SL_MAX_EXTEND_LEN + 1},
        {M "PutServiceRequest.project_id", "max_size", SL_MAX_ID + 1},
        {M "PutServiceRequest.service_id", "max_size", SL_MAX_ID + 1},
        {M "PutServiceRequest.service_name", "max_size", SL_MAX_NAME + 1},
        {M "RecordServiceUpdateRequest.project_id", "max_size", SL_MAX_ID + 1},
        {M "RecordServiceUpdateRequest.service_id", "max_size", SL_MAX_ID + 1},
        /* counts */
        {M "ServiceConfig.envs", "max_count", SL_MAX_ENVS},
        {M "ServiceLog.result_detail", "max_count", SL_MAX_NODES},
        {M "ServiceLog.extend_config", "max_count", SL_MAX_EXTEND},
    };
#undef M
    for (size_t i = 0; i < N(rows); i++) {
        long got = option(text, rows[i].field, rows[i].key);
        if (got != rows[i].want)
            fail_msg("%s %s: options file says %ld, limits.h %ld",
                     rows[i].field, rows[i].key, got, rows[i].want);
    }
}

/* ---- sl_log_check -------------------------------------------------------- */

struct log_buf {
    Modelarts__V1__ServiceLog log;
    Modelarts__V1__ServiceConfig cfg;
    Modelarts__V1__ServiceConfig *cfgs[1];
    char *extend[SL_MAX_EXTEND];
};

static void log_init(struct log_buf *b)
{
    memset(b, 0, sizeof(*b));
    modelarts__v1__service_log__init(&b->log);
    b->log.update_time = 1;
    b->log.result = MODELARTS__V1__UPDATE_RESULT__SUCCESS;
    modelarts__v1__service_config__init(&b->cfg);
    b->cfg.model_id = "m";
    b->cfg.model_name = "n";
    b->cfg.model_version = "1";
    b->cfgs[0] = &b->cfg;
    b->log.n_config = 1;
    b->log.config = b->cfgs;
}

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static void test_check_limits_and_types(void **state)
{
    (void)state;
    struct log_buf b;
    struct sl_err err;
    const int RT = MODELARTS__V1__INFER_TYPE__REAL_TIME;
    const int BATCH = MODELARTS__V1__INFER_TYPE__BATCH;

    /* at every limit: fine */
    log_init(&b);
    char *e = repeat('e', SL_MAX_EXTEND_LEN);
    char *c = repeat('c', SL_MAX_CLUSTER_ID);
    for (size_t i = 0; i < SL_MAX_EXTEND; i++)
        b.extend[i] = e;
    b.log.n_extend_config = SL_MAX_EXTEND;
    b.log.extend_config = b.extend;
    b.log.cluster_id = c;
    b.cfg.cluster_id = c;
    b.cfg.weight = SL_MAX_WEIGHT;
    assert_sl_ok(sl_log_check(&b.log, RT, "log", SL_EINVAL, &err), &err);
    /* one byte over */
    char *e2 = repeat('e', SL_MAX_EXTEND_LEN + 1);
    b.extend[7] = e2;
    assert_sl_err(sl_log_check(&b.log, RT, "log", SL_EINVAL, &err), SL_EINVAL,
                  &err);
    assert_string_equal(err.msg, "log.extend_config[7]: longer than 256 bytes");
    /* the caller's code and prefix */
    assert_sl_err(
        sl_log_check(&b.log, RT, "services[3].logs[9]", SL_EFORMAT, &err),
        SL_EFORMAT, &err);
    assert_string_equal(err.msg, "services[3].logs[9].extend_config[7]: "
                                 "longer than 256 bytes");
    assert_sl_err(sl_log_check(&b.log, RT, NULL, SL_EINVAL, &err), SL_EINVAL,
                  &err);
    assert_string_equal(err.msg, "extend_config[7]: longer than 256 bytes");
    free(e2);

    /* batch: neither kind's fields */
    log_init(&b);
    b.cfg.weight = 1;
    assert_sl_err(sl_log_check(&b.log, BATCH, "log", SL_EINVAL, &err),
                  SL_EINVAL, &err);
    assert_string_equal(err.msg, "log.config[0].weight: only allowed for "
                                 "real-time services (this service is batch)");
    log_init(&b);
    b.log.failed_num = 1;
    assert_sl_err(sl_log_check(&b.log, BATCH, "log", SL_EINVAL, &err),
                  SL_EINVAL, &err);
    /* an unknown infer_type has neither either */
    assert_sl_err(sl_log_check(&b.log, 7, "log", SL_EINVAL, &err), SL_EINVAL,
                  &err);
    assert_string_equal(err.msg, "log.failed_num: only allowed for edge "
                                 "services (this service is unknown)");

    /* a prefix longer than the path buffer is cut, never overflowed */
    char *prefix = repeat('p', 400);
    log_init(&b);
    b.log.result = 0;
    assert_sl_err(sl_log_check(&b.log, RT, prefix, SL_EINVAL, &err), SL_EINVAL,
                  &err);
    assert_non_null(strstr(err.msg, "expected SUCCESS, FAIL or RUNNING"));
    free(prefix);
    free(e);
    free(c);
}

/* ---- sl_pb_check_strings ------------------------------------------------ */

static void test_check_strings(void **state)
{
    (void)state;
    Modelarts__V1__ServiceConfig__EnvsEntry env[2] = {
        MODELARTS__V1__SERVICE_CONFIG__ENVS_ENTRY__INIT,
        MODELARTS__V1__SERVICE_CONFIG__ENVS_ENTRY__INIT};
    Modelarts__V1__ServiceConfig__EnvsEntry *envs[] = {&env[0], &env[1]};
    env[0].key = "A";
    env[0].value = "1";
    env[1].key = "BX";
    env[1].value = "2";
    Modelarts__V1__ServiceConfig cfg[2] = {MODELARTS__V1__SERVICE_CONFIG__INIT,
                                           MODELARTS__V1__SERVICE_CONFIG__INIT};
    Modelarts__V1__ServiceConfig *cfgs[] = {&cfg[0], &cfg[1]};
    cfg[0].model_id = cfg[1].model_id = "m";
    cfg[1].n_envs = 2;
    cfg[1].envs = envs;
    char *extend[] = {"a", "b", "QQ"};
    Modelarts__V1__ServiceLog log = MODELARTS__V1__SERVICE_LOG__INIT;
    log.update_time = 1;
    log.n_config = 2;
    log.config = cfgs;
    log.n_extend_config = 3;
    log.extend_config = extend;
    Modelarts__V1__RecordServiceUpdateRequest r =
        MODELARTS__V1__RECORD_SERVICE_UPDATE_REQUEST__INIT;
    r.project_id = "p";
    r.service_id = "s";
    r.log = &log;
    size_t n =
        modelarts__v1__record_service_update_request__get_packed_size(&r);
    uint8_t *buf = malloc(n);
    modelarts__v1__record_service_update_request__pack(&r, buf);
    const ProtobufCMessageDescriptor *d =
        &modelarts__v1__record_service_update_request__descriptor;
    struct sl_err err;
    assert_sl_ok(sl_pb_check_strings(d, buf, n, SL_EINVAL, &err), &err);

    uint8_t *at = memmem(buf, n, "BX", 2);
    at[1] = 0;
    assert_sl_err(sl_pb_check_strings(d, buf, n, SL_EINVAL, &err), SL_EINVAL,
                  &err);
    assert_string_equal(err.msg,
                        "log.config[1].envs[1].key: contains a NUL byte");
    at[1] = 'X';
    at = memmem(buf, n, "QQ", 2);
    at[0] = (uint8_t)0xc0; /* an overlong form */
    at[1] = (uint8_t)0x80;
    assert_sl_err(sl_pb_check_strings(d, buf, n, SL_EFORMAT, &err), SL_EFORMAT,
                  &err);
    assert_string_equal(err.msg, "log.extend_config[2]: not valid UTF-8");
    /* bytes that are no message: left for unpack */
    assert_sl_ok(sl_pb_check_strings(d, buf, n - 1, SL_EINVAL, &err), &err);
    static const uint8_t junk[] = {0xff, 0xff, 0xff};
    assert_sl_ok(sl_pb_check_strings(d, junk, 3, SL_EINVAL, &err), &err);
    assert_sl_ok(sl_pb_check_strings(d, junk, 0, SL_EINVAL, &err), &err);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limits_match_options),
        cmocka_unit_test(test_check_limits_and_types),
        cmocka_unit_test(test_check_strings),
    };
    return cmocka_run_group_tests_name("log_rules", tests, NULL, NULL);
}
