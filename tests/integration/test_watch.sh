#!/usr/bin/env bash
# test_watch.sh -- WatchServiceLogs end to end, across two servers on one
# backend: a watcher on server A over gRPC (Python grpcio, schema by
# reflection only) and one over REST (curl -N, Server-Sent Events); a log
# recorded through server B reaches both within 1 s, then its replacement
# (RUNNING -> SUCCESS), in order, and Query on A returns what the watchers
# hold. Then the edges: the update_time filter, project scoping (another
# project's service is NOT_FOUND), --max-watchers, an import replacing the
# watched service (ABORTED), a reader that does not read (RESOURCE_EXHAUSTED
# once --watch-queue logs are queued), and SIGTERM ending every stream with
# UNAVAILABLE while the server exits 0.
#
# Runs on SQLite (one file, two processes), then on PostgreSQL when
# SL_TEST_PG_URI is set (scripts/test.sh sets it).
. "$(dirname "$0")/lib.sh"

LIVE="$PY $I/live_client.py"
P=demo-project
S=mnist-svc

# last_field FILE KEY: KEY of the last JSON line of FILE that has it.
last_field() {
  $PY - "$1" "$2" <<'PY'
import json, sys
v = ""
for line in open(sys.argv[1]):
    try:
        d = json.loads(line)
    except ValueError:
        continue
    if sys.argv[2] in d:
        v = d[sys.argv[2]]
print(v if isinstance(v, str) else json.dumps(v, sort_keys=True))
PY
}

# logs_seen FILE: "update_time:result" of each log message, in order.
logs_seen() {
  $PY - "$1" <<'PY'
import json, sys
out = []
for line in open(sys.argv[1]):
    d = json.loads(line)
    if "log" in d:
        out.append("%s:%s" % (d["log"]["update_time"], d["log"].get("result")))
print(" ".join(out))
PY
}

# sse_logs FILE: the same from an SSE transcript (event: log data lines).
sse_logs() {
  $PY - "$1" <<'PY'
import json, sys
ev, out = None, []
for line in open(sys.argv[1]):
    line = line.rstrip("\r\n")
    if line.startswith("event: "):
        ev = line[7:]
    elif line.startswith("data: ") and ev == "log":
        d = json.loads(line[6:])
        out.append("%s:%s" % (d["update_time"], d["result"]))
print(" ".join(out))
PY
}

# Arrival of the log with update_time UT in FILE minus WHEN (seconds).
delay_ms() {
  $PY - "$1" "$2" "$3" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    if "log" in d and d["log"]["update_time"] == sys.argv[2]:
        print(int((d["t"] - float(sys.argv[3])) * 1000))
        break
PY
}
mono() { $PY -c 'import time; print(time.monotonic())'; }
# log_json UT RESULT: a documented log object of the real-time demo service.
log_json() {
  printf '{"update_time": %s, "result": "%s", "config": [{"model_id": "m3", "model_name": "mnist", "model_version": "2.0.0", "weight": 100, "specification": "modelarts.vm.cpu.2u", "instance_count": 1}]}' "$1" "$2"
}
# rec ADDR UT RESULT: records it with the project's CLI; prints its answer.
rec() { log_json "$2" "$3" | "$CLI" record --addr "$1" --project $P --service $S -; }

# run_backend NAME URI: the whole scenario on one backend.
run_backend() {
  local name=$1 uri=$2
  "$SERVER" import --backend "$uri" "$SL_SRC/demo/demo.json" 2>/dev/null ||
    fail "$name: import the demo"
  start_server "$T/a.log" --backend "$uri" --grpc-listen=127.0.0.1:0 \
    --http-listen=127.0.0.1:0 --max-watchers=6 --watch-queue=8 \
    --shutdown-grace=5s
  local A=$SERVER_PID AG=$GRPC_PORT AH=$HTTP_PORT
  start_server "$T/b.log" --backend "$uri" --grpc-listen=127.0.0.1:0 --http-listen=
  local B=$SERVER_PID BG=$GRPC_PORT

  $LIVE watch 127.0.0.1:$AG $P $S >"$T/w1" 2>"$T/w1.err" &
  local W1=$!
  curl -sN "http://127.0.0.1:$AH/v1/$P/services/$S/logs:watch" >"$T/sse" &
  local SSE=$!
  wait_log "$T/w1" '"snapshot"' || fail "$name: gRPC snapshot"
  wait_log "$T/sse" '^event: snapshot' || fail "$name: SSE snapshot"
  # The snapshot is exactly Query's answer (REST: byte for byte).
  curl -s "http://127.0.0.1:$AH/v1/$P/services/$S/logs" >"$T/query.json"
  check "$name: SSE snapshot = GET .../logs" "$(head -c -1 "$T/query.json")" \
    "$(sed -n 's/^data: //p' "$T/sse" | head -1)"

  # A new log through B, then its replacement.
  local UT=1800000000000
  local t0
  t0=$(mono)
  check "$name: record RUNNING through B (CLI)" '{"created":true}' \
    "$(rec 127.0.0.1:$BG $UT RUNNING)"
  wait_log "$T/w1" "\"update_time\": \"$UT\"" 1 5 ||
    fail "$name: gRPC watcher got the new log"
  wait_log "$T/sse" "\"update_time\":$UT" 1 5 ||
    fail "$name: SSE watcher got the new log"
  local d
  d=$(delay_ms "$T/w1" $UT "$t0")
  [ -n "$d" ] && [ "$d" -lt 1000 ] && pass "$name: within 1 s of the write ($d ms incl. the client's start-up)" ||
    fail "$name: the log took [$d] ms"
  check "$name: record SUCCESS for the same time (CLI)" '{"created":false}' \
    "$(rec 127.0.0.1:$BG $UT SUCCESS)"
  wait_log "$T/w1" "\"update_time\": \"$UT\"" 2 5 ||
    fail "$name: gRPC watcher got the replacement"
  wait_log "$T/sse" "\"update_time\":$UT" 2 5 ||
    fail "$name: SSE watcher got the replacement"
  check "$name: gRPC watcher: both, in order" "$UT:RUNNING $UT:SUCCESS" \
    "$(logs_seen "$T/w1")"
  check "$name: SSE watcher: both, in order" "$UT:RUNNING $UT:SUCCESS" \
    "$(sse_logs "$T/sse")"
  # Query on A now holds what the watchers hold: the snapshot with each
  # watched change applied (a new time appended, a known one replaced).
  "$CLI" query --addr 127.0.0.1:$AG --project $P --service $S >"$T/q.json" ||
    fail "$name: query A"
  check "$name: Query on A = snapshot + watched changes" same \
    "$($PY - "$T/w1" "$T/q.json" <<'PY'
import json, sys
snap, logs = None, []
for line in open(sys.argv[1]):
    d = json.loads(line)
    if "snapshot" in d:
        snap = d["snapshot"]
    elif "log" in d:
        logs.append(d["log"])
have = {l["update_time"]: l for l in snap.get("logs", [])}
for l in logs:
    have[l["update_time"]] = l
mine = ["%s:%s" % (l["update_time"], l["result"])
        for l in sorted(have.values(), key=lambda l: int(l["update_time"]))]
q = json.load(open(sys.argv[2]))
theirs = ["%d:%s" % (l["update_time"], l["result"]) for l in q["logs"]]
print("same" if mine == theirs else "watched %s, query %s" % (mine, theirs))
PY
)"

  # The update_time filter: only that time's logs come through.
  $LIVE watch 127.0.0.1:$AG $P $S $((UT + 1)) >"$T/w2" 2>/dev/null &
  local W2=$!
  wait_log "$T/w2" '"snapshot"' || fail "$name: filtered snapshot"
  check "$name: record through B by grpcio" '{"created": true}' \
    "$($LIVE record 127.0.0.1:$BG $P $S "$(log_json '"'$((UT + 2))'"' FAIL)")"
  rec 127.0.0.1:$BG $((UT + 1)) SUCCESS >/dev/null
  wait_log "$T/w2" '"log"' 1 5 || fail "$name: filtered watcher got its log"
  wait_log "$T/w1" '"log"' 4 5 || fail "$name: unfiltered watcher got both"
  check "$name: filtered watcher: its time only" "$((UT + 1)):SUCCESS" \
    "$(logs_seen "$T/w2")"

  # Scoping as Query: another project's service, a malformed id.
  $LIVE watch 127.0.0.1:$AG other-project $S >"$T/w3" 2>/dev/null
  check "$name: another project's service" NOT_FOUND "$(last_field "$T/w3" status)"
  $LIVE watch 127.0.0.1:$AG $P 'bad id' >"$T/w3" 2>/dev/null
  check "$name: malformed service id" INVALID_ARGUMENT "$(last_field "$T/w3" status)"
  $LIVE watch 127.0.0.1:$AG $P batch-svc >"$T/w3" 2>/dev/null
  check "$name: batch service" FAILED_PRECONDITION "$(last_field "$T/w3" status)"

  # --max-watchers=6: three open (w1, w2, SSE) + three more, the 7th refused.
  local extra=()
  for i in 1 2 3; do
    $LIVE watch 127.0.0.1:$AG $P edge-svc >"$T/x$i" 2>/dev/null &
    extra+=($!)
  done
  for i in 1 2 3; do wait_log "$T/x$i" '"snapshot"' || fail "$name: watcher x$i"; done
  $LIVE watch 127.0.0.1:$AG $P edge-svc >"$T/w4" 2>/dev/null
  check "$name: past --max-watchers" RESOURCE_EXHAUSTED "$(last_field "$T/w4" status)"
  # An import replacing edge-svc ends its watchers: watch again.
  "$SERVER" import --backend "$uri" "$SL_SRC/demo/demo.json" 2>/dev/null ||
    fail "$name: re-import"
  for i in 1 2 3; do
    wait_log "$T/x$i" '"status"' 1 5 || true
    check "$name: import ends watcher x$i" ABORTED "$(last_field "$T/x$i" status)"
  done
  wait_log "$T/w1" '"status"' 1 5 || true
  check "$name: import ends the mnist watcher too" ABORTED "$(last_field "$T/w1" status)"

  # A reader that never reads (HTTP/2 window 0): ended once 8 logs queue.
  $PY "$I/live_stall.py" 127.0.0.1:$AG $P $S 20 >"$T/stall" 2>&1 &
  local ST=$!
  wait_log "$T/stall" '^open' || fail "$name: stalled reader open"
  for k in $(seq 1 12); do
    rec 127.0.0.1:$BG $((UT + 100 + k)) SUCCESS >/dev/null
  done
  wait_log "$T/stall" '^end' 1 10 || fail "$name: the stalled stream was ended"
  contains "$name: stalled reader told RESOURCE_EXHAUSTED" "status 8" "$(cat "$T/stall")"
  wait_exit $ST 10 || true

  # SIGTERM: every stream ends with UNAVAILABLE, the server exits 0.
  $LIVE watch 127.0.0.1:$AG $P $S >"$T/w5" 2>/dev/null &
  local W5=$!
  curl -sN "http://127.0.0.1:$AH/v1/$P/services/$S/logs:watch" >"$T/sse2" &
  local SSE2=$!
  wait_log "$T/w5" '"snapshot"' || fail "$name: last watcher"
  wait_log "$T/sse2" '^event: snapshot' || fail "$name: last SSE watcher"
  stop_server $A && pass "$name: SIGTERM with watchers exits 0" ||
    fail "$name: server A's exit status"
  wait_exit $W5 10 || true
  check "$name: watcher told UNAVAILABLE at shutdown" UNAVAILABLE \
    "$(last_field "$T/w5" status)"
  wait_exit $SSE2 10 || true
  stop_server $B || fail "$name: server B's exit status"
  for p in $W1 $W2 $SSE "${extra[@]}"; do kill $p 2>/dev/null || true; done
}

run_backend sqlite "sqlite:$T/w.db"

# Authorization as Query's, over gRPC: every row that applies to a reader.
"$SERVER" import --backend "sqlite:$T/auth.db" "$SL_SRC/demo/demo.json" 2>/dev/null
cat >"$T/tokens" <<'TOKENS'
reader-1  demo-project
writer-2  demo-project   write
other-3   other-project  read
TOKENS
start_server "$T/auth.log" --backend "sqlite:$T/auth.db" \
  --grpc-listen=127.0.0.1:0 --http-listen= --auth-tokens "$T/tokens"
AUTH=$SERVER_PID
watch_as() { # TOKEN -> the stream's end status, or SNAPSHOT once it has one
  SL_TOKEN=$1 $LIVE watch 127.0.0.1:$GRPC_PORT $P $S >"$T/wa" 2>/dev/null &
  local pid=$!
  wait_log "$T/wa" '"(snapshot|status)"' 1 10 || true
  kill $pid 2>/dev/null || true
  wait $pid 2>/dev/null || true
  if log_has "$T/wa" '"snapshot"'; then echo SNAPSHOT; else last_field "$T/wa" status; fi
}
check "auth: no token" UNAUTHENTICATED "$(watch_as '')"
check "auth: unknown token" UNAUTHENTICATED "$(watch_as nobody-9)"
check "auth: another project's token" PERMISSION_DENIED "$(watch_as other-3)"
check "auth: a reader's token" SNAPSHOT "$(watch_as reader-1)"
check "auth: a writer's token (write includes read)" SNAPSHOT "$(watch_as writer-2)"
SL_TOKEN=reader-1 $LIVE watch 127.0.0.1:$GRPC_PORT other-project $S >"$T/wa" 2>/dev/null
check "auth: a service of a project the token does not cover" PERMISSION_DENIED \
  "$(last_field "$T/wa" status)"
stop_server $AUTH || fail "auth server's exit status"

# Keepalive: an idle watch's connection gets HTTP/2 PINGs every --keepalive
# (here 1 s; the default 30 s), so a dead client is found and its watcher
# freed, and the stream survives idle-timeouts in between.
start_server "$T/ka.log" --backend "sqlite:$T/auth.db" \
  --grpc-listen=127.0.0.1:0 --http-listen= --keepalive=1s
KA=$SERVER_PID
n=$($PY "$I/live_stall.py" 127.0.0.1:$GRPC_PORT $P $S 4.5 pings | sed -n 's/^pings //p')
[ "${n:-0}" -ge 3 ] && pass "keepalive: $n PINGs on an idle watch in 4.5 s" ||
  fail "keepalive: [$n] PINGs in 4.5 s (want >= 3)"
stop_server $KA || fail "keepalive server's exit status"

if [ -n "${SL_TEST_PG_URI:-}" ]; then
  SCHEMA=sl_watch_$$
  psql -X -q "$SL_TEST_PG_URI" -c "CREATE SCHEMA $SCHEMA" >/dev/null
  drop_schema() {
    PGOPTIONS="-c client_min_messages=warning" psql -X -q "$SL_TEST_PG_URI" \
      -c "DROP SCHEMA $SCHEMA CASCADE" >/dev/null
  }
  AT_EXIT+=(drop_schema)
  case "$SL_TEST_PG_URI" in
  *\?*) PGU="$SL_TEST_PG_URI&options=-csearch_path%3D$SCHEMA" ;;
  *) PGU="$SL_TEST_PG_URI?options=-csearch_path%3D$SCHEMA" ;;
  esac
  run_backend postgres "$PGU"
else
  echo "PostgreSQL part skipped: SL_TEST_PG_URI unset"
fi
finish
