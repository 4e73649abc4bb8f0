/* fuzz_route.c -- the REST router (sl_http_route) and the validators
 *
 * Input: byte 0 picks the method (below 0xC0: one of eight from a table;
 * else the method is the bytes up to the first NUL), the rest is the URL
 * (up to a NUL). Beyond "no crash":
 * - sl_http_route agrees with a second, independent implementation of the
 *   rules in http_route.h (written here from the header, not the code) on
 *   the code, the route, the ids (same pointers into the URL, same
 *   lengths), update_time and head; on an error everything but route is
 *   zero;
 * - on SL_OK for the logs route the ids pass sl_id_valid and lie inside
 *   the URL's path;
 * - sl_id_valid on the raw bytes (NULs included), sl_parse_update_time and
 *   sl_http_route_update_time on the NUL-terminated URL agree with their
 *   own reference rules.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http_route.h"
#include "validate.h"

static const char *const methods[] = {"GET", "HEAD", "POST",   "get",
                                      "PUT", "",     "DELETE", "GETS"};

/* The id rule: 1-64 bytes of [A-Za-z0-9_-]. */
static bool ref_id(const char *s, size_t n)
{
    static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";
    if (n < 1 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\0' || !strchr(ok, s[i]))
            return false;
    return true;
}

/* The update_time rule on s[0..n): 1-19 decimal digits, at most
 * INT64_MAX. */
static bool ref_time(const char *s, size_t n, int64_t *out)
{
    uint64_t v = 0; /* 19 digits fit in 64 unsigned bits */
    *out = 0;
    if (n < 1 || n > 19)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX)
        return false;
    *out = (int64_t)v;
    return true;
}

static bool is(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

/* http_route.h's routing decisions, restated. */
static int ref_route(const char *method, const char *url, struct sl_route *r)
{
    bool get = strcmp(method, "GET") == 0, head = strcmp(method, "HEAD") == 0;
    size_t n = strcspn(url, "?");
    const char *end = url + n;

    memset(r, 0, sizeof(*r));
    if (is(url, n, "/healthz") || is(url, n, "/metrics")) {
        r->route =
            url[1] == 'h' ? SL_HTTP_ROUTE_HEALTHZ : SL_HTTP_ROUTE_METRICS;
        if (!get && !head)
            return SL_EMETHOD;
        r->head = head;
        return SL_OK;
    }
    /* Static files (http_assets.h): /openapi.json, /ui and under /ui/. */
    if (is(url, n, "/openapi.json") || is(url, n, "/ui") ||
        (n >= 4 && memcmp(url, "/ui/", 4) == 0)) {
        r->route = SL_HTTP_ROUTE_ASSET;
        if (!get && !head)
            return SL_EMETHOD;
        r->head = head;
        return SL_OK;
    }
    /* "/v1/" P "/services/" S "/logs" or "/logs:watch", P and S without
     * '/'. */
    r->route = SL_HTTP_ROUTE_OTHER;
    if (n < 4 || memcmp(url, "/v1/", 4) != 0)
        return SL_ENOROUTE;
    const char *p = url + 4;
    const char *p_end = memchr(p, '/', (size_t)(end - p));
    if (!p_end || (size_t)(end - p_end) < 10 ||
        memcmp(p_end, "/services/", 10) != 0)
        return SL_ENOROUTE;
    const char *s = p_end + 10;
    const char *s_end = memchr(s, '/', (size_t)(end - s));
    if (!s_end)
        return SL_ENOROUTE;
    if (is(s_end, (size_t)(end - s_end), "/logs"))
        r->route = SL_HTTP_ROUTE_LOGS;
    else if (is(s_end, (size_t)(end - s_end), "/logs:watch"))
        r->route = SL_HTTP_ROUTE_WATCH;
    else
        return SL_ENOROUTE;
    if (!get && !head)
        return SL_EMETHOD;
    if (!ref_id(p, (size_t)(p_end - p)) || !ref_id(s, (size_t)(s_end - s)))
        return SL_EINVAL;

    /* The first parameter named update_time. */
    if (*end == '?') {
        for (const char *q = end + 1;;) {
            size_t len = strcspn(q, "&");
            const char *eq = memchr(q, '=', len);
            if (is(q, eq ? (size_t)(eq - q) : len, "update_time")) {
                size_t vlen = eq ? len - (size_t)(eq - q) - 1 : 0;
                if (!eq || !ref_time(eq + 1, vlen, &r->update_time)) {
                    r->update_time = 0;
                    return SL_EINVAL;
                }
                break;
            }
            if (q[len] == '\0')
                break;
            q += len + 1;
        }
    }
    r->project_id = p;
    r->project_len = (size_t)(p_end - p);
    r->service_id = s;
    r->service_len = (size_t)(s_end - s);
    r->head = head;
    return SL_OK;
}

static void check_route(const char *method, const char *url)
{
    struct sl_route got, want;
    struct sl_err err;
    sl_err_clear(&err);
    int rc = sl_http_route(method, url, &got, &err);
    int want_rc = ref_route(method, url, &want);

    FUZZ_CHECK(rc == want_rc);
    FUZZ_CHECK(got.route == want.route);
    FUZZ_CHECK(got.project_id == want.project_id);
    FUZZ_CHECK(got.project_len == want.project_len);
    FUZZ_CHECK(got.service_id == want.service_id);
    FUZZ_CHECK(got.service_len == want.service_len);
    FUZZ_CHECK(got.update_time == want.update_time);
    FUZZ_CHECK(got.head == want.head);
    if (rc != SL_OK) {
        FUZZ_CHECK(err.code == rc && err.msg[0] != '\0');
        return;
    }
    if (got.route == SL_HTTP_ROUTE_LOGS || got.route == SL_HTTP_ROUTE_WATCH) {
        size_t path_len = strcspn(url, "?");
        FUZZ_CHECK(sl_id_valid(got.project_id, got.project_len));
        FUZZ_CHECK(sl_id_valid(got.service_id, got.service_len));
        FUZZ_CHECK(got.project_id > url &&
                   got.project_id + got.project_len <= url + path_len);
        FUZZ_CHECK(got.service_id > url &&
                   got.service_id + got.service_len <= url + path_len);
        FUZZ_CHECK(got.update_time >= 0);
    }
}

static void check_validators(const uint8_t *raw, size_t n, const char *str)
{
    struct sl_err err;
    int64_t t = -1, want_t;

    /* sl_id_valid takes a length: NULs inside count as bad bytes. */
    FUZZ_CHECK(sl_id_valid((const char *)raw, n) ==
               ref_id((const char *)raw, n));

    bool ok = ref_time(str, strlen(str), &want_t);
    int rc = sl_parse_update_time(str, &t, &err);
    FUZZ_CHECK(rc == (ok ? SL_OK : SL_EINVAL));
    FUZZ_CHECK(t == want_t);

    t = -1;
    rc = sl_http_route_update_time(true, str, strlen(str), &t, &err);
    FUZZ_CHECK(rc == (ok ? SL_OK : SL_EINVAL));
    FUZZ_CHECK(t == want_t);
    t = -1;
    FUZZ_CHECK(sl_http_route_update_time(false, str, strlen(str), &t, &err) ==
               SL_OK);
    FUZZ_CHECK(t == 0);
    t = -1;
    FUZZ_CHECK(sl_http_route_update_time(true, NULL, 0, &t, &err) == SL_EINVAL);
    FUZZ_CHECK(t == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const uint8_t *rest = data + 1;
    size_t n = size - 1;
    char *method_buf = NULL;
    const char *method;
    if (data[0] < 0xC0) {
        method = methods[data[0] % (sizeof(methods) / sizeof(methods[0]))];
    } else {
        const uint8_t *nul = memchr(rest, '\0', n);
        size_t m = nul ? (size_t)(nul - rest) : n;
        method = method_buf = fuzz_strndup(rest, m);
        rest += nul ? m + 1 : m;
        n -= nul ? m + 1 : m;
    }
    char *url = fuzz_strndup(rest, n); /* ends at the first NUL in rest */
    FUZZ_CHECK(method && url);

    check_route(method, url);
    check_validators(rest, n, url);

    free(url);
    free(method_buf);
    return 0;
}
