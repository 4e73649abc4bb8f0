/* arena.h -- bump allocator for one query's result
 *
 * A query result (struct sl_log_page) owns many small strings and blobs that
 * die together; the arena makes that one free instead of hundreds. Not
 * thread-safe: an arena belongs to one call on one thread.
 */
#ifndef SL_ARENA_H
#define SL_ARENA_H

#include <stddef.h>

struct sl_arena_chunk;

struct sl_arena {
    struct sl_arena_chunk *head; /* newest chunk first; NULL when empty */
    _Alignas(16) char inline_buf[2048]; /* first allocations: no malloc */
    size_t inline_used;                 /* bytes of inline_buf handed out */
};

/* Zeroes the arena; no allocation. */
void sl_arena_init(struct sl_arena *a);
/* Returns n bytes aligned for any type, or NULL when malloc fails. The
 * memory lives until sl_arena_free(a). */
void *sl_arena_alloc(struct sl_arena *a, size_t n);
/* Copies n bytes (and a trailing NUL) into the arena; NULL on ENOMEM. */
char *sl_arena_strndup(struct sl_arena *a, const char *s, size_t n);
/* Frees every chunk; the arena may be reused after sl_arena_init(). */
void sl_arena_free(struct sl_arena *a);

#endif
