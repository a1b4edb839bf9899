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
	# the summary counts true: at -d 0 every page with data in the source
	# is written once, as kdump and as ELF (partial pages and the
	# kernel-text PT_LOAD that repeats RAM included)
	want=$(grep -c ' data ' "$T_OUT/$name.pages")
	for e in "" -E; do
		got=$("$CAP" --progress=off --message-level 2 -f -d 0 $e "$T_OUT/$name.src" "$ref.count" 2>&1 |
			sed -n 's/.*: \([0-9]*\) of [0-9]* pages written.*/\1/p')
		if [ "$got" = "$want" ]; then t_ok "$name ${e:-kdump} -d 0: $got pages written, as the source holds"
		else t_fail "$name ${e:-kdump} -d 0: summary says '$got' pages written, the source holds $want"; fi
	done
done

# de-duplication (capture/dedup.c): mdf-linux with repeated contents: 32
# identical pages, a pair far apart (verified by re-reading the first copy), a
# pair side by side, and 16 pages that agree in every span the hash samples
# and differ at offset 100 (same hash, other bytes: never shared).  Every
# page must read back as the generator wrote it (capcheck), the duplicates
# must be found, and the output must not depend on the thread count.
dd=$T_OUT/dedup.desc
{
	sed '/^kernel /,$d' "$T_FIX/mdf-linux.desc"
	echo "fill 0x440000 0x460000 byte 0x41"
	echo "fill 0x460000 0x470000 byte 0x42"
	for i in $(seq 0 15); do printf 'put 0x%x u8 %d\n' $((0x460000 + i * 4096 + 100)) $((i + 1)); done
	echo "fill 0x470000 0x471000 byte 0x43"
	echo "fill 0x4f0000 0x4f1000 byte 0x43"
	echo "fill 0x480000 0x482000 byte 0x44"
	sed -n '/^kernel /,$p' "$T_FIX/mdf-linux.desc"
} >"$dd"
if ! "$PY" "$T_HERE/tools/mkdump.py" "$dd" "$T_OUT/dedup.src" --pages "$T_OUT/dedup.pages" \
	--classes "$T_OUT/dedup.classes" >"$T_OUT/dedup.gen.log" 2>&1; then
	t_fail "dedup: generator failed: $(tail -1 "$T_OUT/dedup.gen.log")"
else
	for codec in none lzo zstd zlib; do
		run dedup 1 kdump 0 "--compress=$codec"
		n=$("$CAP" --progress=off --message-level 6 -f -d 1 "--compress=$codec" "$T_OUT/dedup.src" \
			"$T_OUT/dedup-count.out" 2>&1 | sed -n 's/.* \([0-9]*\) duplicate,.*/\1/p')
		# 31 + 1 + 1 at least (the generator's other pages are unique)
		if [ "${n:-0}" -ge 33 ]; then t_ok "dedup $codec: $n duplicates found"
		else t_fail "dedup $codec: ${n:-no} duplicates found, expected at least 33"; fi
	done
	run dedup 1 kdump 1 --compress=zstd
	run dedup 1 kdump 0 --no-dedup
	ref=$T_OUT/dedup-ref.out
	"$CAP" --progress=off --message-level 4 -f -d 1 -l "$T_OUT/dedup.src" "$ref" 2>/dev/null
	for variant in "--threads 2" "--threads 3" "--cycle-pages 64 --threads 2"; do
		"$CAP" --progress=off --message-level 4 -f -d 1 -l $variant "$T_OUT/dedup.src" "$ref.v" 2>/dev/null
		if cmp -s "$ref" "$ref.v"; then t_ok "dedup $variant"; else t_fail "dedup: output differs with $variant"; fi
	done
fi

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

# a makedumpfile --split set captured as one dump (all its parts, any
# order): the same output, byte for byte, as from the whole file; a missing
# or foreign part refused by name.  The set: tests/fixtures/split/ (three
# parts of kdump-zlib.desc, a part of another dump), and one real
# makedumpfile --split writes of mdf-linux (its pages as makedumpfile's
# unsplit output of the same dump holds them)
s=$T_OUT/split
mkdir -p "$s"
for p in part1 part2 part3 foreign; do
	"$PY" "$T_HERE/tools/mkdump.py" "$T_FIX/split/$p.desc" "$s/$p.kdump" >"$s/$p.gen.log" 2>&1 ||
		t_fail "split: generator failed on $p: $(tail -1 "$s/$p.gen.log")"
done
"$PY" "$T_HERE/tools/mkdump.py" "$T_FIX/kdump-zlib.desc" "$s/whole.src" >"$s/whole.gen.log" 2>&1 ||
	t_fail "split: generator failed on kdump-zlib: $(tail -1 "$s/whole.gen.log")"
for v in "kdump:-d 0" "kdump31:-d 31 -l" "elf:-E -d 0"; do
	n=${v%%:*}
	# shellcheck disable=SC2086
	"$CAP" --progress=off --message-level 4 -f ${v#*:} "$s/whole.src" "$s/whole.$n" 2>"$s/whole.$n.err"
	# shellcheck disable=SC2086
	"$CAP" --progress=off --message-level 4 -f ${v#*:} "$s/part3.kdump" "$s/part1.kdump" "$s/part2.kdump" \
		"$s/set.$n" 2>"$s/set.$n.err"
	rc=$?
	if [ $rc -ne 0 ]; then
		t_fail "split $n: capture from the three parts exit $rc: $(tail -1 "$s/set.$n.err")"
	elif ! cmp -s "$s/whole.$n" "$s/set.$n"; then
		t_fail "split $n: output differs from the capture of the whole file"
	elif ! "$CHECK" --pages "$s/set.$n" >"$s/set.$n.pages" 2>&1 || ! grep -q ' data ' "$s/set.$n.pages"; then
		t_fail "split $n: output unreadable"
	else
		t_ok "split $n: same bytes as from the whole file"
	fi
done
"$CAP" --progress=off --message-level 4 -f -d 0 -o "$s/set-o.kdump" "$s/part2.kdump" "$s/part3.kdump" \
	"$s/part1.kdump" 2>"$s/set-o.err"
if cmp -s "$s/whole.kdump" "$s/set-o.kdump"; then t_ok "split: -o OUTPUT PART..."; else t_fail "split: -o OUTPUT PART... ($(tail -1 "$s/set-o.err"))"; fi
# workers open the set on their own handles
"$CAP" --progress=off --message-level 4 -f -d 0 --threads 3 "$s/part1.kdump" "$s/part3.kdump" \
	"$s/part2.kdump" "$s/set-t3.kdump" 2>"$s/set-t3.err"
if cmp -s "$s/whole.kdump" "$s/set-t3.kdump"; then t_ok "split: --threads 3"; else t_fail "split: --threads 3 ($(tail -1 "$s/set-t3.err"))"; fi
for v in "missing|a part is missing|part1 part3" "foreign|foreign.kdump: a part of another dump|part1 foreign part3" \
	"alone|one part of a split dump|part2" "twice|two parts hold frame|part1 part2 part2 part3"; do
	IFS='|' read -r tag want parts <<<"$v"
	args=()
	for p in $parts; do args+=("$s/$p.kdump"); done
	rm -f "$s/$tag.out"
	"$CAP" --progress=off --message-level 4 -d 0 "${args[@]}" "$s/$tag.out" 2>"$s/$tag.err"
	rc=$?
	if [ $rc -ne 1 ]; then
		t_fail "split $tag: exit $rc, expected 1 ($(tail -1 "$s/$tag.err"))"
	elif [ -e "$s/$tag.out" ]; then
		t_fail "split $tag: an output was left"
	elif ! grep -q "$want" "$s/$tag.err"; then
		t_fail "split $tag: refused without saying '$want': $(tail -1 "$s/$tag.err")"
	else
		t_ok "split $tag: $(tail -1 "$s/$tag.err")"
	fi
done
if t_makedumpfile; then
	src=$s/mdf.elf
	"$PY" "$T_HERE/tools/mkdump.py" "$T_FIX/mdf-linux.desc" "$src" >/dev/null 2>&1
	rm -f "$s/mdf.p1" "$s/mdf.p2" "$s/mdf.p3" "$s/mdf.whole"
	# 256 KiB split blocks: the 5 MiB fixture really spreads over the parts
	if ! timeout 60 "$MDF" --split --splitblock-size 256 -c -d 1 "$src" "$s/mdf.p1" "$s/mdf.p2" \
		"$s/mdf.p3" >"$s/mdf.log" 2>&1 ||
		! timeout 60 "$MDF" -c -d 1 "$src" "$s/mdf.whole" >>"$s/mdf.log" 2>&1; then
		t_fail "split (makedumpfile)" "makedumpfile failed: $(grep -v '^$' "$s/mdf.log" | tail -1)"
	else
		for n in kdump elf; do
			o=$([ $n = elf ] && echo -E)
			"$CAP" --progress=off --message-level 4 -f -d 0 $o "$s/mdf.p3" "$s/mdf.p2" "$s/mdf.p1" \
				"$s/mdf.set.$n" 2>"$s/mdf.set.$n.err"
			rc=$?
			"$CAP" --progress=off --message-level 4 -f -d 0 $o "$s/mdf.whole" "$s/mdf.whole.$n" 2>/dev/null
			"$CHECK" --pages "$s/mdf.set.$n" 2>&1 | grep ' data ' >"$s/mdf.set.$n.data"
			"$CHECK" --pages "$s/mdf.whole.$n" 2>&1 | grep ' data ' >"$s/mdf.whole.$n.data"
			nd=$(wc -l <"$s/mdf.set.$n.data")
			if [ $rc -ne 0 ]; then
				t_fail "split (makedumpfile) $n: exit $rc: $(tail -1 "$s/mdf.set.$n.err")"
			elif [ "$nd" -lt 1000 ] || ! cmp -s "$s/mdf.set.$n.data" "$s/mdf.whole.$n.data"; then
				t_fail "split (makedumpfile) $n: pages ($nd) differ from the capture of makedumpfile's unsplit file"
			else
				t_ok "split (makedumpfile --split, 3 parts) $n: $nd pages as from the unsplit file"
			fi
		done
		# without --splitblock-size the small dump fits one block: the
		# other parts are empty (start = end), and the set still reads
		rm -f "$s/mdf.e1" "$s/mdf.e2" "$s/mdf.e3"
		timeout 60 "$MDF" --split -c -d 1 "$src" "$s/mdf.e1" "$s/mdf.e2" "$s/mdf.e3" >"$s/mdf.e.log" 2>&1
		"$CAP" --progress=off --message-level 4 -f -d 0 "$s/mdf.e2" "$s/mdf.e3" "$s/mdf.e1" "$s/mdf.e.kdump" \
			2>"$s/mdf.e.err"
		rc=$?
		"$CHECK" --pages "$s/mdf.e.kdump" 2>&1 | grep ' data ' >"$s/mdf.e.data"
		if [ $rc -ne 0 ] || ! cmp -s "$s/mdf.e.data" "$s/mdf.whole.kdump.data"; then
			t_fail "split (makedumpfile) with empty parts: exit $rc: $(tail -1 "$s/mdf.e.err")"
		else
			t_ok "split (makedumpfile --split) with empty parts"
		fi
	fi
else
	t_skip "split (makedumpfile)" "makedumpfile not installed"
fi

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
elif ! grep -q '1 unreadable' "$f.err" || ! grep -q 'page 0x120 unreadable' "$f.err" ||
	! grep -q 'lost pages (frames the source was to hold, absent from the output): 0x120$' "$f.err"; then
	t_fail "unreadable page: not reported ($(tail -1 "$f.err"))"
elif ! "$CHECK" --pages "$f" >"$f.pages" || ! grep -q '^pfn 0x120 incomplete$' "$f.pages"; then
	t_fail "unreadable page: output unreadable or page 0x120 not left out"
elif ! "$PY" "$T_HERE/tools/capcheck.py" "$T_OUT/unreadable.pages" - "$f.pages" 0 subset >"$f.check" ||
	[ "$(grep -c ' data ' "$f.pages")" -ne "$(($(grep -c ' data ' "$T_OUT/unreadable.pages") - 1))" ]; then
	t_fail "unreadable page: other pages lost or changed"
else
	t_ok "unreadable page"
fi
# lost pages are listed (summary line; the agent's meta.json: config-test.sh):
# frame ranges in order, the source's cut tail and its undecodable pages
# merged, capped at 32 ranges with the rest counted (tests/fixtures/lost/)
"$PY" "$T_HERE/tools/mkdump.py" "$T_FIX/lost/many.desc" "$T_OUT/lost.src" >/dev/null 2>&1
want="0x100"
for p in $(seq $((0x102)) 2 $((0x12e))) $(seq $((0x138)) 2 $((0x144))); do want+=$(printf ', 0x%x' "$p"); done
want+=", 0x161-0x17e and 11 more frames"
for fmt in kdump elf; do
	f=$T_OUT/lost-$fmt.out
	"$CAP" --progress=off --message-level 6 -f -d 0 $([ $fmt = elf ] && echo -E) "$T_OUT/lost.src" "$f" 2>"$f.err"
	rc=$?
	got=$(sed -n 's/^salvage-capture: lost pages (frames the source was to hold, absent from the output): //p' "$f.err")
	if [ $rc -ne 3 ]; then
		t_fail "lost pages $fmt: exit $rc, expected 3: $(tail -1 "$f.err")"
	elif [ "$got" != "$want" ]; then
		t_fail "lost pages $fmt: listed '$got', expected '$want'"
	elif ! grep -q '30 pages of the source lost (it was cut short), 0 with no machine frame .* and 42 unreadable' "$f.err"; then
		t_fail "lost pages $fmt: counts not reported ($(grep -m1 'pages of the source' "$f.err"))"
	elif ! "$CHECK" --pages "$f" >"$f.pages" 2>&1 || grep -q ' data ' <(grep -E '^pfn 0x(100|144|161|17e) ' "$f.pages"); then
		t_fail "lost pages $fmt: a lost page reads as data in the output"
	else
		t_ok "lost pages $fmt: listed, capped, counted"
	fi
done
t_summary
