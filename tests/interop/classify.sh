#!/bin/bash
# Page classification cross-check against Debian's makedumpfile (1.7.2, the
# oracle for Linux <= 6.1).
#
#   tests/interop/classify.sh BUILD_DIR
#
# For each dump, makedumpfile writes kdump files at dump levels 0, 2, 4, 8, 16
# and 31 (-l, LZO); BUILD_DIR/tests/vmcheck --pages lists what each kept
# (`data`) and dropped (`excluded`).  The frames makedumpfile keeps at level L
# must be exactly the RAM frames minus those our classification drops at
# level L (BUILD_DIR/tests/mmcheck --level L; hwpoison and offline frames at
# every level) minus the frames the input has no data for, which makedumpfile
# drops whatever the level (exclude_nodata_pages: from the end of each
# PT_LOAD's file data rounded down, e.g. the partial page of a RAM range
# ending at 0x9fc00; or the frames a kdump input already left out).  Zero
# pages stay as data in kdump output, so the zero-page bit plays no part.
#
# Dumps: the generated ELF vmcores of tests/fixtures/mdf-linux.desc (FLATMEM)
# and mdf-linux-sparse.desc (SPARSEMEM_EXTREME + vmemmap), and every
# tests/fixtures/mm-*.desc marked "# interop: makedumpfile" (5-level paging,
# KASLR direct map, hugetlb, hwpoison, offline, kdump input ...); always run.
# Then the real vmcores of tests/vm, when present (they are not committed):
# /var/cache/salvage/vmcore-{default,no-la57,smp2}/vmcore (Debian 6.1) are
# compared the same way; vmcore-6.12 (which makedumpfile 1.7.2 does not
# understand) gets our counts and classification time, and our free-page count
# is checked against the kernel's own NR_FREE_PAGES counters (within 0.5%, as
# those miss per-CPU deltas).  Missing ones are skipped with a notice.
#
# Stops at the first difference or failure (FAIL line with the reason); a
# missing makedumpfile is a skip (a failure under CI).
# Overrides: MAKEDUMPFILE=path, PY=/usr/bin/python3,
# VMCORE_DIR=/var/cache/salvage.
set -euo pipefail

. "$(dirname "$0")/../lib.sh"
t_init interop-classify "${1:-}"
t_exit_summary
vmdir=${VMCORE_DIR:-/var/cache/salvage}
t_need_makedumpfile
vmcheck=$BUILD/tests/vmcheck
mmcheck=$BUILD/tests/mmcheck
t_need_built "$vmcheck" "$mmcheck"
levels=(0 2 4 8 16 31)

fail() {
    t_fail "$*"
    t_summary
}

work=$T_OUT
rm -rf "${work:?}"/*

# compare NAME DIR DUMP: DIR/mdf-L.pages (vmcheck listings of makedumpfile's
# outputs), DIR/ours-L.excl (mmcheck --level L) and DIR/input.pages (kdump
# input only); prints one line per level
compare() {
    "$PY" - "$1" "$2" "$3" "${levels[@]}" <<'PYEOF'
import re, struct, sys
name, d, dump = sys.argv[1], sys.argv[2], sys.argv[3]
levels = [int(x) for x in sys.argv[4:]]
page_re = re.compile(r"^pfn (0x[0-9a-f]+)(?:-(0x[0-9a-f]+))? "
                     r"(?:(data) [0-9a-f]{8}|(hole|excluded|incomplete))$")
run_re = re.compile(r"^pfn (0x[0-9a-f]+)-(0x[0-9a-f]+)$")

def runs(path, rx, want):
    out = set()
    with open(path) as f:
        for n, line in enumerate(f, 1):
            m = rx.match(line.rstrip("\n"))
            if not m:
                sys.exit("%s line %d malformed: %r" % (path, n, line[:60]))
            st = m.group(3) or m.group(4) if rx is page_re else None
            if want is not None and st not in want:
                continue
            a = int(m.group(1), 16)
            b = int(m.group(2), 16) if m.group(2) else a
            out.update(range(a, b + 1))
    return out

# frames makedumpfile drops whatever the level because the input has no data
# for them: ELF, exclude_nodata_pages(): [rounddown(paddr + filesz),
# roundup(paddr + memsz)) of every PT_LOAD; kdump input: its excluded frames
nodata = set()
with open(dump, "rb") as f:
    eh = f.read(64)
    if eh[:4] == b"\x7fELF":
        phoff, = struct.unpack_from("<Q", eh, 32)
        phentsize, phnum = struct.unpack_from("<HH", eh, 54)
        f.seek(phoff)
        ph = f.read(phentsize * phnum)
        for i in range(phnum):
            typ, _, _, _, paddr, filesz, memsz, _ = struct.unpack_from(
                "<IIQQQQQQ", ph, i * phentsize)
            if typ == 1:
                nodata.update(range((paddr + filesz) // 4096,
                                    (paddr + memsz + 4095) // 4096))
    else:
        nodata = runs("%s/input.pages" % d, page_re, ("excluded",))

ram = runs("%s/mdf-0.pages" % d, page_re, ("data", "excluded")) - nodata
if not ram:
    sys.exit("%s: no frames to compare" % name)
bad = False
for lv in levels:
    kept = runs("%s/mdf-%d.pages" % (d, lv), page_re, ("data",))
    ours = runs("%s/ours-%d.excl" % (d, lv), run_re, None)
    if kept - ram:
        sys.exit("%s -d %d: makedumpfile keeps frames without data: %s"
                 % (name, lv, sorted(kept - ram)[:5]))
    ours_kept = ram - ours
    same = ours_kept == kept
    print("  %-20s -d %-2d  makedumpfile keeps %7d drops %7d   salvage keeps %7d drops %7d   %s"
          % (name, lv, len(kept), len(ram - kept), len(ours_kept),
             len(ram - ours_kept), "identical" if same else "DIFFERENT"))
    if not same:
        bad = True
        only_mdf = sorted(kept - ours_kept)
        only_ours = sorted(ours_kept - kept)
        print("    kept only by makedumpfile: %d %s" % (len(only_mdf),
              " ".join("%#x" % p for p in only_mdf[:8])))
        print("    kept only by salvage:      %d %s" % (len(only_ours),
              " ".join("%#x" % p for p in only_ours[:8])))
sys.exit(1 if bad else 0)
PYEOF
}

# check NAME DUMP: run makedumpfile at every level and compare
check() {
    local name=$1 dump=$2 dir=$work/$1
    mkdir -p "$dir"
    for lv in "${levels[@]}"; do
        local out=$dir/mdf-$lv.kdump
        timeout 600 "$MDF" -l -d "$lv" "$dump" "$out" >"$dir/mdf-$lv.log" 2>&1 ||
            fail "$name: makedumpfile -d $lv failed: $(grep -v '^$' "$dir/mdf-$lv.log" | tail -n 1)"
        timeout 600 "$vmcheck" --pages "$out" >"$dir/mdf-$lv.pages" 2>"$dir/mdf-$lv.err" ||
            fail "$name: $vmcheck --pages on makedumpfile -d $lv output failed: $(head -n 1 "$dir/mdf-$lv.err")"
        rm -f "$out"
        timeout 600 "$mmcheck" --level "$lv" "$dump" >"$dir/ours-$lv.excl" 2>"$dir/ours-$lv.err" ||
            fail "$name: mmcheck --level $lv failed: $(head -n 1 "$dir/ours-$lv.excl")"
    done
    if ! head -c 4 "$dump" | grep -q ELF; then
        timeout 600 "$vmcheck" --pages "$dump" >"$dir/input.pages" 2>/dev/null ||
            fail "$name: $vmcheck --pages on the input failed"
    fi
    compare "$name" "$dir" "$dump" || fail "$name: classification differs from makedumpfile's (above)"
    t_ok "$name"
}

echo "classify interop: $("$MDF" -v 2>&1 | head -n 1 || true)"
fixtures=(mdf-linux mdf-linux-sparse)
for desc in "$T_FIX"/mm-*.desc; do
    grep -q '^# interop: makedumpfile' "$desc" && fixtures+=("$(basename "$desc" .desc)")
done
for fx in "${fixtures[@]}"; do
    dump=$work/$fx.dump
    timeout 120 "$PY" "$T_HERE/tools/mkdump.py" "$T_HERE/fixtures/$fx.desc" "$dump" ||
        fail "generator failed on $fx.desc"
    check "$fx" "$dump"
done

for vm in default no-la57 smp2; do
    dump=$vmdir/vmcore-$vm/vmcore
    if [ ! -r "$dump" ]; then
        t_skip_ok "vmcore-$vm" "$dump not present (made by tests/vm/make-vmcore.sh)"
        continue
    fi
    check "vmcore-$vm" "$dump"
    "$mmcheck" --counts --time "$dump" 2>&1 >/dev/null | sed "s/^/  vmcore-$vm: /"
done
dump=$vmdir/vmcore-6.12/vmcore
if [ -r "$dump" ]; then
    "$mmcheck" --counts --time "$dump" >"$work/vmcore-6.12.counts" 2>"$work/vmcore-6.12.time" ||
        fail "vmcore-6.12: mmcheck failed: $(head -n 1 "$work/vmcore-6.12.counts")"
    echo "  vmcore-6.12 (no makedumpfile comparison, 1.7.2 does not know 6.12): $(tr '\n' ' ' <"$work/vmcore-6.12.time")"
    grep -v ': 0$' "$work/vmcore-6.12.counts" | sed 's/^/    /'
    # the one oracle left: the kernel's NR_FREE_PAGES counters (exact but for
    # per-CPU deltas not yet folded in; 9 pages on the 2-CPU 6.1 dump)
    read -r _ kfree _ ofree < <("$mmcheck" --nr-free "$dump") ||
        fail "vmcore-6.12: mmcheck --nr-free failed"
    echo "    kernel NR_FREE_PAGES counters: $kfree, salvage free pages: $ofree"
    diff=$((kfree > ofree ? kfree - ofree : ofree - kfree))
    [ $((diff * 200)) -le "$kfree" ] ||
        fail "vmcore-6.12: free pages $ofree differ from the kernel's NR_FREE_PAGES $kfree by more than 0.5%"
    t_ok "vmcore-6.12 free pages"
else
    t_skip_ok vmcore-6.12 "$dump not present"
fi
t_summary
