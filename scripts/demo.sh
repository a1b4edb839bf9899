#!/usr/bin/env bash
# The demo, end to end: a Debian kernel boots under QEMU, arms our crash kernel
# and initramfs (salvage arm, salvage mkinitramfs) and panics; our agent
# (salvage-capture as init of the crash kernel) writes the dump to a disk
# image; then salvage reads what it wrote.
set -euo pipefail
BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")/.." && pwd)
OUT=$BUILD/demo
rm -rf "$OUT"
mkdir -p "$OUT"
echo "== crashing a Debian kernel under QEMU; our agent captures the dump (about a minute)"
bash "$HERE/tests/vm/e2e-disk.sh" --no-crash --out "$OUT" "$BUILD" 2>&1 |
	grep -E 'kernel |agent: |e2e-disk OK' | sed 's/^\[vm\] *//'
dir=$(find "$OUT" -name vmcore -printf '%h\n' | sort | tail -1)
[ -n "$dir" ] || { echo "demo: no dump was captured" >&2; exit 1; }
echo
echo "== the agent wrote: $dir"
ls -l "$dir"
echo
echo "== salvage info $dir/vmcore"
"$BUILD/salvage" info "$dir/vmcore"
echo
echo "== salvage dmesg $dir/vmcore | tail -12"
"$BUILD/salvage" dmesg "$dir/vmcore" | tail -12
echo
echo "== salvage triage $dir/vmcore (no debug package needed)"
"$BUILD/salvage" triage "$dir/vmcore"
