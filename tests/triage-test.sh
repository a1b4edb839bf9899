#!/usr/bin/env bash
# `salvage triage` and its model (analyze/crashsig.c) on generated dumps:
# tests/fixtures/az-61.desc (a kernel-mode invalid opcode inside a system
# call) with its kernel log replaced by the lines each kind of crash leaves,
# one dump per case; `triage --json` must give the class, the cause line and
# the panic line.  On the unchanged fixture the top frame must be the
# exception's RIP that `bt --json` shows, every CPU must have its line, and
# the text must hold each section.
#
#   tests/triage-test.sh BUILD      (work files in BUILD/triage)
set -uo pipefail
. "$(dirname "$0")/lib.sh"
t_init triage "${1:-}"
SALVAGE=$BUILD/salvage
t_need_built "$SALVAGE"
base=$T_FIX/az-61.desc

# case NAME CLASS CAUSE-SUBSTRING PANIC-SUBSTRING LOGLINE...: the log lines
# (each "TEXT" at 1 s steps) replace the fixture's crash lines
case_() {
	local name=$1 cls=$2 cause=$3 panic=$4 ts=4400000000 line
	shift 4
	{
		grep -v -e '^  dmesg "invalid opcode' -e '^  dmesg "Kernel panic' "$base" |
			sed '/^  analyzer /,$d'
		for line in "$@"; do
			ts=$((ts + 1000000))
			printf '  dmesg "%s" ts=%d level=0\n' "$line" "$ts"
		done
		sed -n '/^  analyzer /,$p' "$base"
	} >"$T_OUT/$name.desc"
	t_mkdump "$name" "$T_OUT/$name.desc" "$T_OUT/$name.dump" || return
	t_run "$name" "$SALVAGE" triage --json "$T_OUT/$name.dump"
	if [ "$rc" != 0 ]; then
		t_fail "$name" "triage exit $rc: $(head -n 1 "$T_OUT/$name.err")"
		return
	fi
	t_check "$name: $cls" "$PY" -c '
import json, sys
m = json.load(open(sys.argv[1]))
cls, cause, panic = sys.argv[2:5]
bad = []
if m["class"] != cls: bad.append("class %r, expected %r" % (m["class"], cls))
if cause and cause not in (m["cause"] or ""): bad.append("cause %r lacks %r" % (m["cause"], cause))
if panic and panic not in (m["panic"] or ""): bad.append("panic %r lacks %r" % (m["panic"], panic))
if not cause and m["cause"] is not None: bad.append("cause %r, expected none" % m["cause"])
print("; ".join(bad)); sys.exit(1 if bad else 0)' "$T_OUT/$name.out" "$cls" "$cause" "$panic"
}

case_ sysrq sysrq 'sysrq: Trigger a crash' 'sysrq triggered crash' \
	'sysrq: Trigger a crash' 'Kernel panic - not syncing: sysrq triggered crash'
case_ null null-deref 'NULL pointer dereference' 'NULL pointer dereference' \
	'BUG: kernel NULL pointer dereference, address: 0000000000000008' \
	'#PF: supervisor read access in kernel mode' 'Oops: 0000 [#1] PREEMPT SMP NOPTI'
case_ null-panic null-deref 'NULL pointer dereference' 'Fatal exception' \
	'BUG: kernel NULL pointer dereference, address: 0000000000000008' \
	'Oops: 0000 [#1] PREEMPT SMP NOPTI' 'Kernel panic - not syncing: Fatal exception'
case_ pagefault page-fault 'unable to handle page fault' 'unable to handle page fault' \
	'BUG: unable to handle page fault for address: ffffc90000a00000' 'Oops: 0002 [#1] SMP'
case_ gpf gpf 'general protection fault' 'Fatal exception' \
	'general protection fault, probably for non-canonical address 0xdead000000000122: 0000 [#1] PREEMPT SMP NOPTI' \
	'Kernel panic - not syncing: Fatal exception'
case_ bug bug 'kernel BUG at fs/ext4/inode.c:1234' 'kernel BUG at' \
	'kernel BUG at fs/ext4/inode.c:1234!' 'invalid opcode: 0000 [#1] PREEMPT SMP NOPTI'
case_ softlockup soft-lockup 'soft lockup - CPU#0 stuck' 'softlockup: hung tasks' \
	'watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [spin:12]' \
	'Kernel panic - not syncing: softlockup: hung tasks'
case_ hardlockup hard-lockup 'hard LOCKUP on cpu 1' 'Hard LOCKUP' \
	'NMI watchdog: Watchdog detected hard LOCKUP on cpu 1' 'Kernel panic - not syncing: Hard LOCKUP'
case_ hungtask hung-task 'blocked for more than 120 seconds' 'hung_task: blocked tasks' \
	'INFO: task jbd2/sda1-8:170 blocked for more than 120 seconds.' \
	'Kernel panic - not syncing: hung_task: blocked tasks'
case_ warn warn 'WARNING: CPU: 0 PID: 1' 'panic_on_warn set' \
	'WARNING: CPU: 0 PID: 1 at kernel/foo.c:10 bar+0x1/0x2' \
	'Kernel panic - not syncing: panic_on_warn set ...'
# a warning earlier is not the cause; the oops after it is
case_ warn-then-null null-deref 'NULL pointer dereference' 'NULL pointer dereference' \
	'WARNING: CPU: 0 PID: 1 at kernel/foo.c:10 bar+0x1/0x2' \
	'BUG: kernel NULL pointer dereference, address: 0000000000000000' 'Oops: 0000 [#1] SMP'
# a soft lockup that passed, then a fatal GPF
case_ lockup-then-gpf gpf 'general protection fault' 'Fatal exception' \
	'watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [spin:12]' \
	'general protection fault: 0000 [#1] SMP' 'Kernel panic - not syncing: Fatal exception'
case_ oom oom 'Out of memory and no killable processes' 'deadlocked on memory' \
	'Out of memory and no killable processes...' \
	'Kernel panic - not syncing: System is deadlocked on memory'
case_ rcu rcu-stall 'self-detected stall on CPU' 'RCU Stall' \
	'rcu: INFO: rcu_preempt self-detected stall on CPU' 'Kernel panic - not syncing: RCU Stall'
case_ panic panic 'VFS: Unable to mount root fs' 'VFS: Unable to mount root fs' \
	'Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)'
case_ nothing unknown '' '' 'just a line' 'and another'

# the unchanged fixture: frames against bt, CPUs, text sections
dump=$T_OUT/az-61.dump
if t_mkdump az-61 "$base" "$dump"; then
	t_run az-61.bt "$SALVAGE" bt --json "$dump"
	t_run az-61.triage "$SALVAGE" triage --json "$dump"
	t_check "az-61: class bug, top frame = the exception's RIP, one line per CPU" "$PY" -c '
import json, sys
b = json.load(open(sys.argv[1])); m = json.load(open(sys.argv[2]))
pan = [t for t in b["threads"] if t["panic"]][0]
rip = [f["exception"]["regs"]["RIP"] for f in pan["frames"] if f.get("exception") and not f["exception"]["user"]][0]
bad = []
if m["class"] != "bug": bad.append("class %r" % m["class"])
if not m["frames"] or m["frames"][0]["ip"] != rip: bad.append("top frame %r, RIP %s" % (m["frames"][:1], rip))
if len(m["cpus"]) != len(b["threads"]): bad.append("cpus %d, bt threads %d" % (len(m["cpus"]), len(b["threads"])))
if not m["signature"].startswith("bug:" + m["frames"][0]["function"].split(".")[0]): bad.append("signature %r" % m["signature"])
if m["release"] != "6.1.0-56-cloud-amd64" or m["crash_time"] != 1795317288: bad.append("release/crash_time")
print("; ".join(bad)); sys.exit(1 if bad else 0)' "$T_OUT/az-61.bt.out" "$T_OUT/az-61.triage.out"
	t_run az-61.text "$SALVAGE" triage "$dump"
	# shellcheck disable=SC2016  # the script is for the inner bash
	t_check "az-61: text has WHAT WHERE WHEN KERNEL LOG CPUS NEXT" bash -c '
for s in WHAT WHERE WHEN KERNEL LOG CPUS NEXT; do grep -q "^$s" "$1" || { echo "no $s"; exit 1; }; done' _ "$T_OUT/az-61.text.out"
fi
t_summary
