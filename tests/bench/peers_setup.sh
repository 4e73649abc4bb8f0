#!/usr/bin/env bash
# peers_setup.sh [--install-deps] [--no-go] [--no-build] -- shared by
# bench_compare.sh and bench_sweep.sh: copies ../shared/peers and
# ../shared/contract (relative to the repo; $SHARED overrides) side by side
# into build/peers-bench/ (../shared is read-only in CI, and the peers'
# scripts find the fixture at ../contract and build into peers/build/), then
# builds the peers there with their own build.sh. --install-deps runs
# `./build.sh --install-deps` first (apt-get: wrk, h2load, nginx-light, grpc++,
# Go; as root). --no-build only checks that an earlier build is there.
# Builds nothing of ours. Prints nothing on stdout but the peers' output.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
shared=${SHARED:-$top/../shared}
work=$top/build/peers-bench
deps=0 go=1 build=1
for a in "$@"; do
  case "$a" in
  --install-deps) deps=1 ;;
  --no-go) go=0 ;;
  --no-build) build=0 ;;
  *) echo "peers_setup.sh: unknown argument $a" >&2; exit 2 ;;
  esac
done
if ((build)); then
  [[ -d $shared/peers && -d $shared/contract ]] || {
    echo "peers_setup.sh: no $shared/peers and $shared/contract (set SHARED=DIR)" >&2; exit 2; }
  for d in peers contract; do # keep an earlier peers/build (incremental make)
    mkdir -p "$work/$d"
    (cd "$shared/$d" && tar --exclude=./build -cf - .) | (cd "$work/$d" && tar -xf -)
  done
  bargs=()
  ((go)) || bargs+=(--no-go)
  ((deps)) && (cd "$work/peers" && ./build.sh --install-deps "${bargs[@]}")
  (cd "$work/peers" && ./build.sh "${bargs[@]}")
fi
for f in peers/build/bin/ceiling peers/build/bin/cpp-async peers/build/data/mnist.request.bin contract/fixture.json; do
  [[ -e $work/$f ]] || { echo "peers_setup.sh: $work/$f missing (run without --no-build)" >&2; exit 2; }
done
for t in h2load wrk nginx nghttp jq curl; do
  command -v $t >/dev/null || { echo "peers_setup.sh: $t missing (--install-deps)" >&2; exit 2; }
done
