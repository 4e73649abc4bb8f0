/* http_upstream.h -- the REST shim's gRPC client: one channel, blocking
 * unary calls from the shim's worker threads
 *
 * What the shim asks the upstream gRPC server (same process or
 * --upstream alike):
 * - for GET /v1/.../logs, one unary /modelarts.v1.ServiceLogs/
 *   QueryServiceLogs call (sl_http_upstream_query);
 * - for GET /healthz, one grpc.health.v1.Health/Check with service ""
 *   (sl_http_upstream_health) over the same channel, so /healthz reports
 *   what gRPC clients see.
 * Each call carries "x-request-id" metadata (the shim's X-Request-Id, so
 * both sides' access lines share it) and, on the logs call, the client's
 * X-Auth-Token as "x-auth-token"; each has the deadline timeout_ms.
 *
 * TLS (struct sl_tls_config, tls.h): with an upstream_ca the channel is
 * TLS (gRPC SSL credentials) trusting that CA, presenting
 * upstream_cert/upstream_key when given and expecting upstream_name
 * (GRPC_SSL_TARGET_NAME_OVERRIDE_ARG) when given, else the upstream's
 * host. Without one the channel is plaintext.
 *
 * Upstream errors: with a google.rpc.ErrorInfo in grpc-status-details-bin
 * the reason picks the row (sl_err_from_grpc) and the status message is
 * error_msg. Without one the status came from the gRPC library or a
 * proxy, not from our server: the row comes from the status alone
 * (UNAVAILABLE: 503 ModelArts.4302, DEADLINE_EXCEEDED: 504) and error_msg
 * is a fixed text; the library's detail (addresses, errno) goes to the
 * log, at warn level, at most one line a second. One library status is
 * told apart by its text: RESOURCE_EXHAUSTED for a message over a size
 * limit -- an answer larger than the server's send limit or this
 * channel's receive limit (--max-response-bytes) -- is SL_ETOOBIG (500
 * ModelArts.0010, "the answer is larger than --max-response-bytes"): it
 * fails the same way every time, so it must not read as overload (429,
 * which clients retry).
 */
#ifndef SL_HTTP_UPSTREAM_H
#define SL_HTTP_UPSTREAM_H

#include <grpc/grpc.h>

#include "error.h"
#include "grpc/health/v1/health.pb-c.h"
#include "http_route.h"
#include "modelarts/v1/service_logs.pb-c.h"
#include "tls.h"

#define SL_HTTP_WATCH_MS 250 /* channel watcher wake-up; bounds close time */

struct sl_http_upstream;

/* Calls grpc_init(), creates the channel to target (any
 * grpc_channel_create target; TLS per tls, NULL: plaintext), registers
 * the two methods, creates the thread key of the workers' completion
 * queues and starts the channel watcher thread. The channel connects
 * lazily: an unreachable upstream is not an error here but an SL_EUNAVAIL
 * per call. timeout_ms (> 0) is every call's deadline; max_response
 * (1..INT_MAX) the largest answer message taken (the channel's
 * GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH).
 * On success *out is owned by the caller and released with
 * sl_http_upstream_close(). On failure *out is NULL, nothing is left
 * running or allocated (grpc_shutdown() was called) and err says why:
 * SL_EINVAL for an unusable target or TLS file (tls.h), SL_ENOMEM.
 * THREAD SAFETY: safe to call from any thread. */
int sl_http_upstream_open(const char *target, const struct sl_tls_config *tls,
                          int timeout_ms, size_t max_response,
                          struct sl_http_upstream **out, struct sl_err *err);

/* Stops and joins the watcher (within SL_HTTP_WATCH_MS), destroys the
 * channel and the thread key, calls grpc_shutdown() and frees u. Accepts
 * NULL. Call only once every thread that made calls through u has exited
 * (the shim: after MHD_stop_daemon joined its workers): a thread's
 * completion queue is destroyed when that thread exits, not here.
 * THREAD SAFETY: not from a thread that made calls; once per u. */
void sl_http_upstream_close(struct sl_http_upstream *u);

/* One QueryServiceLogs call for rt (the logs route: ids and update_time)
 * with x-auth-token token (NULL: none; printable ASCII, the caller checks)
 * and x-request-id request_id. Blocks until the answer or the deadline.
 * SL_OK and *out, the packed QueryServiceLogsResponse as the server sent
 * it (the caller unrefs it; render_json.h renders it, whole or streamed);
 * or the error to answer the client with (see the top) and *out empty.
 * THREAD SAFETY: any number of threads at once, one call per thread at a
 * time (each thread uses its own completion queue, created on its first
 * call and destroyed when it exits). */
int sl_http_upstream_query(struct sl_http_upstream *u,
                           const struct sl_route *rt, const char *token,
                           const char *request_id, grpc_slice *out,
                           struct sl_err *err);

/* One grpc.health.v1.Health/Check (service "") with x-request-id
 * request_id. SL_OK and *status the upstream's answer (any value the
 * server sent, known to the enum or not), or the error (unreachable,
 * deadline, UNIMPLEMENTED, ...) and *status
 * ..._SERVING_STATUS__UNKNOWN. THREAD SAFETY: as sl_http_upstream_query. */
int sl_http_upstream_health(
    struct sl_http_upstream *u, const char *request_id,
    Grpc__Health__V1__HealthCheckResponse__ServingStatus *status,
    struct sl_err *err);

/* A gRPC metadata value holding a copy of the secret s (a token) that is
 * wiped (explicit_bzero) when the last reference is released: the shim's
 * copies of a token do not linger in freed memory (the request's header
 * itself is libmicrohttpd's, and gRPC's transport keeps its own copies).
 * Owner: the caller's reference (grpc_slice_unref); out of memory, an
 * empty slice (the call then fails UNAUTHENTICATED). THREAD SAFETY: any
 * thread. */
grpc_slice sl_http_secret_slice(const char *s);

/* ---- for the watch (http_watch.c) ---------------------------------------- */

/* A new channel to u's upstream for watch calls: u's target, TLS and
 * channel arguments, plus a subchannel pool of its own, so that it opens
 * an HTTP/2 connection of its own: long-lived watch streams then never
 * take the stream places (the server's --max-connection-streams) of the
 * connection the queries use, nor of another watch channel. NULL on
 * failure. Owner: the caller, who destroys it (grpc_channel_destroy)
 * before sl_http_upstream_close(u). THREAD SAFETY: any thread. */
grpc_channel *sl_http_upstream_watch_channel(struct sl_http_upstream *u);

/* SL_ETOOBIG with the text the shim answers for an answer over
 * --max-response-bytes: of size bytes (0: unknown) against limit. The
 * in-process paths use it too, so both modes say the same. THREAD SAFETY:
 * any thread. */
int sl_http_too_big(unsigned long long size, long long limit,
                    struct sl_err *err);

/* The error to answer with for a non-OK upstream status (the rules at the
 * top): status, its details text and the trailing metadata of the call.
 * Returns the SL_ERR_MAP code, with err filled. THREAD SAFETY: any
 * thread. */
int sl_http_upstream_error(struct sl_http_upstream *u, grpc_status_code status,
                           grpc_slice details, const grpc_metadata_array *trail,
                           struct sl_err *err);

/* A received message unpacked as a d; NULL when malformed or out of
 * memory. The caller frees it with protobuf_c_message_free_unpacked();
 * bb stays the caller's. THREAD SAFETY: reentrant. */
ProtobufCMessage *sl_http_upstream_unpack(const ProtobufCMessageDescriptor *d,
                                          grpc_byte_buffer *bb);

#endif
