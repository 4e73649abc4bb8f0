/* test_http_route.c -- the shim's router, table-driven
 *
 * sl_http_route() is pure, so each case is one row: method and request
 * target in, the error row (or the ids and update_time) out. The HTTP
 * status and ModelArts code of each outcome come from the error table and
 * are checked once at the end. Every row also names the route the path
 * matched (on errors too: the metrics label of the request). The
 * query rule alone (sl_http_route_query) must agree with the router, and
 * the framing rules (sl_http_framing_*) have a table of their own.
 */
#include "sl_test.h"

#include <stdio.h>
#include <string.h>

#include "http_route.h"

#define ID64 "0123456789012345678901234567890123456789012345678901234567890123"
#define ID65 ID64 "4"
#define LOGS(p, s) "/v1/" p "/services/" s "/logs"

struct route_case {
    const char *method;
    const char *url;
    int want;                 /* SL_OK or the error code */
    const char *project;      /* expected on SL_OK (NULL: none) */
    const char *service;      /* expected on SL_OK */
    int64_t update_time;      /* expected on SL_OK */
    enum sl_http_route route; /* expected always */
};

#define OK(m, u, p, s, t)                                                      \
    {                                                                          \
        m, u, SL_OK, p, s, t, SL_HTTP_ROUTE_LOGS                               \
    }
/* An error on the logs path (400, 405). */
#define ERR(m, u, code)                                                        \
    {                                                                          \
        m, u, code, NULL, NULL, 0, SL_HTTP_ROUTE_LOGS                          \
    }
/* No route: 404. */
#define NOROUTE(m, u)                                                          \
    {                                                                          \
        m, u, SL_ENOROUTE, NULL, NULL, 0, SL_HTTP_ROUTE_OTHER                  \
    }
/* The watch path: the logs path's rules, route SL_HTTP_ROUTE_WATCH. */
#define WATCH(p, s) LOGS(p, s) ":watch"
#define WOK(m, u, p, s, t)                                                     \
    {                                                                          \
        m, u, SL_OK, p, s, t, SL_HTTP_ROUTE_WATCH                              \
    }
#define WERR(m, u, code)                                                       \
    {                                                                          \
        m, u, code, NULL, NULL, 0, SL_HTTP_ROUTE_WATCH                         \
    }
/* /healthz and /metrics: no ids, no update_time. */
#define FIXED(m, u, code, r)                                                   \
    {                                                                          \
        m, u, code, NULL, NULL, 0, r                                           \
    }

static const struct route_case cases[] = {
    /* The one route. */
    OK("GET", LOGS("p1", "s1"), "p1", "s1", 0),
    OK("HEAD", LOGS("p1", "s1"), "p1", "s1", 0),
    OK("GET", LOGS("Proj_-9", "svc-A_0"), "Proj_-9", "svc-A_0", 0),
    OK("GET", LOGS(ID64, ID64), ID64, ID64, 0),

    /* update_time. */
    OK("GET", LOGS("p", "s") "?update_time=123", "p", "s", 123),
    OK("GET", LOGS("p", "s") "?update_time=0", "p", "s", 0),
    OK("GET", LOGS("p", "s") "?update_time=9223372036854775807", "p", "s",
       INT64_MAX),
    OK("GET", LOGS("p", "s") "?update_time=00042", "p", "s", 42),
    OK("HEAD", LOGS("p", "s") "?update_time=7", "p", "s", 7),
    ERR("GET", LOGS("p", "s") "?update_time=9223372036854775808", SL_EINVAL),
    ERR("GET", LOGS("p", "s") "?update_time=99999999999999999999999",
        SL_EINVAL),
    ERR("GET", LOGS("p", "s") "?update_time=-1", SL_EINVAL),
    ERR("GET", LOGS("p", "s") "?update_time=+1", SL_EINVAL),
    ERR("GET", LOGS("p", "s") "?update_time=1.5", SL_EINVAL),
    ERR("GET", LOGS("p", "s") "?update_time=abc", SL_EINVAL),
    ERR("GET", LOGS("p", "s") "?update_time=12a", SL_EINVAL),
    ERR("GET", LOGS("p", "s") "?update_time=%31", SL_EINVAL),
    ERR("GET", LOGS("p", "s") "?update_time=", SL_EINVAL),
    ERR("GET", LOGS("p", "s") "?update_time", SL_EINVAL),
    ERR("GET", LOGS("p", "s") "?update_time= 1", SL_EINVAL),
    OK("GET", LOGS("p", "s") "?update_time=1&update_time=x", "p", "s", 1),

    /* Unknown query parameters are ignored. */
    OK("GET", LOGS("p", "s") "?", "p", "s", 0),
    OK("GET", LOGS("p", "s") "?&&", "p", "s", 0),
    OK("GET", LOGS("p", "s") "?foo=bar", "p", "s", 0),
    OK("GET", LOGS("p", "s") "?limit=10&offset", "p", "s", 0),
    OK("GET", LOGS("p", "s") "?foo=bar&update_time=5&x", "p", "s", 5),
    OK("GET", LOGS("p", "s") "?update_timex=5", "p", "s", 0),
    OK("GET", LOGS("p", "s") "?xupdate_time=5", "p", "s", 0),
    OK("GET", LOGS("p", "s") "?UPDATE_TIME=x", "p", "s", 0),
    OK("GET", LOGS("p", "s") "?a=update_time=x", "p", "s", 0),

    /* Ids: 1-64 of [A-Za-z0-9_-], as sent (no percent-decoding). */
    ERR("GET", LOGS("", "s"), SL_EINVAL),
    ERR("GET", LOGS("p", ""), SL_EINVAL),
    ERR("GET", LOGS("", ""), SL_EINVAL),
    ERR("GET", LOGS(ID65, "s"), SL_EINVAL),
    ERR("GET", LOGS("p", ID65), SL_EINVAL),
    ERR("GET", LOGS("p.1", "s"), SL_EINVAL),
    ERR("GET", LOGS("p", "s 1"), SL_EINVAL),
    ERR("GET", LOGS("p+1", "s"), SL_EINVAL),
    ERR("GET", LOGS("p", "s:1"), SL_EINVAL),
    ERR("GET", LOGS("p", "s\xc3\xa9"), SL_EINVAL),
    ERR("GET", LOGS("p%2F1", "s"), SL_EINVAL),
    ERR("GET", LOGS("p", "%73"), SL_EINVAL),
    ERR("GET", LOGS("..", "s"), SL_EINVAL),
    OK("GET", LOGS("p", "s") "?update_time=1", "p", "s", 1),
    ERR("GET", LOGS("bad!", "s") "?update_time=x", SL_EINVAL),

    /* The watch: the same ids, update_time, methods; other params ignored. */
    WOK("GET", WATCH("p1", "s1"), "p1", "s1", 0),
    WOK("HEAD", WATCH("p1", "s1"), "p1", "s1", 0),
    WOK("GET", WATCH(ID64, ID64), ID64, ID64, 0),
    WOK("GET", WATCH("p", "s") "?update_time=42", "p", "s", 42),
    WOK("GET", WATCH("p", "s") "?foo=1&update_time=7&x", "p", "s", 7),
    WOK("GET", WATCH("p", "s") "?lastEventId=3", "p", "s", 0),
    WERR("GET", WATCH("p", "s") "?update_time=x", SL_EINVAL),
    WERR("GET", WATCH("p", "s") "?update_time=", SL_EINVAL),
    WERR("GET", WATCH("", "s"), SL_EINVAL),
    WERR("GET", WATCH("p", ID65), SL_EINVAL),
    WERR("GET", WATCH("p%2F1", "s"), SL_EINVAL),
    WERR("POST", WATCH("p", "s"), SL_EMETHOD),
    WERR("DELETE", WATCH("bad!", "s"), SL_EMETHOD),
    WERR("get", WATCH("p", "s"), SL_EMETHOD),
    NOROUTE("GET", LOGS("p", "s") ":Watch"),
    NOROUTE("GET", LOGS("p", "s") "%3Awatch"),
    NOROUTE("GET", LOGS("p", "s") ":watch/"),
    NOROUTE("GET", LOGS("p", "s") ":watchx"),
    NOROUTE("GET", LOGS("p", "s") ":"),
    NOROUTE("GET", LOGS("p", "s") "/watch"),
    NOROUTE("GET", "/v1/p/services/s:watch"),
    NOROUTE("POST", LOGS("p", "s") ":stream"),

    /* /healthz and /metrics: GET and HEAD; the query is ignored. */
    FIXED("GET", "/healthz", SL_OK, SL_HTTP_ROUTE_HEALTHZ),
    FIXED("HEAD", "/healthz", SL_OK, SL_HTTP_ROUTE_HEALTHZ),
    FIXED("GET", "/healthz?verbose=1", SL_OK, SL_HTTP_ROUTE_HEALTHZ),
    FIXED("GET", "/healthz?update_time=x", SL_OK, SL_HTTP_ROUTE_HEALTHZ),
    FIXED("GET", "/metrics", SL_OK, SL_HTTP_ROUTE_METRICS),
    FIXED("HEAD", "/metrics", SL_OK, SL_HTTP_ROUTE_METRICS),
    FIXED("GET", "/metrics?name[]=x", SL_OK, SL_HTTP_ROUTE_METRICS),
    FIXED("GET", "/metrics?", SL_OK, SL_HTTP_ROUTE_METRICS),
    FIXED("POST", "/healthz", SL_EMETHOD, SL_HTTP_ROUTE_HEALTHZ),
    FIXED("DELETE", "/metrics", SL_EMETHOD, SL_HTTP_ROUTE_METRICS),
    FIXED("get", "/metrics", SL_EMETHOD, SL_HTTP_ROUTE_METRICS),
    FIXED(NULL, "/healthz", SL_EMETHOD, SL_HTTP_ROUTE_HEALTHZ),

    /* Static files (http_assets.h): /openapi.json, /ui and under /ui/;
     * GET and HEAD. Whether the file exists is the answer's business. */
    FIXED("GET", "/ui", SL_OK, SL_HTTP_ROUTE_ASSET),
    FIXED("GET", "/ui/", SL_OK, SL_HTTP_ROUTE_ASSET),
    FIXED("HEAD", "/ui/app.js?x=1", SL_OK, SL_HTTP_ROUTE_ASSET),
    FIXED("GET", "/ui/no/such", SL_OK, SL_HTTP_ROUTE_ASSET),
    FIXED("GET", "/openapi.json", SL_OK, SL_HTTP_ROUTE_ASSET),
    FIXED("POST", "/ui/", SL_EMETHOD, SL_HTTP_ROUTE_ASSET),
    FIXED("OPTIONS", "/openapi.json", SL_EMETHOD, SL_HTTP_ROUTE_ASSET),
    NOROUTE("GET", "/uix"),
    NOROUTE("GET", "/openapi.json/"),
    NOROUTE("GET", "/openapi.yaml"),

    /* Wrong methods on the route: 405, even with a bad id. */
    ERR("POST", LOGS("p", "s"), SL_EMETHOD),
    ERR("PUT", LOGS("p", "s"), SL_EMETHOD),
    ERR("DELETE", LOGS("p", "s"), SL_EMETHOD),
    ERR("PATCH", LOGS("p", "s"), SL_EMETHOD),
    ERR("OPTIONS", LOGS("p", "s"), SL_EMETHOD),
    ERR("TRACE", LOGS("p", "s"), SL_EMETHOD),
    ERR("get", LOGS("p", "s"), SL_EMETHOD),
    ERR("", LOGS("p", "s"), SL_EMETHOD),
    ERR(NULL, LOGS("p", "s"), SL_EMETHOD),
    ERR("POST", LOGS("bad!", "s"), SL_EMETHOD),
    ERR("DELETE", LOGS("p", "s") "?update_time=x", SL_EMETHOD),

    /* Everything else: 404, whatever the method. */
    NOROUTE("GET", LOGS("p", "s") "/"), /* trailing slash */
    NOROUTE("GET", LOGS("p", "s") "/extra"),
    NOROUTE("GET", LOGS("p", "s") "//"),
    NOROUTE("GET", "/v1/p/services/s"),
    NOROUTE("GET", "/v1/p/services/s/"),
    NOROUTE("GET", "/v1/p/services"),
    NOROUTE("GET", "/v1/services/s/logs"),
    NOROUTE("GET", "/v1/p/x/services/s/logs"),
    NOROUTE("GET", "/v1//p/services/s/logs"),
    NOROUTE("GET", "/v1/p/services//s/logs"),
    NOROUTE("GET", "//v1/p/services/s/logs"),
    NOROUTE("GET", "v1/p/services/s/logs"),
    NOROUTE("GET", "/v2/p/services/s/logs"),
    NOROUTE("GET", "/V1/p/services/s/logs"),
    NOROUTE("GET", "/v1/p/Services/s/logs"),
    NOROUTE("GET", "/v1/p/services/s/LOGS"),
    NOROUTE("GET", "/v1/p/services/s/log"),
    NOROUTE("GET", "/v1/p/service/s/logs"),
    NOROUTE("GET", "/v1/p/services/s/logs%2F"),
    NOROUTE("GET", "/v1/p%2Fservices%2Fs/logs"),
    NOROUTE("GET", "http://host/v1/p/services/s/logs"),
    NOROUTE("GET", "/"),
    NOROUTE("GET", ""),
    NOROUTE("GET", NULL),
    NOROUTE("GET", "*"),
    NOROUTE("GET", "/v1"),
    NOROUTE("GET", "/v1/"),
    NOROUTE("GET", "/healthz/"), /* trailing slash */
    NOROUTE("GET", "/metrics/"),
    NOROUTE("GET", "/healthz/x"),
    NOROUTE("GET", "/Healthz"),
    NOROUTE("GET", "/metric"),
    NOROUTE("GET", "/metricsx"),
    NOROUTE("GET", "/v1/metrics"),
    NOROUTE("GET", "//metrics"),
    NOROUTE("GET", "/metrics%2F"),
    NOROUTE("GET", "/?/v1/p/services/s/logs"),
    NOROUTE("HEAD", "/nothing"),
    NOROUTE("POST", "/nothing"),
    NOROUTE("OPTIONS", "*"),
    NOROUTE("DELETE", LOGS("p", "s") "/"),
};

static void test_route_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct route_case *c = &cases[i];
        struct sl_route rt;
        struct sl_err err;
        sl_err_clear(&err);
        memset(&rt, 0x5a, sizeof(rt)); /* must be overwritten */
        int rc = sl_http_route(c->method, c->url, &rt, &err);
        if (rc != c->want)
            fail_msg("case %zu: %s %s: want %s, got %s (%s)", i,
                     c->method ? c->method : "(null)",
                     c->url ? c->url : "(null)", sl_err_name(c->want),
                     sl_err_name(rc), err.msg);
        if (rt.route != c->route)
            fail_msg("case %zu: %s: want route %d, got %d", i, c->url,
                     (int)c->route, (int)rt.route);
        if (rc != SL_OK) {
            assert_int_equal(err.code, rc);
            assert_true(err.msg[0] != '\0');
            assert_null(rt.project_id);
            assert_null(rt.service_id);
            assert_int_equal(rt.update_time, 0);
            continue;
        }
        if (!c->project) {
            assert_null(rt.project_id);
            assert_null(rt.service_id);
        } else if (rt.project_len != strlen(c->project) ||
                   memcmp(rt.project_id, c->project, rt.project_len) != 0 ||
                   rt.service_len != strlen(c->service) ||
                   memcmp(rt.service_id, c->service, rt.service_len) != 0)
            fail_msg("case %zu: %s: got ids %.*s / %.*s", i, c->url,
                     (int)rt.project_len, rt.project_id, (int)rt.service_len,
                     rt.service_id);
        assert_int_equal(rt.update_time, c->update_time);
        assert_int_equal(rt.head, strcmp(c->method, "HEAD") == 0);
    }
}

/* Error messages name the rule, never echo the request. */
static void test_messages_do_not_echo(void **state)
{
    (void)state;
    struct sl_route rt;
    struct sl_err err;
    const char *urls[] = {"/secret-path-xyz", LOGS("secret!xyz", "s"),
                          LOGS("p", "s") "?update_time=secretxyz"};
    int want[] = {SL_ENOROUTE, SL_EINVAL, SL_EINVAL};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(sl_http_route("GET", urls[i], &rt, &err), want[i]);
        assert_null(strstr(err.msg, "xyz"));
    }
    assert_int_equal(sl_http_route("GET", LOGS("p", "bad id"), &rt, &err),
                     SL_EINVAL);
    assert_non_null(strstr(err.msg, "service_id"));
    assert_int_equal(sl_http_route("GET", LOGS("", "s"), &rt, &err), SL_EINVAL);
    assert_non_null(strstr(err.msg, "project_id"));
    assert_int_equal(
        sl_http_route("GET", LOGS("p", "s") "?update_time=x", &rt, &err),
        SL_EINVAL);
    assert_non_null(strstr(err.msg, "update_time"));
}

/* The helper for an update_time the HTTP library split out. */
static void test_update_time_value(void **state)
{
    (void)state;
    int64_t t = 99;
    struct sl_err err;
    assert_sl_ok(sl_http_route_update_time(false, NULL, 0, &t, &err), &err);
    assert_int_equal(t, 0);
    assert_sl_ok(sl_http_route_update_time(true, "1700000000000", 13, &t, &err),
                 &err);
    assert_int_equal(t, 1700000000000);
    assert_sl_err(sl_http_route_update_time(true, NULL, 0, &t, &err), SL_EINVAL,
                  &err);
    assert_int_equal(t, 0);
    assert_sl_err(sl_http_route_update_time(true, "", 0, &t, &err), SL_EINVAL,
                  &err);
    assert_sl_err(sl_http_route_update_time(true, "1x", 2, &t, &err), SL_EINVAL,
                  &err);
    assert_sl_err(sl_http_route_update_time(true, "123456789012345678901234567",
                                            27, &t, &err),
                  SL_EINVAL, &err);
}

/* The query rule alone, on a whole target (what the shim reads before
 * libmicrohttpd would split the query): the same answers as the router. */
static void test_route_query(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct route_case *c = &cases[i];
        if ((c->route != SL_HTTP_ROUTE_LOGS &&
             c->route != SL_HTTP_ROUTE_WATCH) ||
            c->want == SL_EMETHOD || !c->url || strchr(c->url, '?') == NULL)
            continue;
        int64_t t = 99;
        struct sl_err err;
        sl_err_clear(&err);
        int rc = sl_http_route_query(c->url, &t, &err);
        struct sl_route rt;
        int want = sl_http_route("GET", c->url, &rt, &err);
        if (want == SL_OK || strstr(err.msg, "update_time")) {
            assert_int_equal(rc, want);
            assert_int_equal(t, want == SL_OK ? rt.update_time : 0);
        }
    }
    int64_t t = 99;
    struct sl_err err;
    assert_sl_ok(sl_http_route_query(NULL, &t, &err), &err);
    assert_int_equal(t, 0);
    assert_sl_ok(sl_http_route_query("/x", &t, &err), &err);
    assert_sl_ok(sl_http_route_query("/x?update_time=5", &t, &err), &err);
    assert_int_equal(t, 5);
    /* The path is not looked at: a '?' in it starts the query. */
    assert_sl_ok(sl_http_route_query("bad path?a&update_time=7&x", &t, &err),
                 &err);
    assert_int_equal(t, 7);
    /* Thousands of parameters: the first update_time wins wherever. */
    static char big[4 * 4096 + 64];
    size_t n = 0;
    n += (size_t)snprintf(big, sizeof(big), "/p?");
    for (int i = 0; i < 4000; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "p%d&", i % 10);
    snprintf(big + n, sizeof(big) - n, "update_time=42&update_time=x");
    assert_sl_ok(sl_http_route_query(big, &t, &err), &err);
    assert_int_equal(t, 42);
    assert_sl_err(sl_http_route_query("/p?&&update_time=&", &t, &err),
                  SL_EINVAL, &err);
    assert_int_equal(t, 0);
}

/* One request's header fields, for the framing rules. */
struct framing_case {
    const char *fields[4][2]; /* name, value; {NULL}: end */
    int want;                 /* SL_OK or SL_EINVAL */
};

#define F1(n, v)                                                               \
    {                                                                          \
        {n, v},                                                                \
        {                                                                      \
            NULL                                                               \
        }                                                                      \
    }
#define F2(n1, v1, n2, v2)                                                     \
    {                                                                          \
        {n1, v1}, {n2, v2},                                                    \
        {                                                                      \
            NULL                                                               \
        }                                                                      \
    }

static const struct framing_case framing_cases[] = {
    /* Unambiguous: one length, or chunked alone. */
    {{{NULL}}, SL_OK},
    {F1("Host", "x"), SL_OK},
    {F1("Content-Length", "0"), SL_OK},
    {F1("content-length", "34"), SL_OK},
    {F1("Transfer-Encoding", "chunked"), SL_OK},
    {F1("TRANSFER-ENCODING", "Chunked"), SL_OK},
    {F2("X-Auth-Token", "t", "Content-Length", "5"), SL_OK},
    {F1("X!#$%&'*+-.^_`|~09az", "v"), SL_OK},
    /* Two lengths, whatever the values. */
    {F2("Content-Length", "0", "Content-Length", "34"), SL_EINVAL},
    {F2("Content-Length", "5", "content-length", "5"), SL_EINVAL},
    {F2("Transfer-Encoding", "chunked", "Transfer-Encoding", "chunked"),
     SL_EINVAL},
    {F2("Transfer-Encoding", "chunked", "Transfer-Encoding", "identity"),
     SL_EINVAL},
    {F2("Content-Length", "5", "Transfer-Encoding", "chunked"), SL_EINVAL},
    {F2("Transfer-Encoding", "chunked", "Content-Length", "0"), SL_EINVAL},
    /* Codings other than a lone chunked. */
    {F1("Transfer-Encoding", "identity"), SL_EINVAL},
    {F1("Transfer-Encoding", "xchunked"), SL_EINVAL},
    {F1("Transfer-Encoding", "chunkedx"), SL_EINVAL},
    {F1("Transfer-Encoding", "chunked, identity"), SL_EINVAL},
    {F1("Transfer-Encoding", "gzip, chunked"), SL_EINVAL},
    {F1("Transfer-Encoding", "chunked "), SL_EINVAL},
    {F1("Transfer-Encoding", ""), SL_EINVAL},
    /* Names that are not tokens: whitespace before the colon, and more. */
    {F1("Content-Length ", "34"), SL_EINVAL},
    {F1("Content-Length	", "34"), SL_EINVAL},
    {F1(" Content-Length", "34"), SL_EINVAL},
    {F1("Transfer-Encoding ", "chunked"), SL_EINVAL},
    {F1("X Y", "v"), SL_EINVAL},
    {F1("X(", "v"), SL_EINVAL},
    {F1("X\x01", "v"), SL_EINVAL},
    {F1("X\xc3\xa9", "v"), SL_EINVAL},
    {F1("", "v"), SL_EINVAL},
};

static void test_framing_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(framing_cases) / sizeof(framing_cases[0]);
         i++) {
        const struct framing_case *c = &framing_cases[i];
        struct sl_http_framing f = {0};
        struct sl_err err;
        sl_err_clear(&err);
        for (size_t k = 0; k < 4 && c->fields[k][0]; k++)
            sl_http_framing_add(&f, c->fields[k][0], strlen(c->fields[k][0]),
                                c->fields[k][1], strlen(c->fields[k][1]));
        int rc = sl_http_framing_check(&f, &err);
        if (rc != c->want)
            fail_msg("framing case %zu (%s): want %s, got %s (%s)", i,
                     c->fields[0][0] ? c->fields[0][0] : "none",
                     sl_err_name(c->want), sl_err_name(rc), err.msg);
        if (rc != SL_OK) {
            assert_int_equal(err.code, rc);
            assert_true(err.msg[0] != '\0');
        }
    }
    /* A NUL inside a name (the library passes its length) is no token;
     * a missing value is no coding. */
    struct sl_http_framing f = {0};
    struct sl_err err;
    sl_http_framing_add(&f, "Host\0x", 6, "v", 1);
    assert_sl_err(sl_http_framing_check(&f, &err), SL_EINVAL, &err);
    memset(&f, 0, sizeof(f));
    sl_http_framing_add(&f, "Transfer-Encoding", 17, NULL, 0);
    assert_sl_err(sl_http_framing_check(&f, &err), SL_EINVAL, &err);
    /* The messages name the rule and never echo a value. */
    memset(&f, 0, sizeof(f));
    sl_http_framing_add(&f, "Transfer-Encoding", 17, "secretxyz", 9);
    assert_sl_err(sl_http_framing_check(&f, &err), SL_EINVAL, &err);
    assert_null(strstr(err.msg, "xyz"));
    assert_non_null(strstr(err.msg, "Transfer-Encoding"));
}

/* What the router's outcomes become on the wire (DESIGN section 4). */
static void test_outcomes_map_to_http(void **state)
{
    (void)state;
    assert_int_equal(sl_err_to_http(SL_ENOROUTE), 404);
    assert_string_equal(sl_err_mcode(SL_ENOROUTE), "ModelArts.0104");
    assert_int_equal(sl_err_to_http(SL_EMETHOD), 405);
    assert_string_equal(sl_err_mcode(SL_EMETHOD), "ModelArts.2803");
    assert_int_equal(sl_err_to_http(SL_EINVAL), 400);
    assert_string_equal(sl_err_mcode(SL_EINVAL), "ModelArts.0101");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_table),
        cmocka_unit_test(test_messages_do_not_echo),
        cmocka_unit_test(test_update_time_value),
        cmocka_unit_test(test_route_query),
        cmocka_unit_test(test_framing_table),
        cmocka_unit_test(test_outcomes_map_to_http),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
