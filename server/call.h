/* call.h -- per-call state, typed tags and the worker loop
 *
 * Every pointer handed to gRPC as a tag is a struct sl_tag, embedded in
 * what it belongs to: a call's main tag (its batches, one at a time), a
 * call's close tag (RECV_CLOSE_ON_SERVER of streaming calls), or the
 * server's shutdown notification. sl_worker_main() is the only code that
 * reads ev.tag.
 */
#ifndef SL_CALL_H
#define SL_CALL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <grpc/grpc.h>

#include "accesslog.h"
#include "health.h"
#include "metrics.h"
#include "rpc.h"
#include "store.h"

enum sl_tag_kind {
    SL_TAG_CALL,       /* owner is a struct sl_call: its main batches */
    SL_TAG_CALL_CLOSE, /* owner is a struct sl_call: its close op */
    SL_TAG_SHUTDOWN    /* owner is the struct sl_server */
};

struct sl_tag {
    enum sl_tag_kind kind;
    void *owner;
};

enum sl_call_state {
    SL_CALL_REQUESTED,  /* slot posted, waiting for a client */
    SL_CALL_READING,    /* streaming: RECV_MESSAGE (+ a reply) posted */
    SL_CALL_WATCH_SEND, /* Watch: a status message is being sent */
    SL_CALL_WATCH_IDLE, /* Watch: nothing posted; waits for a change */
    SL_CALL_FINISHING   /* the status batch is posted */
};

struct sl_worker;

/* One call from slot to completion. Owner: the worker that posted it;
 * freed when its last outstanding batch completes (pending drops to 0).
 * Watch fields are guarded by the health lock (health.h). */
struct sl_call {
    struct sl_tag tag;           /* main batches; must be first */
    struct sl_tag close_tag;     /* RECV_CLOSE_ON_SERVER of streams */
    enum sl_call_state state;    /* where the call is */
    enum sl_method method;       /* which handler */
    struct sl_worker *worker;    /* owning worker (its cq and store) */
    atomic_int pending;          /* batches posted and not completed */
    grpc_call *call;             /* set by gRPC when a client arrives */
    gpr_timespec deadline;       /* registered calls: client deadline */
    grpc_call_details details;   /* unknown calls: method and host */
    grpc_metadata_array md_recv; /* client's initial metadata */
    grpc_byte_buffer *req;       /* unary/server-streaming payload */
    grpc_byte_buffer *recv;      /* bidi streams: last message read */
    grpc_byte_buffer *resp;      /* reply, destroyed when sent */
    grpc_slice status_msg;       /* status details text */
    grpc_metadata trailer;       /* grpc-status-details-bin when failing */
    int cancelled;               /* from RECV_CLOSE_ON_SERVER */
    bool counted;                /* holds one of worker->in_flight */
    int status;                  /* gRPC status sent; -1 none yet */
    int err_code;                /* SL_* code of a failure, else SL_OK */
    int64_t start_us;            /* arrival, monotonic microseconds */
    struct sl_query_ids ids;     /* QueryServiceLogs ids, for the log */
    char request_id[SL_REQUEST_ID_MAX + 1]; /* x-request-id or generated */
    /* Streams on the health list (Watch, reflection), under its lock: */
    char watch_name[SL_HEALTH_NAME_MAX]; /* the watched service name */
    size_t watch_len;                    /* its length */
    enum sl_serving last_sent;           /* last status sent */
    bool watching;                       /* on the health watcher list */
    struct sl_call *watch_prev, *watch_next;
};

/* One worker thread: its own completion queue and store connection. */
struct sl_worker {
    struct sl_server *srv;     /* back pointer */
    grpc_server *server;       /* the gRPC server */
    void **methods;            /* registered handles, by enum sl_method */
    grpc_completion_queue *cq; /* owned; serves this worker's calls only */
    struct sl_store *store;    /* owned; used by this thread only */
    struct sl_health *health;  /* the server's (shared, locked) */
    const struct sl_reflection *reflection; /* the server's (immutable) */
    struct sl_auth *auth;  /* the server's tokens; NULL: auth off */
    atomic_int *in_flight; /* the server's QueryServiceLogs count */
    int max_in_flight;     /* beyond it: RESOURCE_EXHAUSTED */
    int query_timeout_ms;  /* backend time limit of a query */
    pthread_t thread;      /* running sl_worker_main */
    int slots;             /* QueryServiceLogs slots to keep posted */
};

/* Posts one request slot for method m; 0 on success. */
int sl_call_post(struct sl_worker *w, enum sl_method m);

/* Health changed or the server is draining: send a watcher what it has
 * not seen, or end its stream; end a reflection stream at the drain.
 * Called with the health lock held on calls of the health list. */
void sl_call_watch_kick(struct sl_call *c);

/* Thread body: serves w->cq until it is shut down and drained. */
void *sl_worker_main(void *arg);

#endif
