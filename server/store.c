/* store.c -- the backend registry and URI dispatch */
#include "store.h"

#include <stddef.h>
#include <string.h>

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

const struct sl_store_type *sl_store_find(const char *scheme)
{
    if (!scheme)
        return sl_store_types[0];
    if (strcmp(scheme, "postgresql") == 0)
        scheme = "postgres";
    for (size_t i = 0; sl_store_types[i]; i++)
        if (strcmp(sl_store_types[i]->name, scheme) == 0)
            return sl_store_types[i];
    return NULL;
}

int sl_store_open(const char *uri, struct sl_store **out, struct sl_err *err)
{
    *out = NULL;
    const char *colon = uri ? strchr(uri, ':') : NULL;
    if (!colon || colon == uri || colon - uri > 31)
        return sl_err_set(err, SL_EINVAL,
                          "backend URI '%.64s' has no scheme (expected "
                          "sqlite:PATH, memory: or postgres://...)",
                          uri ? uri : "");
    char scheme[32];
    memcpy(scheme, uri, (size_t)(colon - uri));
    scheme[colon - uri] = '\0';
    const struct sl_store_type *t = sl_store_find(scheme);
    if (!t)
        return sl_err_set(err, SL_EINVAL,
                          "unknown backend scheme '%s' (built in: sqlite, "
                          "memory"
#ifdef SL_WITH_PG
                          ", postgres"
#endif
                          ")",
                          scheme);
    const char *arg = strcmp(t->name, "postgres") == 0 ? uri : colon + 1;
    return t->open(t, arg, out, err);
}

void sl_store_close(struct sl_store *st)
{
    if (st)
        st->type->close(st);
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
