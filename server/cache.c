/* cache.c -- the response cache (cache.h)
 *
 * DESIGN. One hash table of chains, indexed by the hash of (project,
 * service) only, so that every filter of a service is on one chain and an
 * invalidation finds them all there; a chain holds at most
 * SL_CACHE_VARIANTS entries of one service, so a lookup walks a short
 * chain. The table starts empty (no array) and doubles when the entries
 * outnumber its buckets. One doubly linked LRU list, most recent first;
 * a hit moves its entry to the front. Tickets are per stripe (the hash's
 * low bits): an invalidation bumps its stripe's generation, a flush or a
 * suspension every stripe's. Freeing (slice unref, free) happens after
 * the lock is released: victims are chained on a local list.
 */
#include "cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "metrics.h"

#define SL_CACHE_STRIPES 256 /* ticket generations */
#define SL_CACHE_MIN_BUCKETS 256

struct entry {
    struct entry *chain;       /* next on the bucket's chain */
    struct entry *prev, *next; /* LRU list (sentinel: the cache's lru) */
    uint64_t hash;             /* of (project, service) */
    int64_t update_time;       /* the filter */
    int64_t seq;               /* feed seq the answer reflects */
    size_t cost;               /* bytes counted against max_bytes */
    grpc_slice answer;         /* a ref of our own */
    grpc_slice json;           /* its REST rendering (ours), or empty */
    const char *service_id;    /* into ids */
    char ids[];                /* project_id NUL service_id NUL */
};

struct sl_cache {
    pthread_mutex_t mu; /* guards everything below */
    size_t max_bytes;
    size_t max_entry; /* larger answers are not cached */
    size_t bytes, n;
    struct entry **buckets; /* NULL until the first fill */
    size_t n_buckets;       /* a power of two */
    bool suspended;
    uint64_t gen[SL_CACHE_STRIPES]; /* >= 1: 0 is "no ticket" */
    struct entry lru; /* sentinel: lru.next most recent; last, since an
                         entry ends in a flexible array (clang) */
};

static bool same_service(const struct entry *e, uint64_t h,
                         const char *project_id, const char *service_id)
{
    return e->hash == h && strcmp(e->ids, project_id) == 0 &&
           strcmp(e->service_id, service_id) == 0;
}

int sl_cache_create(size_t max_bytes, struct sl_cache **out, struct sl_err *err)
{
    *out = NULL;
    if (!max_bytes)
        return SL_OK;
    struct sl_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return sl_err_set(err, SL_ENOMEM, "out of memory (response cache)");
    pthread_mutex_init(&c->mu, NULL);
    c->max_bytes = max_bytes;
    c->max_entry = max_bytes / 8;
    c->lru.prev = c->lru.next = &c->lru;
    for (size_t i = 0; i < SL_CACHE_STRIPES; i++)
        c->gen[i] = 1;
    *out = c;
    return SL_OK;
}

static void free_list(struct entry *victims)
{
    while (victims) {
        struct entry *next = victims->chain;
        grpc_slice_unref(victims->answer);
        grpc_slice_unref(victims->json);
        free(victims);
        victims = next;
    }
}

/* Unlinks e from its chain (*link points at it) and the LRU list and
 * puts it on *victims. Lock held. */
static void drop(struct sl_cache *c, struct entry **link, struct entry *e,
                 struct entry **victims)
{
    *link = e->chain;
    e->prev->next = e->next;
    e->next->prev = e->prev;
    c->bytes -= e->cost;
    c->n--;
    e->chain = *victims;
    *victims = e;
}

/* The link that points at e (e is in the table). Lock held. */
static struct entry **link_of(struct sl_cache *c, const struct entry *e)
{
    struct entry **link = &c->buckets[e->hash & (c->n_buckets - 1)];
    while (*link != e)
        link = &(*link)->chain;
    return link;
}

/* Drops every entry; counts them as invalidations. Lock held. */
static size_t drop_all(struct sl_cache *c, struct entry **victims)
{
    size_t n = c->n;
    while (c->lru.next != &c->lru) {
        struct entry *e = c->lru.next;
        drop(c, link_of(c, e), e, victims);
    }
    for (size_t i = 0; i < SL_CACHE_STRIPES; i++)
        c->gen[i]++;
    return n;
}

void sl_cache_destroy(struct sl_cache *c)
{
    if (!c)
        return;
    struct entry *victims = NULL;
    size_t bytes = c->bytes, n = drop_all(c, &victims);
    free_list(victims);
    sl_metrics_cache_size(-(long long)bytes, -(long long)n);
    free(c->buckets);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* The entry of the key, or NULL. Lock held. */
static struct entry *find(struct sl_cache *c, uint64_t h,
                          const char *project_id, const char *service_id,
                          int64_t update_time)
{
    if (!c->buckets)
        return NULL;
    for (struct entry *e = c->buckets[h & (c->n_buckets - 1)]; e; e = e->chain)
        if (e->update_time == update_time &&
            same_service(e, h, project_id, service_id))
            return e;
    return NULL;
}

bool sl_cache_get(struct sl_cache *c, const char *project_id,
                  const char *service_id, int64_t update_time,
                  grpc_slice *answer, uint64_t *ticket)
{
    return sl_cache_lookup(c, project_id, service_id, update_time, answer, NULL,
                           ticket);
}

bool sl_cache_lookup(struct sl_cache *c, const char *project_id,
                     const char *service_id, int64_t update_time,
                     grpc_slice *answer, struct sl_cache_extra *extra,
                     uint64_t *ticket)
{
    *ticket = 0;
    if (extra) {
        extra->json = grpc_empty_slice();
        extra->seq = -1;
    }
    if (!c)
        return false;
    uint64_t h = sl_service_hash(project_id, service_id);
    pthread_mutex_lock(&c->mu);
    struct entry *e =
        c->suspended ? NULL : find(c, h, project_id, service_id, update_time);
    if (e) {
        *answer = grpc_slice_ref(e->answer);
        if (extra) {
            extra->seq = e->seq;
            if (GRPC_SLICE_LENGTH(e->json))
                extra->json = grpc_slice_ref(e->json);
        }
        if (c->lru.next != e) { /* to the front */
            e->prev->next = e->next;
            e->next->prev = e->prev;
            e->next = c->lru.next;
            e->prev = &c->lru;
            c->lru.next->prev = e;
            c->lru.next = e;
        }
    } else if (!c->suspended) {
        *ticket = c->gen[h % SL_CACHE_STRIPES];
    }
    pthread_mutex_unlock(&c->mu);
    if (e)
        sl_metrics_cache_hit();
    else
        sl_metrics_cache_miss();
    return e != NULL;
}

/* Doubles the table (or makes the first); false when memory ran out.
 * Lock held. */
static bool grow(struct sl_cache *c)
{
    size_t nb = c->n_buckets ? 2 * c->n_buckets : SL_CACHE_MIN_BUCKETS;
    struct entry **b = calloc(nb, sizeof(*b));
    if (!b)
        return false;
    for (size_t i = 0; i < c->n_buckets; i++)
        for (struct entry *e = c->buckets[i], *next; e; e = next) {
            next = e->chain;
            e->chain = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
        }
    free(c->buckets);
    c->buckets = b;
    c->n_buckets = nb;
    return true;
}

static size_t evict(struct sl_cache *c, struct entry **victims);

void sl_cache_put(struct sl_cache *c, const char *project_id,
                  const char *service_id, int64_t update_time, int64_t seq,
                  grpc_slice answer, uint64_t ticket)
{
    if (!c || !ticket)
        return;
    size_t lp = strlen(project_id) + 1, ls = strlen(service_id) + 1;
    size_t cost = sizeof(struct entry) + lp + ls + GRPC_SLICE_LENGTH(answer);
    if (cost > c->max_entry)
        return;
    struct entry *n = malloc(sizeof(*n) + lp + ls);
    if (!n)
        return;
    memcpy(n->ids, project_id, lp);
    memcpy(n->ids + lp, service_id, ls);
    n->service_id = n->ids + lp;
    n->hash = sl_service_hash(project_id, service_id);
    n->update_time = update_time;
    n->seq = seq;
    n->cost = cost;
    n->answer = grpc_slice_ref(answer);
    n->json = grpc_empty_slice();

    struct entry *victims = NULL;
    size_t evicted = 0, replaced = 0;
    long long dbytes = 0, dn = 0;
    pthread_mutex_lock(&c->mu);
    size_t before_bytes = c->bytes, before_n = c->n;
    bool keep = !c->suspended && c->gen[n->hash % SL_CACHE_STRIPES] == ticket;
    if (keep && c->n >= c->n_buckets && !grow(c))
        keep = false;
    if (keep) { /* the same key (a newer seq wins) and the variants */
        size_t variants = 0;
        struct entry **link = &c->buckets[n->hash & (c->n_buckets - 1)];
        for (struct entry *e; keep && (e = *link);) {
            if (!same_service(e, n->hash, project_id, service_id)) {
                link = &e->chain;
            } else if (e->update_time != update_time) {
                variants++;
                link = &e->chain;
            } else if (e->seq >= seq) {
                keep = false;
            } else {
                drop(c, link, e, &victims);
                replaced++;
            }
        }
        if (variants >= SL_CACHE_VARIANTS)
            keep = false;
    }
    if (keep) {
        struct entry **b = &c->buckets[n->hash & (c->n_buckets - 1)];
        n->chain = *b;
        *b = n;
        n->next = c->lru.next;
        n->prev = &c->lru;
        c->lru.next->prev = n;
        c->lru.next = n;
        c->bytes += cost;
        c->n++;
        n = NULL;
        evicted = evict(c, &victims); /* the least recent go */
    }
    dbytes = (long long)c->bytes - (long long)before_bytes;
    dn = (long long)c->n - (long long)before_n;
    pthread_mutex_unlock(&c->mu);
    if (n) {
        n->chain = victims;
        victims = n;
    }
    free_list(victims);
    sl_metrics_cache_size(dbytes, dn);
    sl_metrics_cache_evicted(evicted);
    sl_metrics_cache_invalidated(replaced);
}

/* Drops the least recent entries while over budget. Lock held. */
static size_t evict(struct sl_cache *c, struct entry **victims)
{
    size_t n = 0;
    while (c->bytes > c->max_bytes) {
        struct entry *e = c->lru.prev;
        drop(c, link_of(c, e), e, victims);
        n++;
    }
    return n;
}

void sl_cache_attach_json(struct sl_cache *c, const char *project_id,
                          const char *service_id, int64_t update_time,
                          int64_t seq, grpc_slice json)
{
    if (!c || !GRPC_SLICE_LENGTH(json))
        return;
    uint64_t h = sl_service_hash(project_id, service_id);
    struct entry *victims = NULL;
    size_t evicted = 0;
    grpc_slice ref = grpc_slice_ref(json);
    bool kept = false;
    pthread_mutex_lock(&c->mu);
    size_t before_bytes = c->bytes, before_n = c->n;
    struct entry *e =
        c->suspended ? NULL : find(c, h, project_id, service_id, update_time);
    if (e && e->seq == seq && !GRPC_SLICE_LENGTH(e->json) &&
        e->cost + GRPC_SLICE_LENGTH(json) <= c->max_entry) {
        e->json = ref;
        e->cost += GRPC_SLICE_LENGTH(json);
        c->bytes += GRPC_SLICE_LENGTH(json);
        kept = true;
        evicted = evict(c, &victims);
    }
    long long dbytes = (long long)c->bytes - (long long)before_bytes;
    long long dn = (long long)c->n - (long long)before_n;
    pthread_mutex_unlock(&c->mu);
    if (!kept)
        grpc_slice_unref(ref);
    free_list(victims);
    sl_metrics_cache_size(dbytes, dn);
    sl_metrics_cache_evicted(evicted);
}

void sl_cache_invalidate(struct sl_cache *c, const char *project_id,
                         const char *service_id)
{
    if (!c)
        return;
    uint64_t h = sl_service_hash(project_id, service_id);
    struct entry *victims = NULL;
    size_t dropped = 0, bytes;
    pthread_mutex_lock(&c->mu);
    c->gen[h % SL_CACHE_STRIPES]++;
    bytes = c->bytes;
    if (c->buckets) {
        struct entry **link = &c->buckets[h & (c->n_buckets - 1)];
        for (struct entry *e; (e = *link);) {
            if (same_service(e, h, project_id, service_id)) {
                drop(c, link, e, &victims);
                dropped++;
            } else {
                link = &e->chain;
            }
        }
    }
    bytes -= c->bytes;
    pthread_mutex_unlock(&c->mu);
    free_list(victims);
    if (dropped) {
        sl_metrics_cache_size(-(long long)bytes, -(long long)dropped);
        sl_metrics_cache_invalidated(dropped);
    }
}

static void flush(struct sl_cache *c, int suspend)
{
    if (!c)
        return;
    struct entry *victims = NULL;
    pthread_mutex_lock(&c->mu);
    size_t bytes = c->bytes, n = 0;
    if (suspend >= 0)
        c->suspended = suspend;
    if (suspend != 0)
        n = drop_all(c, &victims);
    pthread_mutex_unlock(&c->mu);
    free_list(victims);
    if (n) {
        sl_metrics_cache_size(-(long long)bytes, -(long long)n);
        sl_metrics_cache_invalidated(n);
    }
}

void sl_cache_flush(struct sl_cache *c)
{
    flush(c, -1);
}

void sl_cache_suspend(struct sl_cache *c, bool off)
{
    flush(c, off ? 1 : 0);
}

void sl_cache_stats(struct sl_cache *c, struct sl_cache_stats *out)
{
    *out = (struct sl_cache_stats){0, 0};
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    out->bytes = c->bytes;
    out->entries = c->n;
    pthread_mutex_unlock(&c->mu);
}
