/* rpc_query_logs.c -- QueryServiceLogs: unpack -> validate -> store -> pack
 *
 * Two layers: sl_rpc_query_logs() turns request bytes into response bytes
 * (rpc.h; unit-tested with the memory backend), and the handler row
 * (sl_rpc_query_logs_handler, methods.c) runs it on a gRPC call: shedding
 * first, then the worker's own store connection, one batch for the answer.
 *
 * The store hands back each log in its wire form (a packed ServiceLog), so
 * the response is written directly: fields 1 and 2, one length-delimited
 * field 3 per stored log, field 4. Nothing is decoded or re-encoded on the
 * hot path; the output is byte-identical to protobuf-c packing the same
 * message (fields in number order, defaults omitted).
 *
 * Spliced bytes must be intact bytes. The SQLite and PostgreSQL backends
 * vouch for each log (a CRC-32C stored with it, store_sqlite.c,
 * store_pg_schema.c) or fail the read with SL_ECORRUPT; the memory backend
 * hands back what the import packed. The
 * service name is checked here, for every backend. Corrupt
 * data is INTERNAL / 500 ModelArts.0010 naming the service and the log --
 * never the bytes -- and nothing of the page is sent; each time it is
 * logged at warn and counted (servicelogs_backend_corrupt_total). The
 * handler reports every read's outcome to health (rpc_health.h: many
 * failed reads over several services turn it NOT_SERVING).
 *
 * The response cache (cache.h) sits between the checks and the read: a
 * hit hands out the cached slice (validation and auth still ran); a miss
 * reads with query_snapshot, for the seq the fill keeps.
 */
#include "rpc.h"

#include <string.h>

#include "call.h"
#include "methods.h"
#include "modelarts/v1/service_logs.pb-c.h"
#include "validate.h"
#include "wire.h"

/* Size of a length-delimited field with a one-byte key. */
static size_t ld_len(size_t n)
{
    return 1 + sl_wire_varint_len(n) + n;
}

static uint8_t *put_ld(uint8_t *p, uint8_t key, const void *data, size_t n)
{
    *p++ = key;
    p = sl_wire_put_varint(p, n);
    if (n)
        memcpy(p, data, n);
    return p + n;
}

/* Packs the page as a QueryServiceLogsResponse into one slice; wrapped,
 * as the snapshot field (1) of a WatchServiceLogsResponse. */
static grpc_slice pack_response(const struct sl_log_page *pg, bool wrapped)
{
    size_t id_len = strlen(pg->service_id);
    size_t name_len = strlen(pg->service_name);
    size_t total = 0;
    if (id_len)
        total += ld_len(id_len);
    if (name_len)
        total += ld_len(name_len);
    for (size_t i = 0; i < pg->n_logs; i++)
        total += ld_len(pg->logs[i].len);
    if (pg->infer_type)
        total += 1 + sl_wire_varint_len((uint64_t)(int64_t)pg->infer_type);

    size_t head = wrapped ? 1 + sl_wire_varint_len(total) : 0;
    grpc_slice s = grpc_slice_malloc(head + total);
    uint8_t *p = GRPC_SLICE_START_PTR(s);
    if (wrapped) {
        *p++ = 0x0a; /* WatchServiceLogsResponse.snapshot */
        p = sl_wire_put_varint(p, total);
    }
    if (id_len)
        p = put_ld(p, 0x0a, pg->service_id, id_len); /* 1: service_id */
    if (name_len)
        p = put_ld(p, 0x12, pg->service_name, name_len); /* 2: name */
    for (size_t i = 0; i < pg->n_logs; i++)              /* 3: logs */
        p = put_ld(p, 0x1a, pg->logs[i].data, pg->logs[i].len);
    if (pg->infer_type) { /* 4: infer_type */
        *p++ = 0x20;
        p = sl_wire_put_varint(p, (uint64_t)(int64_t)pg->infer_type);
    }
    return s;
}

/* What the backend does not check: the service name must be UTF-8, as
 * protobuf requires of a string. SL_OK or SL_ECORRUPT. */
static int check_page(const struct sl_log_page *pg, const char *project,
                      const char *service, struct sl_err *err)
{
    if (!sl_wire_utf8((const uint8_t *)pg->service_name,
                      strlen(pg->service_name)))
        return sl_err_set(err, SL_ECORRUPT,
                          "stored data is corrupt: the name of service %s "
                          "of project %s is not valid UTF-8; re-import the "
                          "service or restore the database",
                          service, project);
    return SL_OK;
}

/* A decoded request; the id pointers point into the request bytes. */
struct query_req {
    const char *project_id;
    size_t project_len;
    const char *service_id;
    size_t service_len;
    int64_t update_time;
};

/* Decodes a QueryServiceLogsRequest by hand: three fields do not need a
 * general decoder, and this keeps the ids' true lengths (a string with an
 * embedded NUL must fail validation, not be cut short) with no malloc.
 * Unknown fields are skipped as proto3 requires; the last occurrence of a
 * field wins. 0, or -1 when the bytes are not a valid message. */
static int decode_request(const uint8_t *p, size_t len, struct query_req *r)
{
    const uint8_t *end = p + len;
    memset(r, 0, sizeof(*r));
    r->project_id = r->service_id = "";
    while (p < end) {
        struct sl_wire_field f;
        if (sl_wire_next(&p, end, &f) < 0)
            return -1;
        /* A known field with the wrong wire type is a malformed message. */
        if (f.number == 1 || f.number == 2) {
            if (f.type != 2)
                return -1;
            if (f.number == 1) {
                r->project_id = (const char *)f.data;
                r->project_len = f.len;
            } else {
                r->service_id = (const char *)f.data;
                r->service_len = f.len;
            }
        } else if (f.number == 3) {
            if (f.type != 0)
                return -1;
            r->update_time = (int64_t)f.value;
        }
    }
    return 0;
}

/* Query and the watch's snapshot: one path; snap NULL for Query. */
static int query(const struct sl_rpc_ctx *ctx, const uint8_t *req,
                 size_t req_len, grpc_slice *resp, struct sl_query_ids *ids,
                 struct sl_rpc_snapshot *snap, struct sl_err *err)
{
    *resp = grpc_empty_slice();
    if (ids) {
        ids->project_id[0] = ids->service_id[0] = '\0';
        ids->cached = false;
    }
    struct query_req r;
    if (decode_request(req, req_len, &r) < 0)
        return sl_err_set(err, SL_EINVAL,
                          "request is not a valid "
                          "modelarts.v1.QueryServiceLogsRequest message");
    int rc = sl_validate_query(r.project_id, r.project_len, r.service_id,
                               r.service_len, r.update_time, err);
    if (rc != SL_OK)
        return rc;

    /* Valid ids are at most SL_MAX_ID bytes: NUL-terminate on the stack. */
    char project[SL_MAX_ID + 1], service[SL_MAX_ID + 1];
    memcpy(project, r.project_id, r.project_len);
    project[r.project_len] = '\0';
    memcpy(service, r.service_id, r.service_len);
    service[r.service_len] = '\0';
    if (ids) {
        memcpy(ids->project_id, project, sizeof(project));
        memcpy(ids->service_id, service, sizeof(service));
    }

    if (ctx->auth) {
        rc = sl_auth_check(ctx->auth, ctx->token, ctx->token_len, project);
        if (rc == SL_ENOTOKEN)
            return sl_err_set(err, rc, "missing auth token (x-auth-token)");
        if (rc == SL_EBADTOKEN)
            return sl_err_set(err, rc, "invalid auth token");
        if (rc == SL_EFORBIDDEN)
            return sl_err_set(err, rc, "token not valid for project %s",
                              project);
    }
    if (!ctx->backend_ok)
        return sl_err_set(err, SL_EUNAVAIL,
                          "the log store is unavailable; try again later");

    struct sl_log_query q = {
        .project_id = project,
        .service_id = service,
        .update_time = r.update_time,
        .deadline_us = ctx->deadline_us,
    };
    /* The cache, after the checks: a hit skips only the read. The watch's
     * snapshot needs its own seq: it always reads. */
    uint64_t ticket = 0;
    if (!snap && sl_cache_lookup(ctx->cache, project, service, r.update_time,
                                 resp, ctx->cache_extra, &ticket)) {
        if (ids)
            ids->cached = true;
        return SL_OK;
    }
    if (snap && (rc = snap->subscribe(snap->arg, &q, err)) != SL_OK)
        return rc;
    struct sl_log_page page;
    sl_log_page_init(&page);
    struct sl_store *st = ctx->store;
    int64_t seq = 0; /* a fill keeps it: a newer answer replaces an older */
    rc = snap     ? sl_store_query_snapshot(st, &q, &page, &snap->seq, err)
         : ticket ? sl_store_query_snapshot(st, &q, &page, &seq, err)
                  : sl_store_query_logs(st, &q, &page, err);
    if (rc != SL_OK)
        goto out;
    if (page.infer_type == MODELARTS__V1__INFER_TYPE__BATCH) {
        rc = sl_err_set(err, SL_EBATCH,
                        "service %s is a batch service; only real-time and "
                        "edge services have update logs",
                        service);
        goto out;
    }
    if ((rc = check_page(&page, project, service, err)) != SL_OK)
        goto out;
    *resp = pack_response(&page, snap != NULL);
    if (ticket) {
        sl_cache_put(ctx->cache, project, service, r.update_time, seq, *resp,
                     ticket);
        if (ctx->cache_extra)
            ctx->cache_extra->seq = seq;
    }
out:
    sl_rpc_count_corrupt(rc, err); /* found here or by the backend */
    sl_log_page_free(&page);
    return rc;
}

int sl_rpc_query_logs(const struct sl_rpc_ctx *ctx, const uint8_t *req,
                      size_t req_len, grpc_slice *resp,
                      struct sl_query_ids *ids, struct sl_err *err)
{
    return query(ctx, req, req_len, resp, ids, NULL, err);
}

int sl_rpc_watch_snapshot(const struct sl_rpc_ctx *ctx, const uint8_t *req,
                          size_t req_len, grpc_slice *resp,
                          struct sl_query_ids *ids,
                          struct sl_rpc_snapshot *snap, struct sl_err *err)
{
    return query(ctx, req, req_len, resp, ids, snap, err);
}

/* ---- the gRPC call ----------------------------------------------------- */

static void query_logs_accept(struct sl_call *c)
{
    sl_rpc_serve_unary(c, sl_rpc_query_logs, true);
}

const struct sl_handler sl_rpc_query_logs_handler = {
    .path = "/modelarts.v1.ServiceLogs/QueryServiceLogs",
    .kind = SL_RPC_UNARY,
    .slots = 0, /* the server's --slots: this is the hot method */
    .accept = query_logs_accept,
};
