#!/usr/bin/env bash
# salvage-capture's output read by the reference tools:
#  - "$MDF" --dump-dmesg on our kdump output prints the same log as on the
#    source vmcore, and makedumpfile re-filters our output (-d 31) into a file
#    whose every page equals the source's;
#  - makedumpfile -R reassembles our flattened stream into our plain file;
#  - crash (sys, log, bt) opens our output when a matching vmlinux exists (the
#    real vmcores of tests/vm have one in /var/cache/salvage; absent on a fresh
#    machine until the QEMU tests fetch it: then that part says so and skips).
# Note: Debian's makedumpfile 1.7.2 reads zlib and lzo only (no zstd, snappy).
#   tests/interop/capture.sh BUILD
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
t_init interop-capture "${1:-}"
CAP=$BUILD/salvage-capture
CHECK=$BUILD/tests/vmcheck
t_need_built "$CAP" "$CHECK"
t_need_makedumpfile
rm -rf "$T_OUT"/*

# every data page of OUT equals the same page of SRC (listings from vmcheck)
same_pages() { # src.pages out.pages
	"$PY" "$T_HERE/tools/capcheck.py" "$1" - "$2" 0 subset >/dev/null
}

check_source() { # name src [vmlinux]
	local name=$1 src=$2 vmlinux=${3:-}
	"$MDF" --dump-dmesg "$src" "$T_OUT/$name.src.dmesg" >/dev/null 2>&1 ||
		{ t_fail "$name: makedumpfile cannot read the source"; return; }
	"$CHECK" --pages "$src" >"$T_OUT/$name.src.pages"
	for c in "-c -d 31" "-l -d 31" "-c -d 1" "-l -d 0"; do
		local tag="$name$(echo "$c" | tr -d ' ')" o
		o=$T_OUT/$tag.kdump
		"$CAP" --progress=off --message-level 4 $c "$src" "$o" || { t_fail "$tag: capture failed"; continue; }
		if "$MDF" --dump-dmesg "$o" "$o.mdf-dmesg" >/dev/null 2>&1 &&
			cmp -s "$o.mdf-dmesg" "$T_OUT/$name.src.dmesg"; then t_ok "$tag dmesg"; else t_fail "$tag: "$MDF" --dump-dmesg differs or failed"; fi
		if "$MDF" -c -d 31 "$o" "$o.refilt" >/dev/null 2>&1 &&
			"$CHECK" --pages "$o.refilt" >"$o.refilt.pages" && same_pages "$T_OUT/$name.src.pages" "$o.refilt.pages"; then
			t_ok "$tag re-filtered"
		else
			t_fail "$tag: makedumpfile re-filtering failed or changed pages"
		fi
		if [ -n "$vmlinux" ]; then
			printf 'sys\nlog\nbt\nquit\n' >"$T_OUT/crash.cmd"
			timeout 300 crash -s "$vmlinux" "$o" -i "$T_OUT/crash.cmd" >"$o.crash" 2>&1
			if grep -q 'PANIC:' "$o.crash" && grep -q 'sysrq: Trigger a crash' "$o.crash" &&
				grep -q 'sysrq_handle_crash' "$o.crash"; then t_ok "$tag crash"; else t_fail "$tag: crash sys/log/bt failed ($o.crash)"; fi
			vmlinux=   # once per source is enough: it takes seconds
		fi
	done
	# flattened: makedumpfile -R rebuilds exactly our plain file
	"$CAP" --progress=off --message-level 4 -c -d 31 "$src" "$T_OUT/$name.plain" &&
	"$CAP" --progress=off --message-level 4 -c -d 31 -F "$src" >"$T_OUT/$name.flat" &&
	timeout 120 "$MDF" -R "$T_OUT/$name.flat.R" <"$T_OUT/$name.flat" >/dev/null 2>&1 &&
	cmp -s "$T_OUT/$name.flat.R" "$T_OUT/$name.plain" && t_ok "$name -F" || t_fail "$name: makedumpfile -R of our -F stream differs from our plain output"
}

for name in mdf-linux mdf-linux-sparse; do
	"$PY" "$T_HERE/tools/mkdump.py" "$T_HERE/fixtures/$name.desc" "$T_OUT/$name.elf" >/dev/null ||
		{ t_fail "$name: generator failed"; continue; }
	check_source "$name" "$T_OUT/$name.elf"
done

real=/var/cache/salvage/vmcore-default
if [ -f "$real/vmcore" ]; then
	vml=
	[ -f "$real/vmlinux" ] && vml=$(readlink -f "$real/vmlinux")
	[ -z "$vml" ] && t_skip_ok "real crash" "no vmlinux for the real vmcore $real"
	check_source real "$real/vmcore" "$vml"
else
	t_skip_ok "real vmcore" "none at $real (tests/vm/make-vmcore.sh $real makes it, for the crash part)"
fi
t_summary
