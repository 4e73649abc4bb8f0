#!/usr/bin/env bash
# test_auth_tokens.sh -- every byte of a token counts, end to end (issue 8
# item 11): a wrong token of the same length as a valid one, differing only
# late (the last byte, the middle, anything after the 8th byte), is refused
# over gRPC (Python grpcio and our nanopb CLI) with UNAUTHENTICATED
# ModelArts.0203, and over REST with 401 ModelArts.0203, both through the
# shim inside the server and through a shim-only process (--upstream); so
# are a valid token's prefix and extension. Two tokens that differ only in
# their last byte stay two tokens (PERMISSION_DENIED / 403 across
# projects). A valid token through either shim answers 200 with the
# documented JSON: the shim forwards the token, whole.
. "$(dirname "$0")/lib.sh"

DB=$T/t.db
"$SERVER" import --backend "sqlite:$DB" "$SL_SRC/tests/fixtures/demo.json" >/dev/null 2>&1
EXP=$SL_SRC/tests/integration/expected
# Realistic 38-byte tokens; the second differs from the first in its last
# byte only.
GOOD=team-alpha-reader-0123456789abcdef0001
SIBLING=team-alpha-reader-0123456789abcdef0002
SHORT=k8bytes! # exactly 8 bytes: a check of 8 bytes would still see it all
TOK=$T/tokens
cat >"$TOK" <<TOKENS
$GOOD    demo-project
$SIBLING other-project
$SHORT   demo-project
TOKENS
# change TOKEN AT: TOKEN with its byte at offset AT replaced (by 'Z', or
# 'Y' where it is a 'Z'): the same length, wrong in one byte.
change() {
  local c=Z
  [ "${1:$2:1}" = Z ] && c=Y
  printf '%s' "${1:0:$2}$c${1:$(($2 + 1))}"
}
LEN=${#GOOD}
check "the test's tokens have one length" "$LEN $LEN" "${#GOOD} ${#SIBLING}"
# name=token: same length as a valid one, one byte wrong; then a prefix
# and extensions.
WRONG=(
  "last byte=$(change "$GOOD" $((LEN - 1)))"
  "middle byte=$(change "$GOOD" $((LEN / 2)))"
  "9th byte=$(change "$GOOD" 8)"
  "first byte=$(change "$GOOD" 0)"
  "first 8 bytes right=${GOOD:0:8}$(printf 'x%.0s' $(seq $((LEN - 8))))"
  "8-byte token, last byte=$(change "$SHORT" 7)"
  "prefix=${GOOD:0:$((LEN - 1))}"
  "first 8 bytes only=${GOOD:0:8}"
  "extension=${GOOD}0"
  "8-byte token extended=${SHORT}x"
)

start_server "$T/s.log" --backend "sqlite:$DB" --grpc-listen=127.0.0.1:0 \
  --http-listen=127.0.0.1:0 --auth-tokens "$TOK" --threads=2
PID=$SERVER_PID
GP=$GRPC_PORT
HP=$HTTP_PORT
# A shim-only process in front of the same server: the token crosses a
# real connection from the shim to the upstream.
start_server "$T/shim.log" --upstream=127.0.0.1:"$GP" --http-listen=127.0.0.1:0
SHIM_PID=$SERVER_PID
SP=$HTTP_PORT

Q=/modelarts.v1.ServiceLogs/QueryServiceLogs
grpc() { # PROJECT SERVICE TOKEN
  $PY "$I/grpc_probe.py" "127.0.0.1:$GP" $Q "$(pb "$1" "$2")" "$3"
}
rest() { # PORT PROJECT SERVICE TOKEN -> "HTTP error_code"; body in $T/b
  curl -s -H "X-Auth-Token: $4" -o "$T/b" -w '%{http_code}' \
    "http://127.0.0.1:$1/v1/$2/services/$3/logs" >"$T/c" || true
  echo "$(cat "$T/c") $($PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get("error_code", "-"))' "$T/b" 2>/dev/null || echo "unparsable body")"
}
cli() { # TOKEN: exit status, stdout in $T/o, stderr in $T/e
  local rc=0
  SERVICELOGS_TOKEN=$1 "$CLI" query --addr "127.0.0.1:$GP" \
    --project demo-project --service mnist-svc >"$T/o" 2>"$T/e" || rc=$?
  echo "$rc"
}

# ---- a valid token works on every path (the shims forward it) ----------
contains "gRPC valid token: OK" "OK - -" "$(grpc demo-project mnist-svc "$GOOD")"
check "CLI valid token: exit 0" 0 "$(cli "$GOOD")"
check "CLI valid token: documented JSON" "$(cat "$EXP/mnist.json")" "$(cat "$T/o")"
contains "gRPC 8-byte token: OK" "OK - -" "$(grpc demo-project mnist-svc "$SHORT")"
for port in "$HP" "$SP"; do
  what="REST (shim in server)"
  [ "$port" = "$SP" ] && what="REST (shim-only process)"
  check "$what valid token: 200" "200 -" "$(rest "$port" demo-project mnist-svc "$GOOD")"
  check "$what valid token: documented JSON" "$(cat "$EXP/mnist.json")" "$(cat "$T/b")"
  check "$what 8-byte token: 200" "200 -" "$(rest "$port" demo-project mnist-svc "$SHORT")"
  check "$what sibling token reads its own project" "200 -" "$(rest "$port" other-project private-svc "$SIBLING")"
done

# ---- a token wrong in one byte, however late, is refused ----------------
for w in "${WRONG[@]}"; do
  name=${w%%=*}
  tok=${w#*=}
  [ "$tok" != "$GOOD" ] && [ "$tok" != "$SHORT" ] || fail "$name: the test's token is a valid one"
  contains "gRPC $name: UNAUTHENTICATED 0203" "UNAUTHENTICATED ModelArts.0203 modelarts" \
    "$(grpc demo-project mnist-svc "$tok")"
  check "REST (shim in server) $name: 401 0203" "401 ModelArts.0203" "$(rest "$HP" demo-project mnist-svc "$tok")"
  check "REST (shim-only process) $name: 401 0203" "401 ModelArts.0203" "$(rest "$SP" demo-project mnist-svc "$tok")"
done
check "CLI last byte wrong: exit 5" 5 "$(cli "$(change "$GOOD" $((LEN - 1)))")"
contains "CLI last byte wrong: UNAUTHENTICATED" UNAUTHENTICATED "$(cat "$T/e")"
contains "CLI last byte wrong: ModelArts.0203" ModelArts.0203 "$(cat "$T/e")"
check "CLI last byte wrong: no document" "" "$(cat "$T/o")"

# ---- two tokens with a shared prefix stay apart --------------------------
contains "gRPC sibling token, other project: PERMISSION_DENIED 0210" \
  "PERMISSION_DENIED ModelArts.0210 modelarts" "$(grpc demo-project mnist-svc "$SIBLING")"
contains "gRPC valid token, sibling's project: PERMISSION_DENIED 0210" \
  "PERMISSION_DENIED ModelArts.0210 modelarts" "$(grpc other-project private-svc "$GOOD")"
check "REST (shim in server) sibling token: 403 0210" "403 ModelArts.0210" "$(rest "$HP" demo-project mnist-svc "$SIBLING")"
check "REST (shim-only process) sibling token: 403 0210" "403 ModelArts.0210" "$(rest "$SP" demo-project mnist-svc "$SIBLING")"

# ---- still serving, and no token in any log ------------------------------
contains "gRPC still serving" "OK - -" "$(grpc demo-project mnist-svc "$GOOD")"
stop_server "$SHIM_PID" && pass "shim: SIGTERM exits 0" || fail "shim: SIGTERM exit status"
stop_server "$PID" && pass "server: SIGTERM exits 0" || fail "server: SIGTERM exit status"
for w in "GOOD=$GOOD" "SIBLING=$SIBLING" "${WRONG[@]}"; do
  tok=${w#*=}
  [ ${#tok} -ge 9 ] || continue # short pieces may be in any text
  if grep -qF -- "$tok" "$T/s.log" "$T/shim.log"; then
    fail "a token (${w%%=*}) reached a log"
  fi
done
pass "no token of 9 bytes or more in the logs"
finish
