"""Hypothesis strategies for real-mode 80386 instructions, and a differential harness.

Three layers, each usable on its own:

* `cpu_states()` and `memory_images()` draw a random real-mode machine: all eight 32-bit
  general registers, EFLAGS, segment selectors and EIP, and the contents of RAM.
* One strategy per instruction family (`alu`, `shifts`, `muldiv`, `bcd`, `bitops`,
  `strings`, `addressing`, `misc`) draws a legal encoding with random prefixes and returns
  an `Insn`: the bytes plus what a comparison must know about them (which status flags
  the Intel SDM defines for this instance, which register bits are undefined) plus the
  *fix-ups* that keep the instruction well-behaved: register values that steer memory
  operands into the RAM window, operand values (shift counts, divisors), stack pointers.
* `cases(insns)` combines them into a `Case`; `run_unicorn`, `run_cycle86` and `compare`
  execute a case on both machines and list the differences.

Memory layout (all segments are real-mode: base = selector * 16, limit 0xFFFF):

    0x00000-0x003FF  interrupt vector table (vector 0 points at a random handler)
    0x10000-0x7FFFF  data window: DS ES SS FS GS selectors are drawn from 0x1000-0x7000
    0x80000-0x9FFFF  code window: CS from 0x8000-0x8FFF, EIP below 0xFFF0

Every memory operand is placed so that all of its bytes lie inside its 64 KiB segment:
a real 386 raises #GP/#SS for an access that crosses offset 0xFFFF in real mode (SDM
Vol. 3, 20.1.1), while QEMU, and so Unicorn, does not check real-mode limits at all.
Keeping clear of the limit is what makes Unicorn a usable oracle; limit faults are
tested by hand elsewhere.
"""
from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field

from hypothesis import assume
from hypothesis import strategies as st

# --- EFLAGS (SDM Vol. 1, 3.4.3) -------------------------------------------------------

CF, PF, AF, ZF, SF, TF, IF, DF, OF = 0x1, 0x4, 0x10, 0x40, 0x80, 0x100, 0x200, 0x400, 0x800
IOPL, NT = 0x3000, 0x4000
AC, ID = 0x40000, 0x200000
STATUS = CF | PF | AF | ZF | SF | OF
# What POPF/POPFD can set on a 386 in real mode: no AC (486) and no ID (Pentium).
REAL_MODE_SETTABLE = STATUS | TF | IF | DF | IOPL | NT
EFLAGS_ONE = 0x2                       # bit 1 always reads as 1
FLAG_BITS = {"cf": CF, "pf": PF, "af": AF, "zf": ZF, "sf": SF, "tf": TF, "if_": IF,
             "df": DF, "of": OF}

# --- registers -------------------------------------------------------------------------

GPR32 = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi")    # ModR/M order
GPR16 = ("ax", "cx", "dx", "bx", "sp", "bp", "si", "di")
GPR8 = ("al", "cl", "dl", "bl", "ah", "ch", "dh", "bh")
SEGS = ("es", "cs", "ss", "ds", "fs", "gs")                          # Sreg encoding order
DATA_SEGS = ("ds", "es", "ss", "fs", "gs")
SEG_PREFIX = {"es": 0x26, "cs": 0x2E, "ss": 0x36, "ds": 0x3E, "fs": 0x64, "gs": 0x65}
STATE_KEYS = GPR32 + ("eip", "eflags") + SEGS


def reg_slot(name):
    """(32-bit register, shift, mask) holding `name`: 'ah' -> ('eax', 8, 0xFF)."""
    if name in GPR32 or name in ("eip", "eflags"):
        return name, 0, 0xFFFFFFFF
    if name in GPR16:
        return GPR32[GPR16.index(name)], 0, 0xFFFF
    if name in GPR8:
        i = GPR8.index(name)
        return GPR32[i & 3], 8 * (i >> 2), 0xFF
    if name in FLAG_BITS:
        return "eflags", FLAG_BITS[name].bit_length() - 1, 1
    if name in SEGS:
        return name, 0, 0xFFFF
    raise KeyError(name)


def set_reg(state, name, value):
    """Write `value` into the part of `state` that `name` denotes (sub-registers merge)."""
    full, shift, mask = reg_slot(name)
    state[full] = (state[full] & ~(mask << shift)) | ((value & mask) << shift)


def get_reg(state, name):
    full, shift, mask = reg_slot(name)
    return (state[full] >> shift) & mask


# --- memory layout ---------------------------------------------------------------------

RAM_SIZE = 1 << 20
WINDOW_END = 0xA0000          # compared: IVT, data window, code window
DATA_SELECTORS = (0x1000, 0x7000)
CODE_SELECTORS = (0x8000, 0x8FFF)
EIP_MAX = 0xFFF0 - 16         # the longest 386 instruction is 15 bytes


@functools.lru_cache(maxsize=64)
def _fill(seed):
    if seed < 256:
        return bytes([seed]) * WINDOW_END
    return random.Random(seed).randbytes(WINDOW_END)


@dataclass(frozen=True)
class MemoryImage:
    """Initial RAM contents below WINDOW_END, from a seed.

    Seeds 0-255 fill every byte with that value; larger seeds give pseudo-random bytes.
    Random background matters: an access through the wrong segment or offset then reads
    a different value instead of the same constant, so the bug shows.
    """
    seed: int

    def bytes(self):
        return _fill(self.seed)


def memory_images():
    """Strategy for `MemoryImage`: mostly random background, sometimes a constant fill."""
    return st.one_of(st.integers(256, 2**32 - 1), st.integers(0, 255)).map(MemoryImage)


def cpu_states(trap=False):
    """Strategy for a real-mode register state as a dict `cpu.set_state` accepts.

    GPRs take any 32-bit value.  EFLAGS holds only bits a 386 can set in real mode, with
    bit 1 set; TF stays clear unless `trap=True` (a set TF raises #DB after the
    instruction, which turns every example into a single-step test).  Data segment
    selectors put their 64 KiB segments inside the data window; CS:EIP lies in the
    code window with room for a whole instruction.
    """
    settable = REAL_MODE_SETTABLE if trap else REAL_MODE_SETTABLE & ~TF
    word = st.integers(0, 0xFFFFFFFF)
    fields = {r: word for r in GPR32}
    fields["eflags"] = word.map(lambda f: (f & settable) | EFLAGS_ONE)
    fields["eip"] = st.integers(0, EIP_MAX)
    fields["cs"] = st.integers(*CODE_SELECTORS)
    for s in DATA_SEGS:
        fields[s] = st.integers(*DATA_SELECTORS)
    return st.fixed_dictionaries(fields)


# --- instructions ----------------------------------------------------------------------

@dataclass(frozen=True)
class Insn:
    """One encoded instruction and what a differential test needs to know about it.

    code            the bytes, prefixes included
    family, name    e.g. ("alu", "adc Ev,Gv")
    defined_flags   the status flags (subset of STATUS) that the SDM defines for this
                    instance; the rest are masked.  Non-status bits are always compared.
    regs            fix-ups: (register name, value) written over the drawn state, in order
    mem             fix-ups: (segment, offset, bytes) written over the drawn memory
    undefined       (32-bit register, mask) of result bits the SDM leaves undefined
    undefined_mem   (segment, offset, length) of memory bytes the SDM leaves undefined
    touches         (segment, offset, length) of all memory the instruction may access
    may_fault       the instance may raise an exception (#DE) on purpose
    """
    code: bytes
    family: str
    name: str
    defined_flags: int = STATUS
    regs: tuple = ()
    mem: tuple = ()
    undefined: tuple = ()
    undefined_mem: tuple = ()
    touches: tuple = ()
    may_fault: bool = False

    def __repr__(self):
        return f"Insn({self.code.hex(' ')} ; {disassemble(self.code)} ; {self.family}/{self.name})"

    def _repr_pretty_(self, p, cycle):        # Hypothesis prints falsifying examples so
        p.text(repr(self))


def disassemble(code):
    """Intel-syntax text of `code` as a 16-bit (real-mode) instruction, via capstone."""
    from capstone import CS_ARCH_X86, CS_MODE_16, Cs
    for i in Cs(CS_ARCH_X86, CS_MODE_16).disasm(bytes(code), 0):
        return f"{i.mnemonic} {i.op_str}".strip()
    return "(undecodable)"


def _le(value, size):
    return (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")


class _Enc:
    """Accumulates one encoding while a family strategy draws it."""

    def __init__(self, draw, family, seg=True, opsize=True, addrsize=True, rep=()):
        self.draw = draw
        self.family = family
        self.seg = draw(st.sampled_from((None,) + SEGS)) if seg else None
        self.o32 = draw(st.booleans()) if opsize else False
        self.a32 = draw(st.booleans()) if addrsize else False
        self.rep = draw(st.sampled_from((None,) + tuple(rep))) if rep else None
        pfx = [SEG_PREFIX[self.seg]] if self.seg else []
        pfx += [0x66] if self.o32 else []
        pfx += [0x67] if self.a32 else []
        pfx += [self.rep] if self.rep else []
        # Prefixes of different groups may come in any order (SDM Vol. 2, 2.1.1).
        self.code = bytearray(draw(st.permutations(pfx)))
        self.regs = []
        self.mem = []
        self.undefined = []
        self.undefined_mem = []
        self.touches = []
        self.defined_flags = STATUS
        self.may_fault = False
        self.reserved = set()       # 32-bit registers whose value is pinned

    @property
    def osize(self):
        return 4 if self.o32 else 2

    def byte(self, *bs):
        self.code.extend(bs)

    def imm(self, size, value=None):
        if value is None:
            value = self.draw(st.integers(0, (1 << (8 * size)) - 1))
        self.code.extend(_le(value, size))
        return value

    def reserve(self, *names):
        """Keep these registers out of address computations: their value is pinned."""
        self.reserved.update(reg_slot(n)[0] for n in names)

    def pin(self, name, value):
        self.regs.append((name, value))
        self.reserve(name)

    def put(self, seg, offset, data):
        self.mem.append((seg, offset, bytes(data)))
        self.touch(seg, offset, len(data))

    def touch(self, seg, offset, length):
        self.touches.append((seg, offset, length))

    def stack(self, pushed=0, popped=0):
        """Pin SP so `pushed` bytes below it and `popped` bytes above it stay inside SS.

        A 386 raises #SS (or shuts down) when a stack access crosses offset 0xFFFF in real
        mode; QEMU does not model that, so the drawn SP keeps clear of it.  SP = 0 is the
        legal wrap case for pushes.  Returns SP.
        """
        choices = st.integers(pushed, 0x10000 - popped)
        if not popped:
            choices = st.one_of(st.just(0), choices)
        sp = self.draw(choices)
        self.pin("sp", sp)
        if pushed:
            self.touch("ss", (sp - pushed) & 0xFFFF, pushed)
        if popped:
            self.touch("ss", sp, popped)
        return sp

    def modrm(self, reg, size, kind="any", span=None, adjust=0, value="random"):
        """Append ModR/M (+SIB +displacement) with `reg` in the reg field.

        kind  "reg", "mem", "any", or "lea" (a memory form whose address registers keep
              their random values: LEA reads no memory, so any address is fine).
        span  (before, after): bytes accessed around the final offset, default (0, size).
        adjust  a known constant added to the effective address (BT's bit-offset).
        value "random" puts a drawn operand value at the final offset, None leaves memory
              alone, an int puts that value.
        Returns ("reg", index) or ("mem", segment, final offset).
        """
        draw = self.draw
        if kind == "any":
            kind = draw(st.sampled_from(("reg", "mem")))
        if kind == "reg":
            rm = draw(st.integers(0, 7))
            self.byte(0xC0 | reg << 3 | rm)
            return ("reg", rm)
        before, after = span or (0, size)
        target = draw(st.integers(before, 0x10000 - after))
        solve = kind != "lea"
        mod = draw(st.integers(0, 2))
        if self.a32:
            seg_default, tail, ea = self._ea32(mod, reg, target - adjust, solve, before - adjust)
        else:
            seg_default, tail, ea = self._ea16(mod, reg, target - adjust, solve)
        target = ea + adjust
        self.code.extend(tail)
        seg = self.seg or seg_default
        if value == "random":
            value = draw(st.integers(0, (1 << (8 * size)) - 1))
        if value is not None and solve:
            self.put(seg, target, _le(value, size))
        elif solve:
            self.touch(seg, target - before, before + after)
        return ("mem", seg, target)

    # 16-bit forms: SDM Vol. 2, Table 2-1.  BP-based forms default to SS.
    _RM16 = (("bx", "si"), ("bx", "di"), ("bp", "si"), ("bp", "di"),
             ("si",), ("di",), ("bp",), ("bx",))

    def _ea16(self, mod, reg, ea, solve):
        draw = self.draw
        ok = [rm for rm in range(8)
              if not solve or not any(reg_slot(r)[0] in self.reserved for r in self._RM16[rm])]
        if mod == 0:
            ok = sorted(set(ok) | {6})          # mod 0, rm 6 is disp16 with no register
        rm = draw(st.sampled_from(ok))
        if mod == 0 and rm == 6:
            disp = (ea & 0xFFFF) if solve else draw(st.integers(0, 0xFFFF))
            return "ds", bytes([reg << 3 | 6]) + _le(disp, 2), ea
        regs = self._RM16[rm]
        if mod == 1:
            disp, enc = draw(st.integers(-128, 127)), 1
        elif mod == 2:
            disp, enc = draw(st.integers(0, 0xFFFF)), 2
        else:
            disp, enc = 0, 0
        if solve:
            rest = ea - disp
            if len(regs) == 2:
                idx = draw(st.integers(0, 0xFFFF))
                self.pin(regs[1], idx)
                rest -= idx
            self.pin(regs[0], rest & 0xFFFF)
        seg = "ss" if "bp" in regs else "ds"
        return seg, bytes([mod << 6 | reg << 3 | rm]) + (_le(disp, enc) if enc else b""), ea

    # 32-bit forms: SDM Vol. 2, Tables 2-2 and 2-3.  ESP- and EBP-based forms default to SS.
    def _ea32(self, mod, reg, ea, solve, ea_min):
        draw = self.draw
        free = [i for i in range(8) if not solve or GPR32[i] not in self.reserved]
        sib = draw(st.booleans())
        index, scale = None, 1
        if not sib:
            rms = [i for i in free if i != 4]
            if mod == 0:
                rms = sorted(set(rms) | {5})
            rm = draw(st.sampled_from(rms))
            base = None if (mod == 0 and rm == 5) else rm
            head = bytes([mod << 6 | reg << 3 | rm])
        else:
            ss = draw(st.integers(0, 3))
            scale = 1 << ss
            idx = draw(st.sampled_from([4] + [i for i in free if i != 4]))
            bases = free if mod else sorted(set(free) | {5})
            b = draw(st.sampled_from(bases))
            base = None if (mod == 0 and b == 5) else b
            index = None if idx == 4 else idx       # index 100b: none, scale ignored
            head = bytes([mod << 6 | reg << 3 | 4, ss << 6 | idx << 3 | b])
        no_base_disp32 = base is None
        if mod == 1:
            disp, enc = draw(st.integers(-128, 127)), 1
        elif mod == 2 or no_base_disp32:
            disp, enc = draw(st.integers(0, 0xFFFFFFFF)), 4
        else:
            disp, enc = 0, 0
        if solve:
            if base is None and index is None:
                disp = ea & 0xFFFFFFFF                  # pure displacement: it is the offset
            elif base is not None and base != index:
                rest = ea - disp
                if index is not None:
                    iv = draw(st.integers(0, 0xFFFFFFFF))
                    self.pin(GPR32[index], iv)
                    rest -= iv * scale
                self.pin(GPR32[base], rest & 0xFFFFFFFF)
            else:
                # One register counted `coef` times (index only, or base == index).  The
                # coefficient is 2**k or odd, so coef * r = ea - disp (mod 2**32) needs
                # ea - disp divisible by 2**k: nudge the offset (not the encoding) down,
                # or up if that would leave the span, then r's top k bits are free.
                coef = scale + (1 if base == index else 0)
                k = (coef & -coef).bit_length() - 1
                fix = (ea - disp) % (1 << k)
                if fix:
                    ea += -fix if ea - fix >= ea_min else (1 << k) - fix
                odd = coef >> k
                low = (((ea - disp) & 0xFFFFFFFF) >> k) * pow(odd, -1, 1 << (32 - k))
                high = draw(st.integers(0, (1 << k) - 1)) << (32 - k)
                self.pin(GPR32[index], (low & ((1 << (32 - k)) - 1)) | high)
        seg = "ss" if base in (4, 5) else "ds"
        return seg, head + (_le(disp, enc) if enc else b""), ea

    def finish(self, name):
        return Insn(code=bytes(self.code), family=self.family, name=name,
                    defined_flags=self.defined_flags, regs=tuple(self.regs),
                    mem=tuple(self.mem), undefined=tuple(self.undefined),
                    undefined_mem=tuple(self.undefined_mem), touches=tuple(self.touches),
                    may_fault=self.may_fault)


def _reg_name(index, size):
    return {1: GPR8, 2: GPR16, 4: GPR32}[size][index]


def _sized(e, byte_form):
    """Operand size in bytes: 1 for the byte form, else 2/4 by the 0x66 prefix."""
    return 1 if byte_form else e.osize


# --- ALU -------------------------------------------------------------------------------

ALU_OPS = ("add", "or", "adc", "sbb", "and", "sub", "xor", "cmp")
_LOGIC = {"or", "and", "xor", "test"}


def _alu_flags(op):
    # AND/OR/XOR/TEST clear OF and CF, set SF ZF PF, leave AF undefined (SDM Vol. 2).
    return STATUS & ~AF if op in _LOGIC else STATUS


@st.composite
def alu(draw):
    """ADD OR ADC SBB AND SUB XOR CMP in every form (incl. 80/81/82/83), TEST, INC DEC NEG NOT."""
    e = _Enc(draw, "alu")
    form = draw(st.sampled_from(("rm,r", "r,rm", "acc,imm", "grp1", "test rm,r", "test acc,imm",
                                 "test rm,imm", "incdec r", "incdec rm", "neg", "not")))
    byte = draw(st.booleans())
    size = _sized(e, byte)
    if form in ("rm,r", "r,rm", "acc,imm", "grp1"):
        n = draw(st.integers(0, 7))
        op = ALU_OPS[n]
        if form == "rm,r":
            e.byte(n * 8 + (0 if byte else 1))
            e.modrm(draw(st.integers(0, 7)), size)
            name = f"{op} E,G"
        elif form == "r,rm":
            e.byte(n * 8 + (2 if byte else 3))
            e.modrm(draw(st.integers(0, 7)), size)
            name = f"{op} G,E"
        elif form == "acc,imm":
            e.byte(n * 8 + (4 if byte else 5))
            e.imm(size)
            name = f"{op} acc,I"
        else:
            # 82 is the 386's documented alias of 80; 83 sign-extends an imm8.
            opc = draw(st.sampled_from((0x80, 0x82) if byte else (0x81, 0x83)))
            e.byte(opc)
            e.modrm(n, size)
            e.imm(1 if opc != 0x81 else size)
            name = f"{op} E,I ({opc:02X})"
        e.defined_flags = _alu_flags(op)
    elif form == "test rm,r":
        e.byte(0x84 if byte else 0x85)
        e.modrm(draw(st.integers(0, 7)), size)
        e.defined_flags, name = _alu_flags("test"), "test E,G"
    elif form == "test acc,imm":
        e.byte(0xA8 if byte else 0xA9)
        e.imm(size)
        e.defined_flags, name = _alu_flags("test"), "test acc,I"
    elif form == "test rm,imm":
        e.byte(0xF6 if byte else 0xF7)
        e.modrm(0, size)
        e.imm(size)
        e.defined_flags, name = _alu_flags("test"), "test E,I"
    elif form == "incdec r":
        e.byte(draw(st.integers(0x40, 0x4F)))
        name = "inc/dec r"                       # CF unaffected: still compared
    elif form == "incdec rm":
        d = draw(st.integers(0, 1))
        e.byte(0xFE if byte else 0xFF)
        e.modrm(d, size)
        name = ("inc", "dec")[d] + " E"
    else:
        e.byte(0xF6 if byte else 0xF7)
        e.modrm(3 if form == "neg" else 2, size)
        name = form + " E"                       # NOT changes no flag: all compared
    return e.finish(name)


# --- shifts and rotates ----------------------------------------------------------------

SHIFT_OPS = ("rol", "ror", "rcl", "rcr", "shl", "shr", None, "sar")   # /6 is not documented


def shift_defined_flags(op, bits, count):
    """Status flags the SDM defines after `op` of a `bits`-wide operand by `count`.

    The count is masked to 5 bits first (286+).  A masked count of 0 changes nothing.
    Rotates leave SF ZF AF PF alone and set CF; OF only for a count of 1.  Shifts set
    SF ZF PF, leave AF undefined, define OF only for a count of 1, and SHL/SHR leave CF
    undefined once the count reaches the operand width (SAR keeps shifting in the sign).
    SHLD/SHRD ("shld", "shrd") follow the shift rules; counts above the width are avoided.
    """
    c = count & 31
    if c == 0:
        return STATUS
    if op in ("rol", "ror", "rcl", "rcr"):
        return STATUS if c == 1 else STATUS & ~OF
    d = CF | SF | ZF | PF | (OF if c == 1 else 0)
    if op in ("shl", "shr") and c >= bits:
        d &= ~CF
    return d


@st.composite
def shifts(draw):
    """ROL ROR RCL RCR SHL SHR SAR by 1, CL and imm8 (C0/C1/D0-D3), and SHLD/SHRD imm8/CL."""
    e = _Enc(draw, "shifts")
    # Counts: all of 0-255 are legal; the mask to 5 bits is part of what is tested.
    count = draw(st.one_of(st.integers(0, 33), st.integers(0, 255)))
    if draw(st.integers(0, 3)) == 0:
        op = draw(st.sampled_from(("shld", "shrd")))
        by_cl = draw(st.booleans())
        size = e.osize
        if size == 2 and (count & 31) > 16:
            # SDM: a 16-bit SHLD/SHRD count above 16 leaves result and flags undefined.
            count &= ~16
        if by_cl:
            e.pin("cl", count)
        e.byte(0x0F, (0xA4 if op == "shld" else 0xAC) + (1 if by_cl else 0))
        e.modrm(draw(st.integers(0, 7)), size)
        if not by_cl:
            e.imm(1, count)
        e.defined_flags = shift_defined_flags(op, 8 * size, count)
        return e.finish(f"{op} E,G,{'CL' if by_cl else 'I'}")
    n = draw(st.sampled_from((0, 1, 2, 3, 4, 5, 7)))
    op = SHIFT_OPS[n]
    byte = draw(st.booleans())
    size = _sized(e, byte)
    how = draw(st.sampled_from(("1", "CL", "I")))
    if how == "1":
        e.byte(0xD0 if byte else 0xD1)
        count = 1
    elif how == "CL":
        e.pin("cl", count)
        e.byte(0xD2 if byte else 0xD3)
    else:
        e.byte(0xC0 if byte else 0xC1)
    e.modrm(n, size)
    if how == "I":
        e.imm(1, count)
    e.defined_flags = shift_defined_flags(op, 8 * size, count)
    return e.finish(f"{op} E,{how}")


# --- multiply and divide ---------------------------------------------------------------

def _divide_operands(draw, signed, bits, mode):
    """(dividend, divisor) for DIV/IDIV of a 2*bits / bits division.

    mode "fits": the quotient fits (built as q*d + r with the SDM's sign rules);
    "zero": divisor 0; "overflow": the quotient does not fit.  All three raise or avoid
    #DE for certain, so the test knows which path it is comparing.
    """
    top = 1 << bits
    if not signed:
        if mode == "zero":
            return draw(st.integers(0, top * top - 1)), 0
        d = draw(st.integers(1, top - 1))
        if mode == "overflow":
            return draw(st.integers(d * top, top * top - 1)), d
        q = draw(st.integers(0, top - 1))
        return q * d + draw(st.integers(0, d - 1)), d
    half = top >> 1
    if mode == "zero":
        return draw(st.integers(-half * top, half * top - 1)), 0
    d = draw(st.integers(-half, half - 1).filter(bool))
    if mode == "overflow":
        q = draw(st.sampled_from((half, -half - 1)))
        return q * d, d
    q = draw(st.integers(-half, half - 1))          # -half is legal on 286+ (SDM IDIV)
    r = draw(st.integers(0, abs(d) - 1))
    if q * d < 0 or (q == 0 and draw(st.booleans())):
        r = -r                                       # the remainder takes the dividend's sign
    return q * d + r, d


@st.composite
def muldiv(draw, faults=True):
    """MUL/IMUL (F6/F7, 0F AF, 69, 6B) and DIV/IDIV, including #DE when `faults`.

    A divide error is delivered through IVT vector 0; the comparison then covers the
    pushed FLAGS/CS/IP and the handler address.
    """
    e = _Enc(draw, "muldiv")
    kind = draw(st.sampled_from(("mul1", "imul1", "imul2", "imul3", "div", "idiv")))
    if kind in ("mul1", "imul1"):
        byte = draw(st.booleans())
        size = _sized(e, byte)
        e.byte(0xF6 if byte else 0xF7)
        e.modrm(4 if kind == "mul1" else 5, size)
        e.defined_flags = CF | OF                # SF ZF AF PF undefined (SDM MUL/IMUL)
        return e.finish(kind[:-1] + " E")
    if kind == "imul2":
        e.byte(0x0F, 0xAF)
        e.modrm(draw(st.integers(0, 7)), e.osize)
        e.defined_flags = CF | OF
        return e.finish("imul G,E")
    if kind == "imul3":
        short = draw(st.booleans())
        e.byte(0x6B if short else 0x69)
        e.modrm(draw(st.integers(0, 7)), e.osize)
        e.imm(1 if short else e.osize)
        e.defined_flags = CF | OF
        return e.finish("imul G,E,I" + ("b" if short else "z"))
    signed = kind == "idiv"
    byte = draw(st.booleans())
    size = _sized(e, byte)
    bits = 8 * size
    modes = ("fits", "zero", "overflow") if faults else ("fits",)
    mode = draw(st.sampled_from(modes))
    lo, hi = ("al", "ah") if size == 1 else ("ax", "dx") if size == 2 else ("eax", "edx")
    e.reserve("eax", "edx")
    e.stack(pushed=6)                            # room for the #DE frame: FLAGS CS IP
    e.byte(0xF6 if byte else 0xF7)
    dividend, divisor = _divide_operands(draw, signed, bits, mode)
    operand = e.modrm(7 if signed else 6, size, value=divisor)
    if operand[0] == "reg":
        # A divisor that is part of the dividend (div ah, div dx, ...) cannot be pinned
        # independently; those encodings run on the drawn values instead.
        if reg_slot(_reg_name(operand[1], size))[0] in (("eax",) if size == 1 else ("eax", "edx")):
            e.may_fault = True
            e.defined_flags = 0
            return e.finish(kind + " E (aliased)")
        e.pin(_reg_name(operand[1], size), divisor)
    dividend &= (1 << (2 * bits)) - 1
    e.pin(lo, dividend & ((1 << bits) - 1))
    e.pin(hi, dividend >> bits)
    e.defined_flags = 0                          # DIV/IDIV leave all status flags undefined
    e.may_fault = mode != "fits"
    return e.finish(f"{kind} E ({mode})")


# --- BCD -------------------------------------------------------------------------------

@st.composite
def bcd(draw, faults=True):
    """DAA DAS AAA AAS AAM AAD (any imm8; AAM 0 raises #DE when `faults`)."""
    e = _Enc(draw, "bcd")
    op = draw(st.sampled_from(("daa", "das", "aaa", "aas", "aam", "aad")))
    if op in ("daa", "das"):
        e.byte(0x27 if op == "daa" else 0x2F)
        e.defined_flags = STATUS & ~OF
    elif op in ("aaa", "aas"):
        e.byte(0x37 if op == "aaa" else 0x3F)
        e.defined_flags = AF | CF
    else:
        imm = draw(st.one_of(st.just(10), st.integers(1 if op == "aam" and not faults else 0, 255)))
        e.byte(0xD4 if op == "aam" else 0xD5, imm)
        e.defined_flags = SF | ZF | PF
        if op == "aam" and imm == 0:
            e.may_fault = True
            e.stack(pushed=6)
    # Half of the time pin AL to a BCD-ish value so the adjust paths all get exercised.
    if draw(st.booleans()):
        e.pin("al", draw(st.sampled_from((0x00, 0x09, 0x0A, 0x0F, 0x99, 0x9A, 0x9F, 0xA0,
                                           0xF9, 0xFA, 0xFF))))
    return e.finish(op)


# --- bit operations --------------------------------------------------------------------

@st.composite
def bitops(draw):
    """BT BTS BTR BTC (reg and imm8 forms), BSF BSR, SETcc, MOVZX, MOVSX."""
    e = _Enc(draw, "bitops")
    kind = draw(st.sampled_from(("bt reg", "bt imm", "bsf", "setcc", "movx")))
    if kind == "bt reg":
        n = draw(st.integers(0, 3))
        size = e.osize
        bits = 8 * size
        reg = draw(st.integers(0, 7))
        off_name = _reg_name(reg, size)
        e.reserve(off_name)
        e.byte(0x0F, 0xA3 + 8 * n)
        mem = draw(st.booleans())
        if mem:
            # The bit offset is a signed operand-size integer that reaches beyond the
            # addressed operand: the access moves by (offset >> log2(bits)) units
            # (SDM BT, "bit base"/"bit offset").  Keep it within a few KiB so the moved
            # access still lands in the segment.
            offset = draw(st.integers(-2048 * 8, 2048 * 8))
            adjust = (offset >> (bits.bit_length() - 1)) * size
            e.modrm(reg, size, kind="mem", adjust=adjust)
            e.pin(off_name, offset)
        else:
            e.modrm(reg, size, kind="reg")
        # CF is the bit, ZF is unaffected, OF SF AF PF are undefined (SDM BT/BTS/BTR/BTC).
        e.defined_flags = CF | ZF
        return e.finish(("bt", "bts", "btr", "btc")[n] + " E,G")
    if kind == "bt imm":
        n = draw(st.integers(4, 7))
        e.byte(0x0F, 0xBA)
        e.modrm(n, e.osize)
        e.imm(1)                                # masked to the operand width: no reach
        e.defined_flags = CF | ZF
        return e.finish(("bt", "bts", "btr", "btc")[n - 4] + " E,I")
    if kind == "bsf":
        rev = draw(st.booleans())
        size = e.osize
        reg = draw(st.integers(0, 7))
        zero = draw(st.integers(0, 4)) == 0
        if zero:
            value = 0
        else:
            value = draw(st.integers(1, (1 << (8 * size)) - 1))
        e.byte(0x0F, 0xBD if rev else 0xBC)
        src = e.modrm(reg, size, value=value)
        if src[0] == "reg":
            e.pin(_reg_name(src[1], size), value)
        if zero:
            # SDM BSF/BSR: a zero source leaves the destination undefined.
            e.undefined.append((reg_slot(_reg_name(reg, size))[0], (1 << (8 * size)) - 1))
        e.defined_flags = ZF                    # CF OF SF AF PF undefined
        return e.finish(("bsr" if rev else "bsf") + " G,E")
    if kind == "setcc":
        cc = draw(st.integers(0, 15))
        e.byte(0x0F, 0x90 + cc)
        # The reg field is ignored by the 386 (SDM SETcc); any value is a legal encoding.
        e.modrm(draw(st.integers(0, 7)), 1, value="random")
        return e.finish(f"set{cc:X} E")
    op = draw(st.sampled_from((0xB6, 0xB7, 0xBE, 0xBF)))
    e.byte(0x0F, op)
    e.modrm(draw(st.integers(0, 7)), 1 if op in (0xB6, 0xBE) else 2)
    return e.finish(("movzx" if op < 0xB8 else "movsx") + (" G,Eb" if op & 1 == 0 else " G,Ew"))


# --- strings ---------------------------------------------------------------------------

@st.composite
def strings(draw, max_count=8):
    """MOVS CMPS SCAS LODS STOS, bare or with REP/REPE/REPNE, both DF directions,
    16- and 32-bit address size, byte/word/dword elements, small counts."""
    op = draw(st.sampled_from(("movs", "cmps", "scas", "lods", "stos")))
    compare = op in ("cmps", "scas")
    # REPNE is defined for CMPS/SCAS only; F3 is REP for the others (SDM REP/REPE/REPNE).
    e = _Enc(draw, "strings", rep=(0xF3, 0xF2) if compare else (0xF3,))
    byte = draw(st.booleans())
    size = _sized(e, byte)
    base = {"movs": 0xA4, "cmps": 0xA6, "scas": 0xAE, "lods": 0xAC, "stos": 0xAA}[op]
    e.byte(base + (0 if byte else 1))
    df = draw(st.booleans())
    e.pin("df", int(df))
    if e.rep:
        count = draw(st.integers(0, max_count))
        e.pin("ecx" if e.a32 else "cx", count)
    else:
        count = 1
    n = max(count, 1)
    span = ((n - 1) * size, size) if df else (0, n * size)
    first = lambda start: start - span[0]                      # lowest byte touched
    si, di = ("esi", "edi") if e.a32 else ("si", "di")
    src = dst = None
    if op in ("movs", "cmps", "lods"):
        src = draw(st.integers(span[0], 0x10000 - span[1]))
        e.pin(si, src)
    if op in ("movs", "cmps", "scas", "stos"):
        dst = draw(st.integers(span[0], 0x10000 - span[1]))
        e.pin(di, dst)
    acc = _reg_name(0, size)
    elems = lambda: draw(st.lists(st.integers(0, (1 << (8 * size)) - 1), min_size=n, max_size=n))
    if src is not None:
        data = elems()
        e.put(e.seg or "ds", first(src), b"".join(_le(v, size) for v in data))
    if compare:
        # Make equal elements common so REPE runs on and REPNE stops, and vice versa.
        if op == "scas":
            a = draw(st.integers(0, (1 << (8 * size)) - 1))
            e.pin(acc, a)
            ref = [a] * n
        else:
            ref = data
        same = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        other = elems()
        out = [r if s else o for r, s, o in zip(ref, same, other)]
        e.put("es", first(dst), b"".join(_le(v, size) for v in out))
    elif dst is not None:
        e.touch("es", first(dst), n * size)
    if op == "stos":
        e.pin(acc, draw(st.integers(0, (1 << (8 * size)) - 1)))
    prefix = {None: "", 0xF3: "rep ", 0xF2: "repne "}[e.rep]
    return e.finish(f"{prefix}{op}{'bwd'[size // 2]} x{count}")


# --- addressing ------------------------------------------------------------------------

@st.composite
def addressing(draw):
    """Every 16- and 32-bit ModR/M and SIB form with every displacement size, through
    MOV (88 89 8A 8B C6 C7 A0-A3 8C 8E) and LEA."""
    e = _Enc(draw, "addressing")
    form = draw(st.sampled_from(("mov E,G", "mov G,E", "mov E,I", "mov moffs", "lea",
                                 "mov E,S", "mov S,E")))
    byte = draw(st.booleans())
    kind = draw(st.sampled_from(("mem", "mem", "mem", "reg")))
    if form in ("mov E,G", "mov G,E"):
        size = _sized(e, byte)
        e.byte((0x88 if form == "mov E,G" else 0x8A) + (0 if byte else 1))
        e.modrm(draw(st.integers(0, 7)), size, kind=kind,
                value=None if form == "mov E,G" else "random")
    elif form == "mov E,I":
        size = _sized(e, byte)
        e.byte(0xC6 if byte else 0xC7)
        e.modrm(0, size, kind=kind, value=None)
        e.imm(size)
    elif form == "mov moffs":
        size = _sized(e, byte)
        store = draw(st.booleans())
        e.byte((0xA2 if store else 0xA0) + (0 if byte else 1))
        off = draw(st.integers(0, 0x10000 - size))
        e.imm(4 if e.a32 else 2, off)
        if store:
            e.touch(e.seg or "ds", off, size)
        else:
            e.put(e.seg or "ds", off, _le(draw(st.integers(0, (1 << (8 * size)) - 1)), size))
    elif form == "lea":
        e.byte(0x8D)
        e.modrm(draw(st.integers(0, 7)), e.osize, kind="lea")
    elif form == "mov E,S":
        sreg = draw(st.integers(0, 5))
        e.byte(0x8C)
        rm = e.modrm(sreg, 2, kind=kind, value=None)
        if rm[0] == "reg" and e.o32:
            # SDM MOV: with a 32-bit register destination the upper half is undefined
            # before the P6 (which zero-fills it, as Unicorn does).
            e.undefined.append((GPR32[rm[1]], 0xFFFF0000))
    else:
        sreg = draw(st.sampled_from((0, 2, 3, 4, 5)))    # MOV CS,r/m is #UD on a 386
        e.byte(0x8E)
        e.modrm(sreg, 2, kind=kind)
    return e.finish(form)


# --- miscellaneous ---------------------------------------------------------------------

@st.composite
def misc(draw):
    """XCHG, XLAT, CBW/CWDE, CWD/CDQ, LAHF, SAHF, PUSH/POP (reg, r/m, imm, sreg, all,
    flags), CLC STC CMC CLD STD CLI STI."""
    e = _Enc(draw, "misc")
    form = draw(st.sampled_from(("xchg E,G", "xchg acc", "xlat", "cbw", "cwd", "lahf",
                                 "sahf", "push r", "pop r", "push E", "pop E", "push I",
                                 "push sreg", "pop sreg", "pusha", "popa", "pushf", "popf",
                                 "flagop")))
    osz = e.osize
    if form == "xchg E,G":
        byte = draw(st.booleans())
        e.byte(0x86 if byte else 0x87)
        e.modrm(draw(st.integers(0, 7)), _sized(e, byte))
    elif form == "xchg acc":
        e.byte(0x90 + draw(st.integers(0, 7)))           # 90 is XCHG eAX,eAX: NOP
    elif form == "xlat":
        # AL is an unsigned offset added to (E)BX (SDM XLAT): pin both.
        al = draw(st.integers(0, 255))
        e.pin("al", al)
        if e.a32:
            t = draw(st.integers(0, 0xFFFF))
            e.pin("ebx", (t - al) & 0xFFFFFFFF)
        else:
            t = draw(st.integers(0, 0xFFFF))
            e.pin("bx", (t - al) & 0xFFFF)
        e.put(e.seg or "ds", t, _le(draw(st.integers(0, 255)), 1))
        e.byte(0xD7)
    elif form in ("cbw", "cwd"):
        e.byte(0x98 if form == "cbw" else 0x99)
    elif form == "lahf":
        e.byte(0x9F)
    elif form == "sahf":
        e.byte(0x9E)
    elif form in ("push r", "push E", "push I", "push sreg", "pusha", "pushf"):
        sreg_size = osz
        if form == "push r":
            e.stack(pushed=osz)
            e.byte(0x50 + draw(st.integers(0, 7)))
        elif form == "push E":
            e.reserve("esp")
            e.byte(0xFF)
            e.modrm(6, osz)
            e.stack(pushed=osz)
        elif form == "push I":
            e.stack(pushed=osz)
            short = draw(st.booleans())
            e.byte(0x6A if short else 0x68)
            e.imm(1 if short else osz)
        elif form == "push sreg":
            sp = e.stack(pushed=osz)
            s = draw(st.sampled_from(SEGS))
            e.byte(*{"es": (0x06,), "cs": (0x0E,), "ss": (0x16,), "ds": (0x1E,),
                     "fs": (0x0F, 0xA0), "gs": (0x0F, 0xA8)}[s])
            if osz == 4:
                # SDM PUSH: a 32-bit push of a segment register may write only the low
                # word; the upper word of the slot is implementation dependent.
                e.undefined_mem.append(("ss", (sp - 2) & 0xFFFF, 2))
        elif form == "pusha":
            e.stack(pushed=8 * osz)
            e.byte(0x60)
        else:
            e.stack(pushed=osz)
            e.byte(0x9C)
    elif form in ("pop r", "pop E", "pop sreg", "popa", "popf"):
        count = {"popa": 8}.get(form, 1)
        if form == "pop E":
            e.reserve("esp")        # POP [ESP+x] addresses with the popped ESP: not modelled
            e.byte(0x8F)
            e.modrm(0, osz, value=None)
        sp = e.stack(popped=count * osz)
        vals = [draw(st.integers(0, (1 << (8 * osz)) - 1)) for _ in range(count)]
        if form == "pop r":
            e.byte(0x58 + draw(st.integers(0, 7)))
        elif form == "pop sreg":
            s = draw(st.sampled_from(("es", "ss", "ds", "fs", "gs")))
            e.byte(*{"es": (0x07,), "ss": (0x17,), "ds": (0x1F,), "fs": (0x0F, 0xA1),
                     "gs": (0x0F, 0xA9)}[s])
        elif form == "popa":
            e.byte(0x61)
        elif form == "popf":
            # TF would trap after the *next* instruction, which a one-instruction test
            # never runs; AC and ID do not exist on a 386 (Unicorn models a later CPU
            # and sets them; tests/test_unicorn_diff.py checks the 386 behaviour by hand).
            vals = [v & ~(TF | AC | ID) for v in vals]
            e.byte(0x9D)
        e.put("ss", sp, b"".join(_le(v, osz) for v in vals))
    else:
        op = draw(st.sampled_from((0xF5, 0xF8, 0xF9, 0xFA, 0xFB, 0xFC, 0xFD)))
        e.byte(op)
        form = {0xF5: "cmc", 0xF8: "clc", 0xF9: "stc", 0xFA: "cli", 0xFB: "sti",
                0xFC: "cld", 0xFD: "std"}[op]
    return e.finish(form)


FAMILIES = {"alu": alu, "shifts": shifts, "muldiv": muldiv, "bcd": bcd, "bitops": bitops,
            "strings": strings, "addressing": addressing, "misc": misc}


def any_instruction():
    """Strategy drawing from every family."""
    return st.one_of([f() for f in FAMILIES.values()])


# --- cases -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    """A drawn state, memory image and instruction, with the fix-ups applied.

    `state` is the register state to load (a dict for `cpu.set_state`), `ivt0` the
    (segment, offset) stored in interrupt vector 0.  `image()` gives RAM below
    WINDOW_END: the background, the IVT entry, the operand fix-ups, then the code at
    CS:EIP.
    """
    state: dict
    memory: MemoryImage
    insn: Insn
    ivt0: tuple

    @property
    def start(self):
        return self.state["cs"] * 16 + self.state["eip"]

    def patches(self):
        """(physical address, bytes) written over the background, in order."""
        out = [(0, _le(self.ivt0[1], 2) + _le(self.ivt0[0], 2))]
        out += [(self.state[s] * 16 + off, data) for s, off, data in self.insn.mem]
        out.append((self.start, self.insn.code))
        return out

    def image(self):
        img = bytearray(self.memory.bytes())
        for addr, data in self.patches():
            img[addr:addr + len(data)] = data
        return bytes(img)

    def undefined_bytes(self):
        """Physical addresses whose final contents the SDM leaves undefined."""
        return {self.state[s] * 16 + ((off + i) & 0xFFFF)
                for s, off, n in self.insn.undefined_mem for i in range(n)}

    def describe(self):
        s = self.state
        lines = [f"code   {self.insn.code.hex(' ')}   ; {disassemble(self.insn.code)}"
                 f"   [{self.insn.family}/{self.insn.name}]",
                 "regs   " + " ".join(f"{r}={s[r]:08x}" for r in GPR32),
                 f"       eflags={s['eflags']:08x} eip={s['eip']:04x} "
                 + " ".join(f"{r}={s[r]:04x}" for r in SEGS),
                 f"mem    background seed {self.memory.seed}; vector 0 -> "
                 f"{self.ivt0[0]:04x}:{self.ivt0[1]:04x}"]
        for seg, off, data in self.insn.mem:
            lines.append(f"       {seg}:{off:04x} (phys {s[seg] * 16 + off:05x}) = {data.hex(' ')}")
        return "\n".join(lines)

    def __repr__(self):
        return "Case(\n" + self.describe() + "\n)"

    def _repr_pretty_(self, p, cycle):
        p.text(repr(self))


def apply_fixups(state, insn):
    st_ = dict(state)
    for name, value in insn.regs:
        set_reg(st_, name, value)
    return st_


@st.composite
def cases(draw, instructions, states=None, memories=None):
    """Strategy for a `Case` running one instruction drawn from `instructions`."""
    # The instruction is drawn first: Hypothesis explores early choices more evenly.
    insn = draw(instructions)
    state = draw(states if states is not None else cpu_states())
    memory = draw(memories if memories is not None else memory_images())
    ivt0 = (draw(st.integers(*CODE_SELECTORS)), draw(st.integers(0, 0xFFFF)))
    state = apply_fixups(state, insn)
    # A CS-relative operand fix-up must not overwrite the instruction itself.
    lo, hi = state["eip"], state["eip"] + len(insn.code)
    for seg, off, data in insn.mem:
        if seg == "cs":
            assume(off + len(data) <= lo or off >= hi)
    return Case(state=state, memory=memory, insn=insn, ivt0=ivt0)


# --- running ---------------------------------------------------------------------------

@dataclass
class Outcome:
    """Registers (STATE_KEYS), RAM below WINDOW_END, and the exception vector the oracle
    saw (None for cycle86, which delivers it like hardware)."""
    regs: dict
    memory: bytes
    exception: int | None = None
    accessed: set = field(default_factory=set)


def deliver_real_mode(regs, mem_write, mem_read, vector, ip):
    """Real-address-mode interrupt delivery (SDM Vol. 3, 20.1.4): push FLAGS, CS, IP on
    SS:SP (SP wraps at 16 bits), clear IF and TF, load CS:IP from the IVT entry."""
    sp = regs["esp"] & 0xFFFF
    ss = regs["ss"] * 16
    for word in (regs["eflags"] & 0xFFFF, regs["cs"], ip):
        sp = (sp - 2) & 0xFFFF
        mem_write(ss + sp, _le(word, 2))
    regs["esp"] = (regs["esp"] & 0xFFFF0000) | sp
    regs["eflags"] &= ~(IF | TF)
    entry = mem_read(vector * 4, 4)
    regs["eip"] = int.from_bytes(entry[:2], "little")
    regs["cs"] = int.from_bytes(entry[2:], "little")


def run_unicorn(case, trace=False):
    """Execute `case` in Unicorn (the oracle) and return its Outcome.

    Unicorn's UC_MODE_16 is real mode: writing a segment register loads base =
    selector * 16, and emu_start's address is linear (IP = address - CS*16).  A CPU
    exception stops emulation through UC_HOOK_INTR with EIP at the faulting instruction;
    Unicorn does not deliver it, so `deliver_real_mode` does, as a 286+ does for a fault
    (the pushed IP is the faulting instruction's, prefixes included).
    `trace=True` records the physical addresses the instruction touched.
    """
    from unicorn import UC_ARCH_X86, UC_HOOK_INTR, UC_HOOK_MEM_READ, UC_HOOK_MEM_WRITE, \
        UC_MODE_16, Uc
    from unicorn import x86_const as X

    uc = Uc(UC_ARCH_X86, UC_MODE_16)
    uc.mem_map(0, RAM_SIZE)
    uc.mem_write(0, case.image())
    ids = {r: getattr(X, "UC_X86_REG_" + r.upper()) for r in STATE_KEYS}
    for r in SEGS + GPR32 + ("eflags",):
        uc.reg_write(ids[r], case.state[r])
    seen = []
    uc.hook_add(UC_HOOK_INTR, lambda u, n, _: (seen.append(n), u.emu_stop()))
    accessed = set()
    if trace:
        uc.hook_add(UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE,
                    lambda u, acc, addr, size, val, _: accessed.update(range(addr, addr + size)))
    start = case.start
    uc.emu_start(start, start + len(case.insn.code))
    regs = {r: uc.reg_read(ids[r]) for r in STATE_KEYS}
    exc = seen[0] if seen else None
    if exc is not None:
        # A fault leaves the machine as it was before the instruction.
        for r in STATE_KEYS:
            regs[r] = case.state[r]
        deliver_real_mode(regs, uc.mem_write, uc.mem_read, exc, case.state["eip"])
    return Outcome(regs=regs, memory=bytes(uc.mem_read(0, WINDOW_END)), exception=exc,
                   accessed=accessed)


_machine = None


def run_cycle86(case, machine=None):
    """Execute `case` with one `Machine.step()` on a cycle86 80386 and return its Outcome.

    Reuses one 1 MiB machine per process (reset, then RAM and registers overwritten)
    unless `machine` is given.
    """
    global _machine
    if machine is None:
        if _machine is None:
            from core.machine import Machine
            _machine = Machine(cpu="80386", memory=RAM_SIZE)
        machine = _machine
        machine.reset()
    cpu = machine.cpu
    machine.mem.write(0, case.image())
    for s in SEGS:
        setattr(cpu, s, case.state[s])          # the real-mode load: base = selector * 16
    for r in GPR32 + ("eip", "eflags"):
        setattr(cpu, r, case.state[r])
    cpu.halted = False
    machine.step()
    regs = {r: getattr(cpu, r) for r in STATE_KEYS}
    return Outcome(regs=regs, memory=bytes(machine.mem.read(0, WINDOW_END)))


def _flag_names(bits):
    names = [n.rstrip("_").upper() for n, b in FLAG_BITS.items() if bits & b]
    names += ["IOPL"] if bits & IOPL else []
    names += ["NT"] if bits & NT else []
    other = bits & ~(sum(FLAG_BITS.values()) | IOPL | NT)
    names += [f"{other:#x}"] if other else []
    return "+".join(names)


def compare(case, expected, actual):
    """List the differences between the oracle's and cycle86's outcomes, as text.

    Registers compare in full except bits `case.insn.undefined` marks; EFLAGS compares
    every bit except the status flags the SDM leaves undefined for this instance (all of
    them when the instruction faulted: a fault restores the state before it).
    """
    diffs = []
    undefined = {}
    for reg, mask in case.insn.undefined:
        undefined[reg] = undefined.get(reg, 0) | mask
    fault = expected.exception is not None
    if not fault:
        undefined["eflags"] = STATUS & ~case.insn.defined_flags
    for r in STATE_KEYS:
        keep = ~undefined.get(r, 0) & 0xFFFFFFFF
        e, a = expected.regs[r] & keep, actual.regs[r] & keep
        if e != a:
            if r == "eflags":
                diffs.append(f"eflags: expected {e:08x} got {a:08x} "
                             f"(differ: {_flag_names(e ^ a)}; compared mask {keep:08x})")
            else:
                diffs.append(f"{r}: expected {e:08x} got {a:08x}")
    if expected.memory != actual.memory:
        skip = case.undefined_bytes()
        bad = [i for i in range(WINDOW_END)
               if expected.memory[i] != actual.memory[i] and i not in skip]
        for i in bad[:16]:
            diffs.append(f"mem {i:05x}: expected {expected.memory[i]:02x} "
                         f"got {actual.memory[i]:02x}")
        if len(bad) > 16:
            diffs.append(f"... {len(bad) - 16} more differing bytes")
    return diffs


def report(case, expected, actual, diffs):
    """A reproducer: the case, what the oracle did, the differences."""
    lines = [case.describe()]
    if expected.exception is not None:
        lines.append(f"oracle raised vector {expected.exception} (delivered through the IVT)")
    if expected.accessed:
        img = case.image()
        touched = sorted(a for a in expected.accessed if a < WINDOW_END)
        lines.append("oracle touched " + " ".join(f"{a:05x}={img[a]:02x}" for a in touched[:24]))
    lines += ["differences:"] + ["  " + d for d in diffs]
    return "\n".join(lines)


def assert_same(case, machine=None):
    """Run `case` on both machines; raise AssertionError with a reproducer on mismatch."""
    expected = run_unicorn(case)
    actual = run_cycle86(case, machine)
    diffs = compare(case, expected, actual)
    if diffs:
        traced = run_unicorn(case, trace=True)
        raise AssertionError("cycle86 differs from Unicorn\n" + report(case, traced, actual, diffs))


def signature(case, diffs):
    """A coarse key for a mismatch: the instruction form, its operand size, and which
    kinds of state differ (gpr, flags, mem, eip, segment), so one bug seen through many
    examples counts once."""
    what = set()
    for d in diffs:
        head = d.split(":")[0].split(" ")[0]
        if head in GPR32:
            what.add("gpr")
        elif head in ("eflags", "mem", "...", "eip"):
            what.add({"...": "mem", "eflags": "flags"}.get(head, head))
        else:
            what.add("segment")
    code = case.insn.code
    prefixes = set(code[:len(code) - len(code.lstrip(bytes([0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x66, 0x67, 0xF2, 0xF3])))])
    width = "o32" if 0x66 in prefixes else "o16"
    return (case.insn.family, case.insn.name.split(" (")[0].split(" x")[0], width,
            tuple(sorted(what)))


def simplify(case, keep):
    """Greedily simplify `case` while `keep(case)` stays true: zero the registers the
    instruction does not pin, use the lowest selectors, clear EFLAGS bits, a zero
    background.  Pinned registers keep their values, so memory operands stay where the
    strategy put them and the case stays one Unicorn models correctly."""
    pinned = {reg_slot(n)[0] for n, _ in case.insn.regs}
    simple = {r: 0 for r in GPR32 if r not in pinned}
    simple.update({s_: DATA_SELECTORS[0] for s_ in DATA_SEGS}, cs=CODE_SELECTORS[0], eip=0)
    for r, v in simple.items():
        if case.state[r] != v:
            trial = Case(state={**case.state, r: v}, memory=case.memory, insn=case.insn,
                         ivt0=case.ivt0)
            if _valid(trial) and keep(trial):
                case = trial
    for bit in range(32):
        f = case.state["eflags"]
        if f & (1 << bit) and bit != 1 and "eflags" not in pinned:
            trial = Case(state={**case.state, "eflags": f & ~(1 << bit)}, memory=case.memory,
                         insn=case.insn, ivt0=case.ivt0)
            if keep(trial):
                case = trial
    for seed in (0, 0xFF):
        trial = Case(state=case.state, memory=MemoryImage(seed), insn=case.insn, ivt0=case.ivt0)
        if keep(trial):
            return trial
    return case


def _valid(case):
    # Simplifying must not move a CS-relative fix-up onto the instruction bytes.
    lo, hi = case.state["eip"], case.state["eip"] + len(case.insn.code)
    return all(off + len(d) <= lo or off >= hi for seg, off, d in case.insn.mem if seg == "cs")


def survey(instructions, examples=2000, shrink=True, machine=None):
    """Run many cases and group every mismatch by `signature`, instead of stopping at the
    first one as a property test does.  Returns {signature: report text}; with `shrink`
    each report comes from the first case of its group after `simplify`.

        from core import strategies as S
        for sig, text in S.survey(S.shifts(), 3000).items():
            print(sig); print(text)
    """
    from hypothesis import HealthCheck, given, settings

    found = {}

    def outcome(case):
        expected = run_unicorn(case)
        actual = run_cycle86(case, machine)
        return expected, actual, compare(case, expected, actual)

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(cases(instructions))
    def sweep(case):
        _, _, diffs = outcome(case)
        if diffs:
            found.setdefault(signature(case, diffs), case)

    sweep()
    out = {}
    for sig, case in found.items():
        if shrink:
            case = simplify(case, lambda c: (lambda d: bool(d) and signature(c, d) == sig)(
                outcome(c)[2]))
        expected, actual, diffs = outcome(case)
        traced = run_unicorn(case, trace=True)
        out[sig] = report(case, traced, actual, diffs)
    return out
