# cython: language_level=3
"""80-bit extended-precision arithmetic on integers (the x87's number format).

The contract between the arithmetic (core/f80.pyx), the transcendentals
(core/f80_trans.pyx) and the x87 unit (core/fpu.pyx).  No host floating point decides
a result: every function works on the 64-bit significand and 15-bit exponent.

Semantics are the Intel 387 and later [SDM vol. 1 ch. 8, "x87 FPU"; ch. 4.8
"Real numbers and floating-point formats"]:
- The significand has an explicit integer bit (bit 63, "J").  Encodings the 387+ do
  not support (unnormals: exponent 1..7FFEh with J=0; pseudo-NaN and pseudo-infinity:
  exponent 7FFFh with J=0) are invalid operands: IE, result the real indefinite.
- Pseudo-denormals (exponent 0, J=1) are valid: DE, read with exponent 1.
- Denormal operands (exponent 0, J=0, significand not 0) raise DE and compute.
- NaN operands: a signalling NaN raises IE; the result is a quiet NaN chosen by the
  SDM's rules (Table 4-7).
- Results are rounded by FCtx.rc to FCtx.pc bits (24, 53 or 64); the exponent keeps
  its full 15-bit range whatever the precision.  PE when inexact; C1 (FLAG_C1) is set
  when the rounding made the magnitude larger.
- Overflow and underflow give the masked responses when the CW mask bit is set; when
  it is clear, the result the x87 stores to a register is the rounded value with its
  exponent wrapped by 24576 (3 << 13) toward the middle of the range.  Masked
  underflow raises UE only when the tiny result is also inexact.
- Division of a finite non-zero by zero: ZE, result infinity with the XOR of signs.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, int32_t, uint64_t, int64_t

# ---- x87 status word exception bits, used as FCtx.flags [SDM vol. 1 8.1.3]
cdef enum:
    FLAG_IE = 0x0001        # invalid operation
    FLAG_DE = 0x0002        # denormal operand
    FLAG_ZE = 0x0004        # zero divide
    FLAG_OE = 0x0008        # overflow
    FLAG_UE = 0x0010        # underflow
    FLAG_PE = 0x0020        # precision (inexact)
    FLAG_C1 = 0x0200        # the result was rounded up in magnitude (SW.C1)

# ---- control word fields [SDM vol. 1 8.1.5]
cdef enum:
    RC_NEAREST = 0
    RC_DOWN = 1             # toward -infinity
    RC_UP = 2               # toward +infinity
    RC_ZERO = 3             # toward zero (chop)
    PC_24 = 0
    PC_53 = 2
    PC_64 = 3               # PC = 1 is reserved; it rounds as 64 here (the 387 does)

# ---- classes for FXAM and the tag word
cdef enum:
    CLS_ZERO = 0
    CLS_DENORMAL = 1        # includes pseudo-denormals
    CLS_NORMAL = 2
    CLS_INF = 3
    CLS_QNAN = 4
    CLS_SNAN = 5
    CLS_UNSUPPORTED = 6     # unnormal, pseudo-NaN, pseudo-infinity

# ---- compare results, in the C3 C2 C0 condition-code pattern of FCOM
cdef enum:
    CMP_GT = 0
    CMP_LT = 1
    CMP_EQ = 2
    CMP_UN = 3

cdef struct F80:
    uint64_t sig            # significand, explicit integer bit at bit 63
    uint16_t se             # bit 15 sign, bits 14-0 biased exponent (bias 16383)

cdef struct FCtx:
    int rc                  # RC_*
    int pc                  # PC_*
    uint16_t cw             # the whole control word: its mask bits (0-5) pick responses
    uint32_t flags          # FLAG_* raised by the operations done with this context (OR'ed)

# ---- constants and classification
cdef F80 f80_make(bint sign, int exp, uint64_t sig) noexcept nogil
cdef F80 f80_zero(bint sign) noexcept nogil
cdef F80 f80_inf(bint sign) noexcept nogil
cdef F80 f80_indefinite() noexcept nogil        # the real indefinite: FFFF C000000000000000
cdef int f80_class(F80 a) noexcept nogil         # CLS_*
cdef bint f80_sign(F80 a) noexcept nogil
cdef int f80_exp(F80 a) noexcept nogil           # biased exponent field

# Round an exact value to the context's precision and pack it.  The value is
# (-1)^sign * (sig_hi + sig_lo / 2^64) * 2^(exp - 16383 - 63): bit 63 of sig_hi has
# weight 2^(exp - 16383), as the integer bit of the packed format; sig_lo carries the
# bits below (any non-zero low bit counts as sticky).  sig_hi need not be normalised.  exp may be out of range
# (<= 0 or >= 7FFFh): this applies the overflow/underflow responses.  The transcendentals
# and the x87 unit build their results through this one function.
cdef F80 f80_round_pack(FCtx* c, bint sign, int32_t exp, uint64_t sig_hi, uint64_t sig_lo) noexcept nogil
# The same, rounding to exactly `bits` significant bits (24, 53, 64) regardless of c.pc.
cdef F80 f80_round_pack_bits(FCtx* c, int bits, bint sign, int32_t exp, uint64_t sig_hi, uint64_t sig_lo) noexcept nogil

# ---- arithmetic (precision control applies to these five)
cdef F80 f80_add(FCtx* c, F80 a, F80 b) noexcept nogil
cdef F80 f80_sub(FCtx* c, F80 a, F80 b) noexcept nogil
cdef F80 f80_mul(FCtx* c, F80 a, F80 b) noexcept nogil
cdef F80 f80_div(FCtx* c, F80 a, F80 b) noexcept nogil
cdef F80 f80_sqrt(FCtx* c, F80 a) noexcept nogil

# ---- other operations (always full 64-bit precision)
cdef F80 f80_round_int(FCtx* c, F80 a) noexcept nogil           # FRNDINT, by c.rc
# FPREM (ieee=0: quotient truncated toward zero) and FPREM1 (ieee=1: nearest even).
# *q gets the low three quotient bits (Q2 Q1 Q0), *partial 1 when the reduction is
# incomplete (C2): an exponent difference over 63 reduces by 2^(D-N), N = 32 + D mod 32.
cdef F80 f80_rem(FCtx* c, F80 a, F80 b, bint ieee, int* q, bint* partial) noexcept nogil
cdef F80 f80_scale(FCtx* c, F80 a, F80 b) noexcept nogil        # FSCALE: a * 2^trunc(b)
# FXTRACT: *exponent gets the unbiased exponent as an F80, returns the significand
# with exponent 0 (3FFFh).  Zero: ZE, exponent -infinity, significand zero.
cdef F80 f80_xtract(FCtx* c, F80 a, F80* exponent) noexcept nogil
# Compare (FCOM/FUCOM/FCOMI/FUCOMI/FTST): quiet=1 raises IE only for SNaN operands,
# quiet=0 for any NaN.  Unsupported encodings are unordered with IE.  DE for denormals.
cdef int f80_compare(FCtx* c, F80 a, F80 b, bint quiet) noexcept nogil

# ---- conversions.  Loads of 32/64-bit reals are exact (DE for a denormal source,
# IE for an SNaN, which is quieted); stores round by c.rc into the narrower format,
# with its own overflow/underflow ranges.  A store returns 0 when an unmasked
# exception (IE, DE for a denormal source, OE, UE: the instruction must not write
# memory) stops it.
cdef F80 f80_from_f32(FCtx* c, uint32_t v) noexcept nogil
cdef F80 f80_from_f64(FCtx* c, uint64_t v) noexcept nogil
cdef F80 f80_from_i64(int64_t v) noexcept nogil                  # FILD (16/32/64 sign-extended)
cdef bint f80_to_f32(FCtx* c, F80 a, uint32_t* out) noexcept nogil
cdef bint f80_to_f64(FCtx* c, F80 a, uint64_t* out) noexcept nogil
# FIST/FISTP of `size` bytes (2, 4, 8), by c.rc.  Out of range, NaN or infinity: IE and
# (masked) the integer indefinite (the most negative value of the size).
cdef bint f80_to_int(FCtx* c, F80 a, int size, int64_t* out) noexcept nogil
# FBLD / FBSTP: 10 bytes, 18 packed BCD digits, sign in bit 7 of byte 9.
cdef F80 f80_from_bcd(const uint8_t* p) noexcept nogil
cdef bint f80_to_bcd(FCtx* c, F80 a, uint8_t* p) noexcept nogil

# ---- shared by the three modules' Python access and contexts
cdef inline FCtx f80_ctx(uint16_t cw) noexcept nogil:
    """The rounding context control word `cw` selects (its RC and PC), no flags yet."""
    cdef FCtx c
    c.cw = cw
    c.rc = (cw >> 10) & 3
    c.pc = (cw >> 8) & 3
    c.flags = 0
    return c

cdef inline F80 f80_from_py(object value):
    """An 80-bit value given as the Python int (se << 64) | sig."""
    cdef F80 r
    value = int(value)
    r.sig = <uint64_t>(value & 0xFFFFFFFFFFFFFFFF)
    r.se = <uint16_t>((value >> 64) & 0xFFFF)
    return r

cdef inline object f80_to_py(F80 a):
    """The Python int (se << 64) | sig of an 80-bit value."""
    return (<object>a.se << 64) | a.sig
