/* log.h -- leveled logging to stderr
 *
 * sl_log() checks the level before formatting, so a disabled debug line
 * costs one comparison. Lines are written with one write(2) each, so lines
 * from different threads never interleave.
 */
#ifndef SL_LOG_H
#define SL_LOG_H

#include <stdatomic.h>
#include <stdbool.h>

enum sl_log_level { SL_LOG_ERROR, SL_LOG_WARN, SL_LOG_INFO, SL_LOG_DEBUG };

extern int sl_log_level; /* lines above this level are dropped */

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

/* level -> "error", "warn", "info", "debug". */
const char *sl_log_level_name(int level);

/* "error", "warn", "info", "debug" -> level; -1 when unknown. */
int sl_log_level_parse(const char *name);

#endif
