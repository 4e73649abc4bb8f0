#!/usr/bin/env bash
# test_reflection.sh -- server reflection proved by another stack: a
# reflection-only Python grpcio client (reflection_client.py) that has none
# of our protos lists the services, downloads the descriptors, describes
# modelarts.v1.ServiceLogs, builds its request type from them and calls it,
# then does the same for grpc.health.v1.Health (Check and Watch); over
# grpc.reflection.v1 and v1alpha.
. "$(dirname "$0")/lib.sh"

DB=$T/reflection.db
"$SERVER" import --backend "sqlite:$DB" "$SL_SRC/demo/demo.json" \
  >/dev/null 2>&1
start_server "$T/server.log" --backend "sqlite:$DB" \
  --grpc-listen=127.0.0.1:0 --http-listen= --threads=2
PID=$SERVER_PID
GP=$GRPC_PORT

rc=0
$PY "$SL_SRC/tests/integration/reflection_client.py" "127.0.0.1:$GP" \
  "$SL_SRC/demo/demo.json" || rc=$?
check "reflection client (Python grpcio, no servicelogs protos)" 0 "$rc"

stop_server "$PID" && pass "SIGTERM exits 0" || fail "SIGTERM exit status $?"
[ "$FAILS" -eq 0 ] || sed 's/^/server: /' "$T/server.log" >&2
finish
