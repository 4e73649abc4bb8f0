/* log.c -- leveled logging to stderr, as text or JSON lines (log.h) */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <grpc/support/log.h>

#include "json.h"

int sl_log_level = SL_LOG_INFO;
int sl_log_format = SL_LOG_TEXT;

static atomic_int sl_grpc_quiet;

static const char *const sl_level_names[] = {"error", "warn", "info", "debug"};

/* A sink of sl_json_string() into a fixed buffer sized for the worst case
 * (SL_LOG_LINE_MAX): nothing is ever cut. */
struct line_sink {
    char *p;
    size_t len;
};

static void line_put(void *ctx, const char *p, size_t n)
{
    struct line_sink *s = ctx;
    memcpy(s->p + s->len, p, n);
    s->len += n;
}

size_t sl_log_format_line(char *out, int format, int level,
                          const struct timespec *ts, const char *msg)
{
    char now[96]; /* 24 bytes; room for any int gcc assumes */
    struct tm tm;
    char cut[SL_LOG_MSG_MAX];

    gmtime_r(&ts->tv_sec, &tm);
    snprintf(now, sizeof(now), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, ts->tv_nsec / 1000000);
    snprintf(cut, sizeof(cut), "%s", msg ? msg : "");
    if (format != SL_LOG_JSON) {
        int n = snprintf(out, SL_LOG_MSG_MAX, "%s %s %s", now,
                         sl_log_level_name(level), cut);
        size_t len = n < 0 ? 0 : (size_t)n;
        if (len > SL_LOG_MSG_MAX - 2)
            len = SL_LOG_MSG_MAX - 2;
        out[len++] = '\n';
        return len;
    }
    struct line_sink s = {out, 0};
    line_put(&s, "{\"time\":\"", 9);
    line_put(&s, now, strlen(now));
    line_put(&s, "\",\"level\":\"", 11);
    const char *lv = sl_log_level_name(level);
    line_put(&s, lv, strlen(lv));
    line_put(&s, "\",\"msg\":", 8);
    sl_json_string(cut, line_put, &s);
    line_put(&s, "}\n", 2);
    return s.len;
}

void sl_log_write(int level, const char *fmt, ...)
{
    char msg[SL_LOG_MSG_MAX];
    char line[SL_LOG_LINE_MAX];
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t len = sl_log_format_line(line, sl_log_format, level, &ts, msg);
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

int sl_log_format_parse(const char *name)
{
    if (strcmp(name, "text") == 0)
        return SL_LOG_TEXT;
    if (strcmp(name, "json") == 0)
        return SL_LOG_JSON;
    return -1;
}

const char *sl_log_format_name(int format)
{
    return format == SL_LOG_JSON ? "json" : "text";
}

const char *sl_log_level_name(int level)
{
    return sl_level_names[level < 0 ? 0 : level > 3 ? 3 : level];
}

int sl_log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, sl_level_names[i]) == 0)
            return i;
    return -1;
}

static void grpc_log_line(gpr_log_func_args *args)
{
    int level = SL_LOG_DEBUG;
    if (args->severity == GPR_LOG_SEVERITY_ERROR &&
        !atomic_load(&sl_grpc_quiet))
        level = SL_LOG_WARN;
    sl_log(level, "grpc: %s:%d: %s", args->file, args->line, args->message);
}

void sl_log_grpc_install(void)
{
    gpr_set_log_verbosity(GPR_LOG_SEVERITY_DEBUG);
    gpr_set_log_function(grpc_log_line);
}

void sl_log_grpc_quiet(int quiet)
{
    atomic_store(&sl_grpc_quiet, quiet);
}

bool sl_log_once_a_second(atomic_llong *last_s)
{
    long long now = (long long)time(NULL);
    long long last = atomic_load_explicit(last_s, memory_order_relaxed);
    return now != last && atomic_compare_exchange_strong(last_s, &last, now);
}
