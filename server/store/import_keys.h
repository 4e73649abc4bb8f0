/* import_keys.h -- the (project_id, service_id) keys an import has seen
 *
 * A streamed import refuses a service named twice ("services[3].service_id:
 * duplicate of services[1]") without holding the services: it keeps each
 * key and the index of the first service that had it. Memory O(#services)
 * of small keys, about 80 bytes a service (8 MB for 100 000), the one
 * thing an import keeps for the whole file.
 *
 * Ownership: the table owns its copies of the keys; sl_import_keys_free.
 * THREAD SAFETY: a table belongs to one thread.
 */
#ifndef SL_IMPORT_KEYS_H
#define SL_IMPORT_KEYS_H

#include <stddef.h>

#include "arena.h"
#include "store.h"

struct sl_import_key {
    const char *key; /* "PROJECT\0SERVICE", in the table's arena */
    size_t len;      /* both, with the NUL between */
    size_t index;    /* services[index] had it first */
};

struct sl_import_keys {
    struct sl_import_key *v; /* cap slots (malloc'd); key NULL: free */
    size_t cap, n;           /* slots; keys held */
    struct sl_arena arena;   /* the keys' bytes */
};

/* Makes t empty; no allocation. */
void sl_import_keys_init(struct sl_import_keys *t);
/* Frees what t owns; t is empty afterwards. */
void sl_import_keys_free(struct sl_import_keys *t);

/* Adds svc's key (valid ids: validate.h) as services[index]'s: SL_OK with
 * *first SIZE_MAX when it is new, or with *first the index of the earlier
 * service that had it (then nothing is added); SL_ENOMEM, SL_EINTERNAL
 * for an id longer than SL_MAX_ID (then *first is SIZE_MAX). */
int sl_import_keys_add(struct sl_import_keys *t,
                       const struct sl_import_service *svc, size_t index,
                       size_t *first);

#endif
