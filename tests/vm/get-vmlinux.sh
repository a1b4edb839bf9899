#!/bin/bash
# tests/vm/get-vmlinux.sh - fetch the debug vmlinux for a Debian kernel and
# check that crash(8) can read a vmcore with it. See tests/vm/README.md.
#
# usage: get-vmlinux.sh [--keep-deb] [--no-check] KVER OUTDIR
#   KVER        kernel ABI version, e.g. the content of OUTDIR/kver
#   OUTDIR      gets a symlink OUTDIR/vmlinux -> cache; if OUTDIR/vmcore exists,
#               crash -s runs sys, log, bt, ps and a task-list walk on it
#               (output in OUTDIR/crash.out)
#   --keep-deb  keep linux-image-KVER-dbg_*.deb (~283 MB) in the cache; by
#               default it is deleted once the vmlinux is extracted
#   --no-check  do not run crash
#
# Cache: $SALVAGE_CACHE/kernels/KVER/vmlinux (~590 MB), downloaded once.
set -euo pipefail

. "$(dirname "$0")/lib.sh"

keep_deb=0 check=1 kver="" outdir=""
usage() { sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2; exit 2; }
while [ $# -gt 0 ]; do
	case $1 in
	--keep-deb) keep_deb=1; shift ;;
	--no-check) check=0; shift ;;
	-h | --help) usage ;;
	-*) echo "unknown option $1" >&2; usage ;;
	*)
		if [ -z "$kver" ]; then kver=$1
		elif [ -z "$outdir" ]; then outdir=$1
		else usage; fi
		shift ;;
	esac
done
[ -n "$kver" ] && [ -n "$outdir" ] || usage
case $kver in */* | *' '* | '') sv_die "bad KVER '$kver'" ;; esac

sv_need apt-get dpkg-deb tar flock readelf
sv_cache_init
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
kdir=$SALVAGE_CACHE/kernels/$kver
vmlinux=$kdir/vmlinux
pkg=linux-image-$kver-dbg
member=./usr/lib/debug/boot/vmlinux-$kver

tmpdir=""
trap '[ -z "$tmpdir" ] || rm -rf "$tmpdir"' EXIT
trap 'exit 130' INT TERM

t_dl="" t_x=""
sv_lock
if [ ! -s "$vmlinux" ]; then
	deb=$(ls -t "$SALVAGE_CACHE/debs/${pkg}_"*.deb 2>/dev/null | head -n 1 || true)
	if [ -z "$deb" ] || ! dpkg-deb --info "$deb" >/dev/null 2>&1; then
		t0=$(sv_now)
		deb=$(sv_apt_download "$pkg" "$SALVAGE_CACHE/debs") || exit 1
		t_dl=$(sv_elapsed "$t0")
	fi
	t0=$(sv_now)
	mkdir -p "$kdir"
	tmpdir=$(mktemp -d "$kdir/.vmlinux.XXXXXX")
	sv_log "extracting $member"
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmpdir" "$member" ||
		sv_die "extracting $member from $deb failed"
	[ -s "$tmpdir/$member" ] || sv_die "$member is empty in $deb"
	mv "$tmpdir/$member" "$vmlinux"
	t_x=$(sv_elapsed "$t0")
	sv_log "extracted vmlinux ($(du -h "$vmlinux" | cut -f1)) in ${t_x} s"
	if [ "$keep_deb" = 0 ]; then
		rm -f "$deb"
		sv_log "removed $deb (use --keep-deb to keep it)"
	fi
else
	sv_log "cached: $vmlinux"
fi
sv_unlock
if [ -n "$t_x" ]; then
	{
		echo "vmlinux_bytes=$(stat -c %s "$vmlinux")"
		[ -z "$t_dl" ] || echo "t_download_dbg_s=$t_dl"
		echo "t_extract_vmlinux_s=$t_x"
	} >"$kdir/vmlinux.fetch-info"
fi
ln -sfn "$vmlinux" "$outdir/vmlinux"
{
	echo "vmlinux=$vmlinux"
	cat "$kdir/vmlinux.fetch-info" 2>/dev/null || true
} >"$outdir/vmlinux.info"

[ "$check" = 1 ] && [ -f "$outdir/vmcore" ] || exit 0

# The vmcore's VMCOREINFO BUILD-ID must match the vmlinux's GNU build id.
core_id=$(head -c 1048576 "$outdir/vmcore" | grep -a -o -m 1 'BUILD-ID=[0-9a-f]*' | cut -d= -f2 || true)
vml_id=$(readelf -n "$vmlinux" | awk '!found && /Build ID:/ { print $3; found = 1 }')
if [ -n "$core_id" ] && [ "$core_id" != "$vml_id" ]; then
	sv_die "build id mismatch: vmcore $core_id, vmlinux $vml_id"
fi
sv_log "build id ${vml_id} matches the vmcore"

sv_need crash
t0=$(sv_now)
# crash reads commands from stdin when it is not a terminal and exits at EOF.
# crash 8.0.2 builds its task table from pid.numbers[1]; Debian's 6.1.1xx
# kernels carry the 6.5 flex-array change (numbers[]), so `ps` lists only the
# idle and panic tasks ("active task ... not found in PID hash"). The task
# list is therefore also walked directly through init_task.tasks.
printf '%s\n' sys log bt ps 'list task_struct.tasks -s task_struct.pid,comm -h init_task' quit |
	timeout -k 10 600 crash -s "$vmlinux" "$outdir/vmcore" >"$outdir/crash.out" 2>&1 || {
	cat "$outdir/crash.out" >&2
	sv_die "crash failed"
}
t_crash=$(sv_elapsed "$t0")
echo "t_crash_s=$t_crash" >>"$outdir/vmlinux.info"
cat "$outdir/crash.out"
for want in 'PANIC: .*sysrq triggered crash' "$SV_MARKER" 'sysrq: Trigger a crash' \
	'COMMAND: "init"' sysrq_handle_crash; do
	grep -q "$want" "$outdir/crash.out" || sv_die "crash output lacks '$want' (see $outdir/crash.out)"
done
for t in $SV_IDLE_TASKS; do
	grep -q "comm = \"$t" "$outdir/crash.out" || sv_die "task $t not in crash's init_task.tasks list"
done
sv_log "crash sys/log/bt/ps/list OK in ${t_crash} s (output in $outdir/crash.out)"
