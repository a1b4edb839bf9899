# tests/lib.sh - the one harness every test script sources.
#
#   . "$(dirname "$0")/lib.sh"         (tests/*.sh; from a subfolder: ../lib.sh)
#   t_init NAME [BUILD]                one word; sets BUILD (default build), T_HERE
#                                      (tests/), PY (/usr/bin/python3), T_OUT
#                                      ($BUILD/NAME, created)
#   t_ok WHAT                          one passed check
#   t_fail WHAT WHY                    one failed check (printed at once and again
#                                      in the summary)
#   t_skip WHAT WHY                    a check that could not run.  Under CI
#                                      (CI=true) a skip of a check that `make
#                                      check` promises counts as a failure: the
#                                      machine is supposed to have everything.
#   t_skip_ok WHAT WHY                 a skip that is not a gap (a feature the
#                                      input does not have); never a failure
#   t_check WHAT CMD...                t_ok if CMD exits 0, else t_fail with the
#                                      first lines of its output
#   t_timeout SECS CMD...              CMD under timeout(1) (KILL 5 s later);
#                                      returns its status (124+: hung or killed)
#   t_summary                          prints "NAME: N passed, N failed, N skipped"
#                                      and exits 1 if anything failed, else 0
#
# Set T_VERBOSE=1 to print every passed check.  When SALVAGE_TEST_TALLY names a
# file, t_summary appends "NAME PASSED FAILED SKIPPED" to it, so that `make
# check` can print one total at the end.

t_init() {
	T_NAME=$1
	BUILD=${2:-${BUILD:-build}}
	T_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	PY=${PY:-/usr/bin/python3}
	T_OUT=$BUILD/$T_NAME
	mkdir -p "$T_OUT"
	T_PASS=0 T_FAIL=0 T_SKIP=0
	T_FAILED=()
}

t_ok() {
	T_PASS=$((T_PASS + 1))
	[ -n "${T_VERBOSE:-}" ] && echo "ok   $1"
	return 0
}

t_fail() {
	T_FAIL=$((T_FAIL + 1))
	T_FAILED+=("$1: $2")
	echo "FAIL $1: $2"
	return 0
}

t_skip() {
	if [ "${CI:-}" = true ]; then
		t_fail "$1" "skipped under CI, where make check promises it: $2"
		return 0
	fi
	T_SKIP=$((T_SKIP + 1))
	echo "SKIP $1: $2"
	return 0
}

t_skip_ok() {
	T_SKIP=$((T_SKIP + 1))
	echo "SKIP $1: $2"
	return 0
}

t_timeout() {
	local secs=$1
	shift
	timeout -k 5 "$secs" "$@"
}

t_check() {
	local what=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if [ $rc -eq 0 ]; then
		t_ok "$what"
	else
		t_fail "$what" "exit $rc: $(printf '%s\n' "$out" | head -3 | tr '\n' ' ')"
	fi
}

t_summary() {
	local f
	if [ $T_FAIL -gt 0 ]; then
		echo "$T_NAME: failed checks:"
		for f in "${T_FAILED[@]}"; do echo "  $f"; done
	fi
	[ -n "${SALVAGE_TEST_TALLY:-}" ] &&
		echo "$T_NAME $T_PASS $T_FAIL $T_SKIP" >>"$SALVAGE_TEST_TALLY"
	echo "$T_NAME: $T_PASS passed, $T_FAIL failed, $T_SKIP skipped"
	[ $T_FAIL -eq 0 ]
	exit $?
}
