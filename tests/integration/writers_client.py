"""writers_client.py -- the deployment controller's side of
modelarts.v1.ServiceLogWriter, on Python grpcio (another stack than ours),
with its own protobuf encoder (no generated code of servicelogs).

usage:
  writers_client.py ADDR put PROJECT SERVICE NAME INFER_TYPE [TOKEN]
      INFER_TYPE: a number (1 REAL_TIME, 2 EDGE, 3 BATCH, anything else)
  writers_client.py ADDR record PROJECT SERVICE LOG_JSON [TOKEN]
      LOG_JSON: a log object as the import document spells it (result
      "SUCCESS", operation "deploy", ...); envs are sent in reverse key
      order, so the server must sort them itself
  writers_client.py ADDR record-hex PROJECT SERVICE HEX [TOKEN]
      the log field's bytes as given (for NULs and bad UTF-8)
  writers_client.py ADDR query PROJECT SERVICE [TOKEN]
  writers_client.py ADDR logs-hex PROJECT SERVICE [TOKEN]
prints, for put/record: "OK created=true|false", or
"<STATUS_NAME> <reason> | <details>"; for query: "OK <name> <t>:<result> ..."
(oldest first); for logs-hex: one line of hex per stored log.
"""
import json
import os
import struct
import sys

import grpc

sys.path.insert(0, os.path.dirname(__file__))
from grpc_probe import parse_status  # noqa: E402
from wire import fields, ld, request, varint  # noqa: E402

RESULTS = {"SUCCESS": 1, "FAIL": 2, "RUNNING": 3}
RESULT_NAMES = {v: k for k, v in RESULTS.items()}
OPERATIONS = {"deploy": 1, "delete": 2}


def vint(n, v):
    """Varint field n (int64/int32/enum/bool; negatives as 10 bytes)."""
    if v < 0:
        v += 1 << 64
    return varint(n << 3) + varint(v)


def f32(n, v):
    return varint(n << 3 | 5) + struct.pack("<f", v)


def custom_spec(cs):
    b = b""
    if "gpu_p4" in cs:
        b += f32(1, cs["gpu_p4"])
    if "memory" in cs:
        b += vint(2, int(cs["memory"]))
    if "cpu" in cs:
        b += f32(3, cs["cpu"])
    if "ascend_a310" in cs:
        b += vint(4, int(cs["ascend_a310"]))
    return b


def config(c):
    b = ld(1, c["model_id"]) + ld(2, c["model_name"]) + \
        ld(3, c["model_version"])
    if "weight" in c:
        b += vint(4, int(c["weight"]))
    if "specification" in c:
        b += ld(5, c["specification"])
    if "instance_count" in c:
        b += vint(6, int(c["instance_count"]))
    for k in sorted(c.get("envs", {}), reverse=True):
        b += ld(7, ld(1, k) + ld(2, c["envs"][k]))
    if "custom_spec" in c:
        b += ld(8, custom_spec(c["custom_spec"]))
    if "cluster_id" in c:
        b += ld(9, c["cluster_id"])
    return b


def node(r):
    return ld(1, r["node_id"]) + ld(2, r["node_name"]) + \
        vint(3, OPERATIONS[r["operation"]]) + vint(4, 1 if r["result"] else 0)


def service_log(log):
    b = vint(1, int(log["update_time"]))
    b += vint(2, RESULTS.get(log["result"], 0) if isinstance(
        log["result"], str) else log["result"])
    for c in log.get("config", []):
        b += ld(3, config(c))
    if "success_num" in log:
        b += vint(4, int(log["success_num"]))
    if "failed_num" in log:
        b += vint(5, int(log["failed_num"]))
    for r in log.get("result_detail", []):
        b += ld(6, node(r))
    if "cluster_id" in log:
        b += ld(7, log["cluster_id"])
    for e in log.get("extend_config", []):
        b += ld(8, e)
    return b


def call(addr, method, req, token):
    md = [("x-auth-token", token)] if token else None
    with grpc.insecure_channel(addr) as ch:
        stub = ch.unary_unary(method, request_serializer=None,
                              response_deserializer=None)
        try:
            return "OK", stub(req, timeout=10, metadata=md)
        except grpc.RpcError as e:
            reason = "-"
            for k, v in e.trailing_metadata() or ():
                if k == "grpc-status-details-bin":
                    reason = parse_status(v)[0] or "-"
            return "%s %s | %s" % (e.code().name, reason, e.details()), None


def created(resp):
    c = dict(fields(resp)).get(1, 0)
    return "OK created=%s" % ("true" if c else "false")


def main():
    addr, cmd = sys.argv[1:3]
    a = sys.argv[3:]
    if cmd == "put":
        req = ld(1, a[0]) + ld(2, a[1]) + ld(3, a[2])
        if int(a[3]):
            req += vint(4, int(a[3]))
        st, resp = call(addr, "/modelarts.v1.ServiceLogWriter/PutService",
                        req, a[4] if len(a) > 4 else None)
        print(created(resp) if resp is not None else st)
    elif cmd in ("record", "record-hex"):
        body = service_log(json.loads(a[2])) if cmd == "record" else \
            bytes.fromhex(a[2])
        req = ld(1, a[0]) + ld(2, a[1]) + ld(3, body)
        st, resp = call(
            addr, "/modelarts.v1.ServiceLogWriter/RecordServiceUpdate", req,
            a[3] if len(a) > 3 else None)
        print(created(resp) if resp is not None else st)
    elif cmd in ("query", "logs-hex"):
        st, resp = call(addr, "/modelarts.v1.ServiceLogs/QueryServiceLogs",
                        request(a[0], a[1]), a[2] if len(a) > 2 else None)
        if resp is None:
            print(st)
            return
        name, logs = "", []
        for n, v in fields(resp):
            if n == 2:
                name = v.decode()
            elif n == 3:
                logs.append(v)
        if cmd == "logs-hex":
            for log in logs:
                print(log.hex())
            return
        out = []
        for log in logs:
            f = dict(fields(log))
            out.append("%d:%s" % (f.get(1, 0),
                                  RESULT_NAMES.get(f.get(2, 0), "?")))
        print(" ".join(["OK", name] + out))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
