#!/usr/bin/env bash
# dom0's P2M with pages of its tree missing from the dump (tests/unit/
# p2mcheck.c on a tree built in memory): what can be translated is, each pfn
# that cannot fails naming the missing tree page (docs/formats.md §4.7).
#   tests/p2m-test.sh BUILD
set -uo pipefail
. "$(dirname "$0")/lib.sh"
t_init p2m "${1:-}"
t_need_built "$BUILD/tests/p2mcheck"
t_timeout 30 "$BUILD/tests/p2mcheck" >"$T_OUT/p2mcheck.out" 2>&1
rc=$?
while IFS= read -r line; do
	case $line in
	"ok   "*) t_ok "${line#ok   }" ;;
	"FAIL "*) t_fail "${line#FAIL }" ;;
	esac
done <"$T_OUT/p2mcheck.out"
[ $rc -le 1 ] || t_fail "p2mcheck" "crashed or hung (exit $rc)"
grep -q '^ok ' "$T_OUT/p2mcheck.out" || t_fail "p2mcheck" "no check ran"
t_summary
