#!/usr/bin/env bash
# `salvage mkinitramfs` on a generated module tree: which modules go into the
# image (modules.dep dependencies, soft dependencies through modules.softdep
# and modules.alias, built-in ones left out), and the modules.dep and
# modules.softdep the image carries for the agent.  The tree is text made
# here; the image is read back by tests/tools/cpiols.py, not by our code.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
t_init kmod "${1:-}"
t_need_built "$BUILD/salvage"
KVER=9.9.9-test

rm -rf "$T_OUT"
M=$T_OUT/root/lib/modules/$KVER
mkdir -p "$M"
for f in kernel/fs/ext4/ext4.ko kernel/fs/jbd2/jbd2.ko kernel/lib/crc16.ko \
	kernel/crypto/crc32c_generic.ko kernel/arch/x86/crypto/crc32c-intel.ko \
	kernel/drivers/block/virtio_blk.ko kernel/lib/foo.ko kernel/lib/bar.ko \
	kernel/fs/xfs/xfs.ko kernel/lib/libcrc32c.ko kernel/lib/loop1.ko kernel/lib/loop2.ko; do
	mkdir -p "$M/$(dirname "$f")"
	echo "module $f" >"$M/$f"
done
cat >"$M/modules.dep" <<'EOF'
kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko kernel/lib/crc16.ko
kernel/fs/jbd2/jbd2.ko:
kernel/lib/crc16.ko:
kernel/crypto/crc32c_generic.ko:
kernel/arch/x86/crypto/crc32c-intel.ko:
kernel/drivers/block/virtio_blk.ko:
kernel/lib/foo.ko:
kernel/lib/bar.ko:
kernel/fs/xfs/xfs.ko: kernel/lib/libcrc32c.ko
kernel/lib/libcrc32c.ko:
kernel/lib/loop1.ko:
kernel/lib/loop2.ko:
EOF
# as depmod writes it; "cifs gcm" has no pre:/post: and is ignored, bar is
# never asked for, loop1 and loop2 want each other
cat >"$M/modules.softdep" <<'EOF'
# Soft dependencies extracted from modules themselves.
softdep ext4 pre: crypto-crc32c
softdep jbd2 pre: crypto-crc32c
softdep cifs gcm
softdep virtio_blk post: foo
softdep bar pre: foo
softdep xfs pre: crc16 loop1
softdep loop1 pre: loop2
softdep loop2 pre: loop1 nosuchmodule
EOF
cat >"$M/modules.alias" <<'EOF'
# Aliases extracted from modules themselves.
alias crypto-crc32c crc32c_generic
alias crypto-crc32c crc32c_intel
alias crc32c crc32c_generic
alias pci:v00001AF4d00001001sv*sd*bc*sc*i* virtio_blk
alias fs-ext4 ext4
EOF
: >"$M/modules.builtin"
# the image's /init: a stand-in, so that a sanitizer build (whose agent is
# dynamically linked, which mkinitramfs refuses) runs this test too; an ELF
# header without program headers is static as far as mkinitramfs can tell
"$PY" -c 'import struct, sys
sys.stdout.buffer.write(b"\x7fELF\x02\x01\x01" + bytes(9) +
    struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0, 64, 0, 0, 64, 56, 0, 64, 0, 0))' >"$T_OUT/agent"

img=$T_OUT/initrd.img
if ! "$BUILD/salvage" mkinitramfs -q -o "$img" --target dir:/var/crash --agent "$T_OUT/agent" --kver "$KVER" \
	--moddir "$T_OUT/root" --modules virtio_blk --fs ext4 --compress none 2>"$T_OUT/err"; then
	t_fail "mkinitramfs failed: $(cat "$T_OUT/err")"
else
	"$PY" "$T_HERE/tools/cpiols.py" "$img" "$T_OUT/x" >"$T_OUT/list" || t_fail "image unreadable"
	got=$(grep "^/lib/modules/$KVER/.*\.ko$" "$T_OUT/list" | sed "s|^/lib/modules/$KVER/||" | sort | tr '\n' ' ')
	want="kernel/arch/x86/crypto/crc32c-intel.ko kernel/crypto/crc32c_generic.ko kernel/drivers/block/virtio_blk.ko kernel/fs/ext4/ext4.ko kernel/fs/jbd2/jbd2.ko kernel/lib/crc16.ko kernel/lib/foo.ko "
	if [ "$got" = "$want" ]; then t_ok "ext4 image modules"; else t_fail "ext4 image modules: got '$got', want '$want'"; fi
	sd=$T_OUT/x/lib/modules/$KVER/modules.softdep
	printf 'softdep ext4 pre: crc32c_generic crc32c_intel\nsoftdep jbd2 pre: crc32c_generic crc32c_intel\nsoftdep virtio_blk post: foo\n' >"$T_OUT/sd.want"
	if cmp -s "$sd" "$T_OUT/sd.want"; then t_ok "image modules.softdep"; else t_fail "image modules.softdep: $(cat "$sd" 2>&1 | tr '\n' '|')"; fi
	if grep -qx 'kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko kernel/lib/crc16.ko' \
		"$T_OUT/x/lib/modules/$KVER/modules.dep"; then t_ok "image modules.dep"; else t_fail "image modules.dep lost ext4's line"; fi
fi

# xfs: its soft dependency crc16 comes in; loop1 and loop2 want each other
# and both come in once; a soft dependency not in the tree is skipped
img=$T_OUT/initrd-xfs.img
if ! "$BUILD/salvage" mkinitramfs -q -o "$img" --target dir:/var/crash --agent "$T_OUT/agent" --kver "$KVER" \
	--moddir "$T_OUT/root" --modules "" --fs xfs --compress none 2>"$T_OUT/err"; then
	t_fail "mkinitramfs (xfs) failed: $(cat "$T_OUT/err")"
else
	rm -rf "$T_OUT/x"
	"$PY" "$T_HERE/tools/cpiols.py" "$img" "$T_OUT/x" >"$T_OUT/list" || t_fail "xfs image unreadable"
	got=$(grep "^/lib/modules/$KVER/.*\.ko$" "$T_OUT/list" | sed "s|^/lib/modules/$KVER/||" | sort | tr '\n' ' ')
	want="kernel/fs/xfs/xfs.ko kernel/lib/crc16.ko kernel/lib/libcrc32c.ko kernel/lib/loop1.ko kernel/lib/loop2.ko "
	if [ "$got" = "$want" ]; then t_ok "xfs image modules"; else t_fail "xfs image modules: got '$got', want '$want'"; fi
	printf 'softdep xfs pre: crc16 loop1\nsoftdep loop1 pre: loop2\nsoftdep loop2 pre: loop1\n' >"$T_OUT/sd.want"
	if cmp -s "$T_OUT/x/lib/modules/$KVER/modules.softdep" "$T_OUT/sd.want"; then t_ok "xfs image modules.softdep"
	else t_fail "xfs image modules.softdep: $(tr '\n' '|' <"$T_OUT/x/lib/modules/$KVER/modules.softdep")"; fi
fi

# a tree without modules.softdep or modules.alias (older depmod) still works
rm "$M/modules.softdep" "$M/modules.alias"
if "$BUILD/salvage" mkinitramfs -q -o "$T_OUT/initrd-old.img" --target dir:/var/crash --agent "$T_OUT/agent" --kver "$KVER" \
	--moddir "$T_OUT/root" --modules virtio_blk --fs ext4 --compress none 2>"$T_OUT/err"; then
	rm -rf "$T_OUT/x"
	"$PY" "$T_HERE/tools/cpiols.py" "$T_OUT/initrd-old.img" "$T_OUT/x" >"$T_OUT/list"
	n=$(grep -c '\.ko$' "$T_OUT/list")
	if [ "$n" -eq 4 ] && [ ! -s "$T_OUT/x/lib/modules/$KVER/modules.softdep" ]; then t_ok "tree without softdep"
	else t_fail "tree without softdep: $n modules"; fi
else
	t_fail "mkinitramfs without modules.softdep failed: $(cat "$T_OUT/err")"
fi

t_summary
