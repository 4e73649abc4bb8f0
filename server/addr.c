/* addr.c -- HOST:PORT listen and dial addresses (addr.h) */
#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int sl_addr_split(const char *hp, struct sl_addr *out, struct sl_err *err)
{
    const char *h = hp ? hp : "", *colon;
    size_t hlen;

    memset(out, 0, sizeof(*out));
    if (h[0] == '[') {
        const char *close = strchr(h, ']');
        if (!close || close[1] != ':')
            goto bad;
        out->v6 = true;
        hlen = (size_t)(close - h - 1);
        h++;
        colon = close + 1;
    } else {
        colon = strrchr(h, ':');
        if (!colon)
            goto bad;
        hlen = (size_t)(colon - h);
    }
    if (hlen > SL_ADDR_HOST_MAX)
        goto bad;
    memcpy(out->host, h, hlen);
    out->host[hlen] = '\0';
    const char *p = colon + 1;
    if (!*p || strlen(p) > 5)
        goto bad;
    long port = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            goto bad;
        port = port * 10 + (*p - '0');
    }
    if (port > 65535)
        goto bad;
    out->port = (int)port;
    return SL_OK;
bad:
    return sl_err_set(err, SL_EINVAL,
                      "bad address '%.300s': want HOST:PORT or [IPv6]:PORT "
                      "with PORT 0-65535",
                      hp ? hp : "");
}

void sl_addr_join(char *out, size_t n, const char *host, int port)
{
    if (strchr(host, ':'))
        snprintf(out, n, "[%s]:%d", host, port);
    else
        snprintf(out, n, "%s:%d", host, port);
}

bool sl_addr_is_loopback(const char *hp)
{
    struct sl_addr a;
    if (sl_addr_split(hp, &a, NULL) != SL_OK)
        return false;
    if (strcmp(a.host, "localhost") == 0 ||
        (a.v6 && strcmp(a.host, "::1") == 0))
        return true;
    /* 127.0.0.0/8, written as a dotted quad */
    unsigned b0, b1, b2, b3;
    char tail;
    return !a.v6 &&
           sscanf(a.host, "%u.%u.%u.%u%c", &b0, &b1, &b2, &b3, &tail) == 4 &&
           b0 == 127 && b1 < 256 && b2 < 256 && b3 < 256;
}

void sl_addr_dial(const char *listen, int port, char *out, size_t n)
{
    struct sl_addr a;
    if (sl_addr_split(listen, &a, NULL) != SL_OK || !a.host[0] ||
        strcmp(a.host, "*") == 0 || strcmp(a.host, "0.0.0.0") == 0)
        sl_addr_join(out, n, "127.0.0.1", port);
    else if (a.v6 && strcmp(a.host, "::") == 0)
        sl_addr_join(out, n, "::1", port);
    else
        sl_addr_join(out, n, a.host, port);
}

int sl_addr_sockaddr(const char *hp, struct sockaddr_storage *ss,
                     socklen_t *len, struct sl_err *err)
{
    struct sl_addr a;
    memset(ss, 0, sizeof(*ss));
    if (sl_addr_split(hp, &a, NULL) != SL_OK)
        goto bad;
    if (a.v6) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET6, a.host, &a6->sin6_addr) != 1)
            goto bad;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)a.port);
        *len = sizeof(*a6);
        return SL_OK;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    if (!a.host[0] || strcmp(a.host, "*") == 0)
        a4->sin_addr.s_addr = htonl(INADDR_ANY);
    else if (strcmp(a.host, "localhost") == 0)
        a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else if (inet_pton(AF_INET, a.host, &a4->sin_addr) != 1)
        goto bad;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)a.port);
    *len = sizeof(*a4);
    return SL_OK;
bad:
    return sl_err_set(err, SL_EINVAL,
                      "cannot listen on %.300s: want HOST:PORT with HOST an "
                      "IPv4 address, [IPv6 address], localhost or *, and "
                      "PORT 0-65535",
                      hp ? hp : "");
}

const char *sl_addr_bind_error(const char *hp, char *buf, size_t n)
{
    struct sl_addr a;
    char port[8];
    if (sl_addr_split(hp, &a, NULL) != SL_OK) {
        snprintf(buf, n, "expected HOST:PORT");
        return buf;
    }
    snprintf(port, sizeof(port), "%d", a.port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(a.host[0] ? a.host : NULL, port, &hints, &ai) != 0 || !ai) {
        snprintf(buf, n, "cannot resolve the address");
        return buf;
    }
    snprintf(buf, n, "address not usable");
    int fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0)
            snprintf(buf, n, "%s", strerror(errno));
        close(fd);
    }
    freeaddrinfo(ai);
    return buf;
}
