"""fault_disconnect.py -- clients that go away in the middle of a large
response, for test_faults.sh.

usage: fault_disconnect.py GRPC_ADDR HTTP_PORT PROJECT SERVICE N
SERVICE should have a multi-megabyte answer.

gRPC, raw HTTP/2 on a socket (hand-encoded frames and HPACK literals):
N calls, each on its own connection, announcing a 1 KiB stream window, so
the server sends the response headers and 1 KiB of the message and then
waits, holding the rest. Once that first DATA frame is in, the client
leaves, in turn: closes the connection (FIN); resets it (RST); sends
RST_STREAM(CANCEL) and then closes.
gRPC, Python grpcio: N calls, each on its own channel, in turn cancelled at
once, cancelled after 1..15 ms, or the channel closed under the call (a
real client's ways to give up; on loopback many finish first).
REST, raw sockets with a 4 KiB receive buffer: N requests, in turn closed
right after sending (FIN), reset right after sending (RST), or 4 KiB of the
answer read, then closed or reset.

Prints one line per kind, then "done":
  h2 <N> calls: <m>/<N> left mid-response
  grpcio <N> calls: <STATUS>=<count> ...
  rest <N> requests: <m>/<those that read> read 4 KiB of the answer, then left
"""
import collections
import os
import socket
import struct
import sys
import time

import grpc

sys.path.insert(0, os.path.dirname(__file__))
from wire import ld  # noqa: E402

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS = 0, 1, 3, 4
END_STREAM, ACK, END_HEADERS = 1, 1, 4


def frame(ftype, flags, stream, payload=b""):
    return (struct.pack(">I", len(payload))[1:] +
            bytes([ftype, flags]) + struct.pack(">I", stream) + payload)


def hpack_int(v, prefix_bits):
    limit = (1 << prefix_bits) - 1
    if v < limit:
        return bytes([v])
    out = [limit]
    v -= limit
    while v >= 128:
        out.append(v % 128 + 128)
        v //= 128
    out.append(v)
    return bytes(out)


def hpack_literal(name, value):
    """Literal header field without indexing, new name, no Huffman."""
    n, v = name.encode(), value.encode()
    return b"\x00" + hpack_int(len(n), 7) + n + hpack_int(len(v), 7) + v


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError("connection closed")
        b += c
    return b


def h2_round(host, port, req, i):
    """True when the client left after the first DATA frame of the answer
    and before its end."""
    s = socket.create_connection((host, port), timeout=5)
    block = b"".join(hpack_literal(k, v) for k, v in (
        (":method", "POST"), (":scheme", "http"),
        (":path", "/modelarts.v1.ServiceLogs/QueryServiceLogs"),
        (":authority", "%s:%d" % (host, port)),
        ("content-type", "application/grpc"), ("te", "trailers")))
    msg = b"\x00" + struct.pack(">I", len(req)) + req
    s.sendall(PREFACE +
              frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 1024)) +
              frame(HEADERS, END_HEADERS, 1, block) +
              frame(DATA, END_STREAM, 1, msg))
    mid = False
    try:
        while True:
            head = recv_exact(s, 9)
            length = struct.unpack(">I", b"\x00" + head[:3])[0]
            ftype, flags = head[3], head[4]
            stream = struct.unpack(">I", head[5:9])[0] & 0x7FFFFFFF
            recv_exact(s, length)
            if ftype == SETTINGS and not flags & ACK:
                s.sendall(frame(SETTINGS, ACK, 0))
            elif stream == 1 and ftype == RST_STREAM:
                break
            elif stream == 1 and ftype in (DATA, HEADERS):
                if flags & END_STREAM:
                    break  # the whole answer (or an error) came
                if ftype == DATA and length > 0:
                    mid = True
                    break
    except (EOFError, OSError):
        pass
    kind = i % 3
    if kind == 1:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     struct.pack("ii", 1, 0))
    elif kind == 2:
        s.sendall(frame(RST_STREAM, 0, 1, struct.pack(">I", 8)))  # CANCEL
        time.sleep(0.01)  # under test: a close just after the cancel
    s.close()
    return mid


def grpcio_round(addr, req, i):
    opts = [("grpc.max_receive_message_length", 64 << 20)]
    ch = grpc.insecure_channel(addr, options=opts)
    call = ch.unary_unary("/modelarts.v1.ServiceLogs/QueryServiceLogs")
    fut = call.future(req, timeout=10)
    kind = i % 3
    if kind == 0:
        fut.cancel()
    elif kind == 1:
        time.sleep((1 + i % 15) / 1000.0)  # under test: cancel mid-call
        fut.cancel()
    else:
        time.sleep((i % 10) / 1000.0)  # under test: leave mid-call
    ch.close()
    try:
        fut.result(timeout=10)
        return "OK"
    except grpc.FutureCancelledError:
        return "CANCELLED"
    except grpc.RpcError as e:
        return e.code().name


def rest_round(port, path, i):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path).encode())
    got = 0
    if i % 4 >= 2:
        while got < 4096:
            b = s.recv(4096 - got)
            if not b:
                break
            got += len(b)
    if i % 2 == 1:  # RST instead of FIN
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     struct.pack("ii", 1, 0))
    s.close()
    return got


def main():
    addr, port, project, service, n = sys.argv[1:6]
    host, gport = addr.rsplit(":", 1)
    port, gport, n = int(port), int(gport), int(n)
    req = ld(1, project) + ld(2, service)
    mid = sum(1 for i in range(n) if h2_round(host, gport, req, i))
    print("h2 %d calls: %d/%d left mid-response" % (n, mid, n), flush=True)
    outcomes = collections.Counter(grpcio_round(addr, req, i)
                                   for i in range(n))
    print("grpcio %d calls: %s" % (n, " ".join(
        "%s=%d" % kv for kv in sorted(outcomes.items()))), flush=True)
    path = "/v1/%s/services/%s/logs" % (project, service)
    mid = sum(1 for i in range(n) if rest_round(port, path, i) >= 4096)
    print("rest %d requests: %d/%d read 4 KiB of the answer, then left" %
          (n, mid, sum(1 for i in range(n) if i % 4 >= 2)), flush=True)
    print("done", flush=True)


if __name__ == "__main__":
    main()
