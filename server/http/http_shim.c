/* http_shim.c -- the REST shim: libmicrohttpd in front of one gRPC channel
 *
 * Threading: libmicrohttpd runs `threads` worker threads (epoll, one
 * internal polling thread each); every request is handled start to finish
 * on the worker that read it. A request that reaches the upstream makes
 * one synchronous unary call: one batch of all six ops, then
 * grpc_completion_queue_pluck() on that worker's own pluck completion
 * queue, created on the worker's first call and destroyed by a
 * pthread-key destructor when the worker exits (in MHD_stop_daemon). A
 * worker thus has at most one call in flight; `threads` bounds the
 * upstream concurrency. The grpc_channel and its registered method are
 * shared by all workers (gRPC channels are thread-safe); nothing else is
 * shared but the in-flight counter and the log rate limiter (atomics)
 * and the connection list of the request deadlines (below).
 * One more thread, the channel watcher (watch_main), keeps the channel
 * connecting while no request is waiting on it; another, the sweeper
 * (sweep_main), enforces the request deadlines.
 *
 * Ownership: struct sl_shim owns the daemon, the channel, the watcher,
 * the sweeper, the connection list and the pthread key. The listen socket is
 * bound here; a running daemon owns it (and would close it in MHD_stop_daemon)
 * until MHD_quiesce_daemon() hands it back at stop; it is then closed after
 * MHD_stop_daemon. Per request: the protobuf-c response is freed before the
 * handler returns; the JSON body's memory moves to libmicrohttpd
 * (MHD_RESPMEM_MUST_FREE), which frees it after sending. Every request owns a
 * struct sl_req
 * (*req_cls: its start time, request id and outcome), allocated when its
 * headers are in and freed in on_completed(), which also writes its
 * access line and records its metrics: so the duration runs until the
 * response is sent (or the connection dropped: status 0).
 *
 * Health and metrics: /healthz asks the upstream's grpc.health.v1 Check
 * over the same channel (a second registered method), so it reports what
 * gRPC clients see; /metrics renders the process-wide metrics.h state.
 *
 * TLS (http_shim.h has the rules): the PEM texts libmicrohttpd serves
 * HTTPS with are read and checked by tls.c and owned by struct sl_shim
 * until the daemon is stopped (libmicrohttpd keeps the pointers). Mutual
 * TLS is enforced in the handshake: on_connection() runs for each new
 * connection after libmicrohttpd made its GnuTLS session and before the
 * handshake, and turns libmicrohttpd's GNUTLS_CERT_REQUEST into
 * GNUTLS_CERT_REQUIRE with verification (gnutls_session_set_verify_cert2).
 * on_request() checks the verification again before a connection's
 * every request and closes the connection when it is missing.
 *
 * Request deadlines (http_shim.h has the rules). libmicrohttpd has no
 * deadline for receiving a request, only an idle timeout that every byte
 * restarts, so the shim keeps its own: every connection has a struct
 * sl_conn (its socket_context) holding its socket and due_ms, the
 * CLOCK_MONOTONIC time by which its request must be in (0: none). The
 * worker that owns the connection sets due_ms: on_connection() at
 * MHD_CONNECTION_NOTIFY_STARTED (accept + header_ms), request_in() once a
 * request is in (0), on_completed() after a response (now + idle + header
 * timeout). The sweeper wakes every SL_SHIM_SWEEP_MS, walks the list and
 * shuts down (shutdown(2), SHUT_RDWR) the socket of every connection past
 * its due_ms; libmicrohttpd, woken by the hang-up, then closes and frees
 * the connection itself, on its own thread, as for a client that left.
 * The sweeper never touches a struct MHD_Connection, only the descriptor.
 * Locking and races:
 * - s->conns and every sl_conn's list links are guarded by conns_lock;
 *   an sl_conn is inserted at STARTED and unlinked and freed at CLOSED,
 *   both on its worker thread, under the lock. due_ms is an atomic: the
 *   worker stores it, the sweeper reads it (under the lock, so the
 *   sl_conn is alive) and claims an expired one with compare-and-swap to
 *   0, so a request completing at the deadline either wins (the
 *   connection is kept) or loses (it is closed; the request is dropped
 *   with the connection, as when its client leaves).
 * - Descriptor reuse: shutdown() on a descriptor that was closed and
 *   reused would hit an unrelated socket. The sweeper calls shutdown()
 *   only under conns_lock, on listed connections. libmicrohttpd 0.9.75
 *   calls the CLOSED notification before it closes the socket (daemon.c:
 *   MHD_cleanup_connections() notifies, then MHD_socket_close_chk_();
 *   new_connection_process_()'s failure path likewise), and CLOSED waits
 *   for the lock to unlink; so a listed connection's socket is still open
 *   and still its own. Re-check this order when libmicrohttpd changes.
 * - A connection whose sl_conn cannot be allocated is shut down at once:
 *   untracked, it would have no deadline.
 * - At stop, MHD_stop_daemon() closes every connection (CLOSED for each),
 *   then the sweeper is joined; the list is empty by then.
 *
 * Why the socket is bound here rather than by MHD_OPTION_SOCK_ADDR:
 * libmicrohttpd does not report why its bind failed (errno is not part of
 * its API), and the operator needs "Address already in use".
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "http_shim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>

#include "accesslog.h"
#include "buf.h"
#include "grpc/health/v1/health.pb-c.h"
#include "log.h"
#include "metrics.h"
#include "modelarts/v1/service_logs.pb-c.h"
#include "render_json.h"
#include "status.h"
#include "validate.h"

#define SL_SHIM_METHOD "/modelarts.v1.ServiceLogs/QueryServiceLogs"
#define SL_SHIM_PATH "/v1/{project_id}/services/{service_id}/logs"
#define SL_SHIM_CONTENT_TYPE "application/json; charset=utf-8"
#define SL_SHIM_HEALTH_METHOD "/grpc.health.v1.Health/Check"
#define SL_SHIM_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define SL_SHIM_LOG_PATH_MAX 1024 /* bytes of the path kept for the log */
#define SL_SHIM_BACKLOG 511
#define SL_SHIM_WATCH_MS 250 /* channel watcher wake-up; bounds stop time */

struct sl_shim {
    struct MHD_Daemon *daemon; /* NULL until started */
    int listen_fd;             /* ours to close; -1 when none or while
                                  the running daemon owns it */
    int port;                  /* the bound TCP port */
    grpc_channel *channel;     /* to cfg->upstream, shared by all workers */
    void *method;              /* grpc_channel_register_call() handle */
    void *health_method;       /* the same, for Health/Check */
    pthread_key_t cq_key;      /* a worker's pluck completion queue */
    bool cq_key_made;          /* cq_key exists (for cleanup) */
    bool grpc_inited;          /* grpc_init() was called (for cleanup) */
    grpc_completion_queue *watch_cq; /* the channel watcher's queue */
    pthread_t watcher;               /* keeps the channel connecting */
    bool watcher_started;            /* watcher exists (for cleanup) */
    pthread_t sweeper;               /* enforces the request deadlines */
    bool sweeper_started;            /* sweeper exists (for cleanup) */
    pthread_mutex_t conns_lock;      /* guards conns (see the top) */
    bool conns_lock_made;            /* conns_lock exists (for cleanup) */
    struct sl_conn *conns;           /* every open connection */
    int64_t header_ms;               /* request deadline after accept */
    int64_t next_ms;                 /* the same after a response */
    atomic_bool stopping;            /* tells watcher and sweeper to exit */
    int timeout_ms;                  /* upstream deadline per call */
    size_t max_body;                 /* request body bytes dropped at most */
    size_t max_token;                /* longest X-Auth-Token forwarded */
    atomic_int in_flight;            /* requests begun and not yet completed */
    atomic_llong last_warn_s;        /* second of the last upstream warning */
    atomic_llong last_tls_warn_s;    /* the same, failed TLS handshakes */
    char upstream[256];              /* for log lines */
    struct sl_tls_pem https;         /* HTTPS cert, key, client CA (PEM);
                                        all NULL: plain HTTP */
};

/* One connection, from MHD_CONNECTION_NOTIFY_STARTED to _CLOSED (its
 * socket_context), for its request deadline. Owner: the list s->conns;
 * freed in the CLOSED notification. */
struct sl_conn {
    struct sl_conn *prev;         /* in s->conns, under s->conns_lock */
    struct sl_conn *next;         /* the same */
    int fd;                       /* the TCP socket; open while listed */
    atomic_llong due_ms;          /* CLOCK_MONOTONIC ms by which a request
                                     must be in; 0: none (one is in) */
    struct sockaddr_storage peer; /* the client's address, for the log */
};

/* State of one request, from its headers to on_completed(): what its
 * access line and metrics need. Owner: the request (*req_cls). */
struct sl_req {
    uint64_t start_ns;        /* CLOCK_MONOTONIC when the headers were in */
    size_t body_bytes;        /* read and dropped so far */
    bool body_expected;       /* the headers announced a body */
    enum sl_http_route route; /* what the path matched */
    int status;               /* HTTP status queued; 0: none (yet) */
    const char *error_code;   /* ModelArts code of a failure (static) */
    char method[16];          /* as sent, cut */
    char project_id[SL_ID_MAX + 1]; /* "" unless the logs route matched */
    char service_id[SL_ID_MAX + 1];
    char request_id[SL_REQUEST_ID_MAX + 1]; /* the client's or ours */
    char path[SL_SHIM_LOG_PATH_MAX + 1];    /* as sent, cut */
};

/* The body of any answer when rendering the real one ran out of memory. */
static const char sl_oom_body[] =
    "{\"error_code\":\"ModelArts.0010\",\"error_msg\":\"out of memory\"}\n";

/* ---- routing (pure) ---------------------------------------------------- */

static bool seg_is(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

static bool method_ok(const char *method)
{
    return method &&
           (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0);
}

/* Matches path[0..n) against /healthz, /metrics and
 * /v1/{p}/services/{s}/logs, then the method, then the ids. */
static int route_path(const char *method, const char *path, size_t n,
                      struct sl_route *out, struct sl_err *err)
{
    const char *seg[5];
    size_t len[5];
    size_t k = 0;
    const char *end = path + n;

    if (seg_is(path, n, "/healthz") || seg_is(path, n, "/metrics")) {
        out->route =
            path[1] == 'h' ? SL_HTTP_ROUTE_HEALTHZ : SL_HTTP_ROUTE_METRICS;
        if (!method_ok(method))
            return sl_err_set(err, SL_EMETHOD,
                              "method not allowed: %s accepts GET and HEAD",
                              path[1] == 'h' ? "/healthz" : "/metrics");
        out->head = strcmp(method, "HEAD") == 0;
        return SL_OK;
    }
    if (n == 0 || path[0] != '/')
        goto no_route;
    for (const char *s = path + 1;;) {
        const char *slash = memchr(s, '/', (size_t)(end - s));
        const char *e = slash ? slash : end;
        if (k == 5)
            goto no_route; /* extra segments, trailing slash */
        seg[k] = s;
        len[k] = (size_t)(e - s);
        k++;
        if (!slash)
            break;
        s = slash + 1;
    }
    if (k != 5 || !seg_is(seg[0], len[0], "v1") ||
        !seg_is(seg[2], len[2], "services") || !seg_is(seg[4], len[4], "logs"))
        goto no_route;

    out->route = SL_HTTP_ROUTE_LOGS;
    if (!method_ok(method))
        return sl_err_set(err, SL_EMETHOD,
                          "method not allowed: " SL_SHIM_PATH
                          " accepts GET and HEAD");
    int rc = sl_validate_query(seg[1], len[1], seg[3], len[3], 0, err);
    if (rc != SL_OK)
        return rc;
    out->project_id = seg[1];
    out->project_len = len[1];
    out->service_id = seg[3];
    out->service_len = len[3];
    out->head = strcmp(method, "HEAD") == 0;
    return SL_OK;

no_route:
    out->route = SL_HTTP_ROUTE_OTHER;
    return sl_err_set(err, SL_ENOROUTE,
                      "no such API: the REST API is GET " SL_SHIM_PATH);
}

/* The update_time rule on value[0..len) (value NULL: present without '='). */
static int route_update_time(bool present, const char *value, size_t len,
                             int64_t *out, struct sl_err *err)
{
    char tmp[24]; /* INT64_MAX has 19 digits; longer is invalid anyway */

    *out = 0;
    if (!present)
        return SL_OK;
    if (!value || len >= sizeof(tmp))
        return sl_parse_update_time("", out, err); /* the rule's message */
    memcpy(tmp, value, len);
    tmp[len] = '\0';
    return sl_parse_update_time(tmp, out, err);
}

int sl_shim_route_update_time(bool present, const char *value, int64_t *out,
                              struct sl_err *err)
{
    return route_update_time(present, value, value ? strlen(value) : 0, out,
                             err);
}

int sl_shim_route(const char *method, const char *url, struct sl_route *out,
                  struct sl_err *err)
{
    int rc;
    bool present = false;
    const char *value = NULL;
    size_t value_len = 0;

    memset(out, 0, sizeof(*out));
    if (!url)
        url = "";
    size_t path_len = strcspn(url, "?");
    rc = route_path(method, url, path_len, out, err);
    if (rc != SL_OK)
        goto fail;
    if (out->route != SL_HTTP_ROUTE_LOGS)
        return SL_OK; /* the query is ignored */

    /* The first update_time=... among the '&'-separated parameters. */
    for (const char *q = url[path_len] ? url + path_len + 1 : NULL; q;) {
        const char *amp = strchr(q, '&');
        size_t n = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', n);
        size_t key_len = eq ? (size_t)(eq - q) : n;
        if (seg_is(q, key_len, "update_time")) {
            present = true;
            if (eq) {
                value = eq + 1;
                value_len = n - key_len - 1;
            }
            break;
        }
        q = amp ? amp + 1 : NULL;
    }
    rc = route_update_time(present, value, value_len, &out->update_time, err);
    if (rc != SL_OK)
        goto fail;
    return SL_OK;

fail:;
    enum sl_http_route route = out->route;
    memset(out, 0, sizeof(*out));
    out->route = route;
    return rc;
}

/* ---- responses --------------------------------------------------------- */

/* Queues body (its memory moves to libmicrohttpd; *body is left empty)
 * with content_type, X-Request-Id, and Allow when allow is set; notes
 * status and error_code (static, NULL on success) in rq for the access
 * line. */
static enum MHD_Result respond(struct MHD_Connection *conn, struct sl_req *rq,
                               unsigned int status, struct sl_buf *body,
                               const char *content_type, bool allow,
                               const char *error_code)
{
    struct MHD_Response *r;

    if (body->oom || !body->data) {
        sl_buf_free(body);
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        content_type = SL_SHIM_CONTENT_TYPE;
        allow = false;
        error_code = sl_err_mcode(SL_ENOMEM);
        r = MHD_create_response_from_buffer(sizeof(sl_oom_body) - 1,
                                            (void *)sl_oom_body,
                                            MHD_RESPMEM_PERSISTENT);
    } else {
        r = MHD_create_response_from_buffer(body->len, body->data,
                                            MHD_RESPMEM_MUST_FREE);
        if (!r)
            sl_buf_free(body);
        else
            sl_buf_init(body); /* the memory is MHD's now */
    }
    if (!r)
        return MHD_NO;
    enum MHD_Result ret = MHD_NO;
    if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                content_type) == MHD_YES &&
        MHD_add_response_header(r, "X-Request-Id", rq->request_id) == MHD_YES &&
        (!allow || MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW,
                                           "GET, HEAD") == MHD_YES))
        ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    if (ret == MHD_YES) {
        rq->status = (int)status;
        rq->error_code = error_code;
    }
    return ret;
}

static enum MHD_Result respond_error(struct MHD_Connection *conn,
                                     struct sl_req *rq, int code,
                                     const char *msg)
{
    struct sl_buf b;
    sl_buf_init(&b);
    sl_render_error_json(code, msg, &b);
    return respond(conn, rq, (unsigned int)sl_err_to_http(code), &b,
                   SL_SHIM_CONTENT_TYPE, code == SL_EMETHOD,
                   sl_err_mcode(code));
}

/* ---- upstream ---------------------------------------------------------- */

static void cq_destroy(void *p)
{
    grpc_completion_queue_shutdown(p);
    grpc_completion_queue_destroy(p);
}

/* The calling worker's pluck queue, created on first use; NULL on ENOMEM. */
static grpc_completion_queue *worker_cq(struct sl_shim *s)
{
    grpc_completion_queue *cq = pthread_getspecific(s->cq_key);
    if (cq)
        return cq;
    cq = grpc_completion_queue_create_for_pluck(NULL);
    if (cq && pthread_setspecific(s->cq_key, cq) != 0) {
        cq_destroy(cq);
        cq = NULL;
    }
    return cq;
}

/* True at most once a second per *last_s (the second of the last true). */
static bool once_a_second(atomic_llong *last_s)
{
    long long now = (long long)time(NULL);
    long long last = atomic_load_explicit(last_s, memory_order_relaxed);
    return now != last && atomic_compare_exchange_strong(last_s, &last, now);
}

/* At most one warning per second about upstream failures, so an outage
 * does not turn every request into a log line. */
static bool warn_now(struct sl_shim *s)
{
    return once_a_second(&s->last_warn_s);
}

/* Printable ASCII only: what gRPC accepts in a non-binary metadata value. */
static bool md_value_ok(const char *v, size_t max)
{
    size_t i = 0;
    for (; v[i]; i++)
        if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7E ||
            i >= max)
            return false;
    return i > 0;
}

/* The ErrorInfo.reason inside a grpc-status-details-bin trailer, copied to
 * reason ("" when there is none); also the google.rpc.Status message to
 * msg when msg is still empty. */
static void status_details(const grpc_metadata_array *trail, char *reason,
                           size_t reason_size, char *msg, size_t msg_size)
{
    reason[0] = '\0';
    for (size_t i = 0; i < trail->count; i++) {
        const grpc_metadata *m = &trail->metadata[i];
        if (grpc_slice_str_cmp(m->key, SL_STATUS_DETAILS_KEY) == 0) {
            sl_status_details_reason(GRPC_SLICE_START_PTR(m->value),
                                     GRPC_SLICE_LENGTH(m->value), reason,
                                     reason_size, msg, msg_size);
            return;
        }
    }
}

/* Turns a non-OK upstream status into the error to answer with. */
static int upstream_error(struct sl_shim *s, grpc_status_code status,
                          grpc_slice details, const grpc_metadata_array *trail,
                          struct sl_err *err)
{
    char reason[64];
    char msg[SL_ERR_MSG_LEN];
    size_t n = GRPC_SLICE_LENGTH(details);

    if (n >= sizeof(msg))
        n = sizeof(msg) - 1;
    memcpy(msg, GRPC_SLICE_START_PTR(details), n);
    msg[n] = '\0';
    status_details(trail, reason, sizeof(reason), msg, sizeof(msg));
    int code = sl_err_from_grpc((int)status, reason[0] ? reason : NULL);
    if (reason[0]) /* from our server: its message is for the client */
        return sl_err_set(err, code, "%s", msg[0] ? msg : sl_strerror(code));

    if (warn_now(s))
        sl_log(SL_LOG_WARN, "shim: upstream %s: gRPC status %d: %s",
               s->upstream, (int)status, msg);
    switch (code) {
    case SL_EUNAVAIL:
        return sl_err_set(err, code,
                          "the query service is unavailable; try again later");
    case SL_ETIMEOUT:
        return sl_err_set(err, code,
                          "the query service did not answer within %d ms",
                          s->timeout_ms);
    default:
        return sl_err_set(err, code, "%s (from the query service)",
                          sl_strerror(code));
    }
}

/* Unpacks a received message of type d; NULL when malformed or out of
 * memory. The caller frees it with protobuf_c_message_free_unpacked(). */
static ProtobufCMessage *unpack_message(const ProtobufCMessageDescriptor *d,
                                        grpc_byte_buffer *bb)
{
    ProtobufCMessage *msg = NULL;

    /* Fast path: one uncompressed slice (the usual case), no copy. */
    if (bb->type == GRPC_BB_RAW &&
        bb->data.raw.compression == GRPC_COMPRESS_NONE &&
        bb->data.raw.slice_buffer.count == 1) {
        grpc_slice one = bb->data.raw.slice_buffer.slices[0];
        return protobuf_c_message_unpack(d, NULL, GRPC_SLICE_LENGTH(one),
                                         GRPC_SLICE_START_PTR(one));
    }
    grpc_byte_buffer_reader rd;
    if (!grpc_byte_buffer_reader_init(&rd, bb))
        return NULL;
    grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
    grpc_byte_buffer_reader_destroy(&rd);
    msg = protobuf_c_message_unpack(d, NULL, GRPC_SLICE_LENGTH(all),
                                    GRPC_SLICE_START_PTR(all));
    grpc_slice_unref(all);
    return msg;
}

/* One unary call of the registered method with the packed request
 * wire[0..n), x-request-id request_id and (when not NULL) x-auth-token
 * token. SL_OK and *out, the answer unpacked as a resp_type (the caller
 * frees it with protobuf_c_message_free_unpacked), or the error to answer
 * with and *out NULL. */
static int upstream_call(struct sl_shim *s, void *method, const uint8_t *wire,
                         size_t n, const char *token, const char *request_id,
                         const ProtobufCMessageDescriptor *resp_type,
                         ProtobufCMessage **out, struct sl_err *err)
{
    grpc_metadata md[2];
    size_t nmd = 0;
    grpc_byte_buffer *send_bb = NULL;
    grpc_byte_buffer *recv_bb = NULL;
    grpc_metadata_array init_md;
    grpc_metadata_array trail_md;
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    grpc_call *call = NULL;
    int rc;

    *out = NULL;
    grpc_metadata_array_init(&init_md);
    grpc_metadata_array_init(&trail_md);

    grpc_completion_queue *cq = worker_cq(s);
    if (!cq) {
        rc = sl_err_set(err, SL_ENOMEM, "cannot create a completion queue");
        goto out;
    }

    grpc_slice payload = grpc_slice_from_copied_buffer((const char *)wire, n);
    send_bb = grpc_raw_byte_buffer_create(&payload, 1);
    grpc_slice_unref(payload);

    if (token) {
        md[nmd].key = grpc_slice_from_static_string("x-auth-token");
        md[nmd].value = grpc_slice_from_copied_string(token);
        nmd++;
    }
    md[nmd].key = grpc_slice_from_static_string("x-request-id");
    md[nmd].value = grpc_slice_from_copied_string(request_id);
    nmd++;

    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                     gpr_time_from_millis(s->timeout_ms, GPR_TIMESPAN));
    call = grpc_channel_create_registered_call(
        s->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method, deadline, NULL);
    if (!call) {
        rc = sl_err_set(err, SL_EINTERNAL, "cannot create an upstream call");
        goto out;
    }

    grpc_op ops[6];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = nmd;
    ops[0].data.send_initial_metadata.metadata = md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send_bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &init_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &recv_bb;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trail_md;
    ops[5].data.recv_status_on_client.status = &status;
    ops[5].data.recv_status_on_client.status_details = &details;

    void *tag = &ops; /* unique among this queue's (one) pending batch */
    grpc_call_error ce = grpc_call_start_batch(call, ops, 6, tag, NULL);
    if (ce != GRPC_CALL_OK) {
        rc = sl_err_set(err, SL_EINTERNAL,
                        "cannot start the upstream call (error %d)", (int)ce);
        goto out;
    }
    /* The call's deadline bounds the wait. */
    grpc_event ev = grpc_completion_queue_pluck(
        cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type != GRPC_OP_COMPLETE || !ev.success) {
        rc = sl_err_set(err, SL_EINTERNAL, "the upstream call failed");
        goto out;
    }

    if (status != GRPC_STATUS_OK) {
        rc = upstream_error(s, status, details, &trail_md, err);
        goto out;
    }
    if (!recv_bb) {
        rc = sl_err_set(err, SL_EINTERNAL,
                        "the query service answered without a message");
        goto out;
    }
    *out = unpack_message(resp_type, recv_bb);
    if (!*out) {
        rc = sl_err_set(err, SL_EINTERNAL,
                        "the query service sent a malformed answer");
        goto out;
    }
    rc = SL_OK;

out:
    if (call)
        grpc_call_unref(call);
    for (size_t i = 0; i < nmd; i++)
        grpc_slice_unref(md[i].value);
    if (send_bb)
        grpc_byte_buffer_destroy(send_bb);
    if (recv_bb)
        grpc_byte_buffer_destroy(recv_bb);
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&init_md);
    grpc_metadata_array_destroy(&trail_md);
    return rc;
}

/* One QueryServiceLogs call. SL_OK and *out (the caller frees it with
 * modelarts__v1__query_service_logs_response__free_unpacked), or the error
 * to answer with and *out NULL. token: NULL when absent. */
static int upstream_query(struct sl_shim *s, const struct sl_route *rt,
                          const char *token, const char *request_id,
                          Modelarts__V1__QueryServiceLogsResponse **out,
                          struct sl_err *err)
{
    char project[SL_ID_MAX + 1];
    char service[SL_ID_MAX + 1];
    uint8_t wire[2 * (SL_ID_MAX + 2) + 16]; /* two ids and an int64 */
    Modelarts__V1__QueryServiceLogsRequest req =
        MODELARTS__V1__QUERY_SERVICE_LOGS_REQUEST__INIT;
    ProtobufCMessage *msg = NULL;

    memcpy(project, rt->project_id, rt->project_len);
    project[rt->project_len] = '\0';
    memcpy(service, rt->service_id, rt->service_len);
    service[rt->service_len] = '\0';
    req.project_id = project;
    req.service_id = service;
    req.update_time = rt->update_time;
    size_t n = modelarts__v1__query_service_logs_request__pack(&req, wire);
    int rc = upstream_call(
        s, s->method, wire, n, token, request_id,
        &modelarts__v1__query_service_logs_response__descriptor, &msg, err);
    *out = (Modelarts__V1__QueryServiceLogsResponse *)msg;
    return rc;
}

/* ---- mutual TLS --------------------------------------------------------- */

/* What a client certificate must be fit for (extendedKeyUsage clientAuth,
 * or no extendedKeyUsage). GnuTLS only reads it. */
static gnutls_typed_vdata_st sl_client_purpose[] = {
    {GNUTLS_DT_KEY_PURPOSE_OID, (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT, 0},
};

static gnutls_session_t tls_session(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    return ci ? (gnutls_session_t)ci->tls_session : NULL;
}

/* A new connection (mutual TLS only; from on_connection()): its handshake
 * must bring a client certificate that verifies against the trust (the
 * client CA given to libmicrohttpd) for client authentication, or fail. */
static void require_client_cert(struct MHD_Connection *conn)
{
    gnutls_session_t sess = tls_session(conn);
    if (!sess)
        return; /* on_request() refuses its requests */
    gnutls_certificate_server_set_request(sess, GNUTLS_CERT_REQUIRE);
    gnutls_session_set_verify_cert2(
        sess, sl_client_purpose,
        sizeof(sl_client_purpose) / sizeof(sl_client_purpose[0]), 0);
}

/* Whether the connection's client certificate was verified. */
static bool client_verified(struct MHD_Connection *conn)
{
    unsigned int status = 0;
    gnutls_session_t sess = tls_session(conn);

    if (!sess)
        return false;
    if (gnutls_session_get_verify_cert_status(sess) == 0)
        return true; /* verified in the handshake (on_connection) */
    /* No verification ran in this handshake (a resumed session would
     * skip it): verify the peer's chain now. */
    return gnutls_certificate_verify_peers2(sess, &status) == 0 && status == 0;
}

/* ---- request handling -------------------------------------------------- */

/* Routes a request as libmicrohttpd split it: the path in url (not
 * unescaped, see unescape_none) and update_time among the arguments. */
static int route_request(struct MHD_Connection *conn, const char *method,
                         const char *url, struct sl_route *rt,
                         struct sl_err *err)
{
    const char *value = NULL;
    size_t value_len = 0;

    int rc = sl_shim_route(method, url, rt, err);
    if (rc != SL_OK || rt->route != SL_HTTP_ROUTE_LOGS)
        return rc;
    bool present = MHD_lookup_connection_value_n(
                       conn, MHD_GET_ARGUMENT_KIND, "update_time",
                       strlen("update_time"), &value, &value_len) == MHD_YES;
    rc = route_update_time(present, value, value_len, &rt->update_time, err);
    if (rc != SL_OK) {
        memset(rt, 0, sizeof(*rt));
        rt->route = SL_HTTP_ROUTE_LOGS;
    }
    return rc;
}

static enum MHD_Result answer_query(struct sl_shim *s,
                                    struct MHD_Connection *conn,
                                    struct sl_req *rq,
                                    const struct sl_route *rt)
{
    struct sl_err err;
    Modelarts__V1__QueryServiceLogsResponse *resp = NULL;
    const char *token =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Auth-Token");

    sl_err_clear(&err);
    memcpy(rq->project_id, rt->project_id, rt->project_len);
    rq->project_id[rt->project_len] = '\0';
    memcpy(rq->service_id, rt->service_id, rt->service_len);
    rq->service_id[rt->service_len] = '\0';
    if (token && !*token)
        token = NULL; /* an empty header is no token */
    if (token && strlen(token) > s->max_token)
        return respond_error(conn, rq, SL_EBADTOKEN,
                             "X-Auth-Token is longer than any valid token");
    if (token && !md_value_ok(token, s->max_token))
        return respond_error(conn, rq, SL_EBADTOKEN,
                             "X-Auth-Token holds characters no token has");

    int rc = upstream_query(s, rt, token, rq->request_id, &resp, &err);
    if (rc != SL_OK)
        return respond_error(conn, rq, rc, err.msg);

    struct sl_buf body;
    sl_buf_init(&body);
    rc = sl_render_logs_json(resp, &body);
    modelarts__v1__query_service_logs_response__free_unpacked(resp, NULL);
    if (rc != SL_OK) {
        sl_buf_free(&body);
        return respond_error(conn, rq, rc, NULL);
    }
    return respond(conn, rq, MHD_HTTP_OK, &body, SL_SHIM_CONTENT_TYPE, false,
                   NULL);
}

/* GET /healthz: the upstream's overall health (Health/Check, service ""). */
static enum MHD_Result
answer_health(struct sl_shim *s, struct MHD_Connection *conn, struct sl_req *rq)
{
    struct sl_err err;
    ProtobufCMessage *msg = NULL;
    const char *name = "NOT_SERVING";
    const char *error_code = NULL;
    unsigned int status = MHD_HTTP_SERVICE_UNAVAILABLE;

    sl_err_clear(&err);
    /* HealthCheckRequest{service: ""} packs to no bytes at all. */
    int rc = upstream_call(s, s->health_method, NULL, 0, NULL, rq->request_id,
                           &grpc__health__v1__health_check_response__descriptor,
                           &msg, &err);
    if (rc == SL_OK) {
        const Grpc__Health__V1__HealthCheckResponse *hr =
            (const Grpc__Health__V1__HealthCheckResponse *)msg;
        const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
            &grpc__health__v1__health_check_response__serving_status__descriptor,
            (int)hr->status);
        name = v ? v->name : "UNKNOWN";
        if (hr->status ==
            GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING)
            status = MHD_HTTP_OK;
        protobuf_c_message_free_unpacked(msg, NULL);
    } else {
        error_code = sl_err_mcode(rc);
        sl_log(SL_LOG_DEBUG, "shim: /healthz: %s", err.msg);
    }

    struct sl_buf body;
    sl_buf_init(&body);
    sl_buf_puts(&body, "{\"status\":\"");
    sl_buf_puts(&body, name);
    sl_buf_puts(&body, "\"}\n");
    return respond(conn, rq, status, &body, SL_SHIM_CONTENT_TYPE, false,
                   error_code);
}

/* GET /metrics: the process's Prometheus text. */
static enum MHD_Result answer_metrics(struct MHD_Connection *conn,
                                      struct sl_req *rq)
{
    struct sl_buf body;
    sl_buf_init(&body);
    sl_metrics_render(&body);
    return respond(conn, rq, MHD_HTTP_OK, &body, SL_SHIM_METRICS_CONTENT_TYPE,
                   false, NULL);
}

/* Whether the request announces a body; *too_big when its Content-Length
 * exceeds max. */
static bool has_body(struct MHD_Connection *conn, size_t max, bool *too_big)
{
    const char *te = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    const char *cl = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    *too_big = false;
    if (te)
        return true;
    if (!cl)
        return false;
    errno = 0;
    char *end = NULL;
    unsigned long long n = strtoull(cl, &end, 10);
    if (errno || end == cl || n > max)
        *too_big = true;
    return n != 0 || *too_big;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Copies at most n - 1 bytes of src[0..len) and a NUL. */
static void copy_cut(char *dst, size_t n, const char *src, size_t len)
{
    if (len > n - 1)
        len = n - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* A new request's state: method, path, the request id. NULL on ENOMEM. */
static struct sl_req *req_new(struct MHD_Connection *conn, const char *url,
                              const char *method)
{
    struct sl_req *rq = malloc(sizeof(*rq));
    const char *rid = NULL;
    size_t rid_len = 0;

    if (!rq)
        return NULL;
    rq->start_ns = now_ns();
    rq->body_bytes = 0;
    rq->body_expected = false;
    rq->route = SL_HTTP_ROUTE_OTHER;
    rq->status = 0;
    rq->error_code = NULL;
    rq->project_id[0] = '\0';
    rq->service_id[0] = '\0';
    method = method ? method : "";
    url = url ? url : "";
    copy_cut(rq->method, sizeof(rq->method), method, strlen(method));
    copy_cut(rq->path, sizeof(rq->path), url, strcspn(url, "?"));
    if (MHD_lookup_connection_value_n(conn, MHD_HEADER_KIND, "X-Request-Id",
                                      strlen("X-Request-Id"), &rid,
                                      &rid_len) == MHD_YES &&
        sl_request_id_valid(rid, rid_len))
        copy_cut(rq->request_id, sizeof(rq->request_id), rid, rid_len);
    else
        sl_request_id_new(rq->request_id, sizeof(rq->request_id));
    return rq;
}

/* "127.0.0.1:5555" or "[::1]:5555", "" for another family. */
static void format_sockaddr(const struct sockaddr *sa, char *out, size_t n)
{
    char ip[INET6_ADDRSTRLEN];

    out[0] = '\0';
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)sa;
        if (inet_ntop(AF_INET, &a4->sin_addr, ip, sizeof(ip)))
            snprintf(out, n, "%s:%u", ip, (unsigned)ntohs(a4->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)sa;
        if (inet_ntop(AF_INET6, &a6->sin6_addr, ip, sizeof(ip)))
            snprintf(out, n, "[%s]:%u", ip, (unsigned)ntohs(a6->sin6_port));
    }
}

/* The client's address as format_sockaddr() writes it, "" when unknown. */
static void format_peer(struct MHD_Connection *conn, char *out, size_t n)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

    out[0] = '\0';
    if (ci && ci->client_addr)
        format_sockaddr(ci->client_addr, out, n);
}

/* ---- request deadlines (the top of the file has the design) ------------ */

static int64_t now_ms(void)
{
    return (int64_t)(now_ns() / 1000000u);
}

/* Sets the deadline of conn's connection (0: none). */
static void conn_set_due(struct MHD_Connection *conn, int64_t due_ms)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct sl_conn *c = ci ? ci->socket_context : NULL;

    if (c)
        atomic_store_explicit(&c->due_ms, due_ms, memory_order_relaxed);
}

/* The request is in (its headers, and its body when it has one): its
 * connection has no deadline until the response is sent. */
static void request_in(struct MHD_Connection *conn)
{
    conn_set_due(conn, 0);
}

/* MHD_CONNECTION_NOTIFY_STARTED: tracks the connection, due header_ms
 * from now. Out of memory: shuts it down (an untracked connection would
 * have no deadline). */
static void conn_start(struct sl_shim *s, struct MHD_Connection *conn,
                       void **socket_context)
{
    const union MHD_ConnectionInfo *fdi =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *ai =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

    if (!fdi)
        return; /* not a connection (cannot happen) */
    struct sl_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        shutdown(fdi->connect_fd, SHUT_RDWR);
        if (warn_now(s))
            sl_log(SL_LOG_WARN, "shim: out of memory: refusing a connection");
        return;
    }
    c->fd = fdi->connect_fd;
    atomic_init(&c->due_ms, now_ms() + s->header_ms);
    if (ai && ai->client_addr) {
        const struct sockaddr *sa = ai->client_addr;
        if (sa->sa_family == AF_INET6)
            memcpy(&c->peer, sa, sizeof(struct sockaddr_in6));
        else if (sa->sa_family == AF_INET)
            memcpy(&c->peer, sa, sizeof(struct sockaddr_in));
    }
    pthread_mutex_lock(&s->conns_lock);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    pthread_mutex_unlock(&s->conns_lock);
    *socket_context = c;
}

/* MHD_CONNECTION_NOTIFY_CLOSED, before libmicrohttpd closes the socket:
 * unlinks and frees the connection's sl_conn. */
static void conn_closed(struct sl_shim *s, void **socket_context)
{
    struct sl_conn *c = *socket_context;

    if (!c)
        return;
    pthread_mutex_lock(&s->conns_lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&s->conns_lock);
    free(c);
    *socket_context = NULL;
}

/* Every connection's start and end: its deadline, and with a client CA
 * the mutual-TLS requirement. */
static void on_connection(void *cls, struct MHD_Connection *conn,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct sl_shim *s = cls;

    if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        conn_closed(s, socket_context);
        return;
    }
    if (toe != MHD_CONNECTION_NOTIFY_STARTED)
        return;
    conn_start(s, conn, socket_context);
    if (s->https.client_ca)
        require_client_cert(conn);
}

/* Shuts down every connection past its deadline; returns how many, with
 * the first one's address in *first. */
static unsigned sweep(struct sl_shim *s, struct sockaddr_storage *first)
{
    unsigned n = 0;
    int64_t now = now_ms();

    pthread_mutex_lock(&s->conns_lock);
    for (struct sl_conn *c = s->conns; c; c = c->next) {
        long long due = atomic_load_explicit(&c->due_ms, memory_order_relaxed);
        if (due == 0 || now < due)
            continue;
        /* Claim it: a worker storing 0 (its request is in) at this very
         * moment either wins (the connection lives) or comes too late. */
        if (!atomic_compare_exchange_strong(&c->due_ms, &due, 0))
            continue;
        shutdown(c->fd, SHUT_RDWR); /* under the lock: fd is still c's */
        if (n++ == 0)
            *first = c->peer;
    }
    pthread_mutex_unlock(&s->conns_lock);
    return n;
}

/* The sweeper: sweep() every SL_SHIM_SWEEP_MS, counting each close and
 * logging at most one line a second: the first close's peer, and how many
 * more there were since the last line. */
static void *sweep_main(void *arg)
{
    struct sl_shim *s = arg;
    struct timespec nap = {0, SL_SHIM_SWEEP_MS * 1000L * 1000L};
    long long last_s = 0;        /* second of the last line */
    unsigned long long held = 0; /* closes not in a line yet */
    struct sockaddr_storage first;
    char peer[INET6_ADDRSTRLEN + 16];

    while (!atomic_load(&s->stopping)) {
        nanosleep(&nap, NULL);
        memset(&first, 0, sizeof(first));
        unsigned n = sweep(s, &first);
        for (unsigned i = 0; i < n; i++)
            sl_metrics_http_header_timeout();
        long long now = (long long)time(NULL);
        if (now == last_s || (n == 0 && held == 0)) {
            held += n;
            continue;
        }
        if (n == 0) {
            sl_log(SL_LOG_WARN,
                   "shim: closed %llu more connections whose request was "
                   "not in by its deadline (header timeout %lld ms)",
                   held, (long long)s->header_ms);
        } else {
            format_sockaddr((const struct sockaddr *)&first, peer,
                            sizeof(peer));
            char more[64] = "";
            if (held + n > 1)
                snprintf(more, sizeof(more), " (and %llu more)", held + n - 1);
            sl_log(SL_LOG_WARN,
                   "shim: closed the connection from %s: its request was not "
                   "in by its deadline (header timeout %lld ms)%s",
                   peer[0] ? peer : "an unknown peer", (long long)s->header_ms,
                   more);
        }
        last_s = now;
        held = 0;
    }
    return NULL;
}

static enum MHD_Result answer(struct sl_shim *s, struct MHD_Connection *conn,
                              struct sl_req *rq, const char *url,
                              const char *method)
{
    struct sl_route rt;
    struct sl_err err;

    sl_err_clear(&err);
    int rc = route_request(conn, method, url, &rt, &err);
    rq->route = rt.route;
    if (rc != SL_OK)
        return respond_error(conn, rq, rc, err.msg);
    switch (rt.route) {
    case SL_HTTP_ROUTE_HEALTHZ:
        return answer_health(s, conn, rq);
    case SL_HTTP_ROUTE_METRICS:
        return answer_metrics(conn, rq);
    default:
        return answer_query(s, conn, rq, &rt);
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    struct sl_shim *s = cls;
    struct sl_req *rq = *req_cls;
    bool too_big;

    (void)version;
    (void)upload_data;
    if (!rq && s->https.client_ca && !client_verified(conn)) {
        /* Unreachable while on_connection() does its job. */
        if (warn_now(s))
            sl_log(SL_LOG_WARN, "shim: closing a connection without a "
                                "verified client certificate");
        return MHD_NO;
    }
    if (!rq) {
        /* First call: the headers are in. Answering now would make
         * libmicrohttpd close the connection after the response, so a
         * request without a body is answered on the next call (at once,
         * in the same read event). A request with a body is answered now
         * when the answer is an error: no point reading the body. */
        rq = req_new(conn, url, method);
        if (!rq)
            return MHD_NO;
        atomic_fetch_add(&s->in_flight, 1);
        sl_metrics_http_start();
        *req_cls = rq; /* on_completed() counts it out */
        rq->body_expected = has_body(conn, s->max_body, &too_big);
        if (!rq->body_expected) {
            request_in(conn);
            return MHD_YES;
        }
        /* A body to read: the deadline runs on until it is in. */
        struct sl_route rt;
        struct sl_err err;
        sl_err_clear(&err);
        int rc = route_request(conn, method, url, &rt, &err);
        rq->route = rt.route;
        if (rc != SL_OK) {
            request_in(conn); /* not read: answered and closed */
            return respond_error(conn, rq, rc, err.msg);
        }
        if (too_big) {
            request_in(conn);
            struct sl_buf b;
            sl_buf_init(&b);
            sl_render_error_json(SL_EINVAL, "the request body is too large",
                                 &b);
            return respond(conn, rq, MHD_HTTP_CONTENT_TOO_LARGE, &b,
                           SL_SHIM_CONTENT_TYPE, false,
                           sl_err_mcode(SL_EINVAL));
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!rq->body_expected)
            return MHD_NO; /* a body after all: not per the headers */
        rq->body_bytes += *upload_data_size;
        *upload_data_size = 0;
        if (rq->body_bytes > s->max_body)
            return MHD_NO; /* a chunked body over the bound: close */
        return MHD_YES;
    }
    /* The request is complete (any body read and dropped): answer. */
    request_in(conn);
    return answer(s, conn, rq, url, method);
}

/* The request is over (answered, or the connection went away): its
 * metrics and its access line; the connection's next request is due. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct sl_shim *s = cls;
    struct sl_req *rq = *req_cls;
    char peer[INET6_ADDRSTRLEN + 16];

    (void)toe;
    conn_set_due(conn, now_ms() + s->next_ms);
    if (!rq)
        return; /* on_request() never saw it */
    uint64_t us = (now_ns() - rq->start_ns) / 1000;
    sl_metrics_http_done(rq->route, rq->status, us);
    if (sl_log_level >= SL_LOG_INFO) {
        format_peer(conn, peer, sizeof(peer));
        struct sl_access a = {
            .kind = "http",
            .method = rq->method,
            .path = rq->path,
            .project_id = rq->project_id[0] ? rq->project_id : NULL,
            .service_id = rq->service_id[0] ? rq->service_id : NULL,
            .status = rq->status,
            .error_code = rq->error_code,
            .duration_us = us,
            .peer = peer[0] ? peer : NULL,
            .request_id = rq->request_id,
        };
        sl_access_log(&a);
    }
    free(rq);
    *req_cls = NULL;
    atomic_fetch_sub(&s->in_flight, 1);
}

/* Leaves URLs and arguments as sent: an id with %xx is then invalid (400)
 * instead of being decoded into something else (a '/' from %2F). */
static size_t unescape_none(void *cls, struct MHD_Connection *conn, char *str)
{
    (void)cls;
    (void)conn;
    return strlen(str);
}

/* libmicrohttpd's messages that only say a client left in the middle of a
 * request (or was closed by its deadline): debug level. The access line
 * (status 0) already records a request that was in. */
static const char *const sl_mhd_client_left[] = {
    "Connection socket is closed when reading request",
    "Connection was closed by remote side with incomplete request",
    "Socket has been disconnected when reading request",
};

/* libmicrohttpd's message for any failed TLS handshake (a client without a
 * valid certificate, a scanner, a handshake past its deadline): at most
 * one a second, so clients cannot flood the log with it. */
#define SL_MHD_TLS_FAILED "Error: received handshake message out of context"

__attribute__((format(printf, 2, 0))) static void
mhd_logger(void *cls, const char *fmt, va_list ap)
{
    struct sl_shim *s = cls;
    char line[512];
    int level = SL_LOG_WARN;

    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    for (size_t i = 0;
         i < sizeof(sl_mhd_client_left) / sizeof(sl_mhd_client_left[0]); i++)
        if (strncmp(line, sl_mhd_client_left[i],
                    strlen(sl_mhd_client_left[i])) == 0)
            level = SL_LOG_DEBUG;
    if (level == SL_LOG_WARN &&
        strncmp(line, SL_MHD_TLS_FAILED, strlen(SL_MHD_TLS_FAILED)) == 0 &&
        !once_a_second(&s->last_tls_warn_s))
        level = SL_LOG_DEBUG;
    sl_log(level, "shim: http: %s", line);
}

/* ---- start / stop ------------------------------------------------------ */

/* Parses "HOST:PORT" (HOST: IPv4 literal, [IPv6], localhost, "" or "*"). */
static int parse_listen(const char *hp, struct sockaddr_storage *ss,
                        socklen_t *len, struct sl_err *err)
{
    char host[64];
    const char *colon;
    const char *h = hp;
    size_t hlen;

    memset(ss, 0, sizeof(*ss));
    if (hp[0] == '[') {
        const char *close = strchr(hp, ']');
        if (!close || close[1] != ':')
            goto bad;
        h = hp + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(hp, ':');
        if (!colon)
            goto bad;
        hlen = (size_t)(colon - hp);
    }
    if (hlen >= sizeof(host))
        goto bad;
    memcpy(host, h, hlen);
    host[hlen] = '\0';

    const char *p = colon + 1;
    long port = 0;
    if (!*p || strlen(p) > 5)
        goto bad;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            goto bad;
        port = port * 10 + (*p - '0');
    }
    if (port > 65535)
        goto bad;

    if (hp[0] == '[') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
            goto bad;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*a6);
        return SL_OK;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    if (!host[0] || strcmp(host, "*") == 0)
        a4->sin_addr.s_addr = htonl(INADDR_ANY);
    else if (strcmp(host, "localhost") == 0)
        a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
        goto bad;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    *len = sizeof(*a4);
    return SL_OK;

bad:
    return sl_err_set(err, SL_EINVAL,
                      "cannot listen on %s: want HOST:PORT with HOST an IPv4 "
                      "address, [IPv6 address], localhost or *, and PORT "
                      "0-65535",
                      hp);
}

/* Binds and listens; the socket is non-blocking (libmicrohttpd's workers
 * share it). */
static int bind_listen(struct sl_shim *s, const char *hp, struct sl_err *err)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    int one = 1;

    int rc = parse_listen(hp, &ss, &len, err);
    if (rc != SL_OK)
        return rc;
    s->listen_fd =
        socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->listen_fd < 0)
        return sl_err_set(err, SL_EIO, "cannot listen on %s: %s", hp,
                          strerror(errno));
    /* SO_REUSEADDR lets a restart bind over TIME_WAIT connections; on
     * Linux it never lets two sockets listen on one port. */
    if (setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) !=
            0 ||
        bind(s->listen_fd, (struct sockaddr *)&ss, len) != 0 ||
        listen(s->listen_fd, SL_SHIM_BACKLOG) != 0)
        return sl_err_set(err, SL_EIO, "cannot listen on %s: %s", hp,
                          strerror(errno));
    len = sizeof(ss);
    if (getsockname(s->listen_fd, (struct sockaddr *)&ss, &len) != 0)
        return sl_err_set(err, SL_EIO, "cannot listen on %s: %s", hp,
                          strerror(errno));
    s->port =
        ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                       : ((struct sockaddr_in *)&ss)->sin_port);
    return SL_OK;
}

/* The channel watcher. Request threads only poll gRPC while one of their
 * calls is pending, and a call fails at once while the channel is in
 * TRANSIENT_FAILURE, so after a failed connect nothing would drive the
 * next attempt but gRPC's 5 s backup poller: the shim answered 503 for
 * seconds after the server was back. This thread keeps a connectivity
 * watch (which polls the channel) and asks the channel to connect
 * whenever it is idle, so the shim follows the reconnect backoff and
 * connects at start-up. */
static void *watch_main(void *arg)
{
    struct sl_shim *s = arg;
    struct timespec nap = {0, SL_SHIM_WATCH_MS * 1000L * 1000L};

    while (!atomic_load(&s->stopping)) {
        grpc_connectivity_state st =
            grpc_channel_check_connectivity_state(s->channel, 1);
        if (st == GRPC_CHANNEL_READY) {
            /* Requests drive a ready channel; polling it here as well
             * would only compete with them for its I/O. */
            nanosleep(&nap, NULL);
            continue;
        }
        gpr_timespec deadline =
            gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                         gpr_time_from_millis(SL_SHIM_WATCH_MS, GPR_TIMESPAN));
        grpc_channel_watch_connectivity_state(s->channel, st, deadline,
                                              s->watch_cq, s);
        grpc_completion_queue_next(s->watch_cq,
                                   gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    }
    return NULL;
}

static int open_upstream(struct sl_shim *s, const char *target,
                         const struct sl_tls_config *tls, struct sl_err *err)
{
    /* Reconnect quickly once the server is back: the default backoff
     * (1 s growing to 120 s) would answer 503 long after a restart.
     * GRPC_ARG_MIN_RECONNECT_BACKOFF_MS is left alone: gRPC also takes it
     * as the connect timeout (default 20 s), and 100 ms fails handshakes
     * on a loaded machine. */
    grpc_arg args[] = {
        {.type = GRPC_ARG_INTEGER,
         .key = GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
         .value.integer = 100},
        {.type = GRPC_ARG_INTEGER,
         .key = GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
         .value.integer = 1000},
        /* Last: only with a TLS upstream and an expected name. */
        {.type = GRPC_ARG_STRING,
         .key = GRPC_SSL_TARGET_NAME_OVERRIDE_ARG,
         .value.string = tls ? (char *)tls->upstream_name : NULL},
    };
    grpc_channel_args ca = {sizeof(args) / sizeof(args[0]), args};
    if (!sl_tls_upstream_enabled(tls) || !tls->upstream_name ||
        !*tls->upstream_name)
        ca.num_args--;

    grpc_init();
    s->grpc_inited = true;
    grpc_channel_credentials *creds = NULL;
    int rc = sl_tls_channel_credentials(tls, &creds, err);
    if (rc != SL_OK)
        return rc;
    s->channel = grpc_channel_create(target, creds, &ca);
    grpc_channel_credentials_release(creds);
    if (!s->channel)
        return sl_err_set(err, SL_EINVAL, "cannot use upstream %s", target);
    s->method =
        grpc_channel_register_call(s->channel, SL_SHIM_METHOD, NULL, NULL);
    if (!s->method)
        return sl_err_set(err, SL_ENOMEM, "cannot register %s", SL_SHIM_METHOD);
    s->health_method = grpc_channel_register_call(
        s->channel, SL_SHIM_HEALTH_METHOD, NULL, NULL);
    if (!s->health_method)
        return sl_err_set(err, SL_ENOMEM, "cannot register %s",
                          SL_SHIM_HEALTH_METHOD);
    s->watch_cq = grpc_completion_queue_create_for_next(NULL);
    if (!s->watch_cq)
        return sl_err_set(err, SL_ENOMEM, "cannot create a completion queue");
    if (pthread_create(&s->watcher, NULL, watch_main, s) != 0)
        return sl_err_set(err, SL_ENOMEM, "cannot start the channel watcher");
    s->watcher_started = true;
    return SL_OK;
}

/* Releases what s holds; safe on a partly started shim. */
static void shim_free(struct sl_shim *s)
{
    if (s->daemon)
        MHD_stop_daemon(s->daemon); /* joins the workers: queues die */
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->cq_key_made)
        pthread_key_delete(s->cq_key);
    /* Both exit within SL_SHIM_WATCH_MS / SL_SHIM_SWEEP_MS. */
    atomic_store(&s->stopping, true);
    if (s->sweeper_started)
        pthread_join(s->sweeper, NULL);
    if (s->watcher_started)
        pthread_join(s->watcher, NULL);
    if (s->conns_lock_made)
        pthread_mutex_destroy(&s->conns_lock); /* no daemon: no conns */
    if (s->watch_cq) {
        grpc_completion_queue_shutdown(s->watch_cq);
        while (grpc_completion_queue_next(
                   s->watch_cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
                   .type != GRPC_QUEUE_SHUTDOWN)
            ;
        grpc_completion_queue_destroy(s->watch_cq);
    }
    if (s->channel)
        grpc_channel_destroy(s->channel);
    if (s->grpc_inited)
        grpc_shutdown();
    sl_tls_pem_free(&s->https); /* after the daemon that used it */
    free(s);
}

int sl_shim_start(const struct sl_shim_config *cfg, struct sl_shim **out,
                  struct sl_err *err)
{
    struct sl_shim *s = NULL;
    int mhd_fd = -1;
    int rc;

    *out = NULL;
    if (!cfg || !cfg->listen || !cfg->upstream || !*cfg->upstream)
        return sl_err_set(err, SL_EINVAL,
                          "the shim needs a listen address and an upstream");
    if (cfg->threads > SL_SHIM_MAX_THREADS)
        return sl_err_set(err, SL_EINVAL,
                          "threads must be 0 (one per CPU) to %d",
                          SL_SHIM_MAX_THREADS);
    s = calloc(1, sizeof(*s));
    if (!s)
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    s->listen_fd = -1;
    s->timeout_ms = cfg->upstream_timeout_ms > 0 ? cfg->upstream_timeout_ms
                                                 : SL_SHIM_DEFAULT_TIMEOUT_MS;
    s->max_body =
        cfg->max_body_bytes ? cfg->max_body_bytes : SL_SHIM_DEFAULT_MAX_BODY;
    s->max_token =
        cfg->max_token_bytes ? cfg->max_token_bytes : SL_SHIM_DEFAULT_MAX_TOKEN;
    snprintf(s->upstream, sizeof(s->upstream), "%s", cfg->upstream);
    atomic_init(&s->in_flight, 0);
    atomic_init(&s->stopping, false);
    atomic_init(&s->last_warn_s, 0);
    atomic_init(&s->last_tls_warn_s, 0);

    unsigned int threads = (unsigned int)cfg->threads;
    if (cfg->threads <= 0) {
        /* Workers block on their upstream call: more workers than cores
         * keep the cores busy (2 cores, 32 connections: 1 per core 18.5k
         * req/s, 2 per core 24.5k, 4 per core 27.7k). */
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? SL_SHIM_THREADS_PER_CPU * (unsigned int)n
                        : SL_SHIM_THREADS_PER_CPU;
        if (threads > SL_SHIM_MAX_THREADS)
            threads = SL_SHIM_MAX_THREADS;
    }
    unsigned int idle = cfg->idle_timeout_s ? cfg->idle_timeout_s
                                            : SL_SHIM_DEFAULT_IDLE_TIMEOUT_S;
    unsigned int max_conn = cfg->max_connections
                                ? cfg->max_connections
                                : SL_SHIM_DEFAULT_MAX_CONNECTIONS;
    size_t conn_mem = cfg->conn_memory_bytes ? cfg->conn_memory_bytes
                                             : SL_SHIM_DEFAULT_CONN_MEMORY;
    s->header_ms = cfg->header_timeout_ms ? cfg->header_timeout_ms
                                          : SL_SHIM_DEFAULT_HEADER_TIMEOUT_MS;
    s->next_ms = (int64_t)idle * 1000 + s->header_ms;

    /* The HTTPS files first: nothing is bound for a bad one (the
     * upstream's are read in open_upstream). */
    rc = sl_tls_load_server(cfg->tls, &s->https, err);
    if (rc != SL_OK)
        goto out;
    rc = bind_listen(s, cfg->listen, err);
    if (rc != SL_OK)
        goto out;
    if (pthread_key_create(&s->cq_key, cq_destroy) != 0) {
        rc = sl_err_set(err, SL_ENOMEM, "cannot create a thread key");
        goto out;
    }
    s->cq_key_made = true;
    rc = open_upstream(s, cfg->upstream, cfg->tls, err);
    if (rc != SL_OK)
        goto out;
    if (pthread_mutex_init(&s->conns_lock, NULL) != 0) {
        rc = sl_err_set(err, SL_ENOMEM, "cannot create a mutex");
        goto out;
    }
    s->conns_lock_made = true;
    if (pthread_create(&s->sweeper, NULL, sweep_main, s) != 0) {
        rc = sl_err_set(err, SL_ENOMEM, "cannot start the deadline sweeper");
        goto out;
    }
    s->sweeper_started = true;

    /* libmicrohttpd gets a duplicate: on success it owns (and at stop
     * closes) the duplicate and ours is closed here; on failure it has
     * either closed the duplicate or (an option it rejected up front)
     * not, and we cannot tell which, so the duplicate is never closed
     * twice at the price of a rare leak. */
    mhd_fd = fcntl(s->listen_fd, F_DUPFD_CLOEXEC, 0);
    if (mhd_fd < 0) {
        rc = sl_err_set(err, SL_EIO, "cannot listen on %s: %s", cfg->listen,
                        strerror(errno));
        goto out;
    }
    /* Options as an array, so that the pool size can be left out for one
     * thread (libmicrohttpd warns about a pool of 0 or 1) and the TLS
     * options for plain HTTP. */
    struct MHD_OptionItem opts[16] = {
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_logger, s},
        {MHD_OPTION_LISTEN_SOCKET, mhd_fd, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)idle, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)max_conn, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)conn_mem, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, s},
        {MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)unescape_none, NULL},
    };
    size_t nopt = 8;
    unsigned int flags =
        MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (s->https.cert) {
        flags |= MHD_USE_TLS;
        opts[nopt++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0,
                                               s->https.cert};
        opts[nopt++] =
            (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, s->https.key};
    }
    if (s->https.client_ca)
        opts[nopt++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0,
                                               s->https.client_ca};
    if (threads > 1)
        opts[nopt++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE,
                                               (intptr_t)threads, NULL};
    opts[nopt] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
                                 MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (!s->daemon) {
        rc = sl_err_set(err, SL_EIO,
                        "cannot listen on %s: the HTTP server did not start",
                        cfg->listen);
        goto out;
    }
    close(s->listen_fd);
    s->listen_fd = -1; /* the daemon's duplicate remains, until stop */
    sl_log(SL_LOG_INFO,
           "shim: listening on %s (port %d, %s), upstream %s (%s), "
           "%u threads",
           cfg->listen, s->port,
           s->https.client_ca ? "HTTPS, client certificates required"
           : s->https.cert    ? "HTTPS"
                              : "HTTP",
           cfg->upstream,
           !sl_tls_upstream_enabled(cfg->tls) ? "plaintext"
           : cfg->tls->upstream_cert && *cfg->tls->upstream_cert
               ? "TLS, client certificate"
               : "TLS",
           threads);
    *out = s;
    return SL_OK;

out:
    shim_free(s);
    return rc;
}

int sl_shim_port(const struct sl_shim *s)
{
    return s ? s->port : 0;
}

void sl_shim_stop(struct sl_shim *s)
{
    if (!s)
        return;
    /* Stop accepting; in-flight requests finish (each bounded by its
     * upstream deadline), then the daemon closes what is left. */
    MHD_socket fd = MHD_quiesce_daemon(s->daemon);
    if (fd != MHD_INVALID_SOCKET) {
        s->listen_fd = fd; /* ours again; closed after MHD_stop_daemon */
        /* Refuse new connections now rather than leave them waiting in
         * the backlog; the descriptor stays open (the doc of
         * MHD_quiesce_daemon) until the daemon is stopped. */
        shutdown(fd, SHUT_RDWR);
    }
    struct timespec tick = {0, 5 * 1000 * 1000};
    for (long waited_ms = 0;
         atomic_load(&s->in_flight) > 0 && waited_ms < s->timeout_ms + 1000;
         waited_ms += 5)
        nanosleep(&tick, NULL);
    shim_free(s);
}
