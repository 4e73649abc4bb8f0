/* log.c -- leveled logging to stderr */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <grpc/support/log.h>

int sl_log_level = SL_LOG_INFO;

static atomic_int sl_grpc_quiet;

static const char *const sl_level_names[] = {"error", "warn", "info", "debug"};

void sl_log_write(int level, const char *fmt, ...)
{
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n =
        snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                 sl_level_names[level < 0   ? 0
                                : level > 3 ? 3
                                            : level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
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
