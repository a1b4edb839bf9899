#!/usr/bin/python3
"""pagelist.py DUMP - print the page listing (tests/fixtures/README.md format)
of an ELF vmcore, kdump-compressed file or flattened stream.

A slow, simple second opinion built on mkdump.py's self-check parser; used by
tests/interop/makedumpfile.sh when BUILD_DIR/tests/vmcheck is not built yet
(VMCHECK=tests/tools/pagelist.py).  It trusts its input: not for hostile files.
"""
import sys

import mkdump


def main(argv):
    args = [a for a in argv[1:] if a != "--pages"]
    if len(args) != 1:
        print("usage: pagelist.py [--pages] DUMP", file=sys.stderr)
        return 2
    with open(args[0], "rb") as f:
        data = f.read()
    if data[:12] == b"makedumpfile":
        data = mkdump.unflatten(data)
    sys.stdout.write(mkdump.format_listing(mkdump.reread_listing(data)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
