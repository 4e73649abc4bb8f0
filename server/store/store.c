/* store.c -- the backend registry, URI dispatch and the calling wrappers
 *
 * The registry knows a backend only through its exported type: the schemes
 * that name it (name and, from v3, aliases) and what its open() receives
 * (takes_uri) are fields of the type, so no backend is special-cased here
 * and adding one is a row in sl_store_types[].
 *
 * The wrappers below are the only code that calls a slot other than open
 * and close, and so the one place that checks type->version: everything
 * else calls sl_store_query_logs() and the like.
 */
#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "modelarts/v1/service_logs.pb-c.h"
#include "wire.h"

extern const struct sl_store_type sl_store_sqlite;
extern const struct sl_store_type sl_store_memory;
#ifdef SL_WITH_PG
extern const struct sl_store_type sl_store_postgres;
#endif

/* The first entry is the default. */
static const struct sl_store_type *const sl_store_types[] = {
    &sl_store_sqlite,
    &sl_store_memory,
#ifdef SL_WITH_PG
    &sl_store_postgres,
#endif
    NULL,
};

/* True when scheme names t: its name or one of its (v3) aliases. */
static bool names_type(const struct sl_store_type *t, const char *scheme)
{
    if (strcmp(t->name, scheme) == 0)
        return true;
    if (t->version < 3 || !t->aliases)
        return false;
    for (const char *const *a = t->aliases; *a; a++)
        if (strcmp(*a, scheme) == 0)
            return true;
    return false;
}

/* Lists the built-in backends into out (size bytes, NUL-terminated), for
 * messages: by name ("a, b, c") or by URI form ("a:PATH, b: or c://...").
 * A v1/v2 backend has no uri_form: it is written "NAME:...". */
static void list_types(char *out, size_t size, bool forms)
{
    size_t n = 0, o = 0;
    while (sl_store_types[n])
        n++;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const struct sl_store_type *t = sl_store_types[i];
        const char *sep = i == 0 ? "" : forms && i + 1 == n ? " or " : ", ";
        int w;
        if (!forms)
            w = snprintf(out + o, size - o, "%s%s", sep, t->name);
        else if (t->version >= 3)
            w = snprintf(out + o, size - o, "%s%s", sep, t->uri_form);
        else
            w = snprintf(out + o, size - o, "%s%s:...", sep, t->name);
        if (w < 0 || (size_t)w >= size - o)
            break; /* truncated, still terminated */
        o += (size_t)w;
    }
}

const struct sl_store_type *sl_store_find(const char *scheme)
{
    if (!scheme)
        return sl_store_types[0];
    for (size_t i = 0; sl_store_types[i]; i++)
        if (names_type(sl_store_types[i], scheme))
            return sl_store_types[i];
    return NULL;
}

int sl_store_open(const char *uri, struct sl_store **out, struct sl_err *err)
{
    return sl_store_open_with(uri, NULL, out, err);
}

int sl_store_open_with(const char *uri, const struct sl_store_options *opts,
                       struct sl_store **out, struct sl_err *err)
{
    char list[128];
    *out = NULL;
    if (opts && opts->pool)
        return sl_store_pool_handle(opts->pool, out, err);
    const char *colon = uri ? strchr(uri, ':') : NULL;
    if (!colon || colon == uri || colon - uri > 31) {
        list_types(list, sizeof(list), true);
        return sl_err_set(err, SL_EINVAL,
                          "backend URI '%.64s' has no scheme (expected %s)",
                          uri ? uri : "", list);
    }
    char scheme[32];
    memcpy(scheme, uri, (size_t)(colon - uri));
    scheme[colon - uri] = '\0';
    const struct sl_store_type *t = sl_store_find(scheme);
    if (!t) {
        list_types(list, sizeof(list), false);
        return sl_err_set(err, SL_EINVAL,
                          "unknown backend scheme '%s' (built in: %s)", scheme,
                          list);
    }
    const char *arg = t->version >= 3 && t->takes_uri ? uri : colon + 1;
    static const struct sl_store_options defaults;
    if (t->version >= 6)
        return t->open_with(t, arg, opts ? opts : &defaults, out, err);
    return t->open(t, arg, out, err);
}

void sl_store_close(struct sl_store *st)
{
    if (st)
        st->type->close(st);
}

/* The failure of a wrapper whose slot (of store.h version since) the
 * backend's version lacks. */
static int no_slot(const struct sl_store *st, const char *slot, int since,
                   struct sl_err *err)
{
    return sl_err_set(err, SL_EMETHOD,
                      "the %s backend has no %s (a store.h v%d slot; the "
                      "backend implements v%d)",
                      st->type->name, slot, since, st->type->version);
}

int sl_store_query_logs(struct sl_store *st, const struct sl_log_query *q,
                        struct sl_log_page *out, struct sl_err *err)
{
    return st->type->query_logs(st, q, out, err); /* v1 */
}

int sl_store_import(struct sl_store *st, const struct sl_import_service *svcs,
                    size_t n, struct sl_err *err)
{
    return st->type->import(st, svcs, n, err); /* v1 */
}

int sl_store_ping(struct sl_store *st, struct sl_err *err)
{
    return st->type->ping(st, err); /* v1 */
}

int sl_store_count_services(struct sl_store *st, size_t *n, struct sl_err *err)
{
    if (st->type->version < 2) {
        *n = 0;
        return no_slot(st, "count_services", 2, err);
    }
    return st->type->count_services(st, n, err);
}

int sl_store_put_service(struct sl_store *st, const struct sl_service_put *p,
                         bool *created, struct sl_err *err)
{
    *created = false;
    if (st->type->version < 4)
        return no_slot(st, "put_service", 4, err);
    return st->type->put_service(st, p, created, err);
}

int sl_store_record_log(struct sl_store *st, const char *project_id,
                        const char *service_id, const struct sl_import_log *log,
                        bool *created, int64_t *seq, struct sl_err *err)
{
    *created = false;
    *seq = 0;
    if (st->type->version < 4)
        return no_slot(st, "record_log", 4, err);
    return st->type->record_log(st, project_id, service_id, log, created, seq,
                                err);
}

int sl_store_query_snapshot(struct sl_store *st, const struct sl_log_query *q,
                            struct sl_log_page *out, int64_t *seq,
                            struct sl_err *err)
{
    *seq = 0;
    if (st->type->version < 4)
        return no_slot(st, "query_snapshot", 4, err);
    return st->type->query_snapshot(st, q, out, seq, err);
}

int sl_store_read_changes(struct sl_store *st, int64_t after, size_t max,
                          struct sl_change_batch *out, struct sl_err *err)
{
    if (st->type->version < 4)
        return no_slot(st, "read_changes", 4, err);
    return st->type->read_changes(st, after, max, out, err);
}

int sl_store_wait_changes(struct sl_store *st, int timeout_ms,
                          struct sl_err *err)
{
    if (st->type->version < 4)
        return no_slot(st, "wait_changes", 4, err);
    return st->type->wait_changes(st, timeout_ms, err);
}

int sl_store_import_begin(struct sl_store *st, struct sl_err *err)
{
    if (st->type->version < 5)
        return no_slot(st, "import_begin", 5, err);
    return st->type->import_begin(st, err);
}

int sl_store_import_add(struct sl_store *st,
                        const struct sl_import_service *svcs, size_t n,
                        struct sl_err *err)
{
    if (st->type->version < 5)
        return no_slot(st, "import_add", 5, err);
    return st->type->import_add(st, svcs, n, err);
}

int sl_store_import_end(struct sl_store *st, bool commit, struct sl_err *err)
{
    if (st->type->version < 5)
        return no_slot(st, "import_end", 5, err);
    return st->type->import_end(st, commit, err);
}

void sl_change_batch_init(struct sl_change_batch *b)
{
    memset(b, 0, offsetof(struct sl_change_batch, arena));
    sl_arena_init(&b->arena);
}

void sl_change_batch_free(struct sl_change_batch *b)
{
    sl_arena_free(&b->arena);
    sl_change_batch_init(b);
}

void sl_store_uri_redact(const char *uri, char *out, size_t size)
{
    size_t o = 0;
    const char *p = uri ? uri : "";
    const char *auth = strstr(p, "://");
    const char *skip_from = NULL, *skip_to = NULL; /* the user info's */

    if (size == 0)
        return;
    if (auth) {
        auth += 3;
        size_t len = strcspn(auth, "/?#");
        const char *at = NULL;
        for (const char *c = auth; c < auth + len; c++)
            if (*c == '@')
                at = c;
        const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon) {
            skip_from = colon + 1;
            skip_to = at;
        }
    }
    bool in_query = false;
    for (; *p && o + 1 < size; p++) {
        if (p == skip_from) {
            for (const char *m = "***"; *m && o + 1 < size; m++)
                out[o++] = *m;
            p = skip_to; /* the '@' */
            if (o + 1 >= size)
                break;
        }
        out[o++] = *p;
        in_query |= *p == '?'; /* the user info, skipped, ends before */
        if (in_query && (*p == '?' || *p == '&') &&
            strncmp(p + 1, "password=", 9) == 0) {
            for (const char *m = "password=***"; *m && o + 1 < size; m++)
                out[o++] = *m;
            p += 9;
            while (p[1] && p[1] != '&' && p[1] != '#')
                p++;
        }
    }
    out[o] = '\0';
}

void sl_log_page_init(struct sl_log_page *p)
{
    memset(p, 0, offsetof(struct sl_log_page, arena));
    p->service_id = "";
    p->service_name = "";
    sl_arena_init(&p->arena);
}

void sl_log_page_free(struct sl_log_page *p)
{
    sl_arena_free(&p->arena);
    sl_log_page_init(p);
}

/* ServiceLog and the types it nests, compiled once before main(): how a
 * body without a seal is checked. */
static struct sl_wire_schema log_schema;

__attribute__((constructor)) static void compile_log_schema(void)
{
    sl_wire_schema_init(&log_schema, &modelarts__v1__service_log__descriptor);
}

int sl_store_unseal_fault(const char *prefix, const char *name,
                          const char *what, const struct sl_log_query *q,
                          size_t i, enum sl_wire_sealed sealed,
                          const uint8_t *body, size_t *len, struct sl_err *err)
{
    struct sl_wire_fault f;
    if (sl_wire_check(&log_schema, body, *len, &f) == 0)
        return SL_OK; /* stored before seals existed, and intact */
    /* Its update_time, when the first field still reads as one. */
    char when[40] = "";
    const uint8_t *p = body;
    struct sl_wire_field first;
    if (*len && sl_wire_next(&p, body + *len, &first) == 0 &&
        first.number == 1 && first.type == 0)
        snprintf(when, sizeof(when), ", update_time %lld",
                 (long long)first.value);
    char why[96];
    if (sealed == SL_WIRE_BAD_SEAL)
        snprintf(why, sizeof(why), "checksum mismatch");
    else
        snprintf(why, sizeof(why), "%s in %s%s%s at byte %zu (no checksum)",
                 f.what, f.message, f.field ? "." : "", f.field ? f.field : "",
                 f.offset);
    return sl_err_set(err, SL_ECORRUPT,
                      "%s%.80s: stored data is corrupt: service %s of project "
                      "%s, log %zu%s: %s; re-import the service or restore %s",
                      prefix, name, q->service_id, q->project_id, i + 1, when,
                      why, what);
}
