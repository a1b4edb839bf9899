#!/usr/bin/env bash
# Cross-check with an independent reader, libkdumpfile (Debian's
# python3-libkdumpfile): every dump salvage reads must read the same there
# (arch, page size, CPU count, Xen type, saved PC and SP per CPU, every page:
# tests/tools/kdfcheck.py), or salvage must refuse it with a message that
# names the reason.  Zero differences, or the test fails.
#
#   tests/interop/libkdumpfile.sh BUILD            the fixtures and
#       salvage-capture's outputs of them (kdump, -E, -F; -X for Xen ones;
#       and of a makedumpfile --split set, tests/fixtures/split/);
#       FIXTURES="PATTERN..." limits it to the fixtures whose names match
#   tests/interop/libkdumpfile.sh --shard K/N BUILD   the same for every
#       N-th fixture from the K-th (0-based; the split set goes with shard 0):
#       make runs two shards at once, one per CPU
#   tests/interop/libkdumpfile.sh --real BUILD     the real dumps that the
#       QEMU tests (make test-vm) leave in BUILD, and the captures of them
#
# Where libkdumpfile itself cannot read a dump (an architecture it does not
# know, a page size it needs and the dump does not give, a layout it
# misreads: docs/formats.md §6) the case is skipped and says why.
set -uo pipefail
real=0 shard=0 shards=1
if [ "${1:-}" = --real ]; then
	real=1
	shift
elif [ "${1:-}" = --shard ]; then
	shard=${2%/*} shards=${2#*/}
	shift 2
	case $shard/$shards in
	[0-9]/[1-9]) [ "$shard" -lt "$shards" ] || { echo "--shard K/N: K below N" >&2; exit 2; } ;;
	*) echo "--shard K/N: one digit each" >&2; exit 2 ;;
	esac
fi
. "$(dirname "$0")/../lib.sh"
t_init interop-libkdumpfile$([ $real = 1 ] && echo -real)$([ "$shards" -gt 1 ] && echo "-$shard") "${1:-}"
CAP=$BUILD/salvage-capture
CHECK=$BUILD/tests/vmcheck
t_need_built "$CAP" "$CHECK"
t_need_makedumpfile
if ! "$PY" -c 'import kdumpfile' 2>/dev/null; then
	t_skip "libkdumpfile" "python3-libkdumpfile is not installed (make deps)"
	t_summary
fi
rm -rf "${T_OUT:?}"/*

# Known disagreements, each decided from the format (docs/formats.md §6):
# pattern of the case, what kdfcheck leaves out, why.
KNOWN=(
	"quirk-note-align8|cpus|notes aligned to 8 bytes: libkdumpfile 0.5.1 walks them 4-aligned"
	"xen-quirk-notes|cpus|Xen notes aligned to 8 bytes: libkdumpfile 0.5.1 walks them 4-aligned"
	"quirk-overlap-many*|contents|overlapping PT_LOADs with different data: libkdumpfile takes another one than the first"
	"kdump-arm.elf|cpus|ELF64 core of a 32-bit ARM machine: libkdumpfile 0.5.1 finds no CPU in it"
)
known() { # tag -> --ignore options
	local k pat what
	for k in "${KNOWN[@]}"; do
		pat=${k%%|*} what=${k#*|}
		# shellcheck disable=SC2053
		[[ $1 == $pat ]] && printf -- '--ignore %s ' "${what%%|*}"
	done
}

# compare DUMP as salvage and libkdumpfile read it
cross() { # tag dump
	local tag=$1 dump=$2 rc read=$2
	t_timeout 300 "$CHECK" --all "$dump" >"$T_OUT/$tag.vm" 2>"$T_OUT/$tag.vm-err"
	rc=$?
	if [ $rc -ge 124 ]; then
		t_fail "$tag" "vmcheck crashed or hung (exit $rc)"
		return
	fi
	if [ $rc -ne 0 ] && ! grep -q '^pfn ' "$T_OUT/$tag.vm"; then
		# refused: the message must say why, on one line
		if grep -q '^error: ..........' "$T_OUT/$tag.vm"; then
			t_ok "$tag: refused ($(grep -m1 '^error: ' "$T_OUT/$tag.vm" | cut -c8-))"
		else
			t_fail "$tag" "refused without a reason"
		fi
		return
	fi
	if [ "$(head -c 12 "$dump" | tr -d '\0')" = makedumpfile ]; then
		# libkdumpfile 0.5.1 does not read flattened streams: it reads the
		# file makedumpfile -R rebuilds from ours
		read=$T_OUT/$tag.R
		# bounded: makedumpfile 1.7.2 -R spins on a stream cut short
		# (10 minutes of one CPU on bad-flat-truncated before it ends)
		if ! timeout 60 "$MDF" -R "$read" <"$dump" >/dev/null 2>&1; then
			# a stream without its end (salvage reads it as incomplete):
			# there is no second reader to compare with
			if grep -q '^incomplete: yes' "$T_OUT/$tag.vm"; then
				t_skip_ok "$tag" "makedumpfile -R refuses this cut stream and libkdumpfile reads no flattened one"
			else
				t_fail "$tag" "makedumpfile -R cannot rebuild the flattened stream"
			fi
			return
		fi
	fi
	# shellcheck disable=SC2046
	t_timeout 600 "$PY" "$T_HERE/tools/kdfcheck.py" $(known "$tag") "$read" "$T_OUT/$tag.vm" \
		>"$T_OUT/$tag.kdf" 2>&1
	rc=$?
	case $rc in
	0) t_ok "$tag: $(grep '^compared' "$T_OUT/$tag.kdf")" ;;
	1) t_fail "$tag" "differs from libkdumpfile: $(grep -v '^compared\|^note' "$T_OUT/$tag.kdf" | head -5 | tr '\n' ';')" ;;
	3) if [ -n "${OURS:-}" ] && [ "$(head -c 8 "$read" | tr -d '\0')" = "KDUMP   " ] &&
		"$PY" "$T_HERE/tools/pagelist.py" "$read" >"$T_OUT/$tag.second" 2>&1; then
		# salvage-capture's own kdump output that libkdumpfile cannot
		# read (a 32-bit ARM header, §6): every page as the generator's
		# parser, the independent second reader, reads it
		if grep '^pfn ' "$T_OUT/$tag.vm" | cmp -s - "$T_OUT/$tag.second"; then
			t_ok "$tag: $(head -1 "$T_OUT/$tag.kdf"); tests/tools/pagelist.py reads every page the same"
		else
			t_fail "$tag" "libkdumpfile cannot read it and tests/tools/pagelist.py reads it otherwise"
		fi
	   else
		t_skip_ok "$tag" "$(head -1 "$T_OUT/$tag.kdf")"
	   fi ;;
	*) t_skip_ok "$tag" "libkdumpfile crashed on it (exit $rc)" ;;
	esac
}

# salvage-capture's outputs of SRC, each cross-checked
captures() { # tag src [xen]
	local tag=$1 src=$2 xen=${3:-} rc
	for v in "kdump:-d 0" "elf:-E -d 0" "kdump31:-d 31"; do
		local n=${v%%:*} opts=${v#*:}
		t_timeout 300 "$CAP" --progress=off --message-level 4 $opts $xen "$src" "$T_OUT/$tag.$n" \
			>"$T_OUT/$tag.$n.log" 2>&1
		rc=$?
		if [ -n "${CUT:-}" ] && [ $rc != 3 ]; then
			t_fail "$tag.$n" "a capture of a dump cut short exited $rc, not 3 (incomplete)"
		fi
		case $rc in
		0) OURS=1 cross "$tag.$n" "$T_OUT/$tag.$n" ;;
		3) OURS=1 cross "$tag.$n" "$T_OUT/$tag.$n"   # incomplete: marked so
		   grep -q '^incomplete: yes' "$T_OUT/$tag.$n.vm" ||
			t_fail "$tag.$n" "exit 3 but the output is not marked incomplete" ;;
		*) if [ -s "$T_OUT/$tag.$n.log" ]; then
			t_ok "$tag.$n: capture refused ($(tail -1 "$T_OUT/$tag.$n.log"))"
		   else
			t_fail "$tag.$n" "capture failed without a reason (exit $rc)"
		   fi ;;
		esac
	done
	t_timeout 300 "$CAP" --progress=off --message-level 4 -F -d 0 $xen "$src" >"$T_OUT/$tag.flat" \
		2>"$T_OUT/$tag.flat.log"
	rc=$?
	if [ -n "${CUT:-}" ] && [ $rc != 3 ]; then
		t_fail "$tag.flat" "a capture of a dump cut short exited $rc, not 3 (incomplete)"
	fi
	if [ $rc = 0 ] || [ $rc = 3 ]; then
		OURS=1 cross "$tag.flat" "$T_OUT/$tag.flat"
	elif [ -s "$T_OUT/$tag.flat.log" ]; then
		t_ok "$tag.flat: capture refused ($(tail -1 "$T_OUT/$tag.flat.log"))"
	else
		t_fail "$tag.flat" "capture failed without a reason (exit $rc)"
	fi
}

if [ $real = 0 ]; then
	read -ra pats <<<"${FIXTURES:-*}"
	descs=()
	for pat in "${pats[@]}"; do descs+=("$T_FIX"/$pat.desc); done
	[ -f "${descs[0]}" ] || t_fail "fixtures" "none matches '${FIXTURES:-*}'"
	i=-1
	for desc in "${descs[@]}"; do
		[ -f "$desc" ] || continue
		i=$((i + 1))
		[ $((i % shards)) = "$shard" ] || continue
		name=$(basename "$desc" .desc)
		t_mkdump "$name" "$desc" "$T_OUT/$name.dump" || continue
		cross "$name" "$T_OUT/$name.dump"
		# captures of the dumps salvage reads whole, and of those cut
		# short (they must come out marked incomplete, exit 3)
		case $name in
		bad-kdump-cut-*) CUT=1 captures "$name" "$T_OUT/$name.dump"; continue ;;
		bad-*) continue ;;
		# one of each shape is enough for the writers (the kernel-memory
		# fixtures add pages, not shapes: make check's time budget)
		arch-*|kdump-*|elf-*|flat-*|quirk-*|mdf-linux|xen-416-dom0|xen-info72|xen-quirk-notes|xen-p2m-kinds|xcore-quirk-dup) ;;
		*) continue ;;
		esac
		if grep -q '^pfn ' "$T_OUT/$name.vm" 2>/dev/null && ! grep -q '^pfn .* error' "$T_OUT/$name.vm"; then
			if grep -q '^producer: xen' "$T_OUT/$name.vm"; then
				captures "$name" "$T_OUT/$name.dump" -X
			else
				captures "$name" "$T_OUT/$name.dump"
			fi
		fi
	done
	# salvage-capture's outputs of a makedumpfile --split set (all its
	# parts, tests/fixtures/split/), cross-checked as any capture
	if [ -z "${FIXTURES:-}" ] && [ "$shard" = 0 ]; then
		parts=()
		for p in part1 part2 part3; do
			t_mkdump "split-$p" "$T_FIX/split/$p.desc" "$T_OUT/split-$p.kdump" && parts+=("$T_OUT/split-$p.kdump")
		done
		for v in "kdump:-d 0" "elf:-E -d 0" "kdump31:-d 31"; do
			n=${v%%:*}
			# shellcheck disable=SC2086
			t_timeout 300 "$CAP" --progress=off --message-level 4 ${v#*:} "${parts[@]}" \
				"$T_OUT/split-set.$n" >"$T_OUT/split-set.$n.log" 2>&1
			rc=$?
			if [ $rc = 0 ]; then
				OURS=1 cross "split-set.$n" "$T_OUT/split-set.$n"
			else
				t_fail "split-set.$n" "capture from the three parts exited $rc: $(tail -1 "$T_OUT/split-set.$n.log")"
			fi
		done
	fi
else
	found=0
	for dump in "$BUILD/vm-disk/dump/vmcore" "$BUILD/vm-xen/vmcore.kdump" "$BUILD/vm-xen/vmcore.raw"; do
		[ -f "$dump" ] || continue
		found=1
		tag=real-$(basename "$(dirname "$dump")")-$(basename "$dump")
		cross "$tag" "$dump"
		case $dump in
		*vm-xen*) captures "$tag" "$dump" -X ;;
		*) captures "$tag" "$dump" ;;
		esac
	done
	[ $found = 1 ] || t_skip "real dumps" "none in $BUILD (make test-vm makes them)"
fi
t_summary
