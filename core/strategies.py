"""Hypothesis strategies for 80386/80486 instructions, and a differential harness.

Cases run in real mode (the default) or, given a `Mode` from `protected_mode()`, in
flat 32-bit protected mode with paging at CPL 0 or 3; the protected-mode layout is
described at `Mode` below.  Three layers, each usable on its own:

* `cpu_states()` (`pm_states()`) and `memory_images()` draw a random machine: all eight
  32-bit general registers, EFLAGS, segment selectors and EIP, and the contents of RAM.
* One strategy per instruction family (`alu`, `shifts`, `muldiv`, `bcd`, `bitops`,
  `strings`, `addressing`, `misc`, `branches`, and `i486` for the 80486) draws a legal
  encoding for the mode with random prefixes and returns
  an `Insn`: the bytes plus what a comparison must know about them (which status flags
  the Intel SDM defines for this instance, which register bits are undefined) plus the
  *fix-ups* that keep the instruction well-behaved: register values that steer memory
  operands into the RAM window, operand values (shift counts, divisors), stack pointers.
* `cases(insns)` combines them into a `Case`; `run_unicorn`, `run_cycle86` and `compare`
  execute a case on both machines and list the differences.  `page_faults` draws accesses
  that may raise #PF, `expected_page_fault` gives the SDM's verdict on them.

Real-mode memory layout (all segments are real-mode: base = selector * 16, limit 0xFFFF):

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
import os
import random
from dataclasses import dataclass, field

from hypothesis import HealthCheck, Phase, assume, settings
from hypothesis import strategies as st

# ---------------------------------------------------------------- test profiles
# The differential tests run derandomized ("diff": every run the same) unless
# CYCLE86_DIFF_PROFILE=explore asks for a longer search with fresh examples.  No explain
# phase: on this search space it re-runs thousands of variations of a failing case to
# annotate lines, minutes for little; the reproducer already says what differs.
settings.register_profile(
    "diff", max_examples=300, deadline=None, derandomize=True, database=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
settings.register_profile(
    "explore", max_examples=3000, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
PROFILE = os.environ.get("CYCLE86_DIFF_PROFILE", "diff")


def examples(n):
    """Test settings: `n` examples under the default "diff" profile; "explore" brings its
    own count."""
    if PROFILE == "diff":
        return settings(settings.get_profile("diff"), max_examples=n)
    return settings(settings.get_profile(PROFILE))

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
def _fill(seed, size=WINDOW_END):
    if seed < 256:
        return bytes([seed]) * size
    return random.Random(seed).randbytes(size)


@dataclass(frozen=True)
class MemoryImage:
    """Initial RAM contents below WINDOW_END, from a seed.

    Seeds 0-255 fill every byte with that value; larger seeds give pseudo-random bytes.
    Random background matters: an access through the wrong segment or offset then reads
    a different value instead of the same constant, so the bug shows.
    """
    seed: int

    def bytes(self, size=WINDOW_END):
        return _fill(self.seed, size)


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


# --- modes: real, or flat 32-bit protected mode with paging -------------------------------
#
# A `Mode` tells the strategies where operands may live and how big the defaults are,
# and tells the runners how to set the machine up.  Real mode is the default, so every
# strategy called without a mode draws what it always drew.
#
# Protected mode is flat: every segment descriptor has base 0 and a 4 GiB limit, so an
# offset *is* the linear address and only paging decides where it lands.  The page
# tables are fixed (below) and deliberately unlike identity: the data pages are a
# shuffle of physical frames, two linear pages share a frame (an alias), the data window
# straddles a 4 MiB line so two page tables serve it, and the accessed/dirty bits start
# out random.  The comparison then covers all of physical RAM, page tables included.
#
#   linear                     physical          what
#   00000000-0000FFFF  LOW     shuffled frames   operands with a 16-bit address size
#   003F8000-00407FFF  HIGH    00000-2FFFF       operands with a 32-bit address size, stack
#   00800000-0080FFFF  SYS     F0000-FFFFF       page directory and tables, GDT, IDT, TSS,
#                                                exception handlers, ring-0 stack
#   00810000-00810FFF          54000             a user page Unicorn's setup stops in
#   00C00000-00C0FFFF  CODE    30000-3FFFF       code (read-only pages, user)
#   01000000-01FFFFFF  FAULT   40000-53FFF       pages that fault: not present, read-only,
#                                                supervisor, at PTE and at PDE level

PM_RAM_SIZE = 1 << 20
PAGE = 0x1000

LOW_LIN = (0x00000000, 0x00010000)
HIGH_LIN = (0x003F8000, 0x00408000)
SYS_LIN = 0x00800000
SYS_PHYS = 0xF0000
CODE_LIN = (0x00C00000, 0x00C10000)
FAULT_LIN = 0x01000000

PD_PHYS = SYS_PHYS                      # CR3
_PT_PHYS = {0: SYS_PHYS + 0x1000, 1: SYS_PHYS + 0x2000, 2: SYS_PHYS + 0x3000,
            3: SYS_PHYS + 0x4000, 4: SYS_PHYS + 0x5000, 6: SYS_PHYS + 0x6000,
            7: SYS_PHYS + 0x7000}       # PDE index -> its page table (PDE 5 not present)
GDT_LIN, IDT_LIN, TSS_LIN = SYS_LIN + 0x8000, SYS_LIN + 0x9000, SYS_LIN + 0xA000
HANDLER_LIN = SYS_LIN + 0xB000          # vector v's handler at HANDLER_LIN + 16 * v
IRET_STUB_LIN = SYS_LIN + 0xC000        # IRETD, used to enter ring 3 in Unicorn
IRET_FRAME_LIN = SYS_LIN + 0xC100
RING3_STOP_LIN = SYS_LIN + 0x10010      # where that IRETD "returns" to: a user page
KSTACK_TOP = SYS_LIN + 0x10000          # ESP0 in the TSS
IDT_LIMIT = 32 * 8 - 1

# Page-table entry bits (SDM Vol. 3, "Paging": 32-bit paging entry formats).
PTE_P, PTE_RW, PTE_US, PTE_A, PTE_D = 0x1, 0x2, 0x4, 0x20, 0x40

# The GDT: selector -> (base, limit in descriptor units, access = bits 8-23 of the high
# dword).  All flat.  0x28 and 0x30 start with the accessed bit clear, so loading them
# writes the descriptor; the others are pre-accessed because the setup loads them.
GDT = {0x08: (0, 0xFFFFF, 0xCF9B00),    # ring-0 code, 32-bit, execute/read
       0x10: (0, 0xFFFFF, 0xCF9300),    # ring-0 data, read/write
       0x18: (0, 0xFFFFF, 0xCFFB00),    # ring-3 code
       0x20: (0, 0xFFFFF, 0xCFF300),    # ring-3 data
       0x28: (0, 0xFFFFF, 0xCF9200),    # ring-0 data, not yet accessed
       0x30: (0, 0xFFFFF, 0xCFF200),    # ring-3 data, not yet accessed
       0x38: (TSS_LIN, 0x67, 0x008B00),  # busy 32-bit TSS
       # Not flat, for the hand-written tests of what QEMU does not check (the
       # strategies never load them): limits, read-only and expand-down data,
       # execute-only code.
       0x40: (0, 0x00FFF, 0x409300),    # ring-0 data, byte limit FFFh
       0x48: (0, 0xFFFFF, 0xCF9100),    # ring-0 data, read-only
       0x50: (0, 0x00FFF, 0x409700),    # ring-0 data, expand-down above FFFh (B = 1)
       0x58: (0, 0xFFFFF, 0xCF9900),    # ring-0 code, execute-only
       0x60: (0, 0x00FFF, 0x40F300)}    # ring-3 data, byte limit FFFh
GDT_LIMIT = 13 * 8 - 1
TSS_SEL = 0x38

# The fault window: (first linear page, effective rights) for the page-fault strategy.
# "np" is a not-present PTE, "pde-np" a not-present PDE; "ro"/"sup"/"ro-sup" combine
# R/W = 0 and U/S = 0; the "(pde)" pages get that right from the PDE while their PTE
# allows everything (the effective right is the more restrictive of the two).
FAULT_KINDS = ("np", "ro", "sup", "ro-sup", "ok", "np", "ok", "ro", "sup", "ok", "ro", "np")
FAULT_PAGES = tuple((FAULT_LIN + k * PAGE, kind) for k, kind in enumerate(FAULT_KINDS)) + (
    (FAULT_LIN + 0x400000, "pde-np"), (FAULT_LIN + 0x401000, "pde-np"),
    (FAULT_LIN + 0x800000, "ro (pde)"), (FAULT_LIN + 0x801000, "ro (pde)"),
    (FAULT_LIN + 0xC00000, "sup (pde)"), (FAULT_LIN + 0xC01000, "sup (pde)"))


def _pm_pages(cpl):
    """{linear page: (physical frame or None, PTE rights, PDE rights)} for the layout.

    The data windows are writable user pages at CPL 3 (the families must not fault);
    at CPL 0 some are read-only or supervisor-only, which a supervisor access ignores
    while CR0.WP = 0, so a CPU that checks rights it should not fails there.
    """
    rnd = random.Random(0x386)                      # a fixed shuffle, not drawn
    low = [LOW_LIN[0] + i * PAGE for i in range(16)]
    high = [HIGH_LIN[0] + i * PAGE for i in range(32)]
    frames = [i * PAGE for i in range(48)]
    rnd.shuffle(frames)
    data = dict(zip(low + high, frames))
    data[low[5]] = data[high[20]]                  # aliases: one frame, two pages
    data[high[3]] = data[high[27]]
    user_rw = PTE_RW | PTE_US
    pages = {}
    for i, lin in enumerate(low + high):
        rights = user_rw
        if cpl == 0:
            rights = (0 if i % 5 == 2 else PTE_RW) | (0 if i % 7 == 3 else PTE_US)
        pages[lin] = (data[lin], rights, user_rw)
    code = [0x30000 + i * PAGE for i in range(16)]
    rnd.shuffle(code)
    for i in range(16):
        pages[CODE_LIN[0] + i * PAGE] = (code[i], PTE_US, user_rw)
    # The system area is supervisor-only at the PTE; its PDE allows user access for the
    # sake of the one user page Unicorn's ring-3 setup stops in.
    for i in range(16):
        pages[SYS_LIN + i * PAGE] = (SYS_PHYS + i * PAGE, PTE_RW, user_rw)
    pages[RING3_STOP_LIN & ~(PAGE - 1)] = (0x54000, PTE_US, user_rw)
    frame = 0x40000
    for lin, kind in FAULT_PAGES:
        if kind.endswith("np"):
            pages[lin] = (None, user_rw, 0 if kind == "pde-np" else user_rw)
            continue
        pte = {"ro": PTE_US, "sup": PTE_RW, "ro-sup": 0, "ok": user_rw}.get(kind, user_rw)
        pde = {"ro (pde)": PTE_US, "sup (pde)": PTE_RW}.get(kind, user_rw)
        pages[lin] = (frame, pte, pde)
        frame += PAGE
    return pages


@functools.lru_cache(maxsize=None)
def _pm_map(cpl):
    return _pm_pages(cpl)


def pm_entries(lin):
    """Physical addresses of the PDE and the PTE (None without a page table) that
    translate linear `lin` in the layout."""
    pdi = lin >> 22
    table = _PT_PHYS.get(pdi)
    return PD_PHYS + 4 * pdi, None if table is None else table + 4 * ((lin >> 12) & 0x3FF)


def pm_translate(lin, cpl=0):
    """Physical address of linear `lin` in the layout (None if not present), ignoring
    rights: where a strategy's fix-ups go."""
    entry = _pm_map(cpl).get(lin & ~(PAGE - 1))
    if entry is None or entry[0] is None:
        return None
    return entry[0] | (lin & (PAGE - 1))


def pm_rights(lin, cpl=0):
    """(present, writable, user) of linear `lin` in the layout, PDE and PTE combined."""
    entry = _pm_map(cpl).get(lin & ~(PAGE - 1))
    if entry is None or entry[0] is None:
        return False, False, False
    rights = entry[1] & entry[2]
    return True, bool(rights & PTE_RW), bool(rights & PTE_US)


def _descriptor(base, limit, access):
    lo = (limit & 0xFFFF) | ((base & 0xFFFF) << 16)
    hi = ((base >> 16) & 0xFF) | (access & 0x00F0FF00) | (limit & 0xF0000) | (base & 0xFF000000)
    return lo.to_bytes(4, "little") + hi.to_bytes(4, "little")


def descriptor_cache(selector):
    """(base, limit, access) cycle86's descriptor cache holds after loading `selector`
    from the layout's GDT: the limit in bytes (G applied), the access rights without
    the limit's bits 16-19 that share their dword, the accessed bit set.  A null
    selector gives an empty, not-present cache."""
    if selector & ~3 == 0:
        return 0, 0, 0
    base, limit, access = GDT[selector & ~3]
    if access & 0x800000:
        limit = (limit << 12) | 0xFFF
    return base, limit, (access & 0x00F0FF00) | 0x100


@functools.lru_cache(maxsize=8)
def _pm_base_image(seed, cpl):
    """Physical RAM before the fix-ups: the background, then the system structures.

    Accessed/dirty bits of the data and code pages come from the seed (so both the
    "already set" and the "must set" paths run); entries that are not present hold
    random junk apart from P, which the CPU must ignore.  The system area is
    pre-accessed and dirty: Unicorn's own setup (segment loads, the IRETD into ring 3)
    walks it, while cycle86's setup writes caches directly.
    """
    img = bytearray(_fill(seed, PM_RAM_SIZE))
    rnd = random.Random(seed * 0x9E3779B1 + cpl)

    def put32(addr, value):
        img[addr:addr + 4] = value.to_bytes(4, "little")

    def ad():
        return rnd.choice((0, PTE_A, PTE_A | PTE_D, PTE_A, 0))

    for table in [PD_PHYS] + list(_PT_PHYS.values()):
        for i in range(1024):
            put32(table + 4 * i, rnd.getrandbits(32) & ~PTE_P)
    pde_rights = {}
    for lin, (frame, pte, pde) in _pm_map(cpl).items():
        pdi, pti = lin >> 22, (lin >> 12) & 0x3FF
        pde_rights[pdi] = pde
        if frame is None:
            continue
        system = SYS_LIN <= lin <= RING3_STOP_LIN
        put32(_PT_PHYS[pdi] + 4 * pti, frame | pte | PTE_P | (PTE_A | PTE_D if system else ad()))
    for pdi, rights in pde_rights.items():
        if rights == 0 and pdi not in _PT_PHYS:
            continue                                    # PDE 5: not present
        a = PTE_A if pdi == SYS_LIN >> 22 else rnd.choice((0, PTE_A))
        put32(PD_PHYS + 4 * pdi, _PT_PHYS[pdi] | rights | PTE_P | a)

    def at(lin):
        return SYS_PHYS + (lin - SYS_LIN)

    gdt = bytearray(bytes(8) * (GDT_LIMIT + 1 >> 3))
    for sel, d in GDT.items():
        gdt[sel:sel + 8] = _descriptor(*d)
    img[at(GDT_LIN):at(GDT_LIN) + len(gdt)] = gdt
    for v in range(32):
        off = HANDLER_LIN + 16 * v
        gate = (off & 0xFFFF) | (0x08 << 16), (off & 0xFFFF0000) | 0x8E00
        put32(at(IDT_LIN) + 8 * v, gate[0])             # 32-bit interrupt gate, DPL 0
        put32(at(IDT_LIN) + 8 * v + 4, gate[1])
    img[at(HANDLER_LIN):at(HANDLER_LIN) + 16 * 32] = b"\xF4" * (16 * 32)     # HLT
    img[at(TSS_LIN):at(TSS_LIN) + 0x68] = bytes(0x68)
    put32(at(TSS_LIN) + 4, KSTACK_TOP)                  # ESP0
    put32(at(TSS_LIN) + 8, 0x10)                        # SS0
    put32(at(TSS_LIN) + 0x64, 0x68 << 16)               # I/O map base: past the limit
    img[at(IRET_STUB_LIN)] = 0xCF                       # IRETD
    for i, v in enumerate((RING3_STOP_LIN, 0x1B, EFLAGS_ONE, HIGH_LIN[0] + PAGE, 0x23)):
        put32(at(IRET_FRAME_LIN) + 4 * i, v)
    return bytes(img)


@dataclass(frozen=True)
class Mode:
    """Where a case runs.

    protected  False: real mode (the default).  True: the flat, paged protected mode
               described above, with 32-bit code and stack segments.
    cpl        0 or 3 (protected mode): the privilege level the instruction runs at.
    model      the cycle86 CPU model: "80386" or "80486" ("pentium2" for the MMX
               forms of `page_faults`).
    wp         CR0.WP (80486): supervisor writes honour read-only pages.
    """
    protected: bool = False
    cpl: int = 0
    model: str = "80386"
    wp: bool = False

    def __post_init__(self):
        if self.wp and self.model == "80386":
            raise ValueError("the 80386 has no CR0.WP")
        if self.cpl and not self.protected:
            raise ValueError("real mode runs at CPL 0")

    @property
    def code32(self):
        return self.protected

    @property
    def bits(self):
        return 32 if self.protected else 16

    @property
    def override_segments(self):
        # Protected mode leaves out CS: a write through a CS override is #GP(0), and
        # QEMU does not check segment types on data accesses (see test_unicorn_pm.py).
        return tuple(s for s in SEGS if s != "cs") if self.protected else SEGS

    def offsets(self, a32):
        """(lo, hi) of the offsets an operand may use: a 16-bit address size reaches
        0-FFFF in any mode (the LOW window in protected mode); a 32-bit one stays in
        0-FFFF in real mode (the segment limit) and in HIGH in protected mode."""
        if self.protected and a32:
            return HIGH_LIN
        return (0, 0x10000)

    @property
    def stack_window(self):
        return HIGH_LIN if self.protected else (0, 0x10000)

    @property
    def sp_name(self):
        return "esp" if self.protected else "sp"

    @property
    def sp_mask(self):
        return 0xFFFFFFFF if self.protected else 0xFFFF

    @property
    def cr0(self):
        return 0x80000011 | (0x10000 if self.wp else 0)      # PG ET PE (and WP)

    @property
    def state_keys(self):
        return STATE_KEYS + ("cr2",) if self.protected else STATE_KEYS

    def selectors(self, sreg):
        """Selectors a MOV/POP into `sreg` may load without a fault in this mode, or
        None in real mode (any value loads).  Null is fine for a data segment; SS
        needs a writable data segment with RPL = DPL = CPL (SDM MOV, "protected mode")."""
        if not self.protected:
            return None
        if self.cpl == 0:
            return (0x10, 0x28) if sreg == "ss" else (0x00, 0x03, 0x10, 0x28, 0x20, 0x23, 0x33)
        return (0x23, 0x33) if sreg == "ss" else (0x00, 0x03, 0x20, 0x23, 0x30, 0x33)

    def initial_selectors(self, sreg):
        """What a drawn state may hold in `sreg` (pre-accessed descriptors only)."""
        if sreg == "cs":
            return (0x08,) if self.cpl == 0 else (0x1B,)
        if sreg == "ss":
            return (0x10,) if self.cpl == 0 else (0x23,)
        return (0x10, 0x23) if self.cpl == 0 else (0x23,)


REAL = Mode()


def protected_mode(cpl=0, model="80386", wp=False):
    """The flat, paged protected mode at `cpl` on cycle86's `model`."""
    return Mode(protected=True, cpl=cpl, model=model, wp=wp)


# What a drawn protected-mode EFLAGS may hold: no TF (it would trap), no VM, RF, AC
# (QEMU has no #AC) or ID.  (POPF images keep random VM/RF bits: POPF must not set VM.)
PM_SETTABLE = STATUS | IF | DF | IOPL | NT


def pm_states(mode):
    """Strategy for a protected-mode register state (a dict for the runners).

    GPRs are random except ESP, which points into the stack window so that even an
    exception nobody planned for has a stack to push its frame on.  Selectors come
    from the layout's GDT for the mode's CPL; CR2 starts random (only #PF writes it).
    """
    word = st.integers(0, 0xFFFFFFFF)
    fields = {r: word for r in GPR32}
    fields["esp"] = st.integers(HIGH_LIN[0] + 64, HIGH_LIN[1] - 64)
    fields["eflags"] = word.map(lambda f: (f & PM_SETTABLE) | EFLAGS_ONE)
    fields["eip"] = st.integers(CODE_LIN[0], CODE_LIN[1] - 16)
    for s in SEGS:
        fields[s] = st.sampled_from(mode.initial_selectors(s))
    fields["cr2"] = word
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
    bits            16 or 32: the default operand and address size it was encoded for
    branch          for a near branch: ("rel", displacement, mask, conditional) or
                    ("abs", target, mask, False), mask 0xFFFF or 0xFFFFFFFF for the
                    operand size that truncates the new EIP; the oracle stops at the
                    target (or after the instruction, for a conditional one)
    page_access     for the page-fault strategy: (linear address, length, kind) of the
                    accesses whose translation may fault, kind "r", "w", "rw" (read,
                    then write back) or "x" (the instruction fetch itself)
    undefined_dirty (segment, offset, length) of operands whose pages' dirty bits are
                    not compared (protected mode; see `shifts`)
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
    bits: int = 16
    branch: tuple = ()
    page_access: tuple = ()
    undefined_dirty: tuple = ()

    def __repr__(self):
        return (f"Insn({self.code.hex(' ')} ; {disassemble(self.code, self.bits)} ; "
                f"{self.family}/{self.name})")

    def _repr_pretty_(self, p, cycle):        # Hypothesis prints falsifying examples so
        p.text(repr(self))


def disassemble(code, bits=16):
    """Intel-syntax text of `code` as a 16-bit (real mode) or 32-bit instruction."""
    from capstone import CS_ARCH_X86, CS_MODE_16, CS_MODE_32, Cs
    for i in Cs(CS_ARCH_X86, CS_MODE_32 if bits == 32 else CS_MODE_16).disasm(bytes(code), 0):
        return f"{i.mnemonic} {i.op_str}".strip()
    return "(undecodable)"


def _le(value, size):
    return (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")


class _Enc:
    """Accumulates one encoding while a family strategy draws it."""

    def __init__(self, draw, family, seg=True, opsize=True, addrsize=True, rep=(), mode=None):
        self.draw = draw
        self.family = family
        self.mode = mode = mode or REAL
        self.seg = draw(st.sampled_from((None,) + mode.override_segments)) if seg else None
        # 66/67 toggle the default size: 16 in real mode, 32 in a 32-bit code segment.
        p66 = draw(st.booleans()) if opsize else False
        p67 = draw(st.booleans()) if addrsize else False
        self.o32 = p66 != mode.code32
        self.a32 = p67 != mode.code32
        self.rep = draw(st.sampled_from((None,) + tuple(rep))) if rep else None
        pfx = [SEG_PREFIX[self.seg]] if self.seg else []
        pfx += [0x66] if p66 else []
        pfx += [0x67] if p67 else []
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
        self.branch = ()
        self.page_access = ()
        self.undefined_dirty = []
        self.reserved = set()       # 32-bit registers whose value is pinned

    @property
    def osize(self):
        return 4 if self.o32 else 2

    def window(self):
        """(lo, hi): the offsets an operand may occupy with this address size."""
        return self.mode.offsets(self.a32)

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

    def touch_descriptor(self, selector):
        """A protected-mode segment load reads the selector's GDT entry (and may set
        its accessed bit); "linear" names a linear address, which needs no segment."""
        if selector & ~3:
            self.touch("linear", GDT_LIN + (selector & ~7), 8)

    def stack(self, pushed=0, popped=0):
        """Pin SP so `pushed` bytes below it and `popped` bytes above it stay inside SS.

        A 386 raises #SS (or shuts down) when a stack access crosses offset 0xFFFF in real
        mode; QEMU does not model that, so the drawn SP keeps clear of it.  SP = 0 is the
        legal wrap case for pushes.  In protected mode the stack is 32-bit (SS.B = 1):
        ESP is pinned whole, inside the mode's stack window.  Returns SP/ESP.
        """
        lo, hi = self.mode.stack_window
        choices = st.integers(lo + pushed, hi - popped)
        if not popped and not self.mode.protected:
            choices = st.one_of(st.just(0), choices)
        sp = self.draw(choices)
        self.pin(self.mode.sp_name, sp)
        if pushed:
            self.touch("ss", (sp - pushed) & self.mode.sp_mask, pushed)
        if popped:
            self.touch("ss", sp, popped)
        return sp

    def fault_frame(self):
        """Room on the stack for the frame of an exception this instance raises on
        purpose: FLAGS CS IP (6 bytes) in real mode, EFLAGS CS EIP (12 bytes, a 32-bit
        interrupt gate) at CPL 0; at CPL 3 the frame goes on the ring-0 stack of the TSS."""
        if not self.mode.protected:
            self.stack(pushed=6)
        elif self.mode.cpl == 0:
            self.stack(pushed=12)

    def modrm(self, reg, size, kind="any", span=None, adjust=0, value="random", where=None):
        """Append ModR/M (+SIB +displacement) with `reg` in the reg field.

        kind  "reg", "mem", "any", or "lea" (a memory form whose address registers keep
              their random values: LEA reads no memory, so any address is fine).
        span  (before, after): bytes accessed around the final offset, default (0, size).
        adjust  a known constant added to the effective address (BT's bit-offset).
        value "random" puts a drawn operand value at the final offset, None leaves memory
              alone, an int puts that value.
        where (lo, hi) offsets the access must lie in, instead of the mode's window.
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
        lo, hi = where or self.window()
        target = draw(st.integers(lo + before, hi - after))
        solve = kind != "lea"
        mod = draw(st.integers(0, 2))
        if self.a32:
            seg_default, tail, ea = self._ea32(mod, reg, target - adjust, solve,
                                               lo + before - adjust)
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
            if idx == 4 and self.mode.model == "80386":
                # The 80386 applies a non-zero scale to the base when there is no index
                # (test386.asm, from hardware); the SDM and Unicorn ignore it.
                ss, scale = 0, 1
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
                    may_fault=self.may_fault, bits=self.mode.bits, branch=self.branch,
                    page_access=self.page_access, undefined_dirty=tuple(self.undefined_dirty))


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
def alu(draw, mode=None):
    """ADD OR ADC SBB AND SUB XOR CMP in every form (incl. 80/81/82/83), TEST, INC DEC NEG NOT."""
    e = _Enc(draw, "alu", mode=mode)
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
def shifts(draw, mode=None):
    """ROL ROR RCL RCR SHL SHR SAR by 1, CL and imm8 (C0/C1/D0-D3), and SHLD/SHRD imm8/CL."""
    e = _Enc(draw, "shifts", mode=mode)
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
        where = e.modrm(draw(st.integers(0, 7)), size)
        if where[0] == "mem" and count & 31 == 0:
            # SDM SHLD/SHRD: a count of 0 is "no operation".  QEMU writes the operand
            # back all the same, which shows only as the page's dirty bit under paging
            # (cycle86 leaves it clean); test_unicorn_pm.py pins the SDM reading.
            e.undefined_dirty.append((where[1], where[2], size))
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
def muldiv(draw, faults=True, mode=None):
    """MUL/IMUL (F6/F7, 0F AF, 69, 6B) and DIV/IDIV, including #DE when `faults`.

    A divide error is delivered through IVT vector 0 (the IDT in protected mode); the
    comparison then covers the pushed frame and the handler address.
    """
    e = _Enc(draw, "muldiv", mode=mode)
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
    outcomes = ("fits", "zero", "overflow") if faults else ("fits",)
    outcome = draw(st.sampled_from(outcomes))
    lo, hi = ("al", "ah") if size == 1 else ("ax", "dx") if size == 2 else ("eax", "edx")
    e.reserve("eax", "edx")
    e.fault_frame()                              # room for the #DE frame
    e.byte(0xF6 if byte else 0xF7)
    dividend, divisor = _divide_operands(draw, signed, bits, outcome)
    operand = e.modrm(7 if signed else 6, size, value=divisor)
    if operand[0] == "reg":
        # A divisor that is part of the dividend (div ah, div dx, ...) or the stack
        # pointer pinned for the #DE frame (div esp) cannot be pinned independently;
        # those encodings run on the values they have.
        if reg_slot(_reg_name(operand[1], size))[0] in (("eax",) if size == 1 else ("eax", "edx", "esp")):
            e.may_fault = True
            e.defined_flags = 0
            return e.finish(kind + " E (aliased)")
        e.pin(_reg_name(operand[1], size), divisor)
    dividend &= (1 << (2 * bits)) - 1
    e.pin(lo, dividend & ((1 << bits) - 1))
    e.pin(hi, dividend >> bits)
    e.defined_flags = 0                          # DIV/IDIV leave all status flags undefined
    e.may_fault = outcome != "fits"
    return e.finish(f"{kind} E ({outcome})")


# --- BCD -------------------------------------------------------------------------------

@st.composite
def bcd(draw, faults=True, mode=None):
    """DAA DAS AAA AAS AAM AAD (any imm8; AAM 0 raises #DE when `faults`)."""
    e = _Enc(draw, "bcd", mode=mode)
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
            e.fault_frame()
    # Half of the time pin AL to a BCD-ish value so the adjust paths all get exercised.
    if draw(st.booleans()):
        e.pin("al", draw(st.sampled_from((0x00, 0x09, 0x0A, 0x0F, 0x99, 0x9A, 0x9F, 0xA0,
                                           0xF9, 0xFA, 0xFF))))
    return e.finish(op)


# --- bit operations --------------------------------------------------------------------

@st.composite
def bitops(draw, mode=None):
    """BT BTS BTR BTC (reg and imm8 forms), BSF BSR, SETcc, MOVZX, MOVSX."""
    e = _Enc(draw, "bitops", mode=mode)
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
def strings(draw, max_count=8, mode=None):
    """MOVS CMPS SCAS LODS STOS, bare or with REP/REPE/REPNE, both DF directions,
    16- and 32-bit address size, byte/word/dword elements, small counts."""
    op = draw(st.sampled_from(("movs", "cmps", "scas", "lods", "stos")))
    compare = op in ("cmps", "scas")
    # REPNE is defined for CMPS/SCAS only; F3 is REP for the others (SDM REP/REPE/REPNE).
    e = _Enc(draw, "strings", rep=(0xF3, 0xF2) if compare else (0xF3,), mode=mode)
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
    lo, hi = e.window()
    src = dst = None
    if op in ("movs", "cmps", "lods"):
        src = draw(st.integers(lo + span[0], hi - span[1]))
        e.pin(si, src)
    if op in ("movs", "cmps", "scas", "stos"):
        dst = draw(st.integers(lo + span[0], hi - span[1]))
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
def addressing(draw, mode=None):
    """Every 16- and 32-bit ModR/M and SIB form with every displacement size, through
    MOV (88 89 8A 8B C6 C7 A0-A3 8C 8E) and LEA."""
    e = _Enc(draw, "addressing", mode=mode)
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
        lo, hi = e.window()
        off = draw(st.integers(lo, hi - size))
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
        choices = e.mode.selectors(SEGS[sreg])
        if choices is None:
            e.modrm(sreg, 2, kind=kind)
        else:
            # Protected mode: a selector that loads (a bad one is #GP(selector), whose
            # error code Unicorn cannot report); the descriptor read is an access too.
            sel = draw(st.sampled_from(choices))
            rm = e.modrm(sreg, 2, kind=kind, value=sel)
            if rm[0] == "reg":
                e.pin(_reg_name(rm[1], 2), sel)
            e.touch_descriptor(sel)
    return e.finish(form)


# --- miscellaneous ---------------------------------------------------------------------

@st.composite
def misc(draw, mode=None):
    """XCHG, XLAT, CBW/CWDE, CWD/CDQ, LAHF, SAHF, PUSH/POP (reg, r/m, imm, sreg, all,
    flags), CLC STC CMC CLD STD CLI STI."""
    e = _Enc(draw, "misc", mode=mode)
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
        lo, hi = e.window()
        t = draw(st.integers(lo, hi - 1))
        if e.a32:
            e.pin("ebx", (t - al) & 0xFFFFFFFF)
        else:
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
                e.undefined_mem.append(("ss", (sp - 2) & e.mode.sp_mask, 2))
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
            choices = e.mode.selectors(s)
            if choices is not None:
                # Protected mode: a loadable selector (the upper word of a 32-bit slot
                # is ignored, so it keeps its random bits).
                sel = draw(st.sampled_from(choices))
                vals[0] = (vals[0] & ~0xFFFF) | sel
                e.touch_descriptor(sel)
        elif form == "popa":
            e.byte(0x61)
            if osz == 4 and e.mode.sp_mask == 0xFFFF and e.mode.model == "80386":
                # The 80386 loads ESP's upper half from the skipped slot on a 16-bit
                # stack (test386.asm, from hardware); Unicorn keeps it.
                e.undefined.append(("esp", 0xFFFF0000))
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


# --- near branches ---------------------------------------------------------------------

@st.composite
def branches(draw, mode=None):
    """Near JMP, Jcc, CALL, RET (rel8/rel16/rel32, r/m, RET imm16), LOOP/LOOPE/LOOPNE
    and JCXZ/JECXZ.

    The operand size truncates the new EIP to 16 bits (SDM JMP/CALL/RET: "IF
    OperandSize = 16 THEN EIP <- tempEIP AND 0000FFFFH").  In real mode the target must
    stay inside CS's 64 KiB limit (a 386 raises #GP beyond it, QEMU does not check), so
    relative displacements are small there and `cases` drops the few that leave it.
    In protected mode every target, and the byte before it, lies in a present page (the
    code window, or the data windows): Unicorn walks their pages when it stops there
    (see `_emulate`), and would raise #PF for a page that is absent.
    """
    e = _Enc(draw, "branches", mode=mode)
    pm = e.mode.protected
    mask = 0xFFFFFFFF if e.o32 else 0xFFFF
    form = draw(st.sampled_from(("jmp rel8", "jmp rel", "jcc rel8", "jcc rel", "call rel",
                                 "call E", "jmp E", "ret", "ret imm", "loop", "jcxz")))
    conditional = form in ("jcc rel8", "jcc rel", "loop", "jcxz")

    def target():
        if pm and e.o32:
            lo, hi = draw(st.sampled_from((CODE_LIN, HIGH_LIN, LOW_LIN)))
            return draw(st.integers(lo + 1, hi - 1))     # the byte before is present too
        if not pm and e.o32:
            return draw(st.integers(0, 0xFFFF))         # CS's limit
        return draw(st.one_of(st.integers(1 if pm else 0, 0xFFFF), st.just(0xFFFF)))

    def displacement(size):
        """Append the displacement.  Protected mode with a 32-bit operand size pins EIP
        so the target lands in the code window; a 16-bit one lands in LOW anyway."""
        n = len(e.code) + size
        if pm and e.o32:
            lo, hi = CODE_LIN[0] + 1, CODE_LIN[1] - 16
            d = draw(st.integers(-128, 127) if size == 1 else st.integers(lo - hi, hi - lo - n))
            e.pin("eip", draw(st.integers(max(lo, lo - n - d), min(hi, hi - n - d))))
        elif size == 1:
            d = draw(st.integers(-128, 127))
        else:
            d = draw(st.integers(-0x8000, 0x7FFF))      # also rel32 in real mode: the limit
        e.imm(size, d)
        return d

    if form in ("jmp rel8", "jcc rel8", "loop", "jcxz"):
        if form == "jmp rel8":
            e.byte(0xEB)
        elif form == "jcc rel8":
            e.byte(0x70 + draw(st.integers(0, 15)))
        elif form == "loop":
            e.byte(draw(st.sampled_from((0xE0, 0xE1, 0xE2))))   # LOOPNE LOOPE LOOP
            # The count register follows the address size (SDM LOOP); 1 makes it stop.
            e.pin("ecx" if e.a32 else "cx", draw(st.sampled_from((0, 1, 2, 0xFFFF, 0x10000))))
        else:
            e.byte(0xE3)
            e.pin("ecx" if e.a32 else "cx", draw(st.sampled_from((0, 1, 0x10000, 0xFFFF0000))))
        e.branch = ("rel", displacement(1), mask, conditional)
    elif form in ("jmp rel", "jcc rel", "call rel"):
        if form == "call rel":
            e.stack(pushed=e.osize)
            e.byte(0xE8)
        elif form == "jmp rel":
            e.byte(0xE9)
        else:
            e.byte(0x0F, 0x80 + draw(st.integers(0, 15)))
        e.branch = ("rel", displacement(e.osize), mask, conditional)
    elif form in ("call E", "jmp E"):
        call = form == "call E"
        if call:
            sp = e.stack(pushed=e.osize)
        e.byte(0xFF)
        t = target()
        where = e.modrm(2 if call else 4, e.osize, value=t)
        if where[0] == "reg":
            name = _reg_name(where[1], e.osize)
            if call and where[1] == 4:
                t = sp & mask                    # CALL (E)SP: the target is the old SP
            else:
                e.pin(name, t)
        e.branch = ("abs", t, mask, False)
    else:
        imm = form == "ret imm"
        sp = e.stack(popped=e.osize)
        t = target()
        e.put("ss", sp, _le(t, e.osize))
        e.byte(0xC2 if imm else 0xC3)
        if imm:
            # RET imm16 releases an unsigned count of bytes (SDM RET: "ESP <- ESP +
            # SRC").  QEMU sign-extends it, which a 16-bit SP hides (it wraps) but a
            # 32-bit ESP shows, so protected mode keeps it below 8000h; the hand test
            # in test_unicorn_pm.py covers the rest.
            e.imm(2, draw(st.integers(0, 0x7FFF if pm else 0xFFFF)))
        e.branch = ("abs", t, mask, False)
    return e.finish(form)


# --- the 80486 additions ---------------------------------------------------------------

@st.composite
def i486(draw, mode=None):
    """BSWAP, XADD and CMPXCHG: the instructions the Intel486 added (#UD on a 386)."""
    e = _Enc(draw, "i486", mode=mode)
    kind = draw(st.sampled_from(("bswap", "xadd", "cmpxchg")))
    if kind == "bswap":
        r = draw(st.integers(0, 7))
        e.byte(0x0F, 0xC8 + r)
        if not e.o32:
            # SDM BSWAP: "When the BSWAP instruction references a 16-bit register, the
            # result is undefined."
            e.undefined.append((GPR32[r], 0xFFFFFFFF))
        return e.finish("bswap r")
    byte = draw(st.booleans())
    size = _sized(e, byte)
    if kind == "xadd":
        e.byte(0x0F, 0xC0 if byte else 0xC1)
        e.modrm(draw(st.integers(0, 7)), size)
        return e.finish("xadd E,G")              # flags as ADD: all defined
    # CMPXCHG: make "accumulator = destination" common, so both paths run.
    e.byte(0x0F, 0xB0 if byte else 0xB1)
    acc = _reg_name(0, size)
    e.reserve(acc)
    value = draw(st.integers(0, (1 << (8 * size)) - 1))
    where = e.modrm(draw(st.integers(0, 7)), size, value=value)
    if where[0] == "reg" and where[1] != 0:
        e.pin(_reg_name(where[1], size), value)
    if draw(st.booleans()):
        e.pin(acc, value if where[0] == "mem" or where[1] != 0 else draw(st.integers(0, 255)))
    return e.finish("cmpxchg E,G")               # flags as CMP: all defined


# --- page faults ------------------------------------------------------------------------

# Forms for the page-fault strategy: (opcode bytes, ModR/M reg field or None for "any",
# operand size or None for the operand-size default, access kind).  A read-modify-write
# reads first and writes back after, so a page it may read but not write faults on the
# write (SDM Vol. 3, "Page-fault error code": W/R is the access that faulted).
_PF_FORMS = (
    ((0x8A,), None, 1, "r"), ((0x8B,), None, None, "r"), ((0x3B,), None, None, "r"),
    ((0x0F, 0xB6), None, 1, "r"), ((0x0F, 0xB7), None, 2, "r"), ((0x85,), None, None, "r"),
    ((0x88,), None, 1, "w"), ((0x89,), None, None, "w"), ((0x0F, 0x94), 0, 1, "w"),
    ((0x00,), None, 1, "rw"), ((0x01,), None, None, "rw"), ((0xFF,), 0, None, "rw"),
    ((0xF7,), 2, None, "rw"), ((0x87,), None, None, "rw"), ((0xD1,), 4, None, "rw"),
)
# On a model with MMX (protected_mode(model="pentium2")): the 8-byte loads and stores and a
# 4-byte store.  The operand is read or checked whole before the MMX state changes, so a
# fault on either page restarts the instruction [SDM vol. 2 MOVQ/MOVD/PADDB, "#PF"].
# MM0-MM7 on both machines before a case of such a model: distinct non-zero bytes, so
# what a store writes shows against the drawn memory.
MMX_VALUES = tuple(0x0F1E2D3C4B5A6978 ^ (0x1111111111111111 * (i + 1)) for i in range(8))


def _has_mmx(mode):
    from core.models import get_model
    return get_model(mode.model).has_mmx


_PF_FORMS_MMX = (
    ((0x0F, 0x6F), None, 8, "r"), ((0x0F, 0xFC), None, 8, "r"), ((0x0F, 0x6E), None, 4, "r"),
    ((0x0F, 0x7F), None, 8, "w"), ((0x0F, 0x7E), None, 4, "w"),
)


@st.composite
def page_faults(draw, mode):
    """One access whose translation may fault: a load, a store or a read-modify-write
    of 1/2/4 bytes in the layout's fault window (or an ordinary page next to it), inside
    a page or straddling two; or an instruction whose own bytes run into such a page.
    Whether it faults, where (CR2) and with which error code follows from the SDM
    rules in `expected_page_fault`; the Insn records the access in `page_access`."""
    if not mode.protected:
        raise ValueError("page faults need protected mode")
    e = _Enc(draw, "pagefault", addrsize=False, mode=mode)   # 32-bit addresses
    if mode.cpl == 0:
        # Room for EFLAGS CS EIP and the error code, on a page the frame can be
        # written to even with CR0.WP = 1.
        pages = [p for p in range(HIGH_LIN[0], HIGH_LIN[1], PAGE) if pm_rights(p, 0)[1]]
        sp = draw(st.sampled_from(pages)) + draw(st.integers(16, PAGE))
        e.pin("esp", sp)
        e.touch("ss", sp - 16, 16)
    page, kind = draw(st.sampled_from(FAULT_PAGES))
    if draw(st.integers(0, 4)) == 0:
        # The fetch: an instruction that ends inside `page`, starting before it (or at
        # its start).  The bytes in a not-present page are simply not there.
        e.byte(0xB8 + draw(st.integers(0, 7)))
        e.imm(e.osize)
        n = len(e.code)
        start = page - draw(st.integers(0, n - 1))
        e.pin("eip", start)
        e.page_access = ((start, n, "x"),)
        return e.finish(f"fetch into {kind}")
    # On an MMX model half the accesses are MMX ones (their 8-byte operands straddle
    # pages in more ways).
    forms = _PF_FORMS_MMX if _has_mmx(mode) and draw(st.booleans()) else _PF_FORMS
    opcode, reg, size, access = draw(st.sampled_from(forms))
    if (opcode, reg, size, access) in _PF_FORMS_MMX and 0x66 in e.code:
        # 66 makes these SSE2 instructions on later CPUs (Unicorn's); on the Pentium II
        # it is reserved.  The sizes are fixed, so only the byte goes.
        e.code.remove(0x66)
        e.o32 = mode.code32
    size = size or e.osize
    e.byte(*opcode)
    # Inside the page, or straddling into it from the page below, or out of it into
    # the page above.
    how = draw(st.sampled_from(("in", "in", "from below", "into above"))) if size > 1 else "in"
    if how == "in":
        where = (page, page + PAGE)
    elif how == "from below":
        where = (page - size + 1, page + size - 1)
    else:
        where = (page + PAGE - size + 1, page + PAGE + size - 1)
    r = draw(st.integers(0, 7)) if reg is None else reg
    _, seg, lin = e.modrm(r, size, kind="mem", value=None, where=where)
    if opcode == (0xD1,):
        e.defined_flags = shift_defined_flags("shl", 8 * size, 1)
    elif opcode in ((0x85,),):
        e.defined_flags = _alu_flags("test")
    e.page_access = ((lin, size, access),)
    return e.finish(f"{access} {size} {how} {kind}")


def expected_page_fault(insn, mode):
    """(CR2, error code) of the #PF that `insn.page_access` must raise in `mode`, or None.

    The rules of SDM Vol. 3 ("Page-fault exceptions", "Access rights"): a not-present
    PDE or PTE faults with P = 0; a user access (CPL 3) to a page whose combined U/S is
    0 faults, and so does a user write, or a supervisor write with CR0.WP = 1 (80486), to
    a page whose combined R/W is 0, with P = 1.  W/R is the faulting access, U/S is
    CPL = 3.  Pages are checked in address order, and a read-modify-write reads before
    it writes; CR2 is the first byte of the access inside the faulting page.
    """
    user = mode.cpl == 3
    for lin, size, access in insn.page_access:
        first, last = lin & ~(PAGE - 1), (lin + size - 1) & ~(PAGE - 1)
        pages = [first] if first == last else [first, last]
        for write in {"r": (False,), "x": (False,), "w": (True,), "rw": (False, True)}[access]:
            for page in pages:
                present, writable, usr = pm_rights(page, mode.cpl)
                err = (2 if write else 0) | (4 if user else 0)
                if not present:
                    return max(lin, page), err
                if (user and not usr) or (write and not writable and (user or mode.wp)):
                    return max(lin, page), err | 1
    return None


FAMILIES = {"alu": alu, "shifts": shifts, "muldiv": muldiv, "bcd": bcd, "bitops": bitops,
            "strings": strings, "addressing": addressing, "misc": misc, "branches": branches}
# Families that need an 80486 (Mode(model="80486") or protected_mode(model="80486")).
FAMILIES_486 = {"i486": i486}


def any_instruction(mode=None):
    """Strategy drawing from every 386 family."""
    return st.one_of([f(mode=mode) for f in FAMILIES.values()])


# --- cases -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    """A drawn state, memory image and instruction, with the fix-ups applied.

    `state` is the register state to load (a dict for `cpu.set_state`, plus "cr2" in
    protected mode), `ivt0` the (segment, offset) stored in interrupt vector 0 (real
    mode; protected mode has a fixed IDT), `mode` where it runs.  `image()` gives
    physical RAM: in real mode below WINDOW_END, the background, the IVT entry, the
    operand fix-ups, then the code at CS:EIP; in protected mode all PM_RAM_SIZE bytes,
    the background and system structures, then fix-ups and code through the page tables.
    """
    state: dict
    memory: MemoryImage
    insn: Insn
    ivt0: tuple = None
    mode: Mode = REAL

    def linear(self, seg, off):
        """The linear address of seg:off (protected mode is flat: the offset)."""
        if self.mode.protected:
            return off & 0xFFFFFFFF
        return self.state[seg] * 16 + off

    def phys(self, lin):
        """Physical address of linear `lin` (None where the page is not present)."""
        return pm_translate(lin, self.mode.cpl) if self.mode.protected else lin

    @property
    def start(self):
        return self.linear("cs", self.state["eip"])

    def branch_target(self):
        """The EIP a taken branch goes to, or None for a non-branch."""
        if not self.insn.branch:
            return None
        how, value, mask, _ = self.insn.branch
        if how == "rel":
            value += self.state["eip"] + len(self.insn.code)
        return value & mask

    def exits(self):
        """Linear addresses where the oracle stops: after the instruction, and at a
        branch's target (only there for an unconditional branch)."""
        target = self.branch_target()
        out = []
        if target is None or self.insn.branch[3]:
            out.append(self.start + len(self.insn.code))
        if target is not None and self.linear("cs", target) not in out:
            out.append(self.linear("cs", target))
        return out

    def patches(self):
        """(physical address, bytes) written over the background, in order.  In
        protected mode a patch is split at page boundaries; bytes in a page that is
        not present are dropped."""
        if not self.mode.protected:
            out = [(0, _le(self.ivt0[1], 2) + _le(self.ivt0[0], 2))]
            out += [(self.linear(s, off), data) for s, off, data in self.insn.mem]
            out.append((self.start, self.insn.code))
            return out
        out = []
        for lin, data in [(self.linear(s, off), d) for s, off, d in self.insn.mem] + \
                [(self.start, self.insn.code)]:
            i = 0
            while i < len(data):
                n = min(len(data) - i, PAGE - ((lin + i) & (PAGE - 1)))
                p = self.phys(lin + i)
                if p is not None:
                    out.append((p, data[i:i + n]))
                i += n
        return out

    def image(self):
        if self.mode.protected:
            img = bytearray(_pm_base_image(self.memory.seed, self.mode.cpl))
        else:
            img = bytearray(self.memory.bytes())
        for addr, data in self.patches():
            img[addr:addr + len(data)] = data
        return bytes(img)

    def undefined_bytes(self):
        """Physical addresses whose final contents the SDM leaves undefined."""
        if self.mode.protected:
            return {self.phys(self.linear(s, off) + i)
                    for s, off, n in self.insn.undefined_mem for i in range(n)}
        return {self.state[s] * 16 + ((off + i) & 0xFFFF)
                for s, off, n in self.insn.undefined_mem for i in range(n)}

    def describe(self):
        s = self.state
        code = (f"code   {self.insn.code.hex(' ')}   ; {disassemble(self.insn.code, self.insn.bits)}"
                f"   [{self.insn.family}/{self.insn.name}]")
        regs = "regs   " + " ".join(f"{r}={s[r]:08x}" for r in GPR32)
        if self.mode.protected:
            m = self.mode
            lines = [code, regs,
                     f"       eflags={s['eflags']:08x} eip={s['eip']:08x} cr2={s['cr2']:08x} "
                     + " ".join(f"{r}={s[r]:04x}" for r in SEGS),
                     f"mode   protected, paging, CPL {m.cpl}, {m.model}, CR0={m.cr0:08x}"
                     f" (strategies.py layout); eip -> phys {self.phys(s['eip']) or 0:05x}",
                     f"mem    background seed {self.memory.seed}"]
            for seg, off, data in self.insn.mem:
                p = self.phys(self.linear(seg, off))
                lines.append(f"       {seg}:{off:08x} (phys {p if p is not None else 0:05x})"
                             f" = {data.hex(' ')}")
            return "\n".join(lines)
        lines = [code, regs,
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
def cases(draw, instructions, states=None, memories=None, mode=None):
    """Strategy for a `Case` running one instruction drawn from `instructions` in
    `mode` (real mode by default).  The instruction strategy must be built for the
    same mode: `cases(alu(mode=m), mode=m)`."""
    mode = mode or REAL
    # The instruction is drawn first: Hypothesis explores early choices more evenly.
    insn = draw(instructions)
    if insn.bits != mode.bits:
        raise ValueError(f"{insn!r} was drawn for {insn.bits}-bit code, the mode is {mode.bits}-bit")
    default_states = pm_states(mode) if mode.protected else cpu_states()
    state = draw(states if states is not None else default_states)
    memory = draw(memories if memories is not None else memory_images())
    ivt0 = None
    if not mode.protected:
        ivt0 = (draw(st.integers(*CODE_SELECTORS)), draw(st.integers(0, 0xFFFF)))
    state = apply_fixups(state, insn)
    case = Case(state=state, memory=memory, insn=insn, ivt0=ivt0, mode=mode)
    if not mode.protected:
        # A CS-relative operand fix-up must not overwrite the instruction itself.
        lo, hi = state["eip"], state["eip"] + len(insn.code)
        for seg, off, data in insn.mem:
            if seg == "cs":
                assume(off + len(data) <= lo or off >= hi)
        # A branch beyond CS's limit is #GP on a 386 and unchecked in QEMU.
        assume(case.branch_target() is None or case.branch_target() <= 0xFFFF)
    target = case.branch_target()
    if target is not None:
        # A branch to itself would leave the oracle nothing to run before it stops.
        assume(case.linear("cs", target) != case.start)
        if mode.protected:
            # Unicorn reads the byte before a stop address (see `_emulate`).
            assume(case.phys(target) is not None and case.phys((target - 1) & 0xFFFFFFFF) is not None)
    return case


# --- running ---------------------------------------------------------------------------

@dataclass
class Outcome:
    """Registers (the mode's state keys), physical RAM (below WINDOW_END in real mode,
    all of it in protected mode), and the exception vector the oracle saw (None for
    cycle86, which delivers it like hardware).  `caches` holds cycle86's segment
    descriptor caches in protected mode; `dont_care` maps physical addresses to bits the
    comparison skips for this outcome (see `run_unicorn`)."""
    regs: dict
    memory: bytes
    exception: int | None = None
    accessed: set = field(default_factory=set)
    caches: dict = None
    dont_care: dict = field(default_factory=dict)


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


def _u32(mem, addr):
    return int.from_bytes(mem[addr:addr + 4], "little")


def pm_walk(mem, lin, write, wp):
    """Translate `lin` for a supervisor access through the page tables in `mem` (a
    bytearray of physical RAM), setting accessed and dirty bits as the CPU does (SDM
    Vol. 3, "Accessed and dirty flags").  Raises ValueError where the CPU would fault:
    the exception delivery below never expects to."""
    pde_at = PD_PHYS + 4 * (lin >> 22)
    pde = _u32(mem, pde_at)
    if not pde & PTE_P:
        raise ValueError(f"delivery: PDE for {lin:08x} not present")
    pte_at = (pde & ~0xFFF) + 4 * ((lin >> 12) & 0x3FF)
    pte = _u32(mem, pte_at)
    if not pte & PTE_P:
        raise ValueError(f"delivery: PTE for {lin:08x} not present")
    if write and wp and not (pde & pte & PTE_RW):
        raise ValueError(f"delivery: {lin:08x} is read-only with CR0.WP = 1")
    mem[pde_at:pde_at + 4] = (pde | PTE_A).to_bytes(4, "little")
    mem[pte_at:pte_at + 4] = (pte | PTE_A | (PTE_D if write else 0)).to_bytes(4, "little")
    return (pte & ~0xFFF) | (lin & 0xFFF)


def deliver_protected_mode(regs, mem, vector, eip, err, mode):
    """Protected-mode exception delivery through the layout's IDT (SDM Vol. 3, 6.12.1):
    a 32-bit interrupt gate to ring 0.  From CPL 3 the stack switches to SS0:ESP0 from
    the TSS and the old SS and ESP are pushed first; then EFLAGS, CS, EIP (the faulting
    instruction's) and the error code if `err` is not None.  TF, NT, RF, VM and IF are
    cleared (an interrupt gate).  `mem` is physical RAM, written through the page
    tables."""
    def push(value):
        nonlocal sp
        sp = (sp - 4) & 0xFFFFFFFF
        for i, b in enumerate(_le(value, 4)):
            mem[pm_walk(mem, sp + i, True, mode.wp)] = b

    gate = SYS_PHYS + (IDT_LIN - SYS_LIN) + 8 * vector
    lo, hi = _u32(mem, gate), _u32(mem, gate + 4)
    frame = [regs["eflags"], regs["cs"], eip]
    if regs["cs"] & 3:
        tss = SYS_PHYS + (TSS_LIN - SYS_LIN)
        sp, ss = _u32(mem, tss + 4), _u32(mem, tss + 8) & 0xFFFF
        frame = [regs["ss"], regs["esp"]] + frame
        regs["ss"] = ss
    else:
        sp = regs["esp"]
    for value in frame + ([err] if err is not None else []):
        push(value)
    regs["esp"] = sp
    regs["cs"] = lo >> 16
    regs["eip"] = (hi & 0xFFFF0000) | (lo & 0xFFFF)
    regs["eflags"] &= ~(TF | NT | IF | 0x30000)


# Exceptions that push an error code (SDM Vol. 3, Table 6-1).
ERROR_CODE_VECTORS = {8, 10, 11, 12, 13, 14, 17}


def _emulate(uc, case):
    """Run one instruction: stop at the fall-through address or a branch target.

    One stop address goes to emu_start's `until`, which Unicorn checks before it looks
    the address up; several (a conditional branch) use the exits list, which it checks
    while translating, after walking the page tables for the address.  Either way it
    reads the byte *before* the stop address (a page walk, and #PF where that page is
    absent).  An `until` of 0 means "no stop address" to Unicorn."""
    exits = case.exits()
    if len(exits) == 1 and exits[0] != 0:
        uc.emu_start(case.start, exits[0])
    else:
        uc.ctl_exits_enabled(True)
        uc.ctl_set_exits(exits)
        uc.emu_start(case.start, 0)


def run_unicorn(case, trace=False):
    """Execute `case` in Unicorn (the oracle) and return its Outcome.

    Unicorn's UC_MODE_16 is real mode: writing a segment register loads base =
    selector * 16, and emu_start's address is linear (IP = address - CS*16).  A CPU
    exception stops emulation through UC_HOOK_INTR with EIP at the faulting instruction;
    Unicorn does not deliver it, so `deliver_real_mode` does, as a 286+ does for a fault
    (the pushed IP is the faulting instruction's, prefixes included).
    `trace=True` records the physical addresses the instruction read or wrote (Unicorn
    reports them after translation when paging is on).  Protected mode: see
    `_unicorn_pm`.
    """
    if case.mode.protected:
        return _unicorn_pm(case, trace)
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
    _emulate(uc, case)
    regs = {r: uc.reg_read(ids[r]) for r in STATE_KEYS}
    exc = seen[0] if seen else None
    if exc is not None:
        # A fault leaves the machine as it was before the instruction.
        for r in STATE_KEYS:
            regs[r] = case.state[r]
        deliver_real_mode(regs, uc.mem_write, uc.mem_read, exc, case.state["eip"])
    return Outcome(regs=regs, memory=bytes(uc.mem_read(0, WINDOW_END)), exception=exc,
                   accessed=accessed)


def _unicorn_pm(case, trace):
    """Unicorn in UC_MODE_32 with the layout loaded: GDTR and IDTR, CR3, then CR0 with
    PG; segment registers written after that load their descriptors from the GDT
    through the page tables, as MOV would.

    Ring 3: QEMU takes the CPL from SS's DPL, and a ring-0 CPU cannot load a ring-3 SS,
    so the setup runs an IRETD (IRET_STUB_LIN, frame at IRET_FRAME_LIN) into ring 3
    first, stopping at RING3_STOP_LIN without running anything there; then the case's
    registers are written.  (Stopping at an address reads the byte before it, so that
    byte lies in a user page, pre-accessed like the rest of the system area.)

    Unicorn never delivers an exception.  For one it reports, the registers go back to
    their state before the instruction (CR2 keeps what the #PF wrote) and
    `deliver_protected_mode` pushes the frame.  Unicorn cannot report an error code:
    #PF uses the SDM rules of `expected_page_fault` for the page CR2 names, every other
    vector that has one uses 0 (the only such faults the strategies provoke are #GP(0)
    at CPL 3).  Each case gets a fresh Unicorn: QEMU remembers an undelivered exception
    and would turn the next one into #DF.
    """
    from unicorn import UC_ARCH_X86, UC_HOOK_INTR, UC_HOOK_MEM_READ, UC_HOOK_MEM_WRITE, \
        UC_MODE_32, Uc
    from unicorn import x86_const as X

    mode, state = case.mode, case.state
    uc = Uc(UC_ARCH_X86, UC_MODE_32)
    uc.mem_map(0, PM_RAM_SIZE)
    uc.mem_write(0, case.image())
    uc.reg_write(X.UC_X86_REG_GDTR, (0, GDT_LIN, GDT_LIMIT, 0))
    uc.reg_write(X.UC_X86_REG_IDTR, (0, IDT_LIN, IDT_LIMIT, 0))
    uc.reg_write(X.UC_X86_REG_CR3, PD_PHYS)
    uc.reg_write(X.UC_X86_REG_CR0, mode.cr0)
    ids = {r: getattr(X, "UC_X86_REG_" + r.upper()) for r in mode.state_keys}
    if mode.cpl == 3:
        # Unicorn's initial selectors are 0; its IRETD wants real ring-0 ones.
        for r, sel in (("cs", 0x08), ("ss", 0x10), ("ds", 0x10), ("es", 0x10)):
            uc.reg_write(ids[r], sel)
        uc.reg_write(X.UC_X86_REG_ESP, IRET_FRAME_LIN)
        uc.emu_start(IRET_STUB_LIN, RING3_STOP_LIN)
    else:
        uc.reg_write(ids["cs"], state["cs"])
    for r in ("ss", "ds", "es", "fs", "gs") + GPR32 + ("eflags", "cr2"):
        uc.reg_write(ids[r], state[r])
    if _has_mmx(mode):
        # Unicorn's UC_X86_REG_MMn are no-ops in 32-bit mode; the x87 registers (TOP is
        # 0) carry the same bits, with the all-ones exponent MMX writes.
        for i, v in enumerate(MMX_VALUES):
            uc.reg_write(getattr(X, "UC_X86_REG_FP%d" % i), (v, 0xFFFF))
    seen = []
    uc.hook_add(UC_HOOK_INTR, lambda u, n, _: (seen.append(n), u.emu_stop()))
    accessed = set()
    if trace:
        # The hook reports a physical address and the access's length; an access that
        # straddles two pages continues in another frame, so only its first page counts.
        uc.hook_add(UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE,
                    lambda u, acc, addr, size, val, _: accessed.update(
                        range(addr, min(addr + size, (addr | (PAGE - 1)) + 1))))
    _emulate(uc, case)
    regs = {r: uc.reg_read(ids[r]) for r in mode.state_keys}
    mem = bytearray(uc.mem_read(0, PM_RAM_SIZE))
    exc = seen[0] if seen else None
    dont_care = {}
    def skip(lin, bits):
        pde, pte = pm_entries(lin & 0xFFFFFFFF)
        dont_care[pde] = dont_care.get(pde, 0) | (bits & PTE_A)
        if pte is not None:
            dont_care[pte] = dont_care.get(pte, 0) | bits

    if case.insn.branch and exc is None:
        # Unicorn walked the pages of the stop addresses (for an exits list, all of
        # them, taken or not) and of the bytes before them (see `_emulate`); the CPU
        # walks the target's page when it fetches from there, after this instruction.
        for lin in {x + d for x in case.exits() for d in (0, -1)}:
            skip(lin, PTE_A)
    for seg, off, n in case.insn.undefined_dirty:
        for lin in (case.linear(seg, off), case.linear(seg, off + n - 1)):
            skip(lin, PTE_D)
    if exc is not None:
        cr2 = regs["cr2"]
        regs = {r: state[r] for r in mode.state_keys}
        err = 0 if exc in ERROR_CODE_VECTORS else None
        if exc == 14:
            rule = expected_page_fault(case.insn, mode)
            if rule is not None and any(k == "x" for _, _, k in case.insn.page_access):
                # A faulting fetch: Unicorn read the instruction's last byte first (the
                # byte before its stop address, see `_emulate`), so its CR2 names that
                # byte and its walk marked that page accessed.  CR2 comes from the rule.
                cr2 = rule[0]
                skip(case.start + len(case.insn.code) - 1, PTE_A)
            regs["cr2"] = cr2
            err = rule[1] if rule is not None and rule[0] == cr2 else 0xFFFFFFFF
            # QEMU sets the PDE's accessed bit before it looks at the PTE; the SDM says
            # a CPU sets it when it "uses" the entry, and the 80386 manual is silent on
            # faulting walks, so that bit is not compared.
            dont_care[PD_PHYS + 4 * (cr2 >> 22)] = PTE_A
        deliver_protected_mode(regs, mem, exc, state["eip"], err, mode)
    return Outcome(regs=regs, memory=bytes(mem), exception=exc, accessed=accessed,
                   dont_care=dont_care)


_machines = {}


def _machine_for(model, memory):
    """One reusable cycle86 machine per (model, RAM size), reset before each case."""
    m = _machines.get((model, memory))
    if m is None:
        from core.machine import Machine
        m = _machines[(model, memory)] = Machine(cpu=model, memory=memory)
    m.reset()
    return m


def prepare_cycle86(case, machine=None):
    """A cycle86 machine loaded with `case`, ready to step: RAM, registers, and in
    protected mode GDTR, IDTR, CR3, CR0, CR2, TR and every descriptor cache (from the
    layout's GDT), written directly.  Real mode loads the segment registers the
    real-mode way.  Reuses one machine per model and RAM size per process (reset
    first) unless `machine` is given."""
    mode = case.mode
    if machine is None:
        machine = _machine_for(mode.model, PM_RAM_SIZE if mode.protected else RAM_SIZE)
    cpu = machine.cpu
    machine.mem.write(0, case.image())
    if mode.protected:
        cpu.gdtr = (GDT_LIN, GDT_LIMIT)
        cpu.idtr = (IDT_LIN, IDT_LIMIT)
        cpu.cr3 = PD_PHYS
        cpu.cr0 = mode.cr0
        cpu.cr2 = case.state["cr2"]
        cpu.set_segment("tr", TSS_SEL, *descriptor_cache(TSS_SEL))
        for s in SEGS:                          # CS first: it sets the CPL
            cpu.set_segment(s, case.state[s], *descriptor_cache(case.state[s]))
    else:
        for s in SEGS:
            setattr(cpu, s, case.state[s])      # the real-mode load: base = selector * 16
    for r in GPR32 + ("eip", "eflags"):
        setattr(cpu, r, case.state[r])
    if _has_mmx(mode):
        from core import mmx
        for i, v in enumerate(MMX_VALUES):
            mmx.set_register(cpu.fpu, i, v)
    cpu.halted = False
    return machine


def run_cycle86(case, machine=None):
    """Execute `case` with one `Machine.step()` on cycle86 and return its Outcome
    (see `prepare_cycle86` for the setup)."""
    mode = case.mode
    machine = prepare_cycle86(case, machine)
    cpu = machine.cpu
    machine.step()
    regs = {r: getattr(cpu, r) for r in mode.state_keys}
    if mode.protected:
        caches = {s: tuple(cpu.get_segment(s)) for s in SEGS}
        return Outcome(regs=regs, memory=bytes(machine.mem.read(0, PM_RAM_SIZE)),
                       caches=caches)
    return Outcome(regs=regs, memory=bytes(machine.mem.read(0, WINDOW_END)))


def _flag_names(bits):
    names = [n.rstrip("_").upper() for n, b in FLAG_BITS.items() if bits & b]
    names += ["IOPL"] if bits & IOPL else []
    names += ["NT"] if bits & NT else []
    other = bits & ~(sum(FLAG_BITS.values()) | IOPL | NT)
    names += [f"{other:#x}"] if other else []
    return "+".join(names)


def _where(case, phys):
    """A name for a physical address in the protected-mode layout, for reports."""
    if not case.mode.protected:
        return ""
    if PD_PHYS <= phys < PD_PHYS + PAGE:
        return f" (PDE {(phys - PD_PHYS) >> 2:#x})"
    for pdi, table in _PT_PHYS.items():
        if table <= phys < table + PAGE:
            lin = (pdi << 22) | (((phys - table) >> 2) << 12)
            return f" (PTE of {lin:08x})"
    gdt = SYS_PHYS + GDT_LIN - SYS_LIN
    if gdt <= phys < gdt + GDT_LIMIT + 1:
        return f" (GDT entry {(phys - gdt) & ~7:#x})"
    for lin, (frame, _, _) in _pm_map(case.mode.cpl).items():
        if frame is not None and frame <= phys < frame + PAGE and not SYS_LIN <= lin < SYS_LIN + 0x10000:
            return f" (linear {lin | (phys & 0xFFF):08x})"
    return ""


def compare(case, expected, actual):
    """List the differences between the oracle's and cycle86's outcomes, as text.

    Registers compare in full except bits `case.insn.undefined` marks; EFLAGS compares
    every bit except the status flags the SDM leaves undefined for this instance (all of
    them when the instruction faulted: a fault restores the state before it).  In
    protected mode CR2 is compared too, and each of cycle86's segment descriptor caches
    must hold what its selector's descriptor says (Unicorn cannot show its caches).
    """
    diffs = []
    undefined = {}
    for reg, mask in case.insn.undefined:
        undefined[reg] = undefined.get(reg, 0) | mask
    fault = expected.exception is not None
    if not fault:
        undefined["eflags"] = STATUS & ~case.insn.defined_flags
    for r in case.mode.state_keys:
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
        care = expected.dont_care
        em, am = expected.memory, actual.memory
        bad = [i for page in range(0, len(em), PAGE) if em[page:page + PAGE] != am[page:page + PAGE]
               for i in range(page, page + PAGE)
               if em[i] != am[i] and i not in skip and (em[i] ^ am[i]) & ~care.get(i, 0)]
        for i in bad[:16]:
            diffs.append(f"mem {i:05x}: expected {expected.memory[i]:02x} "
                         f"got {actual.memory[i]:02x}{_where(case, i & ~3)}")
        if len(bad) > 16:
            diffs.append(f"... {len(bad) - 16} more differing bytes")
    if actual.caches is not None:
        for s in SEGS:
            sel = actual.regs[s]
            if sel & ~3 == 0:
                continue                        # null: nothing to load, any access faults
            want = (sel,) + descriptor_cache(sel)
            if actual.caches[s] != want:
                diffs.append(f"{s} cache: expected {_cache_text(want)} "
                             f"got {_cache_text(actual.caches[s])}")
    return diffs


def _cache_text(c):
    return f"sel={c[0]:04x} base={c[1]:08x} limit={c[2]:08x} access={c[3]:06x}"


def report(case, expected, actual, diffs):
    """A reproducer: the case, what the oracle did, the differences."""
    lines = [case.describe()]
    if expected.exception is not None:
        how = "the IDT" if case.mode.protected else "the IVT"
        lines.append(f"oracle raised vector {expected.exception} (delivered through {how})")
    if expected.accessed:
        img = case.image()
        touched = sorted(a for a in expected.accessed if a < len(img))
        lines.append("oracle touched (physical) "
                     + " ".join(f"{a:05x}={img[a]:02x}" for a in touched[:24]))
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


_PREFIXES = bytes([0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x66, 0x67, 0xF2, 0xF3])


def signature(case, diffs):
    """A coarse key for a mismatch: the instruction form, its operand size, and which
    kinds of state differ (gpr, flags, mem, eip, segment), so one bug seen through many
    examples counts once."""
    what = set()
    for d in diffs:
        head = d.split(":")[0].split(" ")[0]
        if head in GPR32:
            what.add("gpr")
        elif head in ("eflags", "mem", "...", "eip", "cr2"):
            what.add({"...": "mem", "eflags": "flags"}.get(head, head))
        else:
            what.add("segment")
    code = case.insn.code
    prefixes = set(code[:len(code) - len(code.lstrip(_PREFIXES))])
    width = "o32" if (0x66 in prefixes) != case.mode.code32 else "o16"
    return (case.insn.family, case.insn.name.split(" (")[0].split(" x")[0], width,
            tuple(sorted(what)))


def simplify(case, keep):
    """Greedily simplify `case` while `keep(case)` stays true: zero the registers the
    instruction does not pin, use the lowest selectors (real mode) or the first code
    address (protected mode), clear EFLAGS bits, a zero background.  Pinned registers
    keep their values, so memory operands stay where the strategy put them and the
    case stays one Unicorn models correctly."""
    pinned = {reg_slot(n)[0] for n, _ in case.insn.regs}
    if case.mode.protected:
        simple = {r: 0 for r in GPR32 + ("cr2",) if r not in pinned and r != "esp"}
        if "eip" not in pinned:
            simple["eip"] = CODE_LIN[0]
    else:
        simple = {r: 0 for r in GPR32 if r not in pinned}
        simple.update({s_: DATA_SELECTORS[0] for s_ in DATA_SEGS}, cs=CODE_SELECTORS[0], eip=0)

    def with_state(c, **changes):
        return Case(state={**c.state, **changes}, memory=c.memory, insn=c.insn,
                    ivt0=c.ivt0, mode=c.mode)

    for r, v in simple.items():
        if case.state[r] != v:
            trial = with_state(case, **{r: v})
            if _valid(trial) and keep(trial):
                case = trial
    for bit in range(32):
        f = case.state["eflags"]
        if f & (1 << bit) and bit != 1 and "eflags" not in pinned:
            trial = with_state(case, eflags=f & ~(1 << bit))
            if keep(trial):
                case = trial
    for seed in (0, 0xFF):
        trial = Case(state=case.state, memory=MemoryImage(seed), insn=case.insn,
                     ivt0=case.ivt0, mode=case.mode)
        if keep(trial):
            return trial
    return case


def _valid(case):
    # Simplifying must not move a CS-relative fix-up onto the instruction bytes, nor a
    # real-mode branch target past CS's limit.
    if case.mode.protected:
        return True
    lo, hi = case.state["eip"], case.state["eip"] + len(case.insn.code)
    target = case.branch_target()
    return (all(off + len(d) <= lo or off >= hi for seg, off, d in case.insn.mem if seg == "cs")
            and (target is None or target <= 0xFFFF))


def survey(instructions, examples=2000, shrink=True, machine=None, mode=None):
    """Run many cases and group every mismatch by `signature`, instead of stopping at the
    first one as a property test does.  Returns {signature: report text}; with `shrink`
    each report comes from the first case of its group after `simplify`.

        from core import strategies as S
        for sig, text in S.survey(S.shifts(), 3000).items():
            print(sig); print(text)

        pm = S.protected_mode(cpl=3)
        S.survey(S.strings(mode=pm), 1000, mode=pm)
    """
    from hypothesis import HealthCheck, given, settings

    found = {}

    def outcome(case):
        expected = run_unicorn(case)
        actual = run_cycle86(case, machine)
        return expected, actual, compare(case, expected, actual)

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(cases(instructions, mode=mode))
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
