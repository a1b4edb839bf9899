#!/usr/bin/env bash
# The analyzer on the dump our agent captured in the QEMU end-to-end test
# (tests/vm/e2e-disk.sh --out DIR), against the reference tools:
#   - salvage dmesg equals makedumpfile --dump-dmesg line for line (on a zlib
#     copy: Debian's makedumpfile 1.7.2 cannot read the agent's zstd dump);
#   - bt, ps, sys, sym through tests/az-real.sh: bt without vmlinux vs the
#     kernel's own call trace and crash's bt, ps vs drgn, sys vs crash.
# The vmlinux is the one e2e-disk.sh fetched for its crash check.
#   tests/vm/e2e-analyze.sh BUILD OUTDIR
set -euo pipefail
BUILD=$1 OUTDIR=$2
HERE=$(cd "$(dirname "$0")/.." && pwd)
dump=$(find "$OUTDIR" -name vmcore | sort | tail -1)
[ -n "$dump" ] || { echo "e2e-analyze: no dump under $OUTDIR" >&2; exit 1; }
rel=$("$BUILD/salvage" info --json "$dump" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["osrelease"])')
vmlinux=${SALVAGE_CACHE:-/var/cache/salvage}/kernels/$rel/vmlinux
[ -f "$vmlinux" ] || { echo "e2e-analyze: no vmlinux for $rel at $vmlinux (e2e-disk.sh fetches it)" >&2; exit 1; }
work=$BUILD/e2e-analyze
rm -rf "$work"
mkdir -p "$work"
"$BUILD/salvage-capture" --progress=off --message-level 4 -c -d 31 "$dump" "$work/zlib.kdump"
makedumpfile --dump-dmesg "$work/zlib.kdump" "$work/mdf.dmesg" >/dev/null 2>&1
"$BUILD/salvage" dmesg "$dump" >"$work/salvage.dmesg"
if ! diff -q "$work/mdf.dmesg" "$work/salvage.dmesg" >/dev/null; then
	echo "e2e-analyze: FAIL salvage dmesg differs from makedumpfile --dump-dmesg:"
	diff "$work/mdf.dmesg" "$work/salvage.dmesg" | head -5
	exit 1
fi
echo "e2e-analyze: salvage dmesg = makedumpfile --dump-dmesg ($(wc -l <"$work/salvage.dmesg") lines)"
bash "$HERE/az-real.sh" "$BUILD" "$dump:$vmlinux"
