"""sse_record.py -- records one log through the writer RPC, for test_sse.sh.

    sse_record.py GRPC_PORT PROJECT SERVICE UPDATE_TIME RESULT

One /modelarts.v1.ServiceLogWriter/RecordServiceUpdate call (grpcio, raw
bytes from wire.py) of a real-time log: RESULT 1 SUCCESS, 2 FAIL,
3 RUNNING; one config. Prints the answer's bytes in hex; exits 1 with the
status on failure.
"""
import os
import sys

import grpc

sys.path.insert(0, os.path.dirname(__file__))
from wire import ld, varint  # noqa: E402


def vf(n, v):
    """Varint field n holding v."""
    return varint(n << 3) + varint(v)


def main():
    port, project, service = sys.argv[1], sys.argv[2], sys.argv[3]
    when, result = int(sys.argv[4]), int(sys.argv[5])
    config = (ld(1, "m-1") + ld(2, "mnist") + ld(3, "2.0.0") + vf(4, 100) +
              ld(5, "modelarts.vm.cpu.2u") + vf(6, 1))
    log = vf(1, when) + vf(2, result) + ld(3, config)
    req = ld(1, project) + ld(2, service) + ld(3, log)
    with grpc.insecure_channel("127.0.0.1:%s" % port) as ch:
        call = ch.unary_unary(
            "/modelarts.v1.ServiceLogWriter/RecordServiceUpdate")
        try:
            print(call(req, timeout=10).hex())
        except grpc.RpcError as e:
            print("%s %s" % (e.code(), e.details()))
            sys.exit(1)


main()
