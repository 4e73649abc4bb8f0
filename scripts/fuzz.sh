#!/usr/bin/env bash
# fuzz.sh -- build the libFuzzer targets and run each one for a while.
#
#   scripts/fuzz.sh [SECONDS [TARGET...]]   default: 10 s, every target
#
# TARGET is a name of tests/fuzz/fuzz_<name>.c (import, route, request,
# render, auth, reflection; "fuzz_import" works too). The targets build in
# build-fuzz/ (clang, -DSL_FUZZ=ON: ASan + UBSan + coverage), configured on
# the first run and brought up to date on every run. Each target runs for
# SECONDS on a copy of its committed corpus tests/fuzz/corpus/<name>/ in a
# temporary directory, so fuzzing never grows the committed corpus (copy a
# new input in by hand when it is worth keeping), with its dictionary
# tests/fuzz/<name>.dict when there is one.
#
# One result line per target: executions, speed, coverage, corpus growth,
# and "ok" or what was found. A crash, a leak, a timeout (-timeout=10) or
# running out of memory (-rss_limit_mb=2048) saves the input under
# build-fuzz/fuzz-artifacts/<name>/ (printed), together with the
# fuzzer's log; reproduce with build-fuzz/bin/fuzz_<name> FILE.
# Exit status: 0 when every target ran clean, 1 when one found something,
# 2 for a usage or build error.
#
# Environment: SL_FUZZ_BUILD (build dir, default build-fuzz),
# SL_FUZZ_KEEP=1 keeps the work dir (the grown corpora) and prints it.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

usage() {
  sed -n '3,4p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

secs=${1:-10}
case "$secs" in
'' | *[!0-9]*) usage ;;
esac
[ "$secs" -ge 1 ] || usage
shift || true

# The inputs each target can use: longer ones only slow the fuzzer down.
max_len_of() {
  case "$1" in
  import | auth) echo 8192 ;; # documents; a token may be 4096 bytes
  render) echo 4096 ;;
  route | reflection) echo 1024 ;;
  request) echo 256 ;;
  *) echo 4096 ;;
  esac
}

all=()
for src in tests/fuzz/fuzz_*.c; do
  n=${src##*/fuzz_}
  all+=("${n%.c}")
done
targets=()
if [ $# -eq 0 ]; then
  targets=("${all[@]}")
else
  for t in "$@"; do
    t=${t#fuzz_}
    if [ ! -f "tests/fuzz/fuzz_$t.c" ]; then
      echo "fuzz.sh: no target $t (have: ${all[*]})" >&2
      exit 2
    fi
    targets+=("$t")
  done
fi

build=${SL_FUZZ_BUILD:-build-fuzz}
case "$build" in /*) ;; *) build=$top/$build ;; esac
if ! command -v clang >/dev/null; then
  echo "fuzz.sh: clang not found; run scripts/install-deps.sh --fuzz" >&2
  exit 2
fi
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$top" -B "$build" -DCMAKE_C_COMPILER=clang -DSL_FUZZ=ON \
    -DSL_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null ||
    exit 2
fi
if ! cmake --build "$build" --target fuzz -j "$(nproc)" >"$build/fuzz-build.log" 2>&1; then
  tail -n 30 "$build/fuzz-build.log" >&2
  echo "fuzz.sh: build failed; full log: $build/fuzz-build.log" >&2
  exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sl-fuzz.XXXXXX")
if [ "${SL_FUZZ_KEEP:-0}" = 1 ]; then
  echo "fuzz.sh: work dir (kept): $work"
else
  trap 'rm -rf "$work"' EXIT
fi
artifacts=$build/fuzz-artifacts

# Leaks are findings; UBSan already aborts (-fno-sanitize-recover).
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1
export UBSAN_OPTIONS=${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1

final_stat() { # stat NAME LOG: libFuzzer's -print_final_stats value
  sed -n "s/^stat::$1: *//p" "$2" | tail -n 1
}

failed=0
echo "fuzz.sh: ${#targets[@]} target(s), ${secs} s each"
for t in "${targets[@]}"; do
  bin=$build/bin/fuzz_$t
  corpus=$work/$t
  mkdir -p "$corpus" "$artifacts/$t"
  cp tests/fuzz/corpus/"$t"/* "$corpus"/
  seeds=$(find "$corpus" -type f | wc -l)
  opts=(-max_total_time="$secs" -max_len="$(max_len_of "$t")" -timeout=10
    -rss_limit_mb=2048 -print_final_stats=1
    -artifact_prefix="$artifacts/$t/")
  [ -f "tests/fuzz/$t.dict" ] && opts+=(-dict="tests/fuzz/$t.dict")
  log=$work/$t.log
  rc=0
  "$bin" "${opts[@]}" "$corpus" >"$log" 2>&1 || rc=$?

  execs=$(final_stat number_of_executed_units "$log")
  speed=$(final_stat average_exec_per_sec "$log")
  cov=$(sed -n 's/^#[0-9]*.*[[:space:]]cov: \([0-9]*\) ft: \([0-9]*\).*/\1 \2/p' "$log" | tail -n 1)
  units=$(find "$corpus" -type f | wc -l)
  [ -n "$cov" ] || cov="? ?"
  line="fuzz_$t: ${execs:-?} execs (${speed:-?}/s), cov ${cov% *} ft ${cov#* }, corpus $seeds -> $units"
  if [ "$rc" -eq 0 ]; then
    echo "$line: ok"
    continue
  fi
  failed=1
  input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
  what=$(grep -m1 -oE 'ERROR: [A-Za-z]+: [^ ]+( [^ ]+)?|property violated: .*|ALARM: .*|out-of-memory[^)]*\)' "$log" || true)
  cp "$log" "$artifacts/$t/fuzz.log"
  echo "$line: FOUND (exit $rc) ${what:-see log}"
  echo "  input: ${input:-none saved}"
  echo "  log:   $artifacts/$t/fuzz.log"
  if [ -n "$input" ] && [ -f "$input" ]; then
    echo "  again: $bin $input"
    echo "  hex:   $(head -c 96 "$input" | od -An -v -tx1 | tr -d ' \n')"
  fi
  grep -m1 -B2 -A12 -E '^==[0-9]+==ERROR|property violated' "$log" | sed 's/^/  | /' || true
done
[ "$failed" -eq 0 ] && echo "fuzz.sh: no findings" ||
  echo "fuzz.sh: findings above; artifacts in $artifacts"
exit "$failed"
