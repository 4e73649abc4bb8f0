/* procstat.h -- the process_* metrics, read from /proc/self
 *
 * The families every Prometheus client library exports for its process
 * (client_python's ProcessCollector, client_golang's process collector),
 * with their names, types, units and help texts:
 *   process_cpu_seconds_total        counter  user + system CPU time
 *   process_virtual_memory_bytes     gauge    /proc/self/stat vsize
 *   process_resident_memory_bytes    gauge    rss pages x page size
 *   process_start_time_seconds       gauge    boot time (/proc/stat btime)
 *                                             + starttime / clock ticks
 *   process_open_fds                 gauge    entries of /proc/self/fd
 *   process_max_fds                  gauge    RLIMIT_NOFILE soft limit
 * Read at every scrape (a few system calls, one directory walk); a family
 * whose source cannot be read is left out, as the client libraries do.
 * THREAD SAFETY: reentrant; no state.
 */
#ifndef SL_PROCSTAT_H
#define SL_PROCSTAT_H

#include <stdint.h>

#include "buf.h"

struct sl_procstat {
    double cpu_seconds; /* utime + stime, seconds */
    uint64_t vm_bytes;  /* virtual memory size */
    uint64_t rss_bytes; /* resident set size */
    double start_time;  /* seconds since the Unix epoch */
    long open_fds;      /* -1: unknown */
    long max_fds;       /* -1: unknown (or unlimited) */
    int have_stat;      /* the first four are set */
};

/* Parses the text of /proc/<pid>/stat (the process name in parentheses
 * may hold spaces and parentheses: fields are counted after the last
 * ')') with clock ticks per second, page size and boot time (seconds
 * since the epoch) into out's first four fields. 0, or -1 (out
 * untouched) when stat is not such a line. */
int sl_procstat_parse_stat(const char *stat, long ticks, long page_size,
                           double boot_time, struct sl_procstat *out);

/* Parses "btime N" out of the text of /proc/stat: 0 and *out, or -1. */
int sl_procstat_parse_btime(const char *text, double *out);

/* Reads this process's figures (whatever can be read; have_stat, open_fds
 * and max_fds say what was). */
void sl_procstat_read(struct sl_procstat *out);

/* Appends the families above (# HELP, # TYPE, one sample each) of
 * sl_procstat_read() to out. */
void sl_procstat_render(struct sl_buf *out);

#endif
