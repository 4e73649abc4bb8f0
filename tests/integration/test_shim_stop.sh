#!/usr/bin/env bash
# test_shim_stop.sh -- issue 8, item 9(a): at SIGTERM every REST
# connection the shim has accepted gets an answer -- its 200, or past the
# shim's 1 s stop grace a JSON 503 ModelArts.4302 with Connection: close --
# never an empty reply or a reset; connections the shim no longer accepts
# are refused. stop_probe.py runs the clients and sends the SIGTERM.
. "$(dirname "$0")/lib.sh"

DB=$T/st.db
"$SERVER" import --backend "sqlite:$DB" "$SL_SRC/demo/demo.json" >/dev/null 2>&1
BAD=0  # connected clients left without an answer, over all rounds
SERVED=0

# round N DELAY_MS SLOW_MS: one server, N clients, SIGTERM DELAY_MS after
# they start (negative: after they are all connected); the server must
# exit 0 within 10 s of the SIGTERM. Sets OUT to the probe's counts.
round() {
  start_server "$T/s.log" --backend "sqlite:$DB" --grpc-listen=127.0.0.1:0 \
    --http-listen=127.0.0.1:0 --log-level=warn
  local pid=$SERVER_PID t0 t1 rc=0
  t0=$(date +%s%N)
  OUT=$($PY "$I/stop_probe.py" "$HTTP_PORT" "$pid" "$@")
  wait_exit "$pid" || rc=$?
  t1=$(date +%s%N)
  echo "round $*: $(echo $OUT) (exit $rc after $(((t1 - t0) / 1000000)) ms)"
  check "round $*: exit status 0" 0 "$rc"
  [ "$rc" = 0 ] || sed 's/^/  | /' "$T/s.log" >&2 # why it ended so
  [ $(((t1 - t0) / 1000000)) -lt 10000 ] && pass "round $*: exit within 10 s" ||
    fail "round $*: exit took $(((t1 - t0) / 1000000)) ms"
  local k n
  while read -r k n; do
    case "$k" in
    200 | 503-close) SERVED=$((SERVED + n)) ;;
    refused) ;;
    *) BAD=$((BAD + n)) ;;
    esac
  done <<<"$OUT"
}
# count KEY: KEY's count in OUT (0 when absent)
count() { awk -v k="$1" '$1 == k { print $2 }' <<<"$OUT" | grep . || echo 0; }

# The issue's rounds: 40 parallel GETs, SIGTERM 5 ms later; the same
# with clients that send their request 20 ms after connecting.
for r in 1 2 3 4 5; do round 40 5 0; done
for r in 1 2 3 4 5; do round 40 5 20; done
check "connected clients without an answer, 10 racy rounds" 0 "$BAD"
echo "answered in the racy rounds: $SERVED"
# Every client connected before the SIGTERM, requests 300 ms after their
# connect (inside the grace): all 200.
round 40 -50 300
check "requests inside the grace: all 200" 40 "$(count 200)"
# Requests 1.8 s after their connect (past the 1 s grace, inside the 5 s
# wait for silent connections): all 503 with Connection: close.
round 40 -50 1800
check "requests past the grace: all 503 + Connection: close" 40 "$(count 503-close)"
check "connected clients without an answer, all rounds" 0 "$BAD"
finish
