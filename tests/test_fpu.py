"""The x87 unit (core/fpu.pyx) driven through its test hooks with hand-assembled opcodes.

Expected values come from the Intel SDM (vol. 1 ch. 8, vol. 2 instruction pages) or from
exact integer/Fraction arithmetic done here; a few sequences are also run on Unicorn (a
x87 implementation, QEMU's) and compared for the things it models faithfully: TOP, the
tag word, the condition codes of compares and FXAM, and the register contents.  QEMU
models neither stack faults (SF, the masked indefinite) nor PE for most operations, and
clears C0-C3 where the SDM calls them undefined, so those stay out of the comparison.
"""
from fractions import Fraction

import pytest

from core.fpu import FPU, describe, classify, exact_value

# ---- status word bits [SDM vol. 1 Figure 8-4]
IE, DE, ZE, OE, UE, PE, SF, ES = 1, 2, 4, 8, 0x10, 0x20, 0x40, 0x80
C0, C1, C2, C3, B = 0x100, 0x200, 0x400, 0x4000, 0x8000
CC = C0 | C1 | C2 | C3
# return codes and memory kinds of core/fpu.pxd
OK, UD, FLAGS, AX = 0, -1, -2, -3
CF, PF, ZF = 0x01, 0x04, 0x40

INDEFINITE = 0xFFFF_C000000000000000
POS_INF = 0x7FFF_8000000000000000
NEG_INF = 0xFFFF_8000000000000000
QNAN = 0x7FFF_C000000000000001
SNAN = 0x7FFF_8000000000000001


def f80(x):
    """The 80-bit encoding of an exactly representable number (int or Fraction)."""
    x = Fraction(x)
    if x == 0:
        return 0
    sign = 1 if x < 0 else 0
    x = abs(x)
    e = 0
    while x >= 2:
        x /= 2
        e += 1
    while x < 1:
        x *= 2
        e -= 1
    sig = x * 2 ** 63
    assert sig.denominator == 1, "not representable in 64 bits"
    return (sign << 79) | ((e + 16383) << 64) | int(sig)


def rounded(x, bits, mode="nearest"):
    """x rounded to `bits` significant bits, as an 80-bit encoding (normal range)."""
    x = Fraction(x)
    sign = -1 if x < 0 else 1
    a = abs(x)
    e = 0
    while a >= 2:
        a /= 2
        e += 1
    while a < 1:
        a *= 2
        e -= 1
    m = a * 2 ** (bits - 1)
    fl = m.numerator // m.denominator
    if mode == "nearest":
        rem = m - fl
        if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and fl & 1):
            fl += 1
    elif mode == "zero":
        pass
    else:
        raise ValueError(mode)
    return f80(sign * Fraction(fl, 2 ** (bits - 1)) * Fraction(2) ** e)


def new(level=6):
    f = FPU(level)
    f.finit()
    return f


def fld(f, x):
    """FLD m80real (DB /5) of an encoding or an exact number."""
    fld_raw(f, f80(x))


def fld_raw(f, enc):
    rc, _ = f.execute_mem(3, 5, enc.to_bytes(10, "little"))
    assert rc == OK


def st(f, i=0):
    return exact_value(f.st(i))


def run(f, opcode, modrm, eflags=0):
    return f.execute_reg(opcode - 0xD8, modrm, eflags)


def mem(f, opcode, r, data=0, op32=True, pm=True):
    return f.execute_mem(opcode - 0xD8, r, data, op32, pm)


def le(v, n):
    return (v & ((1 << (8 * n)) - 1)).to_bytes(n, "little")


def set_cw(f, cw):
    assert mem(f, 0xD9, 5, le(cw, 2))[0] == OK


# ================================================================ state after reset / FINIT

def test_reset_state_486_and_later():
    # SDM vol. 3 Table 9-1: CW 0040h, SW 0, tag word 5555h (all +0.0), pointers 0.
    for level in (4, 5, 6):
        f = FPU(level)
        f.set_phys(3, f80(5))
        f.fip = 0x1234
        f.reset()
        assert (f.cw, f.sw, f.tw) == (0x0040, 0, 0x5555)
        assert f.state()["regs"] == [0] * 8
        assert (f.fip, f.fcs, f.fdp, f.fds, f.fop) == (0, 0, 0, 0, 0)
        assert [f.tag(p) for p in range(8)] == [1] * 8


def test_reset_state_387_and_earlier_is_finit():
    assert (FPU(3).cw, FPU(3).tw) == (0x037F, 0xFFFF)
    assert (FPU(2).cw, FPU(2).tw) == (0x037F, 0xFFFF)
    assert FPU(1).cw == 0x03FF                      # the 8087 also sets IEM


def test_fninit_keeps_registers_and_clears_pointers():
    f = new()
    fld(f, 7)
    f.fip, f.fcs, f.fdp, f.fds, f.fop = 1, 2, 3, 4, 5
    set_cw(f, 0x0C7F)
    assert run(f, 0xDB, 0xE3) == OK                 # FNINIT
    assert (f.cw, f.sw, f.tw) == (0x037F, 0, 0xFFFF)
    assert f.phys(7) == f80(7)
    assert (f.fip, f.fcs, f.fdp, f.fds, f.fop) == (0, 0, 0, 0, 0)
    # The 387 keeps the pointers (the 486 began clearing them).
    g = new(3)
    g.fip = 99
    run(g, 0xDB, 0xE3)
    assert g.fip == 99


# ================================================================ stack, TOP, tags

def test_push_pop_and_tags():
    f = new()
    assert run(f, 0xD9, 0xE8) == OK                 # FLD1
    assert f.top == 7 and f.tag(7) == 0 and f.st(0) == f80(1)
    run(f, 0xD9, 0xEE)                              # FLDZ
    assert f.top == 6 and f.tag(6) == 1
    fld_raw(f, POS_INF)
    assert f.tag(5) == 2                            # special
    fld_raw(f, 0x0000_0000000000000001)             # denormal
    assert f.tag(4) == 2
    assert f.tw == 0x0000 | (3 << 0) | (3 << 2) | (3 << 4) | (3 << 6) | (2 << 8) | (2 << 10) | (1 << 12) | (0 << 14)
    assert f.abridged_tag() == 0xF0
    run(f, 0xDD, 0xD8)                              # FSTP ST(0): pop
    assert f.top == 5 and f.tag(4) == 3
    run(f, 0xDD, 0xC1)                              # FFREE ST(1) = R6
    assert f.tag(6) == 3 and f.top == 5
    run(f, 0xD9, 0xF7)                              # FINCSTP: TOP only
    assert f.top == 6 and f.tag(5) == 2
    run(f, 0xD9, 0xF6)                              # FDECSTP
    assert f.top == 5
    run(f, 0xDF, 0xC0)                              # FFREEP ST(0): free R5, pop
    assert f.top == 6 and f.tag(5) == 3
    assert f.sw & C1 == 0


def test_fld_st_i_and_fxch_and_aliases():
    f = new()
    fld(f, 1)
    fld(f, 2)
    fld(f, 3)                                       # ST0=3 ST1=2 ST2=1
    run(f, 0xD9, 0xC2)                              # FLD ST(2)
    assert [st(f, i) for i in range(4)] == [1, 3, 2, 1]
    run(f, 0xD9, 0xC9)                              # FXCH ST(1)
    assert [st(f, i) for i in range(3)] == [3, 1, 2]
    run(f, 0xDD, 0xCA)                              # FXCH4 alias (DD C8+i)
    assert [st(f, i) for i in range(3)] == [2, 1, 3]
    run(f, 0xDF, 0xC9)                              # FXCH7 alias (DF C8+i)
    assert [st(f, i) for i in range(3)] == [1, 2, 3]
    run(f, 0xDD, 0xD2)                              # FST ST(2)
    assert [st(f, i) for i in range(3)] == [1, 2, 1] and f.top == 4
    run(f, 0xD9, 0xDA)                              # FSTP1 alias: FSTP ST(2)
    assert f.top == 5 and [st(f, i) for i in range(2)] == [2, 1]
    run(f, 0xDF, 0xD1)                              # FSTP8 alias
    assert f.top == 6 and st(f, 0) == 2
    run(f, 0xDF, 0xD8)                              # FSTP9 alias: FSTP ST(0)
    assert f.top == 7 and st(f, 0) == 1


def test_stack_overflow_masked():
    f = new()
    for k in range(8):
        run(f, 0xD9, 0xE8)
    assert f.sw & (IE | SF) == 0
    run(f, 0xD9, 0xEE)                              # a ninth push: FLDZ
    assert f.sw & (IE | SF | C1) == IE | SF | C1
    assert f.sw & ES == 0                           # masked
    assert f.top == 7 and f.st(0) == INDEFINITE and f.tag(7) == 2


def test_stack_overflow_unmasked_changes_nothing():
    f = new()
    set_cw(f, 0x037E)                               # IM clear
    for k in range(8):
        fld(f, k + 1)
    before = f.state()
    run(f, 0xD9, 0xE8)
    assert f.top == before["sw"] >> 11 & 7
    assert f.state()["regs"] == before["regs"] and f.tw == before["tw"]
    assert f.sw & (IE | SF | C1 | ES | B) == IE | SF | C1 | ES | B


def test_stack_underflow_masked_responses():
    f = new()
    run(f, 0xD8, 0xC1)                              # FADD ST,ST(1) on an empty stack
    assert f.sw & (IE | SF | C1) == IE | SF
    assert f.st(0) == INDEFINITE and f.tag(0) == 2 and f.top == 0
    f = new()
    rc, out = mem(f, 0xD9, 3, 4)                    # FSTP m32 of an empty ST(0)
    assert (rc, out) == (4, le(0xFFC00000, 4)) and f.top == 1
    f = new()
    assert mem(f, 0xDF, 7, 8) == (8, le(1 << 63, 8))        # FISTP m64: integer indefinite
    f = new()
    assert mem(f, 0xDF, 3, 2) == (2, le(0x8000, 2))
    f = new()
    assert mem(f, 0xDF, 6, 10) == (10, le(INDEFINITE, 10))  # FBSTP: BCD indefinite
    f = new()
    assert mem(f, 0xDD, 2, 8) == (8, le(0xFFF8000000000000, 8))
    assert f.top == 0                               # FST: no pop
    f = new()
    fld(f, 1)
    run(f, 0xD9, 0xC9)                              # FXCH with an empty ST(1)
    assert f.sw & (IE | SF) == IE | SF
    assert st(f, 1) == 1 and f.st(0) == INDEFINITE
    f = new()
    run(f, 0xD8, 0xD1)                              # FCOM with empty: unordered
    assert f.sw & CC == C3 | C2 | C0


def test_stack_underflow_unmasked_no_store_no_pop():
    f = new()
    set_cw(f, 0x037E)
    assert mem(f, 0xD9, 3, 4) == (0, b"")
    assert f.top == 0 and f.tw == 0xFFFF
    assert f.sw & (IE | SF | ES | B) == IE | SF | ES | B
    f = new()
    set_cw(f, 0x037E)
    fld(f, 5)
    run(f, 0xDE, 0xC1)                              # FADDP ST(1),ST with ST(1) empty
    assert f.top == 7 and st(f, 0) == 5 and f.tag(0) == 3


def test_287_stack_fault_sets_only_ie():
    # SDM vol. 3 "Stack Fault Flag": bit 6 is reserved on the 16-bit coprocessors.
    f = new(2)
    run(f, 0xD8, 0xC1)
    assert f.sw & (IE | SF) == IE


# ================================================================ arithmetic

ARITH = [(0, lambda a, b: a + b), (1, lambda a, b: a * b), (4, lambda a, b: a - b),
         (5, lambda a, b: b - a), (6, lambda a, b: a / b), (7, lambda a, b: b / a)]


@pytest.mark.parametrize("r,op", ARITH)
def test_arith_register_forms(r, op):
    a, b = Fraction(6), Fraction(-3)
    # D8: ST(0) = ST(0) op ST(i)
    f = new()
    fld(f, b)
    fld(f, a)
    run(f, 0xD8, 0xC0 | (r << 3) | 1)
    assert st(f, 0) == op(a, b) and st(f, 1) == b and f.top == 6
    # DC: ST(i) = ST(0) op' ST(i); op by reg is the same function of (ST0, STi)
    f = new()
    fld(f, b)
    fld(f, a)
    run(f, 0xDC, 0xC0 | (r << 3) | 1)
    assert st(f, 0) == a and st(f, 1) == op(a, b)
    # DE: the same, then pop
    f = new()
    fld(f, b)
    fld(f, a)
    run(f, 0xDE, 0xC0 | (r << 3) | 1)
    assert f.top == 7 and st(f, 0) == op(a, b) and f.tag(6) == 3


def test_arith_mnemonics_spot_check():
    # SDM vol. 2 FSUB: DC E8+i FSUB ST(i),ST(0) is ST(i) - ST(0); DE E9 FSUBP likewise.
    f = new()
    fld(f, 10)
    fld(f, 4)
    run(f, 0xDC, 0xE9)                              # FSUB ST(1),ST(0)
    assert st(f, 1) == 6
    run(f, 0xDE, 0xF9)                              # FDIVP ST(1),ST(0): ST1 = 6 / 4
    assert st(f, 0) == Fraction(3, 2)
    fld(f, 3)
    run(f, 0xDE, 0xE1)                              # FSUBRP ST(1),ST(0): ST0 - ST1 = 3 - 1.5
    assert st(f, 0) == Fraction(3, 2)


@pytest.mark.parametrize("r,op", ARITH)
def test_arith_memory_forms(r, op):
    a = Fraction(6)
    for opcode, data, b in ((0xD8, le(0xC0400000, 4), Fraction(-3)),       # m32real -3.0
                            (0xDC, le(0x4008000000000000, 8), Fraction(3)),  # m64real 3.0
                            (0xDA, le(-3, 4), Fraction(-3)),                 # m32int
                            (0xDE, le(12, 2), Fraction(12))):               # m16int
        f = new()
        fld(f, a)
        assert mem(f, opcode, r, data) == (OK, b"")
        assert st(f, 0) == op(a, b), (opcode, r)
        assert f.top == 7


def test_precision_control_applies_to_arithmetic_only():
    third = Fraction(1, 3)
    for pc, bits in ((0, 24), (2, 53), (3, 64)):
        f = new()
        set_cw(f, 0x007F | (pc << 8))
        fld(f, 3)
        fld(f, 1)
        run(f, 0xD8, 0xF1)                          # FDIV ST,ST(1)
        assert f.st(0) == rounded(third, bits)
        assert f.sw & PE
    # FSQRT obeys PC too; FILD and FLD do not (exact 64-bit integer).
    f = new()
    set_cw(f, 0x007F)
    fld(f, 2)
    run(f, 0xD9, 0xFA)
    assert f.st(0) == f80(Fraction(0xB504F3, 1 << 23))    # sqrt 2 to 24 bits, nearest
    big = (1 << 63) - 1
    mem(f, 0xDF, 5, le(big, 8))                     # FILD m64
    assert st(f, 0) == big


def test_c1_set_when_rounded_up():
    f = new()
    fld(f, 3)
    fld(f, 2)
    run(f, 0xD8, 0xF1)                              # 2/3 = 0.AAAA..., nearest rounds up
    assert f.st(0) == rounded(Fraction(2, 3), 64)
    assert f.sw & (C1 | PE) == C1 | PE
    fld(f, 7)
    fld(f, 1)
    run(f, 0xD8, 0xF1)                              # 1/7 = 1.001001...b * 2^-3 rounds down
    assert f.st(0) == rounded(Fraction(1, 7), 64)
    assert abs(exact_value(f.st(0))) < Fraction(1, 7)
    assert f.sw & C1 == 0 and f.sw & PE


def test_unmasked_zero_divide_keeps_destination():
    f = new()
    set_cw(f, 0x037B)                               # ZM clear
    fldz = (0xD9, 0xEE)
    run(f, *fldz)
    fld(f, 5)
    run(f, 0xDE, 0xF9)                              # FDIVP ST(1),ST: 0/5 fine
    assert st(f, 0) == 0 and f.sw & ZE == 0
    fld(f, 5)
    run(f, 0xDE, 0xF9)                              # FDIVP ST(1),ST(0): ST1 = ST1 / ST0 = 0/5
    fld(f, 0)
    fld(f, 1)
    top = f.top
    run(f, 0xDE, 0xF1)                              # FDIVRP ST(1),ST: ST0/ST1 = 1/0
    assert f.top == top and st(f, 0) == 1 and st(f, 1) == 0
    assert f.sw & (ZE | ES | B) == ZE | ES | B
    run(f, 0xDB, 0xE2)                              # FNCLEX
    assert f.sw & (ZE | ES | B | SF | 0x3F) == 0


def test_masked_zero_divide_gives_infinity():
    f = new()
    fld(f, 0)
    fld(f, -1)
    run(f, 0xD8, 0xF1)
    assert f.st(0) == NEG_INF and f.sw & (ZE | ES) == ZE


def test_unmasked_invalid_keeps_destination_and_stack():
    f = new()
    set_cw(f, 0x037E)
    fld_raw(f, SNAN)
    fld(f, 1)
    run(f, 0xDE, 0xC1)                              # FADDP with an SNaN: IE unmasked
    assert f.top == 6 and st(f, 0) == 1 and f.st(1) == SNAN
    assert f.sw & (IE | ES | B) == IE | ES | B and f.sw & SF == 0


def test_unmasked_overflow_register_gets_wrapped_result_memory_gets_nothing():
    f = new()
    set_cw(f, 0x0377)                               # OM clear
    big = (1 << 79 - 1) and (0x7FFE_8000000000000000)      # 2^16383
    fld_raw(f, big)
    fld_raw(f, big)
    run(f, 0xD8, 0xC9)                              # FMUL: 2^32766, exponent out of range
    # wrapped by 24576 [SDM vol. 1 8.5.4 / 4.9.1.4]
    assert f.st(0) == ((32766 - 24576 + 16383) << 64) | (1 << 63)
    assert f.sw & (OE | ES) == OE | ES
    f = new()
    set_cw(f, 0x0377)
    fld_raw(f, big)
    assert mem(f, 0xD9, 3, 4) == (0, b"")           # FSTP m32: no store, no pop
    assert f.top == 7 and f.sw & (OE | ES) == OE | ES


def test_denormal_operand_unmasked_blocks_load():
    f = new()
    set_cw(f, 0x037D)                               # DM clear
    assert mem(f, 0xD9, 0, le(1, 4)) == (OK, b"")   # FLD m32 denormal
    assert f.top == 0 and f.tw == 0xFFFF and f.sw & (DE | ES) == DE | ES
    f = new()
    mem(f, 0xD9, 0, le(1, 4))                       # masked: loads exactly
    assert st(f, 0) == Fraction(1, 2 ** 149) and f.sw & DE


def test_projective_infinity_on_287():
    f = new(2)                                      # FINIT: IC = 0, projective
    fld_raw(f, POS_INF)
    fld_raw(f, POS_INF)
    run(f, 0xD8, 0xC1)
    assert f.st(0) == INDEFINITE and f.sw & IE
    f = new(2)
    set_cw(f, 0x137F)                               # affine
    fld_raw(f, POS_INF)
    fld_raw(f, POS_INF)
    run(f, 0xD8, 0xC1)
    assert f.st(0) == POS_INF and not f.sw & IE
    f = new(6)                                      # 387+: always affine
    fld_raw(f, POS_INF)
    fld_raw(f, POS_INF)
    run(f, 0xD8, 0xC1)
    assert f.st(0) == POS_INF


# ================================================================ loads and stores

def test_loads_and_stores_every_format():
    f = new()
    mem(f, 0xD9, 0, le(0x3FC00000, 4))              # FLD m32 1.5
    assert st(f, 0) == Fraction(3, 2)
    mem(f, 0xDD, 0, le(0xC00C000000000000, 8))      # FLD m64 -3.5
    assert st(f, 0) == Fraction(-7, 2)
    assert mem(f, 0xD9, 2, 4) == (4, le(0xC0600000, 4))     # FST m32 -3.5
    assert mem(f, 0xDD, 2, 8) == (8, le(0xC00C000000000000, 8))
    assert mem(f, 0xDB, 2, 4) == (4, le(-4, 4))     # FIST m32: -3.5 nearest even -> -4
    assert f.sw & PE
    assert mem(f, 0xDF, 2, 2) == (2, le(-4, 2))
    assert mem(f, 0xDB, 7, 10) == (10, le(f80(Fraction(-7, 2)), 10))   # FSTP m80
    assert f.top == 7
    mem(f, 0xDF, 0, le(-2, 2))                      # FILD m16
    mem(f, 0xDB, 0, le(100000, 4))                  # FILD m32
    mem(f, 0xDF, 5, le(-(1 << 62), 8))              # FILD m64
    assert [st(f, i) for i in range(4)] == [-(1 << 62), 100000, -2, Fraction(3, 2)]
    assert mem(f, 0xDF, 7, 8) == (8, le(-(1 << 62), 8))     # FISTP m64
    assert mem(f, 0xDB, 3, 4) == (4, le(100000, 4))         # FISTP m32
    assert mem(f, 0xDF, 3, 2) == (2, le(-2, 2))             # FISTP m16
    assert f.top == 7
    assert mem(f, 0xD9, 3, 4) == (4, le(0x3FC00000, 4))     # FSTP m32
    assert f.top == 0 and f.tw == 0xFFFF


def test_fist_rounding_control():
    for rc, expect in ((0, (2, -2)), (1, (2, -3)), (2, (3, -2)), (3, (2, -2))):
        f = new()
        set_cw(f, 0x037F | (rc << 10))
        for x, e in zip((Fraction(5, 2), Fraction(-5, 2)), expect):
            fld(f, x)
            assert mem(f, 0xDF, 3, 2) == (2, le(e, 2)), (rc, x)


def test_fist_out_of_range_masked_and_unmasked():
    f = new()
    fld(f, 40000)
    assert mem(f, 0xDF, 3, 2) == (2, le(0x8000, 2)) and f.sw & IE
    f = new()
    set_cw(f, 0x037E)
    fld(f, 40000)
    assert mem(f, 0xDF, 3, 2) == (0, b"") and f.top == 7


def test_bcd():
    f = new()
    bcd = bytes([0x89, 0x67, 0x45, 0x23, 0x01, 0, 0, 0, 0, 0x80])    # -123456789
    assert mem(f, 0xDF, 4, bcd) == (OK, b"")
    assert st(f, 0) == -123456789
    assert mem(f, 0xDF, 6, 10) == (10, bcd) and f.top == 0


def test_fld_m80_snan_raises_nothing_fld_m32_snan_raises_ie():
    f = new()
    fld_raw(f, SNAN)
    assert f.st(0) == SNAN and f.sw & 0x3F == 0
    f = new()
    mem(f, 0xD9, 0, le(0x7F800001, 4))              # FLD m32 SNaN: IE, quieted
    assert f.sw & IE and f.st(0) == 0x7FFF_C000010000000000
    f = new()
    set_cw(f, 0x037E)
    mem(f, 0xD9, 0, le(0x7F800001, 4))
    assert f.top == 0 and f.sw & (IE | ES) == IE | ES


# ================================================================ compares

CMP_CASES = [(5, 3, 0), (3, 5, C0), (4, 4, C3)]


@pytest.mark.parametrize("a,b,cc", CMP_CASES)
def test_fcom_family(a, b, cc):
    f = new()
    fld(f, b)
    fld(f, a)
    run(f, 0xD8, 0xD1)                              # FCOM ST(1)
    assert f.sw & CC == cc and f.top == 6
    run(f, 0xDC, 0xD1)                              # FCOM2 alias
    assert f.sw & CC == cc
    run(f, 0xDD, 0xE1)                              # FUCOM
    assert f.sw & CC == cc
    run(f, 0xD8, 0xD9)                              # FCOMP
    assert f.sw & CC == cc and f.top == 7
    f = new()
    fld(f, b)
    fld(f, a)
    run(f, 0xDE, 0xD9)                              # FCOMPP
    assert f.sw & CC == cc and f.top == 0 and f.tw == 0xFFFF
    f = new()
    fld(f, b)
    fld(f, a)
    run(f, 0xDA, 0xE9)                              # FUCOMPP
    assert f.sw & CC == cc and f.top == 0
    for esc, r in ((0xDE, 2), (0xDA, 2)):           # FICOM m16 / m32
        f = new()
        fld(f, a)
        mem(f, esc, r, le(b, 2 if esc == 0xDE else 4))
        assert f.sw & CC == cc
    f = new()
    fld(f, a)
    mem(f, 0xDC, 3, le(f80_to_f64(b), 8))           # FCOMP m64
    assert f.sw & CC == cc and f.top == 0


def f80_to_f64(x):
    import struct
    return struct.unpack("<Q", struct.pack("<d", float(x)))[0]


def test_fcom_nan_invalid_fucom_quiet():
    f = new()
    fld_raw(f, QNAN)
    fld(f, 1)
    run(f, 0xDD, 0xE1)                              # FUCOM with a QNaN: unordered, no IE
    assert f.sw & CC == C3 | C2 | C0 and f.sw & IE == 0
    run(f, 0xD8, 0xD1)                              # FCOM with a QNaN: IE
    assert f.sw & CC == C3 | C2 | C0 and f.sw & IE
    f = new()
    set_cw(f, 0x037E)
    fld_raw(f, QNAN)
    fld(f, 1)
    f.sw |= C1
    run(f, 0xD8, 0xD9)                              # FCOMP unmasked IE: no CC change, no pop
    assert f.sw & CC == C1 and f.top == 6


def test_ftst_and_fxam():
    for x, cc in ((1, 0), (-1, C0), (0, C3)):
        f = new()
        fld(f, x)
        run(f, 0xD9, 0xE4)
        assert f.sw & CC == cc
    f = new()
    fld_raw(f, QNAN)
    run(f, 0xD9, 0xE4)
    assert f.sw & CC == C3 | C2 | C0 and f.sw & IE
    # FXAM [SDM vol. 2 FXAM Table 3-46]; C1 = sign
    classes = [(0x0000_8000000000000000 | (1 << 79), C3 | C2 | C1),  # pseudo-denormal, negative
               (0x0000_0000000000000001, C3 | C2),                   # denormal
               (f80(-2), C2 | C1),                                    # normal
               (POS_INF, C2 | C0),
               (QNAN, C0), (SNAN, C0),
               (0, C3),
               (1 << 79, C3 | C1),                                    # -0
               (0x4000_4000000000000000, 0)]                          # unnormal
    for enc, cc in classes:
        f = new()
        fld_raw(f, enc)
        run(f, 0xD9, 0xE5)
        assert f.sw & CC == cc, hex(enc)
        assert f.sw & 0x3F == 0
    f = new()
    run(f, 0xD9, 0xE5)                              # empty
    assert f.sw & (C3 | C2 | C0) == C3 | C0


@pytest.mark.parametrize("a,b,fl", [(5, 3, 0), (3, 5, CF), (4, 4, ZF)])
def test_fcomi_flags(a, b, fl):
    for modrm, pops in ((0xF1, 0), (0xE9, 0)):       # DB F0+i FCOMI, DB E8+i FUCOMI
        f = new()
        fld(f, b)
        fld(f, a)
        f.sw |= C1
        assert run(f, 0xDB, modrm) == FLAGS
        assert f.eflags_out == fl and f.top == 6 and f.sw & C1 == 0
    for modrm in (0xF1, 0xE9):                      # DF: FCOMIP / FUCOMIP
        f = new()
        fld(f, b)
        fld(f, a)
        assert run(f, 0xDF, modrm) == FLAGS
        assert f.eflags_out == fl and f.top == 7


def test_fcomi_unordered_and_level():
    f = new()
    fld_raw(f, QNAN)
    fld(f, 1)
    assert run(f, 0xDB, 0xE9) == FLAGS and f.eflags_out == ZF | PF | CF and not f.sw & IE
    assert run(f, 0xDB, 0xF1) == FLAGS and f.sw & IE
    g = new(5)
    fld(g, 1)
    assert run(g, 0xDB, 0xF0) == UD
    assert run(g, 0xDA, 0xC0) == UD                 # FCMOVB is P6
    assert new(2).execute_reg(5, 0xE1) == UD        # FUCOM is 387


@pytest.mark.parametrize("esc,r,cond", [
    (0xDA, 0, lambda e: e & CF), (0xDA, 1, lambda e: e & ZF),
    (0xDA, 2, lambda e: e & (CF | ZF)), (0xDA, 3, lambda e: e & PF),
    (0xDB, 0, lambda e: not e & CF), (0xDB, 1, lambda e: not e & ZF),
    (0xDB, 2, lambda e: not e & (CF | ZF)), (0xDB, 3, lambda e: not e & PF)])
def test_fcmovcc(esc, r, cond):
    for ef in (0, CF, ZF, PF, CF | ZF, CF | PF | ZF):
        f = new()
        fld(f, 9)
        fld(f, 1)
        assert run(f, esc, 0xC0 | (r << 3) | 1, ef) == OK
        assert st(f, 0) == (9 if cond(ef) else 1) and f.top == 6


# ================================================================ other arithmetic

def test_fchs_fabs_fsqrt_frndint_fscale_fxtract():
    f = new()
    fld(f, 3)
    run(f, 0xD9, 0xE0)
    assert st(f, 0) == -3
    run(f, 0xD9, 0xE1)
    assert st(f, 0) == 3
    fld(f, 16)
    run(f, 0xD9, 0xFA)
    assert st(f, 0) == 4
    fld(f, Fraction(5, 2))
    run(f, 0xD9, 0xFC)                              # nearest even
    assert st(f, 0) == 2 and f.sw & PE
    set_cw(f, 0x0B7F)                               # RC up
    fld(f, Fraction(5, 2))
    run(f, 0xD9, 0xFC)
    assert st(f, 0) == 3
    f = new()
    fld(f, 3)
    fld(f, Fraction(3, 2))
    run(f, 0xD9, 0xFD)                              # FSCALE: 1.5 * 2^3
    assert st(f, 0) == 12 and st(f, 1) == 3
    f = new()
    fld(f, 12)
    run(f, 0xD9, 0xF4)                              # FXTRACT: ST0 = 1.5, ST1 = 3
    assert st(f, 0) == Fraction(3, 2) and st(f, 1) == 3 and f.top == 6


def test_fxtract_zero_divide():
    f = new()
    fld(f, 0)
    run(f, 0xD9, 0xF4)
    assert f.sw & ZE and f.st(1) == NEG_INF and st(f, 0) == 0


def prem_loop(f, op):
    n = 0
    while True:
        run(f, 0xD9, op)
        n += 1
        if not f.sw & C2:
            return n
        assert n < 100


@pytest.mark.parametrize("op,ieee", [(0xF8, False), (0xF5, True)])
def test_fprem_loop_until_c2_clear(op, ieee):
    x, y = Fraction(2) ** 200 + 5, Fraction(7)
    x = Fraction(2) ** 200                          # exactly representable
    f = new()
    fld(f, y)
    fld(f, x)
    n = prem_loop(f, op)
    assert n > 1                                    # the exponent difference is > 63
    if ieee:
        q = (2 ** 200 + 3) // 7                     # nearest (no tie: 7 is odd)
    else:
        q = 2 ** 200 // 7
    assert st(f, 0) == x - q * y
    sw = f.sw
    got = ((sw & C0) != 0) << 2 | ((sw & C3) != 0) << 1 | ((sw & C1) != 0)
    assert got == q & 7
    assert st(f, 1) == 7


def test_fprem_small():
    f = new()
    fld(f, 3)
    fld(f, 17)
    run(f, 0xD9, 0xF8)                              # 17 = 5*3 + 2
    assert st(f, 0) == 2 and f.sw & C2 == 0
    assert f.sw & (C0 | C3 | C1) == C1 | 0 | C0 * 1     # Q = 5 = 101b: C0=1 C3=0 C1=1
    f = new()
    fld(f, 3)
    fld(f, 17)
    run(f, 0xD9, 0xF5)                              # FPREM1: 17 = 6*3 - 1
    assert st(f, 0) == -1 and f.sw & (C0 | C3 | C1) == C0 | C3


# ================================================================ constants and transcendentals

PI64 = 0xC90FDAA22168C234C4C6628B80DC1CD1           # pi * 2^126, truncated (128 bits)


def test_constants():
    f = new()
    for i, modrm in enumerate((0xE8, 0xEE)):
        run(f, 0xD9, modrm)
    assert st(f, 0) == 0 and st(f, 1) == 1
    run(f, 0xD9, 0xEB)                              # FLDPI, nearest
    assert f.st(0) == 0x4000_C90FDAA22168C235
    assert f.sw & (PE | C1) == 0
    set_cw(f, 0x077F)                               # RC down
    run(f, 0xD9, 0xEB)
    assert f.st(0) == 0x4000_C90FDAA22168C234
    assert run(f, 0xD9, 0xEF) == UD


def test_transcendentals_basic():
    f = new()
    fld(f, 0)
    run(f, 0xD9, 0xF2)                              # FPTAN 0 -> 0, push 1
    assert st(f, 0) == 1 and st(f, 1) == 0 and f.sw & C2 == 0
    f = new()
    fld(f, 0)
    run(f, 0xD9, 0xFB)                              # FSINCOS 0: ST0 = cos = 1, ST1 = sin = 0
    assert st(f, 0) == 1 and st(f, 1) == 0
    f = new()
    fld(f, 0)
    run(f, 0xD9, 0xFE)
    assert st(f, 0) == 0
    run(f, 0xD9, 0xFF)
    assert st(f, 0) == 1
    f = new()
    fld(f, Fraction(2) ** 63)                       # out of range: C2, unchanged
    for modrm in (0xFE, 0xFF, 0xF2, 0xFB):
        run(f, 0xD9, modrm)
        assert f.sw & C2 and st(f, 0) == Fraction(2) ** 63 and f.top == 7
    f = new()
    fld(f, 1)
    fld(f, 1)
    run(f, 0xD9, 0xF3)                              # FPATAN(1/1) = pi/4
    assert f.st(0) == 0x3FFE_C90FDAA22168C235 and f.top == 7
    f = new()
    fld(f, 1)
    fld(f, 8)
    run(f, 0xD9, 0xF1)                              # FYL2X: 1 * log2(8) = 3
    assert st(f, 0) == 3 and f.top == 7
    f = new()
    fld(f, 5)
    fld(f, 0)
    run(f, 0xD9, 0xF9)                              # FYL2XP1: 5 * log2(1) = 0
    assert st(f, 0) == 0 and f.top == 7
    f = new()
    fld(f, 1)
    run(f, 0xD9, 0xF0)                              # F2XM1(1) = 1
    assert st(f, 0) == 1
    fld(f, -1)
    run(f, 0xD9, 0xF0)                              # F2XM1(-1) = -1/2
    assert st(f, 0) == Fraction(-1, 2)


def test_two_result_stack_faults():
    f = new()
    for k in range(8):
        fld(f, 1)
    run(f, 0xD9, 0xF2)                              # FPTAN with ST(7) in use
    assert f.sw & (IE | SF | C1) == IE | SF | C1
    assert f.st(0) == INDEFINITE and f.st(1) == INDEFINITE


def test_387_only_instructions_ud_on_287():
    f = new(2)
    fld(f, 1)
    for modrm in (0xF5, 0xFB, 0xFE, 0xFF):
        assert run(f, 0xD9, modrm) == UD


# ================================================================ control instructions

def test_fldcw_fstcw_fstsw():
    f = new()
    set_cw(f, 0x0000)
    assert mem(f, 0xD9, 7, 2) == (2, le(0x0040, 2))     # bit 6 reads as 1
    set_cw(f, 0xFFFF)
    assert f.cw == 0x1F7F
    f = new()
    fld(f, 1)
    assert mem(f, 0xDD, 7, 2) == (2, le(f.sw, 2))
    assert run(f, 0xDF, 0xE0) == AX
    assert new(1).execute_reg(7, 0xE0) == UD            # no FNSTSW AX on the 8087


def test_fldcw_recomputes_es():
    f = new()
    fld(f, 0)
    fld(f, 1)
    run(f, 0xD8, 0xF1)                              # masked ZE
    assert f.sw & (ZE | ES | B) == ZE
    set_cw(f, 0x037B)                               # unmask ZE: now pending
    assert f.sw & (ES | B) == ES | B
    set_cw(f, 0x037F)
    assert f.sw & (ES | B) == 0 and f.sw & ZE


def test_8087_feni_fdisi():
    f = new(1)
    run(f, 0xDB, 0xE0)                              # FENI clears IEM
    assert f.cw & 0x80 == 0
    run(f, 0xDB, 0xE1)                              # FDISI sets it
    assert f.cw & 0x80
    g = new(3)
    run(g, 0xDB, 0xE0)
    run(g, 0xDB, 0xE1)
    assert g.cw == 0x037F
    assert run(g, 0xDB, 0xE4) == OK                 # FSETPM: no-op on the 387+


def test_ud_encodings():
    f = new()
    fld(f, 1)
    fld(f, 1)
    for op, modrm in ((0xD9, 0xD1), (0xD9, 0xE2), (0xD9, 0xE3), (0xD9, 0xE6), (0xD9, 0xE7),
                      (0xDA, 0xE0), (0xDA, 0xE8), (0xDA, 0xF0), (0xDB, 0xE5), (0xDB, 0xF8),
                      (0xDD, 0xF0), (0xDD, 0xF8), (0xDE, 0xD8), (0xDE, 0xDA),
                      (0xDF, 0xE1), (0xDF, 0xF8)):
        assert run(f, op, modrm) == UD, hex(op * 256 + modrm)
    for op, r in ((0xD9, 1), (0xDB, 1), (0xDB, 4), (0xDB, 6), (0xDD, 1), (0xDD, 5), (0xDF, 1)):
        assert f.mem_operand(op - 0xD8, r) == (0, 0)
    assert run(f, 0xD9, 0xD0) == OK                 # FNOP


def test_mem_kinds_waits_and_control():
    f = new()
    LOAD, STORE = 1, 2
    assert f.mem_operand(0, 0) == (LOAD, 4)
    assert f.mem_operand(4, 7) == (LOAD, 8)
    assert f.mem_operand(6, 3) == (LOAD, 2)
    assert f.mem_operand(1, 4, op32=False) == (LOAD, 14)
    assert f.mem_operand(1, 6, op32=True) == (STORE, 28)
    assert f.mem_operand(5, 4, op32=False) == (LOAD, 94)
    assert f.mem_operand(5, 6, op32=True) == (STORE, 108)
    assert f.mem_operand(3, 5) == (LOAD, 10) and f.mem_operand(3, 7) == (STORE, 10)
    assert f.mem_operand(7, 4) == (LOAD, 10) and f.mem_operand(7, 6) == (STORE, 10)
    assert f.mem_operand(7, 5) == (LOAD, 8) and f.mem_operand(7, 7) == (STORE, 8)
    assert f.mem_operand(1, 5) == (LOAD, 2) and f.mem_operand(1, 7) == (STORE, 2)
    assert f.mem_operand(5, 7) == (STORE, 2)
    nowait = [(1, 6 << 3), (1, 7 << 3), (5, 6 << 3), (5, 7 << 3),
              (3, 0xE0), (3, 0xE1), (3, 0xE2), (3, 0xE3), (3, 0xE4), (7, 0xE0)]
    for esc, modrm in nowait:
        assert not f.is_waiting(esc, modrm)
    for esc, modrm in ((1, 4 << 3), (1, 5 << 3), (5, 4 << 3), (1, 0xD0), (0, 0xC1), (7, 0xE8)):
        assert f.is_waiting(esc, modrm)
    control = nowait + [(1, 4 << 3), (1, 5 << 3), (5, 4 << 3)]
    for esc, modrm in control:
        assert f.is_control_instr(esc, modrm)
    for esc, modrm in ((1, 0xD0), (0, 0), (5, 0), (7, 0xE8), (3, 0xE8)):
        assert not f.is_control_instr(esc, modrm)


# ================================================================ environment and save images

def env_state():
    f = new()
    fld(f, 1)                                       # R7 valid
    fld(f, 0)                                       # R6 zero
    fld_raw(f, POS_INF)                             # R5 special
    f.sw |= C3 | PE                                 # TOP = 5
    f.fip, f.fcs, f.fdp, f.fds, f.fop = 0x00005678, 0x1234, 0x00000010, 0x2000, 0x5D9
    return f


TW = 0x03FF | (2 << 10) | (1 << 12) | (0 << 14)     # R0-R4 empty, R5 special, R6 zero, R7 valid


def words(b, n):
    return [int.from_bytes(b[k:k + n], "little") for k in range(0, len(b), n)]


def test_fstenv_protected_32():
    # SDM vol. 1 Figure 8-9.  The reserved upper halves hold FFFFh (modelled choice:
    # what the Pentium-class parts store; the SDM leaves them reserved).
    f = env_state()
    f.fip = 0x12345678
    f.fdp = 0x9ABCDEF0
    sw = f.sw
    rc, b = mem(f, 0xD9, 6, 28, op32=True, pm=True)
    assert rc == 28
    d = words(b, 4)
    assert d[0] & 0xFFFF == 0x037F and d[1] & 0xFFFF == sw and (sw >> 11) & 7 == 5
    assert d[2] & 0xFFFF == TW
    assert d[3] == 0x12345678
    assert d[4] & 0xFFFF == 0x1234 and (d[4] >> 16) & 0x7FF == 0x5D9 and d[4] >> 27 == 0
    assert d[5] == 0x9ABCDEF0
    assert d[6] & 0xFFFF == 0x2000
    assert [x >> 16 for x in (d[0], d[1], d[2], d[6])] == [0xFFFF] * 4
    assert f.cw == 0x037F | 0x3F                    # FNSTENV masks all exceptions


def test_fstenv_protected_16():
    # SDM vol. 1 Figure 8-11
    f = env_state()
    sw = f.sw
    rc, b = mem(f, 0xD9, 6, 14, op32=False, pm=True)
    assert rc == 14
    assert words(b, 2) == [0x037F, sw, TW, 0x5678, 0x1234, 0x0010, 0x2000]


def test_fstenv_real_32():
    # SDM vol. 1 Figure 8-10: 32-bit linear pointers CS*16+IP split 15..0 / 31..16
    f = env_state()
    sw = f.sw
    ip = 0x12340 + 0x5678                           # 0x179B8
    dp = 0x20000 + 0x0010
    rc, b = mem(f, 0xD9, 6, 28, op32=True, pm=False)
    d = words(b, 4)
    assert d[0] & 0xFFFF == 0x037F and d[1] & 0xFFFF == sw and d[2] & 0xFFFF == TW
    assert d[3] & 0xFFFF == ip & 0xFFFF
    assert d[4] == ((ip >> 16) << 12) | 0x5D9       # bits 27-12 IP 31..16, bit 11 0, opcode
    assert d[5] & 0xFFFF == dp & 0xFFFF
    assert d[6] == (dp >> 16) << 12


def test_fstenv_real_16():
    # SDM vol. 1 Figure 8-12: IP 19..16 in bits 15-12 with the opcode
    f = env_state()
    sw = f.sw
    rc, b = mem(f, 0xD9, 6, 14, op32=False, pm=False)
    assert words(b, 2) == [0x037F, sw, TW, 0x79B8, 0x1000 | 0x5D9, 0x0010, 0x2000]


@pytest.mark.parametrize("op32", [False, True])
@pytest.mark.parametrize("pm", [False, True])
def test_fldenv_round_trip(op32, pm):
    f = env_state()
    sw, tw = f.sw, f.tw
    rc, img = mem(f, 0xD9, 6, 28 if op32 else 14, op32=op32, pm=pm)
    g = new()
    for k in range(8):
        g.set_phys(k, f.phys(k))                    # same register contents
    assert mem(g, 0xD9, 4, img, op32=op32, pm=pm) == (OK, b"")
    assert g.cw == 0x037F and g.sw == sw and g.tw == tw
    if pm:
        assert (g.fip, g.fcs, g.fdp, g.fds) == (0x5678, 0x1234, 0x0010, 0x2000)
        assert g.fop == (0x5D9 if op32 else 0)
    else:                                           # real mode: linear pointers, selector 0
        assert (g.fip, g.fcs, g.fdp, g.fds, g.fop) == (0x179B8, 0, 0x20010, 0, 0x5D9)


def test_fldenv_tags_recomputed_and_es():
    f = new()
    f.set_phys(0, f80(3))
    img = bytearray(14)
    img[0:2] = le(0x037E, 2)                        # IM clear
    img[2:4] = le(IE, 2)                            # pending IE, TOP 0
    img[4:6] = le(0xFFFD, 2)                        # R0 "zero" (wrong), others empty
    mem(f, 0xD9, 4, bytes(img), op32=False, pm=True)
    assert f.tag(0) == 0                            # the 387+ recompute: valid
    assert f.sw & (ES | B) == ES | B
    g = new(2)                                      # the 287 honours the tag as loaded
    g.set_phys(0, f80(3))
    mem(g, 0xD9, 4, bytes(img), op32=False, pm=True)
    assert g.tag(0) == 1


@pytest.mark.parametrize("op32", [False, True])
@pytest.mark.parametrize("pm", [False, True])
def test_fsave_frstor(op32, pm):
    f = env_state()
    sw, tw, state = f.sw, f.tw, f.state()
    n = 108 if op32 else 94
    rc, img = mem(f, 0xDD, 6, n, op32=op32, pm=pm)
    assert rc == n
    envlen = n - 80
    _, env = env_state().execute_mem(1, 6, envlen, op32, pm)
    assert img[:envlen] == env
    # registers in ST order: ST(0) = R5 (+inf), ST(1) = R6 (0), ST(2) = R7 (1)
    regs = [int.from_bytes(img[envlen + 10 * k:envlen + 10 * k + 10], "little") for k in range(8)]
    assert regs[:3] == [POS_INF, 0, f80(1)]
    assert regs[3:] == [state["regs"][(5 + k) & 7] for k in range(3, 8)]
    # FSAVE reinitialises
    assert (f.cw, f.sw, f.tw) == (0x037F, 0, 0xFFFF) and f.fip == 0
    g = new()
    assert mem(g, 0xDD, 4, img, op32=op32, pm=pm) == (OK, b"")
    assert g.sw == sw and g.tw == tw and g.cw == 0x037F
    assert [g.st(k) for k in range(3)] == [POS_INF, 0, f80(1)]
    assert g.state()["regs"] == state["regs"]


# ================================================================ Python API

def test_python_api():
    f = new()
    f.set_st(0, f80(2))
    assert f.tag(0) == 0 and f.st(0) == f80(2)
    f.top = 3
    assert f.sw >> 11 & 7 == 3
    f.set_st(1, 0)
    assert f.phys(4) == 0 and f.tag(4) == 1
    d = f.state()
    g = FPU(6)
    g.load_state(d)
    assert g.state() == d
    assert set(d) == {"cw", "sw", "tw", "fip", "fcs", "fdp", "fds", "fop", "regs"}


def test_describe():
    assert describe(f80(Fraction(-3, 2))) == "-1.5 (normal)"
    assert describe(0x4000_C90FDAA22168C235) == "3.141592653589793239 (normal)"
    assert describe(POS_INF) == "+inf (infinity)"
    assert describe(INDEFINITE) == "-nan (indefinite)"
    assert describe(SNAN) == "+nan (SNaN)"
    assert describe(1 << 79) == "-0 (zero)"
    assert describe(1) == "3.645199531882474603e-4951 (denormal)"
    assert describe(f80(Fraction(1, 1024))) == "0.0009765625 (normal)"
    assert classify(0x4000_4000000000000000) == "unnormal"
    assert classify(0x7FFF_0000000000000001) == "pseudo-NaN"
    assert classify(0x7FFF_0000000000000000) == "pseudo-infinity"
    assert classify(0x0000_8000000000000000) == "pseudo-denormal"


# ================================================================ Unicorn as an oracle

def _unicorn():
    unicorn = pytest.importorskip("unicorn")
    from unicorn import x86_const as X
    mu = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_32)
    mu.mem_map(0x10000, 0x10000)
    return mu, X


DATA = 0x18000


def _on_unicorn(program, data):
    """Run FNINIT + program + FNSAVE [DATA+0x800] on Unicorn; return (sw, tw, regs in ST order)."""
    mu, X = _unicorn()
    mu.mem_write(DATA, data)
    code = bytes([0xDB, 0xE3]) + program + bytes([0xDD, 0x35]) + (DATA + 0x800).to_bytes(4, "little")
    mu.mem_write(0x10000, code)
    mu.emu_start(0x10000, 0x10000 + len(code))
    img = bytes(mu.mem_read(DATA + 0x800, 108))
    sw = int.from_bytes(img[4:6], "little")
    tw = int.from_bytes(img[8:10], "little")
    regs = [int.from_bytes(img[28 + 10 * k:38 + 10 * k], "little") for k in range(8)]
    return sw, tw, regs


# Programs made of register forms and FLD m80 [DATA + 10k] (DB 2D disp32).
def _fld80(k):
    return bytes([0xDB, 0x2D]) + (DATA + 10 * k).to_bytes(4, "little")


VALUES = [f80(3), 0, POS_INF, QNAN, 0x0000_0000000000000005, f80(-7), NEG_INF, f80(Fraction(1, 3) * 3)]

SEQUENCES = [
    [_fld80(0), _fld80(1), _fld80(2), b"\xD9\xC9", b"\xDD\xC1", b"\xD9\xF7"],
    [_fld80(0), _fld80(5), b"\xD8\xD1", b"\xD9\xE5"],
    [_fld80(5), _fld80(0), b"\xDE\xD9"],
    [_fld80(3), _fld80(0), b"\xDD\xE1", b"\xD9\xE8"],
    [_fld80(4), b"\xD9\xE5"],
    [_fld80(6), b"\xD9\xE5"],
    [_fld80(6), b"\xD9\xE4"],
    [_fld80(1), b"\xD9\xE4", b"\xD9\xEE"],
    [_fld80(1), b"\xD9\xEE", b"\xD9\xF6", b"\xD9\xF6", b"\xD9\xE5"],
    [_fld80(0), _fld80(0), b"\xD9\xE5", b"\xD9\xC0", b"\xDF\xC1"],
    [_fld80(0), _fld80(5), b"\xD8\xD9", b"\xD9\xE5"],
    [b"\xD9\xE5"],
    [_fld80(2), _fld80(6), b"\xDA\xE9"],            # FUCOMPP inf vs -inf
    [_fld80(5), b"\xD9\xE1", b"\xD9\xE0", b"\xD9\xE4"],
]


def _exec_bytes(f, program):
    """Run a program of the forms used above on the unit."""
    k = 0
    while k < len(program):
        op, modrm = program[k], program[k + 1]
        if modrm == 0x2D:
            idx = (int.from_bytes(program[k + 2:k + 6], "little") - DATA) // 10
            rc, _ = f.execute_mem(op - 0xD8, 5, VALUES[idx].to_bytes(10, "little"))
            k += 6
        else:
            rc = f.execute_reg(op - 0xD8, modrm)
            k += 2
        assert rc in (OK, FLAGS)


@pytest.mark.parametrize("seq", range(len(SEQUENCES)))
def test_against_unicorn(seq):
    program = b"".join(SEQUENCES[seq])
    data = b"".join(v.to_bytes(10, "little") for v in VALUES)
    u_sw, u_tw, u_regs = _on_unicorn(program, data)
    f = new()
    _exec_bytes(f, program)
    _, img = f.execute_mem(5, 6, 108, True, True)
    sw = int.from_bytes(img[4:6], "little")
    tw = int.from_bytes(img[8:10], "little")
    regs = [int.from_bytes(img[28 + 10 * k:38 + 10 * k], "little") for k in range(8)]
    # TOP, condition codes, IE and SF; the tag word; non-empty registers.
    mask = 0x3800 | CC | IE | SF
    assert sw & mask == u_sw & mask
    assert tw == u_tw
    for k in range(8):
        if (tw >> (2 * ((sw >> 11) + k & 7)) & 3) != 3:
            assert regs[k] == u_regs[k], k
