/* test_http_listen.c -- the shim's listen socket and its acceptor
 *
 * Real loopback sockets (port 0): the acceptor hands every connection to
 * adopt while room() says yes, leaves them in the backlog while it says
 * no and takes them once woken with room again; after a stop it takes
 * none, and the backlog is left for sl_http_listen_drain(). Every wait
 * is bounded (WAIT_MS).
 */
#include "sl_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http_listen.h"

#define WAIT_MS 3000

struct probe {
    atomic_int adopted; /* connections adopt() took */
    atomic_bool room;   /* what room() answers */
};

static bool probe_adopt(void *cls, int cfd, const struct sockaddr *peer,
                        socklen_t len)
{
    struct probe *p = cls;
    (void)peer;
    (void)len;
    close(cfd);
    atomic_fetch_add(&p->adopted, 1);
    return true;
}

static bool probe_room(void *cls)
{
    struct probe *p = cls;
    return atomic_load(&p->room);
}

static void nap_ms(int ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* Waits until p has adopted want connections (false after WAIT_MS). */
static bool wait_adopted(struct probe *p, int want)
{
    for (int ms = 0; ms < WAIT_MS; ms += 5) {
        if (atomic_load(&p->adopted) >= want)
            return atomic_load(&p->adopted) == want;
        nap_ms(5);
    }
    return false;
}

/* A client connected to 127.0.0.1:port (the kernel completes the
 * handshake into the backlog, accepted or not). */
static int client(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

/* A listener on 127.0.0.1:0 (its port in *port) with an acceptor that
 * hands to p, which says there is room or not. */
static struct sl_http_acceptor *start(struct probe *p, bool room, int *fd,
                                      int *port)
{
    struct sl_err err;
    struct sl_http_acceptor *a = NULL;
    atomic_init(&p->adopted, 0);
    atomic_init(&p->room, room);
    assert_sl_ok(sl_http_listen("127.0.0.1:0", fd, port, &err), &err);
    assert_sl_ok(
        sl_http_acceptor_start(*fd, probe_adopt, probe_room, p, &a, &err),
        &err);
    return a;
}

static void test_acceptor_adopts(void **state)
{
    (void)state;
    struct probe p;
    int fd, port, c[3];
    struct sl_http_acceptor *a = start(&p, true, &fd, &port);
    for (int i = 0; i < 3; i++)
        c[i] = client(port);
    assert_true(wait_adopted(&p, 3));
    sl_http_acceptor_stop(a);
    sl_http_acceptor_stop(a); /* again: a no-op */
    sl_http_acceptor_free(a);
    sl_http_acceptor_free(NULL);
    sl_http_acceptor_wake(NULL);
    for (int i = 0; i < 3; i++)
        close(c[i]);
    close(fd);
}

static void test_acceptor_waits_for_room(void **state)
{
    (void)state;
    struct probe p;
    int fd, port, c[2];
    struct sl_http_acceptor *a = start(&p, false, &fd, &port);
    c[0] = client(port);
    c[1] = client(port);
    nap_ms(100);
    assert_int_equal(atomic_load(&p.adopted), 0); /* in the backlog */
    sl_http_acceptor_wake(a); /* still no room: still waiting */
    nap_ms(50);
    assert_int_equal(atomic_load(&p.adopted), 0);
    atomic_store(&p.room, true);
    sl_http_acceptor_wake(a);
    assert_true(wait_adopted(&p, 2));
    sl_http_acceptor_free(a);
    close(c[0]);
    close(c[1]);
    close(fd);
}

static void test_stopped_acceptor_leaves_the_backlog(void **state)
{
    (void)state;
    struct probe p;
    int fd, port;
    struct sl_http_acceptor *a = start(&p, true, &fd, &port);
    sl_http_acceptor_stop(a);
    int c = client(port);
    nap_ms(50);
    assert_int_equal(atomic_load(&p.adopted), 0);
    /* The stop's drain takes it (and no later one comes). */
    assert_int_equal(sl_http_listen_drain(fd, 10, probe_adopt, &p), 1);
    assert_int_equal(atomic_load(&p.adopted), 1);
    sl_http_acceptor_free(a);
    close(c);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acceptor_adopts),
        cmocka_unit_test(test_acceptor_waits_for_room),
        cmocka_unit_test(test_stopped_acceptor_leaves_the_backlog),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
