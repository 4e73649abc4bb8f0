/* http_web.c -- CORS, gzip and ETag for the REST shim (http_web.h)
 *
 * Ownership: struct sl_http_cors owns one copy of the origin list; a
 * gzip body is a new sl_buf whose memory moves to libmicrohttpd with the
 * response (http_answer.c), the plain one is freed once compressed.
 */
#include "http_web.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

#include "hash.h"

/* ---- CORS -------------------------------------------------------------- */

void sl_http_cors_free(struct sl_http_cors *c)
{
    if (!c)
        return;
    free(c->origins);
    free(c->mem);
    memset(c, 0, sizeof(*c));
}

bool sl_http_cors_on(const struct sl_http_cors *c)
{
    return c && (c->any || c->n > 0);
}

/* An origin as a browser sends it: printable, no space, no comma, no
 * "*". */
static bool origin_ok(const char *o)
{
    if (!*o)
        return false;
    for (; *o; o++)
        if ((unsigned char)*o <= 0x20 || (unsigned char)*o >= 0x7F ||
            *o == '*' || *o == ',')
            return false;
    return true;
}

/* s without its leading and trailing spaces (in place). */
static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

int sl_http_cors_parse(const char *list, struct sl_http_cors *out,
                       struct sl_err *err)
{
    memset(out, 0, sizeof(*out));
    if (!list || !*list)
        return SL_OK;
    out->mem = strdup(list);
    if (!out->mem)
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    char *all = trim(out->mem);
    if (strcmp(all, "*") == 0) {
        out->any = true;
        return SL_OK;
    }
    size_t cap = 1;
    for (const char *p = all; *p; p++)
        cap += *p == ',';
    out->origins = calloc(cap, sizeof(*out->origins));
    if (!out->origins) {
        sl_http_cors_free(out);
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    }
    char *save = NULL;
    for (char *p = all;; p = NULL) {
        char *tok = strtok_r(p, ",", &save);
        if (!tok)
            break;
        tok = trim(tok);
        if (!origin_ok(tok)) {
            sl_http_cors_free(out);
            return sl_err_set(err, SL_EINVAL,
                              "--cors-origins: each entry must be an origin "
                              "such as https://example.com, or the whole "
                              "value \"*\"");
        }
        out->origins[out->n++] = tok;
    }
    if (out->n != cap) { /* an empty entry (",,", a trailing ",") */
        sl_http_cors_free(out);
        return sl_err_set(err, SL_EINVAL, "--cors-origins: an empty entry");
    }
    return SL_OK;
}

const char *sl_http_cors_allow(const struct sl_http_cors *c, const char *origin)
{
    if (!sl_http_cors_on(c) || !origin || !*origin)
        return NULL;
    if (c->any)
        return "*";
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->origins[i], origin) == 0)
            return origin;
    return NULL;
}

/* ---- gzip -------------------------------------------------------------- */

/* The q-value of one Accept-Encoding entry's parameters p[0..n) (after
 * the coding): 1 without q; 0 for a malformed one. */
static double qvalue(const char *p, size_t n)
{
    while (n) {
        while (n && (*p == ';' || *p == ' ' || *p == '\t'))
            p++, n--;
        if (n >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            char tmp[16];
            size_t len = strcspn(p + 2, ";, \t");
            if (len > n - 2)
                len = n - 2;
            if (len == 0 || len >= sizeof(tmp))
                return 0;
            memcpy(tmp, p + 2, len);
            tmp[len] = '\0';
            char *end = NULL;
            double q = strtod(tmp, &end);
            return (*end || q < 0 || q > 1) ? 0 : q;
        }
        while (n && *p != ';')
            p++, n--;
    }
    return 1;
}

bool sl_http_accepts_gzip(const char *ae)
{
    double gzip_q = -1, star_q = -1; /* -1: not listed */

    if (!ae)
        return false;
    while (*ae) {
        size_t len = strcspn(ae, ",");
        const char *e = ae;
        while (len && (*e == ' ' || *e == '\t'))
            e++, len--;
        size_t name = strcspn(e, ";, \t");
        if (name > len)
            name = len;
        double q = qvalue(e + name, len - name);
        if ((name == 4 && strncasecmp(e, "gzip", 4) == 0) ||
            (name == 6 && strncasecmp(e, "x-gzip", 6) == 0))
            gzip_q = q > gzip_q ? q : gzip_q;
        else if (name == 1 && *e == '*')
            star_q = q;
        ae = e + len;
        if (*ae == ',')
            ae++;
    }
    return gzip_q >= 0 ? gzip_q > 0 : star_q > 0;
}

int sl_http_gzip_init(z_stream *z)
{
    memset(z, 0, sizeof(*z));
    /* 15 + 16: a gzip header and trailer around the deflate stream. */
    return deflateInit2(z, SL_HTTP_GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8,
                        Z_DEFAULT_STRATEGY) == Z_OK
               ? SL_OK
               : SL_ENOMEM;
}

int sl_http_gzip(const void *in, size_t n, struct sl_buf *out)
{
    z_stream z;
    if (sl_http_gzip_init(&z) != SL_OK)
        return SL_ENOMEM;
    int rc = SL_OK;
    size_t bound = deflateBound(&z, (uLong)n);
    if (n > UINT32_MAX || !sl_buf_reserve(out, bound)) {
        rc = SL_ENOMEM;
        goto out;
    }
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    z.next_out = (Bytef *)out->data + out->len;
    z.avail_out = (uInt)(out->cap - out->len);
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
        rc = SL_EINTERNAL;
        goto out;
    }
    out->len += z.total_out;
out:
    deflateEnd(&z);
    if (rc != SL_OK)
        sl_buf_free(out);
    return rc;
}

/* ---- ETag -------------------------------------------------------------- */

uint64_t sl_http_etag_hash(const void *p, size_t n)
{
    return sl_fnv1a64(SL_FNV1A64_INIT, p, n);
}

void sl_http_etag_of(uint64_t h, bool gz, char out[SL_HTTP_ETAG_MAX])
{
    snprintf(out, SL_HTTP_ETAG_MAX, "\"%016llx%s\"", (unsigned long long)h,
             gz ? "-gz" : "");
}

void sl_http_etag(const void *p, size_t n, bool gz, char out[SL_HTTP_ETAG_MAX])
{
    sl_http_etag_of(sl_http_etag_hash(p, n), gz, out);
}

void sl_http_etag_packed(const void *p, size_t n, bool gz,
                         char out[SL_HTTP_ETAG_MAX])
{
    uint64_t h = sl_fnv1a64_str(SL_FNV1A64_INIT, SL_VERSION);
    h = sl_fnv1a64(h, p, n);
    snprintf(out, SL_HTTP_ETAG_MAX, "\"p%016llx%s\"", (unsigned long long)h,
             gz ? "-gz" : "");
}

bool sl_http_etag_match(const char *inm, const char *etag)
{
    size_t elen = strlen(etag);

    if (!inm || !*etag)
        return false;
    while (*inm) {
        while (*inm == ' ' || *inm == '\t' || *inm == ',')
            inm++;
        if (*inm == '*')
            return true;
        if (strncmp(inm, "W/", 2) == 0)
            inm += 2;      /* weak comparison */
        if (*inm != '"') { /* not an entity-tag: skip it */
            inm += strcspn(inm, ",");
            continue;
        }
        const char *close = strchr(inm + 1, '"');
        if (!close)
            return false;
        size_t len = (size_t)(close - inm) + 1;
        if (len == elen && memcmp(inm, etag, len) == 0)
            return true;
        inm = close + 1;
    }
    return false;
}

/* ---- header block ------------------------------------------------------ */

static enum MHD_Result count_field(void *cls, enum MHD_ValueKind kind,
                                   const char *key, size_t key_size,
                                   const char *value, size_t value_size)
{
    (void)kind;
    (void)key;
    (void)value;
    *(size_t *)cls += key_size + value_size + 4; /* ": " CRLF */
    return MHD_YES;
}

size_t sl_http_header_bytes(struct MHD_Connection *conn)
{
    size_t n = 0;
    MHD_get_connection_values_n(conn, MHD_HEADER_KIND, count_field, &n);
    return n;
}
