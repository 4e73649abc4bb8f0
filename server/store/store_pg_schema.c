/* store_pg_schema.c -- the PostgreSQL backend's schema, its migrations,
 * and the reading of its rows
 *
 * Schema (version 2, in meta.schema_version), created in the first schema
 * of the session's search_path (a URI's options=-csearch_path%3DNAME
 * chooses another than public); version 1 had the first three tables:
 *   meta(key text PRIMARY KEY, value text)
 *   services(project_id text, service_id text, service_name text NOT NULL,
 *            infer_type int NOT NULL, PRIMARY KEY(project_id, service_id))
 *   logs(project_id text, service_id text, update_time bigint, seq int,
 *        body bytea NOT NULL,
 *        PRIMARY KEY(project_id, service_id, update_time, seq))
 *   feed(one bool PRIMARY KEY, head bigint, pruned bigint): one row
 *   changes(seq bigint PRIMARY KEY, project_id text, service_id text,
 *           update_time bigint, body bytea NOT NULL)
 * logs.seq orders a service's logs: the log's index in its service's
 * "logs" array in the import file, max + 1 for one recorded later;
 * body is the packed modelarts.v1.ServiceLog followed by its seal (wire.h:
 * 9 bytes holding its CRC-32C), as in store_sqlite.c. The feed: changes
 * holds one row per change (changes.seq, the feed's order, is global;
 * body sealed as in logs, and the seal of an empty body for an import's
 * "service replaced"); feed.head is the newest seq committed, pruned the
 * newest seq deleted (0: none), both moved by the feed's writers
 * (store_pg_feed.c). open() creates the tables in one transaction that
 * holds pg_advisory_xact_lock first, so workers and processes opening an
 * empty database (or migrating one) at once do not race. A newer
 * schema_version, or a services/logs table without meta.schema_version
 * (someone else's), is refused, as for SQLite.
 *
 * Migrations are append-only steps (pg_migrations[]); open() runs the
 * missing ones in one transaction, after reading the version outside the
 * lock for the common case (the schema is there) and again under it.
 * Every round trip here waits within open's bound (--pg-answer-timeout,
 * store_pg_wait.c): a server that stops answering, or a lock held for
 * longer, fails the open, naming the step.
 *
 * Reading: a query's rows (service_name, infer_type, update_time, seq,
 * body; binary) become a struct sl_log_page here, beside the tables they
 * come from. Every string and body is copied into the page's arena, so
 * the PGresult can be cleared at once; rows out of key order (not the plan
 * store_pg.c describes) are sorted, never served out of order.
 *
 * Seals, exactly as store_sqlite.c: each body's seal is checked and
 * stripped, so a damaged log is SL_ECORRUPT (naming the service and the
 * log, never the bytes) and never sent. Bodies imported before seals
 * existed have none; each of those is held to what protobuf-c packs
 * instead (sl_wire_check), and re-importing seals them. Seals need no
 * schema change (body is opaque bytea; a sealed body is still a valid
 * ServiceLog, so an older server still sends parseable answers).
 */
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "modelarts/v1/service_logs.pb-c.h"
#include "store.h"
#include "store_pg.h"
#include "wire.h"

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
    /* 1 -> 2: the change feed (store_pg_feed.c) */
    "CREATE TABLE IF NOT EXISTS feed("
    "  one bool PRIMARY KEY DEFAULT true CHECK (one),"
    "  head bigint NOT NULL,"
    "  pruned bigint NOT NULL);"
    "INSERT INTO feed(head, pruned) VALUES(0, 0) ON CONFLICT DO NOTHING;"
    "CREATE TABLE IF NOT EXISTS changes("
    "  seq bigint PRIMARY KEY,"
    "  project_id text NOT NULL,"
    "  service_id text NOT NULL,"
    "  update_time bigint NOT NULL,"
    "  body bytea NOT NULL)",
};

#define PG_SCHEMA_VERSION                                                      \
    ((int64_t)(sizeof(pg_migrations) / sizeof(pg_migrations[0])))

/* Reads meta.schema_version into *v: 0 when none of our tables exists, -1
 * when services or logs exist without a schema_version (not ours). The
 * tables are looked up in pg_class with the statement's snapshot, not
 * through the session's catalog caches, which may not have seen another
 * session's commit yet (it may have created them while we waited for the
 * advisory lock). */
static int read_version(struct pg_store *st, int64_t *v, struct sl_err *err)
{
    PGresult *r = NULL;
    int rc = sl__pg_exec(st,
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
    rc = sl__pg_exec(st, "SELECT value FROM meta WHERE key = 'schema_version'",
                     &r, SL_EIO, "", err);
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

/* Brings the schema to PG_SCHEMA_VERSION; refuses a newer or foreign
 * one. */
int sl__pg_migrate(struct pg_store *st, struct sl_err *err)
{
    char sql[160];
    int64_t v, from;
    int rc;

    /* Outside the lock only the common case is decided: the schema is
     * there. Anything else may be another connection's migration in
     * progress, so it is read again under the lock. st->step names each
     * wait for the message of a timeout (store_pg_wait.c). */
    st->step = "checking the schema";
    if ((rc = read_version(st, &v, err)) != SL_OK)
        return rc;
    if (v == PG_SCHEMA_VERSION)
        return SL_OK;
    st->step = "waiting for the schema's migration lock";
    if ((rc = sl__pg_begin_locked(st, PG_LOCK_SCHEMA, err)) != SL_OK)
        goto out;
    st->step = "migrating the schema";
    /* Read again under the lock: another connection may have migrated. */
    if ((rc = read_version(st, &v, err)) != SL_OK ||
        (rc = check_version(st, v, err)) != SL_OK)
        goto out;
    if (v == PG_SCHEMA_VERSION) /* another connection did it meanwhile */
        goto out_commit;
    from = v;
    for (; v < PG_SCHEMA_VERSION; v++)
        if ((rc = sl__pg_exec(st, pg_migrations[v], NULL, SL_EIO,
                              "cannot create the schema: ", err)) != SL_OK)
            goto out;
    /* The version, in the transaction that created the tables: the
     * row's xmin is theirs as long as no second run rewrote it. */
    snprintf(sql, sizeof(sql),
             "INSERT INTO meta(key, value) VALUES('schema_version', '%lld')"
             " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
             (long long)v);
    if ((rc = sl__pg_exec(st, sql, NULL, SL_EIO, "", err)) != SL_OK ||
        (rc = sl__pg_exec(st, "COMMIT", NULL, SL_EIO, "", err)) != SL_OK)
        goto out;
    sl_log(SL_LOG_INFO,
           "%s: schema migrated from version %lld to %lld (under the "
           "migration lock)",
           st->label, (long long)from, (long long)v);
    return SL_OK;
out_commit:
    rc = sl__pg_exec(st, "COMMIT", NULL, SL_EIO, "", err);
out:
    sl__pg_end_tx(st);
    return rc;
}

/* ---- reading ----------------------------------------------------------- */

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

int32_t sl__pg_be32(const char *p)
{
    return (int32_t)get_be32(p);
}

int64_t sl__pg_be64(const char *p)
{
    return get_be64(p);
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

/* Copies a result of sl_q_all / sl_q_at (store_pg.c) into out, checking
 * and stripping each body's seal (SL_WIRE_CRC32: the check is compiled in,
 * sl_store_unseal_log). */
SL_WIRE_CRC32 int sl__pg_read_page(const struct pg_store *st, const PGresult *r,
                                   const struct sl_log_query *q,
                                   struct sl_log_page *out, struct sl_err *err)
{
    struct pg_row *order = NULL;
    int rows = PQntuples(r), rc = SL_OK;

    if (rows == 0)
        return sl_err_set(err, SL_ENOTFOUND,
                          "service %s not found in project %s", q->service_id,
                          q->project_id);
    if (PQnfields(r) < 5 || PQgetlength(r, 0, 1) != 4) /* 6: sl_s_* */
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
        const uint8_t *body = (const uint8_t *)PQgetvalue(r, row, 4);
        if ((rc = sl_store_unseal_log("", st->label, "the database", q,
                                      (size_t)i, body, &len, err)) != SL_OK)
            goto out;
        if (len)
            memcpy(bytes, body, len);
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
