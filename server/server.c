/* server.c -- the gRPC server: listener, worker threads, shutdown
 *
 * DESIGN
 *
 * Threads. N workers (--threads, default one per core). Each owns one
 * completion queue and one store connection, both created before
 * grpc_server_start(). gRPC binds every call to the queue its slot was
 * posted on, so a call lives and dies on one thread: no locks on the hot
 * path, and SQLite/libpq connections are never shared.
 *
 * Slots. Each worker keeps `slots` QueryServiceLogs requests posted
 * (grpc_server_request_registered_call with the payload read up front, so
 * a call needs one batch) and two generic ones for unknown methods, which
 * are answered UNIMPLEMENTED instead of hanging.
 *
 * Shutdown (sl_server_stop). grpc_server_shutdown_and_notify with a tag on
 * a private queue -> wait for it up to the grace period -> if it has not
 * come, grpc_server_cancel_all_calls and wait again -> shut down every
 * worker queue; each worker drains its queue (returned slots are freed)
 * and exits at GRPC_QUEUE_SHUTDOWN -> join -> grpc_server_destroy ->
 * destroy queues -> close stores.
 *
 * Signals are not handled here: main.c blocks them in every thread and
 * waits for them with sigwait(), so no gRPC function runs in a handler.
 */
#include "server.h"

#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "call.h"
#include "log.h"
#include "rpc.h"

#define SL_UNKNOWN_SLOTS 2

struct sl_server {
    grpc_server *server;            /* the gRPC server */
    grpc_completion_queue *shut_cq; /* receives the shutdown tag only */
    struct sl_tag shutdown_tag;     /* kind SL_TAG_SHUTDOWN */
    int port;                       /* bound port */
    int nworkers;                   /* entries in workers */
    int nstarted;                   /* workers whose thread runs */
    struct sl_worker *workers;      /* owned array */
};

/* Why gRPC could not bind addr: gRPC only says that it failed, so bind a
 * plain socket the same way and report the system's reason. */
static const char *bind_error(const char *addr)
{
    char host[256];
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr || (size_t)(colon - addr) >= sizeof(host))
        return "expected HOST:PORT";
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    char *h = host;
    size_t hl = strlen(h);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h[hl - 1] = '\0';
        h++;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(h, colon + 1, &hints, &ai) != 0 || !ai)
        return "cannot resolve the address";
    const char *why = "address not usable";
    int fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0)
            why = strerror(errno);
        close(fd);
    }
    freeaddrinfo(ai);
    return why;
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
    }
    if (srv->shut_cq)
        grpc_completion_queue_destroy(srv->shut_cq);
    free(srv->workers);
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
    srv->nworkers = cfg->threads;
    srv->workers = calloc((size_t)cfg->threads, sizeof(*srv->workers));
    if (!srv->workers) {
        rc = sl_err_set(err, SL_ENOMEM, "out of memory");
        goto out;
    }

    /* Stores first: a bad backend fails before anything listens. */
    for (int i = 0; i < srv->nworkers; i++) {
        rc = sl_store_open(cfg->backend, &srv->workers[i].store, err);
        if (rc != SL_OK)
            goto out;
    }

    grpc_arg args[] = {
        /* gRPC 1.51 otherwise binds a busy port silently (SO_REUSEPORT)
         * and two servers share the traffic. */
        {.type = GRPC_ARG_INTEGER,
         .key = GRPC_ARG_ALLOW_REUSEPORT,
         .value.integer = 0},
        {.type = GRPC_ARG_INTEGER,
         .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
         .value.integer = cfg->max_request_bytes},
    };
    grpc_channel_args chargs = {sizeof(args) / sizeof(args[0]), args};
    srv->server = grpc_server_create(&chargs, NULL);
    void *method = grpc_server_register_method(
        srv->server, SL_METHOD_QUERY_LOGS, NULL,
        GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
    srv->shut_cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(srv->server, srv->shut_cq, NULL);
    for (int i = 0; i < srv->nworkers; i++) {
        struct sl_worker *w = &srv->workers[i];
        w->srv = srv;
        w->server = srv->server;
        w->method_query_logs = method;
        w->slots = cfg->slots;
        w->cq = grpc_completion_queue_create_for_next(NULL);
        grpc_server_register_completion_queue(srv->server, w->cq, NULL);
    }

    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    sl_log_grpc_quiet(1); /* a failure is reported below, in one line */
    srv->port = grpc_server_add_http2_port(srv->server, cfg->listen, creds);
    sl_log_grpc_quiet(0);
    grpc_server_credentials_release(creds);
    if (srv->port == 0) {
        rc = sl_err_set(err, SL_EINVAL, "cannot listen on %s: %s", cfg->listen,
                        bind_error(cfg->listen));
        goto out;
    }
    grpc_server_start(srv->server);

    for (int i = 0; i < srv->nworkers; i++) {
        struct sl_worker *w = &srv->workers[i];
        for (int k = 0; k < w->slots; k++)
            if (sl_call_post(w, SL_CALL_QUERY_LOGS) != 0)
                goto post_failed;
        for (int k = 0; k < SL_UNKNOWN_SLOTS; k++)
            if (sl_call_post(w, SL_CALL_UNKNOWN) != 0)
                goto post_failed;
        if (pthread_create(&w->thread, NULL, sl_worker_main, w) != 0)
            goto post_failed;
        srv->nstarted++;
    }
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

void sl_server_stop(struct sl_server *srv, int grace_ms)
{
    if (!srv)
        return;
    grpc_server_shutdown_and_notify(srv->server, srv->shut_cq,
                                    &srv->shutdown_tag);
    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                     gpr_time_from_millis(grace_ms, GPR_TIMESPAN));
    grpc_event ev = grpc_completion_queue_next(srv->shut_cq, deadline, NULL);
    if (ev.type == GRPC_QUEUE_TIMEOUT) {
        sl_log(SL_LOG_WARN,
               "shutdown grace of %dms passed: cancelling the "
               "calls still in flight",
               grace_ms);
        grpc_server_cancel_all_calls(srv->server);
        grpc_completion_queue_next(srv->shut_cq,
                                   gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    }
    for (int i = 0; i < srv->nworkers; i++) {
        struct sl_worker *w = &srv->workers[i];
        grpc_completion_queue_shutdown(w->cq);
        if (i < srv->nstarted)
            pthread_join(w->thread, NULL);
        else /* never got a thread: drain its returned slots here */
            sl_worker_main(w);
    }
    grpc_server_destroy(srv->server);
    srv->server = NULL;
    drain_cq(srv->shut_cq);
    server_free(srv);
}
