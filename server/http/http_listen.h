/* http_listen.h -- the REST shim's listen socket
 *
 * The shim binds its socket itself rather than by MHD_OPTION_SOCK_ADDR:
 * libmicrohttpd does not report why its bind failed (errno is not part
 * of its API), and the operator needs "Address already in use".
 *
 * It also accepts on it itself (struct sl_http_acceptor, one thread) and
 * hands every connection to libmicrohttpd (MHD_add_connection): its own
 * accept lets whichever worker wakes first take up to ten connections in a
 * row, so a burst of clients lands unevenly on the workers (32 wrk
 * connections on 8 workers: 10, 7, 6, 6, 2, 1, 0 and 0), and a
 * worker's clients share its one slice of the CPU: the crowded worker's
 * clients wait (REST p99 15 ms where the median is 0.4 ms). An added
 * connection goes to the worker its descriptor number picks (modulo the
 * pool), the next one with room when that one is full: a burst's
 * consecutive descriptors are dealt round.
 */
#ifndef SL_HTTP_LISTEN_H
#define SL_HTTP_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "error.h"

#define SL_HTTP_BACKLOG 511 /* listen(2) backlog */
#define SL_HTTP_ACCEPT_PAUSE_MS                                                \
    100 /* out of descriptors: the acceptor waits this long */
#define SL_HTTP_DRAIN_SETTLE_MS                                                \
    50 /* sl_http_listen_drain(): no handshake                                 \
          completed for this long: done */

/* Parses hp, "HOST:PORT" with HOST an IPv4 literal, "[IPv6]",
 * "localhost" or "" / "*" (any IPv4 address) and PORT 0-65535 (0: the
 * kernel picks one); creates a non-blocking, close-on-exec TCP socket
 * (libmicrohttpd's workers share it) with SO_REUSEADDR (never
 * SO_REUSEPORT: a busy port is an error), binds and listens on it.
 * On success *fd is the listening socket, owned by the caller (close(2)),
 * and *port the bound port. On failure *fd is -1 and *port 0, nothing is
 * left open, and err says why: SL_EINVAL for a malformed hp ("cannot
 * listen on HOST:PORT: want ..."), SL_EIO with the system's reason
 * ("cannot listen on HOST:PORT: Address already in use").
 * THREAD SAFETY: reentrant. */
int sl_http_listen(const char *hp, int *fd, int *port, struct sl_err *err);

/* Takes over a connection accepted by sl_http_listen_drain(): cfd (non-
 * blocking, close-on-exec) is the callee's from the call on, to serve or
 * to close, and peer[0..len) the client's address (valid during the call
 * only). Returns false when it could not take it (and closed it). */
typedef bool (*sl_http_adopt_fn)(void *cls, int cfd,
                                 const struct sockaddr *peer, socklen_t len);

/* At stop, before the listening socket fd is shut: makes fd drop new
 * handshakes (a socket filter drops SYNs: those clients are refused once
 * fd is shut, when they retransmit), then accepts the connections
 * already waiting in its backlog -- the kernel completed their
 * handshakes, so their clients believe they are connected and are owed
 * an answer -- and hands each to adopt(cls, ...), again as handshakes
 * that were under way complete. Stops once no connection has come for
 * SL_HTTP_DRAIN_SETTLE_MS (fd must be non-blocking; at once when the
 * filter could not be set and the backlog is empty), at an accept error
 * or after max connections. A client whose handshake takes longer than
 * that (a round trip over SL_HTTP_DRAIN_SETTLE_MS) is reset when fd is
 * shut. Returns how many adopt() took.
 * THREAD SAFETY: any thread; fd may be accepted on elsewhere too. */
size_t sl_http_listen_drain(int fd, size_t max, sl_http_adopt_fn adopt,
                            void *cls);

/* Whether the caller takes another connection now (false: at its
 * connection limit; connections wait in the backlog meanwhile). */
typedef bool (*sl_http_room_fn)(void *cls);

/* The accepting thread: while room(cls), waits for fd (the caller's,
 * non-blocking, listening) to be readable and hands each connection it
 * accepts to adopt(cls, ...); while not, waits for sl_http_acceptor_wake().
 * When the process is out of descriptors (or the system out of memory
 * for a socket) it warns at most once a second and waits
 * SL_HTTP_ACCEPT_PAUSE_MS before it tries again, the connections waiting
 * in the backlog meanwhile.
 * Ownership: *out (NULL on failure, err set: SL_ENOMEM, SL_EIO) is the
 * caller's, to free with sl_http_acceptor_free(); fd stays the caller's.
 * THREAD SAFETY: adopt and room run on the acceptor's thread. */
struct sl_http_acceptor;
int sl_http_acceptor_start(int fd, sl_http_adopt_fn adopt, sl_http_room_fn room,
                           void *cls, struct sl_http_acceptor **out,
                           struct sl_err *err);

/* Makes the acceptor ask room() again (a connection closed). Any thread,
 * until sl_http_acceptor_free(); NULL is a no-op. */
void sl_http_acceptor_wake(struct sl_http_acceptor *a);

/* Stops and joins the thread: no adopt() call after it returns.
 * Connections left in fd's backlog stay there (for sl_http_listen_drain).
 * Again, or NULL: a no-op. Not concurrently with itself. */
void sl_http_acceptor_stop(struct sl_http_acceptor *a);

/* Stops a (sl_http_acceptor_stop) and frees it; NULL is a no-op. */
void sl_http_acceptor_free(struct sl_http_acceptor *a);

#endif
