#!/usr/bin/env bash
# salvage-capture's output read by the reference tools:
#  - makedumpfile --dump-dmesg on our kdump output prints the same log as on the
#    source vmcore, and makedumpfile re-filters our output (-d 31) into a file
#    whose every page equals the source's;
#  - makedumpfile -R reassembles our flattened stream into our plain file;
#  - crash (sys, log, bt) opens our output when a matching vmlinux exists (the
#    real vmcores of tests/vm have one in /var/cache/salvage; absent on a fresh
#    machine until the QEMU tests fetch it: then that part says so and skips).
# Note: Debian's makedumpfile 1.7.2 reads zlib and lzo only (no zstd, snappy).
#   tests/interop/capture.sh BUILD
set -uo pipefail
BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")/.." && pwd)
OUT=$BUILD/interop-capture
PY=/usr/bin/python3
CAP=$BUILD/salvage-capture
CHECK=$BUILD/tests/vmcheck
rm -rf "$OUT"
mkdir -p "$OUT"
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

# every data page of OUT equals the same page of SRC (listings from vmcheck)
same_pages() { # src.pages out.pages
	"$PY" "$HERE/tools/capcheck.py" "$1" - "$2" 0 subset >/dev/null
}

check_source() { # name src [vmlinux]
	local name=$1 src=$2 vmlinux=${3:-}
	makedumpfile --dump-dmesg "$src" "$OUT/$name.src.dmesg" >/dev/null 2>&1 ||
		{ bad "$name: makedumpfile cannot read the source"; return; }
	"$CHECK" --pages "$src" >"$OUT/$name.src.pages"
	for c in "-c -d 31" "-l -d 31" "-c -d 1" "-l -d 0"; do
		local tag="$name$(echo "$c" | tr -d ' ')" o
		o=$OUT/$tag.kdump
		"$CAP" --progress=off --message-level 4 $c "$src" "$o" || { bad "$tag: capture failed"; continue; }
		if makedumpfile --dump-dmesg "$o" "$o.mdf-dmesg" >/dev/null 2>&1 &&
			cmp -s "$o.mdf-dmesg" "$OUT/$name.src.dmesg"; then ok; else bad "$tag: makedumpfile --dump-dmesg differs or failed"; fi
		if makedumpfile -c -d 31 "$o" "$o.refilt" >/dev/null 2>&1 &&
			"$CHECK" --pages "$o.refilt" >"$o.refilt.pages" && same_pages "$OUT/$name.src.pages" "$o.refilt.pages"; then
			ok
		else
			bad "$tag: makedumpfile re-filtering failed or changed pages"
		fi
		if [ -n "$vmlinux" ]; then
			printf 'sys\nlog\nbt\nquit\n' >"$OUT/crash.cmd"
			timeout 300 crash -s "$vmlinux" "$o" -i "$OUT/crash.cmd" >"$o.crash" 2>&1
			if grep -q 'PANIC:' "$o.crash" && grep -q 'sysrq: Trigger a crash' "$o.crash" &&
				grep -q 'sysrq_handle_crash' "$o.crash"; then ok; else bad "$tag: crash sys/log/bt failed ($o.crash)"; fi
			vmlinux=   # once per source is enough: it takes seconds
		fi
	done
	# flattened: makedumpfile -R rebuilds exactly our plain file
	"$CAP" --progress=off --message-level 4 -c -d 31 "$src" "$OUT/$name.plain" &&
	"$CAP" --progress=off --message-level 4 -c -d 31 -F "$src" >"$OUT/$name.flat" &&
	makedumpfile -R "$OUT/$name.flat.R" <"$OUT/$name.flat" >/dev/null 2>&1 &&
	cmp -s "$OUT/$name.flat.R" "$OUT/$name.plain" && ok || bad "$name: makedumpfile -R of our -F stream differs from our plain output"
}

for name in mdf-linux mdf-linux-sparse; do
	"$PY" "$HERE/tools/mkdump.py" "$HERE/fixtures/$name.desc" "$OUT/$name.elf" >/dev/null ||
		{ bad "$name: generator failed"; continue; }
	check_source "$name" "$OUT/$name.elf"
done

real=/var/cache/salvage/vmcore-default
if [ -f "$real/vmcore" ]; then
	vml=
	[ -f "$real/vmlinux" ] && vml=$(readlink -f "$real/vmlinux")
	[ -z "$vml" ] && echo "interop-capture: no vmlinux for the real vmcore; crash part skipped"
	check_source real "$real/vmcore" "$vml"
else
	echo "interop-capture: no real vmcore ($real); run tests/vm/make-vmcore.sh $real for the crash part"
fi
echo "interop-capture: $pass passed, $fail failed"
[ $fail -eq 0 ]
