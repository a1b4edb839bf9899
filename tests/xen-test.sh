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
#   - fixtures with `vcpus=` (a ktask dom0 kernel): `salvage bt/ps/sys/sym
#     --dom0` must equal ktask's answers (azcheck.py), each vCPU's registers
#     taken from the right place, and `xen bt --xen-syms` must list the
#     generator's Xen functions per pCPU;
#   - fixtures with PV domUs (pv-domain): `salvage xen domains --json` must
#     give the generator's types, vCPUs and pages; `salvage xen extract` of
#     each domU must give its pages and an ELF whose `salvage dmesg` is the
#     generator's domU log, or the error a hostile domU must give;
#     `salvage-capture --domains ID` must keep exactly that domU's frames (the
#     generator's listing) and its extract the same log; a looping
#     domain_list must be named in one line;
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
		# no memory behind the notes: dom0 fails in one line saying what is
		# missing; xen bt does too, or prints the RIPs and why no stack
		for cmd in "bt --dom0" "ps --dom0" "xen bt"; do
			# shellcheck disable=SC2086  # cmd is two words
			run "$BUILD/salvage" $cmd "$o.dump" >"$o.nomem.out" 2>"$o.nomem.err"
			rc=$?
			if [ "$cmd" = "xen bt" ] && [ $rc -eq 0 ] && [ ! -s "$o.nomem.err" ] &&
				grep -q 'not in the dump\|no saved state' "$o.nomem.out"; then
				continue
			fi
			if [ $rc -ne 1 ] || [ "$(wc -l <"$o.nomem.err")" -ne 1 ]; then
				t_fail "$name" "salvage $cmd without hypervisor memory: exit $rc, $(wc -l <"$o.nomem.err") stderr lines"
			fi
		done
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
	# dom0's kernel through Xen's vCPU state: ktask's answers, exactly
	if [ -f "$o.exp.az.json" ]; then
		azc() {   # azc WHAT OUT [KEY]: azcheck.py against the generator's answers
			if "$PY" "$T_HERE/tools/azcheck.py" "$1" "$o.exp.az.json" "$2" ${3:+"$3"} >"$2.check" 2>&1; then
				t_ok "$name: $1 --dom0"
			else
				t_fail "$name: $1 --dom0 (the generator's): $(head -3 "$2.check" | tr '\n' ' ')"
			fi
		}
		for w in bt ps sys; do
			run "$BUILD/salvage" "$w" --dom0 --json "$o.dump" >"$o.$w-dom0.json" 2>"$o.$w-dom0.err"
		done
		run "$BUILD/salvage" sym --dom0 "$o.dump" >"$o.sym-dom0.out" 2>"$o.sym-dom0.err"
		azc bt "$o.bt-dom0.json" cpus
		# the capture keeps what dom0's backtraces need (Xen's stacks and vCPUs)
		if [ -f "$o.kdump" ]; then
			run "$BUILD/salvage" bt --dom0 --json "$o.kdump" >"$o.bt-dom0-out.json" 2>&1
			azc bt "$o.bt-dom0-out.json" cpus
		fi
		azc ps "$o.ps-dom0.json"
		azc sys "$o.sys-dom0.json"
		azc sym "$o.sym-dom0.out"
		# where each vCPU's registers came from is the fixture's point
		case $desc in *saved*) want="struct vcpu" ;; *) want="last guest frame on idle pCPU 0's stack" ;; esac
		if "$PY" -c 'import json,sys; t=json.load(open(sys.argv[1]))["threads"]; sys.exit(not (t[0]["regs_from"]=="guest frame on pCPU 1'"'"'s stack" and t[1]["regs_from"]==sys.argv[2]))' \
			"$o.bt-dom0.json" "$want" 2>/dev/null; then
			t_ok "$name: vCPU registers from the running, then the $want"
		else
			t_fail "$name: vCPU registers not from pCPU 1's frame and $want"
		fi
		# xen bt with the generated xen-syms: the Xen functions on each stack
		run "$BUILD/salvage" xen bt --json --xen-syms "$o.exp.syms" "$o.dump" >"$o.xenbt.json" 2>"$o.xenbt.err"
		"$PY" -c 'import json,sys
m = json.load(open(sys.argv[1]))
for c in m["pcpus"]:
    print("cpu %d: %s" % (c["cpu"], " ".join(f["function"] or "?" for f in c["frames"])))' \
			"$o.xenbt.json" >"$o.xenbt.out" 2>&1
		t_diff "$name: xen bt (the generator's)" "$o.exp.xenbt" "$o.xenbt.out" 10 && t_ok "$name: xen bt"
		# without xen-syms: Xen's own table in the image names the same
		run "$BUILD/salvage" xen bt --json "$o.dump" >"$o.xenbt-own.json" 2>"$o.xenbt-own.err"
		"$PY" -c 'import json,sys
m = json.load(open(sys.argv[1]))
assert m["symbols"] == "xen-image", m["symbols"]
for c in m["pcpus"]:
    print("cpu %d: %s" % (c["cpu"], " ".join(f["function"] or "?" for f in c["frames"])))' \
			"$o.xenbt-own.json" >"$o.xenbt-own.out" 2>&1
		t_diff "$name: xen bt with Xen's own symbols (the generator's)" "$o.exp.xenbt" "$o.xenbt-own.out" 10 &&
			t_ok "$name: xen bt, Xen's own symbols"
		# a call trace in the console ring: every address found, in order
		if grep -q 'Xen call trace' "$o.exp.ring" &&
			! "$PY" -c 'import json,sys
c = [c for c in json.load(open(sys.argv[1]))["pcpus"] if "console_trace" in c]
sys.exit(not (len(c) == 1 and c[0]["crashed"] and c[0]["console_trace"]["addresses"] > 1 and
              c[0]["console_trace"]["found_in_order"] == c[0]["console_trace"]["addresses"]))' "$o.xenbt.json"; then
			t_fail "$name: xen bt disagrees with the console ring's Xen call trace"
		fi
	fi
	# PV domUs (pv-domain lines, docs/formats.md §4.12): xen domains, xen
	# extract (dmesg of its output), salvage-capture --domains
	if [ -f "$o.exp.domains.json" ]; then
		run "$BUILD/salvage" xen domains --json "$o.dump" >"$o.domains.json" 2>"$o.domains.err"
		rc=$?
		if [ "$(cat "$o.exp.domains.json")" = null ]; then
			# a domain_list loop: one line saying so
			if [ $rc -eq 1 ] && [ "$(wc -l <"$o.domains.err")" -eq 1 ] &&
				grep -q 'domain_list loops' "$o.domains.err"; then
				t_ok "$name: xen domains: the loop named"
			else
				t_fail "$name" "xen domains on a looping domain_list: exit $rc: $(head -2 "$o.domains.err")"
			fi
		elif "$PY" -c 'import json,sys
got = {d["id"]: {k: d[k] for k in ("type", "vcpus", "pages", "pages_in_dump")} for d in json.load(open(sys.argv[1]))}
exp = {d["id"]: {k: d[k] for k in ("type", "vcpus", "pages", "pages_in_dump")} for d in json.load(open(sys.argv[2]))}
for i in sorted(set(got) | set(exp)):
    if got.get(i) != exp.get(i):
        print("domain %s: got %s, want %s" % (i, got.get(i), exp.get(i)))
        sys.exit(1)' "$o.domains.json" "$o.exp.domains.json" >"$o.domains.check" 2>&1; then
			t_ok "$name: xen domains (the generator's ids, types, vCPUs, pages)"
		else
			t_fail "$name" "xen domains: $(head -3 "$o.domains.check" "$o.domains.err" | tr '\n' ' ')"
		fi
		# --domains: a malformed list is a usage error; an id not on
		# domain_list is said, and nothing of it kept
		for bad in 0 3, a 3,,4 32752; do
			run "$BUILD/salvage-capture" --domains "$bad" "$o.dump" "$o.bad-domains" >/dev/null 2>&1
			[ $? -eq 2 ] || t_fail "$name" "salvage-capture --domains '$bad': not a usage error"
		done
		rm -f "$o.bad-domains" "$o.bad-domains.dmesg.txt" "$o.keep99" "$o.keep99.dmesg.txt"
		if [ "$(cat "$o.exp.domains.json")" != null ]; then
			run "$BUILD/salvage-capture" --domains 99 -d 31 --message-level 23 --progress=off "$o.dump" "$o.keep99" >"$o.keep99.log" 2>&1
			if [ $? -eq 0 ] && grep -q 'domain 99 is not on domain_list' "$o.keep99.log"; then
				t_ok "$name: --domains 99 (not on domain_list) said"
			else
				t_fail "$name" "salvage-capture --domains 99: $(tail -2 "$o.keep99.log" | tr '\n' ' ')"
			fi
		fi
		for ex in "$o.exp".domU*.extract.json; do
			id=${ex#"$o.exp.domU"}
			id=${id%.extract.json}
			out=$o.domU$id.elf
			rm -f "$out"
			run "$BUILD/salvage" xen extract --json --domain "$id" -o "$out" "$o.dump" \
				>"$o.domU$id.extract.out" 2>"$o.domU$id.extract.err"
			rc=$?
			want_err=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1])).get("error") or "")' "$ex")
			if [ -n "$want_err" ]; then
				if [ $rc -eq 1 ] && [ ! -e "$out" ] && [ "$(wc -l <"$o.domU$id.extract.err")" -eq 1 ] &&
					grep -qF "$want_err" "$o.domU$id.extract.err"; then
					t_ok "$name: xen extract domain $id refused: $want_err"
				else
					t_fail "$name" "xen extract domain $id: exit $rc, want one line with '$want_err': $(head -2 "$o.domU$id.extract.err" | tr '\n' ' ')"
				fi
				continue
			fi
			if [ $rc -ne 0 ] || ! "$PY" -c 'import json,sys
got, exp = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
sys.exit(not (got["pages"] == exp["pages"] and got["pages_in_dump"] == exp["pages_in_dump"] and got["vmcoreinfo"]))' \
				"$o.domU$id.extract.out" "$ex" 2>/dev/null; then
				t_fail "$name" "xen extract domain $id: exit $rc, pages not the generator's: $(head -c 300 "$o.domU$id.extract.out" "$o.domU$id.extract.err" | tr '\n' ' ')"
				continue
			fi
			# pages left out are said, once
			if "$PY" -c 'import json,sys; e=json.load(open(sys.argv[1])); sys.exit(e["pages"] == e["pages_in_dump"])' "$ex"; then
				grep -q "warning: domain $id: .* pages are not in the dump" "$o.domU$id.extract.err" ||
					t_fail "$name" "xen extract domain $id: no warning for the pages not in the dump"
			fi
			t_ok "$name: xen extract domain $id (the generator's pages)"
			check "domU$id-dmesg" "$o.exp.domU$id.dmesg" run "$BUILD/salvage" dmesg "$out"
			# salvage-capture compresses the extract like any Linux dump
			rm -f "$out.kdump" "$out.kdump.dmesg.txt"
			if run "$BUILD/salvage-capture" -d 31 --progress=off "$out" "$out.kdump" >"$out.kdump.log" 2>&1; then
				check "domU$id-dmesg-kdump" "$o.exp.domU$id.dmesg" run "$BUILD/salvage" dmesg "$out.kdump"
			else
				t_fail "$name" "salvage-capture of extracted domain $id: $(tail -1 "$out.kdump.log")"
			fi
			# a ktask kernel: bt (vCPU registers from struct vcpu), ps, sys
			if [ -f "$o.exp.domU$id.az.json" ]; then
				for w in bt ps sys; do
					key=
					[ "$w" = bt ] && key=cpus
					run "$BUILD/salvage" "$w" --json "$out" >"$o.domU$id.$w.json" 2>"$o.domU$id.$w.err"
					if "$PY" "$T_HERE/tools/azcheck.py" "$w" "$o.exp.domU$id.az.json" \
						"$o.domU$id.$w.json" ${key:+"$key"} >"$o.domU$id.$w.check" 2>&1; then
						t_ok "$name: $w of extracted domain $id (the generator's)"
					else
						t_fail "$name: $w of extracted domain $id" "$(head -3 "$o.domU$id.$w.check" | tr '\n' ' ')"
					fi
				done
			fi
			# --domains keeps exactly this domU's frames beside Xen's and dom0's
			rm -f "$o.keep$id" "$o.keep$id.dmesg.txt"
			run "$BUILD/salvage-capture" --domains "$id" -d 31 --compress=zlib --progress=off \
				"$o.dump" "$o.keep$id" >"$o.keep$id.log" 2>&1
			crc=$?
			if [ $crc -ne 0 ]; then
				t_fail "$name" "salvage-capture --domains $id exit $crc: $(tail -1 "$o.keep$id.log")"
				continue
			fi
			check "capture-domains$id" "$o.exp.capture-domains$id" run "$PY" "$T_HERE/tools/pagelist.py" "$o.keep$id"
			rm -f "$out"
			if run "$BUILD/salvage" xen extract --domain "$id" -o "$out" "$o.keep$id" >/dev/null 2>"$o.keep$id.extract.err"; then
				check "domU$id-dmesg-kept" "$o.exp.domU$id.dmesg" run "$BUILD/salvage" dmesg "$out"
			else
				t_fail "$name" "xen extract domain $id from the --domains capture: $(head -1 "$o.keep$id.extract.err")"
			fi
		done
	fi
	# the reviewed snapshot
	{
		echo "== salvage xen info"
		run "$BUILD/salvage" xen info "$o.dump" 2>&1
		echo "== salvage xen info --xen-syms (crashing cpu)"
		run "$BUILD/salvage" xen info --xen-syms "$o.exp.syms" "$o.dump" 2>&1 | grep -E '^crashing|^warning'
		echo "== salvage xen domains"
		run "$BUILD/salvage" xen domains "$o.dump" 2>&1 | sed "s|$o.dump|DUMP|"
		echo "== salvage-capture -X -d 31"
		sed -E "s|$o.kdump|OUTPUT|; s/ in [0-9.]+ s\$/ in N s/; s/, [0-9.]+ MiB/, N MiB/" "$o.capture-log"
		echo "== salvage info (output) warnings"
		run "$BUILD/salvage" info "$o.kdump" 2>&1 | sed -n '/^warnings:/,$p'
	} >"$o.snapshot"
	t_expect "$name: output" "$T_FIX/$name.xen-expect" "$o.snapshot"
	t_case_end
done
t_summary
