/* test_http_sse.c -- the REST watch's Server-Sent Events framing
 *
 * sl_sse_put_* are pure: each case is the bytes they append. A data
 * payload with line breaks becomes one "data: " line per line (what an
 * EventSource joins back with "\n"); the error event carries the JSON
 * error body of render_json.h without its newline.
 */
#include "sl_test.h"

#include <string.h>

#include "error.h"
#include "http_sse.h"

static void assert_buf(const struct sl_buf *b, const char *want)
{
    assert_false(b->oom);
    if (b->len != strlen(want) || memcmp(b->data, want, b->len) != 0)
        fail_msg("got [%.*s], want [%s]", (int)b->len, b->data, want);
}

struct event_case {
    const char *event;
    const char *data; /* NULL: none (n 0) */
    const char *want;
};

static const struct event_case event_cases[] = {
    {"snapshot", "{\"service_id\":\"s\",\"logs\":[]}",
     "event: snapshot\ndata: {\"service_id\":\"s\",\"logs\":[]}\n\n"},
    {"log", "{\"update_time\":1}", "event: log\ndata: {\"update_time\":1}\n\n"},
    {"log", "", "event: log\ndata: \n\n"},
    {"log", NULL, "event: log\ndata: \n\n"},
    {"x", "a\nb", "event: x\ndata: a\ndata: b\n\n"},
    {"x", "a\r\nb", "event: x\ndata: a\ndata: b\n\n"},
    {"x", "a\rb", "event: x\ndata: a\ndata: b\n\n"},
    {"x", "a\n\nb", "event: x\ndata: a\ndata: \ndata: b\n\n"},
    {"x", "a\n", "event: x\ndata: a\ndata: \n\n"},
    {"x", "\n", "event: x\ndata: \ndata: \n\n"},
    {"x", "a\r", "event: x\ndata: a\ndata: \n\n"},
    {"x", "data: y", "event: x\ndata: data: y\n\n"},
};

static void test_event_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(event_cases) / sizeof(event_cases[0]); i++) {
        const struct event_case *c = &event_cases[i];
        struct sl_buf b;
        sl_buf_init(&b);
        sl_sse_put_event(&b, c->event, c->data, c->data ? strlen(c->data) : 0);
        assert_buf(&b, c->want);
        sl_buf_free(&b);
    }
}

/* Only n bytes of data count: a NUL-free prefix of a larger buffer. */
static void test_event_length(void **state)
{
    (void)state;
    struct sl_buf b;
    sl_buf_init(&b);
    sl_sse_put_event(&b, "log", "{}\nrest", 2);
    assert_buf(&b, "event: log\ndata: {}\n\n");
    sl_buf_free(&b);
}

/* Events append: a stream is their concatenation. */
static void test_stream(void **state)
{
    (void)state;
    struct sl_buf b;
    sl_buf_init(&b);
    sl_sse_put_event(&b, "snapshot", "{}", 2);
    sl_sse_put_keepalive(&b);
    sl_sse_put_event(&b, "log", "{\"a\":1}", 7);
    sl_sse_put_error(&b, SL_EUNAVAIL, "the server is shutting down");
    assert_buf(&b, "event: snapshot\ndata: {}\n\n"
                   ": keepalive\n\n"
                   "event: log\ndata: {\"a\":1}\n\n"
                   "event: error\ndata: {\"error_code\":\"ModelArts.4302\","
                   "\"error_msg\":\"the server is shutting down\"}\n\n");
    sl_buf_free(&b);
}

/* The error event: the JSON error body (escaped), the table's message for
 * a NULL or empty one, each code's ModelArts code. */
static void test_error_event(void **state)
{
    (void)state;
    struct sl_buf b;
    sl_buf_init(&b);
    sl_sse_put_error(&b, SL_ELAGGING, NULL);
    assert_buf(&b, "event: error\ndata: {\"error_code\":\"ModelArts.2799\","
                   "\"error_msg\":\"watcher fell behind\"}\n\n");
    sl_buf_free(&b);

    sl_buf_init(&b);
    sl_sse_put_error(&b, SL_ENOTFOUND, "");
    assert_buf(&b, "event: error\ndata: {\"error_code\":\"ModelArts.3502\","
                   "\"error_msg\":\"service not found\"}\n\n");
    sl_buf_free(&b);

    /* A message with a line break stays one data line (JSON escapes it). */
    sl_buf_init(&b);
    sl_sse_put_error(&b, SL_EINTERNAL, "a\nb\"c");
    assert_buf(&b, "event: error\ndata: {\"error_code\":\"ModelArts.0010\","
                   "\"error_msg\":\"a\\nb\\\"c\"}\n\n");
    sl_buf_free(&b);
}

static void test_keepalive(void **state)
{
    (void)state;
    struct sl_buf b;
    sl_buf_init(&b);
    sl_sse_put_keepalive(&b);
    assert_buf(&b, ": keepalive\n\n");
    sl_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_table), cmocka_unit_test(test_event_length),
        cmocka_unit_test(test_stream),      cmocka_unit_test(test_error_event),
        cmocka_unit_test(test_keepalive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
