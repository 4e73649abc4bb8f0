#!/usr/bin/env bash
# test_corruption.sh -- stored data damaged at rest is never passed on
# (issue 8, items 7 and 10): a query that meets it answers INTERNAL / 500
# ModelArts.0010 "stored data is corrupt", naming the service and the log,
# logged at warn and counted in /metrics; other services are still served.
# One bad service leaves health SERVING; damage over many services turns
# it NOT_SERVING (/healthz 503) until the data is re-imported and reads
# succeed again. The two kinds of damage: one byte changed in a stored log
# through SQLite (a letter of a string: still a valid message, so only the
# checksum sees it), and garbage written into the file's pages.
# With SL_TEST_PG_URI set, the PostgreSQL backend gets the same byte
# changed (through psql), the same unsealed logs, and a read failing with
# SQLSTATE XX001, and must answer the same; without it that section is
# skipped with a line saying so, and the rest runs.
. "$(dirname "$0")/lib.sh"
# The faults here happen under the store's feet (no write, no change in
# the feed): every query must reach the store, so no response cache
# (--cache-bytes; test_cache.sh tests it).
export SERVICELOGS_CACHE_BYTES=0

CDB="$PY $I/corrupt_db.py"
DB=$T/c.db
$CDB gen "$T/c.json" 40
"$SERVER" import --backend "sqlite:$DB" "$T/c.json" 2>/dev/null
start_server "$T/c.log" --backend "sqlite:$DB" --grpc-listen=127.0.0.1:0 \
  --http-listen=127.0.0.1:0 --health-interval=100ms
GP=$GRPC_PORT
HP=$HTTP_PORT
Q=/modelarts.v1.ServiceLogs/QueryServiceLogs
probe() { $PY "$I/grpc_probe.py" "127.0.0.1:$GP" $Q "$(pb corrupt-p "$1")"; }
code() { curl -s -o "$T/body" -w '%{http_code}' "http://127.0.0.1:$HP/v1/corrupt-p/services/$1/logs"; }
health() { $PY "$I/health_probe.py" "127.0.0.1:$GP" check ''; }
healthz() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HP/healthz"; }
metric() { curl -s "http://127.0.0.1:$HP/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
# every service once; prints how many answered each status, e.g. "36x200 4x500"
sweep() {
  local i
  for i in $(seq 0 39); do code "svc-$i"; echo; done | sort | uniq -c |
    awk '{printf "%s%sx%s", (NR > 1 ? " " : ""), $1, $2}'
}

contains "intact: gRPC OK" "OK - -" "$(probe svc-3)"
check "intact: REST 200" 200 "$(code svc-3)"
check "no corruption counted" 0 "$(metric servicelogs_backend_corrupt_total)"

# ---- one byte of one log, through SQLite, while the server runs ----------
$CDB flip "$DB" svc-3
out=$(probe svc-3)
contains "changed byte: gRPC INTERNAL ModelArts.0010" "INTERNAL ModelArts.0010 modelarts |" "$out"
contains "changed byte: the message says the stored data is corrupt" "stored data is corrupt" "$out"
contains "changed byte: ... names the service and the log" \
  "service svc-3 of project corrupt-p, log 1, update_time 1700000000000: checksum mismatch" "$out"
check "changed byte: REST 500" 500 "$(code svc-3)"
contains "changed byte: REST ModelArts.0010" '"error_code":"ModelArts.0010"' "$(cat "$T/body")"
contains "changed byte: REST message" "stored data is corrupt: service svc-3" "$(cat "$T/body")"
check "the service next to it is served" 200 "$(code svc-4)"
check "counted in /metrics" 2 "$(metric servicelogs_backend_corrupt_total)"
n=$(metric servicelogs_backend_errors_total)
[ "${n:-0}" -ge 2 ] && pass "also a backend error ($n)" || fail "backend_errors_total: $n"
wait_log "$T/c.log" ' warn sqlite:.*stored data is corrupt: service svc-3 of project corrupt-p' 2 ||
  fail "no warn line for each corrupt answer"

# Logs stored before checksums (an older server's import): served while
# intact, byte for byte; refused once a parser would refuse them.
curl -s "http://127.0.0.1:$HP/v1/corrupt-p/services/svc-7/logs" >"$T/before"
$CDB unseal "$DB" svc-7
check "no checksum, intact: REST 200" 200 "$(code svc-7)"
check "no checksum, intact: the same answer" "$(cat "$T/before")" "$(cat "$T/body")"
$CDB unseal "$DB" svc-8 break
out=$(probe svc-8)
contains "no checksum, broken: gRPC INTERNAL" "INTERNAL ModelArts.0010" "$out"
contains "no checksum, broken: says where"   "log 1, update_time 1700000000000: length past the end of the message in ServiceConfig.model_id at byte" "$out"
contains "no checksum, broken: and that the log had no checksum" "(no checksum)" "$out"
"$SERVER" import --backend "sqlite:$DB" "$T/c.json" 2>/dev/null # repairs 3, 7, 8
check "repaired by re-importing" 200 "$(code svc-8)"
$CDB flip "$DB" svc-3
code svc-3 >/dev/null

# One bad service, however often asked for, does not take the server out.
for _ in $(seq 30); do code svc-3 >/dev/null; done
check "one bad service, 30 failed reads and more: still SERVING" SERVING "$(health)"
check "... and /healthz 200" 200 "$(healthz)"

# ---- the same change in three more services: damage that is not local ----
for s in svc-10 svc-20 svc-30; do $CDB flip "$DB" $s; done
s1=$(sweep)
check "4 bad services of 40: 36 served, 4 refused" "36x200 4x500" "$s1"
sweep >/dev/null # 8 failures over 4 services in the last 100 reads
check "many services failing reads: NOT_SERVING" NOT_SERVING "$(wait_eq 10 NOT_SERVING health)"
check "... /healthz 503" 503 "$(healthz)"
check "... while the good services are still served" 200 "$(code svc-5)"
wait_log "$T/c.log" 'warn health: [0-9]+ of the last 100 storage reads failed' ||
  fail "no warn line when health turned NOT_SERVING"

# Repaired by re-importing; reads that succeed bring health back.
"$SERVER" import --backend "sqlite:$DB" "$T/c.json" 2>/dev/null
for _ in 1 2 3; do s2=$(sweep); done
check "re-imported: all served" "40x200" "$s2"
check "re-imported, 120 good reads: SERVING" SERVING "$(wait_eq 10 SERVING health)"
check "... /healthz 200" 200 "$(healthz)"
stop_server "$SERVER_PID" && pass "SIGTERM exits 0" || fail "SIGTERM exit status"

# ---- garbage written into the file (one of its four log pages) -----------
check "garbled one leaf page of logs" 1 "$($CDB garbage "$DB" 1)"
start_server "$T/g.log" --backend "sqlite:$DB" --grpc-listen=127.0.0.1:0 \
  --http-listen=127.0.0.1:0 --health-interval=100ms
GP=$GRPC_PORT
HP=$HTTP_PORT
s3=$(sweep)
count_of() { echo "$s3" | grep -o "[0-9]*x$1" | cut -dx -f1; }
bad=$(count_of 500)
ok=$(count_of 200)
# a page holds the logs of about ten services
[ "${bad:-0}" -ge 3 ] && [ "${bad:-0}" -le 20 ] && pass "garbage: ${bad:-0} of 40 refused with 500 ($s3)" ||
  fail "garbage: want 3..20 services refused with 500, got [$s3]"
[ "${ok:-0}" -ge 20 ] && pass "garbage: the others served ($s3)" || fail "garbage: [$s3]"
check "garbage: no 503 (not a retryable outage)" "" "$(echo "$s3" | grep -o '[0-9]*x503' || true)"
check "garbage: NOT_SERVING" NOT_SERVING "$(wait_eq 10 NOT_SERVING health)"
check "garbage: /healthz 503" 503 "$(healthz)"
n=$(metric servicelogs_backend_corrupt_total)
[ "${n:-0}" -ge "${bad:-1}" ] && pass "garbage: counted ($n)" || fail "garbage: corrupt_total $n < $bad"
stop_server "$SERVER_PID" && pass "SIGTERM exits 0" || fail "SIGTERM exit status"

# ---- PostgreSQL: the same byte changed in a stored log, through psql ------
# In a schema of its own (as test_postgres.sh), dropped at the end.
PG_URI=${SL_TEST_PG_URI:-}
if [ -z "$PG_URI" ]; then
  echo "skipped: the PostgreSQL section (SL_TEST_PG_URI unset)"
  finish
  exit 0
fi
SCHEMA=sl_corrupt_$$
psql_do() { psql -X -q -At -v ON_ERROR_STOP=1 "$1" -c "$2"; }
pg_cleanup() { psql_do "$PG_URI" "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true; }
AT_EXIT+=(pg_cleanup)
psql_do "$PG_URI" "CREATE SCHEMA $SCHEMA"
case "$PG_URI" in
*\?*) PURI="$PG_URI&options=-csearch_path%3D$SCHEMA" ;;
*) PURI="$PG_URI?options=-csearch_path%3D$SCHEMA" ;;
esac
rc=0
"$SERVER" import --backend "$PURI" "$T/c.json" >"$T/pgimport.log" 2>&1 || rc=$?
check "postgres: import" 0 "$rc"
check "postgres: every log stored with its seal" 120 \
  "$(psql_do "$PURI" "SELECT count(*) FROM logs WHERE substring(body from length(body) - 8 for 5) = '\\xfdffffff0f'::bytea")"
start_server "$T/p.log" --backend "$PURI" --grpc-listen=127.0.0.1:0 \
  --http-listen=127.0.0.1:0 --health-interval=100ms
GP=$GRPC_PORT
HP=$HTTP_PORT
curl -s "http://127.0.0.1:$HP/v1/corrupt-p/services/svc-7/logs" >"$T/pg-before"
contains "postgres: intact: gRPC OK" "OK - -" "$(probe svc-3)"
check "postgres: intact: REST 200" 200 "$(code svc-3)"
check "postgres: the same answer as SQLite" "$(cat "$T/before")" "$(cat "$T/pg-before")"
# "model-" -> "mooel-" in the first log of svc-3 (as corrupt_db.py flip)
psql_do "$PURI" "UPDATE logs SET body = overlay(body placing '\\x6f'::bytea
  from position('model-'::bytea in body) + 2 for 1)
  WHERE project_id = 'corrupt-p' AND service_id = 'svc-3'
  AND update_time = 1700000000000"
out=$(probe svc-3)
contains "postgres: changed byte: gRPC INTERNAL ModelArts.0010" "INTERNAL ModelArts.0010 modelarts |" "$out"
contains "postgres: changed byte: names the service and the log" \
  "stored data is corrupt: service svc-3 of project corrupt-p, log 1, update_time 1700000000000: checksum mismatch" "$out"
check "postgres: changed byte: REST 500" 500 "$(code svc-3)"
contains "postgres: changed byte: REST ModelArts.0010" '"error_code":"ModelArts.0010"' "$(cat "$T/body")"
contains "postgres: changed byte: REST message" "stored data is corrupt: service svc-3" "$(cat "$T/body")"
check "postgres: the service next to it is served" 200 "$(code svc-4)"
check "postgres: counted in /metrics" 2 "$(metric servicelogs_backend_corrupt_total)"
wait_log "$T/p.log" ' warn postgres://.*stored data is corrupt: service svc-3 of project corrupt-p' 2 ||
  fail "postgres: no warn line for each corrupt answer"
# Logs stored before seals (an older server's import): served while intact,
# byte for byte; refused once a parser would refuse them.
psql_do "$PURI" "UPDATE logs SET body = substring(body from 1 for length(body) - 9)
  WHERE service_id IN ('svc-7', 'svc-8')"
check "postgres: no checksum, intact: REST 200" 200 "$(code svc-7)"
check "postgres: no checksum, intact: the same answer" "$(cat "$T/pg-before")" "$(cat "$T/body")"
# the length byte of the first "model-..." string of svc-8 -> 0x7f
psql_do "$PURI" "UPDATE logs SET body = overlay(body placing '\\x7f'::bytea
  from position('model-'::bytea in body) - 1 for 1)
  WHERE service_id = 'svc-8' AND update_time = 1700000000000"
out=$(probe svc-8)
contains "postgres: no checksum, broken: gRPC INTERNAL" "INTERNAL ModelArts.0010" "$out"
contains "postgres: no checksum, broken: says where" \
  "log 1, update_time 1700000000000: length past the end of the message in ServiceConfig.model_id at byte" "$out"
contains "postgres: no checksum, broken: and that the log had no checksum" "(no checksum)" "$out"
"$SERVER" import --backend "$PURI" "$T/c.json" >/dev/null 2>&1 || fail "postgres: re-import failed"
check "postgres: repaired by re-importing" 200 "$(code svc-3)"
check "postgres: ... and the unsealed ones" 200 "$(code svc-8)"
# Damage PostgreSQL finds in its own files (SQLSTATE XX001 data_corrupted),
# raised for svc-9 by a view put in place of the logs table.
psql_do "$PURI" "CREATE FUNCTION boom(s text) RETURNS boolean LANGUAGE plpgsql
  AS \$\$ BEGIN IF s = 'svc-9' THEN RAISE EXCEPTION 'invalid page in block 7'
  USING ERRCODE = 'XX001'; END IF; RETURN true; END \$\$;
  ALTER TABLE logs RENAME TO logs_t;
  CREATE VIEW logs AS SELECT * FROM logs_t WHERE boom(service_id)"
out=$(probe svc-9)
contains "postgres: XX001: gRPC INTERNAL ModelArts.0010" "INTERNAL ModelArts.0010" "$out"
contains "postgres: XX001: names the service" \
  "stored data is corrupt: reading service svc-9 of project corrupt-p: invalid page in block 7" "$out"
check "postgres: XX001: REST 500" 500 "$(code svc-9)"
check "postgres: XX001: the others still served" 200 "$(code svc-4)"
stop_server "$SERVER_PID" && pass "postgres: SIGTERM exits 0" || fail "postgres: SIGTERM exit status"
finish
