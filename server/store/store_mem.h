/* store_mem.h -- what the files of the memory backend share (private)
 *
 * The backend is two files: store_mem.c (the table, the feed, queries,
 * writes, the commit of an import and the exported sl_store_memory) and
 * store_mem_import.c (the import session, store.h v5, and the one-call
 * import on top of it). This header is included by those two only; its
 * functions are sl__mem_* (STYLE 12: internal, not static).
 */
#ifndef SL_STORE_MEM_H
#define SL_STORE_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct mem_service;

/* A service built by an import and its place in the session's order. */
struct mem_pending {
    struct mem_service *v; /* one malloc'd block (sl__mem_service_new) */
    size_t i;              /* ties between duplicates: the later wins */
};

/* One connection. Owner: whoever open() returned it to; sl_store_close()
 * frees it, and a session's staged services with it. */
struct mem_store {
    struct sl_store base;      /* must be first */
    int64_t seen;              /* wait_changes: mem_wake.head at the end of
                                  the last call (or at open) */
    struct mem_pending *stage; /* import session: services built, in order */
    size_t n_stage;            /* entries of stage */
    size_t cap_stage;          /* its room */
    bool importing, failed;    /* a session is open; one of its adds failed */
};

/* ---- store_mem.c -------------------------------------------------------- */

/* A copy of in, logs sorted, in one block the caller frees; NULL when
 * memory runs out. */
struct mem_service *sl__mem_service_new(const struct sl_import_service *in);

/* Merges add[0..n) (in session order) into the table, the last of a
 * service named twice winning, and appends one "replaced" change per
 * entry: all or nothing. Takes every add[i].v on both outcomes (the
 * caller frees only the array). SL_OK or SL_ENOMEM. */
int sl__mem_commit(struct mem_pending *add, size_t n, struct sl_err *err);

/* ---- store_mem_import.c ------------------------------------------------- */

/* The import slots (store.h v1 and v5). */
int sl__mem_import(struct sl_store *st, const struct sl_import_service *svcs,
                   size_t n, struct sl_err *err);
int sl__mem_import_begin(struct sl_store *base, struct sl_err *err);
int sl__mem_import_add(struct sl_store *base,
                       const struct sl_import_service *svcs, size_t n,
                       struct sl_err *err);
int sl__mem_import_end(struct sl_store *base, bool commit, struct sl_err *err);
/* Drops a session left open (close). */
void sl__mem_import_close(struct mem_store *st);

#endif
