/* http_listen.c -- the REST shim's listen socket (http_listen.h) */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "http_listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"

/* The address forms and their error text are addr.h's (no name lookup:
 * a listen address is a literal, localhost or a wildcard). */
int sl_http_listen(const char *hp, int *fd, int *port, struct sl_err *err)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    int one = 1;
    int s = -1;
    int rc;

    *fd = -1;
    *port = 0;
    rc = sl_addr_sockaddr(hp, &ss, &len, err);
    if (rc != SL_OK)
        return rc;
    s = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0)
        goto fail;
    /* SO_REUSEADDR lets a restart bind over TIME_WAIT connections; on
     * Linux it never lets two sockets listen on one port. */
    if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(s, (struct sockaddr *)&ss, len) != 0 ||
        listen(s, SL_HTTP_BACKLOG) != 0)
        goto fail;
    len = sizeof(ss);
    if (getsockname(s, (struct sockaddr *)&ss, &len) != 0)
        goto fail;
    *port =
        ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                       : ((struct sockaddr_in *)&ss)->sin_port);
    *fd = s;
    return SL_OK;

fail:
    rc =
        sl_err_set(err, SL_EIO, "cannot listen on %s: %s", hp, strerror(errno));
    if (s >= 0)
        close(s);
    return rc;
}
