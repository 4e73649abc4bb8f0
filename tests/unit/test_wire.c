/* test_wire.c -- wire.c: UTF-8, CRC-32C, the seal, and the stored-log check
 *
 * The check must accept exactly what protobuf-c packs (every log the
 * import writes: the demo, the fixtures, the import fuzz corpus, and
 * random messages of every shape) and refuse what a parser would refuse,
 * field by field (a table of cases). The seal must catch every one-byte
 * change; the check alone catches what it can, and the rate is printed.
 */
#include "sl_test.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "import.h"
#include "modelarts/v1/service_logs.pb-c.h"
#include "wire.h"

static struct sl_wire_schema log_schema;

static int setup(void **state)
{
    (void)state;
    sl_wire_schema_init(&log_schema, &modelarts__v1__service_log__descriptor);
    return 0;
}

/* ---- UTF-8 ------------------------------------------------------------- */

static void test_utf8(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t n; /* 0: strlen */
        bool ok;
    } cases[] = {
        {"", 0, true},
        {"plain ascii, longer than one word", 0, true},
        {"a\0b", 3, true},                 /* NUL is a code point */
        {"caf\xc3\xa9", 0, true},          /* U+00E9 */
        {"\xe2\x82\xac", 0, true},         /* U+20AC */
        {"\xf0\x9f\x98\x80", 0, true},     /* U+1F600 */
        {"\xf4\x8f\xbf\xbf", 0, true},     /* U+10FFFF, the last */
        {"\xed\x9f\xbf", 0, true},         /* U+D7FF, before surrogates */
        {"\xee\x80\x80", 0, true},         /* U+E000, after them */
        {"\x80", 0, false},                /* lone continuation */
        {"\xc3", 0, false},                /* truncated */
        {"abcdefg\xc3", 0, false},         /* truncated after a word */
        {"\xc0\xaf", 0, false},            /* overlong '/' */
        {"\xc1\xbf", 0, false},            /* overlong */
        {"\xe0\x9f\xbf", 0, false},        /* overlong 3-byte */
        {"\xf0\x8f\xbf\xbf", 0, false},    /* overlong 4-byte */
        {"\xed\xa0\x80", 0, false},        /* U+D800, a surrogate */
        {"\xed\xbf\xbf", 0, false},        /* U+DFFF */
        {"\xf4\x90\x80\x80", 0, false},    /* U+110000 */
        {"\xf5\x80\x80\x80", 0, false},    /* lead byte past F4 */
        {"\xff", 0, false},                /* never in UTF-8 */
        {"\xe2\x28\xa1", 0, false},        /* bad second byte */
        {"\xe2\x82\x28", 0, false},        /* bad third byte */
        {"12345678\xe2\x82\xac", 0, true}, /* non-ASCII after a word */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = cases[i].n ? cases[i].n : strlen(cases[i].s);
        if (sl_wire_utf8((const uint8_t *)cases[i].s, n) != cases[i].ok)
            fail_msg("case %zu: want %s", i, cases[i].ok ? "valid" : "invalid");
    }
}

/* ---- CRC-32C and the seal ---------------------------------------------- */

/* The definition, bit by bit (RFC 3720, appendix B.4). */
static uint32_t crc_ref(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
    }
    return ~c;
}

static void test_crc32c(void **state)
{
    (void)state;
    assert_int_equal(sl_wire_crc32c(0, (const uint8_t *)"123456789", 9),
                     0xe3069283u);
    assert_int_equal(sl_wire_crc32c(0, NULL, 0), 0);
    uint8_t buf[300];
    unsigned seed = 1;
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)rand_r(&seed);
    for (size_t n = 0; n <= sizeof(buf); n++) {
        assert_int_equal(sl_wire_crc32c(0, buf, n), crc_ref(buf, n));
        /* in two pieces, as the seal's callers may */
        uint32_t c = sl_wire_crc32c(0, buf, n / 3);
        assert_int_equal(sl_wire_crc32c(c, buf + n / 3, n - n / 3),
                         crc_ref(buf, n));
    }
}

/* The implementations this CPU can run: the table always, SSE4.2's crc32
 * instruction where the CPU has it (the one the server picks). */
static const struct sl__wire_crc *impls[2];

static size_t cpu_impls(void)
{
    size_t n = 0;
    impls[n++] = &sl__wire_crc_table;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2"))
        impls[n++] = &sl__wire_crc_sse42;
    else
        print_message("no SSE4.2 here: its CRC path is not tested\n");
#endif
    return n;
}

/* Exactly n bytes at an offset off from an allocation's start, so that
 * ASan sees a read past either end, filled from seed. */
static uint8_t *bytes_at(size_t off, size_t n, unsigned seed, uint8_t **base)
{
    *base = malloc(off + n ? off + n : 1);
    assert_non_null(*base);
    for (size_t i = 0; i < off + n; i++)
        (*base)[i] = (uint8_t)rand_r(&seed);
    return *base + off;
}

/* Every length 0..300 at every start modulo 8, each implementation and
 * each entry point, against the definition: the CRC from the start and
 * continued from any register. */
static void test_crc32c_every_length(void **state)
{
    (void)state;
    size_t ni = cpu_impls();
    for (size_t n = 0; n <= 300; n++)
        for (size_t off = 0; off < 8; off++) {
            uint8_t *base,
                *p = bytes_at(off, n, (unsigned)(n * 8 + off), &base);
            uint32_t want = crc_ref(p, n);
            for (size_t i = 0; i < ni; i++) {
                if (~impls[i]->step(~UINT32_C(0), p, n) != want)
                    fail_msg("%s: %zu bytes at +%zu", impls[i]->name, n, off);
                size_t h = n * 5 / 11; /* continued from the register */
                uint32_t r = impls[i]->step(~UINT32_C(0), p, h);
                if (~impls[i]->step(r, p + h, n - h) != want)
                    fail_msg("%s: %zu + %zu bytes at +%zu", impls[i]->name, h,
                             n - h, off);
            }
            assert_int_equal(sl_wire_crc32c(0, p, n), want);
            free(base);
        }
}

/* What each unseal says of p[0..len): all must agree on want. */
SL_WIRE_CRC32 static void expect_unseal(const uint8_t *p, size_t len,
                                        enum sl_wire_sealed want, size_t ni,
                                        const char *what)
{
    for (size_t i = 0; i < ni; i++)
        if (impls[i]->unseal(p, len) != want)
            fail_msg("%s unseal, %s: not %d", impls[i]->name, what, (int)want);
    if (sl_wire_unseal(p, len) != want)
        fail_msg("sl_wire_unseal, %s: not %d", what, (int)want);
    if (sl_wire_unseal_inline(p, len) != want)
        fail_msg("sl_wire_unseal_inline, %s: not %d", what, (int)want);
}

/* Every message length 0..300 at every start modulo 8, sealed by the
 * definition (not by sl_wire_seal): each unseal finds it SEALED, a
 * changed byte of the message or of the CRC BAD_SEAL, a changed key byte
 * or a shorter length UNSEALED. */
static void test_unseal_every_length(void **state)
{
    (void)state;
    static const uint8_t key[5] = {0xfd, 0xff, 0xff, 0xff, 0x0f};
    size_t ni = cpu_impls();
    char what[64];
    for (size_t n = 0; n <= 300; n++)
        for (size_t off = 0; off < 8; off++) {
            size_t len = n + SL_WIRE_SEAL_LEN;
            uint8_t *base,
                *p = bytes_at(off, len, (unsigned)(n * 8 + off), &base);
            uint32_t crc = crc_ref(p, n);
            memcpy(p + n, key, sizeof(key));
            for (int i = 0; i < 4; i++)
                p[n + 5 + i] = (uint8_t)(crc >> (8 * i));
            snprintf(what, sizeof(what), "%zu bytes at +%zu", n, off);
            expect_unseal(p, len, SL_WIRE_SEALED, ni, what);
            uint8_t seal[SL_WIRE_SEAL_LEN];
            sl_wire_seal(p, n, seal);
            assert_memory_equal(seal, p + n, sizeof(seal));
            if (n) {
                size_t at = (n * 7 + off) % n;
                p[at] ^= 0x20;
                expect_unseal(p, len, SL_WIRE_BAD_SEAL, ni, what);
                p[at] ^= 0x20;
            }
            p[n + 5 + off % 4] ^= 1; /* the CRC */
            expect_unseal(p, len, SL_WIRE_BAD_SEAL, ni, what);
            p[n + 5 + off % 4] ^= 1;
            p[n + off % 5] ^= 0x40; /* the key */
            expect_unseal(p, len, SL_WIRE_UNSEALED, ni, what);
            p[n + off % 5] ^= 0x40;
            expect_unseal(p, len - 1, SL_WIRE_UNSEALED, ni, what);
            free(base);
        }
}

/* A ServiceLog as the import packs one (the demo's second mnist log). */
static size_t pack_demo_log(uint8_t *out)
{
    Modelarts__V1__ServiceConfig__EnvsEntry e1 =
        MODELARTS__V1__SERVICE_CONFIG__ENVS_ENTRY__INIT;
    Modelarts__V1__ServiceConfig__EnvsEntry e2 =
        MODELARTS__V1__SERVICE_CONFIG__ENVS_ENTRY__INIT;
    e1.key = "BATCH_SIZE";
    e1.value = "16";
    e2.key = "LOG_LEVEL";
    e2.value = "debug";
    Modelarts__V1__ServiceConfig__EnvsEntry *envs[] = {&e1, &e2};
    Modelarts__V1__ServiceConfig c = MODELARTS__V1__SERVICE_CONFIG__INIT;
    c.model_id = "mnist-model-02";
    c.model_name = "mnist";
    c.model_version = "1.1.0";
    c.weight = 30;
    c.specification = "modelarts.vm.cpu.2u";
    c.instance_count = 2;
    c.n_envs = 2;
    c.envs = envs;
    Modelarts__V1__ServiceConfig *cs[] = {&c};
    Modelarts__V1__ServiceLog log = MODELARTS__V1__SERVICE_LOG__INIT;
    log.update_time = 1700000000000;
    log.result = MODELARTS__V1__UPDATE_RESULT__RUNNING;
    log.n_config = 1;
    log.config = cs;
    return modelarts__v1__service_log__pack(&log, out);
}

static void test_seal(void **state)
{
    (void)state;
    uint8_t b[256];
    size_t n = pack_demo_log(b);
    assert_int_equal(sl_wire_unseal(b, n), SL_WIRE_UNSEALED);
    sl_wire_seal(b, n, b + n);
    size_t len = n + SL_WIRE_SEAL_LEN;
    assert_int_equal(sl_wire_unseal(b, len), SL_WIRE_SEALED);
    /* A sealed log is still a message protobuf-c reads (the seal is an
     * unknown field), so a server without seals still sends valid data. */
    Modelarts__V1__ServiceLog *m =
        modelarts__v1__service_log__unpack(NULL, len, b);
    assert_non_null(m);
    assert_int_equal(m->update_time, 1700000000000);
    modelarts__v1__service_log__free_unpacked(m, NULL);
    /* ... but not one of ours: the check refuses the unknown field. */
    assert_int_equal(sl_wire_check(&log_schema, b, len, NULL), -1);

    /* Every one-byte change anywhere, to any other value: never SEALED. */
    for (size_t i = 0; i < len; i++)
        for (int v = 0; v < 256; v++) {
            if (v == b[i])
                continue;
            uint8_t keep = b[i];
            b[i] = (uint8_t)v;
            if (sl_wire_unseal(b, len) == SL_WIRE_SEALED)
                fail_msg("byte %zu set to %d: the seal still matches", i, v);
            b[i] = keep;
        }
    /* Short and empty bodies. */
    assert_int_equal(sl_wire_unseal(b, 0), SL_WIRE_UNSEALED);
    assert_int_equal(sl_wire_unseal(b, SL_WIRE_SEAL_LEN - 1), SL_WIRE_UNSEALED);
    sl_wire_seal(b, 0, b);
    assert_int_equal(sl_wire_unseal(b, SL_WIRE_SEAL_LEN), SL_WIRE_SEALED);
    b[SL_WIRE_SEAL_LEN - 1] ^= 1;
    assert_int_equal(sl_wire_unseal(b, SL_WIRE_SEAL_LEN), SL_WIRE_BAD_SEAL);
}

/* ---- the check: what protobuf-c packs is accepted ---------------------- */

static void assert_accepted(const uint8_t *p, size_t n, const char *what)
{
    struct sl_wire_fault f;
    if (sl_wire_check(&log_schema, p, n, &f) != 0)
        fail_msg("%s: refused: %s in %s.%s at byte %zu", what, f.what,
                 f.message, f.field ? f.field : "?", f.offset);
}

/* Every log an import file's parse packs (the import module itself). */
static size_t check_import_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        fail_msg("%s: cannot open", path);
    static char json[1 << 20];
    size_t len = fread(json, 1, sizeof(json), fp);
    fclose(fp);
    struct sl_import_set set;
    struct sl_err err;
    size_t n = 0;
    if (sl_import_parse(json, len, &set, &err) != SL_OK)
        return 0; /* a file the import refuses writes nothing */
    for (size_t i = 0; i < set.n_services; i++)
        for (size_t j = 0; j < set.services[i].n_logs; j++, n++)
            assert_accepted(set.services[i].logs[j].body.data,
                            set.services[i].logs[j].body.len, path);
    sl_import_set_free(&set);
    return n;
}

static void test_accepts_the_import(void **state)
{
    (void)state;
    size_t logs = 0;
    logs += check_import_file(SL_SOURCE_DIR "/demo/demo.json");
    const char *dirs[] = {SL_SOURCE_DIR "/tests/fixtures",
                          SL_SOURCE_DIR "/tests/fuzz/corpus/import"};
    for (size_t d = 0; d < 2; d++) {
        DIR *dir = opendir(dirs[d]);
        assert_non_null(dir);
        struct dirent *e;
        while ((e = readdir(dir))) {
            if (e->d_name[0] == '.')
                continue;
            char path[1024];
            snprintf(path, sizeof(path), "%s/%s", dirs[d], e->d_name);
            logs += check_import_file(path);
        }
        closedir(dir);
    }
    assert_true(logs >= 10);
}

/* Random strings: ASCII, multi-byte UTF-8, sometimes empty. */
static char *rand_str(unsigned *seed, char *buf, size_t cap)
{
    static const char *const pieces[] = {"a",
                                         "Z",
                                         "9",
                                         "-",
                                         " ",
                                         "\xc3\xa9",
                                         "\xe2\x82\xac",
                                         "\xf0\x9f\x98\x80",
                                         "\x7f",
                                         "\x01"};
    size_t n = (size_t)rand_r(seed) % 12, len = 0;
    if (rand_r(seed) % 5 == 0)
        n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const char *p = pieces[rand_r(seed) % 10];
        size_t l = strlen(p);
        if (len + l + 1 > cap)
            break;
        memcpy(buf + len, p, l + 1);
        len += l;
    }
    return buf;
}

static int32_t rand_i32(unsigned *seed)
{
    switch (rand_r(seed) % 4) {
    case 0:
        return 0;
    case 1:
        return -(int32_t)(rand_r(seed) % 1000) - 1;
    case 2:
        return INT32_MAX - rand_r(seed) % 3;
    default:
        return rand_r(seed) % 300;
    }
}

static void test_accepts_random_messages(void **state)
{
    (void)state;
    unsigned seed = 42;
    static char strs[64][48];
    uint8_t out[8192];
    for (int round = 0; round < 2000; round++) {
        size_t si = 0;
        Modelarts__V1__ServiceConfig__EnvsEntry ev[4], *evp[4];
        Modelarts__V1__ServiceConfig cv[3], *cvp[3];
        Modelarts__V1__NodeResult nv[3], *nvp[3];
        size_t nc = (size_t)rand_r(&seed) % 4, nn = (size_t)rand_r(&seed) % 4;
        if (nc > 3)
            nc = 3;
        if (nn > 3)
            nn = 3;
        for (size_t c = 0; c < nc; c++) {
            modelarts__v1__service_config__init(&cv[c]);
            cv[c].model_id = rand_str(&seed, strs[si++], 48);
            cv[c].model_name = rand_str(&seed, strs[si++], 48);
            cv[c].model_version = rand_str(&seed, strs[si++], 48);
            cv[c].specification = rand_str(&seed, strs[si++], 48);
            cv[c].weight = rand_i32(&seed);
            cv[c].instance_count = rand_i32(&seed);
            size_t ne = (size_t)rand_r(&seed) % 3;
            for (size_t e = 0; e < ne; e++) {
                modelarts__v1__service_config__envs_entry__init(&ev[e]);
                ev[e].key = rand_str(&seed, strs[si++], 48);
                ev[e].value = rand_str(&seed, strs[si++], 48);
                evp[e] = &ev[e];
            }
            cv[c].n_envs = ne;
            cv[c].envs = ne ? evp : NULL;
            cvp[c] = &cv[c];
        }
        for (size_t k = 0; k < nn; k++) {
            modelarts__v1__node_result__init(&nv[k]);
            nv[k].node_id = rand_str(&seed, strs[si++], 48);
            nv[k].node_name = rand_str(&seed, strs[si++], 48);
            nv[k].operation = (Modelarts__V1__NodeOperation)(rand_r(&seed) % 3);
            nv[k].result = rand_r(&seed) % 2;
            nvp[k] = &nv[k];
        }
        Modelarts__V1__ServiceLog log = MODELARTS__V1__SERVICE_LOG__INIT;
        log.update_time = rand_r(&seed) % 3 ? (int64_t)rand_r(&seed) << 20 : 0;
        log.result = (Modelarts__V1__UpdateResult)(rand_r(&seed) % 4);
        log.n_config = nc;
        log.config = nc ? cvp : NULL;
        log.success_num = rand_i32(&seed);
        log.failed_num = rand_i32(&seed);
        log.n_result_detail = nn;
        log.result_detail = nn ? nvp : NULL;
        size_t n = modelarts__v1__service_log__pack(&log, out);
        assert_accepted(out, n, "random message");
    }
}

/* ---- the check: what a parser refuses, and what protobuf-c never packs - */

static void test_refuses(void **state)
{
    (void)state;
    /* Each case: hex bytes, and the rule the check names. A valid base:
     * 08 01 (update_time 1) 10 01 (result SUCCESS) 1a 03 0a 01 61
     * (config {model_id "a"}). */
    static const struct {
        const char *hex;
        const char *what;
    } cases[] = {
        {"0801100118030a0161", "wrong wire type"},       /* config as varint */
        {"0d01000000", "wrong wire type"},               /* fixed32 update */
        {"0801", NULL},                                  /* valid */
        {"08011001", NULL},                              /* valid */
        {"08011a030a0161", NULL},                        /* valid */
        {"4801", "unknown field number"},                /* field 9 */
        {"0001", "unknown field number"},                /* field 0 */
        {"f8ffffff0f01", "unknown field number"},        /* 2^29-1 */
        {"ff", "malformed field key"},                   /* truncated key */
        {"1001 0801", "field out of order or repeated"}, /* 2 before 1 */
        {"08010802", "field out of order or repeated"},  /* 1 twice */
        {"0800", "default value written"},               /* update_time 0 */
        {"1000", "default value written"},               /* result 0 */
        {"2000", "default value written"},               /* success_num 0 */
        {"1a020a00", "default value written"},           /* model_id "" */
        {"1005", "value not in the enum"},               /* result 5 */
        {"1a023001", NULL},                              /* instance_count */
        {"1a0b20ffffffffffffffffff01", NULL},            /* weight -1 */
        {"1a0620ffffffff0f", "int32 out of range"},      /* 2^32-1 */
        {"1a0620808080800f", "int32 out of range"},      /* 0xf0000000 */
        {"1a0b208080808080808080807f", "malformed varint"}, /* > 64 bits */
        {"088100", "malformed varint"},                     /* redundant byte */
        {"0880", "malformed varint"},                       /* truncated */
        {"08", "truncated field"},
        {"1a05", "length past the end of the message"},
        {"1a050a03616263", NULL}, /* exact */
        {"1a060a03616263", "length past the end of the message"},
        {"1a030a01ff", "invalid UTF-8"},                    /* model_id */
        {"1a070a05c0af616263", "invalid UTF-8"},            /* overlong */
        {"1a053a030a0180", "invalid UTF-8"},                /* envs key */
        {"32030a0180", "invalid UTF-8"},                    /* node_id */
        {"32022002", "bool other than 0 or 1"},             /* result 2 */
        {"32021803", "value not in the enum"},              /* operation 3 */
        {"1a00", NULL},                                     /* empty config */
        {"1a001a00", NULL},                                 /* two configs */
        {"1a0032001a00", "field out of order or repeated"}, /* 3, 6, 3 */
        {"1a023a00", NULL},                        /* empty envs entry */
        {"1a043a021200", "default value written"}, /* value "" */
        {"1a023b00", "wrong wire type"},           /* group start */
        {"1a023f00", "wrong wire type"},           /* wire type 7 */
        {"1a048a010161", "unknown field number"},  /* field 17 */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t b[64];
        size_t n = 0;
        for (const char *h = cases[i].hex; *h;) {
            if (*h == ' ') {
                h++;
                continue;
            }
            unsigned v;
            sscanf(h, "%2x", &v);
            b[n++] = (uint8_t)v;
            h += 2;
        }
        struct sl_wire_fault f = {0};
        int rc = sl_wire_check(&log_schema, b, n, &f);
        if (!cases[i].what && rc != 0)
            fail_msg("case %zu (%s): refused: %s", i, cases[i].hex, f.what);
        if (cases[i].what && rc == 0)
            fail_msg("case %zu (%s): accepted", i, cases[i].hex);
        if (cases[i].what && strcmp(f.what, cases[i].what) != 0)
            fail_msg("case %zu (%s): want [%s] got [%s]", i, cases[i].hex,
                     cases[i].what, f.what);
    }
    /* Where and in what: the envs key at byte 4 of the config. */
    const uint8_t env[] = {0x08, 0x01, 0x1a, 0x05, 0x3a,
                           0x03, 0x0a, 0x01, 0x80};
    struct sl_wire_fault f;
    assert_int_equal(sl_wire_check(&log_schema, env, sizeof(env), &f), -1);
    assert_int_equal(f.offset, 6);
    assert_string_equal(f.message, "EnvsEntry");
    assert_string_equal(f.field, "key");
}

/* The descriptor-led walk behind the table: keys of two bytes and more,
 * proto2 fields, and a type that nests itself (depth). */
static void test_general_walk(void **state)
{
    (void)state;
    struct sl_wire_schema s;
    sl_wire_schema_init(&s, &google__protobuf__descriptor_proto__descriptor);
    Google__Protobuf__FieldDescriptorProto fd =
        GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__INIT;
    fd.name = "f";
    fd.has_number = 1;
    fd.number = 0; /* proto2: a present default is written, and fine */
    fd.has_proto3_optional = 1;
    fd.proto3_optional = 1; /* field 17: a two-byte key */
    Google__Protobuf__FieldDescriptorProto *fds[] = {&fd};
    Google__Protobuf__DescriptorProto m =
        GOOGLE__PROTOBUF__DESCRIPTOR_PROTO__INIT;
    m.name = "M";
    m.n_field = 1;
    m.field = fds;
    uint8_t out[4096];
    size_t n = google__protobuf__descriptor_proto__pack(&m, out);
    struct sl_wire_fault f;
    if (sl_wire_check(&s, out, n, &f) != 0)
        fail_msg("refused: %s in %s at %zu", f.what, f.message, f.offset);

    /* nested_type (3) within nested_type, deeper than SL_WIRE_DEPTH */
    Google__Protobuf__DescriptorProto levels[SL_WIRE_DEPTH + 2];
    Google__Protobuf__DescriptorProto *next[SL_WIRE_DEPTH + 2];
    for (int i = SL_WIRE_DEPTH + 1; i >= 0; i--) {
        google__protobuf__descriptor_proto__init(&levels[i]);
        levels[i].name = "x";
        if (i <= SL_WIRE_DEPTH) {
            next[i] = &levels[i + 1];
            levels[i].n_nested_type = 1;
            levels[i].nested_type = &next[i];
        }
    }
    n = google__protobuf__descriptor_proto__pack(&levels[SL_WIRE_DEPTH - 2],
                                                 out);
    assert_int_equal(sl_wire_check(&s, out, n, NULL), 0);
    n = google__protobuf__descriptor_proto__pack(&levels[0], out);
    assert_int_equal(sl_wire_check(&s, out, n, &f), -1);
    assert_string_equal(f.what, "messages nested too deep");
}

/* How often the check alone (a log stored without a seal) sees a random
 * one-byte change: printed for the README, held to a floor. */
static void test_flip_detection_rate(void **state)
{
    (void)state;
    uint8_t b[256];
    size_t n = pack_demo_log(b);
    size_t seen = 0, all = 0;
    for (size_t i = 0; i < n; i++)
        for (int v = 0; v < 256; v++) {
            if (v == b[i])
                continue;
            uint8_t keep = b[i];
            b[i] = (uint8_t)v;
            seen += sl_wire_check(&log_schema, b, n, NULL) != 0;
            all++;
            b[i] = keep;
        }
    printf("check alone: %zu of %zu one-byte changes seen (%.1f%%) in a "
           "%zu-byte log\n",
           seen, all, 100.0 * (double)seen / (double)all, n);
    assert_true(seen * 100 >= all * 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_crc32c),
        cmocka_unit_test(test_crc32c_every_length),
        cmocka_unit_test(test_unseal_every_length),
        cmocka_unit_test_setup(test_seal, setup),
        cmocka_unit_test_setup(test_accepts_the_import, setup),
        cmocka_unit_test_setup(test_accepts_random_messages, setup),
        cmocka_unit_test_setup(test_refuses, setup),
        cmocka_unit_test(test_general_walk),
        cmocka_unit_test_setup(test_flip_detection_rate, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
