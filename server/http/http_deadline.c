/* http_deadline.c -- request deadlines: the connection list and its
 * sweeper (http_deadline.h has the rules)
 *
 * libmicrohttpd has no deadline for receiving a request, only an idle
 * timeout that every byte restarts, so the shim keeps its own: every
 * connection has a struct sl_http_conn (the shim keeps it as the
 * connection's socket_context) holding its socket and due_ms, the
 * CLOCK_MONOTONIC time by which its request must be in (0: none). The
 * worker that owns the connection moves due_ms: sl_http_conn_track() at
 * accept (MHD_CONNECTION_NOTIFY_STARTED: now + header_ms),
 * sl_http_conn_request_in() once a request is in (0),
 * sl_http_conn_response_sent() after a response (now + next_ms). The
 * sweeper wakes every SL_HTTP_SWEEP_MS, walks the list and shuts down
 * (shutdown(2), SHUT_RDWR) the socket of every connection past its
 * due_ms; libmicrohttpd, woken by the hang-up, then closes and frees the
 * connection itself, on its own thread, as for a client that left. The
 * sweeper never touches the HTTP library's connection, only the
 * descriptor.
 *
 * Locking and races:
 * - d->conns and every sl_http_conn's list links are guarded by d->lock;
 *   an sl_http_conn is inserted at STARTED and unlinked and freed at
 *   CLOSED, both on its worker thread, under the lock. due_ms is an
 *   atomic: the worker stores it, the sweeper reads it (under the lock, so
 *   the sl_http_conn is alive) and claims an expired one with
 *   compare-and-swap to 0, so a request completing at the deadline either
 *   wins (the connection is kept) or loses (it is closed; the request is
 *   dropped with the connection, as when its client leaves).
 * - Descriptor reuse: shutdown() on a descriptor that was closed and
 *   reused would hit an unrelated socket. The sweeper calls shutdown()
 *   only under the lock, on listed connections. libmicrohttpd 0.9.75
 *   calls the CLOSED notification before it closes the socket (daemon.c:
 *   MHD_cleanup_connections() notifies, then MHD_socket_close_chk_();
 *   new_connection_process_()'s failure path likewise), and CLOSED waits
 *   for the lock to unlink; so a listed connection's socket is still open
 *   and still its own. Re-check this order when libmicrohttpd changes.
 * - A connection whose sl_http_conn cannot be allocated is shut down at
 *   once by the shim: untracked, it would have no deadline.
 * - At stop, MHD_stop_daemon() closes every connection (CLOSED for each),
 *   then the sweeper is stopped; the list is empty by then. The stop flag
 *   is guarded by the lock too, and the sweeper naps on a condition
 *   variable, so a stop wakes it at once.
 *
 * Ownership: struct sl_http_deadlines owns the lock, the condition
 * variable, the sweeper and every listed sl_http_conn.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "http_deadline.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"

struct sl_http_deadlines {
    pthread_mutex_t lock;       /* guards conns and stopping (see the top) */
    pthread_cond_t wake;        /* signalled at stop; the sweeper naps on it */
    struct sl_http_conn *conns; /* every tracked connection */
    bool stopping;              /* tells the sweeper to exit (under lock) */
    pthread_t sweeper;          /* enforces the deadlines */
    int64_t header_ms;          /* request deadline after accept */
    int64_t next_ms;            /* the same after a response */
    atomic_int silent;          /* tracked conns with silent set */
};

/* One connection, from MHD_CONNECTION_NOTIFY_STARTED to _CLOSED, for its
 * request deadline. Owner: the list d->conns; freed when untracked. */
struct sl_http_conn {
    struct sl_http_conn *prev;    /* in d->conns, under d->lock */
    struct sl_http_conn *next;    /* the same */
    int fd;                       /* the TCP socket; open while listed */
    atomic_llong due_ms;          /* CLOCK_MONOTONIC ms by which a request
                                     must be in; 0: none (one is in) */
    atomic_bool silent;           /* no request begun yet; counted in
                                     d->silent while set */
    struct sockaddr_storage peer; /* the client's address, for the log */
};

void sl_http_addr_format(const struct sockaddr *sa, char *out, size_t n)
{
    char ip[INET6_ADDRSTRLEN];

    out[0] = '\0';
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)sa;
        if (inet_ntop(AF_INET, &a4->sin_addr, ip, sizeof(ip)))
            snprintf(out, n, "%s:%u", ip, (unsigned)ntohs(a4->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)sa;
        if (inet_ntop(AF_INET6, &a6->sin6_addr, ip, sizeof(ip)))
            snprintf(out, n, "[%s]:%u", ip, (unsigned)ntohs(a6->sin6_port));
    }
}

struct sl_http_conn *sl_http_conn_track(struct sl_http_deadlines *d, int fd,
                                        const struct sockaddr *peer)
{
    struct sl_http_conn *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->fd = fd;
    atomic_init(&c->due_ms, sl_clock_ms() + d->header_ms);
    atomic_init(&c->silent, true);
    if (peer) {
        if (peer->sa_family == AF_INET6)
            memcpy(&c->peer, peer, sizeof(struct sockaddr_in6));
        else if (peer->sa_family == AF_INET)
            memcpy(&c->peer, peer, sizeof(struct sockaddr_in));
    }
    pthread_mutex_lock(&d->lock);
    c->next = d->conns;
    if (d->conns)
        d->conns->prev = c;
    d->conns = c;
    atomic_fetch_add(&d->silent, 1);
    pthread_mutex_unlock(&d->lock);
    return c;
}

void sl_http_conn_untrack(struct sl_http_deadlines *d, struct sl_http_conn *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&d->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        d->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&d->lock);
    sl_http_conn_request_begun(d, c); /* no longer counted as silent */
    free(c);
}

void sl_http_conn_request_in(struct sl_http_conn *c)
{
    if (c)
        atomic_store_explicit(&c->due_ms, 0, memory_order_relaxed);
}

void sl_http_conn_request_begun(struct sl_http_deadlines *d,
                                struct sl_http_conn *c)
{
    if (c && atomic_exchange(&c->silent, false))
        atomic_fetch_sub(&d->silent, 1);
}

int sl_http_deadlines_silent(const struct sl_http_deadlines *d)
{
    return atomic_load(&d->silent);
}

void sl_http_conn_response_sent(const struct sl_http_deadlines *d,
                                struct sl_http_conn *c)
{
    if (c)
        atomic_store_explicit(&c->due_ms, sl_clock_ms() + d->next_ms,
                              memory_order_relaxed);
}

/* Shuts down every connection past its deadline; returns how many, with
 * the first one's address in *first. */
static unsigned sweep(struct sl_http_deadlines *d,
                      struct sockaddr_storage *first)
{
    unsigned n = 0;
    int64_t now = sl_clock_ms();

    pthread_mutex_lock(&d->lock);
    for (struct sl_http_conn *c = d->conns; c; c = c->next) {
        long long due = atomic_load_explicit(&c->due_ms, memory_order_relaxed);
        if (due == 0 || now < due)
            continue;
        /* Claim it: a worker storing 0 (its request is in) at this very
         * moment either wins (the connection lives) or comes too late. */
        if (!atomic_compare_exchange_strong(&c->due_ms, &due, 0))
            continue;
        shutdown(c->fd, SHUT_RDWR); /* under the lock: fd is still c's */
        if (n++ == 0)
            *first = c->peer;
    }
    pthread_mutex_unlock(&d->lock);
    return n;
}

/* Waits SL_HTTP_SWEEP_MS or until the stop; false once stopping. */
static bool nap(struct sl_http_deadlines *d)
{
    struct timespec until;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += SL_HTTP_SWEEP_MS * 1000L * 1000L;
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&d->lock);
    while (!d->stopping &&
           pthread_cond_timedwait(&d->wake, &d->lock, &until) != ETIMEDOUT)
        ;
    bool go = !d->stopping;
    pthread_mutex_unlock(&d->lock);
    return go;
}

/* The sweeper: sweep() every SL_HTTP_SWEEP_MS, counting each close and
 * logging at most one line a second: the first close's peer, and how many
 * more there were since the last line. */
static void *sweep_main(void *arg)
{
    pthread_setname_np(pthread_self(), "sl-http-sweep");
    struct sl_http_deadlines *d = arg;
    long long last_s = 0;        /* second of the last line */
    unsigned long long held = 0; /* closes not in a line yet */
    struct sockaddr_storage first;
    char peer[INET6_ADDRSTRLEN + 16];

    while (nap(d)) {
        memset(&first, 0, sizeof(first));
        unsigned n = sweep(d, &first);
        for (unsigned i = 0; i < n; i++)
            sl_metrics_http_header_timeout();
        long long now = (long long)time(NULL);
        if (now == last_s || (n == 0 && held == 0)) {
            held += n;
            continue;
        }
        if (n == 0) {
            sl_log(SL_LOG_WARN,
                   "shim: closed %llu more connections whose request was "
                   "not in by its deadline (header timeout %lld ms)",
                   held, (long long)d->header_ms);
        } else {
            sl_http_addr_format((const struct sockaddr *)&first, peer,
                                sizeof(peer));
            char more[64] = "";
            if (held + n > 1)
                snprintf(more, sizeof(more), " (and %llu more)", held + n - 1);
            sl_log(SL_LOG_WARN,
                   "shim: closed the connection from %s: its request was not "
                   "in by its deadline (header timeout %lld ms)%s",
                   peer[0] ? peer : "an unknown peer", (long long)d->header_ms,
                   more);
        }
        last_s = now;
        held = 0;
    }
    return NULL;
}

int sl_http_deadlines_start(int64_t header_ms, int64_t next_ms,
                            struct sl_http_deadlines **out, struct sl_err *err)
{
    struct sl_http_deadlines *d = calloc(1, sizeof(*d));
    pthread_condattr_t ca;
    bool lock_made = false;
    bool wake_made = false;
    int rc;

    *out = NULL;
    if (!d)
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    d->header_ms = header_ms;
    d->next_ms = next_ms;
    atomic_init(&d->silent, 0);
    if (pthread_mutex_init(&d->lock, NULL) != 0) {
        rc = sl_err_set(err, SL_ENOMEM, "cannot create a mutex");
        goto out;
    }
    lock_made = true;
    /* The sweeper's naps are measured on CLOCK_MONOTONIC, as deadlines. */
    if (pthread_condattr_init(&ca) != 0) {
        rc = sl_err_set(err, SL_ENOMEM, "cannot create a condition variable");
        goto out;
    }
    wake_made = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
                pthread_cond_init(&d->wake, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (!wake_made) {
        rc = sl_err_set(err, SL_ENOMEM, "cannot create a condition variable");
        goto out;
    }
    if (pthread_create(&d->sweeper, NULL, sweep_main, d) != 0) {
        rc = sl_err_set(err, SL_ENOMEM, "cannot start the deadline sweeper");
        goto out;
    }
    *out = d;
    return SL_OK;

out:
    if (wake_made)
        pthread_cond_destroy(&d->wake);
    if (lock_made)
        pthread_mutex_destroy(&d->lock);
    free(d);
    return rc;
}

void sl_http_deadlines_stop(struct sl_http_deadlines *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->lock);
    d->stopping = true;
    pthread_cond_signal(&d->wake);
    pthread_mutex_unlock(&d->lock);
    pthread_join(d->sweeper, NULL);
    pthread_cond_destroy(&d->wake);
    pthread_mutex_destroy(&d->lock); /* no daemon: no conns */
    free(d);
}
