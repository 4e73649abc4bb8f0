#!/usr/bin/env bash
# pg-test-server.sh -- a throw-away PostgreSQL cluster for the tests and the
# backend benchmark (Debian 12: PostgreSQL 15 from the `postgresql` package).
#
#   scripts/pg-test-server.sh start [DIR]  create the cluster in DIR unless it
#                                          exists, start it, print its URI
#   scripts/pg-test-server.sh halt  [DIR]  stop it (pg_ctl -m fast), keep DIR:
#                                          `start DIR` brings it back with
#                                          the same data, on the same port
#                                          unless another process took it
#   scripts/pg-test-server.sh stop  [DIR]  stop it and delete DIR
#   scripts/pg-test-server.sh uri   [DIR]  print the URI of the cluster in DIR
#
# DIR defaults to /tmp/sl-pg-test. The cluster listens on 127.0.0.1 only, on
# the first free port from $SL_PG_PORT (default 25432; always below 32768,
# where the ephemeral range starts), with its socket in DIR, and trusts
# every local connection: for tests on this machine only, never for data.
# It runs without fsync (a crash loses it; that is fine for tests).
# initdb and the server refuse to run as root, so as root they run as the
# `postgres` user the package creates (`nobody` when there is none).
set -euo pipefail

cmd=${1:-}
dir=${2:-/tmp/sl-pg-test}
case "$dir" in /*) ;; *) dir=$PWD/$dir ;; esac
data=$dir/data

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "pg-test-server.sh: no PostgreSQL server found (apt-get install" \
    "postgresql, or scripts/install-deps.sh --test)" >&2
  exit 1
fi

owner=$(id -un)
as_owner=()
if [ "$(id -u)" -eq 0 ]; then
  owner=postgres
  getent passwd postgres >/dev/null || owner=nobody
  as_owner=(runuser -u "$owner" --)
fi

# The cluster's URI: the superuser, database postgres, TCP on loopback.
uri() {
  local port
  port=$(sed -n 's/^port = \([0-9]*\).*/\1/p' "$data/postgresql.conf" | tail -n 1)
  echo "postgres://$owner@127.0.0.1:$port/postgres"
}

port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# pick_port: the first free port from $SL_PG_PORT (default 25432).
pick_port() {
  local port=${SL_PG_PORT:-25432}
  while ! port_free "$port"; do
    port=$((port + 1))
    if [ "$port" -ge 32768 ]; then
      echo "pg-test-server.sh: no free port below 32768" >&2
      return 1
    fi
  done
  echo "$port"
}

pg_ctl_() {
  "${as_owner[@]}" "$bindir/pg_ctl" -D "$data" "$@"
}

case "$cmd" in
start)
  if [ ! -f "$data/PG_VERSION" ]; then
    mkdir -p "$dir"
    chmod 700 "$dir"
    [ ${#as_owner[@]} -eq 0 ] || chown "$owner" "$dir"
    "${as_owner[@]}" "$bindir/initdb" -D "$data" -U "$owner" -A trust \
      -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
      cat "$dir/initdb.log" >&2
      exit 1
    }
    port=$(pick_port)
    cat >>"$data/postgresql.conf" <<CONF
# pg-test-server.sh: throw-away test cluster
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
port = $port
CONF
  fi
  if ! pg_ctl_ status >/dev/null 2>&1; then
    # A kept cluster comes back on its port, unless something took it.
    if ! port_free "$(uri | sed 's/.*:\([0-9]*\)\/.*/\1/')"; then
      echo "port = $(pick_port)" >>"$data/postgresql.conf"
    fi
    pg_ctl_ -l "$dir/server.log" -w -t 60 start >/dev/null || {
      tail -n 20 "$dir/server.log" >&2
      exit 1
    }
  fi
  uri
  ;;
halt)
  [ -f "$data/PG_VERSION" ] || exit 0
  pg_ctl_ status >/dev/null 2>&1 || exit 0
  pg_ctl_ -m fast -w stop >/dev/null
  ;;
stop)
  if [ -f "$data/PG_VERSION" ] && pg_ctl_ status >/dev/null 2>&1; then
    pg_ctl_ -m fast -w stop >/dev/null
  fi
  rm -rf "$dir"
  ;;
uri)
  uri
  ;;
*)
  echo "usage: pg-test-server.sh start|halt|stop|uri [DIR]" >&2
  exit 2
  ;;
esac
