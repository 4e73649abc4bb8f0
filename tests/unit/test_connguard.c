/* test_connguard.c -- the connection guard and its abort
 *
 * Real loopback TCP connections (port 0): the server end is the one a
 * guard aborts, found by the client's address in gRPC's peer form, and
 * the client then reads a reset. The limits are counted with explicit
 * times, so the one-second window needs no sleeping.
 */
#include "sl_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "connguard.h"

/* A connected pair on loopback: the listener's port, the client's peer
 * string as gRPC writes it, both ends. */
struct pair {
    int lfd, cfd, sfd, port;
    char peer[80];
};

static void pair_open(struct pair *p, int family, bool percent)
{
    memset(p, 0, sizeof(*p));
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t len;
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof(*a);
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        len = sizeof(*a);
    }
    p->lfd = socket(family, SOCK_STREAM, 0);
    assert_true(p->lfd >= 0);
    assert_int_equal(bind(p->lfd, (struct sockaddr *)&ss, len), 0);
    assert_int_equal(listen(p->lfd, 4), 0);
    socklen_t n = sizeof(ss);
    assert_int_equal(getsockname(p->lfd, (struct sockaddr *)&ss, &n), 0);
    p->port =
        ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                : ((struct sockaddr_in6 *)&ss)->sin6_port);
    p->cfd = socket(family, SOCK_STREAM, 0);
    assert_int_equal(connect(p->cfd, (struct sockaddr *)&ss, len), 0);
    p->sfd = accept(p->lfd, NULL, NULL);
    assert_true(p->sfd >= 0);
    n = sizeof(ss);
    assert_int_equal(getsockname(p->cfd, (struct sockaddr *)&ss, &n), 0);
    if (family == AF_INET)
        snprintf(p->peer, sizeof(p->peer), "ipv4:127.0.0.1:%d",
                 ntohs(((struct sockaddr_in *)&ss)->sin_port));
    else
        snprintf(p->peer, sizeof(p->peer), "ipv6:%s::1%s:%d",
                 percent ? "%5B" : "[", percent ? "%5D" : "]",
                 ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
}

static void pair_close(struct pair *p)
{
    close(p->cfd);
    close(p->sfd);
    close(p->lfd);
}

/* True when the client end reads a reset (or an end) within 2 s. */
static bool client_reset(const struct pair *p)
{
    struct pollfd pfd = {.fd = p->cfd, .events = POLLIN};
    if (poll(&pfd, 1, 2000) != 1)
        return false;
    char b;
    ssize_t r = recv(p->cfd, &b, 1, MSG_DONTWAIT);
    return r == 0 || (r < 0 && errno == ECONNRESET);
}

/* True when the client end is still quiet: no reset, no end. */
static bool client_open(const struct pair *p)
{
    struct pollfd pfd = {.fd = p->cfd, .events = POLLIN};
    return poll(&pfd, 1, 0) == 0;
}

static void test_abort_ipv4(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p, AF_INET, false);
    /* another port, another form, garbage: nothing is touched */
    assert_int_equal(sl_conn_abort(p.peer, p.port + 1 > 65535 ? 1 : p.port + 1),
                     -1);
    assert_int_equal(sl_conn_abort("unix:/tmp/x.sock", p.port), -1);
    assert_int_equal(sl_conn_abort("ipv4:127.0.0.1", p.port), -1);
    assert_int_equal(sl_conn_abort("ipv4:127.0.0.1:99999", p.port), -1);
    assert_int_equal(sl_conn_abort("ipv4:1.2.3.4:5", p.port), -1);
    assert_int_equal(sl_conn_abort("unknown", p.port), -1);
    assert_true(client_open(&p));
    assert_int_equal(sl_conn_abort(p.peer, p.port), 0);
    assert_true(client_reset(&p));
    /* the server's descriptor is still its own (closed by its owner) */
    char b;
    assert_true(recv(p.sfd, &b, 1, MSG_DONTWAIT) <= 0);
    pair_close(&p);
}

static void test_abort_ipv6(void **state)
{
    (void)state;
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    if (probe < 0)
        skip();
    close(probe);
    for (int percent = 0; percent < 2; percent++) {
        struct pair p;
        pair_open(&p, AF_INET6, percent);
        assert_true(client_open(&p));
        assert_int_equal(sl_conn_abort(p.peer, p.port), 0);
        assert_true(client_reset(&p));
        pair_close(&p);
    }
}

static void test_resets_within_a_second(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p, AF_INET, false);
    struct sl_connguard *g = sl_connguard_create(p.port, 3, 1000);
    assert_non_null(g);
    int64_t t = 5000;
    for (int i = 0; i < 3; i++)
        sl_connguard_reset(g, p.peer, t + i * 300);
    /* a new second: the count starts again */
    for (int i = 0; i < 3; i++)
        sl_connguard_reset(g, p.peer, t + 1000 + i);
    assert_true(client_open(&p));
    sl_connguard_reset(g, p.peer, t + 1500); /* the fourth in one second */
    assert_true(client_reset(&p));
    /* another peer's count is its own */
    struct pair q;
    pair_open(&q, AF_INET, false);
    struct sl_connguard *g2 = sl_connguard_create(q.port, 3, 1000);
    for (int i = 0; i < 3; i++)
        sl_connguard_reset(g2, q.peer, t);
    sl_connguard_reset(g2, "ipv4:127.0.0.1:1", t);
    assert_true(client_open(&q));
    /* nothing held, the window over: forgotten */
    assert_int_equal(sl_connguard_sweep(g2, t + 999), 2);
    assert_int_equal(sl_connguard_sweep(g2, t + 1000), 0);
    sl_connguard_destroy(g2);
    sl_connguard_destroy(g);
    pair_close(&q);
    pair_close(&p);
}

static void test_held_answers(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p, AF_INET, false);
    struct sl_connguard *g = sl_connguard_create(p.port, 1000, 2);
    struct sl_connguard_peer *h[3];
    h[0] = sl_connguard_hold(g, p.peer, 1);
    h[1] = sl_connguard_hold(g, p.peer, 1);
    assert_non_null(h[0]);
    assert_ptr_equal(h[0], h[1]);
    sl_connguard_release(g, h[0]);
    h[0] = sl_connguard_hold(g, p.peer, 1); /* two at once, still */
    assert_true(client_open(&p));
    assert_int_equal(sl_connguard_sweep(g, 5000), 1); /* held: kept */
    h[2] = sl_connguard_hold(g, p.peer, 1);           /* the third at once */
    assert_true(client_reset(&p));
    for (int i = 0; i < 3; i++)
        sl_connguard_release(g, h[i]);
    assert_int_equal(sl_connguard_sweep(g, 5000), 0);
    sl_connguard_destroy(g);
    pair_close(&p);
}

static void test_bounds(void **state)
{
    (void)state;
    /* a NULL guard tracks nothing */
    sl_connguard_reset(NULL, "ipv4:127.0.0.1:1", 0);
    assert_null(sl_connguard_hold(NULL, "ipv4:127.0.0.1:1", 0));
    assert_int_equal(sl_connguard_sweep(NULL, 0), 0);
    sl_connguard_destroy(NULL);
    struct sl_connguard *g = sl_connguard_create(1, 1000000, 1000000);
    char peer[96];
    /* an over-long peer string is not tracked */
    memset(peer, 'x', sizeof(peer) - 1);
    peer[sizeof(peer) - 1] = '\0';
    assert_null(sl_connguard_hold(g, peer, 0));
    /* the table is bounded: past it, connections are served untracked */
    for (int i = 0; i < SL_CONNGUARD_PEERS + 10; i++) {
        snprintf(peer, sizeof(peer), "ipv4:10.0.%d.%d:%d", i / 256, i % 256,
                 1000 + i);
        sl_connguard_reset(g, peer, 0);
    }
    assert_int_equal(sl_connguard_sweep(g, 0), SL_CONNGUARD_PEERS);
    assert_int_equal(sl_connguard_sweep(g, 1000), 0);
    sl_connguard_destroy(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abort_ipv4),
        cmocka_unit_test(test_abort_ipv6),
        cmocka_unit_test(test_resets_within_a_second),
        cmocka_unit_test(test_held_answers),
        cmocka_unit_test(test_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
