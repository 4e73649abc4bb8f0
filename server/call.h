/* call.h -- per-call state, typed tags and the worker loop
 *
 * Every pointer handed to gRPC as a tag is a struct sl_tag, embedded as the
 * first member of what it belongs to (a call, or the server's shutdown
 * notification). sl_worker_main() is the only code that reads ev.tag.
 */
#ifndef SL_CALL_H
#define SL_CALL_H

#include <pthread.h>

#include <grpc/grpc.h>

#include "store.h"

enum sl_tag_kind {
    SL_TAG_CALL,    /* owner is a struct sl_call */
    SL_TAG_SHUTDOWN /* owner is the struct sl_server */
};

struct sl_tag {
    enum sl_tag_kind kind;
    void *owner;
};

enum sl_call_state {
    SL_CALL_REQUESTED, /* slot posted, waiting for a client */
    SL_CALL_FINISHING  /* reply batch posted, waiting for it to complete */
};

enum sl_call_kind {
    SL_CALL_QUERY_LOGS, /* registered QueryServiceLogs */
    SL_CALL_UNKNOWN     /* any other method: answered UNIMPLEMENTED */
};

struct sl_worker;

/* One call from slot to completion. Owner: the worker that posted it;
 * freed in the state that follows its last batch. */
struct sl_call {
    struct sl_tag tag;           /* must be first */
    enum sl_call_state state;    /* where the call is */
    enum sl_call_kind kind;      /* which handler */
    struct sl_worker *worker;    /* owning worker (its cq and store) */
    grpc_call *call;             /* set by gRPC when a client arrives */
    gpr_timespec deadline;       /* registered calls: client deadline */
    grpc_call_details details;   /* unknown calls: method and host */
    grpc_metadata_array md_recv; /* client's initial metadata */
    grpc_byte_buffer *req;       /* registered calls: request payload */
    grpc_byte_buffer *resp;      /* reply, destroyed when sent */
    grpc_slice status_msg;       /* status details text */
    grpc_metadata trailer;       /* grpc-status-details-bin when failing */
    int cancelled;               /* from RECV_CLOSE_ON_SERVER */
};

/* One worker thread: its own completion queue and store connection. */
struct sl_worker {
    struct sl_server *srv;     /* back pointer */
    grpc_server *server;       /* the gRPC server */
    void *method_query_logs;   /* registered method handle */
    grpc_completion_queue *cq; /* owned; serves this worker's calls only */
    struct sl_store *store;    /* owned; used by this thread only */
    pthread_t thread;          /* running sl_worker_main */
    int slots;                 /* request slots to keep posted */
};

/* Posts one request slot of the given kind; 0 on success. */
int sl_call_post(struct sl_worker *w, enum sl_call_kind kind);

/* Thread body: serves w->cq until it is shut down and drained. */
void *sl_worker_main(void *arg);

#endif
