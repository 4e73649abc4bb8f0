/* http_upstream.c -- the REST shim's gRPC client (http_upstream.h)
 *
 * Threading: the shim's libmicrohttpd workers call in, each handling one
 * request at a time. A call is synchronous: one batch of all six ops,
 * then grpc_completion_queue_pluck() on the calling thread's own pluck
 * completion queue, created on the thread's first call and destroyed by a
 * pthread-key destructor when the thread exits (for the shim's workers:
 * in MHD_stop_daemon). A worker thus has at most one call in flight; the
 * shim's thread count bounds the upstream concurrency. The grpc_channel
 * and its registered methods are shared by all callers (gRPC channels are
 * thread-safe); nothing else is shared but the log rate limiter (an
 * atomic). One more thread, the channel watcher (watch_main), keeps the
 * channel connecting while no request is waiting on it.
 *
 * Ownership: struct sl_http_upstream owns the channel, the registered
 * methods, the watcher and its completion queue, and the pthread key; the
 * completion queues themselves belong to their threads (the key's
 * destructor). Per call, the request and answer byte buffers, metadata
 * and status details are released before the call returns; the unpacked
 * answer goes to the caller.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "http_upstream.h"

#include <pthread.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "log.h"
#include "status.h"
#include "unary.h"
#include "validate.h"

#define SL_HTTP_QUERY_METHOD "/modelarts.v1.ServiceLogs/QueryServiceLogs"
#define SL_HTTP_HEALTH_METHOD "/grpc.health.v1.Health/Check"

struct sl_http_upstream {
    grpc_channel *channel;           /* to the target, shared by all callers */
    grpc_channel_credentials *creds; /* the channel's, kept for the watch
                                        channels (NULL: none yet) */
    void *method;                    /* grpc_channel_register_call() handle */
    void *health_method;             /* the same, for Health/Check */
    pthread_key_t cq_key;            /* a caller's pluck completion queue */
    bool cq_key_made;                /* cq_key exists (for cleanup) */
    bool grpc_inited;                /* grpc_init() was called (for cleanup) */
    grpc_completion_queue *watch_cq; /* the channel watcher's queue */
    pthread_t watcher;               /* keeps the channel connecting */
    bool watcher_started;            /* watcher exists (for cleanup) */
    atomic_bool stopping;            /* tells the watcher to exit */
    int timeout_ms;                  /* deadline per call */
    int max_response;                /* largest answer message taken */
    atomic_llong last_warn_s;        /* second of the last upstream warning */
    char target[256];                /* the channels' target, log lines */
    char name[256]; /* --upstream-name; "": none (the target's host) */
};

static void wipe_free(void *p, size_t len)
{
    explicit_bzero(p, len);
    free(p);
}

grpc_slice sl_http_secret_slice(const char *s)
{
    size_t len = strlen(s);
    char *p = malloc(len ? len : 1);
    if (!p)
        return grpc_empty_slice();
    memcpy(p, s, len);
    return grpc_slice_new_with_len(p, len, wipe_free);
}

static void cq_destroy(void *p)
{
    grpc_completion_queue_shutdown(p);
    grpc_completion_queue_destroy(p);
}

/* The calling thread's pluck queue, created on first use; NULL on
 * ENOMEM. */
static grpc_completion_queue *worker_cq(struct sl_http_upstream *u)
{
    grpc_completion_queue *cq = pthread_getspecific(u->cq_key);
    if (cq)
        return cq;
    cq = grpc_completion_queue_create_for_pluck(NULL);
    if (cq && pthread_setspecific(u->cq_key, cq) != 0) {
        cq_destroy(cq);
        cq = NULL;
    }
    return cq;
}

/* The ErrorInfo.reason inside a grpc-status-details-bin trailer, copied to
 * reason ("" when there is none); also the google.rpc.Status message to
 * msg when msg is still empty. */
static void status_details(const grpc_metadata_array *trail, char *reason,
                           size_t reason_size, char *msg, size_t msg_size)
{
    reason[0] = '\0';
    for (size_t i = 0; i < trail->count; i++) {
        const grpc_metadata *m = &trail->metadata[i];
        if (grpc_slice_str_cmp(m->key, SL_STATUS_DETAILS_KEY) == 0) {
            sl_status_details_reason(GRPC_SLICE_START_PTR(m->value),
                                     GRPC_SLICE_LENGTH(m->value), reason,
                                     reason_size, msg, msg_size);
            return;
        }
    }
}

/* Whether msg, the text of an ErrorInfo-less RESOURCE_EXHAUSTED, is gRPC's
 * for a message over a size limit: "Sent message larger than max (N vs.
 * M)" from the server, "Received message larger than max (N vs. M)" from
 * this channel (gRPC 1.51, message_size_filter.cc). */
static bool too_big(const char *msg)
{
    return strstr(msg, "message larger than max") != NULL;
}

/* SL_ETOOBIG for too_big(msg), with the sizes gRPC gave: "(N vs. M)",
 * N the answer's bytes and M the limit it broke (the server's, or this
 * channel's, u->max_response). */
static int answer_too_big(const struct sl_http_upstream *u, const char *msg,
                          struct sl_err *err)
{
    unsigned long long size = 0;
    long long limit = u->max_response;
    const char *p = strchr(msg, '(');

    if (!p || sscanf(p, "(%llu vs. %lld)", &size, &limit) != 2)
        size = 0;
    return sl_http_too_big(size, limit, err);
}

int sl_http_too_big(unsigned long long size, long long limit,
                    struct sl_err *err)
{
    if (size > 0)
        return sl_err_set(err, SL_ETOOBIG,
                          "the answer (%llu bytes) is larger than "
                          "--max-response-bytes (%lld); ask for less with "
                          "?update_time",
                          size, limit);
    return sl_err_set(err, SL_ETOOBIG,
                      "the answer is larger than --max-response-bytes (%lld); "
                      "ask for less with ?update_time",
                      limit);
}

/* Turns a non-OK upstream status into the error to answer with. */
int sl_http_upstream_error(struct sl_http_upstream *u, grpc_status_code status,
                           grpc_slice details, const grpc_metadata_array *trail,
                           struct sl_err *err)
{
    char reason[64];
    char msg[SL_ERR_MSG_LEN];
    size_t n = GRPC_SLICE_LENGTH(details);

    if (n >= sizeof(msg))
        n = sizeof(msg) - 1;
    memcpy(msg, GRPC_SLICE_START_PTR(details), n);
    msg[n] = '\0';
    status_details(trail, reason, sizeof(reason), msg, sizeof(msg));
    int code = sl_err_from_grpc((int)status, reason[0] ? reason : NULL);
    if (reason[0]) /* from our server: its message is for the client */
        return sl_err_set(err, code, "%s", msg[0] ? msg : sl_strerror(code));

    if (sl_log_once_a_second(&u->last_warn_s))
        sl_log(SL_LOG_WARN, "shim: upstream %s: gRPC status %d: %s", u->target,
               (int)status, msg);
    if (status == GRPC_STATUS_RESOURCE_EXHAUSTED && too_big(msg))
        return answer_too_big(u, msg, err);
    switch (code) {
    case SL_EUNAVAIL:
        return sl_err_set(err, code,
                          "the query service is unavailable; try again later");
    case SL_ETIMEOUT:
        return sl_err_set(err, code,
                          "the query service did not answer within %d ms",
                          u->timeout_ms);
    default:
        return sl_err_set(err, code, "%s (from the query service)",
                          sl_strerror(code));
    }
}

/* Unpacks a received message of type d; NULL when malformed or out of
 * memory. The caller frees it with protobuf_c_message_free_unpacked(). */
ProtobufCMessage *sl_http_upstream_unpack(const ProtobufCMessageDescriptor *d,
                                          grpc_byte_buffer *bb)
{
    ProtobufCMessage *msg = NULL;

    /* Fast path: one uncompressed slice (the usual case), no copy. */
    if (bb->type == GRPC_BB_RAW &&
        bb->data.raw.compression == GRPC_COMPRESS_NONE &&
        bb->data.raw.slice_buffer.count == 1) {
        grpc_slice one = bb->data.raw.slice_buffer.slices[0];
        return protobuf_c_message_unpack(d, NULL, GRPC_SLICE_LENGTH(one),
                                         GRPC_SLICE_START_PTR(one));
    }
    grpc_byte_buffer_reader rd;
    if (!grpc_byte_buffer_reader_init(&rd, bb))
        return NULL;
    grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
    grpc_byte_buffer_reader_destroy(&rd);
    msg = protobuf_c_message_unpack(d, NULL, GRPC_SLICE_LENGTH(all),
                                    GRPC_SLICE_START_PTR(all));
    grpc_slice_unref(all);
    return msg;
}

/* One unary call of the registered method with the packed request
 * wire[0..n), x-request-id request_id and (when not NULL) x-auth-token
 * token. SL_OK and *out, the answer unpacked as a resp_type (the caller
 * frees it with protobuf_c_message_free_unpacked) -- or, when raw is not
 * NULL, *raw, its bytes as sent (the caller unrefs it) -- or the error to
 * answer with and *out NULL. */
static int upstream_call(struct sl_http_upstream *u, void *method,
                         const uint8_t *wire, size_t n, const char *token,
                         const char *request_id,
                         const ProtobufCMessageDescriptor *resp_type,
                         ProtobufCMessage **out, grpc_slice *raw,
                         struct sl_err *err)
{
    grpc_metadata md[2];
    size_t nmd = 0;
    grpc_byte_buffer *send_bb = NULL;
    grpc_byte_buffer *recv_bb = NULL;
    grpc_metadata_array init_md;
    grpc_metadata_array trail_md;
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    grpc_call *call = NULL;
    int rc;

    *out = NULL;
    grpc_metadata_array_init(&init_md);
    grpc_metadata_array_init(&trail_md);

    grpc_completion_queue *cq = worker_cq(u);
    if (!cq) {
        rc = sl_err_set(err, SL_ENOMEM, "cannot create a completion queue");
        goto out;
    }

    grpc_slice payload = grpc_slice_from_copied_buffer((const char *)wire, n);
    send_bb = grpc_raw_byte_buffer_create(&payload, 1);
    grpc_slice_unref(payload);

    if (token) {
        md[nmd].key = grpc_slice_from_static_string("x-auth-token");
        md[nmd].value = sl_http_secret_slice(token);
        nmd++;
    }
    md[nmd].key = grpc_slice_from_static_string("x-request-id");
    md[nmd].value = grpc_slice_from_copied_string(request_id);
    nmd++;

    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                     gpr_time_from_millis(u->timeout_ms, GPR_TIMESPAN));
    call = grpc_channel_create_registered_call(
        u->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method, deadline, NULL);
    if (!call) {
        rc = sl_err_set(err, SL_EINTERNAL, "cannot create an upstream call");
        goto out;
    }

    grpc_op ops[SL_UNARY_OPS];
    sl_unary_ops(ops, &(struct sl_unary_io){.md = md,
                                            .n_md = nmd,
                                            .send = send_bb,
                                            .initial = &init_md,
                                            .recv = &recv_bb,
                                            .trailers = &trail_md,
                                            .status = &status,
                                            .details = &details});
    void *tag = &ops; /* unique among this queue's (one) pending batch */
    grpc_call_error ce =
        grpc_call_start_batch(call, ops, SL_UNARY_OPS, tag, NULL);
    if (ce != GRPC_CALL_OK) {
        rc = sl_err_set(err, SL_EINTERNAL,
                        "cannot start the upstream call (error %d)", (int)ce);
        goto out;
    }
    /* The call's deadline bounds the wait. */
    grpc_event ev = grpc_completion_queue_pluck(
        cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type != GRPC_OP_COMPLETE || !ev.success) {
        rc = sl_err_set(err, SL_EINTERNAL, "the upstream call failed");
        goto out;
    }

    if (status != GRPC_STATUS_OK) {
        rc = sl_http_upstream_error(u, status, details, &trail_md, err);
        goto out;
    }
    if (!recv_bb) {
        rc = sl_err_set(err, SL_EINTERNAL,
                        "the query service answered without a message");
        goto out;
    }
    if (raw) {
        grpc_byte_buffer_reader rd;
        if (!grpc_byte_buffer_reader_init(&rd, recv_bb)) {
            rc = sl_err_set(err, SL_EINTERNAL,
                            "the query service sent a malformed answer");
            goto out;
        }
        *raw = grpc_byte_buffer_reader_readall(&rd);
        grpc_byte_buffer_reader_destroy(&rd);
        rc = SL_OK;
        goto out;
    }
    *out = sl_http_upstream_unpack(resp_type, recv_bb);
    if (!*out) {
        rc = sl_err_set(err, SL_EINTERNAL,
                        "the query service sent a malformed answer");
        goto out;
    }
    rc = SL_OK;

out:
    if (call)
        grpc_call_unref(call);
    for (size_t i = 0; i < nmd; i++)
        grpc_slice_unref(md[i].value);
    if (send_bb)
        grpc_byte_buffer_destroy(send_bb);
    if (recv_bb)
        grpc_byte_buffer_destroy(recv_bb);
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&init_md);
    grpc_metadata_array_destroy(&trail_md);
    return rc;
}

int sl_http_upstream_query(struct sl_http_upstream *u,
                           const struct sl_route *rt, const char *token,
                           const char *request_id, grpc_slice *out,
                           struct sl_err *err)
{
    uint8_t wire[SL_ROUTE_PACK_MAX];
    ProtobufCMessage *msg = NULL;
    size_t n = sl_http_route_pack(rt, wire);
    *out = grpc_empty_slice();
    return upstream_call(u, u->method, wire, n, token, request_id, NULL, &msg,
                         out, err);
}

int sl_http_upstream_health(
    struct sl_http_upstream *u, const char *request_id,
    Grpc__Health__V1__HealthCheckResponse__ServingStatus *status,
    struct sl_err *err)
{
    ProtobufCMessage *msg = NULL;

    *status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__UNKNOWN;
    /* HealthCheckRequest{service: ""} packs to no bytes at all. */
    int rc = upstream_call(u, u->health_method, NULL, 0, NULL, request_id,
                           &grpc__health__v1__health_check_response__descriptor,
                           &msg, NULL, err);
    if (rc != SL_OK)
        return rc;
    *status = ((const Grpc__Health__V1__HealthCheckResponse *)msg)->status;
    protobuf_c_message_free_unpacked(msg, NULL);
    return SL_OK;
}

/* The channel watcher. Request threads only poll gRPC while one of their
 * calls is pending, and a call fails at once while the channel is in
 * TRANSIENT_FAILURE, so after a failed connect nothing would drive the
 * next attempt but gRPC's 5 s backup poller: the shim answered 503 for
 * seconds after the server was back. This thread keeps a connectivity
 * watch (which polls the channel) and asks the channel to connect
 * whenever it is idle, so the shim follows the reconnect backoff and
 * connects at start-up. */
static void *watch_main(void *arg)
{
    pthread_setname_np(pthread_self(), "sl-upstream");
    struct sl_http_upstream *u = arg;
    struct timespec nap = {0, SL_HTTP_WATCH_MS * 1000L * 1000L};

    while (!atomic_load(&u->stopping)) {
        grpc_connectivity_state st =
            grpc_channel_check_connectivity_state(u->channel, 1);
        if (st == GRPC_CHANNEL_READY) {
            /* Requests drive a ready channel; polling it here as well
             * would only compete with them for its I/O. */
            nanosleep(&nap, NULL);
            continue;
        }
        gpr_timespec deadline =
            gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                         gpr_time_from_millis(SL_HTTP_WATCH_MS, GPR_TIMESPAN));
        grpc_channel_watch_connectivity_state(u->channel, st, deadline,
                                              u->watch_cq, u);
        grpc_completion_queue_next(u->watch_cq,
                                   gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    }
    return NULL;
}

void sl_http_upstream_close(struct sl_http_upstream *u)
{
    if (!u)
        return;
    if (u->cq_key_made)
        pthread_key_delete(u->cq_key);
    atomic_store(&u->stopping, true); /* exits within SL_HTTP_WATCH_MS */
    if (u->watcher_started)
        pthread_join(u->watcher, NULL);
    if (u->watch_cq) {
        grpc_completion_queue_shutdown(u->watch_cq);
        while (grpc_completion_queue_next(
                   u->watch_cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
                   .type != GRPC_QUEUE_SHUTDOWN)
            ;
        grpc_completion_queue_destroy(u->watch_cq);
    }
    if (u->channel)
        grpc_channel_destroy(u->channel);
    if (u->creds)
        grpc_channel_credentials_release(u->creds);
    if (u->grpc_inited)
        grpc_shutdown();
    free(u);
}

/* Creates a channel to u->target with u->creds and u's arguments (below);
 * own_connection: one of the watch channels, with a subchannel pool of
 * its own (GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL), so that it opens a
 * connection of its own instead of sharing the one of every channel with
 * the same target and arguments (gRPC's global pool). NULL on failure. */
static grpc_channel *make_channel(struct sl_http_upstream *u,
                                  bool own_connection)
{
    /* Reconnect quickly once the server is back: the default backoff
     * (1 s growing to 120 s) would answer 503 long after a restart.
     * GRPC_ARG_MIN_RECONNECT_BACKOFF_MS is left alone: gRPC also takes it
     * as the connect timeout (default 20 s), and 100 ms fails handshakes
     * on a loaded machine. */
    grpc_arg args[5] = {
        {.type = GRPC_ARG_INTEGER,
         .key = GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
         .value.integer = 100},
        {.type = GRPC_ARG_INTEGER,
         .key = GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
         .value.integer = 1000},
        /* Answers as large as the server sends (gRPC's default: 4 MiB). */
        {.type = GRPC_ARG_INTEGER,
         .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
         .value.integer = u->max_response},
    };
    grpc_channel_args ca = {3, args};
    if (u->name[0])
        args[ca.num_args++] =
            (grpc_arg){.type = GRPC_ARG_STRING,
                       .key = GRPC_SSL_TARGET_NAME_OVERRIDE_ARG,
                       .value.string = u->name};
    if (own_connection)
        args[ca.num_args++] =
            (grpc_arg){.type = GRPC_ARG_INTEGER,
                       .key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL,
                       .value.integer = 1};
    return grpc_channel_create(u->target, u->creds, &ca);
}

grpc_channel *sl_http_upstream_watch_channel(struct sl_http_upstream *u)
{
    return make_channel(u, true);
}

/* Everything of sl_http_upstream_open() after the allocation; u is
 * released by the caller on failure. */
static int upstream_open(struct sl_http_upstream *u, const char *target,
                         const struct sl_tls_config *tls, struct sl_err *err)
{
    if (sl_tls_upstream_enabled(tls) && tls->upstream_name &&
        *tls->upstream_name &&
        snprintf(u->name, sizeof(u->name), "%s", tls->upstream_name) >=
            (int)sizeof(u->name))
        return sl_err_set(err, SL_EINVAL, "--upstream-name is too long");
    if (pthread_key_create(&u->cq_key, cq_destroy) != 0)
        return sl_err_set(err, SL_ENOMEM, "cannot create a thread key");
    u->cq_key_made = true;
    grpc_init();
    u->grpc_inited = true;
    int rc = sl_tls_channel_credentials(tls, &u->creds, err);
    if (rc != SL_OK)
        return rc;
    u->channel = make_channel(u, false);
    if (!u->channel)
        return sl_err_set(err, SL_EINVAL, "cannot use upstream %s", target);
    u->method = grpc_channel_register_call(u->channel, SL_HTTP_QUERY_METHOD,
                                           NULL, NULL);
    if (!u->method)
        return sl_err_set(err, SL_ENOMEM, "cannot register %s",
                          SL_HTTP_QUERY_METHOD);
    u->health_method = grpc_channel_register_call(
        u->channel, SL_HTTP_HEALTH_METHOD, NULL, NULL);
    if (!u->health_method)
        return sl_err_set(err, SL_ENOMEM, "cannot register %s",
                          SL_HTTP_HEALTH_METHOD);
    u->watch_cq = grpc_completion_queue_create_for_next(NULL);
    if (!u->watch_cq)
        return sl_err_set(err, SL_ENOMEM, "cannot create a completion queue");
    if (pthread_create(&u->watcher, NULL, watch_main, u) != 0)
        return sl_err_set(err, SL_ENOMEM, "cannot start the channel watcher");
    u->watcher_started = true;
    return SL_OK;
}

int sl_http_upstream_open(const char *target, const struct sl_tls_config *tls,
                          int timeout_ms, size_t max_response,
                          struct sl_http_upstream **out, struct sl_err *err)
{
    struct sl_http_upstream *u = calloc(1, sizeof(*u));

    *out = NULL;
    if (!u)
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    u->timeout_ms = timeout_ms;
    u->max_response = max_response > INT_MAX ? INT_MAX : (int)max_response;
    atomic_init(&u->stopping, false);
    atomic_init(&u->last_warn_s, 0);
    if (snprintf(u->target, sizeof(u->target), "%s", target) >=
        (int)sizeof(u->target)) {
        free(u);
        return sl_err_set(err, SL_EINVAL, "the upstream %.64s... is too long",
                          target);
    }
    int rc = upstream_open(u, target, tls, err);
    if (rc != SL_OK) {
        sl_http_upstream_close(u);
        return rc;
    }
    *out = u;
    return SL_OK;
}
