"""live_stall.py -- a watcher that never reads (python3-h2, frame by frame)

usage: live_stall.py ADDR PROJECT SERVICE SECS [pings]
One connection announcing an initial stream window of 0 opens one
WatchServiceLogs stream, prints "open", and then reads frames without ever
granting window, for SECS seconds at most. When the server ends the stream
it prints "end status N" (N: grpc-status from the trailers, or "reset" and
the RST_STREAM code when the stream was reset without trailers).
With "pings" it counts instead the HTTP/2 PINGs the server sends on the
idle watch for SECS seconds and prints "pings N" (h2 answers each).
"""
import sys
import time

import h2.events

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from abuse_h2 import connect, grpc_frame, pump  # noqa: E402
from wire import request  # noqa: E402

PATH = "/modelarts.v1.ServiceLogs/WatchServiceLogs"


def main():
    addr, project, service, secs = sys.argv[1:5]
    count_pings = sys.argv[5:6] == ["pings"]
    s, c = connect(addr, window=0)
    pump(s, c, 0.5)
    sid = c.get_next_available_stream_id()
    c.send_headers(sid, [(":method", "POST"), (":scheme", "http"),
                         (":path", PATH), (":authority", addr),
                         ("content-type", "application/grpc"),
                         ("te", "trailers")])
    c.send_data(sid, grpc_frame(request(project, service)), end_stream=True)
    s.sendall(c.data_to_send())
    print("open", flush=True)
    end = time.monotonic() + float(secs)
    pings = 0
    while time.monotonic() < end:
        for ev in pump(s, c, 0.2):
            if isinstance(ev, h2.events.PingReceived):
                pings += 1
            if count_pings:
                continue
            if isinstance(ev, h2.events.TrailersReceived) or (
                    isinstance(ev, h2.events.ResponseReceived) and
                    any(k == "grpc-status" for k, _ in ev.headers)):
                st = dict(ev.headers).get("grpc-status")
                print("end status %s" % st, flush=True)
                return
            if isinstance(ev, h2.events.StreamReset):
                print("end reset %d" % ev.error_code, flush=True)
                return
            if ev == "closed":
                print("end closed", flush=True)
                return
    print("pings %d" % pings if count_pings else "still open", flush=True)


if __name__ == "__main__":
    main()
