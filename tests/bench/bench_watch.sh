#!/usr/bin/env bash
# bench_watch.sh -- write latency and watch fan-out on the real server
#
#   tests/bench/bench_watch.sh [GRPC_WATCHERS [SSE_WATCHERS [WRITES]]]
#       (defaults 500 500 50)
#
# One server with the shim (server A) holds GRPC_WATCHERS WatchServiceLogs
# streams and SSE_WATCHERS REST watches of one service; a second server on
# the same SQLite file (server B) takes the writes, one at a time, each
# once the previous one has reached every watcher. Prints one JSON line
# (the client: build/bin/watch_fanout, tests/bench/watch_fanout.c, when
# built -- SL_WATCH_CLIENT=py takes tests/bench/watch_fanout.py, the
# slower Python one, instead): fan-out latency = from a write's answer to
# its last arrival (p50/p99/max over the writes), delivery latency over
# every event, write latency, missed events, and server CPU per delivered
# event (A and B together). Uses build/bin; loads 127.0.0.1 only; about a
# minute.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${SL_BIN:-$top/build/bin}
NG=${1:-500}
NS=${2:-500}
WRITES=${3:-50}
tmp=$(mktemp -d /tmp/sl-bench-watch.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

port_of() { # PORTFILE KEY
  for _ in $(seq 1 200); do
    if [ -f "$1" ] && grep -q "^$2=" "$1"; then
      sed -n "s/^$2=//p" "$1"
      return
    fi
    sleep 0.05
  done
  echo "server did not start" >&2
  exit 1
}

db=$tmp/w.db
"$BIN/servicelogs-server" import --backend "sqlite:$db" "$top/demo/demo.json" 2>/dev/null
"$BIN/servicelogs-server" serve --backend "sqlite:$db" --log-level warn \
  --grpc-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
  --max-watchers $((NG + NS + 16)) --http-max-watchers $((NS + 16)) \
  --http-max-connections $((NS + 64)) --port-file "$tmp/a.ports" \
  >"$tmp/a.log" 2>&1 &
A=$!
pids+=($A)
"$BIN/servicelogs-server" serve --backend "sqlite:$db" --log-level warn \
  --grpc-listen 127.0.0.1:0 --http-listen= --port-file "$tmp/b.ports" \
  >"$tmp/b.log" 2>&1 &
B=$!
pids+=($B)
AG=$(port_of "$tmp/a.ports" grpc)
AH=$(port_of "$tmp/a.ports" http)
BG=$(port_of "$tmp/b.ports" grpc)
"$BIN/servicelogs" put-service --addr 127.0.0.1:$BG --project bench \
  --service fanout-svc --name fanout --infer-type real-time >/dev/null
ulimit -n 8192 2>/dev/null || true
echo "# $NG gRPC + $NS SSE watchers on server A, $WRITES writes through server B ($(nproc) cores)"
if [ -x "$BIN/watch_fanout" ] && [ "${SL_WATCH_CLIENT:-c}" != py ]; then
  client=("$BIN/watch_fanout")
else
  client=(/usr/bin/python3 "$top/tests/bench/watch_fanout.py")
fi
echo "# client: ${client[*]##*/}"
"${client[@]}" 127.0.0.1:$AG 127.0.0.1:$AH \
  127.0.0.1:$BG bench fanout-svc "$NG" "$NS" "$WRITES" $A $B
echo "# server A: $(awk '/VmHWM|VmRSS/ {printf "%s %s kB  ", $1, $2}' /proc/$A/status)"
