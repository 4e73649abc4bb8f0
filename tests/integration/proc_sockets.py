"""proc_sockets.py -- a process's TCP sockets, read from /proc (Linux).

usage:
  proc_sockets.py clients PID   how many of PID's connections have a peer
                                that is not PID itself (clients, and the
                                ones they left half-closed); the server's
                                connections to itself (the in-process shim
                                dialling its own gRPC port) do not count
"""
import ipaddress
import os
import sys

LISTEN = "0A"


def socket_inodes(pid):
    found = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            link = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue  # closed meanwhile
        if link.startswith("socket:["):
            found.add(int(link[8:-1]))
    return found


def endpoint(hexaddr):
    """'0100007F:1F90' (or a tcp6 address) -> ('127.0.0.1', 8080)"""
    host, port = hexaddr.split(":")
    raw = bytes.fromhex(host)
    # /proc prints each 32-bit word in host (little-endian) order
    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    ip = ipaddress.ip_address(raw)
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return (str(ip), int(port, 16))


def sockets(pid):
    """(local, remote, state) of every TCP socket PID holds"""
    mine = socket_inodes(pid)
    out = []
    for table in ("tcp", "tcp6"):
        try:
            with open("/proc/%d/net/%s" % (pid, table)) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[9]) in mine:
                out.append((endpoint(fields[1]), endpoint(fields[2]),
                            fields[3]))
    return out


def main():
    verb, pid = sys.argv[1], int(sys.argv[2])
    socks = sockets(pid)
    if verb == "clients":
        local = {l for l, _, st in socks if st != LISTEN}
        print(sum(1 for _, r, st in socks if st != LISTEN and r not in local))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
