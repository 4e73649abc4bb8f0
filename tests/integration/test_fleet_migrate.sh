#!/usr/bin/env bash
# test_fleet_migrate.sh -- schema migrations with several replicas (issue
# 11), on SL_TEST_PG_URI, each case in a schema of its own.
#
#   1. The lock: while a session holds the migration's advisory lock
#      (PG_LOCK_SCHEMA, the schema's hash), a replica starting on an empty
#      schema waits for it (pg_locks shows its request, not granted) and
#      starts once it is released.
#   2. Three replicas started at the same instant (a barrier file) on an
#      empty schema, with --threads=2 each (so about fifteen connections
#      open at once): all three serve, exactly one of them logs "schema
#      migrated from version 0 to 2", and the database agrees: meta holds
#      one row, schema_version 2, written by the transaction that created
#      the five tables (one xmin for all of them: no second run rewrote
#      the version).
#   3. The rolling-upgrade rule (README: Scale-out): a newer release's
#      migration is additive, so replicas of this version keep serving
#      while a newer schema (version 3, one more table) is committed under
#      them; a replica of this version that starts on it refuses, exit 1,
#      naming both versions.
. "$(dirname "$0")/lib.sh"

need_pg

P=demo-project
S=mnist-svc
SCH=sl_mig_$$
sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$SL_TEST_PG_URI" -c "$1"; }
mig_cleanup() {
  for s in "${SCH}_a" "${SCH}_b"; do
    psql -X -q "$SL_TEST_PG_URI" -c "DROP SCHEMA IF EXISTS $s CASCADE" \
      >/dev/null 2>&1 || true
  done
}
AT_EXIT+=(mig_cleanup)
uri_of() { echo "$SL_TEST_PG_URI?options=-csearch_path%3D$1"; }
for s in a b; do sql "CREATE SCHEMA ${SCH}_$s" || fail "create schema $s"; done

# ---- 1. the advisory lock serializes migrations ---------------------------
LOCK="pg_advisory_lock(1936486247, hashtext('${SCH}_a'))"
mkfifo "$T/hold"
# A session that holds the lock until the fifo gets a line.
(
  echo "SELECT $LOCK;"
  echo "\\echo held"
  read -r _ <"$T/hold"
  echo "SELECT pg_advisory_unlock_all();"
) | psql -X -q -At "$SL_TEST_PG_URI" >"$T/holder.out" 2>&1 &
HOLDER=$!
PIDS+=("$HOLDER")
wait_log "$T/holder.out" '^held' || fail "the holder took the lock"
"$SERVER" serve --backend "$(uri_of "${SCH}_a")" --grpc-listen=127.0.0.1:0 \
  --http-listen=127.0.0.1:0 --threads=1 --port-file="$T/a.ports" \
  >"$T/a.log" 2>&1 &
A=$!
PIDS+=("$A")
waiting() {
  sql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND classid = 1936486247" 2>/dev/null
}
check "a starting replica waits for the migration lock" 1 "$(wait_eq 20 1 waiting)"
[ -f "$T/a.ports" ] && fail "it serves while the lock is held" ||
  pass "it does not serve while the lock is held"
echo go >"$T/hold"
wait_for "$START_WAIT" ports_in "$T/a.ports" "$A" || true
[ -f "$T/a.ports" ] && pass "it starts once the lock is released" ||
  fail "it did not start: $(tail -n 3 "$T/a.log")"
stop_server "$A" || fail "A: SIGTERM exit status"

# ---- 2. three replicas at the same instant ---------------------------------
URI_B=$(uri_of "${SCH}_b")
declare -a RP RG RH
for i in 1 2 3; do
  (
    while [ ! -e "$T/go" ]; do sleep 0.005; done
    exec "$SERVER" serve --backend "$URI_B" --grpc-listen=127.0.0.1:0 \
      --http-listen=127.0.0.1:0 --threads=2 --health-interval=100ms \
      --port-file="$T/b$i.ports"
  ) >"$T/b$i.log" 2>&1 &
  RP[$i]=$!
  PIDS+=("${RP[$i]}")
done
touch "$T/go"
for i in 1 2 3; do
  wait_for "$START_WAIT" ports_in "$T/b$i.ports" "${RP[$i]}" || true
  if [ -f "$T/b$i.ports" ]; then
    RG[$i]=$GRPC_PORT
    RH[$i]=$HTTP_PORT
    pass "replica b$i serves"
  else
    fail "replica b$i did not start: $(tail -n 3 "$T/b$i.log")"
  fi
done
n=$(cat "$T"/b[123].log | grep -c 'schema migrated from version 0 to 2' || true)
check "exactly one replica ran the migration (its log says so)" 1 "$n"
check "meta: one row, schema_version 2" "schema_version|2" \
  "$(sql "SELECT key || '|' || value FROM ${SCH}_b.meta")"
check "one transaction created the five tables and wrote the version" 1 \
  "$(sql "SELECT count(DISTINCT x) FROM (SELECT xmin::text AS x FROM ${SCH}_b.meta
          UNION ALL SELECT c.xmin::text FROM pg_class AS c
          JOIN pg_namespace AS n ON n.oid = c.relnamespace
          WHERE n.nspname = '${SCH}_b' AND c.relname IN
          ('meta', 'services', 'logs', 'feed', 'changes')) AS t")"
check "the feed's row, once" 1 "$(sql "SELECT count(*) FROM ${SCH}_b.feed")"
"$SERVER" import --backend "$URI_B" "$SL_SRC/demo/demo.json" >/dev/null 2>&1 ||
  fail "import the demo"
want=$(curl -s "http://127.0.0.1:${RH[1]}/v1/$P/services/$S/logs")
contains "b1 serves the import" '"service_id":"mnist-svc"' "$want"
for i in 2 3; do
  check "b$i serves the same bytes" "$want" \
    "$(curl -s "http://127.0.0.1:${RH[$i]}/v1/$P/services/$S/logs")"
done

# ---- 3. a newer schema under running replicas -------------------------------
# What a newer release's additive migration 2 -> 3 looks like: a table
# more, nothing this version reads changed.
sql "BEGIN; CREATE TABLE ${SCH}_b.extra(k text PRIMARY KEY);
     UPDATE ${SCH}_b.meta SET value = '3' WHERE key = 'schema_version'; COMMIT" ||
  fail "the newer migration"
for i in 1 2 3; do
  check "b$i keeps serving on schema 3" "$want" \
    "$(curl -s "http://127.0.0.1:${RH[$i]}/v1/$P/services/$S/logs")"
  check "b$i stays SERVING" 200 \
    "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${RH[$i]}/healthz")"
done
rc=0
"$SERVER" serve --backend "$URI_B" --grpc-listen=127.0.0.1:0 \
  --http-listen=127.0.0.1:0 --threads=1 >"$T/old.log" 2>&1 || rc=$?
check "a replica of this version refuses a newer schema at start-up" 1 "$rc"
contains "and says why" "schema version 3 is not supported by this server (it supports up to 2); use a newer servicelogs-server" \
  "$(cat "$T/old.log")"
rc=0
"$SERVER" import --backend "$URI_B" "$SL_SRC/demo/demo.json" >"$T/oldimp.log" 2>&1 || rc=$?
check "so does its import" 1 "$rc"
for i in 1 2 3; do
  stop_server "${RP[$i]}" && pass "b$i: SIGTERM exits 0" || fail "b$i: SIGTERM exit status $?"
done
finish
