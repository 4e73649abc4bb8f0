"""fault_query.py -- one QueryServiceLogs call on Python grpcio with a
chosen deadline (grpc_probe.py's is 5 s; a reader shut out of SQLite's WAL
gives up only after about 10 s).

usage: fault_query.py ADDR PROJECT SERVICE TIMEOUT_SECONDS
prints: OK <response bytes>   or   <STATUS_NAME> <reason> | <details>
"""
import os
import sys

import grpc

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from grpc_probe import parse_status  # noqa: E402


def ld(n, s):
    b = s.encode()
    return bytes([n << 3 | 2, len(b)]) + b


def main():
    addr, project, service, timeout = sys.argv[1:5]
    opts = [("grpc.max_receive_message_length", 64 << 20)]
    with grpc.insecure_channel(addr, options=opts) as ch:
        call = ch.unary_unary("/modelarts.v1.ServiceLogs/QueryServiceLogs")
        try:
            resp = call(ld(1, project) + ld(2, service), timeout=float(timeout))
            print("OK %d" % len(resp))
        except grpc.RpcError as e:
            reason = "-"
            for k, v in e.trailing_metadata() or ():
                if k == "grpc-status-details-bin":
                    reason = parse_status(v)[0] or "-"
            print("%s %s | %s" % (e.code().name, reason, e.details()))


if __name__ == "__main__":
    main()
