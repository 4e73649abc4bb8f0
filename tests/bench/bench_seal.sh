#!/usr/bin/env bash
# bench_seal.sh -- what the stored-log check (a CRC-32C seal per log,
# wire.h) costs a query, measured as the server's CPU time per call.
# Two builds of the same source: build/ (the check) and
# build-bench-unchecked/ (-DSL_BENCH_UNCHECKED: store.h strips the seal
# without checking it; for this measurement only). Each server answers
# QUERIES QueryServiceLogs calls for one service of LOGS logs (SQLite,
# one worker, one client calling one call at a time); rounds alternate
# between the two servers, and the server's CPU time (user + system of
# every thread, /proc/PID/task/*/schedstat) per call is printed per round,
# then the best of each and the check's share. The response cache is off
# (--cache-bytes 0): a hit is sent without a read, so without a check.
# Then, since the two builds' difference is within this machine's noise,
# a direct measure: perf samples the checked server's cycles (user and
# kernel: the whole cost of the query, sending included) over the same
# calls, and prints the share in the check's own functions (crc_sse42 or
# crc_table_step, sl_wire_unseal, sl_store_unseal_fault). The inline
# compare in sl_store_unseal_log is a few instructions a log and falls to
# its caller's symbol, so the share is short by that much.
#   tests/bench/bench_seal.sh [LOGS [QUERIES [ROUNDS]]]   (20000 100 5)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
logs=${1:-20000}
q=${2:-100}
rounds=${3:-5}
scripts/build.sh build >/dev/null
scripts/build.sh build-bench-unchecked -DCMAKE_C_FLAGS=-DSL_BENCH_UNCHECKED \
  >/dev/null
T=${BENCH_DIR:-/tmp/sl-bench-seal}
rm -rf "$T"
mkdir -p "$T"
python3 tests/bench/gen_bench_data.py "$T/data" 1 "$logs" 1
build/bin/servicelogs-server import --backend "sqlite:$T/s.db" \
  "$T/data-0.json" --log-level warn
PY=/usr/bin/python3 # Debian's, with grpcio

# cpu_ns PID: CPU time of every thread of PID so far, in ns.
cpu_ns() {
  cat /proc/"$1"/task/*/schedstat | awk '{ s += $1 } END { printf "%d", s }'
}

# round BIN: one server, q calls; prints the server's CPU µs per call.
round() {
  rm -f "$T/port"
  "$1" --grpc-listen 127.0.0.1:0 --http-listen "" --threads 1 \
    --backend "sqlite:$T/s.db" --port-file "$T/port" --log-level warn \
    --cache-bytes 0 &
  local pid=$!
  for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
  local port
  port=$(grep -o '[0-9]*$' "$T/port")
  "$PY" tests/integration/steady_client.py "127.0.0.1:$port" bench-p svc-0 \
    20 >/dev/null # warm: the file in the page cache, the connection up
  local a b
  a=$(cpu_ns "$pid")
  if [ -n "${2:-}" ]; then # perf: sample the server while it answers
    perf record -q -F 4999 -e cycles -p "$pid" -o "$2" 2>/dev/null &
    local perf=$!
    sleep 0.5
  fi
  "$PY" tests/integration/steady_client.py "127.0.0.1:$port" bench-p svc-0 \
    "$q" >/dev/null
  b=$(cpu_ns "$pid")
  if [ -n "${2:-}" ]; then
    kill -INT "$perf"
    wait "$perf" || true
  fi
  kill -TERM "$pid"
  wait "$pid" || true
  echo $(((b - a) / q / 1000))
}

best_c=""
best_u=""
for r in $(seq "$rounds"); do
  c=$(round build/bin/servicelogs-server)
  u=$(round build-bench-unchecked/bin/servicelogs-server)
  echo "round $r: checked ${c} us/call, unchecked ${u} us/call"
  if [ -z "$best_c" ] || [ "$c" -lt "$best_c" ]; then best_c=$c; fi
  if [ -z "$best_u" ] || [ "$u" -lt "$best_u" ]; then best_u=$u; fi
done
echo "logs=$logs calls=$q best: checked ${best_c} us, unchecked ${best_u} us," \
  "the check's share $(awk -v c="$best_c" -v u="$best_u" \
  'BEGIN { printf "%.1f %%", (c - u) * 100 / c }')"

if command -v perf >/dev/null; then
  round build/bin/servicelogs-server "$T/perf.data" >/dev/null
  perf report -i "$T/perf.data" --no-children --sort symbol --stdio \
    2>/dev/null | awk '
    /^ *[0-9.]+%/ {
      pct = $1; sub("%", "", pct); total += pct
      if ($0 ~ /crc_sse42|crc_table_step|sl_wire_unseal|sl_store_unseal_fault/) {
        seal += pct; print "  " $1, $3
      }
    }
    END { printf "perf: the check took %.2f %% of the server'"'"'s cycles" \
          " (user + kernel) over %d calls\n", seal, '"$q"' }'
else
  echo "perf: not installed (linux-perf), no direct share"
fi
