#!/usr/bin/env bash
# Xen fixtures (tests/fixtures/xen-*.desc with an `xen` block, built by
# tests/tools/kxen.py through mkdump.py): the hypervisor's data, dom0 behind
# its P2M, and salvage-capture -X on top.  For each fixture:
#   - `salvage xen frames` must equal the generator's frame ownership (the
#     count_info encoding of that Xen version);
#   - `salvage xen p2m` must equal the generator's P2M runs (or fail when
#     CRASH_INFO has no usable P2M frame);
#   - `salvage dmesg --dom0` must equal the generator's dom0 log;
#   - `salvage xen log` must equal the generator's console ring, with the
#     generated xen-syms and without symbols (heap scan);
#   - the page listing of `salvage-capture -X -d 31` output must equal the
#     source's with the frames the generator says are dropped excluded, and
#     the output must give the same dom0 log;
#   - `salvage xen info|domains` and the capture's report, and `salvage info`
#     of the output (the fixes of the notes), must equal NAME.xen-expect.
# Xen fixtures without hypervisor memory (notes only) must give `salvage xen
# info` without crashing.  UPDATE_EXPECT=1 rewrites the .xen-expect files.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
t_init xen "${1:-}"
t_need_built "$BUILD/salvage" "$BUILD/salvage-capture"
run() { t_timeout 60 "$@"; }

for desc in "$T_FIX"/xen-*.desc "$T_FIX"/kdump-xen.desc; do
	name=$(basename "$desc" .desc)
	o=$T_OUT/$name
	if ! grep -q '^xen ' "$desc"; then
		# notes only: no hypervisor memory behind them
		t_mkdump "$name" "$desc" "$o.dump" || continue
		run "$BUILD/salvage" xen info "$o.dump" >"$o.info" 2>"$o.info-err"
		rc=$?
		if [ $rc -ge 2 ] || [ "$(wc -l <"$o.info-err")" -gt 8 ]; then
			t_fail "$name" "salvage xen info exit $rc"
		else
			t_ok "$name"
		fi
		continue
	fi
	t_mkdump "$name" "$desc" "$o.dump" --xen-expect "$o.exp" || continue
	t_case "$name"
	check() {   # check WHAT EXPECTED COMMAND...
		local what=$1 exp=$2
		shift 2
		"$@" >"$o.$what.out" 2>"$o.$what.err"
		local rc=$?
		if [ $rc -ge 124 ]; then
			t_fail "$name" "$what: crashed or hung (exit $rc)"
		else
			t_diff "$name: $what (the generator's)" "$exp" "$o.$what.out" 10
		fi
	}
	check frames "$o.exp.frames" run "$BUILD/salvage" xen frames "$o.dump"
	if [ -f "$o.exp.p2m" ]; then
		check p2m "$o.exp.p2m" run "$BUILD/salvage" xen p2m "$o.dump"
	elif run "$BUILD/salvage" xen p2m "$o.dump" >/dev/null 2>&1; then
		t_fail "$name" "salvage xen p2m should fail without a P2M frame"
	fi
	check dmesg "$o.exp.dmesg" run "$BUILD/salvage" dmesg --dom0 "$o.dump"
	check ring "$o.exp.ring" run "$BUILD/salvage" xen log "$o.dump"
	check ring-syms "$o.exp.ring" run "$BUILD/salvage" xen log --xen-syms "$o.exp.syms" "$o.dump"
	rm -f "$o.kdump" "$o.kdump.dmesg.txt"
	run "$BUILD/salvage-capture" -X -d 31 --compress=zlib --message-level 23 --progress=off \
		"$o.dump" "$o.kdump" >"$o.capture-log" 2>&1
	crc=$?
	if [ $crc -ne 0 ]; then
		t_fail "$name" "salvage-capture -X -d 31 exit $crc: $(tail -1 "$o.capture-log")"
	else
		check capture "$o.exp.capture" run "$PY" "$T_HERE/tools/pagelist.py" "$o.kdump"
		check dmesg-out "$o.exp.dmesg" run "$BUILD/salvage" dmesg --dom0 "$o.kdump"
	fi
	for j in "$o.dump" "$o.kdump"; do
		if [ -f "$j" ] && ! run "$BUILD/salvage" xen info --json "$j" |
			"$PY" -c 'import json,sys; m=json.load(sys.stdin); assert all(k in m for k in ("version","phys_start","pcpus","crashing_cpu")); assert all("rip" in c and "cr3" in c for c in m["pcpus"])' 2>/dev/null; then
			t_fail "$name" "salvage xen info --json $(basename "$j"): not JSON with version, phys_start, pcpus[rip, cr3], crashing_cpu"
		fi
	done
	# the reviewed snapshot
	{
		echo "== salvage xen info"
		run "$BUILD/salvage" xen info "$o.dump" 2>&1
		echo "== salvage xen info --xen-syms (crashing cpu)"
		run "$BUILD/salvage" xen info --xen-syms "$o.exp.syms" "$o.dump" 2>&1 | grep -E '^crashing|^warning'
		echo "== salvage xen domains"
		run "$BUILD/salvage" xen domains "$o.dump" 2>&1
		echo "== salvage-capture -X -d 31"
		sed -E "s|$o.kdump|OUTPUT|; s/ in [0-9.]+ s\$/ in N s/; s/, [0-9.]+ MiB/, N MiB/" "$o.capture-log"
		echo "== salvage info (output) warnings"
		run "$BUILD/salvage" info "$o.kdump" 2>&1 | sed -n '/^warnings:/,$p'
	} >"$o.snapshot"
	t_expect "$name: output" "$T_FIX/$name.xen-expect" "$o.snapshot"
	t_case_end
done
t_summary
