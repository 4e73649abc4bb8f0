/* auth.c -- token auth with project scoping
 *
 * LOCKING: struct sl_auth holds the current table behind a rwlock: checks
 * take the read lock for the length of one table walk (uncontended, so a
 * few atomic operations), a reload parses the new file outside the lock
 * and takes the write lock only to swap the pointer. Tables are immutable.
 */
#include "auth.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "validate.h"

struct sl_auth_entry {
    const char *token;           /* not NUL-terminated; in the table */
    size_t token_len;            /* 1..SL_TOKEN_MAX */
    char project[SL_MAX_ID + 1]; /* the project it may read */
    unsigned role;               /* SL_AUTH_READ or SL_AUTH_WRITE */
};

struct sl_auth_table {
    size_t n;                      /* entries */
    struct sl_auth_entry *entries; /* owned */
    char *text;                    /* owned copy of the file's text */
    size_t text_len;               /* its length (it may hold NULs) */
};

struct sl_auth {
    pthread_rwlock_t lock;       /* guards table */
    struct sl_auth_table *table; /* current; owned */
    char *path;                  /* the tokens file */
};

void sl_auth_table_free(struct sl_auth_table *t)
{
    if (!t)
        return;
    if (t->text) /* tokens must not linger in freed memory (a memset
                    before free may be optimised away) */
        explicit_bzero(t->text, t->text_len);
    free(t->text);
    free(t->entries);
    free(t);
}

size_t sl_auth_table_size(const struct sl_auth_table *t)
{
    return t ? t->n : 0;
}

static int is_visible(unsigned char c)
{
    return c >= 0x21 && c <= 0x7e;
}

/* The third field of a line: absent is read. 0 when it is no role. */
static unsigned parse_role(const char *s, size_t len)
{
    if (len == 0 || (len == 4 && memcmp(s, "read", 4) == 0))
        return SL_AUTH_READ;
    if (len == 5 && memcmp(s, "write", 5) == 0)
        return SL_AUTH_WRITE;
    return 0;
}

int sl_auth_table_parse(const char *text, size_t len,
                        struct sl_auth_table **out, struct sl_err *err)
{
    *out = NULL;
    int rc = SL_OK;
    struct sl_auth_table *t = calloc(1, sizeof(*t));
    if (!t || !(t->text = malloc(len + 1))) {
        rc = sl_err_set(err, SL_ENOMEM, "out of memory");
        goto out;
    }
    if (len)
        memcpy(t->text, text, len);
    t->text[len] = '\0';
    t->text_len = len;

    size_t cap = 0, lineno = 0;
    const char *p = t->text, *end = t->text + len;
    while (p < end) {
        lineno++;
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol ? eol : end;
        if (le > p && le[-1] == '\r')
            le--;
        const char *q = p;
        while (q < le && (*q == ' ' || *q == '\t'))
            q++;
        if (q == le || *q == '#')
            goto next;
        const char *tok = q;
        while (q < le && is_visible((unsigned char)*q))
            q++;
        size_t tok_len = (size_t)(q - tok);
        if (q < le && *q != ' ' && *q != '\t') {
            rc = sl_err_set(err, SL_EFORMAT,
                            "line %zu: the token has a character that is "
                            "not visible ASCII",
                            lineno);
            goto out;
        }
        while (q < le && (*q == ' ' || *q == '\t'))
            q++;
        const char *proj = q;
        while (q < le && is_visible((unsigned char)*q))
            q++;
        size_t proj_len = (size_t)(q - proj);
        while (q < le && (*q == ' ' || *q == '\t'))
            q++;
        const char *role = q;
        while (q < le && is_visible((unsigned char)*q))
            q++;
        size_t role_len = (size_t)(q - role);
        while (q < le && (*q == ' ' || *q == '\t'))
            q++;
        if (proj_len == 0 || q != le) {
            rc = sl_err_set(err, SL_EFORMAT,
                            "line %zu: expected TOKEN PROJECT_ID [read|write]",
                            lineno);
            goto out;
        }
        unsigned r = parse_role(role, role_len);
        if (!r) {
            rc = sl_err_set(err, SL_EFORMAT,
                            "line %zu: the role must be read or write", lineno);
            goto out;
        }
        if (tok_len > SL_TOKEN_MAX) {
            rc = sl_err_set(err, SL_EFORMAT,
                            "line %zu: token longer than %d characters", lineno,
                            SL_TOKEN_MAX);
            goto out;
        }
        if (!sl_id_valid(proj, proj_len)) {
            rc = sl_err_set(err, SL_EFORMAT,
                            "line %zu: project id must be 1-64 characters "
                            "of [A-Za-z0-9_-]",
                            lineno);
            goto out;
        }
        if (t->n == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            struct sl_auth_entry *v =
                realloc(t->entries, ncap * sizeof(*t->entries));
            if (!v) {
                rc = sl_err_set(err, SL_ENOMEM, "out of memory");
                goto out;
            }
            t->entries = v;
            cap = ncap;
        }
        struct sl_auth_entry *e = &t->entries[t->n++];
        e->token = tok;
        e->token_len = tok_len;
        memcpy(e->project, proj, proj_len);
        e->project[proj_len] = '\0';
        e->role = r;
    next:
        p = eol ? eol + 1 : end;
    }
    *out = t;
    return SL_OK;
out:
    sl_auth_table_free(t);
    return rc;
}

/* 0 when a[0..alen) equals b[0..blen), else non-zero; the time taken
 * depends on alen (the table's token), never on b's content. */
static unsigned ct_diff(const char *a, size_t alen, const char *b, size_t blen)
{
    unsigned diff = alen != blen;
    for (size_t i = 0; i < alen; i++) {
        unsigned char bc = i < blen ? (unsigned char)b[i] : 0;
        diff |= (unsigned char)a[i] ^ bc;
    }
    return diff;
}

int sl_auth_table_check_role(const struct sl_auth_table *t, const char *token,
                             size_t token_len, const char *project,
                             unsigned role)
{
    if (token_len == 0)
        return SL_ENOTOKEN;
    /* Walk every entry in full: no early exit on a match. */
    unsigned known = 0, allowed = 0, granted = 0;
    for (size_t i = 0; t && i < t->n; i++) {
        const struct sl_auth_entry *e = &t->entries[i];
        unsigned match = ct_diff(e->token, e->token_len, token, token_len) == 0;
        unsigned here = match & (strcmp(e->project, project) == 0);
        known |= match;
        allowed |= here;
        granted |= here & ((e->role & role) == role);
    }
    return granted   ? SL_OK
           : allowed ? SL_EREADONLY
           : known   ? SL_EFORBIDDEN
                     : SL_EBADTOKEN;
}

int sl_auth_table_check(const struct sl_auth_table *t, const char *token,
                        size_t token_len, const char *project)
{
    return sl_auth_table_check_role(t, token, token_len, project, SL_AUTH_READ);
}

static int load(const char *path, struct sl_auth_table **out,
                struct sl_err *err)
{
    *out = NULL;
    int rc = SL_OK;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return sl_err_set(err, SL_EIO, "%s: %s", path, strerror(errno));
    FILE *mem = open_memstream(&buf, &len);
    char chunk[4096];
    size_t n;
    while (mem && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        fwrite(chunk, 1, n, mem);
    if (ferror(f))
        rc = sl_err_set(err, SL_EIO, "%s: %s", path, strerror(errno));
    fclose(f);
    if (!mem)
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    fclose(mem);
    if (rc == SL_OK) {
        struct sl_err perr;
        rc = sl_auth_table_parse(buf, len, out, &perr);
        if (rc != SL_OK)
            sl_err_set(err, rc, "%s: %s", path, perr.msg);
    }
    if (buf)
        explicit_bzero(buf, len);
    free(buf);
    return rc;
}

int sl_auth_open(const char *path, struct sl_auth **out, struct sl_err *err)
{
    *out = NULL;
    struct sl_auth *a = calloc(1, sizeof(*a));
    if (!a || !(a->path = strdup(path))) {
        free(a);
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    }
    int rc = load(path, &a->table, err);
    if (rc != SL_OK) {
        free(a->path);
        free(a);
        return rc;
    }
    pthread_rwlock_init(&a->lock, NULL);
    sl_log(SL_LOG_INFO, "auth: %zu token entries from %s", a->table->n, path);
    *out = a;
    return SL_OK;
}

void sl_auth_destroy(struct sl_auth *a)
{
    if (!a)
        return;
    pthread_rwlock_destroy(&a->lock);
    sl_auth_table_free(a->table);
    free(a->path);
    free(a);
}

int sl_auth_reload(struct sl_auth *a, struct sl_err *err)
{
    struct sl_auth_table *t;
    int rc = load(a->path, &t, err);
    if (rc != SL_OK)
        return rc;
    pthread_rwlock_wrlock(&a->lock);
    struct sl_auth_table *old = a->table;
    a->table = t;
    pthread_rwlock_unlock(&a->lock);
    sl_auth_table_free(old);
    return SL_OK;
}

int sl_auth_check_role(struct sl_auth *a, const char *token, size_t token_len,
                       const char *project, unsigned role)
{
    pthread_rwlock_rdlock(&a->lock);
    int rc =
        sl_auth_table_check_role(a->table, token, token_len, project, role);
    pthread_rwlock_unlock(&a->lock);
    return rc;
}

int sl_auth_check(struct sl_auth *a, const char *token, size_t token_len,
                  const char *project)
{
    return sl_auth_check_role(a, token, token_len, project, SL_AUTH_READ);
}

int sl_auth_require(struct sl_auth *a, const char *token, size_t token_len,
                    const char *project, unsigned role, struct sl_err *err)
{
    if (!a)
        return SL_OK;
    int rc = sl_auth_check_role(a, token, token_len, project, role);
    switch (rc) {
    case SL_OK:
        return SL_OK;
    case SL_ENOTOKEN:
        return sl_err_set(err, rc, "missing auth token (x-auth-token)");
    case SL_EBADTOKEN:
        return sl_err_set(err, rc, "invalid auth token");
    case SL_EREADONLY:
        return sl_err_set(err, rc, "token lacks the write role for project %s",
                          project);
    default:
        return sl_err_set(err, rc, "token not valid for project %s", project);
    }
}
