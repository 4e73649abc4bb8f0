#!/usr/bin/env bash
# test_startup.sh -- start-up failures exit non-zero with one clear line;
# import is all-or-nothing and idempotent; the memory backend serves an
# --import file.
. "$(dirname "$0")/lib.sh"

# expect_fail NAME STATUS NEEDLE ARGS...: runs the server, which must exit
# with STATUS at once and print one line containing NEEDLE.
expect_fail() {
  local name=$1 want=$2 needle=$3
  shift 3
  local rc=0
  timeout 10 "$SERVER" "$@" >"$T/out" 2>"$T/err" || rc=$?
  check "$name: exit status" "$want" "$rc"
  local err
  err=$(grep -v '^[0-9T:.-]*Z info ' "$T/err" || true)
  contains "$name: message" "$needle" "$err"
  check "$name: one line" 1 "$(printf '%s\n' "$err" | wc -l)"
}

# Servers that must fail at start-up ask for port 0 (any free port): they
# exit before serving, or fail for the reason under test before binding.
P=0
expect_fail "unknown flag" 2 "unknown option '--bogus'" serve --bogus
expect_fail "bad threads value" 2 "--threads: 'x' is not an integer from 0 to 256" --threads x
expect_fail "bad timeout value" 2 "--upstream-timeout" --upstream-timeout=soon
SERVICELOGS_THREADS=lots expect_fail "bad env value" 2 "SERVICELOGS_THREADS" --grpc-listen=127.0.0.1:$P --http-listen=
expect_fail "unknown backend scheme" 1 "unknown backend scheme 'mongo'" --backend mongo://x --grpc-listen=127.0.0.1:$P --http-listen=
echo "this is not a database, just text that is long enough to have a header ......................................" >"$T/notdb"
expect_fail "file that is not a database" 1 "$T/notdb" --backend "sqlite:$T/notdb" --grpc-listen=127.0.0.1:$P --http-listen=
expect_fail "sqlite path in a missing directory" 1 "$T/missing/x.db" --backend "sqlite:$T/missing/x.db" --grpc-listen=127.0.0.1:$P --http-listen=

# protected mode: beyond loopback only with --auth-tokens or --insecure
expect_fail "protected mode (gRPC)" 2 "refusing to listen on 0.0.0.0:$P without --auth-tokens" \
  --backend memory: --grpc-listen=0.0.0.0:$P --http-listen=
expect_fail "protected mode (REST)" 2 "refusing to listen on 0.0.0.0:$P without --auth-tokens" \
  --backend memory: --grpc-listen=127.0.0.1:$P --http-listen=0.0.0.0:$P
expect_fail "missing tokens file" 1 "$T/no-tokens" --backend memory: \
  --grpc-listen=0.0.0.0:$P --http-listen= --auth-tokens "$T/no-tokens"
printf 'tok demo-project\nbroken\n' >"$T/bad-tokens"
expect_fail "bad tokens file" 1 "$T/bad-tokens: line 2: expected TOKEN PROJECT_ID" \
  --backend memory: --grpc-listen=127.0.0.1:$P --http-listen= --auth-tokens "$T/bad-tokens"
for mode in "--insecure" "--auth-tokens=$T/tokens"; do
  echo "tok demo-project" >"$T/tokens"
  start_server "$T/open.log" --backend memory: --grpc-listen=0.0.0.0:0 --http-listen= "$mode"
  stop_server "$SERVER_PID" && pass "0.0.0.0 with $mode serves and exits 0" || fail "0.0.0.0 with $mode"
done

# busy gRPC port (gRPC 1.51 would share it silently through SO_REUSEPORT):
# one a helper process listens on
hold_port busy
BUSY=$HELD_PORT
expect_fail "busy gRPC port" 1 "cannot listen on 127.0.0.1:$BUSY" --backend memory: --grpc-listen=127.0.0.1:$BUSY --http-listen=
expect_fail "busy HTTP port" 1 "127.0.0.1:$BUSY" --backend memory: --grpc-listen=127.0.0.1:$P --http-listen=127.0.0.1:$BUSY

# a second server on a port our own server holds
start_server "$T/s1.log" --backend memory: --grpc-listen=127.0.0.1:0 --http-listen=
GP=$GRPC_PORT
expect_fail "port held by another servicelogs" 1 "cannot listen on 127.0.0.1:$GP" --backend memory: --grpc-listen=127.0.0.1:$GP --http-listen=
stop_server "$SERVER_PID" && pass "SIGTERM exits 0" || fail "SIGTERM exit status"

# import: all or nothing, idempotent, errors name the JSON path
DB=$T/imp.db
"$SERVER" import --backend "sqlite:$DB" "$SL_SRC/demo/demo.json" 2>/dev/null
data1=$(sqlite3 "$DB" ".dump services logs")
"$SERVER" import --backend "sqlite:$DB" "$SL_SRC/demo/demo.json" 2>/dev/null
check "re-import leaves the services and logs unchanged" "$data1" \
  "$(sqlite3 "$DB" ".dump services logs")"
# (the change feed records the replacement: watchers re-read)
check "re-import recorded in the change feed" 6 \
  "$(sqlite3 "$DB" "SELECT value FROM meta WHERE key = 'feed_seq'")"
dump1=$(sqlite3 "$DB" .dump)
sed 's/"FAIL"/"BROKEN"/' "$SL_SRC/demo/demo.json" >"$T/bad.json"
sed -i 's/"mnist"/"renamed"/' "$T/bad.json"
rc=0
"$SERVER" import --backend "sqlite:$DB" "$T/bad.json" 2>"$T/err" || rc=$?
check "bad import: exit status" 1 "$rc"
contains "bad import: names the path" "services[1].logs[0].result: expected SUCCESS, FAIL or RUNNING" "$(cat "$T/err")"
check "bad import wrote nothing" "$dump1" "$(sqlite3 "$DB" .dump)"
# --if-empty: a database that holds services is left alone; an empty one
# (here: an existing file with the schema and no service) gets the import
"$SERVER" import --if-empty --backend "sqlite:$DB" "$T/bad.json" 2>"$T/err"
check "--if-empty on a database with services: unchanged" "$dump1" "$(sqlite3 "$DB" .dump)"
contains "--if-empty says why" "already holds 3 services" "$(cat "$T/err")"
EMPTY=$T/empty.db
printf '{"services": []}' >"$T/none.json"
"$SERVER" import --backend "sqlite:$EMPTY" "$T/none.json" 2>/dev/null
"$SERVER" import --if-empty --backend "sqlite:$EMPTY" "$SL_SRC/demo/demo.json" 2>/dev/null
check "--if-empty on an empty database imports" 3 "$(sqlite3 "$EMPTY" 'SELECT count(*) FROM services')"

rc=0
"$SERVER" import --backend "sqlite:$DB" "$T/missing.json" 2>"$T/err" || rc=$?
check "missing import file: exit status" 1 "$rc"
contains "missing import file: names it" "$T/missing.json" "$(cat "$T/err")"
rc=0
"$SERVER" import --backend "sqlite:$DB" 2>"$T/err" || rc=$?
check "import without FILE: usage" 2 "$rc"

# memory backend with --import, and a clean SIGTERM
start_server "$T/mem.log" --backend memory: --import "$SL_SRC/demo/demo.json" \
  --grpc-listen=127.0.0.1:0 --http-listen=
GP=$GRPC_PORT
out=$("$CLI" query --addr 127.0.0.1:$GP --project demo-project --service mnist-svc)
check "memory backend serves the imported file" "$(cat "$SL_SRC/tests/integration/expected/mnist.json")" "$out"
stop_server "$SERVER_PID" && pass "memory: SIGTERM exits 0" || fail "memory: SIGTERM exit status"
finish
