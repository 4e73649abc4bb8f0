# pg_own.sh -- a PostgreSQL cluster of the test's own, which it can freeze
# (sourced by the test_pg_hang*.sh tests, after lib.sh)
#
# The cluster is the test's own (scripts/pg-test-server.sh in $T/pg, on a
# port of its own), never the shared SL_TEST_PG_URI one, which other tests
# use in parallel. freeze stops the postmaster and every backend with
# SIGSTOP, so TCP still connects (the kernel answers) but nothing ever
# replies; thaw resumes them. The cluster is thawed and stopped at exit
# whatever happens: lib.sh's EXIT trap (also on SIGTERM/SIGINT, see
# below), and a guard in its own session for a SIGKILL.
#
#   pg_own_start   starts it; sets PG_OWN_URI
#   freeze, thaw   as above; FROZEN_AT: when the last freeze was done
#                  (ms since the epoch)

PGCTL=$SL_SRC/scripts/pg-test-server.sh
PGD=$T/pg

thaw() {
  [ -s "$T/frozen" ] || return 0
  xargs -r kill -CONT <"$T/frozen" 2>/dev/null || true
  : >"$T/frozen"
}

pg_cleanup() {
  thaw
  "$PGCTL" stop "$PGD" >/dev/null 2>&1 || true
}

# freeze: SIGSTOP the postmaster first (it forks no one after that), then
# its children; their PIDs go to $T/frozen for thaw.
freeze() {
  local pm
  pm=$(head -n 1 "$PGD/data/postmaster.pid")
  kill -STOP "$pm"
  { echo "$pm"; pgrep -P "$pm"; } >"$T/frozen"
  xargs kill -STOP <"$T/frozen"
  _clock_ms
  FROZEN_AT=$REPLY
}

pg_own_start() {
  # As root the cluster runs as `postgres`, which must reach $PGD.
  chmod 711 "$T"
  : >"$T/frozen"
  AT_EXIT+=(pg_cleanup)
  trap 'exit 143' TERM INT HUP # exit runs lib.sh's EXIT trap: thaw, stop
  # The guard: should this shell die without its cleanup (SIGKILL, e.g. a
  # ctest timeout killing the tree), it thaws and stops the cluster. Its
  # own session, so a signal to our process group does not reach it.
  setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 0.5; done
    [ -d "$2/data" ] || exit 0
    xargs -r kill -CONT <"$3"; "$4" stop "$2"' \
    guard $$ "$PGD" "$T/frozen" "$PGCTL" </dev/null >/dev/null 2>&1 &
  # A port of its own, away from the shared cluster's (pg-test-server.sh
  # takes the first free port from SL_PG_PORT).
  PG_OWN_URI=$(SL_PG_PORT=$((26000 + $$ % 6000)) "$PGCTL" start "$PGD")
}
