"""slow_upstream.py -- a real gRPC server on Python grpcio that answers
QueryServiceLogs only after a delay: the upstream the shim's deadline test
needs (a call that outlives --upstream-timeout must become 504).

usage: slow_upstream.py PORT DELAY_SECONDS
"""
import sys
import time
from concurrent import futures

import grpc


def main():
    port, delay = int(sys.argv[1]), float(sys.argv[2])

    def query(request, context):
        time.sleep(delay)
        return b""

    handler = grpc.method_handlers_generic_handler(
        "modelarts.v1.ServiceLogs",
        {"QueryServiceLogs": grpc.unary_unary_rpc_method_handler(query)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                         handlers=[handler],
                         options=[("grpc.so_reuseport", 0)])
    server.add_insecure_port("127.0.0.1:%d" % port)
    server.start()
    server.wait_for_termination(timeout=120)


if __name__ == "__main__":
    main()
