/* test_store_pool.c -- the shared connection pool (store_pool.h), on the
 * memory backend
 *
 * What it holds the pool to: a handle answers as a connection does; the
 * pool never lends more connections than it has, however many threads
 * call; a call that finds none idle waits for one given back, and one
 * whose deadline passes first fails SL_EUNAVAIL naming --pg-pool-size
 * without reaching the backend; import sessions and wait_changes keep
 * their connection (pinning), and closing a handle gives it back (an open
 * import session rolled back).
 */
#include "sl_test.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "modelarts/v1/service_logs.pb-c.h"
#include "store.h"
#include "store_pool.h"

#define P "p1"

static struct sl_log_query query(const char *service, int64_t deadline_us)
{
    return (struct sl_log_query){
        .project_id = P, .service_id = service, .deadline_us = deadline_us};
}

static void test_handle_answers(void **state)
{
    (void)state;
    struct sl_err err;
    struct sl_store_pool *p = NULL;
    struct sl_store *a = NULL, *b = NULL;
    struct sl_store_options o = {0};
    assert_sl_ok(sl_store_pool_open("memory:", NULL, 2, &p, &err), &err);
    o.pool = p;
    assert_sl_ok(sl_store_open_with("memory:", &o, &a, &err), &err);
    assert_sl_ok(sl_store_pool_handle(p, &b, &err), &err);
    struct sl_service_put put = {P, "svc", "name",
                                 MODELARTS__V1__INFER_TYPE__REAL_TIME};
    bool created = false;
    assert_sl_ok(sl_store_put_service(a, &put, &created, &err), &err);
    assert_true(created);
    struct sl_log_page page;
    struct sl_log_query q = query("svc", 0);
    assert_sl_ok(sl_store_query_logs(b, &q, &page, &err), &err);
    assert_string_equal(page.service_name, "name");
    sl_log_page_free(&page);
    q = query("nope", 0);
    assert_sl_err(sl_store_query_logs(b, &q, &page, &err), SL_ENOTFOUND, &err);
    size_t n = 0;
    assert_sl_ok(sl_store_count_services(a, &n, &err), &err);
    assert_int_equal(n, 1);
    assert_sl_ok(sl_store_ping(b, &err), &err);
    struct sl_store_pool_stats s;
    sl_store_pool_stats(p, &s);
    assert_int_equal(s.size, 2);
    assert_int_equal(s.busy, 0);
    assert_int_equal(s.borrows, 5);
    sl_store_close(a);
    sl_store_close(b);
    sl_store_pool_close(p);
}

/* Both connections pinned (the feed's wait, an import session): a query
 * fails at its deadline, without the backend; giving one back serves it. */
static void test_exhausted(void **state)
{
    (void)state;
    struct sl_err err;
    struct sl_store_pool *p = NULL;
    struct sl_store *w = NULL, *imp = NULL, *c = NULL;
    assert_sl_ok(sl_store_pool_open("memory:", NULL, 2, &p, &err), &err);
    assert_sl_ok(sl_store_pool_handle(p, &w, &err), &err);
    assert_sl_ok(sl_store_pool_handle(p, &imp, &err), &err);
    assert_sl_ok(sl_store_pool_handle(p, &c, &err), &err);
    assert_sl_ok(sl_store_wait_changes(w, 1, &err), &err);
    assert_sl_ok(sl_store_import_begin(imp, &err), &err);
    struct sl_store_pool_stats s;
    sl_store_pool_stats(p, &s);
    assert_int_equal(s.busy, 2);

    struct sl_log_page page;
    int64_t t0 = sl_clock_us();
    struct sl_log_query q = query("svc", t0 + 50000);
    assert_sl_err(sl_store_query_logs(c, &q, &page, &err), SL_EUNAVAIL, &err);
    assert_true(sl_clock_us() - t0 >= 45000);
    assert_non_null(strstr(err.msg, "--pg-pool-size"));
    assert_non_null(strstr(err.msg, "all 2 backend connections"));
    assert_int_equal(page.n_logs, 0);
    sl_store_pool_stats(p, &s);
    assert_int_equal(s.exhausted, 1);

    /* the wait_changes pin lasts: a second wait takes nothing more */
    assert_sl_ok(sl_store_wait_changes(w, 1, &err), &err);
    assert_sl_ok(sl_store_import_end(imp, false, &err), &err);
    sl_store_pool_stats(p, &s);
    assert_int_equal(s.busy, 1);
    q = query("svc", sl_clock_us() + 50000);
    assert_sl_err(sl_store_query_logs(c, &q, &page, &err), SL_ENOTFOUND, &err);
    sl_store_close(w);
    sl_store_close(imp);
    sl_store_close(c);
    sl_store_pool_stats(p, &s);
    assert_int_equal(s.busy, 0);
    sl_store_pool_close(p);
}

struct ender {
    struct sl_store *imp;
    int rc;
};

static void *end_later(void *arg)
{
    struct ender *e = arg;
    struct sl_err err;
    struct timespec ts = {0, 50 * 1000000L};
    nanosleep(&ts, NULL);
    e->rc = sl_store_import_end(e->imp, false, &err);
    return NULL;
}

/* A query that finds no idle connection gets the one given back. */
static void test_waits_for_give_back(void **state)
{
    (void)state;
    struct sl_err err;
    struct sl_store_pool *p = NULL;
    struct ender e = {0};
    struct sl_store *c = NULL;
    assert_sl_ok(sl_store_pool_open("memory:", NULL, 1, &p, &err), &err);
    assert_sl_ok(sl_store_pool_handle(p, &e.imp, &err), &err);
    assert_sl_ok(sl_store_pool_handle(p, &c, &err), &err);
    assert_sl_ok(sl_store_import_begin(e.imp, &err), &err);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, end_later, &e), 0);
    int64_t t0 = sl_clock_us();
    struct sl_log_page page;
    struct sl_log_query q = query("svc", t0 + 5000000);
    assert_sl_err(sl_store_query_logs(c, &q, &page, &err), SL_ENOTFOUND, &err);
    assert_true(sl_clock_us() - t0 >= 40000);
    pthread_join(t, NULL);
    assert_int_equal(e.rc, SL_OK);
    struct sl_store_pool_stats s;
    sl_store_pool_stats(p, &s);
    assert_int_equal(s.waits, 1);
    assert_int_equal(s.exhausted, 0);
    sl_store_close(e.imp);
    sl_store_close(c);
    sl_store_pool_close(p);
}

#define THREADS 8
#define CALLS 400

struct hammer {
    struct sl_store *h;
    int failures;
};

static void *hammer_main(void *arg)
{
    struct hammer *hm = arg;
    struct sl_err err;
    for (int i = 0; i < CALLS; i++) {
        struct sl_log_page page;
        struct sl_log_query q = query("svc", sl_clock_us() + 10000000);
        int rc = sl_store_query_logs(hm->h, &q, &page, &err);
        if (rc != SL_OK)
            hm->failures++;
        else
            sl_log_page_free(&page);
    }
    return NULL;
}

/* Eight threads, two connections: every call answered, never more than
 * two lent at once. */
static void test_bounded_under_threads(void **state)
{
    (void)state;
    struct sl_err err;
    struct sl_store_pool *p = NULL;
    struct hammer hm[THREADS] = {{0}};
    pthread_t t[THREADS];
    assert_sl_ok(sl_store_pool_open("memory:", NULL, 2, &p, &err), &err);
    struct sl_store *w = NULL;
    assert_sl_ok(sl_store_pool_handle(p, &w, &err), &err);
    struct sl_service_put put = {P, "svc", "name",
                                 MODELARTS__V1__INFER_TYPE__REAL_TIME};
    bool created;
    assert_sl_ok(sl_store_put_service(w, &put, &created, &err), &err);
    for (int i = 0; i < THREADS; i++) {
        assert_sl_ok(sl_store_pool_handle(p, &hm[i].h, &err), &err);
        assert_int_equal(pthread_create(&t[i], NULL, hammer_main, &hm[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(hm[i].failures, 0);
        sl_store_close(hm[i].h);
    }
    struct sl_store_pool_stats s;
    sl_store_pool_stats(p, &s);
    assert_int_equal(s.borrows, 1 + THREADS * CALLS);
    assert_true(s.busy_max <= 2);
    assert_int_equal(s.busy, 0);
    assert_int_equal(s.exhausted, 0);
    sl_store_close(w);
    sl_store_pool_close(p);
}

/* Closing a handle mid-import rolls the session back and frees its
 * connection. */
static void test_close_rolls_back(void **state)
{
    (void)state;
    struct sl_err err;
    struct sl_store_pool *p = NULL;
    struct sl_store *imp = NULL, *c = NULL;
    assert_sl_ok(sl_store_pool_open("memory:", NULL, 2, &p, &err), &err);
    assert_sl_ok(sl_store_pool_handle(p, &imp, &err), &err);
    assert_sl_ok(sl_store_pool_handle(p, &c, &err), &err);
    assert_sl_ok(sl_store_import_begin(imp, &err), &err);
    struct sl_import_service svc = {
        P, "svc", "name", MODELARTS__V1__INFER_TYPE__REAL_TIME, 0, NULL};
    assert_sl_ok(sl_store_import_add(imp, &svc, 1, &err), &err);
    sl_store_close(imp);
    struct sl_store_pool_stats s;
    sl_store_pool_stats(p, &s);
    assert_int_equal(s.busy, 0);
    size_t n = 9;
    assert_sl_ok(sl_store_count_services(c, &n, &err), &err);
    assert_int_equal(n, 0);
    /* no session: add and a committing end are refused, not forwarded */
    assert_sl_err(sl_store_import_add(c, &svc, 1, &err), SL_EINTERNAL, &err);
    assert_sl_err(sl_store_import_end(c, true, &err), SL_EINTERNAL, &err);
    assert_sl_ok(sl_store_import_end(c, false, &err), &err);
    sl_store_close(c);
    sl_store_pool_close(p);
}

static void test_open_fails_cleanly(void **state)
{
    (void)state;
    struct sl_err err;
    struct sl_store_pool *p = (struct sl_store_pool *)&err;
    assert_sl_err(sl_store_pool_open("nope:", NULL, 3, &p, &err), SL_EINVAL,
                  &err);
    assert_null(p);
    assert_sl_err(sl_store_pool_open("memory:", NULL, 0, &p, &err), SL_EINVAL,
                  &err);
    assert_null(p);
    sl_store_pool_close(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handle_answers),
        cmocka_unit_test(test_exhausted),
        cmocka_unit_test(test_waits_for_give_back),
        cmocka_unit_test(test_bounded_under_threads),
        cmocka_unit_test(test_close_rolls_back),
        cmocka_unit_test(test_open_fails_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
