/* http_shim.c -- the REST shim: libmicrohttpd in front of one gRPC channel
 *
 * The daemon (start and stop) and its handlers. The pieces it drives
 * each have their own file: http_route.c (which request is which, and
 * which is refused for its framing), http_answer.c (the responses and
 * the three answers), http_upstream.c (the gRPC client), http_deadline.c
 * (request deadlines), http_listen.c (the listen socket), render_json.c
 * (the bodies).
 *
 * Threading: libmicrohttpd runs `threads` worker threads (epoll, one
 * internal polling thread each); every request is handled start to finish
 * on the worker that read it. In the server's process a query runs on
 * that worker itself, on the worker's own store connection
 * (http_local.h). With --upstream it is one synchronous unary call
 * through http_upstream.h on that worker (each worker its own pluck
 * completion queue, http_upstream.c). Either way a worker has at most
 * one query in flight and `threads` bounds the shim's concurrency. Shared by
 * all workers: the upstream's channel (thread-safe), the in-flight counter and
 * the log rate limiters (atomics) and the connection list of the request
 * deadlines (http_deadline.c, under its lock). Four more threads run beside
 * the workers: the acceptor, the upstream's channel watcher, the deadlines'
 * sweeper and the watches' relay (http_watch.c: a watch makes no blocking call;
 * its connection is suspended while it waits for its upstream, and resumed by
 * the relay -- hence MHD_ALLOW_SUSPEND_RESUME).
 *
 * Ownership: struct sl_shim owns the daemon, the upstream client (struct
 * sl_http_upstream), the in-process query path and its store
 * connections (struct sl_http_local), the request deadlines (struct
 * sl_http_deadlines, which owns the connection list) and the HTTPS PEM texts.
 * The listen socket is bound at start (sl_http_listen) and ours, closed
 * after MHD_stop_daemon; the daemon has none (MHD_USE_NO_LISTEN_SOCKET):
 * the acceptor (http_listen.h: one thread, freed after the daemon) accepts
 * and hands each connection to it (adopt(): MHD_add_connection deals them
 * round the workers) while fewer than max_conn are open. Per request
 * (http_answer.h): the protobuf-c response is freed before the handler returns;
 * the JSON body's memory moves to libmicrohttpd. Every request owns a struct
 * sl_req (*req_cls: its query, start time, request id and outcome), allocated
 * by on_uri() when its request line is in and freed in on_completed(), which
 * also writes its access line and records its metrics when the handler saw it:
 * so the duration runs from the headers until the response is sent (or the
 * connection dropped: status 0). A request counts in `in_flight` from on_uri()
 * to on_completed(). Every connection's struct sl_http_conn (its
 * socket_context) is tracked in on_connection() at
 * MHD_CONNECTION_NOTIFY_STARTED and untracked at _CLOSED, which
 * libmicrohttpd calls before it closes the socket (http_deadline.c has why
 * that order matters). The worker moves the connection's deadline:
 * request_in() once a request is in, on_completed() after a response.
 *
 * Stop order (sl_shim_stop): every answer from now on closes its
 * connection; the acceptor stops; new handshakes are
 * dropped and the connections waiting in the listen backlog -- their
 * clients are connected -- are accepted and handed to the daemon
 * (MHD_add_connection, http_listen.h), then the listen socket is shut
 * down (new connections are refused); the stop grace
 * (SL_SHIM_STOP_GRACE_MS) for every connection accepted so far to send
 * its request and be answered; past it, requests get 503 with
 * Connection: close, without an upstream call, while the stop waits for
 * connections yet to send theirs (until their header deadline, at most
 * SL_SHIM_STOP_SILENT_MS) and for requests in the upstream's hands (their
 * upstream deadline); MHD_stop_daemon (joins the workers: their
 * completion queues die with them; closes every connection left,
 * untracking each), close the listen socket, stop the sweeper, close the
 * upstream (joins the watcher; grpc_shutdown), free the PEM texts the
 * daemon used. Closing a listening socket resets the handshakes it has
 * under way; sl_http_listen_drain() stops new ones first and takes in
 * those that complete within SL_HTTP_DRAIN_SETTLE_MS, so only a client
 * whose handshake takes longer than that is reset.
 *
 * Health and metrics: /healthz asks the upstream's grpc.health.v1 Check
 * over the same channel (sl_http_upstream_health), so it reports what
 * gRPC clients see; /metrics renders the process-wide metrics.h state.
 *
 * TLS (http_shim.h has the rules): the PEM texts libmicrohttpd serves
 * HTTPS with are read and checked by tls.c and owned by struct sl_shim
 * until the daemon is stopped (libmicrohttpd keeps the pointers). Mutual
 * TLS is enforced in the handshake: on_connection() runs for each new
 * connection after libmicrohttpd made its GnuTLS session and before the
 * handshake, and makes the certificate required and verified there
 * (http_tls.c); on_request() checks the verification again before a
 * connection's every request and closes the connection when it is
 * missing.
 *
 * The listen socket is bound by http_listen.c, not by libmicrohttpd
 * (http_listen.h has why), and handed to the daemon as a duplicate.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "http_shim.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "accesslog.h"
#include "clock.h"
#include "http_answer.h"
#include "http_deadline.h"
#include "http_listen.h"
#include "http_local.h"
#include "http_route.h"
#include "http_tls.h"
#include "http_upstream.h"
#include "http_watch.h"
#include "log.h"
#include "metrics.h"
#include "validate.h"

#define SL_SHIM_MAX_TARGET 8192 /* longer request targets: 414 */
/* At stop: requests in within this are served, later ones get 503. */
#define SL_SHIM_STOP_GRACE_MS 1000
/* At stop: the longest wait for an accepted connection's request. */
#define SL_SHIM_STOP_SILENT_MS 5000

/* sl_shim.stop_phase */
enum sl_shim_phase {
    SL_SHIM_SERVING = 0,   /* not stopping */
    SL_SHIM_STOPPING = 1,  /* answers as usual, each with Connection: close */
    SL_SHIM_PAST_GRACE = 2 /* a request now in gets 503 and Connection: close
                              without an upstream call */
};

struct sl_shim {
    struct MHD_Daemon *daemon;         /* NULL until started */
    int listen_fd;                     /* ours to close; -1: none */
    struct sl_http_acceptor *acceptor; /* accepts on listen_fd; NULL: none */
    unsigned int max_conn; /* connections open at most (the acceptor's) */
    atomic_uint conns;     /* handed to the daemon (adopt), not yet closed */
    int port;              /* the bound TCP port */
    struct sl_http_upstream *upstream;   /* gRPC client; NULL: none yet */
    struct sl_http_local *local;         /* in-process queries; NULL:
                                            through the upstream */
    struct sl_http_deadlines *deadlines; /* NULL: none yet */
    struct sl_http_watch *watch;         /* the SSE watches; NULL: none yet */
    int timeout_ms;                      /* upstream deadline per call */
    int64_t header_ms;                   /* a new connection's request
                                            deadline */
    size_t max_body;       /* request body bytes dropped at most */
    size_t max_header;     /* request line and headers at most: 431
                              (the daemon's pool is twice this) */
    size_t max_token;      /* longest X-Auth-Token forwarded */
    atomic_int in_flight;  /* requests begun (request line in) and
                              not yet completed */
    atomic_int stop_phase; /* enum sl_shim_phase */
    atomic_int adopting;   /* connections handed to the daemon (adopt)
                              and not yet started by it */
    /* Warnings about refused connections: one a second at most. */
    atomic_llong last_warn_s;     /* second of the last one */
    atomic_llong last_tls_warn_s; /* the same, failed TLS handshakes */
    struct sl_tls_pem https;      /* HTTPS cert, key, client CA (PEM);
                                     all NULL: plain HTTP */
    struct sl_http_cors cors;     /* --cors-origins (http_web.h) */
};

/* ---- request handling -------------------------------------------------- */

/* Routes a request: the path as libmicrohttpd passes it in url (without
 * the query, not unescaped: unescape_none) and the query as on_uri() read
 * it from the whole target. */
static int route_request(const struct sl_req *rq, const char *method,
                         const char *url, struct sl_route *rt,
                         struct sl_err *err)
{
    int rc = sl_http_route(method, url, rt, err);
    if (rc != SL_OK ||
        (rt->route != SL_HTTP_ROUTE_LOGS && rt->route != SL_HTTP_ROUTE_WATCH))
        return rc;
    if (rq->query_rc != SL_OK) {
        enum sl_http_route route = rt->route;
        memset(rt, 0, sizeof(*rt));
        rt->route = route;
        return sl_err_set(err, rq->query_rc, "%s", rq->query_err.msg);
    }
    rt->update_time = rq->update_time;
    return SL_OK;
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

/* Copies at most n - 1 bytes of src[0..len) and a NUL. */
static void copy_cut(char *dst, size_t n, const char *src, size_t len)
{
    if (len > n - 1)
        len = n - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* The headers are in: the request's method, its request id (the
 * client's when valid, else a new one) and its start. */
static void req_headers_in(struct MHD_Connection *conn, struct sl_req *rq,
                           const char *method)
{
    const char *rid = NULL;
    size_t rid_len = 0;

    rq->headers_in = true;
    rq->start_us = sl_clock_us();
    method = method ? method : "";
    copy_cut(rq->method, sizeof(rq->method), method, strlen(method));
    if (MHD_lookup_connection_value_n(conn, MHD_HEADER_KIND, "X-Request-Id",
                                      strlen("X-Request-Id"), &rid,
                                      &rid_len) == MHD_YES &&
        sl_request_id_valid(rid, rid_len))
        copy_cut(rq->request_id, sizeof(rq->request_id), rid, rid_len);
    else
        sl_request_id_new(rq->request_id, sizeof(rq->request_id));
}

/* The client's address as sl_http_addr_format() writes it, "" when
 * unknown. */
static void format_peer(struct MHD_Connection *conn, char *out, size_t n)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

    out[0] = '\0';
    if (ci && ci->client_addr)
        sl_http_addr_format(ci->client_addr, out, n);
}

/* ---- request deadlines (http_deadline.h) ------------------------------- */

/* conn's tracked connection (its socket_context); NULL when untracked. */
static struct sl_http_conn *conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* The request is in (its headers, and its body when it has one): its
 * connection has no deadline until the response is sent. */
static void request_in(struct MHD_Connection *conn)
{
    sl_http_conn_request_in(conn_of(conn));
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
    struct sl_http_conn *c = sl_http_conn_track(s->deadlines, fdi->connect_fd,
                                                ai ? ai->client_addr : NULL);
    if (!c) {
        shutdown(fdi->connect_fd, SHUT_RDWR);
        if (sl_log_once_a_second(&s->last_warn_s))
            sl_log(SL_LOG_WARN, "shim: out of memory: refusing a connection");
        return;
    }
    *socket_context = c;
}

/* Every connection's start and end: its deadline, and with a client CA
 * the mutual-TLS requirement. */
static void on_connection(void *cls, struct MHD_Connection *conn,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct sl_shim *s = cls;

    if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        /* Before libmicrohttpd closes the socket. */
        sl_http_conn_untrack(s->deadlines, *socket_context);
        *socket_context = NULL;
        if (atomic_fetch_sub(&s->conns, 1) == s->max_conn)
            sl_http_acceptor_wake(s->acceptor); /* room again */
        return;
    }
    if (toe != MHD_CONNECTION_NOTIFY_STARTED)
        return;
    conn_start(s, conn, socket_context); /* tracked before it is adopted */
    /* Every connection is handed over by adopt(): it is the daemon's now. */
    int n = atomic_load(&s->adopting);
    while (n > 0 && !atomic_compare_exchange_weak(&s->adopting, &n, n - 1))
        ;
    if (s->https.client_ca)
        sl_http_tls_require_client_cert(conn);
}

static enum MHD_Result answer(struct sl_shim *s, struct MHD_Connection *conn,
                              struct sl_req *rq, const char *url,
                              const char *method)
{
    struct sl_route rt;
    struct sl_err err;

    sl_err_clear(&err);
    int rc = route_request(rq, method, url, &rt, &err);
    rq->route = rt.route;
    enum MHD_Result ret;
    if (rc == SL_EMETHOD && strcmp(method, "OPTIONS") == 0 &&
        sl_http_web_preflight(conn, rq, &ret))
        return ret; /* CORS preflight: 204 */
    if (rc != SL_OK)
        return sl_http_respond_error(conn, rq, rc, err.msg);
    switch (rt.route) {
    case SL_HTTP_ROUTE_HEALTHZ:
        return sl_http_answer_health(conn, rq, s->upstream, s->local);
    case SL_HTTP_ROUTE_METRICS:
        return sl_http_answer_metrics(conn, rq);
    case SL_HTTP_ROUTE_ASSET:
        return sl_http_answer_asset(conn, rq, url);
    case SL_HTTP_ROUTE_WATCH:
        return sl_http_answer_watch(conn, rq, s->watch, s->max_token, &rt);
    default:
        return sl_http_answer_query(conn, rq, s->upstream, s->local,
                                    s->max_token, &rt);
    }
}

/* Notes one header field for the framing rules (http_route.h). */
static enum MHD_Result framing_add(void *cls, enum MHD_ValueKind kind,
                                   const char *key, size_t key_size,
                                   const char *value, size_t value_size)
{
    (void)kind;
    sl_http_framing_add(cls, key, key_size, value, value_size);
    return MHD_YES;
}

/* The first call for a request, its headers in: refuses what must not be
 * served (answered now, the connection closed after the answer: nothing
 * more is read from it) or decides whether a body is to be read. A request
 * without a body is answered on the next call (at once, in the same read
 * event): answering now would make libmicrohttpd close the connection. A
 * request with a body is answered now when the answer is an error: no
 * point reading the body. */
static enum MHD_Result on_headers(struct sl_shim *s,
                                  struct MHD_Connection *conn,
                                  struct sl_req *rq, const char *url,
                                  const char *method)
{
    struct sl_http_framing fr = {0};
    struct sl_route rt;
    struct sl_err err;
    bool too_big;

    sl_err_clear(&err);
    req_headers_in(conn, rq, method);
    sl_metrics_http_start();
    MHD_get_connection_values_n(conn, MHD_HEADER_KIND, framing_add, &fr);
    int rc = sl_http_framing_check(&fr, &err);
    /* Ours, in JSON, before libmicrohttpd's HTML one (its pool is twice
     * max_header): a request line and header block over max_header. */
    bool big = rq->target_bytes + strlen(rq->method) + 12 +
                   sl_http_header_bytes(conn) >
               s->max_header;
    if (rc != SL_OK || rq->target_too_long || big ||
        atomic_load(&s->stop_phase) == SL_SHIM_PAST_GRACE) {
        request_in(conn); /* not read further: answered and closed */
        rq->close = true;
        if (rc != SL_OK)
            return sl_http_respond_error(conn, rq, rc, err.msg);
        if (rq->target_too_long)
            return sl_http_respond_status(conn, rq, MHD_HTTP_URI_TOO_LONG,
                                          SL_EINVAL,
                                          "the request target is longer than "
                                          "the shim accepts");
        if (big)
            return sl_http_respond_status(
                conn, rq, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE, SL_EINVAL,
                "the request's header fields are larger than the shim "
                "accepts");
        return sl_http_respond_error(conn, rq, SL_EUNAVAIL,
                                     "the server is shutting down; try again");
    }
    rq->body_expected = has_body(conn, s->max_body, &too_big);
    if (!rq->body_expected) {
        request_in(conn);
        return MHD_YES;
    }
    /* A body to read: the deadline runs on until it is in. */
    rc = route_request(rq, method, url, &rt, &err);
    rq->route = rt.route;
    if (rc != SL_OK) {
        request_in(conn); /* not read: answered and closed */
        rq->close = true;
        return sl_http_respond_error(conn, rq, rc, err.msg);
    }
    if (too_big) {
        request_in(conn);
        rq->close = true; /* the body is not read */
        return sl_http_respond_status(conn, rq, MHD_HTTP_CONTENT_TOO_LARGE,
                                      SL_EINVAL,
                                      "the request body is too large");
    }
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    struct sl_shim *s = cls;
    struct sl_req *rq = *req_cls;

    (void)version;
    (void)upload_data;
    if (!rq)
        return MHD_NO; /* on_uri() ran out of memory: close */
    if (!rq->headers_in && s->https.client_ca &&
        !sl_http_tls_client_verified(conn)) {
        /* Unreachable while on_connection() does its job. */
        if (sl_log_once_a_second(&s->last_warn_s))
            sl_log(SL_LOG_WARN, "shim: closing a connection without a "
                                "verified client certificate");
        return MHD_NO;
    }
    if (!rq->headers_in)
        return on_headers(s, conn, rq, url, method);
    if (*upload_data_size) {
        if (!rq->body_expected)
            return MHD_NO; /* a body after all: not per the headers */
        rq->body_bytes += *upload_data_size;
        *upload_data_size = 0;
        if (rq->body_bytes > s->max_body)
            return MHD_NO; /* a chunked body over the bound: close */
        return MHD_YES;
    }
    if (rq->watch) /* resumed: its first message or failure is in */
        return sl_http_watch_resumed(conn, rq);
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
    sl_http_conn_response_sent(s->deadlines, conn_of(conn));
    if (!rq)
        return; /* on_uri() ran out of memory */
    *req_cls = NULL;
    if (!rq->headers_in) {
        /* libmicrohttpd answered it itself (a malformed or oversized
         * header block) or the client left: not counted (metrics.h). */
        free(rq);
        atomic_fetch_sub(&s->in_flight, 1);
        return;
    }
    sl_http_watch_request_done(rq); /* cancels a watch the client left */
    uint64_t us = (uint64_t)(sl_clock_us() - rq->start_us);
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
    atomic_fetch_sub(&s->in_flight, 1);
}

/* A request line is in (libmicrohttpd's URI callback, before it parses
 * the query or any header): the request's state is made here, and the
 * query read from the whole target (the ?update_time rule of
 * http_route.h), because libmicrohttpd is kept from reading it.
 *
 * Why: libmicrohttpd would next split the query into one argument record
 * per '&' in the connection's memory pool (--http-max-header-bytes), some
 * 60 bytes each, and 0.9.75 does not survive that pool running out
 * there: it queues a 431, then carries on parsing over it, and the
 * connection hangs unanswered until its deadline closes it (a 4 KB
 * target of 1 000 parameters was enough). The shim needs no argument
 * record, so the query is ended where libmicrohttpd will look for it:
 * the target is the library's own buffer (const only in the callback's
 * signature), which its documentation offers for "processing the URI
 * before it is parsed", and it reads the arguments only after this
 * callback returns (connection.c, parse_initial_message_line; the same in
 * 0.9.76 and 0.9.77). The url later passed to on_request() is the path
 * alone either way. Returns the request's state, *req_cls from now on;
 * NULL out of memory (on_request() then closes the connection). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct sl_shim *s = cls;
    struct sl_req *rq = calloc(1, sizeof(*rq));

    if (!rq)
        return NULL;
    atomic_fetch_add(&s->in_flight, 1); /* before it stops being silent */
    sl_http_conn_request_begun(s->deadlines, conn_of(conn));
    rq->stopping = &s->stop_phase;
    rq->cors = &s->cors;
    rq->route = SL_HTTP_ROUTE_OTHER;
    copy_cut(rq->path, sizeof(rq->path), uri, strcspn(uri, "?"));
    rq->target_bytes = strlen(uri);
    rq->target_too_long = rq->target_bytes > SL_SHIM_MAX_TARGET;
    sl_err_clear(&rq->query_err);
    rq->query_rc = sl_http_route_query(uri, &rq->update_time, &rq->query_err);
    char *q = strchr(uri, '?');
    if (q && q[1])
        q[1] = '\0'; /* an empty query: no argument to record */
    return rq;
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
 * (status 0) already records a request that was in. The last one follows
 * a watch whose client hung up (http_watch.c closes its connection). */
static const char *const sl_mhd_client_left[] = {
    "Connection socket is closed when reading request",
    "Connection was closed by remote side with incomplete request",
    "Socket has been disconnected when reading request",
    "Closing connection (application error generating response)",
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
        !sl_log_once_a_second(&s->last_tls_warn_s))
        level = SL_LOG_DEBUG;
    sl_log(level, "shim: http: %s", line);
}

/* ---- start / stop ------------------------------------------------------ */

/* libmicrohttpd's MHD_PANIC: its state is broken, so the process ends as
 * the library's own handler ends it (abort), but the reason goes to the
 * log first, as one line, instead of the library's bare stderr text. */
static void on_mhd_panic(void *cls, const char *file, unsigned int line,
                         const char *reason)
{
    (void)cls;
    sl_log(SL_LOG_ERROR, "shim: libmicrohttpd internal error at %s:%u: %s",
           file ? file : "?", line, reason ? reason : "(no reason)");
    abort();
}

static bool adopt(void *cls, int cfd, const struct sockaddr *peer,
                  socklen_t len);
static bool room(void *cls);

/* Releases what s holds; safe on a partly started shim. */
static void shim_free(struct sl_shim *s)
{
    sl_http_acceptor_stop(s->acceptor); /* no more adds to the daemon */
    if (s->daemon)
        MHD_stop_daemon(s->daemon);     /* joins the workers: queues die */
    sl_http_acceptor_free(s->acceptor); /* after the daemon's wakes */
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    sl_http_watch_stop(s->watch);         /* every request done: calls end */
    sl_http_deadlines_stop(s->deadlines); /* no daemon: no conns */
    sl_http_upstream_close(s->upstream);  /* after the workers' calls */
    sl_http_local_close(s->local);        /* the same */
    sl_tls_pem_free(&s->https);           /* after the daemon that used it */
    sl_http_cors_free(&s->cors);          /* after the daemon's requests */
    free(s);
}

int sl_shim_start(const struct sl_shim_config *cfg, struct sl_shim **out,
                  struct sl_err *err)
{
    struct sl_shim *s = NULL;
    int rc;

    *out = NULL;
    if (!cfg || !cfg->listen || !cfg->upstream || !*cfg->upstream)
        return sl_err_set(err, SL_EINVAL,
                          "the shim needs a listen address and an upstream");
    if (cfg->threads > SL_SHIM_MAX_THREADS)
        return sl_err_set(err, SL_EINVAL,
                          "threads must be 0 (one per CPU) to %d",
                          SL_SHIM_MAX_THREADS);
    if (cfg->max_response_bytes > INT_MAX)
        return sl_err_set(err, SL_EINVAL,
                          "max_response_bytes must be at most %d", INT_MAX);
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
    atomic_init(&s->in_flight, 0);
    atomic_init(&s->stop_phase, SL_SHIM_SERVING);
    atomic_init(&s->adopting, 0);
    atomic_init(&s->conns, 0);
    atomic_init(&s->last_warn_s, 0);
    atomic_init(&s->last_tls_warn_s, 0);

    unsigned int threads = (unsigned int)cfg->threads;
    if (cfg->threads <= 0) {
        /* With --upstream a worker blocks on its upstream call: more
         * workers than cores keep the cores busy (2 cores, 32
         * connections: 1 per core 18.5k req/s, 2 per core 24.5k, 4 per
         * core 27.7k). In-process a worker only waits for its store, as
         * a gRPC worker does, and more workers than cores only lengthen
         * the scheduler's round: wrk, 32 connections, 2 cores: 8 workers
         * p99 24 ms, 2 workers 4.4 ms and 1.19x the requests a second
         * (BENCHMARKS.md). */
        unsigned per = cfg->local ? SL_SHIM_LOCAL_THREADS_PER_CPU
                                  : SL_SHIM_THREADS_PER_CPU;
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? per * (unsigned int)n : per;
        if (threads > SL_SHIM_MAX_THREADS)
            threads = SL_SHIM_MAX_THREADS;
    }
    unsigned int idle = cfg->idle_timeout_s ? cfg->idle_timeout_s
                                            : SL_SHIM_DEFAULT_IDLE_TIMEOUT_S;
    s->max_conn = cfg->max_connections ? cfg->max_connections
                                       : SL_SHIM_DEFAULT_MAX_CONNECTIONS;
    size_t conn_mem = cfg->conn_memory_bytes ? cfg->conn_memory_bytes
                                             : SL_SHIM_DEFAULT_CONN_MEMORY;
    int64_t header_ms = cfg->header_timeout_ms
                            ? cfg->header_timeout_ms
                            : SL_SHIM_DEFAULT_HEADER_TIMEOUT_MS;
    int64_t next_ms = (int64_t)idle * 1000 + header_ms;
    s->header_ms = header_ms;
    s->max_header = conn_mem;

    /* The HTTPS files first: nothing is bound for a bad one (the
     * upstream's are read in sl_http_upstream_open). */
    rc = sl_tls_load_server(cfg->tls, &s->https, err);
    if (rc != SL_OK)
        goto out;
    rc = sl_http_cors_parse(cfg->cors_origins, &s->cors, err);
    if (rc != SL_OK)
        goto out;
    rc = sl_http_listen(cfg->listen, &s->listen_fd, &s->port, err);
    if (rc != SL_OK)
        goto out;
    size_t max_resp = cfg->max_response_bytes ? cfg->max_response_bytes
                                              : SL_SHIM_DEFAULT_MAX_RESPONSE;
    rc = sl_http_upstream_open(cfg->upstream, cfg->tls, s->timeout_ms, max_resp,
                               &s->upstream, err);
    if (rc != SL_OK)
        goto out;
    if (cfg->local) {
        rc = sl_http_local_open(cfg->local, (int)threads, s->timeout_ms,
                                &s->local, err);
        if (rc != SL_OK)
            goto out;
    }
    rc = sl_http_deadlines_start(header_ms, next_ms, &s->deadlines, err);
    if (rc != SL_OK)
        goto out;
    struct sl_http_watch_config wcfg = {
        .upstream = s->upstream,
        .local = s->local,
        .max_watchers = cfg->max_watchers ? cfg->max_watchers
                                          : SL_SHIM_DEFAULT_MAX_WATCHERS,
        .keepalive_ms = cfg->sse_keepalive_ms
                            ? cfg->sse_keepalive_ms
                            : SL_SHIM_DEFAULT_SSE_KEEPALIVE_MS,
        .streams_per_conn = cfg->watch_streams ? cfg->watch_streams
                                               : SL_SHIM_DEFAULT_WATCH_STREAMS,
        .first_ms = s->timeout_ms,
    };
    rc = sl_http_watch_start(&wcfg, &s->watch, err);
    if (rc != SL_OK)
        goto out;

    /* Options as an array, so that the pool size can be left out for one
     * thread (libmicrohttpd warns about a pool of 0 or 1) and the TLS
     * options for plain HTTP. */
    struct MHD_OptionItem opts[16] = {
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_logger, s},
        {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)idle, NULL},
        /* The limit is the acceptor's (room()): libmicrohttpd splits its
         * own among the workers, and a worker's share could refuse a
         * connection the acceptor handed over. */
        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)(s->max_conn * threads), NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)(2 * conn_mem), NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, s},
        {MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)unescape_none, NULL},
        {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, s},
    };
    size_t nopt = 8;
    /* Suspend and resume: a watch waits for its upstream without holding
     * a worker (http_watch.c). */
    unsigned int flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ITC |
                         MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME |
                         MHD_USE_NO_LISTEN_SOCKET;
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
    MHD_set_panic_func(on_mhd_panic, NULL);
    s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
                                 MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (!s->daemon) {
        rc = sl_err_set(err, SL_EIO,
                        "cannot listen on %s: the HTTP server did not start",
                        cfg->listen);
        goto out;
    }
    rc =
        sl_http_acceptor_start(s->listen_fd, adopt, room, s, &s->acceptor, err);
    if (rc != SL_OK)
        goto out;
    sl_log(SL_LOG_INFO,
           "shim: listening on %s (port %d, %s), upstream %s (%s), "
           "%u threads%s",
           cfg->listen, s->port,
           s->https.client_ca ? "HTTPS, client certificates required"
           : s->https.cert    ? "HTTPS"
                              : "HTTP",
           cfg->upstream,
           !sl_tls_upstream_enabled(cfg->tls) ? "plaintext"
           : cfg->tls->upstream_cert && *cfg->tls->upstream_cert
               ? "TLS, client certificate"
               : "TLS",
           threads, s->local ? ", queries in-process, watches in-process" : "");
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

/* sl_http_listen_drain()'s adopt: the daemon serves cfd as one of its
 * own (it closes cfd when it cannot). */
static bool adopt(void *cls, int cfd, const struct sockaddr *peer,
                  socklen_t len)
{
    struct sl_shim *s = cls;

    atomic_fetch_add(&s->adopting, 1); /* before the daemon may start it */
    atomic_fetch_add(&s->conns, 1);    /* before it may close it */
    if (MHD_add_connection(s->daemon, cfd, peer, len) == MHD_YES)
        return true;
    atomic_fetch_sub(&s->conns, 1);
    atomic_fetch_sub(&s->adopting, 1);
    return false;
}

/* The acceptor's room: fewer connections open than --http-max-connections
 * (more wait in the listen backlog). */
static bool room(void *cls)
{
    struct sl_shim *s = cls;
    return atomic_load(&s->conns) < s->max_conn;
}

/* Naps 5 ms at a time until done(s) or sl_clock_ms() reaches until_ms. */
static void wait_until(struct sl_shim *s, bool (*done)(struct sl_shim *),
                       int64_t until_ms)
{
    struct timespec tick = {0, 5 * 1000 * 1000};
    while (!done(s) && sl_clock_ms() < until_ms)
        nanosleep(&tick, NULL);
}

/* Every connection accepted before the stop has been answered: none
 * waits to be started or to begin a request, no request is in flight. */
static bool all_answered(struct sl_shim *s)
{
    return atomic_load(&s->adopting) <= 0 &&
           sl_http_deadlines_silent(s->deadlines) == 0 &&
           atomic_load(&s->in_flight) == 0;
}

static bool none_in_flight(struct sl_shim *s)
{
    return atomic_load(&s->in_flight) == 0;
}

void sl_shim_stop(struct sl_shim *s)
{
    if (!s)
        return;
    int64_t start_ms = sl_clock_ms();
    /* From now on every answer closes its connection; every watch ends
     * (its "error" event and last chunk) and none starts. */
    atomic_store(&s->stop_phase, SL_SHIM_STOPPING);
    sl_http_watch_end_all(s->watch);
    sl_http_acceptor_stop(s->acceptor); /* freed after the daemon */
    /* The backlog's connections are the daemon's to serve too; then new
     * ones are refused rather than left waiting in the backlog (shutdown:
     * the descriptor stays open until the daemon is stopped). */
    sl_http_listen_drain(s->listen_fd, SL_HTTP_BACKLOG + 1, adopt, s);
    shutdown(s->listen_fd, SHUT_RDWR);
    /* The grace: the requests of connections accepted before the stop
     * are answered as usual. */
    wait_until(s, all_answered, start_ms + SL_SHIM_STOP_GRACE_MS);
    /* Past it, a request that comes in is answered 503 at once. A
     * connection that has not sent one is waited for until its header
     * deadline (the sweeper then closes it), at most
     * SL_SHIM_STOP_SILENT_MS, as Go's http.Server.Shutdown waits for its
     * new connections; a request in the upstream's hands, until its
     * upstream deadline. Then the daemon closes what is left: kept-alive
     * connections between requests, silent ones past that wait. */
    atomic_store(&s->stop_phase, SL_SHIM_PAST_GRACE);
    int64_t silent_ms = s->header_ms + SL_HTTP_SWEEP_MS;
    if (silent_ms > SL_SHIM_STOP_SILENT_MS)
        silent_ms = SL_SHIM_STOP_SILENT_MS;
    wait_until(s, all_answered, start_ms + silent_ms);
    wait_until(s, none_in_flight, start_ms + s->timeout_ms + 1000);
    shim_free(s);
}
