# lib.sh -- shared helpers for the integration tests (sourced, not run)
#
# Tests start the real binaries from $SL_BIN on 127.0.0.1, check them with
# real clients (the nanopb CLI, curl, Python grpcio) and stop them with
# SIGTERM, which must exit 0. SL_VALGRIND=1 runs the server under valgrind
# (leak-checked).
#
# The tests run in parallel (ctest -j), so nothing here is shared between
# two of them: every file lives in the test's own $T, and every port is
# bound to port 0 -- the kernel hands out a free one and the process says
# which (servers: their start-up lines; Python helpers: a line on stdout).
# A test never guesses a free port, and never sleeps for a fixed time to
# wait for something: it polls the condition with a deadline (wait_for and
# friends below). A sleep that is itself under test (an idle connection
# held past a timeout) says so where it is.
set -euo pipefail

SL_BIN=${SL_BIN:?SL_BIN must point at the bin directory of the build}
SL_SRC=${SL_SRC:?SL_SRC must point at the source tree}
SERVER=$SL_BIN/servicelogs-server
CLI=$SL_BIN/servicelogs
PY=/usr/bin/python3
I=$SL_SRC/tests/integration
# Parallel tests import the same helper modules: no bytecode written into
# the source tree.
export PYTHONDONTWRITEBYTECODE=1
T=$(mktemp -d /tmp/sl-it.XXXXXX)
PIDS=()     # killed at exit
AT_EXIT=()  # commands run at exit, after PIDS are killed
FAILS=0
SKIPPING=0
# Deadlines, in seconds: long, because the machine may be small and busy
# (and valgrind is slow); a wait that succeeds returns at once anyway.
WAIT=${SL_WAIT:-30}             # the default deadline of a wait
START_WAIT=${SL_START_WAIT:-60} # a server reporting its ports, or exiting
POLL=0.05                       # how often a condition is polled

cleanup() {
  local rc=$? p c
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true
  done
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] && wait "$p" 2>/dev/null || true
  done 2>/dev/null # bash's "Killed" notices
  # Every answer of the shim the test received, against the OpenAPI
  # document (see "OpenAPI" below): a mismatch fails a passing test.
  if [ "$rc" != 77 ] && [ -s "$OAPI/ports" ]; then
    if $PY "$I/openapi_check.py" "$SL_SRC/api/openapi.json" "$OAPI" \
      >"$T/openapi.out" 2>&1; then
      cat "$T/openapi.out"
    else
      sed 's/^/FAIL: /' "$T/openapi.out" >&2
      [ "$rc" = 0 ] && rc=1
    fi
  fi
  for c in "${AT_EXIT[@]:-}"; do
    [ -n "$c" ] && $c || true
  done
  rm -rf "$T"
  # 77 tells ctest "skipped" (SKIP_RETURN_CODE): only skip() may say it.
  if [ "$rc" = 77 ] && [ "$SKIPPING" = 0 ]; then
    echo "exit status 77 without skip(): reported as a failure" >&2
    exit 1
  fi
  exit "$rc"
}
trap cleanup EXIT

# ---- OpenAPI: every REST answer against api/openapi.json ------------------
# curl is a function here: each run records a hex trace of every byte both
# ways (curl --trace) in $OAPI. At exit, tests/integration/openapi_check.py
# checks each answer from a shim port (start_server notes its HTTP port;
# openapi_port PORT adds another, e.g. a proxy in front of shims) against
# the document: status, headers, content type, body (docs/rest.md). A test
# option that comes later on the command line (-v, --trace-ascii) wins, and
# that run is not recorded. Not recorded either: curl run through another
# program (timeout, xargs), the Python clients, and the runs after
# openapi_off (a test downloading answers of many MB: the trace is 4x).
OAPI=$T/openapi
mkdir -p "$OAPI"
OAPI_ON=1
curl() {
  if [ "$OAPI_ON" = 1 ]; then
    command curl --trace "$OAPI/$BASHPID.$SRANDOM.trace" "$@"
  else
    command curl "$@"
  fi
}
openapi_port() { echo "$1" >>"$OAPI/ports"; }
openapi_off() { OAPI_ON=0; }

fail() {
  echo "FAIL: $*" >&2
  FAILS=$((FAILS + 1))
}
pass() { echo "ok: $*"; }

# skip WHY: the test cannot run here; ctest reports it as skipped.
skip() {
  echo "skipped: $*"
  SKIPPING=1
  exit 77
}

# check NAME WANT GOT
check() {
  if [ "$2" == "$3" ]; then pass "$1"; else fail "$1: want [$2] got [$3]"; fi
}

# contains NAME NEEDLE HAYSTACK
contains() {
  case "$3" in
  *"$2"*) pass "$1" ;;
  *) fail "$1: [$3] lacks [$2]" ;;
  esac
}

finish() {
  if [ "$FAILS" -ne 0 ]; then
    echo "$FAILS check(s) failed" >&2
    exit 1
  fi
  echo "all checks passed"
}

# have_pg_backend: this build has the PostgreSQL backend (a build with
# -DSL_WITH_PG=OFF does not know the scheme).
have_pg_backend() {
  ! "$SERVER" import --backend postgres://nobody@127.0.0.1:1/none /dev/null 2>&1 |
    grep -q "unknown backend scheme"
}

# need_pg: skips the test unless a PostgreSQL server is given
# (SL_TEST_PG_URI; scripts/test.sh starts one) and the build has the backend.
need_pg() {
  [ -n "${SL_TEST_PG_URI:-}" ] || skip "SL_TEST_PG_URI unset"
  have_pg_backend || skip "built without the PostgreSQL backend"
}

# ---- waiting: poll a condition until a deadline ---------------------------

# _clock_ms: milliseconds since the epoch, in REPLY (no subshell).
_clock_ms() {
  local t=${EPOCHREALTIME/[.,]/}
  REPLY=$((10#$t / 1000))
}

# wait_for SECS CMD [ARGS...]: runs CMD every $POLL s until it succeeds
# (0); after SECS seconds says on stderr what it waited for and returns 1.
# CMD runs in this shell: a function may set variables.
wait_for() {
  local secs=$1 end
  shift
  _clock_ms
  end=$((REPLY + secs * 1000))
  while :; do
    if "$@"; then return 0; fi
    _clock_ms
    if [ "$REPLY" -ge "$end" ]; then
      echo "wait_for: gave up after $secs s waiting for: $*" >&2
      return 1
    fi
    sleep "$POLL"
  done
}

# wait_eq SECS WANT CMD [ARGS...]: runs CMD until it prints WANT; prints
# CMD's last output either way (for check), and returns 1 (saying so on
# stderr) if WANT did not come within SECS seconds.
wait_eq() {
  local secs=$1 want=$2 out end
  shift 2
  _clock_ms
  end=$((REPLY + secs * 1000))
  while :; do
    out=$("$@") || true
    if [ "$out" == "$want" ]; then
      printf '%s' "$out"
      return 0
    fi
    _clock_ms
    if [ "$REPLY" -ge "$end" ]; then
      printf '%s' "$out"
      echo "wait_eq: gave up after $secs s waiting for [$want] from: $* (last: [$out])" >&2
      return 1
    fi
    sleep "$POLL"
  done
}

# log_has FILE REGEX [COUNT]: FILE has at least COUNT (1) lines matching
# the extended REGEX.
log_has() {
  local n
  n=$(grep -cE -- "$2" "$1" 2>/dev/null) || true
  [ "${n:-0}" -ge "${3:-1}" ]
}

# wait_log FILE REGEX [COUNT [SECS]]: until FILE has COUNT (1) lines
# matching the extended REGEX ($WAIT s at most).
wait_log() {
  wait_for "${4:-$WAIT}" log_has "$1" "$2" "${3:-1}"
}

# gone PID: the process has exited (no such process, or a zombie).
gone() {
  [ -e "/proc/$1" ] || return 0
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 0
  [ -z "$st" ] || [ "${st:0:1}" = Z ]
}

# wait_exit PID [SECS]: waits ($START_WAIT s at most) for a child of this
# shell to exit; returns its exit status, or 124 (saying so) if it is
# still running at the deadline.
wait_exit() {
  if ! wait_for "${2:-$START_WAIT}" gone "$1"; then
    echo "wait_exit: process $1 is still running" >&2
    return 124
  fi
  local rc=0
  wait "$1" 2>/dev/null || rc=$?
  return $rc
}

# ---- processes with a port -------------------------------------------------

# port_helper OUT CMD [ARGS...]: starts a helper that binds port 0 and
# prints the port it got as its first line of stdout (into OUT); waits for
# that line; sets HELPER_PORT and HELPER_PID.
port_helper() {
  local out=$1
  shift
  : >"$out"
  "$@" >"$out" &
  HELPER_PID=$!
  PIDS+=("$HELPER_PID")
  if ! wait_for "$WAIT" log_has "$out" '^[0-9]+$'; then
    echo "port_helper: no port from: $*" >&2
    return 1
  fi
  HELPER_PORT=$(head -n 1 "$out")
}

# hold_port closed|busy: a port of 127.0.0.1 that a helper process holds
# for the rest of the test (bound to port 0: nothing else can have it).
# closed: bound, not listening -- connections are refused; busy: listening,
# never accepting -- a server cannot bind it. Sets HELD_PORT.
HOLDS=0
hold_port() {
  HOLDS=$((HOLDS + 1))
  port_helper "$T/hold-$HOLDS" "$PY" "$I/hold_port.py" "$1"
  HELD_PORT=$HELPER_PORT
}

# ports_in FILE PID: the server's --port-file is written (GRPC_PORT and
# HTTP_PORT set from its lines), or the server has exited.
ports_in() {
  gone "$2" && return 0
  [ -f "$1" ] || return 1
  GRPC_PORT=$(sed -n 's/^grpc=//p' "$1")
  HTTP_PORT=$(sed -n 's/^http=//p' "$1")
}

# start_server LOG ARGS...: starts servicelogs-server serve ARGS in the
# background (under valgrind when SL_VALGRIND=1); sets SERVER_PID. Listen on
# port 0 (--grpc-listen=127.0.0.1:0): start_server adds --port-file, waits
# ($START_WAIT s at most) for the server to write it once listening, and
# sets GRPC_PORT (empty with --upstream=: shim-only) and HTTP_PORT (empty
# with --http-listen=), at any --log-level. Returns 1, the log on stderr,
# if the server exits first or the deadline passes.
START_SEQ=0
start_server() {
  local log=$1
  shift
  local wrap=()
  if [ "${SL_VALGRIND:-0}" = 1 ]; then
    wrap=(valgrind --quiet --leak-check=full --show-leak-kinds=definite
      --errors-for-leak-kinds=definite --error-exitcode=99)
  fi
  START_SEQ=$((START_SEQ + 1))
  local pf=$T/ports.$START_SEQ
  rm -f "$pf"
  : >"$log" # not a previous server's lines: the child truncates it later
  "${wrap[@]}" "$SERVER" serve "$@" --port-file="$pf" >"$log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  GRPC_PORT=
  HTTP_PORT=
  local ok=0
  wait_for "$START_WAIT" ports_in "$pf" "$SERVER_PID" || ok=1
  if [ "$ok" = 0 ] && [ ! -f "$pf" ]; then
    echo "start_server: the server exited before it was listening" >&2
    ok=1
  fi
  if [ "$ok" != 0 ]; then
    echo "start_server: $SERVER serve $* -- its log:" >&2
    sed 's/^/  | /' "$log" >&2
    return 1
  fi
  [ -z "$HTTP_PORT" ] || openapi_port "$HTTP_PORT"
  return 0
}

# stop_server PID: SIGTERM; the exit status (which must be 0) is returned.
# A server still running after $START_WAIT s is killed (status 124).
stop_server() {
  kill -TERM "$1" 2>/dev/null || true
  local rc=0
  wait_exit "$1" || rc=$?
  if [ "$rc" = 124 ] && ! gone "$1"; then
    kill -KILL "$1" 2>/dev/null || true
  fi
  return $rc
}

# pb PROJECT SERVICE [UPDATE_TIME]: hex of a packed QueryServiceLogsRequest
# (for grpc_probe.py, which sends raw bytes).
pb() {
  $PY - "$I" "$@" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
from wire import request, varint
a = sys.argv[2:]
m = request(a[0], a[1])
if len(a) > 2:
    m += bytes([3 << 3]) + varint(int(a[2]))
print(m.hex())
PY
}
