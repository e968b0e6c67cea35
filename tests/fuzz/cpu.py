"""Random guest code on every CPU model, in every mode the model has.

A case draws a model, a mode and a machine, lays out random system tables in RAM and
runs the CPU on random code for a budget of cycles.  The tables are built from the
SDM's formats (vol. 3 "Segment Descriptors", "Gate Descriptors", "Task-State Segment",
"Paging") with random fields, and then some entries are replaced by raw random bytes,
so that the CPU meets both nearly-right and nonsensical system state:

    0x00000  real-mode IVT (vectors into the code area)
    0x01000  GDT: 0 null, 1 ring-0 code, 2 ring-0 data, 3 ring-0 stack, 4 TSS, 5 LDT,
             6 ring-3 code, 7 ring-3 data, 8-255 random descriptors and gates
    0x02000  IDT: 256 random gates (interrupt, trap, task), mostly into the code area
    0x03000  the TSS (32-bit, or 16-bit for 16-bit protected mode), then its I/O map
    0x05000  the LDT: random descriptors
    0x10000  paging structures (32-bit: PD + PTs; PAE: PDPT, PDs, PTs)
    0x20000  code and data: random bytes, random valid encodings (core/strategies), or both

Modes: real, pm16 (80286+), pm32, v86 and paging (80386+), each with CPL 0 or 3 where
it makes sense, random CR4 bits the model has (VME, PVI, PSE, PAE, PGE, TSD, DE).
When the guest halts for good or shuts down (a triple fault) the case starts another
episode with a fresh layout until the budget is spent: both are guest events.
"""
import random

from core.machine import Machine
from core.models import MODELS, ISA_286, ISA_386

from tests.fuzz import DATA_LOSS, GUEST_FAULT, OK

GDT, IDT, TSS, LDT, PAGING, CODE = 0x1000, 0x2000, 0x3000, 0x5000, 0x10000, 0x20000
CODE_END = 0x90000
CASE_CYCLES = 2_000_000          # a case's budget
EPISODE_CYCLES = 500_000         # at most this much before a new layout

# Selectors of the fixed GDT entries.
SEL_CODE0, SEL_DATA0, SEL_STACK0, SEL_TSS, SEL_LDT = 0x08, 0x10, 0x18, 0x20, 0x28
SEL_CODE3, SEL_DATA3 = 0x33, 0x3B


def modes_of(model):
    """The modes a model has."""
    m = MODELS[model]
    out = ["real"]
    if m.isa >= ISA_286:
        out.append("pm16")
    if m.isa >= ISA_386:
        out += ["pm32", "v86", "paging"]
    return out


def memory_of(model):
    m = MODELS[model]
    return 1 << 20 if m.address_bits <= 20 else (2 << 20 if m.address_bits <= 24 else 4 << 20)


# ---------------------------------------------------------------- descriptors

def descriptor(base, limit, access, flags=0):
    """8 bytes of a segment descriptor: `access` the type/S/DPL/P byte, `flags` the
    G/D/AVL nibble (the 286 format has it 0)."""
    lo = (limit & 0xFFFF) | ((base & 0xFFFF) << 16)
    hi = (((base >> 16) & 0xFF) | (access << 8) | (limit & 0xF0000)
          | ((flags & 0xF) << 20) | (base & 0xFF000000))
    return lo.to_bytes(4, "little") + hi.to_bytes(4, "little")


def gate(selector, offset, gtype, dpl=0, present=True):
    lo = (offset & 0xFFFF) | (selector << 16)
    hi = (offset & 0xFFFF0000) | (((0x80 if present else 0) | (dpl << 5) | gtype) << 8)
    return lo.to_bytes(4, "little") + hi.to_bytes(4, "little")


def cache_access(access, flags=0):
    """The descriptor cache's access field: the descriptor's high dword bits 8-23."""
    return (access << 8) | ((flags & 0xF) << 20)


class Layout:
    """Random system tables for one episode (see the module docstring)."""

    def __init__(self, rng, model, mode, memory):
        self.rng, self.model, self.mode, self.memory = rng, MODELS[model], mode, memory
        self.bits32 = mode in ("pm32", "v86", "paging")
        self.is286 = self.model.isa < ISA_386

    def code_offset(self):
        return self.rng.randrange(CODE, CODE_END - 16)

    def random_descriptor(self):
        rng = self.rng
        if rng.random() < 0.3:
            return rng.randbytes(8)
        base = rng.choice((0, CODE, rng.randrange(0, 1 << 32), self.memory - 0x1000))
        limit = rng.choice((0xFFFF, 0xFFFFF, 0, rng.randrange(1 << 20)))
        access = rng.randrange(256) | (0x80 if rng.random() < 0.8 else 0)
        flags = 0 if self.is286 else rng.randrange(16)
        if rng.random() < 0.3:        # a call or task gate among the segments
            gtype = rng.choice((4, 5, 12) if not self.is286 else (4, 5))
            return gate(rng.choice((SEL_CODE0, SEL_CODE3, SEL_TSS, rng.randrange(1 << 16))),
                        self.code_offset(), gtype, rng.randrange(4))
        return descriptor(base & (0xFFFFFF if self.is286 else 0xFFFFFFFF), limit, access, flags)

    def write(self, mem):
        rng = self.rng
        d32 = 0xC if self.bits32 else 0
        mem.write(0, rng.randbytes(CODE))     # whatever is not a table is noise
        # Real-mode IVT: vectors into the code area.
        ivt = bytearray()
        for _ in range(256):
            off = self.code_offset()
            ivt += ((off & 0xF) | (rng.randrange(16) << 4)).to_bytes(2, "little")
            ivt += (off >> 4).to_bytes(2, "little")
        if rng.random() < 0.9:
            mem.write(0, bytes(ivt))
        gdt = bytearray(8)
        lim = 0xFFFFF if d32 else 0xFFFF
        gdt += descriptor(0, lim, 0x9B, d32)                  # 1 ring-0 code
        gdt += descriptor(0, lim, 0x93, d32)                  # 2 ring-0 data
        gdt += descriptor(0, lim, 0x93, d32)                  # 3 ring-0 stack
        tss_type = 0x89 if not (self.is286 or self.mode == "pm16") else 0x81
        gdt += descriptor(TSS, rng.choice((0x67, 0x2067, 0x2B, rng.randrange(0x3000))),
                          tss_type | (rng.random() < 0.1 and 2), 0)   # 4 TSS (maybe busy)
        gdt += descriptor(LDT, rng.choice((0x7FF, rng.randrange(0x800))), 0x82, 0)  # 5 LDT
        gdt += descriptor(0, lim, 0xFB, d32)                  # 6 ring-3 code
        gdt += descriptor(0, lim, 0xF3, d32)                  # 7 ring-3 data
        for _ in range(8, 256):
            gdt += self.random_descriptor()
        for i in range(1, 8):                  # now and then a fixed entry goes wrong too
            if rng.random() < 0.03:
                gdt[i * 8:i * 8 + 8] = rng.randbytes(8)
        mem.write(GDT, bytes(gdt))
        mem.write(LDT, b"".join(self.random_descriptor() for _ in range(256)))
        idt = bytearray()
        for _ in range(256):
            r = rng.random()
            if r < 0.05:
                idt += rng.randbytes(8)
                continue
            if r < 0.1:
                gtype = 5                      # task gate
            elif self.is286 or self.mode == "pm16":
                gtype = rng.choice((6, 7, 6, 7, 14, 15))
            else:
                gtype = rng.choice((14, 15, 14, 15, 6, 7))
            sel = rng.choice((SEL_CODE0, SEL_CODE0, SEL_CODE0, SEL_CODE3, SEL_TSS,
                              rng.randrange(1 << 16)))
            idt += gate(sel, self.code_offset(), gtype, rng.randrange(4), rng.random() < 0.95)
        mem.write(IDT, bytes(idt))
        mem.write(TSS, self.tss())

    def tss(self):
        rng = self.rng
        t = bytearray(rng.randbytes(0x2000 + 0x68))
        if self.is286 or self.mode == "pm16":
            # 16-bit TSS: SP0 at 2, SS0 at 4 [286PRM 8.2].
            t[2:4] = rng.randrange(0x8000, 0xFFF0).to_bytes(2, "little")
            t[4:6] = SEL_STACK0.to_bytes(2, "little")
            return bytes(t)
        t[4:8] = rng.randrange(0x80000, 0x8FFF0).to_bytes(4, "little")      # ESP0
        t[8:10] = SEL_STACK0.to_bytes(2, "little")                          # SS0
        t[0x66:0x68] = rng.choice((0x68, 0x88, 0xFFFF, rng.randrange(0x3000))).to_bytes(
            2, "little")                                                    # I/O map base
        return bytes(t)

    def paging(self, mem):
        """Random page tables at PAGING; returns (CR3, CR4 bits to add)."""
        rng, m = self.rng, self.model
        cr4 = 0
        if m.has_pse and rng.random() < 0.5:
            cr4 |= 0x10
        if m.has_pge and rng.random() < 0.5:
            cr4 |= 0x80
        if m.has_pae and rng.random() < 0.5:
            cr4 |= 0x20
            return self.pae(mem), cr4

        def flags():
            return rng.choice((0x7,) * 12 + (0x5, 0x3, 0x1, 0x0, 0x107, 0x67)) \
                | (rng.randrange(1 << 12) & ~0x80 if rng.random() < 0.05 else 0)
        pd = bytearray()
        for i in range(1024):
            if i == 0:
                pd += (PAGING + 0x1000 | flags() | 1).to_bytes(4, "little")
            elif rng.random() < 0.05:
                pd += ((rng.randrange(1 << 10) << 22) | 0x80 | flags()).to_bytes(4, "little")
            elif rng.random() < 0.05:
                pd += rng.randbytes(4)
            else:
                pd += bytes(4)
        pt = bytearray()
        for i in range(1024):
            frame = i if rng.random() < 0.97 else rng.randrange(1 << 20)
            pt += ((frame << 12) | flags()).to_bytes(4, "little")
        mem.write(PAGING, bytes(pd))
        mem.write(PAGING + 0x1000, bytes(pt))
        return PAGING, cr4

    def pae(self, mem):
        rng = self.rng
        # PDPT at PAGING (32-byte aligned), PD 0 at +0x1000, its PT 0 at +0x2000.
        pdpt = (PAGING + 0x1001).to_bytes(8, "little")
        for _ in range(3):
            pdpt += (rng.randbytes(8) if rng.random() < 0.2 else bytes(8))
        pd = bytearray((PAGING + 0x2000 | 0x7).to_bytes(8, "little"))
        for i in range(1, 512):
            r = rng.random()
            if r < 0.05:
                pd += ((rng.randrange(1 << 15) << 21) | 0x87).to_bytes(8, "little")
            elif r < 0.08:
                pd += rng.randbytes(8)
            else:
                pd += bytes(8)
        pt = bytearray()
        for i in range(512):
            frame = i if rng.random() < 0.97 else rng.randrange(1 << 24)
            pt += ((frame << 12) | rng.choice((7, 7, 5, 3, 0, 0x8000000000000007))).to_bytes(
                8, "little")
        mem.write(PAGING, pdpt)
        mem.write(PAGING + 0x1000, bytes(pd))
        mem.write(PAGING + 0x2000, bytes(pt))
        return PAGING


# ---------------------------------------------------------------- code

_strategy_cache = {}


def valid_encodings(rng, bits32, n):
    """`n` random valid instructions from core/strategies for 16- or 32-bit code, drawn
    from a seeded random source (Hypothesis's data object, without a test)."""
    from hypothesis.control import BuildContext
    from hypothesis.internal.conjecture.data import ConjectureData
    from core import strategies as S
    strat = _strategy_cache.get(bits32)
    if strat is None:
        strat = _strategy_cache[bits32] = S.any_instruction(
            S.protected_mode() if bits32 else S.REAL)
    out = bytearray()
    for _ in range(n):
        data = ConjectureData(random=random.Random(rng.getrandbits(64)))
        try:
            with BuildContext(data, is_final=False, wrapped_test=None):
                out += data.draw(strat).code
        except Exception:          # a draw Hypothesis rejects (assume()): skip it
            continue
    return bytes(out)


def write_code(rng, mem, bits32, memory, encodings):
    kind = rng.choice(("random", "valid", "mixed"))
    area = CODE_END - CODE
    if kind == "random":
        mem.write(CODE, rng.randbytes(area))
    else:
        mem.write(CODE, rng.randbytes(area) if kind == "mixed" else bytes(area))
        code = encodings.get(bits32)
        if code is None:
            code = encodings[bits32] = valid_encodings(rng, bits32, 150)
        # A few copies at random places, so jumps into the area land in valid code often.
        for _ in range(4):
            at = rng.randrange(CODE, CODE_END - len(code) - 1)
            mem.write(at, code)
    # Above the code area: random data for far pointers and strings to land on (RAM
    # only: on a PC, A0000-FFFFF is the VGA's and the BIOS's).
    mem.write(CODE_END, rng.randbytes(0xA0000 - CODE_END))
    if memory > 0x100000:
        mem.write(0x100000, rng.randbytes(min(memory, 0x200000) - 0x100000))
    return kind


# ---------------------------------------------------------------- entering a mode

def enter(rng, cpu, layout, mode, mem):
    """Set the CPU's state for `mode` directly (as a snapshot restore would)."""
    m = layout.model
    gpr = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi") if m.isa >= ISA_386 \
        else ("ax", "cx", "dx", "bx", "sp", "bp", "si", "di")
    for r in gpr:
        setattr(cpu, r, rng.getrandbits(32))
    entry = layout.code_offset()
    if mode == "real":
        cpu.cs, cpu.ip = entry >> 4, entry & 0xF
        for s in ("ds", "es", "ss"):
            setattr(cpu, s, rng.randrange(1 << 16))
        if m.isa >= ISA_386:
            cpu.fs, cpu.gs = rng.randrange(1 << 16), rng.randrange(1 << 16)
        cpu.flags = rng.getrandbits(16)
        return
    d32 = 0xC if layout.bits32 else 0
    big = 0xFFFFF if d32 else 0xFFFF
    limit = 0xFFFFFFFF if d32 else 0xFFFF
    cpu.gdtr = (GDT, rng.choice((0x7FF, 0x7FF, 0x3F, rng.randrange(0x800))))
    cpu.idtr = (IDT, rng.choice((0x7FF, 0x7FF, 0xFF, rng.randrange(0x800))))
    cpu.cr0 = (cpu.cr0 & ~0x80000000) | 1
    if m.isa >= ISA_386 and m.cr4_mask:
        cpu.cr4 = rng.getrandbits(32) & m.cr4_mask & ~0x20     # PAE only with paging
    cpu.set_segment("tr", SEL_TSS, TSS, 0x2067 if not layout.is286 else 0x2B,
                    cache_access(0x8B if not (layout.is286 or mode == "pm16") else 0x83))
    cpu.set_segment("ldtr", SEL_LDT, LDT, 0x7FF, cache_access(0x82))
    if mode == "paging":
        cr3, cr4 = layout.paging(mem)
        cpu.cr3 = cr3
        if m.cr4_mask:
            cpu.cr4 = (cpu.cr4 | cr4) & m.cr4_mask
        cpu.cr0 = cpu.cr0 | 0x80000000 | (0x10000 if m.cr0_mask & 0x10000 and rng.random() < 0.5
                                          else 0)
    if mode == "v86":
        # Virtual-8086 mode: real-mode style caches at CPL 3 [SDM vol. 3, 20.2].
        seg = entry >> 4
        cpu.set_segment("cs", seg, seg << 4, 0xFFFF, cache_access(0xFB))
        for s in ("ds", "es", "ss", "fs", "gs"):
            sel = rng.randrange(1 << 16)
            cpu.set_segment(s, sel, sel << 4, 0xFFFF, cache_access(0xF3))
        cpu.eip = entry & 0xF
        cpu.eflags = (rng.getrandbits(32) & 0x3CFD5) | 0x20002     # VM, maybe VIF/VIP
        return
    cpl3 = rng.random() < 0.3
    if cpl3:
        cpu.set_segment("cs", SEL_CODE3, 0, big if not d32 else limit, cache_access(0xFB, d32))
        data = (SEL_DATA3, 0xF3)
    else:
        cpu.set_segment("cs", SEL_CODE0, 0, big if not d32 else limit, cache_access(0x9B, d32))
        data = (SEL_DATA0, 0x93)
    for s in ("ds", "es", "ss") + (("fs", "gs") if m.isa >= ISA_386 else ()):
        cpu.set_segment(s, data[0], 0, big if not d32 else limit, cache_access(data[1], d32))
    cpu.eip = entry
    if m.isa >= ISA_386:
        cpu.esp = rng.randrange(0x80000, 0x8FFF0)
        cpu.eflags = (rng.getrandbits(32) & 0x47FD5 & ~0x100) | 2
    else:
        cpu.sp = rng.randrange(0x8000, 0xFFF0)
        cpu.flags = (rng.getrandbits(16) & 0x7FD5) | 2


def run(seed, case_dir=None, model=None, mode=None, cycles=CASE_CYCLES):
    """One case: the result dict (instructions executed, episodes, triple faults)."""
    rng = random.Random("cpu:%d" % seed)
    model = model or rng.choice(sorted(MODELS))
    mode = mode or rng.choice(modes_of(model))
    memory = memory_of(model)
    pc = media = None
    if MODELS[model].isa >= ISA_386 and rng.random() < 0.25:
        # The same on a whole PC: the guest's IN/OUT and MMIO reach the devices, with
        # their interrupts; its media must come out unchanged.
        import tempfile
        from tests.fuzz import ports
        case_dir = case_dir or tempfile.mkdtemp(prefix="c86fuzz-cpu-")
        pc, media = ports.build(rng, case_dir, machine=rng.choice(("pc", "isapc")),
                                memory=memory, cpu=model)
        before = ports.digest(media.values())
        m = pc.machine
    else:
        # No device schedules anything here: the budget holds only because a long REP
        # yields after REP_YIELD iterations (core/cpu.pyx); this target checks it.
        m = Machine(model, memory)
    encodings = {}
    kinds = []
    try:
        insns, spent, episodes, shutdowns, halts = _episodes(
            rng, m, model, mode, memory, cycles, encodings, kinds)
    finally:
        if pc is not None:
            pc.close()
    if pc is not None and ports.digest(media.values()) != before:
        return {"outcome": DATA_LOSS, "model": model, "mode": mode, "insns": insns,
                "detail": "a medium changed without --commit"}
    return {"outcome": GUEST_FAULT if shutdowns or halts else OK, "model": model,
            "machine": pc.config.machine if pc is not None else "bare",
            "mode": mode, "insns": insns, "cycles": spent, "episodes": episodes,
            "shutdowns": shutdowns, "halts": halts, "code": kinds}


def _episodes(rng, m, model, mode, memory, cycles, encodings, kinds):
    """Fresh layouts and code until `cycles` are spent (or 24 episodes)."""
    cpu = m.cpu
    insns = episodes = shutdowns = halts = spent = 0
    while spent < cycles and episodes < 24:
        episodes += 1
        m.reset()
        cpu.shutdown = False
        cpu.halted = False
        layout = Layout(rng, model, mode, memory)
        layout.write(m.mem)
        kinds.append(write_code(rng, m.mem, layout.bits32, memory, encodings))
        enter(rng, cpu, layout, mode, m.mem)
        start_cycles, start_insns = m.clock.now, cpu.icount
        budget = min(EPISODE_CYCLES, cycles - spent)
        reason = m.run(max_cycles=budget)
        spent += max(1, m.clock.now - start_cycles)
        insns += cpu.icount - start_insns
        if reason == "shutdown":
            shutdowns += 1
        elif reason == "halt":
            halts += 1
            spent += 1000              # a halt costs no cycles; do not loop forever on it
    return insns, spent, episodes, shutdowns, halts
