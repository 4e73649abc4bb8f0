/* http_answer.h -- the REST shim's answers: one request's state and the
 * responses queued for it
 *
 * Every response the shim itself makes is queued here, on the worker
 * that handles the request, and carries: the Content-Type of its body,
 * X-Request-Id (struct sl_req.request_id), Allow on a 405, and
 * Connection: close when the request's connection is not to be read
 * further (sl_http_must_close). Error bodies are
 * {"error_code","error_msg"} (render_json.h) with the HTTP status of the
 * error's SL_ERR_MAP row, or of the HTTP-only refusal that names it
 * (413, 414). A body that could not be rendered for lack of memory
 * becomes 500 ModelArts.0010 with a fixed body. The body's memory moves
 * to libmicrohttpd (MHD_RESPMEM_MUST_FREE), which frees it after sending;
 * MHD_destroy_response follows MHD_queue_response at once.
 *
 * The three answers to a routed request are here too: the logs
 * (QueryServiceLogs in-process through http_local.h, or through
 * http_upstream.h with --upstream; rendered by render_json.h), /healthz
 * (the server's serving status, or Health/Check) and /metrics
 * (metrics.h).
 *
 * THREAD SAFETY: every function acts on one request, on the worker
 * thread that handles it.
 */
#ifndef SL_HTTP_ANSWER_H
#define SL_HTTP_ANSWER_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <microhttpd.h>

#include "accesslog.h" /* SL_REQUEST_ID_MAX */
#include "buf.h"
#include "error.h"
#include "http_local.h"
#include "http_route.h"
#include "http_upstream.h"
#include "http_web.h"
#include "metrics.h"
#include "validate.h"

#define SL_HTTP_JSON_TYPE "application/json; charset=utf-8"
#define SL_HTTP_LOG_PATH_MAX 1024 /* bytes of the path kept for the log */

struct sl_watch_stream; /* http_watch.h */

/* State of one request, from its request line (the shim's URI callback)
 * to its completion: what its routing, answer, access line and metrics
 * need. Owner: the shim (libmicrohttpd's *req_cls), which allocates it
 * zeroed and frees it when the request completes. */
struct sl_req {
    const atomic_int *stopping;     /* the shim's; nonzero: it is stopping,
                                       every answer closes its connection */
    bool headers_in;                /* the handler has seen it */
    bool close;                     /* answer with Connection: close */
    bool target_too_long;           /* request target too long: 414 */
    size_t target_bytes;            /* the request target's length */
    int query_rc;                   /* sl_http_route_query() of the target */
    int64_t update_time;            /* its ?update_time when SL_OK */
    struct sl_err query_err;        /* why not, otherwise */
    int64_t start_us;               /* sl_clock_us() when the headers were in */
    size_t body_bytes;              /* read and dropped so far */
    bool body_expected;             /* the headers announced a body */
    enum sl_http_route route;       /* what the path matched */
    int status;                     /* HTTP status queued; 0: none (yet) */
    const char *error_code;         /* ModelArts code of a failure (static) */
    char method[16];                /* as sent, cut */
    char project_id[SL_MAX_ID + 1]; /* "" unless the logs route matched */
    char service_id[SL_MAX_ID + 1];
    char request_id[SL_REQUEST_ID_MAX + 1]; /* the client's or ours */
    char path[SL_HTTP_LOG_PATH_MAX + 1];    /* as sent, cut */
    struct sl_watch_stream *watch;   /* the watch route's stream once started
                                        (http_watch.h); released when the
                                        request completes */
    const struct sl_http_cors *cors; /* the shim's (http_web.h) */
    bool gzip;                       /* the body queued is gzip */
    bool preflight;                  /* a CORS preflight's 204 */
    char etag[SL_HTTP_ETAG_MAX];     /* the logs answer's ETag; "": none */
};

/* Whether rq's answer closes its connection: rq->close (a request
 * refused for its framing: nothing after it on the connection may be
 * read) or the shim stopping. */
bool sl_http_must_close(const struct sl_req *rq);

/* Queues body with status and content_type (Allow: GET, HEAD when allow;
 * no Content-Type when NULL; an empty body for 204 and 304) and the
 * headers of http_web.h that rq calls for; body's memory moves to libmicrohttpd
 * and *body is left empty, also on failure (then released). Notes status and
 * error_code (static, NULL on success) in rq for the access line. Returns
 * libmicrohttpd's answer (MHD_NO: the connection is closed). */
enum MHD_Result sl_http_respond(struct MHD_Connection *conn, struct sl_req *rq,
                                unsigned int status, struct sl_buf *body,
                                const char *content_type, bool allow,
                                const char *error_code);

/* The JSON error body of code (msg NULL: the table's message) with the
 * HTTP status given: the HTTP-only refusals (413, 414). */
/* sl_http_respond's second half, for a response made elsewhere (a
 * streamed body, sl_http_stream_answer): adds the headers, queues r and
 * destroys the caller's reference; MHD_NO when r is NULL. */
enum MHD_Result sl_http_queue(struct MHD_Connection *conn, struct sl_req *rq,
                              unsigned int status, struct MHD_Response *r,
                              const char *content_type, bool allow,
                              const char *error_code);

enum MHD_Result sl_http_respond_status(struct MHD_Connection *conn,
                                       struct sl_req *rq, unsigned int status,
                                       int code, const char *msg);

/* The JSON error body of code with the HTTP status of its SL_ERR_MAP row
 * (and Allow on SL_EMETHOD). */
enum MHD_Result sl_http_respond_error(struct MHD_Connection *conn,
                                      struct sl_req *rq, int code,
                                      const char *msg);

/* GET /v1/{p}/services/{s}/logs (rt, the logs route): the client's
 * X-Auth-Token (at most max_token bytes of printable ASCII, else 401
 * ModelArts.0203 without a call) goes with the query -- in-process
 * through local, or (local NULL) upstream through u -- the answer is
 * rendered, or the error answered. Notes the ids in rq. */
enum MHD_Result
sl_http_answer_query(struct MHD_Connection *conn, struct sl_req *rq,
                     struct sl_http_upstream *u, struct sl_http_local *local,
                     size_t max_token, const struct sl_route *rt);

/* For a logs path (rt: LOGS or WATCH): notes the ids in rq and reads the
 * client's X-Auth-Token into *token (NULL: none, or empty). SL_OK, or
 * SL_EBADTOKEN (answer it) for a token over max_token bytes or with bytes
 * other than printable ASCII; err says which. */
int sl_http_req_token(struct MHD_Connection *conn, struct sl_req *rq,
                      size_t max_token, const struct sl_route *rt,
                      const char **token, struct sl_err *err);

/* GET /healthz: the overall health (service ""): the server's serving
 * status through local, or (local NULL) Health/Check through u;
 * http_shim.h has the answers. */
enum MHD_Result sl_http_answer_health(struct MHD_Connection *conn,
                                      struct sl_req *rq,
                                      struct sl_http_upstream *u,
                                      struct sl_http_local *local);

/* GET /metrics: the process's Prometheus text (metrics.h). */
enum MHD_Result sl_http_answer_metrics(struct MHD_Connection *conn,
                                       struct sl_req *rq);

/* A big logs answer, rendered while it is sent (http_answer.c).
 *
 * A REST answer of tens of thousands of logs is not built whole: the shim
 * keeps the packed QueryServiceLogsResponse (the gRPC answer's bytes, a
 * fraction of the JSON's size) and libmicrohttpd pulls the JSON from it a
 * chunk at a time (render_json.h's stream), gzip-compressed on the way
 * when the client accepts gzip (one deflate stream per answer). Memory per
 * answer: the packed bytes, one chunk and zlib's state, instead of the
 * protobuf-c tree of every log plus the whole JSON (36 MiB for a 50 000-log
 * answer of 11.5 MB before; docs/rest.md).
 *
 * What changes for the client: the body comes with Transfer-Encoding:
 * chunked instead of a Content-Length (HTTP/1.0: ends with the
 * connection), and its ETag is computed from the packed answer and this
 * build's version (the JSON is a function of both) rather than from the
 * JSON, with a "p" before the digits: still strong, still different for
 * the gzip body ("-gz"), and If-None-Match -> 304 without rendering
 * anything. A log that cannot be rendered mid-way (the store vouched for
 * every byte, so this is a bug or memory running out) ends the body early
 * and the connection with it, logged at error.
 *
 * Answers smaller than SL_HTTP_STREAM_MIN packed bytes (http_local.h) are
 * rendered whole as before (Content-Length, the JSON's ETag). */
#define SL_HTTP_STREAM_CHUNK (32 * 1024) /* JSON rendered per step */

/* Answers 200 (or 304) with the JSON of packed, a QueryServiceLogsResponse
 * (takes the caller's reference). */
enum MHD_Result sl_http_stream_answer(struct MHD_Connection *conn,
                                      struct sl_req *rq, grpc_slice packed);

/* Adds to r what rq and its request call for: ETag and Content-Encoding
 * of a logs answer, Vary on a logs path, the CORS headers for an allowed
 * Origin, and (preflight) the Access-Control-Allow-* ones. MHD_NO when a
 * header could not be added. */
enum MHD_Result sl_http_web_headers(struct MHD_Response *r,
                                    struct MHD_Connection *conn,
                                    const struct sl_req *rq, bool preflight);

/* The Content-Security-Policy of every static file: this origin only. */
#define SL_HTTP_ASSET_CSP                                                      \
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; "           \
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

/* GET /ui/..., /openapi.json: the embedded file at path (http_assets.h),
 * or a JSON 404 naming the path. */
enum MHD_Result sl_http_answer_asset(struct MHD_Connection *conn,
                                     struct sl_req *rq, const char *path);

/* Answers a preflight OPTIONS on a logs path with 204 when CORS allows
 * its Origin; false (nothing queued) when not: answer 405 as before. */
bool sl_http_web_preflight(struct MHD_Connection *conn, struct sl_req *rq,
                           enum MHD_Result *ret);

#endif
