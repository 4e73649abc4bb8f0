#!/usr/bin/env bash
# test_cache.sh -- issue 10, lever 2: the response cache stays correct
# across servers that share one store, on SQLite (and PostgreSQL when
# SL_TEST_PG_URI is set).
#
# Servers A and B read one store, each with its own cache (the default
# --cache-bytes). The promise (docs/api.md, "Response cache"): exact on one
# server (a write answered by a server is in that server's next answer);
# across servers, a write shows on another server once that server's
# change feed has read it (SQLite: a 5 ms poll; PostgreSQL: its NOTIFY),
# and an answer never goes back to the old state once it showed the new.
#   1. writes through A, reads through B at once (cache_probe.py: gRPC in a
#      tight loop, then gRPC and REST): B shows each write within BOUND_MS
#      and never goes back;
#   2. a write through B is in B's very next answers (gRPC and REST), with
#      B's cache warm;
#   3. a rename through A (put-service) and an import by another process
#      (servicelogs-server import) show on B within the bound;
#   4. B's /metrics: hits, misses and invalidations moved;
#   5. a server with --cache-bytes 0 answers the same bytes (gRPC and
#      REST) as B, whose answers come from its cache.
# BOUND_MS is a margin over the measured few milliseconds (a busy machine
# runs the tests in parallel); the measured figure is printed.
. "$(dirname "$0")/lib.sh"

BOUND_MS=${SL_CACHE_BOUND_MS:-3000}
P=demo-project
S=mnist-svc
PROBE="$PY $I/cache_probe.py"
log_json() {
  printf '{"update_time": %s, "result": "%s", "config": [{"model_id": "m3", "model_name": "mnist", "model_version": "2.0.0", "weight": 100, "specification": "modelarts.vm.cpu.2u", "instance_count": 1}]}' "$1" "$2"
}
# q ADDR SERVICE: the CLI's query document (gRPC).
q() { "$CLI" query --addr "$1" --project $P --service "$2"; }
# rest PORT SERVICE: the REST body.
rest() { curl -sf --max-time 10 "http://127.0.0.1:$1/v1/$P/services/$2/logs"; }
metric() { # PORT NAME: its value on /metrics
  curl -sf --max-time 10 "http://127.0.0.1:$1/metrics" | sed -n "s/^$2 //p"
}
has() { case "$1" in *"$2"*) return 0 ;; esac; return 1; }
q_has() { has "$(q "$1" "$2")" "$3"; }
rest_has() { has "$(rest "$1" "$2")" "$3"; }

run_backend() {
  local name=$1 uri=$2
  "$SERVER" import --backend "$uri" "$SL_SRC/demo/demo.json" 2>/dev/null ||
    fail "$name: import the demo"
  start_server "$T/a-$name.log" --backend "$uri" --grpc-listen=127.0.0.1:0 \
    --http-listen=127.0.0.1:0 --threads=2
  local A=$SERVER_PID AG=127.0.0.1:$GRPC_PORT
  start_server "$T/b-$name.log" --backend "$uri" --grpc-listen=127.0.0.1:0 \
    --http-listen=127.0.0.1:0 --threads=2
  local B=$SERVER_PID BG=127.0.0.1:$GRPC_PORT BH=$HTTP_PORT
  start_server "$T/c-$name.log" --backend "$uri" --grpc-listen=127.0.0.1:0 \
    --http-listen=127.0.0.1:0 --threads=2 --cache-bytes=0
  local C=$SERVER_PID CG=127.0.0.1:$GRPC_PORT CH=$HTTP_PORT

  # 1. through A, read through B at once.
  if $PROBE "$AG" "$BG" "127.0.0.1:$BH" $P $S 1800000000000 3 "$BOUND_MS" \
    >"$T/probe-$name" 2>&1; then
    pass "$name: writes through A show on B within ${BOUND_MS} ms and never go back ($(tail -1 "$T/probe-$name"))"
  else
    fail "$name: cache_probe: $(tr '\n' ';' <"$T/probe-$name")"
  fi

  # 2. through B: exact on B, its cache warm (the probe's read follows the
  # write's answer within a millisecond, before B's feed could see it).
  if $PROBE "$BG" "$BG" "127.0.0.1:$BH" $P $S 1850000000000 6 "$BOUND_MS" \
    >"$T/probe-b-$name" 2>&1; then
    pass "$name: writes through B are in B's very next answers"
  else
    fail "$name: cache_probe on B alone: $(tr '\n' ';' <"$T/probe-b-$name")"
  fi
  q "$BG" $S >/dev/null
  rest "$BH" $S >/dev/null
  local h0
  h0=$(metric "$BH" servicelogs_cache_hits_total)
  q "$BG" $S >/dev/null
  rest "$BH" $S >/dev/null
  [ "$(metric "$BH" servicelogs_cache_hits_total)" -ge $((h0 + 2)) ] &&
    pass "$name: B's cache answers repeated reads (gRPC and REST)" ||
    fail "$name: B's hits did not move on repeated reads"
  log_json 1900000000000 SUCCESS |
    "$CLI" record --addr "$BG" --project $P --service $S - >/dev/null ||
    fail "$name: record through B"
  q_has "$BG" $S 1900000000000 && rest_has "$BH" $S 1900000000000 &&
    pass "$name: a write through B is in B's next answers (gRPC, REST)" ||
    fail "$name: B's next answer missed B's own write"

  # 3. a rename through A; an import by another process.
  q "$BG" edge-svc >/dev/null
  rest "$BH" edge-svc >/dev/null
  "$CLI" put-service --addr "$AG" --project $P --service edge-svc \
    --name "edge renamed" --infer-type edge >/dev/null ||
    fail "$name: put-service through A"
  wait_for $((BOUND_MS / 1000 + 1)) q_has "$BG" edge-svc '"edge renamed"' &&
    wait_for 1 rest_has "$BH" edge-svc '"edge renamed"' &&
    pass "$name: a rename through A shows on B" ||
    fail "$name: B kept the old name: $(q "$BG" edge-svc | head -3)"
  cat >"$T/imp-$name.json" <<EOF
{"services": [{"project_id": "$P", "service_id": "edge-svc",
  "service_name": "edge imported", "infer_type": "edge",
  "logs": [{"update_time": 1600000000000, "result": "FAIL",
    "config": [{"model_id": "m3", "model_name": "mnist", "model_version": "2"}]}]}]}
EOF
  q "$BG" edge-svc >/dev/null
  "$SERVER" import --backend "$uri" "$T/imp-$name.json" 2>/dev/null ||
    fail "$name: import the new history"
  wait_for $((BOUND_MS / 1000 + 1)) q_has "$BG" edge-svc '"edge imported"' &&
    wait_for 1 rest_has "$BH" edge-svc 1600000000000 &&
    pass "$name: an import by another process shows on B" ||
    fail "$name: B kept the history from before the import"

  # 4. B's metrics.
  local hits miss inv
  hits=$(metric "$BH" servicelogs_cache_hits_total)
  miss=$(metric "$BH" servicelogs_cache_misses_total)
  inv=$(metric "$BH" servicelogs_cache_invalidations_total)
  [ "${hits:-0}" -gt 100 ] && [ "${miss:-0}" -ge 5 ] && [ "${inv:-0}" -ge 5 ] &&
    [ "$(metric "$BH" servicelogs_cache_entries)" -ge 1 ] &&
    pass "$name: B's cache metrics: $hits hits, $miss misses, $inv invalidations" ||
    fail "$name: B's cache metrics: hits=$hits misses=$miss invalidations=$inv"
  [ "$(metric "$CH" servicelogs_cache_hits_total)" = 0 ] &&
    [ "$(metric "$CH" servicelogs_cache_entries)" = 0 ] &&
    pass "$name: --cache-bytes 0 caches nothing" ||
    fail "$name: the server without a cache counted hits"

  # 5. the same bytes with and without the cache (B's answers are hits:
  # read twice first).
  local svc same=1
  for svc in $S edge-svc batch-svc no-such-svc; do
    q "$BG" $svc >/dev/null 2>&1 || true
    rest "$BH" $svc >/dev/null 2>&1 || true
    [ "$(q "$BG" $svc 2>&1)" = "$(q "$CG" $svc 2>&1)" ] || same=0
    curl -s --max-time 10 "http://127.0.0.1:$BH/v1/$P/services/$svc/logs" >"$T/b.body"
    curl -s --max-time 10 "http://127.0.0.1:$CH/v1/$P/services/$svc/logs" >"$T/c.body"
    cmp -s "$T/b.body" "$T/c.body" || same=0
    [ -s "$T/b.body" ] || same=0
  done
  [ $same = 1 ] && pass "$name: same answers (gRPC, REST bytes) with and without the cache" ||
    fail "$name: answers differ with and without the cache"

  stop_server $A || fail "$name: A's exit status"
  stop_server $B || fail "$name: B's exit status"
  stop_server $C || fail "$name: C's exit status"
}

run_backend sqlite "sqlite:$T/c.db"

if [ -n "${SL_TEST_PG_URI:-}" ] && have_pg_backend; then
  SCHEMA=sl_cache_$$
  psql -X -q "$SL_TEST_PG_URI" -c "CREATE SCHEMA $SCHEMA" >/dev/null
  drop_schema() {
    PGOPTIONS="-c client_min_messages=warning" psql -X -q "$SL_TEST_PG_URI" \
      -c "DROP SCHEMA $SCHEMA CASCADE" >/dev/null
  }
  AT_EXIT+=(drop_schema)
  case "$SL_TEST_PG_URI" in
  *\?*) PGU="$SL_TEST_PG_URI&options=-csearch_path%3D$SCHEMA" ;;
  *) PGU="$SL_TEST_PG_URI?options=-csearch_path%3D$SCHEMA" ;;
  esac
  run_backend postgres "$PGU"
else
  echo "PostgreSQL part skipped: SL_TEST_PG_URI unset"
fi
finish
