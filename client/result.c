/* result.c -- slc_query(): collect a query's logs into compact copies
 *
 * Ownership: an slc_result is one struct slc__result (the public part
 * first), one heap array of slc_log, and a list of chunks that hold every
 * config, env, node and string of every log. slc_result_free() frees the
 * chunks, the array and the struct; nothing inside is freed on its own.
 */
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "slc_internal.h"

/* ---- the collected result --------------------------------------------- */

#define CHUNK_MIN (64 * 1024)

struct chunk {
    struct chunk *next; /* older chunk */
    size_t used, cap;   /* bytes of data handed out / available */
    alignas(max_align_t) unsigned char data[];
};

struct slc__result {
    slc_result pub;      /* must be first: slc_result_free casts back */
    struct chunk *chunk; /* newest first */
    slc_log *logs;       /* pub.logs, writable */
    size_t cap;          /* slots in logs */
};

/* n bytes aligned for any type, owned by r; NULL when malloc fails. */
static void *r_alloc(struct slc__result *r, size_t n)
{
    const size_t a = alignof(max_align_t);
    n = (n + a - 1) & ~(a - 1);
    struct chunk *ch = r->chunk;
    if (!ch || ch->cap - ch->used < n) {
        size_t cap = n > CHUNK_MIN ? n : CHUNK_MIN;
        ch = malloc(sizeof(*ch) + cap);
        if (!ch)
            return NULL;
        ch->next = r->chunk;
        ch->used = 0;
        ch->cap = cap;
        r->chunk = ch;
    }
    void *p = ch->data + ch->used;
    ch->used += n;
    return p;
}

static const char *r_strdup(struct slc__result *r, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = r_alloc(r, n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* Deep-copies a log (a view into the decode buffer) into r's chunks, as *out.
 * 0, or -1 (ENOMEM). */
static int copy_log(struct slc__result *r, const slc_log *in, slc_log *out)
{
    *out = *in;
    out->config = NULL;
    out->result_detail = NULL;
    if (in->n_config) {
        slc_config *cs = r_alloc(r, in->n_config * sizeof(*cs));
        if (!cs)
            return -1;
        for (size_t i = 0; i < in->n_config; i++) {
            const slc_config *ic = &in->config[i];
            slc_config *oc = &cs[i];
            *oc = *ic;
            oc->envs = NULL;
            oc->model_id = r_strdup(r, ic->model_id);
            oc->model_name = r_strdup(r, ic->model_name);
            oc->model_version = r_strdup(r, ic->model_version);
            oc->specification = r_strdup(r, ic->specification);
            if (!oc->model_id || !oc->model_name || !oc->model_version ||
                !oc->specification)
                return -1;
            if (ic->n_envs) {
                slc_env *es = r_alloc(r, ic->n_envs * sizeof(*es));
                if (!es)
                    return -1;
                for (size_t j = 0; j < ic->n_envs; j++) {
                    es[j].key = r_strdup(r, ic->envs[j].key);
                    es[j].value = r_strdup(r, ic->envs[j].value);
                    if (!es[j].key || !es[j].value)
                        return -1;
                }
                oc->envs = es;
            }
            oc->cluster_id = r_strdup(r, ic->cluster_id ? ic->cluster_id : "");
            if (!oc->cluster_id)
                return -1;
            if (ic->custom_spec) {
                slc_custom_spec *sp = r_alloc(r, sizeof(*sp));
                if (!sp)
                    return -1;
                *sp = *ic->custom_spec;
                oc->custom_spec = sp;
            }
        }
        out->config = cs;
    }
    if (in->n_result_detail) {
        slc_node *ns = r_alloc(r, in->n_result_detail * sizeof(*ns));
        if (!ns)
            return -1;
        for (size_t i = 0; i < in->n_result_detail; i++) {
            ns[i] = in->result_detail[i];
            ns[i].node_id = r_strdup(r, in->result_detail[i].node_id);
            ns[i].node_name = r_strdup(r, in->result_detail[i].node_name);
            if (!ns[i].node_id || !ns[i].node_name)
                return -1;
        }
        out->result_detail = ns;
    }
    out->cluster_id = r_strdup(r, in->cluster_id ? in->cluster_id : "");
    if (!out->cluster_id)
        return -1;
    out->extend_config = NULL;
    if (in->n_extend_config) {
        const char **xs = r_alloc(r, in->n_extend_config * sizeof(*xs));
        if (!xs)
            return -1;
        for (size_t i = 0; i < in->n_extend_config; i++) {
            xs[i] = r_strdup(r, in->extend_config[i]);
            if (!xs[i])
                return -1;
        }
        out->extend_config = xs;
    }
    return 0;
}

int slc__collect_init(struct slc__collect *cl, size_t max_logs, slc_error *err)
{
    cl->max_logs = max_logs;
    cl->rc = SLC_OK;
    cl->r = calloc(1, sizeof(*cl->r));
    if (!cl->r)
        return slc__err_set(err, SLC_ENOMEM, -1, "allocating the result");
    return SLC_OK;
}

int slc__collect_log(void *ctx, const slc_head *head, const slc_log *log)
{
    struct slc__collect *cl = ctx;
    struct slc__result *r = cl->r;
    if (!r->logs) {
        /* First log: the head knows the count, so size the array once. */
        if (head->n_logs > cl->max_logs) {
            cl->rc = SLC_ETOOLARGE;
            return 1;
        }
        r->logs = calloc(head->n_logs, sizeof(*r->logs));
        if (!r->logs) {
            cl->rc = SLC_ENOMEM;
            return 1;
        }
        r->cap = head->n_logs;
    }
    if (r->pub.n_logs >= r->cap) { /* n_logs was counted: cannot happen */
        cl->rc = SLC_ETOOLARGE;
        return 1;
    }
    if (copy_log(r, log, &r->logs[r->pub.n_logs]) != 0) {
        cl->rc = SLC_ENOMEM;
        return 1;
    }
    r->pub.n_logs++;
    return 0;
}

int slc__collect_finish(struct slc__collect *cl, int rc, const slc_head *head,
                        slc_result **out, slc_error *err)
{
    struct slc__result *r = cl->r;
    cl->r = NULL;
    *out = NULL;
    if (rc == SLC_ECALLBACK && cl->rc == SLC_ETOOLARGE)
        rc = slc__err_set(err, SLC_ETOOLARGE, 0,
                          "response holds more than max_logs (%zu) logs",
                          cl->max_logs);
    else if (rc == SLC_ECALLBACK)
        rc = slc__err_set(err, SLC_ENOMEM, 0, "copying the logs");
    if (rc != SLC_OK) {
        slc_result_free(&r->pub);
        return rc;
    }
    r->pub.head = *head;
    r->pub.logs = r->logs;
    *out = &r->pub;
    return SLC_OK;
}

void slc_result_free(slc_result *res)
{
    if (!res)
        return;
    struct slc__result *r = (struct slc__result *)res;
    while (r->chunk) {
        struct chunk *next = r->chunk->next;
        free(r->chunk);
        r->chunk = next;
    }
    free(r->logs);
    free(r);
}

int slc_query(slc_client *c, const slc_request *req, slc_result **out,
              slc_error *err)
{
    if (out)
        *out = NULL;
    if (!out)
        return slc__err_set(err, SLC_EINVAL, -1, "out is NULL");
    if (!c)
        return slc__err_set(err, SLC_EINVAL, -1, "client is NULL");
    struct slc__collect cl;
    int rc = slc__collect_init(&cl, slc__client_max_logs(c), err);
    if (rc != SLC_OK)
        return rc;
    slc_head head;
    rc = slc_query_each(c, req, &head, slc__collect_log, &cl, err);
    return slc__collect_finish(&cl, rc, &head, out, err);
}
