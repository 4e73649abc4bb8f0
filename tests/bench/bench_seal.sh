#!/usr/bin/env bash
# bench_seal.sh -- what the stored-log check (a CRC-32C seal per log,
# wire.h) costs a query. Two builds of the same source: build/ (the check)
# and build-bench-unchecked/ (-DSL_BENCH_UNCHECKED: store.h strips the
# seal without checking it; for this measurement only). Each server
# answers QueryServiceLogs calls for one service of LOGS logs (SQLite, one
# worker, one client calling one call at a time, the response cache off:
# a hit is sent without a read, so without a check). Three measures:
#
# 1. callgrind (deterministic; IR_CALLS calls after 3 to warm up, each
#    server alone under valgrind, health probes off): the instructions of
#    the check's own lines -- sl_store_unseal_log's and
#    sl_wire_unseal_inline's, compiled into SQLite's read loop query_page
#    (its store.h and wire.h lines), and sl_wire_unseal and
#    sl_store_unseal_fault when they run -- per log and as a share of the
#    server's instructions for the call (every thread); and, as a cross
#    check, the checked worker thread's instructions less the unchecked
#    one's (that build still finds and strips each seal, so this leaves
#    out the few instructions that takes). The cross check moves by ~3
#    instructions a log between runs: SQLite's memcmp costs more or less
#    with the alignment of the query's strings.
# 2. CPU time: rounds alternate between the two servers and the server's
#    CPU time (user + system of every thread, /proc/PID/task/*/schedstat)
#    per call is printed per round, then the best of each and the check's
#    share. On a shared machine this varies by more than the check costs.
# 3. perf samples the checked server (cycles, or a timer where a VM has
#    no counters; user and kernel: the whole cost of the query, sending
#    included) over QUERIES calls and prints the share in the check's
#    code: the out-of-line functions, if any ran, and the part of the read
#    loop's symbol, query_page, on store.h and wire.h lines (perf annotate
#    -l). A sample names the instruction waiting to retire, so a chain of
#    dependent instructions (a log's crc32s, 3 cycles each) can get more
#    samples than the time it delays the server.
#
#   tests/bench/bench_seal.sh [LOGS [QUERIES [ROUNDS [IR_CALLS]]]]
#                                        (default 20000 100 5 20)
# ROUNDS 0 skips measure 2, IR_CALLS 0 measure 1. SEAL_CHECKED and
# SEAL_UNCHECKED name other binaries for measures 1 and 3 (an older
# build, say).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
logs=${1:-20000}
q=${2:-100}
rounds=${3:-5}
ir_calls=${4:-20}
scripts/build.sh build >/dev/null
scripts/build.sh build-bench-unchecked -DCMAKE_C_FLAGS=-DSL_BENCH_UNCHECKED \
  >/dev/null
checked=${SEAL_CHECKED:-build/bin/servicelogs-server}
unchecked=${SEAL_UNCHECKED:-build-bench-unchecked/bin/servicelogs-server}
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

# serve [WRAPPER...] BIN: starts the server (in the background; sets pid
# and port).
serve() {
  rm -f "$T/port"
  "$@" --grpc-listen 127.0.0.1:0 --http-listen "" --threads 1 \
    --backend "sqlite:$T/s.db" --port-file "$T/port" --log-level warn \
    --cache-bytes 0 --health-interval 3600s &
  pid=$!
  for _ in $(seq 600); do [ -s "$T/port" ] && break; sleep 0.1; done
  port=$(grep -o '[0-9]*$' "$T/port")
}

calls() {
  "$PY" tests/integration/steady_client.py "127.0.0.1:$port" bench-p svc-0 \
    "$1" >/dev/null
}

stop() {
  kill -TERM "$pid"
  wait "$pid" || true
}

# ---- 1. callgrind -------------------------------------------------------

# ir NAME BIN: callgrind's profile of IR_CALLS calls, in $T/cg-NAME.1.
ir() {
  serve valgrind --tool=callgrind --dump-instr=yes \
    --callgrind-out-file="$T/cg-$1" "$2" 2>"$T/cg-$1.log"
  calls 3
  callgrind_control -z "$pid" >/dev/null 2>&1
  calls "$ir_calls"
  callgrind_control -d "$pid" >/dev/null 2>&1
  stop
}

# callgrind_annotate, run from $T: from inside the source tree it lists
# an inlined file's rows twice, under two spellings of its path.
# inclusive FILE REGEX: the summed inclusive cost of the functions whose
# file:name matches (the rows naming an object: one a function); self
# FILE REGEX: the same for their own lines (inlined ones included).
annotate() {
  (cd "$T" && callgrind_annotate --threshold=100 --show-percs=no --auto=no \
    "$@" 2>/dev/null)
}
inclusive() {
  annotate --inclusive=yes "$1" | awk -v re="$2" '
    /file:function/ { on = 1; next }
    on && NF >= 3 && $2 ~ re { x = $1; gsub(",", "", x); s += x }
    END { printf "%d", s }'
}
self() {
  annotate "$1" | awk -v re="$2" '
    /file:function/ { on = 1; next }
    on && $2 ~ re { x = $1; gsub(",", "", x); s += x }
    END { printf "%d", s }'
}
total() { awk '/^summary:/ { print $2 }' "$1"; }

if [ "$ir_calls" -gt 0 ] && command -v valgrind >/dev/null; then
  ir checked "$checked"
  ir unchecked "$unchecked"
  c=$T/cg-checked.1
  u=$T/cg-unchecked.1
  n=$((ir_calls * logs))
  own=$(($(self "$c" '/(wire|store)[.]h:query_page$') + $(inclusive "$c" \
    ':(sl_wire_unseal|sl_store_unseal_fault)$')))
  awk -v c="$(total "$c")" -v u="$(total "$u")" -v own="$own" \
    -v wc="$(inclusive "$c" ':sl_worker_main$')" \
    -v wu="$(inclusive "$u" ':sl_worker_main$')" \
    -v k="$ir_calls" -v n="$n" -v logs="$logs" \
    -v cb="$checked" -v ub="$unchecked" 'BEGIN {
    printf "callgrind: %d calls of a %d-log answer, one worker:\n", k, logs
    printf "  checked   %s: %.0f instructions a call (%.0f a log)\n",
      cb, c / k, c / n
    printf "  unchecked %s: %.0f instructions a call (%.0f a log)\n",
      ub, u / k, u / n
    printf "  the check'"'"'s own lines: %.1f instructions a log, %.2f %% of" \
      " the checked server'"'"'s\n", own / n, own * 100 / c
    printf "  checked - unchecked worker: %.1f instructions a log, %.2f %%" \
      " of the checked worker'"'"'s\n", (wc - wu) / n, (wc - wu) * 100 / wc
  }'
  echo "  (callgrind_annotate --inclusive=yes $T/cg-checked.1)"
elif [ "$ir_calls" -gt 0 ]; then
  echo "callgrind: not installed (valgrind), no instruction counts"
fi

# ---- 2. CPU time --------------------------------------------------------

# round BIN [PERF_OUT]: one server, q calls; prints its CPU µs per call.
round() {
  serve "$1"
  calls 20 # warm: the file in the page cache, the connection up
  local a b
  a=$(cpu_ns "$pid")
  if [ -n "${2:-}" ]; then # perf: sample the server while it answers
    perf record -q -F 4999 -e cycles -p "$pid" -o "$2" 2>/dev/null &
    local perf=$!
    sleep 0.5
  fi
  calls "$q"
  b=$(cpu_ns "$pid")
  if [ -n "${2:-}" ]; then
    kill -INT "$perf"
    wait "$perf" || true
  fi
  stop
  echo $(((b - a) / q / 1000))
}

if [ "$rounds" -gt 0 ]; then
  best_c=""
  best_u=""
  for r in $(seq "$rounds"); do
    c=$(round build/bin/servicelogs-server)
    u=$(round build-bench-unchecked/bin/servicelogs-server)
    echo "round $r: checked ${c} us/call, unchecked ${u} us/call"
    if [ -z "$best_c" ] || [ "$c" -lt "$best_c" ]; then best_c=$c; fi
    if [ -z "$best_u" ] || [ "$u" -lt "$best_u" ]; then best_u=$u; fi
  done
  echo "logs=$logs calls=$q best: checked ${best_c} us, unchecked" \
    "${best_u} us, the check's share $(awk -v c="$best_c" -v u="$best_u" \
    'BEGIN { printf "%.1f %%", (c - u) * 100 / c }')"
fi

# ---- 3. perf ------------------------------------------------------------

if command -v perf >/dev/null; then
  round "$checked" "$T/perf.data" >/dev/null
  # The samples of the out-of-line check functions, and of query_page's
  # instructions whose source line is in store.h or wire.h (perf annotate
  # -l sums each source line's share of the symbol's samples). Without
  # hardware counters (a VM) perf samples on a timer (cpu-clock).
  perf report -i "$T/perf.data" --no-children --sort symbol --stdio \
    2>/dev/null >"$T/perf.txt"
  ev=$(sed -n "s/^# Samples: .* of event '\([^']*\)'.*/\1/p" "$T/perf.txt")
  qp=$(awk '/^ *[0-9.]+%/ && $3 == "query_page" { sub("%", "", $1)
    print $1 }' "$T/perf.txt")
  inl=$(perf annotate -i "$T/perf.data" --stdio -l -s query_page 2>/dev/null |
    awk '/^ *[0-9.]+ +(wire|store)[.]h:[0-9]+$/ { s += $1 }
         END { print s + 0 }')
  awk -v qp="${qp:-0}" -v inl="$inl" -v q="$q" -v ev="${ev:-?}" '
    /^ *[0-9.]+%/ {
      pct = $1; sub("%", "", pct)
      if ($3 ~ /^(crc_sse42|crc_table_step|sse42_|table_(step|unseal)|sl_wire_unseal|sl_store_unseal_fault)/) {
        seal += pct; print "  " $1, $3
      }
    }
    END {
      printf "  query_page %.2f%%, of which the inlined check (store.h and" \
        " wire.h lines) %.1f%%\n", qp, inl
      seal += qp * inl / 100
      printf "perf (%s): the check took %.2f %% of the server'"'"'s samples" \
        " (user + kernel) over %d calls\n", ev, seal, q
    }' "$T/perf.txt"
else
  echo "perf: not installed (linux-perf), no direct share"
fi
