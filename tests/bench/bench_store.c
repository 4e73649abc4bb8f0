/* bench_store.c -- cost of one query_logs call on a populated store
 *
 * usage: bench_store URI N_SERVICES QUERIES [same]
 * Queries random services svc-0 .. svc-(N_SERVICES-1) of project bench-p
 * (as made by gen_bench_data.py), or with "same" the one service svc-0
 * every time, and prints nanoseconds per query.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc != 4 && !(argc == 5 && strcmp(argv[4], "same") == 0)) {
        fprintf(stderr, "usage: bench_store URI N_SERVICES QUERIES [same]\n");
        return 2;
    }
    struct sl_err err;
    struct sl_store *st;
    if (sl_store_open(argv[1], &st, &err) != SL_OK) {
        fprintf(stderr, "bench_store: %s\n", err.msg);
        return 1;
    }
    long nsvc = atol(argv[2]), nq = atol(argv[3]);
    int same = argc == 5;
    unsigned seed = 12345;
    size_t logs = 0;
    double t0 = now_ns();
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
    printf("%s services=%ld queries=%ld%s: %.0f ns/query (%.1f logs/query)\n",
           argv[1], nsvc, nq, same ? " (one service)" : "", dt / (double)nq,
           (double)logs / (double)nq);
    sl_store_close(st);
    return 0;
}
