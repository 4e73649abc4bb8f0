/* store_pg_stmt.c -- the PostgreSQL backend's read statements, named or
 * unnamed
 *
 * Every read is one statement of pg_stmts[] below, sent by sl__pg_send.
 * By default a session PREPAREs them all once (one round trip, at open and
 * after each reconnect) and a read is a Bind/Execute of the named
 * statement: no parsing or planning per call.
 *
 * Behind a transaction-mode pooler (PgBouncer pool_mode=transaction, the
 * backend's `unnamed` flag: --pg-transaction-pooling) a session has no
 * server connection of its own between transactions, so a statement
 * PREPAREd on one server connection is missing on the next (or, worse, an
 * older replica's statement of the same name is found there). Then nothing
 * is prepared, and each read sends its SQL text as an unnamed statement
 * (PQsendQueryParams: Parse, Bind, Execute and Sync in one message
 * train), which the pooler runs on one server connection. The cost is a
 * parse and plan per read (measured in the README's PgBouncer section).
 *
 * The writes (store_pg_feed.c) and the import are unnamed statements and
 * transaction-scoped advisory locks already, so they work either way.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

#include "store.h"
#include "store_pg.h"

/* Built-in type OIDs (catalog/pg_type_d.h, stable across versions). */
#define PG_INT8_OID 20
#define PG_TEXT_OID 25

/* The LATERAL subquery reads one range of logs_pkey in key order
 * (store_pg.c's top). The snapshot's (sl_s_*) add the feed's head as a
 * sixth column: one statement, so one snapshot, reads both. sl_changes
 * reads the feed (store_pg_feed.c reads its rows). */
#define PG_QUERY_COLS                                                          \
    "SELECT s.service_name, s.infer_type, l.update_time, l.seq, l.body"
#define PG_QUERY_FROM                                                          \
    " FROM services AS s LEFT JOIN LATERAL"                                    \
    " (SELECT update_time, seq, body FROM logs"                                \
    "  WHERE logs.project_id = s.project_id"                                   \
    "  AND logs.service_id = s.service_id"
#define PG_QUERY_ALL " ORDER BY update_time, seq"
#define PG_QUERY_AT " AND update_time = $3 ORDER BY update_time, seq"
#define PG_QUERY_TAIL                                                          \
    ") AS l ON true WHERE s.project_id = $1 AND s.service_id = $2"
#define PG_HEAD_COL ", (SELECT head FROM feed)"

struct pg_stmt {
    const char *name;   /* as prepared, and as callers name it */
    const char *decl;   /* its parameter types, for PREPARE */
    const char *sql;    /* its text */
    int n;              /* parameters */
    const Oid types[3]; /* and their types, for an unnamed statement */
};

static const struct pg_stmt pg_stmts[] = {
    {"sl_q_all",
     "(text, text)",
     PG_QUERY_COLS PG_QUERY_FROM PG_QUERY_ALL PG_QUERY_TAIL,
     2,
     {PG_TEXT_OID, PG_TEXT_OID}},
    {"sl_q_at",
     "(text, text, bigint)",
     PG_QUERY_COLS PG_QUERY_FROM PG_QUERY_AT PG_QUERY_TAIL,
     3,
     {PG_TEXT_OID, PG_TEXT_OID, PG_INT8_OID}},
    {"sl_s_all",
     "(text, text)",
     PG_QUERY_COLS PG_HEAD_COL PG_QUERY_FROM PG_QUERY_ALL PG_QUERY_TAIL,
     2,
     {PG_TEXT_OID, PG_TEXT_OID}},
    {"sl_s_at",
     "(text, text, bigint)",
     PG_QUERY_COLS PG_HEAD_COL PG_QUERY_FROM PG_QUERY_AT PG_QUERY_TAIL,
     3,
     {PG_TEXT_OID, PG_TEXT_OID, PG_INT8_OID}},
    {"sl_changes",
     "(bigint, bigint)",
     "SELECT f.head, f.pruned, c.seq, c.project_id, c.service_id,"
     " c.update_time, c.body FROM feed AS f LEFT JOIN LATERAL"
     " (SELECT seq, project_id, service_id, update_time, body FROM changes"
     " WHERE seq > $1 ORDER BY seq LIMIT $2) AS c ON true",
     2,
     {PG_INT8_OID, PG_INT8_OID}},
    {"sl_ping",
     "",
     "SELECT value FROM meta WHERE key = 'schema_version'",
     0,
     {0}},
    {"sl_count", "", "SELECT count(*) FROM services", 0, {0}},
};

#define PG_NSTMTS (sizeof(pg_stmts) / sizeof(pg_stmts[0]))

/* "DEALLOCATE ALL" (what an interrupted earlier attempt left) and one
 * PREPARE per statement, in one string for one round trip. */
static size_t prepare_sql(char *out, size_t size)
{
    size_t n = 0;
    n += (size_t)snprintf(out, size, "DEALLOCATE ALL");
    for (size_t i = 0; i < PG_NSTMTS && n < size; i++)
        n += (size_t)snprintf(out + n, size - n, "; PREPARE %s%s AS %s",
                              pg_stmts[i].name, pg_stmts[i].decl,
                              pg_stmts[i].sql);
    return n;
}

int sl__pg_prepare(struct pg_store *st, int64_t deadline_us, struct sl_err *err)
{
    char sql[4096];
    PGresult *r = NULL;

    if (st->unnamed) { /* nothing lives in the session (see the top) */
        st->prepared = true;
        return SL_OK;
    }
    if (prepare_sql(sql, sizeof(sql)) >= sizeof(sql))
        return sl_err_set(err, SL_EINTERNAL, "%s: statements too long",
                          st->label);
    if (!PQsendQuery(st->conn, sql))
        return sl__pg_fail(st, SL_EUNAVAIL, "cannot prepare queries: ", NULL,
                           err);
    int rc =
        sl__pg_finish(st, deadline_us, &r, "cannot prepare queries: ", err);
    PQclear(r);
    if (rc == SL_OK)
        st->prepared = true;
    return rc;
}

int sl__pg_send(struct pg_store *st, const char *name, int n,
                const char *const *vals, const int *lens)
{
    static const int binary[3] = {1, 1, 1};
    for (size_t i = 0; i < PG_NSTMTS; i++) {
        const struct pg_stmt *s = &pg_stmts[i];
        if (strcmp(s->name, name) != 0)
            continue;
        if (n != s->n)
            return 0;
        if (!st->unnamed)
            return PQsendQueryPrepared(st->conn, name, n, vals, lens, binary,
                                       1);
        return PQsendQueryParams(st->conn, s->sql, n, s->types, vals, lens,
                                 binary, 1);
    }
    return 0;
}
