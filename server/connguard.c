/* connguard.c -- aborts gRPC connections that reset streams in bulk
 *
 * A table of tracked connections, keyed by gRPC's peer string: chained
 * buckets under one mutex (it is taken only on the abnormal paths of
 * connguard.h), entries freed by the sweep once nothing holds them. The
 * abort runs outside the lock: it walks /proc/self/fd.
 */
#include "connguard.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hash.h"
#include "log.h"
#include "metrics.h"

#define SL_CONNGUARD_BUCKETS 256 /* a power of two */
#define SL_PEER_MAX 72           /* "ipv6:[" 45 "%scope]:65535" and more */
#define SL_WINDOW_MS 1000        /* the resets' window */

struct sl_connguard_peer {
    struct sl_connguard_peer *next; /* in its bucket */
    char peer[SL_PEER_MAX];         /* gRPC's peer string */
    int held;                       /* answered calls not yet complete */
    int resets;                     /* resets before the request, ... */
    int64_t window_ms;              /* ... since this time */
    int64_t aborted_ms;             /* last abort; 0: never */
};

struct sl_connguard {
    pthread_mutex_t mu;
    int port;       /* the gRPC listener's */
    int max_resets; /* per connection, per SL_WINDOW_MS */
    int max_held;   /* per connection, at once */
    int npeers;     /* entries in the table */
    struct sl_connguard_peer *buckets[SL_CONNGUARD_BUCKETS];
};

struct sl_connguard *sl_connguard_create(int port, int max_resets, int max_held)
{
    struct sl_connguard *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    pthread_mutex_init(&g->mu, NULL);
    g->port = port;
    g->max_resets = max_resets;
    g->max_held = max_held;
    return g;
}

void sl_connguard_destroy(struct sl_connguard *g)
{
    if (!g)
        return;
    for (int i = 0; i < SL_CONNGUARD_BUCKETS; i++)
        for (struct sl_connguard_peer *p = g->buckets[i], *next; p; p = next) {
            next = p->next;
            free(p);
        }
    pthread_mutex_destroy(&g->mu);
    free(g);
}

/* The entry of peer, made when absent; NULL when the table is full or
 * the string too long. Under g->mu. */
static struct sl_connguard_peer *find(struct sl_connguard *g, const char *peer)
{
    size_t len = strlen(peer);
    if (len >= SL_PEER_MAX || strncmp(peer, "ipv", 3) != 0)
        return NULL; /* "unknown" (a call gRPC forgot the peer of), ... */
    struct sl_connguard_peer **b =
        &g->buckets[sl_fnv1a64(SL_FNV1A64_INIT, peer, len) &
                    (SL_CONNGUARD_BUCKETS - 1)];
    for (struct sl_connguard_peer *p = *b; p; p = p->next)
        if (strcmp(p->peer, peer) == 0)
            return p;
    if (g->npeers >= SL_CONNGUARD_PEERS)
        return NULL;
    struct sl_connguard_peer *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    memcpy(p->peer, peer, len + 1);
    p->next = *b;
    *b = p;
    g->npeers++;
    return p;
}

/* True when p's connection is to be aborted now: once, and again only a
 * window later (a backlog of its calls still arriving after the abort
 * must not walk the descriptors for each). Under g->mu. */
static bool due_abort(struct sl_connguard_peer *p, int64_t now_ms)
{
    if (p->aborted_ms && now_ms - p->aborted_ms < SL_WINDOW_MS)
        return false;
    p->aborted_ms = now_ms ? now_ms : 1;
    return true;
}

static void abort_peer(struct sl_connguard *g, const char *peer,
                       const char *why, int count, int limit, const char *flag)
{
    if (sl_conn_abort(peer, g->port) != 0)
        return; /* gone already */
    sl_metrics_grpc_conn_aborted();
    sl_log(SL_LOG_WARN,
           "gRPC connection from %s aborted: %d %s (more than %s=%d; "
           "rapid reset, CVE-2023-44487)",
           peer, count, why, flag, limit);
}

void sl_connguard_reset(struct sl_connguard *g, const char *peer,
                        int64_t now_ms)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->mu);
    struct sl_connguard_peer *p = find(g, peer);
    int n = 0;
    bool go = false;
    if (p) {
        if (now_ms - p->window_ms >= SL_WINDOW_MS) {
            p->window_ms = now_ms;
            p->resets = 0;
        }
        n = ++p->resets;
        go = n > g->max_resets && due_abort(p, now_ms);
    }
    pthread_mutex_unlock(&g->mu);
    if (go)
        abort_peer(g, peer, "streams reset before their request within 1s", n,
                   g->max_resets, "--max-connection-resets");
}

struct sl_connguard_peer *sl_connguard_hold(struct sl_connguard *g,
                                            const char *peer, int64_t now_ms)
{
    if (!g)
        return NULL;
    pthread_mutex_lock(&g->mu);
    struct sl_connguard_peer *p = find(g, peer);
    int n = 0;
    bool go = false;
    if (p) {
        n = ++p->held;
        go = n > g->max_held && due_abort(p, now_ms);
    }
    pthread_mutex_unlock(&g->mu);
    if (go)
        abort_peer(g, peer, "answered calls waiting on reset streams", n,
                   g->max_held,
                   "--max-connection-streams + --max-connection-resets");
    return p;
}

void sl_connguard_release(struct sl_connguard *g, struct sl_connguard_peer *p)
{
    pthread_mutex_lock(&g->mu);
    p->held--;
    pthread_mutex_unlock(&g->mu);
}

int sl_connguard_sweep(struct sl_connguard *g, int64_t now_ms)
{
    if (!g)
        return 0;
    pthread_mutex_lock(&g->mu);
    for (int i = 0; i < SL_CONNGUARD_BUCKETS; i++) {
        struct sl_connguard_peer **pp = &g->buckets[i];
        while (*pp) {
            struct sl_connguard_peer *p = *pp;
            if (p->held == 0 && now_ms - p->window_ms >= SL_WINDOW_MS &&
                (!p->aborted_ms || now_ms - p->aborted_ms >= SL_WINDOW_MS)) {
                *pp = p->next;
                free(p);
                g->npeers--;
            } else {
                pp = &p->next;
            }
        }
    }
    int n = g->npeers;
    pthread_mutex_unlock(&g->mu);
    return n;
}

/* ---- the abort ---------------------------------------------------------- */

/* Parses gRPC's peer string into a socket address; false for any other
 * form. The host may be bracketed as "[...]" or "%5B...%5D". */
static bool parse_peer(const char *peer, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    bool v6 = strncmp(peer, "ipv6:", 5) == 0;
    if (!v6 && strncmp(peer, "ipv4:", 5) != 0)
        return false;
    const char *host = peer + 5;
    const char *colon = strrchr(host, ':');
    if (!colon || colon == host)
        return false;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || port < 0 || port > 65535)
        return false;
    char buf[INET6_ADDRSTRLEN + 16];
    size_t len = (size_t)(colon - host);
    if (v6) { /* strip the brackets, and any %scope */
        size_t open = host[0] == '[' ? 1 : strncmp(host, "%5B", 3) == 0 ? 3 : 0;
        size_t close = len >= 1 && host[len - 1] == ']'                     ? 1
                       : len >= 3 && strncmp(host + len - 3, "%5D", 3) == 0 ? 3
                                                                            : 0;
        if (!open || !close || len < open + close)
            return false;
        host += open;
        len -= open + close;
        const char *scope = memchr(host, '%', len);
        if (scope)
            len = (size_t)(scope - host);
    }
    if (len >= sizeof(buf))
        return false;
    memcpy(buf, host, len);
    buf[len] = '\0';
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        return inet_pton(AF_INET6, buf, &a->sin6_addr) == 1;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, buf, &a->sin_addr) == 1;
}

/* An IPv4-mapped IPv6 address (a dual-stack listener's view of an IPv4
 * client) as the IPv4 address gRPC names it by. */
static void unmap(struct sockaddr_storage *ss)
{
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (ss->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr))
        return;
    struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = a6->sin6_port};
    memcpy(&a4.sin_addr, &a6->sin6_addr.s6_addr[12], 4);
    memset(ss, 0, sizeof(*ss));
    memcpy(ss, &a4, sizeof(a4));
}

static bool same_addr(const struct sockaddr_storage *a,
                      const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port &&
               x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port &&
           memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
}

/* True when fd is a TCP connection on local `port` from `want`. */
static bool is_conn(int fd, const struct sockaddr_storage *want, int port)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return false;
    if (ss.ss_family == AF_INET) {
        if (ntohs(((struct sockaddr_in *)&ss)->sin_port) != port)
            return false;
    } else if (ss.ss_family == AF_INET6) {
        if (ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) != port)
            return false;
    } else {
        return false;
    }
    len = sizeof(ss);
    if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
        return false;
    unmap(&ss);
    return same_addr(&ss, want);
}

int sl_conn_abort(const char *peer, int port)
{
    struct sockaddr_storage want;
    if (!parse_peer(peer, &want))
        return -1;
    unmap(&want);
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int rc = -1;
    struct dirent *e;
    while (rc != 0 && (e = readdir(d)) != NULL) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (*end || end == e->d_name || fd == dirfd(d))
            continue;
        /* Our own reference: whatever gRPC does with its descriptor, the
         * socket looked at is the socket reset. */
        int dup = fcntl((int)fd, F_DUPFD_CLOEXEC, 0);
        if (dup < 0)
            continue;
        if (is_conn(dup, &want, port)) {
            /* Connecting to AF_UNSPEC disconnects a TCP socket: a reset
             * to the peer, its queues dropped, and gRPC's next read or
             * write fails, which closes the transport and every call on
             * it. shutdown() is the fallback, a FIN both ways. */
            struct sockaddr sa = {.sa_family = AF_UNSPEC};
            if (connect(dup, &sa, sizeof(sa)) != 0)
                shutdown(dup, SHUT_RDWR);
            rc = 0;
        }
        close(dup);
    }
    closedir(d);
    return rc;
}
