#!/usr/bin/env bash
# test_pg_pool.sh -- --pg-pool-size bounds a replica's PostgreSQL
# connections (issue 11, item 4; server/store/store_pool.h).
#   1. Control: without the flag a replica with --threads=4
#      --http-threads=3 holds threads + 3 + http-threads = 10 connections.
#   2. With --pg-pool-size=3, the same replica under a concurrent load (8
#      gRPC callers on one channel, one REST caller, a watcher) never holds
#      more than 3 (pg_stat_activity, by the URI's application_name,
#      sampled every 50 ms), answers every call, and the watcher gets a
#      write made during the load.
#   3. Exhaustion: --pg-pool-size=2 (the change feed keeps one), a write
#      blocked on the feed's advisory lock (held by psql) holds the other;
#      a query then fails UNAVAILABLE within --query-timeout, and the log
#      says the pool was busy and names --pg-pool-size; once the lock goes
#      (its holder terminated),
#      the write and the next query succeed. --pg-pool-size=1 is refused.
. "$(dirname "$0")/lib.sh"

need_pg

LOAD="$PY $I/fleet_load.py"
P=demo-project
S=mnist-svc
DB=sl_pool_$$
APP=sl_pool_$$
sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$DIRECT" -c "$1"; }
pool_cleanup() {
  psql -X -q "$SL_TEST_PG_URI" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" \
    >/dev/null 2>&1 || true
}
AT_EXIT+=(pool_cleanup)
read -r PGHOST_ PGPORT_ PGUSER_ < <($PY - "$SL_TEST_PG_URI" <<'PY'
import sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
print(u.hostname or "127.0.0.1", u.port or 5432, u.username or "postgres")
PY
)
psql -X -q -v ON_ERROR_STOP=1 "$SL_TEST_PG_URI" -c "CREATE DATABASE $DB" ||
  fail "create database $DB"
DIRECT="postgres://$PGUSER_@$PGHOST_:$PGPORT_/$DB"
BACKEND="$DIRECT?application_name=$APP"
"$SERVER" import --backend "$BACKEND" "$SL_SRC/demo/demo.json" \
  >"$T/import.log" 2>&1 || fail "import: $(cat "$T/import.log")"
held() { sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = '$APP'"; }

# ---- 1. control ----------------------------------------------------------------
start_server "$T/plain.log" --backend "$BACKEND" --grpc-listen=127.0.0.1:0 \
  --http-listen=127.0.0.1:0 --threads=4 --http-threads=3 || fail "start"
check "without --pg-pool-size: threads + 3 + http-threads connections" 10 \
  "$(wait_eq 10 10 held)"
stop_server "$SERVER_PID" || fail "stop"
wait_eq 10 0 held >/dev/null

# ---- 2. bounded under load -----------------------------------------------------
start_server "$T/pool.log" --backend "$BACKEND" --pg-pool-size=3 \
  --grpc-listen=127.0.0.1:0 --http-listen=127.0.0.1:0 --threads=4 \
  --http-threads=3 --health-interval=50ms || fail "start with --pg-pool-size=3"
check "--pg-pool-size=3: 3 connections at start" 3 "$(wait_eq 10 3 held)"
$PY "$I/live_client.py" watch "127.0.0.1:$GRPC_PORT" $P $S >"$T/w" 2>"$T/w.err" &
PIDS+=($!)
WATCH=$!
wait_log "$T/w" '"snapshot"' || fail "the watcher's snapshot"
printf "SELECT count(*) FROM pg_stat_activity WHERE application_name = '%s' \\\\watch 0.05\n" "$APP" |
  psql -X -q -At "$DIRECT" >"$T/samples" 2>&1 &
PIDS+=($!)
SAMPLER=$!
FLEET_PAUSE_MS=0 FLEET_GRPC_THREADS=8 $LOAD load "$T/calls" \
  "127.0.0.1:$GRPC_PORT" "127.0.0.1:$HTTP_PORT" $P $S 3 >/dev/null &
PIDS+=($!)
LOADER=$!
sleep 1
UT=1960000000000
rec=$(printf '{"update_time": %s, "result": "RUNNING", "config": [{"model_id": "m3", "model_name": "mnist", "model_version": "2.0.0", "weight": 100, "specification": "modelarts.vm.cpu.2u", "instance_count": 1}]}' $UT |
  "$CLI" record --addr "127.0.0.1:$GRPC_PORT" --project $P --service $S -)
check "a write during the load" '{"created":true}' "$rec"
wait "$LOADER" || true
kill "$SAMPLER" 2>/dev/null
wait "$SAMPLER" 2>/dev/null || true
stats=$($LOAD stats "$T/calls" 0 end | tr '\n' ' ')
echo "figure: 3 s, 8 gRPC + 1 REST callers on --pg-pool-size=3 (--threads=4, --http-threads=3): $stats"
max=$(sort -n "$T/samples" | tail -n 1)
echo "figure: $(wc -l <"$T/samples") samples of pg_stat_activity, at most $max connections"
[ -n "$max" ] && [ "$max" -le 3 ] && pass "never more than 3 connections under load (max $max)" ||
  fail "the replica held $max connections (> --pg-pool-size=3)"
n=$(echo "$stats" | sed -n 's/^calls \([0-9]*\) .*/\1/p')
[ "${n:-0}" -gt 100 ] && pass "the load made $n calls" || fail "the load made [$n] calls"
check "no failed call with the pool" 0 "$(echo "$stats" | sed -n 's/^calls [0-9]* errors \([0-9]*\).*/\1/p')"
wait_log "$T/w" "\"update_time\": \"$UT\"" 1 10 &&
  pass "the watcher got the write (feed on a pooled connection)" ||
  fail "the watcher did not get the write: $(tail -n 2 "$T/w")"
kill -TERM "$WATCH" 2>/dev/null || true
stop_server "$SERVER_PID" && pass "SIGTERM with a pool exits 0" || fail "stop"
wait_eq 10 0 held >/dev/null

# ---- 3. exhaustion ------------------------------------------------------------
"$SERVER" serve --backend "$BACKEND" --pg-pool-size=1 >"$T/one.log" 2>&1 &&
  fail "--pg-pool-size=1 was accepted" ||
  log_has "$T/one.log" 'pg-pool-size=1: the change feed keeps one connection' &&
  pass "--pg-pool-size=1 is refused, saying why" ||
  fail "--pg-pool-size=1: $(cat "$T/one.log")"
start_server "$T/two.log" --backend "$BACKEND" --pg-pool-size=2 \
  --grpc-listen=127.0.0.1:0 --threads=2 --query-timeout=300ms \
  --health-interval=60m || fail "start with --pg-pool-size=2"
check "--pg-pool-size=2: 2 connections" 2 "$(wait_eq 10 2 held)"
psql -X -q "$DIRECT" -c "SELECT pg_advisory_xact_lock(1936486249, hashtext('public')), pg_sleep(20)" \
  >/dev/null 2>&1 &
LOCKER=$!
PIDS+=($LOCKER)
lock_held() { sql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = 1936486249"; }
wait_eq 5 1 lock_held >/dev/null || fail "psql holds the feed's lock"
printf '{"update_time": %s, "result": "SUCCESS", "config": []}' $((UT + 1)) |
  "$CLI" record --addr "127.0.0.1:$GRPC_PORT" --project $P --service $S - \
    >"$T/blocked" 2>&1 &
WRITER=$!
PIDS+=($WRITER)
waiting() { sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = '$APP' AND wait_event_type = 'Lock'"; }
wait_eq 5 1 waiting >/dev/null || fail "the write waits for the lock"
_clock_ms
t0=$REPLY
check "a query while the pool is exhausted" UNAVAILABLE \
  "$($LOAD raw "127.0.0.1:$GRPC_PORT" $P $S)"
_clock_ms
ms=$((REPLY - t0))
[ "$ms" -lt 2000 ] && pass "refused by the deadline ($ms ms)" || fail "refused after $ms ms"
wait_log "$T/two.log" 'call failed: EUNAVAIL: all 2 backend connections of this server \(--pg-pool-size\) stayed busy' 1 5 &&
  pass "the log names the exhausted pool and --pg-pool-size" ||
  fail "the log: $(grep -m2 -i 'unavail\|busy' "$T/two.log")"
echo "figure: refused after $ms ms, the client's start included (--query-timeout=300ms): $(grep 'call failed' "$T/two.log" | grep -m1 -o 'stayed busy for [0-9]* ms' || true)"
# the write waits (PG_WRITE_MS, 10 s) for the lock: end the holder now
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(20)%' AND pid <> pg_backend_pid()" >/dev/null
wait "$WRITER" || true
check "the blocked write, once the lock is gone" '{"created":true}' "$(cat "$T/blocked")"
wait "$LOCKER" 2>/dev/null || true
r=$($LOAD raw "127.0.0.1:$GRPC_PORT" $P $S)
[ "${#r}" -gt 40 ] && pass "a query after the pool freed" || fail "a query after: $r"
stop_server "$SERVER_PID" || fail "stop"
finish
