#!/usr/bin/env bash
# test_grpc.sh -- gRPC end to end: the real server on SQLite, queried with
# our nanopb CLI and probed with Python grpcio; with --threads=1 and 8.
. "$(dirname "$0")/lib.sh"

DB=$T/grpc.db
"$SERVER" import --backend "sqlite:$DB" "$SL_SRC/demo/demo.json" >/dev/null 2>&1
EXP=$SL_SRC/tests/integration/expected
probe() { $PY "$SL_SRC/tests/integration/grpc_probe.py" "127.0.0.1:$GP" "$@"; }
Q=/modelarts.v1.ServiceLogs/QueryServiceLogs

for threads in 1 8; do
  start_server "$T/server-$threads.log" --backend "sqlite:$DB" \
    --grpc-listen=127.0.0.1:0 --http-listen= --threads=$threads
  PID=$SERVER_PID
  GP=$GRPC_PORT
  cli() { "$CLI" query --addr "127.0.0.1:$GP" "$@"; }

  out=$(cli --project demo-project --service mnist-svc)
  check "[$threads] CLI real-time JSON" "$(cat "$EXP/mnist.json")" "$out"
  out=$(cli --project demo-project --service edge-svc)
  check "[$threads] CLI edge JSON" "$(cat "$EXP/edge.json")" "$out"
  out=$(cli --project demo-project --service mnist-svc --update-time 123432423)
  check "[$threads] CLI update_time filter" "$(cat "$EXP/mnist_123432423.json")" "$out"

  rc=0; cli --project demo-project --service nope >/dev/null 2>&1 || rc=$?
  check "[$threads] CLI not found exit status" 4 "$rc"
  rc=0; cli --project demo-project --service batch-svc >/dev/null 2>&1 || rc=$?
  check "[$threads] CLI batch service: other server error" 5 "$rc"
  rc=0; cli --project 'bad id' --service x >/dev/null 2>&1 || rc=$?
  check "[$threads] CLI usage error" 2 "$rc"

  # Error rows over gRPC, read with another stack (grpcio).
  out=$(probe $Q "$(pb demo-project mnist-svc)")
  contains "[$threads] OK via grpcio" "OK - -" "$out"
  out=$(probe $Q "$(pb demo-project nope)")
  contains "[$threads] NOT_FOUND + ErrorInfo" "NOT_FOUND ModelArts.3502 modelarts |" "$out"
  out=$(probe $Q "$(pb other-project mnist-svc)")
  contains "[$threads] other project's service: NOT_FOUND" "NOT_FOUND ModelArts.3502" "$out"
  out=$(probe $Q "$(pb demo-project batch-svc)")
  contains "[$threads] batch: FAILED_PRECONDITION" "FAILED_PRECONDITION ModelArts.2858 modelarts" "$out"
  out=$(probe $Q "$(pb 'bad.id' mnist-svc)")
  contains "[$threads] bad project_id: INVALID_ARGUMENT" "INVALID_ARGUMENT ModelArts.0101 modelarts | project_id" "$out"
  out=$(probe $Q "$(pb demo-project "$(printf 'x%.0s' $(seq 65))")")
  contains "[$threads] 65-char service_id: INVALID_ARGUMENT" "INVALID_ARGUMENT ModelArts.0101" "$out"
  out=$(probe $Q 0a05707266)
  contains "[$threads] malformed message: INVALID_ARGUMENT" "INVALID_ARGUMENT ModelArts.0101" "$out"
  out=$(probe $Q 0affffffff0f)
  contains "[$threads] hostile length: INVALID_ARGUMENT" "INVALID_ARGUMENT ModelArts.0101" "$out"
  out=$(probe $Q "$(pb demo-project mnist-svc 0)18ffffffffffffffffff01")
  contains "[$threads] negative update_time: INVALID_ARGUMENT" "INVALID_ARGUMENT ModelArts.0101 modelarts | update_time" "$out"
  out=$(probe /modelarts.v1.ServiceLogs/Nope "")
  contains "[$threads] unknown method: UNIMPLEMENTED" "UNIMPLEMENTED" "$out"
  out=$(probe /some.Other/Method 0a00)
  contains "[$threads] unknown service: UNIMPLEMENTED" "UNIMPLEMENTED" "$out"
  out=$(probe $Q "$(pb demo-project mnist-svc)")
  contains "[$threads] still serving after hostile input" "OK - -" "$out"

  stop_server "$PID" && pass "[$threads] SIGTERM exits 0" || fail "[$threads] SIGTERM exit status $?"
done

# unreachable server (a port held closed): CLI exit status 3
hold_port closed
rc=0; "$CLI" query --addr 127.0.0.1:"$HELD_PORT" --project p --service s --timeout-ms 2000 >/dev/null 2>&1 || rc=$?
check "CLI unreachable exit status" 3 "$rc"
finish
