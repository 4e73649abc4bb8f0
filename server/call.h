/* call.h -- per-call state, typed tags and the worker loop
 *
 * Every pointer handed to gRPC as a tag is a struct sl_tag, embedded in
 * what it belongs to: a call's main tag (its batches, one at a time), a
 * call's close tag (RECV_CLOSE_ON_SERVER of streaming calls), or the
 * server's shutdown notification. sl_worker_main() is the only code that
 * reads ev.tag.
 *
 * This is the engine the handlers of methods.h run on: it posts slots,
 * re-arms them, dispatches completions to the call's handler, counts,
 * logs and frees calls. It knows kinds of methods (unary, streaming, the
 * catch-all), never a method by name. The sl_call_* helpers below are
 * what a handler uses to answer.
 */
#ifndef SL_CALL_H
#define SL_CALL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <grpc/grpc.h>

#include "accesslog.h"
#include "error.h"
#include "methods.h"
#include "rpc.h"

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
    SL_CALL_REQUESTED, /* slot posted, waiting for a client */
    SL_CALL_ACTIVE,    /* the handler's: completions go to its step() */
    SL_CALL_FINISHING  /* the status batch is posted */
};

struct sl_worker;
struct sl_connguard;
struct sl_connguard_peer;
struct sl_health;
struct sl_feed;
struct sl_reflection;

/* One call from slot to completion. Owner: the worker that posted it;
 * freed when its last outstanding batch completes (pending drops to 0).
 * The list fields are guarded by the health lock (rpc_health.h). */
struct sl_call {
    struct sl_tag tag;                /* main batches; must be first */
    struct sl_tag close_tag;          /* RECV_CLOSE_ON_SERVER of streams */
    enum sl_call_state state;         /* where the call is */
    const struct sl_handler *handler; /* its row of methods.h */
    unsigned method;                  /* that row's index (metrics) */
    struct sl_worker *worker;         /* owning worker (its cq and store) */
    atomic_int pending;               /* batches posted, not completed */
    grpc_call *call;                  /* set by gRPC when a client arrives */
    gpr_timespec deadline;            /* registered calls: client deadline */
    grpc_call_details details;        /* catch-all: method and host */
    grpc_metadata_array md_recv;      /* client's initial metadata */
    grpc_byte_buffer *req;            /* unary/server-streaming payload */
    grpc_byte_buffer *recv;           /* bidi streams: last message read */
    grpc_byte_buffer *resp;           /* reply, destroyed when sent */
    grpc_slice status_msg;            /* status details text */
    grpc_metadata trailer;            /* grpc-status-details-bin */
    int cancelled;                    /* from RECV_CLOSE_ON_SERVER */
    bool counted;                     /* holds one of worker->in_flight */
    int status;                       /* gRPC status sent; -1 none yet */
    int err_code;                     /* SL_* code of a failure, or SL_OK */
    int64_t start_us;                 /* arrival, sl_clock_us() */
    size_t reply_bytes;               /* charged to worker->inflight_bytes */
    int64_t send_due_ms;              /* on the worker's sending list
                                         (under its lock): cancelled if not
                                         sent by then; 0: not on it */
    bool send_listed;                 /* was put on it (owner thread) */
    bool send_expired;                /* it was (--send-timeout) */
    struct sl_call *send_prev, *send_next; /* the worker's sending list */
    bool answered;                         /* counted in worker->answered */
    struct sl_connguard_peer *guard_peer;  /* answered, counted there */
    char *peer; /* gpr_malloc'd peer string, kept for the log (a reset
                   call: gRPC forgets it once the call is cancelled) */
    struct sl_query_ids ids;                /* project/service, for the log */
    char request_id[SL_REQUEST_ID_MAX + 1]; /* x-request-id or generated */
    void *data; /* the handler's; freed by release */
    /* On the health list (rpc_health.h), under its lock: */
    bool listed;
    struct sl_call *list_prev, *list_next;
};

/* One worker thread: its own completion queue and store connection, and
 * the server's shared state its handlers use. */
struct sl_worker {
    struct sl_server *srv;     /* back pointer */
    grpc_server *server;       /* the gRPC server */
    void **registered;         /* gRPC handles, by row of sl_methods */
    grpc_completion_queue *cq; /* owned; serves this worker's calls only */
    struct sl_store *store;    /* owned; used by this thread only */
    struct sl_health *health;  /* the server's (shared, locked) */
    struct sl_feed *feed;      /* the server's change feed (feed.h) */
    const struct sl_reflection *reflection; /* the server's (immutable) */
    struct sl_auth *auth;         /* the server's tokens; NULL: auth off */
    atomic_int *in_flight;        /* the server's count of admitted calls */
    int max_in_flight;            /* beyond it: RESOURCE_EXHAUSTED */
    int query_timeout_ms;         /* backend time limit of a query */
    atomic_llong *inflight_bytes; /* the server's reply bytes not yet sent */
    long long max_inflight_bytes; /* beyond them: RESOURCE_EXHAUSTED */
    size_t max_response_bytes;    /* a larger reply: SL_ETOOBIG */
    int send_timeout_ms;          /* an unread reply is cancelled then */
    pthread_mutex_t sending_mu;   /* guards the sending list: this worker
                                     and the server's reaper thread */
    struct sl_call *sending, *sending_tail; /* replies posted, oldest first */
    atomic_int active; /* calls accepted and not yet done here */
    atomic_int posted; /* slots posted and not yet handled here (a slot
                          gRPC matched to a call counts until the worker
                          takes the call); both are read by the stop
                          sequence: is anything left to do? */
    pthread_t thread;  /* running sl_worker_main */
    int slots;         /* slots to keep posted for rows with slots 0 */
    /* The server's connection guard (connguard.h); answers posted here and
     * not complete; past guard_from of them (one connection's stream
     * cap) answers are counted by connection too. */
    struct sl_connguard *guard;
    atomic_int answered;
    int guard_from;
};

/* Posts one request slot for row `method` of sl_methods; 0 on success. */
int sl_call_post(struct sl_worker *w, unsigned method);

/* Thread body: serves w->cq until it is shut down and drained. */
void *sl_worker_main(void *arg);

/* Cancels w's replies that their clients have not read by now_ms
 * (--send-timeout). Called by the server's reaper thread, a few times a
 * second; takes w->sending_mu. */
void sl_worker_expire_replies(struct sl_worker *w, int64_t now_ms);

/* ---- for handlers ------------------------------------------------------ */

/* Shedding: takes one of the server's in-flight places (given back when
 * the call ends). False when the server is full: err is then set to
 * SL_EOVERLOAD and the handler should finish with it. */
bool sl_call_admit(struct sl_call *c, struct sl_err *err);

/* The shedding rule itself, shared by every transport of a query (the
 * gRPC handler above, the REST shim's in-process path, http_local.h), so
 * that --max-concurrent-calls bounds them together: takes one place of
 * *in_flight whatever the answer -- the caller gives it back
 * (sl_admit_release) when its call ends, refused or not -- and returns
 * true when fewer than max were taken before it; false with err set to
 * SL_EOVERLOAD ("server overloaded: MAX calls in flight; retry later").
 * THREAD SAFETY: any thread (one atomic add). */
bool sl_admit(atomic_int *in_flight, int max, struct sl_err *err);
void sl_admit_release(atomic_int *in_flight);

/* The --max-response-bytes rule of a unary answer, shared the same way
 * (sl_call_finish_unary applies it): true when an answer of len bytes
 * may be sent, else false with err set to SL_ETOOBIG naming both sizes.
 * THREAD SAFETY: reentrant. */
bool sl_reply_fits(size_t len, size_t max, struct sl_err *err);

/* Unary answer: one batch with initial metadata, msg (NULL: none; the
 * caller keeps its ref), the status (rc; err's text and ErrorInfo when it
 * fails) and RECV_CLOSE_ON_SERVER. The call is then FINISHING. */
void sl_call_finish_unary(struct sl_call *c, int rc, const struct sl_err *err,
                          grpc_slice *msg);

/* Stream end: the status batch alone (sl_call_post_close() was posted). */
void sl_call_finish_stream(struct sl_call *c, int rc, const struct sl_err *err);

/* Posts RECV_CLOSE_ON_SERVER on the close tag (handler's closed()). */
void sl_call_post_close(struct sl_call *c);

/* Posts ops on the main tag; its completion goes to the handler's step().
 * 0, or -1 when gRPC refused the batch (logged). */
int sl_call_post_batch(struct sl_call *c, const grpc_op *ops, size_t n);

/* The whole message in bb as one slice (empty for NULL); caller unrefs. */
grpc_slice sl_call_payload(grpc_byte_buffer *bb);

/* The value of the client's metadata key (not NUL-terminated), "" and 0
 * when absent. Points into c->md_recv. */
void sl_call_metadata(const struct sl_call *c, const char *key,
                      const char **val, size_t *len);

/* The call's deadline as sl_clock_us() microseconds: the client's, capped
 * by the server's query timeout. */
int64_t sl_call_deadline_us(const struct sl_call *c);

#endif
