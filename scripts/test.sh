#!/usr/bin/env bash
# test.sh -- the README's test command: install what is needed, then build
# and run every test twice: the normal build (build/) and an
# AddressSanitizer + UndefinedBehaviorSanitizer build (build-asan/); then
# run every fuzz target for 10 s (scripts/fuzz.sh, build-fuzz/).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scripts/install-deps.sh --test

# The postgres backend's tests (contract suite, test_postgres.sh) need a
# server: a throw-away cluster unless SL_TEST_PG_URI already names one.
if [ -z "${SL_TEST_PG_URI:-}" ]; then
  pg_dir=$(mktemp -u /tmp/sl-pg-test.XXXXXX)
  trap 'scripts/pg-test-server.sh stop "$pg_dir"' EXIT
  SL_TEST_PG_URI=$(scripts/pg-test-server.sh start "$pg_dir")
fi
export SL_TEST_PG_URI

scripts/build.sh build -DSL_TESTS=ON
ctest --test-dir build --output-on-failure

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
scripts/build.sh build-asan -DSL_TESTS=ON -DSL_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
ctest --test-dir build-asan --output-on-failure

# A short run of every libFuzzer target (clang build in build-fuzz/).
scripts/fuzz.sh 10
echo "all tests passed (normal and ASan+UBSan builds, fuzz targets)"
