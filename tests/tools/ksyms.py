"""ksyms.py - the kernel's kallsyms tables, built the way scripts/kallsyms.c
lays them out, for the analyzer fixtures (ktask.py).

Written from the kernel's format (kernel/kallsyms.c, scripts/kallsyms.c of
6.1-6.12), not from the reader:

* names: per symbol the type letter followed by the name, compressed into
  token indexes (bytes); a table of 256 tokens holds the expansion of every
  index.  Tokens are made by repeatedly merging the most frequent adjacent
  pair into a byte value no symbol uses, so tokens expand to tokens.
* each compressed name is preceded by its length; since 6.1 (commit
  73bbb94466fd) a length of 0x80 or more takes two bytes, ULEB128.
* kallsyms_offsets: s32 per symbol with kallsyms_relative_base:
  percpu="absolute" (CONFIG_KALLSYMS_ABSOLUTE_PERCPU, x86_64 SMP up to
  6.14): per-cpu symbols keep their absolute value (>= 0), the others are
  stored as base - 1 - address (< 0); percpu="relative": address - base.
"""

import struct


def compress(strings, merges=80):
    """Token-compress byte strings; returns (token_table list of 256 bytes
    objects, list of compressed index sequences)."""
    seqs = [list(s) for s in strings]
    used = set(b for s in strings for b in s)
    table = [bytes([i]) if i in used else None for i in range(256)]
    free = [i for i in range(256) if i not in used]
    for _ in range(merges):
        if not free:
            break
        count = {}
        for s in seqs:
            for a, b in zip(s, s[1:]):
                count[(a, b)] = count.get((a, b), 0) + 1
        if not count:
            break
        pair, n = max(count.items(), key=lambda kv: (kv[1], kv[0]))
        if n < 2:
            break
        slot = free.pop(0)
        table[slot] = table[pair[0]] + table[pair[1]]
        for k, s in enumerate(seqs):
            out, i = [], 0
            while i < len(s):
                if i + 1 < len(s) and (s[i], s[i + 1]) == pair:
                    out.append(slot)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            seqs[k] = out
    table = [t if t is not None else b"" for t in table]
    return table, seqs


def encode_len(n):
    if n < 0x80:
        return bytes([n])
    if n >= 0x4000:
        raise ValueError("symbol too long")
    return bytes([(n & 0x7F) | 0x80, n >> 7])


class Tables:
    """The blobs and their offsets relative to the area start."""

    def __init__(self, syms, percpu="absolute"):
        # syms: list of (name, type letter, address, is_percpu)
        syms = sorted(syms, key=lambda s: (s[2], s[0]))
        self.syms = syms
        table, seqs = compress([(t + n).encode() for n, t, _, _ in syms])
        names = bytearray()
        for s in seqs:
            names += encode_len(len(s)) + bytes(s)
        self.big = sum(1 for s in seqs if len(s) >= 0x80)
        tt = bytearray()
        index = []
        for t in table:
            index.append(len(tt))
            tt += t + b"\0"
        normal = [a for _, _, a, pc in syms if not pc]
        base = min(normal)
        offs = []
        for _, _, a, pc in syms:
            if percpu == "absolute":
                v = a if pc else base - 1 - a
            else:
                v = a - base
                if v >= 1 << 31:
                    v -= 1 << 32
            if not -(1 << 31) <= v < (1 << 31):
                raise ValueError("symbol 0x%x out of s32 range" % a)
            offs.append(v)
        self.base = base
        self.blobs = {
            "kallsyms_offsets": struct.pack("<%di" % len(offs), *offs),
            "kallsyms_relative_base": struct.pack("<Q", base),
            "kallsyms_num_syms": struct.pack("<I", len(syms)),
            "kallsyms_names": bytes(names),
            "kallsyms_token_table": bytes(tt),
            "kallsyms_token_index": struct.pack("<256H", *index),
        }

    def place(self, start):
        """Lay the tables out from virtual address start in 6.1's order;
        returns ({name: address}, bytes)."""
        out = bytearray()
        addrs = {}
        for name in ("kallsyms_offsets", "kallsyms_relative_base",
                     "kallsyms_num_syms", "kallsyms_names",
                     "kallsyms_token_table", "kallsyms_token_index"):
            while len(out) % 8:
                out += b"\0"
            addrs[name] = start + len(out)
            out += self.blobs[name]
        return addrs, bytes(out)

    def listing(self):
        """What `salvage sym DUMP` must print: 'ADDR TYPE NAME', by
        address then name."""
        return ["%016x %s %s" % (a & (2**64 - 1), t, n)
                for n, t, a, _ in self.syms]
