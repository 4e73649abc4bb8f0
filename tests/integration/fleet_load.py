"""fleet_load.py -- a bounded loader and a few probes for the fleet tests
(Python grpcio and http.client: another stack than ours).

usage:
  fleet_load.py load OUT GRPC_ADDR REST_HOSTPORT PROJECT SERVICE SECS
      GRPC_THREADS gRPC callers sharing one channel (one HTTP/2
      connection: the balancer spreads its calls) and one REST caller on
      one kept-alive connection (re-opened after an error), each pausing
      PAUSE_MS between calls, for SECS seconds or until SIGTERM. One line
      per call to OUT, flushed: "EPOCH_S KIND CODE MS" (KIND g or r; CODE
      OK, a gRPC status name, an HTTP status, or EXC for a REST transport
      error). "ready" on stdout once the channel is up.
      Environment: FLEET_GRPC_THREADS (2), FLEET_PAUSE_MS (10).
  fleet_load.py stats OUT FROM TO
      counts the calls that started in [FROM, TO) (epoch seconds; TO may
      be "end"): "calls N errors E" then one "CODE COUNT" line per error.
  fleet_load.py raw ADDR PROJECT SERVICE
      one QueryServiceLogs call; prints the response's bytes in hex, or
      the status name.
  fleet_load.py rr ADDR N PREFIX PROJECT SERVICE
      N calls on one channel, the i-th with x-request-id PREFIX-i; prints
      "ok K/N".
"""
import http.client
import os
import signal
import sys
import threading
import time

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wire import request  # noqa: E402

METHOD = "/modelarts.v1.ServiceLogs/QueryServiceLogs"
OPTS = [("grpc.max_receive_message_length", 64 << 20),
        # reconnect to the balancer quickly should it drop the connection
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 500)]


def load(out, gaddr, rest, project, service, secs):
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    end = time.monotonic() + float(secs)
    pause = int(os.environ.get("FLEET_PAUSE_MS", "10")) / 1000.0
    nthreads = int(os.environ.get("FLEET_GRPC_THREADS", "2"))
    f = open(out, "a", buffering=1)
    mu = threading.Lock()

    def note(t0, kind, code):
        ms = (time.monotonic() - t0) * 1000
        with mu:
            f.write("%.3f %s %s %d\n" % (time.time() - ms / 1000, kind, code,
                                        ms))

    req = request(project, service)
    ch = grpc.insecure_channel(gaddr, options=OPTS)
    grpc.channel_ready_future(ch).result(timeout=10)
    call = ch.unary_unary(METHOD)
    path = "/v1/%s/services/%s/logs" % (project, service)
    host, port = rest.rsplit(":", 1)

    def grpc_caller():
        while not stop.is_set() and time.monotonic() < end:
            t0 = time.monotonic()
            try:
                call(req, timeout=5)
                note(t0, "g", "OK")
            except grpc.RpcError as e:
                note(t0, "g", e.code().name)
            stop.wait(pause)

    def rest_caller():
        conn = None
        while not stop.is_set() and time.monotonic() < end:
            t0 = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(host, int(port),
                                                      timeout=5)
                conn.request("GET", path)
                r = conn.getresponse()
                r.read()
                note(t0, "r", "OK" if r.status == 200 else str(r.status))
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                note(t0, "r", "EXC")
                if conn:
                    conn.close()
                conn = None
            stop.wait(pause)

    threads = [threading.Thread(target=grpc_caller) for _ in range(nthreads)]
    threads.append(threading.Thread(target=rest_caller))
    for t in threads:
        t.start()
    print("ready", flush=True)
    for t in threads:
        t.join()
    ch.close()
    f.close()
    return 0


def stats(out, lo, hi):
    lo = float(lo)
    hi = float("inf") if hi == "end" else float(hi)
    calls, errs = 0, {}
    for line in open(out):
        p = line.split()
        if len(p) < 3 or not lo <= float(p[0]) < hi:
            continue
        calls += 1
        if p[2] != "OK":
            errs[p[1] + ":" + p[2]] = errs.get(p[1] + ":" + p[2], 0) + 1
    print("calls %d errors %d" % (calls, sum(errs.values())))
    for k in sorted(errs):
        print("%s %d" % (k, errs[k]))
    return 0


def raw(addr, project, service):
    with grpc.insecure_channel(addr, options=OPTS) as ch:
        try:
            print(ch.unary_unary(METHOD)(request(project, service),
                                         timeout=10).hex())
        except grpc.RpcError as e:
            print(e.code().name)
    return 0


def rr(addr, n, prefix, project, service):
    ok = 0
    with grpc.insecure_channel(addr, options=OPTS) as ch:
        call = ch.unary_unary(METHOD)
        for i in range(int(n)):
            try:
                call(request(project, service), timeout=10,
                     metadata=[("x-request-id", "%s-%d" % (prefix, i))])
                ok += 1
            except grpc.RpcError:
                pass
    print("ok %d/%s" % (ok, n))
    return 0


def main():
    cmds = {"load": (load, 6), "stats": (stats, 3), "raw": (raw, 3),
            "rr": (rr, 5)}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds or \
            len(sys.argv) != 2 + cmds[sys.argv[1]][1]:
        sys.exit(__doc__)
    return cmds[sys.argv[1]][0](*sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
