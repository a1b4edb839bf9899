#!/bin/bash
# Interop check against Debian's makedumpfile (1.7.2 known to work).
#
#   tests/interop/makedumpfile.sh BUILD_DIR
#
# 1. generates tests/fixtures/mdf-linux.desc (FLATMEM) and mdf-linux-sparse.desc
#    (SPARSEMEM_EXTREME + vmemmap) into BUILD_DIR/interop-mdf/ (ELF
#    vmcore + its expected page listing, from tests/tools/mkdump.py);
# 2. has makedumpfile write kdump-compressed zlib (-c) and lzo (-l) files and
#    flattened (-F -c) streams at dump levels 1 and 31;
# 3. runs `BUILD_DIR/tests/vmcheck --pages OUT` on every output and checks that
#    each page it reports as `data` has the CRC of the same page in the ELF
#    listing; prints data/excluded counts per output.
#
# Stops at the first mismatch or failure (FAIL line with the reason); a
# missing makedumpfile is a skip (a failure under CI).
# Overrides: MAKEDUMPFILE=path, VMCHECK=command (e.g. tests/tools/pagelist.py,
# the generator's own reference lister), PY=/usr/bin/python3.
set -euo pipefail

. "$(dirname "$0")/../lib.sh"
t_init interop-mdf "${1:-}"
t_exit_summary
t_need_makedumpfile
vmcheck=${VMCHECK:-$BUILD/tests/vmcheck}

fail() {
    t_fail "$*"
    t_summary
}

work=$T_OUT
rm -rf "${work:?}"/*

# name | makedumpfile options | output mode (file or stdout)
cases=(
    "zlib-d1|-c -d 1|file"
    "lzo-d1|-l -d 1|file"
    "zlib-d31|-c -d 31|file"
    "lzo-d31|-l -d 31|file"
    "flat-zlib-d1|-F -c -d 1|stdout"
    "flat-zlib-d31|-F -c -d 31|stdout"
)

# compare ELF_LISTING OUT_LISTING -> prints "data N excluded M"; exits 1
# with a one-line reason on the first CRC mismatch or malformed line
compare() {
    "$PY" - "$1" "$2" <<'PYEOF'
import re, sys
line_re = re.compile(r"^pfn (0x[0-9a-f]+)(?:-(0x[0-9a-f]+))? "
                     r"(?:(data) ([0-9a-f]{8})|(hole|excluded|incomplete))$")
def parse(path):
    out = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            m = line_re.match(line.rstrip("\n"))
            if not m:
                print("%s line %d malformed: %r" % (path, n, line[:60]))
                sys.exit(1)
            a = int(m.group(1), 16)
            b = int(m.group(2), 16) if m.group(2) else a
            out.append((a, b, m.group(3) or m.group(5), m.group(4)))
    return out
ref = {a: crc for a, _, st, crc in parse(sys.argv[1]) if st == "data"}
data = excl = 0
for a, b, st, crc in parse(sys.argv[2]):
    if st == "data":
        if a not in ref:
            print("pfn %#x is data in the output but not in the ELF" % a)
            sys.exit(1)
        if ref[a] != crc:
            print("pfn %#x crc %s, ELF has %s" % (a, crc, ref[a]))
            sys.exit(1)
        data += 1
    elif st == "excluded":
        excl += b - a + 1
print("data %d excluded %d" % (data, excl))
PYEOF
}

for fixture in mdf-linux mdf-linux-sparse; do
  elf=$work/$fixture.elf
  ref=$work/$fixture.pages
  timeout 120 "$PY" "$T_HERE/tools/mkdump.py" "$T_HERE/fixtures/$fixture.desc" \
      "$elf" --pages "$ref" || fail "generator failed on $fixture.desc"
  ref_counts=$(awk '$3=="data"{n++} END{print n+0}' "$ref")
  echo "$fixture.elf: $ref_counts data pages ($(stat -c %s "$elf") bytes)"
  # sanity of the synthetic kernel data itself: makedumpfile finds the log
  timeout 60 "$MDF" --dump-dmesg "$elf" "$work/$fixture.dmesg" >"$work/$fixture.dmesg.log" 2>&1 ||
      fail "$fixture: makedumpfile --dump-dmesg failed: $(grep -v '^$' "$work/$fixture.dmesg.log" | tail -n 1)"
  grep -q 'Kernel panic - not syncing: sysrq triggered crash' "$work/$fixture.dmesg" ||
      fail "$fixture: panic message missing from makedumpfile --dump-dmesg output"
  for c in "${cases[@]}"; do
    IFS='|' read -r name opts mode <<<"$c"
    name=$fixture-$name
    out=$work/$name.dump
    log=$work/$name.log
    # shellcheck disable=SC2086  # $opts is a list of options
    if [ "$mode" = stdout ]; then
        timeout 60 "$MDF" $opts "$elf" >"$out" 2>"$log" ||
            fail "$name: makedumpfile $opts failed: $(tail -n 1 "$log")"
    else
        timeout 60 "$MDF" $opts "$elf" "$out" >"$log" 2>&1 ||
            fail "$name: makedumpfile $opts failed: $(grep -v '^$' "$log" | tail -n 1)"
    fi
    timeout 60 "$vmcheck" --pages "$out" >"$work/$name.pages" 2>"$work/$name.vmcheck.err" ||
        fail "$name: $vmcheck --pages failed: $(head -n 1 "$work/$name.vmcheck.err")"
    if ! res=$(compare "$ref" "$work/$name.pages"); then
        fail "$name: $res"
    fi
    read -r _ ndata _ nexcl <<<"$res"
    [ "$ndata" -gt 0 ] || fail "$name: reader reported no data pages"
    case $name in
        *d31) [ "$nexcl" -gt 0 ] || fail "$name: -d 31 excluded nothing" ;;
    esac
    printf '  %-30s %-12s %9d bytes  %s\n' "$name" "$opts" "$(stat -c %s "$out")" "$res"
    t_ok "$name"
  done
done
t_summary
