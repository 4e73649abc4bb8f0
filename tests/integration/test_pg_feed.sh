#!/usr/bin/env bash
# test_pg_feed.sh -- the PostgreSQL change feed across outages, on real
# processes: a watcher on server A (gRPC, Python grpcio) keeps its stream
# while PostgreSQL is stopped and started again, and gets, in order, the
# log recorded through server B before the stop, the one recorded as soon
# as PostgreSQL is back (committed while A's feed is still reconnecting:
# found by reading from its seq, not by a NOTIFY), and one recorded once
# A listens again (within 1 s: the NOTIFY). Then the session that LISTENs
# is killed (pg_terminate_backend) and the next log still arrives. A write
# while PostgreSQL is down fails UNAVAILABLE and writes nothing.
#
# Needs SL_TEST_PG_URI only to know that PostgreSQL is wanted (and a build
# with the backend; skipped otherwise, exit 77): like
# test_postgres.sh's health part it runs on a throw-away cluster of its
# own (scripts/pg-test-server.sh), which it stops and starts.
. "$(dirname "$0")/lib.sh"

need_pg
PGCTL=$SL_SRC/scripts/pg-test-server.sh
PGD=/tmp/sl-it-pgfeed.$$ # its owner (postgres, as root) must reach it
LIVE="$PY $I/live_client.py"
P=demo-project
S=mnist-svc

pg_feed_cleanup() { "$PGCTL" stop "$PGD" >/dev/null 2>&1 || true; }
AT_EXIT+=(pg_feed_cleanup)

sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$URI" -c "$1"; }
mono() { $PY -c 'import time; print(time.monotonic())'; }
log_json() {
  printf '{"update_time": %s, "result": "%s", "config": [{"model_id": "m3", "model_name": "mnist", "model_version": "2.0.0", "weight": 100, "specification": "modelarts.vm.cpu.2u", "instance_count": 1}]}' "$1" "$2"
}
# rec UT RESULT: records it through B with the CLI; prints its answer.
rec() { log_json "$1" "$2" | "$CLI" record --addr "127.0.0.1:$BG" --project $P --service $S -; }
# logs_seen: "update_time:result" of each log the watcher got, in order.
logs_seen() {
  $PY - "$T/w" <<'PY'
import json, sys
out = []
for line in open(sys.argv[1]):
    d = json.loads(line)
    if "log" in d:
        out.append("%s:%s" % (d["log"]["update_time"], d["log"].get("result")))
print(" ".join(out))
PY
}
# delay_ms UT WHEN: the arrival of log UT minus WHEN (monotonic seconds).
delay_ms() {
  $PY - "$T/w" "$1" "$2" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    if "log" in d and d["log"]["update_time"] == sys.argv[2]:
        print(int((d["t"] - float(sys.argv[3])) * 1000))
        break
PY
}
# listening: how many of A's sessions wait in LISTEN (its feed thread: one).
A_SESSIONS="application_name = 'sl_it_feed_a' AND query LIKE 'LISTEN %'"
listening() { sql "SELECT count(*) FROM pg_stat_activity WHERE $A_SESSIONS"; }

URI=$("$PGCTL" start "$PGD")
"$SERVER" import --backend "$URI" "$SL_SRC/demo/demo.json" >/dev/null 2>&1 ||
  fail "import the demo"
start_server "$T/a.log" --backend "$URI?application_name=sl_it_feed_a" \
  --grpc-listen=127.0.0.1:0 --http-listen=127.0.0.1:0 --threads=2
A=$SERVER_PID
AG=$GRPC_PORT
start_server "$T/b.log" --backend "$URI" --grpc-listen=127.0.0.1:0 \
  --http-listen=127.0.0.1:0 --threads=2
B=$SERVER_PID
BG=$GRPC_PORT

$LIVE watch "127.0.0.1:$AG" $P $S >"$T/w" 2>"$T/w.err" &
W=$!
PIDS+=("$W")
wait_log "$T/w" '"snapshot"' || fail "the watcher's snapshot"
check "A's feed LISTENs" 1 "$(wait_eq 30 1 listening)"

UT=1800000000000
check "record before the stop" '{"created":true}' "$(rec $UT RUNNING)"
wait_log "$T/w" "\"update_time\": \"$UT\"" 1 10 || fail "the first log"

# ---- PostgreSQL stopped --------------------------------------------------
"$PGCTL" halt "$PGD"
rc=0
rec $((UT + 1)) FAIL >/dev/null 2>"$T/rec.err" || rc=$?
check "record while PostgreSQL is down: UNAVAILABLE exit status" 3 "$rc"
wait_log "$T/a.log" 'change feed: .*retrying' 1 10 ||
  fail "A's feed did not notice the outage"
gone "$W" && fail "the watcher's stream ended during the outage" ||
  pass "the watcher's stream stays open during the outage"

# ---- PostgreSQL back -----------------------------------------------------
"$PGCTL" start "$PGD" >/dev/null
# At once: A's feed is most likely still backing off, not LISTENing.
rec_back() { rec $((UT + 2)) SUCCESS >"$T/back" 2>/dev/null; }
wait_for 30 rec_back || fail "record once PostgreSQL is back"
check "record once PostgreSQL is back" '{"created":true}' "$(cat "$T/back")"
wait_log "$T/w" "\"update_time\": \"$((UT + 2))\"" 1 15 ||
  fail "the log committed while A reconnected"
wait_log "$T/a.log" 'change feed: reading again' 1 10 ||
  fail "A's feed did not say it reads again"
check "A LISTENs again" 1 "$(wait_eq 30 1 listening)"
t0=$(mono)
check "record with A listening" '{"created":true}' "$(rec $((UT + 3)) RUNNING)"
wait_log "$T/w" "\"update_time\": \"$((UT + 3))\"" 1 10 || fail "the NOTIFYed log"
d=$(delay_ms $((UT + 3)) "$t0")
[ -n "$d" ] && [ "$d" -lt 1000 ] && pass "NOTIFY after the restart: $d ms" ||
  fail "the log after the restart took [$d] ms"

# ---- the LISTENing session killed ----------------------------------------
check "terminate the LISTENing session" t \
  "$(sql "SELECT bool_and(pg_terminate_backend(pid)) FROM pg_stat_activity
          WHERE $A_SESSIONS")"
check "record after the kill" '{"created":true}' "$(rec $((UT + 4)) FAIL)"
wait_log "$T/w" "\"update_time\": \"$((UT + 4))\"" 1 15 ||
  fail "the log after the LISTENing session was killed"

check "the watcher got every log once, in commit order" \
  "$UT:RUNNING $((UT + 2)):SUCCESS $((UT + 3)):RUNNING $((UT + 4)):FAIL" \
  "$(logs_seen)"
check "nothing stored by the failed write" 0 \
  "$(sql "SELECT count(*) FROM logs WHERE update_time = $((UT + 1))")"
check "seqs dense, in order" "1 7 7" \
  "$(sql "SELECT min(seq) || ' ' || max(seq) || ' ' || count(*) FROM changes")"

stop_server "$A" && pass "A: SIGTERM exits 0" || fail "A: SIGTERM exit status $?"
stop_server "$B" && pass "B: SIGTERM exits 0" || fail "B: SIGTERM exit status $?"
finish
