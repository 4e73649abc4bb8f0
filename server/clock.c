/* clock.c -- the one monotonic clock of the process */
#include "clock.h"

#include <time.h>

int64_t sl_clock_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t sl_clock_ms(void)
{
    return sl_clock_us() / 1000;
}
