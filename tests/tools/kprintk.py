"""kprintk.py - printk log buffers for the kernel builder (kmem.py), and the
`salvage dmesg` output expected from them.

Written from the kernel's writer side (kernel/printk/printk_ringbuffer.c of
5.10-6.19, kernel/printk/printk.c log_store() of 3.5-5.9) and from
makedumpfile 1.7.2's reader rules (docs/formats.md §2.5, 2.8, 3.6), without the
reader library.  The writer is simulated step by step on the same bytes the
dump will hold: descriptors are reserved, recycled and pushed, data blocks are
allocated, wrapped and invalidated as the kernel does it, so long logs through
small rings leave exactly the state a real kernel would.  Which records survive
is tracked by the simulation itself; the expected output is formatted from
that, in Python.

Block lines (inside `kernel ... end`):

    printk [format=lockless|logbuf] [count_bits=5] [size_bits=13]
           [start=zero|kernel] [exact_fit=no|yes] [caller=yes|no]
           [place=image|PHYS] [flags=N] [struct=printk_log|log] [dict=no|yes]
        lockless (5.10+, default): start=zero numbers ids and lpos from 0
        (the layout of the first fixtures); start=kernel starts as the kernel
        does (DESC0_ID = 2^62 - count - 1 and lpos -size, so ids wrap at 62
        bits and lpos at 64 bits early on).  exact_fit=yes: 6.19+ data
        allocation (commit 67e1b0052f6b: a block may end exactly at the ring's
        end).  caller=no drops OFFSET(printk_info.caller_id).  place=PHYS puts
        descs, infos and text in RAM at PHYS (direct map), as after
        log_buf_len= on the command line; default inside the kernel image.
        logbuf (3.5-5.9): size_bits is log_buf_len; caller=yes gives
        CONFIG_PRINTK_CALLER (SIZE(printk_log) 20); struct=log names it
        "log" (3.5-3.10); dict=yes adds a dictionary to every third record.
    dmesg "TEXT" [ts=NSEC] [level=N] [facility=N] [caller=T123|C4] [flags=N]
                 [state=finalized|committed|reserved|pending] [text_len=N]
        one record; TEXT takes C escapes (\\n makes a multi-line record, an
        empty TEXT a data-less one).  state=committed: not yet finalized (the
        next record finalizes it, as prb_reserve() does); reserved: a writer
        still filling it; pending: head_id moved on but the descriptor not yet
        claimed.  text_len=N overrides printk_info.text_len (truncated record).
    dmesg_fill N [seed=S] [min=A] [max=B] [ts=START] [step=NSEC]
        N generated records (A..B bytes, some multi-line, some with tabs,
        UTF-8 or control bytes, levels 0-7, task and CPU callers)
    printk_corrupt FIELD=V ... [error="TEXT"] [keep=N]
        damage after the simulation: count_bits size_bits head_id tail_id
        (+N/-N: relative to the real id) prb descs infos data (lockless;
        pointers are virtual addresses),
        log_buf_len log_first_idx log_next_idx (logbuf), rec=N len=V
        (logbuf: header len of the N-th surviving record), drop=KEY
        (VMCOREINFO key removed).  error="TEXT": reading must fail with a
        message containing TEXT after printing the first keep (default 0)
        expected records; without it the expected output is unchanged.
        warning="TEXT": reading succeeds with a warning containing TEXT.

Expected outputs (write_expected): FILE = makedumpfile --dump-dmesg text;
FILE.raw = `salvage dmesg --raw`; FILE.caller = `salvage dmesg --caller`;
FILE.error = the expected error text, only when reading must fail;
FILE.warning = the expected warning, only when one is due.
"""

import random
import struct

M64 = (1 << 64) - 1
ID_MASK = (1 << 62) - 1
RESERVED, COMMITTED, FINALIZED, REUSABLE = range(4)
STATE_NAMES = {"reserved": RESERVED, "committed": COMMITTED,
               "finalized": FINALIZED}
MISS = -1
FAILED_LPOS = 0x1          # data-less: allocation failed
EMPTY_LPOS = 0x3           # data-less: empty line (NO_LPOS before 6.x)
CALLER_CPU = 0x80000000

LINES = ("printk", "dmesg", "dmesg_fill", "printk_corrupt")

# 6.1 x86_64 layouts
SZ_PRB, SZ_PRB_DESC, SZ_PRINTK_INFO = 88, 24, 88
INFO_SEQ, INFO_TS, INFO_TEXT_LEN, INFO_FACILITY, INFO_LEVEL, INFO_CALLER = \
    0, 8, 16, 18, 19, 20
LOG_HDR = 16               # struct printk_log without caller_id
LOG_ALIGN = 4              # __packed __aligned(4) on x86_64
IMAGE_RING_LIMITS = (7, 15)  # count_bits, size_bits that fit the image area


class Record:
    def __init__(self, text, ts, level, facility, caller, flags, state,
                 text_len):
        self.text, self.ts, self.level, self.facility = text, ts, level, facility
        self.caller, self.flags, self.state = caller, flags, state
        self.text_len = text_len
        self.seq = None
        self.id = None           # descriptor id (lockless)
        self.off = None          # data offset of the text (lockless)
        self.alive = False       # committed/finalized and data not recycled
        self.shown = None        # bytes the reader prints (None: skipped)


def parse_caller(s, err):
    if not s or s[0] not in "TC" or not s[1:].isdigit():
        raise err("dmesg caller must be T<pid> or C<cpu>: %r" % s)
    v = int(s[1:])
    if v >= CALLER_CPU:
        raise err("dmesg caller id too large: %r" % s)
    return v | (CALLER_CPU if s[0] == "C" else 0)


def caller_name(cid):
    return "%s%d" % ("C" if cid & CALLER_CPU else "T", cid & ~CALLER_CPU)


def parse(lines, mk, err):
    cfg = {"format": "lockless", "count_bits": "5", "size_bits": "13",
           "start": "zero", "exact_fit": "no", "caller": "yes",
           "place": "image", "flags": "0", "struct": "printk_log",
           "dict": "no"}
    recs, corrupt = [], {}

    def add(text, o):
        i = len(recs)
        state = o.get("state", "finalized")
        if state not in STATE_NAMES and state != "pending":
            raise err("dmesg state must be finalized, committed, reserved "
                      "or pending")
        caller = o.get("caller")
        recs.append(Record(
            text, mk.parse_int(o.get("ts", str(1000000 * (i + 1)))),
            mk.parse_int(o.get("level", "6")),
            mk.parse_int(o.get("facility", "0")),
            parse_caller(caller, err) if caller else
            (CALLER_CPU if i % 3 == 0 else i + 1),
            mk.parse_int(o.get("flags", cfg["flags"])), state,
            mk.parse_int(o["text_len"]) if "text_len" in o else None))

    for toks in lines:
        what = toks[0]
        if what == "printk":
            _, o = mk.kv_args(toks[1:])
            unknown = set(o) - set(cfg)
            if unknown:
                raise err("unknown printk options %s" % sorted(unknown))
            cfg.update(o)
        elif what == "dmesg":
            if len(toks) < 2:
                raise err("dmesg needs a text")
            # first token is the text (it may contain '='), then options
            _, o = mk.kv_args(toks[2:])
            add(mk.unescape(toks[1]), o)
        elif what == "dmesg_fill":
            _, o = mk.kv_args(toks[2:])
            for text, opts in generate(mk.parse_int(toks[1]), o, mk):
                add(text, opts)
        elif what == "printk_corrupt":
            _, o = mk.kv_args(toks[1:])
            corrupt.update(o)
    return cfg, recs, corrupt


WORDS = ("usb pci acpi memory cpu irq dma virtio block net eth0 ext4 mounted "
         "device driver probe failed ok link up down reset timeout firmware "
         "loaded clocksource tsc hpet watchdog rcu stall task blocked for more "
         "than seconds").split()


def generate(n, o, mk):
    """Deterministic filler records with the awkward cases mixed in."""
    rnd = random.Random(mk.parse_int(o.get("seed", "1")))
    lo, hi = mk.parse_int(o.get("min", "8")), mk.parse_int(o.get("max", "90"))
    ts = mk.parse_int(o.get("ts", "1000000000"))
    step = mk.parse_int(o.get("step", "1234567"))
    out = []
    for i in range(n):
        want = rnd.randint(lo, hi)
        words = []
        while len(" ".join(words)) < want:
            words.append(rnd.choice(WORDS))
        text = " ".join(words)[:want].encode()
        r = rnd.random()
        if r < 0.08:
            cut = rnd.randint(1, max(1, len(text) - 1))
            text = text[:cut] + b"\n" + text[cut:]          # multi-line
        elif r < 0.12:
            text = text + b"\n  continued\n  and more"
        elif r < 0.16:
            text = text.replace(b" ", b"\t", 1)
        elif r < 0.19:
            text = text + b" caf\xc3\xa9 \x7f\x01"          # UTF-8, DEL, ^A
        elif r < 0.21:
            text = b""                                     # data-less
        caller = ("C%d" % rnd.randint(0, 3)) if rnd.random() < 0.3 else \
            ("T%d" % rnd.randint(0, 40000))
        out.append((text, {"ts": str(ts), "level": str(rnd.randint(0, 7)),
                           "facility": str(rnd.choice((0, 0, 0, 1, 3))),
                           "caller": caller}))
        ts += step + rnd.randint(0, 999)
    return out


# --------------------------------------------------------------------------
# 5.10+ lockless ring: the writer, step by step


class Lockless:
    def __init__(self, cb, sb, start, exact_fit, err):
        self.count, self.size = 1 << cb, 1 << sb
        self.exact_fit, self.err = exact_fit, err
        self.descs = bytearray(self.count * SZ_PRB_DESC)
        self.infos = bytearray(self.count * SZ_PRINTK_INFO)
        self.data = bytearray(self.size)
        self.by_id = {}
        # prb_reserve() derives seq from the slot's previous seq; the
        # kernel's static initialiser sets infos[0].seq = -count
        struct.pack_into("<Q", self.infos, 0, -self.count & M64)
        if start == "kernel":
            # _DEFINE_PRINTKRB: the last descriptor is the initial head and
            # tail (reusable, data-less); lpos starts one wrap below 0
            desc0 = -(self.count + 1) & ID_MASK
            self.head_id = self.tail_id = desc0
            self._desc(desc0, REUSABLE << 62 | desc0, FAILED_LPOS, FAILED_LPOS)
            self.head_lpos = self.tail_lpos = -self.size & M64
        elif start == "zero":
            self.head_id, self.tail_id = ID_MASK, 0
            self.head_lpos = self.tail_lpos = 0
        else:
            raise err("printk start must be zero or kernel")
        self.last_finalized = self.head_id

    # -- descriptor ring
    def _slot(self, id_):
        return id_ & (self.count - 1)

    def _desc(self, id_, sv=None, begin=None, nxt=None):
        off = self._slot(id_) * SZ_PRB_DESC
        cur = struct.unpack_from("<QQQ", self.descs, off)
        new = (cur[0] if sv is None else sv, cur[1] if begin is None else begin,
               cur[2] if nxt is None else nxt)
        struct.pack_into("<QQQ", self.descs, off, *new)
        return new

    def state(self, id_):
        sv = self._desc(id_)[0]
        return sv >> 62 if sv & ID_MASK == id_ else MISS

    def _set_state(self, id_, st):
        self._desc(id_, sv=st << 62 | id_)
        rec = self.by_id.get(id_)
        if rec is not None:
            rec.alive = st in (COMMITTED, FINALIZED)
        if st == FINALIZED:
            self.last_finalized = id_

    def make_reusable(self, id_):
        if self.state(id_) == FINALIZED:
            self._set_state(id_, REUSABLE)

    # -- data ring
    def _wraps(self, lpos):
        return (lpos & M64) // self.size

    def _same_wrap(self, begin, nxt):
        return self._wraps(begin) == self._wraps(nxt - 1 if self.exact_fit
                                                 else nxt)

    def _make_reusable_blocks(self, lpos_begin, lpos_end):
        while ((lpos_end - lpos_begin - 1) & M64) < self.size:
            blk_id, = struct.unpack_from(
                "<Q", self.data, lpos_begin & (self.size - 1))
            st = self.state(blk_id)
            if st in (MISS, RESERVED, COMMITTED):
                raise self.err("printk ring: data block of record %#x is "
                               "still in use (writers would drop messages "
                               "here: use a larger ring)" % blk_id)
            _, begin, nxt = self._desc(blk_id)
            if begin != lpos_begin:
                # the kernel's data_push_tail() fails here: the record
                # (with the space wasted by wrapping) is longer than the ring
                raise self.err("printk ring: a %d-byte ring cannot take this "
                               "record (the kernel would drop its text)"
                               % self.size)
            if st == FINALIZED:
                self.make_reusable(blk_id)
            lpos_begin = nxt
        return lpos_begin

    def _push_data_tail(self, lpos):
        if lpos & 1:                   # data-less lpos: nothing to push
            return
        while ((lpos - self.tail_lpos - 1) & M64) < self.size:
            self.tail_lpos = self._make_reusable_blocks(self.tail_lpos, lpos)

    def _push_desc_tail(self):
        tid = self.tail_id
        st = self.state(tid)
        if st in (MISS, RESERVED, COMMITTED):
            raise self.err("printk ring: cannot recycle descriptor %#x "
                           "(state %d): use a larger ring" % (tid, st))
        if st == FINALIZED:
            self.make_reusable(tid)
        self._push_data_tail(self._desc(tid)[2])
        nxt = (tid + 1) & ID_MASK
        if self.state(nxt) not in (FINALIZED, REUSABLE):
            raise self.err("printk ring: descriptor after the tail is not "
                           "finalized: use a larger ring")
        self.tail_id = nxt

    def _reserve_desc(self):
        id_ = (self.head_id + 1) & ID_MASK
        prev_wrap = (id_ - self.count) & ID_MASK
        if prev_wrap == self.tail_id:
            self._push_desc_tail()
        sv = self._desc(id_)[0]
        if sv and not (sv & ID_MASK == prev_wrap and sv >> 62 == REUSABLE):
            raise self.err("printk ring simulation: slot of %#x not reusable"
                           % id_)
        self.head_id = id_
        return id_

    def _alloc_data(self, id_, nbytes):
        """data_alloc(): returns the data offset of the text, or None."""
        if nbytes == 0:
            self._desc(id_, begin=EMPTY_LPOS, nxt=EMPTY_LPOS)
            return None
        size = (nbytes + 8 + 7) // 8 * 8
        if size > self.size // 2:
            raise self.err("dmesg record of %d bytes too long for a %d-byte "
                           "ring" % (nbytes, self.size))
        begin = self.head_lpos
        nxt = (begin + size) & M64
        if not self._same_wrap(begin, nxt):
            nxt = ((nxt & ~(self.size - 1)) + size) & M64
        self._push_data_tail((nxt - self.size) & M64)
        self.head_lpos = nxt
        struct.pack_into("<Q", self.data, begin & (self.size - 1), id_)
        off = (begin & (self.size - 1)) + 8
        if not self._same_wrap(begin, nxt):
            struct.pack_into("<Q", self.data, 0, id_)   # wrapped: data at 0
            off = 8
        self._desc(id_, begin=begin, nxt=nxt)
        return off

    def write(self, rec):
        if rec.state == "pending":
            # desc_reserve() moved head_id; the writer has not yet set the
            # descriptor's state_var
            self._reserve_desc()
            return
        id_ = self._reserve_desc()
        ioff = self._slot(id_) * SZ_PRINTK_INFO
        seq, = struct.unpack_from("<Q", self.infos, ioff)
        self.infos[ioff:ioff + SZ_PRINTK_INFO] = bytes(SZ_PRINTK_INFO)
        seq = self._slot(id_) if seq == 0 and self._slot(id_) else \
            (seq + self.count) & M64
        self._desc(id_, sv=RESERVED << 62 | id_)
        if seq > 0:                                    # desc_make_final()
            prev = (id_ - 1) & ID_MASK
            if self.state(prev) == COMMITTED:
                self._set_state(prev, FINALIZED)
        rec.seq = seq
        rec.id = id_
        self.by_id[id_] = rec
        off = self._alloc_data(id_, len(rec.text))
        if off is not None:
            self.data[off:off + len(rec.text)] = rec.text
        tl = len(rec.text) if rec.text_len is None else rec.text_len
        struct.pack_into("<QQHBBI", self.infos, ioff, seq, rec.ts, tl,
                         rec.facility, (rec.flags & 0x1F) | (rec.level & 7) << 5,
                         rec.caller)
        rec.off = off
        if rec.state != "reserved":
            self._set_state(id_, STATE_NAMES[rec.state])

    def shown(self, rec):
        """What makedumpfile prints for a live record: its block's bytes
        from the text on, at most text_len of them."""
        if rec.off is None:
            return None
        _, begin, nxt = self._desc(rec.id)
        end = (self.size if (nxt & (self.size - 1)) == 0
               else nxt & (self.size - 1))
        tl = len(rec.text) if rec.text_len is None else rec.text_len
        return bytes(self.data[rec.off:rec.off + min(tl, end - rec.off)])

    def expected(self, tail, head):
        """Live records with data, in id order from tail to head.  When a
        damaged tail/head pair spans more ids than the ring holds, only the
        last `count` ids up to head can be real (the reader reads those)."""
        if (head - tail) & ID_MASK >= self.count:
            tail = (head - self.count + 1) & ID_MASK
        out = []
        id_ = tail
        while True:
            rec = self.by_id.get(id_)
            if rec is not None and rec.alive and self.state(id_) in \
                    (COMMITTED, FINALIZED):
                text = self.shown(rec)
                if text is not None:
                    out.append((rec, text))
            if id_ == head:
                break
            id_ = (id_ + 1) & ID_MASK
        return out


def build_lockless(mem, cfg, recs, corrupt, lay):
    err = lay.error
    cb, sb = int(cfg["count_bits"]), int(cfg["size_bits"])
    ring = Lockless(cb, sb, cfg["start"], cfg["exact_fit"] == "yes", err)
    for rec in recs:
        ring.write(rec)
    if cfg["place"] == "image":
        if cb > IMAGE_RING_LIMITS[0] or sb > IMAGE_RING_LIMITS[1]:
            raise err("printk ring too large for the kernel image: use "
                      "place=PHYS")
        descs_va, infos_va, text_va = (lay.kva(lay.img_descs),
                                       lay.kva(lay.img_infos),
                                       lay.kva(lay.img_text))
        descs_pa, infos_pa, text_pa = (lay.kpa(lay.img_descs),
                                       lay.kpa(lay.img_infos),
                                       lay.kpa(lay.img_text))
    else:
        descs_pa = lay.mk.parse_int(cfg["place"])
        infos_pa = (descs_pa + len(ring.descs) + 4095) // 4096 * 4096
        text_pa = (infos_pa + len(ring.infos) + 4095) // 4096 * 4096
        if not (lay.in_ram(descs_pa) and lay.in_ram(text_pa + ring.size - 1)):
            raise err("printk place= not inside RAM")
        descs_va, infos_va, text_va = (lay.dmap(descs_pa), lay.dmap(infos_pa),
                                       lay.dmap(text_pa))
    # printk_ringbuffer: desc_ring {count_bits, descs, infos, head_id,
    # tail_id, last_finalized_id} (48), text_data_ring {size_bits, data,
    # head_lpos, tail_lpos} (32), fail (8) = 88 bytes
    f = {"count_bits": cb, "size_bits": sb, "head_id": ring.head_id,
         "tail_id": ring.tail_id, "descs": descs_va, "infos": infos_va,
         "data": text_va, "prb": lay.kva(lay.img_prb)}
    for k in list(f):
        if k in corrupt:
            v = corrupt[k]
            # head_id=+5, tail_id=-1000: relative to the real value
            f[k] = (f[k] + lay.mk.parse_int(v) if v[0] in "+-" else
                    lay.mk.parse_int(v)) & (ID_MASK if k.endswith("_id")
                                            and v[0] in "+-" else M64)
    expected = ring.expected(f["tail_id"] & ID_MASK, f["head_id"] & ID_MASK)
    prb = struct.pack("<I4xQQQQQ", f["count_bits"] & 0xFFFFFFFF, f["descs"],
                      f["infos"], f["head_id"], f["tail_id"],
                      ring.last_finalized)
    prb += struct.pack("<I4xQQQ", f["size_bits"] & 0xFFFFFFFF, f["data"],
                       ring.head_lpos, ring.tail_lpos)
    prb += struct.pack("<Q", 0)
    mem.write(lay.kpa(lay.img_prb), prb)
    mem.write(descs_pa, bytes(ring.descs))
    mem.write(infos_pa, bytes(ring.infos))
    mem.write(text_pa, bytes(ring.data))
    mem.write(lay.kpa(lay.v_prb), struct.pack("<Q", f["prb"]))
    # clear_seq: latched_seq {seqcount_latch_t (4) + pad, u64 val[2]}
    mem.write(lay.kpa(lay.v_clear_seq), struct.pack("<I4xQQ", 0, 0, 0))
    vmci = [
        "SYMBOL(prb)=%x" % lay.kva(lay.v_prb),
        "SYMBOL(printk_rb_static)=%x" % lay.kva(lay.img_prb),
        "SYMBOL(clear_seq)=%x" % lay.kva(lay.v_clear_seq),
        "SIZE(printk_ringbuffer)=%d" % SZ_PRB,
        "OFFSET(printk_ringbuffer.desc_ring)=0",
        "OFFSET(printk_ringbuffer.text_data_ring)=48",
        "OFFSET(printk_ringbuffer.fail)=80",
        "SIZE(prb_desc_ring)=48",
        "OFFSET(prb_desc_ring.count_bits)=0",
        "OFFSET(prb_desc_ring.descs)=8",
        "OFFSET(prb_desc_ring.infos)=16",
        "OFFSET(prb_desc_ring.head_id)=24",
        "OFFSET(prb_desc_ring.tail_id)=32",
        "SIZE(prb_desc)=%d" % SZ_PRB_DESC,
        "OFFSET(prb_desc.state_var)=0",
        "OFFSET(prb_desc.text_blk_lpos)=8",
        "SIZE(prb_data_blk_lpos)=16",
        "OFFSET(prb_data_blk_lpos.begin)=0",
        "OFFSET(prb_data_blk_lpos.next)=8",
        "SIZE(printk_info)=%d" % SZ_PRINTK_INFO,
        "OFFSET(printk_info.seq)=%d" % INFO_SEQ,
        "OFFSET(printk_info.ts_nsec)=%d" % INFO_TS,
        "OFFSET(printk_info.text_len)=%d" % INFO_TEXT_LEN,
        "OFFSET(printk_info.caller_id)=%d" % INFO_CALLER,
        "OFFSET(printk_info.dev_info)=24",
        "SIZE(dev_printk_info)=64",
        "OFFSET(dev_printk_info.subsystem)=0",
        "LENGTH(printk_info_subsystem)=16",
        "OFFSET(dev_printk_info.device)=16",
        "LENGTH(printk_info_device)=48",
        "SIZE(prb_data_ring)=32",
        "OFFSET(prb_data_ring.size_bits)=0",
        "OFFSET(prb_data_ring.data)=8",
        "OFFSET(prb_data_ring.head_lpos)=16",
        "OFFSET(prb_data_ring.tail_lpos)=24",
        "SIZE(atomic_long_t)=8",
        "OFFSET(atomic_long_t.counter)=0",
        "SIZE(latched_seq)=24",
        "OFFSET(latched_seq.val)=8",
    ]
    if cfg["caller"] != "yes":
        vmci.remove("OFFSET(printk_info.caller_id)=%d" % INFO_CALLER)
    return vmci, [(r, t, r.level, r.caller if cfg["caller"] == "yes" else None)
                  for r, t in expected]


# --------------------------------------------------------------------------
# 3.5-5.9 variable-length log_buf: log_store()


class LogBuf:
    def __init__(self, length, hdr, with_caller, err):
        self.buf = bytearray(length)
        self.len, self.hdr, self.with_caller = length, hdr, with_caller
        self.first_idx = self.next_idx = 0
        self.first_seq = self.next_seq = 0
        self.clear_idx = 0
        self.live = []            # (idx, rec) oldest first
        self.err = err

    def _reclen(self, idx):
        return struct.unpack_from("<H", self.buf, idx + 8)[0]

    def _next(self, idx):
        """log_next(): a zero len is the wrap marker."""
        n = self._reclen(idx)
        if n == 0:
            return self._reclen(0)
        return idx + n

    def _has_space(self, size, empty):
        if self.next_idx > self.first_idx or empty:
            free = max(self.len - self.next_idx, self.first_idx)
        else:
            free = self.first_idx - self.next_idx
        return free >= size + self.hdr

    def store(self, rec, dict_):
        size = self.hdr + len(rec.text) + len(dict_)
        pad = -size % LOG_ALIGN
        size += pad
        while self.first_seq < self.next_seq and \
                not self._has_space(size, False):
            self.first_idx = self._next(self.first_idx)
            self.first_seq += 1
            self.live.pop(0)
        if not self._has_space(size, self.first_seq == self.next_seq):
            raise self.err("dmesg record of %d bytes does not fit log_buf"
                           % len(rec.text))
        if self.next_idx + size + self.hdr > self.len:
            self.buf[self.next_idx:self.next_idx + self.hdr] = bytes(self.hdr)
            self.next_idx = 0
        i = self.next_idx
        tl = len(rec.text) if rec.text_len is None else rec.text_len
        hdr = struct.pack("<QHHHBB", rec.ts, size, tl, len(dict_),
                          rec.facility,
                          (rec.flags & 0x1F) | (rec.level & 7) << 5)
        if self.with_caller:
            hdr += struct.pack("<I", rec.caller)
        body = hdr + rec.text + dict_ + bytes(pad)
        self.buf[i:i + size] = body
        rec.seq = self.next_seq
        self.live.append((i, rec))
        self.next_idx += size
        self.next_seq += 1


def build_logbuf(mem, cfg, recs, corrupt, lay):
    err = lay.error
    with_caller = cfg["caller"] == "yes"
    hdr = LOG_HDR + (4 if with_caller else 0)
    length = 1 << int(cfg["size_bits"])
    lb = LogBuf(length, hdr, with_caller, err)
    for i, rec in enumerate(recs):
        if rec.state != "finalized" or rec.text_len is not None:
            raise err("logbuf records take no state= or text_len=")
        dict_ = (b"SUBSYSTEM=pci\0DEVICE=+pci:0000:00:%02x.0" % (i % 32)
                 if cfg["dict"] == "yes" and i % 3 == 1 else b"")
        lb.store(rec, dict_)
    # the reader cannot know log_first_seq (not exported): it numbers the
    # records it finds from 0
    expected = [(rec, rec.text, rec.level,
                 rec.caller if with_caller else None) for _, rec in lb.live]
    for k, (_, rec) in enumerate(lb.live):
        rec.seq = k
    if cfg["place"] == "image":
        if length > 1 << IMAGE_RING_LIMITS[1]:
            raise err("log_buf too large for the kernel image: use place=")
        buf_pa, buf_va = lay.kpa(lay.img_text), lay.kva(lay.img_text)
    else:
        buf_pa = lay.mk.parse_int(cfg["place"])
        if not (lay.in_ram(buf_pa) and lay.in_ram(buf_pa + length - 1)):
            raise err("printk place= not inside RAM")
        buf_va = lay.dmap(buf_pa)
    f = {"log_buf_len": length, "log_first_idx": lb.first_idx,
         "log_next_idx": lb.next_idx}
    for k in list(f):
        if k in corrupt:
            f[k] = lay.mk.parse_int(corrupt[k]) & 0xFFFFFFFF
    if "rec" in corrupt:
        idx = lb.live[lay.mk.parse_int(corrupt["rec"])][0]
        struct.pack_into("<H", lb.buf, idx + 8,
                         lay.mk.parse_int(corrupt["len"]) & 0xFFFF)
    # variables: char *log_buf; u32 log_buf_len, log_first_idx,
    # log_next_idx, clear_idx (placed in the printk area of the image)
    v = lay.img_prb
    mem.write(lay.kpa(v), struct.pack("<QIIII", buf_va, f["log_buf_len"],
                                      f["log_first_idx"], f["log_next_idx"],
                                      lb.clear_idx))
    mem.write(buf_pa, bytes(lb.buf))
    st = cfg["struct"]
    vmci = [
        "SYMBOL(log_buf)=%x" % lay.kva(v),
        "SYMBOL(log_buf_len)=%x" % lay.kva(v + 8),
        "SYMBOL(log_first_idx)=%x" % lay.kva(v + 12),
        "SYMBOL(clear_idx)=%x" % lay.kva(v + 20),
        "SYMBOL(log_next_idx)=%x" % lay.kva(v + 16),
        "SIZE(%s)=%d" % (st, hdr),
        "OFFSET(%s.ts_nsec)=0" % st,
        "OFFSET(%s.len)=8" % st,
        "OFFSET(%s.text_len)=10" % st,
        "OFFSET(%s.dict_len)=12" % st,
    ]
    if with_caller:
        vmci.append("OFFSET(%s.caller_id)=16" % st)
    return vmci, expected


# --------------------------------------------------------------------------


class Layout:
    """Where kmem.py put things: image offsets, address helpers."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


def build(mem, lines, lay):
    """Lay out the log; returns (VMCOREINFO lines, expected) where expected
    is written by write_expected()."""
    cfg, recs, corrupt = parse(lines, lay.mk, lay.error)
    if cfg["format"] == "lockless":
        vmci, shown = build_lockless(mem, cfg, recs, corrupt, lay)
    elif cfg["format"] == "logbuf":
        vmci, shown = build_logbuf(mem, cfg, recs, corrupt, lay)
    else:
        raise lay.error("printk format must be lockless or logbuf")
    if "drop" in corrupt:
        vmci = [l for l in vmci if not l.startswith(corrupt["drop"] + "=")]
    error = corrupt.get("error")
    if error is not None:
        shown = shown[:lay.mk.parse_int(corrupt.get("keep", "0"))]
    return vmci, {"records": shown, "error": error,
                  "warning": corrupt.get("warning")}


def mdf_text(ts, text, caller=None):
    """One record as makedumpfile 1.7.2 prints it; with caller, the kernel's
    "[%6s]" caller field after the timestamp."""
    prefix = "[%5d.%06d]" % (ts // 1000000000, ts % 1000000000 // 1000)
    if caller is not None:
        prefix += "[%6s]" % caller_name(caller)
    prefix += " "
    out = [prefix]
    for b in text:
        if b == 0x0A:
            out.append("\n" + " " * len(prefix))
        elif 0x20 <= b < 0x7F or 0x09 <= b <= 0x0D:   # isprint || isspace
            out.append(chr(b))
        elif b < 0x80:
            out.append("\\x%02x" % b)
        else:
            out.append("\\x%08x" % (b - 256 & 0xFFFFFFFF))  # signed char
    return "".join(out) + "\n"


def raw_text(rec, text, level, caller):
    esc = "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else "\\x%02x" % b
                  for b in text)
    return "%d,%s,%d,%s;%s\n" % (rec.seq, "-" if level is None else level,
                                 rec.ts, "-" if caller is None
                                 else caller_name(caller), esc)


def write_expected(expected, path):
    """FILE, FILE.raw, FILE.caller and (if reading must fail) FILE.error."""
    import os
    if expected is None:
        expected = {"records": [], "error": "no printk ring buffer symbols"}
    recs = expected["records"]
    with open(path, "w") as f:
        f.write("".join(mdf_text(r.ts, t) for r, t, _, _ in recs))
    with open(path + ".raw", "w") as f:
        f.write("".join(raw_text(r, t, lv, c) for r, t, lv, c in recs))
    with open(path + ".caller", "w") as f:
        f.write("".join(mdf_text(r.ts, t, c) for r, t, _, c in recs))
    for kind in ("error", "warning"):
        if expected.get(kind) is not None:
            with open(path + "." + kind, "w") as f:
                f.write(expected[kind] + "\n")
        elif os.path.exists(path + "." + kind):
            os.unlink(path + "." + kind)
