/* test_metrics.c -- the Prometheus exposition after known calls
 *
 * Each test starts from sl_metrics_reset(), records known calls and
 * checks exact lines of sl_metrics_render(): counters by label,
 * histogram buckets cumulative with le inclusive, sums exact. That the
 * whole output parses as the text format is checked by a real parser in
 * tests/integration/test_observability.sh.
 */
#include "sl_test.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "methods.h"
#include "metrics.h"

#define QL "/modelarts.v1.ServiceLogs/QueryServiceLogs"
#define LOGS_ROUTE "/v1/{project_id}/services/{service_id}/logs"

/* Renders into a NUL-terminated heap string; the caller frees it. */
static char *render(void)
{
    struct sl_buf b;
    sl_buf_init(&b);
    sl_metrics_render(&b);
    sl_buf_putc(&b, '\0');
    assert_false(b.oom);
    return b.data;
}

/* Fails unless text has line as one whole line. */
static void assert_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return;
    fail_msg("no line [%s] in:\n%s", line, text);
}

/* Fails if any line of text starts with prefix. */
static void assert_no_line_prefix(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *p = text; *p;) {
        if (strncmp(p, prefix, n) == 0)
            fail_msg("unexpected line starting [%s]", prefix);
        const char *nl = strchr(p, '\n');
        if (!nl)
            break;
        p = nl + 1;
    }
}

/* The row of the handler table with this path: the metrics' index. */
static unsigned row(const char *path)
{
    for (size_t i = 0; i < sl_methods_count; i++)
        if (sl_methods[i]->path && strcmp(sl_methods[i]->path, path) == 0)
            return (unsigned)i;
    fail_msg("no method %s in the handler table", path);
    return 0;
}

#define M_QUERY_LOGS row(QL)
#define M_HEALTH_CHECK row("/grpc.health.v1.Health/Check")
#define M_HEALTH_WATCH row("/grpc.health.v1.Health/Watch")

/* The metrics are labelled as main() labels them: by the table's rows. */
static int setup(void **state)
{
    (void)state;
    const char *labels[SL_METHODS_MAX];
    for (size_t i = 0; i < sl_methods_count; i++)
        labels[i] = sl_method_label(i);
    sl_metrics_set_methods(labels, sl_methods_count);
    sl_metrics_reset();
    return 0;
}

static void test_grpc_counter(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++)
        sl_metrics_grpc_start(M_QUERY_LOGS);
    sl_metrics_grpc_start(M_HEALTH_WATCH);
    sl_metrics_grpc_done(M_QUERY_LOGS, 0, 10);
    sl_metrics_grpc_done(M_QUERY_LOGS, 0, 10);
    sl_metrics_grpc_done(M_QUERY_LOGS, 5, 10);

    char *t = render();
    assert_line(t, "# TYPE servicelogs_grpc_calls_total counter");
    assert_line(t, "servicelogs_grpc_calls_total{method=\"" QL
                   "\",code=\"OK\"} 2");
    assert_line(t, "servicelogs_grpc_calls_total{method=\"" QL
                   "\",code=\"NOT_FOUND\"} 1");
    /* Series appear once non-zero. */
    assert_no_line_prefix(t, "servicelogs_grpc_calls_total{method=\"" QL
                             "\",code=\"CANCELLED\"}");
    assert_line(t, "# TYPE servicelogs_grpc_calls_in_flight gauge");
    assert_line(t, "servicelogs_grpc_calls_in_flight{method=\"" QL "\"} 0");
    assert_line(t, "servicelogs_grpc_calls_in_flight{method=\""
                   "/grpc.health.v1.Health/Watch\"} 1");
    assert_line(t, "servicelogs_grpc_calls_in_flight{method=\"unknown\"} 0");
    /* Plain counters are written from the start, at zero after a reset. */
    assert_line(t, "servicelogs_backend_corrupt_total 0");
    free(t);
}

static void test_grpc_histogram(void **state)
{
    (void)state;
    /* 50 us is on the first bound (le is inclusive); 20 s above all. */
    const uint64_t us[] = {30, 50, 51, 2000, 20000000};
    for (size_t i = 0; i < 5; i++) {
        sl_metrics_grpc_start(M_QUERY_LOGS);
        sl_metrics_grpc_done(M_QUERY_LOGS, 0, us[i]);
    }

    char *t = render();
    const char *h = "servicelogs_grpc_call_duration_seconds";
    char line[256];
    const struct {
        const char *le;
        int count;
    } want[] = {
        {"5e-05", 2}, {"0.0001", 3}, {"0.00025", 3}, {"0.0005", 3},
        {"0.001", 3}, {"0.0025", 4}, {"0.005", 4},   {"0.01", 4},
        {"0.025", 4}, {"0.05", 4},   {"0.1", 4},     {"0.25", 4},
        {"0.5", 4},   {"1", 4},      {"2.5", 4},     {"5", 4},
        {"10", 4},    {"+Inf", 5},
    };
    snprintf(line, sizeof(line), "# TYPE %s histogram", h);
    assert_line(t, line);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        snprintf(line, sizeof(line),
                 "%s_bucket{method=\"" QL "\",le=\"%s\"} %d", h, want[i].le,
                 want[i].count);
        assert_line(t, line);
    }
    snprintf(line, sizeof(line), "%s_sum{method=\"" QL "\"} 20.002131", h);
    assert_line(t, line);
    snprintf(line, sizeof(line), "%s_count{method=\"" QL "\"} 5", h);
    assert_line(t, line);
    /* Other methods: present, empty. */
    snprintf(line, sizeof(line),
             "%s_count{method=\"/grpc.health.v1.Health/Check\"} 0", h);
    assert_line(t, line);
    snprintf(line, sizeof(line),
             "%s_sum{method=\"/grpc.health.v1.Health/Check\"} 0.000000", h);
    assert_line(t, line);
    free(t);
}

static void test_out_of_range(void **state)
{
    (void)state;
    sl_metrics_grpc_start(99u);
    sl_metrics_grpc_done(99u, 42, 1);
    sl_metrics_grpc_start(M_QUERY_LOGS);
    sl_metrics_grpc_done(M_QUERY_LOGS, -1, 1);
    sl_metrics_http_start();
    sl_metrics_http_done((enum sl_http_route)7, 0, 1);
    sl_metrics_http_start();
    sl_metrics_http_done(SL_HTTP_ROUTE_OTHER, 1000, 1);

    char *t = render();
    assert_line(t, "servicelogs_grpc_calls_total{method=\"unknown\","
                   "code=\"UNKNOWN\"} 1");
    assert_line(t, "servicelogs_grpc_calls_total{method=\"" QL
                   "\",code=\"UNKNOWN\"} 1");
    assert_line(t, "servicelogs_http_requests_total{route=\"other\","
                   "code=\"0\"} 2");
    assert_line(t, "servicelogs_grpc_calls_in_flight{method=\"unknown\"} 0");
    free(t);

    assert_string_equal(sl_method_label(M_QUERY_LOGS), QL);
    assert_string_equal(sl_method_label((size_t)-1), "unknown");
    assert_string_equal(sl_grpc_code_name(0), "OK");
    assert_string_equal(sl_grpc_code_name(16), "UNAUTHENTICATED");
    assert_string_equal(sl_grpc_code_name(17), "UNKNOWN");
}

static void test_http_and_the_rest(void **state)
{
    (void)state;
    sl_metrics_http_start();
    sl_metrics_http_start();
    sl_metrics_http_start();
    sl_metrics_http_done(SL_HTTP_ROUTE_LOGS, 200, 120);
    sl_metrics_http_done(SL_HTTP_ROUTE_LOGS, 404, 80);
    sl_metrics_backend_error();
    sl_metrics_backend_error();
    sl_metrics_backend_corrupt();
    sl_metrics_http_header_timeout();
    sl_metrics_grpc_conn_aborted();
    sl_metrics_grpc_conn_aborted();

    char *t = render();
    assert_line(t, "# TYPE servicelogs_http_requests_total counter");
    assert_line(t, "servicelogs_http_requests_total{route=\"" LOGS_ROUTE
                   "\",code=\"200\"} 1");
    assert_line(t, "servicelogs_http_requests_total{route=\"" LOGS_ROUTE
                   "\",code=\"404\"} 1");
    assert_line(
        t,
        "servicelogs_http_request_duration_seconds_bucket{route=\"" LOGS_ROUTE
        "\",le=\"0.0001\"} 1");
    assert_line(
        t,
        "servicelogs_http_request_duration_seconds_bucket{route=\"" LOGS_ROUTE
        "\",le=\"0.00025\"} 2");
    assert_line(
        t, "servicelogs_http_request_duration_seconds_sum{route=\"" LOGS_ROUTE
           "\"} 0.000200");
    assert_line(t, "servicelogs_http_request_duration_seconds_count{route="
                   "\"/metrics\"} 0");
    assert_line(t, "# TYPE servicelogs_http_requests_in_flight gauge");
    assert_line(t, "servicelogs_http_requests_in_flight 1");
    assert_line(t, "# TYPE servicelogs_http_header_timeouts_total counter");
    assert_line(t, "servicelogs_http_header_timeouts_total 1");
    assert_line(t, "# TYPE servicelogs_grpc_connections_aborted_total counter");
    assert_line(t, "servicelogs_grpc_connections_aborted_total 2");
    assert_line(t, "# TYPE servicelogs_backend_errors_total counter");
    assert_line(t, "servicelogs_backend_errors_total 2");
    assert_line(t, "# TYPE servicelogs_backend_corrupt_total counter");
    assert_line(t, "servicelogs_backend_corrupt_total 1");
    assert_line(t, "# TYPE servicelogs_build_info gauge");
    assert_non_null(strstr(t, "\nservicelogs_build_info{version=\""));
    assert_non_null(strstr(t, "\"} 1\n# HELP process_"));
    assert_line(t, "# TYPE process_start_time_seconds gauge");
    assert_line(t, "# TYPE process_cpu_seconds_total counter");
    assert_line(t, "# TYPE process_resident_memory_bytes gauge");
    assert_line(t, "# TYPE process_virtual_memory_bytes gauge");
    assert_line(t, "# TYPE process_open_fds gauge");
    assert_line(t, "# TYPE process_max_fds gauge");
    free(t);
}

/* Every sample belongs to the family of the # TYPE line before it, every
 * family has # HELP then # TYPE, and the text ends with a newline. */
static void test_structure(void **state)
{
    (void)state;
    sl_metrics_grpc_start(M_HEALTH_CHECK);
    sl_metrics_grpc_done(M_HEALTH_CHECK, 0, 3);
    sl_metrics_http_start();
    sl_metrics_http_done(SL_HTTP_ROUTE_HEALTHZ, 503, 3);

    char *t = render();
    char family[128] = "";
    char help[128] = "";
    int families = 0;
    size_t len = strlen(t);
    assert_true(len > 0 && t[len - 1] == '\n');
    for (char *p = t; *p;) {
        char *nl = strchr(p, '\n');
        assert_non_null(nl);
        *nl = '\0';
        if (strncmp(p, "# HELP ", 7) == 0) {
            assert_true(sscanf(p + 7, "%127s", help) == 1);
        } else if (strncmp(p, "# TYPE ", 7) == 0) {
            char type[32];
            assert_true(sscanf(p + 7, "%127s %31s", family, type) == 2);
            assert_string_equal(family, help);
            families++;
        } else {
            size_t n = strlen(family);
            assert_true(n > 0);
            if (strncmp(p, family, n) != 0)
                fail_msg("sample [%s] outside its family %s", p, family);
            const char *rest = p + n;
            if (strncmp(rest, "_bucket", 7) == 0)
                rest += 7;
            else if (strncmp(rest, "_sum", 4) == 0)
                rest += 4;
            else if (strncmp(rest, "_count", 6) == 0)
                rest += 6;
            assert_true(*rest == '{' || *rest == ' ');
        }
        p = nl + 1;
    }
    assert_int_equal(families, 23); /* 11, six process_*, six of the cache */
    free(t);
}

#define THREADS 4
#define PER_THREAD 20000

static void *hammer(void *arg)
{
    (void)arg;
    for (int i = 0; i < PER_THREAD; i++) {
        sl_metrics_grpc_start(M_QUERY_LOGS);
        sl_metrics_grpc_done(M_QUERY_LOGS, 0, 100);
        sl_metrics_http_start();
        sl_metrics_http_done(SL_HTTP_ROUTE_LOGS, 200, 100);
    }
    return NULL;
}

/* Concurrent updates lose nothing. */
static void test_threads(void **state)
{
    (void)state;
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, hammer, NULL), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);

    char *t = render();
    char line[256];
    snprintf(line, sizeof(line),
             "servicelogs_grpc_calls_total{method=\"" QL "\",code=\"OK\"} %d",
             THREADS * PER_THREAD);
    assert_line(t, line);
    snprintf(line, sizeof(line),
             "servicelogs_grpc_call_duration_seconds_sum{method=\"" QL
             "\"} %d.%06d",
             THREADS * PER_THREAD * 100 / 1000000,
             THREADS * PER_THREAD * 100 % 1000000);
    assert_line(t, line);
    snprintf(line, sizeof(line),
             "servicelogs_http_requests_total{route=\"" LOGS_ROUTE
             "\",code=\"200\"} %d",
             THREADS * PER_THREAD);
    assert_line(t, line);
    assert_line(t, "servicelogs_grpc_calls_in_flight{method=\"" QL "\"} 0");
    assert_line(t, "servicelogs_http_requests_in_flight 0");
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_grpc_counter, setup),
        cmocka_unit_test_setup(test_grpc_histogram, setup),
        cmocka_unit_test_setup(test_out_of_range, setup),
        cmocka_unit_test_setup(test_http_and_the_rest, setup),
        cmocka_unit_test_setup(test_structure, setup),
        cmocka_unit_test_setup(test_threads, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
