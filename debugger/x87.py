"""The x87 FPU as the debugger's front ends show and edit it.

One reading of the unit (FPUState) serves the command language's `fp`, the TUI's FPU pane
and the gdb stub, so the three agree; this module also decodes the status, control and tag
words and converts exactly between numbers and the 80-bit extended format [Intel SDM vol. 1
ch. 8: 8.1.3 status word, 8.1.5 control word, 8.1.7 tag word, 8.1.8 last instruction and
operand pointers, 4.2.2 / Table 8-3 the extended format].

Numbers are never passed through a host float: a decimal string becomes a Fraction, which
core.f80 rounds to the nearest 80-bit value (ties to even, 64-bit significand), and an
80-bit value becomes the exact Fraction it encodes (core.fpu.exact_value).  Infinities,
NaNs and the negative zero, which have no Fraction, are the floats inf, nan and -0.0.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

ST_NAMES = tuple("st%d" % i for i in range(8))
# gdb's names for the rest (org.gnu.gdb.i386.core): FCW, FSW, the full tag word, the last
# instruction's CS:EIP, its operand's DS:offset and the last opcode.  Each maps to the
# FPU attribute and the bits it has.
CONTROL_REGISTERS = {
    "fctrl": ("cw", 0xFFFF), "fstat": ("sw", 0xFFFF), "ftag": ("tw", 0xFFFF),
    "fiseg": ("fcs", 0xFFFF), "fioff": ("fip", 0xFFFFFFFF),
    "foseg": ("fds", 0xFFFF), "fooff": ("fdp", 0xFFFFFFFF), "fop": ("fop", 0x7FF),
}
NAMES = ST_NAMES + tuple(CONTROL_REGISTERS)

TAG_VALID, TAG_ZERO, TAG_SPECIAL, TAG_EMPTY = 0, 1, 2, 3
TAG_NAMES = ("valid", "zero", "special", "empty")

# Status word bits [SDM vol. 1 Figure 8-4], most significant first.
SW_B, SW_C3, SW_C2, SW_C1, SW_C0, SW_ES, SW_SF = 0x8000, 0x4000, 0x0400, 0x0200, 0x0100, \
    0x0080, 0x0040
EXCEPTIONS = (("PE", 5), ("UE", 4), ("OE", 3), ("ZE", 2), ("DE", 1), ("IE", 0))
# Control word fields [SDM vol. 1 Figure 8-6]: IC (8087/287 only), RC, PC, the masks.
CW_IC = 0x1000
ROUNDING = ("nearest", "down", "up", "chop")                 # RC 0-3
PRECISION = ("single", "reserved", "double", "extended")     # PC 0-3 (24, -, 53, 64 bits)
MASKS = (("PM", 5), ("UM", 4), ("OM", 3), ("ZM", 2), ("DM", 1), ("IM", 0))

_INF_BITS = 0x7FFF << 64 | 1 << 63
_QNAN_BITS = 0x7FFF << 64 | 3 << 62          # the default QNaN; negative, it is indefinite
_SIGN = 1 << 79


@dataclass(frozen=True)
class FPUState:
    """The x87 registers at one moment.  `regs` are the physical registers R0-R7 as 80-bit
    integers (sign and exponent << 64 | significand); ST(i) is R((TOP + i) mod 8)."""
    cw: int
    sw: int
    tw: int
    fip: int
    fcs: int
    fdp: int
    fds: int
    fop: int
    regs: tuple

    @classmethod
    def read(cls, fpu):
        s = fpu.state()
        return cls(s["cw"], s["sw"], s["tw"], s["fip"], s["fcs"], s["fdp"], s["fds"],
                   s["fop"], tuple(s["regs"]))

    @property
    def top(self):
        return (self.sw >> 11) & 7

    def phys(self, i):
        """The physical register that is ST(i)."""
        return (self.top + i) & 7

    def st(self, i):
        return self.regs[self.phys(i)]

    def tag(self, p):
        """The tag of physical register p (TAG_*)."""
        return (self.tw >> (2 * p)) & 3

    def st_tag(self, i):
        return self.tag(self.phys(i))

    def field(self, name):
        """A register by its gdb name (st0-st7 as 80-bit integers)."""
        if name in CONTROL_REGISTERS:
            attr, mask = CONTROL_REGISTERS[name]
            return getattr(self, attr) & mask
        return self.st(ST_NAMES.index(name))

    @property
    def condition_codes(self):
        """(C3, C2, C1, C0) as 0/1."""
        return tuple(int(bool(self.sw & b)) for b in (SW_C3, SW_C2, SW_C1, SW_C0))

    @property
    def rounding(self):
        return ROUNDING[(self.cw >> 10) & 3]

    @property
    def precision(self):
        return PRECISION[(self.cw >> 8) & 3]


# ===================================================================== values


def value(raw):
    """The number an 80-bit value encodes: an exact Fraction, or the float inf, -inf or
    nan, or -0.0 for a negative zero (a Fraction has no sign of its own).  Unnormals and
    pseudo-denormals are read by their bits, as the FPU's formats table reads them (the
    FPU itself refuses the unsupported ones as operands)."""
    from core.fpu import exact_value
    raw = int(raw)
    v = exact_value(raw)
    if v is not None:
        return -0.0 if v == 0 and raw & _SIGN else v
    if raw & 0x7FFFFFFFFFFFFFFF:             # a fraction below the integer bit: a NaN
        return math.nan
    return -math.inf if raw & _SIGN else math.inf


def encode(number):
    """The 80-bit value nearest `number` (an int, a Fraction, or inf/nan as floats):
    rounded to nearest, ties to even, with a 64-bit significand; huge values become
    infinity, tiny ones denormals or zero, as the FPU's own rounding does."""
    from core import f80
    if isinstance(number, float):
        if math.isnan(number):
            return _QNAN_BITS | (_SIGN if math.copysign(1, number) < 0 else 0)
        if math.isinf(number):
            return _INF_BITS | (_SIGN if number < 0 else 0)
        if number == 0:
            return _SIGN if math.copysign(1, number) < 0 else 0
        number = Fraction(number)                # exact: every finite float is a fraction
    raw, _flags = f80.from_fraction(Fraction(number), cw=0x037F)
    return raw


_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")
_SPECIAL = re.compile(r"([+-]?)(inf|infinity|nan|qnan|snan|indefinite)\Z", re.I)


def parse(text):
    """The 80-bit value a typed number means, or None if `text` is not one: a decimal
    with an optional sign, point and exponent (`1.5`, `-2`, `6.02e23`, `-0`), read exactly;
    `inf`, `-inf`, `nan` (the default QNaN), `snan`, `indefinite`."""
    text = text.strip()
    m = _SPECIAL.match(text)
    if m:
        neg = _SIGN if m.group(1) == "-" else 0
        kind = m.group(2).lower()
        if kind in ("inf", "infinity"):
            return _INF_BITS | neg
        if kind == "snan":
            return (0x7FFF << 64 | 1 << 63 | 1 << 61) | neg
        if kind == "indefinite":
            return _QNAN_BITS | _SIGN
        return _QNAN_BITS | neg
    if not _NUMBER.match(text):
        return None
    q = Fraction(text)
    if q == 0:
        return _SIGN if text.startswith("-") else 0
    return encode(q)


def classify(raw):
    """zero, denormal, pseudo-denormal, normal, unnormal, infinity, pseudo-infinity, SNaN,
    QNaN, indefinite or pseudo-NaN (core.fpu.classify)."""
    from core.fpu import classify as _classify
    return _classify(int(raw))


def decimal(raw, digits=19):
    """The value as decimal text, to `digits` significant digits, rounded to nearest with
    exact arithmetic: '1.5', '-0', '3.141592653589793239', '6.02214076e+23', '+inf', '-nan'
    (core.fpu.decimal_digits does the digits)."""
    from core.fpu import decimal_digits
    raw = int(raw)
    v = value(raw)
    neg = bool(raw & _SIGN)
    if v == 0:
        return "-0" if neg else "0"
    if isinstance(v, float):
        return ("-" if neg else "+") + ("nan" if math.isnan(v) else "inf")
    return ("-" if neg else "") + decimal_digits(abs(v), digits)


def real_text(number):
    """A number (a Fraction, an int or inf/nan) as `decimal` shows it, after rounding to
    the nearest 80-bit value."""
    return decimal(encode(number))


def raw_text(raw):
    """The encoding as Bochs prints it: 0xSEXP:SIGNIFICAND (4 and 16 hex digits)."""
    raw = int(raw)
    return "0x%04x:%016x" % (raw >> 64 & 0xFFFF, raw & 0xFFFFFFFFFFFFFFFF)


def last_opcode(fop):
    """The two opcode bytes FOP keeps (bits 10-8 are the low bits of the first byte, D8-DF;
    bits 7-0 the ModR/M byte) [SDM vol. 1 8.1.9]."""
    return 0xD8 | (fop >> 8 & 7), fop & 0xFF
