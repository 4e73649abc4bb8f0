/* json_path.c -- see json_path.h */
#include "json_path.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

size_t sl_jpath_push(struct sl_jpath *p, const char *fmt, ...)
{
    size_t old = p->len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(p->buf + old, sizeof(p->buf) - old, fmt, ap);
    va_end(ap);
    size_t len = old + (n > 0 ? (size_t)n : 0);
    p->len = len < sizeof(p->buf) ? len : sizeof(p->buf) - 1;
    return old;
}

void sl_jpath_pop(struct sl_jpath *p, size_t old)
{
    p->len = old;
    p->buf[old] = '\0';
}

size_t sl_jpath_field(struct sl_jpath *p, const char *name)
{
    return sl_jpath_push(p, "%s%s", p->len ? "." : "", name);
}

size_t sl_jpath_key(struct sl_jpath *p, const char *key)
{
    size_t n = strlen(key);
    bool plain = n > 0 && n <= 40;
    for (size_t i = 0; plain && i < n; i++) {
        unsigned char c = (unsigned char)key[i];
        plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                (c >= '0' && c <= '9') || c == '_' || c == '-';
    }
    if (plain)
        return sl_jpath_push(p, ".%s", key);
    char q[64];
    size_t o = 0;
    for (size_t i = 0; i < n && o < 40; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c == '"' || c == '\\') {
            q[o++] = '\\';
            q[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(q + o, sizeof(q) - o, "\\u%04x", c);
        } else {
            q[o++] = (char)c;
        }
    }
    q[o] = '\0';
    return sl_jpath_push(p, "[\"%s%s\"]", q, o < n ? "..." : "");
}

const char *sl_jpath_str(const struct sl_jpath *p)
{
    return p->len ? p->buf : "$";
}

int sl_jpath_vfail(const struct sl_jpath *p, struct sl_err *err, int code,
                   const char *fmt, va_list ap)
{
    char msg[SL_ERR_MSG_LEN];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    return sl_err_set(err, code, "%s: %s", sl_jpath_str(p), msg);
}
