/* store_mem.c -- in-process storage backend ("memory:")
 *
 * Every connection in the process reads and writes one table, mem_db, so an
 * import through one connection is seen by the per-thread connections of
 * the server. Nothing survives the process.
 *
 * Locking:
 *   mem_db.mu   guards refs and serializes the writers -- import,
 *               put_service, record_log -- (and open/close against them).
 *               Its holder may read svcs and the feed without the lock
 *               below: nobody else changes them. Queries never take it.
 *   mem_db.lock guards svcs, n and the feed (changes, first, count, cap,
 *               head). A query or read_changes holds it for reading while
 *               it copies its answer into the caller's arena. A writer
 *               builds everything new (every allocation) without it, then
 *               holds it for writing only to swap pointers and append the
 *               feed's changes: a write is all or nothing, its log and its
 *               change are seen together, and readers wait for a few
 *               pointer moves at most. The lock prefers writers (glibc),
 *               so a steady stream of queries cannot starve a write.
 *   mem_wake.mu guards mem_wake.head, a copy of the feed's head that a
 *               writer sets (still holding mem_db.mu, so it only grows)
 *               and broadcasts on mem_wake.cv; wait_changes sleeps there.
 *               Taken after mem_db.mu, never with mem_db.lock.
 *
 * The change feed (store.h v4): an array of changes, oldest at first,
 * seqs dense (change i has seq head - count + 1 + i), so everything with
 * a seq up to head - count was pruned. When a write takes count over
 * SL_STORE_FEED_KEEP + MEM_PRUNE_SLACK, the oldest are freed down to
 * SL_STORE_FEED_KEEP.
 *
 * Import (store.h v5, store_mem_import.c): a session builds its services
 * on the connection (struct mem_store.stage) without any lock, and its
 * commit (sl__mem_commit) holds mem_db.mu to merge them into the table
 * and swap: build, then swap.
 *
 * Ownership: the table owns its services; each is one malloc'd block
 * holding the struct, its logs, its strings and copies of the packed
 * bodies; a change is one block too. A replaced service is freed after the
 * swap, when no reader can see it. The table and the feed are freed when
 * the last connection closes (the store ends, and seqs start again at 1
 * with the next one), so leak checkers see nothing.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP */
#endif
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "modelarts/v1/service_logs.pb-c.h"
#include "store.h"
#include "store_mem.h"

#define MEM_PRUNE_SLACK                                                        \
    1000 /* changes over SL_STORE_FEED_KEEP before a                           \
            prune */

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

/* One change of the feed; a single allocation. */
struct mem_change {
    struct sl_change c; /* its strings and body point into the block */
};

static struct {
    pthread_mutex_t mu;          /* guards refs; serializes writers */
    pthread_rwlock_t lock;       /* guards the rest */
    size_t refs;                 /* open connections */
    struct mem_service **svcs;   /* sorted by (project_id, service_id) */
    size_t n;                    /* entries in svcs */
    struct mem_change **changes; /* the feed: [first, first + count) */
    size_t first, count, cap;    /* cap: entries changes has room for */
    int64_t head;                /* the newest seq; 0: none yet */
} mem_db = {
    PTHREAD_MUTEX_INITIALIZER, MEM_RWLOCK_INIT, 0, NULL, 0, NULL, 0, 0, 0, 0};

static struct {
    pthread_mutex_t mu; /* guards head */
    pthread_cond_t cv;  /* broadcast when head moves */
    int64_t head;       /* mem_db.head, as last committed */
} mem_wake = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};

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

struct mem_service *sl__mem_service_new(const struct sl_import_service *in)
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

/* Where the service is in mem_db.svcs (*found set), or would be. Call
 * with mem_db.lock or mem_db.mu held. */
static size_t find_at(const char *project_id, const char *service_id,
                      bool *found)
{
    size_t lo = 0, hi = mem_db.n;
    *found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct mem_service *v = mem_db.svcs[mid];
        int c = cmp_key(project_id, service_id, v->project_id, v->service_id);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* The stored service, or NULL. Call with mem_db.lock held. */
static const struct mem_service *find(const char *project_id,
                                      const char *service_id)
{
    bool found;
    size_t i = find_at(project_id, service_id, &found);
    return found ? mem_db.svcs[i] : NULL;
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
    for (size_t i = 0; i < mem_db.count; i++)
        free(mem_db.changes[mem_db.first + i]);
    free(mem_db.changes);
    mem_db.changes = NULL;
    mem_db.first = mem_db.count = mem_db.cap = 0;
    mem_db.head = 0;
    pthread_mutex_lock(&mem_wake.mu);
    mem_wake.head = 0;
    pthread_mutex_unlock(&mem_wake.mu);
}

/* ---- the change feed ---------------------------------------------------- */

/* A change, in one block; NULL when memory runs out. */
static struct mem_change *change_new(int64_t seq, const char *project_id,
                                     const char *service_id,
                                     int64_t update_time,
                                     const struct sl_blob *body)
{
    size_t lp = strlen(project_id) + 1, ls = strlen(service_id) + 1;
    size_t lb = body ? body->len : 0;
    if (lb > SIZE_MAX - sizeof(struct mem_change) - lp - ls)
        return NULL;
    struct mem_change *m = malloc(sizeof(*m) + lp + ls + lb);
    if (!m)
        return NULL;
    char *p = (char *)(m + 1);
    m->c.seq = seq;
    m->c.project_id = memcpy(p, project_id, lp);
    m->c.service_id = memcpy(p + lp, service_id, ls);
    m->c.update_time = update_time;
    m->c.body.data = (const uint8_t *)(p + lp + ls);
    m->c.body.len = lb;
    if (lb)
        memcpy(p + lp + ls, body->data, lb);
    return m;
}

/* What a writer prepares (with mem_db.mu held, before it takes the lock)
 * to append k changes: a larger array when the feed's is full. */
struct feed_room {
    struct mem_change **grown; /* NULL: the feed's array has room */
    size_t cap;                /* grown's */
};

static bool feed_reserve(size_t k, struct feed_room *r)
{
    r->grown = NULL;
    r->cap = 0;
    if (mem_db.count + k <= mem_db.cap)
        return true;
    size_t cap = mem_db.cap ? 2 * mem_db.cap : 64;
    if (cap < mem_db.count + k)
        cap = mem_db.count + k;
    r->grown = malloc(cap * sizeof(*r->grown));
    r->cap = cap;
    return r->grown != NULL;
}

/* With mem_db.lock held for writing: appends add[0..k) (seqs head + 1...)
 * into the room reserved and prunes. Returns the array replaced, for the
 * caller to free after unlocking (NULL when none). Cannot fail. */
static struct mem_change **feed_append(struct mem_change *const *add, size_t k,
                                       const struct feed_room *r)
{
    struct mem_change **old = NULL;
    if (r->grown) {
        if (mem_db.count)
            memcpy(r->grown, mem_db.changes + mem_db.first,
                   mem_db.count * sizeof(*r->grown));
        old = mem_db.changes;
        mem_db.changes = r->grown;
        mem_db.cap = r->cap;
        mem_db.first = 0;
    } else if (mem_db.first + mem_db.count + k > mem_db.cap) {
        memmove(mem_db.changes, mem_db.changes + mem_db.first,
                mem_db.count * sizeof(*mem_db.changes));
        mem_db.first = 0;
    }
    for (size_t i = 0; i < k; i++) {
        mem_db.changes[mem_db.first + mem_db.count++] = add[i];
        mem_db.head = add[i]->c.seq;
    }
    if (mem_db.count > SL_STORE_FEED_KEEP + MEM_PRUNE_SLACK) {
        size_t drop = mem_db.count - SL_STORE_FEED_KEEP;
        for (size_t i = 0; i < drop; i++)
            free(mem_db.changes[mem_db.first + i]);
        mem_db.first += drop;
        mem_db.count -= drop;
    }
    return old;
}

/* Wakes wait_changes. Call with mem_db.mu held (so head only grows). */
static void feed_notify(void)
{
    pthread_mutex_lock(&mem_wake.mu);
    mem_wake.head = mem_db.head;
    pthread_cond_broadcast(&mem_wake.cv);
    pthread_mutex_unlock(&mem_wake.mu);
}

static int mem_open(const struct sl_store_type *type, const char *arg,
                    struct sl_store **out, struct sl_err *err)
{
    (void)arg; /* "memory:" takes no argument */
    *out = NULL;
    struct mem_store *st = calloc(1, sizeof(*st));
    if (!st)
        return sl_err_set(err, SL_ENOMEM, "memory: out of memory");
    st->base.type = type;
    pthread_mutex_lock(&mem_db.mu);
    mem_db.refs++;
    pthread_mutex_lock(&mem_wake.mu);
    st->seen = mem_wake.head;
    pthread_mutex_unlock(&mem_wake.mu);
    pthread_mutex_unlock(&mem_db.mu);
    *out = &st->base;
    return SL_OK;
}

/* v6: memory: has no options. */
static int mem_open_with(const struct sl_store_type *type, const char *arg,
                         const struct sl_store_options *opts,
                         struct sl_store **out, struct sl_err *err)
{
    (void)opts;
    return mem_open(type, arg, out, err);
}

static void mem_close(struct sl_store *st)
{
    if (!st)
        return;
    sl__mem_import_close((struct mem_store *)st); /* a session left open */
    pthread_mutex_lock(&mem_db.mu);
    if (--mem_db.refs == 0)
        table_free(); /* no connection left, so no reader */
    pthread_mutex_unlock(&mem_db.mu);
    free(st);
}

/* query_logs, with mem_db.lock held for reading. */
static int query_locked(const struct sl_log_query *q, struct sl_log_page *out,
                        struct sl_err *err)
{
    int rc = SL_OK;
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
    if (rc != SL_OK)
        sl_log_page_free(out);
    return rc;
}

/* query_logs, and with seq set the feed's head in the same read. */
static int query(const struct sl_log_query *q, struct sl_log_page *out,
                 int64_t *seq, struct sl_err *err)
{
    sl_log_page_init(out);
    if (q->deadline_us) { /* a copy from memory: checked once, up front */
        if (sl_clock_us() > q->deadline_us)
            return sl_err_set(err, SL_ETIMEOUT,
                              "deadline passed before the query");
    }
    if (pthread_rwlock_rdlock(&mem_db.lock) != 0)
        return sl_err_set(err, SL_EUNAVAIL, "memory: cannot take read lock");
    int rc = query_locked(q, out, err);
    if (seq)
        *seq = rc == SL_OK ? mem_db.head : 0;
    pthread_rwlock_unlock(&mem_db.lock);
    return rc;
}

static int mem_query_logs(struct sl_store *st, const struct sl_log_query *q,
                          struct sl_log_page *out, struct sl_err *err)
{
    (void)st;
    return query(q, out, NULL, err);
}

static int mem_query_snapshot(struct sl_store *st, const struct sl_log_query *q,
                              struct sl_log_page *out, int64_t *seq,
                              struct sl_err *err)
{
    (void)st;
    return query(q, out, seq, err);
}

static int cmp_pending(const void *a, const void *b)
{
    const struct mem_pending *x = a, *y = b;
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

/* The end of an import (store_mem_import.c): build, then swap. */
int sl__mem_commit(struct mem_pending *add, size_t n, struct sl_err *err)
{
    struct mem_service **table = NULL; /* the next mem_db.svcs */
    struct mem_service **gone = NULL;  /* the services they replace */
    struct mem_change **chg = NULL;    /* the feed's new changes */
    struct mem_change **old_feed = NULL;
    struct feed_room room = {NULL, 0};
    size_t n_add = n, n_table = 0, n_gone = 0, n_chg = 0;
    int rc = SL_OK;

    pthread_mutex_lock(&mem_db.mu); /* mem_db.svcs is ours to read now */
    if (n == 0)
        goto out;
    table = calloc(mem_db.n + n, sizeof(*table));
    gone = calloc(n, sizeof(*gone));
    chg = calloc(n, sizeof(*chg));
    if (!table || !gone || !chg || !feed_reserve(n, &room)) {
        rc = import_nomem(n, err);
        goto out;
    }
    /* The feed: "the whole service was replaced", one per service. */
    for (; n_chg < n; n_chg++) {
        chg[n_chg] = change_new(mem_db.head + 1 + (int64_t)n_chg,
                                add[n_chg].v->project_id,
                                add[n_chg].v->service_id, 0, NULL);
        if (!chg[n_chg]) {
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
    old_feed = feed_append(chg, n_chg, &room);
    pthread_rwlock_unlock(&mem_db.lock);
    feed_notify();
    table = old;
    room.grown = old_feed;
    n_add = n_chg = 0; /* the table and the feed own them now */
out:
    pthread_mutex_unlock(&mem_db.mu);
    for (size_t x = 0; x < n_chg; x++)
        free(chg[x]);
    free(chg);
    free(room.grown);
    for (size_t x = 0; x < n_gone; x++)
        free(gone[x]);
    for (size_t x = 0; x < n_add; x++)
        free(add[x].v);
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

/* ---- writes (v4) -------------------------------------------------------- */

static int write_nomem(const char *what, struct sl_err *err)
{
    return sl_err_set(err, SL_ENOMEM,
                      "memory: out of memory in %s, nothing changed", what);
}

/* A copy of v with the name and the logs given (in order: time ascending,
 * ties in the order wanted); NULL when memory runs out. */
static struct mem_service *service_redo(const struct mem_service *v,
                                        const char *name,
                                        const struct sl_import_log *logs,
                                        size_t n)
{
    struct sl_import_service in = {
        v->project_id, v->service_id, name, v->infer_type, n, logs};
    return sl__mem_service_new(&in);
}

/* v's logs as import logs, with room for one more; NULL when memory runs
 * out. The caller frees it. */
static struct sl_import_log *logs_of(const struct mem_service *v)
{
    struct sl_import_log *l = malloc((v->n_logs + 1) * sizeof(*l));
    for (size_t i = 0; l && i < v->n_logs; i++) {
        l[i].update_time = v->logs[i].update_time;
        l[i].body = v->logs[i].body;
    }
    return l;
}

static const char *type_name(int infer_type)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
        &modelarts__v1__infer_type__descriptor, infer_type);
    return v ? v->name : "unknown";
}

static int mem_put_service(struct sl_store *st, const struct sl_service_put *p,
                           bool *created, struct sl_err *err)
{
    struct mem_service *nv = NULL, *old = NULL;
    struct mem_service **table = NULL, **old_table = NULL;
    struct mem_change *chg = NULL, **old_feed = NULL;
    struct feed_room room = {NULL, 0};
    struct sl_import_log *logs = NULL;
    bool found;
    int rc = SL_OK;
    (void)st;

    *created = false;
    pthread_mutex_lock(&mem_db.mu); /* mem_db is ours to read now */
    size_t at = find_at(p->project_id, p->service_id, &found);
    if (found) {
        const struct mem_service *v = mem_db.svcs[at];
        if (v->infer_type != p->infer_type) {
            rc = sl_err_set(err, SL_ECONFLICT,
                            "service %s of project %s is %s, not %s: a "
                            "service's infer_type never changes",
                            p->service_id, p->project_id,
                            type_name(v->infer_type), type_name(p->infer_type));
            goto out;
        }
        if (strcmp(v->service_name, p->service_name) == 0)
            goto out; /* nothing to change */
        if (!(logs = logs_of(v)) ||
            !(nv = service_redo(v, p->service_name, logs, v->n_logs)))
            goto nomem;
    } else {
        struct sl_import_service in = {
            p->project_id, p->service_id, p->service_name, p->infer_type, 0,
            NULL};
        if (!(nv = sl__mem_service_new(&in)) ||
            !(table = malloc((mem_db.n + 1) * sizeof(*table))))
            goto nomem;
        if (at)
            memcpy(table, mem_db.svcs, at * sizeof(*table));
        table[at] = nv;
        if (mem_db.n > at)
            memcpy(table + at + 1, mem_db.svcs + at,
                   (mem_db.n - at) * sizeof(*table));
    }
    /* Created or renamed: one "replaced" change (store.h). */
    if (!(chg = change_new(mem_db.head + 1, p->project_id, p->service_id, 0,
                           NULL)) ||
        !feed_reserve(1, &room))
        goto nomem;
    pthread_rwlock_wrlock(&mem_db.lock);
    if (found) {
        old = mem_db.svcs[at];
        mem_db.svcs[at] = nv;
    } else {
        old_table = mem_db.svcs;
        mem_db.svcs = table;
        mem_db.n++;
        table = NULL;
    }
    old_feed = feed_append(&chg, 1, &room);
    pthread_rwlock_unlock(&mem_db.lock);
    feed_notify();
    room.grown = old_feed;
    *created = !found;
    nv = NULL;
    chg = NULL;
    goto out;
nomem:
    rc = write_nomem("put_service", err);
out:
    pthread_mutex_unlock(&mem_db.mu);
    free(nv);
    free(old);
    free(table);
    free(old_table);
    free(chg);
    free(room.grown);
    free(logs);
    return rc;
}

static int mem_record_log(struct sl_store *st, const char *project_id,
                          const char *service_id,
                          const struct sl_import_log *log, bool *created,
                          int64_t *seq, struct sl_err *err)
{
    struct mem_service *nv = NULL, *old = NULL;
    struct mem_change *chg = NULL, **old_feed = NULL;
    struct feed_room room = {NULL, 0};
    struct sl_import_log *logs = NULL;
    bool found;
    int rc = SL_OK;
    (void)st;

    *created = false;
    *seq = 0;
    if (log->update_time <= 0)
        return sl_err_set(err, SL_EINVAL,
                          "record_log: update_time %lld is not positive",
                          (long long)log->update_time);
    pthread_mutex_lock(&mem_db.mu); /* mem_db is ours to read now */
    size_t at = find_at(project_id, service_id, &found);
    if (!found) {
        rc = sl_err_set(err, SL_ENOTFOUND, "service %s not found in project %s",
                        service_id, project_id);
        goto out;
    }
    const struct mem_service *v = mem_db.svcs[at];
    if (v->infer_type == MODELARTS__V1__INFER_TYPE__BATCH) {
        rc = sl_err_set(err, SL_EBATCH,
                        "service %s of project %s is a batch service: it "
                        "has no update logs",
                        service_id, project_id);
        goto out;
    }
    /* The first log at that time keeps its place with the new body and
     * the others go; a new time goes after the logs before it. */
    size_t lo = log_bound(v, log->update_time, false);
    size_t hi = log_bound(v, log->update_time, true);
    if (!(logs = logs_of(v))) {
        rc = write_nomem("record_log", err);
        goto out;
    }
    size_t n = v->n_logs;
    if (lo < hi) {
        logs[lo] = *log;
        memmove(logs + lo + 1, logs + hi, (n - hi) * sizeof(*logs));
        n -= hi - lo - 1;
    } else {
        memmove(logs + lo + 1, logs + lo, (n - lo) * sizeof(*logs));
        logs[lo] = *log;
        n++;
    }
    if (!(nv = service_redo(v, v->service_name, logs, n)) ||
        !(chg = change_new(mem_db.head + 1, project_id, service_id,
                           log->update_time, &log->body)) ||
        !feed_reserve(1, &room)) {
        rc = write_nomem("record_log", err);
        goto out;
    }
    int64_t new_seq = chg->c.seq;
    pthread_rwlock_wrlock(&mem_db.lock);
    old = mem_db.svcs[at];
    mem_db.svcs[at] = nv;
    old_feed = feed_append(&chg, 1, &room);
    pthread_rwlock_unlock(&mem_db.lock);
    feed_notify();
    room.grown = old_feed;
    *created = lo == hi;
    *seq = new_seq;
    nv = NULL;
    chg = NULL;
out:
    pthread_mutex_unlock(&mem_db.mu);
    free(nv);
    free(old);
    free(chg);
    free(room.grown);
    free(logs);
    return rc;
}

/* ---- reading and waiting for the feed ----------------------------------- */

static int feed_nomem(struct sl_err *err)
{
    return sl_err_set(err, SL_ENOMEM, "memory: out of memory reading changes");
}

static int mem_read_changes(struct sl_store *st, int64_t after, size_t max,
                            struct sl_change_batch *out, struct sl_err *err)
{
    int rc = SL_OK;
    (void)st;
    sl_change_batch_init(out);
    if (pthread_rwlock_rdlock(&mem_db.lock) != 0)
        return sl_err_set(err, SL_EUNAVAIL, "memory: cannot take read lock");
    out->head = mem_db.head;
    if (after < 0 || max == 0)
        goto out;
    int64_t gone = mem_db.head - (int64_t)mem_db.count; /* pruned up to */
    out->lost = after < gone;
    size_t from = after < gone ? 0 : (size_t)(after - gone);
    if (from >= mem_db.count)
        goto out;
    size_t n = mem_db.count - from;
    if (n > max)
        n = max;
    out->changes = sl_arena_alloc(&out->arena, n * sizeof(*out->changes));
    if (!out->changes) {
        rc = feed_nomem(err);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const struct sl_change *c = &mem_db.changes[mem_db.first + from + i]->c;
        struct sl_change *d = &out->changes[i];
        uint8_t *body = sl_arena_alloc(&out->arena, c->body.len + 1);
        d->seq = c->seq;
        d->update_time = c->update_time;
        d->project_id =
            sl_arena_strndup(&out->arena, c->project_id, strlen(c->project_id));
        d->service_id =
            sl_arena_strndup(&out->arena, c->service_id, strlen(c->service_id));
        if (!body || !d->project_id || !d->service_id) {
            rc = feed_nomem(err);
            goto out;
        }
        if (c->body.len)
            memcpy(body, c->body.data, c->body.len);
        d->body.data = body;
        d->body.len = c->body.len;
        out->n++;
    }
out:
    pthread_rwlock_unlock(&mem_db.lock);
    if (rc != SL_OK)
        sl_change_batch_free(out);
    return rc;
}

static int mem_wait_changes(struct sl_store *base, int timeout_ms,
                            struct sl_err *err)
{
    struct mem_store *st = (struct mem_store *)base;
    struct timespec until;
    (void)err;
    clock_gettime(CLOCK_MONOTONIC, &until);
    if (timeout_ms > 0) {
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&mem_wake.mu);
    while (mem_wake.head == st->seen && timeout_ms > 0)
        if (pthread_cond_clockwait(&mem_wake.cv, &mem_wake.mu, CLOCK_MONOTONIC,
                                   &until) == ETIMEDOUT)
            break;
    st->seen = mem_wake.head;
    pthread_mutex_unlock(&mem_wake.mu);
    return SL_OK;
}

const struct sl_store_type sl_store_memory = {
    .version = 6,
    .name = "memory",
    .open = mem_open,
    .query_logs = mem_query_logs,
    .import = sl__mem_import,
    .ping = mem_ping,
    .close = mem_close,
    .count_services = mem_count_services,
    .aliases = NULL,
    .takes_uri = false,
    .uri_form = "memory:",
    .put_service = mem_put_service,
    .record_log = mem_record_log,
    .query_snapshot = mem_query_snapshot,
    .read_changes = mem_read_changes,
    .wait_changes = mem_wait_changes,
    .import_begin = sl__mem_import_begin,
    .import_add = sl__mem_import_add,
    .import_end = sl__mem_import_end,
    .open_with = mem_open_with,
};
