#!/usr/bin/env bash
# test_faults.sh -- faults with real processes, and recovery without a
# restart: the SQLite file moved away; another process writing to it or
# locking it; clients leaving in the middle of a multi-megabyte answer;
# 1 000 connections opened and dropped without a request; slow-loris
# headers on the shim; the shim's upstream killed and restarted. After each
# fault a normal query succeeds over gRPC and REST and the server's open
# descriptors come back to their baseline; at the end SIGTERM must exit 0,
# which in the ASan build also means no leak. README "Fault tolerance"
# tells what each fault does and why.
. "$(dirname "$0")/lib.sh"
# The faults here happen under the store's feet (no write, no change in
# the feed): every query must reach the store, so no response cache
# (--cache-bytes; test_cache.sh tests it).
export SERVICELOGS_CACHE_BYTES=0

# One DB: the demo (mnist-svc: the normal query) and a 20 000-log service
# (bench-p/svc-0: a ~1.7 MB gRPC / ~4.6 MB JSON answer to leave in the middle).
DB=$T/f.db
$PY "$SL_SRC/tests/bench/gen_bench_data.py" "$T/big" 1 20000 1
"$SERVER" import --backend "sqlite:$DB" "$SL_SRC/demo/demo.json" 2>/dev/null
"$SERVER" import --backend "sqlite:$DB" "$T/big-0.json" 2>/dev/null
# 4 workers: the shm-lock fault holds two of them in SQLite for ~10 s.
# --upstream-timeout above that wait, so REST sees the server's answer.
start_server "$T/s.log" --backend "sqlite:$DB" --grpc-listen=127.0.0.1:0 \
  --http-listen=127.0.0.1:0 --threads=4 --health-interval=100ms \
  --http-idle-timeout=2s --upstream-timeout=15s --shutdown-grace=5s
PID=$SERVER_PID
GP=$GRPC_PORT
HP=$HTTP_PORT
BASE=http://127.0.0.1:$HP
MNIST=$(cat "$I/expected/mnist.json")

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# no_clients: the server holds no connection from a client (its only
# connections are the in-process shim's to its own gRPC port).
no_clients() { [ "$($PY "$I/proc_sockets.py" clients "$PID")" = 0 ]; }
fds() { ls "/proc/$1/fd" | wc -l; }
hp() { $PY "$I/health_probe.py" 127.0.0.1:"$GP" check ''; }
healthz() { curl -s -o /dev/null -w '%{http_code}' "$BASE/healthz"; }
# gq PROJECT SERVICE [TIMEOUT]: "OK <bytes>" or "<STATUS> <reason>"
gq() {
  $PY "$I/fault_query.py" 127.0.0.1:"$GP" "$1" "$2" "${3:-5}" | cut -d' ' -f1-2
}
# rq PORT PROJECT SERVICE: "200" or "<status> <error_code>"
rq() {
  local code body=$T/rb.$BASHPID
  code=$(curl -s --max-time 30 -o "$body" -w '%{http_code}' \
    "http://127.0.0.1:$1/v1/$2/services/$3/logs")
  if [ "$code" = 200 ]; then
    echo 200
  else
    echo "$code $($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["error_code"])' \
      "$body" 2>/dev/null || echo '?')"
  fi
}
# fds_near_base: the server's open descriptors are at the baseline FD0
# (+2: a client connection not reaped yet).
fds_near_base() { [ "$(fds "$PID")" -le $((FD0 + 2)) ]; }
# fds_back LABEL: the server's open descriptors must come back to the
# baseline within 20 s.
fds_back() {
  local n
  wait_for 20 fds_near_base || true
  n=$(fds "$PID")
  if [ "$n" -le $((FD0 + 2)) ]; then
    pass "$1: descriptors back to the baseline ($n, was $FD0)"
  else
    fail "$1: $n descriptors open, baseline $FD0"
  fi
}
# ms_between NAME LO GOT HI: a duration GOT in ms, LO <= GOT < HI
ms_between() {
  if [ "${3:-x}" -eq "${3:-x}" ] 2>/dev/null && [ "$3" -ge "$2" ] && [ "$3" -lt "$4" ]; then
    pass "$1 ($3 ms)"
  else
    fail "$1: want $2 to $4 ms, got [$3]"
  fi
}
# normal LABEL: the query a client would make, over gRPC (our CLI) and REST
normal() {
  local out rc=0
  out=$("$CLI" query --addr 127.0.0.1:"$GP" --project demo-project \
    --service mnist-svc 2>&1) || rc=$?
  check "$1: then a gRPC query succeeds" "0 $MNIST" "$rc $out"
  check "$1: then a REST query succeeds" "200 $MNIST" \
    "$(curl -s -w '%{http_code} ' -o "$T/nb" "$BASE/v1/demo-project/services/mnist-svc/logs")$(cat "$T/nb")"
}
# lock_start MODE NAME: fault_lock.py in the background; waits for its
# first line (locked / refused); sets LOCK_PID, LOCK_OUT, LOCK_REL.
lock_start() {
  LOCK_OUT=$T/lock-$2
  LOCK_REL=$T/release-$2
  $PY "$I/fault_lock.py" "$1" "$DB" "$LOCK_REL" 60 >"$LOCK_OUT" 2>&1 &
  LOCK_PID=$!
  PIDS+=("$LOCK_PID")
  wait_for "$WAIT" test -s "$LOCK_OUT" || true
}
lock_release() {
  touch "$LOCK_REL"
  wait "$LOCK_PID" || true
}

normal "start"
MNIST_G=$(gq demo-project mnist-svc)
check "the normal answer over gRPC (grpcio)" OK "${MNIST_G%% *}"
BIG_G=$(gq bench-p svc-0 10)
BIG_R=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "$BASE/v1/bench-p/services/svc-0/logs")
check "the big answer over gRPC" OK "${BIG_G%% *}"
check "the big answer over REST" 200 "${BIG_R%% *}"
# The baseline once the clients above are gone.
wait_for "$WAIT" no_clients || true
FD0=$(fds "$PID")
echo "baseline: $FD0 open descriptors"

# 1. The database file moved away (what the server can tell of "the file is
# unreadable": see README). The prober finds it gone within an interval or
# two; queries are then answered UNAVAILABLE without reading; it comes back.
t0=$(now_ms)
mv "$DB" "$DB.away"
h=$(wait_eq 20 NOT_SERVING hp) || true
t1=$(now_ms)
check "file moved away: health NOT_SERVING" NOT_SERVING "$h"
ms_between "file moved away: noticed within 1 s (interval 100 ms)" 0 $((t1 - t0)) 1000
check "file moved away: gRPC" "UNAVAILABLE ModelArts.4302" "$(gq demo-project mnist-svc)"
check "file moved away: REST" "503 ModelArts.4302" "$(rq "$HP" demo-project mnist-svc)"
check "file moved away: /healthz" 503 "$(healthz)"
mv "$DB.away" "$DB"
check "file back: health SERVING without a restart" SERVING "$(wait_eq 20 SERVING hp)"
normal "file moved away and back"

# 2. Another process writes: an SQLite writer holding BEGIN IMMEDIATE with
# a pending INSERT. WAL readers do not wait for it: queries go on; an import
# meanwhile waits out the busy timeout (2 s), fails, and writes nothing.
dump() {
  $PY -c 'import hashlib, sqlite3, sys
c = sqlite3.connect(sys.argv[1])
print(hashlib.sha256("\n".join(c.iterdump()).encode()).hexdigest())' "$DB"
}
D0=$(dump)
lock_start writer w
check "writer: holds BEGIN IMMEDIATE with a pending write" locked "$(head -1 "$LOCK_OUT")"
ok=0
for _ in 1 2 3 4 5; do
  [ "$(gq demo-project mnist-svc)" = "$MNIST_G" ] && ok=$((ok + 1))
  [ "$(rq "$HP" demo-project mnist-svc)" = 200 ] && ok=$((ok + 1))
done
check "writer: gRPC and REST queries go on (WAL)" 10 "$ok"
check "writer: health stays SERVING" SERVING "$(hp)"
cat >"$T/new.json" <<'JSON'
{"services":[{"project_id":"demo-project","service_id":"fault-new","service_name":"n","infer_type":"real-time",
 "logs":[{"update_time":1,"result":"SUCCESS","config":[]}]}]}
JSON
t0=$(now_ms)
rc=0
"$SERVER" import --backend "sqlite:$DB" "$T/new.json" >"$T/imp.out" 2>&1 || rc=$?
t1=$(now_ms)
check "writer: a concurrent import fails (exit 1)" 1 "$rc"
contains "writer: the import names the lock" "database is locked" "$(cat "$T/imp.out")"
contains "writer: the import says it wrote nothing" "nothing changed" "$(cat "$T/imp.out")"
ms_between "writer: the import waited out the busy timeout (2 s)" 1500 $((t1 - t0)) 8000
lock_release
check "writer: let go (its pending write rolled back)" released "$(tail -1 "$LOCK_OUT")"
check "writer: the failed import wrote nothing (REST)" "404 ModelArts.3502" "$(rq "$HP" demo-project fault-new)"
check "writer: database unchanged" "$D0" "$(dump)"
normal "another writer"

# 3. PRAGMA locking_mode=EXCLUSIVE in another process: the lock that would
# shut readers out cannot be taken while the server holds the file open
# (WAL connections keep a SHARED lock on it); the attempt fails after its
# 1 s busy timeout and the server never notices.
lock_start exclusive x
wait "$LOCK_PID" || true
check "exclusive: another process cannot take it" "refused: database is locked" "$(head -1 "$LOCK_OUT")"
check "exclusive: health stays SERVING" SERVING "$(hp)"
normal "an EXCLUSIVE locking attempt"

# 4. A process holding every WAL lock byte of the -shm file (fcntl): the
# server's reads cannot start. SQLite's reader retries for ~10 s (neither
# the busy timeout nor --query-timeout shortens that wait), then fails:
# UNAVAILABLE / 503 ModelArts.4302; the prober's ping fails the same way:
# NOT_SERVING, and later queries are refused at once. Let go: recovery.
lock_start shm s
check "shm lock: held" locked "$(head -1 "$LOCK_OUT")"
t0=$(now_ms)
gq demo-project mnist-svc 30 >"$T/shm-g" &
G=$!
rq "$HP" demo-project mnist-svc >"$T/shm-r" &
R=$!
h=$(wait_eq 30 NOT_SERVING hp) || true
t1=$(now_ms)
check "shm lock: health NOT_SERVING" NOT_SERVING "$h"
wait "$G" || true
wait "$R" || true
t2=$(now_ms)
echo "shm lock: NOT_SERVING after $((t1 - t0)) ms; the blocked reads answered after $((t2 - t0)) ms"
check "shm lock: the blocked gRPC read" "UNAVAILABLE ModelArts.4302" "$(cat "$T/shm-g")"
check "shm lock: the blocked REST read" "503 ModelArts.4302" "$(cat "$T/shm-r")"
t0=$(now_ms)
check "shm lock: a new gRPC query" "UNAVAILABLE ModelArts.4302" "$(gq demo-project mnist-svc)"
check "shm lock: a new REST query" "503 ModelArts.4302" "$(rq "$HP" demo-project mnist-svc)"
t1=$(now_ms)
ms_between "shm lock: both refused at once while NOT_SERVING" 0 $((t1 - t0)) 3000
lock_release
check "shm lock: health SERVING once it lets go" SERVING "$(wait_eq 20 SERVING hp)"
normal "a process holding the WAL locks"
fds_back "SQLite faults"

# 5. Clients that leave in the middle of the big answer, 50 of each kind.
out=$($PY "$I/fault_disconnect.py" 127.0.0.1:"$GP" "$HP" bench-p svc-0 50) || true
echo "$out"
contains "disconnects: raw HTTP/2, every call left mid-response" "h2 50 calls: 50/50 left mid-response" "$out"
g=$(grep '^grpcio' <<<"$out" | sed 's/^grpcio 50 calls: //') || true
check "disconnects: grpcio calls ended OK (before the client left) or CANCELLED" "" \
  "$(tr ' ' '\n' <<<"$g" | grep -v -E '^(OK|CANCELLED)=[0-9]+$' || true)"
contains "disconnects: REST, the readers left mid-body" "rest 50 requests: 24/24 read" "$out"
kill -0 "$PID" 2>/dev/null && pass "disconnects: server still running" || fail "disconnects: server died"
check "disconnects: the big answer over gRPC is whole" "$BIG_G" "$(gq bench-p svc-0 10)"
check "disconnects: the big answer over REST is whole" "$BIG_R" \
  "$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "$BASE/v1/bench-p/services/svc-0/logs")"
normal "clients leaving mid-response"
fds_back "disconnects"

# 6. 1 000 connections opened and dropped without a request, 100 at a
# time, half with a FIN and half with a reset: to the gRPC port, then to
# the shim.
for port in "$GP" "$HP"; do
  [ "$port" = "$GP" ] && what=gRPC || what=shim
  check "1000 connections to the $what port" "opened 1000/1000" \
    "$($PY "$I/fault_conns.py" "$port" 1000 100)"
  normal "1000 dropped connections ($what)"
  fds_back "1000 connections ($what)"
done

# 7. Slow-loris: 50 connections trickle headers for 3 s (one byte each per
# 250 ms, never finished) while a normal client asks every 200 ms; then they
# stall and --http-idle-timeout=2s must close them all.
out=$($PY "$I/fault_slowloris.py" "$HP" 50 3 6 /v1/demo-project/services/mnist-svc/logs) || true
echo "$out"
normal_line=$(grep '^normal:' <<<"$out") || true
contains "slow-loris: every normal request answered 200" ", 200, slowest" "$normal_line"
ms_between "slow-loris: normal requests stay prompt (the slowest)" 0 \
  "$(sed -n 's/.*slowest \([0-9]*\) ms$/\1/p' <<<"$normal_line")" 1000
stalled=$(grep '^stalled:' <<<"$out") || true
contains "slow-loris: the stalled connections are all closed by the server" "stalled: 50/50 closed" "$stalled"
ms_between "slow-loris: the last closed within the idle timeout + 2 s" 0 \
  "$(sed -n 's/.*the last \([0-9]*\) ms.*/\1/p' <<<"$stalled")" 4000
normal "slow-loris"
fds_back "slow-loris"

# 8. The shim's upstream killed (-9) and restarted on the same port: a
# shim-only process in front of a separate server process.
start_server "$T/up.log" --backend "sqlite:$DB" --grpc-listen=127.0.0.1:0 --http-listen=
UPID=$SERVER_PID
UP=$GRPC_PORT
start_server "$T/shim.log" --upstream=127.0.0.1:"$UP" --http-listen=127.0.0.1:0
SPID=$SERVER_PID
SP=$HTTP_PORT
check "upstream up: 200 through the shim" 200 "$(wait_eq 20 200 rq "$SP" demo-project mnist-svc)"
{
  kill -KILL "$UPID"
  wait "$UPID" || true
} 2>/dev/null # bash's "Killed" notice
check "upstream killed: 503 ModelArts.4302" "503 ModelArts.4302" "$(rq "$SP" demo-project mnist-svc)"
check "upstream killed: /healthz 503" 503 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SP/healthz")"
# The port is free again, but it is in the ephemeral range: a parallel
# test's client may hold it as its local port for a moment. Retry until
# the restarted server gets it.
restart_upstream() {
  start_server "$T/up2.log" --backend "sqlite:$DB" \
    --grpc-listen=127.0.0.1:"$UP" --http-listen= 2>"$T/up2.err"
}
wait_for "$WAIT" restart_upstream || cat "$T/up2.err" >&2
UPID=$SERVER_PID
t0=$(now_ms)
got=$(wait_eq 20 200 rq "$SP" demo-project mnist-svc) || true
t1=$(now_ms)
check "upstream restarted: 200 again" 200 "$got"
echo "upstream restarted: the shim answered 200 $((t1 - t0)) ms after the port was open"
check "upstream restarted: the shim's answer is the document" "$MNIST" \
  "$(curl -s "http://127.0.0.1:$SP/v1/demo-project/services/mnist-svc/logs")"
stop_server "$SPID" && pass "shim-only process: SIGTERM exits 0" || fail "shim-only process: exit status"
stop_server "$UPID" && pass "restarted upstream: SIGTERM exits 0" || fail "restarted upstream: exit status"

normal "all faults"
fds_back "at the end"
stop_server "$PID" && pass "server: SIGTERM exits 0 (ASan build: no leak)" || fail "server: exit status"
finish
