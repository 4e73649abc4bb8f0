"""fleet_haproxy.py -- HAProxy for the fleet tests: started on ports the
kernel hands out, and asked about its servers through its runtime API.

HAProxy cannot bind port 0 ("invalid port '0'"), so a test would have to
guess a free port. Instead this binds the listeners itself (127.0.0.1,
port 0: free, no race with a parallel test), writes their ports, and
execs HAProxy with the sockets inherited: the configuration binds them
as `bind fd@3`, `bind fd@4`, ... (HAProxy's "inherited file descriptor"
address form).

usage:
  fleet_haproxy.py run PORT_FILE N CONFIG
      binds N listeners, writes "L0=PORT" ... "L<N-1>=PORT" to PORT_FILE
      (whole, by rename), then becomes `haproxy -db -f CONFIG` with
      listener i on fd 3 + i; it dies with the test script (PDEATHSIG).
  fleet_haproxy.py state SOCKET
      one line per server: "BACKEND/SERVER UP|DOWN|MAINT" (the runtime
      API's `show servers state`; operational state 2 is UP).
  fleet_haproxy.py cmd SOCKET COMMAND...
      sends one runtime API command and prints the answer.
"""
import ctypes
import fcntl
import os
import signal
import socket
import sys

PR_SET_PDEATHSIG = 1


def run(port_file, n, config):
    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        return 1  # the script already went away
    socks = []
    for _ in range(int(n)):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen(512)
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    # Out of the way first, so that no dup2 below lands on a listener.
    high = [fcntl.fcntl(s.fileno(), fcntl.F_DUPFD, 100) for s in socks]
    for i, fd in enumerate(high):
        os.dup2(fd, 3 + i)  # inheritable
        os.close(fd)
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        for i, port in enumerate(ports):
            f.write("L%d=%d\n" % (i, port))
    os.rename(tmp, port_file)
    os.execvp("haproxy", ["haproxy", "-db", "-f", config])
    return 1


def ask(sock_path, command):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(sock_path)
    s.sendall(command.encode() + b"\n")
    out = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
    s.close()
    return out.decode()


def state(sock_path):
    # "show servers state": after a version line and a "#" header, one
    # line per server: be_id be_name srv_id srv_name srv_addr srv_op_state
    # srv_admin_state ...
    for line in ask(sock_path, "show servers state").splitlines():
        f = line.split()
        if len(f) < 7 or line.startswith("#") or not f[0].isdigit():
            continue
        op, admin = int(f[5]), int(f[6])
        st = "MAINT" if admin else ("UP" if op == 2 else "DOWN")
        print("%s/%s %s" % (f[1], f[3], st))


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "run" and len(sys.argv) == 5:
        return run(*sys.argv[2:])
    if cmd == "state" and len(sys.argv) == 3:
        return state(sys.argv[2])
    if cmd == "cmd" and len(sys.argv) >= 4:
        sys.stdout.write(ask(sys.argv[2], " ".join(sys.argv[3:])))
        return 0
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
