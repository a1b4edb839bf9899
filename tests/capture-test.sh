#!/usr/bin/env bash
# salvage-capture on generated kernel dumps: every dump level, codec and
# output format, read back by the vmcore library and compared page by page
# with what the level should keep (tests/tools/capcheck.py, from the
# generator's own listings).  Also: thread count and cycle size do not change
# a byte of the output; ENOSPC or a failed flush leaves a readable, incomplete
# dump and the log.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
t_init capture "${1:-}"
CAP=$BUILD/salvage-capture
CHECK=$BUILD/tests/vmcheck
t_need_built "$CAP" "$CHECK" "$BUILD/salvage"
rm -f "$T_OUT"/*.out "$T_OUT"/*.out.* 2>/dev/null

# fixtures with a kernel memory model: 4- and 5-level paging, KASLR,
# FLATMEM and SPARSEMEM, several kernel versions' page encodings
FIXTURES=${CAPTURE_FIXTURES:-"mdf-linux mdf-linux-sparse $(cd "$T_HERE/fixtures" && ls mm-*.desc 2>/dev/null | grep -v hostile | sed 's/\.desc$//' | tr '\n' ' ')"}
LEVELS="0 1 2 4 8 16 31"

run() { # name level format(kdump|elf) flat(0|1) codec-opts...
	local name=$1 level=$2 fmt=$3 flat=$4
	shift 4
	local tag="$name-d$level-$fmt$([ "$flat" = 1 ] && echo -flat)-${*// /}"
	tag=${tag//=/}
	local out=$T_OUT/$tag.out opts=(--progress=off --message-level 4 -d "$level" "$@")
	[ "$fmt" = elf ] && opts+=(-E)
	if [ "$flat" = 1 ]; then
		timeout 60 "$CAP" "${opts[@]}" -F "$T_OUT/$name.src" >"$out" 2>"$out.err"
	else
		timeout 60 "$CAP" "${opts[@]}" "$T_OUT/$name.src" "$out" 2>"$out.err"
	fi
	local rc=$?
	if [ $rc -ne 0 ]; then t_fail "$tag: salvage-capture exit $rc: $(head -2 "$out.err")"; return; fi
	if ! timeout 60 "$CHECK" --pages "$out" >"$out.pages" 2>&1; then
		t_fail "$tag: vmcheck failed: $(grep -m1 error "$out.pages")"; return
	fi
	if ! "$PY" "$T_HERE/tools/capcheck.py" "$T_OUT/$name.pages" "$T_OUT/$name.classes" \
		"$out.pages" "$level" "$fmt" >"$out.check"; then
		t_fail "$tag: $(tail -3 "$out.check" | tr '\n' ' ')"; return
	fi
	t_ok "$tag"
	rm -f "$out.pages"
}

for name in $FIXTURES; do
	desc=$T_HERE/fixtures/$name.desc
	[ -f "$desc" ] || { t_fail "$name: no such fixture"; continue; }
	if ! "$PY" "$T_HERE/tools/mkdump.py" "$desc" "$T_OUT/$name.src" --pages "$T_OUT/$name.pages" \
		--classes "$T_OUT/$name.classes" >"$T_OUT/$name.gen.log" 2>&1; then
		t_fail "$name: generator failed: $(tail -1 "$T_OUT/$name.gen.log")"; continue
	fi
	for level in $LEVELS; do
		for codec in none zlib lzo snappy zstd zstd:-5 zstd:3; do
			run "$name" "$level" kdump 0 "--compress=$codec"
		done
		run "$name" "$level" kdump 1 --compress=zstd
		run "$name" "$level" elf 0
		run "$name" "$level" elf 1
	done
	# the output does not depend on threads or cycle size
	ref=$T_OUT/$name-ref.out
	"$CAP" --progress=off --message-level 4 -d 31 -c "$T_OUT/$name.src" "$ref" -f 2>/dev/null
	for variant in "--threads 2" "--threads 3" "--cycle-pages 64" "--cycle-pages 640 --threads 2"; do
		"$CAP" --progress=off --message-level 4 -d 31 -c $variant "$T_OUT/$name.src" "$ref.v" -f 2>/dev/null
		if cmp -s "$ref" "$ref.v"; then t_ok "$name $variant"; else t_fail "$name: output differs with $variant"; fi
	done
	"$CAP" --progress=off --message-level 4 -d 31 -E "$T_OUT/$name.src" "$ref.e1" -f 2>/dev/null
	"$CAP" --progress=off --message-level 4 -d 31 -E --cycle-pages 64 "$T_OUT/$name.src" "$ref.e2" -f 2>/dev/null
	if cmp -s "$ref.e1" "$ref.e2"; then t_ok "$name -E --cycle-pages 64"; else t_fail "$name: ELF output differs with --cycle-pages 64"; fi
done

# 32-bit machines (i386, 32-bit ARM): kdump output in the machine's own
# header layout (docs/formats.md §1.12), read back by salvage and by the
# generator's own parser (which picks the layout from the utsname machine,
# as crash and libkdumpfile do): every page as in the source
for name in kdump-i386 kdump-arm; do
	src=$T_OUT/$name.src
	if ! "$PY" "$T_HERE/tools/mkdump.py" "$T_FIX/$name.desc" "$src" --pages "$T_OUT/$name.pages" \
		>"$T_OUT/$name.gen.log" 2>&1; then
		t_fail "$name: generator failed: $(tail -1 "$T_OUT/$name.gen.log")"; continue
	fi
	arch=$([ $name = kdump-arm ] && echo arm || echo i386)
	for v in "d0:-d 0 -c" "d1:-d 1 -l" "d31:-d 31" "flat:-d 0 -F"; do
		tag=$name-${v%%:*} f=$T_OUT/$name-${v%%:*}.out
		# shellcheck disable=SC2086
		if [ "${v%%:*}" = flat ]; then
			"$CAP" --progress=off --message-level 4 ${v#*:} "$src" >"$f" 2>"$f.err"
		else
			"$CAP" --progress=off --message-level 4 -f ${v#*:} "$src" "$f" 2>"$f.err"
		fi
		rc=$?
		if [ $rc -ne 0 ]; then t_fail "$tag: salvage-capture exit $rc: $(tail -1 "$f.err")"; continue; fi
		if ! "$BUILD/salvage" info "$f" >"$f.info" 2>&1 || ! grep -q "^arch: *$arch\$" "$f.info"; then
			t_fail "$tag: salvage info: $(grep -m1 'arch\|error' "$f.info")"; continue
		fi
		if ! "$CHECK" --pages "$f" >"$f.pages" 2>&1; then
			t_fail "$tag: vmcheck failed: $(grep -m1 error "$f.pages")"; continue
		fi
		lvl=${v#*-d }
		if ! "$PY" "$T_HERE/tools/capcheck.py" "$T_OUT/$name.pages" - "$f.pages" "${lvl%% *}" kdump >"$f.check"; then
			t_fail "$tag: $(tail -3 "$f.check" | tr '\n' ' ')"; continue
		fi
		if ! "$PY" "$T_HERE/tools/pagelist.py" "$f" >"$f.second" 2>&1 || ! cmp -s "$f.pages" "$f.second"; then
			t_fail "$tag: the generator's parser reads the output otherwise ($(head -1 "$f.second"))"; continue
		fi
		t_ok "$tag"
	done
done

# out of space: a partial dump, marked incomplete, readable; the log saved first
name=${FIXTURES%% *}
for fmt in kdump elf; do
	f=$T_OUT/enospc-$fmt.out
	rm -f "$f" "$f.dmesg.txt"
	"$CAP" --progress=off --message-level 4 -d 0 --compress=none $([ $fmt = elf ] && echo -E) \
		--fail-after 600K "$T_OUT/$name.src" "$f" 2>"$f.err"
	rc=$?
	if [ $rc -ne 3 ]; then t_fail "enospc $fmt: exit $rc, expected 3"; continue; fi
	if ! "$BUILD/salvage" info "$f" | grep -c '^incomplete: *yes' >/dev/null; then t_fail "enospc $fmt: not marked incomplete"; continue; fi
	"$CHECK" --pages "$f" >"$f.pages" 2>&1 || { t_fail "enospc $fmt: partial dump unreadable"; continue; }
	n=$(grep -c ' data ' "$f.pages")
	if [ "$n" -lt 50 ]; then t_fail "enospc $fmt: only $n pages readable"; continue; fi
	if ! "$PY" "$T_HERE/tools/capcheck.py" "$T_OUT/$name.pages" - "$f.pages" 0 subset >"$f.check"; then
		t_fail "enospc $fmt: $(tail -1 "$f.check")"; continue
	fi
	[ -s "$f.dmesg.txt" ] || { t_fail "enospc $fmt: kernel log not saved"; continue; }
	t_ok "enospc $fmt"
done
# a failed background flush (an injected EIO; the flusher makes every 4 MiB
# durable while later pages are compressed) is a failed dump: marked
# incomplete, exit 3, the log saved; the uncompressed dump is over 4 MiB, so
# the hook fires only if a flush really ran in the background
f=$T_OUT/flush-eio.out
rm -f "$f" "$f.dmesg.txt"
"$CAP" --progress=off --message-level 4 -d 0 --compress=none --fail-flush "$T_OUT/$name.src" "$f" 2>"$f.err"
rc=$?
if [ $rc -ne 3 ]; then
	t_fail "flush EIO: exit $rc, expected 3: $(tail -1 "$f.err")"
elif ! grep -q 'Input/output error; dump incomplete' "$f.err"; then
	t_fail "flush EIO: not reported ($(tail -1 "$f.err"))"
elif ! "$BUILD/salvage" info "$f" | grep -c '^incomplete: *yes' >/dev/null; then
	t_fail "flush EIO: not marked incomplete"
elif ! "$CHECK" --pages "$f" >"$f.pages" 2>&1 || [ ! -s "$f.dmesg.txt" ]; then
	t_fail "flush EIO: partial dump unreadable or kernel log not saved"
else
	t_ok "flush EIO"
fi
# an unreadable source page is skipped and reported, not fatal: the output
# keeps every other page, leaves that one's descriptor unwritten and is
# marked incomplete (exit 3: a capture that lost a page never exits 0)
"$PY" "$T_HERE/tools/mkdump.py" "$T_HERE/fixtures/bad-kdump-desc-offset.desc" "$T_OUT/unreadable.src" \
	--pages "$T_OUT/unreadable.pages" >/dev/null 2>&1
f=$T_OUT/unreadable.out
rm -f "$f" "$f.dmesg.txt"
"$CAP" --progress=off --message-level 6 -d 0 "$T_OUT/unreadable.src" "$f" 2>"$f.err"
rc=$?
if [ $rc -ne 3 ]; then
	t_fail "unreadable page: exit $rc, expected 3: $(tail -1 "$f.err")"
elif ! "$BUILD/salvage" info "$f" | grep -q '^incomplete: *yes'; then
	t_fail "unreadable page: output not marked incomplete"
elif ! grep -q '1 unreadable' "$f.err" || ! grep -q 'page 0x120 unreadable' "$f.err"; then
	t_fail "unreadable page: not reported ($(tail -1 "$f.err"))"
elif ! "$CHECK" --pages "$f" >"$f.pages" || ! grep -q '^pfn 0x120 incomplete$' "$f.pages"; then
	t_fail "unreadable page: output unreadable or page 0x120 not left out"
elif ! "$PY" "$T_HERE/tools/capcheck.py" "$T_OUT/unreadable.pages" - "$f.pages" 0 subset >"$f.check" ||
	[ "$(grep -c ' data ' "$f.pages")" -ne "$(($(grep -c ' data ' "$T_OUT/unreadable.pages") - 1))" ]; then
	t_fail "unreadable page: other pages lost or changed"
else
	t_ok "unreadable page"
fi
t_summary
