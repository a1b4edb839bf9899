#!/usr/bin/python3
"""xen-core-bench.py - reading and filtering a Xen guest core (`xl dump-core`,
docs/formats.md §4.9): salvage next to makedumpfile and crash on the same
file, in the same run.  `make bench` runs it.

The core: the real one tests/vm's Xen e2e leaves in $SALVAGE_CACHE/xen-domu/
(*.core, with the guest's debug vmlinux beside it when there is one), else
one generated from tests/fixtures/az-xcore-pv.desc (24 MiB, a synthetic
kernel: no vmlinux, so crash cannot be run on it).  makedumpfile reads no
dump-core; it is also timed on the same memory converted to an ELF vmcore
(salvage-capture -E -d 0, not timed).  Each command runs
--repeat times, round by round; the median wall time and the peak RSS are
printed, and for every tool that cannot read the file, what it said.
Ratios are printed only between tools that both answered.
"""
import argparse
import glob
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RSS_FILE = "/tmp/salvage-xcore-bench-rss.%d" % os.getpid()


def run(cmd):
    """(wall s, peak RSS KiB, None) or (None, None, the failure's last line)."""
    t0 = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", RSS_FILE] + cmd,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wall = time.monotonic() - t0
    rss = 0
    if os.path.exists(RSS_FILE):
        with open(RSS_FILE) as f:
            words = f.read().split()
            rss = int(words[-1]) if words and words[-1].isdigit() else 0
        os.unlink(RSS_FILE)
    out = (p.stdout + p.stderr).decode(errors="replace")
    # crash reports failures on stdout and may still exit 0
    if p.returncode != 0 or "crash: cannot" in out or "is not a supported file format" in out:
        lines = [l for l in out.splitlines() if l.strip() and "Command exited" not in l]
        return None, None, (lines[-1] if lines else "exit %d" % p.returncode)[:160]
    return wall, rss, None


def find_core(cache, build):
    cores = sorted(glob.glob(os.path.join(cache, "xen-domu", "*.core")))
    if cores:
        vml = [v for v in (os.path.join(cache, "xen-domu", "vmlinux"),) if os.path.exists(v)]
        return cores[0], (vml[0] if vml else None), "real (tests/vm Xen e2e)"
    out = os.path.join(build, "bench-xcore", "az-xcore-pv.core")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "tests", "tools", "mkdump.py"),
                    os.path.join(ROOT, "tests", "fixtures", "az-xcore-pv.desc"), out], check=True)
    return out, None, "generated (tests/fixtures/az-xcore-pv.desc)"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--cache", default=os.environ.get("SALVAGE_CACHE", "/var/cache/salvage"))
    ap.add_argument("--core", help="a dump-core file (default: see above)")
    ap.add_argument("--vmlinux", help="the guest's debug vmlinux, for crash")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    if a.core:
        core, vmlinux, what = a.core, a.vmlinux, "given"
    else:
        core, vmlinux, what = find_core(a.cache, a.build)
        vmlinux = a.vmlinux or vmlinux
    salvage = os.path.join(a.build, "salvage")
    cap = os.path.join(a.build, "salvage-capture")
    work = tempfile.mkdtemp(prefix="salvage-xcore-bench.")
    size = os.path.getsize(core)
    print("Xen guest core: %s, %s, %.1f MiB (median of %d runs)"
          % (core, what, size / 2**20, a.repeat))

    def out(name):
        p = os.path.join(work, name)

        def clean():
            for q in (p, p + ".dmesg.txt"):
                if os.path.exists(q):
                    os.unlink(q)
        return p, clean

    cmds = []
    o, c = out("s31.kdump")
    cmds.append(("salvage-capture -d 31 (zstd)", [cap, "--message-level", "0", "-d", "31", core, o], c, o))
    o, c = out("s31z.kdump")
    cmds.append(("salvage-capture -c -d 31", [cap, "--message-level", "0", "-c", "-d", "31", core, o], c, o))
    o, c = out("m31.kdump")
    mdf = shutil.which("makedumpfile")
    if mdf:
        cmds.append(("makedumpfile -c -d 31", [mdf, "-c", "-d", "31", core, o], c, o))
    # makedumpfile reads no dump-core: also time it on the same memory as an
    # ELF vmcore (made once by salvage-capture -E -d 0, not timed)
    elf = os.path.join(work, "core.elf")
    if mdf and subprocess.run([cap, "--message-level", "0", "-E", "-d", "0", core, elf],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
        o, c = out("me31.kdump")
        cmds.append(("makedumpfile -c -d 31 (as ELF)", [mdf, "-c", "-d", "31", elf, o], c, o))
    cmds.append(("salvage dmesg", [salvage, "dmesg", core], None, None))
    o, c = out("m.dmesg")
    if mdf:
        cmds.append(("makedumpfile --dump-dmesg", [mdf, "--dump-dmesg", core, o], c, None))
    cmds.append(("salvage ps", [salvage, "ps", core], None, None))
    cmds.append(("salvage bt", [salvage, "bt", core], None, None))
    crash = shutil.which("crash")
    notes = []
    if crash and vmlinux:
        for cw in ("log", "bt", "ps"):
            cf = os.path.join(work, "crash-%s.cmd" % cw)
            with open(cf, "w") as f:
                f.write("%s\nquit\n" % cw)
            cmds.append(("crash %s (vmlinux)" % cw, [crash, "-s", vmlinux, core, "-i", cf], None, None))
    elif not crash:
        notes.append("crash: not installed")
    else:
        notes.append("crash: not run (no debug vmlinux for this core; crash needs one)")
    if not mdf:
        notes.append("makedumpfile: not installed")

    walls = {n: [] for n, _, _, _ in cmds}
    rss, fail, sizes = {}, {}, {}
    for _ in range(a.repeat):
        for name, cmd, clean, o in cmds:
            if name in fail:
                continue
            if clean:
                clean()
            w, r, err = run(cmd)
            if err:
                fail[name] = err
                continue
            walls[name].append(w)
            rss[name] = max(rss.get(name, 0), r)
            if o and os.path.exists(o):
                sizes[name] = os.path.getsize(o)
    print("  %-32s %9s %10s %12s" % ("tool", "wall s", "RSS KiB", "output"))
    t = {}
    for name, _, _, _ in cmds:
        if name in fail:
            print("  %-32s cannot read it: %s" % (name, fail[name]))
            continue
        t[name] = statistics.median(walls[name])
        print("  %-32s %9.3f %10d %12s" % (name, t[name], rss[name],
                                           "%d" % sizes[name] if name in sizes else "-"))
    for n in notes:
        print("  " + n)
    print("  ratios (where both read the core):")
    any_ratio = False
    for ours, theirs in (("salvage-capture -c -d 31", "makedumpfile -c -d 31"),
                         ("salvage-capture -c -d 31", "makedumpfile -c -d 31 (as ELF)"),
                         ("salvage dmesg", "makedumpfile --dump-dmesg"),
                         ("salvage dmesg", "crash log (vmlinux)"),
                         ("salvage bt", "crash bt (vmlinux)"),
                         ("salvage ps", "crash ps (vmlinux)")):
        if ours in t and theirs in t:
            r = t[theirs] / t[ours]
            any_ratio = True
            print("    %-26s vs %-28s %6.1fx %s" % (ours, theirs, r if r >= 1 else 1 / r,
                                                    "faster" if r >= 1 else "slower"))
    if not any_ratio:
        print("    none: no other tool read this core")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
