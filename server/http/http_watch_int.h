/* http_watch_int.h -- the REST watch's insides, shared by its two sources
 *
 * http_watch.c holds the hub and the event stream every SSE client gets
 * (states, the bytes not yet sent, suspend and resume, keepalives, the
 * hang-up poll, the stop) and the gRPC hop's source (a WatchServiceLogs
 * call per stream); http_watch_local.c the in-process source (a watcher
 * on the server's change feed). Not for other modules: http_watch.h is
 * the interface. The locking and ownership rules are at the top of
 * http_watch.c (the hub) and http_watch_local.c (the feed's part).
 */
#ifndef SL_HTTP_WATCH_INT_H
#define SL_HTTP_WATCH_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/slice.h>

#include <microhttpd.h>

#include "buf.h"
#include "error.h"
#include "feed.h"
#include "http_answer.h"
#include "http_route.h"
#include "modelarts/v1/service_logs.pb-c.h"

struct sl_http_local;    /* http_local.h */
struct sl_http_upstream; /* http_upstream.h */

/* Next message asked for (the hop) or taken off the feed (in-process)
 * only while fewer bytes wait for the client: a client that does not
 * read holds up its stream (the hop: gRPC's flow control then holds up
 * the server), and the feed ends a watcher that falls --watch-queue
 * messages behind. */
#define SL_WATCH_HIGH_WATER (256 * 1024)
#define SL_WATCH_BLOCK (16 * 1024) /* libmicrohttpd's read size */

enum sl_watch_state {
    SL_WATCH_WAITING,   /* call started (the hop: handler suspended) or
                           snapshot being read (in-process), no message */
    SL_WATCH_FAILED,    /* over before a message: err is the answer */
    SL_WATCH_STREAMING, /* the event stream is the answer */
    SL_WATCH_ENDED      /* no event after what out holds: then the end */
};

enum sl_watch_tag_kind {
    SL_WATCH_TAG_START,  /* send metadata, request, close; recv metadata */
    SL_WATCH_TAG_RECV,   /* one message */
    SL_WATCH_TAG_STATUS, /* the call's status */
};

struct sl_watch_tag {
    enum sl_watch_tag_kind kind;
    struct sl_watch_stream *s;
};

struct sl_watch_chan {
    grpc_channel *ch; /* NULL until a watch needs it */
    void *method;     /* WatchServiceLogs registered on ch */
    unsigned calls;   /* streams using it */
};

struct sl_http_watch {
    struct sl_http_upstream *upstream; /* makes the channels */
    struct sl_http_local *local;       /* in-process: the snapshot reads */
    struct sl_feed *feed;              /* in-process: the server's; NULL:
                                          the hop */
    pthread_mutex_t mu;                /* guards all below and the streams */
    pthread_cond_t gone;               /* a stream was freed */
    grpc_completion_queue *cq;         /* every watch call's events */
    pthread_t relay;                   /* reads cq; the timers */
    bool relay_started;
    struct sl_watch_stream *head; /* the streams, newest first */
    unsigned n;                   /* streams in the list */
    unsigned max;                 /* max_watchers */
    unsigned per_conn;            /* calls per channel */
    int64_t keepalive_ms;
    int first_ms;
    bool ending;                 /* end_all ran: refuse new watches */
    struct sl_watch_chan *chans; /* n_chans places, filled lazily */
    size_t n_chans;
    int64_t last_tick_ms;
    /* In-process, under the feed lock: the "log" event last rendered, for
     * the next watcher of the same change (same slice, same infer_type) */
    grpc_slice ev_msg; /* the change's packed message (a reference) */
    int ev_infer;      /* the infer_type it was rendered for */
    struct sl_buf ev;  /* its event bytes */
};

struct sl_watch_stream {
    struct sl_http_watch *w;
    struct sl_watch_stream *prev, *next; /* in w->head */
    unsigned refs;                       /* see the top */
    size_t chan;                         /* index in w->chans (the hop) */
    enum sl_watch_state state;
    struct MHD_Connection *conn; /* NULL once the request completed */
    int fd;                      /* conn's socket (hang-up poll); -1 */
    bool suspended;              /* by us, and not resumed yet */
    bool client_gone;            /* hung up: close, no more bytes */
    bool cancelled;              /* grpc_call_cancel done */
    bool recv_pending;           /* a RECV_MESSAGE batch in flight */
    bool status_in;              /* the status batch completed */
    grpc_call *call;
    struct sl_watch_tag t_start, t_recv, t_status;
    grpc_metadata md[2]; /* x-auth-token, x-request-id (values ours) */
    size_t n_md;
    grpc_byte_buffer *send_bb; /* the request */
    grpc_byte_buffer *recv_bb; /* the message being received */
    grpc_metadata_array init_md, trail_md;
    grpc_status_code status;
    grpc_slice details;
    int infer_type;    /* the snapshot's, for the log events */
    struct sl_buf out; /* event bytes; out_off of them handed out */
    size_t out_off;    /* (pending: out.len - out_off) */
    int64_t start_ms;  /* the call's start: the first message's clock */
    int64_t last_ms;   /* the last event or keepalive added */
    struct sl_err err; /* FAILED: the answer */
    const char *final; /* ModelArts code of the closing error event */
    /* In-process (http_watch_local.c), under the feed lock and mu: */
    struct sl_feed_watch fw; /* the feed's part (listed: fw.listed) */
    bool ready;              /* the snapshot is in out: kicks render */
    bool held;               /* changes wait in fw for out to drain */
};

/* ---- http_watch.c, for the in-process source (mu held unless said) ---- */

/* Bytes of s->out not handed out yet. */
static inline size_t sl__watch_pending(const struct sl_watch_stream *s)
{
    return s->out.len - s->out_off;
}

/* The hub's locks in their order: the feed's (in-process), then mu. */
void sl__watch_lock(struct sl_http_watch *w);
void sl__watch_unlock(struct sl_http_watch *w);

/* A new stream, WAITING, linked, with the request's reference; NULL when
 * refused (the hub ending, --http-max-watchers, no memory): *rc and err
 * say why. */
struct sl_watch_stream *sl__watch_stream_new(struct sl_http_watch *w, int *rc,
                                             struct sl_err *err);
/* Resumes s's connection if we suspended it. */
void sl__watch_wake(struct sl_watch_stream *s);
/* The closing "error" event of code and msg, then the end. */
void sl__watch_end_streaming(struct sl_watch_stream *s, int code,
                             const char *msg);
/* Out of memory rendering: the connection is closed. */
void sl__watch_broken(struct sl_watch_stream *s);
/* Renders one WatchServiceLogsResponse into out: WAITING, the snapshot
 * (then STREAMING); STREAMING, a log. */
void sl__watch_on_message(struct sl_watch_stream *s,
                          const Modelarts__V1__WatchServiceLogsResponse *m);

/* ---- http_watch_local.c ------------------------------------------------ */

/* sl_http_answer_watch in-process, the token checked: the snapshot read
 * on this worker, then the answer (no suspend). THREAD SAFETY: a
 * libmicrohttpd worker, for its request; no lock held. */
enum MHD_Result sl__watch_local_answer(struct MHD_Connection *conn,
                                       struct sl_req *rq,
                                       struct sl_http_watch *w,
                                       const char *token,
                                       const struct sl_route *rt);
/* Renders what waits in s->fw into out (up to SL_WATCH_HIGH_WATER
 * pending); the feed lock and mu held. */
void sl__watch_local_pull(struct sl_watch_stream *s);
/* s is being freed: unlists its watcher. The feed lock and mu held. */
void sl__watch_local_release(struct sl_watch_stream *s);
/* The hub stops: frees the rendered-event memory. No lock needed. */
void sl__watch_local_stop(struct sl_http_watch *w);

#endif
