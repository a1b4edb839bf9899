#!/usr/bin/env bash
# `salvage dmesg` against two independent oracles:
#
# 1. the generator: every tests/fixtures/printk-*.desc becomes a dump, and
#    tests/tools/mkdump.py --dmesg writes what must come out (kprintk.py
#    simulates the kernel's writer and formats the survivors itself):
#    default text, --raw, --caller, --json (turned back into the raw form),
#    --level 3; fixtures that must fail (NAME.error) must exit 1 with one
#    stderr line containing the expected text, after the records expected
#    before the failure;
# 2. makedumpfile --dump-dmesg (Debian's 1.7.2 at /usr/bin/makedumpfile, or
#    MAKEDUMPFILE=path): on the printk fixtures (unless the .desc says
#    "# dmesg-test: makedumpfile=no"), on the mdf-linux dumps and on what
#    makedumpfile itself writes from them (-c -d 31, -F), and on the real
#    vmcores under /var/cache/salvage (Debian 6.1 and 6.12 crashed under QEMU;
#    each dir's dmesg.mdf is makedumpfile's output saved when it was made)
#    plus a kdump-compressed copy (makedumpfile -c -d 31) of each.  Real
#    vmcores are not committed: missing ones are skipped with a notice.
#
#   tests/dmesg-test.sh BUILD      (BUILD/salvage; work files in BUILD/dmesg)
#
# Exit 0 = all passed, 1 = a failure (listed at the end).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
t_init dmesg "${1:-}"
T_VERBOSE=${T_VERBOSE-1}   # the ok lines say what matched
SALVAGE=$BUILD/salvage
REAL=${SALVAGE_VMCORES:-/var/cache/salvage}
t_need_built "$SALVAGE"
have_mdf=1
t_makedumpfile || { have_mdf=0; t_skip makedumpfile "not installed: makedumpfile comparisons skipped"; }

# run_salvage NAME ARGS... -> $T_OUT/NAME.{out,err}, status in $rc
run_salvage() {
	local name=$1
	shift
	t_run "$name" "$SALVAGE" dmesg "$@"
}

# check_json JSON RAW: the --json array holds the records of the expected
# --raw lines (text: valid UTF-8 as is, any other byte as U+0080-U+00FF)
check_json() {
	"$PY" - "$1" "$2" <<'PYEOF'
import codecs, json, re, sys
codecs.register_error("bytewise", lambda e: (chr(e.object[e.start]), e.start + 1))
got = json.load(open(sys.argv[1]))
want = []
for line in open(sys.argv[2]):
    head, text = line.rstrip("\n").split(";", 1)
    seq, level, ts, caller = head.split(",")
    raw = re.sub(rb"\\x([0-9a-f]{2})", lambda m: bytes([int(m.group(1), 16)]),
                 text.encode())
    want.append({"seq": int(seq), "ts_nsec": int(ts),
                 "level": None if level == "-" else int(level),
                 "caller": None if caller == "-" else caller,
                 "text": raw.decode("utf-8", "bytewise")})
if len(got) != len(want):
    sys.exit("%d records, expected %d" % (len(got), len(want)))
for g, w in zip(got, want):
    if set(g) != {"seq", "ts_nsec", "level", "facility", "caller", "text"}:
        sys.exit("record keys %s" % sorted(g))
    g = {k: g[k] for k in w}
    if g != w:
        sys.exit("record %r, expected %r" % (g, w))
PYEOF
}

# compare_mdf NAME DUMP: makedumpfile --dump-dmesg DUMP == salvage dmesg DUMP
compare_mdf() {
	local name=$1 dump=$2 ref=$T_OUT/$1.mdf
	rm -f "$ref"
	if ! timeout 300 "$MDF" --dump-dmesg "$dump" "$ref" >"$T_OUT/$name.mdf-log" 2>&1; then
		t_fail "$name: makedumpfile --dump-dmesg failed: $(grep -v '^$' "$T_OUT/$name.mdf-log" | tail -n 1)"
		return
	fi
	compare_ref "$name" "$dump" "$ref" "makedumpfile --dump-dmesg"
}

# compare_ref NAME DUMP REF [WHAT]: salvage dmesg DUMP == REF (makedumpfile's
# output for the same memory, e.g. for a flattened file it cannot read itself)
compare_ref() {
	local name=$1 dump=$2 ref=$3 what=${4:-$(basename "$3")}
	run_salvage "$name" "$dump"
	if [ $rc -ne 0 ]; then
		t_fail "$name: salvage dmesg exit $rc: $(head -n 1 "$T_OUT/$name.err")"
	elif ! cmp -s "$ref" "$T_OUT/$name.out"; then
		diff -u "$ref" "$T_OUT/$name.out" >"$T_OUT/$name.diff"
		t_fail "$name: differs from $what ($T_OUT/$name.diff)"
	else
		t_ok "$name: = $what ($(wc -l <"$ref") lines)"
	fi
}

# ---- 1. generated fixtures ------------------------------------------------
for desc in "$T_FIX"/printk-*.desc; do
	name=$(basename "$desc" .desc)
	dump=$T_OUT/$name.dump
	exp=$T_OUT/$name.exp
	rm -f "$exp".error "$exp".warning
	t_mkdump "$name" "$desc" "$dump" --dmesg "$exp" || continue
	run_salvage "$name" "$dump"
	nerr=$(wc -l <"$T_OUT/$name.err")
	if [ -f "$exp.error" ]; then
		want=$(cat "$exp.error")
		if [ $rc -ne 1 ] || [ "$nerr" -ne 1 ]; then
			t_fail "$name: expected exit 1 with one stderr line, got exit $rc, $nerr lines"
		elif ! grep -qF -- "$want" "$T_OUT/$name.err"; then
			t_fail "$name: error '$(cat "$T_OUT/$name.err")' lacks '$want'"
		elif ! cmp -s "$exp" "$T_OUT/$name.out"; then
			t_fail "$name: output before the error differs from $exp"
		else
			t_ok "$name: fails as expected: $(cat "$T_OUT/$name.err")"
		fi
		continue
	fi
	if [ -f "$exp.warning" ]; then
		want=$(cat "$exp.warning")
		if [ "$nerr" -ne 1 ] || ! grep -q "^salvage: .*: warning: .*$(printf %s "$want" | sed 's/[][\.*^$]/\\&/g')" "$T_OUT/$name.err"; then
			t_fail "$name: expected one warning with '$want', got: $(cat "$T_OUT/$name.err")"
			continue
		fi
		nerr=0
	fi
	if [ $rc -ne 0 ] || [ "$nerr" -ne 0 ]; then
		t_fail "$name: salvage dmesg exit $rc: $(head -n 1 "$T_OUT/$name.err")"
		continue
	fi
	if ! diff -u "$exp" "$T_OUT/$name.out" >"$T_OUT/$name.diff"; then
		t_fail "$name: text differs from the generator's ($T_OUT/$name.diff)"
		continue
	fi
	t_case "$name: = generator (text, raw, caller, json, level; $(wc -l <"$exp.raw") records)"
	run_salvage "$name.raw" --raw "$dump"
	diff -u "$exp.raw" "$T_OUT/$name.raw.out" >"$T_OUT/$name.raw.diff" ||
		t_fail "$name: --raw differs ($T_OUT/$name.raw.diff)"
	run_salvage "$name.caller" --caller "$dump"
	diff -u "$exp.caller" "$T_OUT/$name.caller.out" >"$T_OUT/$name.caller.diff" ||
		t_fail "$name: --caller differs ($T_OUT/$name.caller.diff)"
	run_salvage "$name.json" --json "$dump"
	if ! check_json "$T_OUT/$name.json.out" "$exp.raw" >"$T_OUT/$name.json.check" 2>&1; then
		t_fail "$name: --json: $(tail -n 1 "$T_OUT/$name.json.check")"
	fi
	# --level 3: records of level 0-3 and those of unknown level
	awk -F, '$2 == "-" || $2 <= 3' "$exp.raw" >"$T_OUT/$name.level3.exp"
	run_salvage "$name.level3" --raw --level 3 "$dump"
	diff -u "$T_OUT/$name.level3.exp" "$T_OUT/$name.level3.out" >"$T_OUT/$name.level3.diff" ||
		t_fail "$name: --level 3 differs ($T_OUT/$name.level3.diff)"
	t_case_end
	if grep -q '^# dmesg-test: makedumpfile=no' "$desc"; then
		t_skip_ok "$name: makedumpfile comparison $(sed -n 's/^# dmesg-test: makedumpfile=no *//p' "$desc")"
	elif [ $have_mdf = 1 ]; then
		compare_mdf "$name.vs-mdf" "$dump"
	fi
done

# ---- 2. makedumpfile on the mdf-linux dumps and its own outputs -----------
if [ $have_mdf = 1 ]; then
	for f in mdf-linux mdf-linux-sparse; do
		elf=$T_OUT/$f.elf
		t_mkdump "$f" "$T_FIX/$f.desc" "$elf" || continue
		compare_mdf "$f" "$elf"
		rm -f "$T_OUT/$f-d31.kdump"
		if timeout 120 "$MDF" -c -d 31 "$elf" "$T_OUT/$f-d31.kdump" >"$T_OUT/$f-d31.log" 2>&1; then
			compare_mdf "$f-d31.kdump" "$T_OUT/$f-d31.kdump"
		else
			t_fail "$f: makedumpfile -c -d 31 failed"
		fi
		# makedumpfile reads no flattened input: compare with its output
		# for the ELF
		if timeout 120 "$MDF" -F -l -d 1 "$elf" >"$T_OUT/$f-flat" 2>"$T_OUT/$f-flat.log"; then
			compare_ref "$f-flat" "$T_OUT/$f-flat" "$T_OUT/$f.mdf"
		else
			t_fail "$f: makedumpfile -F failed"
		fi
	done
fi

# ---- 3. real vmcores --------------------------------------------------------
for v in vmcore-default vmcore-no-la57 vmcore-smp2 vmcore-6.12; do
	dir=$REAL/$v
	if [ ! -r "$dir/vmcore" ]; then
		t_skip_ok "$v: $dir/vmcore not present (real vmcores are made by tests/vm/make-vmcore.sh, not committed)"
		continue
	fi
	start=$(date +%s.%N)
	run_salvage "$v" "$dir/vmcore"
	secs=$(echo "$(date +%s.%N) - $start" | bc)
	if [ $rc -ne 0 ]; then
		t_fail "$v: salvage dmesg exit $rc: $(head -n 1 "$T_OUT/$v.err")"
		continue
	fi
	if [ -r "$dir/dmesg.mdf" ]; then
		if cmp -s "$dir/dmesg.mdf" "$T_OUT/$v.out"; then
			t_ok "$v: = saved dmesg.mdf ($(wc -l <"$T_OUT/$v.out") lines, $(printf %.3f "$secs") s from $(($(stat -c %s "$dir/vmcore") >> 20)) MiB)"
		else
			diff -u "$dir/dmesg.mdf" "$T_OUT/$v.out" >"$T_OUT/$v.diff"
			t_fail "$v: differs from dmesg.mdf ($T_OUT/$v.diff)"
		fi
	else
		t_skip_ok "$v: no saved dmesg.mdf"
	fi
	[ $have_mdf = 1 ] || continue
	compare_mdf "$v.vs-mdf" "$dir/vmcore"
	kd=$T_OUT/$v-d31.kdump
	rm -f "$kd"
	if timeout 600 "$MDF" -c -d 31 "$dir/vmcore" "$kd" >"$T_OUT/$v-d31.log" 2>&1; then
		compare_mdf "$v-d31.kdump" "$kd"
	else
		t_fail "$v: makedumpfile -c -d 31 failed: $(grep -v '^$' "$T_OUT/$v-d31.log" | tail -n 1)"
	fi
	rm -f "$kd"
done

t_summary
