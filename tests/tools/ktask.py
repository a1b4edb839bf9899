"""ktask.py - a small crashed kernel for the analyzer (`salvage sym/bt/ps/
sys`): kallsyms (ksyms.py), BTF (kbtf.py), ORC tables (korc.py), tasks on
init_task.tasks with threads, per-cpu run queues, stacks with exception
frames, NT_PRSTATUS notes, jiffies/avenrun/memory counters; and the answers
`salvage` must give, computed here from what was laid out (never from the
reader).  Hooked into kmem.py's `kernel ... end` block.

Block lines:
    analyzer [cpus=1|2] [percpu=absolute|relative] [orc=old|new]
             [btf=yes|no] [state=new|old] [itf=yes|no] [tick=yes|no]
             [hz=250] [uptime_ms=4460] [load=A,B,C] [bigsym=yes|no]
             [names=OLD:NEW,...]
        cpus: CPU 0 runs the panicking task (pid 1), CPU 1 (if any) its
        idle task, interrupted in native_safe_halt (IRET-only frame).
        orc=old: the <= 6.2 entry layout, new: 6.4+.  btf=no: no BTF (ps
        must fail, bt works by kallsyms alone).  state=old: task_struct.state
        (long) instead of __state.  itf=no: no inactive_task_frame in BTF.
        tick=no: no tick_nsec (HZ must be guessed from the log).
        names: the functions below renamed in kallsyms (and in the
        answers), for another panic path with the same layout.
    task PID COMM [ppid=P] [tgid=T] [state=R|S|D|T|t|Z|X|P|I] [kthread=yes]
             [cpu=N] [stack=blocked|stuck]
        pid 1 must be given (it panics on CPU 0); pid 0 / swapper are made
        automatically.  stack=blocked: a switched-out task (__schedule <-
        schedule <- kthreadd <- ret_from_fork); stuck: its saved return
        address has no unwind data, so the stack must be scanned.

The panicking stack (innermost first): __crash_kexec (no ORC, as in
Debian's 6.1: found by its call site) <- panic <- exc_invalid_op (noreturn
call at its end: the lookup must use ip - 1) <- asm_exc_invalid_op (pt_regs,
kernel mode) <- buggy_function (interrupted: exact ip) <- caller_with_bp
(bp-based ORC) <- fp_function (no ORC: frame pointer) <- ksys_write <-
do_syscall_64 <- entry_SYSCALL_64_after_hwframe (pt_regs from user space).
"""

import random
import struct

import kbtf
import korc
import ksyms

LINES = ("analyzer", "task")
M64 = (1 << 64) - 1
PF_KTHREAD = 0x00200000
STATE = {"R": (0, 0), "S": (1, 0), "D": (2, 0), "T": (4, 0), "t": (8, 0),
         "Z": (0x80, 0x20), "X": (0x80, 0x10), "P": (0x40, 0), "I": (0x402, 0)}
THREAD_SIZE = 0x4000
PT_REGS = ["r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8",
           "ax", "cx", "dx", "si", "di", "orig_ax", "ip", "cs", "flags", "sp",
           "ss"]
REG_JSON = ["R15", "R14", "R13", "R12", "RBP", "RBX", "R11", "R10", "R9", "R8",
            "RAX", "RCX", "RDX", "RSI", "RDI", "ORIG_RAX", "RIP", "CS",
            "RFLAGS", "RSP", "SS"]

# image offsets (the image must be 4 MiB: image_size=0x400000)
IMG_FUNCS = 0x100000
IMG_ETEXT = 0x180000
IMG_KALLSYMS = 0x180000
IMG_ORC_IP = 0x200000
IMG_ORC = 0x240000
IMG_BTF = 0x280000
IMG_DATA = 0x300000
IMG_INIT_TASK = 0x301000
IMG_INIT_STACK = 0x308000     # 16 KiB aligned
IMG_PCPU = 0x3C0000           # per-cpu symbols (percpu=relative)
# physical areas (RAM must reach 16 MiB)
PA_PCPU = 0x900000            # + cpu * 0x40000
PA_TASKS = 0xA00000           # + i * 0x1000
PA_SIGNAL = 0xB00000          # + i * 0x100
PA_STACKS = 0xC00000          # + i * 0x4000

# task_struct layout chosen for the fixtures (not Linux's: the reader must
# take every offset from BTF)
TS_SIZE = 0xA00
OFF = {"thread_info": 0x0, "ti_cpu": 20, "state": 0x18, "stack": 0x20,
       "flags": 0x2C, "on_cpu": 0x34, "tasks": 0x2A0, "mm": 0x2F0,
       "exit_state": 0x308, "anon": 0x300, "pid": 0x310, "tgid": 0x314,
       "real_parent": 0x3A8, "thread_node": 0x420, "signal": 0x5A0,
       "comm": 0x620, "thread": 0x900, "thread_sp": 0x918}
SIG_THREAD_HEAD = 0x10
RQ_SIZE, RQ_CURR, RQ_IDLE = 0xC00, 0x9C8, 0x9D0
RUNQUEUES_OFF = 0x2F000

# functions: name -> (size, orc profile)
#   ("call", F): CALL, CFA = sp + F (F includes the return address)
#   other profiles are spelled out in orc_entries()
FUNCS = [
    ("__crash_kexec", 0x130, "none"), ("panic", 0x2F4, ("call", 0x80)),
    ("exc_invalid_op", 0x20, "exc"), ("asm_exc_invalid_op", 0x40, "regs"),
    ("buggy_function", 0x30, "buggy"), ("caller_with_bp", 0x40, "bp"),
    ("fp_function", 0x40, "none"), ("ksys_write", 0xF0, ("call", 0x30)),
    ("do_syscall_64", 0x90, ("call", 0x20)),
    ("entry_SYSCALL_64_after_hwframe", 0xD8, "regs"),
    ("intr_handler", 0x40, ("call", 0x10)),
    ("asm_common_interrupt", 0x40, "partial"),
    ("native_safe_halt", 0x10, "halt"), ("default_idle", 0x20, ("call", 0x10)),
    ("do_idle", 0x2B0, ("call", 0x40)),
    ("cpu_startup_entry", 0x30, ("call", 0x10)),
    ("start_secondary", 0x150, ("call", 0x18)),
    ("secondary_startup_64", 0xF0, "end"),
    ("__schedule", 0xA00, ("call", 0x58)), ("schedule", 0xD0, ("call", 0x18)),
    ("kthreadd", 0x2D0, ("call", 0x90)), ("ret_from_fork", 0x30, "end"),
    ("mystery_function", 0x40, "none"), ("worker_thread", 0x3E0, ("call", 8)),
    ("kthread", 0x110, ("call", 8)),
]


class Error(Exception):
    pass


def orc_entries(name, start, size, prof):
    E = []
    if prof == "none":
        E.append((start, {"type": "undefined"}))
    elif prof == "end":
        E.append((start, {"type": "end", "sp_reg": "undef"}))
    elif prof == "regs":
        E.append((start, {"type": "call", "sp_reg": "sp", "sp": 8}))
        E.append((start + 0x10, {"type": "regs", "sp_reg": "sp", "sp": 0}))
    elif prof == "partial":
        E.append((start, {"type": "call", "sp_reg": "sp", "sp": 8}))
        E.append((start + 0x10, {"type": "partial", "sp_reg": "sp", "sp": 0}))
    elif prof == "exc":      # noreturn call to panic ends at +0x16
        E.append((start, {"type": "call", "sp_reg": "sp", "sp": 8}))
        E.append((start + 4, {"type": "call", "sp_reg": "sp", "sp": 0x18}))
        E.append((start + 0x16, {"type": "undefined"}))
    elif prof == "buggy":    # interrupted at +7: only the exact ip is right
        E.append((start, {"type": "call", "sp_reg": "sp", "sp": 8}))
        E.append((start + 4, {"type": "undefined"}))
        E.append((start + 7, {"type": "call", "sp_reg": "sp", "sp": 0x18}))
    elif prof == "halt":     # interrupted at +0xb
        E.append((start, {"type": "call", "sp_reg": "sp", "sp": 8}))
        E.append((start + 0xA, {"type": "undefined"}))
        E.append((start + 0xB, {"type": "call", "sp_reg": "sp", "sp": 8}))
    elif prof == "bp":       # push %rbp; mov %rsp,%rbp
        E.append((start, {"type": "call", "sp_reg": "sp", "sp": 8}))
        E.append((start + 1, {"type": "call", "sp_reg": "sp", "sp": 16,
                              "bp_reg": "prev_sp", "bp": -16}))
        E.append((start + 4, {"type": "call", "sp_reg": "bp", "sp": 16,
                              "bp_reg": "prev_sp", "bp": -16}))
    else:
        _, f = prof
        E.append((start, {"type": "call", "sp_reg": "sp", "sp": 8}))
        E.append((start + 4, {"type": "call", "sp_reg": "sp", "sp": f}))
    return E


def cfa_off(prof):
    if isinstance(prof, tuple):
        return prof[1]
    return {"exc": 0x18, "buggy": 0x18, "halt": 8}[prof]


class Stack:
    def __init__(self, lay, pa):
        self.pa, self.va = pa, lay.dmap(pa)
        self.top = self.va + THREAD_SIZE
        self.buf = bytearray(THREAD_SIZE)

    def put(self, va, val):
        assert self.va <= va < self.top, hex(va)
        struct.pack_into("<Q", self.buf, va - self.va, val & M64)

    def regs(self, va, regs):
        for i, r in enumerate(PT_REGS):
            self.put(va + 8 * i, regs.get(r, 0))


def parse(lines, parse_int):
    cfg = {"cpus": "1", "percpu": "absolute", "orc": "old", "btf": "yes",
           "state": "new", "itf": "yes", "tick": "yes", "hz": "250",
           "uptime_ms": "4460", "load": "0,0,0", "bigsym": "no",
           "names": ""}
    tasks = []
    for toks in lines:
        kv = dict(t.split("=", 1) for t in toks[1:] if "=" in t)
        pos = [t for t in toks[1:] if "=" not in t]
        if toks[0] == "analyzer":
            unknown = set(kv) - set(cfg)
            if unknown:
                raise Error("analyzer: unknown %s" % ", ".join(sorted(unknown)))
            cfg.update(kv)
        else:
            if len(pos) != 2:
                raise Error("task PID COMM [key=value ...]")
            t = {"pid": parse_int(pos[0]), "comm": pos[1],
                 "ppid": parse_int(kv.get("ppid", "0")),
                 "state": kv.get("state", "S"),
                 "kthread": kv.get("kthread", "no") == "yes",
                 "cpu": parse_int(kv.get("cpu", "0")),
                 "stack": kv.get("stack", "")}
            t["tgid"] = parse_int(kv.get("tgid", str(t["pid"])))
            if t["state"] not in STATE:
                raise Error("task %d: unknown state %r" % (t["pid"], t["state"]))
            tasks.append(t)
    if not any(t["pid"] == 1 for t in tasks):
        raise Error("analyzer fixtures need a task 1 (it panics)")
    return cfg, tasks


def build(d, mem, lines, vmci_note, lay):
    """lay: kva, kpa, dmap, text_virt, image_size, uts (6 strings),
    crashtime (int or None), printk (kprintk block lines), parse_int,
    unescape, Note."""
    cfg, tasks = parse(lines, lay.parse_int)
    if lay.image_size < 0x400000:
        raise Error("analyzer fixtures need image_size=0x400000")
    ncpu = int(cfg["cpus"])
    if ncpu not in (1, 2):
        raise Error("analyzer: cpus must be 1 or 2")
    percpu = cfg["percpu"]
    kva, kpa, dmap = lay.kva, lay.kpa, lay.dmap
    rnd = random.Random(7)

    # ---- text: functions and their ORC entries
    mem.write(kpa(IMG_FUNCS), bytes(IMG_ETEXT - IMG_FUNCS))
    fn, prof = {}, {}
    ren = dict(p.split(":", 1) for p in cfg["names"].split(",") if p)
    syms = [("_stext", "T", kva(0), False), ("_etext", "T", kva(IMG_ETEXT), False)]
    orc = []
    a = kva(IMG_FUNCS)
    for i, (name, size, p) in enumerate(FUNCS):
        fn[name], prof[name] = a, p
        syms.append((ren.get(name, name), "T" if i % 3 else "t", a, False))
        orc += orc_entries(name, a, size, p)
        a += (size + 0x3F) & ~0x3F
    for i in range(24):          # filler, for token compression variety
        syms.append(("filler_%s_%d" % (rnd.choice(["sched", "vfs", "mm",
                                                   "net"]), i), "t", a, False))
        orc.append((a, {"type": "call", "sp_reg": "sp", "sp": 8}))
        a += 0x40
    if cfg["bigsym"] == "yes":   # a name longer than 127 tokens (6.1+ 2-byte length)
        big = "big_" + "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789")
                               for _ in range(420))
        syms.append((big, "t", a, False))
        orc.append((a, {"type": "call", "sp_reg": "sp", "sp": 8}))
        a += 0x40
    orc.append((a, {"type": "undefined"}))
    if a > kva(IMG_ETEXT):
        raise Error("text area overflow")

    def put_code(va, b):
        mem.write(kpa(va - lay.text_virt), b)

    def call_bytes(ret, target):
        """e8 rel32 ending at ret (a direct call of target)."""
        put_code(ret - 5, b"\xe8" + struct.pack("<i", target - ret))

    # ---- data symbols
    D = kva(IMG_DATA)
    data = {"jiffies_64": D, "avenrun": D + 0x10, "max_pfn": D + 0x30,
            "_totalram_pages": D + 0x38, "__cpu_online_mask": D + 0x40,
            "__per_cpu_offset": D + 0x80, "init_task": kva(IMG_INIT_TASK)}
    if cfg["tick"] == "yes":
        data["tick_nsec"] = D + 0x28
    for n, v in data.items():
        syms.append((n, "D" if n != "init_task" else "d", v, False))
    pcpu_base = 0 if percpu == "absolute" else kva(IMG_PCPU)
    runqueues = pcpu_base + RUNQUEUES_OFF
    syms.append(("runqueues", "d", runqueues, percpu == "absolute"))
    syms.append(("fixed_percpu_data", "D", pcpu_base, percpu == "absolute"))
    pcpu_off = [dmap(PA_PCPU + c * 0x40000) - pcpu_base for c in range(ncpu)]

    def w64(va, v):
        mem.write(kpa(va - lay.text_virt), struct.pack("<Q", v & M64))

    hz = int(cfg["hz"])
    init_j = (-300 * hz) & 0xFFFFFFFF
    uptime_ms = lay.parse_int(cfg["uptime_ms"])
    jiffies = init_j + uptime_ms * hz // 1000
    w64(data["jiffies_64"], jiffies)
    if "tick_nsec" in data:
        w64(data["tick_nsec"], (1000000000 + hz // 2) // hz)
    load = [lay.parse_int(x) for x in cfg["load"].split(",")]
    for i in range(3):
        w64(data["avenrun"] + 8 * i, load[i])
    max_pfn = max(l.paddr + l.memsz for l in d.loads if not l.ktext) // 4096
    totalram = max_pfn - 0x400
    w64(data["max_pfn"], max_pfn)
    w64(data["_totalram_pages"], totalram)
    w64(data["__cpu_online_mask"], (1 << ncpu) - 1)
    for c in range(8):
        w64(data["__per_cpu_offset"] + 8 * c, pcpu_off[c] if c < ncpu else 0)

    # ---- tasks
    all_tasks = [{"pid": 0, "tgid": 0, "ppid": 0, "comm": "swapper/0",
                  "state": "R", "kthread": True, "cpu": 0, "stack": "",
                  "addr": kva(IMG_INIT_TASK), "idle": 0}]
    for c in range(1, ncpu):
        all_tasks.append({"pid": 0, "tgid": 0, "ppid": 1,
                          "comm": "swapper/%d" % c, "state": "R",
                          "kthread": True, "cpu": c, "stack": "", "idle": c})
    for t in tasks:
        t["idle"] = None
        all_tasks.append(t)
    nslot = 0
    for t in all_tasks:
        if "addr" not in t:
            t["addr"] = dmap(PA_TASKS + nslot * 0x1000)
            t["stack_pa"] = PA_STACKS + nslot * THREAD_SIZE
            nslot += 1
        else:
            t["stack_pa"] = kpa(IMG_INIT_STACK)
    by_pid = {t["pid"]: t for t in all_tasks if t["idle"] is None}
    leaders = [t for t in all_tasks if t["idle"] is None and t["pid"] == t["tgid"]]
    init = all_tasks[0]
    structs = {t["addr"]: bytearray(TS_SIZE) for t in all_tasks}
    old_state = cfg["state"] == "old"

    def tput(t, off, fmt, *v):
        struct.pack_into(fmt, structs[t["addr"]], off, *v)

    sig_of = {}
    for i, t in enumerate(leaders):
        sig_of[t["pid"]] = dmap(PA_SIGNAL + i * 0x100)
    for t in all_tasks:
        st, ex = STATE[t["state"]]
        tput(t, OFF["ti_cpu"], "<I", t["cpu"])
        tput(t, OFF["state"], "<Q" if old_state else "<I", st)
        tput(t, OFF["exit_state"], "<i", ex)
        tput(t, OFF["flags"], "<I", (PF_KTHREAD if t["kthread"] else 0) | 0x40)
        tput(t, OFF["pid"], "<i", t["pid"])
        tput(t, OFF["tgid"], "<i", t["tgid"])
        if t["idle"] is not None:
            parent = init if t["idle"] == 0 else by_pid[1]
        else:
            lead = by_pid.get(t["tgid"], t)
            parent = by_pid.get(lead["ppid"], init) if lead["ppid"] else init
        t["ppid_expect"] = parent["tgid"]
        tput(t, OFF["real_parent"], "<Q", parent["addr"])
        tput(t, OFF["stack"], "<Q", dmap(t["stack_pa"]) if t is not init
             else kva(IMG_INIT_STACK))
        tput(t, OFF["comm"], "16s", t["comm"].encode()[:15])
        tput(t, OFF["signal"], "<Q", sig_of.get(t["tgid"], 0)
             if t["idle"] is None else 0)
        # empty thread_node unless linked below
        me = t["addr"] + OFF["thread_node"]
        tput(t, OFF["thread_node"], "<QQ", me, me)

    def link(head_va, head_buf, head_off, items, off):
        """Write a list_head ring: head (in head_buf at head_off) and items'
        list_heads at off."""
        ring = [head_va] + [x["addr"] + off for x in items]
        for k, node in enumerate(ring):
            nxt, prv = ring[(k + 1) % len(ring)], ring[k - 1]
            if k == 0:
                struct.pack_into("<QQ", head_buf, head_off, nxt, prv)
            else:
                struct.pack_into("<QQ", structs[items[k - 1]["addr"]], off,
                                 nxt, prv)

    link(init["addr"] + OFF["tasks"], structs[init["addr"]], OFF["tasks"],
         [t for t in leaders if t["pid"] > 0], OFF["tasks"])
    for i, lead in enumerate(leaders):
        members = [lead] + [t for t in all_tasks if t["idle"] is None and
                            t["tgid"] == lead["pid"] and t is not lead]
        sig = bytearray(0x100)
        link(sig_of[lead["pid"]] + SIG_THREAD_HEAD, sig, SIG_THREAD_HEAD,
             members, OFF["thread_node"])
        mem.write(PA_SIGNAL + i * 0x100, bytes(sig))

    # run queues: CPU 0 runs pid 1, CPU 1 its idle task
    curr = [by_pid[1]] + [t for t in all_tasks if t["idle"] == 1]
    idle = [init] + [t for t in all_tasks if t["idle"] == 1]
    for c in range(ncpu):
        rq = bytearray(RQ_SIZE)
        struct.pack_into("<Q", rq, RQ_CURR, curr[c]["addr"])
        struct.pack_into("<Q", rq, RQ_IDLE, idle[c]["addr"])
        mem.write(PA_PCPU + c * 0x40000 + RUNQUEUES_OFF, bytes(rq))
        curr[c]["active"] = c

    # ---- stacks and registers
    notes_regs = []
    expect_bt = {}
    stacks = {}

    def stack_of(t):
        if t["addr"] not in stacks:
            stacks[t["addr"]] = Stack(lay, t["stack_pa"])
        return stacks[t["addr"]]

    def frame(f, n, sp, how, rel=True, exc=None):
        e = {"function": ren.get(f, f), "offset": n, "sp": sp, "how": how,
             "reliable": rel}
        if exc:
            e["exception"] = exc
        return e

    # CPU 0: the panic path
    t1 = by_pid[1]
    S = stack_of(t1)
    p_user = S.top - 168
    uregs = {r: 0x1000 + 0x11 * i for i, r in enumerate(PT_REGS)}
    uregs.update(ip=0x47B7A0, cs=0x33, flags=0x202, sp=0x7FFE3AC9DB78,
                 ss=0x2B, ax=(-38) & M64, orig_ax=1)
    S.regs(p_user, uregs)
    chain = []           # (function, ret offset, cfa) built outward -> inward
    ent = fn["entry_SYSCALL_64_after_hwframe"]
    ret = ent + 0x20
    cfa = p_user
    frames_out = [frame("entry_SYSCALL_64_after_hwframe", 0x20, p_user, "orc",
                        exc={"user": True, "address": p_user,
                             "partial": False, "regs": uregs})]
    # do_syscall_64, ksys_write by ORC
    S.put(cfa - 8, ret)
    sp_do = cfa - cfa_off(prof["do_syscall_64"])
    frames_out.append(frame("do_syscall_64", 0x40, sp_do, "orc"))
    S.put(sp_do - 8, fn["do_syscall_64"] + 0x40)
    sp_k = sp_do - cfa_off(prof["ksys_write"])
    frames_out.append(frame("ksys_write", 0x30, sp_k, "fp"))
    # fp_function: push %rbp frame, called indirectly (no e8 at the site)
    S.put(sp_k - 8, fn["ksys_write"] + 0x30)
    S.put(sp_k - 16, 0x1234)
    bp_fp = sp_k - 16
    sp_fp = bp_fp - 0x20
    frames_out.append(frame("fp_function", 0x20, sp_fp, "orc"))
    S.put(sp_fp - 8, fn["fp_function"] + 0x20)
    S.put(sp_fp - 16, bp_fp)
    bp_c = sp_fp - 16
    sp_c = bp_c - 0x30
    frames_out.append(frame("caller_with_bp", 0x10, sp_c, "orc"))
    S.put(sp_c - 8, fn["caller_with_bp"] + 0x10)
    sp_b = sp_c - cfa_off("buggy")
    frames_out.append(frame("buggy_function", 7, sp_b, "orc"))
    p_k = sp_b - 168 - 8
    kregs = {r: 0x2000 + 0x11 * i for i, r in enumerate(PT_REGS)}
    kregs.update(ip=fn["buggy_function"] + 7, cs=0x10, flags=0x10246, sp=sp_b,
                 ss=0x18, bp=bp_c, orig_ax=M64)
    S.regs(p_k, kregs)
    frames_out.append(frame("asm_exc_invalid_op", 0x1A, p_k, "orc",
                            exc={"user": False, "address": p_k,
                                 "partial": False, "regs": kregs}))
    S.put(p_k - 8, fn["asm_exc_invalid_op"] + 0x1A)
    sp_e = p_k - cfa_off("exc")
    frames_out.append(frame("exc_invalid_op", 0x16, sp_e, "orc"))
    S.put(sp_e - 8, fn["exc_invalid_op"] + 0x16)
    sp_p = sp_e - cfa_off(prof["panic"])
    frames_out.append(frame("panic", 0x40, sp_p, "retaddr"))
    S.put(sp_p - 8, fn["panic"] + 0x40)
    call_bytes(fn["panic"] + 0x40, fn["__crash_kexec"])
    sp_ck = sp_p - 0x60
    # decoys in __crash_kexec's frame: its own address (fixed_regs.ip) and a
    # return address whose call targets another function
    S.put(sp_ck + 0x10, fn["__crash_kexec"] + 0x11A)
    S.put(sp_ck + 0x20, fn["schedule"] + 0x20)
    call_bytes(fn["schedule"] + 0x20, fn["__schedule"])
    frames_out.append(frame("__crash_kexec", 0x11A, sp_ck, "regs"))
    frames_out.reverse()
    cregs = {r: 0x3000 + 0x11 * i for i, r in enumerate(PT_REGS)}
    cregs.update(ip=fn["__crash_kexec"] + 0x11A, sp=sp_ck, cs=0x10, ss=0x18,
                 flags=0x46, bp=0)
    notes_regs.append((1, cregs))
    expect_bt["cpu0"] = {"cpu": 0, "pid": 1, "panic": True,
                         "frames": frames_out}

    # CPU 1: idle, interrupted in native_safe_halt
    if ncpu == 2:
        t = [x for x in all_tasks if x["idle"] == 1][0]
        S = stack_of(t)
        seq = ["secondary_startup_64", "start_secondary", "cpu_startup_entry",
               "do_idle", "default_idle"]
        rets = {"secondary_startup_64": 0x30, "start_secondary": 0x12A,
                "cpu_startup_entry": 0x26, "do_idle": 0x206,
                "default_idle": 0x10}
        sp = S.top - 0x10
        fr = [frame("secondary_startup_64", 0x30, sp, "orc")]
        for caller, callee in zip(seq, seq[1:] + ["native_safe_halt"]):
            S.put(sp - 8, fn[caller] + rets[caller])
            if callee == "native_safe_halt":
                sp = sp - 8
                fr.append(frame(callee, 0xB, sp, "orc"))
            else:
                sp = sp - cfa_off(prof[callee])
                fr.append(frame(callee, rets[callee], sp, "orc"))
        iret_at = sp - 48
        iret = {"ip": fn["native_safe_halt"] + 0xB, "cs": 0x10, "flags": 0x246,
                "sp": sp, "ss": 0x18}
        for i, r in enumerate(("ip", "cs", "flags", "sp", "ss")):
            S.put(iret_at + 8 * i, iret[r])
        fr.append(frame("asm_common_interrupt", 0x20, iret_at, "orc",
                        exc={"user": False, "address": iret_at - 128,
                             "partial": True, "regs": iret}))
        S.put(iret_at - 8, fn["asm_common_interrupt"] + 0x20)
        sp_ih = iret_at - cfa_off(prof["intr_handler"])
        fr.append(frame("intr_handler", 8, sp_ih, "regs"))
        fr.reverse()
        iregs = {r: 0x4000 + 0x11 * i for i, r in enumerate(PT_REGS)}
        iregs.update(ip=fn["intr_handler"] + 8, sp=sp_ih, cs=0x10, ss=0x18,
                     flags=0x46)
        notes_regs.append((0, iregs))
        expect_bt["cpu1"] = {"cpu": 1, "pid": 0, "panic": False, "frames": fr}

    # blocked and stuck tasks
    for t in all_tasks:
        if t["stack"] == "blocked":
            S = stack_of(t)
            sp = S.top - 168
            fr = [frame("ret_from_fork", 0x10, sp, "orc")]
            for caller, callee, r in (("ret_from_fork", "kthreadd", 0x10),
                                      ("kthreadd", "schedule", 0x50),
                                      ("schedule", "__schedule", 0x20)):
                S.put(sp - 8, fn[caller] + r)
                sp -= cfa_off(prof[callee])
                fr.append(frame(callee, {"kthreadd": 0x50, "schedule": 0x20,
                                         "__schedule": 0x3C}[callee], sp,
                                "regs" if callee == "__schedule" else "orc"))
            fr.reverse()
            tsp = sp - 56
            S.put(tsp + 40, 0)                          # bp
            S.put(tsp + 48, fn["__schedule"] + 0x3C)    # ret_addr
            tput(t, OFF["thread_sp"], "<Q", tsp)
            expect_bt["pid%d" % t["pid"]] = {"cpu": t["cpu"], "pid": t["pid"],
                                             "panic": False, "frames": fr}
        elif t["stack"] == "stuck":
            S = stack_of(t)
            tsp = S.va + 0x3000
            S.put(tsp + 40, 0)
            S.put(tsp + 48, fn["mystery_function"] + 0x10)
            S.put(S.va + 0x3100, fn["worker_thread"] + 0x30)
            S.put(S.va + 0x3200, 0xDEADBEEF)
            S.put(S.va + 0x3300, fn["kthread"] + 0x20)
            tput(t, OFF["thread_sp"], "<Q", tsp)
            expect_bt["pid%d" % t["pid"]] = {
                "cpu": t["cpu"], "pid": t["pid"], "panic": False, "frames": [
                    frame("mystery_function", 0x10, tsp + 56, "regs"),
                    frame("worker_thread", 0x30, S.va + 0x3100, "scan", False),
                    frame("kthread", 0x20, S.va + 0x3300, "scan", False)]}
    for t in all_tasks:
        mem.write(kpa(t["addr"] - lay.text_virt) if t is init
                  else t["addr"] - lay.dmap(0), bytes(structs[t["addr"]]))
    for s in stacks.values():
        mem.write(s.pa, bytes(s.buf))

    # ---- BTF
    btf_blob = b""
    if cfg["btf"] == "yes":
        btf_blob = make_btf(old_state, cfg["itf"] == "yes")
    syms.append(("__start_BTF", "R", kva(IMG_BTF), False))
    syms.append(("__stop_BTF", "R", kva(IMG_BTF) + len(btf_blob), False))
    if cfg["btf"] != "yes":
        syms = [s for s in syms if s[0] not in ("__start_BTF", "__stop_BTF")]
    mem.write(kpa(IMG_BTF), btf_blob)

    # ---- ORC tables
    ips, orcs = korc.tables(orc, kva(IMG_ORC_IP), cfg["orc"])
    syms += [("__start_orc_unwind_ip", "R", kva(IMG_ORC_IP), False),
             ("__stop_orc_unwind_ip", "R", kva(IMG_ORC_IP) + len(ips), False),
             ("__start_orc_unwind", "R", kva(IMG_ORC), False),
             ("__stop_orc_unwind", "R", kva(IMG_ORC) + len(orcs), False)]
    mem.write(kpa(IMG_ORC_IP), ips)
    mem.write(kpa(IMG_ORC), orcs)

    # ---- kallsyms
    tab = ksyms.Tables(syms, percpu)
    addrs, blob = tab.place(kva(IMG_KALLSYMS))
    if len(blob) > IMG_ORC_IP - IMG_KALLSYMS:
        raise Error("kallsyms area overflow")
    mem.write(kpa(IMG_KALLSYMS), blob)
    vmci = ["SYMBOL(%s)=%x" % (n, addrs[n]) for n in
            ("kallsyms_names", "kallsyms_num_syms", "kallsyms_token_table",
             "kallsyms_token_index", "kallsyms_offsets",
             "kallsyms_relative_base")]

    # ---- NT_PRSTATUS notes, before VMCOREINFO as /proc/vmcore has them
    grp = next(g for g in d.ptnotes if vmci_note in g)
    at = grp.index(vmci_note)
    for k, (pid, regs) in enumerate(notes_regs):
        desc = bytearray(336)
        struct.pack_into("<i", desc, 32, pid)
        for i, r in enumerate(PT_REGS):
            struct.pack_into("<Q", desc, 112 + 8 * i, regs.get(r, 0) & M64)
        grp.insert(at + k, lay.Note("CORE", 1, bytes(desc)))

    # ---- expected answers
    ps = []
    for t in all_tasks:
        ps.append({"pid": t["pid"], "tgid": t["tgid"], "ppid": t["ppid_expect"],
                   "cpu": t["cpu"], "active_cpu": t.get("active"),
                   "state": t["state"], "comm": t["comm"],
                   "kthread": t["kthread"], "task": "0x%x" % t["addr"]})
    ps.sort(key=lambda x: (x["pid"], -1 if x["active_cpu"] is None
                           else x["active_cpu"]))
    panic = None
    for toks in lay.printk:
        if toks[0] == "dmesg" and len(toks) > 1:
            text = lay.unescape(toks[1]).decode("utf-8", "replace")
            if text.startswith("Kernel panic - not syncing"):
                panic = text.split("\n")[0]
    la = []
    for x in load:
        x += 2048 // 200
        la.append("%d.%02d" % (x >> 11, ((x & 2047) * 100) >> 11))
    d.az_expect = {
        "symbols": tab.listing(), "big_symbols": tab.big,
        "ps": None if cfg["btf"] != "yes" else ps,
        "bt": expect_bt,
        "sys": {"sysname": lay.uts[0], "nodename": lay.uts[1],
                "release": lay.uts[2], "version": lay.uts[3],
                "machine": lay.uts[4], "domainname": lay.uts[5],
                "cpus": ncpu, "crash_time": lay.crashtime,
                "uptime_ms": (jiffies - init_j) * 1000 // hz, "hz": hz,
                "jiffies": jiffies, "load_average": ", ".join(la),
                "max_pfn": max_pfn, "totalram_pages": totalram,
                "tasks": len(all_tasks) if cfg["btf"] == "yes" else None,
                "panic": panic},
    }
    return vmci


def make_btf(old_state, itf):
    b = kbtf.Builder()
    u8 = b.int_("unsigned char", 1)
    char = b.int_("char", 1, signed=True)
    u32 = b.int_("unsigned int", 4)
    i32 = b.int_("int", 4, signed=True)
    u64 = b.int_("long unsigned int", 8)
    i64 = b.int_("long int", 8, signed=True)
    pid_t = b.typedef("pid_t", i32)
    vptr = b.ptr(0)
    lh = b.forward_struct("list_head")
    lhp = b.ptr(lh)
    b.struct_("list_head", 16, [("next", lhp, 0), ("prev", lhp, 8)], tid=lh)
    ti = b.struct_("thread_info", 24, [("flags", u64, 0),
                                       ("syscall_work", u64, 8),
                                       ("status", u32, 16), ("cpu", u32, 20)])
    th = b.struct_("thread_struct", 0x100, [("tls_array", u64, 0),
                                            ("sp", u64, 0x18),
                                            ("es", u32, 0x20)])
    ts = b.forward_struct("task_struct")
    tsp = b.ptr(ts)
    sig = b.struct_("signal_struct", 0x100, [("sigcnt", i32, 0),
                                             ("thread_head", lh, SIG_THREAD_HEAD)])
    sigp = b.ptr(sig)
    comm = b.array(char, u32, 16)
    cpid = b.const(pid_t)
    anon = b.struct_("", 0x20, [("pid", cpid, OFF["pid"] - OFF["anon"]),
                                ("tgid", pid_t, OFF["tgid"] - OFF["anon"])])
    members = [("thread_info", ti, OFF["thread_info"]),
               ("state" if old_state else "__state",
                i64 if old_state else u32, OFF["state"]),
               ("stack", vptr, OFF["stack"]), ("flags", u32, OFF["flags"]),
               ("on_cpu", i32, OFF["on_cpu"]), ("tasks", lh, OFF["tasks"]),
               ("mm", vptr, OFF["mm"]), ("", anon, OFF["anon"]),
               ("exit_state", i32, OFF["exit_state"]),
               ("real_parent", tsp, OFF["real_parent"]),
               ("thread_node", lh, OFF["thread_node"]),
               ("signal", sigp, OFF["signal"]), ("comm", comm, OFF["comm"]),
               ("thread", th, OFF["thread"])]
    b.struct_("task_struct", TS_SIZE, members, tid=ts)
    b.struct_("rq", RQ_SIZE, [("nr_running", u32, 0), ("curr", tsp, RQ_CURR),
                              ("idle", tsp, RQ_IDLE)])
    if itf:
        b.struct_("inactive_task_frame", 56,
                  [(n, u64, 8 * i) for i, n in enumerate(
                      ("r15", "r14", "r13", "r12", "bx", "bp", "ret_addr"))])
    b.struct_("unused_for_size", 1, [("x", u8, 0)])
    return b.blob()


class Layout:
    """Where kmem.py put things: address helpers, utsname, log lines."""

    def __init__(self, **kw):
        self.__dict__.update(kw)
