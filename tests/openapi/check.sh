#!/usr/bin/env bash
# check.sh -- validates api/openapi.json with an OpenAPI 3.1 validator
# (ctest check/openapi_valid).
#
#   tests/openapi/check.sh SOURCE_DIR BUILD_DIR [FILE]
#
# FILE (default SOURCE_DIR/api/openapi.json) is the document checked:
# test_openapi.sh passes the one a server served.
# The validator is @seriousme/openapi-schema-validator (npm), pinned with
# its dependencies by tests/openapi/package-lock.json (integrity hashes)
# and installed by `npm ci` into BUILD_DIR/openapi-validator on first use
# (again when the lock changes); node_modules is never committed. It checks
# the document against the OpenAPI Initiative's published 3.1 schema
# (with the JSON Schema 2020-12 dialect), and resolves every $ref.
# A broken copy must be refused too, so this check cannot pass by
# validating nothing. Skips (77) when npm is not installed.
set -euo pipefail
src=$1
dir=$2/openapi-validator
file=${3:-$src/api/openapi.json}
command -v npm >/dev/null ||
  { echo "skipped: npm is not installed (scripts/install-deps.sh --test)"; exit 77; }
mkdir -p "$dir"
exec 9>"$dir.lock" # ctest -j: one npm ci at a time
flock 9
if ! cmp -s "$src/tests/openapi/package-lock.json" "$dir/package-lock.json" ||
  [ ! -e "$dir/node_modules/.bin/validate-api" ]; then
  cp "$src/tests/openapi/package.json" "$src/tests/openapi/package-lock.json" "$dir/"
  (cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
fi
flock -u 9
# validate FILE: prints "valid 3.1" or the validator's errors.
validate() {
  (cd "$dir" && node --input-type=module -e '
import { Validator } from "@seriousme/openapi-schema-validator";
import { readFileSync } from "node:fs";
const v = new Validator();
const r = await v.validate(JSON.parse(readFileSync(process.argv[1], "utf8")));
console.log(r.valid ? "valid " + v.version : JSON.stringify(r.errors, null, 1));
' "$1")
}

out=$(validate "$file" 2>&1) || true
echo "$out"
[ "$out" = "valid 3.1" ] || { echo "FAIL: $file is not valid OpenAPI 3.1"; exit 1; }

# Broken copies: no info; a response without its description; a $ref to
# nothing.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 - "$file" "$tmp" <<'PY'
import copy, json, sys
doc = json.load(open(sys.argv[1]))
a = copy.deepcopy(doc); del a["info"]
b = copy.deepcopy(doc); del b["paths"]["/healthz"]["get"]["responses"]["200"]["description"]
c = copy.deepcopy(doc); c["paths"]["/metrics"]["get"]["responses"]["405"]["$ref"] = "#/components/responses/Nope"
for name, d in (("a", a), ("b", b), ("c", c)):
    json.dump(d, open("%s/%s.json" % (sys.argv[2], name), "w"))
PY
for b in a b c; do
  if [ "$(validate "$tmp/$b.json" 2>&1)" = "valid 3.1" ]; then
    echo "FAIL: the validator accepts a broken copy ($b)"
    exit 1
  fi
done
echo "ok: $file is valid OpenAPI 3.1; broken copies are refused"
