/* test_log.c -- the stderr line formats of log.c (text and JSON)
 *
 * sl_log_format_line() is pure: each case formats one message and checks
 * the bytes (text) or parses the line with jansson (JSON: one object, the
 * three keys, the message back exactly or, for bytes that are not UTF-8,
 * with U+FFFD). sl_log_write() is checked once through a pipe on stderr.
 */
#include "sl_test.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"

static const struct timespec ts = {1764892800, 123456789}; /* 2025-12-05 */

static json_t *parse_line(const char *line, size_t len)
{
    json_error_t e;
    assert_true(len > 0);
    assert_int_equal(line[len - 1], '\n');
    assert_null(memchr(line, '\n', len - 1)); /* one line */
    json_t *j = json_loadb(line, len, 0, &e);
    if (!j)
        fail_msg("not JSON (%s): %.*s", e.text, (int)len, line);
    assert_true(json_is_object(j));
    assert_int_equal(json_object_size(j), 3);
    return j;
}

static void test_text(void **state)
{
    (void)state;
    char line[SL_LOG_LINE_MAX];
    size_t n = sl_log_format_line(line, SL_LOG_TEXT, SL_LOG_WARN, &ts,
                                  "shim: hello \"x\"");
    assert_int_equal(n, strlen("2025-12-05T00:00:00.123Z warn shim: hello "
                               "\"x\"\n"));
    assert_memory_equal(line,
                        "2025-12-05T00:00:00.123Z warn shim: hello \"x\"\n", n);
}

static void test_json(void **state)
{
    (void)state;
    char line[SL_LOG_LINE_MAX];
    size_t n = sl_log_format_line(line, SL_LOG_JSON, SL_LOG_INFO, &ts,
                                  "config: a=\"b\" c\\d\te\nf");
    json_t *j = parse_line(line, n);
    assert_string_equal(json_string_value(json_object_get(j, "time")),
                        "2025-12-05T00:00:00.123Z");
    assert_string_equal(json_string_value(json_object_get(j, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(j, "msg")),
                        "config: a=\"b\" c\\d\te\nf");
    json_decref(j);
    /* Exact bytes of a plain one: keys in this order. */
    n = sl_log_format_line(line, SL_LOG_JSON, SL_LOG_ERROR, &ts, "x");
    const char want[] =
        "{\"time\":\"2025-12-05T00:00:00.123Z\",\"level\":\"error\","
        "\"msg\":\"x\"}\n";
    assert_int_equal(n, sizeof(want) - 1);
    assert_memory_equal(line, want, n);
}

/* Hostile bytes: control characters and invalid UTF-8 stay one valid
 * line; the worst case (every byte escaped) fits the buffer. */
static void test_json_hostile(void **state)
{
    (void)state;
    static char line[SL_LOG_LINE_MAX];
    char msg[SL_LOG_MSG_MAX + 100];
    for (size_t i = 0; i < sizeof(msg) - 1; i++)
        msg[i] = (char)(1 + i % 31); /* control bytes: \u00XX each */
    msg[sizeof(msg) - 1] = '\0';
    size_t n = sl_log_format_line(line, SL_LOG_JSON, SL_LOG_DEBUG, &ts, msg);
    assert_true(n <= sizeof(line));
    json_t *j = parse_line(line, n);
    /* Cut at SL_LOG_MSG_MAX - 1 bytes. */
    assert_int_equal(strlen(json_string_value(json_object_get(j, "msg"))),
                     SL_LOG_MSG_MAX - 1);
    json_decref(j);

    n = sl_log_format_line(line, SL_LOG_JSON, SL_LOG_INFO, &ts,
                           "bad \xff\xc3 utf-8 \xe2\x82");
    j = parse_line(line, n);
    assert_string_equal(json_string_value(json_object_get(j, "msg")),
                        "bad \xef\xbf\xbd\xef\xbf\xbd utf-8 \xef\xbf\xbd");
    json_decref(j);
}

static void test_parse_names(void **state)
{
    (void)state;
    assert_int_equal(sl_log_format_parse("text"), SL_LOG_TEXT);
    assert_int_equal(sl_log_format_parse("json"), SL_LOG_JSON);
    assert_int_equal(sl_log_format_parse("JSON"), -1);
    assert_int_equal(sl_log_format_parse(""), -1);
    assert_string_equal(sl_log_format_name(SL_LOG_JSON), "json");
    assert_string_equal(sl_log_format_name(SL_LOG_TEXT), "text");
}

/* sl_log() itself, through stderr: a JSON line with --log-format json. */
static void test_write(void **state)
{
    (void)state;
    int fds[2];
    char buf[4096];

    assert_int_equal(pipe(fds), 0);
    int saved = dup(STDERR_FILENO);
    assert_true(dup2(fds[1], STDERR_FILENO) >= 0);
    sl_log_format = SL_LOG_JSON;
    sl_log(SL_LOG_WARN, "shim: %d \"%s\"", 42, "q");
    sl_log(SL_LOG_DEBUG, "dropped at info level");
    sl_log_format = SL_LOG_TEXT;
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    close(fds[1]);
    ssize_t n = read(fds[0], buf, sizeof(buf));
    close(fds[0]);
    assert_true(n > 0);
    json_t *j = parse_line(buf, (size_t)n);
    assert_string_equal(json_string_value(json_object_get(j, "level")), "warn");
    assert_string_equal(json_string_value(json_object_get(j, "msg")),
                        "shim: 42 \"q\"");
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text),         cmocka_unit_test(test_json),
        cmocka_unit_test(test_json_hostile), cmocka_unit_test(test_parse_names),
        cmocka_unit_test(test_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
