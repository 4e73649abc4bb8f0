/* rpc.h -- the RPC handlers, independent of the gRPC call machinery
 *
 * A handler turns request bytes into response bytes (or an error) using
 * one store connection; call.c moves the bytes on and off the wire. That
 * split keeps handlers testable with cmocka and the memory backend.
 */
#ifndef SL_RPC_H
#define SL_RPC_H

#include <stddef.h>
#include <stdint.h>

#include <grpc/slice.h>

#include "error.h"
#include "store.h"
#include "validate.h"

/* The ids of a query, for the access log: set when they are valid,
 * else left empty. Owner: the caller. */
struct sl_query_ids {
    char project_id[SL_ID_MAX + 1];
    char service_id[SL_ID_MAX + 1];
};

/* modelarts.v1.ServiceLogs/QueryServiceLogs.
 * req/req_len: the packed QueryServiceLogsRequest (owned by the caller).
 * On SL_OK *resp holds the packed QueryServiceLogsResponse; the caller
 * unrefs it. ids (may be NULL) receives the request's ids once they are
 * valid. On failure *resp is empty and err says what went wrong:
 * SL_EINVAL (malformed message or field), SL_ENOTFOUND, SL_EBATCH,
 * SL_EUNAVAIL (store), SL_ENOMEM. THREAD SAFETY: st belongs to the
 * calling thread. */
int sl_rpc_query_logs(struct sl_store *st, const uint8_t *req, size_t req_len,
                      grpc_slice *resp, struct sl_query_ids *ids,
                      struct sl_err *err);

#endif
