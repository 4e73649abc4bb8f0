/* http_sse.c -- Server-Sent Events framing (http_sse.h has the format)
 *
 * Pure: appends to the caller's buffer, which records an allocation
 * failure in its oom flag.
 */
#include "http_sse.h"

#include <string.h>

#include "render_json.h"

#define PUT_LIT(b, lit) sl_buf_append((b), (lit), sizeof(lit) - 1)

void sl_sse_put_event(struct sl_buf *out, const char *event, const char *data,
                      size_t n)
{
    size_t i = 0;

    PUT_LIT(out, "event: ");
    sl_buf_puts(out, event);
    PUT_LIT(out, "\ndata: ");
    while (i < n) {
        size_t k = i;
        while (k < n && data[k] != '\n' && data[k] != '\r')
            k++;
        sl_buf_append(out, data + i, k - i);
        if (k == n)
            break;
        /* A line break: "\r\n" counts as one. */
        k += data[k] == '\r' && k + 1 < n && data[k + 1] == '\n' ? 2 : 1;
        PUT_LIT(out, "\ndata: ");
        i = k;
    }
    PUT_LIT(out, "\n\n");
}

void sl_sse_put_keepalive(struct sl_buf *out)
{
    PUT_LIT(out, SL_SSE_KEEPALIVE);
}

void sl_sse_put_error(struct sl_buf *out, int sl_code, const char *msg)
{
    struct sl_buf b;

    sl_buf_init(&b);
    sl_render_error_json(sl_code, msg, &b);
    if (b.oom || !b.data) {
        out->oom = true;
        sl_buf_free(&b);
        return;
    }
    size_t n = b.len;
    if (n && b.data[n - 1] == '\n')
        n--;
    sl_sse_put_event(out, "error", b.data, n);
    sl_buf_free(&b);
}
