/* cache.h -- a server's response cache: packed answers of hot queries
 *
 * Keyed by (project_id, service_id, update_time filter), an entry holds
 * the packed QueryServiceLogsResponse the store read produced (a
 * refcounted grpc_slice: a hit hands out a new ref, never a copy) and the
 * feed seq that read reflected. The query path looks up after the request
 * is validated and authorized, so a hit skips only the store read.
 *
 * Invalidation: every change of the store's feed names a (project,
 * service); the server's feed thread drops that service's entries (every
 * filter) when it reads the change, whichever process or replica made it,
 * and a writer of this server drops them itself after its write, before it
 * answers. A feed that lost changes flushes everything; a feed that cannot
 * read suspends the cache (no hit, no fill) until it has caught up.
 *
 * The fill race. A fill is two steps: sl_cache_get (a miss) hands out a
 * ticket, the caller reads the store, sl_cache_put stores the answer only
 * if no invalidation of that key's stripe, no flush and no suspension
 * happened since the ticket. Why that is exact: an invalidation is
 * applied only after its change is committed; a change the page does not
 * hold was committed after the read began, so after the ticket, so its
 * invalidation either comes between ticket and put (the put is refused)
 * or after the put (the entry goes). And answers never go back: a put for
 * a key that is cached already replaces the entry only when its seq is
 * newer.
 *
 * Bounded: at most max_bytes (answers plus entry overhead), least recently
 * used first out; an answer over max_bytes / 8 is not cached; at most
 * SL_CACHE_VARIANTS filters of one service are cached at once. An empty
 * cache holds no memory but the struct.
 *
 * THREAD SAFETY: every function may be called from any thread. One mutex,
 * held for the hash lookup and the slice ref (get), the link-in and the
 * evictions (put), the unlinks (invalidate); slices are unref'd and
 * entries freed after it is released. Lock order: taken alone.
 *
 * Metrics (process-wide, metrics.h): hits, misses, evictions,
 * invalidations (entries dropped by a change or a flush), bytes, entries.
 */
#ifndef SL_CACHE_H
#define SL_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <grpc/slice.h>

#include "error.h"

#define SL_CACHE_VARIANTS 8 /* filters of one service cached at once */

struct sl_cache;

/* Creates a cache of at most max_bytes. max_bytes 0 disables it: *out is
 * NULL and every function below takes NULL as "no cache" (a miss, no
 * fill). Owner: the caller, sl_cache_destroy(). SL_OK or SL_ENOMEM. */
int sl_cache_create(size_t max_bytes, struct sl_cache **out,
                    struct sl_err *err);

/* Frees every entry (unref'ing its slice) and the cache; accepts NULL. */
void sl_cache_destroy(struct sl_cache *c);

/* Looks (project_id, service_id, update_time) up. A hit: true and *answer
 * a new ref the caller unrefs. A miss: false, *answer untouched, and
 * *ticket what sl_cache_put needs (0 when this fill must not be kept). */
bool sl_cache_get(struct sl_cache *c, const char *project_id,
                  const char *service_id, int64_t update_time,
                  grpc_slice *answer, uint64_t *ticket);

/* sl_cache_get with more: the seq of the answer (a hit), and the JSON
 * rendering attached to it (sl_cache_attach_json), when there is one.
 * extra may be NULL (then this is sl_cache_get). On a hit extra->json is
 * a new ref or an empty slice; on a miss it is empty and extra->seq -1. */
struct sl_cache_extra {
    grpc_slice json; /* the caller unrefs it */
    int64_t seq;
};
bool sl_cache_lookup(struct sl_cache *c, const char *project_id,
                     const char *service_id, int64_t update_time,
                     grpc_slice *answer, struct sl_cache_extra *extra,
                     uint64_t *ticket);

/* Attaches json, the REST rendering of the answer cached for the key
 * with this seq (a new ref is taken), so that the in-process REST path
 * renders it once. Nothing happens when the key is not cached with that
 * seq (it changed or went), has its JSON already, or the JSON would make
 * the entry too big; it counts against max_bytes like the answer. */
void sl_cache_attach_json(struct sl_cache *c, const char *project_id,
                          const char *service_id, int64_t update_time,
                          int64_t seq, grpc_slice json);

/* Stores answer (a new ref is taken; the caller keeps its own) as read at
 * feed seq, unless ticket is stale (see the top), the answer is too big,
 * the service has SL_CACHE_VARIANTS filters cached, or the key is cached
 * with a seq at least as new. Evicts the least recently used entries to
 * stay within max_bytes. Memory failures only skip the fill. */
void sl_cache_put(struct sl_cache *c, const char *project_id,
                  const char *service_id, int64_t update_time, int64_t seq,
                  grpc_slice answer, uint64_t ticket);

/* Drops every entry of (project_id, service_id) and makes the tickets of
 * its stripe stale. */
void sl_cache_invalidate(struct sl_cache *c, const char *project_id,
                         const char *service_id);

/* Drops everything and makes every ticket stale. */
void sl_cache_flush(struct sl_cache *c);

/* off true: flushes and refuses hits and fills until called with false
 * (the feed cannot vouch for the entries). */
void sl_cache_suspend(struct sl_cache *c, bool off);

/* What the cache holds now (tests). */
struct sl_cache_stats {
    size_t bytes;   /* answers plus overhead */
    size_t entries; /* cached answers */
};
void sl_cache_stats(struct sl_cache *c, struct sl_cache_stats *out);

#endif
