/* wire.h -- the protobuf wire format, for the few messages coded by hand
 *
 * The server decodes its small requests (QueryServiceLogsRequest,
 * HealthCheckRequest) and encodes its hot responses by hand: no malloc,
 * true string lengths (an embedded NUL stays visible), and exactly the
 * bytes protobuf-c would produce. These are the shared primitives.
 */
#ifndef SL_WIRE_H
#define SL_WIRE_H

#include <stddef.h>
#include <stdint.h>

/* One field read from a message. */
struct sl_wire_field {
    uint32_t number; /* field number, >= 1 */
    unsigned type;   /* wire type: 0 varint, 1 fixed64, 2 bytes, 5 fixed32 */
    uint64_t value;  /* types 0, 1, 5 */
    const uint8_t *data; /* type 2: the bytes (inside the message) */
    size_t len;          /* type 2: their length */
};

/* Reads the field at *p (p < end) and advances *p past it. 0, or -1 when
 * the bytes are not a valid field (truncated, bad wire type, group, field
 * number 0 or over 2^29-1). */
int sl_wire_next(const uint8_t **p, const uint8_t *end,
                 struct sl_wire_field *f);

/* Bytes a varint of v takes. */
size_t sl_wire_varint_len(uint64_t v);
/* Writes v as a varint at p; returns the byte after it. */
uint8_t *sl_wire_put_varint(uint8_t *p, uint64_t v);

#endif
