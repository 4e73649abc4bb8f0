/* http_listen.c -- the REST shim's listen socket (http_listen.h) */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4 */
#endif

#include "http_listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "log.h"

/* The address forms and their error text are addr.h's (no name lookup:
 * a listen address is a literal, localhost or a wildcard). */
int sl_http_listen(const char *hp, int *fd, int *port, struct sl_err *err)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    int one = 1;
    int s = -1;
    int rc;

    *fd = -1;
    *port = 0;
    rc = sl_addr_sockaddr(hp, &ss, &len, err);
    if (rc != SL_OK)
        return rc;
    s = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0)
        goto fail;
    /* SO_REUSEADDR lets a restart bind over TIME_WAIT connections; on
     * Linux it never lets two sockets listen on one port. */
    if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(s, (struct sockaddr *)&ss, len) != 0 ||
        listen(s, SL_HTTP_BACKLOG) != 0)
        goto fail;
    len = sizeof(ss);
    if (getsockname(s, (struct sockaddr *)&ss, &len) != 0)
        goto fail;
    *port =
        ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                       : ((struct sockaddr_in *)&ss)->sin_port);
    *fd = s;
    return SL_OK;

fail:
    rc =
        sl_err_set(err, SL_EIO, "cannot listen on %s: %s", hp, strerror(errno));
    if (s >= 0)
        close(s);
    return rc;
}

/* Makes fd drop every segment that opens a TCP handshake (a SYN without
 * ACK): a classic BPF socket filter, which on a TCP socket sees the TCP
 * header at offset 0, byte 13 holding the flags. Handshakes under way
 * complete (their final ACK passes) and join the backlog; a new client's
 * SYN is dropped, and its retransmission, a second later, finds no
 * listener and is refused. False when the filter could not be set. */
static bool refuse_new_handshakes(int fd)
{
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 13),           /* TCP flags */
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x02, 0, 2), /* SYN? */
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x10, 1, 0), /* and not ACK */
        BPF_STMT(BPF_RET | BPF_K, 0),                     /* drop */
        BPF_STMT(BPF_RET | BPF_K, 0xFFFFFFFFu),           /* keep */
    };
    struct sock_fprog prog = {sizeof(code) / sizeof(code[0]), code};
    return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) ==
           0;
}

size_t sl_http_listen_drain(int fd, size_t max, sl_http_adopt_fn adopt,
                            void *cls)
{
    size_t n = 0;

    /* Without the filter a handshake completing between the last accept
     * and the caller's shutdown would be reset (the window a preempted
     * thread makes long). With it, only handshakes already under way can
     * still complete: the backlog is drained again until none has for
     * SL_HTTP_DRAIN_SETTLE_MS (a loaded machine delays even loopback
     * handshakes by milliseconds). */
    bool settle = refuse_new_handshakes(fd);
    for (size_t i = 0; i < max;) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int cfd = accept4(fd, (struct sockaddr *)&ss, &len,
                          SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd >= 0) {
            i++;
            if (adopt(cls, cfd, (struct sockaddr *)&ss, len))
                n++;
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue; /* that one left; the backlog may hold more */
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (errno != EAGAIN || !settle ||
            poll(&p, 1, SL_HTTP_DRAIN_SETTLE_MS) <= 0)
            break; /* settled, or an error: done */
    }
    return n;
}

/* ---- the accepting thread ----------------------------------------------- */

struct sl_http_acceptor {
    int fd;                   /* the listening socket (the caller's) */
    int wake;                 /* eventfd: readable after a wake or stop */
    sl_http_adopt_fn adopt;   /* takes each accepted connection */
    sl_http_room_fn room;     /* whether to accept now */
    void *cls;                /* adopt's and room's */
    pthread_t thread;         /* accept_main */
    bool running;             /* thread not joined yet */
    atomic_bool stop;         /* asked to stop */
    atomic_llong last_warn_s; /* second of the last warning */
};

/* Accepts what fd's backlog holds while there is room (at most a
 * backlog's worth, then polls again); false after an error that calls
 * for a pause (out of descriptors or memory: warned about). */
static bool accept_some(struct sl_http_acceptor *a)
{
    for (int i = 0; i <= SL_HTTP_BACKLOG && a->room(a->cls); i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int cfd = accept4(a->fd, (struct sockaddr *)&ss, &len,
                          SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd >= 0) {
            a->adopt(a->cls, cfd, (struct sockaddr *)&ss, len);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
            continue; /* that one left; the backlog may hold more */
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return true; /* the backlog is empty */
        if (sl_log_once_a_second(&a->last_warn_s))
            sl_log(SL_LOG_WARN, "shim: cannot accept a connection: %s",
                   strerror(errno));
        return false;
    }
    return true;
}

static void *accept_main(void *arg)
{
    pthread_setname_np(pthread_self(), "sl-http-accept");
    struct sl_http_acceptor *a = arg;
    struct timespec pause = {0, SL_HTTP_ACCEPT_PAUSE_MS * 1000 * 1000};

    while (!atomic_load(&a->stop)) {
        bool room = a->room(a->cls);
        struct pollfd p[2] = {{.fd = a->fd, .events = room ? POLLIN : 0},
                              {.fd = a->wake, .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno != EINTR)
                nanosleep(&pause, NULL);
            continue;
        }
        if (p[1].revents) { /* woken: reset, then look again */
            uint64_t v;
            if (read(a->wake, &v, sizeof(v)) < 0 && errno != EAGAIN)
                nanosleep(&pause, NULL);
            continue;
        }
        if (room && p[0].revents && !accept_some(a))
            nanosleep(&pause, NULL);
    }
    return NULL;
}

int sl_http_acceptor_start(int fd, sl_http_adopt_fn adopt, sl_http_room_fn room,
                           void *cls, struct sl_http_acceptor **out,
                           struct sl_err *err)
{
    *out = NULL;
    struct sl_http_acceptor *a = calloc(1, sizeof(*a));
    if (!a)
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    a->fd = fd;
    a->adopt = adopt;
    a->room = room;
    a->cls = cls;
    atomic_init(&a->stop, false);
    atomic_init(&a->last_warn_s, 0);
    a->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int e =
        a->wake < 0 ? errno : pthread_create(&a->thread, NULL, accept_main, a);
    if (e != 0) {
        int rc = sl_err_set(err, SL_EIO, "cannot start the HTTP acceptor: %s",
                            strerror(e));
        if (a->wake >= 0)
            close(a->wake);
        free(a);
        return rc;
    }
    a->running = true;
    *out = a;
    return SL_OK;
}

void sl_http_acceptor_wake(struct sl_http_acceptor *a)
{
    uint64_t one = 1;
    /* Fails only when the counter is full: it is readable then anyway. */
    while (a && write(a->wake, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

void sl_http_acceptor_stop(struct sl_http_acceptor *a)
{
    if (!a || !a->running)
        return;
    atomic_store(&a->stop, true);
    sl_http_acceptor_wake(a);
    pthread_join(a->thread, NULL);
    a->running = false;
}

void sl_http_acceptor_free(struct sl_http_acceptor *a)
{
    if (!a)
        return;
    sl_http_acceptor_stop(a);
    close(a->wake);
    free(a);
}
