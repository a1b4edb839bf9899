"""azreal.py --salvage BIN DUMP [--vmlinux FILE] - `salvage bt/ps/sys/sym`
on a real vmcore, against independent oracles (tests/az-real.sh runs it):

* bt without any vmlinux, against (a) the kernel's own oops/panic "Call
  Trace" in the dump's log (its frames without '?', from `panic` on), and
  (b) crash's `bt` with the vmlinux: our frames must appear in crash's list
  in the same order.  crash 8.0.2 also lists stale return addresses left on
  the stack by earlier calls (its x86_64 unwinder does not use ORC); the
  kernel's own trace marks those with '?', so they are reported, not
  required.
* bt --vmlinux: the same frames, each with file:line.
* ps against drgn's for_each_task (python3-drgn, with the vmlinux): same
  PIDs, thread group ids, parents, states and commands (drgn does not list
  the idle tasks, pid 0).  crash 8.0.2 lists only the tasks in its PID hash
  ("active task ... not found in PID hash" on Debian's 6.1): reported, not
  used as an oracle.  ps --vmlinux (DWARF layouts) must equal ps (BTF).
* sys against crash's `sys` (release, version, node name, machine, CPUs,
  date, uptime, load average, panic string).
* sym: every text symbol decoded from the dump's kallsyms against the
  vmlinux's .symtab moved by KERNELOFFSET.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys

DRGN_PS = r'''
from drgn.helpers.linux.pid import for_each_task
from drgn.helpers.linux.sched import task_state_to_char
for t in for_each_task(prog):
    print(int(t.pid), int(t.tgid), int(t.real_parent.tgid), task_state_to_char(t),
          t.comm.string_().decode(errors="replace"), sep="\t")
'''

res = {"passed": 0, "failed": 0, "skipped": 0}


def report(kind, msg):
    print("%-4s %s" % (kind, msg), flush=True)
    res[{"ok": "passed", "FAIL": "failed", "skip": "skipped"}[kind]] += 1


def salvage(a, *args):
    p = subprocess.run([a.salvage] + list(args), capture_output=True, text=True,
                       errors="replace", timeout=300)
    if p.returncode != 0:
        raise RuntimeError("salvage %s: exit %d: %s" % (" ".join(args), p.returncode,
                                                        p.stderr.strip()[-300:]))
    return p.stdout


def crash(a, cmds):
    if not (a.vmlinux and shutil.which("crash")):
        return None
    cf = os.path.join(a.work, "crash.cmd")
    with open(cf, "w") as f:
        f.write("\n".join(cmds + ["quit"]) + "\n")
    p = subprocess.run(["crash", "-s", a.vmlinux, a.dump, "-i", cf], capture_output=True,
                       text=True, errors="replace", stdin=subprocess.DEVNULL, timeout=600)
    return p.stdout


def kernel_trace(log):
    """Frames of the last Call Trace in the log: [(name, reliable)]."""
    lines = log.split("\n")
    starts = [i for i, l in enumerate(lines) if l.rstrip().endswith("Call Trace:")]
    if not starts:
        return None
    out = []
    for l in lines[starts[-1] + 1:]:
        m = re.match(r"^\[[ 0-9.]+\]\s+(\? )?([A-Za-z0-9_.]+)\+0x", l)
        if m:
            out.append((m.group(2), not m.group(1)))
        elif "</TASK>" in l or "RIP:" in l and out:
            if "</TASK>" in l:
                break
    return out


def subsequence(small, big):
    it = iter(big)
    return all(any(x == y for y in it) for x in small)


def check_bt(a):
    bt = json.loads(salvage(a, "bt", "--json", a.dump))
    panic = [t for t in bt["threads"] if t["panic"]]
    if not panic:
        report("FAIL", "bt: no CPU's backtrace goes through panic")
        return None
    ours = [f["function"] for f in panic[0]["frames"] if f["reliable"]]
    if "panic" not in ours:
        report("FAIL", "bt: panic not among the frames: %s" % ours)
        return None
    from_panic = ours[ours.index("panic"):]
    kt = kernel_trace(salvage(a, "dmesg", a.dump))
    if kt:
        kern = [n for n, r in kt if r]
        kern = kern[kern.index("panic"):] if "panic" in kern else kern
        if kern == from_panic:
            report("ok", "bt (no vmlinux) = the kernel's own Call Trace from panic on: "
                   "%d frames: %s" % (len(kern), " < ".join(kern)))
        else:
            report("FAIL", "bt (no vmlinux) %s, kernel's trace %s" % (from_panic, kern))
    else:
        report("skip", "bt: no Call Trace in the dump's log")
    cr = crash(a, ["bt"])
    if cr is None:
        report("skip", "bt vs crash: crash or the vmlinux not available")
    else:
        cnames = re.findall(r"^\s*#\d+ \[[0-9a-f]+\] (\S+) at ", cr, re.M)
        if cnames and subsequence(ours, cnames):
            extra = [n for n in cnames if n not in ours]
            stale = set(n for n, r in (kt or []) if not r)
            report("ok", "bt (no vmlinux): all %d frames in crash's bt (with vmlinux, %d "
                   "frames) in the same order; crash's extra %s (%d of them marked '?' "
                   "(stale) in the kernel's own trace)" % (
                       len(ours), len(cnames), extra, len([n for n in extra if n in stale])))
        else:
            report("FAIL", "bt: ours %s not in crash's order %s" % (ours, cnames))
    if a.vmlinux:
        btv = json.loads(salvage(a, "bt", "--json", "--vmlinux", a.vmlinux, a.dump))
        pv = [t for t in btv["threads"] if t["panic"]]
        names = [f["function"] for f in pv[0]["frames"] if f["reliable"]] if pv else []
        withsrc = [f for f in pv[0]["frames"] if f.get("source")] if pv else []
        inl = sum(1 for f in withsrc for s in f["source"] if s["inlined"])
        if names == ours and len(withsrc) == len(pv[0]["frames"]):
            report("ok", "bt --vmlinux: same %d frames, each with file:line (%d inlined "
                   "functions shown)" % (len(names), inl))
        else:
            report("FAIL", "bt --vmlinux: frames %s (%d with file:line), without: %s" % (
                names, len(withsrc), ours))
    return ours


def check_ps(a):
    try:
        ps = json.loads(salvage(a, "ps", "--json", a.dump))
    except RuntimeError as e:
        report("FAIL", "ps: %s" % e)
        return
    ours = sorted((t["pid"], t["tgid"], t["ppid"], t["state"], t["comm"])
                  for t in ps["tasks"] if t["pid"] > 0)
    running = [t for t in ps["tasks"] if t["active_cpu"] is not None]
    report("ok" if running else "FAIL", "ps: %d tasks (%d with pid > 0), running: %s" % (
        len(ps["tasks"]), len(ours),
        ", ".join("%s on cpu %d" % (t["comm"], t["active_cpu"]) for t in running)))
    if a.vmlinux:
        psv = json.loads(salvage(a, "ps", "--json", "--vmlinux", a.vmlinux, a.dump))
        same = [dict(t, **{}) for t in psv["tasks"]] == ps["tasks"]
        report("ok" if same else "FAIL", "ps --vmlinux (DWARF offsets) %s ps (BTF offsets)"
               % ("=" if same else "differs from"))
    drgn = shutil.which("drgn")
    if not (a.vmlinux and drgn):
        report("skip", "ps vs drgn: drgn or the vmlinux not available")
        return
    script = os.path.join(a.work, "drgn_ps.py")
    with open(script, "w") as f:
        f.write(DRGN_PS)
    p = subprocess.run(["/usr/bin/python3", drgn, "-q", "-c", a.dump, "-s", a.vmlinux,
                        script], capture_output=True, text=True, errors="replace",
                       timeout=600)
    if p.returncode != 0:
        report("FAIL", "drgn failed: %s" % p.stderr[-300:])
        return
    theirs = sorted((int(x[0]), int(x[1]), int(x[2]), x[3], x[4]) for x in
                    (l.split("\t") for l in p.stdout.splitlines() if l))
    if theirs == ours:
        report("ok", "ps = drgn for_each_task: %d of %d tasks match (pid, tgid, ppid, "
               "state, comm)" % (len(ours), len(theirs)))
    else:
        report("FAIL", "ps differs from drgn: only ours %s; only drgn's %s" % (
            sorted(set(ours) - set(theirs))[:8], sorted(set(theirs) - set(ours))[:8]))
    cr = crash(a, ["ps"])
    if cr is not None:
        n = len(re.findall(r"^[> ]\s+\d+\s+\d+\s+\d+\s+[0-9a-f]{16}", cr, re.M))
        print("     note: crash 8.0.2's ps lists %d tasks here, drgn and salvage %d with "
              "pid > 0 (+ idle tasks): crash misses tasks it cannot find in its PID "
              "hash (see its warning), so it is not the oracle" % (n, len(theirs)))


def check_sys(a):
    s = json.loads(salvage(a, "sys", "--json", a.dump))
    text = salvage(a, "sys", a.dump)
    cr = crash(a, ["sys"])
    if cr is None:
        ok = s["release"] and s["panic"] and s["uptime_ms"] is not None
        report("ok" if ok else "FAIL", "sys (no crash to compare): release %s, uptime %s ms,"
               " panic %r" % (s["release"], s["uptime_ms"], s["panic"]))
        return
    cf = dict(re.findall(r"^\s*([A-Z ]+[A-Z]): (.*)$", cr, re.M))
    of = dict(re.findall(r"^\s*([A-Z ]+[A-Z]): (.*)$", text, re.M))
    bad = []
    for k in ("RELEASE", "VERSION", "NODENAME", "CPUS", "DATE", "LOAD AVERAGE", "PANIC"):
        if cf.get(k, "").strip() != of.get(k, "").strip():
            bad.append("%s: %r vs crash %r" % (k, of.get(k), cf.get(k)))
    if of.get("UPTIME", "").split()[0:1] != cf.get("UPTIME", "").split()[0:1]:
        bad.append("UPTIME: %r vs crash %r" % (of.get("UPTIME"), cf.get("UPTIME")))
    if cf.get("MACHINE", "").split()[0:1] != of.get("MACHINE", "").split()[0:1]:
        bad.append("MACHINE: %r vs crash %r" % (of.get("MACHINE"), cf.get("MACHINE")))
    report("FAIL" if bad else "ok", "sys vs crash's sys: " + ("; ".join(bad) if bad else
           "release, version, node name, machine, CPUs, date, uptime, load, panic agree"))


def check_sym(a):
    if not a.vmlinux:
        report("skip", "sym vs vmlinux: no vmlinux")
        return
    def table(args):
        out = {}
        dup = set()
        for l in salvage(a, "sym", *args).splitlines():
            addr, t, name = l.split(" ", 2)
            if t not in "tT":
                continue
            if name in out:
                dup.add(name)
            out[name] = addr
        return out, dup
    ks, kd = table([a.dump])
    vs, vd = table(["--vmlinux", a.vmlinux, a.dump])
    common = [n for n in ks if n in vs and n not in kd and n not in vd]
    diff = [n for n in common if ks[n] != vs[n]]
    report("FAIL" if diff or len(common) < 1000 else "ok",
           "sym: %d text symbols from the dump's kallsyms, %d unique in both it and the vmlinux: "
           "%d at the same (KASLR-moved) address%s" % (
               len(ks), len(common), len(common) - len(diff),
               "; differ: %s" % diff[:5] if diff else ""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--salvage", required=True)
    ap.add_argument("--vmlinux")
    ap.add_argument("--work", default="/tmp")
    ap.add_argument("dump")
    a = ap.parse_args()
    for fn in (check_bt, check_ps, check_sys, check_sym):
        try:
            fn(a)
        except (RuntimeError, subprocess.TimeoutExpired, ValueError, KeyError) as e:
            report("FAIL", "%s: %s" % (fn.__name__, e))
    print("azreal: %(passed)d passed, %(failed)d failed, %(skipped)d skipped" % res)
    return 1 if res["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
