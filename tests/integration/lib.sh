# lib.sh -- shared helpers for the integration tests (sourced, not run)
#
# Tests start the real binaries from $SL_BIN on 127.0.0.1 ports below 32768
# (the ephemeral range starts at 32768), check them with real clients (the
# nanopb CLI, curl, Python grpcio) and stop them with SIGTERM, which must
# exit 0. SL_VALGRIND=1 runs the server under valgrind (leak-checked).
set -euo pipefail

SL_BIN=${SL_BIN:?SL_BIN must point at the bin directory of the build}
SL_SRC=${SL_SRC:?SL_SRC must point at the source tree}
SERVER=$SL_BIN/servicelogs-server
CLI=$SL_BIN/servicelogs
PY=/usr/bin/python3
T=$(mktemp -d /tmp/sl-it.XXXXXX)
PIDS=()
FAILS=0

cleanup() {
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true
  done
  rm -rf "$T"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  FAILS=$((FAILS + 1))
}
pass() { echo "ok: $*"; }

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

# free_port: a port below 32768 that nothing listens on now.
free_port() {
  $PY - <<'PY'
import random, socket
for _ in range(200):
    p = random.randint(20000, 32000)
    ok = True
    for fam, host in ((socket.AF_INET, "127.0.0.1"),):
        s = socket.socket(fam, socket.SOCK_STREAM)
        try:
            s.bind((host, p))
        except OSError:
            ok = False
        finally:
            s.close()
    if ok:
        print(p)
        break
PY
}

# wait_port PORT: until something accepts on 127.0.0.1:PORT (30 s at most:
# valgrind starts slowly).
wait_port() {
  for _ in $(seq 1 600); do
    if (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "nothing listens on port $1" >&2
  return 1
}

# start_server LOG ARGS...: starts servicelogs-server serve in the
# background; sets SERVER_PID. Waits for the gRPC port (and the HTTP port
# when --http-listen is among ARGS and not empty).
start_server() {
  local log=$1
  shift
  local wrap=()
  if [ "${SL_VALGRIND:-0}" = 1 ]; then
    wrap=(valgrind --quiet --leak-check=full --show-leak-kinds=definite
      --errors-for-leak-kinds=definite --error-exitcode=99)
  fi
  "${wrap[@]}" "$SERVER" serve "$@" >"$log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  local a
  for a in "$@"; do
    case "$a" in
    --grpc-listen=*:* | --http-listen=*:*) wait_port "${a##*:}" ;;
    esac
  done
}

# pb PROJECT SERVICE [UPDATE_TIME]: hex of a packed QueryServiceLogsRequest
# (for grpc_probe.py, which sends raw bytes).
pb() {
  $PY - "$SL_SRC/tests/integration" "$@" <<'PY'
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

# stop_server PID: SIGTERM, and the exit status must be 0.
stop_server() {
  kill -TERM "$1"
  local rc=0
  wait "$1" || rc=$?
  return $rc
}
