#!/usr/bin/env bash
# Xen guest cores (`xl dump-core`, docs/formats.md §4.9) against the fixture
# generator (tests/tools/kxcore.py through mkdump.py; it shares no code with
# vmcore/xen-core*.c).  tests/run-fixtures.sh already diffs every
# xcore-*/bad-xcore-*/az-xcore-* fixture's pages and metadata and
# tests/az-test.sh checks sym/bt/ps/sys of az-xcore-pv; here:
#   - the PV core (az-xcore-pv: page tables in machine frames) and the HVM
#     one: `salvage dmesg` equals the generator's log; `salvage info` names
#     the format, guest type, vCPUs and pages (text and --json); the page
#     classification through the guest's vmemmap equals the generator's;
#   - salvage-capture of the PV core, kdump -d 0 (every page equal to the
#     core's), kdump -d 31 and ELF -E -d 31 (the excluded pages the
#     generator's classes drop at level 31; kept pages equal): each output
#     answers dmesg, ps and bt as the core does (it carries the p2m in a
#     SALVAGE_P2M note, so its page tables walk like the core's);
#   - xcore-pv-tree (its guest publishes its P2M tree): salvage-capture
#     writes it by machine frame (-d 31, kdump and ELF): a Xen CRASH_INFO
#     note naming the tree, SALVAGE_P2M of type 1, the tree's pages kept
#     although free, every page at its machine frame
#     (tests/tools/xen-pv-machcheck.py), also when the kdump output is
#     written again; the outputs read back as the core;
#   - `salvage triage` of the PV core, and `salvage archive watch --once` of a
#     directory holding it (as /var/lib/xen/dump would) indexes it;
#   - hostile cores: each quirk named in `salvage info`'s warnings, each
#     broken file refused in one stderr line naming what is wrong;
#   - an ELF core with sections but none of dump-core's, and the pre-ELF
#     dump-core magic, refused by name.
#
#   tests/xen-core-test.sh BUILD      (work files in BUILD/xen-core)
set -uo pipefail
. "$(dirname "$0")/lib.sh"
t_init xen-core "${1:-}"
t_need_built "$BUILD/salvage" "$BUILD/salvage-capture" "$BUILD/tests/vmcheck" "$BUILD/tests/mmcheck"
S=$BUILD/salvage

# ---- the PV and HVM cores -----------------------------------------------------
for name in az-xcore-pv xcore-hvm; do
	o=$T_OUT/$name
	t_mkdump "$name" "$T_FIX/$name.desc" "$o.core" --pages "$o.gen-pages" \
		--dmesg "$o.gen-dmesg" --classes "$o.gen-classes" || continue
	t_run "$name.dmesg" "$S" dmesg "$o.core"
	if [ $rc -eq 0 ]; then t_diff "$name dmesg" "$o.gen-dmesg" "$T_OUT/$name.dmesg.out" && t_ok "$name dmesg"
	else t_fail "$name dmesg" "exit $rc: $(head -1 "$T_OUT/$name.dmesg.err")"; fi
	type=PV
	[ "$name" = xcore-hvm ] && type=HVM
	t_run "$name.info" "$S" info "$o.core"
	if [ $rc -eq 0 ] && grep -q '^format: *xen-core$' "$T_OUT/$name.info.out" &&
		grep -q "^  type: *$type " "$T_OUT/$name.info.out" &&
		grep -q '^  vcpus: ' "$T_OUT/$name.info.out" && grep -q '^  vcpu 0: *rip 0x' "$T_OUT/$name.info.out"; then
		t_ok "$name info"
	else
		t_fail "$name info" "exit $rc, format/type/vcpus missing"
	fi
	t_run "$name.json" "$S" info --json "$o.core"
	if [ $rc -eq 0 ] && "$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
x = d["xen_core"]
assert d["format"] == "xen-core" and x["type"] == sys.argv[2], d
assert x["pages"] == int(sys.argv[3]) and x["vcpus"] >= 1 and x["vcpu_regs"][0]["rip"].startswith("0x")
' "$T_OUT/$name.json.out" "$type" "$(grep -c ' data ' "$o.gen-pages")"; then
		t_ok "$name info --json"
	else
		t_fail "$name info --json" "exit $rc or the xen_core object is wrong"
	fi
	if "$BUILD/tests/mmcheck" "$o.core" >"$o.classes" 2>&1; then
		t_diff "$name classes" "$o.gen-classes" "$o.classes" && t_ok "$name page classes"
	else
		t_fail "$name classes" "mmcheck: $(head -1 "$o.classes")"
	fi
done

# ---- salvage-capture of the PV core --------------------------------------------------
o=$T_OUT/az-xcore-pv
if [ -f "$o.core" ]; then
	for js in ps bt; do
		t_run "pv.core.$js" "$S" $js --json "$o.core"
	done
	for v in "d0|-d 0|kdump" "d31|-d 31|kdump" "e31|-E -d 31|elf"; do
		IFS='|' read -r tag opts kind <<<"$v"
		out=$o.$tag.$kind
		rm -f "$out" "$out.dmesg.txt"
		# shellcheck disable=SC2086  # opts are words
		if ! t_timeout 120 "$BUILD/salvage-capture" $opts "$o.core" "$out" >"$o.$tag.log" 2>&1; then
			t_fail "capture $opts" "$(tail -1 "$o.$tag.log")"
			continue
		fi
		t_case "capture $opts"
		"$BUILD/tests/vmcheck" --all "$out" >"$out.check" 2>&1 ||
			t_fail "capture $opts" "vmcheck: $(grep -m1 error "$out.check")"
		grep -q '^note .*"SALVAGE_P2M"' "$out.check" || t_fail "capture $opts" "no SALVAGE_P2M note in the output"
		grep '^pfn ' "$out.check" >"$out.pages"
		if [ "$tag" = d0 ]; then
			t_diff "capture $opts pages" "$o.gen-pages" "$out.pages"
		else
			# kept pages equal the core's; as many excluded as the classes say
			PYTHONPATH="$T_HERE/tools" "$PY" - "$o.gen-pages" "$out.pages" "$o.gen-classes" "$kind" <<'EOF' >"$out.cmp" 2>&1 ||
import sys
from capcheck import ZERO_CRC, listing  # pfn -> (state, crc)
src, dst = listing(sys.argv[1]), listing(sys.argv[2])
excl = 0
for pfn, st in dst.items():
    if st[0] == "data":
        assert src[pfn] == st, "pfn %#x: %s, the core has %s" % (pfn, st, src[pfn])
    elif st[0] == "excluded":
        excl += 1
        assert src[pfn][0] == "data"
want = [int(l.split()[-1]) for l in open(sys.argv[3]) if l.startswith("level 31:")][0]
zeros = sum(1 for s in src.values() if s == ("data", ZERO_CRC))
# kdump keeps zero pages (one shared copy); ELF output drops them
if sys.argv[4] == "elf":
    assert excl >= want and excl <= want + zeros, (excl, want, zeros)
else:
    assert excl == want, (excl, want)
print("ok", excl)
EOF
				t_fail "capture $opts" "pages: $(tail -1 "$out.cmp")"
		fi
		t_run "pv.$tag.dmesg" "$S" dmesg "$out"
		[ $rc -eq 0 ] && t_diff "capture $opts dmesg" "$o.gen-dmesg" "$T_OUT/pv.$tag.dmesg.out"
		for js in ps bt; do
			t_run "pv.$tag.$js" "$S" $js --json "$out"
			if [ $rc -ne 0 ]; then
				t_fail "capture $opts $js" "exit $rc: $(head -1 "$T_OUT/pv.$tag.$js.err")"
			elif [ "$js" = ps ]; then
				t_diff "capture $opts ps" "$T_OUT/pv.core.ps.out" "$T_OUT/pv.$tag.ps.out"
			else
				# the same frames; the dump file named in the JSON differs
				grep -v '"dumpfile"' "$T_OUT/pv.core.bt.out" >"$T_OUT/pv.core.bt.cmp"
				grep -v '"dumpfile"' "$T_OUT/pv.$tag.bt.out" >"$T_OUT/pv.$tag.bt.cmp"
				t_diff "capture $opts bt" "$T_OUT/pv.core.bt.cmp" "$T_OUT/pv.$tag.bt.cmp"
			fi
		done
		t_case_end
	done
fi

# ---- by machine frame: what crash(8) reads (docs/formats.md §4.9) -------------------
# xcore-pv-tree's guest publishes its P2M tree in pages its memory map calls
# free: -d 31 must keep them, write every page at its machine frame and name
# the tree in a CRASH_INFO note (checked on the ELF output by
# tests/tools/xen-pv-machcheck.py, which reads both files itself); both
# outputs read back as the core (dmesg, ps, bt; kept pages equal by pfn) and
# not as a Xen host's dump.
o=$T_OUT/xcore-pv-tree
if t_mkdump xcore-pv-tree "$T_FIX/xcore-pv-tree.desc" "$o.core" --pages "$o.gen-pages" --dmesg "$o.gen-dmesg"; then
	for js in ps bt; do
		t_run "tree.core.$js" "$S" $js --json "$o.core"
		grep -v '"dumpfile"' "$T_OUT/tree.core.$js.out" >"$T_OUT/tree.core.$js.cmp"
	done
	for v in "kdump|-d 31" "elf|-E -d 31"; do
		IFS='|' read -r kind opts <<<"$v"
		out=$o.$kind
		rm -f "$out" "$out.dmesg.txt"
		t_case "machine frames $kind"
		# shellcheck disable=SC2086  # opts are words
		if ! t_timeout 120 "$BUILD/salvage-capture" $opts "$o.core" "$out" >"$o.$kind.log" 2>&1; then
			t_fail "machine frames $kind" "capture: $(tail -1 "$o.$kind.log")"
			t_case_end
			continue
		fi
		"$BUILD/tests/vmcheck" --all "$out" >"$out.check" 2>&1 ||
			t_fail "machine frames $kind" "vmcheck: $(grep -m1 error "$out.check")"
		grep -q '^note .*"SALVAGE_P2M" type 0x1 ' "$out.check" ||
			t_fail "machine frames $kind" "no SALVAGE_P2M note of type 1"
		grep -q '^note .*"Xen" type 0x1000001 descsz 80 ' "$out.check" ||
			t_fail "machine frames $kind" "no 80-byte Xen CRASH_INFO note"
		! grep -q '^xen' "$out.check" || t_fail "machine frames $kind" "read as a Xen host's dump"
		# every kept page (by pfn, through the runs) equals the core's
		grep '^pfn ' "$out.check" >"$out.pages"
		PYTHONPATH="$T_HERE/tools" "$PY" - "$o.gen-pages" "$out.pages" <<'EOF' >"$out.cmp" 2>&1 ||
import sys
from capcheck import ZERO_CRC, listing  # pfn -> (state, crc)
src, dst = listing(sys.argv[1]), listing(sys.argv[2])
# the tree: 0x1480 (top), 0x1481 (mid), 0x1482-0x148d (leaves), all free
for pfn in range(0x1480, 0x148e):
    assert dst.get(pfn, ("",))[0] == "data", "tree page pfn %#x: %s" % (pfn, dst.get(pfn))
kept = 0
for pfn, st in dst.items():
    if st[0] == "data":
        assert src[pfn] == st, "pfn %#x: %s, the core has %s" % (pfn, st, src[pfn])
        kept += 1
assert any(st[0] == "excluded" for st in dst.values()), "nothing excluded at -d 31"
print("ok", kept)
EOF
			t_fail "machine frames $kind" "pages: $(tail -1 "$out.cmp")"
		if [ "$kind" = elf ]; then
			"$PY" "$T_HERE/tools/xen-pv-machcheck.py" "$out" "$o.core" >"$out.mach" 2>&1 ||
				t_fail "machine frames $kind" "$(tail -1 "$out.mach")"
		else
			# written again (-E) from the kdump output: still by machine
			# frame, the tree still kept
			rm -f "$out.again.elf" "$out.again.elf.dmesg.txt"
			if t_timeout 120 "$BUILD/salvage-capture" -E -d 31 "$out" "$out.again.elf" >"$o.again.log" 2>&1; then
				"$PY" "$T_HERE/tools/xen-pv-machcheck.py" "$out.again.elf" "$o.core" >"$out.again.mach" 2>&1 ||
					t_fail "machine frames $kind, again as ELF" "$(tail -1 "$out.again.mach")"
			else
				t_fail "machine frames $kind, again as ELF" "capture: $(tail -1 "$o.again.log")"
			fi
		fi
		t_run "tree.$kind.dmesg" "$S" dmesg "$out"
		[ $rc -eq 0 ] && t_diff "machine frames $kind dmesg" "$o.gen-dmesg" "$T_OUT/tree.$kind.dmesg.out"
		for js in ps bt; do
			t_run "tree.$kind.$js" "$S" $js --json "$out"
			grep -v '"dumpfile"' "$T_OUT/tree.$kind.$js.out" >"$T_OUT/tree.$kind.$js.cmp"
			t_diff "machine frames $kind $js" "$T_OUT/tree.core.$js.cmp" "$T_OUT/tree.$kind.$js.cmp"
		done
		t_case_end
	done
fi

# ---- triage and the archive's watcher on a directory like /var/lib/xen/dump ----
if [ -f "$o.core" ]; then
	t_run pv.triage "$S" triage "$o.core"
	[ $rc -eq 0 ] && grep -q 'signature sysrq:buggy_function/caller_with_bp/fp_function' "$T_OUT/pv.triage.out" &&
		t_ok "PV core triage" || t_fail "PV core triage" "exit $rc: $(head -1 "$T_OUT/pv.triage.err")"
	rm -rf "$T_OUT/xen-dump" "$T_OUT/archive.db"
	mkdir -p "$T_OUT/xen-dump"
	ln "$o.core" "$T_OUT/xen-dump/domu.core" 2>/dev/null || cp "$o.core" "$T_OUT/xen-dump/domu.core"
	echo "not a dump" >"$T_OUT/xen-dump/domu.log"
	t_run pv.watch "$S" archive --db "$T_OUT/archive.db" watch --once "$T_OUT/xen-dump"
	t_run pv.show "$S" archive --db "$T_OUT/archive.db" show 1
	[ $rc -eq 0 ] && grep -q '^format: *xen-core$' "$T_OUT/pv.show.out" &&
		grep -q '^panic: *Kernel panic - not syncing: sysrq triggered crash$' "$T_OUT/pv.show.out" &&
		t_ok "archive watch indexes the guest core" ||
		t_fail "archive watch" "exit $rc: $(head -1 "$T_OUT/pv.watch.err") $(head -1 "$T_OUT/pv.show.err")"
fi

# ---- hostile cores --------------------------------------------------------------------
for v in "xcore-quirk-dup|duplicate pfns in .xen_p2m" \
	"xcore-quirk-past|point past the 259 pages of .xen_pages" \
	"xcore-quirk-past|name a pfn beyond 2^40" \
	"xcore-quirk-vcpus|header says 4 vCPUs, .xen_prstatus holds 2 contexts" \
	"xcore-quirk-p2m-past-eof|section .xen_p2m: 0x1048 of 0x101000 bytes in the file: truncated" \
	"bad-xcore-pages-past-eof|.xen_pages is cut short by the end of the file" \
	"xcore-quirk-biggmfn|2 entries of .xen_p2m give a machine frame beyond 2^40"; do
	IFS='|' read -r name want <<<"$v"
	[ -f "$T_OUT/$name.core" ] || t_mkdump "$name" "$T_FIX/$name.desc" "$T_OUT/$name.core" || continue
	t_run "$name.info" "$S" info "$T_OUT/$name.core"
	if [ $rc -eq 0 ] && [ ! -s "$T_OUT/$name.info.err" ] && grep -qF -- "$want" "$T_OUT/$name.info.out"; then
		t_ok "$name: warned"
	else
		t_fail "$name" "exit $rc, warning '$want' not in salvage info"
	fi
done
# written by machine frame, the two pages without one are left out: the
# output says so and is marked incomplete (exit 3); by pfn they are there
name=xcore-quirk-biggmfn
rm -f "$T_OUT/$name.kdump" "$T_OUT/$name.kdump.dmesg.txt"
t_run "$name.capture" "$BUILD/salvage-capture" -d 0 "$T_OUT/$name.core" "$T_OUT/$name.kdump"
if [ $rc -eq 3 ] && grep -qF "2 with no machine frame" "$T_OUT/$name.capture.err" &&
	"$BUILD/tests/vmcheck" --all "$T_OUT/$name.kdump" >"$T_OUT/$name.all" 2>&1 &&
	grep -q '^incomplete: yes' "$T_OUT/$name.all" && [ "$(grep -c '^pfn .* data ' "$T_OUT/$name.all")" = 64 ] &&
	"$BUILD/tests/vmcheck" --pages "$T_OUT/$name.core" 2>/dev/null | grep -q '^pfn 0x41 data'; then
	t_ok "$name capture: 2 pages without a machine frame left out, marked incomplete"
else
	t_fail "$name capture" "exit $rc: $(head -2 "$T_OUT/$name.capture.err" | tr '\n' ' ')"
fi
for v in "bad-xcore-truncated|section name table (0x48 bytes at 0x104000) beyond end of file" \
	"bad-xcore-note|runs past the section" "bad-xcore-shdr|section headers at 0x7ffffffffff0 beyond end of file"; do
	IFS='|' read -r name want <<<"$v"
	t_mkdump "$name" "$T_FIX/$name.desc" "$T_OUT/$name.core" || continue
	for cmd in info dmesg "ps" ; do
		# shellcheck disable=SC2086
		t_run "$name.$cmd" "$S" $cmd "$T_OUT/$name.core"
		if [ $rc -eq 1 ] && [ "$(wc -l <"$T_OUT/$name.$cmd.err")" -eq 1 ] &&
			grep -qF -- "$want" "$T_OUT/$name.$cmd.err"; then
			t_ok "$name $cmd: refused"
		else
			t_fail "$name $cmd" "exit $rc: $(head -2 "$T_OUT/$name.$cmd.err" | tr '\n' ' ')"
		fi
	done
	t_run "$name.capture" "$BUILD/salvage-capture" -d 31 "$T_OUT/$name.core" "$T_OUT/$name.out.kdump"
	if [ $rc -ge 1 ] && [ $rc -lt 124 ] && [ ! -e "$T_OUT/$name.out.kdump" ] &&
		grep -qF -- "$want" "$T_OUT/$name.capture.err"; then
		t_ok "$name capture: refused"
	else
		t_fail "$name capture" "exit $rc: $(head -2 "$T_OUT/$name.capture.err" | tr '\n' ' ')"
	fi
done

# ---- recognition ---------------------------------------------------------------------
"$PY" - "$T_OUT/sections.elf" "$T_OUT/legacy.core" <<'EOF'
import struct, sys
# an ELF core with one section (".text") and no program headers
strtab = b"\0.shstrtab\0.text\0"
out = bytearray(64 + 3 * 64 + len(strtab))
out[0:16] = b"\x7fELF\x02\x01\x01" + bytes(9)
struct.pack_into("<HHIQQQIHHHHHH", out, 16, 4, 62, 1, 0, 0, 64, 0, 64, 56, 0, 64, 3, 1)
struct.pack_into("<IIQQQQIIQQ", out, 128, 1, 3, 0, 0, 256, len(strtab), 0, 0, 1, 0)
struct.pack_into("<IIQQQQIIQQ", out, 192, 11, 1, 0, 0, 0, 0, 0, 0, 1, 0)
out[256:] = strtab
open(sys.argv[1], "wb").write(out)
# the pre-ELF dump-core header (magic 0xF00FEBED)
open(sys.argv[2], "wb").write(struct.pack("<IIII", 0xF00FEBED, 1, 16, 4096) + bytes(4096))
EOF
t_run sections "$S" info "$T_OUT/sections.elf"
[ $rc -eq 1 ] && grep -q 'no program headers (an ELF core with sections but no Xen dump-core sections)' "$T_OUT/sections.err" &&
	t_ok "ELF core with foreign sections refused" || t_fail "ELF core with foreign sections" "exit $rc: $(head -1 "$T_OUT/sections.err")"
t_run legacy "$S" info "$T_OUT/legacy.core"
[ $rc -eq 1 ] && grep -q 'pre-ELF layout (magic 0xf00febed) is not supported' "$T_OUT/legacy.err" &&
	t_ok "pre-ELF dump-core refused" || t_fail "pre-ELF dump-core" "exit $rc: $(head -1 "$T_OUT/legacy.err")"

t_summary
