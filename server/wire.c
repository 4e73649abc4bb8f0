/* wire.c -- the protobuf wire format, for the few messages coded by hand */
#include "wire.h"

static const uint8_t *get_varint(const uint8_t *p, const uint8_t *end,
                                 uint64_t *v)
{
    uint64_t r = 0;
    for (int shift = 0; shift < 64 && p < end; shift += 7) {
        uint8_t b = *p++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return p;
        }
    }
    return NULL;
}

int sl_wire_next(const uint8_t **pp, const uint8_t *end,
                 struct sl_wire_field *f)
{
    const uint8_t *p = *pp;
    uint64_t key, v;
    if (!(p = get_varint(p, end, &key)) || key >> 3 == 0 ||
        key >> 3 > 536870911)
        return -1;
    f->number = (uint32_t)(key >> 3);
    f->type = (unsigned)(key & 7);
    f->value = 0;
    f->data = NULL;
    f->len = 0;
    switch (f->type) {
    case 0:
        if (!(p = get_varint(p, end, &f->value)))
            return -1;
        break;
    case 1:
    case 5: {
        size_t n = f->type == 1 ? 8 : 4;
        if ((size_t)(end - p) < n)
            return -1;
        for (size_t i = 0; i < n; i++)
            f->value |= (uint64_t)p[i] << (8 * i);
        p += n;
        break;
    }
    case 2:
        if (!(p = get_varint(p, end, &v)) || v > (uint64_t)(end - p))
            return -1;
        f->data = p;
        f->len = (size_t)v;
        p += v;
        break;
    default: /* groups (3, 4) and the unused 6, 7 */
        return -1;
    }
    *pp = p;
    return 0;
}

size_t sl_wire_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

uint8_t *sl_wire_put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}
