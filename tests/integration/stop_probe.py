"""stop_probe.py -- REST clients caught by a SIGTERM (issue 8, item 9a).

usage: stop_probe.py PORT PID N DELAY_MS SLOW_MS

Starts N clients at once against the shim on 127.0.0.1:PORT, each one
connection and one GET /healthz; SLOW_MS > 0 makes each client wait that
long between its connect and its request (a slow client). DELAY_MS after
the clients start, the server PID gets SIGTERM; a negative DELAY_MS
means -DELAY_MS after every client is connected (none refused). Prints
one line per outcome, "<outcome> <count>", outcomes being:
  200           answered 200
  503-close     answered 503 with the JSON ModelArts.4302 body and
                Connection: close (past the shim's stop grace)
  refused       the connect was refused (the shim had stopped listening)
  empty         connected, then closed with no answer
  reset         connected, then reset with no answer
  timeout       connected, no answer within 20 s
  other:<why>   anything else
Every connected client must get an answer: empty, reset, timeout and
other are the failures.
"""
import collections
import os
import re
import signal
import socket
import sys
import threading
import time


def client(port, slow_ms, go, out, i, connected):
    go.wait()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=20)
    except ConnectionRefusedError:
        out[i] = "refused"
        return
    except OSError as e:
        out[i] = "other:connect-%s" % e.__class__.__name__
        return
    finally:
        connected.release()
    data = b""
    try:
        if slow_ms:
            time.sleep(slow_ms / 1000.0)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
            head, sep, body = data.partition(b"\r\n\r\n")
            m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
            if sep and m and len(body) >= int(m.group(1)):
                break
    except socket.timeout:
        out[i] = "timeout" if not data else "other:partial"
        return
    except (ConnectionResetError, BrokenPipeError):
        if not data:
            out[i] = "reset"
            return
    finally:
        s.close()
    if not data:
        out[i] = "empty"
        return
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b" ", 2)[1] if b" " in head else b"?"
    if status == b"200":
        out[i] = "200"
    elif (status == b"503" and b"ModelArts.4302" in body and
          re.search(rb"\r\nconnection: *close", head, re.I)):
        out[i] = "503-close"
    else:
        out[i] = "other:" + status.decode("latin-1")


def main():
    port, pid, n, delay_ms, slow_ms = (int(a) for a in sys.argv[1:6])
    go = threading.Event()
    connected = threading.Semaphore(0)
    out = [None] * n
    ts = [threading.Thread(target=client,
                           args=(port, slow_ms, go, out, i, connected))
          for i in range(n)]
    for t in ts:
        t.start()
    go.set()
    if delay_ms < 0:
        for _ in range(n):
            connected.acquire()
    time.sleep(abs(delay_ms) / 1000.0)
    os.kill(pid, signal.SIGTERM)
    for t in ts:
        t.join()
    for k, v in sorted(collections.Counter(out).items()):
        print("%s %d" % (k, v))


if __name__ == "__main__":
    main()
