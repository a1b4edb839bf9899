# shellcheck shell=bash
# shellcheck disable=SC2034  # E2E_* variables are read by the sourcing scripts
# tests/vm/e2e-lib.sh - shared by e2e-disk.sh and e2e-full.sh (sourced after
# lib.sh): the first-boot initramfs that arms with `salvage arm`, the QEMU run,
# taking files out of an ext4 image without mounting it, and checks.
#
# Functions are prefixed e2e_; they report errors with sv_die.

E2E_HOST='salvage-e2e'               # host name the guest sets; the dump dir starts with it
E2E_LABEL=crashdisk
E2E_AGENT_OK='agent: capture: ok:'
E2E_AGENT_INCOMPLETE='agent: capture: incomplete:'

# e2e_usage: the script's header comment, from its second line to the first
# empty one
e2e_usage() { sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2; exit 2; }

# e2e_args "$@": the options every e2e script takes (build, agent, kver,
# flavour, out, timeout_s; set flavour and timeout_s before for other
# defaults), and the script's own through e2e_own_opt when it defines one
# (it returns 0 for an option it took, with E2E_SHIFT words used).
e2e_args() {
	build="" agent="" kver="" flavour=${flavour:-cloud-amd64} out="" timeout_s=${timeout_s:-600}
	while [ $# -gt 0 ]; do
		E2E_SHIFT=2
		if declare -F e2e_own_opt >/dev/null && e2e_own_opt "$@"; then
			shift "$E2E_SHIFT"
			continue
		fi
		case $1 in
		--agent) agent=${2:?} ;;
		--kver) kver=${2:?} ;;
		--flavour) flavour=${2:?} ;;
		--out) out=${2:?} ;;
		--timeout) timeout_s=${2:?} ;;
		-h | --help) e2e_usage ;;
		-*) echo "unknown option $1" >&2; e2e_usage ;;
		*) [ -z "$build" ] || e2e_usage; build=$1; E2E_SHIFT=1 ;;
		esac
		shift "$E2E_SHIFT"
	done
}

# e2e_start NAME TOOL... -> checks the tools and the build, starts the
# script's count (tests/lib.sh, named after the script), sets t_all and
# makes $work (salvage-e2e-NAME.*) and $out (--out, else $work/out).  On exit
# $work/disk.img and the files E2E_SCRATCH names (relative to $work) go; the
# rest of $work goes too unless the test failed without --out (kept, said);
# then the closing line.
e2e_start() {
	local name=$1
	shift
	[ -n "$build" ] || e2e_usage
	build=$(cd "$build" && pwd)
	t_init "$(basename "$0" .sh)" "$build"
	agent=${agent:-$build/salvage-capture}
	ok=0 user_out=$out work=
	T_EXIT_HOOK=e2e_cleanup
	t_exit_summary
	trap 'exit 130' INT TERM
	sv_need "$@"
	e2e_check_build "$build" "$agent"
	sv_cache_init
	t_all=$(sv_now)
	work=$(mktemp -d "${TMPDIR:-/tmp}/salvage-e2e-$name.XXXXXX")
	if [ -n "$out" ]; then mkdir -p "$out"; out=$(cd "$out" && pwd); else out=$work/out; mkdir -p "$out"; fi
}

e2e_cleanup() {
	local f
	[ -n "$work" ] || return 0
	for f in disk.img ${E2E_SCRATCH:-}; do rm -f "${work:?}/$f"; done
	if [ "$ok" = 1 ] || [ -n "$user_out" ]; then rm -rf "$work"; else sv_log "kept $work for inspection"; fi
}

# e2e_check_build BUILD AGENT -> dies unless both programs are usable
e2e_check_build() {
	local build=$1 agent=$2
	[ -x "$build/salvage" ] || sv_die "no $build/salvage (run make)"
	[ -x "$agent" ] || sv_die "no agent $agent (run make)"
	# the help is read whole first: grep -q stopping early would kill the
	# writer with SIGPIPE, and pipefail would call that a failure
	local help
	help=$("$agent" --init --help 2>&1)
	grep -q 'salvage.KEY=VALUE' <<<"$help" ||
		sv_die "$agent does not act as the crash-kernel agent (capture/main.c must call cap_agent_main for --init and PID 1)"
	"$build/salvage" mkinitramfs --help >/dev/null 2>&1 || sv_die "$build/salvage has no mkinitramfs command"
	"$build/salvage" arm --help >/dev/null 2>&1 || sv_die "$build/salvage has no arm command"
}

# e2e_build_first_initramfs VMLINUZ CRASH_IMG SALVAGE ARM_APPEND OUT
# First kernel: set the host name, leave a marker and two named tasks, check
# that `salvage arm --status` says "not loaded", arm, unload, arm again (both
# through `salvage arm`), check the status, then crash with sysrq.
e2e_build_first_initramfs() {
	local salvage=$3 append=$4 out=$5 stage
	sv_stage_first e2e-first "$1" "$2" "$SV_MARKER"
	stage=$SV_STAGE
	sv_stage_dynamic "$stage" "$salvage" /bin/salvage
	# no_timer_check: on a loaded host TCG can fail the kernel's IO-APIC
	# timer check at boot ("IO-APIC + timer doesn't work"), a flake of the
	# emulator, not of the capture (seen in e2e-net under load)
	printf '%s\n' "${append:+$append }no_timer_check" >"$stage/etc/arm-append"
	# E2E_ARM_CMDLINE: the crash kernel's whole command line instead
	# (salvage arm --cmdline; e.g. nr_cpus=2, which --append cannot raise)
	[ -z "${E2E_ARM_CMDLINE:-}" ] || printf '%s\n' "$E2E_ARM_CMDLINE" >"$stage/etc/arm-cmdline"
	printf '%s\n' "$E2E_HOST" >"$stage/etc/hostname"
	sv_stage_idle_tasks "$stage"
	sv_write_init "$stage" crash <<'EOF'
# salvage e2e init (first kernel): traces, salvage arm, crash.
hostname "$(cat /etc/hostname)"
say "first kernel $(uname -r) up $(up)s, host $(hostname)"
echo "$(cat /etc/marker)" >/dev/kmsg
for t in $(cat /etc/idle-tasks); do
	"/bin/$t" &
	echo "salvage-task name=$t pid=$!" >/dev/kmsg
done
set -- --append "$(cat /etc/arm-append)"
[ -f /etc/arm-cmdline ] && set -- --cmdline "$(cat /etc/arm-cmdline)"
salvage arm --status && fail "salvage arm --status says loaded before arming"
salvage arm --kernel /boot/vmlinuz --initrd /boot/crash.img "$@" || fail "salvage arm failed"
salvage arm --unload || fail "salvage arm --unload failed"
[ "$(cat /sys/kernel/kexec_crash_loaded)" = 0 ] || fail "still loaded after --unload"
salvage arm --kernel /boot/vmlinuz --initrd /boot/crash.img "$@" || fail "salvage arm (again) failed"
salvage arm --status || fail "salvage arm --status says not loaded"
say "crash kernel armed at $(up)s, crashing"
EOF
	sv_pack "$stage" "$out"
}

# e2e_qemu VMLINUZ FIRST_IMG DISK TIMEOUT LOG -> sets E2E_QRC
e2e_qemu() {
	local vmlinuz=$1 first=$2 disk=$3 timeout_s=$4 log=$5
	E2E_QRC=0
	timeout -k 10 "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max -m 1024 -smp 1 \
		-nographic -no-reboot -nic none \
		-kernel "$vmlinuz" -initrd "$first" \
		-append "console=ttyS0 crashkernel=256M panic=1 quiet no_timer_check" \
		-drive "file=$disk,format=raw,if=virtio" \
		</dev/null >"$log" 2>"$log.stderr" || E2E_QRC=$?
}

# e2e_boot WHAT [all] -> e2e_qemu of $work/first.img and $work/disk.img, the
# console in $out/console.log, logged (without the arming lines unless
# "all"); t_qemu is the time it took
e2e_boot() {
	local t0
	sv_log "qemu: boot, salvage arm, sysrq crash, agent capture$1 (timeout ${timeout_s}s)"
	t0=$(sv_now)
	e2e_qemu "$SV_VMLINUZ" "$work/first.img" "$work/disk.img" "$timeout_s" "$out/console.log"
	t_qemu=$(sv_elapsed "$t0")
	if [ "${2:-}" = all ]; then e2e_guest_lines "$out/console.log"
	else e2e_guest_lines "$out/console.log" | grep -v -e 'crash kernel' -e 'armed:'; fi |
		sed 's/^/[vm]   guest: /' >&2
	sv_log "qemu exited rc=$E2E_QRC after ${t_qemu} s"
}

# e2e_captured: dies unless QEMU ended well and the agent said "capture: ok"
e2e_captured() {
	if [ "$E2E_QRC" != 0 ] || ! grep -aq "$E2E_AGENT_OK" "$out/console.log"; then
		e2e_show_failure "$out/console.log"
		sv_die "the agent did not report a complete capture (rc=$E2E_QRC)"
	fi
	t_ok "the agent captured"
}

# e2e_guest_lines LOG -> the SALVAGE:/agent lines of the console, cleaned
e2e_guest_lines() {
	grep -a -E 'SALVAGE:|agent: |salvage arm|armed:|crash kernel' "$1" | tr -d '\r' |
		sed 's/\x1bc//g; s/\x1b\[[0-9;?]*[A-Za-z]//g'
}

# e2e_show_failure LOG -> prints the end of the console
e2e_show_failure() {
	sv_log "last console lines:"
	tail -n 60 "$1" | tr -d '\r' | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g' >&2
	[ ! -s "$1.stderr" ] || { sv_log "qemu stderr:"; cat "$1.stderr" >&2; }
}

# e2e_extract DISK DIR OUT -> copies DIR of the ext4 image into OUT (no mount)
e2e_extract() {
	local disk=$1 dir=$2 out=$3
	mkdir -p "$out"
	debugfs -R "rdump $dir $out" "$disk" >"$out.debugfs.log" 2>&1 ||
		{ cat "$out.debugfs.log" >&2; sv_die "debugfs rdump $dir failed"; }
}

# e2e_dump_dirs DISK DIR -> names of the entries in DIR of the image, one a line
e2e_dump_dirs() {
	debugfs -R "ls -p $2" "$1" 2>/dev/null | awk -F/ 'NF > 5 && $6 != "." && $6 != ".." { print $6 }'
}

# e2e_json FILE PYEXPR... -> each expression (over `m`, the parsed file) must be true
e2e_json() {
	local f=$1
	shift
	"$SV_PYTHON" - "$f" "$@" <<'EOF' || sv_die "meta.json check failed ($f)"
import json, sys
m = json.load(open(sys.argv[1]))
bad = [e for e in sys.argv[2:] if not eval(e, {"m": m})]
for e in bad:
    print("[vm] ERROR: meta.json: not true: " + e, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
}

# e2e_make_ext4 IMG SIZE_MB STAGE -> ext4 labelled E2E_LABEL, populated from STAGE, no root
e2e_make_ext4() {
	rm -f "$1"
	mkfs.ext4 -q -F -L "$E2E_LABEL" -m 0 -b 4096 -E lazy_itable_init=0,lazy_journal_init=0 \
		-d "$3" "$1" "$2M" || sv_die "mkfs.ext4 $1 failed"
}

# e2e_free_blocks IMG -> free 4 KiB blocks of the image
e2e_free_blocks() {
	dumpe2fs -h "$1" 2>/dev/null | awk -F: '/^Free blocks/ { gsub(/ /, "", $2); print $2 }'
}
