#!/usr/bin/env bash
# bench_cache.sh -- what the response cache (--cache-bytes) saves per call,
# with and without it, on the default SQLite backend and the demo's mnist
# answer. Two measures that hold on a busy machine:
#
#   1. callgrind: instructions per QueryServiceLogs call. The server runs
#      under valgrind --tool=callgrind with --threads=1; 300 calls warm it,
#      the counters are zeroed (callgrind_control -z), steady_client.py
#      makes N sequential calls, the counters are dumped (-d). Printed:
#      instructions per call in the whole process and in the busiest
#      thread (the gRPC worker), the store read (sl_store_query_*,
#      inclusive) and the cache's own work (sl_cache_get/put, inclusive).
#      The process figure moves with the run's length (the feed thread
#      polls every 5 ms whatever the load): compare the worker's.
#   2. throughput, back to back in the same minute: h2load (gRPC, 32
#      streams) and wrk (REST, 32 connections) against a server with the
#      cache and one with --cache-bytes 0, alternating, ROUNDS rounds of
#      SECONDS each. Printed: QPS of each and the ratio (cache / none).
#
#   tests/bench/bench_cache.sh [--no-build] [--calls N] [--rounds R]
#                              [--seconds S] [--no-load]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
calls=3000 rounds=3 secs=5 build=1 load=1
while [ $# -gt 0 ]; do
  case $1 in
  --no-build) build=0 ;;
  --no-load) load=0 ;;
  --calls) calls=$2; shift ;;
  --rounds) rounds=$2; shift ;;
  --seconds) secs=$2; shift ;;
  *) echo "usage: $0 [--no-build] [--calls N] [--rounds R] [--seconds S] [--no-load]" >&2; exit 2 ;;
  esac
  shift
done
[ $build = 1 ] && scripts/build.sh build -DSL_TESTS=ON >/dev/null
BIN=$top/build/bin
PY=/usr/bin/python3
T=$(mktemp -d /tmp/sl-bench-cache.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done; rm -rf "$T"' EXIT
"$BIN/servicelogs-server" import --backend "sqlite:$T/b.db" demo/demo.json 2>/dev/null

# serve NAME ARGS...: starts a server (port 0), sets PID, GP, HP.
serve() {
  local name=$1
  shift
  "$@" --backend "sqlite:$T/b.db" --grpc-listen 127.0.0.1:0 \
    --log-level warn --port-file "$T/$name.ports" >"$T/$name.log" 2>&1 &
  PID=$!
  PIDS+=("$PID")
  for _ in $(seq 600); do [ -s "$T/$name.ports" ] && break; sleep 0.1; done
  GP=$(sed -n 's/^grpc=//p' "$T/$name.ports")
  HP=$(sed -n 's/^http=//p' "$T/$name.ports")
}

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== callgrind: $calls sequential gRPC calls, --threads=1 =="
for cb in ${SL_BENCH_CACHE_SIZES:-33554432 0}; do
  serve cg$cb valgrind --tool=callgrind --separate-threads=yes \
    --callgrind-out-file="$T/cg$cb.%p" "$BIN/servicelogs-server" serve \
    --threads=1 --http-listen= --cache-bytes=$cb
  $PY tests/integration/steady_client.py "127.0.0.1:$GP" demo-project mnist-svc 300 >/dev/null
  callgrind_control -z "$PID" >/dev/null
  $PY tests/integration/steady_client.py "127.0.0.1:$GP" demo-project mnist-svc "$calls" >/dev/null
  callgrind_control -d "$PID" >/dev/null
  kill -TERM "$PID"
  wait "$PID" 2>/dev/null || true
  total=0 busiest=0 store=0 cache=0
  for f in "$T"/cg$cb.$PID.1-*; do
    ir=$(callgrind_annotate "$f" 2>/dev/null | awk '/PROGRAM TOTALS/ && !n++ {gsub(",", "", $1); print $1}')
    ir=${ir:-0}
    total=$((total + ir))
    [ -n "${SL_BENCH_VERBOSE:-}" ] && echo "  thread ${f##*-}: $ir" >&2
    [ "$ir" -gt "$busiest" ] && busiest=$ir
    s=$(callgrind_annotate --inclusive=yes "$f" 2>/dev/null |
      awk '/[: ]sl_store_query_(logs|snapshot) / && !n++ {gsub(",", "", $1); print $1}')
    store=$((store + ${s:-0}))
    s=$(callgrind_annotate --inclusive=yes "$f" 2>/dev/null |
      awk '/[: ]sl_cache_(get|put) / {gsub(",", "", $1); n += $1} END {print n + 0}')
    cache=$((cache + s))
  done
  label=$([ $cb = 0 ] && echo "--cache-bytes 0" || echo "cache (hits)")
  awk -v l="$label" -v t="$total" -v b="$busiest" -v s="$store" -v c="$cache" -v n="$calls" \
    'BEGIN { printf "%-16s %7.0f instructions/call (process), %7.0f (worker thread); store read %6.0f, cache get+put %5.0f\n", l, t / n, b / n, s / n, c / n }'
done

[ $load = 1 ] || exit 0
command -v h2load >/dev/null && command -v wrk >/dev/null || {
  echo "h2load/wrk missing: scripts/install-deps.sh --bench" >&2
  exit 1
}
serve on "$BIN/servicelogs-server" serve --http-listen 127.0.0.1:0
ON_PID=$PID ON_GP=$GP ON_HP=$HP
serve off "$BIN/servicelogs-server" serve --http-listen 127.0.0.1:0 --cache-bytes=0
OFF_PID=$PID OFF_GP=$GP OFF_HP=$HP
$PY - "$T/req.bin" <<'PY'
import sys
def ld(n, s):
    b = s.encode(); return bytes([n << 3 | 2, len(b)]) + b
m = ld(1, "demo-project") + ld(2, "mnist-svc")
open(sys.argv[1], "wb").write(b"\0" + len(m).to_bytes(4, "big") + m)
PY
grpc_qps() {
  h2load -D "$secs" -c 4 -m 8 -t 1 -d "$T/req.bin" \
    -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://127.0.0.1:$1/modelarts.v1.ServiceLogs/QueryServiceLogs" 2>&1 |
    awk '/^finished in/ {print $4}'
}
rest_qps() {
  wrk -t 1 -c 32 -d "${secs}s" "http://127.0.0.1:$1/v1/demo-project/services/mnist-svc/logs" 2>&1 |
    awk '/^Requests\/sec/ {print $2}'
}
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
echo "== throughput, alternating, $rounds rounds of ${secs}s (h2load -c 4 -m 8; wrk -c 32) =="
for r in $(seq "$rounds"); do
  for kind in grpc rest; do
    for side in on off; do
      pid_var=${side^^}_PID port_var=${side^^}_GP
      [ $kind = rest ] && port_var=${side^^}_HP
      c0=$(cpu "${!pid_var}")
      q=$(${kind}_qps "${!port_var}")
      c1=$(cpu "${!pid_var}")
      eval "q_$side=$q cpu_$side=$((c1 - c0))"
    done
    awk -v r="$r" -v k="$kind" -v a="$q_on" -v b="$q_off" -v ca="$cpu_on" -v cb="$cpu_off" \
      -v hz="$(getconf CLK_TCK)" -v s="$secs" \
      'BEGIN { printf "round %d %-4s cache %8.0f/s (%5.1f us CPU/call)  none %8.0f/s (%5.1f us CPU/call)  ratio %.2f\n",
        r, k, a, ca / hz / (a * s) * 1e6, b, cb / hz / (b * s) * 1e6, a / b }'
  done
done
