#!/usr/bin/env bash
# test_client_live.sh -- the CLI's writers and watch (libslc's slc_put_service,
# slc_record, slc_watch) on real processes: put-service creates then
# renames and never changes the infer type; record appends a new
# update_time and replaces a known one in place (RUNNING, then SUCCESS),
# the live platform's fields included, and query shows it; `watch` prints
# the snapshot as `query` prints it, then one line per recorded log, each
# byte for byte the REST watch's "event: log" data (curl -N on the shim);
# --duration-ms ends a watch with exit 0; errors exit as the query does
# (2 usage, 4 not found, 5 server); with --auth-tokens a read token may
# watch but not record (PERMISSION_DENIED), a write token may.
. "$(dirname "$0")/lib.sh"

DB=$T/live.db
start_server "$T/s.log" --backend "sqlite:$DB" --grpc-listen=127.0.0.1:0 \
  --http-listen=127.0.0.1:0
GP=$GRPC_PORT
URL=http://127.0.0.1:$HTTP_PORT
A=(--addr "127.0.0.1:$GP" --project p-live --service svc-1)
rc_of() { # rc_of CMD...: the exit status, output to $T/rc.out / rc.err
  local rc=0
  "$@" >"$T/rc.out" 2>"$T/rc.err" || rc=$?
  echo "$rc"
}

# ---- put-service --------------------------------------------------------------
check "put-service: a new service" '{"created":true}' \
  "$("$CLI" put-service "${A[@]}" --name "live one" --infer-type real-time)"
check "put-service again: renamed, not created" '{"created":false}' \
  "$("$CLI" put-service "${A[@]}" --name "live svc" --infer-type real-time)"
check "put-service: another infer type is refused (exit 5)" 5 \
  "$(rc_of "$CLI" put-service "${A[@]}" --name x --infer-type edge)"
contains "put-service: FAILED_PRECONDITION on stderr" FAILED_PRECONDITION \
  "$(cat "$T/rc.err")"
check "put-service: a bad --infer-type is a usage error (exit 2)" 2 \
  "$(rc_of "$CLI" put-service "${A[@]}" --name x --infer-type sometimes)"
check "put-service: --name is required (exit 2)" 2 \
  "$(rc_of "$CLI" put-service "${A[@]}" --infer-type edge)"
EMPTY='{"service_id":"svc-1","service_name":"live svc","logs":[]}'
check "query: the new service, no log yet" "$EMPTY" "$("$CLI" query "${A[@]}")"

# ---- watchers: the CLI and the shim's SSE, before anything is recorded -------
"$CLI" watch "${A[@]}" >"$T/watch.out" 2>"$T/watch.err" &
WATCH_PID=$!
PIDS+=("$WATCH_PID")
curl -sN "$URL/v1/p-live/services/svc-1/logs:watch" >"$T/sse.out" &
CURL_PID=$!
PIDS+=("$CURL_PID")
wait_log "$T/watch.out" '^\{"service_id"' || fail "watch printed no snapshot"
wait_log "$T/sse.out" '^event: snapshot' || fail "the shim sent no snapshot"
check "watch: the snapshot is query's document" "$EMPTY" \
  "$(head -n 1 "$T/watch.out")"

# ---- record: append, replace in place ---------------------------------------
# The inputs are written in the output's canonical form (key order, compact
# numbers), so each is also the line the watch must print.
CFG='"config":[{"model_id":"m-1","model_name":"mnist","model_version":"1.0.1","weight":100,"specification":"modelarts.vm.cpu.2u","instance_count":2,"envs":{"A":"1","B":"x\"y"},"custom_spec":{"gpu_p4":0.5,"memory":2048,"cpu":1.5,"ascend_a310":1},"cluster_id":"cfg-c"}]'
RUN1='{"update_time":1000,"result":"RUNNING",'$CFG',"cluster_id":"cl-1","extend_config":["k=v","\u00e9"]}'
RUN2='{"update_time":2000,"result":"RUNNING","config":[]}'
OK1='{"update_time":1000,"result":"SUCCESS",'$CFG',"cluster_id":"cl-1","extend_config":["k=v","\u00e9"]}'
# jansson's canonical output spells \u00e9 as the UTF-8 bytes.
canon() { $PY -c 'import json,sys; print(json.dumps(json.loads(sys.argv[1]), separators=(",",":"), ensure_ascii=False))' "$1"; }

check "record RUNNING at 1000 (stdin): created" '{"created":true}' \
  "$(printf '%s' "$RUN1" | "$CLI" record "${A[@]}")"
printf '%s\n' "$RUN2" >"$T/run2.json"
check "record RUNNING at 2000 (FILE): created" '{"created":true}' \
  "$("$CLI" record "${A[@]}" "$T/run2.json")"
printf '%s' "$OK1" >"$T/ok1.json"
check "record SUCCESS at 1000 (-): replaced, not created" '{"created":false}' \
  "$("$CLI" record "${A[@]}" - <"$T/ok1.json")"

WANT_DOC='{"service_id":"svc-1","service_name":"live svc","logs":['"$(canon "$OK1")"','"$(canon "$RUN2")"']}'
check "query: 1000 replaced in place by SUCCESS, 2000 after it" \
  "$WANT_DOC" "$("$CLI" query "${A[@]}")"
check "query: the shim's body is the CLI's" "$WANT_DOC" \
  "$(curl -s "$URL/v1/p-live/services/svc-1/logs")"

# ---- the watch saw them: one line each, the shim's event data ---------------
wait_log "$T/watch.out" '^\{"update_time"' 3 || fail "watch: fewer than 3 logs"
wait_log "$T/sse.out" '^event: log' 3 || fail "sse: fewer than 3 logs"
SENT=("$RUN1" "$RUN2" "$OK1")
for i in 1 2 3; do
  want=$(canon "${SENT[$((i - 1))]}")
  check "watch: line $((i + 1)) is log $i" "$want" "$(sed -n "$((i + 1))p" "$T/watch.out")"
  check "watch: line $((i + 1)) is the shim's event $i" \
    "$(awk '/^event: log/ { getline; sub(/^data: /, ""); print }' "$T/sse.out" | sed -n "${i}p")" \
    "$(sed -n "$((i + 1))p" "$T/watch.out")"
done
kill -TERM "$WATCH_PID" "$CURL_PID" 2>/dev/null || true
check "watch: nothing on stderr while it ran" "" "$(cat "$T/watch.err")"

# ---- a watch with --duration-ms ends by itself, exit 0 ------------------------
check "watch --duration-ms: exit 0" 0 \
  "$(rc_of "$CLI" watch "${A[@]}" --duration-ms 1500)"
check "watch --duration-ms: the snapshot, nothing else" "$WANT_DOC" \
  "$(cat "$T/rc.out")"
check "watch --update-time: the filtered snapshot" \
  '{"service_id":"svc-1","service_name":"live svc","logs":['"$(canon "$RUN2")"']}' \
  "$("$CLI" watch "${A[@]}" --update-time 2000 --duration-ms 1500)"

# ---- errors -------------------------------------------------------------------
N=(--addr "127.0.0.1:$GP" --project p-live --service nope)
check "watch: unknown service (exit 4)" 4 "$(rc_of "$CLI" watch "${N[@]}")"
check "record: unknown service (exit 4)" 4 \
  "$(rc_of "$CLI" record "${N[@]}" "$T/run2.json")"
check "record: not JSON (exit 2)" 2 \
  "$(printf '{"update_time":' | rc_of "$CLI" record "${A[@]}")"
contains "record: not JSON, said so" "not JSON" "$(cat "$T/rc.err")"
check "record: an unknown member (exit 2)" 2 \
  "$(printf '{"update_time":5,"result":"FAIL","colour":1}' | rc_of "$CLI" record "${A[@]}")"
contains "record: the member is named" 'log: unknown member "colour"' \
  "$(cat "$T/rc.err")"
check "record: update_time 0 (exit 2)" 2 \
  "$(printf '{"update_time":0,"result":"FAIL"}' | rc_of "$CLI" record "${A[@]}")"
check "record: a missing file (exit 1)" 1 \
  "$(rc_of "$CLI" record "${A[@]}" "$T/no-such-file")"
check "record: the server's validation (weight 101, exit 5)" 5 \
  "$(printf '{"update_time":9,"result":"FAIL","config":[{"weight":101}]}' | rc_of "$CLI" record "${A[@]}")"
contains "record: INVALID_ARGUMENT on stderr" INVALID_ARGUMENT "$(cat "$T/rc.err")"
check "put-service: a batch service" '{"created":true}' \
  "$("$CLI" put-service --addr "127.0.0.1:$GP" --project p-live --service b-1 --name b --infer-type batch)"
check "record: a batch service (exit 5)" 5 \
  "$(rc_of "$CLI" record --addr "127.0.0.1:$GP" --project p-live --service b-1 "$T/run2.json")"
contains "record: batch: ModelArts.2858" ModelArts.2858 "$(cat "$T/rc.err")"
check "watch: --name is not a watch option (exit 2)" 2 \
  "$(rc_of "$CLI" watch "${A[@]}" --name x)"
stop_server "$SERVER_PID" || fail "server exit status $?"

# ---- tokens: read may watch, only write may record ----------------------------
cat >"$T/tokens" <<TOKENS
reader-token-0123456789 p-live read
writer-token-0123456789 p-live write
TOKENS
start_server "$T/s2.log" --backend "sqlite:$DB" --grpc-listen=127.0.0.1:0 \
  --http-listen= --auth-tokens "$T/tokens"
A=(--addr "127.0.0.1:$GRPC_PORT" --project p-live --service svc-1)
# (the refusal comes at once: the long duration only bounds a hang)
check "no token: watch refused (exit 5)" 5 \
  "$(rc_of "$CLI" watch "${A[@]}" --duration-ms 30000)"
check "read token (SERVICELOGS_TOKEN): watch" 0 \
  "$(SERVICELOGS_TOKEN=reader-token-0123456789 rc_of "$CLI" watch "${A[@]}" --duration-ms 1500)"
check "read token: record refused (exit 5)" 5 \
  "$(SERVICELOGS_TOKEN=reader-token-0123456789 rc_of "$CLI" record "${A[@]}" "$T/run2.json")"
contains "read token: PERMISSION_DENIED" PERMISSION_DENIED "$(cat "$T/rc.err")"
check "write token (--token): record replaces" '{"created":false}' \
  "$("$CLI" record "${A[@]}" --token writer-token-0123456789 "$T/run2.json")"
check "write token: put-service" '{"created":false}' \
  "$("$CLI" put-service "${A[@]}" --token writer-token-0123456789 --name "live svc" --infer-type real-time)"
stop_server "$SERVER_PID" || fail "server exit status $?"
finish
