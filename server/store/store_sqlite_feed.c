/* store_sqlite_feed.c -- SQLite backend: the writes and the change feed
 *
 * put_service and record_log each run in one BEGIN IMMEDIATE transaction
 * (put_service appends its change only when it created or renamed):
 * writers in every process are serialized by SQLite's write lock (waiting
 * up to SQLITE_BUSY_MS), so the feed's seqs are handed out in commit
 * order. The newest seq is a counter in meta (feed_seq), read and written
 * back inside the writer's transaction, so pruning the changes table never
 * makes a seq come back. A write that crosses a multiple of
 * SQLITE_PRUNE_EVERY deletes the changes older than the newest
 * SL_STORE_FEED_KEEP and raises meta.feed_pruned to the last seq deleted:
 * a reader asking for changes after `after` lost some exactly when after
 * < feed_pruned (seqs are dense: one per change, never rolled back
 * without their change).
 *
 * read_changes reads the head, feed_pruned and the changes in one read
 * transaction (one WAL snapshot). wait_changes polls PRAGMA data_version,
 * which changes when another connection -- of this process or any other
 * -- commits to the file; the connection it runs on is used for nothing
 * else (store.h), so its own commits cannot hide others'.
 *
 * The statements are prepared at a connection's first write or feed read
 * (feed_ready), not at open: the server's query connections never prepare
 * them.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "modelarts/v1/service_logs.pb-c.h"
#include "store.h"
#include "store_sqlite.h"
#include "wire.h"

#define F(name) offsetof(struct sqlite_feed_stmts, name)

/* Parameters of the log statements: ?1 project_id, ?2 service_id,
 * ?3 update_time, ?4 seq, ?5 body. */
static const struct {
    size_t off; /* of the statement in struct sqlite_feed_stmts */
    const char *sql;
} feed_sql[] = {
    {F(svc_get), "SELECT infer_type, service_name FROM services"
                 " WHERE project_id = ?1 AND service_id = ?2"},
    {F(svc_add), "INSERT INTO services(project_id, service_id, service_name,"
                 " infer_type) VALUES(?1, ?2, ?3, ?4)"},
    {F(svc_name), "UPDATE services SET service_name = ?3"
                  " WHERE project_id = ?1 AND service_id = ?2"},
    {F(log_at), "SELECT seq FROM logs WHERE project_id = ?1"
                " AND service_id = ?2 AND update_time = ?3 ORDER BY seq"
                " LIMIT 1"},
    {F(log_set), "UPDATE logs SET body = ?5 WHERE project_id = ?1"
                 " AND service_id = ?2 AND update_time = ?3 AND seq = ?4"},
    {F(log_del), "DELETE FROM logs WHERE project_id = ?1 AND service_id = ?2"
                 " AND update_time = ?3 AND seq > ?4"},
    {F(log_add), "INSERT INTO logs(project_id, service_id, seq, update_time,"
                 " body) SELECT ?1, ?2, coalesce(max(seq) + 1, 0), ?3, ?5"
                 " FROM logs WHERE project_id = ?1 AND service_id = ?2"},
    {F(seq_get), "SELECT value FROM meta WHERE key = 'feed_seq'"},
    {F(seq_set), "UPDATE meta SET value = ?1 WHERE key = 'feed_seq'"},
    {F(chg_add), "INSERT INTO changes(seq, project_id, service_id,"
                 " update_time, body) VALUES(?1, ?2, ?3, ?4, ?5)"},
    {F(prune), "DELETE FROM changes WHERE seq <= ?1"},
    {F(pruned), "UPDATE meta SET value = max(value, ?1)"
                " WHERE key = 'feed_pruned'"},
    {F(head), "SELECT (SELECT value FROM meta WHERE key = 'feed_seq'),"
              " (SELECT value FROM meta WHERE key = 'feed_pruned')"},
    {F(read), "SELECT seq, project_id, service_id, update_time, body"
              " FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2"},
};

#define N_FEED_SQL (sizeof(feed_sql) / sizeof(feed_sql[0]))

static sqlite3_stmt **stmt_at(struct sqlite_store *st, size_t i)
{
    return (sqlite3_stmt **)((char *)&st->w + feed_sql[i].off);
}

/* Prepares what is not prepared yet. An SQLite result code. */
static int feed_ready(struct sqlite_store *st)
{
    for (size_t i = 0; i < N_FEED_SQL; i++) {
        sqlite3_stmt **s = stmt_at(st, i);
        int rc;
        if (!*s && (rc = sqlite3_prepare_v3(st->db, feed_sql[i].sql, -1,
                                            SQLITE_PREPARE_PERSISTENT, s,
                                            NULL)) != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

void sl__sqlite_feed_close(struct sqlite_store *st)
{
    for (size_t i = 0; i < N_FEED_SQL; i++) {
        sqlite3_finalize(*stmt_at(st, i));
        *stmt_at(st, i) = NULL;
    }
    sqlite3_finalize(st->w.dv);
    st->w.dv = NULL;
}

/* Runs s to its end (a write, or a read whose rows are not wanted) and
 * resets it. */
static int run(sqlite3_stmt *s)
{
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        ;
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static void bind_key(sqlite3_stmt *s, const char *project_id,
                     const char *service_id)
{
    sqlite3_bind_text(s, 1, project_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, service_id, -1, SQLITE_STATIC);
}

int sl__sqlite_feed_seq(struct sqlite_store *st, int64_t *seq)
{
    int rc = feed_ready(st);
    *seq = 0;
    if (rc != SQLITE_OK)
        return rc;
    if ((rc = sqlite3_step(st->w.seq_get)) == SQLITE_ROW) {
        *seq = sqlite3_column_int64(st->w.seq_get, 0);
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_CORRUPT; /* migrate() wrote the row */
    }
    sqlite3_reset(st->w.seq_get);
    return rc;
}

int sl__sqlite_feed_add(struct sqlite_store *st, int64_t *seq,
                        const char *project_id, const char *service_id,
                        int64_t update_time, const uint8_t *sealed, size_t len)
{
    uint8_t empty[SL_WIRE_SEAL_LEN];
    sqlite3_stmt *s = st->w.chg_add;
    if (!sealed) {
        sl_wire_seal((const uint8_t *)"", 0, empty);
        sealed = empty;
        len = sizeof(empty);
    }
    sqlite3_bind_int64(s, 1, *seq + 1);
    sqlite3_bind_text(s, 2, project_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, service_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, update_time);
    sqlite3_bind_blob64(s, 5, sealed, len, SQLITE_STATIC);
    int rc = run(s);
    sqlite3_clear_bindings(s); /* sealed may be the stack's */
    if (rc == SQLITE_OK)
        ++*seq;
    return rc;
}

int sl__sqlite_feed_end(struct sqlite_store *st, int64_t first, int64_t last)
{
    int rc;
    if (last == first)
        return SQLITE_OK;
    sqlite3_bind_int64(st->w.seq_set, 1, last);
    if ((rc = run(st->w.seq_set)) != SQLITE_OK)
        return rc;
    if (last / SQLITE_PRUNE_EVERY == first / SQLITE_PRUNE_EVERY ||
        last <= SL_STORE_FEED_KEEP)
        return SQLITE_OK;
    int64_t to = last - SL_STORE_FEED_KEEP; /* the last seq deleted */
    sqlite3_bind_int64(st->w.prune, 1, to);
    sqlite3_bind_int64(st->w.pruned, 1, to);
    if ((rc = run(st->w.prune)) != SQLITE_OK)
        return rc;
    return run(st->w.pruned);
}

/* BEGIN IMMEDIATE: the write lock now, so that the reads of the
 * transaction see what it writes over. */
static int begin_write(struct sqlite_store *st)
{
    int rc = feed_ready(st);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    return rc;
}

/* Ends a write: on failure (src) err says so, naming what, and the
 * transaction is rolled back; returns rc (SL_OK, or what failed before). */
static int end_write(struct sqlite_store *st, int rc, int src, const char *what,
                     struct sl_err *err)
{
    /* The message first: ROLLBACK replaces sqlite3_errmsg(). */
    if (rc == SL_OK && src != SQLITE_OK) {
        char why[96];
        snprintf(why, sizeof(why), "%s failed, nothing changed: ", what);
        rc = sl__sqlite_error(st, sl__sqlite_write_code(src), why, err);
    }
    if (!sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static const char *type_name(int infer_type)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
        &modelarts__v1__infer_type__descriptor, infer_type);
    return v ? v->name : "unknown";
}

/* put_service's change: created or renamed, a "replaced" change. */
static int put_change(struct sqlite_store *st, const struct sl_service_put *p)
{
    int64_t first, next;
    int src = sl__sqlite_feed_seq(st, &first);
    next = first;
    if (src == SQLITE_OK)
        src = sl__sqlite_feed_add(st, &next, p->project_id, p->service_id, 0,
                                  NULL, 0);
    if (src == SQLITE_OK)
        src = sl__sqlite_feed_end(st, first, next);
    return src;
}

int sl__sqlite_put_service(struct sl_store *base,
                           const struct sl_service_put *p, bool *created,
                           struct sl_err *err)
{
    struct sqlite_store *st = (struct sqlite_store *)base;
    bool add = false, same_name = true;
    int rc = SL_OK, src;

    *created = false;
    if ((src = begin_write(st)) != SQLITE_OK)
        goto out;
    sqlite3_stmt *get = st->w.svc_get;
    bind_key(get, p->project_id, p->service_id);
    if ((src = sqlite3_step(get)) == SQLITE_ROW) {
        int type = sqlite3_column_int(get, 0);
        const char *name = (const char *)sqlite3_column_text(get, 1);
        same_name = name && strcmp(name, p->service_name) == 0;
        sqlite3_reset(get);
        if (type != p->infer_type) {
            rc = sl_err_set(err, SL_ECONFLICT,
                            "service %s of project %s is %s, not %s: a "
                            "service's infer_type never changes",
                            p->service_id, p->project_id, type_name(type),
                            type_name(p->infer_type));
            goto out;
        }
        src = SQLITE_OK;
        if (!same_name) {
            sqlite3_stmt *s = st->w.svc_name;
            bind_key(s, p->project_id, p->service_id);
            sqlite3_bind_text(s, 3, p->service_name, -1, SQLITE_STATIC);
            src = run(s);
        }
    } else if (src == SQLITE_DONE) {
        sqlite3_stmt *s = st->w.svc_add;
        sqlite3_reset(get);
        bind_key(s, p->project_id, p->service_id);
        sqlite3_bind_text(s, 3, p->service_name, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 4, p->infer_type);
        src = run(s);
        add = true;
    } else {
        sqlite3_reset(get);
    }
    if (src == SQLITE_OK && (add || !same_name))
        src = put_change(st, p);
    if (src == SQLITE_OK &&
        (src = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL)) == SQLITE_OK)
        *created = add;
out:
    return end_write(st, rc, src, "put_service", err);
}

/* The log statements' key and time. */
static void bind_log(sqlite3_stmt *s, const char *project_id,
                     const char *service_id, int64_t update_time)
{
    bind_key(s, project_id, service_id);
    sqlite3_bind_int64(s, 3, update_time);
}

int sl__sqlite_record_log(struct sl_store *base, const char *project_id,
                          const char *service_id,
                          const struct sl_import_log *log, bool *created,
                          int64_t *seq, struct sl_err *err)
{
    struct sqlite_store *st = (struct sqlite_store *)base;
    size_t len = log->body.len + SL_WIRE_SEAL_LEN;
    uint8_t *sealed = NULL;
    int64_t first = 0, next = 0;
    bool add = false;
    int rc = SL_OK, src = SQLITE_OK;

    *created = false;
    *seq = 0;
    if (log->update_time <= 0)
        return sl_err_set(err, SL_EINVAL,
                          "record_log: update_time %lld is not positive",
                          (long long)log->update_time);
    if (!(sealed = malloc(len)))
        return sl_err_set(err, SL_ENOMEM, "sqlite: out of memory");
    if (log->body.len)
        memcpy(sealed, log->body.data, log->body.len);
    sl_wire_seal(sealed, log->body.len, sealed + log->body.len);

    if ((src = begin_write(st)) != SQLITE_OK)
        goto out;
    sqlite3_stmt *get = st->w.svc_get;
    bind_key(get, project_id, service_id);
    src = sqlite3_step(get);
    int type = src == SQLITE_ROW ? sqlite3_column_int(get, 0) : 0;
    sqlite3_reset(get);
    if (src == SQLITE_DONE) {
        rc = sl_err_set(err, SL_ENOTFOUND, "service %s not found in project %s",
                        service_id, project_id);
        goto out;
    }
    if (src != SQLITE_ROW)
        goto out;
    src = SQLITE_OK;
    if (type == MODELARTS__V1__INFER_TYPE__BATCH) {
        rc = sl_err_set(err, SL_EBATCH,
                        "service %s of project %s is a batch service: it "
                        "has no update logs",
                        service_id, project_id);
        goto out;
    }

    /* The first log at that time keeps its place; the others go. */
    sqlite3_stmt *at = st->w.log_at;
    bind_log(at, project_id, service_id, log->update_time);
    src = sqlite3_step(at);
    int64_t at_seq = src == SQLITE_ROW ? sqlite3_column_int64(at, 0) : 0;
    sqlite3_reset(at);
    if (src == SQLITE_ROW) {
        sqlite3_stmt *set = st->w.log_set, *del = st->w.log_del;
        bind_log(set, project_id, service_id, log->update_time);
        sqlite3_bind_int64(set, 4, at_seq);
        sqlite3_bind_blob64(set, 5, sealed, len, SQLITE_STATIC);
        bind_log(del, project_id, service_id, log->update_time);
        sqlite3_bind_int64(del, 4, at_seq);
        if ((src = run(set)) != SQLITE_OK || (src = run(del)) != SQLITE_OK)
            goto out;
    } else if (src == SQLITE_DONE) {
        sqlite3_stmt *ins = st->w.log_add;
        bind_log(ins, project_id, service_id, log->update_time);
        sqlite3_bind_blob64(ins, 5, sealed, len, SQLITE_STATIC);
        if ((src = run(ins)) != SQLITE_OK)
            goto out;
        add = true;
    } else {
        goto out;
    }

    if ((src = sl__sqlite_feed_seq(st, &first)) != SQLITE_OK)
        goto out;
    next = first;
    if ((src = sl__sqlite_feed_add(st, &next, project_id, service_id,
                                   log->update_time, sealed, len)) !=
            SQLITE_OK ||
        (src = sl__sqlite_feed_end(st, first, next)) != SQLITE_OK ||
        (src = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
        goto out;
    *created = add;
    *seq = next;
out:
    if (st->w.log_add) { /* sealed is freed below */
        sqlite3_clear_bindings(st->w.log_set);
        sqlite3_clear_bindings(st->w.log_add);
    }
    rc = end_write(st, rc, src, "record_log", err);
    free(sealed);
    return rc;
}

static int feed_nomem(struct sl_err *err)
{
    return sl_err_set(err, SL_ENOMEM, "sqlite: out of memory reading changes");
}

/* Copies the read statement's current row into out's next change. */
static int copy_change(struct sqlite_store *st, sqlite3_stmt *s,
                       struct sl_change_batch *out, size_t *cap,
                       struct sl_err *err)
{
    if (out->n == *cap) {
        size_t ncap = *cap ? 2 * *cap : 16;
        struct sl_change *v = sl_arena_alloc(&out->arena, ncap * sizeof(*v));
        if (!v)
            return feed_nomem(err);
        if (*cap)
            memcpy(v, out->changes, *cap * sizeof(*v));
        out->changes = v;
        *cap = ncap;
    }
    struct sl_change *c = &out->changes[out->n];
    c->seq = sqlite3_column_int64(s, 0);
    c->project_id =
        sl_arena_strndup(&out->arena, (const char *)sqlite3_column_text(s, 1),
                         (size_t)sqlite3_column_bytes(s, 1));
    c->service_id =
        sl_arena_strndup(&out->arena, (const char *)sqlite3_column_text(s, 2),
                         (size_t)sqlite3_column_bytes(s, 2));
    c->update_time = sqlite3_column_int64(s, 3);
    const uint8_t *body = sqlite3_column_blob(s, 4);
    size_t len = (size_t)sqlite3_column_bytes(s, 4);
    if (!c->project_id || !c->service_id)
        return feed_nomem(err);
    enum sl_wire_sealed sealed = sl_wire_unseal(body, len);
    if (sealed != SL_WIRE_SEALED)
        return sl_err_set(err, SL_ECORRUPT,
                          "sqlite:%.100s: stored data is corrupt: change %lld "
                          "(service %s of project %s, update_time %lld): %s; "
                          "restore the file from a backup",
                          st->path, (long long)c->seq, c->service_id,
                          c->project_id, (long long)c->update_time,
                          sealed == SL_WIRE_BAD_SEAL ? "checksum mismatch"
                                                     : "no checksum");
    len -= SL_WIRE_SEAL_LEN;
    uint8_t *copy = sl_arena_alloc(&out->arena, len ? len : 1);
    if (!copy)
        return feed_nomem(err);
    if (len)
        memcpy(copy, body, len);
    c->body.data = copy;
    c->body.len = len;
    out->n++;
    return SL_OK;
}

/* A failed read of the feed: damage SQLite found is SL_ECORRUPT, the rest
 * (locks, I/O) SL_EUNAVAIL. */
static int feed_read_error(struct sqlite_store *st, int src, struct sl_err *err)
{
    switch (src & 0xff) {
    case SQLITE_NOMEM:
        return feed_nomem(err);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return sl__sqlite_error(st, SL_ECORRUPT,
                                "stored data is corrupt: reading the change "
                                "feed: ",
                                err);
    default:
        return sl__sqlite_error(st, SL_EUNAVAIL,
                                "reading the change feed: ", err);
    }
}

int sl__sqlite_read_changes(struct sl_store *base, int64_t after, size_t max,
                            struct sl_change_batch *out, struct sl_err *err)
{
    struct sqlite_store *st = (struct sqlite_store *)base;
    size_t cap = 0;
    int rc = SL_OK, src;

    sl_change_batch_init(out);
    if ((src = feed_ready(st)) != SQLITE_OK ||
        (src = sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL)) != SQLITE_OK)
        goto out;
    sqlite3_stmt *h = st->w.head;
    if ((src = sqlite3_step(h)) != SQLITE_ROW) {
        sqlite3_reset(h);
        goto out;
    }
    out->head = sqlite3_column_int64(h, 0);
    int64_t pruned = sqlite3_column_int64(h, 1);
    sqlite3_reset(h);
    src = SQLITE_OK;
    if (after < 0 || max == 0)
        goto commit;
    out->lost = after < pruned;
    sqlite3_stmt *s = st->w.read;
    sqlite3_bind_int64(s, 1, after);
    sqlite3_bind_int64(s, 2, max > INT64_MAX ? INT64_MAX : (int64_t)max);
    while ((src = sqlite3_step(s)) == SQLITE_ROW)
        if ((rc = copy_change(st, s, out, &cap, err)) != SL_OK)
            break;
    sqlite3_reset(s);
    if (rc != SL_OK)
        goto out;
    if (src != SQLITE_DONE)
        goto out;
    src = SQLITE_OK;
commit:
    src = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
out:
    if (rc == SL_OK && src != SQLITE_OK)
        rc = feed_read_error(st, src, err);
    if (!sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    if (rc != SL_OK)
        sl_change_batch_free(out);
    return rc;
}

/* Reads PRAGMA data_version into *v. An SQLite result code. */
static int data_version(struct sqlite_store *st, int64_t *v)
{
    int rc;
    if (!st->w.dv && (rc = sqlite3_prepare_v3(st->db, "PRAGMA data_version", -1,
                                              SQLITE_PREPARE_PERSISTENT,
                                              &st->w.dv, NULL)) != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st->w.dv);
    if (rc == SQLITE_ROW)
        *v = sqlite3_column_int64(st->w.dv, 0);
    sqlite3_reset(st->w.dv);
    return rc == SQLITE_ROW ? SQLITE_OK : rc;
}

int sl__sqlite_feed_mark(struct sqlite_store *st, struct sl_err *err)
{
    int rc = data_version(st, &st->data_version);
    return rc == SQLITE_OK
               ? SL_OK
               : sl__sqlite_error(st, sl__sqlite_write_code(rc), "", err);
}

int sl__sqlite_wait_changes(struct sl_store *base, int timeout_ms,
                            struct sl_err *err)
{
    struct sqlite_store *st = (struct sqlite_store *)base;
    int64_t end =
        sl_clock_us() + (int64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000;
    for (;;) {
        int64_t v = 0; /* set by data_version() on SQLITE_OK */
        int rc = data_version(st, &v);
        if (rc != SQLITE_OK)
            return sl__sqlite_error(st, SL_EUNAVAIL,
                                    "watching for changes: ", err);
        if (v != st->data_version) {
            st->data_version = v;
            return SL_OK;
        }
        int64_t left = end - sl_clock_us();
        if (left <= 0)
            return SL_OK;
        if (left > SQLITE_WAIT_POLL_MS * 1000)
            left = SQLITE_WAIT_POLL_MS * 1000;
        struct timespec ts = {0, (long)left * 1000};
        nanosleep(&ts, NULL);
    }
}
