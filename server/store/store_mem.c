/* store_mem.c -- in-process storage backend ("memory:")
 *
 * Every connection in the process reads and writes one table, mem_db, so an
 * import through one connection is seen by the per-thread connections of
 * the server. Nothing survives the process.
 *
 * Locking:
 *   mem_db.mu   guards refs and serializes imports (and open/close against
 *               them). Queries never take it.
 *   mem_db.lock guards svcs and n. A query holds it for reading while it
 *               copies its answer into the caller's arena. An import builds
 *               the complete new table (every allocation) without it, then
 *               holds it for writing only to swap two fields: an import is
 *               all or nothing, and readers wait for a pointer swap at
 *               most. The lock prefers writers (glibc), so a steady stream
 *               of queries cannot starve an import.
 *
 * Ownership: the table owns its services; each is one malloc'd block
 * holding the struct, its logs, its strings and copies of the packed
 * bodies. A replaced service is freed after the swap, when no reader can
 * see it. The table is freed when the last connection closes, so leak
 * checkers see nothing.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP */
#endif
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "store.h"

#ifdef PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP
#define MEM_RWLOCK_INIT PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP
#else
#define MEM_RWLOCK_INIT PTHREAD_RWLOCK_INITIALIZER
#endif

struct mem_log {
    int64_t update_time;
    size_t seq;          /* index in the import's logs: ties keep it */
    struct sl_blob body; /* points into the service's block */
};

/* One service; a single allocation. */
struct mem_service {
    const char *project_id; /* these three point into the block */
    const char *service_id;
    const char *service_name;
    int infer_type;
    size_t n_logs;
    struct mem_log logs[]; /* (update_time, seq) ascending */
};

static struct {
    pthread_mutex_t mu;        /* guards refs; serializes imports */
    pthread_rwlock_t lock;     /* guards svcs, n */
    size_t refs;               /* open connections */
    struct mem_service **svcs; /* sorted by (project_id, service_id) */
    size_t n;
} mem_db = {PTHREAD_MUTEX_INITIALIZER, MEM_RWLOCK_INIT, 0, NULL, 0};

struct mem_store {
    struct sl_store base; /* must be first */
};

static int cmp_key(const char *p1, const char *s1, const char *p2,
                   const char *s2)
{
    int c = strcmp(p1, p2);
    return c ? c : strcmp(s1, s2);
}

static int cmp_log(const void *a, const void *b)
{
    const struct mem_log *x = a, *y = b;
    if (x->update_time != y->update_time)
        return x->update_time < y->update_time ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* A copy of in, logs sorted; NULL when memory runs out. */
static struct mem_service *service_new(const struct sl_import_service *in)
{
    size_t lp = strlen(in->project_id) + 1;
    size_t ls = strlen(in->service_id) + 1;
    size_t ln = strlen(in->service_name) + 1;
    if (in->n_logs > (SIZE_MAX / 2) / sizeof(struct mem_log))
        return NULL;
    size_t size = sizeof(struct mem_service) +
                  in->n_logs * sizeof(struct mem_log) + lp + ls + ln;
    for (size_t i = 0; i < in->n_logs; i++) {
        if (in->logs[i].body.len > SIZE_MAX - size)
            return NULL;
        size += in->logs[i].body.len;
    }
    struct mem_service *v = malloc(size);
    if (!v)
        return NULL;
    char *p = (char *)&v->logs[in->n_logs];
    v->project_id = memcpy(p, in->project_id, lp);
    v->service_id = memcpy(p += lp, in->service_id, ls);
    v->service_name = memcpy(p += ls, in->service_name, ln);
    p += ln;
    v->infer_type = in->infer_type;
    v->n_logs = in->n_logs;
    for (size_t i = 0; i < in->n_logs; i++) {
        const struct sl_import_log *l = &in->logs[i];
        v->logs[i].update_time = l->update_time;
        v->logs[i].seq = i;
        v->logs[i].body.data = (const uint8_t *)p;
        v->logs[i].body.len = l->body.len;
        if (l->body.len)
            memcpy(p, l->body.data, l->body.len);
        p += l->body.len;
    }
    qsort(v->logs, v->n_logs, sizeof(v->logs[0]), cmp_log);
    return v;
}

/* The stored service, or NULL. Call with mem_db.lock held. */
static const struct mem_service *find(const char *project_id,
                                      const char *service_id)
{
    size_t lo = 0, hi = mem_db.n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct mem_service *v = mem_db.svcs[mid];
        int c = cmp_key(project_id, service_id, v->project_id, v->service_id);
        if (c == 0)
            return v;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* The first log of v at or after t (strictly after when after is set). */
static size_t log_bound(const struct mem_service *v, int64_t t, bool after)
{
    size_t lo = 0, hi = v->n_logs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int64_t m = v->logs[mid].update_time;
        if (m < t || (after && m == t))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void table_free(void)
{
    for (size_t i = 0; i < mem_db.n; i++)
        free(mem_db.svcs[i]);
    free(mem_db.svcs);
    mem_db.svcs = NULL;
    mem_db.n = 0;
}

static int mem_open(const struct sl_store_type *type, const char *arg,
                    struct sl_store **out, struct sl_err *err)
{
    (void)arg; /* "memory:" takes no argument */
    *out = NULL;
    struct mem_store *st = malloc(sizeof(*st));
    if (!st)
        return sl_err_set(err, SL_ENOMEM, "memory: out of memory");
    st->base.type = type;
    pthread_mutex_lock(&mem_db.mu);
    mem_db.refs++;
    pthread_mutex_unlock(&mem_db.mu);
    *out = &st->base;
    return SL_OK;
}

static void mem_close(struct sl_store *st)
{
    if (!st)
        return;
    pthread_mutex_lock(&mem_db.mu);
    if (--mem_db.refs == 0)
        table_free(); /* no connection left, so no reader */
    pthread_mutex_unlock(&mem_db.mu);
    free(st);
}

static int mem_query_logs(struct sl_store *st, const struct sl_log_query *q,
                          struct sl_log_page *out, struct sl_err *err)
{
    int rc = SL_OK;
    (void)st;
    sl_log_page_init(out);
    if (q->deadline_us) { /* a copy from memory: checked once, up front */
        if (sl_clock_us() > q->deadline_us)
            return sl_err_set(err, SL_ETIMEOUT,
                              "deadline passed before the query");
    }
    if (pthread_rwlock_rdlock(&mem_db.lock) != 0)
        return sl_err_set(err, SL_EUNAVAIL, "memory: cannot take read lock");
    const struct mem_service *v = find(q->project_id, q->service_id);
    if (!v) {
        rc = sl_err_set(err, SL_ENOTFOUND, "service %s not found in project %s",
                        q->service_id, q->project_id);
        goto out;
    }
    size_t lo = 0, hi = v->n_logs;
    if (q->update_time) {
        lo = log_bound(v, q->update_time, false);
        hi = log_bound(v, q->update_time, true);
    }
    out->infer_type = v->infer_type;
    out->service_id =
        sl_arena_strndup(&out->arena, v->service_id, strlen(v->service_id));
    out->service_name =
        sl_arena_strndup(&out->arena, v->service_name, strlen(v->service_name));
    struct sl_blob *logs =
        hi > lo ? sl_arena_alloc(&out->arena, (hi - lo) * sizeof(*logs)) : NULL;
    if (!out->service_id || !out->service_name || (hi > lo && !logs)) {
        rc = sl_err_set(err, SL_ENOMEM, "memory: out of memory reading logs");
        goto out;
    }
    out->logs = logs;
    for (size_t i = lo; i < hi; i++) {
        const struct sl_blob *b = &v->logs[i].body;
        uint8_t *copy = sl_arena_alloc(&out->arena, b->len);
        if (!copy) {
            rc = sl_err_set(err, SL_ENOMEM,
                            "memory: out of memory reading logs");
            goto out;
        }
        if (b->len)
            memcpy(copy, b->data, b->len);
        logs[out->n_logs].data = copy;
        logs[out->n_logs].len = b->len;
        out->n_logs++;
    }
out:
    pthread_rwlock_unlock(&mem_db.lock);
    if (rc != SL_OK)
        sl_log_page_free(out);
    return rc;
}

/* A service built by an import and its place in the import's array. */
struct pending {
    struct mem_service *v;
    size_t i;
};

static int cmp_pending(const void *a, const void *b)
{
    const struct pending *x = a, *y = b;
    int c = cmp_key(x->v->project_id, x->v->service_id, y->v->project_id,
                    y->v->service_id);
    return c ? c : x->i < y->i ? -1 : x->i > y->i;
}

static int import_nomem(size_t n, struct sl_err *err)
{
    return sl_err_set(err, SL_ENOMEM,
                      "memory: out of memory importing %zu services, nothing "
                      "changed",
                      n);
}

static int mem_import(struct sl_store *st, const struct sl_import_service *svcs,
                      size_t n, struct sl_err *err)
{
    struct pending *add = NULL;        /* the new services, sorted */
    struct mem_service **table = NULL; /* the next mem_db.svcs */
    struct mem_service **gone = NULL;  /* the services they replace */
    size_t n_add = 0, n_table = 0, n_gone = 0;
    int rc = SL_OK;
    (void)st;

    pthread_mutex_lock(&mem_db.mu); /* mem_db.svcs is ours to read now */
    if (n == 0)
        goto out;
    add = calloc(n, sizeof(*add));
    table = calloc(mem_db.n + n, sizeof(*table));
    gone = calloc(n, sizeof(*gone));
    if (!add || !table || !gone) {
        rc = import_nomem(n, err);
        goto out;
    }
    for (; n_add < n; n_add++) {
        add[n_add].v = service_new(&svcs[n_add]);
        add[n_add].i = n_add;
        if (!add[n_add].v) {
            rc = import_nomem(n, err);
            goto out;
        }
    }
    /* The same service twice in one import: the last one wins. */
    qsort(add, n_add, sizeof(*add), cmp_pending);
    size_t k = 0;
    for (size_t i = 0; i < n_add; i++) {
        if (k && cmp_key(add[k - 1].v->project_id, add[k - 1].v->service_id,
                         add[i].v->project_id, add[i].v->service_id) == 0)
            free(add[--k].v);
        add[k++] = add[i];
    }
    n_add = k;
    /* Merge: both inputs are sorted by key. */
    size_t i = 0, j = 0;
    while (i < mem_db.n || j < n_add) {
        int c = -1;
        if (i == mem_db.n)
            c = 1;
        else if (j < n_add)
            c = cmp_key(mem_db.svcs[i]->project_id, mem_db.svcs[i]->service_id,
                        add[j].v->project_id, add[j].v->service_id);
        if (c < 0) {
            table[n_table++] = mem_db.svcs[i++];
            continue;
        }
        if (c == 0)
            gone[n_gone++] = mem_db.svcs[i++];
        table[n_table++] = add[j++].v;
    }
    /* Nothing can fail from here on. */
    pthread_rwlock_wrlock(&mem_db.lock);
    struct mem_service **old = mem_db.svcs;
    mem_db.svcs = table;
    mem_db.n = n_table;
    pthread_rwlock_unlock(&mem_db.lock);
    table = old;
    n_add = 0; /* the table owns them now */
out:
    pthread_mutex_unlock(&mem_db.mu);
    for (size_t x = 0; x < n_add; x++)
        free(add[x].v);
    for (size_t x = 0; x < n_gone; x++)
        free(gone[x]);
    free(add);
    free(table);
    free(gone);
    return rc;
}

static int mem_ping(struct sl_store *st, struct sl_err *err)
{
    (void)st;
    (void)err;
    return SL_OK;
}

static int mem_count_services(struct sl_store *st, size_t *n,
                              struct sl_err *err)
{
    (void)st;
    *n = 0;
    if (pthread_rwlock_rdlock(&mem_db.lock) != 0)
        return sl_err_set(err, SL_EUNAVAIL, "memory: cannot take read lock");
    *n = mem_db.n;
    pthread_rwlock_unlock(&mem_db.lock);
    return SL_OK;
}

const struct sl_store_type sl_store_memory = {
    .version = 3,
    .name = "memory",
    .open = mem_open,
    .query_logs = mem_query_logs,
    .import = mem_import,
    .ping = mem_ping,
    .close = mem_close,
    .count_services = mem_count_services,
    .aliases = NULL,
    .takes_uri = false,
    .uri_form = "memory:",
};
