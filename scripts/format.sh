#!/usr/bin/env bash
# format.sh -- clang-format every project C file (gen/ excluded).
#   scripts/format.sh          rewrite in place
#   scripts/format.sh --check  exit 1 listing files that need formatting
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files -co --exclude-standard -- \
  'server/*.[ch]' 'common/*.[ch]' 'client/*.[ch]' 'client/**/*.[ch]' 'tests/*.[ch]' \
  'tests/**/*.[ch]' | sort -u)
[ ${#files[@]} -eq 0 ] && exit 0
if [ "${1:-}" = "--check" ]; then
  bad=0
  for f in "${files[@]}"; do
    [ -f "$f" ] || continue
    if ! clang-format --style=file "$f" | cmp -s - "$f"; then
      echo "needs clang-format: $f" >&2
      bad=1
    fi
  done
  exit $bad
fi
clang-format --style=file -i "${files[@]}"
