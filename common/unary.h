/* unary.h -- the one batch of a unary gRPC client call
 *
 * The client library (client/client.c) and the REST shim's upstream
 * (server/http/http_upstream.c) both make a unary call as one batch of
 * six ops: send initial metadata, the message and the half-close; receive
 * initial metadata, the message and the status. This fills that batch;
 * what to do with the results stays with the caller. Needs only gRPC's
 * headers (no function of gRPC is called here).
 */
#ifndef SL_UNARY_H
#define SL_UNARY_H

#include <stddef.h>

#include <grpc/grpc.h>

#define SL_UNARY_OPS 6

/* Where the ops read from and write to. Owner: the caller; everything
 * must outlive the batch. */
struct sl_unary_io {
    const grpc_metadata *md;       /* initial metadata to send */
    size_t n_md;                   /* its count (0: md may be NULL) */
    grpc_byte_buffer *send;        /* the request message */
    grpc_metadata_array *initial;  /* receives the initial metadata */
    grpc_byte_buffer **recv;       /* receives the reply (NULL: none) */
    grpc_metadata_array *trailers; /* receives the trailing metadata */
    grpc_status_code *status;      /* receives the status code */
    grpc_slice *details;           /* receives the status message */
};

/* Fills ops[0..SL_UNARY_OPS) for grpc_call_start_batch(). */
void sl_unary_ops(grpc_op ops[SL_UNARY_OPS], const struct sl_unary_io *io);

#endif
