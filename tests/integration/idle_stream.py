"""idle_stream.py -- holds a reflection stream open and idle (Python
grpcio): sends one list_services request, reads the answer, then neither
sends nor half-closes. Prints "answered", then "END <status>" when the
server ends the stream, or "OPEN" after SECS.

usage: idle_stream.py ADDR SECS
"""
import sys
import threading

import grpc


def main():
    addr, secs = sys.argv[1], float(sys.argv[2])
    stop = threading.Event()

    def requests():
        yield b"\x3a\x00"  # ServerReflectionRequest{list_services: ""}
        stop.wait(secs)

    with grpc.insecure_channel(addr) as ch:
        call = ch.stream_stream(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo")
        it = call(requests(), timeout=secs + 30)
        try:
            next(it)
            print("answered", flush=True)
            for _ in it:
                pass
            print("END OK", flush=True)
        except grpc.RpcError as e:
            print("END %s" % e.code().name, flush=True)
        finally:
            stop.set()


if __name__ == "__main__":
    main()
