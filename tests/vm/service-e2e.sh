#!/usr/bin/env bash
# service-e2e.sh [--timeout S] [--prepare-only] BUILD - salvage installed as an admin would, in
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
# --prepare-only stops after step 2 (the package and the cached root, e.g. to
# fill the cache before a timed run).
# A driver unit in the guest (svc-admin-test.service, after salvage.service)
# runs the steps and prints SVCTEST: lines on the serial console.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

timeout_s=1500   # QEMU took 5 min (light load) to 15 min (load 10-12 on 2 cores)
prepare_only=0
while [ $# -gt 1 ]; do
	case $1 in
	--timeout) timeout_s=${2:?}; shift 2 ;;
	--prepare-only) prepare_only=1; shift ;;
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
# both CPUs; the package's own check (man-test.sh) runs in make test-service
if DEB_BUILD_OPTIONS="nocheck parallel=2" make -s --no-print-directory -C "$SRC" BUILD="$build" deb \
	>"$O/deb.log" 2>&1; then
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
if [ "$prepare_only" = 1 ]; then
	sv_log "prepared: $deb and $base/root.tar in $(sv_elapsed "$t_all") s"
	t_summary
fi
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
# no boot initramfs updates while the package goes in (update-initramfs -u)
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
say() { echo "SVCTEST: $* (t=$(cut -d' ' -f1 /proc/uptime)s)"; }
st=/var/lib/svc-test
# where the boot's time went (this unit is part of the boot, so
# systemd-analyze cannot tell yet): kernel and initramfs, then salvage.service
boot_times() {
	us=$(systemctl show -p UserspaceTimestampMonotonic --value)
	s0=$(systemctl show -p ExecMainStartTimestampMonotonic --value salvage.service)
	s1=$(systemctl show -p ExecMainExitTimestampMonotonic --value salvage.service)
	say "times: userspace at $((${us:-0} / 1000000)) s, salvage.service $((${s0:-0} / 1000000))-$((${s1:-0} / 1000000)) s"
}
mkdir -p $st
stage=$(cat $st/stage 2>/dev/null || echo 0)
say "boot stage $stage, kernel $(uname -r), $(cat /proc/cmdline)"
if [ "$stage" = 0 ]; then
	say "service $(systemctl is-active salvage.service)"
	boot_times
	say "receive unit $(systemctl show -p LoadState,UnitFileState --value salvage-receive.service | tr '\n' ' ')"
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
	boot_times
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
		# the receiver, configured as an admin would, takes this dump from
		# an agent on loopback; the archive's watcher indexes /var/crash
		salvage keygen -o /etc/salvage/receiver --label rx >/dev/null 2>&1
		salvage keygen -o /root/agent --label web1 >/dev/null 2>&1
		cp /root/agent.pub /etc/salvage/agents
		printf 'SALVAGE_RECEIVE_LISTEN=127.0.0.1:7440\nSALVAGE_RECEIVE_OPTIONS=--min-free 16M\n' \
			>/etc/salvage/receive.conf
		systemctl start salvage-receive.service
		i=0
		while ! journalctl -u salvage-receive.service -o cat | grep -q listening && [ $i -lt 50 ]; do
			sleep 0.2
			i=$((i + 1))
		done
		say "receive $(systemctl is-active salvage-receive.service)"
		systemctl status --no-pager -n 2 salvage-receive.service | sed 's/^/SVCTEST: | /'
		salvage-capture --send "$core" --dmesg "${core%/vmcore}/dmesg.txt" --target net:127.0.0.1:7440 \
			--key /root/agent --receiver-key /etc/salvage/receiver.pub >$st/send.out 2>&1
		say "send rc=$?"
		tail -n 2 $st/send.out | sed 's/^/SVCTEST: | /'
		got=$(ls /var/lib/salvage-receive/web1-*/vmcore 2>/dev/null | head -n 1)
		cmp -s "$got" "$core" && say "received the same dump" || say "received: ${got:-nothing}"
		journalctl -u salvage-receive.service -o cat | tail -n 2 | sed 's/^/SVCTEST: receive: /'
		systemctl stop salvage-receive.service
		systemctl start salvage-archive-watch.timer
		say "archive timer $(systemctl is-active salvage-archive-watch.timer)"
		systemctl start salvage-archive-watch.service
		say "archive watch rc=$? $(systemctl show -p Result --value salvage-archive-watch.service)"
		journalctl -u salvage-archive-watch.service -o cat | tail -n 2 | sed 's/^/SVCTEST: watch: /'
		salvage archive list >$st/alist.out 2>&1
		say "archive list rc=$? with $(grep -c salvage-svc $st/alist.out) dump"
		systemctl stop salvage-archive-watch.timer
	fi
	# the second kernel's own boot initramfs is not under test and took 10 of
	# the 17 minutes under TCG: INITRD=No makes initramfs-tools' kernel hook
	# (update-initramfs -c, which update_initramfs=no does not stop) skip it;
	# salvage's hook does not look at it.  dpkg's fsync per file is slow
	# under TCG and proves nothing here
	INITRD=No DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		-o Dpkg::Options::=--force-unsafe-io /root/second-kernel.deb >$st/k2.out 2>&1
	say "second kernel install rc=$?"
	grep -i salvage $st/k2.out | sed 's/^/SVCTEST: | /'
	[ -f /boot/salvage-initrd.img-$KVER2 ] && say "second kernel initramfs present" ||
		say "second kernel initramfs missing"
	DEBIAN_FRONTEND=noninteractive apt-get purge -y -q -o Dpkg::Options::=--force-unsafe-io salvage >$st/purge.out 2>&1
	say "purge rc=$?"
	# what stays: the dumps (/var/crash, the receiver's), the keys the admin
	# made for the receiver (not the package's files)
	left=$(find / -xdev \( -path /var/crash -prune \) -o \( -iname '*salvage*' -print \) 2>/dev/null |
		grep -v -e '^/var/crash' -e '^/var/lib/dpkg/info' -e '^/var/cache/apt' -e '^/var/log' \
			-e '^/var/lib/salvage-receive' -e '^/var/lib/private/salvage-receive' \
			-e '^/etc/salvage$' -e '^/etc/salvage/receiver' -e '^/etc/salvage/agents$' \
			-e '^/etc/salvage/receive.conf$')
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
# no_timer_check: on a loaded host TCG can fail the kernel's IO-APIC timer
# check at boot (a panic, "IO-APIC + timer doesn't work!", or a slow
# fallback); it tests nothing of salvage
sv_log "qemu: boot, crash, capture, reboot, checks (timeout ${timeout_s}s)"
t0=$(sv_now)
qrc=0
timeout -k 10 "$timeout_s" qemu-system-x86_64 "${accel[@]}" -m 1024 -smp 1 -nographic -nic none \
	-kernel "$work/vmlinuz-$kver" -initrd "$work/initrd.img-$kver" \
	-append "root=/dev/vda rw console=ttyS0 $ck panic=5 quiet systemd.firstboot=off no_timer_check" \
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
check "salvage-receive.service installed, not enabled" "SVCTEST: .*receive unit loaded disabled"
check "salvage-receive.service active once configured" "SVCTEST: .*receive active"
check "an agent's dump sent to it" "SVCTEST: .*send rc=0"
check "it stored the same dump" "SVCTEST: .*received the same dump"
check "salvage-archive-watch.timer starts" "SVCTEST: .*archive timer active"
check "salvage-archive-watch.service indexes /var/crash" "SVCTEST: .*archive watch rc=0 success"
check "the archive holds the dump" "SVCTEST: .*archive list rc=0 with 1 dump"
check "the guest finished" "SVCTEST: done"
[ "$qrc" = 0 ] || t_fail "qemu" "exit status $qrc (timeout: 124)"
sv_log "times: ready ${t_ready} s, qemu ${t_qemu} s, total $(sv_elapsed "$t_all") s"
t_summary
