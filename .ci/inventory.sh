#!/usr/bin/env bash
# The authority inventory (tenant-audit): every place in the code that mints a TenantCtx or a
# SystemCtx, kept in SECURITY-INVENTORY.txt and in the README's security section so that a new
# one shows up in review.
#   bash .ci/inventory.sh           check both copies against the code (what CI runs)
#   bash .ci/inventory.sh --write   regenerate both
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

FILE=SECURITY-INVENTORY.txt
BEGIN='<!-- authority-inventory:begin -->'
END='<!-- authority-inventory:end -->'
current=$(cargo run -q -p tenant-audit -- . --exclude tests --exclude benches --exclude test-support)

# The README block: the lines between the markers, inside a ```text fence.
readme_block() {
  awk -v b="$BEGIN" -v e="$END" '$0 == e { f = 0 } f { print } $0 == b { f = 1 }' README.md |
    sed '1d;$d'
}

if [ "${1:-}" = --write ]; then
  printf '%s\n' "$current" >"$FILE"
  awk -v b="$BEGIN" -v e="$END" -v file="$FILE" '
    $0 == b { print; print "```text"; while ((getline line < file) > 0) print line; print "```"; skip = 1; next }
    $0 == e { skip = 0 }
    !skip { print }' README.md >README.md.new
  mv README.md.new README.md
  echo "wrote $FILE and the README's inventory ($(printf '%s\n' "$current" | wc -l) lines)"
  exit 0
fi

status=0
diff -u "$FILE" <(printf '%s\n' "$current") || status=1
diff -u <(readme_block) <(printf '%s\n' "$current") || status=1
if [ "$status" -ne 0 ]; then
  echo "ERROR: the authority inventory changed (diff above). Review the new or moved places" \
       "that mint authority, then run: bash .ci/inventory.sh --write" >&2
fi
exit "$status"
