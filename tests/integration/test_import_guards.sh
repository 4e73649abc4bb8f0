#!/usr/bin/env bash
# test_import_guards.sh -- what an import promises, end to end on real
# processes (issue 8 item 11: each was guarded by one unit test only):
# 1. logs imported out of update_time order come back oldest first (ties in
#    file order), over gRPC (our CLI) and REST (curl), on SQLite, on the
#    memory backend (serve --import) and on PostgreSQL (SL_TEST_PG_URI);
# 2. a negative weight (a number or a string) is refused by the import:
#    exit status 1, one line naming the JSON path, nothing stored -- not
#    even the file's valid services;
# 3. an import whose file parses but which fails in the store, half-way
#    through its transaction (a trigger raises on the last service's logs,
#    after the earlier services were written), leaves the backend holding
#    exactly what it held, while a server keeps serving it; the same file
#    imports once the trigger is gone, so it was the store that failed.
# The PostgreSQL parts run only with SL_TEST_PG_URI (and a server built
# with the backend); they say so when they do not.
. "$(dirname "$0")/lib.sh"

FIX=$SL_SRC/tests/fixtures
EXP=$SL_SRC/tests/integration/expected
# What each fixture service must answer: the model_version of its logs,
# oldest first, ties in file order (out_of_order.json lists them shuffled).
RT_ORDER="999:v1 1700000100000:v2 1700000200000:v3a 1700000200000:v3b 1700000300000:v4 4102444800000:v5"
EDGE_ORDER="10:e1 20:e2 30:e3"

# order FILE: "update_time:model_version ..." of the JSON document in FILE.
order() {
  $PY -c 'import json,sys
d = json.load(open(sys.argv[1]))
print(" ".join("%d:%s" % (l["update_time"], l["config"][0]["model_version"]) for l in d["logs"]))' "$1" 2>/dev/null ||
    echo "not a document: $(head -c 200 "$1")"
}

# check_order WHAT GRPC_PORT HTTP_PORT: both services, both paths.
check_order() {
  local what=$1 gp=$2 hp=$3 svc want rc code
  for svc in shuffled-svc shuffled-edge; do
    want=$RT_ORDER
    [ "$svc" = shuffled-edge ] && want=$EDGE_ORDER
    rc=0
    "$CLI" query --addr "127.0.0.1:$gp" --project demo-project --service "$svc" >"$T/g.json" 2>"$T/g.err" || rc=$?
    check "$what gRPC $svc: exit 0" 0 "$rc"
    check "$what gRPC $svc: oldest first" "$want" "$(order "$T/g.json")"
    code=$(curl -s -o "$T/r.json" -w '%{http_code}' "http://127.0.0.1:$hp/v1/demo-project/services/$svc/logs") || true
    check "$what REST $svc: 200" 200 "$code"
    check "$what REST $svc: oldest first" "$want" "$(order "$T/r.json")"
    if cmp -s "$T/g.json" "$T/r.json"; then
      pass "$what $svc: gRPC and REST documents identical"
    else
      fail "$what $svc: gRPC and REST documents differ"
    fi
  done
  # One update_time: both logs of the tie, in file order.
  "$CLI" query --addr "127.0.0.1:$gp" --project demo-project --service shuffled-svc \
    --update-time 1700000200000 >"$T/g.json" 2>/dev/null || true
  check "$what gRPC one update_time: the tie in file order" \
    "1700000200000:v3a 1700000200000:v3b" "$(order "$T/g.json")"
}

# digest_sqlite DB: everything stored, in key order, and the row counts.
digest_sqlite() {
  $PY - "$1" <<'PY'
import hashlib, sqlite3, sys
c = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
h = hashlib.sha256()
n = []
for q in ("SELECT project_id, service_id, service_name, infer_type"
          " FROM services ORDER BY 1, 2",
          "SELECT project_id, service_id, update_time, seq, hex(body)"
          " FROM logs ORDER BY 1, 2, 3, 4"):
    rows = c.execute(q).fetchall()
    n.append(len(rows))
    for r in rows:
        h.update(repr(r).encode())
print(h.hexdigest()[:16], "services=%d logs=%d" % tuple(n))
PY
}

# ---- SQLite ---------------------------------------------------------------
DB=$T/g.db
"$SERVER" import --backend "sqlite:$DB" "$FIX/demo.json" >/dev/null 2>&1 || fail "import demo.json"
rc=0
"$SERVER" import --backend "sqlite:$DB" "$FIX/out_of_order.json" >"$T/imp.log" 2>&1 || rc=$?
check "sqlite: import out_of_order.json" 0 "$rc"
contains "sqlite: the import counts every log" "2 services, 9 logs" "$(cat "$T/imp.log")"
start_server "$T/s.log" --backend "sqlite:$DB" --grpc-listen=127.0.0.1:0 \
  --http-listen=127.0.0.1:0 --threads=2
PID=$SERVER_PID
GP=$GRPC_PORT
HP=$HTTP_PORT
check_order "sqlite:" "$GP" "$HP"

# 2. negative weights, while the server serves the same file
D0=$(digest_sqlite "$DB")
for f in bad_negative_weight bad_negative_weight_string; do
  rc=0
  "$SERVER" import --backend "sqlite:$DB" "$FIX/$f.json" >"$T/neg.out" 2>"$T/neg.err" || rc=$?
  check "sqlite $f: exit status 1" 1 "$rc"
  contains "sqlite $f: the message names the JSON path" \
    "services[1].logs[0].config[1].weight: " "$(cat "$T/neg.err")"
  check "sqlite $f: one line on stderr" 1 "$(wc -l <"$T/neg.err")"
  check "sqlite $f: nothing stored" "$D0" "$(digest_sqlite "$DB")"
done
contains "a negative number: out of range" "weight: out of range (0 to 100)" \
  "$("$SERVER" import --backend "sqlite:$DB" "$FIX/bad_negative_weight.json" 2>&1 || true)"
for svc in weights-ok-svc weights-bad-svc; do
  rc=0
  "$CLI" query --addr "127.0.0.1:$GP" --project demo-project --service "$svc" >/dev/null 2>&1 || rc=$?
  check "negative weight: $svc not served (gRPC NOT_FOUND)" 4 "$rc"
  check "negative weight: $svc not served (REST 404)" 404 \
    "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HP/v1/demo-project/services/$svc/logs")"
done

# 3. failing in the store, half-way. The file replaces mnist-svc (renamed,
# other logs), adds fresh-svc, and ends with poison-svc, whose first log
# the trigger refuses: by then the first two services are written inside
# the transaction.
cat >"$T/changed.json" <<'JSON'
{"services": [
 {"project_id": "demo-project", "service_id": "mnist-svc", "service_name": "renamed", "infer_type": "real-time",
  "logs": [{"update_time": 5, "result": "SUCCESS", "config": [{"model_id": "m", "model_name": "n", "model_version": "replaced", "weight": 1}]}]},
 {"project_id": "demo-project", "service_id": "fresh-svc", "service_name": "fresh", "infer_type": "real-time",
  "logs": [{"update_time": 6, "result": "SUCCESS", "config": [{"model_id": "m", "model_name": "n", "model_version": "1", "weight": 2}]}]},
 {"project_id": "demo-project", "service_id": "poison-svc", "service_name": "poison", "infer_type": "real-time",
  "logs": [{"update_time": 7, "result": "SUCCESS", "config": [{"model_id": "m", "model_name": "n", "model_version": "1", "weight": 3}]}]}
]}
JSON
$PY - "$DB" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("CREATE TRIGGER poison BEFORE INSERT ON logs"
          " WHEN NEW.service_id = 'poison-svc'"
          " BEGIN SELECT RAISE(ABORT, 'poisoned by the test'); END")
c.commit()
PY
D1=$(digest_sqlite "$DB")
rc=0
"$SERVER" import --backend "sqlite:$DB" "$T/changed.json" >"$T/st.out" 2>"$T/st.err" || rc=$?
check "sqlite store failure: exit status 1" 1 "$rc"
contains "sqlite store failure: says nothing changed, and why" \
  "import failed, nothing changed: poisoned by the test" "$(cat "$T/st.err")"
check "sqlite store failure: the backend holds what it held" "$D1" "$(digest_sqlite "$DB")"
"$CLI" query --addr "127.0.0.1:$GP" --project demo-project --service mnist-svc >"$T/m.json" 2>/dev/null || true
check "sqlite store failure: gRPC serves the old mnist-svc" "$(cat "$EXP/mnist.json")" "$(cat "$T/m.json")"
curl -s -o "$T/m.json" "http://127.0.0.1:$HP/v1/demo-project/services/mnist-svc/logs" || true
check "sqlite store failure: REST serves the old mnist-svc" "$(cat "$EXP/mnist.json")" "$(cat "$T/m.json")"
rc=0
"$CLI" query --addr "127.0.0.1:$GP" --project demo-project --service fresh-svc >/dev/null 2>&1 || rc=$?
check "sqlite store failure: fresh-svc not served" 4 "$rc"
# Without the trigger the same file imports: the parser was never the one
# that failed.
$PY -c 'import sqlite3,sys; c = sqlite3.connect(sys.argv[1]); c.execute("DROP TRIGGER poison"); c.commit()' "$DB"
rc=0
"$SERVER" import --backend "sqlite:$DB" "$T/changed.json" >/dev/null 2>&1 || rc=$?
check "sqlite: the same file imports without the trigger" 0 "$rc"
rc=0
"$CLI" query --addr "127.0.0.1:$GP" --project demo-project --service fresh-svc >/dev/null 2>&1 || rc=$?
check "sqlite: then fresh-svc is served" 0 "$rc"
stop_server "$PID" && pass "sqlite: SIGTERM exits 0" || fail "sqlite: SIGTERM exit status"

# ---- memory backend (serve --import) -----------------------------------
start_server "$T/m.log" --backend memory: --import "$FIX/out_of_order.json" \
  --grpc-listen=127.0.0.1:0 --http-listen=127.0.0.1:0 --threads=2
PID=$SERVER_PID
check_order "memory:" "$GRPC_PORT" "$HTTP_PORT"
stop_server "$PID" && pass "memory: SIGTERM exits 0" || fail "memory: SIGTERM exit status"

# ---- PostgreSQL (SL_TEST_PG_URI) ---------------------------------------
PG_URI=${SL_TEST_PG_URI:-}
if [ -z "$PG_URI" ]; then
  echo "note: the PostgreSQL parts did not run: SL_TEST_PG_URI unset"
elif "$SERVER" import --backend "postgres://127.0.0.1:1/x" /dev/null 2>&1 | grep -q 'unknown backend scheme'; then
  echo "note: the PostgreSQL parts did not run: server built without the backend"
else
  SCHEMA=sl_guard_$$
  sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$1" -c "$2"; }
  pg_cleanup() { sql "$PG_URI" "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true; }
  AT_EXIT+=(pg_cleanup)
  sql "$PG_URI" "CREATE SCHEMA $SCHEMA"
  case "$PG_URI" in
  *\?*) URI="$PG_URI&options=-csearch_path%3D$SCHEMA" ;;
  *) URI="$PG_URI?options=-csearch_path%3D$SCHEMA" ;;
  esac
  digest_pg() {
    sql "$URI" "SELECT md5(coalesce((SELECT string_agg(format('%s|%s|%s|%s|%s',
        project_id, service_id, update_time, seq, encode(body, 'hex')), ';'
        ORDER BY project_id, service_id, update_time, seq) FROM logs), '')
      || coalesce((SELECT string_agg(format('%s|%s|%s|%s', project_id,
        service_id, service_name, infer_type), ';' ORDER BY project_id,
        service_id) FROM services), ''))
      || ' services=' || (SELECT count(*) FROM services)
      || ' logs=' || (SELECT count(*) FROM logs)"
  }
  "$SERVER" import --backend "$URI" "$FIX/demo.json" >/dev/null 2>&1 || fail "pg: import demo.json"
  "$SERVER" import --backend "$URI" "$FIX/out_of_order.json" >/dev/null 2>&1 || fail "pg: import out_of_order.json"
  start_server "$T/pg.log" --backend "$URI" --grpc-listen=127.0.0.1:0 \
    --http-listen=127.0.0.1:0 --threads=2
  PID=$SERVER_PID
  GP=$GRPC_PORT
  HP=$HTTP_PORT
  check_order "pg:" "$GP" "$HP"
  P0=$(digest_pg)
  for f in bad_negative_weight bad_negative_weight_string; do
    rc=0
    "$SERVER" import --backend "$URI" "$FIX/$f.json" >/dev/null 2>"$T/neg.err" || rc=$?
    check "pg $f: exit status 1" 1 "$rc"
    contains "pg $f: the message names the JSON path" \
      "services[1].logs[0].config[1].weight: " "$(cat "$T/neg.err")"
    check "pg $f: nothing stored" "$P0" "$(digest_pg)"
  done
  sql "$URI" "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS
    \$\$BEGIN RAISE EXCEPTION 'poisoned by the test'; END\$\$;
    CREATE TRIGGER poison BEFORE INSERT ON logs FOR EACH ROW
    WHEN (NEW.service_id = 'poison-svc') EXECUTE FUNCTION poison()"
  rc=0
  "$SERVER" import --backend "$URI" "$T/changed.json" >/dev/null 2>"$T/st.err" || rc=$?
  check "pg store failure: exit status 1" 1 "$rc"
  contains "pg store failure: says nothing changed, and why" \
    "import failed, nothing changed: poisoned by the test" "$(cat "$T/st.err")"
  check "pg store failure: the backend holds what it held" "$P0" "$(digest_pg)"
  "$CLI" query --addr "127.0.0.1:$GP" --project demo-project --service mnist-svc >"$T/m.json" 2>/dev/null || true
  check "pg store failure: gRPC serves the old mnist-svc" "$(cat "$EXP/mnist.json")" "$(cat "$T/m.json")"
  sql "$URI" "DROP TRIGGER poison ON logs; DROP FUNCTION poison()"
  rc=0
  "$SERVER" import --backend "$URI" "$T/changed.json" >/dev/null 2>&1 || rc=$?
  check "pg: the same file imports without the trigger" 0 "$rc"
  stop_server "$PID" && pass "pg: SIGTERM exits 0" || fail "pg: SIGTERM exit status"
fi
finish
