#!/bin/bash
# tests/vm/xen-e2e.sh - Xen end to end under QEMU (TCG): Debian's Xen 4.17 with
# a PV dom0 (Debian's -amd64 kernel); dom0 loads the crash kernel into the
# hypervisor with kexec-tools (kexec -p) and panics; Xen kexecs into the crash
# kernel, which runs the static salvage-capture -X -d 31 onto an ext4 disk;
# the host then checks the dump with salvage alone (no symbols).
#
# usage: xen-e2e.sh [options] BUILD
#   BUILD            build directory with salvage and the static salvage-capture
#   --kver KVER      dom0 and crash kernel (default: resolved from linux-image-amd64)
#   --out DIR        keep the console log, the dump and summary in DIR
#                    (default: a temporary directory, removed on success)
#   --raw            also copy /proc/vmcore raw to a second disk (DIR/vmcore.raw)
#                    and compare: dom0's log from the raw and the filtered dump
#                    (needs the busybox crash initramfs, so implies --busybox)
#   --busybox        capture with a busybox init running salvage-capture -X -d 31
#                    instead of the agent image `salvage mkinitramfs` builds
#   --crash          run crash(8) on the filtered dump with xen-syms (expected
#                    to refuse: no DWARF) and, with DIR/vmlinux or
#                    $SALVAGE_CACHE/kernels/KVER/vmlinux present, as dom0
#   --timeout S      bound for the QEMU run (default 900)
#
# Checks: the crash kernel ran and captured (rc 0); `salvage xen info --json`:
# version 4.17.x, two physical CPUs with RIP and CR3, a crashing CPU;
# `salvage dmesg --dom0` has the marker and dom0's panic; the dump is under
# 15% of the machine's memory; the console ring read without symbols is the
# one read with xen-syms; the notes' fixes are listed by `salvage info`;
# dom0's kernel and Xen's stacks against what they printed (xen-check.py).
set -euo pipefail

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/xen-lib.sh"
. "$(dirname "$0")/e2e-lib.sh"

raw=0 do_crash=0 busybox=0 timeout_s=900 flavour=amd64
e2e_own_opt() {
	# E2E_SHIFT stays e2e_args' own when the option is not one of these
	case $1 in
	--raw) raw=1 busybox=1 ;;
	--busybox) busybox=1 ;;
	--crash) do_crash=1 ;;
	*) return 1 ;;
	esac
	E2E_SHIFT=1
}
e2e_args "$@"
E2E_SCRATCH=raw.img
e2e_start xen qemu-system-x86_64 apt-cache timeout mkfs.ext4 debugfs ldd kexec "$SV_PYTHON"
if command -v file >/dev/null 2>&1; then
	case $(file -L "$build/salvage-capture") in
	*'statically linked'*) ;;
	*) sv_die "$build/salvage-capture is not static (a sanitizer build?); the crash kernel has no libraries" ;;
	esac
fi
case $("$build/salvage-capture" --help 2>&1) in
*'  -X '*) ;;
*) sv_die "$build/salvage-capture has no -X" ;;
esac

# ---- ingredients ---------------------------------------------------------
sv_use_kernel "$flavour"
xe_prepare_xen
sv_log "xen $XE_XVER, dom0 and crash kernel $kver"
crash_cmdline="console=ttyS0 nr_cpus=1 reset_devices irqpoll panic=1"
t0=$(sv_now)
if [ "$busybox" = 1 ]; then
	xe_build_crash_initramfs "$SV_MODDIR" "$build/salvage-capture" "$raw" "$work/crash.img"
else
	# our agent image: salvage-capture as init, -X as the xen_domu setting.
	# ext4 on the -amd64 kernel needs crc32c, named only in modules.softdep
	# (through the alias crypto-crc32c): the image must follow it
	"$build/salvage" mkinitramfs -q -o "$work/crash.img" --kver "$kver" --moddir "$SV_KROOT" \
		--target "disk:LABEL=xencrash:/var/crash" --agent "$build/salvage-capture" \
		--level 31 --set xen_domu=1 --wait 30 --timeout 600 ||
		sv_die "salvage mkinitramfs failed"
fi
xe_build_dom0_initramfs "$SV_MODDIR" "$SV_VMLINUZ" "$work/crash.img" "$(command -v kexec)" \
	"$crash_cmdline" "$work/dom0.img"
sv_log "initramfs images built in $(sv_elapsed "$t0") s (crash $(du -h "$work/crash.img" | cut -f1), dom0 $(du -h "$work/dom0.img" | cut -f1))"
mkdir -p "$work/empty"
mkfs.ext4 -q -F -L xencrash -m 0 -b 4096 -d "$work/empty" "$work/disk.img" 1024M ||
	sv_die "mkfs.ext4 failed"
rawdisk=""
if [ "$raw" = 1 ]; then
	rawdisk=$work/raw.img
	truncate -s "$((XE_MEM + 64))M" "$rawdisk"
fi

# ---- the machine -----------------------------------------------------------
t0=$(sv_now)
xe_qemu "$XE_XEN" "$SV_VMLINUZ" "$work/dom0.img" "$work/disk.img" "$rawdisk" "$timeout_s" "$out/console.log"
t_qemu=$(sv_elapsed "$t0")
sv_log "qemu exited (rc $XE_QRC) after $t_qemu s"
# cleaned once into a file: grep -q on a pipe would kill its writer (pipefail)
tr -d '\r' <"$out/console.log" | sed 's/\x1bc//g; s/\x1b\[[0-9;?]*[A-Za-z]//g' >"$out/console.txt"
grep -a -E 'SALVAGE:|\(XEN\) (Hardware Dom0|Executing|Shot down)|salvage-capture:' "$out/console.txt" >&2 || true
fail() {
	sv_log "last console lines:"
	tail -n 40 "$out/console.txt" >&2
	sv_die "$*"
}
grep -a -q "crash kernel loaded through Xen" "$out/console.txt" || fail "dom0 did not load the crash kernel"
grep -a -q "Executing kexec image on cpu" "$out/console.txt" || fail "Xen did not kexec into the crash kernel"
if [ "$busybox" = 1 ]; then
	grep -a -q "${XE_DONE}0" "$out/console.txt" || fail "the crash kernel's capture failed"
	vmcore_size=$(sed -n 's/.*SALVAGE: vmcore-size \([0-9]*\).*/\1/p' "$out/console.txt" | head -n 1)
	capture_s=$(sed -n 's/.*SALVAGE: capture-seconds \([0-9.]*\).*/\1/p' "$out/console.txt" | head -n 1)
	dump=$out/vmcore.kdump
	debugfs -R "dump /vmcore $dump" "$work/disk.img" >/dev/null 2>&1 || sv_die "debugfs: no /vmcore on the disk"
	debugfs -R "dump /capture.log $out/capture.log" "$work/disk.img" >/dev/null 2>&1 || true
else
	grep -a -q "agent: capture: ok:" "$out/console.txt" || fail "the agent's capture failed"
	names=$(e2e_dump_dirs "$work/disk.img" /var/crash)
	new=$(printf '%s\n' $names | sort | tail -n 1)
	[ -n "$new" ] || fail "the agent wrote no dump directory"
	# Xen has no host name: the agent reads dom0's, without symbols
	case $new in xen-dom0-e2e-*) ;; *) fail "dump directory $new is not named after dom0's host" ;; esac
	e2e_extract "$work/disk.img" "/var/crash/$new" "$out/agent"
	dump=$(find "$out/agent" -name vmcore | head -n 1)
	[ -n "$dump" ] || fail "no vmcore in /var/crash/$new"
	meta=$(dirname "$dump")/meta.json
	grep -q "Kernel panic - not syncing" "$(dirname "$dump")/dmesg.txt" ||
		sv_die "the agent's dmesg.txt lacks dom0's panic message"
	read -r vmcore_size capture_s < <("$SV_PYTHON" -c 'import json,sys
m = json.load(open(sys.argv[1]))
assert m["hostname"] == "xen-dom0-e2e" and m["osrelease"] == sys.argv[2], (m["hostname"], m["osrelease"])
print(m["pages"]["ram"] * 4096, m["seconds"]["capture"])' "$meta" "$kver") ||
		sv_die "meta.json unreadable"
fi
# ---- what was written --------------------------------------------------------
[ -s "$dump" ] || sv_die "the dump is empty"
t_ok "Xen kexec'd into the crash kernel, which captured"
if [ "$raw" = 1 ]; then
	ext=$(sv_elf_extent "$rawdisk" 2>/dev/null | tail -n 1) || sv_die "no ELF core on the raw disk"
	truncate -s "$ext" "$rawdisk"
	mv "$rawdisk" "$out/vmcore.raw"
fi
dump_size=$(stat -c %s "$dump")
mem_bytes=$((XE_MEM * 1024 * 1024))

# ---- checks ---------------------------------------------------------------------
"$build/salvage" xen info --json "$dump" >"$out/xen-info.json" || sv_die "salvage xen info failed"
"$build/salvage" xen info "$dump" >"$out/xen-info.txt" || true
"$SV_PYTHON" - "$out/xen-info.json" <<'EOF' || sv_die "xen info --json check failed"
import json, re, sys
m = json.load(open(sys.argv[1]))
bad = []
if not re.match(r"^4\.17(\.|$)", m["version"]): bad.append("version %r" % m["version"])
if len(m["pcpus"]) != 2: bad.append("%d pcpus" % len(m["pcpus"]))
for c in m["pcpus"]:
    if not c["saved"] or int(c["rip"], 16) < 0xffff800000000000 or not c["cr3"] or int(c["cr3"], 16) == 0:
        bad.append("pcpu %s: %r" % (c["cpu"], c))
if m["crashing_cpu"] not in (0, 1): bad.append("crashing_cpu %r" % m["crashing_cpu"])
if not m["phys_start"]: bad.append("phys_start")
if not m["dom0"] or not m["dom0"]["osrelease"]: bad.append("dom0 release")
for b in bad: print("[vm] ERROR: xen info: " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
t_ok "salvage xen info --json"
"$build/salvage" dmesg --dom0 "$dump" >"$out/dom0-dmesg.txt" || sv_die "salvage dmesg --dom0 failed"
grep -q "$XE_MARKER" "$out/dom0-dmesg.txt" || sv_die "dom0's log lacks the marker"
grep -q "Kernel panic - not syncing: sysrq triggered crash" "$out/dom0-dmesg.txt" ||
	sv_die "dom0's log lacks the panic message"
limit=$((mem_bytes * 15 / 100))
t_ok "salvage dmesg --dom0: marker and panic"
[ "$dump_size" -lt "$limit" ] || sv_die "dump is $dump_size bytes, not under 15% of $mem_bytes"
t_ok "dump under 15% of the machine"
"$build/salvage" xen log "$dump" >"$out/xen-log.txt" 2>/dev/null || sv_die "salvage xen log (no symbols) failed"
"$build/salvage" xen log --xen-syms "$XE_SYMS" "$dump" >"$out/xen-log.syms.txt" || sv_die "salvage xen log --xen-syms failed"
grep -q "Executing kexec image on cpu" "$out/xen-log.txt" || sv_die "Xen's console ring lacks the kexec line"
cmp -s "$out/xen-log.txt" "$out/xen-log.syms.txt" || sv_log "note: the console ring without symbols differs from xen-syms' (ring full?)"
"$build/salvage" info "$dump" >"$out/info.txt" || sv_die "salvage info failed"
grep -q "xen notes fixed when this dump was written" "$out/info.txt" || sv_die "salvage info lists no note fixes"
"$build/salvage" xen domains "$dump" >"$out/xen-domains.txt" || sv_die "salvage xen domains failed"
t_ok "salvage xen log, info, domains"
# dom0's kernel through the dom0 view, and Xen's stacks (issue 13): the
# oracle for bt is dom0's own call trace in its log; for ps, the task the
# log names as panicking ("CPU: N PID: P Comm: C"), sys' count and the task
# listing dom0's init wrote into its log just before the crash
"$build/salvage" bt --dom0 --json "$dump" >"$out/dom0-bt.json" || sv_die "salvage bt --dom0 failed"
"$build/salvage" bt --dom0 "$dump" >"$out/dom0-bt.txt" || sv_die "salvage bt --dom0 (text) failed"
"$build/salvage" ps --dom0 --json "$dump" >"$out/dom0-ps.json" || sv_die "salvage ps --dom0 failed"
"$build/salvage" sys --dom0 --json "$dump" >"$out/dom0-sys.json" || sv_die "salvage sys --dom0 failed"
"$build/salvage" sym --dom0 "$dump" panic >/dev/null || sv_die "salvage sym --dom0 failed"
"$build/salvage" info --json "$dump" >"$out/info.json" || sv_die "salvage info --json failed"
"$build/salvage" xen bt --json --xen-syms "$XE_SYMS" "$dump" >"$out/xen-bt.json" || sv_die "salvage xen bt failed"
"$build/salvage" xen bt --json "$dump" >"$out/xen-bt.nosyms.json" || sv_die "salvage xen bt (no symbols) failed"
"$SV_PYTHON" "$(dirname "$0")/xen-check.py" "$out" "$kver" || sv_die "dom0 bt/ps/sys or xen bt check failed"
t_ok "salvage bt/ps/sys/sym --dom0 and xen bt"
if [ "$raw" = 1 ]; then
	"$build/salvage" dmesg --dom0 "$out/vmcore.raw" >"$out/dom0-dmesg.raw.txt" || sv_die "dmesg --dom0 on the raw vmcore failed"
	cmp -s "$out/dom0-dmesg.raw.txt" "$out/dom0-dmesg.txt" || sv_die "dom0's log differs between the raw and the filtered dump"
	t_ok "dom0's log: raw = filtered"
fi

# ---- crash(8), informational ---------------------------------------------------------
if [ "$do_crash" = 1 ] && command -v crash >/dev/null 2>&1; then
	printf 'sys\nquit\n' | timeout 120 crash -s "$XE_SYMS" "$dump" >"$out/crash-xen.out" 2>&1 || true
	sv_log "crash with xen-syms: $(grep -m1 -E 'crash:|ERROR|error' "$out/crash-xen.out" || head -n 1 "$out/crash-xen.out")"
	vml=""
	for v in "$out/vmlinux" "$SALVAGE_CACHE/kernels/$kver/vmlinux"; do [ -s "$v" ] && vml=$v && break; done
	if [ -n "$vml" ]; then
		printf 'sys\nlog\nbt\nps\nquit\n' | timeout 300 crash -s "$vml" "$dump" >"$out/crash-dom0.out" 2>&1 || true
		sv_log "crash as dom0: $(grep -c . "$out/crash-dom0.out") lines; panic $(grep -c 'sysrq triggered crash' "$out/crash-dom0.out") times"
	fi
fi

ok=1
{
	echo "xen=$XE_XVER"
	echo "kernel=$kver"
	echo "machine_bytes=$mem_bytes"
	echo "vmcore_bytes=$vmcore_size"
	echo "dump_bytes=$dump_size"
	echo "dump_percent=$(awk -v a="$dump_size" -v b="$mem_bytes" 'BEGIN { printf "%.2f", 100 * a / b }')"
	echo "capture_seconds=$capture_s"
	echo "qemu_seconds=$t_qemu"
	echo "total_seconds=$(sv_elapsed "$t_all")"
} >"$out/summary"
cat "$out/summary" >&2
sv_log "xen-e2e: ok"
t_summary
