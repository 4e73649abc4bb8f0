/* fuzz.h -- what every libFuzzer target in tests/fuzz/ shares
 *
 * Each fuzz_<name>.c defines LLVMFuzzerTestOneInput() and checks
 * properties with FUZZ_CHECK, which aborts (a crash libFuzzer reports and
 * saves) instead of assert(), which NDEBUG builds would drop. The same
 * sources link with replay_main.c in the normal and ASan builds, where
 * ctest runs them once over the committed corpus.
 *
 * Inputs are the fuzzer's: a target never keeps a pointer into data past
 * its return, and frees what it allocated (libFuzzer reports leaks).
 */
#ifndef SL_FUZZ_H
#define SL_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

__attribute__((noreturn)) static inline void
fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: property violated: %s\n", file, line, what);
    abort();
}

/* Aborts when cond is false, naming it. */
#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond))                                                           \
            fuzz_fail(__FILE__, __LINE__, #cond);                              \
    } while (0)

/* Reads a structure out of fuzzer bytes: every read succeeds, and once the
 * bytes run out every read returns zeros, so any input is some value. */
struct fuzz_reader {
    const uint8_t *p;
    size_t n;
};

static inline uint8_t fuzz_u8(struct fuzz_reader *r)
{
    if (r->n == 0)
        return 0;
    r->n--;
    return *r->p++;
}

static inline uint64_t fuzz_u64(struct fuzz_reader *r, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | fuzz_u8(r);
    return v;
}

/* Up to n bytes; *len gets how many there were. */
static inline const uint8_t *fuzz_bytes(struct fuzz_reader *r, size_t n,
                                        size_t *len)
{
    const uint8_t *p = r->p;
    *len = n < r->n ? n : r->n;
    r->p += *len;
    r->n -= *len;
    return p;
}

/* A malloc'd NUL-terminated copy of p[0..n) (NULL only on ENOMEM). */
static inline char *fuzz_strndup(const void *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s) {
        if (n)
            memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

#endif
