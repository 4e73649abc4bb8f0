/* http_route.c -- the REST shim's router (http_route.h has the rules)
 *
 * Pure functions over the method and the request target as sent: the
 * path is split at '?' and matched segment by segment, the ids are
 * checked by validate.h (sl_validate_query), update_time by
 * sl_parse_update_time. The framing rules look at header field names and
 * Transfer-Encoding values byte by byte (ASCII case ignored). Nothing here
 * allocates or blocks; the routes' pointers point into the caller's url.
 */
#include "http_route.h"

#include <string.h>

#include "http_assets.h"
#include "limits.h"
#include "modelarts/v1/service_logs.pb-c.h"
#include "validate.h"

#define SL_HTTP_LOGS_PATH "/v1/{project_id}/services/{service_id}/logs"
#define SL_HTTP_WATCH_PATH SL_HTTP_LOGS_PATH ":watch"

static bool seg_is(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

static bool method_ok(const char *method)
{
    return method &&
           (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0);
}

/* Matches path[0..n) against /healthz, /metrics,
 * /v1/{p}/services/{s}/logs and /v1/{p}/services/{s}/logs:watch, then the
 * method, then the ids. */
static int route_path(const char *method, const char *path, size_t n,
                      struct sl_route *out, struct sl_err *err)
{
    const char *seg[5];
    size_t len[5];
    size_t k = 0;
    const char *end = path + n;

    if (seg_is(path, n, "/healthz") || seg_is(path, n, "/metrics")) {
        out->route =
            path[1] == 'h' ? SL_HTTP_ROUTE_HEALTHZ : SL_HTTP_ROUTE_METRICS;
        if (!method_ok(method))
            return sl_err_set(err, SL_EMETHOD,
                              "method not allowed: %s accepts GET and HEAD",
                              path[1] == 'h' ? "/healthz" : "/metrics");
        out->head = strcmp(method, "HEAD") == 0;
        return SL_OK;
    }
    if (sl_http_asset_path(path, n)) {
        out->route = SL_HTTP_ROUTE_ASSET;
        if (!method_ok(method))
            return sl_err_set(err, SL_EMETHOD,
                              "method not allowed: static files (/ui/, "
                              "/openapi.json) accept GET and HEAD");
        out->head = strcmp(method, "HEAD") == 0;
        return SL_OK;
    }
    if (n == 0 || path[0] != '/')
        goto no_route;
    for (const char *s = path + 1;;) {
        const char *slash = memchr(s, '/', (size_t)(end - s));
        const char *e = slash ? slash : end;
        if (k == 5)
            goto no_route; /* extra segments, trailing slash */
        seg[k] = s;
        len[k] = (size_t)(e - s);
        k++;
        if (!slash)
            break;
        s = slash + 1;
    }
    if (k != 5 || !seg_is(seg[0], len[0], "v1") ||
        !seg_is(seg[2], len[2], "services"))
        goto no_route;
    if (seg_is(seg[4], len[4], "logs"))
        out->route = SL_HTTP_ROUTE_LOGS;
    else if (seg_is(seg[4], len[4], "logs:watch"))
        out->route = SL_HTTP_ROUTE_WATCH;
    else
        goto no_route;
    if (!method_ok(method))
        return sl_err_set(
            err, SL_EMETHOD, "method not allowed: %s accepts GET and HEAD",
            out->route == SL_HTTP_ROUTE_LOGS ? SL_HTTP_LOGS_PATH
                                             : SL_HTTP_WATCH_PATH);
    int rc = sl_validate_query(seg[1], len[1], seg[3], len[3], 0, err);
    if (rc != SL_OK)
        return rc;
    out->project_id = seg[1];
    out->project_len = len[1];
    out->service_id = seg[3];
    out->service_len = len[3];
    out->head = strcmp(method, "HEAD") == 0;
    return SL_OK;

no_route:
    out->route = SL_HTTP_ROUTE_OTHER;
    return sl_err_set(err, SL_ENOROUTE,
                      "no such API: the REST API is GET " SL_HTTP_LOGS_PATH
                      " (and " SL_HTTP_WATCH_PATH ")");
}

int sl_http_route_update_time(bool present, const char *value, size_t len,
                              int64_t *out, struct sl_err *err)
{
    char tmp[24]; /* INT64_MAX has 19 digits; longer is invalid anyway */

    *out = 0;
    if (!present)
        return SL_OK;
    if (!value || len >= sizeof(tmp))
        return sl_parse_update_time("", out, err); /* the rule's message */
    memcpy(tmp, value, len);
    tmp[len] = '\0';
    return sl_parse_update_time(tmp, out, err);
}

int sl_http_route_query(const char *url, int64_t *out, struct sl_err *err)
{
    bool present = false;
    const char *value = NULL;
    size_t value_len = 0;
    const char *q = url ? strchr(url, '?') : NULL;

    /* The first update_time=... among the '&'-separated parameters. */
    for (q = q ? q + 1 : NULL; q;) {
        const char *amp = strchr(q, '&');
        size_t n = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', n);
        size_t key_len = eq ? (size_t)(eq - q) : n;
        if (seg_is(q, key_len, "update_time")) {
            present = true;
            if (eq) {
                value = eq + 1;
                value_len = n - key_len - 1;
            }
            break;
        }
        q = amp ? amp + 1 : NULL;
    }
    return sl_http_route_update_time(present, value, value_len, out, err);
}

int sl_http_route(const char *method, const char *url, struct sl_route *out,
                  struct sl_err *err)
{
    int rc;

    memset(out, 0, sizeof(*out));
    if (!url)
        url = "";
    size_t path_len = strcspn(url, "?");
    rc = route_path(method, url, path_len, out, err);
    if (rc != SL_OK)
        goto fail;
    if (out->route != SL_HTTP_ROUTE_LOGS && out->route != SL_HTTP_ROUTE_WATCH)
        return SL_OK; /* the query is ignored */
    rc = sl_http_route_query(url, &out->update_time, err);
    if (rc != SL_OK)
        goto fail;
    return SL_OK;

fail:;
    enum sl_http_route route = out->route;
    memset(out, 0, sizeof(*out));
    out->route = route;
    return rc;
}

/* ---- message framing --------------------------------------------------- */

/* RFC 9110 section 5.6.2: tchar. */
static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", (char)c) != NULL);
}

static bool name_is(const char *name, size_t n, const char *lit)
{
    if (strlen(lit) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != lit[i])
            return false;
    }
    return true;
}

void sl_http_framing_add(struct sl_http_framing *f, const char *name,
                         size_t name_len, const char *value, size_t value_len)
{
    if (name_len == 0)
        f->bad_name = true;
    for (size_t i = 0; i < name_len; i++)
        if (!is_tchar((unsigned char)name[i]))
            f->bad_name = true;
    if (name_is(name, name_len, "content-length")) {
        f->content_length++;
    } else if (name_is(name, name_len, "transfer-encoding")) {
        f->transfer_encoding++;
        if (!value || !name_is(value, value_len, "chunked"))
            f->te_not_chunked = true;
    }
}

int sl_http_framing_check(const struct sl_http_framing *f, struct sl_err *err)
{
    if (f->bad_name)
        return sl_err_set(err, SL_EINVAL,
                          "malformed header field name (whitespace before "
                          "the colon, or a character no name has)");
    if (f->content_length > 1)
        return sl_err_set(err, SL_EINVAL,
                          "more than one Content-Length header");
    if (f->transfer_encoding > 1)
        return sl_err_set(err, SL_EINVAL,
                          "more than one Transfer-Encoding header");
    if (f->content_length && f->transfer_encoding)
        return sl_err_set(err, SL_EINVAL,
                          "both Content-Length and Transfer-Encoding");
    if (f->te_not_chunked)
        return sl_err_set(err, SL_EINVAL,
                          "unsupported Transfer-Encoding (only chunked)");
    return SL_OK;
}

size_t sl_http_route_pack(const struct sl_route *rt, uint8_t *wire)
{
    char project[SL_MAX_ID + 1];
    char service[SL_MAX_ID + 1];
    Modelarts__V1__QueryServiceLogsRequest req =
        MODELARTS__V1__QUERY_SERVICE_LOGS_REQUEST__INIT;

    memcpy(project, rt->project_id, rt->project_len);
    project[rt->project_len] = '\0';
    memcpy(service, rt->service_id, rt->service_len);
    service[rt->service_len] = '\0';
    req.project_id = project;
    req.service_id = service;
    req.update_time = rt->update_time;
    return modelarts__v1__query_service_logs_request__pack(&req, wire);
}
