/* store_pg_import.c -- the PostgreSQL backend's import (COPY, binary)
 *
 * Import: one transaction: BEGIN and two advisory locks, the imports' and
 * the feed's (imports into one schema take turns, and with the feed's
 * writers: store_pg_feed.c; readers never wait); DELETE the logs of every
 * imported service and upsert the service rows (one statement each, with
 * array parameters); COPY logs FROM STDIN (FORMAT binary) streams every
 * log; one change per service ("replaced": update_time 0, the seal of an
 * empty body) appended to the feed, seqs in the services' key order;
 * NOTIFY (sl__pg_feed_end); COMMIT. Any failure rolls back, so nothing
 * changes. When one import names a service twice, the last one wins, as
 * in the other backends.
 *
 * Wire formats: the service columns travel as four binary array
 * parameters (unnest() on the server), the logs as one binary COPY
 * stream sent in PG_COPY_CHUNK pieces, so no value is quoted or turned
 * into text and a log's body goes over as the bytes it is, followed by
 * its seal (wire.h: its CRC-32C, which a query checks and strips, as for
 * SQLite; store_pg_schema.c).
 *
 * Blocking: the import runs the connection in libpq's blocking mode (a
 * nonblocking PQputCopyData would queue the whole file in memory when the
 * server reads slower than we send) and has no deadline once connected:
 * it is the `import` command's, which an operator watches, not a served
 * call's (the queries set nonblocking mode again, store_pg.c).
 *
 * Ownership: the import only reads the caller's services; the batch it
 * builds (struct pg_batch, the sorted service order) is freed before it
 * returns, on every path.
 */
#include <libpq-fe.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "store.h"
#include "store_pg.h"
#include "wire.h"

#define PG_COPY_CHUNK (1 << 20) /* bytes per PQputCopyData() */

/* Built-in type OIDs (catalog/pg_type_d.h, stable across versions). */
#define PG_BYTEA_OID 17
#define PG_INT8_OID 20
#define PG_INT4_OID 23
#define PG_TEXT_OID 25
#define PG_INT4_ARRAY_OID 1007
#define PG_TEXT_ARRAY_OID 1009

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
        rc = sl__pg_fail(st, sl__pg_code(st, r, SL_EIO), "", r, err);
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
        rc = sl__pg_fail(st, sl__pg_code(st, r, SL_EIO), "", r, err);
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
            if (l->body.len > INT32_MAX - SL_WIRE_SEAL_LEN) {
                rc = sl_err_set(err, SL_EINVAL, "%s: a log of %s is too large",
                                st->label, v->service_id);
                break;
            }
            put_be16(&b, 5); /* columns */
            put_field(&b, v->project_id, lp);
            put_field(&b, v->service_id, ls);
            put_field(&b, x, 8);
            put_field(&b, x + 8, 4);
            uint8_t seal[SL_WIRE_SEAL_LEN];
            sl_wire_seal(l->body.data, l->body.len, seal);
            put_be32(&b, (uint32_t)(l->body.len + SL_WIRE_SEAL_LEN));
            sl_buf_append(&b, l->body.data, l->body.len);
            sl_buf_append(&b, seal, SL_WIRE_SEAL_LEN);
            if (b.oom) {
                rc = sl_err_set(err, SL_ENOMEM, "%s: out of memory importing",
                                st->label);
                break;
            }
            if (b.len >= PG_COPY_CHUNK) {
                if (PQputCopyData(st->conn, b.data, (int)b.len) != 1) {
                    rc = sl__pg_fail(st, SL_EUNAVAIL, "", NULL, err);
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
        rc = sl__pg_fail(st, SL_EUNAVAIL, "", NULL, err);
    /* Ends the COPY; with an error message it fails on the server. */
    if (PQputCopyEnd(st->conn, rc == SL_OK ? NULL : "import aborted") != 1 &&
        rc == SL_OK)
        rc = sl__pg_fail(st, SL_EUNAVAIL, "", NULL, err);
    while ((r = PQgetResult(st->conn))) {
        if (rc == SL_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
            rc = sl__pg_fail(st, sl__pg_code(st, r, SL_EIO), "", r, err);
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

/* $1, $2: the services' keys, $3 their number, $4 the seal of an empty
 * body. Its row: feed.head, feed.pruned. */
static const char sql_changes[] =
    "WITH h AS (UPDATE feed SET head = head + $3 RETURNING head, pruned),"
    " c AS (INSERT INTO changes(seq, project_id, service_id, update_time,"
    "  body) SELECT h.head - $3 + k.i, k.p, k.s, 0, $4 FROM h,"
    "  unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(p, s, i))"
    " SELECT head, pruned FROM h";

/* Appends the import's changes to the feed and NOTIFYs (the caller holds
 * the feed's lock). */
static int pg_import_changes(struct pg_store *st, const struct pg_batch *bt,
                             struct sl_err *err)
{
    static const Oid types[] = {PG_TEXT_ARRAY_OID, PG_TEXT_ARRAY_OID,
                                PG_INT8_OID, PG_BYTEA_OID};
    static const int fmts[] = {1, 1, 1, 1};
    uint8_t n[8], seal[SL_WIRE_SEAL_LEN];
    for (int i = 0; i < 8; i++)
        n[i] = (uint8_t)((uint64_t)bt->n >> (56 - 8 * i));
    static const uint8_t none[1];
    sl_wire_seal(none, 0, seal);
    const char *vals[] = {bt->proj.data, bt->svc.data, (const char *)n,
                          (const char *)seal};
    const int lens[] = {(int)bt->proj.len, (int)bt->svc.len, 8,
                        SL_WIRE_SEAL_LEN};
    PGresult *r =
        PQexecParams(st->conn, sql_changes, 4, types, vals, lens, fmts, 1);
    int rc = SL_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        rc = sl__pg_fail(st, sl__pg_code(st, r, SL_EIO), "", r, err);
    else if (PQntuples(r) != 1 || PQgetlength(r, 0, 0) != 8 ||
             PQgetlength(r, 0, 1) != 8)
        rc = sl_err_set(err, SL_EINTERNAL, "%s: the feed's row is missing",
                        st->label);
    else
        rc = sl__pg_feed_end(st, sl__pg_be64(PQgetvalue(r, 0, 0)),
                             sl__pg_be64(PQgetvalue(r, 0, 1)), 0, err);
    PQclear(r);
    return rc;
}

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
    char lock[160];
    int rc;

    *committing = false;
    /* Imports take turns (per schema), as SQLite's writers do: two imports
     * of one service at once could otherwise each delete the logs they see
     * and together leave both sets. Readers never wait. */
    snprintf(lock, sizeof(lock), PG_LOCK_FMT, PG_LOCK_FEED);
    if ((rc = sl__pg_begin_locked(st, PG_LOCK_IMPORT, err)) != SL_OK ||
        (rc = sl__pg_exec(st, lock, NULL, SL_EIO, "", err)) != SL_OK ||
        (rc = pg_exec_arrays(st, sql_delete_logs, 2, del_types, del_args,
                             err)) != SL_OK ||
        (rc = pg_exec_arrays(st, sql_put_services, 4, put_types, put_args,
                             err)) != SL_OK ||
        (rc = pg_copy_logs(st, svcs, bt->n, err)) != SL_OK ||
        (rc = pg_import_changes(st, bt, err)) != SL_OK)
        return rc;
    *committing = true;
    return sl__pg_exec(st, "COMMIT", NULL, SL_EIO, "", err);
}

int sl__pg_import(struct sl_store *base, const struct sl_import_service *svcs,
                  size_t n, struct sl_err *err)
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
        rc = sl__pg_ready(st, 0, &reconnected, err);
        if (rc == SL_OK && PQsetnonblocking(st->conn, 0) != 0)
            rc = sl__pg_fail(st, SL_EUNAVAIL, "", NULL, err);
        if (rc == SL_OK)
            rc = import_once(st, &bt, order, &committing, err);
        if (rc == SL_OK || committing || reconnected || attempt > 0 ||
            !sl__pg_lost(st))
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
        if (committing && sl__pg_lost(st))
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
