/* buf.c -- growable byte buffer */
#include "buf.h"

#include <stdlib.h>
#include <string.h>

#include "json.h"

void sl_buf_init(struct sl_buf *b)
{
    memset(b, 0, sizeof(*b));
}

void sl_buf_free(struct sl_buf *b)
{
    free(b->data);
    sl_buf_init(b);
}

bool sl_buf_reserve(struct sl_buf *b, size_t n)
{
    if (b->oom)
        return false;
    if (b->cap - b->len >= n)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < n) {
        if (cap > SIZE_MAX / 2) {
            b->oom = true;
            return false;
        }
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void sl_buf_append(struct sl_buf *b, const void *p, size_t n)
{
    if (n && sl_buf_reserve(b, n)) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
    }
}

void sl_buf_puts(struct sl_buf *b, const char *s)
{
    sl_buf_append(b, s, strlen(s));
}

void sl_buf_putc(struct sl_buf *b, char c)
{
    if (sl_buf_reserve(b, 1))
        b->data[b->len++] = c;
}

void sl_buf_put_i64(struct sl_buf *b, int64_t v)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[--i] = '-';
    sl_buf_append(b, tmp + i, sizeof(tmp) - i);
}

static void buf_sink(void *ctx, const char *p, size_t n)
{
    sl_buf_append(ctx, p, n);
}

void sl_buf_put_json_string(struct sl_buf *b, const char *s)
{
    sl_json_string(s, buf_sink, b);
}
