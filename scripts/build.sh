#!/usr/bin/env bash
# build.sh -- configure and build into a build directory.
#   scripts/build.sh [BUILD_DIR [extra cmake args...]]   (default: build)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-build}
shift || true
case "$dir" in /*) ;; *) dir=$top/$dir ;; esac
cmake -S "$top" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$dir" -j "$(nproc)"
