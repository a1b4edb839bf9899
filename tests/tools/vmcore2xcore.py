#!/usr/bin/python3
"""vmcore2xcore.py VMCORE CORE - write the memory of a real ELF vmcore as a Xen
HVM guest core (`xl dump-core` layout, docs/formats.md §4.9): its RAM
PT_LOADs' pages by pfn in `.xen_pages` with a `.xen_pfn` table, one
vcpu_guest_context per CORE NT_PRSTATUS note, the four `.note.Xen` notes, and
no VMCOREINFO (a guest core has none: the reader must find the kernel's in
its memory).  Written from the format notes, sharing no code with the
reader; used by tests/xen-core-real.sh.
"""
import struct, sys
src, dst = sys.argv[1], sys.argv[2]
f = open(src, "rb")
eh = f.read(64)
phoff, = struct.unpack_from("<Q", eh, 32); phnum, = struct.unpack_from("<H", eh, 56)
f.seek(phoff); ph = f.read(56 * phnum)
loads, notes = [], b""
for i in range(phnum):
    t, fl, off, va, pa, fs, ms, al = struct.unpack_from("<IIQQQQQQ", ph, 56 * i)
    if t == 1 and not (va >= 0xffffffff80000000):
        loads.append((pa, fs, off))
    if t == 4:
        f.seek(off); notes += f.read(fs)
regs = []
o = 0
while o + 12 <= len(notes):
    nsz, dsz, typ = struct.unpack_from("<III", notes, o)
    name = notes[o + 12:o + 12 + nsz].rstrip(b"\0")
    d0 = o + 12 + ((nsz + 3) & ~3)
    if name == b"CORE" and typ == 1:
        regs.append(struct.unpack_from("<27Q", notes, d0 + 112))
    o = d0 + ((dsz + 3) & ~3)
    if nsz == 0 and dsz == 0: break
PR = ["r15","r14","r13","r12","rbp","rbx","r11","r10","r9","r8","rax","rcx","rdx","rsi","rdi","orig_rax","rip","cs","eflags","rsp","ss","fs_base","gs_base","ds","es","fs","gs"]
ctxs = b""
for r in regs:
    d = dict(zip(PR, r)); c = bytearray(5168)
    struct.pack_into("<Q", c, 512, 0x24)
    for i, n in enumerate(PR[:15]): struct.pack_into("<Q", c, 520 + 8 * i, d[n])
    struct.pack_into("<QHxxxxxxQQH", c, 520 + 128, d["rip"], d["cs"], d["eflags"], d["rsp"], d["ss"])
    struct.pack_into("<QQ", c, 5144, d["fs_base"], d["gs_base"])
    ctxs += bytes(c)
pfns = []
for pa, fs, off in loads:
    for p in range(pa // 4096, (pa + fs) // 4096): pfns.append((p, off + (p * 4096 - pa)))
n = len(pfns)
def note(t, desc): return struct.pack("<III", 4, len(desc), t) + b"Xen\0" + desc
nt = note(0x2000000, b"") + note(0x2000001, struct.pack("<QQQQ", 0xF00FEBEE, len(regs), n, 4096)) + \
     note(0x2000002, struct.pack("<QQ", 4, 17) + b".7".ljust(16, b"\0") + bytes(1280 - 32)) + note(0x2000003, struct.pack("<Q", 1))
names = [".shstrtab", ".note.Xen", ".xen_prstatus", ".xen_pages", ".xen_pfn"]
st = b"\0"; no = {}
for x in names: no[x] = len(st); st += x.encode() + b"\0"
off = 64 + 64 * 6
sec = {".note.Xen": (off, len(nt), 7, 0)}; off += len(nt)
sec[".xen_prstatus"] = (off, len(ctxs), 1, 5168); off += len(ctxs)
off = (off + 4095) // 4096 * 4096
sec[".xen_pages"] = (off, n * 4096, 1, 4096); pages_off = off; off += n * 4096
sec[".xen_pfn"] = (off, n * 8, 1, 8); off += n * 8
sec[".shstrtab"] = (off, len(st), 3, 0)
g = open(dst, "wb")
hdr = bytearray(pages_off)
hdr[0:16] = b"\x7fELF\x02\x01\x01" + bytes(9)
struct.pack_into("<HHIQQQIHHHHHH", hdr, 16, 4, 62, 1, 0, 0, 64, 0, 64, 56, 0, 64, 6, 1)
for i, x in enumerate(names):
    o_, s_, t_, e_ = sec[x]
    struct.pack_into("<IIQQQQIIQQ", hdr, 64 + 64 * (i + 1), no[x], t_, 0, 0, o_, s_, 0, 0, 8, e_)
hdr[sec[".note.Xen"][0]:sec[".note.Xen"][0] + len(nt)] = nt
hdr[sec[".xen_prstatus"][0]:sec[".xen_prstatus"][0] + len(ctxs)] = ctxs
g.write(hdr)
for p, o_ in pfns:
    f.seek(o_); g.write(f.read(4096))
g.write(b"".join(struct.pack("<Q", p) for p, _ in pfns)); g.write(st); g.close()
print(n, "pages", len(regs), "vcpus")
