/* test_feed.c -- the change feed's fan-out, on the memory backend
 *
 * Watchers here are bare struct sl_call objects whose handler's kick()
 * only counts: the tests write through a store connection of their own
 * and look at what the feed queued, with no gRPC call involved. What they
 * hold the feed to: each change after a watcher's snapshot exactly once,
 * in commit order, nothing at or before it; the filters; and every way a
 * watcher is ended (full queue, replaced service, drain) plus the limit.
 */
#include "sl_test.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "call.h"
#include "clock.h"
#include "feed.h"
#include "methods.h"
#include "modelarts/v1/service_logs.pb-c.h"
#include "store.h"
#include "wire.h"

#define P "p1"
#define S "svc"

static int kicks;
static void count_kick(struct sl_call *c)
{
    (void)c;
    kicks++; /* under the feed lock */
}
static const struct sl_handler fake = {.path = "/t", .kick = count_kick};

/* The feed's kick (feed.h): the call's handler's, as the watch's. */
static void kick_call(void *arg)
{
    struct sl_call *c = arg;
    c->handler->kick(c);
}

struct fixture {
    struct sl_feed *feed;
    struct sl_store *st; /* the writer's */
};

static int put(struct sl_store *st, const char *svc, int infer)
{
    struct sl_err err;
    bool created;
    struct sl_service_put p = {P, svc, "name", infer};
    return sl_store_put_service(st, &p, &created, &err);
}

static int record(struct sl_store *st, const char *svc, int64_t t, int result)
{
    Modelarts__V1__ServiceLog log = MODELARTS__V1__SERVICE_LOG__INIT;
    log.update_time = t;
    log.result = result;
    uint8_t buf[64];
    size_t n = modelarts__v1__service_log__pack(&log, buf);
    struct sl_import_log l = {t, {buf, n}};
    struct sl_err err;
    bool created;
    int64_t seq;
    int rc = sl_store_record_log(st, P, svc, &l, &created, &seq, &err);
    if (rc != SL_OK)
        fail_msg("record %lld: %s", (long long)t, err.msg);
    return (int)seq;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct sl_err err;
    if (sl_store_open("memory:", &f->st, &err) != SL_OK)
        return -1;
    if (put(f->st, S, MODELARTS__V1__INFER_TYPE__REAL_TIME) != SL_OK ||
        put(f->st, "other", MODELARTS__V1__INFER_TYPE__REAL_TIME) != SL_OK)
        return -1;
    struct sl_feed_config cfg = {
        .backend = "memory:", .max_watchers = 3, .queue_max = 4};
    if (sl_feed_start(&cfg, &f->feed, &err) != SL_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sl_feed_stop(f->feed);
    sl_store_close(f->st);
    free(f);
    return 0;
}

struct watcher {
    struct sl_call call;
    struct sl_feed_watch w;
};

static void watch(struct fixture *f, struct watcher *x, const char *svc,
                  int64_t update_time, int64_t since)
{
    memset(x, 0, sizeof(*x));
    x->call.handler = &fake;
    struct sl_err err;
    assert_sl_ok(sl_feed_add(f->feed, &x->w, kick_call, &x->call, P, svc,
                             update_time, &err),
                 &err);
    if (since >= 0) {
        sl_feed_lock(f->feed);
        sl_feed_ready(f->feed, &x->w, since);
        sl_feed_unlock(f->feed);
    }
}

/* Waits (2 s at most) until x has n messages queued or has ended. */
static void await(struct fixture *f, struct watcher *x, size_t n)
{
    int64_t end = sl_clock_ms() + 2000;
    for (;;) {
        sl_feed_lock(f->feed);
        bool done = x->w.q_len >= n || x->w.end_rc != SL_OK;
        sl_feed_unlock(f->feed);
        if (done || sl_clock_ms() > end)
            return;
        nanosleep(&(struct timespec){0, 2000000}, NULL);
    }
}

/* The update_times of what x has queued, popped, as "t:result ...". */
static void drain_into(struct fixture *f, struct watcher *x, char *out,
                       size_t size)
{
    out[0] = '\0';
    sl_feed_lock(f->feed);
    grpc_slice m;
    while (sl_feed_pop(&x->w, &m)) {
        Modelarts__V1__WatchServiceLogsResponse *r =
            modelarts__v1__watch_service_logs_response__unpack(
                NULL, GRPC_SLICE_LENGTH(m), GRPC_SLICE_START_PTR(m));
        assert_non_null(r);
        assert_non_null(r->log);
        assert_null(r->snapshot);
        size_t o = strlen(out);
        snprintf(out + o, size - o, "%s%lld:%d", o ? " " : "",
                 (long long)r->log->update_time, r->log->result);
        modelarts__v1__watch_service_logs_response__free_unpacked(r, NULL);
        grpc_slice_unref(m);
    }
    sl_feed_unlock(f->feed);
}

static void remove_watch(struct fixture *f, struct watcher *x)
{
    sl_feed_lock(f->feed);
    sl_feed_remove(f->feed, &x->w);
    sl_feed_unlock(f->feed);
}

/* Changes after the snapshot, once each, in commit order; a replacement
 * of the same time comes as its own message. */
static void test_order_and_gap(void **state)
{
    struct fixture *f = *state;
    struct watcher a, b;
    watch(f, &a, S, 0, -1); /* snapshot not read yet: queues everything */
    int s1 = record(f->st, S, 10, 3);
    record(f->st, "other", 11, 1); /* another service: not a's */
    int s2 = record(f->st, S, 10, 1);
    await(f, &a, 2);
    /* b's snapshot, read after a was fed s1 and s2, holds both. */
    watch(f, &b, S, 0, s2);
    int s3 = record(f->st, S, 20, 2);
    await(f, &a, 3);
    await(f, &b, 1);
    assert_true(s1 < s2 && s2 < s3);
    /* a's snapshot turns out to hold s1 too: it is dropped, not sent. */
    sl_feed_lock(f->feed);
    sl_feed_ready(f->feed, &a.w, s1);
    sl_feed_unlock(f->feed);
    char got[256];
    drain_into(f, &a, got, sizeof(got));
    assert_string_equal(got, "10:1 20:2");
    drain_into(f, &b, got, sizeof(got));
    assert_string_equal(got, "20:2");
    assert_true(kicks > 0);
    remove_watch(f, &a);
    remove_watch(f, &b);
}

static void test_filter(void **state)
{
    struct fixture *f = *state;
    struct watcher a;
    watch(f, &a, S, 30, 0);
    record(f->st, S, 31, 1);
    record(f->st, S, 30, 2);
    await(f, &a, 1);
    char got[256];
    drain_into(f, &a, got, sizeof(got));
    assert_string_equal(got, "30:2");
    remove_watch(f, &a);
}

/* --watch-queue (4 here): the fifth unread change ends the watcher. */
static void test_slow_watcher(void **state)
{
    struct fixture *f = *state;
    struct watcher a;
    watch(f, &a, S, 0, 0);
    for (int i = 0; i < 5; i++)
        record(f->st, S, 100 + i, 1);
    await(f, &a, 5);
    sl_feed_lock(f->feed);
    assert_int_equal(a.w.end_rc, SL_ELAGGING);
    assert_int_equal(a.w.q_len, 0); /* dropped: nothing more is sent */
    assert_non_null(strstr(a.w.end_msg, "--watch-queue"));
    sl_feed_unlock(f->feed);
    remove_watch(f, &a);
}

/* An import replacing the service ends its watchers, not others'. */
static void test_replaced(void **state)
{
    struct fixture *f = *state;
    struct watcher a, b;
    watch(f, &a, S, 0, 0);
    watch(f, &b, "other", 0, 0);
    struct sl_import_service svc = {P, S, "name", 1, 0, NULL};
    struct sl_err err;
    assert_sl_ok(sl_store_import(f->st, &svc, 1, &err), &err);
    await(f, &a, 1);
    sl_feed_lock(f->feed);
    assert_int_equal(a.w.end_rc, SL_EREPLACED);
    assert_int_equal(b.w.end_rc, SL_OK);
    sl_feed_unlock(f->feed);
    remove_watch(f, &a);
    remove_watch(f, &b);
}

/* A rename (PutService) ends the service's watchers too: their snapshot
 * holds the old name. A put that changes nothing ends nobody. */
static void test_renamed(void **state)
{
    struct fixture *f = *state;
    struct watcher a, b;
    watch(f, &a, S, 0, 0);
    watch(f, &b, "other", 0, 0);
    struct sl_err err;
    bool created;
    struct sl_service_put same = {P, "other", "name", 1};
    assert_sl_ok(sl_store_put_service(f->st, &same, &created, &err), &err);
    struct sl_service_put p = {P, S, "renamed", 1};
    assert_sl_ok(sl_store_put_service(f->st, &p, &created, &err), &err);
    await(f, &a, 1);
    record(f->st, "other", 300, 1); /* b sees this, not an end */
    await(f, &b, 1);
    sl_feed_lock(f->feed);
    assert_int_equal(a.w.end_rc, SL_EREPLACED);
    assert_int_equal(b.w.end_rc, SL_OK);
    assert_int_equal(b.w.q_len, 1);
    sl_feed_unlock(f->feed);
    remove_watch(f, &a);
    remove_watch(f, &b);
}

/* The feed drops a service's cached answers when it reads its change,
 * whoever wrote it (here: another connection). */
static void test_cache_invalidated(void **state)
{
    struct fixture *f = *state;
    struct sl_err err;
    struct sl_cache *cache;
    assert_sl_ok(sl_cache_create(1 << 20, &cache, &err), &err);
    struct sl_feed_config cfg = {.backend = "memory:",
                                 .max_watchers = 3,
                                 .queue_max = 4,
                                 .cache = cache};
    struct sl_feed *feed;
    assert_sl_ok(sl_feed_start(&cfg, &feed, &err), &err);
    grpc_slice got, a = grpc_slice_from_static_string("answer");
    uint64_t ticket;
    const char *svcs[] = {S, "other"};
    for (int i = 0; i < 2; i++) {
        assert_false(sl_cache_get(cache, P, svcs[i], 0, &got, &ticket));
        sl_cache_put(cache, P, svcs[i], 0, 1, a, ticket);
    }
    record(f->st, S, 500, 1);
    int64_t end = sl_clock_ms() + 5000;
    bool hit = true;
    while (hit && sl_clock_ms() < end) {
        hit = sl_cache_get(cache, P, S, 0, &got, &ticket);
        if (hit)
            grpc_slice_unref(got);
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    assert_false(hit);
    assert_true(sl_cache_get(cache, P, "other", 0, &got, &ticket));
    grpc_slice_unref(got);
    sl_feed_stop(feed);
    sl_cache_destroy(cache);
}

/* --max-watchers (3 here), then the drain ends all and refuses more. */
static void test_limit_and_drain(void **state)
{
    struct fixture *f = *state;
    struct watcher x[3], y;
    for (int i = 0; i < 3; i++)
        watch(f, &x[i], S, 0, 0);
    assert_int_equal(sl_feed_watchers(f->feed), 3);
    struct sl_err err;
    memset(&y, 0, sizeof(y));
    y.call.handler = &fake;
    assert_sl_err(sl_feed_add(f->feed, &y.w, kick_call, &y.call, P, S, 0, &err),
                  SL_EOVERLOAD, &err);
    sl_feed_drain(f->feed);
    sl_feed_lock(f->feed);
    for (int i = 0; i < 3; i++)
        assert_int_equal(x[i].w.end_rc, SL_EUNAVAIL);
    sl_feed_unlock(f->feed);
    for (int i = 0; i < 3; i++)
        remove_watch(f, &x[i]);
    assert_int_equal(sl_feed_watchers(f->feed), 0);
    assert_sl_err(sl_feed_add(f->feed, &y.w, kick_call, &y.call, P, S, 0, &err),
                  SL_EUNAVAIL, &err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_order_and_gap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_watcher, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_renamed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_invalidated, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_limit_and_drain, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
