#!/usr/bin/env bash
# reservation-bench.sh [options] BUILD - the smallest crashkernel= reservation
# with which our agent captures, for guests of several RAM sizes (issue 19,
# item 6).  `make bench` runs it.
#
# For each guest size: Debian's cloud kernel under QEMU (TCG), the crash
# initramfs from `salvage mkinitramfs` (the agent, the default modules and
# file systems, as salvage.service builds it), armed with `salvage arm` in
# the first kernel (tests/vm/e2e-lib.sh), a sysrq crash, and the agent's
# capture to an ext4 disk.  A run captures when the agent says
# "capture: ok" and the dump directory it wrote holds a vmcore that
# `salvage info` reads.  The reservation is bisected over LO..HI in STEP
# (a run that fails is named by its cause: out of memory, no capture, ...).
# Every QEMU run is bounded (--timeout, plus the guest's size).
#
#   --sizes "MB..."   guest RAM sizes (default "1024 4096 16384")
#   --lo M --hi M     bisection range in MiB (default 64 128)
#   --step M          (default 8)
#   --cpus N          CPUs of the guest and of the crash kernel (default 1:
#                     salvage arm's nr_cpus=1; N > 1 arms with --cmdline
#                     "console=ttyS0 nr_cpus=N reset_devices irqpoll panic=1
#                     nousb", and the agent compresses with N threads)
#   --timeout S       base bound for one QEMU run (default 240; +1 s per 32 MiB of RAM)
#   --kver KVER       kernel ABI version (default: resolved from cloud-amd64)
#   --out DIR         keep consoles and the summary (default build/reservation-bench)
#
# Prints progress, then a markdown table and the model check (the agent's
# RAM-dependent memory, extrapolated to 1 TiB); the same in OUT/summary.md.
# Run the 16 GiB guest on a machine with a few GiB free (QEMU allocates
# guest memory lazily: a crashed idle guest touches far less than its size).
set -uo pipefail
. "$(dirname "$0")/../vm/lib.sh"
. "$(dirname "$0")/../vm/e2e-lib.sh"

sizes="1024 4096 16384" lo=64 hi=128 step=8 base_timeout=240 kver="" out="" cpus=1
while [ $# -gt 1 ]; do
	case $1 in
	--sizes) sizes=${2:?} ;;
	--lo) lo=${2:?} ;;
	--hi) hi=${2:?} ;;
	--step) step=${2:?} ;;
	--timeout) base_timeout=${2:?} ;;
	--cpus) cpus=${2:?} ;;
	--kver) kver=${2:?} ;;
	--out) out=${2:?} ;;
	*) break ;;
	esac
	shift 2
done
[ $# = 1 ] && [ -d "$1" ] || { sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2; exit 2; }
build=$(cd "$1" && pwd)
out=${out:-$build/reservation-bench}
mkdir -p "$out" && out=$(cd "$out" && pwd)
sv_need qemu-system-x86_64 timeout mkfs.ext4 debugfs ldd "$SV_PYTHON"
e2e_check_build "$build" "$build/salvage-capture"
sv_cache_init
work=$(mktemp -d "${TMPDIR:-/var/tmp}/salvage-resv.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
t_all=$(sv_now)
mkdir -p "$work/empty/var/crash"

# ---- the images: as salvage.service makes them --------------------------------
sv_use_kernel cloud-amd64
target="disk:LABEL=$E2E_LABEL:/var/crash"
"$build/salvage" mkinitramfs -q -o "$work/crash.img" --kver "$kver" --moddir "$SV_KROOT" \
	--target "$target" --agent "$build/salvage-capture" --timeout 600 ||
	sv_die "salvage mkinitramfs failed"
# no_timer_check: a loaded host can make TCG fail the kernel's IO-APIC timer
# check at boot ("IO-APIC + timer doesn't work!"), which says nothing about
# memory; the crash kernel gets it through salvage arm --append
[ "$cpus" -gt 1 ] &&
	export E2E_ARM_CMDLINE="console=ttyS0 nr_cpus=$cpus reset_devices irqpoll panic=1 nousb no_timer_check"
e2e_build_first_initramfs "$SV_VMLINUZ" "$work/crash.img" "$build/salvage" no_timer_check "$work/first.img"
ksize=$(stat -L -c %s "$SV_VMLINUZ")
isize=$(stat -c %s "$work/crash.img")
# what salvage setup --crashkernel recommends for this kernel and image
mkdir -p "$work/root/boot"
ln -s "$SV_VMLINUZ" "$work/root/boot/vmlinuz-$kver"
ln -s "$work/crash.img" "$work/root/boot/salvage-initrd.img-$kver"
recommend=$("$build/salvage" setup --crashkernel --root "$work/root" --kver "$kver") ||
	sv_die "salvage setup --crashkernel failed"
sv_log "kernel $kver ($ksize bytes), crash initramfs $isize bytes; salvage setup: $recommend"

# one run: run_at MB CK -> 0 when the agent captured; sets why
run_at() {
	local mb=$1 ck=$2 log=$out/console-${1}M-ck${2}M.log t0 rc=0 tmo dir
	tmo=$((base_timeout + mb / 32))
	e2e_make_ext4 "$work/disk.img" 512 "$work/empty" >/dev/null 2>&1 || { why="mkfs.ext4 failed"; return 1; }
	t0=$(sv_now)
	timeout -k 10 "$tmo" qemu-system-x86_64 -accel tcg -cpu max -m "$mb" -smp "$cpus" \
		-nographic -no-reboot -nic none -kernel "$SV_VMLINUZ" -initrd "$work/first.img" \
		-append "console=ttyS0 crashkernel=${ck}M panic=1 quiet no_timer_check" \
		-drive "file=$work/disk.img,format=raw,if=virtio" </dev/null >"$log" 2>"$log.stderr" || rc=$?
	run_s=$(sv_elapsed "$t0")
	tr -d '\r' <"$log" | sed 's/\x1bc//g; s/\x1b\[[0-9;?]*[A-Za-z]//g' >"$log.txt"
	# the crash kernel's own "Memory:" line (the second boot on the console)
	# (the first kernel's is hidden by quiet)
	crash_mem=$(grep -a -o 'Memory: [0-9]*K/[0-9]*K available' "$log.txt" | tail -n 1)
	# the agent's own account: MemAvailable at its start, budget, peak RSS
	agent_mem=$(grep -a -o 'agent: memory: .*' "$log.txt" | head -n 1 | sed 's/^agent: memory: //')
	if grep -aq "$E2E_AGENT_OK" "$log.txt"; then
		dir=$(e2e_dump_dirs "$work/disk.img" /var/crash | head -n 1)
		if [ -z "$dir" ]; then why="capture: ok but no dump directory"; return 1; fi
		rm -rf "$work/x" && mkdir -p "$work/x"
		e2e_extract "$work/disk.img" "/var/crash/$dir/vmcore" "$work/x" 2>/dev/null
		if "$build/salvage" info "$work/x/vmcore" >"$log.info" 2>&1; then
			why="captured $(stat -c %s "$work/x/vmcore") bytes"
			# the smallest run's dump stays, for the model's check
			mv "$work/x/vmcore" "$out/vmcore-${mb}M"
			rm -rf "$work/x"
			return 0
		fi
		why="the dump is unreadable: $(tail -n 1 "$log.info")"
		return 1
	fi
	# why not: the first cause the console shows, most telling first
	why=""
	for pat in 'Initramfs unpacking failed.*' 'Out of memory.*' 'Kernel panic - not syncing: .*' \
		'salvage arm: .*' 'agent: capture: .*' 'ERROR: .*'; do
		why=$(grep -a -o -E "$pat" "$log.txt" | grep -v 'sysrq triggered crash' | head -n 1)
		[ -z "$why" ] || break
	done
	# where: the crash kernel's initramfs unpacking, or the agent's run
	if [ -n "$why" ] && grep -aq 'Trying to unpack rootfs' "$log.txt" &&
		! grep -aq 'agent: ' "$log.txt"; then
		why="$why (crash kernel, before the agent started)"
	fi
	[ $rc = 124 ] && why="timed out after ${tmo} s${why:+ ($why)}"
	[ -n "$why" ] || why="no capture (qemu rc=$rc; $log)"
	return 1
}

# run_valid MB CK: run_at, again (at most twice more) when the first kernel
# never reached its crash: such a run says nothing about the reservation
run_valid() {
	local try
	for try in 1 2 3; do
		run_at "$@" && return 0
		grep -aq 'Kernel panic - not syncing: sysrq triggered crash' "$out/console-${1}M-ck${2}M.log.txt" &&
			return 1
		sv_log "  ${1} MiB guest, crashkernel=${2}M: the first kernel did not crash ($why): again"
	done
	why="the first kernel never crashed in 3 runs ($why)"
	return 1
}

# smallest candidate that captures, by bisection (captures are monotone in
# the reservation); sets best (empty: none), worst_fail, fail_why, runs
bisect() {
	local mb=$1 n i l h m
	local -a cand=()
	for ((i = lo; i <= hi; i += step)); do cand+=("$i"); done
	n=${#cand[@]} l=-1 h=$n runs=0 best="" worst_fail="" fail_why="" best_mem=""
	# invariant: cand[l] fails (or l = -1), cand[h] captures (or h = n, untested)
	while [ $((h - l)) -gt 1 ]; do
		m=$(((l + h) / 2))
		runs=$((runs + 1))
		if run_valid "$mb" "${cand[m]}"; then
			sv_log "  ${mb} MiB guest, crashkernel=${cand[m]}M: captures ($why; ${crash_mem:-?}; qemu ${run_s} s)"
			h=$m best_mem=$agent_mem
		else
			sv_log "  ${mb} MiB guest, crashkernel=${cand[m]}M: fails: $why (${crash_mem:-?}; qemu ${run_s} s)"
			l=$m worst_fail=${cand[m]} fail_why=$why
		fi
	done
	[ $h -lt "$n" ] && best=${cand[h]}
}

{
	echo "# crashkernel= bisection, $(date -u +%Y-%m-%dT%H:%MZ)"
	echo
	echo "kernel $kver ($((ksize >> 10)) KiB), crash initramfs from salvage mkinitramfs ($((isize >> 10)) KiB);"
	echo "QEMU TCG, $cpus CPU(s), crash kernel nr_cpus=$cpus; candidates ${lo}M..${hi}M in ${step}M steps; \`salvage setup --crashkernel\`: $recommend"
	echo
	echo "| guest RAM | smallest that captures | the agent there | largest that fails (why) | runs | minutes |"
	echo "| --- | --- | --- | --- | --- | --- |"
} >"$out/summary.md"
results=""
for mb in $sizes; do
	t0=$(sv_now)
	sv_log "guest of $mb MiB: bisecting crashkernel= over ${lo}M..${hi}M"
	bisect "$mb"
	mins=$(awk -v s="$(sv_elapsed "$t0")" 'BEGIN { printf "%.1f", s / 60 }')
	b="none up to ${hi}M" f="none from ${lo}M"
	[ -z "$best" ] || b=${best}M
	[ -z "$worst_fail" ] || f="${worst_fail}M ($fail_why)"
	printf '| %s GiB | %s | %s | %s | %s | %s |\n' "$((mb / 1024))" "$b" "${best_mem:--}" "$f" "$runs" \
		"$mins" >>"$out/summary.md"
	# MB BEST AVAIL BUDGET PEAK (MiB; 0 unknown)
	m=$(printf '%s\n' "$best_mem" | sed -n 's/^\([0-9]*\) MiB available, budget \([0-9]*\) MiB, .*peak RSS \([0-9.]*\) MiB$/\1 \2 \3/p')
	results+="$mb ${best:-0} ${m:-0 0 0};"
	sv_log "guest of $mb MiB: smallest crashkernel= that captures: ${best:-none}M ($runs runs, $mins min)"
done

# ---- the model: what grows with RAM ------------------------------------------
# In the crash kernel, what grows with the crashed machine's RAM is the
# agent's two page bitmaps (one bit per 4 KiB frame each, capture/plan.c),
# and they stop growing at a quarter of the agent's budget each (beyond it
# they go cyclic); the budget is a third of MemAvailable, at most 64 MiB
# (capture/agent.c).  The crash kernel's own memmap covers the reserved
# region only (64 bytes per 4 KiB page of it, whatever the RAM), and
# /proc/vmcore keeps one entry per PT_LOAD.  The check: the agent's peak RSS
# at 1, 4 and 16 GiB against its smallest guest's figure plus the bitmaps'
# growth; then the same sum for 1 TiB against what the largest of the
# smallest reservations leaves available.
"$SV_PYTHON" - "$results" "$recommend" >>"$out/summary.md" <<'EOF'
import sys
rows = [r.split() for r in sys.argv[1].split(";") if r.strip()]
rows = [(int(mb), int(best), int(av), int(bu), float(pk)) for mb, best, av, bu, pk in rows]
rec = int(sys.argv[2].split("=")[1].rstrip("M"))
MiB = 1 << 20

def bitmaps(ram, budget):
    """bytes of the agent's two bitmaps for RAM bytes (capture/plan.c)"""
    frames = -(-(ram // 4096) // 32768) * 32768          # CYCLE_ALIGN
    per = min(frames // 8, budget // 4)
    return 2 * per

print()
print("What grows with RAM in the crash kernel: the agent's two bitmaps, 1 bit per 4 KiB frame "
      "each, at most a quarter of its budget each (then cyclic); the kernel's memmap covers "
      "the reserved region only (%d KiB at %dM)." % (rec * MiB // 4096 * 64 // 1024, rec))
print()
print("| guest RAM | smallest | MemAvailable at the agent | budget | bitmaps | peak RSS measured | predicted |")
print("| --- | --- | --- | --- | --- | --- | --- |")
known = [r for r in rows if r[4] > 0]
ref = min(known) if known else None
def predict(ram, budget):
    return ref[4] + (bitmaps(ram, budget) - bitmaps(ref[0] * MiB, ref[3] * MiB)) / MiB
for mb, best, av, bu, pk in sorted(rows):
    bm = bitmaps(mb * MiB, bu * MiB) if bu else 0
    print("| %d GiB | %s | %s | %s | %.2f MiB | %s | %s |" % (
        mb // 1024, ("%dM" % best) if best else "none", ("%d MiB" % av) if av else "-",
        ("%d MiB" % bu) if bu else "-", bm / MiB, ("%.1f MiB" % pk) if pk else "-",
        ("%.1f MiB" % predict(mb * MiB, bu * MiB)) if ref and bu else "-"))
worst = max(rows, key=lambda r: r[1]) if rows and all(r[1] for r in rows) else None
if ref and worst and worst[3]:
    # 1 TiB at the largest smallest reservation, with that run's budget
    mb, best, av, bu, pk = worst
    tib = 1 << 40
    cycles = -(-(tib // 4096) // (bu * MiB // 4 * 8))
    peak = predict(tib, bu * MiB)
    print("| 1024 GiB (model) | %dM | %d MiB | %d MiB | %.2f MiB (%d cycles) | - | %.1f MiB |" % (
        best, av, bu, bitmaps(tib, bu * MiB) / MiB, cycles, peak))
    print()
    print("At crashkernel=%dM the agent of a 1 TiB machine would peak at about %.1f MiB of the "
          "%d MiB available: %s (more cycles cost time, not memory)." % (
          best, peak, av, "it fits" if peak < av else "it DOES NOT FIT"))
print()
if worst:
    print("Smallest that captures at every measured size: %dM; `salvage setup --crashkernel` "
          "recommends %dM (margin %dM); goal 96M or less: %s." % (worst[1], rec, rec - worst[1],
          "met" if rec <= 96 and worst[1] <= rec else "NOT met"))
else:
    print("Some size did not capture in the range: no figure.")
EOF
sv_log "total $(awk -v s="$(sv_elapsed "$t_all")" 'BEGIN { printf "%.1f", s / 60 }') min"
cat "$out/summary.md"
