#!/usr/bin/env bash
# test_writers.sh -- modelarts.v1.ServiceLogWriter on real processes, SQLite,
# with Python grpcio as the deployment controller (writers_client.py):
# every auth row for PutService and RecordServiceUpdate; create, rename,
# conflict; append, replace in place and what QueryServiceLogs then says;
# validation errors naming the field; unknown and batch services; a log
# recorded over gRPC stored as the same bytes as the same log imported;
# durability across SIGTERM and a SIGKILL right after an answered write;
# the access log and the metrics name the new methods.
. "$(dirname "$0")/lib.sh"

DB=$T/w.db
"$SERVER" import --backend "sqlite:$DB" "$SL_SRC/tests/fixtures/demo.json" 2>/dev/null
TOK=$T/tokens
cat >"$TOK" <<'TOKENS'
# token          project        role
ctl-secret-1     demo-project   write
reader-secret-2  demo-project
reader-secret-3  demo-project   read
ctl-other-4      other-project  write
ctl-secret-1     canon-project
TOKENS
serve() {
  start_server "$T/w.log" --backend "sqlite:$DB" --grpc-listen=127.0.0.1:0 \
    --http-listen=127.0.0.1:0 --auth-tokens "$TOK" "$@"
  PID=$SERVER_PID
  GP=$GRPC_PORT
  HP=$HTTP_PORT
}
serve
W="$PY $I/writers_client.py"
sigkill() { # the server, at once: no drain, no clean close of the database
  { kill -KILL "$PID" && wait "$PID"; } 2>/dev/null || true
}
put() { $W 127.0.0.1:$GP put "$@"; }
record() { $W 127.0.0.1:$GP record "$@"; }
query() { $W 127.0.0.1:$GP query "$@"; }
C=ctl-secret-1
RT=1
EDGE=2
BATCH=3
CFG='{"model_id":"ranker-01","model_name":"ranker","model_version":"1.0.0"'
log_rt() { # TIME RESULT [EXTRA]
  echo "{\"update_time\":$1,\"result\":\"$2\",\"config\":[$CFG,\"weight\":100,\"instance_count\":1}]${3:-}}"
}

# ---- auth rows, both methods ----
L=$(log_rt 1733400000000 RUNNING)
for m in put record; do
  if [ $m = put ]; then args=(demo-project ranker-svc ranker $RT); else args=(demo-project mnist-svc "$L"); fi
  contains "$m, no token: UNAUTHENTICATED 0201" "UNAUTHENTICATED ModelArts.0201" "$($W 127.0.0.1:$GP $m "${args[@]}")"
  contains "$m, unknown token: UNAUTHENTICATED 0203" "UNAUTHENTICATED ModelArts.0203" "$($W 127.0.0.1:$GP $m "${args[@]}" wrong-secret)"
  contains "$m, same-length token wrong in its last byte: 0203" "UNAUTHENTICATED ModelArts.0203" "$($W 127.0.0.1:$GP $m "${args[@]}" ctl-secret-X)"
  contains "$m, another project's write token: PERMISSION_DENIED 0210" "PERMISSION_DENIED ModelArts.0210" "$($W 127.0.0.1:$GP $m "${args[@]}" ctl-other-4)"
  contains "$m, read-only token (default role): PERMISSION_DENIED 0108" "PERMISSION_DENIED ModelArts.0108 | token lacks the write role for project demo-project" "$($W 127.0.0.1:$GP $m "${args[@]}" reader-secret-2)"
  contains "$m, read-only token (read role): PERMISSION_DENIED 0108" "PERMISSION_DENIED ModelArts.0108" "$($W 127.0.0.1:$GP $m "${args[@]}" reader-secret-3)"
done
check "the read token still reads" "OK mnist 123432423:SUCCESS 1700000000000:RUNNING" "$(query demo-project mnist-svc reader-secret-2)"

# ---- PutService: create, rename, conflict ----
check "put: create" "OK created=true" "$(put demo-project ranker-svc ranker $RT $C)"
check "put: same again" "OK created=false" "$(put demo-project ranker-svc ranker $RT $C)"
check "put: rename" "OK created=false" "$(put demo-project ranker-svc 'ranker v2 ✓' $RT $C)"
check "query sees the new name, no logs" "OK ranker v2 ✓" "$(query demo-project ranker-svc $C)"
contains "put: infer_type change refused" "FAILED_PRECONDITION ModelArts.0101" "$(put demo-project ranker-svc ranker $EDGE $C)"
contains "put: bad infer_type" "INVALID_ARGUMENT ModelArts.0101 | infer_type must be REAL_TIME, EDGE or BATCH" "$(put demo-project x-svc x 9 $C)"
contains "put: empty name" "INVALID_ARGUMENT ModelArts.0101 | service_name must be 1-128 bytes of UTF-8" "$(put demo-project x-svc '' $RT $C)"
contains "put: bad id" "INVALID_ARGUMENT ModelArts.0101 | service_id must be 1-64 characters" "$(put demo-project 'x/svc' x $RT $C)"
check "put: an edge and a batch service" "OK created=true OK created=true" \
  "$(put demo-project cam-svc camera $EDGE $C) $(put demo-project nightly-svc nightly $BATCH $C)"

# ---- RecordServiceUpdate: append, replace in place, order ----
check "record: append (RUNNING)" "OK created=true" "$(record demo-project ranker-svc "$(log_rt 2000 RUNNING)" $C)"
check "record: an earlier time" "OK created=true" "$(record demo-project ranker-svc "$(log_rt 1000 SUCCESS)" $C)"
check "record: same time replaces (RUNNING -> SUCCESS)" "OK created=false" "$(record demo-project ranker-svc "$(log_rt 2000 SUCCESS)" $C)"
check "record: a later time" "OK created=true" "$(record demo-project ranker-svc "$(log_rt 3000 FAIL)" $C)"
check "QueryServiceLogs shows them in order" "OK ranker v2 ✓ 1000:SUCCESS 2000:SUCCESS 3000:FAIL" "$(query demo-project ranker-svc $C)"
check "record onto an imported service" "OK created=true" "$(record demo-project mnist-svc "$(log_rt 1800000000000 RUNNING)" $C)"
check "... after its imported logs" "OK mnist 123432423:SUCCESS 1700000000000:RUNNING 1800000000000:RUNNING" "$(query demo-project mnist-svc $C)"
EL='{"update_time":5000,"result":"SUCCESS","config":['$CFG'}],"success_num":2,"failed_num":0,"result_detail":[{"node_id":"n1","node_name":"north","operation":"deploy","result":true}]}'
check "record: an edge log" "OK created=true" "$(record demo-project cam-svc "$EL" $C)"
# REST shows the recorded log in the documented shape
curl -s -H "X-Auth-Token: $C" "http://127.0.0.1:$HP/v1/demo-project/services/ranker-svc/logs?update_time=3000" >"$T/rest"
contains "REST: the recorded log" '"update_time": 3000' "$(tr -d '\n' <"$T/rest" | sed 's/":\([0-9]\)/": \1/g')"

# ---- validation naming the field, unknown and batch services ----
contains "record: weight on an edge service" \
  "INVALID_ARGUMENT ModelArts.0101 | log.config[0].weight: only allowed for real-time services (this service is edge)" \
  "$(record demo-project cam-svc "$(log_rt 6000 SUCCESS)" $C)"
contains "record: success_num on a real-time service" \
  "INVALID_ARGUMENT ModelArts.0101 | log.success_num: only allowed for edge services (this service is real-time)" \
  "$(record demo-project ranker-svc "$(log_rt 6000 SUCCESS ',"success_num":1')" $C)"
contains "record: weight over 100" "INVALID_ARGUMENT ModelArts.0101 | log.config[1].weight: out of range (0 to 100)" \
  "$(record demo-project ranker-svc '{"update_time":6000,"result":"SUCCESS","config":['"$CFG"'},'"$CFG"',"weight":101}]}' $C)"
contains "record: no result" "INVALID_ARGUMENT ModelArts.0101 | log.result: expected SUCCESS, FAIL or RUNNING" \
  "$(record demo-project ranker-svc '{"update_time":6000,"result":0}' $C)"
contains "record: update_time 0" "INVALID_ARGUMENT ModelArts.0101 | log.update_time must be a positive number" \
  "$(record demo-project ranker-svc "$(log_rt 0 SUCCESS)" $C)"
contains "record: extend_config over 8" "INVALID_ARGUMENT ModelArts.0101 | log.extend_config: too many entries (9, at most 8)" \
  "$(record demo-project ranker-svc "$(log_rt 6000 SUCCESS ',"extend_config":["1","2","3","4","5","6","7","8","9"]')" $C)"
contains "record: negative cpu" "INVALID_ARGUMENT ModelArts.0101 | log.config[0].custom_spec.cpu: must be a finite number, not negative" \
  "$(record demo-project ranker-svc '{"update_time":6000,"result":"SUCCESS","config":['"$CFG"',"custom_spec":{"cpu":-1}}]}' $C)"
contains "record: a NUL in a string" "INVALID_ARGUMENT ModelArts.0101 | log.config[0].model_name: contains a NUL byte" \
  "$(record demo-project ranker-svc '{"update_time":6000,"result":"SUCCESS","config":[{"model_id":"m","model_name":"a\u0000b","model_version":"1"}]}' $C)"
# invalid UTF-8 in cluster_id: 08 f0 2e (update_time 6000) 10 01 (SUCCESS)
# 3a 02 c3 28 (field 7, two bytes that are not UTF-8)
contains "record: bad UTF-8" "INVALID_ARGUMENT ModelArts.0101 | log.cluster_id: not valid UTF-8" \
  "$($W 127.0.0.1:$GP record-hex demo-project ranker-svc 08f02e10013a02c328 $C)"
contains "record: unknown service" "NOT_FOUND ModelArts.3502" "$(record demo-project ghost-svc "$(log_rt 6000 SUCCESS)" $C)"
contains "record: another project's service" "NOT_FOUND ModelArts.3502" "$(record demo-project private-svc "$(log_rt 6000 SUCCESS)" $C)"
contains "record: batch service" "FAILED_PRECONDITION ModelArts.2858" "$(record demo-project nightly-svc "$(log_rt 6000 SUCCESS)" $C)"
check "nothing refused was stored" "OK ranker v2 ✓ 1000:SUCCESS 2000:SUCCESS 3000:FAIL" "$(query demo-project ranker-svc $C)"

# ---- recorded == imported, byte for byte ----
LIVE='{"update_time":7000,"result":"SUCCESS","cluster_id":"c-9","extend_config":["a=1","b"],"config":['"$CFG"',"weight":60,"instance_count":2,"envs":{"ZED":"z","ALPHA":"a","MID":""},"custom_spec":{"gpu_p4":0.5,"memory":4096,"cpu":1.25},"cluster_id":"pool"},{"model_id":"m-2","model_name":"ranker","model_version":"2.0","weight":40,"custom_spec":{}}]}'
check "record: a log with the live fields" "OK created=true" "$(record demo-project ranker-svc "$LIVE" $C)"
cat >"$T/canon.json" <<EOF
{"services":[{"project_id":"canon-project","service_id":"imported","service_name":"i","infer_type":"real-time","logs":[$LIVE]}]}
EOF
"$SERVER" import --backend "sqlite:$DB" "$T/canon.json" 2>/dev/null
rec=$($W 127.0.0.1:$GP logs-hex demo-project ranker-svc $C | tail -1)
imp=$($W 127.0.0.1:$GP logs-hex canon-project imported $C)
check "a recorded log is stored as the same log imported" "$imp" "$rec"

# ---- durability ----
stop_server "$PID" && pass "SIGTERM exits 0" || fail "SIGTERM exit status"
serve
check "after a restart: the writes are there" "OK ranker v2 ✓ 1000:SUCCESS 2000:SUCCESS 3000:FAIL 7000:SUCCESS" "$(query demo-project ranker-svc $C)"
check "record, then SIGKILL at once" "OK created=true" "$(record demo-project ranker-svc "$(log_rt 8000 RUNNING)" $C)"
sigkill
serve
check "after SIGKILL: the answered write is there" "OK ranker v2 ✓ 1000:SUCCESS 2000:SUCCESS 3000:FAIL 7000:SUCCESS 8000:RUNNING" "$(query demo-project ranker-svc $C)"
check "put, then SIGKILL at once" "OK created=true" "$(put demo-project late-svc late $RT $C)"
sigkill
serve
check "after SIGKILL: the answered put is there" "OK late" "$(query demo-project late-svc $C)"

# ---- the access log and the metrics name the methods ----
put demo-project late-svc late $RT $C >/dev/null
record demo-project late-svc "$(log_rt 9000 SUCCESS)" reader-secret-2 >/dev/null
wait_log "$T/w.log" 'ServiceLogWriter/RecordServiceUpdate' || true
contains "access log: PutService" '"method":"/modelarts.v1.ServiceLogWriter/PutService","path":null,"project_id":"demo-project","service_id":"late-svc","status":0' "$(cat "$T/w.log")"
contains "access log: RecordServiceUpdate refused" '"method":"/modelarts.v1.ServiceLogWriter/RecordServiceUpdate","path":null,"project_id":"demo-project","service_id":"late-svc","status":7,"error_code":"ModelArts.0108"' "$(cat "$T/w.log")"
metrics=$(curl -s "http://127.0.0.1:$HP/metrics")
contains "metrics: PutService OK" 'method="/modelarts.v1.ServiceLogWriter/PutService",code="OK"' "$metrics"
contains "metrics: RecordServiceUpdate PERMISSION_DENIED" 'method="/modelarts.v1.ServiceLogWriter/RecordServiceUpdate",code="PERMISSION_DENIED"' "$metrics"

stop_server "$PID" && pass "SIGTERM exits 0" || fail "SIGTERM exit status"
for s in ctl-secret-1 reader-secret-2 reader-secret-3 ctl-other-4 wrong-secret; do
  if grep -q "$s" "$T/w.log"; then fail "token $s appears in the log"; else pass "token $s not in the log"; fi
done
finish
