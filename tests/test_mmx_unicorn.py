"""MMX through the CPU, differentially against Unicorn (QEMU's MMX).

Hypothesis draws a machine state and a short program: FRSTOR loads an x87 image with a
random TOP, tag word, condition codes and eight random 80-bit registers (so the MMX
registers start as arbitrary 64-bit values, and the x87 state the first MMX instruction
finds is arbitrary too), then one to six MMX instructions, each drawn from the MMX rows
of core/opcodes.py in a register form or a memory form, then FNSAVE.  The same program
runs on cycle86 (Pentium II model, real mode) and on Unicorn, and the FNSAVE images
(control, status and tag words, all eight 80-bit registers: the MMX values and the
exponent fields MMX writes), the memory operands and the general registers (MOVD
r32, mm) are compared.  The instruction and data pointers in the image are not:
MMX instructions leave them alone, and the FRSTOR before them sets them on both.

Where Unicorn departs from the SDM: an MMX instruction that writes a register sets its
sign and exponent field (bits 64-79) to all ones [SDM vol. 3 "MMX State and x87 FPU",
Table "Effects of MMX Instructions on x87 FPU State"]; QEMU leaves the field as it was.
So the significands (the MMX values) are compared for every register, the field of a
register the program never wrote must be unchanged on both machines, and the field of a
written one must be FFFFh on cycle86 whatever Unicorn holds.  FNSAVE computes each tag
from the register's contents, so the tags of written registers follow the field: they
must be 10b (special: an all-ones exponent) on cycle86 and not empty on Unicorn, and the
other tags must agree.

Shift counts and operand values are drawn so that lanes saturate, overflow and shift
across their width often: random 64-bit values, small counts, and lane patterns near
the signed and unsigned limits.
"""
import struct

import pytest
from hypothesis import given, strategies as st

uc = pytest.importorskip("unicorn")
from unicorn import Uc, UC_ARCH_X86, UC_MODE_16  # noqa: E402
from unicorn import x86_const as ux  # noqa: E402

from core import opcodes  # noqa: E402
from core import strategies as S  # noqa: E402
from core.machine import Machine  # noqa: E402

CODE = 0x1000
IMAGE = 0x2000          # the FRSTOR image (94 bytes: 16-bit real-mode layout)
MEM = 0x2100            # the memory operands: eight quadwords
SAVE = 0x2200           # the FNSAVE image
MODRM_MEM = 0x06        # mod 00 r/m 110: [disp16]
GPRS = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi")
UC_GPRS = (ux.UC_X86_REG_EAX, ux.UC_X86_REG_ECX, ux.UC_X86_REG_EDX, ux.UC_X86_REG_EBX,
           ux.UC_X86_REG_ESP, ux.UC_X86_REG_EBP, ux.UC_X86_REG_ESI, ux.UC_X86_REG_EDI)

MMX_ENTRIES = sorted((e for e in opcodes.ENTRIES.values() if e.feature == "mmx"),
                     key=lambda e: (e.opcode, e.reg or 0))


@st.composite
def quadwords(draw):
    """A 64-bit operand: random, a small shift count, or lanes at their limits."""
    kind = draw(st.sampled_from(["random"] * 4 + ["count", "lanes"]))
    if kind == "random":
        return draw(st.integers(0, (1 << 64) - 1))
    if kind == "count":
        return draw(st.integers(0, 70))
    width = draw(st.sampled_from([8, 16, 32]))
    edge = [0, 1, (1 << (width - 1)) - 1, 1 << (width - 1), (1 << width) - 1,
            (1 << (width - 1)) + 1, (1 << width) - 2]
    v = 0
    for i in range(64 // width):
        v |= draw(st.sampled_from(edge)) << (i * width)
    return v


@st.composite
def instructions(draw):
    e = draw(st.sampled_from(MMX_ENTRIES))
    ops = e.operands
    reg = e.reg if e.reg is not None else draw(st.integers(0, 7))
    if e.mnemonic == "EMMS":
        return b"\x0f" + bytes([e.opcode & 0xFF]), e.mnemonic, ()
    rm_token = next(o for o in ops if o[0] in "QEN")
    memory = rm_token[0] != "N" and draw(st.booleans())
    if memory:
        disp = MEM + 8 * draw(st.integers(0, 7)) + draw(st.sampled_from([0, 0, 0, 2, 4]))
        code = bytes([0x0F, e.opcode & 0xFF, (reg << 3) | MODRM_MEM]) + struct.pack("<H", disp)
        where = "[%04X]" % disp
    else:
        rm = draw(st.integers(0, 7))
        code = bytes([0x0F, e.opcode & 0xFF, 0xC0 | (reg << 3) | rm])
        where = ("r%d" if rm_token[0] == "E" else "mm%d") % rm
    name = "%s %s" % (e.mnemonic, where)
    # The MMX register the instruction writes: P is ModR/M reg; N, and Q as a destination
    # (MOVQ mm/m64, mm), are r/m when it is a register; E (MOVD r/m32, mm) is no MMX one.
    dest = ops[0][0]
    writes = (reg,) if dest == "P" else (rm,) if dest in ("N", "Q") and not memory else ()
    if "Ib" in ops:
        imm = draw(st.one_of(st.integers(0, 70), st.integers(0, 255)))
        code += bytes([imm])
        name += ",%d" % imm
    elif e.reg is None:
        name += " mm%d" % reg
    return code, name, writes


@st.composite
def programs(draw):
    insns = draw(st.lists(instructions(), min_size=1, max_size=6))
    regs = [draw(quadwords()) | (draw(st.integers(0, 0xFFFF)) << 64) for _ in range(8)]
    top = draw(st.integers(0, 7))
    sw = (top << 11) | (draw(st.integers(0, 0xF)) & 0x7) << 8 | (draw(st.booleans()) << 14)
    image = struct.pack("<7H", 0x037F, sw, draw(st.integers(0, 0xFFFF)), 0, 0, 0, 0)
    image += b"".join(v.to_bytes(10, "little") for v in regs)
    return dict(code=b"".join(c for c, _, _ in insns), names=[n for _, n, _ in insns],
                writes={r for _, _, w in insns for r in w},
                image=image, mem=b"".join(draw(quadwords()).to_bytes(8, "little")
                                          for _ in range(8)),
                gprs=[draw(st.integers(0, 0xFFFFFFFF)) for _ in GPRS])


def assemble(p):
    return (b"\xdd\x26" + struct.pack("<H", IMAGE)          # FRSTOR [IMAGE]
            + p["code"]
            + b"\xdd\x36" + struct.pack("<H", SAVE))        # FNSAVE [SAVE]


def run_unicorn(p):
    mu = Uc(UC_ARCH_X86, UC_MODE_16)
    mu.mem_map(0, 0x10000)
    mu.mem_write(IMAGE, p["image"])
    mu.mem_write(MEM, p["mem"])
    for r, v in zip(UC_GPRS, p["gprs"]):
        mu.reg_write(r, v)
    code = assemble(p)
    mu.mem_write(CODE, code)
    mu.emu_start(CODE, CODE + len(code))
    return bytes(mu.mem_read(0, 0x2300)), [mu.reg_read(r) for r in UC_GPRS]


_machine = []


def run_cycle86(p):
    if not _machine:
        _machine.append(Machine(cpu="pentium2", memory=1 << 20))
    m = _machine[0]
    m.reset()
    m.mem.write(0, bytes(0x2300))
    m.mem.write(IMAGE, p["image"])
    m.mem.write(MEM, p["mem"])
    code = assemble(p) + b"\xf4"                            # HLT
    m.mem.write(CODE, code)
    c = m.cpu
    c.cs, c.ds, c.es, c.ss = 0, 0, 0, 0
    c.eip = CODE
    for name, v in zip(GPRS, p["gprs"]):
        setattr(c, name, v)
    c.eflags = 0x2
    assert m.run(max_cycles=100_000) == "halt"
    return bytes(m.mem.read(0, 0x2300)), [getattr(c, name) for name in GPRS]


def compare(p):
    mine_mem, mine_regs = run_cycle86(p)
    uc_mem, uc_regs = run_unicorn(p)
    where = "program %s image=%s mem=%s gprs=%s" % (
        p["names"], p["image"].hex(), p["mem"].hex(), [hex(v) for v in p["gprs"]])
    for name, off in (("CW", 0), ("SW", 2)):
        a = struct.unpack_from("<H", mine_mem, SAVE + off)[0]
        b = struct.unpack_from("<H", uc_mem, SAVE + off)[0]
        assert a == b, "%s %04X vs Unicorn %04X: %s" % (name, a, b, where)
    m_tw = struct.unpack_from("<H", mine_mem, SAVE + 4)[0]
    u_tw = struct.unpack_from("<H", uc_mem, SAVE + 4)[0]
    top = (struct.unpack_from("<H", mine_mem, SAVE + 2)[0] >> 11) & 7
    if any(not n.startswith("EMMS") for n in p["names"]):
        assert top == 0, "TOP %d after MMX: %s" % (top, where)
    for i in range(8):
        # FNSAVE stores ST(0)..ST(7); after an MMX instruction TOP is 0, so ST(i) is Ri.
        a = mine_mem[SAVE + 14 + 10 * i: SAVE + 24 + 10 * i]
        b = uc_mem[SAVE + 14 + 10 * i: SAVE + 24 + 10 * i]
        phys = (top + i) & 7
        m_tag, u_tag = (m_tw >> (2 * phys)) & 3, (u_tw >> (2 * phys)) & 3
        assert a[:8] == b[:8], "MM%d %s vs Unicorn %s: %s" % (
            phys, a[7::-1].hex(), b[7::-1].hex(), where)
        if phys in p["writes"]:
            assert a[8:] == b"\xff\xff", "R%d exponent %s, not FFFF: %s" % (phys, a[::-1].hex(), where)
            assert (m_tag == 3) == (u_tag == 3), "tag of R%d: %s" % (phys, where)
            assert m_tag in (2, 3), "tag of R%d %d: %s" % (phys, m_tag, where)
        else:
            assert a[8:] == b[8:], "R%d %s vs Unicorn %s: %s" % (
                phys, a[::-1].hex(), b[::-1].hex(), where)
            assert m_tag == u_tag, "tag of R%d %d vs Unicorn %d: %s" % (phys, m_tag, u_tag, where)
    assert mine_mem[MEM:MEM + 64] == uc_mem[MEM:MEM + 64], (
        "memory %s vs Unicorn %s: %s" % (mine_mem[MEM:MEM + 64].hex(),
                                         uc_mem[MEM:MEM + 64].hex(), where))
    assert mine_regs == uc_regs, "registers %s vs Unicorn %s: %s" % (
        [hex(v) for v in mine_regs], [hex(v) for v in uc_regs], where)


@S.examples(400)
@given(programs())
def test_mmx_programs_match_unicorn(p):
    compare(p)


@pytest.mark.parametrize("entry", MMX_ENTRIES, ids=lambda e: opcodes.key(e.opcode, e.reg))
def test_every_mmx_opcode_matches_unicorn_on_limits(entry):
    """Each MMX opcode once, register form, on operands at the lane limits (so every
    row of the table runs whatever the random search picks)."""
    reg = entry.reg if entry.reg is not None else 1
    rm = 2
    code = bytes([0x0F, entry.opcode & 0xFF]) + (bytes([0xC0 | (reg << 3) | rm])
                                                   if entry.has_modrm else b"")
    if "Ib" in entry.operands:
        code += bytes([5])
    # MM1 (destination) and MM2 (source) overflow every lane width when added or subtracted.
    regs = [0x7FFF_8000_00FF_FF01, 0x7FFF_8000_7F80_FF01, 0x0001_FFFF_0180_01FF,
            0xFFFF_FFFF_0000_0001, 0x1234_5678_9ABC_DEF0, 0, 0xFFFF_FFFF_FFFF_FFFF, 40]
    image = struct.pack("<7H", 0x037F, 3 << 11, 0x0F0F, 0, 0, 0, 0)
    image += b"".join((v | (0x4001 << 64)).to_bytes(10, "little") for v in regs)
    dest = entry.operands[0][0] if entry.operands else ""
    writes = {reg} if dest == "P" else {rm} if dest in ("N", "Q") else set()
    compare(dict(code=code, names=[entry.mnemonic], image=image, mem=bytes(64), writes=writes,
                 gprs=[0x11111111 * (k + 1) for k in range(8)]))


# ---------------------------------------------------------------- paging, protected mode

P2_CPL0 = S.protected_mode(cpl=0, model="pentium2")
P2_CPL3 = S.protected_mode(cpl=3, model="pentium2")


@pytest.mark.parametrize("mode,n", [(P2_CPL0, 200), (P2_CPL3, 200)], ids=["cpl0", "cpl3"])
def test_mmx_page_faults_match_unicorn(mode, n):
    # core/strategies.py's page-fault family on the Pentium II, which adds MOVQ/PADDB
    # loads and MOVQ/MOVD stores of 8 and 4 bytes, in and across not-present, read-only
    # and supervisor pages: whether it faults, CR2, the frame, the accessed and dirty
    # bits and the memory a store writes agree with Unicorn; the error code follows the
    # SDM rules (strategies.expected_page_fault).
    from tests.test_unicorn_pm import _assert_sdm_page_fault

    @S.examples(n)
    @given(S.cases(S.page_faults(mode=mode), mode=mode))
    def prop(case):
        S.assert_same(case)
        _assert_sdm_page_fault(case)
    prop()
