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

# xe_ps_lister: the init lines (busybox sh, shell builtins only) that write
# the guest's own task list into its kernel log, the oracle of `salvage ps`:
# one "salvage-ps TID COMM" record per thread from /proc/*/task/*/stat, then
# "salvage-ps-end N".  The dom0 and the domU inits both end with it.
xe_ps_lister() {
	cat <<'EOF'
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
	sv_write_init "$stage" crash < <(
		cat <<'EOF'
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
EOF
		xe_ps_lister
	)
	sv_pack "$stage" "$out"
}

# xe_qemu XEN DOM0_VMLINUZ DOM0_IMG DISK RAWDISK TIMEOUT LOG -> sets XE_QRC
xe_qemu() {
	local xen=$1 vmlinuz=$2 img=$3 disk=$4 raw=$5 timeout_s=$6 log=$7 extra=()
	[ -z "$raw" ] || extra=(-drive "file=$raw,format=raw,if=virtio")
	XE_QRC=0
	timeout -k 10 "$timeout_s" qemu-system-x86_64 -accel tcg -cpu "${XE_CPU:-max,-smap,-smep,-pku,-la57}" \
		-m "$XE_MEM" -smp 2 -nographic -no-reboot -nic none \
		-kernel "$xen" \
		-append "console=com1 com1=115200,8n1 dom0_mem=${XE_DOM0_MEM}M,max:${XE_DOM0_MEM}M crashkernel=$XE_CRASHKERNEL loglvl=all guest_loglvl=all${XE_XEN_EXTRA:+ $XE_XEN_EXTRA}" \
		-initrd "$vmlinuz console=hvc0 panic=1,$img" \
		-drive "file=$disk,format=raw,if=virtio" "${extra[@]}" \
		</dev/null >"$log" 2>"$log.stderr" || XE_QRC=$?
}

# ---------------------------------------------------------------------------
# The toolstack in dom0 and PV domUs (xen-domu-e2e.sh).
#
# Cache:
#   debs/xen-utils-4.17_*.deb, xenstore-utils_*.deb, libxen*_*.deb
#   xen-tools/VERSION/root     dpkg -x of them all (VERSION: xen-utils')
#   xen-tools/VERSION/.ready   stamp
XE_TOOLS_PKGS="xen-utils-4.17 xenstore-utils"
XE_TOOLS_BIN=usr/lib/xen-4.17/bin
# the dom0 programs the toolstack needs, from $XE_TOOLS_BIN
XE_TOOLS_PROGS="xl xenstored xenconsoled xen-init-dom0"
XE_DOMU_MARKER=salvage-domu-marker
XE_DOMU_STAY_MARKER=salvage-domu-stay-marker

# xe_cached_deb PKG -> prints the newest cached .deb of PKG, downloading it
# when there is none (call with the cache lock held)
xe_cached_deb() {
	local deb
	deb=$(ls -t "$SALVAGE_CACHE/debs/${1}_"*.deb 2>/dev/null | head -n 1 || true)
	if [ -z "$deb" ] || ! dpkg-deb --info "$deb" >/dev/null 2>&1; then
		deb=$(sv_apt_download "$1" "$SALVAGE_CACHE/debs") || exit 1
	fi
	echo "$deb"
}

# xe_prepare_toolstack -> sets XE_TROOT (the unpacked xen-utils, xenstore-utils
# and every libxen* library package they need, transitively) and XE_TVER.
# The libraries come from the packages of the same Xen build as the tools, not
# from the host: libxenctrl's hypercall interface must match the hypervisor.
xe_prepare_toolstack() {
	local deb ver dir tmp pkg pkgs="" next more i
	sv_lock
	deb=$(xe_cached_deb xen-utils-4.17) || exit 1
	ver=$(dpkg-deb -f "$deb" Version)
	dir=$SALVAGE_CACHE/xen-tools/$ver
	if [ ! -e "$dir/.ready" ]; then
		# the library packages: libxen* names in Depends, to a fixed point
		next=$XE_TOOLS_PKGS
		for i in 1 2 3 4 5; do
			more=""
			for pkg in $next; do
				case " $pkgs " in *" $pkg "*) continue ;; esac
				pkgs="$pkgs $pkg"
				more="$more $(apt-cache depends "$pkg" 2>/dev/null |
					awk '$1 == "Depends:" && $2 ~ /^libxen/ { print $2 }')"
			done
			next=$more
			[ -n "${next// /}" ] || break
		done
		tmp=$dir.tmp
		rm -rf "$tmp" "$dir"
		mkdir -p "$tmp"
		for pkg in $pkgs; do
			deb=$(xe_cached_deb "$pkg") || exit 1
			[ "$(dpkg-deb -f "$deb" Version)" = "$ver" ] ||
				sv_die "$deb is not version $ver of xen-utils-4.17 (a stale .deb in the cache? remove it)"
			dpkg -x "$deb" "$tmp/root" || sv_die "dpkg -x $deb failed"
		done
		for pkg in $XE_TOOLS_PROGS; do
			[ -x "$tmp/root/$XE_TOOLS_BIN/$pkg" ] || sv_die "no $XE_TOOLS_BIN/$pkg in$pkgs"
		done
		echo "$pkgs" >"$tmp/packages"
		mv "$tmp" "$dir"
		touch "$dir/.ready"
	fi
	sv_unlock
	XE_TROOT=$dir/root
	XE_TVER=$ver
}

# xe_stage_tools STAGE -> the toolstack programs at their packaged paths
# (/usr/lib/xen-4.17/bin; xenstore-read/-write/-ls/-list as links to the
# multi-call /usr/bin/xenstore) and every library they need, in
# /usr/lib/x86_64-linux-gnu (the init sets LD_LIBRARY_PATH): the Xen ones
# from XE_TROOT, the rest (libc, yajl, zstd, lzma ..., and libgcc_s, which
# glibc loads for pthread_cancel) from the host
xe_stage_tools() {
	local stage=$1 p lib libpath bins="" missing
	libpath=$XE_TROOT/usr/lib/x86_64-linux-gnu:$XE_TROOT/usr/lib/xen-4.17/lib/x86_64-linux-gnu
	mkdir -p "$stage/$XE_TOOLS_BIN" "$stage/usr/bin" "$stage/usr/lib/x86_64-linux-gnu" "$stage/lib64"
	for p in $XE_TOOLS_PROGS; do
		cp "$XE_TROOT/$XE_TOOLS_BIN/$p" "$stage/$XE_TOOLS_BIN/$p"
		bins="$bins $XE_TROOT/$XE_TOOLS_BIN/$p"
	done
	cp "$XE_TROOT/usr/bin/xenstore" "$stage/usr/bin/xenstore"
	bins="$bins $XE_TROOT/usr/bin/xenstore"
	for p in read write ls list rm exists; do ln -sf xenstore "$stage/usr/bin/xenstore-$p"; done
	# shellcheck disable=SC2086
	missing=$(for p in $bins; do LD_LIBRARY_PATH=$libpath ldd "$p"; done | awk '/not found/ { print $1 }' | sort -u)
	[ -z "$missing" ] || sv_die "the toolstack needs libraries that neither its packages nor the host have: $missing"
	for lib in $(for p in $bins; do LD_LIBRARY_PATH=$libpath ldd "$p"; done | awk '/=> \// { print $3 }' | sort -u); do
		cp -L "$lib" "$stage/usr/lib/x86_64-linux-gnu/$(basename "$lib")"
	done
	cp -L /lib64/ld-linux-x86-64.so.2 "$stage/lib64/ld-linux-x86-64.so.2"
	# glibc dlopens libgcc_s for pthread_cancel (xl's threads): ldd cannot see it
	# (awk reads to the end: leaving early would kill ldconfig with SIGPIPE,
	# which pipefail and set -e made this script's exit, 141)
	lib=$(ldconfig -p | awk '!found && $1 == "libgcc_s.so.1" && /x86-64/ { print $NF; found = 1 }')
	[ -n "$lib" ] || sv_die "no libgcc_s.so.1 on the host (libgcc-s1)"
	cp -L "$lib" "$stage/usr/lib/x86_64-linux-gnu/libgcc_s.so.1"
}

# xe_build_domu_initramfs OUT -> a PV domU's initramfs (busybox, no
# modules: the -amd64 kernel has the Xen console built in).  Its /init reads
# salvage_mode= from the kernel command line:
#   crash: two named idle tasks and the marker into the kernel log, the task
#          listing (as xen-e2e's dom0 writes it), then sysrq crash;
#   stay:  the idle tasks and the stay marker, then it sleeps.
xe_build_domu_initramfs() {
	local stage
	sv_stage xen-domu
	stage=$SV_STAGE
	sv_stage_idle_tasks "$stage"
	printf '%s\n' "$XE_DOMU_MARKER" >"$stage/etc/marker"
	printf '%s\n' "$XE_DOMU_STAY_MARKER" >"$stage/etc/stay-marker"
	sv_write_init "$stage" < <(
		cat <<'EOF'
# salvage Xen test init (PV domU)
mode=crash
for a in $(cat /proc/cmdline); do
	case $a in salvage_mode=*) mode=${a#salvage_mode=} ;; esac
done
hostname "salvage-domu-$mode"
say "domU $(uname -r) up $(up)s, mode $mode"
for t in $(cat /etc/idle-tasks); do
	"/bin/$t" &
	echo "salvage-task name=$t pid=$!" >/dev/kmsg
done
if [ "$mode" = stay ]; then
	echo "$(cat /etc/stay-marker)" >/dev/kmsg
	while :; do sleep 3600; done
fi
echo "$(cat /etc/marker)" >/dev/kmsg
# the domU's own task list (as xen-e2e's dom0 writes its own): one
# "salvage-ps TID COMM" record per thread, then "salvage-ps-end N"; only
# shell builtins run between it and the sysrq write
EOF
		xe_ps_lister
		cat <<'EOF'
echo c >/proc/sysrq-trigger
fail "still alive after sysrq-trigger"
EOF
	)
	sv_pack "$stage" "$1"
}

# xe_domu_kernel VMLINUZ OUT -> OUT: the bzImage's payload decompressed
# (the kernel's ELF, the same build) and gzip -1'd, cached beside VMLINUZ's
# kernel as domu-vmlinux.gz.  libxenguest would unpack the bzImage's xz
# itself, in dom0, under TCG: about 30 s per domU; gunzip is a few seconds.
xe_domu_kernel() {
	local vmlinuz=$1 out=$2 cached tmp
	cached=$(dirname "$(dirname "$vmlinuz")")/../domu-vmlinux.gz
	if [ ! -s "$cached" ]; then
		tmp=$cached.tmp$$
		# setup header: setup_sects at 0x1f1, payload_offset/length at 0x248
		"$SV_PYTHON" -c 'import struct, sys
d = open(sys.argv[1], "rb").read()
if d[0x202:0x206] != b"HdrS": sys.exit("not a bzImage: " + sys.argv[1])
off, n = struct.unpack_from("<II", d, 0x248)
off += ((d[0x1f1] or 4) + 1) * 512
sys.stdout.buffer.write(d[off:off + n])' "$vmlinuz" >"$tmp.payload" || sv_die "no payload in $vmlinuz"
		case $(od -An -tx1 -N4 "$tmp.payload" | tr -d ' ') in
		fd377a58) xz -dc --single-stream "$tmp.payload" ;;
		28b52ffd) zstd -dcq "$tmp.payload" ;;
		# the cloud kernel's: LZ4 legacy frames, then the kernel's le32
		# of the decompressed size, which lz4 takes for a bad frame
		# (exit 1): the size is checked instead
		02214c18) lz4 -dcq "$tmp.payload" || true ;;
		1f8b*) gzip -dc "$tmp.payload" ;;
		*) sv_die "$vmlinuz: payload compression not known (xz, zstd, lz4, gzip)" ;;
		esac >"$tmp.elf" || sv_die "cannot decompress the payload of $vmlinuz"
		[ "$(od -An -c -N4 "$tmp.elf" | tr -d ' ')" = '177ELF' ] || sv_die "$vmlinuz: the payload is no ELF"
		[ "$(stat -c %s "$tmp.elf")" = "$(tail -c 4 "$tmp.payload" | od -An -tu4 | tr -d ' ')" ] ||
			sv_die "$vmlinuz: the payload decompressed is not the size its last word says"
		gzip -1 -n -c "$tmp.elf" >"$tmp" || sv_die "gzip failed"
		rm -f "$tmp.payload" "$tmp.elf"
		mv "$tmp" "$cached"
	fi
	cp "$cached" "$out"
}

XE_DOMU_MEM=${XE_DOMU_MEM:-128}   # MiB of each domU
XE_DOMU_VCPUS=2                    # of the domU that crashes (the other has 1)
XE_DOMU_WAIT=600                   # seconds dom0 waits for a domU step, at most
XE_DOMU_TAR_DONE="SALVAGE: domu tar written rc="

# xe_domu_cfg NAME MODE VCPUS ON_CRASH -> an xl domain configuration
xe_domu_cfg() {
	cat <<EOF
name = "$1"
type = "pv"
kernel = "/boot/domu-vmlinux.gz"
ramdisk = "/boot/domu.img"
extra = "console=hvc0 ignore_loglevel salvage_mode=$2"
memory = $XE_DOMU_MEM
vcpus = $3
on_crash = "$4"
EOF
}

# xe_build_toolstack_dom0_initramfs MODDIR VMLINUZ CRASH_IMG KEXEC CMDLINE DOMU_IMG OUT
# (the domUs run XE_DOMU_VMLINUZ when set, else VMLINUZ's kernel)
# dom0 with the toolstack (xe_stage_tools): xenstored, xen-init-dom0,
# xenconsoled logging the guests' consoles; `xl create` of salvage-domu1
# (on_crash coredump-destroy), which crashes, and its core waited for; then
# salvage-domu2, which stays; a tar of the core, both consoles, xl's logs and
# the domain list onto /dev/vdb; then the crash kernel through Xen (kexec -p,
# CMDLINE plus "salvage.KEY=ID" of salvage-domu2, KEY from XE_DOMAINS_KEY
# when set: the agent's key of salvage-capture --domains) and dom0's crash.
xe_build_toolstack_dom0_initramfs() {
	local kexec=$4 cmdline=$5 domu=$6 out=$7 stage
	sv_stage_first xen-dom0t "$2" "$3" "$XE_MARKER" "$1" xen-evtchn xen-privcmd xenfs xen-gntdev \
		xen-gntalloc $SV_VIRTIO_MODULES
	stage=$SV_STAGE
	mkdir -p "$stage/proc/xen" "$stage/etc/xen" "$stage/var/lib/xen/dump" "$stage/var/log/xen/console" \
		"$stage/var/lib/xenstored" "$stage/var/lock"
	ln -s ../run "$stage/var/run"
	sv_stage_dynamic "$stage" "$kexec" /bin/kexec
	xe_stage_tools "$stage"
	cp "$domu" "$stage/boot/domu.img"
	xe_domu_kernel "${XE_DOMU_VMLINUZ:-$2}" "$stage/boot/domu-vmlinux.gz"
	printf '%s\n' "$cmdline" >"$stage/etc/crash-cmdline"
	printf '%s\n' "$XE_DOMAINS_KEY" >"$stage/etc/domains-key"
	printf '%s\n' "$XE_DOMU_WAIT" >"$stage/etc/domu-wait"
	printf 'autoballoon="off"\nlockfile="/var/lock/xl"\n' >"$stage/etc/xen/xl.conf"
	xe_domu_cfg salvage-domu1 crash "$XE_DOMU_VCPUS" coredump-destroy >"$stage/etc/xen/domu1.cfg"
	xe_domu_cfg salvage-domu2 stay 1 destroy >"$stage/etc/xen/domu2.cfg"
	sv_write_init "$stage" crash <<'EOF'
# salvage Xen domU test init (PV dom0 with the toolstack)
export PATH=/bin:/usr/bin:/usr/lib/xen-4.17/bin
export LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu:/lib/x86_64-linux-gnu
say "dom0 $(uname -r) up $(up)s"
load_modules
mount -t xenfs xenfs /proc/xen || fail "mount xenfs failed"
grep -q control_d /proc/xen/capabilities || fail "not the control domain"
hostname xen-dom0-e2e
echo "$(cat /etc/marker)" >/dev/kmsg
mkdir -p /run/xen /run/xenstored /run/lock /dev/pts
# xenconsoled gives each guest console a pty
mount -t devpts devpts /dev/pts || fail "mount devpts failed"
wait_s=$(cat /etc/domu-wait)
# waitfor WHAT COMMAND...: COMMAND every second until it succeeds, at most wait_s
waitfor() {
	what=$1
	shift
	i=0
	until "$@" >/dev/null 2>&1; do
		[ $i -lt "$wait_s" ] || return 1
		sleep 1
		i=$((i + 1))
	done
	say "$what at $(up)s"
}
show() { sed "s/^/SALVAGE: $1| /" "$2" 2>/dev/null; }
XENSTORED_ROOTDIR=/run/xenstored xenstored --pid-file /run/xenstore.pid || fail "xenstored failed"
waitfor "xenstored answers" xenstore-read -s / || fail "xenstored does not answer"
xen-init-dom0 || fail "xen-init-dom0 failed"
xenconsoled --pid-file /run/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console ||
	fail "xenconsoled failed"
say "toolstack up at $(up)s"
# the guests' consoles on dom0's, prefixed (for the log; the checks use the files)
cons=/var/log/xen/console
for d in 1 2; do
	(
		i=0
		while [ ! -e "$cons/guest-salvage-domu$d.log" ] && [ $i -lt $((wait_s * 2)) ]; do
			sleep 0.5
			i=$((i + 1))
		done
		tail -f "$cons/guest-salvage-domu$d.log" | while read -r l; do echo "domu$d| $l"; done
	) 2>/dev/null &
done
xl -v create /etc/xen/domu1.cfg >/tmp/xl-create1.log 2>&1 || { show xl /tmp/xl-create1.log; fail "xl create domu1 failed"; }
say "domu1 created at $(up)s"
# the second domU boots while the first crashes and is dumped
xl -v create /etc/xen/domu2.cfg >/tmp/xl-create2.log 2>&1 || { show xl /tmp/xl-create2.log; fail "xl create domu2 failed"; }
say "domu2 created at $(up)s"
# xl create's child, logging to /var/log/xen/xl-NAME.log ("Waiting for
# domain NAME (domid N) to die [pid P]"), writes the core when the domain
# crashes, destroys it and exits: wait for that pid (kill -0, a builtin:
# polling xl itself would cost the guests CPU under TCG)
xlog=/var/log/xen/xl-salvage-domu1.log
waitfor "xl watches domu1" grep -q "Waiting for domain salvage-domu1" "$xlog" || fail "no xl watcher for domu1"
xlpid=$(sed -n 's/.*Waiting for domain salvage-domu1 .*\[pid \([0-9]*\)\].*/\1/p' "$xlog")
[ -n "$xlpid" ] || { show xl "$xlog"; fail "no pid of xl's watcher of domu1"; }
gone() { ! kill -0 "$xlpid"; }
waitfor "domu1 crashed, dumped and destroyed" gone ||
	{ show domu1 /var/log/xen/console/guest-salvage-domu1.log; fail "domu1 still there after ${wait_s}s"; }
show xl "$xlog"
core=$(ls /var/lib/xen/dump/ | head -n 1)
[ -n "$core" ] || fail "no core in /var/lib/xen/dump"
say "core /var/lib/xen/dump/$core $(stat -c %s "/var/lib/xen/dump/$core") bytes"
up2() { grep -q "$(cat /etc/stay-marker)" /var/log/xen/console/guest-salvage-domu2.log; }
waitfor "domu2 up" up2 || { show domu2 /var/log/xen/console/guest-salvage-domu2.log; fail "domu2 did not come up"; }
id=$(xl domid salvage-domu2) || fail "no domain id of domu2"
echo "salvage-domu2 domid=$id" >/dev/kmsg
mkdir -p /out
xl list >/out/xl-list.txt 2>&1
echo "$id" >/out/domu2-id
cat /out/xl-list.txt
mv "/var/lib/xen/dump/$core" /out/domu1.core
cp /var/log/xen/console/guest-salvage-domu1.log /out/domu1-console.log
cp /var/log/xen/console/guest-salvage-domu2.log /out/domu2-console.log
cp /var/log/xen/xl-salvage-domu1.log /out/xl-domu1.log 2>/dev/null
cp /var/log/xen/xl-salvage-domu2.log /out/xl-domu2.log 2>/dev/null
waitfor "/dev/vdb" test -b /dev/vdb || fail "no /dev/vdb"
# O_DIRECT with large blocks, as make-vmcore's copy (tar's output is
# whole 512-byte blocks)
tar -C /out -cf - . | dd of=/dev/vdb bs=4M iflag=fullblock oflag=direct 2>/tmp/dd.err
rc=$?
cat /tmp/dd.err
sync
say "domu tar written rc=$rc at $(up)s"
rm -f /out/domu1.core
append=$(cat /etc/crash-cmdline)
key=$(cat /etc/domains-key)
[ -z "$key" ] || append="$append salvage.$key=$id"
kexec -p /boot/vmlinuz --initrd=/boot/crash.img --append="$append" || fail "kexec -p failed"
say "crash kernel loaded through Xen at $(up)s, crashing dom0 with domain $id running"
EOF
	printf '%s\n' "$XE_DOMU_STAY_MARKER" >"$stage/etc/stay-marker"
	sv_pack "$stage" "$out"
}
