#!/usr/bin/env bash
# test_valgrind.sh -- the integration path under valgrind: the server (gRPC
# and shim in one process) serves gRPC, REST and error calls, then SIGTERM;
# any valgrind error or definite leak makes it exit 99 instead of 0.
# Skipped (exit 77) in the sanitizer build: ASan and valgrind do not mix.
. "$(dirname "$0")/lib.sh"

[ "${SL_SANITIZE:-OFF}" != ON ] || skip "sanitizer build"
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }

DB=$T/vg.db
"$SERVER" import --backend "sqlite:$DB" "$SL_SRC/demo/demo.json" 2>/dev/null
SL_VALGRIND=1 start_server "$T/vg.log" --backend "sqlite:$DB" \
  --grpc-listen=127.0.0.1:0 --http-listen=127.0.0.1:0 --threads=2
GP=$GRPC_PORT
HP=$HTTP_PORT
EXP=$SL_SRC/tests/integration/expected
check "gRPC under valgrind" "$(cat "$EXP/mnist.json")" \
  "$("$CLI" query --addr 127.0.0.1:$GP --project demo-project --service mnist-svc --timeout-ms 20000)"
check "REST under valgrind" "$(cat "$EXP/edge.json")" \
  "$(curl -s http://127.0.0.1:$HP/v1/demo-project/services/edge-svc/logs)"
for p in /v1/demo-project/services/nope/logs /v1/bad.id/services/x/logs /nowhere \
  /v1/demo-project/services/batch-svc/logs; do
  curl -s -o /dev/null "http://127.0.0.1:$HP$p"
done
curl -s -o /dev/null -X POST "http://127.0.0.1:$HP/v1/demo-project/services/mnist-svc/logs"
$PY "$SL_SRC/tests/integration/grpc_probe.py" 127.0.0.1:$GP /modelarts.v1.ServiceLogs/QueryServiceLogs 0affffffff0f >/dev/null
$PY "$SL_SRC/tests/integration/grpc_probe.py" 127.0.0.1:$GP /x.Y/Z "" >/dev/null
rc=0
stop_server "$SERVER_PID" || rc=$?
check "valgrind: clean exit (99 = valgrind errors or leaks)" 0 "$rc"
[ "$rc" = 0 ] || cat "$T/vg.log" >&2
finish
