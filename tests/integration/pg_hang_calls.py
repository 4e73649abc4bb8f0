"""pg_hang_calls.py -- N QueryServiceLogs calls at once, each timed (grpcio).

usage: pg_hang_calls.py ADDR PROJECT SERVICE N DEADLINE_S
Opens N channels, a connection each (the server binds each connection to
one worker's queue first, so several connections are what spreads calls
over the workers), waits until every one is connected, then starts the N calls together, each
with a DEADLINE_S client deadline, and prints one line per call,
"<STATUS> <ms>" (OK or the status name, and the time it took), slowest
last.
"""
import os
import sys
import threading
import time

import grpc

sys.path.insert(0, os.path.dirname(__file__))
from wire import request  # noqa: E402

METHOD = "/modelarts.v1.ServiceLogs/QueryServiceLogs"


def main():
    addr, project, service = sys.argv[1:4]
    n, deadline = int(sys.argv[4]), float(sys.argv[5])
    req = request(project, service)
    # A local subchannel pool: a connection each (by default grpcio shares
    # one between channels to the same target).
    opts = [("grpc.use_local_subchannel_pool", 1)]
    chans = [grpc.insecure_channel(addr, options=opts) for _ in range(n)]
    for ch in chans:
        grpc.channel_ready_future(ch).result(timeout=10)
    go = threading.Barrier(n)
    out = [None] * n

    def one(i):
        call = chans[i].unary_unary(METHOD)
        go.wait()
        t0 = time.monotonic()
        try:
            call(req, timeout=deadline)
            status = "OK"
        except grpc.RpcError as e:
            status = e.code().name
        out[i] = (int((time.monotonic() - t0) * 1000), status)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for ch in chans:
        ch.close()
    for ms, status in sorted(out):
        print("%s %d" % (status, ms))


if __name__ == "__main__":
    main()
