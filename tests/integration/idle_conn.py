"""idle_conn.py -- one HTTP/2 connection that carries no call (grpcio).

usage: idle_conn.py ADDR SECS
Connects, holds the connection idle for a second and prints "idle" (a
connection that has settled: just after the handshake a server's GOAWAY
may still close it at once), then keeps it open and idle for SECS seconds
more (a client that keeps a channel around between calls).
"""
import sys
import time

import grpc


def main():
    ch = grpc.insecure_channel(sys.argv[1])
    grpc.channel_ready_future(ch).result(timeout=10)
    time.sleep(1.0)  # the idleness under test
    print("idle", flush=True)
    time.sleep(float(sys.argv[2]))  # the idleness under test


if __name__ == "__main__":
    main()
