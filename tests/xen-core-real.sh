#!/usr/bin/env bash
# A real kernel's memory read as a Xen guest core: the vmcore a QEMU test
# left (make test-vm: $SALVAGE_CACHE/vmcore-default/vmcore, a Debian kernel
# crashed with 5-level paging and KASLR) is rewritten as an HVM dump-core by
# tests/tools/vmcore2xcore.py (no VMCOREINFO note: the reader must find the
# kernel's in its memory), and `salvage dmesg`, `ps`, `bt` and `sys` must
# answer exactly as on the vmcore; `salvage-capture -d 31` of the core must
# hold the same pages as the capture of the vmcore.  Skipped (never failed)
# when there is no such vmcore.
#   tests/xen-core-real.sh BUILD
set -uo pipefail
. "$(dirname "$0")/lib.sh"
t_init xen-core-real "${1:-}"
t_need_built "$BUILD/salvage" "$BUILD/salvage-capture" "$BUILD/tests/vmcheck"
VM=${SALVAGE_CACHE:-/var/cache/salvage}/vmcore-default/vmcore
if [ ! -f "$VM" ]; then
	t_skip_ok "real vmcore" "none in $VM (make test-vm makes it)"
	t_summary
fi
core=$T_OUT/real.core
trap 'rm -f "$core" "$T_OUT"/real.*.kdump "$T_OUT"/vm.*.kdump' EXIT
if ! t_timeout 600 "$PY" "$T_HERE/tools/vmcore2xcore.py" "$VM" "$core" >"$T_OUT/conv.log" 2>&1; then
	t_fail "convert" "$(tail -1 "$T_OUT/conv.log")"
	t_summary
fi
t_run info "$BUILD/salvage" info "$core"
[ $rc -eq 0 ] && grep -q '^  vmcoreinfo:  memory scan' "$T_OUT/info.out" &&
	t_ok "info: xen-core, VMCOREINFO found in memory" || t_fail "info" "exit $rc"
for c in dmesg ps bt sys; do
	t_run "core.$c" "$BUILD/salvage" $c "$core"
	t_run "vm.$c" "$BUILD/salvage" $c "$VM"
	grep -v DUMPFILE "$T_OUT/core.$c.out" >"$T_OUT/core.$c.cmp"
	grep -v DUMPFILE "$T_OUT/vm.$c.out" >"$T_OUT/vm.$c.cmp"
	if [ -s "$T_OUT/vm.$c.cmp" ]; then
		t_diff "$c" "$T_OUT/vm.$c.cmp" "$T_OUT/core.$c.cmp" && t_ok "$c as on the vmcore ($(wc -l <"$T_OUT/vm.$c.cmp") lines)"
	else
		t_fail "$c" "no output on the vmcore itself"
	fi
done
for src in core vm; do
	f=$core
	[ $src = vm ] && f=$VM
	t_timeout 600 "$BUILD/salvage-capture" --message-level 0 -d 31 "$f" "$T_OUT/$src.d31.kdump" >"$T_OUT/$src.cap.log" 2>&1 ||
		t_fail "capture $src" "$(tail -1 "$T_OUT/$src.cap.log")"
	"$BUILD/tests/vmcheck" --pages "$T_OUT/$src.d31.kdump" >"$T_OUT/$src.d31.pages" 2>&1
done
t_diff "capture -d 31 pages" "$T_OUT/vm.d31.pages" "$T_OUT/core.d31.pages" && t_ok "capture -d 31 of the core = of the vmcore ($(grep -c ' data ' "$T_OUT/vm.d31.pages") pages)"
t_summary
