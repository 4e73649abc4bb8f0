/* wire.h -- the protobuf wire format, for the few messages coded by hand
 *
 * The server decodes its small requests (QueryServiceLogsRequest,
 * HealthCheckRequest) and encodes its hot responses by hand: no malloc,
 * true string lengths (an embedded NUL stays visible), and exactly the
 * bytes protobuf-c would produce. These are the shared primitives, and
 * sl_wire_check(), which holds stored bytes to what protobuf-c packs
 * before the query path sends them on undecoded.
 *
 * THREAD SAFETY: every function is reentrant (no state).
 */
#ifndef SL_WIRE_H
#define SL_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

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

/* Where and why bytes failed sl_wire_check(): never the bytes themselves
 * (they may be anything). All strings are static (the descriptors'). */
struct sl_wire_fault {
    size_t offset;       /* of the faulty field's key in the checked bytes */
    const char *what;    /* the rule broken: "invalid UTF-8", ... */
    const char *message; /* short name of the message type holding it */
    const char *field;   /* the field's name; NULL when the key is unknown */
};

/* Checking stored messages: a schema is a message type and the types it
 * nests, compiled from their protobuf-c descriptors into one table per
 * type of what each one-byte key (field numbers 1..15) means. The fields
 * it does not cover (numbers above 15, packed ones, enums with values
 * outside 0..31, types beyond SL_WIRE_TYPES) are checked by walking the
 * descriptors, with the same rules, only slower. */
#define SL_WIRE_DEPTH 32 /* messages nested deeper are refused */
#define SL_WIRE_TYPES 8  /* types one schema compiles */

struct sl_wire_rule { /* one key of one type (wire.c) */
    uint8_t op;       /* how its value is checked; 0: no such key */
    uint8_t flags;    /* repeated; default omitted by protobuf-c */
    uint8_t type;     /* a message value's compiled type */
    uint8_t number;   /* the field number; 0: no such key */
    uint8_t next;     /* the lowest field number allowed after it */
    uint32_t enums;   /* an enum value's valid values, one bit each */
};

struct sl_wire_type {
    const ProtobufCMessageDescriptor *d; /* the type */
    struct sl_wire_rule rule[256];       /* by a key's first byte */
};

/* Owner: the caller (a static object will do); it holds pointers to the
 * descriptors (static) and nothing to free. */
struct sl_wire_schema {
    size_t n;                                /* types compiled */
    struct sl_wire_type type[SL_WIRE_TYPES]; /* [0]: the top type */
};

/* Compiles d and the message types it nests into *s. Cannot fail (what
 * does not fit is checked the slow way). Call once, before any check. */
void sl_wire_schema_init(struct sl_wire_schema *s,
                         const ProtobufCMessageDescriptor *d);

/* Checks that p[0..len) is a message of s's top type in exactly the form
 * protobuf-c 1.4 packs it, so that any protobuf parser accepts it: every
 * field key names a field of its type with that field's wire type;
 * varints (keys, values, lengths) are minimal and in range for their type
 * (int32, uint32, bool 0/1, an enum's declared values); lengths stay
 * inside their message; strings are valid UTF-8 (sl_wire_utf8); fields
 * come in number order, only repeated ones more than once; a proto3
 * singular scalar never holds its default (protobuf-c omits those);
 * nesting is at most SL_WIRE_DEPTH messages deep.
 *
 * What it cannot see: a change that leaves such a message -- a digit of a
 * number, a string's character swapped for another valid one. Unknown
 * fields and enum values are refused, so data written from a newer .proto
 * fails on an older server: upgrade the servers before the importers.
 *
 * 0, or -1 with *fault (when not NULL) saying where. One pass, no
 * allocation, no recursion beyond the nesting. */
int sl_wire_check(const struct sl_wire_schema *s, const uint8_t *p, size_t len,
                  struct sl_wire_fault *fault);

/* ---- the seal: a checksum that travels with a stored message ----------
 *
 * A backend that stores packed messages can append to each the 9 bytes of
 * sl_wire_seal(): a field no message of ours has (number 2^29-1, the
 * largest, wire type fixed32: key FD FF FF FF 0F) holding the CRC-32C
 * (Castagnoli, as iSCSI and ext4) of the bytes before it. CRC-32C catches
 * every change of up to 32 consecutive bits, so any one damaged byte; any
 * other damage with probability 1 - 2^-32 -- damage by accident: whoever
 * can write the file can write a matching seal. A sealed message is still a
 * valid protobuf message (the seal is an unknown field to parsers), so a
 * reader that does not know seals still sends a parseable answer. */
#define SL_WIRE_SEAL_LEN 9

/* CRC-32C of p[0..n), continuing from crc (0 to start). SSE4.2's crc32
 * instruction when the CPU has it, else a table. */
uint32_t sl_wire_crc32c(uint32_t crc, const uint8_t *p, size_t n);

/* Writes the seal of msg[0..len) to out. */
void sl_wire_seal(const uint8_t *msg, size_t len,
                  uint8_t out[SL_WIRE_SEAL_LEN]);

/* What the end of stored bytes p[0..len) says. */
enum sl_wire_sealed {
    SL_WIRE_UNSEALED, /* no seal key at the end: written without one */
    SL_WIRE_SEALED,   /* a seal, and the CRC matches the bytes before it:
                         the message is p[0..len - SL_WIRE_SEAL_LEN) */
    SL_WIRE_BAD_SEAL, /* a seal key, and a CRC that does not match */
};
enum sl_wire_sealed sl_wire_unseal(const uint8_t *p, size_t len);

/* The two implementations behind sl_wire_crc32c() and sl_wire_unseal(),
 * one chosen before main by the CPU; exposed for the tests, which hold
 * both to the same answers. Static objects (nothing to free). */
struct sl__wire_crc {
    const char *name; /* "table", "sse4.2" */
    /* The CRC register (the CRC inverted) carried over p[0..n). */
    uint32_t (*step)(uint32_t reg, const uint8_t *p, size_t n);
    /* sl_wire_unseal(). */
    enum sl_wire_sealed (*unseal)(const uint8_t *p, size_t len);
};
extern const struct sl__wire_crc sl__wire_crc_table; /* any CPU */
#if defined(__x86_64__)
/* Only where __builtin_cpu_supports("sse4.2"). */
extern const struct sl__wire_crc sl__wire_crc_sse42;
#endif

/* Unaligned native-order loads (wire.c's word-at-a-time code too). */
static inline uint64_t sl__wire_load64(const uint8_t *p)
{
    uint64_t x;
    memcpy(&x, p, 8);
    return x;
}

static inline uint32_t sl__wire_load32(const uint8_t *p)
{
    uint32_t x;
    memcpy(&x, p, 4);
    return x;
}

/* ---- the seal check compiled into its caller ---------------------------
 *
 * sl_wire_unseal_inline() is sl_wire_unseal() for the query path, which
 * checks every log of every answer (20 000 in a big one): no call, and on
 * x86-64 with SSE4.2 (sl__wire_crc32, set once before main) 43
 * instructions for a log of 78-82 bytes, the key compare and the crc32
 * instruction once per eight bytes (docs/security.md, "Corrupt stored
 * data": the cost of the check). Without SSE4.2, or off x86-64, it calls
 * sl_wire_unseal() (a table).
 *
 * Its callers must be marked SL_WIRE_CRC32 (the compiler refuses to inline
 * it into one that is not). That enables the crc32 builtins and no other
 * instruction: compilers emit crc32 only where a builtin asks, so a marked
 * function still runs on any x86-64 CPU. */
#if defined(__x86_64__)
#define SL_WIRE_CRC32 __attribute__((target("crc32")))
#define SL__WIRE_INLINE                                                        \
    SL_WIRE_CRC32 __attribute__((always_inline)) static inline

extern bool sl__wire_crc32; /* the CPU has crc32 (set before main) */
/* A message's first k = n % 8 bytes as one eight-byte step (set before
 * main): the eight bytes at it times mul[k] (shifted left 64 - 8k bits,
 * zero for k = 0: the other bytes drop out) are 8 - k zero bytes and
 * them, and reg[k] is the register those zero bytes take to 0xffffffff,
 * where a CRC starts. */
struct sl__wire_crc_head {
    uint64_t mul[8]; /* 2^(64 - 8k) mod 2^64 */
    uint32_t reg[8];
};
extern struct sl__wire_crc_head sl__wire_crc_head;

/* One step: the word i words before end (a pointer variable). */
#define SL__WIRE_CRC64(end, i)                                                 \
    c = __builtin_ia32_crc32di(c, sl__wire_load64(end - 8 * (i)))

/* The crc32 instruction from register c over the w words (eight bytes)
 * before q (w < 16), then over rounds of 16 words from q to e. A stored
 * log (~80-130 bytes) is one jump into a run of 15 unrolled steps, one
 * instruction for each eight bytes, and no round. */
SL__WIRE_INLINE uint64_t sl__wire_crc_words(uint64_t c, size_t w,
                                            const uint8_t *q, const uint8_t *e)
{
    switch (w & 15) { /* each case falls through */
    case 15:
        SL__WIRE_CRC64(q, 15); /* fall through */
    case 14:
        SL__WIRE_CRC64(q, 14); /* fall through */
    case 13:
        SL__WIRE_CRC64(q, 13); /* fall through */
    case 12:
        SL__WIRE_CRC64(q, 12); /* fall through */
    case 11:
        SL__WIRE_CRC64(q, 11); /* fall through */
    case 10:
        SL__WIRE_CRC64(q, 10); /* fall through */
    case 9:
        SL__WIRE_CRC64(q, 9); /* fall through */
    case 8:
        SL__WIRE_CRC64(q, 8); /* fall through */
    case 7:
        SL__WIRE_CRC64(q, 7); /* fall through */
    case 6:
        SL__WIRE_CRC64(q, 6); /* fall through */
    case 5:
        SL__WIRE_CRC64(q, 5); /* fall through */
    case 4:
        SL__WIRE_CRC64(q, 4); /* fall through */
    case 3:
        SL__WIRE_CRC64(q, 3); /* fall through */
    case 2:
        SL__WIRE_CRC64(q, 2); /* fall through */
    case 1:
        SL__WIRE_CRC64(q, 1); /* fall through */
    default:
        break;
    }
    for (; __builtin_expect(q != e, 0); q += 128) /* e - q: 128 * rounds */
        for (int i = 0; i < 16; i++)
            c = __builtin_ia32_crc32di(c, sl__wire_load64(q + 8 * i));
    return c;
}
#undef SL__WIRE_CRC64

/* sl_wire_unseal() with the crc32 instruction; branches only where the
 * length decides. The seal key is compared in two loads, the message's
 * first n % 8 bytes are one step (sl__wire_crc_head: eight bytes are
 * always there, since the seal follows the message), then its words: the
 * first n / 8 % 16 end at n % 128. */
SL__WIRE_INLINE enum sl_wire_sealed sl__wire_unseal_crc32(const uint8_t *p,
                                                          size_t len)
{
    if (__builtin_expect(len < SL_WIRE_SEAL_LEN, 0))
        return SL_WIRE_UNSEALED;
    size_t n = len - SL_WIRE_SEAL_LEN, k = n & 7;
    const uint8_t *s = p + n; /* the seal; x86 is little-endian */
    if (sl__wire_load32(s) != 0xfffffffdu || s[4] != 0x0f)
        return SL_WIRE_UNSEALED;
    uint64_t c =
        __builtin_ia32_crc32di(sl__wire_crc_head.reg[k],
                               sl__wire_load64(p) * sl__wire_crc_head.mul[k]);
    c = sl__wire_crc_words(c, n >> 3, p + (n & 127), s);
    return ~(uint32_t)c == sl__wire_load32(s + 5) ? SL_WIRE_SEALED
                                                  : SL_WIRE_BAD_SEAL;
}
#else
#define SL_WIRE_CRC32
#endif

/* sl_wire_unseal(), compiled into the caller (marked SL_WIRE_CRC32). */
SL_WIRE_CRC32 __attribute__((always_inline)) static inline enum sl_wire_sealed
sl_wire_unseal_inline(const uint8_t *p, size_t len)
{
#if defined(__x86_64__)
    if (__builtin_expect(sl__wire_crc32, 1))
        return sl__wire_unseal_crc32(p, len);
#endif
    return sl_wire_unseal(p, len);
}

/* True when p[0..n) is UTF-8 as protobuf requires of a string field: the
 * shortest form of each code point, no surrogates (U+D800..U+DFFF),
 * nothing above U+10FFFF. NUL bytes are valid. */
bool sl_wire_utf8(const uint8_t *p, size_t n);

/* Bytes a varint of v takes. */
size_t sl_wire_varint_len(uint64_t v);
/* Writes v as a varint at p; returns the byte after it. */
uint8_t *sl_wire_put_varint(uint8_t *p, uint64_t v);

#endif
