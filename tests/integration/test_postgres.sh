#!/usr/bin/env bash
# test_postgres.sh -- the real server on the PostgreSQL backend, end to end:
# import with the real command, answers over gRPC (our CLI) and REST (curl)
# byte for byte as expected/*.json, idempotent re-import, the change feed an
# import appends to (one change per service, seqs in order, a NOTIFY that
# another session receives at COMMIT), a failed import that writes nothing
# (no change either), and health following the database: NOT_SERVING while
# a PostgreSQL server is stopped, SERVING with working queries once it is
# back, without restarting servicelogs.
#
# Needs SL_TEST_PG_URI (scripts/test.sh starts a cluster with
# scripts/pg-test-server.sh start, which prints one); without it the test is
# skipped (exit 77). The data goes into a schema of its own, which is
# dropped at the end. The stop/start part runs on a second throw-away
# cluster, so the shared one stays up.
. "$(dirname "$0")/lib.sh"

PG_URI=${SL_TEST_PG_URI:-}
[ -n "$PG_URI" ] || skip "SL_TEST_PG_URI unset"
PGCTL=$SL_SRC/scripts/pg-test-server.sh
EXP=$SL_SRC/tests/integration/expected
SCHEMA=sl_it_$$
PG2=/tmp/sl-it-pg.$$ # the second cluster (its owner must reach the dir)

# with_opts URI PARAMS: URI with more query parameters.
with_opts() {
  case "$1" in
  *\?*) echo "$1&$2" ;;
  *) echo "$1?$2" ;;
  esac
}
sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$1" -c "$2"; }
# A digest of everything stored, in key order (not in heap order).
digest() {
  sql "$1" "SELECT md5(coalesce((SELECT string_agg(format('%s|%s|%s|%s|%s',
      project_id, service_id, update_time, seq, encode(body, 'hex')), ';'
      ORDER BY project_id, service_id, update_time, seq) FROM logs), '')
    || coalesce((SELECT string_agg(format('%s|%s|%s|%s', project_id,
      service_id, service_name, infer_type), ';' ORDER BY project_id,
      service_id) FROM services), ''))
    || ' ' || (SELECT count(*) FROM logs)"
}

# At exit, once lib.sh's cleanup has killed the servers (PIDS).
pg_cleanup() {
  sql "$PG_URI" "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
  "$PGCTL" stop "$PG2" >/dev/null 2>&1 || true
}
AT_EXIT+=(pg_cleanup)

sql "$PG_URI" "CREATE SCHEMA $SCHEMA"
URI=$(with_opts "$PG_URI" "options=-csearch_path%3D$SCHEMA")

# ---- import ------------------------------------------------------------
rc=0
"$SERVER" import --backend "$URI" "$SL_SRC/demo/demo.json" >"$T/import.log" 2>&1 || rc=$?
check "import demo.json" 0 "$rc"
contains "import says what it stored" "3 services, 3 logs" "$(cat "$T/import.log")"
check "schema version" 2 "$(sql "$URI" "SELECT value FROM meta WHERE key = 'schema_version'")"
D1=$(digest "$URI")
# feed: what the change feed holds, "head pruned|seq:service:update_time:
# body bytes;..." (an import's change: time 0, the seal of an empty body).
feed() {
  sql "$URI" "SELECT (SELECT head || ' ' || pruned FROM feed) || '|' ||
    coalesce(string_agg(seq || ':' || service_id || ':' || update_time || ':'
    || length(body), ';' ORDER BY seq), '') FROM changes"
}
F3="3 0|1:batch-svc:0:9;2:edge-svc:0:9;3:mnist-svc:0:9"
check "import: one change per service, in key order" "$F3" "$(feed)"

# A session LISTENing (as wait_changes does) is told of the re-import at
# its COMMIT, with the schema as the payload.
LISTEN_APP=sl_it_listen_$$
PGAPPNAME=$LISTEN_APP psql -X -q -At "$URI" -c "LISTEN servicelogs_changes" \
  -c "SELECT pg_sleep(60)" >"$T/listen.out" 2>&1 &
LISTEN_PID=$!
listening() {
  sql "$URI" "SELECT count(*) FROM pg_stat_activity WHERE application_name =
    '$LISTEN_APP' AND query LIKE '%pg_sleep%' AND state = 'active'"
}
check "a listener is waiting" 1 "$(wait_eq 30 1 listening)"
"$SERVER" import --backend "$URI" "$SL_SRC/demo/demo.json" >/dev/null 2>&1 || fail "re-import failed"
check "re-import changes no log" "$D1" "$(digest "$URI")"
check "re-import: three more changes, seqs go on" \
  "6 0|1:batch-svc:0:9;2:edge-svc:0:9;3:mnist-svc:0:9;4:batch-svc:0:9;5:edge-svc:0:9;6:mnist-svc:0:9" \
  "$(feed)"
sql "$URI" "SELECT pg_cancel_backend(pid) FROM pg_stat_activity
  WHERE application_name = '$LISTEN_APP'" >/dev/null
wait "$LISTEN_PID" 2>/dev/null || true
contains "the listener got the NOTIFY, payload the schema" \
  "Asynchronous notification \"servicelogs_changes\" with payload \"$SCHEMA\"" \
  "$(cat "$T/listen.out")"
F6=$(feed)

# ---- serve: gRPC and REST ----------------------------------------------
# A password in the URI (trust auth ignores it) must not reach the log.
SECRET_URI=$(echo "$URI" | sed 's#^\(postgres[a-z]*://\)\([^:@/]*\)@#\1\2:pw-Never-Logged@#')
start_server "$T/server.log" --backend "$SECRET_URI" --grpc-listen=127.0.0.1:0 \
  --http-listen=127.0.0.1:0 --threads=4 --health-interval=100ms
PID=$SERVER_PID
GP=$GRPC_PORT
HP=$HTTP_PORT
cli() { "$CLI" query --addr "127.0.0.1:$GP" "$@"; }
rest() { curl -s -o "$2" -w '%{http_code}' "http://127.0.0.1:$HP$1"; }
same() { # same NAME EXPECTED_FILE GOT_FILE: byte for byte
  if cmp -s "$2" "$3"; then pass "$1"; else fail "$1: $(diff "$2" "$3" | head -5)"; fi
}

for i in 1 2 3 4 5 6; do # every worker's connection
  cli --project demo-project --service mnist-svc >"$T/g-mnist" || fail "CLI query $i"
  same "[$i] gRPC real-time JSON" "$EXP/mnist.json" "$T/g-mnist"
done
cli --project demo-project --service edge-svc >"$T/g-edge" || fail "CLI edge"
same "gRPC edge JSON" "$EXP/edge.json" "$T/g-edge"
cli --project demo-project --service mnist-svc --update-time 123432423 >"$T/g-at" || fail "CLI at"
same "gRPC update_time filter" "$EXP/mnist_123432423.json" "$T/g-at"
rc=0; cli --project demo-project --service nope >/dev/null 2>&1 || rc=$?
check "gRPC not found exit status" 4 "$rc"
rc=0; cli --project other-project --service mnist-svc >/dev/null 2>&1 || rc=$?
check "another project's service: not found" 4 "$rc"

check "REST real-time: 200" 200 "$(rest /v1/demo-project/services/mnist-svc/logs "$T/r-mnist")"
same "REST real-time JSON" "$EXP/mnist.json" "$T/r-mnist"
check "REST edge: 200" 200 "$(rest /v1/demo-project/services/edge-svc/logs "$T/r-edge")"
same "REST edge JSON" "$EXP/edge.json" "$T/r-edge"
check "REST filter: 200" 200 "$(rest '/v1/demo-project/services/mnist-svc/logs?update_time=123432423' "$T/r-at")"
same "REST update_time filter" "$EXP/mnist_123432423.json" "$T/r-at"
check "REST batch: 400" 400 "$(rest /v1/demo-project/services/batch-svc/logs "$T/r-b")"
contains "REST batch: ModelArts.2858" ModelArts.2858 "$(cat "$T/r-b")"
check "REST not found: 404" 404 "$(rest /v1/demo-project/services/nope/logs "$T/r-n")"
check "/healthz" 200 "$(rest /healthz "$T/r-h")"

# ---- failed imports write nothing --------------------------------------
rc=0
"$SERVER" import --backend "$URI" "$SL_SRC/tests/fixtures/bad_field.json" >"$T/bad.log" 2>&1 || rc=$?
check "bad file: import exit status" 1 "$rc"
check "bad file: nothing changed" "$D1" "$(digest "$URI")"
# A file that parses, failing in the database half-way (a trigger on the
# last service's logs): the transaction is rolled back.
sed -e 's/"mnist"/"renamed"/' "$SL_SRC/demo/demo.json" >"$T/changed.json"
sql "$URI" "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS
  \$\$BEGIN RAISE EXCEPTION 'poisoned by the test'; END\$\$;
  CREATE TRIGGER poison BEFORE INSERT ON logs FOR EACH ROW
  WHEN (NEW.service_id = 'mnist-svc') EXECUTE FUNCTION poison()"
rc=0
"$SERVER" import --backend "$URI" "$T/changed.json" >"$T/bad2.log" 2>&1 || rc=$?
check "failing in the database: exit status" 1 "$rc"
contains "failing in the database: says so" "import failed, nothing changed: poisoned by the test" "$(cat "$T/bad2.log")"
check "failing in the database: nothing changed" "$D1" "$(digest "$URI")"
check "failing in the database: no change in the feed" "$F6" "$(feed)"
sql "$URI" "DROP TRIGGER poison ON logs; DROP FUNCTION poison()"
cli --project demo-project --service mnist-svc >"$T/g-after" || fail "CLI after failed imports"
same "served data unchanged after failed imports" "$EXP/mnist.json" "$T/g-after"

if grep -q pw-Never-Logged "$T/server.log" "$T"/*.log; then
  fail "a URI password reached a log"
else
  pass "no URI password in the logs"
fi
stop_server "$PID" && pass "SIGTERM exits 0" || fail "SIGTERM exit status $?"

# ---- health follows the database (second cluster) ---------------------
URI2=$("$PGCTL" start "$PG2")
"$SERVER" import --backend "$URI2" "$SL_SRC/demo/demo.json" >/dev/null 2>&1 || fail "import into the second cluster"
start_server "$T/server2.log" --backend "$URI2" --grpc-listen=127.0.0.1:0 \
  --http-listen=127.0.0.1:0 --threads=2 --health-interval=100ms
PID=$SERVER_PID
GP=$GRPC_PORT
HP=$HTTP_PORT
hp() { $PY "$SL_SRC/tests/integration/health_probe.py" "127.0.0.1:$GP" check ''; }
# wait_health WANT: polls Check until it says WANT (30 s at most); prints
# the last answer.
wait_health() { wait_eq 30 "$1" hp; }
check "second cluster: SERVING" SERVING "$(wait_health SERVING)"
cli --project demo-project --service mnist-svc >"$T/g2" || fail "query on the second cluster"
same "second cluster: gRPC JSON" "$EXP/mnist.json" "$T/g2"

"$PGCTL" halt "$PG2"
check "PostgreSQL stopped: NOT_SERVING" NOT_SERVING "$(wait_health NOT_SERVING)"
check "PostgreSQL stopped: /healthz 503" 503 "$(rest /healthz "$T/h2")"
check "PostgreSQL stopped: REST 503" 503 "$(rest /v1/demo-project/services/mnist-svc/logs "$T/r2")"
contains "PostgreSQL stopped: ModelArts.4302" ModelArts.4302 "$(cat "$T/r2")"
rc=0; cli --project demo-project --service mnist-svc >/dev/null 2>&1 || rc=$?
check "PostgreSQL stopped: CLI unavailable exit status" 3 "$rc"

"$PGCTL" start "$PG2" >/dev/null
check "PostgreSQL back: SERVING" SERVING "$(wait_health SERVING)"
for i in 1 2 3 4; do # both workers' connections were cut: each reconnects
  cli --project demo-project --service mnist-svc >"$T/g3" || fail "[$i] query after the restart"
  same "[$i] PostgreSQL back: gRPC JSON" "$EXP/mnist.json" "$T/g3"
  check "[$i] PostgreSQL back: REST 200" 200 "$(rest /v1/demo-project/services/edge-svc/logs "$T/r3")"
  same "[$i] PostgreSQL back: REST JSON" "$EXP/edge.json" "$T/r3"
done
check "same process throughout" 1 "$(kill -0 "$PID" 2>/dev/null && echo 1)"
stop_server "$PID" && pass "SIGTERM exits 0 (second cluster)" || fail "SIGTERM exit status $?"
finish
