/* methods.h -- the handler table: everything the server knows of a method
 *
 * One row per gRPC method, in methods.c, the way store.c lists the
 * backends. A row is a `const struct sl_handler` exported by exactly one
 * rpc_<name>.c; server.c registers every row's path with gRPC and keeps
 * `slots` request slots of it posted on each worker; call.c runs the rows'
 * callbacks and never names a method. Adding an RPC is one new rpc_*.c
 * that exports its handler plus one row in methods.c.
 *
 * The life of a call, as the callbacks see it (call.h has the helpers):
 *   accept   a client arrived; the request message is in c->req for
 *            unary and server-streaming methods (read with the call), not
 *            for bidi ones (they read with sl_call_post_batch). The
 *            handler answers at once (sl_call_finish_unary) or starts its
 *            stream: sl_call_post_close(), then batches of its own.
 *   step     a batch the handler posted with sl_call_post_batch()
 *            completed (success 0: the call is gone or cancelled).
 *            Never called for the final status batch. NULL for handlers
 *            that only ever finish.
 *   closed   the RECV_CLOSE_ON_SERVER posted by sl_call_post_close()
 *            completed: the client is done or gone. May be NULL.
 *   kick     the serving state changed or the server is draining; called
 *            only on calls the handler put on the health list
 *            (rpc_health.h), with its lock held. May be NULL.
 *   release  the call is over (every batch completed), just before it is
 *            logged and freed: free what the handler hung on c->data.
 *            May be NULL.
 * All callbacks of one call run on the worker thread that owns it, except
 * kick, which runs on whichever thread changed the state (under the lock).
 */
#ifndef SL_METHODS_H
#define SL_METHODS_H

#include <stddef.h>

struct sl_call;

enum sl_rpc_kind {
    SL_RPC_UNARY,            /* one request, one response */
    SL_RPC_SERVER_STREAMING, /* one request, a stream of responses */
    SL_RPC_BIDI,             /* streams both ways; reads message by message */
};

struct sl_handler {
    const char *path;      /* "/pkg.Service/Method"; NULL for the catch-all
                              row that answers unregistered methods */
    enum sl_rpc_kind kind; /* how gRPC delivers the request */
    int slots;             /* request slots posted per worker; 0: the
                              server's --slots (the hot method) */
    void (*accept)(struct sl_call *c);
    void (*step)(struct sl_call *c, int success);
    void (*closed)(struct sl_call *c);
    void (*kick)(struct sl_call *c);
    void (*release)(struct sl_call *c);
};

/* The table, in registration order; the catch-all row is last. */
extern const struct sl_handler *const sl_methods[];
extern const size_t sl_methods_count;

#define SL_METHODS_MAX 32 /* rows the table may grow to */

/* The metrics label of row i: its path, "unknown" for the catch-all and
 * for i out of range. Static storage. */
const char *sl_method_label(size_t i);

#endif
