/* store_pg.c -- PostgreSQL storage backend ("postgres://...", libpq)
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
 * Schema (version 1, in meta.schema_version), created in the first schema
 * of the session's search_path (a URI's options=-csearch_path%3DNAME
 * chooses another than public):
 *   meta(key text PRIMARY KEY, value text)
 *   services(project_id text, service_id text, service_name text NOT NULL,
 *            infer_type int NOT NULL, PRIMARY KEY(project_id, service_id))
 *   logs(project_id text, service_id text, update_time bigint, seq int,
 *        body bytea NOT NULL,
 *        PRIMARY KEY(project_id, service_id, update_time, seq))
 * seq is the log's index in its service's "logs" array in the import file;
 * body is the packed modelarts.v1.ServiceLog. open() creates the tables in
 * one transaction that holds pg_advisory_xact_lock first, so workers and
 * processes opening an empty database at once do not race. A newer
 * schema_version, or a services/logs table without meta.schema_version
 * (someone else's), is refused, as for SQLite.
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
 * Import: one transaction: BEGIN and an advisory lock (imports into one
 * schema take turns; readers never wait); DELETE the logs of every
 * imported service and upsert the service rows (one statement each, with
 * array parameters); COPY logs FROM STDIN (FORMAT binary) streams every
 * log; COMMIT. Any failure rolls back, so nothing changes. When one import
 * names a service twice, the last one wins, as in the other backends.
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

#include "buf.h"
#include "store.h"

#define PG_CONNECT_MS 5000        /* longest connect: open, reconnect, ping */
#define PG_CANCEL_GRACE_MS 1000   /* wait for a cancelled statement's end */
#define PG_COPY_CHUNK (1 << 20)   /* bytes per PQputCopyData() */
#define PG_LOCK_SCHEMA 1936486247 /* "slog": advisory lock, schema changes */
#define PG_LOCK_IMPORT 1936486248 /* and imports (with the schema's hash) */

/* Built-in type OIDs (catalog/pg_type_d.h, stable across versions). */
#define PG_INT4_OID 23
#define PG_TEXT_OID 25
#define PG_INT4_ARRAY_OID 1007
#define PG_TEXT_ARRAY_OID 1009

struct pg_store {
    struct sl_store base; /* must be first */
    PGconn *conn;         /* owned; never NULL after open */
    bool prepared;        /* the session has our prepared statements */
    bool broken;          /* reconnect before the next use */
    char label[128];      /* "postgres://HOST:PORT/DB", for messages */
};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The earlier of deadline_us (0 = none) and ms from now. */
static int64_t cap_deadline(int64_t deadline_us, int ms)
{
    int64_t cap = mono_us() + (int64_t)ms * 1000;
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
            int64_t left = deadline_us - mono_us();
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
static int pg_fail(const struct pg_store *st, int code, const char *what,
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
static bool pg_lost(const struct pg_store *st)
{
    return st->broken || PQstatus(st->conn) != CONNECTION_OK;
}

/* The sl_err code for a failed statement: SL_EUNAVAIL when the server
 * cannot serve now (connection, shutdown, resources, lock or serialization
 * conflicts), else other (the statement itself failed). Marks a connection
 * the server is closing as broken. */
static int pg_code(struct pg_store *st, const PGresult *r, int other)
{
    const char *s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (s && (strncmp(s, "08", 2) == 0 || strncmp(s, "57P", 3) == 0))
        st->broken = true; /* connection exception; admin or crash shutdown */
    if (pg_lost(st) || !s)
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
            return pg_fail(st, SL_EUNAVAIL, "cannot connect: ", NULL, err);
        int w = wait_fd(PQsocket(st->conn),
                        ps == PGRES_POLLING_READING ? POLLIN : POLLOUT,
                        deadline_us);
        if (w == 0) {
            if (query_deadline_us && mono_us() >= query_deadline_us)
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
                deadline_us = mono_us() + PG_CANCEL_GRACE_MS * 1000;
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
        rc = pg_fail(st, SL_EUNAVAIL, what, NULL, err);
        st->broken |= PQstatus(st->conn) != CONNECTION_OK;
    } else if (failed) {
        rc = pg_fail(st, pg_code(st, keep, SL_EUNAVAIL), what, keep, err);
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
        return pg_fail(st, SL_EUNAVAIL, "cannot prepare queries: ", NULL, err);
    int rc = pg_finish(st, deadline_us, &r, "cannot prepare queries: ", err);
    PQclear(r);
    if (rc == SL_OK)
        st->prepared = true;
    return rc;
}

/* Makes the connection usable: reconnects when it is lost (sets
 * *reconnected) and prepares the statements when the session lacks
 * them. */
static int pg_ready(struct pg_store *st, int64_t deadline_us, bool *reconnected,
                    struct sl_err *err)
{
    int rc;
    *reconnected = false;
    if (pg_lost(st)) {
        *reconnected = true;
        st->prepared = false;
        st->broken = true;
        if (!PQresetStart(st->conn))
            return pg_fail(st, SL_EUNAVAIL, "cannot reconnect: ", NULL, err);
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
        if (deadline_us && mono_us() > deadline_us)
            return sl_err_set(err, SL_ETIMEOUT,
                              "deadline passed before the query");
        rc = pg_ready(st, deadline_us, &reconnected, err);
        if (rc == SL_OK) {
            if (PQsendQueryPrepared(st->conn, name, n, vals, lens, binary, 1))
                rc = pg_finish(st, deadline_us, out, "", err);
            else
                rc = pg_fail(st, pg_code(st, NULL, SL_EUNAVAIL), "", NULL, err);
        }
        if (rc != SL_EUNAVAIL || reconnected || attempt > 0 || !pg_lost(st))
            return rc;
        /* Lost since its last use (e.g. the server restarted): once more
         * on a new connection. */
    }
}

/* ---- schema ------------------------------------------------------------- */

/* Schema migrations: step i takes the schema from version i to i + 1, so
 * the current version is the number of steps. To change the schema,
 * append a step (never edit one that has shipped); open() runs the missing
 * steps in one transaction. */
static const char *const pg_migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE IF NOT EXISTS meta(key text PRIMARY KEY, value text);"
    "CREATE TABLE IF NOT EXISTS services("
    "  project_id text NOT NULL,"
    "  service_id text NOT NULL,"
    "  service_name text NOT NULL,"
    "  infer_type int NOT NULL,"
    "  PRIMARY KEY(project_id, service_id));"
    "CREATE TABLE IF NOT EXISTS logs("
    "  project_id text NOT NULL,"
    "  service_id text NOT NULL,"
    "  update_time bigint NOT NULL,"
    "  seq int NOT NULL,"
    "  body bytea NOT NULL,"
    "  PRIMARY KEY(project_id, service_id, update_time, seq))",
};

#define PG_SCHEMA_VERSION                                                      \
    ((int64_t)(sizeof(pg_migrations) / sizeof(pg_migrations[0])))

/* Runs sql (blocking; open and import only) and returns its result in
 * *out when out is not NULL; failures are code when the server is not the
 * reason. */
static int pg_exec(struct pg_store *st, const char *sql, PGresult **out,
                   int code, const char *what, struct sl_err *err)
{
    PGresult *r = PQexec(st->conn, sql);
    ExecStatusType s = PQresultStatus(r);
    int rc = SL_OK;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        rc = pg_fail(st, pg_code(st, r, code), what, r, err);
    if (rc == SL_OK && out)
        *out = r;
    else
        PQclear(r);
    return rc;
}

/* Reads meta.schema_version into *v: 0 when none of our tables exists, -1
 * when services or logs exist without a schema_version (not ours). The
 * tables are looked up in pg_class with the statement's snapshot, not
 * through the session's catalog caches, which may not have seen another
 * session's commit yet (it may have created them while we waited for the
 * advisory lock). */
static int read_version(struct pg_store *st, int64_t *v, struct sl_err *err)
{
    PGresult *r = NULL;
    int rc = pg_exec(st,
                     "SELECT coalesce(bool_or(c.relname = 'meta'), false),"
                     " coalesce(bool_or(c.relname <> 'meta'), false)"
                     " FROM pg_class AS c JOIN pg_namespace AS n"
                     " ON n.oid = c.relnamespace"
                     " WHERE n.nspname = current_schema()"
                     " AND c.relname IN ('meta', 'services', 'logs')",
                     &r, SL_EIO, "", err);
    *v = 0;
    if (rc != SL_OK)
        return rc;
    bool has_meta = PQgetvalue(r, 0, 0)[0] == 't';
    bool has_data = PQgetvalue(r, 0, 1)[0] == 't';
    PQclear(r);
    r = NULL;
    if (!has_meta) {
        *v = has_data ? -1 : 0;
        return SL_OK;
    }
    rc = pg_exec(st, "SELECT value FROM meta WHERE key = 'schema_version'", &r,
                 SL_EIO, "", err);
    if (rc != SL_OK)
        return rc;
    *v = -1;
    if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) {
        char *end;
        const char *s = PQgetvalue(r, 0, 0);
        long long x = strtoll(s, &end, 10);
        if (*s && !*end && x >= 0)
            *v = x;
    }
    PQclear(r);
    return SL_OK;
}

/* SL_OK when this code can use or migrate schema version v. */
static int check_version(const struct pg_store *st, int64_t v,
                         struct sl_err *err)
{
    if (v < 0)
        return sl_err_set(err, SL_EINVAL,
                          "%s: not a servicelogs schema (it has a services or "
                          "logs table but no meta.schema_version)",
                          st->label);
    if (v > PG_SCHEMA_VERSION)
        return sl_err_set(err, SL_EINVAL,
                          "%s: schema version %lld is not supported by this "
                          "server (it supports up to %lld); use a newer "
                          "servicelogs-server",
                          st->label, (long long)v,
                          (long long)PG_SCHEMA_VERSION);
    return SL_OK;
}

/* Starts a transaction holding advisory lock (class, the schema). */
static const char sql_lock[] = "BEGIN; SELECT pg_advisory_xact_lock(%d,"
                               " hashtext(coalesce(current_schema(), '')))";

/* Brings the schema to PG_SCHEMA_VERSION; refuses a newer or foreign
 * one. */
static int migrate(struct pg_store *st, struct sl_err *err)
{
    char sql[160];
    int64_t v;
    int rc;

    /* Outside the lock only the common case is decided: the schema is
     * there. Anything else may be another connection's migration in
     * progress, so it is read again under the lock. */
    if ((rc = read_version(st, &v, err)) != SL_OK)
        return rc;
    if (v == PG_SCHEMA_VERSION)
        return SL_OK;
    snprintf(sql, sizeof(sql), sql_lock, PG_LOCK_SCHEMA);
    if ((rc = pg_exec(st, sql, NULL, SL_EIO, "", err)) != SL_OK)
        goto out;
    /* Read again under the lock: another connection may have migrated. */
    if ((rc = read_version(st, &v, err)) != SL_OK ||
        (rc = check_version(st, v, err)) != SL_OK)
        goto out;
    for (; v < PG_SCHEMA_VERSION; v++)
        if ((rc = pg_exec(st, pg_migrations[v], NULL, SL_EIO,
                          "cannot create the schema: ", err)) != SL_OK)
            goto out;
    snprintf(sql, sizeof(sql),
             "INSERT INTO meta(key, value) VALUES('schema_version', '%lld')"
             " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
             (long long)v);
    if ((rc = pg_exec(st, sql, NULL, SL_EIO, "", err)) != SL_OK)
        goto out;
    rc = pg_exec(st, "COMMIT", NULL, SL_EIO, "", err);
out:
    if (PQtransactionStatus(st->conn) != PQTRANS_IDLE)
        PQclear(PQexec(st->conn, "ROLLBACK"));
    return rc;
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
        rc = pg_fail(st, SL_EINVAL, "", NULL, err);
        goto out;
    }
    PQsetNoticeProcessor(st->conn, quiet, NULL); /* kept across resets */
    if ((rc = pg_connect_poll(st, false, cap_deadline(0, PG_CONNECT_MS), 0,
                              err)) != SL_OK ||
        (rc = migrate(st, err)) != SL_OK)
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

/* ---- import ------------------------------------------------------------- */

static void put_be32(struct sl_buf *b, uint32_t v)
{
    char x[4] = {(char)(v >> 24), (char)(v >> 16), (char)(v >> 8), (char)v};
    sl_buf_append(b, x, 4);
}

static void put_be16(struct sl_buf *b, uint16_t v)
{
    char x[2] = {(char)(v >> 8), (char)v};
    sl_buf_append(b, x, 2);
}

/* The header of a one-dimensional binary array of n elements. */
static void array_head(struct sl_buf *b, uint32_t elem_oid, size_t n)
{
    put_be32(b, 1);           /* dimensions */
    put_be32(b, 0);           /* no NULLs */
    put_be32(b, elem_oid);    /* element type */
    put_be32(b, (uint32_t)n); /* length */
    put_be32(b, 1);           /* lower bound */
}

/* One length-prefixed field (array element or COPY column). */
static void put_field(struct sl_buf *b, const void *p, size_t n)
{
    put_be32(b, (uint32_t)n);
    sl_buf_append(b, p, n);
}

/* A service of the import and its place in the import's array. */
struct pg_svc {
    const struct sl_import_service *v;
    size_t i;
};

static int cmp_svc(const void *a, const void *b)
{
    const struct pg_svc *x = a, *y = b;
    int c = strcmp(x->v->project_id, y->v->project_id);
    if (!c)
        c = strcmp(x->v->service_id, y->v->service_id);
    return c ? c : x->i < y->i ? -1 : x->i > y->i;
}

/* What one import sends: the services (deduplicated, last wins, in key
 * order) as binary arrays, and every log as binary COPY rows. */
struct pg_batch {
    struct sl_buf proj, svc, name, type; /* array parameters */
    size_t n;                            /* services */
};

static int batch_build(struct pg_batch *bt, struct pg_svc *svcs, size_t n,
                       const struct pg_store *st, struct sl_err *err)
{
    qsort(svcs, n, sizeof(*svcs), cmp_svc);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k &&
            strcmp(svcs[k - 1].v->project_id, svcs[i].v->project_id) == 0 &&
            strcmp(svcs[k - 1].v->service_id, svcs[i].v->service_id) == 0)
            k--; /* the same service again: the later one wins */
        svcs[k++] = svcs[i];
    }
    bt->n = k;
    if (k > INT32_MAX)
        return sl_err_set(err, SL_EINVAL, "%s: too many services", st->label);
    array_head(&bt->proj, PG_TEXT_OID, k);
    array_head(&bt->svc, PG_TEXT_OID, k);
    array_head(&bt->name, PG_TEXT_OID, k);
    array_head(&bt->type, PG_INT4_OID, k);
    for (size_t i = 0; i < k; i++) {
        const struct sl_import_service *v = svcs[i].v;
        uint8_t t[4] = {(uint8_t)((uint32_t)v->infer_type >> 24),
                        (uint8_t)((uint32_t)v->infer_type >> 16),
                        (uint8_t)((uint32_t)v->infer_type >> 8),
                        (uint8_t)v->infer_type};
        put_field(&bt->proj, v->project_id, strlen(v->project_id));
        put_field(&bt->svc, v->service_id, strlen(v->service_id));
        put_field(&bt->name, v->service_name, strlen(v->service_name));
        put_field(&bt->type, t, 4);
        if (v->n_logs > INT32_MAX)
            return sl_err_set(err, SL_EINVAL,
                              "%s: service %s has too many logs", st->label,
                              v->service_id);
    }
    if (bt->proj.oom || bt->svc.oom || bt->name.oom || bt->type.oom)
        return sl_err_set(err, SL_ENOMEM, "%s: out of memory importing",
                          st->label);
    if (bt->proj.len > INT_MAX || bt->svc.len > INT_MAX ||
        bt->name.len > INT_MAX)
        return sl_err_set(err, SL_EINVAL,
                          "%s: import too large for one "
                          "statement; split the file",
                          st->label);
    return SL_OK;
}

/* Runs a statement with binary array parameters (blocking). */
static int pg_exec_arrays(struct pg_store *st, const char *sql, int n,
                          const Oid *types, const struct sl_buf *const *args,
                          struct sl_err *err)
{
    const char *vals[4];
    int lens[4], fmts[4];
    for (int i = 0; i < n; i++) {
        vals[i] = args[i]->data;
        lens[i] = (int)args[i]->len;
        fmts[i] = 1;
    }
    PGresult *r = PQexecParams(st->conn, sql, n, types, vals, lens, fmts, 1);
    int rc = SL_OK;
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        rc = pg_fail(st, pg_code(st, r, SL_EIO), "", r, err);
    PQclear(r);
    return rc;
}

/* Streams every log of the batch's services: COPY ... FROM STDIN binary. */
static int pg_copy_logs(struct pg_store *st, const struct pg_svc *svcs,
                        size_t n, struct sl_err *err)
{
    static const char sig[11] = "PGCOPY\n\377\r\n";
    struct sl_buf b;
    PGresult *r = NULL;
    int rc = SL_OK;

    sl_buf_init(&b);
    r = PQexec(st->conn, "COPY logs(project_id, service_id, update_time, seq,"
                         " body) FROM STDIN (FORMAT binary)");
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        rc = pg_fail(st, pg_code(st, r, SL_EIO), "", r, err);
        goto out;
    }
    PQclear(r);
    r = NULL;
    sl_buf_append(&b, sig, sizeof(sig));
    put_be32(&b, 0); /* flags */
    put_be32(&b, 0); /* header extension length */
    for (size_t i = 0; i < n && rc == SL_OK; i++) {
        const struct sl_import_service *v = svcs[i].v;
        size_t lp = strlen(v->project_id), ls = strlen(v->service_id);
        for (size_t j = 0; j < v->n_logs; j++) {
            const struct sl_import_log *l = &v->logs[j];
            uint64_t t = (uint64_t)l->update_time;
            uint8_t x[12];
            for (int k = 0; k < 8; k++)
                x[k] = (uint8_t)(t >> (56 - 8 * k));
            for (int k = 0; k < 4; k++)
                x[8 + k] = (uint8_t)((uint32_t)j >> (24 - 8 * k));
            if (l->body.len > INT32_MAX) {
                rc = sl_err_set(err, SL_EINVAL, "%s: a log of %s is too large",
                                st->label, v->service_id);
                break;
            }
            put_be16(&b, 5); /* columns */
            put_field(&b, v->project_id, lp);
            put_field(&b, v->service_id, ls);
            put_field(&b, x, 8);
            put_field(&b, x + 8, 4);
            put_field(&b, l->body.data, l->body.len);
            if (b.oom) {
                rc = sl_err_set(err, SL_ENOMEM, "%s: out of memory importing",
                                st->label);
                break;
            }
            if (b.len >= PG_COPY_CHUNK) {
                if (PQputCopyData(st->conn, b.data, (int)b.len) != 1) {
                    rc = pg_fail(st, SL_EUNAVAIL, "", NULL, err);
                    break;
                }
                b.len = 0;
            }
        }
    }
    put_be16(&b, 0xffff); /* trailer */
    if (rc == SL_OK && b.oom)
        rc = sl_err_set(err, SL_ENOMEM, "%s: out of memory importing",
                        st->label);
    if (rc == SL_OK && PQputCopyData(st->conn, b.data, (int)b.len) != 1)
        rc = pg_fail(st, SL_EUNAVAIL, "", NULL, err);
    /* Ends the COPY; with an error message it fails on the server. */
    if (PQputCopyEnd(st->conn, rc == SL_OK ? NULL : "import aborted") != 1 &&
        rc == SL_OK)
        rc = pg_fail(st, SL_EUNAVAIL, "", NULL, err);
    while ((r = PQgetResult(st->conn))) {
        if (rc == SL_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
            rc = pg_fail(st, pg_code(st, r, SL_EIO), "", r, err);
        PQclear(r);
    }
out:
    PQclear(r);
    sl_buf_free(&b);
    return rc;
}

static const char sql_delete_logs[] =
    "DELETE FROM logs AS l USING unnest($1::text[], $2::text[]) AS k(p, s)"
    " WHERE l.project_id = k.p AND l.service_id = k.s";
static const char sql_put_services[] =
    "INSERT INTO services AS s(project_id, service_id, service_name,"
    " infer_type) SELECT * FROM unnest($1::text[], $2::text[], $3::text[],"
    " $4::int[])"
    " ON CONFLICT (project_id, service_id) DO UPDATE"
    " SET service_name = EXCLUDED.service_name,"
    " infer_type = EXCLUDED.infer_type"
    " WHERE (s.service_name, s.infer_type)"
    " IS DISTINCT FROM (EXCLUDED.service_name, EXCLUDED.infer_type)";

/* One attempt at the import transaction. *committing is set while COMMIT
 * is on its way (a lost connection then leaves the outcome unknown). */
static int import_once(struct pg_store *st, const struct pg_batch *bt,
                       const struct pg_svc *svcs, bool *committing,
                       struct sl_err *err)
{
    static const Oid del_types[] = {PG_TEXT_ARRAY_OID, PG_TEXT_ARRAY_OID};
    static const Oid put_types[] = {PG_TEXT_ARRAY_OID, PG_TEXT_ARRAY_OID,
                                    PG_TEXT_ARRAY_OID, PG_INT4_ARRAY_OID};
    const struct sl_buf *del_args[] = {&bt->proj, &bt->svc};
    const struct sl_buf *put_args[] = {&bt->proj, &bt->svc, &bt->name,
                                       &bt->type};
    int rc;

    char begin[160];
    *committing = false;
    /* Imports take turns (per schema), as SQLite's writers do: two imports
     * of one service at once could otherwise each delete the logs they see
     * and together leave both sets. Readers never wait. */
    snprintf(begin, sizeof(begin), sql_lock, PG_LOCK_IMPORT);
    if ((rc = pg_exec(st, begin, NULL, SL_EIO, "", err)) != SL_OK ||
        (rc = pg_exec_arrays(st, sql_delete_logs, 2, del_types, del_args,
                             err)) != SL_OK ||
        (rc = pg_exec_arrays(st, sql_put_services, 4, put_types, put_args,
                             err)) != SL_OK ||
        (rc = pg_copy_logs(st, svcs, bt->n, err)) != SL_OK)
        return rc;
    *committing = true;
    return pg_exec(st, "COMMIT", NULL, SL_EIO, "", err);
}

static int pg_import(struct sl_store *base,
                     const struct sl_import_service *svcs, size_t n,
                     struct sl_err *err)
{
    struct pg_store *st = (struct pg_store *)base;
    struct pg_batch bt = {.n = 0};
    struct pg_svc *order = NULL;
    bool committing = false;
    int rc = SL_OK;

    if (n == 0)
        return SL_OK;
    sl_buf_init(&bt.proj);
    sl_buf_init(&bt.svc);
    sl_buf_init(&bt.name);
    sl_buf_init(&bt.type);
    if (!(order = calloc(n, sizeof(*order)))) {
        rc = sl_err_set(err, SL_ENOMEM, "%s: out of memory importing",
                        st->label);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        order[i].v = &svcs[i];
        order[i].i = i;
    }
    if ((rc = batch_build(&bt, order, n, st, err)) != SL_OK)
        goto out;
    for (int attempt = 0;; attempt++) {
        bool reconnected;
        rc = pg_ready(st, 0, &reconnected, err);
        if (rc == SL_OK)
            rc = import_once(st, &bt, order, &committing, err);
        if (rc == SL_OK || committing || reconnected || attempt > 0 ||
            !pg_lost(st))
            break;
        /* Lost before COMMIT was sent: nothing was stored; retry once. */
    }
out:
    if (rc != SL_OK) {
        char m[SL_ERR_MSG_LEN];
        snprintf(m, sizeof(m), "%s", err ? err->msg : "");
        const char *sep = strncmp(m, st->label, strlen(st->label)) == 0
                              ? m + strlen(st->label)
                              : NULL;
        if (committing && pg_lost(st))
            sl_err_set(err, rc,
                       "%s: import outcome unknown: the connection was lost "
                       "during COMMIT (importing the file again is safe)%.160s",
                       st->label, sep ? sep : "");
        else
            sl_err_set(err, rc, "%s: import failed, nothing changed: %.180s",
                       st->label, sep ? sep + 2 : m);
        if (PQstatus(st->conn) == CONNECTION_OK &&
            PQtransactionStatus(st->conn) != PQTRANS_IDLE)
            PQclear(PQexec(st->conn, "ROLLBACK"));
    }
    sl_buf_free(&bt.proj);
    sl_buf_free(&bt.svc);
    sl_buf_free(&bt.name);
    sl_buf_free(&bt.type);
    free(order);
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
    .import = pg_import,
    .ping = pg_ping,
    .close = pg_close,
    .count_services = pg_count_services,
    .aliases = pg_aliases,
    .takes_uri = true,
    .uri_form = "postgres://...",
};
