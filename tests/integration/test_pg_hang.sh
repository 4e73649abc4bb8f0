#!/usr/bin/env bash
# test_pg_hang.sh -- a PostgreSQL server that stops answering (issue 8,
# item 8): the postmaster and every backend frozen with SIGSTOP, so TCP
# still connects (the kernel answers) but nothing ever replies. Wanted:
#   - every call is answered by its deadline, the earlier of the client's
#     (20 s here) and --query-timeout (1 s): DEADLINE_EXCEEDED or
#     UNAVAILABLE within 2.5 s, on both workers at once (--threads=2,
#     several client connections), over gRPC and REST;
#   - health goes NOT_SERVING (gRPC Check, /healthz 503) while it lasts;
#   - after the thaw, health is SERVING again and calls succeed, without
#     restarting the server.
#
# The cluster is the test's own, never the shared SL_TEST_PG_URI one, and
# is thawed and stopped at exit whatever happens (pg_own.sh). Start-up and
# import against a frozen server: test_pg_hang_start.sh.
# Skipped without SL_TEST_PG_URI, like test_postgres.sh (no PostgreSQL
# here, or a build without the backend).
. "$(dirname "$0")/lib.sh"
# The faults here happen under the store's feet (no write, no change in
# the feed): every query must reach the store, so no response cache
# (--cache-bytes; test_cache.sh tests it).
export SERVICELOGS_CACHE_BYTES=0

[ -n "${SL_TEST_PG_URI:-}" ] || skip "SL_TEST_PG_URI unset"
. "$I/pg_own.sh"
EXP=$SL_SRC/tests/integration/expected
LIMIT_MS=2500 # --query-timeout (1 s) plus a margin for a busy machine

pg_own_start
URI=$PG_OWN_URI
if ! "$SERVER" import --backend "$URI" "$SL_SRC/demo/demo.json" >"$T/import.log" 2>&1; then
  grep -q "unknown backend scheme" "$T/import.log" &&
    skip "this build has no PostgreSQL backend (-DSL_WITH_PG=OFF)"
  cat "$T/import.log" >&2
  fail "import demo.json"
fi

start_server "$T/server.log" --backend "$URI" --grpc-listen=127.0.0.1:0 \
  --http-listen=127.0.0.1:0 --threads=2 --query-timeout=1s \
  --health-interval=200ms
GP=$GRPC_PORT
HP=$HTTP_PORT
hp() { $PY "$I/health_probe.py" "127.0.0.1:$GP" check ''; }
healthz() { curl -s -o /dev/null -w '%{http_code}' --max-time 20 "http://127.0.0.1:$HP/healthz"; }
cli() { "$CLI" query --addr "127.0.0.1:$GP" --timeout-ms 20000 "$@"; }
query_ok() { cli --project demo-project --service mnist-svc >"$T/q" 2>&1; }

check "before: SERVING" SERVING "$(wait_eq 30 SERVING hp)"
query_ok || fail "before: query: $(cat "$T/q")"
cmp -s "$EXP/mnist.json" "$T/q" && pass "before: answer" || fail "before: answer differs"

# calls NAME: N calls at once on N connections (12; 6 after the thaw),
# 20 s client deadline; each must come back DEADLINE_EXCEEDED or
# UNAVAILABLE within LIMIT_MS. A REST call (the shim waits for the server)
# goes alongside: 504 or 503. Sets HELD: how many of them (REST included)
# took their full deadline (DEADLINE_EXCEEDED, 504): each worker's first
# call on a connection that hangs does, later ones do not.
N=12
calls() {
  local name=$1 status ms n=0 bad=0 max=0 rest
  HELD=0
  curl -s -o "$T/rest" -w '%{http_code} %{time_total}' --max-time 25 \
    "http://127.0.0.1:$HP/v1/demo-project/services/mnist-svc/logs" >"$T/rest.w" &
  local curl_pid=$!
  $PY "$I/pg_hang_calls.py" "127.0.0.1:$GP" demo-project mnist-svc $N 20 >"$T/calls" ||
    fail "$name: pg_hang_calls.py failed"
  wait "$curl_pid" || true
  while read -r status ms; do
    n=$((n + 1))
    [ "$ms" -gt "$max" ] && max=$ms
    case "$status" in
    DEADLINE_EXCEEDED | UNAVAILABLE) [ "$ms" -lt "$LIMIT_MS" ] || bad=$((bad + 1)) ;;
    *) bad=$((bad + 1)) ;;
    esac
    [ "$status" != DEADLINE_EXCEEDED ] || HELD=$((HELD + 1))
  done <"$T/calls"
  echo "  $name: $(tr '\n' ' ' <"$T/calls")| REST $(cat "$T/rest.w")"
  check "$name: $N calls answered" $N "$n"
  check "$name: each DEADLINE_EXCEEDED/UNAVAILABLE within ${LIMIT_MS} ms (slowest ${max} ms)" 0 "$bad"
  read -r rest ms <"$T/rest.w" || true
  case "$rest" in 503 | 504) pass "$name: REST $rest" ;; *) fail "$name: REST status $rest" ;; esac
  [ "$rest" != 504 ] || HELD=$((HELD + 1))
  ms=$(awk -v s="${ms:-99}" 'BEGIN { printf "%d", s * 1000 }')
  [ "$ms" -lt "$LIMIT_MS" ] && pass "$name: REST within ${LIMIT_MS} ms ($ms ms)" ||
    fail "$name: REST took $ms ms"
}

freeze
calls "frozen, first calls"
# 13 connections, each bound to one of the 2 workers: both are all but
# certain to have had a call (all on one: p = 2^-12), and each worker's
# first call waits its whole deadline, concurrently with the other's.
[ "$HELD" -ge 2 ] && pass "frozen: both workers held a call to its deadline ($HELD)" ||
  fail "frozen: $HELD call(s) held to the deadline; want one per worker (2)"
check "frozen: NOT_SERVING" NOT_SERVING "$(wait_eq 15 NOT_SERVING hp)"
check "frozen: /healthz 503" 503 "$(healthz)"
calls "frozen, later calls"
check "frozen: still NOT_SERVING" NOT_SERVING "$(hp)"

thaw
check "thawed: SERVING" SERVING "$(wait_eq 30 SERVING hp)"
wait_for 10 query_ok || fail "thawed: no query succeeded: $(cat "$T/q")"
ok=0
for i in 1 2 3 4 5 6 7 8; do # both workers' connections
  query_ok && cmp -s "$EXP/mnist.json" "$T/q" && ok=$((ok + 1))
done
check "thawed: 8 queries in a row" 8 "$ok"
$PY "$I/pg_hang_calls.py" "127.0.0.1:$GP" demo-project mnist-svc 6 20 >"$T/calls" || true
check "thawed: 6 calls at once" "OK OK OK OK OK OK" "$(cut -d' ' -f1 "$T/calls" | tr '\n' ' ' | sed 's/ $//')"
check "thawed: /healthz 200" 200 "$(healthz)"
check "same process throughout" 1 "$(kill -0 "$SERVER_PID" 2>/dev/null && echo 1)"
stop_server "$SERVER_PID" && pass "SIGTERM exits 0" || fail "SIGTERM exit status $?"
finish
