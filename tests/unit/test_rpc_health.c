/* test_rpc_health.c -- the serving state: prober, draining, failing reads
 *
 * The read rule (rpc_health.h): one failure, or any number from one
 * service, leaves health SERVING; SL_HEALTH_READ_FAILS failures over
 * SL_HEALTH_READ_SERVICES services turn it NOT_SERVING until successes
 * push them out of the window. (Ageing out after SL_HEALTH_READ_TTL_MS is
 * not waited for here.)
 */
#include "sl_test.h"

#include <stdio.h>

#include "rpc_health.h"

static enum sl_serving status(struct sl_health *h)
{
    return sl_health_status(h, "", 0);
}

static void fail_reads(struct sl_health *h, const char *service, int n)
{
    for (int i = 0; i < n; i++)
        sl_health_read_error(h, "p", service, "test failure");
}

static void ok_reads(struct sl_health *h, int n)
{
    for (int i = 0; i < n; i++)
        sl_health_read_ok(h);
}

static void test_names_and_prober(void **state)
{
    (void)state;
    struct sl_health *h = sl_health_create();
    assert_int_equal(status(h), SL_SERVING);
    assert_int_equal(sl_health_status(h, "modelarts.v1.ServiceLogs", 24),
                     SL_SERVING);
    assert_int_equal(sl_health_status(h, "nope", 4), SL_SERVICE_UNKNOWN);
    sl_health_set_backend(h, false, "gone");
    assert_int_equal(status(h), SL_NOT_SERVING);
    assert_false(sl_health_backend_ok(h));
    sl_health_set_backend(h, true, NULL);
    assert_int_equal(status(h), SL_SERVING);
    sl_health_set_draining(h);
    assert_int_equal(status(h), SL_NOT_SERVING);
    sl_health_destroy(h);
}

static void test_one_failure_or_one_service(void **state)
{
    (void)state;
    struct sl_health *h = sl_health_create();
    fail_reads(h, "a", 1);
    assert_int_equal(status(h), SL_SERVING);
    /* a client retrying one bad service in a loop */
    fail_reads(h, "a", 50);
    assert_int_equal(status(h), SL_SERVING);
    /* and a second one */
    fail_reads(h, "b", 50);
    assert_int_equal(status(h), SL_SERVING);
    sl_health_destroy(h);
}

static void test_many_services_then_recovery(void **state)
{
    (void)state;
    struct sl_health *h = sl_health_create();
    ok_reads(h, 10);
    fail_reads(h, "a", 1);
    fail_reads(h, "b", 1);
    fail_reads(h, "c", 1);
    fail_reads(h, "a", 1);
    assert_int_equal(status(h), SL_SERVING); /* 4 failures */
    fail_reads(h, "b", 1);
    assert_int_equal(status(h), SL_NOT_SERVING); /* 5, over 3 services */
    /* reads are still served: only the prober's verdict refuses them */
    assert_true(sl_health_backend_ok(h));
    /* The prober answering does not clear failing reads. */
    sl_health_set_backend(h, true, NULL);
    assert_int_equal(status(h), SL_NOT_SERVING);

    /* Successes push the failures out of the window: a b c a b sit in
     * slots 10..14, so 85 successes fill it up to slot 99 and the next
     * ones overwrite them from slot 0: with a and b gone, c a b still
     * count (3 over 3 services); with c gone too, 2 do (fewer than
     * SL_HEALTH_READ_CLEAR): SERVING. */
    ok_reads(h, SL_HEALTH_READ_WINDOW - 15);
    assert_int_equal(status(h), SL_NOT_SERVING);
    ok_reads(h, 10 + 2);
    assert_int_equal(status(h), SL_NOT_SERVING);
    ok_reads(h, 1);
    assert_int_equal(status(h), SL_SERVING);

    /* Back to failing: the same rule again. */
    fail_reads(h, "x", 2);
    fail_reads(h, "y", 2);
    assert_int_equal(status(h), SL_SERVING);
    fail_reads(h, "z", 1);
    assert_int_equal(status(h), SL_NOT_SERVING);
    sl_health_destroy(h);
}

static void test_backend_down_and_reads(void **state)
{
    (void)state;
    struct sl_health *h = sl_health_create();
    fail_reads(h, "a", 2);
    fail_reads(h, "b", 2);
    fail_reads(h, "c", 2);
    sl_health_set_backend(h, false, "gone");
    assert_int_equal(status(h), SL_NOT_SERVING);
    sl_health_set_backend(h, true, NULL);
    assert_int_equal(status(h), SL_NOT_SERVING); /* reads still failing */
    ok_reads(h, SL_HEALTH_READ_WINDOW);
    assert_int_equal(status(h), SL_SERVING);
    sl_health_destroy(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_prober),
        cmocka_unit_test(test_one_failure_or_one_service),
        cmocka_unit_test(test_many_services_then_recovery),
        cmocka_unit_test(test_backend_down_and_reads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
