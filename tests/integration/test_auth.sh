#!/usr/bin/env bash
# test_auth.sh -- every auth row of DESIGN section 4, over gRPC (Python
# grpcio) and REST (curl through the shim): no token, unknown token, a token
# of another project, another project's service looked up through an allowed
# project (NOT_FOUND, like a missing one); health and reflection stay open;
# SIGHUP reloads the tokens file atomically and a bad file keeps the old
# table; tokens never reach the logs.
. "$(dirname "$0")/lib.sh"

DB=$T/a.db
"$SERVER" import --backend "sqlite:$DB" "$SL_SRC/tests/fixtures/demo.json" 2>/dev/null
TOK=$T/tokens
cat >"$TOK" <<'TOKENS'
# token            project
demo-secret-1      demo-project
both-secret-2      demo-project
both-secret-2      other-project
other-secret-3     other-project
TOKENS
start_server "$T/a.log" --backend "sqlite:$DB" --grpc-listen=127.0.0.1:0 \
  --http-listen=127.0.0.1:0 --auth-tokens "$TOK"
PID=$SERVER_PID
GP=$GRPC_PORT
HP=$HTTP_PORT
Q=/modelarts.v1.ServiceLogs/QueryServiceLogs
grpc() { # PROJECT SERVICE [TOKEN]
  $PY "$SL_SRC/tests/integration/grpc_probe.py" 127.0.0.1:$GP $Q "$(pb "$1" "$2")" ${3:+"$3"}
}
rest() { # PROJECT SERVICE [TOKEN] -> "HTTP error_code"
  local h=()
  [ -n "${3:-}" ] && h=(-H "X-Auth-Token: $3")
  curl -s "${h[@]}" -o "$T/b" -w '%{http_code}' "http://127.0.0.1:$HP/v1/$1/services/$2/logs" >"$T/c"
  echo "$(cat "$T/c") $($PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get("error_code", "-"))' "$T/b")"
}

# row: no token
contains "gRPC no token: UNAUTHENTICATED 0201" "UNAUTHENTICATED ModelArts.0201 modelarts" "$(grpc demo-project mnist-svc)"
check "REST no token: 401 0201" "401 ModelArts.0201" "$(rest demo-project mnist-svc)"
# row: unknown token
contains "gRPC unknown token: UNAUTHENTICATED 0203" "UNAUTHENTICATED ModelArts.0203 modelarts" "$(grpc demo-project mnist-svc wrong-secret)"
check "REST unknown token: 401 0203" "401 ModelArts.0203" "$(rest demo-project mnist-svc wrong-secret)"
# row: token not valid for the path's project
contains "gRPC other project's token: PERMISSION_DENIED 0210" "PERMISSION_DENIED ModelArts.0210 modelarts" "$(grpc demo-project mnist-svc other-secret-3)"
check "REST other project's token: 403 0210" "403 ModelArts.0210" "$(rest demo-project mnist-svc other-secret-3)"
# allowed
contains "gRPC valid token: OK" "OK - -" "$(grpc demo-project mnist-svc demo-secret-1)"
check "REST valid token: 200" "200 -" "$(rest demo-project mnist-svc demo-secret-1)"
check "REST valid token: documented JSON" "$(cat "$SL_SRC/tests/integration/expected/mnist.json")" "$(cat "$T/b")"
contains "a token of two projects reads the second" "OK - -" "$(grpc other-project private-svc both-secret-2)"
# cross-project: other-project's service through demo-project -> NOT_FOUND,
# the same answer as a service that exists nowhere
cross=$(grpc demo-project private-svc demo-secret-1)
missing=$(grpc demo-project no-such-svc demo-secret-1)
contains "gRPC cross-project lookup: NOT_FOUND 3502" "NOT_FOUND ModelArts.3502 modelarts" "$cross"
check "gRPC cross-project lookup indistinguishable from a missing service" \
  "${missing//no-such-svc/X}" "${cross//private-svc/X}"
check "REST cross-project lookup: 404 3502" "404 ModelArts.3502" "$(rest demo-project private-svc demo-secret-1)"
curl -s -H "X-Auth-Token: demo-secret-1" "http://127.0.0.1:$HP/v1/demo-project/services/private-svc/logs" >"$T/cross"
curl -s -H "X-Auth-Token: demo-secret-1" "http://127.0.0.1:$HP/v1/demo-project/services/no-such-svc/logs" >"$T/miss"
check "REST cross-project body indistinguishable from a missing service" \
  "$(sed 's/no-such-svc/X/' "$T/miss")" "$(sed 's/private-svc/X/' "$T/cross")"

# health and reflection need no token
check "health needs no token" SERVING "$($PY "$SL_SRC/tests/integration/health_probe.py" 127.0.0.1:$GP check '')"
check "/healthz needs no token" 200 "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$HP/healthz)"
out=$($PY "$SL_SRC/tests/integration/idle_stream.py" 127.0.0.1:$GP 0.3)
contains "reflection needs no token" "answered" "$out"

# SIGHUP: a new token works, a removed one stops working
cat >"$TOK.new" <<'TOKENS'
rotated-secret-4 demo-project
TOKENS
mv "$TOK.new" "$TOK"
kill -HUP "$PID"
wait_log "$T/a.log" 'SIGHUP: tokens reloaded' || true
contains "after SIGHUP: the new token works" "OK - -" "$(grpc demo-project mnist-svc rotated-secret-4)"
contains "after SIGHUP: the old token is unknown" "UNAUTHENTICATED ModelArts.0203" "$(grpc demo-project mnist-svc demo-secret-1)"
# SIGHUP with a bad file keeps the old table and logs why
printf 'rotated-secret-4 demo-project\nthis-line-is-broken\n' >"$TOK"
kill -HUP "$PID"
wait_log "$T/a.log" 'SIGHUP: keeping the old tokens' || true
contains "bad file on SIGHUP: the old table stays" "OK - -" "$(grpc demo-project mnist-svc rotated-secret-4)"
contains "bad file on SIGHUP: the log says why" "keeping the old tokens: $TOK: line 2: expected TOKEN PROJECT_ID" "$(cat "$T/a.log")"

stop_server "$PID" && pass "SIGTERM exits 0" || fail "SIGTERM exit status"
for s in demo-secret-1 both-secret-2 other-secret-3 rotated-secret-4 wrong-secret; do
  if grep -q "$s" "$T/a.log"; then fail "token $s appears in the log"; else pass "token $s not in the log"; fi
done
finish
