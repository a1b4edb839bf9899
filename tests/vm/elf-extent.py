#!/usr/bin/python3
"""Print the byte extent of an ELF core file stored at the start of FILE.

The extent is the largest of: the end of the ELF header, the end of the
program header table, and max(p_offset + p_filesz) over all program headers.
Used to cut a raw disk image that received /proc/vmcore down to the vmcore.

usage: elf-extent.py FILE            prints the extent in bytes
       elf-extent.py -v FILE         also prints a summary on stderr

Handles ELF32/ELF64, both byte orders and PN_XNUM (e_phnum in section 0).
Standard library only (run with Debian's /usr/bin/python3).
"""
import struct
import sys

PT_NAMES = {0: "NULL", 1: "LOAD", 4: "NOTE"}


def extent(path, verbose=False):
    with open(path, "rb") as f:
        ident = f.read(16)
        if len(ident) < 16 or ident[:4] != b"\x7fELF":
            raise SystemExit("elf-extent: %s: no ELF header (capture failed?)" % path)
        cls, data = ident[4], ident[5]
        if cls not in (1, 2) or data not in (1, 2):
            raise SystemExit("elf-extent: %s: bad EI_CLASS/EI_DATA" % path)
        bo = "<" if data == 1 else ">"
        is64 = cls == 2
        if is64:
            ehdr_fmt = bo + "HHIQQQIHHHHHH"
        else:
            ehdr_fmt = bo + "HHIIIIIHHHHHH"
        raw = f.read(struct.calcsize(ehdr_fmt))
        (e_type, e_machine, _ver, _entry, e_phoff, e_shoff, _flags, e_ehsize,
         e_phentsize, e_phnum, e_shentsize, _shnum, _shstrndx) = struct.unpack(ehdr_fmt, raw)
        if e_type != 4:
            print("elf-extent: warning: e_type %d is not ET_CORE" % e_type, file=sys.stderr)
        if e_phnum == 0xFFFF:  # PN_XNUM: real count in section header 0's sh_info
            f.seek(e_shoff)
            sh = f.read(e_shentsize)
            e_phnum = struct.unpack_from(bo + ("I" if is64 else "I"), sh, 44 if is64 else 28)[0]
        end = max(e_ehsize, e_phoff + e_phnum * e_phentsize)
        counts = {}
        f.seek(e_phoff)
        for _ in range(e_phnum):
            ph = f.read(e_phentsize)
            if len(ph) < e_phentsize:
                raise SystemExit("elf-extent: %s: truncated program headers" % path)
            if is64:
                p_type, _pf, p_offset, _va, _pa, p_filesz = struct.unpack_from(bo + "IIQQQQ", ph)
            else:
                p_type, p_offset, _va, _pa, p_filesz = struct.unpack_from(bo + "IIIII", ph)
            end = max(end, p_offset + p_filesz)
            name = PT_NAMES.get(p_type, hex(p_type))
            counts[name] = counts.get(name, 0) + 1
        if verbose:
            print("elf-extent: ELF%d machine=%d phnum=%d %s extent=%d" % (
                64 if is64 else 32, e_machine, e_phnum,
                " ".join("%s=%d" % kv for kv in sorted(counts.items())), end),
                file=sys.stderr)
        return end


def main(argv):
    args = argv[1:]
    verbose = False
    if args and args[0] == "-v":
        verbose = True
        args = args[1:]
    if len(args) != 1:
        raise SystemExit(__doc__)
    print(extent(args[0], verbose))


if __name__ == "__main__":
    main(sys.argv)
