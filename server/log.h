/* log.h -- leveled logging to stderr
 *
 * sl_log() checks the level before formatting, so a disabled debug line
 * costs one comparison. Lines are written with one write(2) each, so lines
 * from different threads never interleave.
 *
 * Two line formats (--log-format, sl_log_format):
 *   text  2026-11-27T23:06:07.123Z info shim: listening on ...
 *   json  {"time":"2026-11-27T23:06:07.123Z","level":"info",
 *          "msg":"shim: listening on ..."}
 * The message is cut at SL_LOG_MSG_MAX - 1 bytes either way; in JSON it
 * is escaped by common/json.h (always valid UTF-8, so a hostile byte in a
 * logged path cannot break or forge a line). The access lines
 * (accesslog.h) are JSON objects in both formats.
 */
#ifndef SL_LOG_H
#define SL_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

enum sl_log_level { SL_LOG_ERROR, SL_LOG_WARN, SL_LOG_INFO, SL_LOG_DEBUG };

extern int sl_log_level; /* lines above this level are dropped */

enum sl_log_format { SL_LOG_TEXT, SL_LOG_JSON };

extern int sl_log_format; /* enum sl_log_format; set once, before threads */

#define SL_LOG_MSG_MAX 1024 /* a message's bytes, NUL included */
/* Room for any formatted line: every message byte may become a 6-byte
 * escape in JSON. */
#define SL_LOG_LINE_MAX (6 * SL_LOG_MSG_MAX + 96)

#define sl_log(level, ...)                                                     \
    do {                                                                       \
        if ((level) <= sl_log_level)                                           \
            sl_log_write((level), __VA_ARGS__);                                \
    } while (0)

void sl_log_write(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Routes gRPC's own log lines (gpr_log) through sl_log: gRPC errors as
 * warnings, the rest at debug. Call once, before grpc_init(). */
void sl_log_grpc_install(void);

/* While quiet is non-zero, gRPC's error lines are logged at debug level:
 * for operations whose failure the caller reports itself in one line
 * (binding a port). Thread-safe. */
void sl_log_grpc_quiet(int quiet);

/* Rate limit for a warning an outage would repeat on every request: true
 * at most once per wall-clock second for one *last_s (the second of the
 * last true; start it at 0). Thread-safe (one compare-and-swap). */
bool sl_log_once_a_second(atomic_llong *last_s);

/* Writes one line of msg at level and time ts in format into out (at least
 * SL_LOG_LINE_MAX bytes), newline included; returns its length. Pure: what
 * sl_log_write() sends, and what tests/unit/test_log.c pins. */
size_t sl_log_format_line(char *out, int format, int level,
                          const struct timespec *ts, const char *msg);

/* "text", "json" -> enum sl_log_format; -1 when unknown. */
int sl_log_format_parse(const char *name);

/* enum sl_log_format -> "text", "json". */
const char *sl_log_format_name(int format);

/* level -> "error", "warn", "info", "debug". */
const char *sl_log_level_name(int level);

/* "error", "warn", "info", "debug" -> level; -1 when unknown. */
int sl_log_level_parse(const char *name);

#endif
