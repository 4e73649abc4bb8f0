#!/usr/bin/env bash
# bench_sweep.sh -- QPS and p99 against concurrency (1, 8, 32, 128, 512) for
# servicelogs' gRPC and REST beside the grpc++ async server (cpp-async) and
# nginx serving the same JSON as a static file (issue 10), loopback only.
#
# Uses the peers of ../shared/peers (copied and built into build/peers-bench/
# by tests/bench/peers_setup.sh, as bench_compare.sh does) and their load
# scripts per point: bench/grpc_load.sh (h2load) and bench/rest_load.sh
# (wrk), each with its pre/post correctness checks. Builds nothing of ours:
# runs build/bin/servicelogs-server as it is, started as the peers' README
# shows (import the contract's fixture into a fresh SQLite file, exec the
# server) plus `--log-level warn` (no access line per call).
#
# The four servers run at once; at each concurrency the four loads run one
# after the other (interleaved per point: servicelogs gRPC, cpp-async,
# servicelogs REST, nginx), each a 1 s unmeasured warm-up then SECONDS
# measured. gRPC streams go over 4 HTTP/2 connections (1 at concurrency 1),
# and over ceil(C/64) connections when C/4 would pass 100 streams per
# connection, servicelogs' default --max-connection-streams (so 8 at 512).
#
# Writes DIR/sweep.tsv (one line per point and server), DIR/sweep.dat (one
# line per concurrency, for gnuplot) and DIR/sweep.png (gnuplot, pngcairo;
# gnuplot-nox is apt-installed when missing; a bench-only dependency).
#
#   tests/bench/bench_sweep.sh [options]
#     --seconds S       measured seconds per point and server (5; max 15)
#     --points "LIST"   concurrencies ("1 8 32 128 512")
#     --out DIR         where to write (build/peers-bench/results/sweep-<time>)
#     --png FILE        also copy the plot there (e.g. docs/bench/sweep.png)
#     --title TEXT      plot title suffix (e.g. the commit)
#     --install-deps    apt-get the peers' packages first (as root)
#     --no-build        use build/peers-bench/peers/build as it is
#     --server PATH     our server binary (build/bin/servicelogs-server; $SL_SERVER)
#     --replot DIR      only redraw DIR/sweep.png from DIR/sweep.dat
# Time: about 5 x 4 x (SECONDS + 2) s, under 3 minutes by default.
# Ports (below 32768): cpp-async 23051, nginx 28080, ours 23081 + 28081.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/tests/bench
work=$top/build/peers-bench
peers=$work/peers
server=${SL_SERVER:-$top/build/bin/servicelogs-server}

secs=5 points="1 8 32 128 512" out="" png="" title="" deps=0 build=1 replot=""
while (($#)); do
  case "$1" in
  --seconds) secs=$2; shift 2 ;;
  --points) points=$2; shift 2 ;;
  --out) out=$2; shift 2 ;;
  --png) png=$2; shift 2 ;;
  --title) title=$2; shift 2 ;;
  --install-deps) deps=1; shift ;;
  --no-build) build=0; shift ;;
  --server) server=$(realpath "$2"); shift 2 ;;
  --replot) replot=$2; shift 2 ;;
  -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
  *) echo "bench_sweep.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ $secs =~ ^[1-9][0-9]*$ ]] || { echo "bench_sweep.sh: bad --seconds $secs" >&2; exit 2; }
for c in $points; do [[ $c =~ ^[1-9][0-9]*$ ]] || { echo "bench_sweep.sh: bad point $c" >&2; exit 2; }; done

need_gnuplot() {
  command -v gnuplot >/dev/null && return 0
  echo "bench_sweep.sh: installing gnuplot-nox (bench-only dependency)" >&2
  local sudo=""
  [[ $(id -u) -ne 0 ]] && sudo=sudo
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null ||
    { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null; }
}
plot() { # DIR
  need_gnuplot
  gnuplot -e "dat='$1/sweep.dat'; out='$1/sweep.png'; sub='$(tr -d "'" <<<"$title")'" "$here/bench_sweep.gp"
  echo "plot: $1/sweep.png"
  if [[ -n $png ]]; then mkdir -p "$(dirname "$png")"; cp "$1/sweep.png" "$png"; echo "plot copied to $png"; fi
}
if [[ -n $replot ]]; then plot "$replot"; exit 0; fi
need_gnuplot

[[ -x $server ]] || {
  echo "bench_sweep.sh: $server is not built; this script builds nothing of ours" >&2; exit 2; }
sargs=()
((deps)) && sargs+=(--install-deps)
((build)) || sargs+=(--no-build)
"$here/peers_setup.sh" "${sargs[@]}"

fixture=$work/contract/fixture.json
read -r project service < <(jq -r '.services[] | select(.service_name == "mnist") | "\(.project_id) \(.service_id)"' "$fixture")
path=/v1/$project/services/$service/logs
AP=23051 NP=28080 GP=23081 HP=28081
for p in $AP $NP $GP $HP; do
  if ss -Hltn "sport = :$p" 2>/dev/null | grep -q .; then
    echo "bench_sweep.sh: port $p is already in use" >&2; exit 1
  fi
done

out=${out:-$work/results/sweep-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
db=$out/servicelogs.db
rm -f "$db" "$db-wal" "$db-shm"

pids=() nginx_up=0
cleanup() {
  local p
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

start() { # NAME CMD: own session / process group, like the peers' compare.sh
  setsid bash -c "exec $2" >"$out/$1.server.log" 2>&1 </dev/null &
  pids+=($!)
  echo "started $1 pid $!: $2"
}
slcmd="sh -c '$server import --backend sqlite:$db $fixture && exec $server --backend sqlite:$db --grpc-listen 127.0.0.1:$GP --http-listen 127.0.0.1:$HP --log-level warn'"
start servicelogs "$slcmd"; sl_pid=${pids[-1]}
start cpp-async "$peers/build/bin/cpp-async --listen 127.0.0.1:$AP --fixture $fixture"; as_pid=${pids[-1]}
nginx_pid=$("$peers/rest/nginx_ceiling.sh" start "127.0.0.1:$NP")
nginx_up=1

for t in "127.0.0.1:$GP" "127.0.0.1:$AP"; do
  ok=0
  for _ in $(seq 100); do "$peers/bench/grpc_check.sh" "$t" >/dev/null 2>&1 && { ok=1; break; }; sleep 0.1; done
  ((ok)) || { echo "bench_sweep.sh: $t does not answer with grpc-status 0" >&2; cat "$out"/*.server.log >&2; exit 1; }
done
for u in "http://127.0.0.1:$HP$path" "http://127.0.0.1:$NP$path"; do
  ok=0
  for _ in $(seq 100); do [[ $(curl -s -o /dev/null -w '%{http_code}' "$u") == 200 ]] && { ok=1; break; }; sleep 0.1; done
  ((ok)) || { echo "bench_sweep.sh: $u does not answer 200" >&2; exit 1; }
done

commit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
{
  echo "# bench_sweep.sh: servicelogs commit $commit; $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), kernel $(uname -r)"
  echo "# ${secs}s per point and server after a 1 s warm-up; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  printf 'concurrency\tseries\tqps\tp50_ms\tp99_ms\tserver_cpu_pct\tconnections\tok\n'
} >"$out/sweep.tsv"
get() { sed -nE "s/.* $1=([^ ]+).*/\\1/p" <<<"$2"; }
fail=0
for c in $points; do
  k=4
  ((c < k)) && k=$c
  (((c + k - 1) / k > 100)) && k=$(((c + 63) / 64))
  for s in servicelogs-grpc cpp-async servicelogs-rest nginx; do
    log=$out/$s.c$c.log
    case $s in
    servicelogs-grpc | cpp-async)
      [[ $s == cpp-async ]] && { t=127.0.0.1:$AP; p=$as_pid; } || { t=127.0.0.1:$GP; p=$sl_pid; }
      rc=0
      SERVER_PID=$p WARMUP=1 CONNECTIONS=$k "$peers/bench/grpc_load.sh" "$t" "$secs" "$c" >"$log" 2>&1 || rc=$?
      line=$(grep '^RESULT ' "$log" | tail -1) || true
      q=$(get qps "$line") okv=$(get grpc_ok "$line") conn=$k
      ;;
    *)
      if [[ $s == nginx ]]; then u=http://127.0.0.1:$NP$path p=$nginx_pid; else u=http://127.0.0.1:$HP$path p=$sl_pid; fi
      rc=0
      SERVER_PID=$p WARMUP=1 "$peers/bench/rest_load.sh" "$u" "$secs" "$c" >"$log" 2>&1 || rc=$?
      line=$(grep '^RESULT ' "$log" | tail -1) || true
      q=$(get rps "$line") okv=$(get rest_ok "$line") conn=$c
      ;;
    esac
    ((rc == 0)) || fail=1
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$c" "$s" "${q:-0}" "$(get p50_ms "$line")" "$(get p99_ms "$line")" \
      "$(get server_cpu_pct "$line")" "$conn" "${okv:-no}" | tee -a "$out/sweep.tsv"
  done
done

# one line per concurrency: qps and p99 of each series, in a fixed order
awk -F'\t' '
  /^#/ || $1 == "concurrency" {next}
  {q[$1, $2] = $3; p[$1, $2] = $5; if (!($1 in seen)) {seen[$1] = 1; cs[++n] = $1}}
  END {
    split("servicelogs-grpc cpp-async servicelogs-rest nginx", S, " ")
    printf "# concurrency"; for (i = 1; i <= 4; i++) printf " %s_qps %s_p99_ms", S[i], S[i]; print ""
    for (j = 1; j <= n; j++) {
      c = cs[j]; printf "%s", c
      for (i = 1; i <= 4; i++) printf " %s %s", ((c, S[i]) in q && q[c, S[i]] != "") ? q[c, S[i]] : "NaN",
        ((c, S[i]) in p && p[c, S[i]] != "") ? p[c, S[i]] : "NaN"
      print ""
    }
  }' "$out/sweep.tsv" >"$out/sweep.dat"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/sweep.tsv"
[[ -z $title ]] && title="servicelogs $commit"
plot "$out"
echo "data: $out/sweep.tsv $out/sweep.dat"
((fail == 0)) || echo "bench_sweep.sh: some points failed their correctness checks (ok=no in sweep.tsv)" >&2
exit $fail
