#!/usr/bin/env bash
# test_openapi.sh -- GET /openapi.json serves api/openapi.json (issue 12,
# item 3), a valid OpenAPI 3.1 document; and a tour of the REST answers
# (every path, the error statuses, gzip, 304, CORS, the SSE events), which
# lib.sh records and openapi_check.py checks against the document at exit,
# as in every test. Last, the checker is shown a drifted document and must
# refuse this test's answers: it cannot pass by checking nothing.
. "$(dirname "$0")/lib.sh"

DOC=$SL_SRC/api/openapi.json
DB=$T/o.db
"$SERVER" import --backend "sqlite:$DB" "$SL_SRC/demo/demo.json" 2>/dev/null
printf 'tok-demo demo-project write\ntok-other other-project\n' >"$T/tokens"
chmod 600 "$T/tokens"
start_server "$T/s.log" --backend "sqlite:$DB" --grpc-listen=127.0.0.1:0 \
  --http-listen=127.0.0.1:0 --cors-origins=https://app.example \
  --auth-tokens="$T/tokens"
B=http://127.0.0.1:$HTTP_PORT
GP=$GRPC_PORT
TOK=(-H 'X-Auth-Token: tok-demo')
L=$B/v1/demo-project/services

# ---- the document -----------------------------------------------------
code=$(curl -s -o "$T/doc" -D "$T/doc.h" -w '%{http_code}' "$B/openapi.json")
check "GET /openapi.json (no token): 200" 200 "$code"
cmp -s "$T/doc" "$DOC" && pass "served bytes = api/openapi.json" ||
  fail "served document differs from api/openapi.json"
contains "Content-Type" "Content-Type: application/json" "$(cat "$T/doc.h")"
curl -s --compressed -o "$T/doc.gz" -D "$T/doc.gz.h" "$B/openapi.json"
cmp -s "$T/doc.gz" "$DOC" && pass "gzip: the same bytes" || fail "gzip body differs"
contains "gzip answer" "Content-Encoding: gzip" "$(cat "$T/doc.gz.h")"
etag=$(sed -n 's/^ETag: //Ip' "$T/doc.h" | tr -d '\r')
check "If-None-Match: 304" 304 \
  "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$B/openapi.json")"
check "HEAD /openapi.json: 200" 200 "$(curl -s -I -o /dev/null -w '%{http_code}' "$B/openapi.json")"
rc=0
out=$(bash "$SL_SRC/tests/openapi/check.sh" "$SL_SRC" "$SL_BIN/.." "$T/doc" 2>&1) || rc=$?
case $rc in
0) pass "the served document is valid OpenAPI 3.1 (npm validator)" ;;
77) echo "note: $out" ;;
*) fail "validator: $out" ;;
esac

# ---- the README's error table and the document agree --------------------
# Every (HTTP status, error_code) of a REST row of the table is an answer
# the document has, and every one the document has is in the table.
agree=$($PY - "$DOC" "$SL_SRC/README.md" <<'PY'
import json, re, sys
doc = json.load(open(sys.argv[1]))
def res(n):
    while isinstance(n, dict) and "$ref" in n:
        t = doc
        for p in n["$ref"][2:].split("/"):
            t = t[p]
        n = t
    return n
def codes(schema, out):
    schema = res(schema)
    if not isinstance(schema, dict):
        return
    ec = schema.get("properties", {}).get("error_code", {})
    out.update(ec.get("enum", [])); out.update([ec["const"]] if "const" in ec else [])
    for k in ("allOf", "oneOf", "anyOf"):
        for s in schema.get(k, []):
            codes(s, out)
documented = set()
def responses(rs):
    for status, r in rs.items():
        r = res(r)
        for mt, media in r.get("content", {}).items():
            found = set()
            codes(media.get("schema", {}), found)
            documented.update((int(status), c) for c in found)
for item in doc["paths"].values():
    for m, op in item.items():
        if isinstance(op, dict) and "responses" in op:
            responses(op["responses"])
responses(doc["x-servicelogs-any-path"])
table = set()
text = open(sys.argv[2], encoding="utf-8").read()
rows = [l for l in text.split("## Errors", 1)[1].splitlines() if l.startswith("| ")]
for l in rows:
    cells = [c.strip() for c in l.strip("|").split("|")]
    if len(cells) != 4 or not cells[2].isdigit() or not cells[3].startswith("ModelArts."):
        continue
    if "writer call" in cells[0] or "PutService" in cells[0]:
        continue  # gRPC only: REST has no writer
    table.add((int(cells[2]), cells[3]))
only_table = sorted(table - documented)
only_doc = sorted(documented - table)
print("ok" if not only_table and not only_doc else
      "in the table, not the document: %s; in the document, not the table: %s"
      % (only_table, only_doc))
PY
)
check "README's error table = the document's errors" ok "$agree"

# ---- a tour of the answers (each checked at exit) -----------------------
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
check "logs, real-time" 200 "$(code "${TOK[@]}" "$L/mnist-svc/logs")"
check "logs, edge, gzip" 200 "$(code "${TOK[@]}" --compressed "$L/edge-svc/logs")"
check "HEAD logs" 200 "$(code "${TOK[@]}" -I "$L/mnist-svc/logs")"
check "?update_time" 200 "$(code "${TOK[@]}" "$L/mnist-svc/logs?update_time=123432423")"
etag=$(curl -s -D - -o /dev/null "${TOK[@]}" "$L/mnist-svc/logs" | sed -n 's/^ETag: //Ip' | tr -d '\r')
check "304" 304 "$(code "${TOK[@]}" -H "If-None-Match: $etag" "$L/mnist-svc/logs")"
check "CORS GET" 200 "$(code "${TOK[@]}" -H 'Origin: https://app.example' "$L/mnist-svc/logs")"
check "preflight 204" 204 "$(code -X OPTIONS -H 'Origin: https://app.example' \
  -H 'Access-Control-Request-Method: GET' "$L/mnist-svc/logs")"
check "OPTIONS from another origin: 405" 405 "$(code -X OPTIONS -H 'Origin: https://evil.example' "$L/mnist-svc/logs")"
check "POST: 405" 405 "$(code -X POST "${TOK[@]}" "$L/mnist-svc/logs")"
check "no token: 401" 401 "$(code "$L/mnist-svc/logs")"
check "unknown token: 401" 401 "$(code -H 'X-Auth-Token: nope' "$L/mnist-svc/logs")"
check "other project's token: 403" 403 "$(code -H 'X-Auth-Token: tok-other' "$L/mnist-svc/logs")"
check "unknown service: 404" 404 "$(code "${TOK[@]}" "$L/nope/logs")"
check "batch service: 400" 400 "$(code "${TOK[@]}" "$L/batch-svc/logs")"
check "bad id: 400" 400 "$(code "${TOK[@]}" "$B/v1/bad%20id/services/x/logs")"
check "bad update_time: 400" 400 "$(code "${TOK[@]}" "$L/mnist-svc/logs?update_time=x")"
check "unknown path: 404" 404 "$(code "$B/v2/nope")"
check "long target: 414" 414 "$(code "$B/$(head -c 9000 /dev/zero | tr '\0' a)")"
check "big headers: 431" 431 "$(code -H "X-Big: $(head -c 70000 /dev/zero | tr '\0' a)" "$B/healthz")"
check "big body: 413" 413 "$(code -X GET -H 'Content-Length: 100000' --data-binary @/dev/null "$B/healthz")"
check "/healthz" 200 "$(code "$B/healthz")"
check "HEAD /healthz" 200 "$(code -I "$B/healthz")"
check "/metrics" 200 "$(code "$B/metrics")"
check "DELETE /metrics: 405" 405 "$(code -X DELETE "$B/metrics")"
check "/ui/" 200 "$(code "$B/ui/")"
check "/ui/nope: 404" 404 "$(code "$B/ui/nope.js")"
check "watch: no token 401" 401 "$(code "$L/mnist-svc/logs:watch")"
check "watch: unknown service 404" 404 "$(code "${TOK[@]}" "$L/nope/logs:watch")"
# A watch that sees a snapshot and one recorded log.
curl -sN "${TOK[@]}" -H 'Origin: https://app.example' "$L/mnist-svc/logs:watch" >"$T/sse" &
SSE=$!
PIDS+=("$SSE")
wait_log "$T/sse" '^event: snapshot' || fail "no snapshot"
echo '{"update_time":1900000000000,"result":"RUNNING","config":[{"model_id":"m","model_name":"n","model_version":"v","weight":100,"specification":"s","instance_count":1,"envs":{"A":"b"}}],"cluster_id":"c1","extend_config":["x"]}' |
  SERVICELOGS_TOKEN=tok-demo "$CLI" record --addr "127.0.0.1:$GP" --project demo-project \
    --service mnist-svc >/dev/null
wait_log "$T/sse" '^event: log' || fail "no log event"
stop_server "$SERVER_PID" || fail "server exit status not 0"
wait_log "$T/sse" '^event: error' || fail "no error event at stop"
wait_exit "$SSE" 10 >/dev/null 2>&1 || true

# ---- the checker refuses a drifted document -----------------------------
$PY - "$DOC" "$T/drift.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
# A renamed field, a header no longer documented.
d["components"]["schemas"]["RealTimeConfig"]["properties"]["model_id2"] = \
    d["components"]["schemas"]["RealTimeConfig"]["properties"].pop("model_id")
del d["components"]["headers"]["X-Request-Id"]["schema"]["pattern"]
d["components"]["headers"]["X-Request-Id"]["schema"]["maxLength"] = 5
json.dump(d, open(sys.argv[2], "w"))
PY
rc=0
$PY "$I/openapi_check.py" "$T/drift.json" "$OAPI" >"$T/drift.out" 2>&1 || rc=$?
check "a drifted document: the checker fails" 1 "$rc"
contains "drift: the renamed field" "model_id" "$(cat "$T/drift.out")"
contains "drift: the header" "header x-request-id" "$(cat "$T/drift.out")"
n=$($PY "$I/openapi_check.py" "$DOC" "$OAPI" | sed -n 's/^openapi: \([0-9]*\) answers checked$/\1/p') || true
[ "${n:-0}" -ge 30 ] && pass "$n answers checked against the document" ||
  fail "only ${n:-0} answers checked"

finish
