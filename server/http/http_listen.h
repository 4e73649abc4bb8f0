/* http_listen.h -- the REST shim's listen socket
 *
 * The shim binds its socket itself rather than by MHD_OPTION_SOCK_ADDR:
 * libmicrohttpd does not report why its bind failed (errno is not part
 * of its API), and the operator needs "Address already in use". The
 * socket is then handed to libmicrohttpd (MHD_OPTION_LISTEN_SOCKET).
 */
#ifndef SL_HTTP_LISTEN_H
#define SL_HTTP_LISTEN_H

#include "error.h"

#define SL_HTTP_BACKLOG 511 /* listen(2) backlog */

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

#endif
