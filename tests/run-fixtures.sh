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

descs=()
read -ra pats <<<"${FIXTURES:-*}"
for pat in "${pats[@]}"; do descs+=("$T_FIX"/$pat.desc); done
for desc in "${descs[@]}"; do
	name=$(basename "$desc" .desc)
	dump=$T_OUT/$name.dump
	t_mkdump "$name" "$desc" "$dump" --pages "$T_OUT/$name.gen-pages" || continue
	t_case "$name"
	timeout 30 "$BUILD/tests/vmcheck" --all "$dump" >"$T_OUT/$name.out" 2>"$T_OUT/$name.err"
	rc=$?
	if [ $rc -ge 124 ]; then
		t_fail "$name" "vmcheck crashed or hung (exit $rc): $(head -3 "$T_OUT/$name.err" | tr '\n' ' ')"
		continue
	fi
	if [ -s "$T_OUT/$name.err" ]; then
		t_fail "$name" "vmcheck wrote to stderr: $(head -3 "$T_OUT/$name.err" | tr '\n' ' ')"
	fi
	case $name in
	bad-*)
		if [ $rc -eq 1 ] && grep -q 'error' "$T_OUT/$name.out"; then
			:
		elif [ $rc -eq 0 ] && grep -q '^incomplete: yes' "$T_OUT/$name.out" &&
			grep -q '^warning: .*\(truncated\|incomplete\)' "$T_OUT/$name.out"; then
			:
		else
			t_fail "$name" "hostile input not reported (vmcheck exit $rc)"
		fi ;;
	*)
		if [ $rc -ne 0 ]; then
			t_fail "$name" "vmcheck exit $rc: $(grep -m1 error "$T_OUT/$name.out")"
		fi
		grep '^pfn ' "$T_OUT/$name.out" >"$T_OUT/$name.pages"
		if ! diff -u "$T_OUT/$name.gen-pages" "$T_OUT/$name.pages" >"$T_OUT/$name.pages.diff"; then
			t_fail "$name" "pages differ from the generator's ($T_OUT/$name.pages.diff)"
		fi ;;
	esac
	t_expect "$name: output" "$T_FIX/$name.expect" "$T_OUT/$name.out"
	for json in "" --json; do
		timeout 30 "$BUILD/salvage" info $json "$dump" >"$T_OUT/$name.info$json" 2>"$T_OUT/$name.info-err"
		irc=$?
		lines=$(wc -l <"$T_OUT/$name.info-err")
		if [ $irc -ge 2 ] || { [ $irc -eq 1 ] && [ "$lines" -ne 1 ]; } || { [ $irc -eq 0 ] && [ "$lines" -ne 0 ]; }; then
			t_fail "$name" "salvage info $json: exit $irc with $lines stderr lines"
		fi
		if [ $irc -eq 0 ] && [ "$json" = --json ] &&
			! "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert all(k in d for k in ("format","compression","osrelease","arch","page_size","crash_time","cpus","phys_base","kaslr_offset","incomplete","warnings"))' "$T_OUT/$name.info--json" 2>/dev/null; then
			t_fail "$name" "salvage info --json is not valid JSON with the stable keys"
		fi
	done
	t_case_end
done
t_summary
