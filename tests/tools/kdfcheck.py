#!/usr/bin/python3
"""kdfcheck.py - compare what salvage read from a dump with what libkdumpfile
(Debian's python3-libkdumpfile) reads from it.

Usage: kdfcheck.py [--ignore cpus|contents] DUMP VMCHECK_OUTPUT

VMCHECK_OUTPUT is `vmcheck --all DUMP` (tests/unit/vmcheck.c).  Compared:
arch, page size, CPU count, Xen type, the saved program counter and stack
pointer of each CPU, and every page: a page salvage reads must read the same
in libkdumpfile (zlib CRC32 of the page), a page salvage does not have
(hole, excluded, incomplete, error) must not read in libkdumpfile either.

--ignore names a known disagreement where libkdumpfile misreads what salvage
reads by the format (docs/formats.md §6), for the dumps the caller lists:
`cpus` leaves out CPU count, registers and Xen type (notes it cannot walk),
`contents` compares which pages are present but not their bytes (PT_LOADs
that overlap with different data: the first in header order holds).

Exit 0: no difference.  Exit 1: differences, one line each on stdout.
Exit 3: libkdumpfile cannot read the dump (the reason on stdout).
Each check is run in its own process by tests/interop/libkdumpfile.sh: a
dump libkdumpfile does not understand may crash it.
"""

import bisect
import sys
import zlib

import kdumpfile

# salvage's architecture names -> libkdumpfile's arch.name
ARCH = {"x86_64": "x86_64", "aarch64": "aarch64", "ppc64le": "ppc64",
        "i386": "ia32", "arm": "arm", "riscv64": "riscv64"}
# the register names each reader uses for the program counter and stack pointer
PC = ("rip", "pc", "eip", "nip", "r15")
SP = ("rsp", "sp", "esp", "r1", "r13")


def parse_vmcheck(path):
    facts = {"cpus": [], "pages": {}, "p2m": [], "mruns": []}
    for line in open(path, encoding="utf-8", errors="replace"):
        line = line.rstrip("\n")
        key, _, val = line.partition(": ")
        if key in ("format", "producer", "arch", "page_size", "max_pfn"):
            facts[key] = val
        elif key.startswith("cpu ") and key[4:].isdigit():
            toks = val.split()
            # pid N saved|empty NAME VALUE ... (or "registers not decoded")
            regs = dict(zip(toks[3::2], toks[4::2]))
            facts["cpus"].append({
                "saved": toks[2] == "saved",
                "decoded": "not" not in toks,
                "pc": next((int(regs[n], 16) for n in PC if n in regs), None),
                "sp": next((int(regs[n], 16) for n in SP if n in regs), None)})
        elif line.startswith("xen-core p2m: pfn "):
            # a Xen guest core's pfn -> machine frame (vmcheck prints some)
            toks = line.split()
            facts["p2m"].append((int(toks[3], 16), int(toks[6], 16)))
        elif line.startswith("machine run: pfn "):
            # a PV guest's dump by machine frame: pfn -> the file's frame
            toks = line.split()
            facts["mruns"].append((int(toks[3], 16), int(toks[5], 16), int(toks[7])))
        elif line.startswith("pfn "):
            toks = line.split()
            rng = toks[1].split("-")
            lo = int(rng[0], 16)
            hi = int(rng[-1], 16)
            state = toks[2].rstrip(":")
            for p in range(lo, hi + 1):
                facts["pages"][p] = (state, toks[3] if state == "data" else None)
    return facts


def attr(ctx, key):
    try:
        return ctx.attr[key]
    except (KeyError, kdumpfile.exceptions.KDumpBaseException):
        return None


def main():
    args = sys.argv[1:]
    ignore = set()
    while args and args[0] == "--ignore":
        ignore.add(args[1])
        args = args[2:]
    dump, vmout = args[0], args[1]
    s = parse_vmcheck(vmout)
    try:
        k = kdumpfile.kdumpfile(dump)
    except Exception as e:     # any refusal: there is nothing to compare
        print("libkdumpfile cannot open it: %s" % e)
        return 3
    diffs = []

    def diff(what, ours, theirs):
        diffs.append("%s: salvage %s, libkdumpfile %s" % (what, ours, theirs))

    arch = attr(k, "arch.name")
    if arch is None:
        print("libkdumpfile does not know the architecture")
        return 3
    if ARCH.get(s.get("arch"), s.get("arch")) != arch:
        diff("arch", s.get("arch"), arch)
    ps = attr(k, "arch.page_size")
    if s.get("page_size", "").startswith("unknown"):
        unit = 4096
        if ps is not None:
            # salvage does not guess; libkdumpfile may: not a difference,
            # but said
            print("note: page size unknown to salvage, libkdumpfile says %s" % ps)
    else:
        unit = int(s.get("page_size", "0"))
        if ps != unit:
            diff("page size", unit, ps)
    if attr(k, "max_pfn") == 0:
        print("libkdumpfile reads max_pfn 0: it cannot address any page")
        return 3
    ncpu = attr(k, "cpu.number") or 0
    if "cpus" in ignore:
        print("note: CPUs and Xen type not compared (known disagreement)")
        s["cpus"] = []
        ncpu = 0
        s["producer"] = "xen" if attr(k, "xen.type") == 1 else ""
    if ncpu != len(s["cpus"]):
        diff("cpu count", len(s["cpus"]), ncpu)
    xen = attr(k, "xen.type")
    xcore = s.get("format") == "xen-core"
    ours_xen = "system" if s.get("producer") == "xen" else "domain" if xcore else "none"
    theirs_xen = {None: "none", 0: "none", 1: "system", 2: "domain"}.get(xen, str(xen))
    # a PV guest's dump by machine frame (docs/formats.md §4.9) carries a
    # Xen CRASH_INFO note for crash(8), which libkdumpfile takes for a Xen
    # host's dump; salvage reads it as the guest's (its SALVAGE_P2M note)
    mruns = sorted(s["mruns"])
    if mruns and ours_xen == "none" and theirs_xen == "system":
        print("note: a PV guest's dump by machine frame: libkdumpfile reads it as a Xen host's")
    elif ours_xen != theirs_xen:
        diff("xen type", ours_xen, theirs_xen)

    def file_frame(pfn):
        # the file's own frame of pfn: itself, or its machine frame
        if not mruns:
            return pfn
        i = bisect.bisect_right(mruns, (pfn, float("inf"), 0)) - 1
        if i >= 0 and mruns[i][0] <= pfn < mruns[i][0] + mruns[i][2]:
            return mruns[i][1] + pfn - mruns[i][0]
        return None
    for i, c in enumerate(s["cpus"][:ncpu]):
        try:
            regs = dict(k.attr["cpu"][str(i)]["reg"])
        except Exception:
            regs = {}
        if not c["decoded"]:
            if regs:
                diff("cpu %d registers" % i, "not decoded", "decoded")
            continue
        for what, names in (("pc", PC), ("sp", SP)):
            theirs = next((regs[n] for n in names if n in regs), None)
            if theirs is not None and theirs != c[what]:
                diff("cpu %d %s" % (i, what), hex(c[what]), hex(theirs))
            elif theirs is None:
                diff("cpu %d %s" % (i, what), hex(c[what]), "absent")
    bad_pages = refused = before_load = 0
    zero = bytes(unit)
    for pfn in sorted(s["pages"]):
        state, crc = s["pages"][pfn]
        try:
            # a guest core is addressed by the guest's pfn: libkdumpfile's
            # kernel-physical space (its machine space is the gmfns)
            frame = file_frame(pfn)
            if frame is None:
                raise LookupError("no machine frame in salvage's runs")
            data = k.read(kdumpfile.KDUMP_KPHYSADDR if xcore else kdumpfile.KDUMP_MACHPHYSADDR,
                          frame * unit, unit)
            theirs = "%08x" % zlib.crc32(data)
        except Exception as e:
            data, theirs = None, "no page (%s)" % str(e).splitlines()[0][:60]
        if state == "data":
            if data is not None and "contents" in ignore:
                continue
            if data is None or theirs != crc:
                bad_pages += 1
                if bad_pages <= 10:
                    diff("pfn 0x%x" % pfn, "data " + crc, theirs)
        elif data is not None and state in ("incomplete", "error"):
            # salvage refuses the page and says why (data past the end of
            # the file, undecodable); libkdumpfile returns what its mapping
            # of the file gives there
            refused += 1
        elif (data == zero and s["pages"].get(pfn + 1, ("hole",))[0] != "hole"
              and s["format"].startswith("elf")):
            # libkdumpfile 0.5.1 returns a page of zeros for the page just
            # below a PT_LOAD that starts on a page boundary; no PT_LOAD
            # holds it (docs/formats.md §6)
            before_load += 1
        elif data is not None:
            bad_pages += 1
            if bad_pages <= 10:
                diff("pfn 0x%x" % pfn, state, "data " + theirs)
    if bad_pages > 10:
        diffs.append("... %d pages differ in all" % bad_pages)
    for pfn, mfn in s["p2m"]:
        # the same page through libkdumpfile's machine space
        if s["pages"].get(pfn, (None,))[0] != "data":
            continue
        try:
            theirs = "%08x" % zlib.crc32(k.read(kdumpfile.KDUMP_MACHPHYSADDR, mfn * unit, unit))
        except Exception as e:
            theirs = "no page (%s)" % str(e).splitlines()[0][:60]
        ours = s["pages"].get(pfn, (None, None))[1]
        if theirs != ours:
            diff("pfn 0x%x = mfn 0x%x" % (pfn, mfn), ours, theirs)
    for line in diffs:
        print(line)
    if refused:
        print("note: %d pages salvage refuses by name, libkdumpfile returns" % refused)
    if before_load:
        print("note: %d pages just below a PT_LOAD read as zeros by libkdumpfile" % before_load)
    print("compared: arch %s, page size %s, %d cpus, xen %s, %d pages" %
          (arch, unit, len(s["cpus"]), ours_xen, len(s["pages"])))
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
