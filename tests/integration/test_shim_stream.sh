#!/usr/bin/env bash
# test_shim_stream.sh -- issue 10 (big answers): a REST answer of 50 000
# logs (11.5 MB of JSON) is rendered while it is sent (http_answer.h,
# sl_http_stream_answer):
# chunked, the same bytes as the whole rendering (the sidecar shim's, the
# gzip one decompressed, and every log there), memory per concurrent answer
# far under the 16 MiB target (the whole rendering took 36 MiB), 304 on its
# ETag with nothing after it on the connection, a client that leaves in
# the middle costs nothing; small answers keep their Content-Length.
. "$(dirname "$0")/lib.sh"

DB=$T/big.db
$PY "$SL_SRC/tests/bench/gen_bench_data.py" "$T/b" 1 50000 1
"$SERVER" import --backend "sqlite:$DB" "$T/b-0.json" 2>/dev/null
"$SERVER" import --backend "sqlite:$DB" "$SL_SRC/demo/demo.json" 2>/dev/null
rm -f "$T"/b-0.json
SLOW=(--upstream-timeout=60s --query-timeout=60s)
start_server "$T/s.log" --backend "sqlite:$DB" --grpc-listen=127.0.0.1:0 \
  --http-listen=127.0.0.1:0 "${SLOW[@]}" --log-level=warn
SRV=$SERVER_PID
GP=$GRPC_PORT
HP=$HTTP_PORT
H=http://127.0.0.1:$HP
BIG=/v1/bench-p/services/svc-0/logs

curl -s -D "$T/h" -o "$T/a.json" --max-time 120 "$H$BIG"
contains "a big answer is chunked" "Transfer-Encoding: chunked" "$(cat "$T/h")"
etag=$(sed -n 's/^ETag: //Ip' "$T/h" | tr -d '\r')
contains "its ETag is the packed answer's" '"p' "$etag"
n=$($PY -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["logs"]))' "$T/a.json")
check "every log is in it" 50000 "$n"
curl -s -H 'Accept-Encoding: gzip' -D "$T/hz" -o "$T/a.gz" --max-time 120 "$H$BIG"
contains "gzip when accepted" "Content-Encoding: gzip" "$(cat "$T/hz")"
check "the gzip body is the same JSON" "$(md5sum <"$T/a.json")" "$(zcat "$T/a.gz" | md5sum)"

# The same bytes through a sidecar shim (--upstream: the packed answer
# comes over gRPC and is streamed there).
start_server "$T/shim.log" --upstream=127.0.0.1:$GP --http-listen=127.0.0.1:0 \
  "${SLOW[@]}" --log-level=warn
SHIM=$SERVER_PID
curl -s -D "$T/hs" -o "$T/s.json" --max-time 120 "http://127.0.0.1:$HTTP_PORT$BIG"
check "the sidecar shim streams the same bytes" "$(md5sum <"$T/a.json")" "$(md5sum <"$T/s.json")"
check "and the same ETag" "$etag" "$(sed -n 's/^ETag: //Ip' "$T/hs" | tr -d '\r')"
stop_server "$SHIM" && pass "the sidecar exits 0" || fail "sidecar exit status"

# Four at once: the server's peak RSS grows by the packed answers and a
# chunk each, not by the JSON.
rss() { sed -n "s/^$1:[^0-9]*\([0-9]*\) kB/\1/p" "/proc/$SRV/status"; }
base=$(rss VmRSS)
pids=()
for i in 1 2 3 4; do
  curl -s -o "$T/c$i.json" --max-time 120 "$H$BIG" &
  pids+=($!)
done
wait "${pids[@]}"
for i in 1 2 3 4; do
  check "concurrent answer $i: the same bytes" "$(md5sum <"$T/a.json")" "$(md5sum <"$T/c$i.json")"
done
if [ "${SL_SANITIZE:-OFF}" != ON ]; then
  grew=$((($(rss VmHWM) - base) / 1024))
  [ "$grew" -lt 32 ] && pass "four concurrent 11.5 MB answers: peak RSS +$grew MiB (< 32)" ||
    fail "four concurrent answers grew RSS by $grew MiB (want < 32)"
fi

# 304 on the ETag, and the connection's next request answered right after
# it (no body after a 304).
out=$($PY - "$HP" "$etag" "$BIG" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nIf-None-Match: %s\r\n\r\n"
           "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
           % (sys.argv[3], sys.argv[2])).encode())
d = b""
while True:
    c = s.recv(65536)
    if not c:
        break
    d += c
first, _, rest = d.partition(b"\r\n\r\n")
print(first.split(b"\r\n")[0].decode(), "|", rest.split(b"\r\n")[0].decode())
PY
)
check "304 on the ETag, then the next response at once" \
  "HTTP/1.1 304 Not Modified | HTTP/1.1 200 OK" "$out"

# A client that reads 64 KiB and leaves: nothing held, the next is served.
$PY - "$HP" "$BIG" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % sys.argv[2]).encode())
got = 0
while got < 65536:
    got += len(s.recv(65536))
s.close()
PY
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 "$H$BIG")
check "after a client left mid-answer, the next is served" 200 "$code"

# A small answer is rendered whole: Content-Length and the JSON's ETag.
curl -s -D "$T/hd" -o /dev/null "$H/v1/demo-project/services/mnist-svc/logs"
contains "a small answer keeps its Content-Length" "Content-Length:" "$(cat "$T/hd")"
etag_small=$(sed -n 's/^ETag: //Ip' "$T/hd" | tr -d '\r')
case "$etag_small" in '"p'*) fail "a small answer has a packed ETag" ;; *) pass "a small answer keeps the JSON's ETag" ;; esac
stop_server "$SRV" && pass "SIGTERM exits 0" || fail "exit status"
finish
