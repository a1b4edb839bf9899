#!/usr/bin/env bash
# service-e2e.sh [--timeout S] BUILD - salvage installed as an admin would, in
# a Debian 12 guest with systemd under QEMU:
#   1. make deb (dpkg-buildpackage), lintian without errors;
#   2. a minimal Debian 12 root made by mmdebstrap from the apt sources of this
#      machine (read now, from /etc/apt/sources.list and sources.list.d), with
#      systemd and the cloud kernel; cached as a tar in
#      $SALVAGE_CACHE/service-root/KEY/ (KEY: the package list and sources);
#   3. the .deb installed in it with apt, crashkernel= from `salvage setup
#      --crashkernel`, an ext4 disk made with mkfs.ext4 -d;
#   4. first boot: salvage.service active, `salvage status` armed (exit 0),
#      sysrq crash; the agent saves into /var/crash of the root file system
#      (the default target) and reboots;
#   5. second boot: the journal of salvage.service announces the dump (path,
#      panic line); `salvage info` and `salvage bt` read it; a second kernel
#      package (the 6.12 cloud kernel of bookworm-security) gets its crash initramfs from the hook;
#      `apt-get purge salvage` leaves nothing of salvage but the dump.
# A driver unit in the guest (svc-admin-test.service, after salvage.service)
# runs the steps and prints SVCTEST: lines on the serial console.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

timeout_s=1200   # a run takes 12-13 min under TCG; margin for a loaded machine
while [ $# -gt 1 ]; do
	case $1 in
	--timeout) timeout_s=${2:?}; shift 2 ;;
	*) break ;;
	esac
done
[ $# = 1 ] || { sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2; exit 2; }
build=$(cd "$1" && pwd)
t_init service-e2e "$build"
work=
cleanup() { [ -z "$work" ] || rm -rf "$work"; }
# shellcheck disable=SC2034  # read by t_on_exit (tests/lib.sh)
T_EXIT_HOOK=cleanup
t_exit_summary
sv_need mmdebstrap dpkg-buildpackage lintian qemu-system-x86_64 mkfs.ext4 debugfs chroot zstd
sv_cache_init
t_all=$(sv_now)
SRC=$(cd "$T_HERE/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/salvage-svc-e2e.XXXXXX")
O=$T_OUT
rm -f "$O"/console.log*

# ---- 1. the package -------------------------------------------------------------
if make -s --no-print-directory -C "$SRC" BUILD="$build" deb >"$O/deb.log" 2>&1; then
	t_ok "make deb: built, lintian without errors"
else
	t_fail "make deb" "$(tail -n 5 "$O/deb.log" | tr '\n' ' ')"
	exit 1
fi
deb=$(ls "$build"/deb/salvage_*_amd64.deb)
grep '^[WE]:' "$build/deb/lintian.txt" | sed 's/^/[vm] lintian: /' >&2

# ---- 2. the Debian root (cached) ------------------------------------------------------
kver=$(sv_resolve_kver cloud-amd64)
kver2=$(sv_resolve_kver 6.12-cloud-amd64)   # small, unlike the generic kernel
PKGS="systemd-sysv,udev,kmod,initramfs-tools,zstd,e2fsprogs,procps,linux-image-$kver"
PKGS+=",$(dpkg-deb -f "$deb" Depends | sed 's/ *([^)]*)//g; s/ //g')"
sources=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
	[ -s "$f" ] && sources+=("$f")
done
[ ${#sources[@]} -gt 0 ] || sv_die "no apt sources on this machine (/etc/apt/sources.list[.d])"
key=$({ echo "$PKGS"; cat "${sources[@]}"; } | sha256sum | cut -c1-16)
base=$SALVAGE_CACHE/service-root/$key
sv_lock
if [ ! -e "$base/.ready" ]; then
	t0=$(sv_now)
	sv_log "mmdebstrap bookworm ($PKGS) from ${sources[*]}"
	rm -rf "$base" && mkdir -p "$base"
	if ! timeout 1800 mmdebstrap --mode=root --variant=apt --format=tar --include="$PKGS" \
		bookworm "$base/root.tar" "${sources[@]}" >"$O/mmdebstrap.log" 2>&1; then
		tail -n 20 "$O/mmdebstrap.log" >&2
		sv_die "mmdebstrap failed (log: $O/mmdebstrap.log)"
	fi
	touch "$base/.ready"
	sv_log "Debian root cached in $base in $(sv_elapsed "$t0") s"
fi
sv_unlock
deb2=$(ls -t "$SALVAGE_CACHE/debs/linux-image-${kver2}_"*.deb 2>/dev/null | head -n 1)
if [ -z "$deb2" ]; then
	sv_lock
	deb2=$(sv_apt_download "linux-image-$kver2" "$SALVAGE_CACHE/debs") || exit 1
	sv_unlock
fi

# ---- 3. install the package, make the disk ------------------------------------------------
R=$work/root
mkdir -p "$R"
tar -C "$R" -xpf "$base/root.tar" || sv_die "cannot unpack $base/root.tar"
cp "$deb" "$R/tmp/salvage.deb"
cp "$deb2" "$R/root/second-kernel.deb"
echo salvage-svc >"$R/etc/hostname"
echo '/dev/vda / ext4 rw,errors=remount-ro 0 1' >"$R/etc/fstab"
# the second kernel's own boot initramfs is not under test: skip it (slow)
sed -i 's/^update_initramfs=.*/update_initramfs=no/' "$R/etc/initramfs-tools/update-initramfs.conf"
if chroot "$R" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	/tmp/salvage.deb >"$O/apt-install.log" 2>&1; then
	t_ok "apt-get install salvage.deb"
else
	t_fail "apt-get install salvage.deb" "$(tail -n 3 "$O/apt-install.log" | tr '\n' ' ')"
	exit 1
fi
rm -f "$R/tmp/salvage.deb"
ck=$(chroot "$R" salvage setup --crashkernel --kver "$kver") || sv_die "salvage setup --crashkernel failed"
sv_log "salvage setup --crashkernel: $ck"
case $ck in crashkernel=[0-9]*M) t_ok "salvage setup --crashkernel: $ck" ;;
	*) sv_die "salvage setup --crashkernel printed '$ck'" ;; esac

install -m 0755 /dev/stdin "$R/usr/local/sbin/svc-admin-test" <<EOF
#!/bin/sh
# the guest's side of tests/vm/service-e2e.sh: one stage a boot
KVER2=$kver2
EOF
cat >>"$R/usr/local/sbin/svc-admin-test" <<'EOF'
exec >/dev/ttyS0 2>&1
say() { echo "SVCTEST: $*"; }
st=/var/lib/svc-test
mkdir -p $st
stage=$(cat $st/stage 2>/dev/null || echo 0)
say "boot stage $stage, kernel $(uname -r), $(cat /proc/cmdline)"
if [ "$stage" = 0 ]; then
	say "service $(systemctl is-active salvage.service)"
	systemctl status --no-pager -n 5 salvage.service | sed 's/^/SVCTEST: | /'
	journalctl -b -u salvage.service --no-pager -o cat | sed 's/^/SVCTEST: journal0: /'
	salvage status >$st/status.out 2>&1
	say "status rc=$?"
	sed 's/^/SVCTEST: | /' $st/status.out
	echo 1 >$st/stage
	sync
	say "crashing"
	echo c >/proc/sysrq-trigger
	sleep 60
	exit 1
fi
if [ "$stage" = 1 ]; then
	echo 2 >$st/stage
	sync
	journalctl -b -u salvage.service --no-pager -o cat | sed 's/^/SVCTEST: journal: /'
	core=$(ls /var/crash/*/vmcore 2>/dev/null | head -n 1)
	say "dump ${core:-none}"
	if [ -n "$core" ]; then
		salvage info "$core" >$st/info.out 2>&1
		say "info rc=$?"
		sed 's/^/SVCTEST: | /' $st/info.out | head -n 12
		salvage bt "$core" >$st/bt.out 2>&1
		say "bt rc=$?"
		sed 's/^/SVCTEST: | /' $st/bt.out | head -n 12
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		/root/second-kernel.deb >$st/k2.out 2>&1
	say "second kernel install rc=$?"
	grep -i salvage $st/k2.out | sed 's/^/SVCTEST: | /'
	[ -f /boot/salvage-initrd.img-$KVER2 ] && say "second kernel initramfs present" ||
		say "second kernel initramfs missing"
	DEBIAN_FRONTEND=noninteractive apt-get purge -y -q salvage >$st/purge.out 2>&1
	say "purge rc=$?"
	left=$(find / -xdev \( -path /var/crash -prune \) -o \( -iname '*salvage*' -print \) 2>/dev/null |
		grep -v -e '^/var/crash' -e '^/var/lib/dpkg/info' -e '^/var/cache/apt' -e '^/var/log')
	say "left after purge: ${left:-nothing}"
	ls /var/crash/*/vmcore >/dev/null 2>&1 && say "dump kept" || say "dump gone"
	say "done"
	sync
	systemctl poweroff
fi
EOF
cat >"$R/etc/systemd/system/svc-admin-test.service" <<'EOF'
[Unit]
Description=tests/vm/service-e2e.sh driver
After=salvage.service
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/svc-admin-test
[Install]
WantedBy=multi-user.target
EOF
ln -sf /etc/systemd/system/svc-admin-test.service \
	"$R/etc/systemd/system/multi-user.target.wants/svc-admin-test.service"
# no login prompts on the console: its lines are the test's
chroot "$R" systemctl mask -q serial-getty@ttyS0.service getty@tty1.service 2>/dev/null
cp "$R/boot/vmlinuz-$kver" "$R/boot/initrd.img-$kver" "$work/"
rm -f "$work/disk.img"
mkfs.ext4 -q -F -m 0 -d "$R" "$work/disk.img" 3G >"$O/mkfs.log" 2>&1 ||
	sv_die "mkfs.ext4 -d failed: $(tail -n 2 "$O/mkfs.log")"
rm -rf "$R"
t_ready=$(sv_elapsed "$t_all")

# ---- 4., 5. boot, crash, capture, reboot, check, purge ------------------------------------------
# TCG, as the other QEMU tests: KVM is not usable on every CI machine
# (nested virtualisation)
accel=(-accel tcg -cpu max)
sv_log "qemu: boot, crash, capture, reboot, checks (timeout ${timeout_s}s)"
t0=$(sv_now)
qrc=0
timeout -k 10 "$timeout_s" qemu-system-x86_64 "${accel[@]}" -m 1024 -smp 1 -nographic -nic none \
	-kernel "$work/vmlinuz-$kver" -initrd "$work/initrd.img-$kver" \
	-append "root=/dev/vda rw console=ttyS0 $ck panic=5 quiet systemd.firstboot=off" \
	-drive "file=$work/disk.img,format=raw,if=virtio" \
	</dev/null >"$O/console.log" 2>"$O/console.log.stderr" || qrc=$?
t_qemu=$(sv_elapsed "$t0")
sv_log "qemu exited rc=$qrc after $t_qemu s"
tr -d '\r' <"$O/console.log" | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g' >"$O/console.txt"
L=$O/svctest.log
grep -a 'SVCTEST: ' "$O/console.txt" >"$L"
sed 's/^/[vm]   guest: /' "$L" >&2

has() { grep -aq -- "$1" "$L"; }
check() {   # check WHAT PATTERN
	if has "$2"; then t_ok "$1"; else t_fail "$1" "no '$2' on the console ($O/console.log)"; fi
}
check "salvage.service active at boot" "SVCTEST: service active"
check "systemctl status says armed" "SVCTEST: | .*armed: $kver"
check "salvage status: armed, exit 0" "SVCTEST: status rc=0"
grep -aq "agent: capture: ok:" "$O/console.txt" && t_ok "the agent saved a dump" ||
	t_fail "the agent saved a dump" "no 'agent: capture: ok:' on the console ($O/console.log)"
check "rebooted after the capture" "SVCTEST: boot stage 1"
check "the journal announces the dump" "SVCTEST: journal: salvage: crash dump saved: /var/crash/salvage-svc-"
check "the journal gives the panic line" 'SVCTEST: journal: salvage: panic: .*sysrq triggered crash'
check "salvage info on the dump" "SVCTEST: info rc=0"
check "salvage bt on the dump" "SVCTEST: bt rc=0"
check "second kernel package installed" "SVCTEST: second kernel install rc=0"
check "second kernel gets its crash initramfs" "SVCTEST: second kernel initramfs present"
check "apt-get purge salvage" "SVCTEST: purge rc=0"
check "nothing of salvage left after purge" "SVCTEST: left after purge: nothing"
check "the dump stays after purge" "SVCTEST: dump kept"
check "the guest finished" "SVCTEST: done"
[ "$qrc" = 0 ] || t_fail "qemu" "exit status $qrc (timeout: 124)"
sv_log "times: ready ${t_ready} s, qemu ${t_qemu} s, total $(sv_elapsed "$t_all") s"
t_summary
