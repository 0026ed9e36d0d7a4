#!/usr/bin/env bash
# The authority inventory (tenant-audit): every place in the code that mints a TenantCtx or a
# SystemCtx, kept in SECURITY-INVENTORY.txt (its one copy; the README links to it) so that a new
# one shows up in review.
# Test code is left out: #[cfg(test)] modules (always), every package's integration tests and
# benchmarks (--skip-test-targets: the tests/ and benches/ beside a Cargo.toml), and the
# test-support crate, which only tests depend on. A directory merely called `tests` elsewhere is
# scanned.
#   bash .ci/inventory.sh           check the file against the code (what CI runs)
#   bash .ci/inventory.sh --write   regenerate it
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

FILE=SECURITY-INVENTORY.txt
current=$(cargo run -q -p tenant-audit -- . --skip-test-targets --exclude ./test-support)

if [ "${1:-}" = --write ]; then
  printf '%s\n' "$current" >"$FILE"
  echo "wrote $FILE ($(printf '%s\n' "$current" | wc -l) lines)"
  exit 0
fi

if ! diff -u "$FILE" <(printf '%s\n' "$current"); then
  echo "ERROR: the authority inventory changed (diff above). Review the new or moved places" \
       "that mint authority, then run: bash .ci/inventory.sh --write" >&2
  exit 1
fi
