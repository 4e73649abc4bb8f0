/* rpc_health.c -- grpc.health.v1: serving state, Check and Watch
 *
 * Check (unary) answers from the state at once. Watch (server streaming)
 * posts RECV_CLOSE_ON_SERVER, joins the watcher list and sends the
 * current status; after each send it sends again if the status changed
 * meanwhile, else waits (idle, nothing posted) until the state changes
 * and kick() runs; at the drain it sends NOT_SERVING and ends the stream
 * with UNAVAILABLE.
 *
 * Read outcomes (rpc_health.h states the rule) live in a ring of the
 * last SL_HEALTH_READ_WINDOW reads: 0 for an answer, else the failure's
 * time and a hash of its service. A success only reads its slot (and
 * clears it if a failure was there), so the hot path takes no lock; a
 * failure, and a success that pushes one out while reads are failing,
 * take the lock and count the ring again (100 slots, a rare event).
 */
#include "rpc_health.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "clock.h"
#include "hash.h"
#include "log.h"
#include "methods.h"
#include "wire.h"

#define SL_SERVICE_NAME "modelarts.v1.ServiceLogs"

/* A failure's slot: (ms + 1) << 24 | 24 bits of its service's hash. */
#define SL_READ_HASH_BITS 24
#define SL_READ_HASH_MASK ((UINT64_C(1) << SL_READ_HASH_BITS) - 1)

struct sl_health {
    pthread_mutex_t mu;        /* guards everything below and watchers' */
    atomic_bool backend_ok;    /* the prober's last answer; also read
                                  without the lock */
    bool draining;             /* shutdown started */
    struct sl_call *watchers;  /* doubly linked through list_prev/next */
    atomic_bool reads_failing; /* the read verdict; written under the
                                  lock, also read without it */
    atomic_uint read_next;     /* slot of the next read (mod window) */
    atomic_uint_fast64_t reads[SL_HEALTH_READ_WINDOW]; /* the ring */
};

struct sl_health *sl_health_create(void)
{
    struct sl_health *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    pthread_mutex_init(&h->mu, NULL);
    atomic_init(&h->backend_ok, true);
    atomic_init(&h->reads_failing, false);
    atomic_init(&h->read_next, 0);
    for (size_t i = 0; i < SL_HEALTH_READ_WINDOW; i++)
        atomic_init(&h->reads[i], 0);
    return h;
}

void sl_health_destroy(struct sl_health *h)
{
    if (!h)
        return;
    pthread_mutex_destroy(&h->mu);
    free(h);
}

void sl_health_lock(struct sl_health *h)
{
    pthread_mutex_lock(&h->mu);
}

void sl_health_unlock(struct sl_health *h)
{
    pthread_mutex_unlock(&h->mu);
}

enum sl_serving sl_health_status_locked(struct sl_health *h, const char *name,
                                        size_t len)
{
    bool known = len == 0 || (len == strlen(SL_SERVICE_NAME) &&
                              memcmp(name, SL_SERVICE_NAME, len) == 0);
    if (!known)
        return SL_SERVICE_UNKNOWN;
    return atomic_load(&h->backend_ok) && !atomic_load(&h->reads_failing) &&
                   !h->draining
               ? SL_SERVING
               : SL_NOT_SERVING;
}

enum sl_serving sl_health_status(struct sl_health *h, const char *name,
                                 size_t len)
{
    sl_health_lock(h);
    enum sl_serving s = sl_health_status_locked(h, name, len);
    sl_health_unlock(h);
    return s;
}

static void kick_all(struct sl_health *h)
{
    struct sl_call *c = h->watchers;
    while (c) {
        struct sl_call *next = c->list_next; /* kick may unlink c */
        if (c->handler->kick)
            c->handler->kick(c);
        c = next;
    }
}

bool sl_health_backend_ok(struct sl_health *h)
{
    return atomic_load_explicit(&h->backend_ok, memory_order_relaxed);
}

/* Counts the ring again and updates the read verdict (the lock held);
 * why is the newest failure, for the log. True when the verdict
 * changed: the caller kicks the watchers. */
static bool reads_update_locked(struct sl_health *h, const char *why)
{
    int64_t now = sl_clock_ms();
    unsigned fails = 0, nsvc = 0;
    uint64_t svc[SL_HEALTH_READ_SERVICES];
    for (size_t i = 0; i < SL_HEALTH_READ_WINDOW; i++) {
        uint64_t v = atomic_load_explicit(&h->reads[i], memory_order_relaxed);
        if (!v || now - ((int64_t)(v >> SL_READ_HASH_BITS) - 1) >
                      SL_HEALTH_READ_TTL_MS)
            continue;
        fails++;
        size_t j = 0;
        while (j < nsvc && svc[j] != (v & SL_READ_HASH_MASK))
            j++;
        if (j == nsvc && nsvc < SL_HEALTH_READ_SERVICES)
            svc[nsvc++] = v & SL_READ_HASH_MASK;
    }
    bool was = atomic_load(&h->reads_failing);
    bool is =
        was ? fails >= SL_HEALTH_READ_CLEAR && nsvc >= SL_HEALTH_READ_SERVICES
            : fails >= SL_HEALTH_READ_FAILS && nsvc >= SL_HEALTH_READ_SERVICES;
    if (is == was)
        return false;
    atomic_store(&h->reads_failing, is);
    if (is)
        sl_log(SL_LOG_WARN,
               "health: %u of the last %d storage reads failed, for %u or "
               "more services: NOT_SERVING; the latest: %s",
               fails, SL_HEALTH_READ_WINDOW, nsvc,
               why ? why : "no reason given");
    else
        sl_log(SL_LOG_INFO,
               "health: storage reads recovered (%u recent failures, for "
               "%u services): %s",
               fails, nsvc,
               atomic_load(&h->backend_ok) && !h->draining ? "SERVING"
                                                           : "NOT_SERVING");
    return true;
}

void sl_health_set_backend(struct sl_health *h, bool ok, const char *why)
{
    sl_health_lock(h);
    bool changed = false;
    if (atomic_load(&h->backend_ok) != ok) {
        atomic_store(&h->backend_ok, ok);
        if (ok)
            sl_log(SL_LOG_INFO, "health: backend answers again: %s",
                   atomic_load(&h->reads_failing)
                       ? "NOT_SERVING while storage reads keep failing"
                       : "SERVING");
        else
            sl_log(SL_LOG_WARN, "health: backend unreachable: NOT_SERVING: %s",
                   why ? why : "no reason given");
        changed = true;
    }
    /* Failures age out without traffic too: a server taken out of
     * rotation for failing reads gets no queries to push them out. */
    if (atomic_load(&h->reads_failing) && reads_update_locked(h, NULL))
        changed = true;
    if (changed)
        kick_all(h);
    sl_health_unlock(h);
}

void sl_health_read_ok(struct sl_health *h)
{
    unsigned i =
        atomic_fetch_add_explicit(&h->read_next, 1, memory_order_relaxed) %
        SL_HEALTH_READ_WINDOW;
    /* The common case reads a zero and writes nothing. */
    if (!atomic_load_explicit(&h->reads[i], memory_order_relaxed) ||
        !atomic_exchange_explicit(&h->reads[i], 0, memory_order_relaxed))
        return;
    if (!atomic_load_explicit(&h->reads_failing, memory_order_relaxed))
        return;
    sl_health_lock(h);
    if (reads_update_locked(h, NULL))
        kick_all(h);
    sl_health_unlock(h);
}

void sl_health_read_error(struct sl_health *h, const char *project,
                          const char *service, const char *why)
{
    uint64_t stamp = (uint64_t)(sl_clock_ms() + 1) << SL_READ_HASH_BITS |
                     (sl_service_hash(project, service) & SL_READ_HASH_MASK);
    unsigned i =
        atomic_fetch_add_explicit(&h->read_next, 1, memory_order_relaxed) %
        SL_HEALTH_READ_WINDOW;
    sl_health_lock(h);
    atomic_store_explicit(&h->reads[i], stamp, memory_order_relaxed);
    if (reads_update_locked(h, why))
        kick_all(h);
    sl_health_unlock(h);
}

void sl_health_set_draining(struct sl_health *h)
{
    sl_health_lock(h);
    if (!h->draining) {
        h->draining = true;
        kick_all(h);
    }
    sl_health_unlock(h);
}

bool sl_health_draining_locked(struct sl_health *h)
{
    return h->draining;
}

void sl_health_watch_add(struct sl_health *h, struct sl_call *c)
{
    c->list_prev = NULL;
    c->list_next = h->watchers;
    if (h->watchers)
        h->watchers->list_prev = c;
    h->watchers = c;
    c->listed = true;
}

void sl_health_watch_remove(struct sl_health *h, struct sl_call *c)
{
    if (!c->listed)
        return;
    if (c->list_prev)
        c->list_prev->list_next = c->list_next;
    else
        h->watchers = c->list_next;
    if (c->list_next)
        c->list_next->list_prev = c->list_prev;
    c->list_prev = c->list_next = NULL;
    c->listed = false;
}

bool sl_health_list_unless_draining(struct sl_health *h, struct sl_call *c)
{
    sl_health_lock(h);
    bool draining = h->draining;
    if (!draining)
        sl_health_watch_add(h, c);
    sl_health_unlock(h);
    return !draining;
}

void sl_health_unlist(struct sl_health *h, struct sl_call *c)
{
    sl_health_lock(h);
    sl_health_watch_remove(h, c);
    sl_health_unlock(h);
}

int sl_health_decode_request(const uint8_t *req, size_t len, const char **name,
                             size_t *name_len)
{
    const uint8_t *p = req, *end = req + len;
    *name = "";
    *name_len = 0;
    while (p < end) {
        struct sl_wire_field f;
        if (sl_wire_next(&p, end, &f) < 0)
            return -1;
        if (f.number == 1) {
            if (f.type != 2)
                return -1;
            *name = (const char *)f.data;
            *name_len = f.len;
        }
    }
    return 0;
}

grpc_slice sl_health_encode_response(enum sl_serving status)
{
    if (status == SL_SERVING_UNKNOWN) /* the default: an empty message */
        return grpc_empty_slice();
    uint8_t b[2] = {0x08, (uint8_t)status}; /* field 1, varint */
    return grpc_slice_from_copied_buffer((const char *)b, sizeof(b));
}

void sl_health_report_read(struct sl_health *h, int rc, const char *project,
                           const char *service, const struct sl_err *err)
{
    switch (rc) {
    case SL_OK:
    case SL_ENOTFOUND:
    case SL_EBATCH:
        sl_health_read_ok(h);
        break;
    case SL_EUNAVAIL:
    case SL_EIO:
    case SL_ECORRUPT:
        sl_health_read_error(h, project, service, err->msg);
        break;
    default:
        break;
    }
}

/* ---- Check ------------------------------------------------------------- */

static void check_accept(struct sl_call *c)
{
    struct sl_err err;
    sl_err_clear(&err);
    grpc_slice in = sl_call_payload(c->req);
    const char *name;
    size_t len;
    int rc = SL_OK;
    if (sl_health_decode_request(GRPC_SLICE_START_PTR(in),
                                 GRPC_SLICE_LENGTH(in), &name, &len) < 0) {
        rc = sl_err_set(&err, SL_EINVAL,
                        "request is not a valid HealthCheckRequest");
    } else {
        enum sl_serving s = sl_health_status(c->worker->health, name, len);
        if (s == SL_SERVICE_UNKNOWN) {
            rc = sl_err_set(&err, SL_ENOTFOUND, "unknown service %.*s",
                            (int)(len > 128 ? 128 : len), name);
        } else {
            grpc_slice out = sl_health_encode_response(s);
            sl_call_finish_unary(c, SL_OK, &err, &out);
            grpc_slice_unref(out);
        }
    }
    grpc_slice_unref(in);
    if (rc != SL_OK)
        sl_call_finish_unary(c, rc, &err, NULL);
}

const struct sl_handler sl_rpc_health_check_handler = {
    .path = "/grpc.health.v1.Health/Check",
    .kind = SL_RPC_UNARY,
    .slots = 2,
    .accept = check_accept,
};

/* ---- Watch ------------------------------------------------------------- */

/* A Watch's own state (c->data), under the health lock. */
struct watch {
    char name[SL_HEALTH_NAME_MAX]; /* the watched service name */
    size_t len;                    /* its length */
    enum sl_serving last_sent;     /* last status sent */
    bool idle;                     /* nothing posted: waits for a kick */
};

/* Sends s as the next message (health lock held). */
static void watch_send(struct sl_call *c, enum sl_serving s, bool first)
{
    struct watch *wt = c->data;
    if (c->resp) {
        grpc_byte_buffer_destroy(c->resp);
        c->resp = NULL;
    }
    grpc_slice out = sl_health_encode_response(s);
    c->resp = grpc_raw_byte_buffer_create(&out, 1);
    grpc_slice_unref(out);
    grpc_op ops[2];
    size_t n = 0;
    memset(ops, 0, sizeof(ops));
    if (first)
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = c->resp;
    wt->last_sent = s;
    wt->idle = false;
    if (sl_call_post_batch(c, ops, n) != 0)
        sl_health_watch_remove(c->worker->health, c);
}

/* What to do when nothing is in flight (health lock held). */
static void watch_next(struct sl_call *c)
{
    struct watch *wt = c->data;
    struct sl_health *h = c->worker->health;
    enum sl_serving s = sl_health_status_locked(h, wt->name, wt->len);
    if (s != wt->last_sent) {
        watch_send(c, s, false);
    } else if (sl_health_draining_locked(h)) {
        struct sl_err err;
        sl_err_set(&err, SL_EUNAVAIL, "server is shutting down");
        sl_health_watch_remove(h, c);
        sl_call_finish_stream(c, SL_EUNAVAIL, &err);
    } else {
        wt->idle = true;
    }
}

static void watch_accept(struct sl_call *c)
{
    struct sl_err err;
    grpc_slice in = sl_call_payload(c->req);
    const char *name;
    size_t len;
    int bad = sl_health_decode_request(GRPC_SLICE_START_PTR(in),
                                       GRPC_SLICE_LENGTH(in), &name, &len);
    struct watch *wt = NULL;
    if (!bad && (wt = calloc(1, sizeof(*wt)))) {
        /* Longer names cannot be known: keep a prefix, mark it unknown. */
        wt->len = len < sizeof(wt->name) ? len : sizeof(wt->name);
        memcpy(wt->name, name, wt->len);
    }
    grpc_slice_unref(in);
    if (!wt) {
        int rc = bad ? sl_err_set(&err, SL_EINVAL,
                                  "request is not a valid HealthCheckRequest")
                     : sl_err_set(&err, SL_ENOMEM, "out of memory");
        sl_call_finish_unary(c, rc, &err, NULL);
        return;
    }
    c->data = wt;
    sl_call_post_close(c);
    struct sl_health *h = c->worker->health;
    sl_health_lock(h);
    sl_health_watch_add(h, c);
    watch_send(c, sl_health_status_locked(h, wt->name, wt->len), true);
    sl_health_unlock(h);
}

static void watch_step(struct sl_call *c, int success)
{
    struct sl_health *h = c->worker->health;
    sl_health_lock(h);
    if (!success || !c->listed)
        sl_health_watch_remove(h, c); /* the stream is gone */
    else
        watch_next(c);
    sl_health_unlock(h);
}

static void watch_kick(struct sl_call *c)
{
    struct watch *wt = c->data;
    if (wt->idle)
        watch_next(c);
}

static void watch_closed(struct sl_call *c)
{
    sl_health_unlist(c->worker->health, c);
}

static void watch_release(struct sl_call *c)
{
    free(c->data);
    c->data = NULL;
}

const struct sl_handler sl_rpc_health_watch_handler = {
    .path = "/grpc.health.v1.Health/Watch",
    .kind = SL_RPC_SERVER_STREAMING,
    .slots = 2,
    .accept = watch_accept,
    .step = watch_step,
    .closed = watch_closed,
    .kick = watch_kick,
    .release = watch_release,
};
