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

/* Parses "HOST:PORT" (HOST: IPv4 literal, [IPv6], localhost, "" or "*"). */
static int parse_listen(const char *hp, struct sockaddr_storage *ss,
                        socklen_t *len, struct sl_err *err)
{
    char host[64];
    const char *colon;
    const char *h = hp;
    size_t hlen;

    memset(ss, 0, sizeof(*ss));
    if (hp[0] == '[') {
        const char *close = strchr(hp, ']');
        if (!close || close[1] != ':')
            goto bad;
        h = hp + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(hp, ':');
        if (!colon)
            goto bad;
        hlen = (size_t)(colon - hp);
    }
    if (hlen >= sizeof(host))
        goto bad;
    memcpy(host, h, hlen);
    host[hlen] = '\0';

    const char *p = colon + 1;
    long port = 0;
    if (!*p || strlen(p) > 5)
        goto bad;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            goto bad;
        port = port * 10 + (*p - '0');
    }
    if (port > 65535)
        goto bad;

    if (hp[0] == '[') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
            goto bad;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*a6);
        return SL_OK;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    if (!host[0] || strcmp(host, "*") == 0)
        a4->sin_addr.s_addr = htonl(INADDR_ANY);
    else if (strcmp(host, "localhost") == 0)
        a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
        goto bad;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    *len = sizeof(*a4);
    return SL_OK;

bad:
    return sl_err_set(err, SL_EINVAL,
                      "cannot listen on %s: want HOST:PORT with HOST an IPv4 "
                      "address, [IPv6 address], localhost or *, and PORT "
                      "0-65535",
                      hp);
}

int sl_http_listen(const char *hp, int *fd, int *port, struct sl_err *err)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    int one = 1;
    int s = -1;
    int rc;

    *fd = -1;
    *port = 0;
    rc = parse_listen(hp, &ss, &len, err);
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
