/* metrics.c -- process-wide counters, gauges and histograms (Prometheus)
 *
 * All state is static arrays of C11 atomics, updated with relaxed order:
 * each value is a monotonic tally whose exact interleaving with other
 * values does not matter, so no ordering is needed, and no lock is ever
 * taken. A histogram keeps one non-cumulative count per bucket (one
 * atomic add per observation) and is made cumulative when rendered; its
 * _count is the sum of the buckets as read, so _count always equals the
 * +Inf bucket. Durations are whole microseconds; sums are printed as
 * seconds with six decimals, which is exact.
 *
 * Per-method and per-route blocks are cache-line aligned, so the workers
 * of different methods do not bounce one line between cores.
 */
#include "metrics.h"

#include <inttypes.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "procstat.h"

#define SL_HTTP_CODES 600 /* by status; 1..99 unused, 0: no response */
#define SL_CACHE_LINE 64

/* Bucket upper bounds in microseconds, and the same as "le" labels. */
static const uint64_t sl_bucket_us[] = {
    50,    100,    250,    500,    1000,    2500,    5000,    10000,    25000,
    50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};
static const char *const sl_bucket_le[] = {
    "5e-05", "0.0001", "0.00025", "0.0005", "0.001", "0.0025",
    "0.005", "0.01",   "0.025",   "0.05",   "0.1",   "0.25",
    "0.5",   "1",      "2.5",     "5",      "10",
};
#define SL_BUCKETS (sizeof(sl_bucket_us) / sizeof(sl_bucket_us[0]))
_Static_assert(sizeof(sl_bucket_le) / sizeof(sl_bucket_le[0]) == SL_BUCKETS,
               "one le label per bucket bound");

struct sl_hist {
    atomic_uint_fast64_t bucket[SL_BUCKETS + 1]; /* last: above all bounds */
    atomic_uint_fast64_t sum_us;                 /* sum of observations */
};

struct sl_grpc_method {
    alignas(SL_CACHE_LINE) atomic_long in_flight;
    atomic_uint_fast64_t calls[SL_GRPC_CODES]; /* by gRPC code */
    struct sl_hist latency;
};

struct sl_http_route_stats {
    alignas(SL_CACHE_LINE) struct sl_hist latency;
    atomic_uint_fast64_t requests[SL_HTTP_CODES]; /* by status */
};

static struct sl_grpc_method sl_grpc[SL_METRICS_METHODS_MAX];
static struct sl_http_route_stats sl_http[SL_HTTP_ROUTE__COUNT];
static alignas(SL_CACHE_LINE) atomic_long sl_http_in_flight;
static alignas(SL_CACHE_LINE) atomic_uint_fast64_t sl_backend_errors;
static atomic_uint_fast64_t sl_http_header_timeouts; /* rare: shares a line */
static atomic_uint_fast64_t sl_grpc_conns_aborted;   /* rare too */
static atomic_uint_fast64_t sl_backend_corrupt;      /* rare: shares a line */

/* Method labels, by index; set once before any thread records. */
static const char *sl_method_labels[SL_METRICS_METHODS_MAX];
static size_t sl_n_methods;

static const char *const sl_route_labels[] = {
#define SL__ROUTE_LABEL(name, label) label,
    SL_HTTP_ROUTE_MAP(SL__ROUTE_LABEL)
#undef SL__ROUTE_LABEL
};

/* ---- recording --------------------------------------------------------- */

static unsigned method_index(unsigned m)
{
    if (m < sl_n_methods)
        return m;
    return sl_n_methods ? (unsigned)sl_n_methods - 1 : 0;
}

void sl_metrics_set_methods(const char *const *labels, size_t n)
{
    if (n > SL_METRICS_METHODS_MAX)
        n = SL_METRICS_METHODS_MAX;
    for (size_t i = 0; i < n; i++)
        sl_method_labels[i] = labels[i];
    sl_n_methods = n;
}

static void inc(atomic_uint_fast64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static void hist_observe(struct sl_hist *h, uint64_t us)
{
    size_t i = 0;
    while (i < SL_BUCKETS && us > sl_bucket_us[i])
        i++;
    inc(&h->bucket[i]);
    atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
}

void sl_metrics_grpc_start(unsigned m)
{
    atomic_fetch_add_explicit(&sl_grpc[method_index(m)].in_flight, 1,
                              memory_order_relaxed);
}

void sl_metrics_grpc_done(unsigned m, int grpc_code, uint64_t duration_us)
{
    struct sl_grpc_method *g = &sl_grpc[method_index(m)];
    if (grpc_code < 0 || grpc_code >= SL_GRPC_CODES)
        grpc_code = 2; /* UNKNOWN */
    atomic_fetch_sub_explicit(&g->in_flight, 1, memory_order_relaxed);
    inc(&g->calls[grpc_code]);
    hist_observe(&g->latency, duration_us);
}

void sl_metrics_backend_error(void)
{
    inc(&sl_backend_errors);
}

void sl_metrics_backend_corrupt(void)
{
    inc(&sl_backend_corrupt);
}

void sl_metrics_http_start(void)
{
    atomic_fetch_add_explicit(&sl_http_in_flight, 1, memory_order_relaxed);
}

void sl_metrics_http_done(enum sl_http_route route, int http_status,
                          uint64_t duration_us)
{
    unsigned r = (unsigned)route < SL_HTTP_ROUTE__COUNT ? (unsigned)route
                                                        : SL_HTTP_ROUTE_OTHER;
    if (http_status < 100 || http_status >= SL_HTTP_CODES)
        http_status = 0;
    atomic_fetch_sub_explicit(&sl_http_in_flight, 1, memory_order_relaxed);
    inc(&sl_http[r].requests[http_status]);
    hist_observe(&sl_http[r].latency, duration_us);
}

void sl_metrics_http_header_timeout(void)
{
    inc(&sl_http_header_timeouts);
}

void sl_metrics_grpc_conn_aborted(void)
{
    inc(&sl_grpc_conns_aborted);
}

/* The response caches' (cache.h): hits and misses are on the hot path. */
static struct {
    alignas(SL_CACHE_LINE) atomic_uint_fast64_t hits;
    alignas(SL_CACHE_LINE) atomic_uint_fast64_t misses;
    alignas(SL_CACHE_LINE) atomic_uint_fast64_t evictions;
    atomic_uint_fast64_t invalidations;
    atomic_llong bytes, entries; /* gauges */
} sl_cache_m;

void sl_metrics_cache_hit(void)
{
    inc(&sl_cache_m.hits);
}

void sl_metrics_cache_miss(void)
{
    inc(&sl_cache_m.misses);
}

void sl_metrics_cache_evicted(size_t n)
{
    if (n)
        atomic_fetch_add_explicit(&sl_cache_m.evictions, n,
                                  memory_order_relaxed);
}

void sl_metrics_cache_invalidated(size_t n)
{
    if (n)
        atomic_fetch_add_explicit(&sl_cache_m.invalidations, n,
                                  memory_order_relaxed);
}

void sl_metrics_cache_size(long long bytes, long long entries)
{
    if (bytes)
        atomic_fetch_add_explicit(&sl_cache_m.bytes, bytes,
                                  memory_order_relaxed);
    if (entries)
        atomic_fetch_add_explicit(&sl_cache_m.entries, entries,
                                  memory_order_relaxed);
}

static void cache_reset(void)
{
    atomic_store_explicit(&sl_cache_m.hits, 0, memory_order_relaxed);
    atomic_store_explicit(&sl_cache_m.misses, 0, memory_order_relaxed);
    atomic_store_explicit(&sl_cache_m.evictions, 0, memory_order_relaxed);
    atomic_store_explicit(&sl_cache_m.invalidations, 0, memory_order_relaxed);
    atomic_store_explicit(&sl_cache_m.bytes, 0, memory_order_relaxed);
    atomic_store_explicit(&sl_cache_m.entries, 0, memory_order_relaxed);
}

void sl_metrics_reset(void)
{
    cache_reset();
    for (size_t m = 0; m < SL_METRICS_METHODS_MAX; m++) {
        struct sl_grpc_method *g = &sl_grpc[m];
        atomic_store_explicit(&g->in_flight, 0, memory_order_relaxed);
        for (size_t c = 0; c < SL_GRPC_CODES; c++)
            atomic_store_explicit(&g->calls[c], 0, memory_order_relaxed);
        for (size_t b = 0; b <= SL_BUCKETS; b++)
            atomic_store_explicit(&g->latency.bucket[b], 0,
                                  memory_order_relaxed);
        atomic_store_explicit(&g->latency.sum_us, 0, memory_order_relaxed);
    }
    for (size_t r = 0; r < SL_HTTP_ROUTE__COUNT; r++) {
        struct sl_http_route_stats *h = &sl_http[r];
        for (size_t c = 0; c < SL_HTTP_CODES; c++)
            atomic_store_explicit(&h->requests[c], 0, memory_order_relaxed);
        for (size_t b = 0; b <= SL_BUCKETS; b++)
            atomic_store_explicit(&h->latency.bucket[b], 0,
                                  memory_order_relaxed);
        atomic_store_explicit(&h->latency.sum_us, 0, memory_order_relaxed);
    }
    atomic_store_explicit(&sl_http_in_flight, 0, memory_order_relaxed);
    atomic_store_explicit(&sl_backend_errors, 0, memory_order_relaxed);
    atomic_store_explicit(&sl_backend_corrupt, 0, memory_order_relaxed);
    atomic_store_explicit(&sl_http_header_timeouts, 0, memory_order_relaxed);
    atomic_store_explicit(&sl_grpc_conns_aborted, 0, memory_order_relaxed);
}

/* ---- rendering --------------------------------------------------------- */

static uint64_t load(atomic_uint_fast64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static void put_u64(struct sl_buf *out, uint64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%" PRIu64, v);
    sl_buf_append(out, tmp, (size_t)n);
}

/* Whole microseconds as exact decimal seconds: 1234567 -> "1.234567". */
static void put_seconds(struct sl_buf *out, uint64_t us)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "%" PRIu64 ".%06" PRIu64, us / 1000000,
                     us % 1000000);
    sl_buf_append(out, tmp, (size_t)n);
}

/* A label value with the format's three escapes (\\, \", \n). */
static void put_label_value(struct sl_buf *out, const char *s)
{
    sl_buf_putc(out, '"');
    for (; *s; s++) {
        if (*s == '\\')
            sl_buf_puts(out, "\\\\");
        else if (*s == '"')
            sl_buf_puts(out, "\\\"");
        else if (*s == '\n')
            sl_buf_puts(out, "\\n");
        else
            sl_buf_putc(out, *s);
    }
    sl_buf_putc(out, '"');
}

static void put_header(struct sl_buf *out, const char *name, const char *type,
                       const char *help)
{
    sl_buf_puts(out, "# HELP ");
    sl_buf_puts(out, name);
    sl_buf_putc(out, ' ');
    sl_buf_puts(out, help);
    sl_buf_puts(out, "\n# TYPE ");
    sl_buf_puts(out, name);
    sl_buf_putc(out, ' ');
    sl_buf_puts(out, type);
    sl_buf_putc(out, '\n');
}

/* A counter family of one unlabelled sample. */
static void put_counter(struct sl_buf *out, const char *name, const char *help,
                        atomic_uint_fast64_t *v)
{
    put_header(out, name, "counter", help);
    sl_buf_puts(out, name);
    sl_buf_putc(out, ' ');
    put_u64(out, load(v));
    sl_buf_putc(out, '\n');
}

/* name{label="value"[,extra]}: extra is an already rendered pair or NULL. */
static void put_series(struct sl_buf *out, const char *name, const char *suffix,
                       const char *label, const char *value, const char *extra)
{
    sl_buf_puts(out, name);
    sl_buf_puts(out, suffix);
    sl_buf_putc(out, '{');
    sl_buf_puts(out, label);
    sl_buf_putc(out, '=');
    put_label_value(out, value);
    if (extra) {
        sl_buf_putc(out, ',');
        sl_buf_puts(out, extra);
    }
    sl_buf_puts(out, "} ");
}

/* The _bucket, _sum and _count lines of one labelled histogram. */
static void put_hist(struct sl_buf *out, const char *name, const char *label,
                     const char *value, struct sl_hist *h)
{
    char le[32];
    uint64_t cum = 0;

    for (size_t b = 0; b <= SL_BUCKETS; b++) {
        cum += load(&h->bucket[b]);
        snprintf(le, sizeof(le), "le=\"%s\"",
                 b < SL_BUCKETS ? sl_bucket_le[b] : "+Inf");
        put_series(out, name, "_bucket", label, value, le);
        put_u64(out, cum);
        sl_buf_putc(out, '\n');
    }
    put_series(out, name, "_sum", label, value, NULL);
    put_seconds(out, load(&h->sum_us));
    sl_buf_putc(out, '\n');
    put_series(out, name, "_count", label, value, NULL);
    put_u64(out, cum);
    sl_buf_putc(out, '\n');
}

static void render_grpc(struct sl_buf *out)
{
    char code[48];

    put_header(out, "servicelogs_grpc_calls_total", "counter",
               "gRPC calls finished, by method and status code.");
    for (size_t m = 0; m < sl_n_methods; m++)
        for (int c = 0; c < SL_GRPC_CODES; c++) {
            uint64_t v = load(&sl_grpc[m].calls[c]);
            if (!v)
                continue;
            snprintf(code, sizeof(code), "code=\"%s\"", sl_grpc_code_name(c));
            put_series(out, "servicelogs_grpc_calls_total", "", "method",
                       sl_method_labels[m], code);
            put_u64(out, v);
            sl_buf_putc(out, '\n');
        }

    put_header(out, "servicelogs_grpc_call_duration_seconds", "histogram",
               "gRPC call duration from arrival to status sent, by method.");
    for (size_t m = 0; m < sl_n_methods; m++)
        put_hist(out, "servicelogs_grpc_call_duration_seconds", "method",
                 sl_method_labels[m], &sl_grpc[m].latency);

    put_header(out, "servicelogs_grpc_calls_in_flight", "gauge",
               "gRPC calls started and not yet finished, by method.");
    for (size_t m = 0; m < sl_n_methods; m++) {
        put_series(out, "servicelogs_grpc_calls_in_flight", "", "method",
                   sl_method_labels[m], NULL);
        sl_buf_put_i64(out, atomic_load_explicit(&sl_grpc[m].in_flight,
                                                 memory_order_relaxed));
        sl_buf_putc(out, '\n');
    }

    put_counter(out, "servicelogs_grpc_connections_aborted_total",
                "gRPC connections aborted for resetting streams in bulk "
                "(--max-connection-resets).",
                &sl_grpc_conns_aborted);

    put_counter(out, "servicelogs_backend_errors_total",
                "Storage backend failures (unreachable, I/O).",
                &sl_backend_errors);

    put_counter(out, "servicelogs_backend_corrupt_total",
                "Queries refused because stored data was corrupt (also "
                "counted in servicelogs_backend_errors_total).",
                &sl_backend_corrupt);
}

static void render_http(struct sl_buf *out)
{
    char code[24];

    put_header(out, "servicelogs_http_requests_total", "counter",
               "HTTP requests finished in the REST shim, by route and "
               "status (0: no response was sent).");
    for (size_t r = 0; r < SL_HTTP_ROUTE__COUNT; r++)
        for (int c = 0; c < SL_HTTP_CODES; c++) {
            uint64_t v = load(&sl_http[r].requests[c]);
            if (!v)
                continue;
            snprintf(code, sizeof(code), "code=\"%d\"", c);
            put_series(out, "servicelogs_http_requests_total", "", "route",
                       sl_route_labels[r], code);
            put_u64(out, v);
            sl_buf_putc(out, '\n');
        }

    put_header(out, "servicelogs_http_request_duration_seconds", "histogram",
               "HTTP request duration in the REST shim, by route.");
    for (size_t r = 0; r < SL_HTTP_ROUTE__COUNT; r++)
        put_hist(out, "servicelogs_http_request_duration_seconds", "route",
                 sl_route_labels[r], &sl_http[r].latency);

    put_header(out, "servicelogs_http_requests_in_flight", "gauge",
               "HTTP requests being answered by the REST shim.");
    sl_buf_puts(out, "servicelogs_http_requests_in_flight ");
    sl_buf_put_i64(
        out, atomic_load_explicit(&sl_http_in_flight, memory_order_relaxed));
    sl_buf_putc(out, '\n');

    put_counter(out, "servicelogs_http_header_timeouts_total",
                "REST connections closed because their request did not "
                "arrive within --http-header-timeout.",
                &sl_http_header_timeouts);
}

static void render_cache(struct sl_buf *out)
{
    static const struct {
        const char *name, *type, *help;
    } f[] = {
        {"servicelogs_cache_hits_total", "counter",
         "Queries answered from the response cache (no store read)."},
        {"servicelogs_cache_misses_total", "counter",
         "Queries the response cache did not hold (read from the store)."},
        {"servicelogs_cache_evictions_total", "counter",
         "Cached answers dropped to stay within --cache-bytes."},
        {"servicelogs_cache_invalidations_total", "counter",
         "Cached answers dropped because their service changed (a write, "
         "an import, a feed that lost changes)."},
        {"servicelogs_cache_bytes", "gauge",
         "Bytes the response cache holds (answers and overhead)."},
        {"servicelogs_cache_entries", "gauge",
         "Answers the response cache holds."},
    };
    long long bytes =
        atomic_load_explicit(&sl_cache_m.bytes, memory_order_relaxed);
    long long entries =
        atomic_load_explicit(&sl_cache_m.entries, memory_order_relaxed);
    uint64_t v[] = {
        load(&sl_cache_m.hits),          load(&sl_cache_m.misses),
        load(&sl_cache_m.evictions),     load(&sl_cache_m.invalidations),
        bytes > 0 ? (uint64_t)bytes : 0, entries > 0 ? (uint64_t)entries : 0};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        put_header(out, f[i].name, f[i].type, f[i].help);
        sl_buf_puts(out, f[i].name);
        sl_buf_putc(out, ' ');
        put_u64(out, v[i]);
        sl_buf_putc(out, '\n');
    }
}

void sl_metrics_render(struct sl_buf *out)
{
    render_grpc(out);
    render_http(out);
    render_cache(out);

    put_header(out, "servicelogs_build_info", "gauge",
               "Always 1; the version of this build as a label.");
    put_series(out, "servicelogs_build_info", "", "version", SL_VERSION, NULL);
    sl_buf_puts(out, "1\n");

    sl_procstat_render(out); /* the process_* families */
}
