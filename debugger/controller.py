"""The debugger controller: breakpoints, watchpoints, catchpoints and execution control
over a running machine, with no user interface.

The command language (debugger/commands.py), the Textual TUI (debugger/tui.py) and the
gdb stub (debugger/gdbstub.py) are front ends over one Debugger, so they agree.

The checks themselves live in the CPU (core/cpu.pyx, the ``dbg_*`` methods): page bitmaps
for execution breakpoints and watchpoints, a flag per I/O port and per vector.  The CPU
only tests one flag per instruction when nothing is armed.  When an armed check matches,
the CPU stops at an instruction boundary and reports *hits*; this module turns hits into
StopEvents after evaluating conditions, hit counts and temporary breakpoints.

Addresses: a linear address is what segmentation produces (CS base + EIP); a physical
address is after paging (and A20).  Breakpoints of kind "virt" match a CS selector and an
offset (Bochs ``vb``), "lin" a linear address (``lb``), "phys" a physical address
(``pb``/``b``).
"""
from __future__ import annotations

import collections
import contextlib
import threading
from dataclasses import dataclass, field

from debugger import x87
from debugger.trace import RECORD_SLICE_CYCLES

# Hit kinds reported by the CPU (core/cpu.pyx, dbg_hits()).
HIT_EXEC_LIN, HIT_EXEC_PHYS, HIT_EXEC_OFF = 1, 2, 3
HIT_WATCH, HIT_IO, HIT_VECTOR, HIT_MODE, HIT_MAGIC, HIT_RETURN = 4, 5, 6, 7, 8, 9

# Vector-catch kinds, as bits (the CPU's vector flag bits).
VECTOR_KINDS = {"exception": 1, "software": 2, "hardware": 4, "nmi": 8}
VECTOR_KIND_NAMES = {0: "exception", 1: "software", 2: "hardware", 3: "nmi"}

EXCEPTION_NAMES = {
    0: "#DE", 1: "#DB", 2: "NMI", 3: "#BP", 4: "#OF", 5: "#BR", 6: "#UD", 7: "#NM",
    8: "#DF", 9: "CSO", 10: "#TS", 11: "#NP", 12: "#SS", 13: "#GP", 14: "#PF", 16: "#MF",
    17: "#AC", 18: "#MC",
}

MODE_NAMES = {0: "real", 1: "protected", 2: "v86"}

NEVER = 0xFFFFFFFFFFFFFFFF
# Cycles per run slice while continuing: long enough to cost nothing, short enough that
# a break request or a trace drain is handled promptly.
SLICE_CYCLES = 2_000_000
# ... and while a trace is recorded, at most this many (debugger/trace.py says why).
TRACE_SLICE_CYCLES = RECORD_SLICE_CYCLES


class DebugError(Exception):
    """A request the debugger cannot carry out (bad address, unknown breakpoint...)."""


# ===================================================================== descriptors

@dataclass(frozen=True)
class Descriptor:
    """The fields of an 8-byte GDT/LDT/IDT entry (Intel SDM vol. 3, 3.4.5 segment
    descriptors, 6.11 gate descriptors).  The views word them their own way; the bits are
    pulled apart here once."""
    raw: int

    @property
    def access(self):
        return (self.raw >> 40) & 0xFF

    @property
    def present(self):
        return bool(self.access & 0x80)

    @property
    def dpl(self):
        return (self.access >> 5) & 3

    @property
    def system(self):
        """A system segment or gate (S = 0) rather than code or data."""
        return not self.access & 0x10

    @property
    def type(self):
        return self.access & 0xF

    @property
    def base(self):
        return ((self.raw >> 16) & 0xFFFFFF) | (((self.raw >> 56) & 0xFF) << 24)

    @property
    def raw_limit(self):
        """The 20-bit limit field as stored."""
        return (self.raw & 0xFFFF) | (((self.raw >> 48) & 0xF) << 16)

    @property
    def granular(self):
        return bool(self.raw & (1 << 55))

    @property
    def limit(self):
        """The limit in bytes (the G bit applied)."""
        return (self.raw_limit << 12) | 0xFFF if self.granular else self.raw_limit

    @property
    def big(self):
        """The D/B bit: 32-bit code or stack."""
        return bool(self.raw & (1 << 54))

    @property
    def selector(self):
        """A gate's target selector."""
        return (self.raw >> 16) & 0xFFFF

    @property
    def offset(self):
        """A gate's target offset: 32 bits in 386 gates (types 12-15), 16 in 286 ones."""
        high = ((self.raw >> 48) & 0xFFFF) << 16 if self.type >= 12 else 0
        return (self.raw & 0xFFFF) | high


# ===================================================================== points

@dataclass
class Point:
    """What every breakpoint, watchpoint and catchpoint has (gdb numbers them together)."""
    id: int
    enabled: bool = True
    hits: int = 0
    condition: str | None = None
    temporary: bool = False
    ignore_count: int = 0            # hits to let pass before stopping
    _compiled: object = field(default=None, repr=False, compare=False)

    what = "point"

    def describe(self):
        raise NotImplementedError


@dataclass
class Breakpoint(Point):
    kind: str = "phys"               # "phys", "lin" or "virt"
    address: int = 0                 # physical/linear address, or the offset for "virt"
    segment: int | None = None       # the CS selector for "virt"
    symbol: str | None = None        # how the user named it, if by symbol
    internal: bool = False           # the controller's own (next, until): not listed
    _check: object = field(default=None, repr=False, compare=False)   # internal: extra test
    _reason: str = field(default="until", repr=False, compare=False)

    what = "breakpoint"

    def describe(self):
        if self.kind == "virt":
            where = "%04x:%08x" % (self.segment, self.address)
        else:
            where = "0x%08x" % self.address
        text = "%s %s %s" % ({"phys": "pbreakpoint", "lin": "lbreakpoint",
                              "virt": "vbreakpoint"}[self.kind], where,
                             "<%s>" % self.symbol if self.symbol else "")
        return text.rstrip()


@dataclass
class Watchpoint(Point):
    space: str = "lin"               # "lin" or "phys"
    address: int = 0
    length: int = 1
    access: str = "w"                # "r", "w" or "rw"
    old: int | None = None           # value before the last hit's write
    new: int | None = None           # and after (the value read, for a read)

    what = "watchpoint"

    def describe(self):
        kind = {"r": "read", "w": "write", "rw": "access"}[self.access]
        return "%s watchpoint %s 0x%08x len %d" % (kind, self.space, self.address, self.length)


@dataclass
class Catchpoint(Point):
    on: str = "io"                   # "io", "vector", "mode", "magic"
    first: int = 0                   # port or vector range
    last: int = 0
    access: str = "rw"               # for io: "r", "w" or "rw"
    kinds: tuple = ("exception", "software", "hardware", "nmi")   # for vector

    what = "catchpoint"

    def describe(self):
        if self.on == "io":
            ports = ("0x%x" % self.first if self.first == self.last
                     else "0x%x-0x%x" % (self.first, self.last))
            return "catch io %s %s" % (ports, {"r": "in", "w": "out", "rw": "in/out"}[self.access])
        if self.on == "vector":
            vecs = ("0x%02x" % self.first if self.first == self.last
                    else "0x%02x-0x%02x" % (self.first, self.last))
            return "catch vector %s (%s)" % (vecs, ", ".join(self.kinds))
        if self.on == "mode":
            return "catch mode switch"
        return "catch magic breakpoint (xchg bx,bx)"


# ===================================================================== stop events

@dataclass
class StopEvent:
    """Why execution stopped, and where.

    reason: "step", "breakpoint", "watchpoint", "io", "vector", "mode", "magic", "finish",
    "until", "cycle" (run to cycle N reached), "budget" (max_cycles spent), "halt" (HLT
    with nothing to wake it), "shutdown" (triple fault), "break" (request_break),
    "exit" (the guest asked to stop, e.g. isa-debug-exit).
    """
    reason: str
    message: str
    point: Point | None = None
    details: dict = field(default_factory=dict)
    cycle: int = 0
    icount: int = 0
    cs: int = 0
    eip: int = 0
    linear: int = 0
    mode: str = "real"

    def __str__(self):
        return self.message


# ===================================================================== the controller

class Debugger:
    """Debug one machine.  `target` is a core.pc.PC or a core.machine.Machine."""

    def __init__(self, target, symbols=None):
        if hasattr(target, "machine") and hasattr(target, "chips"):
            self.pc, self.machine = target, target.machine
        else:
            self.pc, self.machine = None, target
        self.cpu = self.machine.cpu
        self.clock = self.machine.clock
        self.bus = self.machine.bus
        self._symbols = symbols
        self.points = {}                 # id -> Point, in creation order
        self._next_id = 1
        self.on_stop = []                # callables(StopEvent), called after every stop
        self.running = False
        self.last_stop = None
        self.magic_enabled = False
        self._lock = threading.Lock()    # one runner at a time
        self._host_calls = collections.deque()   # host input waiting for a slice boundary
        self._break = False
        self.trace = None                # a debugger.trace.TraceWriter while recording
        self._mode_seen = self._mode_code()
        self.history = None              # debugger.reverse.History while recording
        # An 8086/8088 timed by the bus model keeps each instruction's clocks for `info
        # bus`: tuples appended beside the Python model's own replay of that instruction.
        timing = getattr(self.machine, "bus_timing", None)
        if timing is not None:
            timing.record = True

    @property
    def symbols(self):
        """The symbol table (debugger/symbols.py) used for names in addresses and output."""
        if self._symbols is None:
            from debugger.symbols import SymbolTable
            self._symbols = SymbolTable()
        return self._symbols

    @symbols.setter
    def symbols(self, table):
        self._symbols = table

    # ------------------------------------------------------------ machine state
    def mode(self):
        """"real", "protected" or "v86"."""
        return MODE_NAMES[self._mode_code() & 3]

    def _mode_code(self):
        cr0, eflags = self.cpu.cr0, self.cpu.eflags
        if not (cr0 & 1):
            code = 0
        elif eflags & 0x20000:
            code = 2
        else:
            code = 1
        if (cr0 & 0x80000001) == 0x80000001:
            code |= 4
        return code

    def paging(self):
        return (self.cpu.cr0 & 0x80000001) == 0x80000001

    def code_bits(self):
        """16 or 32: the default operand size of the current code segment."""
        if self.mode() != "protected":
            return 16
        return 32 if self.cpu.get_segment("cs").access & 0x400000 else 16

    def registers(self):
        """The register file as a dict: general, eip, eflags, segment selectors, control
        and debug registers, gdtr/idtr (base, limit)."""
        cpu = self.cpu
        regs = {n: cpu.get(n) for n in ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp",
                                         "esp", "eip", "eflags", "cs", "ds", "es", "ss",
                                         "fs", "gs", "cr0", "cr2", "cr3", "cr4", "dr0",
                                         "dr1", "dr2", "dr3", "dr6", "dr7")}
        regs["gdtr"] = cpu.gdtr
        regs["idtr"] = cpu.idtr
        regs["ldtr"] = cpu.get_segment("ldtr").selector
        regs["tr"] = cpu.get_segment("tr").selector
        return regs

    def register(self, name):
        """One register (any name core.cpu.REGISTER_NAMES has, and the x87's by gdb's
        names: st0-st7 as 80-bit integers, fctrl fstat ftag fiseg fioff foseg fooff fop);
        KeyError if unknown, or an x87 name on a model without an FPU."""
        name = name.lower().lstrip("$")
        if name == "if":
            name = "if_"
        if name in ("ldtr", "tr"):
            return self.cpu.get_segment(name).selector
        if name in x87.NAMES:
            fpu = self.fpu
            if fpu is None:
                raise KeyError(name)
            if name in x87.CONTROL_REGISTERS:
                attr, mask = x87.CONTROL_REGISTERS[name]
                return getattr(fpu, attr) & mask
            return fpu.st(x87.ST_NAMES.index(name))
        return self.cpu.get(name)

    def set_register(self, name, value):
        """Write a register.  st0-st7 take an 80-bit integer (x87.encode makes one from a
        number) and their tag follows the value (the register is no longer empty)."""
        name = name.lower().lstrip("$")
        if name == "if":
            name = "if_"
        if name in x87.NAMES:
            fpu = self.fpu
            if fpu is None:
                raise DebugError("the %s model has no x87 FPU (no %s register)"
                                 % (self.model_name(), name))
            if name in x87.CONTROL_REGISTERS:
                attr, mask = x87.CONTROL_REGISTERS[name]
                setattr(fpu, attr, value & mask)
            else:
                fpu.set_st(x87.ST_NAMES.index(name), value & ((1 << 80) - 1))
            return
        from core.cpu import REGISTER_NAMES
        if name not in REGISTER_NAMES:
            raise DebugError("unknown register %r" % name)
        self.cpu.set(name, value)

    def model_name(self):
        """The CPU model's name ("80386", "pentium2"...)."""
        return getattr(self.cpu.model, "name", str(self.cpu.model))

    @property
    def fpu(self):
        """The CPU's x87 unit (core/fpu.pyx), or None on a model without one."""
        return getattr(self.cpu, "fpu", None)

    def fpu_state(self):
        """The x87 registers now (debugger.x87.FPUState), or None without an FPU."""
        fpu = self.fpu
        return None if fpu is None else x87.FPUState.read(fpu)

    def segment(self, name):
        """The segment register's cache: (selector, base, limit, access)."""
        return self.cpu.get_segment(name)

    def current_linear(self):
        return (self.cpu.get_segment("cs").base + self.cpu.eip) & 0xFFFFFFFF

    def seg_to_linear(self, seg, off):
        """seg:off to linear.  `seg` is a register name ("ds") — whose cached base is used —
        or a selector value: the real-mode/v86 rule (seg*16) outside protected mode, and the
        descriptor's base from the GDT/LDT in protected mode."""
        if isinstance(seg, str):
            return (self.cpu.get_segment(seg.lower()).base + off) & 0xFFFFFFFF
        seg &= 0xFFFF
        if self.mode() != "protected":
            return ((seg << 4) + (off & 0xFFFF)) & 0xFFFFFFFF
        base = self.descriptor_base(seg)
        if base is None:
            raise DebugError("selector 0x%04x is not in the GDT/LDT" % seg)
        return (base + off) & 0xFFFFFFFF

    def descriptor(self, selector):
        """The 8-byte descriptor for `selector` as an int, or None if outside its table."""
        index = selector & 0xFFF8
        if selector & 4:
            ldtr = self.cpu.get_segment("ldtr")
            base, limit = ldtr.base, ldtr.limit
        else:
            base, limit = self.cpu.gdtr
        if index + 7 > limit:
            return None
        try:
            return int.from_bytes(self.read(base + index, 8), "little")
        except DebugError:
            return None

    def descriptor_base(self, selector):
        d = self.descriptor(selector)
        return None if d is None else Descriptor(d).base

    def translate(self, linear):
        """Physical address of `linear`, or None if it is not mapped; sets no A/D bits.
        Under PAE it can lie above 4 GiB (where this board has nothing)."""
        p = self.cpu.probe_phys(linear & 0xFFFFFFFF)
        return None if p < 0 else p

    def _read_phys(self, address, length):
        # Above 4 GiB (a PAE frame) nothing answers: open bus, all ones.
        if address >> 32:
            return b"\xff" * length
        return bytes(self.bus.read(address, length))

    def read(self, address, length, space="lin"):
        """`length` bytes at a linear (space "lin") or physical ("phys") address.  Raises
        DebugError naming the first unmapped page."""
        if space == "phys":
            return self._read_phys(address & 0xFFFFFFFFF, length)
        out = bytearray()
        addr = address & 0xFFFFFFFF
        while len(out) < length:
            n = min(length - len(out), 0x1000 - (addr & 0xFFF))
            p = self.translate(addr)
            if p is None:
                raise DebugError("linear address 0x%08x is not mapped" % addr)
            out += self._read_phys(p, n)
            addr = (addr + n) & 0xFFFFFFFF
        return bytes(out)

    def page_directory(self):
        """The present page-directory entries in use, for the page-table views, as
        (linear base, span, entry, large page, rights entry) with `entry` the PDE (an int).
        Two-level paging: 1024 PDEs of 4 MiB; PAE: up to 4 x 512 PDEs of 2 MiB under
        the PDPTE registers.  Entries with reserved bits set (which fault) are left out."""
        cpu = self.cpu
        cr3, cr4 = cpu.cr3, cpu.cr4
        out = []
        if cr4 & 0x20:
            for i, pdpte in enumerate(cpu.pdptes):
                if not pdpte & 1:
                    continue
                pd = self.read(pdpte & 0xFFFFFF000, 4096, "phys")
                for j in range(512):
                    pde = int.from_bytes(pd[8 * j:8 * j + 8], "little")
                    if pde & 1 and not pde >> 36:
                        out.append(((i << 30) | (j << 21), 1 << 21, pde, bool(pde & 0x80)))
            return out
        pd = self.read(cr3 & 0xFFFFF000, 4096, "phys")
        for i in range(1024):
            pde = int.from_bytes(pd[4 * i:4 * i + 4], "little")
            if pde & 1:
                out.append((i << 22, 1 << 22, pde, bool(pde & 0x80 and cr4 & 0x10)))
        return out

    def page_table(self, pde):
        """The present entries of the page table a (non-large) PDE points to, as
        (linear offset in the PDE's span, PTE); 64-bit entries under PAE."""
        if self.cpu.cr4 & 0x20:
            table = self.read(pde & 0xFFFFFF000, 4096, "phys")
            entries = (int.from_bytes(table[8 * k:8 * k + 8], "little") for k in range(512))
        else:
            table = self.read(pde & 0xFFFFF000, 4096, "phys")
            entries = (int.from_bytes(table[4 * k:4 * k + 4], "little") for k in range(1024))
        return [(k << 12, pte) for k, pte in enumerate(entries) if pte & 1 and not pte >> 36]

    def write(self, address, data, space="lin"):
        """Write bytes at a linear or physical address (ROM stays unchanged, as on a PC)."""
        data = bytes(data)
        if space == "phys":
            if not (address & 0xFFFFFFFFF) >> 32:
                self.bus.write(address & 0xFFFFFFFF, data)
            return
        addr, done = address & 0xFFFFFFFF, 0
        while done < len(data):
            n = min(len(data) - done, 0x1000 - (addr & 0xFFF))
            p = self.translate(addr)
            if p is None:
                raise DebugError("linear address 0x%08x is not mapped" % addr)
            if not p >> 32:                 # above 4 GiB the write goes nowhere
                self.bus.write(p, data[done:done + n])
            done += n
            addr = (addr + n) & 0xFFFFFFFF

    def read_int(self, address, size, space="lin"):
        return int.from_bytes(self.read(address, size, space), "little")

    # ------------------------------------------------------------ expressions
    def evaluate(self, text):
        """Evaluate an expression (debugger/expr.py) against the machine: registers,
        memory (linear addresses), symbols."""
        from debugger import expr
        return expr.evaluate(text, _Env(self))

    def evaluate_value(self, text):
        """As evaluate, but a real result (st0 * 2, 1.5) is returned as it is: an exact
        Fraction, or the float inf or nan."""
        from debugger import expr
        return expr.compile(text).value(_Env(self))

    def _condition_true(self, point):
        if not point.condition:
            return True
        from debugger import expr
        if point._compiled is None:
            point._compiled = expr.compile(point.condition)
        try:
            return bool(point._compiled.value(_Env(self)))
        except expr.ExprError:
            return True                  # an unevaluable condition stops, as gdb does

    # ------------------------------------------------------------ points
    def _add(self, point):
        self.points[point.id] = point
        self._next_id = max(self._next_id, point.id + 1)
        self._arm()
        return point

    def _new_id(self):
        i = self._next_id
        self._next_id += 1
        return i

    def break_at(self, kind, address, segment=None, condition=None, temporary=False,
                 symbol=None, internal=False):
        """A breakpoint: kind "phys" (pb/b), "lin" (lb) or "virt" (vb, with `segment`)."""
        if kind not in ("phys", "lin", "virt"):
            raise DebugError("breakpoint kind must be phys, lin or virt, not %r" % kind)
        if kind == "virt" and segment is None:
            raise DebugError("a virtual breakpoint needs a segment (vb seg:off)")
        if condition:
            self._check_expression(condition)
        return self._add(Breakpoint(self._new_id(), kind=kind, address=address & 0xFFFFFFFF,
                                    segment=segment, condition=condition or None,
                                    temporary=temporary, symbol=symbol, internal=internal))

    def watch(self, space, address, length=1, access="w", condition=None):
        """A watchpoint on `length` bytes at a linear or physical address; access "r", "w"
        or "rw".  Stops after the accessing instruction, with the old and new value."""
        if space not in ("lin", "phys"):
            raise DebugError("watchpoint space must be lin or phys, not %r" % space)
        if access not in ("r", "w", "rw"):
            raise DebugError("watchpoint access must be r, w or rw, not %r" % access)
        if not 1 <= length <= 0x100000:
            raise DebugError("watchpoint length must be 1 to 1 MiB, not %d" % length)
        if condition:
            self._check_expression(condition)
        return self._add(Watchpoint(self._new_id(), space=space, address=address & 0xFFFFFFFF,
                                    length=length, access=access, condition=condition or None))

    def catch_io(self, first, last=None, access="rw", condition=None):
        """Stop after an IN/OUT/INS/OUTS touching ports first..last."""
        last = first if last is None else last
        if not (0 <= first <= last <= 0xFFFF):
            raise DebugError("I/O ports must be 0 to 0xffff, first <= last")
        if access not in ("r", "w", "rw"):
            raise DebugError("I/O catch access must be r, w or rw, not %r" % access)
        return self._add(Catchpoint(self._new_id(), on="io", first=first, last=last,
                                    access=access, condition=condition or None))

    def catch_vector(self, first, last=None, kinds=("exception", "software", "hardware", "nmi"),
                     condition=None):
        """Stop when interrupt/exception vectors first..last are delivered, at the handler's
        first instruction (a triple fault always stops, as "shutdown")."""
        last = first if last is None else last
        if not (0 <= first <= last <= 255):
            raise DebugError("vectors must be 0 to 255, first <= last")
        bad = [k for k in kinds if k not in VECTOR_KINDS]
        if bad:
            raise DebugError("unknown vector kind %r (exception, software, hardware, nmi)"
                             % bad[0])
        return self._add(Catchpoint(self._new_id(), on="vector", first=first, last=last,
                                    kinds=tuple(kinds), condition=condition or None))

    def catch_mode(self):
        """Stop after any instruction that changes real/protected/v86 mode or paging."""
        return self._add(Catchpoint(self._new_id(), on="mode"))

    def catch_magic(self):
        """Stop after `xchg bx,bx` (87 DB), Bochs's magic breakpoint."""
        return self._add(Catchpoint(self._new_id(), on="magic"))

    def enable(self, point_id, on=True):
        self._point(point_id).enabled = bool(on)
        self._arm()

    def delete(self, point_id):
        self._point(point_id)
        del self.points[point_id]
        self._arm()

    def delete_all(self):
        self.points = {i: p for i, p in self.points.items()
                       if isinstance(p, Breakpoint) and p.internal}
        self._arm()

    def list_points(self):
        """The user's points (not the controller's internal ones), by id."""
        return [p for p in self.points.values()
                if not (isinstance(p, Breakpoint) and p.internal)]

    def _point(self, point_id):
        try:
            return self.points[point_id]
        except KeyError:
            raise DebugError("no breakpoint, watchpoint or catchpoint number %s"
                             % point_id) from None

    def _check_expression(self, text):
        from debugger import expr
        try:
            expr.compile(text)
        except expr.ExprError as e:
            raise DebugError("bad condition %r: %s" % (text, e)) from None

    def _arm(self):
        """Give the CPU the address lists and flags of the enabled points."""
        lin, phys, offs, watches, io, vectors = set(), set(), set(), [], [], []
        mode = magic = False
        self._armed_watches = []
        for p in self.points.values():
            if not p.enabled:
                continue
            if isinstance(p, Breakpoint):
                {"lin": lin, "phys": phys, "virt": offs}[p.kind].add(p.address)
            elif isinstance(p, Watchpoint):
                last = min(p.address + p.length - 1, 0xFFFFFFFF)
                watches.append((p.space == "phys", p.address, last, ACCESS_BITS[p.access]))
                self._armed_watches.append(p)
            elif p.on == "io":
                io.append((p.first, p.last, ACCESS_BITS[p.access]))
            elif p.on == "vector":
                vectors.append((p.first, p.last, sum(VECTOR_KINDS[k] for k in p.kinds)))
            elif p.on == "mode":
                mode = True
            elif p.on == "magic":
                magic = True
        try:
            self.cpu.dbg_set_breakpoints(sorted(lin), sorted(phys), sorted(offs))
            self.cpu.dbg_set_watchpoints(watches)
        except ValueError as e:
            raise DebugError(str(e)) from None
        self.cpu.dbg_set_io(io)
        self.cpu.dbg_set_vectors(vectors)
        self.cpu.dbg_set_catch(mode=mode, magic=magic)

    # ------------------------------------------------------------ running
    def step(self, n=1):
        """Execute `n` instructions (an interrupt delivery counts as one step, as in Bochs);
        stops early at a breakpoint (after the first step), watchpoint or catchpoint."""
        if n < 1:
            raise DebugError("step count must be at least 1, not %d" % n)
        with self._running():
            m, cpu = self.machine, self.cpu
            for i in range(n):
                if cpu.shutdown:
                    return self._stop(self._shutdown_event())
                if cpu.halted:
                    ev = self._wait_halted()
                    if ev is not None:
                        return self._stop(ev)
                if self.history is not None:
                    self.history.apply_inputs(self.clock.now)
                m.step()
                self._drain_trace()
                if self.history is not None:
                    self.history.maybe_take()
                    self._drain_host_calls()
                ev = self._hits_event(cpu.dbg_hits())
                if ev is None and cpu.stop_requested and not self._break:
                    ev = self._exit_event()
                if ev is None and cpu.shutdown:
                    ev = self._shutdown_event()
                if ev is None and i < n - 1:
                    ev = self.breakpoint_stop()
                if ev is not None:
                    return self._stop(ev)
            return self._stop(self._event("step", ""))

    def next(self):
        """Step over: CALL, INT n and REP string instructions run to the next instruction
        (at the same or a shallower stack depth); anything else is one step."""
        cpu = self.cpu
        length = self._step_over_length()
        if length is None:
            return self.step()
        cs = cpu.get_segment("cs")
        mask = 0xFFFFFFFF if self.code_bits() == 32 else 0xFFFF
        target = (cs.base + ((cpu.eip + length) & mask)) & 0xFFFFFFFF
        ss, esp = cpu.get("ss"), cpu.get("esp")
        bp = self.break_at("lin", target, internal=True)
        # Recursion passes the same address deeper in the stack: only stop when the
        # stack is back where it was.
        bp._check = lambda: cpu.get("ss") != ss or cpu.get("esp") >= esp
        bp._reason = "step"
        try:
            ev = self._run(internal=bp)
        finally:
            self.delete(bp.id)
        return ev

    def finish(self):
        """Run until the current procedure returns (RET/RETF/IRET leaving ESP above its
        current value, or changing SS)."""
        cpu = self.cpu
        cpu.dbg_arm_return(cpu.get("ss"), cpu.get("esp"))
        try:
            return self._run()
        finally:
            cpu.dbg_arm_return(None)

    def cont(self, max_cycles=None):
        """Run until a point stops it, the guest halts for good or shuts down, the guest
        exits, request_break(), or `max_cycles` cycles pass (reason "budget")."""
        return self._run(max_cycles=max_cycles)

    def until(self, linear):
        """Run until execution reaches linear address `linear` (reason "until")."""
        bp = self.break_at("lin", linear, internal=True)
        bp._reason = "until"
        try:
            return self._run(internal=bp)
        finally:
            self.delete(bp.id)

    def run_to_cycle(self, cycle):
        """Run until the clock reaches `cycle` (reason "cycle"), or something stops it
        first.  It stops at the first instruction boundary at or after `cycle`."""
        if cycle <= self.clock.now:
            raise DebugError("cycle %d is not in the future (now %d)" % (cycle, self.clock.now))
        return self._run(stop_cycle=cycle)

    # ------------------------------------------------------------ reverse execution
    def record(self, on=True, budget=None, interval=None):
        """Start (or stop) recording for reverse execution (debugger/reverse.py): a
        snapshot now, then one every `interval` seconds of host time while the guest
        runs (default: 0.25 s or more, adapting to what a snapshot costs), within
        `budget` bytes."""
        from debugger import reverse
        if self.history is not None:
            self.history.close()
            self.history = None
        if not on:
            return None
        if self.trace is not None:
            raise DebugError("reverse execution and trace recording do not mix: stop the "
                             "trace first")
        try:
            self.history = reverse.History(
                self, budget=budget or reverse.DEFAULT_BUDGET, interval=interval)
        except Exception as e:
            from core.snapshot import SnapshotError
            if isinstance(e, SnapshotError):
                raise DebugError(str(e)) from None
            raise
        return self.history

    def _reverse(self, how):
        from debugger import reverse
        from core.snapshot import SnapshotError
        if self.history is None:
            raise DebugError("reverse execution needs a recorded history: `record on` "
                             "(cycle86 debug records from the start unless --no-record)")
        if self.trace is not None:
            raise DebugError("reverse execution and trace recording do not mix: stop the "
                             "trace first")
        with self._running():
            self.cpu.dbg_hits()
            try:
                return how(self.history)
            except (reverse.ReverseError, SnapshotError) as e:
                raise DebugError(str(e)) from None
            finally:
                self.cpu.dbg_hits()
                self.cpu.dbg_resume()

    def reverse_step(self, n=1):
        """Go back `n` instructions (reverse-stepi): to where `step` was n steps ago."""
        if n < 1:
            raise DebugError("step count must be at least 1, not %d" % n)
        self._reverse(lambda h: h.find_back(n))
        return self._stop(self._event("step", ""))

    def reverse_next(self):
        """Go back one instruction in this procedure: over a call or interrupt handler
        that returned just now, to the instruction before it (same SS, ESP not lower)."""
        cpu = self.cpu
        ss, esp = cpu.get("ss"), cpu.get("esp")
        self._reverse(lambda h: h.find_back(
            1, lambda: cpu.get("ss") != ss or cpu.get("esp") >= esp))
        return self._stop(self._event("step", ""))

    def reverse_finish(self):
        """Go back to the call of the current procedure: the CALL or INT n before now
        whose return address is still on the stack."""
        cpu = self.cpu
        self._reverse(lambda h: h.find_call(
            lambda: (cpu.get("ss"), cpu.get("esp"), self._call_here())))
        return self._stop(self._event("finish", "Run back to the call at %s"
                                      % self.location()))

    def _call_here(self):
        """Whether the instruction at CS:EIP is a CALL or a software interrupt."""
        try:
            code = self.read(self.current_linear(), 8)
        except DebugError:
            return False
        i = 0
        while i < len(code) - 1 and code[i] in PREFIXES:
            i += 1
        op = code[i]
        return (op in (0xE8, 0x9A, 0xCC, 0xCD, 0xCE)
                or (op == 0xFF and i + 1 < len(code) and (code[i + 1] >> 3) & 7 in (2, 3)))

    def reverse_continue(self):
        """Go back to the previous hit of an enabled breakpoint, watchpoint or
        catchpoint (the last one before now), or to the start of the recorded history."""

        def evaluate(hits):
            # Counters and temporaries as they are: a search must not change them.
            saved = {p.id: (p.hits, p.ignore_count, p.temporary, getattr(p, "old", None),
                            getattr(p, "new", None)) for p in self.points.values()}
            for p in self.points.values():
                p.temporary = False
            try:
                return self._hits_event(hits)
            finally:
                for p in self.points.values():
                    if p.id in saved:
                        p.hits, p.ignore_count, p.temporary = saved[p.id][:3]
                        if isinstance(p, Watchpoint):
                            p.old, p.new = saved[p.id][3:]

        def how(h):
            from debugger import reverse
            try:
                return h.find_hits(evaluate)[1]
            except reverse.ReverseError:
                h.goto((h.snapshots[0].cycle, h.snapshots[0].icount))
                return None

        ev = self._reverse(how)
        if ev is None:
            return self._stop(self._event("history", "No earlier hit: at the start of the "
                                          "recorded history, %s" % self.location()))
        ev.point.hits = max(0, ev.point.hits)
        return self._stop(ev)

    def call_between_slices(self, fn):
        """Run fn() on the guest's side: at once when the guest is stopped, else between
        two slices of the running guest (thread-safe: a UI thread hands keys over this
        way, and they reach the machine at a cycle of the guest's own run, so the input
        log replays them exactly)."""
        if self._lock.acquire(blocking=False):
            try:
                self.host_input(fn)
            finally:
                self._lock.release()
        else:
            self._host_calls.append(fn)

    def host_input(self, fn):
        """Apply host input (a key sent, fn() does it) now, on the guest's side; while
        recording for reverse execution it is journalled, to be applied again at this
        cycle when the run is re-executed.  Returns what fn returns."""
        if self.history is not None:
            if self.cpu.rep_split:
                # Stopped between two iterations of a REP string instruction by a break
                # or a point: a re-executed run passes this point without stopping, so
                # the input goes in at the next boundary the run really has.
                self._host_calls.append(fn)
                return None
            self.history.note_input(fn)
        return fn()

    def _drain_host_calls(self):
        if self.history is not None and self.cpu.rep_split:
            return
        while self._host_calls:
            self.host_input(self._host_calls.popleft())

    def request_break(self):
        """Stop a running cont/next/finish at the next instruction boundary (thread-safe:
        call it from a UI thread or a signal handler)."""
        self._break = True
        self.cpu.request_stop()

    # ------------------------------------------------------------ the run loop
    @contextlib.contextmanager
    def _running(self):
        """One run at a time: refuse a second, and start each from a clean stop state."""
        if not self._lock.acquire(blocking=False):
            raise DebugError("the guest is already running")
        try:
            self.running = True
            self._break = False
            # A break requested while stopped is stale; a pending platform reset also
            # uses the stop request, so leave that one.
            if not getattr(self.machine, "_reset_requested", False):
                self.cpu.stop_requested = False
            self._drain_host_calls()        # handed over just as the last run ended
            # Continuing after the guest asked to exit runs what follows its exit write
            # (a debugger user may want to); the exit is reported once.
            port = self.debugport()
            if port is not None and port.exit_status is not None:
                port.exit_status = port.stop_reason = None
            self.cpu.dbg_hits()
            yield
        finally:
            self.running = False
            self._lock.release()

    def _run(self, max_cycles=None, stop_cycle=None, internal=None):
        with self._running():
            m, cpu, clock = self.machine, self.cpu, self.clock
            end, end_reason = NEVER, None
            if max_cycles is not None:
                end, end_reason = clock.now + max_cycles, "budget"
            if stop_cycle is not None and stop_cycle < end:
                end, end_reason = stop_cycle, "cycle"
            cpu.dbg_resume()
            while True:
                if cpu.shutdown:
                    return self._stop(self._shutdown_event())
                if clock.now >= end:
                    return self._stop(self._event(end_reason, self._end_message(end_reason)))
                budget = min(self._slice_cycles(), end - clock.now)
                history = self.history
                if history is not None:
                    # Input journalled for this stretch of re-executed history goes in
                    # at its cycle: the slice ends there.
                    history.apply_inputs(clock.now)
                    budget = min(budget, max(1, history.next_input() - clock.now))
                reason = m.run(max_cycles=budget)
                self._drain_trace()
                if history is not None:
                    history.maybe_take()
                self._drain_host_calls()
                if reason == "budget":
                    continue
                if reason == "debug":
                    ev = self._hits_event(cpu.dbg_hits(), internal)
                    if cpu.shutdown:
                        # The event that was caught could not be delivered: say both.
                        down = self._shutdown_event()
                        if ev is not None:
                            down.message = ev.message + "\n" + down.message
                            down.details["also"] = [ev]
                        return self._stop(down)
                    if ev is not None:
                        return self._stop(ev)
                    cpu.dbg_resume()        # a false condition: go on past this point
                    continue
                if reason == "stop":
                    return self._stop(self._stop_request_event())
                if reason == "halt":
                    return self._stop(self._halt_event())
                if reason == "shutdown":
                    return self._stop(self._shutdown_event())
                raise DebugError("unexpected run result %r" % reason)

    def _slice_cycles(self):
        if self.trace is None:
            return SLICE_CYCLES
        return min(SLICE_CYCLES, TRACE_SLICE_CYCLES)

    def _wait_halted(self):
        """Let time pass while the CPU is halted, up to the event that wakes it."""
        m, cpu, clock = self.machine, self.cpu, self.clock
        while cpu.halted and not cpu.shutdown:
            history = self.history
            budget = self._slice_cycles()
            if history is not None:
                history.apply_inputs(clock.now)      # journalled input of re-executed history
                budget = min(budget, max(1, history.next_input() - clock.now))
            if clock.next_deadline == NEVER or not (cpu.eflags & 0x200):
                return self._halt_event()
            reason = m.run(max_cycles=max(1, min(budget, clock.next_deadline - clock.now)))
            self._drain_trace()
            self._drain_host_calls()
            if reason == "debug":
                ev = self._hits_event(cpu.dbg_hits())
                if ev is not None:
                    return ev
            if reason == "stop":
                return self._stop_request_event()
            if cpu.intr:
                break
        return None

    def _step_over_length(self):
        """Length of the instruction at CS:EIP if `next` should step over it."""
        from core import opcodes
        try:
            code = self.read(self.current_linear(), 16)
        except DebugError:
            return None
        bits = self.code_bits()
        i, rep = 0, False
        while i < len(code) and code[i] in PREFIXES:
            rep = rep or code[i] in (0xF2, 0xF3)
            i += 1
        if i >= len(code):
            return None
        op = code[i]
        over = (op in (0xE8, 0x9A, 0xCC, 0xCD, 0xCE)
                or (op == 0xFF and i + 1 < len(code) and (code[i + 1] >> 3) & 7 in (2, 3))
                or (rep and op in STRING_OPS))
        if not over:
            return None
        m = self.cpu.model
        return opcodes.insn_length(code, bits == 32, m.isa,
                                   tuple(f for f in opcodes.FEATURES if getattr(m, "has_" + f)))

    def breakpoint_stop(self):
        """The stop at an enabled user breakpoint at CS:EIP whose condition holds (its hit
        counted, a temporary one deleted), or None: for front ends that step on their own."""
        bp = self.breakpoint_here()
        if bp is None:
            return None
        bp.hits += 1
        if bp.temporary:
            self.delete(bp.id)
        return self._event("breakpoint", self._point_message(bp), bp)

    def breakpoint_here(self):
        """The enabled user breakpoint at CS:EIP whose condition holds, or None."""
        cpu = self.cpu
        lin = self.current_linear()
        phys = self.translate(lin)
        cs = cpu.get("cs")
        for p in self.points.values():
            if not isinstance(p, Breakpoint) or not p.enabled or p.internal:
                continue
            if ((p.kind == "lin" and p.address == lin) or (p.kind == "phys" and p.address == phys)
                    or (p.kind == "virt" and p.segment == cs and p.address == cpu.eip)) \
                    and self._condition_true(p):
                return p
        return None

    # ------------------------------------------------------------ hits -> stop events
    def _hits_event(self, hits, internal=None):
        """The StopEvent for the CPU's hits (None if every matching point declined:
        a false condition, an ignore count, a disabled point)."""
        events = []
        for kind, a, b, c, d, e, f in hits:
            if kind == HIT_RETURN:
                events.append(self._event("finish", "Returned to %s" % self.location()))
                continue
            for p in self._points_for(kind, a, b, c, d):
                if internal is not None and p is internal:
                    if p._check is None or p._check():
                        events.append(self._event(p._reason, "" if p._reason == "step"
                                                  else "Reached %s" % self.location()))
                    continue
                if isinstance(p, Breakpoint) and p.internal:
                    continue
                if not self._condition_true(p):
                    continue
                p.hits += 1
                if p.ignore_count > 0:
                    p.ignore_count -= 1
                    continue
                details = {}
                if kind == HIT_WATCH:
                    size, write = d & 0xFF, bool(d & 0x100)
                    p.old, p.new = e, f
                    details = {"linear": b, "physical": c, "size": size, "write": write,
                               "old": e, "new": f}
                elif kind == HIT_IO:
                    details = {"port": a, "size": b, "write": bool(c), "value": d}
                elif kind == HIT_VECTOR:
                    details = {"vector": a, "kind": VECTOR_KIND_NAMES[b],
                               "error": None if c == 0xFFFFFFFF else c, "cs": d, "eip": e}
                elif kind == HIT_MODE:
                    details = {"old": _mode_text(a), "new": _mode_text(b)}
                elif kind == HIT_MAGIC:
                    details = {"cs": a, "eip": b}
                events.append(self._event(_REASONS[kind], self._point_message(p, details),
                                          p, details))
                if p.temporary:
                    self.delete(p.id)
        if not events:
            return None
        ev = events[0]
        if len(events) > 1:
            ev.details["also"] = events[1:]
            extra = [e.message for e in events[1:] if e.message]
            if extra:
                ev.message = "\n".join([ev.message] + extra) if ev.message else "\n".join(extra)
        return ev

    def _points_for(self, kind, a, b, c, d):
        pts = self.points.values()
        if kind == HIT_EXEC_LIN:
            return [p for p in pts if isinstance(p, Breakpoint) and p.enabled
                    and p.kind == "lin" and p.address == a]
        if kind == HIT_EXEC_PHYS:
            return [p for p in pts if isinstance(p, Breakpoint) and p.enabled
                    and p.kind == "phys" and p.address == a]
        if kind == HIT_EXEC_OFF:
            return [p for p in pts if isinstance(p, Breakpoint) and p.enabled
                    and p.kind == "virt" and p.address == a and p.segment == b]
        if kind == HIT_WATCH:
            return [self._armed_watches[a]] if a < len(self._armed_watches) else []
        if kind == HIT_IO:
            bit = 2 if c else 1
            return [p for p in pts if isinstance(p, Catchpoint) and p.enabled and p.on == "io"
                    and p.first <= a <= p.last and ACCESS_BITS[p.access] & bit]
        if kind == HIT_VECTOR:
            name = VECTOR_KIND_NAMES[b]
            return [p for p in pts if isinstance(p, Catchpoint) and p.enabled
                    and p.on == "vector" and p.first <= a <= p.last and name in p.kinds]
        if kind == HIT_MODE:
            return [p for p in pts if isinstance(p, Catchpoint) and p.enabled and p.on == "mode"]
        if kind == HIT_MAGIC:
            return [p for p in pts if isinstance(p, Catchpoint) and p.enabled and p.on == "magic"]
        return []

    # ------------------------------------------------------------ messages
    def location(self):
        """Where the CPU is: "0000:7c00 (0x00007c00) <symbol+off>"."""
        cpu = self.cpu
        lin = self.current_linear()
        bits = self.code_bits()
        text = ("%04x:%08x" if bits == 32 else "%04x:%04x") % (cpu.get("cs"), cpu.eip)
        text += " (0x%08x)" % lin
        sym = self._symbols.format(lin) if self._symbols is not None and len(self._symbols) \
            else ""
        if sym:
            text += " <%s>" % sym
        return text

    def _event(self, reason, message, point=None, details=None):
        cpu = self.cpu
        return StopEvent(reason, message, point, dict(details or {}), self.clock.now,
                         cpu.icount, cpu.get("cs"), cpu.eip, self.current_linear(), self.mode())

    def _point_message(self, p, d=None):
        d = d or {}
        if isinstance(p, Breakpoint):
            return "Breakpoint %d, %s" % (p.id, self.location())
        if isinstance(p, Watchpoint):
            size = d.get("size", p.length)
            digits = 2 * size
            return ("Watchpoint %d: %s of %d byte%s at 0x%08x (%s): 0x%0*x -> 0x%0*x, now at %s"
                    % (p.id, "write" if d.get("write") else "read", size,
                       "" if size == 1 else "s",
                       d.get("linear", p.address) if p.space == "lin" else d.get("physical", 0),
                       "linear" if p.space == "lin" else "physical",
                       digits, d.get("old", 0), digits, d.get("new", 0), self.location()))
        if p.on == "io":
            return ("Catchpoint %d: %s port 0x%04x (%d byte%s) value 0x%0*x, now at %s"
                    % (p.id, "OUT to" if d["write"] else "IN from", d["port"], d["size"],
                       "" if d["size"] == 1 else "s", 2 * d["size"], d["value"],
                       self.location()))
        if p.on == "vector":
            vec = d["vector"]
            name = EXCEPTION_NAMES.get(vec, "") if d["kind"] == "exception" else ""
            err = "" if d["error"] is None else " error 0x%04x" % d["error"]
            cr2 = " cr2=0x%08x" % self.cpu.cr2 if vec == 14 and d["kind"] == "exception" else ""
            return ("Catchpoint %d: %s 0x%02x%s%s%s from %s, now at %s"
                    % (p.id, {"exception": "exception", "software": "software interrupt",
                              "hardware": "hardware interrupt", "nmi": "NMI"}[d["kind"]],
                       vec, " (%s)" % name if name else "", err, cr2,
                       self._cs_eip(d["cs"], d["eip"]),
                       self.location()))
        if p.on == "mode":
            return "Catchpoint %d: mode switch %s -> %s, now at %s" % (
                p.id, d["old"], d["new"], self.location())
        return "Magic breakpoint (xchg bx,bx) at %s, now at %s" % (
            self._cs_eip(d["cs"], d["eip"]), self.location())

    def _cs_eip(self, cs, eip):
        return ("%04x:%08x" if self.code_bits() == 32 else "%04x:%04x") % (cs, eip)

    def _shutdown_event(self):
        return self._event("shutdown", "Triple fault: the CPU shut down at %s" % self.location())

    def _halt_event(self):
        return self._event("halt", "The CPU halted with interrupts disabled or nothing "
                                   "scheduled that could wake it")

    def _stop_request_event(self):
        """A stop request ended the run: the user's break, or else the guest's exit."""
        if self._break:
            return self._event("break", "Stopped by request")
        return self._exit_event()

    def _end_message(self, reason):
        if reason == "cycle":
            return "Reached cycle %d at %s" % (self.clock.now, self.location())
        return "Ran for the cycle budget; now at %s" % self.location()

    def _exit_event(self):
        port = self.debugport()
        if port is not None and port.exit_status is not None:
            return self._event("exit", "The guest stopped: %s (exit status %d)"
                               % (port.stop_reason, port.exit_status),
                               details={"status": port.exit_status})
        return self._event("exit", "The guest stopped the machine")

    def debugport(self):
        """The machine's debug-port device (peripherals/debugport.py), or None."""
        if self.pc is not None:
            return self.pc.debugport
        from peripherals.debugport import DebugPort
        return next((d for d in self.machine.devices if isinstance(d, DebugPort)), None)

    def _stop(self, ev):
        self.last_stop = ev
        for callback in list(self.on_stop):
            callback(ev)
        return ev

    # ------------------------------------------------------------ the bus model
    def bus_clocks(self):
        """The last instruction's clocks as the 8086/8088 bus model (core/biu.pyx)
        timed them: (start cycle, CS, IP, cycles, clocks), clocks being BusTiming.records
        tuples (ALE, address, segment, status, T-state, queue op, queue byte, BHE#), empty
        when the model did not time that step; None before the first step.  DebugError
        when the machine has no bus timing."""
        timing = getattr(self.machine, "bus_timing", None)
        if timing is None:
            raise DebugError("this machine is not timed by the bus model (an 8086 or 8088, "
                             "where --bus-timing is the default unless --no-bus-timing)")
        last = self.machine.last_timed_step
        if last is None:
            return None
        return last + (list(timing.records),)

    # ------------------------------------------------------------ tracing
    def trace_start(self, path, description=""):
        """Record every instruction into `path` (docs/trace-format.md) until trace_stop."""
        from debugger.trace import TraceWriter
        if self.trace is not None:
            raise DebugError("a trace is already being recorded to %s" % self.trace.path)
        try:
            self.trace = TraceWriter.start(path, self.machine, description)
        except OSError as e:
            raise DebugError("%s: cannot write the trace (%s)" % (path, e.strerror or e)) \
                from None

    def trace_stop(self):
        if self.trace is None:
            return None
        self.cpu.trace_stop()
        self._drain_trace(last=True)
        path = self.trace.path
        self.trace.close()
        self.trace = None
        return path

    def _drain_trace(self, last=False):
        if self.trace is not None:
            drain = getattr(self.trace, "drain", None)
            if drain is not None:
                drain(self.cpu, last)       # (a TraceWriter: no copy of the entries)
            else:
                self.cpu.trace_drain(self.trace.write)


ACCESS_BITS = {"r": 1, "w": 2, "rw": 3}
PREFIXES = frozenset((0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x66, 0x67, 0xF0, 0xF2, 0xF3))
STRING_OPS = frozenset((0x6C, 0x6D, 0x6E, 0x6F, 0xA4, 0xA5, 0xA6, 0xA7, 0xAA, 0xAB, 0xAC,
                        0xAD, 0xAE, 0xAF))
_REASONS = {HIT_EXEC_LIN: "breakpoint", HIT_EXEC_PHYS: "breakpoint", HIT_EXEC_OFF: "breakpoint",
            HIT_WATCH: "watchpoint", HIT_IO: "io", HIT_VECTOR: "vector", HIT_MODE: "mode",
            HIT_MAGIC: "magic"}


def _mode_text(code):
    return MODE_NAMES[code & 3] + (" with paging" if code & 4 else "")


class _Env:
    """The expression evaluator's view of the machine (debugger/expr.py's env)."""

    def __init__(self, dbg):
        self.dbg = dbg

    def register(self, name):
        return self.dbg.register(name)

    def read_memory(self, address, size):
        return self.dbg.read_int(address, size)

    def symbol(self, name):
        return self.dbg.symbols.lookup(name)

    def seg_to_linear(self, seg, off):
        return self.dbg.seg_to_linear(seg, off)
