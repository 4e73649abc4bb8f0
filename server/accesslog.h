/* accesslog.h -- one structured line per call, and request ids
 *
 * Access lines are JSON objects, one per line, on stderr, written with one
 * write(2) so that lines of different threads never interleave (a pipe
 * keeps a write of up to PIPE_BUF, 4096 bytes, whole; every string field
 * is cut to a byte budget after escaping -- path 1024, the others less --
 * so a line always stays below that). They are written at info level
 * (--log-level warn or error turns them off).
 *
 * Keys, always all of them, in this order:
 *   time         "2026-11-27T23:06:07.123456Z" (RFC 3339, UTC, microseconds)
 *   kind         "grpc" | "http"
 *   method       gRPC method path, or HTTP method
 *   path         HTTP path without the query (null for gRPC)
 *   project_id   service_id   from the request when it had them, else null
 *   status       number: gRPC status code or HTTP status
 *   error_code   "ModelArts.3502" on failure, else null
 *   duration_us  number
 *   peer         "ipv4:127.0.0.1:5555" (gRPC) or "127.0.0.1:5555" (HTTP)
 *   request_id   the x-request-id the call carried or was given
 * Strings are escaped by sl_buf_put_json_string() (control characters,
 * invalid UTF-8), so a hostile path cannot break or forge a line.
 */
#ifndef SL_ACCESSLOG_H
#define SL_ACCESSLOG_H

#include <stddef.h>
#include <stdint.h>

#define SL_REQUEST_ID_MAX 128 /* longest request id accepted from a client */
#define SL_REQUEST_ID_LEN 32  /* length of a generated id */

/* One finished call. All strings are owned by the caller, only read
 * during sl_access_log(), and may be NULL (then the key is written as
 * null). */
struct sl_access {
    const char *kind;       /* "grpc" or "http" */
    const char *method;     /* gRPC method path, or HTTP method */
    const char *path;       /* HTTP path (NULL for gRPC) */
    const char *project_id; /* from the request, when it had one */
    const char *service_id;
    int status;             /* gRPC status code or HTTP status */
    const char *error_code; /* ModelArts code on failure, else NULL */
    uint64_t duration_us;   /* from arrival to the last byte queued */
    const char *peer;       /* "ipv4:127.0.0.1:5555" or "127.0.0.1:5555" */
    const char *request_id; /* x-request-id */
};

/* Writes {"time":"2026-11-27T23:06:07.123456Z","kind":...} and "\n" to
 * stderr in one write(2), when sl_log_level >= SL_LOG_INFO; nothing
 * otherwise. Never fails visibly: out of memory or a failed write drop the
 * line. THREAD SAFETY: safe from any thread. */
void sl_access_log(const struct sl_access *a);

/* Fills out (n >= SL_REQUEST_ID_LEN + 1 bytes; a smaller n gets a
 * truncated id, n == 0 nothing) with a new random request id: 32
 * lowercase hex characters and a NUL. The bytes come from getrandom(2),
 * fetched in blocks per thread so that an id rarely costs a system call;
 * should getrandom fail (never blocks: GRND_NONBLOCK), a per-process
 * counter mixed with the clocks and the thread keeps ids unique.
 * THREAD SAFETY: safe from any thread (the block is thread-local). */
void sl_request_id_new(char *out, size_t n);

/* True when s[0..len) is an acceptable client-supplied request id: 1 to
 * SL_REQUEST_ID_MAX printable ASCII characters (0x21-0x7e; no space). s
 * NULL is not. Anything else is replaced by a generated id, so logs never
 * carry control characters. */
int sl_request_id_valid(const char *s, size_t len);

#endif
