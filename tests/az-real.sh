#!/usr/bin/env bash
# `salvage bt/ps/sys/sym` on real vmcores (Debian kernels crashed under QEMU
# by tests/vm/make-vmcore.sh, or the dump the QEMU end-to-end test
# captured), against independent oracles (tests/tools/azreal.py):
#   - bt with no vmlinux must equal the kernel's own Call Trace in the dump's
#     log (from panic on) and appear, in order, in crash's bt with the
#     vmlinux (crash's stale extra frames are listed, and counted against the
#     '?' entries of the kernel's trace);
#   - ps must list the same tasks (pid, tgid, ppid, state, comm) as drgn's
#     for_each_task with the vmlinux; crash 8.0.2's ps is not used: on
#     Debian's 6.1 it finds only the tasks in its PID hash (2 of ~50);
#   - sys must agree with crash's sys; sym with the vmlinux's .symtab.
# Comparisons that need crash, drgn or a vmlinux are skipped, with a notice,
# when those are missing; so is everything when no vmcore exists (a fresh CI
# machine).
#
#   tests/az-real.sh BUILD [DUMP[:VMLINUX] ...]
#   default: every $SALVAGE_VMCORES/vmcore-*/vmcore (/var/cache/salvage),
#   with the vmlinux beside it when there is one
set -uo pipefail

BUILD=${1:-build}
shift || true
HERE=$(cd "$(dirname "$0")" && pwd)
REAL=${SALVAGE_VMCORES:-/var/cache/salvage}
OUT=$BUILD/az-real
mkdir -p "$OUT"
if [ ! -x "$BUILD/salvage" ]; then
	echo "az-real: $BUILD/salvage not built" >&2
	exit 1
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	for d in "$REAL"/vmcore-*/; do
		[ -f "$d/vmcore" ] || continue
		t=$d/vmcore
		[ -f "$d/vmlinux" ] && t="$t:$d/vmlinux"
		targets+=("$t")
	done
fi
if [ ${#targets[@]} -eq 0 ]; then
	echo "notice: no real vmcore under $REAL (make one with tests/vm/make-vmcore.sh): skipped"
	echo "az-real: 0 passed, 0 failed, 1 skipped"
	exit 0
fi
for tool in crash drgn; do
	command -v $tool >/dev/null || echo "notice: $tool not installed: its comparisons are skipped"
done
fail=0
for t in "${targets[@]}"; do
	dump=${t%%:*}
	vml=
	[ "$t" != "$dump" ] && vml=${t#*:}
	echo "== $dump${vml:+ (vmlinux $vml)}"
	if "$BUILD/salvage" info --json "$dump" 2>/dev/null |
		/usr/bin/python3 -c 'import json,sys; sys.exit(0 if "xen" in json.load(sys.stdin) else 1)'; then
		echo "notice: a Xen hypervisor dump: the Linux analyzer does not apply: skipped"
		continue
	fi
	[ -n "$vml" ] || echo "notice: no vmlinux for $dump: crash, drgn and DWARF comparisons skipped"
	work=$OUT/$(echo "$dump" | tr '/' '_')
	mkdir -p "$work"
	/usr/bin/python3 "$HERE/tools/azreal.py" --salvage "$BUILD/salvage" --work "$work" \
		${vml:+--vmlinux "$vml"} "$dump" || fail=1
done
exit $fail
