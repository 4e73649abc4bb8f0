"""live_client.py -- the live API from another gRPC stack, by reflection only

Python grpcio and google.protobuf as Debian ships them; no servicelogs
.proto and no generated code: the schema is downloaded from the server's
reflection service (as reflection_client.py does), the message classes are
built from it, and messages are read and written as proto3 JSON.

usage:
  live_client.py watch ADDR PROJECT SERVICE [UPDATE_TIME]
      prints "ready" once the stream is open, then one JSON line per message
      ({"snapshot": ...} or {"log": ...}, proto3 JSON with the proto's field
      names, plus "t": CLOCK_MONOTONIC seconds when it arrived) and, at the
      end, {"status": "CODE", "details": "..."}; SIGTERM cancels it.
  live_client.py record ADDR PROJECT SERVICE LOG_JSON
      RecordServiceUpdate with LOG_JSON (a proto3-JSON ServiceLog); prints
      the answer as JSON, or {"status": ..., "details": ...}; exit 0 either
      way (the caller checks the line).
  live_client.py put ADDR PROJECT SERVICE NAME INFER_TYPE
      PutService (INFER_TYPE: REAL_TIME, EDGE or BATCH); prints as record.
  live_client.py soak ADDR_WATCH ADDR_WRITE PROJECT SERVICE WATCHERS RATE SECS
      WATCHERS streams on ADDR_WATCH (over several channels), one writer
      recording RATE logs a second on ADDR_WRITE for SECS seconds, each a
      new update_time; then checks that every watcher received every
      recorded log once, in order, and prints one JSON summary line with
      the latency from each write's answer to its arrival (p50, p99, max
      over all watchers and writes). Exit 1 when a watcher missed anything.
Environment: SL_TOKEN, sent as x-auth-token when set.
"""
import json
import os
import signal
import sys
import tempfile
import threading
import time

import grpc
from google.protobuf import json_format

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reflection_client as rc  # noqa: E402

TIMEOUT = 30


def schema(channel):
    """Message classes of modelarts.v1, downloaded by reflection."""
    with tempfile.TemporaryDirectory() as tmp:
        types = rc.reflection_types(tmp)
    refl = rc.Reflection(channel, "v1", types)
    resp = refl.ask(file_containing_symbol="modelarts.v1.ServiceLogWriter")
    pool = rc.build_pool(rc.file_protos(resp))

    def cls(name):
        return rc.message_class(pool, "modelarts.v1." + name)

    return {n: cls(n) for n in (
        "WatchServiceLogsRequest", "WatchServiceLogsResponse",
        "RecordServiceUpdateRequest", "RecordServiceUpdateResponse",
        "PutServiceRequest", "PutServiceResponse", "ServiceLog")}


def metadata():
    tok = os.environ.get("SL_TOKEN")
    return [("x-auth-token", tok)] if tok else None


def to_json(m):
    return json_format.MessageToDict(m, preserving_proto_field_name=True)


def say(obj):
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def watch_stream(channel, t):
    return channel.unary_stream(
        "/modelarts.v1.ServiceLogs/WatchServiceLogs",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=t["WatchServiceLogsResponse"].FromString)


def unary(channel, t, method, req, resp):
    return channel.unary_unary(
        "/modelarts.v1.ServiceLogWriter/" + method,
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=t[resp].FromString)


def cmd_watch(addr, project, service, update_time=0):
    channel = grpc.insecure_channel(addr)
    t = schema(channel)
    req = t["WatchServiceLogsRequest"](project_id=project,
                                       service_id=service,
                                       update_time=int(update_time))
    call = watch_stream(channel, t)(req, metadata=metadata())
    signal.signal(signal.SIGTERM, lambda *a: call.cancel())
    say({"ready": True})
    try:
        for m in call:
            d = to_json(m)
            d["t"] = time.monotonic()
            say(d)
        say({"status": "OK", "details": ""})
    except grpc.RpcError as e:
        say({"status": e.code().name, "details": e.details() or ""})


def cmd_record(addr, project, service, log_json):
    channel = grpc.insecure_channel(addr)
    t = schema(channel)
    log = json_format.Parse(log_json, t["ServiceLog"]())
    req = t["RecordServiceUpdateRequest"](project_id=project,
                                          service_id=service, log=log)
    try:
        r = unary(channel, t, "RecordServiceUpdate",
                  req, "RecordServiceUpdateResponse")(
            req, metadata=metadata(), timeout=TIMEOUT)
        say({"created": r.created})
    except grpc.RpcError as e:
        say({"status": e.code().name, "details": e.details() or ""})


def cmd_put(addr, project, service, name, infer_type):
    channel = grpc.insecure_channel(addr)
    t = schema(channel)
    req = t["PutServiceRequest"](project_id=project, service_id=service,
                                 service_name=name, infer_type=infer_type)
    try:
        r = unary(channel, t, "PutService", req, "PutServiceResponse")(
            req, metadata=metadata(), timeout=TIMEOUT)
        say({"created": r.created})
    except grpc.RpcError as e:
        say({"status": e.code().name, "details": e.details() or ""})


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def cmd_soak(addr_w, addr_r, project, service, n, rate, secs):
    n, rate, secs = int(n), float(rate), float(secs)
    per_channel = 50  # under the server's default 100 streams a connection
    chans = [grpc.insecure_channel(
        addr_w, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range((n + per_channel - 1) // per_channel)]
    t = schema(chans[0])
    req = t["WatchServiceLogsRequest"](project_id=project, service_id=service)
    got = [[] for _ in range(n)]   # (update_time, arrival) per watcher
    ends = [None] * n
    ready = threading.Barrier(n + 1)
    calls = []

    def watcher(i):
        call = watch_stream(chans[i // per_channel], t)(
            req, metadata=metadata())
        calls.append(call)
        first = True
        try:
            for m in call:
                if first:
                    first = False
                    ready.wait()
                    continue
                got[i].append((int(m.log.update_time), time.monotonic()))
            ends[i] = "OK"
        except grpc.RpcError as e:
            ends[i] = e.code().name
            if first:
                ready.abort()

    threads = [threading.Thread(target=watcher, args=(i,), daemon=True)
               for i in range(n)]
    for th in threads:
        th.start()
    ready.wait(timeout=120)
    wch = grpc.insecure_channel(addr_r)
    record = unary(wch, t, "RecordServiceUpdate",
                   None, "RecordServiceUpdateResponse")
    answered = {}
    wlat = []
    base = int(time.time() * 1000) * 10
    start = time.monotonic()
    k = 0
    errors = 0
    while time.monotonic() - start < secs:
        due = start + k / rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        ut = base + k
        log = t["ServiceLog"](update_time=ut, result=1)
        try:
            sent = time.monotonic()
            record(t["RecordServiceUpdateRequest"](
                project_id=project, service_id=service, log=log),
                metadata=metadata(), timeout=TIMEOUT)
            answered[ut] = time.monotonic()
            wlat.append(answered[ut] - sent)
        except grpc.RpcError as e:
            errors += 1
            sys.stderr.write("write %d: %s\n" % (ut, e.code().name))
        k += 1
    want = sorted(answered)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if all(len([u for u, _ in g]) >= len(want) for g in got):
            break
        time.sleep(0.05)
    lat = []
    bad = 0
    for i, g in enumerate(got):
        seen = [u for u, _ in g]
        if seen != want:
            bad += 1
            if bad <= 3:
                sys.stderr.write("watcher %d: %d of %d logs, in order: %s, "
                                 "end %s\n" % (i, len(seen), len(want),
                                               seen == sorted(seen), ends[i]))
        for u, at in g:
            if u in answered:
                lat.append(at - answered[u])
    for c in calls:
        c.cancel()
    summary = {
        "watchers": n, "writes": len(want), "write_errors": errors,
        "watchers_complete": n - bad, "events": len(lat),
        "p50_ms": round(pct(lat, 0.5) * 1000, 2) if lat else None,
        "p99_ms": round(pct(lat, 0.99) * 1000, 2) if lat else None,
        "max_ms": round(max(lat) * 1000, 2) if lat else None,
        "write_p50_ms": round(pct(wlat, 0.5) * 1000, 2) if wlat else None,
        "write_p99_ms": round(pct(wlat, 0.99) * 1000, 2) if wlat else None,
    }
    say(summary)
    sys.exit(1 if bad or errors else 0)


def main():
    cmds = {"watch": cmd_watch, "record": cmd_record, "put": cmd_put,
            "soak": cmd_soak}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])


if __name__ == "__main__":
    main()
