#!/usr/bin/env bash
# bench_capacity.sh -- the per-unit costs of the capacity model
# (BENCHMARKS.md, "Capacity model"), measured as CPU time, and the model
# they give.
#
#   tests/bench/bench_capacity.sh [QUERIES]     (default 20000; writes: 1/10)
#
# CPU time, not throughput: on a shared 2-core machine wall-clock rates say
# little, but the CPU a unit of work costs does not depend on what else
# runs. One replica on PostgreSQL (--threads=2 --http-threads=1), loaded
# with h2load over gRPC: QUERIES QueryServiceLogs calls (the demo's
# mnist-svc), then QUERIES/10 RecordServiceUpdate calls (one log replaced
# in place: a transaction, a feed row and a NOTIFY each). Counted, from
# /proc/PID/schedstat (ns): the replica's threads, the PostgreSQL backends
# serving its connections (by application_name), and the whole cluster
# (the postmaster and all its children: WAL writer, checkpointer, ...).
# Those replicas run with --cache-bytes 0 (every query reads PostgreSQL);
# then the same queries on a replica with the response cache on (all
# hits: the hit's cost), on one with --pg-pool-size=3, and
# bench_store's ns/query with and without a pool handle (SQLite, no
# network: the pool's own cost is the difference), for the pool's price.
#
# PostgreSQL: SL_BENCH_PG_URI's server (a database sl_cap_PID is made and
# dropped), else a throw-away cluster (scripts/pg-test-server.sh).
# The model's inputs: CAP_WRITE_SHARE (writes per query, default 0.01),
# CAP_REPLICA_CORES (2), CAP_UTIL (0.6: the share of a core planned busy).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
n=${1:-20000}
w=$((n / 10))
scripts/install-deps.sh --bench >/dev/null
scripts/build.sh build -DSL_TESTS=ON >/dev/null
T=$(mktemp -d /tmp/sl-cap.XXXXXX)
SRV=build/bin/servicelogs-server
PID=
own_pg=0
pg=${SL_BENCH_PG_URI:-}
if [ -z "$pg" ]; then
  pg=$(scripts/pg-test-server.sh start "$T/pg")
  own_pg=1
fi
DB=sl_cap_$$
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  psql -X -q "$pg" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  [ "$own_pg" = 1 ] && scripts/pg-test-server.sh stop "$T/pg" >/dev/null 2>&1 || true
  rm -rf "$T"
}
trap cleanup EXIT
psql -X -q -v ON_ERROR_STOP=1 "$pg" -c "CREATE DATABASE $DB" >/dev/null
base=${pg%/*}
DIRECT="$base/$DB"
BACKEND="$DIRECT?application_name=sl_cap"
sql() { psql -X -q -At "$DIRECT" -c "$1"; }
$SRV import --backend "$BACKEND" demo/demo.json 2>/dev/null

# gRPC-framed requests: the query, and a record of one log of mnist-svc.
/usr/bin/python3 - "$T" <<'PY'
import sys
def varint(v):
    out = b""
    while True:
        b = v & 0x7f
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])
def ld(n, b):
    b = b.encode() if isinstance(b, str) else b
    return varint(n << 3 | 2) + varint(len(b)) + b
def frame(m):
    return b"\0" + len(m).to_bytes(4, "big") + m
q = ld(1, "demo-project") + ld(2, "mnist-svc")
log = varint(1 << 3) + varint(1960000000000) + varint(2 << 3) + varint(1)
r = ld(1, "demo-project") + ld(2, "mnist-svc") + ld(3, log)
open(sys.argv[1] + "/q.bin", "wb").write(frame(q))
open(sys.argv[1] + "/w.bin", "wb").write(frame(r))
PY

# ns of CPU: the sum of /proc/P/schedstat's first field over the pids given.
ns_of() {
  local s=0 p v
  for p in "$@"; do
    v=$(awk '{print $1}' "/proc/$p/schedstat" 2>/dev/null || echo 0)
    s=$((s + v))
  done
  echo $s
}
replica_ns() { cat /proc/"$PID"/task/*/schedstat | awk '{s += $1} END {printf "%.0f\n", s}'; }
backends() { sql "SELECT pid FROM pg_stat_activity WHERE application_name = 'sl_cap'"; }
cluster() { # the postmaster and its children
  local pm
  pm=$(awk '{print $4}' "/proc/$(backends | head -n 1)/stat")
  echo "$pm"
  ps -o pid= --ppid "$pm"
}
start() { # ARGS...: a replica on BACKEND, its gRPC port in GP
  rm -f "$T/ports"
  $SRV serve --backend "$BACKEND" --grpc-listen 127.0.0.1:0 --threads 2 \
    --http-threads 1 --log-level warn --port-file "$T/ports" "$@" \
    >"$T/server.log" 2>&1 &
  PID=$!
  for _ in $(seq 200); do [ -s "$T/ports" ] && break; sleep 0.05; done
  GP=$(sed -n 's/^grpc=//p' "$T/ports")
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=; }
h2() { # N CONNS STREAMS BODY PATH
  h2load -n "$1" -c "$2" -m "$3" -t 1 -d "$4" \
    -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://127.0.0.1:$GP/$5" >"$T/h2" 2>&1
  awk '/^requests:/ {print $8}' "$T/h2"
}
# phase NAME N CONNS STREAMS BODY PATH: prints "NAME ok rps be_ns cl_ns rep_ns"
phase() {
  local name=$1 cnt=$2 b c r b1 c1 r1 ok rps
  local bp cp
  bp=$(backends | tr '\n' ' ')
  cp=$(cluster | tr '\n' ' ')
  # shellcheck disable=SC2086
  b=$(ns_of $bp); c=$(ns_of $cp); r=$(replica_ns)
  ok=$(h2 "$cnt" "$3" "$4" "$5" "$6")
  # shellcheck disable=SC2086
  b1=$(ns_of $bp); c1=$(ns_of $cp); r1=$(replica_ns)
  rps=$(awk '/^finished in/ {print $4}' "$T/h2")
  echo "$name $ok $rps $((b1 - b)) $((c1 - c)) $((r1 - r))"
}
Q=modelarts.v1.ServiceLogs/QueryServiceLogs
W=modelarts.v1.ServiceLogWriter/RecordServiceUpdate

start --cache-bytes 0
h2 200 1 1 "$T/q.bin" $Q >/dev/null # warm: statements prepared everywhere
h2 20 1 1 "$T/w.bin" $W >/dev/null
f0=$(sql "SELECT count(*) FROM changes")
read -r _ qok qrps qbe qcl qrep < <(phase query "$n" 2 4 "$T/q.bin" $Q)
read -r _ wok wrps wbe wcl wrep < <(phase write "$w" 1 2 "$T/w.bin" $W)
f1=$(sql "SELECT count(*) FROM changes")
fails=$(grep -c 'call failed' "$T/server.log" || true)
stop
start --pg-pool-size=3 --cache-bytes 0
h2 200 1 1 "$T/q.bin" $Q >/dev/null
read -r _ pok prps pbe pcl prep < <(phase pooled "$n" 2 4 "$T/q.bin" $Q)
pfails=$(grep -c 'call failed' "$T/server.log" || true)
stop
start # the response cache on (its default size): the same query, all hits
h2 200 1 1 "$T/q.bin" $Q >/dev/null
read -r _ hok hrps hbe hcl hrep < <(phase hits "$n" 2 4 "$T/q.bin" $Q)
stop
logs=$(sql "SELECT count(*) FROM logs WHERE project_id = 'demo-project' AND service_id = 'mnist-svc'")

/usr/bin/python3 tests/bench/gen_bench_data.py "$T/one" 1 10 1
$SRV import --backend "sqlite:$T/one.db" "$T/one-0.json" 2>/dev/null
mem=()
cpu_ns() { sed 's/.*; \([0-9]*\) ns CPU.*/\1/'; }
for _ in 1 2 3 4 5; do
  mem+=("$(build/bin/bench_store "sqlite:$T/one.db" 1 200000 same | cpu_ns)")
  mem+=("p$(SL_BENCH_POOL=1 build/bin/bench_store "sqlite:$T/one.db" 1 200000 same | cpu_ns)")
done

/usr/bin/python3 - "$n" "$w" "$logs" "$qok" "$qrps" "$qbe" "$qcl" "$qrep" \
  "$wok" "$wrps" "$wbe" "$wcl" "$wrep" "$((f1 - f0))" "$fails" \
  "$pok" "$prps" "$pbe" "$pcl" "$prep" "$pfails" "$hok" "$hrps" "$hcl" "$hrep" \
  "${mem[@]}" <<'PY'
import math, os, sys
a = sys.argv[1:]
n, w, logs = int(a[0]), int(a[1]), int(a[2])
qok, qrps, qbe, qcl, qrep = int(a[3]), a[4], int(a[5]), int(a[6]), int(a[7])
wok, wrps, wbe, wcl, wrep, feed, fails = (int(a[8]), a[9], int(a[10]),
                                         int(a[11]), int(a[12]), int(a[13]),
                                         int(a[14]))
pok, prps, pbe, pcl, prep, pfails = (int(a[15]), a[16], int(a[17]),
                                     int(a[18]), int(a[19]), int(a[20]))
hok, hrps, hcl, hrep = int(a[21]), a[22], int(a[23]), int(a[24])
mem = a[25:]
plain = min(int(x) for x in mem if not x.startswith("p"))
pooled = min(int(x[1:]) for x in mem if x.startswith("p"))
us = lambda ns, k: ns / 1000.0 / max(k, 1)
print("measured (CPU time per call, /proc/PID/schedstat):")
print("  queries: %d of %d answered (HTTP/2), %s calls/s wall; %d logs in "
      "each answer" % (qok, n, qrps, logs))
print("    PostgreSQL backends of the replica: %6.1f us/query" % us(qbe, qok))
print("    PostgreSQL cluster (all processes): %6.1f us/query" % us(qcl, qok))
print("    replica (all threads):              %6.1f us/query" % us(qrep, qok))
print("  writes: %d of %d answered, %d feed rows added, %s calls/s wall" %
      (wok, w, feed, wrps))
print("    PostgreSQL backends of the replica: %6.1f us/write" % us(wbe, wok))
print("    PostgreSQL cluster (all processes): %6.1f us/write" % us(wcl, wok))
print("    replica (all threads):              %6.1f us/write" % us(wrep, wok))
print("  failed calls in the server's log: %d" % fails)
print("  with --pg-pool-size=3: %d of %d answered, %s calls/s wall; "
      "%d failed" % (pok, n, prps, pfails))
print("    PostgreSQL cluster: %6.1f us/query; replica: %6.1f us/query" %
      (us(pcl, pok), us(prep, pok)))
print("  response cache hits (--cache-bytes default): %d of %d answered, "
      "%s calls/s wall" % (hok, n, hrps))
print("    PostgreSQL cluster: %6.1f us/hit; replica: %6.1f us/hit" %
      (us(hcl, hok), us(hrep, hok)))
print("  pool's own cost (bench_store on SQLite, 10 logs, CPU time, best of 5): %d ns/query "
      "plain, %d ns/query through a pool handle: %+d ns" %
      (plain, pooled, pooled - plain))

share = float(os.environ.get("CAP_WRITE_SHARE", "0.01"))
rc = float(os.environ.get("CAP_REPLICA_CORES", "2"))
util = float(os.environ.get("CAP_UTIL", "0.6"))
pq, pw = us(qcl, qok), us(wcl, wok)
rq, rw = us(qrep, qok), us(wrep, wok)
rh = us(hrep, hok)
print()
print("model: %.0f %% of calls are writes; a replica has %g cores, a core "
      "is planned %.0f %% busy; a cache hit costs the measured hit's CPU "
      "(replica) and nothing on PostgreSQL" % (share * 100, rc, util * 100))
print("  %-9s %-6s %-14s %-10s %-15s" % ("calls/s", "hits", "PG CPU (cores)",
                                         "replicas", "replica cores"))
for qps in (10000, 100000):
    for hit in (0.0, 0.5, 0.9):
        reads, writes = qps * (1 - share), qps * share
        pg_cores = (reads * (1 - hit) * pq + writes * pw) / 1e6
        rep_cores = (reads * ((1 - hit) * rq + hit * rh) + writes * rw) / 1e6
        reps = max(2, math.ceil(rep_cores / (rc * util)))
        print("  %-9d %-6s %-14.1f %-10d %-15.1f" %
              (qps, "%d %%" % (hit * 100), pg_cores / util, reps, rep_cores))
print("  (PG CPU in cores at %.0f %% busy; replicas at least 2 for "
      "availability)" % (util * 100))
PY
