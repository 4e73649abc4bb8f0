"""cache_probe.py -- a write through one server, reads through another at
once: how long until the reader's answer (response cache and all) shows
the write, and that it never goes back afterwards.

usage:
  cache_probe.py WRITER READER HTTP_READER PROJECT SERVICE T0 ROUNDS BOUND_MS
      WRITER, READER: gRPC HOST:PORT; HTTP_READER: the reader's REST
      HOST:PORT, or "-" for none
Each round warms the reader's cache (gRPC and REST reads of the service),
records a log with update_time T0 + round through WRITER
(RecordServiceUpdate, answered = committed), then reads through READER over
gRPC in a tight loop until the answer holds that log, and goes on reading
(gRPC and REST alternately) for 100 more reads, each of which must hold it
too. With WRITER == READER not one read may miss the log (exact on one
server). Prints one line per round, "round N: visible after X ms", then
"max X ms"; exits 1 when a round exceeds BOUND_MS or an answer went back.
"""
import os
import re
import sys
import time
import urllib.request

import grpc

sys.path.insert(0, os.path.dirname(__file__))
from wire import fields, ld, request  # noqa: E402
from writers_client import service_log  # noqa: E402

QUERY = "/modelarts.v1.ServiceLogs/QueryServiceLogs"
RECORD = "/modelarts.v1.ServiceLogWriter/RecordServiceUpdate"


def times(resp):
    out = []
    for n, v in fields(resp):
        if n == 3:
            out.append(dict(fields(v)).get(1, 0))
    return out


def rest_has(http, project, service, t):
    url = "http://%s/v1/%s/services/%s/logs" % (http, project, service)
    with urllib.request.urlopen(url, timeout=10) as r:
        body = r.read().decode()
    return re.search(r'"update_time":\s*"?%d\b' % t, body) is not None


def main():
    writer, reader, http, project, service = sys.argv[1:6]
    t0, rounds, bound = (int(x) for x in sys.argv[6:9])
    http = None if http == "-" else http
    wch = grpc.insecure_channel(writer)
    rch = grpc.insecure_channel(reader)
    record = wch.unary_unary(RECORD)
    query = rch.unary_unary(QUERY)
    req = request(project, service)
    worst = 0.0
    bad = 0
    for i in range(rounds):
        t = t0 + i
        for _ in range(3):  # warm the reader's cache
            query(req, timeout=10)
            if http:
                rest_has(http, project, service, t)
        log = service_log({"update_time": t, "result": "RUNNING",
                           "config": [{"model_id": "m", "model_name": "m",
                                       "model_version": "1", "weight": 100,
                                       "instance_count": 1}]})
        record(ld(1, project) + ld(2, service) + ld(3, log), timeout=10)
        start = time.monotonic()
        reads = 0
        while t not in times(query(req, timeout=10)):
            reads += 1
            if time.monotonic() - start > 10:
                break
        ms = (time.monotonic() - start) * 1000
        worst = max(worst, ms)
        print("round %d: visible after %.1f ms (%d stale reads)" %
              (i, ms, reads))
        if writer == reader and reads:
            print("FAIL: round %d: %d stale reads after a write answered by "
                  "the same server" % (i, reads))
            bad += 1
        if ms > bound:
            print("FAIL: round %d took %.1f ms > %d ms" % (i, ms, bound))
            bad += 1
        for k in range(100):
            ok = (rest_has(http, project, service, t) if http and k % 2
                  else t in times(query(req, timeout=10)))
            if not ok:
                print("FAIL: round %d: read %d after the new log went back"
                      % (i, k))
                bad += 1
                break
    print("max %.1f ms" % worst)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
