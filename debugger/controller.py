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

import threading
from dataclasses import dataclass, field

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


class DebugError(Exception):
    """A request the debugger cannot carry out (bad address, unknown breakpoint...)."""


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
        from debugger import symbols as symmod
        if hasattr(target, "machine") and hasattr(target, "chips"):
            self.pc, self.machine = target, target.machine
        else:
            self.pc, self.machine = None, target
        self.cpu = self.machine.cpu
        self.clock = self.machine.clock
        self.bus = self.machine.bus
        self.symbols = symbols if symbols is not None else symmod.SymbolTable()
        self.points = {}                 # id -> Point, in creation order
        self._next_id = 1
        self.on_stop = []                # callables(StopEvent), called after every stop
        self.running = False
        self.last_stop = None
        self.magic_enabled = False
        self._lock = threading.Lock()    # one runner at a time
        self._break = False
        self.trace = None                # a debugger.trace.TraceWriter while recording
        self._mode_seen = self._mode_code()

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
        """One register (any name core.cpu.REGISTER_NAMES has); KeyError if unknown."""
        name = name.lower().lstrip("$")
        if name == "if":
            name = "if_"
        if name in ("ldtr", "tr"):
            return self.cpu.get_segment(name).selector
        return self.cpu.get(name)

    def set_register(self, name, value):
        name = name.lower().lstrip("$")
        if name == "if":
            name = "if_"
        from core.cpu import REGISTER_NAMES
        if name not in REGISTER_NAMES:
            raise DebugError("unknown register %r" % name)
        self.cpu.set(name, value)

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
        if d is None:
            return None
        return ((d >> 16) & 0xFFFFFF) | (((d >> 56) & 0xFF) << 24)

    def translate(self, linear):
        """Physical address of `linear`, or None if it is not mapped; sets no A/D bits."""
        p = self.cpu.probe_phys(linear & 0xFFFFFFFF)
        return None if p < 0 else p

    def read(self, address, length, space="lin"):
        """`length` bytes at a linear (space "lin") or physical ("phys") address.  Raises
        DebugError naming the first unmapped page."""
        if space == "phys":
            return bytes(self.bus.read(address & 0xFFFFFFFF, length))
        out = bytearray()
        addr = address & 0xFFFFFFFF
        while len(out) < length:
            n = min(length - len(out), 0x1000 - (addr & 0xFFF))
            p = self.translate(addr)
            if p is None:
                raise DebugError("linear address 0x%08x is not mapped" % addr)
            out += self.bus.read(p, n)
            addr = (addr + n) & 0xFFFFFFFF
        return bytes(out)

    def write(self, address, data, space="lin"):
        """Write bytes at a linear or physical address (ROM stays unchanged, as on a PC)."""
        data = bytes(data)
        if space == "phys":
            self.bus.write(address & 0xFFFFFFFF, data)
            return
        addr, done = address & 0xFFFFFFFF, 0
        while done < len(data):
            n = min(len(data) - done, 0x1000 - (addr & 0xFFF))
            p = self.translate(addr)
            if p is None:
                raise DebugError("linear address 0x%08x is not mapped" % addr)
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

    def _condition_true(self, point):
        if not point.condition:
            return True
        from debugger import expr
        if point._compiled is None:
            point._compiled = expr.compile(point.condition)
        try:
            return bool(point._compiled.evaluate(_Env(self)))
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
        raise NotImplementedError

    # ------------------------------------------------------------ running
    def step(self, n=1):
        """Execute `n` instructions (an interrupt delivery counts as one step, as in Bochs);
        stops early at a breakpoint (after the first step), watchpoint or catchpoint."""
        raise NotImplementedError

    def next(self):
        """Step over: CALL, INT n and REP string instructions run to the next instruction
        (at the same or a shallower stack depth); anything else is one step."""
        raise NotImplementedError

    def finish(self):
        """Run until the current procedure returns (RET/RETF/IRET leaving ESP above its
        current value)."""
        raise NotImplementedError

    def cont(self, max_cycles=None):
        """Run until a point stops it, the guest halts for good or shuts down, the guest
        exits, request_break(), or `max_cycles` cycles pass (reason "budget")."""
        raise NotImplementedError

    def until(self, linear):
        """Run until execution reaches linear address `linear`."""
        raise NotImplementedError

    def run_to_cycle(self, cycle):
        """Run until the clock reaches `cycle` (reason "cycle"), or something stops it."""
        raise NotImplementedError

    def request_break(self):
        """Stop a running cont/next/finish at the next instruction boundary (thread-safe:
        call it from a UI thread or a signal handler)."""
        self._break = True
        self.cpu.request_stop()

    # ------------------------------------------------------------ tracing
    def trace_start(self, path, description=""):
        raise NotImplementedError

    def trace_stop(self):
        raise NotImplementedError


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
