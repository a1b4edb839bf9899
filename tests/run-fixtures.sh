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

# a makedumpfile --split set (tests/fixtures/split/: three parts of
# kdump-zlib.desc, an empty one, and a part of another dump): read as one dump in any
# order, every page as the whole file's; a missing or foreign part refused
if [ -z "${FIXTURES:-}" ]; then
	s=$T_OUT/split
	mkdir -p "$s"
	for p in part1 part2 part3 foreign empty; do
		t_mkdump "split-$p" "$T_FIX/split/$p.desc" "$s/$p.kdump"
	done
	t_mkdump split-whole "$T_FIX/kdump-zlib.desc" "$s/whole.kdump" --pages "$s/whole.pages"
	t_case "split set"
	"$BUILD/tests/vmcheck" --pages "$s/part3.kdump" "$s/part1.kdump" "$s/part2.kdump" >"$s/set.pages" 2>&1 ||
		t_fail "split set" "vmcheck of the three parts failed: $(head -1 "$s/set.pages")"
	diff -u "$s/whole.pages" "$s/set.pages" >"$s/set.diff" ||
		t_fail "split set" "pages differ from the whole dump's ($s/set.diff)"
	"$BUILD/salvage" info "$s/part1.kdump" "$s/part2.kdump" "$s/part3.kdump" >"$s/info" 2>&1 ||
		t_fail "split set" "salvage info of the three parts failed: $(head -1 "$s/info")"
	t_case_end
	# an empty part (start = end), as makedumpfile --split writes them
	t_case "split set with an empty part"
	"$BUILD/tests/vmcheck" --pages "$s/empty.kdump" "$s/part2.kdump" "$s/part3.kdump" "$s/part1.kdump" \
		>"$s/set-empty.pages" 2>&1 ||
		t_fail "split set with an empty part" "vmcheck failed: $(head -1 "$s/set-empty.pages")"
	cmp -s "$s/whole.pages" "$s/set-empty.pages" ||
		t_fail "split set with an empty part" "pages differ from the whole dump's"
	t_case_end
	for v in "missing|a part is missing|part1 part3" "foreign|a part of another dump|part1 foreign part3" \
		"alone|one part of a split dump|part2"; do
		IFS='|' read -r tag want parts <<<"$v"
		args=()
		for p in $parts; do args+=("$s/$p.kdump"); done
		if "$BUILD/salvage" info "${args[@]}" >/dev/null 2>"$s/$tag.err"; then
			t_fail "split $tag" "salvage info accepted it"
		elif grep -q "$want" "$s/$tag.err" && [ "$(wc -l <"$s/$tag.err")" = 1 ]; then
			t_ok "split $tag: $(cat "$s/$tag.err")"
		else
			t_fail "split $tag" "refused without saying '$want': $(head -1 "$s/$tag.err")"
		fi
	done
fi
t_summary
