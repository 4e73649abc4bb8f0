/* feed.c -- the change feed's thread, its watcher list and the fan-out
 *
 * DESIGN. The thread loops: wait_changes() on its waiting connection (at
 * most SL_FEED_WAIT_MS, so that a stop is seen soon), then read_changes()
 * from `pos`, the last seq this server has dispatched, in batches of
 * SL_FEED_BATCH until it has caught up, dispatching each change under
 * the lock. A failing backend (PostgreSQL down) is retried with a
 * back-off; nothing is lost meanwhile, because the next read starts from
 * pos. A read that reports `lost` (the backend pruned changes this server
 * had not read yet) ends every watcher with SL_ELAGGING: each re-watches
 * and gets a fresh snapshot, the only way to be exact again.
 *
 * The response cache (cache.h) hangs on the same reads: each change read
 * drops its service's cached answers, `lost` drops them all, and while
 * the feed fails (backing off) the cache is suspended -- it could not
 * hear of other processes' writes -- until a read catches up again.
 *
 * Dispatch walks the whole list per change: the list is short next to the
 * work of sending (one batch per watcher), and it keeps add and remove
 * O(1). See feed.h for the watcher's life and the locking.
 */
#include "feed.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "clock.h"
#include "log.h"
#include "store.h"
#include "wire.h"

#define SL_FEED_WAIT_MS 100   /* longest wait_changes; bounds stop time */
#define SL_FEED_BATCH 256     /* changes read at once */
#define SL_FEED_BACKOFF_MS 50 /* first retry after a failure; doubles */
#define SL_FEED_BACKOFF_MAX_MS 2000

struct sl_feed {
    pthread_mutex_t mu; /* feed.h LOCKING */
    struct sl_feed_watch *head;
    int n_watchers;
    int max_watchers;
    size_t queue_max;
    bool draining;
    char no_feed[SL_ERR_MSG_LEN]; /* non-empty: the backend has none */

    struct sl_store *wait_st; /* the thread's: wait_changes only */
    struct sl_store *read_st; /* the thread's: read_changes */
    struct sl_cache *cache;   /* the server's (cache.h); NULL: none */
    int64_t pos;              /* last seq dispatched (thread only) */
    pthread_t thread;
    bool running;
    pthread_mutex_t stop_mu; /* guards stop; stop_cv wakes a back-off */
    pthread_cond_t stop_cv;
    bool stop;
};

void sl_feed_lock(struct sl_feed *f)
{
    pthread_mutex_lock(&f->mu);
}

void sl_feed_unlock(struct sl_feed *f)
{
    pthread_mutex_unlock(&f->mu);
}

static void drop_queue(struct sl_feed_watch *w)
{
    while (w->q_len) {
        grpc_slice_unref(w->q[w->q_head].msg);
        w->q_head = (w->q_head + 1) % w->q_cap;
        w->q_len--;
    }
    w->q_head = 0;
}

/* Ends w with rc (lock held) and lets its handler send the status. */
static void end_watch(struct sl_feed_watch *w, int rc, const char *msg)
{
    if (w->end_rc != SL_OK)
        return;
    w->end_rc = rc;
    snprintf(w->end_msg, sizeof(w->end_msg), "%s", msg);
    drop_queue(w);
    w->kick(w->arg);
}

/* Queues msg (a new ref) on w; ends w when it is full. Lock held. */
static void push(struct sl_feed *f, struct sl_feed_watch *w, int64_t seq,
                 grpc_slice msg)
{
    if (w->q_len == f->queue_max) {
        char why[160];
        snprintf(why, sizeof(why),
                 "the watcher fell more than %zu logs behind "
                 "(--watch-queue); watch again for a fresh snapshot",
                 f->queue_max);
        end_watch(w, SL_ELAGGING, why);
        return;
    }
    if (w->q_len == w->q_cap) { /* grow the ring, unrolled */
        size_t cap = w->q_cap ? w->q_cap * 2 : 8;
        if (cap > f->queue_max)
            cap = f->queue_max;
        struct sl_feed_msg *q = malloc(cap * sizeof(*q));
        if (!q) {
            end_watch(w, SL_ENOMEM, "out of memory queueing a log");
            return;
        }
        for (size_t i = 0; i < w->q_len; i++)
            q[i] = w->q[(w->q_head + i) % w->q_cap];
        free(w->q);
        w->q = q;
        w->q_cap = cap;
        w->q_head = 0;
    }
    w->q[(w->q_head + w->q_len) % w->q_cap] =
        (struct sl_feed_msg){seq, grpc_slice_ref(msg)};
    w->q_len++;
    w->kick(w->arg);
}

/* A WatchServiceLogsResponse whose log field (2) is body. */
static grpc_slice encode_log(const struct sl_blob *body)
{
    size_t n = 1 + sl_wire_varint_len(body->len) + body->len;
    grpc_slice s = grpc_slice_malloc(n);
    uint8_t *p = GRPC_SLICE_START_PTR(s);
    *p++ = 0x12;
    p = sl_wire_put_varint(p, body->len);
    if (body->len)
        memcpy(p, body->data, body->len);
    return s;
}

/* Hands one change to its watchers. Lock held. */
static void dispatch(struct sl_feed *f, const struct sl_change *ch)
{
    grpc_slice msg = grpc_empty_slice();
    bool encoded = false;
    for (struct sl_feed_watch *w = f->head, *next; w; w = next) {
        next = w->next; /* a kick may unlist w */
        if (w->end_rc != SL_OK || (w->since >= 0 && ch->seq <= w->since) ||
            strcmp(w->service_id, ch->service_id) != 0 ||
            strcmp(w->project_id, ch->project_id) != 0)
            continue;
        if (ch->update_time == 0) {
            end_watch(
                w, SL_EREPLACED,
                "the service was replaced (an import or a rename); watch again "
                "for a fresh snapshot");
            continue;
        }
        if (w->update_time && w->update_time != ch->update_time)
            continue;
        if (!encoded) {
            msg = encode_log(&ch->body);
            encoded = true;
        }
        push(f, w, ch->seq, msg);
    }
    grpc_slice_unref(msg);
}

static void end_all(struct sl_feed *f, int rc, const char *msg)
{
    for (struct sl_feed_watch *w = f->head, *next; w; w = next) {
        next = w->next;
        end_watch(w, rc, msg);
    }
}

/* Sleeps ms unless told to stop; true when told. */
static bool nap(struct sl_feed *f, int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&f->stop_mu);
    while (!f->stop &&
           pthread_cond_timedwait(&f->stop_cv, &f->stop_mu, &until) == 0)
        ;
    bool stop = f->stop;
    pthread_mutex_unlock(&f->stop_mu);
    return stop;
}

static bool stopping(struct sl_feed *f)
{
    pthread_mutex_lock(&f->stop_mu);
    bool stop = f->stop;
    pthread_mutex_unlock(&f->stop_mu);
    return stop;
}

/* Reads and dispatches everything after f->pos. SL_OK when caught up. */
static int catch_up(struct sl_feed *f, struct sl_err *err)
{
    for (;;) {
        struct sl_change_batch b;
        sl_change_batch_init(&b);
        int rc =
            sl_store_read_changes(f->read_st, f->pos, SL_FEED_BATCH, &b, err);
        if (rc != SL_OK) {
            sl_change_batch_free(&b);
            return rc;
        }
        /* The cache first, outside the feed's lock (cache.h: taken alone). */
        if (b.lost)
            sl_cache_flush(f->cache);
        for (size_t i = 0; i < b.n; i++)
            sl_cache_invalidate(f->cache, b.changes[i].project_id,
                                b.changes[i].service_id);
        sl_feed_lock(f);
        if (b.lost) {
            sl_log(SL_LOG_WARN,
                   "change feed: changes after seq %lld were pruned before "
                   "this server read them; ending every watch",
                   (long long)f->pos);
            end_all(f, SL_ELAGGING,
                    "the server missed changes; watch again for a fresh "
                    "snapshot");
        }
        for (size_t i = 0; i < b.n; i++)
            dispatch(f, &b.changes[i]);
        sl_feed_unlock(f);
        if (b.n)
            f->pos = b.changes[b.n - 1].seq;
        else if (b.lost || b.head > f->pos)
            f->pos = b.head;
        size_t n = b.n;
        sl_change_batch_free(&b);
        if (n < SL_FEED_BATCH)
            return SL_OK;
    }
}

static void *feed_main(void *arg)
{
    pthread_setname_np(pthread_self(), "sl-feed");
    struct sl_feed *f = arg;
    int backoff = 0;
    int64_t last_warn = 0;
    while (!stopping(f)) {
        struct sl_err err;
        sl_err_clear(&err);
        int rc = sl_store_wait_changes(f->wait_st, SL_FEED_WAIT_MS, &err);
        if (rc == SL_OK)
            rc = catch_up(f, &err);
        if (rc == SL_OK) {
            if (backoff) {
                sl_log(SL_LOG_INFO, "change feed: reading again");
                sl_cache_suspend(f->cache, false); /* caught up */
            }
            backoff = 0;
            continue;
        }
        /* Other processes' writes cannot be seen now: no cached answer
         * can be vouched for until the feed has caught up again. */
        sl_cache_suspend(f->cache, true);
        int64_t now = sl_clock_ms();
        if (!backoff || now - last_warn >= 10000) {
            sl_log(SL_LOG_WARN, "change feed: %s (retrying)", err.msg);
            last_warn = now;
        }
        backoff = backoff ? backoff * 2 : SL_FEED_BACKOFF_MS;
        if (backoff > SL_FEED_BACKOFF_MAX_MS)
            backoff = SL_FEED_BACKOFF_MAX_MS;
        if (nap(f, backoff))
            break;
    }
    return NULL;
}

int sl_feed_start(const struct sl_feed_config *cfg, struct sl_feed **out,
                  struct sl_err *err)
{
    *out = NULL;
    struct sl_feed *f = calloc(1, sizeof(*f));
    if (!f)
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    pthread_mutex_init(&f->mu, NULL);
    pthread_mutex_init(&f->stop_mu, NULL);
    pthread_cond_init(&f->stop_cv, NULL);
    f->max_watchers = cfg->max_watchers;
    f->cache = cfg->cache;
    f->queue_max = (size_t)cfg->queue_max;
    int rc =
        sl_store_open_with(cfg->backend, cfg->store_opts, &f->wait_st, err);
    if (rc == SL_OK)
        rc =
            sl_store_open_with(cfg->backend, cfg->store_opts, &f->read_st, err);
    struct sl_change_batch b;
    sl_change_batch_init(&b);
    if (rc == SL_OK) /* start at the head: only news from now on */
        rc = sl_store_read_changes(f->read_st, -1, 0, &b, err);
    f->pos = b.head;
    sl_change_batch_free(&b);
    if (rc == SL_EMETHOD) { /* an older backend: serve, without watches */
        snprintf(f->no_feed, sizeof(f->no_feed), "%s", err->msg);
        sl_cache_suspend(f->cache, true); /* nothing would invalidate it */
        sl_err_clear(err);
        *out = f;
        return SL_OK;
    }
    if (rc == SL_OK && pthread_create(&f->thread, NULL, feed_main, f) != 0)
        rc = sl_err_set(err, SL_ENOMEM, "cannot start the change feed thread");
    if (rc != SL_OK) {
        sl_feed_stop(f);
        return rc;
    }
    f->running = true;
    *out = f;
    return SL_OK;
}

void sl_feed_drain(struct sl_feed *f)
{
    if (!f)
        return;
    sl_feed_lock(f);
    f->draining = true;
    end_all(f, SL_EUNAVAIL, "server is shutting down");
    sl_feed_unlock(f);
}

void sl_feed_stop(struct sl_feed *f)
{
    if (!f)
        return;
    if (f->running) {
        pthread_mutex_lock(&f->stop_mu);
        f->stop = true;
        pthread_cond_broadcast(&f->stop_cv);
        pthread_mutex_unlock(&f->stop_mu);
        pthread_join(f->thread, NULL);
    }
    sl_store_close(f->wait_st);
    sl_store_close(f->read_st);
    pthread_cond_destroy(&f->stop_cv);
    pthread_mutex_destroy(&f->stop_mu);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

int sl_feed_add(struct sl_feed *f, struct sl_feed_watch *w,
                sl_feed_kick_fn *kick, void *arg, const char *project_id,
                const char *service_id, int64_t update_time, struct sl_err *err)
{
    int rc = SL_OK;
    sl_feed_lock(f);
    if (f->no_feed[0]) {
        rc = sl_err_set(err, SL_EMETHOD, "%s", f->no_feed);
    } else if (f->draining) {
        rc = sl_err_set(err, SL_EUNAVAIL, "server is shutting down");
    } else if (f->n_watchers >= f->max_watchers) {
        rc = sl_err_set(err, SL_EOVERLOAD,
                        "too many watchers: %d streams open "
                        "(--max-watchers); retry later",
                        f->n_watchers);
    } else {
        w->kick = kick;
        w->arg = arg;
        snprintf(w->project_id, sizeof(w->project_id), "%s", project_id);
        snprintf(w->service_id, sizeof(w->service_id), "%s", service_id);
        w->update_time = update_time;
        w->since = -1;
        w->end_rc = SL_OK;
        w->listed = true;
        w->prev = NULL;
        w->next = f->head;
        if (f->head)
            f->head->prev = w;
        f->head = w;
        f->n_watchers++;
    }
    sl_feed_unlock(f);
    return rc;
}

void sl_feed_ready(struct sl_feed *f, struct sl_feed_watch *w, int64_t seq)
{
    (void)f;
    w->since = seq;
    while (w->q_len && w->q[w->q_head].seq <= seq) {
        grpc_slice_unref(w->q[w->q_head].msg);
        w->q_head = (w->q_head + 1) % w->q_cap;
        w->q_len--;
    }
}

bool sl_feed_pop(struct sl_feed_watch *w, grpc_slice *msg)
{
    if (!w->q_len)
        return false;
    *msg = w->q[w->q_head].msg;
    w->q_head = (w->q_head + 1) % w->q_cap;
    w->q_len--;
    return true;
}

void sl_feed_remove(struct sl_feed *f, struct sl_feed_watch *w)
{
    if (w->listed) {
        if (w->prev)
            w->prev->next = w->next;
        else
            f->head = w->next;
        if (w->next)
            w->next->prev = w->prev;
        w->prev = w->next = NULL;
        w->listed = false;
        f->n_watchers--;
    }
    drop_queue(w);
    free(w->q);
    w->q = NULL;
    w->q_cap = 0;
}

int sl_feed_watchers(struct sl_feed *f)
{
    sl_feed_lock(f);
    int n = f->n_watchers;
    sl_feed_unlock(f);
    return n;
}
