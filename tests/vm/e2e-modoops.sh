#!/bin/bash
# tests/vm/e2e-modoops.sh - an oops in a module, end to end: a tiny module
# (tests/vm/modoops/oopsmod.c) is built here against Debian's linux-headers
# package of the test kernel, loaded in a 2-CPU guest with panic_on_oops set;
# its kthread on CPU 0 dereferences NULL while another spins on CPU 1; our
# agent captures the dump (crash kernel armed with `salvage arm`).
#
# usage: e2e-modoops.sh [options] BUILD
#   BUILD            build directory with salvage and salvage-capture
#   --agent PATH     agent binary (default BUILD/salvage-capture)
#   --kver KVER      kernel ABI version (default: resolved; env SALVAGE_KVER)
#   --flavour F      kernel flavour (default cloud-amd64)
#   --out DIR        keep the dump (DIR/dump/vmcore), the module and the outputs
#   --reuse          with --out: check DIR/dump/vmcore again without booting
#   --no-crash       skip the comparison with crash(8) and the -dbg vmlinux
#   --timeout S      bound for the QEMU run (default 600)
#
# Checks, all without a vmlinux: `salvage mod` lists oopsmod; `salvage bt`
# of the oopsing CPU lists, in order, oops_end, page_fault_oops,
# exc_page_fault, asm_exc_page_fault with the exception frame of the
# faulting RIP, the module's functions named `[oopsmod]`, kthread,
# ret_from_fork, and the other CPU's whole stack (crash_nmi_callback ...
# end_repeat_nmi, the NMI's exception frame, the spinner in oopsmod_spin); `salvage sym` of the faulting RIP names oopsmod_deref;
# `bt --mod-dir` gives oopsmod.c:17 from the .ko and refuses another build;
# `salvage triage` classifies a NULL dereference in oopsmod; crash's `bt`
# with the debug vmlinux (tests/vm/get-vmlinux.sh) gives the same frame
# order from oops_end on.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/e2e-lib.sh"

do_crash=1 reuse=0
e2e_own_opt() {
	case $1 in
	--no-crash) do_crash=0 E2E_SHIFT=1 ;;
	--reuse) reuse=1 E2E_SHIFT=1 ;;
	*) return 1 ;;
	esac
}
e2e_args "$@"
e2e_start modoops qemu-system-x86_64 apt-cache timeout mkfs.ext4 debugfs make gcc ldd "$SV_PYTHON"
[ "$reuse" = 0 ] || [ -n "$user_out" ] || sv_die "--reuse needs --out DIR"
salvage=$build/salvage
dump=$out/dump/vmcore

if [ "$reuse" = 0 ] || [ ! -s "$dump" ]; then
	# 1. kernel, headers, the module
	sv_use_kernel "$flavour"
	t0=$(sv_now)
	sv_prepare_headers "$kver"
	rm -rf "$out/mod"
	cp -r "$SV_LIBDIR/modoops" "$out/mod"
	make -s -C "$SV_KHEADERS" M="$out/mod" modules >"$out/mod/build.log" 2>&1 ||
		{ tail -n 20 "$out/mod/build.log" >&2; sv_die "building oopsmod.ko against linux-headers-$kver failed"; }
	[ -s "$out/mod/oopsmod.ko" ] || sv_die "no oopsmod.ko built"
	t_module=$(sv_elapsed "$t0")
	t_ok "oopsmod.ko built against linux-headers-$kver"
	sv_log "oopsmod.ko built in ${t_module} s (headers and module)"

	# 2. images: the crash initramfs and a first kernel that arms and loads oopsmod
	"$salvage" mkinitramfs -o "$work/crash.img" --kver "$kver" --moddir "$SV_KROOT" \
		--target "disk:LABEL=$E2E_LABEL:/var/crash" --agent "$agent" --wait 30 --timeout 300 -q
	sv_stage_first e2e-modoops "$SV_VMLINUZ" "$work/crash.img" "$SV_MARKER"
	stage=$SV_STAGE
	sv_stage_dynamic "$stage" "$salvage" /bin/salvage
	mkdir -p "$stage/lib"
	cp "$out/mod/oopsmod.ko" "$stage/lib/oopsmod.ko"
	printf '%s\n' "$E2E_HOST" >"$stage/etc/hostname"
	sv_write_init "$stage" <<'INIT'
# salvage modoops init (first kernel): arm, panic_on_oops, load the module.
hostname "$(cat /etc/hostname)"
echo "$(cat /etc/marker)" >/dev/kmsg
salvage arm --kernel /boot/vmlinuz --initrd /boot/crash.img || fail "salvage arm failed"
echo 1 >/proc/sys/kernel/panic_on_oops
say "crash kernel armed at $(up)s; loading oopsmod on $(grep -c ^processor /proc/cpuinfo) CPUs"
insmod /lib/oopsmod.ko || fail "insmod oopsmod failed"
sleep 60
fail "still alive 60 s after loading oopsmod"
INIT
	sv_pack "$stage" "$work/first.img"
	mkdir -p "$work/fs/var/crash"
	e2e_make_ext4 "$work/disk.img" 256 "$work/fs"

	# 3. boot with 2 CPUs, oops, capture
	sv_log "qemu: 2 CPUs, salvage arm, insmod oopsmod, oops, agent capture (timeout ${timeout_s}s)"
	t0=$(sv_now)
	E2E_QRC=0
	timeout -k 10 "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max -m 1024 -smp 2 \
		-nographic -no-reboot -nic none -kernel "$SV_VMLINUZ" -initrd "$work/first.img" \
		-append "console=ttyS0 crashkernel=256M panic=1 quiet no_timer_check" \
		-drive "file=$work/disk.img,format=raw,if=virtio" \
		</dev/null >"$out/console.log" 2>"$out/console.log.stderr" || E2E_QRC=$?
	t_qemu=$(sv_elapsed "$t0")
	e2e_guest_lines "$out/console.log" | sed 's/^/[vm]   guest: /' >&2
	sv_log "qemu exited rc=$E2E_QRC after ${t_qemu} s"
	e2e_captured
	grep -aq 'RIP: 0010:oopsmod_deref' "$out/console.log" || sv_die "oopsmod did not oops"
	name=$(e2e_dump_dirs "$work/disk.img" /var/crash)
	[ "$(printf '%s\n' "$name" | grep -c .)" = 1 ] || sv_die "expected one dump directory, found: $name"
	rm -rf "$out/dump" "${out:?}/$name"
	e2e_extract "$work/disk.img" "/var/crash/$name" "$out"
	mv "$out/$name" "$out/dump"
	[ -s "$dump" ] || sv_die "no vmcore in the dump directory"
	printf '%s\n' "$kver" >"$out/kver"
else
	kver=$(cat "$out/kver")
	sv_log "reusing $dump ($kver)"
fi

# 4. what salvage says without a vmlinux
t0=$(sv_now)
az() { # az NAME ARGS... -> $out/NAME.out, dies with stderr when it fails
	local n=$1
	shift
	"$salvage" "$@" >"$out/$n.out" 2>"$out/$n.err" ||
		{ cat "$out/$n.err" >&2; sv_die "salvage $* failed"; }
}
az dmesg dmesg "$dump"
# kdump runs from oops_end (crash_kexec), before panic() would print
for want in 'BUG: kernel NULL pointer dereference' 'Oops: ' 'RIP: 0010:oopsmod_deref'; do
	grep -q "$want" "$out/dmesg.out" || sv_die "the dump's log lacks '$want'"
done
rip=$(grep -o 'RIP: 0010:oopsmod_deref[^ ]*' "$out/dmesg.out" | head -n 1)
az mod mod "$dump"
az mod-json mod --json "$dump"
grep -q '^oopsmod ' "$out/mod.out" || { cat "$out/mod.out" >&2; sv_die "salvage mod does not list oopsmod"; }
e2e_json "$out/mod-json.out" "any(x['name'] == 'oopsmod' and x['size'] > 0 and x['state'] == 'live' for x in m['modules'])"
bid=$(readelf -n "$out/mod/oopsmod.ko" 2>/dev/null | awk '!found && /Build ID:/ { print $3; found = 1 }')
[ -z "$bid" ] || grep -q "^oopsmod .* $bid\$" "$out/mod.out" ||
	{ cat "$out/mod.out" >&2; sv_die "salvage mod: oopsmod's build id is not the .ko's $bid"; }
t_ok "salvage mod lists oopsmod (build id ${bid:-not in the .ko})"
az bt bt "$dump"
az bt-json bt --json "$dump"
"$SV_PYTHON" - "$out/bt-json.out" >"$out/bt-check.out" <<'PY' || { cat "$out/bt-check.out" >&2; sv_die "salvage bt: the module oops path is not right"; }
import json, re, sys
b = json.load(open(sys.argv[1]))
ths = b["threads"]
pan = [t for t in ths if t["panic"]]
if len(ths) != 2 or len(pan) != 1:
    sys.exit("expected 2 CPUs, one panicking: %r" % [(t["cpu"], t["panic"]) for t in ths])
fr = [f for f in pan[0]["frames"] if f["reliable"]]
names = [(f["function"] or "?") + ("[%s]" % f["module"] if f.get("module") else "") for f in fr]
print("panic CPU:", " ".join(names))
want = ["oops_end", "page_fault_oops", "exc_page_fault", "asm_exc_page_fault",
        "oopsmod_deref[oopsmod]", "oopsmod_work[oopsmod]", "oopsmod_crash[oopsmod]",
        "kthread", "ret_from_fork"]
base = [re.sub(r"\.(constprop|isra|part)\.\d+", "", n) for n in names]
pos = -1
for w in want:
    if w not in base[pos + 1:]:
        sys.exit("missing or out of order: %s" % w)
    pos = base.index(w, pos + 1)
exc = [f for f in fr if f.get("exception")]
if not exc or not exc[0]["function"].startswith("asm_exc_page_fault"):
    sys.exit("no exception frame at asm_exc_page_fault")
rip = exc[0]["exception"]["regs"]["RIP"]
nxt = fr[fr.index(exc[0]) + 1]
if nxt["ip"] != rip or not nxt["function"].startswith("oopsmod_deref"):
    sys.exit("the frame after the exception is not the faulting RIP %s" % rip)
oth = [t for t in ths if not t["panic"]][0]
on = [(f["function"] or "?") for f in oth["frames"] if f["reliable"]]
print("other CPU:", " ".join(on))
pos = -1
for w in ["crash_nmi_callback", "default_do_nmi", "exc_nmi", "end_repeat_nmi", "oopsmod_spin",
          "oopsmod_spinner", "kthread", "ret_from_fork"]:
    if w not in on[pos + 1:]:
        sys.exit("the other CPU's stack: missing or out of order: %s" % w)
    pos = on.index(w, pos + 1)
print(rip)
PY
sed 's/^/[vm]   /' "$out/bt-check.out" >&2
frip=$(tail -n 1 "$out/bt-check.out")
t_ok "salvage bt: oops_end .. asm_exc_page_fault, exception frame, [oopsmod] frames, kthread, ret_from_fork; both CPUs"
grep -q "\[exception RIP: oopsmod_deref" "$out/bt.out" || sv_die "salvage bt text lacks [exception RIP: oopsmod_deref"
grep -q 'oopsmod_work[.a-z0-9]*+0x[0-9a-f]*/0x[0-9a-f]* \[oopsmod\]' "$out/bt.out" || sv_die "salvage bt text lacks 'oopsmod_work+off/size [oopsmod]'"
t_ok "salvage bt text: [exception RIP: ...], function+off/size [oopsmod]"
az sym sym "$dump" "$frip"
grep -q "^$frip: oopsmod_deref[^ ]*+0x[0-9a-f]*/0x[0-9a-f]* \[oopsmod\]" "$out/sym.out" ||
	{ cat "$out/sym.out" >&2; sv_die "salvage sym $frip does not name oopsmod_deref [oopsmod]"; }
[ -z "$rip" ] || grep -q "${rip#RIP: 0010:}" "$out/sym.out" ||
	sv_die "salvage sym ($(cat "$out/sym.out")) disagrees with the kernel's '$rip'"
t_ok "salvage sym of the faulting RIP: $(cat "$out/sym.out")"
# --mod-dir: file:line for module frames from the .ko, checked by build id
az bt-moddir bt --mod-dir "$out/mod" "$dump"
grep -A1 'oopsmod_deref+0x5/0x[0-9a-f]* \[oopsmod\] at' "$out/bt-moddir.out" | grep -q 'oopsmod\.c:17$' ||
	{ cat "$out/bt-moddir.out" >&2; sv_die "bt --mod-dir: oopsmod_deref is not at oopsmod.c:17"; }
rm -rf "$out/wrongmod"
mkdir -p "$out/wrongmod"
ko=$(find "$SALVAGE_CACHE/kernels/$kver/root/" -name 'virtio_blk.ko' | head -n 1)
if [ -n "$ko" ]; then
	cp "$ko" "$out/wrongmod/oopsmod.ko"
	az bt-wrongmod bt --mod-dir "$out/wrongmod" "$dump"
	if ! grep -q '^(--mod-dir: oopsmod: .*does not match the dump: its build-id is' "$out/bt-wrongmod.out" ||
		grep -q 'oopsmod\.c:' "$out/bt-wrongmod.out"; then
		tail -n 3 "$out/bt-wrongmod.out" >&2
		sv_die "bt --mod-dir used (or did not refuse) a file of another build"
	fi
	t_ok "bt --mod-dir: oopsmod.c:17 from the .ko; a file of another build refused"
else
	t_ok "bt --mod-dir: oopsmod.c:17 from the .ko"
fi
az triage triage "$dump"
az triage-json triage --json "$dump"
e2e_json "$out/triage-json.out" "m['class'] == 'null-deref'" "m['module'] == 'oopsmod'" \
	"m['frames'][0]['function'].startswith('oopsmod_deref')" "m['release'] == '$kver'" \
	"'NULL pointer dereference' in m['panic']" "len(m['cpus']) == 2" "'O' in m['taint'] or 'E' in m['taint']"
grep -q 'NULL pointer dereference' "$out/triage.out" || sv_die "salvage triage text lacks the class"
t_ok "salvage triage: NULL dereference in oopsmod"
t_checks=$(sv_elapsed "$t0")

# 5. crash(8) with the debug vmlinux is the oracle for the frame order
t_crash=skipped
if [ "$do_crash" = 1 ]; then
	t0=$(sv_now)
	"$SV_LIBDIR/get-vmlinux.sh" --no-check "$kver" "$out" >&2 ||
		sv_die "cannot get the -dbg vmlinux for $kver (use --no-crash to skip)"
	printf '%s\n' 'bt -a' quit |
		timeout -k 10 600 crash -s "$out/vmlinux" "$dump" >"$out/crash-bt.out" 2>&1 ||
		{ tail -n 30 "$out/crash-bt.out" >&2; sv_die "crash failed on the dump"; }
	"$SV_PYTHON" - "$out/crash-bt.out" "$out/bt-json.out" >"$out/crash-cmp.out" <<'PY' || { cat "$out/crash-cmp.out" >&2; sv_die "salvage bt and crash bt disagree"; }
import json, re, sys
txt = open(sys.argv[1]).read()
b = json.load(open(sys.argv[2]))
def norm(n):
    return re.sub(r"\.(constprop|isra|part|cold)\.\d+", "", n)
blocks = re.split(r"\n(?=PID: )", txt)
ok = True
for t in b["threads"]:
    blk = [x for x in blocks if re.search(r"CPU: %d\b" % t["cpu"], x.split("\n")[0])]
    if not blk:
        print("crash has no CPU %d" % t["cpu"]); ok = False; continue
    cr = [norm(m.group(1)) for m in re.finditer(r"^\s*#\d+ \[[0-9a-f]+\] (\S+) at ", blk[0], re.M)]
    ex = re.search(r"\[exception RIP: ([^+\]\s]+)", blk[0])
    ours = [norm(f["function"] or "?") for f in t["frames"] if f["reliable"]]
    # crash names the interrupted function in "[exception RIP: f+off]" and
    # lists it as a frame after an NMI but not after a page fault: compared
    # without it; otherwise the whole stack, from its first frame
    if ex:
        cr = [n for n in cr if n != norm(ex.group(1))]
        ours = [n for n in ours if n != norm(ex.group(1))]
    start = cr[0] if cr else None
    if start not in cr or start not in ours:
        print("CPU %d: %s not in both: crash %s / ours %s" % (t["cpu"], start, cr, ours)); ok = False; continue
    c = cr[cr.index(start):]
    o = ours[ours.index(start):]
    print("CPU %d crash: %s" % (t["cpu"], " ".join(c)))
    print("CPU %d ours:  %s" % (t["cpu"], " ".join(o)))
    if c != o:
        print("CPU %d: frame order differs" % t["cpu"]); ok = False
sys.exit(0 if ok else 1)
PY
	sed 's/^/[vm]   /' "$out/crash-cmp.out" >&2
	t_crash=$(sv_elapsed "$t0")
	t_ok "salvage bt = crash bt (frame order, every CPU)"
else
	t_skip_ok crash "--no-crash given"
fi
ok=1
sv_log "e2e-modoops OK: checks ${t_checks}s, crash ${t_crash}, total $(sv_elapsed "$t_all")s"
t_summary
