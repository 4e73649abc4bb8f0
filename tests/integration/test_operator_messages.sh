#!/usr/bin/env bash
# test_operator_messages.sh -- a database the server cannot open fails
# start-up (and import) with one line that says what is wrong and what to
# do (issue 8, item 10), not SQLite's "unable to open database file" or
# "attempt to write a readonly database". The real failure modes: a
# read-only file in a read-only directory, a read-only directory (SQLite's
# WAL mode creates PATH-wal and PATH-shm beside the file), an unreadable
# file, a new file where it cannot be created, a directory given as the
# file; a missing directory and a file that is not a database keep
# SQLite's words, which say it (with the path).
#
# Permissions bind only a user without CAP_DAC_OVERRIDE: as root the
# server runs as nobody (setpriv), otherwise as the current user.
. "$(dirname "$0")/lib.sh"

AS=()
if [ "$(id -u)" = 0 ]; then
  command -v setpriv >/dev/null || skip "running as root without setpriv"
  AS=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  chmod 755 "$T" # nobody walks into the test's directory
fi
UID_RUN=$("${AS[@]}" id -u)

# expect_fail NAME NEEDLE... -- ARGS: the server, run as that user, exits
# 1 at once with one line (info lines aside) holding every NEEDLE.
expect_fail() {
  local name=$1 rc=0 err n
  shift
  local needles=()
  while [ "$1" != -- ]; do
    needles+=("$1")
    shift
  done
  shift
  timeout 20 "${AS[@]}" "$SERVER" "$@" >"$T/out" 2>"$T/err" || rc=$?
  check "$name: exit status" 1 "$rc"
  err=$(grep -v '^[0-9T:.-]*Z info ' "$T/err" || true)
  for n in "${needles[@]}"; do contains "$name: message" "$n" "$err"; done
  check "$name: one line" 1 "$(printf '%s\n' "$err" | wc -l)"
}
SERVE=(serve --grpc-listen=127.0.0.1:0 --http-listen=)

# fresh DIR: a directory holding x.db with the demo, both owned by root
# (or by this user) and left writable by their owner only.
fresh() {
  mkdir -p "$T/$1"
  "$SERVER" import --backend "sqlite:$T/$1/x.db" "$SL_SRC/demo/demo.json" 2>/dev/null
  chmod 755 "$T/$1"
  chmod 644 "$T/$1/x.db"
}

if [ ${#AS[@]} -gt 0 ]; then
  # a file someone else owns, read-only, in a directory someone else owns
  fresh ro
  chmod 444 "$T/ro/x.db"
  expect_fail "read-only file and directory" \
    "sqlite:$T/ro/x.db: the file and its directory are not writable by this user (uid $UID_RUN)" \
    "give this user write access" -- "${SERVE[@]}" --backend "sqlite:$T/ro/x.db"
  expect_fail "import into it" "the file and its directory are not writable" -- \
    import --backend "sqlite:$T/ro/x.db" "$SL_SRC/demo/demo.json"

  # the user's own file, in a directory it cannot write: no -wal/-shm
  fresh rodir
  chown 65534 "$T/rodir/x.db"
  expect_fail "read-only directory" \
    "sqlite:$T/rodir/x.db: its directory is not writable by this user (uid $UID_RUN)" \
    "SQLite must create the -wal and -shm files there" \
    "give this user write access to the directory" -- "${SERVE[@]}" --backend "sqlite:$T/rodir/x.db"

  # the same file with the directory made writable: it serves
  chown 65534 "$T/rodir"
  "${AS[@]}" "$SERVER" serve --backend "sqlite:$T/rodir/x.db" --grpc-listen=127.0.0.1:0 \
    --http-listen= --port-file="$T/rodir/ports" >"$T/rodir.log" 2>&1 &
  PIDS+=($!)
  wait_for "$START_WAIT" ports_in "$T/rodir/ports" $! && [ -f "$T/rodir/ports" ] &&
    pass "writable directory: serves" || fail "writable directory: $(cat "$T/rodir.log")"
  stop_server $! && pass "SIGTERM exits 0" || fail "SIGTERM exit status"

  # a file it cannot read
  fresh unreadable
  chmod 600 "$T/unreadable/x.db"
  expect_fail "unreadable file" \
    "sqlite:$T/unreadable/x.db: this user (uid $UID_RUN) cannot read the file" -- \
    "${SERVE[@]}" --backend "sqlite:$T/unreadable/x.db"

  # a new database where it cannot create one
  expect_fail "new file in a directory it cannot write" \
    "sqlite:$T/ro/new.db: no such file, and this user (uid $UID_RUN) cannot create one in $T/ro" -- \
    "${SERVE[@]}" --backend "sqlite:$T/ro/new.db"
fi

# the directory named instead of a file in it
mkdir -p "$T/adir"
chmod 777 "$T/adir"
expect_fail "a directory" "sqlite:$T/adir: is a directory, not a database file" \
  "sqlite:$T/adir/servicelogs.db" -- "${SERVE[@]}" --backend "sqlite:$T/adir"

# SQLite's own words where they say it already, with the path
expect_fail "missing directory" "sqlite:$T/missing/x.db: unable to open database file" -- \
  "${SERVE[@]}" --backend "sqlite:$T/missing/x.db"
echo "this is not a database, just text that is long enough to have a header ......................................" >"$T/adir/notdb"
chmod 666 "$T/adir/notdb"
expect_fail "not a database" "sqlite:$T/adir/notdb: file is not a database" -- \
  "${SERVE[@]}" --backend "sqlite:$T/adir/notdb"
finish
