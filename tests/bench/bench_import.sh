#!/usr/bin/env bash
# bench_import.sh -- the streaming import at scale (issue 11, item 1).
# Generates one file of 1 000 000 logs over 100 000 services
# (gen_bench_data.py, kept in $BENCH_DIR), imports it into a new SQLite
# file and into a new PostgreSQL schema under /usr/bin/time -v, and prints
# wall time and peak RSS (targets: < 60 s, < 64 MiB); then times the same
# single-service query on that store and on a 1 000-log store (bench_store,
# best of five; target: large <= 1.2 x small).
#   tests/bench/bench_import.sh [QUERIES]          (default 100000)
# PostgreSQL: the server SL_BENCH_PG_URI names (schemas sl_imp_small and
# sl_imp_big), else a throw-away cluster (scripts/pg-test-server.sh),
# stopped at the end. SL_BENCH_PG=0 skips PostgreSQL. BUILD (default
# build) is the build directory.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
q=${1:-100000}
B=${BUILD:-build}
[ -x "$B/bin/bench_store" ] || scripts/build.sh "$B" -DSL_TESTS=ON >/dev/null
T=${BENCH_DIR:-/tmp/sl-bench-import}
mkdir -p "$T"
SRV=$B/bin/servicelogs-server
if [ ! -s "$T/big-0.json" ]; then
  echo "generating 1 000 000 logs over 100 000 services..."
  /usr/bin/python3 tests/bench/gen_bench_data.py "$T/big" 100000 10 100000
fi
[ -s "$T/small-0.json" ] ||
  /usr/bin/python3 tests/bench/gen_bench_data.py "$T/small" 100 10 100
echo "file: $(stat -c %s "$T/big-0.json") bytes"

# timed NAME BACKEND FILE: one import under /usr/bin/time -v.
timed() {
  local out
  out=$(/usr/bin/time -v "$SRV" import --backend "$2" "$3" 2>&1) || {
    echo "$out" >&2
    return 1
  }
  echo "$out" | awk -v n="$1" '
    /imported/ { sub(/.*imported [^:]*: /, ""); what = $0 }
    /Elapsed \(wall clock\)/ { t = $NF }
    /Maximum resident set size/ { rss = $NF }
    END { printf "%s import: %s, wall %s, peak RSS %.1f MiB (targets: < 60 s, < 64 MiB)\n", n, what, t, rss / 1024 }'
}

ns() { echo "$1" | sed 's/.*: \([0-9]*\) ns.*/\1/'; }

# ratio NAME SMALL_URI LARGE_URI: the same query, best of five rounds
# (small and large alternating: other load on the machine only adds time).
ratio() {
  local bs="" bl="" line
  "$B/bin/bench_store" "$2" 100 "$q" same >/dev/null
  "$B/bin/bench_store" "$3" 100000 "$q" same >/dev/null
  for _ in 1 2 3 4 5; do
    line=$("$B/bin/bench_store" "$2" 100 "$q" same)
    if [ -z "$bs" ] || [ "$(ns "$line")" -lt "$(ns "$bs")" ]; then bs=$line; fi
    line=$("$B/bin/bench_store" "$3" 100000 "$q" same)
    if [ -z "$bl" ] || [ "$(ns "$line")" -lt "$(ns "$bl")" ]; then bl=$line; fi
  done
  echo "$bs"
  echo "$bl"
  awk -v n="$1" -v a="$(ns "$bs")" -v b="$(ns "$bl")" \
    'BEGIN { printf "%s: large/small query cost ratio %.2f (target <= 1.20)\n", n, b / a }'
}

# ---- SQLite ---------------------------------------------------------------
rm -f "$T"/big.db* "$T"/small.db*
timed sqlite "sqlite:$T/big.db" "$T/big-0.json"
"$SRV" import --backend "sqlite:$T/small.db" "$T/small-0.json" 2>/dev/null
ratio sqlite "sqlite:$T/small.db" "sqlite:$T/big.db"

# ---- PostgreSQL -----------------------------------------------------------
if [ "${SL_BENCH_PG:-1}" != 0 ]; then
  pg=${SL_BENCH_PG_URI:-}
  if [ -z "$pg" ]; then
    trap 'scripts/pg-test-server.sh stop "$T/pg"' EXIT
    pg=$(scripts/pg-test-server.sh start "$T/pg")
  fi
  in_schema() {
    case "$pg" in
    *\?*) echo "$pg&options=-csearch_path%3D$1" ;;
    *) echo "$pg?options=-csearch_path%3D$1" ;;
    esac
  }
  psql -X -q -v ON_ERROR_STOP=1 "$pg" -c "
    DROP SCHEMA IF EXISTS sl_imp_small CASCADE;
    DROP SCHEMA IF EXISTS sl_imp_big CASCADE;
    CREATE SCHEMA sl_imp_small; CREATE SCHEMA sl_imp_big" 2>/dev/null
  timed postgres "$(in_schema sl_imp_big)" "$T/big-0.json"
  "$SRV" import --backend "$(in_schema sl_imp_small)" "$T/small-0.json" 2>/dev/null
  for s in sl_imp_small sl_imp_big; do
    psql -X -q "$(in_schema $s)" -c "VACUUM ANALYZE services, logs" 2>/dev/null
  done
  ratio postgres "$(in_schema sl_imp_small)" "$(in_schema sl_imp_big)"
fi
