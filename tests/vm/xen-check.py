"""xen-check.py OUT KVER - xen-e2e.sh's checks of dom0's kernel read from the
Xen dump (`salvage bt/ps/sys --dom0`, `info`) and of `salvage xen bt`, all
against what dom0 and Xen printed themselves:
  - bt --dom0: dom0's own call trace of its panic (the reliable frames of
    its log's "Call Trace:", from panic out) appears in order in the
    panicking vCPU's frames, on the CPU and task the log names;
  - ps --dom0: the task the log names ("CPU: N PID: P Comm: C") is running
    on that CPU; as many tasks as sys --dom0 counts; every thread with its
    command equals dom0's own listing ("salvage-ps TID COMM" records that
    its init wrote to /dev/kmsg from /proc just before the crash), both
    ways, but for the exceptions that task_diff() explains;
  - sys --dom0 and info: dom0's release and panic line;
  - xen bt: two pCPUs with frames, kexec_crash on the crashed one's stack;
    without xen-syms, Xen's own table in the dump names the same frames.
Files in OUT: dom0-dmesg.txt, dom0-bt.json, dom0-ps.json, dom0-sys.json,
info.json, xen-bt.json, xen-bt.nosyms.json."""

import json
import re
import sys


def logged_trace(log):
    """The last call trace's reliable function names, from panic out
    (dump_stack_lvl ran and returned before panic went on)."""
    trace, on = [], False
    for line in log:
        t = re.sub(r"^\[ *[0-9.]+\] ", "", line)
        if t.startswith("Call Trace:"):
            trace, on = [], True
        elif on and (t.startswith("RIP:") or t.startswith("</TASK>")):
            on = False
        elif on:
            m = re.match(r"^\s*([A-Za-z_][\w.]*)\+0x", t)
            if m:
                trace.append(m.group(1))
    return trace[trace.index("panic"):] if "panic" in trace else []


def in_order(want, have):
    it = iter(have)
    return all(any(f == n for f in it) for n in want)


def logged_tasks(log):
    """dom0's own listing: {tid: comm}, or None without its end record or
    when the record count differs from the end record's."""
    tasks, end = {}, None
    for line in log:
        m = re.match(r"^\[ *[0-9.]+\] salvage-ps (\d+) (.*)$", line)
        if m:
            tasks[int(m.group(1))] = m.group(2)
        m = re.match(r"^\[ *[0-9.]+\] salvage-ps-end (\d+)$", line)
        if m:
            end = int(m.group(1))
    return tasks if end is not None and end == len(tasks) else None


def task_diff(listed, ps):
    """The differences between dom0's listing and ps --dom0's tasks.
    Allowed, and only these:
      - PID 0: the per-CPU idle tasks (swapper/N) are never in /proc;
      - kernel threads named kworker/...: workqueue pools create and retire
        workers on their own (idle workers die after a timeout, new ones
        are forked when work queues up), so one may appear or vanish
        between the listing and the crash;
      - /proc shows a kworker's comm with the work queue it runs or last
        ran appended ("kworker/0:1-events", "+" while running); the task's
        own comm, which the dump holds, stops before it;
      - /proc shows a kernel thread's full name (struct kthread's
        full_name, since Linux 5.17) where task->comm, which the dump
        holds, keeps its first 15 bytes ("rcu_tasks_kthread" is
        "rcu_tasks_kthre" in comm).
    Nothing else forks or exits in between: the listing is done by dom0's
    init (PID 1) with shell builtins only, and the same init writes the
    sysrq trigger, so every other task must match by TID and comm."""
    kw = lambda c: c.startswith("kworker/")
    dump = {t["pid"]: t["comm"] for t in ps if t["pid"] != 0}
    kthread = {t["pid"] for t in ps if t["kthread"]}
    bad = []
    for pid in sorted(set(listed) | set(dump)):
        a, b = listed.get(pid), dump.get(pid)
        if a is None:
            if not (kw(b) and pid in kthread):
                bad.append("ps --dom0 has %d %r, dom0's listing has not" % (pid, b))
        elif b is None:
            if not kw(a):
                bad.append("dom0 listed %d %r, ps --dom0 has not" % (pid, a))
        elif a != b and not (kw(b) and a[len(b):len(b) + 1] in ("-", "+") and a.startswith(b)) \
                and not (pid in kthread and len(b) == 15 and a.startswith(b)):
            bad.append("pid %d: dom0 listed %r, ps --dom0 says %r" % (pid, a, b))
    return bad


def panicking_task(log, ps, th, who, opt=""):
    """The task the log names as panicking ("CPU: N PID: P Comm: C"): `ps`
    (salvage ps OPT's tasks) has it running on that CPU, and bt's panicking
    thread th[0], if any, is it.  who: whose log, for the messages."""
    m = None
    for line in log:
        m = m or re.search(r"CPU: (\d+) PID: (\d+) Comm: (\S+)", line)
    if not m:
        return ["%s log names no panicking task" % who]
    bad = []
    cpu, pid, comm = int(m.group(1)), int(m.group(2)), m.group(3)
    if not any(t["pid"] == pid and t["comm"] == comm and t["active_cpu"] == cpu for t in ps):
        bad.append("ps%s lacks pid %d %s running on CPU %d" % (opt, pid, comm, cpu))
    if th and (th[0]["pid"] != pid or th[0]["cpu"] != cpu):
        bad.append("bt%s panics on cpu %r pid %r, the log says %d/%d"
                   % (opt, th[0]["cpu"], th[0]["pid"], cpu, pid))
    return bad


def main():
    out, kver = sys.argv[1:3]
    load = lambda n: json.load(open("%s/%s" % (out, n)))
    log = open(out + "/dom0-dmesg.txt", errors="replace").read().splitlines()
    bad = []
    trace = logged_trace(log)
    if len(trace) < 4:
        bad.append("dom0's log has no call trace from panic: %r" % trace)
    th = [t for t in load("dom0-bt.json")["threads"] if t["panic"]]
    if len(th) != 1:
        bad.append("%d panicking dom0 vCPUs" % len(th))
    else:
        fr = [f["function"] for f in th[0]["frames"] if f["reliable"]]
        if not in_order(trace, fr):
            bad.append("bt --dom0 frames %r lack dom0's call trace %r in order" % (fr, trace))
    ps = load("dom0-ps.json")["tasks"]
    sysj = load("dom0-sys.json")
    bad += panicking_task(log, ps, th, "dom0's", " --dom0")
    listed = logged_tasks(log)
    if listed is None or len(listed) < 20:
        bad.append("dom0's log lacks its complete task listing: %r" % listed)
    else:
        bad += task_diff(listed, ps)
    if len(ps) < 20 or sysj["tasks"] != len(ps):
        bad.append("ps --dom0 %d tasks, sys --dom0 %r" % (len(ps), sysj["tasks"]))
    if sysj["release"] != kver or "sysrq triggered crash" not in (sysj["panic"] or ""):
        bad.append("sys --dom0: release %r, panic %r" % (sysj["release"], sysj["panic"]))
    info = load("info.json")["xen"]
    if info.get("dom0_release") != kver or "sysrq triggered crash" not in (info.get("dom0_panic") or ""):
        bad.append("info: dom0 %r, panic %r" % (info.get("dom0_release"), info.get("dom0_panic")))
    xb = load("xen-bt.json")
    if len(xb["pcpus"]) != 2 or any(len(c["frames"]) < 2 for c in xb["pcpus"]):
        bad.append("xen bt: %r" % [(c["cpu"], len(c["frames"])) for c in xb["pcpus"]])
    crashed = [c for c in xb["pcpus"] if c["crashed"]]
    if len(crashed) != 1 or "kexec_crash" not in [f["function"] for f in crashed[0]["frames"]]:
        bad.append("xen bt: the crashed pCPU's stack lacks kexec_crash")
    # without xen-syms: Xen's own symbol table in the dump names the same
    own = load("xen-bt.nosyms.json")
    names = lambda m: [(c["cpu"], f["ip"], f["function"]) for c in m["pcpus"] for f in c["frames"]]
    if own["symbols"] != "xen-image" or names(own) != names(xb):
        bad.append("xen bt without xen-syms: symbols %r, frames differ from xen-syms'" % own["symbols"])
    for b in bad:
        print("[vm] ERROR: " + b, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
