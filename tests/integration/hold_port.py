"""hold_port.py -- holds a port of 127.0.0.1 for a test that needs one
nothing serves on: binds port 0 (the kernel picks a free port, so there
is no guess and no race with a parallel test), prints the port, then holds
it until it is killed or the test script that started it exits.

usage: hold_port.py closed|busy
  closed  bound, not listening: connections to it are refused
  busy    listening (and never accepting): no server can bind it
"""
import ctypes
import os
import signal
import socket
import sys

PR_SET_PDEATHSIG = 1


def main():
    mode = sys.argv[1]
    if mode not in ("closed", "busy"):
        sys.exit(__doc__)
    parent = os.getppid()
    # Killed with the test script, even if the script itself is killed.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        return  # the script already went away
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    if mode == "busy":
        s.listen(1)
    print(s.getsockname()[1], flush=True)
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
