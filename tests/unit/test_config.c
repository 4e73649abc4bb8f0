/* test_config.c -- option table: flags, environment, ranges, --help */
#include "sl_test.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

static int load(struct sl_config *cfg, const char *cmd, char **argv, int argc,
                struct sl_err *err, int *n_rest)
{
    char **rest;
    int exit_now;
    FILE *devnull = fopen("/dev/null", "w");
    int rc = sl_config_load(cfg, cmd, argc, argv, &rest, n_rest, &exit_now,
                            devnull, err);
    fclose(devnull);
    return rc;
}

static void test_defaults(void **state)
{
    (void)state;
    struct sl_config cfg;
    struct sl_err err;
    int n;
    assert_sl_ok(load(&cfg, "serve", NULL, 0, &err, &n), &err);
    assert_string_equal(cfg.backend, "sqlite:servicelogs.db");
    assert_string_equal(cfg.grpc_listen, "127.0.0.1:50051");
    assert_string_equal(cfg.http_listen, "127.0.0.1:8080");
    assert_int_equal(cfg.upstream_timeout_ms, 5000);
    assert_int_equal(cfg.shutdown_grace_ms, 10000);
    assert_int_equal(cfg.threads, 0);
    assert_int_equal(cfg.log_level, SL_LOG_INFO);
    assert_int_equal(cfg.log_format, SL_LOG_TEXT);
}

static void test_flags_and_env(void **state)
{
    (void)state;
    struct sl_config cfg;
    struct sl_err err;
    int n;
    setenv("SERVICELOGS_THREADS", "3", 1);
    setenv("SERVICELOGS_BACKEND", "memory:", 1);
    char *argv[] = {"--threads=8", "--upstream-timeout", "250ms", "--log-level",
                    "debug",       "--shutdown-grace=2s"};
    assert_sl_ok(load(&cfg, "serve", argv, 6, &err, &n), &err);
    assert_int_equal(cfg.threads, 8); /* flag beats environment */
    assert_string_equal(cfg.backend, "memory:");
    assert_int_equal(cfg.upstream_timeout_ms, 250);
    assert_int_equal(cfg.shutdown_grace_ms, 2000);
    assert_int_equal(cfg.log_level, SL_LOG_DEBUG);
    unsetenv("SERVICELOGS_THREADS");
    unsetenv("SERVICELOGS_BACKEND");
}

static void test_bad_values_name_the_flag(void **state)
{
    (void)state;
    struct sl_config cfg;
    struct sl_err err;
    int n;
    static const struct {
        const char *arg;
        const char *want;
    } cases[] = {
        {"--threads=-1", "--threads: '-1' is not an integer from 0 to 256"},
        {"--threads=abc", "--threads"},
        {"--threads=999", "0 to 256"},
        {"--upstream-timeout=5h", "--upstream-timeout"},
        {"--upstream-timeout=0", "--upstream-timeout"},
        {"--log-level=loud", "--log-level: 'loud' is not a log level"},
        {"--log-format=xml", "--log-format: 'xml' is not a log format"},
        {"--nope=1", "unknown option '--nope'"},
        {"--threads", "--threads needs a value"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *argv[] = {(char *)cases[i].arg};
        int rc = load(&cfg, "serve", argv, 1, &err, &n);
        if (rc != SL_EINVAL || !strstr(err.msg, cases[i].want))
            fail_msg("%s: rc %d msg '%s'", cases[i].arg, rc, err.msg);
    }
    setenv("SERVICELOGS_SLOTS", "0", 1);
    assert_int_equal(load(&cfg, "serve", NULL, 0, &err, &n), SL_EINVAL);
    assert_non_null(strstr(err.msg, "SERVICELOGS_SLOTS"));
    unsetenv("SERVICELOGS_SLOTS");
}

/* --log-format: flag over environment; the peek reads the same before
 * sl_config_load (even when a later flag is bad), text when unknown. */
static void test_log_format(void **state)
{
    (void)state;
    struct sl_config cfg;
    struct sl_err err;
    int n;
    setenv("SERVICELOGS_LOG_FORMAT", "json", 1);
    assert_sl_ok(load(&cfg, "import", NULL, 0, &err, &n), &err);
    assert_int_equal(cfg.log_format, SL_LOG_JSON);
    char *argv[] = {"--log-format", "text"};
    assert_sl_ok(load(&cfg, "serve", argv, 2, &err, &n), &err);
    assert_int_equal(cfg.log_format, SL_LOG_TEXT);
    assert_int_equal(sl_config_peek_log_format(0, NULL), SL_LOG_JSON);
    assert_int_equal(sl_config_peek_log_format(2, argv), SL_LOG_TEXT);
    unsetenv("SERVICELOGS_LOG_FORMAT");
    char *argv2[] = {"--nope", "--log-format=json"};
    assert_int_equal(sl_config_peek_log_format(2, argv2), SL_LOG_JSON);
    char *argv3[] = {"--log-format=xml"};
    assert_int_equal(sl_config_peek_log_format(1, argv3), SL_LOG_TEXT);
    char *argv4[] = {"--", "--log-format=json"};
    assert_int_equal(sl_config_peek_log_format(2, argv4), SL_LOG_TEXT);
}

static void test_import_positional(void **state)
{
    (void)state;
    struct sl_config cfg;
    struct sl_err err;
    int n;
    char *argv[] = {"--backend", "memory:", "file.json"};
    assert_sl_ok(load(&cfg, "import", argv, 3, &err, &n), &err);
    assert_int_equal(n, 1);
    assert_string_equal(argv[0], "file.json");
    /* serve-only flags are unknown to import */
    char *argv2[] = {"--grpc-listen=1.2.3.4:5"};
    assert_int_equal(load(&cfg, "import", argv2, 1, &err, &n), SL_EINVAL);
}

static void test_help_is_generated(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    sl_config_usage(f, "serve");
    fclose(f);
    assert_non_null(strstr(text, "--backend"));
    assert_non_null(strstr(text, "SERVICELOGS_GRPC_LISTEN"));
    assert_non_null(strstr(text, "--shutdown-grace"));
    assert_non_null(strstr(text, "SERVICELOGS_LOG_FORMAT"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_flags_and_env),
        cmocka_unit_test(test_bad_values_name_the_flag),
        cmocka_unit_test(test_log_format),
        cmocka_unit_test(test_import_positional),
        cmocka_unit_test(test_help_is_generated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
