#!/usr/bin/env bash
# test_health.sh -- grpc.health.v1 Check and Watch follow reality: the
# backend's file going away and coming back, and the drain at SIGTERM,
# which ends Watch and idle reflection streams at once; the shim's /healthz
# tells the same.
. "$(dirname "$0")/lib.sh"

DB=$T/h.db
"$SERVER" import --backend "sqlite:$DB" "$SL_SRC/demo/demo.json" 2>/dev/null
start_server "$T/h.log" --backend "sqlite:$DB" --grpc-listen=127.0.0.1:0 \
  --http-listen=127.0.0.1:0 --health-interval=100ms --shutdown-grace=5s
PID=$SERVER_PID
GP=$GRPC_PORT
HP=$HTTP_PORT
hp() { $PY "$SL_SRC/tests/integration/health_probe.py" 127.0.0.1:$GP "$@"; }
healthz() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HP/healthz"; }

check "Check \"\"" SERVING "$(hp check '')"
check "Check modelarts.v1.ServiceLogs" SERVING "$(hp check modelarts.v1.ServiceLogs)"
check "Check unknown name" NOT_FOUND "$(hp check nope)"
check "/healthz while serving" 200 "$(healthz)"

# No fixed pauses: each step waits for what it changes to show -- the
# Watch stream's next line and Check's answer -- and then checks.
hp watch '' 30 >"$T/watch" &
W=$!
hp watch nope 30 >"$T/watch-unknown" &
WU=$!
wait_log "$T/watch" . 1 || true
wait_log "$T/watch-unknown" . 1 || true
mv "$DB" "$DB.away"
wait_log "$T/watch" . 2 || true
check "Check while the backend is gone" NOT_SERVING "$(wait_eq 20 NOT_SERVING hp check '')"
check "/healthz while the backend is gone" 503 "$(healthz)"
mv "$DB.away" "$DB"
wait_log "$T/watch" . 3 || true
check "Check after the backend is back" SERVING "$(wait_eq 20 SERVING hp check '')"
check "/healthz after the backend is back" 200 "$(healthz)"

$PY "$SL_SRC/tests/integration/idle_stream.py" 127.0.0.1:$GP 30 >"$T/idle" &
IDLE=$!
wait_log "$T/idle" '^answered$' || true

t0=$(date +%s%N)
stop_server "$PID" && pass "SIGTERM exits 0" || fail "SIGTERM exit status"
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
[ "$ms" -lt 5000 ] && pass "exit within the grace period (${ms} ms)" || fail "exit took ${ms} ms"
wait $W || true
wait $WU || true
wait $IDLE || true
check "an idle reflection stream is ended at the drain, not after the grace" \
  "answered END UNAVAILABLE" "$(tr '\n' ' ' <"$T/idle" | sed 's/ $//')"
check "Watch: every change, then the drain, then a clean end" \
  "SERVING NOT_SERVING SERVING NOT_SERVING END UNAVAILABLE" "$(tr '\n' ' ' <"$T/watch" | sed 's/ $//')"
check "Watch of an unknown name: SERVICE_UNKNOWN, stream kept open until the drain" \
  "SERVICE_UNKNOWN END UNAVAILABLE" "$(tr '\n' ' ' <"$T/watch-unknown" | sed 's/ $//')"
finish
