#!/usr/bin/python3
"""bench.py - salvage against makedumpfile (and crash) on the same real vmcore,
in the same run.  `make bench` runs it.

The vmcore is a Debian kernel crashed under QEMU (tests/vm/make-vmcore.sh,
cached in /var/cache/salvage).  Every timing is the median of --repeat runs on
a warm page cache, taken in rounds (every setting once per round, so that a
shared host's changing load weighs on all settings alike); output goes to a real disk directory and each tool's time
includes making its output durable (salvage-capture fsyncs; makedumpfile is
followed by `sync FILE`, as kdump-tools syncs after it).  Peak RSS comes from
wait4().

Printed: a table per dump level (wall time, output size, peak RSS for every
tool and codec), then the ratios the project's goals are judged by:
  - for each makedumpfile setting (-l, -c), the single-threaded salvage settings
    that are both faster and smaller;
  - --threads 2 speed over --threads 1 per codec, next to what this machine's
    two CPUs give two independent processes (a calibration, since a shared
    host may not give two full cores);
  - peak RSS of salvage over makedumpfile.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


RSS_FILE = "/tmp/salvage-bench-rss.%d" % os.getpid()


def run(cmd, stdout=None, env=None):
    """Run cmd; return (wall seconds, peak RSS KiB).  GNU time measures the
    RSS: a child forked from Python would count Python's own pages."""
    t0 = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", RSS_FILE] + cmd,
                       stdout=stdout or subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), p.returncode,
                                                    p.stderr.decode(errors="replace")[-400:]))
    with open(RSS_FILE) as f:
        rss = int(f.read().split()[-1])
    os.unlink(RSS_FILE)
    return wall, rss


def timed(fn, repeat):
    walls, rss, size = [], [], 0
    for _ in range(repeat):
        w, r, s = fn()
        walls.append(w)
        rss.append(r)
        size = s
    return statistics.median(walls), max(rss), size


def timed_rounds(runs, repeat):
    """Like timed, for several settings at once, run round by round (each
    setting once per round): a shared host's load drifts, and a drift then
    weighs on every setting alike instead of on the ones measured during it."""
    got = {name: [] for name in runs}
    for _ in range(repeat):
        for name, fn in runs.items():
            got[name].append(fn())
    return ({name: (statistics.median(w for w, _, _ in v), max(r for _, r, _ in v), v[-1][2])
             for name, v in got.items()},
            {name: [w for w, _, _ in v] for name, v in got.items()})


def drop(path):
    for p in (path, path + ".dmesg.txt"):
        if os.path.exists(p):
            os.unlink(p)


def mdf_run(vmcore, out, opts):
    def fn():
        drop(out)
        t0 = time.monotonic()
        _, rss = run(["makedumpfile"] + opts + [vmcore, out])
        subprocess.run(["sync", out], check=True)
        wall = time.monotonic() - t0
        return wall, rss, os.path.getsize(out)
    return fn


def cap_run(cap, vmcore, out, opts):
    def fn():
        drop(out)
        wall, rss = run([cap, "--message-level", "0"] + opts + [vmcore, out])
        return wall, rss, os.path.getsize(out)
    return fn


def calibrate(vmcore, scratch):
    """How much faster two CPU-bound processes finish together than one after
    the other: 2.0 on two free cores."""
    blob = os.path.join(scratch, "calib.bin")
    with open(vmcore, "rb") as f, open(blob, "wb") as g:
        g.write(f.read(64 << 20))
    cmd = ["gzip", "-1", "-c", blob]
    t0 = time.monotonic()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
    one = time.monotonic() - t0
    t0 = time.monotonic()
    ps = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL) for _ in range(2)]
    for p in ps:
        p.wait()
    two = time.monotonic() - t0
    os.unlink(blob)
    return 2 * one / two


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--vmcore", default="/var/cache/salvage/vmcore-default/vmcore")
    ap.add_argument("--scratch", default="/var/tmp/salvage-bench")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--levels", default="1,31")
    ap.add_argument("--modoops", default=None,
                    help="the module-oops dump of tests/vm/e2e-modoops.sh "
                         "(default BUILD/vm-modoops/dump/vmcore, as make test-vm leaves it)")
    a = ap.parse_args()
    if a.modoops is None:
        a.modoops = os.path.join(a.build, "vm-modoops", "dump", "vmcore")

    # private copies: a rebuild while the bench runs must not change them
    os.makedirs(a.scratch, exist_ok=True)
    bindir = os.path.join(a.scratch, "bin")
    os.makedirs(bindir, exist_ok=True)
    for prog in ("salvage-capture", "salvage"):
        shutil.copy2(os.path.join(a.build, prog), os.path.join(bindir, prog))
    cap = os.path.join(bindir, "salvage-capture")
    if not os.path.exists(a.vmcore):
        d = os.path.dirname(a.vmcore)
        print("bench: making the vmcore (%s)" % d, flush=True)
        subprocess.run([os.path.join(ROOT, "tests/vm/make-vmcore.sh"), d], check=True)
    os.makedirs(a.scratch, exist_ok=True)
    size = os.path.getsize(a.vmcore)
    with open(a.vmcore, "rb") as f:   # warm the page cache for every tool alike
        while f.read(8 << 20):
            pass
    kver = open(os.path.join(os.path.dirname(a.vmcore), "kver")).read().strip() \
        if os.path.exists(os.path.join(os.path.dirname(a.vmcore), "kver")) else "?"
    print("bench: vmcore %s (%.0f MiB, kernel %s), median of %d runs, output in %s"
          % (a.vmcore, size / 2**20, kver, a.repeat, a.scratch))
    calib = calibrate(a.vmcore, a.scratch)
    print("bench: two CPU-bound processes on this machine run %.2fx as fast as one "
          "(2.00 = two free cores)" % calib)

    out = os.path.join(a.scratch, "out")
    codecs = ["lzo", "snappy", "zstd:-5", "zstd:-3", "zstd:-1", "zstd", "zstd:3", "zlib"]
    failures = []
    for level in [int(x) for x in a.levels.split(",")]:
        runs = {}
        for name, opts in (("makedumpfile -l", ["-l"]), ("makedumpfile -c", ["-c"])):
            runs[name] = mdf_run(a.vmcore, out, opts + ["-d", str(level)])
        for c in codecs:
            for t in (1, 2):
                runs["salvage %s t%d" % (c, t)] = cap_run(
                    cap, a.vmcore, out, ["--compress=" + c, "--threads", str(t), "-d", str(level)])
        # what de-duplication costs: each setting with and without it, in the
        # same rounds (issue 12: never more than 5% slower than --no-dedup)
        dd = {"default": [], "-l": ["-l"], "default --threads 2": ["--threads", "2"]}
        for name, opts in dd.items():
            runs["salvage " + name] = cap_run(cap, a.vmcore, out, opts + ["-d", str(level)])
            runs["salvage " + name + " --no-dedup"] = cap_run(
                cap, a.vmcore, out, opts + ["--no-dedup", "-d", str(level)])
        rows, walls = timed_rounds(runs, a.repeat)
        drop(out)
        print()
        print("dump level %d" % level)
        print("  %-40s %9s %12s %10s %8s" % ("tool", "wall s", "bytes", "RSS KiB", "MB/s"))
        for name, (w, r, s) in rows.items():
            print("  %-40s %9.3f %12d %10d %8.0f" % (name, w, s, r, size / w / 1e6))
        print("  ratios:")
        for m in ("makedumpfile -l", "makedumpfile -c"):
            mw, mr, ms = rows[m]
            better = [(n, w, s) for n, (w, r, s) in rows.items()
                      if n.startswith("salvage") and n.endswith("t1") and w < mw and s < ms]
            if better:
                best = min(better, key=lambda x: x[1])
                print("    vs %-16s %d salvage settings faster and smaller; fastest %s: "
                      "%.2fx speed, %.3fx size" % (m + ":", len(better), best[0], mw / best[1],
                                                  best[2] / ms))
            else:
                print("    vs %-16s NO single-threaded salvage setting is both faster and "
                      "smaller" % (m + ":"))
                failures.append("level %d: nothing beats %s" % (level, m))
        # the speed-up of a second thread: the median of the ratios of the
        # two runs of each round, which ran one after the other, so that a
        # drift of the host's speed between rounds cancels out
        best_t = 0
        for c in codecs:
            r = statistics.median(one / two for one, two in zip(walls["salvage %s t1" % c],
                                                               walls["salvage %s t2" % c]))
            best_t = max(best_t, r)
            print("    --threads 2 / --threads 1, %-8s %.2fx   (machine: %.2fx)" % (c, r, calib))
        if best_t < 1.7:
            failures.append("level %d: --threads 2 at most %.2fx the speed of one thread "
                            "(goal 1.7x; this machine gives two processes %.2fx)"
                            % (level, best_t, calib))
        for name in dd:
            r = statistics.median(d / n for d, n in zip(walls["salvage " + name],
                                                        walls["salvage " + name + " --no-dedup"]))
            saved = 1 - rows["salvage " + name][2] / rows["salvage " + name + " --no-dedup"][2]
            print("    dedup cost, %-20s %.3fx the time of --no-dedup, %.1f%% smaller"
                  % (name + ":", r, 100 * saved))
            if r > 1.05:
                failures.append("level %d: dedup costs %.0f%% at %s (goal at most 5%%)"
                                % (level, 100 * (r - 1), name))
        mdf_rss = max(rows["makedumpfile -l"][1], rows["makedumpfile -c"][1])
        cap_rss = max(r for n, (w, r, s) in rows.items() if n.startswith("salvage"))
        print("    peak RSS salvage / makedumpfile: %d / %d KiB = %.2fx"
              % (cap_rss, mdf_rss, cap_rss / mdf_rss))
        if cap_rss > mdf_rss:
            failures.append("level %d: peak RSS above makedumpfile's" % level)
    print()
    if failures:
        print("bench: goals missed: " + "; ".join(failures))
    else:
        print("bench: speed, size, threads and memory goals met")
    bench_analyzer(bindir, a.vmcore, a.repeat)
    bench_modoops(bindir, a.modoops, a.repeat)
    shutil.rmtree(a.scratch, ignore_errors=True)


# ---- analyzer: salvage dmesg/bt/ps against crash (issue 5) ------------------
# A separate section, run last: the analyzer's answers on the same vmcore,
# timed against crash 8.0.2 with the vmlinux (the only way crash can answer)
# and makedumpfile --dump-dmesg.  salvage needs no vmlinux; its --vmlinux
# variant (file:line, inlined frames) is timed too.  Median of `repeat` runs.
def bench_analyzer(build, vmcore, repeat):
    import tempfile
    salvage = os.path.join(build, "salvage")
    vmlinux = os.path.join(os.path.dirname(vmcore), "vmlinux")
    have_crash = shutil.which("crash") and os.path.exists(vmlinux)
    print()
    print("analyzer (median of %d runs; crash %s)" % (
        repeat, "with %s" % vmlinux if have_crash else "not available: no crash or no vmlinux"))
    work = tempfile.mkdtemp(prefix="salvage-az-bench.")

    def tool(cmd):
        def fn():
            w, r = run(cmd)
            return w, r, 0
        return fn

    def crash_cmd(what):
        cf = os.path.join(work, "crash-%s.cmd" % what)
        with open(cf, "w") as f:
            f.write("%s\nquit\n" % what)
        return ["crash", "-s", vmlinux, vmcore, "-i", cf]

    rows = []
    try:
        for what, crash_what in (("dmesg", "log"), ("bt", "bt"), ("ps", "ps")):
            ours = timed(tool([salvage, what, vmcore]), repeat)
            rows.append(("salvage %s" % what, ours))
            if what == "bt" and os.path.exists(vmlinux):
                rows.append(("salvage bt --vmlinux", timed(
                    tool([salvage, "bt", "--vmlinux", vmlinux, vmcore]), repeat)))
            if have_crash:
                rows.append(("crash %s (vmlinux)" % crash_what,
                             timed(tool(crash_cmd(crash_what)), repeat)))
            if what == "dmesg" and shutil.which("makedumpfile"):
                out = os.path.join(work, "dmesg.txt")

                def mdf():
                    if os.path.exists(out):
                        os.unlink(out)     # makedumpfile will not overwrite
                    return tool(["makedumpfile", "--dump-dmesg", vmcore, out])()
                rows.append(("makedumpfile --dump-dmesg", timed(mdf, repeat)))
    except RuntimeError as e:
        print("  failed: %s" % e)
        shutil.rmtree(work, ignore_errors=True)
        return
    shutil.rmtree(work, ignore_errors=True)
    print("  %-28s %9s %10s" % ("tool", "wall s", "RSS KiB"))
    for name, (w, r, _) in rows:
        print("  %-28s %9.3f %10d" % (name, w, r))
    t = {name: w for name, (w, r, _) in rows}
    print("  ratios:")
    for ours, theirs in (("salvage dmesg", "crash log (vmlinux)"),
                         ("salvage dmesg", "makedumpfile --dump-dmesg"),
                         ("salvage bt", "crash bt (vmlinux)"),
                         ("salvage bt --vmlinux", "crash bt (vmlinux)"),
                         ("salvage ps", "crash ps (vmlinux)")):
        if ours in t and theirs in t:
            r = t[theirs] / t[ours]
            print("    %-22s vs %-26s %6.1fx %s" % (ours, theirs, r if r >= 1 else 1 / r,
                                                    "faster" if r >= 1 else "slower"))


# ---- analyzer on the module-oops dump (issue 13) ------------------------------
# Optional: runs when tests/vm/e2e-modoops.sh left its dump (make test-vm does,
# in BUILD/vm-modoops).  salvage bt and triage without a vmlinux, next to
# crash's bt and drgn's stack trace of the crashed thread, both with the debug
# vmlinux.  drgn 0.0.22 stops at the module frame; crash and salvage go on.
def bench_modoops(build, dump, repeat):
    import tempfile
    if not os.path.exists(dump):
        print()
        print("module-oops dump: none at %s (tests/vm/e2e-modoops.sh --out DIR makes it); "
              "section skipped" % dump)
        return
    salvage = os.path.join(build, "salvage")
    outdir = os.path.dirname(os.path.dirname(dump))
    vmlinux = os.path.join(outdir, "vmlinux")
    kver_f = os.path.join(outdir, "kver")
    if not os.path.exists(vmlinux) and os.path.exists(kver_f):
        vmlinux = "/var/cache/salvage/kernels/%s/vmlinux" % open(kver_f).read().strip()
    have_vml = os.path.exists(vmlinux)
    print()
    print("module-oops dump %s (median of %d runs; crash and drgn %s)" % (
        dump, repeat, "with %s" % vmlinux if have_vml else "skipped: no vmlinux"))
    work = tempfile.mkdtemp(prefix="salvage-modoops-bench.")

    def tool(cmd):
        def fn():
            w, r = run(cmd)
            return w, r, 0
        return fn

    rows = []
    try:
        rows.append(("salvage bt", timed(tool([salvage, "bt", dump]), repeat)))
        rows.append(("salvage triage", timed(tool([salvage, "triage", dump]), repeat)))
        rows.append(("salvage bt --json", timed(tool([salvage, "bt", "--json", dump]), repeat)))
        if have_vml and shutil.which("crash"):
            cf = os.path.join(work, "crash-bt.cmd")
            with open(cf, "w") as f:
                f.write("bt -a\nquit\n")
            rows.append(("crash bt -a (vmlinux)", timed(
                tool(["crash", "-s", vmlinux, dump, "-i", cf]), repeat)))
        if have_vml and shutil.which("drgn"):
            df = os.path.join(work, "drgn-bt.py")
            with open(df, "w") as f:
                f.write("print(prog.crashed_thread().stack_trace())\n")
            rows.append(("drgn crashed_thread (vmlinux)", timed(
                tool(["drgn", "-c", dump, "-s", vmlinux, "--no-default-symbols", "-q", df]),
                repeat)))
    except RuntimeError as e:
        print("  failed: %s" % e)
        shutil.rmtree(work, ignore_errors=True)
        return
    shutil.rmtree(work, ignore_errors=True)
    print("  %-30s %9s %10s" % ("tool", "wall s", "RSS KiB"))
    for name, (w, r, _) in rows:
        print("  %-30s %9.3f %10d" % (name, w, r))
    t = {name: w for name, (w, r, _) in rows}
    for ours in ("salvage bt", "salvage triage"):
        for theirs in ("crash bt -a (vmlinux)", "drgn crashed_thread (vmlinux)"):
            if theirs in t:
                r = t[theirs] / t[ours]
                print("    %-16s vs %-30s %6.1fx %s" % (ours, theirs, r if r >= 1 else 1 / r,
                                                        "faster" if r >= 1 else "slower"))


if __name__ == "__main__":
    sys.exit(main())
