/* http_route.h -- the REST shim's router: method and URL in, a route out
 *
 * Pure: no I/O, no allocation, no gRPC, no HTTP library; it depends only
 * on the leaves error.h and validate.h, and on metrics.h for enum
 * sl_http_route (the route label of the HTTP metrics; a header-only
 * dependency: nothing of metrics.c is linked in). http_shim.c routes every
 * request through it; tests/unit/test_http_route.c and
 * tests/fuzz/fuzz_route.c pin the rules below.
 *
 * Routing decisions (sl_http_route):
 * - The path is matched byte for byte, as sent (no percent-decoding, no
 *   dot-segment or slash folding): exactly the five segments of
 *   /v1/{project_id}/services/{service_id}/logs (SL_HTTP_ROUTE_LOGS) or
 *   of /v1/{project_id}/services/{service_id}/logs:watch
 *   (SL_HTTP_ROUTE_WATCH, the Server-Sent Events watch, http_sse.h), or
 *   exactly "/healthz" or "/metrics", or a static file's path:
 *   "/openapi.json", "/ui" or anything under "/ui/" (SL_HTTP_ROUTE_ASSET,
 *   http_assets.h; whether the file exists is the answer's business: 404
 *   ModelArts.0104 when not). "/logs/", "/metrics/" (trailing
 *   slash), "logs:Watch", "logs%3Awatch", extra or missing segments: 404
 *   ModelArts.0104. Below, "a logs path" is either of the first two: they
 *   share every rule.
 * - A logs path whose id segment is not 1-64 characters of
 *   [A-Za-z0-9_-] (empty, too long, '%2F', any '%xx'): 400 ModelArts.0101.
 * - Method, on any of the five routes: GET; HEAD (the same status and
 *   headers, Content-Length included, without the body); anything else
 *   405 ModelArts.2803 with "Allow: GET, HEAD". The method check comes
 *   before the id check.
 * - Query, on a logs path: update_time (first occurrence; decimal
 *   0..INT64_MAX, 0 = all; empty or anything else: 400 ModelArts.0101).
 *   Other parameters are ignored. Values are not percent-decoded (an
 *   update_time is digits). The other routes ignore the query.
 *   sl_http_route_query() applies this rule alone, to a target whose
 *   query the shim had to keep from the HTTP library (http_shim.c).
 *
 * Message framing (sl_http_framing_*, RFC 9112 sections 5.1, 6.1 and
 * 6.3): a request whose body length two parties could read differently
 * -- the request smuggling of a front proxy and the shim disagreeing --
 * is refused, 400 ModelArts.0101, and its connection closed, so nothing
 * sent after it on that connection is read:
 * - a header field name that is empty or not a token (whitespace before
 *   the colon, "Content-Length : 5", or any other separator or control);
 * - more than one Content-Length field (whatever the values);
 * - more than one Transfer-Encoding field;
 * - Content-Length and Transfer-Encoding together;
 * - a Transfer-Encoding other than exactly "chunked" (ASCII case
 *   ignored): "identity", "xchunked", "chunked, identity", "gzip,
 *   chunked" -- the shim decodes no transfer coding but chunked, and
 *   libmicrohttpd would read any other one as a body running to the
 *   connection's end.
 */
#ifndef SL_HTTP_ROUTE_H
#define SL_HTTP_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "limits.h"
#include "metrics.h" /* enum sl_http_route */

/* A request the router accepted: one QueryServiceLogs call to make (route
 * SL_HTTP_ROUTE_LOGS), one WatchServiceLogs stream (SL_HTTP_ROUTE_WATCH),
 * a health check or the metrics. Owner: the caller;
 * its pointers borrow the url given to sl_http_route(). */
struct sl_route {
    enum sl_http_route route; /* which route the path matched; on an error
                                 too (SL_HTTP_ROUTE_OTHER: none) */
    const char *project_id;   /* points into the url; not NUL-terminated;
                                 NULL but on a logs path (LOGS, WATCH) */
    size_t project_len;       /* 1..SL_MAX_ID, valid per sl_id_valid() */
    const char *service_id;   /* points into the url; not NUL-terminated */
    size_t service_len;       /* 1..SL_MAX_ID, valid per sl_id_valid() */
    int64_t update_time;      /* the ?update_time filter; 0: all logs */
    bool head;                /* HEAD: answer as GET, without the body */
};

/* The request a logs or watch route stands for, packed as a gRPC client
 * packs it (QueryServiceLogsRequest; WatchServiceLogsRequest's fields are
 * the same, so the bytes serve both) into wire, which holds at least
 * SL_ROUTE_PACK_MAX bytes. Returns the length. */
#define SL_ROUTE_PACK_MAX (2 * (SL_MAX_ID + 2) + 16) /* two ids, an int64 */
size_t sl_http_route_pack(const struct sl_route *rt, uint8_t *wire);

/* Routes one request: method as sent ("GET", case-sensitive) and url, the
 * request target as sent: path, optionally "?query". Pure: no I/O, no
 * allocation; out's pointers point into url, which must outlive them.
 * Returns SL_OK with *out filled, or the error to answer with (out zeroed
 * but for out->route, the route the path matched, SL_HTTP_ROUTE_OTHER for
 * SL_ENOROUTE; err->msg says why without echoing the url): SL_ENOROUTE
 * (404 0104), SL_EMETHOD (405 2803; answer with "Allow: GET, HEAD") or
 * SL_EINVAL (400 0101). THREAD SAFETY: reentrant. */
int sl_http_route(const char *method, const char *url, struct sl_route *out,
                  struct sl_err *err);

/* The update_time rule of sl_http_route for one query value as the HTTP
 * library split it out, value[0..len) (not percent-decoded; need not be
 * NUL-terminated): present false (no update_time parameter): SL_OK with
 * *out 0; value NULL ("?update_time" without '=') or not a decimal
 * 0..INT64_MAX: SL_EINVAL with *out 0. Pure. THREAD SAFETY: reentrant. */
int sl_http_route_update_time(bool present, const char *value, size_t len,
                              int64_t *out, struct sl_err *err);

/* The update_time rule of sl_http_route for the query of url, a request
 * target as sent (path, optionally "?query"; NULL: none): SL_OK and
 * *out (0: no update_time), or SL_EINVAL and *out 0. The path is not
 * looked at. Pure. THREAD SAFETY: reentrant. */
int sl_http_route_query(const char *url, int64_t *out, struct sl_err *err);

/* What the framing rules need of one request's header fields, gathered
 * by sl_http_framing_add(). Owner: the caller; zero it to start. */
struct sl_http_framing {
    unsigned content_length;    /* Content-Length fields seen */
    unsigned transfer_encoding; /* Transfer-Encoding fields seen */
    bool te_not_chunked;        /* a Transfer-Encoding other than "chunked" */
    bool bad_name;              /* a field name that is not a token */
};

/* Notes one header field, name[0..name_len) and value[0..value_len) as
 * the HTTP library split them (the value without leading whitespace;
 * value may be NULL when value_len is 0). Pure. THREAD SAFETY: reentrant
 * on distinct f. */
void sl_http_framing_add(struct sl_http_framing *f, const char *name,
                         size_t name_len, const char *value, size_t value_len);

/* SL_OK when the fields noted in f frame the request unambiguously, else
 * SL_EINVAL (400 ModelArts.0101; answer it and close the connection) and
 * err says which rule, without echoing the request. Pure. THREAD SAFETY:
 * reentrant. */
int sl_http_framing_check(const struct sl_http_framing *f, struct sl_err *err);

#endif
