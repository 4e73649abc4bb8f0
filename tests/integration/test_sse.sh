#!/usr/bin/env bash
# test_sse.sh -- the REST watch, GET .../logs:watch as Server-Sent Events
# (http_sse.h, http_watch.h), on real processes: the snapshot event's data
# is GET .../logs's body byte for byte (curl -N and a Python reader);
# errors before the stream are the JSON body (404 3502, 400 0101, 405,
# 401/403 with auth, 429 past --http-max-watchers); keepalive comments at
# --http-sse-keepalive; a recorded log arrives as "event: log" whose data
# is that log in GET's body; a client that leaves is noticed at once (its
# places, the shim's and the feed's, are free again); SIGTERM ends every
# stream with the "error" event and a clean last chunk, and the server
# exits 0. The shim runs in the server's process (watches in-process);
# test_sse_modes.sh holds the hop (--upstream) to the same bytes.
. "$(dirname "$0")/lib.sh"

DB=$T/w.db
"$SERVER" import --backend "sqlite:$DB" "$SL_SRC/demo/demo.json" >/dev/null 2>&1
LOGS=/v1/demo-project/services/mnist-svc/logs
start_server "$T/s.log" --backend "sqlite:$DB" --grpc-listen=127.0.0.1:0 \
  --http-listen=127.0.0.1:0 --http-sse-keepalive=300ms --http-max-watchers=3 \
  --max-watchers=3
URL=http://127.0.0.1:$HTTP_PORT

# reader NAME PATH [HEADER...]: a Python SSE reader in the background,
# writing $T/NAME.out; sets READER_PID.
reader() {
  local name=$1 path=$2
  shift 2
  : >"$T/$name.out"
  $PY "$I/sse_client.py" "$HTTP_PORT" "$path" "$T/$name.out" "$@" &
  READER_PID=$!
  PIDS+=("$READER_PID")
}
# data_of FILE EVENT [N]: the data of FILE's Nth (1) EVENT event.
data_of() {
  awk -v e="$2" -v n="${3:-1}" '$1 == "event" && $2 == e && ++k == n {
    sub(/^event [^ ]+ [0-9]+ /, ""); print; exit }' "$1"
}

# ---- the snapshot is GET's body, byte for byte ------------------------------
curl -s "$URL$LOGS" >"$T/get.json"
head -c -1 "$T/get.json" >"$T/get.nonl" # without its trailing newline
# curl -N: the stream as it comes, cut after 1.2 s (keepalives meanwhile).
curl -sN -D "$T/curl.h" --max-time 1.2 "$URL$LOGS:watch" >"$T/curl.out" || true
{ printf 'event: snapshot\ndata: '; cat "$T/get.nonl"; printf '\n\n'; } >"$T/want"
check "curl: the stream starts with the snapshot, GET's body byte for byte" \
  "$(md5sum <"$T/want")" "$(head -c "$(stat -c %s "$T/want")" "$T/curl.out" | md5sum)"
contains "curl: a keepalive comment within 1.2 s" ": keepalive" "$(cat "$T/curl.out")"
H=$(tr -d '\r' <"$T/curl.h")
contains "curl: 200" "HTTP/1.1 200" "$H"
contains "curl: event-stream" "Content-Type: text/event-stream" "$H"
contains "curl: no-cache" "Cache-Control: no-cache" "$H"
contains "curl: X-Accel-Buffering" "X-Accel-Buffering: no" "$H"
contains "curl: chunked" "Transfer-Encoding: chunked" "$H"

reader a "$LOGS:watch"
A_PID=$READER_PID
wait_log "$T/a.out" '^event snapshot '
check "python: snapshot data is GET's body" "$(cat "$T/get.nonl")" \
  "$(data_of "$T/a.out" snapshot)"
wait_log "$T/a.out" '^comment [0-9]+ keepalive' 3
GAPS=$(awk '$1 == "comment" { if (p) print $2 - p; p = $2 }' "$T/a.out" | head -2)
for g in $GAPS; do
  [ "$g" -ge 200 ] && [ "$g" -le 1000 ] && pass "keepalive gap $g ms (300 ms)" ||
    fail "keepalive gap $g ms, want about 300"
done

# ---- a recorded log is an "event: log" --------------------------------------
if $PY "$I/sse_record.py" "$GRPC_PORT" demo-project mnist-svc 1800000000000 3 \
  >"$T/rec.out" 2>&1; then
  wait_log "$T/a.out" '^event log '
  curl -s "$URL$LOGS" >"$T/get2.json"
  LOG=$(data_of "$T/a.out" log)
  contains "the log event's data is the new log of GET's body" ",$LOG]}" \
    "$(cat "$T/get2.json")"
  contains "the log event's data is that log" '"update_time":1800000000000,"result":"RUNNING"' "$LOG"
  # The same time again: a replaced log is an event too (RUNNING -> SUCCESS).
  $PY "$I/sse_record.py" "$GRPC_PORT" demo-project mnist-svc 1800000000000 1 >/dev/null
  wait_log "$T/a.out" '^event log ' 2
  contains "a replaced log is an event" '"update_time":1800000000000,"result":"SUCCESS"' \
    "$(data_of "$T/a.out" log 2)"
else
  fail "RecordServiceUpdate: $(cat "$T/rec.out")"
fi

# ---- errors before the stream: the JSON body ---------------------------------
# json_err PATH [CURL ARGS...]: "STATUS BODY" of a non-stream answer.
json_err() {
  local p=$1
  shift
  curl -s -o "$T/e.body" -w '%{http_code} %{content_type}' "$@" "$URL$p"
  printf ' %s' "$(cat "$T/e.body")"
}
contains "404 3502 for an unknown service" \
  '404 application/json; charset=utf-8 {"error_code":"ModelArts.3502"' \
  "$(json_err /v1/demo-project/services/nope/logs:watch)"
contains "400 0101 for a bad id" '400 application/json; charset=utf-8 {"error_code":"ModelArts.0101"' \
  "$(json_err '/v1/demo-project/services/a%2Fb/logs:watch')"
contains "400 0101 for a bad update_time" '400 application/json; charset=utf-8 {"error_code":"ModelArts.0101"' \
  "$(json_err "$LOGS:watch?update_time=x")"
contains "405 2803 for POST" '405 application/json; charset=utf-8 {"error_code":"ModelArts.2803"' \
  "$(json_err "$LOGS:watch" -X POST)"
contains "404 0104 for logs:Watch" '404 application/json; charset=utf-8 {"error_code":"ModelArts.0104"' \
  "$(json_err /v1/demo-project/services/mnist-svc/logs:Watch)"
contains "400 2858 for a batch service" '400 application/json; charset=utf-8 {"error_code":"ModelArts.2858"' \
  "$(json_err /v1/demo-project/services/batch-svc/logs:watch)"

# ---- --http-max-watchers=3: a fourth gets 429 -------------------------------
reader b "$LOGS:watch"
B_PID=$READER_PID
reader c "$LOGS:watch?update_time=1"
wait_log "$T/b.out" '^event snapshot '
wait_log "$T/c.out" '^event snapshot '
contains "429 2799 past --http-max-watchers" \
  '429 application/json; charset=utf-8 {"error_code":"ModelArts.2799"' \
  "$(json_err "$LOGS:watch")"
check "?update_time=1: an empty snapshot" \
  '{"service_id":"mnist-svc","service_name":"mnist","logs":[]}' "$(data_of "$T/c.out" snapshot)"

# ---- a client that leaves is noticed at once ---------------------------------
RID=$(awk '$1 == "header" && tolower($2) == "x-request-id:" { print $3 }' "$T/b.out")
kill -KILL "$B_PID"
wait "$B_PID" 2>/dev/null || true # (bash's "Killed" notice)
wait_log "$T/s.log" "\"kind\":\"http\".*logs:watch.*\"request_id\":\"$RID\"" 1 5 &&
  pass "the shim's access line of the watch that left" ||
  fail "no shim access line for request $RID"
# Its places are free again (--http-max-watchers and the feed's
# --max-watchers, both 3): a new watch is served.
reader d "$LOGS:watch"
wait_log "$T/d.out" '^event snapshot ' 1 10 && pass "a place freed by a client that left" ||
  fail "the fourth watch: $(cat "$T/d.out")"
if log_has "$T/s.log" '"level":"warn"|warn shim'; then
  fail "warnings in the log: $(grep -E 'warn' "$T/s.log" | head -3)"
fi

# ---- SIGTERM: every stream ends with the error event, cleanly ---------------
rc=0
stop_server "$SERVER_PID" || rc=$?
check "SIGTERM with watches open: exit status 0" 0 "$rc"
for r in a c d; do
  wait_log "$T/$r.out" '^(end|error)' 1 5 || true
  contains "$r: the error event at SIGTERM" \
    'event error' "$(grep '^event error' "$T/$r.out")"
  contains "$r: 503 4302" '{"error_code":"ModelArts.4302","error_msg":"the server is shutting down; watch again"}' \
    "$(data_of "$T/$r.out" error)"
  check "$r: then a clean end of the response" end "$(tail -n 1 "$T/$r.out")"
done

# ---- auth: 401 / 403 before the stream; with the token, a stream -------------
printf 'tok-a demo-project\ntok-b other-project\n' >"$T/tokens"
start_server "$T/s2.log" --backend "sqlite:$DB" --grpc-listen=127.0.0.1:0 \
  --http-listen=127.0.0.1:0 --auth-tokens "$T/tokens"
URL=http://127.0.0.1:$HTTP_PORT
contains "401 0201 without a token" '401 application/json; charset=utf-8 {"error_code":"ModelArts.0201"' \
  "$(json_err "$LOGS:watch")"
contains "401 0203 for an unknown token" '401 application/json; charset=utf-8 {"error_code":"ModelArts.0203"' \
  "$(json_err "$LOGS:watch" -H 'X-Auth-Token: nope')"
contains "403 0210 for another project's token" '403 application/json; charset=utf-8 {"error_code":"ModelArts.0210"' \
  "$(json_err "$LOGS:watch" -H 'X-Auth-Token: tok-b')"
reader t "$LOGS:watch" "X-Auth-Token: tok-a" "X-Request-Id: sse-trace-1"
wait_log "$T/t.out" '^event snapshot '
contains "with the token: the stream" "status 200" "$(cat "$T/t.out")"
contains "the request id answered" "x-request-id: sse-trace-1" "$(tr 'A-Z' 'a-z' <"$T/t.out")"
rc=0
stop_server "$SERVER_PID" || rc=$?
check "SIGTERM: exit status 0" 0 "$rc"
finish
