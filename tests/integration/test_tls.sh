#!/usr/bin/env bash
# test_tls.sh -- TLS end to end: a throw-away CA and certificates made with
# openssl; gRPC over TLS probed with Python grpcio (our CLI has no TLS
# flags), HTTPS with curl; mutual TLS refusing clients without a (valid)
# certificate on both ports; a shim-only process dialling a TLS upstream;
# start-up failures naming the file; SIGTERM exits 0.
. "$(dirname "$0")/lib.sh"

# ---- a throw-away PKI (EC P-256: quick to make) --------------------------
C=$T/pki
mkdir -p "$C"
# newcert NAME ISSUER EXTENSIONS: NAME.key, NAME.pem signed by ISSUER
newcert() {
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=$1" -keyout "$C/$1.key" -out "$C/$1.csr" 2>/dev/null
  printf '%b' "$3" >"$C/$1.ext"
  openssl x509 -req -in "$C/$1.csr" -CA "$C/$2.pem" -CAkey "$C/$2.key" \
    -CAcreateserial -days 2 -extfile "$C/$1.ext" -out "$C/$1.pem" 2>/dev/null
}
for ca in ca rogue-ca; do
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -days 2 -subj "/CN=servicelogs test $ca" -keyout "$C/$ca.key" \
    -out "$C/$ca.pem" 2>/dev/null
done
SAN='subjectAltName=IP:127.0.0.1,DNS:localhost\n'
# The server certificate also allows client authentication: the
# in-process shim presents it in mutual mode unless --upstream-cert.
newcert server ca "${SAN}extendedKeyUsage=serverAuth,clientAuth\n"
newcert client ca 'extendedKeyUsage=clientAuth\n'
newcert rogue-client rogue-ca 'extendedKeyUsage=clientAuth\n'
newcert serveronly ca "${SAN}extendedKeyUsage=serverAuth\n"
cat "$C/server.pem" "$C/ca.pem" >"$C/server-chain.pem"
cat "$C/serveronly.pem" "$C/ca.pem" >"$C/serveronly-chain.pem"
for f in ca.pem server-chain.pem server.key client.pem client.key \
  rogue-client.pem serveronly.pem; do
  [ -s "$C/$f" ] || { echo "openssl did not make $f" >&2; exit 1; }
done

DB=$T/tls.db
"$SERVER" import --backend "sqlite:$DB" "$SL_SRC/demo/demo.json" >/dev/null 2>&1
MNIST=$(cat "$SL_SRC/tests/integration/expected/mnist.json")
LOGS=/v1/demo-project/services/mnist-svc/logs
GRPC_OK="OK mnist-svc mnist 2"

# probe ADDR [tls_probe.py options]: one QueryServiceLogs over gRPC
probe() {
  local addr=$1
  shift
  GRPC_VERBOSITY=NONE $PY "$SL_SRC/tests/integration/tls_probe.py" "$addr" \
    demo-project mnist-svc "$@"
}
# https URL [curl options]: sets CODE (000: no HTTP answer) and BODY
https() {
  local url=$1
  shift
  CODE=$(curl -s -o "$T/b" -w '%{http_code}' --max-time 10 "$@" "$url") || true
  BODY=$(cat "$T/b" 2>/dev/null || true)
  rm -f "$T/b"
}
TLS=(--tls-cert "$C/server-chain.pem" --tls-key "$C/server.key")
CLIENT=(--cert "$C/client.pem" --key "$C/client.key")

# ---- TLS: gRPC and HTTPS on one certificate ------------------------------
start_server "$T/tls.log" --backend "sqlite:$DB" --threads=2 "${TLS[@]}" \
  --grpc-listen=127.0.0.1:0 --http-listen=127.0.0.1:0
TLS_PID=$SERVER_PID
GP=$GRPC_PORT
HP=$HTTP_PORT

check "gRPC over TLS" "$GRPC_OK" "$(probe 127.0.0.1:"$GP" --ca "$C/ca.pem")"
check "gRPC over TLS, by name (localhost)" "$GRPC_OK" \
  "$(probe localhost:"$GP" --ca "$C/ca.pem")"
contains "gRPC plaintext client to the TLS port: refused" UNAVAILABLE \
  "$(probe 127.0.0.1:"$GP" --plaintext)"
contains "gRPC client trusting another CA: refuses the server" UNAVAILABLE \
  "$(probe 127.0.0.1:"$GP" --ca "$C/rogue-ca.pem")"
contains "gRPC client expecting another name: refuses the server" \
  UNAVAILABLE "$(probe 127.0.0.1:"$GP" --ca "$C/ca.pem" --name other.example)"

https "https://127.0.0.1:$HP$LOGS" --cacert "$C/ca.pem"
check "HTTPS: 200" 200 "$CODE"
check "HTTPS: the documented JSON" "$MNIST" "$BODY"
https "https://localhost:$HP$LOGS" --cacert "$C/ca.pem"
check "HTTPS by name (localhost): documented JSON" "200 $MNIST" "$CODE $BODY"
https "https://127.0.0.1:$HP/healthz" --cacert "$C/ca.pem"
check "HTTPS /healthz: the in-process TLS hop works" \
  '200 {"status":"SERVING"}' "$CODE $BODY"
https "http://127.0.0.1:$HP$LOGS"
check "plain HTTP to the HTTPS port: no answer" 000 "$CODE"
https "https://127.0.0.1:$HP$LOGS" --cacert "$C/rogue-ca.pem"
check "HTTPS client trusting another CA: refuses the server" 000 "$CODE"

# shim-only processes dialling the TLS server
start_server "$T/shim1.log" --upstream=127.0.0.1:"$GP" \
  --upstream-ca "$C/ca.pem" --http-listen=127.0.0.1:0
SP=$HTTP_PORT
https "http://127.0.0.1:$SP$LOGS"
check "shim-only --upstream-ca: 200" 200 "$CODE"
check "shim-only --upstream-ca: the documented JSON" "$MNIST" "$BODY"
stop_server "$SERVER_PID" && pass "shim-only (TLS upstream): SIGTERM exits 0" ||
  fail "shim-only (TLS upstream): exit status"
start_server "$T/shim2.log" --upstream=127.0.0.1:"$GP" \
  --upstream-ca "$C/ca.pem" --upstream-name localhost \
  --http-listen=127.0.0.1:0
SP=$HTTP_PORT
https "http://127.0.0.1:$SP$LOGS"
check "shim-only --upstream-name localhost: 200" 200 "$CODE"
stop_server "$SERVER_PID" || fail "shim-only (name): exit status"
start_server "$T/shim3.log" --upstream=127.0.0.1:"$GP" \
  --upstream-ca "$C/ca.pem" --upstream-name other.example \
  --http-listen=127.0.0.1:0
SP=$HTTP_PORT
https "http://127.0.0.1:$SP$LOGS"
check "shim-only expecting another name: 503" 503 "$CODE"
stop_server "$SERVER_PID" || fail "shim-only (wrong name): exit status"
start_server "$T/shim4.log" --upstream=127.0.0.1:"$GP" \
  --http-listen=127.0.0.1:0
SP=$HTTP_PORT
https "http://127.0.0.1:$SP$LOGS"
check "shim-only in plaintext to a TLS upstream: 503" 503 "$CODE"
stop_server "$SERVER_PID" || fail "shim-only (plaintext): exit status"

stop_server "$TLS_PID" && pass "TLS: SIGTERM exits 0" || fail "TLS: exit status"

# ---- mutual TLS -----------------------------------------------------------
start_server "$T/mtls.log" --backend "sqlite:$DB" --threads=2 "${TLS[@]}" \
  --tls-client-ca "$C/ca.pem" \
  --grpc-listen=127.0.0.1:0 --http-listen=127.0.0.1:0
MTLS_PID=$SERVER_PID
GP=$GRPC_PORT
HP=$HTTP_PORT

check "mutual gRPC with a client certificate" "$GRPC_OK" \
  "$(probe 127.0.0.1:"$GP" --ca "$C/ca.pem" --cert "$C/client.pem" \
    --key "$C/client.key")"
contains "mutual gRPC without a client certificate: refused" UNAVAILABLE \
  "$(probe 127.0.0.1:"$GP" --ca "$C/ca.pem")"
contains "mutual gRPC with a certificate from another CA: refused" \
  UNAVAILABLE "$(probe 127.0.0.1:"$GP" --ca "$C/ca.pem" \
    --cert "$C/rogue-client.pem" --key "$C/rogue-client.key")"
contains "mutual gRPC with a server-only certificate: refused" UNAVAILABLE \
  "$(probe 127.0.0.1:"$GP" --ca "$C/ca.pem" --cert "$C/serveronly.pem" \
    --key "$C/serveronly.key")"

https "https://127.0.0.1:$HP$LOGS" --cacert "$C/ca.pem" "${CLIENT[@]}"
check "mutual HTTPS with a client certificate: 200" 200 "$CODE"
check "mutual HTTPS: the documented JSON" "$MNIST" "$BODY"
https "https://127.0.0.1:$HP$LOGS" --cacert "$C/ca.pem"
check "mutual HTTPS without a client certificate: refused in TLS" 000 "$CODE"
https "https://127.0.0.1:$HP$LOGS" --cacert "$C/ca.pem" \
  --cert "$C/rogue-client.pem" --key "$C/rogue-client.key"
check "mutual HTTPS, certificate from another CA: refused in TLS" 000 "$CODE"
https "https://127.0.0.1:$HP$LOGS" --cacert "$C/ca.pem" \
  --cert "$C/serveronly.pem" --key "$C/serveronly.key"
check "mutual HTTPS, server-only certificate: refused in TLS" 000 "$CODE"
https "https://127.0.0.1:$HP/healthz" --cacert "$C/ca.pem" "${CLIENT[@]}"
check "mutual HTTPS /healthz: the in-process mutual hop works" \
  '200 {"status":"SERVING"}' "$CODE $BODY"
check "refusals happened in the handshake, not per request" 0 \
  "$(grep -c 'without a verified client certificate' "$T/mtls.log" || true)"
check "refused clients wrote no access line" 2 \
  "$(grep -c '"kind":"http"' "$T/mtls.log" || true)"

# shim-only with a client certificate, and without one
start_server "$T/shim5.log" --upstream=127.0.0.1:"$GP" \
  --upstream-ca "$C/ca.pem" --upstream-cert "$C/client.pem" \
  --upstream-key "$C/client.key" --http-listen=127.0.0.1:0
SP=$HTTP_PORT
https "http://127.0.0.1:$SP$LOGS"
check "shim-only with --upstream-cert to a mutual server: 200" \
  "200 $MNIST" "$CODE $BODY"
stop_server "$SERVER_PID" || fail "shim-only (mutual): exit status"
start_server "$T/shim6.log" --upstream=127.0.0.1:"$GP" \
  --upstream-ca "$C/ca.pem" --http-listen=127.0.0.1:0
SP=$HTTP_PORT
https "http://127.0.0.1:$SP$LOGS"
check "shim-only without a client certificate to a mutual server: 503" \
  503 "$CODE"
stop_server "$SERVER_PID" || fail "shim-only (no client cert): exit status"

stop_server "$MTLS_PID" && pass "mutual TLS: SIGTERM exits 0" ||
  fail "mutual TLS: exit status"

# ---- the in-process hop with explicit --upstream-* -----------------------
# A leaf-only certificate file (no root in it) needs --upstream-ca; a
# server certificate without clientAuth needs --upstream-cert in mutual
# mode.
start_server "$T/explicit.log" --backend "sqlite:$DB" \
  --tls-cert "$C/serveronly.pem" --tls-key "$C/serveronly.key" \
  --tls-client-ca "$C/ca.pem" --upstream-ca "$C/ca.pem" \
  --upstream-cert "$C/client.pem" --upstream-key "$C/client.key" \
  --grpc-listen=127.0.0.1:0 --http-listen=127.0.0.1:0
HP=$HTTP_PORT
https "https://127.0.0.1:$HP$LOGS" --cacert "$C/ca.pem" "${CLIENT[@]}"
check "in-process hop with --upstream-ca/--upstream-cert: 200" \
  "200 $MNIST" "$CODE $BODY"
stop_server "$SERVER_PID" && pass "explicit: SIGTERM exits 0" ||
  fail "explicit: exit status"

# ---- start-up failures: exit 1, one line naming the file -----------------
# expect_fail NAME NEEDLE ARGS...
expect_fail() {
  local name=$1 needle=$2
  shift 2
  local rc=0
  timeout 20 "$SERVER" serve --backend memory: --grpc-listen=127.0.0.1:0 \
    "$@" >"$T/out" 2>"$T/err" || rc=$?
  check "$name: exit status" 1 "$rc"
  local err
  err=$(grep -v '^[0-9T:.-]*Z info ' "$T/err" || true)
  contains "$name: message" "$needle" "$err"
  check "$name: one line" 1 "$(printf '%s\n' "$err" | wc -l)"
}
echo "this is not PEM" >"$T/garbage.pem"
HTTP_OFF=(--http-listen=)
expect_fail "key file missing" "--tls-key $T/missing.key: cannot read" \
  "${HTTP_OFF[@]}" --tls-cert "$C/server-chain.pem" --tls-key "$T/missing.key"
expect_fail "certificate file missing" "--tls-cert $T/missing.pem: cannot read" \
  "${HTTP_OFF[@]}" --tls-cert "$T/missing.pem" --tls-key "$C/server.key"
expect_fail "key of another certificate" \
  "--tls-key $C/client.key: this key does not belong to the certificate" \
  "${HTTP_OFF[@]}" --tls-cert "$C/server-chain.pem" --tls-key "$C/client.key"
expect_fail "garbage certificate PEM" \
  "--tls-cert $T/garbage.pem: no PEM certificate" \
  "${HTTP_OFF[@]}" --tls-cert "$T/garbage.pem" --tls-key "$C/server.key"
expect_fail "garbage key PEM" "--tls-key $T/garbage.pem: no unencrypted PEM" \
  "${HTTP_OFF[@]}" --tls-cert "$C/server-chain.pem" --tls-key "$T/garbage.pem"
expect_fail "garbage client CA PEM" \
  "--tls-client-ca $T/garbage.pem: no PEM certificate" \
  "${HTTP_OFF[@]}" "${TLS[@]}" --tls-client-ca "$T/garbage.pem"
expect_fail "certificate without key" "--tls-cert $C/server-chain.pem needs --tls-key" \
  "${HTTP_OFF[@]}" --tls-cert "$C/server-chain.pem"
expect_fail "client CA without certificate" "--tls-client-ca needs --tls-cert" \
  "${HTTP_OFF[@]}" --tls-client-ca "$C/ca.pem"
expect_fail "in-process shim: no root in --tls-cert" \
  "--tls-cert $C/serveronly.pem holds no self-signed (root) certificate" \
  --http-listen=127.0.0.1:0 --tls-cert "$C/serveronly.pem" \
  --tls-key "$C/serveronly.key"
expect_fail "in-process shim: server certificate unfit as client certificate" \
  "--tls-cert $C/serveronly-chain.pem: not accepted under --tls-client-ca" \
  --http-listen=127.0.0.1:0 \
  --tls-cert "$C/serveronly-chain.pem" --tls-key "$C/serveronly.key" \
  --tls-client-ca "$C/ca.pem"
expect_fail "in-process shim: name not in the certificate" \
  "not trusted by the in-process shim for 'other.example'" \
  --http-listen=127.0.0.1:0 "${TLS[@]}" \
  --upstream-name other.example
expect_fail "--upstream-ca without TLS on the in-process server" \
  "are for a TLS upstream" \
  --http-listen=127.0.0.1:0 --upstream-ca "$C/ca.pem"
expect_fail "shim-only: --upstream-cert without --upstream-ca" \
  "--upstream-cert needs --upstream-ca" \
  --upstream=127.0.0.1:1 --http-listen=127.0.0.1:0 \
  --upstream-cert "$C/client.pem" --upstream-key "$C/client.key"
expect_fail "shim-only: --upstream-key of another certificate" \
  "--upstream-key $C/server.key: this key does not belong" \
  --upstream=127.0.0.1:1 --http-listen=127.0.0.1:0 \
  --upstream-ca "$C/ca.pem" --upstream-cert "$C/client.pem" \
  --upstream-key "$C/server.key"
expect_fail "shim-only: garbage --upstream-ca" \
  "--upstream-ca $T/garbage.pem: no PEM certificate" \
  --upstream=127.0.0.1:1 --http-listen=127.0.0.1:0 \
  --upstream-ca "$T/garbage.pem"
finish
