#!/usr/bin/env bash
# test_observability.sh -- /metrics, /healthz, access lines and request ids
# end to end: the real server with its shim on a SQLite file. /metrics is
# read by prometheus_client's parser (metrics_check.py), not by regexes;
# counters must move by exactly the calls made; X-Request-Id must travel
# shim -> server and show in both access lines (through a shim-only
# process: the in-process shim makes no gRPC call for a query, so a REST
# query writes the "http" line alone and counts in the HTTP metrics
# only).
. "$(dirname "$0")/lib.sh"

MC="$PY $SL_SRC/tests/integration/metrics_check.py"
QL=/modelarts.v1.ServiceLogs/QueryServiceLogs
LR='/v1/{project_id}/services/{service_id}/logs'

DB=$T/o.db
"$SERVER" import --backend "sqlite:$DB" "$SL_SRC/demo/demo.json" >/dev/null 2>&1
LOG=$T/server.log
start_server "$LOG" --backend "sqlite:$DB" \
  --grpc-listen=127.0.0.1:0 --http-listen=127.0.0.1:0 --threads=2
PID=$SERVER_PID
GP=$GRPC_PORT
HP=$HTTP_PORT
BASE=http://127.0.0.1:$HP

# metrics FILE [BASE]: fetches /metrics into FILE, checks status and type
metrics() {
  local code
  code=$(curl -s -D "$1.h" -o "$1" -w '%{http_code}' "${2:-$BASE}/metrics")
  check "GET /metrics: 200" 200 "$code"
  contains "/metrics: Prometheus content type" \
    "Content-Type: text/plain; version=0.0.4; charset=utf-8" "$(tr -d '\r' <"$1.h")"
}
# settled HTTP GRPC: waits until the server's log holds HTTP access lines
# of the shim and GRPC of the server: a request's metrics are counted just
# before its access line is written, which is after the client has its
# answer -- a snapshot taken sooner might miss the last request.
settled() {
  wait_log "$LOG" '"kind":"http"' "$1" || true
  wait_log "$LOG" '"kind":"grpc"' "$2" || true
}
# val FILE SAMPLE LABELS...: a sample's value (0 when absent)
val() { $MC value "$@"; }
# moved NAME WANT BEFORE AFTER SAMPLE LABELS...: after - before == WANT
moved() {
  local name=$1 want=$2 before=$3 after=$4
  shift 4
  local b a
  b=$(val "$before" "$@")
  a=$(val "$after" "$@")
  check "$name: +$want ($b -> $a)" "$want" "$((a - b))"
}

# ---- the exposition parses, every family with its type -----------------
metrics "$T/m0"
check "/metrics parses, families and types" ok "$($MC families "$T/m0")"
check "build_info is 1" 1 "$(val "$T/m0" servicelogs_build_info version=0.1.0)"
code=$(curl -s -I -o "$T/mh" -w '%{http_code}' "$BASE/metrics")
check "HEAD /metrics: 200" 200 "$code"
code=$(curl -s -X POST -D "$T/mp.h" -o "$T/mp" -w '%{http_code}' "$BASE/metrics")
check "POST /metrics: 405" 405 "$code"
contains "POST /metrics: Allow" "Allow: GET, HEAD" "$(tr -d '\r' <"$T/mp.h")"
contains "POST /metrics: ModelArts.2803" ModelArts.2803 "$(cat "$T/mp")"

# ---- calls: REST 200 x2, 404 (no such service), 404 (no route); gRPC OK,
# NOT_FOUND ---------------------------------------------------------------
rest() { curl -s -o /dev/null -w '%{http_code}' "$BASE$1"; }
check "REST 200" 200 "$(rest /v1/demo-project/services/mnist-svc/logs)"
check "REST 200 (edge)" 200 "$(rest /v1/demo-project/services/edge-svc/logs)"
check "REST 404 service" 404 "$(rest /v1/demo-project/services/nope/logs)"
check "REST 404 route" 404 "$(rest /nothing/here)"
"$CLI" query --addr 127.0.0.1:"$GP" --project demo-project --service mnist-svc >/dev/null 2>&1 &&
  pass "gRPC query OK" || fail "gRPC query failed"
"$CLI" query --addr 127.0.0.1:"$GP" --project demo-project --service nope >/dev/null 2>&1 &&
  fail "gRPC query of nope succeeded" || pass "gRPC query NOT_FOUND fails"

settled 7 2 # /metrics x3, REST x4; gRPC: CLI x2 (REST is in-process)
metrics "$T/m1"
check "/metrics parses after calls" ok "$($MC families "$T/m1")"
moved "http logs 200" 2 "$T/m0" "$T/m1" servicelogs_http_requests_total route="$LR" code=200
moved "http logs 404" 1 "$T/m0" "$T/m1" servicelogs_http_requests_total route="$LR" code=404
moved "http other 404" 1 "$T/m0" "$T/m1" servicelogs_http_requests_total route=other code=404
moved "http /metrics 405" 1 "$T/m0" "$T/m1" servicelogs_http_requests_total route=/metrics code=405
moved "http logs histogram count" 3 "$T/m0" "$T/m1" \
  servicelogs_http_request_duration_seconds_count route="$LR"
moved "http logs +Inf bucket" 3 "$T/m0" "$T/m1" \
  servicelogs_http_request_duration_seconds_bucket route="$LR" le=+Inf
check "http in flight: this request" 1 "$(val "$T/m1" servicelogs_http_requests_in_flight)"
# gRPC: the CLI's OK and NOT_FOUND; the in-process REST queries none.
moved "gRPC QueryServiceLogs OK" 1 "$T/m0" "$T/m1" servicelogs_grpc_calls_total method=$QL code=OK
moved "gRPC QueryServiceLogs NOT_FOUND" 1 "$T/m0" "$T/m1" servicelogs_grpc_calls_total method=$QL code=NOT_FOUND
moved "gRPC QueryServiceLogs histogram count" 2 "$T/m0" "$T/m1" \
  servicelogs_grpc_call_duration_seconds_count method=$QL
check "gRPC in flight: none" 0 "$(val "$T/m1" servicelogs_grpc_calls_in_flight method=$QL)"

# ---- /healthz ------------------------------------------------------------
code=$(curl -s -D "$T/hz.h" -o "$T/hz" -w '%{http_code}' "$BASE/healthz")
check "/healthz while serving: 200" 200 "$code"
check "/healthz body" '{"status":"SERVING"}' "$(cat "$T/hz")"
check "HEAD /healthz: 200" 200 "$(curl -s -I -o /dev/null -w '%{http_code}' "$BASE/healthz")"
settled 10 2 # and /metrics, /healthz x2 (read in-process: no gRPC call)
metrics "$T/m2"
moved "http /healthz 200" 2 "$T/m1" "$T/m2" servicelogs_http_requests_total route=/healthz code=200
moved "in-process /healthz: no gRPC Health/Check" 0 "$T/m1" "$T/m2" \
  servicelogs_grpc_calls_total method=/grpc.health.v1.Health/Check code=OK

# ---- X-Request-Id round trip ---------------------------------------------
curl -s -D "$T/r.h" -o /dev/null -H 'X-Request-Id: test-req-42' \
  "$BASE/v1/demo-project/services/mnist-svc/logs"
contains "X-Request-Id echoed" "X-Request-Id: test-req-42" "$(tr -d '\r' <"$T/r.h")"
curl -s -D "$T/r2.h" -o /dev/null "$BASE/v1/demo-project/services/nope/logs"
gen=$(tr -d '\r' <"$T/r2.h" | sed -n 's/^X-Request-Id: //p')
[[ "$gen" =~ ^[0-9a-f]{32}$ ]] && pass "X-Request-Id generated on an error: $gen" ||
  fail "generated X-Request-Id: [$gen]"
curl -s -D "$T/r3.h" -o /dev/null -H 'X-Request-Id: has space' "$BASE/nothing"
bad=$(tr -d '\r' <"$T/r3.h" | sed -n 's/^X-Request-Id: //p')
[[ "$bad" =~ ^[0-9a-f]{32}$ ]] && pass "invalid X-Request-Id replaced (404 too)" ||
  fail "invalid X-Request-Id: [$bad]"
# The access lines are written once the responses are sent: the shim's
# and the server's line of each request id, the shim's of the last one.
wait_log "$LOG" "\"request_id\":\"test-req-42\"" 1 || true
wait_log "$LOG" "\"request_id\":\"$gen\"" 1 || true
wait_log "$LOG" "\"request_id\":\"$bad\"" 1 || true
check "shim access line carries test-req-42" 1 "$($MC rid "$LOG" http test-req-42)"
check "in-process: no server line for test-req-42" 0 "$($MC rid "$LOG" grpc test-req-42)"
check "generated id in the shim line" 1 "$($MC rid "$LOG" http "$gen")"
check "http access lines: all keys" ok "$($MC lines "$LOG" http | cut -d' ' -f1)"
check "grpc access lines: all keys" ok "$($MC lines "$LOG" grpc | cut -d' ' -f1)"
line=$(grep '"request_id":"test-req-42"' "$LOG" | grep '"kind":"http"')
contains "http line: path" '"path":"/v1/demo-project/services/mnist-svc/logs"' "$line"
contains "http line: ids" '"project_id":"demo-project","service_id":"mnist-svc","status":200' "$line"
contains "http line: peer" '"peer":"127.0.0.1:' "$line"
line=$(grep "\"request_id\":\"$gen\"" "$LOG" | grep '"kind":"http"')
contains "http line: error_code" '"status":404,"error_code":"ModelArts.3502"' "$line"

# ---- a shim-only process: its own metrics, gRPC at zero; /healthz -------
# (at warn, start_server reads the one port from /proc: no start-up line)
start_server "$T/shim.log" --upstream=127.0.0.1:"$GP" --http-listen=127.0.0.1:0 --log-level=warn
SHIM=$SERVER_PID
HP2=$HTTP_PORT
check "shim-only /healthz: 200" 200 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HP2/healthz")"
metrics "$T/s1" "http://127.0.0.1:$HP2"
check "shim-only /metrics parses" ok "$($MC families "$T/s1")"
check "shim-only: gRPC histograms at zero" 0 "$(val "$T/s1" servicelogs_grpc_call_duration_seconds_count method=$QL)"
check "shim-only: gRPC counters at zero" 0 "$(val "$T/s1" servicelogs_grpc_calls_total method=/grpc.health.v1.Health/Check code=OK)"
check "shim-only: its /healthz counted" 1 "$(val "$T/s1" servicelogs_http_requests_total route=/healthz code=200)"
# X-Request-Id travels shim -> server: the shim-only process forwards the
# client's id, or the one it made, as x-request-id to the server's line.
curl -s -o /dev/null -H 'X-Request-Id: test-req-43' \
  "http://127.0.0.1:$HP2/v1/demo-project/services/mnist-svc/logs"
curl -s -D "$T/r4.h" -o /dev/null "http://127.0.0.1:$HP2/v1/demo-project/services/nope/logs"
gen2=$(tr -d '\r' <"$T/r4.h" | sed -n 's/^X-Request-Id: //p')
[[ "$gen2" =~ ^[0-9a-f]{32}$ ]] && pass "shim-only: X-Request-Id generated: $gen2" ||
  fail "shim-only: generated X-Request-Id: [$gen2]"
wait_log "$LOG" "\"request_id\":\"test-req-43\"" 1 || true
wait_log "$LOG" "\"request_id\":\"$gen2\"" 1 || true
check "server access line carries test-req-43" 1 "$($MC rid "$LOG" grpc test-req-43)"
check "generated id in the server line" 1 "$($MC rid "$LOG" grpc "$gen2")"
check "grpc access lines: all keys (with the shim's)" ok "$($MC lines "$LOG" grpc | cut -d' ' -f1)"
check "--log-level=warn: no access lines" "ok 0" "$($MC lines "$T/shim.log" http)"
stop_server "$SHIM" && pass "shim-only SIGTERM exits 0" || fail "shim-only exit status"

hold_port closed # an upstream port that refuses connections
DEAD=$HELD_PORT
start_server "$T/shim2.log" --upstream=127.0.0.1:"$DEAD" --http-listen=127.0.0.1:0 --upstream-timeout=1s
SHIM2=$SERVER_PID
HP3=$HTTP_PORT
code=$(curl -s -D "$T/d.h" -o "$T/d" -w '%{http_code}' "http://127.0.0.1:$HP3/healthz")
check "/healthz, upstream unreachable: 503" 503 "$code"
check "/healthz, upstream unreachable: body" '{"status":"NOT_SERVING"}' "$(cat "$T/d")"
contains "/healthz 503: X-Request-Id" "X-Request-Id: " "$(tr -d '\r' <"$T/d.h")"
stop_server "$SHIM2" && pass "shim-only SIGTERM exits 0" || fail "shim-only exit status"

stop_server "$PID" && pass "server SIGTERM exits 0" || fail "server exit status"
finish
