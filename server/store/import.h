/* import.h -- the import file: JSON document -> packed logs -> a store
 *
 * The document (DESIGN section 5) is
 *   {"services": [{"project_id", "service_id", "service_name", "infer_type",
 *                  "logs": [log, ...]}, ...]}
 * where a log is the spec's documented log object. Parsing is strict:
 * unknown keys, fields that do not apply to the service's infer_type,
 * values out of range or over server/limits.h are errors, because a typo
 * must not silently drop data. Every SL_EFORMAT message starts with the JSON
 * path of the bad value, then ": ", then the problem, e.g.
 *   services[1].logs[0].result: expected SUCCESS, FAIL or RUNNING
 * Malformed JSON reads "invalid JSON at line L column C: <jansson text>".
 *
 * Beyond what only JSON can say (unknown keys, types, a key present for
 * the wrong infer_type), a log is held to the rules the writers share
 * (log_rules.h: bounds, enums, presence, the live platform's cluster_id,
 * extend_config and custom_spec) and packed once, by sl_log_pack(), into
 * a modelarts.v1.ServiceLog (canonical: the same log always gives the same
 * bytes, however it came); stores keep those bytes and hand them back on
 * query.
 *
 * THREAD SAFETY: the functions share no state; a set belongs to one thread.
 */
#ifndef SL_IMPORT_H
#define SL_IMPORT_H

#include <stddef.h>

#include "arena.h"
#include "error.h"
#include "store.h"

/* A parsed import document.
 * Owner: whoever declared it; release with sl_import_set_free(), which
 * frees everything the pointers below reach (it all lives in arena). The
 * struct must not be copied or moved while it holds data (the arena's
 * inline buffer is referenced by pointer). */
struct sl_import_set {
    struct sl_import_service *services; /* n_services, in file order */
    size_t n_services;
    size_t n_logs;         /* logs over all services */
    struct sl_arena arena; /* backing memory of all of the above */
};

/* Makes set empty; no allocation. */
void sl_import_set_init(struct sl_import_set *set);
/* Frees what set owns; set is empty afterwards. Accepts an empty set. */
void sl_import_set_free(struct sl_import_set *set);

/* Parses json[0..len) (need not be NUL-terminated), through the same
 * streaming pass as sl_import_file, into *out, which is
 * initialized here (whatever it held is overwritten, not freed). SL_OK and
 * *out filled (the caller owns it and frees it with sl_import_set_free), or
 * SL_EFORMAT with the path-prefixed message (SL_ENOMEM when memory runs
 * out); on failure *out is empty and nothing leaks. */
int sl_import_parse(const char *json, size_t len, struct sl_import_set *out,
                    struct sl_err *err);

/* Streams the file at path into st in one transaction (all or nothing):
 * an import session (store.h v5) gets the services in batches of at most
 * IMPORT_BATCH_SERVICES or about IMPORT_BATCH_BYTES of packed logs
 * (import.c), parsed one services[i] at a time (import_scan.h), so memory
 * is bounded by one service (SL_SCAN_MAX_ELEMENT bytes of JSON at most),
 * one batch and the keys seen (import_keys.h), whatever the file's size. A
 * backend without sessions (v4) gets the whole file in one sl_store_import.
 * The rules and messages are sl_import_parse's; an error found late in the
 * file is the first one met (a bad service after a duplicate one reports
 * the duplicate). On SL_OK the counts of
 * imported services and logs are stored in *n_services and *n_logs (each
 * may be NULL); on failure they are 0 and the store is unchanged.
 * SL_EIO (message "PATH: strerror") when the file cannot be read,
 * SL_EFORMAT from parsing, or the backend's code. */
int sl_import_file(struct sl_store *st, const char *path, size_t *n_services,
                   size_t *n_logs, struct sl_err *err);

#endif
