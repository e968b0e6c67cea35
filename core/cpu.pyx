# cython: language_level=3
"""The x86 CPU core: 8086/8088, 80186, 80286 and 80386 integer instruction sets.

State is typed C fields; no Python object is created per instruction.  Guest faults
unwind with longjmp to the run loop (as a microcode abort does), so the memory
helpers need no error returns on the hot path.  Everything that can hold a Python
reference is done before a fault can be raised, never across one.

Decode and ISA gating come from core/opcodes.py (the opcode table), timing from
core/timing.py, quirks from core/models.py: this file holds behaviour only.
"""
cimport cython
from libc.stdint cimport uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, uint64_t, int64_t
from libc.setjmp cimport jmp_buf, setjmp, longjmp
from libc.string cimport memset, memmove, memcpy, memcmp
from libc.stdlib cimport malloc, calloc, realloc, free
cdef extern from "<stdlib.h>":
    void* aligned_alloc(size_t alignment, size_t size)
from cpython.memoryview cimport PyMemoryView_FromMemory
from cpython.buffer cimport (PyBUF_READ, PyBUF_WRITABLE, PyBUF_SIMPLE, PyObject_GetBuffer,
                             PyBuffer_Release)

cdef extern from *:
    int __builtin_ctz(unsigned int x) nogil
    # (Cython's __builtin_expect: dc_loop's blocks laid out for the plain run, the
    # recorder's and the debugger's tests out of its way)
    bint unlikely(bint x) nogil
# Always in line: the flag helpers of the decoded forms (alu_c, inc_dec_c, shift32_imm),
# the memory access's common case (rd_fast, wr_fast), the first instruction's operand
# access (dc_get, dc_put), the operation of a fused or register-only instruction (dc_op,
# dc_reg_first, dc_first_alu, dc_first_incdec, dc_first_shift) and the recorder's end
# of an instruction (dc_trace_end, trace_known_done).  With its heuristics alone GCC
# stops inlining into dc_loop once the unit has grown by its limit, and which call sites
# get there first moves with any change to the module, leaving a call on every fused ALU
# instruction, memory access or recorded instruction (with rd_fast in line, dc_get and
# dc_put were calls: 0.7 M more mispredicted branches on bench.rom by cachegrind's model,
# for 3 M fewer instructions; shift32_imm, once dc_op and dc_trace_run shared it, 2.5
# host instructions a guest instruction).  The names are Cython's for these methods;
# tests/test_hot_loop_c.py checks that the generated C defines them.
cdef extern from *:
    """
    struct __pyx_obj_4core_3cpu__CPU;
    static inline __attribute__((always_inline)) uint32_t __pyx_f_4core_3cpu_4_CPU_alu_c(
        struct __pyx_obj_4core_3cpu__CPU *, int, uint32_t, uint32_t, int);
    static inline __attribute__((always_inline)) uint32_t __pyx_f_4core_3cpu_4_CPU_inc_dec_c(
        struct __pyx_obj_4core_3cpu__CPU *, uint32_t, int, int);
    static inline __attribute__((always_inline)) uint32_t __pyx_f_4core_3cpu_4_CPU_shift32_imm(
        struct __pyx_obj_4core_3cpu__CPU *, int, uint32_t, uint32_t);
    static inline __attribute__((always_inline)) uint32_t __pyx_f_4core_3cpu_4_CPU_rd_fast(
        struct __pyx_obj_4core_3cpu__CPU *, int, uint32_t, int);
    static inline __attribute__((always_inline)) void __pyx_f_4core_3cpu_4_CPU_wr_fast(
        struct __pyx_obj_4core_3cpu__CPU *, int, uint32_t, int, uint32_t);
    static inline __attribute__((always_inline)) void __pyx_f_4core_3cpu_4_CPU_trace_known_done(
        struct __pyx_obj_4core_3cpu__CPU *, uint32_t);
    struct __pyx_t_4core_3cpu_DInsn;
    static inline __attribute__((always_inline)) uint32_t __pyx_f_4core_3cpu_4_CPU_dc_get(
        struct __pyx_obj_4core_3cpu__CPU *, struct __pyx_t_4core_3cpu_DInsn *, uint32_t, int);
    static inline __attribute__((always_inline)) void __pyx_f_4core_3cpu_4_CPU_dc_put(
        struct __pyx_obj_4core_3cpu__CPU *, struct __pyx_t_4core_3cpu_DInsn *, uint32_t, int,
        uint32_t);
    static inline __attribute__((always_inline)) void __pyx_f_4core_3cpu_4_CPU_dc_reg_first(
        struct __pyx_obj_4core_3cpu__CPU *, struct __pyx_t_4core_3cpu_DInsn *);
    static inline __attribute__((always_inline)) void __pyx_f_4core_3cpu_4_CPU_dc_first_alu(
        struct __pyx_obj_4core_3cpu__CPU *, struct __pyx_t_4core_3cpu_DInsn *, uint32_t);
    static inline __attribute__((always_inline)) void __pyx_f_4core_3cpu_4_CPU_dc_first_incdec(
        struct __pyx_obj_4core_3cpu__CPU *, struct __pyx_t_4core_3cpu_DInsn *);
    static inline __attribute__((always_inline)) void __pyx_f_4core_3cpu_4_CPU_dc_first_shift(
        struct __pyx_obj_4core_3cpu__CPU *, struct __pyx_t_4core_3cpu_DInsn *);
    struct __pyx_t_4core_3cpu_DOp;
    static inline __attribute__((always_inline)) void __pyx_f_4core_3cpu_4_CPU_dc_op(
        struct __pyx_obj_4core_3cpu__CPU *, struct __pyx_t_4core_3cpu_DOp *);
    static inline __attribute__((always_inline)) void __pyx_f_4core_3cpu_4_CPU_dc_trace_end(
        struct __pyx_obj_4core_3cpu__CPU *, struct __pyx_t_4core_3cpu_DInsn *, int, uint32_t, int,
        uint32_t, uint32_t, uint32_t);
    """
from core.bus cimport Bus, PAGE_SHIFT, PAGE_SIZE
from core.clock cimport Clock
from core.fpu cimport FPU, FPU_OK, FPU_UD, FPU_FLAGS, FPU_AX, MEM_NONE, MEM_LOAD, MEM_STORE
from core.mmx cimport (mmx_form, mmx_src_bytes, mmx_enter, mmx_emms, mmx_read, mmx_write, mmx_exec,
                      MMX_SHIFT_IMM, MMX_LOAD_D, MMX_STORE_D, MMX_STORE_Q, MMX_EMMS)

from collections import namedtuple

from core import opcodes as _opcodes
from core.isa cimport ISA_8086, ISA_186, ISA_286, ISA_386, ISA_486
from core.models import get_model, coprocessor, COPROCESSORS

Segment = namedtuple("Segment", "selector base limit access")

# ---------------------------------------------------------------- constants
cdef enum:
    R_EAX = 0
    R_ECX = 1
    R_EDX = 2
    R_EBX = 3
    R_ESP = 4
    R_EBP = 5
    R_ESI = 6
    R_EDI = 7

# Segment register numbers follow the ModR/M sreg encoding.
cdef enum:
    S_ES = 0
    S_CS = 1
    S_SS = 2
    S_DS = 3
    S_FS = 4
    S_GS = 5
    S_LDTR = 6
    S_TR = 7

cdef enum:
    F_CF = 0x0001
    F_PF = 0x0004
    F_AF = 0x0010
    F_ZF = 0x0040
    F_SF = 0x0080
    F_TF = 0x0100
    F_IF = 0x0200
    F_DF = 0x0400
    F_OF = 0x0800
    F_IOPL = 0x3000
    F_NT = 0x4000
    F_RF = 0x10000
    F_VM = 0x20000
    F_AC = 0x40000
    F_ARITH = 0x08D5        # OF SF ZF AF PF CF

# A REP string instruction yields (and restarts) after this many iterations at most, so
# that one instruction cannot hold the run loop past its budget for minutes; see
# string_op.  More than any 16-bit count, so real-mode REPs with CX run whole as before.
cdef enum:
    REP_YIELD = 1 << 18

# Exception vectors.
cdef enum:
    EXC_DE = 0
    EXC_DB = 1
    EXC_BP = 3
    EXC_OF = 4
    EXC_BR = 5
    EXC_UD = 6
    EXC_NM = 7
    EXC_DF = 8
    EXC_TS = 10
    EXC_NP = 11
    EXC_SS = 12
    EXC_GP = 13
    EXC_PF = 14
    EXC_MF = 16
    EXC_AC = 17

# Where a task switch comes from (it decides busy bits, NT and the back link).
cdef enum:
    TASK_JMP = 0
    TASK_CALL = 1
    TASK_INT = 2
    TASK_IRET = 3

cdef enum:
    TLB_SIZE = 1024
    # tlb_perm bits above the four access rights (1 supervisor read, 2 supervisor write,
    # 4 user read, 8 user write): a global page (CR4.PGE and G) survives a CR3 load; a
    # granule of a 4-MB or 2-MB page is dropped by an INVLPG anywhere in that page.
    TLB_GLOBAL = 0x10
    TLB_LARGE = 0x20

# CR4 bits that change how linear addresses translate [SDM vol. 3, "Paging"].
cdef enum:
    CR4_PSE = 0x10
    CR4_PAE = 0x20
    CR4_PGE = 0x80
    CR0_PG_CD_NW = 0xE0000000u
    # PAE: the P6 drives 36 address bits (A[35:3]#), so bits 63:36 of every entry are
    # reserved; a PDPTE also reserves bits 1-2 and 5-8 [SDM vol. 3, "PAE Paging"].
    PAE_RSVD_HI = 0xFFFFFFF0u
    PDPTE_RSVD_LO = 0x1E6
    # A 2-MB page's frame starts at bit 21; bits 20:13 are reserved, and bit 12 (PAT)
    # too on a processor without the page attribute table.
    PDE2M_RSVD_LO = 0x1FE000
    PF_RSVD = 8             # page-fault error code: a reserved bit was set

# Why run() returned.
cdef enum:
    STOP_BUDGET = 0
    STOP_HALT = 1
    STOP_REQUEST = 2
    STOP_SHUTDOWN = 3
    STOP_DEBUG = 4          # a debugger point matched (dbg_hits() says which)

STOP_NAMES = {STOP_BUDGET: "budget", STOP_HALT: "halt", STOP_REQUEST: "stop",
              STOP_SHUTDOWN: "shutdown", STOP_DEBUG: "debug"}

# ---------------------------------------------------------------- debugger hooks
# What the CPU reports to debugger/controller.py (dbg_hits()): (kind, a, b, c, d, e, f).
cdef enum:
    HIT_EXEC_LIN = 1        # a: linear address
    HIT_EXEC_PHYS = 2       # a: physical address
    HIT_EXEC_OFF = 3        # a: EIP, b: CS selector
    HIT_WATCH = 4           # a: watch index, b: linear, c: physical, d: size | write << 8, e: old, f: new
    HIT_IO = 5              # a: port, b: size, c: 1 for OUT, d: value
    HIT_VECTOR = 6          # a: vector, b: kind (0 exc, 1 soft, 2 hw, 3 nmi), c: error code, d: CS, e: EIP
    HIT_MODE = 7            # a: old mode code, b: new (bits 0-1 real/protected/v86, bit 2 paging)
    HIT_MAGIC = 8           # a: CS, b: EIP of the xchg bx,bx
    HIT_RETURN = 9          # a: CS, b: EIP after the return
    MAX_HITS = 64
    MAX_BP = 256            # per kind (linear, physical, offset)
    MAX_WATCH = 64
    BP_LIN = 1              # bits of bp_pages / w_pages per 4 KiB page
    BP_PHYS = 2
    BP_OFF = 4

# Trace stream entry tags, format version 2 (docs/trace-format.md).
cdef enum:
    T_CTX = 2
    T_PHYS = 3
    T_IO = 6
    T_INT = 7
    T_KEY = 8
    T_SHUTDOWN = 9
    T_CYCLE = 0x0B          # the cycle a hardware interrupt's or NMI's delivery began
    # (0x0A is BUS: Machine appends those through trace_append; the CPU writes none)
    T_MEMW = 0x10           # | size code (0: 1 byte, 1: 2, 2: 4) | T_MEMW_PHYS
    T_MEMW_PHYS = 0x04      # a physical address other than the linear follows
    T_REG32 = 0x20          # | register index: the whole new value follows
    T_REG16 = 0x40          # | register index: the low 16 bits follow, the high did not change
    T_REG8 = 0x60           # | register index: the low 8 bits follow, the rest did not change
    T_INSN = 0x80           # | T_INSN_EIP | T_INSN_CODE | cycle delta (0..30, or 31)
    T_INSN_EIP = 0x40       # EIP follows: it is not the previous EIP + length
    T_INSN_CODE = 0x20      # length and code bytes follow: not those last recorded there
    T_INSN_DELTA32 = 31     # the cycle delta follows as a u32
    T_NREGS = 19            # REG indices 0..18: GPRs, EFLAGS, ES..GS, CR0 CR2 CR3 CR4
    T_CODE_SLOTS = 4096     # the recorder's code cache (a power of 2)

# The recorder's copy of the code bytes it last recorded at a physical address, which
# the reader keeps too: an INSN whose bytes are the same there carries none.
cdef struct TCode:
    uint32_t addr
    uint32_t len            # 0: empty
    uint64_t lo, hi         # the bytes, zero beyond len

# The bytes of an instruction of length n are (lo & CODE_MASK_LO[n], hi & CODE_MASK_HI[n]).
cdef uint64_t CODE_MASK_LO[16]
cdef uint64_t CODE_MASK_HI[16]
for _i in range(16):
    CODE_MASK_LO[_i] = (1 << (8 * min(_i, 8))) - 1 if _i < 8 else 0xFFFFFFFFFFFFFFFF
    CODE_MASK_HI[_i] = (1 << (8 * (_i - 8))) - 1 if _i > 8 else 0

cdef struct Hit:
    int kind
    uint32_t a, b, c, d, e, f

# Real-mode segment access rights: present, DPL 0, data read/write accessed (0x93);
# CS: code read accessed (0x9B).  Stored in the descriptor byte-5 position (bits 8-15).
cdef enum:
    ACCESS_DATA_REAL = 0x9300
    ACCESS_CODE_REAL = 0x9B00

cdef uint8_t PARITY[256]
cdef uint32_t SIZE_MASK[5]
cdef uint32_t SIZE_SIGN[5]

# Decode tables, built from core/opcodes.py at import.  Index: opcode 0..0x1FF
# (0x100 | second byte for 0F xx).  Group members: (opcode << 3) | reg.
cdef uint8_t OP_MODRM[512]
cdef uint8_t OP_ISA[4096]        # first ISA level having (opcode, reg); 255 = undefined
cdef uint8_t OP_LOCK[4096]       # LOCK allowed with a memory destination
cdef uint8_t OP_GROUP[512]
cdef uint8_t OP_FEAT[4096]       # facilities (bit n: opcodes.FEATURES[n]) it needs besides the ISA
cdef uint16_t ALIAS_8086[256]
# Bytes that are a prefix on some model (the opcode table's P flag), and F1, which the
# 8086 decodes as a second LOCK: the prefix loop looks further only at these.
cdef uint8_t MAYBE_PREFIX[256]
# 8086 effective-address clocks by (mod, rm) for mod 0..2 (Intel 8086 manual, table 2-20)
cdef uint8_t EA_8086[24]
# 16-bit ModR/M addressing by rm (Intel SDM vol. 2, table 2-1): base and index register
# (8: none) and the default segment; rm 6 with mod 0 is a bare disp16 instead.
cdef uint8_t MODRM16_BASE[8]
cdef uint8_t MODRM16_INDEX[8]
cdef uint8_t MODRM16_SEG[8]

# ---------------------------------------------------------------- decoded-instruction cache
# Instructions of the common forms are decoded once into a DInsn and run from it (issue
# 11).  An entry is tagged by the instruction's bytes themselves (and the default operand
# size), not by its address: a hit compares the 16 bytes at EIP, masked to the length, with
# the ones the entry was decoded from, so code written by a store, REP MOVS, DMA or a
# loader, a remapped page or a moved segment can never run a stale decode, and nothing has
# to be invalidated.  What a decode depends on besides the bytes (the model's ISA level and
# quirks, the timing tables) is fixed for a CPU; the cache is cleared when the timing
# tables are loaded.  Forms that are not here (string, far transfers, system, x87, ...)
# run through the generic decoder, which is also the reference the cache is tested against
# (tests/test_cpu_dcache.py).
cdef enum:
    TK_NONE = -1            # CPU.tk before an instruction's opcode is known
cdef enum:
    DC_SIZE = 8192
    # Forms: what the instruction does with its operands, not how it was encoded (ADD AX,
    # imm and ADD r/m, imm are one form with a register operand).
    D_NONE = 0              # not decoded here: the generic path runs it
    D_ALU_RM_R              # r/m = r/m op reg (ADD OR ADC SBB AND SUB XOR CMP; CMP stores nothing)
    D_ALU_R_RM              # reg = reg op r/m
    D_ALU_RM_IMM            # r/m = r/m op imm (also the accumulator forms)
    D_TEST_RM_R
    D_TEST_RM_IMM
    D_MOV_RM_R
    D_MOV_R_RM
    D_MOV_RM_IMM            # also MOV r, imm
    D_LEA
    D_INCDEC                # r/m +- 1 (aop: 1 = DEC)
    D_PUSH_RM               # also PUSH r
    D_POP_R
    D_PUSH_IMM
    D_JCC                   # aop: the condition
    D_JMP
    D_CALL
    D_RET                   # imm: bytes released after the return address
    D_CALL_RM
    D_JMP_RM
    D_NOP
    D_MOVX                  # MOVZX/MOVSX: size is the source's, aop 1 = sign-extend
    D_SHIFT                 # imm: the count
    D_SHIFT_CL
    D_SETCC
    D_CMOV
    D_CBW                   # CBW/CWDE
    D_CWD                   # CWD/CDQ
    D_LEAVE
    D_XCHG_AX
    D_IMUL                  # reg = reg * r/m, or (aop 1) r/m * imm
    # 32-bit register operands, the commonest case of the forms above, run without
    # their size and operand-kind switches: dst (in 'base') op= src (in 'index'), or
    # op= imm; 'store' is 0 for CMP and TEST.  TEST is AND that stores nothing.
    D_ALU_RR
    D_ALU_RI
    D_INCDEC_R
    D_SHIFT_RI              # SHL/SAL, SHR, SAR by a nonzero count (imm, masked)
    # The same with 8- or 16-bit register operands, fused instructions only (DOp.x:
    # the size; AH..BH are registers 4-7 as in ModR/M)
    D_ALU_RR_N
    D_ALU_RI_N
    D_INCDEC_R_N
    D_MOV_RR_N
    D_MOV_RI_N
    # A fused instruction with a memory operand, or a PUSH or POP of a register (DMem)
    D_MEM
    # What dc_loop returns
    DC_GENERIC = 0
    DC_CHECK = 1
    # How dc_loop runs: on until it must stop, one instruction; DC_TRACE and DC_DEBUG
    # (flags): on with the trace recorder's entries around each instruction, on with the
    # debugger's points armed (stopping before a page with an execution breakpoint, the
    # generic path checks it, and after an instruction that hit a watchpoint)
    DC_RUN = 0
    DC_ONE = 1
    DC_TRACE = 2
    DC_DEBUG = 4
    # Instructions fused after an entry's first (DInsn.ops)
    DC_OPS = 4
    DC_TO_FIRST = DC_OPS + 1    # DOp.dst of a fused jump back to its entry's first instruction
    TWR_JUMP = 0x100        # (dc_trace_end: the instruction is a fused jump)
    TWR_FLAGS = 0x200       # (twr: the form can write EFLAGS; else the recorder leaves
                            # them uncompared, as it did after the last instruction)
    TK_DONE = 2             # (dc_loop's `known`: dc_trace_run recorded the instruction whole)
    # What dc_trace_run stopped at
    RUN_END = 0             # the entry's last instruction (or a jump out of it) ran
    RUN_AGAIN = 1           # a jump back to the entry's first instruction
    RUN_SLOW = 2            # one to record by the general path (a long cycle delta, a
                            # memory operand with watchpoints armed or the buffer nearly
                            # full, an event inside one, stamps it may not rely on)
    RUN_CHECK = 3           # the clock reached dc_stop
    RUN_GENERIC = 4         # a jump past the CS limit: for the generic path

# An instruction fused after the first of an entry (dc_fuse): a 32-bit register-only
# one, which cannot fault and so needs nothing but its operands, clocks and length, or
# a conditional jump, which ends the entry's run when taken.  form:
#   D_ALU_RR, D_ALU_RI      dst op= src, or op= imm; no GPR in twr for CMP and TEST (aop 4)
#   D_INCDEC_R, D_SHIFT_RI  dst +- 1 (aop 1: DEC); dst shifted by imm (aop: the shift)
#   D_MOV_RM_R, D_MOV_RM_IMM    dst = src, dst = imm
#   D_LEA                   dst = imm + src + index << scale (src, index 8: none)
#   D_ALU_RR_N .. D_MOV_RI_N    the same as the first five with 8- or 16-bit registers
#   D_JCC                   if condition aop: EIP += imm (its length + displacement),
#                           wrapped at 64K unless src (32-bit operand size)
ctypedef struct DOp:
    uint32_t imm
    uint16_t twr            # what it writes (dc_writes): the GPR dst, if it stores, and
                            # TWR_FLAGS; TWR_JUMP for D_JCC (for the trace recorder)
    uint16_t x              # D_JCC: clocks taken; D_LEA: index | scale << 8; the
                            # 8- and 16-bit forms: the size
    uint16_t op             # opcode as op_byte holds it (for the trace recorder)
    uint8_t form, aop, dst, src
    uint8_t cyc             # clocks (D_JCC: not taken)
    uint8_t len

# A fused instruction that can fault: one with a memory operand (MOV, ALU, TEST, INC/DEC,
# MOVZX/MOVSX) or a PUSH or POP of a register.  It takes two slots of ops: besides its
# operands it holds what a fault and the trace recorder read of it (dc_sync's fields for
# the first instruction: timing index, opcode, operand size, ModR/M reg).  Its form and
# len bytes are where a DOp has its own (so that a walk over the slots reads either through
# a DOp*): form D_MEM; mform is the form it runs as (that of a DInsn).
ctypedef struct DMem:
    uint32_t imm            # the immediate (MOV, ALU and TEST with one)
    uint16_t cyc
    uint16_t k              # timing index
    uint16_t op             # opcode as op_byte holds it
    uint8_t form            # D_MEM (at DOp.form)
    uint8_t aop
    uint8_t reg             # the ModR/M reg field (the register operand of most forms)
    uint8_t wmem            # it may write memory: the bytes fused after it are checked again
    uint8_t pad0
    uint8_t len             # (at DOp.len)
    uint32_t disp
    uint8_t mform, size, opsize, adsize
    uint8_t base, index, scale, seg
    uint8_t rm              # PUSH, POP: the register
    uint8_t ilate           # as DInsn.ilate
    uint16_t twr            # what it can write (dc_writes), for the trace recorder

ctypedef struct DInsn:
    uint64_t b0, b1         # the bytes it was decoded from, zero past tlen
    uint32_t disp, imm      # EA displacement; immediate, count or relative target
    uint8_t nops            # slots of ops used by the instructions fused after it
    uint8_t tops            # the bits of tmask of those (ops' slots that start one)
    uint8_t wmem            # it may write memory: the bytes fused after it are
                            # checked again before they run (code it wrote)
    uint8_t store           # D_ALU_RR, D_ALU_RI: the result is written (not CMP, TEST)
    uint16_t op             # opcode as op_byte holds it (0x100 | b for 0F b)
    uint16_t k              # timing index (op << 3 | reg for groups)
    uint16_t cyc            # clocks: prefixes + base form (reg, or mem + EA)
    uint16_t cyc_taken      # clocks when a branch is taken
    uint8_t form, len, tlen, mode   # len: this instruction's; tlen: the bytes tagged
                                    # (with those fused after it); mode: default operand
                                    # size (2 or 4), 0 = empty entry
    uint8_t opsize, adsize, size, aop
    uint8_t mod, reg, rm, base, index, scale, seg
    uint8_t faults          # it may fault (memory, stack, a branch's limit check)
    # The trace recorder's stamp: tstamp is the first instruction's linear address << 32
    # | t_epoch when the reader was last known to hold the bytes of those of its
    # instructions whose bit is set in tmask (bit 0: the first, bit k: ops[k - 1]) at
    # their physical addresses (trace_stamp), so that their INSN can be written without
    # looking them up again (trace_insn_begin_known).  A decode clears tmask.
    uint8_t tmask
    # The immediate bytes the generic path fetches only after reading the memory operand
    # (ALU, TEST, IMUL and shifts with an immediate): a fault at that read finds them
    # not yet fetched, and the trace recorder takes the length fetched so far (dc_ilate).
    uint8_t ilate
    uint16_t twr            # what it can write (dc_writes: bit n GPR n, AL..BH as their
                            # 32-bit register; TWR_FLAGS), for the trace recorder
    uint64_t tstamp
    DOp ops[DC_OPS]         # (the second cache line: read only when nops > 0)

# Masks of an entry's first and second 8 bytes by its length (0..16).
cdef uint64_t DC_LO[17]
cdef uint64_t DC_HI[17]
D_NAMES = ("generic", "alu_rm_r", "alu_r_rm", "alu_rm_imm", "test_rm_r", "test_rm_imm",
           "mov_rm_r", "mov_r_rm", "mov_rm_imm", "lea", "incdec", "push_rm", "pop_r",
           "push_imm", "jcc", "jmp", "call", "ret", "call_rm", "jmp_rm", "nop", "movx",
           "shift", "shift_cl", "setcc", "cmov", "cbw", "cwd", "leave", "xchg_ax", "imul",
           "alu_rr32", "alu_ri32", "incdec_r32", "shift_ri32",
           "alu_rr", "alu_ri", "incdec_r", "mov_rm_r", "mov_rm_imm",   # (+ their size)
           "mem")
assert len(D_NAMES) == D_MEM + 1
assert sizeof(DInsn) == 128
assert sizeof(DMem) == 2 * sizeof(DOp)
cdef DOp _dop
cdef DMem _dmem
assert <char*>&_dop.form - <char*>&_dop == <char*>&_dmem.form - <char*>&_dmem
assert <char*>&_dop.len - <char*>&_dop == <char*>&_dmem.len - <char*>&_dmem

# x87 memory operand sizes by (ESC opcode & 7, ModR/M reg): Intel 80287/80387 manuals.
cdef uint8_t X87_MEM_SIZE[64]
# Opcodes (0..0x1FF as OP_MODRM) whose handlers write no segment or control register:
# after them the trace recorder compares only the GPRs and EFLAGS (T_GPR_ONLY 1; 2, 3
# and 4 below).  What they do
# through a fault or an interrupt is recorded by that event's path (int_hook).  A
# list of what is known, not of what is not: an opcode missing here costs time only.
cdef uint8_t T_GPR_ONLY[512]
_T_GPR_ONLY = (
    [b + f for b in range(0x00, 0x40, 8) for f in range(6)]         # ALU, all forms
    + [0x27, 0x2F, 0x37, 0x3F] + list(range(0x40, 0x62)) + list(range(0x68, 0x6C))
    + list(range(0x70, 0x8C)) + [0x8D] + list(range(0x90, 0x9A)) + [0x9D, 0x9E, 0x9F]
    + list(range(0xA0, 0xC0)) + [0xC0, 0xC1, 0xC2, 0xC3, 0xC6, 0xC7, 0xC9]
    + list(range(0xD0, 0xD6)) + list(range(0xE0, 0xE4)) + [0xE8, 0xE9, 0xEB]
    + [0xF5, 0xF6, 0xF7] + list(range(0xF8, 0xFE))       # not FE: the 8086 runs FE /3 as FF /3
    + [0x100 | b for b in list(range(0x40, 0x50)) + list(range(0x80, 0xA0))
       + [0xA3, 0xA4, 0xA5, 0xAB, 0xAC, 0xAD, 0xAF, 0xB0, 0xB1, 0xB3, 0xB6, 0xB7,
          0xBA, 0xBB, 0xBC, 0xBD, 0xBE, 0xBF, 0xC0, 0xC1] + list(range(0xC8, 0xD0))])
# Of those, opcodes that write EFLAGS and no GPR (compares, tests, flag instructions),
# and opcodes that change nothing the recorder compares (jumps, NOP): after them it
# compares EFLAGS alone, or nothing.  Both are subsets of _T_GPR_ONLY.
_T_FLAGS_ONLY = ([0x38, 0x39, 0x3A, 0x3B, 0x3C, 0x3D, 0x84, 0x85, 0xA8, 0xA9, 0x9E, 0xF5]
                 + list(range(0xF8, 0xFE)) + [0x1A3])
_T_NO_EFFECT = list(range(0x70, 0x80)) + [0x90, 0xE3, 0xE9, 0xEB] + list(range(0x180, 0x190))
for _i in range(512):
    T_GPR_ONLY[_i] = 0
for _i in _T_GPR_ONLY:
    T_GPR_ONLY[_i] = 1
for _i in _T_FLAGS_ONLY:
    assert T_GPR_ONLY[_i]
    T_GPR_ONLY[_i] = 2
for _i in _T_NO_EFFECT:
    assert T_GPR_ONLY[_i]
    T_GPR_ONLY[_i] = 3
# FE and FF are GPR-only but for FF /3 and /5, CALL and JMP far (which the 8086 also
# runs for FE /3 and /5): 4 says the ModR/M reg field decides (T_FF_GPR_ONLY bit reg).
T_GPR_ONLY[0xFE] = 4
T_GPR_ONLY[0xFF] = 4
cdef enum:
    T_FF_GPR_ONLY = 0x57    # /0 INC, /1 DEC, /2 CALL near, /4 JMP near, /6 PUSH
_X87_SIZES = (4, 4, 4, 4, 4, 4, 4, 4,        # D8: m32real arithmetic
              4, 4, 4, 4, 14, 2, 14, 2,      # D9: FLD/FST m32, FLDENV, FLDCW, FSTENV, FSTCW
              4, 4, 4, 4, 4, 4, 4, 4,        # DA: m32int arithmetic
              4, 4, 4, 4, 10, 10, 10, 10,    # DB: FILD/FIST m32, FLD/FSTP m80
              8, 8, 8, 8, 8, 8, 8, 8,        # DC: m64real arithmetic
              8, 8, 8, 8, 94, 94, 94, 2,     # DD: FLD/FST m64, FRSTOR, FSAVE, FSTSW
              2, 2, 2, 2, 2, 2, 2, 2,        # DE: m16int arithmetic
              2, 2, 2, 2, 10, 8, 10, 8)      # DF: FILD/FIST m16, FBLD, FILD m64, FBSTP, FISTP m64
for _i in range(64):
    X87_MEM_SIZE[_i] = _X87_SIZES[_i]


def _feature_bit(e):
    return 0 if e.feature is None else 1 << _opcodes.FEATURES.index(e.feature)


cdef void _init_tables():
    cdef int i, b, op, reg
    for i in range(256):
        b = i
        b ^= b >> 4
        b ^= b >> 2
        b ^= b >> 1
        PARITY[i] = F_PF if (b & 1) == 0 else 0
    SIZE_MASK[1] = 0xFF
    SIZE_MASK[2] = 0xFFFF
    SIZE_MASK[4] = 0xFFFFFFFFu
    SIZE_SIGN[1] = 0x80
    SIZE_SIGN[2] = 0x8000
    SIZE_SIGN[4] = 0x80000000u
    for i in range(4096):
        OP_ISA[i] = 255
        OP_LOCK[i] = 0
        OP_FEAT[i] = 0
    for i in range(512):
        OP_MODRM[i] = 0
        OP_GROUP[i] = 0
    for i in range(256):
        MAYBE_PREFIX[i] = 1 if i == 0xF1 else 0
    for (op, preg), e in _opcodes.ENTRIES.items():
        if preg is None:
            OP_MODRM[op] = 1 if e.has_modrm else 0
            if e.prefix and op < 256:
                MAYBE_PREFIX[op] = 1
            for r in range(8):
                OP_ISA[(op << 3) | r] = e.isa
                OP_LOCK[(op << 3) | r] = 1 if e.lockable else 0
                OP_FEAT[(op << 3) | r] = _feature_bit(e)
        else:
            OP_MODRM[op] = 1
            OP_GROUP[op] = 1
            reg = preg
            OP_ISA[(op << 3) | reg] = e.isa
            OP_LOCK[(op << 3) | reg] = 1 if e.lockable else 0
            OP_FEAT[(op << 3) | reg] = _feature_bit(e)
    for i in range(256):
        ALIAS_8086[i] = _opcodes.ALIASES_8086.get(i, i)
    for i in range(8):
        MODRM16_BASE[i] = (R_EBX, R_EBX, R_EBP, R_EBP, R_ESI, R_EDI, R_EBP, R_EBX)[i]
        MODRM16_INDEX[i] = (R_ESI, R_EDI, R_ESI, R_EDI, 8, 8, 8, 8)[i]
        MODRM16_SEG[i] = (S_DS, S_DS, S_SS, S_SS, S_DS, S_DS, S_SS, S_DS)[i]
    for i in range(17):
        DC_LO[i] = 0xFFFFFFFFFFFFFFFFull if i >= 8 else (1ull << (8 * i)) - 1
        DC_HI[i] = 0 if i <= 8 else (0xFFFFFFFFFFFFFFFFull if i >= 16 else (1ull << (8 * (i - 8))) - 1)
    # mod 0: [bx+si]7 [bx+di]8 [bp+si]8 [bp+di]7 [si]5 [di]5 [disp16]6 [bx]5; mod 1/2 add 4
    ea0 = (7, 8, 8, 7, 5, 5, 6, 5)
    for i in range(8):
        EA_8086[i] = ea0[i]
        EA_8086[8 + i] = ea0[i] + 4 if i != 6 else 9
        EA_8086[16 + i] = ea0[i] + 4 if i != 6 else 9

_init_tables()


cdef class _CPU:
    # ---- architectural state
    cdef public uint32_t r[8]
    cdef public uint32_t eip
    cdef public uint32_t eflags
    cdef uint16_t sel[8]
    cdef uint32_t base[8]
    cdef uint32_t limit[8]
    cdef uint32_t access[8]
    cdef public uint32_t cr0, cr2, cr3, cr4
    cdef uint32_t dr[8]
    cdef public uint32_t gdtr_base, gdtr_limit, idtr_base, idtr_limit
    cdef public bint halted
    cdef public bint shutdown
    cdef public uint64_t icount          # instructions retired
    # ---- the x87 (core/fpu.pyx): None when the model has no FPU
    cdef public FPU fpu
    cdef public object ferr_hook         # FERR#: callable(level), wired to IRQ13 on a PC/AT
    cdef public bint ignne               # IGNNE#: the board's answer to an OUT to port F0h
    cdef public bint lapic               # a local APIC model answers at IA32_APIC_BASE (none yet)
    # A separate coprocessor (8087/287/387 beside the 8086-80386; core/models.coprocessor):
    # its name, or None for none or an on-chip x87.  It runs concurrently with the CPU and
    # is busy until fpu_busy_until (a clock cycle); WAIT, and on the 286/386 the next ESC
    # (which samples BUSY#), wait for it.
    cdef public object coprocessor
    cdef public uint64_t fpu_busy_until
    cdef uint8_t fbuf[128]               # an x87 memory operand on its way to or from memory
    # ---- model
    cdef public object model
    cdef int isa
    cdef uint32_t flags_fixed1         # bits that always read 1
    cdef uint32_t flags_settable16     # bits POPF/IRET may change (16-bit)
    cdef uint32_t flags_settable32
    cdef uint32_t shift_mask
    cdef int max_len
    cdef bint m_push_sp_new, m_div_next, m_rep_neg, m_idiv_min_faults, m_word_wrap
    cdef bint m_has_ud, m_esc_traps, m_lock_ud, m_bus8, m_index_first, m_popa_esp_high
    cdef bint m_sib_scale_base, m_always_nm
    # ---- machine
    cdef public Clock clock
    cdef public Bus bus
    cdef uint8_t** rptr
    cdef uint8_t** wptr
    # ---- decode state of the current instruction
    cdef uint32_t insn_eip
    cdef int ilen
    cdef int opsize          # 2 or 4
    cdef int adsize          # 2 or 4
    cdef int seg_ovr         # -1 or segment number
    cdef int rep             # 0, 0xF2, 0xF3
    cdef bint lock
    cdef int mod, reg, rm
    cdef uint32_t op_byte
    cdef uint32_t ea
    cdef int ea_seg
    cdef int ea_clocks
    cdef bint ea_esp_base
    cdef bint code32, ss32
    # ---- timing of the current instruction
    cdef uint32_t cyc_extra     # data-dependent clocks added by a handler
    cdef bint taken
    cdef uint32_t rep_done
    # The linear address of a REP string instruction split by the debugger or a stop
    # request (not by a device event), -1 for none: its resumption is not charged again.
    # Checked (and cleared) only where a REP string instruction is charged.
    cdef int64_t rep_resume_lin
    cdef int64_t rep_split_lin      # set by string_op when it splits one that way
    cdef uint32_t word_xfers
    cdef uint16_t t_reg[4096]
    cdef uint16_t t_mem[4096]
    cdef uint16_t t_taken[4096]
    cdef uint16_t t_rep_base[4096]
    cdef uint16_t t_rep_iter[4096]
    cdef uint16_t t_per_count[4096]
    cdef uint16_t t_count_base[4096]
    cdef uint16_t t_prefix
    cdef uint16_t t_x87[576]      # x87 clocks by form (core/timing.x87_clocks)
    cdef uint16_t t_intr, t_nmi, t_exc
    cdef bint timing_adds_ea
    cdef int tk                 # timing index of the current instruction
    cdef int n_prefix_rep       # REP prefixes seen (their cost is inside rep_base)
    cdef uint32_t cyc_override  # a handler's computed total for the base form (0: none)
    # ---- decoded-instruction cache (DInsn above)
    cdef DInsn* dcache
    cdef bint dc_enabled        # the user's switch (decoded_cache)
    cdef bint dc_ok             # enabled, and no debug register asks for per-instruction checks
    cdef uint64_t dc_stop       # dc_loop returns once clock.now reaches it (0: at once)
    cdef bint trace_only        # the trace recorder is the only debugger hook (DC_TRACE)
    cdef int dc_dbg_how         # how dc_loop runs under the debugger's hooks (-1: it does not)
    cdef DInsn* dc_cur          # the entry dc_loop runs or ran last (NULL: exec_generic did)
    cdef int dc_ilate           # the decoded instruction running: its ilate until its memory
                                # operand is read (then 0: a fault after has all its bytes)
    cdef bint dc_wrote          # a page walk wrote an accessed or dirty bit (dc_rewritten)
    cdef uint8_t dc_mode        # default operand size of the code segment (2 or 4)
    # ---- run control
    cdef jmp_buf jb
    cdef uint64_t slice_end
    cdef public bint stop_requested
    cdef int fault_vec
    cdef int fault_err
    cdef int delivering
    cdef bint inhibit_irq
    cdef public bint intr          # INTR line from the interrupt controller
    cdef public object intr_ack    # callable returning the vector (PIC acknowledge)
    cdef public bint nmi
    # ---- protected mode
    cdef bint pe                   # protected-mode checks apply (CR0.PE and not v86)
    cdef bint v86                  # EFLAGS.VM in protected mode
    cdef bint paging
    cdef bint user                 # memory accesses are user-level (CPL 3): set_user()
    cdef uint32_t user_key         # user << 20, the access level in a host-TLB tag
    cdef bint ac_check             # alignment checking active (486+ CR0.AM, AC, CPL 3)
    cdef public int cpl
    cdef uint32_t seg_lo[8]
    cdef uint32_t seg_hi[8]
    cdef uint8_t seg_rw[8]
    cdef uint32_t tlb_vpn[TLB_SIZE]
    cdef uint32_t tlb_ppn[TLB_SIZE]
    cdef uint8_t tlb_perm[TLB_SIZE]
    cdef bint tlb_large            # some TLB entry belongs to a 4-MB or 2-MB page
    # PAE: the four page-directory-pointer-table entries, which the P6 loads into
    # registers when CR3 is written (or PAE paging is turned on), not on each walk.
    cdef uint64_t pdpte[4]
    cdef uint32_t pat_rsvd_2m, pat_rsvd_pte   # the PAT bits, reserved without a PAT
    # Host-pointer TLB, in and out of paging: per linear page, the host address of the
    # page's bytes for reads (RAM or ROM) and for writes (RAM only, and under paging
    # only once the walk granted the write and set the dirty bit), so a hit is a mask,
    # a compare and a load.  The tag is the page number with the access level in bit
    # 20 (U/S decides what the walk allowed); 0xFFFFFFFF is empty.  MMIO and unmapped
    # pages are never entered: they take the slow path to the bus every time.
    cdef uint32_t htlb_tag[TLB_SIZE]
    cdef uint8_t* htlb_r[TLB_SIZE]
    cdef uint8_t* htlb_w[TLB_SIZE]
    cdef uint32_t map_gen           # bus.map_gen the entries were made under
    # Instruction fetch window: the code page being fetched from (tag as above) and
    # its host bytes.  Reads go straight to guest memory, so code written by any
    # instruction, REP MOVS or DMA is what the next fetch sees, as on a 486+ after a
    # jump; only a change of mapping needs it dropped, as for the TLB.
    cdef uint32_t fetch_tag
    cdef uint8_t* fetch_ptr
    # The fetch window in EIP terms: the EIPs fw_eip .. fw_eip + fw_n - 1 are bytes of
    # the window's page that are inside the CS limit and need no 16-bit IP wrap, so a
    # fetch there is a subtraction, a compare and a load (fw_ptr: host byte of fw_eip).
    # It outlives the instruction; what would change the answer drops it (fw_n = 0):
    # a host-pointer flush or INVLPG, a CS load (base, limit, D bit), a change of the
    # access level.  Code written in the window is read as written: no copies.
    cdef uint32_t fw_eip, fw_n
    cdef uint8_t* fw_ptr
    cdef uint32_t desc_addr, desc_lo
    cdef uint32_t code_desc_addr, ss_desc_addr   # where the A bit goes on commit
    cdef uint32_t param_buf[32]
    cdef int delivering_vec        # vector being delivered (-1: none), for #DF rules
    # State at the start of the instruction (or REP iteration): a fault leaves the
    # registers as they were, so flags set before a faulting write are taken back.
    cdef uint32_t saved_eflags, saved_esp
    cdef uint16_t saved_ss
    cdef bint deliver_ext          # the event being delivered is not a software INT
    # ---- debug registers: checked only when DR7 enables a breakpoint of that kind
    cdef bint dr_exec_active
    cdef bint ss_shadow            # this instruction loaded SS: traps wait one more
    cdef bint dr_data_active
    cdef uint32_t dr_hits          # DR6 B0-B3 bits of data breakpoints hit by this instruction
    # ---- 486/Pentium/P6 features (core/models.py, core/cpuid.py)
    cdef bint has_cpuid, has_tsc, has_msr, has_cx8, has_sysenter, has_rdpmc
    cdef uint8_t features          # OP_FEAT bits of the facilities this model has
    # ---- debugger hooks: each hot path tests one of these flags and nothing else
    cdef public bint hook_insn      # something is armed: run instructions through dbg_exec
    cdef bint hook_rd               # data reads go through rd_hooked
    cdef bint hook_mem              # data writes go through wr_hooked
    cdef bint hook_io               # IN/OUT report to io_hook
    cdef bint hook_int              # event deliveries report to note_int
    cdef public bint dbg_pending    # a hit was recorded: stop at the next boundary
    cdef Hit hits[MAX_HITS]
    cdef int n_hits
    cdef uint8_t* bp_pages          # 1 Mi entries: BP_* bits per 4 KiB page (or offset page)
    cdef uint32_t bp_addr[3][MAX_BP]
    cdef int bp_n[3]
    cdef int64_t skip_lin           # resume past a breakpoint here (-1: none)
    cdef uint8_t* w_pages
    cdef uint32_t w_lo[MAX_WATCH]
    cdef uint32_t w_hi[MAX_WATCH]
    cdef uint8_t w_phys[MAX_WATCH]
    cdef uint8_t w_acc[MAX_WATCH]   # 1 read, 2 write
    cdef int w_n, w_nphys
    cdef uint8_t* io_catch          # 64 Ki entries: 1 IN, 2 OUT
    cdef bint catch_io
    cdef uint8_t vec_catch[256]     # 1 exception, 2 software, 4 hardware, 8 NMI
    cdef bint catch_vec, catch_mode, catch_magic
    cdef int mode_code
    cdef bint ret_armed
    cdef uint16_t ret_ss
    cdef uint32_t ret_esp
    # ---- trace recording (docs/trace-format.md)
    cdef public bint tracing
    cdef public bint trace_cycles   # CYCLE before each INTR/NMI delivery (bus-timed machines)
    cdef uint8_t* tbuf
    cdef size_t tlen, tcap
    cdef object t_owner             # the buffer object tbuf is in (trace_swap), or None: malloc
    cdef Py_buffer t_view           # (t_owner's, held while tbuf is in it: it cannot move)
    cdef int64_t t_insn_pos         # where the current INSN entry starts (-1: none)
    cdef uint64_t t_cycle           # start cycle of the last INSN or KEY
    cdef uint64_t t_count           # INSN entries so far (KEY's instruction number)
    cdef uint32_t t_regs[T_NREGS]   # register values as last recorded
    cdef uint16_t t_sel[6]          # ES..GS as last recorded (t_regs[9..14]), compared at once
    # t_regs hold the registers as they are: nothing outside an instruction changed
    # them since the last flush (an event delivery, a fault, a debugger write between
    # runs clear it), so the next INSN needs no flush before it.
    cdef bint t_synced
    cdef int t_ctx_mode
    cdef uint32_t t_ctx_cs, t_ctx_base
    # The last instruction was one of T_GPR_ONLY and nothing happened since: the CTX
    # (mode, CS) cannot have changed, the next INSN need not compare it.
    cdef bint t_ctx_same
    cdef uint32_t t_next_eip        # the EIP the reader expects: the last INSN's + length
    cdef uint32_t t_map_lin         # the page mapping the reader knows from the last PHYS
    cdef uint32_t t_map_phys        # (page numbers; t_map_lin 0xFFFFFFFF: none)
    cdef size_t t_code_pos          # where the current INSN's code field goes
    cdef bint t_code_hit            # ... and whether it was left out (the bytes recorded)
    cdef uint32_t t_code_len        # ... then: the length recorded with them
    cdef bint t_key_since           # a KEY was written inside the current instruction
    cdef bint t_after_key           # no INSN, INT or SHUTDOWN since the last KEY
    cdef uint32_t t_code_addr       # the current INSN's physical address (the cache key)
    cdef uint32_t t_insn_eip
    cdef uint64_t t_code_lo, t_code_hi     # its first 16 bytes
    cdef TCode t_code[T_CODE_SLOTS]
    # Changes with anything that can change what the reader knows of code (a KEY, a
    # PHYS, a code-cache slot written) or which physical address a linear one has (a
    # page walk, a TLB or host-pointer flush, INVLPG): the stamps of older epochs are void.
    cdef uint32_t t_epoch
    cdef uint32_t cr0_mask, cr0_fixed1, cr4_mask
    cdef uint64_t tsc_base         # clock cycle at which the TSC read 0
    cdef public dict msrs          # MSR number -> value (the TSC lives in tsc_base)
    cdef dict pm_costs             # protected-mode transfer clocks (core/timing.pm_costs)
    cdef uint32_t int_cost         # clocks of the last protected-mode event delivery
    cdef uint32_t last_ts_cost     # clocks of the last task switch

    def __init__(self, model="8086", Clock clock=None, Bus bus=None, fpu=None):
        m = get_model(model)
        self.model = m
        self.isa = m.isa
        self.clock = clock if clock is not None else Clock(m.frequency)
        self.bus = bus if bus is not None else Bus(1 << 20, m.address_bits)
        self.rptr = self.bus.rptr
        self.wptr = self.bus.wptr
        self.flags_fixed1 = 0x0002 | (0xF000 if m.flags_high_ones else 0)
        self.flags_settable16 = 0x0FD5 | (0x7000 if m.real_mode_iopl_nt else 0)
        self.flags_settable32 = self.flags_settable16 | (F_AC if m.isa >= ISA_486 else 0)
        self.shift_mask = m.shift_count_mask
        self.max_len = m.max_insn_len if m.max_insn_len else 0x7FFFFFFF
        self.m_push_sp_new = m.push_sp_new
        self.m_div_next = m.div_error_returns_next
        self.m_rep_neg = m.rep_negates_muldiv
        self.m_idiv_min_faults = m.idiv_min_quotient_faults
        self.m_word_wrap = m.word_wraps_in_segment
        self.m_has_ud = m.has_ud
        self.m_esc_traps = m.esc_traps and m.isa == ISA_186
        self.m_lock_ud = m.lock_ud
        self.m_popa_esp_high = m.popa_loads_esp_high
        self.m_sib_scale_base = m.sib_scale_without_index
        self.m_always_nm = m.fpu_insn_always_nm
        self.m_bus8 = m.bus_bits == 8
        self.m_index_first = m.isa == ISA_286
        self.has_cpuid, self.has_tsc, self.has_msr = m.has_cpuid, m.has_tsc, m.has_msr
        self.has_cx8, self.has_sysenter, self.has_rdpmc = m.has_cx8, m.has_sysenter, m.has_rdpmc
        self.features = 0
        for i, name in enumerate(_opcodes.FEATURES):
            if getattr(m, "has_" + name):
                self.features |= 1 << i
        self.cr0_mask = m.cr0_mask if m.cr0_mask else (0x8000001Fu if m.isa >= ISA_386 else 0xF)
        self.cr0_fixed1 = m.cr0_fixed1
        self.cr4_mask = m.cr4_mask
        self.pat_rsvd_2m = 0 if m.has_pat else 0x1000
        self.pat_rsvd_pte = 0 if m.has_pat else 0x80
        if m.eflags_id:
            self.flags_settable32 |= 0x200000        # ID: software detects CPUID with it
        if m.eflags_ac:
            self.flags_settable32 |= F_AC
        self.intr_ack = None
        self.intr = False           # a wire driven by the PIC: a CPU reset leaves it alone
        self.ferr_hook = None
        self.ignne = False
        self.coprocessor = coprocessor(m, fpu)
        if m.fpu:
            # The 486 and later have the x87 on chip; the level says which generation
            # (FCOMI and FCMOVcc from the P6).
            self.fpu = FPU(m.isa)            # ISA_486.. are the FPU levels 4 (486) to 6 (P6)
        elif self.coprocessor is not None:
            self.fpu = FPU(COPROCESSORS[self.coprocessor])
        else:
            self.fpu = None
        self.skip_lin = -1
        self.rep_resume_lin = -1
        self.rep_split_lin = -1
        self.t_insn_pos = -1
        # Entries on cache-line boundaries: an entry's ops are its second line.
        self.dcache = <DInsn*>aligned_alloc(64, DC_SIZE * sizeof(DInsn))
        if self.dcache == NULL:
            raise MemoryError("the decoded-instruction cache")
        memset(self.dcache, 0, DC_SIZE * sizeof(DInsn))
        self.t_epoch = 1
        self.dc_enabled = True
        self.dc_dbg_how = -1
        self._load_timing()
        self.reset()

    # ================================================================ timing
    def _load_timing(self):
        """Fill the C timing arrays from core/timing.py (the model's documented clocks)."""
        from core import timing
        cdef int i, k
        for i in range(4096):
            self.t_reg[i] = self.t_mem[i] = self.t_taken[i] = 0
            self.t_rep_base[i] = self.t_rep_iter[i] = 0
            self.t_per_count[i] = self.t_count_base[i] = 0
        # The 8086/8088 figures exclude the effective-address time (Intel's EA table);
        # the 80186 and later print totals that include it.
        self.timing_adds_ea = self.isa == ISA_8086
        for i, k in enumerate(timing.x87_clocks(self.model.name, self.coprocessor)):
            self.t_x87[i] = k
        for key, t in timing.table(self.model.name).items():
            for k in _keys_to_indices(key):
                self.t_reg[k] = t.reg
                self.t_mem[k] = t.mem
                self.t_taken[k] = t.taken
                self.t_rep_base[k] = t.rep_base
                self.t_rep_iter[k] = t.rep_iter
                self.t_per_count[k] = t.per_count
                self.t_count_base[k] = t.count_base
        self.t_prefix = timing.prefix_cycles(self.model.name)
        self.dc_flush()                 # its entries hold clocks from the old tables
        self.pm_costs = (timing.pm_costs(self.model.name)
                         if self.model.name in timing.PM_MODELS else {})
        it = timing.interrupt_timing(self.model.name)
        self.t_intr, self.t_nmi, self.t_exc = it["intr"], it["nmi"], it["exception"]

    # ================================================================ reset
    def reset(self):
        """Power-on/RESET state of the model (Intel manuals, 'processor initialization')."""
        cdef int i
        for i in range(8):
            self.r[i] = 0
            self.sel[i] = 0
            self.base[i] = 0
            self.limit[i] = 0xFFFF
            self.access[i] = ACCESS_DATA_REAL
            self.dr[i] = 0
        self.access[S_CS] = ACCESS_CODE_REAL
        self.access[S_LDTR] = 0x8200
        self.access[S_TR] = 0x8B00
        self.eflags = self.flags_fixed1
        self.cr0 = 0
        self.cr2 = self.cr3 = self.cr4 = 0
        self.pdpte[0] = self.pdpte[1] = self.pdpte[2] = self.pdpte[3] = 0
        self.gdtr_base = self.idtr_base = 0
        self.gdtr_limit = self.idtr_limit = 0xFFFF
        self.idtr_limit = 0x3FF if self.isa >= ISA_286 else 0xFFFF
        if self.isa <= ISA_186:
            self.sel[S_CS] = 0xFFFF
            self.base[S_CS] = 0xFFFF0
            self.eip = 0
        else:
            self.sel[S_CS] = 0xF000
            self.base[S_CS] = 0xFF0000 if self.isa == ISA_286 else 0xFFFF0000u
            self.eip = 0xFFF0
            if self.isa == ISA_286:
                self.cr0 = 0xFFF0          # MSW bits 4-15 read as 1 on the 286
            else:
                # EDX holds the processor signature; CR0 the model's reset value.
                self.r[R_EDX] = self.model.reset_edx
                self.cr0 = self.model.reset_cr0
                if self.coprocessor == "387":
                    # The 80386 samples ERROR# after RESET: an 80387 pulls it low and the
                    # CPU sets ET [80386 PRM 10.1; SDM vol. 3 "Intel 387 and Intel 287
                    # Math Coprocessor Initialization"].
                    self.cr0 |= 0x10
                self.dr[6] = 0xFFFF0FF0u
                self.dr[7] = 0x00000400
        from core import cpuid as _cpuid
        self.msrs = _cpuid.msr_reset_values(self.model.name) if self.has_msr else {}
        if not self.lapic and 0x1B in self.msrs:
            # No local APIC is modelled behind the P6's APIC pins: the machine comes up
            # as firmware leaves a disabled APIC (IA32_APIC_BASE.EN = 0), so CPUID.1
            # reports none and a kernel uses the 8259s instead of MMIO at FEE00000h.
            self.msrs[0x1B] &= ~0x800
        self.tsc_base = self.clock.now
        self.halted = False
        self.shutdown = False
        self.delivering = 0
        self.inhibit_irq = False
        self.nmi = False
        self.stop_requested = False
        self.rep_resume_lin = -1
        self.rep_split_lin = -1
        self.code32 = False
        self.dc_mode = 2
        self.ss32 = False
        self.cpl = 0
        self.delivering_vec = -1
        self.deliver_ext = False
        self.paging = False
        if self.fpu is not None:
            self.fpu.reset()        # RESET initialises the x87 too (SDM vol. 3 Table 9-1)
        self.fpu_busy_until = 0
        self.update_mode()
        self.tlb_flush()
        for i in range(8):
            self.seg_update(i)
        self.dr7_update()
        if self.tracing:
            self.trace_key()            # the whole state changed: a new keyframe

    # ================================================================ register helpers
    @cython.final
    cdef inline uint32_t get_r8(self, int r) noexcept:
        return (self.r[r & 3] >> ((r & 4) << 1)) & 0xFF

    @cython.final
    cdef inline void set_r8(self, int r, uint32_t v) noexcept:
        cdef int sh = (r & 4) << 1
        self.r[r & 3] = (self.r[r & 3] & ~(<uint32_t>0xFF << sh)) | ((v & 0xFF) << sh)

    @cython.final
    cdef inline uint32_t get_reg(self, int r, int size) noexcept:
        if size == 1:
            return (self.r[r & 3] >> ((r & 4) << 1)) & 0xFF
        if size == 2:
            return self.r[r] & 0xFFFF
        return self.r[r]

    @cython.final
    cdef inline void set_reg(self, int r, int size, uint32_t v) noexcept:
        if size == 1:
            self.set_r8(r, v)
        elif size == 2:
            self.r[r] = (self.r[r] & 0xFFFF0000u) | (v & 0xFFFF)
        else:
            self.r[r] = v

    # ================================================================ faults
    @cython.final
    cdef void fault(self, int vec, int err) noexcept:
        """Abort the current instruction and deliver exception `vec` (err < 0: no code)."""
        self.fault_vec = vec
        self.fault_err = err
        longjmp(self.jb, 1)

    # ================================================================ memory
    @cython.final
    cdef inline uint32_t phys(self, uint32_t lin) noexcept:
        if self.paging:
            return self.translate(lin, 0) & self.bus.addr_mask
        return lin & self.bus.addr_mask

    @cython.final
    cdef inline uint32_t phys_w(self, uint32_t lin) noexcept:
        if self.paging:
            return self.translate(lin, 1) & self.bus.addr_mask
        return lin & self.bus.addr_mask

    @cython.final
    cdef inline void set_user(self, bint user) noexcept:
        if user != self.user:
            self.fw_n = 0               # the window was checked at the other level
        self.user = user
        self.user_key = <uint32_t>user << 20

    @cython.final
    cdef inline uint32_t htag(self, uint32_t lin) noexcept:
        return (lin >> PAGE_SHIFT) | self.user_key

    @cython.final
    cdef void hptr_flush(self) noexcept:
        """Drop every host-pointer translation (TLB flush, paging or mapping change)."""
        memset(self.htlb_tag, 0xFF, sizeof(self.htlb_tag))
        self.fetch_tag = 0xFFFFFFFFu
        self.fw_n = 0
        self.map_gen = self.bus.map_gen
        self.trace_forget()

    @cython.final
    cdef inline void charge_io(self) noexcept:
        # The ISA bus cycles of the port access just made (core/bus.Bus.set_isa_timing):
        # the CPU waits them out inside the IN/OUT.
        if self.bus.io_stall:
            self.cyc_extra += self.bus.io_stall
            self.bus.io_stall = 0

    @cython.final
    cdef uint32_t mmio_read(self, uint64_t p, int size) noexcept:
        # Device code runs here: it may raise an interrupt or schedule an event, which
        # the run loop must see before the next instruction (dc_loop stops).
        self.dc_stop = 0
        return self.bus.slow_read(p, size)

    @cython.final
    cdef void mmio_write(self, uint64_t p, int size, uint32_t v) noexcept:
        self.dc_stop = 0
        self.bus.slow_write(p, size, v)

    @cython.final
    cdef inline void check_map(self) noexcept:
        # Device code (an I/O or MMIO access, a clock event between slices) may have
        # remapped pages or moved A20: then the host pointers are stale.
        if self.bus.map_gen != self.map_gen:
            self.hptr_flush()

    @cython.final
    cdef inline uint32_t rd_lin(self, uint32_t lin, int size) noexcept:
        cdef uint32_t off = lin & (PAGE_SIZE - 1)
        cdef int i = (lin >> PAGE_SHIFT) & (TLB_SIZE - 1)
        cdef uint8_t* page
        if self.htlb_tag[i] == self.htag(lin) and off <= <uint32_t>(PAGE_SIZE - size):
            page = self.htlb_r[i] + off
            return host_load(page, size)
        return self.rd_lin_slow(lin, size)

    @cython.final
    cdef uint32_t rd_lin_slow(self, uint32_t lin, int size) noexcept:
        cdef uint32_t p = self.phys(lin)
        cdef uint8_t* page = self.rptr[p >> PAGE_SHIFT]
        cdef uint32_t v = 0
        cdef int i
        if page != NULL:
            # The translation just made (walk, A bit, permission) holds for the page.
            i = (lin >> PAGE_SHIFT) & (TLB_SIZE - 1)
            if self.htlb_tag[i] != self.htag(lin):
                self.htlb_tag[i] = self.htag(lin)
                self.htlb_w[i] = NULL
            self.htlb_r[i] = page
        if page != NULL and (p & (PAGE_SIZE - 1)) <= <uint32_t>(PAGE_SIZE - size):
            page += p & (PAGE_SIZE - 1)
            return host_load(page, size)
        if page == NULL and (p & (PAGE_SIZE - 1)) <= <uint32_t>(PAGE_SIZE - size):
            # MMIO (or unmapped): the device sees one access of the full width.
            v = self.mmio_read(p, size)
            self.check_map()
            return v
        for i in range(size):
            p = self.phys(lin + i)
            page = self.rptr[p >> PAGE_SHIFT]
            if page != NULL:
                v |= (<uint32_t>page[p & (PAGE_SIZE - 1)]) << (8 * i)
            else:
                v |= self.mmio_read(p, 1) << (8 * i)
                self.check_map()
        return v

    @cython.final
    cdef inline void wr_lin(self, uint32_t lin, int size, uint32_t v) noexcept:
        cdef uint32_t off = lin & (PAGE_SIZE - 1)
        cdef int i = (lin >> PAGE_SHIFT) & (TLB_SIZE - 1)
        cdef uint8_t* page
        if self.htlb_tag[i] == self.htag(lin) and self.htlb_w[i] != NULL \
                and off <= <uint32_t>(PAGE_SIZE - size):
            page = self.htlb_w[i] + off
            host_store(page, size, v)
            return
        self.wr_lin_slow(lin, size, v)

    @cython.final
    cdef void wr_lin_slow(self, uint32_t lin, int size, uint32_t v) noexcept:
        cdef uint32_t p
        cdef uint8_t* page
        cdef int i
        p = self.phys_w(lin)
        if self.paging and (lin & (PAGE_SIZE - 1)) > <uint32_t>(PAGE_SIZE - size):
            # A write that straddles two pages checks both, in address order, before
            # either is written; a fault on the second names its first byte in CR2.
            self.phys_w((lin + size - 1) & ~<uint32_t>(PAGE_SIZE - 1))
        page = self.wptr[p >> PAGE_SHIFT]
        if page != NULL:
            # The walk for this write granted it and set the dirty bit: later writes
            # to the page need neither again (until a flush or INVLPG).
            i = (lin >> PAGE_SHIFT) & (TLB_SIZE - 1)
            self.htlb_tag[i] = self.htag(lin)
            self.htlb_r[i] = self.rptr[p >> PAGE_SHIFT]
            self.htlb_w[i] = page
        if page != NULL and (p & (PAGE_SIZE - 1)) <= <uint32_t>(PAGE_SIZE - size):
            page += p & (PAGE_SIZE - 1)
            host_store(page, size, v)
            return
        if page == NULL and (p & (PAGE_SIZE - 1)) <= <uint32_t>(PAGE_SIZE - size):
            if self.rptr[p >> PAGE_SHIFT] == NULL:
                self.mmio_write(p, size, v)
                self.check_map()
            return
        for i in range(size):
            p = self.phys_w(lin + i)
            page = self.wptr[p >> PAGE_SHIFT]
            if page != NULL:
                page[p & (PAGE_SIZE - 1)] = (v >> (8 * i)) & 0xFF
            elif self.rptr[p >> PAGE_SHIFT] == NULL:
                self.mmio_write(p, 1, (v >> (8 * i)) & 0xFF)
                self.check_map()

    @cython.final
    cdef inline bint seg_within(self, int seg, uint32_t off, int size) noexcept:
        # An access of `size` at off lies in the segment's valid offsets (limit, expand-down)
        return off >= self.seg_lo[seg] and <uint64_t>off + <uint64_t>(size - 1) <= self.seg_hi[seg]

    @cython.final
    cdef inline bint seg_allows(self, int seg, int need) noexcept:
        # The segment may be read (need 1) or written (2): always in real mode
        return (self.seg_rw[seg] & need) or not self.pe

    @cython.final
    cdef inline void check_limit(self, int seg, uint32_t off, int size) noexcept:
        # The segment's valid offsets (limit, expand-down) for an access of `size`.
        if not self.seg_within(seg, off, size):
            self.seg_fault(seg)

    @cython.final
    cdef uint32_t rd(self, int seg, uint32_t off, int size) noexcept:
        cdef uint32_t v
        cdef int i
        if not self.seg_within(seg, off, size):
            if self.m_word_wrap:
                # 8086/80186: the offset wraps inside the 64 KiB segment.
                v = 0
                for i in range(size):
                    v |= self.rd_lin(self.base[seg] + ((off + i) & 0xFFFF), 1) << (8 * i)
                return v
            self.seg_fault(seg)
        if not self.seg_allows(seg, 1):
            self.seg_fault(seg)             # execute-only code or a null selector
        if self.ac_check and (off & (size - 1)):
            self.fault(EXC_AC, 0)
        if self.hook_rd:
            return self.rd_hooked(self.base[seg] + off, size)
        return self.rd_lin(self.base[seg] + off, size)

    @cython.final
    cdef inline uint32_t rd_fast(self, int seg, uint32_t off, int size) noexcept:
        # rd's common case in line, for the decoded path and the stack: inside the
        # segment's limits, readable, no alignment check or debugger hook, the page in
        # the host-pointer TLB; anything else through rd, which checks it all again.
        # (A call to rd costs its prologue and epilogue, as many instructions as this.)
        cdef uint32_t lin = self.base[seg] + off
        cdef uint32_t po = lin & (PAGE_SIZE - 1)
        cdef int i = (lin >> PAGE_SHIFT) & (TLB_SIZE - 1)
        if self.seg_within(seg, off, size) and self.seg_allows(seg, 1) \
                and not (self.ac_check | self.hook_rd) \
                and self.htlb_tag[i] == self.htag(lin) and po <= <uint32_t>(PAGE_SIZE - size):
            return host_load(self.htlb_r[i] + po, size)
        return self.rd(seg, off, size)

    @cython.final
    cdef inline void wr_fast(self, int seg, uint32_t off, int size, uint32_t v) noexcept:
        # wr's common case in line, as rd_fast (a page the TLB holds for writing: not
        # one with decoded code, whose writes wr_lin_slow sees), the trace recorder's
        # MEMW entry included: of the hooks on writes (hook_mem) only the recorder's
        # needs nothing before the write (wr_hooked, without the watchpoints and data
        # breakpoints of hook_rd).
        cdef uint32_t lin = self.base[seg] + off
        cdef uint32_t po = lin & (PAGE_SIZE - 1)
        cdef int i = (lin >> PAGE_SHIFT) & (TLB_SIZE - 1)
        if self.seg_within(seg, off, size) and self.seg_allows(seg, 2) \
                and not (self.ac_check | self.hook_rd) \
                and self.htlb_tag[i] == self.htag(lin) and self.htlb_w[i] != NULL \
                and po <= <uint32_t>(PAGE_SIZE - size):
            host_store(self.htlb_w[i] + po, size, v)
            if unlikely(self.tracing):
                self.trace_memw(lin, size, v)
            return
        self.wr(seg, off, size, v)

    @cython.final
    cdef void wr(self, int seg, uint32_t off, int size, uint32_t v) noexcept:
        cdef int i
        if not self.seg_within(seg, off, size):
            if self.m_word_wrap:
                for i in range(size):
                    self.wr_lin(self.base[seg] + ((off + i) & 0xFFFF), 1, (v >> (8 * i)) & 0xFF)
                return
            self.seg_fault(seg)
        if not self.seg_allows(seg, 2):
            self.seg_fault(seg)             # read-only data, code, or a null selector
        if self.ac_check and (off & (size - 1)):
            self.fault(EXC_AC, 0)
        if self.hook_mem:
            self.wr_hooked(self.base[seg] + off, size, v)
            return
        self.wr_lin(self.base[seg] + off, size, v)

    # ---- instruction fetch
    @cython.final
    cdef inline uint32_t fetch8(self) noexcept:
        cdef uint32_t off = self.eip - self.fw_eip
        if off < self.fw_n and self.ilen < self.max_len:
            self.ilen += 1
            self.eip += 1
            return self.fw_ptr[off]
        return self.fetch8_slow()

    @cython.final
    cdef uint32_t fetch8_slow(self) noexcept:
        # Outside the window: every check in order, so faults come as they would.
        cdef uint32_t v, lin
        self.ilen += 1
        if self.ilen > self.max_len:
            # Longer than the model's limit (286: 10 bytes, 386: 15) is #GP(0); the 286
            # data shows interrupt 13 here, not 6.
            self.fault(EXC_GP, 0)
        if self.eip > self.seg_hi[S_CS]:
            self.fault(EXC_GP, 0)           # running off the end of the code segment
        lin = self.base[S_CS] + self.eip
        if self.htag(lin) == self.fetch_tag:
            v = self.fetch_ptr[lin & (PAGE_SIZE - 1)]
        else:
            v = self.fetch_slow(lin)
        self.eip = (self.eip + 1) if self.code32 else ((self.eip + 1) & 0xFFFF)
        self.fw_open()
        return v

    @cython.final
    cdef void fw_open(self) noexcept:
        # Open the window on the page EIP is in, if the fetch page holds it: from the
        # page's first byte (or EIP, when the page starts below offset 0) to the first
        # EIP that is past the page, past the CS limit, or (16-bit) the last IP, whose
        # increment wraps.
        cdef uint32_t lin = self.base[S_CS] + self.eip
        cdef uint32_t pg = lin & (PAGE_SIZE - 1)
        cdef uint64_t lo, hi
        if self.htag(lin) != self.fetch_tag or self.eip > self.seg_hi[S_CS]:
            self.fw_n = 0
            return
        lo = self.eip - pg if self.eip >= pg else self.eip
        hi = <uint64_t>self.eip + (PAGE_SIZE - pg)
        if hi > <uint64_t>self.seg_hi[S_CS] + 1:
            hi = <uint64_t>self.seg_hi[S_CS] + 1
        if not self.code32 and hi > 0xFFFF:
            hi = 0xFFFF
        if hi <= lo:
            self.fw_n = 0
            return
        self.fw_eip = <uint32_t>lo
        self.fw_n = <uint32_t>(hi - lo)
        self.fw_ptr = self.fetch_ptr + (pg - (self.eip - <uint32_t>lo))

    @cython.final
    cdef bint fw_reopen(self) noexcept:
        # The window on the page EIP has moved to, when the host-pointer TLB holds that
        # page's translation (a read granted at this privilege, which is what the generic
        # fetch uses): what fetch_slow and fw_open do on an instruction's first byte.
        cdef uint32_t lin = self.base[S_CS] + self.eip
        cdef int i = (lin >> PAGE_SHIFT) & (TLB_SIZE - 1)
        if self.htlb_tag[i] != self.htag(lin) or self.htlb_r[i] == NULL:
            return False
        self.fetch_tag = self.htlb_tag[i]
        self.fetch_ptr = self.htlb_r[i]
        self.fw_open()
        return self.fw_n != 0

    @cython.final
    cdef uint32_t fetch_slow(self, uint32_t lin) noexcept:
        # A byte from another page: through the TLB (a walk, a fault), then the window
        # moves to that page if it is RAM or ROM.
        cdef uint32_t v = self.rd_lin(lin, 1)
        cdef int i = (lin >> PAGE_SHIFT) & (TLB_SIZE - 1)
        if self.htlb_tag[i] == self.htag(lin):
            self.fetch_tag = self.htlb_tag[i]
            self.fetch_ptr = self.htlb_r[i]
        return v

    @cython.final
    cdef inline uint32_t fetch16(self) noexcept:
        cdef uint32_t lo, off = self.eip - self.fw_eip
        if off < self.fw_n and self.fw_n - off >= 2 and self.ilen + 2 <= self.max_len:
            self.ilen += 2
            self.eip += 2
            return (<uint16_t*>(self.fw_ptr + off))[0]
        lo = self.fetch8()
        return lo | (self.fetch8() << 8)

    @cython.final
    cdef inline uint32_t fetch32(self) noexcept:
        cdef uint32_t lo, off = self.eip - self.fw_eip
        if off < self.fw_n and self.fw_n - off >= 4 and self.ilen + 4 <= self.max_len:
            self.ilen += 4
            self.eip += 4
            return (<uint32_t*>(self.fw_ptr + off))[0]
        lo = self.fetch16()
        return lo | (self.fetch16() << 16)

    @cython.final
    cdef inline uint32_t fetch_imm(self, int size) noexcept:
        if size == 1:
            return self.fetch8()
        if size == 2:
            return self.fetch16()
        return self.fetch32()

    # ---- stack
    @cython.final
    cdef void push(self, uint32_t v, int size) noexcept:
        cdef uint32_t sp
        if self.ss32:
            sp = self.r[R_ESP] - size
            self.wr_fast(S_SS, sp, size, v)
            self.r[R_ESP] = sp
        else:
            sp = (self.r[R_ESP] - size) & 0xFFFF
            self.wr_fast(S_SS, sp, size, v)
            self.r[R_ESP] = (self.r[R_ESP] & 0xFFFF0000u) | sp

    @cython.final
    cdef uint32_t pop(self, int size) noexcept:
        cdef uint32_t sp, v
        if self.ss32:
            sp = self.r[R_ESP]
            v = self.rd_fast(S_SS, sp, size)
            self.r[R_ESP] = sp + size
        else:
            sp = self.r[R_ESP] & 0xFFFF
            v = self.rd_fast(S_SS, sp, size)
            self.r[R_ESP] = (self.r[R_ESP] & 0xFFFF0000u) | ((sp + size) & 0xFFFF)
        return v

    @cython.final
    cdef inline uint32_t sp_off(self, uint32_t delta) noexcept:
        # Offset of the stack slot `delta` bytes above the top, in the stack's width.
        if self.ss32:
            return self.r[R_ESP] + delta
        return (self.r[R_ESP] + delta) & 0xFFFF

    # ================================================================ segments
    @cython.final
    cdef void load_seg(self, int s, uint32_t selector) noexcept:
        selector &= 0xFFFF
        if self.pe:
            self.load_seg_pm(s, selector)
            return
        # Real mode: selector and base change; limit and rights are kept, which is
        # what makes "unreal mode" work.  Virtual-8086 mode resets them to a 64 KiB
        # ring-3 data segment.
        self.sel[s] = selector
        self.base[s] = selector << 4
        if self.v86:
            self.limit[s] = 0xFFFF
            self.access[s] = 0xF300 if s != S_CS else 0xFB00
        self.seg_update(s)

    # ================================================================ ModR/M
    @cython.final
    cdef void decode_modrm(self) noexcept:
        cdef uint32_t m = self.fetch8()
        cdef uint32_t off = 0, sib, idx, sc
        cdef int base_r, seg = S_DS
        self.mod = m >> 6
        self.reg = (m >> 3) & 7
        self.rm = m & 7
        self.ea_esp_base = False
        if self.mod == 3:
            return
        if self.adsize == 2:
            if self.mod == 0 and self.rm == 6:
                off = self.fetch16()
            else:
                off = self.r[MODRM16_BASE[self.rm]]
                if MODRM16_INDEX[self.rm] < 8:
                    off += self.r[MODRM16_INDEX[self.rm]]
                seg = MODRM16_SEG[self.rm]
            if self.mod == 1:
                off += <uint32_t><int32_t><int8_t>self.fetch8()
            elif self.mod == 2:
                off += self.fetch16()
            self.ea = off & 0xFFFF
            self.ea_clocks = self.ea16_clocks(self.mod, self.rm)
        else:
            if self.rm == 4:
                sib = self.fetch8()
                base_r = sib & 7
                idx = (sib >> 3) & 7
                sc = sib >> 6
                if base_r == 5 and self.mod == 0:
                    off = self.fetch32()
                else:
                    off = self.r[base_r]
                    if base_r == R_ESP or base_r == R_EBP:
                        seg = S_SS
                    self.ea_esp_base = base_r == R_ESP
                if idx != 4:
                    off += self.r[idx] << sc
                    if not (base_r == 5 and self.mod == 0):
                        self.ea_clocks = 1      # 386: base and index both used
                elif sc and self.m_sib_scale_base and not (base_r == 5 and self.mod == 0):
                    off <<= sc                  # the 386 scales the base instead
            elif self.rm == 5 and self.mod == 0:
                off = self.fetch32()
            else:
                off = self.r[self.rm]
                if self.rm == R_EBP:
                    seg = S_SS
            if self.mod == 1:
                off += <uint32_t><int32_t><int8_t>self.fetch8()
            elif self.mod == 2:
                off += self.fetch32()
            self.ea = off
        self.ea_seg = self.seg_ovr if self.seg_ovr >= 0 else seg

    @cython.final
    cdef inline int ea16_clocks(self, int mod, int rm) noexcept:
        # The clocks a 16-bit memory operand's address adds to the form's figure
        if self.timing_adds_ea:
            return EA_8086[mod * 8 + rm]
        if self.isa == ISA_286:
            return 1 if (mod != 0 and rm < 4) else 0    # base + index + displacement
        if self.isa >= ISA_386:
            return 1 if rm < 4 else 0                   # two registers in the address
        return 0

    @cython.final
    cdef inline uint32_t get_rm(self, int size) noexcept:
        if self.mod == 3:
            return self.get_reg(self.rm, size)
        return self.rd(self.ea_seg, self.ea, size)

    @cython.final
    cdef inline void set_rm(self, int size, uint32_t v) noexcept:
        if self.mod == 3:
            self.set_reg(self.rm, size, v)
        else:
            self.wr(self.ea_seg, self.ea, size, v)

    # ================================================================ flags
    @cython.final
    cdef inline uint32_t szp(self, uint32_t res, int size) noexcept:
        cdef uint32_t f = PARITY[res & 0xFF]
        if (res & SIZE_MASK[size]) == 0:
            f |= F_ZF
        if res & SIZE_SIGN[size]:
            f |= F_SF
        return f

    @cython.final
    cdef inline void set_arith(self, uint32_t f) noexcept:
        self.eflags = (self.eflags & ~<uint32_t>F_ARITH) | f

    @cython.final
    cdef uint32_t alu(self, int op, uint32_t a, uint32_t b, int size) noexcept:
        """ADD OR ADC SBB AND SUB XOR CMP (op = ModR/M reg encoding); sets the flags."""
        return self.alu_c(op, a, b, size)

    @cython.final
    cdef inline uint32_t alu_c(self, int op, uint32_t a, uint32_t b, int size) noexcept:
        # alu's body, inlined where the size is a constant (the decoded 32-bit register
        # forms), so that the masks and the flag tests fold: the masks are computed,
        # not looked up, for that.
        cdef uint32_t mask = 0xFFFFFFFFu >> (32 - 8 * size), sign = <uint32_t>1 << (8 * size - 1)
        cdef uint64_t wide
        cdef uint32_t res, c = 0, f = 0
        if op == 0 or op == 2:
            if op == 2:
                c = self.eflags & F_CF
            wide = <uint64_t>a + b + c
            res = <uint32_t>wide & mask
            if wide > mask:
                f |= F_CF
            if (a ^ res) & (b ^ res) & sign:
                f |= F_OF
            f |= (a ^ b ^ res) & F_AF
        elif op == 3 or op == 5 or op == 7:
            if op == 3:
                c = self.eflags & F_CF
            res = (a - b - c) & mask
            if <uint64_t>a < <uint64_t>b + c:
                f |= F_CF
            if (a ^ b) & (a ^ res) & sign:
                f |= F_OF
            f |= (a ^ b ^ res) & F_AF
        elif op == 1:
            res = a | b
        elif op == 4:
            res = a & b
        else:
            res = a ^ b
        f |= PARITY[res & 0xFF]
        if (res & mask) == 0:
            f |= F_ZF
        if res & sign:
            f |= F_SF
        self.set_arith(f)
        return res

    @cython.final
    cdef uint32_t inc_dec(self, uint32_t a, int size, bint dec) noexcept:
        return self.inc_dec_c(a, size, dec)

    @cython.final
    cdef inline uint32_t inc_dec_c(self, uint32_t a, int size, bint dec) noexcept:
        # inc_dec's body, inlined for the decoded 32-bit register form (as alu_c)
        cdef uint32_t res, f = self.eflags & F_CF
        cdef uint32_t mask = 0xFFFFFFFFu >> (32 - 8 * size), sign = <uint32_t>1 << (8 * size - 1)
        if dec:
            res = (a - 1) & mask
            if res == sign - 1:
                f |= F_OF
        else:
            res = (a + 1) & mask
            if res == sign:
                f |= F_OF
        f |= (a ^ res) & F_AF
        f |= PARITY[res & 0xFF]
        if res == 0:
            f |= F_ZF
        if res & sign:
            f |= F_SF
        self.set_arith(f)
        return res

    @cython.final
    cdef inline uint32_t shift32_imm(self, int op, uint32_t v, uint32_t count) noexcept:
        # SHL/SAL, SHR and SAR of a 32-bit operand by a count of 1..31 (the 386 and
        # later): what shift() computes bit by bit, in one step, with the same flags.
        cdef uint32_t res, f
        if op == 5:
            f = (v >> (count - 1)) & 1
            res = v >> count
            if count == 1:
                if v & 0x80000000u:
                    f |= F_OF
            elif ((res << 1) ^ res) & 0x80000000u:
                f |= F_OF
        elif op == 7:
            f = (v >> (count - 1)) & 1
            res = <uint32_t>(<int32_t>v >> count)
        else:
            f = (v >> (32 - count)) & 1
            res = v << count
            if (res >> 31) ^ f:
                f |= F_OF
        f |= PARITY[res & 0xFF]
        if res == 0:
            f |= F_ZF
        if res & 0x80000000u:
            f |= F_SF
        self.set_arith(f)
        return res

    @cython.final
    cdef inline bint cond(self, int cc) noexcept:
        cdef uint32_t f = self.eflags
        cdef bint v
        cc &= 0xF
        if cc < 2:
            v = (f & F_OF) != 0
        elif cc < 4:
            v = (f & F_CF) != 0
        elif cc < 6:
            v = (f & F_ZF) != 0
        elif cc < 8:
            v = (f & (F_CF | F_ZF)) != 0
        elif cc < 10:
            v = (f & F_SF) != 0
        elif cc < 12:
            v = (f & F_PF) != 0
        elif cc < 14:
            v = ((f & F_SF) != 0) != ((f & F_OF) != 0)
        else:
            v = ((f & F_ZF) != 0) or (((f & F_SF) != 0) != ((f & F_OF) != 0))
        return v != (cc & 1)

    @cython.final
    cdef inline uint32_t get_flags(self) noexcept:
        return (self.eflags & ~<uint32_t>0x8028) | self.flags_fixed1

    @cython.final
    cdef void set_flags(self, uint32_t v, int size) noexcept:
        cdef uint32_t settable = self.flags_settable32 if size == 4 else self.flags_settable16
        self.eflags = (self.eflags & ~settable) | (v & settable) | self.flags_fixed1

    # ================================================================ shifts
    @cython.final
    cdef uint32_t shift(self, int op, uint32_t v, uint32_t count, int size) noexcept:
        """ROL ROR RCL RCR SHL SHR SAL SAR (ModR/M reg) by `count`, bit by bit.

        Bit-serial like the 8086 microcode, so every count (the 8086 takes all 8 bits
        of CL) yields the hardware's result and last-step flags.
        """
        cdef int bits = size * 8
        cdef uint32_t mask = SIZE_MASK[size], sign = SIZE_SIGN[size]
        cdef uint32_t cf, orig = v, i, f
        count &= self.shift_mask
        if count == 0:
            return v
        self.cyc_extra += count * self.t_per_count[self.tk]
        f = self.eflags
        cf = f & F_CF
        if op == 6 and self.isa == ISA_8086:
            # SETMO/SETMOC: the 8086 decodes this slot as "set to all ones".
            res = mask
            self.set_arith(self.szp(res, size))
            return res
        if op < 4:
            # Rotates: ROL ROR RCL RCR; only CF and OF change.
            for i in range(count):
                if op == 0:
                    cf = (v >> (bits - 1)) & 1
                    v = ((v << 1) | cf) & mask
                elif op == 1:
                    cf = v & 1
                    v = (v >> 1) | (cf << (bits - 1))
                elif op == 2:
                    orig = (v >> (bits - 1)) & 1
                    v = ((v << 1) | cf) & mask
                    cf = orig
                else:
                    orig = v & 1
                    v = (v >> 1) | (cf << (bits - 1))
                    cf = orig
            f = (f & ~<uint32_t>(F_CF | F_OF)) | cf
            # OF (defined for a count of 1): left rotates MSB xor CF, right rotates
            # the two top bits of the result.
            if op == 0 or op == 2:
                if ((v >> (bits - 1)) & 1) ^ cf:
                    f |= F_OF
            elif ((v >> (bits - 1)) ^ (v >> (bits - 2))) & 1:
                f |= F_OF
            self.eflags = f
            return v
        if op == 4 or op == 6:
            for i in range(count):
                cf = (v >> (bits - 1)) & 1
                v = (v << 1) & mask
            f = cf | self.szp(v, size)
            if ((v >> (bits - 1)) & 1) ^ cf:
                f |= F_OF
            # AF is undefined; the 8086..386 leave it set after a shift left of
            # a nonzero count (matches the captured data where it is defined).
            f |= F_AF if (self.isa <= ISA_286) else 0
            self.set_arith(f)
            return v
        if op == 5:
            for i in range(count):
                cf = v & 1
                v >>= 1
            f = cf | self.szp(v, size)
            if count == 1 and (orig & sign):
                f |= F_OF
            elif count > 1 and ((v << 1) ^ v) & sign:
                f |= F_OF
            f |= F_AF if (self.isa <= ISA_286) else 0
            self.set_arith(f)
            return v
        # SAR
        for i in range(count):
            cf = v & 1
            v = (v >> 1) | (v & sign)
        f = cf | self.szp(v, size)
        f |= F_AF if (self.isa <= ISA_286) else 0
        self.set_arith(f)
        return v

    # ================================================================ interrupts
    @cython.final
    cdef void interrupt(self, int vec, uint32_t ret_eip) noexcept:
        """Deliver an interrupt or exception through the real-mode IVT."""
        cdef uint32_t new_ip, new_cs
        if self.pe or self.v86:
            self.interrupt_pm(vec, ret_eip, -1, False)
            return
        if self.isa >= ISA_286 and <uint32_t>(vec * 4 + 3) > self.idtr_limit:
            self.fault(EXC_GP, vec * 8 + 2)
        self.push(self.get_flags(), 2)
        self.push(self.sel[S_CS], 2)
        self.push(ret_eip, 2)
        new_ip = self.rd_lin(self.idtr_base + vec * 4, 2)
        new_cs = self.rd_lin(self.idtr_base + vec * 4 + 2, 2)
        self.eflags &= ~<uint32_t>(F_IF | F_TF | F_AC | F_RF)
        self.load_seg(S_CS, new_cs)
        self.eip = new_ip

    @cython.final
    cdef void dr7_update(self) noexcept:
        cdef int n
        cdef uint32_t rw
        self.dr_exec_active = False
        self.dr_data_active = False
        for n in range(4):
            if (self.dr[7] >> (2 * n)) & 3:
                rw = (self.dr[7] >> (16 + 4 * n)) & 3
                if rw == 0:
                    self.dr_exec_active = True
                elif rw != 2:                       # 01 write, 11 read/write; 10 is I/O
                    self.dr_data_active = True
        self.dc_update()
        self.update_hooks()

    @cython.final
    cdef void check_exec_breakpoint(self) noexcept:
        # Instruction breakpoints are faults, taken before the instruction runs,
        # unless RF says the handler asked to resume past one.
        cdef int n
        cdef uint32_t lin = self.base[S_CS] + self.eip, hits = 0
        if self.eflags & F_RF:
            return
        for n in range(4):
            if (self.dr[7] >> (2 * n)) & 3 and ((self.dr[7] >> (16 + 4 * n)) & 3) == 0 \
                    and self.dr[n] == lin:
                hits |= 1 << n
        if hits:
            self.dr[6] = (self.dr[6] & ~<uint32_t>0xF) | hits
            self.fault(EXC_DB, -1)

    @cython.final
    cdef void check_data_breakpoint(self, uint32_t lin, int size, bint write) noexcept:
        cdef int n
        cdef uint32_t rw, ln, mask
        for n in range(4):
            if not ((self.dr[7] >> (2 * n)) & 3):
                continue
            rw = (self.dr[7] >> (16 + 4 * n)) & 3
            if rw == 0 or rw == 2 or (rw == 1 and not write):
                continue
            ln = (self.dr[7] >> (18 + 4 * n)) & 3       # 0:1 1:2 3:4 bytes (aligned)
            mask = ~(<uint32_t>(ln if ln != 2 else 7))
            if (lin & mask) <= (self.dr[n] & mask) <= ((lin + size - 1) & mask):
                self.dr_hits |= 1 << n

    # ================================================================ debugger hooks
    # The controller (debugger/controller.py) arms these; with nothing armed the run loop
    # tests hook_insn once per instruction and the data paths test hook_mem, which the
    # DR7 data breakpoints needed anyway, so an idle debugger costs nothing measurable.

    @cython.final
    cdef void update_hooks(self) noexcept:
        # Reads are watched by watchpoints and data breakpoints; writes by those and by
        # the trace recorder (MEMW), so a recording pays nothing on reads.
        self.hook_rd = self.dr_data_active or self.w_n > 0
        self.hook_mem = self.hook_rd or self.tracing
        self.hook_io = self.catch_io or self.tracing
        self.hook_int = self.catch_vec or self.tracing
        self.trace_only = self.tracing and not (
            self.bp_n[0] + self.bp_n[1] + self.bp_n[2] > 0 or self.w_n > 0 or self.catch_io
            or self.catch_vec or self.catch_mode or self.catch_magic or self.ret_armed)
        self.hook_insn = self.trace_only or (
            self.bp_n[0] + self.bp_n[1] + self.bp_n[2] > 0 or self.w_n > 0 or self.catch_io
            or self.catch_vec or self.catch_mode or self.catch_magic or self.ret_armed
            or self.tracing)
        # The decoded path runs under the debugger but for `finish` (a RET is a decoded
        # form; dbg_after looks at each) and physical breakpoints (each instruction's
        # physical address would be needed).  What else can stop it is met outside the
        # decoded forms: I/O and mode changes in the generic path, events in the run
        # loop, faults in their delivery, watchpoints in rd/wr's hooks.
        if self.trace_only:
            self.dc_dbg_how = DC_TRACE
        elif self.hook_insn and not self.ret_armed and self.bp_n[1] == 0:
            self.dc_dbg_how = DC_DEBUG | (DC_TRACE if self.tracing else 0)
        else:
            self.dc_dbg_how = -1

    @cython.final
    cdef void add_hit(self, int kind, uint32_t a, uint32_t b, uint32_t c, uint32_t d,
                      uint32_t e, uint32_t f) noexcept:
        # Only the first MAX_HITS of one run are kept (a REP MOVS over a watched buffer).
        if self.n_hits < MAX_HITS:
            self.hits[self.n_hits].kind = kind
            self.hits[self.n_hits].a = a
            self.hits[self.n_hits].b = b
            self.hits[self.n_hits].c = c
            self.hits[self.n_hits].d = d
            self.hits[self.n_hits].e = e
            self.hits[self.n_hits].f = f
            self.n_hits += 1
        self.dbg_pending = True

    @cython.final
    cdef inline int64_t probe_lin(self, uint32_t lin) noexcept:
        """Physical address of `lin` without faulting or touching A/D bits (-1: not
        present, or above 4 GiB where nothing is).  For the debugger's views and checks."""
        cdef uint32_t vpn = lin >> 12
        cdef int i = vpn & (TLB_SIZE - 1)
        cdef int64_t p
        if not self.paging:
            return lin & self.bus.addr_mask
        if self.tlb_vpn[i] == vpn:
            return (self.tlb_ppn[i] | (lin & 0xFFF)) & self.bus.addr_mask
        p = self.probe_walk(lin)
        if p >> 32:
            return -1
        return p & self.bus.addr_mask if p >= 0 else -1

    @cython.final
    cdef int64_t probe_walk(self, uint32_t lin) noexcept:
        """The page walk of `lin` as the tables say now, 36-bit with PAE (-1: not
        present or a reserved bit set)."""
        cdef uint32_t pde, pte
        cdef uint64_t e, addr
        if self.cr4 & CR4_PAE:
            e = self.pdpte[lin >> 30]
            if not (e & 1):
                return -1
            addr = (e & 0xFFFFFF000ull) | ((lin >> 18) & 0xFF8)
            e = self.phys_rd64(addr)
            if not (e & 1) or (e >> 32) & PAE_RSVD_HI:
                return -1
            if e & 0x80:
                if e & (PDE2M_RSVD_LO | self.pat_rsvd_2m):
                    return -1
                return <int64_t>((e & 0xFFFE00000ull) | (lin & 0x1FFFFF))
            e = self.phys_rd64((e & 0xFFFFFF000ull) | ((lin >> 9) & 0xFF8))
            if not (e & 1) or (e >> 32) & PAE_RSVD_HI or (e & self.pat_rsvd_pte):
                return -1
            return <int64_t>((e & 0xFFFFFF000ull) | (lin & 0xFFF))
        pde = self.phys_rd32(((self.cr3 & 0xFFFFF000u) | ((lin >> 20) & 0xFFC)) & self.bus.addr_mask)
        if not (pde & 1):
            return -1
        if (pde & 0x80) and (self.cr4 & CR4_PSE):
            return (pde & 0xFFC00000u) | (lin & 0x003FFFFF)
        pte = self.phys_rd32(((pde & 0xFFFFF000u) | ((lin >> 10) & 0xFFC)) & self.bus.addr_mask)
        if not (pte & 1):
            return -1
        return (pte & 0xFFFFF000u) | (lin & 0xFFF)

    @cython.final
    cdef int peek8(self, uint32_t lin) noexcept:
        cdef int64_t p = self.probe_lin(lin)
        cdef uint8_t* page
        if p < 0:
            return -1
        page = self.rptr[p >> PAGE_SHIFT]
        if page == NULL:
            return -1                   # MMIO: reading it could have side effects
        return page[p & (PAGE_SIZE - 1)]

    @cython.final
    cdef uint32_t peek(self, uint32_t lin, int size) noexcept:
        cdef uint32_t v = 0
        cdef int i, b
        for i in range(size):
            b = self.peek8(lin + i)
            v |= <uint32_t>(b & 0xFF) << (8 * i)
        return v

    @cython.final
    cdef bint dbg_exec(self, bint check_bp) noexcept:
        """One instruction with the debugger's checks around it; True: stop now (a
        breakpoint matched before it ran, or a hit was recorded while it ran)."""
        if self.dbg_before(check_bp):
            return True
        self.exec_one()
        self.dbg_after()
        return self.dbg_pending

    @cython.final
    cdef bint dbg_before(self, bint check_bp) noexcept:
        # The breakpoint checks apart, so that what a recording alone needs here is a
        # few instructions and the recorder's call.
        cdef uint32_t lin = self.base[S_CS] + self.eip
        if check_bp and self.bp_pages != NULL and <int64_t>lin != self.skip_lin:
            if self.dbg_breakpoint(lin):
                return True
        self.skip_lin = -1
        if self.tracing:
            self.trace_insn_begin(lin)
        return False

    @cython.final
    cdef bint dbg_breakpoint(self, uint32_t lin) noexcept:
        """An execution breakpoint matches at `lin` (hits recorded)."""
        cdef int64_t p
        cdef int i
        cdef bint hit = False
        if self.bp_pages[lin >> 12] & BP_LIN:
            for i in range(self.bp_n[0]):
                if self.bp_addr[0][i] == lin:
                    self.add_hit(HIT_EXEC_LIN, lin, 0, 0, 0, 0, 0)
                    hit = True
        if self.bp_pages[self.eip >> 12] & BP_OFF:
            for i in range(self.bp_n[2]):
                if self.bp_addr[2][i] == self.eip:
                    self.add_hit(HIT_EXEC_OFF, self.eip, self.sel[S_CS], 0, 0, 0, 0)
                    hit = True
        if self.bp_n[1]:
            p = self.probe_lin(lin)
            if p >= 0 and self.bp_pages[p >> 12] & BP_PHYS:
                for i in range(self.bp_n[1]):
                    if self.bp_addr[1][i] == <uint32_t>p:
                        self.add_hit(HIT_EXEC_PHYS, <uint32_t>p, 0, 0, 0, 0, 0)
                        hit = True
        return hit

    @cython.final
    cdef void dbg_after(self) noexcept:
        cdef uint32_t op
        self.dc_sync()
        op = self.op_byte
        if self.ret_armed and (op == 0xC2 or op == 0xC3 or op == 0xCA or op == 0xCB or op == 0xCF):
            # finish: a return that leaves the stack above the frame it was armed in.
            if self.sel[S_SS] != self.ret_ss or self.r[R_ESP] > self.ret_esp:
                self.add_hit(HIT_RETURN, self.sel[S_CS], self.eip, 0, 0, 0, 0)
        if self.tracing:
            self.trace_insn_done()

    @cython.final
    cdef uint32_t rd_hooked(self, uint32_t lin, int size) noexcept:
        cdef uint32_t v
        if self.dr_data_active:
            self.check_data_breakpoint(lin, size, False)
        v = self.rd_lin(lin, size)
        if self.w_n and self.watch_maybe(lin, size):
            self.watch_check(lin, size, False, v, v)
        return v

    @cython.final
    cdef inline bint watch_maybe(self, uint32_t lin, int size) noexcept:
        # The access touches a page some watchpoint is on (by linear address, or by
        # physical address when there are physical ones): only then is it compared with
        # each, and a write's old value read first.
        cdef int64_t p
        if (self.w_pages[lin >> 12] | self.w_pages[(lin + <uint32_t>(size - 1)) >> 12]) & BP_LIN:
            return True
        if self.w_nphys:
            p = self.probe_lin(lin)
            return p >= 0 and (self.w_pages[p >> 12] & BP_PHYS) != 0
        return False

    @cython.final
    cdef void wr_hooked(self, uint32_t lin, int size, uint32_t v) noexcept:
        cdef uint32_t old = 0
        cdef bint watched = False
        if self.dr_data_active:
            self.check_data_breakpoint(lin, size, True)
        if self.w_n:
            watched = self.watch_maybe(lin, size)
            if watched:
                old = self.peek(lin, size)
        self.wr_lin(lin, size, v)
        # Reached only if the write did not fault.
        if watched:
            self.watch_check(lin, size, True, old, v)
        if self.tracing:
            self.trace_memw(lin, size, v)

    @cython.final
    cdef void watch_check(self, uint32_t lin, int size, bint write, uint32_t old,
                          uint32_t new) noexcept:
        cdef uint32_t last = lin + <uint32_t>(size - 1)
        cdef int64_t p = -1
        cdef uint32_t a, z
        cdef int i
        cdef uint8_t need = 2 if write else 1
        cdef bint lin_page = (self.w_pages[lin >> 12] | self.w_pages[last >> 12]) & BP_LIN
        if self.w_nphys:
            p = self.probe_lin(lin)
        if not lin_page and not (p >= 0 and self.w_pages[p >> 12] & BP_PHYS):
            return
        for i in range(self.w_n):
            if not (self.w_acc[i] & need):
                continue
            if self.w_phys[i]:
                if p < 0:
                    continue
                a = <uint32_t>p
            else:
                a = lin
            z = a + <uint32_t>(size - 1)
            if a <= self.w_hi[i] and z >= self.w_lo[i]:
                self.add_hit(HIT_WATCH, i, lin, <uint32_t>p if p >= 0 else lin,
                             <uint32_t>size | (0x100 if write else 0), old, new)

    @cython.final
    cdef void io_hook(self, uint32_t port, int size, bint write, uint32_t value) noexcept:
        if self.catch_io and self.io_catch[port & 0xFFFF] & (2 if write else 1):
            self.add_hit(HIT_IO, port, size, write, value, 0, 0)
        if self.tracing:
            self.tput8(T_IO)
            self.tput8((0x80 if write else 0) | size)
            self.tput16(port)
            self.tput32(value)

    @cython.final
    cdef inline void note_int(self, int vec, int kind, int err) noexcept:
        # Every event delivery passes here first (kind: 0 exception, 1 software, 2
        # hardware, 3 NMI); the CS:EIP reported is where the event was taken.
        if self.hook_int:
            self.int_hook(vec, kind, err)

    @cython.final
    cdef void int_hook(self, int vec, int kind, int err) noexcept:
        if self.catch_vec and self.vec_catch[vec & 0xFF] & (1 << kind):
            self.add_hit(HIT_VECTOR, vec, kind, <uint32_t>err, self.sel[S_CS],
                         self.insn_eip if kind == 0 else self.eip, 0)
        if self.tracing:
            self.trace_flush_regs()
            if kind >= 2 and self.trace_cycles:
                # A delivery between instructions has no INSN of its own to carry its
                # cycle, and with bus timing it has clocks of its own (the INTA cycles,
                # the pushes) that start where the last instruction's clocks end, or
                # where a halted CPU woke: say when.  clock.now is that cycle here, the
                # bus model having set the clock after the step before.
                if self.clock.now - self.t_cycle > 0xFFFFFFFFu:
                    self.trace_key()
                self.tput8(T_CYCLE)
                self.tput32(<uint32_t>(self.clock.now - self.t_cycle))
            self.tput8(T_INT)
            self.tput8(vec)
            self.tput8(kind)
            self.tput32(<uint32_t>err)
            self.t_after_key = False
            self.t_synced = False       # the delivery changes registers next

    @cython.final
    cdef inline int current_mode(self) noexcept:
        return (2 if self.v86 else (1 if self.cr0 & 1 else 0)) | (4 if self.paging else 0)

    # ---- trace recording: a byte stream the controller drains with trace_take()
    @cython.final
    cdef inline void tput(self, const void* data, size_t n) noexcept:
        if self.tlen + n > self.tcap and not self.tgrow(n):
            return                      # out of memory: drop the entry rather than crash
        memcpy(self.tbuf + self.tlen, data, n)
        self.tlen += n

    @cython.final
    cdef bint tgrow(self, size_t n) noexcept:
        cdef size_t cap = self.tcap * 2 if self.tcap else 1 << 20
        cdef uint8_t* nb
        while cap < self.tlen + n:
            cap *= 2
        if self.t_owner is not None:
            # Out of a buffer trace_swap gave: on in memory of the recorder's own
            nb = <uint8_t*>malloc(cap)
            if nb == NULL:
                return False
            memcpy(nb, self.tbuf, self.tlen)
            self.trace_release()
        else:
            nb = <uint8_t*>realloc(self.tbuf, cap)
            if nb == NULL:
                return False
        self.tbuf = nb
        self.tcap = cap
        return True

    @cython.final
    cdef void trace_release(self) noexcept:
        # Let go of the buffer object tbuf is in (its owner may move or free it now)
        if self.t_owner is not None:
            PyBuffer_Release(&self.t_view)
            self.t_owner = None

    @cython.final
    cdef inline void tput8(self, uint32_t v) noexcept:
        cdef uint8_t b = <uint8_t>v
        self.tput(&b, 1)

    @cython.final
    cdef inline void tput16(self, uint32_t v) noexcept:
        cdef uint16_t w = <uint16_t>v
        self.tput(&w, 2)

    @cython.final
    cdef inline void tput32(self, uint32_t v) noexcept:
        self.tput(&v, 4)

    @cython.final
    cdef inline void tput64(self, uint64_t v) noexcept:
        self.tput(&v, 8)

    @cython.final
    cdef uint32_t trace_reg(self, int i) noexcept:
        if i < 8:
            return self.r[i]
        if i == 8:
            return self.get_flags()
        if i < 15:
            return self.sel[i - 9]
        if i == 15:
            return self.cr0
        if i == 16:
            return self.cr2
        if i == 17:
            return self.cr3
        return self.cr4

    @cython.final
    cdef void trace_key(self) noexcept:
        cdef int i
        self.tput8(T_KEY)
        self.tput64(self.clock.now)
        self.tput64(self.t_count)
        for i in range(T_NREGS):
            self.t_regs[i] = self.trace_reg(i)
            self.tput32(self.t_regs[i])
        memcpy(self.t_sel, self.sel, sizeof(self.t_sel))
        self.tput32(self.eip)
        self.t_cycle = self.clock.now
        self.t_ctx_mode = -1            # a CTX follows every KEY
        self.t_ctx_same = False
        self.t_synced = True
        # A reader forgets at a KEY what it knew of the code bytes, the page mapping and
        # the EIP to expect (so that it can start at any KEY): so does the recorder.
        self.t_next_eip = self.eip
        self.t_map_lin = 0xFFFFFFFFu
        for i in range(T_CODE_SLOTS):
            self.t_code[i].len = 0
        self.t_key_since = True
        self.t_after_key = True
        self.trace_forget()

    @cython.final
    cdef void trace_flush_regs(self) noexcept:
        cdef int i
        if self.t_after_key:
            # Registers written after the KEY and before any record (from the Python
            # API or the debugger, between trace_start and the run): a REG entry there
            # would belong to no record, so the KEY is written again as they are now.
            for i in range(T_NREGS):
                if self.trace_reg(i) != self.t_regs[i]:
                    self.trace_key()
                    return
            return
        self.trace_flush_gprs()
        # Selectors and control registers seldom change: one compare for each group.
        if memcmp(self.t_sel, self.sel, sizeof(self.t_sel)) != 0:
            for i in range(6):
                self.trace_reg_if_changed(9 + i, self.sel[i])
            memcpy(self.t_sel, self.sel, sizeof(self.t_sel))
        if ((self.cr0 ^ self.t_regs[15]) | (self.cr2 ^ self.t_regs[16])
                | (self.cr3 ^ self.t_regs[17]) | (self.cr4 ^ self.t_regs[18])):
            self.trace_reg_if_changed(15, self.cr0)
            self.trace_reg_if_changed(16, self.cr2)
            self.trace_reg_if_changed(17, self.cr3)
            self.trace_reg_if_changed(18, self.cr4)

    @cython.final
    cdef inline void trace_flush_gprs(self) noexcept:
        if self.tlen + 5 * 9 > self.tcap and not self.tgrow(5 * 9):
            return
        self.trace_gprs_unchecked()
        self.trace_flags_unchecked()

    # The REG entries of the GPRs and EFLAGS, the room for nine made by the caller.
    @cython.final
    cdef inline void trace_gprs_unchecked(self) noexcept:
        # An instruction changes a register or two, often none: the GPRs compared in
        # pairs, then the registers of the pairs that differ.
        cdef uint64_t a0, a1, a2, a3, b0, b1, b2, b3
        memcpy(&a0, &self.r[0], 8)
        memcpy(&a1, &self.r[2], 8)
        memcpy(&a2, &self.r[4], 8)
        memcpy(&a3, &self.r[6], 8)
        memcpy(&b0, &self.t_regs[0], 8)
        memcpy(&b1, &self.t_regs[2], 8)
        memcpy(&b2, &self.t_regs[4], 8)
        memcpy(&b3, &self.t_regs[6], 8)
        # (a call only for a pair that changed, with its values: no loads again)
        if a0 != b0:
            self.trace_gpr_pair(0, a0, b0)
        if a1 != b1:
            self.trace_gpr_pair(2, a1, b1)
        if a2 != b2:
            self.trace_gpr_pair(4, a2, b2)
        if a3 != b3:
            self.trace_gpr_pair(6, a3, b3)

    @cython.final
    cdef void trace_gpr_pair(self, int i, uint64_t now, uint64_t then) noexcept:
        # Registers i and i + 1 are `now`, were `then` (low word: register i).
        memcpy(&self.t_regs[i], &now, 8)
        if <uint32_t>now != <uint32_t>then:
            self.trace_reg_unchecked(i, <uint32_t>now, <uint32_t>then)
        if (now ^ then) >> 32:
            self.trace_reg_unchecked(i + 1, <uint32_t>(now >> 32), <uint32_t>(then >> 32))

    @cython.final
    cdef inline void trace_flags_unchecked(self) noexcept:
        cdef uint32_t f = self.get_flags()
        cdef uint32_t old = self.t_regs[8]
        if f != old:
            self.t_regs[8] = f
            self.trace_reg_unchecked(8, f, old)

    @cython.final
    cdef inline void trace_reg_unchecked(self, int i, uint32_t v, uint32_t old) noexcept:
        self.tlen += trace_reg_entry(self.tbuf + self.tlen, i, v, old)

    @cython.final
    cdef inline void trace_reg_if_changed(self, int i, uint32_t v) noexcept:
        if v != self.t_regs[i]:
            self.trace_reg_put(i, v)

    @cython.final
    cdef void trace_reg_put(self, int i, uint32_t v) noexcept:
        cdef uint32_t old = self.t_regs[i]
        self.t_regs[i] = v
        if self.tlen + 5 > self.tcap and not self.tgrow(5):
            return
        self.trace_reg_unchecked(i, v, old)

    @cython.final
    cdef void trace_ctx(self) noexcept:
        cdef int mode = self.current_mode() | (8 if self.code32 else 0)
        if mode != self.t_ctx_mode or self.sel[S_CS] != self.t_ctx_cs \
                or self.base[S_CS] != self.t_ctx_base:
            self.t_ctx_mode = mode
            self.t_ctx_cs = self.sel[S_CS]
            self.t_ctx_base = self.base[S_CS]
            self.tput8(T_CTX)
            self.tput8(mode)
            self.tput16(self.sel[S_CS])
            self.tput32(self.base[S_CS])

    @cython.final
    cdef void trace_begin_slow(self) noexcept:
        # Before an INSN when something besides a GPR-only instruction ran since the
        # last: the registers it changed, a KEY if the cycle delta is too large, a CTX.
        if not self.t_synced:
            self.trace_flush_regs()     # what happened since: an event delivery, a fault
            self.t_synced = True        # (an event inside the instruction clears it)
        if self.clock.now - self.t_cycle > 0xFFFFFFFFu:
            self.trace_key()
        self.trace_ctx()

    @cython.final
    cdef void trace_phys(self, uint32_t lin, uint32_t addr) noexcept:
        self.tput8(T_PHYS)
        self.tput32(addr)
        self.t_map_lin = lin >> 12
        self.t_map_phys = addr >> 12
        self.trace_forget()

    @cython.final
    cdef void trace_code_slow(self, uint32_t lin) noexcept:
        # The instruction's bytes when they are not all in one RAM/ROM page.
        cdef uint8_t code[16]
        cdef int i, b
        for i in range(16):
            b = self.peek8(lin + i)
            code[i] = <uint8_t>(b if b >= 0 else 0)
        memcpy(&self.t_code_lo, code, 8)
        memcpy(&self.t_code_hi, code + 8, 8)

    @cython.final
    cdef inline size_t trace_eip_field(self, uint8_t* q, uint32_t eip) noexcept:
        # An INSN's EIP field: most jumps are short, a displacement from the expected
        # EIP in a byte (-127..127); 0x80 and the u32 EIP otherwise.  Its size.
        cdef int32_t d = <int32_t>(eip - self.t_next_eip)
        if -127 <= d <= 127:
            q[0] = <uint8_t>d
            return 1
        q[0] = 0x80
        memcpy(q + 1, &eip, 4)
        return 5

    @cython.final
    cdef inline TCode* trace_code_slot(self, uint32_t addr) noexcept:
        return &self.t_code[(addr ^ (addr >> 12)) & (T_CODE_SLOTS - 1)]

    @cython.final
    cdef inline void trace_insn_begin(self, uint32_t lin) noexcept:
        # The common case in a few loads and compares: nothing but a GPR-only
        # instruction ran since the last INSN, the cycle delta fits in the tag, the
        # reader knows the physical address and the bytes there (the code cache).
        # Anything else takes trace_insn_begin_slow, which writes any entry.
        cdef uint64_t delta = self.clock.now - self.t_cycle
        cdef uint32_t addr, clen
        cdef uint64_t lo, hi
        cdef uint8_t* page
        cdef TCode* slot
        if ((self.t_synced & self.t_ctx_same) == 0) | (delta >= T_INSN_DELTA32) \
                | (self.tlen + 26 > self.tcap):
            self.trace_insn_begin_slow(lin)
            return
        page = self.trace_code_at(lin, &addr)
        if page == NULL:
            self.trace_insn_begin_slow(lin)
            return
        memcpy(&lo, page, 8)
        memcpy(&hi, page + 8, 8)
        slot = self.trace_code_slot(addr)
        clen = slot.len
        if not trace_code_known(slot, addr, lo, hi):
            self.trace_insn_begin_slow(lin)
            return
        self.t_code_lo = lo
        self.t_code_hi = hi
        self.t_code_addr = addr
        self.t_insn_eip = self.eip
        self.trace_insn_put(delta, clen)
        self.t_code_pos = self.tlen

    @cython.final
    cdef inline void trace_insn_put(self, uint64_t delta, uint32_t n) noexcept:
        # The INSN entry of an instruction whose n bytes the reader holds where it
        # expects them (the code cache's hit), and the state its end reads: the tag
        # with the cycle delta, then the EIP unless it is the one the reader expects.
        cdef uint32_t eip = self.eip
        cdef size_t pos = self.tlen
        self.t_key_since = False
        self.t_after_key = False
        self.t_code_hit = True
        self.t_code_len = n
        self.t_insn_pos = pos
        self.t_cycle += delta
        self.t_count += 1
        if eip == self.t_next_eip:
            self.tbuf[pos] = <uint8_t>(T_INSN | delta)
            pos += 1
        else:
            self.tbuf[pos] = <uint8_t>(T_INSN | T_INSN_EIP | delta)
            pos += 1 + self.trace_eip_field(self.tbuf + pos + 1, eip)
        self.tlen = pos
        self.t_next_eip = eip + n

    @cython.final
    cdef inline uint8_t* trace_code_at(self, uint32_t lin, uint32_t* addr) noexcept:
        # The 16 bytes at lin, where the reader can tell they are without a PHYS: the
        # physical address (*addr) is the one it expects (the linear one, or through the
        # mapping of the last PHYS), from the TLB (a miss, a walk, is for the callers'
        # slow paths), in a RAM or ROM page that holds all 16.  NULL otherwise.
        cdef uint32_t vpn = lin >> 12, expect = lin, a
        cdef uint8_t* page
        if self.paging:
            if self.tlb_vpn[vpn & (TLB_SIZE - 1)] != vpn:
                return NULL
            a = (self.tlb_ppn[vpn & (TLB_SIZE - 1)] | (lin & 0xFFF)) & self.bus.addr_mask
        else:
            a = lin & self.bus.addr_mask
        if vpn == self.t_map_lin:
            expect = (self.t_map_phys << 12) | (lin & 0xFFF)
        page = self.rptr[a >> PAGE_SHIFT]
        if (a != expect) | (page == NULL) | ((a & (PAGE_SIZE - 1)) > PAGE_SIZE - 16):
            return NULL
        addr[0] = a
        return page + (a & (PAGE_SIZE - 1))

    @cython.final
    cdef inline void trace_forget(self) noexcept:
        cdef int i
        self.t_epoch += 1
        if self.t_epoch == 0:           # (after 2^32 changes: no stamp may look current)
            for i in range(DC_SIZE):
                self.dcache[i].tstamp = 0
            self.t_epoch = 1

    @cython.final
    cdef void trace_stamp(self, DInsn* e, int k, uint32_t lin0, uint32_t lin,
                          uint32_t n) noexcept:
        # Stamp instruction k of e (its first at lin0) when trace_insn_begin's fast path
        # would now find it, n bytes at lin, known to the reader: its physical address
        # the one the reader expects, its bytes there in the code cache.  While the
        # epoch stays, so does that (dc_loop clears the stamps when it decodes anew).
        cdef uint32_t addr
        cdef uint8_t* page = self.trace_code_at(lin, &addr)
        cdef uint64_t lo, hi
        cdef TCode* slot
        if page == NULL:
            return
        memcpy(&lo, page, 8)
        memcpy(&hi, page + 8, 8)
        slot = self.trace_code_slot(addr)
        if slot.len == n and trace_code_known(slot, addr, lo, hi):
            if e.tstamp != ((<uint64_t>lin0 << 32) | self.t_epoch):
                e.tstamp = (<uint64_t>lin0 << 32) | self.t_epoch
                e.tmask = 0
            e.tmask |= 1 << k

    @cython.final
    cdef inline bint trace_insn_begin_known(self, uint32_t n) noexcept:
        # trace_insn_begin's fast path for an instruction whose stamp is current (the
        # reader holds its n bytes where it expects them): only the entry is left to
        # write.  False when the rest of the fast path's conditions do not hold.
        cdef uint64_t delta = self.clock.now - self.t_cycle
        # The room is made here for all the instruction will write: the INSN (6), two
        # MEMW (13 each) and the nine REG entries of trace_known_done (45).
        if ((self.t_synced & self.t_ctx_same) == 0) | (delta >= T_INSN_DELTA32) \
                | (self.tlen + 128 > self.tcap):
            return False
        # (t_code_pos, t_insn_eip and the code fields are for trace_code_fixup, which an
        # instruction the reader knows never needs.)
        self.trace_insn_put(delta, n)
        return True

    @cython.final
    cdef inline void trace_known_done(self, uint32_t twr) noexcept:
        # The end of an instruction trace_insn_begin_known began (its length is the one
        # recorded, its room made): what twr says it can write (dc_writes).  (A fused
        # jump, which writes neither, ends in dc_trace_end without it.)
        if not self.t_synced:
            self.dc_sync()              # an event inside it: the general end
            self.trace_insn_end(True)
            return
        self.t_insn_pos = -1
        self.trace_writes(twr)

    @cython.final
    cdef inline void trace_writes(self, uint32_t twr) noexcept:
        # The REG entries of the GPRs in twr that changed, then of EFLAGS if twr has
        # TWR_FLAGS (the room made by the caller).  A form that cannot write EFLAGS left
        # them as the last instruction's end found them (t_regs[8]): with no event
        # since (t_synced), nothing else wrote them.
        self.trace_gprs_masked(twr & 0xFF)
        if twr & TWR_FLAGS:
            self.trace_flags_unchecked()

    @cython.final
    cdef inline void trace_gprs_masked(self, uint32_t twr) noexcept:
        # The REG entries of the GPRs in twr that changed (the room made by the caller)
        cdef uint32_t v
        cdef int r
        while twr:
            r = __builtin_ctz(twr)
            twr &= twr - 1
            v = self.r[r]
            if v != self.t_regs[r]:
                self.trace_reg_unchecked(r, v, self.t_regs[r])
                self.t_regs[r] = v

    @cython.final
    cdef void trace_insn_begin_slow(self, uint32_t lin) noexcept:
        cdef int64_t p
        cdef uint32_t addr, expect, delta, eip, clen
        cdef uint64_t now, lo, hi
        cdef uint8_t* page
        cdef uint8_t* q
        cdef TCode* slot
        cdef size_t n, pos
        cdef bint hit
        if not (self.t_synced & self.t_ctx_same) or self.clock.now - self.t_cycle > 0xFFFFFFFFu:
            self.trace_begin_slow()
        self.t_key_since = False
        self.t_after_key = False
        # PHYS only where the reader cannot tell the physical address: it takes the
        # linear one, or the mapping of the page the last PHYS was in.
        p = self.probe_lin(lin)
        addr = <uint32_t>p if p >= 0 else lin
        expect = lin
        if (lin >> 12) == self.t_map_lin:
            expect = (self.t_map_phys << 12) | (lin & 0xFFF)
        if addr != expect:
            self.trace_phys(lin, addr)
        page = self.rptr[p >> PAGE_SHIFT] if p >= 0 else NULL
        if page != NULL and (addr & (PAGE_SIZE - 1)) <= PAGE_SIZE - 16:
            memcpy(&lo, page + (addr & (PAGE_SIZE - 1)), 8)
            memcpy(&hi, page + (addr & (PAGE_SIZE - 1)) + 8, 8)
        else:
            self.trace_code_slow(lin)
            lo = self.t_code_lo
            hi = self.t_code_hi
        # The INSN entry, written in place: tag, the cycle delta if it does not fit in
        # the tag, EIP if not the expected one, and the code unless the bytes at this
        # address are those last recorded there (at most 15: trace_insn_end trims them).
        if self.tlen + 26 > self.tcap and not self.tgrow(26):
            return                      # out of memory: no entry (t_insn_pos stays -1)
        # (Fields into locals and self first: a store through q may alias them all.)
        now = self.clock.now
        delta = <uint32_t>(now - self.t_cycle)
        eip = self.eip
        pos = self.tlen
        q = self.tbuf + pos
        slot = self.trace_code_slot(addr)
        clen = slot.len
        hit = trace_code_known(slot, addr, lo, hi)
        self.t_code_hit = hit
        self.t_code_lo = lo
        self.t_code_hi = hi
        self.t_code_addr = addr
        self.t_code_len = clen
        self.t_insn_eip = eip
        self.t_insn_pos = pos
        self.t_cycle = now
        self.t_count += 1
        n = 1
        if delta >= T_INSN_DELTA32:
            memcpy(q + 1, &delta, 4)
            n = 5
            delta = T_INSN_DELTA32
        if eip != self.t_next_eip:
            n += self.trace_eip_field(q + n, eip)
            delta |= T_INSN_EIP
        if hit:
            self.t_next_eip = eip + clen
        else:
            delta |= T_INSN_CODE
            slot.len = 0                # until trace_insn_end knows what the entry holds
            self.trace_forget()
            self.t_next_eip = eip + 15
            q[n] = 15
            memcpy(q + n + 1, &lo, 8)
            memcpy(q + n + 9, &hi, 7)
            n += 16
        q[0] = <uint8_t>(T_INSN | delta)
        self.t_code_pos = pos + n - (16 if delta & T_INSN_CODE else 0)
        self.tlen = pos + n

    @cython.final
    cdef inline void trace_insn_done(self) noexcept:
        # The common end of an instruction that ran to completion (see trace_insn_end):
        # a GPR-only instruction whose bytes were found in the code cache.
        cdef uint32_t fx = T_GPR_ONLY[self.op_byte & 0x1FF]
        if fx == 4:
            fx = (T_FF_GPR_ONLY >> self.reg) & 1
        if ((self.t_synced & self.t_code_hit & (fx != 0)) == 0) | (self.t_insn_pos < 0) \
                | (<uint32_t>self.ilen != self.t_code_len):
            self.trace_insn_end(True)
            return
        self.t_ctx_same = True
        self.t_insn_pos = -1
        if fx == 3:
            return                      # a jump, NOP: nothing to compare
        if self.tlen + 5 * 9 > self.tcap and not self.tgrow(5 * 9):
            return
        if fx == 1:
            self.trace_gprs_unchecked()
        self.trace_flags_unchecked()

    @cython.final
    cdef void trace_insn_done_dc(self, uint32_t twr) noexcept:
        # trace_insn_done for an instruction dc_loop ran from its entry: of the GPRs,
        # only those the entry's form can write (twr, dc_writes) are compared.
        if ((self.t_synced & self.t_code_hit) == 0) | (self.t_insn_pos < 0) \
                | (<uint32_t>self.ilen != self.t_code_len):
            self.trace_insn_end(True)
            return
        self.t_ctx_same = True
        self.t_insn_pos = -1
        if self.tlen + 5 * 9 > self.tcap and not self.tgrow(5 * 9):
            return
        self.trace_writes(twr)

    @cython.final
    cdef void trace_insn_end(self, bint flush) noexcept:
        # Only the GPRs and EFLAGS can have changed when no event was delivered inside
        # the instruction (int_hook clears t_synced) and its opcode writes no segment
        # or control register.
        cdef uint32_t fx = T_GPR_ONLY[self.op_byte & 0x1FF]
        cdef bint gprs_only
        if fx == 4:
            fx = (T_FF_GPR_ONLY >> self.reg) & 1
        gprs_only = self.t_synced and fx != 0
        cdef uint32_t n = self.ilen
        self.t_synced = flush           # a fault: its delivery changes registers
        self.t_ctx_same = flush & gprs_only
        if self.t_insn_pos < 0:
            self.t_synced = False
            self.t_ctx_same = False
            return
        if n - 1 > 14:
            n = 1 if n < 1 else 15
        if not self.t_code_hit or n != self.t_code_len:
            self.trace_code_fixup(n)
        self.t_insn_pos = -1
        if flush:
            if gprs_only:
                self.trace_flush_gprs()
            else:
                self.trace_flush_regs()

    @cython.final
    cdef void trace_code_fixup(self, uint32_t n) noexcept:
        # The length is known only now: a code field reserved for 15 bytes keeps n of
        # them, and the entries the instruction produced (if any) move down over the
        # rest; one left out because the bytes matched those of another length (the
        # same bytes in another mode) gets them.
        cdef size_t cp = self.t_code_pos
        cdef size_t tail
        cdef uint8_t code[16]
        cdef TCode* slot
        if self.t_code_hit:
            if self.tlen + 1 + n > self.tcap and not self.tgrow(1 + n):
                return
            memmove(self.tbuf + cp + 1 + n, self.tbuf + cp, self.tlen - cp)
            self.tbuf[self.t_insn_pos] |= T_INSN_CODE
            self.tlen += 1 + n
        else:
            tail = cp + 16
            if self.tlen > tail:
                memmove(self.tbuf + cp + 1 + n, self.tbuf + tail, self.tlen - tail)
            self.tlen -= 15 - n
        memcpy(code, &self.t_code_lo, 8)
        memcpy(code + 8, &self.t_code_hi, 8)
        self.tbuf[cp] = <uint8_t>n
        memcpy(self.tbuf + cp + 1, code, n)
        if not self.t_key_since:        # (a KEY inside the instruction: the reader forgot)
            slot = self.trace_code_slot(self.t_code_addr)
            slot.addr = self.t_code_addr
            slot.len = n
            self.trace_forget()
            slot.lo = self.t_code_lo & CODE_MASK_LO[n]
            slot.hi = self.t_code_hi & CODE_MASK_HI[n]
            self.t_next_eip = self.t_insn_eip + n

    @cython.final
    cdef void trace_memw(self, uint32_t lin, int size, uint32_t v) noexcept:
        # MEMW: tag (with the size, and whether a physical address follows), linear
        # address, [physical address], `size` bytes of value.  The physical address as
        # probe_lin gives it, its TLB hit in line (a walk and a full buffer: the slow path).
        cdef uint32_t phys, vpn = lin >> 12
        if self.tlen + 13 > self.tcap:
            self.trace_memw_slow(lin, size, v)
            return
        if self.paging:
            if self.tlb_vpn[vpn & (TLB_SIZE - 1)] != vpn:
                self.trace_memw_slow(lin, size, v)
                return
            phys = (self.tlb_ppn[vpn & (TLB_SIZE - 1)] | (lin & 0xFFF)) & self.bus.addr_mask
        else:
            phys = lin & self.bus.addr_mask
        self.trace_memw_put(lin, phys, size, v)

    @cython.final
    cdef void trace_memw_slow(self, uint32_t lin, int size, uint32_t v) noexcept:
        cdef int64_t p = self.probe_lin(lin)
        if self.tlen + 13 > self.tcap and not self.tgrow(13):
            return
        self.trace_memw_put(lin, <uint32_t>p if p >= 0 else lin, size, v)

    @cython.final
    cdef inline void trace_memw_put(self, uint32_t lin, uint32_t phys, int size,
                                    uint32_t v) noexcept:
        cdef uint8_t* q = self.tbuf + self.tlen
        memcpy(q + 1, &lin, 4)
        if phys == lin:
            q[0] = T_MEMW | (size >> 1)
            memcpy(q + 5, &v, 4)
            self.tlen += 5 + size
        else:
            q[0] = T_MEMW | T_MEMW_PHYS | (size >> 1)
            memcpy(q + 5, &phys, 4)
            memcpy(q + 9, &v, 4)
            self.tlen += 9 + size

    # ---- 486/Pentium/P6 system instructions
    @cython.final
    cdef void store_edx_eax(self, uint64_t v) noexcept:
        self.r[R_EAX] = <uint32_t>v
        self.r[R_EDX] = <uint32_t>(v >> 32)

    @cython.final
    cdef void do_cpuid(self) noexcept:
        from core import cpuid as _cpuid
        apic = (self.msrs.get(0x1B, 0x800) >> 11) & 1 if self.model.has_apic else 0
        a, b, c, d = _cpuid.cpuid(self.model.name, self.r[R_EAX], self.r[R_ECX], bool(apic))
        self.r[R_EAX], self.r[R_EBX], self.r[R_ECX], self.r[R_EDX] = a, b, c, d
        if 0x8B in self.msrs:
            self.msrs[0x8B] = 0                   # CPUID clears BIOS_SIGN_ID (P6)

    @cython.final
    cdef void rdmsr(self) noexcept:
        cdef uint32_t n = self.r[R_ECX]
        cdef bint ok = True
        cdef uint64_t v = 0
        if n == 0x10 and self.has_tsc:
            v = self.clock.now - self.tsc_base
        elif n in self.msrs:
            v = self.msrs[n]
        else:
            ok = False
        if not ok:
            self.fault(EXC_GP, 0)
        self.store_edx_eax(v)

    @cython.final
    cdef void wrmsr(self) noexcept:
        from core import cpuid as _cpuid
        cdef uint32_t n = self.r[R_ECX]
        cdef uint64_t value = (<uint64_t>self.r[R_EDX] << 32) | self.r[R_EAX]
        cdef bint ok = True
        table = _cpuid.msr_table(self.model.name)
        msr = table.get(n)
        if msr is None:
            ok = False
        elif n == 0x10:
            try:
                self.tsc_base = _cpuid.tsc_base_after_write(self.model.name, self.clock.now,
                                                           self.tsc_base, value)
            except _cpuid.MsrFault:
                ok = False
        else:
            try:
                self.msrs[n] = _cpuid.write_value(msr, self.msrs.get(n, msr.reset), value)
            except _cpuid.MsrFault:
                ok = False
        table = msr = None
        if not ok:
            self.fault(EXC_GP, 0)

    @cython.final
    cdef void cmpxchg8b(self) noexcept:
        cdef uint64_t m = (<uint64_t>self.rd(self.ea_seg, self.ea + 4, 4) << 32) | self.rd(self.ea_seg, self.ea, 4)
        cdef uint64_t cmp = (<uint64_t>self.r[R_EDX] << 32) | self.r[R_EAX]
        if m == cmp:
            self.wr(self.ea_seg, self.ea, 4, self.r[R_EBX])
            self.wr(self.ea_seg, self.ea + 4, 4, self.r[R_ECX])
            self.eflags |= F_ZF
        else:
            # The locked cycle writes the old value back, then EDX:EAX takes it.
            self.wr(self.ea_seg, self.ea, 4, <uint32_t>m)
            self.wr(self.ea_seg, self.ea + 4, 4, <uint32_t>(m >> 32))
            self.store_edx_eax(m)
            self.eflags &= ~<uint32_t>F_ZF

    @cython.final
    cdef void rdpmc(self) noexcept:
        # The two performance counters (PerfCtr0/1, MSRs C1h C2h) are 40 bits wide.
        self.store_edx_eax(self.msrs.get(0xC1 + self.r[R_ECX], 0) & 0xFFFFFFFFFFull)

    @cython.final
    cdef void sysenter_exit(self, bint exit) noexcept:
        # Fast system calls (P6): flat segments derived from IA32_SYSENTER_CS,
        # no descriptor reads (Intel SDM vol. 2, SYSENTER/SYSEXIT).
        cdef uint32_t cs = <uint32_t>(self.msrs.get(0x174, 0) & 0xFFFF)
        if not self.pe or (cs & 0xFFFC) == 0 or (exit and self.cpl != 0):
            self.fault(EXC_GP, 0)
        if not exit:
            self.eflags &= ~<uint32_t>(F_VM | F_IF | F_RF)
            self.update_mode()
            self.flat_segment(S_CS, cs & 0xFFFC, 0xCF9B00)
            self.flat_segment(S_SS, (cs + 8) & 0xFFFC, 0xCF9300)
            self.r[R_ESP] = <uint32_t>(self.msrs.get(0x175, 0) & 0xFFFFFFFFu)
            self.eip = <uint32_t>(self.msrs.get(0x176, 0) & 0xFFFFFFFFu)
            self.cpl = 0
        else:
            self.flat_segment(S_CS, (cs + 16) | 3, 0xCFFB00)
            self.flat_segment(S_SS, (cs + 24) | 3, 0xCFF300)
            self.r[R_ESP] = self.r[R_ECX]
            self.eip = self.r[R_EDX]
            self.cpl = 3
        self.set_user(self.cpl == 3)

    @cython.final
    cdef void flat_segment(self, int s, uint32_t sel, uint32_t access) noexcept:
        self.sel[s] = sel
        self.base[s] = 0
        self.limit[s] = 0xFFFFFFFFu
        self.access[s] = access
        self.seg_update(s)

    @cython.final
    cdef inline void save_state(self) noexcept:
        self.saved_eflags = self.eflags
        self.saved_esp = self.r[R_ESP]
        self.saved_ss = self.sel[S_SS]
        self.insn_eip = self.eip

    @cython.final
    cdef inline void save_event_state(self) noexcept:
        # Before an event delivered between instructions: what a fault in its delivery
        # restores, and no instruction's timing index for its charge (deliver_fault).
        self.save_state()
        self.tk = TK_NONE

    @cython.final
    cdef void soft_int(self, int vec) noexcept:
        # INT n / INT3 / INTO: IOPL-sensitive in virtual-8086 mode, and the gate's DPL
        # is checked against CPL in protected mode.
        if self.v86 and ((self.eflags >> 12) & 3) < 3:
            self.fault(EXC_GP, 0)
        self.note_int(vec, 1, -1)
        if self.pe or self.v86:
            self.interrupt_pm(vec, self.eip, -1, True)
            if self.int_cost:
                self.cyc_override = self.int_cost
        else:
            self.interrupt(vec, self.eip)

    @cython.final
    cdef void deliver_fault(self) noexcept:
        """Deliver the exception recorded by fault(), with the double-fault rules of the
        SDM: contributory-on-contributory and #PF-on-#PF/contributory give #DF, and a
        fault while delivering #DF shuts the processor down (triple fault)."""
        cdef int vec = self.fault_vec, first = self.delivering_vec
        cdef int err = self.fault_err
        cdef uint32_t ret = self.insn_eip
        self.set_user(self.cpl == 3)          # a fault inside a system access left it cleared
        if first < 0:
            # Undo what the faulting instruction did before its fault (flags of a
            # read-modify-write whose write faults, ESP of POP [mem]).
            self.eflags = self.saved_eflags
            if self.sel[S_SS] == self.saved_ss:
                self.r[R_ESP] = self.saved_esp
        if vec == EXC_DE and self.m_div_next:
            ret = self.eip
        self.halted = False
        if first == EXC_DF:
            # Shutdown: the processor stops; EIP is left at the instruction that started
            # it all, which is where a debugger user wants to look.
            self.shutdown = True
            self.delivering_vec = -1
            self.eip = self.insn_eip
            if self.tracing:
                self.trace_flush_regs()
                self.tput8(T_SHUTDOWN)
                self.t_after_key = False
            return
        if first >= 0 and ((_contributory(first) and _contributory(vec))
                           or (first == EXC_PF and (vec == EXC_PF or _contributory(vec)))):
            vec = EXC_DF
            err = 0
        if err >= 0 and first >= 0 and self.deliver_ext and vec != EXC_DF:
            err |= 1                        # EXT: caused while delivering an event (#DF: 0)
        self.delivering_vec = vec
        self.deliver_ext = True
        self.int_cost = 0
        if self.pe or self.v86:
            # Only these vectors push an error code (and only in protected mode).
            if vec != 8 and (vec < 10 or vec > 14) and vec != 17:
                err = -1
            self.note_int(vec, 0, err)
            self.interrupt_pm(vec, ret, err, False)
        else:
            self.note_int(vec, 0, -1)
            self.interrupt(vec, ret)
        self.delivering_vec = -1
        self.deliver_ext = False
        # The faulting instruction's work so far is not itemised: charge its base
        # form (none when it faulted before its opcode was decoded, or the event's
        # delivery did), then the exception sequence (the gate's documented cost in PM).
        self.clock.now += (self.t_reg[self.tk] if self.tk != TK_NONE else 0) \
            + (self.int_cost if self.int_cost else self.t_exc)
        self.icount += 1

    # ================================================================ run loop
    @cython.final
    cdef int run_slice(self, uint64_t until) noexcept:
        cdef int vec
        self.slice_end = until
        self.check_map()
        self.t_synced = False               # a debugger may have written registers
        if setjmp(self.jb) != 0:
            # A fault unwound here: registers are as the hardware leaves them.
            self.dc_sync_fault()
            if self.tracing:
                self.trace_insn_end(False)
            self.deliver_fault()
            if self.dbg_pending:
                return STOP_DEBUG
        while True:
            # '|' rather than 'or': the flags are C ints, and one branch on their union
            # is cheaper than seven.
            if not (self.shutdown | self.stop_requested | self.inhibit_irq | self.nmi
                    | self.intr | self.halted | self.hook_insn):
                # Nothing pending (the common case): the checks below reduce to these.
                if self.clock.now >= self.slice_end or self.clock.now >= self.clock.next_deadline:
                    return STOP_BUDGET
                if self.dc_ok and not (self.eflags & (F_TF | F_RF)) \
                        and self.dc_loop(DC_RUN) == DC_CHECK:
                    continue
                self.exec_generic()
                continue
            if not (self.shutdown | self.stop_requested | self.inhibit_irq | self.nmi
                    | self.intr | self.halted):
                # Only the debugger (hook_insn): a breakpoint, a watchpoint, a recording.
                if self.clock.now >= self.slice_end or self.clock.now >= self.clock.next_deadline:
                    return STOP_BUDGET
                if self.dc_dbg_how >= 0 and self.dc_ok and not (self.eflags & (F_TF | F_RF)) \
                        and self.dc_loop(self.dc_dbg_how) == DC_CHECK:
                    if self.dbg_pending:
                        return STOP_DEBUG       # a watchpoint: after the access
                    continue
                if self.dbg_exec(True):
                    return STOP_DEBUG
                continue
            if self.shutdown:
                return STOP_SHUTDOWN
            if self.stop_requested:
                self.stop_requested = False
                return STOP_REQUEST
            if self.clock.now >= self.slice_end or self.clock.now >= self.clock.next_deadline:
                # A device may have scheduled an event inside this slice (an I/O
                # write programming a timer): stop so it fires on time.
                return STOP_BUDGET
            if self.inhibit_irq:
                self.inhibit_irq = False
            elif self.nmi:
                self.nmi = False
                self.halted = False
                self.save_event_state()
                self.note_int(2, 3, -1)
                self.interrupt(2, self.eip)
                self.clock.now += self.t_nmi
                if self.dbg_pending:
                    return STOP_DEBUG
                continue
            elif self.intr and (self.eflags & F_IF) and self.intr_ack is not None:
                self.halted = False
                self.save_event_state()
                vec = self.acknowledge()
                self.note_int(vec, 2, -1)
                self.interrupt(vec, self.eip)
                self.clock.now += self.t_intr
                if self.dbg_pending:
                    return STOP_DEBUG
                continue
            if self.halted:
                # Nothing can wake HLT with IF=0 but NMI or RESET; with IF=1, only an
                # interrupt, and so only a pending clock event can lead to one.
                if self.clock.next_deadline == 0xFFFFFFFFFFFFFFFFull or not (self.eflags & F_IF):
                    return STOP_HALT
                # Sleep until the next device event (or the end of the slice): an OUT
                # earlier in this slice may have scheduled one before slice_end.
                self.clock.now = min(self.slice_end, self.clock.next_deadline)
                return STOP_BUDGET
            if self.hook_insn:
                if self.dbg_exec(True):
                    return STOP_DEBUG
                continue
            self.exec_one()

    @cython.final
    cdef int acknowledge(self) noexcept:
        try:
            return <int>self.intr_ack() & 0xFF
        except Exception:
            return 0xFF

    def run(self, uint64_t until):
        """Execute until clock.now >= until or something stops the CPU; return the reason."""
        return STOP_NAMES[self.run_slice(until)]

    def step(self):
        """Execute exactly one instruction (or deliver one pending interrupt); return cycles."""
        cdef uint64_t t0 = self.clock.now
        # A REP string instruction runs to completion: the slice has no end here.
        self.run_one()
        return self.clock.now - t0

    @cython.final
    cdef int run_one(self) noexcept:
        cdef int vec
        self.slice_end = 0xFFFFFFFFFFFFFFFFull
        self.check_map()
        self.t_synced = False
        if setjmp(self.jb) != 0:
            self.dc_sync_fault()
            if self.tracing:
                self.trace_insn_end(False)
            self.deliver_fault()
            return 0
        if self.shutdown:
            return STOP_SHUTDOWN
        if self.inhibit_irq:
            self.inhibit_irq = False
        elif self.nmi:
            self.nmi = False
            self.halted = False
            self.save_event_state()
            self.note_int(2, 3, -1)
            self.interrupt(2, self.eip)
            self.clock.now += self.t_nmi
            return 0
        elif self.intr and (self.eflags & F_IF) and self.intr_ack is not None:
            self.halted = False
            self.save_event_state()
            vec = self.acknowledge()
            self.note_int(vec, 2, -1)
            self.interrupt(vec, self.eip)
            self.clock.now += self.t_intr
            return 0
        if self.halted:
            return STOP_HALT
        if self.hook_insn:
            self.dbg_exec(False)
        else:
            self.exec_one()
        return 0

    # ================================================================ decoded instructions
    @cython.final
    cdef void dc_flush(self) noexcept:
        if self.dcache != NULL:
            memset(self.dcache, 0, DC_SIZE * sizeof(DInsn))
        self.dc_cur = NULL
        self.dc_update()

    @cython.final
    cdef inline void dc_sync(self) noexcept:
        # The current instruction's length, opcode and timing index, which dc_loop does
        # not store per instruction, for the code that reads them: fault delivery, the
        # debugger's after-instruction checks and the trace recorder.
        if self.dc_cur != NULL:
            self.ilen = self.dc_cur.len
            self.op_byte = self.dc_cur.op
            self.tk = self.dc_cur.k
            self.opsize = self.dc_cur.opsize
            self.reg = self.dc_cur.reg

    @cython.final
    cdef void dc_sync_fault(self) noexcept:
        # dc_sync for a fault: the length is what the generic path had fetched when it
        # faulted, short of an immediate it fetches after the memory operand's read.
        self.dc_sync()
        if self.dc_ilate:
            self.ilen -= self.dc_ilate
            self.dc_ilate = 0

    @cython.final
    cdef void dc_update(self) noexcept:
        # Instruction and data breakpoints in DR7 are checked by the generic path only.
        self.dc_ok = self.dc_enabled and self.dcache != NULL and not (
            self.dr_exec_active or self.dr_data_active)

    @cython.final
    cdef int dc_reject(self, DInsn* e, int n, uint64_t lo, uint64_t hi) noexcept:
        # Not a decoded form: remember that for these n leading bytes.
        e.form = D_NONE
        e.len = n
        e.tlen = n
        e.nops = 0
        e.wmem = 0
        e.tmask = 0
        e.tops = 0
        e.b0 = lo & DC_LO[n]
        e.b1 = hi & DC_HI[n]
        e.mode = self.dc_mode
        return D_NONE

    @cython.final
    cdef int dc_decode(self, DInsn* e, const uint8_t* p, uint64_t lo, uint64_t hi) noexcept:
        """Decode the instruction at p (16 bytes readable) into e as exec_one and
        decode_modrm would; return its form, D_NONE if the generic path must run it."""
        cdef int n = 0, npfx = 0, form = D_NONE, size = 0, isz = 0, k
        cdef int opsize = 4 if self.code32 else 2
        cdef int adsize = opsize, seg_ovr = -1, seg = S_DS
        cdef int mod = 3, reg = 0, rm = 0, base = 8, index = 8, scale = 0, aop = 0, eac = 0, b
        cdef uint32_t op, m, sib, disp = 0, imm = 0, pfx, base_c
        # ---- prefixes, taken as exec_one takes them
        while True:
            op = p[n]
            n += 1
            if not MAYBE_PREFIX[op]:
                break
            if op == 0x26 or op == 0x2E or op == 0x36 or op == 0x3E:
                seg_ovr = (op >> 3) & 3
            elif op == 0xF3 or op == 0xF2 or op == 0xF0 or (op == 0xF1 and self.isa == ISA_8086):
                return self.dc_reject(e, n, lo, hi)         # REP and LOCK: generic
            elif self.isa >= ISA_386 and (op == 0x64 or op == 0x65):
                seg_ovr = S_FS + (op - 0x64)
            elif self.isa >= ISA_386 and op == 0x66:
                opsize = 2 if self.code32 else 4
            elif self.isa >= ISA_386 and op == 0x67:
                adsize = 2 if self.code32 else 4
            else:
                break
            npfx += 1
            if npfx > 4:
                return self.dc_reject(e, n, lo, hi)         # keeps every decode within 16 bytes
        # ---- opcode
        if self.isa == ISA_8086:
            op = ALIAS_8086[op]
        elif op == 0x0F:
            if self.isa == ISA_186:
                return self.dc_reject(e, n, lo, hi)
            op = 0x100 | p[n]
            n += 1
        # ---- ModR/M, SIB and displacement
        if OP_MODRM[op] and op != 0x0F:
            m = p[n]
            n += 1
            mod = m >> 6
            reg = (m >> 3) & 7
            rm = m & 7
            if mod != 3:
                if adsize == 2:
                    if mod == 0 and rm == 6:
                        disp = p[n] | (<uint32_t>p[n + 1] << 8)
                        n += 2
                    else:
                        base = MODRM16_BASE[rm]
                        index = MODRM16_INDEX[rm]
                        seg = MODRM16_SEG[rm]
                    eac = self.ea16_clocks(mod, rm)
                    if mod == 1:
                        disp += <uint32_t><int32_t><int8_t>p[n]
                        n += 1
                    elif mod == 2:
                        disp += p[n] | (<uint32_t>p[n + 1] << 8)
                        n += 2
                else:
                    if rm == 4:
                        sib = p[n]
                        n += 1
                        b = sib & 7
                        index = (sib >> 3) & 7
                        scale = sib >> 6
                        if b == 5 and mod == 0:
                            memcpy(&disp, p + n, 4)
                            n += 4
                        else:
                            base = b
                            if b == R_ESP or b == R_EBP:
                                seg = S_SS
                        if index == 4:
                            if scale and self.m_sib_scale_base and not (b == 5 and mod == 0):
                                return self.dc_reject(e, n, lo, hi)     # the 386 scales the base
                            index = 8
                            scale = 0
                        elif not (b == 5 and mod == 0):
                            eac = 1
                    elif rm == 5 and mod == 0:
                        memcpy(&disp, p + n, 4)
                        n += 4
                    else:
                        base = rm
                        if rm == R_EBP:
                            seg = S_SS
                    if mod == 1:
                        disp += <uint32_t><int32_t><int8_t>p[n]
                        n += 1
                    elif mod == 2:
                        memcpy(&m, p + n, 4)
                        disp += m
                        n += 4
                if seg_ovr >= 0:
                    seg = seg_ovr
        k = (op << 3) | (reg if OP_GROUP[op] else 0)
        if OP_ISA[k] > self.isa:
            return self.dc_reject(e, n, lo, hi)             # #UD, or the 8086's aliases
        # ---- the form; isz: immediate bytes (negative: sign-extended)
        if op < 0x40 and (op & 7) < 6:
            aop = op >> 3
            size = 1 if (op & 1) == 0 else opsize
            if (op & 7) < 2:
                form = D_ALU_RM_R
            elif (op & 7) < 4:
                form = D_ALU_R_RM
            else:
                form = D_ALU_RM_IMM
                rm = R_EAX
                isz = size
        elif 0x40 <= op <= 0x4F:
            form = D_INCDEC
            rm = op & 7
            aop = 1 if op >= 0x48 else 0
            size = opsize
        elif 0x50 <= op <= 0x57:
            form = D_PUSH_RM
            rm = op & 7
            size = opsize
        elif 0x58 <= op <= 0x5F:
            form = D_POP_R
            rm = op & 7
            size = opsize
        elif op == 0x68 or op == 0x6A:
            form = D_PUSH_IMM
            isz = opsize if op == 0x68 else -1
        elif op == 0x69 or op == 0x6B or op == 0x1AF:
            form = D_IMUL
            size = opsize
            if op != 0x1AF:
                aop = 1
                isz = opsize if op == 0x69 else -1
        elif 0x70 <= op <= 0x7F:
            form = D_JCC
            aop = op & 0xF
            isz = -1
        elif 0x80 <= op <= 0x83:
            form = D_ALU_RM_IMM
            aop = reg
            size = 1 if (op & 1) == 0 else opsize
            isz = size if op == 0x81 else (-1 if op == 0x83 else 1)
        elif op == 0x84 or op == 0x85:
            form = D_TEST_RM_R
            size = 1 if op == 0x84 else opsize
        elif 0x88 <= op <= 0x8B:
            form = D_MOV_RM_R if op < 0x8A else D_MOV_R_RM
            size = 1 if (op & 1) == 0 else opsize
        elif op == 0x8D and mod != 3:
            form = D_LEA
            size = opsize
        elif 0xA0 <= op <= 0xA3:
            # MOV between the accumulator and a direct offset (no ModR/M): a memory
            # operand with only a displacement, timed by the 'reg' figure
            form = D_MOV_R_RM if op < 0xA2 else D_MOV_RM_R
            size = 1 if (op & 1) == 0 else opsize
            reg = R_EAX
            mod = 0
            base = index = 8
            scale = 0
            if adsize == 4:
                memcpy(&disp, p + n, 4)
            else:
                disp = p[n] | (<uint32_t>p[n + 1] << 8)
            n += adsize
            seg = seg_ovr if seg_ovr >= 0 else S_DS
            eac = -1
        elif op == 0x90:
            form = D_NOP
        elif 0x91 <= op <= 0x97:
            form = D_XCHG_AX
            rm = op & 7
            size = opsize
        elif op == 0x98 or op == 0x99:
            form = D_CBW if op == 0x98 else D_CWD
            size = opsize
        elif op == 0xA8 or op == 0xA9:
            form = D_TEST_RM_IMM
            rm = R_EAX
            size = 1 if op == 0xA8 else opsize
            isz = size
        elif 0xB0 <= op <= 0xBF:
            form = D_MOV_RM_IMM
            rm = op & 7
            size = 1 if op < 0xB8 else opsize
            isz = size
        elif op == 0xC0 or op == 0xC1 or op == 0xD0 or op == 0xD1:
            form = D_SHIFT
            aop = reg
            size = 1 if (op & 1) == 0 else opsize
            if op < 0xD0:
                isz = 1
            else:
                imm = 1
        elif (op == 0xD2 or op == 0xD3) and not (self.isa == ISA_8086 and reg == 6):
            form = D_SHIFT_CL               # (the 8086's SETMOC with CL = 0 does nothing)
            aop = reg
            size = 1 if op == 0xD2 else opsize
        elif op == 0xC2 or op == 0xC3:
            form = D_RET
            isz = 2 if op == 0xC2 else 0
        elif (op == 0xC6 or op == 0xC7) and reg == 0:
            form = D_MOV_RM_IMM
            size = 1 if op == 0xC6 else opsize
            isz = size
        elif op == 0xC9:
            form = D_LEAVE
        elif op == 0xE8 or op == 0xE9:
            form = D_CALL if op == 0xE8 else D_JMP
            isz = 4 if opsize == 4 else -2
        elif op == 0xEB:
            form = D_JMP
            isz = -1
        elif (op == 0xF6 or op == 0xF7) and reg == 0:
            form = D_TEST_RM_IMM
            size = 1 if op == 0xF6 else opsize
            isz = size
        elif op == 0xFE and reg < 2:
            form = D_INCDEC
            aop = reg
            size = 1
        elif op == 0xFF and (reg < 3 or reg == 4 or reg == 6):
            if reg < 2:
                form = D_INCDEC
            elif reg == 2:
                form = D_CALL_RM
            elif reg == 4:
                form = D_JMP_RM
            else:
                form = D_PUSH_RM
            aop = reg
            size = opsize
        elif 0x180 <= op <= 0x18F:
            form = D_JCC
            aop = op & 0xF
            isz = 4 if opsize == 4 else -2
        elif 0x190 <= op <= 0x19F:
            form = D_SETCC
            aop = op & 0xF
            size = 1
        elif 0x140 <= op <= 0x14F:
            form = D_CMOV
            aop = op & 0xF
            size = opsize
        elif op == 0x1B6 or op == 0x1B7 or op == 0x1BE or op == 0x1BF:
            form = D_MOVX
            size = 1 if (op & 1) == 0 else 2
            aop = 1 if op >= 0x1BE else 0
        else:
            return self.dc_reject(e, n, lo, hi)
        # ---- immediate
        if isz == 1:
            imm = p[n]
            n += 1
        elif isz == -1:
            imm = <uint32_t><int32_t><int8_t>p[n]
            n += 1
        elif isz == 2 or isz == -2:
            imm = p[n] | (<uint32_t>p[n + 1] << 8)
            if isz == -2:
                imm = <uint32_t><int32_t><int16_t>imm
            n += 2
        elif isz == 4:
            memcpy(&imm, p + n, 4)
            n += 4
        if form == D_ALU_RM_IMM:
            imm &= SIZE_MASK[size]
        if n > self.max_len:
            return self.dc_reject(e, n, lo, hi)             # too long: the generic #GP
        pfx = <uint32_t>npfx * self.t_prefix
        base_c = self.t_reg[k] if (mod == 3 or eac < 0) else <uint32_t>self.t_mem[k] + <uint32_t>eac
        # ---- register operands of ALU and TEST, any size: dst (in 'base') op= src (in
        # 'index') or imm, 'store' 0 for CMP and TEST, TEST as AND (aop 4); with 32-bit
        # ones these and INC/DEC and shifts by an immediate are specialised forms (same
        # clocks and flags).  dc_fuse takes the 8- and 16-bit ones from here too.
        e.store = 1
        e.base = base
        e.index = index
        if mod == 3:
            if form == D_ALU_RM_R or form == D_ALU_R_RM or form == D_TEST_RM_R:
                e.base, e.index = (rm, reg) if form != D_ALU_R_RM else (reg, rm)
                e.store = form != D_TEST_RM_R and aop != 7
                if form == D_TEST_RM_R:
                    aop = 4
                if size == 4:
                    form = D_ALU_RR
            elif form == D_ALU_RM_IMM or form == D_TEST_RM_IMM:
                e.base = rm
                e.store = form != D_TEST_RM_IMM and aop != 7
                if form == D_TEST_RM_IMM:
                    aop = 4
                if size == 4:
                    form = D_ALU_RI
            elif size == 4 and form == D_INCDEC:
                form = D_INCDEC_R
            elif size == 4 and form == D_SHIFT and aop >= 4 and (imm & self.shift_mask) != 0:
                imm &= self.shift_mask
                form = D_SHIFT_RI
                base_c += imm * self.t_per_count[k]     # shift() adds this per count
        e.cyc = <uint16_t>(pfx + base_c)
        e.cyc_taken = <uint16_t>(pfx + (self.t_taken[k] if self.t_taken[k] else base_c))
        e.form = form
        e.len = n
        e.tlen = n
        e.nops = 0
        e.wmem = 0
        e.tmask = 0
        e.tops = 0
        e.b0 = lo & DC_LO[n]
        e.b1 = hi & DC_HI[n]
        e.mode = self.dc_mode
        e.op = op
        e.k = k
        e.opsize = opsize
        e.adsize = adsize
        e.twr = dc_writes(form, mod, reg, rm, size, aop, e.base if form == D_ALU_RR or form == D_ALU_RI else rm,
                          e.store)
        e.size = size
        e.aop = aop
        e.mod = mod
        e.reg = reg
        e.rm = rm
        e.scale = scale
        e.seg = seg
        e.disp = disp
        e.imm = imm
        e.ilate = (isz if isz > 0 else -isz) if mod != 3 and (
            form == D_ALU_RM_IMM or form == D_TEST_RM_IMM or form == D_SHIFT or form == D_IMUL) else 0
        # Only a register-to-register form cannot fault, and so needs no saved state.
        e.faults = (mod != 3 and form != D_LEA) or not (form <= D_INCDEC or form == D_MOVX or form == D_SHIFT
                                    or form == D_SHIFT_CL or form == D_SETCC or form == D_CMOV
                                    or form == D_CBW or form == D_CWD or form == D_XCHG_AX
                                    or form == D_NOP or form == D_IMUL or form >= D_ALU_RR)
        return form

    @cython.final
    cdef void dc_fuse(self, DInsn* e, const uint8_t* p, uint64_t lo, uint64_t hi,
                      uint32_t avail) noexcept:
        """e, just decoded from p (avail bytes readable from p), is no branch: fuse to it
        the register-only instructions and conditional jumps that follow it (up to
        DC_OPS), so that dc_loop runs them (a loop's body and its compare-and-jump, the
        straight path through an if) from one lookup and one tag compare; a jump taken
        ends the run there.  The entry is then tagged by the bytes of all of them (16 at
        most).  Each instruction still takes its own clocks and count, and the clock is
        checked between them as between any two."""
        cdef DInsn j
        cdef DOp* o
        cdef uint64_t jlo, jhi
        cdef int n = e.len, form
        e.nops = 0
        # Forms whose memory operand is only read leave the code as it was.
        e.wmem = e.faults and form_may_write_memory(e.form, e.aop)
        while <uint32_t>n + 16 <= avail and e.nops < DC_OPS:
            memcpy(&jlo, p + n, 8)
            memcpy(&jhi, p + n + 8, 8)
            form = self.dc_decode(&j, p + n, jlo, jhi)
            if n + j.len > 16:
                break
            o = &e.ops[e.nops]
            o.twr = j.twr
            o.src = 8
            if form == D_JCC:
                o.imm = j.len + j.imm
                o.src = j.opsize == 4
                o.x = j.cyc_taken if j.cyc_taken else 1
                o.twr = TWR_JUMP
                o.dst = 0                   # (dc_fuse_targets)
            elif form == D_LEA and j.size == 4 and j.adsize == 4:
                o.dst = j.reg
                o.src = j.base
                o.x = j.index | (<uint16_t>j.scale << 8)
                j.imm = j.disp
            elif (j.mod != 3 and (D_ALU_RM_R <= form <= D_MOV_RM_IMM or form == D_INCDEC
                                  or form == D_MOVX)) \
                    or form == D_POP_R or (form == D_PUSH_RM and j.mod == 3 and j.rm != R_ESP):
                # One that can fault (DMem), in two slots.  (PUSH ESP is left to the first
                # path: the 8086 pushes the value after the decrement.)
                if e.nops + 2 > DC_OPS:
                    break
                self.dc_fuse_mem(<DMem*>o, &j, form)
                e.tops |= 2 << e.nops
                e.nops += 2
                n += j.len
                continue
            elif j.mod != 3:
                break
            elif D_ALU_RM_R <= form <= D_TEST_RM_IMM or form == D_ALU_RR or form == D_ALU_RI:
                # (dc_decode's dst, src and store; 8- and 16-bit ones through
                # get_reg/set_reg, in real-mode and 16-bit code or on byte registers)
                o.dst = j.base
                o.src = j.index
                o.x = j.size
                if j.size < 4:
                    form = D_ALU_RI_N if form == D_ALU_RM_IMM or form == D_TEST_RM_IMM else D_ALU_RR_N
            elif form == D_INCDEC_R or form == D_SHIFT_RI or form == D_INCDEC:
                o.dst = j.rm
                o.x = j.size
                if form == D_INCDEC:
                    form = D_INCDEC_R_N         # (a 32-bit one is D_INCDEC_R)
            elif form == D_MOV_RM_R or form == D_MOV_R_RM:
                o.dst, o.src = (j.rm, j.reg) if form == D_MOV_RM_R else (j.reg, j.rm)
                o.x = j.size
                form = D_MOV_RM_R if j.size == 4 else D_MOV_RR_N
            elif form == D_MOV_RM_IMM:
                o.dst = j.rm
                o.x = j.size
                form = D_MOV_RM_IMM if j.size == 4 else D_MOV_RI_N
            else:
                break
            if (o.twr & 0xFF) & ((o.twr & 0xFF) - 1):
                break                       # (dc_trace_run records one GPR at most)
            o.form = form
            o.aop = j.aop
            if form != D_JCC:
                o.imm = j.imm
            if j.cyc > 0xFF:
                break
            o.len = j.len
            o.cyc = j.cyc if j.cyc else 1
            o.op = j.op
            e.tops |= 2 << e.nops
            e.nops += 1
            n += j.len
        if n == e.len:
            return
        self.dc_fuse_targets(e)
        e.tlen = n
        e.b0 = lo & DC_LO[n]
        e.b1 = hi & DC_HI[n]

    @cython.final
    cdef void dc_fuse_targets(self, DInsn* e) noexcept:
        # A fused jump taken to an instruction fused in the same entry runs on from there
        # (the two paths of an if, or a loop, in one entry): its dst is the slot of the
        # target + 1, or DC_TO_FIRST for the entry's first instruction (run again without
        # a lookup).  Only with a 32-bit operand size, where the target lies at the
        # same offset into the bytes wherever the entry runs (no 64K wrap of IP).
        cdef int start[DC_OPS]          # the offset in the bytes of the instruction at a slot
        cdef int s = 0, k, off = e.len, target
        cdef DOp* o
        while s < e.nops:
            start[s] = off
            off += e.ops[s].len
            s += dc_slots(&e.ops[s])
        s = 0
        while s < e.nops:
            o = &e.ops[s]
            if o.form == D_JCC and o.src:
                target = start[s] + <int32_t>o.imm
                if target == 0:
                    o.dst = DC_TO_FIRST
                k = 0
                while k < e.nops:           # (the slots where an instruction starts)
                    if start[k] == target:
                        o.dst = k + 1
                        break
                    k += dc_slots(&e.ops[k])
            s += dc_slots(o)

    @cython.final
    cdef void dc_fuse_mem(self, DMem* m, DInsn* j, int form) noexcept:
        # The slots of a fused instruction that can fault, j as dc_decode left it.
        m.form = D_MEM
        m.mform = form
        m.imm = j.imm
        m.cyc = j.cyc
        m.k = j.k
        m.op = j.op
        m.aop = j.aop
        m.reg = j.reg
        m.rm = j.rm
        m.ilate = j.ilate
        m.twr = j.twr
        m.len = j.len
        m.wmem = form_may_write_memory(form, j.aop)
        m.disp = j.disp
        m.size = j.size
        m.opsize = j.opsize
        m.adsize = j.adsize
        # (dc_decode leaves base and index 8, none, for a form without ModR/M)
        m.base = j.base
        m.index = j.index
        m.scale = j.scale
        m.seg = j.seg

    @cython.final
    cdef inline uint32_t dc_get(self, DInsn* e, uint32_t ea, int size) noexcept:
        if e.mod == 3:
            return self.get_reg(e.rm, size)
        return self.rd_fast(e.seg, ea, size)

    @cython.final
    cdef inline void dc_put(self, DInsn* e, uint32_t ea, int size, uint32_t v) noexcept:
        if e.mod == 3:
            self.set_reg(e.rm, size, v)
        else:
            self.wr_fast(e.seg, ea, size, v)

    @cython.final
    cdef int dc_loop(self, int how) noexcept:
        """Run instructions from their decoded forms from EIP on, filling the cache as it
        goes, while they are of such a form (DC_RUN; DC_ONE: one instruction; DC_TRACE:
        with the trace recorder's entries, when it is the only debugger hook).  Returns
        DC_CHECK when the run loop must look at its pending flags and limits before going
        on (after the one instruction DC_ONE asks for; a device was touched; the clock reached the end of the slice or
        the next device event), else DC_GENERIC: the instruction at EIP needs the generic
        path, and nothing the run loop checks has changed since it last looked."""
        cdef uint32_t off, a, v, t, ea, cyc, lin = 0, lin0 = 0, tn = 0, twr = 0
        cdef uint64_t lo, hi
        cdef const uint8_t* p
        cdef DInsn* e
        cdef DOp* o
        cdef DOp* oend
        cdef DMem* m
        cdef int size, i, ts = 0
        cdef int known = 0              # (dc_trace_end: how its INSN was begun)
        cdef bint taken, again = False
        # One bound for the checks after each instruction: the end of the slice, the next
        # device event, at once for `one`; an MMIO access sets it to 0 (mmio_read).
        self.dc_stop = self.slice_end
        if self.clock.next_deadline < self.dc_stop:
            self.dc_stop = self.clock.next_deadline
        if how == DC_ONE:
            self.dc_stop = 0
        elif how & DC_DEBUG:
            if self.skip_lin != -1:
                return DC_GENERIC       # resuming past a breakpoint: dbg_exec does that one
        elif how & DC_TRACE:
            self.skip_lin = -1          # (as dbg_before: no breakpoint to resume past)
        while True:
            if again:
                # A fused jump taken back to this entry's first instruction: the same
                # bytes at the same place (no store since changed them), no lookup
                again = False
            else:
                # ---- look the bytes at EIP up
                off = self.eip - self.fw_eip
                if <uint64_t>off + 16 > self.fw_n:
                    # Another page (a jump there): the window opens on it when the TLB has
                    # it; else, or near the window's end, the generic fetch checks.
                    if not self.fw_reopen():
                        return DC_GENERIC
                    off = self.eip - self.fw_eip
                    if <uint64_t>off + 16 > self.fw_n:
                        return DC_GENERIC
                p = self.fw_ptr + off
                memcpy(&lo, p, 8)
                memcpy(&hi, p + 8, 8)
                i = (self.eip ^ (self.eip >> 12)) & (DC_SIZE - 1)
                e = &self.dcache[i]
                if dc_tag_differs(e, lo, hi) or e.mode != self.dc_mode:
                    a = self.dc_decode(e, p, lo, hi)
                    if a == D_NONE:
                        return DC_GENERIC
                    if not (D_JCC <= a <= D_JMP_RM):
                        self.dc_fuse(e, p, lo, hi, self.fw_n - off)
                elif e.form == D_NONE:
                    return DC_GENERIC
            # ---- run it: what exec_generic does for the same bytes, through the same
            # helpers (alu, push, shift, near_jump, rd/wr), with the same clocks
            size = e.size
            cyc = e.cyc
            ea = 0
            if unlikely(how & DC_DEBUG) and self.dc_bp_page():
                return DC_GENERIC       # a page with a breakpoint: dbg_exec checks it
            if unlikely(how & DC_TRACE):
                ts = 0
                tn = e.len
                twr = e.twr
                lin0 = lin = self.base[S_CS] + self.eip
                known = self.dc_trace_begin(e, ts, lin0, lin, tn)
            if e.faults:
                self.save_state()       # what a fault restores (registers only: no need)
                self.dc_ilate = e.ilate
            self.eip += e.len
            # What code outside the handlers reads of the instruction (its length,
            # opcode and timing index) comes from the entry when asked for (dc_sync).
            self.dc_cur = e
            self.cyc_extra = 0
            if e.mod != 3:
                ea = self.dc_ea(e.disp, e.base, e.index, e.scale, e.adsize)
            if e.form == D_ALU_RM_R:
                v = self.alu(e.aop, self.dc_get(e, ea, size), self.get_reg(e.reg, size), size)
                if e.aop != 7:
                    self.dc_put(e, ea, size, v)
            elif e.form == D_ALU_R_RM:
                v = self.alu(e.aop, self.get_reg(e.reg, size), self.dc_get(e, ea, size), size)
                if e.aop != 7:
                    self.set_reg(e.reg, size, v)
            elif e.form == D_ALU_RM_IMM:
                v = self.alu(e.aop, self.dc_get(e, ea, size), e.imm, size)
                if e.aop != 7:
                    self.dc_ilate = 0       # (read: a fault now has the immediate)
                    self.dc_put(e, ea, size, v)
            elif e.form == D_TEST_RM_R:
                self.alu(4, self.dc_get(e, ea, size), self.get_reg(e.reg, size), size)
            elif e.form == D_TEST_RM_IMM:
                self.alu(4, self.dc_get(e, ea, size), e.imm, size)
            elif e.form == D_MOV_RM_R:
                self.dc_put(e, ea, size, self.get_reg(e.reg, size))
            elif e.form == D_MOV_R_RM:
                self.set_reg(e.reg, size, self.dc_get(e, ea, size))
            elif e.form == D_MOV_RM_IMM:
                self.dc_put(e, ea, size, e.imm)
            elif e.form == D_LEA:
                self.set_reg(e.reg, size, ea)
            elif e.form == D_INCDEC:
                self.dc_put(e, ea, size, self.inc_dec(self.dc_get(e, ea, size), size, e.aop == 1))
            elif e.form == D_PUSH_RM:
                if e.mod == 3 and e.rm == R_ESP and self.m_push_sp_new:
                    v = (self.get_reg(R_ESP, size) - size) & SIZE_MASK[size]
                else:
                    v = self.dc_get(e, ea, size)
                self.push(v, size)
            elif e.form == D_POP_R:
                v = self.pop(size)
                self.set_reg(e.rm, size, v)
            elif e.form == D_PUSH_IMM:
                self.push(e.imm, e.opsize)
            elif e.form == D_JCC:
                if self.cond(e.aop):
                    t = self.eip + e.imm
                    self.near_jump(t if e.opsize == 4 else t & 0xFFFF)
                    cyc = e.cyc_taken
            elif e.form == D_JMP:
                t = self.eip + e.imm
                self.near_jump(t if e.opsize == 4 else t & 0xFFFF)
                cyc = e.cyc_taken
            elif e.form == D_CALL:
                t = self.eip + e.imm
                self.call_near(t if e.opsize == 4 else t & 0xFFFF, e.opsize)
                cyc = e.cyc_taken
            elif e.form == D_RET:
                self.ret_near(e.opsize, e.imm)
            elif e.form == D_CALL_RM:
                v = self.dc_get(e, ea, size)
                self.call_near(v if size == 4 else v & 0xFFFF, size)
                cyc = e.cyc_taken
            elif e.form == D_JMP_RM:
                v = self.dc_get(e, ea, size)
                self.near_jump(v if size == 4 else v & 0xFFFF)
                cyc = e.cyc_taken
            elif e.form == D_MOVX:
                v = self.dc_get(e, ea, size)
                if e.aop:
                    v = <uint32_t><int32_t><int8_t>v if size == 1 else <uint32_t><int32_t><int16_t>v
                self.set_reg(e.reg, e.opsize, v)
            elif e.form == D_SHIFT or e.form == D_SHIFT_CL:
                self.tk = e.k                   # the clocks per count (shift)
                a = self.dc_get(e, ea, size)
                t = e.imm if e.form == D_SHIFT else self.r[R_ECX] & 0xFF
                self.dc_ilate = 0
                self.dc_put(e, ea, size, self.shift(e.aop, a, t, size))
            elif e.form == D_SETCC:
                self.dc_put(e, ea, 1, 1 if self.cond(e.aop) else 0)
            elif e.form == D_CMOV:
                v = self.dc_get(e, ea, size)
                if self.cond(e.aop):
                    self.set_reg(e.reg, size, v)
            elif e.form == D_CBW:
                self.cbw_cwde(size)
            elif e.form == D_CWD:
                self.cwd_cdq(size)
            elif e.form == D_LEAVE:
                self.leave(e.opsize)
            elif e.form == D_IMUL:
                if e.aop:
                    v = self.imul2(self.dc_get(e, ea, size), e.imm, size)
                else:
                    v = self.imul2(self.get_reg(e.reg, size), self.dc_get(e, ea, size), size)
                self.set_reg(e.reg, size, v)
            elif e.form == D_XCHG_AX:
                self.xchg_acc(e.rm, size)
            elif e.form == D_ALU_RR:                        # (dc_reg_form: dc_reg_first)
                self.dc_first_alu(e, self.r[e.index])
            elif e.form == D_ALU_RI:
                self.dc_first_alu(e, e.imm)
            elif e.form == D_INCDEC_R:
                self.dc_first_incdec(e)
            elif e.form == D_SHIFT_RI:
                self.dc_first_shift(e)
            # D_NOP: nothing
            cyc += self.cyc_extra
            if cyc == 0:
                cyc = 1
            self.clock.now += cyc
            self.icount += 1
            # The instructions fused after the first (dc_fuse), each as its own entry
            # would run it, with the clock checked between them; a jump taken ends the
            # run.  Not for one instruction.  Under the debugger each is checked for a
            # breakpoint on its page, and with watchpoints they run only after a first
            # that touched no memory and up to one that would touch it (a watchpoint
            # stops right after the access).  Not when an instruction before may have
            # written the bytes fused after it (a store, or a page walk's accessed and
            # dirty bits, which even a load can write).  Recorded, each is an
            # instruction of its own.
            if e.nops != 0 and not (how & DC_ONE) and not (unlikely(how & DC_DEBUG) and e.faults and self.w_n) \
                    and not ((e.wmem | self.dc_wrote) and self.dc_rewritten(e, p)):
                o = &e.ops[0]
                oend = &e.ops[e.nops]
                while o < oend:
                    if unlikely(how & DC_TRACE):
                        self.dc_trace_end(e, known, twr, ts, lin0, lin, tn)
                        if ts == 0:
                            ts = 1      # (its own below, unless run fast: no stamp needed)
                            # After a first the reader knew, with no event since, the
                            # fused ones whose stamps are current are recorded as they
                            # run (room made here for a run of them).
                            if known and self.t_synced and self.tlen + 16 * DC_OPS <= self.tcap \
                                    and e.tstamp == ((<uint64_t>lin0 << 32) | self.t_epoch):
                                i = self.dc_trace_run(e, &o, p)
                                known = TK_DONE
                                if i == RUN_SLOW:
                                    continue            # o on: the general path records it
                                if i == RUN_CHECK:
                                    return DC_CHECK
                                if i == RUN_GENERIC:
                                    return DC_GENERIC
                                again = i == RUN_AGAIN
                                break
                    if self.clock.now >= self.dc_stop:
                        return DC_CHECK
                    if unlikely(how & DC_DEBUG) and self.dc_bp_page():
                        return DC_CHECK             # its page has a breakpoint
                    if o.form == D_MEM:
                        m = <DMem*>o
                        if unlikely(how & DC_DEBUG) and self.w_n:
                            return DC_CHECK         # the checked path runs it
                        if unlikely(how & DC_TRACE):
                            ts = 1 + (o - &e.ops[0])
                            tn = m.len
                            twr = m.twr
                            lin = self.base[S_CS] + self.eip
                            known = self.dc_trace_begin(e, ts, lin0, lin, tn)
                        self.dc_run_mem(m)
                        o += 2
                        if (m.wmem | self.dc_wrote) and self.dc_rewritten(e, p):
                            break                   # it may have written the bytes after it
                        continue
                    taken = False
                    if o.form == D_JCC:
                        # A target past the CS limit is left to the generic path, whose
                        # #GP names the jump.
                        taken = self.cond(o.aop)
                        t = self.eip + o.imm
                        if taken:
                            if not o.src:
                                t &= 0xFFFF
                            if t > self.seg_hi[S_CS] and not self.m_word_wrap:
                                return DC_GENERIC
                    if unlikely(how & DC_TRACE):
                        tn = o.len
                        twr = o.twr
                        ts = 1 + (o - &e.ops[0])
                        lin = self.base[S_CS] + self.eip
                        known = self.dc_trace_begin(e, ts, lin0, lin, tn)
                        # What the recorder reads of it (dc_sync has no entry for it)
                        self.dc_cur = NULL
                        self.ilen = tn
                        self.op_byte = o.op
                    self.icount += 1
                    if taken:
                        self.eip = t
                        self.clock.now += o.x
                        if o.dst == 0:
                            break
                        if o.dst == DC_TO_FIRST:
                            again = True        # (the clock checked first, as after any)
                            break
                        # To an instruction fused in this entry: on from its slot
                        o = &e.ops[o.dst - 1]
                        continue
                    self.eip += o.len
                    self.clock.now += o.cyc
                    self.dc_op(o)
                    # (D_JCC not taken: nothing more)
                    o += 1
            if unlikely(how & DC_TRACE):
                self.dc_trace_end(e, known, twr, ts, lin0, lin, tn)
            if unlikely(how & DC_DEBUG) and self.dbg_pending:
                return DC_CHECK         # a watchpoint hit: the run loop stops after it
            if self.clock.now >= self.dc_stop:
                return DC_CHECK

    @cython.final
    cdef inline void dc_op(self, DOp* o) noexcept:
        # A fused register-only instruction's operation (D_JCC: none), for dc_loop and
        # dc_trace_run; EIP and the clock moved on by the caller.
        cdef uint32_t v
        if o.form == D_ALU_RR:
            v = self.alu_c(o.aop, self.r[o.dst], self.r[o.src], 4)
            if o.twr & 0xFF:
                self.r[o.dst] = v
        elif o.form == D_ALU_RI:
            v = self.alu_c(o.aop, self.r[o.dst], o.imm, 4)
            if o.twr & 0xFF:
                self.r[o.dst] = v
        elif o.form == D_INCDEC_R:
            self.r[o.dst] = self.inc_dec_c(self.r[o.dst], 4, o.aop == 1)
        elif o.form == D_SHIFT_RI:
            self.r[o.dst] = self.shift32_imm(o.aop, self.r[o.dst], o.imm)
        elif o.form == D_MOV_RM_R:
            self.r[o.dst] = self.r[o.src]
        elif o.form == D_MOV_RM_IMM:
            self.r[o.dst] = o.imm
        elif o.form == D_LEA:
            v = o.imm
            if o.src < 8:
                v += self.r[o.src]
            if (o.x & 0xFF) < 8:
                v += self.r[o.x & 0xFF] << (o.x >> 8)
            self.r[o.dst] = v
        elif o.form == D_ALU_RR_N:
            v = self.alu_c(o.aop, self.get_reg(o.dst, o.x), self.get_reg(o.src, o.x), o.x)
            if o.twr & 0xFF:
                self.set_reg(o.dst, o.x, v)
        elif o.form == D_ALU_RI_N:
            v = self.alu_c(o.aop, self.get_reg(o.dst, o.x), o.imm, o.x)
            if o.twr & 0xFF:
                self.set_reg(o.dst, o.x, v)
        elif o.form == D_INCDEC_R_N:
            self.set_reg(o.dst, o.x, self.inc_dec_c(self.get_reg(o.dst, o.x), o.x, o.aop == 1))
        elif o.form == D_MOV_RR_N:
            self.set_reg(o.dst, o.x, self.get_reg(o.src, o.x))
        elif o.form == D_MOV_RI_N:
            self.set_reg(o.dst, o.x, o.imm)

    @cython.final
    cdef inline void dc_reg_first(self, DInsn* e) noexcept:
        # The operation of a first instruction of the 32-bit register-only forms
        # (dc_reg_form), for dc_trace_run; dc_loop's switch has a case for each
        if e.form == D_ALU_RR:
            self.dc_first_alu(e, self.r[e.index])
        elif e.form == D_ALU_RI:
            self.dc_first_alu(e, e.imm)
        elif e.form == D_INCDEC_R:
            self.dc_first_incdec(e)
        elif e.form == D_SHIFT_RI:
            self.dc_first_shift(e)

    @cython.final
    cdef inline void dc_first_alu(self, DInsn* e, uint32_t b) noexcept:
        # D_ALU_RR (b: the source register) and D_ALU_RI (b: the immediate)
        cdef uint32_t v = self.alu_c(e.aop, self.r[e.base], b, 4)
        if e.store:
            self.r[e.base] = v

    @cython.final
    cdef inline void dc_first_incdec(self, DInsn* e) noexcept:
        self.r[e.rm] = self.inc_dec_c(self.r[e.rm], 4, e.aop == 1)

    @cython.final
    cdef inline void dc_first_shift(self, DInsn* e) noexcept:
        self.r[e.rm] = self.shift32_imm(e.aop, self.r[e.rm], e.imm)

    @cython.final
    cdef inline uint8_t* trace_put_writes(self, uint8_t* q, uint32_t twr) noexcept:
        # dc_trace_run's REG entries at q of a register-only instruction: one GPR at
        # most (dc_fuse, dc_reg_form), EFLAGS if its form can write them.  Past them.
        cdef uint32_t v
        cdef int r
        if twr & 0xFF:
            r = __builtin_ctz(twr)
            v = self.r[r]
            if v != self.t_regs[r]:
                q += trace_reg_entry(q, r, v, self.t_regs[r])
                self.t_regs[r] = v
        if twr & TWR_FLAGS:
            v = self.get_flags()
            if v != self.t_regs[8]:
                q += trace_reg_entry(q, 8, v, self.t_regs[8])
                self.t_regs[8] = v
        return q

    @cython.final
    cdef int dc_trace_run(self, DInsn* e, DOp** po, const uint8_t* p) noexcept:
        # dc_loop's fused instructions from *po on (e's bytes at p; *po its first op),
        # recorded as they run: after the entry's first instruction, which the reader
        # knew, with no event since, when the stamps of all of the entry's instructions
        # are current (e.tstamp is, the caller checked; their bits of tmask: then also
        # those a jump inside the entry goes to).  Between register-only instructions
        # and jumps nothing can come, so none of the general path's checks is needed,
        # only the cycle delta's size; the state they change is kept in locals and
        # stored at the end (the entries' stores may alias any field).  One with a
        # memory operand (DMem) runs as dc_loop's general path runs it, the locals
        # stored before (it may fault, unwinding past them) and loaded again after.  The
        # caller made room for a run through the entry's register-only ops (a DMem
        # checks its own); a jump back within it makes it again.  Returns what it
        # stopped at (RUN_*), with *po at the op it did not run.
        cdef DOp* o = po[0]
        cdef DOp* oend = &e.ops[e.nops]
        cdef DMem* m
        cdef bint synced
        cdef uint8_t* q = self.tbuf + self.tlen
        cdef uint8_t* qlim = self.tbuf + self.tcap - 16 * DC_OPS
        cdef uint64_t now = self.clock.now, tc = self.t_cycle, stop = self.dc_stop, delta
        cdef uint32_t eip = self.eip, ne = self.t_next_eip, n = 0, t = 0
        # (tmask's bits of the first and of all the ops; the stamps do not change during
        # the run, so jumps inside the entry need no check of their own)
        cdef uint32_t need = e.tops | 1
        cdef int st = RUN_END
        cdef bint taken
        if e.tmask & need != need:
            return RUN_SLOW
        while o < oend:
            if now >= stop:
                st = RUN_CHECK
                break
            delta = now - tc
            if delta >= T_INSN_DELTA32:
                st = RUN_SLOW
                break
            if o.form == D_MEM:
                # (watchpoints: the checked path runs it; room for what it writes, as
                # trace_insn_begin_known makes)
                if self.w_n or q + 128 > self.tbuf + self.tcap:
                    st = RUN_SLOW
                    break
                m = <DMem*>o
                self.tlen = q - self.tbuf
                self.t_cycle = tc
                self.t_count += n
                self.icount += n
                n = 0
                self.t_next_eip = ne
                self.eip = eip
                self.clock.now = now
                self.trace_insn_put(delta, m.len)
                self.dc_run_mem(m)
                synced = self.t_synced      # (no event delivered inside it)
                self.trace_known_done(m.twr)
                o += 2
                q = self.tbuf + self.tlen
                tc = self.t_cycle
                ne = self.t_next_eip
                eip = self.eip
                now = self.clock.now
                stop = self.dc_stop         # (an MMIO access sets it to 0)
                if not synced:
                    st = RUN_SLOW           # an event inside it: the general path goes on
                    break
                if (m.wmem | self.dc_wrote) and self.dc_rewritten(e, p):
                    break                   # it may have written the bytes after it
                continue
            taken = False
            if o.form == D_JCC:
                taken = self.cond(o.aop)
                if taken:
                    t = eip + o.imm
                    if not o.src:
                        t &= 0xFFFF
                    if t > self.seg_hi[S_CS] and not self.m_word_wrap:
                        st = RUN_GENERIC
                        break
            q = trace_insn_tag(q, delta, eip - ne)
            tc = now
            n += 1
            ne = eip + o.len
            if taken:
                eip = t
                now += o.x
                if o.dst == 0:
                    break
                if o.dst == DC_TO_FIRST:
                    # Back to the first: run here too when it is register-only (a loop
                    # of one entry), recorded as the fused ones are; else by dc_loop,
                    # as any first.
                    st = RUN_AGAIN
                    if not dc_reg_form(e.form) or q > qlim or now >= stop:
                        break
                    delta = now - tc
                    if delta >= T_INSN_DELTA32:
                        break
                    q = trace_insn_tag(q, delta, eip - ne)
                    tc = now
                    n += 1
                    ne = eip + e.len
                    eip = ne
                    now += e.cyc if e.cyc else 1
                    self.dc_reg_first(e)
                    q = self.trace_put_writes(q, e.twr)
                    st = RUN_END
                    o = &e.ops[0]
                    continue
                o = &e.ops[o.dst - 1]
                if q > qlim:
                    st = RUN_SLOW
                    break
                continue
            eip += o.len
            now += o.cyc
            self.dc_op(o)
            q = self.trace_put_writes(q, o.twr)
            o += 1
        self.tlen = q - self.tbuf
        self.t_cycle = tc
        self.t_count += n
        self.icount += n
        self.t_next_eip = ne
        self.eip = eip
        self.clock.now = now
        po[0] = o
        return st

    @cython.final
    cdef inline uint32_t dc_ea(self, uint32_t disp, int base, int index, int scale,
                               int adsize) noexcept:
        # A decoded memory operand's offset (base, index 8: none)
        cdef uint32_t ea = disp
        if base < 8:
            ea += self.r[base]
        if index < 8:
            ea += self.r[index] << scale
        if adsize != 4:
            ea &= 0xFFFF
        return ea

    @cython.final
    cdef void dc_run_mem(self, DMem* m) noexcept:
        # A fused instruction that can fault, as dc_loop runs a first one of its form
        # (the same helpers, clocks and order: state saved, EIP past it, the access, then
        # its clocks and count), with what a fault and the recorder read of it set here
        # rather than through dc_cur (dc_sync).
        cdef uint32_t ea, v, cyc
        cdef int size = m.size, f = m.mform
        self.save_state()
        self.dc_cur = NULL
        self.ilen = m.len
        self.op_byte = m.op
        self.tk = m.k
        self.opsize = m.opsize
        self.reg = m.reg
        self.dc_ilate = m.ilate
        self.eip += m.len
        self.cyc_extra = 0
        ea = self.dc_ea(m.disp, m.base, m.index, m.scale, m.adsize)
        if f == D_MOV_R_RM:
            self.set_reg(m.reg, size, self.rd_fast(m.seg, ea, size))
        elif f == D_MOV_RM_R:
            self.wr_fast(m.seg, ea, size, self.get_reg(m.reg, size))
        elif f == D_MOV_RM_IMM:
            self.wr_fast(m.seg, ea, size, m.imm)
        elif f == D_ALU_R_RM:
            v = self.alu(m.aop, self.get_reg(m.reg, size), self.rd_fast(m.seg, ea, size), size)
            if m.aop != 7:
                self.set_reg(m.reg, size, v)
        elif f == D_ALU_RM_R:
            v = self.alu(m.aop, self.rd_fast(m.seg, ea, size), self.get_reg(m.reg, size), size)
            if m.aop != 7:
                self.wr_fast(m.seg, ea, size, v)
        elif f == D_ALU_RM_IMM:
            v = self.alu(m.aop, self.rd_fast(m.seg, ea, size), m.imm, size)
            if m.aop != 7:
                self.dc_ilate = 0
                self.wr_fast(m.seg, ea, size, v)
        elif f == D_TEST_RM_R:
            self.alu(4, self.rd_fast(m.seg, ea, size), self.get_reg(m.reg, size), size)
        elif f == D_TEST_RM_IMM:
            self.alu(4, self.rd_fast(m.seg, ea, size), m.imm, size)
        elif f == D_MOVX:
            v = self.rd_fast(m.seg, ea, size)
            if m.aop:
                v = <uint32_t><int32_t><int8_t>v if size == 1 else <uint32_t><int32_t><int16_t>v
            self.set_reg(m.reg, m.opsize, v)
        elif f == D_INCDEC:
            v = self.inc_dec(self.rd_fast(m.seg, ea, size), size, m.aop == 1)
            self.wr_fast(m.seg, ea, size, v)
        elif f == D_PUSH_RM:
            self.push(self.get_reg(m.rm, size), size)
        elif f == D_POP_R:
            v = self.pop(size)
            self.set_reg(m.rm, size, v)
        cyc = m.cyc + self.cyc_extra
        if cyc == 0:
            cyc = 1
        self.clock.now += cyc
        self.icount += 1

    @cython.final
    cdef inline bint dc_bp_page(self) noexcept:
        # The instruction at EIP is on a page with an execution breakpoint, by its linear
        # address or by its offset (the checked path, dbg_exec, looks at which).
        cdef uint32_t lin = self.base[S_CS] + self.eip
        return self.bp_pages != NULL and (
            (self.bp_pages[lin >> 12] & BP_LIN) | (self.bp_pages[self.eip >> 12] & BP_OFF)) != 0

    @cython.final
    cdef inline bint dc_rewritten(self, DInsn* e, const uint8_t* p) noexcept:
        # After e's first instruction wrote memory: whether the bytes of those fused
        # after it (at p, in the fetch window) may no longer be the ones decoded.  A
        # change of mapping drops the window; then they are not run from e either.
        # (dc_wrote may also have been set before this instruction: a check more.)
        cdef uint64_t lo, hi
        self.dc_wrote = False
        if self.fw_n == 0:
            return True
        memcpy(&lo, p, 8)
        memcpy(&hi, p + 8, 8)
        return dc_tag_differs(e, lo, hi)

    @cython.final
    cdef inline bint dc_trace_begin(self, DInsn* e, int k, uint32_t lin0, uint32_t lin,
                                    uint32_t n) noexcept:
        # The INSN entry of the n-byte instruction at EIP (lin), instruction k of e (its
        # first at lin0): without looking its bytes up when its stamp is current
        # (trace_stamp).  Whether it was.
        if e.tstamp == ((<uint64_t>lin0 << 32) | self.t_epoch) and (e.tmask >> k) & 1 \
                and self.trace_insn_begin_known(n):
            return True
        self.trace_insn_begin(lin)
        return False

    @cython.final
    cdef inline void dc_trace_end(self, DInsn* e, int known, uint32_t twr, int k,
                                  uint32_t lin0, uint32_t lin, uint32_t n) noexcept:
        # The end of the instruction dc_trace_begin (known 0 or 1) began (twr: what it
        # can write, dc_writes; TWR_JUMP for a fused jump, which writes neither GPRs
        # nor EFLAGS).  TK_DONE: dc_trace_run recorded all it ran.
        if known == TK_DONE:
            return
        if not known:
            self.dc_trace_end_looked_up(e, twr, k, lin0, lin, n)
        elif twr != TWR_JUMP:
            self.trace_known_done(twr)
        else:
            self.t_insn_pos = -1        # a jump: no register, no flag, no event

    @cython.final
    cdef void dc_trace_end_looked_up(self, DInsn* e, uint32_t twr, int k, uint32_t lin0,
                                     uint32_t lin, uint32_t n) noexcept:
        # dc_trace_end for an instruction whose bytes were looked up: the general end,
        # and a stamp for it (trace_stamp).
        self.dc_sync()
        if twr == TWR_JUMP:
            self.trace_insn_done()          # (op_byte: a Jcc)
        else:
            self.trace_insn_done_dc(twr)
        self.trace_stamp(e, k, lin0, lin, n)

    # ================================================================ the instruction
    @cython.final
    cdef inline void exec_one(self) noexcept:
        # RF (an instruction breakpoint to resume past) and TF (a trap after the
        # instruction) are handled by the generic path only.
        if self.dc_ok and not (self.eflags & (F_TF | F_RF)) and self.dc_loop(DC_ONE) == DC_CHECK:
            return
        self.exec_generic()

    @cython.final
    cdef void exec_generic(self) noexcept:
        cdef uint32_t op, b
        cdef int k
        cdef uint32_t cyc
        cdef bint tf = (self.eflags & F_TF) != 0
        cdef bint resumed = False           # the rest of a REP the debugger split
        self.dc_cur = NULL
        self.dc_ilate = 0
        self.save_state()                   # also sets insn_eip
        # (a fault before the opcode is decoded, on the fetch of a prefix, the opcode or
        # ModR/M, has no form to charge: not the last instruction's, which would make
        # the charge depend on which path ran that one)
        self.tk = TK_NONE
        self.ss_shadow = False
        if self.dr_exec_active:
            self.check_exec_breakpoint()
        self.dr_hits = 0
        self.ilen = 0
        self.opsize = 4 if self.code32 else 2
        self.adsize = self.opsize
        self.seg_ovr = -1
        self.rep = 0
        self.lock = False
        self.cyc_extra = 0
        self.cyc_override = 0
        self.n_prefix_rep = 0
        self.taken = False
        self.rep_done = 0
        self.ea_clocks = 0
        self.mod = 3
        self.reg = 0
        cyc = 0
        # ---- prefixes
        while True:
            op = self.fetch8()
            if not MAYBE_PREFIX[op]:
                break
            if op == 0x26 or op == 0x2E or op == 0x36 or op == 0x3E:
                self.seg_ovr = (op >> 3) & 3
            elif op == 0xF3 or op == 0xF2:
                self.rep = op
                self.n_prefix_rep += 1
            elif op == 0xF0 or (op == 0xF1 and self.isa == ISA_8086):
                self.lock = True
            elif self.isa >= ISA_386 and (op == 0x64 or op == 0x65):
                self.seg_ovr = S_FS + (op - 0x64)
            elif self.isa >= ISA_386 and op == 0x66:
                self.opsize = 2 if self.code32 else 4
            elif self.isa >= ISA_386 and op == 0x67:
                self.adsize = 2 if self.code32 else 4
            else:
                break
            cyc += self.t_prefix
        # ---- opcode
        if self.isa == ISA_8086:
            op = ALIAS_8086[op]
        elif op == 0x0F:
            if self.isa == ISA_186:
                self.fault(EXC_UD, -1)
            op = 0x100 | self.fetch8()
        if OP_MODRM[op] and not (op == 0x0F):
            self.decode_modrm()
        k = (op << 3) | (self.reg if OP_GROUP[op] else 0)
        self.tk = k
        if OP_ISA[k] > self.isa:
            if self.m_has_ud:
                self.fault(EXC_UD, -1)
            # The 8086 has no invalid-opcode trap: undefined group members run as
            # their neighbours (handled by the group code itself).
        if self.lock and self.m_lock_ud and (not OP_LOCK[k] or self.mod == 3):
            self.fault(EXC_UD, -1)
        self.op_byte = op
        if op < 0x100:
            self.exec_onebyte(op)
        else:
            self.exec_twobyte(op & 0xFF)
        # ---- timing: the model's documented clocks for this opcode and form
        if self.rep_done or (self.rep and self.is_string(op)):
            if self.rep_resume_lin != -1:
                resumed = self.rep_done and self.rep_resume_lin == <int64_t>(
                    (self.base[S_CS] + self.insn_eip) & 0xFFFFFFFFu)
                self.rep_resume_lin = -1
            if self.rep_split_lin != -1:
                # Split just now: its resumption is the one not charged again.
                self.rep_resume_lin = self.rep_split_lin
                self.rep_split_lin = -1
            if resumed:
                # The rest of a REP the debugger or a stop request split (string_op): its
                # prefixes and start-up were charged before the split and its iterations
                # as they ran, so a run stopped there takes as many cycles as one that was
                # not (reverse execution re-runs history with other points armed).
                cyc = 0
            else:
                # rep_base already includes the REP prefix byte; the iterations were
                # charged as they ran (string_op).
                cyc += self.t_rep_base[k] - self.t_prefix
        elif self.cyc_override:
            cyc += self.cyc_override
        elif self.taken and self.t_taken[k]:
            cyc += self.t_taken[k]
        elif self.mod != 3:
            cyc += self.t_mem[k] + self.ea_clocks
        else:
            cyc += self.t_reg[k]
        cyc += self.cyc_extra
        if cyc == 0 and not resumed:
            cyc = 1         # no instruction is free; keeps every run loop advancing
        self.clock.now += cyc
        # A REP iteration counts as an instruction, as Bochs and QEMU count them.
        self.icount += self.rep_done if self.rep_done > 1 else 1
        # RF suppresses instruction breakpoints for one instruction only.
        self.eflags &= ~<uint32_t>F_RF
        if (tf or self.dr_hits) and not self.ss_shadow:
            # Single-step and data breakpoints are traps: after the instruction,
            # reported in DR6 (BS, B0-B3).
            if self.isa >= ISA_386:
                self.dr[6] = (self.dr[6] & ~<uint32_t>0x400F) | self.dr_hits | (0x4000 if tf else 0)
            self.delivering_vec = EXC_DB
            self.deliver_ext = True
            self.note_int(EXC_DB, 0, -1)
            self.interrupt(EXC_DB, self.eip)
            self.delivering_vec = -1
            self.deliver_ext = False

    @cython.final
    cdef inline bint is_string(self, uint32_t op) noexcept:
        return (0xA4 <= op <= 0xA7) or (0xAA <= op <= 0xAF) or (0x6C <= op <= 0x6F and self.isa >= ISA_186)

    # ---------------------------------------------------------------- one-byte opcodes
    @cython.final
    cdef void exec_onebyte(self, uint32_t op) noexcept:
        cdef int size, s, grp
        cdef uint32_t a, b, v, t, off
        cdef int32_t sv
        if op < 0x40 and (op & 7) < 6:
            # ALU block: op>>3 selects ADD OR ADC SBB AND SUB XOR CMP; op&7 the form.
            grp = op >> 3
            size = 1 if (op & 1) == 0 else self.opsize
            if (op & 7) < 2:
                a = self.get_rm(size)
                v = self.alu(grp, a, self.get_reg(self.reg, size), size)
                if grp != 7:
                    self.set_rm(size, v)
            elif (op & 7) < 4:
                v = self.alu(grp, self.get_reg(self.reg, size), self.get_rm(size), size)
                if grp != 7:
                    self.set_reg(self.reg, size, v)
            else:
                b = self.fetch_imm(size)
                v = self.alu(grp, self.get_reg(R_EAX, size), b, size)
                if grp != 7:
                    self.set_reg(R_EAX, size, v)
            return
        if op in (0x06, 0x0E, 0x16, 0x1E):
            self.push_sreg(op >> 3)
        elif op in (0x07, 0x17, 0x1F, 0x0F):
            # 0F on the 8086/8088 is POP CS (the later two-byte escape).
            self.pop_sreg(op >> 3)
            if op == 0x17:
                # Interrupts and debug traps wait until the next instruction (which
                # loads ESP) has run (SDM vol. 3, 6.8.3).
                self.inhibit_irq = True
                self.ss_shadow = True
        elif op == 0x27 or op == 0x2F:
            self.daa_das(op == 0x2F)
        elif op == 0x37 or op == 0x3F:
            self.aaa_aas(op == 0x3F)
        elif op in (0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x4B, 0x4C, 0x4D, 0x4E, 0x4F):
            s = op & 7
            self.set_reg(s, self.opsize, self.inc_dec(self.get_reg(s, self.opsize), self.opsize, op >= 0x48))
        elif op in (0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57):
            s = op & 7
            if s == R_ESP and self.m_push_sp_new:
                self.push((self.get_reg(R_ESP, self.opsize) - self.opsize), self.opsize)
            else:
                self.push(self.get_reg(s, self.opsize), self.opsize)
        elif op in (0x58, 0x59, 0x5A, 0x5B, 0x5C, 0x5D, 0x5E, 0x5F):
            v = self.pop(self.opsize)
            self.set_reg(op & 7, self.opsize, v)
        elif op == 0x60:
            t = self.get_reg(R_ESP, self.opsize)
            for s in range(8):
                self.push(t if s == R_ESP else self.get_reg(s, self.opsize), self.opsize)
        elif op == 0x61:
            self.popa()
        elif op == 0x62:
            self.bound()
        elif op == 0x63:
            if not self.pe:
                self.fault(EXC_UD, -1)      # ARPL is not recognised in real or v86 mode
            a = self.get_rm(2)
            b = self.get_reg(self.reg, 2)
            if (a & 3) < (b & 3):
                self.set_rm(2, (a & 0xFFFC) | (b & 3))
                self.eflags |= F_ZF
            else:
                self.eflags &= ~<uint32_t>F_ZF
        elif op == 0x68 or op == 0x6A:
            v = self.fetch_imm(self.opsize) if op == 0x68 else <uint32_t><int32_t><int8_t>self.fetch8()
            self.push(v, self.opsize)
        elif op == 0x69 or op == 0x6B:
            a = self.get_rm(self.opsize)
            b = self.fetch_imm(self.opsize) if op == 0x69 else <uint32_t><int32_t><int8_t>self.fetch8()
            self.set_reg(self.reg, self.opsize, self.imul2(a, b, self.opsize))
        elif op in (0x6C, 0x6D, 0x6E, 0x6F):
            self.string_op(op)
        elif op in (0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x7B, 0x7C, 0x7D, 0x7E, 0x7F):
            sv = <int8_t>self.fetch8()
            if self.cond(op):
                self.jump_rel(sv)
        elif op in (0x80, 0x81, 0x82, 0x83):
            size = 1 if (op & 1) == 0 else self.opsize
            a = self.get_rm(size)
            if op == 0x81:
                b = self.fetch_imm(size)
            elif op == 0x83:
                b = <uint32_t><int32_t><int8_t>self.fetch8() & SIZE_MASK[size]
            else:
                b = self.fetch8()
            v = self.alu(self.reg, a, b, size)
            if self.reg != 7:
                self.set_rm(size, v)
        elif op == 0x84 or op == 0x85:
            size = 1 if op == 0x84 else self.opsize
            self.alu(4, self.get_rm(size), self.get_reg(self.reg, size), size)
        elif op == 0x86 or op == 0x87:
            size = 1 if op == 0x86 else self.opsize
            a = self.get_rm(size)
            b = self.get_reg(self.reg, size)
            self.set_rm(size, b)
            self.set_reg(self.reg, size, a)
            if self.catch_magic and op == 0x87 and self.mod == 3 and self.reg == 3 and self.rm == 3:
                # Bochs's magic breakpoint: xchg bx,bx (87 DB) stops after it runs.
                self.add_hit(HIT_MAGIC, self.sel[S_CS], self.insn_eip, 0, 0, 0, 0)
        elif op in (0x88, 0x89, 0x8A, 0x8B):
            size = 1 if (op & 1) == 0 else self.opsize
            if op < 0x8A:
                self.set_rm(size, self.get_reg(self.reg, size))
            else:
                self.set_reg(self.reg, size, self.get_rm(size))
        elif op == 0x8C:
            s = self.reg & 3 if self.isa == ISA_8086 else self.reg
            if s > 5 or (s > 3 and self.isa < ISA_386):
                self.fault(EXC_UD, -1)
            # A register destination takes the full operand size (upper half zeroed on 386).
            if self.mod == 3:
                self.set_reg(self.rm, self.opsize, self.sel[s])
            else:
                self.wr(self.ea_seg, self.ea, 2, self.sel[s])
        elif op == 0x8D:
            if self.mod == 3:
                self.fault(EXC_UD, -1)
            self.set_reg(self.reg, self.opsize, self.ea)
        elif op == 0x8E:
            s = self.reg & 3 if self.isa == ISA_8086 else self.reg
            if s > 5 or (s > 3 and self.isa < ISA_386) or (s == S_CS and self.isa >= ISA_186):
                self.fault(EXC_UD, -1)
            self.load_seg(s, self.get_rm(2))
            if self.pe:
                self.charge_pm("mov_sreg")
            if s == S_SS:
                self.inhibit_irq = True
                self.ss_shadow = True
        elif op == 0x8F:
            # POP r/m: the offset is computed after SP is incremented (Intel SDM POP).
            if self.reg != 0 and self.m_has_ud:
                self.fault(EXC_UD, -1)
            t = self.r[R_ESP]
            v = self.pop(self.opsize)
            if self.isa == ISA_286:
                # The 286 leaves SP popped when the store faults (a word at offset
                # FFFFh): the exception's frame goes below the popped word (SingleStepTests
                # 80286, full set).  The 386 and later restore ESP (SDM, POP).
                self.saved_esp = self.r[R_ESP]
            if self.ea_esp_base:
                # An ESP-based destination is addressed with ESP as the pop left it
                # (Intel SDM, POP): on a 16-bit stack only SP moved, and it may wrap.
                self.ea += self.r[R_ESP] - t
            self.set_rm(self.opsize, v)
        elif op == 0x90:
            pass
        elif op in (0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97):
            self.xchg_acc(op & 7, self.opsize)
        elif op == 0x98:
            self.cbw_cwde(self.opsize)
        elif op == 0x99:
            self.cwd_cdq(self.opsize)
        elif op == 0x9A:
            off = self.fetch_imm(self.opsize)
            t = self.fetch16()
            self.far_jump(t, off, True)
        elif op == 0x9B:
            if (self.cr0 & 0xA) == 0xA and self.isa >= ISA_286:
                self.fault(EXC_NM, -1)      # MP and TS: the coprocessor context is stale
            if self.coprocessor is not None and self.clock.now < self.fpu_busy_until:
                # TEST# (8086) or BUSY# (286/386): WAIT idles until the coprocessor is done.
                self.cyc_extra += <uint32_t>(self.fpu_busy_until - self.clock.now)
            if self.fpu is not None and (self.fpu.sw & 0x80) and self.fpu_pending():
                self.eip = self.insn_eip        # frozen until IRQ13's handler acts
        elif op == 0x9C:
            if self.v86 and ((self.eflags >> 12) & 3) < 3:
                self.fault(EXC_GP, 0)
            v = self.get_flags()
            if self.opsize == 4:
                v &= ~<uint32_t>(F_VM | F_RF)
            self.push(v, self.opsize)
        elif op == 0x9D:
            if self.v86 and ((self.eflags >> 12) & 3) < 3:
                self.fault(EXC_GP, 0)
            v = self.pop(self.opsize)
            if self.pe or self.v86:
                self.set_flags_pm(v, self.opsize, self.cpl)
            else:
                self.set_flags(v, self.opsize)
        elif op == 0x9E:
            self.eflags = (self.eflags & ~<uint32_t>0xD5) | (self.get_r8(4) & 0xD5) | self.flags_fixed1
        elif op == 0x9F:
            self.set_r8(4, self.get_flags() & 0xFF)
        elif op in (0xA0, 0xA1, 0xA2, 0xA3):
            size = 1 if (op & 1) == 0 else self.opsize
            off = self.fetch_imm(self.adsize)
            # The moffs forms have no ModR/M: their documented time is the 'reg' figure.
            self.ea_seg = self.seg_ovr if self.seg_ovr >= 0 else S_DS
            if op < 0xA2:
                self.set_reg(R_EAX, size, self.rd(self.ea_seg, off, size))
            else:
                self.wr(self.ea_seg, off, size, self.get_reg(R_EAX, size))
        elif op in (0xA4, 0xA5, 0xA6, 0xA7, 0xAA, 0xAB, 0xAC, 0xAD, 0xAE, 0xAF):
            self.string_op(op)
        elif op == 0xA8 or op == 0xA9:
            size = 1 if op == 0xA8 else self.opsize
            self.alu(4, self.get_reg(R_EAX, size), self.fetch_imm(size), size)
        elif op in (0xB0, 0xB1, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7):
            self.set_r8(op & 7, self.fetch8())
        elif op in (0xB8, 0xB9, 0xBA, 0xBB, 0xBC, 0xBD, 0xBE, 0xBF):
            self.set_reg(op & 7, self.opsize, self.fetch_imm(self.opsize))
        elif op in (0xC0, 0xC1, 0xD0, 0xD1, 0xD2, 0xD3):
            size = 1 if (op & 1) == 0 else self.opsize
            a = self.get_rm(size)
            if op < 0xD0:
                t = self.fetch8()
            elif op < 0xD2:
                t = 1
            else:
                t = self.r[R_ECX] & 0xFF
            if op == 0xD2 or op == 0xD3:
                if self.isa == ISA_8086 and self.reg == 6 and t == 0:
                    return      # SETMOC with CL = 0 leaves the operand alone
            v = self.shift(self.reg, a, t, size)
            self.set_rm(size, v)
        elif op == 0xC2 or op == 0xC3:
            self.ret_near(self.opsize, self.fetch16() if op == 0xC2 else 0)
        elif op == 0xC4 or op == 0xC5:
            self.load_far_pointer(S_ES if op == 0xC4 else S_DS)
        elif op == 0xC6 or op == 0xC7:
            if self.reg != 0 and self.m_has_ud:
                self.fault(EXC_UD, -1)
            size = 1 if op == 0xC6 else self.opsize
            self.set_rm(size, self.fetch_imm(size))
        elif op == 0xC8:
            self.enter()
        elif op == 0xC9:
            self.leave(self.opsize)
        elif op == 0xCA or op == 0xCB:
            t = self.fetch16() if op == 0xCA else 0
            self.far_return(t)
        elif op == 0xCC:
            self.soft_int(EXC_BP)
        elif op == 0xCD:
            t = self.fetch8()
            self.soft_int(t)
        elif op == 0xCE:
            if self.eflags & F_OF:
                self.taken = True
                self.soft_int(EXC_OF)
        elif op == 0xCF:
            self.do_iret()
        elif op == 0xD4:
            t = self.fetch8()
            if t == 0:
                if self.isa == ISA_8086:
                    # The 8086's microcode leaves the flags of a zero result (ZF and PF
                    # set; SF, OF, AF, CF clear) before it takes the divide error, and the
                    # error keeps them (SingleStepTests 8086 D4 with a zero immediate).
                    self.set_arith(F_ZF | F_PF)
                    self.saved_eflags = self.eflags
                self.fault(EXC_DE, -1)
            a = self.r[R_EAX] & 0xFF
            v = ((a / t) << 8) | (a % t)
            self.set_reg(R_EAX, 2, v)
            self.set_arith(self.szp(v & 0xFF, 1))
        elif op == 0xD5:
            t = self.fetch8()
            a = self.get_r8(0)
            b = self.get_r8(4)
            # AAD is an 8-bit ADD of AH*imm to AL: flags as that ADD (SZP defined).
            v = self.alu(0, a, (b * t) & 0xFF, 1)
            self.set_reg(R_EAX, 2, v & 0xFF)
        elif op == 0xD6:
            self.set_r8(0, 0xFF if self.eflags & F_CF else 0)
        elif op == 0xD7:
            s = self.seg_ovr if self.seg_ovr >= 0 else S_DS
            off = (self.r[R_EBX] + (self.r[R_EAX] & 0xFF)) & (0xFFFF if self.adsize == 2 else 0xFFFFFFFFu)
            self.set_r8(0, self.rd(s, off, 1))
        elif op in (0xD8, 0xD9, 0xDA, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF):
            self.esc()
        elif op in (0xE0, 0xE1, 0xE2, 0xE3):
            self.loop_jcxz(op)
        elif op in (0xE4, 0xE5, 0xEC, 0xED):
            size = 1 if (op & 1) == 0 else self.opsize
            t = self.fetch8() if op < 0xE8 else self.r[R_EDX] & 0xFFFF
            self.check_io(t, size)
            self.set_reg(R_EAX, size, self.bus.io_read(t, size))
            self.charge_io()
            self.check_map()
            if self.hook_io:
                self.io_hook(t, size, False, self.get_reg(R_EAX, size))
        elif op in (0xE6, 0xE7, 0xEE, 0xEF):
            size = 1 if (op & 1) == 0 else self.opsize
            t = self.fetch8() if op < 0xE8 else self.r[R_EDX] & 0xFFFF
            self.check_io(t, size)
            self.bus.io_write(t, size, self.get_reg(R_EAX, size))
            self.charge_io()
            self.check_map()        # a chipset register may have remapped memory or A20
            if self.hook_io:
                self.io_hook(t, size, True, self.get_reg(R_EAX, size))
        elif op == 0xE8:
            sv = <int32_t>self.fetch_imm(self.opsize) if self.opsize == 4 else <int16_t>self.fetch16()
            t = self.eip + <uint32_t>sv
            self.call_near(t if self.opsize == 4 else t & 0xFFFF, self.opsize)
        elif op == 0xE9:
            sv = <int32_t>self.fetch_imm(self.opsize) if self.opsize == 4 else <int16_t>self.fetch16()
            self.jump_rel(sv)
        elif op == 0xEA:
            off = self.fetch_imm(self.opsize)
            t = self.fetch16()
            self.far_jump(t, off, False)
        elif op == 0xEB:
            sv = <int8_t>self.fetch8()
            self.jump_rel(sv)
        elif op == 0xF1:
            self.note_int(EXC_DB, 0, -1)
            self.interrupt(EXC_DB, self.eip)      # ICEBP (386)
        elif op == 0xF4:
            self.need_cpl0()
            self.halted = True
        elif op == 0xF5:
            self.eflags ^= F_CF
        elif op == 0xF6 or op == 0xF7:
            self.group3(1 if op == 0xF6 else self.opsize)
        elif op in (0xF8, 0xF9, 0xFA, 0xFB, 0xFC, 0xFD):
            # CLC STC CLI STI CLD STD: pairs clear/set CF, IF, DF.
            t = F_CF if op < 0xFA else (F_IF if op < 0xFC else F_DF)
            if t == F_IF and not self.iopl_ok():
                self.fault(EXC_GP, 0)
            if op & 1:
                if op == 0xFB and not (self.eflags & F_IF):
                    self.inhibit_irq = True     # STI takes effect after the next instruction
                self.eflags |= t
            else:
                self.eflags &= ~t
        elif op == 0xFE or op == 0xFF:
            self.group45(op)
        else:
            self.fault(EXC_UD, -1)

    # ---------------------------------------------------------------- helpers for one-byte ops
    @cython.final
    cdef void jump_rel(self, int32_t disp) noexcept:
        self.taken = True
        if self.opsize == 4:
            self.near_jump(self.eip + <uint32_t>disp)
        else:
            self.near_jump((self.eip + <uint32_t>disp) & 0xFFFF)

    @cython.final
    cdef inline void check_near_target(self, uint32_t target) noexcept:
        # A near transfer beyond the code segment limit faults at the transfer
        # instruction (#GP(0)), before anything is pushed or changed.
        if target > self.seg_hi[S_CS] and not self.m_word_wrap:
            self.fault(EXC_GP, 0)

    @cython.final
    cdef inline void near_jump(self, uint32_t target) noexcept:
        self.check_near_target(target)
        self.eip = target

    @cython.final
    cdef inline void call_near(self, uint32_t target, int size) noexcept:
        # CALL to `target` (already cut to the operand size): the limit is checked
        # before the return address is pushed, so a bad target leaves the stack alone.
        self.check_near_target(target)
        self.push(self.eip, size)
        self.eip = target
        self.taken = True

    @cython.final
    cdef inline void ret_near(self, int size, uint32_t release) noexcept:
        # RET [imm16]: the return address, then `release` more bytes off the stack
        cdef uint32_t v = self.rd(S_SS, self.cur_sp(), size)
        self.near_jump(v if size == 4 else v & 0xFFFF)
        self.release_stack(size + release)

    @cython.final
    cdef inline void leave(self, int size) noexcept:
        # LEAVE reads the saved BP before SP changes, so a limit fault leaves SP as
        # it was (286 data).
        cdef uint32_t t = self.get_reg(R_EBP, 4 if self.ss32 else 2)
        cdef uint32_t v = self.rd(S_SS, t, size)
        self.set_reg(R_ESP, 4 if self.ss32 else 2, t + size)
        self.set_reg(R_EBP, size, v)

    @cython.final
    cdef inline void cbw_cwde(self, int size) noexcept:
        if size == 2:
            self.set_reg(R_EAX, 2, <uint32_t><int32_t><int8_t>(self.r[R_EAX] & 0xFF))
        else:
            self.r[R_EAX] = <uint32_t><int32_t><int16_t>(self.r[R_EAX] & 0xFFFF)

    @cython.final
    cdef inline void cwd_cdq(self, int size) noexcept:
        if size == 2:
            self.set_reg(R_EDX, 2, 0xFFFF if self.r[R_EAX] & 0x8000 else 0)
        else:
            self.r[R_EDX] = 0xFFFFFFFFu if self.r[R_EAX] & 0x80000000u else 0

    @cython.final
    cdef inline void xchg_acc(self, int r, int size) noexcept:
        cdef uint32_t a = self.get_reg(r, size)
        self.set_reg(r, size, self.get_reg(R_EAX, size))
        self.set_reg(R_EAX, size, a)

    @cython.final
    cdef void release_stack(self, uint32_t n) noexcept:
        self.release_stack_as(n, self.ss32)

    @cython.final
    cdef void release_stack_as(self, uint32_t n, bint big) noexcept:
        # `big`: the B bit of the stack the bytes were taken from, which is not the
        # current one once an instruction has loaded SS itself.
        if big:
            self.r[R_ESP] += n
        else:
            self.r[R_ESP] = (self.r[R_ESP] & 0xFFFF0000u) | ((self.r[R_ESP] + n) & 0xFFFF)

    @cython.final
    cdef void popa(self) noexcept:
        # All eight slots are read before any register changes, so a limit fault on
        # the last one leaves every register as it was.  The slot of eSP is skipped,
        # except on the 80386 with a 32-bit POPA on a 16-bit stack: there the upper
        # half of ESP is loaded from the upper half of that slot (test386.asm,
        # checked on 386 hardware), while SP moves as the stack's width says.
        cdef uint32_t vals[8]
        cdef int i, size = self.opsize
        cdef bint big = self.ss32
        for i in range(8):
            vals[7 - i] = self.rd(S_SS, self.sp_off(i * size), size)
        for i in range(8):
            if i != R_ESP:
                self.set_reg(i, size, vals[i])
        self.release_stack_as(8 * size, big)
        if self.m_popa_esp_high and size == 4 and not big:
            self.r[R_ESP] = (vals[R_ESP] & 0xFFFF0000u) | (self.r[R_ESP] & 0xFFFF)

    @cython.final
    cdef void push_sreg(self, int s) noexcept:
        # With a 32-bit operand size the 386 and later move the selector with a 16-bit
        # write into the new 4-byte slot and leave its upper half as it was (SDM vol. 2
        # PUSH; test386.asm checks it against 386/486 hardware).
        cdef uint32_t sp
        if self.opsize == 2:
            self.push(self.sel[s], 2)
            return
        sp = self.sp_off(<uint32_t>-4)
        self.check_write(S_SS, sp, 4)
        self.wr(S_SS, sp, 2, self.sel[s])
        self.set_sp(sp)

    @cython.final
    cdef void pop_sreg(self, int s) noexcept:
        # The selector is loaded before SP moves, so a faulting load leaves SP.  The
        # pop moves SP or ESP by the B bit of the stack it read, even when the load
        # was of SS and changed B (SDM vol. 2 POP: "the stack-address size" is that
        # of the current stack when the pop happens).
        cdef bint big = self.ss32
        cdef uint32_t v = self.rd(S_SS, self.cur_sp(), self.opsize)
        self.load_seg(s, v)
        self.release_stack_as(self.opsize, big)

    @cython.final
    cdef void load_far_pointer(self, int s) noexcept:
        cdef uint32_t off, seg
        if self.mod == 3:
            self.fault(EXC_UD, -1)
        off = self.rd(self.ea_seg, self.ea, self.opsize)
        seg = self.rd(self.ea_seg, (self.ea + self.opsize) & (0xFFFF if self.adsize == 2 else 0xFFFFFFFFu), 2)
        self.load_seg(s, seg)
        self.set_reg(self.reg, self.opsize, off)

    @cython.final
    cdef void loop_jcxz(self, uint32_t op) noexcept:
        cdef int32_t disp = <int8_t>self.fetch8()
        cdef uint32_t c
        cdef bint go
        if self.adsize == 4:
            c = self.r[R_ECX]
        else:
            c = self.r[R_ECX] & 0xFFFF
        if op == 0xE3:
            go = c == 0
        else:
            c = c - 1
            if self.adsize == 4:
                self.r[R_ECX] = c
            else:
                c &= 0xFFFF
                self.r[R_ECX] = (self.r[R_ECX] & 0xFFFF0000u) | c
            go = c != 0
            if op == 0xE0:
                go = go and not (self.eflags & F_ZF)
            elif op == 0xE1:
                go = go and (self.eflags & F_ZF) != 0
        if go:
            self.jump_rel(disp)

    @cython.final
    cdef void bound(self) noexcept:
        cdef int32_t idx, lo, hi
        if self.mod == 3:
            self.fault(EXC_UD, -1)
        if self.opsize == 2:
            idx = <int16_t>self.get_reg(self.reg, 2)
            lo = <int16_t>self.rd(self.ea_seg, self.ea, 2)
            hi = <int16_t>self.rd(self.ea_seg, (self.ea + 2) & (0xFFFF if self.adsize == 2 else 0xFFFFFFFFu), 2)
        else:
            idx = <int32_t>self.r[self.reg]
            lo = <int32_t>self.rd(self.ea_seg, self.ea, 4)
            hi = <int32_t>self.rd(self.ea_seg, self.ea + 4, 4)
        if idx < lo or idx > hi:
            self.fault(EXC_BR, -1)

    @cython.final
    cdef void enter(self) noexcept:
        # SDM vol. 2 ENTER: the frame pointer saved is eSP of the operand size; the
        # display copies walk eBP in the stack's address size (EBP itself moves when
        # the stack is 32-bit); the allocation moves SP or ESP by the stack's B bit.
        cdef uint32_t alloc = self.fetch16()
        cdef uint32_t level = self.fetch8() & 0x1F
        cdef uint32_t frame, ebp, i, sp_mask = 0xFFFFFFFFu if self.ss32 else 0xFFFF
        cdef uint32_t final_sp
        self.push(self.get_reg(R_EBP, self.opsize), self.opsize)
        frame = self.get_reg(R_ESP, self.opsize)
        ebp = self.r[R_EBP]
        if level > 0:
            for i in range(1, level):
                ebp = (ebp & ~sp_mask) | ((ebp - self.opsize) & sp_mask)
                self.push(self.rd(S_SS, ebp & sp_mask, self.opsize), self.opsize)
            self.push(frame, self.opsize)
        # Level 0 costs the reg figure, level 1 the mem figure, deeper levels a formula.
        if level == 1:
            self.cyc_override = self.t_mem[self.tk]
        elif level > 1:
            self.cyc_override = self.t_count_base[self.tk] + self.t_per_count[self.tk] * (level - 1)
        final_sp = (self.r[R_ESP] - alloc) & sp_mask
        if self.isa >= ISA_386:
            # "ENTER causes a page fault whenever a write using the final value of the
            # stack pointer (within the current stack segment) would do so."
            self.check_write(S_SS, final_sp, self.opsize)
        self.r[R_EBP] = ebp
        self.set_reg(R_EBP, self.opsize, frame)
        self.set_reg(R_ESP, 4 if self.ss32 else 2, final_sp)

    @cython.final
    cdef void check_write(self, int seg, uint32_t off, int size) noexcept:
        """Fault now if a write of `size` bytes at seg:off would: the segment's limit and
        type, alignment, and both pages.  Nothing is written; an instruction that must
        not change state when its store faults calls this first."""
        cdef uint32_t lin
        if not self.seg_within(seg, off, size):
            if self.m_word_wrap:
                return
            self.seg_fault(seg)
        if not self.seg_allows(seg, 2):
            self.seg_fault(seg)
        if self.ac_check and (off & (size - 1)) and size <= 8:
            self.fault(EXC_AC, 0)
        if self.paging:
            lin = self.base[seg] + off
            self.translate(lin, 1)
            if (lin & (PAGE_SIZE - 1)) > <uint32_t>(PAGE_SIZE - size):
                self.translate((lin + size - 1) & ~<uint32_t>(PAGE_SIZE - 1), 1)

    @cython.final
    cdef void esc(self) noexcept:
        cdef FPU f = self.fpu
        cdef int esc, modrm, kind, n, rc, i, clocks
        cdef uint32_t stall
        cdef uint32_t amask, off, v
        cdef bint op32, pm, control, es_before
        if f is None:
            # No coprocessor.  The 80186 traps ESC to vector 7; the 286/386 do when
            # MSW/CR0.EM (or TS) says so; the 8086 only reads the memory operand for a
            # coprocessor that is not there.
            if self.m_esc_traps or self.m_always_nm or (self.isa >= ISA_286 and (self.cr0 & 0xC)):
                self.fault(EXC_NM, -1)
            if self.mod != 3:
                if self.isa == ISA_286:
                    # Only the operand's first word is checked against the segment limit:
                    # a dword at offset FFFEh passes, one at FFFFh is #GP (SingleStepTests
                    # 80286, full set, D8 with no 287).
                    self.check_limit(self.ea_seg, self.ea, 2)
                elif self.isa > ISA_286:
                    # The operand is checked against the segment limit at its full x87 size.
                    self.check_limit(self.ea_seg, self.ea, X87_MEM_SIZE[((self.op_byte & 7) << 3) | self.reg])
                else:
                    self.rd(self.ea_seg, self.ea, 1)
            return
        # CR0.EM: emulate (every ESC traps); CR0.TS: the x87 context belongs to another
        # task (lazy FPU switching) [SDM vol. 3 2.5, Table 2-2].
        if self.cr0 & 0xC:
            self.fault(EXC_NM, -1)
        esc = self.op_byte & 7
        modrm = (self.mod << 6) | (self.reg << 3) | self.rm
        if (f.sw & 0x80) and f.waits(esc, modrm) and self.fpu_pending():
            self.eip = self.insn_eip            # frozen until IRQ13's handler acts
            return
        control = f.is_control(esc, modrm)
        es_before = (f.sw & 0x80) != 0
        if not control:
            # The last-instruction pointers and opcode (SDM vol. 1 8.1.8).
            f.fcs = self.sel[S_CS]
            f.fip = self.insn_eip
            f.fop = ((esc << 8) | modrm) & 0x7FF
        if self.mod == 3:
            rc = f.exec_reg(esc, modrm, self.eflags)
        else:
            op32 = self.opsize == 4
            pm = self.pe
            kind = f.mem_kind(esc, self.reg, op32, pm)
            n = kind & 0xFF
            if (kind >> 8) == MEM_NONE:
                if not self.m_has_ud:
                    return              # an 8087 ignores an encoding it does not know
                self.fault(EXC_UD, -1)
            if not control:
                f.fds = self.sel[self.ea_seg]
                f.fdp = self.ea
            amask = 0xFFFFFFFFu if self.adsize == 4 else 0xFFFF
            if (kind >> 8) == MEM_LOAD:
                self.check_limit(self.ea_seg, self.ea, n)      # the whole operand first
                i = 0
                while i < n:
                    off = (self.ea + i) & amask
                    if n - i >= 4:
                        v = self.rd(self.ea_seg, off, 4)
                        self.fbuf[i] = v & 0xFF
                        self.fbuf[i + 1] = (v >> 8) & 0xFF
                        self.fbuf[i + 2] = (v >> 16) & 0xFF
                        self.fbuf[i + 3] = v >> 24
                        i += 4
                    else:
                        self.fbuf[i] = self.rd(self.ea_seg, off, 1)
                        i += 1
                rc = f.exec_mem(esc, self.reg, self.fbuf, op32, pm)
            else:
                # Nothing of the x87 may change if the store faults: check it all first.
                self.check_write(self.ea_seg, self.ea, n)
                rc = f.exec_mem(esc, self.reg, self.fbuf, op32, pm)
                i = 0
                while i < rc:
                    off = (self.ea + i) & amask
                    if rc - i >= 4:
                        self.wr(self.ea_seg, off, 4, self.fbuf[i] | (self.fbuf[i + 1] << 8) |
                                (self.fbuf[i + 2] << 16) | (<uint32_t>self.fbuf[i + 3] << 24))
                        i += 4
                    else:
                        self.wr(self.ea_seg, off, 1, self.fbuf[i])
                        i += 1
                if rc > 0:
                    rc = FPU_OK
        clocks = self.t_x87[64 + esc * 64 + (modrm & 0x3F)] if self.mod == 3 else self.t_x87[esc * 8 + self.reg]
        if self.coprocessor is not None:
            # A separate chip: the CPU pays its own ESC line (the operand transfer) and
            # goes on while the coprocessor works.  The 80286/80386 sample BUSY# before an
            # ESC and wait; the 8086 does not (programs put WAIT in front) [80286 PRM
            # 6.1; 8087 data sheet "Processor/coprocessor synchronization"].
            stall = 0
            if f.level >= 2 and self.clock.now < self.fpu_busy_until:
                stall = <uint32_t>(self.fpu_busy_until - self.clock.now)
                self.cyc_extra += stall
            self.fpu_busy_until = self.clock.now + stall + clocks
        elif clocks:
            # The x87's own clocks for this form replace the ESC line of the integer table.
            self.cyc_override = clocks
        if rc == FPU_UD:
            if self.m_has_ud:
                self.fault(EXC_UD, -1)
        elif rc == FPU_FLAGS:
            self.eflags = (self.eflags & ~<uint32_t>F_ARITH) | (f.eflags_out & (F_ZF | F_PF | F_CF))
        elif rc == FPU_AX:
            self.r[R_EAX] = (self.r[R_EAX] & 0xFFFF0000u) | f.sw
        if not (f.sw & 0x80):
            self.ignne = False              # FERR# is gone, and with it IGNNE#
        elif not es_before and not (self.cr0 & 0x20) and (f.level <= 3 or f.level >= 6):
            # An unmasked exception with CR0.NE=0, the PC/AT way: FERR# -> IRQ13 through
            # the slave 8259.  The coprocessors (ERROR#, the 8087's INT) and the P6
            # assert it as the instruction completes; the 486 and Pentium defer it to
            # the next waiting instruction (SDM vol. 3 "Assertion of the FERR# pin";
            # vol. 1 D.2.1.1).  The 8087's INT also needs IEM clear (FENI).
            if f.level != 1 or not (f.cw & 0x80):
                self.ferr(True)

    @cython.final
    cdef bint fpu_pending(self) noexcept:
        """A waiting x87 instruction (or WAIT) found an unmasked exception pending.
        Returns 1 when the processor freezes before it (MS-DOS compatibility mode)."""
        if self.isa >= ISA_486 and (self.cr0 & 0x20):
            self.fault(EXC_MF, -1)          # CR0.NE=1: native #MF at this instruction
        if self.fpu.level == 1:
            return False                    # the 8086 has no ERROR# input: only the INT line
        if self.coprocessor is not None and self.ferr_hook is None:
            # A 287/387 whose ERROR# reaches the CPU's ERROR# pin (no PC/AT board logic
            # between): the next waiting ESC or WAIT takes exception 16 [80286 PRM 9.2;
            # 80386 PRM 9.8.16].
            self.fault(EXC_MF, -1)
        # CR0.NE=0: FERR# is (or stays) asserted and the processor freezes before the
        # instruction until an interrupt -- IRQ13 -- is taken; the handler clears the
        # exception, or writes port F0h, which asserts IGNNE#, and the instruction goes
        # on [SDM vol. 1 D.2.1.1-D.2.1.2].
        if self.ferr_hook is None:
            return False                    # no board logic behind FERR#: nothing to wait for
        self.ferr(True)
        return not self.ignne

    @cython.final
    cdef void ferr(self, bint level) noexcept:
        if self.ferr_hook is not None:
            try:
                self.ferr_hook(level)
            except Exception:
                pass

    @cython.final
    cdef void daa_das(self, bint sub) noexcept:
        cdef uint32_t al = self.r[R_EAX] & 0xFF, old_al = al
        cdef bint old_cf = (self.eflags & F_CF) != 0
        cdef uint32_t f = 0
        # The high-digit test compares the original AL with 99h; the 8086 compares
        # with 9Fh when AF was set on entry (captured in the 8086 DAA/DAS data).
        cdef uint32_t hi_limit = 0x9F if (self.isa == ISA_8086 and (self.eflags & F_AF)) else 0x99
        if (al & 0xF) > 9 or (self.eflags & F_AF):
            if sub:
                if al < 6 or old_cf:
                    f |= F_CF
                al = (al - 6) & 0xFF
            else:
                if al > 0xF9 or old_cf:
                    f |= F_CF
                al = (al + 6) & 0xFF
            f |= F_AF
        if old_al > hi_limit or old_cf:
            al = ((al - 0x60) if sub else (al + 0x60)) & 0xFF
            f |= F_CF
        elif self.isa == ISA_8086:
            # The 8086 clears CF here; on the 286 a borrow/carry from the low-digit
            # step survives (both seen in the captured data).
            f &= ~<uint32_t>F_CF
        self.set_arith(f | self.szp(al, 1))
        self.set_r8(0, al)

    @cython.final
    cdef void aaa_aas(self, bint sub) noexcept:
        cdef uint32_t ax = self.r[R_EAX] & 0xFFFF
        cdef uint32_t al = ax & 0xFF, ah = ax >> 8
        cdef uint32_t f = 0
        if (al & 0xF) > 9 or (self.eflags & F_AF):
            if self.isa == ISA_8086:
                # 8086: the adjust is applied to AL alone, AH moves by one.
                al = (al - 6 if sub else al + 6) & 0xFF
                ah = (ah - 1 if sub else ah + 1) & 0xFF
            else:
                # 286+: AX +/- 6 (the carry from AL reaches AH), then AH +/- 1.
                ax = (ax - 6 if sub else ax + 6) & 0xFFFF
                al = ax & 0xFF
                ah = ((ax >> 8) - 1 if sub else (ax >> 8) + 1) & 0xFF
            f = F_AF | F_CF
        f |= self.szp(al & 0x0F, 1) & ~<uint32_t>F_SF
        self.set_arith(f | (self.szp(al, 1) & F_SF))
        self.set_reg(R_EAX, 2, (ah << 8) | (al & 0x0F))

    # ---------------------------------------------------------------- multiply / divide
    @cython.final
    cdef uint32_t imul2(self, uint32_t a, uint32_t b, int size) noexcept:
        cdef int64_t full
        cdef uint32_t res
        if size == 2:
            full = <int64_t><int16_t>a * <int64_t><int16_t>b
            res = <uint32_t>full & 0xFFFF
            self.set_arith(self.szp(res, 2) | ((F_CF | F_OF) if full != <int16_t>res else 0))
        else:
            full = <int64_t><int32_t>a * <int64_t><int32_t>b
            res = <uint32_t>full
            self.set_arith(self.szp(res, 4) | ((F_CF | F_OF) if full != <int32_t>res else 0))
        return res

    @cython.final
    cdef void group3(self, int size) noexcept:
        cdef uint32_t a, b, res, mask = SIZE_MASK[size]
        cdef uint64_t ua, ub, q, r, dividend
        cdef int64_t sa, sb, sq, sr
        cdef bint negq, negr
        cdef int bits = size * 8
        cdef uint64_t qmax
        if self.reg == 0 or self.reg == 1:
            a = self.get_rm(size)
            self.alu(4, a, self.fetch_imm(size), size)
        elif self.reg == 2:
            self.set_rm(size, ~self.get_rm(size) & mask)
        elif self.reg == 3:
            a = self.get_rm(size)
            res = self.alu(5, 0, a, size)
            self.set_rm(size, res)
        elif self.reg == 4:
            a = self.get_rm(size)
            ua = <uint64_t>a * <uint64_t>self.get_reg(R_EAX, size)
            self.store_wide(ua, size)
            res = <uint32_t>(ua >> bits)
            # CF=OF=1 when the upper half is significant; SZP from the low half as
            # the 286+ do (undefined by Intel, masked by the suites).
            self.set_arith(self.szp(<uint32_t>ua & mask, size) | ((F_CF | F_OF) if res else 0)
                           | (self.eflags & F_AF))
            if self.isa == ISA_8086:
                # The 8086 leaves ZF clear unless... (undefined; the microcode's last
                # ALU step is on the high half)
                self.set_arith(self.szp(res, size) | ((F_CF | F_OF) if res else 0) | (self.eflags & F_AF))
        elif self.reg == 5:
            a = self.get_rm(size)
            sa = self.sext(a, size) * self.sext(self.get_reg(R_EAX, size), size)
            if self.rep and self.m_rep_neg:
                sa = -sa
            self.store_wide(<uint64_t>sa, size)
            res = <uint32_t>(<uint64_t>sa >> bits) & mask
            negq = sa != self.sext(<uint32_t>sa & mask, size)
            self.set_arith(self.szp(<uint32_t>(<uint64_t>sa >> (bits if self.isa == ISA_8086 else 0)) & mask, size)
                           | ((F_CF | F_OF) if negq else 0) | (self.eflags & F_AF))
        elif self.reg == 6:
            b = self.get_rm(size)
            if b == 0:
                self.fault(EXC_DE, -1)
            dividend = self.load_wide(size)
            q = dividend / b
            r = dividend % b
            if q > mask:
                self.fault(EXC_DE, -1)
            self.store_divide(<uint32_t>q, <uint32_t>r, size)
        else:
            b = self.get_rm(size)
            if b == 0:
                self.fault(EXC_DE, -1)
            dividend = self.load_wide(size)
            if size == 4:
                sa = <int64_t>dividend
            else:
                sa = self.sext_wide(dividend, size)
            sb = self.sext(b, size)
            ua = <uint64_t>(-sa) if sa < 0 else <uint64_t>sa
            ub = <uint64_t>(-sb) if sb < 0 else <uint64_t>sb
            q = ua / ub
            r = ua % ub
            negq = (sa < 0) != (sb < 0)
            if self.rep and self.m_rep_neg:
                negq = not negq
            qmax = (<uint64_t>SIZE_SIGN[size]) - 1
            if self.m_idiv_min_faults:
                if q > qmax:
                    self.fault(EXC_DE, -1)
            elif q > qmax + (1 if negq else 0):
                self.fault(EXC_DE, -1)
            sq = -<int64_t>q if negq else <int64_t>q
            sr = -<int64_t>r if sa < 0 else <int64_t>r
            self.store_divide(<uint32_t>sq & mask, <uint32_t>sr & mask, size)

    @cython.final
    cdef inline int64_t sext(self, uint32_t v, int size) noexcept:
        if size == 1:
            return <int8_t>v
        if size == 2:
            return <int16_t>v
        return <int32_t>v

    @cython.final
    cdef inline int64_t sext_wide(self, uint64_t v, int size) noexcept:
        if size == 1:
            return <int16_t>v
        return <int32_t>v

    @cython.final
    cdef uint64_t load_wide(self, int size) noexcept:
        if size == 1:
            return self.r[R_EAX] & 0xFFFF
        if size == 2:
            return ((self.r[R_EDX] & 0xFFFF) << 16) | (self.r[R_EAX] & 0xFFFF)
        return (<uint64_t>self.r[R_EDX] << 32) | self.r[R_EAX]

    @cython.final
    cdef void store_wide(self, uint64_t v, int size) noexcept:
        if size == 1:
            self.set_reg(R_EAX, 2, <uint32_t>v & 0xFFFF)
        elif size == 2:
            self.set_reg(R_EAX, 2, <uint32_t>v & 0xFFFF)
            self.set_reg(R_EDX, 2, <uint32_t>(v >> 16) & 0xFFFF)
        else:
            self.r[R_EAX] = <uint32_t>v
            self.r[R_EDX] = <uint32_t>(v >> 32)

    @cython.final
    cdef void store_divide(self, uint32_t q, uint32_t r, int size) noexcept:
        if size == 1:
            self.set_reg(R_EAX, 2, (q & 0xFF) | ((r & 0xFF) << 8))
        elif size == 2:
            self.set_reg(R_EAX, 2, q)
            self.set_reg(R_EDX, 2, r)
        else:
            self.r[R_EAX] = q
            self.r[R_EDX] = r

    @cython.final
    cdef void group45(self, uint32_t op) noexcept:
        cdef int size = 1 if op == 0xFE else self.opsize
        cdef int reg = self.reg
        cdef uint32_t v, off, seg
        if op == 0xFE and reg >= 2:
            if self.m_has_ud:
                self.fault(EXC_UD, -1)
        if reg == 0 or reg == 1:
            self.set_rm(size, self.inc_dec(self.get_rm(size), size, reg == 1))
        elif reg == 2:
            v = self.get_rm(size)
            self.call_near(v if self.opsize == 4 else v & 0xFFFF, self.opsize)
        elif reg == 4:
            v = self.get_rm(size)
            self.near_jump(v if self.opsize == 4 else v & 0xFFFF)
            self.taken = True
        elif reg == 3 or reg == 5:
            if self.mod == 3:
                if self.m_has_ud:
                    self.fault(EXC_UD, -1)
            off = self.rd(self.ea_seg, self.ea, self.opsize)
            seg = self.rd(self.ea_seg, (self.ea + self.opsize) & (0xFFFF if self.adsize == 2 else 0xFFFFFFFFu), 2)
            self.far_jump(seg, off, reg == 3)
        else:
            # PUSH r/m (FF/6; FF/7 is its 8086 alias).  PUSH SP pushes the
            # decremented value on the 8086, as the one-byte form does.
            if reg == 7 and self.m_has_ud:
                self.fault(EXC_UD, -1)
            if self.mod == 3 and self.rm == R_ESP and self.m_push_sp_new:
                v = (self.get_reg(R_ESP, self.opsize) - self.opsize) & SIZE_MASK[self.opsize]
            else:
                v = self.get_rm(self.opsize)
            self.push(v, self.opsize)

    # ---------------------------------------------------------------- string instructions
    @cython.final
    cdef inline void string_store(self, uint32_t di, int size, uint32_t v, bint rep,
                                  uint32_t cnt, uint32_t amask) noexcept:
        # The 286's store to ES:DI in REP MOVS, STOS and INS: the microcode has already
        # counted the next iteration when the store faults (a word at offset FFFFh), so
        # CX ends two lower than before the iteration, not one (SingleStepTests 80286,
        # REP MOVSW/STOSW/INSW; a fault on the MOVS load leaves it one lower).
        if rep:
            self.r[R_ECX] = (self.r[R_ECX] & ~amask) | ((cnt - 2) & amask)
            self.wr(S_ES, di, size, v)
            self.r[R_ECX] = (self.r[R_ECX] & ~amask) | ((cnt - 1) & amask)
        else:
            self.wr(S_ES, di, size, v)

    @cython.final
    cdef void string_op(self, uint32_t op) noexcept:
        cdef int size = 1 if (op & 1) == 0 else self.opsize
        cdef int src_seg = self.seg_ovr if self.seg_ovr >= 0 else S_DS
        cdef uint32_t amask = 0xFFFF if self.adsize == 2 else 0xFFFFFFFFu
        cdef uint32_t delta = (<uint32_t>-size) if (self.eflags & F_DF) else <uint32_t>size
        cdef uint32_t si, di, a, b, cnt
        cdef int kind = op & 0xFE
        cdef bint rep = self.rep != 0
        while True:
            if rep:
                cnt = self.r[R_ECX] & amask
                if cnt == 0:
                    break
            si = self.r[R_ESI] & amask
            di = self.r[R_EDI] & amask
            self.saved_eflags = self.eflags      # a fault keeps the iterations done so far
            if self.m_index_first:
                # The 286 steps CX and SI/DI before the access completes: a limit
                # fault on the access leaves them already advanced (captured data).
                if rep and kind != 0xA6:
                    self.r[R_ECX] = (self.r[R_ECX] & ~amask) | ((cnt - 1) & amask)
                if kind != 0xAA and kind != 0xAE and kind != 0x6C and kind != 0xA6:
                    self.adv(R_ESI, delta, amask)
            if kind == 0xA4:            # MOVS
                a = self.rd(src_seg, si, size)
                if self.m_index_first:
                    self.adv(R_EDI, delta, amask)
                    self.string_store(di, size, a, rep, cnt, amask)
                else:
                    self.wr(S_ES, di, size, a)
                    self.adv(R_ESI, delta, amask)
                    self.adv(R_EDI, delta, amask)
            elif kind == 0xA6:          # CMPS
                if self.m_index_first:
                    # The 286 fetches the ES:DI operand first, then DS:SI.
                    self.adv(R_EDI, delta, amask)
                    b = self.rd(S_ES, di, size)
                    if rep:
                        self.r[R_ECX] = (self.r[R_ECX] & ~amask) | ((cnt - 1) & amask)
                    self.adv(R_ESI, delta, amask)
                    a = self.rd(src_seg, si, size)
                else:
                    a = self.rd(src_seg, si, size)
                    b = self.rd(S_ES, di, size)
                if not self.m_index_first:
                    self.adv(R_ESI, delta, amask)
                    self.adv(R_EDI, delta, amask)
                self.alu(7, a, b, size)
            elif kind == 0xAA:          # STOS
                if self.m_index_first:
                    self.adv(R_EDI, delta, amask)
                    self.string_store(di, size, self.get_reg(R_EAX, size), rep, cnt, amask)
                else:
                    self.wr(S_ES, di, size, self.get_reg(R_EAX, size))
                    self.adv(R_EDI, delta, amask)
            elif kind == 0xAC:          # LODS
                a = self.rd(src_seg, si, size)
                self.step_index(R_ESI, delta, amask)
                self.set_reg(R_EAX, size, a)
            elif kind == 0xAE:          # SCAS
                if self.m_index_first:
                    self.adv(R_EDI, delta, amask)
                b = self.rd(S_ES, di, size)
                if not self.m_index_first:
                    self.adv(R_EDI, delta, amask)
                self.alu(7, self.get_reg(R_EAX, size), b, size)
            elif kind == 0x6C:          # INS
                self.check_io(self.r[R_EDX] & 0xFFFF, size)
                a = self.bus.io_read(self.r[R_EDX] & 0xFFFF, size)
                self.charge_io()
                self.check_map()
                if self.hook_io:
                    self.io_hook(self.r[R_EDX] & 0xFFFF, size, False, a)
                if self.m_index_first:
                    self.adv(R_EDI, delta, amask)
                    self.string_store(di, size, a, rep, cnt, amask)
                else:
                    self.wr(S_ES, di, size, a)
                if not self.m_index_first:
                    self.adv(R_EDI, delta, amask)
            else:                       # OUTS
                self.check_io(self.r[R_EDX] & 0xFFFF, size)
                a = self.rd(src_seg, si, size)
                self.step_index(R_ESI, delta, amask)
                self.bus.io_write(self.r[R_EDX] & 0xFFFF, size, a)
                self.charge_io()
                self.check_map()
                if self.hook_io:
                    self.io_hook(self.r[R_EDX] & 0xFFFF, size, True, a)
            if not rep:
                break
            self.r[R_ECX] = (self.r[R_ECX] & ~amask) | ((cnt - 1) & amask)
            self.rep_done += 1
            # Each iteration's clocks are charged as it completes, so a device polled
            # by REP INS/OUTS sees time pass between the accesses.
            self.clock.now += self.t_rep_iter[self.tk]
            if kind == 0xA6 or kind == 0xAE:
                # REPE stops on ZF=0, REPNE on ZF=1.
                if ((self.eflags & F_ZF) != 0) != (self.rep == 0xF3):
                    break
            if (self.clock.now >= self.clock.next_deadline or self.dbg_pending
                    or self.stop_requested or self.rep_done >= REP_YIELD) and (cnt - 1) & amask:
                # Long REP: yield between iterations so devices and interrupts are
                # serviced; the instruction restarts from its first prefix.  Only a
                # device event, a debugger hit, a stop request or REP_YIELD iterations
                # split it, never the end of a run slice: how a run is sliced must not
                # change what the CPU does (a trace of the same run is the same however
                # it was sliced).  The iteration count bounds the run loop's overshoot of
                # its budget when no device has an event pending (a bare machine, a PC
                # before its BIOS programs the PIT): REP MOVSD with ECX=FFFFFFFFh no
                # longer runs its four billion iterations inside one slice.
                self.eip = self.insn_eip
                if self.clock.now < self.clock.next_deadline:
                    # Split for the debugger or the host, not by the hardware: the
                    # restart must cost the guest nothing (see rep_resume_lin).
                    self.rep_split_lin = (self.base[S_CS] + self.insn_eip) & 0xFFFFFFFFu
                break

    @cython.final
    cdef inline void step_index(self, int r, uint32_t delta, uint32_t amask) noexcept:
        # SI after its access, for models that do not step it first.
        if not self.m_index_first:
            self.adv(r, delta, amask)

    @cython.final
    cdef inline void adv(self, int r, uint32_t delta, uint32_t amask) noexcept:
        self.r[r] = (self.r[r] & ~amask) | ((self.r[r] + delta) & amask)

    # ---------------------------------------------------------------- two-byte opcodes (0F xx)
    @cython.final
    cdef void exec_twobyte(self, uint32_t op) noexcept:
        cdef int size, s
        cdef uint32_t a, b, v, cnt
        cdef int32_t sv
        if op in (0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8B, 0x8C, 0x8D, 0x8E, 0x8F):
            sv = <int32_t>self.fetch32() if self.opsize == 4 else <int16_t>self.fetch16()
            if self.cond(op):
                self.jump_rel(sv)
        elif op in (0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F):
            self.set_rm(1, 1 if self.cond(op) else 0)
        elif op in (0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x4B, 0x4C, 0x4D, 0x4E, 0x4F):
            v = self.get_rm(self.opsize)
            if self.cond(op):
                self.set_reg(self.reg, self.opsize, v)
        elif op == 0xA0 or op == 0xA8:
            self.push_sreg(S_FS if op == 0xA0 else S_GS)
        elif op == 0xA1 or op == 0xA9:
            self.pop_sreg(S_FS if op == 0xA1 else S_GS)
        elif op in (0xA3, 0xAB, 0xB3, 0xBB, 0xBA):
            self.bit_test(op)
        elif op in (0xA4, 0xA5, 0xAC, 0xAD):
            a = self.get_rm(self.opsize)
            b = self.get_reg(self.reg, self.opsize)
            cnt = (self.fetch8() if (op & 1) == 0 else self.r[R_ECX]) & 0x1F
            if cnt:
                self.set_rm(self.opsize, self.double_shift(a, b, cnt, op >= 0xAC))
        elif op == 0xAF:
            self.set_reg(self.reg, self.opsize, self.imul2(self.get_reg(self.reg, self.opsize), self.get_rm(self.opsize), self.opsize))
        elif op in (0xB2, 0xB4, 0xB5):
            self.load_far_pointer(S_SS if op == 0xB2 else (S_FS if op == 0xB4 else S_GS))
        elif op == 0xB6 or op == 0xB7:
            self.set_reg(self.reg, self.opsize, self.get_rm(1 if op == 0xB6 else 2))
        elif op == 0xBE:
            self.set_reg(self.reg, self.opsize, <uint32_t><int32_t><int8_t>self.get_rm(1))
        elif op == 0xBF:
            self.set_reg(self.reg, self.opsize, <uint32_t><int32_t><int16_t>self.get_rm(2))
        elif op == 0xBC or op == 0xBD:
            v = self.get_rm(self.opsize)
            if v == 0:
                self.eflags |= F_ZF
            else:
                self.eflags &= ~<uint32_t>F_ZF
                if op == 0xBC:
                    s = 0
                    while not (v >> s) & 1:
                        s += 1
                else:
                    s = self.opsize * 8 - 1
                    while not (v >> s) & 1:
                        s -= 1
                self.set_reg(self.reg, self.opsize, s)
                self.cyc_extra += self.t_per_count[self.tk] * (s + 1 if op == 0xBC else self.opsize * 8 - s)
        elif op == 0xC0 or op == 0xC1:
            size = 1 if op == 0xC0 else self.opsize
            a = self.get_rm(size)
            b = self.get_reg(self.reg, size)
            v = self.alu(0, a, b, size)
            self.set_reg(self.reg, size, a)
            self.set_rm(size, v)
        elif op == 0xB0 or op == 0xB1:
            size = 1 if op == 0xB0 else self.opsize
            a = self.get_rm(size)
            self.alu(7, self.get_reg(R_EAX, size), a, size)
            if self.eflags & F_ZF:
                self.set_rm(size, self.get_reg(self.reg, size))
            else:
                self.set_rm(size, a)        # the destination is always written
                self.set_reg(R_EAX, size, a)
        elif op in (0xC8, 0xC9, 0xCA, 0xCB, 0xCC, 0xCD, 0xCE, 0xCF):
            v = self.r[op & 7]
            self.r[op & 7] = ((v & 0xFF) << 24) | ((v & 0xFF00) << 8) | ((v >> 8) & 0xFF00) | (v >> 24)
        elif op == 0xA2:
            if not self.has_cpuid:
                self.fault(EXC_UD, -1)
            self.do_cpuid()
        elif op == 0x31:
            if not self.has_tsc:
                self.fault(EXC_UD, -1)
            if (self.cr4 & 4) and (self.cpl > 0 or self.v86):
                self.fault(EXC_GP, 0)             # CR4.TSD: RDTSC is ring 0 only
            self.store_edx_eax(self.clock.now - self.tsc_base)
        elif op == 0x30 or op == 0x32:
            if not self.has_msr:
                self.fault(EXC_UD, -1)
            self.need_cpl0()
            if op == 0x32:
                self.rdmsr()
            else:
                self.wrmsr()
        elif op == 0x33:
            if not self.has_rdpmc:
                self.fault(EXC_UD, -1)
            if not (self.cr4 & 0x100) and (self.cpl > 0 or self.v86):
                self.fault(EXC_GP, 0)
            if self.r[R_ECX] > 1:
                self.fault(EXC_GP, 0)
            self.rdpmc()
        elif op == 0xC7:
            if self.reg != 1 or not self.has_cx8 or self.mod == 3:
                self.fault(EXC_UD, -1)
            self.cmpxchg8b()
        elif op == 0x34 or op == 0x35:
            if not self.has_sysenter:
                self.fault(EXC_UD, -1)
            self.sysenter_exit(op == 0x35)
        elif op == 0x0B:
            self.fault(EXC_UD, -1)                # UD2: the defined invalid opcode
        elif op == 0x00:
            self.group6()
        elif op == 0x01:
            self.group7()
        elif op == 0x02 or op == 0x03:
            self.lar_lsl(op == 0x03)
        elif op == 0x06:
            self.need_cpl0()
            self.cr0 &= ~<uint32_t>8
        elif op == 0x08 or op == 0x09:
            self.need_cpl0()            # INVD/WBINVD: no cache is modelled
        elif op == 0x20 or op == 0x22:
            self.need_cpl0()
            self.mov_cr(op == 0x22)
        elif op == 0x21 or op == 0x23:
            self.need_cpl0()
            if self.dr[7] & 0x2000:
                # DR7.GD: any debug-register access is a #DB fault, reported as BD in
                # DR6; GD is cleared so the handler can use the registers.
                self.dr[6] |= 0x2000
                self.dr[7] &= ~<uint32_t>0x2000
                self.fault(EXC_DB, -1)
            if op == 0x21:
                self.r[self.rm] = self.dr[self.reg]
            else:
                if self.reg == 6:
                    # DR6 reserved bits read as 1 on the 386/486.
                    self.dr[6] = self.r[self.rm] | 0xFFFF0FF0u
                else:
                    self.dr[self.reg] = self.r[self.rm]
                self.dr7_update()
        else:
            # Tested last and inside the else: a range test in the chain above would
            # keep Cython from compiling it to a switch.
            if (op & 0xE0) == 0x60 or op >= 0xD0:
                self.mmx(op)            # MMX: 0F 60-7F, 0F D0-FF
            else:
                # 0F00 (SLDT..VERW), LAR, LSL and ARPL are not recognised in real mode.
                self.fault(EXC_UD, -1)

    @cython.final
    cdef void mmx(self, uint32_t op) noexcept:
        """An MMX instruction (0F 60-7F, 0F D0-FF; core/mmx.pyx computes it).  Here: the
        gating and the faults in the SDM's order, then the operand moves.  Nothing of the
        MMX/x87 state changes before the memory operand has been read or its destination
        checked, so a fault restarts the instruction cleanly."""
        cdef FPU f = self.fpu
        cdef int form, n
        cdef uint64_t v
        cdef uint32_t amask = 0xFFFFFFFFu if self.adsize == 4 else 0xFFFF
        if (OP_FEAT[self.tk] & ~self.features) or f is None:
            self.fault(EXC_UD, -1)                # a Pentium without MMX: still #UD
        # CR0.EM: MMX cannot be emulated, #UD; CR0.TS: the x87/MMX state belongs to
        # another task, #NM; a pending unmasked x87 exception is reported first, as a
        # waiting x87 instruction would [SDM vol. 3 "Effect of MMX instructions on
        # pending x87 floating-point exceptions"; vol. 2, the MMX instruction pages].
        if self.cr0 & 0x4:
            self.fault(EXC_UD, -1)
        if self.cr0 & 0x8:
            self.fault(EXC_NM, -1)
        if (f.sw & 0x80) and self.fpu_pending():
            self.eip = self.insn_eip              # frozen until IRQ13's handler acts
            return
        form = mmx_form(op)
        if form == MMX_EMMS:
            mmx_emms(f)
        elif form == MMX_STORE_D or form == MMX_STORE_Q:
            n = 4 if form == MMX_STORE_D else 8
            if self.mod == 3:
                mmx_enter(f)
                v = mmx_read(f, self.reg)
                if form == MMX_STORE_D:
                    self.r[self.rm] = <uint32_t>v
                else:
                    mmx_write(f, self.rm, v)
            else:
                self.check_write(self.ea_seg, self.ea, n)
                mmx_enter(f)
                v = mmx_read(f, self.reg)
                self.wr(self.ea_seg, self.ea, 4, <uint32_t>v)
                if n == 8:
                    self.wr(self.ea_seg, (self.ea + 4) & amask, 4, <uint32_t>(v >> 32))
        elif form == MMX_SHIFT_IMM:
            if self.mod != 3:
                self.fault(EXC_UD, -1)            # Nq: the register form only
            mmx_exec(f, op, self.reg, self.rm, self.fetch8())
        else:
            if self.mod == 3:
                v = self.r[self.rm] if form == MMX_LOAD_D else mmx_read(f, self.rm)
            else:
                n = mmx_src_bytes(op)
                self.check_limit(self.ea_seg, self.ea, n)   # the whole operand first
                if self.ac_check and (self.ea & (n - 1)):
                    self.fault(EXC_AC, 0)
                v = self.rd(self.ea_seg, self.ea, 4)
                if n == 8:
                    v |= <uint64_t>self.rd(self.ea_seg, (self.ea + 4) & amask, 4) << 32
            mmx_exec(f, op, self.reg, self.reg, v)

    @cython.final
    cdef void bit_test(self, uint32_t op) noexcept:
        cdef int kind
        cdef uint32_t bitoff, v, bit
        cdef int32_t disp
        cdef int size = self.opsize
        if op == 0xBA:
            if self.reg < 4:
                self.fault(EXC_UD, -1)
            kind = self.reg - 4
            bitoff = self.fetch8() & (size * 8 - 1)
            if self.mod != 3:
                v = self.rd(self.ea_seg, self.ea, size)
        else:
            kind = (op >> 3) & 3          # A3 BT, AB BTS, B3 BTR, BB BTC
            bitoff = self.get_reg(self.reg, size)
            if self.mod != 3:
                # A register bit offset addresses memory beyond the operand (signed).
                if size == 2:
                    disp = (<int16_t>bitoff >> 4) * 2
                else:
                    disp = (<int32_t>bitoff >> 5) * 4
                self.ea = (self.ea + <uint32_t>disp) & (0xFFFF if self.adsize == 2 else 0xFFFFFFFFu)
                v = self.rd(self.ea_seg, self.ea, size)
            bitoff &= size * 8 - 1
        if self.mod == 3:
            v = self.get_reg(self.rm, size)
        bit = (v >> bitoff) & 1
        self.eflags = (self.eflags & ~<uint32_t>F_CF) | bit
        if kind == 0:
            return
        if kind == 1:
            v |= (<uint32_t>1 << bitoff)
        elif kind == 2:
            v &= ~(<uint32_t>1 << bitoff)
        else:
            v ^= (<uint32_t>1 << bitoff)
        self.set_rm(size, v)

    @cython.final
    cdef uint32_t double_shift(self, uint32_t a, uint32_t b, uint32_t cnt, bint right) noexcept:
        cdef int bits = self.opsize * 8
        cdef uint64_t wide
        cdef uint32_t res, cf, mask = SIZE_MASK[self.opsize]
        cdef uint32_t f
        if bits == 16:
            # 16-bit forms shift through a 32-bit a:b pair; counts over 16 are
            # undefined, and the 386 keeps shifting bits of b back in.
            if right:
                wide = (<uint64_t>b << 32) | (<uint64_t>b << 16) | a
                res = <uint32_t>(wide >> cnt) & 0xFFFF
                cf = <uint32_t>(wide >> (cnt - 1)) & 1
            else:
                wide = (<uint64_t>a << 32) | (<uint64_t>b << 16) | b
                res = <uint32_t>(wide >> (32 - cnt)) & 0xFFFF
                cf = <uint32_t>(wide >> (48 - cnt)) & 1
        else:
            if right:
                wide = (<uint64_t>b << 32) | a
                res = <uint32_t>(wide >> cnt)
                cf = <uint32_t>(wide >> (cnt - 1)) & 1
            else:
                wide = (<uint64_t>a << 32) | b
                res = <uint32_t>(wide >> (32 - cnt))
                cf = <uint32_t>(wide >> (64 - cnt)) & 1
        f = cf | self.szp(res, self.opsize)
        if (res ^ a) & SIZE_SIGN[self.opsize]:
            f |= F_OF
        self.set_arith(f)
        return res

    @cython.final
    cdef void group7(self) noexcept:
        cdef uint32_t lim, bse
        if self.reg == 4:
            # SMSW: the 286 reads the unused MSW bits as 1.
            self.set_rm(2 if self.mod != 3 else self.opsize, self.cr0 & (0xFFFF if self.mod != 3 else 0xFFFFFFFFu))
            return
        if self.reg == 6:
            # LMSW loads PE MP EM TS; it can set PE but never clear it.
            self.need_cpl0()
            lim = self.get_rm(2)
            self.cr0 = (self.cr0 & ~<uint32_t>0xE) | (lim & 0xF) | (self.cr0 & 1)
            self.update_mode()
            return
        if self.mod == 3 or self.reg == 5:
            self.fault(EXC_UD, -1)
        if self.reg == 7:
            self.need_cpl0()
            self.tlb_invalidate((self.base[self.ea_seg] + self.ea) & 0xFFFFFFFFu)
            return
        if self.reg >= 2:
            self.need_cpl0()
        if self.reg < 2:
            lim = self.gdtr_limit if self.reg == 0 else self.idtr_limit
            bse = self.gdtr_base if self.reg == 0 else self.idtr_base
            if self.opsize == 2:
                # 16-bit SGDT/SIDT store a 24-bit base; the 286 fills the top byte with 1s.
                bse = (bse & 0xFFFFFF) | (0xFF000000u if self.isa == ISA_286 else 0)
            self.wr(self.ea_seg, self.ea, 2, lim)
            self.wr(self.ea_seg, (self.ea + 2) & (0xFFFF if self.adsize == 2 else 0xFFFFFFFFu), 4, bse)
        else:
            lim = self.rd(self.ea_seg, self.ea, 2)
            bse = self.rd(self.ea_seg, (self.ea + 2) & (0xFFFF if self.adsize == 2 else 0xFFFFFFFFu), 4)
            if self.opsize == 2:
                bse &= 0xFFFFFF
            if self.reg == 2:
                self.gdtr_limit = lim
                self.gdtr_base = bse
            else:
                self.idtr_limit = lim
                self.idtr_base = bse

    @cython.final
    cdef inline uint32_t cr_value(self, int n) noexcept:
        # CR0 CR2 CR3 CR4 by number (CR1 is reserved: MOV from it is #UD before here).
        if n == 0:
            return self.cr0
        if n == 2:
            return self.cr2
        if n == 3:
            return self.cr3
        if n == 4:
            return self.cr4
        return 0

    @cython.final
    cdef void mov_cr(self, bint to_cr) noexcept:
        if self.reg == 1 or self.reg > 4 or (self.reg == 4 and self.cr4_mask == 0):
            self.fault(EXC_UD, -1)
        if not to_cr:
            self.r[self.rm] = self.cr_value(self.reg)
            return
        cdef uint32_t v = self.r[self.rm]
        if self.reg == 0:
            if (v & 0x80000001u) == 0x80000000u:
                self.fault(EXC_GP, 0)             # PG without PE
            v = (v & self.cr0_mask) | self.cr0_fixed1
            # PAE paging on after the write, and PG, CD or NW changed: the PDPTEs load
            # from CR3, and a reserved bit in one is #GP(0) with CR0 unchanged.
            if ((v & 0x80000001u) == 0x80000001u and (self.cr4 & CR4_PAE)
                    and ((self.cr0 ^ v) & CR0_PG_CD_NW)):
                self.load_pdptes(self.cr3)
            if (self.cr0 ^ v) & 0x80010001u:
                self.tlb_flush()
            self.cr0 = v
            self.update_mode()
        elif self.reg == 2:
            self.cr2 = v
        elif self.reg == 3:
            if self.paging and (self.cr4 & CR4_PAE):
                self.load_pdptes(v)
            self.cr3 = v
            self.tlb_flush_nonglobal()
        else:
            if v & ~self.cr4_mask:
                self.fault(EXC_GP, 0)             # a bit this model does not have
            if (self.paging and (v & CR4_PAE)
                    and ((self.cr4 ^ v) & (CR4_PSE | CR4_PAE | CR4_PGE))):
                self.load_pdptes(self.cr3)
            self.cr4 = v
            # Any CR4 write drops every entry, global ones too; the SDM requires it
            # when PSE, PAE or PGE change and allows it otherwise.
            self.tlb_flush()

    # ================================================================ protected mode
    # Descriptor cache access rights hold bits 8-23 of a descriptor's high dword:
    # type (8-11), S (12), DPL (13-14), P (15), AVL (20), D/B (22), G (23).

    @cython.final
    cdef void update_mode(self) noexcept:
        """Recompute the derived mode flags after CR0, CR4 or EFLAGS.VM changed."""
        cdef bint was_paging = self.paging
        self.v86 = (self.eflags & F_VM) != 0 and (self.cr0 & 1) != 0
        self.pe = (self.cr0 & 1) != 0 and not self.v86
        self.paging = (self.cr0 & 0x80000001u) == 0x80000001u and self.isa >= ISA_386
        if self.v86:
            self.cpl = 3
        elif not (self.cr0 & 1):
            self.cpl = 0
        self.set_user(self.cpl == 3)
        self.update_ac_check()
        if was_paging != self.paging:
            self.tlb_flush()
        if self.catch_mode and self.current_mode() != self.mode_code:
            self.add_hit(HIT_MODE, self.mode_code, self.current_mode(), 0, 0, 0, 0)
            self.mode_code = self.current_mode()

    @cython.final
    cdef inline void update_ac_check(self) noexcept:
        # Alignment checks apply on the 486+ with CR0.AM and EFLAGS.AC set, at CPL 3.
        self.ac_check = (self.isa >= ISA_486 and (self.cr0 & 0x40000) != 0
                         and (self.eflags & F_AC) != 0 and self.cpl == 3)

    @cython.final
    cdef void seg_update(self, int s) noexcept:
        """Derive the fast-check fields (valid offset range, read/write) from a cache."""
        cdef uint32_t a = self.access[s]
        if not (a & 0x8000):
            # Null or not-present cache: every access faults (in protected mode).
            self.seg_lo[s] = 1
            self.seg_hi[s] = 0
            self.seg_rw[s] = 0
        elif (a & 0x1800) == 0x1000 and (a & 0x400):
            # Expand-down data: valid offsets are limit+1 .. 0xFFFF (or 4G-1 if B).
            self.seg_lo[s] = self.limit[s] + 1
            self.seg_hi[s] = 0xFFFFFFFFu if (a & 0x400000) else 0xFFFF
            if self.limit[s] == 0xFFFFFFFFu:
                self.seg_lo[s] = 1          # limit 4G-1 leaves no valid offset at all
                self.seg_hi[s] = 0
            self.seg_rw[s] = 1 | (2 if a & 0x200 else 0)
        else:
            self.seg_lo[s] = 0
            self.seg_hi[s] = self.limit[s]
            if a & 0x800:
                self.seg_rw[s] = 1 if a & 0x200 else 0        # code: readable or not
            elif a & 0x1000:
                self.seg_rw[s] = 1 | (2 if a & 0x200 else 0)  # data: writable or not
            else:
                self.seg_rw[s] = 0                           # system descriptor
        if s == S_CS:
            self.code32 = (a & 0x400000) != 0
            self.dc_mode = 4 if self.code32 else 2
            self.fw_n = 0                   # base, limit or D bit may have changed
        elif s == S_SS:
            self.ss32 = (a & 0x400000) != 0

    @cython.final
    cdef void seg_fault(self, int seg) noexcept:
        # A segment-limit or type violation: #SS(0) for the stack segment in
        # protected mode and on the 386+, #GP(0) otherwise.
        if seg == S_SS and (self.isa >= ISA_386 or self.pe):
            self.fault(EXC_SS, 0)
        self.fault(EXC_GP, 0)

    # ---- paging (80386+): a direct-mapped software TLB in front of the page walk
    @cython.final
    cdef void tlb_flush(self) noexcept:
        cdef int i
        for i in range(TLB_SIZE):
            self.tlb_vpn[i] = 0xFFFFFFFFu
        self.tlb_large = False
        self.hptr_flush()

    @cython.final
    cdef void tlb_flush_nonglobal(self) noexcept:
        # A CR3 load or task switch keeps the global pages' entries while CR4.PGE is
        # set [SDM vol. 3, "Global Pages"]; without PGE nothing is marked global.
        cdef int i
        if not (self.cr4 & CR4_PGE):
            self.tlb_flush()
            return
        for i in range(TLB_SIZE):
            if not (self.tlb_perm[i] & TLB_GLOBAL):
                self.tlb_vpn[i] = 0xFFFFFFFFu
        self.hptr_flush()       # the host-pointer entries are all remade (never wrong)

    @cython.final
    cdef void tlb_invalidate(self, uint32_t lin) noexcept:
        """INVLPG: drop the page holding `lin`, global or not; for a 4-MB or 2-MB page
        every granule the TLB holds of it."""
        cdef uint32_t vpn = lin >> 12, big
        cdef int i
        if self.tlb_vpn[vpn & (TLB_SIZE - 1)] == vpn:
            self.tlb_vpn[vpn & (TLB_SIZE - 1)] = 0xFFFFFFFFu
        if self.tlb_large:
            big = 9 if self.cr4 & CR4_PAE else 10         # 4-KB granules per large page
            for i in range(TLB_SIZE):
                if (self.tlb_perm[i] & TLB_LARGE) and (self.tlb_vpn[i] >> big) == (vpn >> big):
                    self.tlb_vpn[i] = 0xFFFFFFFFu
            # Host pointers do not say which page size made them: drop them all.
            self.hptr_flush()
        else:
            if (self.htlb_tag[vpn & (TLB_SIZE - 1)] & 0xFFFFF) == vpn:
                self.htlb_tag[vpn & (TLB_SIZE - 1)] = 0xFFFFFFFFu
            if (self.fetch_tag & 0xFFFFF) == vpn:
                self.fetch_tag = 0xFFFFFFFFu
            self.fw_n = 0
            self.trace_forget()

    @cython.final
    cdef uint32_t translate(self, uint32_t lin, int write) noexcept:
        cdef uint32_t vpn = lin >> 12
        cdef int i = vpn & (TLB_SIZE - 1)
        cdef uint8_t need = <uint8_t>(1 << (write + (2 if self.user else 0)))
        if self.tlb_vpn[i] == vpn and (self.tlb_perm[i] & need):
            return self.tlb_ppn[i] | (lin & 0xFFF)
        return self.page_walk(lin, write)

    @cython.final
    cdef inline uint8_t tlb_rights(self, bint us_ok, bint rw_ok, bint dirty, bint wp) noexcept:
        # Permissions the TLB may grant without another walk: a write needs the dirty
        # bit already set, so the first write to a clean page comes back to the walk.
        cdef uint8_t perm = 1                               # supervisor read
        if (rw_ok or not wp) and dirty:
            perm |= 2                                       # supervisor write
        if us_ok:
            perm |= 4                                       # user read
            if rw_ok and dirty:
                perm |= 8                                   # user write
        return perm

    @cython.final
    cdef inline void tlb_fill(self, uint32_t lin, uint32_t ppn, uint8_t perm) noexcept:
        cdef int i = (lin >> 12) & (TLB_SIZE - 1)
        self.tlb_vpn[i] = lin >> 12
        self.tlb_ppn[i] = ppn
        self.tlb_perm[i] = perm
        self.trace_forget()             # (a walk may have found a new translation)
        if perm & TLB_LARGE:
            self.tlb_large = True

    @cython.final
    cdef uint32_t page_walk(self, uint32_t lin, int write) noexcept:
        """Walk the two-level page tables (4 KiB pages, 4 MiB with CR4.PSE), set the
        accessed/dirty bits, check U/S and R/W, and fill the TLB; #PF on failure."""
        cdef uint32_t pde_addr, pde, pte_addr, pte, ppn, err
        cdef bint user = self.user, big
        cdef bint wp = (self.cr0 & 0x10000) != 0 and self.isa >= ISA_486
        if self.cr4 & CR4_PAE:
            return self.page_walk_pae(lin, write)
        err = (2 if write else 0) | (4 if user else 0)
        pde_addr = ((self.cr3 & 0xFFFFF000u) | ((lin >> 20) & 0xFFC)) & self.bus.addr_mask
        pde = self.phys_rd32(pde_addr)
        if not (pde & 1):
            self.page_fault(lin, err)
        big = (pde & 0x80) != 0 and (self.cr4 & CR4_PSE) != 0
        if big:
            pte = pde
            pte_addr = pde_addr
            ppn = (pde & 0xFFC00000u) | (lin & 0x003FF000)
        else:
            pte_addr = ((pde & 0xFFFFF000u) | ((lin >> 10) & 0xFFC)) & self.bus.addr_mask
            pte = self.phys_rd32(pte_addr)
            if not (pte & 1):
                self.page_fault(lin, err)
            ppn = pte & 0xFFFFF000u
        return self.walk_done(lin, err, write, wp, pde, pde_addr, pte, pte_addr, ppn, big)

    @cython.final
    cdef uint32_t walk_done(self, uint32_t lin, uint32_t err, int write, bint wp,
                            uint64_t pde, uint64_t pde_addr, uint64_t pte,
                            uint64_t pte_addr, uint64_t frame, bint big) noexcept:
        """The end of both walks, once the entries are read: the U/S and R/W checks, the
        accessed and dirty bits, the TLB entry.  For a large page `pte` is the PDE."""
        cdef bint user = self.user
        cdef bint us_ok = (pde & pte & 4) != 0, rw_ok = (pde & pte & 2) != 0
        cdef uint8_t perm
        if user and not us_ok:
            self.page_fault(lin, err | 1)
        if write and not rw_ok and (user or wp):
            self.page_fault(lin, err | 1)
        # Accessed bits on the way down; dirty on the final entry for a write.  Both
        # live in an entry's low dword.
        if not (pde & 0x20) or (big and write and not (pde & 0x40)):
            pde |= 0x20 | (0x40 if (big and write) else 0)
            self.phys_wr32_hi(pde_addr, <uint32_t>pde)
            self.dc_wrote = True
        if not big and (not (pte & 0x20) or (write and not (pte & 0x40))):
            pte |= 0x20 | (0x40 if write else 0)
            self.phys_wr32_hi(pte_addr, <uint32_t>pte)
            self.dc_wrote = True
        if frame >> 32:
            # Above 4 GiB (PAE) there is no memory on this board: the access goes to a
            # page nothing decodes (reads all ones, writes vanish).  Not cached, so the
            # TLB only ever holds 32-bit frames.
            return (self.bus.unclaimed_page() << PAGE_SHIFT) | (lin & 0xFFF)
        perm = self.tlb_rights(us_ok, rw_ok, (pte & 0x40) != 0, wp)
        if (pte & 0x100) and (self.cr4 & CR4_PGE):
            perm |= TLB_GLOBAL
        if big:
            perm |= TLB_LARGE
        self.tlb_fill(lin, <uint32_t>frame, perm)
        return <uint32_t>frame | (lin & 0xFFF)

    # ---- PAE paging (P6): three levels of 64-bit entries, 36-bit physical addresses
    @cython.final
    cdef bint read_pdptes(self, uint32_t cr3, bint check) noexcept:
        """Load the four PDPTEs from the 32-byte aligned table at `cr3`.  With `check`,
        a present entry with a reserved bit set loads nothing and returns False."""
        cdef uint64_t e[4]
        cdef uint32_t base = cr3 & 0xFFFFFFE0u, lo, hi
        cdef int k
        for k in range(4):
            lo = self.phys_rd32((base + 8 * k) & self.bus.addr_mask)
            hi = self.phys_rd32((base + 8 * k + 4) & self.bus.addr_mask)
            if check and (lo & 1) and ((lo & PDPTE_RSVD_LO) or (hi & PAE_RSVD_HI)):
                return False
            e[k] = (<uint64_t>hi << 32) | lo
        for k in range(4):
            self.pdpte[k] = e[k]
        return True

    @cython.final
    cdef void load_pdptes(self, uint32_t cr3) noexcept:
        # MOV to CR0/CR3/CR4 and task switches: a reserved bit is #GP(0) [SDM vol. 3,
        # "PDPTE Registers"]; the instruction changes nothing then.
        if not self.read_pdptes(cr3, True):
            self.fault(EXC_GP, 0)

    @cython.final
    cdef uint64_t phys_rd64(self, uint64_t p) noexcept:
        # A table entry above 4 GiB: nothing decodes it, so it reads as all ones (which
        # the walk then sees as a present entry with reserved bits set).
        if p >> 32:
            return 0xFFFFFFFFFFFFFFFFull
        p &= self.bus.addr_mask
        return (<uint64_t>self.phys_rd32(<uint32_t>p + 4) << 32) | self.phys_rd32(<uint32_t>p)

    @cython.final
    cdef void phys_wr32_hi(self, uint64_t p, uint32_t v) noexcept:
        # The accessed/dirty bits are in an entry's low dword; above 4 GiB they go nowhere.
        if not (p >> 32):
            self.phys_wr32(<uint32_t>p & self.bus.addr_mask, v)

    @cython.final
    cdef uint32_t page_walk_pae(self, uint32_t lin, int write) noexcept:
        """The PAE walk: a PDPTE register, a 64-bit PDE (a 2-MB page when PS is set,
        whatever CR4.PSE says), a 64-bit PTE.  Reserved bits in a present entry give
        #PF with RSVD (and P) set, before any U/S or R/W check."""
        cdef uint64_t pdpte, pde, pte, pde_addr, pte_addr, frame
        cdef uint32_t err
        cdef bint user = self.user, big
        cdef bint wp = (self.cr0 & 0x10000) != 0
        err = (2 if write else 0) | (4 if user else 0)
        pdpte = self.pdpte[lin >> 30]
        if not (pdpte & 1):
            self.page_fault(lin, err)
        pde_addr = (pdpte & 0xFFFFFF000ull) | ((lin >> 18) & 0xFF8)
        pde = self.phys_rd64(pde_addr)
        if not (pde & 1):
            self.page_fault(lin, err)
        big = (pde & 0x80) != 0
        if (pde >> 32) & PAE_RSVD_HI or (big and (pde & (PDE2M_RSVD_LO | self.pat_rsvd_2m))):
            self.page_fault(lin, err | PF_RSVD | 1)
        if big:
            pte = pde
            pte_addr = pde_addr
            frame = (pde & 0xFFFE00000ull) | (lin & 0x001FF000)
        else:
            pte_addr = (pde & 0xFFFFFF000ull) | ((lin >> 9) & 0xFF8)
            pte = self.phys_rd64(pte_addr)
            if not (pte & 1):
                self.page_fault(lin, err)
            if (pte >> 32) & PAE_RSVD_HI or (pte & self.pat_rsvd_pte):
                self.page_fault(lin, err | PF_RSVD | 1)
            frame = pte & 0xFFFFFF000ull
        return self.walk_done(lin, err, write, wp, pde, pde_addr, pte, pte_addr, frame, big)

    @cython.final
    cdef void page_fault(self, uint32_t lin, uint32_t err) noexcept:
        self.cr2 = lin
        self.fault(EXC_PF, err)

    @cython.final
    cdef uint32_t phys_rd32(self, uint32_t p) noexcept:
        cdef uint8_t* page = self.rptr[p >> PAGE_SHIFT]
        if page != NULL and (p & (PAGE_SIZE - 1)) <= PAGE_SIZE - 4:
            return (<uint32_t*>(page + (p & (PAGE_SIZE - 1))))[0]
        return self.mmio_read(p, 4)

    @cython.final
    cdef void phys_wr32(self, uint32_t p, uint32_t v) noexcept:
        cdef uint8_t* page = self.wptr[p >> PAGE_SHIFT]
        if page != NULL and (p & (PAGE_SIZE - 1)) <= PAGE_SIZE - 4:
            (<uint32_t*>(page + (p & (PAGE_SIZE - 1))))[0] = v
        elif self.rptr[p >> PAGE_SHIFT] == NULL:
            self.mmio_write(p, 4, v)

    # ---- system (supervisor) accesses: descriptor tables, TSS, IDT
    @cython.final
    cdef uint32_t rd_sys(self, uint32_t lin, int size) noexcept:
        cdef bint user = self.user
        cdef uint32_t v
        self.set_user(False)
        v = self.rd_hooked(lin, size) if self.hook_rd else self.rd_lin(lin, size)
        self.set_user(user)
        return v

    @cython.final
    cdef void wr_sys(self, uint32_t lin, int size, uint32_t v) noexcept:
        cdef bint user = self.user
        self.set_user(False)
        if self.hook_mem:
            self.wr_hooked(lin, size, v)
        else:
            self.wr_lin(lin, size, v)
        self.set_user(user)

    # ---- descriptors
    @cython.final
    cdef uint64_t read_desc(self, uint32_t sel, int exc) noexcept:
        """The 8-byte descriptor for `sel` from the GDT or LDT; `exc`(sel) if outside."""
        cdef uint32_t tbase, tlimit, idx = sel & 0xFFF8
        if sel & 4:
            if not (self.access[S_LDTR] & 0x8000) or (self.sel[S_LDTR] & 0xFFFC) == 0:
                self.fault(exc, sel & 0xFFFC)
            tbase = self.base[S_LDTR]
            tlimit = self.limit[S_LDTR]
        else:
            tbase = self.gdtr_base
            tlimit = self.gdtr_limit
        if idx + 7 > tlimit:
            self.fault(exc, sel & 0xFFFC)
        self.desc_addr = tbase + idx
        return (<uint64_t>self.rd_sys(tbase + idx + 4, 4) << 32) | self.rd_sys(tbase + idx, 4)

    @cython.final
    cdef void set_accessed(self, uint64_t d, uint32_t addr) noexcept:
        # The CPU sets the accessed bit of a segment descriptor when it loads it.
        if not (d & (<uint64_t>0x100 << 32)):
            self.wr_sys(addr + 5, 1, <uint32_t>((d >> 40) & 0xFF) | 1)

    @cython.final
    cdef void load_cache(self, int s, uint32_t sel, uint64_t d) noexcept:
        cdef uint32_t lo = <uint32_t>d, hi = <uint32_t>(d >> 32)
        cdef uint32_t lim = (lo & 0xFFFF) | (hi & 0xF0000)
        if hi & 0x800000:
            lim = (lim << 12) | 0xFFF            # granularity: 4 KiB units
        self.sel[s] = sel
        self.base[s] = (lo >> 16) | ((hi & 0xFF) << 16) | (hi & 0xFF000000u)
        self.limit[s] = lim
        self.access[s] = (hi & 0x00F0FF00) | 0x100
        self.seg_update(s)

    @cython.final
    cdef void load_null(self, int s, uint32_t sel) noexcept:
        self.sel[s] = sel
        self.base[s] = 0
        self.limit[s] = 0
        self.access[s] = 0
        self.seg_update(s)

    @cython.final
    cdef void load_seg_pm(self, int s, uint32_t sel) noexcept:
        """MOV/POP/LxS into a data or stack segment register, with every check of the
        Intel SDM (vol. 3, 'segment-register loading in protected mode')."""
        cdef uint64_t d
        cdef uint32_t a, dpl, rpl = sel & 3
        if (sel & 0xFFFC) == 0:
            if s == S_SS:
                self.fault(EXC_GP, 0)
            self.load_null(s, sel)
            return
        d = self.read_desc(sel, EXC_GP)
        a = <uint32_t>(d >> 32) & 0xFF00
        dpl = (a >> 13) & 3
        if s == S_SS:
            # SS: a writable data segment with RPL = DPL = CPL.
            if (a & 0x1A00) != 0x1200 or rpl != <uint32_t>self.cpl or dpl != <uint32_t>self.cpl:
                self.fault(EXC_GP, sel & 0xFFFC)
            if not (a & 0x8000):
                self.fault(EXC_SS, sel & 0xFFFC)
        else:
            # Data or readable code; privilege applies unless conforming code.
            if not (a & 0x1000) or (a & 0xA00) == 0x800:
                self.fault(EXC_GP, sel & 0xFFFC)
            if (a & 0xC00) != 0xC00 and (rpl > dpl or <uint32_t>self.cpl > dpl):
                self.fault(EXC_GP, sel & 0xFFFC)
            if not (a & 0x8000):
                self.fault(EXC_NP, sel & 0xFFFC)
        self.set_accessed(d, self.desc_addr)
        self.load_cache(s, sel, d)

    @cython.final
    cdef uint64_t check_code(self, uint32_t sel, int exc_np) noexcept:
        """Fetch a code-segment descriptor for a control transfer (#GP(sel) if not code)."""
        cdef uint64_t d
        if (sel & 0xFFFC) == 0:
            self.fault(EXC_GP, 0)
        d = self.read_desc(sel, EXC_GP)
        if (<uint32_t>(d >> 32) & 0x1800) != 0x1800:
            self.fault(EXC_GP, sel & 0xFFFC)
        self.code_desc_addr = self.desc_addr
        return d

    @cython.final
    cdef void load_cs(self, uint32_t sel, uint64_t d, int new_cpl) noexcept:
        # The caller has left the descriptor's address in code_desc_addr.
        self.set_accessed(d, self.code_desc_addr)
        self.load_cache(S_CS, (sel & 0xFFFC) | new_cpl, d)
        self.cpl = new_cpl
        self.set_user(new_cpl == 3)
        self.update_ac_check()

    @cython.final
    cdef inline uint32_t desc_limit(self, uint64_t d) noexcept:
        cdef uint32_t lo = <uint32_t>d, hi = <uint32_t>(d >> 32)
        cdef uint32_t lim = (lo & 0xFFFF) | (hi & 0xF0000)
        if hi & 0x800000:
            lim = (lim << 12) | 0xFFF
        return lim

    @cython.final
    cdef inline uint32_t desc_base(self, uint64_t d) noexcept:
        cdef uint32_t lo = <uint32_t>d, hi = <uint32_t>(d >> 32)
        return (lo >> 16) | ((hi & 0xFF) << 16) | (hi & 0xFF000000u)

    # ---- stack helpers for transfers that build a frame before committing
    @cython.final
    cdef void push_to(self, uint32_t* sp, bint big, uint32_t v, int size) noexcept:
        if big:
            sp[0] = sp[0] - size
            self.wr(S_SS, sp[0], size, v)
        else:
            sp[0] = (sp[0] - size) & 0xFFFF
            self.wr(S_SS, sp[0], size, v)

    @cython.final
    cdef void set_sp(self, uint32_t sp) noexcept:
        if self.ss32:
            self.r[R_ESP] = sp
        else:
            self.r[R_ESP] = (self.r[R_ESP] & 0xFFFF0000u) | (sp & 0xFFFF)

    @cython.final
    cdef uint32_t cur_sp(self) noexcept:
        return self.r[R_ESP] if self.ss32 else self.r[R_ESP] & 0xFFFF

    # ---- TSS
    @cython.final
    cdef void tss_stack(self, int dpl, uint32_t* ss, uint32_t* sp) noexcept:
        """The inner stack SS:ESP for privilege `dpl` from the current TSS (#TS on failure)."""
        cdef uint32_t t = (self.access[S_TR] >> 8) & 0xF
        cdef uint32_t off
        if t == 0x9 or t == 0xB:
            off = 4 + dpl * 8
            if off + 5 > self.limit[S_TR]:
                self.fault(EXC_TS, self.sel[S_TR] & 0xFFFC)
            sp[0] = self.rd_sys(self.base[S_TR] + off, 4)
            ss[0] = self.rd_sys(self.base[S_TR] + off + 4, 2)
        else:
            off = 2 + dpl * 4
            if off + 3 > self.limit[S_TR]:
                self.fault(EXC_TS, self.sel[S_TR] & 0xFFFC)
            sp[0] = self.rd_sys(self.base[S_TR] + off, 2)
            ss[0] = self.rd_sys(self.base[S_TR] + off + 2, 2)

    @cython.final
    cdef uint64_t check_inner_ss(self, uint32_t ss, int dpl) noexcept:
        """Validate a stack segment taken from the TSS for privilege `dpl` (#TS/#SS)."""
        cdef uint64_t d
        cdef uint32_t a
        if (ss & 0xFFFC) == 0:
            self.fault(EXC_TS, ss & 0xFFFC)
        d = self.read_desc(ss, EXC_TS)
        self.ss_desc_addr = self.desc_addr
        a = <uint32_t>(d >> 32) & 0xFF00
        if (ss & 3) != <uint32_t>dpl or ((a >> 13) & 3) != <uint32_t>dpl or (a & 0x1A00) != 0x1200:
            self.fault(EXC_TS, ss & 0xFFFC)
        if not (a & 0x8000):
            self.fault(EXC_SS, ss & 0xFFFC)
        return d

    @cython.final
    cdef void null_outer_segments(self) noexcept:
        # After a return to an outer level, data registers the new CPL may not use
        # are nulled (conforming code excepted).
        cdef int s
        cdef uint32_t a
        for s in range(S_GS + 1):               # ES, DS, FS, GS in that order
            if s == S_CS or s == S_SS:
                continue
            a = self.access[s]
            if (a & 0x8000) and ((a & 0x1C00) != 0x1C00) and ((a >> 13) & 3) < <uint32_t>self.cpl:
                self.load_null(s, 0)

    # ---- documented protected-mode costs (they replace the opcode table's figure)
    @cython.final
    cdef uint32_t pm_cost(self, str key) noexcept:
        v = self.pm_costs.get(key)
        return <uint32_t>v if v is not None else 0

    @cython.final
    cdef void charge_pm(self, str key) noexcept:
        # '_m' keys are the memory-indirect forms (FF /3, FF /5).
        cdef uint32_t c = 0
        if self.mod != 3:
            c = self.pm_cost(key + "_m")
        if c == 0:
            c = self.pm_cost(key)
        if c:
            self.cyc_override = c

    @cython.final
    cdef uint32_t task_switch_cost(self, str instr, uint32_t old_access, uint32_t new_access,
                                   bint new_v86) noexcept:
        base_key = {"jmp": "jmp_tss", "call": "call_tss", "iret": "iret_task",
                    "int": "int_task_gate"}[instr]
        old = "tss32" if (old_access >> 8) & 8 else "tss16"
        if self.v86:
            old = "v86"
        new = "v86" if new_v86 else ("tss32" if (new_access >> 8) & 8 else "tss16")
        return self.pm_cost(base_key) + self.pm_cost("ts_%s_%s_to_%s" % (instr, old, new))

    # ---- far JMP / CALL
    @cython.final
    cdef void far_jump(self, uint32_t sel, uint32_t off, bint call) noexcept:
        cdef uint64_t d, td, sd
        cdef uint32_t a, t, dpl, rpl = sel & 3, tsel, toff, nparam, i, v
        cdef uint32_t new_ss, new_sp, old_ss, old_sp, old_esp, sp
        cdef int gsize
        cdef bint big
        if not self.pe:
            if call:
                self.push(self.sel[S_CS], self.opsize)
                self.push(self.eip, self.opsize)
            self.load_seg(S_CS, sel)
            self.eip = off
            return
        d = self.read_desc(sel, EXC_GP) if (sel & 0xFFFC) else 0
        if (sel & 0xFFFC) == 0:
            self.fault(EXC_GP, 0)
        a = <uint32_t>(d >> 32) & 0xFF00
        dpl = (a >> 13) & 3
        self.code_desc_addr = self.desc_addr
        if a & 0x1000:
            if not (a & 0x800):
                self.fault(EXC_GP, sel & 0xFFFC)
            if a & 0x400:
                if dpl > <uint32_t>self.cpl:
                    self.fault(EXC_GP, sel & 0xFFFC)
            elif rpl > <uint32_t>self.cpl or dpl != <uint32_t>self.cpl:
                self.fault(EXC_GP, sel & 0xFFFC)
            if not (a & 0x8000):
                self.fault(EXC_NP, sel & 0xFFFC)
            if off > self.desc_limit(d):
                self.fault(EXC_GP, 0)
            if call:
                self.push(self.sel[S_CS], self.opsize)
                self.push(self.eip, self.opsize)
            self.load_cs(sel, d, self.cpl)
            self.eip = off
            self.charge_pm("call_far" if call else "jmp_far")
            return
        t = (a >> 8) & 0xF
        if t == 1 or t == 9 or t == 5:
            # TSS or task gate: a task switch.
            if dpl < <uint32_t>self.cpl or dpl < rpl:
                self.fault(EXC_GP, sel & 0xFFFC)
            if not (a & 0x8000):
                self.fault(EXC_NP, sel & 0xFFFC)
            if t == 5:
                tsel = <uint32_t>(d >> 16) & 0xFFFF
                td = self.read_desc(tsel, EXC_GP)
                if tsel & 4:
                    self.fault(EXC_GP, tsel & 0xFFFC)
                self.task_switch(tsel, td, TASK_CALL if call else TASK_JMP)
            else:
                self.task_switch(sel, d, TASK_CALL if call else TASK_JMP)
            self.cyc_override = self.last_ts_cost
            return
        if t != 4 and t != 0xC:
            self.fault(EXC_GP, sel & 0xFFFC)
        # Call gate.
        if dpl < <uint32_t>self.cpl or dpl < rpl:
            self.fault(EXC_GP, sel & 0xFFFC)
        if not (a & 0x8000):
            self.fault(EXC_NP, sel & 0xFFFC)
        tsel = <uint32_t>(d >> 16) & 0xFFFF
        toff = <uint32_t>d & 0xFFFF
        gsize = 2
        if t == 0xC:
            toff |= <uint32_t>(d >> 32) & 0xFFFF0000u
            gsize = 4
        nparam = <uint32_t>(d >> 32) & 0x1F
        td = self.check_code(tsel, EXC_NP)
        a = <uint32_t>(td >> 32) & 0xFF00
        dpl = (a >> 13) & 3
        if dpl > <uint32_t>self.cpl:
            self.fault(EXC_GP, tsel & 0xFFFC)
        if not call and not (a & 0x400) and dpl != <uint32_t>self.cpl:
            self.fault(EXC_GP, tsel & 0xFFFC)
        if not (a & 0x8000):
            self.fault(EXC_NP, tsel & 0xFFFC)
        if toff > self.desc_limit(td):
            self.fault(EXC_GP, 0)
        if call and not (a & 0x400) and dpl < <uint32_t>self.cpl:
            # Inner privilege: switch to the stack in the TSS, copy the parameters.
            self.tss_stack(dpl, &new_ss, &new_sp)
            sd = self.check_inner_ss(new_ss, dpl)
            old_ss = self.sel[S_SS]
            old_sp = self.cur_sp()
            old_esp = self.r[R_ESP]
            big = self.ss32
            # Read the parameters from the old stack before switching.
            for i in range(nparam):
                self.param_buf[i] = self.rd(S_SS, (old_sp + (nparam - 1 - i) * gsize) & (0xFFFFFFFFu if big else 0xFFFF), gsize)
            self.set_accessed(sd, self.ss_desc_addr)
            self.load_cache(S_SS, new_ss, sd)
            self.set_user(dpl == 3)        # the inner stack is written at the new level
            sp = new_sp
            big = self.ss32
            self.push_to(&sp, big, old_ss, gsize)
            self.push_to(&sp, big, old_esp, gsize)     # tempESP <- ESP (SDM CALL)
            for i in range(nparam):
                self.push_to(&sp, big, self.param_buf[i], gsize)
            self.push_to(&sp, big, self.sel[S_CS], gsize)
            self.push_to(&sp, big, self.eip, gsize)
            self.set_sp(sp)
            self.load_cs(tsel, td, dpl)
            self.eip = toff
            if nparam:
                self.cyc_override = (self.pm_cost("call_gate_inner_x") +
                                     nparam * self.pm_cost("call_gate_per_param"))
            else:
                self.charge_pm("call_gate_inner")
            return
        if call:
            self.push(self.sel[S_CS], gsize)
            self.push(self.eip, gsize)
        self.load_cs(tsel, td, self.cpl)
        self.eip = toff
        self.charge_pm("call_gate_same" if call else "jmp_gate")

    # ---- far RET (and the common return-to-outer-level part of IRET)
    @cython.final
    cdef void far_return(self, uint32_t release) noexcept:
        cdef uint32_t sp = self.cur_sp(), off, sel, new_sp, new_ss
        cdef uint32_t amask = 0xFFFFFFFFu if self.ss32 else 0xFFFF
        cdef int size = self.opsize
        cdef uint64_t d, sd
        cdef uint32_t a, dpl, rpl
        if not self.pe:
            off = self.pop(size)
            sel = self.pop(size)
            self.load_seg(S_CS, sel & 0xFFFF)
            self.eip = off if size == 4 else off & 0xFFFF
            self.release_stack(release)
            return
        off = self.rd(S_SS, sp, size)
        sel = self.rd(S_SS, (sp + size) & amask, size) & 0xFFFF
        rpl = sel & 3
        d = self.check_return_cs(sel, off)
        if rpl == <uint32_t>self.cpl:
            self.set_sp((sp + 2 * size + release) & amask)
            self.load_cs(sel, d, rpl)
            self.eip = off if size == 4 else off & 0xFFFF
            self.charge_pm("ret_far_imm" if release else "ret_far")
            return
        # Return to an outer level: the outer SS:ESP sits above the parameters.
        new_sp = self.rd(S_SS, (sp + 2 * size + release) & amask, size)
        new_ss = self.rd(S_SS, (sp + 3 * size + release) & amask, size) & 0xFFFF
        sd = self.check_outer_ss(new_ss, rpl)
        self.load_cs(sel, d, rpl)
        self.eip = off if size == 4 else off & 0xFFFF
        self.set_accessed(sd, self.ss_desc_addr)
        self.load_cache(S_SS, new_ss, sd)
        if self.ss32:
            self.r[R_ESP] = new_sp + release
        else:
            self.r[R_ESP] = (self.r[R_ESP] & 0xFFFF0000u) | ((new_sp + release) & 0xFFFF)
        self.null_outer_segments()
        self.charge_pm("ret_far_imm_outer" if release else "ret_far_outer")

    @cython.final
    cdef uint64_t check_return_cs(self, uint32_t sel, uint32_t off) noexcept:
        """The checks of a far RET or IRET on the code segment it returns to: never to
        an inner level, a present code segment whose DPL matches the RPL (conforming:
        DPL <= RPL), and the offset within its limit."""
        cdef uint64_t d
        cdef uint32_t a, dpl, rpl = sel & 3
        if rpl < <uint32_t>self.cpl:
            self.fault(EXC_GP, sel & 0xFFFC)
        d = self.check_code(sel, EXC_NP)
        a = <uint32_t>(d >> 32) & 0xFF00
        dpl = (a >> 13) & 3
        if (a & 0x400 and dpl > rpl) or (not (a & 0x400) and dpl != rpl):
            self.fault(EXC_GP, sel & 0xFFFC)
        if not (a & 0x8000):
            self.fault(EXC_NP, sel & 0xFFFC)
        if off > self.desc_limit(d):
            self.fault(EXC_GP, 0)
        return d

    @cython.final
    cdef uint64_t check_outer_ss(self, uint32_t ss, uint32_t rpl) noexcept:
        cdef uint64_t d
        cdef uint32_t a
        if (ss & 0xFFFC) == 0:
            self.fault(EXC_GP, 0)
        d = self.read_desc(ss, EXC_GP)
        self.ss_desc_addr = self.desc_addr
        a = <uint32_t>(d >> 32) & 0xFF00
        if (ss & 3) != rpl or ((a >> 13) & 3) != rpl or (a & 0x1A00) != 0x1200:
            self.fault(EXC_GP, ss & 0xFFFC)
        if not (a & 0x8000):
            self.fault(EXC_SS, ss & 0xFFFC)
        return d

    # ---- IRET
    @cython.final
    cdef void do_iret(self) noexcept:
        cdef int size = self.opsize
        cdef uint32_t sp, amask, off, sel, fl, new_sp, new_ss, i, v
        cdef uint32_t segs[4]
        cdef uint64_t d, sd
        cdef uint32_t a, dpl, rpl, link
        if not self.pe:
            if self.v86 and ((self.eflags >> 12) & 3) < 3:
                self.fault(EXC_GP, 0)
            off = self.pop(size)
            sel = self.pop(size)
            fl = self.pop(size)
            self.load_seg(S_CS, sel & 0xFFFF)
            self.eip = off if size == 4 else off & 0xFFFF
            if self.v86:
                # IOPL stays as it is in virtual-8086 mode; VM and RF cannot change.
                fl = (fl & ~<uint32_t>F_IOPL) | (self.eflags & F_IOPL)
            self.set_flags(fl, size)
            return
        if self.eflags & F_NT:
            # Return from a nested task through the TSS back link.
            link = self.rd_sys(self.base[S_TR], 2)
            d = self.read_desc(link, EXC_TS)
            if link & 4:
                self.fault(EXC_TS, link & 0xFFFC)
            a = <uint32_t>(d >> 32) & 0x1F00
            if a != 0x0B00 and a != 0x0300:
                self.fault(EXC_TS, link & 0xFFFC)
            self.task_switch(link, d, TASK_IRET)
            self.cyc_override = self.last_ts_cost
            return
        sp = self.cur_sp()
        amask = 0xFFFFFFFFu if self.ss32 else 0xFFFF
        off = self.rd(S_SS, sp, size)
        sel = self.rd(S_SS, (sp + size) & amask, size) & 0xFFFF
        fl = self.rd(S_SS, (sp + 2 * size) & amask, size)
        if size == 4 and (fl & F_VM) and self.cpl == 0:
            # Return to virtual-8086 mode: the frame also holds SS:ESP and ES DS FS GS.
            new_sp = self.rd(S_SS, (sp + 12) & amask, 4)
            new_ss = self.rd(S_SS, (sp + 16) & amask, 4)
            for i in range(4):
                segs[i] = self.rd(S_SS, (sp + 20 + 4 * i) & amask, 4)
            self.eflags = (fl & (self.flags_settable32 | F_VM | F_RF)) | self.flags_fixed1
            self.update_mode()
            self.cpl = 3
            self.set_user(True)
            self.load_seg(S_CS, sel)
            self.eip = off & 0xFFFF
            self.load_seg(S_SS, new_ss & 0xFFFF)
            self.r[R_ESP] = new_sp
            self.load_seg(S_ES, segs[0] & 0xFFFF)
            self.load_seg(S_DS, segs[1] & 0xFFFF)
            self.load_seg(S_FS, segs[2] & 0xFFFF)
            self.load_seg(S_GS, segs[3] & 0xFFFF)
            self.charge_pm("iret_to_v86")
            return
        rpl = sel & 3
        d = self.check_return_cs(sel, off)
        if rpl == <uint32_t>self.cpl:
            self.set_sp((sp + 3 * size) & amask)
            self.load_cs(sel, d, rpl)
            self.eip = off if size == 4 else off & 0xFFFF
            self.set_flags_pm(fl, size, self.cpl)
            self.charge_pm("iret")
            return
        new_sp = self.rd(S_SS, (sp + 3 * size) & amask, size)
        new_ss = self.rd(S_SS, (sp + 4 * size) & amask, size) & 0xFFFF
        sd = self.check_outer_ss(new_ss, rpl)
        # Flags are written with the privilege of the level being left.
        self.set_flags_pm(fl, size, self.cpl)
        self.load_cs(sel, d, rpl)
        self.eip = off if size == 4 else off & 0xFFFF
        self.set_accessed(sd, self.ss_desc_addr)
        self.load_cache(S_SS, new_ss, sd)
        self.set_sp(new_sp)
        self.null_outer_segments()
        self.charge_pm("iret_outer")

    @cython.final
    cdef void set_flags_pm(self, uint32_t v, int size, int cpl) noexcept:
        """POPF/IRET flag update in protected mode: IOPL only at CPL 0, IF only when
        CPL <= IOPL; VM and RF are not changed this way."""
        cdef uint32_t settable = self.flags_settable32 if size == 4 else self.flags_settable16
        if self.pe:
            if cpl > 0:
                settable &= ~<uint32_t>F_IOPL
            if cpl > <int>((self.eflags >> 12) & 3):
                settable &= ~<uint32_t>F_IF
        elif self.v86:
            settable &= ~<uint32_t>F_IOPL
        self.eflags = (self.eflags & ~settable) | (v & settable) | self.flags_fixed1
        if size == 4:
            self.update_ac_check()

    # ---- interrupts and exceptions through the IDT
    @cython.final
    cdef void interrupt_pm(self, int vec, uint32_t ret_eip, int err, bint soft) noexcept:
        cdef uint32_t gate_lo, gate_hi, a, t, dpl, tsel, toff, new_ss, new_sp, sp
        cdef uint64_t td, sd, d
        cdef int gsize
        cdef bint from_v86 = self.v86, big
        cdef uint32_t old_ss, old_sp, old_fl
        if <uint32_t>(vec * 8 + 7) > self.idtr_limit:
            self.fault(EXC_GP, vec * 8 + 2)
        gate_lo = self.rd_sys(self.idtr_base + vec * 8, 4)
        gate_hi = self.rd_sys(self.idtr_base + vec * 8 + 4, 4)
        a = gate_hi & 0xFF00
        t = (a >> 8) & 0x1F
        if t != 5 and t != 6 and t != 7 and t != 0xE and t != 0xF:
            self.fault(EXC_GP, vec * 8 + 2)
        dpl = (a >> 13) & 3
        if soft and dpl < <uint32_t>self.cpl:
            self.fault(EXC_GP, vec * 8 + 2)
        if not (a & 0x8000):
            self.fault(EXC_NP, vec * 8 + 2)
        if t == 5:
            tsel = gate_lo >> 16
            if tsel & 4:
                self.fault(EXC_TS, tsel & 0xFFFC)
            d = self.read_desc(tsel, EXC_TS)
            self.eip = ret_eip          # what the old TSS saves: the fault or the next insn
            self.task_switch(tsel, d, TASK_INT)
            if err >= 0:
                self.push(<uint32_t>err, 4 if ((self.access[S_TR] >> 8) & 8) else 2)
            self.int_cost = self.last_ts_cost
            return
        gsize = 4 if t >= 0xE else 2
        tsel = gate_lo >> 16
        toff = (gate_lo & 0xFFFF) | ((gate_hi & 0xFFFF0000u) if gsize == 4 else 0)
        if (tsel & 0xFFFC) == 0:
            self.fault(EXC_GP, 0)
        td = self.read_desc(tsel, EXC_GP)
        self.code_desc_addr = self.desc_addr
        a = <uint32_t>(td >> 32) & 0xFF00
        dpl = (a >> 13) & 3
        if (a & 0x1800) != 0x1800 or dpl > <uint32_t>self.cpl:
            self.fault(EXC_GP, tsel & 0xFFFC)
        if not (a & 0x8000):
            self.fault(EXC_NP, tsel & 0xFFFC)
        if toff > self.desc_limit(td):
            self.fault(EXC_GP, 0)
        old_fl = self.get_flags()
        if not (a & 0x400) and dpl < <uint32_t>self.cpl:
            # Inner privilege (or from virtual-8086 mode, which must go to ring 0).
            if from_v86 and dpl != 0:
                self.fault(EXC_GP, tsel & 0xFFFC)
            self.tss_stack(dpl, &new_ss, &new_sp)
            sd = self.check_inner_ss(new_ss, dpl)
            old_ss = self.sel[S_SS]
            old_sp = self.r[R_ESP]          # tempESP <- ESP, whatever the old B bit
            self.set_accessed(sd, self.ss_desc_addr)
            self.load_cache(S_SS, new_ss, sd)
            # The frame goes onto the inner stack with the inner level's privilege.
            self.set_user(False)
            sp = new_sp
            big = self.ss32
            if from_v86:
                self.push_to(&sp, big, self.sel[S_GS], gsize)
                self.push_to(&sp, big, self.sel[S_FS], gsize)
                self.push_to(&sp, big, self.sel[S_DS], gsize)
                self.push_to(&sp, big, self.sel[S_ES], gsize)
            self.push_to(&sp, big, old_ss, gsize)
            self.push_to(&sp, big, old_sp, gsize)
            self.push_to(&sp, big, old_fl, gsize)
            self.push_to(&sp, big, self.sel[S_CS], gsize)
            self.push_to(&sp, big, ret_eip, gsize)
            if err >= 0:
                self.push_to(&sp, big, <uint32_t>err, gsize)
            self.set_sp(sp)
            if from_v86:
                for s in range(S_GS, -1, -1):     # GS, FS, DS, ES in that order
                    if s != S_CS and s != S_SS:
                        self.load_null(s, 0)
            self.eflags &= ~<uint32_t>(F_TF | F_NT | F_VM | F_RF)
            self.update_mode()
            self.load_cs(tsel, td, dpl)
            self.int_cost = self.pm_cost("int_from_v86" if from_v86 else "int_inner")
        else:
            if from_v86:
                self.fault(EXC_GP, tsel & 0xFFFC)
            self.push(old_fl, gsize)
            self.push(self.sel[S_CS], gsize)
            self.push(ret_eip, gsize)
            if err >= 0:
                self.push(<uint32_t>err, gsize)
            self.eflags &= ~<uint32_t>(F_TF | F_NT | F_VM | F_RF)
            self.load_cs(tsel, td, self.cpl)
            self.int_cost = self.pm_cost("int_same")
        if t == 6 or t == 0xE:
            self.eflags &= ~<uint32_t>F_IF          # interrupt gates; trap gates keep IF
        self.eip = toff

    # ---- hardware task switch (286 and 386 TSS formats)
    @cython.final
    cdef void task_switch(self, uint32_t sel, uint64_t d, int source) noexcept:
        cdef uint32_t hi = <uint32_t>(d >> 32)
        cdef uint32_t t = (hi >> 8) & 0xF, old_t
        cdef bint new32 = (t & 8) != 0, old32
        cdef uint32_t nbase = self.desc_base(d), nlimit = self.desc_limit(d)
        cdef uint32_t obase = self.base[S_TR], fl, i, v, link_sel
        cdef uint32_t regs[8]
        cdef uint32_t segs[6]
        cdef uint32_t n_eip, n_fl, n_ldt, n_cr3 = 0
        cdef uint64_t od, sd
        cdef int s, new_cpl
        if source == TASK_IRET:
            if not (t & 2):
                self.fault(EXC_TS, sel & 0xFFFC)
        elif t & 2:
            self.fault(EXC_GP, sel & 0xFFFC)        # busy: no recursion
        if not (hi & 0x8000):
            self.fault(EXC_NP, sel & 0xFFFC)
        if nlimit < (0x67 if new32 else 0x2B):
            self.fault(EXC_TS, sel & 0xFFFC)
        # Read the new task's state first (a fault here leaves the old task intact).
        if new32:
            n_cr3 = self.rd_sys(nbase + 0x1C, 4)
            n_eip = self.rd_sys(nbase + 0x20, 4)
            n_fl = self.rd_sys(nbase + 0x24, 4)
            for i in range(8):
                regs[i] = self.rd_sys(nbase + 0x28 + 4 * i, 4)
            for i in range(6):
                segs[i] = self.rd_sys(nbase + 0x48 + 4 * i, 2)
            n_ldt = self.rd_sys(nbase + 0x60, 2)
        else:
            n_eip = self.rd_sys(nbase + 0x0E, 2)
            n_fl = self.rd_sys(nbase + 0x10, 2)
            for i in range(8):
                regs[i] = self.rd_sys(nbase + 0x12 + 2 * i, 2) | (self.r[i] & 0xFFFF0000u)
            for i in range(4):
                segs[i] = self.rd_sys(nbase + 0x22 + 2 * i, 2)
            segs[4] = segs[5] = 0
            n_ldt = self.rd_sys(nbase + 0x2A, 2)
        # Save the outgoing task.
        old_t = (self.access[S_TR] >> 8) & 0xF
        old32 = (old_t & 8) != 0
        fl = self.get_flags()
        if source == TASK_IRET:
            fl &= ~<uint32_t>F_NT
        if old32:
            self.wr_sys(obase + 0x20, 4, self.eip)
            self.wr_sys(obase + 0x24, 4, fl)
            for i in range(8):
                self.wr_sys(obase + 0x28 + 4 * i, 4, self.r[i])
            for i in range(6):
                self.wr_sys(obase + 0x48 + 4 * i, 2, self.sel[i])
        else:
            self.wr_sys(obase + 0x0E, 2, self.eip)
            self.wr_sys(obase + 0x10, 2, fl)
            for i in range(8):
                self.wr_sys(obase + 0x12 + 2 * i, 2, self.r[i])
            for i in range(4):
                self.wr_sys(obase + 0x22 + 2 * i, 2, self.sel[i])
        # Busy bits: the old task stays busy only when it is nested (CALL/INT).
        if source == TASK_JMP or source == TASK_IRET:
            od = self.read_desc(self.sel[S_TR], EXC_TS)
            self.wr_sys(self.desc_addr + 5, 1, <uint32_t>((od >> 40) & 0xFD))
        if source == TASK_CALL or source == TASK_INT:
            self.wr_sys(nbase, 2, self.sel[S_TR])        # back link
            n_fl |= F_NT
        if source != TASK_IRET:
            self.read_desc(sel, EXC_TS)
            self.wr_sys(self.desc_addr + 5, 1, ((hi >> 8) & 0xFF) | 2)
            hi |= 0x200
        self.last_ts_cost = self.task_switch_cost(
            ("jmp", "call", "int", "iret")[source], self.access[S_TR], hi,
            new32 and (n_fl & F_VM) != 0)
        # Load the new task.
        self.load_cache(S_TR, sel, (<uint64_t>hi << 32) | <uint32_t>d)
        self.cr0 |= 8                                       # TS: FPU state is stale
        if new32 and self.paging:
            if self.cr4 & CR4_PAE:
                self.load_pdptes(n_cr3)
            self.cr3 = n_cr3
            self.tlb_flush_nonglobal()
        self.eip = n_eip
        self.eflags = (n_fl & (self.flags_settable32 | F_VM | F_RF | F_NT)) | self.flags_fixed1
        for i in range(8):
            self.r[i] = regs[i]
        self.update_mode()
        if self.v86:
            for s in range(6):
                self.load_seg(s, segs[s])
            return
        # Selectors first without checks, then the LDT and each segment with checks
        # (errors are #TS against the new task, as the SDM orders them).
        for s in range(6):
            self.sel[s] = segs[s]
        new_cpl = segs[S_CS] & 3
        if (n_ldt & 0xFFFC) == 0:
            self.load_null(S_LDTR, n_ldt)
        else:
            if n_ldt & 4:
                self.fault(EXC_TS, n_ldt & 0xFFFC)
            od = self.read_desc(n_ldt, EXC_TS)
            if ((od >> 40) & 0x1F) != 2:
                self.fault(EXC_TS, n_ldt & 0xFFFC)
            self.load_cache(S_LDTR, n_ldt, od)
        if not self.pe:
            return
        od = self.read_desc(segs[S_CS], EXC_TS) if (segs[S_CS] & 0xFFFC) else 0
        self.code_desc_addr = self.desc_addr
        if (segs[S_CS] & 0xFFFC) == 0 or ((od >> 40) & 0x18) != 0x18:
            self.fault(EXC_TS, segs[S_CS] & 0xFFFC)
        self.load_cs(segs[S_CS], od, new_cpl)
        # In this order: SS, DS, ES, FS, GS.
        self.load_seg_pm(S_SS, segs[S_SS])
        self.load_seg_pm(S_DS, segs[S_DS])
        self.load_seg_pm(S_ES, segs[S_ES])
        self.load_seg_pm(S_FS, segs[S_FS])
        self.load_seg_pm(S_GS, segs[S_GS])

    # ---- I/O permission (CPL > IOPL in protected mode, always in v86 mode)
    @cython.final
    cdef void check_io(self, uint32_t port, int size) noexcept:
        cdef uint32_t iobase, off, bits
        if not (self.pe or self.v86):
            return
        if self.pe and self.cpl <= <int>((self.eflags >> 12) & 3):
            return
        if ((self.access[S_TR] >> 8) & 0xD) != 0x9:
            self.fault(EXC_GP, 0)                   # no 386 TSS, no bitmap
        if self.limit[S_TR] < 0x67:
            self.fault(EXC_GP, 0)
        iobase = self.rd_sys(self.base[S_TR] + 0x66, 2)
        off = iobase + (port >> 3)
        if off + 1 > self.limit[S_TR]:
            self.fault(EXC_GP, 0)
        bits = self.rd_sys(self.base[S_TR] + off, 2)
        if (bits >> (port & 7)) & ((1 << size) - 1):
            self.fault(EXC_GP, 0)

    @cython.final
    cdef inline void need_cpl0(self) noexcept:
        # Privileged instructions: #GP(0) outside ring 0 (v86 mode is ring 3).
        if (self.pe and self.cpl != 0) or self.v86:
            self.fault(EXC_GP, 0)

    @cython.final
    cdef inline bint iopl_ok(self) noexcept:
        return not (self.pe or self.v86) or self.cpl <= <int>((self.eflags >> 12) & 3)

    # ---- 0F00 group 6 and LAR/LSL/ARPL: protected mode only
    @cython.final
    cdef void group6(self) noexcept:
        cdef uint32_t sel, a, t
        cdef bint ok
        cdef uint64_t d
        if not self.pe:
            self.fault(EXC_UD, -1)
        if self.reg == 0 or self.reg == 1:
            sel = self.sel[S_LDTR if self.reg == 0 else S_TR]
            self.set_rm(2 if self.mod != 3 else self.opsize, sel)
            return
        if self.reg == 2 or self.reg == 3:
            self.need_cpl0()
            sel = self.get_rm(2)
            if self.reg == 2:
                if (sel & 0xFFFC) == 0:
                    self.load_null(S_LDTR, sel)
                    return
                if sel & 4:
                    self.fault(EXC_GP, sel & 0xFFFC)
                d = self.read_desc(sel, EXC_GP)
                if ((d >> 40) & 0x1F) != 2:
                    self.fault(EXC_GP, sel & 0xFFFC)
                if not ((d >> 40) & 0x80):
                    self.fault(EXC_NP, sel & 0xFFFC)
                self.load_cache(S_LDTR, sel, d)
            else:
                if (sel & 0xFFFC) == 0 or (sel & 4):
                    self.fault(EXC_GP, sel & 0xFFFC)
                d = self.read_desc(sel, EXC_GP)
                t = <uint32_t>(d >> 40) & 0x1F
                if t != 1 and t != 9:
                    self.fault(EXC_GP, sel & 0xFFFC)
                if not ((d >> 40) & 0x80):
                    self.fault(EXC_NP, sel & 0xFFFC)
                self.wr_sys(self.desc_addr + 5, 1, <uint32_t>((d >> 40) & 0xFF) | 2)
                d |= <uint64_t>0x200 << 32
                self.load_cache(S_TR, sel, d)
            return
        if self.reg == 4 or self.reg == 5:
            sel = self.get_rm(2)
            a = self.visible_access(sel)
            if a == 0xFFFFFFFFu or not (a & 0x1000):
                self.eflags &= ~<uint32_t>F_ZF
                return
            if self.reg == 4:
                ok = (a & 0x800) == 0 or (a & 0x200) != 0          # data, or readable code
            else:
                ok = (a & 0xA00) == 0x200                          # writable data
            if ok and (a & 0xC00) != 0xC00:
                ok = max(self.cpl, <int>(sel & 3)) <= <int>((a >> 13) & 3)
            if ok:
                self.eflags |= F_ZF
            else:
                self.eflags &= ~<uint32_t>F_ZF
            return
        self.fault(EXC_UD, -1)

    @cython.final
    cdef uint32_t visible_access(self, uint32_t sel) noexcept:
        """Access rights of `sel`'s descriptor without faulting (LAR/LSL/VERR/VERW);
        0xFFFFFFFF if the selector is null or outside its table."""
        cdef uint32_t tbase, tlimit
        if (sel & 0xFFFC) == 0:
            return 0xFFFFFFFFu
        if sel & 4:
            if not (self.access[S_LDTR] & 0x8000):
                return 0xFFFFFFFFu
            tbase, tlimit = self.base[S_LDTR], self.limit[S_LDTR]
        else:
            tbase, tlimit = self.gdtr_base, self.gdtr_limit
        if (sel & 0xFFF8) + 7 > tlimit:
            return 0xFFFFFFFFu
        self.desc_addr = tbase + (sel & 0xFFF8)
        self.desc_lo = self.rd_sys(self.desc_addr, 4)
        return self.rd_sys(self.desc_addr + 4, 4) & 0x00FFFF00

    @cython.final
    cdef void lar_lsl(self, bint lsl) noexcept:
        cdef uint32_t sel, a, t
        cdef bint ok
        cdef uint64_t d
        if not self.pe:
            self.fault(EXC_UD, -1)
        sel = self.get_rm(2)
        a = self.visible_access(sel)
        ok = a != 0xFFFFFFFFu
        if ok:
            t = (a >> 8) & 0x1F
            if not (a & 0x1000):
                # System descriptors LAR/LSL may report (LSL: those with a limit).
                if lsl:
                    ok = t in (1, 2, 3, 9, 0xB)
                else:
                    ok = t in (1, 2, 3, 4, 5, 9, 0xB, 0xC)
            if ok and not (a & 0x1000 and (a & 0xC00) == 0xC00):
                ok = max(self.cpl, <int>(sel & 3)) <= <int>((a >> 13) & 3)
        if not ok:
            self.eflags &= ~<uint32_t>F_ZF
            return
        self.eflags |= F_ZF
        if lsl:
            d = (<uint64_t>a << 32) | self.desc_lo
            d |= <uint64_t>(self.rd_sys(self.desc_addr + 4, 4) & 0xF0000) << 32
            self.set_reg(self.reg, self.opsize, self.desc_limit(d))
        else:
            self.set_reg(self.reg, self.opsize, a & (0xFF00 if self.opsize == 2 else 0x00F0FF00))

    # ================================================================ Python API (state)
    def get_segment(self, name):
        cdef int s = _SEG_INDEX[name]
        return Segment(self.sel[s], self.base[s], self.limit[s], self.access[s])

    def set_segment(self, name, selector, base=None, limit=None, access=None):
        cdef int s = _SEG_INDEX[name]
        self.sel[s] = selector & 0xFFFF
        self.base[s] = (selector << 4) & 0xFFFFF if base is None else base & 0xFFFFFFFFu
        if limit is not None:
            self.limit[s] = limit
        if access is not None:
            self.access[s] = access
        self.seg_update(s)
        if s == S_CS and self.pe:
            self.cpl = (self.access[S_CS] >> 13) & 3
            self.update_mode()

    cpdef uint32_t get(self, str name) except? 0xFFFFFFFFu:
        kind, idx, size = _REGS[name]
        if kind == 0:
            if size == 1:
                return self.get_r8(idx)
            return self.get_reg(idx, size)
        if kind == 1:
            return self.eip & (0xFFFF if size == 2 else 0xFFFFFFFFu)
        if kind == 2:
            return self.get_flags() & (0xFFFF if size == 2 else 0xFFFFFFFFu)
        if kind == 3:
            return self.sel[idx]
        if kind == 4:
            return self.cr_value(idx)
        if kind == 5:
            return self.dr[idx]
        if kind == 6:
            return (self.eflags >> idx) & size
        raise KeyError(name)

    cpdef set(self, str name, value):
        kind, idx, size = _REGS[name]
        cdef uint32_t v = <uint32_t>(int(value) & 0xFFFFFFFFu)
        if kind == 0:
            self.set_reg(idx, size, v)
        elif kind == 1:
            self.eip = v & (0xFFFF if size == 2 else 0xFFFFFFFFu)
        elif kind == 2:
            if size == 2:
                v = (self.eflags & 0xFFFF0000u) | (v & 0xFFFF)
            self.eflags = (v & ~<uint32_t>0x8028) | self.flags_fixed1
            self.update_mode()
        elif kind == 3:
            # The API loads the real-mode way in every mode (no descriptor checks, no
            # guest fault); set_segment() writes a whole protected-mode cache.
            self.sel[idx] = v & 0xFFFF
            self.base[idx] = (v & 0xFFFF) << 4
            self.seg_update(idx)
        elif kind == 4:
            if idx == 0:
                self.cr0 = v
                self.update_mode()
                self.tlb_flush()
            elif idx == 2:
                self.cr2 = v
            elif idx == 3:
                self.cr3 = v
                self.tlb_flush()
            elif idx == 4:
                self.cr4 = v
                self.tlb_flush()
            # A debugger or snapshot write loads the PDPTEs without checking them
            # (set_state then restores the registers it saved).
            if self.paging and (self.cr4 & CR4_PAE):
                self.read_pdptes(self.cr3, False)
        elif kind == 5:
            self.dr[idx] = v
            self.dr7_update()
        elif kind == 6:
            self.eflags = (self.eflags & ~(<uint32_t>size << idx)) | ((v & size) << idx)
            self.eflags = (self.eflags & ~<uint32_t>0x8028) | self.flags_fixed1

    property decoded_cache:
        """Run instructions of the common forms from the decoded-instruction cache (on by
        default).  Off, every instruction goes through the generic decoder; the results
        and clocks are the same either way, only the speed differs."""
        def __get__(self):
            return self.dc_enabled
        def __set__(self, bint on):
            self.dc_enabled = on and self.dcache != NULL
            self.dc_update()

    def decoded_form(self, uint32_t eip):
        """The decoded form the instruction at CS:eip runs as when the cache holds it (a
        name such as 'alu_rm_imm'), 'generic' when the cache knows it needs the generic
        path, None when the cache does not hold these bytes."""
        cdef DInsn* e
        cdef uint64_t lo = 0, hi = 0
        cdef int i, b
        if self.dcache == NULL:
            return None
        e = &self.dcache[(eip ^ (eip >> 12)) & (DC_SIZE - 1)]
        if e.mode != self.dc_mode:
            return None
        for i in range(16):
            b = self.peek8(self.base[S_CS] + eip + i)
            if b < 0:
                b = 0
            if i < 8:
                lo |= (<uint64_t>b) << (8 * i)
            else:
                hi |= (<uint64_t>b) << (8 * (i - 8))
        if dc_tag_differs(e, lo, hi):
            return None
        names = [D_NAMES[e.form]]
        i = 0
        while i < e.nops:
            if e.ops[i].form == D_MEM:
                # A fused instruction with a memory operand: "mem:" and its form
                names.append("mem:" + D_NAMES[(<DMem*>&e.ops[i]).mform])
            else:
                names.append(D_NAMES[e.ops[i].form]
                             + (str(8 * e.ops[i].x) if D_ALU_RR_N <= e.ops[i].form <= D_MOV_RI_N else ""))
            i += dc_slots(&e.ops[i])
        return "+".join(names)

    property gdtr:
        def __get__(self):
            return (self.gdtr_base, self.gdtr_limit)
        def __set__(self, value):
            self.gdtr_base, self.gdtr_limit = value

    property idtr:
        def __get__(self):
            return (self.idtr_base, self.idtr_limit)
        def __set__(self, value):
            self.idtr_base, self.idtr_limit = value

    # ================================================================ snapshots
    # The whole CPU as plain data (core/snapshot.py, docs/snapshots.md): everything that
    # lives on from one instruction boundary to the next, so a restored CPU runs on bit
    # for bit as the saved one would have.  The derived fields (mode flags, segment check
    # ranges, the debug-register and hook flags) are recomputed; the translation caches
    # (the TLB, the host-pointer TLB, the fetch window) are saved, because a guest that
    # changes a page table without INVLPG sees what they hold, not what the tables say.
    # Host pointers are saved as the physical page they show.

    def get_state(self):
        cdef int i
        state = {name: self.get(name) for name in STATE_REGS}
        # EFLAGS as stored, reserved bits included (set_state writes it back as is); a
        # CPU that computes flags lazily must have them computed into it here.
        state["eflags"] = self.eflags
        for name in ("cr0", "cr2", "cr3", "cr4"):
            state[name] = getattr(self, name)
        state["dr"] = tuple(self.dr[i] for i in range(8))
        for name in ("cs", "ds", "es", "ss", "fs", "gs", "ldtr", "tr"):
            state[name + "_cache"] = tuple(self.get_segment(name))
        state["gdtr"] = self.gdtr
        state["idtr"] = self.idtr
        state["halted"] = self.halted
        state["shutdown"] = self.shutdown
        state["pdpte"] = tuple(self.pdpte[i] for i in range(4))
        state["cpl"] = self.cpl
        state["icount"] = self.icount
        # Events waiting at the boundary: the interrupt shadow of MOV SS/POP SS/STI, a
        # latched NMI, the INTR line as last driven.
        state["inhibit_irq"] = self.inhibit_irq
        state["nmi"] = self.nmi
        state["intr"] = self.intr
        state["ignne"] = self.ignne
        state["tsc_base"] = self.tsc_base
        state["msrs"] = dict(self.msrs)
        state["fpu_busy_until"] = self.fpu_busy_until
        state["rep_resume_lin"] = self.rep_resume_lin
        if self.fpu is not None:
            fpu = self.fpu.state()
            fpu["eflags_out"] = self.fpu.eflags_out
            state["fpu"] = fpu          # MM0-MM7 are the significands of its registers
        state["tlb"] = (bytes((<char*>self.tlb_vpn)[:sizeof(self.tlb_vpn)]),
                        bytes((<char*>self.tlb_ppn)[:sizeof(self.tlb_ppn)]),
                        bytes((<char*>self.tlb_perm)[:sizeof(self.tlb_perm)]),
                        self.tlb_large)
        state["htlb"] = self._host_tlb_state()
        return state

    def set_state(self, state):
        """Restore what get_state returned (or, for older callers, a subset of it: the
        registers of STATE_REGS by name, the segment caches, gdtr/idtr, halted, pdpte)."""
        cdef int i
        cdef bint catch_mode = self.catch_mode
        pdpte = state.get("pdpte")
        self.catch_mode = False         # a restore is not a mode switch of the guest's
        for name, value in state.items():
            if name in _SEG_INDEX and name + "_cache" in state:
                continue                # the whole cache follows
            elif name.endswith("_cache"):
                self.set_segment(name[:-6], *value)
            elif name in ("gdtr", "idtr"):
                setattr(self, name, tuple(value))
            elif name == "inhibit_irq":
                self.inhibit_irq = bool(value)
            elif name in ("halted", "shutdown", "nmi", "intr", "ignne"):
                setattr(self, name, bool(value))
            elif name == "eflags":
                self.eflags = <uint32_t>value
            elif name in ("cr0", "cr2", "cr3", "cr4"):
                setattr(self, name, value)
            elif name == "dr":
                for i in range(8):
                    self.dr[i] = value[i]
            elif name == "tsc_base":
                self.tsc_base = value
            elif name == "rep_resume_lin":
                self.rep_resume_lin = value
            elif name in ("cpl", "icount", "fpu_busy_until"):
                setattr(self, name, value)
            elif name == "msrs":
                self.msrs = {int(k): v for k, v in value.items()}
            elif name == "fpu":
                if self.fpu is None:
                    raise ValueError("the state has x87 registers; this %s has no FPU"
                                     % self.model.name)
                self.fpu.load_state(value)
                self.fpu.eflags_out = value.get("eflags_out", 0)
            elif name in ("pdpte", "tlb", "htlb"):
                pass
            else:
                self.set(name, value)
        # The derived state, in the order the instructions that load these would make it.
        if "cpl" in state:
            self.cpl = state["cpl"]
        self.update_mode()
        if "cpl" in state:
            self.cpl = state["cpl"]
            self.set_user(self.cpl == 3)
            self.update_ac_check()
        for i in range(8):
            self.seg_update(i)
        self.dr7_update()
        self.catch_mode = catch_mode
        self.mode_code = self.current_mode()
        self.delivering_vec = -1
        self.deliver_ext = False
        self.skip_lin = -1
        self.tlb_flush()
        if pdpte is not None:
            for i in range(4):
                self.pdpte[i] = pdpte[i]
        if "tlb" in state:
            vpn, ppn, perm, large = state["tlb"]
            if len(vpn) != sizeof(self.tlb_vpn) or len(ppn) != sizeof(self.tlb_ppn) \
                    or len(perm) != sizeof(self.tlb_perm):
                raise ValueError("the state's TLB has another size than this CPU's")
            memcpy(self.tlb_vpn, <const char*>vpn, sizeof(self.tlb_vpn))
            memcpy(self.tlb_ppn, <const char*>ppn, sizeof(self.tlb_ppn))
            memcpy(self.tlb_perm, <const char*>perm, sizeof(self.tlb_perm))
            self.tlb_large = bool(large)
        if "htlb" in state:
            self._set_host_tlb_state(state["htlb"])
        if self.tracing:
            self.trace_key()            # the whole state changed: a new keyframe

    cdef object _page_of(self, uint8_t* ptr, dict rom):
        # The physical page a host pointer of the page map shows (-1: none).
        cdef Bus bus = self.bus
        cdef size_t off
        if ptr == NULL:
            return -1
        if ptr >= bus.ram and ptr < bus.ram + bus.ram_size:
            off = <size_t>(ptr - bus.ram)
            if (off & (PAGE_SIZE - 1)) == 0 and (bus.rptr[off >> PAGE_SHIFT] == ptr
                                                or bus.wptr[off >> PAGE_SHIFT] == ptr):
                return off >> PAGE_SHIFT
        return rom.get(<size_t>ptr, -1)

    def memory_changed(self):
        """Guest memory was rewritten from outside the CPU, all of it at once (a snapshot
        restored: core/snapshot.restore calls this after RAM and the devices).  Whatever
        the CPU caches from the contents of memory must go; the fetch window and the
        host-pointer TLB only point into it, so today there is nothing to drop.  A cache
        of decoded instructions would be flushed here."""

    property rep_split:
        """Stopped inside a REP string instruction by the debugger or a stop request (not
        by a device event): a point a re-executed run does not stop at, so host input
        waits until the instruction has gone on (debugger/controller.py, host_input)."""
        def __get__(self):
            return self.rep_resume_lin != -1

    def _host_tlb_state(self):
        """The host-pointer TLB and the fetch window as (tag, read page, write page)
        triples of the live entries, and (fetch tag, fetch page)."""
        cdef int i
        cdef Bus bus = self.bus
        self.check_map()                # entries made under an older page map are gone
        rom = {<size_t>bus.rptr[p]: p for p in bus._rom_pages}
        entries = []
        for i in range(TLB_SIZE):
            if self.htlb_tag[i] != 0xFFFFFFFFu:
                entries.append((i, self.htlb_tag[i], self._page_of(self.htlb_r[i], rom),
                                self._page_of(self.htlb_w[i], rom)))
        fetch = (self.fetch_tag, self._page_of(self.fetch_ptr, rom)
                 if self.fetch_tag != 0xFFFFFFFFu else -1)
        return (entries, fetch)

    def _set_host_tlb_state(self, value):
        cdef int i
        cdef Bus bus = self.bus
        entries, fetch = value
        self.hptr_flush()
        for i, tag, r, w in entries:
            if r < 0 or bus.rptr[r] == NULL or (w >= 0 and bus.wptr[w] == NULL):
                continue                # not mapped as it was: the entry is remade on use
            self.htlb_tag[i] = tag
            self.htlb_r[i] = bus.rptr[r]
            self.htlb_w[i] = bus.wptr[w] if w >= 0 else NULL
        tag, page = fetch
        if tag != 0xFFFFFFFFu and page >= 0 and bus.rptr[page] != NULL:
            self.fetch_tag = tag
            self.fetch_ptr = bus.rptr[page]

    property pdptes:
        """The four PDPTE registers (meaningful while PAE paging is on)."""
        def __get__(self):
            return tuple(self.pdpte[i] for i in range(4))

    def request_stop(self):
        self.stop_requested = True

    # ================================================================ Python API (debugger)
    # debugger/controller.py is the only intended user; it keeps the points and turns
    # hits into stop events.

    def __dealloc__(self):
        free(self.dcache)
        free(self.bp_pages)
        free(self.w_pages)
        free(self.io_catch)
        if self.t_owner is not None:
            self.trace_release()
        else:
            free(self.tbuf)

    def probe_phys(self, uint32_t lin):
        """Physical address of linear `lin`, or -1 if not mapped (no fault, no A/D bits).
        With PAE the address can be 36 bits wide (above 4 GiB: no memory there)."""
        cdef int64_t p
        if not self.paging:
            return self.probe_lin(lin)
        p = self.probe_walk(lin)
        return p & self.bus.addr_mask if 0 <= p < 0x100000000ull else p

    def dbg_set_breakpoints(self, lin=(), phys=(), offsets=()):
        """Execution breakpoints: linear addresses, physical addresses and EIP offsets
        (the controller checks the CS selector of an offset hit).  Stops before the
        instruction runs."""
        cdef int k, i
        cdef uint32_t a
        lists = (list(lin), list(phys), list(offsets))
        for k in range(3):
            if len(lists[k]) > MAX_BP:
                raise ValueError("at most %d breakpoints of one kind" % MAX_BP)
        self.bp_pages = _cleared_table(self.bp_pages, 1 << 20)
        for k in range(3):
            self.bp_n[k] = len(lists[k])
            for i in range(self.bp_n[k]):
                a = <uint32_t>(lists[k][i] & 0xFFFFFFFFu)
                self.bp_addr[k][i] = a
                self.bp_pages[a >> 12] |= (BP_LIN, BP_PHYS, BP_OFF)[k]
        self.update_hooks()

    def dbg_set_watchpoints(self, watches=()):
        """Watchpoints: (physical?, first, last, access) with access 1 read, 2 write,
        3 both.  A hit is reported after the accessing instruction."""
        cdef int i
        cdef uint32_t pg
        watches = list(watches)
        if len(watches) > MAX_WATCH:
            raise ValueError("at most %d watchpoints" % MAX_WATCH)
        self.w_pages = _cleared_table(self.w_pages, 1 << 20)
        self.w_n = len(watches)
        self.w_nphys = 0
        for i, (physical, first, last, access) in enumerate(watches):
            self.w_phys[i] = 1 if physical else 0
            self.w_lo[i] = first
            self.w_hi[i] = last
            self.w_acc[i] = access
            self.w_nphys += self.w_phys[i]
            for pg in range(first >> 12, (last >> 12) + 1):
                self.w_pages[pg] |= BP_PHYS if physical else BP_LIN
        self.update_hooks()

    def dbg_set_io(self, ranges=()):
        """I/O catchpoints: (first port, last port, access) with 1 IN, 2 OUT."""
        cdef int port
        ranges = list(ranges)
        self.io_catch = _cleared_table(self.io_catch, 65536)
        for first, last, access in ranges:
            for port in range(first, last + 1):
                self.io_catch[port & 0xFFFF] |= access
        self.catch_io = len(ranges) > 0
        self.update_hooks()

    def dbg_set_vectors(self, ranges=()):
        """Vector catchpoints: (first, last, kinds) with kinds bits 1 exception,
        2 software, 4 hardware, 8 NMI."""
        cdef int v
        ranges = list(ranges)
        memset(self.vec_catch, 0, 256)
        for first, last, kinds in ranges:
            for v in range(first, last + 1):
                self.vec_catch[v & 0xFF] |= kinds
        self.catch_vec = len(ranges) > 0
        self.update_hooks()

    def dbg_set_catch(self, mode=False, magic=False):
        """Mode-switch and magic-breakpoint (xchg bx,bx) catchpoints."""
        self.catch_mode = bool(mode)
        self.catch_magic = bool(magic)
        self.mode_code = self.current_mode()
        self.update_hooks()

    def dbg_arm_return(self, ss=None, esp=0):
        """finish: report a RET/RETF/IRET that leaves SS:ESP above `esp` (or changes SS).
        None disarms."""
        self.ret_armed = ss is not None
        if ss is not None:
            self.ret_ss = ss
            self.ret_esp = esp
        self.update_hooks()

    def dbg_resume(self):
        """The next instruction is not checked against execution breakpoints (resuming
        from a breakpoint stop must not stop there again)."""
        self.skip_lin = (self.base[S_CS] + self.eip) & 0xFFFFFFFFu

    def dbg_hits(self):
        """The hits recorded since the last call, as (kind, a, b, c, d, e, f) tuples."""
        cdef int i
        out = [(self.hits[i].kind, self.hits[i].a, self.hits[i].b, self.hits[i].c,
                self.hits[i].d, self.hits[i].e, self.hits[i].f) for i in range(self.n_hits)]
        self.n_hits = 0
        self.dbg_pending = False
        return out

    def trace_start(self):
        """Start recording the trace entry stream (docs/trace-format.md), from a KEY."""
        self.tracing = True
        self.t_insn_pos = -1
        self.t_count = self.icount
        self.trace_key()
        self.update_hooks()

    def trace_stop(self):
        self.tracing = False
        self.update_hooks()

    def trace_take(self):
        """The entries recorded since the last call (bytes); call between runs."""
        self.trace_not_swapped()
        data = self.tbuf[:self.tlen] if self.tlen else b""
        self.tlen = 0
        return data

    cdef int trace_not_swapped(self) except -1:
        # (trace_take and trace_drain would take the part-block trace_swap kept ahead of
        # the entries, which its caller stores with the next ones)
        if self.t_owner is not None:
            raise ValueError("the recorder is recording into a buffer trace_swap gave it: "
                             "hand the entries over with trace_swap")
        return 0

    property trace_size:
        """Bytes recorded and not yet handed over (trace_take, trace_drain, trace_swap)."""
        def __get__(self):
            return self.tlen

    def trace_swap(self, spare, Py_ssize_t block=1, Py_ssize_t at=0):
        """Record on into `spare` (a writable buffer object, such as an mmap) and hand over
        the buffer recorded into until now, without copying the entries: returns (buffer,
        n), the entries recorded since the last call being its first n bytes, n a multiple
        of `block`; the rest (fewer than `block` bytes) moves to the start of spare, ahead
        of what is recorded next.  The first call, while the recorder writes into memory
        of its own, copies all of that into spare from offset `at` (the caller's bytes
        before it) and returns (None, 0).  The recorder holds spare (it cannot be resized)
        until a later call hands it back, or until it outgrows it and takes memory of its
        own again.  spare None hands all over and goes back to the recorder's own memory.
        A writer uses either this or trace_take/trace_drain for a recording: the kept rest
        is part of what those return."""
        cdef Py_buffer view
        cdef size_t keep, n = 0
        if block < 1 or at < 0:
            raise ValueError("trace_swap: block %d, at %d" % (block, at))
        if spare is None:
            # Back to memory of the recorder's own, all handed over (a last call)
            if self.t_owner is None:
                raise ValueError("trace_swap(None): the recorder holds no buffer of the caller's")
            old, n = self.t_owner, self.tlen
            self.trace_release()
            self.tbuf = NULL
            self.tcap = 0
            self.tlen = 0
            return old, n
        PyObject_GetBuffer(spare, &view, PyBUF_WRITABLE | PyBUF_SIMPLE)
        if self.t_owner is None:
            # (its own memory: all of it after the caller's `at` bytes)
            keep = <size_t>at + self.tlen
            if <size_t>view.len < keep:
                PyBuffer_Release(&view)
                raise ValueError("trace_swap: a buffer of %d bytes for %d" % (view.len, keep))
            memcpy(<uint8_t*>view.buf + at, self.tbuf, self.tlen)
            free(self.tbuf)
            old = None
        else:
            keep = self.tlen % <size_t>block
            if <size_t>view.len < keep:
                PyBuffer_Release(&view)
                raise ValueError("trace_swap: a buffer of %d bytes, block %d" % (view.len, block))
            n = self.tlen - keep
            memcpy(<uint8_t*>view.buf, self.tbuf + n, keep)
            old = self.t_owner
            self.trace_release()
        self.tbuf = <uint8_t*>view.buf
        self.tcap = view.len
        self.tlen = keep
        self.t_view = view
        self.t_owner = spare
        return old, n

    def trace_drain(self, write):
        """Hand the entries recorded since the last call to write(buffer) straight from
        the recorder's buffer, then empty it; return their size.  A recording makes
        megabytes per slice: a bytes copy of each (trace_take) costs a fresh allocation
        and its page faults every time.  `write` must not keep the buffer."""
        cdef size_t n = self.tlen
        self.trace_not_swapped()
        if n == 0:
            return 0
        view = PyMemoryView_FromMemory(<char*>self.tbuf, <Py_ssize_t>n, PyBUF_READ)
        try:
            write(view)
        finally:
            view.release()
            self.tlen = 0
        return n

    def trace_append(self, const uint8_t[::1] entries):
        """Append whole entries made outside the CPU (the BUS entries of the 8086/8088
        bus model, core/machine.py) to the recording, after those the CPU made so far,
        so they keep their place in the stream.  Nothing happens when not recording.
        The entries must hold none of the state version 2 keeps between entries (the
        expected EIP, the code bytes, the PHYS mapping: a BUS entry holds none) and come
        between instructions; registers the recorder has not written yet (those of an
        interrupt delivery) follow them, in the same record."""
        cdef Py_ssize_t n = entries.shape[0]
        if self.tracing and n > 0:
            self.tput(&entries[0], <size_t>n)

    # ================================================================ 8086 bus model
    # core/biu.pyx replays each 8086/8088 instruction on the bus model and needs the
    # sixteen-bit registers before and after it: one call filling its buffer, instead of
    # fourteen get()s (the module cannot cimport this class, so the buffer comes as its
    # C address).

    def bus_regs(self, size_t out):
        """Write AX CX DX BX SP BP SI DI, ES CS SS DS, IP and FLAGS (16 bits each) to the
        uint16_t[14] at address `out`.  Returns bit 0: the next step runs no instruction
        (shut down, halted, or an NMI or INTR the run loop delivers first); bit 1: halted;
        bit 2: that is an INTR delivery (the acknowledge is asked for); the bits from 3
        up: icount (whether a run retired anything: a debugger stop or a stop request
        returns before the instruction)."""
        cdef uint16_t* o = <uint16_t*>out
        cdef int i
        cdef uint32_t fl = self.get_flags()
        # The run loop's order: MOV SS/STI's shadow holds off NMI and INTR for one
        # instruction; an NMI goes before INTR.
        cdef bint event = not self.inhibit_irq and (self.nmi or (
            self.intr and (fl & F_IF) != 0 and self.intr_ack is not None))
        cdef bint intr = event and not self.nmi and not self.shutdown
        for i in range(8):
            o[i] = <uint16_t>self.r[i]
        for i in range(4):
            o[8 + i] = self.sel[i]
        o[12] = <uint16_t>self.eip
        o[13] = <uint16_t>fl
        return ((self.icount << 3) | (1 if (self.shutdown or self.halted or event) else 0)
                | (2 if self.halted else 0) | (4 if intr else 0))

cdef uint8_t* _cleared_table(uint8_t* table, size_t n) except NULL:
    """A debugger flag table of `n` bytes, all clear: allocated on first use (a CPU that
    is never debugged carries none), cleared when it is set again."""
    if table == NULL:
        table = <uint8_t*>calloc(n, 1)
        if table == NULL:
            raise MemoryError()
    else:
        memset(table, 0, n)
    return table


cdef inline uint32_t host_load(const uint8_t* page, int size) noexcept:
    # A 1-, 2- or 4-byte little-endian access through a host pointer into guest memory
    # (the host-pointer TLB and its slow paths; x86 hosts allow the unaligned ones).
    if size == 1:
        return page[0]
    if size == 2:
        return (<const uint16_t*>page)[0]
    return (<const uint32_t*>page)[0]


cdef inline void host_store(uint8_t* page, int size, uint32_t v) noexcept:
    if size == 1:
        page[0] = v
    elif size == 2:
        (<uint16_t*>page)[0] = v
    else:
        (<uint32_t*>page)[0] = v


cdef inline bint trace_code_known(TCode* slot, uint32_t addr, uint64_t lo, uint64_t hi) noexcept:
    """The recorder's code cache holds these bytes (the 16 at addr) for addr: the reader
    knows them, and the INSN entry needs none."""
    return (slot.addr == addr and slot.len != 0 and (lo & CODE_MASK_LO[slot.len]) == slot.lo
            and (hi & CODE_MASK_HI[slot.len]) == slot.hi)


cdef inline bint _contributory(int vec) noexcept:
    return vec == 0 or (10 <= vec <= 13)


_SEG_INDEX = {"es": S_ES, "cs": S_CS, "ss": S_SS, "ds": S_DS, "fs": S_FS, "gs": S_GS,
              "ldtr": S_LDTR, "tr": S_TR}


def _build_regs():
    regs = {}
    for i, n in enumerate(("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi")):
        regs[n] = (0, i, 4)
        regs[n[1:]] = (0, i, 2)
    for i, n in enumerate(("al", "cl", "dl", "bl", "ah", "ch", "dh", "bh")):
        regs[n] = (0, i, 1)
    regs["eip"], regs["ip"] = (1, 0, 4), (1, 0, 2)
    regs["eflags"], regs["flags"] = (2, 0, 4), (2, 0, 2)
    for n, i in _SEG_INDEX.items():
        if n not in ("ldtr", "tr"):
            regs[n] = (3, i, 2)
    for i in (0, 2, 3, 4):
        regs["cr%d" % i] = (4, i, 4)
    for i in range(8):
        regs["dr%d" % i] = (5, i, 4)
    for n, bit in (("cf", 0), ("pf", 2), ("af", 4), ("zf", 6), ("sf", 7), ("tf", 8),
                   ("if_", 9), ("df", 10), ("of", 11), ("nt", 14), ("rf", 16), ("vm", 17),
                   ("ac", 18)):
        regs[n] = (6, bit, 1)
    regs["iopl"] = (6, 12, 3)
    return regs


def _keys_to_indices(key):
    """Opcode key ('00', 'F6.7', '0FAF', '0FBA.4') -> indices into the timing arrays."""
    reg = None
    if "." in key:
        key, r = key.split(".")
        reg = int(r)
    op = int(key, 16) if len(key) == 2 else 0x100 | int(key[2:], 16)
    if reg is None:
        return [(op << 3) | r for r in range(8)]
    return [(op << 3) | reg]


_REGS = _build_regs()
STATE_REGS = ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp", "eip", "eflags",
              "cs", "ds", "es", "ss", "fs", "gs", "cr0", "cr2", "cr3", "cr4",
              "dr0", "dr1", "dr2", "dr3", "dr6", "dr7")
REGISTER_NAMES = tuple(_REGS)


class CPU(_CPU):
    """An x86 CPU of one model; every register is an attribute (see docs/python-api.md)."""
    __slots__ = ()


def _make_property(name):
    return property(lambda self: self.get(name), lambda self, v: self.set(name, v),
                    doc="register %s" % name)


for _name in _REGS:
    setattr(CPU, _name, _make_property(_name))


cdef inline uint8_t* trace_insn_tag(uint8_t* q, uint64_t delta, uint32_t d) noexcept:
    # dc_trace_run's INSN at q, the reader knowing its bytes: the cycle delta (under
    # T_INSN_DELTA32) and, after a jump taken inside the entry, the EIP field of its
    # distance d from the EIP expected (-16..16: in the entry's bytes).  Past it.
    if d == 0:
        q[0] = <uint8_t>(T_INSN | delta)
        return q + 1
    q[0] = <uint8_t>(T_INSN | T_INSN_EIP | delta)
    q[1] = <uint8_t>d
    return q + 2


cdef inline bint dc_reg_form(int form) noexcept:
    # The 32-bit register-only forms of a first instruction that dc_reg_first runs
    return form == D_ALU_RR or form == D_ALU_RI or form == D_INCDEC_R or form == D_SHIFT_RI


cdef inline size_t trace_reg_entry(uint8_t* q, int i, uint32_t v, uint32_t old) noexcept:
    # The REG entry of register i, changed from old to v, at q (room for 5 bytes): its
    # size.  REG8 or REG16 when only the low byte or word changed (most changes: the
    # arithmetic flags, a stack pointer or a counter moving a little).
    cdef uint32_t changed = v ^ old
    memcpy(q + 1, &v, 4)
    if changed >> 16:
        q[0] = T_REG32 | i
        return 5
    if changed >> 8:
        q[0] = T_REG16 | i
        return 3
    q[0] = T_REG8 | i
    return 2


cdef inline uint8_t dc_gpr(int r, int size) noexcept:
    # The register bit of operand register r: AL..BH are parts of EAX..EBX.
    return <uint8_t>(1 << ((r & 3) if size == 1 else r))


cdef uint16_t dc_writes(int form, int mod, int reg, int rm, int size, int aop, int dst,
                        int store) noexcept:
    """What an entry of this form can write, for the trace recorder, which compares only
    these after it (a superset is safe): its GPRs, and TWR_FLAGS when it can write EFLAGS.
    Memory operands are recorded by their stores."""
    return dc_writes_gprs(form, mod, reg, rm, size, aop, dst, store) \
        | (TWR_FLAGS if form_writes_flags(form) else 0)


cdef inline bint form_writes_flags(int form) noexcept:
    """The form can change EFLAGS (every form not listed, as a superset, can)."""
    return not (D_MOV_RM_R <= form <= D_LEA or D_PUSH_RM <= form <= D_MOVX
                or D_SETCC <= form <= D_XCHG_AX or form == D_MOV_RR_N or form == D_MOV_RI_N)


cdef uint8_t dc_writes_gprs(int form, int mod, int reg, int rm, int size, int aop, int dst,
                            int store) noexcept:
    # dc_writes' GPRs (bit n: register n, AL..BH as their 32-bit register)
    if form == D_ALU_RM_R or form == D_ALU_RM_IMM:
        return dc_gpr(rm, size) if mod == 3 and aop != 7 else 0
    if form == D_MOV_RM_R or form == D_MOV_RM_IMM or form == D_INCDEC or form == D_SHIFT \
            or form == D_SHIFT_CL or form == D_SETCC:
        return dc_gpr(rm, size) if mod == 3 else 0
    if form == D_ALU_R_RM:
        return dc_gpr(reg, size) if aop != 7 else 0
    if form == D_MOV_R_RM or form == D_CMOV or form == D_IMUL:
        return dc_gpr(reg, size)
    if form == D_LEA or form == D_MOVX:
        return dc_gpr(reg, 4)
    if form == D_PUSH_RM or form == D_PUSH_IMM or form == D_CALL or form == D_CALL_RM \
            or form == D_RET:
        return 1 << R_ESP
    if form == D_POP_R:
        return (1 << R_ESP) | (1 << rm)
    if form == D_LEAVE:
        return (1 << R_ESP) | (1 << R_EBP)
    if form == D_CBW:
        return 1 << R_EAX
    if form == D_CWD:
        return 1 << R_EDX
    if form == D_XCHG_AX:
        return (1 << R_EAX) | (1 << rm)
    if form == D_ALU_RR or form == D_ALU_RI:
        return (1 << dst) if store else 0
    if form == D_INCDEC_R or form == D_SHIFT_RI:
        return 1 << rm
    if form == D_JCC or form == D_JMP or form == D_JMP_RM or form == D_NOP \
            or form == D_TEST_RM_R or form == D_TEST_RM_IMM:
        return 0
    return 0xFF                         # (a form not listed: all of them)


cdef inline bint dc_tag_differs(DInsn* e, uint64_t lo, uint64_t hi) noexcept:
    """The 16 bytes lo, hi (little-endian) differ from those e was decoded from, over
    the length it is tagged by."""
    return (((lo ^ e.b0) & DC_LO[e.tlen]) | ((hi ^ e.b1) & DC_HI[e.tlen])) != 0


cdef inline bint form_may_write_memory(int form, int aop) noexcept:
    """An instruction of this form (ALU operation aop) with a memory operand may write
    it: not one that only reads it, nor CMP."""
    return not (form_reads_only(form)
                or ((form == D_ALU_RM_R or form == D_ALU_RM_IMM) and aop == 7))


cdef inline int dc_slots(const DOp* o) noexcept:
    """The slots of an entry's ops the fused instruction at o takes (a DMem two)."""
    return 2 if o.form == D_MEM else 1


cdef inline bint form_reads_only(int form) noexcept:
    """The form reads its memory operand, if it has one, and writes none (CMP with a
    memory destination is not among them: its form also stores for the other ALU ops)."""
    return form == D_ALU_R_RM or form == D_MOV_R_RM or form == D_MOVX or form == D_TEST_RM_R \
        or form == D_TEST_RM_IMM or form == D_CMOV or form == D_IMUL or form == D_POP_R \
        or form == D_LEAVE or form == D_LEA
