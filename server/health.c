/* health.c -- grpc.health.v1 serving state and its watchers */
#include "health.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "log.h"
#include "wire.h"

#define SL_SERVICE_NAME "modelarts.v1.ServiceLogs"

struct sl_health {
    pthread_mutex_t mu;       /* guards everything below and watchers' */
    atomic_bool backend_ok;   /* the prober's last answer; also read
                                 without the lock */
    bool draining;            /* shutdown started */
    struct sl_call *watchers; /* doubly linked through watch_prev/next */
};

struct sl_health *sl_health_create(void)
{
    struct sl_health *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    pthread_mutex_init(&h->mu, NULL);
    atomic_init(&h->backend_ok, true);
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
    return atomic_load(&h->backend_ok) && !h->draining ? SL_SERVING
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
        struct sl_call *next = c->watch_next; /* kick may unlink c */
        sl_call_watch_kick(c);
        c = next;
    }
}

bool sl_health_backend_ok(struct sl_health *h)
{
    return atomic_load_explicit(&h->backend_ok, memory_order_relaxed);
}

void sl_health_set_backend(struct sl_health *h, bool ok, const char *why)
{
    sl_health_lock(h);
    if (atomic_load(&h->backend_ok) != ok) {
        atomic_store(&h->backend_ok, ok);
        if (ok)
            sl_log(SL_LOG_INFO, "health: backend answers again: SERVING");
        else
            sl_log(SL_LOG_WARN, "health: backend unreachable: NOT_SERVING: %s",
                   why ? why : "no reason given");
        kick_all(h);
    }
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
    c->watch_prev = NULL;
    c->watch_next = h->watchers;
    if (h->watchers)
        h->watchers->watch_prev = c;
    h->watchers = c;
    c->watching = true;
}

void sl_health_watch_remove(struct sl_health *h, struct sl_call *c)
{
    if (!c->watching)
        return;
    if (c->watch_prev)
        c->watch_prev->watch_next = c->watch_next;
    else
        h->watchers = c->watch_next;
    if (c->watch_next)
        c->watch_next->watch_prev = c->watch_prev;
    c->watch_prev = c->watch_next = NULL;
    c->watching = false;
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
