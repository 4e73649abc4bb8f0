/* config.h -- the server's configuration, driven by one option table
 *
 * Every option is one row of sl_opts[] in config.c: its flag, its
 * SERVICELOGS_* environment variable, its type and range, its default and
 * its --help text. Precedence: flag > environment > default.
 */
#ifndef SL_CONFIG_H
#define SL_CONFIG_H

#include <stdio.h>

#include "error.h"

/* --threads and --http-threads: the largest value each accepts. */
#define SL_MAX_THREADS 256

struct sl_config {
    const char *backend;        /* store URI */
    const char *grpc_listen;    /* HOST:PORT of the gRPC server */
    const char *http_listen;    /* HOST:PORT of the REST shim; "" = no shim */
    const char *upstream;       /* shim-only mode: remote gRPC HOST:PORT */
    const char *import_file;    /* serve: import this file before serving */
    int upstream_timeout_ms;    /* deadline of each shim -> server call */
    int threads;                /* gRPC worker threads; 0 = two per core,
                                   at most SL_MAX_THREADS */
    int http_threads;           /* shim threads; 0 = one per core */
    int slots;                  /* pre-posted request slots per thread */
    int shutdown_grace_ms;      /* in-flight calls' time to finish */
    int drain_delay_ms;         /* serve on, NOT_SERVING, before stopping */
    int max_request_bytes;      /* largest gRPC request message accepted */
    int max_response_bytes;     /* largest answer message, both sides */
    int health_interval_ms;     /* between two backend health probes */
    const char *auth_tokens;    /* tokens file; "" = auth off */
    int insecure;               /* allow non-loopback listen without auth */
    const char *tls_cert;       /* server certificate (PEM); "" = no TLS */
    const char *tls_key;        /* its private key */
    const char *tls_client_ca;  /* require client certificates from this CA */
    const char *upstream_ca;    /* shim: CA to verify a TLS upstream */
    const char *upstream_cert;  /* shim: client certificate for the upstream */
    const char *upstream_key;   /* shim: its key */
    const char *upstream_name;  /* shim: expected name in upstream's cert */
    int max_concurrent_calls;   /* QueryServiceLogs in flight at most */
    int max_connection_streams; /* HTTP/2 streams per gRPC connection */
    int max_connection_resets;  /* per connection: connguard.h */
    int max_watchers;           /* WatchServiceLogs streams at most */
    int watch_queue;            /* logs a watcher may fall behind */
    int cache_bytes;            /* response cache budget; 0: none */
    int keepalive_ms;           /* HTTP/2 pings on busy gRPC connections */
    int max_inflight_bytes;     /* gRPC reply bytes held at once */
    int send_timeout_ms;        /* an unread gRPC reply is cancelled then */
    int max_connection_idle_ms; /* 0: idle gRPC connections stay */
    int max_connection_age_ms;  /* 0: gRPC connections live on */
    int query_timeout_ms;       /* backend time limit when the client sets
                                   no (or a longer) deadline */
    int http_max_connections;   /* concurrent shim connections */
    int http_idle_timeout_ms;   /* idle shim connections are closed */
    int http_header_timeout_ms; /* a REST request not in by then: closed */
    int http_max_header_bytes;  /* request line + headers per connection */
    int http_max_watchers;      /* REST watch (SSE) clients at once */
    int http_sse_keepalive_ms;  /* SSE comment line after this much quiet */
    const char *cors_origins;   /* REST CORS origins ("", "*" or a list) */
    int if_empty;               /* import: only into a backend with no
                                   services */
    int log_level;              /* enum sl_log_level */
    int log_format;             /* enum sl_log_format (log.h) */
    const char *port_file;      /* serve: write the bound ports here */
    int pg_transaction_pooling; /* postgres: no named statements */
    const char *pg_listen_uri;  /* postgres: the feed's LISTEN session */
    int pg_pool_size;           /* backend connections at most; 0: one
                                   per thread (store_pool.h) */
    int pg_answer_timeout_ms;   /* postgres: open's bound, import's on
                                   silence (store_pg_wait.c) */
};

/* Fills cfg with the defaults, then the SERVICELOGS_* environment, then
 * argv (flags of the given command, "serve" or "import"). Positional
 * arguments are left in *rest (pointers into argv), their count in
 * *n_rest. --help and --version are reported as SL_OK with *exit_now = 1
 * after printing to out. Strings in cfg point into argv, the environment
 * or static storage: they live as long as the process. On failure err
 * names the flag (or variable) and the accepted values. */
int sl_config_load(struct sl_config *cfg, const char *command, int argc,
                   char **argv, char ***rest, int *n_rest, int *exit_now,
                   FILE *out, struct sl_err *err);

/* Writes --help for a command, generated from the table. */
void sl_config_usage(FILE *out, const char *command);

/* The --log-format argv (or else SERVICELOGS_LOG_FORMAT) asks for, text
 * when neither or an invalid one: read before sl_config_load(), so that
 * even its usage errors come out in the asked format. */
int sl_config_peek_log_format(int argc, char **argv);

/* Logs the effective configuration, one line, at info level. */
void sl_config_log(const struct sl_config *cfg, const char *command);

#endif
