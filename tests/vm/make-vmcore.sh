#!/bin/bash
# tests/vm/make-vmcore.sh - produce a real vmcore from a real Debian kernel crash
# under QEMU (TCG). See tests/vm/README.md.
#
# usage: make-vmcore.sh [options] OUTDIR
#   --mem MB            guest memory (default 1024)
#   --smp N             guest CPUs (default 1; N>1 gives one NT_PRSTATUS per CPU)
#   --la57 | --no-la57  5-level paging (-cpu max, default) or 4-level (-cpu max,-la57)
#   --crashkernel MB    crashkernel= reservation (default 256)
#   --kver KVER         kernel ABI version (default: resolved from linux-image-FLAVOUR)
#   --flavour F         kernel flavour (default cloud-amd64)
#   --crash-initrd IMG  use IMG as the capture kernel's initramfs instead of the
#                       built-in busybox one (same contract: raw /proc/vmcore to
#                       /dev/vda, print "SALVAGE: capture done rc=0", power off)
#   --timeout S         bound for the whole QEMU run (default 900)
#   --keep-images       keep the initramfs images in OUTDIR
#   --workload MIB      before the crash, a process fills MIB MiB of anonymous
#                       memory with mixed content (tests/vm/workload.c)
#
# Outputs in OUTDIR: vmcore, kver, vmlinuz -> cache, modules -> cache,
# console.log, qemu.stderr, dmesg.mdf, info (key=value, timings and sizes).
set -euo pipefail

. "$(dirname "$0")/lib.sh"

mem=1024 smp=1 la57=1 crashkernel=256 kver="" flavour=cloud-amd64
crash_initrd="" timeout_s=900 keep_images=0 outdir="" workload=0

usage() { sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2; exit 2; }
while [ $# -gt 0 ]; do
	case $1 in
	--mem) mem=${2:?}; shift 2 ;;
	--smp) smp=${2:?}; shift 2 ;;
	--la57) la57=1; shift ;;
	--no-la57) la57=0; shift ;;
	--crashkernel) crashkernel=${2:?}; shift 2 ;;
	--kver) kver=${2:?}; shift 2 ;;
	--flavour) flavour=${2:?}; shift 2 ;;
	--crash-initrd) crash_initrd=${2:?}; shift 2 ;;
	--timeout) timeout_s=${2:?}; shift 2 ;;
	--keep-images) keep_images=1; shift ;;
	--workload) workload=${2:?}; shift 2 ;;
	-h | --help) usage ;;
	-*) echo "unknown option $1" >&2; usage ;;
	*) [ -z "$outdir" ] || usage; outdir=$1; shift ;;
	esac
done
[ -n "$outdir" ] || usage
for v in mem smp crashkernel timeout_s workload; do
	case ${!v} in '' | *[!0-9]*) sv_die "--${v%_s} needs a positive integer" ;; esac
done
[ "$mem" -ge $((crashkernel + 384)) ] || sv_die "--mem $mem is too small for crashkernel=${crashkernel}M (need >= $((crashkernel + 384)))"
[ -z "$crash_initrd" ] || [ -f "$crash_initrd" ] || sv_die "no such file: $crash_initrd"
[ "$workload" = 0 ] || [ "$mem" -ge $((crashkernel + 384 + workload)) ] ||
	sv_die "--mem $mem is too small for --workload $workload (need >= $((crashkernel + 384 + workload)))"

sv_need qemu-system-x86_64 apt-cache timeout truncate flock "$SV_PYTHON" makedumpfile
sv_cache_init
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
rm -f "$outdir"/{vmcore,kver,vmlinuz,modules,console.log,qemu.stderr,dmesg.mdf,info} \
	"$outdir"/{first.img,crash.img} "$outdir"/.disk.img.tmp

t_all=$(sv_now)
work=
cleanup() {
	[ -z "$work" ] || rm -rf "$work"
	rm -f "$outdir/.disk.img.tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. kernel (download once, cached)
sv_use_kernel "$flavour"

# 2. initramfs images
t0=$(sv_now)
work=$(mktemp -d "${TMPDIR:-/tmp}/salvage-vm.XXXXXX")
kexec_load=$(sv_build_kexec_load)
if [ -n "$crash_initrd" ]; then
	cp "$crash_initrd" "$work/crash.img"
else
	sv_build_crash_initramfs "$SV_MODDIR" "$work/crash.img"
fi
crash_cmdline="console=ttyS0 nr_cpus=1 reset_devices irqpoll panic=1"
workload_bin=
[ "$workload" = 0 ] || workload_bin=$(sv_build_workload)
sv_build_first_initramfs "$SV_MODDIR" "$SV_VMLINUZ" "$work/crash.img" "$kexec_load" \
	"$crash_cmdline" "$work/first.img" ${workload_bin:+"$workload_bin" "$workload"}
t_initramfs=$(sv_elapsed "$t0")
sv_log "initramfs: first $(du -h "$work/first.img" | cut -f1), crash $(du -h "$work/crash.img" | cut -f1) in ${t_initramfs} s"

# 3. QEMU: boot, arm kdump, crash, capture into a sparse raw disk
disk=$outdir/.disk.img.tmp
truncate -s $((mem + 64))M "$disk"
cpu=max
[ "$la57" = 1 ] || cpu=max,-la57
append="console=ttyS0 crashkernel=${crashkernel}M panic=1 quiet"
sv_log "qemu: -accel tcg -cpu $cpu -m $mem -smp $smp (timeout ${timeout_s}s), console -> $outdir/console.log"
t0=$(sv_now)
qrc=0
timeout -k 10 "$timeout_s" qemu-system-x86_64 -accel tcg -cpu "$cpu" -m "$mem" -smp "$smp" \
	-nographic -no-reboot -nic none \
	-kernel "$SV_VMLINUZ" -initrd "$work/first.img" -append "$append" \
	-drive "file=$disk,format=raw,if=virtio" \
	</dev/null >"$outdir/console.log" 2>"$outdir/qemu.stderr" || qrc=$?
t_qemu=$(sv_elapsed "$t0")
sv_log "qemu exited rc=$qrc after ${t_qemu} s"
grep -a 'SALVAGE:' "$outdir/console.log" | tr -d '\r' |
	sed 's/\x1bc//g; s/\x1b\[[0-9;?]*[A-Za-z]//g; s/^/[vm]   guest: /' >&2 || true
if ! grep -aq "$SV_CAPTURE_OK" "$outdir/console.log"; then
	[ "$qrc" != 124 ] || sv_log "qemu timed out after ${timeout_s} s"
	sv_log "last console lines:"
	tail -n 40 "$outdir/console.log" | tr -d '\r' >&2
	[ ! -s "$outdir/qemu.stderr" ] || { sv_log "qemu stderr:"; cat "$outdir/qemu.stderr" >&2; }
	sv_die "capture did not complete (see $outdir/console.log)"
fi
[ "$qrc" = 0 ] || sv_log "warning: qemu rc=$qrc although the capture completed"
[ "$workload" = 0 ] || grep -aq 'SALVAGE: workload ready' "$outdir/console.log" ||
	sv_die "the workload did not report ready before the crash (see $outdir/console.log)"

# 4. cut the raw disk to the ELF extent
extent=$(sv_elf_extent "$disk") || sv_die "no ELF core at the start of the disk image"
truncate -s "$extent" "$disk"
mv "$disk" "$outdir/vmcore"
echo "$kver" >"$outdir/kver"
ln -sfn "$SV_VMLINUZ" "$outdir/vmlinuz"
ln -sfn "$SV_MODDIR" "$outdir/modules"
if [ "$keep_images" = 1 ]; then
	cp "$work/first.img" "$work/crash.img" "$outdir/"
fi

# 5. verify with makedumpfile
t0=$(sv_now)
makedumpfile --dump-dmesg "$outdir/vmcore" "$outdir/dmesg.mdf" >"$work/mdf.out" 2>&1 || {
	cat "$work/mdf.out" >&2
	sv_die "makedumpfile --dump-dmesg failed"
}
t_mdf=$(sv_elapsed "$t0")
grep -q "$SV_MARKER" "$outdir/dmesg.mdf" || sv_die "marker '$SV_MARKER' not in dmesg.mdf"
grep -q 'sysrq: Trigger a crash' "$outdir/dmesg.mdf" || sv_die "'sysrq: Trigger a crash' not in dmesg.mdf"
for t in $SV_IDLE_TASKS; do
	grep -q "salvage-task name=$t pid=" "$outdir/dmesg.mdf" || sv_die "task line for $t not in dmesg.mdf"
done

size=$(stat -c %s "$outdir/vmcore")
t_total=$(sv_elapsed "$t_all")
guest_times=$(grep -a 'SALVAGE:' "$outdir/console.log" | tr -d '\r' |
	sed -n 's/.*crash kernel loaded at \([0-9.]*\)s.*/crashing_uptime=\1/p; s/.*capture done rc=0 at \([0-9.]*\)s.*/capture_uptime=\1/p')
sv_kv "$outdir/info" kver=kver flavour=flavour mem_mb=mem smp=smp la57=la57 cpu=cpu \
	crashkernel_mb=crashkernel workload_mib=workload append=append crash_append=crash_cmdline vmcore_bytes=size \
	vmlinuz=SV_VMLINUZ modules=SV_MODDIR t_prepare_s=t_prepare t_initramfs_s=t_initramfs \
	t_qemu_s=t_qemu t_makedumpfile_s=t_mdf t_total_s=t_total
printf '%s\n' "$guest_times" >>"$outdir/info"
sv_log "vmcore: $outdir/vmcore ($size bytes), dmesg OK (marker, sysrq, tasks)"
sv_log "timings: prepare ${t_prepare}s, initramfs ${t_initramfs}s, qemu ${t_qemu}s, makedumpfile ${t_mdf}s, total ${t_total}s"
