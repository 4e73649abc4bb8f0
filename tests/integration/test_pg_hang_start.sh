#!/usr/bin/env bash
# test_pg_hang_start.sh -- start-up and import against a PostgreSQL server
# that stops answering (issue 8, item 8; server/store/store_pg_wait.c),
# frozen with SIGSTOP as in test_pg_hang.sh. --pg-answer-timeout is 2 s
# here (30 s by default). Wanted:
#   1. serve against the frozen server: exits 1 within the bound plus a
#      margin (LIMIT_MS, from its start), with one line naming the
#      database, the step and the bound, and no password;
#   2. serve against a server that froze after the connection was made,
#      in the middle of the schema check (a lock on meta holds the check
#      until the freeze): the same, naming "checking the schema"; so does
#      --pg-pool-size=3 (the pool's connections are opened the same way);
#   3. import against a server that freezes during the COPY of a 200 000-log
#      file: exits 1 within LIMIT_MS of the freeze, "import failed, nothing
#      changed"; after the thaw, once the import's session is gone, the
#      store holds what it held before (feed head, counts, a digest of every
#      body) and a query answers as before;
#   4. after the thaw, serve starts and answers; an import with the same
#      2 s bound succeeds although its swap is one statement longer than
#      that (the probe sees a server that answers).
# Before this fix, 2 and 3 waited for ever and 1 took 5 s with another
# message.
#
# The cluster is the test's own, thawed and stopped at exit whatever
# happens (pg_own.sh). Skipped without SL_TEST_PG_URI, like
# test_pg_hang.sh.
. "$(dirname "$0")/lib.sh"

[ -n "${SL_TEST_PG_URI:-}" ] || skip "SL_TEST_PG_URI unset"
. "$I/pg_own.sh"
have_pg_backend || skip "this build has no PostgreSQL backend"
EXP=$SL_SRC/tests/integration/expected
BOUND=2s
LIMIT_MS=5000 # the bound (2 s) plus a margin for a busy machine

pg_own_start
# A password in the URI (trust authentication ignores it) must never show.
URI=$(echo "$PG_OWN_URI" | sed 's|://\([^@]*\)@|://\1:s3cret-pw@|')
sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$PG_OWN_URI" -c "$1"; }
# What the store holds: the feed's head, the counts, a digest of the logs.
state() {
  sql "SELECT (SELECT head FROM feed), (SELECT count(*) FROM services),
    (SELECT count(*) FROM logs), (SELECT md5(string_agg(md5(body), ''
    ORDER BY project_id, service_id, update_time, seq)) FROM logs)"
}
# sessions APP [WAIT_EVENT_TYPE]: the backends of application_name APP.
sessions() {
  sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = '$1'
    ${2:+AND wait_event_type = '$2'}"
}
"$SERVER" import --backend "$URI" "$SL_SRC/demo/demo.json" \
  >"$T/import.log" 2>&1 || fail "import demo.json: $(cat "$T/import.log")"
BEFORE=$(state)

# serve_fails NAME ARGS...: serve ARGS (started at START) exits 1 within
# LIMIT_MS of START with the start-up line; sets MSG.
serve_fails() {
  local name=$1 rc=0 ms
  shift
  wait_exit "$SERVE_PID" 60 || rc=$?
  _clock_ms
  ms=$((REPLY - START))
  MSG=$(grep -v ' info ' "$T/serve.log" || true)
  echo "  $name: exit $rc after $ms ms: $MSG"
  check "$name: exit status 1" 1 "$rc"
  [ "$ms" -lt "$LIMIT_MS" ] && pass "$name: exits within $LIMIT_MS ms ($ms ms)" ||
    fail "$name: took $ms ms"
  check "$name: one line" 1 "$(printf '%s\n' "$MSG" | grep -c .)"
  contains "$name: names the database and the bound" \
    "servicelogs-server: postgres://127.0.0.1:" "$MSG"
  contains "$name: says what is wrong" "PostgreSQL did not answer within 2s at start-up" "$MSG"
  contains "$name: says what to do" "is it running, reachable and not overloaded? (bound: --pg-answer-timeout)" "$MSG"
  case "$MSG$(cat "$T/serve.log")" in
  *s3cret-pw*) fail "$name: the password shows" ;;
  *) pass "$name: no password" ;;
  esac
}
serve_start() {
  _clock_ms
  START=$REPLY
  "$SERVER" serve --backend "$1" --grpc-listen=127.0.0.1:0 \
    --http-listen=127.0.0.1:0 --pg-answer-timeout=$BOUND "${@:2}" \
    >"$T/serve.log" 2>&1 &
  SERVE_PID=$!
  PIDS+=("$SERVE_PID")
}

# ---- 1. frozen before start-up ----------------------------------------------
freeze
serve_start "$URI"
serve_fails "frozen: serve"
contains "frozen: the step" "(connecting)" "$MSG"
thaw

# ---- 2. frozen in the middle of the schema check ------------------------------
# lock_meta: a session holds ACCESS EXCLUSIVE on meta (until terminated),
# so serve's check waits for it; then the freeze, once serve's session
# waits.
lock_meta() {
  psql -X -q "$PG_OWN_URI?application_name=sl_hang_lock" -c "BEGIN;
    LOCK TABLE meta IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600)" \
    >/dev/null 2>&1 &
  PIDS+=($!)
  wait_eq 20 1 sql "SELECT count(*) FROM pg_locks WHERE relation =
    'meta'::regclass AND mode = 'AccessExclusiveLock' AND granted" \
    >/dev/null || fail "the lock on meta"
}
unlock_meta() {
  sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
    WHERE application_name = 'sl_hang_lock'" >/dev/null
  wait_eq 20 0 sql "SELECT count(*) FROM pg_locks WHERE relation =
    'meta'::regclass" >/dev/null || fail "the lock on meta is still held"
}
for variant in "threads" "pool"; do
  args=(--threads=2)
  [ "$variant" = pool ] && args=(--threads=2 --pg-pool-size=3)
  app=sl_hang_$variant
  lock_meta
  serve_start "$URI?application_name=$app" "${args[@]}"
  wait_eq 20 1 sessions $app Lock >/dev/null || fail "$variant: serve's session does not wait"
  freeze
  serve_fails "frozen mid-check, --$variant"
  contains "frozen mid-check, --$variant: the step" "(checking the schema)" "$MSG"
  thaw
  unlock_meta
done

# ---- 3. import frozen mid-COPY ------------------------------------------------
$PY "$SL_SRC/tests/bench/gen_bench_data.py" "$T/big" 20000 10 20000
"$SERVER" import --backend "$URI?application_name=sl_hang_import" \
  --pg-answer-timeout=$BOUND "$T/big-0.json" >"$T/import.log" 2>&1 &
IMPORT_PID=$!
PIDS+=("$IMPORT_PID")
copying() {
  [ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name =
    'sl_hang_import' AND query LIKE 'COPY%'")" = 1 ] || gone "$IMPORT_PID"
}
wait_for 60 copying || fail "import: no COPY seen"
gone "$IMPORT_PID" && fail "import: over before the freeze (file too small?)"
freeze
rc=0
wait_exit "$IMPORT_PID" 60 || rc=$?
_clock_ms
ms=$((REPLY - FROZEN_AT))
MSG=$(cat "$T/import.log")
echo "  import: exit $rc $ms ms after the freeze: $MSG"
check "import: exit status 1" 1 "$rc"
[ "$ms" -lt "$LIMIT_MS" ] && pass "import: exits within $LIMIT_MS ms of the freeze ($ms ms)" ||
  fail "import: took $ms ms"
check "import: one line" 1 "$(printf '%s\n' "$MSG" | grep -c .)"
contains "import: says so" "import failed, nothing changed: PostgreSQL did not answer for 2s" "$MSG"
contains "import: what to do" "is it running and not overloaded? (bound: --pg-answer-timeout)" "$MSG"
case "$MSG" in *s3cret-pw*) fail "import: the password shows" ;; *) pass "import: no password" ;; esac
thaw
# Its session reads the connection's end and rolls back; then the store
# must be as before.
check "import: its session ended after the thaw" 0 "$(wait_eq 30 0 sessions sl_hang_import)"
check "import: the store is unchanged" "$BEFORE" "$(state)"

# ---- 4. thawed: start-up and import work ----------------------------------------
start_server "$T/server.log" --backend "$URI" --grpc-listen=127.0.0.1:0 \
  --http-listen=127.0.0.1:0 --pg-answer-timeout=$BOUND --threads=2 ||
  fail "thawed: serve does not start"
"$CLI" query --addr "127.0.0.1:$GRPC_PORT" --project demo-project \
  --service mnist-svc >"$T/q" 2>&1 || fail "thawed: query: $(cat "$T/q")"
cmp -s "$EXP/mnist.json" "$T/q" && pass "thawed: the answer" || fail "thawed: the answer differs"
stop_server "$SERVER_PID" && pass "thawed: SIGTERM exits 0" || fail "thawed: SIGTERM exit status $?"
"$SERVER" import --backend "$URI" --pg-answer-timeout=$BOUND "$T/big-0.json" \
  >"$T/import2.log" 2>&1 && pass "thawed: the import succeeds" ||
  fail "thawed: import: $(cat "$T/import2.log")"
check "thawed: the import's 20 000 services" 20003 "$(sql "SELECT count(*) FROM services")"
finish
