# cython: language_level=3
"""The MMX instructions of the Pentium II [Intel SDM vol. 1 ch. 9 "Programming with Intel
MMX Technology"; vol. 2, the P* and MOVD/MOVQ/EMMS pages; vol. 3 "MMX State and x87 FPU"].

Every MMX instruction is one of a few shapes, so the opcodes are rows of a table (OPS
below) and three engines do the work, each parametrised by the row:

* lane-wise arithmetic and compares (PADD*, PSUB*, PMULLW/PMULHW, PCMPEQ*/PCMPGT*):
  the packed operands are split into lanes of 8, 16 or 32 bits, the operation is done
  on each pair of lanes as integers, and the result is wrapped or saturated (signed or
  unsigned) back to the lane width;
* shifts (PSLL*, PSRL*, PSRA*): one count, from the 64-bit source or an immediate, for
  every lane; a count at or past the lane width clears the lane (logical) or fills it
  with the sign (arithmetic) -- the count is never masked;
* rearrangements: PACKSS*/PACKUSWB narrow lanes with saturation, PUNPCKL*/PUNPCKH*
  interleave the low or high halves, PMADDWD multiplies words and adds pairs.

The logical instructions and MOVQ work on the whole 64 bits.  The x87 side (TOP, tags,
the exponent field of a written register) is in mmx_enter/mmx_write/mmx_emms.
"""
from libc.stdint cimport uint8_t, uint16_t, int64_t, uint64_t

from core.fpu cimport FPU

# ---- operations (the OPS table's second column)
cdef enum:
    K_NONE = 0
    K_ADD = 1
    K_SUB = 2
    K_MULL = 3          # low 16 bits of the signed product
    K_MULH = 4          # high 16 bits of the signed product
    K_CMPEQ = 5
    K_CMPGT = 6         # signed
    K_AND = 7
    K_ANDN = 8          # NOT destination AND source
    K_OR = 9
    K_XOR = 10
    K_SLL = 11
    K_SRL = 12
    K_SRA = 13
    K_PACK = 14         # narrow both operands' lanes to half width, destination first
    K_UNPCKL = 15
    K_UNPCKH = 16
    K_MADD = 17         # PMADDWD
    K_MOV = 18          # MOVQ, MOVD loads: the source

# ---- result treatment
cdef enum:
    SAT_WRAP = 0
    SAT_SIGNED = 1
    SAT_UNSIGNED = 2

# The table [SDM vol. 2 Table A-3, two-byte opcode map, no prefix; the instruction pages
# for the operand sizes].  Columns: second opcode byte, operation, lane bits (the width
# of the *source* lanes for PACK), source bytes in memory.  A name ending in S saturates
# signed, in US unsigned; 0F 71-73 take their operation from ModR/M reg (GROUP below).
OPS = """
60 UNPCKL   8 4
61 UNPCKL  16 4
62 UNPCKL  32 4
63 PACKSS  16 8
64 CMPGT    8 8
65 CMPGT   16 8
66 CMPGT   32 8
67 PACKUS  16 8
68 UNPCKH   8 8
69 UNPCKH  16 8
6A UNPCKH  32 8
6B PACKSS  32 8
6E MOVD    32 4
6F MOV     64 8
71 SHIFT   16 0
72 SHIFT   32 0
73 SHIFT   64 0
74 CMPEQ    8 8
75 CMPEQ   16 8
76 CMPEQ   32 8
77 EMMS     0 0
7E STORED  32 0
7F STOREQ  64 0
D1 SRL     16 8
D2 SRL     32 8
D3 SRL     64 8
D5 MULL    16 8
D8 SUBUS    8 8
D9 SUBUS   16 8
DB AND     64 8
DC ADDUS    8 8
DD ADDUS   16 8
DF ANDN    64 8
E1 SRA     16 8
E2 SRA     32 8
E5 MULH    16 8
E8 SUBS     8 8
E9 SUBS    16 8
EB OR      64 8
EC ADDS     8 8
ED ADDS    16 8
EF XOR     64 8
F1 SLL     16 8
F2 SLL     32 8
F3 SLL     64 8
F5 MADD    16 8
F8 SUB      8 8
F9 SUB     16 8
FA SUB     32 8
FC ADD      8 8
FD ADD     16 8
FE ADD     32 8
"""
# 0F 71-73 /reg: 2 PSRL, 4 PSRA, 6 PSLL (0F 73 has no PSRAQ: the opcode table leaves
# 0F73/4 undefined, so it never gets here).
GROUP = {2: "SRL", 4: "SRA", 6: "SLL"}

_KINDS = {"ADD": (K_ADD, SAT_WRAP), "ADDS": (K_ADD, SAT_SIGNED), "ADDUS": (K_ADD, SAT_UNSIGNED),
          "SUB": (K_SUB, SAT_WRAP), "SUBS": (K_SUB, SAT_SIGNED), "SUBUS": (K_SUB, SAT_UNSIGNED),
          "MULL": (K_MULL, SAT_WRAP), "MULH": (K_MULH, SAT_WRAP), "CMPEQ": (K_CMPEQ, SAT_WRAP),
          "CMPGT": (K_CMPGT, SAT_WRAP), "AND": (K_AND, SAT_WRAP), "ANDN": (K_ANDN, SAT_WRAP),
          "OR": (K_OR, SAT_WRAP), "XOR": (K_XOR, SAT_WRAP), "SLL": (K_SLL, SAT_WRAP),
          "SRL": (K_SRL, SAT_WRAP), "SRA": (K_SRA, SAT_WRAP), "PACKSS": (K_PACK, SAT_SIGNED),
          "PACKUS": (K_PACK, SAT_UNSIGNED), "UNPCKL": (K_UNPCKL, SAT_WRAP),
          "UNPCKH": (K_UNPCKH, SAT_WRAP), "MADD": (K_MADD, SAT_WRAP), "MOV": (K_MOV, SAT_WRAP),
          "MOVD": (K_MOV, SAT_WRAP)}
_FORMS = {"SHIFT": MMX_SHIFT_IMM, "EMMS": MMX_EMMS, "STORED": MMX_STORE_D,
          "STOREQ": MMX_STORE_Q, "MOVD": MMX_LOAD_D}

cdef uint8_t FORM[256]
cdef uint8_t KIND[256]
cdef uint8_t SAT[256]
cdef uint8_t LANE[256]
cdef uint8_t SRC_BYTES[256]
cdef uint8_t GROUP_KIND[8]


cdef void _init_tables():
    cdef int i, op
    for i in range(256):
        FORM[i] = MMX_NONE
        KIND[i] = K_NONE
        SAT[i] = SAT_WRAP
        LANE[i] = 0
        SRC_BYTES[i] = 0
    for line in OPS.strip().splitlines():
        code, name, lane, nbytes = line.split()
        op = int(code, 16)
        FORM[op] = _FORMS.get(name, MMX_OP)
        KIND[op], SAT[op] = _KINDS.get(name, (K_NONE, SAT_WRAP))
        LANE[op] = int(lane)
        SRC_BYTES[op] = int(nbytes)
    for i in range(8):
        GROUP_KIND[i] = _KINDS[GROUP[i]][0] if i in GROUP else K_NONE

_init_tables()


# ==================================================================== the CPU's interface

cdef int mmx_form(int op) noexcept nogil:
    return FORM[op & 0xFF]


cdef int mmx_src_bytes(int op) noexcept nogil:
    return SRC_BYTES[op & 0xFF]


cdef void mmx_enter(FPU f) noexcept:
    # TOP = 0 and every tag 00 (valid); the rest of the status word and the x87
    # instruction and data pointers are left as they are.
    f.sw &= ~0x3800
    f.tw = 0


cdef void mmx_emms(FPU f) noexcept:
    f.tw = 0xFFFF                   # every register empty; TOP stays


cdef uint64_t mmx_read(FPU f, int i) noexcept:
    return f.reg[i & 7].sig


cdef void mmx_write(FPU f, int i, uint64_t v) noexcept:
    # The sign and exponent (bits 64-79) become all ones, so the register reads as a NaN
    # to x87 code that forgets EMMS [SDM vol. 3 "MMX State and x87 FPU"].
    f.reg[i & 7].sig = v
    f.reg[i & 7].se = 0xFFFF


cdef void mmx_exec(FPU f, int op, int sub, int dst, uint64_t src) noexcept:
    cdef int form = FORM[op & 0xFF], kind
    cdef uint64_t a
    mmx_enter(f)
    if form == MMX_SHIFT_IMM:
        kind = GROUP_KIND[sub & 7]
    else:
        kind = KIND[op & 0xFF]
    a = f.reg[dst & 7].sig
    mmx_write(f, dst, compute(kind, SAT[op & 0xFF], LANE[op & 0xFF], a, src))


# ==================================================================== the engines

cdef inline uint64_t lane_mask(int w) noexcept nogil:
    return 0xFFFFFFFFFFFFFFFF if w >= 64 else ((<uint64_t>1 << w) - 1)


cdef inline int64_t lane_u(uint64_t x, int i, int w) noexcept nogil:
    return <int64_t>((x >> (i * w)) & lane_mask(w))


cdef inline int64_t lane_s(uint64_t x, int i, int w) noexcept nogil:
    cdef int64_t v = lane_u(x, i, w)
    if v >> (w - 1):
        v -= <int64_t>1 << w
    return v


cdef inline uint64_t narrow(int64_t v, int w, int sat) noexcept nogil:
    """v as a w-bit lane: wrapped, or clamped to the signed or unsigned range."""
    cdef int64_t lo, hi
    if sat == SAT_SIGNED:
        lo = -(<int64_t>1 << (w - 1))
        hi = (<int64_t>1 << (w - 1)) - 1
    elif sat == SAT_UNSIGNED:
        lo = 0
        hi = (<int64_t>1 << w) - 1
    else:
        return <uint64_t>v & lane_mask(w)
    if v < lo:
        v = lo
    elif v > hi:
        v = hi
    return <uint64_t>v & lane_mask(w)


cdef uint64_t lanewise(int kind, int sat, int w, uint64_t a, uint64_t b) noexcept nogil:
    cdef uint64_t r = 0
    cdef int64_t x, y, v
    cdef int i
    for i in range(64 // w):
        if sat == SAT_UNSIGNED:
            x = lane_u(a, i, w)
            y = lane_u(b, i, w)
        else:
            x = lane_s(a, i, w)
            y = lane_s(b, i, w)
        if kind == K_ADD:
            v = x + y
        elif kind == K_SUB:
            v = x - y
        elif kind == K_MULL:
            v = x * y
        elif kind == K_MULH:
            v = (x * y) >> 16
        elif kind == K_CMPEQ:
            v = -1 if x == y else 0
        else:                               # K_CMPGT
            v = -1 if x > y else 0
        r |= narrow(v, w, sat) << (i * w)
    return r


cdef uint64_t shift(int kind, int w, uint64_t a, uint64_t count) noexcept nogil:
    cdef uint64_t r = 0, m = lane_mask(w)
    cdef int i
    if count >= <uint64_t>w:
        if kind != K_SRA:
            return 0
        count = w - 1                       # every bit becomes the sign
    if w == 64:
        if kind == K_SLL:
            return a << count
        if kind == K_SRL:
            return a >> count
        return <uint64_t>(<int64_t>a >> count)
    for i in range(64 // w):
        if kind == K_SLL:
            r |= ((<uint64_t>lane_u(a, i, w) << count) & m) << (i * w)
        elif kind == K_SRL:
            r |= (<uint64_t>lane_u(a, i, w) >> count) << (i * w)
        else:
            r |= (<uint64_t>(lane_s(a, i, w) >> count) & m) << (i * w)
    return r


cdef uint64_t compute(int kind, int sat, int w, uint64_t a, uint64_t b) noexcept nogil:
    cdef uint64_t r = 0
    cdef int i, n = 64 // w if w else 0, h
    if kind <= K_CMPGT:
        return lanewise(kind, sat, w, a, b)
    if kind == K_AND:
        return a & b
    if kind == K_ANDN:
        return ~a & b
    if kind == K_OR:
        return a | b
    if kind == K_XOR:
        return a ^ b
    if kind == K_MOV:
        return b
    if kind <= K_SRA:
        return shift(kind, w, a, b)
    h = w // 2
    if kind == K_PACK:
        # The destination's lanes give the low half of the result, the source's the high.
        for i in range(n):
            r |= narrow(lane_s(a, i, w), h, sat) << (i * h)
            r |= narrow(lane_s(b, i, w), h, sat) << ((n + i) * h)
        return r
    if kind == K_UNPCKL or kind == K_UNPCKH:
        # Interleave one half of each: destination lanes in the even result lanes.
        for i in range(n // 2):
            r |= <uint64_t>lane_u(a, i + (n // 2 if kind == K_UNPCKH else 0), w) << (2 * i * w)
            r |= <uint64_t>lane_u(b, i + (n // 2 if kind == K_UNPCKH else 0), w) << ((2 * i + 1) * w)
        return r
    # K_MADD: two signed word products summed per doubleword.  The sum wraps: only
    # 8000h*8000h twice overflows, giving 80000000h as the SDM's example shows.
    for i in range(2):
        r |= narrow(lane_s(a, 2 * i, 16) * lane_s(b, 2 * i, 16)
                    + lane_s(a, 2 * i + 1, 16) * lane_s(b, 2 * i + 1, 16), 32, SAT_WRAP) << (32 * i)
    return r


# ==================================================================== Python API

def registers(FPU f):
    """MM0-MM7: the significands of the physical registers R0-R7."""
    return [f.reg[i].sig for i in range(8)]


def set_register(FPU f, int i, uint64_t value):
    """Write MMi as an MMX instruction would (exponent field all ones; TOP and tags are
    not touched -- only a running instruction enters the MMX state)."""
    f.reg[i & 7].sig = value
    f.reg[i & 7].se = 0xFFFF


def mnemonics():
    """{second opcode byte: operation name} of the table, for tools and tests."""
    return {int(line.split()[0], 16): line.split()[1] for line in OPS.strip().splitlines()}
