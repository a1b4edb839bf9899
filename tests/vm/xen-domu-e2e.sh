#!/bin/bash
# tests/vm/xen-domu-e2e.sh - PV domUs under Xen under QEMU (TCG), one boot:
# Debian's Xen 4.17, a PV dom0 (Debian's -amd64 kernel) running the toolstack
# from Debian's packages (xenstored, xen-init-dom0, xenconsoled, xl); dom0
# starts salvage-domu1 (Debian's cloud kernel, a busybox initramfs, 2 vCPUs,
# on_crash="coredump-destroy"), which crashes with sysrq: xl writes its core.
# dom0 then starts salvage-domu2, which stays, writes a tar of the core, the
# guests' console logs and xl's logs to a second disk, arms the crash kernel
# through Xen and crashes; our agent captures the host with -X keeping
# salvage-domu2's frames (the agent's --domains key on the crash kernel's
# command line).  Checks with salvage alone, then crash(8).
#
# usage: xen-domu-e2e.sh [options] BUILD
#   BUILD            build directory with salvage and the static salvage-capture
#   --kver KVER      the kernel of dom0 and the crash kernel (default:
#                    resolved from linux-image-amd64; dom0 needs
#                    CONFIG_XEN_PV_DOM0, which the cloud kernel lacks)
#   --domu-kver KVER the domUs' kernel (default: resolved from
#                    linux-image-cloud-amd64, CONFIG_XEN_PV: its debug
#                    vmlinux is the one the other e2e tests use)
#   --out DIR        keep the console logs, the domU core, the dumps and
#                    the summary in DIR (default: a temporary directory)
#   --reuse          with --out: check the files kept in DIR again, no boot
#   --no-crash       skip crash(8) with the domU's debug vmlinux
#                    (get-vmlinux.sh; about 300 MB downloaded once into the
#                    cache, shared with the other e2e tests)
#   --timeout S      bound for the QEMU run (default 1200)
#
# The core is also left in $SALVAGE_CACHE/xen-domu/ (domu1.core, its
# console log, kver, and a link to the debug vmlinux) for `make bench`.
#
# Checks, the domU core without a vmlinux: `salvage info` (format xen-core,
# vCPUs, pages against the core's own sections); `salvage dmesg` has the
# marker and the panic and its lines are the ones the domU printed on its
# console; `salvage bt` has sysrq_handle_crash and the domU's own call trace;
# `salvage ps` equals the domU's own task listing; `salvage-capture -d 31`
# of the core has the same log.  The host dump: `salvage xen domains` lists
# dom0 and salvage-domu2, `salvage xen extract --domain ID` of it gives a
# dump whose `salvage dmesg` has salvage-domu2's boot log (its console's
# lines, its stay marker).  Last, with the domU's debug vmlinux: crash opens
# `salvage-capture -d 31` of the core (sys, log, bt; a PV guest written by
# machine frame with a Xen CRASH_INFO note, docs/formats.md §4.9); when it
# cannot, crash on the raw core says whether the fault is ours.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/xen-lib.sh"
. "$(dirname "$0")/e2e-lib.sh"

do_crash=1 reuse=0 timeout_s=1200 flavour=amd64 domu_kver=""
e2e_own_opt() {
	case $1 in
	--no-crash) do_crash=0; E2E_SHIFT=1 ;;
	--reuse) reuse=1; E2E_SHIFT=1 ;;
	--domu-kver) domu_kver=${2:?}; E2E_SHIFT=2 ;;
	*) return 1 ;;
	esac
}
e2e_args "$@"
[ "$reuse" = 0 ] || [ -n "$out" ] || sv_die "--reuse needs --out DIR"
E2E_SCRATCH=raw.img
e2e_start xen-domu qemu-system-x86_64 apt-cache timeout mkfs.ext4 debugfs ldd kexec tar "$SV_PYTHON"
if command -v file >/dev/null 2>&1; then
	case $(file -L "$build/salvage-capture") in
	*'statically linked'*) ;;
	*) sv_die "$build/salvage-capture is not static (a sanitizer build?); the crash kernel has no libraries" ;;
	esac
fi

# the agent's key for the domains -X keeps (task C's salvage-capture --domains)
agent_help=$("$build/salvage-capture" --init --help 2>&1 || true)
XE_DOMAINS_KEY=$(awk '$1 ~ /^(xen_)?domains$/ { print $1; exit }' <<<"$agent_help")

dom=$out/domu
t_qemu=""
if [ "$reuse" = 0 ]; then
	# ---- ingredients ---------------------------------------------------------
	# the domUs' kernel first (sv_use_kernel sets SV_* for dom0's after it)
	[ -n "$domu_kver" ] || domu_kver=$(sv_resolve_kver cloud-amd64)
	sv_prepare_kernel "$domu_kver"
	XE_DOMU_VMLINUZ=$SV_VMLINUZ
	sv_use_kernel "$flavour"
	xe_prepare_xen
	xe_prepare_toolstack
	[ "$XE_TVER" = "$XE_XVER" ] ||
		sv_die "the toolstack ($XE_TVER) is not the hypervisor's build ($XE_XVER): refresh the cache's debs"
	sv_log "xen $XE_XVER, toolstack $(cat "$XE_TROOT/../packages"), kernel $kver, domUs $domu_kver"
	sv_log "agent key for the kept domains: ${XE_DOMAINS_KEY:-none (the agent has no domains key)}"
	crash_cmdline="console=ttyS0 nr_cpus=1 reset_devices irqpoll panic=1"
	t0=$(sv_now)
	"$build/salvage" mkinitramfs -q -o "$work/crash.img" --kver "$kver" --moddir "$SV_KROOT" \
		--target "disk:LABEL=xencrash:/var/crash" --agent "$build/salvage-capture" \
		--level 31 --set xen_domu=1 --wait 30 --timeout 600 ||
		sv_die "salvage mkinitramfs failed"
	xe_build_domu_initramfs "$work/domu.img"
	xe_build_toolstack_dom0_initramfs "$SV_MODDIR" "$SV_VMLINUZ" "$work/crash.img" "$(command -v kexec)" \
		"$crash_cmdline" "$work/domu.img" "$work/dom0.img"
	sv_log "initramfs images built in $(sv_elapsed "$t0") s (crash $(du -h "$work/crash.img" | cut -f1)," \
		"domU $(du -h "$work/domu.img" | cut -f1), dom0 $(du -h "$work/dom0.img" | cut -f1))"
	mkdir -p "$work/empty"
	mkfs.ext4 -q -F -L xencrash -m 0 -b 4096 -d "$work/empty" "$work/disk.img" 1024M ||
		sv_die "mkfs.ext4 failed"
	truncate -s $((XE_DOMU_MEM * 2 + 64))M "$work/raw.img"

	# ---- the machine -----------------------------------------------------------
	sv_log "qemu: Xen, dom0 with the toolstack, domU1 crashes and is dumped, domU2 runs, dom0 crashes, agent captures (timeout ${timeout_s}s)"
	# without XSAVE (so without AVX): with it, dom0's processes under Xen
	# under TCG crashed in glibc's start-up and xl's inflate of the domU's
	# kernel failed with a data error, both in the minutes the domUs ran
	XE_CPU=max,-smap,-smep,-pku,-la57,-xsave,-avx,-avx2
	# one vCPU for dom0: with two, xl's dump of the 128 MiB guest took
	# about 330 s and the whole QEMU run 800 s; with one, 160 s in all
	# (same loaded machine): the foreign mappings' TLB shoot-downs between
	# dom0's vCPUs, under Xen, under TCG
	XE_XEN_EXTRA=${XE_XEN_EXTRA:-dom0_max_vcpus=1}
	t0=$(sv_now)
	xe_qemu "$XE_XEN" "$SV_VMLINUZ" "$work/dom0.img" "$work/disk.img" "$work/raw.img" "$timeout_s" "$out/console.log"
	t_qemu=$(sv_elapsed "$t0")
	sv_log "qemu exited (rc $XE_QRC) after $t_qemu s"
	tr -d '\r' <"$out/console.log" | sed 's/\x1bc//g; s/\x1b\[[0-9;?]*[A-Za-z]//g' >"$out/console.txt"
	grep -a -E 'SALVAGE:|\(XEN\) (Hardware Dom0|Executing)|agent: capture' "$out/console.txt" |
		sed 's/^/[vm]   /' >&2 || true
	fail() {
		sv_log "last console lines:"
		tail -n 60 "$out/console.txt" >&2
		sv_die "$*"
	}
	grep -a -q "SALVAGE: toolstack up" "$out/console.txt" || fail "dom0's toolstack did not come up"
	grep -a -q "SALVAGE: domu1 crashed, dumped and destroyed" "$out/console.txt" ||
		fail "salvage-domu1 was not dumped"
	grep -a -q "${XE_DOMU_TAR_DONE}0" "$out/console.txt" || fail "dom0 did not write the domU tar"
	rm -rf "$dom"
	mkdir -p "$dom"
	tar -C "$dom" -xf "$work/raw.img" || sv_die "no tar on the second disk"
	rm -f "$work/raw.img"
	[ -s "$dom/domu1.core" ] || sv_die "the tar has no domu1.core"
	t_ok "dom0's toolstack: xl wrote salvage-domu1's core ($(stat -c %s "$dom/domu1.core") bytes)"
	# the guest's console as xenconsoled logged it
	tr -d '\r' <"$dom/domu1-console.log" >"$dom/domu1-console.txt"
	mkdir -p "$SALVAGE_CACHE/xen-domu"
	cp "$dom/domu1.core" "$SALVAGE_CACHE/xen-domu/domu1.core.tmp"
	mv "$SALVAGE_CACHE/xen-domu/domu1.core.tmp" "$SALVAGE_CACHE/xen-domu/domu1.core"
	cp "$dom/domu1-console.txt" "$SALVAGE_CACHE/xen-domu/domu1-console.txt"
	echo "$domu_kver" >"$SALVAGE_CACHE/xen-domu/kver"
	echo "$domu_kver" >"$out/domu-kver"
	echo "$kver" >"$out/kver"

	grep -a -q "crash kernel loaded through Xen" "$out/console.txt" || fail "dom0 did not load the crash kernel"
	grep -a -q "Executing kexec image on cpu" "$out/console.txt" || fail "Xen did not kexec into the crash kernel"
	grep -a -q "agent: capture: ok:" "$out/console.txt" || fail "the agent's capture failed"
	names=$(e2e_dump_dirs "$work/disk.img" /var/crash)
	new=$(printf '%s\n' $names | sort | tail -n 1)
	[ -n "$new" ] || fail "the agent wrote no dump directory"
	rm -rf "$out/agent"
	e2e_extract "$work/disk.img" "/var/crash/$new" "$out/agent"
	hostdump=$(find "$out/agent" -name vmcore | head -n 1)
	[ -s "$hostdump" ] || fail "no vmcore in /var/crash/$new"
	ln -sf "${hostdump#"$out"/}" "$out/host.vmcore"
	t_ok "Xen kexec'd into the crash kernel with salvage-domu2 running; the agent captured"
else
	kver=$(cat "$out/kver")
	domu_kver=$(cat "$out/domu-kver")
	[ -s "$dom/domu1.core" ] && [ -e "$out/host.vmcore" ] || sv_die "--reuse: $out has no domu/domu1.core or host.vmcore"
	xe_prepare_xen
fi
core=$dom/domu1.core
hostdump=$out/host.vmcore
domid=$(cat "$dom/domu2-id")

# ---- the domU core, no vmlinux ------------------------------------------------
"$build/salvage" info --json "$core" >"$out/domu-info.json" || sv_die "salvage info of the domU core failed"
"$build/salvage" info "$core" >"$out/domu-info.txt" || sv_die "salvage info (text) of the domU core failed"
"$SV_PYTHON" "$SV_LIBDIR/xen-domu-check.py" info "$core" "$out/domu-info.json" "$XE_DOMU_VCPUS" "$XE_DOMU_MEM" ||
	sv_die "salvage info of the domU core"
t_ok "salvage info: xen-core, $XE_DOMU_VCPUS vCPUs, the core's pages"
"$build/salvage" dmesg "$core" >"$out/domu-dmesg.txt" || sv_die "salvage dmesg of the domU core failed"
grep -q "$XE_DOMU_MARKER" "$out/domu-dmesg.txt" || sv_die "the domU's log lacks the marker"
grep -q "Kernel panic - not syncing: sysrq triggered crash" "$out/domu-dmesg.txt" ||
	sv_die "the domU's log lacks the panic"
"$SV_PYTHON" "$SV_LIBDIR/xen-domu-check.py" console "$dom/domu1-console.txt" "$out/domu-dmesg.txt" ||
	sv_die "salvage dmesg differs from the domU's console"
t_ok "salvage dmesg: the domU's marker and panic, the lines its console printed"
"$build/salvage" bt --json "$core" >"$out/domu-bt.json" || sv_die "salvage bt of the domU core failed"
"$build/salvage" bt "$core" >"$out/domu-bt.txt" || sv_die "salvage bt (text) of the domU core failed"
grep -q sysrq_handle_crash "$out/domu-bt.txt" || sv_die "salvage bt does not name sysrq_handle_crash"
"$build/salvage" ps --json "$core" >"$out/domu-ps.json" || sv_die "salvage ps of the domU core failed"
"$SV_PYTHON" "$SV_LIBDIR/xen-domu-check.py" btps "$out/domu-dmesg.txt" "$out/domu-bt.json" "$out/domu-ps.json" ||
	sv_die "salvage bt/ps of the domU core against the domU's own trace and task listing"
t_ok "salvage bt (sysrq_handle_crash, the domU's call trace) and ps (its task listing)"

# ---- salvage-capture -d 31 of the core --------------------------------------
rm -f "$out/domu1.kdump" "$out/domu1.kdump.dmesg.txt"
"$build/salvage-capture" -d 31 --progress=off "$core" "$out/domu1.kdump" >"$out/capture-domu.log" 2>&1 ||
	{ cat "$out/capture-domu.log" >&2; sv_die "salvage-capture -d 31 of the domU core failed"; }
"$build/salvage" dmesg "$out/domu1.kdump" >"$out/domu-dmesg.kdump.txt" || sv_die "salvage dmesg of the filtered core failed"
cmp -s "$out/domu-dmesg.kdump.txt" "$out/domu-dmesg.txt" || sv_die "the domU's log differs between the core and its -d 31 dump"
t_ok "salvage-capture -d 31 of the core ($(stat -c %s "$out/domu1.kdump") bytes of $(stat -c %s "$core")), same log"
# ---- the host dump: domains and the extracted domU ----------------------------
"$build/salvage" xen domains --json "$hostdump" >"$out/xen-domains.json" || sv_die "salvage xen domains failed"
"$build/salvage" xen domains "$hostdump" >"$out/xen-domains.txt" || sv_die "salvage xen domains (text) failed"
"$SV_PYTHON" "$SV_LIBDIR/xen-domu-check.py" domains "$out/xen-domains.json" "$domid" "$XE_DOMU_MEM" ||
	sv_die "salvage xen domains does not list dom0 and salvage-domu2 ($domid)"
t_ok "salvage xen domains: dom0 and domain $domid"
rm -f "$out/domu2.dump"
"$build/salvage" xen extract --domain "$domid" -o "$out/domu2.dump" "$hostdump" >"$out/xen-extract.log" 2>&1 ||
	{ cat "$out/xen-extract.log" >&2; sv_die "salvage xen extract --domain $domid failed"; }
"$build/salvage" dmesg "$out/domu2.dump" >"$out/domu2-dmesg.txt" || sv_die "salvage dmesg of the extracted domU failed"
grep -q "$XE_DOMU_STAY_MARKER" "$out/domu2-dmesg.txt" || sv_die "the extracted domU's log lacks its stay marker"
"$SV_PYTHON" "$SV_LIBDIR/xen-domu-check.py" console "$dom/domu2-console.log" "$out/domu2-dmesg.txt" ||
	sv_die "the extracted domU's log differs from its console"
t_ok "salvage xen extract --domain $domid: its dmesg is salvage-domu2's boot log"

# ---- crash(8) with the debug vmlinux, last (the slowest) -------------------
if [ "$do_crash" = 1 ]; then
	sv_need crash
	"$SV_LIBDIR/get-vmlinux.sh" --no-check "$domu_kver" "$out" >&2 ||
		sv_die "get-vmlinux.sh $domu_kver failed (--no-crash skips crash)"
	# beside the kept core, for make bench (tests/bench/xen-core-bench.py)
	[ "$reuse" = 1 ] || ln -sf "$SALVAGE_CACHE/kernels/$domu_kver/vmlinux" "$SALVAGE_CACHE/xen-domu/vmlinux"
	# crash_check DUMP OUT: crash's sys, log and bt of DUMP have the panic,
	# the release, the marker and the panic path
	crash_check() {
		printf 'sys\nlog\nbt\nquit\n' | timeout 600 crash -s "$out/vmlinux" "$1" >"$2" 2>&1 || return 1
		for want in 'PANIC: "Kernel panic - not syncing: sysrq triggered crash"' "RELEASE: $domu_kver" \
			"$XE_DOMU_MARKER" 'COMMAND: "init"' sysrq_handle_crash; do
			grep -q -F "$want" "$2" || return 1
		done
	}
	if ! crash_check "$out/domu1.kdump" "$out/crash-domu.out"; then
		tail -n 20 "$out/crash-domu.out" >&2
		# the same crash on the raw core, to say where the fault is
		if crash_check "$core" "$out/crash-domu.raw.out"; then
			sv_die "crash reads the raw core (crash-domu.raw.out) but not salvage-capture -d 31 of it (crash-domu.out)"
		fi
		sv_die "crash reads neither the raw core nor salvage-capture -d 31 of it"
	fi
	t_ok "crash: sys, log, bt of the domU's -d 31 dump"
fi

ok=1
{
	echo "xen=$XE_XVER"
	echo "kernel=$kver"
	echo "domu_kernel=$domu_kver"
	echo "domu_mem_mib=$XE_DOMU_MEM"
	echo "domu_core_bytes=$(stat -c %s "$core")"
	echo "domu_kdump_bytes=$(stat -c %s "$out/domu1.kdump")"
	echo "host_dump_bytes=$(stat -L -c %s "$hostdump")"
	echo "domains_key=${XE_DOMAINS_KEY:-}"
	echo "qemu_seconds=$t_qemu"
	echo "total_seconds=$(sv_elapsed "$t_all")"
} >"$out/summary"
cat "$out/summary" >&2
t_summary
