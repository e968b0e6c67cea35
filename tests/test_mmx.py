"""MMX by hand: the gating by model, the undefined encodings of the MMX opcode space, the
x87 state MMX instructions share (CR0.EM/TS, pending x87 exceptions, TOP and tags, EMMS,
FSAVE/FXAM on MMX-written registers), fault restart, and the SDM's worked examples.

Expected values come from the Intel SDM: vol. 1 ch. 9 (MMX technology), vol. 2 (the
instruction pages and opcode map Table A-3), vol. 3 "MMX State and x87 FPU" (Table
"Effects of MMX Instructions on x87 FPU State") and "Emulation of the MMX instruction
set".  tests/test_mmx_unicorn.py checks the arithmetic against QEMU's.
"""
import struct

import pytest

from core import mmx
from core.machine import Machine

CODE_SEG = 0x0100               # code at 0100:0000 = 0x1000
DATA = 0x2000                   # DS = 0
HANDLER_SEG = 0x9000            # vector v's handler at 9000:v*16, a HLT
CR0_MP, CR0_EM, CR0_TS, CR0_NE = 0x2, 0x4, 0x8, 0x20
V_UD, V_NM, V_GP, V_MF = 6, 7, 13, 16


def machine(model, code, cr0=0, mem=None):
    m = Machine(cpu=model, memory=1 << 20)
    c = m.cpu
    for v in range(32):
        m.mem.write16(v * 4, v * 16)
        m.mem.write16(v * 4 + 2, HANDLER_SEG)
        m.mem.write(HANDLER_SEG * 16 + v * 16, b"\xf4")
    m.mem.write(CODE_SEG * 16, bytes(code) + b"\xf4")
    for addr, data in (mem or {}).items():
        m.mem.write(addr, data)
    c.cs, c.ds, c.es, c.ss = CODE_SEG, 0, 0, 0
    c.eip, c.esp = 0, 0x8000
    c.cr0 |= cr0
    return m


def run(m):
    """Run to the first HLT: the vector taken (None for the code's own HLT)."""
    assert m.run(max_cycles=100_000) == "halt"
    c = m.cpu
    if c.cs == HANDLER_SEG:
        return (c.eip - 1) // 16
    return None


def fpu_regs(m):
    f = m.cpu.fpu
    return [f.phys(p) for p in range(8)]


PADDB = b"\x0f\xfc\xc1"                 # paddb mm0, mm1
MOVQ_LOAD = b"\x0f\x6f\x06" + struct.pack("<H", DATA)      # movq mm0, [DATA]
EMMS = b"\x0f\x77"


# ---------------------------------------------------------------- gating

@pytest.mark.parametrize("model", ["pentium", "80486", "80486sx", "80386"])
@pytest.mark.parametrize("code", [PADDB, MOVQ_LOAD, EMMS, b"\x0f\x71\xd0\x03",
                                  b"\x0f\x7e\xc0"])
def test_models_without_mmx_raise_ud(model, code):
    # CPUID.1:EDX.MMX is clear on these models; the opcodes are invalid there.
    m = machine(model, code)
    assert run(m) == V_UD
    assert (m.cpu.cs, m.cpu.eip) == (HANDLER_SEG, V_UD * 16 + 1)
    frame = m.mem.read(0x8000 - 6, 4)
    assert frame == bytes([0, 0, CODE_SEG & 0xFF, CODE_SEG >> 8])   # IP CS of the MMX insn


UNDEFINED = ([bytes([0x0F, op, 0xC1]) for op in
              (0x6C, 0x6D, 0x70, 0x78, 0x79, 0x7A, 0x7B, 0x7C, 0x7D, 0xD0, 0xD4, 0xD6, 0xD7,
               0xDA, 0xDE, 0xE0, 0xE3, 0xE4, 0xE6, 0xE7, 0xEA, 0xEE, 0xF0, 0xF4, 0xF6, 0xF7,
               0xFB, 0xFF)]
             # the shift-by-immediate groups' members that are not MMX (SSE2 /3 /7 of 0F73)
             + [bytes([0x0F, op, 0xC0 | (r << 3), 1]) for op, regs in
                ((0x71, (0, 1, 3, 5, 7)), (0x72, (0, 1, 3, 5, 7)), (0x73, (0, 1, 3, 4, 5, 7)))
                for r in regs]
             # Nq: the immediate shifts have no memory form
             + [b"\x0f\x71\x16\x00\x20\x01", b"\x0f\x73\x36\x00\x20\x01"])


@pytest.mark.parametrize("code", UNDEFINED, ids=lambda c: c.hex())
def test_undefined_encodings_in_the_mmx_space_raise_ud(code):
    # SDM vol. 2 Table A-3 without prefixes: these are SSE/SSE2/SSE3/VMX rows or empty,
    # none of which the Pentium II has.
    m = machine("pentium2", code)
    tw = m.cpu.fpu.tw
    assert run(m) == V_UD
    assert m.cpu.fpu.tw == tw                   # no MMX state transition either


def test_lock_prefix_raises_ud():
    m = machine("pentium2", b"\xf0\x0f\xfc\x06\x00\x20")
    assert run(m) == V_UD


# ---------------------------------------------------------------- CR0 and pending exceptions

@pytest.mark.parametrize("cr0, vector", [(CR0_EM, V_UD), (CR0_TS, V_NM),
                                         (CR0_EM | CR0_TS, V_UD), (CR0_MP | CR0_TS, V_NM),
                                         (CR0_MP, None)])
@pytest.mark.parametrize("code", [PADDB, MOVQ_LOAD, EMMS])
def test_cr0_em_ud_and_ts_nm(cr0, vector, code):
    # MMX cannot be emulated: EM=1 is #UD (not #NM as for x87), and it wins over TS.
    # TS=1 is #NM for every MMX instruction, EMMS included (lazy context switching).
    m = machine("pentium2", code, cr0=cr0)
    before = (m.cpu.fpu.sw, m.cpu.fpu.tw, fpu_regs(m))
    assert run(m) == vector
    if vector is not None:
        assert (m.cpu.fpu.sw, m.cpu.fpu.tw, fpu_regs(m)) == before


@pytest.mark.parametrize("code", [PADDB, MOVQ_LOAD, EMMS, b"\x0f\x7e\xc0"])
def test_pending_unmasked_x87_exception_raises_mf_first(code):
    # A pending unmasked x87 exception is reported (#MF with CR0.NE=1) before the MMX
    # instruction runs, as for a waiting x87 instruction; nothing of it happens.
    m = machine("pentium2", code, cr0=CR0_NE)
    f = m.cpu.fpu
    f.cw = 0x037E                       # IM clear
    f.sw = 0x8081 | (5 << 11)           # B ES IE pending, TOP=5
    m.cpu.eax = 0x12345678
    before = (f.sw, f.tw, fpu_regs(m))
    assert run(m) == V_MF
    assert (f.sw, f.tw, fpu_regs(m)) == before
    assert m.cpu.eax == 0x12345678


def test_masked_exception_flags_do_not_stop_mmx():
    m = machine("pentium2", PADDB, cr0=CR0_NE)
    f = m.cpu.fpu
    f.sw = 0x0021 | (5 << 11)           # IE PE set but masked (CW 037F after FINIT)
    f.cw = 0x037F
    assert run(m) is None
    assert f.sw == 0x0021               # only TOP changed: to 0


# ---------------------------------------------------------------- the x87 state

def test_mmx_sets_top_0_and_tags_valid_and_writes_exponent_ones():
    m = machine("pentium2", PADDB)
    f = m.cpu.fpu
    f.finit()
    f.top = 3
    f.set_phys(0, 0x4000_8000000000000001)              # mm0 = 8000000000000001
    f.set_phys(1, 0x3FFF_0102030405060708)              # mm1
    f.set_tag(1, 3)                                     # an empty register still reads
    assert run(m) is None
    assert f.top == 0 and f.tw == 0x0000
    assert f.phys(0) == 0xFFFF_8102030405060709         # bytes added, exponent all ones
    assert f.phys(1) == 0x3FFF_0102030405060708         # read only: unchanged
    assert mmx.registers(f)[:2] == [0x8102030405060709, 0x0102030405060708]


def test_emms_empties_every_tag_and_keeps_top():
    m = machine("pentium2", PADDB + EMMS + b"\xdd\x36" + struct.pack("<H", DATA))  # fnsave
    assert run(m) is None
    tw = struct.unpack_from("<H", m.mem.read(DATA, 94), 4)[0]
    sw = struct.unpack_from("<H", m.mem.read(DATA, 94), 2)[0]
    assert tw == 0xFFFF and (sw >> 11) & 7 == 0


def test_fsave_after_mmx_stores_the_registers_and_content_tags():
    # FSAVE computes each tag from the contents: a written MMX register has an all-ones
    # exponent, so it is tagged special (10b); the others keep their own class.
    code = (b"\x0f\x6f\x06" + struct.pack("<H", DATA + 0x100)      # movq mm0, [DATA+100]
            + b"\x0f\xef\xd2"                                       # pxor mm2, mm2
            + b"\xdd\x36" + struct.pack("<H", DATA))                # fnsave [DATA]
    m = machine("pentium2", code, mem={DATA + 0x100: (0x1122334455667788).to_bytes(8, "little")})
    f = m.cpu.fpu
    f.finit()
    f.top = 6
    f.set_st(0, 0x3FFF_8000000000000000)        # 1.0 in R6
    f.set_st(1, 0)                              # +0 in R7
    assert run(m) is None
    img = m.mem.read(DATA, 94)
    sw, tw = struct.unpack_from("<HH", img, 2)
    assert (sw >> 11) & 7 == 0
    regs = [int.from_bytes(img[14 + 10 * i: 24 + 10 * i], "little") for i in range(8)]
    assert regs[0] == 0xFFFF_1122334455667788
    assert regs[2] == 0xFFFF_0000000000000000
    assert regs[6] == 0x3FFF_8000000000000000 and regs[7] == 0
    tags = [(tw >> (2 * p)) & 3 for p in range(8)]
    assert tags[0] == 2 and tags[2] == 2                # special
    assert tags[6] == 0 and tags[7] == 1                # valid, zero
    assert tags[1] == tags[3] == tags[4] == tags[5] == 1    # +0.0 since reset: zero
    # FNSAVE then initialises the x87: everything empty again.
    assert f.tw == 0xFFFF


def test_fxam_on_an_mmx_register_without_emms():
    # x87 code that forgets EMMS sees a NaN (J=1, fraction non-zero) or an unsupported
    # encoding (J=0): the exponent is all ones.  FXAM: C3 C2 C0 = 0 0 1 (NaN), 0 0 0.
    for value, cc in ((0x8000000000000001, 0x0100), (0x0000000000000001, 0x0000)):
        code = (b"\x0f\x6f\x06" + struct.pack("<H", DATA)          # movq mm0, [DATA]
                + b"\xd9\xe5")                                      # fxam
        m = machine("pentium2", code, mem={DATA: value.to_bytes(8, "little")})
        assert run(m) is None
        assert m.cpu.fpu.sw & 0x4700 == cc | 0x0200      # C1 = sign = 1


def test_frstor_after_fsave_restores_mmx_values():
    code = (b"\x0f\x6f\x06" + struct.pack("<H", DATA + 0x100)      # movq mm0, [DATA+100]
            + b"\xdd\x36" + struct.pack("<H", DATA)                 # fnsave [DATA]
            + b"\xdd\x26" + struct.pack("<H", DATA)                 # frstor [DATA]
            + b"\x0f\x7e\xc3")                                      # movd ebx, mm0
    m = machine("pentium2", code, mem={DATA + 0x100: (0xCAFEBABE_DEADBEEF).to_bytes(8, "little")})
    assert run(m) is None
    assert m.cpu.ebx == 0xDEADBEEF
    assert mmx.registers(m.cpu.fpu)[0] == 0xCAFEBABE_DEADBEEF


def test_memory_fault_restarts_with_the_mmx_state_unchanged():
    # movq mm0, [0FFFCh]: an 8-byte operand crossing the real-mode segment limit is #GP
    # (interrupt 13); TOP and the tags have not been touched.
    m = machine("pentium2", b"\x0f\x6f\x06\xfc\xff")
    f = m.cpu.fpu
    f.top = 4
    before = (f.sw, f.tw, fpu_regs(m))
    assert run(m) == V_GP
    assert (f.sw, f.tw, fpu_regs(m)) == before
    # movq [0FFFCh], mm0: the store is checked before anything changes.
    m = machine("pentium2", b"\x0f\x7f\x06\xfc\xff")
    f = m.cpu.fpu
    f.top = 4
    before = (f.sw, f.tw)
    assert run(m) == V_GP
    assert (f.sw, f.tw) == before
    assert m.mem.read(0xFFFC, 4) == bytes(4)


# ---------------------------------------------------------------- data movement and examples

def run_with(code, regs, mem=None, **gprs):
    m = machine("pentium2", code, mem=mem)
    for i, v in enumerate(regs):
        mmx.set_register(m.cpu.fpu, i, v)
    for name, v in gprs.items():
        setattr(m.cpu, name, v)
    assert run(m) is None
    return m


def test_movd_zero_extends_and_stores_the_low_doubleword():
    m = run_with(b"\x0f\x6e\xc8"                     # movd mm1, eax
                 + b"\x0f\x7e\x16" + struct.pack("<H", DATA),   # movd [DATA], mm2
                 [0, 0xFFFFFFFF_FFFFFFFF, 0x11223344_55667788], eax=0x89ABCDEF)
    assert mmx.registers(m.cpu.fpu)[1] == 0x89ABCDEF
    assert m.mem.read(DATA, 8) == bytes.fromhex("8877665500000000")


def test_movq_register_to_register_and_store():
    m = run_with(b"\x0f\x7f\xc3"                     # movq mm3, mm0 (the store form)
                 + b"\x0f\x7f\x06" + struct.pack("<H", DATA),   # movq [DATA], mm0
                 [0x0102030405060708])
    assert mmx.registers(m.cpu.fpu)[3] == 0x0102030405060708
    assert m.cpu.fpu.phys(3) >> 64 == 0xFFFF
    assert m.mem.read(DATA, 8) == bytes.fromhex("0807060504030201")


@pytest.mark.parametrize("code, a, b, result", [
    # PMADDWD: 8000h*8000h + 8000h*8000h wraps to 80000000h (the SDM's note on PMADDWD).
    (b"\x0f\xf5\xc1", 0x8000_8000_0002_0003, 0x8000_8000_0004_FFFF, 0x80000000_00000005),
    # PACKSSWB: words saturate to signed bytes, destination in the low half.
    (b"\x0f\x63\xc1", 0x7FFF_0080_FF7F_8000, 0x0001_FFFF_0100_FF00, 0x01FF_7F80_7F7F_8080),
    # PACKUSWB: signed words saturate to unsigned bytes.
    (b"\x0f\x67\xc1", 0x7FFF_0080_FFFF_00FF, 0x0100_8000_0001_0000, 0xFF00_0100_FF80_00FF),
    # PACKSSDW.
    (b"\x0f\x6b\xc1", 0x00008000_FFFF7FFF, 0x00001234_80000000, 0x1234_8000_7FFF_8000),
    # PUNPCKLBW interleaves the low bytes, destination first.
    (b"\x0f\x60\xc1", 0x0000_0000_0403_0201, 0x0000_0000_D4C3_B2A1, 0xD404_C303_B202_A101),
    # PUNPCKHDQ: the high doublewords.
    (b"\x0f\x6a\xc1", 0xAAAAAAAA_11111111, 0xBBBBBBBB_22222222, 0xBBBBBBBB_AAAAAAAA),
    # PADDUSB and PSUBUSB clamp at FFh and 00h; PADDSW and PSUBSW at 7FFFh / 8000h.
    (b"\x0f\xdc\xc1", 0xFF80_0001_0000_0000, 0x0180_00FF_0000_0000, 0xFFFF_00FF_0000_0000),
    (b"\x0f\xd8\xc1", 0x0180_0001_0000_0000, 0x0281_0000_0000_0000, 0x0000_0001_0000_0000),
    (b"\x0f\xed\xc1", 0x7FFF_8000_0001_0000, 0x0001_FFFF_0001_0000, 0x7FFF_8000_0002_0000),
    (b"\x0f\xe9\xc1", 0x8000_7FFF_0000_0000, 0x0001_FFFF_0000_0000, 0x8000_7FFF_0000_0000),
    # PMULHW / PMULLW: the high and low words of the signed products.
    (b"\x0f\xe5\xc1", 0x8000_7FFF_FFFF_0100, 0x8000_7FFF_0002_0100, 0x4000_3FFF_FFFF_0001),
    (b"\x0f\xd5\xc1", 0x8000_7FFF_FFFF_0100, 0x8000_7FFF_0002_0100, 0x0000_0001_FFFE_0000),
    # PCMPGTB is signed: 80h < 7Fh; PCMPEQD.
    (b"\x0f\x64\xc1", 0x7F80_0000_0000_0000, 0x807F_0000_0000_0000, 0xFF00_0000_0000_0000),
    (b"\x0f\x76\xc1", 0x12345678_00000001, 0x12345678_00000002, 0xFFFFFFFF_00000000),
    # PANDN is NOT destination AND source.
    (b"\x0f\xdf\xc1", 0xF0F0_F0F0_0000_FFFF, 0xFFFF_0000_FFFF_FFFF, 0x0F0F_0000_FFFF_0000),
    # Shifts by a register count: never masked; past the width, 0 or the sign.
    (b"\x0f\xf1\xc1", 0x8001_0001_0001_0001, 16, 0),
    (b"\x0f\xe1\xc1", 0x8000_7FFF_0001_FFFE, 100, 0xFFFF_0000_0000_FFFF),
    (b"\x0f\xd3\xc1", 0x8000_0000_0000_0000, 63, 1),
    (b"\x0f\xf3\xc1", 0x1, 0x1_0000_0000, 0),               # count 2^32: not masked to 0
    (b"\x0f\xe2\xc1", 0x80000000_40000000, 1, 0xC0000000_20000000),
])
def test_sdm_operations(code, a, b, result):
    m = run_with(code, [a, b])
    assert mmx.registers(m.cpu.fpu)[0] == result


@pytest.mark.parametrize("code, a, result", [
    (b"\x0f\x71\xd0\x04", 0x1234_8000_FFFF_0010, 0x0123_0800_0FFF_0001),       # psrlw mm0,4
    (b"\x0f\x71\xe0\x0f", 0x1234_8000_FFFF_0010, 0x0000_FFFF_FFFF_0000),       # psraw mm0,15
    (b"\x0f\x71\xe0\xff", 0x1234_8000_FFFF_0010, 0x0000_FFFF_FFFF_0000),       # psraw mm0,255
    (b"\x0f\x72\xf0\x20", 0xFFFFFFFF_FFFFFFFF, 0),                             # pslld mm0,32
    (b"\x0f\x73\xd0\x08", 0x1122334455667788, 0x0011223344556677),             # psrlq mm0,8
    (b"\x0f\x73\xf0\x3f", 0x1, 0x8000000000000000),                            # psllq mm0,63
])
def test_shift_by_immediate(code, a, result):
    m = run_with(code, [a])
    assert mmx.registers(m.cpu.fpu)[0] == result


def test_pmulhw_costs_the_multiplier_latency():
    # Pentium II: the MMX multiplier has latency 3, the ALU 1 (core/timing.py [P6OPT]).
    clocks = []
    for code in (b"\x0f\xe5\xc1", b"\x0f\xfc\xc1"):
        m = machine("pentium2", code)
        start = m.clock.now
        m.step()
        clocks.append(m.clock.now - start)
    assert clocks == [3, 1]


# ---------------------------------------------------------------- the opcode table's view

def test_opcode_table_lengths_and_gating():
    from core import opcodes
    from core.models import ISA_486, ISA_586, ISA_686, get_model
    # (bytes, 32-bit code, length): ModR/M forms, a disp32 form, the imm8 groups, EMMS
    cases = [(b"\x0f\xfc\xc1", False, 3), (b"\x0f\x6f\x06\x00\x20", False, 5),
             (b"\x0f\x71\xd0\x04", False, 4), (b"\x0f\x6f\x05\x00\x20\x00\x00", True, 7),
             (b"\x0f\x77", False, 2), (b"\x0f\x7e\x44\x08\x10", True, 5)]
    for code, code32, n in cases:
        assert opcodes.insn_length(code, code32, ISA_686) == n
        assert opcodes.insn_length(code, code32, ISA_586, features=("mmx",)) == n
        assert opcodes.insn_length(code, code32, ISA_686, features=()) is None
        assert opcodes.insn_length(code, code32, ISA_486) is None
    e = opcodes.lookup(0x1FC)
    assert e.mnemonic == "PADDB" and e.feature == "mmx"
    assert e.available(get_model("pentium2")) and not e.available(get_model("pentium"))
    assert opcodes.lookup(0x173, 4) is None and opcodes.lookup(0x16C) is None


def test_disassembler_names_mmx_instructions():
    from debugger import disasm
    code = bytes.fromhex("0f6f0600200ffcc10f71d0040f7ec30f77")
    got = [(i.mnemonic, i.op_str) for i in disasm.disassemble(code, 0x1000, 16)]
    assert got == [("movq", "mm0, qword ptr [0x2000]"), ("paddb", "mm0, mm1"),
                   ("psrlw", "mm0, 4"), ("movd", "ebx, mm0"), ("emms", "")]
