"""tls_probe.py -- one QueryServiceLogs call over TLS with Python grpcio
(another TLS stack than the server's), for test_tls.sh: our CLI has no TLS
flags.

usage: tls_probe.py ADDR PROJECT SERVICE [--ca FILE] [--cert FILE --key FILE]
                    [--name NAME] [--plaintext]
prints: OK <service_id> <service_name> <number of logs>
    or: <STATUS_NAME> | <details>
"""
import argparse
import sys

import grpc

sys.path.insert(0, __import__("os").path.dirname(__file__))
from wire import fields, request  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("addr")
    ap.add_argument("project")
    ap.add_argument("service")
    ap.add_argument("--ca")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--name")
    ap.add_argument("--plaintext", action="store_true")
    a = ap.parse_args()

    def read(p):
        with open(p, "rb") as f:
            return f.read()

    if a.plaintext:
        ch = grpc.insecure_channel(a.addr)
    else:
        creds = grpc.ssl_channel_credentials(
            root_certificates=read(a.ca) if a.ca else None,
            private_key=read(a.key) if a.key else None,
            certificate_chain=read(a.cert) if a.cert else None)
        opts = [("grpc.ssl_target_name_override", a.name)] if a.name else []
        ch = grpc.secure_channel(a.addr, creds, options=opts)
    with ch:
        call = ch.unary_unary("/modelarts.v1.ServiceLogs/QueryServiceLogs",
                              request_serializer=None,
                              response_deserializer=None)
        try:
            resp = call(request(a.project, a.service), timeout=5)
        except grpc.RpcError as e:
            print("%s | %s" % (e.code().name, e.details()))
            return
    sid = name = ""
    logs = 0
    for num, v in fields(resp):
        if num == 1:
            sid = v.decode()
        elif num == 2:
            name = v.decode()
        elif num == 3:
            logs += 1
    print("OK %s %s %d" % (sid, name, logs))


if __name__ == "__main__":
    sys.exit(main())
