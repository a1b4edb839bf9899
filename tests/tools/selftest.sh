#!/usr/bin/env bash
# Run the fixture generator over every description (proves they all build)
# and check the flattened fixtures reassemble to their plain file.
# Usage: tests/tools/selftest.sh [OUTDIR]   (default: a temporary directory)
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
t_init selftest "$(mktemp -d)"
out=${1:-}
if [ -z "$out" ]; then
    out=$T_OUT
    trap 'rm -rf "$BUILD"' EXIT
fi
mkdir -p "$out"
for desc in "$T_HERE"/fixtures/*.desc; do
    name=$(basename "$desc" .desc)
    if ! t_timeout 60 "$PY" "$T_HERE/tools/mkdump.py" "$desc" "$out/$name.dump" \
            --pages "$out/$name.pages" --plain "$out/$name.plain" --check; then
        t_fail "$name" "generator failed"
    elif ! grep -q '^pfn ' "$out/$name.pages"; then
        t_fail "$name" "empty page listing"
    else
        t_ok "$name"
    fi
done
echo "selftest: fixtures generated in $out"
t_summary
