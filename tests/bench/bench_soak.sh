#!/usr/bin/env bash
# bench_soak.sh -- memory over a long run: the server's RSS at idle and
# after each of N rounds of 200 000 gRPC calls (h2load, 32 streams over 4
# connections), on the default SQLite backend with the demo data. A flat
# series is the target (DESIGN section 7: under 32 MiB at idle, flat over
# a 1-million-call soak).
#   tests/bench/bench_soak.sh [ROUNDS]      (default 5 = 1 000 000 calls)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
rounds=${1:-5}
scripts/install-deps.sh --bench >/dev/null
scripts/build.sh build -DSL_TESTS=ON >/dev/null
T=$(mktemp -d /tmp/sl-soak.XXXXXX)
trap 'kill $PID 2>/dev/null || true; rm -rf "$T"' EXIT
GP=${GRPC_PORT:-25061}
build/bin/servicelogs-server import --backend "sqlite:$T/s.db" demo/demo.json 2>/dev/null
build/bin/servicelogs-server serve --backend "sqlite:$T/s.db" \
  --grpc-listen 127.0.0.1:$GP --http-listen= --log-level warn &
PID=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$GP) 2>/dev/null && break; sleep 0.05; done
rss() { awk '/VmRSS/ {print $2}' "/proc/$PID/status"; }
/usr/bin/python3 - "$T/req.bin" <<'PY'
import sys
def ld(n, s):
    b = s.encode(); return bytes([n << 3 | 2, len(b)]) + b
m = ld(1, "demo-project") + ld(2, "mnist-svc")
open(sys.argv[1], "wb").write(b"\0" + len(m).to_bytes(4, "big") + m)
PY
echo "calls 0: RSS $(rss) kB (idle)"
total=0
for r in $(seq "$rounds"); do
  h2load -n 200000 -c 4 -m 8 -t 2 -d "$T/req.bin" \
    -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://127.0.0.1:$GP/modelarts.v1.ServiceLogs/QueryServiceLogs" >"$T/h2" 2>&1
  total=$((total + $(awk '/^requests:/ {print $8}' "$T/h2")))
  echo "calls $total: RSS $(rss) kB"
done
sleep 2
echo "after 2 s idle: RSS $(rss) kB"
