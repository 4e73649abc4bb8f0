"""shim_raw.py -- hand-made HTTP/1.1 requests to the REST shim, one
connection each, for what curl will not send (issue 8, items 4 and 5).

usage: shim_raw.py PORT CASE...

Each CASE sends its bytes on a fresh connection, reads until the shim
closes it or two responses are in (12 s at most), and prints one line:
  CASE status=<first status> code=<error_code of its JSON body, or ->
       close=<1: Connection: close> eof=<1: closed by the shim>
       responses=<HTTP responses read> ms=<time to the close>
The smuggling cases carry a second request (GET /metrics) after the
first: it must never be answered (responses=1).
"""
import json
import re
import socket
import sys
import time

LOGS = "/v1/demo-project/services/mnist-svc/logs"
SMUG = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"


def req(head, body=""):
    return ("GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n%s" % (LOGS, head, body))


def query(q):
    return ("GET %s?%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            % (LOGS, q))


CASES = {
    # Item 4: framing two parties could read differently (RFC 9112).
    "two-cl": req("Content-Length: 0\r\nContent-Length: %d\r\n" % len(SMUG),
                  SMUG),
    "two-cl-same": req("Content-Length: %d\r\nContent-Length: %d\r\n" %
                       (len(SMUG), len(SMUG)), SMUG),
    "cl-te": req("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                 "0\r\n\r\n" + SMUG),
    "te-cl": req("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
                 "0\r\n\r\n" + SMUG),
    "two-te": req("Transfer-Encoding: chunked\r\n"
                  "Transfer-Encoding: identity\r\n", "0\r\n\r\n" + SMUG),
    "cl-space": req("Content-Length : %d\r\n" % len(SMUG), SMUG),
    "cl-tab": req("Content-Length\t: %d\r\n" % len(SMUG), SMUG),
    "te-space": req("Transfer-Encoding : chunked\r\n", "0\r\n\r\n" + SMUG),
    "te-identity": req("Transfer-Encoding: identity\r\n", SMUG),
    "te-xchunked": req("Transfer-Encoding: xchunked\r\n", "0\r\n\r\n" + SMUG),
    "te-chunked-identity": req("Transfer-Encoding: chunked, identity\r\n",
                               "0\r\n\r\n" + SMUG),
    "te-gzip-chunked": req("Transfer-Encoding: gzip, chunked\r\n",
                           "0\r\n\r\n" + SMUG),
    # Framing that is fine: served, and the next request too.
    "cl-ok": req("Content-Length: 5\r\n", "hello" + SMUG),
    "te-ok": req("Transfer-Encoding: Chunked\r\n", "5\r\nhello\r\n0\r\n\r\n"
                 + SMUG),
    # Item 5: many query parameters, long targets.
    "params-1000": query("&".join("p%d=1" % i for i in range(1000))),
    "amps-4096": query("&" * 4096),
    "params-1000-bad-time": query("&".join(["p%d=1" % i for i in range(999)]
                                           + ["update_time=x"])),
    "params-10000": query("&".join("p%d" % i for i in range(10000))),
    "target-9k": query("x=" + "a" * 9000),
    "target-70k": query("x=" + "a" * 70000),
    "header-70k": req("X-Big: %s\r\n" % ("a" * 70000)),
    "body-9k": req("Content-Length: 9000\r\n", "a" * 9000),
    "http-2.0": "GET %s HTTP/2.0\r\nHost: x\r\n\r\n" % LOGS,
}


def responses(data):
    """The complete responses at the start of data, as (head, body)."""
    got = []
    while True:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            return got
        m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
        n = int(m.group(1)) if m else 0
        if len(rest) < n:
            return got
        got.append((head, rest[:n]))
        data = rest[n:]


def run(port, name):
    # Two pipelined requests at most: read until the shim closes the
    # connection or two responses are in (12 s at most).
    s = socket.create_connection(("127.0.0.1", port), timeout=12)
    t0 = time.time()
    out, eof = b"", 0
    try:
        s.sendall(CASES[name].encode())
        while len(responses(out)) < 2:
            b = s.recv(65536)
            if not b:
                eof = 1
                break
            out += b
    except socket.timeout:
        pass
    except (ConnectionResetError, BrokenPipeError):
        eof = 1
    ms = int((time.time() - t0) * 1000)
    s.close()
    statuses = re.findall(rb"(?:^|\n)HTTP/1\.[01] (\d{3}) ", out)
    head, _, body = out.partition(b"\r\n\r\n")
    code = "-"
    try:
        m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
        n = int(m.group(1)) if m else len(body)
        code = json.loads(body[:n]).get("error_code", "-") or "-"
    except (ValueError, AttributeError):
        pass
    close = 1 if re.search(rb"\r\nconnection: *close", head, re.I) else 0
    print("%s status=%s code=%s close=%d eof=%d responses=%d ms=%d" % (
        name, statuses[0].decode() if statuses else "-", code, close, eof,
        len(statuses), ms))


def main():
    port = int(sys.argv[1])
    for name in sys.argv[2:]:
        run(port, name)


if __name__ == "__main__":
    main()
