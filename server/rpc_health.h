/* rpc_health.h -- grpc.health.v1: serving state, Check and Watch
 *
 * One struct sl_health per server. The state is three facts: whether the
 * backend answers (the server's prober sets it), whether queries can read
 * what it stores (the query path reports each read), and whether the
 * server is draining (set once at shutdown). "" and
 * "modelarts.v1.ServiceLogs" are SERVING when the backend answers, its
 * reads are not failing and the server is not draining, else NOT_SERVING;
 * any other name is unknown (Check: NOT_FOUND; Watch: SERVICE_UNKNOWN
 * with the stream kept open). The watcher list also holds the open
 * reflection streams, so that the drain reaches them too.
 *
 * Failing reads. The prober's ping reads one row, so a database that
 * answers it can still fail many queries (a damaged file: SL_ECORRUPT,
 * SL_EUNAVAIL). The rule, for an operator to see such a file and not one
 * transient error or one bad service:
 *   - a read failure counts while it is among the last
 *     SL_HEALTH_READ_WINDOW reads of the server (successes push it out)
 *     and younger than SL_HEALTH_READ_TTL_MS;
 *   - health goes NOT_SERVING when SL_HEALTH_READ_FAILS or more failures
 *     count and they name SL_HEALTH_READ_SERVICES or more services;
 *   - it comes back when fewer than SL_HEALTH_READ_CLEAR count, or they
 *     name fewer services (re-checked when a failure is pushed out and at
 *     every probe, so it comes back without traffic too, once they age).
 * One service failing every query never turns health NOT_SERVING (its
 * queries fail, are logged and counted); neither does one failure. This
 * verdict does not refuse queries: services that can be read are still
 * served while health says NOT_SERVING.
 *
 * The handlers of Check (unary) and Watch (server streaming) live in
 * rpc_health.c beside the state: sl_rpc_health_check_handler and
 * sl_rpc_health_watch_handler, rows of methods.c.
 *
 * LOCKING: one mutex guards the state, the watcher list and the list
 * fields of every struct sl_call on it (call.h), and the state of every
 * Watch. sl_health_set_*() take it and, when a watched status changes or
 * the drain starts, call each listed call's handler kick() with it held.
 */
#ifndef SL_RPC_HEALTH_H
#define SL_RPC_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <grpc/slice.h>

#include "error.h"

/* grpc.health.v1.HealthCheckResponse.ServingStatus */
enum sl_serving {
    SL_SERVING_UNKNOWN = 0,
    SL_SERVING = 1,
    SL_NOT_SERVING = 2,
    SL_SERVICE_UNKNOWN = 3,
};

#define SL_HEALTH_NAME_MAX 256 /* longer service names are simply unknown */

struct sl_health;
struct sl_call;

/* Owner: the caller, released with sl_health_destroy() once no watcher is
 * left. Starts as backend OK, not draining. NULL on ENOMEM. */
struct sl_health *sl_health_create(void);
void sl_health_destroy(struct sl_health *h); /* accepts NULL */

/* The status of a service name; SL_SERVICE_UNKNOWN for unknown names.
 * Takes the lock. */
enum sl_serving sl_health_status(struct sl_health *h, const char *name,
                                 size_t len);
/* Same, for callers holding the lock. */
enum sl_serving sl_health_status_locked(struct sl_health *h, const char *name,
                                        size_t len);

/* The prober's last verdict, without the lock (one atomic load): the
 * query path's check. */
bool sl_health_backend_ok(struct sl_health *h);

/* Records whether the backend answers; kicks watchers on a change, which
 * is logged with why (the probe's error; may be NULL). The prober calls
 * it at every probe, which also ages the read failures out. */
void sl_health_set_backend(struct sl_health *h, bool ok, const char *why);
/* The read rule above; changing it changes README's Health section. */
#define SL_HEALTH_READ_WINDOW 100   /* reads a failure stays counted for */
#define SL_HEALTH_READ_TTL_MS 30000 /* ... and at most this long */
#define SL_HEALTH_READ_FAILS 5      /* counted failures to go NOT_SERVING */
#define SL_HEALTH_READ_SERVICES 3   /* ... that name this many services */
#define SL_HEALTH_READ_CLEAR 3      /* fewer to come back (hysteresis) */

/* A query's storage read answered (the service, or that it is not
 * stored). Lock-free unless it pushes a failure out of the window while
 * reads are failing. THREAD SAFETY: any thread. */
void sl_health_read_ok(struct sl_health *h);
/* A query's storage read failed for a storage reason (unreadable,
 * corrupt); project/service name the queried service (NUL-terminated,
 * may be empty), why says what failed (logged when it turns health
 * NOT_SERVING; may be NULL). Takes the lock; kicks watchers on a change.
 * THREAD SAFETY: any thread. */
void sl_health_read_error(struct sl_health *h, const char *project,
                          const char *service, const char *why);

/* Reports how the storage read of a query (or a watch's snapshot) ended:
 * answered (the service, or that there is none: rc SL_OK, SL_ENOTFOUND,
 * SL_EBATCH) or failed for a storage reason (SL_EUNAVAIL, SL_EIO,
 * SL_ECORRUPT, with err's text); other codes (refused before the read,
 * stopped by the caller's deadline or memory) say nothing about the
 * storage and are ignored. */
void sl_health_report_read(struct sl_health *h, int rc, const char *project,
                           const char *service, const struct sl_err *err);

/* Marks the server draining: NOT_SERVING from now on, and every watcher is
 * told, then its stream is ended. */
void sl_health_set_draining(struct sl_health *h);
/* True once sl_health_set_draining() ran. The caller holds the lock. */
bool sl_health_draining_locked(struct sl_health *h);

void sl_health_lock(struct sl_health *h);
void sl_health_unlock(struct sl_health *h);
/* Watcher list; the caller holds the lock. */
void sl_health_watch_add(struct sl_health *h, struct sl_call *c);
void sl_health_watch_remove(struct sl_health *h, struct sl_call *c);

/* HealthCheckRequest: *name points into req (not NUL-terminated).
 * 0, or -1 when req is not a valid message. */
int sl_health_decode_request(const uint8_t *req, size_t len, const char **name,
                             size_t *name_len);
/* HealthCheckResponse{status}; the caller unrefs the slice. */
grpc_slice sl_health_encode_response(enum sl_serving status);

/* Puts a stream on the list when the server is not draining (it is then
 * kicked at the drain: its handler's kick() ends it). False when draining
 * already: the caller ends the stream itself. Takes the lock. */
bool sl_health_list_unless_draining(struct sl_health *h, struct sl_call *c);
/* Takes c off the list if it is on it. Takes the lock. */
void sl_health_unlist(struct sl_health *h, struct sl_call *c);

#endif
