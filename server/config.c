/* config.c -- option table driving flags, environment, --help and checks
 *
 * Adding an option is one row in sl_opts[] (and a field in struct
 * sl_config). Values are parsed and range-checked here, once, so the rest of
 * the server only sees valid configuration.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

enum sl_opt_type { SL_OPT_STR, SL_OPT_INT, SL_OPT_MS, SL_OPT_LEVEL };

/* Which commands take an option. */
#define SL_CMD_SERVE 1
#define SL_CMD_IMPORT 2

struct sl_opt {
    const char *name;      /* flag without "--" */
    enum sl_opt_type type; /* how the value is parsed */
    size_t offset;         /* field in struct sl_config */
    long min, max;         /* range of INT and MS values */
    const char *def;       /* default, as text */
    int commands;          /* SL_CMD_* mask */
    const char *help;      /* one line for --help */
};

#define SL_OFF(f) offsetof(struct sl_config, f)
#define SL_BOTH (SL_CMD_SERVE | SL_CMD_IMPORT)

static const struct sl_opt sl_opts[] = {
    {"backend", SL_OPT_STR, SL_OFF(backend), 0, 0, "sqlite:servicelogs.db",
     SL_BOTH, "storage URI: sqlite:PATH, memory: or postgres://..."},
    {"grpc-listen", SL_OPT_STR, SL_OFF(grpc_listen), 0, 0, "127.0.0.1:50051",
     SL_CMD_SERVE, "gRPC listen address HOST:PORT"},
    {"http-listen", SL_OPT_STR, SL_OFF(http_listen), 0, 0, "127.0.0.1:8080",
     SL_CMD_SERVE, "REST shim listen address HOST:PORT (\"\" = no shim)"},
    {"upstream", SL_OPT_STR, SL_OFF(upstream), 0, 0, "", SL_CMD_SERVE,
     "shim only: forward REST calls to this gRPC HOST:PORT"},
    {"import", SL_OPT_STR, SL_OFF(import_file), 0, 0, "", SL_CMD_SERVE,
     "import this JSON file into the backend before serving"},
    {"upstream-timeout", SL_OPT_MS, SL_OFF(upstream_timeout_ms), 1, 600000,
     "5s", SL_CMD_SERVE, "deadline of each shim call to the gRPC server"},
    {"threads", SL_OPT_INT, SL_OFF(threads), 0, 256, "0", SL_CMD_SERVE,
     "gRPC worker threads (0 = one per core)"},
    {"http-threads", SL_OPT_INT, SL_OFF(http_threads), 0, 256, "0",
     SL_CMD_SERVE,
     "REST shim threads (0 = four per core: each blocks on its upstream call)"},
    {"slots", SL_OPT_INT, SL_OFF(slots), 1, 1024, "32", SL_CMD_SERVE,
     "pre-posted request slots per worker thread"},
    {"shutdown-grace", SL_OPT_MS, SL_OFF(shutdown_grace_ms), 0, 3600000, "10s",
     SL_CMD_SERVE, "time in-flight calls get to finish at shutdown"},
    {"max-request-bytes", SL_OPT_INT, SL_OFF(max_request_bytes), 64, 16777216,
     "65536", SL_CMD_SERVE, "largest gRPC request message"},
    {"health-interval", SL_OPT_MS, SL_OFF(health_interval_ms), 10, 3600000,
     "1s", SL_CMD_SERVE, "how often the backend is probed for health"},
    {"log-level", SL_OPT_LEVEL, SL_OFF(log_level), 0, 0, "info", SL_BOTH,
     "error, warn, info or debug"},
};

#define SL_NOPTS (sizeof(sl_opts) / sizeof(sl_opts[0]))

static int cmd_mask(const char *command)
{
    return strcmp(command, "import") == 0 ? SL_CMD_IMPORT : SL_CMD_SERVE;
}

static void env_name(const struct sl_opt *o, char *buf, size_t n)
{
    size_t i = (size_t)snprintf(buf, n, "SERVICELOGS_");
    for (const char *p = o->name; *p && i + 1 < n; p++)
        buf[i++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    buf[i] = '\0';
}

/* "250ms", "5s", "2m" or a bare number of milliseconds. */
static int parse_ms(const char *s, long *out)
{
    char *end;
    errno = 0;
    if (!isdigit((unsigned char)*s))
        return -1;
    long long v = strtoll(s, &end, 10);
    long long mul = 1;
    if (errno)
        return -1;
    if (strcmp(end, "ms") == 0 || *end == '\0')
        mul = 1;
    else if (strcmp(end, "s") == 0)
        mul = 1000;
    else if (strcmp(end, "m") == 0)
        mul = 60000;
    else
        return -1;
    if (v > LONG_MAX / mul)
        return -1;
    *out = (long)(v * mul);
    return 0;
}

static int parse_int(const char *s, long *out)
{
    char *end;
    errno = 0;
    if (!*s || isspace((unsigned char)*s))
        return -1;
    long v = strtol(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

/* Sets one option from text; `from` names the source for the error. */
static int set_opt(struct sl_config *cfg, const struct sl_opt *o,
                   const char *val, const char *from, struct sl_err *err)
{
    char *field = (char *)cfg + o->offset;
    long v = 0;
    switch (o->type) {
    case SL_OPT_STR:
        *(const char **)field = val;
        return SL_OK;
    case SL_OPT_LEVEL:
        v = sl_log_level_parse(val);
        if (v < 0)
            return sl_err_set(err, SL_EINVAL,
                              "%s: '%.64s' is not a log level (expected "
                              "error, warn, info or debug)",
                              from, val);
        *(int *)field = (int)v;
        return SL_OK;
    case SL_OPT_INT:
        if (parse_int(val, &v) < 0 || v < o->min || v > o->max)
            return sl_err_set(err, SL_EINVAL,
                              "%s: '%.64s' is not an integer from %ld to %ld",
                              from, val, o->min, o->max);
        *(int *)field = (int)v;
        return SL_OK;
    case SL_OPT_MS:
        if (parse_ms(val, &v) < 0 || v < o->min || v > o->max)
            return sl_err_set(err, SL_EINVAL,
                              "%s: '%.64s' is not a duration from %ldms to "
                              "%ldms (e.g. 250ms, 5s, 2m)",
                              from, val, o->min, o->max);
        *(int *)field = (int)v;
        return SL_OK;
    }
    return sl_err_set(err, SL_EINTERNAL, "%s: bad option type", from);
}

static const struct sl_opt *find_opt(const char *name, size_t len, int mask)
{
    for (size_t i = 0; i < SL_NOPTS; i++)
        if ((sl_opts[i].commands & mask) && strlen(sl_opts[i].name) == len &&
            strncmp(sl_opts[i].name, name, len) == 0)
            return &sl_opts[i];
    return NULL;
}

void sl_config_usage(FILE *out, const char *command)
{
    int mask = cmd_mask(command);
    if (mask == SL_CMD_IMPORT)
        fprintf(out, "usage: servicelogs-server import [options] FILE\n\n"
                     "Loads FILE ({\"services\": [...]}) into the backend in "
                     "one transaction.\n\noptions:\n");
    else
        fprintf(out, "usage: servicelogs-server [serve] [options]\n"
                     "       servicelogs-server import [options] FILE\n\n"
                     "Serves modelarts.v1.ServiceLogs over gRPC and REST.\n\n"
                     "options (each also read from the environment variable "
                     "shown):\n");
    for (size_t i = 0; i < SL_NOPTS; i++) {
        const struct sl_opt *o = &sl_opts[i];
        if (!(o->commands & mask))
            continue;
        char env[64];
        env_name(o, env, sizeof(env));
        fprintf(out, "  --%-20s %s\n  %-22s [%s; default \"%s\"]\n", o->name,
                o->help, "", env, o->def);
    }
    fprintf(out, "  --%-20s %s\n  --%-20s %s\n", "help", "show this help",
            "version", "show the version");
}

int sl_config_load(struct sl_config *cfg, const char *command, int argc,
                   char **argv, char ***rest, int *n_rest, int *exit_now,
                   FILE *out, struct sl_err *err)
{
    int mask = cmd_mask(command);
    int rc;
    *exit_now = 0;
    *n_rest = 0;
    *rest = NULL;
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < SL_NOPTS; i++) {
        const struct sl_opt *o = &sl_opts[i];
        char from[96];
        snprintf(from, sizeof(from), "default of --%s", o->name);
        if ((rc = set_opt(cfg, o, o->def, from, err)) != SL_OK)
            return rc;
        char env[64];
        env_name(o, env, sizeof(env));
        const char *ev = getenv(env);
        if (ev && (o->commands & mask) &&
            (rc = set_opt(cfg, o, ev, env, err)) != SL_OK)
            return rc;
    }
    /* Positional arguments are moved to the front of argv, in order. */
    int npos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            while (++i < argc)
                argv[npos++] = argv[i];
            break;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            argv[npos++] = argv[i];
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            sl_config_usage(out, command);
            *exit_now = 1;
            return SL_OK;
        }
        if (strcmp(a, "--version") == 0) {
            fprintf(out, "servicelogs-server %s\n", SL_VERSION);
            *exit_now = 1;
            return SL_OK;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const struct sl_opt *o = find_opt(name, len, mask);
        if (!o)
            return sl_err_set(err, SL_EINVAL,
                              "unknown option '--%.*s' for %s (see --help)",
                              (int)(len > 64 ? 64 : len), name, command);
        const char *val = eq ? eq + 1 : NULL;
        if (!val) {
            if (i + 1 >= argc)
                return sl_err_set(err, SL_EINVAL, "--%s needs a value",
                                  o->name);
            val = argv[++i];
        }
        char from[64];
        snprintf(from, sizeof(from), "--%s", o->name);
        if ((rc = set_opt(cfg, o, val, from, err)) != SL_OK)
            return rc;
    }
    *rest = argv;
    *n_rest = npos;
    return SL_OK;
}

void sl_config_log(const struct sl_config *cfg, const char *command)
{
    /* Backend URIs may carry a password (postgres://user:pw@host/db): the
     * part between "://" and '@' is not logged. */
    char backend[256];
    const char *b = cfg->backend;
    const char *at = strchr(b, '@');
    const char *sep = strstr(b, "://");
    if (at && sep && sep < at)
        snprintf(backend, sizeof(backend), "%.*s***%s",
                 (int)(sep - b + 3 > 64 ? 64 : sep - b + 3), b, at);
    else
        snprintf(backend, sizeof(backend), "%s", b);
    sl_log(SL_LOG_INFO,
           "config: command=%s backend=%s grpc-listen=%s http-listen=%s "
           "upstream=%s upstream-timeout=%dms threads=%d http-threads=%d "
           "slots=%d shutdown-grace=%dms max-request-bytes=%d "
           "health-interval=%dms log-level=%d",
           command, backend, cfg->grpc_listen, cfg->http_listen, cfg->upstream,
           cfg->upstream_timeout_ms, cfg->threads, cfg->http_threads,
           cfg->slots, cfg->shutdown_grace_ms, cfg->max_request_bytes,
           cfg->health_interval_ms, cfg->log_level);
}
