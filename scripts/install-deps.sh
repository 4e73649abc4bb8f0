#!/usr/bin/env bash
# install-deps.sh -- install every Debian 12 package the build, the demo and
# the tests need. Idempotent; run as root (or with sudo available).
#
#   scripts/install-deps.sh          build + run packages
#   scripts/install-deps.sh --test   also the test tools (cmocka, valgrind, ...)
#                                    and the fuzzing toolchain (--fuzz)
#   scripts/install-deps.sh --fuzz   also clang + libFuzzer (scripts/fuzz.sh)
#   scripts/install-deps.sh --bench  also the load tools (h2load, wrk)
#   scripts/install-deps.sh --pkg    also what scripts/deb-smoke.sh needs
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config
  libgrpc-dev protobuf-compiler
  libprotobuf-c-dev protobuf-c-compiler
  nanopb libnanopb-dev python3-protobuf
  libmicrohttpd-dev libjansson-dev libsqlite3-dev
  zlib1g-dev # the REST shim's gzip answers (server/http/http_web.c)
  libgnutls28-dev # TLS file checks; the shim's client-certificate check
  libpq-dev # the PostgreSQL backend (server/store/store_pg.c); -DSL_WITH_PG=OFF skips it
  golang-github-gogo-googleapis-dev grpc-proto
  curl ca-certificates
  help2man # the man pages, from the binaries' --help (packaging/CMakeLists.txt)
)
test_pkgs=(
  libcmocka-dev clang-format valgrind sqlite3 python3 python3-grpcio
  openssl # a throw-away CA and certificates for test_tls.sh
  groff-base # the installed man pages rendered (test_install.sh)
  python3-yaml # docker/compose.yaml read by test_docker_files.sh; api/openapi.yaml
               # -> api/openapi.json (scripts/gen-openapi.py)
  python3-prometheus-client
  python3-h2 # forged HTTP/2 frames for the abusive-client tests (issue 8)
  postgresql # a throw-away server for the postgres tests (scripts/pg-test-server.sh)
  haproxy # the fleet test's load balancer (tests/integration/test_fleet.sh)
  pgbouncer # transaction pooling in front of PostgreSQL (test_pgbouncer.sh)
  chromium chromium-driver python3-selenium # a real browser: EventSource
                                            # (test_sse_browser.sh), the
                                            # timeline page (test_ui_browser.sh)
  python3-jsonschema # REST answers checked against the OpenAPI document
                     # (tests/integration/openapi_check.py)
)
# The pinned OpenAPI validator comes from npm (tests/openapi/check.sh);
# Debian's npm, unless a Node.js install (e.g. NodeSource's, which bundles
# npm and conflicts with Debian's package) already brings one.
command -v npm >/dev/null || test_pkgs+=(npm)

# Debian 12's clang is clang-14; its libFuzzer, ASan and UBSan runtimes
# are in libclang-rt-14-dev (only recommended, via libclang-common-14-dev,
# and --no-install-recommends skips it), and llvm brings
# llvm-symbolizer, which makes sanitizer stack traces readable.
fuzz_pkgs=(
  clang libclang-rt-14-dev llvm
)

# A fresh Debian 12 root for the .deb packages (scripts/deb-smoke.sh).
pkg_pkgs=(
  mmdebstrap iproute2
)

bench_pkgs=(
  nghttp2-client wrk nginx-light sqlite3 python3
)

want=("${pkgs[@]}")
[ "${1:-}" = "--test" ] && want+=("${test_pkgs[@]}" "${fuzz_pkgs[@]}")
[ "${1:-}" = "--fuzz" ] && want+=("${fuzz_pkgs[@]}")
[ "${1:-}" = "--bench" ] && want+=("${bench_pkgs[@]}")
[ "${1:-}" = "--pkg" ] && want+=("${pkg_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
    missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
