"""shim_web_raw.py -- requests curl will not send, for test_shim_web.sh.

usage: shim_web_raw.py PORT CASE

Sends CASE's bytes on a fresh connection, reads the answer until the shim
closes the connection (10 s at most) and prints one line:
  status=<status> type=<Content-Type or -> code=<error_code of a JSON
  body, or -> html=<1: the body is libmicrohttpd's HTML>
"""
import json
import re
import socket
import sys

LOGS = "/v1/demo-project/services/mnist-svc/logs"
BIG = 70000  # over the shim's 65536-byte header limit, under its pool
HUGE = 300000  # over libmicrohttpd's pool (2 x 65536): its own answer

CASES = {
    "http2": "GET %s HTTP/2.0\r\nHost: x\r\n\r\n" % LOGS,
    "big-header": "GET %s HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n"
    % (LOGS, "a" * BIG),
    "huge-header": "GET %s HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n"
    % (LOGS, "a" * HUGE),
    "big-target": "GET %s?x=%s HTTP/1.1\r\nHost: x\r\n\r\n" % (LOGS, "a" * BIG),
    "body-413": "GET %s HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
    % LOGS,
}


def main():
    port, case = int(sys.argv[1]), sys.argv[2]
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(CASES[case].encode())
    except OSError:
        pass  # the shim may answer and close before all is sent
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.\d (\d{3})", head)
    t = re.search(rb"(?im)^content-type: *([^\r\n]*)", head)
    code = "-"
    try:
        code = json.loads(body)["error_code"]
    except (ValueError, KeyError, TypeError):
        pass
    print("status=%s type=%s code=%s html=%d" % (
        m.group(1).decode() if m else "-",
        t.group(1).decode() if t else "-", code,
        1 if b"<html>" in body else 0))


if __name__ == "__main__":
    main()
