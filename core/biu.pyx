"""The 8086/8088 bus model of core/biu8086.py, compiled: what a Machine of those models runs.

core/biu8086.py is the model as readable Python: the bus interface unit clock by clock, the
decoding the timing depends on and the execution unit's microcode timing as recipes (the
mechanisms and the figures are described there and in docs/8086-timing.md).  This module
runs the same model at the speed of a whole machine:

* the BIU's state, its bus cycle and the prefetch queue are C fields, and the EU's
  operations of an instruction are a C array of structs (requests inside them), so a
  clock costs no Python object;
* the recipe tables (opcode and ModR/M reg -> recipe and its numbers, the word lists of
  the generic recipes) are built once, at import, from core/biu8086.py's own tables, so
  the figures live in one place; the recipe functions are ported one for one;
* the per-clock records (the tuples of core/biu8086.BIU.record) are built only when
  asked for (`BusTiming.record`).

tests/test_biu_compiled.py runs both on the same instructions and asserts identical clocks
and records; the 8086 suite (tests/test_biu8086.py) runs through this one.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport malloc, realloc, free
from core.bus cimport Bus, PAGE_SHIFT, PAGE_SIZE
from core.clock cimport Clock

from core import biu8086 as _py

# Bus cycle kinds (records name them as the suites do).
cdef enum:
    CODE = 0
    MEMR = 1
    MEMW = 2
    IOR = 3
    IOW = 4
    INTA = 5
    HALT = 6
    PASV = 7

_KIND_NAMES = (_py.CODE, _py.MEMR, _py.MEMW, _py.IOR, _py.IOW, _py.INTA, _py.HALT, _py.PASV)
_T_NAMES = ("Ti", "T1", "T2", "T3", "T4")
_SEG_NAMES = _py.SEG_NAMES
_QOP_NAMES = ("-", "F", "S", "E")       # index: QOP_* below

cdef enum:
    ES = 0
    CS = 1
    SS = 2
    DS = 3
    NO_SEG = -1

# Register slots of the uint16_t[14] the CPU fills (_CPU.bus_regs): the eight general
# registers in encoding order, the four segment registers in the CPU's order, IP, FLAGS.
cdef enum:
    R_AX = 0
    R_CX = 1
    R_DX = 2
    R_BX = 3
    R_SP = 4
    R_BP = 5
    R_SI = 6
    R_DI = 7
    R_SEG = 8
    R_IP = 12
    R_FLAGS = 13
    NREGS = 14

cdef enum:
    NEXT_IDLE = 0
    NEXT_FETCH = 1
    NEXT_EU = 2

cdef enum:
    QOP_NONE = 0
    QOP_F = 1
    QOP_S = 2
    QOP_E = 3

# The same constants as core/biu8086.py (checked at import below).
cdef enum:
    IDLE_TO_T1 = 3
    ABORT_PENALTY = 2

# EU operations (core/biu8086.OP_*).
cdef enum:
    OP_Q = 0
    OP_I = 1
    OP_R = 2
    OP_W = 3
    OP_FLUSH = 4
    OP_SUSP = 5
    OP_INTA = 6
    OP_QF = 7

cdef long long NONE = -(1LL << 62)      # "no clock" (None in the Python model)


cdef struct Cycle:
    int kind, seg
    uint32_t addr
    int bhe
    uint32_t data
    int nbytes, t
    int req             # index of the operation whose transfer this is, or -1
    bint more, stale


cdef struct Op:
    int code
    int n               # OP_I: clocks; OP_FLUSH: CS
    int ip              # OP_FLUSH: IP
    # OP_R / OP_W / OP_INTA: the transfer
    int kind, seg
    uint32_t addr
    int width
    uint32_t data
    long long posted
    bint started
    long long last      # id of its final cycle once started, else -1
    int release
    bint suspend
    long long addr2     # the high byte's address, or -1 for addr + 1


cdef class BIU:
    """Bus interface unit, prefetch queue and EU sequencer of an 8086 (`bus_bits` 16) or
    8088 (8), as core/biu8086.BIU; code bytes come from `bus`."""
    cdef readonly bint wide
    cdef readonly int qsize
    cdef public Bus bus
    cdef public list records
    cdef readonly long long t
    cdef uint8_t q[8]
    cdef long long qready[8]
    cdef int qn
    cdef readonly int cs, pc
    cdef Cycle cyc
    cdef bint has_cyc
    cdef long long cyc_id
    cdef int after
    cdef long long start_at
    cdef bint suspended
    cdef int req
    cdef long long eu_at
    cdef bint flushed, late_wake, start_firm
    cdef int qop_k, qop_b, qop_now_k, qop_now_b
    cdef Op* ops
    # What the last run's final first-byte read changed, for untake (u_valid: kept)
    cdef bint u_valid, u_late, u_firm
    cdef int u_byte, u_qop_k, u_qop_b
    cdef long long u_ready, u_start_at

    def __init__(self, bus_bits=16, Bus bus=None):
        self.wide = bus_bits == 16
        self.qsize = 6 if self.wide else 4
        self.bus = bus
        self.records = None
        self.load(0, 0, ())

    property queue:
        """The bytes in the prefetch queue."""
        def __get__(self):
            return [self.q[i] for i in range(self.qn)]

    def load(self, int cs, int ip, queue):
        """As core/biu8086.BIU.load: `queue` holds the bytes from CS:IP on, the first of
        them leaves the queue in the clock before clock 0."""
        if len(queue) > 8:
            raise ValueError("a prefetch queue holds at most 6 bytes, not %d" % len(queue))
        self.t = 0
        self.qn = 0
        for b in queue:
            self.q[self.qn] = b
            self.qready[self.qn] = -1
            self.qn += 1
        self.cs = cs & 0xFFFF
        self.pc = (ip + self.qn) & 0xFFFF
        self.has_cyc = False
        self.after = NEXT_IDLE
        self.start_at = NONE
        self.suspended = False
        self.req = -1
        self.eu_at = NONE
        self.flushed = False
        self.late_wake = False
        self.start_firm = True
        self.qop_k = self.qop_now_k = QOP_NONE
        self.qop_b = self.qop_now_b = 0
        self.u_valid = False
        if self.qn:
            self.take(-1, QOP_F)

    # ------------------------------------------------------------------ state
    def get_state(self):
        """Everything that lives on between instructions, as plain data (snapshots)."""
        c = self.cyc
        return {"t": self.t, "queue": [self.q[i] for i in range(self.qn)],
                "ready": [self.qready[i] for i in range(self.qn)], "cs": self.cs, "pc": self.pc,
                "cycle": ((c.kind, c.seg, c.addr, c.bhe, c.data, c.nbytes, c.t, c.more, c.stale)
                          if self.has_cyc else None),
                "after": self.after, "start_at": _none(self.start_at),
                "suspended": self.suspended, "eu_at": _none(self.eu_at),
                "flushed": self.flushed, "late_wake": self.late_wake,
                "start_firm": self.start_firm, "qop": (self.qop_k, self.qop_b),
                "qop_now": (self.qop_now_k, self.qop_now_b),
                "untake": ((self.u_byte, self.u_ready, self.u_qop_k, self.u_qop_b, self.u_late,
                            _none(self.u_start_at), self.u_firm) if self.u_valid else None)}

    def set_state(self, s):
        cdef int i
        self.t = s["t"]
        self.qn = len(s["queue"])
        for i in range(self.qn):
            self.q[i] = s["queue"][i]
            self.qready[i] = s["ready"][i]
        self.cs, self.pc = s["cs"], s["pc"]
        c = s["cycle"]
        self.has_cyc = c is not None
        if c is not None:
            (self.cyc.kind, self.cyc.seg, self.cyc.addr, self.cyc.bhe, self.cyc.data,
             self.cyc.nbytes, self.cyc.t, self.cyc.more, self.cyc.stale) = c
            self.cyc.req = -1
        self.after = s["after"]
        self.start_at = _clock(s["start_at"])
        self.suspended = s["suspended"]
        self.req = -1
        self.eu_at = _clock(s["eu_at"])
        self.flushed, self.late_wake, self.start_firm = (
            s["flushed"], s["late_wake"], s["start_firm"])
        self.qop_k, self.qop_b = s["qop"]
        self.qop_now_k, self.qop_now_b = s["qop_now"]
        u = s["untake"]
        self.u_valid = u is not None
        if u is not None:
            (self.u_byte, self.u_ready, self.u_qop_k, self.u_qop_b, self.u_late, start_at,
             self.u_firm) = u
            self.u_start_at = _clock(start_at)

    # ------------------------------------------------------------------ queue
    cdef inline bint room(self) noexcept:
        cdef int need = 2 if self.wide and not (self.pc & 1) else 1
        return self.qn + need <= self.qsize

    cdef inline bint room_at_t3(self) noexcept:
        # Decided at T3, counting the bytes of the fetch in flight.
        cdef int n = self.qn
        if self.cyc.kind == CODE and not self.cyc.stale:
            n += self.cyc.nbytes
        return n + (2 if self.wide else 1) <= self.qsize

    cdef void take(self, long long t, int kind) noexcept:
        cdef int i
        cdef int b = self.q[0]
        for i in range(1, self.qn):
            self.q[i - 1] = self.q[i]
            self.qready[i - 1] = self.qready[i]
        self.qn -= 1
        self.qop_now_k, self.qop_now_b = kind, b
        if (self.has_cyc and self.cyc.t == 3 and not self.cyc.more and self.after == NEXT_IDLE
                and not self.suspended and self.room()):
            self.late_wake = True
        if not self.has_cyc and self.start_at == NONE and not self.suspended and self.room():
            # A read that makes room wakes an idle BIU.
            self.start_at = t + IDLE_TO_T1
            self.start_firm = True

    cdef void untake(self) noexcept:
        """Undo the last run's final first-byte read: an interrupt is taken at that
        boundary instead (core/biu8086.BIU.untake)."""
        cdef int i
        for i in range(self.qn, 0, -1):
            self.q[i] = self.q[i - 1]
            self.qready[i] = self.qready[i - 1]
        self.q[0], self.qready[0] = self.u_byte, self.u_ready
        self.qn += 1
        self.qop_now_k, self.qop_now_b = self.u_qop_k, self.u_qop_b
        self.late_wake, self.start_at, self.start_firm = self.u_late, self.u_start_at, self.u_firm
        self.u_valid = False

    cdef inline int read_code(self, uint32_t a) noexcept:
        return rd8(self.bus, a)

    # ------------------------------------------------------------------ bus
    cdef void begin(self, int kind, int seg, uint32_t addr, int nbytes, int req, bint more,
                    uint32_t data) noexcept:
        cdef int bhe = 1
        if self.wide and (nbytes == 2 or addr & 1):
            bhe = 0
        self.cyc.kind = kind
        self.cyc.seg = seg
        self.cyc.addr = addr
        self.cyc.bhe = bhe
        self.cyc.data = data
        self.cyc.nbytes = nbytes
        self.cyc.t = 1
        self.cyc.req = req
        self.cyc.more = more
        self.cyc.stale = False
        self.has_cyc = True
        self.cyc_id += 1
        if req >= 0:
            self.ops[req].started = True
            self.ops[req].last = self.cyc_id

    cdef inline void fetch(self) noexcept:
        cdef uint32_t phys = ((<uint32_t>self.cs << 4) + self.pc) & 0xFFFFF
        self.begin(CODE, CS, phys, 2 if self.wide and not (self.pc & 1) else 1, -1, False, 0)

    cdef void eu_begin(self, int ri) noexcept:
        cdef Op* r = &self.ops[ri]
        if r.width == 2 and (not self.wide or r.addr & 1):
            self.begin(r.kind, r.seg, r.addr, 1, ri, True, r.data & 0xFF)
        else:
            self.begin(r.kind, r.seg, r.addr, r.width, ri, False, r.data)

    cdef void tick(self) noexcept:
        """The bus's state in clock self.t (before the EU acts in it)."""
        cdef long long t = self.t
        cdef Op* r
        cdef int i, after
        cdef bint flushed, late, pending
        cdef uint32_t a, a2
        if self.has_cyc and self.cyc.t < 4:
            self.cyc.t += 1
            if self.cyc.t == 3 and not self.cyc.more:
                if self.req >= 0 and not self.ops[self.req].started and self.ops[self.req].posted < t:
                    self.after = NEXT_EU
                elif not self.suspended and self.room_at_t3():
                    self.after = NEXT_FETCH
                else:
                    self.after = NEXT_IDLE
            elif self.cyc.t == 4 and self.cyc.kind == CODE and not self.cyc.stale:
                a = self.cyc.addr
                for i in range(self.cyc.nbytes):
                    self.q[self.qn] = self.read_code((a + i) & 0xFFFFF)
                    self.qready[self.qn] = t + 1
                    self.qn += 1
                self.pc = (self.pc + self.cyc.nbytes) & 0xFFFF
            return
        if self.has_cyc:
            # T4 was the last clock.
            self.has_cyc = False
            if self.cyc.more:
                r = &self.ops[self.cyc.req]
                if r.addr2 >= 0:
                    a2 = <uint32_t>r.addr2      # offset 0xFFFF: the high byte wraps in the segment
                else:
                    a2 = (r.addr + 1) & (0xFFFFF if r.kind == MEMR or r.kind == MEMW else 0xFFFF)
                self.begin(r.kind, r.seg, a2, 1, self.cyc.req, False, r.data >> 8)
                return
            after = self.after
            self.after = NEXT_IDLE
            flushed = self.flushed
            self.flushed = False
            late = self.late_wake
            self.late_wake = False
            pending = self.req >= 0 and not self.ops[self.req].started
            if after == NEXT_EU and pending:
                self.eu_begin(self.req)
                return
            if after == NEXT_FETCH:
                if pending:
                    self.eu_at = t + ABORT_PENALTY
                elif not self.suspended and self.room():
                    self.fetch()
                    return
            else:
                if not flushed:
                    self.start_at = NONE
                if late:
                    # A queue read in T3 made room after the decision: the BIU wakes at
                    # the end of the cycle.
                    self.start_at = t + IDLE_TO_T1
                    self.start_firm = self.qn + 2 <= self.qsize
                if pending:
                    # Posted at or after T3 of a cycle that left the bus idle.
                    self.eu_at = max(self.ops[self.req].posted, t - 1) + IDLE_TO_T1
        # Idle: a cycle starts when something woke the BIU (start_at).
        if self.req >= 0 and not self.ops[self.req].started:
            r = &self.ops[self.req]
            # An EU request cancels a fetch the idle BIU had not started yet.
            if self.eu_at == NONE:
                self.eu_at = max(r.posted + IDLE_TO_T1, t)
                if (self.start_at != NONE and self.start_firm
                        and r.posted >= self.start_at - ABORT_PENALTY):
                    # The fetch the BIU was about to start is abandoned at its T1.
                    self.eu_at = max(self.eu_at, self.start_at + ABORT_PENALTY)
            if t >= self.eu_at:
                self.eu_at = NONE
                self.start_at = NONE
                self.eu_begin(self.req)
            return
        if self.start_at != NONE and t >= self.start_at:
            self.start_at = NONE
            if not self.suspended and self.room():
                self.fetch()

    cdef record(self):
        """The record of clock self.t (the tuple core/biu8086.BIU.record makes)."""
        cdef int t
        qop = _QOP_NAMES[self.qop_k]
        if not self.has_cyc:
            rec = (0, 0, "--", _py.PASV, "Ti", qop, self.qop_b, 1)
        else:
            t = self.cyc.t
            kind = self.cyc.kind
            seg = (_SEG_NAMES[self.cyc.seg]
                   if self.cyc.seg >= 0 and (kind == CODE or kind == MEMR or kind == MEMW)
                   else "--")
            rec = (1 if t == 1 else 0, self.cyc.addr, seg,
                   _KIND_NAMES[kind] if t <= 2 else _py.PASV, _T_NAMES[t], qop, self.qop_b,
                   self.cyc.bhe)
        self.records.append(rec)

    # ------------------------------------------------------------------ running
    cdef long long run(self, Op* ops, int n, bint record) except -1:
        """core/biu8086.BIU.run on the operations ops[0:n]; returns the clocks."""
        cdef long long t0 = self.t, t, limit = self.t + 100000
        cdef int i = 0, left = 0, code
        cdef Op* op
        cdef Op* r
        self.ops = ops
        self.records = [] if record else None
        self.u_valid = False
        while True:
            if self.t > limit:
                raise RuntimeError("bus model: the EU never finished (queue starved?)")
            self.tick()
            t = self.t
            self.qop_k, self.qop_b = self.qop_now_k, self.qop_now_b
            self.qop_now_k, self.qop_now_b = QOP_NONE, 0
            # The EU's work in clock t: any number of zero-time steps, then one that
            # consumes the clock (or a stall).
            while True:
                if i == n:
                    # The next instruction's first byte.
                    if self.qn and self.qready[0] <= t:
                        # Kept so that an interrupt taken at this boundary can give it
                        # back (the loader does not take a byte then).
                        self.u_valid = True
                        self.u_byte, self.u_ready = self.q[0], self.qready[0]
                        self.u_qop_k, self.u_qop_b = self.qop_now_k, self.qop_now_b
                        self.u_late, self.u_start_at = self.late_wake, self.start_at
                        self.u_firm = self.start_firm
                        self.take(t, QOP_F)
                        if record:
                            self.record()
                        self.t = t + 1
                        return t + 1 - t0
                    break
                op = &ops[i]
                code = op.code
                if code == OP_I:
                    if left == 0:
                        left = op.n
                        if left == 0:
                            i += 1
                            continue
                    left -= 1
                    if left == 0:
                        i += 1
                    break
                if code == OP_Q or code == OP_QF:
                    if self.qn and self.qready[0] <= t:
                        self.take(t, QOP_S if code == OP_Q else QOP_F)
                        i += 1
                    break
                if code == OP_R or code == OP_W or code == OP_INTA:
                    if self.req != i:
                        op.posted = t
                        op.started = False
                        op.last = -1
                        self.req = i
                        if op.suspend:
                            # Microcode that suspends prefetching as it asks for the bus.
                            self.suspended = True
                        break
                    if (op.last >= 0 and self.has_cyc and self.cyc_id == op.last
                            and not self.cyc.more and self.cyc.t == op.release):
                        self.req = -1
                        i += 1
                        continue
                    break
                if code == OP_FLUSH:
                    self.qn = 0
                    self.cs, self.pc = op.n, op.ip
                    self.suspended = False
                    if self.has_cyc and self.cyc.kind == CODE:
                        self.cyc.stale = True
                    self.qop_now_k, self.qop_now_b = QOP_E, 0
                    self.start_at = t + IDLE_TO_T1
                    self.start_firm = True
                    self.flushed = self.has_cyc
                    i += 1
                    break
                if code == OP_SUSP:
                    # Suspend prefetching; a code fetch under way is waited for (to T4).
                    self.suspended = True
                    if self.has_cyc and self.cyc.kind == CODE and self.cyc.t < 4:
                        break
                    self.start_at = NONE
                    i += 1
                    continue
                raise ValueError("unknown EU operation %d" % code)
            if record:
                self.record()
            self.t = t + 1


cdef inline int rd8(Bus bus, uint32_t a) noexcept:
    # Bus.read8 without its Python-override check: a RAM/ROM byte is a pointer load.
    cdef uint8_t* page = bus.rptr[a >> PAGE_SHIFT]
    if page != NULL:
        return page[a & (PAGE_SIZE - 1)]
    return <int>bus.slow_read(a, 1)


cdef inline object _none(long long v):
    return None if v == NONE else v


cdef inline long long _clock(v):
    return NONE if v is None else v


# ====================================================================================
# Decoding and the recipes (core/biu8086.py: decode, the r_* functions, dsl).

cdef struct Insn:
    int nprefix, seg, rep, op, pos, w, mem, mod, reg, rm, ndisp, ea, eseg
    int post_cs, post_ip, post_cx, post_flags
    int vec             # a hardware interrupt's vector, or -1
    uint8_t code[16]
    uint16_t R[14]

# Recipe kinds: one per r_* function of core/biu8086.py.
cdef enum:
    K_NONE, K_ALU, K_IMM, K_IMP, K_MOV_RM, K_MOV_MR, K_RMW, K_GRP1, K_PUSH, K_POP, K_JCC
    K_JMP, K_SHIFT, K_MOFFS, K_MOV_IMM_RM, K_UNARY, K_BRANCH, K_INTO, K_MUL, K_DIV, K_AAM
    K_AAD, K_STRING, K_IMUL, K_IDIV, K_DSL, K_DSL2

# The words of dsl() recipes.
cdef enum:
    W_I, W_Q, W_M_BYTE, W_S, W_F, W_E, W_M, W_MW, W_M2, W_W, W_WW, W_PUSH, W_POP, W_POPS
    W_IVT0, W_IVT2, W_IN, W_OUT, W_IMM, W_XLAT, W_AT, W_INTA

_WORDS = {"i": W_I, "Q": W_Q, "m": W_M_BYTE, "S": W_S, "F": W_F, "E": W_E, "M": W_M,
          "Mw": W_MW, "M2": W_M2, "W": W_W, "Ww": W_WW, "PUSH": W_PUSH, "POP": W_POP,
          "POPS": W_POPS, "IVT0": W_IVT0, "IVT2": W_IVT2, "IN": W_IN, "OUT": W_OUT,
          "IMM": W_IMM, "XLAT": W_XLAT, "@": W_AT, "INTA": W_INTA}

cdef enum:
    MAXP = 12
    MAXW = 32

cdef struct Spec:
    int n
    int w[MAXW]

cdef struct Recipe:
    int kind
    int np
    int p[MAXP]
    Spec mem            # K_DSL: its words; K_DSL2: the memory form's
    Spec reg            # K_DSL2: the register form's
    int k               # K_DSL2: how many numbers the memory form takes

cdef Recipe RECIPE[256 * 8]
cdef Spec INT_SPEC, INTO_SPEC, IRQ_SPEC
cdef int INT_PARAMS[MAXP]
cdef int IRQ_PARAMS[MAXP]
cdef bint MODRM[256]
cdef int SEG_PREFIX[256]        # segment number of a segment prefix, else -1
cdef bint PREFIX[256]
# _STRING: the transfers of one string element, "R" "D" "W" -> 0 1 2, ended by -1.
cdef int STRING[256][3]


cdef void _compile(Spec* s, str spec) except *:
    words = spec.split()
    if len(words) > MAXW:
        raise ValueError("recipe too long: %r" % spec)
    s.n = len(words)
    for i, word in enumerate(words):
        s.w[i] = _WORDS[word]


def _build_tables():
    cdef int op, reg, i
    cdef Recipe* rc
    kinds = {_py.r_alu: K_ALU, _py.r_imm: K_IMM, _py.r_imp: K_IMP, _py.r_mov_rm: K_MOV_RM,
             _py.r_mov_mr: K_MOV_MR, _py.r_rmw: K_RMW, _py.r_grp1: K_GRP1,
             _py.r_push: K_PUSH, _py.r_pop: K_POP, _py.r_jcc: K_JCC, _py.r_jmp: K_JMP,
             _py.r_shift: K_SHIFT, _py.r_moffs: K_MOFFS, _py.r_mov_imm_rm: K_MOV_IMM_RM,
             _py.r_unary: K_UNARY, _py.r_branch: K_BRANCH, _py.r_into: K_INTO,
             _py.r_mul: K_MUL, _py.r_div: K_DIV, _py.r_aam: K_AAM, _py.r_aad: K_AAD,
             _py.r_string: K_STRING, _py.r_imul: K_IMUL, _py.r_idiv: K_IDIV}
    groups = (0x80, 0x81, 0x82, 0x83, 0xD0, 0xD1, 0xD2, 0xD3, 0xF6, 0xF7, 0xFE, 0xFF)
    for op in range(256):
        MODRM[op] = op in _py._MODRM
        PREFIX[op] = op in _py._PREFIXES
        SEG_PREFIX[op] = _py._SEG_PREFIX.get(op, -1)
        kind = _py._STRING.get(op, "")
        for i in range(3):
            STRING[op][i] = "RDW".index(kind[i]) if i < len(kind) else -1
        for reg in range(8):
            key = "%02X.%d" % (op, reg) if op in groups else "%02X" % op
            fn = _py.RECIPES.get(key) or _py.RECIPES.get(key[:2])
            p = _py.PARAMS.get(key) or _py.PARAMS.get(key[:2])
            rc = &RECIPE[op * 8 + reg]
            rc.kind = K_NONE
            if fn is None:
                continue
            if fn in kinds:
                rc.kind = kinds[fn]
            elif hasattr(fn, "reg_spec"):
                rc.kind = K_DSL2
                _compile(&rc.mem, fn.spec)
                _compile(&rc.reg, fn.reg_spec)
                rc.k = fn.spec.split().count("i")
            elif hasattr(fn, "spec"):
                rc.kind = K_DSL
                _compile(&rc.mem, fn.spec)
            else:
                raise ValueError("core/biu8086.py recipe %s of %s has no compiled form"
                                 % (fn.__name__, key))
            if len(p) > MAXP:
                raise ValueError("too many numbers for %s" % key)
            rc.np = len(p)
            for i in range(len(p)):
                rc.p[i] = p[i]
    _compile(&INT_SPEC, _py._INT_SPEC.spec)
    _compile(&INTO_SPEC, _py._INTO_SPEC.spec)
    for i in range(len(_py._INT_PARAMS)):
        INT_PARAMS[i] = _py._INT_PARAMS[i]
    _compile(&IRQ_SPEC, _py._IRQ_SPEC.spec)
    for i in range(len(_py._IRQ_PARAMS)):
        IRQ_PARAMS[i] = _py._IRQ_PARAMS[i]
    assert (_py.IDLE_TO_T1, _py.ABORT_PENALTY) == (IDLE_TO_T1, ABORT_PENALTY)
    assert (_py.OP_Q, _py.OP_I, _py.OP_R, _py.OP_W, _py.OP_FLUSH, _py.OP_SUSP, _py.OP_INTA,
            _py.OP_QF) == (OP_Q, OP_I, OP_R, OP_W, OP_FLUSH, OP_SUSP, OP_INTA, OP_QF)


_build_tables()


cdef inline int popcount(uint32_t v) noexcept:
    cdef int n = 0
    while v:
        v &= v - 1
        n += 1
    return n


cdef int cord_clocks(int bits, long long a, long long b, long long c) noexcept:
    """core/biu8086.cord_clocks; -1 where it returns None (the quotient overflows)."""
    cdef long long mask = (1LL << bits) - 1
    cdef long long carry_c, sub
    cdef bint carry = False, borrow
    cdef int n = 3, i
    if a >= b:
        return -1
    for i in range(bits, 0, -1):
        c = (c << 1) | carry
        carry_c = c >> bits
        c &= mask
        a = (a << 1) | carry_c
        carry = (a >> bits) != 0
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


cdef inline uint32_t phys(Insn* d, int seg, int off) noexcept:
    return ((<uint32_t>d.R[R_SEG + seg] << 4) + (off & 0xFFFF)) & 0xFFFFF


cdef class _Acknowledge:
    """The interrupt controller's acknowledge, seen on its way: the vector it gave."""
    cdef object ack
    cdef int vector

    def __init__(self, ack):
        self.ack = ack
        self.vector = -1

    def __call__(self):
        value = self.ack()
        self.vector = value & 0xFF
        return value


cdef class BusTiming:
    """Clock-by-clock timing of an 8086/8088 Machine, as core/biu8086.BusTiming (its
    docstring has the contract): `step(machine, execute=None)` executes one instruction
    and returns the clocks the bus model gives it; `run(machine, end)` runs instructions
    that way until something else than the budget stops the CPU, a device event is due or
    the clock reaches `end`.  With `record` set, `records` holds the last instruction's
    per-clock records (ALE, address, segment, bus status, T-state, queue op, queue byte,
    BHE#)."""
    cdef public BIU biu
    cdef public bint synced
    cdef public bint record
    cdef public list records
    cdef public bint modelled
    cdef public object result
    cdef Op* ops
    cdef int nops, cap
    cdef Insn d
    cdef uint16_t pre[NREGS]
    cdef uint16_t post[NREGS]
    cdef Bus mem
    cdef object cpu, bus_regs, cpu_run      # the machine's CPU and its methods, looked up once

    def __cinit__(self):
        self.cap = 256
        self.ops = <Op*>malloc(self.cap * sizeof(Op))
        if self.ops == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.ops)

    def __init__(self, bus_bits=16):
        self.biu = BIU(bus_bits, None)
        self.synced = False
        self.record = False
        self.records = []
        self.modelled = False
        self.result = None

    def load_queue(self, cs, ip, queue):
        """Start the next instruction from a prefetch queue holding `queue` (the bytes at
        CS:IP onwards), the first of them about to be taken."""
        self.biu.load(cs, ip, list(queue))
        self.synced = True

    cdef void fill(self, int cs, int ip) except *:
        # Out of step (after reset or an instruction not modelled): a full queue, as the
        # suites start.
        cdef int n = self.biu.qsize - ((ip & 1) if self.biu.wide else 0)
        self.biu.load(cs, ip, [rd8(self.mem, ((cs << 4) + ((ip + k) & 0xFFFF)) & 0xFFFFF)
                               for k in range(n)])
        self.synced = True

    def get_state(self):
        """The bus model's state between instructions, as plain data (core/snapshot.py)."""
        return {"synced": self.synced, "biu": self.biu.get_state()}

    def set_state(self, state):
        self.biu.set_state(state["biu"])
        self.synced = state["synced"]

    # ------------------------------------------------------------------ running
    cdef void attach(self, machine) except *:
        cpu = machine.cpu
        if cpu is not self.cpu:
            self.cpu = cpu
            self.bus_regs = cpu.bus_regs
            self.cpu_run = cpu.run
        if self.mem is not machine.mem:
            self.mem = machine.mem
            self.biu.bus = self.mem

    def step(self, machine, execute=None):
        self.attach(machine)
        return self._step(machine, machine.cpu, machine.clock, execute, 0, False)

    def run_step(self, machine, limit):
        """One step of `run` (Machine.run's, when it keeps each instruction's records):
        an instruction, a delivery, or a halted CPU's sleep up to `limit`; returns its
        clocks."""
        self.attach(machine)
        return self._step(machine, self.cpu, machine.clock, self.cpu_run, limit, True)

    def run(self, machine, end):
        """Run instructions through the model until the CPU stops for another reason than
        the budget, a device event is due or the clock reaches `end`; returns the run
        reason of the last one (the loop of core/machine.Machine.run, without the devices)."""
        cdef Clock clock = machine.clock
        cdef unsigned long long limit, stop = end
        self.attach(machine)
        while True:
            limit = min(stop, clock.next_deadline)
            self._step(machine, self.cpu, clock, self.cpu_run, limit, True)
            if (self.result != "budget" or clock.next_deadline <= clock.now
                    or clock.now >= stop):
                return self.result

    cdef long long _step(self, machine, cpu, Clock clock, execute, unsigned long long limit,
                         bint by_run) except? -1:
        # execute: None (cpu.step()), a callable of no arguments, or with `by_run` cpu.run
        # itself, given min(limit, the next clock) so that it runs one instruction.
        cdef unsigned long long t0 = clock.now
        cdef long long table
        cdef unsigned long long status, icount
        cdef int cs, ip, k
        cdef Insn* d = &self.d
        status = self.bus_regs(<size_t>&self.pre[0])
        if status & 1:
            if status & 4 and self.synced and self.biu.u_valid:
                return self.interrupt(cpu, clock, execute, limit, by_run, status, t0)
            # What runs now is no instruction the model replays (an NMI is delivered, or
            # the CPU waits halted): the table's time, and the queue is refilled after.
            self.result = self._execute(cpu, execute, limit, by_run, status, clock)
            self.synced = False
            return self.unmodelled(clock.now - t0)
        cs, ip = self.pre[R_SEG + CS], self.pre[R_IP]
        for k in range(8):
            d.code[k] = rd8(self.mem, ((cs << 4) + ((ip + k) & 0xFFFF)) & 0xFFFFF)
        for k in range(8, 16):
            d.code[k] = 0
        self.result = self._execute(cpu, execute, limit, by_run, status, clock)
        table = clock.now - t0
        icount = self.bus_regs(<size_t>&self.post[0])
        if icount >> 3 == status >> 3:
            # Nothing ran (a breakpoint or a stop request comes before the instruction):
            # the queue stays as it is for when it does.
            return self.unmodelled(table)
        for k in range(NREGS):
            d.R[k] = self.pre[k]
        d.post_cs, d.post_ip = self.post[R_SEG + CS], self.post[R_IP]
        d.post_cx, d.post_flags = self.post[R_CX], self.post[R_FLAGS]
        self.decode()
        self.nops = 0
        if not self.eu_ops():
            self.synced = False
            return self.unmodelled(table)
        if not self.synced:
            self.fill(cs, ip)
        return self.replay(clock, t0, table)

    cdef long long unmodelled(self, long long table) except? -1:
        self.modelled = False
        if self.records:
            self.records = []
        return table

    cdef long long interrupt(self, cpu, Clock clock, execute, unsigned long long limit,
                             bint by_run, unsigned long long status,
                             unsigned long long t0) except? -1:
        # An INTR delivery at the boundary where the last instruction read the next one's
        # first byte: the CPU takes the interrupt instead, so the read is undone and the
        # IRQ microcode runs from there (core/biu8086.BusTiming._interrupt).
        cdef Insn* d = &self.d
        cdef _Acknowledge ack = _Acknowledge(cpu.intr_ack)
        cdef int k
        cpu.intr_ack = ack
        try:
            self.result = self._execute(cpu, execute, limit, by_run, status, clock)
        finally:
            cpu.intr_ack = ack.ack
        if ack.vector < 0:
            # Not delivered after all (a stop request came first): nothing happened.
            return self.unmodelled(clock.now - t0)
        self.bus_regs(<size_t>&self.post[0])
        for k in range(NREGS):
            d.R[k] = self.pre[k]
        d.post_cs, d.post_ip = self.post[R_SEG + CS], self.post[R_IP]
        d.post_cx, d.post_flags = self.post[R_CX], self.post[R_FLAGS]
        d.code[0] = 0x90
        self.decode()
        d.vec = ack.vector
        self.nops = 0
        self.dsl(&IRQ_SPEC, IRQ_PARAMS)
        self.biu.untake()
        return self.replay(clock, t0, clock.now - t0)

    cdef long long replay(self, Clock clock, unsigned long long t0, long long table) except? -1:
        cdef BIU b = self.biu
        cdef Insn* d = &self.d
        cdef long long n
        try:
            n = b.run(self.ops, self.nops, self.record)
        except RuntimeError:
            # A gap in the model must never stop the machine: fall back to the table.
            self.synced = False
            return self.unmodelled(table)
        if b.records is not None:
            self.records = b.records
        elif self.records:
            self.records = []
        self.modelled = True
        # The queue must now hold the bytes at the new CS:IP; if the model's idea of where
        # fetching is differs (a transfer it did not see), start over from a full queue.
        if b.cs != d.post_cs or ((b.pc - b.qn - 1) & 0xFFFF) != d.post_ip:
            self.synced = False
        clock.now = t0 + n
        return n

    cdef object _execute(self, cpu, execute, unsigned long long limit, bint by_run,
                         unsigned long long status, Clock clock):
        if by_run:
            # Machine.run: one instruction, or one delivery.  Only a halted CPU with
            # nothing to deliver sleeps to the limit (the next device event): when an
            # interrupt wakes it, the run slice must end after that delivery, or the
            # instructions after it would run in the same slice on the tables up to the
            # next event, untimed by the model.
            if not (status & 2) or status & 4 or cpu.nmi:
                limit = min(limit, clock.now + 1)
            return execute(limit)
        if execute is not None:
            return execute()
        return cpu.step()

    # ------------------------------------------------------------------ decoding
    cdef void decode(self) noexcept:
        cdef Insn* d = &self.d
        cdef int i = 0, b, m, p, off, v, dseg
        d.nprefix = 0
        d.seg = NO_SEG
        d.rep = 0
        while i < 7 and PREFIX[d.code[i]]:
            b = d.code[i]
            d.nprefix += 1
            if SEG_PREFIX[b] >= 0:
                d.seg = SEG_PREFIX[b]
            elif b == 0xF2 or b == 0xF3:
                d.rep = b
            i += 1
        d.op = d.code[i]
        d.vec = -1
        d.pos = i + 1
        d.w = d.op & 1
        d.mem = False
        d.mod = 3
        d.reg = d.rm = 0
        d.ndisp = 0
        d.ea = 0
        d.eseg = NO_SEG
        if MODRM[d.op] and d.pos < 8:
            m = d.code[d.pos]
            d.mod, d.reg, d.rm = m >> 6, (m >> 3) & 7, m & 7
            if d.mod != 3:
                d.mem = True
                p = d.pos + 1
                if d.mod == 0 and d.rm == 6:
                    off = d.code[p] | d.code[p + 1] << 8
                    dseg = DS
                    d.ndisp = 2
                else:
                    off = self.ea_base(d.rm)
                    dseg = SS if d.rm == 2 or d.rm == 3 or d.rm == 6 else DS
                    if d.mod == 1:
                        v = d.code[p]
                        off += v - 256 if v > 127 else v
                        d.ndisp = 1
                    elif d.mod == 2:
                        off += d.code[p] | d.code[p + 1] << 8
                        d.ndisp = 2
                d.ea = off & 0xFFFF
                d.eseg = d.seg if d.seg != NO_SEG else dseg

    cdef inline int ea_base(self, int rm) noexcept:
        cdef uint16_t* R = self.d.R
        if rm == 0:
            return R[R_BX] + R[R_SI]
        if rm == 1:
            return R[R_BX] + R[R_DI]
        if rm == 2:
            return R[R_BP] + R[R_SI]
        if rm == 3:
            return R[R_BP] + R[R_DI]
        if rm == 4:
            return R[R_SI]
        if rm == 5:
            return R[R_DI]
        if rm == 6:
            return R[R_BP]
        return R[R_BX]

    # ------------------------------------------------------------------ operations
    cdef Op* add(self, int code) except NULL:
        cdef Op* o
        if self.nops == self.cap:
            o = <Op*>realloc(self.ops, 2 * self.cap * sizeof(Op))
            if o == NULL:
                raise MemoryError()
            self.ops = o
            self.cap *= 2
        o = &self.ops[self.nops]
        self.nops += 1
        o.code = code
        o.n = 0
        return o

    cdef inline int i_(self, int n) except -1:
        self.add(OP_I).n = n
        return 0

    cdef inline int q_(self, int count) except -1:
        cdef int k
        for k in range(count):
            self.add(OP_Q)
        return 0

    cdef inline int susp(self) except -1:
        self.add(OP_SUSP)
        return 0

    cdef int flush(self) except -1:
        cdef Op* o = self.add(OP_FLUSH)
        o.n = self.d.post_cs
        o.ip = self.d.post_ip
        return 0

    cdef Op* xfer(self, int code, int kind, int seg, uint32_t addr, int width,
                  int release) except NULL:
        cdef Op* o = self.add(code)
        o.kind = kind
        o.seg = seg
        o.addr = addr
        o.width = width
        o.data = 0
        o.posted = 0
        o.started = False
        o.last = -1
        o.release = release
        o.suspend = False
        o.addr2 = -1
        return o

    cdef Op* mem_xfer(self, int code, int width, int off, int seg, int release) except NULL:
        # mem_read / mem_write: the operand at seg:off (the high byte wraps in the segment).
        cdef Insn* d = &self.d
        cdef Op* o = self.xfer(code, MEMR if code == OP_R else MEMW, seg, phys(d, seg, off),
                               width, release)
        o.addr2 = phys(d, seg, off + 1)
        return o

    cdef inline int mem_read(self, int width) except -1:
        self.mem_xfer(OP_R, width, self.d.ea, self.d.eseg, 4)
        return 0

    cdef inline int mem_write(self, int width, int release) except -1:
        self.mem_xfer(OP_W, width, self.d.ea, self.d.eseg, release)
        return 0

    cdef int ea_ops(self) except -1:
        """The effective-address microcode: base registers, then the displacement bytes."""
        cdef Insn* d = &self.d
        cdef int a
        if d.mod == 0 and d.rm == 6:
            self.i_(1)
            self.q_(2)
            self.i_(1)
            return 0
        a = 5 if d.rm == 0 or d.rm == 3 else 6 if d.rm == 1 or d.rm == 2 else 3
        self.i_(a)
        if d.mod == 0:
            return 0
        self.q_(1)
        if d.mod == 2:
            self.q_(1)
        else:
            self.i_(1)
        self.i_(2)
        return 0

    cdef int rm_op(self, const int* p, bint reads, bint writes) except -1:
        cdef Insn* d = &self.d
        self.q_(1)
        if not d.mem:
            self.i_(p[0])
            return 0
        self.ea_ops()
        if reads:
            self.mem_read(1 + d.w)
        self.i_(p[1])
        if writes:
            self.mem_write(1 + d.w, 3 if p[2] == 0 else 4)
            self.i_(p[2])
        return 0

    cdef int operand(self) noexcept:
        """The r/m operand's value before the instruction (memory: as it is now)."""
        cdef Insn* d = &self.d
        cdef int v
        if d.mem:
            v = rd8(self.mem, phys(d, d.eseg, d.ea))
            if d.w:
                v |= rd8(self.mem, phys(d, d.eseg, d.ea + 1)) << 8
            return v
        if d.w:
            return d.R[d.rm]
        v = d.R[d.rm & 3]
        return v >> 8 if d.rm & 4 else v & 0xFF

    cdef bint taken(self) noexcept:
        cdef Insn* d = &self.d
        cdef int op = d.op, f = d.R[R_FLAGS], cx, v, cc
        cdef int cf = f & 1, pf = (f >> 2) & 1, zf = (f >> 6) & 1, sf = (f >> 7) & 1
        cdef int of = (f >> 11) & 1
        if 0x60 <= op <= 0x7F:
            cc = (op & 0x0F) >> 1
            if cc == 0:
                v = of
            elif cc == 1:
                v = cf
            elif cc == 2:
                v = zf
            elif cc == 3:
                v = cf | zf
            elif cc == 4:
                v = sf
            elif cc == 5:
                v = pf
            elif cc == 6:
                v = sf ^ of
            else:
                v = (sf ^ of) | zf
            return (v != 0) != ((op & 1) != 0)
        cx = d.R[R_CX]
        if op == 0xE3:
            return cx == 0
        cx = (cx - 1) & 0xFFFF
        if op == 0xE2:
            return cx != 0
        if op == 0xE1:
            return cx != 0 and zf == 1
        # 0xE0 (r_jcc serves 60-7F and E0-E3 only)
        return cx != 0 and zf == 0

    cdef int dsl(self, const Spec* s, const int* p) except -1:
        """A dsl() recipe of core/biu8086.py: its words, `p` its numbers."""
        cdef Insn* d = &self.d
        cdef int j, word, k = 0, sp = d.R[R_SP], w = 1 + d.w, a, start = self.nops
        cdef Op* o
        for j in range(s.n):
            word = s.w[j]
            if word == W_I:
                self.i_(p[k])
                k += 1
            elif word == W_Q or word == W_M_BYTE:
                self.q_(1)
            elif word == W_S:
                self.susp()
            elif word == W_F:
                self.flush()
            elif word == W_E:
                if d.mem:
                    self.ea_ops()
            elif word == W_M:
                if d.mem:
                    self.mem_read(w)
            elif word == W_MW:
                if d.mem:
                    self.mem_read(2)
            elif word == W_M2:
                if d.mem:
                    self.mem_xfer(OP_R, 2, (d.ea + 2) & 0xFFFF, d.eseg, 4)
            elif word == W_W or word == W_WW:
                if d.mem:
                    self.mem_write(2 if word == W_WW else w, 4)
            elif word == W_PUSH:
                sp = (sp - 2) & 0xFFFF
                self.mem_xfer(OP_W, 2, sp, SS, 4)
            elif word == W_POP or word == W_POPS:
                o = self.mem_xfer(OP_R, 2, sp, SS, 4)
                o.suspend = word == W_POPS
                sp = (sp + 2) & 0xFFFF
            elif word == W_IVT0 or word == W_IVT2:
                a = self.vector() * 4 + (2 if word == W_IVT2 else 0)
                self.xfer(OP_R, MEMR, NO_SEG, a, 2, 4)
            elif word == W_INTA:
                self.xfer(OP_INTA, INTA, NO_SEG, 0, 1, 4)
            elif word == W_IN:
                self.xfer(OP_R, IOR, NO_SEG, self.port(), w, 4)
            elif word == W_OUT:
                self.xfer(OP_W, IOW, NO_SEG, self.port(), w, 4)
            elif word == W_IMM:
                self.q_(w)
            elif word == W_XLAT:
                self.mem_xfer(OP_R, 1, (d.R[R_BX] + (d.R[R_AX] & 0xFF)) & 0xFFFF,
                              d.seg if d.seg != NO_SEG else DS, 4)
            elif word == W_AT:
                if not d.mem:
                    break
        # The last transfer of an instruction overlaps its RNI (the next first byte can
        # be taken in T3 of a final write).
        self.release_last_write(start)
        return 0

    cdef inline void release_last_write(self, int start) noexcept:
        cdef int n = self.nops - start
        cdef Op* ops = self.ops
        if n >= 1 and ops[self.nops - 1].code == OP_W:
            ops[self.nops - 1].release = 3
        elif (n > 1 and ops[self.nops - 1].code == OP_I and ops[self.nops - 1].n == 0
              and ops[self.nops - 2].code == OP_W):
            ops[self.nops - 2].release = 3

    cdef int vector(self) noexcept:
        cdef int op = self.d.op
        if self.d.vec >= 0:
            return self.d.vec       # a hardware interrupt: the controller's vector
        if op == 0xCC:
            return 3
        if op == 0xCE:
            return 4
        if op == 0xCD:
            return self.d.code[self.d.pos]
        return 0

    cdef int port(self) noexcept:
        cdef int op = self.d.op
        if 0xE4 <= op <= 0xE7:
            return self.d.code[self.d.pos]
        return self.d.R[R_DX]

    cdef int divide_error(self, int clocks) except -1:
        # The divide-error interrupt: the microcode leaves the division for the interrupt
        # sequence of INT 0 (the same one INT n runs from its vector read on).
        cdef Insn* d = &self.d
        self.q_(1)
        if d.mem:
            self.ea_ops()
            self.mem_read(1 + d.w)
        self.i_(clocks)
        self.dsl(&INT_SPEC, INT_PARAMS)
        return 0

    cdef int muldiv_tail(self, const int* p, int n) except -1:
        # The register form (p[0]) or memory form (p[1]) around the data-dependent clocks.
        cdef Insn* d = &self.d
        self.q_(1)
        if not d.mem:
            self.i_(p[0] + n)
            return 0
        self.ea_ops()
        self.mem_read(1 + d.w)
        self.i_(p[1] + n)
        return 0

    cdef bint eu_ops(self) except -1:
        """The EU operations of the decoded instruction into self.ops; False when the
        model does not cover it."""
        cdef Insn* d = &self.d
        cdef Recipe* rc = &RECIPE[d.op * 8 + d.reg]
        cdef const int* p = rc.p
        cdef int k, kind = rc.kind, w = 1 + d.w, n, imm, op = d.op
        if kind == K_NONE:
            return False
        # A prefix is an instruction of its own to the loader: two clocks, then the next
        # byte is taken as a first byte.
        for k in range(d.nprefix):
            self.i_(1)
            self.add(OP_QF)
        if kind == K_ALU:
            self.rm_op(p, True, not (op & 2) and (op >> 3) != 7)
        elif kind == K_MOV_RM:
            self.rm_op(p, True, False)
        elif kind == K_MOV_MR:
            self.rm_op(p, False, True)
        elif kind == K_RMW or kind == K_UNARY:
            self.rm_op(p, True, True)
        elif kind == K_IMM:
            n = 1 + (op & 1) if op < 0xB0 else 1 + ((op >> 3) & 1)
            self.i_(p[0])
            self.q_(n)
            self.i_(p[1])
        elif kind == K_IMP:
            self.i_(p[0])
        elif kind == K_GRP1:
            imm = 2 if op == 0x81 else 1
            self.q_(1)
            if not d.mem:
                self.q_(imm)
                self.i_(p[0])
            else:
                self.ea_ops()
                self.mem_read(w)
                self.i_(p[1])
                self.q_(imm)
                self.i_(p[2])
                if d.reg != 7:
                    self.mem_write(w, 3 if p[3] == 0 else 4)
                    self.i_(p[3])
        elif kind == K_PUSH:
            self.i_(p[0])
            self.mem_xfer(OP_W, 2, (d.R[R_SP] - 2) & 0xFFFF, SS, 3 if p[1] == 0 else 4)
            self.i_(p[1])
        elif kind == K_POP:
            self.i_(p[0])
            self.mem_xfer(OP_R, 2, d.R[R_SP], SS, 4)
            self.i_(p[1])
        elif kind == K_JCC:
            self.i_(p[0])
            self.q_(1)
            if self.taken():
                self.i_(p[1])
                self.susp()
                self.i_(p[2])
                self.flush()
                self.i_(p[4])
            else:
                self.i_(p[3])
        elif kind == K_JMP:
            self.i_(p[0])
            self.q_(2 if op == 0xE9 else 1)
            self.i_(p[1])
            self.susp()
            self.i_(p[2])
            self.flush()
            self.i_(p[3])
        elif kind == K_SHIFT:
            n = 1 if op < 0xD2 else d.R[R_CX] & 0xFF
            self.q_(1)
            if not d.mem:
                self.i_(p[0] + p[2] * n)
            else:
                self.ea_ops()
                self.mem_read(w)
                self.i_(p[1] + p[2] * n)
                self.mem_write(w, 3 if p[3] == 0 else 4)
                self.i_(p[3])
        elif kind == K_MOFFS:
            n = d.code[d.pos] | d.code[d.pos + 1] << 8
            self.i_(p[0])
            self.q_(2)
            self.i_(p[1])
            if op < 0xA2:
                self.mem_xfer(OP_R, w, n, d.seg if d.seg != NO_SEG else DS, 4)
            else:
                self.mem_xfer(OP_W, w, n, d.seg if d.seg != NO_SEG else DS,
                              3 if p[2] == 0 else 4)
            self.i_(p[2])
        elif kind == K_MOV_IMM_RM:
            self.q_(1)
            if not d.mem:
                self.q_(w)
                self.i_(p[0])
            else:
                self.ea_ops()
                self.i_(p[1])
                self.q_(w)
                self.i_(p[2])
                self.mem_write(w, 3 if p[3] == 0 else 4)
                self.i_(p[3])
        elif kind == K_BRANCH:
            self.i_(p[0] + (p[1] if self.branch() else 0))
        elif kind == K_INTO:
            if not ((d.R[R_FLAGS] >> 11) & 1):
                self.i_(p[0])
            else:
                self.dsl(&INTO_SPEC, p + 1)
        elif kind == K_MUL:
            self.r_mul(p)
        elif kind == K_DIV:
            self.r_div(p)
        elif kind == K_IMUL:
            self.r_imul(p)
        elif kind == K_IDIV:
            self.r_idiv(p, rc.np)
        elif kind == K_AAM:
            n = cord_clocks(8, 0, d.code[d.pos], d.R[R_AX] & 0xFF)
            self.i_(p[0])
            self.q_(1)
            if n < 0:
                self.i_(p[2])
                self.dsl(&INT_SPEC, INT_PARAMS)
            else:
                self.i_(p[1] + n)
        elif kind == K_AAD:
            n = popcount(d.R[R_AX] >> 8 if p[2] == 0 else d.code[d.pos])
            self.i_(p[0])
            self.q_(1)
            self.i_(p[1] + n)
        elif kind == K_STRING:
            self.r_string(p, rc.np)
        elif kind == K_DSL:
            self.dsl(&rc.mem, p)
        elif kind == K_DSL2:
            if d.mem:
                self.dsl(&rc.mem, p)
            else:
                self.dsl(&rc.reg, p + rc.k)
        return True

    cdef bint branch(self) noexcept:
        # What the microcode of the data-dependent one-byte instructions branches on
        # (core/biu8086._BRANCH).
        cdef Insn* d = &self.d
        if d.op == 0x99:
            return d.R[R_AX] >> 15          # CWD: AX negative
        if d.op == 0xD6:
            return d.R[R_FLAGS] & 1         # SALC: CF set
        # AAA, AAS
        return (d.R[R_AX] & 0x0F) > 9 or (d.R[R_FLAGS] >> 4) & 1

    cdef int r_mul(self, const int* p) except -1:
        cdef Insn* d = &self.d
        cdef uint32_t src = self.operand()
        cdef uint32_t acc = d.R[R_AX] & (0xFFFF if d.w else 0xFF)
        cdef int n = popcount(src if p[3] == 0 else acc) * p[2]
        # The flags step takes a clock more when the product's high half is zero.
        if not (((<uint64_t>src) * acc) >> (16 if d.w else 8)):
            n += p[4]
        return self.muldiv_tail(p, n)

    cdef int r_div(self, const int* p) except -1:
        cdef Insn* d = &self.d
        cdef int src = self.operand(), n
        if d.w:
            n = cord_clocks(16, d.R[R_DX], src, d.R[R_AX])
        else:
            n = cord_clocks(8, d.R[R_AX] >> 8, src, d.R[R_AX] & 0xFF)
        if n < 0:
            return self.divide_error(p[2 + d.mem])
        return self.muldiv_tail(p, n)

    cdef int r_imul(self, const int* p) except -1:
        cdef Insn* d = &self.d
        cdef int bits = 16 if d.w else 8
        cdef long long mask = (1LL << bits) - 1, top = 1LL << (bits - 1)
        cdef long long src = self.operand(), acc = d.R[R_AX] & mask
        cdef bint acc_neg = (acc & top) != 0, src_neg = (src & top) != 0, negate
        cdef long long mag_acc = (-acc) & mask if acc_neg else acc
        cdef long long mag_src = (-src) & mask if src_neg else src
        cdef long long prod, lo, sext
        cdef int n = 3 + (3 if acc_neg else 1)             # PREIMUL
        n += 3 + (2 if src_neg else 3)                      # NEGATE from its 7th line
        n += popcount(<uint32_t>mag_acc)                    # CORX: one clock per one bit
        negate = acc_neg != src_neg
        if d.rep:
            negate = not negate
        if negate:
            n += 1 + 5 + 3 + (2 if mag_src & top else 3)
        prod = mag_acc * mag_src
        if negate:
            prod = -prod
        lo = prod & mask
        sext = lo - (1LL << bits) if lo & top else lo
        if sext == prod:
            n += p[2]
        return self.muldiv_tail(p, n)

    cdef int r_idiv(self, const int* p, int np) except -1:
        cdef Insn* d = &self.d
        cdef int bits = 16 if d.w else 8, n, pre
        cdef long long mask = (1LL << bits) - 1, top = 1LL << (bits - 1)
        cdef long long dmask = (1LL << (2 * bits)) - 1
        cdef long long src = self.operand(), dvd, mdvd, msrc
        cdef bint dvd_neg, src_neg, q_neg
        if d.w:
            dvd = (<long long>d.R[R_DX] << 16) | d.R[R_AX]
        else:
            dvd = d.R[R_AX]
        dvd_neg = (dvd >> (2 * bits - 1)) != 0
        src_neg = (src & top) != 0
        mdvd = (-dvd) & dmask if dvd_neg else dvd
        msrc = (-src) & mask if src_neg else src
        n = cord_clocks(bits, mdvd >> bits, msrc, mdvd & mask)
        pre = p[2] * dvd_neg + p[3] * src_neg
        if n < 0:
            return self.divide_error(p[6 + d.mem] + pre)
        if (d.post_cs != d.R[R_SEG + CS]
                or d.post_ip != ((d.R[R_IP] + d.nprefix + 2 + d.ndisp) & 0xFFFF)):
            # The quotient did not fit: the divide error comes after the division.
            return self.divide_error(p[8 + d.mem] + pre + n)
        q_neg = dvd_neg != src_neg
        if d.rep:
            q_neg = not q_neg
        n += pre + p[4] * q_neg + p[5] * (dvd_neg and mdvd % msrc != 0)
        return self.muldiv_tail(p, n)

    cdef int r_string(self, const int* p, int np) except -1:
        """A4-AF (core/biu8086.r_string)."""
        cdef Insn* d = &self.d
        cdef int w = 1 + d.w, step, seg, n = 1, si, di, k, j, t, ntr, end, zf
        cdef bint last, rep = d.rep != 0, by_flag
        cdef Op* o
        step = -w if (d.R[R_FLAGS] >> 10) & 1 else w
        seg = d.seg if d.seg != NO_SEG else DS
        if rep:
            n = (d.R[R_CX] - d.post_cx) & 0xFFFF
            if n == 0:
                self.i_(p[3])
                return 0
        si, di = d.R[R_SI], d.R[R_DI]
        self.i_(p[4] if rep else p[0])
        ntr = 2 if STRING[d.op][1] >= 0 else 1
        zf = (d.post_flags >> 6) & 1
        # REPE (F3) stops on ZF = 0, REPNE (F2) on ZF = 1, judged on the flags after the
        # last comparison.
        by_flag = zf == (1 if d.rep == 0xF2 else 0)
        for k in range(n):
            for j in range(ntr):
                t = STRING[d.op][j]
                if t == 0:
                    self.mem_xfer(OP_R, w, si, seg, 4)
                    si = (si + step) & 0xFFFF
                elif t == 1:
                    self.mem_xfer(OP_R, w, di, ES, 4)
                    di = (di + step) & 0xFFFF
                else:
                    self.mem_xfer(OP_W, w, di, ES, 4)
                    di = (di + step) & 0xFFFF
                if j + 1 < ntr:
                    self.i_(p[5] if rep else p[1])
            last = k == n - 1
            end = p[7]
            if last and np > 8 and d.post_cx == 0 and not by_flag:
                # CMPS/SCAS ended by the count rather than the flag.
                end += p[8]
            self.i_((end if last else p[6]) if rep else p[2])
        if self.ops[self.nops - 2].code == OP_W and self.ops[self.nops - 1].n == 0:
            self.ops[self.nops - 2].release = 3
        return 0

