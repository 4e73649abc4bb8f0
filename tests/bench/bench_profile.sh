#!/usr/bin/env bash
# bench_profile.sh -- where the time goes, per call, for servicelogs' gRPC and
# REST paths beside the peers (issue 10, lever 4), under the same bounded
# loopback load as bench_compare.sh (h2load 32 streams over 4 connections;
# wrk 32 connections):
#
#   * perf record (cpu-clock, this VM has no hardware counters) on each
#     server for SECONDS under load: CPU microseconds per call split by
#     library (kernel, libgrpc, libc, sqlite, our binary, ...) and the top
#     symbols;
#   * context switches per call (voluntary + involuntary, all threads, from
#     /proc/PID/task/*/status around the load);
#   * strace -c -f over a fixed number of calls: system calls per call, by
#     name (strace slows the server down; only the counts are used).
#
# Servers: servicelogs (started as the peers' README shows, --log-level
# warn), the C-core ceiling, cpp-async, nginx static; peers from
# build/peers-bench (tests/bench/peers_setup.sh). Builds nothing of ours.
#
#   tests/bench/bench_profile.sh [--seconds 5] [--calls 5000] [--server PATH]
#                                [--out DIR] [--no-perf] [--no-strace]
# Writes DIR/summary.txt (build/peers-bench/results/profile-<time>/).
# Ports: ours 23081/28081, ceiling 23061, cpp-async 23051, nginx 28080.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
work=$top/build/peers-bench
peers=$work/peers
server=${SL_SERVER:-$top/build/bin/servicelogs-server}
secs=5 calls=5000 out="" use_perf=1 use_strace=1
while (($#)); do
  case "$1" in
  --seconds) secs=$2; shift 2 ;;
  --calls) calls=$2; shift 2 ;;
  --server) server=$(realpath "$2"); shift 2 ;;
  --out) out=$2; shift 2 ;;
  --no-perf) use_perf=0; shift ;;
  --no-strace) use_strace=0; shift ;;
  -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
  *) echo "bench_profile.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
((secs >= 1 && secs <= 15)) || { echo "bench_profile.sh: --seconds 1..15" >&2; exit 2; }
((calls >= 100 && calls <= 100000)) || { echo "bench_profile.sh: --calls 100..100000" >&2; exit 2; }
command -v perf >/dev/null && perf record -o /dev/null -- true >/dev/null 2>&1 || {
  ((use_perf)) && echo "bench_profile.sh: perf unusable here; skipping perf" >&2; use_perf=0; }
command -v strace >/dev/null || { ((use_strace)) && echo "bench_profile.sh: no strace; skipping" >&2; use_strace=0; }
[[ -x $server ]] || { echo "bench_profile.sh: no $server (this script builds nothing of ours)" >&2; exit 2; }
"$top/tests/bench/peers_setup.sh" --no-build

fixture=$work/contract/fixture.json
read -r project service < <(jq -r '.services[] | select(.service_name == "mnist") | "\(.project_id) \(.service_id)"' "$fixture")
path=/v1/$project/services/$service/logs
req=$peers/build/data/mnist.request.bin
GP=23081 HP=28081 CP=23061 AP=23051 NP=28080
for p in $GP $HP $CP $AP $NP; do
  if ss -Hltn "sport = :$p" 2>/dev/null | grep -q .; then echo "bench_profile.sh: port $p is already in use" >&2; exit 1; fi
done
out=${out:-$work/results/profile-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
db=$out/servicelogs.db

pids=() nginx_up=0 bg=""
cleanup() {
  local p
  [[ -n $bg ]] && { kill -INT "$bg" 2>/dev/null || true; wait "$bg" 2>/dev/null || true; }
  for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  ((nginx_up)) && "$peers/rest/nginx_ceiling.sh" stop || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
start() { setsid bash -c "exec $2" >"$out/$1.server.log" 2>&1 </dev/null & pids+=($!); }
start servicelogs "sh -c '$server import --backend sqlite:$db $fixture && exec $server --backend sqlite:$db --grpc-listen 127.0.0.1:$GP --http-listen 127.0.0.1:$HP --log-level warn'"
sl_pid=${pids[-1]}
start ceiling "$peers/build/bin/ceiling --listen 127.0.0.1:$CP --response $peers/build/data/mnist.response.bin"
ce_pid=${pids[-1]}
start cpp-async "$peers/build/bin/cpp-async --listen 127.0.0.1:$AP --fixture $fixture"
as_pid=${pids[-1]}
"$peers/rest/nginx_ceiling.sh" start "127.0.0.1:$NP" >/dev/null
nginx_up=1
nginx_pids=$("$peers/rest/nginx_ceiling.sh" pids | tr ' ' ',')
for t in $GP $CP $AP; do
  for _ in $(seq 100); do "$peers/bench/grpc_check.sh" 127.0.0.1:$t >/dev/null 2>&1 && break; sleep 0.1; done
  "$peers/bench/grpc_check.sh" 127.0.0.1:$t >/dev/null || { echo "bench_profile.sh: 127.0.0.1:$t not answering" >&2; exit 1; }
done
for u in "http://127.0.0.1:$HP$path" "http://127.0.0.1:$NP$path"; do
  [[ $(curl -s -o /dev/null -w '%{http_code}' "$u") == 200 ]] || { echo "bench_profile.sh: $u not answering" >&2; exit 1; }
done

load() { # KIND TARGET SECONDS|-n N -> output file on stdout path
  local kind=$1 target=$2
  shift 2
  if [[ $kind == grpc ]]; then
    h2load -c 4 -m 8 -t 1 "$@" -H 'content-type: application/grpc' -H 'te: trailers' -d "$req" \
      "http://127.0.0.1:$target/modelarts.v1.ServiceLogs/QueryServiceLogs"
  else
    wrk -t 1 -c 32 "$@" "http://127.0.0.1:$target$path"
  fi
}
done_calls() { # KIND FILE
  if [[ $1 == grpc ]]; then sed -nE 's/^requests: .* ([0-9]+) succeeded.*/\1/p' "$2"
  else awk '/requests in/ {print $1}' "$2"; fi
}
rate() { if [[ $1 == grpc ]]; then sed -nE 's/^finished in [^,]+, ([0-9.]+) req\/s.*/\1/p' "$2"; else awk '/^Requests\/sec:/ {print $2}' "$2"; fi; }
ctxsw() { # PIDS(comma) -> voluntary+involuntary switches of all their threads
  local p s=0 t
  for p in ${1//,/ }; do
    for t in /proc/$p/task/*/status; do
      s=$((s + $(awk '/^(non)?voluntary_ctxt_switches:/ {n += $2} END {print n + 0}' "$t" 2>/dev/null || echo 0)))
    done
  done
  echo $s
}

{
  echo "bench_profile.sh: $server (built $(date -u -r "$server" +%FT%TZ)), repo at $(git -C "$top" rev-parse --short HEAD)"
  echo "$(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), kernel $(uname -r); load: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "perf: cpu-clock at 999 Hz for ${secs}s under load (1 s after it starts); strace -c -f over $calls calls"
} | tee "$out/summary.txt"

targets=("servicelogs-grpc grpc $GP $sl_pid" "ceiling grpc $CP $ce_pid" "cpp-async grpc $AP $as_pid"
  "servicelogs-rest rest $HP $sl_pid" "nginx-static rest $NP $nginx_pids")
for tg in "${targets[@]}"; do
  read -r name kind port pid <<<"$tg"
  echo | tee -a "$out/summary.txt"
  echo "=== $name ($kind, pid $pid)" | tee -a "$out/summary.txt"
  c0=$(ctxsw "$pid")
  if [[ $kind == grpc ]]; then load grpc "$port" -D $((secs + 2)) >"$out/$name.load" 2>&1 &
  else load rest "$port" -d $((secs + 2))s >"$out/$name.load" 2>&1 & fi
  bg=$!
  sleep 1
  if ((use_perf)); then
    perf record -F 999 -g -p "$pid" -o "$out/$name.perf.data" -- sleep "$secs" >"$out/$name.perf.log" 2>&1 || true
  else
    sleep "$secs"
  fi
  wait "$bg" || true
  bg=""
  c1=$(ctxsw "$pid")
  n=$(done_calls "$kind" "$out/$name.load")
  q=$(rate "$kind" "$out/$name.load")
  awk -v n="${n:-0}" -v q="${q:-0}" -v c=$((c1 - c0)) 'BEGIN {printf "load: %.0f calls/s; %.2f context switches per call\n", q, (n > 0 ? c / n : 0)}' |
    tee -a "$out/summary.txt"
  if ((use_perf)) && [[ -s $out/$name.perf.data ]]; then
    perf report -i "$out/$name.perf.data" --no-children --sort dso --stdio -g none -n 2>/dev/null |
      awk -v q="${q:-0}" -v s="$secs" '
        /^#/ || NF < 3 {next}
        {pct = $1; sub(/%/, "", pct); tot += $2; row[++k] = $0; smp[k] = $2; dso[k] = $3}
        END {
          if (q <= 0 || tot == 0) exit
          printf "CPU per call: %.1f us (%d samples at 999 Hz over %d s at %.0f calls/s)\n", tot / 999 / (q * s) * 1e6, tot, s, q
          for (i = 1; i <= k && i <= 10; i++)
            printf "  %6.1f us  %5.1f%%  %s\n", smp[i] / 999 / (q * s) * 1e6, smp[i] * 100 / tot, dso[i]
        }' | tee -a "$out/summary.txt" || true
    echo "top symbols (self):" | tee -a "$out/summary.txt"
    perf report -i "$out/$name.perf.data" --no-children --sort dso,sym --stdio -g none 2>/dev/null |
      awk '/^#/ || NF < 3 {next} ++n <= 25 {print}' | cut -c1-150 | tee -a "$out/summary.txt" || true
  fi
  if ((use_strace)); then
    strace -f -c -q -o "$out/$name.strace" -p "$pid" 2>/dev/null &
    bg=$!
    sleep 1
    if [[ $kind == grpc ]]; then load grpc "$port" -n "$calls" >"$out/$name.strace.load" 2>&1 || true
    else
      # wrk has no request count: run 2 s and count what it did
      load rest "$port" -d 2s >"$out/$name.strace.load" 2>&1 || true
    fi
    sleep 0.5
    kill -INT "$bg" 2>/dev/null || true
    wait "$bg" 2>/dev/null || true
    bg=""
    n=$(done_calls "$kind" "$out/$name.strace.load")
    awk -v n="${n:-0}" '
      $1 ~ /^[0-9.]+$/ && NF >= 5 {c = $4; name = $NF; if (name == "total") next; per[name] = c; tot += c}
      END {
        if (n == 0) exit
        printf "syscalls per call (strace, %d calls): %.2f;", n, tot / n
        for (s in per) if (per[s] / n >= 0.05) printf " %s %.2f", s, per[s] / n
        print ""
      }' "$out/$name.strace" | tee -a "$out/summary.txt" || true
  fi
done
echo
echo "summary: $out/summary.txt"
