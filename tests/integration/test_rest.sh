#!/usr/bin/env bash
# test_rest.sh -- the REST shim end to end: real server, real SQLite file,
# curl. Every DESIGN section 4 row that applies without auth, over HTTP.
. "$(dirname "$0")/lib.sh"

DB=$T/rest.db
"$SERVER" import --backend "sqlite:$DB" "$SL_SRC/demo/demo.json" >/dev/null 2>&1
start_server "$T/server.log" --backend "sqlite:$DB" \
  --grpc-listen=127.0.0.1:0 --http-listen=127.0.0.1:0 --threads=2
SERVER1_PID=$SERVER_PID
BASE=http://127.0.0.1:$HTTP_PORT

# req METHOD PATH [curl args]: sets CODE, BODY, HDRS
req() {
  local m=$1 p=$2
  shift 2
  local out
  out=$(curl -s -X "$m" -D "$T/h" -o "$T/b" -w '%{http_code}' "$@" "$BASE$p")
  CODE=$out
  BODY=$(cat "$T/b")
  HDRS=$(tr -d '\r' <"$T/h")
}

req GET /v1/demo-project/services/mnist-svc/logs
check "GET real-time: 200" 200 "$CODE"
check "GET real-time: documented JSON" "$(cat "$SL_SRC/tests/integration/expected/mnist.json")" "$BODY"
contains "GET: JSON content type" "Content-Type: application/json" "$HDRS"

req GET /v1/demo-project/services/edge-svc/logs
check "GET edge: 200" 200 "$CODE"
check "GET edge: documented JSON" "$(cat "$SL_SRC/tests/integration/expected/edge.json")" "$BODY"

req GET '/v1/demo-project/services/mnist-svc/logs?update_time=123432423'
check "update_time filter" "$(cat "$SL_SRC/tests/integration/expected/mnist_123432423.json")" "$BODY"
req GET '/v1/demo-project/services/mnist-svc/logs?foo=bar&update_time=123432423&x'
check "unknown query parameters ignored" "$(cat "$SL_SRC/tests/integration/expected/mnist_123432423.json")" "$BODY"

# HEAD: the GET's status and headers, no body
req GET /v1/demo-project/services/mnist-svc/logs
getlen=$(wc -c <"$T/b")
curl -s -I "$BASE/v1/demo-project/services/mnist-svc/logs" -o "$T/hh" -w '%{http_code}' >"$T/hc"
check "HEAD: 200" 200 "$(cat "$T/hc")"
contains "HEAD: Content-Length of the GET body" "Content-Length: $getlen" "$(tr -d '\r' <"$T/hh")"

# errcase NAME METHOD PATH STATUS CODE [curl args]
errcase() {
  local name=$1 m=$2 p=$3 st=$4 ec=$5
  shift 5
  req "$m" "$p" "$@"
  check "$name: HTTP $st" "$st" "$CODE"
  local got
  got=$($PY -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["error_code"]); assert d["error_msg"]' "$BODY" 2>/dev/null || echo "bad body: $BODY")
  check "$name: $ec" "$ec" "$got"
}

errcase "bad project_id" GET '/v1/bad.project/services/mnist-svc/logs' 400 ModelArts.0101
errcase "bad service_id" GET '/v1/demo-project/services/'"$(printf 'x%.0s' $(seq 65))"'/logs' 400 ModelArts.0101
errcase "bad update_time" GET '/v1/demo-project/services/mnist-svc/logs?update_time=12a' 400 ModelArts.0101
errcase "negative update_time" GET '/v1/demo-project/services/mnist-svc/logs?update_time=-1' 400 ModelArts.0101
errcase "batch service" GET /v1/demo-project/services/batch-svc/logs 400 ModelArts.2858
errcase "no such service" GET /v1/demo-project/services/nope/logs 404 ModelArts.3502
errcase "service of another project" GET /v1/other-project/services/mnist-svc/logs 404 ModelArts.3502
errcase "unknown path" GET /v2/demo-project/services/mnist-svc/logs 404 ModelArts.0104
errcase "unknown path (extra segment)" GET /v1/demo-project/services/mnist-svc/logs/x 404 ModelArts.0104
errcase "root path" GET / 404 ModelArts.0104
for m in POST PUT DELETE PATCH; do
  errcase "$m on the path" "$m" /v1/demo-project/services/mnist-svc/logs 405 ModelArts.2803
  contains "$m: Allow header" "Allow: GET" "$HDRS"
done

# escaping and non-ASCII survive the round trip (a fixture of its own)
cat >"$T/esc.json" <<'JSON'
{"services":[{"project_id":"p1","service_id":"esc","service_name":"q\"uote","infer_type":"real-time",
 "logs":[{"update_time":5,"result":"FAIL","config":[{"model_id":"m","model_name":"n\\b","model_version":"v",
 "specification":"s","envs":{"NL":"a\nb","UTF":"héllo ✓","CTRL":"\u0001"}}]}]}]}
JSON
"$SERVER" import --backend "sqlite:$DB" "$T/esc.json" >/dev/null 2>&1
req GET /v1/p1/services/esc/logs
check "escaping: 200" 200 "$CODE"
got=$($PY -c 'import json,sys; d=json.loads(sys.argv[1]); c=d["logs"][0]["config"][0]; print(d["service_name"], c["model_name"], repr(c["envs"]["NL"]), c["envs"]["UTF"], repr(c["envs"]["CTRL"]), c["weight"], c["instance_count"])' "$BODY")
check "escaping: values round-trip" "q\"uote n\\b 'a\\nb' héllo ✓ '\\x01' 0 0" "$got"

# upstream down: a shim-only process pointing at a dead port (held
# closed) -> 503
hold_port closed
DEAD=$HELD_PORT
start_server "$T/shim.log" --upstream=127.0.0.1:"$DEAD" --http-listen=127.0.0.1:0
SHIM_PID=$SERVER_PID
HP2=$HTTP_PORT
CODE=$(curl -s -o "$T/b" -w '%{http_code}' "http://127.0.0.1:$HP2/v1/demo-project/services/mnist-svc/logs")
check "upstream unreachable: 503" 503 "$CODE"
contains "upstream unreachable: ModelArts.4302" ModelArts.4302 "$(cat "$T/b")"

# an upstream slower than --upstream-timeout -> deadline -> 504
port_helper "$T/slow.port" $PY "$SL_SRC/tests/integration/slow_upstream.py" 3
MUTE=$HELPER_PORT
start_server "$T/shim2.log" --upstream=127.0.0.1:"$MUTE" --http-listen=127.0.0.1:0 --upstream-timeout=300ms
SHIM2_PID=$SERVER_PID
HP3=$HTTP_PORT
CODE=$(curl -s -o "$T/b" -w '%{http_code}' "http://127.0.0.1:$HP3/v1/demo-project/services/mnist-svc/logs")
check "upstream deadline: 504" 504 "$CODE"
contains "upstream deadline: ModelArts.0010" ModelArts.0010 "$(cat "$T/b")"

stop_server "$SHIM2_PID" && pass "shim-only SIGTERM exits 0" || fail "shim-only exit status"
stop_server "$SHIM_PID" && pass "shim-only SIGTERM exits 0" || fail "shim-only exit status"
stop_server "$SERVER1_PID" && pass "server SIGTERM exits 0" || fail "server exit status $?"
finish
