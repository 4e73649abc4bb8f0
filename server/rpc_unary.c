/* rpc_unary.c -- what every handler of rpc.h does around its pure layer
 *
 * The handlers' accept() differed only in the function they ran: shed,
 * build the context from the worker, run the request bytes through the
 * function, report the read to health (readers only), answer. That is
 * here once (sl_rpc_serve_unary), with the context (sl_rpc_ctx_from_call,
 * which the streaming watch uses too) and the two small things the pure
 * layers shared (a {created} answer, counting corrupt stored data).
 */
#include "rpc.h"

#include "call.h"
#include "log.h"
#include "metrics.h"
#include "rpc_health.h"
#include "server.h"

void sl_rpc_ctx_from_call(struct sl_call *c, struct sl_rpc_ctx *ctx)
{
    struct sl_worker *w = c->worker;
    *ctx = (struct sl_rpc_ctx){
        .store = w->store,
        .auth = w->auth,
        .backend_ok = sl_health_backend_ok(w->health),
        .deadline_us = sl_call_deadline_us(c),
        .cache = sl_server_cache(w->srv),
    };
    sl_call_metadata(c, "x-auth-token", &ctx->token, &ctx->token_len);
}

void sl_rpc_serve_unary(struct sl_call *c, sl_rpc_fn *fn, bool reports_reads)
{
    struct sl_err err;
    sl_err_clear(&err);
    /* Shedding first: an overloaded server answers at once. (A call
     * without its request never gets here: call.c answers it.) */
    if (!sl_call_admit(c, &err)) {
        sl_call_finish_unary(c, err.code, &err, NULL);
        return;
    }
    struct sl_rpc_ctx ctx;
    sl_rpc_ctx_from_call(c, &ctx);
    grpc_slice in = sl_call_payload(c->req);
    grpc_slice out;
    int rc = fn(&ctx, GRPC_SLICE_START_PTR(in), GRPC_SLICE_LENGTH(in), &out,
                &c->ids, &err);
    grpc_slice_unref(in);
    if (reports_reads && ctx.backend_ok && !c->ids.cached) /* else no read */
        sl_health_report_read(c->worker->health, rc, c->ids.project_id,
                              c->ids.service_id, &err);
    sl_call_finish_unary(c, rc, &err, rc == SL_OK ? &out : NULL);
    if (rc == SL_OK)
        grpc_slice_unref(out);
}

grpc_slice sl_rpc_pack_created(bool created)
{
    static const char yes[] = {0x08, 0x01}; /* field 1, varint 1 */
    return created ? grpc_slice_from_copied_buffer(yes, sizeof(yes))
                   : grpc_empty_slice();
}

void sl_rpc_count_corrupt(int rc, const struct sl_err *err)
{
    if (rc != SL_ECORRUPT)
        return;
    sl_metrics_backend_corrupt();
    sl_metrics_backend_error();
    sl_log(SL_LOG_WARN, "%s", err->msg);
}
