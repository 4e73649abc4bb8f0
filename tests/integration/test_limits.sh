#!/usr/bin/env bash
# test_limits.sh -- the limits: the backend honours a query's deadline,
# load beyond --max-concurrent-calls is shed with RESOURCE_EXHAUSTED / 429
# ModelArts.2799, oversized requests and headers are refused, and the server
# still answers normal queries afterwards.
. "$(dirname "$0")/lib.sh"

$PY "$SL_SRC/tests/bench/gen_bench_data.py" "$T/big" 1 20000 1
DB=$T/l.db
"$SERVER" import --backend "sqlite:$DB" "$T/big-0.json" 2>/dev/null
"$SERVER" import --backend "sqlite:$DB" "$SL_SRC/demo/demo.json" 2>/dev/null
LP=$SL_SRC/tests/integration/limits_probe.py
probe() { $PY "$SL_SRC/tests/integration/grpc_probe.py" "$@"; }
Q=/modelarts.v1.ServiceLogs/QueryServiceLogs
# The servers log at info (not warn): the start-up lines that name the
# bound ports are info lines, and start_server needs them to tell the gRPC
# port from the REST one.

# 1. The backend stops a query at --query-timeout: the server itself says
#    so (an ErrorInfo rides with the status), and the shim answers 504.
start_server "$T/l1.log" --backend "sqlite:$DB" --grpc-listen=127.0.0.1:0 \
  --http-listen=127.0.0.1:0 --query-timeout=1ms --log-level=warn
GP=$GRPC_PORT
HP=$HTTP_PORT
out=$(probe 127.0.0.1:$GP $Q "$(pb bench-p svc-0)")
contains "slow query stopped at its deadline: DEADLINE_EXCEEDED from the server" \
  "DEADLINE_EXCEEDED ModelArts.0010 modelarts" "$out"
code=$(curl -s -o "$T/b" -w '%{http_code}' http://127.0.0.1:$HP/v1/bench-p/services/svc-0/logs)
check "slow query through the shim: 504" 504 "$code"
contains "slow query through the shim: ModelArts.0010" ModelArts.0010 "$(cat "$T/b")"
contains "a quick query still fits in the deadline" "OK - -" "$(probe 127.0.0.1:$GP $Q "$(pb demo-project mnist-svc)")"
stop_server "$SERVER_PID" && pass "SIGTERM exits 0" || fail "exit status"

# 2. Shedding beyond --max-concurrent-calls. Without the response cache:
#    a hit is answered too fast for 24 requests to overlap, and the REST
#    answer (streamed, over 256 KiB) is rendered outside the call's place.
start_server "$T/l2.log" --backend "sqlite:$DB" --grpc-listen=127.0.0.1:0 \
  --http-listen=127.0.0.1:0 --max-concurrent-calls=2 --threads=2 \
  --http-threads=4 --cache-bytes=0 --log-level=warn
GP=$GRPC_PORT
HP=$HTTP_PORT
out=$($PY "$LP" 127.0.0.1:$GP burst 40 bench-p svc-0)
echo "$out"
contains "burst: some calls served" "OK - " "$out"
contains "burst: the rest shed with RESOURCE_EXHAUSTED 2799" "RESOURCE_EXHAUSTED ModelArts.2799" "$out"
out=$($PY "$LP" http://127.0.0.1:$HP/v1/bench-p/services/svc-0/logs rest-burst 24)
echo "$out"
contains "REST burst: shed with 429 2799" "429 ModelArts.2799" "$out"
contains "after the bursts a query succeeds" "OK - -" "$(probe 127.0.0.1:$GP $Q "$(pb demo-project mnist-svc)")"

# 3. Sizes: a request over --max-request-bytes, a header block over
#    --http-max-header-bytes.
out=$($PY "$LP" 127.0.0.1:$GP big 200000)
contains "oversized gRPC request refused" "RESOURCE_EXHAUSTED" "$out"
big=$(head -c 70000 /dev/zero | tr '\0' a)
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $big" http://127.0.0.1:$HP/v1/demo-project/services/mnist-svc/logs)
check "oversized header block refused: 431" 431 "$code"
long=$(head -c 70000 /dev/zero | tr '\0' a)
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HP/v1/demo-project/services/$long/logs")
case "$code" in 414 | 431 | 400) pass "oversized URL refused ($code)" ;; *) fail "oversized URL: $code" ;; esac
contains "after oversized input a query succeeds" "OK - -" "$(probe 127.0.0.1:$GP $Q "$(pb demo-project mnist-svc)")"
stop_server "$SERVER_PID" && pass "SIGTERM exits 0" || fail "exit status"
finish
