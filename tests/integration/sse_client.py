"""sse_client.py -- a Server-Sent Events reader for test_sse.sh.

    sse_client.py PORT PATH OUT [HEADER: VALUE ...]

GETs PATH from 127.0.0.1:PORT (http.client: HTTP/1.1, chunked decoding)
and writes OUT as it goes, one line per item, flushed at once:
    status N
    header NAME: VALUE          (every response header)
    body <raw body>             (a response that is not text/event-stream)
    event NAME <ms> DATA        (DATA: the data lines joined with "\\n"
                                 escaped as \\n; ms since the request)
    comment <ms> TEXT           (a ": TEXT" line)
    end                         (the server ended the response cleanly)
    error <exception>           (the connection failed or was cut)
Runs until the response ends or the process is killed (a client that
leaves: SIGKILL, no goodbye).
"""
import http.client
import sys
import time


def main():
    port, path, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    headers = {}
    for h in sys.argv[4:]:
        k, v = h.split(":", 1)
        headers[k.strip()] = v.strip()
    f = open(out, "w", buffering=1)
    t0 = time.monotonic()

    def ms():
        return int((time.monotonic() - t0) * 1000)

    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        c.request("GET", path, headers=headers)
        r = c.getresponse()
        f.write("status %d\n" % r.status)
        for k, v in r.getheaders():
            f.write("header %s: %s\n" % (k, v))
        if not (r.getheader("Content-Type") or "").startswith(
                "text/event-stream"):
            f.write("body %s\n" % r.read().decode())
            return
        event, data = None, []
        while True:
            line = r.readline()
            if not line:
                f.write("end\n")
                return
            if not line.endswith(b"\n"):
                raise EOFError("cut mid-line")
            line = line.decode().rstrip("\n")
            if line == "":
                if data:
                    f.write("event %s %d %s\n" % (event or "message", ms(),
                                                  "\\n".join(data)))
                event, data = None, []
            elif line.startswith(":"):
                f.write("comment %d %s\n" % (ms(), line[1:].strip()))
            elif line.startswith("event: "):
                event = line[len("event: "):]
            elif line.startswith("data: "):
                data.append(line[len("data: "):])
            else:
                f.write("unexpected %s\n" % line)
    except Exception as e:  # noqa: BLE001 -- reported to the test
        f.write("error %r\n" % (e,))


main()
