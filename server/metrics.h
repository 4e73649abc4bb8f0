/* metrics.h -- process-wide counters, gauges and histograms (Prometheus)
 *
 * Every function is lock-free (C11 atomics, relaxed order) and safe from
 * any thread; the hot path pays a few relaxed atomic adds per call and
 * never allocates. The metrics are process-wide: a process running the
 * server and the shim shows both; a shim-only process (--upstream) shows
 * the shim's and gRPC ones at zero. sl_metrics_render() writes the
 * Prometheus text exposition format (version 0.0.4).
 *
 * Exposed families (label values are fixed strings; no request data ever
 * becomes a label, so the series count is bounded):
 *   servicelogs_grpc_calls_total{method,code}          counter
 *   servicelogs_grpc_call_duration_seconds{method}     histogram
 *   servicelogs_grpc_calls_in_flight{method}           gauge
 *   servicelogs_backend_errors_total                   counter
 *   servicelogs_backend_corrupt_total                  counter
 *   servicelogs_http_requests_total{route,code}        counter
 *   servicelogs_http_request_duration_seconds{route}   histogram
 *   servicelogs_http_requests_in_flight                gauge
 *   servicelogs_http_header_timeouts_total             counter
 *   servicelogs_cache_{hits,misses,evictions,invalidations}_total counter
 *   servicelogs_cache_bytes, servicelogs_cache_entries  gauge
 *   servicelogs_build_info{version}                    gauge, always 1
 *   process_cpu_seconds_total, process_virtual_memory_bytes,
 *   process_resident_memory_bytes, process_start_time_seconds,
 *   process_open_fds, process_max_fds                 (procstat.h)
 * method is a gRPC method path (the labels of sl_metrics_set_methods(),
 * the rows of the handler table, methods.h), code a gRPC code name
 * ("OK", "NOT_FOUND"; out-of-range codes count as "UNKNOWN"); route is a
 * route template (SL_HTTP_ROUTE_MAP), code an HTTP status ("200").
 * Counters with {method,code} or {route,code} are written only once
 * non-zero; histograms and in-flight gauges are written for every method
 * and route from the start.
 */
#ifndef SL_METRICS_H
#define SL_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "names.h" /* sl_grpc_code_name, SL_GRPC_CODES */

/* The most gRPC methods (labels) the metrics keep apart. */
#define SL_METRICS_METHODS_MAX 32

/* The shim's routes; the route label of the HTTP metrics. */
#define SL_HTTP_ROUTE_MAP(XX)                                                  \
    XX(LOGS, "/v1/{project_id}/services/{service_id}/logs")                    \
    XX(WATCH, "/v1/{project_id}/services/{service_id}/logs:watch")             \
    XX(HEALTHZ, "/healthz")                                                    \
    XX(METRICS, "/metrics")                                                    \
    XX(ASSET, "static")                                                        \
    XX(OTHER, "other")

enum sl_http_route {
#define SL__ROUTE_ENUM(name, label) SL_HTTP_ROUTE_##name,
    SL_HTTP_ROUTE_MAP(SL__ROUTE_ENUM) SL_HTTP_ROUTE__COUNT
#undef SL__ROUTE_ENUM
};

/* Names the gRPC methods: labels[i] is the label of method index i (the
 * row of the handler table); n at most SL_METRICS_METHODS_MAX, more are
 * ignored. The last label also counts every index out of range. main()
 * calls it once, before any thread records; the strings must stay valid
 * (static storage). Until it runs there is no method to render. */
void sl_metrics_set_methods(const char *const *labels, size_t n);

/* A gRPC call of method index m started (in-flight gauge of m +1). An
 * out-of-range m counts as the last method, here and below. */
void sl_metrics_grpc_start(unsigned m);
/* A gRPC call ended with grpc_code (0..16) after duration_us: in-flight
 * -1, calls_total{method,code} +1, latency histogram of the method. Call
 * once per sl_metrics_grpc_start, with the same m. */
void sl_metrics_grpc_done(unsigned m, int grpc_code, uint64_t duration_us);
/* A store call failed for a storage reason (SL_EUNAVAIL, SL_EIO, ...). */
void sl_metrics_backend_error(void);
/* A query found stored data corrupt (SL_ECORRUPT: a log whose checksum
 * or structure is wrong, a damaged database file, a service name that is
 * not UTF-8) and refused to send it. The query path also counts it as a backend
 * failure (sl_metrics_backend_error), so corrupt_total <= errors_total. */
void sl_metrics_backend_corrupt(void);

/* An HTTP request started / ended in the shim (in-flight +1 / -1;
 * requests_total{route,code} +1 and the route's latency histogram).
 * http_status 0 means no response was sent (the client went away, or the
 * connection was closed on an oversized body); anything outside 100..599
 * counts as code "0" too. Responses libmicrohttpd makes by itself (431,
 * 400 on a malformed request line) never reach the shim's handler and are
 * not counted. */
void sl_metrics_http_start(void);
void sl_metrics_http_done(enum sl_http_route route, int http_status,
                          uint64_t duration_us);
/* The shim closed a connection whose request had not arrived within
 * its header deadline (http_shim.h, header_timeout_ms). */
void sl_metrics_http_header_timeout(void);

/* A gRPC connection aborted for resetting streams in bulk (connguard.h). */
void sl_metrics_grpc_conn_aborted(void);

/* The response caches (cache.h; summed over the servers of a process):
 * a lookup hit or missed; n entries were evicted (--cache-bytes) or
 * invalidated (their service changed, a flush); the bytes and entries held
 * changed by these deltas. */
void sl_metrics_cache_hit(void);
void sl_metrics_cache_miss(void);
void sl_metrics_cache_evicted(size_t n);
void sl_metrics_cache_invalidated(size_t n);
void sl_metrics_cache_size(long long bytes, long long entries);

/* Appends the whole exposition (all families above, each with # HELP and
 * # TYPE lines) to out; the caller checks out->oom. Values are exact:
 * counters as integers, histogram sums as seconds with six decimals (the
 * sums are kept in whole microseconds). Each histogram's _count equals its
 * +Inf bucket; under concurrent updates _sum may lag by the calls being
 * recorded at that moment. */
void sl_metrics_render(struct sl_buf *out);

/* Sets every counter, gauge and histogram to zero (unit tests); the
 * method labels stay. Not
 * atomic as a whole: updates racing with it may be lost or kept. */
void sl_metrics_reset(void);

#endif
