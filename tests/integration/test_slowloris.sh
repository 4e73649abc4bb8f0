#!/usr/bin/env bash
# test_slowloris.sh -- the REST shim's request deadline
# (--http-header-timeout) against clients that keep sending but never
# finish a request (slow-loris), over HTTP and HTTPS. With a 2 s deadline
# and as many trickling connections as --http-max-connections, the
# tricklers are closed 2 to 3 s after they connect and a normal client is
# served meanwhile; a silent connection, a trickled body and a trickled
# second request on a kept-alive connection are closed too; an idle
# kept-alive connection is governed by --http-idle-timeout, not the
# deadline. Each close counts in servicelogs_http_header_timeouts_total;
# the warnings are at most one line a second; descriptors come back; SIGTERM
# exits 0. test_faults.sh keeps the default deadline (10 s) and checks that
# stalled connections are closed by the idle timeout.
#
# The servers log at info: the start-up lines that name the bound ports
# are info lines (start_server needs them to tell the gRPC port from the
# REST one). The warnings checked below are warn lines either way.
. "$(dirname "$0")/lib.sh"
LOGS=/v1/demo-project/services/mnist-svc/logs

probe() { $PY "$I/slowloris_probe.py" "$@"; }
fds() { ls "/proc/$1/fd" | wc -l; }
# no_clients PID: the server holds no connection from a client.
no_clients() { [ "$($PY "$I/proc_sockets.py" clients "$1")" = 0 ]; }
# fds_near_base PID: its descriptors are at the baseline FD0 (+2: a client
# connection not reaped yet).
fds_near_base() { [ "$(fds "$1")" -le $((FD0 + 2)) ]; }
# ms_between NAME LO GOT HI: a duration GOT in ms, LO <= GOT < HI
ms_between() {
  if [ "${3:-x}" -eq "${3:-x}" ] 2>/dev/null && [ "$3" -ge "$2" ] && [ "$3" -lt "$4" ]; then
    pass "$1 ($3 ms)"
  else
    fail "$1: want $2 to $4 ms, got [$3]"
  fi
}
# closed_ms LINE: the ms of "...: closed <ms> ms ..." ("" when open)
closed_ms() { sed -n 's/.*: closed \([0-9]*\) ms .*/\1/p' <<<"$1"; }
# timeouts_metric BASE_URL: servicelogs_http_header_timeouts_total
timeouts_metric() {
  curl -s -k "$1/metrics" | sed -n 's/^servicelogs_http_header_timeouts_total \([0-9]*\)$/\1/p'
}
# one_line_a_second LABEL LOG: the deadline's warnings, never two in one
# second, and no per-connection line from libmicrohttpd at warn level
one_line_a_second() {
  local lines
  lines=$(grep 'whose request was not in by its deadline\|: its request was not in by its deadline' "$2" || true)
  [ -n "$lines" ] && pass "$1: closes logged" || fail "$1: no close logged"
  check "$1: at most one warning a second" "" "$(cut -c1-19 <<<"$lines" | uniq -d)"
  check "$1: no per-connection warning from libmicrohttpd" "" \
    "$(grep ' warn shim: http: \(Connection\|Socket\)' "$2" || true)"
  check "$1: the warnings carry no request bytes" "" "$(grep 'aaaa\|X-Pad' "$2" || true)"
}
# trickle_checks LABEL OUT N: the trickle mode's two lines
trickle_checks() {
  local t n
  t=$(grep '^trickle:' <<<"$2") || true
  n=$(grep '^normal:' <<<"$2") || true
  contains "$1: every trickling connection closed while it sent" "trickle: $3/$3 closed while sending" "$t"
  ms_between "$1: the first closed at the deadline, not before" 1900 \
    "$(sed -n 's/.*sending, \([0-9]*\) to.*/\1/p' <<<"$t")" 3000
  ms_between "$1: the last closed within the deadline + 1 s" 1900 \
    "$(sed -n 's/.* to \([0-9]*\) ms after.*/\1/p' <<<"$t")" 3000
  contains "$1: every normal request answered 200" ", 200, slowest" "$n"
}

DB=$T/s.db
"$SERVER" import --backend "sqlite:$DB" "$SL_SRC/demo/demo.json" >/dev/null 2>&1
start_server "$T/s.log" --backend "sqlite:$DB" --grpc-listen=127.0.0.1:0 \
  --http-listen=127.0.0.1:0 --http-max-connections=20 \
  --http-header-timeout=2s --http-idle-timeout=5s --log-level=warn
PID=$SERVER_PID
HP=$HTTP_PORT
BASE=http://127.0.0.1:$HP
check "start: a normal request" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$BASE$LOGS")"
# The baseline once that client is gone.
wait_for "$WAIT" no_clients "$PID" || true
FD0=$(fds "$PID")

# 1. As many tricklers as --http-max-connections, one byte each per
# 250 ms for 5 s. Before the deadline they held every slot and the normal
# client waited in the listen backlog until its own 5 s timeout; now they
# are closed at 2 s, so it waits at most that long, then is served promptly.
out=$(probe trickle "$HP" 20 5 "$LOGS")
echo "$out"
trickle_checks "20 tricklers, limit 20" "$out" 20
ms_between "20 tricklers, limit 20: the normal client waited at most for the deadline" 0 \
  "$(sed -n 's/.*slowest \([0-9]*\) ms$/\1/p' <<<"$out")" 3500

# 2. At once: a connection that sends nothing; a complete head whose body
# trickles; a kept-alive connection idle for 3 s (longer than the deadline,
# shorter than the idle timeout) before its second request; a kept-alive
# connection trickling its second request (due idle + deadline = 7 s after
# the response).
probe silent "$HP" >"$T/silent" &
S=$!
probe body "$HP" "$LOGS" >"$T/body" &
B=$!
probe keepalive "$HP" "$LOGS" 3 >"$T/keep" &
K=$!
probe next "$HP" "$LOGS" >"$T/next" &
N=$!
wait "$S" "$B" "$K" "$N"
cat "$T/silent" "$T/body" "$T/keep" "$T/next"
ms_between "a silent connection: closed at the deadline" 1900 "$(closed_ms "$(cat "$T/silent")")" 3000
ms_between "a trickled body: closed at the deadline" 1900 "$(closed_ms "$(cat "$T/body")")" 3000
check "an idle kept-alive connection outlives the deadline (idle timeout 5 s)" \
  "keepalive: 200 200" "$(cat "$T/keep")"
ms_between "a trickled second request: closed idle timeout + deadline after the response" \
  6900 "$(closed_ms "$(cat "$T/next")")" 8000

check "servicelogs_http_header_timeouts_total counts every close" 23 "$(timeouts_metric "$BASE")"
check "after it all: a normal request" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$BASE$LOGS")"
wait_for 20 fds_near_base "$PID" || true
n=$(fds "$PID")
[ "$n" -le $((FD0 + 2)) ] && pass "descriptors back to the baseline ($n, was $FD0)" ||
  fail "$n descriptors open, baseline $FD0"
one_line_a_second "HTTP" "$T/s.log"
stop_server "$PID" && pass "HTTP: SIGTERM exits 0" || fail "HTTP: exit status"

# 3. HTTPS: the deadline covers the handshake (a client that never sends its
# ClientHello) and a request trickled after it; the descriptor shut down is
# the TCP socket under the TLS session.
C=$T/pki
mkdir -p "$C"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=localhost" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
  -keyout "$C/key.pem" -out "$C/cert.pem" 2>/dev/null
start_server "$T/tls.log" --backend "sqlite:$DB" --grpc-listen=127.0.0.1:0 \
  --http-listen=127.0.0.1:0 --tls-cert "$C/cert.pem" --tls-key "$C/key.pem" \
  --upstream-ca "$C/cert.pem" --http-header-timeout=2s --http-idle-timeout=5s \
  --log-level=warn
PID=$SERVER_PID
HP=$HTTP_PORT
BASE=https://127.0.0.1:$HP
check "HTTPS: a normal request" 200 "$(curl -s -k -o /dev/null -w '%{http_code}' "$BASE$LOGS")"
probe --tls silent "$HP" >"$T/tsilent" &
S=$!
probe --tls keepalive "$HP" "$LOGS" 3 >"$T/tkeep" &
K=$!
out=$(probe --tls trickle "$HP" 10 4 "$LOGS")
wait "$S" "$K"
echo "$out"
cat "$T/tsilent" "$T/tkeep"
trickle_checks "HTTPS, 10 tricklers" "$out" 10
ms_between "HTTPS: no ClientHello: closed at the deadline" 1900 "$(closed_ms "$(cat "$T/tsilent")")" 3000
check "HTTPS: an idle kept-alive connection outlives the deadline" "keepalive: 200 200" "$(cat "$T/tkeep")"
check "HTTPS: servicelogs_http_header_timeouts_total" 11 "$(timeouts_metric "$BASE")"
one_line_a_second "HTTPS" "$T/tls.log"
stop_server "$PID" && pass "HTTPS: SIGTERM exits 0" || fail "HTTPS: exit status"
finish
