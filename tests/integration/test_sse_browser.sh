#!/usr/bin/env bash
# test_sse_browser.sh -- the REST watch followed by a real browser's
# EventSource (headless Chromium through Selenium, all from Debian): the
# snapshot event, a log recorded through the CLI appearing within 2 s, its
# replacement (RUNNING -> SUCCESS) after it, and at SIGTERM the shim's
# `event: error` (503 ModelArts.4302) followed by EventSource's own
# reconnect attempt. tests/integration/sse_browser.py drives the browser.
. "$(dirname "$0")/lib.sh"

[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] ||
  { fail "chromium and chromium-driver are not installed (scripts/install-deps.sh --test)"; finish; }

DB=$T/b.db
P=demo-project
S=mnist-svc
"$SERVER" import --backend "sqlite:$DB" "$SL_SRC/demo/demo.json" 2>/dev/null
start_server "$T/s.log" --backend "sqlite:$DB" --grpc-listen=127.0.0.1:0 \
  --http-listen=127.0.0.1:0
PID=$SERVER_PID
URL="http://127.0.0.1:$HTTP_PORT/v1/$P/services/$S/logs:watch"

mkfifo "$T/in"
$PY "$I/sse_browser.py" "$URL" 120 <"$T/in" >"$T/page" 2>"$T/page.err" &
BR=$!
PIDS+=("$BR")
exec 7>"$T/in" # holds the browser's stdin open; closed to end it
wait_log "$T/page" '^snapshot ' 1 60 || { cat "$T/page.err" >&2; fail "the page's snapshot"; }
check "EventSource: the snapshot event" "snapshot 2" "$(grep -m1 '^snapshot' "$T/page")"

rec() {
  printf '{"update_time": %s, "result": "%s", "config": [{"model_id": "m3", "model_name": "mnist", "model_version": "2.0.0", "weight": 100, "specification": "modelarts.vm.cpu.2u", "instance_count": 1}]}' "$1" "$2" |
    "$CLI" record --addr 127.0.0.1:$GRPC_PORT --project $P --service $S - >/dev/null
}
UT=1800000000000
rec $UT RUNNING
wait_log "$T/page" "^log $UT RUNNING$" 1 2 && pass "EventSource: the new log within 2 s" ||
  fail "EventSource: the new log did not come within 2 s"
rec $UT SUCCESS
wait_log "$T/page" "^log $UT SUCCESS$" 1 2 && pass "EventSource: its replacement within 2 s" ||
  fail "EventSource: the replacement did not come within 2 s"
check "EventSource: in order" "log $UT RUNNING|log $UT SUCCESS" \
  "$(grep '^log' "$T/page" | paste -sd'|')"

stop_server "$PID" && pass "SIGTERM exits 0" || fail "server exit status"
wait_log "$T/page" '^error ModelArts.4302$' 1 10 &&
  pass "EventSource: the shutdown's error event" || fail "no error event at shutdown"
wait_log "$T/page" '^reconnecting$' 1 10 &&
  pass "EventSource: then tries to reconnect" || fail "no reconnect attempt"
exec 7>&-
wait_exit $BR 30 || fail "the browser script did not end"
finish
