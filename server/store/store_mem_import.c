/* store_mem_import.c -- the memory backend's import (store.h v1, v5)
 *
 * A session builds a copy of each service it is given (one block each,
 * sl__mem_service_new) on the connection, without any lock: nothing is
 * visible until import_end commits, which hands them to sl__mem_commit
 * (store_mem.c) to merge into the table and swap under the lock. Build,
 * then swap: the memory backend holds the whole import anyway.
 *
 * Ownership: the staged services are the connection's until the commit
 * takes them; a rollback, a failed add's rollback or close frees them.
 */
#include <stdbool.h>
#include <stdlib.h>

#include "store.h"
#include "store_mem.h"

static int import_nomem(size_t n, struct sl_err *err)
{
    return sl_err_set(err, SL_ENOMEM,
                      "memory: out of memory importing %zu services, nothing "
                      "changed",
                      n);
}

/* Frees the session's staged services; st is out of its session. */
static void stage_free(struct mem_store *st)
{
    for (size_t x = 0; x < st->n_stage; x++)
        free(st->stage[x].v);
    free(st->stage);
    st->stage = NULL;
    st->n_stage = st->cap_stage = 0;
    st->importing = st->failed = false;
}

int sl__mem_import_begin(struct sl_store *base, struct sl_err *err)
{
    struct mem_store *st = (struct mem_store *)base;
    if (st->importing)
        return sl_err_set(err, SL_EINTERNAL,
                          "memory: an import session is already open");
    st->importing = true;
    return SL_OK;
}

/* Builds copies of the services (no lock: nobody sees them yet). */
int sl__mem_import_add(struct sl_store *base,
                       const struct sl_import_service *svcs, size_t n,
                       struct sl_err *err)
{
    struct mem_store *st = (struct mem_store *)base;
    if (!st->importing || st->failed)
        return sl_err_set(err, SL_EINTERNAL,
                          "memory: import_add outside a session");
    if (st->n_stage + n > st->cap_stage) {
        size_t cap = st->cap_stage ? 2 * st->cap_stage : 64;
        while (cap < st->n_stage + n)
            cap *= 2;
        struct mem_pending *v = realloc(st->stage, cap * sizeof(*v));
        if (!v) {
            st->failed = true;
            return import_nomem(st->n_stage + n, err);
        }
        st->stage = v;
        st->cap_stage = cap;
    }
    for (size_t i = 0; i < n; i++, st->n_stage++) {
        st->stage[st->n_stage].i = st->n_stage;
        if (!(st->stage[st->n_stage].v = sl__mem_service_new(&svcs[i]))) {
            st->failed = true;
            return import_nomem(st->n_stage + n - i, err);
        }
    }
    return SL_OK;
}

int sl__mem_import_end(struct sl_store *base, bool commit, struct sl_err *err)
{
    struct mem_store *st = (struct mem_store *)base;
    if (commit && st->importing && !st->failed) {
        int rc = sl__mem_commit(st->stage, st->n_stage, err);
        st->n_stage = 0; /* sl__mem_commit took the services */
        stage_free(st);
        return rc;
    }
    int rc = commit ? sl_err_set(err, SL_EINTERNAL,
                                 "memory: import failed, nothing changed: "
                                 "no session, or a batch failed")
                    : SL_OK;
    stage_free(st);
    return rc;
}

int sl__mem_import(struct sl_store *st, const struct sl_import_service *svcs,
                   size_t n, struct sl_err *err)
{
    int rc = sl__mem_import_begin(st, err);
    if (rc == SL_OK && (rc = sl__mem_import_add(st, svcs, n, err)) != SL_OK)
        sl__mem_import_end(st, false, NULL);
    return rc == SL_OK ? sl__mem_import_end(st, true, err) : rc;
}

void sl__mem_import_close(struct mem_store *st)
{
    stage_free(st);
}
