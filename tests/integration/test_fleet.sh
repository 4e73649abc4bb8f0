#!/usr/bin/env bash
# test_fleet.sh -- three replicas on one PostgreSQL behind HAProxy (issue
# 11): the fleet the README's "Scale-out" section describes, on real
# processes, started and stopped here.
#
#   PostgreSQL: a throw-away cluster of its own (scripts/pg-test-server.sh),
#     since the test stops and starts it.
#   r1 r2 r3: servicelogs-server, gRPC and REST (in-process shim) each on
#     port 0, --health-interval=200ms, --drain-delay=1500ms.
#   HAProxy (Debian's 2.6): one h2c frontend for gRPC, balanced per call
#     (HTTP mode: every HTTP/2 stream is routed on its own, `proto h2` to
#     the replicas), one HTTP/1.1 frontend for REST; both on listeners
#     fleet_haproxy.py binds to port 0 and hands over (`bind fd@N`).
#     Health check: GET /healthz on each replica's REST port, every 250 ms,
#     down after 2 failures, up after 2 successes. Not gRPC health: HAProxy
#     2.6's http-check cannot send a gRPC request (a length-prefixed
#     protobuf body with NUL bytes) nor read grpc-status from the trailers;
#     /healthz answers from the same state as grpc.health.v1.Health
#     (README: Health), NOT_SERVING included (a drain, a lost database).
#
# Then it shows, with a bounded loader (fleet_load.py: 2 gRPC callers on
# one channel and 1 REST caller, through HAProxy, about 150 calls/s):
#   1. identical answers, byte for byte, from each replica and through
#      the balancer (raw gRPC bytes, the CLI's JSON, the REST bodies), and
#      per-call balancing (30 calls on one HTTP/2 connection reach all
#      three replicas);
#   2. a log recorded through r1 reaches a watcher on r2 within 1 s;
#   3. PostgreSQL stopped under load: every failed call is UNAVAILABLE /
#      503, each replica answers 503 ModelArts.4302 directly; PostgreSQL
#      started again: every replica is SERVING again, same processes, and
#      no call fails once HAProxy has them back;
#   4. r3 SIGKILLed under load: HAProxy takes it out, and no call fails
#      from 1.5 s after the kill (2 checks of 250 ms, plus margin);
#   5. r2 SIGTERMed under load (--drain-delay: health NOT_SERVING first,
#      so HAProxy steers away before the listener goes): no call fails,
#      and r2 exits 0.
# Figures (errors per window, times to DOWN and back UP) go to stdout.
. "$(dirname "$0")/lib.sh"

need_pg
command -v haproxy >/dev/null ||
  { fail "haproxy is not installed (scripts/install-deps.sh --test)"; finish; }
[ "${SL_SANITIZE:-OFF}" = ON ] && [ "${SL_FLEET_ASAN:-0}" != 1 ] &&
  skip "timing-bound fleet test: the Release build runs it (SL_FLEET_ASAN=1 forces it)"

PGCTL=$SL_SRC/scripts/pg-test-server.sh
PGD=/tmp/sl-it-fleet.$$ # its owner (postgres, as root) must reach it
HAP="$PY $I/fleet_haproxy.py"
LOAD="$PY $I/fleet_load.py"
P=demo-project
S=mnist-svc
fleet_cleanup() { "$PGCTL" stop "$PGD" >/dev/null 2>&1 || true; }
AT_EXIT+=(fleet_cleanup)

now() { printf '%s' "$EPOCHREALTIME"; }
ms_since() { $PY -c "import time; print(int((time.time() - $1) * 1000))"; }
sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$URI" -c "$1"; }

URI=$("$PGCTL" start "$PGD")
"$SERVER" import --backend "$URI" "$SL_SRC/demo/demo.json" >/dev/null 2>&1 ||
  fail "import the demo"

# ---- three replicas -------------------------------------------------------
declare -a RPID RG RH
for i in 1 2 3; do
  start_server "$T/r$i.log" --backend "$URI?application_name=sl_fleet_r$i" \
    --grpc-listen=127.0.0.1:0 --http-listen=127.0.0.1:0 --threads=2 \
    --http-threads=4 --health-interval=200ms --drain-delay=1500ms \
    --shutdown-grace=5s
  RPID[$i]=$SERVER_PID
  RG[$i]=$GRPC_PORT
  RH[$i]=$HTTP_PORT
done

# ---- HAProxy ----------------------------------------------------------------
cat >"$T/haproxy.cfg" <<CFG
global
  maxconn 2000
  stats socket $T/hap.sock mode 600 level admin
defaults
  mode http
  timeout connect 1s
  timeout client 60s
  timeout server 60s
  timeout check 1s
  retries 2
  option redispatch 1
  default-server inter 250ms fastinter 250ms downinter 250ms fall 2 rise 2
frontend grpc_in
  bind fd@3 proto h2
  default_backend grpc_replicas
frontend rest_in
  bind fd@4
  default_backend rest_replicas
backend grpc_replicas
  balance roundrobin
  option httpchk GET /healthz
  http-check expect status 200
$(for i in 1 2 3; do
  echo "  server r$i 127.0.0.1:${RG[$i]} proto h2 check port ${RH[$i]} check-proto h1"
done)
backend rest_replicas
  balance roundrobin
  option httpchk GET /healthz
  http-check expect status 200
$(for i in 1 2 3; do echo "  server r$i 127.0.0.1:${RH[$i]} check"; done)
CFG
$HAP run "$T/hap.ports" 2 "$T/haproxy.cfg" >"$T/hap.log" 2>&1 &
HAP_PID=$!
PIDS+=("$HAP_PID")
wait_for "$WAIT" test -f "$T/hap.ports" || fail "HAProxy's ports"
hap_up() { [ -S "$T/hap.sock" ] || gone "$HAP_PID"; }
wait_for "$WAIT" hap_up
gone "$HAP_PID" && fail "HAProxy exited: $(cat "$T/hap.log")"
HG=$(sed -n 's/^L0=//p' "$T/hap.ports")
HR=$(sed -n 's/^L1=//p' "$T/hap.ports")
openapi_port "$HR" # HAProxy forwards the shims' answers: checked as theirs
hstate() { $HAP state "$T/hap.sock" 2>/dev/null | sort | tr '\n' ' '; }
ALL_UP="grpc_replicas/r1 UP grpc_replicas/r2 UP grpc_replicas/r3 UP rest_replicas/r1 UP rest_replicas/r2 UP rest_replicas/r3 UP "
check "HAProxy: every replica UP (gRPC and REST)" "$ALL_UP" \
  "$(wait_eq 20 "$ALL_UP" hstate)"

# ---- 1. identical answers --------------------------------------------------
same_everywhere() { # NAME CMD-TEMPLATE: runs it for each replica and HAProxy
  local name=$1 first="" out
  shift
  for a in "$@"; do
    out=$(eval "$a" 2>&1) || true
    if [ -z "$first" ]; then
      first=$out
      [ -n "$first" ] || fail "$name: empty answer from [$a]"
    elif [ "$out" != "$first" ]; then
      fail "$name: [$a] differs: [${out:0:120}] vs [${first:0:120}]"
      return
    fi
  done
  pass "$name: the same bytes from r1, r2, r3 and HAProxy (${#first} chars)"
}
for svc in mnist-svc edge-svc batch-svc no-such-svc; do
  same_everywhere "raw gRPC $svc" \
    "$LOAD raw 127.0.0.1:${RG[1]} $P $svc" "$LOAD raw 127.0.0.1:${RG[2]} $P $svc" \
    "$LOAD raw 127.0.0.1:${RG[3]} $P $svc" "$LOAD raw 127.0.0.1:$HG $P $svc"
  same_everywhere "CLI $svc" \
    "$CLI query --addr 127.0.0.1:${RG[1]} --project $P --service $svc" \
    "$CLI query --addr 127.0.0.1:${RG[2]} --project $P --service $svc" \
    "$CLI query --addr 127.0.0.1:${RG[3]} --project $P --service $svc" \
    "$CLI query --addr 127.0.0.1:$HG --project $P --service $svc"
  same_everywhere "REST $svc" \
    "curl -s -w ' %{http_code}' http://127.0.0.1:${RH[1]}/v1/$P/services/$svc/logs" \
    "curl -s -w ' %{http_code}' http://127.0.0.1:${RH[2]}/v1/$P/services/$svc/logs" \
    "curl -s -w ' %{http_code}' http://127.0.0.1:${RH[3]}/v1/$P/services/$svc/logs" \
    "curl -s -w ' %{http_code}' http://127.0.0.1:$HR/v1/$P/services/$svc/logs"
done
check "the CLI's JSON is the REST body" \
  "$(curl -s "http://127.0.0.1:$HR/v1/$P/services/$S/logs")" \
  "$("$CLI" query --addr "127.0.0.1:$HG" --project $P --service $S)"

check "30 calls on one HTTP/2 connection through HAProxy" "ok 30/30" \
  "$($LOAD rr "127.0.0.1:$HG" 30 fleet-rr $P $S)"
for i in 1 2 3; do
  n=$(grep -c '"request_id":"fleet-rr-' "$T/r$i.log" || true)
  [ "$n" -ge 5 ] && pass "per-call balancing: r$i served $n of the 30" ||
    fail "per-call balancing: r$i served [$n] of the 30"
done

# ---- 2. a write through r1, a watcher on r2 --------------------------------
log_json() {
  printf '{"update_time": %s, "result": "%s", "config": [{"model_id": "m3", "model_name": "mnist", "model_version": "2.0.0", "weight": 100, "specification": "modelarts.vm.cpu.2u", "instance_count": 1}]}' "$1" "$2"
}
$PY "$I/live_client.py" watch "127.0.0.1:${RG[2]}" $P $S >"$T/w" 2>"$T/w.err" &
W=$!
PIDS+=("$W")
wait_log "$T/w" '"snapshot"' || fail "the watcher's snapshot on r2"
UT=1900000000000
t0=$($PY -c 'import time; print(time.monotonic())')
check "record through r1" '{"created":true}' \
  "$(log_json $UT RUNNING | "$CLI" record --addr "127.0.0.1:${RG[1]}" \
    --project $P --service $S -)"
wait_log "$T/w" "\"update_time\": \"$UT\"" 1 10 || fail "r2's watcher got it"
d=$($PY - "$T/w" "$UT" "$t0" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    if "log" in d and d["log"]["update_time"] == sys.argv[2]:
        print(int((d["t"] - float(sys.argv[3])) * 1000))
PY
)
[ -n "$d" ] && [ "$d" -lt 1000 ] &&
  pass "a write through r1 reached r2's watcher in $d ms (< 1000)" ||
  fail "r2's watcher got the log after [$d] ms"
kill -TERM "$W" 2>/dev/null || true
same_everywhere "after the write, REST $S" \
  "curl -s http://127.0.0.1:${RH[1]}/v1/$P/services/$S/logs" \
  "curl -s http://127.0.0.1:${RH[2]}/v1/$P/services/$S/logs" \
  "curl -s http://127.0.0.1:${RH[3]}/v1/$P/services/$S/logs" \
  "curl -s http://127.0.0.1:$HR/v1/$P/services/$S/logs"

# ---- the loader -------------------------------------------------------------
$LOAD load "$T/calls" "127.0.0.1:$HG" "127.0.0.1:$HR" $P $S 80 >"$T/load.out" 2>"$T/load.err" &
LOADER=$!
PIDS+=("$LOADER")
wait_log "$T/load.out" '^ready' || fail "the loader: $(cat "$T/load.err")"
t_load=$(now)
calls_since() { [ "$(wc -l <"$T/calls")" -ge "$1" ]; }
wait_for 10 calls_since 100 || fail "the loader's first 100 calls"
stats() { $LOAD stats "$T/calls" "$1" "$2"; }
errors_in() { stats "$1" "$2" | sed -n 's/^calls [0-9]* errors //p'; }
check "baseline: no failed call through HAProxy" 0 "$(errors_in "$t_load" "$(now)")"

# ---- 3. PostgreSQL restarted under load ------------------------------------
t_halt=$(now)
"$PGCTL" halt "$PGD"
t_down=$(now)
ALL_DOWN="grpc_replicas/r1 DOWN grpc_replicas/r2 DOWN grpc_replicas/r3 DOWN rest_replicas/r1 DOWN rest_replicas/r2 DOWN rest_replicas/r3 DOWN "
check "PostgreSQL down: HAProxy takes every replica out" "$ALL_DOWN" \
  "$(wait_eq 10 "$ALL_DOWN" hstate)"
echo "figure: every replica DOWN in HAProxy $(ms_since "$t_down") ms after PostgreSQL stopped"
for i in 1 2 3; do
  body=$(curl -s -w ' %{http_code}' "http://127.0.0.1:${RH[$i]}/v1/$P/services/$S/logs")
  contains "r$i answers REST during the outage with 503" " 503" "$body"
  contains "r$i: ModelArts.4302" "ModelArts.4302" "$body"
  rc=0
  "$CLI" query --addr "127.0.0.1:${RG[$i]}" --project $P --service $S \
    >/dev/null 2>&1 || rc=$?
  check "r$i answers gRPC during the outage: UNAVAILABLE (exit 3)" 3 "$rc"
done
"$PGCTL" start "$PGD" >/dev/null
t_up=$(now)
for i in 1 2 3; do
  hz() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${RH[$i]}/healthz"; }
  check "r$i SERVING again without a restart" 200 "$(wait_eq 20 200 hz)"
  echo "figure: r$i /healthz 200 $(ms_since "$t_up") ms after PostgreSQL was back"
done
check "HAProxy: every replica back UP" "$ALL_UP" "$(wait_eq 20 "$ALL_UP" hstate)"
t_back=$(now)
echo "figure: every replica UP in HAProxy $(ms_since "$t_up") ms after PostgreSQL was back"
for i in 1 2 3; do
  [ -e "/proc/${RPID[$i]}" ] && pass "r$i is the same process" || fail "r$i restarted?"
done
echo "figure: outage window [PostgreSQL stop, HAProxy all UP]: $(stats "$t_halt" "$t_back" | tr '\n' ' ')"
bad=$(stats "$t_halt" "$t_back" | tail -n +2 | grep -vE '^(g:UNAVAILABLE|r:503) ' || true)
check "during the outage every failed call is UNAVAILABLE or 503" "" "$bad"
wait_for 10 calls_since "$(($(wc -l <"$T/calls") + 100))" || fail "calls after the outage"
t_after=$(now)
check "after the outage: no failed call" 0 "$(errors_in "$t_back" "$t_after")"

# ---- 4. r3 SIGKILLed under load ----------------------------------------------
t_kill=$(now)
kill -KILL "${RPID[3]}"
wait "${RPID[3]}" 2>/dev/null || true # reaped quietly (no "Killed" line)
R3_DOWN="grpc_replicas/r1 UP grpc_replicas/r2 UP grpc_replicas/r3 DOWN rest_replicas/r1 UP rest_replicas/r2 UP rest_replicas/r3 DOWN "
check "HAProxy takes the killed r3 out" "$R3_DOWN" "$(wait_eq 10 "$R3_DOWN" hstate)"
echo "figure: r3 DOWN in HAProxy $(ms_since "$t_kill") ms after SIGKILL"
t_margin=$($PY -c "print('%.6f' % ($t_kill + 1.5))")
# past T SECS: the clock is SECS seconds past T (epoch seconds); what is
# waited for is the loader's calls in that time.
past() { $PY -c "import sys, time; sys.exit(time.time() < $1 + $2)"; }
wait_for 10 past "$t_margin" 3 || fail "3 s of calls after the kill"
t_k2=$(now)
echo "figure: SIGKILL window [kill, kill + 1.5 s]: $(stats "$t_kill" "$t_margin" | tr '\n' ' ')"
echo "figure: after it [kill + 1.5 s, +$(ms_since "$t_margin") ms]: $(stats "$t_margin" "$t_k2" | tr '\n' ' ')"
check "no failed call from 1.5 s after the kill on" 0 "$(errors_in "$t_margin" "$t_k2")"

# ---- 5. r2 SIGTERMed under load: the drain ------------------------------------
t_term=$(now)
kill -TERM "${RPID[2]}"
R23_DOWN="grpc_replicas/r1 UP grpc_replicas/r2 DOWN grpc_replicas/r3 DOWN rest_replicas/r1 UP rest_replicas/r2 DOWN rest_replicas/r3 DOWN "
check "HAProxy steers away from the draining r2" "$R23_DOWN" \
  "$(wait_eq 10 "$R23_DOWN" hstate)"
echo "figure: r2 DOWN in HAProxy $(ms_since "$t_term") ms after SIGTERM (drain delay 1500 ms)"
rc=0
wait_exit "${RPID[2]}" 20 || rc=$?
check "r2 exits 0 after its drain" 0 "$rc"
n0=$(wc -l <"$T/calls")
wait_for 10 calls_since $((n0 + 100)) || fail "calls after the drain"
t_d2=$(now)
echo "figure: SIGTERM window [SIGTERM, exit + 100 calls]: $(stats "$t_term" "$t_d2" | tr '\n' ' ')"
check "no failed call through the drain" 0 "$(errors_in "$t_term" "$t_d2")"
n=$(grep -c '"request_id"' "$T/r2.log" || true)
[ "$n" -gt 0 ] && pass "r2 served calls before it drained ($n access lines)" ||
  fail "r2 served nothing"

kill -TERM "$LOADER" 2>/dev/null || true
wait_exit "$LOADER" 10 || fail "the loader did not stop"
echo "figure: the whole run: $(stats 0 end | tr '\n' ' ')"
stop_server "${RPID[1]}" && pass "r1: SIGTERM exits 0" || fail "r1: SIGTERM exit status $?"
finish
