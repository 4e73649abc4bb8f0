#!/usr/bin/env bash
# bench_cache.sh -- what the response cache (--cache-bytes) saves per call,
# with and without it, on the default SQLite backend and the demo's mnist
# answer. Two measures that hold on a busy machine:
#
#   1. callgrind: instructions per call. The server runs under valgrind
#      --tool=callgrind with --threads=1 --http-threads=1; 300 calls warm
#      it, the counters are zeroed (callgrind_control -z), steady_client.py
#      makes N sequential gRPC calls, the counters are dumped (-d); then
#      the same for REST with wrk -c 1 for SECONDS (requests counted on
#      /metrics). Printed per call: instructions in the whole process and
#      in the busiest thread (the gRPC worker / the shim's thread), and,
#      inclusive, the store read (sl_store_query_*), the cache's own work
#      (sl_cache_*) and REST's unpack + JSON rendering. The process figure
#      moves with the run's length (the feed thread polls every 5 ms
#      whatever the load): compare the busiest thread's.
#   2. throughput, back to back in the same minute: h2load (gRPC, 32
#      streams) and wrk (REST, 32 connections) against a server with the
#      cache and one with --cache-bytes 0, alternating, ROUNDS rounds of
#      SECONDS each. Printed: QPS of each and the ratio (cache / none).
#
#   tests/bench/bench_cache.sh [--no-build] [--calls N] [--rounds R]
#                              [--seconds S] [--no-load] [--no-callgrind]
#  (SL_BENCH_CACHE_SIZES="33554432 0": the --cache-bytes values compared)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
calls=3000 rounds=3 secs=5 build=1 load=1 cg=1
while [ $# -gt 0 ]; do
  case $1 in
  --no-build) build=0 ;;
  --no-load) load=0 ;;
  --no-callgrind) cg=0 ;;
  --calls) calls=$2; shift ;;
  --rounds) rounds=$2; shift ;;
  --seconds) secs=$2; shift ;;
  *) echo "usage: $0 [--no-build] [--calls N] [--rounds R] [--seconds S] [--no-load] [--no-callgrind]" >&2; exit 2 ;;
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
# cg_report LABEL N: instructions per call of the last dump (its files go).
cg_report() {
  local total=0 busiest=0 store=0 cache=0 json=0 f ir s
  for f in "$T"/cg.$PID.[0-9]*-*; do
    ir=$(callgrind_annotate "$f" 2>/dev/null | awk '/PROGRAM TOTALS/ && !n++ {gsub(",", "", $1); print $1}')
    case $ir in '' | *[!0-9]*) ir=0 ;; esac
    total=$((total + ir))
    [ -n "${SL_BENCH_VERBOSE:-}" ] && echo "  thread ${f##*-}: $ir" >&2
    [ "$ir" -gt "$busiest" ] && busiest=$ir
    callgrind_annotate --inclusive=yes --threshold=100 "$f" >"$T/ann" 2>/dev/null || true
    s=$(awk '/[: ]sl_store_query_(logs|snapshot) / && !n++ {gsub(",", "", $1); print $1}' "$T/ann")
    store=$((store + ${s:-0}))
    s=$(awk '/[: ]sl_cache_(get|put|lookup|attach_json) / {gsub(",", "", $1); n += $1} END {print n + 0}' "$T/ann")
    cache=$((cache + s))
    s=$(awk 'match($0, /[: ](modelarts__v1__query_service_logs_response__(unpack|free_unpacked)|sl_render_logs_json) /) {
        k = substr($0, RSTART, RLENGTH); if (!seen[k]++) {gsub(",", "", $1); n += $1}} END {print n + 0}' "$T/ann")
    json=$((json + s))
  done
  rm -f "$T"/cg.$PID.*
  awk -v l="$1" -v t="$total" -v b="$busiest" -v s="$store" -v c="$cache" -v j="$json" -v n="$2" \
    'BEGIN { printf "%-22s %7.0f instr/call (process), %7.0f (busiest thread); store read %6.0f, cache %5.0f, unpack+render JSON %6.0f\n", l, t / n, b / n, s / n, c / n, j / n }'
}
grpc_calls() { $PY tests/integration/steady_client.py "127.0.0.1:$GP" demo-project mnist-svc "$1" >/dev/null; }
rest_count() {
  curl -s "http://127.0.0.1:$HP/metrics" |
    awk -F' ' '/^servicelogs_http_requests_total\{route="\/v1\/\{project_id\}\/services\/\{service_id\}\/logs",code="200"\}/ {print $2}'
}
[ $cg = 1 ] && echo "== callgrind: $calls sequential gRPC calls (--threads=1); REST: wrk -c 1 for ${secs}s (--http-threads=1) =="
for cb in ${SL_BENCH_CACHE_SIZES:-33554432 0}; do
  [ $cg = 1 ] || break
  label=$([ "$cb" = 0 ] && echo "--cache-bytes 0" || echo "cache")
  serve cg$cb valgrind --tool=callgrind --separate-threads=yes \
    --callgrind-out-file="$T/cg.%p" "$BIN/servicelogs-server" serve \
    --threads=1 --http-threads=1 --http-listen 127.0.0.1:0 --cache-bytes="$cb"
  grpc_calls 300
  callgrind_control -z "$PID" >/dev/null
  grpc_calls "$calls"
  callgrind_control -d "$PID" >/dev/null
  cg_report "gRPC, $label" "$calls"
  wrk -t 1 -c 1 -d 2s "http://127.0.0.1:$HP/v1/demo-project/services/mnist-svc/logs" >/dev/null
  n0=$(rest_count)
  callgrind_control -z "$PID" >/dev/null
  wrk -t 1 -c 1 -d "${secs}s" "http://127.0.0.1:$HP/v1/demo-project/services/mnist-svc/logs" >/dev/null
  callgrind_control -d "$PID" >/dev/null
  n1=$(rest_count)
  cg_report "REST, $label" $((n1 - n0))
  kill -TERM "$PID"
  wait "$PID" 2>/dev/null || true
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
