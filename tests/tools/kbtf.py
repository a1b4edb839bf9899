"""kbtf.py - a small kernel BTF blob (the .BTF section between __start_BTF
and __stop_BTF) describing the structs the analyzer reads, at offsets the
fixture chooses.  Written from the BTF format (Documentation/bpf/btf.rst):
a 24-byte header (magic 0xeB9F, version 1), then the type section (ids from
1; struct btf_type {name_off, info, size|type} plus kind data), then the
string section (starting with an empty string)."""

import struct

KIND = {"int": 1, "ptr": 2, "array": 3, "struct": 4, "union": 5,
        "typedef": 8, "volatile": 9, "const": 10}


class Builder:
    def __init__(self):
        self.strings = bytearray(b"\0")
        self.str_off = {"": 0}
        self.types = []          # encoded bytes per type, id = index + 1
        self.by_name = {}

    def s(self, name):
        if name not in self.str_off:
            self.str_off[name] = len(self.strings)
            self.strings += name.encode() + b"\0"
        return self.str_off[name]

    def _add(self, blob, name=None):
        self.types.append(blob)
        tid = len(self.types)
        if name:
            self.by_name[name] = tid
        return tid

    def int_(self, name, size, signed=False):
        enc = 1 if signed else 0
        return self._add(struct.pack("<IIII", self.s(name), KIND["int"] << 24,
                                     size, (enc << 24) | (size * 8)), name)

    def ptr(self, target):
        return self._add(struct.pack("<III", 0, KIND["ptr"] << 24, target))

    def typedef(self, name, target):
        return self._add(struct.pack("<III", self.s(name),
                                     KIND["typedef"] << 24, target), name)

    def const(self, target):
        return self._add(struct.pack("<III", 0, KIND["const"] << 24, target))

    def array(self, elem, index_type, n):
        return self._add(struct.pack("<IIIIII", 0, KIND["array"] << 24, 0,
                                     elem, index_type, n))

    def forward_struct(self, name):
        """Reserve an id for a struct defined later (self references)."""
        self.types.append(None)
        tid = len(self.types)
        self.by_name[name] = tid
        return tid

    def struct_(self, name, size, members, tid=None, kind="struct"):
        """members: (name, type id, byte offset); name "" = anonymous."""
        blob = struct.pack("<III", self.s(name) if name else 0,
                           (KIND[kind] << 24) | len(members), size)
        for mname, mtype, off in members:
            blob += struct.pack("<III", self.s(mname) if mname else 0, mtype,
                                off * 8)
        if tid is None:
            return self._add(blob, name or None)
        self.types[tid - 1] = blob
        return tid

    def blob(self):
        types = b"".join(self.types)
        hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types),
                          len(types), len(self.strings))
        return hdr + types + bytes(self.strings)
