"""The debugger's x87 views (debugger/x87.py and its front ends): the controller's registers,
the command language's `fp`, `set st0 = ...` and real numbers in expressions, the gdb stub's
st0-st7 and control registers (by packet and with the real gdb), and the TUI's FPU pane.

The guest is a small NASM program on a pentium2 (FPU_PROGRAM).  Expected values come from
exact arithmetic (Fractions, an independent round-to-nearest-even here) and the SDM's
definitions of the words, never from the code under test.
"""
import asyncio
import re
from decimal import Decimal, localcontext
from fractions import Fraction

import pytest

from core.machine import Machine
from debugger import expr, gdbstub, x87
from debugger.commands import CommandInterpreter
from debugger.controller import DebugError, Debugger
from tests.asm import load, nasm
from tests.test_gdbstub import stubs  # noqa: F401 (a fixture)
from tests.test_gdbstub import Client, reg_hex, run_gdb, values

BASE = 0x7C00

# After it: FNINIT, pi, 1, 1; 1 + 1 = 2; ST(2) = pi / 2 and pop.  Three pushes and a pop
# leave TOP = 8 - 3 + 1 = 6: ST0 = 1 in R6, ST1 = pi/2 in R7; R5 (the popped 2) and R0-R4
# are empty.  Every result is exact (pi's 64-bit significand halved), so no flag is set.
FPU_PROGRAM = """
    fninit              ; 7c00 DB E3
    fldpi               ; 7c02 D9 EB
    fld1                ; 7c04 D9 E8
    fld1                ; 7c06
    fadd st0, st1       ; 7c08 D8 C1
    fdivp st2, st0      ; 7c0a DE FA
    hlt                 ; 7c0c
"""
STEPS = 6
# pi to 60 digits; its nearest 64-bit significand (the SDM's FLDPI constant, rounded to
# nearest) is computed by nearest() below.
PI = Fraction("3.14159265358979323846264338327950288419716939937510582097494459")


def nearest(q):
    """An independent round-to-nearest-even of a positive Fraction to 80 bits (normal
    range only): (biased exponent, significand)."""
    e = q.numerator.bit_length() - q.denominator.bit_length()
    while Fraction(2) ** e > q:
        e -= 1
    while Fraction(2) ** (e + 1) <= q:
        e += 1
    scaled = q / Fraction(2) ** (e - 63)             # in [2^63, 2^64)
    sig = scaled.numerator // scaled.denominator
    rest = scaled - sig
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and sig & 1):
        sig += 1
    if sig == 1 << 64:
        sig, e = 1 << 63, e + 1
    return e + 16383, sig


def bits(exp, sig, sign=0):
    return sign << 79 | exp << 64 | sig


PI_EXP, PI_SIG = nearest(PI)
PI_HALF = bits(PI_EXP - 1, PI_SIG)
ONE = bits(0x3FFF, 1 << 63)
TWO = bits(0x4000, 1 << 63)


def fpu_machine(program=FPU_PROGRAM, steps=STEPS, cpu="pentium2"):
    m = Machine(cpu=cpu)
    load(m, nasm(program), cs=0, ip=BASE)
    dbg = Debugger(m)
    if steps:
        dbg.step(steps)
    return m, dbg


def run(interp, command):
    """The output lines of one command."""
    return interp.execute_capture(command).splitlines()


@pytest.fixture
def fpu():
    m, dbg = fpu_machine()
    return m, dbg, CommandInterpreter(dbg)


# ================================================================ x87: numbers

def test_pi_is_the_sdm_constant():
    # SDM vol. 1 8.3.8: pi is held as C90FDAA22168C234C...; rounded to nearest, ...C235.
    assert (PI_EXP, PI_SIG) == (0x4000, 0xC90FDAA22168C235)


@pytest.mark.parametrize("text, raw", [
    ("1.5", bits(0x3FFF, 0xC000000000000000)),
    ("-2", bits(0x4000, 1 << 63, 1)),
    ("+2.5e1", bits(0x4003, 0xC800000000000000)),
    ("0", 0),
    ("-0", 1 << 79),
    ("-0.0", 1 << 79),
    (".25", bits(0x3FFD, 1 << 63)),
    ("inf", bits(0x7FFF, 1 << 63)),
    ("-inf", bits(0x7FFF, 1 << 63, 1)),
    ("nan", bits(0x7FFF, 3 << 62)),
    ("indefinite", bits(0x7FFF, 3 << 62, 1)),
    ("snan", bits(0x7FFF, 1 << 63 | 1 << 61)),
    ("1e5000", bits(0x7FFF, 1 << 63)),                # overflows to infinity
    ("eax", None), ("0x10", None), ("1.5.2", None), ("", None),
])
def test_parse(text, raw):
    assert x87.parse(text) == raw


@pytest.mark.parametrize("text", ["0.1", "3.14159265358979323846264338327950288",
                                  "6.02214076e23", "1e-300", "123456789012345678901234567"])
def test_parse_rounds_decimals_to_nearest(text):
    assert x87.parse(text) == bits(*nearest(Fraction(text)))
    assert x87.parse("-" + text) == bits(*nearest(Fraction(text)), 1)


def test_parse_breaks_ties_to_even():
    # 1 + 2^-64 is halfway between 1 and the next value 1 + 2^-63: the even one is 1.
    # 1 + 3 * 2^-64 is halfway between 1 + 2^-63 (odd) and 1 + 2^-62 (even).
    with localcontext() as ctx:
        ctx.prec = 200
        tie_low = str(Decimal(1) + Decimal(1) / Decimal(2 ** 64))
        tie_high = str(Decimal(1) + Decimal(3) / Decimal(2 ** 64))
        above = str(Decimal(1) + Decimal(1) / Decimal(2 ** 64) + Decimal(1) / Decimal(2 ** 90))
    assert x87.parse(tie_low) == ONE
    assert x87.parse(tie_high) == bits(0x3FFF, (1 << 63) | 2)
    assert x87.parse(above) == bits(0x3FFF, (1 << 63) | 1)


def test_value_is_exact():
    assert x87.value(PI_HALF) == Fraction(PI_SIG, 1 << 63)
    assert x87.value(bits(0, 1)) == Fraction(1, 2 ** 16445)          # the least denormal
    assert x87.value(bits(0x7FFF, 1 << 63, 1)) == float("-inf")
    assert x87.value(bits(0x7FFF, 3 << 62)) != x87.value(bits(0x7FFF, 3 << 62))   # nan
    assert x87.encode(Fraction(3, 2)) == bits(0x3FFF, 0xC000000000000000)
    neg_zero = x87.value(1 << 79)                      # a float: a Fraction has no sign
    assert neg_zero == 0 and str(neg_zero) == "-0.0" and x87.encode(neg_zero) == 1 << 79
    assert x87.encode(float("-inf")) == bits(0x7FFF, 1 << 63, 1)
    assert x87.raw_text(PI_HALF) == "0x3fff:c90fdaa22168c235"
    assert x87.decimal(ONE) == "1" and x87.decimal(1 << 79) == "-0"
    assert x87.last_opcode(0x6FA) == (0xDE, 0xFA)


# ================================================================ the controller

def test_controller_reads_the_guest_fpu(fpu):
    m, dbg, _ = fpu
    s = dbg.fpu_state()
    assert s.top == 6 and s.cw == 0x037F and s.sw == 6 << 11
    # R7 (pi/2) and R6 (1) valid (00), the rest empty (11): 0000 1111 1111 1111.
    assert s.tw == 0x0FFF
    assert s.st(0) == ONE and s.st(1) == PI_HALF and s.regs[5] == TWO
    assert [s.st_tag(i) for i in range(3)] == [x87.TAG_VALID, x87.TAG_VALID, x87.TAG_EMPTY]
    assert s.condition_codes == (0, 0, 0, 0)
    assert s.rounding == "nearest" and s.precision == "extended"
    # The last non-control instruction: FDIVP ST(2), ST(0) (DE FA) at 0000:7C0A.
    assert (s.fop, s.fcs, s.fip) == (0x6FA, 0, BASE + 0x0A)
    assert dbg.register("st1") == PI_HALF and dbg.register("$fstat") == 0x3000
    assert dbg.register("ftag") == 0x0FFF and dbg.register("fioff") == BASE + 0x0A
    assert s.field("fop") == 0x6FA and s.field("st0") == ONE


def test_controller_writes_the_fpu(fpu):
    m, dbg, _ = fpu
    dbg.set_register("st2", x87.encode(Fraction(-5, 4)))
    assert m.cpu.fpu.st(2) == bits(0x3FFF, 0xA000000000000000, 1)
    assert dbg.fpu_state().tw == 0x0FFF & ~(3 << 0)    # ST2 is R0: no longer empty
    dbg.set_register("fctrl", 0x027F)
    dbg.set_register("fop", 0xFFFF)                   # 11 bits
    assert m.cpu.fpu.cw == 0x027F and m.cpu.fpu.fop == 0x7FF


def test_no_fpu_models():
    for model in ("80386", "80486sx"):
        m, dbg = fpu_machine("hlt", 0, cpu=model)
        assert dbg.fpu is None and dbg.fpu_state() is None
        with pytest.raises(KeyError):
            dbg.register("st0")
        with pytest.raises(DebugError, match="no x87 FPU"):
            dbg.set_register("fctrl", 0)
        interp = CommandInterpreter(dbg)
        out = run(interp, "fp")
        assert out == ["the %s model has no x87 FPU (the models with one: 80486, pentium, "
                       "pentium2)" % model]
        assert "no x87 FPU" in run(interp, "set st0 = 1")[0]
        assert "not available (no x87 FPU)" in run(interp, "print fstat")[0]


# ================================================================ the command language

def test_fp_prints_the_state_as_bochs_does(fpu):
    _, _, interp = fpu
    out = run(interp, "fp")
    assert out == [
        "status  word: 0x3000: b c3 TOS6 c2 c1 c0 es sf pe ue oe ze de ie",
        "control word: 0x037f: inf RC_NEAREST PC_80 PM UM OM ZM DM IM",
        "tag word:     0x0fff",
        "operand:      0x06fa (last opcode DE FA)",
        "fip:          0x00007c0a",
        "fcs:          0x0000",
        "fdp:          0x00000000",
        "fds:          0x0000",
        "  FP0 ST2(e):        raw 0x0000:0000000000000000 (0) (ZERO)",
        "  FP1 ST3(e):        raw 0x0000:0000000000000000 (0) (ZERO)",
        "  FP2 ST4(e):        raw 0x0000:0000000000000000 (0) (ZERO)",
        "  FP3 ST5(e):        raw 0x0000:0000000000000000 (0) (ZERO)",
        "  FP4 ST6(e):        raw 0x0000:0000000000000000 (0) (ZERO)",
        "  FP5 ST7(e):        raw 0x4000:8000000000000000 (2) (NORMAL)",
        "=>FP6 ST0(v):        raw 0x3fff:8000000000000000 (1) (NORMAL)",
        "  FP7 ST1(v):        raw 0x3fff:c90fdaa22168c235 (1.570796326794896619) (NORMAL)",
    ]
    assert run(interp, "fpu") == out and run(interp, "info fpu") == out


def test_fp_decodes_every_bit_and_class():
    m, dbg = fpu_machine("hlt", 0)
    f = m.cpu.fpu
    # B C3 C2 C1 C0 ES SF and all six flags set, TOP 5; IC, RC up, PC double, masks clear.
    f.sw = 0xC000 | 0x0700 | 0x00FF | 5 << 11
    f.cw = 0x1000 | 2 << 10 | 2 << 8
    specials = [bits(0x7FFF, 1 << 63, 1), bits(0x7FFF, 3 << 62, 1), bits(0x7FFF, 1 << 63 | 1),
                bits(0, 1), bits(0x3FFF, 1), bits(0, 1 << 63), bits(0x7FFF, 0), 1 << 79]
    for p, raw in enumerate(specials):
        f.set_phys(p, raw)
    out = run(CommandInterpreter(dbg), "fp")
    assert out[0] == "status  word: 0xefff: B C3 TOS5 C2 C1 C0 ES SF PE UE OE ZE DE IE"
    assert out[1] == "control word: 0x1a00: INF RC_UP PC_64 pm um om zm dm im"
    regs = out[8:]
    assert regs[0].startswith("  FP0 ST3(s):        raw 0xffff:8000000000000000 (-inf) (-INF)")
    assert regs[1].endswith("(-nan) (QNAN (indefinite))")
    assert regs[2].endswith("(+nan) (SNAN)")
    assert regs[3].endswith("(DENORMAL)") and "(3.645199531882474603e-4951)" in regs[3]
    assert regs[4].endswith("(UNNORMAL)") and regs[5].endswith("(PSEUDO-DENORMAL)")
    assert regs[5].startswith("=>FP5 ST0(s)")
    assert regs[6].endswith("(+inf) (+INF (pseudo))")
    assert regs[7].endswith("raw 0x8000:0000000000000000 (-0) (ZERO)")


def test_set_st_registers_exactly(fpu):
    m, dbg, interp = fpu
    f = m.cpu.fpu
    assert run(interp, "set st0 = 1.5") == []
    assert f.st(0) == bits(0x3FFF, 0xC000000000000000)
    run(interp, "set $st2 = -0.1")                    # an empty register: now valid
    assert f.st(2) == bits(*nearest(Fraction(1, 10)), 1)
    assert dbg.fpu_state().st_tag(2) == x87.TAG_VALID
    run(interp, "r st3 = 3.14159265358979323846264338327950288")
    assert f.st(3) == bits(PI_EXP, PI_SIG)
    run(interp, "set st4 = st1 * 2")                  # an expression: exact, then rounded
    assert f.st(4) == bits(PI_EXP, PI_SIG)
    run(interp, "set st5 = st0 / 3")
    assert f.st(5) == bits(*nearest(Fraction(1, 2)))
    run(interp, "set st6 = -inf")
    assert f.st(6) == bits(0x7FFF, 1 << 63, 1)
    assert dbg.fpu_state().st_tag(6) == x87.TAG_SPECIAL
    run(interp, "set eax = 7")
    run(interp, "set st7 = eax")
    assert f.st(7) == bits(0x4001, 0xE000000000000000)
    run(interp, "set fctrl = 0xc7f")                  # RC chop
    assert f.cw == 0x0C7F
    assert "RC_CHOP" in run(interp, "fp")[1]
    run(interp, "set fstat = 0x4000")                 # C3, TOP 0
    assert f.sw == 0x4000 and f.top == 0
    assert "bad value" in run(interp, "set st0 = nosuch")[0]
    assert "error: missing value" == run(interp, "set st0 =")[0]


def test_print_and_conditions_with_reals(fpu):
    _, _, interp = fpu
    assert run(interp, "print st1") == ["1.570796326794896619 (0x3fff:c90fdaa22168c235)"]
    assert run(interp, "print st1 * 2") == ["3.141592653589793239 (0x4000:c90fdaa22168c235)"]
    assert run(interp, "print st0 == 1") == ["0x1 1"]
    assert run(interp, "print st1 > 1.57 && st1 < 1.5708") == ["0x1 1"]
    assert run(interp, "print st0 + st1 > 2.5") == ["0x1 1"]
    assert run(interp, "print -st0 < 0") == ["0x1 1"]
    assert run(interp, "print fop") == ["0x6fa 1786"]
    assert run(interp, "print ftag & 3") == ["0x3 3"]         # R0 empty
    assert run(interp, "print 1.5") == ["1.5 (0x3fff:c000000000000000)"]
    run(interp, "set st5 = -0")
    assert run(interp, "print st5") == ["-0 (0x8000:0000000000000000)"]
    assert run(interp, "print st5 + 2.5") == ["2.5 (0x4000:a000000000000000)"]
    assert run(interp, "print st5 == 0") == ["0x1 1"]
    assert "not an integer" in run(interp, "set eax = st1")[0]
    assert "needs an integer" in run(interp, "print st0 & 1")[0]
    assert "not an integer" in run(interp, "x /1bx st0")[0]
    assert "division by zero" in run(interp, "print st0 / 0")[0]


def test_expression_reals():
    env = expr.SimpleEnv({"st0": x87.parse("2.5"), "st1": x87.parse("inf"),
                          "st2": x87.parse("nan"), "eax": 5})

    def v(text):
        return expr.compile(text).value(env)
    assert v("st0") == Fraction(5, 2) and v("st0 * 2 == eax") == 1
    assert v("st0 < 3") == 1 and v("st0 >= 2.5") == 1 and v("st0 != 2.5") == 0
    assert v("st0 / 2") == Fraction(5, 4) and v("1e3 == 1000") == 1
    assert v("st1 > 1e4000") == 1 and v("-st1 < -1e4000") == 1
    assert v("st1 - st1 == st1 - st1") == 0           # inf - inf is a NaN
    assert v("st2 == st2") == 0 and v("st2 != st2") == 1
    assert v("1 / st1 == 0") == 1
    with pytest.raises(expr.ExprError, match="real number 2.5, not an integer"):
        expr.compile("st0").evaluate(env)
    with pytest.raises(expr.ExprError, match="'~' needs an integer"):
        v("~st0")
    with pytest.raises(expr.ExprError, match="'<<' needs an integer"):
        v("st0 << 1")
    # A negative integer next to a real is negative (as in gdb), not its 32-bit pattern; on
    # its own, and between integers, it is still the unsigned 32-bit value.
    assert v("st0 + -1") == Fraction(3, 2) and v("st0 > -1") == 1 and v("-2 * st0") == -5
    assert v("st0 + (eax - 6)") == Fraction(3, 2) and v("st0 - -eax") == Fraction(15, 2)
    assert v("st0 + 0xffffffff") == Fraction(5, 2) + 0xFFFFFFFF
    assert v("-1") == 0xFFFFFFFF and v("-1 > 0") == 1 and v("eax - 6 > 0") == 1
    assert v("--1 + st0") == Fraction(7, 2)
    # A NASM hex number is not an exponent: 1e5h is 0x1e5.
    assert v("1e5h") == 0x1E5 and v("0x1e5") == 0x1E5


def test_breakpoint_condition_on_st0():
    # ST0 counts up by one each round; the breakpoint stops when it reaches 5.
    program = """
        fninit
        fldz
    round:
        fld1
        faddp st1, st0
        jmp round
    """
    m, dbg = fpu_machine(program, 0)
    interp = CommandInterpreter(dbg)
    run(interp, 'lb 0x%x if "st0 >= 5"' % (BASE + 4))
    out = run(interp, "c")
    assert out[0].startswith("Breakpoint 1, 0000:7c04")
    assert m.cpu.fpu.st(0) == bits(0x4001, 0xA000000000000000)     # exactly 5


# ================================================================ the gdb stub

def test_gdb_packets_read_and_write_the_fpu(stubs):
    m, dbg = fpu_machine()
    stub = stubs(m)
    c = Client(stub.port)
    try:
        for name, want in (("st0", ONE), ("st1", PI_HALF), ("st7", TWO), ("fctrl", 0x037F),
                           ("fstat", 0x3000), ("ftag", 0x0FFF), ("fiseg", 0),
                           ("fioff", BASE + 0x0A), ("foseg", 0), ("fooff", 0),
                           ("fop", 0x6FA)):
            assert reg_hex(c, name) == want, name
        st0 = gdbstub.REG_INDEX["st0"]
        assert c.ask(b"p%x" % st0) == b"0000000000000080ff3f"          # 10 bytes, LE
        one_and_half = bits(0x3FFF, 0xC000000000000000)
        assert c.ask(b"P%x=%s" % (st0 + 3, one_and_half.to_bytes(10, "little").hex()
                                  .encode())) == b"OK"
        assert m.cpu.fpu.st(3) == one_and_half
        assert m.cpu.fpu.tw == 0x0FFF & ~(3 << 2)    # ST3 is R1: valid now
        assert c.ask(b"P%x=%s" % (st0, b"11" * 9)) == b"E01"            # wrong width
        # G with a new TOP and st0: fstat is written first, so st0 lands in the new R7.
        g = c.ask(b"g").decode()
        layout, pos = {}, 0
        for r in gdbstub.REGISTERS:
            layout[r.name] = (pos, r.bits // 4)
            pos += r.bits // 4

        def put(text, name, value):
            at, width = layout[name]
            return text[:at] + (value.to_bytes(width // 2, "little").hex()) + text[at + width:]
        g = put(g, "fstat", 0x3800)
        g = put(g, "st0", TWO)
        g = put(g, "ftag", 0x3FFF)                     # R7 valid, R6 too; the rest empty
        assert c.ask(b"G" + g.encode()) == b"OK"
        f = m.cpu.fpu
        assert f.top == 7 and f.phys(7) == TWO and f.tw == 0x3FFF
    finally:
        c.close()


def test_gdb_registers_of_a_model_without_fpu(stubs):
    m, dbg = fpu_machine("hlt", 0, cpu="80486sx")
    stub = stubs(m)
    c = Client(stub.port)
    try:
        assert reg_hex(c, "st0") == 0 and reg_hex(c, "fctrl") == 0
        assert c.ask(b"P%x=%s" % (gdbstub.REG_INDEX["fctrl"], b"7f030000")) == b"OK"
        assert reg_hex(c, "fctrl") == 0
    finally:
        c.close()


def test_real_gdb_shows_and_sets_the_fpu(stubs):
    m, dbg = fpu_machine()
    stub = stubs(m, monitor=CommandInterpreter(dbg).execute_capture)
    out = run_gdb(stub.port, "monitor fp", "info float", "p $st0", "p $st1", "p/x $fstat",
                  "p/x $ftag", "p/x $fop", "info registers float", "set $st0 = 1.5", "p $st0",
                  "set $st2 = -2.75", "p $st2", "p/x $ftag", "set $fctrl = 0x27f",
                  "p/x $fctrl", "p $st0 > 1")
    # monitor fp: the command language's view through gdb.
    assert "status  word: 0x3000: b c3 TOS6" in out
    assert "=>FP6 ST0(v):        raw 0x3fff:8000000000000000 (1) (NORMAL)" in out
    # info float: physical registers from R7 down, => on TOP, the tags from ftag.
    assert re.search(r"^  R7: Valid   0x3fffc90fdaa22168c235 \+1\.57079632679489661", out, re.M)
    assert re.search(r"^=>R6: Valid   0x3fff8000000000000000 \+1\s*$", out, re.M)
    assert re.search(r"^  R5: Empty   0x40008000000000000000", out, re.M)
    assert re.search(r"^  R0: Empty   0x00000000000000000000", out, re.M)
    assert re.search(r"Status Word:\s+0x3000", out) and re.search(r"TOP: 6", out)
    assert re.search(r"Control Word:\s+0x037f\s+IM DM ZM OM UM PM", out)
    assert "PC: Extended Precision (64-bits)" in out and "RC: Round to nearest" in out
    assert re.search(r"Tag Word:\s+0x0fff", out)
    assert re.search(r"Instruction Pointer: 0x00:0x00007c0a", out)
    assert re.search(r"Opcode:\s+0xdefa", out)
    vals = values(out)
    assert vals[0] == "1" and vals[1].startswith("1.570796326794896619")
    assert vals[2:5] == ["0x3000", "0xfff", "0x6fa"]
    assert re.search(r"^st1\s+1\.5707963267948966\d* \(raw 0x3fffc90fdaa22168c235\)", out, re.M)
    assert re.search(r"^fstat\s+0x3000\s", out, re.M)
    assert re.search(r"^fop\s+0x6fa\s", out, re.M)
    assert vals[5:] == ["1.5", "-2.75", "0xffc", "0x27f", "1"]
    f = m.cpu.fpu
    assert f.st(0) == bits(0x3FFF, 0xC000000000000000)
    assert f.st(2) == bits(0x4000, 0xB000000000000000, 1)
    assert f.tw == 0x0FFC and f.cw == 0x027F      # ST2 = R0 tagged valid by the write
    assert "error" not in out.lower()


# ================================================================ the TUI

def tui(dbg, script, size=(200, 60)):
    from debugger.tui import DebuggerApp
    app = DebuggerApp(dbg)

    async def main():
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await script(app, pilot)

    asyncio.run(main())
    return app


def fpu_text(app):
    return str(app.query_one("#fpu").render())


def changed_spans(app):
    rendered = app.query_one("#fpu").render()
    return [rendered.plain[s.start:s.end] for s in rendered.spans if "yellow" in str(s.style)]


def test_tui_fpu_pane_follows_the_guest():
    m, dbg = fpu_machine(steps=0)

    async def script(app, pilot):
        from tests.test_tui import run_key
        assert app.query_one("#tabs").get_tab("tab-fpu").label.plain == "FPU"
        app.query_one("#tabs").active = "tab-fpu"
        await pilot.pause()
        text = fpu_text(app)
        # The pentium2 at reset: CW 0040h, all registers +0 tagged zero [SDM vol. 3 9.1.1].
        assert "CW 0040" in text and "TW 5555" in text and "TOP 0" in text
        for _ in range(STEPS - 1):
            await run_key(app, pilot, "f11")
        text = fpu_text(app)                          # after FADD ST0, ST1: 2, 1, pi
        assert "TOP 5" in text
        assert "ST0 R5 valid   4000:8000000000000000 2\n" in text
        assert "ST2 R7 valid   %04X:%016X 3.141592653589793239" % (PI_EXP, PI_SIG) in text
        await run_key(app, pilot, "f11")              # FDIVP ST2, ST0
        text = fpu_text(app)
        lines = text.splitlines()
        assert lines[0].startswith("TOP 6  C3 0  C2 0  C1 0  C0 0")
        assert lines[1].startswith("SW 3000  b es sf pe ue oe ze de ie")
        assert lines[2].startswith("CW 037F  RC nearest  PC extended  PM UM OM ZM DM IM")
        assert lines[3].startswith("TW 0FFF  FOP 6FA (DE FA)")
        assert lines[4].startswith("FIP 0000:00007C0A  FDP 0000:00000000")
        assert lines[5] == "ST0 R6 valid   3FFF:8000000000000000 1"
        assert lines[6] == "ST1 R7 valid   3FFF:C90FDAA22168C235 1.570796326794896619"
        assert lines[7] == "ST2 R0 empty   0000:0000000000000000 0"
        assert lines[12] == "ST7 R5 empty   4000:8000000000000000 2"
        changed = changed_spans(app)
        assert "6" in changed and "3000" in changed and "0FFF" in changed   # TOP, SW, TW
        assert "0000:00007C0A" in changed                                  # FIP
        # A command that writes a register: the pane follows at once.
        await pilot.press(*":set st0 = -1.25")
        await pilot.press("enter")
        from tests.test_tui import settle
        await settle(app, pilot)
        assert "ST0 R6 valid   BFFF:A000000000000000 -1.25" in fpu_text(app)

    tui(dbg, script)
    assert m.cpu.fpu.st(0) == bits(0x3FFF, 0xA000000000000000, 1)


def test_tui_has_no_fpu_tab_without_an_fpu():
    m, dbg = fpu_machine("hlt", 0, cpu="80386")

    async def script(app, pilot):
        assert not app.query("#fpu")
        assert "tab-fpu" not in [p.id for p in app.query("TabPane")]

    tui(dbg, script)


# ================================================================ MMX views

MMX_PROGRAM = """
    fninit              ; everything empty, TOP 0
    fld1                ; R7 = 1.0, TOP 7
    pcmpeqb mm1, mm1    ; MM1 = all ones; TOP 0, every tag valid
    paddb mm1, mm1      ; MM1 = FEh in every byte, its exponent field FFFFh
    hlt
"""


def test_mmx_command_lists_the_x87_significands():
    m, dbg = fpu_machine(MMX_PROGRAM, 4)
    interp = CommandInterpreter(dbg)
    out = run(interp, "mmx")
    assert out == ["MM[0]: 00000000_00000000", "MM[1]: fefefefe_fefefefe",
                   "MM[2]: 00000000_00000000", "MM[3]: 00000000_00000000",
                   "MM[4]: 00000000_00000000", "MM[5]: 00000000_00000000",
                   "MM[6]: 00000000_00000000", "MM[7]: 80000000_00000000"]
    assert run(interp, "info mmx") == out
    # The x87 view of the same registers after MMX: TOP 0, the tag word all valid, R1 with
    # the all-ones exponent (a negative QNaN to x87 code), R7 still 1.0.
    fp = run(interp, "fp")
    assert fp[0].startswith("status  word: 0x0000:") and "TOS0" in fp[0]
    assert fp[2] == "tag word:     0x0000"
    assert fp[8].startswith("=>FP0 ST0(v):")
    assert fp[9].startswith("  FP1 ST1(v):        raw 0xffff:fefefefefefefefe")
    assert fp[15] == "  FP7 ST7(v):        raw 0x3fff:8000000000000000 (1) (NORMAL)"


def test_mmx_command_on_models_without_mmx():
    for model in ("pentium", "80386"):
        m, dbg = fpu_machine("hlt", 0, cpu=model)
        assert run(CommandInterpreter(dbg), "mmx") == [
            "the %s model has no MMX (the models with it: pentium2)" % model]
