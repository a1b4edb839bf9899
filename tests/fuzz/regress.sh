#!/usr/bin/env bash
# Replay every input that ever failed (tests/fuzz/regress/TARGET/, small
# files) through its libFuzzer harness, once each: a crash, an abort (a
# harness's own check, e.g. fuzz_capture's round trip) or a hang fails.
#   regress.sh [FUZZ_BUILD]        (default build/fuzz)
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
FB=${1:-build/fuzz}
t_init fuzz-regress "$(dirname "$FB")"
shopt -s nullglob
for dir in "$T_HERE"/fuzz/regress/*/; do
	t=$(basename "$dir")
	bin=$FB/fuzz_$t
	if [ ! -x "$bin" ]; then
		t_skip "regress $t" "$bin not built (make fuzz)"
		continue
	fi
	for f in "$dir"*; do
		out=$(t_timeout 60 "$bin" -timeout=10 -rss_limit_mb=2048 "$f" 2>&1)
		rc=$?
		if [ $rc -eq 0 ]; then
			t_ok "regress $t/$(basename "$f")"
		else
			t_fail "regress $t/$(basename "$f")" "exit $rc: $(printf '%s\n' "$out" |
				grep -m2 -E 'fuzz_|ERROR|SUMMARY' | tr '\n' ' ')"
		fi
	done
done
t_summary
