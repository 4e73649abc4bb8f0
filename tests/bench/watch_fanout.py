"""watch_fanout.py -- how long one write takes to reach every watcher

usage: watch_fanout.py GRPC_ADDR HTTP_ADDR WRITE_ADDR PROJECT SERVICE
                       N_GRPC N_SSE WRITES SERVER_PID...

Opens N_GRPC WatchServiceLogs streams on GRPC_ADDR (grpc.aio, 50 streams a
connection) and N_SSE Server-Sent Events streams on HTTP_ADDR (raw asyncio
sockets), waits until every one has its snapshot, then records WRITES logs
one after the other through WRITE_ADDR, each once the previous one has
reached every watcher (or 2 s passed). For each write it takes the time
from the write's answer to its arrival at each watcher; it prints one JSON
line: p50/p99/max of the last arrival per write (the fan-out latency), the
p50/p99 over every delivery, events missing, and the CPU the SERVER_PIDs
used per delivered event over the writing phase (from /proc/PID/stat),
and this client's own CPU per event. The client runs on the same machine
(one Python process for every watcher): its own scheduling and CPU are in
the figures.
"""
import asyncio
import json
import os
import sys
import threading
import time

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
import live_client  # noqa: E402

PER_CHANNEL = 50


def cpu_ticks(pids):
    total = 0
    for pid in pids:
        with open("/proc/%s/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))] if xs else None


class Fanout:
    def __init__(self, n):
        self.arrive = {}          # update_time -> [arrival per watcher]
        self.ready = 0
        self.n = n
        self.ready_ev = asyncio.Event()
        self.waiters = {}         # update_time -> Event

    def got(self, ut):
        now = time.monotonic()
        a = self.arrive.setdefault(ut, [])
        a.append(now)
        if len(a) == self.n and ut in self.waiters:
            self.waiters[ut].set()

    def one_ready(self):
        self.ready += 1
        if self.ready == self.n:
            self.ready_ev.set()


async def grpc_watcher(channel, t, req, fo):
    call = channel.unary_stream(
        "/modelarts.v1.ServiceLogs/WatchServiceLogs",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=t["WatchServiceLogsResponse"].FromString)(req)
    first = True
    try:
        async for m in call:
            if first:
                first = False
                fo.one_ready()
                continue
            fo.got(int(m.log.update_time))
    except (grpc.aio.AioRpcError, asyncio.CancelledError):
        pass


async def sse_watcher(host, port, path, fo):
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(("GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream"
                  "\r\n\r\n" % (path, host)).encode())
    await writer.drain()
    event = None
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            line = line.rstrip(b"\r\n")
            if line.startswith(b"event: "):
                event = line[7:]
                if event == b"snapshot":
                    fo.one_ready()
            elif line.startswith(b"data: ") and event == b"log":
                i = line.find(b'"update_time":')
                j = line.find(b",", i)
                fo.got(int(line[i + 14:j]))
    except asyncio.CancelledError:
        pass
    finally:
        writer.close()


async def main():
    (gaddr, haddr, waddr, project, service, n_grpc, n_sse, writes) = \
        sys.argv[1:9]
    pids = sys.argv[9:]
    n_grpc, n_sse, writes = int(n_grpc), int(n_sse), int(writes)
    with grpc.insecure_channel(gaddr) as ch:
        t = live_client.schema(ch)
    fo = Fanout(n_grpc + n_sse)
    req = t["WatchServiceLogsRequest"](project_id=project, service_id=service)
    chans = [grpc.aio.insecure_channel(
        gaddr, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range((n_grpc + PER_CHANNEL - 1) // PER_CHANNEL)]
    tasks = [asyncio.ensure_future(grpc_watcher(chans[i // PER_CHANNEL], t,
                                                req, fo))
             for i in range(n_grpc)]
    host, port = haddr.rsplit(":", 1)
    path = "/v1/%s/services/%s/logs:watch" % (project, service)
    for _ in range(n_sse):
        tasks.append(asyncio.ensure_future(sse_watcher(host, int(port), path,
                                                       fo)))
    await asyncio.wait_for(fo.ready_ev.wait(), 120)
    wch = grpc.aio.insecure_channel(waddr)
    record = wch.unary_unary(
        "/modelarts.v1.ServiceLogWriter/RecordServiceUpdate",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=t["RecordServiceUpdateResponse"].FromString)
    base = int(time.time() * 1000) * 10
    answered = {}
    wlat = []
    cpu0 = cpu_ticks(pids)
    mine0 = time.process_time()
    for k in range(writes):
        ut = base + k
        fo.waiters[ut] = asyncio.Event()
        log = t["ServiceLog"](update_time=ut, result=1)
        sent = time.monotonic()
        await record(t["RecordServiceUpdateRequest"](
            project_id=project, service_id=service, log=log), timeout=10)
        answered[ut] = time.monotonic()
        wlat.append(answered[ut] - sent)
        try:
            await asyncio.wait_for(fo.waiters[ut].wait(), 2)
        except asyncio.TimeoutError:
            pass
    cpu1 = cpu_ticks(pids)
    mine1 = time.process_time()
    last, every = [], []
    missing = 0
    for ut, at in answered.items():
        arr = fo.arrive.get(ut, [])
        missing += fo.n - len(arr)
        if arr:
            last.append(max(arr) - at)
            every.extend(a - at for a in arr)
    delivered = len(every)
    ms = lambda x: round(x * 1000, 2) if x is not None else None  # noqa
    hz = os.sysconf("SC_CLK_TCK")
    print(json.dumps({
        "watchers_grpc": n_grpc, "watchers_sse": n_sse, "writes": writes,
        "fanout_p50_ms": ms(pct(last, 0.5)), "fanout_p99_ms": ms(pct(last, 0.99)),
        "fanout_max_ms": ms(max(last) if last else None),
        "delivery_p50_ms": ms(pct(every, 0.5)),
        "delivery_p99_ms": ms(pct(every, 0.99)),
        "write_p50_ms": ms(pct(wlat, 0.5)), "write_p99_ms": ms(pct(wlat, 0.99)),
        "missing": missing, "delivered": delivered,
        "server_cpu_us_per_event": round((cpu1 - cpu0) / hz * 1e6 / delivered, 1)
        if delivered else None,
        "client_cpu_us_per_event": round((mine1 - mine0) * 1e6 / delivered, 1)
        if delivered else None,
    }, sort_keys=True))
    sys.stdout.flush()
    # A mixed run's close can hang in grpc.aio (blocking the loop): the
    # figures are out, so a watchdog ends the process after 10 s.
    threading.Timer(10, os._exit, (0,)).start()
    for x in tasks:
        x.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for c in chans:
        await c.close()
    await wch.close()
    os._exit(0)


if __name__ == "__main__":
    asyncio.run(main())
