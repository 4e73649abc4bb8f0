/* store_pg.c -- PostgreSQL storage backend ("postgres://...", libpq)
 *
 * Files: this one is the connection (connect, round trips, deadlines,
 * reconnect), open and close, the query, ping and count, and the exported
 * sl_store_postgres; store_pg_schema.c the schema and its migrations (open
 * runs them), store_pg_import.c the COPY-based import. store_pg.h holds
 * what they share.
 *
 * Threading: a struct pg_store is one libpq connection (PGconn), used by
 * one thread at a time (store.h). The server opens one per worker thread
 * and one for the health prober; libpq needs no lock between connections,
 * so the hot path takes none. Every statement reads one snapshot, so a
 * query sees all of an import or none of it.
 *
 * Ownership: the connection owns its PGconn and, through it, the session's
 * prepared statements. A PGresult never outlives the call that got it, so
 * a query copies every string and body into the caller's page arena.
 *
 * Schema: three tables (meta, services, logs), keyed for the query below;
 * open() creates or migrates them under an advisory lock and refuses a
 * newer or foreign schema. store_pg_schema.c has the details.
 *
 * A query is one round trip: one prepared statement (PREPAREd once per
 * session), a point read of services with its logs as a LATERAL subquery,
 * all results binary (bytea and integers without text decoding).
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
 * Deadlines: a query whose deadline has passed fails with SL_ETIMEOUT
 * before any round trip. Otherwise it is sent asynchronously and the
 * socket is polled until the deadline; then the statement is cancelled
 * (PQcancel) and the call fails with SL_ETIMEOUT. A connection that does
 * not answer the cancel within PG_CANCEL_GRACE_MS is dropped and reopened
 * at its next use. Connecting (open, reconnect) is asynchronous too and
 * takes at most PG_CONNECT_MS, and never past a query's deadline. So no
 * server-side statement_timeout is needed, and the session's settings (and
 * the URI's options) are left alone.
 *
 * Connection loss: a call that finds the connection lost (the server
 * restarted, a network cut, pg_terminate_backend) reconnects once with the
 * same parameters (PQresetStart/PQresetPoll), prepares the statements
 * again and retries a read once; if that fails too, SL_EUNAVAIL with
 * libpq's message. ping does the same, so health follows the database
 * going away and coming back, without a restart.
 *
 * Import: one transaction under an advisory lock; COPY logs FROM STDIN
 * (FORMAT binary). store_pg_import.c has the details.
 *
 * Secrets: messages name the database postgres://HOST:PORT/DBNAME, never
 * with the URI's user info. libpq's own messages carry no password, except
 * a URI parse error, which is redacted.
 *
 * Limits: a host name is resolved by getaddrinfo() inside PQconnectPoll,
 * which blocks (a numeric hostaddr does not). Transaction-mode poolers
 * (pgbouncer pool_mode=transaction) are not supported: the prepared
 * statements belong to the session.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <limits.h>
#include <poll.h>
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

/* Waits until fd is ready for events: 1 ready, 0 deadline_us passed (0
 * waits for ever), -1 failed (errno says why). */
static int wait_fd(int fd, short events, int64_t deadline_us)
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
            return 1;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

/* ---- messages ----------------------------------------------------------- */

/* Copies libpq's message (lines ending in "\n", continuation lines indented
 * with a tab) into out as one line. */
static void one_line(char *out, size_t size, const char *msg)
{
    size_t n = 0;
    bool space = false;
    for (const char *p = msg; *p && n + 1 < size; p++) {
        if (*p == '\n' || *p == '\t' || *p == '\r' || *p == ' ') {
            space = n > 0;
            continue;
        }
        if (space && n + 2 < size)
            out[n++] = ' ';
        space = false;
        out[n++] = *p;
    }
    out[n] = '\0';
}

/* Sets err to "LABEL: <what><libpq's message>" and returns code. The
 * message is r's primary message when r is an error, else the
 * connection's. */
int sl__pg_fail(const struct pg_store *st, int code, const char *what,
                const PGresult *r, struct sl_err *err)
{
    char m[200];
    const char *src = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!src || !*src)
        src = st->conn ? PQerrorMessage(st->conn) : "";
    if (!*src)
        src = "out of memory";
    one_line(m, sizeof(m), src);
    return sl_err_set(err, code, "%s: %s%s", st->label, what, m);
}

/* Replaces each occurrence of secret (n bytes) in msg with "***". */
static void redact_one(char *msg, size_t size, const char *secret, size_t n)
{
    char out[SL_ERR_MSG_LEN];
    size_t o = 0;
    if (n == 0)
        return;
    for (const char *p = msg; *p && o + 1 < sizeof(out);) {
        if (strncmp(p, secret, n) == 0) {
            for (const char *s = "***"; *s && o + 1 < sizeof(out); s++)
                out[o++] = *s;
            p += n;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
    snprintf(msg, size, "%s", out);
}

/* Removes the URI's password, as written in the URI (the user info's
 * ":PASSWORD@" and a "password=" parameter), from msg. */
static void redact(char *msg, size_t size, const char *uri)
{
    const char *auth = strstr(uri, "://");
    if (auth) {
        auth += 3;
        size_t len = strcspn(auth, "/?");
        const char *at = NULL;
        for (const char *p = auth; p < auth + len; p++)
            if (*p == '@')
                at = p;
        const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon)
            redact_one(msg, size, colon + 1, (size_t)(at - colon - 1));
    }
    for (const char *p = strchr(uri, '?'); p && *p; p++) {
        if ((p[-1] == '?' || p[-1] == '&') && strncmp(p, "password=", 9) == 0) {
            p += 9;
            redact_one(msg, size, p, strcspn(p, "&"));
        }
    }
}

/* Names the database in messages: host, port and dbname, no user info. */
static void make_label(struct pg_store *st, const PQconninfoOption *opts)
{
    const char *host = "", *port = "", *db = "";
    for (const PQconninfoOption *o = opts; o && o->keyword; o++) {
        if (!o->val)
            continue;
        if (strcmp(o->keyword, "host") == 0 ||
            (strcmp(o->keyword, "hostaddr") == 0 && !*host))
            host = o->val;
        else if (strcmp(o->keyword, "port") == 0)
            port = o->val;
        else if (strcmp(o->keyword, "dbname") == 0)
            db = o->val;
    }
    snprintf(st->label, sizeof(st->label), "postgres://%.48s%s%.16s/%.48s",
             host, *port ? ":" : "", port, db);
}

/* True when the connection is gone (or we gave up on it). */
bool sl__pg_lost(const struct pg_store *st)
{
    return st->broken || PQstatus(st->conn) != CONNECTION_OK;
}

/* The sl_err code for a failed statement: SL_EUNAVAIL when the server
 * cannot serve now (connection, shutdown, resources, lock or serialization
 * conflicts), else other (the statement itself failed). Marks a connection
 * the server is closing as broken. */
int sl__pg_code(struct pg_store *st, const PGresult *r, int other)
{
    const char *s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (s && (strncmp(s, "08", 2) == 0 || strncmp(s, "57P", 3) == 0))
        st->broken = true; /* connection exception; admin or crash shutdown */
    if (sl__pg_lost(st) || !s)
        return SL_EUNAVAIL;
    if (strncmp(s, "53", 2) == 0 || strncmp(s, "40", 2) == 0 ||
        strcmp(s, "55P03") == 0 || strncmp(s, "57", 2) == 0)
        return SL_EUNAVAIL;
    return other;
}

/* ---- round trips -------------------------------------------------------- */

/* Polls a connect (PQconnectStart) or a reconnect (PQresetStart) to its
 * end, until deadline_us at most. */
static int pg_connect_poll(struct pg_store *st, bool reset, int64_t deadline_us,
                           int64_t query_deadline_us, struct sl_err *err)
{
    PostgresPollingStatusType ps = PGRES_POLLING_WRITING;
    for (;;) {
        if (ps == PGRES_POLLING_OK)
            return SL_OK;
        if (ps == PGRES_POLLING_FAILED)
            return sl__pg_fail(st, SL_EUNAVAIL, "cannot connect: ", NULL, err);
        int w = wait_fd(PQsocket(st->conn),
                        ps == PGRES_POLLING_READING ? POLLIN : POLLOUT,
                        deadline_us);
        if (w == 0) {
            if (query_deadline_us && sl_clock_us() >= query_deadline_us)
                return sl_err_set(err, SL_ETIMEOUT,
                                  "%s: deadline passed while connecting",
                                  st->label);
            return sl_err_set(err, SL_EUNAVAIL,
                              "%s: cannot connect: no answer within %d ms",
                              st->label, PG_CONNECT_MS);
        }
        if (w < 0)
            return sl_err_set(err, SL_EUNAVAIL, "%s: cannot connect: %s",
                              st->label, strerror(errno));
        ps = reset ? PQresetPoll(st->conn) : PQconnectPoll(st->conn);
    }
}

/* Asks the server to cancel the running statement. */
static void pg_cancel(struct pg_store *st)
{
    char buf[256];
    PGcancel *c = PQgetCancel(st->conn);
    if (c) {
        PQcancel(c, buf, (int)sizeof(buf));
        PQfreeCancel(c);
    }
}

/* Waits for the answer to the command just sent, until deadline_us (0:
 * for ever); cancels it at the deadline. On success *out is its (last)
 * result, which the caller PQclear()s; on failure *out is NULL. */
static int pg_finish(struct pg_store *st, int64_t deadline_us, PGresult **out,
                     const char *what, struct sl_err *err)
{
    PGresult *keep = NULL, *r;
    bool cancelled = false, failed = false;
    int rc = SL_OK;

    *out = NULL;
    for (;;) {
        while (PQisBusy(st->conn)) {
            int w = wait_fd(PQsocket(st->conn), POLLIN, deadline_us);
            if (w == 0 && !cancelled) {
                pg_cancel(st);
                cancelled = true;
                deadline_us = sl_clock_us() + PG_CANCEL_GRACE_MS * 1000;
                continue;
            }
            if (w == 0) { /* no answer to the cancel: give the session up */
                st->broken = true;
                rc = sl_err_set(err, SL_ETIMEOUT,
                                "%s: query stopped at its deadline (the "
                                "server did not answer the cancel)",
                                st->label);
                goto out;
            }
            if (w < 0) {
                st->broken = true;
                rc = sl_err_set(err, SL_EUNAVAIL, "%s: %swaiting: %s",
                                st->label, what, strerror(errno));
                goto out;
            }
            if (!PQconsumeInput(st->conn))
                break; /* PQgetResult reports the lost connection */
        }
        if (!(r = PQgetResult(st->conn)))
            break;
        ExecStatusType s = PQresultStatus(r);
        if (failed) { /* keep the first error, drain the rest */
            PQclear(r);
            continue;
        }
        PQclear(keep);
        keep = r;
        failed = s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK;
    }
    if (cancelled) {
        rc = sl_err_set(err, SL_ETIMEOUT, "%s: query stopped at its deadline",
                        st->label);
    } else if (!keep) {
        rc = sl__pg_fail(st, SL_EUNAVAIL, what, NULL, err);
        st->broken |= PQstatus(st->conn) != CONNECTION_OK;
    } else if (failed) {
        rc = sl__pg_fail(st, sl__pg_code(st, keep, SL_EUNAVAIL), what, keep,
                         err);
    } else {
        *out = keep;
        keep = NULL;
    }
out:
    PQclear(keep);
    return rc;
}

/* The statements every session prepares, in one round trip. The LATERAL
 * subquery reads one range of logs_pkey in key order (see the top). */
#define PG_QUERY_HEAD                                                          \
    "SELECT s.service_name, s.infer_type, l.update_time, l.seq, l.body"        \
    " FROM services AS s LEFT JOIN LATERAL"                                    \
    " (SELECT update_time, seq, body FROM logs"                                \
    "  WHERE logs.project_id = s.project_id"                                   \
    "  AND logs.service_id = s.service_id"
#define PG_QUERY_TAIL                                                          \
    ") AS l ON true WHERE s.project_id = $1 AND s.service_id = $2"

static const char sql_prepare[] =
    "DEALLOCATE ALL;" /* what an interrupted earlier attempt left */
    "PREPARE sl_q_all(text, text) AS " PG_QUERY_HEAD
    " ORDER BY update_time, seq" PG_QUERY_TAIL ";"
    "PREPARE sl_q_at(text, text, bigint) AS " PG_QUERY_HEAD
    " AND update_time = $3 ORDER BY update_time, seq" PG_QUERY_TAIL ";"
    "PREPARE sl_ping AS SELECT value FROM meta WHERE key = 'schema_version';"
    "PREPARE sl_count AS SELECT count(*) FROM services";

static int pg_prepare(struct pg_store *st, int64_t deadline_us,
                      struct sl_err *err)
{
    PGresult *r = NULL;
    if (!PQsendQuery(st->conn, sql_prepare))
        return sl__pg_fail(st, SL_EUNAVAIL, "cannot prepare queries: ", NULL,
                           err);
    int rc = pg_finish(st, deadline_us, &r, "cannot prepare queries: ", err);
    PQclear(r);
    if (rc == SL_OK)
        st->prepared = true;
    return rc;
}

/* Makes the connection usable: reconnects when it is lost (sets
 * *reconnected) and prepares the statements when the session lacks
 * them. */
int sl__pg_ready(struct pg_store *st, int64_t deadline_us, bool *reconnected,
                 struct sl_err *err)
{
    int rc;
    *reconnected = false;
    if (sl__pg_lost(st)) {
        *reconnected = true;
        st->prepared = false;
        st->broken = true;
        if (!PQresetStart(st->conn))
            return sl__pg_fail(st, SL_EUNAVAIL, "cannot reconnect: ", NULL,
                               err);
        rc = pg_connect_poll(st, true, cap_deadline(deadline_us, PG_CONNECT_MS),
                             deadline_us, err);
        if (rc != SL_OK)
            return rc;
        st->broken = false;
    }
    return st->prepared ? SL_OK : pg_prepare(st, deadline_us, err);
}

/* Runs prepared statement name (binary parameters and results) and
 * returns its result in *out. A connection found lost is reopened once and
 * the statement retried once: only for statements that only read. */
static int pg_exec_read(struct pg_store *st, const char *name, int n,
                        const char *const *vals, const int *lens,
                        int64_t deadline_us, PGresult **out, struct sl_err *err)
{
    static const int binary[3] = {1, 1, 1};
    int rc;
    *out = NULL;
    for (int attempt = 0;; attempt++) {
        bool reconnected;
        if (deadline_us && sl_clock_us() > deadline_us)
            return sl_err_set(err, SL_ETIMEOUT,
                              "deadline passed before the query");
        rc = sl__pg_ready(st, deadline_us, &reconnected, err);
        if (rc == SL_OK) {
            if (PQsendQueryPrepared(st->conn, name, n, vals, lens, binary, 1))
                rc = pg_finish(st, deadline_us, out, "", err);
            else
                rc = sl__pg_fail(st, sl__pg_code(st, NULL, SL_EUNAVAIL), "",
                                 NULL, err);
        }
        if (rc != SL_EUNAVAIL || reconnected || attempt > 0 || !sl__pg_lost(st))
            return rc;
        /* Lost since its last use (e.g. the server restarted): once more
         * on a new connection. */
    }
}

/* Runs sql (blocking; open and import only) and returns its result in
 * *out when out is not NULL; failures are code when the server is not the
 * reason. */
int sl__pg_exec(struct pg_store *st, const char *sql, PGresult **out, int code,
                const char *what, struct sl_err *err)
{
    PGresult *r = PQexec(st->conn, sql);
    ExecStatusType s = PQresultStatus(r);
    int rc = SL_OK;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        rc = sl__pg_fail(st, sl__pg_code(st, r, code), what, r, err);
    if (rc == SL_OK && out)
        *out = r;
    else
        PQclear(r);
    return rc;
}

/* Starts a transaction holding advisory lock (class, the schema). */
static const char sql_lock[] = "BEGIN; SELECT pg_advisory_xact_lock(%d,"
                               " hashtext(coalesce(current_schema(), '')))";

int sl__pg_begin_locked(struct pg_store *st, int lock_class, struct sl_err *err)
{
    char sql[160];
    snprintf(sql, sizeof(sql), sql_lock, lock_class);
    return sl__pg_exec(st, sql, NULL, SL_EIO, "", err);
}

/* ---- open / close ------------------------------------------------------- */

/* libpq prints the server's notices ("relation already exists, skipping")
 * to stderr by default; the server's log is ours to write. */
static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static void pg_close(struct sl_store *base)
{
    struct pg_store *st = (struct pg_store *)base;
    if (!st)
        return;
    PQfinish(st->conn);
    free(st);
}

static int pg_open(const struct sl_store_type *type, const char *arg,
                   struct sl_store **out, struct sl_err *err)
{
    /* Ours first: the URI (dbname, expanded) overrides what it sets. */
    static const char *const keys[] = {"fallback_application_name",
                                       "client_encoding", "dbname", NULL};
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
        one_line(m, sizeof(m), msg ? msg : "out of memory");
        redact(m, sizeof(m), arg);
        PQfreemem(msg);
        return sl_err_set(err, msg ? SL_EINVAL : SL_ENOMEM,
                          "postgres: bad URI: %s", m);
    }
    st = calloc(1, sizeof(*st));
    if (!st) {
        PQconninfoFree(opts);
        return sl_err_set(err, SL_ENOMEM, "postgres: out of memory");
    }
    st->base.type = type;
    make_label(st, opts);
    PQconninfoFree(opts);

    const char *vals[] = {"servicelogs", "UTF8", arg, NULL};
    st->conn = PQconnectStartParams(keys, vals, 1);
    if (!st->conn) {
        rc = sl_err_set(err, SL_ENOMEM, "%s: out of memory", st->label);
        goto out;
    }
    if (PQstatus(st->conn) == CONNECTION_BAD) {
        rc = sl__pg_fail(st, SL_EINVAL, "", NULL, err);
        goto out;
    }
    PQsetNoticeProcessor(st->conn, quiet, NULL); /* kept across resets */
    if ((rc = pg_connect_poll(st, false, cap_deadline(0, PG_CONNECT_MS), 0,
                              err)) != SL_OK ||
        (rc = sl__pg_migrate(st, err)) != SL_OK)
        goto out;
    rc = pg_prepare(st, cap_deadline(0, PG_CONNECT_MS), err);
out:
    if (rc != SL_OK) {
        pg_close(&st->base);
        return rc;
    }
    *out = &st->base;
    return SL_OK;
}

/* ---- query -------------------------------------------------------------- */

static uint32_t get_be32(const char *p)
{
    const uint8_t *b = (const uint8_t *)p;
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 |
           b[3];
}

static int64_t get_be64(const char *p)
{
    return (int64_t)((uint64_t)get_be32(p) << 32 | get_be32(p + 4));
}

/* One row's order key, for the rare sort. */
struct pg_row {
    int64_t update_time;
    int32_t seq;
    int row;
};

static int cmp_row(const void *a, const void *b)
{
    const struct pg_row *x = a, *y = b;
    if (x->update_time != y->update_time)
        return x->update_time < y->update_time ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int nomem(const struct pg_store *st, struct sl_err *err)
{
    return sl_err_set(err, SL_ENOMEM, "%s: out of memory reading logs",
                      st->label);
}

/* Copies a result of sl_q_all / sl_q_at into out. */
static int read_page(const struct pg_store *st, const PGresult *r,
                     const struct sl_log_query *q, struct sl_log_page *out,
                     struct sl_err *err)
{
    struct pg_row *order = NULL;
    int rows = PQntuples(r), rc = SL_OK;

    if (rows == 0)
        return sl_err_set(err, SL_ENOTFOUND,
                          "service %s not found in project %s", q->service_id,
                          q->project_id);
    if (PQnfields(r) != 5 || PQgetlength(r, 0, 1) != 4)
        return sl_err_set(err, SL_EINTERNAL,
                          "%s: unexpected result shape (was the schema "
                          "altered?)",
                          st->label);
    out->infer_type = (int32_t)get_be32(PQgetvalue(r, 0, 1));
    out->service_id =
        sl_arena_strndup(&out->arena, q->service_id, strlen(q->service_id));
    out->service_name = sl_arena_strndup(&out->arena, PQgetvalue(r, 0, 0),
                                         (size_t)PQgetlength(r, 0, 0));
    if (!out->service_id || !out->service_name)
        return nomem(st, err);
    if (rows == 1 && PQgetisnull(r, 0, 4))
        return SL_OK; /* the LEFT JOIN's row of a service without logs */

    size_t total = 0;
    bool sorted = true;
    int64_t prev_t = INT64_MIN;
    int32_t prev_seq = INT32_MIN;
    for (int i = 0; i < rows; i++) {
        if (PQgetlength(r, i, 2) != 8 || PQgetlength(r, i, 3) != 4 ||
            PQgetisnull(r, i, 4))
            return sl_err_set(err, SL_EINTERNAL,
                              "%s: unexpected log row (was the schema "
                              "altered?)",
                              st->label);
        int64_t t = get_be64(PQgetvalue(r, i, 2));
        int32_t seq = (int32_t)get_be32(PQgetvalue(r, i, 3));
        if (t < prev_t || (t == prev_t && seq < prev_seq))
            sorted = false;
        prev_t = t;
        prev_seq = seq;
        total += (size_t)PQgetlength(r, i, 4);
    }
    if (!sorted) { /* not the plan described at the top: sort here */
        if (!(order = malloc((size_t)rows * sizeof(*order)))) {
            rc = nomem(st, err);
            goto out;
        }
        for (int i = 0; i < rows; i++) {
            order[i].update_time = get_be64(PQgetvalue(r, i, 2));
            order[i].seq = (int32_t)get_be32(PQgetvalue(r, i, 3));
            order[i].row = i;
        }
        qsort(order, (size_t)rows, sizeof(*order), cmp_row);
    }
    struct sl_blob *logs =
        sl_arena_alloc(&out->arena, (size_t)rows * sizeof(*logs));
    uint8_t *bytes = sl_arena_alloc(&out->arena, total ? total : 1);
    if (!logs || !bytes) {
        rc = nomem(st, err);
        goto out;
    }
    for (int i = 0; i < rows; i++) {
        int row = order ? order[i].row : i;
        size_t len = (size_t)PQgetlength(r, row, 4);
        if (len)
            memcpy(bytes, PQgetvalue(r, row, 4), len);
        logs[i].data = bytes;
        logs[i].len = len;
        bytes += len;
    }
    out->logs = logs;
    out->n_logs = (size_t)rows;
out:
    free(order);
    return rc;
}

static int pg_query_logs(struct sl_store *base, const struct sl_log_query *q,
                         struct sl_log_page *out, struct sl_err *err)
{
    struct pg_store *st = (struct pg_store *)base;
    PGresult *r = NULL;
    uint8_t t[8];
    const char *vals[3] = {q->project_id, q->service_id, (const char *)t};
    int lens[3] = {(int)strlen(q->project_id), (int)strlen(q->service_id), 8};
    int rc;

    sl_log_page_init(out);
    for (int i = 0; i < 8; i++)
        t[i] = (uint8_t)((uint64_t)q->update_time >> (56 - 8 * i));
    rc = pg_exec_read(st, q->update_time ? "sl_q_at" : "sl_q_all",
                      q->update_time ? 3 : 2, vals, lens, q->deadline_us, &r,
                      err);
    if (rc == SL_OK)
        rc = read_page(st, r, q, out, err);
    PQclear(r);
    if (rc != SL_OK)
        sl_log_page_free(out);
    return rc;
}

/* ---- ping --------------------------------------------------------------- */

static int pg_ping(struct sl_store *base, struct sl_err *err)
{
    struct pg_store *st = (struct pg_store *)base;
    PGresult *r = NULL;
    int rc = pg_exec_read(st, "sl_ping", 0, NULL, NULL,
                          cap_deadline(0, PG_CONNECT_MS), &r, err);
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
    int rc = pg_exec_read(st, "sl_count", 0, NULL, NULL,
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
    .version = 3,
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
};
