/* store.c -- the backend registry and URI dispatch */
#include "store.h"

#include <stdbool.h>
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
