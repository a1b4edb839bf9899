#!/usr/bin/python3
"""capcheck.py - check one salvage-capture output against what its dump level
should keep.  Independent of the C reader's logic: it compares listings.

  capcheck.py SOURCE_PAGES CLASSES OUTPUT_PAGES LEVEL FORMAT

SOURCE_PAGES: the generator's --pages listing of the source dump.
CLASSES: the generator's --classes listing (pfn ranges with a class), or '-'
  when the source has no kernel memory model (nothing but zero pages can go).
OUTPUT_PAGES: `vmcheck --pages` of the capture output.
FORMAT: kdump or elf; or subset (a partial dump: only check that every page
  it holds equals the source's).

Rules (makedumpfile's, docs/formats.md §3.1-3.2): level bits 2/4/8/16 exclude
cache / all cache / user / free pages; hwpoison and offline pages go whenever
classification runs (any of those bits); zero pages (bit 1) stay in kdump output
as the shared zero page but leave ELF output.  Every page the output holds must
equal the source's page; every page the level keeps must be there.  ELF output
may also hold excluded pages inside gaps shorter than 256 frames (written with
their real content, as makedumpfile -E does).
"""
import re
import sys
import zlib

ZERO_CRC = "%08x" % zlib.crc32(bytes(4096))


def listing(path):
    """pfn -> (state, crc or None)"""
    out = {}
    for line in open(path):
        m = re.match(r"pfn (0x[0-9a-f]+)(?:-(0x[0-9a-f]+))? (\w+)(?: ([0-9a-f]{8}))?$", line.strip())
        if not m:
            if line.startswith("pfn "):
                sys.exit("capcheck: cannot parse %r" % line)
            continue
        a = int(m.group(1), 16)
        b = int(m.group(2), 16) if m.group(2) else a
        for p in range(a, b + 1):
            out[p] = (m.group(3), m.group(4))
    return out


def classes(path):
    out = {}
    if path == "-":
        return out
    for line in open(path):
        m = re.match(r"pfn (0x[0-9a-f]+)(?:-(0x[0-9a-f]+))? (\w+)$", line.strip())
        if m:
            a = int(m.group(1), 16)
            b = int(m.group(2), 16) if m.group(2) else a
            for p in range(a, b + 1):
                out[p] = m.group(3)
    return out


def excluded(level, cls):
    if not level & 30:
        return False
    return ((level & 2 and cls == "cache") or
            (level & 4 and cls in ("cache", "cache_private")) or
            (level & 8 and cls == "user") or
            (level & 16 and cls == "free") or
            cls in ("hwpoison", "offline"))


def main():
    src, cls, out = listing(sys.argv[1]), classes(sys.argv[2]), listing(sys.argv[3])
    level, fmt = int(sys.argv[4]), sys.argv[5]
    errors, kept, dropped, filled = [], 0, 0, 0
    for p in sorted(set(src) | set(out)):
        s_state, s_crc = src.get(p, ("hole", None))
        o_state, o_crc = out.get(p, ("hole", None))
        if o_state == "data" and (s_state != "data" or o_crc != s_crc):
            errors.append("pfn %#x: output page differs from the source (%s %s vs %s %s)"
                          % (p, o_state, o_crc, s_state, s_crc))
            continue
        if s_state != "data" or fmt == "subset":
            kept += o_state == "data"
            continue
        gone = excluded(level, cls.get(p, "keep"))
        if fmt == "elf" and level & 1 and s_crc == ZERO_CRC:
            gone = True
        if gone and o_state == "data":
            if fmt == "elf":
                filled += 1
                continue
            errors.append("pfn %#x: class %s should be excluded at level %d"
                          % (p, cls.get(p, "keep"), level))
        elif not gone and o_state != "data":
            errors.append("pfn %#x: class %s should be kept at level %d, output says %s"
                          % (p, cls.get(p, "keep"), level, o_state))
        elif gone:
            dropped += 1
        else:
            kept += 1
    if errors:
        for e in errors[:10]:
            print("capcheck: " + e)
        print("capcheck: %d errors (%d more not shown)" % (len(errors), max(0, len(errors) - 10)))
        sys.exit(1)
    print("kept %d dropped %d filled %d" % (kept, dropped, filled))


if __name__ == "__main__":
    main()
