/* store_sqlite.c -- SQLite storage backend ("sqlite:PATH")
 *
 * The writes and the change feed live in store_sqlite_feed.c, the import in
 * store_sqlite_import.c; what the three files share is store_sqlite.h.
 *
 * Threading: a struct sqlite_store is one connection, opened
 * SQLITE_OPEN_NOMUTEX and used by one thread at a time (store.h), so SQLite
 * takes no mutex on the hot path. Connections in one or many processes
 * share the file through WAL: readers never wait for the importer and see
 * all of an import or none of it; writers wait up to SQLITE_BUSY_MS.
 *
 * Ownership: the connection owns its sqlite3 handle and its prepared
 * statements. Column pointers die at the next sqlite3_step(), so a query
 * copies every string and blob into the caller's page arena.
 *
 * Schema (version 2, in meta.schema_version):
 *   meta(key TEXT PRIMARY KEY, value): schema_version; feed_seq, the
 *       newest change's seq (a counter: pruning never lowers it);
 *       feed_pruned, every change with seq <= it is pruned
 *   services(project_id, service_id, service_name, infer_type)
 *       PRIMARY KEY(project_id, service_id), WITHOUT ROWID
 *   logs(project_id, service_id, seq, update_time, body)
 *       PRIMARY KEY(project_id, service_id, update_time, seq), WITHOUT ROWID
 * seq is the log's index in its service's "logs" array in the import file,
 * so re-importing a file writes byte-identical rows; record_log appends
 * with seq max + 1 (store_sqlite_feed.c). body is the packed
 * modelarts.v1.ServiceLog followed by its seal (wire.h: 9 bytes holding
 * its CRC-32C), which a query checks and strips: a damaged log is
 * SL_ECORRUPT, never sent. Bodies imported before seals existed have
 * none; a query holds each of those to what protobuf-c packs instead
 * (sl_wire_check: slower, and blind to a change that leaves a valid
 * message), and re-importing seals them. Seals need no schema change:
 * the column is an opaque blob, and a sealed body is still a valid
 * ServiceLog (the seal is an unknown field), so an older server serving
 * this file still sends parseable answers. Damage SQLite finds itself
 * (SQLITE_CORRUPT) is SL_ECORRUPT too.
 *   changes(seq INTEGER PRIMARY KEY, project_id, service_id, update_time,
 *           body): the change feed (store.h v4; store_sqlite_feed.c).
 *       body is sealed like logs.body, always (the table is younger than
 *       seals), and read_changes refuses a row whose seal fails.
 *
 * Durability: synchronous=FULL, so a write is on disk when it returns
 * (WAL: one fsync of the -wal per commit; readers are not affected).
 *
 * A query is one statement (prepared at open, reset after use): a point
 * read of the services key joined to one range of the logs key, already in
 * (update_time, seq) order. EXPLAIN QUERY PLAN (SQLite 3.40):
 *   SEARCH s USING PRIMARY KEY (project_id=? AND service_id=?)
 *   SEARCH l USING PRIMARY KEY (project_id=? AND service_id=?
 *                               [AND update_time=?]) LEFT-JOIN
 * no SCAN, no TEMP B-TREE; test_store_contract.c checks it. One statement
 * also means one read snapshot: the name and the logs come from the same
 * import.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "modelarts/v1/service_logs.pb-c.h"
#include "store.h"
#include "store_sqlite.h"
#include "wire.h"

/* SQLite's progress handler: a non-zero return interrupts the statement,
 * which is how a query honours its deadline. */
static int past_deadline(void *arg)
{
    struct sqlite_store *st = arg;
    return st->deadline_us && sl_clock_us() > st->deadline_us;
}

/* Schema migrations: step i takes the schema from version i to i + 1, so
 * the current version is the number of steps. To change the schema, append
 * a step (never edit one that has shipped); open() runs the missing steps
 * in one transaction. */
static const char *const sqlite_migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value);"
    "CREATE TABLE services("
    "  project_id TEXT NOT NULL,"
    "  service_id TEXT NOT NULL,"
    "  service_name TEXT NOT NULL,"
    "  infer_type INTEGER NOT NULL,"
    "  PRIMARY KEY(project_id, service_id)"
    ") WITHOUT ROWID;"
    "CREATE TABLE logs("
    "  project_id TEXT NOT NULL,"
    "  service_id TEXT NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  update_time INTEGER NOT NULL,"
    "  body BLOB NOT NULL,"
    "  PRIMARY KEY(project_id, service_id, update_time, seq)"
    ") WITHOUT ROWID;",
    /* 1 -> 2: the change feed (store.h v4) */
    "CREATE TABLE changes("
    "  seq INTEGER PRIMARY KEY,"
    "  project_id TEXT NOT NULL,"
    "  service_id TEXT NOT NULL,"
    "  update_time INTEGER NOT NULL,"
    "  body BLOB NOT NULL"
    ");"
    "INSERT INTO meta(key, value) VALUES('feed_seq', 0), ('feed_pruned', 0);",
};

#define SQLITE_SCHEMA_VERSION                                                  \
    ((int64_t)(sizeof(sqlite_migrations) / sizeof(sqlite_migrations[0])))

#define SQL_QUERY_HEAD                                                         \
    "SELECT s.service_name, s.infer_type, l.body"                              \
    " FROM services AS s LEFT JOIN logs AS l"                                  \
    " ON l.project_id = s.project_id AND l.service_id = s.service_id"

static const char sql_query_all[] =
    SQL_QUERY_HEAD " WHERE s.project_id = ?1 AND s.service_id = ?2"
                   " ORDER BY l.update_time, l.seq";
static const char sql_query_at[] =
    SQL_QUERY_HEAD " AND l.update_time = ?3"
                   " WHERE s.project_id = ?1 AND s.service_id = ?2"
                   " ORDER BY l.seq";
static const char sql_ping[] =
    "SELECT value FROM meta WHERE key = 'schema_version'";

/* Sets err to "sqlite:PATH: <what><sqlite's message>" and returns code. */
int sl__sqlite_error(struct sqlite_store *st, int code, const char *what,
                     struct sl_err *err)
{
    st->failed = st->db ? sqlite3_extended_errcode(st->db) : SQLITE_NOMEM;
    return sl_err_set(err, code, "sqlite:%.160s: %s%s", st->path, what,
                      st->db ? sqlite3_errmsg(st->db) : "out of memory");
}

/* The sl_err code for a failed write (import) step: a lock held by
 * someone else is temporary, anything else is an I/O failure. */
int sl__sqlite_write_code(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return SL_EUNAVAIL;
    case SQLITE_NOMEM:
        return SL_ENOMEM;
    default:
        return SL_EIO;
    }
}

/* The sl_err code for a failed open or schema step: the import rules,
 * plus a file that is not a database, which is the caller's mistake. */
static int open_code(int rc)
{
    return (rc & 0xff) == SQLITE_NOTADB ? SL_EINVAL : sl__sqlite_write_code(rc);
}

static int exec(struct sqlite_store *st, const char *sql, struct sl_err *err)
{
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? SL_OK
                           : sl__sqlite_error(st, open_code(rc), "", err);
}

/* Reads meta.schema_version into *v: 0 for an empty database, -1 for one
 * that has tables but no schema_version (not ours). */
static int read_version(struct sqlite_store *st, int64_t *v, struct sl_err *err)
{
    static const char tables[] =
        "SELECT count(*), coalesce(sum(name = 'meta'), 0) FROM sqlite_master";
    sqlite3_stmt *s = NULL;
    int rc = SL_OK, src;

    *v = 0;
    src = sqlite3_prepare_v2(st->db, tables, -1, &s, NULL);
    if (src == SQLITE_OK && (src = sqlite3_step(s)) == SQLITE_ROW &&
        sqlite3_column_int(s, 0) > 0) {
        bool has_meta = sqlite3_column_int(s, 1) > 0;
        sqlite3_finalize(s);
        s = NULL;
        *v = -1;
        if (has_meta) {
            src = sqlite3_prepare_v2(st->db, sql_ping, -1, &s, NULL);
            if (src == SQLITE_OK && (src = sqlite3_step(s)) == SQLITE_ROW)
                *v = sqlite3_column_int64(s, 0);
        }
    }
    if (src != SQLITE_OK && src != SQLITE_ROW && src != SQLITE_DONE)
        rc = sl__sqlite_error(st, open_code(src), "", err);
    sqlite3_finalize(s);
    return rc;
}

/* SL_OK when this code can use or migrate schema version v. */
static int check_version(struct sqlite_store *st, int64_t v, struct sl_err *err)
{
    if (v < 0)
        return sl_err_set(err, SL_EINVAL,
                          "sqlite:%.160s: not a servicelogs database (it has "
                          "tables but no meta.schema_version)",
                          st->path);
    if (v > SQLITE_SCHEMA_VERSION)
        return sl_err_set(err, SL_EINVAL,
                          "sqlite:%.160s: schema version %lld is not "
                          "supported by this server (it supports up to "
                          "%lld); use a newer servicelogs-server",
                          st->path, (long long)v,
                          (long long)SQLITE_SCHEMA_VERSION);
    return SL_OK;
}

/* Brings the schema to SQLITE_SCHEMA_VERSION; refuses a newer or foreign
 * one. */
static int migrate(struct sqlite_store *st, struct sl_err *err)
{
    sqlite3_stmt *s = NULL;
    int64_t v;
    int rc;

    if ((rc = read_version(st, &v, err)) != SL_OK ||
        (rc = check_version(st, v, err)) != SL_OK)
        return rc;
    if (v == SQLITE_SCHEMA_VERSION)
        return SL_OK; /* the common case: no write lock taken */
    if ((rc = exec(st, "BEGIN IMMEDIATE", err)) != SL_OK)
        return rc;
    /* Read again under the lock: another process may have migrated. */
    if ((rc = read_version(st, &v, err)) != SL_OK ||
        (rc = check_version(st, v, err)) != SL_OK)
        goto out;
    for (; v < SQLITE_SCHEMA_VERSION; v++)
        if ((rc = exec(st, sqlite_migrations[v], err)) != SL_OK)
            goto out;
    if (sqlite3_prepare_v2(st->db,
                           "INSERT OR REPLACE INTO meta(key, value)"
                           " VALUES('schema_version', ?1)",
                           -1, &s, NULL) != SQLITE_OK ||
        sqlite3_bind_int64(s, 1, v) != SQLITE_OK ||
        sqlite3_step(s) != SQLITE_DONE) {
        rc = sl__sqlite_error(st, SL_EIO, "", err);
        goto out;
    }
    rc = exec(st, "COMMIT", err);
out:
    sqlite3_finalize(s);
    if (!sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int prepare(struct sqlite_store *st, const char *sql, sqlite3_stmt **out,
                   struct sl_err *err)
{
    int rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out,
                                NULL);
    return rc == SQLITE_OK ? SL_OK
                           : sl__sqlite_error(st, open_code(rc), "", err);
}

static void sqlite_close(struct sl_store *base)
{
    struct sqlite_store *st = (struct sqlite_store *)base;
    if (!st)
        return;
    sqlite3_finalize(st->q_all);
    sqlite3_finalize(st->q_at);
    sqlite3_finalize(st->q_ping);
    sl__sqlite_import_close(st);
    sl__sqlite_feed_close(st);
    sqlite3_close(st->db);
    free(st);
}

/* Whether this user may do mode (R_OK, W_OK...) to path; else errno. */
static bool may(const char *path, int mode)
{
    return faccessat(AT_FDCWD, path, mode, AT_EACCESS) == 0;
}

/* After an open that SQLite failed with code src: what is wrong with the
 * file or its directory, and what to do, in err's place of SQLite's
 * generic words ("unable to open database file", "attempt to write a
 * readonly database"). Opening takes read and write access to the file
 * and, for WAL mode, to PATH-wal and PATH-shm beside it, which SQLite
 * creates when they are missing (so the directory must be writable) --
 * even to serve: a WAL reader writes to -shm. err is left as it is when
 * the file system shows nothing wrong, and for a missing directory and a
 * file that is not a database, whose SQLite words say it already. */
static void explain_open(const struct sqlite_store *st, int src,
                         struct sl_err *err)
{
    const char *path = st->path;
    char dir[512], side[560];
    unsigned uid = (unsigned)geteuid();
    struct stat sb;

    switch (src & 0xff) {
    case SQLITE_CORRUPT:
        sl_err_set(err, SL_ECORRUPT,
                   "sqlite:%.100s: the database file is damaged (%s); "
                   "restore it from a backup, or import into a new file",
                   path, sqlite3_errstr(src));
        return;
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
    case SQLITE_IOERR:
        break;
    default:
        return;
    }
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else
        snprintf(dir, sizeof(dir), "%.*s",
                 slash == path ? 1 : (int)(slash - path), path);
    if (stat(dir, &sb) != 0)
        return; /* a missing directory: SQLite's words, with the path */
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        sl_err_set(err, SL_EINVAL,
                   "sqlite:%.100s: is a directory, not a database file; "
                   "name a file in it (sqlite:%.100s/servicelogs.db)",
                   path, path);
        return;
    }
    bool exists = stat(path, &sb) == 0;
    bool dir_w = may(dir, W_OK | X_OK);
    int dir_errno = errno;
    if (!exists) {
        if (!dir_w)
            sl_err_set(err, SL_EIO,
                       "sqlite:%.100s: no such file, and this user (uid "
                       "%u) cannot create one in %.100s: %s; create the "
                       "database with `import` as a user who can, or give "
                       "this one write access to the directory",
                       path, uid, dir, strerror(dir_errno));
        return;
    }
    if (!may(path, R_OK)) {
        sl_err_set(err, SL_EIO,
                   "sqlite:%.100s: this user (uid %u) cannot read the file: "
                   "%s; give this user read and write access to the file "
                   "and its directory",
                   path, uid, strerror(errno));
        return;
    }
    bool file_w = may(path, W_OK);
    int file_errno = errno;
    bool sides = true; /* -wal and -shm both there, and writable */
    for (int i = 0; i < 2; i++) {
        snprintf(side, sizeof(side), "%s%s", path, i ? "-shm" : "-wal");
        if (stat(side, &sb) != 0) {
            sides = false;
        } else if (!may(side, R_OK | W_OK)) {
            sl_err_set(err, SL_EIO,
                       "sqlite:%.100s: %s is not writable by this user "
                       "(uid %u): %s; give it write access, or remove the "
                       "file while no server or import has the database "
                       "open",
                       path, i ? "-shm" : "-wal", uid, strerror(errno));
            return;
        }
    }
    if (!dir_w && !file_w)
        sl_err_set(err, SL_EIO,
                   "sqlite:%.100s: the file and its directory are not "
                   "writable by this user (uid %u): %s; SQLite needs both "
                   "(WAL mode keeps -wal and -shm files beside it): give "
                   "this user write access",
                   path, uid, strerror(file_errno));
    else if (!dir_w && !sides)
        sl_err_set(err, SL_EIO,
                   "sqlite:%.100s: its directory is not writable by this "
                   "user (uid %u): %s; SQLite must create the -wal and -shm "
                   "files there (WAL mode): give this user write access to "
                   "the directory",
                   path, uid, strerror(dir_errno));
    else if (!file_w)
        sl_err_set(err, SL_EIO,
                   "sqlite:%.100s: the file is not writable by this user "
                   "(uid %u): %s; give this user write access to it",
                   path, uid, strerror(file_errno));
}

static int sqlite_open(const struct sl_store_type *type, const char *arg,
                       struct sl_store **out, struct sl_err *err)
{
    struct sqlite_store *st = NULL;
    int rc = SL_OK;

    *out = NULL;
    if (!arg || !*arg)
        return sl_err_set(err, SL_EINVAL,
                          "sqlite: needs a database file (sqlite:PATH)");
    if (strcmp(arg, ":memory:") == 0)
        return sl_err_set(err, SL_EINVAL,
                          "sqlite::memory: would give every connection its "
                          "own empty database; use memory: instead");
    size_t n = strlen(arg);
    st = calloc(1, sizeof(*st) + n + 1);
    if (!st)
        return sl_err_set(err, SL_ENOMEM, "sqlite: out of memory");
    st->base.type = type;
    memcpy(st->path, arg, n + 1);

    int src = sqlite3_open_v2(
        arg, &st->db,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (src != SQLITE_OK) {
        rc = sl__sqlite_error(st, open_code(src), "", err);
        goto out;
    }
    sqlite3_busy_timeout(st->db, SQLITE_BUSY_MS);
    sqlite3_progress_handler(st->db, 1000, past_deadline, st);
    /* The first statement reads the file: a file that is not a database
     * fails here with "file is not a database". */
    if ((rc = exec(st, "PRAGMA journal_mode=WAL", err)) != SL_OK ||
        (rc = exec(st, "PRAGMA synchronous=FULL", err)) != SL_OK ||
        (rc = migrate(st, err)) != SL_OK ||
        (rc = sl__sqlite_feed_mark(st, err)) != SL_OK ||
        (rc = prepare(st, sql_query_all, &st->q_all, err)) != SL_OK ||
        (rc = prepare(st, sql_query_at, &st->q_at, err)) != SL_OK)
        goto out;
    rc = prepare(st, sql_ping, &st->q_ping, err);
    if (rc == SL_OK) {
        struct stat sb;
        if (stat(st->path, &sb) != 0) {
            rc = sl_err_set(err, SL_EIO, "sqlite:%.160s: %s", st->path,
                            strerror(errno));
            goto out;
        }
        st->dev = sb.st_dev;
        st->ino = sb.st_ino;
    }
out:
    if (rc != SL_OK) {
        if (st->failed)
            explain_open(st, st->failed, err);
        rc = err ? err->code : rc;
        sqlite_close(&st->base);
        return rc;
    }
    *out = &st->base;
    return SL_OK;
}

static int nomem(struct sl_err *err)
{
    return sl_err_set(err, SL_ENOMEM, "sqlite: out of memory reading logs");
}

/* A failed read: damage SQLite found in the file is SL_ECORRUPT, which a
 * retry will not cure; anything else (locks, I/O) SL_EUNAVAIL. */
static int read_error(struct sqlite_store *st, const struct sl_log_query *q,
                      int src, struct sl_err *err)
{
    if ((src & 0xff) == SQLITE_NOMEM)
        return nomem(err);
    if ((src & 0xff) == SQLITE_CORRUPT || (src & 0xff) == SQLITE_NOTADB)
        return sl_err_set(err, SL_ECORRUPT,
                          "sqlite:%.100s: stored data is corrupt: reading "
                          "service %s of project %s: %s; restore the file "
                          "from a backup, or import into a new one",
                          st->path, q->service_id, q->project_id,
                          sqlite3_errmsg(st->db));
    return sl__sqlite_error(st, SL_EUNAVAIL, "", err);
}

/* query_logs on st; query_snapshot runs it inside its read transaction.
 * SL_WIRE_CRC32: the seal check is compiled in (sl_store_unseal_log). */
SL_WIRE_CRC32 static int query_page(struct sqlite_store *st,
                                    const struct sl_log_query *q,
                                    struct sl_log_page *out, struct sl_err *err)
{
    sqlite3_stmt *s = q->update_time ? st->q_at : st->q_all;
    size_t cap = 0;
    bool found = false;
    int rc = SL_OK, src;

    sl_log_page_init(out);
    st->deadline_us = q->deadline_us;
    if (q->deadline_us && sl_clock_us() > q->deadline_us) {
        rc = sl_err_set(err, SL_ETIMEOUT, "deadline passed before the query");
        goto out;
    }
    if (sqlite3_bind_text(s, 1, q->project_id, -1, SQLITE_STATIC) ||
        sqlite3_bind_text(s, 2, q->service_id, -1, SQLITE_STATIC) ||
        (q->update_time && sqlite3_bind_int64(s, 3, q->update_time))) {
        rc = sl__sqlite_error(st, SL_EINTERNAL, "", err);
        goto out;
    }
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (!found) {
            found = true;
            out->infer_type = sqlite3_column_int(s, 1);
            out->service_id = sl_arena_strndup(&out->arena, q->service_id,
                                               strlen(q->service_id));
            out->service_name = sl_arena_strndup(
                &out->arena, (const char *)sqlite3_column_text(s, 0),
                (size_t)sqlite3_column_bytes(s, 0));
            if (!out->service_id || !out->service_name) {
                rc = nomem(err);
                goto out;
            }
        }
        if (sqlite3_column_type(s, 2) == SQLITE_NULL)
            continue; /* the LEFT JOIN's row for a service without logs */
        if (out->n_logs == cap) {
            size_t ncap = cap ? 2 * cap : 8;
            struct sl_blob *v = sl_arena_alloc(&out->arena, ncap * sizeof(*v));
            if (!v) {
                rc = nomem(err);
                goto out;
            }
            if (cap)
                memcpy(v, out->logs, cap * sizeof(*v));
            out->logs = v;
            cap = ncap;
        }
        const uint8_t *body = sqlite3_column_blob(s, 2);
        size_t len = (size_t)sqlite3_column_bytes(s, 2);
        if (!body) /* an empty blob */
            body = (const uint8_t *)"";
        if ((rc = sl_store_unseal_log("sqlite:", st->path, "the file", q,
                                      out->n_logs, body, &len, err)) != SL_OK)
            goto out;
        uint8_t *copy = sl_arena_alloc(&out->arena, len);
        if (!copy) {
            rc = nomem(err);
            goto out;
        }
        if (len)
            memcpy(copy, body, len);
        out->logs[out->n_logs].data = copy;
        out->logs[out->n_logs].len = len;
        out->n_logs++;
    }
    if (src == SQLITE_INTERRUPT && past_deadline(st))
        rc = sl_err_set(err, SL_ETIMEOUT, "query stopped at its deadline");
    else if (src != SQLITE_DONE)
        rc = read_error(st, q, src, err);
    else if (!found)
        rc = sl_err_set(err, SL_ENOTFOUND, "service %s not found in project %s",
                        q->service_id, q->project_id);
out:
    sqlite3_reset(s);
    st->deadline_us = 0;
    if (rc != SL_OK)
        sl_log_page_free(out);
    return rc;
}

static int sqlite_query_logs(struct sl_store *base,
                             const struct sl_log_query *q,
                             struct sl_log_page *out, struct sl_err *err)
{
    return query_page((struct sqlite_store *)base, q, out, err);
}

/* The page and meta.feed_seq in one read transaction (WAL: one snapshot
 * of the file), so every change after *seq was committed after the page
 * was read. */
static int sqlite_query_snapshot(struct sl_store *base,
                                 const struct sl_log_query *q,
                                 struct sl_log_page *out, int64_t *seq,
                                 struct sl_err *err)
{
    struct sqlite_store *st = (struct sqlite_store *)base;
    int rc, src;

    *seq = 0;
    sl_log_page_init(out);
    if ((src = sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL)) != SQLITE_OK)
        return read_error(st, q, src, err);
    if ((rc = query_page(st, q, out, err)) != SL_OK)
        goto out;
    if ((src = sl__sqlite_feed_seq(st, seq)) != SQLITE_OK ||
        (src = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK) {
        *seq = 0;
        rc = read_error(st, q, src, err);
        sl_log_page_free(out);
    }
out:
    if (!sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int sqlite_ping(struct sl_store *base, struct sl_err *err)
{
    struct sqlite_store *st = (struct sqlite_store *)base;
    /* An open connection keeps reading a file that was deleted, moved
     * away or replaced; the database the configuration names is then not
     * the one being served. A file moved back is served again. */
    struct stat sb;
    if (stat(st->path, &sb) != 0)
        return sl_err_set(err, SL_EUNAVAIL, "sqlite:%.160s: %s", st->path,
                          strerror(errno));
    if (sb.st_dev != st->dev || sb.st_ino != st->ino)
        return sl_err_set(err, SL_EUNAVAIL,
                          "sqlite:%.160s: the file was replaced since the "
                          "server opened it; restart to serve the new one",
                          st->path);
    int src = sqlite3_step(st->q_ping);
    int rc =
        src == SQLITE_ROW ? SL_OK : sl__sqlite_error(st, SL_EUNAVAIL, "", err);
    sqlite3_reset(st->q_ping);
    return rc;
}

static int sqlite_count_services(struct sl_store *base, size_t *n,
                                 struct sl_err *err)
{
    struct sqlite_store *st = (struct sqlite_store *)base;
    sqlite3_stmt *s = NULL;
    *n = 0;
    int rc = prepare(st, "SELECT count(*) FROM services", &s, err);
    if (rc != SL_OK)
        return rc;
    if (sqlite3_step(s) == SQLITE_ROW)
        *n = (size_t)sqlite3_column_int64(s, 0);
    else
        rc = sl__sqlite_error(st, SL_EUNAVAIL, "", err);
    sqlite3_finalize(s);
    return rc;
}

/* v6: sqlite: has no options. */
static int sqlite_open_with(const struct sl_store_type *type, const char *arg,
                            const struct sl_store_options *opts,
                            struct sl_store **out, struct sl_err *err)
{
    (void)opts;
    return sqlite_open(type, arg, out, err);
}

const struct sl_store_type sl_store_sqlite = {
    .version = 6,
    .name = "sqlite",
    .open = sqlite_open,
    .query_logs = sqlite_query_logs,
    .import = sl__sqlite_import,
    .ping = sqlite_ping,
    .close = sqlite_close,
    .count_services = sqlite_count_services,
    .aliases = NULL,
    .takes_uri = false,
    .uri_form = "sqlite:PATH",
    .put_service = sl__sqlite_put_service,
    .record_log = sl__sqlite_record_log,
    .query_snapshot = sqlite_query_snapshot,
    .read_changes = sl__sqlite_read_changes,
    .wait_changes = sl__sqlite_wait_changes,
    .import_begin = sl__sqlite_import_begin,
    .import_add = sl__sqlite_import_add,
    .import_end = sl__sqlite_import_end,
    .open_with = sqlite_open_with,
};
