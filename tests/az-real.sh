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
# when those are missing (crash and drgn are dependencies: a skip that CI
# counts as a failure).  With no DUMP given and no vmcore in the cache (a
# fresh CI machine) the script has nothing to read: `make check` does not
# promise it on its own (make-vmcore.sh is not part of it), so that skip is
# not a failure; what `make check` does promise is the run of
# tests/vm/e2e-analyze.sh, which names the dump it captured.
#
#   tests/az-real.sh BUILD [DUMP[:VMLINUX] ...]
#   default: every $SALVAGE_VMCORES/vmcore-*/vmcore (/var/cache/salvage),
#   with the vmlinux beside it when there is one
set -uo pipefail
. "$(dirname "$0")/lib.sh"
t_init az-real "${1:-}"
shift || true
REAL=${SALVAGE_VMCORES:-/var/cache/salvage}
t_need_built "$BUILD/salvage"
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
	t_skip_ok "real vmcores" "none under $REAL (make one with tests/vm/make-vmcore.sh)"
	t_summary
fi
for tool in crash drgn; do
	command -v $tool >/dev/null || t_skip "$tool" "not installed: its comparisons are skipped"
done
for t in "${targets[@]}"; do
	dump=${t%%:*}
	vml=
	[ "$t" != "$dump" ] && vml=${t#*:}
	echo "== $dump${vml:+ (vmlinux $vml)}"
	if "$BUILD/salvage" info --json "$dump" 2>/dev/null |
		/usr/bin/python3 -c 'import json,sys; sys.exit(0 if "xen" in json.load(sys.stdin) else 1)'; then
		t_skip_ok "$dump" "a Xen hypervisor dump: the Linux analyzer does not apply"
		continue
	fi
	[ -n "$vml" ] || t_skip_ok "$dump with a vmlinux" "none given: crash, drgn and DWARF comparisons skipped"
	work=$T_OUT/$(echo "$dump" | tr '/' '_')
	mkdir -p "$work"
	if "$PY" "$T_HERE/tools/azreal.py" --salvage "$BUILD/salvage" --work "$work" \
		${vml:+--vmlinux "$vml"} "$dump"; then
		t_ok "$dump"
	else
		t_fail "$dump" "bt, ps, sys or sym differ from the oracles (above)"
	fi
done
t_summary
