/* test_procstat.c -- the process_* metrics (procstat.h)
 *
 * The parsers against fixed /proc texts (a process name with spaces and
 * parentheses, truncated lines), then this process's own figures and the
 * rendered families.
 */
#include "sl_test.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "procstat.h"

/* utime 250, stime 150, starttime 12345, vsize 104857600, rss 2560 */
static const char stat_line[] =
    "4242 (a) (b c)) S 1 4242 4242 0 -1 4194560 1200 0 3 0 250 150 0 0 20 "
    "0 9 0 12345 104857600 2560 18446744073709551615 1 1 0 0 0 0 0 4096 "
    "17920 0 0 0 17 1 0 0 0 0 0\n";

static void test_parse_stat(void **state)
{
    (void)state;
    struct sl_procstat ps;
    memset(&ps, 0, sizeof(ps));
    assert_int_equal(
        sl_procstat_parse_stat(stat_line, 100, 4096, 1700000000.0, &ps), 0);
    assert_true(ps.have_stat);
    assert_true(ps.cpu_seconds > 3.999 && ps.cpu_seconds < 4.001);
    assert_int_equal(ps.vm_bytes, 104857600);
    assert_int_equal(ps.rss_bytes, 2560 * 4096);
    assert_true(ps.start_time > 1700000123.449 &&
                ps.start_time < 1700000123.451);
}

static void test_parse_bad(void **state)
{
    (void)state;
    struct sl_procstat ps;
    memset(&ps, 0, sizeof(ps));
    static const char *const bad[] = {
        "",
        "4242 no parenthesis S 1",
        "4242 (x) S 1 2 3", /* cut short */
        "4242 (x) S 1 4242 4242 0 -1 4194560 1200 0 3 0 x 150 0 0 20 0 9 0 "
        "12345 104857600 2560\n", /* not a number */
        "4242 (x) SS 1 4242 4242 0 -1 4194560 1200 0 3 0 250 150 0 0 20 0 9 "
        "0 12345 104857600 2560\n", /* not a state */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(sl_procstat_parse_stat(bad[i], 100, 4096, 0, &ps), -1);
    assert_int_equal(sl_procstat_parse_stat(NULL, 100, 4096, 0, &ps), -1);
    assert_int_equal(sl_procstat_parse_stat(stat_line, 0, 4096, 0, &ps), -1);
    assert_false(ps.have_stat);

    double bt = 0;
    assert_int_equal(sl_procstat_parse_btime("cpu  1 2 3\nintr 5\nbtime "
                                             "1700000000\nprocesses 9\n",
                                             &bt),
                     0);
    assert_true(bt == 1700000000.0);
    assert_int_equal(sl_procstat_parse_btime("cpu 1\nbtimex 3\n", &bt), -1);
    assert_int_equal(sl_procstat_parse_btime("btime x\n", &bt), -1);
}

/* This process: sane figures (it started before now and after boot,
 * holds stdin/stdout/stderr, has resident memory). */
static void test_read_self(void **state)
{
    (void)state;
    struct sl_procstat ps;
    sl_procstat_read(&ps);
    assert_true(ps.have_stat);
    double now = (double)time(NULL);
    assert_true(ps.start_time <= now + 1 && ps.start_time > now - 3600);
    assert_true(ps.rss_bytes > 0 && ps.rss_bytes <= ps.vm_bytes);
    assert_true(ps.cpu_seconds >= 0);
    assert_true(ps.open_fds >= 3);
    assert_true(ps.max_fds >= ps.open_fds);
}

static void test_render(void **state)
{
    (void)state;
    struct sl_buf b;
    sl_buf_init(&b);
    sl_procstat_render(&b);
    assert_false(b.oom);
    sl_buf_putc(&b, '\0');
    static const char *const want[] = {
        "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total ",
        "# TYPE process_virtual_memory_bytes gauge\n"
        "process_virtual_memory_bytes ",
        "# TYPE process_resident_memory_bytes gauge\n"
        "process_resident_memory_bytes ",
        "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds ",
        "# TYPE process_open_fds gauge\nprocess_open_fds ",
        "# TYPE process_max_fds gauge\nprocess_max_fds ",
        "# HELP process_cpu_seconds_total Total user and system CPU time "
        "spent in seconds.\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (!strstr(b.data, want[i]))
            fail_msg("lacks [%s] in:\n%s", want[i], b.data);
    sl_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_stat),
        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_read_self),
        cmocka_unit_test(test_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
