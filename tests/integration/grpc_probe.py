"""grpc_probe.py -- a raw gRPC client on Python grpcio (another stack than
ours), for what the nanopb client cannot send: malformed messages, unknown
methods, and a look at the grpc-status-details-bin trailer.

usage: grpc_probe.py ADDR METHOD HEX_REQUEST [TOKEN]
prints: <STATUS_NAME> <reason> <domain> <len(response)> | <details>
"""
import sys

import grpc

sys.path.insert(0, __import__("os").path.dirname(__file__))
from wire import fields  # noqa: E402


def parse_status(blob):
    """Minimal google.rpc.Status / Any / ErrorInfo decoder (no generated
    code needed): returns (reason, domain)."""

    reason = domain = ""
    for num, v in fields(blob):
        if num == 3:  # details: Any
            url = val = b""
            for n2, v2 in fields(v):
                if n2 == 1:
                    url = v2
                elif n2 == 2:
                    val = v2
            if url == b"type.googleapis.com/google.rpc.ErrorInfo":
                for n3, v3 in fields(val):
                    if n3 == 1:
                        reason = v3.decode()
                    elif n3 == 2:
                        domain = v3.decode()
    return reason, domain


def main():
    addr, method, hexreq = sys.argv[1:4]
    md = [("x-auth-token", sys.argv[4])] if len(sys.argv) > 4 else None
    with grpc.insecure_channel(addr) as ch:
        call = ch.unary_unary(method, request_serializer=None,
                              response_deserializer=None)
        try:
            resp, c = call.with_call(bytes.fromhex(hexreq), timeout=5,
                                     metadata=md)
            print("OK - - %d" % len(resp))
        except grpc.RpcError as e:
            reason = domain = "-"
            for k, v in e.trailing_metadata() or ():
                if k == "grpc-status-details-bin":
                    reason, domain = parse_status(v)
            print("%s %s %s | %s" % (e.code().name, reason or "-",
                                     domain or "-", e.details()))


if __name__ == "__main__":
    main()
