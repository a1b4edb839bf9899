#!/bin/bash
# tests/vm/e2e-disk.sh - end to end on a real kernel under QEMU (TCG): a Debian
# kernel is crashed, our agent (salvage-capture as init of the crash kernel,
# in an image made by `salvage mkinitramfs`, armed by `salvage arm`) writes
# the dump to an ext4 disk, and the host checks what it wrote.
#
# usage: e2e-disk.sh [options] BUILD
#   BUILD            build directory with salvage and salvage-capture
#   --agent PATH     agent binary (default BUILD/salvage-capture)
#   --kver KVER      kernel ABI version (default: resolved; env SALVAGE_KVER)
#   --flavour F      kernel flavour (default cloud-amd64)
#   --out DIR        keep the console log and the extracted dump in DIR
#                    (default: a temporary directory, removed on success)
#   --no-crash       skip the crash(8) check with the -dbg vmlinux
#   --timeout S      bound for the QEMU run (default 600)
#
# Checks: the agent's console lines; the dump directory is named after the
# guest's host name; old dumps pruned to salvage.keep=2 (given on the crash
# kernel's command line through `salvage arm --append`); no temporary files
# left; `salvage info`: release, not incomplete, zstd, level 31; dmesg.txt and
# the dump's own log (`salvage dmesg`) hold the marker, the sysrq line and the
# panic; meta.json is valid with the expected fields; the image is
# reproducible; booted without crashkernel=, `salvage arm` refuses; crash(8)
# runs sys, log and bt with the matching vmlinux.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/e2e-lib.sh"

do_crash=1
e2e_own_opt() { [ "$1" = --no-crash ] && do_crash=0 E2E_SHIFT=1; }
e2e_args "$@"
e2e_start disk qemu-system-x86_64 apt-cache timeout mkfs.ext4 debugfs dumpe2fs ldd "$SV_PYTHON"

# 1. kernel
sv_use_kernel "$flavour"

# 2. images: the crash initramfs (twice: reproducible), the first-boot one
t0=$(sv_now)
target="disk:LABEL=$E2E_LABEL:/var/crash"
mk() {
	"$build/salvage" mkinitramfs -o "$1" --kver "$kver" --moddir "$SV_KROOT" \
		--target "$target" --agent "$agent" --wait 30 --timeout 300 "${@:2}"
}
mk "$work/crash.img" | sed 's/^/[vm]   /' >&2
SOURCE_DATE_EPOCH=0 mk "$work/crash2.img" -q
cmp -s "$work/crash.img" "$work/crash2.img" || sv_die "mkinitramfs is not reproducible"
t_ok "mkinitramfs is reproducible"
crash_size=$(stat -c %s "$work/crash.img")
t_crash_img=$(sv_elapsed "$t0")
e2e_build_first_initramfs "$SV_VMLINUZ" "$work/crash.img" "$build/salvage" \
	"salvage.keep=2" "$work/first.img"
t_images=$(sv_elapsed "$t0")
sv_log "crash initramfs $crash_size bytes (reproducible, built in ${t_crash_img} s); first $(du -h "$work/first.img" | cut -f1)"

# 3. the target: ext4 with two old dumps of this host (the older one is pruned)
mkdir -p "$work/fs/var/crash"
for old in 20200101T000000Z 20210101T000000Z; do
	d=$work/fs/var/crash/$E2E_HOST-$old
	mkdir -p "$d"
	echo '{"salvage_meta": 1, "status": "ok"}' >"$d/meta.json"
	head -c 65536 /dev/urandom >"$d/vmcore"
done
e2e_make_ext4 "$work/disk.img" 512 "$work/fs"

# 4. boot, arm, crash, capture
e2e_boot "" all
e2e_captured
grep -aq 'agent: rebooting' "$out/console.log" || sv_die "the agent did not reboot"

# 5. take the files out without mounting
names=$(e2e_dump_dirs "$work/disk.img" /var/crash)
sv_log "on disk: $(printf "%s " $names)"
new=$(printf '%s\n' "$names" | grep -v -e '-20200101T' -e '-20210101T' || true)
[ "$(printf '%s\n' "$new" | grep -c .)" = 1 ] || sv_die "expected one new dump directory, found: $new"
case $new in "$E2E_HOST"-20[0-9][0-9][0-1][0-9][0-3][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z) ;;
*) sv_die "dump directory '$new' is not $E2E_HOST-<UTC time>" ;; esac
printf '%s\n' "$names" | grep -q -e '-20200101T' && sv_die "the oldest dump was not pruned (keep=2)"
printf '%s\n' "$names" | grep -q -e '-20210101T' || sv_die "the second oldest dump was pruned too"
rm -rf "$out/dump"
e2e_extract "$work/disk.img" "/var/crash/$new" "$out"
mv "$out/$new" "$out/dump"
ls -la "$out/dump" | sed 's/^/[vm]   /' >&2
for f in vmcore dmesg.txt meta.json; do
	[ -s "$out/dump/$f" ] || sv_die "no $f in the dump directory"
done
leftover=$(find "$out/dump" -mindepth 1 ! -name vmcore ! -name dmesg.txt ! -name meta.json -printf "%f " )
[ -z "$leftover" ] || sv_die "unexpected files in the dump directory: $leftover"
t_ok "dump directory: named, old dumps pruned, vmcore dmesg.txt meta.json only"

# 6. what salvage reads
t0=$(sv_now)
"$build/salvage" info "$out/dump/vmcore" >"$out/info.txt"
"$build/salvage" info --json "$out/dump/vmcore" >"$out/info.json"
"$SV_PYTHON" - "$out/info.json" "$kver" <<'EOF' || sv_die "salvage info check failed"
import json, sys
i = json.load(open(sys.argv[1]))
want = {"format": "kdump", "compression": "zstd", "osrelease": sys.argv[2], "incomplete": False,
        "dump_level": 31}
bad = {k: i.get(k) for k, v in want.items() if i.get(k) != v}
if bad:
    sys.exit("[vm] ERROR: salvage info: %r, expected %r" % (bad, {k: want[k] for k in bad}))
EOF
for want in "$SV_MARKER" 'sysrq: Trigger a crash' 'Kernel panic - not syncing: sysrq triggered crash'; do
	grep -q "$want" "$out/dump/dmesg.txt" || sv_die "dmesg.txt lacks '$want'"
done
if "$build/salvage" dmesg "$out/dump/vmcore" >"$out/dmesg.salvage" 2>"$out/dmesg.salvage.err"; then
	for want in "$SV_MARKER" 'sysrq: Trigger a crash' 'Kernel panic - not syncing: sysrq triggered crash'; do
		grep -q "$want" "$out/dmesg.salvage" || sv_die "the dump's own log (salvage dmesg) lacks '$want'"
	done
	cmp -s "$out/dmesg.salvage" "$out/dump/dmesg.txt" || sv_die "dmesg.txt differs from salvage dmesg of the dump"
else
	cat "$out/dmesg.salvage.err" >&2
	sv_die "salvage dmesg cannot read the dump"
fi
size=$(stat -c %s "$out/dump/vmcore")
dsize=$(stat -c %s "$out/dump/dmesg.txt")
e2e_json "$out/dump/meta.json" \
	"m['salvage_meta'] == 1" "m['status'] == 'ok'" "m['incomplete'] is False" "m['error'] is None" \
	"m['hostname'] == '$E2E_HOST'" "m['osrelease'] == '$kver'" "isinstance(m['crash_time'], int)" \
	"m['dump'] == {'file': 'vmcore', 'format': 'kdump', 'level': 31, 'codec': 'zstd', 'bytes': $size}" \
	"m['dmesg'] == {'file': 'dmesg.txt', 'bytes': $dsize}" \
	"m['pages']['written'] == m['pages']['dumpable'] > 0" "m['bytes_out'] == $size" \
	"0 < m['seconds']['capture'] <= m['seconds']['total']" \
	"m['target']['fstype'] == 'ext4' and m['target']['label'] == '$E2E_LABEL'" \
	"m['target']['device'] == '/dev/vda'" "m['pruned'] == ['$E2E_HOST-20200101T000000Z']" \
	"isinstance(m['warnings'], list)" "any('capture: ok' in l for l in m['log'])"
t_checks=$(sv_elapsed "$t0")
t_ok "salvage info, dmesg.txt = salvage dmesg, meta.json"
sv_log "dump: $size bytes; dmesg.txt $dsize bytes; salvage info/dmesg and meta.json OK"

# 7. without crashkernel= memory, `salvage arm` must refuse and say why
t0=$(sv_now)
timeout -k 10 120 qemu-system-x86_64 -accel tcg -cpu max -m 1024 -smp 1 -nographic -no-reboot \
	-nic none -kernel "$SV_VMLINUZ" -initrd "$work/first.img" -append "console=ttyS0 panic=1 quiet no_timer_check" \
	</dev/null >"$out/console-nocrashkernel.log" 2>&1 || true
grep -aq 'salvage arm: no crashkernel memory is reserved' "$out/console-nocrashkernel.log" ||
	{ e2e_show_failure "$out/console-nocrashkernel.log"; sv_die "salvage arm did not refuse without crashkernel memory"; }
t_refuse=$(sv_elapsed "$t0")
t_ok "salvage arm refuses without crashkernel memory"
sv_log "without crashkernel=: salvage arm refused ($(grep -a -o 'no crashkernel memory is reserved[^:]*' "$out/console-nocrashkernel.log" | head -n 1)) in ${t_refuse} s"

# 8. crash(8) with the debug vmlinux (downloaded once into the cache)
t_crash=skipped
if [ "$do_crash" = 1 ]; then
	t0=$(sv_now)
	"$SV_LIBDIR/get-vmlinux.sh" --no-check "$kver" "$out" >&2 ||
		sv_die "cannot get the -dbg vmlinux for $kver: the crash check cannot run (use --no-crash to skip it)"
	printf '%s\n' sys log bt quit |
		timeout -k 10 600 crash -s "$out/vmlinux" "$out/dump/vmcore" >"$out/crash.out" 2>&1 ||
		{ tail -n 30 "$out/crash.out" >&2; sv_die "crash failed on the dump"; }
	for want in 'PANIC: .*sysrq triggered crash' "RELEASE: $kver" 'sysrq: Trigger a crash' \
		'COMMAND: "init"' sysrq_handle_crash "$SV_MARKER"; do
		grep -q "$want" "$out/crash.out" || { tail -n 40 "$out/crash.out" >&2; sv_die "crash output lacks '$want'"; }
	done
	t_crash=$(sv_elapsed "$t0")
	t_ok "crash sys, log, bt"
	sv_log "crash sys/log/bt OK in ${t_crash} s (panicking task: init)"
else
	t_skip_ok crash "--no-crash given"
fi

t_total=$(sv_elapsed "$t_all")
crash_note=$t_crash
[ "$t_crash" = skipped ] || crash_note=${t_crash}s
sv_kv "$out/e2e-info" kver=kver crash_img_bytes=crash_size vmcore_bytes=size dmesg_bytes=dsize \
	t_prepare_s=t_prepare t_crash_img_s=t_crash_img t_images_s=t_images t_qemu_s=t_qemu \
	t_checks_s=t_checks t_refuse_s=t_refuse t_crash_s=t_crash t_total_s=t_total
ok=1
sv_log "e2e-disk OK: initramfs ${crash_size} B, dump ${size} B; prepare ${t_prepare}s, images ${t_images}s, qemu ${t_qemu}s, checks ${t_checks}s, crash ${crash_note}, total ${t_total}s"
t_summary
