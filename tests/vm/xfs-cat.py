#!/usr/bin/python3
"""xfs-cat.py IMG PATH OUT - copy a regular file out of an XFS image without
mounting it (xfsprogs 6.1 has no file-reading command in xfs_db).

xfs_db gives the file's extent map (`bmap`: file offset, start block as
(AG/AG block), count, flag) and size; the data is read from the image at
(ag * agblocks + agblock) * blocksize.  Unwritten extents (flag 1) and holes
read as zeros.  Standard library only.
"""
import re
import subprocess
import sys


def xfs_db(img, *cmds):
    args = ["xfs_db", "-r"]
    for c in cmds:
        args += ["-c", c]
    args.append(img)
    out = subprocess.run(args, capture_output=True, text=True, check=True)
    return out.stdout + out.stderr


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    img, path, dest = sys.argv[1:]
    sb = xfs_db(img, "sb 0", "print blocksize agblocks")
    bs = int(re.search(r"blocksize = (\d+)", sb).group(1))
    agblocks = int(re.search(r"agblocks = (\d+)", sb).group(1))
    info = xfs_db(img, "path " + path, "bmap", "print core.size")
    m = re.search(r"core\.size = (\d+)", info)
    if not m:
        sys.exit("xfs-cat: %s: not found in %s: %s" % (path, img, info.strip()))
    size = int(m.group(1))
    ext = re.findall(r"data offset (\d+) startblock \d+ \((\d+)/(\d+)\) count (\d+) flag (\d)", info)
    with open(img, "rb") as src, open(dest, "wb") as out:
        out.truncate(size)
        for off, ag, agbno, count, flag in ext:
            off, ag, agbno, count = int(off), int(ag), int(agbno), int(count)
            if flag != "0":
                continue
            n = min(count * bs, size - off * bs)
            if n <= 0:
                continue
            src.seek((ag * agblocks + agbno) * bs)
            out.seek(off * bs)
            out.write(src.read(n))


if __name__ == "__main__":
    main()
