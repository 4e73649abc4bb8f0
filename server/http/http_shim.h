/* http_shim.h -- the REST shim: HTTP/1.1 + JSON in front of the gRPC API
 *
 * GET /v1/{project_id}/services/{service_id}/logs[?update_time=N] is one
 * QueryServiceLogs: in the server's process (struct
 * sl_shim_config.local) run in-process on the shim's worker by the same
 * code as the gRPC handler (http_local.h), no gRPC hop; in a shim-only
 * process (--upstream) one unary
 * /modelarts.v1.ServiceLogs/QueryServiceLogs call to the upstream gRPC
 * server. Both answer the same bytes. The answer is rendered by
 * render_json.h, an error as {"error_code","error_msg"} with the HTTP
 * status of its SL_ERR_MAP row (DESIGN sections 3 and 4).
 *
 * GET /v1/{project_id}/services/{service_id}/logs:watch[?update_time=N]
 * is the same query followed live, as Server-Sent Events: in the
 * server's process a watcher on its change feed, no gRPC hop; with
 * --upstream one WatchServiceLogs stream per client (http_watch.h,
 * http_sse.h). Both send the same bytes.
 *
 * Also served (same process or --upstream alike):
 * - GET /healthz: the server's serving status (service ""): in-process
 *   read from its health state (rpc_health.h), with --upstream one
 *   grpc.health.v1.Health/Check to the upstream within
 *   upstream_timeout_ms. SERVING: 200
 *   {"status":"SERVING"}. Any other answer: 503 with the answer's name
 *   ({"status":"NOT_SERVING"}, "UNKNOWN", "SERVICE_UNKNOWN"); no answer
 *   (unreachable, deadline, UNIMPLEMENTED, ...): 503
 *   {"status":"NOT_SERVING"} and the reason in the (rate-limited) log.
 * - GET /metrics: 200, Content-Type "text/plain; version=0.0.4;
 *   charset=utf-8", the Prometheus text of metrics.h.
 *
 * Every response the shim itself makes carries X-Request-Id: the
 * client's when sl_request_id_valid(), else a generated one; the same id
 * goes with every upstream call as "x-request-id" metadata, so the
 * shim's and the server's access lines (accesslog.h) share it (an
 * in-process query makes no call: no server line). Each request counts
 * in the HTTP metrics and writes one access line (kind "http") when
 * done.
 *
 * Refused before any upstream call, with the JSON error body
 * (ModelArts.0101) and Connection: close (nothing more is read from the
 * connection): a request whose body length two parties
 * could read differently -- duplicate Content-Length or
 * Transfer-Encoding, both, a Transfer-Encoding other than chunked, a
 * header name with whitespace before its colon (the rules are in
 * http_route.h) -- 400; a request target over 8 KiB, 414; a body over
 * max_body_bytes, 413. Any number of query parameters is accepted (the
 * query is read by the shim, not split by libmicrohttpd: on_uri() in
 * http_shim.c has why); those but update_time are ignored.
 * A request line and header block over conn_memory_bytes: 431 with the
 * JSON body, from the shim (libmicrohttpd's pool is twice that, so the
 * shim sees such a request first). libmicrohttpd itself answers what it
 * cannot parse before the shim sees it, with its fixed HTML body (0.9.75
 * has no hook to change it: docs/rest.md lists each case) and
 * Connection: close: a request line or header block over twice
 * conn_memory_bytes 414 / 431; an HTTP version other than 1.x, 505; a
 * malformed request or header line, an HTTP/1.1 request without Host, or
 * a Content-Length that is not a number, 400 (413 when it overflows).
 *
 * Browsers and caches (http_web.h): CORS (cors_origins), gzip answers,
 * ETag and If-None-Match.
 *
 * The shim's pieces, each with its rules at its top:
 * - http_web.h: CORS, gzip, ETag / If-None-Match (the pure rules).
 * - http_route.h: which request is which (the pure router: paths matched
 *   byte for byte, 404 / 405 / 400 rules, ?update_time).
 * - http_local.h: the in-process query (the server's store, limits,
 *   health and tokens; no gRPC hop).
 * - http_upstream.h: the gRPC client (the QueryServiceLogs and
 *   Health/Check calls with --upstream, the watches' channels, the
 *   upstream's TLS, how upstream errors become answers).
 * - http_deadline.h: request deadlines (slow-loris defence,
 *   header_timeout_ms below).
 * - http_answer.h: the responses and the three answers.
 * - http_watch.h, http_sse.h: the watch (its streams, their relay
 *   thread, their own upstream channels) and its event framing.
 * - render_json.h: the JSON bodies.
 * - this file: the daemon (start/stop), the handlers and responses, and
 *   HTTPS with mutual TLS.
 *
 * Request deadline (struct sl_shim_config.header_timeout_ms; the full
 * rules are in http_deadline.h): a connection must deliver its first
 * request (line, headers, announced body; a TLS handshake counts) within
 * header_timeout_ms of being accepted, and each later one within
 * idle_timeout_s + header_timeout_ms of the previous response's end, or
 * it is closed without a response. A response being sent is never cut.
 *
 * TLS (struct sl_shim_config.tls, tls.h): with a cert the shim serves
 * HTTPS (libmicrohttpd on GnuTLS) with that certificate chain and key.
 * With a client_ca as well, every connection must present a client
 * certificate that verifies against client_ca and is fit for client
 * authentication (extendedKeyUsage clientAuth, or none): the TLS
 * handshake itself fails otherwise (GnuTLS, GNUTLS_CERT_REQUIRE plus
 * verification during the handshake), so an unverified client never gets
 * to send a request; a request that still arrives on a connection without
 * a verified certificate (it cannot, short of a library bug) is not
 * answered: the connection is closed and a warning logged. With an
 * upstream_ca the upstream channel is TLS (http_upstream.h has the rules).
 */
#ifndef SL_HTTP_SHIM_H
#define SL_HTTP_SHIM_H

#include <stddef.h>

#include "error.h"
#include "tls.h"

/* Defaults for the zero fields of struct sl_shim_config. */
#define SL_SHIM_DEFAULT_TIMEOUT_MS 5000
#define SL_SHIM_DEFAULT_MAX_BODY 8192
#define SL_SHIM_DEFAULT_IDLE_TIMEOUT_S 30
#define SL_SHIM_DEFAULT_HEADER_TIMEOUT_MS 10000
#define SL_SHIM_DEFAULT_MAX_CONNECTIONS 1024
#define SL_SHIM_DEFAULT_CONN_MEMORY (64 * 1024)
#define SL_SHIM_DEFAULT_MAX_TOKEN 7168
#define SL_SHIM_DEFAULT_MAX_RESPONSE (64 * 1024 * 1024)
#define SL_SHIM_DEFAULT_MAX_WATCHERS 256
#define SL_SHIM_DEFAULT_SSE_KEEPALIVE_MS 15000
#define SL_SHIM_DEFAULT_WATCH_STREAMS 100
#define SL_SHIM_MAX_THREADS 1024
#define SL_SHIM_THREADS_PER_CPU 4       /* --upstream: workers block */
#define SL_SHIM_LOCAL_THREADS_PER_CPU 1 /* in-process */

/* How to run a shim. Owner: the caller; sl_shim_start() copies what it
 * keeps, so the struct and its strings may die after the call. A zero
 * field takes the default named beside it. */
struct sl_server_local; /* server.h */

struct sl_shim_config {
    const char *listen;   /* "HOST:PORT" to serve HTTP on: an IPv4
                             literal, "[IPv6]", "localhost" or "" / "*"
                             (any IPv4 address). Port 0: the kernel
                             picks one (see sl_shim_port). Required. */
    const char *upstream; /* gRPC target of the server, "HOST:PORT"
                             (any grpc_channel_create target).
                             Required: the queries, /healthz and the
                             watches use it unless local is set. */
    const struct sl_server_local *local; /* the server of this process
                                   (server.h): queries, /healthz and
                                   watches are answered in-process
                                   (http_local.h, http_watch.h);
                                   copied, its pointers must stay valid
                                   until sl_shim_stop(). NULL: through
                                   the upstream. */
    int upstream_timeout_ms;             /* deadline of each upstream call;
                                            SL_SHIM_DEFAULT_TIMEOUT_MS */
    int threads;                /* libmicrohttpd worker threads, each also
                                   making its queries (one at a time,
                                   blocking; in-process: each with a store
                                   connection of its own); 0: per online
                                   CPU SL_SHIM_LOCAL_THREADS_PER_CPU
                                   in-process, else
                                   SL_SHIM_THREADS_PER_CPU;
                                   at most SL_SHIM_MAX_THREADS */
    size_t max_body_bytes;      /* a request body (pointless on GET) is read
                                   and dropped up to this many bytes; a
                                   larger one gets 413 (by Content-Length) or
                                   a closed connection (chunked);
                                   SL_SHIM_DEFAULT_MAX_BODY */
    unsigned idle_timeout_s;    /* an idle connection is closed after this;
                                   SL_SHIM_DEFAULT_IDLE_TIMEOUT_S */
    unsigned header_timeout_ms; /* a request (line, headers, any body) not
                                   in within this of the connection's
                                   start (after a response: this plus
                                   idle_timeout_s) closes the connection;
                                   SL_SHIM_DEFAULT_HEADER_TIMEOUT_MS */
    unsigned max_connections;   /* concurrent HTTP connections; more wait in
                                   the listen backlog;
                                   SL_SHIM_DEFAULT_MAX_CONNECTIONS */
    size_t conn_memory_bytes;   /* per-connection memory for the request
                                   line and headers (X-Auth-Token can be
                                   several KiB); a larger header block gets
                                   431; SL_SHIM_DEFAULT_CONN_MEMORY */
    size_t max_token_bytes;     /* a longer X-Auth-Token gets 401
                                   ModelArts.0203 without an upstream call.
                                   gRPC servers refuse metadata over 8 KiB by
                                   default (GRPC_ARG_MAX_METADATA_SIZE) and
                                   may drop the whole connection, failing
                                   other requests: keep this below the
                                   server's limit; SL_SHIM_DEFAULT_MAX_TOKEN */
    size_t max_response_bytes;  /* the largest answer message taken from
                                   the upstream (gRPC's receive limit; the
                                   server's send limit should be the same):
                                   a larger one gets 500 ModelArts.0010,
                                   never retried (http_upstream.h);
                                   SL_SHIM_DEFAULT_MAX_RESPONSE, at most
                                   INT_MAX */
    unsigned max_watchers;      /* REST watch (SSE) clients at once; one
                                   more gets 429 ModelArts.2799 (http_sse.h);
                                   SL_SHIM_DEFAULT_MAX_WATCHERS */
    unsigned sse_keepalive_ms;  /* a watch with nothing sent for this long
                                   sends a ": keepalive" comment;
                                   SL_SHIM_DEFAULT_SSE_KEEPALIVE_MS */
    unsigned watch_streams;     /* watch calls per upstream connection: the
                                   upstream's HTTP/2 stream limit (the
                                   server's --max-connection-streams);
                                   SL_SHIM_DEFAULT_WATCH_STREAMS */
    const char *cors_origins;   /* comma-separated origins answered with CORS
                                   headers, or "*"; NULL or "": no CORS
                                   (http_web.h) */
    const struct sl_tls_config *tls; /* HTTPS (cert, key, client_ca) and
                                        the upstream's TLS (upstream_*);
                                        NULL: plain HTTP, plaintext
                                        upstream. The files are read and
                                        checked in sl_shim_start. */
};

struct sl_shim;

/* Parses the listen address, binds it (a busy port is an error: the
 * socket gets SO_REUSEADDR, never SO_REUSEPORT), creates the upstream
 * channel (it connects lazily: an unreachable upstream is not an error
 * here but a 503 per request) and starts serving in libmicrohttpd's own
 * threads.
 * On success *out is owned by the caller and released with
 * sl_shim_stop(). On failure *out is NULL, nothing is left running or
 * allocated, and err says why: SL_EINVAL for a malformed config ("cannot
 * listen on HOST:PORT: ...") or a TLS file that cannot be used (naming
 * the flag and the file, tls.h), SL_EIO when the address cannot be bound
 * ("cannot listen on HOST:PORT: Address already in use"), SL_ENOMEM.
 * Calls grpc_init(); sl_shim_stop() calls grpc_shutdown().
 * THREAD SAFETY: safe to call from any thread. */
int sl_shim_start(const struct sl_shim_config *cfg, struct sl_shim **out,
                  struct sl_err *err);

/* The TCP port the shim listens on (useful after port 0). */
int sl_shim_port(const struct sl_shim *s);

/* Stops accepting and answers every connection already accepted (those
 * still in the listen backlog included). Every watch ends at once: a
 * stream under way with its "error" event (503 ModelArts.4302) and its
 * last chunk, one waiting for its snapshot with 503; its upstream call is
 * cancelled. A request in within 1 s of the
 * stop is served as usual, a later one gets 503 ModelArts.4302; every
 * answer from the stop on carries Connection: close. Waits for
 * connections yet to send a request until their header deadline (at most
 * 5 s) and for requests in flight until their upstream deadline; then
 * closes what is left (kept-alive connections between requests) and
 * frees everything s owns. Accepts NULL. THREAD SAFETY: not from a shim
 * thread; once per shim. */
void sl_shim_stop(struct sl_shim *s);

#endif
