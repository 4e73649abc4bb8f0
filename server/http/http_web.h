/* http_web.h -- what browsers and caches need of the REST shim: CORS,
 * gzip and ETag / If-None-Match (docs/rest.md has the rules for users)
 *
 * CORS (--cors-origins): a comma-separated list of exact origins
 * ("https://a.example,http://localhost:3000", compared byte for byte
 * with the request's Origin), or "*"; "" (the default) answers no CORS
 * header at all. On a logs path (http_route.h: logs or logs:watch), every
 * answer to a request whose Origin is allowed carries
 * Access-Control-Allow-Origin (the origin, or "*" for "*"),
 * Access-Control-Expose-Headers: X-Request-Id, ETag, and Vary: Origin
 * (with a list; "*" answers every origin the same). A preflight (OPTIONS
 * on a logs path with an allowed Origin) is 204 with
 * Access-Control-Allow-Methods: GET, HEAD, Access-Control-Allow-Headers:
 * X-Auth-Token, X-Request-Id, If-None-Match and Access-Control-Max-Age:
 * 600; any other OPTIONS keeps its 405 ModelArts.2803.
 *
 * gzip: the logs answer (200 JSON) of SL_HTTP_GZIP_MIN bytes or more is
 * sent gzip-compressed (zlib, level SL_HTTP_GZIP_LEVEL) when the
 * request's Accept-Encoding accepts gzip (RFC 9110 12.5.3: "gzip",
 * "x-gzip" or "*" with a q-value above 0; "gzip;q=0" refuses it, and an
 * explicit gzip entry wins over "*"); smaller ones stay plain (the
 * header costs more than it saves). Every logs answer carries Vary:
 * Accept-Encoding. Errors, /healthz, /metrics and the SSE watch are
 * never compressed.
 *
 * ETag: strong, of the exact body bytes sent: "\"%016llx\"" of a 64-bit
 * FNV-1a hash of the plain JSON, and the same with "-gz" for the gzip
 * body (RFC 9110 8.8.3: a strong validator differs between content
 * codings of one resource). If-None-Match (a list, or "*") is compared
 * weakly (RFC 9110 13.1.2: W/ ignored) with the tag of the representation
 * that would be sent: a match is 304 with ETag and Vary, no body.
 *
 * Everything here but sl_http_header_bytes is pure; the answers that use
 * it are in http_answer.c (sl_http_web_headers, the logs and static
 * answers, sl_http_web_preflight).
 * THREAD SAFETY: the pure functions are reentrant; a struct sl_http_cors
 * is read-only once parsed and may be shared by every worker.
 */
#ifndef SL_HTTP_WEB_H
#define SL_HTTP_WEB_H

#include <stdbool.h>
#include <stddef.h>

#include <microhttpd.h>
#include <zlib.h>

#include "buf.h"
#include "error.h"

#define SL_HTTP_GZIP_MIN 1024 /* smaller bodies stay plain */
#define SL_HTTP_GZIP_LEVEL 1  /* zlib level: nginx's default, see docs */
#define SL_HTTP_ETAG_MAX 24   /* "\"" 16 hex "-gz\"" NUL */
#define SL_HTTP_CORS_MAX_AGE "600"

/* The parsed --cors-origins. Owner: whoever declared it; filled by
 * sl_http_cors_parse, released by sl_http_cors_free. */
struct sl_http_cors {
    bool any;       /* "*": every origin */
    size_t n;       /* origins[0..n) */
    char **origins; /* point into mem */
    char *mem;      /* the list's copy, NUL-separated */
};

/* Parses list (NULL or "": no CORS; "*"; or comma-separated origins,
 * spaces around commas ignored; an empty entry or one with a space,
 * control or "*" among others is SL_EINVAL naming --cors-origins). On
 * failure *out is zeroed and nothing is held. */
int sl_http_cors_parse(const char *list, struct sl_http_cors *out,
                       struct sl_err *err);

/* Frees what c holds and zeroes it; accepts a zeroed one. */
void sl_http_cors_free(struct sl_http_cors *c);

/* Whether any CORS header is answered at all. */
bool sl_http_cors_on(const struct sl_http_cors *c);

/* The Access-Control-Allow-Origin value for origin (NULL: no Origin
 * header): "*", origin itself, or NULL when not allowed. */
const char *sl_http_cors_allow(const struct sl_http_cors *c,
                               const char *origin);

/* Whether accept_encoding (the header's value; NULL: absent) accepts
 * gzip, per the rules above. */
bool sl_http_accepts_gzip(const char *accept_encoding);

/* Starts a gzip stream in z (zlib, level SL_HTTP_GZIP_LEVEL, a gzip
 * header and trailer): SL_OK, the caller then ends it with deflateEnd(),
 * or SL_ENOMEM. */
int sl_http_gzip_init(z_stream *z);

/* Appends the gzip stream of in[0..n) to out. SL_OK, or SL_ENOMEM /
 * SL_EINTERNAL (out then freed). */
int sl_http_gzip(const void *in, size_t n, struct sl_buf *out);

/* Writes the strong ETag of the plain body p[0..n) ("-gz" variant when
 * gz) into out. */
void sl_http_etag(const void *p, size_t n, bool gz, char out[SL_HTTP_ETAG_MAX]);

/* The hash sl_http_etag() tags p[0..n) with, and the tag of such a hash:
 * sl_http_etag(p, n, gz, out) is sl_http_etag_of(sl_http_etag_hash(p, n),
 * gz, out). For a body whose hash is kept (the cached rendering,
 * http_local.h). */
uint64_t sl_http_etag_hash(const void *p, size_t n);
void sl_http_etag_of(uint64_t h, bool gz, char out[SL_HTTP_ETAG_MAX]);

/* The ETag of a streamed answer (docs/rest.md): "p" and the hash of the
 * build's version and the packed answer p[0..n), of which the JSON is a
 * function ("-gz" variant when gz). */
void sl_http_etag_packed(const void *p, size_t n, bool gz,
                         char out[SL_HTTP_ETAG_MAX]);

/* Whether If-None-Match's value inm matches etag (weak comparison, a
 * list, "*"). */
bool sl_http_etag_match(const char *inm, const char *etag);

/* The bytes of conn's header fields as sent, near enough: each name and
 * value plus ": " and CRLF (a folded or padded line counts a little
 * less). For the shim's own 431 (http_shim.c). */
size_t sl_http_header_bytes(struct MHD_Connection *conn);

#endif
