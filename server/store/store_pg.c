/* store_pg.c -- PostgreSQL storage backend ("postgres://...", libpq)
 *
 * Files: this one is the connection (connect, round trips, deadlines,
 * reconnect), open and close, the query and the snapshot, ping and count,
 * and the exported sl_store_postgres; store_pg_msg.c its messages,
 * store_pg_wait.c the bounded round trips of open and import,
 * store_pg_schema.c the schema, its migrations (open runs them) and the
 * reading of its rows, store_pg_import.c the COPY-based import,
 * store_pg_feed.c the writes and the change feed (LISTEN/NOTIFY).
 * store_pg.h holds what they share.
 *
 * Threading: a struct pg_store is one libpq connection (PGconn), used by
 * one thread at a time (store.h). The server opens one per worker thread
 * and one for the health prober; libpq needs no lock between connections,
 * so the hot path takes none. Every statement reads one snapshot, so a
 * query sees all of an import or none of it. The only other threads are
 * the detached cancel requests (pg_abandon): each owns its PGcancel and
 * touches nothing else but an atomic count.
 *
 * Ownership: the connection owns its PGconn and, through it, the session's
 * prepared statements. A PGresult never outlives the call that got it, so
 * a query copies every string and body into the caller's page arena.
 *
 * Schema: five tables (meta, services, logs, and the feed's changes and
 * its one-row head), keyed for the query below;
 * open() creates or migrates them under an advisory lock and refuses a
 * newer or foreign schema. store_pg_schema.c has the details.
 *
 * A query is one round trip: one prepared statement (PREPAREd once per
 * session), a point read of services with its logs as a LATERAL subquery,
 * all results binary (bytea and integers without text decoding), read
 * into the page by store_pg_schema.c, which knows the rows' layout.
 * EXPLAIN (PostgreSQL 15, 100 000 services, generic plan):
 *   Nested Loop Left Join
 *     -> Index Scan using services_pkey on services s
 *          Index Cond: ((project_id = $1) AND (service_id = $2))
 *     -> Index Scan using logs_pkey on logs
 *          Index Cond: ((project_id = s.project_id) AND
 *                       (service_id = s.service_id) [AND update_time = $3])
 * No Sort, and no Seq Scan but on a services table of a page or two: the
 * subquery runs once per services row (at most one) and reads the logs in
 * key order, which is (update_time, seq) once the first two key columns
 * are fixed; the LEFT JOIN's NULL row marks a service without logs. The rows
 * also carry update_time and seq, and the reader checks their order: should a
 * planner ever return them otherwise, the reader sorts them (slower, never
 * wrong).
 *
 * Deadlines: a call whose deadline has passed fails with SL_ETIMEOUT
 * before any round trip. Otherwise nothing waits for the server but a
 * poll() of the socket that ends by the call's deadline: the connection
 * is in libpq's nonblocking mode (sending never waits either), connects
 * are asynchronous, and PQcancel, which waits for the server's answer
 * (libpq 15 has no PQcancelStart), runs in a detached thread. So a server
 * that stops answering (frozen by SIGSTOP, a host gone without a RST, a
 * backend stuck) costs a call its deadline and no more.
 *
 * Abandoned statements: one still running at the deadline is given up on.
 * The call fails with SL_ETIMEOUT at once; a thread sends the cancel
 * request (at most PG_CANCELS_MAX in flight in the process); the
 * connection keeps the statement until the next call reads its end
 * (usually the cancel's error, a few ms later) and goes on. One not ended
 * PG_ABANDON_MS after it was given up on (a frozen server, a cancel
 * ignored) takes its connection with it: closed (PQfinish, nonblocking:
 * the Terminate message is not waited for) and reopened.
 *
 * Stalls: a connection whose server let a deadline pass and has sent
 * nothing since is stalled. A call on it waits for the server (for the
 * abandoned statement's end, or a connect) only until PG_STALL_GRACE_MS
 * after the stall began or PG_STALLED_MS from now, whichever is later,
 * then fails with SL_EUNAVAIL: while the server hangs, a worker answers
 * its calls at once instead of holding each to its deadline. The first
 * byte from the server ends the stall.
 *
 * Reconnecting is lazy and never blocks: a call that finds the connection
 * lost starts a connect (PQconnectStartParams) and polls it until its
 * deadline; one not done by then is kept for the next calls, for up to
 * PG_CONNECT_MS from its start, so a hung server does not collect a
 * connection attempt per call. Every connection sets keepalives and
 * tcp_user_timeout (the kernel finds out a vanished peer, even on an idle
 * connection) and connect_timeout (libpq's blocking paths; ours stop at
 * PG_CONNECT_MS); the URI may override each.
 *
 * Snapshot (query_snapshot): the query with one more column, the feed's
 * head as a scalar subquery; one statement reads one snapshot, so the
 * page and its seq agree without a transaction to open or end.
 *
 * Health: the ping's deadline is PG_PING_MS, so health goes NOT_SERVING
 * about a second after the server stops answering, and SERVING again at
 * the first ping after it answers. No server-side statement_timeout is
 * needed, and the session's settings are left alone.
 *
 * Connection loss: a call that finds the connection lost (the server
 * restarted, a network cut, pg_terminate_backend) reconnects as above,
 * prepares the statements again and retries a read once; if that fails
 * too, SL_EUNAVAIL with libpq's message. ping does the same, so health
 * follows the database going away and coming back, without a restart.
 *
 * Import: one transaction under an advisory lock; COPY logs FROM STDIN
 * (FORMAT binary), nonblocking too. store_pg_import.c has the details.
 *
 * Writes and the feed (store_pg_feed.c): a transaction each, nonblocking,
 * within PG_WRITE_MS; a transaction a write gave up on is rolled back at
 * the connection's next use (sl__pg_ready). wait_changes LISTENs.
 *
 * Corruption: every body carries a seal (its CRC-32C, wire.h), written by
 * the import and checked and stripped when a query's rows are read
 * (store_pg_schema.c), as for SQLite: a damaged log is SL_ECORRUPT, never
 * sent. Damage the server finds in its own files (SQLSTATE XX001
 * data_corrupted, XX002 index_corrupted) is SL_ECORRUPT too.
 *
 * Secrets: messages name the database postgres://HOST:PORT/DBNAME, never
 * with the URI's user info. libpq's own messages carry no password, except
 * a URI parse error, which is redacted.
 *
 * Open and import (store_pg_wait.c) wait the same way, within
 * --pg-answer-timeout: all of an open (connect, schema check, migration,
 * PREPARE) by then, or it fails naming the step, so a server that stops
 * answering fails start-up instead of hanging it; an import as long as
 * the server shows signs of life (a probe on a new connection when it is
 * silent), and it fails, committing nothing, after that much silence.
 *
 * Limits: a host name is resolved by getaddrinfo() when a connect starts,
 * which blocks (a numeric hostaddr does not).
 *
 * Poolers: behind a transaction-mode pooler (PgBouncer
 * pool_mode=transaction; --pg-transaction-pooling, passed as
 * sl_store_options.transaction_pooling, sets st->unnamed) the
 * reads are unnamed statements (store_pg_stmt.c), and wait_changes
 * LISTENs on --pg-listen-uri, a direct session (store_pg_feed.c). Nothing
 * else keeps session state: the advisory locks are transaction-scoped,
 * the settings are the startup packet's.
 *
 * Reconnect back-off: a failed connect (refused, "the database system is
 * starting up", authentication) makes the connection's next attempt wait
 * PG_BACKOFF_MS, doubling up to PG_BACKOFF_MAX_MS (+-25 %); calls in
 * between fail at once with SL_EUNAVAIL. A successful connect resets it.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "store.h"
#include "store_pg.h"

/* The earlier of deadline_us (0 = none) and ms from now. */
static int64_t cap_deadline(int64_t deadline_us, int ms)
{
    int64_t cap = sl_clock_us() + (int64_t)ms * 1000;
    return deadline_us && deadline_us < cap ? deadline_us : cap;
}

/* Waits until fd is ready for events: the poll revents (> 0) when it is,
 * 0 when deadline_us passed (0 waits for ever), -1 on failure (errno says
 * why). */
int sl__pg_wait_fd(int fd, short events, int64_t deadline_us)
{
    if (fd < 0) {
        errno = EBADF;
        return -1;
    }
    for (;;) {
        int ms = -1;
        if (deadline_us) {
            int64_t left = deadline_us - sl_clock_us();
            if (left <= 0)
                return 0;
            ms = left / 1000 >= INT_MAX ? INT_MAX : (int)((left + 999) / 1000);
        }
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, ms);
        if (n > 0)
            return p.revents;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

/* True when the connection is gone, not yet open, or we gave up on it. */
bool sl__pg_lost(const struct pg_store *st)
{
    return st->broken || PQstatus(st->conn) != CONNECTION_OK;
}

/* The sl_err code for a failed statement: SL_EUNAVAIL when the server
 * cannot serve now (connection, shutdown, resources, lock or serialization
 * conflicts), SL_ECORRUPT when it found its files damaged (SQLSTATE XX001,
 * XX002), else other (the statement itself failed). Marks a connection
 * the server is closing as broken. */
int sl__pg_code(struct pg_store *st, const PGresult *r, int other)
{
    const char *s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (s && (strncmp(s, "08", 2) == 0 || strncmp(s, "57P", 3) == 0))
        st->broken = true; /* connection exception; admin or crash shutdown */
    if (sl__pg_lost(st) || !s)
        return SL_EUNAVAIL;
    if (strcmp(s, "XX001") == 0 || strcmp(s, "XX002") == 0)
        return SL_ECORRUPT; /* data_corrupted, index_corrupted */
    if (strncmp(s, "53", 2) == 0 || strncmp(s, "40", 2) == 0 ||
        strcmp(s, "55P03") == 0 || strncmp(s, "57", 2) == 0)
        return SL_EUNAVAIL;
    return other;
}

/* ---- connecting --------------------------------------------------------- */

/* libpq prints the server's notices ("relation already exists, skipping")
 * to stderr by default; the server's log is ours to write. */
static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Closes the connection at once: the Terminate message PQfinish sends is
 * queued, not waited for (nonblocking), so a server that does not read
 * cannot hold us. An abandoned statement goes with it. The next use
 * reconnects. */
void sl__pg_drop(struct pg_store *st)
{
    if (st->conn) {
        PQsetnonblocking(st->conn, 1);
        PQfinish(st->conn);
    }
    st->conn = NULL;
    st->connecting = false;
    st->abandoned_us = 0;
    st->prepared = false;
    st->broken = false;
    st->listening = false; /* a new session LISTENs to nothing */
}

/* The server let a deadline pass: remember since when (see the top). */
static void pg_stall(struct pg_store *st)
{
    if (!st->stalled_us)
        st->stalled_us = sl_clock_us();
}

/* When a wait for the server ends: the earliest of deadline_us and cap_us
 * (0: none), and, on a stalled connection, PG_STALL_GRACE_MS after the
 * stall began or PG_STALLED_MS from now, whichever is later. */
static int64_t pg_until(const struct pg_store *st, int64_t deadline_us,
                        int64_t cap_us)
{
    int64_t until = cap_us;
    if (deadline_us && (!until || deadline_us < until))
        until = deadline_us;
    if (st->stalled_us) {
        int64_t grace = st->stalled_us + (int64_t)PG_STALL_GRACE_MS * 1000;
        int64_t brief = sl_clock_us() + (int64_t)PG_STALLED_MS * 1000;
        int64_t limit = grace > brief ? grace : brief;
        if (!until || limit < until)
            until = limit;
    }
    return until;
}

/* The server sent something (ev: wait_fd's revents): the stall, if any,
 * is over, and *until goes back to deadline_us and cap_us. */
static void pg_heard(struct pg_store *st, int ev, int64_t deadline_us,
                     int64_t cap_us, int64_t *until)
{
    if ((ev & POLLIN) && st->stalled_us) {
        st->stalled_us = 0;
        *until = pg_until(st, deadline_us, cap_us);
    }
}

/* Starts a connect (st->conn must be NULL); pg_connect_poll drives it.
 * Failing at once (a bad option, a host name that does not resolve) is
 * code. */
static int pg_connect_start(struct pg_store *st, int code, struct sl_err *err)
{
    /* Ours first: the URI (dbname, expanded) overrides what it sets.
     * keepalives: an idle connection whose peer vanished is found dead in
     * 10 + 3 * 5 s; tcp_user_timeout: data unacknowledged for 10 s ends
     * it. Neither helps against a server that is alive but frozen (its
     * kernel still acknowledges): the deadlines do. */
    static const char *const keys[] = {"fallback_application_name",
                                       "client_encoding",
                                       "connect_timeout",
                                       "keepalives",
                                       "keepalives_idle",
                                       "keepalives_interval",
                                       "keepalives_count",
                                       "tcp_user_timeout",
                                       "dbname",
                                       NULL};
    const char *vals[] = {"servicelogs", "UTF8", PG_CONNECT_S, "1",     "10",
                          "5",           "3",    "10000",      st->uri, NULL};
    int rc;

    st->conn = PQconnectStartParams(keys, vals, 1);
    if (!st->conn)
        return sl_err_set(err, SL_ENOMEM, "%s: out of memory", st->label);
    if (PQstatus(st->conn) == CONNECTION_BAD) {
        rc = sl__pg_fail(st, code, "cannot connect: ", NULL, err);
        sl__pg_drop(st);
        return rc;
    }
    PQsetNoticeProcessor(st->conn, quiet, NULL);
    st->connecting = true;
    st->polling = PGRES_POLLING_WRITING; /* libpq: start by waiting to write */
    st->connect_us = sl_clock_us();
    return SL_OK;
}

/* Drives the connect under way (st->connecting) until it ends, or until
 * pg_until(deadline_us, PG_CONNECT_MS after its start). A connect still
 * under way then is kept for the next call, unless it is PG_CONNECT_MS
 * old. */
static int pg_connect_poll(struct pg_store *st, int64_t deadline_us,
                           struct sl_err *err)
{
    int64_t expiry = st->connect_us + (int64_t)PG_CONNECT_MS * 1000;
    int64_t until = pg_until(st, deadline_us, expiry), now;
    int rc;

    for (;;) {
        if (st->polling == PGRES_POLLING_OK) {
            st->connecting = false;
            st->stalled_us = 0; /* it answers again */
            st->retry_us = 0;   /* and the back-off starts over */
            st->backoff_ms = 0;
            PQsetnonblocking(st->conn, 1);
            return SL_OK;
        }
        if (st->polling == PGRES_POLLING_FAILED) {
            rc = sl__pg_fail(st, SL_EUNAVAIL, "cannot connect: ", NULL, err);
            sl__pg_drop(st);
            return rc;
        }
        int ev = sl__pg_wait_fd(
            PQsocket(st->conn),
            st->polling == PGRES_POLLING_READING ? POLLIN : POLLOUT, until);
        if (ev == 0)
            break;
        if (ev < 0) {
            rc = sl_err_set(err, SL_EUNAVAIL, "%s: cannot connect: %s",
                            st->label, strerror(errno));
            sl__pg_drop(st);
            return rc;
        }
        pg_heard(st, ev, deadline_us, expiry, &until);
        st->polling = PQconnectPoll(st->conn);
    }
    /* No answer in time. */
    pg_stall(st);
    now = sl_clock_us();
    if (now >= expiry) {
        sl__pg_drop(st);
        return sl_err_set(err, SL_EUNAVAIL,
                          "%s: cannot connect: no answer within %d ms",
                          st->label, PG_CONNECT_MS);
    }
    if (deadline_us && now >= deadline_us)
        return sl_err_set(err, SL_ETIMEOUT,
                          "%s: deadline passed while connecting", st->label);
    return sl_err_set(err, SL_EUNAVAIL,
                      "%s: no answer from the server for %lld ms (still "
                      "connecting)",
                      st->label, (long long)((now - st->stalled_us) / 1000));
}

/* ---- round trips -------------------------------------------------------- */

static atomic_int pg_cancels; /* cancel requests in flight (process) */

/* A detached thread's body: one cancel request, which waits for the
 * postmaster's answer for as long as it takes. Owns c. */
static void *pg_cancel_main(void *arg)
{
    PGcancel *c = arg;
    char buf[256];
    PQcancel(c, buf, (int)sizeof(buf));
    PQfreeCancel(c);
    atomic_fetch_sub(&pg_cancels, 1);
    return NULL;
}

/* The call gives up on the statement under way (see the top): asks the
 * server to cancel it from a detached thread, at most PG_CANCELS_MAX at
 * once (beyond, PG_ABANDON_MS ends it), and leaves it to pg_drain. */
static void pg_abandon(struct pg_store *st)
{
    PGcancel *c = NULL;
    pthread_attr_t a;
    pthread_t t;
    int rc = -1;

    st->abandoned_us = sl_clock_us();
    pg_stall(st);
    if (atomic_fetch_add(&pg_cancels, 1) >= PG_CANCELS_MAX ||
        !(c = PQgetCancel(st->conn)) || pthread_attr_init(&a) != 0)
        goto out;
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&t, &a, pg_cancel_main, c);
    pthread_attr_destroy(&a);
out:
    if (rc != 0) {
        PQfreeCancel(c);
        atomic_fetch_sub(&pg_cancels, 1);
    }
}

/* Reads the end of the statement a call gave up on (st->abandoned_us) and
 * throws it away, until pg_until(deadline_us, PG_ABANDON_MS after it was
 * given up). SL_OK when the connection is free again, or lost, or closed
 * because the statement outlived PG_ABANDON_MS (then the caller
 * reconnects). */
static int pg_drain(struct pg_store *st, int64_t deadline_us,
                    struct sl_err *err)
{
    int64_t cap = st->abandoned_us + (int64_t)PG_ABANDON_MS * 1000;
    int64_t until = pg_until(st, deadline_us, cap), now;
    PGresult *r;
    int sending, rc;

    for (;;) {
        while ((sending = PQflush(st->conn)) == 1 || PQisBusy(st->conn)) {
            if (sending < 0)
                break;
            int ev = sl__pg_wait_fd(
                PQsocket(st->conn),
                (short)(sending ? POLLIN | POLLOUT : POLLIN), until);
            if (ev == 0)
                goto timeout;
            if (ev < 0) {
                rc = sl_err_set(err, SL_EUNAVAIL, "%s: waiting: %s", st->label,
                                strerror(errno));
                sl__pg_drop(st);
                return rc;
            }
            pg_heard(st, ev, deadline_us, cap, &until);
            if (!PQconsumeInput(st->conn))
                break; /* lost: PQgetResult says so without waiting */
        }
        if (!(r = PQgetResult(st->conn)))
            break;
        PQclear(r);
    }
    st->abandoned_us = 0;
    st->stalled_us = 0; /* it answered */
    return SL_OK;
timeout:
    now = sl_clock_us();
    if (now >= cap) { /* not even cancelled: give the session up */
        sl__pg_drop(st);
        return SL_OK;
    }
    if (deadline_us && now >= deadline_us)
        return sl_err_set(err, SL_ETIMEOUT,
                          "%s: deadline passed while the server ended a "
                          "statement given up on",
                          st->label);
    return sl_err_set(err, SL_EUNAVAIL,
                      "%s: no answer from the server for %lld ms", st->label,
                      (long long)((now - st->stalled_us) / 1000));
}

/* A call's wait (sl__pg_finish): until its deadline, where the statement
 * is abandoned (pg_abandon). */
struct pg_deadline {
    int64_t until_us; /* 0: for ever */
    const char *what;
};

static int wait_deadline(struct pg_store *st, short events, void *arg,
                         struct sl_err *err)
{
    const struct pg_deadline *d = arg;
    int ev = sl__pg_wait_fd(PQsocket(st->conn), events, d->until_us);
    if (ev > 0)
        return SL_OK;
    if (ev == 0) {
        pg_abandon(st);
        return sl_err_set(err, SL_ETIMEOUT,
                          "%s: %sno answer by the deadline (statement "
                          "abandoned)",
                          st->label, d->what);
    }
    int rc = sl_err_set(err, SL_EUNAVAIL, "%s: %swaiting: %s", st->label,
                        d->what, strerror(errno));
    sl__pg_drop(st);
    return rc;
}

int sl__pg_finish(struct pg_store *st, int64_t deadline_us, PGresult **out,
                  const char *what, struct sl_err *err)
{
    struct pg_deadline d = {deadline_us, what};
    return sl__pg_collect(st, wait_deadline, &d, out, SL_EUNAVAIL, what, err);
}

/* Ends the transaction a write given up on left open (INTRANS or
 * INERROR, once its statement ended). */
static int pg_rollback(struct pg_store *st, int64_t deadline_us,
                       struct sl_err *err)
{
    PGresult *r = NULL;
    if (!PQsendQuery(st->conn, "ROLLBACK"))
        return sl__pg_fail(st, SL_EUNAVAIL, "", NULL, err);
    int rc = sl__pg_finish(st, deadline_us, &r, "", err);
    PQclear(r);
    return rc;
}

/* A connect failed: the next one waits PG_BACKOFF_MS, doubling after
 * each failure up to PG_BACKOFF_MAX_MS, each +-25 % so that the
 * connections of a fleet do not come back in step. */
static void pg_backoff(struct pg_store *st)
{
    int ms = st->backoff_ms ? st->backoff_ms : PG_BACKOFF_MS;
    int64_t now = sl_clock_us();
    int jitter = (int)((now / 7) % (ms / 2 + 1)) - ms / 4;
    st->retry_us = now + (int64_t)(ms + jitter) * 1000;
    st->backoff_ms = ms * 2 > PG_BACKOFF_MAX_MS ? PG_BACKOFF_MAX_MS : ms * 2;
}

/* Makes the connection usable: reads an abandoned statement's end, ends a
 * transaction a write left open, (re)connects when the connection is lost or a
 * connect is under way (sets *reconnected) and prepares the statements when the
 * session lacks them. */
int sl__pg_ready(struct pg_store *st, int64_t deadline_us, bool *reconnected,
                 struct sl_err *err)
{
    int rc;
    *reconnected = false;
    if (st->abandoned_us && !sl__pg_lost(st) &&
        (rc = pg_drain(st, deadline_us, err)) != SL_OK)
        return rc;
    st->abandoned_us = 0; /* ended, or gone with the connection */
    if (!st->connecting && !sl__pg_lost(st) &&
        (PQtransactionStatus(st->conn) == PQTRANS_INTRANS ||
         PQtransactionStatus(st->conn) == PQTRANS_INERROR) &&
        (rc = pg_rollback(st, deadline_us, err)) != SL_OK)
        return rc;
    if (st->connecting &&
        sl_clock_us() - st->connect_us >= (int64_t)PG_CONNECT_MS * 1000)
        sl__pg_drop(st); /* too old: a new one */
    if (!st->connecting && sl__pg_lost(st)) {
        int64_t now = sl_clock_us();
        *reconnected = true;
        if (st->retry_us > now) /* backing off (see the top) */
            return sl_err_set(
                err, SL_EUNAVAIL, "%s: cannot connect (retrying in %lld ms)",
                st->label, (long long)((st->retry_us - now) / 1000 + 1));
        sl__pg_drop(st);
        if ((rc = pg_connect_start(st, SL_EUNAVAIL, err)) != SL_OK) {
            pg_backoff(st);
            return rc;
        }
    }
    if (st->connecting) {
        *reconnected = true;
        if ((rc = pg_connect_poll(st, deadline_us, err)) != SL_OK) {
            if (!st->conn) /* failed, not: still under way */
                pg_backoff(st);
            return rc;
        }
    }
    return st->prepared ? SL_OK : sl__pg_prepare(st, deadline_us, err);
}

/* A session that lost its prepared statements is most likely behind a
 * transaction pooler: the message says what to do. */
static int pg_hint(const struct pg_store *st, int rc, struct sl_err *err)
{
    if (rc == SL_OK || !err || st->unnamed) /* err->msg is set on failure */
        return rc;
    size_t n = strlen(err->msg);
    if (strstr(err->msg, "prepared statement") &&
        strstr(err->msg, "does not exist"))
        snprintf(err->msg + n, sizeof(err->msg) - n,
                 " (a transaction pooler in between? see "
                 "--pg-transaction-pooling)");
    return rc;
}

/* Runs prepared statement name (binary parameters and results) and
 * returns its result in *out. A connection found lost is reopened once and
 * the statement retried once: only for statements that only read. */
int sl__pg_read(struct pg_store *st, const char *name, int n,
                const char *const *vals, const int *lens, int64_t deadline_us,
                PGresult **out, struct sl_err *err)
{
    int rc;
    *out = NULL;
    for (int attempt = 0;; attempt++) {
        bool reconnected;
        if (deadline_us && sl_clock_us() > deadline_us)
            return sl_err_set(err, SL_ETIMEOUT,
                              "deadline passed before the query");
        rc = sl__pg_ready(st, deadline_us, &reconnected, err);
        if (rc == SL_OK) {
            if (sl__pg_send(st, name, n, vals, lens))
                rc = sl__pg_finish(st, deadline_us, out, "", err);
            else
                rc = sl__pg_fail(st, sl__pg_code(st, NULL, SL_EUNAVAIL), "",
                                 NULL, err);
        }
        if (rc != SL_EUNAVAIL || reconnected || attempt > 0 || !sl__pg_lost(st))
            return pg_hint(st, rc, err);
        /* Lost since its last use (e.g. the server restarted): once more
         * on a new connection. */
    }
}

/* ---- open / close ------------------------------------------------------- */

static void pg_close(struct sl_store *base)
{
    struct pg_store *st = (struct pg_store *)base;
    if (!st)
        return;
    sl__pg_drop(st);
    free(st->uri);
    free(st->listen_uri);
    free(st);
}

/* The options (store.h v6; config.c's --pg-* flags): a transaction
 * pooler in the way, and the URI the change feed LISTENs on. */
static int pg_options(struct pg_store *st, const char *arg,
                      const struct sl_store_options *o, struct sl_err *err)
{
    const char *listen = o->listen_uri;
    PQconninfoOption *opts = NULL;
    char *msg = NULL;

    st->unnamed = o->transaction_pooling;
    if (!listen || !*listen || strcmp(listen, arg) == 0)
        return SL_OK;
    if (!(opts = PQconninfoParse(listen, &msg))) {
        char m[SL_ERR_MSG_LEN];
        sl__pg_one_line(m, sizeof(m), msg ? msg : "out of memory");
        sl__pg_redact(m, sizeof(m), listen);
        PQfreemem(msg);
        return sl_err_set(err, msg ? SL_EINVAL : SL_ENOMEM,
                          "--pg-listen-uri: bad URI: %s", m);
    }
    PQconninfoFree(opts);
    if (!(st->listen_uri = strdup(listen)))
        return sl_err_set(err, SL_ENOMEM, "postgres: out of memory");
    return SL_OK;
}

static int pg_open_with(const struct sl_store_type *type, const char *arg,
                        const struct sl_store_options *o, struct sl_store **out,
                        struct sl_err *err)
{
    struct pg_store *st = NULL;
    PQconninfoOption *opts = NULL;
    char *msg = NULL;
    int rc = SL_OK;

    *out = NULL;
    if (!arg || !*arg)
        return sl_err_set(
            err, SL_EINVAL,
            "postgres: needs a URI (postgres://USER@HOST:PORT/DB)");
    if (!(opts = PQconninfoParse(arg, &msg))) {
        char m[SL_ERR_MSG_LEN];
        sl__pg_one_line(m, sizeof(m), msg ? msg : "out of memory");
        sl__pg_redact(m, sizeof(m), arg);
        PQfreemem(msg);
        return sl_err_set(err, msg ? SL_EINVAL : SL_ENOMEM,
                          "postgres: bad URI: %s", m);
    }
    st = calloc(1, sizeof(*st));
    if (!st || !(st->uri = strdup(arg))) {
        PQconninfoFree(opts);
        free(st);
        return sl_err_set(err, SL_ENOMEM, "postgres: out of memory");
    }
    st->base.type = type;
    sl__pg_make_label(st, opts);
    PQconninfoFree(opts);
    if ((rc = pg_options(st, arg, o, err)) != SL_OK)
        goto out;

    /* Bounded as a whole (store_pg_wait.c), the connect by PG_CONNECT_MS
     * too. */
    st->answer_ms =
        o->answer_timeout_ms > 0 ? o->answer_timeout_ms : PG_ANSWER_MS;
    st->open_until_us = sl_clock_us() + (int64_t)st->answer_ms * 1000;
    st->step = "connecting";
    if ((rc = pg_connect_start(st, SL_EINVAL, err)) != SL_OK)
        goto out;
    if ((rc = pg_connect_poll(st, st->open_until_us, err)) != SL_OK) {
        if (rc == SL_ETIMEOUT) /* no answer by open's deadline */
            rc = sl__pg_open_late(st, st->answer_ms, err);
        else if (sl_clock_us() - st->connect_us >= PG_CONNECT_MS * 1000LL)
            rc = sl__pg_open_late(st, PG_CONNECT_MS, err); /* nor by its own */
        goto out;
    }
    if ((rc = sl__pg_migrate(st, err)) != SL_OK)
        goto out;
    st->step = "preparing the statements";
    if ((rc = sl__pg_prepare(st, st->open_until_us, err)) == SL_ETIMEOUT)
        rc = sl__pg_open_late(st, st->answer_ms, err);
    st->open_until_us = 0;
out:
    if (rc != SL_OK) {
        pg_close(&st->base);
        return rc;
    }
    *out = &st->base;
    return SL_OK;
}

static int pg_open(const struct sl_store_type *type, const char *arg,
                   struct sl_store **out, struct sl_err *err)
{
    static const struct sl_store_options defaults;
    return pg_open_with(type, arg, &defaults, out, err);
}

/* ---- query -------------------------------------------------------------- */

/* query_logs, and query_snapshot when seq is not NULL (*seq: the feed's
 * head, read by the same statement). */
static int pg_query(struct pg_store *st, const struct sl_log_query *q,
                    struct sl_log_page *out, int64_t *seq, struct sl_err *err)
{
    static const char *const names[2][2] = {{"sl_q_all", "sl_q_at"},
                                            {"sl_s_all", "sl_s_at"}};
    PGresult *r = NULL;
    uint8_t t[8];
    const char *vals[3] = {q->project_id, q->service_id, (const char *)t};
    int lens[3] = {(int)strlen(q->project_id), (int)strlen(q->service_id), 8};
    int rc;

    sl_log_page_init(out);
    for (int i = 0; i < 8; i++)
        t[i] = (uint8_t)((uint64_t)q->update_time >> (56 - 8 * i));
    rc = sl__pg_read(st, names[seq != NULL][q->update_time != 0],
                     q->update_time ? 3 : 2, vals, lens, q->deadline_us, &r,
                     err);
    if (rc == SL_ECORRUPT && err) { /* the server's own words, reworded */
        char m[SL_ERR_MSG_LEN];
        size_t n = strlen(st->label);
        snprintf(m, sizeof(m), "%s",
                 strncmp(err->msg, st->label, n) == 0 &&
                         strncmp(err->msg + n, ": ", 2) == 0
                     ? err->msg + n + 2
                     : err->msg);
        sl_err_set(err, rc,
                   "%s: stored data is corrupt: reading service %s of "
                   "project %s: %.100s; restore the database from a backup, "
                   "or import into a new one",
                   st->label, q->service_id, q->project_id, m);
    }
    if (rc == SL_OK)
        rc = sl__pg_read_page(st, r, q, out, err);
    if (rc == SL_OK && seq) {
        if (PQnfields(r) != 6 || PQgetlength(r, 0, 5) != 8)
            rc = sl_err_set(err, SL_EINTERNAL,
                            "%s: unexpected result shape (was the schema "
                            "altered?)",
                            st->label);
        else
            *seq = sl__pg_be64(PQgetvalue(r, 0, 5));
    }
    PQclear(r);
    if (rc != SL_OK)
        sl_log_page_free(out);
    return rc;
}

static int pg_query_logs(struct sl_store *base, const struct sl_log_query *q,
                         struct sl_log_page *out, struct sl_err *err)
{
    return pg_query((struct pg_store *)base, q, out, NULL, err);
}

/* One statement reads the page and the feed's head (sl_s_*): one
 * snapshot, no transaction to open or end. */
static int pg_query_snapshot(struct sl_store *base,
                             const struct sl_log_query *q,
                             struct sl_log_page *out, int64_t *seq,
                             struct sl_err *err)
{
    *seq = 0;
    return pg_query((struct pg_store *)base, q, out, seq, err);
}

/* ---- ping --------------------------------------------------------------- */

static int pg_ping(struct sl_store *base, struct sl_err *err)
{
    struct pg_store *st = (struct pg_store *)base;
    PGresult *r = NULL;
    int rc = sl__pg_read(st, "sl_ping", 0, NULL, NULL,
                         cap_deadline(0, PG_PING_MS), &r, err);
    if (rc == SL_OK && PQntuples(r) != 1)
        rc = sl_err_set(err, SL_EUNAVAIL, "%s: meta.schema_version is gone",
                        st->label);
    PQclear(r);
    if (rc != SL_OK && err)
        err->code = SL_EUNAVAIL; /* the contract: ping fails unavailable */
    return rc == SL_OK ? SL_OK : SL_EUNAVAIL;
}

static int pg_count_services(struct sl_store *base, size_t *n,
                             struct sl_err *err)
{
    struct pg_store *st = (struct pg_store *)base;
    PGresult *r = NULL;
    *n = 0;
    int rc = sl__pg_read(st, "sl_count", 0, NULL, NULL,
                         cap_deadline(0, PG_CONNECT_MS), &r, err);
    if (rc == SL_OK && PQntuples(r) == 1 && PQgetlength(r, 0, 0) == 8) {
        /* binary int8: big-endian */
        const unsigned char *v = (const unsigned char *)PQgetvalue(r, 0, 0);
        uint64_t c = 0;
        for (int i = 0; i < 8; i++)
            c = c << 8 | v[i];
        *n = (size_t)c;
    } else if (rc == SL_OK) {
        rc = sl_err_set(err, SL_EUNAVAIL, "%s: cannot count services",
                        st->label);
    }
    PQclear(r);
    return rc;
}

/* "postgresql" too, as libpq: both are a libpq connection URI, which
 * open() takes whole (the scheme included). */
static const char *const pg_aliases[] = {"postgresql", NULL};

const struct sl_store_type sl_store_postgres = {
    .version = 6,
    .name = "postgres",
    .open = pg_open,
    .query_logs = pg_query_logs,
    .import = sl__pg_import, /* store_pg_import.c */
    .ping = pg_ping,
    .close = pg_close,
    .count_services = pg_count_services,
    .aliases = pg_aliases,
    .takes_uri = true,
    .uri_form = "postgres://...",
    .put_service = sl__pg_put_service, /* store_pg_feed.c */
    .record_log = sl__pg_record_log,
    .query_snapshot = pg_query_snapshot,
    .read_changes = sl__pg_read_changes,
    .wait_changes = sl__pg_wait_changes,
    .import_begin = sl__pg_import_begin, /* store_pg_import.c */
    .import_add = sl__pg_import_add,
    .import_end = sl__pg_import_end,
    .open_with = pg_open_with,
};
