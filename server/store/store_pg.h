/* store_pg.h -- what the files of the PostgreSQL backend share (private)
 *
 * The backend is seven files, one concern each: store_pg.c (the connection:
 * connect, round trips, deadlines, reconnect; open, query, snapshot, ping,
 * close and the exported sl_store_postgres), store_pg_stmt.c (the read
 * statements, named or unnamed), store_pg_msg.c (its
 * messages), store_pg_wait.c (the round trips of open and import, bounded
 * by --pg-answer-timeout), store_pg_schema.c (the schema and its
 * migrations, run by open), store_pg_import.c (COPY into staging, then a
 * swap) and store_pg_feed.c (the writes and the change feed: put_service,
 * record_log, read_changes, wait_changes). This header is included by
 * those seven only. Its functions are
 * sl__pg_* (STYLE 12: internal, not static); the rest of the server sees only
 * sl_store_postgres, through store.c.
 *
 * Every function here takes a connection used by one thread at a time
 * (store.h) and follows the backend's error rule: on failure err says
 * "postgres://HOST:PORT/DB: what" and the code is SL_EUNAVAIL when the
 * server cannot serve now (see sl__pg_code).
 */
#ifndef SL_STORE_PG_H
#define SL_STORE_PG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "store.h"

/* Time limits of the connection; store_pg.c's top explains each. */
#define PG_CONNECT_MS 5000 /* a connect attempt's life */
#define PG_CONNECT_S "5"   /* the same, as libpq's connect_timeout */
#define PG_ANSWER_MS                                                           \
    30000                     /* open's bound, import's on silence: the        \
                                 default of --pg-answer-timeout */
#define PG_PING_MS 1000       /* a health ping's deadline */
#define PG_ABANDON_MS 5000    /* an abandoned statement's hold on its conn */
#define PG_STALL_GRACE_MS 500 /* a stall's first calls wait this long, */
#define PG_STALLED_MS 100     /* later ones this */
#define PG_CANCELS_MAX 16     /* cancel requests in flight, per process */
#define PG_LOCK_SCHEMA 1936486247 /* "slog": advisory lock, schema changes */
#define PG_LOCK_IMPORT 1936486248 /* and imports (with the schema's hash) */
#define PG_LOCK_FEED 1936486249   /* and the feed's writers (seq order) */
#define PG_WRITE_MS 10000         /* a write's whole transaction */
#define PG_WAIT_MIN_MS 250        /* a wait_changes reconnect's least time */
#define PG_BACKOFF_MS 100         /* after a failed connect: first delay, */
#define PG_BACKOFF_MAX_MS 1000    /* doubling up to this (sl__pg_ready) */
#define PG_PRUNE_SLACK                                                         \
    1000                                 /* changes beyond SL_STORE_FEED_KEEP  \
                                            before a writer prunes */
#define PG_CHANNEL "servicelogs_changes" /* LISTEN/NOTIFY channel */

/* Takes advisory lock %d (a PG_LOCK_*) on the session's current schema
 * until the transaction ends: a printf format. */
#define PG_LOCK_FMT                                                            \
    "SELECT pg_advisory_xact_lock(%d, hashtext(coalesce(current_schema(),"     \
    " '')))"

/* One connection. Owner: whoever open() returned it to; sl_store_close()
 * frees it (and its PGconn). */
struct pg_store {
    struct sl_store base;              /* must be first */
    PGconn *conn;                      /* owned; NULL: closed, reopened at
                                          the next use (sl__pg_ready) */
    char *uri;                         /* owned copy of open()'s URI, for
                                          reconnecting (holds any password) */
    bool connecting;                   /* conn is a connect under way */
    PostgresPollingStatusType polling; /* what that connect waits for */
    int64_t connect_us;                /* when that connect started
                                          (sl_clock_us, as below) */
    int64_t abandoned_us;              /* when a call gave up on the
                                          statement conn still runs; 0:
                                          none */
    int64_t stalled_us;                /* since when the server has let
                                          deadlines pass; 0: it answers */
    bool prepared;                     /* the session has our statements */
    bool unnamed;                      /* a transaction pooler: prepare
                                          nothing (store_pg_stmt.c) */
    char *listen_uri;                  /* owned; wait_changes moves to it
                                          (uri's place); NULL: uri */
    bool broken;                       /* reconnect before the next use */
    char label[128];                   /* "postgres://HOST:PORT/DB" */
    int64_t retry_us; /* no reconnect before (back-off); 0: any time */
    int backoff_ms;   /* the next back-off; 0: PG_BACKOFF_MS */
    /* wait_changes only (a connection that waits does nothing else): */
    bool listening;  /* this session has LISTENed on PG_CHANNEL */
    char schema[64]; /* its current_schema(): the payload it wakes on */
    /* an import session (store_pg_import.c): */
    bool importing;     /* a session's transaction is open */
    bool import_failed; /* one of its adds failed: only a rollback left */
    int64_t import_ord; /* services staged so far (their ord) */
    /* open and import (store_pg_wait.c): */
    int answer_ms;         /* --pg-answer-timeout: open's bound, and the
                              longest silence import accepts */
    int64_t open_until_us; /* open gives up then; 0: not opening */
    const char *step;      /* what open or import waits for (a string
                              literal), for the message of a timeout */
};

/* ---- store_pg_msg.c ----------------------------------------------------- */

/* Sets err to "LABEL: <what><libpq's message>" and returns code. The
 * message is r's primary message when r is an error, else the
 * connection's. r stays the caller's. */
int sl__pg_fail(const struct pg_store *st, int code, const char *what,
                const PGresult *r, struct sl_err *err);

/* Copies libpq's message msg (several lines) into out as one line. */
void sl__pg_one_line(char *out, size_t size, const char *msg);

/* Removes uri's password, as the URI writes it, from msg (size bytes). */
void sl__pg_redact(char *msg, size_t size, const char *uri);

/* Sets st->label from a parsed URI: host, port and dbname only. */
void sl__pg_make_label(struct pg_store *st, const PQconninfoOption *opts);

/* ---- store_pg.c --------------------------------------------------------- */

/* True when the connection is gone, not yet open, or we gave up on it. */
bool sl__pg_lost(const struct pg_store *st);

/* The sl_err code for a failed statement: SL_EUNAVAIL when the server
 * cannot serve now (connection, shutdown, resources, lock or serialization
 * conflicts), SL_ECORRUPT when it found its files damaged (SQLSTATE XX001,
 * XX002), else other (the statement itself failed). Marks a connection
 * the server is closing as broken. */
int sl__pg_code(struct pg_store *st, const PGresult *r, int other);

/* Makes the connection usable: reads the end of a statement a call gave
 * up on, (re)connects when the connection is lost or a connect is under
 * way (sets *reconnected) and prepares the statements when the session
 * lacks them. Never waits past deadline_us (CLOCK_MONOTONIC µs, 0 for
 * none), nor, on a stalled connection, past the stall's limit (store_pg.c's
 * top); what is still under way then is left to the next call. Afterwards
 * the connection is in libpq's nonblocking mode. */
int sl__pg_ready(struct pg_store *st, int64_t deadline_us, bool *reconnected,
                 struct sl_err *err);

/* How sl__pg_collect waits for st's socket to be ready for events: SL_OK
 * when it is; else the failure in err, the connection dealt with. */
typedef int (*sl__pg_waiter)(struct pg_store *st, short events, void *arg,
                             struct sl_err *err);

/* The answer to the command just sent, waiting with wait(arg): sends what
 * libpq still queues, reads, keeps the first failure and drains the rest,
 * and stops at PGRES_COPY_IN (the server waits for our data). On success
 * *out (when not NULL) is the last result, which the caller PQclear()s;
 * on failure *out is NULL and err says "LABEL: what..."; failures are
 * code when the server is not the reason. The loop of sl__pg_finish
 * (calls) and sl__pg_await (open and import). */
int sl__pg_collect(struct pg_store *st, sl__pg_waiter wait, void *arg,
                   PGresult **out, int code, const char *what,
                   struct sl_err *err);

/* Waits for the answer to the command just sent, until deadline_us (0:
 * for ever); at the deadline the statement is abandoned (store_pg.c's
 * top) and the result is SL_ETIMEOUT. On success *out is its (last)
 * result, which the caller PQclear()s; on failure *out is NULL and err
 * says "LABEL: what...". Works in blocking mode too. */
int sl__pg_finish(struct pg_store *st, int64_t deadline_us, PGresult **out,
                  const char *what, struct sl_err *err);

/* Runs prepared statement name (n binary parameters, binary results) by
 * deadline_us and returns its result in *out (the caller PQclear()s it).
 * A connection found lost is reopened and the statement retried once: for
 * statements that only read. */
int sl__pg_read(struct pg_store *st, const char *name, int n,
                const char *const *vals, const int *lens, int64_t deadline_us,
                PGresult **out, struct sl_err *err);

/* Closes the connection at once (nothing waited for); the next
 * sl__pg_ready reconnects. */
void sl__pg_drop(struct pg_store *st);

/* Waits for fd to be ready for events until deadline_us (0: for ever):
 * the poll revents (> 0) when it is, 0 at the deadline, -1 on failure
 * (errno says why). */
int sl__pg_wait_fd(int fd, short events, int64_t deadline_us);

/* ---- store_pg_wait.c ---------------------------------------------------- */

/* Waits for the answer to what was just sent on st (open and import
 * only), sending what libpq still queues, within open's deadline
 * (st->open_until_us) or, outside open, as long as the server shows signs
 * of life (store_pg_wait.c's top). On success *out (when out is not NULL)
 * is the last result, PGRES_COPY_IN for a COPY ... FROM STDIN, and the
 * caller PQclear()s it. On failure *out is NULL and err says "LABEL:
 * what..."; failures are code when the server is not the reason; a server
 * that did not answer in time is SL_ETIMEOUT, its connection dropped
 * (sl__pg_drop), which rolls back what it had not committed. */
int sl__pg_await(struct pg_store *st, PGresult **out, int code,
                 const char *what, struct sl_err *err);

/* Sends what libpq queues (COPY data) within the same bound as
 * sl__pg_await; SL_ETIMEOUT and the connection dropped when the server
 * stops taking it. */
int sl__pg_push(struct pg_store *st, struct sl_err *err);

/* Sends sql and waits for it (sl__pg_await); returns its result in *out
 * when out is not NULL (the caller PQclear()s it; on failure *out is
 * untouched). */
int sl__pg_exec(struct pg_store *st, const char *sql, PGresult **out, int code,
                const char *what, struct sl_err *err);

/* BEGINs a transaction that holds the advisory lock (lock_class, the
 * session's current schema) until it ends: PG_LOCK_SCHEMA or
 * PG_LOCK_IMPORT. Waits like sl__pg_exec; the caller COMMITs or
 * ROLLBACKs. */
int sl__pg_begin_locked(struct pg_store *st, int lock_class,
                        struct sl_err *err);

/* Rolls back the transaction open or import left open, within the bound
 * of sl__pg_await; a connection that does not answer, or is mid-command,
 * is dropped instead (which ends the transaction too). */
void sl__pg_end_tx(struct pg_store *st);

/* The message of open's failure to connect in time (ms: the limit it
 * reached): SL_ETIMEOUT. */
int sl__pg_open_late(struct pg_store *st, int ms, struct sl_err *err);

/* ---- store_pg_stmt.c ---------------------------------------------------- */

/* Prepares the read statements in the session (nothing with st->unnamed)
 * by deadline_us; sets st->prepared. */
int sl__pg_prepare(struct pg_store *st, int64_t deadline_us,
                   struct sl_err *err);

/* Sends read statement name (n binary parameters, binary results):
 * prepared, or its text as an unnamed statement. libpq's PQsend* result:
 * 0 when it could not be sent (or name is unknown). */
int sl__pg_send(struct pg_store *st, const char *name, int n,
                const char *const *vals, const int *lens);

/* ---- store_pg_schema.c -------------------------------------------------- */

/* Brings the schema of the session's current schema to the version this
 * code writes; refuses a newer or foreign one (SL_EINVAL). Leaves no
 * transaction open. Called by open, before the statements are prepared. */
int sl__pg_migrate(struct pg_store *st, struct sl_err *err);

/* Copies a query's result (sl_q_all, sl_q_at; r stays the caller's) into
 * out, which the caller owns, each body without its seal: SL_OK,
 * SL_ENOTFOUND when r has no row, SL_EINTERNAL when its shape is not the
 * schema's, SL_ECORRUPT when a body's seal does not match (or an unsealed
 * body is not what protobuf-c packs), SL_ENOMEM. */
int sl__pg_read_page(const struct pg_store *st, const PGresult *r,
                     const struct sl_log_query *q, struct sl_log_page *out,
                     struct sl_err *err);

/* A big-endian (binary) int4 or int8 value, as libpq hands them over. */
int32_t sl__pg_be32(const char *p);
int64_t sl__pg_be64(const char *p);

/* ---- store_pg_import.c -------------------------------------------------- */

/* The import slots (store.h v1 and v5): one transaction, all or
 * nothing; v1 is begin, add, end. */
int sl__pg_import(struct sl_store *base, const struct sl_import_service *svcs,
                  size_t n, struct sl_err *err);
int sl__pg_import_begin(struct sl_store *base, struct sl_err *err);
int sl__pg_import_add(struct sl_store *base,
                      const struct sl_import_service *svcs, size_t n,
                      struct sl_err *err);
int sl__pg_import_end(struct sl_store *base, bool commit, struct sl_err *err);

/* ---- store_pg_feed.c ---------------------------------------------------- */

/* The v4 slots (store.h), but query_snapshot, which is store_pg.c's. */
int sl__pg_put_service(struct sl_store *base, const struct sl_service_put *p,
                       bool *created, struct sl_err *err);
int sl__pg_record_log(struct sl_store *base, const char *project_id,
                      const char *service_id, const struct sl_import_log *log,
                      bool *created, int64_t *seq, struct sl_err *err);
int sl__pg_read_changes(struct sl_store *base, int64_t after, size_t max,
                        struct sl_change_batch *out, struct sl_err *err);
int sl__pg_wait_changes(struct sl_store *base, int timeout_ms,
                        struct sl_err *err);

/* The end of every transaction that appended changes, before its COMMIT:
 * prunes the feed when it holds PG_PRUNE_SLACK changes more than
 * SL_STORE_FEED_KEEP (head and pruned: the feed row as the transaction
 * left it) and sends the NOTIFY its COMMIT delivers. By deadline_us (0:
 * none; blocking mode works too). */
int sl__pg_feed_end(struct pg_store *st, int64_t head, int64_t pruned,
                    int64_t deadline_us, struct sl_err *err);

/* The statement sl__pg_feed_end sends, into sql (size bytes; 320 are
 * enough), for the import, which sends it through sl__pg_exec. */
void sl__pg_feed_end_sql(char *sql, size_t size, int64_t head, int64_t pruned);

#endif
