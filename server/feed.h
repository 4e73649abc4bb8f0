/* feed.h -- the change feed of one server: who watches what, and fan-out
 *
 * One struct sl_feed per server. Its thread owns two store connections:
 * one blocks in wait_changes() (store.h v4: PostgreSQL LISTEN, SQLite
 * data_version, memory's condition variable), the other reads the changes
 * that woke it (read_changes, from the last seq this server has seen).
 * Each change is encoded once, as a packed WatchServiceLogsResponse
 * {log}, and the same refcounted slice is queued on every watcher of its
 * (project, service) -- and update_time, when the watcher filters -- so a
 * write costs one read per server, not one per watcher.
 *
 * A watcher (struct sl_feed_watch, embedded in its owner's state: the
 * gRPC watch handler's per-call state, rpc_watch_logs.c, or the
 * in-process REST watch's stream, http_watch_local.c) is listed before
 * its snapshot is read and told the
 * snapshot's seq afterwards (sl_feed_ready): changes the hub dispatches in
 * between are queued, and those the snapshot already holds (seq <= its
 * seq) are dropped, so every change after the snapshot reaches it exactly
 * once, in commit order, and none is lost in the gap.
 *
 * The feed ends a watcher, with a code its handler sends as the status:
 *   SL_ELAGGING   its queue is full (--watch-queue): a slow reader; or
 *                 this server missed changes (pruned before it read them)
 *   SL_EREPLACED  an import (or a rename: PutService) replaced its
 *                 service: watch again
 *   SL_EUNAVAIL   the server is draining (sl_feed_drain)
 *
 * LOCKING: one mutex guards the list, every listed watcher's fields and
 * whatever the owner keeps under it (its sending state). When the feed
 * queues on or ends a watcher it calls the watcher's kick(arg) with the
 * lock held, from the feed thread or the draining thread; the owner sends
 * from there (the gRPC handler posts its next batch, as health's Watch
 * does; the REST watch renders the event and resumes its connection). A
 * kick may unlist its watcher (sl_feed_remove). Lock order: the feed lock
 * first; under it only a watcher owner's own lock (the REST watch hub's,
 * http_watch.c), never the health lock.
 */
#ifndef SL_FEED_H
#define SL_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <grpc/slice.h>

#include "error.h"
#include "limits.h"

struct sl_store_options;

struct sl_feed;
struct sl_cache;

/* A queued message: the change's seq and its packed response. */
struct sl_feed_msg {
    int64_t seq;
    grpc_slice msg;
};

/* Called on news (a message queued, or the watcher ended), feed lock
 * held; arg is the one given to sl_feed_add. */
typedef void sl_feed_kick_fn(void *arg);

/* One watcher. Owner: the watch handler (zeroed, then filled by
 * sl_feed_add); every field below is under the feed lock while listed. */
struct sl_feed_watch {
    sl_feed_kick_fn *kick; /* called on news */
    void *arg;             /* kick's */
    char project_id[SL_MAX_ID + 1];
    char service_id[SL_MAX_ID + 1];
    int64_t update_time;   /* filter; 0: every log */
    int64_t since;         /* snapshot's seq; -1 while not read yet */
    struct sl_feed_msg *q; /* ring of queued messages */
    size_t q_head, q_len;  /* first entry, entries */
    size_t q_cap;          /* allocated entries (<= --watch-queue) */
    int end_rc;            /* SL_OK, or why the feed ended it */
    char end_msg[160];     /* the status text for end_rc */
    bool listed;           /* on the feed's list */
    struct sl_feed_watch *prev, *next;
};

struct sl_feed_config {
    const char *backend;    /* store URI: the feed opens two connections */
    int max_watchers;       /* listed watchers at most */
    int queue_max;          /* messages one watcher may have queued */
    struct sl_cache *cache; /* the server's response cache, or NULL: each
                               change read invalidates its service, `lost`
                               flushes it, a feed that cannot read (or a
                               backend without one) suspends it */
    const struct sl_store_options *store_opts; /* opened with these (store.h);
                                                  NULL: the defaults */
};

/* Opens the connections, reads the feed's head and starts the thread.
 * On success *out is the caller's (sl_feed_stop); on failure NULL and err
 * says why. A backend older than store.h v4 has no feed: the feed starts
 * without a thread and refuses every watcher with SL_EMETHOD. */
int sl_feed_start(const struct sl_feed_config *cfg, struct sl_feed **out,
                  struct sl_err *err);

/* Ends every watcher with SL_EUNAVAIL ("server is shutting down") and
 * refuses new ones from now on. Accepts NULL. */
void sl_feed_drain(struct sl_feed *f);

/* Stops the thread, closes the connections and frees f. Call once no
 * watcher is listed (after the workers are joined). Accepts NULL. */
void sl_feed_stop(struct sl_feed *f);

void sl_feed_lock(struct sl_feed *f);
void sl_feed_unlock(struct sl_feed *f);

/* Lists w (kick and arg, ids and filter from the arguments; since -1)
 * unless the backend has no feed (SL_EMETHOD), the server drains
 * (SL_EUNAVAIL) or --max-watchers are listed (SL_EOVERLOAD). Takes the
 * lock. */
int sl_feed_add(struct sl_feed *f, struct sl_feed_watch *w,
                sl_feed_kick_fn *kick, void *arg, const char *project_id,
                const char *service_id, int64_t update_time,
                struct sl_err *err);

/* The snapshot was read at seq: drops queued messages it holds. Lock
 * held. */
void sl_feed_ready(struct sl_feed *f, struct sl_feed_watch *w, int64_t seq);

/* Takes the oldest queued message (the caller owns its slice): false when
 * none. Lock held. */
bool sl_feed_pop(struct sl_feed_watch *w, grpc_slice *msg);

/* Unlists w and drops its queue; harmless when not listed. Lock held. */
void sl_feed_remove(struct sl_feed *f, struct sl_feed_watch *w);

/* Watchers listed now (for metrics). Takes the lock. */
int sl_feed_watchers(struct sl_feed *f);

#endif
