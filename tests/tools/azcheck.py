"""azcheck.py WHAT EXPECT.json GOT [ARG] - compare a `salvage` answer with
what the fixture generator (ktask.py) says it must be; prints the first
differences and exits 1 on any.

    sym  EXPECT GOT.txt         the full `salvage sym DUMP` listing
    ps   EXPECT GOT.json        `salvage ps --json`
    bt   EXPECT GOT.json KEY    `salvage bt --json [PID]`; KEY: cpus | pidN
    sys  EXPECT GOT.json        `salvage sys --json`
    bttext GOT.json GOT.txt     text and JSON name the same frames in order
"""

import json
import sys

errors = []


def err(msg):
    errors.append(msg)


def cmp_frame(i, w, g):
    for k in ("function", "offset", "how", "reliable"):
        if w[k] != g.get(k):
            err("frame #%d %s: %r, expected %r" % (i, k, g.get(k), w[k]))
    if int(g.get("sp", "0"), 16) != w["sp"]:
        err("frame #%d sp: %s, expected 0x%x" % (i, g.get("sp"), w["sp"]))
    we, ge = w.get("exception"), g.get("exception")
    if bool(we) != bool(ge):
        err("frame #%d exception frame: %s, expected %s" % (i, bool(ge), bool(we)))
    if we and ge:
        if we["user"] != ge["user"] or we["partial"] != ge["partial"]:
            err("frame #%d exception user/partial %s/%s, expected %s/%s" % (
                i, ge["user"], ge["partial"], we["user"], we["partial"]))
        if int(ge["address"], 16) != we["address"]:
            err("frame #%d exception at %s, expected 0x%x" % (i, ge["address"], we["address"]))
        names = {"ip": "RIP", "sp": "RSP", "cs": "CS", "flags": "RFLAGS", "ss": "SS",
                 "ax": "RAX", "bx": "RBX", "cx": "RCX", "dx": "RDX", "si": "RSI",
                 "di": "RDI", "bp": "RBP", "orig_ax": "ORIG_RAX", "r8": "R8",
                 "r9": "R9", "r10": "R10", "r11": "R11", "r12": "R12",
                 "r13": "R13", "r14": "R14", "r15": "R15"}
        for r, v in we["regs"].items():
            got = ge["regs"].get(names[r])
            if got is None or int(got, 16) != v:
                err("frame #%d exception %s: %s, expected 0x%x" % (i, names[r], got, v))


def cmp_thread(w, g):
    for k in ("cpu", "pid", "panic"):
        if w[k] != g.get(k):
            err("cpu %s pid %s: %s %r, expected %r" % (w["cpu"], w["pid"], k, g.get(k), w[k]))
    wf, gf = w["frames"], g["frames"]
    for i, (a, b) in enumerate(zip(wf, gf)):
        cmp_frame(i, a, b)
    if len(wf) != len(gf):
        err("pid %d: %d frames, expected %d (%s)" % (
            w["pid"], len(gf), len(wf), " ".join(f["function"] or "?" for f in gf)))


def main(argv):
    what = argv[1]
    if what == "bttext":
        got = json.load(open(argv[2]))
        text = open(argv[3]).read().split("\n")
        want = [f["function"] for t in got["threads"] for f in t["frames"]]
        have = [l.split("] ", 1)[1].split("+")[0].lstrip("? ")
                for l in text if l.lstrip(" ?").startswith("#")]
        if want != have:
            err("text frames %s differ from --json %s" % (have, want))
    else:
        exp = json.load(open(argv[2]))
        if what == "sym":
            got = open(argv[3]).read().splitlines()
            for i, (a, b) in enumerate(zip(exp["symbols"], got)):
                if a != b:
                    err("symbol %d: %r, expected %r" % (i, b, a))
            if len(got) != len(exp["symbols"]):
                err("%d symbols, expected %d" % (len(got), len(exp["symbols"])))
        elif what == "ps":
            got = json.load(open(argv[3]))["tasks"]
            got.sort(key=lambda t: (t["pid"], -1 if t["active_cpu"] is None else t["active_cpu"]))
            for a, b in zip(exp["ps"], got):
                for k in a:
                    if a[k] != b.get(k):
                        err("pid %d %s: %r, expected %r" % (a["pid"], k, b.get(k), a[k]))
            if len(got) != len(exp["ps"]):
                err("%d tasks, expected %d" % (len(got), len(exp["ps"])))
        elif what == "bt":
            got = json.load(open(argv[3]))["threads"]
            key = argv[4]
            if key == "cpus":
                want = [v for k, v in sorted(exp["bt"].items()) if k.startswith("cpu")]
            else:
                want = [exp["bt"][key]]
            for w, g in zip(want, got):
                cmp_thread(w, g)
            if len(want) != len(got):
                err("%d backtraces, expected %d" % (len(got), len(want)))
        elif what == "sys":
            got = json.load(open(argv[3]))
            for k, v in exp["sys"].items():
                if got.get(k) != v:
                    err("%s: %r, expected %r" % (k, got.get(k), v))
    for e in errors[:15]:
        print("  " + e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
