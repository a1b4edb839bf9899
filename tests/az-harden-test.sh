#!/usr/bin/env bash
# The analyzer's hardening cases of issue 11 (findings 8 and 10), one check
# per symptom a user saw; each failed before its fix.
#   - terminal safety: tests/fixtures/az-hostile.desc puts ESC, BEL and DEL
#     bytes in the node name, the release, a task's command and the panic
#     line; no text output of info, sys, ps, bt, sym or dmesg may carry an
#     ESC byte, and each shows the bytes as \xNN; --json keeps the strings;
#   - a dump that cannot be opened is named once ("X: X: No such file");
#   - `dmesg --dom0` says "dom0:" once;
#   - `xen frames` never explains itself with an empty "()" (reproduced by a
#     dump whose VMCOREINFO_XEN lacks SYMBOL(frame_table));
#   - `sym` looks up any number of names;
#   - `info` on a dump cut short does not count the frames it never got;
#   - `xen info` gives the domain count, not a bare id list ("domains: 0");
#   - a kdump header version or dump level that is not one is never printed
#     as a number ("version -2147483648").
#
#   tests/az-harden-test.sh BUILD      (BUILD/salvage; work files in BUILD/az-harden)
set -uo pipefail
. "$(dirname "$0")/lib.sh"
t_init az-harden "${1:-}"

SALVAGE=$BUILD/salvage
FIX=$T_HERE/fixtures
O=$T_OUT
ESC=$'\x1b'

if [ ! -x "$SALVAGE" ]; then
	t_fail setup "$SALVAGE not built"
	t_summary
fi

# gen NAME: the dump of fixture NAME in $O/NAME.dump (mkdump.py)
gen() {
	[ -f "$O/$1.dump" ] && return 0
	t_timeout 120 "$PY" "$T_HERE/tools/mkdump.py" "$FIX/$1.desc" "$O/$1.dump" \
		>"$O/$1.gen-log" 2>&1 || { t_fail "$1" "generator: $(tail -1 "$O/$1.gen-log")"; return 1; }
}

# out WHAT TEXT: salvage's stdout ($O/WHAT.out) has no ESC byte and holds TEXT
out() {
	local what=$1 text=$2
	if grep -q "$ESC" "$O/$what.out"; then
		t_fail "$what" "an ESC byte reached the terminal"
	elif ! grep -qF -- "$text" "$O/$what.out"; then
		t_fail "$what" "no '$text' in: $(head -c 300 "$O/$what.out" | tr '\n' '|')"
	else
		t_ok "$what"
	fi
}

# run WHAT ARGS...: salvage ARGS > $O/WHAT.out 2> $O/WHAT.err; rc
run() {
	local what=$1
	shift
	t_timeout 60 "$SALVAGE" "$@" >"$O/$what.out" 2>"$O/$what.err"
	rc=$?
}

# ---- finding 8: terminal safety ---------------------------------------------
if gen az-hostile; then
	d=$O/az-hostile.dump
	run info info "$d" && out info 'osrelease:     6.1.0-56\x1b[2Jcloud'
	run sys sys "$d"
	out sys 'NODENAME: az\x1b]0;pwned\x07host'
	out sys 'PANIC: "Kernel panic - not syncing: Fatal \x1b[5mexception"'
	run ps ps "$d"
	out ps 'sh\x1b[31mred\x7f'
	run bt bt "$d"
	out bt 'COMMAND: "in\x1b[1mit\x7f"'
	run dmesg dmesg "$d"
	out dmesg 'Fatal \x1b[5mexception'
	run dmesg-caller dmesg --caller "$d"
	out dmesg-caller 'Fatal \x1b[5mexception'
	run sym sym "$d"
	out sym ' T '
	# --json keeps the bytes (escaped as JSON), so scripts see the truth
	run ps-json ps --json "$d"
	t_check "ps --json keeps the command" "$PY" -c '
import json, sys
t = [t for t in json.load(open(sys.argv[1]))["tasks"] if t["pid"] == 70]
sys.exit(0 if t and t[0]["comm"] == "sh\x1b[31mred\x7f" else 1)' "$O/ps-json.out"
fi

# ---- finding 10: messages and small wrong answers ---------------------------
missing=$O/no-such-dump
for cmd in info dmesg sym bt ps sys "xen info"; do
	# shellcheck disable=SC2086
	run missing $cmd "$missing"
	n=$(grep -o -F -- "$missing" "$O/missing.err" | wc -l)
	if [ $rc -eq 1 ] && [ "$n" -eq 1 ] && grep -qF "No such file or directory" "$O/missing.err"; then
		t_ok "$cmd: missing dump named once"
	else
		t_fail "$cmd: missing dump named once" "exit $rc: $(head -1 "$O/missing.err")"
	fi
done

if gen xen-layout64; then
	run dom0 dmesg --dom0 "$O/xen-layout64.dump"
	if [ $rc -eq 1 ] && [ "$(grep -o 'dom0:' "$O/dom0.err" | wc -l)" -eq 1 ]; then
		t_ok "dmesg --dom0: 'dom0:' once"
	else
		t_fail "dmesg --dom0: 'dom0:' once" "exit $rc: $(head -1 "$O/dom0.err")"
	fi
	run xinfo64 xen info "$O/xen-layout64.dump"
	if grep -q '^dom0: *(dom0:' "$O/xinfo64.out"; then
		t_fail "xen info: 'dom0:' once" "$(grep '^dom0:' "$O/xinfo64.out")"
	else
		t_ok "xen info: 'dom0:' once"
	fi
fi

# xen-418-dom0 with VMCOREINFO_XEN's SYMBOL(frame_table) renamed (same
# length): Xen's memory is readable, but frame ownership has no table
if gen xen-418-dom0; then
	"$PY" -c '
import sys
d = open(sys.argv[1], "rb").read()
old = b"SYMBOL(frame_table)="
assert d.count(old) == 1
open(sys.argv[2], "wb").write(d.replace(old, b"SYMBOL(frame_tablX)="))' \
		"$O/xen-418-dom0.dump" "$O/xen-noft.dump"
fi
for f in xen-noft xen-info64 xen-raw-notes; do
	[ -f "$O/$f.dump" ] || gen $f || continue
	run frames-$f xen frames "$O/$f.dump"
	if [ $rc -eq 1 ] && grep -q 'needs frame_table and domain 0 (.' "$O/frames-$f.err" &&
		! grep -q '()' "$O/frames-$f.err"; then
		t_ok "xen frames $f: says why"
	else
		t_fail "xen frames $f: says why" "exit $rc: $(head -1 "$O/frames-$f.err")"
	fi
done

if gen xen-418-dom0; then
	run xinfo xen info "$O/xen-418-dom0.dump"
	run xdoms xen domains "$O/xen-418-dom0.dump"
	ndoms=$(tail -n +2 "$O/xdoms.out" | wc -l)
	if grep -q "^domains: *$ndoms (id 0)\$" "$O/xinfo.out" && [ "$ndoms" -eq 1 ]; then
		t_ok "xen info: domain count as xen domains lists"
	else
		t_fail "xen info: domain count as xen domains lists" \
			"$(grep '^domains' "$O/xinfo.out"), xen domains lists $ndoms"
	fi
fi

if [ -f "$O/az-hostile.dump" ]; then
	run sym5 sym "$O/az-hostile.dump" panic runqueues _stext __crash_kexec buggy_function
	if [ $rc -eq 0 ] && [ "$(wc -l <"$O/sym5.out")" -eq 5 ]; then
		t_ok "sym: five names"
	else
		t_fail "sym: five names" "exit $rc: $(head -1 "$O/sym5.err")"
	fi
fi

if gen kdump-incomplete; then
	# the generator cuts the dump at 0x160000: frames 0x160-0x17f were
	# never written (one of them is a zero page that dump level 1 drops)
	run inc info --json "$O/kdump-incomplete.dump"
	t_check "info: frames never written are not in the dump" "$PY" -c '
import json, sys
p = json.load(open(sys.argv[1]))["pages"]
sys.exit(0 if p["unwritten"] == 31 and p["present"] == 102 else 1)' "$O/inc.out"
	run inc-text info "$O/kdump-incomplete.dump"
	out inc-text '102 in dump (408.0 KiB), 31 never written (cut short)'
fi

# corrupt: kdump-incomplete.desc with one header field overwritten
corrupt() {
	{ grep -v '^incomplete' "$FIX/kdump-incomplete.desc" | sed "s|^include inc/|include $FIX/inc/|"
	  echo "corrupt kdump $1"; } >"$O/$2.desc"
	t_timeout 120 "$PY" "$T_HERE/tools/mkdump.py" "$O/$2.desc" "$O/$2.dump" >"$O/$2.gen-log" 2>&1
}
if corrupt dump_level=0x80000000 badlevel; then
	run badlevel info "$O/badlevel.dump"
	out badlevel 'dump level:    (unknown: not a makedumpfile level)'
	run badlevel-json info --json "$O/badlevel.dump"
	out badlevel-json '"dump_level":null'
else
	t_fail badlevel "generator: $(tail -1 "$O/badlevel.gen-log")"
fi
if corrupt header_version=0x80000000 badversion; then
	run badversion info "$O/badversion.dump"
	if [ $rc -eq 1 ] && grep -q 'version 2147483648: unknown' "$O/badversion.err"; then
		t_ok "kdump header version: no negative number"
	else
		t_fail "kdump header version: no negative number" "exit $rc: $(head -1 "$O/badversion.err")"
	fi
else
	t_fail badversion "generator: $(tail -1 "$O/badversion.gen-log")"
fi

t_summary
