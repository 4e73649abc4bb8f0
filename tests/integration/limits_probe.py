"""limits_probe.py -- concurrency and size limits, from Python grpcio.

usage:
  limits_probe.py ADDR burst N PROJECT SERVICE   N calls at once; prints
                                                  "<STATUS> <reason>" counts
  limits_probe.py ADDR big BYTES                  one request of BYTES bytes
  limits_probe.py URL rest-burst N                N REST GETs at once; prints
                                                  "<HTTP> <error_code>" counts
"""
import collections
import concurrent.futures
import json
import sys
import urllib.error
import urllib.request

import grpc

sys.path.insert(0, __import__("os").path.dirname(__file__))
from grpc_probe import parse_status  # noqa: E402
from wire import ld  # noqa: E402


def reason_of(e):
    for k, v in e.trailing_metadata() or ():
        if k == "grpc-status-details-bin":
            return parse_status(v)[0] or "-"
    return "-"


def main():
    target, verb = sys.argv[1], sys.argv[2]
    counts = collections.Counter()
    if verb == "rest-burst":
        n = int(sys.argv[3])

        def get(_):
            try:
                with urllib.request.urlopen(target, timeout=20) as r:
                    r.read()
                    return "200 -"
            except urllib.error.HTTPError as e:
                body = json.loads(e.read() or b"{}")
                return "%d %s" % (e.code, body.get("error_code", "-"))

        with concurrent.futures.ThreadPoolExecutor(n) as ex:
            counts.update(ex.map(get, range(n)))
    else:
        opts = [("grpc.max_receive_message_length", 64 << 20),
                ("grpc.max_send_message_length", 64 << 20)]
        with grpc.insecure_channel(target, options=opts) as ch:
            call = ch.unary_unary("/modelarts.v1.ServiceLogs/QueryServiceLogs")
            if verb == "burst":
                n, project, service = int(sys.argv[3]), sys.argv[4], sys.argv[5]
                req = ld(1, project) + ld(2, service)
                futs = [call.future(req, timeout=30) for _ in range(n)]
                reqs = futs
            else:
                reqs = [call.future(ld(1, "p") + ld(9, b"x" * int(sys.argv[3])),
                                    timeout=10)]
            for f in reqs:
                try:
                    f.result()
                    counts["OK -"] += 1
                except grpc.RpcError as e:
                    counts["%s %s" % (e.code().name, reason_of(e))] += 1
    for k, v in sorted(counts.items()):
        print("%s %d" % (k, v))


if __name__ == "__main__":
    main()
