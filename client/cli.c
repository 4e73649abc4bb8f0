/* cli.c -- `servicelogs`: query a service's update logs, print the JSON
 *
 * stdout gets the documented JSON document (streamed log by log, so memory
 * stays bounded whatever the history length); stderr gets one human line
 * on failure; the exit status says what kind of failure (see usage()).
 * The option table drives parsing, environment fallbacks and --help.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    OPT_TOKEN,
    OPT_TIMEOUT,
    OPT_COUNT
};

struct cli_opt {
    const char *name; /* --name VALUE or --name=VALUE */
    const char *arg;  /* VALUE's name in --help */
    const char *env;  /* fallback environment variable, or NULL */
    const char *def;  /* default, or NULL (required when no default) */
    const char *help;
};

static const struct cli_opt cli_opts[OPT_COUNT] = {
    [OPT_ADDR] = {"addr", "HOST:PORT", "SERVICELOGS_ADDR", "127.0.0.1:50051",
                  "server address (gRPC target)"},
    [OPT_PROJECT] = {"project", "ID", NULL, NULL,
                     "project ID: 1-64 characters of [A-Za-z0-9_-]"},
    [OPT_SERVICE] = {"service", "ID", NULL, NULL,
                     "service ID: 1-64 characters of [A-Za-z0-9_-]"},
    [OPT_UPDATE_TIME] = {"update-time", "MS", NULL, "0",
                         "only logs with exactly this update_time; 0: all"},
    [OPT_TOKEN] = {"token", "TOKEN", "SERVICELOGS_TOKEN", NULL,
                   "auth token (x-auth-token); prefer the env variable"},
    [OPT_TIMEOUT] = {"timeout-ms", "MS", "SERVICELOGS_TIMEOUT_MS", "5000",
                     "deadline of the call, 1-86400000"},
};

static void usage(FILE *f)
{
    fprintf(f, "Usage: " PROG " query --project ID --service ID [options]\n"
               "       " PROG " --help | --version\n\n"
               "Prints the update logs of one service as the documented "
               "JSON on stdout.\n\nOptions of query:\n");
    for (int i = 0; i < OPT_COUNT; i++) {
        const struct cli_opt *o = &cli_opts[i];
        char flag[64];
        snprintf(flag, sizeof(flag), "--%s %s", o->name, o->arg);
        fprintf(f, "  %-22s %s\n  %-22s [", flag, o->help, "");
        if (o->env)
            fprintf(f, "%s; ", o->env);
        if (o->def)
            fprintf(f, "default %s]\n", o->def);
        else if (i == OPT_TOKEN)
            fputs("default: none]\n", f);
        else
            fputs("required]\n", f);
    }
    fputs("\nExit status:\n"
          "  0  success: stdout holds the whole JSON document\n"
          "  1  local failure: response too large for the client's limits "
          "or\n"
          "     malformed, out of memory, cannot write stdout\n"
          "  2  usage: bad option or value, found before any network "
          "traffic\n"
          "  3  server unreachable or unavailable, or the deadline passed\n"
          "     (gRPC UNAVAILABLE, DEADLINE_EXCEEDED)\n"
          "  4  no such service in this project (gRPC NOT_FOUND)\n"
          "  5  any other error answered by the server (INVALID_ARGUMENT,\n"
          "     FAILED_PRECONDITION for batch services, UNAUTHENTICATED,\n"
          "     PERMISSION_DENIED, RESOURCE_EXHAUSTED, INTERNAL, ...)\n"
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

/* Fills vals[] from argv (after "query"), then the environment, then the
 * defaults. Returns -1 when the caller should print help and exit 0, else
 * EXIT_OK or EXIT_USAGE (message printed). */
static int parse_args(int argc, char **argv, const char *vals[OPT_COUNT])
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return -1;
        if (strncmp(a, "--", 2) != 0)
            return usage_error("unexpected argument '%s'", a);
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        int id = -1;
        for (int j = 0; j < OPT_COUNT; j++)
            if (strlen(cli_opts[j].name) == len &&
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
        const char *env = cli_opts[j].env ? getenv(cli_opts[j].env) : NULL;
        if (!vals[j] && env && env[0])
            vals[j] = env;
        if (!vals[j])
            vals[j] = cli_opts[j].def;
    }
    return EXIT_OK;
}

static int cmd_query(int argc, char **argv)
{
    const char *vals[OPT_COUNT] = {0};
    int rc = parse_args(argc, argv, vals);
    if (rc < 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (rc != EXIT_OK)
        return rc;

    int64_t update_time = 0, timeout_ms = 0;
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
    if (!parse_int(vals[OPT_UPDATE_TIME], 0, INT64_MAX, &update_time))
        return usage_error("--update-time must be a decimal number of "
                           "milliseconds, 0 to %" PRId64,
                           INT64_MAX);
    if (!parse_int(vals[OPT_TIMEOUT], 1, 86400000, &timeout_ms))
        return usage_error("--timeout-ms (or %s) must be 1-86400000",
                           cli_opts[OPT_TIMEOUT].env);

    slc_error err;
    slc_options opts = {.timeout_ms = (int)timeout_ms};
    slc_client *c;
    if (slc_client_create(vals[OPT_ADDR], &opts, &c, &err) != SLC_OK)
        return fail(&err);
    slc_request req = {
        .project_id = vals[OPT_PROJECT],
        .service_id = vals[OPT_SERVICE],
        .update_time = update_time,
        .token = vals[OPT_TOKEN],
    };
    slc_head head;
    struct slc_json_stream js;
    slc_json_stream_init(&js, stdout);
    rc = slc_query_each(c, &req, &head, slc_json_stream_log, &js, &err);
    slc_client_destroy(c);
    if (rc == SLC_ECALLBACK) /* only a write error stops the printer */
        goto write_error;
    if (rc != SLC_OK)
        return fail(&err);
    if (slc_json_stream_end(&js, &head) != 0)
        goto write_error;
    return EXIT_OK;

write_error:
    fprintf(stderr, PROG ": writing the output: %s\n",
            strerror(js.write_errno ? js.write_errno : EIO));
    return EXIT_LOCAL;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage_error("missing command");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf(PROG " " SLC_VERSION "\n");
        return EXIT_OK;
    }
    if (strcmp(argv[1], "query") == 0)
        return cmd_query(argc - 2, argv + 2);
    return usage_error("unknown command '%s'", argv[1]);
}
