#!/usr/bin/env bash
# Run each libFuzzer harness for a bounded time, seeded with the generated
# fixtures (BUILD/fixtures, from tests/run-fixtures.sh) and the kept
# regression inputs of tests/fuzz/regress/TARGET/ when there are any (none
# are committed today; the folder is made empty), which libFuzzer replays
# first.  A crash fails the run; keep the input it names in
# tests/fuzz/regress/TARGET/ once fixed.
#   smoke.sh FUZZ_BUILD SECONDS TARGET...
set -uo pipefail
FB=$1 SECS=$2
shift 2
. "$(dirname "$0")/../lib.sh"
t_init fuzz-smoke "$FB"
HERE=$(cd "$(dirname "$0")" && pwd)
FIXOUT=$(dirname "$FB")/fixtures
mkdir -p "$FB/artifacts"

seed() {
	local t=$1 dir=$FB/corpus/$1
	mkdir -p "$dir"
	shopt -s nullglob
	case $t in
	kdump) for f in "$FIXOUT"/kdump-*.dump; do cp -f "$f" "$dir/"; done ;;
	elf) for f in "$FIXOUT"/elf-*.dump "$FIXOUT"/quirk-*.dump "$FIXOUT"/xen-*.dump; do cp -f "$f" "$dir/"; done ;;
	flat) for f in "$FIXOUT"/flat-*.dump; do cp -f "$f" "$dir/"; done ;;
	xcore)
		# the small Xen guest cores (the PV and HVM ones are larger than -max_len)
		for f in "$FIXOUT"/xcore-quirk-dup.dump "$FIXOUT"/xcore-quirk-vcpus.dump \
			"$FIXOUT"/bad-xcore-note.dump "$FIXOUT"/bad-xcore-shdr.dump; do cp -f "$f" "$dir/"; done ;;
	notes)
		# the note area of each ELF fixture (it starts at 4096), hint byte first
		for f in "$FIXOUT"/elf-*.dump "$FIXOUT"/quirk-note*.dump "$FIXOUT"/xen-*.dump; do
			{ printf '\0'; dd if="$f" bs=4096 skip=1 count=2 status=none; } >"$dir/$(basename "$f").notes"
		done ;;
	config)
		# text files (hint byte 0) and command lines (1)
		{ printf '\0'; printf 'target=dir:/var/crash\nlevel=31\n# c\nhostname="a b"\n'; } >"$dir/conf.txt"
		{ printf '\1'; printf 'quiet salvage.level=1 "salvage.hostname=x y"'; } >"$dir/cmdline.txt" ;;
	capture)
		# an options byte (tests/fuzz/fuzz_capture.c), then a source dump
		local i=0
		for f in "$FIXOUT"/quirk-*.dump "$FIXOUT"/elf-*.dump "$FIXOUT"/kdump-z*.dump; do
			{ printf "\\$(printf %o $((i * 37 % 256)))"; cat "$f"; } >"$dir/$(basename "$f").cap"
			i=$((i + 1))
		done ;;
	vmcoreinfo)
		for f in "$HERE"/../fixtures/*.expect; do
			sed -n 's/^vmcoreinfo: //p' "$f" >"$dir/$(basename "$f").txt"
		done ;;
	esac
	shopt -u nullglob
}

for t in "$@"; do
	seed "$t"
	mkdir -p "$HERE/regress/$t"
	echo "fuzz $t: ${SECS}s"
	if ! "$FB/fuzz_$t" -max_total_time="$SECS" -rss_limit_mb=2048 -timeout=10 \
		-max_len=1048576 -print_final_stats=0 \
		-artifact_prefix="$FB/artifacts/$t-" \
		"$FB/corpus/$t" "$HERE/regress/$t" >"$FB/fuzz_$t.log" 2>&1; then
		t_fail "fuzz $t" "see $FB/fuzz_$t.log; crashing input in $FB/artifacts/"
		grep -m5 -E 'ERROR|SUMMARY|Test unit written' "$FB/fuzz_$t.log"
	else
		t_ok "fuzz $t"
		grep -E '^#[0-9]+.*DONE' "$FB/fuzz_$t.log" | tail -1
	fi
done
t_summary
