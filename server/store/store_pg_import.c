/* store_pg_import.c -- the PostgreSQL backend's import (store.h v1, v5)
 *
 * A session is one transaction. import_begin: BEGIN with the imports'
 * advisory lock (imports into one schema take turns; readers never wait)
 * and two staging tables, TEMP and ON COMMIT DROP, so that they live and
 * die with the transaction and no other session sees them. import_add:
 * two COPY ... FROM STDIN (FORMAT binary) per batch, the services into
 * sl_import_svcs and their logs into sl_import_logs, each row carrying the
 * service's place in the session (ord); the live tables are not touched,
 * so no row lock is held while the file is read. import_end: the swap, in
 * the same transaction: the last entry of each service (a service named
 * twice: the last one wins, as in the other backends) into
 * sl_import_last; then the feed's advisory lock (the order every writer
 * takes: feed lock, then rows, so a writer waits for the swap, never for
 * the parse, and no deadlock), DELETE the old logs, upsert the service
 * rows, INSERT the staged logs in key order, one "replaced" change per
 * service (update_time 0, the seal of an empty body, seqs in the services'
 * key order), NOTIFY (sl__pg_feed_end) and COMMIT. Any failure rolls back,
 * so nothing changes; a client killed mid-session drops its connection,
 * and the server rolls its transaction back.
 *
 * Wire formats: binary COPY rows, so no value is quoted or turned into
 * text and a log's body goes over as the bytes it is, followed by its
 * seal (wire.h: its CRC-32C, which a query checks and strips, as for
 * SQLite; store_pg_schema.c). A batch is sent in PG_COPY_CHUNK pieces.
 *
 * Waiting: the connection stays in libpq's nonblocking mode, and every
 * round trip waits through store_pg_wait.c: not by a deadline (an import
 * of millions of logs takes as long as it takes, the swap is one long
 * statement) but for as long as the server shows signs of life, to
 * --pg-answer-timeout of silence (a new connection that gets no answer
 * either). Each COPY chunk is pushed to the socket before the next is
 * queued (sl__pg_push), so libpq never holds more than one chunk. A wait
 * that gives up drops the connection (no ROLLBACK to wait for): the
 * server rolls back when it sees the connection's end, so nothing is
 * committed, even by a server that thaws later; only a COMMIT already
 * sent has an unknown outcome, and the message says so. st->step names
 * what the import waited for.
 *
 * Memory: one COPY chunk; the caller's batch is only read. The staging
 * tables live on the server (temp_buffers, then temp files).
 */
#include <libpq-fe.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "store.h"
#include "store_pg.h"
#include "wire.h"

#define PG_COPY_CHUNK (1 << 20) /* bytes per PQputCopyData() */

static void put_be32(struct sl_buf *b, uint32_t v)
{
    char x[4] = {(char)(v >> 24), (char)(v >> 16), (char)(v >> 8), (char)v};
    sl_buf_append(b, x, 4);
}

static void put_be64(struct sl_buf *b, uint64_t v)
{
    put_be32(b, (uint32_t)(v >> 32));
    put_be32(b, (uint32_t)v);
}

static void put_be16(struct sl_buf *b, uint16_t v)
{
    char x[2] = {(char)(v >> 8), (char)v};
    sl_buf_append(b, x, 2);
}

/* One length-prefixed COPY column. */
static void put_field(struct sl_buf *b, const void *p, size_t n)
{
    put_be32(b, (uint32_t)n);
    sl_buf_append(b, p, n);
}

static const char sql_stage[] =
    "CREATE TEMP TABLE sl_import_svcs(ord int8 NOT NULL,"
    " project_id text NOT NULL, service_id text NOT NULL,"
    " service_name text NOT NULL, infer_type int4 NOT NULL) ON COMMIT DROP;"
    "CREATE TEMP TABLE sl_import_logs(ord int8 NOT NULL,"
    " update_time int8 NOT NULL, seq int4 NOT NULL, body bytea NOT NULL)"
    " ON COMMIT DROP";

/* The swap, before the feed's lock: the last entry of each service. */
static const char sql_last[] =
    "CREATE TEMP TABLE sl_import_last ON COMMIT DROP AS"
    " SELECT DISTINCT ON (project_id, service_id) ord, project_id,"
    " service_id, service_name, infer_type FROM sl_import_svcs"
    " ORDER BY project_id, service_id, ord DESC;"
    "ANALYZE sl_import_last";

/* The swap, holding the feed's lock. */
static const char sql_swap[] =
    "DELETE FROM logs AS l USING sl_import_last AS k"
    " WHERE l.project_id = k.project_id AND l.service_id = k.service_id;"
    "INSERT INTO services AS s(project_id, service_id, service_name,"
    " infer_type) SELECT project_id, service_id, service_name, infer_type"
    " FROM sl_import_last"
    " ON CONFLICT (project_id, service_id) DO UPDATE"
    " SET service_name = EXCLUDED.service_name,"
    " infer_type = EXCLUDED.infer_type"
    " WHERE (s.service_name, s.infer_type)"
    " IS DISTINCT FROM (EXCLUDED.service_name, EXCLUDED.infer_type);"
    "INSERT INTO logs(project_id, service_id, update_time, seq, body)"
    " SELECT k.project_id, k.service_id, g.update_time, g.seq, g.body"
    " FROM sl_import_logs AS g JOIN sl_import_last AS k USING (ord)"
    " ORDER BY 1, 2, 3, 4";

/* $1: the seal of an empty body. Its row: feed.head, feed.pruned. */
static const char sql_changes[] =
    "WITH n AS (SELECT count(*) AS n FROM sl_import_last),"
    " h AS (UPDATE feed SET head = head + (SELECT n FROM n)"
    "  RETURNING head, pruned),"
    " c AS (INSERT INTO changes(seq, project_id, service_id, update_time,"
    "  body) SELECT h.head - (SELECT n FROM n) + row_number() OVER"
    "  (ORDER BY k.project_id, k.service_id), k.project_id, k.service_id,"
    "  0, $1 FROM h, sl_import_last AS k)"
    " SELECT head, pruned FROM h";

/* Rewrites err as the import's failure: "LABEL: import failed, nothing
 * changed: ..." or, when the connection broke during COMMIT, "outcome
 * unknown"; rolls back what is still open and ends the session. */
static int session_fail(struct pg_store *st, int rc, bool committing,
                        struct sl_err *err)
{
    char m[SL_ERR_MSG_LEN];
    snprintf(m, sizeof(m), "%s", err ? err->msg : "");
    const char *sep = strncmp(m, st->label, strlen(st->label)) == 0
                          ? m + strlen(st->label)
                          : NULL;
    if (committing && sl__pg_lost(st))
        sl_err_set(err, rc,
                   "%s: import outcome unknown: the connection was lost "
                   "during COMMIT (importing the file again is safe)%.160s",
                   st->label, sep ? sep : "");
    else
        sl_err_set(err, rc, "%s: import failed, nothing changed: %.180s",
                   st->label, sep && sep[0] == ':' ? sep + 2 : m);
    sl__pg_end_tx(st);
    st->importing = false;
    return rc;
}

int sl__pg_import_begin(struct sl_store *base, struct sl_err *err)
{
    struct pg_store *st = (struct pg_store *)base;
    int rc = SL_OK;

    if (st->importing)
        return sl_err_set(err, SL_EINTERNAL,
                          "%s: an import session is already open", st->label);
    st->importing = true;
    st->import_failed = false;
    st->import_ord = 0;
    for (int attempt = 0;; attempt++) {
        bool reconnected;
        st->step = "connecting";
        rc = sl__pg_ready(st, sl_clock_us() + (int64_t)st->answer_ms * 1000,
                          &reconnected, err);
        st->step = "waiting for the import lock (another import's turn)";
        if (rc == SL_OK &&
            (rc = sl__pg_begin_locked(st, PG_LOCK_IMPORT, err)) == SL_OK) {
            st->step = "creating the staging tables";
            rc = sl__pg_exec(st, sql_stage, NULL, SL_EIO, "", err);
        }
        if (rc == SL_OK || rc == SL_ETIMEOUT || reconnected || attempt > 0 ||
            !sl__pg_lost(st))
            break;
        /* Lost before anything was sent: nothing was stored; retry once. */
    }
    return rc == SL_OK ? SL_OK : session_fail(st, rc, false, err);
}

/* Starts COPY sql FROM STDIN (FORMAT binary) and puts its header in b. */
static int copy_start(struct pg_store *st, const char *sql, struct sl_buf *b,
                      struct sl_err *err)
{
    static const char sig[11] = "PGCOPY\n\377\r\n";
    PGresult *r = NULL;
    int rc = sl__pg_exec(st, sql, &r, SL_EIO, "", err);
    if (rc == SL_OK && PQresultStatus(r) != PGRES_COPY_IN)
        rc = sl_err_set(err, SL_EINTERNAL, "%s: COPY did not start", st->label);
    PQclear(r);
    sl_buf_append(b, sig, sizeof(sig));
    put_be32(b, 0); /* flags */
    put_be32(b, 0); /* header extension length */
    return rc;
}

/* Sends b when it holds a chunk (or, with last, whatever it holds). */
static int copy_flush(struct pg_store *st, struct sl_buf *b, bool last,
                      struct sl_err *err)
{
    if (b->oom)
        return sl_err_set(err, SL_ENOMEM, "%s: out of memory importing",
                          st->label);
    if (b->len < (last ? 1 : PG_COPY_CHUNK))
        return SL_OK;
    if (b->len > INT_MAX || PQputCopyData(st->conn, b->data, (int)b->len) != 1)
        return sl__pg_fail(st, SL_EUNAVAIL, "", NULL, err);
    b->len = 0;
    return sl__pg_push(st, err); /* before the next chunk is queued */
}

/* Ends the COPY: the trailer, or (rc failed) an error that fails it on
 * the server; then its result. */
static int copy_end(struct pg_store *st, struct sl_buf *b, int rc,
                    struct sl_err *err)
{
    struct sl_err ignored;
    put_be16(b, 0xffff); /* trailer */
    if (rc == SL_OK)
        rc = copy_flush(st, b, true, err);
    if (!st->conn) /* dropped: a wait gave up */
        return rc;
    /* Always queued: the chunk before it was pushed. */
    if (PQputCopyEnd(st->conn, rc == SL_OK ? NULL : "import aborted") != 1 &&
        rc == SL_OK)
        rc = sl__pg_fail(st, SL_EUNAVAIL, "", NULL, err);
    /* Its result; after a failure only to read it (the first error
     * stays). */
    int done = sl__pg_await(st, NULL, SL_EIO, "", rc == SL_OK ? err : &ignored);
    return rc == SL_OK ? done : rc;
}

/* The batch's services into sl_import_svcs. */
static int copy_services(struct pg_store *st,
                         const struct sl_import_service *svcs, size_t n,
                         struct sl_buf *b, struct sl_err *err)
{
    int rc = copy_start(st, "COPY sl_import_svcs FROM STDIN (FORMAT binary)", b,
                        err);
    for (size_t i = 0; i < n && rc == SL_OK; i++) {
        const struct sl_import_service *v = &svcs[i];
        put_be16(b, 5); /* columns */
        put_be32(b, 8);
        put_be64(b, (uint64_t)(st->import_ord + (int64_t)i));
        put_field(b, v->project_id, strlen(v->project_id));
        put_field(b, v->service_id, strlen(v->service_id));
        put_field(b, v->service_name, strlen(v->service_name));
        put_be32(b, 4);
        put_be32(b, (uint32_t)v->infer_type);
        rc = copy_flush(st, b, false, err);
    }
    return copy_end(st, b, rc, err);
}

/* The batch's logs into sl_import_logs, each body followed by its seal. */
static int copy_logs(struct pg_store *st, const struct sl_import_service *svcs,
                     size_t n, struct sl_buf *b, struct sl_err *err)
{
    int rc = copy_start(st, "COPY sl_import_logs FROM STDIN (FORMAT binary)", b,
                        err);
    for (size_t i = 0; i < n && rc == SL_OK; i++) {
        const struct sl_import_service *v = &svcs[i];
        if (v->n_logs > INT32_MAX) {
            rc = sl_err_set(err, SL_EINVAL, "%s: service %s has too many logs",
                            st->label, v->service_id);
            break;
        }
        for (size_t j = 0; j < v->n_logs && rc == SL_OK; j++) {
            const struct sl_import_log *l = &v->logs[j];
            if (l->body.len > INT32_MAX - SL_WIRE_SEAL_LEN) {
                rc = sl_err_set(err, SL_EINVAL, "%s: a log of %s is too large",
                                st->label, v->service_id);
                break;
            }
            uint8_t seal[SL_WIRE_SEAL_LEN];
            sl_wire_seal(l->body.data, l->body.len, seal);
            put_be16(b, 4); /* columns */
            put_be32(b, 8);
            put_be64(b, (uint64_t)(st->import_ord + (int64_t)i));
            put_be32(b, 8);
            put_be64(b, (uint64_t)l->update_time);
            put_be32(b, 4);
            put_be32(b, (uint32_t)j);
            put_be32(b, (uint32_t)(l->body.len + SL_WIRE_SEAL_LEN));
            sl_buf_append(b, l->body.data, l->body.len);
            sl_buf_append(b, seal, SL_WIRE_SEAL_LEN);
            rc = copy_flush(st, b, false, err);
        }
    }
    return copy_end(st, b, rc, err);
}

int sl__pg_import_add(struct sl_store *base,
                      const struct sl_import_service *svcs, size_t n,
                      struct sl_err *err)
{
    struct pg_store *st = (struct pg_store *)base;
    struct sl_buf b;
    int rc;

    if (!st->importing || st->import_failed)
        return sl_err_set(err, SL_EINTERNAL, "%s: import_add outside a session",
                          st->label);
    if (n == 0)
        return SL_OK;
    sl_buf_init(&b);
    st->step = "sending services and logs";
    rc = copy_services(st, svcs, n, &b, err);
    b.len = 0;
    if (rc == SL_OK)
        rc = copy_logs(st, svcs, n, &b, err);
    sl_buf_free(&b);
    if (rc != SL_OK) {
        /* The message now; the session waits for its import_end(false). */
        session_fail(st, rc, false, err);
        st->importing = st->import_failed = true;
        return rc;
    }
    st->import_ord += (int64_t)n;
    return SL_OK;
}

/* Appends the import's changes to the feed and NOTIFYs (the caller holds
 * the feed's lock). */
static int swap_changes(struct pg_store *st, struct sl_err *err)
{
    static const Oid types[] = {17 /* bytea */};
    static const int fmts[] = {1};
    static const uint8_t none[1];
    uint8_t seal[SL_WIRE_SEAL_LEN];
    sl_wire_seal(none, 0, seal);
    const char *vals[] = {(const char *)seal};
    const int lens[] = {SL_WIRE_SEAL_LEN};
    char sql[320];
    PGresult *r = NULL;
    int rc;
    if (!PQsendQueryParams(st->conn, sql_changes, 1, types, vals, lens, fmts,
                           1))
        rc = sl__pg_fail(st, sl__pg_code(st, NULL, SL_EIO), "", NULL, err);
    else if ((rc = sl__pg_await(st, &r, SL_EIO, "", err)) != SL_OK)
        ;
    else if (PQntuples(r) != 1 || PQgetlength(r, 0, 0) != 8 ||
             PQgetlength(r, 0, 1) != 8)
        rc = sl_err_set(err, SL_EINTERNAL, "%s: the feed's row is missing",
                        st->label);
    else {
        sl__pg_feed_end_sql(sql, sizeof(sql), sl__pg_be64(PQgetvalue(r, 0, 0)),
                            sl__pg_be64(PQgetvalue(r, 0, 1)));
        rc = sl__pg_exec(st, sql, NULL, SL_EIO, "", err);
    }
    PQclear(r);
    return rc;
}

int sl__pg_import_end(struct sl_store *base, bool commit, struct sl_err *err)
{
    struct pg_store *st = (struct pg_store *)base;
    char lock[160];
    int rc;

    if (!st->importing || !commit || st->import_failed) {
        bool was = st->importing && !st->import_failed;
        if (st->importing)
            sl__pg_end_tx(st);
        st->importing = st->import_failed = false;
        if (!commit)
            return SL_OK;
        return sl_err_set(err, SL_EINTERNAL,
                          "%s: import failed, nothing changed: %s", st->label,
                          was ? "" : "no session, or a batch failed");
    }
    snprintf(lock, sizeof(lock), PG_LOCK_FMT, PG_LOCK_FEED);
    st->step = "keeping each service's last entry";
    if ((rc = sl__pg_exec(st, sql_last, NULL, SL_EIO, "", err)) != SL_OK)
        return session_fail(st, rc, false, err);
    st->step = "waiting for the feed's lock";
    if ((rc = sl__pg_exec(st, lock, NULL, SL_EIO, "", err)) != SL_OK)
        return session_fail(st, rc, false, err);
    st->step = "replacing the services' logs";
    if ((rc = sl__pg_exec(st, sql_swap, NULL, SL_EIO, "", err)) != SL_OK ||
        (rc = swap_changes(st, err)) != SL_OK)
        return session_fail(st, rc, false, err);
    st->step = "committing";
    if ((rc = sl__pg_exec(st, "COMMIT", NULL, SL_EIO, "", err)) != SL_OK)
        return session_fail(st, rc, true, err);
    st->importing = false;
    return SL_OK;
}

int sl__pg_import(struct sl_store *base, const struct sl_import_service *svcs,
                  size_t n, struct sl_err *err)
{
    int rc;
    if (n == 0)
        return SL_OK;
    if ((rc = sl__pg_import_begin(base, err)) != SL_OK)
        return rc;
    if ((rc = sl__pg_import_add(base, svcs, n, err)) != SL_OK) {
        sl__pg_import_end(base, false, NULL);
        return rc;
    }
    return sl__pg_import_end(base, true, err);
}
