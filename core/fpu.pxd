# cython: language_level=3
"""The x87 floating-point unit (8087 through the Pentium II), as the CPU sees it.

The CPU decodes the ESC opcode (D8-DF) and its ModR/M byte, computes the operand address,
moves the bytes between guest memory and a buffer, delivers #NM/#MF/IRQ13, and sets
FIP/FCS/FOP/FDP/FDS for the non-control instructions before calling exec_*.  This unit
holds the registers and does everything else [Intel SDM vol. 1 ch. 8].
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t
from core.f80 cimport F80, FCtx

# ---- what exec_reg / exec_mem return.  Stores return the number of bytes to write
# (>= 0), so the codes that are not "done" are negative.
cdef enum:
    FPU_OK = 0
    FPU_UD = -1         # an encoding this level does not have: the CPU raises #UD
    FPU_FLAGS = -2      # FCOMI/FUCOMI(P): copy ZF PF CF from eflags_out, clear OF SF AF
    FPU_AX = -3         # FNSTSW AX: put sw into AX

# ---- mem_kind(): (kind << 8) | bytes
cdef enum:
    MEM_NONE = 0        # reserved or invalid encoding (#UD)
    MEM_LOAD = 1        # the CPU reads `bytes` bytes into buf, then calls exec_mem
    MEM_STORE = 2       # the CPU checks the destination, calls exec_mem, writes what it returns

# ---- level: which x87 this is
cdef enum:
    LEVEL_8087 = 1
    LEVEL_287 = 2
    LEVEL_387 = 3
    LEVEL_486 = 4
    LEVEL_PENTIUM = 5
    LEVEL_P6 = 6

cdef class FPU:
    cdef F80 reg[8]                  # physical registers R0-R7
    cdef public uint16_t cw, sw      # control word; status word with TOP in bits 11-13
    cdef public uint16_t tw          # full tag word, 2 bits per physical register
    cdef public uint32_t fip, fdp    # last non-control instruction's offset, its operand's offset
    cdef public uint16_t fcs, fds, fop
    cdef public int level            # LEVEL_*
    cdef public uint32_t eflags_out  # ZF PF CF result of FCOMI/FUCOMI(P)

    # ---- the CPU's interface
    cdef int mem_kind(self, int esc, int reg, bint op32, bint pm) noexcept
    cdef bint waits(self, int esc, int modrm) noexcept
    # 1 for the control instructions, which leave FIP/FCS/FOP/FDP/FDS alone (the CPU
    # must not set them before calling exec_* for these) [SDM vol. 1 8.1.8]
    cdef bint is_control(self, int esc, int modrm) noexcept
    cdef int exec_reg(self, int esc, int modrm, uint32_t eflags) noexcept
    cdef int exec_mem(self, int esc, int reg, uint8_t* buf, bint op32, bint pm) noexcept

    # ---- internals
    cdef void do_finit(self) noexcept
    cdef void do_reset(self) noexcept
    cdef inline int phys_of(self, int i) noexcept
    cdef inline int get_tag(self, int p) noexcept
    cdef inline void put_tag(self, int p, int t) noexcept
    cdef inline bint empty(self, int i) noexcept
    cdef inline F80 sti(self, int i) noexcept
    cdef void write_st(self, int i, F80 v) noexcept
    cdef void set_empty(self, int i) noexcept
    cdef inline void pop(self) noexcept
    cdef void push(self, F80 v) noexcept
    cdef inline void set_cc(self, int c3, int c2, int c1, int c0) noexcept
    cdef inline void set_c1(self, bint v) noexcept
    cdef inline void set_c2(self, bint v) noexcept
    cdef void ctx(self, FCtx* c, bint arith) noexcept
    cdef bint finish(self, FCtx* c) noexcept
    cdef void update_es(self) noexcept
    cdef void sync_es(self) noexcept
    cdef bint stack_fault(self, bint overflow) noexcept
    cdef bint projective(self) noexcept
    cdef int arith(self, FCtx* c, int op, int dst, F80 b, bint b_empty, bint do_pop) noexcept
    cdef F80 arith_op(self, FCtx* c, int op, F80 a, F80 b) noexcept
    cdef int compare(self, FCtx* c, F80 b, bint b_empty, bint quiet, int npop, bint to_eflags) noexcept
    cdef void cc_from_cmp(self, int r) noexcept
    cdef int push_checked(self, FCtx* c, F80 v, bint src_empty) noexcept
    cdef int two_results_fault(self) noexcept
    cdef int exec_d9_reg(self, int modrm) noexcept
    cdef int unary(self, int which) noexcept
    cdef int exec_trans(self, int modrm) noexcept
    cdef int store_st0(self, int kind, uint8_t* buf, bint do_pop) noexcept
    cdef void fix_tags(self) noexcept
    cdef void store_env(self, uint8_t* buf, bint op32, bint pm) noexcept
    cdef void load_env(self, const uint8_t* buf, bint op32, bint pm) noexcept
    cdef uint16_t norm_cw(self, uint16_t v) noexcept
