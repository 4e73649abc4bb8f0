#!/usr/bin/python3
"""gen-openapi.py -- api/openapi.json from the hand-written api/openapi.yaml

  gen-openapi.py           writes api/openapi.json
  gen-openapi.py --check   exits 1 when api/openapi.json is not what the
                           YAML gives (ctest check/openapi_fresh)

The JSON is what the server embeds and serves at GET /openapi.json (the
build reads the committed file, so it does not need python3-yaml; the
tests do). YAML anchors are expanded; keys keep the YAML's order; YAML
1.1 surprises (yes/no/on/off as booleans, a bare 1.0 as a number where a
string is meant) are refused rather than converted silently.
"""
import json
import os
import sys

import yaml

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SRC = os.path.join(TOP, "api", "openapi.yaml")
OUT = os.path.join(TOP, "api", "openapi.json")


def no_surprises(node, path="$"):
    """Every mapping key is a string; booleans only under keys that take
    one; numbers only under keys that take one."""
    bool_keys = {"required", "deprecated", "explode", "allowReserved",
                 "uniqueItems", "additionalProperties", "nullable",
                 "readOnly", "writeOnly", "allowEmptyValue", "result"}
    num_keys = {"minimum", "maximum", "minLength", "maxLength", "minItems",
                "maxItems", "example", "update_time", "weight",
                "instance_count"}
    if isinstance(node, dict):
        for k, v in node.items():
            if not isinstance(k, str):
                sys.exit("%s: key %r is not a string (quote it)" % (path, k))
            if isinstance(v, bool) and k not in bool_keys:
                sys.exit("%s.%s: %r read as a boolean (quote it)" % (path, k, v))
            if (isinstance(v, (int, float)) and not isinstance(v, bool)
                    and k not in num_keys):
                sys.exit("%s.%s: %r read as a number (quote it)" % (path, k, v))
            no_surprises(v, "%s.%s" % (path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            no_surprises(v, "%s[%d]" % (path, i))


def render():
    with open(SRC, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    no_surprises(doc)
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def main():
    text = render()
    if sys.argv[1:] == ["--check"]:
        try:
            with open(OUT, encoding="utf-8") as f:
                old = f.read()
        except FileNotFoundError:
            old = None
        if old != text:
            print("api/openapi.json is stale: run scripts/gen-openapi.py")
            return 1
        print("api/openapi.json is fresh")
        return 0
    if sys.argv[1:]:
        sys.exit(__doc__)
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
