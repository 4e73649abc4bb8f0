#!/usr/bin/env bash
# bench_serve.sh -- load the real server on loopback and print figures:
# gRPC QueryServiceLogs with h2load (32 streams over 4 connections) and
# REST through the shim with wrk (32 connections), on the default SQLite
# backend serving the demo's mnist response. Prints QPS, server CPU-seconds
# per 1 000 calls, latency, and the server's RSS before and after.
#
#   tests/bench/bench_serve.sh [SECONDS]      (default 10 per load)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
secs=${1:-10}
scripts/install-deps.sh --bench >/dev/null
scripts/build.sh build -DSL_TESTS=ON >/dev/null

T=$(mktemp -d /tmp/sl-bench.XXXXXX)
trap 'kill $PID 2>/dev/null || true; rm -rf "$T"' EXIT
GP=${GRPC_PORT:-25051}
HP=${HTTP_PORT:-25080}
build/bin/servicelogs-server import --backend "sqlite:$T/b.db" demo/demo.json 2>/dev/null
build/bin/servicelogs-server serve --backend "sqlite:$T/b.db" \
  --grpc-listen 127.0.0.1:$GP --http-listen 127.0.0.1:$HP --log-level warn &
PID=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$HP) 2>/dev/null && break; sleep 0.05; done

cpu() { awk '{print $14 + $15}' "/proc/$PID/stat"; } # utime+stime, ticks
rss() { awk '/VmRSS/ {print $2 " kB"}' "/proc/$PID/status"; }
hz=$(getconf CLK_TCK)
echo "server RSS at idle: $(rss)"

# A gRPC-framed QueryServiceLogsRequest (project demo-project, mnist-svc).
/usr/bin/python3 - "$T/req.bin" <<'PY'
import sys
def ld(n, s):
    b = s.encode(); return bytes([n << 3 | 2, len(b)]) + b
m = ld(1, "demo-project") + ld(2, "mnist-svc")
open(sys.argv[1], "wb").write(b"\0" + len(m).to_bytes(4, "big") + m)
PY

c0=$(cpu)
h2load -D "$secs" -c 4 -m 8 -t 2 -d "$T/req.bin" \
  -H 'content-type: application/grpc' -H 'te: trailers' \
  "http://127.0.0.1:$GP/modelarts.v1.ServiceLogs/QueryServiceLogs" >"$T/h2" 2>&1
c1=$(cpu)
ok=$(awk '/^requests:/ {print $8}' "$T/h2")
rps=$(awk '/^finished in/ {print $4}' "$T/h2")
echo "gRPC (h2load -c 4 -m 8, ${secs}s): $rps calls/s, $ok succeeded"
awk -v c="$((c1 - c0))" -v hz="$hz" -v n="$ok" 'BEGIN { if (n > 0) printf "gRPC server CPU: %.4f CPU-seconds per 1000 calls\n", c / hz / n * 1000 }'
grep -E '^time for request:' "$T/h2" | sed 's/^/gRPC latency (min max mean sd): /'

c0=$(cpu)
wrk -t 2 -c 32 -d "${secs}s" --latency \
  "http://127.0.0.1:$HP/v1/demo-project/services/mnist-svc/logs" >"$T/wrk" 2>&1
c1=$(cpu)
reqs=$(awk '/requests in/ {print $1}' "$T/wrk")
echo "REST (wrk -c 32, ${secs}s): $(awk '/^Requests\/sec/ {print $2}' "$T/wrk") req/s, p50 $(awk '$1 == "50%" {print $2}' "$T/wrk"), p99 $(awk '$1 == "99%" {print $2}' "$T/wrk")"
grep -q 'Non-2xx' "$T/wrk" && grep 'Non-2xx' "$T/wrk"
awk -v c="$((c1 - c0))" -v hz="$hz" -v n="$reqs" 'BEGIN { if (n > 0) printf "REST server+shim CPU: %.4f CPU-seconds per 1000 requests\n", c / hz / n * 1000 }'
echo "server RSS after load: $(rss)"

# Same run, the REST ceiling of DESIGN section 7: nginx serving the same
# JSON as a static file, loaded the same way.
NP=${NGINX_PORT:-25090}
mkdir -p "$T/www/v1/demo-project/services/mnist-svc" "$T/ng"
curl -s "http://127.0.0.1:$HP/v1/demo-project/services/mnist-svc/logs" \
  >"$T/www/v1/demo-project/services/mnist-svc/logs"
cat >"$T/ng/nginx.conf" <<NG
worker_processes 2;
pid $T/ng/nginx.pid;
error_log $T/ng/error.log;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  default_type application/json;
  client_body_temp_path $T/ng; proxy_temp_path $T/ng; fastcgi_temp_path $T/ng;
  uwsgi_temp_path $T/ng; scgi_temp_path $T/ng;
  server { listen 127.0.0.1:$NP; root $T/www; }
}
NG
kill $PID 2>/dev/null || true  # the server must not share the cores
wait $PID 2>/dev/null || true
nginx -c "$T/ng/nginx.conf" -e "$T/ng/error.log" &
NGPID=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$NP) 2>/dev/null && break; sleep 0.05; done
wrk -t 2 -c 32 -d "${secs}s" --latency \
  "http://127.0.0.1:$NP/v1/demo-project/services/mnist-svc/logs" >"$T/wrk-ng" 2>&1
kill $NGPID; wait $NGPID 2>/dev/null || true
echo "nginx static (wrk -c 32, ${secs}s): $(awk '/^Requests\/sec/ {print $2}' "$T/wrk-ng") req/s, p99 $(awk '$1 == "99%" {print $2}' "$T/wrk-ng")"
awk -v a="$(awk '/^Requests\/sec/ {print $2}' "$T/wrk")" -v b="$(awk '/^Requests\/sec/ {print $2}' "$T/wrk-ng")" \
  'BEGIN { printf "REST shim / nginx static: %.2f (target >= 0.30)\n", a / b }'
