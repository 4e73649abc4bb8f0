"""steady_client.py -- a well-behaved gRPC client, measured (grpcio).

usage: steady_client.py ADDR PROJECT SERVICE N
Makes N QueryServiceLogs calls one after another, each with a 5 s deadline,
and prints "ok K/N p99_ms P" (P: the 99th percentile latency of all N
calls in milliseconds, failures counted at the time they took), then one
line per distinct failure status.
"""
import os
import sys
import time

import grpc

sys.path.insert(0, os.path.dirname(__file__))
from wire import request  # noqa: E402


def main():
    addr, project, service, n = sys.argv[1], sys.argv[2], sys.argv[3], \
        int(sys.argv[4])
    req = request(project, service)
    opts = [("grpc.max_receive_message_length", 64 << 20)]
    with grpc.insecure_channel(addr, options=opts) as ch:
        call = ch.unary_unary("/modelarts.v1.ServiceLogs/QueryServiceLogs")
        grpc.channel_ready_future(ch).result(timeout=10)
        ok, lat, fails = 0, [], {}
        for _ in range(n):
            t0 = time.monotonic()
            try:
                call(req, timeout=5)
                ok += 1
            except grpc.RpcError as e:
                fails[e.code().name] = fails.get(e.code().name, 0) + 1
            lat.append((time.monotonic() - t0) * 1000)
    lat.sort()
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    print("ok %d/%d p99_ms %d" % (ok, n, p99))
    for k, v in sorted(fails.items()):
        print("failed %s %d" % (k, v))


if __name__ == "__main__":
    main()
