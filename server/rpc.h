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

/* modelarts.v1.ServiceLogs/QueryServiceLogs.
 * req/req_len: the packed QueryServiceLogsRequest (owned by the caller).
 * On SL_OK *resp holds the packed QueryServiceLogsResponse; the caller
 * unrefs it. On failure *resp is empty and err says what went wrong:
 * SL_EINVAL (malformed message or field), SL_ENOTFOUND, SL_EBATCH,
 * SL_EUNAVAIL (store), SL_ENOMEM. THREAD SAFETY: st belongs to the
 * calling thread. */
int sl_rpc_query_logs(struct sl_store *st, const uint8_t *req, size_t req_len,
                      grpc_slice *resp, struct sl_err *err);

#define SL_METHOD_QUERY_LOGS "/modelarts.v1.ServiceLogs/QueryServiceLogs"

#endif
