/* rpc_record_update.c -- RecordServiceUpdate: upsert one log of a service
 *
 * Two layers as rpc_query_logs.c: sl_rpc_record_update() (rpc_writers.h)
 * turns request bytes into response bytes with the caller's store, and the
 * handler row runs it on a gRPC call.
 *
 * The log is held to the same rules as an imported one (log_rules.h), which
 * depend on the service's infer_type: a read of the service limited to the
 * log's update_time (a few rows at most) gives it, and answers NOT_FOUND
 * and the batch refusal before anything is written; record_log checks
 * both again in its own transaction. (An import that replaces the service
 * with another infer_type between the two is the one race; the log then
 * holds the old type's fields, which the renderer leaves out.) The log is
 * then packed canonically (log_rules.h: what import stores for the same
 * log), so a log recorded here and the same log imported read back as the
 * same bytes.
 */
#include "rpc_writers.h"

#include <string.h>

#include "call.h"
#include "log_rules.h"
#include "methods.h"
#include "modelarts/v1/service_logs.pb-c.h"
#include "validate.h"

/* The service's infer_type, read with the log's update_time as filter. */
static int read_infer_type(const struct sl_rpc_ctx *ctx, const char *project,
                           const char *service, int64_t update_time,
                           int *infer_type, struct sl_err *err)
{
    struct sl_log_query q = {
        .project_id = project,
        .service_id = service,
        .update_time = update_time,
        .deadline_us = ctx->deadline_us,
    };
    struct sl_log_page page;
    sl_log_page_init(&page);
    int rc = sl_store_query_logs(ctx->store, &q, &page, err);
    *infer_type = page.infer_type;
    sl_log_page_free(&page);
    if (rc == SL_OK && *infer_type == MODELARTS__V1__INFER_TYPE__BATCH)
        rc = sl_err_set(err, SL_EBATCH,
                        "service %s is a batch service; only real-time and "
                        "edge services have update logs",
                        service);
    return rc;
}

int sl_rpc_record_update(const struct sl_rpc_ctx *ctx, const uint8_t *req,
                         size_t req_len, grpc_slice *resp,
                         struct sl_query_ids *ids, struct sl_err *err)
{
    *resp = grpc_empty_slice();
    if (ids)
        ids->project_id[0] = ids->service_id[0] = '\0';
    int rc = sl_pb_check_strings(
        &modelarts__v1__record_service_update_request__descriptor, req, req_len,
        SL_EINVAL, err);
    if (rc != SL_OK)
        return rc;
    Modelarts__V1__RecordServiceUpdateRequest *r =
        modelarts__v1__record_service_update_request__unpack(NULL, req_len,
                                                             req);
    if (!r)
        return sl_err_set(err, SL_EINVAL,
                          "request is not a valid "
                          "modelarts.v1.RecordServiceUpdateRequest message");
    struct sl_arena arena;
    sl_arena_init(&arena);
    if ((rc = sl_validate_query(r->project_id, strlen(r->project_id),
                                r->service_id, strlen(r->service_id), 0,
                                err)) != SL_OK)
        goto out;
    if (ids) {
        strcpy(ids->project_id, r->project_id); /* valid: <= SL_MAX_ID */
        strcpy(ids->service_id, r->service_id);
    }
    if ((rc = sl_auth_require(ctx->auth, ctx->token, ctx->token_len,
                              r->project_id, SL_AUTH_WRITE, err)) != SL_OK)
        goto out;
    const Modelarts__V1__ServiceLog *log = r->log;
    if (!log) {
        rc = sl_err_set(err, SL_EINVAL, "log is required");
        goto out;
    }
    if (log->update_time <= 0) {
        rc = sl_err_set(err, SL_EINVAL,
                        "log.update_time must be a positive number of "
                        "milliseconds since the epoch");
        goto out;
    }
    if (!ctx->backend_ok) {
        rc = sl_err_set(err, SL_EUNAVAIL,
                        "the log store is unavailable; try again later");
        goto out;
    }
    int infer_type;
    struct sl_import_log packed;
    bool created = false;
    int64_t seq = 0;
    if ((rc = read_infer_type(ctx, r->project_id, r->service_id,
                              log->update_time, &infer_type, err)) != SL_OK ||
        (rc = sl_log_check(log, infer_type, "log", SL_EINVAL, err)) != SL_OK ||
        (rc = sl_log_pack(log, &arena, &arena, &packed, err)) != SL_OK)
        goto out;
    rc = sl_store_record_log(ctx->store, r->project_id, r->service_id, &packed,
                             &created, &seq, err);
    /* Read-your-writes on this server: its cached answers go before the
     * answer (whatever the outcome: a failed commit may have landed). */
    sl_cache_invalidate(ctx->cache, r->project_id, r->service_id);
    if (rc != SL_OK)
        goto out;
    *resp = sl_rpc_pack_created(created);
out:
    sl_rpc_count_corrupt(rc, err); /* the read found a damaged log */
    sl_arena_free(&arena);
    modelarts__v1__record_service_update_request__free_unpacked(r, NULL);
    return rc;
}

/* ---- the gRPC call ----------------------------------------------------- */

static void record_update_accept(struct sl_call *c)
{
    sl_rpc_serve_unary(c, sl_rpc_record_update, false);
}

const struct sl_handler sl_rpc_record_update_handler = {
    .path = "/modelarts.v1.ServiceLogWriter/RecordServiceUpdate",
    .kind = SL_RPC_UNARY,
    .slots = 4, /* the controller records as a rollout goes */
    .accept = record_update_accept,
};
