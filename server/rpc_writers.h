/* rpc_writers.h -- modelarts.v1.ServiceLogWriter: PutService and
 * RecordServiceUpdate, as bytes -> bytes (the rpc.h shape)
 *
 * The deployment controller's calls (DESIGN section 2b). Both need a token
 * with the write role when auth is on (auth.h; SL_EREADONLY / 403
 * ModelArts.0108 for a read-only one), and are durable when answered
 * (the store's put_service and record_log). The handler rows are
 * sl_rpc_put_service_handler (rpc_put_service.c) and
 * sl_rpc_record_update_handler (rpc_record_update.c), listed in methods.c.
 */
#ifndef SL_RPC_WRITERS_H
#define SL_RPC_WRITERS_H

#include "rpc.h"

/* PutService: decode -> validate -> authorize (write) -> put_service.
 * req/req_len: the packed PutServiceRequest (the caller's). On SL_OK *resp
 * holds the packed PutServiceResponse{created} (the caller unrefs it). ids
 * (may be NULL) gets the request's ids once they are valid. On failure
 * *resp is empty and err says why: SL_EINVAL naming the field (malformed
 * message, ids, service_name not 1-128 bytes of UTF-8, infer_type not
 * REAL_TIME, EDGE or BATCH), SL_ENOTOKEN, SL_EBADTOKEN, SL_EFORBIDDEN,
 * SL_EREADONLY, SL_ECONFLICT (the service exists with another infer_type),
 * SL_EUNAVAIL, SL_EIO, SL_ENOMEM.
 * THREAD SAFETY: ctx->store belongs to the calling thread. */
int sl_rpc_put_service(const struct sl_rpc_ctx *ctx, const uint8_t *req,
                       size_t req_len, grpc_slice *resp,
                       struct sl_query_ids *ids, struct sl_err *err);

/* RecordServiceUpdate: decode -> validate -> authorize (write) -> read the
 * service's infer_type -> the log rules (log_rules.h) -> canonical pack ->
 * record_log. As sl_rpc_put_service, with PutServiceResponse read as
 * RecordServiceUpdateResponse{created} (false: a log with that update_time
 * was replaced), and these failures: SL_EINVAL naming the field ("log is
 * required", "log.update_time ...", "log.config[1].weight: ..."),
 * SL_ENOTFOUND (no such service in this project), SL_EBATCH (a batch
 * service), SL_ETIMEOUT, SL_ECORRUPT (the stored log it replaces fails its
 * seal). */
int sl_rpc_record_update(const struct sl_rpc_ctx *ctx, const uint8_t *req,
                         size_t req_len, grpc_slice *resp,
                         struct sl_query_ids *ids, struct sl_err *err);

#endif
