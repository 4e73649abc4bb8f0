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
#include "store.h"

enum sl_opt_type {
    SL_OPT_STR,
    SL_OPT_INT,
    SL_OPT_MS,
    SL_OPT_LEVEL,
    SL_OPT_BOOL,
    SL_OPT_LOGFMT /* enum sl_log_format */
};

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
    {"threads", SL_OPT_INT, SL_OFF(threads), 0, SL_MAX_THREADS, "0",
     SL_CMD_SERVE, "gRPC worker threads (0 = two per core)"},
    {"http-threads", SL_OPT_INT, SL_OFF(http_threads), 0, SL_MAX_THREADS, "0",
     SL_CMD_SERVE,
     "REST shim threads (0 = one per core in-process, four per core with "
     "--upstream, where each blocks on its upstream call)"},
    {"slots", SL_OPT_INT, SL_OFF(slots), 1, 1024, "32", SL_CMD_SERVE,
     "pre-posted request slots per worker thread"},
    {"drain-delay", SL_OPT_MS, SL_OFF(drain_delay_ms), 0, 3600000, "0",
     SL_CMD_SERVE,
     "at SIGTERM, keep serving this long with health NOT_SERVING first"},
    {"shutdown-grace", SL_OPT_MS, SL_OFF(shutdown_grace_ms), 0, 3600000, "10s",
     SL_CMD_SERVE, "time in-flight calls get to finish at shutdown"},
    {"max-request-bytes", SL_OPT_INT, SL_OFF(max_request_bytes), 64, 16777216,
     "65536", SL_CMD_SERVE, "largest gRPC request message"},
    {"max-response-bytes", SL_OPT_INT, SL_OFF(max_response_bytes), 65536,
     2147483647, "67108864", SL_CMD_SERVE,
     "largest answer, sent (gRPC) and taken by the shim alike"},
    {"health-interval", SL_OPT_MS, SL_OFF(health_interval_ms), 10, 3600000,
     "1s", SL_CMD_SERVE, "how often the backend is probed for health"},
    {"auth-tokens", SL_OPT_STR, SL_OFF(auth_tokens), 0, 0, "", SL_CMD_SERVE,
     "tokens file (TOKEN PROJECT_ID per line); \"\" = no auth"},
    {"insecure", SL_OPT_BOOL, SL_OFF(insecure), 0, 1, "false", SL_CMD_SERVE,
     "allow listening beyond loopback without --auth-tokens"},
    {"tls-cert", SL_OPT_STR, SL_OFF(tls_cert), 0, 0, "", SL_CMD_SERVE,
     "serve gRPC and REST over TLS with this certificate chain (PEM)"},
    {"tls-key", SL_OPT_STR, SL_OFF(tls_key), 0, 0, "", SL_CMD_SERVE,
     "private key of --tls-cert (PEM)"},
    {"tls-client-ca", SL_OPT_STR, SL_OFF(tls_client_ca), 0, 0, "", SL_CMD_SERVE,
     "mutual TLS: require client certificates from this CA"},
    {"upstream-ca", SL_OPT_STR, SL_OFF(upstream_ca), 0, 0, "", SL_CMD_SERVE,
     "shim: dial the gRPC upstream over TLS, trusting this CA"},
    {"upstream-cert", SL_OPT_STR, SL_OFF(upstream_cert), 0, 0, "", SL_CMD_SERVE,
     "shim: client certificate for a mutual-TLS upstream"},
    {"upstream-key", SL_OPT_STR, SL_OFF(upstream_key), 0, 0, "", SL_CMD_SERVE,
     "shim: private key of --upstream-cert"},
    {"upstream-name", SL_OPT_STR, SL_OFF(upstream_name), 0, 0, "", SL_CMD_SERVE,
     "shim: name to expect in the upstream's certificate"},
    {"max-concurrent-calls", SL_OPT_INT, SL_OFF(max_concurrent_calls), 1,
     1000000, "1024", SL_CMD_SERVE,
     "QueryServiceLogs calls in flight at most; beyond: RESOURCE_EXHAUSTED"},
    {"max-watchers", SL_OPT_INT, SL_OFF(max_watchers), 1, 1000000, "2048",
     SL_CMD_SERVE,
     "WatchServiceLogs streams open at once; beyond: RESOURCE_EXHAUSTED"},
    {"watch-queue", SL_OPT_INT, SL_OFF(watch_queue), 1, 1000000, "1024",
     SL_CMD_SERVE,
     "logs a watcher may fall behind; beyond, its stream ends with "
     "RESOURCE_EXHAUSTED"},
    {"cache-bytes", SL_OPT_INT, SL_OFF(cache_bytes), 0, 2147483647, "33554432",
     SL_CMD_SERVE,
     "response cache budget in bytes: answers of hot queries, dropped when "
     "their service changes (0: no cache)"},
    {"keepalive", SL_OPT_MS, SL_OFF(keepalive_ms), 1000, 86400000, "30s",
     SL_CMD_SERVE,
     "HTTP/2 ping interval on gRPC connections with calls open (a dead "
     "watcher is found within it plus 10s)"},
    {"max-connection-streams", SL_OPT_INT, SL_OFF(max_connection_streams), 1,
     100000, "100", SL_CMD_SERVE,
     "gRPC streams one connection may have open at once"},
    {"max-connection-resets", SL_OPT_INT, SL_OFF(max_connection_resets), 1,
     1000000, "200", SL_CMD_SERVE,
     "gRPC streams one connection may reset before their request within a "
     "second (or leave answered beyond --max-connection-streams); beyond, "
     "the connection is aborted (rapid reset)"},
    {"max-inflight-bytes", SL_OPT_INT, SL_OFF(max_inflight_bytes), 65536,
     2147483647, "33554432", SL_CMD_SERVE,
     "gRPC reply bytes held for clients at once; beyond: RESOURCE_EXHAUSTED"},
    {"send-timeout", SL_OPT_MS, SL_OFF(send_timeout_ms), 100, 3600000, "30s",
     SL_CMD_SERVE, "a gRPC reply its client has not read by then is cancelled"},
    {"max-connection-idle", SL_OPT_MS, SL_OFF(max_connection_idle_ms), 0,
     86400000, "0", SL_CMD_SERVE,
     "close gRPC connections idle this long (0: never)"},
    {"max-connection-age", SL_OPT_MS, SL_OFF(max_connection_age_ms), 0,
     86400000, "0", SL_CMD_SERVE,
     "close gRPC connections this old, gracefully (0: never)"},
    {"query-timeout", SL_OPT_MS, SL_OFF(query_timeout_ms), 1, 3600000, "5s",
     SL_CMD_SERVE,
     "backend time limit of a query (a shorter client "
     "deadline wins)"},
    {"http-max-connections", SL_OPT_INT, SL_OFF(http_max_connections), 1,
     100000, "1024", SL_CMD_SERVE, "concurrent REST connections"},
    {"http-idle-timeout", SL_OPT_MS, SL_OFF(http_idle_timeout_ms), 1000,
     3600000, "30s", SL_CMD_SERVE, "idle REST connections are closed after"},
    {"http-header-timeout", SL_OPT_MS, SL_OFF(http_header_timeout_ms), 1000,
     600000, "10s", SL_CMD_SERVE,
     "a REST request (line, headers, any body) must arrive within this"},
    {"http-max-header-bytes", SL_OPT_INT, SL_OFF(http_max_header_bytes), 4096,
     1048576, "65536", SL_CMD_SERVE,
     "request line and headers of one REST request (URL included)"},
    {"http-max-watchers", SL_OPT_INT, SL_OFF(http_max_watchers), 1, 100000,
     "256", SL_CMD_SERVE,
     "REST watch (SSE) clients at once; beyond: 429 ModelArts.2799"},
    {"http-sse-keepalive", SL_OPT_MS, SL_OFF(http_sse_keepalive_ms), 100,
     3600000, "15s", SL_CMD_SERVE,
     "a REST watch sends a comment line after this long without an event"},
    {"cors-origins", SL_OPT_STR, SL_OFF(cors_origins), 0, 0, "", SL_CMD_SERVE,
     "REST CORS: comma-separated origins allowed, or * (\"\" = no CORS)"},
    {"if-empty", SL_OPT_BOOL, SL_OFF(if_empty), 0, 1, "false", SL_CMD_IMPORT,
     "import only when the backend holds no service yet"},
    {"log-level", SL_OPT_LEVEL, SL_OFF(log_level), 0, 0, "info", SL_BOTH,
     "error, warn, info or debug"},
    {"log-format", SL_OPT_LOGFMT, SL_OFF(log_format), 0, 0, "text", SL_BOTH,
     "stderr lines: text, or json (one JSON object per line)"},
    {"port-file", SL_OPT_STR, SL_OFF(port_file), 0, 0, "", SL_CMD_SERVE,
     "once listening, write grpc=PORT and http=PORT lines here (for port 0)"},
    /* The pg-* settings reach the backend as struct sl_store_options
     * (store.h), which main.c fills from these fields. */
    {"pg-transaction-pooling", SL_OPT_BOOL, SL_OFF(pg_transaction_pooling), 0,
     1, "false", SL_BOTH,
     "the postgres URI goes through a transaction pooler (PgBouncer "
     "pool_mode=transaction): no named prepared statements"},
    {"pg-listen-uri", SL_OPT_STR, SL_OFF(pg_listen_uri), 0, 0, "", SL_CMD_SERVE,
     "postgres URI of the change feed's LISTEN session, direct to the server "
     "when the backend URI goes through a transaction pooler (\"\": the "
     "backend URI)"},
    {"pg-pool-size", SL_OPT_INT, SL_OFF(pg_pool_size), 0, 100000, "0",
     SL_CMD_SERVE,
     "backend connections this server holds at most, shared by all its "
     "threads (>= 2: the change feed keeps one); 0 = one per thread"},
    {"pg-answer-timeout", SL_OPT_MS, SL_OFF(pg_answer_timeout_ms), 100, 3600000,
     "30s", SL_BOTH,
     "postgres: bound on each connection's open (connect, schema check, "
     "migration) and on an import's wait for any answer"},
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
    case SL_OPT_BOOL:
        if (strcmp(val, "true") == 0 || strcmp(val, "1") == 0 ||
            strcmp(val, "yes") == 0)
            v = 1;
        else if (strcmp(val, "false") == 0 || strcmp(val, "0") == 0 ||
                 strcmp(val, "no") == 0 || *val == '\0')
            v = 0;
        else
            return sl_err_set(err, SL_EINVAL,
                              "%s: '%.64s' is not a boolean (true or false)",
                              from, val);
        *(int *)field = (int)v;
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
    case SL_OPT_LOGFMT:
        v = sl_log_format_parse(val);
        if (v < 0)
            return sl_err_set(err, SL_EINVAL,
                              "%s: '%.64s' is not a log format (expected "
                              "text or json)",
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
        if (!val && o->type == SL_OPT_BOOL)
            val = "true"; /* --insecure alone */
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

int sl_config_peek_log_format(int argc, char **argv)
{
    const char *val = getenv("SERVICELOGS_LOG_FORMAT");
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strncmp(argv[i], "--log-format=", 13) == 0)
            val = argv[i] + 13;
        else if (strcmp(argv[i], "--log-format") == 0 && i + 1 < argc)
            val = argv[++i];
    }
    int f = val ? sl_log_format_parse(val) : -1;
    return f < 0 ? SL_LOG_TEXT : f;
}

void sl_config_log(const struct sl_config *cfg, const char *command)
{
    char line[2048];
    int mask = cmd_mask(command);
    size_t n =
        (size_t)snprintf(line, sizeof(line), "config: command=%s", command);
    for (size_t i = 0; i < SL_NOPTS && n < sizeof(line); i++) {
        const struct sl_opt *o = &sl_opts[i];
        if (!(o->commands & mask))
            continue;
        const char *field = (const char *)cfg + o->offset;
        char val[256];
        if (o->type == SL_OPT_STR) {
            /* Only paths and addresses are strings; a backend URI may
             * carry a password (postgres://user:pw@host/db), masked. */
            char shown[200];
            sl_store_uri_redact(*(const char *const *)field, shown,
                                sizeof(shown));
            snprintf(val, sizeof(val), "\"%s\"", shown);
        } else if (o->type == SL_OPT_MS) {
            snprintf(val, sizeof(val), "%dms", *(const int *)field);
        } else if (o->type == SL_OPT_LEVEL) {
            snprintf(val, sizeof(val), "%s",
                     sl_log_level_name(*(const int *)field));
        } else if (o->type == SL_OPT_LOGFMT) {
            snprintf(val, sizeof(val), "%s",
                     sl_log_format_name(*(const int *)field));
        } else if (o->type == SL_OPT_BOOL) {
            snprintf(val, sizeof(val), "%s",
                     *(const int *)field ? "true" : "false");
        } else {
            snprintf(val, sizeof(val), "%d", *(const int *)field);
        }
        n += (size_t)snprintf(line + n, sizeof(line) - n, " %s=%s", o->name,
                              val);
    }
    sl_log(SL_LOG_INFO, "%s", line);
}
