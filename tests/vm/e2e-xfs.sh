#!/bin/bash
# tests/vm/e2e-xfs.sh - the agent's other file system and device spec: an XFS
# target found by UUID=, whose module (xfs, with libcrc32c from modules.dep)
# the agent loads only once it has read the superblock; zlib codec from the
# image's configuration and a dump level given on the crash kernel's command
# line (salvage.level=23 through `salvage arm --append`).
#
# usage: e2e-xfs.sh [options] BUILD
#   BUILD            build directory with salvage and salvage-capture
#   --agent PATH     agent binary (default BUILD/salvage-capture)
#   --kver KVER      kernel ABI version (default: resolved; env SALVAGE_KVER)
#   --flavour F      kernel flavour (default cloud-amd64)
#   --out DIR        keep the console log and the extracted files in DIR
#   --timeout S      bound for the QEMU run (default 600)
#
# Files are taken out of the image with xfs_db (extent maps) and xfs-cat.py;
# makedumpfile --dump-dmesg (which reads zlib kdump files) is the oracle for
# the dump's own log.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/e2e-lib.sh"

e2e_args "$@"
e2e_start xfs qemu-system-x86_64 apt-cache timeout mkfs.xfs xfs_db ldd makedumpfile "$SV_PYTHON"

sv_use_kernel "$flavour"

# XFS needs 300 MiB at least; the image stays sparse
truncate -s 320M "$work/disk.img"
mkfs.xfs -q -L crashxfs "$work/disk.img" || sv_die "mkfs.xfs failed"
uuid=$(xfs_db -r -c uuid "$work/disk.img" | awk '{ print $3 }')
[ -n "$uuid" ] || sv_die "cannot read the XFS UUID"
probe=$("$agent" --init --probe "$work/disk.img")
[ "$probe" = "$(printf 'TYPE=xfs\nUUID=%s\nLABEL=crashxfs' "$uuid")" ] ||
	sv_die "salvage-capture --probe disagrees with xfs_db: $probe (uuid $uuid)"
t_ok "salvage-capture --probe = xfs_db"

"$build/salvage" mkinitramfs -o "$work/crash.img" --kver "$kver" --moddir "$SV_KROOT" \
	--target "disk:UUID=$uuid:/dumps" --codec zlib --agent "$agent" --wait 30 --timeout 300 |
	sed 's/^/[vm]   /' >&2
e2e_build_first_initramfs "$SV_VMLINUZ" "$work/crash.img" "$build/salvage" \
	"salvage.level=23" "$work/first.img"

e2e_boot " to XFS"
e2e_captured
grep -aq 'agent: target: UUID=.* is /dev/vda (xfs' "$out/console.log" || sv_die "the agent did not find the XFS target by UUID"
t_ok "the agent found the XFS target by UUID"

name=$(xfs_db -r -c 'ls /dumps' "$work/disk.img" | awk '$(NF - 1) ~ /^salvage-e2e-/ { print $(NF - 1) }')
[ "$(printf '%s\n' "$name" | grep -c .)" = 1 ] || sv_die "expected one dump directory in /dumps, found: $name"
mkdir -p "$out/dump"
for f in vmcore dmesg.txt meta.json; do
	"$SV_PYTHON" "$SV_LIBDIR/xfs-cat.py" "$work/disk.img" "/dumps/$name/$f" "$out/dump/$f" ||
		sv_die "cannot copy /dumps/$name/$f out of the XFS image"
done
size=$(stat -c %s "$out/dump/vmcore")
"$build/salvage" info --json "$out/dump/vmcore" >"$out/info.json" || sv_die "salvage info cannot read the dump"
e2e_json "$out/info.json" "m['compression'] == 'zlib'" "m['dump_level'] == 23" \
	"m['osrelease'] == '$kver'" "m['incomplete'] is False"
e2e_json "$out/dump/meta.json" "m['status'] == 'ok'" "m['target']['fstype'] == 'xfs'" \
	"m['target']['uuid'] == '$uuid'" "m['dump']['codec'] == 'zlib' and m['dump']['level'] == 23" \
	"m['dump']['bytes'] == $size"
t_ok "salvage info and meta.json: zlib, level 23, xfs"
makedumpfile --dump-dmesg "$out/dump/vmcore" "$out/dmesg.mdf" >"$out/mdf.log" 2>&1 ||
	{ cat "$out/mdf.log" >&2; sv_die "makedumpfile --dump-dmesg cannot read the dump"; }
for want in "$SV_MARKER" 'sysrq: Trigger a crash' 'Kernel panic - not syncing: sysrq triggered crash'; do
	grep -q "$want" "$out/dmesg.mdf" || sv_die "makedumpfile's log of the dump lacks '$want'"
	grep -q "$want" "$out/dump/dmesg.txt" || sv_die "dmesg.txt lacks '$want'"
done
t_ok "makedumpfile --dump-dmesg and dmesg.txt"
ok=1
sv_log "e2e-xfs OK: UUID=$uuid, xfs module loaded on demand, zlib level 23 dump of $size bytes read by salvage and makedumpfile; qemu ${t_qemu}s, total $(sv_elapsed "$t_all")s"
t_summary
