/* test_accesslog.c -- access lines and request ids
 *
 * sl_access_log() writes to stderr: each test points stderr at a pipe
 * (dup2), writes, restores it and parses what came out with jansson: one
 * line, valid JSON, every key. getrandom(2) is wrapped (-Wl,--wrap, see
 * tests/CMakeLists.txt) to make it fail on demand, which exercises the
 * fallback of sl_request_id_new().
 */
#include "sl_test.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <jansson.h>

#include "accesslog.h"
#include "log.h"

/* ---- getrandom fault injection ----------------------------------------- */

ssize_t __real_getrandom(void *buf, size_t len, unsigned int flags);
ssize_t __wrap_getrandom(void *buf, size_t len, unsigned int flags);

static bool fail_getrandom;
static int getrandom_failures;

ssize_t __wrap_getrandom(void *buf, size_t len, unsigned int flags)
{
    if (fail_getrandom) {
        getrandom_failures++;
        errno = EAGAIN;
        return -1;
    }
    return __real_getrandom(buf, len, flags);
}

/* ---- capturing stderr -------------------------------------------------- */

/* Calls sl_access_log(a) with stderr on a pipe; returns what was written
 * (NUL-terminated, heap; the caller frees it). */
static char *capture(const struct sl_access *a)
{
    int fds[2];
    static char buf[65536];

    assert_int_equal(pipe(fds), 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fds[1], STDERR_FILENO) >= 0);
    sl_access_log(a);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    close(fds[1]);
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fds[0], buf + n, sizeof(buf) - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fds[0]);
    buf[n] = '\0';
    return strdup(buf);
}

/* Parses out as exactly one JSON line; the caller json_decref()s it. */
static json_t *one_line(const char *out)
{
    size_t n = strlen(out);
    assert_true(n > 1);
    assert_true(out[n - 1] == '\n');
    assert_ptr_equal(strchr(out, '\n'), out + n - 1); /* one line only */
    json_error_t e;
    json_t *j = json_loadb(out, n - 1, 0, &e);
    if (!j)
        fail_msg("not JSON (%s): %s", e.text, out);
    assert_true(json_is_object(j));
    return j;
}

static const char *const keys[] = {
    "time",   "kind",       "method",      "path", "project_id", "service_id",
    "status", "error_code", "duration_us", "peer", "request_id",
};

static int setup(void **state)
{
    (void)state;
    sl_log_level = SL_LOG_INFO;
    fail_getrandom = false;
    return 0;
}

static void test_full_line(void **state)
{
    (void)state;
    struct sl_access a = {
        .kind = "http",
        .method = "GET",
        .path = "/v1/p1/services/s1/logs",
        .project_id = "p1",
        .service_id = "s1",
        .status = 404,
        .error_code = "ModelArts.3502",
        .duration_us = 1234,
        .peer = "127.0.0.1:5555",
        .request_id = "test-req-42",
    };
    char *out = capture(&a);
    json_t *j = one_line(out);

    assert_int_equal(json_object_size(j), sizeof(keys) / sizeof(keys[0]));
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (!json_object_get(j, keys[i]))
            fail_msg("no key %s in %s", keys[i], out);
    /* Keys in the documented order. */
    const char *prev = out;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char quoted[32];
        snprintf(quoted, sizeof(quoted), "\"%s\":", keys[i]);
        const char *at = strstr(out, quoted);
        assert_non_null(at);
        assert_true(at >= prev);
        prev = at;
    }
    assert_string_equal(json_string_value(json_object_get(j, "kind")), "http");
    assert_string_equal(json_string_value(json_object_get(j, "path")),
                        "/v1/p1/services/s1/logs");
    assert_int_equal(json_integer_value(json_object_get(j, "status")), 404);
    assert_int_equal(json_integer_value(json_object_get(j, "duration_us")),
                     1234);
    assert_string_equal(json_string_value(json_object_get(j, "request_id")),
                        "test-req-42");

    /* "2026-11-27T23:06:07.123456Z" */
    const char *t = json_string_value(json_object_get(j, "time"));
    assert_non_null(t);
    assert_int_equal(strlen(t), 27);
    const char *shape = "dddd-dd-ddTdd:dd:dd.ddddddZ";
    for (size_t i = 0; i < 27; i++) {
        if (shape[i] == 'd')
            assert_true(t[i] >= '0' && t[i] <= '9');
        else
            assert_int_equal(t[i], shape[i]);
    }
    json_decref(j);
    free(out);
}

static void test_nulls(void **state)
{
    (void)state;
    struct sl_access a = {
        .kind = "grpc", .method = "/grpc.health.v1.Health/Check", .status = 0};
    char *out = capture(&a);
    json_t *j = one_line(out);
    assert_int_equal(json_object_size(j), sizeof(keys) / sizeof(keys[0]));
    assert_true(json_is_null(json_object_get(j, "path")));
    assert_true(json_is_null(json_object_get(j, "project_id")));
    assert_true(json_is_null(json_object_get(j, "error_code")));
    assert_true(json_is_null(json_object_get(j, "peer")));
    assert_true(json_is_null(json_object_get(j, "request_id")));
    assert_int_equal(json_integer_value(json_object_get(j, "status")), 0);
    json_decref(j);
    free(out);
}

/* A path that tries to end the line and forge another one. */
static void test_hostile_path(void **state)
{
    (void)state;
    const char *path = "/v1/\"},\n{\"kind\":\"forged\"\r\t\\\x01\x7f\xff/logs";
    struct sl_access a = {.kind = "http", .method = "GE\nT", .path = path};
    char *out = capture(&a);
    json_t *j = one_line(out);
    assert_string_equal(json_string_value(json_object_get(j, "kind")), "http");
    /* Round trip, but for the invalid byte 0xff: U+FFFD. */
    assert_string_equal(json_string_value(json_object_get(j, "path")),
                        "/v1/\"},\n{\"kind\":\"forged\"\r\t\\\x01\x7f"
                        "\xef\xbf\xbd/logs");
    assert_string_equal(json_string_value(json_object_get(j, "method")),
                        "GE\nT");
    json_decref(j);
    free(out);
}

/* Huge fields are cut, so that a line stays below PIPE_BUF (4096). */
static void test_long_fields(void **state)
{
    (void)state;
    char *huge = malloc(10001);
    char *ctrl = malloc(5001);
    assert_non_null(huge);
    assert_non_null(ctrl);
    memset(huge, 'a', 10000);
    huge[10000] = '\0';
    memset(ctrl, '\x01', 5000); /* each byte escapes to 6 */
    ctrl[5000] = '\0';
    struct sl_access a = {.kind = "http",
                          .method = ctrl,
                          .path = huge,
                          .project_id = ctrl,
                          .service_id = ctrl,
                          .peer = ctrl,
                          .request_id = ctrl,
                          .error_code = ctrl};
    char *out = capture(&a);
    assert_true(strlen(out) < 4096);
    json_t *j = one_line(out);
    const char *p = json_string_value(json_object_get(j, "path"));
    assert_int_equal(strlen(p), 1024);
    assert_true(strlen(json_string_value(json_object_get(j, "method"))) > 0);
    json_decref(j);
    free(out);
    free(huge);
    free(ctrl);
}

static void test_level(void **state)
{
    (void)state;
    struct sl_access a = {.kind = "http", .method = "GET", .status = 200};
    sl_log_level = SL_LOG_WARN;
    char *out = capture(&a);
    assert_string_equal(out, "");
    free(out);
    sl_log_level = SL_LOG_DEBUG;
    out = capture(&a);
    json_decref(one_line(out));
    free(out);
}

static void test_request_id_valid(void **state)
{
    (void)state;
    char max[SL_REQUEST_ID_MAX + 2];
    memset(max, 'x', sizeof(max));
    const struct {
        const char *s;
        size_t len;
        int want;
    } cases[] = {
        {"a", 1, 1},
        {"test-req-42", 11, 1},
        {"0123456789abcdef0123456789abcdef", 32, 1},
        {"!~{}[]<>\"'\\/", 12, 1}, /* any printable but space */
        {max, SL_REQUEST_ID_MAX, 1},
        {max, SL_REQUEST_ID_MAX + 1, 0},
        {"", 0, 0},
        {NULL, 0, 0},
        {NULL, 5, 0},
        {"a b", 3, 0},
        {"a\tb", 3, 0},
        {"a\nb", 3, 0},
        {"a\x7f", 2, 0},
        {"\x80", 1, 0},
        {"caf\xc3\xa9", 5, 0},
        {"ab\0cd", 5, 0}, /* NUL inside the length */
        {"ab\0cd", 2, 1}, /* only what len covers */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (!!sl_request_id_valid(cases[i].s, cases[i].len) != cases[i].want)
            fail_msg("case %zu: want %d", i, cases[i].want);
}

static bool is_id(const char *s)
{
    if (strlen(s) != SL_REQUEST_ID_LEN)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* n ids (each SL_REQUEST_ID_LEN + 1 bytes) are well-formed and distinct. */
static void check_ids(size_t n)
{
    char(*ids)[SL_REQUEST_ID_LEN + 1] = calloc(n, sizeof(*ids));
    assert_non_null(ids);
    for (size_t i = 0; i < n; i++) {
        sl_request_id_new(ids[i], sizeof(ids[i]));
        if (!is_id(ids[i]))
            fail_msg("bad id [%s]", ids[i]);
        assert_true(sl_request_id_valid(ids[i], strlen(ids[i])));
    }
    qsort(ids, n, sizeof(*ids), cmp_str);
    for (size_t i = 1; i < n; i++)
        if (strcmp(ids[i - 1], ids[i]) == 0)
            fail_msg("duplicate id %s", ids[i]);
    free(ids);
}

static void test_request_id_new(void **state)
{
    (void)state;
    check_ids(5000);

    char small[8];
    memset(small, '#', sizeof(small));
    sl_request_id_new(small, sizeof(small));
    assert_int_equal(strlen(small), 7);
    char untouched = '#';
    sl_request_id_new(&untouched, 0);
    assert_int_equal(untouched, '#');
    sl_request_id_new(NULL, 33);
}

/* getrandom failing: ids still well-formed and distinct, and no block. */
static void test_request_id_fallback(void **state)
{
    (void)state;
    fail_getrandom = true;
    getrandom_failures = 0;
    check_ids(2000);
    assert_true(getrandom_failures > 0);
    fail_getrandom = false;
    check_ids(100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_full_line, setup),
        cmocka_unit_test_setup(test_nulls, setup),
        cmocka_unit_test_setup(test_hostile_path, setup),
        cmocka_unit_test_setup(test_long_fields, setup),
        cmocka_unit_test_setup(test_level, setup),
        cmocka_unit_test_setup(test_request_id_valid, setup),
        cmocka_unit_test_setup(test_request_id_new, setup),
        cmocka_unit_test_setup(test_request_id_fallback, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
