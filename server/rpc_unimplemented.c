/* rpc_unimplemented.c -- the catch-all row: any method no row registers
 *
 * Requested with grpc_server_request_call (path NULL in methods.h), so a
 * call to an unknown method is answered UNIMPLEMENTED at once, naming the
 * method, instead of hanging until its deadline.
 */
#include "call.h"
#include "methods.h"

static void unimplemented_accept(struct sl_call *c)
{
    struct sl_err err;
    sl_err_set(&err, SL_ENOROUTE, "unknown method %.*s",
               (int)GRPC_SLICE_LENGTH(c->details.method),
               (const char *)GRPC_SLICE_START_PTR(c->details.method));
    sl_call_finish_unary(c, SL_ENOROUTE, &err, NULL);
}

const struct sl_handler sl_rpc_unimplemented_handler = {
    .path = NULL,
    .kind = SL_RPC_UNARY,
    .slots = 2,
    .accept = unimplemented_accept,
};
