/* server.c -- the gRPC server: listener, worker threads, shutdown
 *
 * DESIGN
 *
 * Threads. N workers (--threads, default two per core). Each owns one
 * completion queue and one store connection, both created before
 * grpc_server_start(). gRPC binds every call to the queue its slot was
 * posted on, so a call lives and dies on one thread: no locks on the hot
 * path, and SQLite/libpq connections are never shared. With
 * --pg-pool-size the server opens that many connections first (the pool,
 * store_pool.h), and each "connection" above -- the workers', the
 * prober's, the feed's, the REST shim's -- is a handle that borrows one of
 * them per call: one mutex on the query path, and a bounded count.
 *
 * Methods. Every row of the handler table (methods.h) is registered with
 * gRPC, unary and server-streaming ones with their payload read up front
 * (so a unary call needs one batch). Each worker keeps each row's `slots`
 * requests posted (`--slots` for the hot QueryServiceLogs, two for the
 * others), including the catch-all row's generic slots, which answer
 * unknown methods UNIMPLEMENTED instead of letting them hang.
 *
 * Health. A prober thread pings the backend through its own connection
 * every health_interval_ms and feeds the result to the shared struct
 * sl_health; Health/Check and Health/Watch read it (rpc_health.h).
 *
 * Shutdown (sl_server_stop). Health flips to NOT_SERVING (watchers are
 * told, then their streams end) -> grpc_server_shutdown_and_notify with a
 * tag on a private queue (no new calls or connections from here) -> wait
 * for it up to the grace period while in-flight calls finish -> if it has
 * not come, grpc_server_cancel_all_calls and wait again -> shut down every
 * worker queue; each worker drains its queue (returned slots are freed)
 * and exits at GRPC_QUEUE_SHUTDOWN -> join -> stop the prober ->
 * grpc_server_destroy -> destroy queues -> close stores.
 *
 * Signals are not handled here: main.c blocks them in every thread and
 * waits for them with sigwait(), so no gRPC function runs in a handler.
 */
#include "server.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "addr.h"
#include "call.h"
#include "clock.h"
#include "log.h"
#include "methods.h"
#include "reflection.h"
#include "cache.h"
#include "connguard.h"
#include "feed.h"
#include "rpc_health.h"
#include "store_pool.h"

struct sl_server {
    grpc_server *server;                /* the gRPC server */
    grpc_completion_queue *shut_cq;     /* receives the shutdown tag only */
    struct sl_tag shutdown_tag;         /* kind SL_TAG_SHUTDOWN */
    int port;                           /* bound port */
    int nworkers;                       /* entries in workers */
    int nstarted;                       /* workers whose thread runs */
    struct sl_worker *workers;          /* owned array */
    void *registered[SL_METHODS_MAX];   /* gRPC handles, by sl_methods row */
    struct sl_health *health;           /* owned; shared by the workers */
    atomic_int in_flight;               /* QueryServiceLogs calls in flight */
    atomic_llong inflight_bytes;        /* reply bytes posted, not yet sent */
    struct sl_reflection *reflection;   /* owned; immutable */
    struct sl_store *probe_store;       /* owned by the prober thread */
    struct sl_feed *feed;               /* owned; the watchers' change feed */
    struct sl_cache *cache;             /* owned; invalidated by the feed */
    struct sl_connguard *guard;         /* owned; aborts reset floods */
    int probe_interval_ms;              /* between two pings */
    pthread_t prober;                   /* pings the backend */
    bool prober_running;                /* prober was started */
    pthread_mutex_t probe_mu;           /* guards probe_stop */
    pthread_cond_t probe_cv;            /* wakes the prober to stop */
    bool probe_stop;                    /* the prober and reaper must exit */
    pthread_t reaper;                   /* expires unread replies */
    bool reaper_running;                /* reaper was started */
    char *backend;                      /* owned copy of the store URI */
    struct sl_store_options store_opts; /* copy of the config's, with pool */
    struct sl_store_pool *pool;         /* owned; NULL: no --pg-pool-size */
    struct sl_auth *auth;               /* the caller's; NULL: auth off */
    int max_in_flight;                  /* --max-concurrent-calls */
    int query_timeout_ms;               /* --query-timeout */
    size_t max_response_bytes;          /* --max-response-bytes */
};

/* Sleeps ms, or less when the server stops; false once it is stopping.
 * Background threads (the prober, the reaper) loop on it. */
static bool nap(struct sl_server *srv, int ms)
{
    pthread_mutex_lock(&srv->probe_mu);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    while (!srv->probe_stop &&
           pthread_cond_timedwait(&srv->probe_cv, &srv->probe_mu, &ts) == 0)
        ;
    bool go_on = !srv->probe_stop;
    pthread_mutex_unlock(&srv->probe_mu);
    return go_on;
}

/* Pings the backend until told to stop; health follows the answers. */
static void *prober_main(void *arg)
{
    pthread_setname_np(pthread_self(), "sl-prober");
    struct sl_server *srv = arg;
    do {
        struct sl_err err;
        sl_err_clear(&err);
        int rc = sl_store_ping(srv->probe_store, &err);
        if (rc != SL_OK)
            sl_log(SL_LOG_DEBUG, "health probe: %s", err.msg);
        sl_health_set_backend(srv->health, rc == SL_OK, err.msg);
    } while (nap(srv, srv->probe_interval_ms));
    return NULL;
}

#define SL_REAP_MS 250  /* how often unread replies are looked for */
#define SL_TRIM_EVERY 4 /* reaps between looks at the heap: once a second */
#define SL_TRIM_SLACK (16u << 20) /* free heap that calls for a trim */

/* Hands freed heap back to the kernel once malloc holds SL_TRIM_SLACK more
 * free bytes than after the last trim. A burst (20 000 reset streams:
 * gRPC 1.51 creates a call for each before a worker sees it) leaves
 * hundreds of MiB freed but kept in malloc's per-thread arenas, which
 * free() returns only from the top of each heap; malloc_trim returns
 * every free page. mallinfo2 walks the arenas' bins: microseconds, once a
 * second. */
static void trim_after_burst(size_t *kept)
{
    struct mallinfo2 mi = mallinfo2();
    if (mi.fordblks < *kept + SL_TRIM_SLACK) {
        if (mi.fordblks < *kept)
            *kept = mi.fordblks;
        return;
    }
    malloc_trim(0);
    *kept = mallinfo2().fordblks; /* what trimming could not return */
    sl_log(SL_LOG_DEBUG, "heap trimmed: %zu KiB were free, %zu KiB kept",
           mi.fordblks >> 10, *kept >> 10);
}

/* Cancels, a few times a second, the replies their clients have not read
 * within --send-timeout (call.h, sl_worker_expire_replies); once a second
 * returns the heap a burst left behind. */
static void *reaper_main(void *arg)
{
    pthread_setname_np(pthread_self(), "sl-reaper");
    struct sl_server *srv = arg;
    size_t kept = 0;
    unsigned n = 0;
    do {
        int64_t now = sl_clock_ms();
        for (int i = 0; i < srv->nworkers; i++)
            sl_worker_expire_replies(&srv->workers[i], now);
        if (++n % SL_TRIM_EVERY == 0) {
            sl_connguard_sweep(srv->guard, now);
            trim_after_burst(&kept);
        }
    } while (nap(srv, SL_REAP_MS));
    return NULL;
}

/* Stops the prober and the reaper. */
static void prober_stop(struct sl_server *srv)
{
    pthread_mutex_lock(&srv->probe_mu);
    srv->probe_stop = true;
    pthread_cond_broadcast(&srv->probe_cv);
    pthread_mutex_unlock(&srv->probe_mu);
    if (srv->prober_running)
        pthread_join(srv->prober, NULL);
    if (srv->reaper_running)
        pthread_join(srv->reaper, NULL);
    srv->prober_running = srv->reaper_running = false;
}

void sl_server_local(struct sl_server *srv, struct sl_server_local *out)
{
    *out = (struct sl_server_local){
        .backend = srv->backend,
        .store_opts = &srv->store_opts,
        .health = srv->health,
        .auth = srv->auth,
        .in_flight = &srv->in_flight,
        .max_in_flight = srv->max_in_flight,
        .query_timeout_ms = srv->query_timeout_ms,
        .max_response_bytes = srv->max_response_bytes,
        .cache = srv->cache,
        .feed = srv->feed,
    };
}

struct sl_cache *sl_server_cache(struct sl_server *srv)
{
    return srv->cache;
}

int sl_server_port(const struct sl_server *srv)
{
    return srv->port;
}

/* Frees what start created; the server must not be started, or be stopped
 * and drained already. */
static void server_free(struct sl_server *srv)
{
    if (srv->server)
        grpc_server_destroy(srv->server);
    for (int i = 0; i < srv->nworkers; i++) {
        struct sl_worker *w = &srv->workers[i];
        if (w->cq)
            grpc_completion_queue_destroy(w->cq);
        sl_store_close(w->store);
        pthread_mutex_destroy(&w->sending_mu);
    }
    if (srv->shut_cq)
        grpc_completion_queue_destroy(srv->shut_cq);
    sl_store_close(srv->probe_store);
    sl_feed_stop(srv->feed);          /* every watch call is over by now */
    sl_cache_destroy(srv->cache);     /* after the feed: it invalidates */
    sl_store_pool_close(srv->pool);   /* after every handle (the shim's too) */
    sl_connguard_destroy(srv->guard); /* after every call */
    sl_reflection_destroy(srv->reflection);
    sl_health_destroy(srv->health);
    pthread_cond_destroy(&srv->probe_cv);
    pthread_mutex_destroy(&srv->probe_mu);
    free(srv->workers);
    free(srv->backend);
    free(srv);
}

/* Shuts a queue down and waits until it has handed out everything. */
static void drain_cq(grpc_completion_queue *cq)
{
    grpc_completion_queue_shutdown(cq);
    while (
        grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
            .type != GRPC_QUEUE_SHUTDOWN)
        ;
}

int sl_server_start(const struct sl_server_config *cfg, struct sl_server **out,
                    struct sl_err *err)
{
    int rc = SL_OK;
    *out = NULL;
    struct sl_server *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    srv->shutdown_tag.kind = SL_TAG_SHUTDOWN;
    srv->shutdown_tag.owner = srv;
    pthread_mutex_init(&srv->probe_mu, NULL);
    pthread_cond_init(&srv->probe_cv, NULL);
    srv->probe_interval_ms = cfg->health_interval_ms;
    srv->auth = cfg->auth;
    srv->max_in_flight = cfg->max_concurrent_calls;
    srv->query_timeout_ms = cfg->query_timeout_ms;
    srv->max_response_bytes = (size_t)cfg->max_response_bytes;
    srv->backend = strdup(cfg->backend);
    srv->health = sl_health_create();
    if (!srv->health || !srv->backend) {
        rc = sl_err_set(err, SL_ENOMEM, "out of memory");
        goto out;
    }
    rc = sl_reflection_create(&srv->reflection, err);
    if (rc != SL_OK)
        goto out;
    srv->nworkers = cfg->threads;
    srv->workers = calloc((size_t)cfg->threads, sizeof(*srv->workers));
    if (!srv->workers) {
        srv->nworkers = 0; /* nothing for server_free() to walk */
        rc = sl_err_set(err, SL_ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < srv->nworkers; i++)
        pthread_mutex_init(&srv->workers[i].sending_mu, NULL);

    /* Stores first: a bad backend fails before anything listens. */
    if (cfg->store_opts)
        srv->store_opts = *cfg->store_opts;
    if (srv->store_opts.pool_size == 1) {
        rc = sl_err_set(err, SL_EINVAL,
                        "--pg-pool-size=1: the change feed keeps one "
                        "connection, so give 2 or more (0: one per thread)");
        goto out;
    }
    if (srv->store_opts.pool_size > 0 &&
        (rc = sl_store_pool_open(cfg->backend, &srv->store_opts,
                                 srv->store_opts.pool_size, &srv->pool, err)) !=
            SL_OK)
        goto out;
    srv->store_opts.pool = srv->pool;
    for (int i = 0; i < srv->nworkers; i++) {
        rc = sl_store_open_with(cfg->backend, &srv->store_opts,
                                &srv->workers[i].store, err);
        if (rc != SL_OK)
            goto out;
    }
    rc = sl_store_open_with(cfg->backend, &srv->store_opts, &srv->probe_store,
                            err);
    if (rc != SL_OK)
        goto out;
    rc = sl_cache_create((size_t)cfg->cache_bytes, &srv->cache, err);
    if (rc != SL_OK)
        goto out;
    struct sl_feed_config fc = {
        .backend = cfg->backend,
        .store_opts = &srv->store_opts,
        .max_watchers = cfg->max_watchers,
        .queue_max = cfg->watch_queue,
        .cache = srv->cache,
    };
    rc = sl_feed_start(&fc, &srv->feed, err);
    if (rc != SL_OK)
        goto out;

    grpc_arg args[11];
    size_t nargs = 0;
#define SL_INT_ARG(k, v)                                                       \
    args[nargs++] =                                                            \
        (grpc_arg){.type = GRPC_ARG_INTEGER, .key = (k), .value.integer = (v)}
    /* gRPC 1.51 otherwise binds a busy port silently (SO_REUSEPORT) and
     * two servers share the traffic. */
    SL_INT_ARG(GRPC_ARG_ALLOW_REUSEPORT, 0);
    SL_INT_ARG(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, cfg->max_request_bytes);
    SL_INT_ARG(GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, cfg->max_response_bytes);
    /* One connection cannot hold more than this many calls, so it cannot
     * take every call place of --max-concurrent-calls (issue 8). */
    SL_INT_ARG(GRPC_ARG_MAX_CONCURRENT_STREAMS, cfg->max_connection_streams);
    /* Pings find dead peers of long streams (watchers) and keep idle
     * ones open through NATs and balancers; the default would stop after
     * two pings with no data in between, exactly an idle watch. */
    SL_INT_ARG(GRPC_ARG_KEEPALIVE_TIME_MS, cfg->keepalive_ms);
    SL_INT_ARG(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
    SL_INT_ARG(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    if (cfg->max_connection_idle_ms > 0)
        SL_INT_ARG(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                   cfg->max_connection_idle_ms);
    if (cfg->max_connection_age_ms > 0) {
        SL_INT_ARG(GRPC_ARG_MAX_CONNECTION_AGE_MS, cfg->max_connection_age_ms);
        /* calls under way when the age is reached get the send timeout */
        SL_INT_ARG(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, cfg->send_timeout_ms);
    }
#undef SL_INT_ARG
    grpc_channel_args chargs = {nargs, args};
    srv->server = grpc_server_create(&chargs, NULL);
    for (size_t m = 0; m < sl_methods_count; m++) {
        const struct sl_handler *h = sl_methods[m];
        if (!h->path) /* the catch-all: generic slots, not registered */
            continue;
        /* Bidi streams read their messages one by one; the others get
         * their one request with the call. */
        srv->registered[m] = grpc_server_register_method(
            srv->server, h->path, NULL,
            h->kind == SL_RPC_BIDI ? GRPC_SRM_PAYLOAD_NONE
                                   : GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER,
            0);
    }
    srv->shut_cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(srv->server, srv->shut_cq, NULL);
    for (int i = 0; i < srv->nworkers; i++) {
        struct sl_worker *w = &srv->workers[i];
        w->srv = srv;
        w->server = srv->server;
        w->registered = srv->registered;
        w->health = srv->health;
        w->feed = srv->feed;
        w->reflection = srv->reflection;
        w->auth = cfg->auth;
        w->in_flight = &srv->in_flight;
        w->max_in_flight = cfg->max_concurrent_calls;
        w->query_timeout_ms = cfg->query_timeout_ms;
        w->inflight_bytes = &srv->inflight_bytes;
        w->max_inflight_bytes = cfg->max_inflight_bytes;
        w->max_response_bytes = (size_t)cfg->max_response_bytes;
        w->send_timeout_ms = cfg->send_timeout_ms;
        w->slots = cfg->slots;
        w->cq = grpc_completion_queue_create_for_next(NULL);
        grpc_server_register_completion_queue(srv->server, w->cq, NULL);
    }

    grpc_server_credentials *creds = NULL;
    rc = sl_tls_server_credentials(cfg->tls, &creds, err);
    if (rc != SL_OK)
        goto out;
    sl_log_grpc_quiet(1); /* a failure is reported below, in one line */
    srv->port = grpc_server_add_http2_port(srv->server, cfg->listen, creds);
    sl_log_grpc_quiet(0);
    grpc_server_credentials_release(creds);
    if (srv->port == 0) {
        char why[128];
        rc = sl_err_set(err, SL_EINVAL, "cannot listen on %s: %s", cfg->listen,
                        sl_addr_bind_error(cfg->listen, why, sizeof(why)));
        goto out;
    }
    /* A client that keeps to the stream cap holds at most that many
     * answers; more than --max-connection-resets beyond it were reset. */
    srv->guard = sl_connguard_create(srv->port, cfg->max_connection_resets,
                                     cfg->max_connection_streams +
                                         cfg->max_connection_resets);
    if (!srv->guard) {
        rc = sl_err_set(err, SL_ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < srv->nworkers; i++) {
        srv->workers[i].guard = srv->guard;
        srv->workers[i].guard_from = cfg->max_connection_streams;
    }
    grpc_server_start(srv->server);

    for (int i = 0; i < srv->nworkers; i++) {
        struct sl_worker *w = &srv->workers[i];
        for (unsigned m = 0; m < sl_methods_count; m++) {
            int n = sl_methods[m]->slots ? sl_methods[m]->slots : w->slots;
            for (int k = 0; k < n; k++)
                if (sl_call_post(w, m) != 0)
                    goto post_failed;
        }
        if (pthread_create(&w->thread, NULL, sl_worker_main, w) != 0)
            goto post_failed;
        srv->nstarted++;
    }
    if (pthread_create(&srv->prober, NULL, prober_main, srv) != 0)
        goto post_failed;
    srv->prober_running = true;
    if (pthread_create(&srv->reaper, NULL, reaper_main, srv) != 0)
        goto post_failed;
    srv->reaper_running = true;
    *out = srv;
    return SL_OK;

post_failed:
    /* Started: take the normal way down, which drains posted slots. */
    sl_err_set(err, SL_ENOMEM, "cannot start worker threads");
    sl_server_stop(srv, 0);
    return SL_ENOMEM;
out:
    if (srv->server) {
        /* Never started: shutdown needs no notification round. */
        grpc_server_shutdown_and_notify(srv->server, srv->shut_cq,
                                        &srv->shutdown_tag);
        grpc_server_cancel_all_calls(srv->server);
        grpc_completion_queue_next(srv->shut_cq,
                                   gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        grpc_server_destroy(srv->server);
        srv->server = NULL;
        for (int i = 0; i < srv->nworkers; i++)
            if (srv->workers[i].cq)
                drain_cq(srv->workers[i].cq);
        drain_cq(srv->shut_cq);
    }
    server_free(srv);
    return rc;
}

/* True when no worker has anything left to do: every slot it posted has
 * been handled (a slot gRPC matched to a call stays counted until the
 * worker takes the call) and every call it took is done. Slots are read
 * first: a call is counted in active before its slot stops counting. */
static bool workers_idle(struct sl_server *srv)
{
    int slots = 0, active = 0;
    for (int i = 0; i < srv->nworkers; i++)
        slots += atomic_load(&srv->workers[i].posted);
    for (int i = 0; i < srv->nworkers; i++)
        active += atomic_load(&srv->workers[i].active);
    return slots == 0 && active == 0;
}

/* Waits for the shutdown notification: it comes once every call is done
 * and every connection closed. After grpc_server_shutdown_and_notify()
 * gRPC hands every unmatched slot back (failed), so the workers go idle
 * once the calls they took are done; connections that still hold the
 * notification up then carry no call (a client keeping its channel open)
 * and grpc_server_cancel_all_calls() closes them at once instead of
 * after the whole grace. Past grace_ms the calls still in flight are
 * cancelled. */
#define SL_STOP_POLL_MS 20
static void await_shutdown(struct sl_server *srv, int grace_ms)
{
    int64_t end = sl_clock_ms() + grace_ms;
    for (;;) {
        gpr_timespec step =
            gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                         gpr_time_from_millis(SL_STOP_POLL_MS, GPR_TIMESPAN));
        grpc_event ev = grpc_completion_queue_next(srv->shut_cq, step, NULL);
        if (ev.type == GRPC_OP_COMPLETE)
            return;
        if (workers_idle(srv)) {
            sl_log(SL_LOG_DEBUG, "shutdown: no call left; closing idle "
                                 "connections");
            break;
        }
        if (sl_clock_ms() >= end) {
            int n = 0;
            for (int i = 0; i < srv->nworkers; i++)
                n += atomic_load(&srv->workers[i].active);
            sl_log(SL_LOG_WARN,
                   "shutdown grace of %dms passed: cancelling the %d "
                   "calls still in flight",
                   grace_ms, n);
            break;
        }
    }
    grpc_server_cancel_all_calls(srv->server);
    grpc_completion_queue_next(srv->shut_cq, gpr_inf_future(GPR_CLOCK_REALTIME),
                               NULL);
}

void sl_server_drain(struct sl_server *srv)
{
    if (!srv)
        return;
    sl_health_set_draining(srv->health);
    sl_feed_drain(srv->feed);
}

void sl_server_stop(struct sl_server *srv, int grace_ms)
{
    if (!srv)
        return;
    sl_health_set_draining(srv->health);
    sl_feed_drain(srv->feed);
    grpc_server_shutdown_and_notify(srv->server, srv->shut_cq,
                                    &srv->shutdown_tag);
    await_shutdown(srv, grace_ms);
    for (int i = 0; i < srv->nworkers; i++) {
        struct sl_worker *w = &srv->workers[i];
        grpc_completion_queue_shutdown(w->cq);
        if (i < srv->nstarted)
            pthread_join(w->thread, NULL);
        else /* never got a thread: drain its returned slots here */
            sl_worker_main(w);
    }
    prober_stop(srv);
    grpc_server_destroy(srv->server);
    srv->server = NULL;
    drain_cq(srv->shut_cq);
    server_free(srv);
}
