#!/usr/bin/env bash
# test_shutdown.sh -- SIGTERM while calls are in flight: every in-flight
# call completes OK, a new one is refused, the process exits 0 within the
# grace period. One worker thread and a 20 000-log service make the calls
# queue long enough to be caught in flight.
. "$(dirname "$0")/lib.sh"

$PY "$SL_SRC/tests/bench/gen_bench_data.py" "$T/big" 1 20000 1
DB=$T/big.db
"$SERVER" import --backend "sqlite:$DB" "$T/big-0.json" 2>/dev/null
# The 30 calls keep ~48 MB of replies in flight at once, on purpose: more
# than the default --max-inflight-bytes (32 MiB), which would refuse some
# of them; this test is about the stop, so it raises that limit.
start_server "$T/s.log" --backend "sqlite:$DB" --grpc-listen=127.0.0.1:0 \
  --http-listen= --threads=1 --shutdown-grace=8s --log-level=warn \
  --max-inflight-bytes=134217728
PID=$SERVER_PID
GP=$GRPC_PORT
# When the server is gone, noted apart from the probe: the probe returns
# only once it has decoded its 30 answers (75 MB), which a loaded machine
# can make take longer than the server takes to exit.
(while ! gone "$PID"; do sleep 0.02; done; date +%s%N >"$T/exit_ns") &
WATCH=$!
PIDS+=("$WATCH")
out=$($PY "$SL_SRC/tests/integration/inflight_probe.py" 127.0.0.1:$GP "$PID" 30 bench-p svc-0)
rc=0
wait_exit "$PID" || rc=$?
wait_exit "$WATCH" 5 || true
t1=$(cat "$T/exit_ns" 2>/dev/null || date +%s%N)
echo "$out"
contains "every in-flight call completed OK" "inflight OK 30/30" "$out"
contains "a call after SIGTERM is refused" "new UNAVAILABLE" "$out"
check "exit status 0" 0 "$rc"
t0=$(sed -n 's/^sigterm_ns \([0-9]*\).*/\1/p' <<<"$out") # the probe's SIGTERM
ms=$(((t1 - ${t0:-0}) / 1000000))
[ "$ms" -lt 8000 ] && pass "exit within the grace period (${ms} ms)" || fail "exit took ${ms} ms"
finish
