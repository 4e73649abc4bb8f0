/* store_pg_wait.c -- the PostgreSQL backend's round trips: the loop they
 * all wait in (sl__pg_collect), and open's and import's bounded waits
 * (--pg-answer-timeout)
 *
 * open() (connect, schema check, migration, statements) and import run
 * outside any call's deadline, and a server that accepts the connection
 * and then never answers (frozen by SIGSTOP, a host stuck, a lock nobody
 * releases) must not hold them for ever. They wait like the calls do, on
 * a poll() of the socket in libpq's nonblocking mode (store_pg.c), with a
 * bound of st->answer_ms (--pg-answer-timeout, PG_ANSWER_MS by default)
 * applied two ways:
 *
 *   open: a deadline, st->open_until_us, for the whole of it (the connect
 *   also ends at PG_CONNECT_MS): a server that has not connected, checked
 *   or migrated the schema and taken the statements by then fails the
 *   open with one line that names the step (st->step) and the bound.
 *   The server exits 1 on it: start-up is bounded.
 *
 *   import: the server's silence, not the work's length (an import of
 *   1 M logs takes 15-30 s, of which the swap is one statement of about
 *   8 s, 10 M ten times that). The wait ends only when the server has
 *   shown no sign of life for answer_ms: no byte from it, none of ours
 *   taken off the socket, and no answer to a probe. The probe, sent after
 *   answer_ms / 2 of silence, is a new connection that reads our
 *   backend's row of pg_stat_activity: a server that answers it is
 *   running our statement (or waiting for a lock: another import's turn),
 *   so the wait goes on, and a line says what the statement waits for.
 *   A probe the server refuses (max_connections reached) is no sign of
 *   life: a warning quotes the refusal, and the import may fail although
 *   the server runs; --pg-answer-timeout longer than the longest
 *   statement avoids that.
 *
 * A wait that ends drops the connection (sl__pg_drop: nothing is waited
 * for, no cancel is sent): the backend, when it runs again, reads the end
 * of its connection and rolls back its transaction. So an import that
 * gave up is never committed by a server that thawed later, unless its
 * COMMIT had been sent, which the import reports as "outcome unknown".
 *
 * THREAD SAFETY: as store_pg.h (one thread per connection); the probe's
 * connection is the waiting thread's own, closed before it returns.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "store.h"
#include "store_pg.h"

/* One wait's view of the server's signs of life (import). */
struct pg_wait {
    int64_t life_us; /* the last one */
    bool probed;     /* a probe found none since then */
    bool told;       /* the still-waiting line was logged */
};

/* The loop every round trip waits in (store_pg.h); the calls' wait is
 * store_pg.c's, the bounded one of open and import this file's. */
int sl__pg_collect(struct pg_store *st, sl__pg_waiter wait, void *arg,
                   PGresult **out, int code, const char *what,
                   struct sl_err *err)
{
    PGresult *keep = NULL, *r;
    bool failed = false;
    int rc = SL_OK, sending;

    if (out)
        *out = NULL;
    for (;;) {
        /* Sends what the nonblocking send left, and reads; a lost
         * connection ends the loop and PQgetResult reports it. */
        while ((sending = PQflush(st->conn)) == 1 || PQisBusy(st->conn)) {
            if (sending < 0)
                break;
            rc = wait(st, (short)(sending ? POLLIN | POLLOUT : POLLIN), arg,
                      err);
            if (rc != SL_OK)
                goto out;
            if (!PQconsumeInput(st->conn))
                break;
        }
        if (!(r = PQgetResult(st->conn)))
            break;
        ExecStatusType s = PQresultStatus(r);
        if (failed) { /* keep the first error, drain the rest */
            PQclear(r);
            if (s == PGRES_COPY_IN) /* never ends: sl__pg_end_tx drops */
                break;
            continue;
        }
        PQclear(keep);
        keep = r;
        if (s == PGRES_COPY_IN) /* the server waits for our data */
            break;
        failed = s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK;
    }
    if (!keep) {
        rc = sl__pg_fail(st, SL_EUNAVAIL, what, NULL, err);
        st->broken |= PQstatus(st->conn) != CONNECTION_OK;
    } else if (failed) {
        rc = sl__pg_fail(st, sl__pg_code(st, keep, code), what, keep, err);
    } else if (out) {
        *out = keep;
        keep = NULL;
    }
out:
    PQclear(keep);
    return rc;
}

/* "30s", or "2500ms" when ms is not whole seconds. */
static const char *pg_ms(char *buf, size_t size, int ms)
{
    if (ms % 1000 == 0)
        snprintf(buf, size, "%ds", ms / 1000);
    else
        snprintf(buf, size, "%dms", ms);
    return buf;
}

int sl__pg_open_late(struct pg_store *st, int ms, struct sl_err *err)
{
    char b[24];
    sl__pg_drop(st);
    return sl_err_set(err, SL_ETIMEOUT,
                      "%s: PostgreSQL did not answer within %s at start-up "
                      "(%s): is it running, reachable and not overloaded? "
                      "(%s)",
                      st->label, pg_ms(b, sizeof(b), ms), st->step,
                      ms == st->answer_ms
                          ? "bound: --pg-answer-timeout"
                          : "a connect attempt waits no longer");
}

/* The import's wait gave up: the message, and the connection dropped. */
static int pg_hung(struct pg_store *st, struct sl_err *err)
{
    char b[24];
    sl__pg_drop(st);
    return sl_err_set(err, SL_ETIMEOUT,
                      "%s: PostgreSQL did not answer for %s (%s), nor did "
                      "a new connection: is it running and not overloaded? "
                      "(bound: --pg-answer-timeout)",
                      st->label, pg_ms(b, sizeof(b), st->answer_ms), st->step);
}

/* The probe (see the top): true when the server answers a new connection
 * by until_us; logs once per wait what our statement is doing. */
static bool pg_alive(struct pg_store *st, struct pg_wait *w, int64_t until_us)
{
    struct pg_store p = {.uri = st->uri, .unnamed = true}; /* nothing to
                                                              prepare */
    char sql[128], b[24];
    PGresult *r = NULL;
    struct sl_err e;
    bool reconnected, ok;

    memcpy(p.label, st->label, sizeof(p.label));
    snprintf(sql, sizeof(sql),
             "SELECT state, wait_event_type, wait_event FROM "
             "pg_stat_activity WHERE pid = %d",
             PQbackendPID(st->conn));
    sl_err_clear(&e);
    ok = sl__pg_ready(&p, until_us, &reconnected, &e) == SL_OK &&
         PQsendQuery(p.conn, sql) &&
         sl__pg_finish(&p, until_us, &r, "", &e) == SL_OK;
    /* Refused, not silent (pg_connect_poll's and sl__pg_finish's
     * timeouts say "no answer"): worth a line. */
    if (!ok && e.msg[0] && e.code != SL_ETIMEOUT && !strstr(e.msg, "no answer"))
        sl_log(SL_LOG_WARN,
               "%s: %s: no answer for %s, and a new connection "
               "failed: %s",
               st->label, st->step,
               pg_ms(b, sizeof(b), (int)((sl_clock_us() - w->life_us) / 1000)),
               e.msg);
    if (ok && !w->told) {
        bool row = PQntuples(r) == 1, waits = row && !PQgetisnull(r, 0, 1);
        sl_log(SL_LOG_INFO,
               "%s: %s: no answer for %s, but the server answers a new "
               "connection (our statement: %s%s%s%s%s): still waiting",
               st->label, st->step,
               pg_ms(b, sizeof(b), (int)((sl_clock_us() - w->life_us) / 1000)),
               row ? PQgetvalue(r, 0, 0) : "not seen",
               waits ? ", waiting for " : "", waits ? PQgetvalue(r, 0, 1) : "",
               waits ? ":" : "", waits ? PQgetvalue(r, 0, 2) : "");
        w->told = true;
    }
    PQclear(r);
    sl__pg_drop(&p);
    return ok;
}

/* Waits for st's socket to be ready for events within the bound (see the
 * top). SL_OK when it is; else the failure, the connection dropped. */
static int pg_wait(struct pg_store *st, short events, struct pg_wait *w,
                   struct sl_err *err)
{
    for (;;) {
        int64_t bound = (int64_t)st->answer_ms * 1000;
        int64_t until =
            st->open_until_us ? st->open_until_us : w->life_us + bound;
        int64_t probe =
            st->open_until_us || w->probed ? until : w->life_us + bound / 2;
        int ev = sl__pg_wait_fd(PQsocket(st->conn), events, probe);
        if (ev > 0) {
            w->life_us = sl_clock_us();
            w->probed = false;
            return SL_OK;
        }
        if (ev < 0) {
            int rc = sl_err_set(err, SL_EUNAVAIL, "%s: %s: %s", st->label,
                                st->step, strerror(errno));
            sl__pg_drop(st);
            return rc;
        }
        if (sl_clock_us() >= until)
            return st->open_until_us ? sl__pg_open_late(st, st->answer_ms, err)
                                     : pg_hung(st, err);
        w->probed = true; /* time for the probe */
        if (pg_alive(st, w, until)) {
            w->life_us = sl_clock_us();
            w->probed = false;
        }
    }
}

static int wait_alive(struct pg_store *st, short events, void *arg,
                      struct sl_err *err)
{
    return pg_wait(st, events, arg, err);
}

int sl__pg_await(struct pg_store *st, PGresult **out, int code,
                 const char *what, struct sl_err *err)
{
    struct pg_wait w = {.life_us = sl_clock_us()};
    return sl__pg_collect(st, wait_alive, &w, out, code, what, err);
}

int sl__pg_push(struct pg_store *st, struct sl_err *err)
{
    struct pg_wait w = {.life_us = sl_clock_us()};
    int sending, rc;

    while ((sending = PQflush(st->conn)) == 1) {
        if ((rc = pg_wait(st, POLLIN | POLLOUT, &w, err)) != SL_OK)
            return rc;
        if (!PQconsumeInput(st->conn)) /* lost */
            break;
    }
    if (sending != 0 || PQstatus(st->conn) != CONNECTION_OK) {
        rc = sl__pg_fail(st, SL_EUNAVAIL, "", NULL, err);
        st->broken = true;
        return rc;
    }
    return SL_OK;
}

int sl__pg_exec(struct pg_store *st, const char *sql, PGresult **out, int code,
                const char *what, struct sl_err *err)
{
    PGresult *r = NULL;
    if (!st->conn)
        return sl_err_set(err, SL_EUNAVAIL, "%s: %sthe connection is closed",
                          st->label, what);
    if (!PQsendQuery(st->conn, sql))
        return sl__pg_fail(st, sl__pg_code(st, NULL, code), what, NULL, err);
    int rc = sl__pg_await(st, &r, code, what, err);
    if (rc == SL_OK && out)
        *out = r;
    else
        PQclear(r);
    return rc;
}

/* Starts a transaction holding advisory lock (class, the schema). */
static const char sql_lock[] = "BEGIN; " PG_LOCK_FMT;

int sl__pg_begin_locked(struct pg_store *st, int lock_class, struct sl_err *err)
{
    char sql[160];
    snprintf(sql, sizeof(sql), sql_lock, lock_class);
    return sl__pg_exec(st, sql, NULL, SL_EIO, "", err);
}

void sl__pg_end_tx(struct pg_store *st)
{
    if (!st->conn || PQstatus(st->conn) != CONNECTION_OK)
        return; /* the server rolls it back when it sees the end */
    PGTransactionStatusType t = PQtransactionStatus(st->conn);
    if (t == PQTRANS_IDLE)
        return;
    const char *step = st->step;
    st->step = "rolling back";
    if (t != PQTRANS_INTRANS && t != PQTRANS_INERROR) /* mid-command */
        sl__pg_drop(st);
    else if (sl__pg_exec(st, "ROLLBACK", NULL, SL_EIO, "", NULL) != SL_OK)
        sl__pg_drop(st);
    st->step = step;
}
