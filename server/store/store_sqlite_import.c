/* store_sqlite_import.c -- the SQLite backend's import (store.h v1, v5)
 *
 * A session is one write transaction on the connection: import_begin
 * takes the write lock (BEGIN IMMEDIATE: writers of other connections and
 * processes wait SQLITE_BUSY_MS, then fail; WAL readers never wait and see
 * all of the import or none of it), import_add upserts each service,
 * deletes its old logs and inserts the new ones through three prepared
 * statements, appending the feed's "replaced" change (store_sqlite_feed.c)
 * as it goes, and import_end stores meta.feed_seq and COMMITs, or ROLLs
 * BACK. Nothing is visible before the COMMIT, and a process killed during
 * the session leaves the file as before: WAL frames of a transaction that
 * never committed are ignored by the next reader and overwritten.
 *
 * Memory: what SQLite holds for one transaction is its page cache
 * (SQLITE_IMPORT_CACHE while the session runs; pages that do not fit
 * spill into the WAL) plus one sealed body; the caller's batch is only
 * read during import_add. A service named twice ends as the last one
 * (its second import_add deletes what the first wrote).
 *
 * Ownership: the statements and the seal buffer live in st->imp from
 * import_begin to import_end (or close, which ends a session left open by
 * rolling it back).
 */
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "store_sqlite.h"
#include "wire.h"

/* The page cache during a session (16 MiB: the B-trees' upper pages stay
 * in memory), and SQLite's default, restored after it. */
#define SQLITE_IMPORT_CACHE "PRAGMA cache_size=-16384"
#define SQLITE_DEFAULT_CACHE "PRAGMA cache_size=-2000"

static const char sql_put_svc[] =
    "INSERT OR REPLACE INTO services(project_id, service_id,"
    " service_name, infer_type) VALUES(?1, ?2, ?3, ?4)";
static const char sql_del_logs[] =
    "DELETE FROM logs WHERE project_id = ?1 AND service_id = ?2";
static const char sql_put_log[] =
    "INSERT INTO logs(project_id, service_id, seq, update_time, body)"
    " VALUES(?1, ?2, ?3, ?4, ?5)";

/* Runs s once (it returns no rows) and resets it. */
static int step_once(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Rolls back and frees what the session holds; the connection is out of
 * its session afterwards. */
static void session_drop(struct sqlite_store *st)
{
    struct sqlite_import *im = &st->imp;
    if (!sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_finalize(im->put_svc);
    sqlite3_finalize(im->del_logs);
    sqlite3_finalize(im->put_log);
    free(im->sealed);
    if (im->open)
        sqlite3_exec(st->db, SQLITE_DEFAULT_CACHE, NULL, NULL, NULL);
    memset(im, 0, sizeof(*im));
}

/* The failure of a session step with SQLite's code src: the message first
 * (ROLLBACK replaces sqlite3_errmsg()), then the session is dropped. */
static int session_fail(struct sqlite_store *st, int src, struct sl_err *err)
{
    int rc = sl__sqlite_error(st, sl__sqlite_write_code(src),
                              "import failed, nothing changed: ", err);
    session_drop(st);
    return rc;
}

int sl__sqlite_import_begin(struct sl_store *base, struct sl_err *err)
{
    struct sqlite_store *st = (struct sqlite_store *)base;
    struct sqlite_import *im = &st->imp;
    int src;

    if (im->open)
        return sl_err_set(err, SL_EINTERNAL,
                          "sqlite:%.160s: an import session is already open",
                          st->path);
    im->open = true;
    if ((src = sqlite3_exec(st->db, SQLITE_IMPORT_CACHE, NULL, NULL, NULL)) !=
            SQLITE_OK ||
        (src = sqlite3_prepare_v2(st->db, sql_put_svc, -1, &im->put_svc,
                                  NULL)) != SQLITE_OK ||
        (src = sqlite3_prepare_v2(st->db, sql_del_logs, -1, &im->del_logs,
                                  NULL)) != SQLITE_OK ||
        (src = sqlite3_prepare_v2(st->db, sql_put_log, -1, &im->put_log,
                                  NULL)) != SQLITE_OK ||
        (src = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) !=
            SQLITE_OK ||
        (src = sl__sqlite_feed_seq(st, &im->first)) != SQLITE_OK)
        return session_fail(st, src, err);
    im->seq = im->first;
    return SL_OK;
}

/* Writes one service: its row, its old logs gone, its logs, its change. */
static int add_one(struct sqlite_store *st, const struct sl_import_service *v)
{
    struct sqlite_import *im = &st->imp;
    int src;

    sqlite3_bind_text(im->put_svc, 1, v->project_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(im->put_svc, 2, v->service_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(im->put_svc, 3, v->service_name, -1, SQLITE_STATIC);
    sqlite3_bind_int(im->put_svc, 4, v->infer_type);
    sqlite3_bind_text(im->del_logs, 1, v->project_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(im->del_logs, 2, v->service_id, -1, SQLITE_STATIC);
    if ((src = step_once(im->put_svc)) != SQLITE_OK ||
        (src = step_once(im->del_logs)) != SQLITE_OK)
        return src;
    sqlite3_bind_text(im->put_log, 1, v->project_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(im->put_log, 2, v->service_id, -1, SQLITE_STATIC);
    for (size_t j = 0; j < v->n_logs; j++) {
        const struct sl_import_log *l = &v->logs[j];
        sqlite3_bind_int64(im->put_log, 3, (sqlite3_int64)j);
        sqlite3_bind_int64(im->put_log, 4, l->update_time);
        size_t blen = l->body.len + SL_WIRE_SEAL_LEN;
        if (blen > im->cap) {
            uint8_t *b = realloc(im->sealed, blen);
            if (!b)
                return SQLITE_NOMEM;
            im->sealed = b;
            im->cap = blen;
        }
        if (l->body.len)
            memcpy(im->sealed, l->body.data, l->body.len);
        sl_wire_seal(im->sealed, l->body.len, im->sealed + l->body.len);
        /* STATIC: step_once() is done with it before the next log */
        sqlite3_bind_blob64(im->put_log, 5, im->sealed, blen, SQLITE_STATIC);
        if ((src = step_once(im->put_log)) != SQLITE_OK)
            return src;
    }
    /* The feed: "the whole service was replaced". */
    return sl__sqlite_feed_add(st, &im->seq, v->project_id, v->service_id, 0,
                               NULL, 0);
}

int sl__sqlite_import_add(struct sl_store *base,
                          const struct sl_import_service *svcs, size_t n,
                          struct sl_err *err)
{
    struct sqlite_store *st = (struct sqlite_store *)base;
    if (!st->imp.open || st->imp.failed)
        return sl_err_set(err, SL_EINTERNAL,
                          "sqlite:%.160s: import_add outside a session",
                          st->path);
    for (size_t i = 0; i < n; i++) {
        int src = add_one(st, &svcs[i]);
        if (src != SQLITE_OK) {
            /* The message now, while sqlite3_errmsg() is this failure's;
             * the session waits for its import_end(false). */
            int rc = sl__sqlite_error(st, sl__sqlite_write_code(src),
                                      "import failed, nothing changed: ", err);
            st->imp.failed = true;
            return rc;
        }
    }
    return SL_OK;
}

int sl__sqlite_import_end(struct sl_store *base, bool commit,
                          struct sl_err *err)
{
    struct sqlite_store *st = (struct sqlite_store *)base;
    int src;
    if (!st->imp.open)
        return commit ? sl_err_set(err, SL_EINTERNAL,
                                   "sqlite:%.160s: import_end outside a "
                                   "session",
                                   st->path)
                      : SL_OK;
    if (!commit || st->imp.failed) {
        session_drop(st);
        return commit ? sl_err_set(err, SL_EINTERNAL,
                                   "sqlite:%.160s: import failed, nothing "
                                   "changed: a batch failed before commit",
                                   st->path)
                      : SL_OK;
    }
    if ((src = sl__sqlite_feed_end(st, st->imp.first, st->imp.seq)) !=
            SQLITE_OK ||
        (src = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
        return session_fail(st, src, err);
    session_drop(st);
    return SL_OK;
}

void sl__sqlite_import_close(struct sqlite_store *st)
{
    if (st->imp.open)
        session_drop(st);
}

int sl__sqlite_import(struct sl_store *base,
                      const struct sl_import_service *svcs, size_t n,
                      struct sl_err *err)
{
    int rc = sl__sqlite_import_begin(base, err);
    if (rc != SL_OK)
        return rc;
    if ((rc = sl__sqlite_import_add(base, svcs, n, err)) != SL_OK) {
        sl__sqlite_import_end(base, false, NULL);
        return rc;
    }
    return sl__sqlite_import_end(base, true, err);
}
