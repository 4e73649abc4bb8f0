/* procstat.c -- the process_* metrics, read from /proc/self (procstat.h) */
#include "procstat.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* The stat fields after the ')' that ends the name, counted from 0 (field
 * 3 of proc(5), "state", is 0). */
#define F_UTIME 11
#define F_STIME 12
#define F_STARTTIME 19
#define F_VSIZE 20
#define F_RSS 21

int sl_procstat_parse_stat(const char *stat, long ticks, long page_size,
                           double boot_time, struct sl_procstat *out)
{
    unsigned long long f[F_RSS + 1];
    const char *p = stat ? strrchr(stat, ')') : NULL;

    if (!p || ticks <= 0 || page_size <= 0)
        return -1;
    p++;
    for (int i = 0; i <= F_RSS; i++) {
        while (*p == ' ')
            p++;
        if (!*p)
            return -1;
        if (i == 0) { /* the state letter */
            f[i] = 0;
            p++;
            if (*p != ' ')
                return -1;
            continue;
        }
        char *end;
        if (*p == '-') /* signed fields (priority, nice...), not read */
            p++;
        f[i] = strtoull(p, &end, 10);
        if (end == p || (*end != ' ' && *end != '\n' && *end != '\0'))
            return -1;
        p = end;
    }
    out->cpu_seconds = (double)(f[F_UTIME] + f[F_STIME]) / (double)ticks;
    out->vm_bytes = f[F_VSIZE];
    out->rss_bytes = f[F_RSS] * (unsigned long long)page_size;
    out->start_time = boot_time + (double)f[F_STARTTIME] / (double)ticks;
    out->have_stat = 1;
    return 0;
}

int sl_procstat_parse_btime(const char *text, double *out)
{
    for (const char *p = text; p && *p;) {
        if (strncmp(p, "btime ", 6) == 0) {
            char *end;
            unsigned long long v = strtoull(p + 6, &end, 10);
            if (end == p + 6)
                return -1;
            *out = (double)v;
            return 0;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return -1;
}

/* The first n - 1 bytes of path into buf (NUL-terminated); -1 when it
 * cannot be read. */
static int read_text(const char *path, char *buf, size_t n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    while (len < n - 1) {
        ssize_t r = read(fd, buf + len, n - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    return len ? 0 : -1;
}

static long count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    long n = 0;
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* not the directory's own descriptor */
}

void sl_procstat_read(struct sl_procstat *out)
{
    char stat[1024];
    char text[8192]; /* btime is in the first lines of /proc/stat */
    double boot = 0;
    struct rlimit rl;

    memset(out, 0, sizeof(*out));
    if (read_text("/proc/self/stat", stat, sizeof(stat)) == 0 &&
        read_text("/proc/stat", text, sizeof(text)) == 0 &&
        sl_procstat_parse_btime(text, &boot) == 0)
        sl_procstat_parse_stat(stat, sysconf(_SC_CLK_TCK),
                               sysconf(_SC_PAGESIZE), boot, out);
    out->open_fds = count_fds();
    out->max_fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
                           rl.rlim_cur != RLIM_INFINITY &&
                           rl.rlim_cur <= (rlim_t)INT64_MAX
                       ? (long)rl.rlim_cur
                       : -1;
}

/* # HELP, # TYPE and the one sample "name value". */
static void put_family(struct sl_buf *out, const char *name, const char *type,
                       const char *help, const char *value)
{
    char line[256];
    snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s %s\n%s %s\n", name,
             help, name, type, name, value);
    sl_buf_puts(out, line);
}

void sl_procstat_render(struct sl_buf *out)
{
    struct sl_procstat ps;
    char v[64];

    sl_procstat_read(&ps);
    if (ps.have_stat) {
        snprintf(v, sizeof(v), "%" PRIu64, ps.vm_bytes);
        put_family(out, "process_virtual_memory_bytes", "gauge",
                   "Virtual memory size in bytes.", v);
        snprintf(v, sizeof(v), "%" PRIu64, ps.rss_bytes);
        put_family(out, "process_resident_memory_bytes", "gauge",
                   "Resident memory size in bytes.", v);
        snprintf(v, sizeof(v), "%.2f", ps.start_time);
        put_family(out, "process_start_time_seconds", "gauge",
                   "Start time of the process since unix epoch in seconds.", v);
        snprintf(v, sizeof(v), "%.2f", ps.cpu_seconds);
        put_family(out, "process_cpu_seconds_total", "counter",
                   "Total user and system CPU time spent in seconds.", v);
    }
    if (ps.open_fds >= 0) {
        snprintf(v, sizeof(v), "%ld", ps.open_fds);
        put_family(out, "process_open_fds", "gauge",
                   "Number of open file descriptors.", v);
    }
    if (ps.max_fds >= 0) {
        snprintf(v, sizeof(v), "%ld", ps.max_fds);
        put_family(out, "process_max_fds", "gauge",
                   "Maximum number of open file descriptors.", v);
    }
}
