/* test_cache.c -- the response cache (cache.h)
 *
 * What it is held to: a hit hands out the stored bytes (a ref, not a
 * copy); the byte budget with least-recently-used eviction and the cap on
 * one answer; invalidation drops every filter of one service and nothing
 * else; the fill race (a ticket taken before an invalidation, a flush or
 * a suspension is refused); a newer seq replaces, an older one never;
 * the metrics move; and a concurrency smoke (readers, fillers and an
 * invalidating thread at once), meant for the ASan build.
 */
#include "sl_test.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cache.h"
#include "metrics.h"

static grpc_slice answer(const char *text, size_t pad)
{
    grpc_slice s = grpc_slice_malloc(strlen(text) + pad);
    memset(GRPC_SLICE_START_PTR(s), '.', GRPC_SLICE_LENGTH(s));
    memcpy(GRPC_SLICE_START_PTR(s), text, strlen(text));
    return s;
}

/* Fills key (p, s, t) with text through the normal get/put protocol. */
static void fill(struct sl_cache *c, const char *p, const char *s, int64_t t,
                 int64_t seq, const char *text, size_t pad)
{
    grpc_slice got;
    uint64_t ticket;
    assert_false(sl_cache_get(c, p, s, t, &got, &ticket));
    assert_true(ticket != 0);
    grpc_slice a = answer(text, pad);
    sl_cache_put(c, p, s, t, seq, a, ticket);
    grpc_slice_unref(a);
}

/* The cached text of a key, or "" on a miss. */
static const char *peek(struct sl_cache *c, const char *p, const char *s,
                        int64_t t)
{
    static char buf[64];
    grpc_slice got;
    uint64_t ticket;
    buf[0] = '\0';
    if (sl_cache_get(c, p, s, t, &got, &ticket)) {
        size_t n = GRPC_SLICE_LENGTH(got);
        if (n >= sizeof(buf))
            n = sizeof(buf) - 1;
        memcpy(buf, GRPC_SLICE_START_PTR(got), n);
        buf[n] = '\0';
        char *dot = strchr(buf, '.');
        if (dot)
            *dot = '\0';
        grpc_slice_unref(got);
    }
    return buf;
}

static void test_disabled(void **state)
{
    (void)state;
    struct sl_cache *c = (struct sl_cache *)1;
    struct sl_err err;
    assert_sl_ok(sl_cache_create(0, &c, &err), &err);
    assert_null(c);
    grpc_slice got;
    uint64_t ticket = 7;
    assert_false(sl_cache_get(NULL, "p", "s", 0, &got, &ticket));
    assert_int_equal(ticket, 0);
    grpc_slice a = answer("x", 0);
    sl_cache_put(NULL, "p", "s", 0, 1, a, 1);
    grpc_slice_unref(a);
    sl_cache_invalidate(NULL, "p", "s");
    sl_cache_flush(NULL);
    sl_cache_suspend(NULL, true);
    sl_cache_destroy(NULL);
}

static void test_hit_is_a_ref(void **state)
{
    (void)state;
    struct sl_cache *c;
    struct sl_err err;
    assert_sl_ok(sl_cache_create(1 << 20, &c, &err), &err);
    grpc_slice got;
    uint64_t ticket;
    assert_false(sl_cache_get(c, "p", "s", 0, &got, &ticket));
    grpc_slice a = answer("answer-one", 200); /* refcounted, not inlined */
    sl_cache_put(c, "p", "s", 0, 5, a, ticket);
    assert_true(sl_cache_get(c, "p", "s", 0, &got, &ticket));
    assert_ptr_equal(GRPC_SLICE_START_PTR(got), GRPC_SLICE_START_PTR(a));
    assert_int_equal(GRPC_SLICE_LENGTH(got), GRPC_SLICE_LENGTH(a));
    grpc_slice_unref(got);
    grpc_slice_unref(a); /* the cache keeps its own ref */
    assert_string_equal(peek(c, "p", "s", 0), "answer-one");
    /* The filter and both ids are the key. */
    assert_string_equal(peek(c, "p", "s", 7), "");
    assert_string_equal(peek(c, "p", "t", 0), "");
    assert_string_equal(peek(c, "q", "s", 0), "");
    assert_string_equal(peek(c, "ps", "", 0), "");
    struct sl_cache_stats st;
    sl_cache_stats(c, &st);
    assert_int_equal(st.entries, 1);
    assert_true(st.bytes > 210);
    sl_cache_destroy(c);
}

static void test_eviction_by_bytes(void **state)
{
    (void)state;
    struct sl_cache *c;
    struct sl_err err;
    assert_sl_ok(sl_cache_create(64 * 1024, &c, &err), &err);
    /* 1 000-byte answers: about 60 fit. */
    char svc[16];
    for (int i = 0; i < 200; i++) {
        snprintf(svc, sizeof(svc), "s%d", i);
        fill(c, "p", svc, 0, 1, svc, 1000);
        if (i == 10) /* s0 is used: it stays, s1 is the oldest */
            assert_string_equal(peek(c, "p", "s0", 0), "s0");
        if (i > 10 && i % 20 == 0)
            assert_string_equal(peek(c, "p", "s0", 0), "s0");
    }
    struct sl_cache_stats st;
    sl_cache_stats(c, &st);
    assert_true(st.bytes <= 64 * 1024);
    assert_true(st.entries >= 50 && st.entries < 64);
    assert_string_equal(peek(c, "p", "s0", 0), "s0");
    assert_string_equal(peek(c, "p", "s1", 0), "");
    assert_string_equal(peek(c, "p", "s199", 0), "s199");
    /* An answer over an eighth of the budget is not kept. */
    fill(c, "p", "big", 0, 1, "big", 9000);
    assert_string_equal(peek(c, "p", "big", 0), "");
    fill(c, "p", "fits", 0, 1, "fits", 7000);
    assert_string_equal(peek(c, "p", "fits", 0), "fits");
    sl_cache_destroy(c);
}

static void test_invalidate_one_service(void **state)
{
    (void)state;
    struct sl_cache *c;
    struct sl_err err;
    assert_sl_ok(sl_cache_create(1 << 20, &c, &err), &err);
    fill(c, "p", "s", 0, 1, "all", 0);
    fill(c, "p", "s", 42, 1, "at42", 0);
    fill(c, "p", "other", 0, 1, "other", 0);
    fill(c, "p2", "s", 0, 1, "p2s", 0);
    sl_cache_invalidate(c, "p", "s");
    assert_string_equal(peek(c, "p", "s", 0), "");
    assert_string_equal(peek(c, "p", "s", 42), "");
    assert_string_equal(peek(c, "p", "other", 0), "other");
    assert_string_equal(peek(c, "p2", "s", 0), "p2s");
    /* Filled again after the invalidation: kept. */
    fill(c, "p", "s", 0, 2, "new", 0);
    assert_string_equal(peek(c, "p", "s", 0), "new");
    sl_cache_flush(c);
    assert_string_equal(peek(c, "p", "other", 0), "");
    assert_string_equal(peek(c, "p2", "s", 0), "");
    struct sl_cache_stats st;
    sl_cache_stats(c, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.bytes, 0);
    sl_cache_destroy(c);
}

/* A worker took its ticket, read the old page; the change's invalidation
 * came before its put: the old page must not be kept. */
static void test_fill_race(void **state)
{
    (void)state;
    struct sl_cache *c;
    struct sl_err err;
    assert_sl_ok(sl_cache_create(1 << 20, &c, &err), &err);
    grpc_slice got, a = answer("old", 0);
    uint64_t t1, t2, t3;
    assert_false(sl_cache_get(c, "p", "s", 0, &got, &t1));
    sl_cache_invalidate(c, "p", "s");
    sl_cache_put(c, "p", "s", 0, 1, a, t1);
    assert_string_equal(peek(c, "p", "s", 0), "");
    /* Nor an invalidation of the service that races a second fill. */
    assert_false(sl_cache_get(c, "p", "s", 0, &got, &t2));
    sl_cache_invalidate(c, "p", "s");
    sl_cache_put(c, "p", "s", 0, 9, a, t2);
    assert_string_equal(peek(c, "p", "s", 0), "");
    /* A flush and a suspension make every ticket stale. */
    sl_cache_flush(c);
    assert_false(sl_cache_get(c, "p", "s", 0, &got, &t3));
    sl_cache_flush(c);
    sl_cache_put(c, "p", "s", 0, 1, a, t3);
    assert_string_equal(peek(c, "p", "s", 0), "");
    assert_false(sl_cache_get(c, "p", "s", 0, &got, &t3));
    sl_cache_suspend(c, true);
    sl_cache_put(c, "p", "s", 0, 1, a, t3);
    assert_false(sl_cache_get(c, "p", "s", 0, &got, &t3));
    assert_int_equal(t3, 0); /* suspended: no ticket */
    sl_cache_suspend(c, false);
    assert_string_equal(peek(c, "p", "s", 0), "");
    fill(c, "p", "s", 0, 1, "again", 0);
    assert_string_equal(peek(c, "p", "s", 0), "again");
    /* While suspended nothing is served, and nothing survives it. */
    sl_cache_suspend(c, true);
    assert_string_equal(peek(c, "p", "s", 0), "");
    sl_cache_suspend(c, false);
    assert_string_equal(peek(c, "p", "s", 0), "");
    grpc_slice_unref(a);
    sl_cache_destroy(c);
}

/* Two fills of one key with tickets of the same generation: the newer
 * seq is kept whichever comes last, so an answer never goes back. */
static void test_newer_seq_wins(void **state)
{
    (void)state;
    struct sl_cache *c;
    struct sl_err err;
    assert_sl_ok(sl_cache_create(1 << 20, &c, &err), &err);
    grpc_slice got, old = answer("old", 0), new = answer("new", 0);
    uint64_t t1, t2;
    assert_false(sl_cache_get(c, "p", "s", 0, &got, &t1));
    assert_false(sl_cache_get(c, "p", "s", 0, &got, &t2));
    sl_cache_put(c, "p", "s", 0, 6, new, t2);
    sl_cache_put(c, "p", "s", 0, 5, old, t1);
    assert_string_equal(peek(c, "p", "s", 0), "new");
    sl_cache_invalidate(c, "p", "s");
    assert_false(sl_cache_get(c, "p", "s", 0, &got, &t1));
    assert_false(sl_cache_get(c, "p", "s", 0, &got, &t2));
    sl_cache_put(c, "p", "s", 0, 5, old, t1);
    sl_cache_put(c, "p", "s", 0, 6, new, t2);
    assert_string_equal(peek(c, "p", "s", 0), "new");
    struct sl_cache_stats st;
    sl_cache_stats(c, &st);
    assert_int_equal(st.entries, 1);
    grpc_slice_unref(old);
    grpc_slice_unref(new);
    sl_cache_destroy(c);
}

/* The REST rendering rides on the answer it was rendered from. */
static void test_json_attached(void **state)
{
    (void)state;
    struct sl_cache *c;
    struct sl_err err;
    assert_sl_ok(sl_cache_create(64 * 1024, &c, &err), &err);
    grpc_slice got, json = answer("{json}", 100);
    struct sl_cache_extra x;
    uint64_t ticket;
    assert_false(sl_cache_lookup(c, "p", "s", 0, &got, &x, &ticket));
    assert_int_equal(x.seq, -1);
    assert_int_equal(GRPC_SLICE_LENGTH(x.json), 0);
    sl_cache_attach_json(c, "p", "s", 0, 4, json); /* nothing cached */
    fill(c, "p", "s", 0, 4, "pb", 0);
    struct sl_cache_stats before, after;
    sl_cache_stats(c, &before);
    sl_cache_attach_json(c, "p", "s", 0, 3, json); /* another seq */
    assert_true(sl_cache_lookup(c, "p", "s", 0, &got, &x, &ticket));
    assert_int_equal(x.seq, 4);
    assert_int_equal(GRPC_SLICE_LENGTH(x.json), 0);
    grpc_slice_unref(got);
    sl_cache_attach_json(c, "p", "s", 0, 4, json);
    sl_cache_stats(c, &after);
    assert_int_equal(after.bytes, before.bytes + GRPC_SLICE_LENGTH(json));
    assert_true(sl_cache_lookup(c, "p", "s", 0, &got, &x, &ticket));
    assert_true(grpc_slice_eq(x.json, json));
    assert_ptr_equal(GRPC_SLICE_START_PTR(x.json), GRPC_SLICE_START_PTR(json));
    grpc_slice_unref(x.json);
    grpc_slice_unref(got);
    /* A newer answer replaces the entry, and its JSON with it. */
    uint64_t t2;
    sl_cache_invalidate(c, "p", "s");
    assert_false(sl_cache_lookup(c, "p", "s", 0, &got, &x, &t2));
    fill(c, "p", "s", 0, 5, "pb2", 0);
    assert_true(sl_cache_lookup(c, "p", "s", 0, &got, &x, &ticket));
    assert_int_equal(GRPC_SLICE_LENGTH(x.json), 0);
    grpc_slice_unref(got);
    /* Too big with its JSON: not attached. */
    grpc_slice big = answer("{big}", 8 * 1024);
    sl_cache_attach_json(c, "p", "s", 0, 5, big);
    assert_true(sl_cache_lookup(c, "p", "s", 0, &got, &x, &ticket));
    assert_int_equal(GRPC_SLICE_LENGTH(x.json), 0);
    grpc_slice_unref(got);
    grpc_slice_unref(big);
    grpc_slice_unref(json);
    sl_cache_destroy(c);
}

static void test_variants_capped(void **state)
{
    (void)state;
    struct sl_cache *c;
    struct sl_err err;
    assert_sl_ok(sl_cache_create(1 << 20, &c, &err), &err);
    for (int64_t t = 1; t <= SL_CACHE_VARIANTS + 5; t++)
        fill(c, "p", "s", t, 1, "v", 0);
    struct sl_cache_stats st;
    sl_cache_stats(c, &st);
    assert_int_equal(st.entries, SL_CACHE_VARIANTS);
    fill(c, "p", "s2", 1, 1, "other", 0); /* another service: its own */
    assert_string_equal(peek(c, "p", "s2", 1), "other");
    sl_cache_invalidate(c, "p", "s");
    sl_cache_stats(c, &st);
    assert_int_equal(st.entries, 1);
    sl_cache_destroy(c);
}

static void test_metrics(void **state)
{
    (void)state;
    sl_metrics_reset();
    struct sl_cache *c;
    struct sl_err err;
    assert_sl_ok(sl_cache_create(8 * 1024, &c, &err), &err);
    fill(c, "p", "a", 0, 1, "a", 500); /* miss */
    peek(c, "p", "a", 0);              /* hit */
    peek(c, "p", "a", 0);              /* hit */
    fill(c, "p", "b", 0, 1, "b", 500); /* miss */
    sl_cache_invalidate(c, "p", "b");  /* 1 invalidated */
    for (int i = 0; i < 20; i++) {     /* 20 misses, evictions */
        char s[8];
        snprintf(s, sizeof(s), "x%d", i);
        fill(c, "p", s, 0, 1, s, 800);
    }
    struct sl_buf out;
    sl_buf_init(&out);
    sl_metrics_render(&out);
    assert_false(out.oom);
    sl_buf_putc(&out, '\0');
    const char *text = (const char *)out.data;
    assert_non_null(strstr(text, "\nservicelogs_cache_hits_total 2\n"));
    assert_non_null(strstr(text, "\nservicelogs_cache_misses_total 22\n"));
    assert_non_null(
        strstr(text, "\nservicelogs_cache_invalidations_total 1\n"));
    assert_non_null(strstr(text, "# TYPE servicelogs_cache_bytes gauge"));
    const char *ev = strstr(text, "\nservicelogs_cache_evictions_total ");
    assert_non_null(ev);
    assert_true(atoi(ev + strlen("\nservicelogs_cache_evictions_total ")) > 10);
    struct sl_cache_stats st;
    sl_cache_stats(c, &st);
    char want[96];
    snprintf(want, sizeof(want), "\nservicelogs_cache_entries %zu\n",
             st.entries);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof(want), "\nservicelogs_cache_bytes %zu\n", st.bytes);
    assert_non_null(strstr(text, want));
    sl_buf_free(&out);
    sl_cache_destroy(c);
    sl_buf_init(&out);
    sl_metrics_render(&out);
    sl_buf_putc(&out, '\0');
    assert_non_null(
        strstr((const char *)out.data, "\nservicelogs_cache_entries 0\n"));
    assert_non_null(
        strstr((const char *)out.data, "\nservicelogs_cache_bytes 0\n"));
    sl_buf_free(&out);
}

/* ---- concurrency smoke (ASan/TSan-style: it must simply not crash or
 * leak, and every hit must be some answer of that key) ---------------- */

struct smoke {
    struct sl_cache *c;
    int id;
    int bad;
};

static void *smoke_worker(void *arg)
{
    struct smoke *sm = arg;
    char svc[16], want[32];
    unsigned seed = (unsigned)sm->id * 7919u + 1;
    for (int i = 0; i < 20000; i++) {
        seed = seed * 1103515245u + 12345u;
        int k = (int)((seed >> 16) % 50);
        snprintf(svc, sizeof(svc), "s%d", k);
        snprintf(want, sizeof(want), "answer-of-%s", svc);
        if (sm->id == 0 && i % 3 == 0) { /* the feed thread's part */
            sl_cache_invalidate(sm->c, "p", svc);
            if (i % 5000 == 0)
                sl_cache_flush(sm->c);
            continue;
        }
        grpc_slice got;
        uint64_t ticket;
        if (sl_cache_get(sm->c, "p", svc, 0, &got, &ticket)) {
            if (GRPC_SLICE_LENGTH(got) < strlen(want) ||
                memcmp(GRPC_SLICE_START_PTR(got), want, strlen(want)) != 0)
                sm->bad++;
            grpc_slice_unref(got);
        } else {
            grpc_slice a = answer(want, (size_t)(k * 37 % 400));
            sl_cache_put(sm->c, "p", svc, 0, i, a, ticket);
            grpc_slice_unref(a);
        }
    }
    return NULL;
}

static void test_concurrency_smoke(void **state)
{
    (void)state;
    struct sl_cache *c;
    struct sl_err err;
    assert_sl_ok(sl_cache_create(16 * 1024, &c, &err), &err); /* evicts */
    pthread_t t[4];
    struct smoke sm[4];
    for (int i = 0; i < 4; i++) {
        sm[i] = (struct smoke){c, i, 0};
        assert_int_equal(pthread_create(&t[i], NULL, smoke_worker, &sm[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(sm[i].bad, 0);
    }
    struct sl_cache_stats st;
    sl_cache_stats(c, &st);
    assert_true(st.bytes <= 16 * 1024);
    sl_cache_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disabled),
        cmocka_unit_test(test_hit_is_a_ref),
        cmocka_unit_test(test_eviction_by_bytes),
        cmocka_unit_test(test_invalidate_one_service),
        cmocka_unit_test(test_fill_race),
        cmocka_unit_test(test_newer_seq_wins),
        cmocka_unit_test(test_json_attached),
        cmocka_unit_test(test_variants_capped),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_concurrency_smoke),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
