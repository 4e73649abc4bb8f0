/* connguard.h -- aborts gRPC connections that reset streams in bulk
 *
 * gRPC 1.51 predates the core's rapid-reset defences (CVE-2023-44487). A
 * reset stream frees its place of the stream cap at once, so a client can
 * open and reset streams as fast as it can send the frames, and gRPC
 * creates a call for each before any worker sees it (~18 KB each): 20 000
 * in half a second took 100-360 MiB. Nor has 1.51 a call that closes one
 * connection. So the server keeps, per connection (the peer address gRPC
 * gives every call, grpc_call_get_peer: "ipv4:127.0.0.1:40312"), two
 * counts, and aborts the connection (a TCP reset) when either passes its
 * limit:
 *   - streams reset before their request came, within one second (the
 *     client sent HEADERS, then RST_STREAM): more than max_resets;
 *   - answered calls waiting to complete at once: more than max_held.
 *     Their streams are open, and the stream cap bounds them, unless the
 *     client reset them: gRPC 1.51 completes an answer on a reset stream
 *     only after the connection's write in progress, which waits behind
 *     the reading of the flood, so the calls pile up.
 * A client that keeps to the stream cap and does not reset streams in
 * bulk meets neither. A connection aborted is logged (warn) and counted.
 *
 * Only those abnormal paths touch the table: a reset before the request,
 * and answers while a worker holds more calls than one connection may
 * open (call.c). Connections past SL_CONNGUARD_PEERS at once, and peers
 * gRPC does not name by an IP address ("unknown"), are not tracked (the
 * call is served; fail open).
 * A NULL guard tracks nothing.
 * THREAD SAFETY: every function may be called from any thread.
 */
#ifndef SL_CONNGUARD_H
#define SL_CONNGUARD_H

#include <stdint.h>

#define SL_CONNGUARD_PEERS 4096 /* connections tracked at once, at most */

struct sl_connguard;
struct sl_connguard_peer; /* one tracked connection */

/* A guard for the gRPC listener on `port` (TCP); NULL when out of memory.
 * max_resets and max_held are the limits above (>= 1). */
struct sl_connguard *sl_connguard_create(int port, int max_resets,
                                         int max_held);
void sl_connguard_destroy(struct sl_connguard *g);

/* A call of `peer` came with its stream reset before its request, at
 * now_ms (sl_clock_ms). */
void sl_connguard_reset(struct sl_connguard *g, const char *peer,
                        int64_t now_ms);

/* An answered call of `peer` waits to complete: the handle to give back
 * with sl_connguard_release() when it does, or NULL (not tracked). */
struct sl_connguard_peer *sl_connguard_hold(struct sl_connguard *g,
                                            const char *peer, int64_t now_ms);
void sl_connguard_release(struct sl_connguard *g, struct sl_connguard_peer *p);

/* Forgets connections with nothing held and no reset within the last
 * second; returns how many are still tracked. */
int sl_connguard_sweep(struct sl_connguard *g, int64_t now_ms);

/* Aborts (TCP reset) this process's TCP connection from `peer`, in gRPC's
 * form ("ipv4:A.B.C.D:P", "ipv6:[A]:P", brackets plain or as %5B/%5D), on
 * local port `port`: 0, or -1 when there is none (gone, or a peer of
 * another form, a Unix socket's). It looks the socket up among the
 * process's descriptors (/proc/self/fd) through a duplicate, so a
 * descriptor gRPC closes meanwhile cannot turn into another socket. */
int sl_conn_abort(const char *peer, int port);

#endif
