#!/usr/bin/env bash
# test_ui_browser.sh -- issue 13: the rollout timeline page (web/,
# docs/ui.md) in a real browser, headless Chromium through Selenium (all
# from Debian), on two real servers sharing one SQLite file with the demo:
#   A  plain HTTP, no tokens; the CLI records through its gRPC port
#   B  HTTPS (a throw-away CA, as test_tls.sh makes it) with --auth-tokens
# tests/integration/ui_browser.py drives the page and reads its DOM: the
# demo's real-time and edge services (cards, results, the weight bar's
# segments, the changes, the node table), labels / Tab order / arrow keys,
# a RUNNING log recorded with the CLI appearing within 2 s and turning
# SUCCESS, a deep link, the 404 and batch sentences, the form; on B no
# token / a wrong one / another project's (401, 401, 403 sentences), then
# the right one (cards, live); A's SIGTERM -> "Reconnecting…". Screenshots
# of both services go to $T/shots and, with SL_UI_SCREENSHOTS=DIR, to DIR.
. "$(dirname "$0")/lib.sh"

[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] ||
  { fail "chromium and chromium-driver are not installed (scripts/install-deps.sh --test)"; finish; }

# ---- a throw-away CA and a server certificate (EC P-256) ------------------
C=$T/pki
mkdir -p "$C"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=servicelogs ui test ca" -keyout "$C/ca.key" -out "$C/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj "/CN=127.0.0.1" -keyout "$C/server.key" -out "$C/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' >"$C/ext"
openssl x509 -req -in "$C/server.csr" -CA "$C/ca.pem" -CAkey "$C/ca.key" \
  -CAcreateserial -days 2 -extfile "$C/ext" -out "$C/server.pem" 2>/dev/null
cat "$C/server.pem" "$C/ca.pem" >"$C/chain.pem"
# Chromium trusts exactly this key (its SPKI hash), not any certificate.
SPKI=$(openssl x509 -in "$C/server.pem" -pubkey -noout |
  openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)
[ -n "$SPKI" ] || { fail "openssl: no SPKI hash"; finish; }

DB=$T/ui.db
"$SERVER" import --backend "sqlite:$DB" "$SL_SRC/demo/demo.json" 2>/dev/null
printf 'ui-secret demo-project read\nother-secret other-project read\n' >"$T/tokens"

start_server "$T/a.log" --backend "sqlite:$DB" --grpc-listen=127.0.0.1:0 \
  --http-listen=127.0.0.1:0
A_PID=$SERVER_PID
A_HTTP=$HTTP_PORT
A_GRPC=$GRPC_PORT
start_server "$T/b.log" --backend "sqlite:$DB" --grpc-listen=127.0.0.1:0 \
  --http-listen=127.0.0.1:0 --auth-tokens "$T/tokens" \
  --tls-cert "$C/chain.pem" --tls-key "$C/server.key"
B_PID=$SERVER_PID

SHOTS=(--shots "$T/shots")
[ -n "${SL_UI_SCREENSHOTS:-}" ] && SHOTS+=(--shots "$SL_UI_SCREENSHOTS")
$PY "$I/ui_browser.py" --http "http://127.0.0.1:$A_HTTP" \
  --grpc "127.0.0.1:$A_GRPC" --cli "$CLI" --pid "$A_PID" \
  --https "https://127.0.0.1:$HTTP_PORT" --spki "$SPKI" \
  --token ui-secret --other-token other-secret "${SHOTS[@]}" \
  >"$T/out" 2>"$T/err" || true
while IFS= read -r line; do
  case $line in
  ok:*) pass "${line#ok: }" ;;
  FAIL:*) fail "${line#FAIL: }" ;;
  esac
done <"$T/out"
if ! grep -q '^done$' "$T/out"; then
  fail "ui_browser.py did not finish"
  tail -n 20 "$T/err" >&2
fi
for f in mnist.png mnist-live.png edge.png; do
  [ -s "$T/shots/$f" ] && pass "screenshot $f" || fail "no screenshot $f"
done

wait_exit "$A_PID" && pass "A: SIGTERM (from the page's test) exits 0" ||
  fail "A: exit status"
stop_server "$B_PID" && pass "B: SIGTERM exits 0" || fail "B: exit status"
finish
