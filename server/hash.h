/* hash.h -- FNV-1a 64, the one non-cryptographic hash of the server
 *
 * Used where a stable, cheap hash of a few bytes is wanted and nobody
 * hostile picks the input's collisions to any gain: the REST ETags
 * (http_web.h), the health read tracker's "which service" stamp
 * (rpc_health.c), the response cache's buckets (cache.c). */
#ifndef SL_HASH_H
#define SL_HASH_H

#include <stddef.h>
#include <stdint.h>

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

/* Of "project/service" (an id holds no '/'), the high half folded into
 * the low one: a service's key for tables indexed by its low bits. */
static inline uint64_t sl_service_hash(const char *project, const char *service)
{
    uint64_t x = sl_fnv1a64_str(SL_FNV1A64_INIT, project);
    x = sl_fnv1a64(x, "/", 1);
    x = sl_fnv1a64_str(x, service);
    return x ^ (x >> 32);
}

#endif
