# shellcheck shell=bash
# shellcheck disable=SC2034  # T_FIX, T_OUT, PY and rc are read by the sourcing scripts
# tests/lib.sh - the one harness every test script sources.
#
#   . "$(dirname "$0")/lib.sh"         (tests/*.sh; from a subfolder: ../lib.sh)
#   t_init NAME [BUILD]                one word; sets BUILD (default build), T_HERE
#                                      (tests/), T_FIX (tests/fixtures), PY
#                                      (/usr/bin/python3), T_OUT ($BUILD/NAME,
#                                      created)
#   t_ok WHAT                          one passed check
#   t_fail WHAT [WHY]                  one failed check (printed at once and again
#                                      in the summary)
#   t_skip WHAT [WHY]                  a check that could not run.  Under CI
#                                      (CI=true) a skip of a check that `make
#                                      check` promises counts as a failure: the
#                                      machine is supposed to have everything.
#   t_skip_ok WHAT [WHY]               a skip that is not a gap (a feature the
#                                      input does not have); never a failure
#   t_check WHAT CMD...                t_ok if CMD exits 0, else t_fail with the
#                                      first lines of its output
#   t_timeout SECS CMD...              CMD under timeout(1) (KILL 5 s later);
#                                      returns its status (124+: hung or killed)
#   t_summary                          prints "NAME: N passed, N failed, N skipped"
#                                      and exits 1 if anything failed, else 0.
#                                      With SALVAGE_TEST_TIDY set (make check)
#                                      a script that passed removes T_OUT (a
#                                      failed one keeps it for inspection), so
#                                      that the whole check needs about the
#                                      disk of its largest part
#
# Helpers for the common shapes of the scripts:
#   t_need_built FILE...               t_fail and t_summary (exit 1) unless every
#                                      FILE is executable ("not built")
#   t_case NAME / t_case_end           one passed check for NAME at t_case_end
#                                      when no t_fail came in between
#   t_run TAG CMD...                   CMD under a 60 s timeout (T_RUN_SECS),
#                                      stdout to $T_OUT/TAG.out, stderr to
#                                      $T_OUT/TAG.err; status in rc
#   t_mkdump NAME DESC DUMP ARGS...    the fixture generator (mkdump.py) with
#                                      its log in $T_OUT/NAME.gen-log; on
#                                      failure t_fail NAME and returns 1
#   t_diff WHAT EXPECTED GOT [LINES]   t_fail WHAT unless the files are equal;
#                                      the diff is kept in GOT.diff and its
#                                      first LINES (default 20) printed
#   t_makedumpfile                     sets MDF to $MAKEDUMPFILE, or the one on
#                                      PATH or in the sbin folders; returns 1
#                                      when there is none
#   t_need_makedumpfile                t_makedumpfile, else t_skip and t_summary
#   t_expect WHAT EXPECTED GOT         t_diff, or with UPDATE_EXPECT=1 copies
#                                      GOT to EXPECTED (a missing EXPECTED fails)
#   t_exit_summary                     for scripts that stop at the first error
#                                      (exit N, set -e): an EXIT trap that
#                                      counts a non-zero exit as a failure and
#                                      prints the closing line (T_EXIT_HOOK,
#                                      if set, runs first)
#
# Set T_VERBOSE=1 to print every passed check.  When SALVAGE_TEST_TALLY names a
# file, t_summary appends "NAME PASSED FAILED SKIPPED" to it, so that `make
# check` can print one total at the end.

t_init() {
	T_NAME=$1
	BUILD=${2:-${BUILD:-build}}
	T_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	T_FIX=$T_HERE/fixtures
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
	local msg=$1${2:+: $2}
	T_FAIL=$((T_FAIL + 1))
	T_FAILED+=("$msg")
	echo "FAIL $msg"
	return 0
}

t_skip() {
	if [ "${CI:-}" = true ]; then
		t_fail "$1" "skipped under CI, where make check promises it${2:+: $2}"
		return 0
	fi
	T_SKIP=$((T_SKIP + 1))
	echo "SKIP $1${2:+: $2}"
	return 0
}

t_skip_ok() {
	T_SKIP=$((T_SKIP + 1))
	echo "SKIP $1${2:+: $2}"
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

t_need_built() {
	local f missing=0
	for f in "$@"; do
		[ -x "$f" ] || { t_fail "$f" "not built (make all)"; missing=1; }
	done
	[ $missing = 0 ] || t_summary
}

t_case() {
	T_CASE=$1
	T_CASE_FAIL=$T_FAIL
}

t_case_end() {
	[ "$T_FAIL" = "$T_CASE_FAIL" ] && t_ok "$T_CASE"
	return 0
}

t_run() {
	local tag=$1
	shift
	t_timeout "${T_RUN_SECS:-60}" "$@" >"$T_OUT/$tag.out" 2>"$T_OUT/$tag.err"
	rc=$?
}

t_mkdump() {
	local name=$1 desc=$2 dump=$3
	shift 3
	t_timeout 120 "$PY" "$T_HERE/tools/mkdump.py" "$desc" "$dump" "$@" \
		>"$T_OUT/$name.gen-log" 2>&1 && return 0
	t_fail "$name" "generator failed: $(tail -n 1 "$T_OUT/$name.gen-log")"
	return 1
}

t_diff() {
	local what=$1 exp=$2 got=$3
	diff -u "$exp" "$got" >"$got.diff" 2>&1 && return 0
	t_fail "$what" "differs from $(basename "$exp") ($got.diff):"
	head -n "${4:-20}" "$got.diff"
	return 1
}

t_makedumpfile() {
	MDF=${MAKEDUMPFILE:-}
	[ -n "$MDF" ] || MDF=$(PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH command -v makedumpfile)
	[ -n "$MDF" ] && [ -x "$MDF" ]
}

t_need_makedumpfile() {
	t_makedumpfile && return 0
	t_skip makedumpfile "not installed (MAKEDUMPFILE=path names one)"
	t_summary
}

t_expect() {
	if [ "${UPDATE_EXPECT:-}" = 1 ]; then
		cp "$3" "$2"
	elif [ ! -f "$2" ]; then
		t_fail "$1" "no $(basename "$2") (UPDATE_EXPECT=1 writes it)"
	else
		t_diff "$1" "$2" "$3"
	fi
}

t_exit_summary() {
	trap t_on_exit EXIT
}

t_on_exit() {
	local rc=$?
	trap - EXIT
	[ -n "${T_EXIT_HOOK:-}" ] && $T_EXIT_HOOK
	[ -z "${T_SUMMARY_DONE:-}" ] || exit $rc
	[ $rc -eq 0 ] || [ "$T_FAIL" -gt 0 ] ||
		t_fail "$T_NAME" "stopped with exit status $rc (the reason is above)"
	(t_summary)
	[ $rc -ne 0 ] || [ "$T_FAIL" -eq 0 ] || rc=1
	exit $rc
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
	if [ $T_FAIL -eq 0 ] && [ -n "${SALVAGE_TEST_TIDY:-}" ]; then
		rm -rf "${T_OUT:?}"
	fi
	T_SUMMARY_DONE=1
	[ $T_FAIL -eq 0 ]
	exit $?
}
