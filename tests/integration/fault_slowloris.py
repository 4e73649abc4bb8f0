"""fault_slowloris.py -- slow-loris clients on the REST shim, for
test_faults.sh.

usage: fault_slowloris.py HTTP_PORT N TRICKLE_SECS STALL_LIMIT_SECS PATH
Opens N connections that send a request's headers one byte per connection
every 250 ms and never finish them (a long X-Pad header), for TRICKLE_SECS.
Meanwhile a normal client (its own thread) asks for PATH every 200 ms on a
fresh connection.
Then the slow clients stop sending (stalled, headers still unfinished) and
the script waits up to STALL_LIMIT_SECS for the server to close them all.
Prints:
  trickle: <k>/<N> closed by the server while they trickled
  normal: <n> requests, <statuses>, slowest <ms> ms
  stalled: <k>/<N> closed by the server, the last <ms> ms after they stalled
"""
import http.client
import select
import socket
import sys
import threading
import time

HEAD = (b"GET /v1/demo-project/services/mnist-svc/logs HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\nX-Pad: " + b"a" * 4000)


def closed_by_peer(s):
    """True when the server has closed s (EOF or reset); never blocks."""
    r, _, _ = select.select([s], [], [], 0)
    if not r:
        return False
    try:
        return s.recv(4096) == b""  # a response would also end it; none come
    except OSError:
        return True


def normal_request(port, path):
    t0 = time.monotonic()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        status = r.status
    except OSError as e:
        status = type(e).__name__
    finally:
        c.close()
    return status, (time.monotonic() - t0) * 1000


def main():
    port, n = int(sys.argv[1]), int(sys.argv[2])
    trickle, limit, path = float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
    conns = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.setblocking(False)
        conns.append(s)
    closed = [None] * n  # when the server closed it
    statuses, times = [], []
    stop = threading.Event()

    def normal_client():
        while not stop.is_set():
            st, ms = normal_request(port, path)
            statuses.append(st)
            times.append(ms)
            stop.wait(0.2)

    th = threading.Thread(target=normal_client)
    th.start()
    sent = 0
    end = time.monotonic() + trickle
    while time.monotonic() < end:
        for i, s in enumerate(conns):
            if closed[i] is not None:
                continue
            if closed_by_peer(s):
                closed[i] = time.monotonic()
                continue
            try:
                s.send(HEAD[sent:sent + 1])
            except OSError:
                closed[i] = time.monotonic()
        sent += 1
        time.sleep(0.25)  # under test: the trickle's pace
    stop.set()
    th.join()
    slowest = max(times, default=0.0)
    during = sum(1 for c in closed if c is not None)
    print("trickle: %d/%d closed by the server while they trickled"
          " (%d header bytes each)" % (during, n, sent), flush=True)
    print("normal: %d requests, %s, slowest %.0f ms" % (
        len(statuses), " ".join(sorted(set(map(str, statuses)))), slowest),
        flush=True)
    stall = time.monotonic()
    while time.monotonic() < stall + limit and None in closed:
        for i, s in enumerate(conns):
            if closed[i] is None and closed_by_peer(s):
                closed[i] = time.monotonic()
        time.sleep(0.02)
    k = sum(1 for c in closed if c is not None)
    last = max((c for c in closed if c is not None), default=stall)
    print("stalled: %d/%d closed by the server, the last %.0f ms after they"
          " stalled" % (k, n, max(0.0, last - stall) * 1000), flush=True)
    for s in conns:
        s.close()


if __name__ == "__main__":
    main()
