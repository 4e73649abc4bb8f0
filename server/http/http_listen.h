/* http_listen.h -- the REST shim's listen socket
 *
 * The shim binds its socket itself rather than by MHD_OPTION_SOCK_ADDR:
 * libmicrohttpd does not report why its bind failed (errno is not part
 * of its API), and the operator needs "Address already in use". The
 * socket is then handed to libmicrohttpd (MHD_OPTION_LISTEN_SOCKET).
 */
#ifndef SL_HTTP_LISTEN_H
#define SL_HTTP_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "error.h"

#define SL_HTTP_BACKLOG 511 /* listen(2) backlog */
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

#endif
