#!/usr/bin/env bash
# bench_backend.sh -- does a query's cost grow with the store's size?
# Builds a small SQLite store (100 services x 10 logs = 1 000 logs) and a
# large one (100 000 services x 10 logs = 1 000 000 logs), then times the
# same random single-service queries on both and prints the ratio
# (target: large <= 1.2 x small).
#   tests/bench/bench_backend.sh [QUERIES]      (default 200000)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
q=${1:-200000}
scripts/install-deps.sh --bench >/dev/null
scripts/build.sh build -DSL_TESTS=ON >/dev/null
T=${BENCH_DIR:-/tmp/sl-bench-backend}
mkdir -p "$T"
SRV=build/bin/servicelogs-server
if [ ! -s "$T/large.db" ]; then
  echo "generating and importing 1 000 000 logs (once; kept in $T)..."
  /usr/bin/python3 tests/bench/gen_bench_data.py "$T/small" 100 10 100
  /usr/bin/python3 tests/bench/gen_bench_data.py "$T/large" 100000 10 10000
  rm -f "$T"/small.db* "$T"/large.db*
  "$SRV" import --backend "sqlite:$T/small.db" "$T/small-0.json" 2>/dev/null
  for f in "$T"/large-*.json; do
    "$SRV" import --backend "sqlite:$T/large.db" "$f" 2>/dev/null
  done
  rm -f "$T"/*.json
fi
ls -l "$T/small.db" "$T/large.db" | awk '{print $5, $9}'
small=$(build/bin/bench_store "sqlite:$T/small.db" 100 "$q")
large=$(build/bin/bench_store "sqlite:$T/large.db" 100000 "$q")
echo "$small"
echo "$large"
a=$(echo "$small" | sed 's/.*: \([0-9]*\) ns.*/\1/')
b=$(echo "$large" | sed 's/.*: \([0-9]*\) ns.*/\1/')
awk -v a="$a" -v b="$b" 'BEGIN { printf "large/small cost ratio: %.2f (target <= 1.20)\n", b / a }'
