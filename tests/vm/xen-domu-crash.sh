#!/bin/bash
# tests/vm/xen-domu-crash.sh - crash(8) on salvage-capture's output of the
# real PV domU core that tests/vm/xen-domu-e2e.sh leaves in
# $SALVAGE_CACHE/xen-domu/ (domu1.core, kver, vmlinux = the guest's debug
# vmlinux), without booting QEMU.  Skips (t_skip_ok) when that cache or
# crash is missing.
#
# usage: xen-domu-crash.sh BUILD
#
# Checks: crash reads the raw core (the baseline: if it cannot, the fault is
# not ours); then crash's sys, log and bt of `salvage-capture -d 31` output,
# kdump-compressed and ELF (-E), show the release, the panic, the marker the
# domU printed and the panic path; salvage dmesg of the same outputs shows the
# marker.  salvage-capture writes a PV guest by machine frame with a Xen
# CRASH_INFO note naming its P2M tree, which it keeps (what crash needs of a
# PV guest's dump: docs/formats.md §4.9); tests/tools/xen-pv-machcheck.py
# checks that layout in the -E output with its own reader.
set -u
. "$(dirname "$0")/../lib.sh"
t_init xen-domu-crash "${1:-build}"
SALVAGE_CACHE=${SALVAGE_CACHE:-/var/cache/salvage}
dir=$SALVAGE_CACHE/xen-domu
core=$dir/domu1.core
vmlinux=$dir/vmlinux
marker=salvage-domu-marker	# XE_DOMU_MARKER in tests/vm/xen-lib.sh
t_need_built "$BUILD/salvage" "$BUILD/salvage-capture"
if [ ! -r "$core" ] || [ ! -r "$vmlinux" ] || [ ! -r "$dir/kver" ]; then
	t_skip_ok crash "no cached PV domU core with its vmlinux in $dir (run tests/vm/xen-domu-e2e.sh without --no-crash)"
	t_summary
fi
if ! command -v crash >/dev/null; then
	t_skip_ok crash "crash(8) is not installed"
	t_summary
fi
kver=$(cat "$dir/kver")

# crash_check DUMP OUT: crash's sys, log and bt of DUMP have the panic, the
# release, the marker and the panic path
crash_check() {
	printf 'sys\nlog\nbt\nquit\n' | t_timeout 600 crash -s "$vmlinux" "$1" >"$2" 2>&1 || return 1
	local want
	for want in 'PANIC: "Kernel panic - not syncing: sysrq triggered crash"' "RELEASE: $kver" \
		"$marker" 'COMMAND: "init"' sysrq_handle_crash; do
		grep -q -F "$want" "$2" || return 1
	done
}

if crash_check "$core" "$T_OUT/raw.crash"; then
	t_ok "crash reads the raw core"
else
	t_fail "crash reads the raw core" "not ours to fix: $(tail -n 3 "$T_OUT/raw.crash" | tr '\n' ' ')"
fi

for fmt in kdump elf; do
	out=$T_OUT/domu1.$fmt
	opt=()
	[ $fmt = elf ] && opt=(-E)
	rm -f "$out" "$out.dmesg.txt"
	if ! t_timeout 300 "$BUILD/salvage-capture" "${opt[@]}" -d 31 "$core" "$out" >"$T_OUT/$fmt.capture" 2>&1; then
		t_fail "salvage-capture -d 31 ${opt[*]}" "$(tail -n 2 "$T_OUT/$fmt.capture" | tr '\n' ' ')"
		continue
	fi
	if crash_check "$out" "$T_OUT/$fmt.crash"; then
		t_ok "crash: sys, log, bt of the -d 31 $fmt dump"
	else
		t_fail "crash: sys, log, bt of the -d 31 $fmt dump" "$(tail -n 3 "$T_OUT/$fmt.crash" | tr '\n' ' ')"
	fi
	if [ $fmt = elf ]; then
		# the layout itself, read by its own code: pages at their machine
		# frames equal to the core's, CRASH_INFO naming the frame list
		# list, the P2M tree's pages present
		if "$PY" "$T_HERE/tools/xen-pv-machcheck.py" "$out" "$core" >"$T_OUT/mach.log" 2>&1; then
			t_ok "the -d 31 ELF dump by machine frame ($(cat "$T_OUT/mach.log"))"
		else
			t_fail "the -d 31 ELF dump by machine frame" "$(tail -n 1 "$T_OUT/mach.log")"
		fi
	fi
	if t_timeout 300 "$BUILD/salvage" dmesg "$out" >"$T_OUT/$fmt.dmesg" 2>&1 &&
		grep -q -F "$marker" "$T_OUT/$fmt.dmesg"; then
		t_ok "salvage dmesg of the -d 31 $fmt dump"
	else
		t_fail "salvage dmesg of the -d 31 $fmt dump" "$(tail -n 2 "$T_OUT/$fmt.dmesg" | tr '\n' ' ')"
	fi
done
t_summary
