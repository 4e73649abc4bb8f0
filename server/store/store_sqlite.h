/* store_sqlite.h -- what the files of the SQLite backend share (private)
 *
 * The backend is three files, one concern each: store_sqlite.c (the file
 * and the reads: open, migrations, query_logs, query_snapshot, ping, close
 * and the exported sl_store_sqlite), store_sqlite_import.c (the import
 * session, store.h v5, and the one-call import on top of it) and
 * store_sqlite_feed.c (the writes and the change feed: put_service,
 * record_log, the feed's rows that import appends, read_changes,
 * wait_changes). This header is included by those three only; its functions are
 * sl__sqlite_* (STYLE 12: internal, not static), the rest of the server sees
 * sl_store_sqlite.
 *
 * Every function here takes a connection used by one thread at a time
 * (store.h). On failure err says "sqlite:PATH: what".
 */
#ifndef SL_STORE_SQLITE_H
#define SL_STORE_SQLITE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "store.h"

#define SQLITE_BUSY_MS 2000   /* how long a writer waits for the lock */
#define SQLITE_WAIT_POLL_MS 5 /* wait_changes: PRAGMA data_version period */
#define SQLITE_PRUNE_EVERY                                                     \
    1000 /* the feed is pruned when a write's seqs                             \
            cross a multiple of this */

/* The statements of the writes and the feed: prepared at their first use
 * (a connection that only serves queries never prepares them), finalized
 * by close. Owned by the connection. */
struct sqlite_feed_stmts {
    sqlite3_stmt *svc_get;  /* a service's infer_type and name */
    sqlite3_stmt *svc_add;  /* insert a service */
    sqlite3_stmt *svc_name; /* rename it */
    sqlite3_stmt *log_at;   /* the first log at an update_time */
    sqlite3_stmt *log_set;  /* replace that log's body */
    sqlite3_stmt *log_del;  /* delete the other logs at that time */
    sqlite3_stmt *log_add;  /* append a log (seq = max + 1) */
    sqlite3_stmt *seq_get;  /* meta.feed_seq */
    sqlite3_stmt *seq_set;  /* write it back */
    sqlite3_stmt *chg_add;  /* insert a change */
    sqlite3_stmt *prune;    /* delete old changes */
    sqlite3_stmt *pruned;   /* raise meta.feed_pruned */
    sqlite3_stmt *head;     /* meta.feed_seq and meta.feed_pruned */
    sqlite3_stmt *read;     /* changes after a seq */
    sqlite3_stmt *dv;       /* PRAGMA data_version */
};

/* The import session (store_sqlite_import.c): its statements, prepared
 * by import_begin and finalized by import_end, and the feed's seqs. */
struct sqlite_import {
    sqlite3_stmt *put_svc;  /* upsert a service */
    sqlite3_stmt *del_logs; /* delete its logs */
    sqlite3_stmt *put_log;  /* insert one log */
    uint8_t *sealed;        /* a body and its seal, reused; owned */
    size_t cap;             /* bytes sealed has room for */
    int64_t first, seq;     /* the feed's seq at begin, and now */
    bool open;              /* a session is under way */
    bool failed;            /* an add failed: only a rollback is left */
};

/* One connection. Owner: whoever open() returned it to; sl_store_close()
 * frees it. */
struct sqlite_store {
    struct sl_store base;       /* must be first */
    sqlite3 *db;                /* owned; this connection's handle */
    sqlite3_stmt *q_all;        /* one service and all its logs */
    sqlite3_stmt *q_at;         /* one service and its logs at ?3 */
    sqlite3_stmt *q_ping;       /* health check */
    struct sqlite_feed_stmts w; /* writes and the feed; lazily prepared */
    struct sqlite_import imp;   /* the import session, when one is open */
    int64_t deadline_us;        /* of the running query; 0 = none */
    int64_t data_version;       /* wait_changes: PRAGMA data_version at
                                   the end of the last call (or at open) */
    int failed;                 /* SQLite's code of the last db_error() */
    dev_t dev;                  /* the opened file's device and inode: */
    ino_t ino;                  /*   ping notices a file replaced */
    char path[];                /* the file, for messages */
};

/* ---- store_sqlite.c ----------------------------------------------------- */

/* Sets err to "sqlite:PATH: <what><sqlite's message>", remembers SQLite's
 * code in st->failed and returns code. */
int sl__sqlite_error(struct sqlite_store *st, int code, const char *what,
                     struct sl_err *err);

/* The sl_err code for a failed write step: a lock held by someone else is
 * temporary (SL_EUNAVAIL), no memory SL_ENOMEM, anything else SL_EIO. */
int sl__sqlite_write_code(int rc);

/* ---- store_sqlite_import.c -------------------------------------------- */

/* The import slots (store.h v1 and v5). */
int sl__sqlite_import(struct sl_store *base,
                      const struct sl_import_service *svcs, size_t n,
                      struct sl_err *err);
int sl__sqlite_import_begin(struct sl_store *base, struct sl_err *err);
int sl__sqlite_import_add(struct sl_store *base,
                          const struct sl_import_service *svcs, size_t n,
                          struct sl_err *err);
int sl__sqlite_import_end(struct sl_store *base, bool commit,
                          struct sl_err *err);
/* Ends a session left open (close). */
void sl__sqlite_import_close(struct sqlite_store *st);

/* ---- store_sqlite_feed.c ------------------------------------------------ */

/* Reads meta.feed_seq, the newest seq, into *seq; inside a transaction.
 * An SQLite result code. */
int sl__sqlite_feed_seq(struct sqlite_store *st, int64_t *seq);

/* Appends the change (*seq + 1, ...) and advances *seq; inside the
 * writer's transaction, after sl__sqlite_feed_seq. sealed[0..len) is the
 * packed log as committed followed by its seal (wire.h), NULL for a
 * replaced service (the row gets the seal of an empty body). An SQLite
 * result code. */
int sl__sqlite_feed_add(struct sqlite_store *st, int64_t *seq,
                        const char *project_id, const char *service_id,
                        int64_t update_time, const uint8_t *sealed, size_t len);

/* Ends a write that appended the changes (first, last]: stores last as
 * meta.feed_seq and prunes the feed when the write crossed a multiple of
 * SQLITE_PRUNE_EVERY. Inside the writer's transaction. An SQLite result
 * code. */
int sl__sqlite_feed_end(struct sqlite_store *st, int64_t first, int64_t last);

/* Reads PRAGMA data_version into st->data_version (open does, so that the
 * first wait_changes notices commits made after open). */
int sl__sqlite_feed_mark(struct sqlite_store *st, struct sl_err *err);

/* Finalizes st->w (close). */
void sl__sqlite_feed_close(struct sqlite_store *st);

/* The v4 slots (store.h). */
int sl__sqlite_put_service(struct sl_store *base,
                           const struct sl_service_put *p, bool *created,
                           struct sl_err *err);
int sl__sqlite_record_log(struct sl_store *base, const char *project_id,
                          const char *service_id,
                          const struct sl_import_log *log, bool *created,
                          int64_t *seq, struct sl_err *err);
int sl__sqlite_read_changes(struct sl_store *base, int64_t after, size_t max,
                            struct sl_change_batch *out, struct sl_err *err);
int sl__sqlite_wait_changes(struct sl_store *base, int timeout_ms,
                            struct sl_err *err);

#endif
