/* addr.h -- HOST:PORT listen and dial addresses, in one place
 *
 * The forms every address option takes (--grpc-listen, --http-listen,
 * --upstream): "HOST:PORT", with HOST an IPv4 literal, a name, "" or "*"
 * (any address), or "[IPv6]" in brackets; PORT is 0-65535 in decimal
 * digits (0: the system picks a free port). Pure string work except
 * sl_addr_sockaddr() (inet_pton) and sl_addr_bind_error() (a test bind).
 * THREAD SAFETY: every function is reentrant.
 */
#ifndef SL_ADDR_H
#define SL_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "error.h"

#define SL_ADDR_HOST_MAX 255 /* longest HOST accepted */

/* A split address: host without brackets (NUL-terminated), port. */
struct sl_addr {
    char host[SL_ADDR_HOST_MAX + 1];
    int port;
    bool v6; /* HOST was written in brackets */
};

/* Splits hp; SL_OK, or SL_EINVAL with err naming hp and the form. */
int sl_addr_split(const char *hp, struct sl_addr *out, struct sl_err *err);

/* Writes HOST:PORT into out (n bytes, always NUL-terminated), bracketing
 * a host that holds a ':' (an IPv6 literal). */
void sl_addr_join(char *out, size_t n, const char *host, int port);

/* True when hp's host is loopback: localhost, [::1] or 127.0.0.0/8 as a
 * dotted quad. An unparsable hp is not. */
bool sl_addr_is_loopback(const char *hp);

/* The address a client on this host dials to reach a listener configured
 * as `listen` that got `port`: a wildcard host ("", "*", 0.0.0.0) becomes
 * 127.0.0.1, [::] becomes [::1], any other host is kept. */
void sl_addr_dial(const char *listen, int port, char *out, size_t n);

/* The socket address of a listen address whose host is an IPv4 literal,
 * [IPv6 literal], localhost, "" or "*" (no name lookup). SL_OK, or
 * SL_EINVAL with err saying what is accepted. */
int sl_addr_sockaddr(const char *hp, struct sockaddr_storage *ss,
                     socklen_t *len, struct sl_err *err);

/* Why binding hp fails, for a listener that only reports that it failed
 * (gRPC): binds a plain socket the same way and returns the system's
 * reason ("Address already in use"), or what is wrong with hp. Written
 * into buf (n bytes); returns buf. */
const char *sl_addr_bind_error(const char *hp, char *buf, size_t n);

#endif
