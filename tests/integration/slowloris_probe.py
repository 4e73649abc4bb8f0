"""slowloris_probe.py -- clients that never finish a request, against the
REST shim's request deadline (--http-header-timeout), for
test_slowloris.sh.

usage: slowloris_probe.py [--tls] MODE PORT ARGS...
  trickle PORT N SECS PATH
      N connections send a request head one byte each per 250 ms (a long
      X-Pad header, never finished) for SECS, while a normal client asks
      for PATH every 200 ms on a fresh connection (5 s timeout). Prints
        trickle: <k>/<N> closed while sending, <lo> to <hi> ms after connect
        normal: <n> requests, <statuses>, slowest <ms> ms
  silent PORT
      One connection that sends nothing at all (with --tls: not even a
      ClientHello). Prints "silent: closed <ms> ms after connect".
  body PORT PATH
      A complete GET head announcing a 1000-byte body, then the body one
      byte per 250 ms. Prints "body: closed <ms> ms after connect".
  keepalive PORT PATH IDLE
      A request, its response, IDLE seconds of silence, then a second
      request on the same connection. Prints "keepalive: <status> <status>".
  next PORT PATH
      A request, its response, then the next request's head one byte per
      250 ms. Prints "next: closed <ms> ms after the response".
"Closed" means the server ended the connection (EOF or reset) while the
client still sent; a connection still open after 20 s prints "open" instead
of a time. --tls: every connection is TLS (no certificate check), its
handshake done before the clock's first byte (but silent's).
"""
import http.client
import select
import socket
import ssl
import sys
import threading
import time

HEAD = (b"GET /v1/demo-project/services/mnist-svc/logs HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\nX-Pad: " + b"a" * 8000)
TICK = 0.25  # between two bytes of one connection
GIVE_UP = 20.0  # seconds a connection may stay open before "open"
TLS = None  # an ssl.SSLContext with --tls


def connect(port, handshake=True):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    t0 = time.monotonic()
    if TLS and handshake:
        s = TLS.wrap_socket(s, server_hostname="localhost")
    s.setblocking(False)
    return s, t0


def closed_by_peer(s):
    """True when the server has ended s (EOF or reset); never blocks."""
    pending = isinstance(s, ssl.SSLSocket) and s.pending()
    if not pending and not select.select([s], [], [], 0)[0]:
        return False
    try:
        return s.recv(65536) == b""  # no response ever comes
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
        return False
    except OSError:
        return True


def send_some(s, data):
    """Sends data (a byte or a few); False when the server has ended s."""
    try:
        s.send(data)
        return True
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
        return True
    except OSError:
        return False


def http_conn(port, timeout=5):
    if TLS:
        return http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout,
                                           context=TLS)
    return http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)


def trickle_until_closed(s, data, t0):
    """Sends data one byte per TICK until the server ends s; the ms from
    t0 to then, or None after GIVE_UP."""
    i = 0
    next_send = time.monotonic()
    while time.monotonic() < t0 + GIVE_UP:
        if closed_by_peer(s):
            return (time.monotonic() - t0) * 1000
        if time.monotonic() >= next_send:
            if not send_some(s, data[i % len(data):i % len(data) + 1]):
                return (time.monotonic() - t0) * 1000
            i += 1
            next_send += TICK
        time.sleep(0.01)
    return None


def fmt(ms):
    return "open" if ms is None else "closed %.0f ms" % ms


def trickle(port, n, secs, path):
    conns = [connect(port) for _ in range(n)]
    closed = [None] * n  # ms after its connect
    statuses, times = [], []
    stop = threading.Event()

    def normal_client():
        while not stop.is_set():
            t0 = time.monotonic()
            c = http_conn(port)
            try:
                c.request("GET", path)
                r = c.getresponse()
                r.read()
                st = r.status
            except OSError as e:
                st = type(e).__name__
            finally:
                c.close()
            statuses.append(st)
            times.append((time.monotonic() - t0) * 1000)
            stop.wait(0.2)

    th = threading.Thread(target=normal_client)
    th.start()
    sent = 0
    end = time.monotonic() + secs
    next_send = time.monotonic()
    while time.monotonic() < end:
        for i, (s, t0) in enumerate(conns):
            if closed[i] is not None:
                continue
            gone = closed_by_peer(s)
            if not gone and time.monotonic() >= next_send:
                gone = not send_some(s, HEAD[sent:sent + 1])
            if gone:
                closed[i] = (time.monotonic() - t0) * 1000
        if time.monotonic() >= next_send:
            sent += 1
            next_send += TICK
        time.sleep(0.01)
    stop.set()
    th.join()
    done = [c for c in closed if c is not None]
    print("trickle: %d/%d closed while sending, %.0f to %.0f ms after connect"
          " (%d head bytes sent each at most)" % (
              len(done), n, min(done, default=0), max(done, default=0), sent),
          flush=True)
    print("normal: %d requests, %s, slowest %.0f ms" % (
        len(statuses), " ".join(sorted(set(map(str, statuses)))),
        max(times, default=0.0)), flush=True)
    for s, _ in conns:
        s.close()


def silent(port):
    s, t0 = connect(port, handshake=False)
    ms = None
    while time.monotonic() < t0 + GIVE_UP:
        if closed_by_peer(s):
            ms = (time.monotonic() - t0) * 1000
            break
        time.sleep(0.01)
    print("silent: %s after connect" % fmt(ms), flush=True)
    s.close()


def body(port, path):
    s, t0 = connect(port)
    # GET: the shim reads and drops a body (up to its bound) before it
    # answers, so the deadline runs until the body is in.
    head = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n"
            "\r\n" % path).encode()
    s.setblocking(True)
    s.sendall(head)
    s.setblocking(False)
    ms = trickle_until_closed(s, b"x" * 1000, t0)
    print("body: %s after connect" % fmt(ms), flush=True)
    s.close()


def get(c, path):
    c.request("GET", path)
    r = c.getresponse()
    r.read()
    return r.status


def keepalive(port, path, idle):
    c = http_conn(port, timeout=10)
    first = get(c, path)
    time.sleep(idle)  # under test: idle past the deadline, within the idle timeout
    try:
        second = get(c, path)
    except (OSError, http.client.HTTPException) as e:
        second = type(e).__name__
    c.close()
    print("keepalive: %s %s" % (first, second), flush=True)


def next_request(port, path):
    c = http_conn(port, timeout=10)
    get(c, path)
    t0 = time.monotonic()
    s = c.sock
    s.setblocking(False)
    ms = trickle_until_closed(s, HEAD, t0)
    print("next: %s after the response" % fmt(ms), flush=True)
    c.close()


def main():
    global TLS
    args = sys.argv[1:]
    if args and args[0] == "--tls":
        TLS = ssl.create_default_context()
        TLS.check_hostname = False
        TLS.verify_mode = ssl.CERT_NONE
        args = args[1:]
    mode, port = args[0], int(args[1])
    if mode == "trickle":
        trickle(port, int(args[2]), float(args[3]), args[4])
    elif mode == "silent":
        silent(port)
    elif mode == "body":
        body(port, args[2])
    elif mode == "keepalive":
        keepalive(port, args[2], float(args[3]))
    elif mode == "next":
        next_request(port, args[2])
    else:
        sys.exit("unknown mode %s" % mode)


if __name__ == "__main__":
    main()
