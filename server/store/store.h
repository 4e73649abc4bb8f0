/* store.h -- the storage interface: one versioned vtable, many backends
 *
 * Modelled on sqlite3_vfs. A backend is a `const struct sl_store_type`
 * exported by exactly one file (store_<name>.c); an open connection is a
 * backend-private struct whose first member is `struct sl_store base`.
 *
 * Slot rule: every slot of a given version is non-NULL (no NULL checks at
 * call sites). New slots are appended only, after a `vN:` comment, so the
 * struct of an older version is a prefix of a newer one; nothing reads a
 * slot that type->version says is missing (v2 added count_services, v3 the
 * registry's data: aliases, takes_uri, uri_form; v4 the writes and the
 * change feed; v5 the streaming import; v6 open_with, the options of
 * struct sl_store_options; every in-tree backend is v6).
 * Callers do not touch the
 * slots: they call the sl_store_*() wrappers below, which own that version
 * check, and store.c's registry is the only reader of the v3 fields.
 *
 * Threading: a connection (struct sl_store) is used by one thread at a
 * time; the server opens one per worker thread, so the hot path takes no
 * lock. Backends that share state between connections of one process
 * (memory:) guard it themselves.
 *
 * Data model: the stored form of a log is its wire form, a packed
 * modelarts.v1.ServiceLog. Import packs each log once; a query hands the
 * packed bytes back and the server splices them into the response without
 * decoding (see rpc_query_logs.c).
 *
 * Change feed (v4). Every write that changes a log appends one change to
 * the backend's feed, in the same transaction: (seq, project, service,
 * update_time, the packed log as committed). seq is assigned in commit
 * order (writers are serialized), strictly increasing over the life of the
 * store, and shared by every process using it; an import appends one
 * change per imported service with update_time 0 and an empty body ("the
 * whole service was replaced"), and so does a put_service that created
 * or renamed a service (a watcher's snapshot holds the name: it watches
 * again; a response cache drops the service's answers; a reader of an
 * older release reads the same kind of change). A server learns of commits made
 * by any process with wait_changes() on a connection of its own, reads them
 * with read_changes(), and pairs each watcher's snapshot with the seq it
 * reflects (query_snapshot), so a watcher gets every change after its
 * snapshot exactly once. The feed keeps at least the last
 * SL_STORE_FEED_KEEP changes; older ones may be pruned, and read_changes
 * says when some of those asked for are gone.
 */
#ifndef SL_STORE_H
#define SL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "error.h"
#include "wire.h" /* sl_store_unseal_log */

struct sl_store;

/* Bytes that some other object owns; see where each appears. */
struct sl_blob {
    const uint8_t *data;
    size_t len;
};

/* What to read. All strings are owned by the caller. */
struct sl_log_query {
    const char *project_id; /* valid id (validate.h) */
    const char *service_id; /* valid id */
    int64_t update_time;    /* 0: all logs; else only logs with this time */
    int64_t deadline_us;    /* CLOCK_MONOTONIC µs after which the backend
                               gives up with SL_ETIMEOUT; 0 = none */
};

/* One service's logs, as a backend returns them.
 * Owner: the caller of query_logs; release with sl_log_page_free(), which
 * frees everything the pointers below reach (it all lives in arena). */
struct sl_log_page {
    const char *service_id;   /* NUL-terminated */
    const char *service_name; /* NUL-terminated */
    int infer_type;           /* Modelarts__V1__InferType value */
    size_t n_logs;            /* entries in logs */
    struct sl_blob *logs;     /* packed ServiceLog each, oldest first
                                 (update_time ascending, then file order) */
    struct sl_arena arena;    /* backing memory of all of the above */
};

/* One log to import: the indexed time and the packed ServiceLog. */
struct sl_import_log {
    int64_t update_time; /* equals the packed log's update_time */
    struct sl_blob body; /* packed modelarts.v1.ServiceLog */
};

/* A service to create or rename (put_service). */
struct sl_service_put {
    const char *project_id; /* valid ids (validate.h) */
    const char *service_id;
    const char *service_name; /* 1..SL_MAX_NAME bytes of UTF-8 */
    int infer_type;           /* REAL_TIME, EDGE or BATCH */
};

/* One change of the feed. body is a packed ServiceLog as committed (its
 * seal already checked and stripped), empty for a replaced service
 * (update_time 0). */
struct sl_change {
    int64_t seq;
    const char *project_id;
    const char *service_id;
    int64_t update_time;
    struct sl_blob body;
};

/* What read_changes returns. Owner: the caller; release with
 * sl_change_batch_free() (everything lives in arena). */
struct sl_change_batch {
    size_t n;                  /* entries in changes */
    struct sl_change *changes; /* seq ascending */
    int64_t head;              /* the newest seq committed (0: none yet) */
    bool lost;                 /* changes after `after` were pruned before
                                  they could be read: the reader missed some */
    struct sl_arena arena;
};

#define SL_STORE_FEED_KEEP 10000 /* changes a backend keeps at least */

struct sl_store_pool;

/* How to open connections, besides the URI: the server's --pg-* flags,
 * passed down to the backend (v6 open_with) instead of through the
 * environment. A backend ignores the fields that do not concern it; a
 * backend older than v6 gets open() and none of them. All zero (or a NULL
 * pointer) is the default. Strings are the caller's and outlive every
 * connection opened with them. */
struct sl_store_options {
    int pool_size;              /* the server's: connections its threads share
                                   (store_pool.c); 0: one per thread */
    bool transaction_pooling;   /* postgres: the URI goes through a
                                   transaction pooler, no named statements */
    const char *listen_uri;     /* postgres: where wait_changes LISTENs;
                                   NULL or "": the URI */
    struct sl_store_pool *pool; /* set: sl_store_open_with hands out a
                                   handle on this pool's connections
                                   instead of opening one (store_pool.c) */
    int answer_timeout_ms;      /* postgres: how long an open may take, and
                                   an import may go without an answer
                                   (store_pg_wait.c); 0: 30 s */
};

/* One service to import; replaces the service and all its logs. */
struct sl_import_service {
    const char *project_id;
    const char *service_id;
    const char *service_name;
    int infer_type; /* REAL_TIME, EDGE or BATCH */
    size_t n_logs;
    const struct sl_import_log *logs; /* in file order */
};

struct sl_store_type {
    int version;      /* the last slot group it fills: 1 to 5 */
    const char *name; /* URI scheme: "sqlite", "memory", "postgres" */

    /* Opens a connection. arg is the URI after "scheme:", or the whole URI
     * when takes_uri (v3) is set. On success *out is owned by the caller
     * and released with close(); on failure *out is NULL, err says why,
     * nothing leaks. */
    int (*open)(const struct sl_store_type *type, const char *arg,
                struct sl_store **out, struct sl_err *err);

    /* Reads one service. SL_OK and *out filled (caller frees it with
     * sl_log_page_free), SL_ENOTFOUND when (project_id, service_id) is not
     * stored, SL_EUNAVAIL when the storage cannot be read, SL_ETIMEOUT
     * when q->deadline_us passed before the read finished. On failure *out
     * is left empty (sl_log_page_free on it is harmless). */
    int (*query_logs)(struct sl_store *st, const struct sl_log_query *q,
                      struct sl_log_page *out, struct sl_err *err);

    /* Stores n services in one transaction: every service is replaced with
     * the given one and its logs, or nothing changes. Importing the same
     * services twice leaves the storage as after the first time. The
     * arrays are owned by the caller and only read. */
    int (*import)(struct sl_store *st, const struct sl_import_service *svcs,
                  size_t n, struct sl_err *err);

    /* SL_OK when the storage answers now (health checking), else
     * SL_EUNAVAIL with the reason. */
    int (*ping)(struct sl_store *st, struct sl_err *err);

    /* Closes a connection; accepts NULL. */
    void (*close)(struct sl_store *st);
    /* v1 ends */

    /* v2: */
    /* Sets *n to the number of stored services: SL_OK, or SL_EUNAVAIL like
     * ping (then *n is 0). What `import --if-empty` asks. */
    int (*count_services)(struct sl_store *st, size_t *n, struct sl_err *err);
    /* v2 ends */

    /* v3: how the registry (sl_store_find, sl_store_open) dispatches a URI
     * to this backend: data, not methods. They are appended here rather
     * than put beside name so that the layout of a v1 or v2 struct stays a
     * prefix of this one, as for the slots; the registry reads them only
     * when version >= 3 and treats an older backend as having no aliases,
     * takes_uri false and a uri_form of "NAME:...". All static. */
    const char *const *aliases; /* other schemes naming this backend,
                                   NULL-terminated; NULL when none */
    bool takes_uri;             /* open() gets the whole URI (a libpq URI
                                   is one), not the text after "scheme:" */
    const char *uri_form;       /* how its URI is written, for messages:
                                   "sqlite:PATH"; non-NULL */
    /* v3 ends */

    /* v4: writes and the change feed (see the top of this file). */
    /* Creates the service, or renames it when it exists. *created says
     * which. When it created or renamed, it appends one "replaced" change
     * (update_time 0, empty body) in the same transaction;
     * a put that changes nothing appends none. SL_ECONFLICT
     * (FAILED_PRECONDITION) when it exists with another infer_type;
     * SL_EUNAVAIL/SL_EIO when the storage fails. Durable when it returns SL_OK.
     */
    int (*put_service)(struct sl_store *st, const struct sl_service_put *p,
                       bool *created, struct sl_err *err);

    /* Upserts one log of an existing service, keyed by log->update_time
     * (> 0): a new time is appended after the service's other logs of that
     * time; a known time replaces that log in place (when an import left
     * several logs with that time, the first keeps its place with the new
     * body and the others are deleted). Appends the change to the feed in
     * the same transaction and sets *seq to its seq. SL_ENOTFOUND when the
     * service is not stored, SL_EBATCH when it is a batch service,
     * SL_EUNAVAIL/SL_EIO when the storage fails. Durable when it returns
     * SL_OK. The caller has validated the log. */
    int (*record_log)(struct sl_store *st, const char *project_id,
                      const char *service_id, const struct sl_import_log *log,
                      bool *created, int64_t *seq, struct sl_err *err);

    /* query_logs, plus the seq of the newest change the page reflects,
     * read in one consistent snapshot (a read transaction): every change
     * with a larger seq was committed after the page was read. */
    int (*query_snapshot)(struct sl_store *st, const struct sl_log_query *q,
                          struct sl_log_page *out, int64_t *seq,
                          struct sl_err *err);

    /* Fills *out with at most max changes with seq > after, seq ascending,
     * and out->head; after < 0 reads none and only sets head (where a new
     * reader starts). out->lost is set when changes after `after` were
     * pruned. SL_ECORRUPT when a stored change fails its seal. */
    int (*read_changes)(struct sl_store *st, int64_t after, size_t max,
                        struct sl_change_batch *out, struct sl_err *err);

    /* Blocks until a commit may have happened since the last call on this
     * connection, or since it was opened (any process), or timeout_ms
     * passed; spurious wake-ups are
     * allowed, missed ones are not. SL_OK either way; SL_EUNAVAIL when the
     * storage cannot be watched now (the caller retries with a back-off;
     * the backend reconnects by itself). The connection is used for
     * nothing else. */
    int (*wait_changes)(struct sl_store *st, int timeout_ms,
                        struct sl_err *err);
    /* v4 ends */

    /* v5: the streaming import. An import session is import's one
     * transaction, fed in batches, so that neither the caller nor the
     * backend holds the whole file: import_begin opens it on this
     * connection, import_add writes services (same rules as import: each
     * replaces the stored service and its logs; a service named twice in
     * one session, in one batch or in two, ends as the last one), and
     * import_end commits (commit true) or rolls back. All or nothing:
     * until import_end commits, no other connection sees any of it, and a
     * process killed mid-session leaves the store as before. Feed: one
     * "replaced" change per service, appended at commit. A session holds
     * the backend's import lock (imports take turns; readers never wait).
     *
     * Sequence: after import_begin returns SL_OK the caller makes any
     * number of import_add calls and then exactly one import_end; the
     * connection is used for nothing else meanwhile. After an import_add
     * failed, the only call left is import_end(st, false). The arrays
     * passed to import_add are the caller's, read during the call only.
     * import_end(st, false) always returns SL_OK (a rollback the storage
     * refuses is the end of the connection's transaction anyway);
     * import_end(st, true) returns SL_OK when committed, else the failure
     * with "nothing changed" (or, PostgreSQL, "outcome unknown" when the
     * connection broke during COMMIT) and the session is over either
     * way. The one-call import slot (v1) is begin, add, end. */
    int (*import_begin)(struct sl_store *st, struct sl_err *err);
    int (*import_add)(struct sl_store *st, const struct sl_import_service *svcs,
                      size_t n, struct sl_err *err);
    int (*import_end)(struct sl_store *st, bool commit, struct sl_err *err);
    /* v5 ends */

    /* v6: open with options (opts non-NULL; open() is open_with with
     * all-zero options). Same contract as open. */
    int (*open_with)(const struct sl_store_type *type, const char *arg,
                     const struct sl_store_options *opts, struct sl_store **out,
                     struct sl_err *err);
    /* v6 ends */
};

/* The base every connection embeds first. */
struct sl_store {
    const struct sl_store_type *type;
};

/* The backend whose name or one of whose aliases is scheme, or the default
 * (the registry's first, sqlite) when scheme is NULL; NULL when no such
 * backend is built in. Returned pointers are static. */
const struct sl_store_type *sl_store_find(const char *scheme);

/* Opens the backend a URI names ("sqlite:PATH", "memory:", "postgres://…").
 * On success the caller owns *out and frees it with sl_store_close(); on
 * failure *out is NULL. */
int sl_store_open(const char *uri, struct sl_store **out, struct sl_err *err);
/* The same with options (NULL: the defaults, as sl_store_open): with
 * opts->pool set, a handle on the pool (store_pool.h), which is then
 * closed before the pool; else a connection opened with open_with (v6), or
 * open on an older backend, which gets none of the options. */
int sl_store_open_with(const char *uri, const struct sl_store_options *opts,
                       struct sl_store **out, struct sl_err *err);
/* A new handle on pool p (store_pool.c): a struct sl_store for the
 * sl_store_*() calls, owned by the caller and freed with sl_store_close(),
 * before p is closed. SL_ENOMEM is the only failure (*out NULL). */
int sl_store_pool_handle(struct sl_store_pool *p, struct sl_store **out,
                         struct sl_err *err);
/* Closes a connection (type->close); accepts NULL. */
void sl_store_close(struct sl_store *st);

/* Calling a connection. Each wrapper has its slot's contract and
 * arguments (the slot comments above say who owns what) and is the one
 * place that checks type->version: a slot the backend's version does not
 * have fails, before the backend is called, with empty out-params and
 * SL_EMETHOD ("the foo backend has no count_services (a store.h v2 slot;
 * the backend implements v1)"): the row of error.h for an operation this
 * backend does not offer (gRPC UNIMPLEMENTED).
 * THREAD SAFETY: as the slot: one thread at a time per connection. */
int sl_store_query_logs(struct sl_store *st, const struct sl_log_query *q,
                        struct sl_log_page *out, struct sl_err *err);
int sl_store_import(struct sl_store *st, const struct sl_import_service *svcs,
                    size_t n, struct sl_err *err);
int sl_store_ping(struct sl_store *st, struct sl_err *err);
/* v2: on a v1 backend *n is 0 and the result SL_EMETHOD. */
int sl_store_count_services(struct sl_store *st, size_t *n, struct sl_err *err);

/* v4 (wrappers as above; SL_EMETHOD on an older backend). */
int sl_store_put_service(struct sl_store *st, const struct sl_service_put *p,
                         bool *created, struct sl_err *err);
int sl_store_record_log(struct sl_store *st, const char *project_id,
                        const char *service_id, const struct sl_import_log *log,
                        bool *created, int64_t *seq, struct sl_err *err);
int sl_store_query_snapshot(struct sl_store *st, const struct sl_log_query *q,
                            struct sl_log_page *out, int64_t *seq,
                            struct sl_err *err);
int sl_store_read_changes(struct sl_store *st, int64_t after, size_t max,
                          struct sl_change_batch *out, struct sl_err *err);
int sl_store_wait_changes(struct sl_store *st, int timeout_ms,
                          struct sl_err *err);

/* v5 (wrappers as above; SL_EMETHOD on an older backend, whose caller
 * falls back to one sl_store_import of the whole set, as import.c does). */
int sl_store_import_begin(struct sl_store *st, struct sl_err *err);
int sl_store_import_add(struct sl_store *st,
                        const struct sl_import_service *svcs, size_t n,
                        struct sl_err *err);
int sl_store_import_end(struct sl_store *st, bool commit, struct sl_err *err);

void sl_change_batch_init(struct sl_change_batch *b);
void sl_change_batch_free(struct sl_change_batch *b);

/* Writes uri into out (size bytes, always NUL-terminated, truncated when
 * longer) with its passwords replaced by "***": the user info's
 * (scheme://user:PASSWORD@host) and a password= query parameter's. Use it
 * wherever a backend URI is logged or echoed. out is the caller's.
 * THREAD SAFETY: reentrant (no state). */
void sl_store_uri_redact(const char *uri, char *out, size_t size);

/* For backends that seal what they store (wire.h: a CRC-32C after each
 * packed log): checks the seal of body[0..*len), the i-th log (from 0) of
 * q's answer, and strips it (*len shrinks: the log is body[0..*len)). A
 * log without a seal -- one imported before seals -- is checked field by
 * field instead. SL_OK, or SL_ECORRUPT naming the store (prefix and name:
 * "sqlite:" and the path), the service, the log and the fault, never the
 * bytes, and saying to re-import or restore `what` ("the file"). body is
 * only read.
 *
 * Check the bytes where the backend hands them over, then copy the log:
 * checking a copy memcpy has just written costs ~8 ns a log more, as the
 * check's eight-byte loads wait for memcpy's wider vector stores to reach
 * the cache, and the copy then reads bytes the check brought in. */
int sl_store_unseal_fault(const char *prefix, const char *name,
                          const char *what, const struct sl_log_query *q,
                          size_t i, enum sl_wire_sealed sealed,
                          const uint8_t *body, size_t *len, struct sl_err *err);

/* Inline: it runs once per log of every answer (20 000 in a big one), and
 * the intact case is the seal compare and the CRC only, compiled into the
 * caller (sl_wire_unseal_inline: the caller must be marked SL_WIRE_CRC32);
 * the rest is sl_store_unseal_fault's. */
SL_WIRE_CRC32 __attribute__((always_inline)) static inline int
sl_store_unseal_log(const char *prefix, const char *name, const char *what,
                    const struct sl_log_query *q, size_t i, const uint8_t *body,
                    size_t *len, struct sl_err *err)
{
#ifdef SL_BENCH_UNCHECKED /* tests/bench/bench_seal.sh: the check's cost */
    if (*len >= SL_WIRE_SEAL_LEN && body[*len - SL_WIRE_SEAL_LEN] == 0xfd) {
        *len -= SL_WIRE_SEAL_LEN;
        return SL_OK;
    }
#endif
    enum sl_wire_sealed sealed = sl_wire_unseal_inline(body, *len);
    if (__builtin_expect(sealed == SL_WIRE_SEALED, 1)) {
        *len -= SL_WIRE_SEAL_LEN;
        return SL_OK;
    }
    return sl_store_unseal_fault(prefix, name, what, q, i, sealed, body, len,
                                 err);
}

/* Initializes an empty page (also what query_logs leaves on failure). */
void sl_log_page_init(struct sl_log_page *p);
/* Frees what a page owns; the page is empty afterwards. */
void sl_log_page_free(struct sl_log_page *p);

#endif
