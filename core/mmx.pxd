# cython: language_level=3
"""The MMX instructions of the Pentium II (0F 60-7F, 0F D0-FF), on the x87's registers.

The MMX registers MM0-MM7 are the significands (bits 0-63) of the x87 physical registers
R0-R7 [SDM vol. 1 9.2.1; vol. 3 "MMX State and x87 FPU"], so this unit works on
core/fpu's FPU object.  The CPU (core/cpu.pyx) gates the opcode, raises #UD/#NM/#MF,
decodes the ModR/M byte and moves the memory or general-register operand; it calls
mmx_form() to learn what to move and then mmx_exec() or mmx_enter()/mmx_read().
"""
from libc.stdint cimport uint64_t
from core.fpu cimport FPU

# ---- mmx_form(): what the CPU moves for an opcode (the second opcode byte)
cdef enum:
    MMX_NONE = 0        # not an MMX opcode
    MMX_OP = 1          # MM(reg) = op(MM(reg), source): source MM(r/m) or m64/m32
    MMX_SHIFT_IMM = 2   # 0F 71-73: MM(r/m) shifted by imm8, the operation by ModR/M reg;
                        # a memory form is #UD
    MMX_LOAD_D = 3      # MOVD mm, r/m32: source the zero-extended r/m32
    MMX_STORE_D = 4     # MOVD r/m32, mm: the low doubleword of MM(reg) to r/m32
    MMX_STORE_Q = 5     # MOVQ mm/m64, mm: MM(reg) to MM(r/m) or m64
    MMX_EMMS = 6

cdef int mmx_form(int op) noexcept nogil
# bytes of the memory source operand of an MMX_OP / MMX_LOAD_D form (4 or 8)
cdef int mmx_src_bytes(int op) noexcept nogil
# every MMX instruction but EMMS: TOP = 0, all tags valid [SDM vol. 3 Table "Effects of
# MMX Instructions on x87 FPU State"]
cdef void mmx_enter(FPU f) noexcept
cdef void mmx_emms(FPU f) noexcept
cdef uint64_t mmx_read(FPU f, int i) noexcept
cdef void mmx_write(FPU f, int i, uint64_t v) noexcept
# run an MMX_OP, MMX_SHIFT_IMM or MMX_LOAD_D form (mmx_enter included): `dst` is the
# register written (ModR/M reg, or r/m for the immediate shifts), `sub` the ModR/M reg
# field (the group member of 0F 71-73), `src` the source operand
cdef void mmx_exec(FPU f, int op, int sub, int dst, uint64_t src) noexcept
