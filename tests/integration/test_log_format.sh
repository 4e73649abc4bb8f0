#!/usr/bin/env bash
# test_log_format.sh -- --log-format json makes every stderr line of a real
# server run a JSON object (issue 12, item 8): start-up (config, listening),
# gRPC's own log at debug level, access lines of REST and gRPC calls, a
# SIGHUP, shutdown; a usage error and the import command too. Text stays
# the default. Also the process_* metrics beside the others, with values
# that fit this process (/proc/<pid>).
. "$(dirname "$0")/lib.sh"

MC="$PY $SL_SRC/tests/integration/metrics_check.py"

# all_json FILE: every line of FILE is one JSON object with time and
# level (log lines also msg; access lines kind); prints "ok N" or the
# first bad line.
all_json() {
  $PY - "$1" <<'PY'
import json, sys
n = 0
with open(sys.argv[1], "rb") as f:
    for raw in f:
        n += 1
        try:
            o = json.loads(raw.decode("utf-8"))
            assert isinstance(o, dict) and "time" in o, "not a log object"
            assert ("level" in o and "msg" in o) or "kind" in o, "keys"
        except Exception as e:  # noqa: BLE001 -- any failure is the answer
            print("line %d: %s: %r" % (n, e, raw[:200]))
            sys.exit(0)
print("ok %d" % n if n else "empty")
PY
}

DB=$T/l.db
"$SERVER" import --log-format=json --backend "sqlite:$DB" \
  "$SL_SRC/demo/demo.json" >"$T/import.out" 2>"$T/import.log"
check "import with --log-format=json: JSON lines" "ok 1" "$(all_json "$T/import.log")"

LOG=$T/server.log
SERVICELOGS_LOG_FORMAT=json start_server "$LOG" --backend "sqlite:$DB" \
  --grpc-listen=127.0.0.1:0 --http-listen=127.0.0.1:0 --log-level=debug
PID=$SERVER_PID
BASE=http://127.0.0.1:$HTTP_PORT

curl -s -o /dev/null "$BASE/v1/demo-project/services/mnist-svc/logs"
curl -s -o /dev/null "$BASE/v1/demo-project/services/nope/logs"
curl -s -o /dev/null --path-as-is "$BASE/v1/%ff%0a\"/x"
"$CLI" query --addr "127.0.0.1:$GRPC_PORT" --project demo-project \
  --service mnist-svc >/dev/null
kill -HUP "$PID"
wait_log "$LOG" 'SIGHUP' || true
wait_log "$LOG" '"kind":"grpc"' || true

# ---- process_* metrics --------------------------------------------------
curl -s -o "$T/m" "$BASE/metrics"
check "/metrics parses with the process_* families" ok "$($MC families "$T/m")"
rss=$($MC value "$T/m" process_resident_memory_bytes)
vm=$($MC value "$T/m" process_virtual_memory_bytes)
fds=$($MC value "$T/m" process_open_fds)
maxfds=$($MC value "$T/m" process_max_fds)
start=$($MC value "$T/m" process_start_time_seconds)
cpu=$($MC value "$T/m" process_cpu_seconds_total)
proc_rss=$(($(awk '{print $24}' "/proc/$PID/stat") * $(getconf PAGESIZE)))
proc_fds=$(ls "/proc/$PID/fd" | wc -l)
proc_max=$(awk '/^Max open files/ {print $4}' "/proc/$PID/limits")
now=$(date +%s)
sane=$($PY - "$rss" "$vm" "$fds" "$maxfds" "$start" "$cpu" "$proc_rss" \
  "$proc_fds" "$proc_max" "$now" <<'PY'
import sys
rss, vm, fds, maxfds, start, cpu, prss, pfds, pmax, now = map(float, sys.argv[1:])
bad = []
if not (0 < rss <= vm): bad.append("rss %d vm %d" % (rss, vm))
if not (0.5 * prss <= rss <= 2 * prss): bad.append("rss %d vs /proc %d" % (rss, prss))
if not (3 <= fds <= maxfds): bad.append("fds %d max %d" % (fds, maxfds))
if abs(fds - pfds) > 8: bad.append("fds %d vs /proc %d" % (fds, pfds))
if maxfds != pmax: bad.append("max_fds %d vs limits %d" % (maxfds, pmax))
if not (now - 300 <= start <= now + 1): bad.append("start %f now %d" % (start, now))
if not (0 <= cpu < 300): bad.append("cpu %f" % cpu)
print("ok" if not bad else "; ".join(bad))
PY
)
check "process_* values fit /proc/$PID" ok "$sane"

stop_server "$PID" || fail "server exit status not 0"
check "serve --log-format json: every stderr line is JSON" ok \
  "$(all_json "$LOG" | sed 's/^ok [0-9]*$/ok/')"
n=$(wc -l <"$LOG")
[ "$n" -ge 8 ] && pass "the run wrote $n lines" || fail "only $n lines"
log_has "$LOG" '"level":"debug","msg":"grpc: ' && pass "gRPC's own lines are JSON" ||
  fail "no gRPC debug line"
log_has "$LOG" '"kind":"http"' && pass "REST access lines" || fail "no http access line"
log_has "$LOG" '"msg":"stopped"' && pass "the shutdown line" || fail "no stopped line"
log_has "$LOG" '"msg":"config: command=serve .*log-format=json' &&
  pass "the config line shows log-format=json" || fail "config line"

# ---- a usage error, and the text default ---------------------------------
rc=0
"$SERVER" serve --nope --log-format json 2>"$T/usage.log" || rc=$?
check "usage error: exit 2" 2 "$rc"
check "usage error: one JSON line" "ok 1" "$(all_json "$T/usage.log")"
contains "usage error: names the flag" "unknown option '--nope'" "$(cat "$T/usage.log")"
rc=0
"$SERVER" serve --log-format yaml 2>"$T/bad.log" || rc=$?
check "--log-format yaml: exit 2" 2 "$rc"
contains "--log-format yaml: says why" "is not a log format (expected text or json)" \
  "$(cat "$T/bad.log")"
"$SERVER" import --backend "sqlite:$T/t.db" "$SL_SRC/demo/demo.json" 2>"$T/text.log"
grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z info imported ' "$T/text.log" &&
  pass "text stays the default" || fail "text line: $(cat "$T/text.log")"

finish
