/* bench_store.c -- cost of one query_logs call on a populated store
 *
 * usage: bench_store URI N_SERVICES QUERIES [same]
 * Queries random services svc-0 .. svc-(N_SERVICES-1) of project bench-p
 * (as made by gen_bench_data.py), or with "same" the one service svc-0
 * every time, and prints nanoseconds per query (wall, and the process's
 * CPU time). With SL_BENCH_POOL=N in
 * the environment the queries go through a handle on a pool of N
 * connections (store_pool.h): the pool's cost per call is the difference.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"
#include "store_pool.h"

static double clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

int main(int argc, char **argv)
{
    if (argc != 4 && !(argc == 5 && strcmp(argv[4], "same") == 0)) {
        fprintf(stderr, "usage: bench_store URI N_SERVICES QUERIES [same]\n");
        return 2;
    }
    struct sl_err err;
    struct sl_store *st;
    struct sl_store_pool *pool = NULL;
    const char *pool_env = getenv("SL_BENCH_POOL");
    int pool_size = pool_env ? atoi(pool_env) : 0;
    if ((pool_size > 0 &&
         (sl_store_pool_open(argv[1], NULL, pool_size, &pool, &err) != SL_OK ||
          sl_store_pool_handle(pool, &st, &err) != SL_OK)) ||
        (pool_size <= 0 && sl_store_open(argv[1], &st, &err) != SL_OK)) {
        fprintf(stderr, "bench_store: %s\n", err.msg);
        return 1;
    }
    long nsvc = atol(argv[2]), nq = atol(argv[3]);
    int same = argc == 5;
    unsigned seed = 12345;
    size_t logs = 0;
    double t0 = now_ns(), c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    for (long i = 0; i < nq; i++) {
        char sid[32];
        snprintf(sid, sizeof(sid), "svc-%ld",
                 same ? 0L : (long)(rand_r(&seed) % nsvc));
        struct sl_log_query q = {"bench-p", sid, 0, 0};
        struct sl_log_page page;
        sl_log_page_init(&page);
        if (sl_store_query_logs(st, &q, &page, &err) != SL_OK) {
            fprintf(stderr, "bench_store: %s: %s\n", sid, err.msg);
            return 1;
        }
        logs += page.n_logs;
        sl_log_page_free(&page);
    }
    double dt = now_ns() - t0;
    double dc = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - c0;
    printf("%s services=%ld queries=%ld%s%s: %.0f ns/query (%.1f "
           "logs/query; %.0f ns CPU/query)\n",
           argv[1], nsvc, nq, same ? " (one service)" : "",
           pool ? " (pooled)" : "", dt / (double)nq, (double)logs / (double)nq,
           dc / (double)nq);
    sl_store_close(st);
    sl_store_pool_close(pool);
    return 0;
}
