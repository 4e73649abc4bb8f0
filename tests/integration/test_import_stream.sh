#!/usr/bin/env bash
# test_import_stream.sh -- the streaming import is still all or nothing
# (issue 11, item 1): an import killed with SIGKILL (or SIGTERM, which an
# import does not catch) half-way through a
# file of several batches (6 000 services, 60 000 logs: batches of 1 024
# services, import.c) leaves the store exactly as it was -- the same rows,
# a file SQLite finds intact, no change in the feed -- and the same file
# then imports whole. "Half-way" is a condition, not a sleep: the importer
# has read more than a third of the file (/proc/PID/io rchar), so several
# batches were written into its open transaction. SQLite, then PostgreSQL
# when SL_TEST_PG_URI is set.
. "$(dirname "$0")/lib.sh"

FIX=$SL_SRC/tests/fixtures
$PY "$SL_SRC/tests/bench/gen_bench_data.py" "$T/big" 6000 10 6000
BIG=$T/big-0.json
SIZE=$(stat -c %s "$BIG")

# read_past PID BYTES: the process has read more than BYTES.
read_past() {
  local r
  r=$(awk '/^rchar:/ { print $2 }' "/proc/$1/io" 2>/dev/null) || return 1
  [ -n "$r" ] && [ "$r" -gt "$2" ]
}

# kill_mid NAME BACKEND DIGEST_FN [SIG]: signal (KILL) an import of $BIG
# half-way, then compare the store's digest with the one before. TERM (an
# operator's Ctrl-C or `kill`) must end it at once too: an import does
# not catch it.
kill_mid() {
  local name=$1 backend=$2 digest=$3 sig=${4:-KILL} before after pid
  before=$($digest)
  "$SERVER" import --backend "$backend" "$BIG" >"$T/$name.kill.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  if wait_for "$WAIT" read_past "$pid" $((SIZE / 3)); then
    kill -"$sig" "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null && fail "$name: the import finished before SIG$sig" || true
    pass "$name: import ended by SIG$sig after reading $((SIZE / 3)) of $SIZE bytes"
  else
    fail "$name: the import never got a third of the way"
  fi
  after=$($digest)
  check "$name: after SIG$sig the store is as before" "$before" "$after"
  if "$SERVER" import --backend "$backend" "$BIG" >"$T/$name.full.log" 2>&1; then
    contains "$name: then the whole file imports" "6000 services, 60000 logs" "$(cat "$T/$name.full.log")"
  else
    fail "$name: the import after the kill failed: $(cat "$T/$name.full.log")"
  fi
}

# ---- SQLite -----------------------------------------------------------------
DB=$T/s.db
"$SERVER" import --backend "sqlite:$DB" "$FIX/demo.json" >/dev/null 2>&1 || fail "sqlite: import demo.json"
digest_sqlite() {
  sqlite3 "$DB" "SELECT (SELECT count(*) FROM services) || ' ' ||
    (SELECT count(*) FROM logs) || ' ' ||
    (SELECT group_concat(service_id || ':' || service_name, ',') FROM services) || ' ' ||
    (SELECT value FROM meta WHERE key = 'feed_seq') || ' ' ||
    (SELECT hex(sum(length(body))) FROM logs)"
}
kill_mid sqlite "sqlite:$DB" digest_sqlite
kill_mid sqlite-term "sqlite:$DB" digest_sqlite TERM
check "sqlite: integrity_check" ok "$(sqlite3 "$DB" 'PRAGMA integrity_check')"
check "sqlite: demo.json's service kept" 1 \
  "$(sqlite3 "$DB" "SELECT count(*) FROM services WHERE service_id = 'mnist-svc'")"

# ---- PostgreSQL (SL_TEST_PG_URI) -------------------------------------------
PG_URI=${SL_TEST_PG_URI:-}
if [ -z "$PG_URI" ]; then
  echo "note: the PostgreSQL part did not run: SL_TEST_PG_URI unset"
elif ! have_pg_backend; then
  echo "note: the PostgreSQL part did not run: server built without the backend"
else
  SCHEMA=sl_stream_$$
  sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$1" -c "$2"; }
  pg_cleanup() { sql "$PG_URI" "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true; }
  AT_EXIT+=(pg_cleanup)
  sql "$PG_URI" "CREATE SCHEMA $SCHEMA"
  case "$PG_URI" in
  *\?*) URI="$PG_URI&options=-csearch_path%3D$SCHEMA" ;;
  *) URI="$PG_URI?options=-csearch_path%3D$SCHEMA" ;;
  esac
  "$SERVER" import --backend "$URI" "$FIX/demo.json" >/dev/null 2>&1 || fail "pg: import demo.json"
  digest_pg() {
    sql "$URI" "SELECT (SELECT count(*) FROM services) || ' ' ||
      (SELECT count(*) FROM logs) || ' ' ||
      (SELECT string_agg(service_id || ':' || service_name, ',' ORDER BY service_id) FROM services) || ' ' ||
      (SELECT head FROM feed) || ' ' || (SELECT md5(string_agg(encode(body, 'hex'), ''
        ORDER BY project_id, service_id, update_time, seq)) FROM logs)"
  }
  kill_mid pg "$URI" digest_pg
  kill_mid pg-term "$URI" digest_pg TERM
fi
finish
