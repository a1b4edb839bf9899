#!/usr/bin/env bash
# salvage-capture against hostile and unlucky inputs (issue 11's capture
# findings).  The rule every case checks: a capture that exits 0 or 3 leaves
# an output the library reads back, and every page it holds equals the
# source's page; a capture that exits 1 leaves no output file behind.
#   harden-test.sh [BUILD]
set -uo pipefail
. "$(dirname "$0")/lib.sh"
t_init harden-test "${1:-}"
CAP=$BUILD/salvage-capture
CHECK=$BUILD/tests/vmcheck
OUT=$T_OUT
rm -rf "${OUT:?}"/*
FIX=$T_HERE/fixtures

gen() { # DESC OUT
	"$PY" "$T_HERE/tools/mkdump.py" "$1" "$2" >"$2.gen.log" 2>&1
}

# Patch the first PT_LOAD (or every one, for noload) of an ELF dump.
elfpatch() { # IN OUT FIELD=VALUE...
	"$PY" - "$@" <<'EOF'
import struct, sys
src, dst = sys.argv[1], sys.argv[2]
b = bytearray(open(src, 'rb').read())
phoff, = struct.unpack_from('<Q', b, 32)
phentsize, phnum = struct.unpack_from('<HH', b, 54)
loads = [phoff + i * phentsize for i in range(phnum)
         if struct.unpack_from('<I', b, phoff + i * phentsize)[0] == 1]
for kv in sys.argv[3:]:
    k, _, v = kv.partition('=')
    if k == 'noload':
        for p in loads:
            struct.pack_into('<I', b, p, 0)
    else:
        off = {'paddr': 24, 'filesz': 32, 'memsz': 40}[k]
        struct.pack_into('<Q', b, loads[0] + off, int(v, 0))
open(dst, 'wb').write(b)
EOF
}

# The rule: OUT opens, and each page it holds is the source's page.
roundtrip() { # WHAT SRC OUT
	local what=$1 src=$2 out=$3
	if ! t_timeout 60 "$CHECK" --pages "$out" >"$out.pages" 2>&1; then
		t_fail "$what" "output unreadable: $(grep -m1 -i error "$out.pages")"
		return 1
	fi
	[ -f "$src.pages" ] || t_timeout 60 "$CHECK" --pages "$src" >"$src.pages" 2>&1
	local extra
	extra=$(grep ' data ' "$out.pages" | grep -v -x -F -f "$src.pages" | head -3)
	if [ -n "$extra" ]; then
		t_fail "$what" "pages differ from the source's: $extra"
		return 1
	fi
	if ! grep -q ' data ' "$out.pages" && grep -q ' data ' "$src.pages" &&
		! grep -q '^incomplete: yes' <("$CHECK" "$out" 2>/dev/null); then
		t_fail "$what" "a complete output without a single page"
		return 1
	fi
	return 0
}

# capture WHAT SRC OUT OPTS...: runs salvage-capture, sets RC and ERR
capture() {
	local what=$1 src=$2 out=$3
	shift 3
	# NOCLEAN=1: the case planted something at OUT or next to it
	[ "${NOCLEAN:-0}" = 1 ] || rm -f "$out" "$out".*
	t_timeout 30 "$CAP" --progress=off --message-level 31 "$@" "$src" "$out" >"$out.log" 2>&1
	RC=$?
	ERR=$(cat "$out.log")
}

# expect_ok WHAT SRC OUT OPTS...: exit 0 and the round trip holds
expect_ok() {
	local what=$1 src=$2 out=$3
	capture "$@"
	if [ $RC -ne 0 ]; then
		t_fail "$what" "exit $RC: $(head -2 "$out.log" | tr '\n' ' ')"
	elif roundtrip "$what" "$src" "$out"; then
		t_ok "$what"
	fi
}

# expect_refused WHAT SRC OUT PATTERN OPTS...: exit 1 fast, the message
# matches, no output left
expect_refused() {
	local what=$1 src=$2 out=$3 pat=$4
	shift 4
	local t0=$SECONDS
	capture "$what" "$src" "$out" "$@"
	if [ $RC -ne 1 ]; then
		t_fail "$what" "exit $RC, expected 1: $(head -2 "$out.log" | tr '\n' ' ')"
	elif ! grep -q -- "$pat" "$out.log"; then
		t_fail "$what" "message lacks '$pat': $(head -2 "$out.log" | tr '\n' ' ')"
	elif [ -e "$out" ]; then
		t_fail "$what" "refused, but $out was left behind"
	elif [ $((SECONDS - t0)) -gt 5 ]; then
		t_fail "$what" "took $((SECONDS - t0)) s to refuse"
	else
		t_ok "$what"
	fi
}

# ---- finding 2: note quirks reach the output normalised -------------------
cat >"$OUT/ptnote-trailing2.desc" <<'EOF'
# two PT_NOTE segments, each with zero padding after its notes
format elf
ram 0x0 0x10000
ram 0x100000 0x140000
put 0x120000 string "salvage harden-test page\n"
note prstatus pid=1 rip=0xffffffff81000100
note_trailing 16
ptnote
note vmcoreinfo
  OSRELEASE=6.1.0-56-amd64
  PAGESIZE=4096
end
note_trailing 10
EOF
gen "$FIX/quirk-note-align8.desc" "$OUT/align8.src" || t_fail "generate align8" "$(tail -1 "$OUT/align8.src.gen.log")"
gen "$OUT/ptnote-trailing2.desc" "$OUT/trail2.src" || t_fail "generate trail2" "$(tail -1 "$OUT/trail2.src.gen.log")"
for name in align8 trail2; do
	for fmt in kdump elf; do
		opts=(-d 31)
		[ $fmt = elf ] && opts+=(-E)
		expect_ok "notes $name $fmt" "$OUT/$name.src" "$OUT/$name-$fmt.out" "${opts[@]}"
		grep -q 'notes written normalised' "$OUT/$name-$fmt.out.log" ||
			t_fail "notes $name $fmt warning" "no 'notes written normalised' warning"
		# flattened, to a file (the reader takes it as is)
		expect_ok "notes $name $fmt -F" "$OUT/$name.src" "$OUT/$name-$fmt-F.out" "${opts[@]}" -F
	done
	# the VMCOREINFO copy the kdump header points at still parses
	if "$CHECK" "$OUT/$name-kdump.out" 2>/dev/null | grep -q '^vmcoreinfo: OSRELEASE=6.1.0-56-amd64'; then
		t_ok "notes $name: VMCOREINFO read back"
	else
		t_fail "notes $name: VMCOREINFO read back" "OSRELEASE missing from the output"
	fi
done

# ---- finding 2: no memory at all -------------------------------------------
elfpatch "$OUT/trail2.src" "$OUT/noload.src" noload
for fmt in kdump elf; do
	opts=(-d 31)
	[ $fmt = elf ] && opts+=(-E)
	expect_refused "no PT_LOAD $fmt" "$OUT/noload.src" "$OUT/noload-$fmt.out" "no PT_LOAD" "${opts[@]}"
done

# ---- finding 3: hostile sizes ----------------------------------------------
elfpatch "$OUT/trail2.src" "$OUT/memsz59.src" memsz=0x800000000000000
elfpatch "$OUT/trail2.src" "$OUT/filesz59.src" filesz=0x800000000000000
elfpatch "$OUT/trail2.src" "$OUT/memsz16t.src" memsz=0x100000000000
for name in memsz59 filesz59; do
	expect_refused "size $name" "$OUT/$name.src" "$OUT/$name.out" "physical address width" -d 31
done
expect_refused "size 16 TiB" "$OUT/memsz16t.src" "$OUT/memsz16t.out" "frames per stored page" -d 31
expect_refused "size 16 TiB -E" "$OUT/memsz16t.src" "$OUT/memsz16t-E.out" "frames per stored page" -d 31 -E
# what -E writes (p_filesz < p_memsz: excluded pages) stays accepted
elfpatch "$OUT/trail2.src" "$OUT/memsz64g.src" memsz=0x1000000000
for fmt in kdump elf; do
	opts=(-d 31)
	[ $fmt = elf ] && opts+=(-E)
	expect_ok "size 64 GiB mapped, $fmt" "$OUT/memsz64g.src" "$OUT/memsz64g-$fmt.out" "${opts[@]}"
	sz=$(stat -c %s "$OUT/memsz64g-$fmt.out" 2>/dev/null || echo 0)
	[ "$sz" -lt $((8 << 20)) ] || t_fail "size 64 GiB mapped, $fmt: output size" "$sz bytes"
done
gen "$FIX/quirk-filesz-lt-memsz.desc" "$OUT/ltmem.src" || t_fail "generate ltmem" "$(tail -1 "$OUT/ltmem.src.gen.log")"
expect_ok "p_filesz < p_memsz kdump" "$OUT/ltmem.src" "$OUT/ltmem-kdump.out" -d 31
expect_ok "p_filesz < p_memsz elf" "$OUT/ltmem.src" "$OUT/ltmem-elf.out" -d 31 -E

# ---- finding 5: cut short --------------------------------------------------
# exit 3: a readable dump marked incomplete whose pages are the source's;
# exit 1: nothing left.  Anything else (or a leak under LSan) fails.
for fa in 100 2000 4096 5000 8000 9000 12400 13000 20000 60000; do
	for v in kdump elf kdump-F elf-F; do
		opts=(-d 0 --fail-after "$fa")
		case $v in elf*) opts+=(-E) ;; esac
		case $v in *-F) opts+=(-F) ;; esac
		what="fail-after $fa $v"
		out=$OUT/cut-$fa-$v.out
		capture "$what" "$OUT/trail2.src" "$out" "${opts[@]}"
		case $RC in
		1) if [ -e "$out" ]; then t_fail "$what" "exit 1 but $out left behind"; else t_ok "$what"; fi ;;
		3) if ! "$CHECK" "$out" 2>/dev/null | grep -q '^incomplete: yes'; then
			t_fail "$what" "exit 3 but the output is not marked incomplete"
		   elif roundtrip "$what" "$OUT/trail2.src" "$out"; then
			t_ok "$what"
		   fi ;;
		*) t_fail "$what" "exit $RC: $(head -2 "$out.log" | tr '\n' ' ')" ;;
		esac
	done
done
# to stdout: a stream cut inside its header says so with exit 1
t_timeout 30 "$CAP" --progress=off -d 31 -F --fail-after 100 "$OUT/trail2.src" >"$OUT/stdout.out" 2>"$OUT/stdout.log"
rc=$?
if [ $rc -eq 1 ]; then t_ok "fail-after 100 -F stdout"; else t_fail "fail-after 100 -F stdout" "exit $rc: $(head -2 "$OUT/stdout.log")"; fi

# ---- finding 6: paths ------------------------------------------------------
P=$OUT/paths
mkdir -p "$P"
echo precious >"$P/target"
ln -s target "$P/out.dmesg.txt.tmp"
NOCLEAN=1 capture "paths: tmp symlink" "$OUT/trail2.src" "$P/out" -d 31
if [ "$(cat "$P/target")" != precious ]; then
	t_fail "paths: tmp symlink" "the symlink's target was overwritten"
elif [ $RC -ne 0 ] || ! roundtrip "paths: tmp symlink" "$OUT/trail2.src" "$P/out"; then
	t_fail "paths: tmp symlink" "exit $RC"
else
	t_ok "paths: tmp symlink"
fi
ln -s "$P/created" "$P/dangling"
NOCLEAN=1 capture "paths: dangling output symlink" "$OUT/trail2.src" "$P/dangling" -d 31
if [ -e "$P/created" ]; then
	t_fail "paths: dangling output symlink" "its target was created"
elif [ $RC -eq 0 ]; then
	t_fail "paths: dangling output symlink" "exit 0"
else
	t_ok "paths: dangling output symlink"
fi
NOCLEAN=1 capture "paths: dangling output symlink -f" "$OUT/trail2.src" "$P/dangling" -d 31 -f
if [ -e "$P/created" ]; then
	t_fail "paths: dangling output symlink -f" "its target was created"
else
	t_ok "paths: dangling output symlink -f"
fi
gen "$FIX/mdf-linux.desc" "$OUT/mdf.src" || t_fail "generate mdf-linux" "$(tail -1 "$OUT/mdf.src.gen.log")"
rm -f "$P/log" "$P/log".*
echo old-log >"$P/log.dmesg.txt"
NOCLEAN=1 capture "paths: existing OUTPUT.dmesg.txt" "$OUT/mdf.src" "$P/log" -d 31
if [ "$(cat "$P/log.dmesg.txt")" != old-log ]; then
	t_fail "paths: existing OUTPUT.dmesg.txt" "replaced without -f"
elif [ $RC -eq 0 ]; then
	t_fail "paths: existing OUTPUT.dmesg.txt" "exit 0"
else
	t_ok "paths: existing OUTPUT.dmesg.txt"
fi
t_timeout 30 "$CAP" --progress=off -d 31 -f "$OUT/mdf.src" "$P/log" >"$P/log.out" 2>&1
rc=$?
if [ $rc -ne 0 ] || ! grep -q . "$P/log.dmesg.txt" || [ "$(cat "$P/log.dmesg.txt")" = old-log ]; then
	t_fail "paths: -f replaces OUTPUT.dmesg.txt" "exit $rc"
else
	t_ok "paths: -f replaces OUTPUT.dmesg.txt"
fi
ls "$P" | grep -q '\.tmp$' && [ ! -L "$P/out.dmesg.txt.tmp" ] &&
	t_fail "paths: temporary files" "left behind: $(ls "$P" | grep '\.tmp$')"

# ---- findings 7 and 10: the kernel log's messages, -X's level ---------------
capture "dmesg: no printk symbols" "$OUT/trail2.src" "$OUT/nolog.out" -d 31
if [ $RC -ne 0 ]; then
	t_fail "dmesg: no printk symbols" "exit $RC"
elif [ -e "$OUT/nolog.out.dmesg.txt" ]; then
	t_fail "dmesg: no printk symbols" "a dmesg.txt was committed without a log"
elif ! grep -q 'kernel log not saved: dmesg: no printk ring buffer symbols' "$OUT/nolog.out.log" ||
	grep -q 'dmesg: dmesg:\|Input/output error\|no error' "$OUT/nolog.out.log"; then
	t_fail "dmesg: no printk symbols" "message: $(grep -m1 'kernel log' "$OUT/nolog.out.log")"
else
	t_ok "dmesg: no printk symbols"
fi
capture "dmesg: disk full" "$OUT/mdf.src" "$OUT/full.out" -d 31 --dmesg /dev/full
if ! grep -q 'kernel log not saved: dmesg: writing the log: No space left on device' "$OUT/full.out.log"; then
	t_fail "dmesg: disk full" "message: $(grep -m1 'kernel log' "$OUT/full.out.log")"
else
	t_ok "dmesg: disk full"
fi
capture "-X level" "$OUT/trail2.src" "$OUT/xlevel.out" -d 31 -X
if grep -q 'level 287\|level 2[0-9][0-9]' "$OUT/xlevel.out.log"; then
	t_fail "-X level" "$(grep -m1 level "$OUT/xlevel.out.log")"
elif ! "$CHECK" "$OUT/xlevel.out" 2>/dev/null | grep -q '^kdump: version 6 level 1 '; then
	t_fail "-X level" "header: $("$CHECK" "$OUT/xlevel.out" 2>&1 | grep -m1 '^kdump')"
else
	t_ok "-X level"
fi
# a missing input is named once ("X: X: No such file..." before)
t_timeout 30 "$CAP" --progress=off -d 31 "$OUT/missing.src" "$OUT/missing.out" >"$OUT/missing.log" 2>&1
rc=$?
if [ $rc -ne 1 ] || [ "$(grep -o "$OUT/missing.src" "$OUT/missing.log" | wc -l)" -ne 1 ]; then
	t_fail "missing input named once" "exit $rc: $(head -1 "$OUT/missing.log")"
else
	t_ok "missing input named once"
fi

t_summary
