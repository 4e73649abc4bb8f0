/* arena.c -- bump allocator for one query's result */
#include "arena.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

struct sl_arena_chunk {
    struct sl_arena_chunk *next; /* older chunk */
    size_t size;                 /* usable bytes in data */
    size_t used;                 /* bytes handed out */
    alignas(max_align_t) unsigned char data[];
};

#define SL_ALIGN(n)                                                            \
    (((n) + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1))

void sl_arena_init(struct sl_arena *a)
{
    a->head = NULL;
    a->inline_used = 0;
}

void *sl_arena_alloc(struct sl_arena *a, size_t n)
{
    n = SL_ALIGN(n ? n : 1);
    if (!a->head && sizeof(a->inline_buf) - a->inline_used >= n) {
        void *p = a->inline_buf + a->inline_used;
        a->inline_used += n;
        return p;
    }
    struct sl_arena_chunk *c = a->head;
    if (!c || c->size - c->used < n) {
        size_t size = n > 16384 ? n : 16384;
        c = malloc(sizeof(*c) + size);
        if (!c)
            return NULL;
        c->next = a->head;
        c->size = size;
        c->used = 0;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

char *sl_arena_strndup(struct sl_arena *a, const char *s, size_t n)
{
    char *p = sl_arena_alloc(a, n + 1);
    if (p) {
        if (n)
            memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

void sl_arena_free(struct sl_arena *a)
{
    struct sl_arena_chunk *c = a->head;
    while (c) {
        struct sl_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    sl_arena_init(a);
}
