/* unary.c -- the one batch of a unary gRPC client call (unary.h) */
#include "unary.h"

#include <string.h>

void sl_unary_ops(grpc_op ops[SL_UNARY_OPS], const struct sl_unary_io *io)
{
    memset(ops, 0, SL_UNARY_OPS * sizeof(ops[0]));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = io->n_md;
    ops[0].data.send_initial_metadata.metadata =
        io->n_md ? (grpc_metadata *)io->md : NULL;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = io->send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = io->initial;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = io->recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = io->trailers;
    ops[5].data.recv_status_on_client.status = io->status;
    ops[5].data.recv_status_on_client.status_details = io->details;
}
