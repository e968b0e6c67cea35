# cython: language_level=3
"""The x87 transcendental instructions and load-constant instructions, on integers.

Semantics: Intel SDM vol. 1 8.3.8-8.3.10 and the vol. 2 pages of FSIN, FCOS, FSINCOS,
FPTAN, FPATAN, F2XM1, FYL2X, FYL2XP1 and FLD1..FLDZ.  Results are always rounded to
64 bits by c.rc (precision control does not apply), with PE and C1 as the x87 sets
them and the masked or unmasked underflow/overflow responses of f80_round_pack.
The trigonometric functions reduce their argument with the 66-bit Pi of the Pentium
and later [SDM vol. 1 8.3.8 "Approximation of Pi"]: they compute sin(r + k*pi/2) for
r = x - k*Pi/2 exactly.

Operands that are out of the documented range where the SDM says "undefined" get the
mathematically right value of the same formula (see each function in f80_trans.pyx).
"""
from core.f80 cimport F80, FCtx

# FSIN, FCOS, FSINCOS, FPTAN.  |a| >= 2^63: *out_of_range = 1 (the unit sets C2 and
# leaves ST0 as it was), the functions return a unchanged and raise nothing.
cdef F80 f80_sin(FCtx* c, F80 a, bint* out_of_range) noexcept nogil
cdef F80 f80_cos(FCtx* c, F80 a, bint* out_of_range) noexcept nogil
cdef void f80_sincos(FCtx* c, F80 a, F80* s, F80* co, bint* out_of_range) noexcept nogil
cdef F80 f80_tan(FCtx* c, F80 a, bint* out_of_range) noexcept nogil      # FPTAN's ST0 result (the unit pushes 1.0)
# FPATAN: arctan(y/x) with y = ST1, x = ST0, in the quadrant of (x, y).
cdef F80 f80_atan(FCtx* c, F80 y, F80 x) noexcept nogil
cdef F80 f80_2xm1(FCtx* c, F80 a) noexcept nogil                          # F2XM1
cdef F80 f80_yl2x(FCtx* c, F80 x, F80 y) noexcept nogil                   # FYL2X: y * log2(x), x = ST0, y = ST1
cdef F80 f80_yl2xp1(FCtx* c, F80 x, F80 y) noexcept nogil                 # FYL2XP1: y * log2(x + 1)
# FLD1 FLDL2T FLDL2E FLDPI FLDLG2 FLDLN2 FLDZ: which = the low 3 bits of D9 E8..EE
# (7 is not a constant: it returns the real indefinite).  Rounded by c.rc; sets no flag.
cdef F80 f80_const(FCtx* c, int which) noexcept nogil
