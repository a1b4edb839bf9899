#!/usr/bin/env bash
# Generator-based tests: every tests/fixtures/*.desc is turned into a dump by the
# independent generator (tests/tools/mkdump.py), then read by the library's
# checker (vmcheck) and `salvage info`:
#   - vmcheck's full output must equal NAME.expect;
#   - for good fixtures, vmcheck's page listing must equal the generator's own
#     listing (content CRCs computed by the generator, not by our reader);
#   - bad-* fixtures must fail with an error, or, where the damage is a cut-short
#     file, be read as far as it goes, flagged incomplete with a warning; never
#     crash or hang;
#   - `salvage info` and `salvage info --json` must exit 0, or 1 with exactly
#     one line on stderr.
# UPDATE_EXPECT=1 rewrites the .expect files (review the diff before committing).
# FIXTURES="PATTERN..." runs only the fixtures whose names match (make test's
# sanitizer part: FIXTURES='bad-* kdump-*').
set -uo pipefail
. "$(dirname "$0")/lib.sh"
t_init fixtures "${1:-}"
t_need_built "$BUILD/tests/vmcheck" "$BUILD/salvage"
FIX=$T_HERE/fixtures
OUT=$T_OUT

descs=()
for pat in ${FIXTURES:-*}; do descs+=("$FIX"/$pat.desc); done
for desc in "${descs[@]}"; do
	name=$(basename "$desc" .desc)
	dump=$OUT/$name.dump
	t_mkdump "$name" "$desc" "$dump" --pages "$OUT/$name.gen-pages" || continue
	t_case "$name"
	timeout 30 "$BUILD/tests/vmcheck" --all "$dump" >"$OUT/$name.out" 2>"$OUT/$name.err"
	rc=$?
	if [ $rc -ge 124 ]; then
		t_fail "$name" "vmcheck crashed or hung (exit $rc): $(head -3 "$OUT/$name.err" | tr '\n' ' ')"
		continue
	fi
	if [ -s "$OUT/$name.err" ]; then
		t_fail "$name" "vmcheck wrote to stderr: $(head -3 "$OUT/$name.err" | tr '\n' ' ')"
	fi
	case $name in
	bad-*)
		if [ $rc -eq 1 ] && grep -q 'error' "$OUT/$name.out"; then
			:
		elif [ $rc -eq 0 ] && grep -q '^incomplete: yes' "$OUT/$name.out" &&
			grep -q '^warning: .*\(truncated\|incomplete\)' "$OUT/$name.out"; then
			:
		else
			t_fail "$name" "hostile input not reported (vmcheck exit $rc)"
		fi ;;
	*)
		if [ $rc -ne 0 ]; then
			t_fail "$name" "vmcheck exit $rc: $(grep -m1 error "$OUT/$name.out")"
		fi
		grep '^pfn ' "$OUT/$name.out" >"$OUT/$name.pages"
		if ! diff -u "$OUT/$name.gen-pages" "$OUT/$name.pages" >"$OUT/$name.pages.diff"; then
			t_fail "$name" "pages differ from the generator's ($OUT/$name.pages.diff)"
		fi ;;
	esac
	if [ "${UPDATE_EXPECT:-}" = 1 ]; then
		cp "$OUT/$name.out" "$FIX/$name.expect"
	elif [ ! -f "$FIX/$name.expect" ]; then
		t_fail "$name" "no $name.expect"
	else
		t_diff "$name: output" "$FIX/$name.expect" "$OUT/$name.out"
	fi
	for json in "" --json; do
		timeout 30 "$BUILD/salvage" info $json "$dump" >"$OUT/$name.info$json" 2>"$OUT/$name.info-err"
		irc=$?
		lines=$(wc -l <"$OUT/$name.info-err")
		if [ $irc -ge 2 ] || { [ $irc -eq 1 ] && [ "$lines" -ne 1 ]; } || { [ $irc -eq 0 ] && [ "$lines" -ne 0 ]; }; then
			t_fail "$name" "salvage info $json: exit $irc with $lines stderr lines"
		fi
		if [ $irc -eq 0 ] && [ "$json" = --json ] &&
			! "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert all(k in d for k in ("format","compression","osrelease","arch","page_size","crash_time","cpus","phys_base","kaslr_offset","incomplete","warnings"))' "$OUT/$name.info--json" 2>/dev/null; then
			t_fail "$name" "salvage info --json is not valid JSON with the stable keys"
		fi
	done
	t_case_end
done
t_summary
