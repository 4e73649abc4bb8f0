#!/usr/bin/env bash
# bench_compare.sh -- servicelogs side by side with the reference servers of
# ../shared/peers (issue 10), in one run, loopback only:
#
#   gRPC  peers' bench/compare.sh:      ceiling (bare C core), cpp-async
#                                       (grpc++ 1.51 CQ), servicelogs (--extra)
#   REST  peers' bench/rest_compare.sh: nginx static, go-gateway -> cpp-async,
#                                       servicelogs (--extra)
#
# then prints the issue's ratio tables with the targets:
#   gRPC  QPS vs cpp-async (>= 1.3), calls per server-CPU-second vs the
#         ceiling (>= 0.8), p99 vs cpp-async (<= 1.0)
#   REST  req/s vs nginx (>= 0.5) and vs go-gateway (>= 5), p99 (< 5 ms)
#
# What it does:
#   1. copies ../shared/peers and ../shared/contract (relative to the repo;
#      $SHARED overrides) side by side into build/peers-bench/ (../shared is
#      read-only in CI; the peers' scripts find the fixture at ../contract);
#   2. builds the peers there (`./build.sh`; with --install-deps first
#      `./build.sh --install-deps`, which apt-installs wrk, h2load, nginx,
#      Go, grpc++ ...; as root);
#   3. builds NOTHING of ours: it runs build/bin/servicelogs-server as it is
#      (`scripts/build.sh build` or `cmake --build build` first);
#   4. starts our server exactly as the peers' README shows (import the
#      contract's fixture into a fresh SQLite file, then exec the server),
#      plus `--log-level warn`: at the default `info` every call writes an
#      access line to stderr, which would dominate the profile;
#   5. runs both compare scripts and prints the tables (also written to
#      build/peers-bench/results/compare-<time>.txt).
#
#   tests/bench/bench_compare.sh [options]
#     --seconds S          measured seconds per run (10; the peers cap it at 15)
#     --rounds N           interleaved rounds (5)
#     --concurrency C      gRPC streams in flight (32)
#     --grpc-connections K gRPC HTTP/2 connections (4)
#     --connections C      REST connections (32)
#     --only grpc|rest     run one side only
#     --pin                server on CPU 1, load generator on CPU 0
#     --install-deps       apt-get the peers' packages first (as root)
#     --no-go              build the peers without Go (no go-gateway row)
#     --no-build           use build/peers-bench/peers/build as it is
#     --server PATH        our server binary (build/bin/servicelogs-server; $SL_SERVER)
#     --also NAME PATH     one more servicelogs binary in the same run, as its own
#                          --extra (e.g. the commit before a change: before/after
#                          interleaved in one run); ports 23082/28082, then 23083...
#     --label TEXT         a line to put at the top of the tables
# Ports (below 32768, see the peers' README): ours 23081 (gRPC) and 28081
# (REST); the peers' defaults 23061, 23051, 28080, 28090, 23151.
# Exit status: 0 when every run was correct (grpc_ok/rest_ok), 1 otherwise
# (targets not met do not fail the script; the tables say so).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
work=$top/build/peers-bench
server=${SL_SERVER:-$top/build/bin/servicelogs-server}

secs=10 rounds=5 conc=32 gconns=4 rconns=32 only="" pin=() deps=0 go=1 build=1 label=""
also_names=() also_paths=()
while (($#)); do
  case "$1" in
  --seconds) secs=$2; shift 2 ;;
  --rounds) rounds=$2; shift 2 ;;
  --concurrency) conc=$2; shift 2 ;;
  --grpc-connections) gconns=$2; shift 2 ;;
  --connections) rconns=$2; shift 2 ;;
  --only) only=$2; shift 2 ;;
  --pin) pin=(--pin); shift ;;
  --install-deps) deps=1; shift ;;
  --no-go) go=0; shift ;;
  --no-build) build=0; shift ;;
  --server) server=$(realpath "$2"); shift 2 ;;
  --also) also_names+=("$2"); also_paths+=("$(realpath "$3")"); shift 3 ;;
  --label) label=$2; shift 2 ;;
  -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
  *) echo "bench_compare.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$only" in "" | grpc | rest) ;; *) echo "bench_compare.sh: --only grpc|rest" >&2; exit 2 ;; esac
for v in "$secs" "$rounds" "$conc" "$gconns" "$rconns"; do
  [[ $v =~ ^[1-9][0-9]*$ ]] || { echo "bench_compare.sh: bad number $v" >&2; exit 2; }
done

# our servers: NAME, binary, gRPC port, REST port
sl_names=(servicelogs "${also_names[@]}")
sl_bins=("$server" "${also_paths[@]}")
GP=${SL_GRPC_PORT:-23081} HP=${SL_HTTP_PORT:-28081}
sl_gports=() sl_hports=()
for i in "${!sl_names[@]}"; do
  sl_gports+=($((GP + i)))
  sl_hports+=($((HP + i)))
  [[ -x ${sl_bins[i]} ]] || {
    echo "bench_compare.sh: ${sl_bins[i]} is not built; this script builds nothing of ours" >&2
    echo "  (scripts/build.sh build, or cmake --build build)" >&2
    exit 2
  }
  [[ ${sl_names[i]} =~ ^[A-Za-z0-9._-]+$ ]] || { echo "bench_compare.sh: bad name ${sl_names[i]}" >&2; exit 2; }
done

# 1.-2. copy the peers and the contract, build the peers (nothing of ours)
sargs=()
((deps)) && sargs+=(--install-deps)
((go)) || sargs+=(--no-go)
((build)) || sargs+=(--no-build)
"$top/tests/bench/peers_setup.sh" "${sargs[@]}"

fixture=$work/contract/fixture.json
read -r project service < <(jq -r '.services[] | select(.service_name == "mnist") | "\(.project_id) \(.service_id)"' "$fixture")
for p in "${sl_gports[@]}" "${sl_hports[@]}"; do
  if ss -Hltn "sport = :$p" 2>/dev/null | grep -q .; then
    echo "bench_compare.sh: port $p is already in use" >&2; exit 1
  fi
done

stamp=$(date +%Y%m%d-%H%M%S)
res=$work/results
mkdir -p "$res"
run=$res/run-$stamp
mkdir -p "$run"
tables=$res/compare-$stamp.txt

# 4. each binary imports the contract's fixture into a fresh SQLite file
# (checked here, to fail early with the message); then the peers' README
# command: import, then exec the server (`sh -c` keeps the PID the
# server's), plus --log-level warn. The peers' compare scripts start, watch
# and stop these commands themselves (their own traps); this script starts
# no process of its own that outlives a step.
gextras=() rextras=() slcmds=()
for i in "${!sl_names[@]}"; do
  n=${sl_names[i]} bin=${sl_bins[i]} db=$run/${sl_names[i]}.db
  rm -f "$db" "$db-wal" "$db-shm"
  "$bin" import --backend "sqlite:$db" "$fixture" >"$run/$n.import.log" 2>&1 || {
    cat "$run/$n.import.log" >&2; echo "bench_compare.sh: $n: import of $fixture failed" >&2; exit 1; }
  cmd="sh -c '$bin import --backend sqlite:$db $fixture && exec $bin --backend sqlite:$db --grpc-listen 127.0.0.1:${sl_gports[i]} --http-listen 127.0.0.1:${sl_hports[i]} --log-level warn'"
  slcmds+=("$cmd")
  gextras+=(--extra "$n" "$cmd" "${sl_gports[i]}")
  rextras+=(--extra "$n" "$cmd" "http://127.0.0.1:${sl_hports[i]}/v1/$project/services/$service/logs")
done

commit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$top" status --porcelain -- server client CMakeLists.txt 2>/dev/null | head -1)
{
  [[ -n $label ]] && echo "$label"
  echo "repo at commit $commit${dirty:+ (server/ or client/ has uncommitted changes)}"
  for i in "${!sl_names[@]}"; do
    echo "${sl_names[i]}: ${sl_bins[i]} (built $(date -u -r "${sl_bins[i]}" +%FT%TZ))"
  done
  echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), kernel $(uname -r); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  for i in "${!sl_names[@]}"; do echo "${sl_names[i]} command: ${slcmds[i]}"; done
} | tee "$tables"

fail=0
grpc_dir="" rest_dir=""
if [[ $only != rest ]]; then
  echo; echo "== gRPC: bench/compare.sh --seconds $secs --rounds $rounds --concurrency $conc --connections $gconns ${pin[*]} --extra ${sl_names[*]} ..."
  set +e
  (cd "$work/peers" && bench/compare.sh --seconds "$secs" --rounds "$rounds" --concurrency "$conc" \
    --connections "$gconns" "${pin[@]}" "${gextras[@]}") 2>&1 | tee "$run/grpc.out"
  rc=${PIPESTATUS[0]}
  set -e
  ((rc == 0)) || fail=1
  grpc_dir=$(sed -n 's/^results: //p' "$run/grpc.out" | tail -1)
fi
if [[ $only != grpc ]]; then
  echo; echo "== REST: bench/rest_compare.sh --seconds $secs --rounds $rounds --connections $rconns ${pin[*]} --extra ${sl_names[*]} ..."
  set +e
  (cd "$work/peers" && bench/rest_compare.sh --seconds "$secs" --rounds "$rounds" --connections "$rconns" \
    "${pin[@]}" "${rextras[@]}") 2>&1 | tee "$run/rest.out"
  rc=${PIPESTATUS[0]}
  set -e
  ((rc == 0)) || fail=1
  rest_dir=$(sed -n 's/^results: //p' "$run/rest.out" | tail -1)
fi

# 5. the ratio tables, from the medians of each script's results.tsv
med() { # TSV NAME COLUMN -> median of that column over the rounds
  awk -F'\t' -v n="$2" -v c="$3" 'NR > 1 && $2 == n && $c != "" && $c != "na" {print $c}' "$1" |
    sort -g | awk '{v[NR] = $1} END {if (!NR) {print "na"; exit}
      if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
oks() { awk -F'\t' -v n="$2" 'NR > 1 && $2 == n {print $8}' "$1" | sort -u | tr '\n' ' ' | sed 's/ $//'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "na" || b == "na" || b + 0 == 0) print "na"; else printf "%.2f", a / b}'; }
eff() { awk -v q="$1" -v c="$2" 'BEGIN {if (q == "na" || c == "na" || c + 0 == 0) print "na"; else printf "%.0f", q / (c / 100)}'; }
verdict() { # VALUE OP TARGET
  awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {if (v == "na") {print "n/a"; exit}
    ok = (op == ">=") ? v + 0 >= t + 0 : (op == "<=") ? v + 0 <= t + 0 : v + 0 < t + 0
    print ok ? "met" : "NOT met"}'
}
{
  if [[ -n $grpc_dir && -s $grpc_dir/results.tsv ]]; then
    t=$grpc_dir/results.tsv
    echo
    echo "gRPC QueryServiceLogs (mnist), h2load -t1, $conc streams over $gconns connections, ${secs}s x $rounds interleaved rounds (medians); $grpc_dir"
    echo
    echo "| server | QPS | p50 ms | p99 ms | server CPU % | calls per server-CPU-s | correct |"
    echo "|---|---:|---:|---:|---:|---:|---|"
    for n in ceiling cpp-async "${sl_names[@]}"; do
      q=$(med "$t" "$n" 3) c=$(med "$t" "$n" 6)
      printf '| %s | %.0f | %s | %s | %s | %s | grpc_ok=%s |\n' "$n" "$q" "$(med "$t" "$n" 4)" "$(med "$t" "$n" 5)" \
        "$c" "$(eff "$q" "$c")" "$(oks "$t" "$n")"
    done
    q_as=$(med "$t" cpp-async 3) p_as=$(med "$t" cpp-async 5)
    e_ce=$(eff "$(med "$t" ceiling 3)" "$(med "$t" ceiling 6)")
    for n in "${sl_names[@]}"; do
      q_sl=$(med "$t" "$n" 3) p_sl=$(med "$t" "$n" 5)
      e_sl=$(eff "$q_sl" "$(med "$t" "$n" 6)")
      r1=$(div "$q_sl" "$q_as") r2=$(div "$e_sl" "$e_ce") r3=$(div "$p_sl" "$p_as")
      echo
      echo "| gRPC ratio ($n / peer) | value | target | |"
      echo "|---|---:|---|---|"
      echo "| QPS / cpp-async | $r1 | >= 1.3 | $(verdict "$r1" ">=" 1.3) |"
      echo "| calls per server-CPU-s / ceiling | $r2 | >= 0.8 | $(verdict "$r2" ">=" 0.8) |"
      echo "| p99 / cpp-async p99 ($p_sl / $p_as ms) | $r3 | <= 1.0 | $(verdict "$r3" "<=" 1.0) |"
    done
  fi
  if [[ -n $rest_dir && -s $rest_dir/results.tsv ]]; then
    t=$rest_dir/results.tsv
    echo
    echo "REST GET .../logs (mnist), wrk -t1, $rconns connections, ${secs}s x $rounds interleaved rounds (medians; CPU includes children); $rest_dir"
    echo
    echo "| server | req/s | p50 ms | p99 ms | server CPU % | req per server-CPU-s | correct |"
    echo "|---|---:|---:|---:|---:|---:|---|"
    for n in nginx-static go-gateway "${sl_names[@]}"; do
      grep -q "	$n	" "$t" || continue
      q=$(med "$t" "$n" 3) c=$(med "$t" "$n" 6)
      printf '| %s | %.0f | %s | %s | %s | %s | rest_ok=%s |\n' "$n" "$q" "$(med "$t" "$n" 4)" "$(med "$t" "$n" 5)" \
        "$c" "$(eff "$q" "$c")" "$(oks "$t" "$n")"
    done
    for n in "${sl_names[@]}"; do
      q_sl=$(med "$t" "$n" 3) p_sl=$(med "$t" "$n" 5)
      r1=$(div "$q_sl" "$(med "$t" nginx-static 3)") r2=$(div "$q_sl" "$(med "$t" go-gateway 3)")
      echo
      echo "| REST ratio ($n / peer) | value | target | |"
      echo "|---|---:|---|---|"
      echo "| req/s / nginx static | $r1 | >= 0.5 | $(verdict "$r1" ">=" 0.5) |"
      echo "| req/s / go-gateway | $r2 | >= 5 | $(verdict "$r2" ">=" 5) |"
      echo "| p99 ms at $rconns connections | $p_sl | < 5 | $(verdict "$p_sl" "<" 5) |"
    done
  fi
  echo
  echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee -a "$tables"
echo "tables: $tables"
exit $fail
