/* buf.h -- growable byte buffer for encoders (JSON, protobuf wire) */
#ifndef SL_BUF_H
#define SL_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Owner: whoever declared it; release with sl_buf_free(). After an
 * allocation failure `oom` is set, further appends do nothing, and the
 * encoder's caller checks oom once at the end. */
struct sl_buf {
    char *data; /* NULL until the first append */
    size_t len; /* bytes written */
    size_t cap; /* bytes allocated */
    bool oom;   /* an append failed for lack of memory */
};

void sl_buf_init(struct sl_buf *b);
void sl_buf_free(struct sl_buf *b);
/* Makes room for n more bytes; false (and oom set) on failure. */
bool sl_buf_reserve(struct sl_buf *b, size_t n);
void sl_buf_append(struct sl_buf *b, const void *p, size_t n);
void sl_buf_puts(struct sl_buf *b, const char *s);
void sl_buf_putc(struct sl_buf *b, char c);
/* Decimal text of v. */
void sl_buf_put_i64(struct sl_buf *b, int64_t v);
/* s (NULL: "") as a JSON string with its quotes, escaped by the one
 * escaper of the project (common/json.h: control characters, invalid
 * UTF-8 as U+FFFD). */
void sl_buf_put_json_string(struct sl_buf *b, const char *s);

#endif
