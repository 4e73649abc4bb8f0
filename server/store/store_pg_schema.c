/* store_pg_schema.c -- the PostgreSQL backend's schema and its migrations
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
 * Migrations are append-only steps (pg_migrations[]); open() runs the
 * missing ones in one transaction, after reading the version outside the
 * lock for the common case (the schema is there) and again under it.
 */
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "store.h"
#include "store_pg.h"

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
    int64_t v;
    int rc;

    /* Outside the lock only the common case is decided: the schema is
     * there. Anything else may be another connection's migration in
     * progress, so it is read again under the lock. */
    if ((rc = read_version(st, &v, err)) != SL_OK)
        return rc;
    if (v == PG_SCHEMA_VERSION)
        return SL_OK;
    if ((rc = sl__pg_begin_locked(st, PG_LOCK_SCHEMA, err)) != SL_OK)
        goto out;
    /* Read again under the lock: another connection may have migrated. */
    if ((rc = read_version(st, &v, err)) != SL_OK ||
        (rc = check_version(st, v, err)) != SL_OK)
        goto out;
    for (; v < PG_SCHEMA_VERSION; v++)
        if ((rc = sl__pg_exec(st, pg_migrations[v], NULL, SL_EIO,
                              "cannot create the schema: ", err)) != SL_OK)
            goto out;
    snprintf(sql, sizeof(sql),
             "INSERT INTO meta(key, value) VALUES('schema_version', '%lld')"
             " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
             (long long)v);
    if ((rc = sl__pg_exec(st, sql, NULL, SL_EIO, "", err)) != SL_OK)
        goto out;
    rc = sl__pg_exec(st, "COMMIT", NULL, SL_EIO, "", err);
out:
    if (PQtransactionStatus(st->conn) != PQTRANS_IDLE)
        PQclear(PQexec(st->conn, "ROLLBACK"));
    return rc;
}
