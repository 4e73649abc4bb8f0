/* fuzz_auth.c -- the tokens file parser and the table's decisions
 *
 * Input: the text of a tokens file. Beyond "no crash, no leak":
 * - sl_auth_table_parse agrees with a reference reading of auth.h's rules
 *   (one "TOKEN PROJECT_ID [read|write]" per line, spaces or tabs between, a
 *   trailing
 *   CR dropped, '#' lines and blank lines skipped, tokens 1-SL_TOKEN_MAX
 *   visible ASCII, project ids per sl_id_valid): the same verdict, the
 *   same number of entries, and on failure SL_EFORMAT, *out NULL and a
 *   message naming the first bad line ("line N: ...") without quoting its
 *   token;
 * - on success sl_auth_table_check decides every probe as the reference
 *   entries say: each (token, project) of the file is SL_OK, a token with
 *   another file project is SL_EFORBIDDEN unless listed for it, a token one
 *   byte shorter or longer is SL_EBADTOKEN unless that is a token too, and
 *   an empty token is SL_ENOTOKEN; the same probes asking for the write
 *   role are SL_OK only where a write line says so, SL_EREADONLY where
 *   only read lines do;
 * - every byte of a token counts: the token with any one byte changed
 *   (every position of a token up to FULL_SCAN bytes; in a longer one the
 *   first, the 8th and 9th, the middle, the last and two positions derived
 *   from the input) is refused -- SL_EBADTOKEN unless the changed token is
 *   itself in the file -- so a check that compares only a prefix of the
 *   token cannot pass. The new byte is derived from the input too.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h> /* memmem: the build defines _GNU_SOURCE */

#include "auth.h"
#include "fuzz.h"
#include "validate.h"

#define MAX_PROBED 8 /* entries whose (token x project) pairs are probed */
#define FULL_SCAN 64 /* tokens up to this long get every byte changed */

struct entry {
    const char *tok; /* into the input */
    size_t tok_len;
    const char *proj; /* into the input */
    size_t proj_len;
    bool write; /* the line's role is write */
};

static bool ws(char c)
{
    return c == ' ' || c == '\t';
}

static bool visible(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

/* True when s[0..n) is all digits and colons. */
static bool digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || s[i] == ':'))
            return false;
    return true;
}

/* The reference reading. 0 with the entries in e[0..*n) (e has room for
 * one per line), or the number of the first bad line. *first_field is that
 * line's first field (its would-be token). */
static size_t ref_parse(const char *text, size_t len, struct entry *e,
                        size_t *n, const char **first_field, size_t *ff_len)
{
    size_t line = 0;
    *n = 0;
    for (const char *p = text, *end = text + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *next = nl ? nl + 1 : end;
        line++;
        if (le > p && le[-1] == '\r')
            le--;
        const char *f[3] = {NULL, NULL, NULL};
        size_t fl[3] = {0, 0, 0}, k = 0;
        const char *q = p;
        while (q < le && ws(*q))
            q++;
        if (q == le || *q == '#') {
            p = next;
            continue;
        }
        while (q < le) {
            const char *s = q;
            while (q < le && !ws(*q))
                q++;
            if (k < 3) {
                f[k] = s;
                fl[k] = (size_t)(q - s);
            }
            k++;
            while (q < le && ws(*q))
                q++;
        }
        *first_field = f[0];
        *ff_len = fl[0];
        bool w = k == 3 && fl[2] == 5 && memcmp(f[2], "write", 5) == 0;
        bool r =
            k == 2 || (k == 3 && fl[2] == 4 && memcmp(f[2], "read", 4) == 0);
        if ((!w && !r) || !visible(f[0], fl[0]) || !visible(f[1], fl[1]) ||
            fl[0] > SL_TOKEN_MAX || !sl_id_valid(f[1], fl[1]))
            return line;
        e[*n].write = w;
        e[*n].tok = f[0];
        e[*n].tok_len = fl[0];
        e[*n].proj = f[1];
        e[(*n)++].proj_len = fl[1];
        p = next;
    }
    return 0;
}

/* What the table must answer for token tok[0..len) on project proj, asked
 * for the write role or only read. */
static int ref_check_role(const struct entry *e, size_t n, const char *tok,
                          size_t len, const char *proj, bool write)
{
    bool known = false, allowed = false;
    if (len == 0)
        return SL_ENOTOKEN;
    for (size_t i = 0; i < n; i++) {
        if (e[i].tok_len != len || memcmp(e[i].tok, tok, len) != 0)
            continue;
        known = true;
        if (strlen(proj) == e[i].proj_len &&
            memcmp(proj, e[i].proj, e[i].proj_len) == 0) {
            if (!write || e[i].write)
                return SL_OK;
            allowed = true;
        }
    }
    return allowed ? SL_EREADONLY : known ? SL_EFORBIDDEN : SL_EBADTOKEN;
}

static int ref_check(const struct entry *e, size_t n, const char *tok,
                     size_t len, const char *proj)
{
    return ref_check_role(e, n, tok, len, proj, false);
}

static void probe(const struct sl_auth_table *t, const struct entry *e,
                  size_t n, const char *tok, size_t len, const char *proj)
{
    FUZZ_CHECK(sl_auth_table_check(t, tok, len, proj) ==
               ref_check(e, n, tok, len, proj));
    FUZZ_CHECK(sl_auth_table_check_role(t, tok, len, proj, SL_AUTH_READ) ==
               ref_check(e, n, tok, len, proj));
    FUZZ_CHECK(sl_auth_table_check_role(t, tok, len, proj, SL_AUTH_WRITE) ==
               ref_check_role(e, n, tok, len, proj, true));
}

/* True when tok[0..len) is the token of some entry. */
static bool listed(const struct entry *e, size_t n, const char *tok, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (e[i].tok_len == len && memcmp(e[i].tok, tok, len) == 0)
            return true;
    return false;
}

/* Entry x's token with byte at changed (to another value, from seed):
 * refused for x's project, as an unknown token unless it is listed. */
static void probe_changed(const struct sl_auth_table *t, const struct entry *e,
                          size_t n, const struct entry *x, char *buf,
                          const char *proj, size_t at, uint32_t seed)
{
    memcpy(buf, x->tok, x->tok_len);
    uint8_t delta = (uint8_t)(seed % 255 + 1); /* 1..255: never 0 */
    buf[at] = (char)((uint8_t)buf[at] ^ delta);
    int rc = sl_auth_table_check(t, buf, x->tok_len, proj);
    FUZZ_CHECK(rc == ref_check(e, n, buf, x->tok_len, proj));
    int wrc = sl_auth_table_check_role(t, buf, x->tok_len, proj, SL_AUTH_WRITE);
    FUZZ_CHECK(wrc == ref_check_role(e, n, buf, x->tok_len, proj, true));
    if (!listed(e, n, buf, x->tok_len))
        FUZZ_CHECK(rc == SL_EBADTOKEN && wrc == SL_EBADTOKEN);
}

/* FNV-1a of the input: where and how probe_changed changes a long token,
 * so the fuzzer reaches every position. */
static uint32_t input_hash(const uint8_t *data, size_t size)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 16777619u;
    return h;
}

/* Every byte of x's token counts (see the top of the file). */
static void check_every_byte(const struct sl_auth_table *t,
                             const struct entry *e, size_t n,
                             const struct entry *x, const char *proj,
                             uint32_t seed)
{
    size_t len = x->tok_len;
    char *buf = malloc(len);
    FUZZ_CHECK(buf != NULL);
    if (len <= FULL_SCAN) {
        for (size_t at = 0; at < len; at++)
            probe_changed(t, e, n, x, buf, proj, at, seed + (uint32_t)at);
    } else {
        const size_t at[] = {
            0, 7, 8, len / 2, len - 1, seed % len, (seed >> 12) % len};
        for (size_t k = 0; k < sizeof(at) / sizeof(at[0]); k++)
            probe_changed(t, e, n, x, buf, proj, at[k], seed >> (3 * k));
    }
    free(buf);
}

static void check_table(const struct sl_auth_table *t, const struct entry *e,
                        size_t n, uint32_t seed)
{
    char proj[SL_MAX_ID + 1];
    char *longer = NULL;
    FUZZ_CHECK(sl_auth_table_size(t) == n);
    FUZZ_CHECK(sl_auth_table_check(t, "", 0, "p") == SL_ENOTOKEN);
    FUZZ_CHECK(sl_auth_table_check(t, "x", 0, "p") == SL_ENOTOKEN);
    for (size_t i = 0; i < n && i < MAX_PROBED; i++) {
        for (size_t j = 0; j < n && j < MAX_PROBED; j++) {
            memcpy(proj, e[j].proj, e[j].proj_len);
            proj[e[j].proj_len] = '\0';
            probe(t, e, n, e[i].tok, e[i].tok_len, proj);
            if (i == j)
                FUZZ_CHECK(sl_auth_table_check(t, e[i].tok, e[i].tok_len,
                                               proj) == SL_OK);
        }
        memcpy(proj, e[i].proj, e[i].proj_len);
        proj[e[i].proj_len] = '\0';
        probe(t, e, n, e[i].tok, e[i].tok_len - 1, proj);
        longer = realloc(longer, e[i].tok_len + 1);
        FUZZ_CHECK(longer != NULL);
        memcpy(longer, e[i].tok, e[i].tok_len);
        longer[e[i].tok_len] = 'x';
        probe(t, e, n, longer, e[i].tok_len + 1, proj);
        probe(t, e, n, e[i].tok, e[i].tok_len, "no-such-project-in-any-file");
        check_every_byte(t, e, n, &e[i], proj, seed + (uint32_t)i);
    }
    free(longer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char fixed[] =
        "line : the token has a character that is not visible ASCII"
        "|expected TOKEN PROJECT_ID [read|write]|the role must be read or "
        "write|token longer than 4096 characters"
        "|project id must be 1-64 characters of [A-Za-z0-9_-]";
    const char *text = (const char *)data;
    struct entry *e = malloc((size + 1) * sizeof(*e));
    FUZZ_CHECK(e != NULL);
    size_t n = 0, ff_len = 0;
    const char *ff = NULL;
    size_t bad = ref_parse(text, size, e, &n, &ff, &ff_len);

    static char poison; /* *out must be NULL after a failure */
    struct sl_auth_table *t = (struct sl_auth_table *)(void *)&poison;
    struct sl_err err;
    sl_err_clear(&err);
    int rc = sl_auth_table_parse(text, size, &t, &err);
    if (bad == 0) {
        FUZZ_CHECK(rc == SL_OK && t != NULL);
        check_table(t, e, n, input_hash(data, size));
    } else {
        FUZZ_CHECK(rc == SL_EFORMAT && t == NULL && err.code == rc);
        char want[32];
        int w = snprintf(want, sizeof(want), "line %zu: ", bad);
        FUZZ_CHECK(strncmp(err.msg, want, (size_t)w) == 0);
        /* "line" and "123:" are the only pieces of the message without
         * a space that are not in fixed. */
        if (ff_len >= 5 && !digits(ff, ff_len) &&
            !memmem(fixed, sizeof(fixed) - 1, ff, ff_len))
            FUZZ_CHECK(!memmem(err.msg, strlen(err.msg), ff, ff_len));
    }
    sl_auth_table_free(t);
    free(e);
    return 0;
}
