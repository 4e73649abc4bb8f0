#!/usr/bin/env bash
# bench_threads.sh -- where the server's CPU and context switches go, thread
# by thread, under the side-by-side gRPC load (h2load 32 streams over 4
# connections, the mnist call, every call a cache hit after the warm-up).
#
# Reads /proc/PID/task/*/{stat,status} before and after SECONDS of load and
# prints, per thread that did anything, its context switches and CPU per
# call, then the totals. This is how the watch relay was found polling
# gRPC's connections (BENCHMARKS.md, "The third round").
#
#   tests/bench/bench_threads.sh [--seconds 6] [--server PATH] [-- SERVER FLAGS]
# Needs build/peers-bench (tests/bench/peers_setup.sh) for the fixture and
# the request; h2load; 127.0.0.1 only (ports 23091, 28091).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
work=$top/build/peers-bench
server=${SL_SERVER:-$top/build/bin/servicelogs-server}
secs=6
while (($#)); do
  case "$1" in
  --seconds) secs=$2; shift 2 ;;
  --server) server=$(realpath "$2"); shift 2 ;;
  --) shift; break ;;
  -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
  *) echo "bench_threads.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
fixture=$work/contract/fixture.json
req=$work/peers/build/data/mnist.request.bin
for f in "$fixture" "$req" "$server"; do
  [[ -e $f ]] || { echo "bench_threads.sh: $f missing (tests/bench/peers_setup.sh; scripts/build.sh)" >&2; exit 2; }
done
tmp=$(mktemp -d /tmp/sl-bench-threads.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
"$server" import --backend "sqlite:$tmp/d.db" "$fixture" --log-level warn
"$server" --backend "sqlite:$tmp/d.db" --grpc-listen 127.0.0.1:23091 \
  --http-listen 127.0.0.1:28091 --log-level warn "$@" &
pid=$!
url=http://127.0.0.1:23091/modelarts.v1.ServiceLogs/QueryServiceLogs
load() {
  h2load -c 4 -m 8 -t 1 -D "$1" -H 'content-type: application/grpc' \
    -H 'te: trailers' -d "$req" "$url"
}
for _ in $(seq 50); do load 0.2 >/dev/null 2>&1 && break; sleep 0.1; done
load 2 >/dev/null # warm-up: the cache holds the answer from here
snap() { # tid name switches cpu_ticks
  local t
  for t in /proc/$pid/task/*; do
    echo "${t##*/} $(tr ' ' _ <"$t/comm") $(awk '/^(non)?voluntary_ctxt/ {s += $2} END {print s}' "$t/status") $(awk '{print $14 + $15}' "$t/stat")"
  done | sort
}
snap >"$tmp/a"
load "$secs" >"$tmp/h2"
snap >"$tmp/b"
calls=$(sed -nE 's/^requests: .* ([0-9]+) succeeded.*/\1/p' "$tmp/h2")
hz=$(getconf CLK_TCK)
echo "bench_threads.sh: $server $*; $calls calls in ${secs}s; load $(cut -d' ' -f1-3 /proc/loadavg)"
join "$tmp/a" "$tmp/b" | awk -v n="$calls" -v hz="$hz" '
  { sw = $6 - $3; cpu = $7 - $4
    if (sw > 0 || cpu > 0)
      printf "  thread %-8s %-16s %6.3f switches/call %7.2f us CPU/call\n", $1, $2, sw / n, cpu * 1e6 / hz / n
    S += sw; C += cpu }
  END { printf "  all threads                %6.3f switches/call %7.2f us CPU/call\n", S / n, C * 1e6 / hz / n }'
