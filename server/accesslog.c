/* accesslog.c -- one structured line per call, and request ids
 *
 * A line is built in a heap buffer (one malloc, freed before return) and
 * written to stderr with one write(2). Each string field has a byte budget
 * for its escaped form; a field over budget is cut (in raw bytes, halving
 * until the escaped form fits), so the whole line stays below PIPE_BUF
 * and a pipe never splits it between threads.
 *
 * Request ids: every thread keeps its own block of getrandom(2) bytes and
 * takes 16 per id, so an id costs a system call once per SL_RID_POOL / 16
 * ids. The block is thread-local (no locks); a process that fork()s would
 * have to discard it in the child (the server does not fork).
 */
#include "accesslog.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "buf.h"

#define SL_RID_BYTES (SL_REQUEST_ID_LEN / 2) /* random bytes per id */
#define SL_RID_POOL 256                      /* bytes fetched at once */

/* ---- access lines ------------------------------------------------------ */

/* Appends ,"key": and s as a JSON string (or null), its escaped form cut
 * to at most budget bytes plus the quotes. */
static void put_field(struct sl_buf *b, const char *key, const char *s,
                      size_t budget)
{
    char cut[1024 + 1];

    sl_buf_puts(b, ",\"");
    sl_buf_puts(b, key);
    sl_buf_puts(b, "\":");
    if (!s) {
        sl_buf_puts(b, "null");
        return;
    }
    size_t len = strlen(s);
    if (budget > sizeof(cut) - 1)
        budget = sizeof(cut) - 1;
    for (size_t n = len < budget ? len : budget;; n /= 2) {
        size_t start = b->len;
        if (n == len) {
            sl_buf_put_json_string(b, s);
        } else {
            memcpy(cut, s, n);
            cut[n] = '\0';
            sl_buf_put_json_string(b, cut);
        }
        /* Escaping can grow it (control bytes, quotes): cut further. */
        if (b->oom || b->len - start <= budget + 2 || n == 0)
            return;
        b->len = start;
    }
}

static void put_number(struct sl_buf *b, const char *key, int64_t v)
{
    sl_buf_puts(b, ",\"");
    sl_buf_puts(b, key);
    sl_buf_puts(b, "\":");
    sl_buf_put_i64(b, v);
}

/* "2026-11-27T23:06:07.123456Z" into out (at least 28 bytes). */
static void format_time(char *out, size_t n)
{
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t k = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
    long us = ts.tv_nsec / 1000;
    if (k + 9 > n) {
        out[0] = '\0';
        return;
    }
    out[k++] = '.';
    for (int i = 5; i >= 0; i--, us /= 10)
        out[k + (size_t)i] = (char)('0' + us % 10);
    k += 6;
    out[k++] = 'Z';
    out[k] = '\0';
}

static void write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* nowhere to report a failed log write */
        p += w;
        n -= (size_t)w;
    }
}

void sl_access_log(const struct sl_access *a)
{
    struct sl_buf b;
    char now[40];

    if (sl_log_level < SL_LOG_INFO || !a)
        return;
    format_time(now, sizeof(now));
    sl_buf_init(&b);
    if (!sl_buf_reserve(&b, 512))
        return;
    sl_buf_puts(&b, "{\"time\":\"");
    sl_buf_puts(&b, now);
    sl_buf_putc(&b, '"');
    put_field(&b, "kind", a->kind, 16);
    put_field(&b, "method", a->method, 256);
    put_field(&b, "path", a->path, 1024);
    put_field(&b, "project_id", a->project_id, 256);
    put_field(&b, "service_id", a->service_id, 256);
    put_number(&b, "status", a->status);
    put_field(&b, "error_code", a->error_code, 64);
    put_number(&b, "duration_us",
               a->duration_us > INT64_MAX ? INT64_MAX
                                          : (int64_t)a->duration_us);
    put_field(&b, "peer", a->peer, 128);
    put_field(&b, "request_id", a->request_id, 2 * SL_REQUEST_ID_MAX);
    sl_buf_puts(&b, "}\n");
    if (!b.oom)
        write_all(b.data, b.len);
    sl_buf_free(&b);
}

/* ---- request ids ------------------------------------------------------- */

static _Thread_local unsigned char sl_rid_pool[SL_RID_POOL];
static _Thread_local size_t sl_rid_used = SL_RID_POOL; /* empty */
static atomic_uint_fast64_t sl_rid_counter;

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* 16 bytes no other id of this process has: counter, clocks, thread. */
static void fallback_bytes(unsigned char *out)
{
    struct timespec rt, mono;
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    uint64_t c =
        atomic_fetch_add_explicit(&sl_rid_counter, 1, memory_order_relaxed);
    uint64_t hi = splitmix64(
        ((uint64_t)rt.tv_sec * 1000000000ULL + (uint64_t)rt.tv_nsec) ^
        ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)&sl_rid_used);
    uint64_t lo = splitmix64(c ^ splitmix64((uint64_t)mono.tv_nsec));
    for (int i = 0; i < 8; i++) {
        out[i] = (unsigned char)(hi >> (8 * i));
        out[8 + i] = (unsigned char)(lo >> (8 * i));
    }
}

/* SL_RID_BYTES fresh random bytes. */
static void random_bytes(unsigned char *out)
{
    if (sl_rid_used + SL_RID_BYTES > SL_RID_POOL) {
        ssize_t got;
        do
            got = getrandom(sl_rid_pool, sizeof(sl_rid_pool), GRND_NONBLOCK);
        while (got < 0 && errno == EINTR);
        if (got != (ssize_t)sizeof(sl_rid_pool)) {
            fallback_bytes(out);
            return;
        }
        sl_rid_used = 0;
    }
    memcpy(out, sl_rid_pool + sl_rid_used, SL_RID_BYTES);
    sl_rid_used += SL_RID_BYTES;
}

void sl_request_id_new(char *out, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char r[SL_RID_BYTES];
    char id[SL_REQUEST_ID_LEN + 1];

    if (!out || n == 0)
        return;
    random_bytes(r);
    for (size_t i = 0; i < SL_RID_BYTES; i++) {
        id[2 * i] = hex[r[i] >> 4];
        id[2 * i + 1] = hex[r[i] & 0xf];
    }
    id[SL_REQUEST_ID_LEN] = '\0';
    size_t k = n - 1 < SL_REQUEST_ID_LEN ? n - 1 : SL_REQUEST_ID_LEN;
    memcpy(out, id, k);
    out[k] = '\0';
}

int sl_request_id_valid(const char *s, size_t len)
{
    if (!s || len == 0 || len > SL_REQUEST_ID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return 0;
    return 1;
}
