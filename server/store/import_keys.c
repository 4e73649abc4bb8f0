/* import_keys.c -- the (project_id, service_id) keys an import has seen
 *
 * An open-addressing table (linear probing, at most half full, FNV-1a)
 * whose keys are copied into its arena; see import_keys.h.
 */
#include "import_keys.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"

void sl_import_keys_init(struct sl_import_keys *t)
{
    t->v = NULL;
    t->cap = t->n = 0;
    sl_arena_init(&t->arena);
}

void sl_import_keys_free(struct sl_import_keys *t)
{
    free(t->v);
    sl_arena_free(&t->arena);
    sl_import_keys_init(t);
}

static uint64_t key_hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211u;
    return h;
}

static struct sl_import_key *seen_slot(struct sl_import_key *v, size_t cap,
                                       const char *key, size_t len)
{
    size_t i = (size_t)key_hash(key, len) & (cap - 1);
    while (v[i].key && (v[i].len != len || memcmp(v[i].key, key, len) != 0))
        i = (i + 1) & (cap - 1);
    return &v[i];
}

int sl_import_keys_add(struct sl_import_keys *t,
                       const struct sl_import_service *svc, size_t index,
                       size_t *first)
{
    size_t lp = strlen(svc->project_id), ls = strlen(svc->service_id);
    char key[2 * SL_MAX_ID + 2];
    *first = SIZE_MAX;
    if (lp > SL_MAX_ID || ls > SL_MAX_ID)
        return SL_EINTERNAL; /* get_id() checked them */
    memcpy(key, svc->project_id, lp + 1);
    memcpy(key + lp + 1, svc->service_id, ls);
    size_t len = lp + 1 + ls;
    if (2 * (t->n + 1) > t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 1024;
        struct sl_import_key *v = calloc(cap, sizeof(*v));
        if (!v)
            return SL_ENOMEM;
        for (size_t i = 0; i < t->cap; i++)
            if (t->v[i].key)
                *seen_slot(v, cap, t->v[i].key, t->v[i].len) = t->v[i];
        free(t->v);
        t->v = v;
        t->cap = cap;
    }
    struct sl_import_key *k = seen_slot(t->v, t->cap, key, len);
    if (k->key) {
        *first = k->index;
        return SL_OK;
    }
    char *copy = sl_arena_alloc(&t->arena, len);
    if (!copy)
        return SL_ENOMEM;
    memcpy(copy, key, len);
    *k = (struct sl_import_key){copy, len, index};
    t->n++;
    return SL_OK;
}
