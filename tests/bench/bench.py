#!/usr/bin/python3
"""bench.py - salvage against makedumpfile (and crash) on the same real vmcores,
in the same run.  `make bench` runs it.

The vmcores are Debian kernels crashed under QEMU (tests/vm/make-vmcore.sh,
cached in /var/cache/salvage): a 1 GiB guest right after boot, and a 2 GiB
guest whose user space held 400 MiB of mixed anonymous memory
(--workload 400).  Every timing is the median of --repeat runs on a warm page
cache, taken in rounds (every setting once per round, so that a shared host's
changing load weighs on all settings alike; ratios are medians of the
per-round ratios); output goes to a real disk directory and each tool's time
includes making its output durable (salvage-capture fsyncs; makedumpfile is
followed by `sync FILE`, as kdump-tools syncs after it).  CPU time (user+sys)
and peak RSS come from GNU time.

Printed as markdown tables, per vmcore and dump level (-d 1, -d 31): salvage's
default, -l, --no-dedup and --threads 2 (and every codec with one and two
threads, with and without --no-dedup) against makedumpfile -l and -c, then
whether the default is no slower than makedumpfile -l and no larger than
makedumpfile -c, the dedup cost ratios (the goal settings, then every codec
with one and two threads: never more than 5% slower), --threads 2 over
--threads 1 per codec (next to what two independent processes get on this
machine) and, from perf's per-thread CPU time, the speed-up the run's
structure allows on two free CPUs, peak RSS.  Then pass 1 against RAM size on
synthetic 16-256 GiB dumps (bench_pass1), and the analyzer sections.
"""
import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


RSS_FILE = "/tmp/salvage-bench-rss.%d" % os.getpid()


def run(cmd, stdout=None, env=None):
    """Run cmd; return (wall seconds, peak RSS KiB, CPU seconds user+sys).
    GNU time measures RSS (a child forked from Python would count Python's
    own pages); CPU comes from wait4's rusage of the time process (its
    reaped child's included), to the microsecond: time's own %U %S are
    rounded to 10 ms, as coarse as the difference a ratio is after on a
    0.15 s run."""
    with tempfile.TemporaryFile() as err:
        t0 = time.monotonic()
        p = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", RSS_FILE] + cmd,
                             stdout=stdout or subprocess.DEVNULL, stderr=err, env=env)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.monotonic() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode != 0:
            err.seek(0)
            raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), p.returncode,
                                                        err.read().decode(errors="replace")[-400:]))
    with open(RSS_FILE) as f:
        rss = f.read().split()[-1]
    os.unlink(RSS_FILE)
    return wall, int(rss), ru.ru_utime + ru.ru_stime


def timed(fn, repeat):
    walls, rss = [], []
    for _ in range(repeat):
        w, r, _ = fn()
        walls.append(w)
        rss.append(r)
    return statistics.median(walls), max(rss), 0


class Row:
    """The runs of one setting: medians of wall and CPU time, peak RSS, size."""
    def __init__(self, v):
        self.walls = [x[0] for x in v]
        self.cpus = [x[3] for x in v]
        self.wall = statistics.median(self.walls)
        self.cpu = statistics.median(self.cpus)
        self.rss = max(x[1] for x in v)
        self.size = v[-1][2]


def timed_rounds(runs, repeat):
    """Every setting once per round, `repeat` rounds: a shared host's load
    drifts, and a drift then weighs on every setting alike instead of on the
    ones measured during it.  Each round runs the settings in an order of
    its own (shuffled, the same for every bench run): in one fixed order
    the run after makedumpfile -c's (its output synced, then deleted) took
    up to 15% more CPU than the same setting later in the round, a bias a
    ratio of two settings kept.  Returns {name: Row}."""
    got = {name: [] for name in runs}
    names = list(runs)
    rnd = random.Random(12)
    for _ in range(repeat):
        rnd.shuffle(names)
        for name in names:
            got[name].append(runs[name]())
    return {name: Row(got[name]) for name in runs}


def paired(rows, a, b, what="walls"):
    """Median over rounds of a's time / b's time in the same round."""
    return statistics.median(x / y for x, y in zip(getattr(rows[a], what),
                                                    getattr(rows[b], what)))


def drop(path):
    for p in (path, path + ".dmesg.txt"):
        if os.path.exists(p):
            os.unlink(p)


def mdf_run(vmcore, out, opts):
    def fn():
        drop(out)
        t0 = time.monotonic()
        _, rss, cpu = run(["makedumpfile"] + opts + [vmcore, out])
        subprocess.run(["sync", out], check=True)
        wall = time.monotonic() - t0
        return wall, rss, os.path.getsize(out), cpu
    return fn


def cap_run(cap, vmcore, out, opts):
    def fn():
        drop(out)
        wall, rss, cpu = run([cap, "--message-level", "0"] + opts + [vmcore, out])
        return wall, rss, os.path.getsize(out), cpu
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


# The vmcores `make bench` captures (tests/vm/make-vmcore.sh makes the missing
# ones): a 1 GiB guest that crashed right after boot, and a 2 GiB guest whose
# user space held 400 MiB of mixed anonymous memory (tests/vm/workload.c).
VMCORES = [
    ("default", "/var/cache/salvage/vmcore-default", []),
    ("workload", "/var/cache/salvage/vmcore-workload", ["--mem", "2048", "--workload", "400"]),
]

# salvage settings of the goals (issue 12), each against makedumpfile -l / -c
GOAL_SETTINGS = [
    ("salvage default", []),
    ("salvage -l", ["-l"]),
    ("salvage --no-dedup", ["--no-dedup"]),
    ("salvage --threads 2", ["--threads", "2"]),
    # the other halves of the dedup cost ratios
    ("salvage -l --no-dedup", ["-l", "--no-dedup"]),
    ("salvage --threads 2 --no-dedup", ["--threads", "2", "--no-dedup"]),
]
DEDUP_PAIRS = [("default", "salvage default", "salvage --no-dedup"),
               ("-l", "salvage -l", "salvage -l --no-dedup"),
               ("--threads 2", "salvage --threads 2", "salvage --threads 2 --no-dedup")]
CODECS = ["lzo", "snappy", "zlib", "zstd:-1", "zstd:1", "zstd:2", "zstd:3"]


def thread_split(cap, vmcore, opts, scratch):
    """CPU per thread of one --threads 2 run, from perf's cpu-clock samples
    (a software event: it works in a VM without a PMU).  Returns (seconds per
    thread, largest first), or None without perf.  On a shared machine the
    wall-clock speed-up depends on who else runs; this is the run's structure:
    two threads cannot finish sooner than the busier one's CPU time, so
    sum / max bounds the speed-up two free CPUs can give."""
    if not shutil.which("perf"):
        return None
    data = os.path.join(scratch, "perf.data")
    out = os.path.join(scratch, "out")
    drop(out)
    hz = 1999
    p = subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", str(hz), "-o", data,
                        "--", cap, "--message-level", "0"] + opts + [vmcore, out],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    drop(out)
    if p.returncode != 0:
        return None
    r = subprocess.run(["perf", "report", "-i", data, "--sort", "pid", "--stdio", "-q",
                        "-F", "period,pid"], capture_output=True, text=True)
    os.unlink(data)
    per = []
    for line in r.stdout.splitlines():
        f = line.split()
        if len(f) >= 2 and f[0].isdigit():
            per.append(int(f[0]) / 1e9)     # cpu-clock periods are ns
    return sorted(per, reverse=True) or None


def pair_bound(cap, vmcore, opts, scratch, rounds):
    """The machine's bound on a two-thread speed-up for this very work: two
    single-threaded captures with opts at once against one alone (paired in
    each round, median of the rounds; 2.0 on two free cores with nothing
    shared).  Two processes share no lock, queue or batch, only the
    machine (caches, memory bandwidth, the page cache, the disk), so a
    --threads 2 run near this figure loses nothing to its pipeline."""
    outs = [os.path.join(scratch, "pair%d" % i) for i in range(2)]
    cmd = [cap, "--message-level", "0"] + opts + [vmcore]
    ratios = []
    for _ in range(rounds):
        for o in outs:
            drop(o)
        t0 = time.monotonic()
        subprocess.run(cmd + [outs[0]], stdout=subprocess.DEVNULL, check=True)
        one = time.monotonic() - t0
        drop(outs[0])
        t0 = time.monotonic()
        ps = [subprocess.Popen(cmd + [o], stdout=subprocess.DEVNULL) for o in outs]
        if any(p.wait() != 0 for p in ps):
            raise RuntimeError("%s failed" % " ".join(cmd))
        two = time.monotonic() - t0
        ratios.append(2 * one / two)
    for o in outs:
        drop(o)
    return statistics.median(ratios)


def md_table(head, rows):
    print("| " + " | ".join(head) + " |")
    print("| " + " | ".join("---" for _ in head) + " |")
    for r in rows:
        print("| " + " | ".join(r) + " |")


def bench_capture(cap, name, vmcore, level, repeat, codecs, calib, scratch):
    """One vmcore at one dump level; prints markdown tables; returns the
    goals missed."""
    size = os.path.getsize(vmcore)
    out = os.path.join(scratch, "out")
    failures = []
    runs = {}
    for m, opts in (("makedumpfile -l", ["-l"]), ("makedumpfile -c", ["-c"])):
        runs[m] = mdf_run(vmcore, out, opts + ["-d", str(level)])
    for n, opts in GOAL_SETTINGS:
        runs[n] = cap_run(cap, vmcore, out, opts + ["-d", str(level)])
    for c in codecs:
        for t in (1, 2):
            for nd in ([], ["--no-dedup"]):
                runs["salvage --compress=%s --threads %d%s" % (c, t, " --no-dedup" if nd else "")] = \
                    cap_run(cap, vmcore, out,
                            ["--compress=" + c, "--threads", str(t), "-d", str(level)] + nd)
    rows = timed_rounds(runs, repeat)
    drop(out)
    mw, mc = rows["makedumpfile -l"], rows["makedumpfile -c"]
    print()
    print("#### vmcore %s, -d %d (%.0f MiB; medians of %d paired rounds; durable output)"
          % (name, level, size / 2**20, repeat))
    print()
    md_table(["setting", "wall s", "CPU s", "MiB", "time / mdf -l", "CPU / mdf -l",
              "size / mdf -c", "peak RSS KiB"],
             [[n, "%.3f" % r.wall, "%.3f" % r.cpu, "%.2f" % (r.size / 2**20),
               "%.2fx" % paired(rows, n, "makedumpfile -l"),
               "%.2fx" % paired(rows, n, "makedumpfile -l", "cpus"),
               "%.3fx" % (r.size / mc.size), "%d" % r.rss] for n, r in rows.items()])
    print()
    # the goal: the default, single-threaded, no slower than makedumpfile -l
    # and no larger than makedumpfile -c
    d = rows["salvage default"]
    tw = paired(rows, "salvage default", "makedumpfile -l")
    tc = paired(rows, "salvage default", "makedumpfile -l", "cpus")
    sz = d.size / mc.size
    print("- default against makedumpfile: %.2fx the time of -l (CPU %.2fx), %.3fx the size "
          "of -c: %s" % (tw, tc, sz, "met" if tw <= 1 and sz <= 1 else "MISSED"))
    if tw > 1:
        failures.append("%s -d %d: default takes %.2fx makedumpfile -l's time" % (name, level, tw))
    if sz > 1:
        failures.append("%s -d %d: default is %.3fx makedumpfile -c's size" % (name, level, sz))
    for m in ("makedumpfile -l", "makedumpfile -c"):
        ref = rows[m]
        better = [n for n, r in rows.items() if n.startswith("salvage") and "--threads 2" not in n
                  and paired(rows, n, m) < 1 and r.size < ref.size]
        print("- single-threaded settings faster and smaller than %s: %s"
              % (m, ", ".join("`%s`" % b[len("salvage "):] for b in better) or "none"))
    # de-duplication: never more than 5% slower than --no-dedup
    for label, a, b in DEDUP_PAIRS:
        r = paired(rows, a, b)
        saved = 1 - rows[a].size / rows[b].size
        print("- dedup cost at %s: %.3fx the time of --no-dedup (CPU %.3fx), %.1f%% smaller"
              % (label, r, paired(rows, a, b, "cpus"), 100 * saved))
        if r > 1.05:
            failures.append("%s -d %d: dedup costs %.0f%% at %s" % (name, level, 100 * (r - 1), label))
    # and per codec, one and two threads: dedup's time over --no-dedup's
    # (paired per round), CPU alike, and the bytes it saved
    print()
    drows = []
    for c in codecs:
        for t in (1, 2):
            a = "salvage --compress=%s --threads %d" % (c, t)
            b = a + " --no-dedup"
            r = paired(rows, a, b)
            drows.append([c, str(t), "%.3fx" % r, "%.3fx" % paired(rows, a, b, "cpus"),
                          "%.1f%%" % (100 * (1 - rows[a].size / rows[b].size))])
            if r > 1.05:
                failures.append("%s -d %d: dedup costs %.0f%% at --compress=%s --threads %d"
                                % (name, level, 100 * (r - 1), c, t))
    md_table(["codec", "threads", "dedup time / --no-dedup", "CPU", "bytes saved"], drows)
    # --threads 2 over --threads 1: the median of the ratios of the two runs
    # of each round (one after the other, so a drift between rounds cancels);
    # CPU time beside it: on two free cores the second thread adds little
    print()
    # beside it, the same work as two processes at once: what the machine
    # gives two CPUs on this codec (memory-bound codecs get less than gzip)
    trows = []
    for c in codecs:
        t1 = "salvage --compress=%s --threads 1" % c
        t2 = "salvage --compress=%s --threads 2" % c
        sp = paired(rows, t1, t2)
        bound = pair_bound(cap, vmcore, ["--compress=" + c, "--threads", "1", "-d", str(level)],
                           scratch, repeat)
        trows.append([c, "%.3f" % rows[t1].wall, "%.3f" % rows[t2].wall, "%.2fx" % sp,
                      "%.2fx" % bound, "%.2f" % (sp / bound),
                      "%.3f" % rows[t1].cpu, "%.3f" % rows[t2].cpu])
    md_table(["codec", "t1 wall s", "t2 wall s", "t2 speed-up", "two t1 processes at once",
              "speed-up / two processes", "t1 CPU s", "t2 CPU s"], trows)
    print()
    print("(two CPU-bound processes (gzip -1) on this machine run %.2fx as fast as one)" % calib)
    if level == 1:
        # the structure behind the wall-clock figures: CPU per thread
        split = []
        for c in codecs:
            runs = [thread_split(cap, vmcore, ["--compress=" + c, "--threads", "2", "-d", "1"],
                                 scratch) for _ in range(min(repeat, 3))]
            runs = sorted((t for t in runs if t), key=lambda t: t[0] / sum(t))
            t = runs[len(runs) // 2] if runs else None   # the run of the median share
            if t:
                split.append([c, " / ".join("%.3f" % x for x in t),
                              "%.0f%%" % (100 * t[0] / sum(t)), "%.2fx" % (sum(t) / t[0])])
        if split:
            print()
            md_table(["codec", "--threads 2: CPU s per thread (perf cpu-clock)",
                      "busiest thread's share", "bound on t2 speed-up (sum / busiest)"],
                     split)
    if level == 1:
        for c in codecs:
            r = paired(rows, "salvage --compress=%s --threads 1" % c,
                       "salvage --compress=%s --threads 2" % c)
            if r < 1.7:
                failures.append("%s -d 1: --threads 2 %.2fx at %s (goal 1.7x)" % (name, r, c))
    mdf_rss = max(mw.rss, mc.rss)
    cap_rss = max(r.rss for n, r in rows.items() if n.startswith("salvage"))
    print("- peak RSS salvage / makedumpfile: %d / %d KiB = %.2fx"
          % (cap_rss, mdf_rss, cap_rss / mdf_rss))
    if cap_rss > mdf_rss:
        failures.append("%s -d %d: peak RSS above makedumpfile's" % (name, level))
    return failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--vmcores", default=",".join(n for n, _, _ in VMCORES),
                    help="which of %s (comma-separated), or PATH of a vmcore"
                    % ", ".join(n for n, _, _ in VMCORES))
    ap.add_argument("--scratch", default="/var/tmp/salvage-bench")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--levels", default="1,31")
    ap.add_argument("--codecs", default=",".join(CODECS))
    ap.add_argument("--sections", default="capture,pass1,analyzer,modoops")
    ap.add_argument("--pass1-gib", default="16,64,256")
    ap.add_argument("--modoops", default=None,
                    help="the module-oops dump of tests/vm/e2e-modoops.sh "
                         "(default BUILD/vm-modoops/dump/vmcore, as make test-vm leaves it)")
    a = ap.parse_args()
    if a.modoops is None:
        a.modoops = os.path.join(a.build, "vm-modoops", "dump", "vmcore")
    sections = a.sections.split(",")

    # private copies: a rebuild while the bench runs must not change them
    os.makedirs(a.scratch, exist_ok=True)
    bindir = os.path.join(a.scratch, "bin")
    os.makedirs(bindir, exist_ok=True)
    for prog in ("salvage-capture", "salvage"):
        shutil.copy2(os.path.join(a.build, prog), os.path.join(bindir, prog))
    cap = os.path.join(bindir, "salvage-capture")
    vmcores = []
    for v in a.vmcores.split(","):
        known = [x for x in VMCORES if x[0] == v]
        if not known:
            vmcores.append((os.path.basename(os.path.dirname(os.path.abspath(v))), v))
            continue
        name, d, opts = known[0]
        path = os.path.join(d, "vmcore")
        if not os.path.exists(path):
            print("bench: making the vmcore %s (%s)" % (name, d), flush=True)
            subprocess.run([os.path.join(ROOT, "tests/vm/make-vmcore.sh")] + opts + [d],
                           check=True)
        vmcores.append((name, path))

    failures = []
    calib = None
    if "capture" in sections:
        print("## salvage-capture against makedumpfile")
        for name, path in vmcores:
            with open(path, "rb") as f:   # warm the page cache for every tool alike
                while f.read(8 << 20):
                    pass
            kf = os.path.join(os.path.dirname(path), "kver")
            kver = open(kf).read().strip() if os.path.exists(kf) else "?"
            if calib is None:
                calib = calibrate(path, a.scratch)
            print()
            print("### vmcore %s: %s (%.0f MiB, kernel %s)"
                  % (name, path, os.path.getsize(path) / 2**20, kver))
            for level in [int(x) for x in a.levels.split(",")]:
                failures += bench_capture(cap, name, path, level, a.repeat,
                                          a.codecs.split(","), calib, a.scratch)
    if "pass1" in sections:
        failures += bench_pass1(cap, a.scratch, [int(x) for x in a.pass1_gib.split(",")],
                                a.repeat)
    print()
    if failures:
        print("bench: goals missed: " + "; ".join(failures))
    else:
        print("bench: the goals checked in this run (sections %s) met" % a.sections)
    if "analyzer" in sections and vmcores:
        bench_analyzer(bindir, vmcores[0][1], a.repeat)
    if "modoops" in sections:
        bench_modoops(bindir, a.modoops, a.repeat)
    shutil.rmtree(a.scratch, ignore_errors=True)


# ---- pass 1 at large memory sizes (issue 12) -----------------------------
# The mem_map walk's cost grows with RAM, not with what is kept.  A small
# FLATMEM vmcore from the fixture generator (tests/fixtures/mdf-linux.desc) is
# grown by tests/tools/bigmm.py into sparse files of 16, 64 and 256 GiB of RAM,
# nearly all of it free buddy blocks (cached in $SALVAGE_CACHE/pass1, about
# 350 MiB allocated for the three).  Both tools capture them at -l -d 31:
# pass 1 reads the whole struct page array (64 bytes per 4 KiB frame), pass 2
# reads the frames of the array again as data (they are kept, and zero).
def bench_pass1(cap, scratch, gibs, repeat):
    import hashlib
    cache = os.path.join(os.environ.get("SALVAGE_CACHE", "/var/cache/salvage"), "pass1")
    os.makedirs(cache, exist_ok=True)
    tools = os.path.join(ROOT, "tests", "tools")
    desc = os.path.join(ROOT, "tests", "fixtures", "mdf-linux.desc")
    h = hashlib.sha256()
    for f in [desc] + [os.path.join(tools, n) for n in
                       ("bigmm.py", "mkdump.py", "kmem.py", "kmm.py", "kprintk.py")]:
        with open(f, "rb") as fh:
            h.update(fh.read())
    stamp = h.hexdigest()
    base = os.path.join(cache, "base.elf")
    sf = os.path.join(cache, "stamp")
    if not os.path.exists(sf) or open(sf).read().strip() != stamp:
        for n in os.listdir(cache):
            os.unlink(os.path.join(cache, n))
        subprocess.run(["/usr/bin/python3", os.path.join(tools, "mkdump.py"), desc, base],
                       check=True, stdout=subprocess.DEVNULL)
        with open(sf, "w") as f:
            f.write(stamp + "\n")
    out = os.path.join(scratch, "out")
    rounds = min(repeat, 3)
    runs = {}
    for g in gibs:
        big = os.path.join(cache, "ram-%dg.elf" % g)
        if not os.path.exists(big):
            subprocess.run(["/usr/bin/python3", os.path.join(tools, "bigmm.py"), base, str(g),
                            big], check=True, stdout=subprocess.DEVNULL)
        # warm what the tools read: BASE's RAM and the struct page array
        # (at physical 1 GiB, 16 MiB per GiB); the free frames are never read
        with open(big, "rb") as f:
            left = (1 << 30) + g * (16 << 20) + (64 << 20)
            while left > 0 and f.read(64 << 20):
                left -= 64 << 20
        runs["%d makedumpfile" % g] = mdf_run(big, out, ["-l", "-d", "31"])
        runs["%d salvage" % g] = cap_run(cap, big, out, ["-l", "-d", "31"])
    rows = timed_rounds(runs, rounds)
    drop(out)
    print()
    print("## pass 1 (mem_map walk) against RAM size: -l -d 31, medians of %d paired rounds"
          % rounds)
    print()
    print("Synthetic FLATMEM dumps (tests/tools/bigmm.py), nearly all RAM free; "
          "CPU is user+sys, the steadier figure on a shared host.")
    print()
    g0 = gibs[0]
    tab = []
    failures = []
    for g in gibs:
        m, c = rows["%d makedumpfile" % g], rows["%d salvage" % g]
        mg = rows["%d makedumpfile" % g0]
        cg = rows["%d salvage" % g0]
        tab.append(["%d GiB" % g, "%.2f" % m.wall, "%.2f" % m.cpu, "%.2f" % c.wall,
                    "%.2f" % c.cpu,
                    "%.2fx" % paired(rows, "%d salvage" % g, "%d makedumpfile" % g),
                    "%.2fx" % paired(rows, "%d salvage" % g, "%d makedumpfile" % g, "cpus"),
                    "%.1fx / %.1fx" % (m.cpu / mg.cpu, c.cpu / cg.cpu)])
        # the goal: salvage's time grows no faster than makedumpfile's
        if g != g0 and c.cpu / cg.cpu > 1.1 * m.cpu / mg.cpu:
            failures.append("pass 1: salvage's CPU time grows %.1fx from %d to %d GiB, "
                            "makedumpfile's %.1fx" % (c.cpu / cg.cpu, g0, g, m.cpu / mg.cpu))
    md_table(["RAM", "mdf wall s", "mdf CPU s", "salvage wall s", "salvage CPU s",
              "salvage / mdf wall", "salvage / mdf CPU",
              "CPU growth from %d GiB (mdf / salvage)" % g0], tab)
    return failures


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
            w, r, _ = run(cmd)
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
            w, r, _ = run(cmd)
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
