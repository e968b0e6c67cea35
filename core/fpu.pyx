# cython: language_level=3
"""The x87 floating-point unit: registers, stack, tags, status and control words, and every
x87 instruction of the 8087 through the Pentium II [Intel SDM vol. 1 ch. 8; vol. 2, the
F* instruction pages; opcode map vol. 2 appendix A.4].

The numbers themselves are computed by core/f80 (arithmetic, conversions) and
core/f80_trans (transcendentals); this module does what the x87 does around them: the
register stack and its faults, the condition codes, the masked and unmasked exception
responses, the environment and save images.  The CPU (core/cpu.pyx) decodes, addresses
memory and moves operand bytes through `buf` (see core/fpu.pxd for the contract).
"""
from fractions import Fraction

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int16_t, int32_t, int64_t
from libc.string cimport memset, memcpy

from core.f80 cimport (F80, FCtx, f80_ctx, f80_from_py, f80_to_py, FLAG_IE, FLAG_DE, FLAG_ZE, FLAG_OE, FLAG_UE, FLAG_PE,
                       FLAG_C1, PC_64, RC_NEAREST, CLS_ZERO, CLS_DENORMAL, CLS_NORMAL,
                       CLS_INF, CLS_QNAN, CLS_SNAN, CLS_UNSUPPORTED, CMP_GT, CMP_LT,
                       CMP_EQ, CMP_UN, f80_make, f80_zero, f80_indefinite, f80_class,
                       f80_add, f80_sub, f80_mul, f80_div, f80_sqrt, f80_round_int, f80_rem,
                       f80_scale, f80_xtract, f80_compare, f80_from_f32, f80_from_f64,
                       f80_from_i64, f80_to_f32, f80_to_f64, f80_to_int, f80_from_bcd,
                       f80_to_bcd)
from core.f80_trans cimport (f80_sin, f80_cos, f80_sincos, f80_tan, f80_atan, f80_2xm1, f80_yl2x,
                             f80_yl2xp1, f80_const)

# ---- status word [SDM vol. 1 8.1.3, Figure 8-4]
cdef enum:
    SW_EXC = 0x003F         # IE DE ZE OE UE PE
    SW_SF = 0x0040          # stack fault (387+; reserved on the 8087/287)
    SW_ES = 0x0080          # error summary
    SW_C0 = 0x0100
    SW_C1 = 0x0200
    SW_C2 = 0x0400
    SW_TOP = 0x3800
    SW_C3 = 0x4000
    SW_B = 0x8000           # busy; on the 387 and later a copy of ES
    SW_CC = 0x4700

# ---- control word [SDM vol. 1 8.1.5, Figure 8-6]
cdef enum:
    CW_IEM = 0x0080         # 8087 interrupt enable mask (FENI/FDISI)
    CW_IC = 0x1000          # infinity control, 8087/287: 0 projective, 1 affine

# ---- EFLAGS bits FCOMI/FUCOMI set
cdef enum:
    EF_CF = 0x01
    EF_PF = 0x04
    EF_ZF = 0x40

# ---- tag values [SDM vol. 1 8.1.7]
cdef enum:
    TAG_VALID = 0
    TAG_ZERO = 1
    TAG_SPECIAL = 2
    TAG_EMPTY = 3

# ---- formats of a memory store of ST(0)
cdef enum:
    K_F32 = 0
    K_F64 = 1
    K_F80 = 2
    K_I16 = 3
    K_I32 = 4
    K_I64 = 5
    K_BCD = 6

MEM_KINDS = {"none": MEM_NONE, "load": MEM_LOAD, "store": MEM_STORE}
RC_CODES = {"ok": FPU_OK, "ud": FPU_UD, "flags": FPU_FLAGS, "ax": FPU_AX}


cdef inline int tag_of(F80 v) noexcept nogil:
    """The tag the 387+ computes from a register's contents."""
    cdef int e = v.se & 0x7FFF
    if e == 0:
        return TAG_ZERO if v.sig == 0 else TAG_SPECIAL
    if e == 0x7FFF or not (v.sig >> 63):
        return TAG_SPECIAL          # infinity, NaN, unsupported encodings
    return TAG_VALID


cdef inline uint16_t rd16(const uint8_t* p) noexcept nogil:
    return p[0] | (<uint16_t>p[1] << 8)


cdef inline uint32_t rd32(const uint8_t* p) noexcept nogil:
    return p[0] | (<uint32_t>p[1] << 8) | (<uint32_t>p[2] << 16) | (<uint32_t>p[3] << 24)


cdef inline uint64_t rd64(const uint8_t* p) noexcept nogil:
    return rd32(p) | (<uint64_t>rd32(p + 4) << 32)


cdef inline void wr16(uint8_t* p, uint32_t v) noexcept nogil:
    p[0] = v & 0xFF
    p[1] = (v >> 8) & 0xFF


cdef inline void wr32(uint8_t* p, uint32_t v) noexcept nogil:
    wr16(p, v & 0xFFFF)
    wr16(p + 2, v >> 16)


cdef inline void wr64(uint8_t* p, uint64_t v) noexcept nogil:
    wr32(p, <uint32_t>v)
    wr32(p + 4, <uint32_t>(v >> 32))


cdef inline F80 rd80(const uint8_t* p) noexcept nogil:
    cdef F80 v
    v.sig = rd64(p)
    v.se = rd16(p + 8)
    return v


cdef inline void wr80(uint8_t* p, F80 v) noexcept nogil:
    wr64(p, v.sig)
    wr16(p + 8, v.se)



cdef F80 real_operand(FCtx* c, const uint8_t* buf, bint is64) noexcept:
    """The m32/m64 real operand of an arithmetic or compare instruction.  A signalling NaN
    stays signalling here, so the operation itself raises IE and chooses the NaN by the
    SDM's rules with the operand as it was (vol. 1 Table 4-7: an SNaN and a QNaN give the
    QNaN) -- a load by FLD quiets it first, an arithmetic operand does not."""
    cdef uint32_t v32
    cdef uint64_t v64
    cdef F80 r
    if is64:
        v64 = rd64(buf)
        if (v64 >> 52) & 0x7FF == 0x7FF and (v64 & 0xFFFFFFFFFFFFF) and not (v64 >> 51) & 1:
            r.se = <uint16_t>(((v64 >> 63) << 15) | 0x7FFF)
            r.sig = (<uint64_t>1 << 63) | ((v64 & 0xFFFFFFFFFFFFF) << 11)
            return r
        return f80_from_f64(c, v64)
    v32 = rd32(buf)
    if (v32 >> 23) & 0xFF == 0xFF and (v32 & 0x7FFFFF) and not (v32 >> 22) & 1:
        r.se = <uint16_t>(((v32 >> 31) << 15) | 0x7FFF)
        r.sig = (<uint64_t>1 << 63) | (<uint64_t>(v32 & 0x7FFFFF) << 40)
        return r
    return f80_from_f32(c, v32)


cdef class FPU:
    """One x87.  `level` picks the generation (1 8087 ... 6 P6)."""

    def __init__(self, int level=6):
        self.level = level
        self.do_reset()

    # ================================================================ CPU interface

    cdef int mem_kind(self, int esc, int reg, bint op32, bint pm) noexcept:
        """(kind << 8) | bytes of the memory operand of (ESC esc, /reg) [SDM vol. 2 A.4.1]."""
        cdef int env = 28 if op32 else 14
        if esc == 0 or esc == 2:                    # m32real / m32int arithmetic
            return (MEM_LOAD << 8) | 4
        if esc == 4:                                # m64real arithmetic
            return (MEM_LOAD << 8) | 8
        if esc == 6:                                # m16int arithmetic
            return (MEM_LOAD << 8) | 2
        if esc == 1:
            if reg == 0:
                return (MEM_LOAD << 8) | 4          # FLD m32real
            if reg == 2 or reg == 3:
                return (MEM_STORE << 8) | 4         # FST(P) m32real
            if reg == 4:
                return (MEM_LOAD << 8) | env        # FLDENV
            if reg == 5:
                return (MEM_LOAD << 8) | 2          # FLDCW
            if reg == 6:
                return (MEM_STORE << 8) | env       # FNSTENV
            if reg == 7:
                return (MEM_STORE << 8) | 2         # FNSTCW
            return MEM_NONE
        if esc == 3:
            if reg == 0:
                return (MEM_LOAD << 8) | 4          # FILD m32int
            if reg == 2 or reg == 3:
                return (MEM_STORE << 8) | 4         # FIST(P) m32int
            if reg == 5:
                return (MEM_LOAD << 8) | 10         # FLD m80real
            if reg == 7:
                return (MEM_STORE << 8) | 10        # FSTP m80real
            return MEM_NONE                         # /1 FISTTP is SSE3; /4 /6 reserved
        if esc == 5:
            if reg == 0:
                return (MEM_LOAD << 8) | 8          # FLD m64real
            if reg == 2 or reg == 3:
                return (MEM_STORE << 8) | 8         # FST(P) m64real
            if reg == 4:
                return (MEM_LOAD << 8) | (env + 80)     # FRSTOR
            if reg == 6:
                return (MEM_STORE << 8) | (env + 80)    # FNSAVE
            if reg == 7:
                return (MEM_STORE << 8) | 2         # FNSTSW m2byte
            return MEM_NONE
        # esc == 7
        if reg == 0:
            return (MEM_LOAD << 8) | 2              # FILD m16int
        if reg == 2 or reg == 3:
            return (MEM_STORE << 8) | 2             # FIST(P) m16int
        if reg == 4:
            return (MEM_LOAD << 8) | 10             # FBLD
        if reg == 5:
            return (MEM_LOAD << 8) | 8              # FILD m64int
        if reg == 6:
            return (MEM_STORE << 8) | 10            # FBSTP
        if reg == 7:
            return (MEM_STORE << 8) | 8             # FISTP m64int
        return MEM_NONE

    cdef bint waits(self, int esc, int modrm) noexcept:
        """0 for the no-wait forms (FN...), which do not check for a pending exception."""
        cdef int reg = (modrm >> 3) & 7
        if modrm < 0xC0:
            return not ((esc == 1 or esc == 5) and reg >= 6)    # FNSTENV FNSTCW FNSAVE FNSTSW
        if esc == 3:
            return not (0xE0 <= modrm <= 0xE4)      # FNENI FNDISI FNCLEX FNINIT FSETPM
        if esc == 7:
            return modrm != 0xE0                    # FNSTSW AX
        return True

    cdef bint is_control(self, int esc, int modrm) noexcept:
        """The control instructions keep the last instruction/operand pointers and opcode
        [SDM vol. 1 8.1.8, 8.3.12]."""
        cdef int reg = (modrm >> 3) & 7
        if modrm < 0xC0:
            return (esc == 1 and reg >= 4) or (esc == 5 and (reg == 4 or reg == 6 or reg == 7))
        if esc == 3:
            return 0xE0 <= modrm <= 0xE4
        if esc == 7:
            return modrm == 0xE0
        return False

    cdef int exec_reg(self, int esc, int modrm, uint32_t eflags) noexcept:
        cdef int reg = (modrm >> 3) & 7, i = modrm & 7
        cdef FCtx c
        cdef bint cond
        if esc == 0:                                # D8: ST(0) op ST(i) -> ST(0)
            if reg == 2 or reg == 3:                # FCOM / FCOMP
                self.ctx(&c, False)
                return self.compare(&c, self.sti(i), self.empty(i), False, reg - 2, False)
            self.ctx(&c, True)
            return self.arith(&c, reg, 0, self.sti(i), self.empty(i), False)
        if esc == 4 or esc == 6:                    # DC: -> ST(i); DE: the same and pop
            if reg == 2 or reg == 3:
                self.ctx(&c, False)
                if esc == 4:                        # DC D0/D8: FCOM2 / FCOMP3 aliases
                    return self.compare(&c, self.sti(i), self.empty(i), False, reg - 2, False)
                if reg == 2:                        # DE D0: FCOMP5 alias
                    return self.compare(&c, self.sti(i), self.empty(i), False, 1, False)
                if i == 1:                          # DE D9: FCOMPP
                    return self.compare(&c, self.sti(1), self.empty(1), False, 2, False)
                return FPU_UD
            self.ctx(&c, True)
            return self.arith(&c, reg, i, self.sti(i), self.empty(i), esc == 6)
        if esc == 1:
            return self.exec_d9_reg(modrm)
        if esc == 2 or (esc == 3 and reg <= 3):
            if esc == 2 and modrm == 0xE9:          # FUCOMPP
                if self.level < 3:
                    return FPU_UD
                self.ctx(&c, False)
                return self.compare(&c, self.sti(1), self.empty(1), True, 2, False)
            if reg > 3 or self.level < 6:
                return FPU_UD
            # FCMOVcc (DA) / FCMOVNcc (DB): B E BE U on CF, ZF, CF|ZF, PF
            if reg == 0:
                cond = (eflags & EF_CF) != 0
            elif reg == 1:
                cond = (eflags & EF_ZF) != 0
            elif reg == 2:
                cond = (eflags & (EF_CF | EF_ZF)) != 0
            else:
                cond = (eflags & EF_PF) != 0
            if esc == 3:
                cond = not cond
            if self.empty(0) or self.empty(i):
                if self.stack_fault(False):
                    self.write_st(0, f80_indefinite())
                return FPU_OK
            self.set_c1(False)
            if cond:
                self.write_st(0, self.sti(i))
            return FPU_OK
        if esc == 3:
            if modrm == 0xE0 or modrm == 0xE1:      # FENI / FDISI: real on the 8087 only
                if self.level == 1:
                    if modrm == 0xE0:
                        self.cw &= ~CW_IEM
                    else:
                        self.cw |= CW_IEM
                return FPU_OK
            if modrm == 0xE2:                       # FNCLEX
                self.sw &= ~(SW_EXC | SW_SF | SW_ES | SW_B)
                return FPU_OK
            if modrm == 0xE3:                       # FNINIT
                self.do_finit()
                return FPU_OK
            if modrm == 0xE4:                       # FSETPM: 287 protected mode; no-op later
                return FPU_OK
            if reg == 5 or reg == 6:                # FUCOMI / FCOMI
                if self.level < 6:
                    return FPU_UD
                self.ctx(&c, False)
                return self.compare(&c, self.sti(i), self.empty(i), reg == 5, 0, True)
            return FPU_UD
        if esc == 5:
            if reg == 0:                            # FFREE
                self.put_tag(self.phys_of(i), TAG_EMPTY)
                return FPU_OK
            if reg == 1:                            # DD C8: FXCH4 alias
                return self.exec_d9_reg(0xC8 | i)
            if reg == 2 or reg == 3:                # FST / FSTP ST(i)
                if self.empty(0):
                    if self.stack_fault(False):
                        self.write_st(i, f80_indefinite())
                        if reg == 3:
                            self.pop()
                    return FPU_OK
                self.set_c1(False)
                self.write_st(i, self.sti(0))
                if reg == 3:
                    self.pop()
                return FPU_OK
            if reg == 4 or reg == 5:                # FUCOM / FUCOMP
                if self.level < 3:
                    return FPU_UD
                self.ctx(&c, False)
                return self.compare(&c, self.sti(i), self.empty(i), True, reg - 4, False)
            return FPU_UD
        # esc == 7
        if reg == 0:                                # FFREEP (undocumented): free, then pop
            self.put_tag(self.phys_of(i), TAG_EMPTY)
            self.pop()
            return FPU_OK
        if reg == 1:                                # DF C8: FXCH7 alias
            return self.exec_d9_reg(0xC8 | i)
        if reg == 2 or reg == 3:                    # DF D0/D8: FSTP8 / FSTP9 aliases
            return self.exec_reg(5, 0xD8 | i, 0)
        if modrm == 0xE0:                           # FNSTSW AX
            return FPU_AX if self.level >= 2 else FPU_UD
        if reg == 5 or reg == 6:                    # FUCOMIP / FCOMIP
            if self.level < 6:
                return FPU_UD
            self.ctx(&c, False)
            return self.compare(&c, self.sti(i), self.empty(i), reg == 5, 1, True)
        return FPU_UD

    cdef int exec_mem(self, int esc, int reg, uint8_t* buf, bint op32, bint pm) noexcept:
        cdef FCtx c
        cdef F80 v
        cdef int k, i
        if esc == 0 or esc == 2 or esc == 4 or esc == 6:
            # Arithmetic and compares with a memory operand, always ST(0) op m.
            if esc == 0 or esc == 4:
                self.ctx(&c, reg != 2 and reg != 3)
                v = real_operand(&c, buf, esc == 4)
            else:
                self.ctx(&c, reg != 2 and reg != 3)
                v = f80_from_i64(<int32_t>rd32(buf)) if esc == 2 else f80_from_i64(<int16_t>rd16(buf))
            if reg == 2 or reg == 3:
                return self.compare(&c, v, False, False, reg - 2, False)
            return self.arith(&c, reg, 0, v, False, False)
        if esc == 1:
            if reg == 0:                            # FLD m32real
                self.ctx(&c, False)
                return self.push_checked(&c, f80_from_f32(&c, rd32(buf)), False)
            if reg == 2 or reg == 3:
                return self.store_st0(K_F32, buf, reg == 3)
            if reg == 4:                            # FLDENV
                self.load_env(buf, op32, pm)
                self.fix_tags()
                return FPU_OK
            if reg == 5:                            # FLDCW
                self.cw = self.norm_cw(rd16(buf))
                self.sync_es()
                return FPU_OK
            if reg == 6:                            # FNSTENV: store, then mask everything
                self.store_env(buf, op32, pm)
                self.cw |= SW_EXC
                return 28 if op32 else 14
            if reg == 7:                            # FNSTCW
                wr16(buf, self.cw)
                return 2
            return FPU_UD
        if esc == 3:
            if reg == 0:                            # FILD m32int
                self.ctx(&c, False)
                return self.push_checked(&c, f80_from_i64(<int32_t>rd32(buf)), False)
            if reg == 2 or reg == 3:
                return self.store_st0(K_I32, buf, reg == 3)
            if reg == 5:                            # FLD m80real: no exception, even for SNaN
                self.ctx(&c, False)
                return self.push_checked(&c, rd80(buf), False)
            if reg == 7:
                return self.store_st0(K_F80, buf, True)
            return FPU_UD
        if esc == 5:
            if reg == 0:                            # FLD m64real
                self.ctx(&c, False)
                return self.push_checked(&c, f80_from_f64(&c, rd64(buf)), False)
            if reg == 2 or reg == 3:
                return self.store_st0(K_F64, buf, reg == 3)
            if reg == 4:                            # FRSTOR: environment, then ST(0)..ST(7)
                self.load_env(buf, op32, pm)
                k = 28 if op32 else 14
                for i in range(8):
                    self.reg[self.phys_of(i)] = rd80(buf + k + 10 * i)
                self.fix_tags()
                return FPU_OK
            if reg == 6:                            # FNSAVE: as FNSTENV plus ST(0)..ST(7), then FNINIT
                self.store_env(buf, op32, pm)
                k = 28 if op32 else 14
                for i in range(8):
                    wr80(buf + k + 10 * i, self.reg[self.phys_of(i)])
                self.do_finit()
                return k + 80
            if reg == 7:                            # FNSTSW m2byte
                wr16(buf, self.sw)
                return 2
            return FPU_UD
        # esc == 7
        if reg == 0:                                # FILD m16int
            self.ctx(&c, False)
            return self.push_checked(&c, f80_from_i64(<int16_t>rd16(buf)), False)
        if reg == 2 or reg == 3:
            return self.store_st0(K_I16, buf, reg == 3)
        if reg == 4:                                # FBLD
            self.ctx(&c, False)
            return self.push_checked(&c, f80_from_bcd(buf), False)
        if reg == 5:                                # FILD m64int
            self.ctx(&c, False)
            return self.push_checked(&c, f80_from_i64(<int64_t>rd64(buf)), False)
        if reg == 6:
            return self.store_st0(K_BCD, buf, True)
        if reg == 7:
            return self.store_st0(K_I64, buf, True)
        return FPU_UD

    # ================================================================ state

    cdef void do_finit(self) noexcept:
        """FNINIT [SDM vol. 3 Table 9-1]: registers keep their contents."""
        self.cw = 0x03FF if self.level == 1 else 0x037F     # the 8087 also sets IEM
        self.sw = 0
        self.tw = 0xFFFF
        if self.level >= 4:
            # The 486 and later clear the pointers; the 8087-387 leave them.
            self.fip = self.fdp = 0
            self.fcs = self.fds = self.fop = 0

    cdef void do_reset(self) noexcept:
        """Hardware RESET [SDM vol. 3 Table 9-1]: the 486 and later come up with CW 0040h,
        all registers +0.0 and tagged zero; the 8087-387 come up as after FNINIT."""
        cdef int p
        for p in range(8):
            self.reg[p].sig = 0
            self.reg[p].se = 0
        self.fip = self.fdp = 0
        self.fcs = self.fds = self.fop = 0
        self.eflags_out = 0
        if self.level >= 4:
            self.cw = 0x0040
            self.sw = 0
            self.tw = 0x5555
        else:
            self.do_finit()

    cdef uint16_t norm_cw(self, uint16_t v) noexcept:
        # Bit 6 reads as 1; bits 13-15 (and on the 287+ bit 7, the 8087's IEM) are reserved.
        if self.level >= 2:
            return (v & 0x1F3F) | 0x0040
        return (v & 0x1FBF) | 0x0040

    cdef void sync_es(self) noexcept:
        """ES and B after the status or control word was loaded."""
        if self.sw & ~self.cw & SW_EXC:
            self.sw |= SW_ES | SW_B
        else:
            self.sw &= ~(SW_ES | SW_B)

    cdef void update_es(self) noexcept:
        if self.sw & ~self.cw & SW_EXC:
            self.sw |= SW_ES | SW_B

    cdef void fix_tags(self) noexcept:
        """The 387 and later keep only empty/non-empty from a loaded tag word and compute the
        rest from the contents [SDM vol. 1 8.1.7; vol. 3 'x87 FPU Tag Word'].  The 8087/287
        honour the tag as loaded."""
        cdef int p
        if self.level < 3:
            return
        for p in range(8):
            if self.get_tag(p) != TAG_EMPTY:
                self.put_tag(p, tag_of(self.reg[p]))

    cdef void store_env(self, uint8_t* buf, bint op32, bint pm) noexcept:
        """FSTENV image [SDM vol. 1 Figures 8-9 to 8-12].  Real and v86 mode store 20-bit
        (32-bit operand size: 32-bit) linear pointers CS*16+IP, with the opcode."""
        cdef uint32_t ip, dp
        self.fix_tags()
        if pm:
            if op32:
                wr32(buf, 0xFFFF0000 | self.cw)
                wr32(buf + 4, 0xFFFF0000 | self.sw)
                wr32(buf + 8, 0xFFFF0000 | self.tw)
                wr32(buf + 12, self.fip)
                wr32(buf + 16, self.fcs | (<uint32_t>(self.fop & 0x7FF) << 16))
                wr32(buf + 20, self.fdp)
                wr32(buf + 24, 0xFFFF0000 | self.fds)
            else:
                wr16(buf, self.cw)
                wr16(buf + 2, self.sw)
                wr16(buf + 4, self.tw)
                wr16(buf + 6, self.fip & 0xFFFF)
                wr16(buf + 8, self.fcs)
                wr16(buf + 10, self.fdp & 0xFFFF)
                wr16(buf + 12, self.fds)
            return
        ip = (<uint32_t>self.fcs << 4) + self.fip
        dp = (<uint32_t>self.fds << 4) + self.fdp
        if op32:
            wr32(buf, 0xFFFF0000 | self.cw)
            wr32(buf + 4, 0xFFFF0000 | self.sw)
            wr32(buf + 8, 0xFFFF0000 | self.tw)
            wr32(buf + 12, 0xFFFF0000 | (ip & 0xFFFF))
            wr32(buf + 16, ((ip & 0xFFFF0000) >> 4) | (self.fop & 0x7FF))
            wr32(buf + 20, 0xFFFF0000 | (dp & 0xFFFF))
            wr32(buf + 24, (dp & 0xFFFF0000) >> 4)
        else:
            wr16(buf, self.cw)
            wr16(buf + 2, self.sw)
            wr16(buf + 4, self.tw)
            wr16(buf + 6, ip & 0xFFFF)
            wr16(buf + 8, ((ip >> 4) & 0xF000) | (self.fop & 0x7FF))
            wr16(buf + 10, dp & 0xFFFF)
            wr16(buf + 12, (dp >> 4) & 0xF000)

    cdef void load_env(self, const uint8_t* buf, bint op32, bint pm) noexcept:
        """FLDENV image (the inverse of store_env); the real-mode form loads linear pointers
        with selector 0.  The caller recomputes the tags (after FRSTOR's registers)."""
        cdef uint32_t t
        if op32:
            self.cw = self.norm_cw(rd16(buf))
            self.sw = rd16(buf + 4)
            self.tw = rd16(buf + 8)
            if pm:
                self.fip = rd32(buf + 12)
                t = rd32(buf + 16)
                self.fcs = t & 0xFFFF
                self.fop = (t >> 16) & 0x7FF
                self.fdp = rd32(buf + 20)
                self.fds = rd16(buf + 24)
            else:
                t = rd32(buf + 16)
                self.fip = (rd32(buf + 12) & 0xFFFF) | ((t & 0x0FFFF000) << 4)
                self.fop = t & 0x7FF
                self.fcs = 0
                self.fdp = (rd32(buf + 20) & 0xFFFF) | ((rd32(buf + 24) & 0x0FFFF000) << 4)
                self.fds = 0
        else:
            self.cw = self.norm_cw(rd16(buf))
            self.sw = rd16(buf + 2)
            self.tw = rd16(buf + 4)
            if pm:
                self.fip = rd16(buf + 6)
                self.fcs = rd16(buf + 8)
                self.fop = 0                # the 16-bit protected-mode image has no opcode
                self.fdp = rd16(buf + 10)
                self.fds = rd16(buf + 12)
            else:
                t = rd16(buf + 8)
                self.fip = rd16(buf + 6) | ((t & 0xF000) << 4)
                self.fop = t & 0x7FF
                self.fcs = 0
                self.fdp = rd16(buf + 10) | ((<uint32_t>rd16(buf + 12) & 0xF000) << 4)
                self.fds = 0
        self.sync_es()

    # ================================================================ stack and tags

    cdef inline int phys_of(self, int i) noexcept:
        return (((self.sw >> 11) & 7) + i) & 7

    cdef inline int get_tag(self, int p) noexcept:
        return (self.tw >> (2 * p)) & 3

    cdef inline void put_tag(self, int p, int t) noexcept:
        self.tw = (self.tw & ~(3 << (2 * p))) | (t << (2 * p))

    cdef inline bint empty(self, int i) noexcept:
        return self.get_tag(self.phys_of(i)) == TAG_EMPTY

    cdef inline F80 sti(self, int i) noexcept:
        return self.reg[self.phys_of(i)]

    cdef void write_st(self, int i, F80 v) noexcept:
        cdef int p = self.phys_of(i)
        self.reg[p] = v
        self.put_tag(p, tag_of(v))

    cdef void set_empty(self, int i) noexcept:
        self.put_tag(self.phys_of(i), TAG_EMPTY)

    cdef inline void pop(self) noexcept:
        self.set_empty(0)
        self.sw = (self.sw & ~SW_TOP) | ((self.sw + 0x0800) & SW_TOP)

    cdef void push(self, F80 v) noexcept:
        self.sw = (self.sw & ~SW_TOP) | ((self.sw - 0x0800) & SW_TOP)
        self.write_st(0, v)

    cdef inline void set_cc(self, int c3, int c2, int c1, int c0) noexcept:
        self.sw = ((self.sw & ~SW_CC) | (SW_C3 if c3 else 0) | (SW_C2 if c2 else 0)
                   | (SW_C1 if c1 else 0) | (SW_C0 if c0 else 0))

    cdef inline void set_c1(self, bint v) noexcept:
        if v:
            self.sw |= SW_C1
        else:
            self.sw &= ~SW_C1

    cdef inline void set_c2(self, bint v) noexcept:
        if v:
            self.sw |= SW_C2
        else:
            self.sw &= ~SW_C2

    # ================================================================ exceptions

    cdef void ctx(self, FCtx* c, bint arith) noexcept:
        """A context for one instruction.  Precision control applies only to the five
        arithmetic operations and FSQRT [SDM vol. 1 8.1.5.2]."""
        c[0] = f80_ctx(self.cw)
        if not arith:
            c.pc = PC_64

    cdef bint finish(self, FCtx* c) noexcept:
        """Post the exceptions of an operation and C1 (rounded up); 1 when the result may be
        written: an unmasked IE, DE or ZE leaves the destination and the stack alone
        [SDM vol. 1 8.5]; unmasked OE/UE still deliver the wrapped result to a register."""
        cdef uint32_t f = c.flags
        self.sw |= f & SW_EXC
        self.update_es()
        if f & ~(<uint32_t>self.cw) & (FLAG_IE | FLAG_DE | FLAG_ZE):
            return False
        self.set_c1((f & FLAG_C1) != 0)
        return True

    cdef bint stack_fault(self, bint overflow) noexcept:
        """Stack overflow (push onto a non-empty register) or underflow (read of an empty
        one): IE with SF, C1 = overflow [SDM vol. 1 8.5.1.1].  Returns 1 when IE is masked:
        the caller then applies the masked response (the real indefinite)."""
        self.sw |= FLAG_IE
        if self.level >= 3:
            self.sw |= SW_SF
            self.set_c1(overflow)
        self.update_es()
        return (self.cw & FLAG_IE) != 0

    cdef bint projective(self) noexcept:
        """The 8087/287 treat infinity as projective (unsigned) unless CW.IC is set."""
        return self.level <= 2 and not (self.cw & CW_IC)

    # ================================================================ operations

    cdef F80 arith_op(self, FCtx* c, int op, F80 a, F80 b) noexcept:
        """a = ST(0), b = the other operand; op = ModR/M reg: 0 add, 1 mul, 4 a-b, 5 b-a,
        6 a/b, 7 b/a (the same for the D8, DC and DE forms; only the destination differs)."""
        if op == 0 or op == 4 or op == 5:
            if (self.projective() and f80_class(a) == CLS_INF and f80_class(b) == CLS_INF):
                c.flags |= FLAG_IE          # projective infinity has no sign to add
                return f80_indefinite()
        if op == 0:
            return f80_add(c, a, b)
        if op == 1:
            return f80_mul(c, a, b)
        if op == 4:
            return f80_sub(c, a, b)
        if op == 5:
            return f80_sub(c, b, a)
        if op == 6:
            return f80_div(c, a, b)
        return f80_div(c, b, a)

    cdef int arith(self, FCtx* c, int op, int dst, F80 b, bint b_empty, bint do_pop) noexcept:
        cdef F80 r
        if self.empty(0) or b_empty:
            if self.stack_fault(False):
                self.write_st(dst, f80_indefinite())
                if do_pop:
                    self.pop()
            return FPU_OK
        r = self.arith_op(c, op, self.sti(0), b)
        if self.finish(c):
            self.write_st(dst, r)
            if do_pop:
                self.pop()
        return FPU_OK

    cdef void cc_from_cmp(self, int r) noexcept:
        # C3 C2 C0: > 000, < 001, = 100, unordered 111; C1 = 0 [SDM vol. 2 FCOM Table 3-21]
        if r == CMP_GT:
            self.set_cc(0, 0, 0, 0)
        elif r == CMP_LT:
            self.set_cc(0, 0, 0, 1)
        elif r == CMP_EQ:
            self.set_cc(1, 0, 0, 0)
        else:
            self.set_cc(1, 1, 0, 1)

    cdef int compare(self, FCtx* c, F80 b, bint b_empty, bint quiet, int npop,
                     bint to_eflags) noexcept:
        """ST(0) against b, into C3 C2 C0 or (FCOMI) into ZF PF CF; then pop npop times."""
        cdef int r, ca, cb
        if self.empty(0) or b_empty:
            if not self.stack_fault(False):
                return FPU_OK
            r = CMP_UN
            c.flags = 0
        else:
            r = f80_compare(c, self.sti(0), b, quiet)
            if self.projective():
                ca = f80_class(self.sti(0))
                cb = f80_class(b)
                if (ca == CLS_INF) != (cb == CLS_INF) and r != CMP_UN:
                    r = CMP_UN              # projective infinity is unordered with numbers
                    c.flags |= FLAG_IE
                elif ca == CLS_INF and cb == CLS_INF:
                    r = CMP_EQ
            if not self.finish(c):
                return FPU_OK               # unmasked: condition codes and stack unchanged
        while npop > 0:
            self.pop()
            npop -= 1
        if to_eflags:
            self.set_c1(False)
            if r == CMP_GT:
                self.eflags_out = 0
            elif r == CMP_LT:
                self.eflags_out = EF_CF
            elif r == CMP_EQ:
                self.eflags_out = EF_ZF
            else:
                self.eflags_out = EF_ZF | EF_PF | EF_CF
            return FPU_FLAGS
        self.cc_from_cmp(r)
        return FPU_OK

    cdef int push_checked(self, FCtx* c, F80 v, bint src_empty) noexcept:
        """Push v (a load): overflow when the new ST(0) is not empty; src_empty, a load
        from an empty register, is an underflow.  C1 = 0 unless overflow."""
        if not self.empty(7):
            if self.stack_fault(True):
                self.push(f80_indefinite())
            return FPU_OK
        if src_empty:
            if self.stack_fault(False):
                self.push(f80_indefinite())
            return FPU_OK
        if self.finish(c):
            self.push(v)
        return FPU_OK

    cdef int store_st0(self, int kind, uint8_t* buf, bint do_pop) noexcept:
        """FST/FSTP/FIST/FISTP/FBSTP to memory: returns the bytes to write, 0 when an
        unmasked exception suppresses the store (the stack is then not popped either)."""
        cdef FCtx c
        cdef bint ok = True
        cdef uint32_t v32
        cdef uint64_t v64
        cdef int64_t iv
        cdef int n
        cdef F80 a
        if kind == K_F32 or kind == K_I32:
            n = 4
        elif kind == K_F64 or kind == K_I64:
            n = 8
        elif kind == K_I16:
            n = 2
        else:
            n = 10
        if self.empty(0):
            if not self.stack_fault(False):
                return 0
            # Masked underflow: the indefinite of the destination format.
            if kind == K_F32:
                wr32(buf, 0xFFC00000)
            elif kind == K_F64:
                wr64(buf, 0xFFF8000000000000)
            elif kind == K_I16:
                wr16(buf, 0x8000)
            elif kind == K_I32:
                wr32(buf, 0x80000000)
            elif kind == K_I64:
                wr64(buf, 0x8000000000000000)
            else:                           # m80real and the packed-BCD indefinite
                wr80(buf, f80_indefinite())
            if do_pop:
                self.pop()
            return n
        a = self.sti(0)
        self.ctx(&c, False)
        if kind == K_F32:
            ok = f80_to_f32(&c, a, &v32)
            if ok:
                wr32(buf, v32)
        elif kind == K_F64:
            ok = f80_to_f64(&c, a, &v64)
            if ok:
                wr64(buf, v64)
        elif kind == K_F80:
            wr80(buf, a)                    # exact, no exception
        elif kind == K_BCD:
            ok = f80_to_bcd(&c, a, buf)
        else:
            ok = f80_to_int(&c, a, n, &iv)
            if ok:
                if n == 2:
                    wr16(buf, <uint32_t>(iv & 0xFFFF))
                elif n == 4:
                    wr32(buf, <uint32_t>(iv & 0xFFFFFFFF))
                else:
                    wr64(buf, <uint64_t>iv)
        if not self.finish(&c) or not ok:
            return 0
        if do_pop:
            self.pop()
        return n

    cdef int two_results_fault(self) noexcept:
        """FPTAN/FSINCOS/FXTRACT replace ST(0) and push: underflow when ST(0) is empty,
        overflow when ST(7) is not; masked, both results are the indefinite.  Returns 1
        when a fault was handled."""
        cdef bint over
        if not self.empty(0) and self.empty(7):
            return 0
        over = self.empty(7) == 0 and not self.empty(0)
        if self.stack_fault(over):
            self.write_st(0, f80_indefinite())
            self.push(f80_indefinite())
        return 1

    cdef int unary(self, int which) noexcept:
        """D9 E0-E5: FCHS FABS FTST FXAM."""
        cdef FCtx c
        cdef F80 a
        cdef int cls
        cdef bint sign
        if which == 5:                      # FXAM: never an exception, works on empty
            a = self.sti(0)
            sign = (a.se >> 15) & 1
            if self.empty(0):
                self.set_cc(1, 0, sign, 1)
                return FPU_OK
            cls = f80_class(a)
            if cls == CLS_ZERO:
                self.set_cc(1, 0, sign, 0)
            elif cls == CLS_DENORMAL:
                self.set_cc(1, 1, sign, 0)
            elif cls == CLS_NORMAL:
                self.set_cc(0, 1, sign, 0)
            elif cls == CLS_INF:
                self.set_cc(0, 1, sign, 1)
            elif cls == CLS_QNAN or cls == CLS_SNAN:
                self.set_cc(0, 0, sign, 1)
            else:
                self.set_cc(0, 0, sign, 0)  # unsupported
            return FPU_OK
        if which == 4:                      # FTST: compare with +0.0
            self.ctx(&c, False)
            return self.compare(&c, f80_zero(0), False, False, 0, False)
        if self.empty(0):
            if self.stack_fault(False):
                self.write_st(0, f80_indefinite())
            return FPU_OK
        a = self.sti(0)
        if which == 0:
            a.se ^= 0x8000                  # FCHS: sign only, no exception even for SNaN
        else:
            a.se &= 0x7FFF                  # FABS
        self.set_c1(False)
        self.write_st(0, a)
        return FPU_OK

    cdef int exec_d9_reg(self, int modrm) noexcept:
        cdef int reg = (modrm >> 3) & 7, i = modrm & 7
        cdef FCtx c
        cdef F80 a, b
        cdef bint e0, ei
        if reg == 0:                        # FLD ST(i): read before the push
            self.ctx(&c, False)
            return self.push_checked(&c, self.sti(i), self.empty(i))
        if reg == 1:                        # FXCH (and the DD C8 / DF C8 aliases)
            e0 = self.empty(0)
            ei = self.empty(i)
            if e0 or ei:
                if not self.stack_fault(False):
                    return FPU_OK
                if e0:
                    self.write_st(0, f80_indefinite())
                if ei:
                    self.write_st(i, f80_indefinite())
            else:
                self.set_c1(False)
            a = self.sti(0)
            b = self.sti(i)
            self.write_st(0, b)
            self.write_st(i, a)
            return FPU_OK
        if reg == 2:
            return FPU_OK if i == 0 else FPU_UD     # FNOP; D9 D1-D7 reserved
        if reg == 3:                        # D9 D8: FSTP1 alias
            return self.exec_reg(5, 0xD8 | i, 0)
        if reg == 4:
            if i == 0 or i == 1 or i == 4 or i == 5:
                return self.unary(i)
            return FPU_UD
        if reg == 5:                        # FLD1 FLDL2T FLDL2E FLDPI FLDLG2 FLDLN2 FLDZ
            if i == 7:
                return FPU_UD
            self.ctx(&c, False)
            if self.level < 3:
                c.rc = RC_NEAREST           # the 8087/287 ignore RC for the constants
            a = f80_const(&c, i)
            c.flags = 0                     # only the stack can fault [SDM vol. 2 FLD1...]
            return self.push_checked(&c, a, False)
        return self.exec_trans(modrm)

    cdef int exec_trans(self, int modrm) noexcept:
        """D9 F0-FF."""
        cdef FCtx c
        cdef F80 a, b, r, r2
        cdef bint oor = False, partial = False
        cdef int q = 0
        self.ctx(&c, modrm == 0xFA)         # FSQRT is the one with precision control
        if modrm == 0xF6 or modrm == 0xF7:  # FDECSTP / FINCSTP: TOP only, tags stay
            self.sw = (self.sw & ~SW_TOP) | ((self.sw + (0x3800 if modrm == 0xF6 else 0x0800)) & SW_TOP)
            self.set_c1(False)
            return FPU_OK
        if self.level < 3 and (modrm == 0xF5 or modrm == 0xFB or modrm == 0xFE or modrm == 0xFF):
            return FPU_UD                   # FPREM1 FSINCOS FSIN FCOS are 387 instructions
        if modrm == 0xF2 or modrm == 0xFB or modrm == 0xF4:     # FPTAN FSINCOS FXTRACT
            if self.two_results_fault():
                return FPU_OK
            a = self.sti(0)
            if modrm == 0xF4:
                r = f80_xtract(&c, a, &r2)  # r significand, r2 exponent
                if self.finish(&c):
                    self.write_st(0, r2)
                    self.push(r)
                return FPU_OK
            if modrm == 0xF2:
                r = f80_tan(&c, a, &oor)
                r2 = f80_make(0, 0x3FFF, 0x8000000000000000)   # FPTAN pushes +1.0
            else:
                f80_sincos(&c, a, &r2, &r, &oor)
            if oor:                         # |x| >= 2^63: C2 = 1, operand unchanged
                self.set_c2(True)
                return FPU_OK
            if self.finish(&c):
                self.set_c2(False)
                if modrm == 0xF2:
                    self.write_st(0, r)
                    self.push(r2)
                else:                       # FSINCOS: ST(1) = sin, ST(0) = cos
                    self.write_st(0, r2)
                    self.push(r)
            return FPU_OK
        # One operand (ST(0)) or two (ST(0), ST(1)).
        if modrm == 0xF1 or modrm == 0xF3 or modrm == 0xF5 or modrm == 0xF8 or modrm == 0xF9 or modrm == 0xFD:
            if self.empty(0) or self.empty(1):
                if self.stack_fault(False):
                    if modrm == 0xF1 or modrm == 0xF3 or modrm == 0xF9:
                        self.write_st(1, f80_indefinite())
                        self.pop()
                    else:
                        self.write_st(0, f80_indefinite())
                return FPU_OK
            a = self.sti(0)
            b = self.sti(1)
            if modrm == 0xF1 or modrm == 0xF3 or modrm == 0xF9:   # result to ST(1), pop
                if modrm == 0xF1:
                    r = f80_yl2x(&c, a, b)
                elif modrm == 0xF3:
                    r = f80_atan(&c, b, a)
                else:
                    r = f80_yl2xp1(&c, a, b)
                if self.finish(&c):
                    self.write_st(1, r)
                    self.pop()
                return FPU_OK
            if modrm == 0xFD:               # FSCALE
                r = f80_scale(&c, a, b)
                if self.finish(&c):
                    self.write_st(0, r)
                return FPU_OK
            # FPREM (F8) / FPREM1 (F5): C2 = incomplete; complete: C0 C3 C1 = Q2 Q1 Q0
            r = f80_rem(&c, a, b, modrm == 0xF5, &q, &partial)
            if self.finish(&c):
                self.write_st(0, r)
                if partial:
                    self.set_cc(0, 1, 0, 0)
                else:
                    self.set_cc((q >> 1) & 1, 0, q & 1, (q >> 2) & 1)
            return FPU_OK
        if self.empty(0):
            if self.stack_fault(False):
                self.write_st(0, f80_indefinite())
            return FPU_OK
        a = self.sti(0)
        if modrm == 0xF0:
            r = f80_2xm1(&c, a)
        elif modrm == 0xFA:
            if self.projective() and a.se == 0x7FFF and a.sig == 0x8000000000000000:
                c.flags |= FLAG_IE          # sqrt of the unsigned projective infinity
                r = f80_indefinite()
            else:
                r = f80_sqrt(&c, a)
        elif modrm == 0xFC:
            r = f80_round_int(&c, a)
        else:                               # FE FSIN / FF FCOS
            if modrm == 0xFE:
                r = f80_sin(&c, a, &oor)
            else:
                r = f80_cos(&c, a, &oor)
            if oor:
                self.set_c2(True)
                return FPU_OK
            self.set_c2(False)
        if self.finish(&c):
            self.write_st(0, r)
        return FPU_OK

    # ================================================================ Python API

    property top:
        def __get__(self):
            return (self.sw >> 11) & 7

        def __set__(self, int v):
            self.sw = (self.sw & ~SW_TOP) | ((v & 7) << 11)

    def st(self, int i):
        """ST(i) as an 80-bit integer (sign/exponent << 64 | significand)."""
        return f80_to_py(self.reg[self.phys_of(i & 7)])

    def set_st(self, int i, value):
        """Write ST(i); its tag follows the value (the register becomes non-empty)."""
        self.write_st(i & 7, f80_from_py(value))

    def phys(self, int p):
        return f80_to_py(self.reg[p & 7])

    def set_phys(self, int p, value):
        p &= 7
        self.reg[p] = f80_from_py(value)
        self.put_tag(p, tag_of(self.reg[p]))

    def tag(self, int p):
        """The tag of physical register p: 0 valid, 1 zero, 2 special, 3 empty."""
        return self.get_tag(p & 7)

    def set_tag(self, int p, int t):
        self.put_tag(p & 7, t & 3)

    def abridged_tag(self):
        """The FXSAVE form: bit p = 1 when physical register p is not empty."""
        cdef int p, r = 0
        for p in range(8):
            if self.get_tag(p) != TAG_EMPTY:
                r |= 1 << p
        return r

    def state(self):
        return {"cw": self.cw, "sw": self.sw, "tw": self.tw, "fip": self.fip,
                "fcs": self.fcs, "fdp": self.fdp, "fds": self.fds, "fop": self.fop,
                "regs": [f80_to_py(self.reg[p]) for p in range(8)]}

    def load_state(self, d):
        cdef int p
        self.cw = d.get("cw", self.cw)
        self.sw = d.get("sw", self.sw)
        self.tw = d.get("tw", self.tw)
        self.fip = d.get("fip", self.fip)
        self.fcs = d.get("fcs", self.fcs)
        self.fdp = d.get("fdp", self.fdp)
        self.fds = d.get("fds", self.fds)
        self.fop = d.get("fop", self.fop)
        if "regs" in d:
            for p in range(8):
                self.reg[p] = f80_from_py(d["regs"][p])

    def reset(self):
        self.do_reset()

    def finit(self):
        self.do_finit()

    def execute_reg(self, int esc, int modrm, uint32_t eflags=0):
        """Test hook: run the register form (esc 0-7 for D8-DF, the full ModR/M byte)."""
        return self.exec_reg(esc & 7, modrm | 0xC0, eflags)

    def execute_mem(self, int esc, int reg, data=0, bint op32=True, bint pm=True):
        """Test hook: run a memory form.  Loads take the operand bytes; stores return them.
        Returns (rc, bytes_out): rc is FPU_OK/FPU_UD for loads, the byte count for stores."""
        cdef uint8_t buf[128]
        cdef int mk = self.mem_kind(esc & 7, reg & 7, op32, pm)
        cdef int kind = mk >> 8, n = mk & 0xFF, rc
        memset(buf, 0, sizeof(buf))
        if kind == MEM_NONE:
            return FPU_UD, b""
        if kind == MEM_LOAD:
            data = bytes(data)
            if len(data) != n:
                raise ValueError(f"operand must be {n} bytes, not {len(data)}")
            for k in range(n):
                buf[k] = data[k]
            rc = self.exec_mem(esc & 7, reg & 7, buf, op32, pm)
            return rc, b""
        rc = self.exec_mem(esc & 7, reg & 7, buf, op32, pm)
        if rc <= 0:
            return rc, b""
        return rc, bytes([buf[k] for k in range(rc)])

    def mem_operand(self, int esc, int reg, bint op32=True, bint pm=True):
        """(kind, bytes) of a memory form: kind 0 none, 1 load, 2 store."""
        cdef int mk = self.mem_kind(esc & 7, reg & 7, op32, pm)
        return mk >> 8, mk & 0xFF

    def is_waiting(self, int esc, int modrm):
        return bool(self.waits(esc & 7, modrm & 0xFF))

    def is_control_instr(self, int esc, int modrm):
        return bool(self.is_control(esc & 7, modrm & 0xFF))

    def describe_st(self, int i):
        return describe(f80_to_py(self.sti(i & 7)))


# ==================================================================== formatting

def classify(value):
    """The class of an 80-bit value, by its encoding [SDM vol. 1 Table 8-3, 4.8.3]."""
    value = int(value)
    sig = value & 0xFFFFFFFFFFFFFFFF
    exp = (value >> 64) & 0x7FFF
    sign = (value >> 79) & 1
    j = sig >> 63
    frac = sig & 0x7FFFFFFFFFFFFFFF
    if exp == 0:
        if sig == 0:
            return "zero"
        return "pseudo-denormal" if j else "denormal"
    if exp == 0x7FFF:
        if not j:
            return "pseudo-infinity" if frac == 0 else "pseudo-NaN"
        if frac == 0:
            return "infinity"
        if not (frac >> 62):
            return "SNaN"
        if sign and frac == 1 << 62:
            return "indefinite"
        return "QNaN"
    return "normal" if j else "unnormal"


def exact_value(value):
    """The exact value of a finite 80-bit number as a Fraction (None for NaN/infinity)."""
    from core.f80 import to_fraction
    value = int(value)
    if (value >> 64) & 0x7FFF == 0x7FFF:
        return None
    return to_fraction(value)


def decimal_digits(f, digits=19):
    """f to `digits` significant decimal digits, rounded to nearest, exactly."""
    if f == 0:
        return "0"
    neg = f < 0
    f = abs(f)
    # The decimal exponent from the bit lengths (log10(2) = 0.30103), corrected below:
    # str() of an 80-bit denormal's denominator would pass Python's digit limit.
    e10 = (f.numerator.bit_length() - f.denominator.bit_length()) * 30103 // 100000
    scaled = f * Fraction(10) ** (digits - 1 - e10)
    while scaled >= 10 ** digits:
        scaled /= 10
        e10 += 1
    while scaled < 10 ** (digits - 1):
        scaled *= 10
        e10 -= 1
    n = round(scaled)
    if n == 10 ** digits:
        n //= 10
        e10 += 1
    s = str(n)
    if -5 <= e10 < digits:
        if e10 >= 0:
            txt = s[:e10 + 1] + "." + s[e10 + 1:]
        else:
            txt = "0." + "0" * (-e10 - 1) + s
        txt = txt.rstrip("0").rstrip(".")
    else:
        m = (s[0] + "." + s[1:]).rstrip("0").rstrip(".")
        txt = f"{m}e{e10:+d}"
    return ("-" if neg else "") + txt


def describe(value):
    """A readable form of an 80-bit value: decimal (19 significant digits, exact
    arithmetic) and its class, e.g. '-1.5 (normal)', '+inf (infinity)'."""
    value = int(value)
    cls = classify(value)
    sign = "-" if (value >> 79) & 1 else "+"
    if cls in ("infinity", "pseudo-infinity"):
        return f"{sign}inf ({cls})"
    if cls in ("SNaN", "QNaN", "indefinite", "pseudo-NaN"):
        return f"{sign}nan ({cls})"
    f = exact_value(value)
    txt = decimal_digits(f)
    if f == 0 and sign == "-":
        txt = "-0"
    return f"{txt} ({cls})"
