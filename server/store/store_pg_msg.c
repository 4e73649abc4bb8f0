/* store_pg_msg.c -- the PostgreSQL backend's messages: libpq's words on
 * one line, the database's label, passwords kept out
 *
 * Every failure of the backend reads "postgres://HOST:PORT/DB: what": the
 * label (make_label) names the database without the URI's user info, and
 * libpq's messages, which span lines, become one line. libpq's own
 * messages carry no password, except a URI parse error, which open()
 * redacts (sl__pg_redact) before it goes anywhere.
 *
 * THREAD SAFETY: reentrant (no state).
 */
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "store.h"
#include "store_pg.h"

/* Copies libpq's message (lines ending in "\n", continuation lines indented
 * with a tab) into out as one line. */
void sl__pg_one_line(char *out, size_t size, const char *msg)
{
    size_t n = 0;
    bool space = false;
    for (const char *p = msg; *p && n + 1 < size; p++) {
        if (*p == '\n' || *p == '\t' || *p == '\r' || *p == ' ') {
            space = n > 0;
            continue;
        }
        if (space && n + 2 < size)
            out[n++] = ' ';
        space = false;
        out[n++] = *p;
    }
    out[n] = '\0';
}

/* Sets err to "LABEL: <what><libpq's message>" and returns code. The
 * message is r's primary message when r is an error, else the
 * connection's. */
int sl__pg_fail(const struct pg_store *st, int code, const char *what,
                const PGresult *r, struct sl_err *err)
{
    char m[200];
    const char *src = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!src || !*src)
        src = st->conn ? PQerrorMessage(st->conn) : "";
    if (!*src)
        src = "out of memory";
    sl__pg_one_line(m, sizeof(m), src);
    return sl_err_set(err, code, "%s: %s%s", st->label, what, m);
}

/* Replaces each occurrence of secret (n bytes) in msg with "***". */
static void redact_one(char *msg, size_t size, const char *secret, size_t n)
{
    char out[SL_ERR_MSG_LEN];
    size_t o = 0;
    if (n == 0)
        return;
    for (const char *p = msg; *p && o + 1 < sizeof(out);) {
        if (strncmp(p, secret, n) == 0) {
            for (const char *s = "***"; *s && o + 1 < sizeof(out); s++)
                out[o++] = *s;
            p += n;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
    snprintf(msg, size, "%s", out);
}

/* Removes the URI's password, as written in the URI (the user info's
 * ":PASSWORD@" and a "password=" parameter), from msg. */
void sl__pg_redact(char *msg, size_t size, const char *uri)
{
    const char *auth = strstr(uri, "://");
    if (auth) {
        auth += 3;
        size_t len = strcspn(auth, "/?");
        const char *at = NULL;
        for (const char *p = auth; p < auth + len; p++)
            if (*p == '@')
                at = p;
        const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon)
            redact_one(msg, size, colon + 1, (size_t)(at - colon - 1));
    }
    for (const char *p = strchr(uri, '?'); p && *p; p++) {
        if ((p[-1] == '?' || p[-1] == '&') && strncmp(p, "password=", 9) == 0) {
            p += 9;
            redact_one(msg, size, p, strcspn(p, "&"));
        }
    }
}

/* Names the database in messages: host, port and dbname, no user info. */
void sl__pg_make_label(struct pg_store *st, const PQconninfoOption *opts)
{
    const char *host = "", *port = "", *db = "";
    for (const PQconninfoOption *o = opts; o && o->keyword; o++) {
        if (!o->val)
            continue;
        if (strcmp(o->keyword, "host") == 0 ||
            (strcmp(o->keyword, "hostaddr") == 0 && !*host))
            host = o->val;
        else if (strcmp(o->keyword, "port") == 0)
            port = o->val;
        else if (strcmp(o->keyword, "dbname") == 0)
            db = o->val;
    }
    snprintf(st->label, sizeof(st->label), "postgres://%.48s%s%.16s/%.48s",
             host, *port ? ":" : "", port, db);
}
