/* server.h -- the gRPC server: listener, worker threads, shutdown */
#ifndef SL_SERVER_H
#define SL_SERVER_H

#include <stdatomic.h>
#include <stddef.h>

#include "error.h"
#include "tls.h"

struct sl_server;
struct sl_health;
struct sl_auth;
struct sl_store_options;
struct sl_feed;

struct sl_server_config {
    const char *listen;  /* HOST:PORT; port 0 picks a free port */
    const char *backend; /* store URI, opened once per worker thread */
    const struct sl_store_options *store_opts; /* how (store.h; NULL: the
                                   defaults); its pool_size > 0 makes the
                                   server open a pool (store_pool.h) that
                                   every thread's connection is a handle
                                   on; read during sl_server_start only */
    int threads;                               /* worker threads, >= 1 */
    int slots;                  /* pre-posted request slots per thread, >= 1 */
    int max_request_bytes;      /* largest request message accepted */
    int max_response_bytes;     /* largest answer message sent */
    int health_interval_ms;     /* between two backend health probes, >= 1 */
    struct sl_auth *auth;       /* tokens (the caller keeps it alive until
                                   sl_server_stop returns); NULL: auth off */
    int max_concurrent_calls;   /* QueryServiceLogs in flight, >= 1 */
    int query_timeout_ms;       /* backend time limit of one query, >= 1 */
    int max_connection_streams; /* HTTP/2 streams per connection, >= 1 */
    int max_connection_resets;  /* resets per connection (connguard.h) */
    int max_watchers;           /* WatchServiceLogs streams, >= 1 */
    int watch_queue;            /* logs a watcher may fall behind, >= 1 */
    int keepalive_ms;           /* HTTP/2 ping interval, >= 1000 */
    int max_inflight_bytes;     /* reply bytes held for clients at once */
    int send_timeout_ms;        /* an unread reply is cancelled after this */
    int max_connection_idle_ms; /* 0: no limit */
    int max_connection_age_ms;  /* 0: no limit */
    long long cache_bytes;      /* response cache budget; 0: no cache */
    const struct sl_tls_config *tls; /* TLS files (tls.h), read during
                                        sl_server_start only; NULL or no
                                        cert: plaintext */
};

/* Opens one store connection per thread, binds, starts serving. On success
 * *out is owned by the caller and released with sl_server_stop(); on
 * failure *out is NULL, err names the problem (busy port, bad backend,
 * a TLS file that cannot be used), and nothing is left running. Call
 * grpc_init() before; not thread-safe against itself. */
int sl_server_start(const struct sl_server_config *cfg, struct sl_server **out,
                    struct sl_err *err);

/* What a front end in the server's process (the REST shim's in-process
 * path, http_local.h) needs to answer QueryServiceLogs exactly as the
 * gRPC handler does, without a gRPC hop. Every pointer is owned by the
 * server and valid until sl_server_stop(); stop the front end first. */
struct sl_server_local {
    const char *backend; /* the store URI: open a connection of your
                            own per thread (the workers' are theirs) */
    const struct sl_store_options *store_opts; /* open it with these
                                  (sl_store_open_with): a handle on the
                                  server's pool when it has one */
    struct sl_health *health;  /* backend_ok, read reports, serving status */
    struct sl_auth *auth;      /* tokens; NULL: auth off */
    atomic_int *in_flight;     /* --max-concurrent-calls places (call.h,
                                  sl_admit), shared with the gRPC calls */
    int max_in_flight;         /* --max-concurrent-calls */
    int query_timeout_ms;      /* --query-timeout */
    size_t max_response_bytes; /* --max-response-bytes */
    struct sl_cache *cache;    /* the response cache (cache.h); NULL: none */
    struct sl_feed *feed;      /* the change feed (feed.h): the in-process
                                  REST watch lists its streams there */
};

/* Fills *out from srv (see struct sl_server_local). THREAD SAFETY: any
 * thread, while srv runs. */
void sl_server_local(struct sl_server *srv, struct sl_server_local *out);

/* The server's response cache (cache.h), NULL when --cache-bytes is 0.
 * Owned by srv; lives as long as srv. THREAD SAFETY: any thread. */
struct sl_cache *sl_server_cache(struct sl_server *srv);

/* The port the server listens on (useful with port 0). */
int sl_server_port(const struct sl_server *srv);

/* Health says NOT_SERVING from now on (Watch streams are told and ended)
 * while calls are still served: the first step of a stop, so that load
 * balancers steer away before the listener goes. Accepts NULL. */
void sl_server_drain(struct sl_server *srv);

/* Stops accepting, lets in-flight calls finish for up to grace_ms, cancels
 * what remains, drains every queue, joins the workers, closes the stores
 * and frees srv. Accepts NULL. Call from one thread, once. */
void sl_server_stop(struct sl_server *srv, int grace_ms);

#endif
