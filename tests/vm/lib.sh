# shellcheck shell=bash
# shellcheck disable=SC2034  # SV_* variables are read by the sourcing scripts
# tests/vm/lib.sh - helpers for the QEMU end-to-end harness (sourced, bash).
#
# Everything downloaded comes from Debian's package archive through apt-get
# and is cached under $SALVAGE_CACHE (default /var/cache/salvage):
#
#   $SALVAGE_CACHE/debs/                    linux-image-KVER_*.deb (kept, ~27 MB)
#   $SALVAGE_CACHE/kernels/KVER/root/       dpkg -x of the image package + depmod
#   $SALVAGE_CACHE/kernels/KVER/.ready      stamp: extraction and depmod finished
#   $SALVAGE_CACHE/kernels/KVER/vmlinux     from linux-image-KVER-dbg (get-vmlinux.sh)
#   $SALVAGE_CACHE/build/kexec-load         static helper, rebuilt when the source changes
#   $SALVAGE_CACHE/.lock                    flock(1) serialising cache updates
#
# Functions are prefixed sv_. They report errors with sv_die (exit 1).  The
# test harness tests/lib.sh comes with this file: an e2e script that called
# t_init (e2e_start does) counts an sv_die as its failed check.

SV_LIBDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$SV_LIBDIR/../lib.sh"
SALVAGE_CACHE=${SALVAGE_CACHE:-/var/cache/salvage}
SV_PYTHON=${SV_PYTHON:-/usr/bin/python3}   # Debian's python, standard library only

# Virtio modules for a disk in the cloud kernel, in the order known to work.
# Dependencies listed in modules.dep are added automatically and built-in
# modules (modules.builtin, e.g. virtio_pci in 6.12) are skipped.
SV_VIRTIO_MODULES="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk"

# Lines printed by the guest init scripts and looked for by the host.
SV_MARKER=salvage-test-marker
SV_IDLE_TASKS="salvage-idle-a salvage-idle-b"
SV_CAPTURE_OK="SALVAGE: capture done rc=0"

sv_log() { printf '[vm] %s\n' "$*" >&2; }
# sv_die MESSAGE: in a test's own shell a failed check (t_fail; its EXIT trap
# prints the closing line), else an error line on stderr; exit 1
sv_die() {
	if [ -n "${T_NAME:-}" ] && [ "$BASHPID" = "$$" ]; then
		t_fail "$T_NAME" "$*"
	else
		printf '[vm] ERROR: %s\n' "$*" >&2
	fi
	exit 1
}
sv_now() { date +%s.%N; }
# sv_elapsed START -> seconds since START with 1 decimal
sv_elapsed() { awk -v s="$1" -v e="$(sv_now)" 'BEGIN { printf "%.1f", e - s }'; }

sv_need() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || sv_die "missing tool '$t' (see tests/vm/README.md for packages)"
	done
}

sv_cache_init() {
	mkdir -p "$SALVAGE_CACHE/debs" "$SALVAGE_CACHE/kernels" "$SALVAGE_CACHE/build" ||
		sv_die "cannot create cache directory $SALVAGE_CACHE (set SALVAGE_CACHE)"
}

# Serialise cache updates between concurrent runs (fd 9; bounded wait).
sv_lock() {
	exec 9>"$SALVAGE_CACHE/.lock" || sv_die "cannot open $SALVAGE_CACHE/.lock"
	flock -w "${SV_LOCK_TIMEOUT:-3600}" 9 || sv_die "timed out waiting for $SALVAGE_CACHE/.lock"
}
sv_unlock() { exec 9>&-; }

# sv_resolve_kver [FLAVOUR] -> prints the ABI version the metapackage
# linux-image-FLAVOUR depends on, e.g. cloud-amd64 -> 6.1.0-56-cloud-amd64,
# 6.12-cloud-amd64 -> 6.12.117+deb12-cloud-amd64.
# Resolved from the local apt index (no network). $SALVAGE_KVER overrides.
sv_resolve_kver() {
	local flavour=${1:-cloud-amd64} pkg
	if [ -n "${SALVAGE_KVER:-}" ]; then
		echo "$SALVAGE_KVER"
		return
	fi
	pkg=$(apt-cache depends "linux-image-$flavour" 2>/dev/null |
		awk '!found && $1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ && $2 !~ /-(dbg|unsigned)$/ { print $2; found = 1 }')
	[ -n "$pkg" ] || sv_die "cannot resolve linux-image-$flavour with apt-cache depends (run apt-get update?)"
	echo "${pkg#linux-image-}"
}

# sv_apt_download PKG DIR -> downloads PKG's candidate .deb into DIR, prints its path.
sv_apt_download() {
	local pkg=$1 dir=$2 deb t0
	mkdir -p "$dir"
	t0=$(sv_now)
	sv_log "apt-get download $pkg -> $dir"
	if ! (cd "$dir" && timeout "${SV_DOWNLOAD_TIMEOUT:-1800}" \
		apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2); then
		sv_die "apt-get download $pkg failed (network? stale index: try apt-get update; does the package exist: apt-cache policy $pkg)"
	fi
	deb=$(ls -t "$dir/${pkg}_"*.deb 2>/dev/null | head -n 1 || true)
	[ -n "$deb" ] && [ -s "$deb" ] || sv_die "apt-get download $pkg produced no .deb in $dir"
	dpkg-deb --info "$deb" >/dev/null 2>&1 || { rm -f "$deb"; sv_die "downloaded $deb is corrupt (removed)"; }
	sv_log "downloaded $(basename "$deb") ($(du -h "$deb" | cut -f1)) in $(sv_elapsed "$t0") s"
	echo "$deb"
}

# sv_prepare_kernel KVER -> sets SV_KDIR, SV_KROOT, SV_VMLINUZ, SV_MODDIR.
# Downloads and extracts linux-image-KVER once; later runs reuse the cache.
sv_prepare_kernel() {
	local kver=$1 kdir deb moddir
	kdir=$SALVAGE_CACHE/kernels/$kver
	sv_lock
	if [ ! -e "$kdir/.ready" ]; then
		sv_need apt-get dpkg dpkg-deb depmod
		deb=$(ls -t "$SALVAGE_CACHE/debs/linux-image-${kver}_"*.deb 2>/dev/null | head -n 1 || true)
		if [ -z "$deb" ] || ! dpkg-deb --info "$deb" >/dev/null 2>&1; then
			deb=$(sv_apt_download "linux-image-$kver" "$SALVAGE_CACHE/debs") || exit 1
		fi
		rm -rf "$kdir/root" "$kdir/root.tmp"
		mkdir -p "$kdir"
		sv_log "extracting $(basename "$deb")"
		dpkg -x "$deb" "$kdir/root.tmp" || sv_die "dpkg -x $deb failed"
		moddir=$(sv_moddir "$kdir/root.tmp" "$kver") || sv_die "no lib/modules/$kver in $deb"
		[ -f "$kdir/root.tmp/boot/vmlinuz-$kver" ] || sv_die "no boot/vmlinuz-$kver in $deb"
		# depmod -b wants BASE/lib/modules/KVER
		if [ "$moddir" = "$kdir/root.tmp/usr/lib/modules/$kver" ] && [ ! -e "$kdir/root.tmp/lib" ]; then
			ln -s usr/lib "$kdir/root.tmp/lib"
		fi
		depmod -b "$kdir/root.tmp" "$kver" || sv_die "depmod -b failed for $kver"
		[ -s "$moddir/modules.dep" ] || sv_die "depmod produced no modules.dep"
		mv "$kdir/root.tmp" "$kdir/root"
		touch "$kdir/.ready"
	fi
	sv_unlock
	SV_KDIR=$kdir
	SV_KROOT=$kdir/root
	SV_VMLINUZ=$kdir/root/boot/vmlinuz-$kver
	SV_MODDIR=$(sv_moddir "$SV_KROOT" "$kver") || sv_die "cache $kdir is broken: remove it and rerun"
}

# sv_use_kernel [FLAVOUR] -> sets kver (resolved from FLAVOUR, default
# cloud-amd64, unless already set), what sv_prepare_kernel sets, and
# t_prepare (seconds taken)
sv_use_kernel() {
	local t0
	t0=$(sv_now)
	[ -n "${kver:-}" ] || kver=$(sv_resolve_kver "${1:-cloud-amd64}")
	sv_log "kernel $kver"
	sv_prepare_kernel "$kver"
	t_prepare=$(sv_elapsed "$t0")
}

# sv_moddir ROOT KVER -> prints ROOT/lib/modules/KVER (or usr/lib/...)
sv_moddir() {
	local d
	for d in "$1/lib/modules/$2" "$1/usr/lib/modules/$2"; do
		[ -d "$d" ] && { echo "$d"; return 0; }
	done
	return 1
}

# sv_module_paths MODDIR MOD... -> module paths relative to MODDIR, dependencies
# first, built-in modules skipped. Fails if a module is neither.
sv_module_paths() {
	local moddir=$1 out
	shift
	out=$(awk -v want="$*" '
		function norm(s) { sub(/.*\//, "", s); sub(/\.ko(\.[a-z]+)?$/, "", s); gsub(/-/, "_", s); return s }
		FILENAME ~ /modules\.builtin$/ { builtin[norm($1)] = 1; next }
		{
			p = $1; sub(/:$/, "", p); n = norm(p); path[n] = p; deps[n] = ""
			for (i = 2; i <= NF; i++) deps[n] = deps[n] " " norm($i)
		}
		function visit(n,    k, a, i) {
			if (n in seen) return
			seen[n] = 1
			if (n in builtin) return
			if (!(n in path)) { print "MISSING " n; return }
			k = split(deps[n], a, " ")
			for (i = k; i >= 1; i--) visit(a[i])
			print path[n]
		}
		END { k = split(want, w, " "); for (i = 1; i <= k; i++) { x = w[i]; gsub(/-/, "_", x); visit(x) } }
	' "$moddir/modules.builtin" "$moddir/modules.dep") || sv_die "reading $moddir/modules.dep failed"
	if printf '%s\n' "$out" | grep -q '^MISSING '; then
		sv_die "modules not found in $moddir: $(printf '%s\n' "$out" | sed -n 's/^MISSING //p' | tr '\n' ' ')"
	fi
	printf '%s\n' "$out"
}

# sv_stage_modules STAGE MODDIR MOD... -> STAGE/lib/modules/NAME.ko (decompressed)
# and STAGE/etc/modules (load order, one name per line).
sv_stage_modules() {
	local stage=$1 moddir=$2 rel name paths
	shift 2
	paths=$(sv_module_paths "$moddir" "$@") || exit 1
	mkdir -p "$stage/lib/modules" "$stage/etc"
	: >"$stage/etc/modules"
	for rel in $paths; do
		name=$(basename "$rel")
		name=${name%%.ko*}
		case $rel in
		*.ko.xz) xz -dc "$moddir/$rel" ;;
		*.ko.zst) zstd -dcq "$moddir/$rel" ;;
		*.ko.gz) gzip -dc "$moddir/$rel" ;;
		*.ko) cat "$moddir/$rel" ;;
		*) sv_die "unknown module format: $rel" ;;
		esac >"$stage/lib/modules/$name.ko" || sv_die "cannot decompress $rel"
		echo "$name" >>"$stage/etc/modules"
	done
}

# sv_stage_busybox STAGE -> busybox-static, applet symlinks, base directories
sv_stage_busybox() {
	local stage=$1 bb=${SV_BUSYBOX:-/bin/busybox} a
	[ -x "$bb" ] || sv_die "no $bb (apt-get install busybox-static)"
	if command -v file >/dev/null 2>&1 && ! file -L "$bb" | grep -q 'statically linked'; then
		sv_die "$bb is not statically linked (apt-get install busybox-static)"
	fi
	mkdir -p "$stage/bin" "$stage/dev" "$stage/proc" "$stage/sys" "$stage/tmp" \
		"$stage/run" "$stage/etc" "$stage/root"
	cp "$bb" "$stage/bin/busybox"
	for a in $("$bb" --list); do
		[ "$a" = busybox ] || ln -sf busybox "$stage/bin/$a"
	done
	ln -sf bin "$stage/sbin"
}

# sv_write_init STAGE [crash] < BODY -> STAGE/init: the busybox preamble
# every test init shares (PATH; say, up, fail and load_modules, which insmods
# /etc/modules in order; /proc, /sys and /dev mounted; the console as stdio),
# then BODY; with "crash", then the crash through sysrq; with "capture", BODY
# of a crash kernel's init comes after the modules are loaded and /dev/vda
# waited for (rc=1), and is followed by "capture done rc=$rc" and the power
# off
sv_write_init() {
	local stage=$1 mode=${2:-}
	{
		cat <<'EOF'
#!/bin/busybox sh
export PATH=/bin
say() { echo "SALVAGE: $*"; }
up() { cut -d' ' -f1 /proc/uptime; }
fail() { say "ERROR: $*"; poweroff -f; sleep 5; }
load_modules() {
	while read -r m; do
		insmod "/lib/modules/$m.ko" || say "insmod $m failed"
	done </etc/modules
}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
EOF
		[ "$mode" != capture ] || cat <<'EOF'
say "capture kernel $(uname -r) up $(up)s"
load_modules
i=0
while [ ! -b /dev/vda ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
rc=1
EOF
		cat
		[ "$mode" != crash ] || cat <<'EOF'
sync
echo c >/proc/sysrq-trigger
fail "still alive after sysrq-trigger"
EOF
		[ "$mode" != capture ] || cat <<'EOF'
say "capture done rc=$rc at $(up)s"
poweroff -f
sleep 5
EOF
	} >"$stage/init"
	chmod 755 "$stage/init"
}

# sv_stage_first NAME VMLINUZ CRASH_IMG MARKER [MODDIR MOD...] -> SV_STAGE,
# a new staging folder for the initramfs of a kernel that arms a crash
# kernel: busybox, /boot/vmlinuz and /boot/crash.img, /etc/marker, and the
# modules MOD... of MODDIR (sv_stage_modules) when given
sv_stage_first() {
	sv_stage "$1" "${@:5}"
	mkdir -p "$SV_STAGE/boot"
	cp "$2" "$SV_STAGE/boot/vmlinuz"
	cp "$3" "$SV_STAGE/boot/crash.img"
	printf '%s\n' "$4" >"$SV_STAGE/etc/marker"
}

# sv_stage NAME [MODDIR MOD...] -> SV_STAGE, a new staging folder with
# busybox and the modules MOD... of MODDIR (sv_stage_modules) when given
sv_stage() {
	SV_STAGE=$(mktemp -d "${TMPDIR:-/tmp}/salvage-$1.XXXXXX")
	sv_stage_busybox "$SV_STAGE"
	[ $# -lt 2 ] || sv_stage_modules "$SV_STAGE" "${@:2}"
}

# sv_stage_idle_tasks STAGE -> the named idle tasks (/bin/NAME, run through
# the shebang so the task's comm is the script name) and /etc/idle-tasks
sv_stage_idle_tasks() {
	local t
	printf '%s\n' $SV_IDLE_TASKS >"$1/etc/idle-tasks"
	for t in $SV_IDLE_TASKS; do
		printf '#!/bin/sh\nwhile :; do sleep 3600; done\n' >"$1/bin/$t"
		chmod 755 "$1/bin/$t"
	done
}

# sv_kv FILE NAME=VAR... -> FILE with one NAME=value line each, the value of
# the variable VAR
sv_kv() {
	local f=$1 kv v
	shift
	for kv in "$@"; do
		v=${kv#*=}
		printf '%s=%s\n' "${kv%%=*}" "${!v}"
	done >"$f"
}

# sv_pack STAGE OUT -> the initramfs OUT of STAGE, which goes
sv_pack() {
	sv_mkcpio "$1" "$2"
	rm -rf "$1"
}

# sv_stage_dynamic STAGE BIN DEST -> BIN at STAGE/DEST plus every library ldd lists
sv_stage_dynamic() {
	local stage=$1 bin=$2 dest=$3 lib
	mkdir -p "$stage/$(dirname "$dest")"
	cp "$bin" "$stage/$dest"
	for lib in $(ldd "$bin" | awk '/=> \// { print $3 } /^\t\/[^ ]+ \(/ { print $1 }'); do
		mkdir -p "$stage/$(dirname "$lib")"
		cp -L "$lib" "$stage/$lib"
	done
}

# sv_mkcpio STAGE OUT -> newc archive with a /dev/console node, no root needed
sv_mkcpio() {
	"$SV_PYTHON" "$SV_LIBDIR/mkcpio.py" "$1" "$2" --nod /dev/console:0600:c:5:1 ||
		sv_die "building initramfs $2 failed"
}

# sv_build_static NAME -> prints the path of tests/vm/NAME.c built static
# into the cache (rebuilt when the source changes)
sv_build_static() {
	local src=$SV_LIBDIR/$1.c out=$SALVAGE_CACHE/build/$1 sum
	sum=$(sha256sum "$src" | cut -d' ' -f1)
	if [ ! -x "$out" ] || [ "$(cat "$out.src-sha256" 2>/dev/null)" != "$sum" ]; then
		sv_need cc
		${CC:-cc} -static -O2 -Wall -Wextra -o "$out.tmp" "$src" >&2 ||
			sv_die "compiling $src failed (needs cc and libc6-dev static libc)"
		mv "$out.tmp" "$out"
		echo "$sum" >"$out.src-sha256"
	fi
	echo "$out"
}

# sv_build_kexec_load -> the static kexec_file_load helper (kexec-load.c)
sv_build_kexec_load() { sv_build_static kexec-load; }

# sv_build_workload -> the static workload helper (workload.c: mixed
# anonymous memory, then the crash)
sv_build_workload() { sv_build_static workload; }

# ---------------------------------------------------------------------------
# Crash (capture) kernel initramfs.
# Contract with the host side (sv_run_qemu / make-vmcore.sh): write
# /proc/vmcore raw to the start of /dev/vda, print "$SV_CAPTURE_OK" on the
# console, power off. This builder is meant to be replaced by the project's
# capture agent later.
#
# sv_build_crash_initramfs MODDIR OUT
sv_build_crash_initramfs() {
	sv_stage crash-stage "$1" $SV_VIRTIO_MODULES
	sv_write_init "$SV_STAGE" capture <<'EOF'
# salvage test capture init (crash kernel): /proc/vmcore -> /dev/vda, raw.
if [ ! -b /dev/vda ]; then
	say "ERROR: /dev/vda did not appear"
elif [ ! -r /proc/vmcore ]; then
	say "ERROR: no /proc/vmcore"
else
	say "copying /proc/vmcore ($(stat -c %s /proc/vmcore) bytes) to /dev/vda at $(up)s"
	# O_DIRECT with large blocks is ~2.5x faster under TCG than buffered
	# writes; fall back to buffered dd if the direct copy fails.
	dd if=/proc/vmcore of=/dev/vda bs=4M oflag=direct 2>/tmp/dd.err
	rc=$?
	cat /tmp/dd.err
	if [ $rc != 0 ]; then
		say "direct dd failed (rc=$rc), retrying buffered"
		dd if=/proc/vmcore of=/dev/vda bs=1M 2>/tmp/dd.err
		rc=$?
		cat /tmp/dd.err
	fi
	sync
fi
EOF
	sv_pack "$SV_STAGE" "$2"
}

# ---------------------------------------------------------------------------
# First-boot (production) kernel initramfs: load virtio, leave recognisable
# traces (kmsg marker, named idle tasks), arm the crash kernel with
# kexec_file_load, then crash with sysrq.
#
# sv_build_first_initramfs MODDIR VMLINUZ CRASH_IMG KEXEC_LOAD CRASH_CMDLINE OUT
#                          [WORKLOAD MIB]
# With WORKLOAD (sv_build_workload) and MIB, the init runs "workload MIB"
# after arming the crash kernel: it fills MIB MiB of anonymous memory and
# crashes the kernel itself, its memory still mapped.
sv_build_first_initramfs() {
	local stage
	sv_stage_first first-stage "$2" "$3" "$SV_MARKER" "$1" $SV_VIRTIO_MODULES
	stage=$SV_STAGE
	cp "$4" "$stage/bin/kexec-load"
	printf '%s\n' "$5" >"$stage/etc/crash-cmdline"
	if [ -n "${7:-}" ]; then
		cp "$7" "$stage/bin/workload"
		printf '%s\n' "${8:?workload size}" >"$stage/etc/workload-mib"
	fi
	sv_stage_idle_tasks "$stage"
	sv_write_init "$stage" crash <<'EOF'
# salvage test init (first kernel): leave traces, arm kdump, crash.
say "first kernel $(uname -r) up $(up)s"
load_modules
marker=$(cat /etc/marker)
echo "$marker" >/dev/kmsg
for t in $(cat /etc/idle-tasks); do
	"/bin/$t" &
	echo "salvage-task name=$t pid=$!" >/dev/kmsg
	say "started $t pid=$!"
done
kexec-load /boot/vmlinuz /boot/crash.img "$(cat /etc/crash-cmdline)" || fail "kexec_file_load failed"
[ "$(cat /sys/kernel/kexec_crash_loaded)" = 1 ] || fail "kexec_crash_loaded is not 1"
say "crash kernel loaded at $(up)s, crashing"
if [ -x /bin/workload ]; then
	workload "$(cat /etc/workload-mib)" || fail "workload failed"
fi
EOF
	sv_pack "$stage" "$6"
}

# sv_elf_extent FILE -> bytes covered by the ELF core at the start of FILE
sv_elf_extent() {
	"$SV_PYTHON" "$SV_LIBDIR/elf-extent.py" -v "$1"
}

# sv_prepare_headers KVER -> sets SV_KHEADERS, the kbuild tree of
# linux-headers-KVER (for `make -C $SV_KHEADERS M=DIR modules`).  The
# headers package and the linux-headers-*/linux-kbuild-* packages it
# depends on are downloaded once into $SALVAGE_CACHE/debs and unpacked
# together into $SALVAGE_CACHE/kernels/KVER/headers (stamp .headers-ready),
# so the relative links between them resolve.
sv_prepare_headers() {
	local kver=$1 kdir hdir pkg deb
	kdir=$SALVAGE_CACHE/kernels/$kver
	hdir=$kdir/headers
	sv_lock
	if [ ! -e "$kdir/.headers-ready" ]; then
		sv_need apt-get apt-cache dpkg
		rm -rf "$hdir" "$hdir.tmp"
		mkdir -p "$hdir.tmp"
		for pkg in "linux-headers-$kver" $(apt-cache depends "linux-headers-$kver" 2>/dev/null |
			awk '$1 == "Depends:" && $2 ~ /^linux-(headers|kbuild)-/ { print $2 }'); do
			deb=$(ls -t "$SALVAGE_CACHE/debs/${pkg}_"*.deb 2>/dev/null | head -n 1 || true)
			if [ -z "$deb" ] || ! dpkg-deb --info "$deb" >/dev/null 2>&1; then
				deb=$(sv_apt_download "$pkg" "$SALVAGE_CACHE/debs") || exit 1
			fi
			dpkg -x "$deb" "$hdir.tmp" || sv_die "dpkg -x $deb failed"
		done
		[ -f "$hdir.tmp/usr/src/linux-headers-$kver/Makefile" ] ||
			sv_die "no usr/src/linux-headers-$kver/Makefile in linux-headers-$kver"
		# the packages name each other by absolute /usr/src and /usr/lib paths
		grep -rlZ --include=Makefile '/usr/src/linux-headers-' "$hdir.tmp/usr/src" |
			xargs -0 -r sed -i "s|/usr/src/linux-headers-|$hdir/usr/src/linux-headers-|g"
		mv "$hdir.tmp" "$hdir"
		touch "$kdir/.headers-ready"
	fi
	sv_unlock
	SV_KHEADERS=$hdir/usr/src/linux-headers-$kver
}
