/* rpc_put_service.c -- PutService: create or rename a service
 *
 * Two layers as rpc_query_logs.c: sl_rpc_put_service() (rpc_writers.h)
 * turns request bytes into response bytes with the caller's store, and the
 * handler row runs it on a gRPC call (shedding, the worker's store, one
 * batch for the answer). A service's infer_type never changes once set:
 * the store refuses with SL_ECONFLICT (FAILED_PRECONDITION).
 *
 * The request is small and rare, so protobuf-c decodes it, after
 * sl_pb_check_strings() has refused strings protobuf-c would cut at a NUL.
 */
#include "rpc_writers.h"

#include <string.h>

#include "call.h"
#include "limits.h"
#include "log_rules.h"
#include "methods.h"
#include "modelarts/v1/service_logs.pb-c.h"
#include "validate.h"

static int check_request(const Modelarts__V1__PutServiceRequest *r,
                         struct sl_err *err)
{
    size_t n = strlen(r->service_name);
    if (n == 0 || n > SL_MAX_NAME)
        return sl_err_set(err, SL_EINVAL,
                          "service_name must be 1-%d bytes of UTF-8",
                          SL_MAX_NAME);
    if (r->infer_type != MODELARTS__V1__INFER_TYPE__REAL_TIME &&
        r->infer_type != MODELARTS__V1__INFER_TYPE__EDGE &&
        r->infer_type != MODELARTS__V1__INFER_TYPE__BATCH)
        return sl_err_set(err, SL_EINVAL,
                          "infer_type must be REAL_TIME, EDGE or BATCH");
    return SL_OK;
}

int sl_rpc_put_service(const struct sl_rpc_ctx *ctx, const uint8_t *req,
                       size_t req_len, grpc_slice *resp,
                       struct sl_query_ids *ids, struct sl_err *err)
{
    *resp = grpc_empty_slice();
    if (ids)
        ids->project_id[0] = ids->service_id[0] = '\0';
    int rc =
        sl_pb_check_strings(&modelarts__v1__put_service_request__descriptor,
                            req, req_len, SL_EINVAL, err);
    if (rc != SL_OK)
        return rc;
    Modelarts__V1__PutServiceRequest *r =
        modelarts__v1__put_service_request__unpack(NULL, req_len, req);
    if (!r)
        return sl_err_set(err, SL_EINVAL,
                          "request is not a valid "
                          "modelarts.v1.PutServiceRequest message");
    if ((rc = sl_validate_query(r->project_id, strlen(r->project_id),
                                r->service_id, strlen(r->service_id), 0,
                                err)) != SL_OK)
        goto out;
    if (ids) {
        strcpy(ids->project_id, r->project_id); /* valid: <= SL_MAX_ID */
        strcpy(ids->service_id, r->service_id);
    }
    if ((rc = sl_auth_require(ctx->auth, ctx->token, ctx->token_len,
                              r->project_id, SL_AUTH_WRITE, err)) != SL_OK ||
        (rc = check_request(r, err)) != SL_OK)
        goto out;
    if (!ctx->backend_ok) {
        rc = sl_err_set(err, SL_EUNAVAIL,
                        "the log store is unavailable; try again later");
        goto out;
    }
    struct sl_service_put put = {
        .project_id = r->project_id,
        .service_id = r->service_id,
        .service_name = r->service_name,
        .infer_type = r->infer_type,
    };
    bool created = false;
    rc = sl_store_put_service(ctx->store, &put, &created, err);
    /* Read-your-writes on this server: its cached answers go before the
     * answer (whatever the outcome: a failed commit may have landed). */
    sl_cache_invalidate(ctx->cache, r->project_id, r->service_id);
    if (rc != SL_OK)
        goto out;
    *resp = sl_rpc_pack_created(created);
out:
    modelarts__v1__put_service_request__free_unpacked(r, NULL);
    return rc;
}

/* ---- the gRPC call ----------------------------------------------------- */

static void put_service_accept(struct sl_call *c)
{
    sl_rpc_serve_unary(c, sl_rpc_put_service, false);
}

const struct sl_handler sl_rpc_put_service_handler = {
    .path = "/modelarts.v1.ServiceLogWriter/PutService",
    .kind = SL_RPC_UNARY,
    .slots = 2, /* rare: the deployment controller's */
    .accept = put_service_accept,
};
