/* main.c -- servicelogs-server: argv -> config -> serve or import
 *
 * Exit statuses: 0 success (also after SIGTERM/SIGINT), 1 a start-up or
 * import failure (one line on stderr says what), 2 a usage error.
 *
 * Signals: serve blocks SIGTERM, SIGINT and SIGHUP in every thread before
 * any thread starts, and the main thread takes them with sigwait(); no
 * code runs in signal context. import leaves them at their default: they
 * end the process, which, import being all-or-nothing, leaves the store
 * as it was (as SIGKILL does; test_import_stream.sh).
 */
#include <errno.h>
#include <grpc/grpc.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "auth.h"
#include "clock.h"
#include "config.h"
#include "http_shim.h"
#include "import.h"
#include "log.h"
#include "methods.h"
#include "metrics.h"
#include "server.h"
#include "store.h"
#include "tls.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2

/* The one line of a failure: as before in text, a JSON line (level
 * error) with --log-format json. */
static int fail(int status, const struct sl_err *err)
{
    if (sl_log_format == SL_LOG_JSON)
        sl_log_write(SL_LOG_ERROR, "servicelogs-server: %s", err->msg);
    else
        fprintf(stderr, "servicelogs-server: %s\n", err->msg);
    return status;
}

/* The backend's options (store.h) from the --pg-* flags. */
static struct sl_store_options store_options(const struct sl_config *cfg)
{
    return (struct sl_store_options){
        .pool_size = cfg->pg_pool_size,
        .transaction_pooling = cfg->pg_transaction_pooling != 0,
        .listen_uri = cfg->pg_listen_uri,
        .answer_timeout_ms = cfg->pg_answer_timeout_ms,
    };
}

/* Imports path into backend. With keep, the connection is handed to the
 * caller instead of closed: the memory backend's data lives only as long
 * as one of its connections, so serve --import keeps one open. */
static int run_import(const char *backend, const struct sl_store_options *o,
                      const char *path, bool if_empty, struct sl_store **keep,
                      struct sl_err *err)
{
    struct sl_store *st = NULL;
    size_t n_services = 0, n_logs = 0, held = 0;
    int rc = sl_store_open_with(backend, o, &st, err);
    if (rc == SL_OK && if_empty) {
        rc = sl_store_count_services(st, &held, err);
        if (rc == SL_OK && held > 0) {
            sl_log(SL_LOG_INFO,
                   "the backend already holds %zu services: %s not imported "
                   "(--if-empty)",
                   held, path);
            sl_store_close(st);
            return SL_OK;
        }
    }
    if (rc == SL_OK)
        rc = sl_import_file(st, path, &n_services, &n_logs, err);
    if (rc == SL_OK && keep)
        *keep = st;
    else
        sl_store_close(st);
    if (rc == SL_OK)
        sl_log(SL_LOG_INFO, "imported %s: %zu services, %zu logs", path,
               n_services, n_logs);
    return rc;
}

static int cmd_import(int argc, char **argv)
{
    struct sl_config cfg;
    struct sl_err err;
    char **rest;
    int n_rest, exit_now;
    sl_err_clear(&err);
    if (sl_config_load(&cfg, "import", argc, argv, &rest, &n_rest, &exit_now,
                       stdout, &err) != SL_OK)
        return fail(EXIT_USAGE, &err);
    if (exit_now)
        return 0;
    if (n_rest != 1) {
        sl_err_set(&err, SL_EINVAL,
                   "import takes exactly one FILE (see import --help)");
        return fail(EXIT_USAGE, &err);
    }
    sl_log_level = cfg.log_level;
    sl_log_format = cfg.log_format;
    struct sl_store_options so = store_options(&cfg);
    if (run_import(cfg.backend, &so, rest[0], cfg.if_empty, NULL, &err) !=
        SL_OK)
        return fail(EXIT_FAIL, &err);
    return 0;
}

/* Waits for SIGTERM or SIGINT; SIGHUP reloads the tokens file (a bad
 * file keeps the old table). */

static int wait_for_stop(struct sl_auth *auth)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            return -1;
        if (sig == SIGHUP) {
            struct sl_err err;
            if (!auth)
                sl_log(SL_LOG_INFO, "SIGHUP: no tokens file to reload");
            else if (sl_auth_reload(auth, &err) != SL_OK)
                sl_log(SL_LOG_WARN, "SIGHUP: keeping the old tokens: %s",
                       err.msg);
            else
                sl_log(SL_LOG_INFO, "SIGHUP: tokens reloaded");
            continue;
        }
        sl_log(SL_LOG_INFO, "%s: shutting down",
               sig == SIGTERM ? "SIGTERM" : "SIGINT");
        return sig;
    }
}

/* Writes "grpc=PORT\n" and/or "http=PORT\n" (0: that listener is not
 * run) to path, whole or not at all: a temporary file renamed over it, so
 * a reader polling for the file never sees half of it. */
static int write_port_file(const char *path, int grpc_port, int http_port,
                           struct sl_err *err)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
        return sl_err_set(err, SL_EINVAL, "--port-file: path too long");
    FILE *f = fopen(tmp, "w");
    if (!f)
        return sl_err_set(err, SL_EIO, "--port-file %s: %s", tmp,
                          strerror(errno));
    if (grpc_port)
        fprintf(f, "grpc=%d\n", grpc_port);
    if (http_port)
        fprintf(f, "http=%d\n", http_port);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return sl_err_set(err, SL_EIO, "--port-file %s: %s", path, strerror(e));
    }
    return SL_OK;
}

/* --drain-delay: health NOT_SERVING while calls are still served, for
 * delay_ms or until a second SIGTERM/SIGINT, whichever comes first. */
static void drain(struct sl_server *srv, int delay_ms)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sl_server_drain(srv);
    sl_log(SL_LOG_INFO, "draining: NOT_SERVING, still serving for %dms",
           delay_ms);
    int64_t end = sl_clock_ms() + delay_ms;
    for (int64_t left; (left = end - sl_clock_ms()) > 0;) {
        struct timespec ts = {.tv_sec = left / 1000,
                              .tv_nsec = (long)(left % 1000) * 1000000L};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT) {
            sl_log(SL_LOG_INFO, "second signal: drain cut short");
            return;
        }
    }
}

/* gRPC's own teardown, given at most SL_GRPC_TEARDOWN_MS. It can take
 * ten seconds more: when a client has not read all that was sent to it by
 * the time the connection is closed, gRPC 1.51's TCP "backup poller" is
 * left waiting out its 10 s poll on an executor thread, which
 * grpc_shutdown_blocking() joins. Every call is over by then and its
 * bytes are with the kernel (a send completes once written), so nothing
 * is lost by not waiting: the process exits at once (_exit, after a
 * sanitizer build's leak check, which exit() would have run). */
#define SL_GRPC_TEARDOWN_MS 1000

struct teardown {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
};

static void *teardown_main(void *arg)
{
    struct teardown *td = arg;
    grpc_shutdown_blocking();
    pthread_mutex_lock(&td->mu);
    td->done = true;
    pthread_cond_signal(&td->cv);
    pthread_mutex_unlock(&td->mu);
    return NULL;
}

void __lsan_do_leak_check(void) __attribute__((weak));

/* Runs grpc_shutdown_blocking(); true when it returned in time, false
 * when it is still waiting (then only _exit is safe). */
static bool grpc_teardown(void)
{
    static struct teardown td = {PTHREAD_MUTEX_INITIALIZER,
                                 PTHREAD_COND_INITIALIZER, false};
    pthread_t t;
    if (pthread_create(&t, NULL, teardown_main, &td) != 0) {
        grpc_shutdown_blocking();
        return true;
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += SL_GRPC_TEARDOWN_MS / 1000;
    pthread_mutex_lock(&td.mu);
    while (!td.done &&
           pthread_cond_timedwait(&td.cv, &td.mu, &until) != ETIMEDOUT)
        ;
    bool done = td.done;
    pthread_mutex_unlock(&td.mu);
    if (done)
        pthread_join(t, NULL);
    return done;
}

static int cmd_serve(int argc, char **argv)
{
    struct sl_config cfg;
    struct sl_err err;
    char **rest;
    int n_rest, exit_now;
    sl_err_clear(&err);
    if (sl_config_load(&cfg, "serve", argc, argv, &rest, &n_rest, &exit_now,
                       stdout, &err) != SL_OK)
        return fail(EXIT_USAGE, &err);
    if (exit_now)
        return 0;
    if (n_rest != 0) {
        sl_err_set(&err, SL_EINVAL, "unexpected argument '%.64s' (see --help)",
                   rest[0]);
        return fail(EXIT_USAGE, &err);
    }
    sl_log_level = cfg.log_level;
    sl_log_format = cfg.log_format;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 1)
        ncpu = 1;
    /* Two workers per core. A worker runs its query's store read in line
     * (a PostgreSQL round trip, a SQLite page read), so one per core
     * leaves a core idle while its worker waits. And each worker is also
     * one of gRPC's pollers: with one per core a busy worker held its core
     * for a whole scheduler slice while calls queued on the other's
     * completion queue waited, which made the gRPC p99 4.2-4.7 ms at 32
     * streams on two cores against 1.3-1.7 ms with two per core, at the
     * same CPU per call (BENCHMARKS.md, "The third round"). */
    if (cfg.threads == 0)
        cfg.threads =
            (int)(2 * ncpu < SL_MAX_THREADS ? 2 * ncpu : SL_MAX_THREADS);
    sl_config_log(&cfg, "serve");

    if (!*cfg.auth_tokens && !cfg.insecure) {
        const char *open_addr = NULL;
        if (!*cfg.upstream && !sl_addr_is_loopback(cfg.grpc_listen))
            open_addr = cfg.grpc_listen;
        else if (*cfg.http_listen && !sl_addr_is_loopback(cfg.http_listen))
            open_addr = cfg.http_listen;
        if (open_addr) {
            sl_err_set(&err, SL_EINVAL,
                       "refusing to listen on %s without --auth-tokens "
                       "(anyone who reaches it could read every project's "
                       "logs); pass --insecure to allow it",
                       open_addr);
            return fail(EXIT_USAGE, &err);
        }
    }
    struct sl_auth *auth = NULL;
    if (*cfg.auth_tokens && !*cfg.upstream &&
        sl_auth_open(cfg.auth_tokens, &auth, &err) != SL_OK)
        return fail(EXIT_FAIL, &err);
    struct sl_store_options so = store_options(&cfg);
    struct sl_store *imported = NULL;
    if (*cfg.import_file && !*cfg.upstream &&
        run_import(cfg.backend, &so, cfg.import_file, false, &imported, &err) !=
            SL_OK) {
        sl_auth_destroy(auth);
        return fail(EXIT_FAIL, &err);
    }

    int status = 0;
    bool ports_written = false;
    struct sl_server *srv = NULL;
    struct sl_shim *shim = NULL;
    struct sl_server_local local; /* the in-process shim's view of srv */
    char upstream[300];
    /* One TLS configuration for the gRPC listener, the shim's HTTPS and
     * (shim-only mode) the shim's upstream. The in-process shim dials the
     * server's own listener: sl_tls_self_upstream() (tls.h) fills in its
     * upstream side: trust --upstream-ca, else the server's own --tls-cert
     * file (it must hold the self-signed root); expect --upstream-name,
     * else the listen host; in mutual TLS present --upstream-cert and
     * --upstream-key, else the server's own certificate and key (which
     * must then allow client authentication). */
    struct sl_tls_config tls = {
        .cert = cfg.tls_cert,
        .key = cfg.tls_key,
        .client_ca = cfg.tls_client_ca,
        .upstream_ca = cfg.upstream_ca,
        .upstream_cert = cfg.upstream_cert,
        .upstream_key = cfg.upstream_key,
        .upstream_name = cfg.upstream_name,
    };
    struct sl_tls_config shim_tls = tls;
    /* The call metrics are labelled by the rows of the handler table,
     * in a shim-only process too (they then stay at zero). */
    const char *labels[SL_METHODS_MAX];
    for (size_t i = 0; i < sl_methods_count; i++)
        labels[i] = sl_method_label(i);
    sl_metrics_set_methods(labels, sl_methods_count);
    sl_log_grpc_install();
    grpc_init();
    if (*cfg.upstream) {
        snprintf(upstream, sizeof(upstream), "%s", cfg.upstream);
    } else {
        struct sl_server_config scfg = {
            .listen = cfg.grpc_listen,
            .backend = cfg.backend,
            .store_opts = &so,
            .threads = cfg.threads,
            .slots = cfg.slots,
            .max_request_bytes = cfg.max_request_bytes,
            .max_response_bytes = cfg.max_response_bytes,
            .health_interval_ms = cfg.health_interval_ms,
            .auth = auth,
            .max_concurrent_calls = cfg.max_concurrent_calls,
            .query_timeout_ms = cfg.query_timeout_ms,
            .max_connection_streams = cfg.max_connection_streams,
            .max_connection_resets = cfg.max_connection_resets,
            .max_watchers = cfg.max_watchers,
            .watch_queue = cfg.watch_queue,
            .cache_bytes = cfg.cache_bytes,
            .keepalive_ms = cfg.keepalive_ms,
            .max_inflight_bytes = cfg.max_inflight_bytes,
            .send_timeout_ms = cfg.send_timeout_ms,
            .max_connection_idle_ms = cfg.max_connection_idle_ms,
            .max_connection_age_ms = cfg.max_connection_age_ms,
            .tls = &tls,
        };
        if (sl_server_start(&scfg, &srv, &err) != SL_OK) {
            status = fail(EXIT_FAIL, &err);
            goto out;
        }
        /* The server's connections keep a memory: store alive now; one
         * more would outnumber --pg-pool-size. */
        sl_store_close(imported);
        imported = NULL;
        /* The in-process shim dials the server's own listener. */
        sl_addr_dial(cfg.grpc_listen, sl_server_port(srv), upstream,
                     sizeof(upstream));
        if (*cfg.http_listen &&
            sl_tls_self_upstream(&tls, upstream, &shim_tls, &err) != SL_OK) {
            status = fail(EXIT_FAIL, &err);
            goto out;
        }
        char backend[256]; /* a postgres:// URI may hold a password */
        sl_store_uri_redact(cfg.backend, backend, sizeof(backend));
        /* The bound port, not the configured one: with port 0 this line
         * is how a test or a supervisor learns where to connect. */
        const char *gcolon = strrchr(cfg.grpc_listen, ':');
        sl_log(SL_LOG_INFO,
               "gRPC listening on %.*s:%d (%d threads, backend %s)",
               (int)(gcolon ? gcolon - cfg.grpc_listen : 0), cfg.grpc_listen,
               sl_server_port(srv), cfg.threads, backend);
    }
    if (*cfg.http_listen) {
        struct sl_shim_config hcfg = {
            .listen = cfg.http_listen,
            .upstream = upstream,
            .upstream_timeout_ms = cfg.upstream_timeout_ms,
            .max_response_bytes = (size_t)cfg.max_response_bytes,
            .threads = cfg.http_threads,
            .max_connections = (unsigned)cfg.http_max_connections,
            .idle_timeout_s =
                (unsigned)((cfg.http_idle_timeout_ms + 999) / 1000),
            .header_timeout_ms = (unsigned)cfg.http_header_timeout_ms,
            .conn_memory_bytes = (size_t)cfg.http_max_header_bytes,
            .max_watchers = (unsigned)cfg.http_max_watchers,
            .sse_keepalive_ms = (unsigned)cfg.http_sse_keepalive_ms,
            .watch_streams = (unsigned)cfg.max_connection_streams,
            .cors_origins = cfg.cors_origins,
            .tls = &shim_tls,
        };
        /* In the server's process the shim answers queries and watches
         * itself, with the server's store, feed, limits, health and
         * tokens: no gRPC hop to the server's listener. */
        if (srv) {
            sl_server_local(srv, &local);
            hcfg.local = &local;
        }
        if (sl_shim_start(&hcfg, &shim, &err) != SL_OK) {
            status = fail(EXIT_FAIL, &err);
            goto out;
        }
        const char *hcolon = strrchr(cfg.http_listen, ':');
        sl_log(SL_LOG_INFO, "REST listening on %.*s:%d -> %s%s",
               (int)(hcolon ? hcolon - cfg.http_listen : 0), cfg.http_listen,
               sl_shim_port(shim), srv ? "in-process" : "gRPC ",
               srv ? "" : upstream);
    } else if (!srv) {
        sl_err_set(&err, SL_EINVAL,
                   "--upstream needs --http-listen (shim-only mode)");
        status = fail(EXIT_USAGE, &err);
        goto out;
    }
    if (*cfg.port_file &&
        write_port_file(cfg.port_file, srv ? sl_server_port(srv) : 0,
                        shim ? sl_shim_port(shim) : 0, &err) != SL_OK) {
        status = fail(EXIT_FAIL, &err);
        goto out;
    }
    ports_written = *cfg.port_file != '\0';
    if (wait_for_stop(auth) < 0)
        status = EXIT_FAIL;
    else if (cfg.drain_delay_ms > 0 && srv)
        drain(srv, cfg.drain_delay_ms);
out:
    sl_shim_stop(shim);
    sl_server_stop(srv, cfg.shutdown_grace_ms);
    sl_store_close(imported);
    sl_auth_destroy(auth);
    bool torn_down = grpc_teardown();
    if (ports_written)
        unlink(cfg.port_file); /* the ports are no longer served */
    if (status == 0)
        sl_log(SL_LOG_INFO, "stopped%s",
               torn_down ? "" : " (gRPC's teardown left to the exit)");
    if (!torn_down) {
        fflush(NULL);
        if (__lsan_do_leak_check)
            __lsan_do_leak_check();
        _exit(status);
    }
    return status;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    sl_log_format = sl_config_peek_log_format(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "import") == 0)
        return cmd_import(argc - 2, argv + 2);

    /* Before any thread exists, so every thread inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (argc >= 2 && strcmp(argv[1], "serve") == 0)
        return cmd_serve(argc - 2, argv + 2);
    return cmd_serve(argc - 1, argv + 1);
}
