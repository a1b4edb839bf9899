#!/usr/bin/python3
"""archive-bench.py - `salvage archive` timings (make bench runs it).

1. Adding one real dump: our agent's dump directory of a Debian kernel
   crashed under QEMU (tests/vm/e2e-disk.sh --out BUILD/vm-disk, which make
   test-vm leaves; else the cached tests/vm/make-vmcore.sh vmcore), next to
   the time the agent took to capture it (meta.json seconds.capture).
2. list, groups and search over 100,000 synthetic dumps (80 crash
   signatures, 500 hosts, 7 kernels, one every 5 minutes), on SQLite and on
   PostgreSQL (a throw-away cluster on a Unix socket, when Debian's postgresql
   is installed).  The rows are written with SQL through the schema the
   program made; each command is timed end to end (process start, open,
   query, output), median of --repeat runs.  Goal: every listing < 100 ms.
"""
import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

N = 100_000
T0 = 1_790_000_000


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def timed(cmd, repeat):
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        ts.append(time.perf_counter() - t)
        if p.returncode not in (0, 1):
            raise SystemExit("%s: exit %d: %s" % (" ".join(cmd), p.returncode, p.stderr.decode()[:200]))
    return statistics.median(ts), p.stdout


def synth_sql(pg):
    """INSERT ... SELECT of N rows in the backend's dialect."""
    nl = "chr(10)" if pg else "char(10)"
    sig_id = "lpad(to_hex(i % 80), 16, '0')" if pg else "printf('%016x', i % 80)"
    rows = ("SELECT 'synth-' || i, '/var/crash/synth/' || i || '/vmcore', 0, 'file', 'kdump',"
            " '6.1.0-' || (i % 7) || '-amd64', 'host-' || (i % 500), {t0} + i * 300, {t0} + i * 300,"
            " 1000000, 0, 'Kernel panic - not syncing: synthetic crash ' || (i % 80),"
            " 'boot line ' || i || {nl} || 'BUG: kernel NULL pointer dereference in synth_func_' || (i % 80),"
            " 'v1 null-deref: synth_func_' || (i % 80) || ' < caller', {sig_id}, 1, {t0} + i * 300,"
            " 'synth_func_' || (i % 80) || {nl} || 'caller'"
            ).format(t0=T0, nl=nl, sig_id=sig_id)
    cols = ("ident, path, stored, source, format, release, host, crash_time, added_time, dump_bytes,"
            " incomplete, panic, dmesg_tail, sig, sig_id, sig_version, t, panic_frames")
    if pg:
        return ("INSERT INTO dumps (%s) %s FROM generate_series(1, %d) AS i;"
                "INSERT INTO labels SELECT id, 'job', 'ci-' || (id %% 100) FROM dumps;"
                "ANALYZE;" % (cols, rows, N))
    return ("WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < %d)"
            " INSERT INTO dumps (%s) %s FROM c;"
            "INSERT INTO dumps_fts (rowid, panic, dmesg) SELECT id, panic, dmesg_tail FROM dumps;"
            "INSERT INTO labels SELECT id, 'job', 'ci-' || (id %% 100) FROM dumps;"
            "ANALYZE;" % (N, cols, rows))


QUERIES = [
    ("list (newest 1000)", ["list"]),
    ("list --limit 50", ["list", "--limit", "50"]),
    ("list --host --limit 50", ["list", "--host", "host-42", "--limit", "50"]),
    ("list --signature", ["list", "--signature", "v1 null-deref: synth_func_17 < caller"]),
    ("list --label --limit 50", ["list", "--label", "job=ci-7", "--limit", "50"]),
    ("list --since (1 day)", ["list", "--since", str(T0 + (N - 288) * 300)]),
    ("groups", ["groups"]),
    ("groups --json", ["groups", "--json"]),
    ("search (2500 hits)", ["search", "synthetic crash 17"]),
    ("search (1 hit)", ["search", "boot line 99999"]),
    ("show", ["show", "50000"]),
]


def bench_db(salvage, db, fill, repeat):
    run([salvage, "archive", "--db", db, "list"])       # creates the schema
    t = time.perf_counter()
    fill()
    # rows written behind the program's back (their sig_id is not the hash of
    # their signature): resign recomputes both and rebuilds the groups
    run([salvage, "archive", "--db", db, "resign"])
    t_fill = time.perf_counter() - t
    out = timed([salvage, "archive", "--db", db, "list", "--json", "--limit", "1"], 1)[1]
    if not json.loads(out):
        raise SystemExit("no synthetic rows in %s" % db)
    res = []
    for name, args in QUERIES:
        sec, out = timed([salvage, "archive", "--db", db] + args, repeat)
        res.append((name, sec, out.count(b"\n")))
    return t_fill, res


def print_res(title, t_fill, res):
    print("\n%s: %d synthetic dumps (written and re-signed in %.1f s)" % (title, N, t_fill))
    print("  %-26s %10s %8s" % ("command", "median ms", "lines"))
    worst = 0.0
    for name, sec, lines in res:
        print("  %-26s %10.1f %8d" % (name, sec * 1000, lines))
        worst = max(worst, sec)
    print("  slowest: %.1f ms (goal < 100 ms): %s" % (worst * 1000, "met" if worst < 0.1 else "NOT met"))


def real_dump(build):
    agent = os.path.join(build, "vm-disk", "dump")
    if os.path.exists(os.path.join(agent, "meta.json")):
        meta = json.load(open(os.path.join(agent, "meta.json")))
        return agent, meta.get("seconds", {}).get("capture")
    cached = "/var/cache/salvage/vmcore-default/vmcore"
    if os.path.exists(cached):
        return cached, None
    return None, None


def pg_cluster(work):
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        return None, None
    bindir = os.path.dirname(bins[-1])
    pre = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
    d = os.path.join(work, "pg")
    os.mkdir(d)
    if os.getuid() == 0:
        shutil.chown(d, "postgres")
    run(pre + [bindir + "/initdb", "-D", d + "/data", "-A", "trust", "-U", "salvage"])
    run(pre + [bindir + "/pg_ctl", "-D", d + "/data", "-l", d + "/log", "-w", "-o",
               "-c listen_addresses='' -k %s -c fsync=off" % d, "start"])

    def stop():
        subprocess.run(pre + [bindir + "/pg_ctl", "-D", d + "/data", "-m", "fast", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = "postgresql:///%s?host=" + d + "&user=salvage"
    run([bindir + "/psql", "-q", url % "postgres", "-c", "CREATE DATABASE bench"])
    return (url % "bench", bindir + "/psql"), stop


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-pg", action="store_true")
    a = ap.parse_args()
    salvage = os.path.join(a.build, "salvage")
    work = tempfile.mkdtemp(prefix="salvage-archive-bench.")
    os.chmod(work, 0o755)    # the cluster's own user goes through it
    try:
        print("salvage archive bench")
        dump, capture = real_dump(a.build)
        if dump:
            db = os.path.join(work, "one.db")
            ts = []
            for _ in range(a.repeat):
                for f in (db, db + "-wal", db + "-shm"):
                    if os.path.exists(f):
                        os.unlink(f)
                ts.append(timed([salvage, "archive", "--db", db, "add", dump], 1)[0])
            size = os.path.getsize(os.path.join(dump, "vmcore") if os.path.isdir(dump) else dump)
            print("\nadd one real dump: %s (%.1f MB): %.3f s (median of %d)%s" % (
                dump, size / 1e6, statistics.median(ts), a.repeat,
                "; the agent captured it in %.3f s: add takes %.1f%% of that" % (
                    capture, 100 * statistics.median(ts) / capture) if capture else ""))
        else:
            print("\nadd one real dump: skipped (no BUILD/vm-disk/dump: run make test-vm; "
                  "no cached vmcore: run tests/vm/make-vmcore.sh)")

        import sqlite3
        db = os.path.join(work, "synth.db")

        def fill_sqlite():
            c = sqlite3.connect(db)
            c.executescript(synth_sql(False))
            c.commit()
            c.close()
        print_res("SQLite", *bench_db(salvage, db, fill_sqlite, a.repeat))

        if not a.no_pg:
            pg, stop = pg_cluster(work)
            if not pg:
                print("\nPostgreSQL: skipped (no /usr/lib/postgresql/*/bin: apt-get install postgresql)")
            else:
                try:
                    url, psql = pg
                    print_res("PostgreSQL", *bench_db(salvage, url, lambda: run(
                        [psql, "-q", url, "-c", synth_sql(True)]), a.repeat))
                finally:
                    stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
