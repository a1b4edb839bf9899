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

BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
FIX=$HERE/fixtures
OUT=$BUILD/mm-test
PY=/usr/bin/python3
MMCHECK=$BUILD/tests/mmcheck
mkdir -p "$OUT"

if [ ! -x "$MMCHECK" ]; then
	echo "mm-test: $MMCHECK not built" >&2
	exit 2
fi

modes=("" "--chunk 1" "--chunk 7 --fresh" "--chunk 1000 --reverse"
	"--chunk 333 --fresh --reverse")
pass=0 fail=0
note_fail() { fail=$((fail + 1)); echo "FAIL $1: $2"; }

# run_mmcheck NAME OUTFILE ARGS... -> exit status of mmcheck (>=124: crash/hang)
run_mmcheck() {
	local name=$1 out=$2
	shift 2
	timeout 120 "$MMCHECK" "$@" >"$out" 2>"$out.err"
}

for desc in "$FIX"/mm-*.desc; do
	name=$(basename "$desc" .desc)
	dump=$OUT/$name.dump
	expect=$FIX/$name.mmexpect
	if ! timeout 120 "$PY" "$HERE/tools/mkdump.py" "$desc" "$dump" \
		--classes "$OUT/$name.classes" >"$OUT/$name.gen-log" 2>&1; then
		note_fail "$name" "generator failed: $(tail -1 "$OUT/$name.gen-log")"
		continue
	fi
	ok=1
	if grep -q '^# mm-expect: error' "$desc"; then
		run_mmcheck "$name" "$OUT/$name.out" "$dump"
		rc=$?
		if [ $rc -ne 1 ]; then
			note_fail "$name" "mmcheck exit $rc, expected a refusal (exit 1)"
			ok=0
		elif ! diff -u "$expect" "$OUT/$name.out" >"$OUT/$name.diff"; then
			note_fail "$name" "message differs from $name.mmexpect: $(head -1 "$OUT/$name.out")"
			ok=0
		fi
		drop=$(sed -n 's/.* drop=\([^ ]*\).*/\1/p' "$desc" | head -1)
		IFS=, read -ra keys <<<"$drop"
		for k in "${keys[@]}"; do
			grep -qF "$k" "$OUT/$name.out" ||
				{ note_fail "$name" "message does not name $k"; ok=0; }
		done
		[ $ok = 1 ] && pass=$((pass + 1))
		continue
	fi
	if [ "${UPDATE_EXPECT:-}" = 1 ]; then
		cp "$OUT/$name.classes" "$expect"
	elif [ ! -f "$expect" ]; then
		note_fail "$name" "no $name.mmexpect"
		continue
	elif ! diff -u "$expect" "$OUT/$name.classes" >"$OUT/$name.gen-diff"; then
		note_fail "$name" "generator's classification differs from $name.mmexpect ($OUT/$name.gen-diff)"
		ok=0
	fi
	for mode in "${modes[@]}"; do
		tag=${mode// /}
		# shellcheck disable=SC2086  # $mode is a list of options
		run_mmcheck "$name" "$OUT/$name$tag.out" $mode "$dump"
		rc=$?
		if [ $rc -ne 0 ]; then
			note_fail "$name" "mmcheck $mode: exit $rc: $(head -1 "$OUT/$name$tag.out") $(head -1 "$OUT/$name$tag.out.err")"
			ok=0
			continue
		fi
		if ! diff -u "$expect" "$OUT/$name$tag.out" >"$OUT/$name$tag.diff"; then
			note_fail "$name" "mmcheck $mode differs from $name.mmexpect:"
			head -20 "$OUT/$name$tag.diff"
			ok=0
		fi
	done
	[ $ok = 1 ] && pass=$((pass + 1))
done

# dumps that cannot be classified: one clear line
for c in "elf-qemu|page classification needs VMCOREINFO" \
	 "kdump-xen|page classification of Xen dumps"; do
	IFS='|' read -r name want <<<"$c"
	dump=$OUT/$name.dump
	if ! timeout 60 "$PY" "$HERE/tools/mkdump.py" "$FIX/$name.desc" "$dump" \
		>"$OUT/$name.gen-log" 2>&1; then
		note_fail "$name" "generator failed: $(tail -1 "$OUT/$name.gen-log")"
		continue
	fi
	run_mmcheck "$name" "$OUT/$name.out" "$dump"
	rc=$?
	if [ $rc -eq 1 ] && [ "$(wc -l <"$OUT/$name.out")" -eq 1 ] &&
		grep -q "^error: $want" "$OUT/$name.out"; then
		pass=$((pass + 1))
	else
		note_fail "$name" "expected exit 1 with \"error: $want...\", got exit $rc: $(head -1 "$OUT/$name.out")"
	fi
done

echo "mm: $pass passed, $fail failed"
[ $fail -eq 0 ]
