#!/usr/bin/env bash
# test_pgbouncer.sh -- the PostgreSQL backend behind PgBouncer in
# transaction pooling mode (Debian 12: PgBouncer 1.18, which has no
# protocol-level prepared statements; those came in 1.21), issue 11.
#
# PgBouncer runs here on a Unix socket in the test's own directory (no TCP
# port to pick), pool_mode=transaction, default_pool_size=4, in front of a
# database of its own on SL_TEST_PG_URI's server.
#   1. Without --pg-transaction-pooling the server's named prepared
#      statements break under load ("prepared statement "sl_q_all" does not
#      exist": PREPAREd on one server connection, executed on another), and
#      the message names the flag.
#   2. With --pg-transaction-pooling (unnamed statements) and
#      --pg-listen-uri (the change feed's LISTEN session direct to
#      PostgreSQL): the same bytes as a server connected directly, no failed
#      call under load, writes through PgBouncer reach watchers on both
#      servers within 1 s, and a write through the direct server reaches the
#      watcher of the pooled one. Connections: the replica holds at most
#      --threads + 3 + --http-threads client connections to PgBouncer
#      (workers, health, the feed's reader, the in-process REST pool; the
#      feed's waiter goes direct), PgBouncer at most default_pool_size
#      server connections, and the LISTEN session is direct.
#   3. Reconnect back-off: PgBouncer refuses the database (DISABLE + KILL)
#      for 3 s while calls keep coming; every call fails at once with
#      UNAVAILABLE / 503 (health NOT_SERVING: queries are refused without a
#      read), and the replica's connect attempts stay few although its
#      health prober pings every 50 ms (69 attempts measured without the back-off;
#      with it, 100 ms doubling to 1 s per connection: at most 30 asserted);
#      once PgBouncer takes the database again, the replica is SERVING
#      without a restart.
. "$(dirname "$0")/lib.sh"
# The faults here happen under the store's feet (no write, no change in
# the feed): every query must reach the store, so no response cache
# (--cache-bytes; test_cache.sh tests it).
export SERVICELOGS_CACHE_BYTES=0

need_pg
command -v pgbouncer >/dev/null ||
  { fail "pgbouncer is not installed (scripts/install-deps.sh --test)"; finish; }

LOAD="$PY $I/fleet_load.py"
P=demo-project
S=mnist-svc
DB=sl_pgb_$$
D=/tmp/sl-it-pgb.$$ # PgBouncer's directory: its owner must reach it
as_owner=()
if [ "$(id -u)" -eq 0 ]; then
  owner=postgres
  getent passwd postgres >/dev/null || owner=nobody
  as_owner=(runuser -u "$owner" --)
fi
admin_sql() { psql -X -q -At "host=$D port=6432 dbname=pgbouncer user=postgres" -c "$1"; }
sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$DIRECT" -c "$1"; }
pgb_cleanup() {
  [ -f "$D/pgb.pid" ] && kill -TERM "$(cat "$D/pgb.pid")" 2>/dev/null
  psql -X -q "$SL_TEST_PG_URI" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" \
    >/dev/null 2>&1 || true
  rm -rf "$D"
}
AT_EXIT+=(pgb_cleanup)
now() { printf '%s' "$EPOCHREALTIME"; }
ms_since() { $PY -c "import time; print(int((time.time() - $1) * 1000))"; }

# The server's host, port and user, from SL_TEST_PG_URI.
read -r PGHOST_ PGPORT_ PGUSER_ < <($PY - "$SL_TEST_PG_URI" <<'PY'
import sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
print(u.hostname or "127.0.0.1", u.port or 5432, u.username or "postgres")
PY
)
psql -X -q -v ON_ERROR_STOP=1 "$SL_TEST_PG_URI" -c "CREATE DATABASE $DB" ||
  fail "create database $DB"
DIRECT="postgres://$PGUSER_@$PGHOST_:$PGPORT_/$DB"

mkdir -p "$D"
cat >"$D/pgbouncer.ini" <<INI
[databases]
sl = host=$PGHOST_ port=$PGPORT_ dbname=$DB user=$PGUSER_
[pgbouncer]
listen_addr =
listen_port = 6432
unix_socket_dir = $D
auth_type = any
admin_users = postgres
pool_mode = transaction
default_pool_size = 4
max_client_conn = 200
log_connections = 1
# its default, 15 s, holds every client login that long after a failed
# server login (the pause of KILL counts as one)
server_login_retry = 1
log_disconnections = 1
logfile = $D/pgb.log
pidfile = $D/pgb.pid
INI
[ ${#as_owner[@]} -eq 0 ] || chown -R "$owner" "$D"
(cd "$D" && "${as_owner[@]}" pgbouncer -d "$D/pgbouncer.ini") ||
  fail "start PgBouncer: $(tail -n 5 "$D/pgb.log" 2>/dev/null)"
wait_for 10 test -S "$D/.s.PGSQL.6432" || fail "PgBouncer's socket"
POOLED="postgresql:///sl?host=$D&port=6432&user=postgres"

"$SERVER" import --backend "$POOLED" --pg-transaction-pooling \
  "$SL_SRC/demo/demo.json" >"$T/import.log" 2>&1 &&
  pass "import through PgBouncer (transaction pooling)" ||
  fail "import through PgBouncer: $(cat "$T/import.log")"

# ---- 1. named statements through transaction pooling ------------------------
start_server "$T/named.log" --backend "$POOLED" --grpc-listen=127.0.0.1:0 \
  --http-listen=127.0.0.1:0 --threads=2 --http-threads=2
NAMED=$SERVER_PID
FLEET_PAUSE_MS=0 FLEET_GRPC_THREADS=4 $LOAD load "$T/named.calls" \
  "127.0.0.1:$GRPC_PORT" "127.0.0.1:$HTTP_PORT" $P $S 2 >/dev/null
n_err=$($LOAD stats "$T/named.calls" 0 end | sed -n 's/^calls [0-9]* errors //p')
echo "figure: without --pg-transaction-pooling: $($LOAD stats "$T/named.calls" 0 end | tr '\n' ' ')"
[ "${n_err:-0}" -gt 0 ] && pass "named statements fail through transaction pooling ($n_err calls)" ||
  fail "named statements did not fail through transaction pooling"
log_has "$T/named.log" 'prepared statement "sl_q_(all|at)" does not exist \(a transaction pooler in between\? see --pg-transaction-pooling\)' &&
  pass "the message names --pg-transaction-pooling" ||
  fail "the message: $(grep -m1 'prepared statement' "$T/named.log")"
stop_server "$NAMED" || true

# ---- 2. with --pg-transaction-pooling and --pg-listen-uri --------------------
start_server "$T/pooled.log" --backend "$POOLED" --pg-transaction-pooling \
  --pg-listen-uri="$DIRECT?application_name=sl_pgb_listen" \
  --grpc-listen=127.0.0.1:0 --http-listen=127.0.0.1:0 --threads=2 \
  --http-threads=2 --health-interval=50ms
RP=$SERVER_PID
PG_G=$GRPC_PORT
PG_H=$HTTP_PORT
start_server "$T/direct.log" --backend "$DIRECT" --grpc-listen=127.0.0.1:0 \
  --http-listen=127.0.0.1:0 --threads=2
RD=$SERVER_PID
D_G=$GRPC_PORT
D_H=$HTTP_PORT
for svc in mnist-svc edge-svc batch-svc no-such-svc; do
  check "raw gRPC $svc: pooled == direct" \
    "$($LOAD raw "127.0.0.1:$D_G" $P $svc)" "$($LOAD raw "127.0.0.1:$PG_G" $P $svc)"
  check "REST $svc: pooled == direct" \
    "$(curl -s -w ' %{http_code}' "http://127.0.0.1:$D_H/v1/$P/services/$svc/logs")" \
    "$(curl -s -w ' %{http_code}' "http://127.0.0.1:$PG_H/v1/$P/services/$svc/logs")"
done

FLEET_PAUSE_MS=0 FLEET_GRPC_THREADS=4 $LOAD load "$T/pooled.calls" \
  "127.0.0.1:$PG_G" "127.0.0.1:$PG_H" $P $S 2 >/dev/null
FLEET_PAUSE_MS=0 FLEET_GRPC_THREADS=4 $LOAD load "$T/direct.calls" \
  "127.0.0.1:$D_G" "127.0.0.1:$D_H" $P $S 2 >/dev/null
echo "figure: 2 s, 4 gRPC + 1 REST callers, through PgBouncer (unnamed): $($LOAD stats "$T/pooled.calls" 0 end | tr '\n' ' ')"
echo "figure: the same, direct (named statements): $($LOAD stats "$T/direct.calls" 0 end | tr '\n' ' ')"
check "no failed call through PgBouncer under load" 0 \
  "$($LOAD stats "$T/pooled.calls" 0 end | sed -n 's/^calls [0-9]* errors //p')"

listen_direct() {
  sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'sl_pgb_listen' AND query LIKE 'LISTEN %'"
}
check "the feed's LISTEN session goes direct" 1 "$(wait_eq 20 1 listen_direct)"
clients=$(admin_sql "SHOW CLIENTS" | awk -F'|' '$2 == "sl"' | wc -l)
[ "$clients" -le $((2 + 3 + 2)) ] &&
  pass "the replica holds $clients client connections to PgBouncer (<= threads + 3 + http-threads = 7)" ||
  fail "the replica holds $clients client connections to PgBouncer (> 7)"
servers=$(admin_sql "SHOW SERVERS" | awk -F'|' '$2 == "sl"' | wc -l)
[ "$servers" -le 4 ] && pass "PgBouncer holds $servers server connections (<= default_pool_size 4)" ||
  fail "PgBouncer holds $servers server connections"

log_json() {
  printf '{"update_time": %s, "result": "%s", "config": [{"model_id": "m3", "model_name": "mnist", "model_version": "2.0.0", "weight": 100, "specification": "modelarts.vm.cpu.2u", "instance_count": 1}]}' "$1" "$2"
}
$PY "$I/live_client.py" watch "127.0.0.1:$PG_G" $P $S >"$T/wp" 2>"$T/wp.err" &
PIDS+=($!)
WP=$!
$PY "$I/live_client.py" watch "127.0.0.1:$D_G" $P $S >"$T/wd" 2>"$T/wd.err" &
PIDS+=($!)
WD=$!
wait_log "$T/wp" '"snapshot"' || fail "the pooled watcher's snapshot"
wait_log "$T/wd" '"snapshot"' || fail "the direct watcher's snapshot"
arrival_ms() { # FILE UT T0
  $PY - "$1" "$2" "$3" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    if "log" in d and d["log"]["update_time"] == sys.argv[2]:
        print(int((d["t"] - float(sys.argv[3])) * 1000))
PY
}
mono() { $PY -c 'import time; print(time.monotonic())'; }
UT=1950000000000
t0=$(mono)
check "record through PgBouncer" '{"created":true}' \
  "$(log_json $UT RUNNING | "$CLI" record --addr "127.0.0.1:$PG_G" --project $P --service $S -)"
for w in wp wd; do
  wait_log "$T/$w" "\"update_time\": \"$UT\"" 1 10 || fail "$w got the pooled write"
  d=$(arrival_ms "$T/$w" $UT "$t0")
  [ -n "$d" ] && [ "$d" -lt 1000 ] && pass "a write through PgBouncer reached watcher $w in $d ms" ||
    fail "watcher $w: the write through PgBouncer after [$d] ms"
done
t0=$(mono)
check "record direct" '{"created":true}' \
  "$(log_json $((UT + 1)) SUCCESS | "$CLI" record --addr "127.0.0.1:$D_G" --project $P --service $S -)"
wait_log "$T/wp" "\"update_time\": \"$((UT + 1))\"" 1 10 || fail "the pooled watcher got the direct write"
d=$(arrival_ms "$T/wp" $((UT + 1)) "$t0")
[ -n "$d" ] && [ "$d" -lt 1000 ] && pass "a direct write reached the pooled replica's watcher in $d ms" ||
  fail "the direct write reached the pooled watcher after [$d] ms"
kill -TERM "$WP" "$WD" 2>/dev/null || true

# ---- 3. reconnect back-off -----------------------------------------------------
refused() { grep -c 'closing because: database "sl" is disabled' "$D/pgb.log" || true; }
admin_sql "DISABLE sl" >/dev/null && admin_sql "KILL sl" >/dev/null ||
  fail "PgBouncer DISABLE/KILL"
r0=$(refused)
t_off=$(now)
FLEET_PAUSE_MS=5 FLEET_GRPC_THREADS=2 $LOAD load "$T/off.calls" \
  "127.0.0.1:$PG_G" "127.0.0.1:$PG_H" $P $S 3 >/dev/null
attempts=$(($(refused) - r0))
stats_off=$($LOAD stats "$T/off.calls" 0 end)
echo "figure: 3 s refused: $(echo "$stats_off" | tr '\n' ' '); connect attempts refused by PgBouncer: $attempts"
calls=$(echo "$stats_off" | sed -n 's/^calls \([0-9]*\) .*/\1/p')
bad=$(echo "$stats_off" | tail -n +2 | grep -vE '^(g:UNAVAILABLE|r:503) ' || true)
check "while refused, every call fails UNAVAILABLE / 503" "" "$bad"
[ "$calls" -ge 100 ] && [ "$attempts" -le 30 ] &&
  pass "back-off: $attempts connect attempts for $calls calls in 3 s" ||
  fail "back-off: $attempts connect attempts for $calls calls in 3 s (want <= 30 for >= 100)"
hz() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PG_H/healthz"; }
check "health NOT_SERVING while refused" 503 "$(wait_eq 10 503 hz)"
admin_sql "ENABLE sl" >/dev/null && admin_sql "RESUME sl" >/dev/null ||
  fail "PgBouncer ENABLE/RESUME"
t_on=$(now)
if ! wait_eq 10 200 hz >/dev/null; then
  fail "SERVING again without a restart"
  grep -v '"kind"' "$T/pooled.log" | tail -n 8 >&2
  tail -n 8 "$D/pgb.log" >&2
else
  pass "SERVING again without a restart"
fi
echo "figure: /healthz 200 $(ms_since "$t_on") ms after PgBouncer took the database again"
check "a query through PgBouncer after the outage" \
  "$(curl -s "http://127.0.0.1:$D_H/v1/$P/services/$S/logs")" \
  "$(curl -s "http://127.0.0.1:$PG_H/v1/$P/services/$S/logs")"
[ -e "/proc/$RP" ] && pass "the same process" || fail "the pooled replica exited"

stop_server "$RP" && pass "pooled: SIGTERM exits 0" || fail "pooled: SIGTERM exit status $?"
stop_server "$RD" && pass "direct: SIGTERM exits 0" || fail "direct: SIGTERM exit status $?"
finish
