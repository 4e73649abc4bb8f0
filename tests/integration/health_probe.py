"""health_probe.py -- grpc.health.v1 client on Python grpcio (another
stack than ours), with hand-encoded messages.

usage:
  health_probe.py ADDR check NAME        prints SERVING / NOT_SERVING / ...
                                          or the error status name
  health_probe.py ADDR watch NAME SECS   prints each status as it arrives,
                                          then END <status name> when the
                                          server ends the stream, or
                                          OPEN after SECS if it is still open
"""
import sys
import threading

import grpc

NAMES = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


def req(name):
    b = name.encode()
    return (bytes([0x0A, len(b)]) + b) if b else b""


def status_of(resp):
    # HealthCheckResponse{status = 1 (varint)}; empty means 0
    if len(resp) >= 2 and resp[0] == 0x08:
        return NAMES.get(resp[1], str(resp[1]))
    return NAMES[0]


def main():
    addr, verb, name = sys.argv[1:4]
    with grpc.insecure_channel(addr) as ch:
        if verb == "check":
            call = ch.unary_unary("/grpc.health.v1.Health/Check")
            try:
                print(status_of(call(req(name), timeout=5)))
            except grpc.RpcError as e:
                print(e.code().name)
            return
        secs = float(sys.argv[4])
        call = ch.unary_stream("/grpc.health.v1.Health/Watch")
        it = call(req(name), timeout=secs + 30)
        timer = threading.Timer(secs, it.cancel)
        timer.start()
        try:
            for resp in it:
                print(status_of(resp), flush=True)
            print("END OK", flush=True)
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.CANCELLED and not timer.is_alive():
                print("OPEN", flush=True)
            else:
                print("END %s" % e.code().name, flush=True)
        finally:
            timer.cancel()


if __name__ == "__main__":
    main()
