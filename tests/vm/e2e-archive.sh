#!/bin/bash
# tests/vm/e2e-archive.sh - `salvage archive` on real dumps of a Debian kernel
# under QEMU (TCG): the agent's dump that e2e-disk.sh made (--agent-dump),
# and two dumps QEMU's monitor writes itself (dump-guest-memory) of guests
# booted here: one crashed the same way (sysrq), one by another panic path
# (its init exits: "Attempted to kill init").
#
# usage: e2e-archive.sh [options] BUILD
#   BUILD              build directory with salvage
#   --agent-dump DIR   our agent's dump directory (vmcore, meta.json, dmesg.txt)
#                      of the sysrq crash: make test-vm passes e2e-disk.sh's
#                      (BUILD/vm-disk/dump); without it those checks are skipped
#   --modoops-dump DIR e2e-modoops.sh's dump directory (an oops in a tainting
#                      module): its tainted modules and module frames in the
#                      signature, triage's; without it skipped
#   --kver KVER        kernel ABI version (default: resolved; env SALVAGE_KVER)
#   --flavour F        kernel flavour (default cloud-amd64)
#   --out DIR          keep the dumps, consoles and the index in DIR
#   --timeout S        bound for each QEMU run (default 300)
#
# Checks: each QEMU dump has VMCOREINFO (the guest's qemu_fw_cfg module
# hands it to QEMU's vmcoreinfo device) and its own KASLR offset; the agent's
# dump and QEMU's dump of the same sysrq crash (two boots, two KASLR offsets,
# two dump producers) get one signature and land in one group; the other
# panic lands in another group; search finds a dump by a phrase of its log;
# adding all again changes nothing; `salvage archive add` of the agent's dump
# takes a small fraction of the time the agent took to capture it.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/e2e-lib.sh"

agent_dump=""
modoops_dump=""
timeout_s=300
e2e_own_opt() {
	case $1 in
	--agent-dump) agent_dump=${2:?} E2E_SHIFT=2 ;;
	--modoops-dump) modoops_dump=${2:?} E2E_SHIFT=2 ;;
	*) return 1 ;;
	esac
}
e2e_args "$@"
# e2e_start wants the agent built too: this test does not use it
e2e_start archive qemu-system-x86_64 apt-cache timeout "$SV_PYTHON"
S=$build/salvage
DB=$out/archive.db
rm -f "$DB" "$DB-wal" "$DB-shm"

sv_use_kernel "$flavour"

# boot_dump NAME HOW -> $out/NAME.vmcore: boot with qemu_fw_cfg loaded (the
# kernel writes VMCOREINFO to QEMU's vmcoreinfo device), crash by HOW
# (sysrq | exit), stay panicked (panic=0), dump-guest-memory through QMP
boot_dump() {
	local name=$1 how=$2 stage img t0
	sv_stage "archive-$name" "$(sv_moddir "$SV_KROOT" "$kver")" qemu_fw_cfg
	stage=$SV_STAGE
	printf 'archive-%s\n' "$name" >"$stage/etc/hostname"
	sv_write_init "$stage" <<EOF
load_modules
hostname "\$(cat /etc/hostname)"
echo "$SV_MARKER archive $name" >/dev/kmsg
i=0
while [ ! -e /sys/firmware/qemu_fw_cfg/by_name/etc/vmcoreinfo ] && [ \$i -lt 50 ]; do sleep 0.1; i=\$((i + 1)); done
say "up \$(up)s, crashing by $how"
sync
$( [ "$how" = sysrq ] && echo 'echo c >/proc/sysrq-trigger' )
exit 3
EOF
	img=$work/$name.img
	sv_pack "$stage" "$img"
	rm -f "$out/$name.vmcore"
	t0=$(sv_now)
	timeout -k 10 "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max -m 512 -smp 1 \
		-nographic -no-reboot -nic none -device vmcoreinfo \
		-qmp "unix:$work/qmp-$name.sock,server=on,wait=off" \
		-kernel "$SV_VMLINUZ" -initrd "$img" -append "console=ttyS0 panic=0 quiet" \
		</dev/null >"$out/$name.console" 2>"$out/$name.console.stderr" &
	local qpid=$!
	"$SV_PYTHON" - "$work/qmp-$name.sock" "$out/$name.console" "$out/$name.vmcore" "$timeout_s" <<'EOF' ||
import json, os, socket, sys, time
sock_path, console, dump, limit = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
end = time.time() + limit
# the guest panics: its console says so (panic=0: it stays there)
while b"Kernel panic - not syncing" not in open(console, "rb").read():
    if time.time() > end:
        sys.exit("no panic on the console")
    time.sleep(0.5)
time.sleep(2)          # the panic's trace and the CPUs stopped
s = socket.socket(socket.AF_UNIX)
s.connect(sock_path)
f = s.makefile("rwb")
def cmd(c, **a):
    f.write(json.dumps({"execute": c, "arguments": a} if a else {"execute": c}).encode() + b"\n")
    f.flush()
    while True:
        r = json.loads(f.readline())
        if "return" in r or "error" in r:
            return r
json.loads(f.readline())   # greeting
cmd("qmp_capabilities")
r = cmd("dump-guest-memory", paging=False, protocol="file:" + dump)
if "error" in r:
    sys.exit("dump-guest-memory: %s" % r["error"])
cmd("quit")
EOF
		{ kill "$qpid" 2>/dev/null; wait "$qpid" 2>/dev/null; e2e_show_failure "$out/$name.console"; sv_die "QEMU dump of the $how crash failed"; }
	wait "$qpid" 2>/dev/null || true
	[ -s "$out/$name.vmcore" ] || sv_die "no $out/$name.vmcore"
	sv_log "$name: booted, crashed by $how, dumped by QEMU in $(sv_elapsed "$t0") s ($(du -h "$out/$name.vmcore" | cut -f1))"
	"$S" info --json "$out/$name.vmcore" >"$out/$name.info.json" || sv_die "salvage info $name.vmcore failed"
	e2e_json "$out/$name.info.json" "m['producer'] == 'qemu'" "m['osrelease'] == '$kver'" "m['kaslr_offset'] is not None"
	t_ok "$name: QEMU's dump has VMCOREINFO (release, KASLR offset)"
}

boot_dump qemu-sysrq sysrq
boot_dump qemu-exit exit

add() { "$S" archive --db "$DB" add --json "$@"; }
add "$out/qemu-sysrq.vmcore" "$out/qemu-exit.vmcore" >"$out/add-qemu.json" || sv_die "archive add of QEMU's dumps failed"
if [ -n "$agent_dump" ] && [ -f "$agent_dump/meta.json" ]; then
	t0=$(sv_now)
	add --label source=e2e-disk "$agent_dump" >"$out/add-agent.json" || sv_die "archive add of $agent_dump failed"
	t_add=$(sv_elapsed "$t0")
	t_capture=$("$SV_PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["seconds"]["capture"])' "$agent_dump/meta.json")
	sv_log "archive add of the agent's dump: ${t_add} s (the agent captured it in ${t_capture} s)"
	awk -v a="$t_add" -v c="$t_capture" 'BEGIN { exit !(a < c) }' &&
		t_ok "adding a dump takes less than capturing it (${t_add} s < ${t_capture} s)" ||
		t_fail "adding a dump takes less than capturing it" "${t_add} s >= ${t_capture} s"
	"$S" info --json "$agent_dump/vmcore" >"$out/agent.info.json"
	"$SV_PYTHON" - "$out/agent.info.json" "$out/qemu-sysrq.info.json" <<'EOF' &&
import json, sys
a, q = (json.load(open(p))["kaslr_offset"] for p in sys.argv[1:])
sys.exit(0 if a and q and a != q else 1)
EOF
		t_ok "the two boots have different KASLR offsets" ||
		t_skip_ok "the two boots have different KASLR offsets" "the same offset by chance"
else
	t_skip "agent dump checks" "no --agent-dump DIR (make test-vm passes e2e-disk.sh's)"
fi

"$S" archive --db "$DB" groups --json >"$out/groups.json"
"$S" archive --db "$DB" list --json >"$out/list.json"
"$SV_PYTHON" - "$out/groups.json" "$out/list.json" "${agent_dump:+agent}" <<'EOF' >&2 && t_ok "signatures: one group for the sysrq crash, another for the other panic" || t_fail "signatures: groups" "see $out/groups.json"
import json, sys
groups, dumps = (json.load(open(p)) for p in sys.argv[1:3])
by_path = {d["path"].rsplit("/", 1)[-1]: d for d in dumps}
q, x = by_path["qemu-sysrq.vmcore"], by_path["qemu-exit.vmcore"]
for d in dumps:
    print("[vm]   %-20s %s" % (d["path"].rsplit("/", 1)[-1], d["signature"]))
ok = q["signature"].startswith("v2 sysrq:sysrq_handle_crash")
ok &= x["signature"] != q["signature"] and x["signature"].startswith("v2 panic:")
if sys.argv[3]:
    a = by_path["vmcore"]
    ok &= a["signature_id"] == q["signature_id"]
    ok &= len(groups) == 2 and sorted(g["count"] for g in groups) == [1, 2]
else:
    ok &= len(groups) == 2
sys.exit(0 if ok else 1)
EOF

# one classification: the archive signs each dump as `salvage triage` does
for name in qemu-sysrq qemu-exit; do
	"$S" triage --json "$out/$name.vmcore" >"$out/$name.triage.json" 2>/dev/null
	"$SV_PYTHON" - "$out/list.json" "$out/$name.triage.json" "$name.vmcore" <<'EOF' &&
import json, sys
dumps, tri = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
d = [d for d in dumps if d["path"].endswith("/" + sys.argv[3])][0]
sys.exit(0 if d["signature"] == "v2 " + tri["signature"] else 1)
EOF
		t_ok "$name: the archive's signature is triage's" ||
		t_fail "$name: the archive's signature is triage's" "see $out/$name.triage.json"
done

"$S" archive --db "$DB" search --json "Attempted to kill init" >"$out/search.json" &&
	"$SV_PYTHON" -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(not (len(d) == 1 and d[0]["path"].endswith("qemu-exit.vmcore")))' "$out/search.json" &&
	t_ok "search finds the dump by a phrase of its log" || t_fail "search by a phrase of the log"
"$S" archive --db "$DB" search --json "$SV_MARKER archive qemu-sysrq" >"$out/search2.json" &&
	"$SV_PYTHON" -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(not (len(d) == 1 and d[0]["path"].endswith("qemu-sysrq.vmcore")))' "$out/search2.json" &&
	t_ok "search finds the marker the guest logged" || t_fail "search for the guest's marker"
n0=$("$SV_PYTHON" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$out/list.json")
add "$out/qemu-sysrq.vmcore" "$out/qemu-exit.vmcore" ${agent_dump:+"$agent_dump"} >/dev/null
n1=$("$S" archive --db "$DB" list --json | "$SV_PYTHON" -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$n0" = "$n1" ] && t_ok "adding the same dumps again changes nothing" || t_fail "adding again" "$n0 -> $n1 dumps"

# a module's oops: its taint letters in the index, its frames in the signature
if [ -n "$modoops_dump" ] && [ -f "$modoops_dump/vmcore" ]; then
	add "$modoops_dump" >"$out/add-modoops.json" || sv_die "archive add of $modoops_dump failed"
	id=$("$SV_PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["id"])' "$out/add-modoops.json")
	"$S" archive --db "$DB" show --json "$id" >"$out/modoops.show.json"
	"$S" triage --json "$modoops_dump/vmcore" >"$out/modoops.triage.json" 2>/dev/null
	"$SV_PYTHON" - "$out/modoops.show.json" "$out/modoops.triage.json" <<'EOF' >&2 &&
import json, re, sys
d, tri = (json.load(open(p)) for p in sys.argv[1:])
print("[vm]   modoops: tainted modules %r, %s" % (d["tainted_modules"], d["signature"]))
ok = re.search(r"(^| )oopsmod\([A-Z]*[OE][A-Z]*\)", d["tainted_modules"] or "") is not None
ok &= d["signature"] == "v2 " + tri["signature"]
ok &= d["signature"].startswith("v2 null-deref:oopsmod_deref[oopsmod]/")
sys.exit(0 if ok else 1)
EOF
		t_ok "modoops: tainted modules oopsmod(OE), signature with its frames, triage's" ||
		t_fail "modoops: tainted modules and signature" "see $out/modoops.show.json"
else
	t_skip "module oops checks" "no --modoops-dump DIR (make test-vm passes e2e-modoops.sh's)"
fi

# the QEMU dumps are large: keep them only with --out
[ -n "$user_out" ] || rm -f "$out"/*.vmcore
ok=1
