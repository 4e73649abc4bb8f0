"""inflight_probe.py -- SIGTERM while calls are in flight (Python grpcio).

usage: inflight_probe.py ADDR PID N PROJECT SERVICE
Starts N QueryServiceLogs calls at once, sends SIGTERM to PID while they
run, then makes one more call. Prints one line per fact:
  inflight OK <n>/<N>      calls started before SIGTERM that ended OK
  new <STATUS>             the call made after SIGTERM
"""
import os
import signal
import sys
import time

import grpc

sys.path.insert(0, os.path.dirname(__file__))
from wire import ld  # noqa: E402


def server_rx_queues(port):
    """The receive-queue sizes of the established connections whose local
    port is port (the server's ends), from /proc/net/tcp and tcp6."""
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    local, state, queues = fields[1], fields[3], fields[4]
                    if state == "01" and int(local.split(":")[1], 16) == port:
                        out.append(int(queues.split(":")[1], 16))
        except OSError:
            pass
    return out


def wait_read(port, secs=5.0):
    """Until the server has read all the client sent (at least 50 ms, at
    most secs): each of its connections' receive queue empty twice in a
    row, 10 ms apart. Returns the milliseconds it waited."""
    t0 = time.monotonic()
    time.sleep(0.05)
    end, quiet = t0 + secs, 0
    while time.monotonic() < end and quiet < 2:
        q = server_rx_queues(port)
        quiet = quiet + 1 if q and not any(q) else 0
        time.sleep(0.01)
    return int((time.monotonic() - t0) * 1000)


def main():
    addr, pid, n, project, service = sys.argv[1:6]
    n = int(n)
    req = ld(1, project) + ld(2, service)
    opts = [("grpc.max_receive_message_length", 64 << 20)]
    with grpc.insecure_channel(addr, options=opts) as ch:
        call = ch.unary_unary("/modelarts.v1.ServiceLogs/QueryServiceLogs")
        call(req, timeout=10)  # connected and warm
        futs = [call.future(req, timeout=20) for _ in range(n)]
        # The calls are in once the server has read every byte of them:
        # its end of the connection has nothing left in its receive queue
        # (a call not read yet at SIGTERM would be refused, and counted
        # as failed: a slow, loaded machine made that happen).
        waited = wait_read(int(addr.rsplit(":", 1)[1]))
        os.kill(int(pid), signal.SIGTERM)
        print("sigterm_ns %d (the calls were read in %d ms)" %
              (time.time_ns(), waited), flush=True)
        ok = 0
        for f in futs:
            try:
                if len(f.result()) > 0:
                    ok += 1
            except grpc.RpcError as e:
                print("inflight call failed: %s %s" % (e.code().name,
                                                       e.details()))
        print("inflight OK %d/%d" % (ok, n), flush=True)
    # The server stopped taking calls at SIGTERM, long before the in-flight
    # calls ended; this pause only gives a loaded machine's signal thread
    # a margin. A call that is served makes the check fail.
    time.sleep(0.2)
    with grpc.insecure_channel(addr) as ch:
        call = ch.unary_unary("/modelarts.v1.ServiceLogs/QueryServiceLogs")
        try:
            call(req, timeout=2)
            print("new OK")
        except grpc.RpcError as e:
            print("new %s" % e.code().name)


if __name__ == "__main__":
    main()
