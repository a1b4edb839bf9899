#!/usr/bin/env bash
# The analyzer (`salvage sym`, `bt`, `ps`, `sys`) against the fixture
# generator: every tests/fixtures/az-*.desc becomes a dump with a small
# crashed kernel in it (tests/tools/ktask.py: kallsyms, BTF, ORC, tasks,
# stacks with exception frames, NT_PRSTATUS notes), and
# tests/tools/azexpect.py writes what each command must answer, computed by
# the generator from what it laid out.  tests/tools/azcheck.py compares:
#   - `salvage sym DUMP`: the whole symbol listing (kallsyms decoding);
#   - `salvage bt --json DUMP`: every CPU's frames (function, offset, stack
#     pointer, how found, reliable) and exception frames with registers;
#     `bt --json DUMP PID` for switched-out and stack-scanned tasks; the
#     text output names the same frames in the same order;
#   - `salvage ps --json DUMP`: every task's pid, tgid, ppid, cpu, running
#     cpu, state, command, kernel-thread flag and address;
#   - `salvage sys --json DUMP`: release, node name, CPUs, crash time,
#     uptime, HZ, load average, memory counters, task count, panic string;
#   - fixtures without BTF: `ps` and `bt PID` fail with one line naming
#     what is missing; errors for a missing or mismatching --vmlinux.
#
#   tests/az-test.sh BUILD      (BUILD/salvage; work files in BUILD/az)
#
# Exit 0 = all passed, 1 = a failure (listed at the end).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
t_init az "${1:-}"
T_VERBOSE=${T_VERBOSE-1}   # one ok line per command and fixture
SALVAGE=$BUILD/salvage
t_need_built "$SALVAGE"

# run NAME ARGS...: salvage ARGS > OUT/NAME.out, 2> OUT/NAME.err, status in rc
run() {
	local name=$1
	shift
	t_run "$name" "$SALVAGE" "$@"
}

# check NAME WHAT ARGS...: azcheck.py WHAT ARGS, reporting as NAME
check() {
	local name=$1
	shift
	if "$PY" "$T_HERE/tools/azcheck.py" "$@" >"$T_OUT/$name.check" 2>&1; then
		t_ok "$name"
	else
		t_fail "$name"
		head -15 "$T_OUT/$name.check"
	fi
}

# expect_fail NAME TEXT: exit 1 and exactly one stderr line containing TEXT
expect_fail() {
	local name=$1 text=$2
	if [ $rc -eq 1 ] && [ "$(wc -l <"$T_OUT/$name.err")" -eq 1 ] &&
		grep -qF -- "$text" "$T_OUT/$name.err"; then
		t_ok "$name"
	else
		t_fail "$name: exit $rc, stderr: $(head -2 "$T_OUT/$name.err" | tr '\n' ' ')"
	fi
}

for desc in "$T_FIX"/az-*.desc; do
	name=$(basename "$desc" .desc)
	dump=$T_OUT/$name.dump
	exp=$T_OUT/$name.expect.json
	if ! t_timeout 120 "$PY" "$T_HERE/tools/azexpect.py" "$desc" "$dump" "$exp" >"$T_OUT/$name.gen-log" 2>&1; then
		t_fail "$name: generator failed: $(tail -1 "$T_OUT/$name.gen-log")"
		continue
	fi
	run "$name.sym" sym "$dump"
	if [ $rc -eq 0 ]; then check "$name sym" sym "$exp" "$T_OUT/$name.sym.out"
	else t_fail "$name sym: exit $rc: $(head -1 "$T_OUT/$name.sym.err")"; fi

	run "$name.bt" bt --json "$dump"
	if [ $rc -eq 0 ]; then check "$name bt" bt "$exp" "$T_OUT/$name.bt.out" cpus
	else t_fail "$name bt: exit $rc: $(head -1 "$T_OUT/$name.bt.err")"; fi
	run "$name.bt-text" bt "$dump"
	if [ $rc -eq 0 ] && [ -f "$T_OUT/$name.bt.out" ]; then
		check "$name bt text" bttext "$T_OUT/$name.bt.out" "$T_OUT/$name.bt-text.out"
	else t_fail "$name bt text: exit $rc"; fi

	run "$name.sys" sys --json "$dump"
	if [ $rc -eq 0 ]; then check "$name sys" sys "$exp" "$T_OUT/$name.sys.out"
	else t_fail "$name sys: exit $rc: $(head -1 "$T_OUT/$name.sys.err")"; fi
	run "$name.sys-text" sys "$dump"
	[ $rc -eq 0 ] && t_ok "$name sys text" || t_fail "$name sys text: exit $rc"

	has_btf=$("$PY" -c 'import json,sys; print("yes" if json.load(open(sys.argv[1]))["ps"] is not None else "no")' "$exp")
	pids=$("$PY" -c 'import json,sys; print(" ".join(k[3:] for k in json.load(open(sys.argv[1]))["bt"] if k.startswith("pid")))' "$exp")
	if [ "$has_btf" = yes ]; then
		run "$name.ps" ps --json "$dump"
		if [ $rc -eq 0 ]; then check "$name ps" ps "$exp" "$T_OUT/$name.ps.out"
		else t_fail "$name ps: exit $rc: $(head -1 "$T_OUT/$name.ps.err")"; fi
		run "$name.ps-text" ps "$dump"
		[ $rc -eq 0 ] && [ "$(grep -c '^>' "$T_OUT/$name.ps-text.out")" -ge 1 ] &&
			t_ok "$name ps text" || t_fail "$name ps text: exit $rc, no running task marked"
		for pid in $pids; do
			run "$name.bt$pid" bt --json "$dump" "$pid"
			if [ $rc -eq 0 ]; then check "$name bt $pid" bt "$exp" "$T_OUT/$name.bt$pid.out" "pid$pid"
			else t_fail "$name bt $pid: exit $rc: $(head -1 "$T_OUT/$name.bt$pid.err")"; fi
		done
		run "$name.bt-nopid" bt "$dump" 99999
		expect_fail "$name.bt-nopid" "no task with PID 99999"
	else
		msg="no BTF in this dump (no __start_BTF/__stop_BTF symbols: kernel built without CONFIG_DEBUG_INFO_BTF) and no --vmlinux given: struct task_struct layout unknown"
		run "$name.ps" ps "$dump"
		expect_fail "$name.ps" "$msg"
		for pid in $pids; do
			run "$name.bt$pid" bt "$dump" "$pid"
			expect_fail "$name.bt$pid" "$msg"
		done
	fi
	run "$name.vml-missing" bt --vmlinux "$T_OUT/no-such-vmlinux" "$dump"
	expect_fail "$name.vml-missing" "no-such-vmlinux: No such file or directory"
done

# a vmlinux that is not the dump's kernel is refused, naming both build ids
work=$T_OUT/fake-vmlinux
if echo 'int main(void) { return 0; }' | cc -x c -o "$work" - \
	-Wl,--build-id=0x00112233445566778899aabbccddeeff00112233 2>/dev/null; then
	run az-vml-mismatch ps --vmlinux "$work" "$T_OUT/az-61.dump"
	expect_fail az-vml-mismatch "does not match the dump: its build-id is 00112233445566778899aabbccddeeff00112233, the dump's VMCOREINFO BUILD-ID is"
fi
run az-usage bt
[ $rc -eq 2 ] && t_ok "usage error exits 2" || t_fail "usage error: exit $rc"

t_summary
