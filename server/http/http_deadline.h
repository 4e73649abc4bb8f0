/* http_deadline.h -- request deadlines of the REST shim's connections
 *
 * The rules (struct sl_shim_config.header_timeout_ms): the idle timeout
 * restarts with every byte, so it alone never closes a client that
 * trickles its request (slow-loris). Hence a new connection must deliver
 * its first request -- request line and headers, and the body when the
 * headers announce one -- within header_ms of being accepted (a TLS
 * handshake counts against it). After a response, the next request must be
 * in within next_ms (the shim: idle_timeout_s + header_timeout_ms) of the
 * response's end: an idle kept-alive connection is still closed by
 * idle_timeout_s, and a request begun on it before that has at least
 * header_timeout_ms. A connection past its deadline is closed (no
 * response; the TCP socket is shut down) however busily it sends, counted
 * in servicelogs_http_header_timeouts_total and logged at warn level (at
 * most one line a second, naming only the peer address). Deadlines are
 * checked every SL_HTTP_SWEEP_MS, so a close comes up to that much late. A
 * response being sent is never cut: the deadline stops once the request is
 * in.
 *
 * This module knows sockets, not the HTTP library: the shim tracks each
 * connection here by its descriptor (sl_http_conn_track), moves its
 * deadline as requests come in and responses go out, and untracks it
 * before the descriptor is closed. The sweeper thread only ever calls
 * shutdown(2) on a tracked descriptor; the HTTP library, woken by the
 * hang-up, closes and frees the connection itself as for a client that
 * left. http_deadline.c has the locking.
 */
#ifndef SL_HTTP_DEADLINE_H
#define SL_HTTP_DEADLINE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "error.h"

#define SL_HTTP_SWEEP_MS 250 /* how often request deadlines are checked */

/* The connection list and its sweeper thread. */
struct sl_http_deadlines;

/* One tracked connection. Owner: its struct sl_http_deadlines, from
 * sl_http_conn_track() to sl_http_conn_untrack(). */
struct sl_http_conn;

/* Creates an empty connection list and starts the sweeper. header_ms: a
 * new connection's deadline after accept; next_ms: the next request's
 * deadline after a response (both > 0).
 * On success *out is owned by the caller and released with
 * sl_http_deadlines_stop(). On failure *out is NULL, nothing is left
 * running or allocated, and err says why (SL_ENOMEM).
 * THREAD SAFETY: safe to call from any thread. */
int sl_http_deadlines_start(int64_t header_ms, int64_t next_ms,
                            struct sl_http_deadlines **out, struct sl_err *err);

/* Stops and joins the sweeper (at once, it does not finish its nap) and
 * frees d. Accepts NULL. Every connection must have been untracked (the
 * shim: MHD_stop_daemon closed them all). THREAD SAFETY: once per d, not
 * concurrently with any other call on d. */
void sl_http_deadlines_stop(struct sl_http_deadlines *d);

/* Tracks a just-accepted connection: its socket fd (which must stay open
 * until sl_http_conn_untrack) and the client's address peer (AF_INET or
 * AF_INET6, copied, for the log; NULL or another family: unknown), due
 * header_ms from now. Returns the connection, or NULL out of memory: the
 * caller then shuts the socket down itself (an untracked connection would
 * have no deadline). THREAD SAFETY: any thread; takes d's lock. */
struct sl_http_conn *sl_http_conn_track(struct sl_http_deadlines *d, int fd,
                                        const struct sockaddr *peer);

/* Untracks and frees c, before its descriptor is closed (a descriptor
 * closed while tracked could be reused and then shut down by the
 * sweeper). Accepts NULL. THREAD SAFETY: any thread, once per c; takes d's
 * lock, so when it returns the sweeper is done with c. */
void sl_http_conn_untrack(struct sl_http_deadlines *d, struct sl_http_conn *c);

/* c's request is in (its headers, and its body when it has one): no
 * deadline until its response is sent. Accepts NULL. THREAD SAFETY: any
 * thread, lock-free; while c is tracked. */
void sl_http_conn_request_in(struct sl_http_conn *c);

/* c's first request has begun (its request line is in): c no longer
 * counts in sl_http_deadlines_silent(). Later calls do nothing. Accepts
 * NULL c. THREAD SAFETY: as sl_http_conn_request_in. */
void sl_http_conn_request_begun(struct sl_http_deadlines *d,
                                struct sl_http_conn *c);

/* How many tracked connections have not begun any request yet (accepted,
 * maybe in their TLS handshake, no request line in): at stop, the
 * connections still owed an answer besides the requests in flight.
 * THREAD SAFETY: any thread, lock-free; a snapshot. */
int sl_http_deadlines_silent(const struct sl_http_deadlines *d);

/* c's response is sent (or its request is over): the next request is due
 * next_ms from now. Accepts NULL c. THREAD SAFETY: as
 * sl_http_conn_request_in. */
void sl_http_conn_response_sent(const struct sl_http_deadlines *d,
                                struct sl_http_conn *c);

/* Writes sa as "127.0.0.1:5555" or "[::1]:5555" into out[0..n), "" for
 * another family (the sweeper's log lines and the shim's access lines).
 * THREAD SAFETY: reentrant. */
void sl_http_addr_format(const struct sockaddr *sa, char *out, size_t n);

#endif
