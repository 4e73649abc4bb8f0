#!/usr/bin/env bash
# test_watch_soak.sh -- 200 watchers on one service while a second server on
# the same SQLite file records 20 logs a second for 30 s: every watcher gets
# every log once and in order, the watched server's RSS stays bounded, and
# SIGTERM then ends every stream cleanly (UNAVAILABLE) with exit 0.
#
# SL_SOAK_SECS sets the writing time (the sanitizer build uses 10 s: ASan's
# memory figures say nothing there, and the run is slower).
# The latency figures it prints (write answered -> event received, p50/p99)
# are the ones the README quotes; tests/bench/bench_watch.sh prints more.
. "$(dirname "$0")/lib.sh"

SANITIZED=0
[ "${SL_SANITIZE:-OFF}" = ON ] && SANITIZED=1
SECS=${SL_SOAK_SECS:-$([ $SANITIZED = 1 ] && echo 10 || echo 30)}
WATCHERS=200
RATE=20
DB=$T/soak.db
"$SERVER" import --backend "sqlite:$DB" "$SL_SRC/demo/demo.json" 2>/dev/null
start_server "$T/a.log" --backend "sqlite:$DB" --grpc-listen=127.0.0.1:0 \
  --http-listen= --shutdown-grace=10s
A=$SERVER_PID
AG=$GRPC_PORT
start_server "$T/b.log" --backend "sqlite:$DB" --grpc-listen=127.0.0.1:0 \
  --http-listen=
B=$SERVER_PID
BG=$GRPC_PORT
"$CLI" put-service --addr 127.0.0.1:$BG --project soak --service soak-svc \
  --name soak --infer-type real-time >/dev/null || fail "put-service"

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
RSS0=$(rss_kb $A)
# RSS every half second while the soak runs.
(while kill -0 $A 2>/dev/null; do rss_kb $A; sleep 0.5; done) >"$T/rss" 2>/dev/null &
SAMPLER=$!
PIDS+=("$SAMPLER")

$PY "$I/live_client.py" soak 127.0.0.1:$AG 127.0.0.1:$BG soak soak-svc \
  $WATCHERS $RATE "$SECS" >"$T/soak" 2>"$T/soak.err" && rc=0 || rc=$?
cat "$T/soak"
head -5 "$T/soak.err" >&2
check "every watcher got every log, in order" 0 "$rc"
SUMMARY=$(tail -1 "$T/soak")
field() { $PY -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$SUMMARY" "$1"; }
check "watchers complete" $WATCHERS "$(field watchers_complete)"
[ "$(field writes)" -ge $((RATE * SECS * 9 / 10)) ] &&
  pass "$(field writes) writes in ${SECS}s" || fail "only $(field writes) writes"
p99=$(field p99_ms)
$PY -c "import sys; sys.exit(0 if float('$p99') < 1000 else 1)" &&
  pass "fan-out p99 $p99 ms (< 1 s)" || fail "fan-out p99 $p99 ms"

# Bounded memory: the peak while 200 streams ran, over the idle start.
PEAK=$(sort -n "$T/rss" | tail -1)
GROWTH=$(((PEAK - RSS0) / 1024))
echo "server A RSS: ${RSS0} kB idle, ${PEAK} kB peak (+${GROWTH} MiB)"
if [ $SANITIZED = 1 ]; then
  echo "RSS bound not checked under sanitizers"
else
  [ "$GROWTH" -lt 64 ] && pass "RSS growth ${GROWTH} MiB < 64 MiB" ||
    fail "RSS grew ${GROWTH} MiB"
fi

# The streams were cancelled by the client at the end; open 20 more and
# stop the server under them.
for i in $(seq 1 20); do
  $PY "$I/live_client.py" watch 127.0.0.1:$AG soak soak-svc >"$T/w$i" 2>/dev/null &
done
for i in $(seq 1 20); do wait_log "$T/w$i" '"snapshot"' || fail "watcher $i"; done
stop_server $A && pass "SIGTERM under 20 watchers exits 0" || fail "exit status"
n=0
for i in $(seq 1 20); do
  wait_log "$T/w$i" '"status": "UNAVAILABLE"' 1 10 && n=$((n + 1))
done
check "every stream ended UNAVAILABLE" 20 $n
stop_server $B || fail "server B's exit status"
finish
