/* store_template.c -- how to add a storage backend (compiled, not linked)
 *
 * Like SQLite's templatevtab.c: a backend that compiles and does nothing,
 * with the contract of every slot beside it. server/CMakeLists.txt leaves
 * this file out of sl_core; tests/CMakeLists.txt compiles it (the object
 * library sl_store_template, with the project's warnings), so it cannot
 * drift from store.h, but nothing registers or links it.
 *
 * To add backend "foo":
 *   1. Copy this file to server/store/store_foo.c and rename template ->
 *      foo (sl_core compiles every .c file of server/store by itself).
 *      The file exports exactly one symbol, sl_store_foo; everything else
 *      is static (`nm -g --defined-only store_foo.c.o` shows one line). A
 *      backend too big for one file is store_foo*.c with a private
 *      store_foo.h, its shared helpers named sl__foo_* (see store_pg.h).
 *   2. Fill in the type at the bottom: the slots, and the registry's
 *      fields (v3): aliases (other schemes that name it), takes_uri (does
 *      open() get the whole URI, or what follows "foo:"?) and uri_form
 *      (how messages write its URI). store.c reads only these; it never
 *      tests a backend's name.
 *   3. Register it in server/store/store.c: an extern declaration and a
 *      row in sl_store_types[] (inside #ifdef SL_WITH_FOO when it needs a
 *      library that may be missing, with the option and link line in
 *      CMake, as SL_WITH_PG does for store_pg*.c).
 *   4. Add one row to the backends table of
 *      tests/unit/test_store_contract.c; the whole contract suite then
 *      runs against it. Add backend-specific cases in their own group.
 *   5. Document the URI in DESIGN section 5 and in the --backend row of
 *      README.md's Configuration table.
 *
 * The contract, in short (store.h has it in full):
 *   - Every slot up to the type's version is non-NULL. A new slot is
 *     appended after a `vN:` comment, and only the wrappers in store.c
 *     (sl_store_query_logs() and the like) call slots, checking
 *     type->version first: callers never touch the vtable.
 *   - A connection is used by one thread at a time; state shared between
 *     connections is the backend's to lock (see store_mem.c).
 *   - A failing call changes nothing, leaves its out-params empty and
 *     explains itself in err ("foo:WHERE: what went wrong").
 *   - Logs are opaque packed modelarts.v1.ServiceLog bytes: store them as
 *     given and return them in (update_time, file order) order.
 *   - v4: every write that changes a log (import, record_log) appends to
 *     the change feed in its own transaction; seqs grow in commit order
 *     and never come back, whatever is pruned; wait_changes must notice
 *     commits made by other connections and other processes (SQLite polls
 *     PRAGMA data_version, PostgreSQL LISTENs, memory: a condition
 *     variable).
 */
#include <stdlib.h>
#include <time.h>

#include "store.h"

struct template_store {
    struct sl_store base; /* must be first */
    /* the connection's handle, prepared statements, ... */
};

/* arg: the URI after "template:" (the whole URI when takes_uri is set).
 * On success *out is the caller's, freed by
 * close(); on failure *out is NULL and nothing leaks. Prepare what every
 * query needs here, so the query path allocates as little as possible. */
static int template_open(const struct sl_store_type *type, const char *arg,
                         struct sl_store **out, struct sl_err *err)
{
    (void)arg;
    *out = NULL;
    struct template_store *st = calloc(1, sizeof(*st));
    if (!st)
        return sl_err_set(err, SL_ENOMEM, "template: out of memory");
    st->base.type = type;
    *out = &st->base;
    return SL_OK;
}

/* Fill out (start with sl_log_page_init): service_id, service_name,
 * infer_type, and the logs (only those at q->update_time when it is not 0),
 * oldest first, ties in file order. Copy everything into out->arena: the
 * caller frees the page with sl_log_page_free(). SL_ENOTFOUND when the
 * (project_id, service_id) pair is not stored (a found service may have
 * zero logs); SL_EUNAVAIL when the storage cannot be read. On failure
 * leave out empty (sl_log_page_free). */
static int template_query_logs(struct sl_store *st,
                               const struct sl_log_query *q,
                               struct sl_log_page *out, struct sl_err *err)
{
    (void)st;
    sl_log_page_init(out);
    return sl_err_set(err, SL_ENOTFOUND, "service %s not found in project %s",
                      q->service_id, q->project_id);
}

/* In one transaction: for each service, replace its row and all its logs
 * with the given ones (remember each log's index: it orders ties). Any
 * failure rolls everything back. Importing the same services again must
 * leave the storage as it was. svcs is the caller's: copy what you keep. */
static int template_import(struct sl_store *st,
                           const struct sl_import_service *svcs, size_t n,
                           struct sl_err *err)
{
    (void)st;
    (void)svcs;
    (void)n;
    return sl_err_set(err, SL_EIO, "template: read-only");
}

/* A cheap round trip to the storage: SL_OK, or SL_EUNAVAIL and why. */
static int template_ping(struct sl_store *st, struct sl_err *err)
{
    (void)st;
    (void)err;
    return SL_OK;
}

/* Release everything open() acquired; accept NULL. */
static void template_close(struct sl_store *st)
{
    free(st);
}

/* v2: how many services are stored (import --if-empty asks). */
static int template_count_services(struct sl_store *st, size_t *n,
                                   struct sl_err *err)
{
    (void)st;
    (void)err;
    *n = 0;
    return SL_OK;
}

/* v4: create the service or rename it (*created says which). Another
 * infer_type than the stored one is SL_ECONFLICT; nothing changes then. */
static int template_put_service(struct sl_store *st,
                                const struct sl_service_put *p, bool *created,
                                struct sl_err *err)
{
    (void)st;
    (void)p;
    *created = false;
    return sl_err_set(err, SL_EIO, "template: read-only");
}

/* v4: in one transaction, upsert the log keyed by update_time (replace the
 * first log at that time in place and delete the others at it, or append
 * after the logs at or before it), append the change (the packed log) to
 * the feed and set *seq to its seq. SL_ENOTFOUND for no such service,
 * SL_EBATCH for a batch service. Durable when it returns SL_OK. */
static int template_record_log(struct sl_store *st, const char *project_id,
                               const char *service_id,
                               const struct sl_import_log *log, bool *created,
                               int64_t *seq, struct sl_err *err)
{
    (void)st;
    (void)log;
    *created = false;
    *seq = 0;
    return sl_err_set(err, SL_ENOTFOUND, "service %s not found in project %s",
                      service_id, project_id);
}

/* v4: query_logs and the feed's newest seq, read in one snapshot (one
 * read transaction), so that every later change has a larger seq. */
static int template_query_snapshot(struct sl_store *st,
                                   const struct sl_log_query *q,
                                   struct sl_log_page *out, int64_t *seq,
                                   struct sl_err *err)
{
    *seq = 0;
    return template_query_logs(st, q, out, err);
}

/* v4: up to max changes with seq > after, oldest first, copied into
 * out->arena (start with sl_change_batch_init), and out->head; only head
 * when after < 0. out->lost when some change after `after` was pruned;
 * SL_ECORRUPT when a stored change fails its check. */
static int template_read_changes(struct sl_store *st, int64_t after, size_t max,
                                 struct sl_change_batch *out,
                                 struct sl_err *err)
{
    (void)st;
    (void)after;
    (void)max;
    (void)err;
    sl_change_batch_init(out);
    return SL_OK;
}

/* v4: return when a commit may have happened (any connection, any
 * process) since the last call on this connection -- or since open --, or
 * after timeout_ms. Waking for nothing is allowed; missing a commit is
 * not. The connection does nothing else. */
static int template_wait_changes(struct sl_store *st, int timeout_ms,
                                 struct sl_err *err)
{
    (void)st;
    (void)err;
    if (timeout_ms > 0) {
        struct timespec ts = {timeout_ms / 1000,
                              (long)(timeout_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL); /* nothing ever changes here */
    }
    return SL_OK;
}

/* v5: the streaming import, one transaction fed in batches (store.h has
 * the sequence). begin opens the transaction and takes the import lock;
 * add replaces each service given (the last one wins when a service comes
 * twice); end commits or rolls back. A process killed in between leaves
 * the store as before. */
static int template_import_begin(struct sl_store *st, struct sl_err *err)
{
    (void)st;
    (void)err;
    return SL_OK;
}

static int template_import_add(struct sl_store *st,
                               const struct sl_import_service *svcs, size_t n,
                               struct sl_err *err)
{
    return template_import(st, svcs, n, err);
}

static int template_import_end(struct sl_store *st, bool commit,
                               struct sl_err *err)
{
    (void)st;
    (void)commit;
    (void)err;
    return SL_OK;
}

/* v6: open with options (struct sl_store_options). Read the fields that
 * concern the backend (none here) and ignore the others; copy any string
 * kept past open. */
static int template_open_with(const struct sl_store_type *type, const char *arg,
                              const struct sl_store_options *opts,
                              struct sl_store **out, struct sl_err *err)
{
    (void)opts;
    return template_open(type, arg, out, err);
}

/* v3: other schemes that name the backend; NULL-terminated. Leave
 * .aliases NULL when there are none. */
static const char *const template_aliases[] = {"tmpl", NULL};

const struct sl_store_type sl_store_template = {
    .version = 6,
    .name = "template", /* the URI scheme */
    .open = template_open,
    .query_logs = template_query_logs,
    .import = template_import,
    .ping = template_ping,
    .close = template_close,
    /* v2 */
    .count_services = template_count_services,
    /* v3: read by the registry (store.c) only */
    .aliases = template_aliases,
    .takes_uri = false, /* open() gets what follows "template:" */
    .uri_form = "template:ARG",
    /* v4 */
    .put_service = template_put_service,
    .record_log = template_record_log,
    .query_snapshot = template_query_snapshot,
    .read_changes = template_read_changes,
    .wait_changes = template_wait_changes,
    /* v5 */
    .import_begin = template_import_begin,
    .import_add = template_import_add,
    .import_end = template_import_end,
    /* v6 */
    .open_with = template_open_with,
};
