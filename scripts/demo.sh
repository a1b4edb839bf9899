#!/usr/bin/env bash
# The demo: build a kdump-compressed dump from a text description with the
# independent fixture generator, then have salvage read it.
set -euo pipefail
BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")/.." && pwd)
OUT=$BUILD/demo
mkdir -p "$OUT"
desc=$HERE/tests/fixtures/kdump-zstd.desc
echo "== generating $OUT/kdump-zstd.dump from tests/fixtures/kdump-zstd.desc"
/usr/bin/python3 "$HERE/tests/tools/mkdump.py" "$desc" "$OUT/kdump-zstd.dump"
echo "== salvage info $OUT/kdump-zstd.dump"
"$BUILD/salvage" info "$OUT/kdump-zstd.dump"
echo
echo "== salvage info --json (same dump)"
"$BUILD/salvage" info --json "$OUT/kdump-zstd.dump"
