"""fault_conns.py -- connections opened and dropped without a request, for
test_faults.sh.

usage: fault_conns.py PORT N AT_ONCE
Opens N TCP connections to 127.0.0.1:PORT, AT_ONCE at a time: each batch
is connected, held for 50 ms (so the server accepts them), then dropped,
every other one with a reset (SO_LINGER 0) instead of a FIN. Nothing is
ever sent. Prints "opened <n>/<N>".
"""
import socket
import struct
import sys
import time


def main():
    port, n, at_once = map(int, sys.argv[1:4])
    opened = tried = 0
    while tried < n:
        batch = []
        for _ in range(min(at_once, n - tried)):
            tried += 1
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(5)
            try:
                s.connect(("127.0.0.1", port))
            except OSError as e:
                print("connect failed: %s" % e, flush=True)
                s.close()
                continue
            batch.append(s)
        time.sleep(0.05)  # under test: connections held open, silent
        for i, s in enumerate(batch):
            if i % 2:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             struct.pack("ii", 1, 0))
            s.close()
        opened += len(batch)
    print("opened %d/%d" % (opened, n), flush=True)


if __name__ == "__main__":
    main()
