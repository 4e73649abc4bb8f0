#!/usr/bin/env bash
# test_sse_modes.sh -- issue 10: the REST watch sends the same bytes in
# both of the shim's modes.
#
#   A  in-process: one process serves gRPC and REST; a watch is a watcher
#      on the server's change feed (server/http/http_watch_local.c).
#   B  the hop: a shim-only process (--upstream) in front of A's gRPC
#      listener; a watch is one WatchServiceLogs call to A.
#
# So both follow one feed, one history. Each watch below is opened on A
# and on B with the same X-Request-Id: the status line and headers (all
# but Date) and the body (keepalive comments left out) must be identical
# byte for byte. The cases: the errors before the stream (404 3502, 400
# 0101, 401 0201/0203, 403 0210, 400 2858, 405, a snapshot over
# --max-response-bytes), then three streams (all logs of a real-time
# service, one update_time, an edge service) through writes -- new logs,
# a replaced log -- and a rename that ends the first two with the "error"
# event (409, the service was replaced). Then what only the hop has: its
# gRPC call (the request id forwarded; CANCELLED when its client leaves);
# A's own watches make no gRPC call.
. "$(dirname "$0")/lib.sh"

DB=$T/m.db
MAXR=65536 # the smallest --max-response-bytes; bench-p/svc-0's snapshot is larger
$PY "$SL_SRC/tests/bench/gen_bench_data.py" "$T/big" 1 2000 1
for f in "$SL_SRC/demo/demo.json" "$T/big-0.json"; do
  "$SERVER" import --backend "sqlite:$DB" "$f" 2>/dev/null
done
printf '%s\n' 'tok-demo demo-project' 'tok-bench bench-p' 'tok-other other-project' \
  'tok-w demo-project write' >"$T/tokens"
start_server "$T/a.log" --backend "sqlite:$DB" --auth-tokens "$T/tokens" \
  --max-response-bytes=$MAXR --threads=2 --grpc-listen=127.0.0.1:0 \
  --http-listen=127.0.0.1:0 --http-threads=2
PA=$SERVER_PID
GA=$GRPC_PORT
HA=$HTTP_PORT
start_server "$T/b.log" --upstream=127.0.0.1:"$GA" --http-listen=127.0.0.1:0 \
  --http-threads=2 --max-response-bytes=$MAXR
PB=$SERVER_PID
HB=$HTTP_PORT
grep -q 'watches in-process' "$T/a.log" && pass "A watches in-process" ||
  fail "A's log does not say it watches in-process"
grep -q 'watches in-process' "$T/b.log" && fail "B says in-process" ||
  pass "B goes through its upstream"

# req M NAME PATH [CURL ARGS...]: GET PATH from mode M (a or b) with the
# request id NAME, curl in the background (CURL_PID): $T/M-NAME.raw the
# status line and headers, $T/M-NAME.b the body as sent. With KILLED=1
# curl itself, not lib.sh's recording function (a subshell): the test
# kills it.
req() {
  local m=$1 name=$2 path=$3 port=$HA run=curl
  shift 3
  [ "$m" = b ] && port=$HB
  [ "${KILLED:-0}" = 1 ] && run="command curl"
  $run -sN --max-time 60 -D "$T/$m-$name.raw" -o "$T/$m-$name.b" \
    -H "X-Request-Id: $name" "$@" "http://127.0.0.1:$port$path" &
  CURL_PID=$!
  PIDS+=("$CURL_PID")
}
# alike NAME: A's and B's answers to NAME are the same bytes.
alike() {
  local name=$1
  for m in a b; do # headers but Date; the body without keepalives
    tr -d '\r' <"$T/$m-$name.raw" | grep -v '^Date: ' >"$T/$m-$name.h"
    $PY -c 'import sys; d = open(sys.argv[1], "rb").read()
sys.stdout.buffer.write(d.replace(b": keepalive\n\n", b""))' \
      "$T/$m-$name.b" >"$T/$m-$name.nk"
  done
  if cmp -s "$T/a-$name.h" "$T/b-$name.h" && cmp -s "$T/a-$name.nk" "$T/b-$name.nk"; then
    pass "$name: A and B send the same bytes ($(wc -c <"$T/a-$name.nk") body bytes)"
  else
    fail "$name: A and B differ"
    diff "$T/a-$name.h" "$T/b-$name.h" >&2 || true
    diff <(head -c 2000 "$T/a-$name.nk") <(head -c 2000 "$T/b-$name.nk") >&2 || true
  fi
}
# refused NAME STATUS ERROR_CODE PATH [CURL ARGS...]: a watch refused
# before its stream, on A and on B: the same bytes, the JSON error body.
refused() {
  local name=$1 status=$2 code=$3 path=$4
  shift 4
  for m in a b; do
    req "$m" "$name" "$path" "$@"
    wait "$CURL_PID" || true
  done
  alike "$name"
  contains "$name: $status" "HTTP/1.1 $status" "$(head -n 1 "$T/a-$name.h")"
  contains "$name: $code" "{\"error_code\":\"$code\"" "$(cat "$T/a-$name.b")"
}
W=/v1/demo-project/services
D=(-H 'X-Auth-Token: tok-demo')

# ---- refused before the stream -----------------------------------------------
refused e404 404 ModelArts.3502 $W/nope/logs:watch "${D[@]}"
refused e400-id 400 ModelArts.0101 "$W/a%2Fb/logs:watch" "${D[@]}"
refused e400-time 400 ModelArts.0101 "$W/mnist-svc/logs:watch?update_time=x" "${D[@]}"
refused e401-none 401 ModelArts.0201 $W/mnist-svc/logs:watch
refused e401-bad 401 ModelArts.0203 $W/mnist-svc/logs:watch -H 'X-Auth-Token: nope'
refused e403 403 ModelArts.0210 $W/mnist-svc/logs:watch -H 'X-Auth-Token: tok-other'
refused e404-other 404 ModelArts.3502 /v1/bench-p/services/mnist-svc/logs:watch \
  -H 'X-Auth-Token: tok-bench'
refused e400-batch 400 ModelArts.2858 $W/batch-svc/logs:watch "${D[@]}"
refused e405 405 ModelArts.2803 $W/mnist-svc/logs:watch -X POST "${D[@]}"
refused e500-big 500 ModelArts.0010 /v1/bench-p/services/svc-0/logs:watch \
  -H 'X-Auth-Token: tok-bench'
contains "over the limit: names the flag" "larger than --max-response-bytes ($MAXR)" \
  "$(cat "$T/a-e500-big.b")"

# ---- three streams through writes and a rename ----------------------------------
T1=1800000000000
declare -A PID
for m in a b; do
  req "$m" all "$W/mnist-svc/logs:watch" "${D[@]}"
  PID[$m-all]=$CURL_PID
  req "$m" one "$W/mnist-svc/logs:watch?update_time=$T1" "${D[@]}"
  PID[$m-one]=$CURL_PID
  KILLED=1 req "$m" edge "$W/edge-svc/logs:watch" "${D[@]}"
  PID[$m-edge]=$CURL_PID
done
for s in a-all b-all a-one b-one a-edge b-edge; do
  wait_log "$T/$s.b" '^event: snapshot' || fail "$s: no snapshot"
done
# rec SERVICE UPDATE_TIME RESULT [CONFIG]: one log recorded through A's
# gRPC; CONFIG: more fields of its config (a real-time service's).
rec() {
  local more=${4-',"weight":100,"instance_count":1'}
  printf '{"update_time":%s,"result":"%s","config":[{"model_id":"m-1",%s%s}]}' \
    "$2" "$3" '"model_name":"mnist","model_version":"2.0.0"' "$more" |
    "$CLI" record --addr 127.0.0.1:"$GA" --project demo-project --service "$1" \
      --token tok-w - >/dev/null || fail "record $1 $2"
}
rec mnist-svc $T1 RUNNING
rec mnist-svc $((T1 + 1)) SUCCESS
rec edge-svc $T1 RUNNING ""
rec mnist-svc $T1 SUCCESS # replaces the first
for m in a b; do
  wait_log "$T/$m-all.b" '^event: log' 3 || fail "$m-all: 3 log events"
  wait_log "$T/$m-one.b" '^event: log' 2 || fail "$m-one: 2 log events"
  wait_log "$T/$m-edge.b" '^event: log' 1 || fail "$m-edge: 1 log event"
done
"$CLI" put-service --addr 127.0.0.1:"$GA" --project demo-project --service mnist-svc \
  --name mnist-renamed --infer-type real-time --token tok-w >/dev/null ||
  fail "put-service (rename)"
for s in a-all b-all a-one b-one; do
  wait_exit "${PID[$s]}" 10 || fail "$s: the stream did not end at the rename"
done
kill "${PID[a-edge]}" "${PID[b-edge]}" 2>/dev/null || true
wait "${PID[a-edge]}" "${PID[b-edge]}" 2>/dev/null || true
contains "all: the rename ends it with the error event (409 0101)" \
  'event: error
data: {"error_code":"ModelArts.0101","error_msg":"the service was replaced' \
  "$(cat "$T/a-all.b")"
alike all
alike one
alike edge
check "all: snapshot + 3 logs + error" "snapshot log log log error" \
  "$(sed -n 's/^event: //p' "$T/a-all.nk" | tr '\n' ' ' | sed 's/ $//')"
check "one: snapshot + 2 logs + error" "snapshot log log error" \
  "$(sed -n 's/^event: //p' "$T/a-one.nk" | tr '\n' ' ' | sed 's/ $//')"

# ---- what only the hop has ------------------------------------------------------
G='"method":"/modelarts.v1.ServiceLogs/WatchServiceLogs"'
wait_log "$T/a.log" "$G.*\"request_id\":\"all\"" 1 5 &&
  pass "B: the request id forwarded to its watch call" || fail "no watch line for B's call"
check "A: no gRPC call for its own watches" 1 \
  "$(grep -cE "$G.*\"request_id\":\"all\"" "$T/a.log" || true)"
KILLED=1 req b gone "$W/edge-svc/logs:watch" "${D[@]}"
wait_log "$T/b-gone.b" '^event: snapshot' || fail "b-gone: no snapshot"
kill -KILL "$CURL_PID" 2>/dev/null || true
wait "$CURL_PID" 2>/dev/null || true
wait_log "$T/a.log" "$G.*\"status\":1,.*\"request_id\":\"gone\"" 1 5 &&
  pass "B: its watch call ends CANCELLED when its client leaves" ||
  fail "no CANCELLED watch line for B's client that left"

stop_server "$PB" && pass "B SIGTERM exits 0" || fail "B exit status"
stop_server "$PA" && pass "A SIGTERM exits 0" || fail "A exit status"
finish
