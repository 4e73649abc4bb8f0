"""slow_upstream.py -- a real gRPC server on Python grpcio that answers
QueryServiceLogs only after a delay: the upstream the shim's deadline test
needs (a call that outlives --upstream-timeout must become 504).

usage: slow_upstream.py DELAY_SECONDS
Listens on 127.0.0.1, port 0 (a free port the kernel picks), and prints
that port on stdout once it serves.
"""
import sys
import time
from concurrent import futures

import grpc


def main():
    delay = float(sys.argv[1])

    def query(request, context):
        time.sleep(delay)  # the slowness under test
        return b""

    handler = grpc.method_handlers_generic_handler(
        "modelarts.v1.ServiceLogs",
        {"QueryServiceLogs": grpc.unary_unary_rpc_method_handler(query)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                         handlers=[handler],
                         options=[("grpc.so_reuseport", 0)])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    server.wait_for_termination(timeout=120)


if __name__ == "__main__":
    main()
