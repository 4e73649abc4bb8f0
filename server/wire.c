/* wire.c -- the protobuf wire format, for the few messages coded by hand
 *
 * sl_wire_check() walks a message once, field by field, led by the
 * protobuf-c descriptors (so it follows the .proto without a table of its
 * own). It runs on every stored log of every answer, so the common cases
 * are short paths: one-byte keys and lengths, a descriptor row found by
 * index when field numbers are dense, ASCII text eight bytes at a time.
 */
#include "wire.h"

#include <string.h>

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

/* ---- checking a message: the general walk ----------------------------- */

/* One check: the start of the outermost message (offsets count from it)
 * and where to say what failed. */
struct walk {
    const uint8_t *base;
    struct sl_wire_fault *fault;
};

static int fault(struct walk *w, const uint8_t *at, const char *what,
                 const ProtobufCMessageDescriptor *d,
                 const ProtobufCFieldDescriptor *fd)
{
    if (w->fault) {
        w->fault->offset = (size_t)(at - w->base);
        w->fault->what = what;
        w->fault->message = d->short_name;
        w->fault->field = fd ? fd->name : NULL;
    }
    return -1;
}

/* A minimal varint (no redundant high zero byte, at most 10 bytes, no
 * bit beyond 64): the form every protobuf encoder writes. NULL when it is
 * not one, or runs past end. */
static inline const uint8_t *varint(const uint8_t *p, const uint8_t *end,
                                    uint64_t *v)
{
    if (p < end && *p < 0x80) {
        *v = *p;
        return p + 1;
    }
    uint64_t r = 0;
    for (unsigned shift = 0; p < end && shift <= 63; shift += 7) {
        uint8_t b = *p++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            /* b == 0 here is a redundant byte: the first byte had the
             * continuation bit, so this is not the only one. */
            if (b == 0 || (shift == 63 && b > 1))
                return NULL;
            *v = r;
            return p;
        }
    }
    return NULL;
}

/* The row of field number n in d: by index when d numbers its fields
 * 1..n_fields densely (the common case), else protobuf-c's search. */
static const ProtobufCFieldDescriptor *
field_of(const ProtobufCMessageDescriptor *d, uint64_t n)
{
    if (n - 1 < d->n_fields && d->fields[n - 1].id == n)
        return &d->fields[n - 1];
    if (n == 0 || n > 536870911)
        return NULL;
    return protobuf_c_message_descriptor_get_field(d, (unsigned)n);
}

/* The wire type protobuf-c writes one value of type t with. */
static unsigned wire_type_of(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        return 5;
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 1;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES:
    case PROTOBUF_C_TYPE_MESSAGE:
        return 2;
    default: /* the varint types */
        return 0;
    }
}

/* A proto3 singular field without presence: protobuf-c leaves it out
 * when it holds its default, so a default on the wire was not written by
 * it. */
static bool omits_default(const ProtobufCFieldDescriptor *fd)
{
    return fd->label == PROTOBUF_C_LABEL_NONE &&
           !(fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF);
}

/* The rule a varint value v breaks as a value of fd, or NULL. */
static const char *varint_fault(const ProtobufCFieldDescriptor *fd, uint64_t v)
{
    switch (fd->type) {
    case PROTOBUF_C_TYPE_INT32:
        if ((int64_t)v < INT32_MIN || (int64_t)v > INT32_MAX)
            return "int32 out of range";
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_SINT32:
        if (v > UINT32_MAX)
            return "32-bit value out of range";
        break;
    case PROTOBUF_C_TYPE_BOOL:
        if (v > 1)
            return "bool other than 0 or 1";
        break;
    case PROTOBUF_C_TYPE_ENUM:
        if ((int64_t)v < INT32_MIN || (int64_t)v > INT32_MAX ||
            !protobuf_c_enum_descriptor_get_value(fd->descriptor, (int)v))
            return "value not in the enum";
        break;
    default:
        break;
    }
    return NULL;
}

static int check_fields(struct walk *w, const ProtobufCMessageDescriptor *d,
                        const uint8_t *p, const uint8_t *end, int depth,
                        uint64_t last);

/* A packed repeated scalar's payload p[0..end): values back to back. */
static int check_packed(struct walk *w, const ProtobufCMessageDescriptor *d,
                        const ProtobufCFieldDescriptor *fd, const uint8_t *at,
                        const uint8_t *p, const uint8_t *end)
{
    unsigned wt = wire_type_of(fd->type);
    if (wt != 0) {
        if ((size_t)(end - p) % (wt == 5 ? 4 : 8))
            return fault(w, at, "packed length not a multiple of the value", d,
                         fd);
        return 0;
    }
    while (p < end) {
        uint64_t v;
        const char *bad;
        if (!(p = varint(p, end, &v)))
            return fault(w, at, "malformed packed varint", d, fd);
        if ((bad = varint_fault(fd, v)))
            return fault(w, at, bad, d, fd);
    }
    return 0;
}

/* A length-delimited value p[0..end) of fd. */
static int check_bytes(struct walk *w, const ProtobufCMessageDescriptor *d,
                       const ProtobufCFieldDescriptor *fd, const uint8_t *at,
                       const uint8_t *p, const uint8_t *end, int depth)
{
    switch (fd->type) {
    case PROTOBUF_C_TYPE_STRING:
        if (!sl_wire_utf8(p, (size_t)(end - p)))
            return fault(w, at, "invalid UTF-8", d, fd);
        /* fall through */
    case PROTOBUF_C_TYPE_BYTES:
        if (p == end && omits_default(fd))
            return fault(w, at, "default value written", d, fd);
        return 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        if (depth >= SL_WIRE_DEPTH)
            return fault(w, at, "messages nested too deep", d, fd);
        return check_fields(w, fd->descriptor, p, end, depth + 1, 0);
    default: /* a scalar: only a packed repeated field comes this way */
        if (!(fd->flags & PROTOBUF_C_FIELD_FLAG_PACKED))
            return fault(w, at, "wrong wire type", d, fd);
        return check_packed(w, d, fd, at, p, end);
    }
}

/* The fields p[0..end) of a message of type d, led by the descriptor
 * alone; last is the number of the field before p (0 at the start). */
static int check_fields(struct walk *w, const ProtobufCMessageDescriptor *d,
                        const uint8_t *p, const uint8_t *end, int depth,
                        uint64_t last)
{
    while (p < end) {
        const uint8_t *at = p;
        uint64_t key, v;
        if (!(p = varint(p, end, &key)))
            return fault(w, at, "malformed field key", d, NULL);
        const ProtobufCFieldDescriptor *fd = field_of(d, key >> 3);
        if (!fd)
            return fault(w, at, "unknown field number", d, NULL);
        if (key >> 3 < last ||
            (key >> 3 == last && fd->label != PROTOBUF_C_LABEL_REPEATED))
            return fault(w, at, "field out of order or repeated", d, fd);
        last = key >> 3;
        unsigned wt = (unsigned)(key & 7);
        if (wt == 2) {
            if (!(p = varint(p, end, &v)))
                return fault(w, at, "malformed length", d, fd);
            if (v > (uint64_t)(end - p))
                return fault(w, at, "length past the end of the message", d,
                             fd);
            if (check_bytes(w, d, fd, at, p, p + v, depth) < 0)
                return -1;
            p += v;
            continue;
        }
        if (wt != wire_type_of(fd->type) ||
            (fd->flags & PROTOBUF_C_FIELD_FLAG_PACKED))
            return fault(w, at, "wrong wire type", d, fd);
        if (wt == 0) {
            const char *bad;
            if (!(p = varint(p, end, &v)))
                return fault(w, at, "malformed varint", d, fd);
            if ((bad = varint_fault(fd, v)))
                return fault(w, at, bad, d, fd);
            if (v == 0 && omits_default(fd))
                return fault(w, at, "default value written", d, fd);
        } else {
            size_t size = wt == 5 ? 4 : 8;
            if ((size_t)(end - p) < size)
                return fault(w, at, "truncated fixed-width value", d, fd);
            p += size;
        }
    }
    return 0;
}

/* ---- checking a message: the compiled walk ----------------------------- */

/* Rule ops: how the value after a one-byte key is checked; the ones
 * before OP_FIXED32 read a varint. */
enum {
    OP_NONE,    /* no field has this key: unknown, or a wrong wire type */
    OP_VARINT,  /* int64, uint64, sint64: any minimal varint */
    OP_INT32,   /* sign-extended to 64 bits when negative */
    OP_UINT32,  /* uint32, sint32 */
    OP_BOOL,    /* 0 or 1 */
    OP_ENUM,    /* a value whose bit is set in rule.enums */
    OP_FIXED32, /* fixed32, sfixed32, float */
    OP_FIXED64, /* fixed64, sfixed64, double */
    OP_STRING,  /* UTF-8 */
    OP_BYTES,   /* anything */
    OP_MESSAGE, /* the compiled type rule.type */
    OP_GENERAL, /* anything else: the general walk takes over */
};

/* rule.flags */
#define RULE_REPEATED 1  /* may come more than once */
#define RULE_NODEFAULT 2 /* protobuf-c omits its default (omits_default) */

/* The op of a field that has a one-byte key. */
static uint8_t op_of(const ProtobufCFieldDescriptor *fd, uint32_t *enums)
{
    switch (fd->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_SINT64:
        return OP_VARINT;
    case PROTOBUF_C_TYPE_INT32:
        return OP_INT32;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_SINT32:
        return OP_UINT32;
    case PROTOBUF_C_TYPE_BOOL:
        return OP_BOOL;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *ed = fd->descriptor;
        *enums = 0;
        for (unsigned j = 0; j < ed->n_values; j++) {
            if (ed->values[j].value < 0 || ed->values[j].value > 31)
                return OP_GENERAL; /* more than the mask holds */
            *enums |= UINT32_C(1) << ed->values[j].value;
        }
        return OP_ENUM;
    }
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        return OP_FIXED32;
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return OP_FIXED64;
    case PROTOBUF_C_TYPE_STRING:
        return OP_STRING;
    case PROTOBUF_C_TYPE_BYTES:
        return OP_BYTES;
    default: /* messages: the caller */
        return OP_GENERAL;
    }
}

/* The type d's index in s, compiled if new; SL_WIRE_TYPES when s is
 * full (fields of that type then go the general way). */
static unsigned compile(struct sl_wire_schema *s,
                        const ProtobufCMessageDescriptor *d)
{
    for (unsigned i = 0; i < s->n; i++)
        if (s->type[i].d == d)
            return i;
    if (s->n == SL_WIRE_TYPES)
        return SL_WIRE_TYPES;
    unsigned t = (unsigned)s->n++;
    struct sl_wire_type *ty = &s->type[t];
    memset(ty, 0, sizeof(*ty));
    ty->d = d;
    for (unsigned k = 0x80; k < 256; k++) /* keys of two bytes or more */
        ty->rule[k].op = OP_GENERAL;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        if (fd->id > 15)
            continue; /* a longer key: 0x80 and up, above */
        bool packed = fd->flags & PROTOBUF_C_FIELD_FLAG_PACKED;
        bool repeated = fd->label == PROTOBUF_C_LABEL_REPEATED;
        struct sl_wire_rule *r =
            &ty->rule[fd->id << 3 | (packed ? 2 : wire_type_of(fd->type))];
        r->number = (uint8_t)fd->id;
        r->next = (uint8_t)(fd->id + !repeated);
        r->flags = (repeated ? RULE_REPEATED : 0) |
                   (omits_default(fd) ? RULE_NODEFAULT : 0);
        r->op = packed ? OP_GENERAL : op_of(fd, &r->enums);
        if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
            unsigned sub = compile(s, fd->descriptor);
            if (sub < SL_WIRE_TYPES) {
                r->op = OP_MESSAGE;
                r->type = (uint8_t)sub;
            }
        }
    }
    return t;
}

void sl_wire_schema_init(struct sl_wire_schema *s,
                         const ProtobufCMessageDescriptor *d)
{
    s->n = 0;
    compile(s, d);
}

static inline uint16_t load16(const uint8_t *p)
{
    uint16_t x;
    memcpy(&x, p, 2);
    return x;
}

/* ASCII, which is valid UTF-8: the common case, a word at a time (the
 * last word may overlap the one before it). */
static inline bool ascii(const uint8_t *p, size_t n)
{
    if (n >= 8) {
        uint64_t acc = sl__wire_load64(p + n - 8);
        for (size_t i = 0; i + 8 < n; i += 8)
            acc |= sl__wire_load64(p + i);
        return !(acc & 0x8080808080808080u);
    }
    if (n >= 4)
        return !((sl__wire_load32(p) | sl__wire_load32(p + n - 4)) &
                 0x80808080u);
    return !n || !((p[0] | p[n / 2] | p[n - 1]) & 0x80);
}

/* The slow side of one key of compiled type ty at p: the general walk
 * takes the rest of the message, or the key is wrong. */
static int key_slow(struct walk *w, const struct sl_wire_type *ty,
                    const uint8_t *p, const uint8_t *end, int depth,
                    unsigned next)
{
    const struct sl_wire_rule *r = &ty->rule[*p];
    if (r->op == OP_GENERAL)
        return check_fields(w, ty->d, p, end, depth, next - 1u);
    const ProtobufCFieldDescriptor *fd = field_of(ty->d, *p >> 3);
    if (r->op == OP_NONE)
        return fault(w, p, fd ? "wrong wire type" : "unknown field number",
                     ty->d, fd);
    return fault(w, p, "field out of order or repeated", ty->d, fd);
}

/* The fields p[0..end) of a message of compiled type t: check_fields'
 * rules, from the table, in one pass with few branches. */
static int check_compiled(struct walk *w, const struct sl_wire_schema *s,
                          unsigned t, const uint8_t *p, const uint8_t *end,
                          int depth)
{
    const struct sl_wire_type *ty = &s->type[t];
    unsigned next = 1; /* the lowest field number allowed next */
    while (p < end) {
        const uint8_t *at = p;
        const struct sl_wire_rule *r = &ty->rule[*p];
        /* One test for the rare cases: no such key (number 0), a general
         * field (op GENERAL), a field out of order. */
        if (r->number < next || r->op == OP_GENERAL)
            return key_slow(w, ty, p, end, depth, next);
        next = r->next;
        if (end - p < 2)
            return fault(w, at, "truncated field", ty->d,
                         field_of(ty->d, r->number));
        uint64_t v = p[1];
        p += 2;
        if (v >= 0x80 && r->op < OP_FIXED32 + 0u) {
            if (!(p = varint(at + 1, end, &v)))
                return fault(w, at, "malformed varint", ty->d,
                             field_of(ty->d, r->number));
        } else if (v >= 0x80 && r->op >= OP_STRING) {
            if (!(p = varint(at + 1, end, &v)))
                return fault(w, at, "malformed length", ty->d,
                             field_of(ty->d, r->number));
        }
        const char *bad = NULL;
        switch (r->op) {
        case OP_INT32: /* sign-extended: -2^31 .. 2^31-1 as 64 bits */
            if (v + UINT64_C(0x80000000) > UINT32_MAX)
                bad = "int32 out of range";
            break;
        case OP_UINT32:
            if (v >> 32)
                bad = "32-bit value out of range";
            break;
        case OP_BOOL:
            if (v > 1)
                bad = "bool other than 0 or 1";
            break;
        case OP_ENUM:
            if (v > 31 || !(r->enums >> v & 1))
                bad = "value not in the enum";
            break;
        case OP_FIXED32:
        case OP_FIXED64:
            p = at + 1 + (r->op == OP_FIXED32 ? 4 : 8);
            if (p > end)
                bad = "truncated fixed-width value";
            v = 1; /* defaults: not checked (-0.0 is not 0 in bits) */
            break;
        case OP_STRING:
        case OP_BYTES:
            if (v > (uint64_t)(end - p))
                bad = "length past the end of the message";
            else if (r->op == OP_STRING && !ascii(p, v) && !sl_wire_utf8(p, v))
                bad = "invalid UTF-8";
            p += v;
            break;
        case OP_MESSAGE:
            if (v > (uint64_t)(end - p))
                bad = "length past the end of the message";
            else if (depth >= SL_WIRE_DEPTH)
                bad = "messages nested too deep";
            else if (check_compiled(w, s, r->type, p, p + v, depth + 1))
                return -1;
            p += v;
            v = 1; /* an empty message is a value */
            break;
        default: /* OP_VARINT */
            break;
        }
        if (!bad && !v && (r->flags & RULE_NODEFAULT))
            bad = "default value written";
        if (bad)
            return fault(w, at, bad, ty->d, field_of(ty->d, r->number));
    }
    return 0;
}

int sl_wire_check(const struct sl_wire_schema *s, const uint8_t *p, size_t len,
                  struct sl_wire_fault *fault)
{
    struct walk w = {.base = p, .fault = fault};
    return check_compiled(&w, s, 0, p, p + len, 1);
}

/* ---- UTF-8 ------------------------------------------------------------- */

bool sl_wire_utf8(const uint8_t *p, size_t n)
{
    if (ascii(p, n)) /* the common case */
        return true;
    const uint8_t *end = p + n;
    while (p < end) {
        if (end - p >= 8) { /* ASCII, a word at a time */
            uint64_t w;
            memcpy(&w, p, 8);
            if (!(w & 0x8080808080808080u)) {
                p += 8;
                continue;
            }
        }
        uint8_t c = *p;
        if (c < 0x80) {
            p++;
            continue;
        }
        /* The lead byte gives the length and the range of the second
         * byte, which rules out overlong forms, surrogates and code
         * points above U+10FFFF (RFC 3629, section 4). */
        size_t len;
        uint8_t lo = 0x80, hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            if (c == 0xe0)
                lo = 0xa0;
            else if (c == 0xed)
                hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            if (c == 0xf0)
                lo = 0x90;
            else if (c == 0xf4)
                hi = 0x8f;
        } else {
            return false;
        }
        if ((size_t)(end - p) < len || p[1] < lo || p[1] > hi)
            return false;
        for (size_t i = 2; i < len; i++)
            if ((p[i] & 0xc0) != 0x80)
                return false;
        p += len;
    }
    return true;
}

/* ---- CRC-32C and the seal ---------------------------------------------- */

/* Two implementations, one chosen before main (crc_init): the crc32
 * instruction where the CPU has it (SSE4.2, x86-64), a table anywhere
 * else. The query path's check, sl_wire_unseal_inline(), is in wire.h:
 * compiled into its caller, it tests sl__wire_crc32 and runs the crc32
 * code there; the calls here go through crc_cpu. */
static uint32_t crc_table[256]; /* reflected 0x82F63B78, one byte a step */

static uint32_t table_step(uint32_t reg, const uint8_t *p, size_t n)
{
    for (; n; p++, n--)
        reg = (reg >> 8) ^ crc_table[(reg ^ *p) & 0xff];
    return reg;
}

static const uint8_t seal_key[5] = {0xfd, 0xff, 0xff, 0xff, 0x0f};

static enum sl_wire_sealed table_unseal(const uint8_t *p, size_t len)
{
    if (len < SL_WIRE_SEAL_LEN)
        return SL_WIRE_UNSEALED;
    size_t n = len - SL_WIRE_SEAL_LEN;
    if (memcmp(p + n, seal_key, sizeof(seal_key)) != 0)
        return SL_WIRE_UNSEALED;
    const uint8_t *s = p + n + sizeof(seal_key); /* fixed32: little-endian */
    uint32_t want = (uint32_t)s[0] | (uint32_t)s[1] << 8 |
                    (uint32_t)s[2] << 16 | (uint32_t)s[3] << 24;
    return ~table_step(~UINT32_C(0), p, n) == want ? SL_WIRE_SEALED
                                                   : SL_WIRE_BAD_SEAL;
}

const struct sl__wire_crc sl__wire_crc_table = {"table", table_step,
                                                table_unseal};

#if defined(__x86_64__)
bool sl__wire_crc32;
struct sl__wire_crc_head sl__wire_crc_head;

/* Any register, any length: the words (wire.h), then the last n % 8
 * bytes. */
SL_WIRE_CRC32 static uint32_t sse42_step(uint32_t reg, const uint8_t *p,
                                         size_t n)
{
    const uint8_t *w = p + (n & ~(size_t)7); /* where the words end */
    uint32_t r = (uint32_t)sl__wire_crc_words(reg, n >> 3, p + (n & 120), w);
    switch (n & 7) {
    case 7:
        r = __builtin_ia32_crc32si(r, sl__wire_load32(w));
        r = __builtin_ia32_crc32hi(r, load16(w + 4));
        return __builtin_ia32_crc32qi(r, w[6]);
    case 6:
        r = __builtin_ia32_crc32si(r, sl__wire_load32(w));
        return __builtin_ia32_crc32hi(r, load16(w + 4));
    case 5:
        r = __builtin_ia32_crc32si(r, sl__wire_load32(w));
        return __builtin_ia32_crc32qi(r, w[4]);
    case 4:
        return __builtin_ia32_crc32si(r, sl__wire_load32(w));
    case 3:
        r = __builtin_ia32_crc32hi(r, load16(w));
        return __builtin_ia32_crc32qi(r, w[2]);
    case 2:
        return __builtin_ia32_crc32hi(r, load16(w));
    case 1:
        return __builtin_ia32_crc32qi(r, w[0]);
    default:
        return r;
    }
}

SL_WIRE_CRC32 static enum sl_wire_sealed sse42_unseal(const uint8_t *p,
                                                      size_t len)
{
    return sl__wire_unseal_crc32(p, len);
}

const struct sl__wire_crc sl__wire_crc_sse42 = {"sse4.2", sse42_step,
                                                sse42_unseal};
#endif

/* This CPU's (set before main). */
static const struct sl__wire_crc *crc_cpu = &sl__wire_crc_table;

__attribute__((constructor)) static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc_table[i] = c;
    }
#if defined(__x86_64__)
    /* sl__wire_crc_head.reg[k]: 0xffffffff taken back over 8 - k zero
     * bytes. One zero byte takes r to (r >> 8) ^ crc_table[r & 0xff], and
     * the top bytes of the table's entries are all different: they name
     * r's low byte. */
    uint8_t low[256];
    for (uint32_t i = 0; i < 256; i++)
        low[crc_table[i] >> 24] = (uint8_t)i;
    uint32_t r = 0xffffffffu;
    for (int k = 7; k >= 0; k--) {
        uint8_t b = low[r >> 24];
        r = (r ^ crc_table[b]) << 8 | b;
        sl__wire_crc_head.reg[k] = r;
        sl__wire_crc_head.mul[k] = k ? UINT64_C(1) << (64 - 8 * k) : 0;
    }
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2")) {
        sl__wire_crc32 = true;
        crc_cpu = &sl__wire_crc_sse42;
    }
#endif
}

uint32_t sl_wire_crc32c(uint32_t crc, const uint8_t *p, size_t n)
{
    return ~crc_cpu->step(~crc, p, n);
}

void sl_wire_seal(const uint8_t *msg, size_t len, uint8_t out[SL_WIRE_SEAL_LEN])
{
    uint32_t crc = sl_wire_crc32c(0, msg, len);
    memcpy(out, seal_key, sizeof(seal_key));
    for (int i = 0; i < 4; i++) /* fixed32: little-endian */
        out[5 + i] = (uint8_t)(crc >> (8 * i));
}

enum sl_wire_sealed sl_wire_unseal(const uint8_t *p, size_t len)
{
    return crc_cpu->unseal(p, len);
}
