#!/bin/sh
# Run the fixture generator over every description (proves they all build)
# and check the flattened fixtures reassemble to their plain file.
# Usage: tests/tools/selftest.sh [OUTDIR]   (default: a temporary directory)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
out=${1:-}
if [ -z "$out" ]; then
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"
n=0
for desc in "$here"/../fixtures/*.desc; do
    name=$(basename "$desc" .desc)
    if ! timeout 60 "$py" "$here/mkdump.py" "$desc" "$out/$name.dump" \
            --pages "$out/$name.pages" --plain "$out/$name.plain" --check; then
        echo "selftest: $name: generator failed" >&2
        exit 1
    fi
    if ! grep -q '^pfn ' "$out/$name.pages"; then
        echo "selftest: $name: empty page listing" >&2
        exit 1
    fi
    n=$((n + 1))
done

echo "selftest: $n fixtures generated in $out"
