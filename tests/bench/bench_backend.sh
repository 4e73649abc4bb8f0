#!/usr/bin/env bash
# bench_backend.sh -- does a query's cost grow with the store's size?
# Builds a small store (100 services x 10 logs = 1 000 logs) and a large one
# (100 000 services x 10 logs = 1 000 000 logs), in SQLite and in
# PostgreSQL, then times the same random single-service queries on both and
# prints the ratio per backend (target: large <= 1.2 x small).
#   tests/bench/bench_backend.sh [QUERIES]      (default 100000 per pass)
# PostgreSQL: the server SL_BENCH_PG_URI names (the data goes into schemas
# sl_bench_small and sl_bench_large), else a throw-away cluster in
# $BENCH_DIR/pg (scripts/pg-test-server.sh), kept with its data for the next
# run and stopped at the end. SL_BENCH_PG=0 skips PostgreSQL.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
q=${1:-100000}
scripts/install-deps.sh --bench >/dev/null
scripts/build.sh build -DSL_TESTS=ON >/dev/null
T=${BENCH_DIR:-/tmp/sl-bench-backend}
mkdir -p "$T"
SRV=build/bin/servicelogs-server

# ns LINE: the ns/query figure of a bench_store line.
ns() { echo "$1" | sed 's/.*: \([0-9]*\) ns.*/\1/'; }

# measure NAME SMALL_URI LARGE_URI: for each mode -- "same" (the same
# query, one service, as DESIGN's target says) and "random" (a random
# service each time: the whole store is the working set, so CPU caches
# favour the small one) -- one untimed pass over each store, then three
# timed rounds, small and large alternating; prints the best line of each
# (other load on the machine only adds time) and their cost ratio.
measure() {
  local name=$1 s=$2 l=$3 mode line bs bl
  for mode in same random; do
    local m=()
    [ "$mode" = same ] && m=(same)
    bs=""
    bl=""
    build/bin/bench_store "$s" 100 "$q" "${m[@]}" >/dev/null
    build/bin/bench_store "$l" 100000 "$q" "${m[@]}" >/dev/null
    for _ in 1 2 3; do
      line=$(build/bin/bench_store "$s" 100 "$q" "${m[@]}")
      if [ -z "$bs" ] || [ "$(ns "$line")" -lt "$(ns "$bs")" ]; then bs=$line; fi
      line=$(build/bin/bench_store "$l" 100000 "$q" "${m[@]}")
      if [ -z "$bl" ] || [ "$(ns "$line")" -lt "$(ns "$bl")" ]; then bl=$line; fi
    done
    echo "$bs"
    echo "$bl"
    awk -v n="$name" -v m="$mode" -v a="$(ns "$bs")" -v b="$(ns "$bl")" \
      'BEGIN { printf "%s, %s service: large/small cost ratio %.2f%s\n", n, m, b / a, m == "same" ? " (target <= 1.20)" : "" }'
  done
}

# gen: the import files, once per run that needs them.
gen() {
  [ -s "$T/large-0.json" ] && return 0
  echo "generating 1 000 000 logs..."
  /usr/bin/python3 tests/bench/gen_bench_data.py "$T/small" 100 10 100
  /usr/bin/python3 tests/bench/gen_bench_data.py "$T/large" 100000 10 10000
}

# ---- SQLite ---------------------------------------------------------------
if [ ! -s "$T/large.db" ]; then
  gen
  echo "importing into SQLite (once; kept in $T)..."
  rm -f "$T"/small.db* "$T"/large.db*
  "$SRV" import --backend "sqlite:$T/small.db" "$T/small-0.json" 2>/dev/null
  for f in "$T"/large-*.json; do
    "$SRV" import --backend "sqlite:$T/large.db" "$f" 2>/dev/null
  done
fi
ls -l "$T/small.db" "$T/large.db" | awk '{print $5, $9}'
measure sqlite "sqlite:$T/small.db" "sqlite:$T/large.db"

# ---- PostgreSQL -----------------------------------------------------------
if [ "${SL_BENCH_PG:-1}" != 0 ]; then
  pg=${SL_BENCH_PG_URI:-}
  if [ -z "$pg" ]; then
    trap 'scripts/pg-test-server.sh halt "$T/pg"' EXIT
    pg=$(scripts/pg-test-server.sh start "$T/pg")
  fi
  in_schema() {
    case "$pg" in
    *\?*) echo "$pg&options=-csearch_path%3D$1" ;;
    *) echo "$pg?options=-csearch_path%3D$1" ;;
    esac
  }
  psql_() { psql -X -q -At -v ON_ERROR_STOP=1 "$@" 2>/dev/null; }
  small=$(in_schema sl_bench_small)
  large=$(in_schema sl_bench_large)
  if [ "$(psql_ "$large" -c 'SELECT count(*) FROM logs' || true)" != 1000000 ]; then
    gen
    echo "importing into PostgreSQL (once; kept in the schemas)..."
    psql_ "$pg" -c "DROP SCHEMA IF EXISTS sl_bench_small CASCADE;
      DROP SCHEMA IF EXISTS sl_bench_large CASCADE;
      CREATE SCHEMA sl_bench_small; CREATE SCHEMA sl_bench_large"
    t0=$(date +%s%N)
    "$SRV" import --backend "$small" "$T/small-0.json" 2>/dev/null
    for f in "$T"/large-*.json; do
      "$SRV" import --backend "$large" "$f" 2>/dev/null
    done
    t1=$(date +%s%N)
    echo "PostgreSQL import of 1 001 000 logs: $(((t1 - t0) / 1000000)) ms"
    psql_ "$small" -c "VACUUM ANALYZE services, logs"
    psql_ "$large" -c "VACUUM ANALYZE services, logs"
  fi
  psql_ "$pg" -c "SELECT n.nspname || ': ' || pg_size_pretty(sum(pg_total_relation_size(c.oid)))
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname IN ('sl_bench_small', 'sl_bench_large') AND c.relkind = 'r'
    GROUP BY n.nspname ORDER BY 1 DESC"
  measure postgres "$small" "$large"
fi
rm -f "$T"/*.json
