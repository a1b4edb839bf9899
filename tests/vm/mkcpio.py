#!/usr/bin/python3
"""Write a cpio "newc" archive (Linux initramfs format) from a staging directory.

Unlike `cpio -o -H newc`, this needs no root: every entry is owned by 0:0 and
device nodes are added from the command line instead of from the file system.

usage: mkcpio.py STAGING_DIR OUTPUT [--nod PATH:MODE:c|b:MAJOR:MINOR]...

    mkcpio.py staging first.img --nod /dev/console:0600:c:5:1

Entries are written in sorted order with mtime 0 so the archive is
reproducible. Standard library only (run with Debian's /usr/bin/python3).
"""
import os
import stat
import sys

CHUNK = 1 << 20


class Writer:
    def __init__(self, out):
        self.out = out
        self.ino = 1
        self.pos = 0

    def _write(self, data):
        self.out.write(data)
        self.pos += len(data)

    def _pad(self):
        if self.pos % 4:
            self._write(b"\0" * (4 - self.pos % 4))

    def header(self, name, mode, size, nlink=1, rmaj=0, rmin=0):
        name_b = name.encode() + b"\0"
        fields = [self.ino, mode, 0, 0, nlink, 0, size, 0, 0, rmaj, rmin,
                  len(name_b), 0]
        self.ino += 1
        self._write(b"070701" + b"".join(b"%08X" % f for f in fields))
        self._write(name_b)
        self._pad()

    def entry(self, name, mode, data=b"", **kw):
        self.header(name, mode, len(data), **kw)
        self._write(data)
        self._pad()

    def file(self, name, mode, path, size):
        self.header(name, mode, size)
        done = 0
        with open(path, "rb") as f:
            while done < size:
                buf = f.read(min(CHUNK, size - done))
                if not buf:
                    raise SystemExit("mkcpio: %s shrank while archiving" % path)
                self._write(buf)
                done += len(buf)
        self._pad()

    def trailer(self):
        self.ino = 0
        self.entry("TRAILER!!!", 0)
        if self.pos % 512:
            self._write(b"\0" * (512 - self.pos % 512))


def main(argv):
    if len(argv) < 3:
        raise SystemExit(__doc__)
    root, output = argv[1], argv[2]
    nodes = []
    rest = argv[3:]
    while rest:
        if rest[0] != "--nod" or len(rest) < 2:
            raise SystemExit(__doc__)
        path, mode, kind, major, minor = rest[1].split(":")
        nodes.append((path.lstrip("/"), int(mode, 8), kind, int(major), int(minor)))
        rest = rest[2:]

    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for n in dirnames + sorted(filenames):
            full = os.path.join(dirpath, n)
            entries.append((os.path.relpath(full, root), full))
    entries.sort()
    names = {e[0] for e in entries}

    tmp = output + ".tmp"
    with open(tmp, "wb") as out:
        w = Writer(out)
        for rel, full in entries:
            st = os.lstat(full)
            perm = stat.S_IMODE(st.st_mode)
            if stat.S_ISDIR(st.st_mode):
                w.entry(rel, stat.S_IFDIR | perm, nlink=2)
            elif stat.S_ISLNK(st.st_mode):
                w.entry(rel, stat.S_IFLNK | 0o777, os.readlink(full).encode())
            elif stat.S_ISREG(st.st_mode):
                w.file(rel, stat.S_IFREG | perm, full, st.st_size)
            else:
                raise SystemExit("mkcpio: unsupported file type: %s" % full)
        for path, mode, kind, major, minor in nodes:
            parent = os.path.dirname(path)
            if parent and parent not in names:
                raise SystemExit("mkcpio: parent of %s missing in staging" % path)
            ftype = stat.S_IFCHR if kind == "c" else stat.S_IFBLK
            w.entry(path, ftype | mode, rmaj=major, rmin=minor)
        w.trailer()
    os.replace(tmp, output)


if __name__ == "__main__":
    main(sys.argv)
