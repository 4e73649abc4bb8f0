/* status.h -- google.rpc.Status error details for gRPC trailers */
#ifndef SL_STATUS_H
#define SL_STATUS_H

#include <grpc/slice.h>

#include "error.h"

#define SL_STATUS_DETAILS_KEY "grpc-status-details-bin"
#define SL_ERROR_DOMAIN "modelarts"

/* Packs google.rpc.Status{code, message, details: [Any(ErrorInfo{reason:
 * ModelArts code of err_code, domain: "modelarts"})]} into *out.
 * Owner: the caller unrefs *out. SL_OK, or SL_ENOMEM (then *out is empty). */
int sl_status_details_pack(int err_code, const char *message, grpc_slice *out);

/* Reads the ErrorInfo reason (any type URL ending in
 * "/google.rpc.ErrorInfo") out of a packed google.rpc.Status into reason,
 * "" when there is none; copies the Status message into message only when
 * message is "" on entry (a status text already known wins). Never fails
 * on hostile bytes. */
void sl_status_details_reason(const void *data, size_t len, char *reason,
                              size_t reason_len, char *message,
                              size_t message_len);

#endif
