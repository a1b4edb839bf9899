"""korc.py - the kernel's ORC unwind tables (.orc_unwind_ip, .orc_unwind),
for the analyzer fixtures (ktask.py).  Written from
arch/x86/include/asm/orc_types.h:

    struct orc_entry { s16 sp_offset; s16 bp_offset;
                       sp_reg:4 bp_reg:4 then
                       up to 6.2:  type:2 (CALL 0, REGS 1, REGS_PARTIAL 2) end:1
                       6.4+:       type:3 (UNDEFINED 0, END_OF_STACK 1, CALL 2,
                                           REGS 3, REGS_PARTIAL 4) signal:1 }

.orc_unwind_ip holds one s32 per entry, relative to its own address, sorted
by address; an entry covers addresses up to the next one.
"""

import struct

REG = {"undef": 0, "prev_sp": 1, "dx": 2, "di": 3, "bp": 4, "sp": 5,
       "r10": 6, "r13": 7, "bp_ind": 8, "sp_ind": 9}
NEW_TYPE = {"undefined": 0, "end": 1, "call": 2, "regs": 3, "partial": 4}
OLD_TYPE = {"call": 0, "regs": 1, "partial": 2}


def encode(entry, layout):
    """entry: dict(type=, sp_reg=, sp=, bp_reg=, bp=)"""
    t = entry["type"]
    sp_reg, bp_reg = REG[entry.get("sp_reg", "undef")], \
        REG[entry.get("bp_reg", "undef")]
    bits = sp_reg | bp_reg << 4
    if layout == "new":
        bits |= NEW_TYPE[t] << 8
    elif t == "end":
        bits |= 1 << 10                     # end:1, type CALL
    elif t == "undefined":
        bits = 0                            # the old null entry
    else:
        bits |= OLD_TYPE[t] << 8
    return struct.pack("<hhH", entry.get("sp", 0), entry.get("bp", 0), bits)


def tables(entries, ip_table_addr, layout):
    """entries: list of (address, entry dict); returns (ip blob, orc blob)
    sorted by address."""
    entries = sorted(entries, key=lambda e: e[0])
    ips = bytearray()
    orcs = bytearray()
    for i, (addr, e) in enumerate(entries):
        rel = addr - (ip_table_addr + 4 * i)
        if not -(1 << 31) <= rel < (1 << 31):
            raise ValueError("ORC ip out of range")
        ips += struct.pack("<i", rel)
        orcs += encode(e, layout)
    return bytes(ips), bytes(orcs)
