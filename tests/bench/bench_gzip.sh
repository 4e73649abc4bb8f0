#!/usr/bin/env bash
# bench_gzip.sh -- what the REST shim's gzip answers cost (issue 12, item 4;
# docs/rest.md). A measurement, not a test: it prints figures and fails
# only when the server does not answer.
#
#   tests/bench/bench_gzip.sh [BIN_DIR [LOGS [ROUNDS]]]
#     BIN_DIR  the build's bin/ (default build/bin)
#     LOGS     logs of the one service queried (default 20000: ~3 MB JSON)
#     ROUNDS   requests per variant (default 40)
#
# Prints, for one service's answer: its plain and gzip sizes, the shim's
# mean time per answer with Accept-Encoding: gzip and without (curl's
# time_total on loopback, sequential requests, the server otherwise idle),
# the difference per MB of plain JSON, and zlib's own compress time per
# MB at the shim's level (Python's zlib: the same C library) as a
# cross-check of the CPU cost.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$top/build/bin}
logs=${2:-20000}
rounds=${3:-40}
T=$(mktemp -d /tmp/sl-bench-gzip.XXXXXX)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$T"' EXIT

python3 "$top/tests/bench/gen_bench_data.py" "$T/d" 1 "$logs" 1
"$bin/servicelogs-server" import --backend "sqlite:$T/g.db" "$T/d-0.json" 2>/dev/null
"$bin/servicelogs-server" serve --backend "sqlite:$T/g.db" \
  --grpc-listen=127.0.0.1:0 --http-listen=127.0.0.1:0 \
  --max-response-bytes=67108864 --port-file="$T/ports" >"$T/log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do [ -s "$T/ports" ] && grep -q http "$T/ports" && break; sleep 0.05; done
port=$(sed -n 's/^http=//p' "$T/ports")
url=http://127.0.0.1:$port/v1/bench-p/services/svc-0/logs

curl -sf -o "$T/plain" "$url"
curl -sf -H 'Accept-Encoding: gzip' -o "$T/gz" "$url"
gzip -dc <"$T/gz" | cmp -s - "$T/plain" || { echo "gzip body differs" >&2; exit 1; }

# mean_ms [CURL ARGS]: the mean time_total of $rounds requests, in ms.
mean_ms() {
  for _ in $(seq 1 "$rounds"); do
    curl -sf -o /dev/null -w '%{time_total}\n' "$@" "$url"
  done | awk '{s += $1} END {printf "%.2f", 1000 * s / NR}'
}
curl -sf -o /dev/null "$url" # warm the page cache and the worker's store
plain_ms=$(mean_ms)
gzip_ms=$(mean_ms -H 'Accept-Encoding: gzip')

plain_b=$(wc -c <"$T/plain")
gz_b=$(wc -c <"$T/gz")
mb=$(awk -v b="$plain_b" 'BEGIN {printf "%.3f", b / 1048576}')
zlib_ms=$(python3 - "$T/plain" <<'PY'
import sys, time, zlib
data = open(sys.argv[1], "rb").read()
n, t0 = 20, time.perf_counter()
for _ in range(n):
    c = zlib.compressobj(1, zlib.DEFLATED, 31)  # the shim's level, gzip
    c.compress(data); c.flush()
print("%.2f" % ((time.perf_counter() - t0) * 1000 / n))
PY
)
echo "answer: $plain_b bytes plain ($mb MB), $gz_b gzip" \
  "(ratio $(awk -v a="$gz_b" -v b="$plain_b" 'BEGIN {printf "%.3f", a / b}'))"
echo "shim, mean of $rounds: plain $plain_ms ms, gzip $gzip_ms ms"
awk -v p="$plain_ms" -v g="$gzip_ms" -v mb="$mb" -v z="$zlib_ms" 'BEGIN {
  printf "gzip cost per MB of JSON: %.2f ms (shim, end to end on loopback)\n", (g - p) / mb
  printf "zlib level 1 alone: %.2f ms per MB (%.0f MB/s)\n", z / mb, mb * 1000 / z
}'
