#!/usr/bin/env bash
# gen.sh -- regenerate gen/ from proto/ (protobuf-c for the server and the
# shim, nanopb for the client).
#
#   scripts/gen.sh           rewrite gen/pbc and gen/nanopb
#   scripts/gen.sh --check   exit 1 (and show the diff) when gen/ is stale
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
GA=/usr/share/gocode/src/github.com/gogo/googleapis

out=$top/gen
if [ "${1:-}" = "--check" ]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
rm -rf "$out/pbc" "$out/nanopb"
mkdir -p "$out/pbc" "$out/nanopb"

cd "$top"
# Server side: our schema plus what it needs to speak google.rpc.Status.
protoc-c -Iproto -I"$GA" -I/usr/include --c_out="$out/pbc" \
  modelarts/v1/service_logs.proto \
  google/api/annotations.proto google/api/http.proto \
  google/protobuf/descriptor.proto \
  google/rpc/status.proto google/rpc/error_details.proto \
  google/protobuf/any.proto google/protobuf/duration.proto

# Client side: nanopb must run on Debian's python3 (python3-protobuf).
np() { /usr/bin/python3 /usr/bin/nanopb_generator.py -q -Iproto -I"$GA" \
  -I/usr/include -D "$out/nanopb" "$@"; }
np -x google/api/annotations.proto -f proto/modelarts/v1/service_logs.options \
  proto/modelarts/v1/service_logs.proto
np -f proto/google/rpc/status.options \
  "$GA/google/rpc/status.proto" /usr/include/google/protobuf/any.proto
np -x google/protobuf/duration.proto -f proto/google/rpc/status.options \
  "$GA/google/rpc/error_details.proto"

if [ "${1:-}" = "--check" ]; then
  if ! diff -r "$top/gen/pbc" "$out/pbc" >/dev/null ||
     ! diff -r "$top/gen/nanopb" "$out/nanopb" >/dev/null; then
    echo "gen/ is stale against proto/: run scripts/gen.sh (or make gen)" >&2
    diff -r "$top/gen" "$out" | head -20 >&2 || true
    exit 1
  fi
fi
