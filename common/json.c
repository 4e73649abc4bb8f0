/* json.c -- JSON string escaping (json.h) */
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t sl_utf8_seq(const unsigned char *p, size_t *bad)
{
    unsigned char b = p[0], lo = 0x80, hi = 0xbf; /* second byte's range */
    size_t need;                                  /* continuation bytes */

    if (b >= 0xc2 && b <= 0xdf) {
        need = 1;
    } else if (b >= 0xe0 && b <= 0xef) {
        need = 2;
        if (b == 0xe0)
            lo = 0xa0; /* no overlong 3-byte forms */
        else if (b == 0xed)
            hi = 0x9f; /* no surrogates U+D800..U+DFFF */
    } else if (b >= 0xf0 && b <= 0xf4) {
        need = 3;
        if (b == 0xf0)
            lo = 0x90; /* no overlong 4-byte forms */
        else if (b == 0xf4)
            hi = 0x8f; /* nothing above U+10FFFF */
    } else {
        *bad = 1; /* 0x80..0xc1, 0xf5..0xff: never a lead byte */
        return 0;
    }
    /* NUL is never a continuation byte, so this stops at the terminator. */
    for (size_t i = 1; i <= need; i++) {
        if (p[i] < lo || p[i] > hi) {
            *bad = i;
            return 0;
        }
        lo = 0x80;
        hi = 0xbf;
    }
    return need + 1;
}

/* Output is gathered here and handed to the sink when full or done. */
struct out {
    char buf[256];
    size_t n;
    sl_json_sink *put;
    void *ctx;
};

static void flush(struct out *o)
{
    if (o->n)
        o->put(o->ctx, o->buf, o->n);
    o->n = 0;
}

static void emit(struct out *o, const void *p, size_t n)
{
    if (n > sizeof(o->buf) - o->n) {
        flush(o);
        if (n > sizeof(o->buf)) { /* a long run goes straight through */
            o->put(o->ctx, p, n);
            return;
        }
    }
    memcpy(o->buf + o->n, p, n);
    o->n += n;
}

void sl_json_string(const char *s, sl_json_sink *put, void *ctx)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    struct out o = {.n = 0, .put = put, .ctx = ctx};

    emit(&o, "\"", 1);
    for (;;) {
        /* The common case: a run of printable ASCII copied at once. */
        const unsigned char *run = p;
        while (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
            p++;
        if (p > run)
            emit(&o, run, (size_t)(p - run));
        unsigned char c = *p;
        if (c == '\0')
            break;
        if (c >= 0x80) {
            size_t bad = 0, n = sl_utf8_seq(p, &bad);
            if (n) {
                emit(&o, p, n);
                p += n;
            } else {
                emit(&o, "\xef\xbf\xbd", 3); /* U+FFFD */
                p += bad;
            }
            continue;
        }
        p++;
        const char *esc = NULL;
        switch (c) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        }
        if (esc) {
            emit(&o, esc, 2);
        } else {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf]};
            emit(&o, u, sizeof(u));
        }
    }
    emit(&o, "\"", 1);
    flush(&o);
}

size_t sl_json_float(float v, char out[SL_JSON_FLOAT_MAX])
{
    if (!isfinite(v)) {
        memcpy(out, "null", 5);
        return 4;
    }
    int n = 0;
    /* 9 significant digits always round-trip a binary32 (FLT_DECIMAL_DIG) */
    for (int prec = 1; prec <= 9; prec++) {
        n = snprintf(out, SL_JSON_FLOAT_MAX, "%.*g", prec, (double)v);
        if (strtof(out, NULL) == v)
            break;
    }
    return (size_t)n;
}
