#!/usr/bin/env bash
# test_rest_modes.sh -- issue 10, lever 1: the REST shim answers the same
# bytes in both of its modes.
#
#   A  in-process: one process serves gRPC and REST; a query runs on the
#      shim's worker (server/http/http_local.c), no gRPC hop.
#   B  remote: a shim-only process (--upstream) in front of a gRPC-only
#      server; a query is one QueryServiceLogs call.
#
# Both servers read one SQLite file, with the same tokens and limits. Every
# request below goes to A and to B with the same X-Request-Id; the status
# line, the headers (all but Date) and the body must be identical byte for
# byte, and the status and error code must be the documented ones. The
# cases: every success and error row of README's REST tables that a single
# request can reach (ok, ?update_time, HEAD, 400 0101, 404 3502, 400 2858,
# 401 0201/0203, 403 0210, 405, 404 0104, 414, an answer over
# --max-response-bytes, /healthz), then, with the database moved away,
# 503 ModelArts.4302 and /healthz 503.
. "$(dirname "$0")/lib.sh"

DB=$T/m.db
MAXR=65536 # the smallest --max-response-bytes: bench-p/svc-0 is larger
$PY "$SL_SRC/tests/bench/gen_bench_data.py" "$T/big" 1 2000 1
"$SERVER" import --backend "sqlite:$DB" "$SL_SRC/demo/demo.json" 2>/dev/null
"$SERVER" import --backend "sqlite:$DB" "$T/big-0.json" 2>/dev/null
rm -f "$T/big-0.json"
cat >"$T/tokens" <<'EOF'
tok-demo demo-project
tok-bench bench-p
tok-other other-project
EOF
COMMON=(--backend "sqlite:$DB" --auth-tokens "$T/tokens" --max-response-bytes=$MAXR
  --health-interval=100ms --threads=2)

start_server "$T/a.log" "${COMMON[@]}" --grpc-listen=127.0.0.1:0 \
  --http-listen=127.0.0.1:0 --http-threads=2
PA=$SERVER_PID
A=http://127.0.0.1:$HTTP_PORT
start_server "$T/b-server.log" "${COMMON[@]}" --grpc-listen=127.0.0.1:0 --http-listen=
PBS=$SERVER_PID
start_server "$T/b-shim.log" --upstream=127.0.0.1:"$GRPC_PORT" \
  --http-listen=127.0.0.1:0 --http-threads=2 --max-response-bytes=$MAXR
PBH=$SERVER_PID
B=http://127.0.0.1:$HTTP_PORT
grep -q 'queries in-process' "$T/a.log" && pass "A answers in-process" ||
  fail "A's log does not say it answers in-process"
grep -q 'queries in-process' "$T/b-shim.log" && fail "B says in-process" ||
  pass "B goes through its upstream"

# fetch BASE OUT CURL_ARGS...: OUT.h the status line and headers but Date
# (CR stripped), OUT.b the body as sent (HEAD, curl -I: none, and curl
# writes the headers there too: they are filtered the same way).
fetch() {
  local base=$1 out=$2
  shift 2
  local args=("$@") url=${args[-1]}
  unset 'args[-1]'
  curl -s --max-time 30 -D "$out.raw" -o "$out.b" "${args[@]}" "$base$url" || true
  tr -d '\r' <"$out.raw" | grep -v '^Date: ' >"$out.h" || true
  case " ${args[*]} " in
  *" -I "*) tr -d '\r' <"$out.raw" | grep -v '^Date: ' >"$out.b" || true ;;
  esac
}
N=0
# same NAME STATUS ERROR_CODE CURL_ARGS... PATH: the request to A and to
# B; both answers are the same bytes, with STATUS and (for "-": none in
# the body) ERROR_CODE.
same() {
  local name=$1 status=$2 code=$3
  shift 3
  N=$((N + 1))
  local rid=modes-$N
  fetch "$A" "$T/a$N" -H "X-Request-Id: $rid" "$@"
  fetch "$B" "$T/b$N" -H "X-Request-Id: $rid" "$@"
  local got
  got=$(sed -n '1s/^HTTP\/1.1 \([0-9]*\).*/\1/p' "$T/a$N.h")
  check "$name: A status" "$status" "$got"
  if [ "$code" != - ]; then
    contains "$name: A error_code" "\"error_code\":\"$code\"" "$(cat "$T/a$N.b")"
  fi
  if cmp -s "$T/a$N.h" "$T/b$N.h" && cmp -s "$T/a$N.b" "$T/b$N.b"; then
    pass "$name: A and B answer the same bytes ($(wc -c <"$T/a$N.b") body bytes)"
  else
    fail "$name: A and B differ"
    diff "$T/a$N.h" "$T/b$N.h" >&2 || true
    diff <(head -c 600 "$T/a$N.b") <(head -c 600 "$T/b$N.b") >&2 || true
  fi
}
L=/v1/demo-project/services
D=(-H 'X-Auth-Token: tok-demo')

# ---- answers -------------------------------------------------------------
same "mnist" 200 - "${D[@]}" $L/mnist-svc/logs
same "edge" 200 - "${D[@]}" $L/edge-svc/logs
same "?update_time=N" 200 - "${D[@]}" "$L/mnist-svc/logs?update_time=123432423"
same "?update_time=0 and other parameters" 200 - "${D[@]}" "$L/mnist-svc/logs?x=1&update_time=0&y"
same "?update_time matching no log" 200 - "${D[@]}" "$L/edge-svc/logs?update_time=5"
same "HEAD" 200 - -I "${D[@]}" $L/mnist-svc/logs
same "a body on GET is dropped" 200 - "${D[@]}" --data-binary 'ignored' -X GET $L/mnist-svc/logs
same "big service, one log" 200 - -H 'X-Auth-Token: tok-bench' \
  "/v1/bench-p/services/svc-0/logs?update_time=1700000001000"
# ---- errors --------------------------------------------------------------
same "400 bad service_id" 400 ModelArts.0101 "${D[@]}" "$L/a%2Fb/logs"
same "400 id too long" 400 ModelArts.0101 "${D[@]}" "$L/$(printf 'x%.0s' {1..65})/logs"
same "400 bad update_time" 400 ModelArts.0101 "${D[@]}" "$L/mnist-svc/logs?update_time=x"
same "400 negative update_time" 400 ModelArts.0101 "${D[@]}" "$L/mnist-svc/logs?update_time=-1"
same "404 no such service" 404 ModelArts.3502 "${D[@]}" $L/nope/logs
same "404 another project's service" 404 ModelArts.3502 -H 'X-Auth-Token: tok-bench' \
  /v1/bench-p/services/mnist-svc/logs
same "HEAD 404" 404 - -I "${D[@]}" $L/nope/logs
same "400 batch service" 400 ModelArts.2858 "${D[@]}" $L/batch-svc/logs
same "401 no token" 401 ModelArts.0201 $L/mnist-svc/logs
same "401 empty token" 401 ModelArts.0201 -H 'X-Auth-Token;' $L/mnist-svc/logs
same "401 unknown token" 401 ModelArts.0203 -H 'X-Auth-Token: nope' $L/mnist-svc/logs
same "401 token too long" 401 ModelArts.0203 \
  -H "X-Auth-Token: $(head -c 8000 /dev/zero | tr '\0' t)" $L/mnist-svc/logs
same "401 token with a control byte" 401 ModelArts.0203 \
  -H "X-Auth-Token: $(printf 'to\tk')" $L/mnist-svc/logs
same "403 another project's token" 403 ModelArts.0210 -H 'X-Auth-Token: tok-other' \
  $L/mnist-svc/logs
same "405 POST" 405 ModelArts.2803 "${D[@]}" -X POST $L/mnist-svc/logs
same "405 DELETE" 405 ModelArts.2803 -X DELETE $L/nope/logs
same "404 no route" 404 ModelArts.0104 /v1/demo-project/services
same "404 trailing slash" 404 ModelArts.0104 "$L/mnist-svc/logs/"
same "414 target over 8 KiB" 414 ModelArts.0101 "${D[@]}" \
  "$L/mnist-svc/logs?pad=$(head -c 8300 /dev/zero | tr '\0' p)"
same "500 answer over --max-response-bytes" 500 ModelArts.0010 -H 'X-Auth-Token: tok-bench' \
  /v1/bench-p/services/svc-0/logs
contains "over the limit: names the flag" "larger than --max-response-bytes ($MAXR)" \
  "$(cat "$T/a$N.b")"
same "/healthz serving" 200 - /healthz
same "HEAD /healthz" 200 - -I /healthz

# ---- the backend unavailable: both servers' probers see the file gone ---
mv "$DB" "$DB.away"
hz() { curl -s -o /dev/null -w '%{http_code}' "$1/healthz"; }
check "A /healthz 503 once the file is gone" 503 "$(wait_eq "$WAIT" 503 hz "$A")"
check "B /healthz 503 once the file is gone" 503 "$(wait_eq "$WAIT" 503 hz "$B")"
same "503 backend unavailable" 503 ModelArts.4302 "${D[@]}" $L/mnist-svc/logs
same "503 /healthz" 503 - /healthz
same "401 before 503: auth is checked first" 401 ModelArts.0201 $L/mnist-svc/logs
mv "$DB.away" "$DB"
check "A /healthz back to 200" 200 "$(wait_eq "$WAIT" 200 hz "$A")"
check "B /healthz back to 200" 200 "$(wait_eq "$WAIT" 200 hz "$B")"
same "200 again" 200 - "${D[@]}" $L/mnist-svc/logs

# ---- what differs by design: the hidden hop's gRPC line ------------------
wait_log "$T/a.log" '"request_id":"modes-1"' 1 || true
check "A: no gRPC access line for a REST query" 0 \
  "$(grep '"request_id":"modes-1"' "$T/a.log" | grep -c '"kind":"grpc"' || true)"
wait_log "$T/b-server.log" '"request_id":"modes-1"' 1 || true
check "B: the upstream's gRPC line carries the request id" 1 \
  "$(grep '"request_id":"modes-1"' "$T/b-server.log" | grep -c '"kind":"grpc"' || true)"

stop_server "$PA" && pass "A SIGTERM exits 0" || fail "A exit status"
stop_server "$PBH" && pass "B shim SIGTERM exits 0" || fail "B shim exit status"
stop_server "$PBS" && pass "B server SIGTERM exits 0" || fail "B server exit status"
finish
