# shellcheck shell=bash
# shellcheck disable=SC2034  # XE_* variables are read by the sourcing scripts
# tests/vm/xen-lib.sh - helpers of xen-e2e.sh (sourced after lib.sh): Debian's
# Xen hypervisor from the package archive, the dom0 initramfs that arms the
# crash kernel through kexec-tools, the crash initramfs that runs the static
# salvage-capture, and the QEMU command line that boots them.
#
# Cache ($SALVAGE_CACHE, default /var/cache/salvage):
#   debs/xen-hypervisor-4.17-amd64{,-dbg}_*.deb
#   xen/VERSION/xen          the multiboot ELF (zcat of boot/xen-*.gz)
#   xen/VERSION/xen-syms     the -dbg package's symbol file (no DWARF)
#   xen/VERSION/.ready       stamp
#
# Functions are prefixed xe_; they report errors with sv_die.

XE_XEN_PKG=${XE_XEN_PKG:-xen-hypervisor-4.17-amd64}
XE_DOM0_MEM=768            # MiB, dom0_mem=768M,max:768M
XE_MEM=2048                # MiB of the machine
XE_CRASHKERNEL="256M@1G"
XE_MARKER=salvage-xen-marker
XE_DONE="SALVAGE: capture done rc="

# xe_prepare_xen -> sets XE_XEN (multiboot image), XE_SYMS (xen-syms), XE_XVER
xe_prepare_xen() {
	local deb dbg ver dir tmp
	sv_lock
	deb=$(ls -t "$SALVAGE_CACHE/debs/${XE_XEN_PKG}_"*.deb 2>/dev/null | head -n 1 || true)
	if [ -z "$deb" ] || ! dpkg-deb --info "$deb" >/dev/null 2>&1; then
		deb=$(sv_apt_download "$XE_XEN_PKG" "$SALVAGE_CACHE/debs") || exit 1
	fi
	dbg=$(ls -t "$SALVAGE_CACHE/debs/${XE_XEN_PKG}-dbg_"*.deb 2>/dev/null | head -n 1 || true)
	if [ -z "$dbg" ] || ! dpkg-deb --info "$dbg" >/dev/null 2>&1; then
		dbg=$(sv_apt_download "$XE_XEN_PKG-dbg" "$SALVAGE_CACHE/debs") || exit 1
	fi
	ver=$(dpkg-deb -f "$deb" Version)
	dir=$SALVAGE_CACHE/xen/$ver
	if [ ! -e "$dir/.ready" ]; then
		tmp=$dir.tmp
		rm -rf "$tmp" "$dir"
		mkdir -p "$tmp"
		dpkg -x "$deb" "$tmp/root" || sv_die "dpkg -x $deb failed"
		dpkg -x "$dbg" "$tmp/root" || sv_die "dpkg -x $dbg failed"
		zcat "$tmp"/root/boot/xen-*.gz >"$tmp/xen" || sv_die "no boot/xen-*.gz in $deb"
		cp "$(find "$tmp/root/usr/lib/debug" -name 'xen-syms-*' ! -name '*.map' | head -n 1)" \
			"$tmp/xen-syms" || sv_die "no xen-syms in $dbg"
		rm -rf "$tmp/root"
		mv "$tmp" "$dir"
		touch "$dir/.ready"
	fi
	sv_unlock
	XE_XEN=$dir/xen
	XE_SYMS=$dir/xen-syms
	XE_XVER=$ver
}

# xe_build_crash_initramfs MODDIR CAPTURE RAW OUT
# The crash kernel (booted natively by Xen's kexec): load virtio, mount the
# ext4 disk /dev/vda, run `salvage-capture -X -d 31` into it; with RAW=1 also
# copy /proc/vmcore raw to /dev/vdb.  Prints "$XE_DONE<rc>" and powers off.
xe_build_crash_initramfs() {
	local stage
	# the -amd64 kernel has ext4 as a module, unlike the cloud kernel
	sv_stage xen-crash "$1" $SV_VIRTIO_MODULES crc32c_generic ext4
	stage=$SV_STAGE
	cp "$2" "$stage/bin/salvage-capture"
	mkdir -p "$stage/mnt"
	echo "$3" >"$stage/etc/raw"
	sv_write_init "$stage" capture <<'EOF'
# salvage Xen test capture init (crash kernel, native after Xen's kexec)
if [ ! -r /proc/vmcore ]; then
	say "ERROR: no /proc/vmcore"
elif ! mount -t ext4 /dev/vda /mnt; then
	say "ERROR: cannot mount /dev/vda"
else
	say "vmcore-size $(stat -c %s /proc/vmcore)"
	t0=$(up)
	salvage-capture -X -d 31 --message-level 23 --progress=off /proc/vmcore /mnt/vmcore \
		>/mnt/capture.log 2>&1
	rc=$?
	t1=$(up)
	cat /mnt/capture.log
	say "capture-seconds $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') rc=$rc"
	ls -l /mnt
	sync
	umount /mnt
	if [ "$(cat /etc/raw)" = 1 ] && [ -b /dev/vdb ]; then
		say "raw copy of /proc/vmcore to /dev/vdb at $(up)s"
		dd if=/proc/vmcore of=/dev/vdb bs=4M oflag=direct 2>/tmp/dd.err || rc=$?
		cat /tmp/dd.err
		sync
	fi
fi
EOF
	sv_pack "$stage" "$4"
}

# xe_build_dom0_initramfs MODDIR VMLINUZ CRASH_IMG KEXEC CMDLINE OUT
# dom0: Xen's control modules, xenfs, kexec-tools' kexec (with its shared
# libraries) loads the crash kernel into the hypervisor; then sysrq crash.
xe_build_dom0_initramfs() {
	local kexec=$4 cmdline=$5 out=$6 stage
	sv_stage_first xen-dom0 "$2" "$3" "$XE_MARKER" "$1" xen-evtchn xen-privcmd xenfs
	stage=$SV_STAGE
	mkdir -p "$stage/proc/xen"
	sv_stage_dynamic "$stage" "$kexec" /bin/kexec
	printf '%s\n' "$cmdline" >"$stage/etc/crash-cmdline"
	sv_write_init "$stage" crash <<'EOF'
# salvage Xen test init (PV dom0): arm the crash kernel through Xen, crash.
say "dom0 $(uname -r) up $(up)s"
load_modules
mount -t xenfs xenfs /proc/xen || fail "mount xenfs failed"
hostname xen-dom0-e2e
echo "$(cat /etc/marker)" >/dev/kmsg
# something recognisable in dom0's page cache and anonymous memory
dd if=/dev/urandom of=/tmp/filler bs=1M count=64 2>/dev/null
kexec -p /boot/vmlinuz --initrd=/boot/crash.img --append="$(cat /etc/crash-cmdline)" ||
	fail "kexec -p failed"
say "crash kernel loaded through Xen at $(up)s, crashing"
# dom0's own task list into its kernel log, the oracle of `ps --dom0`: one
# "salvage-ps TID COMM" record per thread from /proc/*/task/*/stat, then
# "salvage-ps-end N".  The lister is this init (PID 1) with shell builtins
# only, and only the sync that sv_write_init appends runs between it and
# the sysrq write (waited for), so no user task differs at the crash.
# Level <15> (user.debug) keeps it off the console; one open per record.
echo on >/proc/sys/kernel/printk_devkmsg 2>/dev/null
n=0
for s in /proc/[0-9]*/task/[0-9]*/stat; do
	l=
	read -r l 2>/dev/null <"$s" || [ -n "$l" ] || continue
	c=${l#*\(}
	echo "<15>salvage-ps ${l%% *} ${c%\)*}" >/dev/kmsg
	n=$((n + 1))
done
echo "<15>salvage-ps-end $n" >/dev/kmsg
EOF
	sv_pack "$stage" "$out"
}

# xe_qemu XEN DOM0_VMLINUZ DOM0_IMG DISK RAWDISK TIMEOUT LOG -> sets XE_QRC
xe_qemu() {
	local xen=$1 vmlinuz=$2 img=$3 disk=$4 raw=$5 timeout_s=$6 log=$7 extra=()
	[ -z "$raw" ] || extra=(-drive "file=$raw,format=raw,if=virtio")
	XE_QRC=0
	timeout -k 10 "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max,-smap,-smep,-pku,-la57 \
		-m "$XE_MEM" -smp 2 -nographic -no-reboot -nic none \
		-kernel "$xen" \
		-append "console=com1 com1=115200,8n1 dom0_mem=${XE_DOM0_MEM}M,max:${XE_DOM0_MEM}M crashkernel=$XE_CRASHKERNEL loglvl=all guest_loglvl=all" \
		-initrd "$vmlinuz console=hvc0 panic=1,$img" \
		-drive "file=$disk,format=raw,if=virtio" "${extra[@]}" \
		</dev/null >"$log" 2>"$log.stderr" || XE_QRC=$?
}
