#!/usr/bin/python3
"""cpiols.py IMAGE [DIR] - list an uncompressed newc ("070701") cpio archive,
one path per line (with a leading /), and with DIR extract its regular files
there.  Written from the format's description, for the tests: it shares no
code with initramfs/cpio.c."""
import os
import sys


def main():
    data = open(sys.argv[1], "rb").read()
    dest = sys.argv[2] if len(sys.argv) > 2 else None
    pos = 0
    while True:
        if data[pos:pos + 6] != b"070701":
            sys.exit("cpiols: bad header at %d" % pos)
        f = [int(data[pos + 6 + 8 * i:pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = f[1], f[6], f[11]
        name = data[pos + 110:pos + 110 + namesize - 1].decode()
        pos += (110 + namesize + 3) & ~3
        body = data[pos:pos + size]
        pos += (size + 3) & ~3
        if name == "TRAILER!!!":
            return
        path = "/" + name.lstrip("./").lstrip("/")
        print(path)
        if dest and (mode & 0o170000) == 0o100000:
            out = os.path.join(dest, path.lstrip("/"))
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with open(out, "wb") as g:
                g.write(body)


if __name__ == "__main__":
    main()
