/* auth.h -- token auth with project scoping (DESIGN sections 4 and 5)
 *
 * The tokens file holds one "TOKEN PROJECT_ID [read|write]" per line; a
 * token may appear on several lines for several projects; '#' starts a
 * comment line; blank lines are ignored. A token is 1-SL_TOKEN_MAX visible
 * ASCII characters (0x21-0x7e); a project id follows the id rule
 * (validate.h). The role is read when absent; write includes read (the
 * ServiceLogWriter methods need it). Lines for the same token and project
 * add up: one write line grants write.
 *
 * A table is immutable once parsed. struct sl_auth holds the current one
 * and swaps it atomically on reload (SIGHUP): a reader sees the old or the
 * new table, never a mix, and a bad file keeps the old table.
 *
 * Tokens are compared in constant time (every entry is compared in full,
 * whatever matches), and never appear in logs, errors or metrics.
 */
#ifndef SL_AUTH_H
#define SL_AUTH_H

#include <stddef.h>

#include "error.h"

#define SL_TOKEN_MAX 4096

/* Roles, as bits: an entry's role includes every role whose bits it has. */
enum sl_auth_role {
    SL_AUTH_READ = 1,      /* QueryServiceLogs, WatchServiceLogs */
    SL_AUTH_WRITE = 1 | 2, /* also PutService, RecordServiceUpdate */
};

struct sl_auth_table;
struct sl_auth;

/* Parses a tokens file's text text[0..len) (need not be NUL-terminated).
 * SL_OK with *out owned by the caller (free with sl_auth_table_free), or
 * SL_EFORMAT with err naming the line: "line 3: expected TOKEN PROJECT_ID
 * [read|write]", "line 4: the role must be read or write" (never quoting
 * the token). On failure *out is NULL. */
int sl_auth_table_parse(const char *text, size_t len,
                        struct sl_auth_table **out, struct sl_err *err);
void sl_auth_table_free(struct sl_auth_table *t); /* accepts NULL */
/* Number of (token, project) entries. */
size_t sl_auth_table_size(const struct sl_auth_table *t);

/* Decides one call against a table: SL_OK when token (token_len bytes)
 * has role (enum sl_auth_role) on project; SL_ENOTOKEN when token_len is
 * 0; SL_EBADTOKEN when no entry has this token; SL_EFORBIDDEN when the
 * token exists but not for this project; SL_EREADONLY when it is valid for
 * this project without the role. Constant time in the token's content:
 * every entry is compared in full, whatever matches. */
int sl_auth_table_check_role(const struct sl_auth_table *t, const char *token,
                             size_t token_len, const char *project,
                             unsigned role);
/* sl_auth_table_check_role for SL_AUTH_READ (never SL_EREADONLY). */
int sl_auth_table_check(const struct sl_auth_table *t, const char *token,
                        size_t token_len, const char *project);

/* Loads path into a new struct sl_auth. Owner: the caller, freed with
 * sl_auth_destroy() once no thread uses it. */
int sl_auth_open(const char *path, struct sl_auth **out, struct sl_err *err);
void sl_auth_destroy(struct sl_auth *a); /* accepts NULL */
/* Re-reads the file; on success the new table replaces the old one for
 * every later check; on failure the old table stays and err says why.
 * THREAD SAFETY: any thread, concurrently with sl_auth_check. */
int sl_auth_reload(struct sl_auth *a, struct sl_err *err);
/* sl_auth_table_check_role / sl_auth_table_check on the current table.
 * THREAD SAFETY: any thread. */
int sl_auth_check_role(struct sl_auth *a, const char *token, size_t token_len,
                       const char *project, unsigned role);
int sl_auth_check(struct sl_auth *a, const char *token, size_t token_len,
                  const char *project);

/* A call's decision with its answer's text: SL_OK when a is NULL (auth
 * off) or the token has role on project, else the code of
 * sl_auth_check_role with err set ("missing auth token (x-auth-token)",
 * "invalid auth token", "token not valid for project P", "token lacks the
 * write role for project P"; never the token). THREAD SAFETY: any thread. */
int sl_auth_require(struct sl_auth *a, const char *token, size_t token_len,
                    const char *project, unsigned role, struct sl_err *err);

#endif
