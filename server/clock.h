/* clock.h -- the one monotonic clock of the process
 *
 * Every duration, deadline and timeout the server and the shim measure is
 * in microseconds of CLOCK_MONOTONIC, read here. gRPC's
 * GPR_CLOCK_MONOTONIC reads the same clock (checked on gRPC 1.51), so a
 * deadline converted from a gpr_timespec compares with sl_clock_us().
 */
#ifndef SL_CLOCK_H
#define SL_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC now, in microseconds. THREAD SAFETY: any thread. */
int64_t sl_clock_us(void);

/* The same in milliseconds. */
int64_t sl_clock_ms(void);

#endif
