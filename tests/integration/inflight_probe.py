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


def main():
    addr, pid, n, project, service = sys.argv[1:6]
    n = int(n)
    req = ld(1, project) + ld(2, service)
    opts = [("grpc.max_receive_message_length", 64 << 20)]
    with grpc.insecure_channel(addr, options=opts) as ch:
        call = ch.unary_unary("/modelarts.v1.ServiceLogs/QueryServiceLogs")
        call(req, timeout=10)  # connected and warm
        futs = [call.future(req, timeout=20) for _ in range(n)]
        # A head start for the calls to reach the server; not a wait for a
        # condition (nothing outside the server can tell when they are in).
        # A call that had not arrived would be refused and counted as
        # failed: this can make the check fail, never pass wrongly.
        time.sleep(0.05)
        os.kill(int(pid), signal.SIGTERM)
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
