/* store_pool.h -- a bounded set of store connections that threads share
 *
 * Without a pool every part of the server that reads or writes opens its
 * own connection (each gRPC worker, each REST shim thread, the health
 * prober, the change feed's two): --threads + --http-threads + 3 per
 * replica. With --pg-pool-size=N the server opens N connections at start,
 * and every one of those parts gets a handle instead (sl_store_pool_handle,
 * or sl_store_open_with with sl_store_options.pool set): a struct
 * sl_store whose every call borrows an idle connection of the pool for the
 * length of that call and gives it back, so the process never holds more
 * than N connections, however many threads it runs.
 *
 * A call that finds no idle connection waits for one (a mutex and a
 * condition variable) until its deadline: the query's own (q->deadline_us,
 * which --query-timeout bounds) or, for a call without one,
 * SL_STORE_POOL_WAIT_MS. Past it, the call fails with SL_EUNAVAIL (gRPC
 * UNAVAILABLE, HTTP 503) saying that every connection of the pool stayed
 * busy, without touching the backend.
 *
 * Pinning: a handle keeps the connection it borrowed beyond one call where
 * the backend's contract needs one session: from import_begin to
 * import_end (one transaction), and from the first wait_changes until the
 * handle is closed (the change feed's LISTEN session; store.h says that
 * connection does nothing else). So the feed's waiter holds one of the N
 * for the server's life, and N >= 2 leaves at least one for the rest.
 *
 * Reconnecting stays the backend's: a pooled connection that lost its
 * server reconnects by itself at its next use, with its back-off
 * (store_pg.c), as an unpooled one does.
 *
 * Threading: handles are used as connections are, by one thread at a time
 * each; the pool itself is shared by every thread and locks.
 */
#ifndef SL_STORE_POOL_H
#define SL_STORE_POOL_H

#include <stdint.h>

#include "error.h"
#include "store.h"

/* How long a call without a deadline (ping, writes, the feed) waits for
 * an idle connection before it fails with SL_EUNAVAIL. */
#define SL_STORE_POOL_WAIT_MS 1000

struct sl_store_pool;

/* What the pool has done so far (sl_store_pool_stats). */
struct sl_store_pool_stats {
    int size;           /* connections (opened at start) */
    int busy;           /* lent out now, pinned ones included */
    int busy_max;       /* the most ever lent out at once */
    uint64_t borrows;   /* calls that borrowed a connection */
    uint64_t waits;     /* of those, calls that found none idle and waited */
    uint64_t exhausted; /* calls that waited in vain (SL_EUNAVAIL) */
};

/* Opens size (>= 1) connections to uri with opts (opts->pool is ignored;
 * NULL: the defaults). On success *out is the caller's, freed with
 * sl_store_pool_close() once every handle is closed; on failure *out is
 * NULL, err says why (the first connection that failed) and nothing is
 * left open. */
int sl_store_pool_open(const char *uri, const struct sl_store_options *opts,
                       int size, struct sl_store_pool **out,
                       struct sl_err *err);

/* Closes the pool's connections and frees it. Every handle must be closed
 * first. Accepts NULL. */
void sl_store_pool_close(struct sl_store_pool *p);

/* sl_store_pool_handle(), which makes a handle, is declared in store.h
 * (sl_store_open_with calls it). */

/* Copies p's counters into *out. THREAD SAFETY: any thread. */
void sl_store_pool_stats(struct sl_store_pool *p,
                         struct sl_store_pool_stats *out);

#endif
