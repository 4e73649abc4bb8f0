/* test_http_web.c -- the pure rules of http_web.h: --cors-origins, the
 * Accept-Encoding q-values, If-None-Match matching, the ETag's form and a
 * gzip round trip through zlib. The answers themselves (headers on real
 * responses, 304, 204) are in tests/integration/test_shim_web.sh. */
#include "sl_test.h"

#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "http_web.h"

struct ae_case {
    const char *ae; /* NULL: no header */
    bool gzip;
};

static const struct ae_case ae_cases[] = {
    {NULL, false},
    {"", false},
    {"gzip", true},
    {"GZIP", true},
    {"x-gzip", true},
    {"deflate, gzip;q=0.5", true},
    {"gzip;q=0", false},
    {"gzip; q=0.0", false},
    {"gzip;q=0.001", true},
    {"gzip;q=0, *", false}, /* the explicit entry wins over * */
    {"*", true},
    {"*;q=0", false},
    {"identity", false},
    {"br, deflate", false},
    {"gzipx", false},
    {"gzip;q=bad", false}, /* malformed q: 0 */
    {"gzip;q=2", false},   /* out of range: 0 */
    {" gzip ; q=1 ", true},
    {"deflate;q=0.5, gzip", true},
};

static void test_accepts_gzip(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(ae_cases) / sizeof(ae_cases[0]); i++)
        if (sl_http_accepts_gzip(ae_cases[i].ae) != ae_cases[i].gzip)
            fail_msg("Accept-Encoding [%s]: want %d", ae_cases[i].ae,
                     ae_cases[i].gzip);
}

struct inm_case {
    const char *inm;
    bool match; /* against "\"0123456789abcdef\"" */
};

static const struct inm_case inm_cases[] = {
    {NULL, false},
    {"", false},
    {"\"0123456789abcdef\"", true},
    {"W/\"0123456789abcdef\"", true}, /* weak comparison */
    {"\"x\", \"0123456789abcdef\"", true},
    {"\"x\",W/\"0123456789abcdef\"", true},
    {"*", true},
    {"\"0123456789abcdef-gz\"", false},
    {"\"0123456789abcde\"", false},
    {"0123456789abcdef", false}, /* not quoted: not an entity-tag */
    {"\"0123456789abcdef", false},
    {"\"x\"", false},
};

static void test_etag_match(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(inm_cases) / sizeof(inm_cases[0]); i++)
        if (sl_http_etag_match(inm_cases[i].inm, "\"0123456789abcdef\"") !=
            inm_cases[i].match)
            fail_msg("If-None-Match [%s]: want %d", inm_cases[i].inm,
                     inm_cases[i].match);
}

static void test_etag_form(void **state)
{
    (void)state;
    char a[SL_HTTP_ETAG_MAX], b[SL_HTTP_ETAG_MAX], z[SL_HTTP_ETAG_MAX];
    sl_http_etag("{}", 2, false, a);
    sl_http_etag("{} ", 3, false, b);
    sl_http_etag("{}", 2, true, z);
    assert_int_equal(strlen(a), 18);
    assert_int_equal(a[0], '"');
    assert_int_equal(a[17], '"');
    assert_string_not_equal(a, b);
    assert_int_equal(strlen(z), 21);
    assert_memory_equal(a, z, 17);
    assert_string_equal(z + 17, "-gz\"");
    /* A kept hash (the cached rendering's) tags as the body would. */
    char ka[SL_HTTP_ETAG_MAX], kz[SL_HTTP_ETAG_MAX];
    sl_http_etag_of(sl_http_etag_hash("{}", 2), false, ka);
    sl_http_etag_of(sl_http_etag_hash("{}", 2), true, kz);
    assert_string_equal(ka, a);
    assert_string_equal(kz, z);
}

static void test_cors_parse(void **state)
{
    (void)state;
    struct sl_http_cors c;
    struct sl_err err;

    sl_err_clear(&err);
    assert_sl_ok(sl_http_cors_parse("", &c, &err), &err);
    assert_false(sl_http_cors_on(&c));
    assert_null(sl_http_cors_allow(&c, "https://a.example"));
    sl_http_cors_free(&c);

    assert_sl_ok(sl_http_cors_parse(" * ", &c, &err), &err);
    assert_string_equal(sl_http_cors_allow(&c, "https://x"), "*");
    assert_null(sl_http_cors_allow(&c, NULL));
    sl_http_cors_free(&c);

    assert_sl_ok(sl_http_cors_parse("https://a.example, http://localhost:3000",
                                    &c, &err),
                 &err);
    assert_int_equal(c.n, 2);
    assert_string_equal(sl_http_cors_allow(&c, "http://localhost:3000"),
                        "http://localhost:3000");
    assert_null(sl_http_cors_allow(&c, "https://a.example/"));
    assert_null(sl_http_cors_allow(&c, "https://b.example"));
    assert_null(sl_http_cors_allow(&c, ""));
    sl_http_cors_free(&c);
    sl_http_cors_free(&c); /* twice: a zeroed one */

    const char *bad[] = {"a,,b", "a,", ",a", "a, *", "a b", "a,\x01"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (sl_http_cors_parse(bad[i], &c, &err) != SL_EINVAL)
            fail_msg("--cors-origins [%s] accepted", bad[i]);
        assert_false(sl_http_cors_on(&c));
        assert_non_null(strstr(err.msg, "--cors-origins"));
    }
}

static void test_gzip_round_trip(void **state)
{
    (void)state;
    size_t n = 100000;
    char *in = malloc(n);
    assert_non_null(in);
    for (size_t i = 0; i < n; i++)
        in[i] = "{\"update_time\":123,\"result\":\"RUNNING\"}"[i % 38];
    struct sl_buf z;
    sl_buf_init(&z);
    assert_int_equal(sl_http_gzip(in, n, &z), SL_OK);
    assert_true(z.len > 18 && z.len < n);
    assert_int_equal((unsigned char)z.data[0], 0x1f); /* gzip magic */
    assert_int_equal((unsigned char)z.data[1], 0x8b);

    z_stream s;
    memset(&s, 0, sizeof(s));
    assert_int_equal(inflateInit2(&s, 15 + 16), Z_OK);
    char *out = malloc(n + 1);
    assert_non_null(out);
    s.next_in = (Bytef *)z.data;
    s.avail_in = (uInt)z.len;
    s.next_out = (Bytef *)out;
    s.avail_out = (uInt)(n + 1);
    assert_int_equal(inflate(&s, Z_FINISH), Z_STREAM_END);
    assert_int_equal(s.total_out, n);
    assert_memory_equal(in, out, n);
    inflateEnd(&s);
    free(out);
    free(in);
    sl_buf_free(&z);

    sl_buf_init(&z); /* an empty body is a valid (empty) gzip stream */
    assert_int_equal(sl_http_gzip("", 0, &z), SL_OK);
    assert_true(z.len >= 18);
    sl_buf_free(&z);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts_gzip),
        cmocka_unit_test(test_etag_match),
        cmocka_unit_test(test_etag_form),
        cmocka_unit_test(test_cors_parse),
        cmocka_unit_test(test_gzip_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
