"""The 8086/8088 bus interface unit (BIU) and execution-unit (EU) timing, clock by clock.

The functional core (core/cpu.pyx) executes an instruction; this module then replays what
the instruction did on a model of the two halves of the chip and says how many clocks it
took and what the bus did in each of them.  Only the 8086 and 8088 use it (core/machine.py
selects it by model); the 286 and later keep the documented tables of core/timing.py.

How the chip works (Intel 8086 data sheet; the 8086 microcode as reverse-engineered and
published; docs/8086-timing.md has the details and the figures):

* The EU runs microcode, one line per clock.  It takes instruction bytes from the prefetch
  queue (the first byte in the loader's first clock, a ModR/M byte in its second clock,
  immediates and displacements when the microcode asks for them), and asks the BIU for
  memory and I/O transfers, waiting for them.
* The BIU runs bus cycles T1 T2 T3 T4 (this model has no wait states: the suites' memory
  has none).  Whenever the EU does not need the bus and the queue has room (6-byte queue,
  word fetches on the 8086; 4 bytes, byte fetches on the 8088) it fetches code.  What it
  does after a cycle is decided at that cycle's T3: an EU request that arrived before T3
  gets the bus next; otherwise a fetch is scheduled, and an EU request arriving later
  aborts it at a cost of two clocks.  From an idle bus a cycle starts three clocks after
  the request (the BIU's state change).
* A jump flushes the queue and restarts fetching at the new address; some instructions
  suspend prefetching first.  The 8086 fetches a single byte at an odd address, and splits
  a word transfer at an odd address into two byte cycles.

The time base is the suites': clock 0 is the clock whose queue status shows the
instruction's first byte (the status lines report a queue operation one clock late, so a
byte taken from the queue in clock t shows in record t+1), and the instruction ends when
the next instruction's first byte is taken.
"""

import ctypes

# Bus cycle kinds, named as the suites' bus-status column names them.
CODE, MEMR, MEMW, IOR, IOW, INTA, HALT, PASV = (
    "CODE", "MEMR", "MEMW", "IOR", "IOW", "INTA", "HALT", "PASV")
_T_NAMES = ("Ti", "T1", "T2", "T3", "T4")
# Segment numbers as the CPU numbers them (ES CS SS DS) -> the suites' names.
SEG_NAMES = ("ES", "CS", "SS", "DS")
ES, CS, SS, DS = 0, 1, 2, 3

# What the BIU does after a bus cycle, decided at its T3.
_NEXT_IDLE, _NEXT_FETCH, _NEXT_EU = 0, 1, 2

# Clocks from the event that wakes an idle BIU (a queue read making room, a flush, an EU
# request) to T1 of the cycle it starts: the BIU's state machine needs three.
IDLE_TO_T1 = 3
# Clocks lost when an EU request arrives after the T3 that scheduled a fetch: the fetch is
# abandoned before its T1 and the EU's cycle starts two clocks later.
ABORT_PENALTY = 2

# EU operations (tuples; the first item is the code).
OP_Q, OP_I, OP_R, OP_W, OP_FLUSH, OP_SUSP, OP_INTA, OP_QF = range(8)


class _Cycle:
    __slots__ = ("kind", "seg", "addr", "bhe", "data", "nbytes", "t", "req", "more", "stale")

    def __init__(self, kind, seg, addr, bhe, data, nbytes, req, more):
        self.kind = kind
        self.seg = seg
        self.addr = addr
        self.bhe = bhe          # BHE# pin level: 0 = the high byte lane is in use
        self.data = data
        self.nbytes = nbytes
        self.t = 1
        self.req = req          # the EU transfer this cycle serves; None for a code fetch
        self.more = more        # the second byte cycle of a split word follows
        self.stale = False      # a fetch whose bytes a flush made worthless


class _Req:
    __slots__ = ("kind", "seg", "addr", "width", "data", "posted", "started", "last",
                 "release", "suspend", "addr2")

    def __init__(self, kind, seg, addr, width, data, posted, release):
        self.kind = kind
        self.seg = seg
        self.addr = addr
        self.width = width
        self.data = data
        self.posted = posted
        self.started = False
        self.last = None        # the final byte/word cycle, once started
        self.release = release  # T-state of the last cycle in which the EU goes on
        self.suspend = False
        self.addr2 = None       # the high byte's address when not addr + 1


class BIU:
    """Bus interface unit, prefetch queue and EU sequencer of an 8086 (`bus_bits` 16) or
    8088 (8).  `read_code(physical)` supplies code bytes for the queue."""

    def __init__(self, bus_bits=16, read_code=None):
        self.wide = bus_bits == 16
        self.qsize = 6 if self.wide else 4
        self.read_code = read_code
        self.records = None
        self.load(0, 0, ())

    def load(self, cs, ip, queue):
        """Start state of the suites: `queue` holds the bytes from CS:IP on, the BIU is idle
        and fetches next from CS:IP + len(queue); the first byte leaves the queue in the
        clock before clock 0."""
        self.t = 0
        self.queue = list(queue)
        self.ready = [-1] * len(self.queue)
        self.cs = cs
        self.pc = (ip + len(self.queue)) & 0xFFFF
        self.cyc = None
        self.after = _NEXT_IDLE
        self.start_at = None            # clock the next cycle of an idle BIU starts
        self.suspended = False
        self.req = None
        self.eu_at = None               # clock the pending EU cycle starts
        self.flushed = False            # a flush came during the current cycle
        self.late_wake = False          # a queue read in T3 made room
        self.start_firm = True          # an EU request abandons the fetch at start_at
        self.qop = None                 # (qop, byte) taken in the previous clock
        self.qop_now = None
        self.untaken = None             # what the last first-byte read changed (untake)
        if self.queue:
            # The first byte left the queue in clock -1 (shown in record 0).
            self.ready[0] = -1
            self._take(-1, "F")

    # ------------------------------------------------------------------ queue
    def _room(self):
        need = 2 if self.wide and not (self.pc & 1) else 1
        return len(self.queue) + need <= self.qsize

    def _room_at_t3(self, c):
        # Decided at T3, counting the bytes of the fetch in flight.
        n = len(self.queue) + (c.nbytes if c.kind == CODE and not c.stale else 0)
        return n + (2 if self.wide else 1) <= self.qsize

    # ------------------------------------------------------------------ bus
    def _begin(self, kind, seg, addr, nbytes, req, more, data):
        if self.wide:
            bhe = 0 if (nbytes == 2 or addr & 1) else 1
        else:
            bhe = 1
        c = _Cycle(kind, seg, addr, bhe, data, nbytes, req, more)
        self.cyc = c
        if req is not None:
            req.started = True
            req.last = c
        return c

    def _fetch(self):
        phys = ((self.cs << 4) + self.pc) & 0xFFFFF
        n = 2 if self.wide and not (self.pc & 1) else 1
        self._begin(CODE, CS, phys, n, None, False, 0)

    def _eu_begin(self, r):
        if r.width == 2 and (not self.wide or r.addr & 1):
            self._begin(r.kind, r.seg, r.addr, 1, r, True, r.data & 0xFF)
        else:
            self._begin(r.kind, r.seg, r.addr, r.width, r, False, r.data)

    def tick(self):
        """The bus's state in clock self.t (call before the EU acts in that clock)."""
        t = self.t
        c = self.cyc
        if c is not None and c.t < 4:
            c.t += 1
            if c.t == 3 and not c.more:
                r = self.req
                if r is not None and not r.started and r.posted < t:
                    self.after = _NEXT_EU
                elif not self.suspended and self._room_at_t3(c):
                    self.after = _NEXT_FETCH
                else:
                    self.after = _NEXT_IDLE
            elif c.t == 4 and c.kind == CODE and not c.stale:
                a = c.addr
                for i in range(c.nbytes):
                    self.queue.append(self.read_code((a + i) & 0xFFFFF))
                    self.ready.append(t + 1)
                self.pc = (self.pc + c.nbytes) & 0xFFFF
            return
        if c is not None:
            # T4 was the last clock.
            self.cyc = None
            if c.more:
                r = c.req
                if r.addr2 is not None:
                    a2 = r.addr2        # offset 0xFFFF: the high byte wraps in the segment
                else:
                    a2 = (r.addr + 1) & (0xFFFFF if r.kind in (MEMR, MEMW) else 0xFFFF)
                self._begin(r.kind, r.seg, a2, 1, r, False, r.data >> 8)
                return
            after, self.after = self.after, _NEXT_IDLE
            flushed, self.flushed = self.flushed, False
            late, self.late_wake = self.late_wake, False
            r = self.req
            if after == _NEXT_EU and r is not None and not r.started:
                self._eu_begin(r)
                return
            if after == _NEXT_FETCH:
                if r is not None and not r.started:
                    self.eu_at = t + ABORT_PENALTY
                elif not self.suspended and self._room():
                    self._fetch()
                    return
            else:
                if not flushed:
                    self.start_at = None
                if late:
                    # A queue read in T3 made room after the decision: the BIU wakes
                    # at the end of the cycle.
                    self.start_at = t + IDLE_TO_T1
                    # Firm (an EU request then abandons it at its T1) when the queue has
                    # room for a word after the cycle's bytes and the reads up to T4.
                    self.start_firm = len(self.queue) + 2 <= self.qsize
                if r is not None and not r.started:
                    # Posted at or after T3 of a cycle that left the bus idle.
                    self.eu_at = max(r.posted, t - 1) + IDLE_TO_T1
        # Idle: a cycle starts when something woke the BIU (start_at).
        r = self.req
        if r is not None and not r.started:
            # An EU request cancels a fetch the idle BIU had not started yet.
            if self.eu_at is None:
                self.eu_at = max(r.posted + IDLE_TO_T1, t)
                if (self.start_at is not None and self.start_firm
                        and r.posted >= self.start_at - ABORT_PENALTY):
                    # The fetch the BIU was about to start is abandoned at its T1.
                    self.eu_at = max(self.eu_at, self.start_at + ABORT_PENALTY)
            if t >= self.eu_at:
                self.eu_at = None
                self.start_at = None
                self._eu_begin(r)
            return
        if self.start_at is not None and t >= self.start_at:
            self.start_at = None
            if not self.suspended and self._room():
                self._fetch()

    def record(self):
        """The record of clock self.t (after tick and the EU's action in it)."""
        c = self.cyc
        qop, qbyte = self.qop if self.qop else ("-", 0)
        if c is None:
            rec = (0, 0, "--", PASV, "Ti", qop, qbyte, 1)
        else:
            seg = SEG_NAMES[c.seg] if c.seg is not None and c.kind in (CODE, MEMR, MEMW) else "--"
            rec = (1 if c.t == 1 else 0, c.addr, seg, c.kind if c.t <= 2 else PASV,
                   _T_NAMES[c.t], qop, qbyte, c.bhe)
        self.records.append(rec)

    # ------------------------------------------------------------------ running
    def run(self, ops, record=False):
        """Run the EU operations `ops` of one instruction whose first byte was taken in
        the clock before this one (clock 0 of the instruction), then take the next
        instruction's first byte.  Returns the instruction's clocks (the suites' record
        count); with `record`, self.records holds one record per clock."""
        self.records = [] if record else None
        self.untaken = None
        t0 = self.t
        i = 0
        n = len(ops)
        left = 0                # internal clocks left in the current OP_I
        limit = t0 + 100000
        while True:
            if self.t > limit:
                raise RuntimeError("bus model: the EU never finished (queue starved?)")
            self.tick()
            t = self.t
            self.qop, self.qop_now = self.qop_now, None
            # The EU's work in clock t: any number of zero-time steps, then one that
            # consumes the clock (or a stall).
            while True:
                if i == n:
                    # The next instruction's first byte.
                    if self.queue and self.ready[0] <= t:
                        # Kept so that an interrupt taken at this boundary can give it
                        # back (the loader does not take a byte then).
                        self.untaken = (self.queue[0], self.ready[0], self.qop_now,
                                        self.late_wake, self.start_at, self.start_firm)
                        self._take(t, "F")
                        if record:
                            self.record()
                        # The F shows in the next instruction's first record.
                        self.t = t + 1
                        return t + 1 - t0
                    break
                op = ops[i]
                code = op[0]
                if code == OP_I:
                    if left == 0:
                        left = op[1]
                        if left == 0:
                            i += 1
                            continue
                    left -= 1
                    if left == 0:
                        i += 1
                    break
                if code == OP_Q or code == OP_QF:
                    if self.queue and self.ready[0] <= t:
                        self._take(t, "S" if code == OP_Q else "F")
                        i += 1
                    break
                if code == OP_R or code == OP_W or code == OP_INTA:
                    r = self.req
                    if r is None or r is not op[-1]:
                        r = op[-1]
                        r.posted = t
                        r.started = False
                        r.last = None
                        self.req = r
                        if r.suspend:
                            # Microcode that suspends prefetching as it asks for the bus.
                            self.suspended = True
                        # A request posted in this clock: nothing can finish now.
                        if self.cyc is None and self.start_at is None:
                            pass
                        break
                    c = r.last
                    if c is not None and not c.more and self.cyc is c and c.t == r.release:
                        self.req = None
                        i += 1
                        continue
                    break
                if code == OP_FLUSH:
                    self.queue.clear()
                    self.ready.clear()
                    self.cs, self.pc = op[1], op[2]
                    self.suspended = False
                    if self.cyc is not None and self.cyc.kind == CODE:
                        self.cyc.stale = True
                    self.qop_now = ("E", 0)
                    self.start_at = t + IDLE_TO_T1
                    self.start_firm = True
                    self.flushed = self.cyc is not None
                    i += 1
                    break
                if code == OP_SUSP:
                    # Suspend prefetching; a code fetch under way is waited for (to T4).
                    self.suspended = True
                    c = self.cyc
                    if c is not None and c.kind == CODE and c.t < 4:
                        break
                    self.start_at = None
                    i += 1
                    continue
                raise ValueError(f"unknown EU operation {op!r}")
            if record:
                self.record()
            self.t = t + 1

    def untake(self):
        """Undo the last run's final first-byte read: an interrupt is taken at that
        boundary instead (its microcode starts where the loader would have read)."""
        b, ready, qop_now, late, start_at, firm = self.untaken
        self.untaken = None
        self.queue.insert(0, b)
        self.ready.insert(0, ready)
        self.qop_now = qop_now
        self.late_wake, self.start_at, self.start_firm = late, start_at, firm

    def _take(self, t, kind):
        b = self.queue.pop(0)
        self.ready.pop(0)
        self.qop_now = (kind, b)
        c = self.cyc
        if (c is not None and c.t == 3 and not c.more and self.after == _NEXT_IDLE
                and not self.suspended and self._room()):
            self.late_wake = True
        if self.cyc is None and self.start_at is None and not self.suspended and self._room():
            # A read that makes room wakes an idle BIU.
            self.start_at = t + IDLE_TO_T1
            self.start_firm = True


def read(kind, seg, addr, width, release=4):
    return (OP_R, _Req(kind, seg, addr, width, 0, 0, release))


def write(kind, seg, addr, width, data=0, release=4):
    return (OP_W, _Req(kind, seg, addr, width, data, 0, release))


# ====================================================================================
# Decoding: what the microcode's timing depends on.

_SEG_PREFIX = {0x26: ES, 0x2E: CS, 0x36: SS, 0x3E: DS}
_PREFIXES = frozenset((0x26, 0x2E, 0x36, 0x3E, 0xF0, 0xF1, 0xF2, 0xF3))
# Opcodes with a ModR/M byte (8086 map, aliases included): the ALU rows' first four
# columns, 80-8F, C4-C7, D0-D3, the ESC block D8-DF, F6/F7 and FE/FF.
_MODRM = frozenset([op for op in range(0x40) if (op & 7) < 4] + list(range(0x80, 0x90))
                   + [0xC4, 0xC5, 0xC6, 0xC7] + list(range(0xD0, 0xD4))
                   + list(range(0xD8, 0xE0)) + [0xF6, 0xF7, 0xFE, 0xFF])


class Insn:
    """One decoded instruction with the state the timing depends on."""
    __slots__ = ("prefixes", "seg", "rep", "op", "pos", "code", "regs", "mod", "reg", "rm",
                 "mem", "ndisp", "ea", "eseg", "w", "mem8", "post", "post_cx",
                 "post_flags", "vec")

    def read8(self, a):
        return self.mem8(a)

    def phys(self, seg, off):
        return ((self.regs[_SEG_REG[seg]] << 4) + (off & 0xFFFF)) & 0xFFFFF


_SEG_REG = {ES: "es", CS: "cs", SS: "ss", DS: "ds"}
_EA_BASE = (("bx", "si"), ("bx", "di"), ("bp", "si"), ("bp", "di"), ("si",), ("di",), ("bp",),
            ("bx",))


def decode(code, regs):
    d = Insn()
    n = len(code)
    # Bytes past the ones read count as zeros (an instruction that long raises #UD or
    # is cut short; core/biu.pyx does the same).
    code = d.code = list(code) + [0] * 8
    d.regs = regs
    d.prefixes = []
    d.seg = None
    d.rep = 0
    i = 0
    while i < n - 1 and code[i] in _PREFIXES:
        b = code[i]
        d.prefixes.append(b)
        if b in _SEG_PREFIX:
            d.seg = _SEG_PREFIX[b]
        elif b in (0xF2, 0xF3):
            d.rep = b
        i += 1
    d.op = code[i]
    d.vec = None
    d.pos = i + 1
    d.w = d.op & 1
    d.mem = False
    d.mod = 3
    d.reg = d.rm = 0
    d.ndisp = 0
    if d.op in _MODRM and d.pos < n:
        m = code[d.pos]
        d.mod, d.reg, d.rm = m >> 6, (m >> 3) & 7, m & 7
        if d.mod != 3:
            d.mem = True
            p = d.pos + 1
            if d.mod == 0 and d.rm == 6:
                off = code[p] | code[p + 1] << 8
                dseg = DS
                d.ndisp = 2
            else:
                off = sum(regs[r] for r in _EA_BASE[d.rm])
                dseg = SS if d.rm in (2, 3, 6) else DS
                if d.mod == 1:
                    v = code[p]
                    off += v - 256 if v > 127 else v
                    d.ndisp = 1
                elif d.mod == 2:
                    off += code[p] | code[p + 1] << 8
                    d.ndisp = 2
            d.ea = off & 0xFFFF
            d.eseg = d.seg if d.seg is not None else dseg
    return d


# ====================================================================================
# The EU's microcode timing, as operation lists.

def _i(n):
    return (OP_I, n)


_Q = (OP_Q,)
_QF = (OP_QF,)


def prefix_ops(d):
    # A prefix is an instruction of its own to the loader: two clocks, then the next
    # byte is taken as a first byte.
    return [_i(1), _QF] * len(d.prefixes)


def ea_ops(d):
    """The effective-address microcode: base registers, then the displacement bytes."""
    if d.mod == 0 and d.rm == 6:
        return [_i(1), _Q, _Q, _i(1)]
    a = 5 if d.rm in (0, 3) else 6 if d.rm in (1, 2) else 3
    if d.mod == 0:
        return [_i(a)]
    return [_i(a), _Q, _Q if d.mod == 2 else _i(1), _i(2)]


def mem_read(d, width, off=None, seg=None):
    seg = d.eseg if seg is None else seg
    off = d.ea if off is None else off
    op = read(MEMR, seg, d.phys(seg, off), width)
    op[1].addr2 = d.phys(seg, off + 1)
    return op


def mem_write(d, width, off=None, seg=None, release=4):
    seg = d.eseg if seg is None else seg
    off = d.ea if off is None else off
    op = write(MEMW, seg, d.phys(seg, off), width, 0, release)
    op[1].addr2 = d.phys(seg, off + 1)
    return op


def _rm_op(d, p, reads=True, writes=True, imm=0):
    """r/m operand instructions: p = (register-form clocks, clocks after the operand read,
    clocks after the write)."""
    ops = [_Q]
    if not d.mem:
        ops += [_Q] * imm
        ops.append(_i(p[0]))
        return ops
    ops += ea_ops(d)
    w = 1 + d.w
    if reads:
        ops.append(mem_read(d, w))
    ops += [_Q] * imm
    ops.append(_i(p[1]))
    if writes:
        ops.append(mem_write(d, w, release=3 if p[2] == 0 else 4))
        ops.append(_i(p[2]))
    return ops


def r_alu(d, p):
    # 00-3B: ALU r/m,reg and reg,r/m; CMP (38-3B) writes nothing, and the reg-destination
    # forms write a register.
    cmp = d.op >> 3 == 7
    return _rm_op(d, p, writes=not (d.op & 2) and not cmp)


def r_imm(d, p):
    # 04,05,... ALU acc,imm; B0-BF MOV reg,imm; A8/A9 TEST.
    n = 1 + (d.op & 1) if d.op < 0xB0 else 1 + ((d.op >> 3) & 1)
    return [_i(p[0])] + [_Q] * n + [_i(p[1])]


def r_imp(d, p):
    return [_i(p[0])]


def r_mov_rm(d, p):
    # 8A/8B MOV reg,r/m and 84/85 TEST: the operand is read only.
    return _rm_op(d, p, writes=False)


def r_mov_mr(d, p):
    # 88/89 MOV r/m,reg: written only.
    return _rm_op(d, p, reads=False)


def r_rmw(d, p):
    # 86/87 XCHG: read, then written.
    return _rm_op(d, p)


def r_grp1(d, p):
    # 80-83: ALU r/m,imm (CMP, reg 7, writes nothing).  p = (register form, clocks
    # between the operand read and the immediate, clocks after the immediate, after the
    # write).  The immediate is taken from the queue after the operand has been read.
    imm = 2 if d.op == 0x81 else 1
    if not d.mem:
        return [_Q] + [_Q] * imm + [_i(p[0])]
    w = 1 + d.w
    ops = [_Q] + ea_ops(d) + [mem_read(d, w), _i(p[1])] + [_Q] * imm + [_i(p[2])]
    if d.reg != 7:
        ops += [mem_write(d, w, release=3 if p[3] == 0 else 4), _i(p[3])]
    return ops


def _sp(d, delta):
    return (d.regs["sp"] + delta) & 0xFFFF


def r_push(d, p):
    return [_i(p[0]), mem_write(d, 2, _sp(d, -2), SS, release=3 if p[1] == 0 else 4), _i(p[1])]


def r_pop(d, p):
    return [_i(p[0]), mem_read(d, 2, _sp(d, 0), SS), _i(p[1])]


def _flush(d):
    cs, ip = d.post
    return (OP_FLUSH, cs, ip)


def _taken(d):
    """Whether a conditional transfer jumps (even to the next instruction), from the
    state before it ran."""
    op = d.op
    f = d.regs["flags"]
    cf, pf, zf, sf, of = f & 1, (f >> 2) & 1, (f >> 6) & 1, (f >> 7) & 1, (f >> 11) & 1
    if 0x60 <= op <= 0x7F:
        cc = (op & 0x0F) >> 1
        v = (of, cf, zf, cf | zf, sf, pf, sf ^ of, (sf ^ of) | zf)[cc]
        return bool(v) != bool(op & 1)
    cx = d.regs["cx"]
    if op == 0xE3:
        return cx == 0
    cx = (cx - 1) & 0xFFFF
    if op == 0xE2:
        return cx != 0
    if op == 0xE1:
        return cx != 0 and zf == 1
    if op == 0xE0:
        return cx != 0 and zf == 0
    return d.post[1] != (d.regs["ip"] + len(d.prefixes) + _length(d)) & 0xFFFF or \
        d.post[0] != d.regs["cs"]


def _length(d):
    op = d.op
    if 0x70 <= op <= 0x7F or 0x60 <= op <= 0x6F or op in (0xEB, 0xE0, 0xE1, 0xE2, 0xE3):
        return 2
    if op in (0xE8, 0xE9):
        return 3
    return 1


def r_jcc(d, p):
    # Jcc rel8: the displacement is read either way; taken, the queue is flushed.
    ops = [_i(p[0]), _Q]
    if _taken(d):
        ops += [_i(p[1]), (OP_SUSP,), _i(p[2]), _flush(d), _i(p[4])]
    else:
        ops.append(_i(p[3]))
    return ops


def r_jmp(d, p):
    n = 2 if d.op == 0xE9 else 1
    return [_i(p[0])] + [_Q] * n + [_i(p[1]), (OP_SUSP,), _i(p[2]), _flush(d), _i(p[3])]


def r_shift(d, p):
    # D0-D3: shifts and rotates.  The microcode loops once per count (CL for D2/D3),
    # p = (register form, memory form after the read, clocks per count, after the write).
    n = 1 if d.op < 0xD2 else d.regs["cx"] & 0xFF
    if not d.mem:
        return [_Q, _i(p[0] + p[2] * n)]
    w = 1 + d.w
    return [_Q] + ea_ops(d) + [mem_read(d, w), _i(p[1] + p[2] * n),
                               mem_write(d, w, release=3 if p[3] == 0 else 4), _i(p[3])]


def _port(d):
    if d.op in (0xE4, 0xE5, 0xE6, 0xE7):
        return d.code[d.pos]
    return d.regs["dx"]


def _vector(d):
    if d.vec is not None:
        return d.vec                # a hardware interrupt: the controller's vector
    op = d.op
    if op == 0xCC:
        return 3
    if op == 0xCE:
        return 4
    if op == 0xCD:
        return d.code[d.pos]
    return 0


def dsl(spec):
    """A recipe from a word list.  `i` is the next number of `p` (internal clocks);
    Q a queue byte; S suspend prefetching; F flush to the instruction's target; E the
    effective address; M / Mw read the r/m operand (its width / a word), M2 the word after
    it; W write the r/m operand; PUSH / POP a stack word (successive slots); IVT0 / IVT2
    the interrupt vector's offset and segment; IN / OUT the port transfer; m the ModR/M
    byte; INTA an interrupt acknowledge bus cycle; @ (memory forms only) the rest runs
    only when the operand is in memory."""
    words = spec.split()

    def recipe(d, p):
        ops = []
        k = 0
        sp = d.regs["sp"]
        w = 1 + d.w
        for word in words:
            if word == "i":
                ops.append(_i(p[k]))
                k += 1
            elif word == "Q":
                ops.append(_Q)
            elif word == "m":
                ops.append(_Q)
            elif word == "S":
                ops.append((OP_SUSP,))
            elif word == "F":
                ops.append(_flush(d))
            elif word == "E":
                if d.mem:
                    ops += ea_ops(d)
            elif word == "M":
                if d.mem:
                    ops.append(mem_read(d, w))
            elif word == "Mw":
                if d.mem:
                    ops.append(mem_read(d, 2))
            elif word == "M2":
                if d.mem:
                    ops.append(mem_read(d, 2, (d.ea + 2) & 0xFFFF))
            elif word == "W" or word == "Ww":
                if d.mem:
                    ops.append(mem_write(d, 2 if word == "Ww" else w))
            elif word == "PUSH":
                sp = (sp - 2) & 0xFFFF
                ops.append(mem_write(d, 2, sp, SS))
            elif word == "POP" or word == "POPS":
                op = mem_read(d, 2, sp, SS)
                op[1].suspend = word == "POPS"
                ops.append(op)
                sp = (sp + 2) & 0xFFFF
            elif word == "IVT0" or word == "IVT2":
                a = _vector(d) * 4 + (2 if word == "IVT2" else 0)
                ops.append(read(MEMR, None, a, 2))
            elif word == "INTA":
                ops.append((OP_INTA, _Req(INTA, None, 0, 1, 0, 0, 4)))
            elif word == "IN":
                ops.append(read(IOR, None, _port(d), w))
            elif word == "OUT":
                ops.append(write(IOW, None, _port(d), w))
            elif word == "IMM":
                ops += [_Q] * w
            elif word == "XLAT":
                seg = d.seg if d.seg is not None else DS
                ops.append(mem_read(d, 1, (d.regs["bx"] + (d.regs["ax"] & 0xFF)) & 0xFFFF, seg))
            elif word == "@":
                if not d.mem:
                    break
            else:
                raise ValueError(f"recipe word {word!r}")
        # The last transfer of an instruction overlaps its RNI (the next first byte can
        # be taken in T3 of a final write).
        if ops and ops[-1][0] == OP_W:
            ops[-1][1].release = 3
        elif len(ops) > 1 and ops[-1] == _i(0) and ops[-2][0] == OP_W:
            ops[-2][1].release = 3
        return ops
    recipe.spec = spec          # core/biu.pyx compiles the same words
    return recipe


def dsl2(mem_spec, reg_spec):
    """A recipe with separate memory and register forms; the memory form's numbers come
    first in `p`."""
    mem, reg = dsl(mem_spec), dsl(reg_spec)
    k = mem_spec.split().count("i")

    def recipe(d, p):
        return mem(d, p[:k]) if d.mem else reg(d, p[k:])
    recipe.spec, recipe.reg_spec = mem_spec, reg_spec
    return recipe


def _flag(d, bit):
    return (d.regs["flags"] >> bit) & 1


def _aaa_adjusts(d):
    return (d.regs["ax"] & 0x0F) > 9 or _flag(d, 4)


# What the microcode of the data-dependent one-byte instructions branches on.
_BRANCH = {
    0x99: lambda d: d.regs["ax"] >> 15,             # CWD: AX negative
    0xD6: lambda d: _flag(d, 0),                    # SALC: CF set
    0x37: _aaa_adjusts,                             # AAA
    0x3F: _aaa_adjusts,                             # AAS
}


def r_branch(d, p):
    # p = (clocks, extra clocks when the microcode takes its branch)
    return [_i(p[0] + (p[1] if _BRANCH[d.op](d) else 0))]


def r_into(d, p):
    # INTO: without OF, a few clocks; with it, the INT3 sequence.
    if not _flag(d, 11):
        return [_i(p[0])]
    return _INTO_SPEC(d, p[1:])


def _operand(d):
    """The r/m operand's value before the instruction (mem: from the machine)."""
    w = d.w
    if d.mem:
        a = d.phys(d.eseg, d.ea)
        v = d.read8(a)
        if w:
            v |= d.read8(d.phys(d.eseg, d.ea + 1)) << 8
        return v
    r = d.regs
    if w:
        return r[("ax", "cx", "dx", "bx", "sp", "bp", "si", "di")[d.rm]]
    v = r[("ax", "cx", "dx", "bx")[d.rm & 3]]
    return v >> 8 if d.rm & 4 else v & 0xFF


def r_mul(d, p):
    # F6/F7 reg 4: MUL.  The microcode shifts the multiplier out bit by bit and adds the
    # multiplicand for each one bit.  p = (register form, memory form, per one bit, which
    # operand's bits: 0 the r/m operand, 1 the accumulator)
    src = _operand(d)
    acc = d.regs["ax"] & (0xFFFF if d.w else 0xFF)
    n = bin(src if p[3] == 0 else acc).count("1") * p[2]
    # The flags step takes a clock more when the product's high half is zero.
    if not (src * acc) >> (16 if d.w else 8):
        n += p[4]
    if not d.mem:
        return [_Q, _i(p[0] + n)]
    return [_Q] + ea_ops(d) + [mem_read(d, 1 + d.w), _i(p[1] + n)]


def cord_clocks(bits, a, b, c):
    """Clocks of the microcode's CORD division routine (restoring division, one quotient bit
    per pass) for dividend a:c and divisor b of `bits` bits, or None when the quotient
    overflows (the routine leaves for the divide-error interrupt)."""
    mask = (1 << bits) - 1
    top = 1 << (bits - 1)
    if a >= b:
        return None
    n = 3
    carry = False
    for i in range(bits, 0, -1):
        # Shift the dividend left one place (tmpc into tmpa), then try the subtraction.
        c = (c << 1) | carry
        carry_c = c >> bits
        c &= mask
        a = (a << 1) | carry_c
        carry = a >> bits
        a &= mask
        sub = (a - b) & mask
        borrow = a < b
        n += 4
        if carry:
            n += 3
            a = sub
            carry = False
            n += 1 if i > 1 else 2
        else:
            carry = borrow
            n += 2
            if not carry:
                a = sub
                n += 2
                n += 1 if i > 1 else 2
            else:
                n += 1
                if i > 1:
                    n += 1
    return n + 4


def r_div(d, p):
    # F6/F7 reg 6: DIV.  p = (register form, memory form) clocks around the CORD routine.
    src = _operand(d)
    r = d.regs
    if d.w:
        a, c, bits = r["dx"], r["ax"], 16
    else:
        a, c, bits = r["ax"] >> 8, r["ax"] & 0xFF, 8
    n = cord_clocks(bits, a, src, c)
    if n is None:
        return _divide_error(d, p[2 + d.mem])
    if not d.mem:
        return [_Q, _i(p[0] + n)]
    return [_Q] + ea_ops(d) + [mem_read(d, 1 + d.w), _i(p[1] + n)]


def r_imul(d, p):
    # F6/F7 reg 5: IMUL.  The microcode makes both operands positive (PREIMUL and the
    # NEGATE routine, a clock count for each sign), multiplies with CORX (a clock per one
    # bit of the accumulator's magnitude), negates the product when the signs differ (a
    # REP prefix flips that), then checks for overflow.  p = (register form, memory form,
    # clocks when the product fits the low half).
    bits = 16 if d.w else 8
    mask = (1 << bits) - 1
    top = 1 << (bits - 1)
    src = _operand(d)
    acc = d.regs["ax"] & mask
    acc_neg = bool(acc & top)
    src_neg = bool(src & top)
    mag_acc = (-acc) & mask if acc_neg else acc
    mag_src = (-src) & mask if src_neg else src
    n = 3 + (3 if acc_neg else 1)                  # PREIMUL
    n += 3 + (2 if src_neg else 3)                 # NEGATE from its 7th line
    n += bin(mag_acc).count("1")                   # CORX: one clock per one bit
    negate = acc_neg != src_neg
    if d.rep:
        negate = not negate
    if negate:
        n += 1 + 5 + 3 + (2 if mag_src & top else 3)
    prod = mag_acc * mag_src
    if negate:
        prod = -prod
    lo = prod & mask
    sext = lo - (1 << bits) if lo & top else lo
    if sext == prod:
        # The overflow check takes a clock more when the product fits the low half.
        n += p[2]
    if not d.mem:
        return [_Q, _i(p[0] + n)]
    return [_Q] + ea_ops(d) + [mem_read(d, 1 + d.w), _i(p[1] + n)]


def r_idiv(d, p):
    # F6/F7 reg 7: IDIV.  Both operands are made positive (a clock count per negative
    # one), CORD divides the magnitudes, and the quotient and remainder get their signs.
    # p = (register form, memory form, dividend negative, divisor negative, quotient
    # negated, remainder negated).
    bits = 16 if d.w else 8
    mask = (1 << bits) - 1
    top = 1 << (bits - 1)
    src = _operand(d)
    r = d.regs
    if d.w:
        dvd = (r["dx"] << 16) | r["ax"]
    else:
        dvd = r["ax"]
    dmask = (1 << (2 * bits)) - 1
    dvd_neg = bool(dvd >> (2 * bits - 1))
    src_neg = bool(src & top)
    mdvd = (-dvd) & dmask if dvd_neg else dvd
    msrc = (-src) & mask if src_neg else src
    n = cord_clocks(bits, mdvd >> bits, msrc, mdvd & mask)
    pre = p[2] * dvd_neg + p[3] * src_neg
    if n is None:
        return _divide_error(d, p[6 + d.mem] + pre)
    if (d.post[0], d.post[1]) != (r["cs"], (r["ip"] + len(d.prefixes) + 2 + d.ndisp) & 0xFFFF):
        # The quotient did not fit: the divide error comes after the division.
        return _divide_error(d, p[8 + d.mem] + pre + n)
    q_neg = dvd_neg != src_neg
    if d.rep:
        q_neg = not q_neg
    n += pre + p[4] * q_neg + p[5] * (dvd_neg and mdvd % msrc != 0)
    if not d.mem:
        return [_Q, _i(p[0] + n)]
    return [_Q] + ea_ops(d) + [mem_read(d, 1 + d.w), _i(p[1] + n)]


# String instructions: the transfers of one element (source read from DS:SI, or the
# segment override; destination ES:DI).
_STRING = {0xA4: "RW", 0xA5: "RW", 0xA6: "RD", 0xA7: "RD", 0xAA: "W", 0xAB: "W",
           0xAC: "R", 0xAD: "R", 0xAE: "D", 0xAF: "D"}


def _ended_by_flag(d):
    # REPE (F3) stops on ZF = 0, REPNE (F2) on ZF = 1, judged on the flags after the last
    # comparison.
    zf = (d.post_flags >> 6) & 1
    return zf == (1 if d.rep == 0xF2 else 0)


def r_string(d, p):
    """A4-AF.  p = (before, between transfers, after) without REP, then with REP: (count
    zero, before the first element, between transfers, between elements, after the last).
    The iterations are the ones the functional core ran (CX before minus after)."""
    kind = _STRING[d.op]
    w = 1 + d.w
    r = d.regs
    step = -w if (r["flags"] >> 10) & 1 else w
    seg = d.seg if d.seg is not None else DS
    n = 1
    if d.rep:
        n = (r["cx"] - d.post_cx) & 0xFFFF
        if n == 0:
            return [_i(p[3])]
    si, di = r["si"], r["di"]
    ops = [_i(p[0] if not d.rep else p[4])]
    for k in range(n):
        one = []
        for t in kind:
            if t == "R":
                one.append(mem_read(d, w, si, seg))
                si = (si + step) & 0xFFFF
            elif t == "D":
                one.append(mem_read(d, w, di, ES))
                di = (di + step) & 0xFFFF
            else:
                one.append(mem_write(d, w, di, ES))
                di = (di + step) & 0xFFFF
            one.append(None)
        if len(one) == 4:
            one[1] = _i(p[1] if not d.rep else p[5])
        last = k == n - 1
        end = p[7]
        if last and len(p) > 8 and d.post_cx == 0 and not _ended_by_flag(d):
            # CMPS/SCAS ended by the count rather than the flag; when the last element
            # ends both, the microcode leaves by the flag's way (full upstream suite:
            # REPNE CMPSB/SCASB whose last element is equal with CX reaching 0).
            end += p[8]
        one[-1] = _i(p[2] if not d.rep else (end if last else p[6]))
        ops += one
    if ops[-2][0] == OP_W and ops[-1] == _i(0):
        ops[-2][1].release = 3
    return ops


_INT_SPEC = dsl("IVT0 i IVT2 i PUSH i S i PUSH i F i PUSH i")
_INTO_SPEC = dsl("i IVT0 i IVT2 i PUSH i S i PUSH i F i PUSH i")
# The interrupt sequence's clocks from the vector read on (INT n, INT3, INTO, divide error).
_INT_PARAMS = (1, 2, 0, 4, 3, 2, 0)


# A hardware interrupt (INTR): the IRQ microcode runs two interrupt acknowledge bus cycles
# (the controller puts the vector on the bus in the second), suspends prefetching, and
# goes on into the interrupt sequence INT n runs from its vector read on.  Its clocks
# before the vector read (five) are the IRQ and INTR microcode lines of the reverse-
# engineered microcode.  No suite records a hardware interrupt; what checks it is the
# documented total: from a full queue and an idle bus it gives the 8086's 61 clocks, and
# the 8088's 81 (61 + 4 for each of its five word transfers done as byte pairs).
_IRQ_SPEC = dsl("INTA INTA S i IVT0 i IVT2 i PUSH i S i PUSH i F i PUSH i")
_IRQ_PARAMS = (5,) + _INT_PARAMS


def _divide_error(d, clocks):
    # The divide-error interrupt: the microcode leaves the division for the interrupt
    # sequence of INT 0 (the same one INT n runs from its vector read on).
    ops = [_Q]
    if d.mem:
        ops += ea_ops(d) + [mem_read(d, 1 + d.w)]
    return ops + [_i(clocks)] + _INT_SPEC(d, _INT_PARAMS)


def r_aam(d, p):
    # D4 AAM imm: AL divided by the immediate with CORD; a zero divisor is a divide error.
    # p = (before the immediate, after it, divide-error clocks)
    imm = d.code[d.pos]
    al = d.regs["ax"] & 0xFF
    n = cord_clocks(8, 0, imm, al)
    if n is None:
        return [_i(p[0]), _Q, _i(p[2])] + _INT_SPEC(d, _INT_PARAMS)
    return [_i(p[0]), _Q, _i(p[1] + n)]


def r_aad(d, p):
    # D5 AAD imm: AH times the immediate with CORX (a clock per one bit of the
    # multiplier p[2] selects: 0 AH, 1 the immediate), then added to AL.
    imm = d.code[d.pos]
    ah = d.regs["ax"] >> 8
    n = bin(ah if p[2] == 0 else imm).count("1")
    return [_i(p[0]), _Q, _i(p[1] + n)]


RECIPES = {}
PARAMS = {}


def _set(keys, fn, params):
    for k in keys:
        RECIPES[k] = fn
        PARAMS[k] = params


_set([f"{o:02X}" for o in range(0x40) if (o & 7) < 4], r_alu, (1, 3, 0))
for _o in range(0x40):
    if (_o & 7) in (0, 1) and _o >> 3 != 7:
        PARAMS[f"{_o:02X}"] = (1, 5, 0)
_set([f"{o:02X}" for o in range(0x40) if (o & 7) == 4], r_imm, (1, 1))
_set([f"{o:02X}" for o in range(0x40) if (o & 7) == 5], r_imm, (1, 0))
_set([f"{o:02X}" for o in range(0xB0, 0xB8)] + ["A8"], r_imm, (1, 1))
_set([f"{o:02X}" for o in range(0xB8, 0xC0)] + ["A9"], r_imm, (1, 0))
_set(["F8", "F9", "FA", "FB", "FC", "FD", "F5"] + [f"{o:02X}" for o in range(0x40, 0x50)],
     r_imp, (1,))
_set([f"{o:02X}" for o in range(0x90, 0x98)], r_imp, (2,))
_set(["8A", "8B"], r_mov_rm, (0, 2, 0))
_set(["84", "85"], r_mov_rm, (1, 3, 0))
_set(["88", "89"], r_mov_mr, (0, 4, 0))
_set(["86", "87"], r_rmw, (2, 6, 0))
_set([f"{o:02X}.{r}" for o in (0x80, 0x82, 0x83) for r in range(7)], r_grp1, (1, 2, 3, 0))
_set(["80.7", "82.7", "83.7"], r_grp1, (1, 2, 2, 0))
_set([f"81.{r}" for r in range(7)], r_grp1, (0, 2, 2, 0))
_set(["81.7"], r_grp1, (0, 2, 1, 0))
_set([f"{o:02X}" for o in range(0x50, 0x58)] + ["06", "0E", "16", "1E"], r_push, (4, 0))
_set([f"{o:02X}" for o in range(0x58, 0x60)] + ["07", "17", "1F"], r_pop, (1, 0))
_set([f"{o:02X}" for o in range(0x60, 0x80)], r_jcc, (1, 2, 4, 1, 0))
_set(["EB"], r_jmp, (1, 1, 4, 0))
_set(["E9"], r_jmp, (1, 0, 4, 0))


def r_moffs(d, p):
    # A0-A3: MOV acc,[addr16] / MOV [addr16],acc.
    off = d.code[d.pos] | d.code[d.pos + 1] << 8
    seg = d.seg if d.seg is not None else DS
    ops = [_i(p[0]), _Q, _Q, _i(p[1])]
    if d.op < 0xA2:
        ops += [mem_read(d, 1 + d.w, off, seg), _i(p[2])]
    else:
        ops += [mem_write(d, 1 + d.w, off, seg, release=3 if p[2] == 0 else 4), _i(p[2])]
    return ops


def r_mov_imm_rm(d, p):
    # C6/C7: MOV r/m,imm: the immediate comes after the address.
    n = 1 + d.w
    if not d.mem:
        return [_Q] + [_Q] * n + [_i(p[0])]
    return ([_Q] + ea_ops(d) + [_i(p[1])] + [_Q] * n + [_i(p[2]),
            mem_write(d, n, release=3 if p[3] == 0 else 4), _i(p[3])])


def r_unary(d, p):
    # F6/F7 reg 2,3 (NOT, NEG), FE/FF reg 0,1 (INC, DEC): read, modify, write.
    return _rm_op(d, p)


_set(["A0", "A1"], r_moffs, (1, 0, 0))
_set(["A2", "A3"], r_moffs, (1, 1, 0))
_set(["C6"], r_mov_imm_rm, (1, 2, 2, 0))
_set(["C7"], r_mov_imm_rm, (0, 2, 1, 0))
_set(["F6.2", "F6.3", "F7.2", "F7.3", "FE.0", "FE.1", "FF.0", "FF.1"], r_unary, (1, 4, 0))
_set(["98", "9F"], r_imp, (1,))
_set(["9E", "27", "2F"], r_imp, (3,))


_set([f"{o:02X}.{r}" for o in (0xD0, 0xD1) for r in range(8)], r_shift, (0, 4, 0, 0))
_set([f"{o:02X}.{r}" for o in (0xD2, 0xD3) for r in range(8)], r_shift, (6, 9, 4, 0))
_set(["E0", "E1", "E3"], r_jcc, (3, 2, 4, 1, 0))
_set(["E2"], r_jcc, (3, 1, 4, 0, 0))


_set(["E8"], dsl("i Q Q i S i F i PUSH i"), (1, 0, 4, 2, 0))
_set(["C3", "C1"], dsl("i POP i S i F i"), (1, 0, 1, 0))
_set(["C2", "C0"], dsl("i Q Q i POP i S i F i"), (1, 1, 0, 2, 0))
_set(["CB", "C9"], dsl("i POP i POP i S i F i"), (3, 3, 0, 0, 0))
_set(["CA", "C8"], dsl("i Q Q i POPS i POP i F i"), (1, 1, 3, 0, 0))
_set(["E4", "E5"], dsl("i Q i IN i"), (1, 1, 0))
_set(["EC", "ED"], dsl("i IN i"), (1, 0))
_set(["E6", "E7"], dsl("i Q i OUT i"), (1, 2, 0))
_set(["EE", "EF"], dsl("i OUT i"), (2, 0))


_set(["CD"], dsl("i Q i S i IVT0 i IVT2 i PUSH i PUSH i F i PUSH i"), (1, 2, 3, 1, 2, 4, 3, 2, 0))
_set(["CC"], dsl("i S i IVT0 i IVT2 i PUSH i PUSH i F i PUSH i"), (5, 3, 1, 2, 4, 3, 2, 0))
_set(["CF"], dsl("i POP i POP i S i F i POP i"), (3, 3, 0, 0, 1, 0))
_set(["9A"], dsl("i Q Q Q Q i S i PUSH i F i PUSH i"), (1, 1, 3, 3, 3, 0))
_set(["EA"], dsl("i Q Q Q Q i S i F i"), (1, 0, 2, 0))
_set(["FF.5"], dsl("m E M i S i M2 i F i"), (3, 1, 0, 0))
_set(["FF.3"], dsl("m E M i M2 i PUSH i S i F i PUSH i"), (3, 4, 0, 3, 3, 0))
_set(["FF.2"], dsl2("m E M i S i F i PUSH i", "m i S i F i PUSH i"), (2, 4, 2, 0, 1, 4, 2, 0))
_set(["FF.4"], dsl2("m E M i S i F i", "m i S i F i"), (2, 1, 0, 1, 1, 0))
_set(["8F", "8F.0"], dsl2("m E i POP i Ww i", "m i POP i"), (3, 3, 0, 1, 1))
_set(["FF.6", "FF.7"], dsl2("m E M i PUSH i", "m i PUSH i"), (5, 0, 4, 0))
_set(["C4", "C5"], dsl("m E Mw i M2 i"), (4, 0))
_set(["8D"], dsl("m E i"), (2,))
_set(["8C"], dsl2("m E i Ww i", "m i"), (3, 0, 0))
_set(["8E"], dsl2("m E Mw i", "m i"), (2, 0))
_set(["9C"], dsl("i PUSH i"), (4, 0))
_set(["9D"], dsl("i POP i"), (1, 0))
_set(["D7"], dsl("i XLAT i"), (4, 0))
_set(["F6.0", "F6.1"], dsl2("m E M i IMM i", "m i IMM i"), (2, 2, 1, 1))
_set(["F7.0", "F7.1"], dsl2("m E M i IMM i", "m i IMM i"), (2, 1, 1, 0))
_set([f"{o:02X}" for o in range(0xD8, 0xE0)], dsl2("m E Mw i", "m i"), (2, 0))


_set(["99"], r_branch, (4, 1))
_set(["D6"], r_branch, (2, 1))
_set(["37", "3F"], r_branch, (8, -1))
_set(["CE"], r_into, (3, 9, 1, 2, 0, 4, 3, 2, 0))


_set(["F6.4"], r_mul, (67, 68, 1, 1, 1))
_set(["F7.4"], r_mul, (115, 116, 1, 1, 1))
_set(["F6.6", "F7.6"], r_div, (8, 9, 15, 16))
# AAM 0 (a divide error) is not in the suite here; its clocks (the third number) are from
# the full upstream D4 file's 12 tests with a zero immediate.
_set(["D4"], r_aam, (1, 4, 12))
_set(["D5"], r_aad, (1, 56, 1))
_set(["A4", "A5", "AA", "AB"], r_string, (2, 1, 2, 6, 9, 1, 4, 3))
_set(["AE", "AF"], r_string, (4, 1, 4, 6, 11, 1, 9, 5, 1))
_set(["A6", "A7"], r_string, (3, 2, 4, 6, 10, 2, 8, 5, 1))
_set(["AC", "AD"], r_string, (2, 1, 3, 6, 9, 1, 7, 6))
_set(["F6.5"], r_imul, (67, 68, 1))
_set(["F7.5"], r_imul, (115, 116, 1))
_set(["F6.7", "F7.7"], r_idiv, (29, 30, 4, -1, 0, 0, 25, 26, 26, 27))


def file_key(d):
    op = d.op
    if op in (0x80, 0x81, 0x82, 0x83, 0xD0, 0xD1, 0xD2, 0xD3, 0xF6, 0xF7,
              0xFE, 0xFF):
        return f"{op:02X}.{d.reg}"
    return f"{op:02X}"


def eu_ops(d):
    """The EU operation list of instruction `d`, or None when it is not modelled."""
    key = file_key(d)
    fn = RECIPES.get(key) or RECIPES.get(key[:2])
    if fn is None:
        return None
    p = PARAMS.get(key) or PARAMS.get(key[:2])
    ops = fn(d, p)
    return None if ops is None else prefix_ops(d) + ops


# ====================================================================================
# The machine's side: replaying each executed instruction on the BIU model.

# The registers _CPU.bus_regs writes, in its order.
_BUS_REGS = ("ax", "cx", "dx", "bx", "sp", "bp", "si", "di", "es", "cs", "ss", "ds", "ip",
             "flags")
_BUS_NAMES = (INTA, IOR, IOW, MEMR, MEMW, HALT, CODE, PASV)
_QOP_NAMES = ("-", "F", "E", "S")


class BusTiming:
    """Clock-by-clock timing of an 8086/8088 Machine (`Machine(bus_timing=True)` makes
    one).  `step(machine)` executes one instruction on the functional core and returns
    the clocks the bus model gives it; the clock is corrected to match.  `execute`, when
    given, is what executes it (Machine.run passes a one-instruction `cpu.run`); its
    result is kept in `result`.  With `record`
    set, `records` holds the last instruction's per-clock records:
    (ALE, address, segment, bus status, T-state, queue op, queue byte, BHE#).

    An instruction the model does not cover yet keeps the documented table time and
    leaves the queue in the state the suites start from (full) for the next one.
    """

    def __init__(self, bus_bits=16):
        self.mem = None
        self._regs = (ctypes.c_uint16 * len(_BUS_REGS))()     # _CPU.bus_regs fills it
        self.biu = BIU(bus_bits, self._code)
        self.synced = False
        self.record = False
        self.records = []
        self.modelled = False       # whether the last step was timed by the bus model

    def _code(self, phys):
        return self.mem.read8(phys)

    def load_queue(self, cs, ip, queue):
        """Start the next instruction from a prefetch queue holding `queue` (the bytes at
        CS:IP onwards), the first of them about to be taken."""
        self.biu.load(cs, ip, list(queue))
        self.synced = True

    def _fill(self, cs, ip):
        # Out of step (after reset or an instruction not modelled): a full queue, as the
        # suites start.
        n = self.biu.qsize - (ip & 1 if self.biu.wide else 0)
        self.load_queue(cs, ip, [self.mem.read8(((cs << 4) + ((ip + k) & 0xFFFF)) & 0xFFFFF)
                                 for k in range(n)])

    def step(self, machine, execute=None):
        cpu = machine.cpu
        self.mem = machine.mem
        t0 = machine.clock.now
        status = cpu.bus_regs(ctypes.addressof(self._regs))
        regs = dict(zip(_BUS_REGS, self._regs))
        if status & 1:
            if status & 4 and self.synced and self.biu.untaken is not None:
                return self._interrupt(machine, execute, regs, t0)
            # What runs now is no instruction the model replays (an NMI is delivered, or
            # the CPU waits halted): the table's time, and the queue is refilled after.
            self.result = execute() if execute is not None else cpu.step()
            self.synced = False
            self.modelled = False
            self.records = []
            return machine.clock.now - t0
        cs, ip = regs["cs"], regs["ip"]
        code = [self.mem.read8(((cs << 4) + ((ip + k) & 0xFFFF)) & 0xFFFFF) for k in range(8)]
        self.result = execute() if execute is not None else cpu.step()
        table = machine.clock.now - t0
        if cpu.bus_regs(ctypes.addressof(self._regs)) >> 3 == status >> 3:
            # Nothing ran (a breakpoint or a stop request comes before the instruction):
            # the queue stays as it is for when it does.
            self.modelled = False
            self.records = []
            return table
        post = dict(zip(_BUS_REGS, self._regs))
        d = decode(code, regs)
        d.post = (post["cs"], post["ip"])
        d.mem8 = self.mem.read8
        d.post_cx = post["cx"]
        d.post_flags = post["flags"]
        ops = eu_ops(d)
        if ops is None:
            self.synced = False
            self.modelled = False
            self.records = []
            return table
        if not self.synced:
            self._fill(cs, ip)
        return self._replay(machine, ops, d.post, t0, table)

    def _interrupt(self, machine, execute, regs, t0):
        # An INTR delivery at the boundary where the last instruction read the next one's
        # first byte: the CPU takes the interrupt instead, so the read is undone and the
        # IRQ microcode runs from there.  The vector is the one the controller gives.
        cpu = machine.cpu
        ack = cpu.intr_ack
        vector = []

        def acknowledge():
            value = ack()
            vector.append(value & 0xFF)
            return value
        cpu.intr_ack = acknowledge
        try:
            self.result = execute() if execute is not None else cpu.step()
        finally:
            cpu.intr_ack = ack
        table = machine.clock.now - t0
        if not vector:
            # Not delivered after all (a stop request came first): nothing happened.
            self.modelled = False
            self.records = []
            return table
        cpu.bus_regs(ctypes.addressof(self._regs))
        post = dict(zip(_BUS_REGS, self._regs))
        d = decode([0x90], regs)
        d.vec = vector[0]
        d.post = (post["cs"], post["ip"])
        self.biu.untake()
        return self._replay(machine, _IRQ_SPEC(d, _IRQ_PARAMS), d.post, t0, table)

    def _replay(self, machine, ops, post, t0, table):
        b = self.biu
        try:
            n = b.run(ops, record=self.record)
        except RuntimeError:
            # A gap in the model must never stop the machine: fall back to the table.
            self.synced = False
            self.modelled = False
            self.records = []
            return table
        self.records = b.records or []
        self.modelled = True
        # The queue must now hold the bytes at the new CS:IP; if the model's idea of where
        # fetching is differs (a transfer it did not see), start over from a full queue.
        ncs, nip = post
        if b.cs != ncs or (b.pc - len(b.queue) - 1) & 0xFFFF != nip:
            self.synced = False
        machine.clock.now = t0 + n
        return n


def hardware_record(c):
    """A suite cycle record (JSON list or MOO tuple) as the tuple `records` holds."""
    ale, addr, seg, mem, io, bhe, data, status, t, qop, qbyte = c
    if isinstance(status, int):
        status = _BUS_NAMES[status] if status < 8 else PASV
        t = ("Ti", "T1", "T2", "T3", "T4", "Tw")[t]
        qop = _QOP_NAMES[qop]
        seg = ("ES", "SS", "CS", "DS", "--")[seg] if seg < 5 else "--"
    return (ale & 1, addr, seg, status, t, qop, qbyte, bhe & 1)


def trace_key(rec):
    """What the bus-trace comparison looks at in one clock: ALE, the address when ALE is
    up, the bus status while it is driven (T1/T2), the T-state and the queue operation."""
    ale, addr, seg, status, t, qop, qbyte, bhe = rec
    return (ale, addr if ale else 0, status if t in ("T1", "T2") else PASV, t, qop)


_CLASSES = (
    ("alu", [f"{o:02X}" for o in range(0x40) if (o & 7) < 6] + ["80", "81", "82", "83", "84", "85", "A8", "A9"]),
    ("incdec", [f"{o:02X}" for o in range(0x40, 0x50)] + ["FE.0", "FE.1", "FF.0", "FF.1"]),
    ("stack", [f"{o:02X}" for o in range(0x50, 0x60)] + ["06", "07", "0E", "16", "17", "1E", "1F",
                                                          "8F", "9C", "9D", "FF.6", "FF.7"]),
    ("jump", [f"{o:02X}" for o in range(0x60, 0x80)] + ["E0", "E1", "E2", "E3", "E8", "E9", "EA",
                                                          "EB", "9A", "C2", "C3", "CA", "CB",
                                                          "C0", "C1", "C8", "C9", "FF.2", "FF.3",
                                                          "FF.4", "FF.5"]),
    ("interrupt", ["CC", "CD", "CE", "CF"]),
    ("mov", ["86", "87", "88", "89", "8A", "8B", "8C", "8D", "8E", "A0", "A1", "A2", "A3", "C4",
             "C5", "C6", "C7"] + [f"{o:02X}" for o in range(0x90, 0x98)] + [f"{o:02X}" for o in range(0xB0, 0xC0)]),
    ("string", ["A4", "A5", "A6", "A7", "AA", "AB", "AC", "AD", "AE", "AF"]),
    ("shift", ["D0", "D1", "D2", "D3"]),
    ("muldiv", ["F6.4", "F6.5", "F6.6", "F6.7", "F7.4", "F7.5", "F7.6", "F7.7", "D4", "D5"]),
    ("unary", ["F6.0", "F6.1", "F6.2", "F6.3", "F7.0", "F7.1", "F7.2", "F7.3"]),
    ("io", ["E4", "E5", "E6", "E7", "EC", "ED", "EE", "EF"]),
    ("esc", [f"{o:02X}" for o in range(0xD8, 0xE0)]),
    ("misc", ["27", "2F", "37", "3F", "98", "99", "9E", "9F", "D6", "D7", "F5", "F8", "F9", "FA",
              "FB", "FC", "FD", "9B", "F4"]),
)
_CLASS_OF = {}
for _name, _keys in _CLASSES:
    for _k in _keys:
        _CLASS_OF.setdefault(_k, _name)


def opcode_class(key):
    """The instruction class of a suite file key ("00", "F6.7") for the per-class report."""
    return _CLASS_OF.get(key) or _CLASS_OF.get(key[:2]) or "other"
