#!/usr/bin/env bash
# bench_reset.sh -- rapid reset (CVE-2023-44487 class) against the real
# server: one connection sends N x (HEADERS + DATA + RST_STREAM), with the
# request cut short (the default) or whole (DATA with END_STREAM), and
# holds the connection HOLD s more; then "spread": 100 connections send
# N/100 (at most 190: under --max-connection-resets) cut-short streams
# each, one after the other. Prints, per shape, the server's peak
# RSS and the most QueryServiceLogs calls in flight at once (sampled every
# 100 ms from /metrics), and both 3 s after the client closed; then what
# the client saw (sent them all, or aborted by the server after how many:
# --max-connection-resets) and how many connections the server aborted.
#   tests/bench/bench_reset.sh [N [HOLD]]   (20000 2)
# Uses build/bin and Debian's python3 (python3-h2); 127.0.0.1 only.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${SL_BIN:-$top/build/bin}
N=${1:-20000}
HOLD=${2:-2}
tmp=$(mktemp -d /tmp/sl-bench-reset.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
"$BIN/servicelogs-server" import --backend "sqlite:$tmp/d.db" \
  "$top/demo/demo.json" --log-level warn
for shape in cut whole spread; do
  rm -f "$tmp/port"
  "$BIN/servicelogs-server" serve --backend "sqlite:$tmp/d.db" \
    --grpc-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --log-level warn \
    --port-file "$tmp/port" 2>"$tmp/s.log" &
  pid=$!
  for _ in $(seq 100); do grep -q '^http=' "$tmp/port" 2>/dev/null && break; sleep 0.1; done
  gp=$(sed -n 's/^grpc=//p' "$tmp/port")
  hp=$(sed -n 's/^http=//p' "$tmp/port")
  (while kill -0 "$pid" 2>/dev/null; do
    echo "$(curl -s "http://127.0.0.1:$hp/metrics" |
      sed -n 's|^servicelogs_grpc_calls_in_flight{method="/modelarts.v1.ServiceLogs/QueryServiceLogs"} ||p')"
    sleep 0.1
  done) >"$tmp/inflight" &
  if [ $shape = spread ]; then # under the limit on each of 100 connections
    /usr/bin/python3 "$top/tests/integration/abuse_h2.py" resetmany \
      "127.0.0.1:$gp" 100 $((N / 100 < 200 ? N / 100 : 190)) demo-project \
      mnist-svc >"$tmp/client"
  else
    /usr/bin/python3 "$top/tests/integration/abuse_h2.py" reset "127.0.0.1:$gp" \
      "$N" demo-project mnist-svc "$HOLD" $([ $shape = whole ] && echo whole) \
      >"$tmp/client"
  fi
  sleep 3
  rss=$(sed -n 's/^VmRSS:[^0-9]*\([0-9]*\).*/\1/p' "/proc/$pid/status")
  hwm=$(sed -n 's/^VmHWM:[^0-9]*\([0-9]*\).*/\1/p' "/proc/$pid/status")
  now=$(tail -1 "$tmp/inflight")
  kill "$pid"
  wait "$pid" || true
  most=$(sort -n "$tmp/inflight" | tail -1)
  echo "reset-$shape n=$N: peak RSS $((hwm / 1024)) MiB, most in flight $most;" \
    "3 s after: RSS $((rss / 1024)) MiB, $now in flight (load $(cut -d' ' -f1 /proc/loadavg))"
  echo "  client: $(head -1 "$tmp/client"); server: $(grep -c 'aborted' "$tmp/s.log" || true) connection(s) aborted"
done
