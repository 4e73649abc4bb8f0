/* test_addr.c -- HOST:PORT parsing, joining, loopback and dial addresses */
#include "sl_test.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"

static void test_split(void **state)
{
    (void)state;
    static const struct {
        const char *hp;
        int rc;
        const char *host;
        int port;
        bool v6;
    } cases[] = {
        {"127.0.0.1:50051", SL_OK, "127.0.0.1", 50051, false},
        {"localhost:0", SL_OK, "localhost", 0, false},
        {":8080", SL_OK, "", 8080, false},
        {"*:80", SL_OK, "*", 80, false},
        {"[::1]:65535", SL_OK, "::1", 65535, true},
        {"[::]:1", SL_OK, "::", 1, true},
        {"a:b:7", SL_OK, "a:b", 7, false}, /* the last colon splits */
        {"127.0.0.1", SL_EINVAL, "", 0, false},
        {"127.0.0.1:", SL_EINVAL, "", 0, false},
        {"127.0.0.1:65536", SL_EINVAL, "", 0, false},
        {"127.0.0.1:123456", SL_EINVAL, "", 0, false},
        {"127.0.0.1:-1", SL_EINVAL, "", 0, false},
        {"127.0.0.1:8x", SL_EINVAL, "", 0, false},
        {"[::1]8080", SL_EINVAL, "", 0, false},
        {"[::1:8080", SL_EINVAL, "", 0, false},
        {"", SL_EINVAL, "", 0, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sl_addr a;
        struct sl_err err;
        int rc = sl_addr_split(cases[i].hp, &a, &err);
        if (rc != cases[i].rc)
            fail_msg("'%s': rc %d", cases[i].hp, rc);
        if (rc != SL_OK) {
            assert_non_null(strstr(err.msg, "HOST:PORT"));
            continue;
        }
        assert_string_equal(a.host, cases[i].host);
        assert_int_equal(a.port, cases[i].port);
        assert_int_equal(a.v6, cases[i].v6);
    }
    struct sl_addr a;
    assert_int_equal(sl_addr_split(NULL, &a, NULL), SL_EINVAL);
    char longhost[SL_ADDR_HOST_MAX + 8];
    memset(longhost, 'h', SL_ADDR_HOST_MAX + 1);
    strcpy(longhost + SL_ADDR_HOST_MAX + 1, ":1");
    assert_int_equal(sl_addr_split(longhost, &a, NULL), SL_EINVAL);
}

static void test_join_dial_loopback(void **state)
{
    (void)state;
    char b[64];
    sl_addr_join(b, sizeof(b), "::1", 5);
    assert_string_equal(b, "[::1]:5");
    sl_addr_join(b, sizeof(b), "10.0.0.1", 5);
    assert_string_equal(b, "10.0.0.1:5");
    sl_addr_dial("0.0.0.0:0", 4242, b, sizeof(b));
    assert_string_equal(b, "127.0.0.1:4242");
    sl_addr_dial(":0", 1, b, sizeof(b));
    assert_string_equal(b, "127.0.0.1:1");
    sl_addr_dial("[::]:0", 2, b, sizeof(b));
    assert_string_equal(b, "[::1]:2");
    sl_addr_dial("[::1]:0", 3, b, sizeof(b));
    assert_string_equal(b, "[::1]:3");
    sl_addr_dial("example.org:9", 9, b, sizeof(b));
    assert_string_equal(b, "example.org:9");

    assert_true(sl_addr_is_loopback("127.0.0.1:1"));
    assert_true(sl_addr_is_loopback("127.255.3.4:1"));
    assert_true(sl_addr_is_loopback("localhost:1"));
    assert_true(sl_addr_is_loopback("[::1]:1"));
    assert_false(sl_addr_is_loopback("0.0.0.0:1"));
    assert_false(sl_addr_is_loopback(":1"));
    assert_false(sl_addr_is_loopback("[::]:1"));
    assert_false(sl_addr_is_loopback("127.0.0.256:1"));
    assert_false(sl_addr_is_loopback("127.0.0.1.5:1"));
    assert_false(sl_addr_is_loopback("128.0.0.1:1"));
    assert_false(sl_addr_is_loopback("127.0.0.1"));
}

static void test_sockaddr_and_bind_error(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    socklen_t len;
    struct sl_err err;
    assert_sl_ok(sl_addr_sockaddr("127.0.0.1:7", &ss, &len, &err), &err);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(len, sizeof(struct sockaddr_in));
    assert_sl_ok(sl_addr_sockaddr("[::1]:7", &ss, &len, &err), &err);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_sl_ok(sl_addr_sockaddr("*:0", &ss, &len, &err), &err);
    assert_sl_ok(sl_addr_sockaddr("localhost:0", &ss, &len, &err), &err);
    assert_sl_err(sl_addr_sockaddr("example.org:7", &ss, &len, &err), SL_EINVAL,
                  &err);
    assert_non_null(strstr(err.msg, "example.org:7"));

    /* A port held by this process: bind must say it is in use. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a4 = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a4, sizeof(a4)), 0);
    assert_int_equal(listen(fd, 1), 0);
    socklen_t al = sizeof(a4);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a4, &al), 0);
    char hp[32], why[128];
    snprintf(hp, sizeof(hp), "127.0.0.1:%d", ntohs(a4.sin_port));
    assert_string_equal(sl_addr_bind_error(hp, why, sizeof(why)),
                        "Address already in use");
    close(fd);
    assert_string_equal(sl_addr_bind_error("nope", why, sizeof(why)),
                        "expected HOST:PORT");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_join_dial_loopback),
        cmocka_unit_test(test_sockaddr_and_bind_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
