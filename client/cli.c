/* cli.c -- `servicelogs`: query, watch and record a service's update logs
 *
 * stdout gets the documented JSON (streamed log by log, so memory stays
 * bounded whatever the history length; `watch` adds one line per log as
 * it is recorded); stderr gets one human line on failure; the exit status
 * says what kind of failure (see usage()). The option table drives
 * parsing, environment fallbacks and --help; each option names the
 * commands that take it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/support/log.h>

#include "cli_log.h"
#include "json_out.h"
#include "names.h"
#include "servicelogs/client.h"

#ifndef SLC_VERSION
#define SLC_VERSION "unknown"
#endif

#define PROG "servicelogs"

/* Exit statuses: one per class of failure. */
enum cli_exit {
    EXIT_OK = 0,
    EXIT_LOCAL = 1,       /* local failure after the call started */
    EXIT_USAGE = 2,       /* bad command line, found before any network */
    EXIT_UNAVAILABLE = 3, /* unreachable, UNAVAILABLE, DEADLINE_EXCEEDED */
    EXIT_NOT_FOUND = 4,   /* NOT_FOUND */
    EXIT_SERVER = 5,      /* any other error status from the server */
};

enum opt_id {
    OPT_ADDR,
    OPT_PROJECT,
    OPT_SERVICE,
    OPT_UPDATE_TIME,
    OPT_NAME,
    OPT_INFER_TYPE,
    OPT_DURATION,
    OPT_TOKEN,
    OPT_TIMEOUT,
    OPT_TLS_CA,
    OPT_TLS_CERT,
    OPT_TLS_KEY,
    OPT_TLS_NAME,
    OPT_COUNT
};

/* The commands, as bits of cli_opt.cmds. */
enum cli_cmd {
    CMD_QUERY = 1,
    CMD_WATCH = 2,
    CMD_RECORD = 4,
    CMD_PUT = 8,
    CMD_ALL = 15,
};

struct cli_opt {
    const char *name; /* --name VALUE or --name=VALUE */
    const char *arg;  /* VALUE's name in --help */
    const char *env;  /* fallback environment variable, or NULL */
    const char *def;  /* default, or NULL (required when no default, unless
                         optional) */
    unsigned cmds;    /* the commands that take it (enum cli_cmd) */
    const char *help;
    bool optional; /* no default and not required: "default: none" */
};

static const struct cli_opt cli_opts[OPT_COUNT] = {
    [OPT_ADDR] = {"addr", "HOST:PORT", "SERVICELOGS_ADDR", "127.0.0.1:50051",
                  CMD_ALL, "server address (gRPC target)"},
    [OPT_PROJECT] = {"project", "ID", NULL, NULL, CMD_ALL,
                     "project ID: 1-64 characters of [A-Za-z0-9_-]"},
    [OPT_SERVICE] = {"service", "ID", NULL, NULL, CMD_ALL,
                     "service ID: 1-64 characters of [A-Za-z0-9_-]"},
    [OPT_UPDATE_TIME] = {"update-time", "MS", NULL, "0", CMD_QUERY | CMD_WATCH,
                         "only logs with exactly this update_time; 0: all"},
    [OPT_NAME] = {"name", "NAME", NULL, NULL, CMD_PUT,
                  "service name: 1-128 bytes"},
    [OPT_INFER_TYPE] = {"infer-type", "TYPE", NULL, NULL, CMD_PUT,
                        "real-time, edge or batch (never changes once set)"},
    [OPT_DURATION] = {"duration-ms", "MS", NULL, "0", CMD_WATCH,
                      "stop watching after MS (exit 0); 0: until the "
                      "stream ends"},
    [OPT_TOKEN] = {"token", "TOKEN", "SERVICELOGS_TOKEN", NULL, CMD_ALL,
                   "auth token (x-auth-token); prefer the env variable;\n"
                   "                         record and put-service need "
                   "the write role",
                   true},
    [OPT_TIMEOUT] = {"timeout-ms", "MS", "SERVICELOGS_TIMEOUT_MS", "5000",
                     CMD_QUERY | CMD_RECORD | CMD_PUT,
                     "deadline of the call, 1-86400000"},
    [OPT_TLS_CA] = {"tls-ca", "FILE", "SERVICELOGS_TLS_CA", NULL, CMD_ALL,
                    "connect over TLS, trusting the CA certificate(s)\n"
                    "                         of this PEM file; none: "
                    "plaintext",
                    true},
    [OPT_TLS_CERT] = {"tls-cert", "FILE", "SERVICELOGS_TLS_CERT", NULL, CMD_ALL,
                      "client certificate chain (PEM) for mutual TLS;\n"
                      "                         needs --tls-ca and "
                      "--tls-key",
                      true},
    [OPT_TLS_KEY] = {"tls-key", "FILE", "SERVICELOGS_TLS_KEY", NULL, CMD_ALL,
                     "its private key (PEM, unencrypted)", true},
    [OPT_TLS_NAME] = {"tls-name", "NAME", "SERVICELOGS_TLS_NAME", NULL, CMD_ALL,
                      "name expected in the server's certificate, "
                      "instead\n"
                      "                         of --addr's host; needs "
                      "--tls-ca",
                      true},
};

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: " PROG " query --project ID --service ID [options]\n"
            "       " PROG " watch --project ID --service ID [options]\n"
            "       " PROG " record --project ID --service ID [options] "
            "[FILE|-]\n"
            "       " PROG " put-service --project ID --service ID --name NAME "
            "--infer-type TYPE\n"
            "       " PROG " --help | --version\n\n"
            "query        prints the update logs of one service as the "
            "documented JSON.\n"
            "watch        prints the same document (the snapshot), then one "
            "compact JSON\n"
            "             line per log recorded or replaced afterwards (the "
            "REST watch's\n"
            "             \"event: log\" data), until the stream ends or "
            "--duration-ms.\n"
            "record       records one log: a JSON object shaped as a logs[] "
            "entry of the\n"
            "             document (import files too; cluster_id, "
            "extend_config and\n"
            "             config[].custom_spec / cluster_id included), read "
            "from FILE or\n"
            "             stdin (- or none); update_time (> 0) is its key: "
            "a known one\n"
            "             replaces that log. Prints {\"created\":true|false}.\n"
            "put-service  creates or renames a service. Prints "
            "{\"created\":true|false}.\n\nOptions:\n");
    static const char *const cmd_names[] = {"query", "watch", "record",
                                            "put-service"};
    for (int i = 0; i < OPT_COUNT; i++) {
        const struct cli_opt *o = &cli_opts[i];
        char flag[64], cmds[64] = "";
        snprintf(flag, sizeof(flag), "--%s %s", o->name, o->arg);
        if (o->cmds != CMD_ALL)
            for (int b = 0; b < 4; b++)
                if (o->cmds & (1u << b))
                    snprintf(cmds + strlen(cmds), sizeof(cmds) - strlen(cmds),
                             "%s%s", cmds[0] ? ", " : "", cmd_names[b]);
        fprintf(f, "  %-22s %s\n  %-22s [", flag, o->help, "");
        if (cmds[0])
            fprintf(f, "%s; ", cmds);
        if (o->env)
            fprintf(f, "%s; ", o->env);
        if (o->def)
            fprintf(f, "default %s]\n", o->def);
        else if (o->optional)
            fputs("default: none]\n", f);
        else
            fputs("required]\n", f);
    }
    fputs("\nExit status:\n"
          "  0  success: stdout holds the whole JSON document (watch: the "
          "stream ended\n"
          "     with OK or --duration-ms passed)\n"
          "  1  local failure: response too large for the client's limits "
          "or\n"
          "     malformed, out of memory, cannot write stdout, cannot read "
          "FILE\n"
          "  2  usage: bad option or value, a --tls-* file that cannot be "
          "read or\n"
          "     holds no PEM certificate/key, or a record FILE that is not a "
          "valid\n"
          "     log object, found before any network traffic\n"
          "  3  server unreachable or unavailable, or the deadline passed\n"
          "     (gRPC UNAVAILABLE, DEADLINE_EXCEEDED); over TLS also a "
          "failed\n"
          "     handshake: a server certificate --tls-ca did not sign or "
          "that does\n"
          "     not name the host (--tls-name), a client certificate the "
          "server\n"
          "     refuses or that is missing\n"
          "  4  no such service in this project (gRPC NOT_FOUND)\n"
          "  5  any other error answered by the server (INVALID_ARGUMENT,\n"
          "     FAILED_PRECONDITION for batch services or a changed "
          "infer-type,\n"
          "     UNAUTHENTICATED, PERMISSION_DENIED, RESOURCE_EXHAUSTED "
          "(watch: over\n"
          "     --max-watchers, or fell behind: watch again), INTERNAL, "
          "...)\n"
          "On failure stderr gets one line: " PROG ": <what>: <detail> "
          "(<gRPC status>,\n"
          "<ModelArts error code>), and stdout may hold a partial document.\n",
          f);
}

static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* Prints "servicelogs: <message>" and a hint; returns EXIT_USAGE. */
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(PROG ": ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\nTry '" PROG " --help'.\n", stderr);
    va_end(ap);
    return EXIT_USAGE;
}

/* True when s is 1-64 characters of [A-Za-z0-9_-]. */
static bool id_valid(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char ch = s[n];
        if (n >= 64 || !((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                         (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
            return false;
    }
    return n > 0;
}

/* Parses decimal digits only, min..max. */
static bool parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    int64_t v = 0;
    if (!s[0] || strlen(s) > 19)
        return false;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        int d = *p - '0';
        if (v > (INT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (v < min || v > max)
        return false;
    *out = v;
    return true;
}

static int exit_status(int code)
{
    switch (code) {
    case SLC_OK:
        return EXIT_OK;
    case SLC_EINVAL:
        return EXIT_USAGE;
    case SLC_EUNAVAILABLE:
        return EXIT_UNAVAILABLE;
    case SLC_ENOTFOUND:
        return EXIT_NOT_FOUND;
    case SLC_EAUTH:
    case SLC_ESERVER:
        return EXIT_SERVER;
    default:
        return EXIT_LOCAL;
    }
}

static int fail(const slc_error *err)
{
    fprintf(stderr, PROG ": %s: %s", slc_strerror(err->code), err->message);
    if (err->grpc_status > 0 && err->error_code[0])
        fprintf(stderr, " (%s, %s)", sl_grpc_code_name(err->grpc_status),
                err->error_code);
    else if (err->grpc_status > 0)
        fprintf(stderr, " (%s)", sl_grpc_code_name(err->grpc_status));
    fputc('\n', stderr);
    return exit_status(err->code);
}

/* Fills vals[] from argv (after the command), then the environment, then
 * the defaults. Options the command cmd does not take are refused. One
 * argument that is not an option goes to *pos when pos is not NULL.
 * Returns -1 when the caller should print help and exit 0, else EXIT_OK
 * or EXIT_USAGE (message printed). */
static int parse_args(int argc, char **argv, unsigned cmd,
                      const char *vals[OPT_COUNT], const char **pos)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return -1;
        if (pos && !*pos && (strcmp(a, "-") == 0 || strncmp(a, "--", 2) != 0)) {
            *pos = a;
            continue;
        }
        if (strncmp(a, "--", 2) != 0)
            return usage_error("unexpected argument '%s'", a);
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        int id = -1;
        for (int j = 0; j < OPT_COUNT; j++)
            if ((cli_opts[j].cmds & cmd) && strlen(cli_opts[j].name) == len &&
                strncmp(cli_opts[j].name, name, len) == 0)
                id = j;
        if (id < 0)
            return usage_error("unknown option '%s'", a);
        if (eq) {
            vals[id] = eq + 1;
        } else if (i + 1 < argc) {
            vals[id] = argv[++i];
        } else {
            return usage_error("option '%s' needs a value", a);
        }
    }
    for (int j = 0; j < OPT_COUNT; j++) {
        if (!(cli_opts[j].cmds & cmd))
            continue;
        const char *env = cli_opts[j].env ? getenv(cli_opts[j].env) : NULL;
        if (!vals[j] && env && env[0])
            vals[j] = env;
        if (!vals[j])
            vals[j] = cli_opts[j].def;
    }
    return EXIT_OK;
}

/* What every command needs: the checked options and a client. */
struct cli_ctx {
    const char *vals[OPT_COUNT];
    const char *pos; /* record's FILE */
    int64_t update_time, timeout_ms, duration_ms;
    slc_client *client;
};

/* Parses and checks the options of cmd, then creates the client.
 * Returns EXIT_OK, -1 (help printed: exit 0), or an exit status. */
static int cli_begin(int argc, char **argv, unsigned cmd, struct cli_ctx *x)
{
    memset(x, 0, sizeof(*x));
    int rc = parse_args(argc, argv, cmd, x->vals,
                        cmd == CMD_RECORD ? &x->pos : NULL);
    if (rc < 0) {
        usage(stdout);
        return -1;
    }
    if (rc != EXIT_OK)
        return rc;
    const char **vals = x->vals;
    if (!vals[OPT_ADDR][0])
        return usage_error("--addr must not be empty");
    if (!vals[OPT_PROJECT])
        return usage_error("--project is required");
    if (!id_valid(vals[OPT_PROJECT]))
        return usage_error("--project must be 1-64 characters of "
                           "[A-Za-z0-9_-]");
    if (!vals[OPT_SERVICE])
        return usage_error("--service is required");
    if (!id_valid(vals[OPT_SERVICE]))
        return usage_error("--service must be 1-64 characters of "
                           "[A-Za-z0-9_-]");
    if (vals[OPT_UPDATE_TIME] &&
        !parse_int(vals[OPT_UPDATE_TIME], 0, INT64_MAX, &x->update_time))
        return usage_error("--update-time must be a decimal number of "
                           "milliseconds, 0 to %" PRId64,
                           INT64_MAX);
    if (vals[OPT_TIMEOUT] &&
        !parse_int(vals[OPT_TIMEOUT], 1, 86400000, &x->timeout_ms))
        return usage_error("--timeout-ms (or %s) must be 1-86400000",
                           cli_opts[OPT_TIMEOUT].env);
    if (vals[OPT_DURATION] &&
        !parse_int(vals[OPT_DURATION], 0, INT32_MAX, &x->duration_ms))
        return usage_error("--duration-ms must be 0-%d", INT32_MAX);

    slc_error err;
    slc_options opts = {.timeout_ms = (int)x->timeout_ms,
                        .token = vals[OPT_TOKEN],
                        .watch_timeout_ms = (int)x->duration_ms,
                        .tls_ca = vals[OPT_TLS_CA],
                        .tls_cert = vals[OPT_TLS_CERT],
                        .tls_key = vals[OPT_TLS_KEY],
                        .tls_name = vals[OPT_TLS_NAME]};
    if (slc_client_create(vals[OPT_ADDR], &opts, &x->client, &err) != SLC_OK)
        return fail(&err);
    return EXIT_OK;
}

static int write_error(int errnum)
{
    fprintf(stderr, PROG ": writing the output: %s\n",
            strerror(errnum ? errnum : EIO));
    return EXIT_LOCAL;
}

static int cmd_query(int argc, char **argv)
{
    struct cli_ctx x;
    int rc = cli_begin(argc, argv, CMD_QUERY, &x);
    if (rc != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    slc_error err;
    slc_request req = {
        .project_id = x.vals[OPT_PROJECT],
        .service_id = x.vals[OPT_SERVICE],
        .update_time = x.update_time,
    };
    slc_head head;
    struct slc_json_stream js;
    slc_json_stream_init(&js, stdout);
    rc = slc_query_each(x.client, &req, &head, slc_json_stream_log, &js, &err);
    slc_client_destroy(x.client);
    if (rc == SLC_ECALLBACK) /* only a write error stops the printer */
        return write_error(js.write_errno);
    if (rc != SLC_OK)
        return fail(&err);
    if (slc_json_stream_end(&js, &head) != 0)
        return write_error(js.write_errno);
    return EXIT_OK;
}

/* watch's printer: the snapshot as `query` prints it, then a line a log. */
struct watch_out {
    struct slc_json_stream js;
};

static int watch_event(void *ctx, slc_watch_event ev, const slc_head *head,
                       const slc_log *log)
{
    struct watch_out *w = ctx;
    switch (ev) {
    case SLC_WATCH_SNAPSHOT_LOG:
        return slc_json_stream_log(&w->js, head, log);
    case SLC_WATCH_SNAPSHOT_END:
        return slc_json_stream_end(&w->js, head) != 0;
    case SLC_WATCH_LOG:
        slc_json_log(stdout, head->infer_type, log, true);
        putchar('\n');
        fflush(stdout);
        return ferror(stdout) ? 1 : 0;
    }
    return 0;
}

static int cmd_watch(int argc, char **argv)
{
    struct cli_ctx x;
    int rc = cli_begin(argc, argv, CMD_WATCH, &x);
    if (rc != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    slc_error err;
    slc_request req = {
        .project_id = x.vals[OPT_PROJECT],
        .service_id = x.vals[OPT_SERVICE],
        .update_time = x.update_time,
    };
    struct watch_out w;
    slc_json_stream_init(&w.js, stdout);
    rc = slc_watch(x.client, &req, NULL, watch_event, &w, &err);
    slc_client_destroy(x.client);
    if (rc == SLC_ECALLBACK) /* only a write error stops the printer */
        return write_error(w.js.write_errno ? w.js.write_errno : errno);
    if (rc != SLC_OK)
        return fail(&err);
    if (fflush(stdout) != 0 || ferror(stdout))
        return write_error(errno);
    return EXIT_OK;
}

/* Reads all of f (at most max bytes) into a malloc'd buffer. */
static char *read_all(FILE *f, size_t max, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap || ferror(f))
            break;
        if (cap >= max) {
            errno = EFBIG;
            free(buf);
            return NULL;
        }
        char *nb = realloc(buf, cap * 2);
        if (!nb)
            free(buf);
        buf = nb;
        cap *= 2;
    }
    if (buf && ferror(f)) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static int print_created(bool created)
{
    printf("{\"created\":%s}\n", created ? "true" : "false");
    if (fflush(stdout) != 0 || ferror(stdout))
        return write_error(errno);
    return EXIT_OK;
}

static int cmd_record(int argc, char **argv)
{
    struct cli_ctx x;
    int rc = cli_begin(argc, argv, CMD_RECORD, &x);
    if (rc != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    const char *path = x.pos && strcmp(x.pos, "-") != 0 ? x.pos : NULL;
    FILE *f = path ? fopen(path, "rb") : stdin;
    size_t len = 0;
    char *text = f ? read_all(f, 16u << 20, &len) : NULL;
    int errnum = errno;
    if (f && f != stdin)
        fclose(f);
    if (!text) {
        slc_client_destroy(x.client);
        fprintf(stderr, PROG ": reading %s: %s\n", path ? path : "stdin",
                strerror(errnum));
        return EXIT_LOCAL;
    }
    static struct cli_log lg; /* ~20 KiB: not on the stack */
    char msg[256];
    rc = cli_log_parse(text, len, &lg, msg, sizeof(msg));
    free(text);
    if (rc != 0) {
        cli_log_free(&lg);
        slc_client_destroy(x.client);
        return usage_error("%s: %s", path ? path : "stdin", msg);
    }
    slc_error err;
    bool created;
    rc = slc_record(x.client, x.vals[OPT_PROJECT], x.vals[OPT_SERVICE], &lg.log,
                    &created, &err);
    cli_log_free(&lg);
    slc_client_destroy(x.client);
    if (rc != SLC_OK)
        return fail(&err);
    return print_created(created);
}

static int cmd_put_service(int argc, char **argv)
{
    struct cli_ctx x;
    int rc = cli_begin(argc, argv, CMD_PUT, &x);
    if (rc != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    static const struct {
        const char *name;
        modelarts_v1_InferType type;
    } types[] = {
        {"real-time", modelarts_v1_InferType_REAL_TIME},
        {"edge", modelarts_v1_InferType_EDGE},
        {"batch", modelarts_v1_InferType_BATCH},
    };
    const char *name = x.vals[OPT_NAME], *type = x.vals[OPT_INFER_TYPE];
    int t = -1;
    for (size_t i = 0; type && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(type, types[i].name) == 0)
            t = (int)types[i].type;
    rc = EXIT_OK;
    if (!name || !name[0] || strlen(name) > 128)
        rc = usage_error("--name is required: 1-128 bytes");
    else if (t < 0)
        rc = usage_error("--infer-type is required: real-time, edge or batch");
    if (rc != EXIT_OK) {
        slc_client_destroy(x.client);
        return rc;
    }
    slc_error err;
    bool created;
    rc = slc_put_service(x.client, x.vals[OPT_PROJECT], x.vals[OPT_SERVICE],
                         name, (modelarts_v1_InferType)t, &created, &err);
    slc_client_destroy(x.client);
    if (rc != SLC_OK)
        return fail(&err);
    return print_created(created);
}

/* gRPC's own log lines (e.g. "Handshake failed with fatal error ..." at
 * ERROR) would break the one-line stderr contract; the same facts reach
 * the user through the call's status message. */
static void grpc_log_quiet(gpr_log_func_args *args)
{
    (void)args;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
    } cmds[] = {
        {"query", cmd_query},
        {"watch", cmd_watch},
        {"record", cmd_record},
        {"put-service", cmd_put_service},
    };
    if (argc < 2)
        return usage_error("missing command");
    const char *verbosity = getenv("GRPC_VERBOSITY");
    if (!verbosity || !verbosity[0])
        gpr_set_log_function(grpc_log_quiet);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf(PROG " " SLC_VERSION "\n");
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        if (strcmp(argv[1], cmds[i].name) == 0)
            return cmds[i].run(argc - 2, argv + 2);
    return usage_error("unknown command '%s'", argv[1]);
}
