#!/usr/bin/env bash
# test_replaced_db.sh -- a database file replaced at its path (a restored
# backup, a copy moved over it) is not silently ignored: the open
# connections still read the old file, so health turns NOT_SERVING and
# queries answer UNAVAILABLE / 503 ModelArts.4302, and the log says why.
. "$(dirname "$0")/lib.sh"

DB=$T/r.db
"$SERVER" import --backend "sqlite:$DB" "$SL_SRC/demo/demo.json" 2>/dev/null
start_server "$T/r.log" --backend "sqlite:$DB" --grpc-listen=127.0.0.1:0 \
  --http-listen=127.0.0.1:0 --health-interval=100ms
GP=$GRPC_PORT
HP=$HTTP_PORT
code() { curl -s -o "$T/b" -w '%{http_code}' "http://127.0.0.1:$HP$1"; }
check "served before" 200 "$(code /v1/demo-project/services/mnist-svc/logs)"
cp "$DB" "$T/copy.db"
mv "$T/copy.db" "$DB"
# The prober (every 100 ms) notices: wait for it to say so (and why).
wait_eq 20 NOT_SERVING $PY "$SL_SRC/tests/integration/health_probe.py" 127.0.0.1:$GP check '' >/dev/null || true
wait_log "$T/r.log" 'the file was replaced since the server opened it' || true
check "replaced file: 503" 503 "$(code /v1/demo-project/services/mnist-svc/logs)"
contains "replaced file: ModelArts.4302" ModelArts.4302 "$(cat "$T/b")"
check "replaced file: /healthz 503" 503 "$(code /healthz)"
check "replaced file: Health NOT_SERVING" NOT_SERVING \
  "$($PY "$SL_SRC/tests/integration/health_probe.py" 127.0.0.1:$GP check '')"
contains "the log says why" "the file was replaced since the server opened it" "$(cat "$T/r.log")"
stop_server "$SERVER_PID" && pass "SIGTERM exits 0" || fail "SIGTERM exit status"
finish
