"""xen-domu-check.py MODE ARGS - xen-domu-e2e.sh's checks, each against what
the guest or the core itself says (never against salvage's own output):

  info CORE INFO_JSON VCPUS MEM_MIB
      `salvage info --json` of an `xl dump-core` file: format xen-core, a
      PV guest, as many CPUs (and vCPU registers) as the domain had vCPUs
      (the config, and the core's dump-core header note), as many pages as
      the core's .xen_pages holds (section size / page size) and its header
      says, that is about MEM_MIB of memory.
  console CONSOLE DMESG
      the kernel lines the guest printed on its console (xenconsoled's log,
      "[ seconds] text") are a contiguous run of `salvage dmesg`'s lines,
      from its first line on (the console may stop earlier: a guest that
      keeps running logs on, and a crashing one may not get its last
      lines out).
  btps DMESG BT_JSON PS_JSON
      `salvage bt --json`: the panicking vCPU is the CPU and task the log
      names, and its reliable frames hold the guest's own call trace from
      panic out, in order; `salvage ps --json`: that task runs on that CPU,
      and the tasks equal the guest's own listing ("salvage-ps TID COMM"
      records its init wrote to /dev/kmsg just before the crash) but for
      the exceptions xen-check.py's task_diff() explains.
  domains DOMAINS_JSON ID MEM_MIB
      `salvage xen domains --json`: domain 0 and domain ID are listed; ID
      is PV with 1 vCPU, owns about MEM_MIB of memory and all its pages
      are in the dump (the agent kept them).
Standard library only."""

import importlib.util
import json
import os
import re
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from xenpv import elf_sections  # noqa: E402  (tests/tools/xenpv.py)

TS = re.compile(r"^\[ *\d+\.\d+\] ")


def xen_check():
    """xen-check.py's helpers (its file name is no module name)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "xen-check.py")
    spec = importlib.util.spec_from_file_location("xen_check", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def dumpcore_header(path, secs):
    """(nr_vcpus, nr_pages, page_size) from .note.Xen's dump-core header
    note (type 0x2000001: magic, nr_vcpus, nr_pages, page_size)."""
    off, size = secs[".note.Xen"]
    with open(path, "rb") as f:
        f.seek(off)
        data = f.read(size)
    pos = 0
    while pos + 12 <= len(data):
        namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
        desc = pos + 12 + (namesz + 3) // 4 * 4
        if ntype == 0x2000001 and descsz >= 32:
            _magic, vcpus, pages, psize = struct.unpack_from("<QQQQ", data, desc)
            return vcpus, pages, psize
        pos = desc + (descsz + 3) // 4 * 4
    raise ValueError("%s: no dump-core header note in .note.Xen" % path)


def check_info(core, info_json, vcpus, mem_mib):
    bad = []
    secs = elf_sections(core)
    hv, hp, psize = dumpcore_header(core, secs)
    pages = secs[".xen_pages"][1] // psize
    m = json.load(open(info_json))
    xc = m.get("xen_core") or {}
    if m.get("format") != "xen-core" or xc.get("type") != "PV":
        bad.append("format %r, guest type %r: not a PV xen-core" % (m.get("format"), xc.get("type")))
    if hv != vcpus or xc.get("vcpus") != vcpus or m.get("cpus") != vcpus:
        bad.append("vCPUs: the config has %d, the core's header %d, salvage info %r (cpus %r)"
                   % (vcpus, hv, xc.get("vcpus"), m.get("cpus")))
    if hp != pages or xc.get("pages") != pages or xc.get("header_pages") != hp:
        bad.append("pages: .xen_pages holds %d, the header says %d; salvage info %r, header %r"
                   % (pages, hp, xc.get("pages"), xc.get("header_pages")))
    if len(xc.get("vcpu_regs") or []) != vcpus:
        bad.append("salvage info has %d vCPU registers" % len(xc.get("vcpu_regs") or []))
    if not mem_mib * 256 * 9 // 10 <= pages <= mem_mib * 256:
        bad.append("%d pages is not about %d MiB" % (pages, mem_mib))
    return bad


def check_console(console, dmesg):
    cons = [l for l in open(console, errors="replace").read().splitlines() if TS.match(l)]
    dm = open(dmesg, errors="replace").read().splitlines()
    if len(cons) < 50:
        return ["the console has only %d kernel lines" % len(cons)]
    if dm[:len(cons)] == cons:
        return []
    for i, (a, b) in enumerate(zip(cons, dm)):
        if a != b:
            return ["line %d differs: console %r, salvage dmesg %r" % (i + 1, a, b)]
    return ["salvage dmesg has %d lines, the console %d" % (len(dm), len(cons))]


def check_btps(dmesg, bt_json, ps_json):
    xc = xen_check()
    log = open(dmesg, errors="replace").read().splitlines()
    bad = []
    trace = xc.logged_trace(log)
    if len(trace) < 4 or "sysrq_handle_crash" not in trace:
        bad.append("the domU's log has no call trace from panic through sysrq_handle_crash: %r" % trace)
    th = [t for t in json.load(open(bt_json))["threads"] if t["panic"]]
    if len(th) != 1:
        bad.append("%d panicking vCPUs" % len(th))
    else:
        fr = [f["function"] for f in th[0]["frames"] if f["reliable"]]
        if not xc.in_order(trace, fr):
            bad.append("bt frames %r lack the domU's call trace %r in order" % (fr, trace))
    ps = json.load(open(ps_json))["tasks"]
    bad += xc.panicking_task(log, ps, th, "the domU's")
    listed = xc.logged_tasks(log)
    if listed is None or len(listed) < 20:
        bad.append("the domU's log lacks its complete task listing: %r" % listed)
    else:
        bad += xc.task_diff(listed, ps)
    for name in ("salvage-idle-a", "salvage-idle-b"):
        if not any(t["comm"] == name for t in ps):
            bad.append("ps lacks %s" % name)
    return bad


def check_domains(domains_json, domid, mem_mib):
    m = json.load(open(domains_json))
    doms = m["domains"] if isinstance(m, dict) else m
    by_id = {d["id"]: d for d in doms}
    bad = []
    if 0 not in by_id:
        bad.append("no domain 0 in %r" % sorted(by_id))
    d = by_id.get(domid)
    if d is None:
        bad.append("no domain %d in %r" % (domid, sorted(by_id)))
        return bad
    if str(d.get("type")).upper() != "PV" or d.get("vcpus") != 1:
        bad.append("domain %d: type %r, %r vCPUs; it is PV with 1" % (domid, d.get("type"), d.get("vcpus")))
    pages, kept = d.get("pages"), d.get("pages_in_dump")
    if pages is None or not mem_mib * 256 * 9 // 10 <= pages <= mem_mib * 256 + 1024:
        bad.append("domain %d owns %r pages, not about %d MiB" % (domid, pages, mem_mib))
    elif kept != pages:
        bad.append("domain %d: %r of its %d pages in the dump (--domains keeps them all)" % (domid, kept, pages))
    return bad


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "info":
        bad = check_info(args[0], args[1], int(args[2]), int(args[3]))
    elif mode == "console":
        bad = check_console(args[0], args[1])
    elif mode == "btps":
        bad = check_btps(*args[:3])
    elif mode == "domains":
        bad = check_domains(args[0], int(args[1]), int(args[2]))
    else:
        print("usage: xen-domu-check.py info|console|btps|domains ARGS", file=sys.stderr)
        return 2
    for b in bad:
        print("[vm] ERROR: %s: %s" % (mode, b), file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
