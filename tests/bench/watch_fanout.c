/* watch_fanout.c -- how long one write takes to reach every watcher
 *
 * usage: watch_fanout GRPC_ADDR HTTP_ADDR WRITE_ADDR PROJECT SERVICE
 *                     N_GRPC N_SSE WRITES SERVER_PID...
 *
 * The measurement of watch_fanout.py -- same arguments, same JSON line
 * (same keys) -- with a client that costs a few microseconds per event
 * where the Python one spent 80-110, enough to bound the figures on a
 * small machine it shares with the servers. tests/bench/bench_watch.sh
 * runs this one when built (build/bin/watch_fanout), else the Python one.
 *
 * Opens N_GRPC WatchServiceLogs streams on GRPC_ADDR (gRPC C core, 50
 * streams a channel, each channel its own connection) and N_SSE
 * Server-Sent Events streams on HTTP_ADDR (plain sockets), waits until
 * every one has its snapshot, then records WRITES logs one after the other
 * through WRITE_ADDR, each once the previous one has reached every watcher
 * (or 2 s passed). Figures: fan-out latency = from a write's answer to its
 * last arrival (p50/p99/max over the writes), delivery latency over every
 * event, write latency, events missing, and the CPU the SERVER_PIDs used
 * per delivered event over the writing phase (/proc/PID/stat), and this
 * client's own (getrusage, every thread).
 *
 * DESIGN
 *
 * Three threads. The gRPC thread reads the one completion queue of every
 * watch call (start, message, status); a message is read only as far as
 * its log's update_time (sl_wire_next). The SSE thread reads the sockets
 * (epoll), undoes the chunked framing and looks at the first bytes of
 * each line only: "event: snapshot", "event: log", and the log's
 * "data: {"update_time":N". The main thread connects, waits for every
 * snapshot, makes the writes (a unary call on a pluck queue) and computes
 * the figures. An arrival is stamped (CLOCK_MONOTONIC, sl_clock_us) by
 * the thread that read it and kept in fo.arrive under fo.mu; the main
 * thread waits on fo.cv. Every wait is bounded: snapshots 120 s, a write
 * 10 s, its fan-out 2 s, the gRPC calls' end 5 s.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "clock.h"
#include "modelarts/v1/service_logs.pb-c.h"
#include "procstat.h"
#include "unary.h"
#include "wire.h"

#define PER_CHANNEL 50
#define READY_WAIT_MS 120000
#define FANOUT_WAIT_MS 2000
#define WRITE_DEADLINE_MS 10000
#define STOP_WAIT_MS 5000
#define TICK_MS 100
#define WATCH_METHOD "/modelarts.v1.ServiceLogs/WatchServiceLogs"
#define RECORD_METHOD "/modelarts.v1.ServiceLogWriter/RecordServiceUpdate"

/* ---- arrivals: what the three threads share ---------------------------- */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* on CLOCK_MONOTONIC */
    int n;             /* watchers */
    int n_grpc;        /* of which gRPC: 0..n_grpc-1 */
    int ready;         /* watchers holding their snapshot */
    int failed;        /* watchers that ended before it */
    int64_t base;      /* update_time of write 0 */
    int writes;
    int64_t *arrive; /* [k * n + w]: when watcher w got write k; 0: not */
    int *count;      /* [k]: watchers write k reached */
    atomic_bool stop;
} fo = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Watcher w got the log of update_time ut (its first copy counts). */
static void got(int w, int64_t ut)
{
    int64_t now = sl_clock_us();
    int64_t k = ut - fo.base;

    if (k < 0 || k >= fo.writes)
        return;
    pthread_mutex_lock(&fo.mu);
    int64_t *a = &fo.arrive[k * fo.n + w];
    if (!*a) {
        *a = now;
        if (++fo.count[k] == fo.n)
            pthread_cond_broadcast(&fo.cv);
    }
    pthread_mutex_unlock(&fo.mu);
}

/* A watcher has its snapshot (ok) or ended before it. */
static void one_ready(bool ok)
{
    pthread_mutex_lock(&fo.mu);
    if (ok)
        fo.ready++;
    else
        fo.failed++;
    if (fo.ready + fo.failed == fo.n)
        pthread_cond_broadcast(&fo.cv);
    pthread_mutex_unlock(&fo.mu);
}

/* Waits on fo.cv (fo.mu held) until deadline_us; false once it passed. */
static bool wait_until(int64_t deadline_us)
{
    struct timespec ts = {.tv_sec = deadline_us / 1000000,
                          .tv_nsec = (deadline_us % 1000000) * 1000};
    return pthread_cond_timedwait(&fo.cv, &fo.mu, &ts) != ETIMEDOUT ||
           sl_clock_us() < deadline_us;
}

static gpr_timespec in_ms(int64_t ms)
{
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                        gpr_time_from_millis(ms, GPR_TIMESPAN));
}

/* ---- gRPC watchers ------------------------------------------------------ */

enum gtag_kind { T_START, T_RECV, T_STATUS };

struct gwatch;
struct gtag {
    enum gtag_kind kind;
    struct gwatch *w;
};

/* One WatchServiceLogs call. Owned by struct gside; only the gRPC thread
 * touches it once started. */
struct gwatch {
    int id; /* watcher number in fo.arrive */
    grpc_call *call;
    struct gtag t_start, t_recv, t_status;
    grpc_byte_buffer *send, *msg;
    grpc_metadata_array init_md, trail_md;
    grpc_status_code status;
    grpc_slice details;
    int pending; /* batches in flight */
    bool ready, done;
};

struct gside {
    grpc_completion_queue *cq;
    grpc_channel **ch;
    int nch;
    struct gwatch *w;
    int n;
    int pending; /* batches in flight, all calls */
    bool stuck;  /* calls still open when the thread gave up */
};

static int gw_batch(struct gside *g, struct gwatch *w, const grpc_op *ops,
                    size_t n, struct gtag *t)
{
    if (grpc_call_start_batch(w->call, ops, n, t, NULL) != GRPC_CALL_OK)
        return -1;
    w->pending++;
    g->pending++;
    return 0;
}

static int gw_recv(struct gside *g, struct gwatch *w)
{
    grpc_op op = {.op = GRPC_OP_RECV_MESSAGE};
    op.data.recv_message.recv_message = &w->msg;
    return gw_batch(g, w, &op, 1, &w->t_recv);
}

/* Starts watcher w on channel ch: the request, then a message and the
 * status awaited. */
static int gw_start(struct gside *g, struct gwatch *w, grpc_channel *ch,
                    void *method, const uint8_t *req, size_t len)
{
    w->t_start = (struct gtag){T_START, w};
    w->t_recv = (struct gtag){T_RECV, w};
    w->t_status = (struct gtag){T_STATUS, w};
    grpc_metadata_array_init(&w->init_md);
    grpc_metadata_array_init(&w->trail_md);
    w->details = grpc_empty_slice();
    w->call = grpc_channel_create_registered_call(
        ch, NULL, GRPC_PROPAGATE_DEFAULTS, g->cq, method,
        gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (!w->call)
        return -1;
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)req, len);
    w->send = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    grpc_op ops[4] = {
        {.op = GRPC_OP_SEND_INITIAL_METADATA},
        {.op = GRPC_OP_SEND_MESSAGE},
        {.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT},
        {.op = GRPC_OP_RECV_INITIAL_METADATA},
    };
    ops[1].data.send_message.send_message = w->send;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &w->init_md;
    grpc_op st = {.op = GRPC_OP_RECV_STATUS_ON_CLIENT};
    st.data.recv_status_on_client.trailing_metadata = &w->trail_md;
    st.data.recv_status_on_client.status = &w->status;
    st.data.recv_status_on_client.status_details = &w->details;
    if (gw_batch(g, w, ops, 4, &w->t_start) ||
        gw_batch(g, w, &st, 1, &w->t_status) || gw_recv(g, w))
        return -1;
    return 0;
}

/* A WatchServiceLogsResponse: its snapshot (field 1) makes the watcher
 * ready; its log (field 2) is an arrival, of the log's field 1. */
static void gw_message(struct gwatch *w, const uint8_t *p, size_t len)
{
    const uint8_t *end = p + len;
    struct sl_wire_field f;

    while (p < end && sl_wire_next(&p, end, &f) == 0) {
        if (f.number == 1 && f.type == 2 && !w->ready) {
            w->ready = true;
            one_ready(true);
        } else if (f.number == 2 && f.type == 2 && w->ready) {
            const uint8_t *q = f.data, *qend = f.data + f.len;
            struct sl_wire_field g;
            while (q < qend && sl_wire_next(&q, qend, &g) == 0)
                if (g.number == 1 && g.type == 0) {
                    got(w->id, (int64_t)g.value);
                    break;
                }
        }
    }
}

static void gw_event(struct gside *g, struct gtag *t, int success)
{
    struct gwatch *w = t->w;

    w->pending--;
    g->pending--;
    switch (t->kind) {
    case T_START:
        grpc_byte_buffer_destroy(w->send);
        w->send = NULL;
        break;
    case T_RECV:
        if (!success || !w->msg)
            break; /* the stream ended: its status comes */
        if (grpc_byte_buffer_length(w->msg)) {
            grpc_byte_buffer_reader rd;
            if (grpc_byte_buffer_reader_init(&rd, w->msg)) {
                grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
                grpc_byte_buffer_reader_destroy(&rd);
                gw_message(w, GRPC_SLICE_START_PTR(all),
                           GRPC_SLICE_LENGTH(all));
                grpc_slice_unref(all);
            }
        } else if (!w->ready) { /* an empty first message: no snapshot */
            w->ready = true;
            one_ready(true);
        }
        grpc_byte_buffer_destroy(w->msg);
        w->msg = NULL;
        if (!atomic_load(&fo.stop))
            gw_recv(g, w);
        break;
    case T_STATUS:
        w->done = true;
        if (!w->ready && !atomic_load(&fo.stop)) {
            char *d = grpc_slice_to_c_string(w->details);
            fprintf(stderr, "watch_fanout: gRPC watcher %d ended: %d %s\n",
                    w->id, (int)w->status, d);
            gpr_free(d);
        }
        if (!w->ready)
            one_ready(false);
        break;
    }
}

/* The gRPC thread: the queue until fo.stop, then the calls cancelled and
 * their batches drained (STOP_WAIT_MS at most). */
static void *grpc_thread(void *arg)
{
    struct gside *g = arg;
    int64_t stop_at = 0;

    for (;;) {
        if (!stop_at && atomic_load(&fo.stop)) {
            stop_at = sl_clock_ms() + STOP_WAIT_MS;
            for (int i = 0; i < g->n; i++)
                if (g->w[i].call && !g->w[i].done)
                    grpc_call_cancel(g->w[i].call, NULL);
        }
        if (stop_at && g->pending == 0)
            break;
        if (stop_at && sl_clock_ms() > stop_at) {
            fprintf(stderr, "watch_fanout: %d gRPC batches not ended\n",
                    g->pending);
            g->stuck = true;
            break;
        }
        grpc_event ev = grpc_completion_queue_next(g->cq, in_ms(TICK_MS), NULL);
        if (ev.type == GRPC_OP_COMPLETE)
            gw_event(g, ev.tag, ev.success);
        else if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
    }
    return NULL;
}

/* Frees what the calls, channels and queue hold (all batches ended). */
static void gside_free(struct gside *g)
{
    for (int i = 0; g->cq && g->w && i < g->n; i++) {
        struct gwatch *w = &g->w[i];
        if (w->call)
            grpc_call_unref(w->call);
        grpc_metadata_array_destroy(&w->init_md);
        grpc_metadata_array_destroy(&w->trail_md);
        grpc_slice_unref(w->details);
    }
    for (int i = 0; g->ch && i < g->nch; i++)
        if (g->ch[i])
            grpc_channel_destroy(g->ch[i]);
    if (g->cq) {
        grpc_completion_queue_shutdown(g->cq);
        while (
            grpc_completion_queue_next(g->cq, in_ms(STOP_WAIT_MS), NULL).type ==
            GRPC_OP_COMPLETE)
            ;
        grpc_completion_queue_destroy(g->cq);
    }
    free(g->w);
    free(g->ch);
}

/* ---- SSE watchers ------------------------------------------------------- */

#define LINE_KEEP 128 /* the first bytes of a line looked at */

enum sse_frame { F_HEAD, F_SIZE, F_DATA, F_DATA_END, F_RAW, F_END };

/* One SSE stream. Owned by main; the SSE thread reads it. */
struct swatch {
    int id;
    int fd;
    enum sse_frame st;
    bool chunked, ok_status, ready, log_event;
    uint64_t left;          /* F_DATA: bytes of the chunk still to come */
    char fl[LINE_KEEP];     /* a framing line (status, header, chunk size) */
    size_t fl_len;          /* its bytes kept */
    char el[LINE_KEEP + 1]; /* an event-stream line */
    size_t el_len;
};

/* A whole event-stream line (its first bytes in s->el). */
static void sse_line(struct swatch *s)
{
    static const char ut[] = "\"update_time\":";
    size_t n = s->el_len;

    if (n && s->el[n - 1] == '\r')
        n--;
    s->el[n] = '\0';
    if (n == 0) {
        s->log_event = false;
    } else if (strncmp(s->el, "event: ", 7) == 0) {
        s->log_event = strcmp(s->el + 7, "log") == 0;
        if (strcmp(s->el + 7, "snapshot") == 0 && !s->ready) {
            s->ready = true;
            one_ready(true);
        }
    } else if (s->log_event && strncmp(s->el, "data: ", 6) == 0) {
        const char *p = strstr(s->el, ut);
        if (p)
            got(s->id, strtoll(p + sizeof(ut) - 1, NULL, 10));
    }
    s->el_len = 0;
}

/* Body bytes (the framing undone), cut into lines. */
static void sse_body(struct swatch *s, const char *p, size_t n)
{
    while (n) {
        const char *nl = memchr(p, '\n', n);
        size_t k = nl ? (size_t)(nl - p) : n;
        size_t room = LINE_KEEP - s->el_len;
        memcpy(s->el + s->el_len, p, k < room ? k : room);
        s->el_len += k < room ? k : room;
        if (!nl)
            return;
        sse_line(s);
        p += k + 1;
        n -= k + 1;
    }
}

/* A whole framing line (status line, header, chunk size). -1: not an
 * event stream this client reads. */
static int sse_frame_line(struct swatch *s)
{
    size_t n = s->fl_len;

    if (n && s->fl[n - 1] == '\r')
        n--;
    s->fl[n < LINE_KEEP ? n : LINE_KEEP - 1] = '\0';
    s->fl_len = 0;
    if (s->st == F_SIZE) {
        uint64_t size = strtoull(s->fl, NULL, 16);
        s->left = size;
        s->st = size ? F_DATA : F_END;
        return 0;
    }
    if (!s->ok_status) { /* the status line */
        if (strncmp(s->fl, "HTTP/1.1 200", 12) != 0) {
            fprintf(stderr, "watch_fanout: SSE watcher %d: %s\n", s->id, s->fl);
            return -1;
        }
        s->ok_status = true;
    } else if (n == 0) {
        s->st = s->chunked ? F_SIZE : F_RAW;
    } else if (strncasecmp(s->fl, "transfer-encoding:", 18) == 0 &&
               strstr(s->fl, "chunked")) {
        s->chunked = true;
    }
    return 0;
}

/* Bytes read from the socket. -1: the stream is of no use. */
static int sse_bytes(struct swatch *s, const char *p, size_t n)
{
    while (n && s->st != F_END) {
        if (s->st == F_RAW) {
            sse_body(s, p, n);
            return 0;
        }
        if (s->st == F_DATA) {
            size_t k = n < s->left ? n : (size_t)s->left;
            sse_body(s, p, k);
            s->left -= k;
            p += k;
            n -= k;
            if (!s->left)
                s->st = F_DATA_END;
            continue;
        }
        const char *nl = memchr(p, '\n', n);
        size_t k = nl ? (size_t)(nl - p) : n;
        if (s->st != F_DATA_END) { /* F_HEAD, F_SIZE: keep the line */
            size_t room = LINE_KEEP - 1 - s->fl_len;
            memcpy(s->fl + s->fl_len, p, k < room ? k : room);
            s->fl_len += k < room ? k : room;
        }
        if (!nl)
            return 0;
        p += k + 1;
        n -= k + 1;
        if (s->st == F_DATA_END)
            s->st = F_SIZE;
        else if (sse_frame_line(s))
            return -1;
    }
    return 0;
}

struct sside {
    int ep;
    struct swatch *w;
    int n;
};

static void sse_end(struct sside *ss, struct swatch *s)
{
    epoll_ctl(ss->ep, EPOLL_CTL_DEL, s->fd, NULL);
    if (!s->ready) {
        s->ready = true; /* counted once */
        one_ready(false);
    }
    s->st = F_END;
}

/* The SSE thread: the sockets until fo.stop. */
static void *sse_thread(void *arg)
{
    struct sside *ss = arg;
    static char buf[65536];
    struct epoll_event evs[256];

    while (!atomic_load(&fo.stop)) {
        int k = epoll_wait(ss->ep, evs, 256, TICK_MS);
        for (int i = 0; i < k; i++) {
            struct swatch *s = evs[i].data.ptr;
            ssize_t r = read(s->fd, buf, sizeof(buf));
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (r <= 0 || sse_bytes(s, buf, (size_t)r) || s->st == F_END) {
                if (!s->ready)
                    fprintf(stderr, "watch_fanout: SSE watcher %d ended\n",
                            s->id);
                sse_end(ss, s);
            }
        }
    }
    return NULL;
}

/* Connects watcher s to ai and sends its GET. -1 with a message. */
static int sse_connect(struct sside *ss, struct swatch *s,
                       const struct addrinfo *ai, const char *req)
{
    struct timeval tv = {.tv_sec = 5};

    s->fd =
        socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (s->fd < 0) {
        perror("watch_fanout: socket");
        return -1;
    }
    /* Bounds the blocking connect and send too. */
    setsockopt(s->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    size_t len = strlen(req);
    if (connect(s->fd, ai->ai_addr, ai->ai_addrlen) ||
        send(s->fd, req, len, MSG_NOSIGNAL) != (ssize_t)len) {
        perror("watch_fanout: SSE connect");
        return -1;
    }
    fcntl(s->fd, F_SETFL, fcntl(s->fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
    if (epoll_ctl(ss->ep, EPOLL_CTL_ADD, s->fd, &ev)) {
        perror("watch_fanout: epoll_ctl");
        return -1;
    }
    return 0;
}

/* ---- the writes ------------------------------------------------------- */

struct writer {
    grpc_channel *ch;
    void *method;
    grpc_completion_queue *cq; /* pluck */
    const char *project, *service;
};

/* Records a log of update_time ut through w; 0, or -1 with a message, or
 * -2 when the call did not end (its buffers are still the batch's). */
static int record(struct writer *w, int64_t ut)
{
    Modelarts__V1__ServiceLog log = MODELARTS__V1__SERVICE_LOG__INIT;
    Modelarts__V1__RecordServiceUpdateRequest rq =
        MODELARTS__V1__RECORD_SERVICE_UPDATE_REQUEST__INIT;
    grpc_metadata_array init_md, trail_md;
    grpc_byte_buffer *recv = NULL;
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    grpc_op ops[SL_UNARY_OPS];
    int rc = -1;

    log.update_time = ut;
    log.result = MODELARTS__V1__UPDATE_RESULT__SUCCESS;
    rq.project_id = (char *)w->project;
    rq.service_id = (char *)w->service;
    rq.log = &log;
    size_t len =
        modelarts__v1__record_service_update_request__get_packed_size(&rq);
    grpc_slice s = grpc_slice_malloc(len);
    modelarts__v1__record_service_update_request__pack(&rq,
                                                       GRPC_SLICE_START_PTR(s));
    grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    grpc_metadata_array_init(&init_md);
    grpc_metadata_array_init(&trail_md);
    struct sl_unary_io io = {.send = send,
                             .initial = &init_md,
                             .recv = &recv,
                             .trailers = &trail_md,
                             .status = &status,
                             .details = &details};
    sl_unary_ops(ops, &io);
    grpc_call *call = grpc_channel_create_registered_call(
        w->ch, NULL, GRPC_PROPAGATE_DEFAULTS, w->cq, w->method,
        in_ms(WRITE_DEADLINE_MS), NULL);
    if (!call || grpc_call_start_batch(call, ops, SL_UNARY_OPS, w, NULL) !=
                     GRPC_CALL_OK) {
        fprintf(stderr, "watch_fanout: cannot start the write\n");
        goto out;
    }
    grpc_event ev = grpc_completion_queue_pluck(
        w->cq, w, in_ms(WRITE_DEADLINE_MS + STOP_WAIT_MS), NULL);
    if (ev.type != GRPC_OP_COMPLETE) {
        fprintf(stderr, "watch_fanout: the write did not end\n");
        return -2; /* the batch still holds our buffers: no clean-up */
    }
    if (!ev.success || status != GRPC_STATUS_OK) {
        char *d = grpc_slice_to_c_string(details);
        fprintf(stderr, "watch_fanout: the write failed: %d %s\n", (int)status,
                d);
        gpr_free(d);
        goto out;
    }
    rc = 0;
out:
    if (call)
        grpc_call_unref(call);
    grpc_byte_buffer_destroy(send);
    if (recv)
        grpc_byte_buffer_destroy(recv);
    grpc_metadata_array_destroy(&init_md);
    grpc_metadata_array_destroy(&trail_md);
    grpc_slice_unref(details);
    return rc;
}

/* ---- figures ------------------------------------------------------------ */

/* utime + stime of the pids, seconds; -1 when one cannot be read. */
static double cpu_seconds(char **pids, int n)
{
    long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    double total = 0;

    for (int i = 0; i < n; i++) {
        char path[64], text[1024];
        struct sl_procstat ps;
        snprintf(path, sizeof(path), "/proc/%s/stat", pids[i]);
        FILE *f = fopen(path, "r");
        if (!f)
            return -1;
        size_t k = fread(text, 1, sizeof(text) - 1, f);
        fclose(f);
        text[k] = '\0';
        if (sl_procstat_parse_stat(text, ticks, page, 0, &ps))
            return -1;
        total += ps.cpu_seconds;
    }
    return total;
}

static double my_cpu_seconds(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* As watch_fanout.py's pct(): xs sorted, the int(p * n)-th. */
static void put_pct(const char *key, double *xs, size_t n, double p)
{
    if (!n) {
        printf("\"%s\": null, ", key);
        return;
    }
    size_t i = (size_t)(p * (double)n);
    printf("\"%s\": %.2f, ", key, xs[i < n ? i : n - 1]);
}

/* ---- main --------------------------------------------------------------- */

static int parse_count(const char *s, const char *what)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (*s == '\0' || *end != '\0' || v < 0 || v > 100000) {
        fprintf(stderr, "watch_fanout: %s: not a count: %s\n", what, s);
        exit(2);
    }
    return (int)v;
}

/* The figures of the writing phase, as one JSON line on stdout (the keys
 * of watch_fanout.py, sorted). answered[k]: when write k was answered;
 * wlat: the writes' latencies (ms; sorted here). 0, or -1 (no memory). */
static int print_figures(const int64_t *answered, double *wlat, int writes,
                         double server_cpu, double my_cpu)
{
    double *last = calloc((size_t)writes, sizeof(*last));
    double *every = calloc((size_t)writes * (size_t)fo.n, sizeof(*every));
    size_t nlast = 0, nevery = 0;
    long missing = 0;

    if (!last || !every) {
        free(last);
        free(every);
        return -1;
    }
    pthread_mutex_lock(&fo.mu); /* a late event may still arrive */
    for (int k = 0; k < writes; k++) {
        int64_t max = 0;
        missing += fo.n - fo.count[k];
        for (int w = 0; w < fo.n; w++) {
            int64_t a = fo.arrive[(size_t)k * (size_t)fo.n + (size_t)w];
            if (!a)
                continue;
            every[nevery++] = (double)(a - answered[k]) / 1000.0;
            if (!max || a > max)
                max = a;
        }
        if (max)
            last[nlast++] = (double)(max - answered[k]) / 1000.0;
    }
    pthread_mutex_unlock(&fo.mu);
    qsort(last, nlast, sizeof(*last), cmp_double);
    qsort(every, nevery, sizeof(*every), cmp_double);
    qsort(wlat, (size_t)writes, sizeof(*wlat), cmp_double);
    printf("{");
    if (nevery)
        printf("\"client_cpu_us_per_event\": %.1f, ",
               my_cpu * 1e6 / (double)nevery);
    else
        printf("\"client_cpu_us_per_event\": null, ");
    printf("\"delivered\": %zu, ", nevery);
    put_pct("delivery_p50_ms", every, nevery, 0.5);
    put_pct("delivery_p99_ms", every, nevery, 0.99);
    put_pct("fanout_max_ms", last, nlast, 1.0);
    put_pct("fanout_p50_ms", last, nlast, 0.5);
    put_pct("fanout_p99_ms", last, nlast, 0.99);
    printf("\"missing\": %ld, ", missing);
    if (nevery && server_cpu >= 0)
        printf("\"server_cpu_us_per_event\": %.1f, ",
               server_cpu * 1e6 / (double)nevery);
    else
        printf("\"server_cpu_us_per_event\": null, ");
    printf("\"watchers_grpc\": %d, \"watchers_sse\": %d, ", fo.n_grpc,
           fo.n - fo.n_grpc);
    put_pct("write_p50_ms", wlat, (size_t)writes, 0.5);
    put_pct("write_p99_ms", wlat, (size_t)writes, 0.99);
    printf("\"writes\": %d}\n", writes);
    fflush(stdout);
    free(last);
    free(every);
    return 0;
}

/* Starts the gRPC watchers: 50 a channel, each channel its own
 * connection. 0, or -1 with a message. */
static int start_grpc(struct gside *g, grpc_channel_credentials *creds,
                      const char *gaddr, const char *project,
                      const char *service)
{
    Modelarts__V1__WatchServiceLogsRequest rq =
        MODELARTS__V1__WATCH_SERVICE_LOGS_REQUEST__INIT;
    grpc_arg one_conn = {.type = GRPC_ARG_INTEGER,
                         .key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL,
                         .value.integer = 1};
    grpc_channel_args args = {.num_args = 1, .args = &one_conn};

    rq.project_id = (char *)project;
    rq.service_id = (char *)service;
    size_t len =
        modelarts__v1__watch_service_logs_request__get_packed_size(&rq);
    uint8_t *req = malloc(len + 1);
    if (!req) {
        fprintf(stderr, "watch_fanout: out of memory\n");
        return -1;
    }
    modelarts__v1__watch_service_logs_request__pack(&rq, req);
    int rc = 0;
    for (int c = 0; c < g->nch && rc == 0; c++) {
        g->ch[c] = grpc_channel_create(gaddr, creds, &args);
        void *m =
            grpc_channel_register_call(g->ch[c], WATCH_METHOD, NULL, NULL);
        for (int i = c * PER_CHANNEL; i < g->n && i < (c + 1) * PER_CHANNEL;
             i++) {
            g->w[i].id = i;
            if (gw_start(g, &g->w[i], g->ch[c], m, req, len)) {
                fprintf(stderr, "watch_fanout: cannot start watcher %d\n", i);
                rc = -1;
                break;
            }
        }
    }
    free(req);
    return rc;
}

/* Connects the SSE watchers (numbered from first). 0, or -1 with a
 * message. */
static int start_sse(struct sside *ss, int first, const char *haddr,
                     const char *project, const char *service)
{
    char host[256], req[1024];
    const char *colon = strrchr(haddr, ':');
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;

    if (!colon || (size_t)(colon - haddr) >= sizeof(host)) {
        fprintf(stderr, "watch_fanout: bad HTTP_ADDR %s\n", haddr);
        return -1;
    }
    memcpy(host, haddr, (size_t)(colon - haddr));
    host[colon - haddr] = '\0';
    if (getaddrinfo(host, colon + 1, &hints, &ai)) {
        fprintf(stderr, "watch_fanout: cannot resolve %s\n", haddr);
        return -1;
    }
    int n = snprintf(req, sizeof(req),
                     "GET /v1/%s/services/%s/logs:watch HTTP/1.1\r\n"
                     "Host: %s\r\nAccept: text/event-stream\r\n\r\n",
                     project, service, host);
    int rc = n > 0 && (size_t)n < sizeof(req) ? 0 : -1;
    if (rc)
        fprintf(stderr, "watch_fanout: PROJECT and SERVICE too long\n");
    for (int i = 0; i < ss->n && rc == 0; i++) {
        ss->w[i].id = first + i;
        rc = sse_connect(ss, &ss->w[i], ai, req);
    }
    freeaddrinfo(ai);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 9) {
        fprintf(stderr,
                "usage: watch_fanout GRPC_ADDR HTTP_ADDR WRITE_ADDR PROJECT "
                "SERVICE N_GRPC N_SSE WRITES SERVER_PID...\n");
        return 2;
    }
    const char *gaddr = argv[1], *haddr = argv[2], *waddr = argv[3];
    const char *project = argv[4], *service = argv[5];
    int n_grpc = parse_count(argv[6], "N_GRPC");
    int n_sse = parse_count(argv[7], "N_SSE");
    int writes = parse_count(argv[8], "WRITES");
    char **pids = argv + 9;
    int npids = argc - 9;

    fo.n = n_grpc + n_sse;
    fo.n_grpc = n_grpc;
    fo.writes = writes;
    if (fo.n == 0 || writes == 0) {
        fprintf(stderr, "watch_fanout: no watcher or no write\n");
        return 2;
    }

    int rc = 1;
    bool threads = false, wr_stuck = false;
    pthread_t gt, st;
    struct gside g = {.n = n_grpc,
                      .nch = (n_grpc + PER_CHANNEL - 1) / PER_CHANNEL};
    struct sside ss = {.ep = -1, .n = n_sse};
    struct writer wr = {.project = project, .service = service};
    int64_t *answered = NULL;
    double *wlat = NULL;
    pthread_condattr_t ca;

    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&fo.cv, &ca);
    pthread_condattr_destroy(&ca);
    grpc_init();
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    fo.arrive = calloc((size_t)writes * (size_t)fo.n, sizeof(*fo.arrive));
    fo.count = calloc((size_t)writes, sizeof(*fo.count));
    answered = calloc((size_t)writes, sizeof(*answered));
    wlat = calloc((size_t)writes, sizeof(*wlat));
    g.w = calloc((size_t)n_grpc + 1, sizeof(*g.w));
    g.ch = calloc((size_t)g.nch + 1, sizeof(*g.ch));
    ss.w = calloc((size_t)n_sse + 1, sizeof(*ss.w));
    if (!fo.arrive || !fo.count || !answered || !wlat || !g.w || !g.ch ||
        !ss.w) {
        fprintf(stderr, "watch_fanout: out of memory\n");
        goto out;
    }
    for (int i = 0; i < n_sse; i++)
        ss.w[i].fd = -1;
    g.cq = grpc_completion_queue_create_for_next(NULL);
    ss.ep = epoll_create1(EPOLL_CLOEXEC);
    if (ss.ep < 0) {
        perror("watch_fanout: epoll_create1");
        goto out;
    }
    if (start_grpc(&g, creds, gaddr, project, service) ||
        (n_sse && start_sse(&ss, n_grpc, haddr, project, service)))
        goto out;
    pthread_create(&gt, NULL, grpc_thread, &g);
    pthread_create(&st, NULL, sse_thread, &ss);
    threads = true;

    /* Every snapshot, then the writes. */
    pthread_mutex_lock(&fo.mu);
    int64_t until = sl_clock_us() + (int64_t)READY_WAIT_MS * 1000;
    while (fo.ready + fo.failed < fo.n && wait_until(until))
        ;
    int ready = fo.ready, failed = fo.failed;
    pthread_mutex_unlock(&fo.mu);
    if (ready < fo.n) {
        if (failed)
            fprintf(stderr, "watch_fanout: %d of %d watchers failed\n", failed,
                    fo.n);
        else
            fprintf(stderr,
                    "watch_fanout: %d of %d watchers ready after %d s\n", ready,
                    fo.n, READY_WAIT_MS / 1000);
        goto out;
    }
    wr.ch = grpc_channel_create(waddr, creds, NULL);
    wr.cq = grpc_completion_queue_create_for_pluck(NULL);
    wr.method = grpc_channel_register_call(wr.ch, RECORD_METHOD, NULL, NULL);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    fo.base = ((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000) * 10;
    double cpu0 = cpu_seconds(pids, npids), mine0 = my_cpu_seconds();
    for (int k = 0; k < writes; k++) {
        int64_t sent = sl_clock_us();
        int r = record(&wr, fo.base + k);
        if (r) {
            wr_stuck = r == -2;
            goto out;
        }
        answered[k] = sl_clock_us();
        wlat[k] = (double)(answered[k] - sent) / 1000.0;
        pthread_mutex_lock(&fo.mu);
        until = answered[k] + (int64_t)FANOUT_WAIT_MS * 1000;
        while (fo.count[k] < fo.n && wait_until(until))
            ;
        pthread_mutex_unlock(&fo.mu);
    }
    double cpu1 = cpu_seconds(pids, npids), mine1 = my_cpu_seconds();
    if (print_figures(answered, wlat, writes,
                      cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1,
                      mine1 - mine0) == 0)
        rc = 0;

out:
    /* Bounded: the threads stop within a tick, the gRPC one within
     * STOP_WAIT_MS of cancelling its calls (run here when not started). */
    atomic_store(&fo.stop, true);
    if (threads) {
        pthread_join(gt, NULL);
        pthread_join(st, NULL);
    } else if (g.cq) {
        grpc_thread(&g);
    }
    for (int i = 0; ss.w && i < n_sse; i++)
        if (ss.w[i].fd >= 0)
            close(ss.w[i].fd);
    if (ss.ep >= 0)
        close(ss.ep);
    free(ss.w);
    if (g.stuck || wr_stuck) {
        fflush(stderr);
        _exit(rc ? rc : 1); /* batches in flight hold our buffers */
    }
    gside_free(&g);
    if (wr.ch)
        grpc_channel_destroy(wr.ch);
    if (wr.cq) {
        grpc_completion_queue_shutdown(wr.cq);
        grpc_completion_queue_destroy(wr.cq);
    }
    grpc_channel_credentials_release(creds);
    grpc_shutdown();
    free(answered);
    free(wlat);
    free(fo.arrive);
    free(fo.count);
    pthread_cond_destroy(&fo.cv);
    return rc;
}
