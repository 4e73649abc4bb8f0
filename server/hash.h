/* hash.h -- the server's two non-cryptographic hashes: FNV-1a 64 and a
 * word-at-a-time one for in-memory keys
 *
 * Used where a stable, cheap hash of a few bytes is wanted and nobody
 * hostile picks the input's collisions to any gain: the REST ETags
 * (http_web.h), the health read tracker's "which service" stamp
 * (rpc_health.c) and the response cache's buckets (cache.c), the last
 * two through sl_service_hash, and the connection guard's buckets
 * (connguard.c: a client picks its port, but the table is bounded). */
#ifndef SL_HASH_H
#define SL_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SL_FNV1A64_INIT 0xcbf29ce484222325ULL

/* h continued over p[0..n). */
static inline uint64_t sl_fnv1a64(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

/* h continued over the NUL-terminated s (NULL: ""). */
static inline uint64_t sl_fnv1a64_str(uint64_t h, const char *s)
{
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

/* h continued over p[0..n) eight bytes at a time, the length mixed into
 * the last step (so "ab"+"c" and "a"+"bc" differ). Not stable across
 * byte orders: for in-memory tables only. */
static inline uint64_t sl_hash_words(uint64_t h, const char *p, size_t n)
{
    const uint64_t k = 0x9e3779b97f4a7c15ULL;
    uint64_t w;
    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * k;
        h ^= h >> 29;
    }
    w = 0;
    memcpy(&w, p, n);
    h = (h ^ w ^ ((uint64_t)n << 56)) * k;
    return h ^ (h >> 29);
}

/* Of the service (project, service), the high half folded into the low
 * one: a service's key for in-memory tables indexed by its low bits.
 * Word at a time: FNV-1a's byte loop was 0.9 % of a cached call. */
static inline uint64_t sl_service_hash(const char *project, const char *service)
{
    uint64_t x = sl_hash_words(SL_FNV1A64_INIT, project, strlen(project));
    x = sl_hash_words(x, service, strlen(service));
    x *= 0xff51afd7ed558ccdULL;
    return x ^ (x >> 32);
}

#endif
