#!/usr/bin/env bash
# Run each libFuzzer harness for a bounded time, seeded with generated
# fixtures (tests/fixtures/*.desc through tests/tools/mkdump.py, made here
# into FUZZ_BUILD/gen: the smoke needs no other test's output) cut to the
# harness's -max_len, and the kept regression inputs of
# tests/fuzz/regress/TARGET/ when there are any, which libFuzzer replays
# first.  A crash fails the run; keep the input it names in
# tests/fuzz/regress/TARGET/ once fixed.  Under make check
# (SALVAGE_TEST_TIDY) a passing run removes its corpus and fixtures.
#   smoke.sh FUZZ_BUILD SECONDS TARGET...
set -uo pipefail
FB=$1 SECS=$2
shift 2
. "$(dirname "$0")/../lib.sh"
t_init fuzz-smoke "$FB"
HERE=$(cd "$(dirname "$0")" && pwd)
GEN=$FB/gen
MAX_LEN=1048576
mkdir -p "$FB/artifacts" "$GEN"

# gen NAME: the fixture NAME in $GEN/NAME.dump (made once); 1 if it fails
gen() {
	[ -s "$GEN/$1.dump" ] && return 0
	t_timeout 120 "$PY" "$T_HERE/tools/mkdump.py" "$T_FIX/$1.desc" "$GEN/$1.dump" \
		>"$GEN/$1.log" 2>&1 && return 0
	t_fail "seed $1" "generator failed: $(tail -n 1 "$GEN/$1.log")"
	return 1
}
# put DIR NAME...: each fixture's first MAX_LEN bytes (libFuzzer reads no
# more of an input) into DIR
put() {
	local dir=$1 name
	shift
	for name in "$@"; do
		gen "$name" && head -c "$MAX_LEN" "$GEN/$name.dump" >"$dir/$name.dump"
	done
}
# names PATTERN...: the fixture names the patterns match
names() {
	local p f
	for p in "$@"; do for f in "$T_FIX"/$p.desc; do basename "$f" .desc; done; done
}

seed() {
	local t=$1 dir=$FB/corpus/$1 n i f
	mkdir -p "$dir"
	case $t in
	kdump) put "$dir" $(names 'kdump-*') ;;
	elf) put "$dir" $(names 'elf-*' 'quirk-*' 'xen-*') ;;
	flat) put "$dir" $(names 'flat-*') ;;
	xcore)
		# the small Xen guest cores (the PV and HVM ones are larger than -max_len)
		put "$dir" xcore-quirk-dup xcore-quirk-vcpus bad-xcore-note bad-xcore-shdr ;;
	notes)
		# the note area of each ELF fixture (it starts at 4096), hint byte first
		for n in $(names 'elf-*' 'quirk-note*' 'xen-*'); do
			gen "$n" || continue
			{ printf '\0'; dd if="$GEN/$n.dump" bs=4096 skip=1 count=2 status=none; } >"$dir/$n.notes"
		done ;;
	config)
		# text files (hint byte 0) and command lines (1)
		{ printf '\0'; printf 'target=dir:/var/crash\nlevel=31\n# c\nhostname="a b"\n'; } >"$dir/conf.txt"
		{ printf '\1'; printf 'quiet salvage.level=1 "salvage.hostname=x y"'; } >"$dir/cmdline.txt" ;;
	capture)
		# an options byte (tests/fuzz/fuzz_capture.c), then a source dump
		i=0
		for n in $(names 'quirk-*' 'elf-*' 'kdump-z*'); do
			gen "$n" || continue
			{ printf "\\$(printf %o $((i * 37 % 256)))"; head -c $((MAX_LEN - 1)) "$GEN/$n.dump"; } >"$dir/$n.cap"
			i=$((i + 1))
		done ;;
	vmcoreinfo)
		for f in "$T_FIX"/*.expect; do
			sed -n 's/^vmcoreinfo: //p' "$f" >"$dir/$(basename "$f").txt"
		done ;;
	esac
}
shopt -s nullglob

for t in "$@"; do
	seed "$t"
	mkdir -p "$HERE/regress/$t"
	echo "fuzz $t: ${SECS}s"
	if ! "$FB/fuzz_$t" -max_total_time="$SECS" -rss_limit_mb=2048 -timeout=10 \
		-max_len="$MAX_LEN" -print_final_stats=0 \
		-artifact_prefix="$FB/artifacts/$t-" \
		"$FB/corpus/$t" "$HERE/regress/$t" >"$FB/fuzz_$t.log" 2>&1; then
		t_fail "fuzz $t" "see $FB/fuzz_$t.log; crashing input in $FB/artifacts/"
		grep -m5 -E 'ERROR|SUMMARY|Test unit written' "$FB/fuzz_$t.log"
	else
		t_ok "fuzz $t"
		grep -E '^#[0-9]+.*DONE' "$FB/fuzz_$t.log" | tail -1
	fi
done
if [ "$T_FAIL" = 0 ] && [ -n "${SALVAGE_TEST_TIDY:-}" ]; then rm -rf "${FB:?}/corpus" "$GEN"; fi
t_summary
