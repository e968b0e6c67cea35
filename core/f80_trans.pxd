# cython: language_level=3
# PLACEHOLDER written on branch fpu from the signatures in the brief, so that core/fpu.pyx
# compiles before branch trans lands; the trans branch's own file replaces this one.
from core.f80 cimport F80, FCtx

cdef F80 f80_sin(FCtx* c, F80 a, bint* out_of_range) noexcept nogil
cdef F80 f80_cos(FCtx* c, F80 a, bint* out_of_range) noexcept nogil
cdef F80 f80_tan(FCtx* c, F80 a, bint* out_of_range) noexcept nogil
cdef F80 f80_atan(FCtx* c, F80 y, F80 x) noexcept nogil
cdef F80 f80_2xm1(FCtx* c, F80 a) noexcept nogil
cdef F80 f80_yl2x(FCtx* c, F80 x, F80 y) noexcept nogil
cdef F80 f80_yl2xp1(FCtx* c, F80 x, F80 y) noexcept nogil
cdef F80 f80_const(FCtx* c, int which) noexcept nogil
