#!/usr/bin/env bash
# The service as installed, without root and without a reboot:
#   - make install into a private prefix (paths rewritten to it), the same
#     files a package holds;
#   - salvage config check: the shipped salvage.conf is valid; a bad file
#     is refused with FILE:LINE and exit 1, and the service then keeps the
#     old crash initramfs;
#   - the kernel hook builds KVER's crash initramfs with the configuration
#     (read back from the image by zstd and tests/tools/cpiols.py, not by
#     our code), a second run finds it up to date, a changed configuration
#     or kernel rebuilds it and says which input changed, the removal hook
#     deletes it;
#   - announce: each dump directory once, with the path, the panic line and
#     the release from the dump; a capture that saved no dump says so.
#   service-test.sh [BUILD]
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
t_init service-test "${1:-}"
t_need_built "$BUILD/salvage" "$BUILD/salvage-capture"
O=$(cd "$T_OUT" && pwd)
rm -rf "${O:?}"/*
R=$O/root
KVER=9.9.9-svc

# ---- make install -------------------------------------------------------------
if make -s --no-print-directory -C "$T_HERE/.." BUILD="$(cd "$BUILD" && pwd)" install \
	PREFIX="$R/usr" SYSCONFDIR="$R/etc" UNITDIR="$R/lib/systemd/system" >"$O/install.log" 2>&1; then
	t_ok "make install"
else
	t_fail "make install" "$(tail -n 3 "$O/install.log")"
	t_summary
fi
for f in usr/sbin/salvage usr/sbin/salvage-capture usr/lib/salvage/salvage-service \
	 etc/kernel/postinst.d/salvage etc/kernel/postrm.d/salvage; do
	[ -x "$R/$f" ] || t_fail "install $f" "missing or not executable"
done
for f in lib/systemd/system/salvage.service lib/systemd/system/salvage-receive.service \
	 lib/systemd/system/salvage-archive-watch.service lib/systemd/system/salvage-archive-watch.timer \
	 etc/salvage/salvage.conf etc/salvage/receive.conf etc/salvage/archive.conf \
	 usr/share/man/man8/salvage.8 usr/share/man/man8/salvage-capture.8 \
	 usr/share/man/man5/salvage.conf.5; do
	[ -f "$R/$f" ] || t_fail "install $f" "missing"
done
grep -q "^ExecStart=$R/usr/lib/salvage/salvage-service start$" "$R/lib/systemd/system/salvage.service" ||
	t_fail "unit ExecStart" "not rewritten to the prefix"
grep -q "$R/usr/lib/salvage/salvage-service build" "$R/etc/kernel/postinst.d/salvage" ||
	t_fail "postinst hook" "not rewritten to the prefix"
grep -q "^ExecStart=$R/usr/sbin/salvage receive " "$R/lib/systemd/system/salvage-receive.service" &&
	grep -q -- "--authorized-keys $R/etc/salvage/agents " "$R/lib/systemd/system/salvage-receive.service" &&
	grep -q "^LoadCredential=receiver:$R/etc/salvage/receiver$" "$R/lib/systemd/system/salvage-receive.service" ||
	t_fail "salvage-receive.service" "paths not rewritten to the prefix"

# ---- the units: systemd's own checks -----------------------------------------------
# verify: syntax, every directive known, ExecStart executable, Documentation=
# man pages found (the installed ones, through MANPATH); security: the
# exposure score of each service, printed, and a bound for the two that
# face dumps from elsewhere (0 best, 10 worst; systemd calls < 2 "OK");
# salvage.service loads a crash kernel (kexec needs root and CAP_SYS_BOOT)
# and is only printed
if command -v systemd-analyze >/dev/null 2>&1; then
	for u in salvage.service salvage-receive.service salvage-archive-watch.service \
		 salvage-archive-watch.timer; do
		if (cd "$R/lib/systemd/system" && MANPATH=$R/usr/share/man systemd-analyze verify "./$u") \
			>"$O/verify-$u.out" 2>&1 && [ ! -s "$O/verify-$u.out" ]; then
			t_ok "systemd-analyze verify $u"
		else
			t_fail "systemd-analyze verify $u" "$(head -n 3 "$O/verify-$u.out" | tr '\n' ' ')"
		fi
	done
	for u in salvage.service:- salvage-receive.service:2 salvage-archive-watch.service:2; do
		(cd "$R/lib/systemd/system" && systemd-analyze security --offline=yes --no-pager "./${u%%:*}") \
			>"$O/security-${u%%:*}.out" 2>&1
		score=$(sed -n 's/^→ Overall exposure level for .*: \([0-9.]*\) .*/\1/p' "$O/security-${u%%:*}.out")
		echo "systemd-analyze security ${u%%:*}: ${score:-?} (bound ${u#*:})"
		[ "${u#*:}" != - ] || continue
		if [ -n "$score" ] && awk -v s="$score" -v b="${u#*:}" 'BEGIN { exit !(s < b) }'; then
			t_ok "systemd-analyze security ${u%%:*}: $score"
		else
			t_fail "systemd-analyze security ${u%%:*}" "score '${score:-none}', bound ${u#*:} ($(tail -n 1 "$O/security-${u%%:*}.out"))"
		fi
	done
else
	t_skip "systemd-analyze verify/security" "no systemd-analyze (apt-get install systemd)"
fi

# an administrator's file survives a second install
echo "level=7" >>"$R/etc/salvage/salvage.conf"
make -s --no-print-directory -C "$T_HERE/.." BUILD="$(cd "$BUILD" && pwd)" install \
	PREFIX="$R/usr" SYSCONFDIR="$R/etc" UNITDIR="$R/lib/systemd/system" >>"$O/install.log" 2>&1
grep -qx "level=7" "$R/etc/salvage/salvage.conf" && t_ok "install keeps salvage.conf" ||
	t_fail "install keeps salvage.conf" "overwritten"

S=$R/usr/sbin/salvage
CONF=$R/etc/salvage/salvage.conf

# ---- salvage config check ---------------------------------------------------------
t_check "shipped salvage.conf is valid" "$S" config check "$T_HERE/../systemd/salvage.conf"
printf 'level=3\n\n# fine\ncodec=brotli\ntimeout=5\nnosuchkey=1\n' >"$O/bad.conf"
"$S" config check "$O/bad.conf" >"$O/bad.out" 2>&1
rc=$?
cat >"$O/bad.want" <<WANT
$O/bad.conf:4: codec: 'brotli' is not one of zstd zlib lzo snappy none
$O/bad.conf:5: timeout: '5' is not in 10..604800
$O/bad.conf:6: nosuchkey: unknown key
$O/bad.conf: 3 lines refused
WANT
if [ $rc = 1 ] && diff -u "$O/bad.want" "$O/bad.out" >"$O/bad.diff"; then
	t_ok "config check refuses with line numbers"
else
	t_fail "config check refuses with line numbers" "exit $rc; $(head -n 8 "$O/bad.diff")"
fi
"$S" config check "$O/missing.conf" >/dev/null 2>&1
[ $? = 1 ] && t_ok "config check: missing file exits 1" || t_fail "config check: missing file" "not exit 1"
"$S" config check a b >/dev/null 2>&1
[ $? = 2 ] && t_ok "config check: usage exits 2" || t_fail "config check: usage" "not exit 2"

# ---- a kernel and its modules, as a package installs them -------------------------
mkdir -p "$R/boot" "$R/lib/modules/$KVER/kernel" "$O/state"
echo "kernel image $KVER" >"$R/boot/vmlinuz-$KVER"
for m in virtio_blk ext4; do echo "module $m" >"$R/lib/modules/$KVER/kernel/$m.ko"; done
printf 'kernel/virtio_blk.ko:\nkernel/ext4.ko:\n' >"$R/lib/modules/$KVER/modules.dep"
: >"$R/lib/modules/$KVER/modules.builtin"
export SALVAGE_CONF=$CONF SALVAGE_BOOT=$R/boot SALVAGE_STATE=$O/state SALVAGE_MODROOT=$R \
	SALVAGE_BIN=$R/usr/sbin SALVAGE_CRASHDIR=$O/crash
IMG=$R/boot/salvage-initrd.img-$KVER
printf 'target=disk:LABEL=crash:/dumps\nlevel=17\nkeep=3\n' >"$CONF"

# the image's etc/salvage.conf, read without our code
image_conf() {
	rm -rf "$O/x" && mkdir -p "$O/x" && zstd -qdc "$IMG" >"$O/x.cpio" &&
		"$PY" "$T_HERE/tools/cpiols.py" "$O/x.cpio" "$O/x" >/dev/null && cat "$O/x/etc/salvage.conf"
}

"$R/etc/kernel/postinst.d/salvage" "$KVER" "$R/boot/vmlinuz-$KVER" >"$O/hook1.out" 2>&1
if [ -f "$IMG" ] && grep -q "building .* (none yet)" "$O/hook1.out"; then
	t_ok "postinst hook builds the crash initramfs"
else
	t_fail "postinst hook builds the crash initramfs" "$(tail -n 3 "$O/hook1.out")"
fi
image_conf >"$O/img1.conf" 2>&1
if grep -qx "target=disk:LABEL=crash:/dumps" "$O/img1.conf" && grep -qx "level=17" "$O/img1.conf" &&
	grep -qx "keep=3" "$O/img1.conf" && grep -qx "kver=$KVER" "$O/img1.conf" &&
	grep -q "^modules=virtio_blk" "$O/img1.conf"; then
	t_ok "image carries the configuration"
else
	t_fail "image carries the configuration" "$(tr '\n' ' ' <"$O/img1.conf")"
fi
m1=$(stat -c %Y.%i "$IMG")
"$R/usr/lib/salvage/salvage-service" build "$KVER" >"$O/build2.out" 2>&1
grep -q "is up to date" "$O/build2.out" && [ "$(stat -c %Y.%i "$IMG")" = "$m1" ] &&
	t_ok "unchanged inputs: no rebuild" || t_fail "unchanged inputs: no rebuild" "$(cat "$O/build2.out")"

sed -i 's/level=17/level=1/' "$CONF"
"$R/usr/lib/salvage/salvage-service" build "$KVER" >"$O/build3.out" 2>&1
grep -q "(changed: config)" "$O/build3.out" && image_conf | grep -qx "level=1" &&
	t_ok "changed configuration: rebuilt" || t_fail "changed configuration: rebuilt" "$(cat "$O/build3.out")"
echo "kernel image $KVER, rebuilt" >"$R/boot/vmlinuz-$KVER"
"$R/usr/lib/salvage/salvage-service" build "$KVER" >"$O/build4.out" 2>&1
grep -q "(changed: kernel)" "$O/build4.out" &&
	t_ok "changed kernel: rebuilt" || t_fail "changed kernel: rebuilt" "$(cat "$O/build4.out")"

echo "level=99" >>"$CONF"
"$R/usr/lib/salvage/salvage-service" build "$KVER" >"$O/build5.out" 2>&1
rc=$?
if [ $rc != 0 ] && grep -q "$CONF:4: level: '99' is not in 0..31" "$O/build5.out" &&
	image_conf | grep -qx "level=1"; then
	t_ok "bad configuration: refused, old image kept"
else
	t_fail "bad configuration: refused, old image kept" "exit $rc: $(tr '\n' ' ' <"$O/build5.out")"
fi
# the hook never fails a kernel's installation
"$R/etc/kernel/postinst.d/salvage" "$KVER" >"$O/hook2.out" 2>&1 && grep -q warning "$O/hook2.out" &&
	t_ok "hook: failure reported, exit 0" || t_fail "hook: failure reported, exit 0" "$(cat "$O/hook2.out")"
sed -i '/level=99/d' "$CONF"

"$R/etc/kernel/postrm.d/salvage" "$KVER" >"$O/rm.out" 2>&1
[ ! -e "$IMG" ] && [ ! -e "$O/state/stamp-$KVER" ] && t_ok "postrm hook removes the crash initramfs" ||
	t_fail "postrm hook removes the crash initramfs" "$(cat "$O/rm.out")"

# ---- salvage status and setup on a fake /sys, /proc and /boot ---------------------
status() { "$S" status --root "$R" --kver "$KVER" --config "$CONF" "$@"; }
mkdir -p "$R/sys/kernel" "$R/proc" "$R/var/crash"
printf 'MemTotal: 4194304 kB\nMemFree: 1048576 kB\nCached: 524288 kB\nShmem: 0 kB\nAnonPages: 262144 kB\n' \
	>"$R/proc/meminfo"
echo 0 >"$R/sys/kernel/kexec_crash_size"
echo 0 >"$R/sys/kernel/kexec_crash_loaded"
printf 'target=disk:LABEL=crash:/var/crash\nlevel=31\n' >"$CONF"
"$R/usr/lib/salvage/salvage-service" build "$KVER" >"$O/build6.out" 2>&1 ||
	t_fail "build for status" "$(tail -n 2 "$O/build6.out")"
# without a target the service picks one (the file system of /var/crash,
# under --root: $R/var/crash), which status does not compare; the image is
# older than the configuration file
printf 'level=31\n' >"$CONF"
touch -d '-2 seconds' "$CONF"
status >"$O/st1.out"; rc=$?
[ $rc = 1 ] && grep -q "^armed: *no: no memory is reserved for a crash kernel" "$O/st1.out" &&
	t_ok "status: no reservation, exit 1" || t_fail "status: no reservation" "exit $rc: $(head -n 1 "$O/st1.out")"
echo $((128 << 20)) >"$R/sys/kernel/kexec_crash_size"
status >"$O/st2.out"; rc=$?
[ $rc = 1 ] && grep -q "^armed: *no: no crash kernel is loaded" "$O/st2.out" &&
	t_ok "status: not loaded, exit 1" || t_fail "status: not loaded" "exit $rc: $(head -n 1 "$O/st2.out")"
echo 1 >"$R/sys/kernel/kexec_crash_loaded"
status >"$O/st3.out"; rc=$?
if [ $rc = 0 ] && grep -q "^armed: *yes$" "$O/st3.out" &&
	grep -q "^initramfs: .*matches the kernel and configuration" "$O/st3.out" &&
	grep -q "^reservation: *128.0 MiB, crash kernel loaded" "$O/st3.out" &&
	grep -q "^space: *$R/var/crash: .* free; a dump at level 31 takes at most 2.2 GiB" "$O/st3.out"; then
	t_ok "status: armed, exit 0"
else
	t_fail "status: armed" "exit $rc: $(tr '\n' '|' <"$O/st3.out")"
fi
status --json >"$O/st3.json"
"$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))
assert d["armed"] is True and d["reason"] is None, d
assert d["reserved_bytes"] == 128 << 20 and d["loaded"] is True, d
assert d["ram_bytes"] == 4 << 30 and d["dump_max_bytes"] == (4 << 30) - (1792 << 20), d
assert d["initramfs_current"] is True and d["level"] == 31, d' "$O/st3.json" 2>"$O/st3.err" &&
	t_ok "status --json" || t_fail "status --json" "$(tail -n 1 "$O/st3.err")"
printf 'level=1\n' >"$CONF"
touch -d '+2 seconds' "$CONF"
status >"$O/st4.out"; rc=$?
[ $rc = 1 ] && grep -q "^armed: *no: the crash initramfs is stale: level differs, the configuration file is newer" "$O/st4.out" &&
	t_ok "status: stale image, exit 1" || t_fail "status: stale image" "exit $rc: $(head -n 1 "$O/st4.out")"
printf 'level=40\n' >"$CONF"
status >"$O/st5.out"; rc=$?
[ $rc = 3 ] && grep -q "is not valid" "$O/st5.out" &&
	t_ok "status: bad configuration, exit 3" || t_fail "status: bad configuration" "exit $rc: $(head -n 1 "$O/st5.out")"
status --bogus >/dev/null 2>&1
[ $? = 2 ] && t_ok "status: usage, exit 2" || t_fail "status: usage" "not exit 2"

# the reservation: 56 MiB + twice the kernel + four times the image, rounded up to 8 MiB
ks=$(stat -c %s "$R/boot/vmlinuz-$KVER")
is=$(stat -c %s "$IMG")
M=$((1 << 20))
want=$(( (56 * M + 2 * ks + 4 * is + 8 * M - 1) / (8 * M) * 8 ))
got=$("$S" setup --crashkernel --root "$R" --kver "$KVER")
[ "$got" = "crashkernel=${want}M" ] && t_ok "setup --crashkernel" ||
	t_fail "setup --crashkernel" "'$got', want crashkernel=${want}M"
"$S" setup --crashkernel --apply --root "$R" --kver "$KVER" >"$O/setup.out" 2>&1
grep -qx "GRUB_CMDLINE_LINUX_DEFAULT=\"\$GRUB_CMDLINE_LINUX_DEFAULT crashkernel=${want}M\"" \
	"$R/etc/default/grub.d/salvage.cfg" 2>/dev/null && grep -q "not running update-grub" "$O/setup.out" &&
	t_ok "setup --apply writes the grub drop-in" || t_fail "setup --apply" "$(cat "$O/setup.out")"

# ---- announce ---------------------------------------------------------------------
D=$O/dumps
mkdir -p "$D/az-host-20261122T031448Z" "$D/az-host-20261123T000000Z"
if t_mkdump announce "$T_FIX/az-61.desc" "$D/az-host-20261122T031448Z/vmcore"; then
	printf '{\n  "status": "ok",\n  "incomplete": false\n}\n' >"$D/az-host-20261122T031448Z/meta.json"
	printf '{\n  "status": "failed"\n}\n' >"$D/az-host-20261123T000000Z/meta.json"
	"$R/usr/lib/salvage/salvage-service" announce "$D" >"$O/ann1.out" 2>&1
	if grep -q "^<2>salvage: crash dump saved: $D/az-host-20261122T031448Z/vmcore (.*, ok)$" "$O/ann1.out" &&
		grep -qx '<2>salvage: panic: "Kernel panic - not syncing: Fatal exception"' "$O/ann1.out" &&
		grep -q "^<2>salvage: 6.1.0-56-cloud-amd64 on az-host, crashed .*2026.*; panic cpu 0, pid 1$" "$O/ann1.out" &&
		grep -q "^<3>salvage: crash at az-host-20261123T000000Z: no dump was saved (status failed" "$O/ann1.out"; then
		t_ok "announce: path, panic, triage; a failed capture"
	else
		t_fail "announce: path, panic, triage; a failed capture" "$(cat "$O/ann1.out")"
	fi
	"$R/usr/lib/salvage/salvage-service" announce "$D" >"$O/ann2.out" 2>&1
	[ ! -s "$O/ann2.out" ] && t_ok "announce: once" || t_fail "announce: once" "$(cat "$O/ann2.out")"
	# archive=DB in the configuration: the announced dump joins the archive
	mkdir -p "$D/az-host-20261124T000000Z"
	cp "$D/az-host-20261122T031448Z/vmcore" "$D/az-host-20261124T000000Z/vmcore"
	printf '{\n  "status": "ok",\n  "incomplete": false\n}\n' >"$D/az-host-20261124T000000Z/meta.json"
	rm -f "$O/announce.db"
	printf 'archive=%s\n' "$O/announce.db" >"$O/conf.archive"
	SALVAGE_CONF=$O/conf.archive "$R/usr/lib/salvage/salvage-service" announce "$D" >"$O/ann3.out" 2>&1
	n=$("$S" archive --db "$O/announce.db" list --json 2>/dev/null | grep -c '"path"')
	if grep -q "^<6>salvage: archive $O/announce.db: " "$O/ann3.out" && [ "$n" = 1 ]; then
		t_ok "announce: archive= adds the dump to the archive"
	else
		t_fail "announce: archive= adds the dump to the archive" "$n rows; $(cat "$O/ann3.out")"
	fi
fi

t_summary
