#!/usr/bin/env bash
# test_docker_files.sh -- docker/ checked without a Docker engine (none runs
# here): compose.yaml parses and builds one image, tagged
# servicelogs:local, in one service that every profile starts, which all
# the other servicelogs services run without pulling; every SERVICELOGS_*
# variable in the Dockerfile and compose.yaml is one the server knows
# (--help); the one-shot imports' command runs here as compose runs it
# (import --if-empty: the second run imports nothing); the image's
# `docker run` demo (its ENV, `serve --import` of the demo path the
# Dockerfile copies to) serves mnist-svc, on 127.0.0.1 instead of
# 0.0.0.0; the Dockerfile has a HEALTHCHECK on /healthz and .dockerignore
# keeps build trees out; `haproxy -c` accepts docker/haproxy.cfg. What
# only an engine shows (the image builds, the containers start) is not
# checked (docs/operations.md).
. "$(dirname "$0")/lib.sh"

DK=$SL_SRC/docker
$PY -c 'import yaml' 2>/dev/null || skip "python3-yaml not installed"

# ---- compose.yaml: one image ----------------------------------------------
$PY - "$DK/compose.yaml" >"$T/compose.out" <<'PY' || fail "compose.yaml: $(cat "$T/compose.out")"
import sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
svc = d["services"]
ours = {n: s for n, s in svc.items() if s.get("image", "").startswith("servicelogs") or "build" in s}
builders = [n for n, s in ours.items() if "build" in s]
assert builders == ["demo-data"], f"services with build: {builders}"
b = ours["demo-data"]
assert b["image"] == "servicelogs:local", b.get("image")
assert "profiles" not in b, "the builder must run in every profile"
assert b["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}, b["build"]
for n, s in ours.items():
    assert s["image"] == "servicelogs:local", (n, s.get("image"))
    if n != "demo-data":
        assert s.get("pull_policy") == "never", (n, "pull_policy")
# Imports: --if-empty, of the path the Dockerfile copies the demo to.
for n, s in ours.items():
    c = s.get("command")
    if c and c[0] == "import":
        assert c == ["import", "--if-empty", "/usr/share/servicelogs/demo.json"], (n, c)
hc = " ".join(svc["postgres"]["healthcheck"]["test"])
assert "pg_isready -h 127.0.0.1" in hc, hc
env = set()
for s in ours.values():
    env |= set((s.get("environment") or {}).keys())
print(len(ours), " ".join(sorted(env)))
PY
read -r n_ours compose_env <"$T/compose.out" || true
check "compose.yaml: 7 servicelogs services on one image, built once" 7 "$n_ours"

# ---- every SERVICELOGS_* variable is the server's ----------------------------
help=$("$SERVER" --help 2>&1)
for v in $compose_env $(grep -o 'SERVICELOGS_[A-Z_]*' "$DK/Dockerfile" | sort -u); do
  [ "$v" = PGPASSWORD ] && continue
  contains "$v is a server variable" "[$v;" "$help"
done

# ---- the Dockerfile ------------------------------------------------------
DF=$(cat "$DK/Dockerfile")
contains "Dockerfile: HEALTHCHECK on /healthz" \
  "HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3" "$DF"
contains "Dockerfile: the demo where compose imports it" \
  "COPY --from=build /src/demo/demo.json /usr/share/servicelogs/demo.json" "$DF"
contains "Dockerfile: the README's scripts" \
  "RUN scripts/install-deps.sh && scripts/build.sh build -DSL_TESTS=OFF" "$DF"
for p in build build-'*'; do
  grep -qx "$p" "$SL_SRC/.dockerignore" && pass ".dockerignore: $p" ||
    fail ".dockerignore lacks $p"
done

# ---- compose's import and the `docker run` demo, run here -------------------
# The image's environment (ENV), with /var/lib/servicelogs in $T and the
# listeners on 127.0.0.1 port 0 (tests never bind 0.0.0.0).
eval "$(sed -n '/^ENV /,/[^\\]$/p' "$DK/Dockerfile" | sed 's/^ENV //; s/\\$//' |
  tr -s ' \n' '\n' | grep '^SERVICELOGS_' | sed 's/^/export /')"
check "Dockerfile ENV: the backend in the image's state directory" \
  sqlite:/var/lib/servicelogs/servicelogs.db "$SERVICELOGS_BACKEND"
export SERVICELOGS_BACKEND=sqlite:$T/servicelogs.db
export SERVICELOGS_GRPC_LISTEN=127.0.0.1:0 SERVICELOGS_HTTP_LISTEN=127.0.0.1:0
DEMO=$SL_SRC/demo/demo.json
"$SERVER" import --if-empty "$DEMO" >"$T/import1.log" 2>&1 &&
  pass "compose's import --if-empty: loads the demo" ||
  fail "compose's import: $(cat "$T/import1.log")"
"$SERVER" import --if-empty "$DEMO" >"$T/import2.log" 2>&1 &&
  contains "compose's import --if-empty again: nothing imported" "not imported (--if-empty)" \
    "$(cat "$T/import2.log")" ||
  fail "compose's import, again: $(cat "$T/import2.log")"
# `docker run ... -e SERVICELOGS_INSECURE=true servicelogs serve --import FILE`
SERVICELOGS_INSECURE=true start_server "$T/serve.log" --import "$DEMO"
check "the docker run demo: /healthz (the HEALTHCHECK's URL)" 200 \
  "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/healthz")"
check "the docker run demo: mnist-svc" \
  "$(cat "$SL_SRC/tests/integration/expected/mnist.json")" \
  "$(curl -s "http://127.0.0.1:$HTTP_PORT/v1/demo-project/services/mnist-svc/logs")"
stop_server "$SERVER_PID" && pass "the docker run demo: SIGTERM exits 0" ||
  fail "the docker run demo: exit status"

# ---- haproxy.cfg ------------------------------------------------------------
if command -v haproxy >/dev/null; then
  haproxy -c -f "$DK/haproxy.cfg" >"$T/haproxy.out" 2>&1 &&
    pass "haproxy -c docker/haproxy.cfg: valid" ||
    fail "haproxy -c: $(cat "$T/haproxy.out")"
else
  echo "not checked: haproxy is not installed"
fi
finish
