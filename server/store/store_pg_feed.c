/* store_pg_feed.c -- the PostgreSQL backend's writes and change feed
 *
 * Writers (put_service, record_log, and the import's changes) run one
 * transaction each, statement by statement in libpq's nonblocking mode,
 * bounded by PG_WRITE_MS (the slots have no deadline of their own): BEGIN,
 * the statements, COMMIT. A write found lost before COMMIT went out (the
 * server restarted since the connection's last use) is retried once on a
 * new connection, as reads are; one lost during COMMIT says its outcome is
 * unknown. A write given up on leaves its transaction to the next use of
 * the connection, which reads the statement's end and rolls it back
 * (sl__pg_ready).
 *
 * Seq order is commit order. Every transaction that appends changes takes
 * pg_advisory_xact_lock(PG_LOCK_FEED, the schema) in its first statement,
 * before it reads anything, and holds it to its end; a transaction's locks
 * are released only once its commit is visible to every new snapshot. So
 * writers of the feed run one at a time in every process, each one's
 * statements (READ COMMITTED: one snapshot per statement, taken after the
 * lock) see all earlier writers' commits, and the seqs it hands out
 * (feed.head + 1, ...) follow every seq committed before: a reader that
 * has seen seq N never finds a committed N - 1 later. An import takes
 * PG_LOCK_IMPORT first and then PG_LOCK_FEED, for its whole transaction:
 * a writer that touched a log the import deletes while it waited for the
 * feed's lock would otherwise deadlock with it. put_service takes the
 * lock too: a create or a rename appends one "replaced" change (update_time
 * 0: watchers watch again, response caches drop the service's answers);
 * its upsert leaves an unchanged name alone and returns no row,
 * as for another infer_type, which the next statement tells apart.
 *
 * record_log, under the lock: one statement checks the service, one
 * upserts the log and appends the change (data-modifying CTEs, one
 * snapshot): the first log at that update_time keeps its place (its
 * logs.seq) with the new body and the others at that time are deleted, or
 * a new one goes after the service's last (logs.seq = max + 1); feed.head
 * moves up by one and changes gets (head, ids, update_time, the sealed
 * body). Then sl__pg_feed_end prunes when due and NOTIFYs, and COMMIT.
 *
 * Pruning: a writer that leaves more than SL_STORE_FEED_KEEP +
 * PG_PRUNE_SLACK changes deletes all but the newest SL_STORE_FEED_KEEP and
 * sets feed.pruned to the newest seq it deleted. Seqs are dense (feed.head
 * moves inside the transaction that adds the changes, and rolls back with
 * it), so a reader lost changes exactly when after < pruned.
 *
 * Wake-ups: every feed transaction ends with pg_notify(PG_CHANNEL, its
 * current_schema()), which PostgreSQL delivers at COMMIT to every session
 * LISTENing then, in any process. wait_changes LISTENs on its own
 * connection (store.h: it is used for nothing else), then waits on the
 * socket with poll() and reads what arrives (PQconsumeInput, PQnotifies);
 * a notification of another schema's writer (another deployment in the
 * same database) is skipped, one without a payload wakes. Commits made
 * while the session was not LISTENing (before the first call, during an
 * outage) cannot be notified: every call that (re)starts LISTENing
 * returns SL_OK at once, a spurious wake-up, and the caller's read_changes
 * from its seq finds them. A broken connection is dropped and reported
 * (SL_EUNAVAIL); later calls reconnect (sl__pg_ready: nonblocking, within
 * the call's time, a connect under way kept for the next call) after
 * sl__pg_ready's back-off (PG_BACKOFF_MS doubling to PG_BACKOFF_MAX_MS
 * between failed attempts), which this waits out. With a listen URI
 * (--pg-listen-uri: the backend URI goes through a transaction pooler,
 * where a LISTEN lands on whichever server connection the pooler picks and
 * is never heard from again), the first call moves the connection there:
 * a direct session to the same database. No call waits longer than its
 * timeout_ms, or PG_WAIT_MIN_MS when it reconnects. A server frozen without
 * closing the connection (SIGSTOP) commits nothing, so waiting out the timeout
 * misses nothing; a host gone silent is found by the keepalives (store_pg.c).
 *
 * read_changes: one prepared statement (sl_changes, store_pg.c) reads the
 * feed row and the changes after `after` in one snapshot; each body's seal
 * is checked and stripped (SL_ECORRUPT otherwise: every change is written
 * sealed), and everything is copied into the batch's arena.
 *
 * Ownership: the arrays a writer sends are its own, freed before it
 * returns; a batch belongs to the caller (sl_change_batch_free).
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
#include "modelarts/v1/service_logs.pb-c.h"
#include "store.h"
#include "store_pg.h"
#include "wire.h"

/* Built-in type OIDs (catalog/pg_type_d.h, stable across versions). */
#define PG_BYTEA_OID 17
#define PG_INT8_OID 20
#define PG_INT4_OID 23
#define PG_TEXT_OID 25

static void put_be64(uint8_t out[8], int64_t v)
{
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
}

static const char *type_name(int infer_type)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
        &modelarts__v1__infer_type__descriptor, infer_type);
    return v ? v->name : "unknown";
}

/* One round trip of a write: sql with n binary parameters, or, when n is
 * 0, a simple query (several statements allowed, text results), answered
 * by deadline_us. *out, when not NULL, gets the (last) result. */
static int pg_step(struct pg_store *st, const char *sql, int n,
                   const Oid *types, const char *const *vals, const int *lens,
                   int64_t deadline_us, PGresult **out, struct sl_err *err)
{
    static const int binary[4] = {1, 1, 1, 1};
    PGresult *r = NULL;
    int sent =
        n ? PQsendQueryParams(st->conn, sql, n, types, vals, lens, binary, 1)
          : PQsendQuery(st->conn, sql);
    if (!sent)
        return sl__pg_fail(st, sl__pg_code(st, NULL, SL_EUNAVAIL), "", NULL,
                           err);
    int rc = sl__pg_finish(st, deadline_us, &r, "", err);
    if (out)
        *out = r;
    else
        PQclear(r);
    return rc;
}

/* BEGIN, and the feed's lock when lock is set (see the top). */
static int pg_begin(struct pg_store *st, bool lock, int64_t deadline_us,
                    struct sl_err *err)
{
    char sql[160];
    snprintf(sql, sizeof(sql), lock ? "BEGIN; " PG_LOCK_FMT : "BEGIN",
             PG_LOCK_FEED);
    return pg_step(st, sql, 0, NULL, NULL, NULL, deadline_us, NULL, err);
}

/* A write's transaction: runs on a ready connection by deadline_us, sets
 * *committing once its COMMIT is on its way. */
typedef int (*pg_tx)(struct pg_store *st, void *arg, int64_t deadline_us,
                     bool *committing, struct sl_err *err);

/* Runs tx (see the top): retried once on a connection found lost before
 * COMMIT went out; on failure the transaction is rolled back (now, or at
 * the connection's next use) and the result is never SL_ETIMEOUT. */
static int pg_write(struct pg_store *st, const char *what, pg_tx tx, void *arg,
                    struct sl_err *err)
{
    int64_t deadline = sl_clock_us() + (int64_t)PG_WRITE_MS * 1000;
    bool committing = false;
    int rc;

    for (int attempt = 0;; attempt++) {
        bool reconnected;
        committing = false;
        rc = sl__pg_ready(st, deadline, &reconnected, err);
        if (rc == SL_OK) {
            PQsetnonblocking(st->conn, 1); /* an import may have unset it */
            rc = tx(st, arg, deadline, &committing, err);
        }
        if (rc != SL_EUNAVAIL || committing || reconnected || attempt > 0 ||
            !sl__pg_lost(st))
            break;
        /* Lost since its last use, nothing sent: once more. */
    }
    if (rc == SL_OK)
        return rc;
    if (!sl__pg_lost(st) && !st->abandoned_us &&
        PQtransactionStatus(st->conn) != PQTRANS_IDLE) {
        struct sl_err ignored;
        pg_step(st, "ROLLBACK", 0, NULL, NULL, NULL,
                sl_clock_us() + (int64_t)PG_PING_MS * 1000, NULL, &ignored);
    }
    bool unknown = committing && (sl__pg_lost(st) || st->abandoned_us);
    if (rc == SL_ETIMEOUT)
        rc = SL_EUNAVAIL; /* the storage's delay, not the caller's deadline */
    if (unknown && err) {
        char m[SL_ERR_MSG_LEN];
        size_t n = strlen(st->label);
        snprintf(m, sizeof(m), "%s",
                 strncmp(err->msg, st->label, n) == 0 ? err->msg + n : "");
        sl_err_set(err, rc,
                   "%s: %s: outcome unknown: no answer to COMMIT (doing it "
                   "again is safe)%.160s",
                   st->label, what, m);
    } else if (err) {
        err->code = rc;
    }
    return rc;
}

/* ---- put_service --------------------------------------------------------- */

static const char sql_put[] =
    "INSERT INTO services AS s(project_id, service_id, service_name,"
    " infer_type) VALUES($1, $2, $3, $4)"
    " ON CONFLICT (project_id, service_id) DO UPDATE"
    " SET service_name = EXCLUDED.service_name"
    " WHERE s.infer_type = EXCLUDED.infer_type"
    " AND s.service_name <> EXCLUDED.service_name"
    " RETURNING s.xmax = 0"; /* true: inserted, not updated */
/* put_service's change (store.h: "replaced", update_time 0); $3 the seal
 * of an empty body. Its row: feed.head, feed.pruned. */
static const char sql_put_change[] =
    "WITH h AS (UPDATE feed SET head = head + 1 RETURNING head, pruned),"
    " c AS (INSERT INTO changes(seq, project_id, service_id, update_time,"
    "  body) SELECT head, $1, $2, 0, $3 FROM h)"
    " SELECT head, pruned FROM h";
static const char sql_service[] =
    "SELECT infer_type FROM services WHERE project_id = $1 AND service_id = $2";

struct pg_put {
    const struct sl_service_put *p;
    bool *created;
};

/* The stored infer_type of (vals[0], vals[1]) into *type: SL_OK, or
 * SL_ENOTFOUND naming the service. */
static int pg_service_type(struct pg_store *st, const char *const *vals,
                           const int *lens, int64_t deadline_us, int *type,
                           struct sl_err *err)
{
    static const Oid types[2] = {PG_TEXT_OID, PG_TEXT_OID};
    PGresult *r = NULL;
    int rc =
        pg_step(st, sql_service, 2, types, vals, lens, deadline_us, &r, err);
    if (rc == SL_OK && PQntuples(r) != 1)
        rc = sl_err_set(err, SL_ENOTFOUND, "service %s not found in project %s",
                        vals[1], vals[0]);
    else if (rc == SL_OK && PQgetlength(r, 0, 0) != 4)
        rc = sl_err_set(err, SL_EINTERNAL,
                        "%s: unexpected result shape (was the schema "
                        "altered?)",
                        st->label);
    else if (rc == SL_OK)
        *type = sl__pg_be32(PQgetvalue(r, 0, 0));
    PQclear(r);
    return rc;
}

/* Appends put_service's change and NOTIFYs (under the feed's lock). */
static int put_change(struct pg_store *st, const char *const *ids,
                      const int *id_lens, int64_t deadline_us,
                      struct sl_err *err)
{
    static const Oid types[3] = {PG_TEXT_OID, PG_TEXT_OID, PG_BYTEA_OID};
    static const uint8_t none[1];
    uint8_t seal[SL_WIRE_SEAL_LEN];
    sl_wire_seal(none, 0, seal);
    const char *vals[3] = {ids[0], ids[1], (const char *)seal};
    int lens[3] = {id_lens[0], id_lens[1], SL_WIRE_SEAL_LEN};
    PGresult *r = NULL;
    int rc =
        pg_step(st, sql_put_change, 3, types, vals, lens, deadline_us, &r, err);
    if (rc != SL_OK)
        return rc;
    if (PQntuples(r) != 1 || PQgetlength(r, 0, 0) != 8 ||
        PQgetlength(r, 0, 1) != 8) {
        PQclear(r);
        return sl_err_set(err, SL_EINTERNAL, "%s: the feed's row is missing",
                          st->label);
    }
    int64_t head = sl__pg_be64(PQgetvalue(r, 0, 0));
    int64_t pruned = sl__pg_be64(PQgetvalue(r, 0, 1));
    PQclear(r);
    return sl__pg_feed_end(st, head, pruned, deadline_us, err);
}

static int put_tx(struct pg_store *st, void *arg, int64_t deadline_us,
                  bool *committing, struct sl_err *err)
{
    static const Oid types[4] = {PG_TEXT_OID, PG_TEXT_OID, PG_TEXT_OID,
                                 PG_INT4_OID};
    const struct pg_put *a = arg;
    const struct sl_service_put *p = a->p;
    uint8_t t[4];
    for (int i = 0; i < 4; i++)
        t[i] = (uint8_t)((uint32_t)p->infer_type >> (24 - 8 * i));
    const char *vals[4] = {p->project_id, p->service_id, p->service_name,
                           (const char *)t};
    int lens[4] = {(int)strlen(p->project_id), (int)strlen(p->service_id),
                   (int)strlen(p->service_name), 4};
    PGresult *r = NULL;
    int rc, type = 0;
    bool created;

    /* BEGIN first: a connection lost since its last use shows here, before
     * anything could have been stored, and the write is retried. */
    if ((rc = pg_begin(st, true, deadline_us, err)) != SL_OK ||
        (rc = pg_step(st, sql_put, 4, types, vals, lens, deadline_us, &r,
                      err)) != SL_OK)
        return rc;
    if (PQntuples(r) == 1 && PQgetlength(r, 0, 0) == 1) {
        created = PQgetvalue(r, 0, 0)[0] != 0;
        PQclear(r);
        if ((rc = put_change(st, vals, lens, deadline_us, err)) != SL_OK)
            return rc;
    } else { /* no row: stored already, with this name or another type */
        PQclear(r);
        if ((rc = pg_service_type(st, vals, lens, deadline_us, &type, err)) !=
            SL_OK)
            return rc;
        if (type != p->infer_type)
            return sl_err_set(err, SL_ECONFLICT,
                              "service %s of project %s is %s, not %s: a "
                              "service's infer_type never changes",
                              p->service_id, p->project_id, type_name(type),
                              type_name(p->infer_type));
        created = false; /* nothing to change: no change either */
    }
    *committing = true;
    if ((rc = pg_step(st, "COMMIT", 0, NULL, NULL, NULL, deadline_us, NULL,
                      err)) != SL_OK)
        return rc;
    *a->created = created;
    return SL_OK;
}

int sl__pg_put_service(struct sl_store *base, const struct sl_service_put *p,
                       bool *created, struct sl_err *err)
{
    struct pg_put a = {p, created};
    *created = false;
    return pg_write((struct pg_store *)base, "put_service", put_tx, &a, err);
}

/* ---- record_log ---------------------------------------------------------- */

/* $1 project_id, $2 service_id, $3 update_time, $4 the sealed body; under
 * the feed's lock (see the top). Its row: created, feed.head, feed.pruned. */
static const char sql_record[] =
    "WITH f AS (SELECT min(seq) AS m FROM logs WHERE project_id = $1"
    "  AND service_id = $2 AND update_time = $3),"
    " d AS (DELETE FROM logs WHERE project_id = $1 AND service_id = $2"
    "  AND update_time = $3 AND seq > (SELECT m FROM f)),"
    " u AS (UPDATE logs SET body = $4 WHERE project_id = $1"
    "  AND service_id = $2 AND update_time = $3 AND seq = (SELECT m FROM f)),"
    " i AS (INSERT INTO logs(project_id, service_id, update_time, seq, body)"
    "  SELECT $1, $2, $3, coalesce(max(seq) + 1, 0), $4 FROM logs"
    "  WHERE project_id = $1 AND service_id = $2"
    "  HAVING (SELECT m FROM f) IS NULL),"
    " h AS (UPDATE feed SET head = head + 1 RETURNING head, pruned),"
    " c AS (INSERT INTO changes(seq, project_id, service_id, update_time,"
    "  body) SELECT head, $1, $2, $3, $4 FROM h)"
    " SELECT (SELECT m FROM f) IS NULL, head, pruned FROM h";

struct pg_rec {
    const char *vals[4]; /* project, service, update_time, sealed body */
    int lens[4];
    bool created; /* out */
    int64_t seq;  /* out */
};

static int record_tx(struct pg_store *st, void *arg, int64_t deadline_us,
                     bool *committing, struct sl_err *err)
{
    static const Oid types[4] = {PG_TEXT_OID, PG_TEXT_OID, PG_INT8_OID,
                                 PG_BYTEA_OID};
    struct pg_rec *a = arg;
    PGresult *r = NULL;
    int rc, type = 0;

    if ((rc = pg_begin(st, true, deadline_us, err)) != SL_OK ||
        (rc = pg_service_type(st, a->vals, a->lens, deadline_us, &type, err)) !=
            SL_OK)
        return rc;
    if (type == MODELARTS__V1__INFER_TYPE__BATCH)
        return sl_err_set(err, SL_EBATCH,
                          "service %s of project %s is a batch service: it "
                          "has no update logs",
                          a->vals[1], a->vals[0]);
    if ((rc = pg_step(st, sql_record, 4, types, a->vals, a->lens, deadline_us,
                      &r, err)) != SL_OK)
        return rc;
    if (PQntuples(r) != 1 || PQgetlength(r, 0, 0) != 1 ||
        PQgetlength(r, 0, 1) != 8 || PQgetlength(r, 0, 2) != 8) {
        PQclear(r);
        return sl_err_set(err, SL_EINTERNAL,
                          "%s: unexpected result shape (was the schema "
                          "altered?)",
                          st->label);
    }
    bool created = PQgetvalue(r, 0, 0)[0] != 0;
    int64_t head = sl__pg_be64(PQgetvalue(r, 0, 1));
    int64_t pruned = sl__pg_be64(PQgetvalue(r, 0, 2));
    PQclear(r);
    if ((rc = sl__pg_feed_end(st, head, pruned, deadline_us, err)) != SL_OK)
        return rc;
    *committing = true;
    if ((rc = pg_step(st, "COMMIT", 0, NULL, NULL, NULL, deadline_us, NULL,
                      err)) != SL_OK)
        return rc;
    a->created = created;
    a->seq = head;
    return SL_OK;
}

int sl__pg_record_log(struct sl_store *base, const char *project_id,
                      const char *service_id, const struct sl_import_log *log,
                      bool *created, int64_t *seq, struct sl_err *err)
{
    struct pg_store *st = (struct pg_store *)base;
    struct pg_rec a = {.created = false};
    uint8_t t[8], *sealed = NULL;
    int rc;

    *created = false;
    *seq = 0;
    if (log->update_time <= 0)
        return sl_err_set(err, SL_EINVAL,
                          "record_log: update_time %lld is not positive",
                          (long long)log->update_time);
    if (log->body.len > INT32_MAX - SL_WIRE_SEAL_LEN)
        return sl_err_set(err, SL_EINVAL, "record_log: the log is too large");
    if (!(sealed = malloc(log->body.len + SL_WIRE_SEAL_LEN)))
        return sl_err_set(err, SL_ENOMEM, "%s: out of memory", st->label);
    if (log->body.len)
        memcpy(sealed, log->body.data, log->body.len);
    sl_wire_seal(sealed, log->body.len, sealed + log->body.len);
    put_be64(t, log->update_time);
    a.vals[0] = project_id;
    a.vals[1] = service_id;
    a.vals[2] = (const char *)t;
    a.vals[3] = (const char *)sealed;
    a.lens[0] = (int)strlen(project_id);
    a.lens[1] = (int)strlen(service_id);
    a.lens[2] = 8;
    a.lens[3] = (int)(log->body.len + SL_WIRE_SEAL_LEN);
    rc = pg_write(st, "record_log", record_tx, &a, err);
    free(sealed);
    if (rc == SL_OK) {
        *created = a.created;
        *seq = a.seq;
    }
    return rc;
}

/* ---- the end of a feed transaction --------------------------------------- */

void sl__pg_feed_end_sql(char *sql, size_t size, int64_t head, int64_t pruned)
{
    int n = 0;
    if (head - pruned > (int64_t)SL_STORE_FEED_KEEP + PG_PRUNE_SLACK) {
        long long to = (long long)(head - SL_STORE_FEED_KEEP);
        n = snprintf(sql, size,
                     "DELETE FROM changes WHERE seq <= %lld;"
                     " UPDATE feed SET pruned = %lld; ",
                     to, to);
    }
    snprintf(sql + n, size - (size_t)n,
             "SELECT pg_notify('" PG_CHANNEL
             "', coalesce(current_schema(), ''))");
}

int sl__pg_feed_end(struct pg_store *st, int64_t head, int64_t pruned,
                    int64_t deadline_us, struct sl_err *err)
{
    char sql[320];
    sl__pg_feed_end_sql(sql, sizeof(sql), head, pruned);
    return pg_step(st, sql, 0, NULL, NULL, NULL, deadline_us, NULL, err);
}

/* ---- read_changes -------------------------------------------------------- */

static int feed_nomem(const struct pg_store *st, struct sl_err *err)
{
    return sl_err_set(err, SL_ENOMEM, "%s: out of memory reading changes",
                      st->label);
}

/* Copies row i of sl_changes (seq, project_id, service_id, update_time,
 * body in columns 2..6) into c, checking and stripping the seal. */
static int copy_change(const struct pg_store *st, const PGresult *r, int i,
                       struct sl_change *c, struct sl_arena *arena,
                       struct sl_err *err)
{
    if (PQgetlength(r, i, 2) != 8 || PQgetlength(r, i, 5) != 8 ||
        PQgetisnull(r, i, 6))
        return sl_err_set(err, SL_EINTERNAL,
                          "%s: unexpected change row (was the schema "
                          "altered?)",
                          st->label);
    c->seq = sl__pg_be64(PQgetvalue(r, i, 2));
    c->update_time = sl__pg_be64(PQgetvalue(r, i, 5));
    c->project_id = sl_arena_strndup(arena, PQgetvalue(r, i, 3),
                                     (size_t)PQgetlength(r, i, 3));
    c->service_id = sl_arena_strndup(arena, PQgetvalue(r, i, 4),
                                     (size_t)PQgetlength(r, i, 4));
    if (!c->project_id || !c->service_id)
        return feed_nomem(st, err);
    const uint8_t *body = (const uint8_t *)PQgetvalue(r, i, 6);
    size_t len = (size_t)PQgetlength(r, i, 6);
    enum sl_wire_sealed sealed = sl_wire_unseal(body, len);
    if (sealed != SL_WIRE_SEALED)
        return sl_err_set(err, SL_ECORRUPT,
                          "%s: stored data is corrupt: change %lld (service "
                          "%s of project %s, update_time %lld): %s; restore "
                          "the database from a backup",
                          st->label, (long long)c->seq, c->service_id,
                          c->project_id, (long long)c->update_time,
                          sealed == SL_WIRE_BAD_SEAL ? "checksum mismatch"
                                                     : "no checksum");
    len -= SL_WIRE_SEAL_LEN;
    uint8_t *copy = sl_arena_alloc(arena, len ? len : 1);
    if (!copy)
        return feed_nomem(st, err);
    if (len)
        memcpy(copy, body, len);
    c->body.data = copy;
    c->body.len = len;
    return SL_OK;
}

int sl__pg_read_changes(struct sl_store *base, int64_t after, size_t max,
                        struct sl_change_batch *out, struct sl_err *err)
{
    struct pg_store *st = (struct pg_store *)base;
    PGresult *r = NULL;
    uint8_t a[8], l[8];
    const char *vals[2] = {(const char *)a, (const char *)l};
    int lens[2] = {8, 8}, rc;

    sl_change_batch_init(out);
    put_be64(a, after);
    put_be64(l, after < 0 ? 0 : max > INT64_MAX ? INT64_MAX : (int64_t)max);
    rc = sl__pg_read(st, "sl_changes", 2, vals, lens,
                     sl_clock_us() + (int64_t)PG_CONNECT_MS * 1000, &r, err);
    if (rc != SL_OK)
        goto out;
    int rows = PQntuples(r);
    if (rows < 1 || PQnfields(r) != 7 || PQgetlength(r, 0, 0) != 8 ||
        PQgetlength(r, 0, 1) != 8) {
        rc = sl_err_set(err, SL_EINTERNAL,
                        "%s: the feed's row is missing or altered", st->label);
        goto out;
    }
    out->head = sl__pg_be64(PQgetvalue(r, 0, 0));
    int64_t pruned = sl__pg_be64(PQgetvalue(r, 0, 1));
    out->lost = after >= 0 && pruned > after;
    if (PQgetisnull(r, 0, 2))
        goto out; /* the LEFT JOIN's row: no change after `after` */
    out->changes =
        sl_arena_alloc(&out->arena, (size_t)rows * sizeof(*out->changes));
    if (!out->changes) {
        rc = feed_nomem(st, err);
        goto out;
    }
    for (int i = 0; i < rows && rc == SL_OK; i++)
        if ((rc = copy_change(st, r, i, &out->changes[i], &out->arena, err)) ==
            SL_OK)
            out->n++;
out:
    PQclear(r);
    if (rc != SL_OK)
        sl_change_batch_free(out);
    return rc;
}

/* ---- wait_changes -------------------------------------------------------- */

/* True when a notification for this schema arrived; reads them all. */
static bool pg_notified(struct pg_store *st)
{
    bool hit = false;
    PGnotify *n;
    while ((n = PQnotifies(st->conn))) {
        if (!n->extra || !*n->extra || strcmp(n->extra, st->schema) == 0)
            hit = true;
        PQfreemem(n);
    }
    return hit;
}

static void nap_until(int64_t until_us)
{
    int64_t left;
    while ((left = until_us - sl_clock_us()) > 0) {
        struct timespec ts = {(time_t)(left / 1000000),
                              (long)(left % 1000000) * 1000};
        nanosleep(&ts, NULL);
    }
}

/* (Re)connects when needed and LISTENs: SL_OK (a wake-up: what was
 * committed meanwhile is not known), else SL_EUNAVAIL. */
static int pg_listen(struct pg_store *st, int64_t deadline_us,
                     struct sl_err *err)
{
    int64_t now = sl_clock_us();
    int64_t least = now + (int64_t)PG_WAIT_MIN_MS * 1000;
    int64_t until = deadline_us > least ? deadline_us : least;
    PGresult *r = NULL;
    bool reconnected;
    int rc;

    if (st->listen_uri) { /* a direct session from now on (see the top) */
        PQconninfoOption *opts = PQconninfoParse(st->listen_uri, NULL);
        free(st->uri);
        st->uri = st->listen_uri;
        st->listen_uri = NULL;
        st->unnamed = false; /* a session of its own */
        if (opts)            /* parsed once at open: only memory fails */
            sl__pg_make_label(st, opts);
        PQconninfoFree(opts);
        sl__pg_drop(st);
    }
    if (st->retry_us > now) { /* backing off */
        nap_until(st->retry_us < deadline_us ? st->retry_us : deadline_us);
        now = sl_clock_us();
        if (now < st->retry_us)
            return sl_err_set(err, SL_EUNAVAIL,
                              "%s: cannot watch for changes: reconnecting "
                              "(next attempt in %lld ms)",
                              st->label,
                              (long long)((st->retry_us - now) / 1000 + 1));
        until = now + (int64_t)PG_WAIT_MIN_MS * 1000;
    }
    rc = sl__pg_ready(st, until, &reconnected, err);
    if (rc == SL_OK) {
        PQsetnonblocking(st->conn, 1);
        if (!PQsendQuery(st->conn, "LISTEN " PG_CHANNEL
                                   "; SELECT coalesce(current_schema(), '')"))
            rc = sl__pg_fail(st, SL_EUNAVAIL, "cannot listen: ", NULL, err);
        else
            rc = sl__pg_finish(st, until, &r, "cannot listen: ", err);
    }
    if (rc == SL_OK) {
        snprintf(st->schema, sizeof(st->schema), "%s",
                 PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "");
        PQclear(r);
        st->listening = true;
        st->retry_us = 0;
        st->backoff_ms = 0;
        return SL_OK;
    }
    /* A failed connect set the back-off (sl__pg_ready). */
    if (err)
        err->code = SL_EUNAVAIL;
    return SL_EUNAVAIL;
}

int sl__pg_wait_changes(struct sl_store *base, int timeout_ms,
                        struct sl_err *err)
{
    struct pg_store *st = (struct pg_store *)base;
    int64_t deadline =
        sl_clock_us() + (int64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000;
    int rc;

    if (!st->listening || st->connecting || st->abandoned_us || sl__pg_lost(st))
        return pg_listen(st, deadline, err);
    for (;;) {
        if (pg_notified(st))
            return SL_OK;
        int64_t left = deadline - sl_clock_us();
        int ms = left <= 0                ? 0
                 : left / 1000 >= INT_MAX ? INT_MAX
                                          : (int)((left + 999) / 1000);
        struct pollfd p = {.fd = PQsocket(st->conn), .events = POLLIN};
        int n = poll(&p, 1, ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            return SL_OK; /* timeout_ms passed */
        if (n < 0)
            rc = sl_err_set(err, SL_EUNAVAIL, "%s: watching for changes: %s",
                            st->label, strerror(errno));
        else if (PQconsumeInput(st->conn) &&
                 PQstatus(st->conn) == CONNECTION_OK)
            continue;
        else
            rc = sl__pg_fail(
                st, SL_EUNAVAIL,
                "lost the connection that watches for changes: ", NULL, err);
        sl__pg_drop(st);
        return rc;
    }
}
