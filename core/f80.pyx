# cython: language_level=3
"""80-bit extended-precision arithmetic on integers: the x87's number format.

The contract (types, flags, semantics) is core/f80.pxd.  Everything here works on the
64-bit significand and the 15-bit exponent with integer operations (gcc's
`unsigned __int128` for the double-width products and quotients); host floating point
never decides a result.

Decisions the SDM leaves to this file [SDM vol. 1 4.8, 4.9, 8.5]:
- Tininess is detected AFTER rounding, as the x87 does: "the result of rounding with
  unbounded exponent (taking into account precision control for x87) is non-zero and
  tiny" [SDM vol. 1 4.9.1.5].  A result that rounds up to the smallest normal is not tiny.
- A masked tiny result is denormalised at the precision-control rounding position of the
  smallest normal exponent, so a 24-bit result keeps 24-bit granularity down there.
- Unmasked overflow/underflow to a register: the rounded value with its exponent moved by
  24576; if it is still out of range ("massive" overflow/underflow, FSCALE) the result is a
  signed infinity / zero [SDM vol. 1 8.5.4, 8.5.5].  Stores to 32/64-bit memory with an
  unmasked OE/UE write nothing (the functions return 0).
- Operand checks come in the SDM's priority order [SDM vol. 1 8.7]: an unsupported
  encoding (IE, real indefinite) before NaNs (Table 4-7), then DE for denormal operands,
  then the result's ZE/OE/UE/PE.  Invalid operations (inf-inf, 0*inf, ...) raise IE alone.
- Two NaNs with equal significands: the one with the positive sign wins (the SDM is
  silent; this is what QEMU/Unicorn model for the x87).
- Stores (f80_to_f32/f64/int/bcd) also return 0 when a denormal source raised an
  unmasked DE: the instruction does not complete.

Python access (values are ints: (se << 64) | significand; cw is the x87 control word,
default 037Fh = everything masked, nearest, 64 bits; flags are the FLAG_* bits with
C1 = 0200h):
    calc(op, a, b=0, cw=0x037F) -> (result, flags)
        op: 'add' 'sub' 'mul' 'div' 'sqrt' 'round_int' 'scale'
    round_pack(sign, exp, sig_hi, sig_lo=0, cw=0x037F, bits=None) -> (result, flags)
    rem(a, b, ieee=False, cw=0x037F) -> (result, q, partial, flags)
    compare(a, b, quiet=False, cw=0x037F) -> (CMP_*, flags)
    xtract(a, cw=0x037F) -> (significand, exponent, flags)
    classify(x) -> CLS_*
    from_f32(bits, cw) / from_f64(bits, cw) -> (result, flags);  from_int(v) -> result
    to_f32(x, cw) / to_f64(x, cw) -> (stored, bits, flags)
    to_int(x, size, cw) -> (stored, value, flags)
    to_bcd(x, cw) -> (stored, bytes10, flags);  from_bcd(bytes10) -> result
    to_fraction(x) -> Fraction (finite values, unnormals read by their bits; ValueError else)
    from_fraction(q, cw=0x037F, bits=None) -> (result, flags)  (rounds a Fraction)
and the constants CLS_*, CMP_*, FLAG_*, INDEFINITE.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, int32_t, uint64_t, int64_t

cdef extern from *:
    """
    typedef unsigned __int128 f80_u128;
    static inline int f80_clz128(f80_u128 x) {
        uint64_t hi = (uint64_t)(x >> 64);
        if (hi) return __builtin_clzll(hi);
        return 64 + __builtin_clzll((uint64_t)x);
    }
    static inline int f80_clz64(uint64_t x) { return __builtin_clzll(x); }
    """
    ctypedef unsigned long long u128 "f80_u128"
    int clz128 "f80_clz128"(u128 x) noexcept nogil
    int clz64 "f80_clz64"(uint64_t x) noexcept nogil

cdef enum:
    BIAS = 16383
    WRAP = 24576                # 3 << 13: the exponent bias adjust of unmasked OE/UE

# control-word mask bits [SDM vol. 1 8.1.5]
cdef enum:
    CW_IM = 0x01
    CW_DM = 0x02
    CW_ZM = 0x04
    CW_OM = 0x08
    CW_UM = 0x10

cdef uint64_t J = 0x8000000000000000
cdef uint64_t QBIT = 0x4000000000000000

# ---------------------------------------------------------------- constants, classes

cdef F80 f80_make(bint sign, int exp, uint64_t sig) noexcept nogil:
    cdef F80 r
    r.sig = sig
    r.se = <uint16_t>(((<int>sign) << 15) | (exp & 0x7FFF))
    return r

cdef F80 f80_zero(bint sign) noexcept nogil:
    return f80_make(sign, 0, 0)

cdef F80 f80_inf(bint sign) noexcept nogil:
    return f80_make(sign, 0x7FFF, J)

cdef F80 f80_indefinite() noexcept nogil:
    return f80_make(1, 0x7FFF, 0xC000000000000000)

cdef bint f80_sign(F80 a) noexcept nogil:
    return (a.se >> 15) != 0

cdef int f80_exp(F80 a) noexcept nogil:
    return a.se & 0x7FFF

cdef int f80_class(F80 a) noexcept nogil:
    cdef int e = a.se & 0x7FFF
    if e == 0:
        return CLS_ZERO if a.sig == 0 else CLS_DENORMAL
    if (a.sig & J) == 0:
        return CLS_UNSUPPORTED          # unnormal, pseudo-infinity, pseudo-NaN
    if e == 0x7FFF:
        if (a.sig << 1) == 0:
            return CLS_INF
        return CLS_QNAN if (a.sig & QBIT) else CLS_SNAN
    return CLS_NORMAL

cdef inline bint _is_nan(int cls) noexcept nogil:
    return cls == CLS_QNAN or cls == CLS_SNAN

cdef inline int _bits_of_pc(int pc) noexcept nogil:
    if pc == PC_24:
        return 24
    if pc == PC_53:
        return 53
    return 64

# ---------------------------------------------------------------- rounding

cdef inline u128 _shift_round(u128 m, int s, int rc, bint sign, bint* inexact, bint* up) noexcept nogil:
    """m >> s rounded by rc (s >= 1); *inexact when bits were lost, *up when incremented."""
    cdef u128 q, rem, half
    cdef bint inc = 0
    cdef bint above = 0, tie = 0
    if s > 128:
        q = 0
        rem = m
        inexact[0] = m != 0
        above = 0
        tie = 0
    else:
        if s == 128:
            q = 0
            rem = m
        else:
            q = m >> s
            rem = m & (((<u128>1) << s) - 1)
        half = (<u128>1) << (s - 1)
        inexact[0] = rem != 0
        above = rem > half
        tie = rem == half
    if inexact[0]:
        if rc == RC_NEAREST:
            inc = above or (tie and (q & 1))
        elif rc == RC_DOWN:
            inc = sign
        elif rc == RC_UP:
            inc = not sign
    up[0] = inc
    return q + inc

cdef F80 _round(FCtx* c, int bits, bint sign, int32_t exp, u128 m,
                int32_t emin, int32_t emax, bint mem, bint* stored) noexcept nogil:
    """Round (-1)^sign * m * 2^(exp - BIAS - 127) to `bits` bits in the exponent range
    [emin, emax] (f80-biased).  The result is an F80 in the f80 bias; when emin > 1 (a
    32/64-bit destination) a denormal comes back as J=0 with exponent field emin - 1 and
    the significand aligned to emin.  mem: a memory destination (unmasked OE/UE store
    nothing: *stored = 0)."""
    cdef int lz, shift = 128 - bits
    cdef bint inexact, up, inexact2, up2, to_inf
    cdef u128 q, q2
    cdef int32_t e1
    cdef uint64_t sig
    stored[0] = 1
    if m == 0:
        return f80_zero(sign)
    lz = clz128(m)
    m <<= lz
    exp -= lz
    # rounding with unbounded exponent: decides overflow and (after-rounding) tininess
    q = _shift_round(m, shift, c.rc, sign, &inexact, &up)
    e1 = exp
    if q >> bits:
        q >>= 1
        e1 += 1
    sig = <uint64_t>(q << (64 - bits))
    if e1 > emax:
        if not (c.cw & CW_OM):
            c.flags |= FLAG_OE
            if mem:
                stored[0] = 0
                return f80_zero(sign)
            if inexact:
                c.flags |= FLAG_PE
                if up:
                    c.flags |= FLAG_C1
            e1 -= WRAP
            if e1 > emax:
                return f80_inf(sign)
            return f80_make(sign, e1, sig)
        c.flags |= FLAG_OE | FLAG_PE
        to_inf = c.rc == RC_NEAREST or (c.rc == RC_UP and not sign) or (c.rc == RC_DOWN and sign)
        if to_inf:
            c.flags |= FLAG_C1
            return f80_inf(sign)
        return f80_make(sign, emax, (<uint64_t>0xFFFFFFFFFFFFFFFF) << (64 - bits))
    if e1 < emin:
        if not (c.cw & CW_UM):
            c.flags |= FLAG_UE
            if mem:
                stored[0] = 0
                return f80_zero(sign)
            if inexact:
                c.flags |= FLAG_PE
                if up:
                    c.flags |= FLAG_C1
            e1 += WRAP
            if e1 < emin:
                return f80_zero(sign)
            return f80_make(sign, e1, sig)
        # masked: denormalise at the same rounding position as the smallest normal
        q2 = _shift_round(m, shift + (emin - exp), c.rc, sign, &inexact2, &up2)
        if inexact2:
            c.flags |= FLAG_UE | FLAG_PE
            if up2:
                c.flags |= FLAG_C1
        sig = <uint64_t>(q2 << (64 - bits))
        if sig == 0:
            return f80_zero(sign)
        if sig & J:
            return f80_make(sign, emin, sig)
        return f80_make(sign, emin - 1, sig)
    if inexact:
        c.flags |= FLAG_PE
        if up:
            c.flags |= FLAG_C1
    return f80_make(sign, e1, sig)

cdef inline F80 _rp(FCtx* c, int bits, bint sign, int32_t exp, u128 m) noexcept nogil:
    cdef bint stored
    return _round(c, bits, sign, exp, m, 1, 0x7FFE, 0, &stored)

cdef F80 f80_round_pack(FCtx* c, bint sign, int32_t exp, uint64_t sig_hi, uint64_t sig_lo) noexcept nogil:
    return _rp(c, _bits_of_pc(c.pc), sign, exp, ((<u128>sig_hi) << 64) | sig_lo)

cdef F80 f80_round_pack_bits(FCtx* c, int bits, bint sign, int32_t exp, uint64_t sig_hi, uint64_t sig_lo) noexcept nogil:
    return _rp(c, bits, sign, exp, ((<u128>sig_hi) << 64) | sig_lo)

# ---------------------------------------------------------------- operands

cdef inline F80 _quiet(F80 a) noexcept nogil:
    a.sig |= QBIT
    return a

cdef F80 _invalid(FCtx* c) noexcept nogil:
    c.flags |= FLAG_IE
    return f80_indefinite()

cdef F80 _nan1(FCtx* c, F80 a, int ca) noexcept nogil:
    if ca == CLS_SNAN:
        c.flags |= FLAG_IE
    return _quiet(a)

cdef F80 _nan2(FCtx* c, F80 a, int ca, F80 b, int cb) noexcept nogil:
    """Table 4-7: the quiet NaN a two-operand instruction returns."""
    if ca == CLS_SNAN or cb == CLS_SNAN:
        c.flags |= FLAG_IE
    if _is_nan(ca) and _is_nan(cb):
        if ca != cb:                       # one SNaN, one QNaN: the QNaN
            return a if ca == CLS_QNAN else b
        if (a.sig | QBIT) != (b.sig | QBIT):
            return _quiet(a) if (a.sig | QBIT) > (b.sig | QBIT) else _quiet(b)
        return _quiet(b) if f80_sign(a) and not f80_sign(b) else _quiet(a)
    return _quiet(a) if _is_nan(ca) else _quiet(b)

cdef inline int32_t _eexp(F80 a) noexcept nogil:
    """The effective biased exponent (denormals and pseudo-denormals read as 1)."""
    cdef int32_t e = a.se & 0x7FFF
    return 1 if e == 0 else e

cdef inline uint64_t _normal_sig(F80 a, int32_t* e) noexcept nogil:
    """The significand of a non-zero finite value shifted until its top bit is set, and in
    *e the effective exponent (see _eexp) lowered to match: the same value, normalised."""
    cdef int lz = clz64(a.sig)
    e[0] = _eexp(a) - lz
    return a.sig << lz

cdef inline void _denormal_check(FCtx* c, int cls) noexcept nogil:
    if cls == CLS_DENORMAL:
        c.flags |= FLAG_DE

# ---------------------------------------------------------------- add, sub

cdef F80 _addsub(FCtx* c, F80 a, F80 b, bint negb) noexcept nogil:
    cdef int ca = f80_class(a), cb = f80_class(b)
    cdef bint sa = f80_sign(a), sb = f80_sign(b) ^ negb, sr
    cdef int32_t ea, eb, d
    cdef u128 ma, mb, m
    cdef F80 t
    if ca == CLS_UNSUPPORTED or cb == CLS_UNSUPPORTED:
        return _invalid(c)
    if _is_nan(ca) or _is_nan(cb):
        return _nan2(c, a, ca, b, cb)
    if ca == CLS_INF or cb == CLS_INF:
        if ca == CLS_INF and cb == CLS_INF:
            if sa != sb:
                return _invalid(c)
            return f80_inf(sa)
        _denormal_check(c, ca)
        _denormal_check(c, cb)
        return f80_inf(sa if ca == CLS_INF else sb)
    _denormal_check(c, ca)
    _denormal_check(c, cb)
    if ca == CLS_ZERO and cb == CLS_ZERO:
        if sa == sb:
            return f80_zero(sa)
        return f80_zero(c.rc == RC_DOWN)
    ea = _eexp(a)
    eb = _eexp(b)
    if ca == CLS_ZERO:
        ea = eb
    if cb == CLS_ZERO:
        eb = ea
    # the operand with the larger exponent first; 62 guard bits below, 2 bits of headroom
    if eb > ea or (eb == ea and b.sig > a.sig):
        t = a; a = b; b = t
        d = ea; ea = eb; eb = d
        sr = sa; sa = sb; sb = sr
    d = ea - eb
    ma = (<u128>a.sig) << 62
    mb = (<u128>b.sig) << 62
    if d >= 126:
        mb = 1 if mb != 0 else 0
    elif d > 0:
        mb = (mb >> d) | ((mb & (((<u128>1) << d) - 1)) != 0)
    if sa == sb:
        m = ma + mb
    else:
        m = ma - mb
        if m == 0:
            return f80_zero(c.rc == RC_DOWN)
    return _rp(c, _bits_of_pc(c.pc), sa, ea + 2, m)

cdef F80 f80_add(FCtx* c, F80 a, F80 b) noexcept nogil:
    return _addsub(c, a, b, 0)

cdef F80 f80_sub(FCtx* c, F80 a, F80 b) noexcept nogil:
    return _addsub(c, a, b, 1)

# ---------------------------------------------------------------- mul, div, sqrt

cdef F80 f80_mul(FCtx* c, F80 a, F80 b) noexcept nogil:
    cdef int ca = f80_class(a), cb = f80_class(b)
    cdef bint s = f80_sign(a) ^ f80_sign(b)
    if ca == CLS_UNSUPPORTED or cb == CLS_UNSUPPORTED:
        return _invalid(c)
    if _is_nan(ca) or _is_nan(cb):
        return _nan2(c, a, ca, b, cb)
    if ca == CLS_INF or cb == CLS_INF:
        if ca == CLS_ZERO or cb == CLS_ZERO:
            return _invalid(c)
        _denormal_check(c, ca)
        _denormal_check(c, cb)
        return f80_inf(s)
    _denormal_check(c, ca)
    _denormal_check(c, cb)
    if ca == CLS_ZERO or cb == CLS_ZERO:
        return f80_zero(s)
    return _rp(c, _bits_of_pc(c.pc), s, _eexp(a) + _eexp(b) - BIAS + 1,
               (<u128>a.sig) * (<u128>b.sig))

cdef F80 f80_div(FCtx* c, F80 a, F80 b) noexcept nogil:
    cdef int ca = f80_class(a), cb = f80_class(b)
    cdef bint s = f80_sign(a) ^ f80_sign(b)
    cdef uint64_t sa, sb
    cdef int32_t ea, eb
    cdef int lz
    cdef u128 num, q1, r1, q2, r2
    if ca == CLS_UNSUPPORTED or cb == CLS_UNSUPPORTED:
        return _invalid(c)
    if _is_nan(ca) or _is_nan(cb):
        return _nan2(c, a, ca, b, cb)
    if ca == CLS_INF:
        if cb == CLS_INF:
            return _invalid(c)
        _denormal_check(c, cb)
        return f80_inf(s)
    if cb == CLS_INF:
        _denormal_check(c, ca)
        return f80_zero(s)
    if cb == CLS_ZERO:
        if ca == CLS_ZERO:
            return _invalid(c)
        _denormal_check(c, ca)
        c.flags |= FLAG_ZE
        return f80_inf(s)
    _denormal_check(c, ca)
    _denormal_check(c, cb)
    if ca == CLS_ZERO:
        return f80_zero(s)
    sa = _normal_sig(a, &ea)
    sb = _normal_sig(b, &eb)
    # quotient (sa / sb) * 2^127 in two 64-bit steps; the last remainder is sticky
    num = (<u128>sa) << 63
    q1 = num // sb
    r1 = num % sb
    num = r1 << 64
    q2 = num // sb
    r2 = num % sb
    return _rp(c, _bits_of_pc(c.pc), s, ea - eb + BIAS,
               (q1 << 64) | q2 | (r2 != 0))

cdef uint64_t _isqrt128(u128 n) noexcept nogil:
    """floor(sqrt(n)) for 2^126 <= n < 2^128, by Newton's iteration from above."""
    cdef u128 x = 0xFFFFFFFFFFFFFFFF, y
    while True:
        y = (x + n // x) >> 1
        if y >= x:
            return <uint64_t>x
        x = y

cdef F80 f80_sqrt(FCtx* c, F80 a) noexcept nogil:
    cdef int ca = f80_class(a)
    cdef uint64_t sig, r
    cdef int32_t e, u
    cdef int lz, k
    cdef u128 n, rem
    if ca == CLS_UNSUPPORTED:
        return _invalid(c)
    if _is_nan(ca):
        return _nan1(c, a, ca)
    if ca == CLS_ZERO:
        return a
    if f80_sign(a):
        return _invalid(c)
    if ca == CLS_INF:
        return a
    _denormal_check(c, ca)
    sig = _normal_sig(a, &e)
    # value = sig * 2^(u - 63); scale by 2^k so the remaining power of two is even
    u = e - BIAS
    k = 64 if (u & 1) else 63
    n = (<u128>sig) << k
    r = _isqrt128(n)
    rem = n - (<u128>r) * r
    # sqrt(n) = r + f, 0 <= f < 1: f > 1/2 exactly when rem > r; f = 1/2 never happens
    # sqrt(value) = sqrt(n) * 2^((u - 63 - k) / 2), and bit 63 of r weighs 2^63 in sqrt(n)
    return _rp(c, _bits_of_pc(c.pc), 0, ((u - 63 - k) >> 1) + 63 + BIAS,
               ((<u128>r) << 64) | ((<u128>(rem > r)) << 63) | (rem != 0))

# ---------------------------------------------------------------- integer rounding

cdef inline u128 _to_integer(FCtx* c, F80 a, bint* inexact, bint* up) noexcept nogil:
    """|a| rounded to an integer by c.rc (a finite, exponent below BIAS + 64)."""
    cdef int32_t e = _eexp(a)
    cdef int s
    if e >= BIAS + 63:
        inexact[0] = 0
        up[0] = 0
        return (<u128>a.sig) << (e - BIAS - 63)
    s = BIAS + 63 - e
    return _shift_round((<u128>a.sig) << 64, s + 64, c.rc, f80_sign(a), inexact, up)

cdef F80 f80_round_int(FCtx* c, F80 a) noexcept nogil:
    cdef int ca = f80_class(a)
    cdef bint inexact, up
    cdef u128 q
    if ca == CLS_UNSUPPORTED:
        return _invalid(c)
    if _is_nan(ca):
        return _nan1(c, a, ca)
    if ca == CLS_ZERO or ca == CLS_INF:
        return a
    _denormal_check(c, ca)
    if _eexp(a) >= BIAS + 63:
        return a
    q = _to_integer(c, a, &inexact, &up)
    if inexact:
        c.flags |= FLAG_PE
        if up:
            c.flags |= FLAG_C1
    if q == 0:
        return f80_zero(f80_sign(a))
    return _rp(c, 64, f80_sign(a), BIAS + 127, q)

# ---------------------------------------------------------------- FPREM, FPREM1

cdef F80 f80_rem(FCtx* c, F80 a, F80 b, bint ieee, int* q, bint* partial) noexcept nogil:
    cdef int ca = f80_class(a), cb = f80_class(b)
    cdef bint sa = f80_sign(a), sr
    cdef uint64_t xa, xb, qq
    cdef int32_t ea, eb, d, s
    cdef int lz
    cdef u128 num, r, qw
    q[0] = 0
    partial[0] = 0
    if ca == CLS_UNSUPPORTED or cb == CLS_UNSUPPORTED:
        return _invalid(c)
    if _is_nan(ca) or _is_nan(cb):
        return _nan2(c, a, ca, b, cb)
    if ca == CLS_INF or cb == CLS_ZERO:
        return _invalid(c)
    _denormal_check(c, ca)
    _denormal_check(c, cb)
    if ca == CLS_ZERO or cb == CLS_INF:
        if ca == CLS_DENORMAL:
            return _rp(c, 64, sa, _eexp(a), (<u128>a.sig) << 64)
        return a
    xa = _normal_sig(a, &ea)
    xb = _normal_sig(b, &eb)
    d = ea - eb
    if d < 0:
        # |a| < |b|: the quotient is 0, except FPREM1 rounds |a| > |b|/2 up to 1
        if ieee and d == -1 and xa > xb:
            q[0] = 1
            # |b| - |a| with |a| = xa * 2^(eb-1), |b| = 2 xb * 2^(eb-1)
            return _rp(c, 64, not sa, ea + 2, ((<u128>2 * xb) - xa) << 62)
        return _rp(c, 64, sa, ea, (<u128>xa) << 64)
    if d < 64:
        s = d
    else:
        # partial remainder: reduce by b * 2^(D - N), N between 32 and 63 [SDM FPREM]
        s = 32 + d % 32
        partial[0] = 1
    num = (<u128>xa) << s
    qq = <uint64_t>(num // xb)
    r = num - (<u128>qq) * xb
    sr = sa
    if ieee and not partial[0]:
        # nearest, ties to the even quotient
        if 2 * r > xb or (2 * r == xb and (qq & 1)):
            qq += 1
            r = xb - r
            sr = not sa
    q[0] = <int>(qq & 7)
    if r == 0:
        return f80_zero(sa)
    # r is in units of 2^(ea - s - BIAS - 63)
    return _rp(c, 64, sr, ea - s, r << 64)

# ---------------------------------------------------------------- FSCALE, FXTRACT

cdef F80 f80_scale(FCtx* c, F80 a, F80 b) noexcept nogil:
    cdef int ca = f80_class(a), cb = f80_class(b)
    cdef bint sb = f80_sign(b)
    cdef int32_t eb, n
    if ca == CLS_UNSUPPORTED or cb == CLS_UNSUPPORTED:
        return _invalid(c)
    if _is_nan(ca) or _is_nan(cb):
        return _nan2(c, a, ca, b, cb)
    if cb == CLS_INF:
        if sb:
            if ca == CLS_INF:
                return _invalid(c)
            _denormal_check(c, ca)
            return f80_zero(f80_sign(a))
        if ca == CLS_ZERO:
            return _invalid(c)
        _denormal_check(c, ca)
        return f80_inf(f80_sign(a))
    _denormal_check(c, ca)
    _denormal_check(c, cb)
    if ca == CLS_ZERO or ca == CLS_INF:
        return a
    eb = _eexp(b)
    if cb == CLS_ZERO or eb < BIAS:
        n = 0
    elif eb >= BIAS + 30:
        n = (1 << 30)                   # far beyond any result's range: inf or zero
    else:
        n = <int32_t>(b.sig >> (63 - (eb - BIAS)))
    if sb:
        n = -n
    return _rp(c, 64, f80_sign(a), _eexp(a) + n, (<u128>a.sig) << 64)

cdef F80 f80_xtract(FCtx* c, F80 a, F80* exponent) noexcept nogil:
    cdef int ca = f80_class(a)
    cdef uint64_t sig
    cdef int32_t e
    cdef int lz
    if ca == CLS_UNSUPPORTED:
        exponent[0] = _invalid(c)
        return exponent[0]
    if _is_nan(ca):
        exponent[0] = _nan1(c, a, ca)
        return exponent[0]
    if ca == CLS_ZERO:
        c.flags |= FLAG_ZE
        exponent[0] = f80_inf(1)
        return a
    if ca == CLS_INF:
        exponent[0] = f80_inf(0)
        return a
    _denormal_check(c, ca)
    sig = a.sig
    e = _eexp(a)
    lz = clz64(sig)
    exponent[0] = f80_from_i64(e - lz - BIAS)
    return f80_make(f80_sign(a), BIAS, sig << lz)

# ---------------------------------------------------------------- compare

cdef int f80_compare(FCtx* c, F80 a, F80 b, bint quiet) noexcept nogil:
    cdef int ca = f80_class(a), cb = f80_class(b)
    cdef bint sa = f80_sign(a), sb = f80_sign(b), lt
    cdef int32_t ea, eb
    if ca == CLS_UNSUPPORTED or cb == CLS_UNSUPPORTED:
        c.flags |= FLAG_IE
        return CMP_UN
    if _is_nan(ca) or _is_nan(cb):
        if not quiet or ca == CLS_SNAN or cb == CLS_SNAN:
            c.flags |= FLAG_IE
        return CMP_UN
    _denormal_check(c, ca)
    _denormal_check(c, cb)
    if ca == CLS_ZERO and cb == CLS_ZERO:
        return CMP_EQ
    if ca == CLS_ZERO:
        return CMP_GT if sb else CMP_LT
    if cb == CLS_ZERO:
        return CMP_LT if sa else CMP_GT
    if sa != sb:
        return CMP_LT if sa else CMP_GT
    ea = _eexp(a)
    eb = _eexp(b)
    if ea == eb and a.sig == b.sig:
        return CMP_EQ
    lt = ea < eb or (ea == eb and a.sig < b.sig)   # |a| < |b|
    if sa:
        lt = not lt
    return CMP_LT if lt else CMP_GT

# ---------------------------------------------------------------- 32/64-bit reals

cdef F80 _from_real(FCtx* c, bint sign, int32_t e, uint64_t frac, int fbits, int ebias, int32_t emaxfield) noexcept nogil:
    """A binary32/64 (biased exponent field e, fraction frac of fbits) as an exact F80."""
    cdef int lz
    if e == emaxfield:
        if frac == 0:
            return f80_inf(sign)
        if not (frac >> (fbits - 1)):
            c.flags |= FLAG_IE
        return f80_make(sign, 0x7FFF, J | QBIT | (frac << (63 - fbits)))
    if e == 0:
        if frac == 0:
            return f80_zero(sign)
        c.flags |= FLAG_DE
        lz = clz64(frac)
        # value = frac * 2^(1 - ebias - fbits)
        return f80_make(sign, (1 - ebias - fbits) + 63 - lz + BIAS, frac << lz)
    return f80_make(sign, e - ebias + BIAS, J | (frac << (63 - fbits)))

cdef F80 f80_from_f32(FCtx* c, uint32_t v) noexcept nogil:
    return _from_real(c, v >> 31, (v >> 23) & 0xFF, v & 0x7FFFFF, 23, 127, 0xFF)

cdef F80 f80_from_f64(FCtx* c, uint64_t v) noexcept nogil:
    return _from_real(c, v >> 63, (v >> 52) & 0x7FF, v & 0xFFFFFFFFFFFFFULL, 52, 1023, 0x7FF)

cdef bint _to_real(FCtx* c, F80 a, int fbits, int ebias, int32_t emaxfield, uint64_t* out) noexcept nogil:
    """Round a to a binary32/64; *out gets the bits.  0 when an unmasked exception stops."""
    cdef int ca = f80_class(a)
    cdef bint sign = f80_sign(a), stored
    cdef uint64_t sbit
    cdef int ebits
    cdef int32_t emin, emax, e
    cdef F80 r
    cdef uint64_t inf_bits, frac_mask = ((<uint64_t>1) << fbits) - 1
    ebits = 8 if fbits == 23 else 11
    sbit = (<uint64_t>sign) << (fbits + ebits)
    inf_bits = (<uint64_t>emaxfield) << fbits
    if ca == CLS_UNSUPPORTED:
        c.flags |= FLAG_IE
        if not (c.cw & CW_IM):
            return 0
        out[0] = sbit | (<uint64_t>1 << (fbits + ebits)) | inf_bits | ((<uint64_t>1) << (fbits - 1))
        return 1
    if _is_nan(ca):
        if ca == CLS_SNAN:
            c.flags |= FLAG_IE
            if not (c.cw & CW_IM):
                return 0
        out[0] = sbit | inf_bits | ((<uint64_t>1) << (fbits - 1)) | ((a.sig >> (63 - fbits)) & frac_mask)
        return 1
    if ca == CLS_INF:
        out[0] = sbit | inf_bits
        return 1
    if ca == CLS_ZERO:
        out[0] = sbit
        return 1
    if ca == CLS_DENORMAL:
        c.flags |= FLAG_DE
        if not (c.cw & CW_DM):
            return 0
    emin = BIAS - ebias + 1
    emax = BIAS + ebias
    r = _round(c, fbits + 1, sign, _eexp(a), (<u128>a.sig) << 64, emin, emax, 1, &stored)
    if not stored:
        return 0
    e = r.se & 0x7FFF
    if r.sig == 0:
        out[0] = sbit
    elif e == 0x7FFF:
        out[0] = sbit | inf_bits
    elif r.sig & J:
        out[0] = sbit | ((<uint64_t>(e - BIAS + ebias)) << fbits) | ((r.sig >> (63 - fbits)) & frac_mask)
    else:
        out[0] = sbit | (r.sig >> (63 - fbits))
    return 1

cdef bint f80_to_f32(FCtx* c, F80 a, uint32_t* out) noexcept nogil:
    cdef uint64_t v = 0
    cdef bint ok = _to_real(c, a, 23, 127, 0xFF, &v)
    out[0] = <uint32_t>v
    return ok

cdef bint f80_to_f64(FCtx* c, F80 a, uint64_t* out) noexcept nogil:
    return _to_real(c, a, 52, 1023, 0x7FF, out)

# ---------------------------------------------------------------- integers, BCD

cdef F80 f80_from_i64(int64_t v) noexcept nogil:
    cdef bint sign = v < 0
    cdef uint64_t m
    cdef int lz
    if v == 0:
        return f80_zero(0)
    m = (<uint64_t>0 - <uint64_t>v) if sign else <uint64_t>v
    lz = clz64(m)
    return f80_make(sign, BIAS + 63 - lz, m << lz)

cdef int _round_integer(FCtx* c, F80 a, u128 limit_pos, u128 limit_neg, u128* mag) noexcept nogil:
    """|a| rounded by c.rc into *mag: 1; 0 (with IE) when a is no integer of the range;
    2 when an unmasked DE stops the store."""
    cdef int ca = f80_class(a)
    cdef bint inexact, up
    cdef u128 q
    if ca == CLS_UNSUPPORTED or ca == CLS_INF or _is_nan(ca):
        c.flags |= FLAG_IE
        return 0
    if ca == CLS_ZERO:
        mag[0] = 0
        return 1
    if ca == CLS_DENORMAL:
        c.flags |= FLAG_DE
        if not (c.cw & CW_DM):
            return 2                    # an unmasked DE: the store does not happen
    if _eexp(a) >= BIAS + 64:
        c.flags |= FLAG_IE
        return 0
    q = _to_integer(c, a, &inexact, &up)
    if q > (limit_neg if f80_sign(a) else limit_pos):
        c.flags |= FLAG_IE
        return 0
    if inexact:
        c.flags |= FLAG_PE
        if up:
            c.flags |= FLAG_C1
    mag[0] = q
    return 1

cdef bint f80_to_int(FCtx* c, F80 a, int size, int64_t* out) noexcept nogil:
    cdef u128 mag, lim = (<u128>1) << (8 * size - 1)
    cdef int ok = _round_integer(c, a, lim - 1, lim, &mag)
    if ok == 2:
        return 0
    if ok == 0:
        if not (c.cw & CW_IM):
            return 0
        out[0] = -(<int64_t>(lim - 1)) - 1
        return 1
    if f80_sign(a):
        out[0] = <int64_t>(<uint64_t>0 - <uint64_t>mag)
    else:
        out[0] = <int64_t>mag
    return 1

cdef F80 f80_from_bcd(const uint8_t* p) noexcept nogil:
    cdef uint64_t v = 0
    cdef int i
    cdef int lz
    for i in range(8, -1, -1):
        v = v * 10 + (p[i] >> 4)
        v = v * 10 + (p[i] & 15)
    if v == 0:
        return f80_zero(p[9] >> 7)
    lz = clz64(v)
    return f80_make(p[9] >> 7, BIAS + 63 - lz, v << lz)

cdef bint f80_to_bcd(FCtx* c, F80 a, uint8_t* p) noexcept nogil:
    cdef u128 mag
    cdef uint64_t v
    cdef int i
    cdef int ok = _round_integer(c, a, <u128>999999999999999999, <u128>999999999999999999, &mag)
    if ok == 2:
        return 0
    if ok == 0:
        if not (c.cw & CW_IM):
            return 0
        # the packed BCD indefinite: FFFF C000 0000 0000 0000h [SDM vol. 1 4.7]
        for i in range(7):
            p[i] = 0
        p[7] = 0xC0
        p[8] = 0xFF
        p[9] = 0xFF
        return 1
    v = <uint64_t>mag
    for i in range(9):
        p[i] = <uint8_t>((v % 10) | (((v // 10) % 10) << 4))
        v //= 100
    p[9] = 0x80 if f80_sign(a) else 0
    return 1

# ================================================================ Python access

from fractions import Fraction as _Fraction

CLS_NAMES = ("zero", "denormal", "normal", "inf", "qnan", "snan", "unsupported")
INDEFINITE = 0xFFFFC000000000000000

def calc(op, a, b=0, cw=0x037F):
    """(result, flags) of one operation: 'add' 'sub' 'mul' 'div' 'sqrt' 'round_int' 'scale'."""
    cdef FCtx c = f80_ctx(cw & 0xFFFF)
    cdef F80 x = f80_from_py(a), y = f80_from_py(b), r
    if op == "add":
        r = f80_add(&c, x, y)
    elif op == "sub":
        r = f80_sub(&c, x, y)
    elif op == "mul":
        r = f80_mul(&c, x, y)
    elif op == "div":
        r = f80_div(&c, x, y)
    elif op == "sqrt":
        r = f80_sqrt(&c, x)
    elif op == "round_int":
        r = f80_round_int(&c, x)
    elif op == "scale":
        r = f80_scale(&c, x, y)
    else:
        raise ValueError(f"unknown operation {op!r}")
    return f80_to_py(r), c.flags


def round_pack(sign, exp, sig_hi, sig_lo=0, cw=0x037F, bits=None):
    """(result, flags) of f80_round_pack (or f80_round_pack_bits when bits is given)."""
    cdef FCtx c = f80_ctx(cw & 0xFFFF)
    cdef F80 r
    if bits is None:
        r = f80_round_pack(&c, bool(sign), exp, sig_hi, sig_lo)
    else:
        r = f80_round_pack_bits(&c, bits, bool(sign), exp, sig_hi, sig_lo)
    return f80_to_py(r), c.flags


def rem(a, b, ieee=False, cw=0x037F):
    """(remainder, Q2Q1Q0, partial, flags) of FPREM (ieee False) or FPREM1."""
    cdef FCtx c = f80_ctx(cw & 0xFFFF)
    cdef int q = 0
    cdef bint partial = 0
    cdef F80 r = f80_rem(&c, f80_from_py(a), f80_from_py(b), bool(ieee), &q, &partial)
    return f80_to_py(r), q, bool(partial), c.flags


def compare(a, b, quiet=False, cw=0x037F):
    """(CMP_*, flags) of FCOM (quiet False) or FUCOM."""
    cdef FCtx c = f80_ctx(cw & 0xFFFF)
    cdef int r = f80_compare(&c, f80_from_py(a), f80_from_py(b), bool(quiet))
    return r, c.flags


def xtract(a, cw=0x037F):
    """(significand, exponent, flags) of FXTRACT."""
    cdef FCtx c = f80_ctx(cw & 0xFFFF)
    cdef F80 e
    cdef F80 s = f80_xtract(&c, f80_from_py(a), &e)
    return f80_to_py(s), f80_to_py(e), c.flags


def classify(x):
    """CLS_* of an 80-bit value."""
    return f80_class(f80_from_py(x))


def from_f32(bits, cw=0x037F):
    cdef FCtx c = f80_ctx(cw & 0xFFFF)
    cdef F80 r = f80_from_f32(&c, bits & 0xFFFFFFFF)
    return f80_to_py(r), c.flags


def from_f64(bits, cw=0x037F):
    cdef FCtx c = f80_ctx(cw & 0xFFFF)
    cdef F80 r = f80_from_f64(&c, bits & 0xFFFFFFFFFFFFFFFF)
    return f80_to_py(r), c.flags


def from_int(v):
    return f80_to_py(f80_from_i64(v))


def to_f32(x, cw=0x037F):
    """(stored, bits, flags) of FST m32."""
    cdef FCtx c = f80_ctx(cw & 0xFFFF)
    cdef uint32_t out = 0
    cdef bint ok = f80_to_f32(&c, f80_from_py(x), &out)
    return bool(ok), (out if ok else None), c.flags


def to_f64(x, cw=0x037F):
    """(stored, bits, flags) of FST m64."""
    cdef FCtx c = f80_ctx(cw & 0xFFFF)
    cdef uint64_t out = 0
    cdef bint ok = f80_to_f64(&c, f80_from_py(x), &out)
    return bool(ok), (out if ok else None), c.flags


def to_int(x, size, cw=0x037F):
    """(stored, value, flags) of FIST of size 2, 4 or 8 bytes."""
    cdef FCtx c = f80_ctx(cw & 0xFFFF)
    cdef int64_t out = 0
    if size not in (2, 4, 8):
        raise ValueError("size must be 2, 4 or 8")
    cdef bint ok = f80_to_int(&c, f80_from_py(x), size, &out)
    return bool(ok), (out if ok else None), c.flags


def to_bcd(x, cw=0x037F):
    """(stored, bytes, flags) of FBSTP."""
    cdef FCtx c = f80_ctx(cw & 0xFFFF)
    cdef uint8_t buf[10]
    cdef bint ok = f80_to_bcd(&c, f80_from_py(x), buf)
    return bool(ok), (bytes(buf[:10]) if ok else None), c.flags


def from_bcd(data):
    """FBLD of 10 bytes."""
    cdef bytes b = bytes(data)
    if len(b) != 10:
        raise ValueError("packed BCD is 10 bytes")
    cdef const uint8_t* p = b
    return f80_to_py(f80_from_bcd(p))


def to_fraction(x):
    """The exact value of a finite 80-bit value (any encoding read by its bits)."""
    x = int(x)
    sig = x & 0xFFFFFFFFFFFFFFFF
    e = (x >> 64) & 0x7FFF
    neg = (x >> 79) & 1
    if e == 0x7FFF:
        raise ValueError("not a finite value")
    v = _Fraction(sig) * _Fraction(2) ** (max(e, 1) - BIAS - 63)
    return -v if neg else v


def from_fraction(q, cw=0x037F, bits=None):
    """(result, flags): a Fraction rounded by the control word (or to `bits` bits)."""
    q = _Fraction(q)
    if q == 0:
        return 0, 0
    sign = q < 0
    q = abs(q)
    # find k with 2^127 <= q * 2^k < 2^128, then the floor with a sticky bit
    k = 127 - (q.numerator.bit_length() - q.denominator.bit_length())
    while q * _Fraction(2) ** k >= 2 ** 128:
        k -= 1
    while q * _Fraction(2) ** k < 2 ** 127:
        k += 1
    scaled = q * _Fraction(2) ** k
    m = scaled.numerator // scaled.denominator
    if m * scaled.denominator != scaled.numerator:
        m |= 1
    # bit 127 of m (bit 63 of sig_hi) has weight 2^(127 - k) = 2^(exp - BIAS)
    exp = 127 - k + BIAS
    return round_pack(sign, exp, m >> 64, m & 0xFFFFFFFFFFFFFFFF, cw, bits)


for _name, _val in (("FLAG_IE", FLAG_IE), ("FLAG_DE", FLAG_DE), ("FLAG_ZE", FLAG_ZE),
                    ("FLAG_OE", FLAG_OE), ("FLAG_UE", FLAG_UE), ("FLAG_PE", FLAG_PE),
                    ("FLAG_C1", FLAG_C1), ("CLS_ZERO", CLS_ZERO),
                    ("CLS_DENORMAL", CLS_DENORMAL), ("CLS_NORMAL", CLS_NORMAL),
                    ("CLS_INF", CLS_INF), ("CLS_QNAN", CLS_QNAN), ("CLS_SNAN", CLS_SNAN),
                    ("CLS_UNSUPPORTED", CLS_UNSUPPORTED), ("CMP_GT", CMP_GT),
                    ("CMP_LT", CMP_LT), ("CMP_EQ", CMP_EQ), ("CMP_UN", CMP_UN)):
    globals()[_name] = _val
del _name, _val
