#!/bin/bash
# tests/vm/e2e-full.sh - the target runs out of space in the middle of the
# dump: a real Debian kernel crashed under QEMU (TCG), our agent writing to an
# ext4 disk that a filler file leaves with about 4 MiB usable.
#
# usage: e2e-full.sh [options] BUILD
#   BUILD            build directory with salvage and salvage-capture
#   --agent PATH     agent binary (default BUILD/salvage-capture)
#   --kver KVER      kernel ABI version (default: resolved; env SALVAGE_KVER)
#   --flavour F      kernel flavour (default cloud-amd64)
#   --free KB        usable space left on the target (default 4096): room for
#                    dmesg.txt, meta.json and the dump's headers, not its pages
#   --out DIR        keep the console log and the extracted files in DIR
#   --timeout S      bound for the QEMU run (default 600)
#
# Checks: the agent reports the capture incomplete and still reboots (QEMU,
# run with -no-reboot, exits by itself well before the timeout); meta.json says
# "incomplete"; `salvage info` says the dump is incomplete; dmesg.txt is
# complete: it holds the marker, the sysrq line and the panic, and ends with
# the panic's stack trace, the last thing the crashed kernel logged.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/e2e-lib.sh"

free_kb=4096
e2e_own_opt() { [ "$1" = --free ] && free_kb=${2:?}; }
e2e_args "$@"
case $free_kb in '' | *[!0-9]*) sv_die "--free needs a number of KiB" ;; esac
E2E_SCRATCH=fs/filler
e2e_start full qemu-system-x86_64 apt-cache timeout mkfs.ext4 debugfs dumpe2fs ldd "$SV_PYTHON"

sv_use_kernel "$flavour"

"$build/salvage" mkinitramfs -q -o "$work/crash.img" --kver "$kver" --moddir "$SV_KROOT" \
	--target "disk:LABEL=$E2E_LABEL:/var/crash" --agent "$agent" --wait 30 --timeout 300 \
	--fs ext4
e2e_build_first_initramfs "$SV_VMLINUZ" "$work/crash.img" "$build/salvage" \
	"" "$work/first.img"

# A 96 MiB ext4 filled to about free_kb: measure the empty file system, then
# build it again with a filler of the right size (random: no sparse blocks).
# ext4 keeps blocks/50 (at most 4096) blocks back from ordinary allocations
# (ext4_calculate_resv_clusters), which dumpe2fs counts as free.
size_mb=96
mkdir -p "$work/fs/var/crash"
e2e_make_ext4 "$work/disk.img" "$size_mb" "$work/fs"
empty=$(e2e_free_blocks "$work/disk.img")
resv=$((size_mb * 256 / 50))
[ "$resv" -le 4096 ] || resv=4096
filler_blocks=$((empty - resv - free_kb / 4 - 8))   # 8: the filler's extent blocks
[ "$filler_blocks" -gt 0 ] || sv_die "file system too small for --free $free_kb"
head -c $((filler_blocks * 4096)) /dev/urandom >"$work/fs/filler"
e2e_make_ext4 "$work/disk.img" "$size_mb" "$work/fs"
rm -f "$work/fs/filler"
left=$((($(e2e_free_blocks "$work/disk.img") - resv) * 4))
sv_log "target: ${size_mb} MiB ext4, ${left} KiB usable"
[ "$left" -ge $((free_kb / 2)) ] && [ "$left" -le $((free_kb * 2)) ] ||
	sv_die "filling the image left $left KiB free, wanted about $free_kb"

e2e_boot " into a full disk"
if [ "$E2E_QRC" != 0 ]; then
	e2e_show_failure "$out/console.log"
	[ "$E2E_QRC" != 124 ] || sv_die "the machine did not reboot: QEMU timed out after ${timeout_s} s"
	sv_die "qemu failed (rc=$E2E_QRC)"
fi
grep -aq "$E2E_AGENT_INCOMPLETE" "$out/console.log" || { e2e_show_failure "$out/console.log"; sv_die "the agent did not report an incomplete capture"; }
grep -aq 'agent: rebooting' "$out/console.log" || sv_die "the agent did not reboot after the failure"
t_ok "the agent reported the capture incomplete and rebooted"

names=$(e2e_dump_dirs "$work/disk.img" /var/crash)
[ "$(printf '%s\n' "$names" | grep -c .)" = 1 ] || sv_die "expected one dump directory, found: $names"
e2e_extract "$work/disk.img" "/var/crash/$names" "$out"
rm -rf "$out/dump"
mv "$out/$names" "$out/dump"
ls -la "$out/dump" | sed 's/^/[vm]   /' >&2
for f in vmcore dmesg.txt meta.json; do
	[ -s "$out/dump/$f" ] || sv_die "no $f in the dump directory"
done

size=$(stat -c %s "$out/dump/vmcore")
dsize=$(stat -c %s "$out/dump/dmesg.txt")
e2e_json "$out/dump/meta.json" \
	"m['status'] == 'incomplete'" "m['incomplete'] is True" "'No space left' in (m['error'] or '')" \
	"m['dump']['file'] == 'vmcore' and m['dump']['bytes'] == $size" \
	"m['dmesg'] == {'file': 'dmesg.txt', 'bytes': $dsize}" \
	"m['pages']['written'] < m['pages']['dumpable']" "m['osrelease'] == '$kver'"
"$build/salvage" info --json "$out/dump/vmcore" >"$out/info.json" ||
	sv_die "salvage info cannot read the incomplete dump"
"$SV_PYTHON" -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["incomplete"] is True else 1)' \
	"$out/info.json" || sv_die "salvage info does not say incomplete"
"$build/salvage" info "$out/dump/vmcore" | grep -E '^incomplete: +yes' >/dev/null ||
	sv_die "salvage info (text) does not say incomplete"
t_ok "meta.json and salvage info say incomplete"

# dmesg.txt is whole: early marker, the crash, and the panic's trace to its end
for want in "$SV_MARKER" 'sysrq: Trigger a crash' 'Kernel panic - not syncing: sysrq triggered crash'; do
	grep -q "$want" "$out/dump/dmesg.txt" || sv_die "dmesg.txt lacks '$want'"
done
awk '/Kernel panic - not syncing/ { p = 1 } p && /Call Trace:/ { c = 1 } END { exit !(p && c) }' \
	"$out/dump/dmesg.txt" || sv_die "dmesg.txt lacks the panic's call trace"
tail -n 1 "$out/dump/dmesg.txt" | grep -q '</TASK>' ||
	sv_die "dmesg.txt does not end with the panic's stack trace: $(tail -n 1 "$out/dump/dmesg.txt")"

t_ok "dmesg.txt complete"
ok=1
sv_log "e2e-full OK: incomplete dump of $size bytes marked and readable, dmesg.txt $dsize bytes complete, rebooted; qemu ${t_qemu}s, total $(sv_elapsed "$t_all")s"
t_summary
