#!/usr/bin/env bash
# Page classification tests (vmc_mm_*, vmcore/mm.c).
#
#   tests/mm-test.sh BUILD_DIR
#
# For every tests/fixtures/mm-*.desc the independent generator
# (tests/tools/mkdump.py + kmm.py) writes the dump and, from what the
# description says each page is, the expected classification (--classes).
#   - the generator's classification must equal the reviewed NAME.mmexpect;
#   - BUILD_DIR/tests/mmcheck must print exactly NAME.mmexpect, whatever the
#     way the frames are asked for: one call, one frame per call, small chunks
#     with a new vmc_mm for each call, chunks from the last to the first (so
#     buddy blocks, compound pages and hugetlb pages are often entered in the
#     middle, with their head before the requested start);
#   - a description with the line "# mm-expect: error" must make mmcheck fail
#     with the one line in NAME.mmexpect, naming every key its drop= removes;
#   - a dump without VMCOREINFO (elf-qemu) and a Xen dump (kdump-xen) must be
#     refused with one clear line.
# UPDATE_EXPECT=1 rewrites the .mmexpect files of the non-error fixtures from
# the generator (review the diff before committing).
# Exit 0 = all passed.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
t_init mm "${1:-}"
MMCHECK=$BUILD/tests/mmcheck
t_need_built "$MMCHECK"

modes=("" "--chunk 1" "--chunk 7 --fresh" "--chunk 1000 --reverse"
	"--chunk 333 --fresh --reverse")

# run_mmcheck NAME OUTFILE ARGS... -> exit status of mmcheck (>=124: crash/hang)
run_mmcheck() {
	local name=$1 out=$2
	shift 2
	timeout 120 "$MMCHECK" "$@" >"$out" 2>"$out.err"
}

for desc in "$T_FIX"/mm-*.desc; do
	name=$(basename "$desc" .desc)
	dump=$T_OUT/$name.dump
	expect=$T_FIX/$name.mmexpect
	t_mkdump "$name" "$desc" "$dump" --classes "$T_OUT/$name.classes" || continue
	t_case "$name"
	if grep -q '^# mm-expect: error' "$desc"; then
		run_mmcheck "$name" "$T_OUT/$name.out" "$dump"
		rc=$?
		if [ $rc -ne 1 ]; then
			t_fail "$name" "mmcheck exit $rc, expected a refusal (exit 1)"
		elif ! diff -u "$expect" "$T_OUT/$name.out" >"$T_OUT/$name.diff"; then
			t_fail "$name" "message differs from $name.mmexpect: $(head -1 "$T_OUT/$name.out")"
		fi
		drop=$(sed -n 's/.* drop=\([^ ]*\).*/\1/p' "$desc" | head -1)
		IFS=, read -ra keys <<<"$drop"
		for k in "${keys[@]}"; do
			grep -qF "$k" "$T_OUT/$name.out" ||
				t_fail "$name" "message does not name $k"
		done
		t_case_end
		continue
	fi
	t_expect "$name: the generator's classification" "$expect" "$T_OUT/$name.classes"
	[ -f "$expect" ] || continue
	for mode in "${modes[@]}"; do
		tag=${mode// /}
		# shellcheck disable=SC2086  # $mode is a list of options
		run_mmcheck "$name" "$T_OUT/$name$tag.out" $mode "$dump"
		rc=$?
		if [ $rc -ne 0 ]; then
			t_fail "$name" "mmcheck $mode: exit $rc: $(head -1 "$T_OUT/$name$tag.out") $(head -1 "$T_OUT/$name$tag.out.err")"
			continue
		fi
		t_diff "$name: mmcheck $mode" "$expect" "$T_OUT/$name$tag.out"
	done
	t_case_end
done

# dumps that cannot be classified: one clear line
for c in "elf-qemu|page classification needs VMCOREINFO" \
	 "kdump-xen|page classification of Xen dumps"; do
	IFS='|' read -r name want <<<"$c"
	dump=$T_OUT/$name.dump
	t_mkdump "$name" "$T_FIX/$name.desc" "$dump" || continue
	run_mmcheck "$name" "$T_OUT/$name.out" "$dump"
	rc=$?
	if [ $rc -eq 1 ] && [ "$(wc -l <"$T_OUT/$name.out")" -eq 1 ] &&
		grep -q "^error: $want" "$T_OUT/$name.out"; then
		t_ok "$name"
	else
		t_fail "$name" "expected exit 1 with \"error: $want...\", got exit $rc: $(head -1 "$T_OUT/$name.out")"
	fi
done

t_summary
