/* store_pool.c -- a bounded set of store connections that threads share
 *
 * store_pool.h says what it is for and what a caller sees. Here: the pool
 * is a stack of idle connections (the last one given back is the next one
 * lent: a warm session, and the others stay idle) under one mutex, and a
 * condition variable on CLOCK_MONOTONIC that a give-back signals. A handle
 * is a struct sl_store of the type below, whose every slot borrows a
 * connection (or uses the one it has pinned), calls the same sl_store_*()
 * wrapper on it -- which checks that connection's version, so a pool over
 * an older backend still answers SL_EMETHOD -- and gives it back.
 *
 * Cost on the query path: two uncontended mutex lock/unlock pairs and a
 * condition signal per call (BENCHMARKS.md, "Connection pool": below the
 * noise of a query's round trip).
 *
 * The handle type is not in the registry: no URI opens it, its open slots
 * refuse, and its name ("pool") appears only if a wrapper's message were
 * about the handle itself, which none is (the borrowed connection's type
 * answers).
 */
#include "store_pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"

struct sl_store_pool {
    pthread_mutex_t mu;     /* guards everything below */
    pthread_cond_t cv;      /* signalled when a connection is given back */
    int size;               /* connections in all[] */
    struct sl_store **all;  /* owned: every connection, for close */
    struct sl_store **idle; /* a stack of the idle ones (not owned) */
    int n_idle;
    struct sl_store_pool_stats stats;
};

/* A handle (store_pool.h). */
struct pool_handle {
    struct sl_store base; /* must be first */
    struct sl_store_pool *pool;
    struct sl_store *pinned; /* borrowed beyond one call; NULL: none */
    bool pin_for_life;       /* pinned by wait_changes: kept until close */
};

static const struct sl_store_type pool_type;

/* Lends an idle connection, waiting for one until deadline_us (0:
 * SL_STORE_POOL_WAIT_MS from now). SL_EUNAVAIL past it. */
static int borrow(struct sl_store_pool *p, int64_t deadline_us,
                  struct sl_store **out, struct sl_err *err)
{
    int64_t start = sl_clock_us();
    if (!deadline_us)
        deadline_us = start + (int64_t)SL_STORE_POOL_WAIT_MS * 1000;
    *out = NULL;
    pthread_mutex_lock(&p->mu);
    p->stats.borrows++;
    if (p->n_idle == 0) {
        p->stats.waits++;
        struct timespec ts = {.tv_sec = (time_t)(deadline_us / 1000000),
                              .tv_nsec = (long)(deadline_us % 1000000) * 1000};
        while (p->n_idle == 0)
            if (pthread_cond_timedwait(&p->cv, &p->mu, &ts) == ETIMEDOUT &&
                p->n_idle == 0)
                break;
    }
    if (p->n_idle == 0) {
        int size = p->size;
        p->stats.exhausted++;
        pthread_mutex_unlock(&p->mu);
        long long waited = (sl_clock_us() - start) / 1000;
        return sl_err_set(err, SL_EUNAVAIL,
                          "all %d backend connections of this server "
                          "(--pg-pool-size) stayed busy for %lld ms; try "
                          "again later, or raise --pg-pool-size",
                          size, waited);
    }
    *out = p->idle[--p->n_idle];
    int busy = p->size - p->n_idle;
    p->stats.busy = busy;
    if (busy > p->stats.busy_max)
        p->stats.busy_max = busy;
    pthread_mutex_unlock(&p->mu);
    return SL_OK;
}

static void give_back(struct sl_store_pool *p, struct sl_store *c)
{
    pthread_mutex_lock(&p->mu);
    p->idle[p->n_idle++] = c;
    p->stats.busy = p->size - p->n_idle;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* The connection for one call of h: its pinned one, or a borrowed one. */
static int take(struct pool_handle *h, int64_t deadline_us, struct sl_store **c,
                struct sl_err *err)
{
    if (h->pinned) {
        *c = h->pinned;
        return SL_OK;
    }
    return borrow(h->pool, deadline_us, c, err);
}

/* The end of that call. */
static void put(struct pool_handle *h, struct sl_store *c)
{
    if (c && c != h->pinned)
        give_back(h->pool, c);
}

int sl_store_pool_open(const char *uri, const struct sl_store_options *opts,
                       int size, struct sl_store_pool **out, struct sl_err *err)
{
    *out = NULL;
    if (size < 1)
        return sl_err_set(err, SL_EINVAL, "a pool needs 1 connection or more");
    struct sl_store_pool *p = calloc(1, sizeof(*p));
    if (!p)
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* sl_clock_us's */
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    struct sl_store_options o = opts ? *opts : (struct sl_store_options){0};
    o.pool = NULL; /* real connections */
    int rc = SL_OK;
    p->all = calloc((size_t)size, sizeof(*p->all));
    p->idle = calloc((size_t)size, sizeof(*p->idle));
    if (!p->all || !p->idle) {
        rc = sl_err_set(err, SL_ENOMEM, "out of memory");
        goto out;
    }
    for (; p->size < size; p->size++) {
        if ((rc = sl_store_open_with(uri, &o, &p->all[p->size], err)) != SL_OK)
            goto out;
        p->idle[p->n_idle++] = p->all[p->size];
    }
    p->stats.size = size;
    *out = p;
    return SL_OK;
out:
    sl_store_pool_close(p);
    return rc;
}

void sl_store_pool_close(struct sl_store_pool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->size; i++)
        sl_store_close(p->all[i]);
    free(p->all);
    free(p->idle);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

int sl_store_pool_handle(struct sl_store_pool *p, struct sl_store **out,
                         struct sl_err *err)
{
    struct pool_handle *h = calloc(1, sizeof(*h));
    *out = NULL;
    if (!h)
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    h->base.type = &pool_type;
    h->pool = p;
    *out = &h->base;
    return SL_OK;
}

void sl_store_pool_stats(struct sl_store_pool *p,
                         struct sl_store_pool_stats *out)
{
    pthread_mutex_lock(&p->mu);
    *out = p->stats;
    pthread_mutex_unlock(&p->mu);
}

/* ---- the handle's slots ------------------------------------------------- */

static int refuse_open(const struct sl_store_type *type, const char *arg,
                       struct sl_store **out, struct sl_err *err)
{
    (void)type;
    (void)arg;
    *out = NULL;
    return sl_err_set(err, SL_EINVAL, "pool handles come from the pool");
}

static int refuse_open_with(const struct sl_store_type *type, const char *arg,
                            const struct sl_store_options *opts,
                            struct sl_store **out, struct sl_err *err)
{
    (void)opts;
    return refuse_open(type, arg, out, err);
}

static int h_query_logs(struct sl_store *st, const struct sl_log_query *q,
                        struct sl_log_page *out, struct sl_err *err)
{
    struct pool_handle *h = (struct pool_handle *)st;
    struct sl_store *c;
    sl_log_page_init(out);
    int rc = take(h, q->deadline_us, &c, err);
    if (rc != SL_OK)
        return rc;
    rc = sl_store_query_logs(c, q, out, err);
    put(h, c);
    return rc;
}

static int h_query_snapshot(struct sl_store *st, const struct sl_log_query *q,
                            struct sl_log_page *out, int64_t *seq,
                            struct sl_err *err)
{
    struct pool_handle *h = (struct pool_handle *)st;
    struct sl_store *c;
    sl_log_page_init(out);
    *seq = 0;
    int rc = take(h, q->deadline_us, &c, err);
    if (rc != SL_OK)
        return rc;
    rc = sl_store_query_snapshot(c, q, out, seq, err);
    put(h, c);
    return rc;
}

static int h_import(struct sl_store *st, const struct sl_import_service *svcs,
                    size_t n, struct sl_err *err)
{
    struct pool_handle *h = (struct pool_handle *)st;
    struct sl_store *c;
    int rc = take(h, 0, &c, err);
    if (rc != SL_OK)
        return rc;
    rc = sl_store_import(c, svcs, n, err);
    put(h, c);
    return rc;
}

static int h_ping(struct sl_store *st, struct sl_err *err)
{
    struct pool_handle *h = (struct pool_handle *)st;
    struct sl_store *c;
    int rc = take(h, 0, &c, err);
    if (rc != SL_OK)
        return rc;
    rc = sl_store_ping(c, err);
    put(h, c);
    return rc;
}

static int h_count_services(struct sl_store *st, size_t *n, struct sl_err *err)
{
    struct pool_handle *h = (struct pool_handle *)st;
    struct sl_store *c;
    *n = 0;
    int rc = take(h, 0, &c, err);
    if (rc != SL_OK)
        return rc;
    rc = sl_store_count_services(c, n, err);
    put(h, c);
    return rc;
}

static int h_put_service(struct sl_store *st, const struct sl_service_put *p,
                         bool *created, struct sl_err *err)
{
    struct pool_handle *h = (struct pool_handle *)st;
    struct sl_store *c;
    *created = false;
    int rc = take(h, 0, &c, err);
    if (rc != SL_OK)
        return rc;
    rc = sl_store_put_service(c, p, created, err);
    put(h, c);
    return rc;
}

static int h_record_log(struct sl_store *st, const char *project_id,
                        const char *service_id, const struct sl_import_log *log,
                        bool *created, int64_t *seq, struct sl_err *err)
{
    struct pool_handle *h = (struct pool_handle *)st;
    struct sl_store *c;
    *created = false;
    *seq = 0;
    int rc = take(h, 0, &c, err);
    if (rc != SL_OK)
        return rc;
    rc = sl_store_record_log(c, project_id, service_id, log, created, seq, err);
    put(h, c);
    return rc;
}

static int h_read_changes(struct sl_store *st, int64_t after, size_t max,
                          struct sl_change_batch *out, struct sl_err *err)
{
    struct pool_handle *h = (struct pool_handle *)st;
    struct sl_store *c;
    sl_change_batch_init(out);
    int rc = take(h, 0, &c, err);
    if (rc != SL_OK)
        return rc;
    rc = sl_store_read_changes(c, after, max, out, err);
    put(h, c);
    return rc;
}

/* The first call pins a connection for the handle's life: the LISTEN
 * session of store.h's wait_changes does nothing else. */
static int h_wait_changes(struct sl_store *st, int timeout_ms,
                          struct sl_err *err)
{
    struct pool_handle *h = (struct pool_handle *)st;
    if (!h->pinned) {
        int rc = borrow(h->pool, 0, &h->pinned, err);
        if (rc != SL_OK)
            return rc;
        h->pin_for_life = true;
    }
    return sl_store_wait_changes(h->pinned, timeout_ms, err);
}

/* An import session keeps its connection from begin to end. */
static int h_import_begin(struct sl_store *st, struct sl_err *err)
{
    struct pool_handle *h = (struct pool_handle *)st;
    struct sl_store *c;
    int rc = take(h, 0, &c, err);
    if (rc != SL_OK)
        return rc;
    rc = sl_store_import_begin(c, err);
    if (rc != SL_OK) {
        put(h, c);
        return rc;
    }
    h->pinned = c;
    return SL_OK;
}

static int h_import_add(struct sl_store *st,
                        const struct sl_import_service *svcs, size_t n,
                        struct sl_err *err)
{
    struct pool_handle *h = (struct pool_handle *)st;
    if (!h->pinned || h->pin_for_life)
        return sl_err_set(err, SL_EINTERNAL, "import_add without a session");
    return sl_store_import_add(h->pinned, svcs, n, err);
}

static int h_import_end(struct sl_store *st, bool commit, struct sl_err *err)
{
    struct pool_handle *h = (struct pool_handle *)st;
    if (!h->pinned || h->pin_for_life)
        return commit ? sl_err_set(err, SL_EINTERNAL,
                                   "import_end without a session")
                      : SL_OK;
    struct sl_store *c = h->pinned;
    int rc = sl_store_import_end(c, commit, err);
    h->pinned = NULL;
    give_back(h->pool, c);
    return rc;
}

/* Gives back what the handle holds: an import session is rolled back. */
static void h_close(struct sl_store *st)
{
    struct pool_handle *h = (struct pool_handle *)st;
    if (!h)
        return;
    if (h->pinned && !h->pin_for_life) {
        struct sl_err e;
        h_import_end(st, false, &e);
    } else if (h->pinned) {
        give_back(h->pool, h->pinned);
    }
    free(h);
}

static const struct sl_store_type pool_type = {
    .version = 6,
    .name = "pool",
    .open = refuse_open,
    .query_logs = h_query_logs,
    .import = h_import,
    .ping = h_ping,
    .close = h_close,
    .count_services = h_count_services,
    .aliases = NULL,
    .takes_uri = false,
    .uri_form = "pool",
    .put_service = h_put_service,
    .record_log = h_record_log,
    .query_snapshot = h_query_snapshot,
    .read_changes = h_read_changes,
    .wait_changes = h_wait_changes,
    .import_begin = h_import_begin,
    .import_add = h_import_add,
    .import_end = h_import_end,
    .open_with = refuse_open_with,
};
