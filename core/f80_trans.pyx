# cython: language_level=3
"""The x87 transcendental instructions and load-constant instructions, on integers.

No host floating point takes part: each function unpacks its 80-bit operands into a
wide binary format (a 128-bit significand, an int exponent and a sign), evaluates a
Taylor series on it and hands the result to f80_round_pack_bits, which rounds it to
64 bits by RC and sets PE, C1, UE and OE as the x87 does.

Why 128 bits: the Pentium and later promise less than 1 ulp of error in
round-to-nearest and 1.5 ulps in the other modes [SDM vol. 1 8.3.10].  Carrying ~120
good bits makes each result the correctly rounded value of the function (in every RC)
except for arguments whose value lies within about 2^-55 ulp of a rounding boundary
(a midpoint, or in the directed modes a representable number), which
keeps every result far inside the documented bound and makes the results
deterministic.  Real chips are not correctly rounded; the last bit of a Pentium's
FSIN can differ from ours while both are within the bound.

Exactness.  Every wide operation keeps a "sticky" mark: a result that lost bits has
its lowest significand bit forced to 1 (rounding to odd), and the constants in
f80_trans_tables.pxi are rounded to odd as well.  A result that is exact (log2 of a
power of two, 2^1 - 1, y * log2(1 + 1)) therefore arrives at the rounding without
that mark and raises no PE, and a directed rounding of an inexact one goes the right
way even when the lost part is far below the 128 bits.

Special operands follow the tables on each instruction's page in SDM vol. 2 and the
exception priorities of SDM vol. 1 4.9.2 (an SNaN or unsupported operand, then a
QNaN, then the other invalid and zero-divide cases, then denormal operands).
"""
from libc.stdint cimport uint16_t, uint32_t, int32_t, uint64_t, int64_t
from core.f80 cimport (F80, FCtx, f80_ctx, f80_from_py, f80_to_py, FLAG_IE, FLAG_DE, FLAG_ZE,
                       RC_NEAREST, RC_DOWN, RC_UP, RC_ZERO,
                       CLS_ZERO, CLS_DENORMAL, CLS_NORMAL, CLS_INF, CLS_QNAN, CLS_SNAN,
                       CLS_UNSUPPORTED,
                       f80_make, f80_zero, f80_inf, f80_indefinite, f80_class,
                       f80_round_pack_bits)

include "f80_trans_tables.pxi"

cdef extern from * nogil:
    """
    typedef unsigned __int128 f80t_u128;
    static inline int f80t_clz128(f80t_u128 x) {
        uint64_t hi = (uint64_t)(x >> 64), lo = (uint64_t)x;
        if (hi) return __builtin_clzll(hi);
        if (lo) return 64 + __builtin_clzll(lo);
        return 128;
    }
    #define F80T_M64 ((f80t_u128)0xFFFFFFFFFFFFFFFFULL)
    #define F80T_TOP (((f80t_u128)1) << 127)
    /* The Pentium's 66-bit Pi [SDM vol. 1 8.3.8]: Pi = 0.C90FDAA2 2168C234 C * 2^2.
       Pi/2 = F80T_PI66 * 2^-65; the integer is odd. */
    #define F80T_J ((uint64_t)1 << 63)
    #define F80T_PI66 ((((f80t_u128)3) << 64) | 0x243F6A8885A308D3ULL)
    """
    ctypedef unsigned long long u128 "f80t_u128"
    int clz128 "f80t_clz128"(u128 x)
    u128 M64 "F80T_M64"
    u128 TOP "F80T_TOP"
    u128 PI66 "F80T_PI66"
    uint64_t J "F80T_J"          # the integer bit of an F80 significand

# The wide format: value = (-1)^s * m * 2^(e - 127); m has bit 127 set, or m = 0 for
# zero.  e is the unbiased binary exponent of the leading bit, unbounded in practice
# (an int32 holds every exponent these functions reach).
cdef struct W:
    u128 m
    int32_t e
    bint s

cdef enum:
    BIAS = 16383
    EXP_MAX = 0x7FFF
    # Series lengths, from the truncation bound |first omitted term| < 2^-130 of the
    # result over each series' domain (see the functions below).
    N_SIN = 16          # |r| <= pi/4: r^32/33! < 2^-133
    N_COS = 17          # |r| <= pi/4: r^34/34! < 2^-138
    N_EXPM1 = 31        # |t| <= ln 2: t^31/32! < 2^-134
    N_LOG = 25          # |u| <= 0.1716: u^50/51 < 2^-132
    N_ATAN = 13         # |u| <= 1/32: u^26/27 < 2^-134


# ---------------------------------------------------------------- wide arithmetic
cdef inline u128 _shr_jam(u128 x, int32_t n) noexcept nogil:
    """x >> n with the lost bits OR'ed into bit 0 (round to odd)."""
    if n <= 0:
        return x
    if n >= 128:
        return 1 if x != 0 else 0
    return (x >> n) | (1 if (x << (128 - n)) != 0 else 0)


cdef inline W _w(bint s, int32_t e, u128 m) noexcept nogil:
    """The wide number (-1)^s * m * 2^(e - 127), normalised (m need not be)."""
    cdef W r
    cdef int z
    r.s = s
    if m == 0:
        r.m = 0
        r.e = 0
        return r
    z = clz128(m)
    r.m = m << z
    r.e = e - z
    return r


cdef inline W _wk(const f80t_k* k) noexcept nogil:
    cdef W r
    r.m = ((<u128>k.hi) << 64) | k.lo
    r.e = k.e
    r.s = k.s
    return r


cdef inline W _wint(bint s, uint64_t v) noexcept nogil:
    return _w(s, 127, v)


cdef inline W _wf80(F80 a) noexcept nogil:
    """A finite non-zero F80 (normal, denormal or pseudo-denormal), exactly."""
    cdef int e = a.se & 0x7FFF
    if e == 0:
        e = 1           # denormals and pseudo-denormals read with exponent 1
    return _w(a.se >> 15, e - BIAS + 64, a.sig)


cdef inline W _neg(W a) noexcept nogil:
    a.s = not a.s
    return a


cdef inline int _cmp_abs(W a, W b) noexcept nogil:
    """-1, 0, +1 as |a| <, =, > |b|."""
    if a.m == 0 or b.m == 0:
        return (a.m != 0) - (b.m != 0)
    if a.e != b.e:
        return 1 if a.e > b.e else -1
    if a.m != b.m:
        return 1 if a.m > b.m else -1
    return 0


cdef W _mul(W a, W b) noexcept nogil:
    cdef W r
    cdef uint64_t ah, al, bh, bl
    cdef u128 hh, hl, lh, ll, mid, hi, lo
    r.s = a.s ^ b.s
    if a.m == 0 or b.m == 0:
        r.m = 0
        r.e = 0
        return r
    ah = <uint64_t>(a.m >> 64)
    al = <uint64_t>a.m
    bh = <uint64_t>(b.m >> 64)
    bl = <uint64_t>b.m
    hh = (<u128>ah) * bh
    hl = (<u128>ah) * bl
    lh = (<u128>al) * bh
    ll = (<u128>al) * bl
    mid = (hl & M64) + (lh & M64) + (ll >> 64)
    hi = hh + (hl >> 64) + (lh >> 64) + (mid >> 64)
    lo = (mid << 64) | (ll & M64)
    if hi >> 127:
        r.m = hi | (1 if lo != 0 else 0)
        r.e = a.e + b.e + 1
    else:
        r.m = (hi << 1) | (lo >> 127) | (1 if (lo << 1) != 0 else 0)
        r.e = a.e + b.e
    return r


cdef W _add(W a, W b) noexcept nogil:
    cdef W t
    cdef u128 bm, m
    if b.m == 0:
        return a
    if a.m == 0:
        return b
    if b.e > a.e or (b.e == a.e and b.m > a.m):
        t = a
        a = b
        b = t
    bm = _shr_jam(b.m, a.e - b.e)
    if a.s == b.s:
        m = a.m + bm
        if m < a.m:                     # carried out of bit 127
            a.m = (m >> 1) | (m & 1) | TOP
            a.e += 1
        else:
            a.m = m
        return a
    return _w(a.s, a.e, a.m - bm)


cdef inline W _sub(W a, W b) noexcept nogil:
    return _add(a, _neg(b))


cdef W _div(W a, W b) noexcept nogil:
    """a / b (b non-zero) by restoring division, 128 quotient bits and a sticky bit."""
    cdef W r
    cdef u128 n = a.m, d = b.m, q
    cdef bint carry
    cdef int i
    r.s = a.s ^ b.s
    if n == 0:
        r.m = 0
        r.e = 0
        return r
    r.e = a.e - b.e
    if n < d:
        # quotient in (1/2, 1): start from 2n, which is >= d (both have bit 127 set)
        r.e -= 1
        n = (n << 1) - d                # 2n - d < d, computed modulo 2^128
    else:
        n -= d
    q = 1
    for i in range(127):
        carry = (n >> 127) != 0
        n <<= 1
        q <<= 1
        if carry or n >= d:
            n -= d
            q |= 1
    r.m = q | (1 if n != 0 else 0)
    return r


cdef W _poly(W x, const f80t_k* k, int first, int stride, int n, bint alternate) noexcept nogil:
    """sum_{j<n} (+-1)^j * k[first + j*stride] * x^j by Horner's rule."""
    cdef int j = n - 1
    cdef W p = _wk(&k[first + j * stride]), c
    if alternate and (j & 1):
        p.s = not p.s
    while j > 0:
        j -= 1
        c = _wk(&k[first + j * stride])
        if alternate and (j & 1):
            c.s = not c.s
        p = _add(_mul(p, x), c)
    return p


cdef inline F80 _pack(FCtx* c, W r) noexcept nogil:
    """Round to 64 bits by c.rc (no precision control for transcendentals)."""
    if r.m == 0:
        return f80_zero(r.s)
    return f80_round_pack_bits(c, 64, r.s, r.e + BIAS, <uint64_t>(r.m >> 64), <uint64_t>r.m)


# ---------------------------------------------------------------- special operands
cdef inline F80 _quiet(F80 a) noexcept nogil:
    a.sig |= J >> 1                  # the quiet bit
    return a


cdef inline F80 _invalid(FCtx* c) noexcept nogil:
    c.flags |= FLAG_IE
    return f80_indefinite()


cdef inline bint _is_nan(int cls) noexcept nogil:
    return cls == CLS_QNAN or cls == CLS_SNAN


cdef F80 _nan1(FCtx* c, F80 a, int cls) noexcept nogil:
    if cls == CLS_SNAN:
        c.flags |= FLAG_IE
    return _quiet(a)


cdef F80 _nan2(FCtx* c, F80 a, int ca, F80 b, int cb) noexcept nogil:
    """The NaN result of a two-operand instruction [SDM vol. 1 Table 4-7]: an SNaN
    raises IE; a QNaN beats an SNaN; of two NaNs of one kind, the larger significand
    wins (equal significands: the positive one), quieted."""
    if ca == CLS_SNAN or cb == CLS_SNAN:
        c.flags |= FLAG_IE
    if not _is_nan(cb):
        return _quiet(a)
    if not _is_nan(ca):
        return _quiet(b)
    if ca != cb:
        return a if ca == CLS_QNAN else b
    if a.sig != b.sig:
        return _quiet(a if a.sig > b.sig else b)
    return _quiet(a if a.se <= b.se else b)


cdef inline F80 _one(bint sign) noexcept nogil:
    return f80_make(sign, BIAS, J)


# ---------------------------------------------------------------- trigonometric
cdef int _reduce(W ax, W* r) noexcept nogil:
    """Reduce |x| < 2^63 as the Pentium does: k = the integer nearest x / (Pi/2) with
    the 66-bit Pi, r = x - k*Pi/2 exactly (|r| <= Pi/4).  Returns k mod 4.

    |x| * 2^65 is an integer below 2^128 (x has 64 significant bits and an exponent
    of at most 62), and Pi/2 = PI66 * 2^-65, so the reduction is one exact integer
    division.  r is never 0 for x != 0 (PI66 is odd and wider than x)."""
    cdef u128 n, q, rem
    cdef bint neg = 0
    if ax.e <= -2:                      # |x| < 1/2 < Pi/4
        r[0] = ax
        return 0
    n = (ax.m >> 64) << (ax.e + 2)
    q = n / PI66
    rem = n - q * PI66
    if rem > (PI66 >> 1):               # nearer the next multiple of Pi/2
        q += 1
        rem = PI66 - rem
        neg = 1
    r[0] = _w(neg, 127 - 65, rem)
    return <int>(q & 3)


cdef inline W _sin1(W r2) noexcept nogil:
    # sin(r)/r = sum (-1)^j r^2j / (2j+1)!
    return _poly(r2, F80T_INV_FACT, 1, 2, N_SIN, 1)


cdef inline W _sin_r(W r) noexcept nogil:
    return _mul(r, _sin1(_mul(r, r)))


cdef inline W _cos_r(W r) noexcept nogil:
    # cos r = sum (-1)^j r^2j / (2j)!
    return _poly(_mul(r, r), F80T_INV_FACT, 0, 2, N_COS, 1)


cdef int _trig_operand(FCtx* c, F80 a, bint* out_of_range, F80* special) noexcept nogil:
    """Classify a trig operand: 1 when *special holds the answer (NaN, invalid, or
    out of range), 0 for a finite non-zero argument to compute, 2 for a zero."""
    cdef int cls = f80_class(a)
    out_of_range[0] = 0
    if cls == CLS_UNSUPPORTED or cls == CLS_INF:
        special[0] = _invalid(c)
        return 1
    if _is_nan(cls):
        special[0] = _nan1(c, a, cls)
        return 1
    if cls == CLS_ZERO:
        return 2
    if (a.se & 0x7FFF) >= BIAS + 63:
        # FSIN/FCOS/FSINCOS/FPTAN: source out of range, C2 = 1, ST0 unchanged
        out_of_range[0] = 1
        special[0] = a
        return 1
    if cls == CLS_DENORMAL:
        c.flags |= FLAG_DE
    return 0


cdef F80 f80_sin(FCtx* c, F80 a, bint* out_of_range) noexcept nogil:
    cdef F80 sp
    cdef W x, r, v
    cdef int k, kind = _trig_operand(c, a, out_of_range, &sp)
    if kind == 1:
        return sp
    if kind == 2:
        return a                        # sin(+-0) = +-0
    x = _wf80(a)
    k = _reduce(_w(0, x.e, x.m), &r)
    v = _cos_r(r) if (k & 1) else _sin_r(r)
    v.s ^= ((k >> 1) & 1) ^ x.s
    return _pack(c, v)


cdef F80 f80_cos(FCtx* c, F80 a, bint* out_of_range) noexcept nogil:
    cdef F80 sp
    cdef W x, r, v
    cdef int k, kind = _trig_operand(c, a, out_of_range, &sp)
    if kind == 1:
        return sp
    if kind == 2:
        return _one(0)                  # cos(+-0) = +1
    x = _wf80(a)
    k = _reduce(_w(0, x.e, x.m), &r)
    v = _sin_r(r) if (k & 1) else _cos_r(r)
    v.s ^= (k == 1 or k == 2)
    return _pack(c, v)


cdef void f80_sincos(FCtx* c, F80 a, F80* s, F80* co, bint* out_of_range) noexcept nogil:
    cdef F80 sp
    cdef W x, r, vs, vc, sr, cr
    cdef int k, kind = _trig_operand(c, a, out_of_range, &sp)
    if kind == 1:
        s[0] = sp
        co[0] = sp
        return
    if kind == 2:
        s[0] = a
        co[0] = _one(0)
        return
    x = _wf80(a)
    k = _reduce(_w(0, x.e, x.m), &r)
    sr = _sin_r(r)
    cr = _cos_r(r)
    if k & 1:
        vs = cr
        vc = sr
    else:
        vs = sr
        vc = cr
    vs.s ^= ((k >> 1) & 1) ^ x.s
    vc.s ^= (k == 1 or k == 2)
    s[0] = _pack(c, vs)
    co[0] = _pack(c, vc)


cdef F80 f80_tan(FCtx* c, F80 a, bint* out_of_range) noexcept nogil:
    cdef F80 sp
    cdef W x, r, r2, v, sr, cr, d
    cdef int k, kind = _trig_operand(c, a, out_of_range, &sp)
    if kind == 1:
        return sp
    if kind == 2:
        return a                        # tan(+-0) = +-0
    x = _wf80(a)
    k = _reduce(_w(0, x.e, x.m), &r)
    # Not sin/cos: for a tiny r both are 1 - (something below the last bit) and
    # their quotient could come out exact, losing the sticky mark.  With S = sin(r)/r,
    # C = cos r and D = S - C from its own series (D ~ r^2/3, accurate however small):
    #   tan r = r * (1 + D/C),   cot r = (1 - D/S) / r
    r2 = _mul(r, r)
    sr = _sin1(r2)
    cr = _cos_r(r)
    d = _mul(r2, _poly(r2, F80T_TAN_D, 0, 1, F80T_N_TAND, 0))
    if k & 1:
        v = _neg(_div(_sub(_wint(0, 1), _div(d, sr)), r))      # tan(r + pi/2) = -cot r
    else:
        v = _add(r, _mul(r, _div(d, cr)))
    v.s ^= x.s
    return _pack(c, v)


# ---------------------------------------------------------------- arctangent
cdef W _atan01(W t) noexcept nogil:
    """atan t for 0 < t <= 1: atan t = atan(i/16) + atan u, u = (t - i/16) / (1 + t*i/16)
    with i/16 the sixteenth nearest t, so |u| <= 1/32."""
    cdef uint64_t i = 0
    cdef W cc, u
    if t.e >= -5:
        i = <uint64_t>(((t.m >> (122 - t.e)) + 1) >> 1)
    cc = _wint(0, i)
    cc.e -= 4
    u = _div(_sub(t, cc), _add(_wint(0, 1), _mul(t, cc)))
    u = _mul(u, _poly(_mul(u, u), F80T_INV_ODD, 0, 1, N_ATAN, 1))
    return _add(_wk(&F80T_ATAN16[i]), u)


cdef F80 f80_atan(FCtx* c, F80 y, F80 x) noexcept nogil:
    cdef int cy = f80_class(y), cx = f80_class(x)
    cdef bint sy = y.se >> 15, sx = x.se >> 15
    cdef W a, b, th
    if cy == CLS_UNSUPPORTED or cx == CLS_UNSUPPORTED:
        return _invalid(c)
    if _is_nan(cy) or _is_nan(cx):
        return _nan2(c, y, cy, x, cx)
    if cy == CLS_DENORMAL or cx == CLS_DENORMAL:
        c.flags |= FLAG_DE
    # FPATAN results table [SDM vol. 2]: the 0/0 and inf/inf cases have the values of
    # the complex-argument arctangent, with no exception.
    if cy == CLS_INF:
        if cx == CLS_INF:
            th = _wk(&F80T_NAMED[F80T_K_PI3_4 if sx else F80T_K_PI_4])
        else:
            th = _wk(&F80T_NAMED[F80T_K_PI_2])
    elif cx == CLS_INF or cy == CLS_ZERO:
        if not sx:
            return f80_zero(sy)
        th = _wk(&F80T_NAMED[F80T_K_PI])
    elif cx == CLS_ZERO:
        th = _wk(&F80T_NAMED[F80T_K_PI_2])
    else:
        a = _wf80(y)
        b = _wf80(x)
        a.s = 0
        b.s = 0
        if _cmp_abs(a, b) <= 0:
            th = _atan01(_div(a, b))
        else:
            th = _sub(_wk(&F80T_NAMED[F80T_K_PI_2]), _atan01(_div(b, a)))
        if sx:
            th = _sub(_wk(&F80T_NAMED[F80T_K_PI]), th)
    th.s = sy
    return _pack(c, th)


# ---------------------------------------------------------------- 2^x - 1
cdef W _expm1(W t) noexcept nogil:
    # e^t - 1 = t * sum t^j / (j+1)!, for |t| <= ln 2
    return _mul(t, _poly(t, F80T_INV_FACT, 1, 1, N_EXPM1, 0))


cdef F80 f80_2xm1(FCtx* c, F80 a) noexcept nogil:
    """F2XM1.  The SDM defines it for -1 <= x <= +1; outside that this returns
    2^x - 1 all the same (2^(+inf) - 1 = +inf, 2^(-inf) - 1 = -1, huge x overflow)."""
    cdef int cls = f80_class(a)
    cdef W x, f, v
    cdef int64_t n
    cdef uint64_t sig
    if cls == CLS_UNSUPPORTED:
        return _invalid(c)
    if _is_nan(cls):
        return _nan1(c, a, cls)
    if cls == CLS_ZERO:
        return a
    if cls == CLS_INF:
        return _one(1) if (a.se >> 15) else a
    if cls == CLS_DENORMAL:
        c.flags |= FLAG_DE
    x = _wf80(a)
    if x.e == 0 and x.m == TOP:         # 2^1 - 1 = 1, 2^-1 - 1 = -1/2: exact
        return f80_make(x.s, BIAS - x.s, J)
    if x.e < 0:
        return _pack(c, _expm1(_mul(x, _wk(&F80T_NAMED[F80T_K_LN2]))))
    # |x| > 1, out of the documented range: 2^x - 1 = 2^n * 2^f - 1, |f| <= 1/2.
    if x.e >= 20:
        if not x.s:
            # 2^x beyond any exponent, even wrapped by 24576 (unmasked overflow)
            return _pack(c, _w(0, 1 << 20, TOP | 1))
        v = _w(0, -200, TOP)            # 2^x far below the last bit of -1
    else:
        sig = <uint64_t>(x.m >> 64)
        n = <int64_t>(((sig >> (62 - x.e)) + 1) >> 1)
        f = _sub(_w(0, x.e, x.m), _wint(0, <uint64_t>n))     # exact
        if x.s:
            f.s = not f.s
            n = -n
        v = _add(_expm1(_mul(f, _wk(&F80T_NAMED[F80T_K_LN2]))), _wint(0, 1))
        v.e += <int32_t>n
    return _pack(c, _sub(v, _wint(0, 1)))


# ---------------------------------------------------------------- logarithms
cdef inline W _log2_series(W u) noexcept nogil:
    # log2((1+u)/(1-u)) = (2/ln 2) * u * sum u^2j / (2j+1), for |u| <= 0.1716
    return _mul(_mul(u, _wk(&F80T_NAMED[F80T_K_TWO_LOG2E])),
                _poly(_mul(u, u), F80T_INV_ODD, 0, 1, N_LOG, 0))


cdef W _log2(W x) noexcept nogil:
    """log2 x for x > 0: x = m * 2^k with sqrt(1/2) < m <= sqrt(2), log2 m from the
    series in u = (m-1)/(m+1).  Exact (0 series) when x is a power of two."""
    cdef int32_t k = x.e
    cdef W m = x, one = _wint(0, 1), l
    m.e = 0
    if <uint64_t>(m.m >> 64) > F80T_SQRT2_SIG:
        m.e = -1
        k += 1
    l = _log2_series(_div(_sub(m, one), _add(m, one)))
    return _add(_w(k < 0, 127, <uint64_t>(-k if k < 0 else k)), l)


cdef F80 _log_zero(FCtx* c, int cy, bint sy) noexcept nogil:
    """y * log2(0): ZE and -inf * y for finite y, +-inf for y = +-inf, IE for y = 0."""
    if cy == CLS_ZERO:
        return _invalid(c)
    if cy != CLS_INF:
        c.flags |= FLAG_ZE
    return f80_inf(not sy)


cdef F80 f80_yl2x(FCtx* c, F80 x, F80 y) noexcept nogil:
    cdef int cx = f80_class(x), cy = f80_class(y)
    cdef bint sx = x.se >> 15, sy = y.se >> 15, below1, is1
    if cx == CLS_UNSUPPORTED or cy == CLS_UNSUPPORTED:
        return _invalid(c)
    if _is_nan(cx) or _is_nan(cy):
        return _nan2(c, x, cx, y, cy)
    if cx == CLS_ZERO:                  # +0 and -0 alike
        return _log_zero(c, cy, sy)
    if sx:                              # log of a negative number or -inf
        return _invalid(c)
    if cx == CLS_INF:
        if cy == CLS_ZERO:
            return _invalid(c)
        if cy == CLS_DENORMAL:
            c.flags |= FLAG_DE
        return f80_inf(sy)
    is1 = (x.se == BIAS and x.sig == J)
    below1 = (x.se & 0x7FFF) < BIAS
    if cy == CLS_INF:
        if is1:
            return _invalid(c)          # inf * log2(1) = inf * 0
        if cx == CLS_DENORMAL:
            c.flags |= FLAG_DE
        return f80_inf(sy ^ below1)
    if cx == CLS_DENORMAL or cy == CLS_DENORMAL:
        c.flags |= FLAG_DE
    if cy == CLS_ZERO or is1:
        return f80_zero(sy ^ below1)    # log2(1) = +0
    return _pack(c, _mul(_wf80(y), _log2(_wf80(x))))


cdef F80 f80_yl2xp1(FCtx* c, F80 x, F80 y) noexcept nogil:
    """FYL2XP1.  Documented for |x| < 1 - sqrt(2)/2; outside that this returns
    y * log2(1 + x) all the same (IE below x = -1, as FYL2X of 1 + x)."""
    cdef int cx = f80_class(x), cy = f80_class(y), cmp1
    cdef bint sx = x.se >> 15, sy = y.se >> 15
    cdef W xw, w, l
    if cx == CLS_UNSUPPORTED or cy == CLS_UNSUPPORTED:
        return _invalid(c)
    if _is_nan(cx) or _is_nan(cy):
        return _nan2(c, x, cx, y, cy)
    if cx == CLS_ZERO:                  # log2(1 + -0) = -0, log2(1 + +0) = +0
        if cy == CLS_INF:
            return _invalid(c)
        if cy == CLS_DENORMAL:
            c.flags |= FLAG_DE
        return f80_zero(sx ^ sy)
    if cx == CLS_INF:
        if sx or cy == CLS_ZERO:
            return _invalid(c)
        if cy == CLS_DENORMAL:
            c.flags |= FLAG_DE
        return f80_inf(sy)
    xw = _wf80(x)
    if sx:
        cmp1 = _cmp_abs(xw, _wint(0, 1))
        if cmp1 > 0:
            return _invalid(c)
        if cmp1 == 0:
            return _log_zero(c, cy, sy)
    if cy == CLS_INF:
        if cx == CLS_DENORMAL:
            c.flags |= FLAG_DE
        return f80_inf(sy ^ sx)
    if cx == CLS_DENORMAL or cy == CLS_DENORMAL:
        c.flags |= FLAG_DE
    if cy == CLS_ZERO:
        return f80_zero(sy ^ sx)
    w = _add(xw, _wint(0, 1))
    if (w.e == 0 and <uint64_t>(w.m >> 64) <= F80T_SQRT2_SIG) or \
       (w.e == -1 and <uint64_t>(w.m >> 64) > F80T_SQRT2_SIG):
        # 1 + x within [sqrt(1/2), sqrt(2)]: u = x / (2 + x) keeps x's relative
        # precision however small x is.
        l = _log2_series(_div(xw, _add(xw, _wint(0, 2))))
    else:
        l = _log2(w)
    return _pack(c, _mul(_wf80(y), l))


# ---------------------------------------------------------------- constants
cdef F80 f80_const(FCtx* c, int which) noexcept nogil:
    """FLD1, FLDL2T, FLDL2E, FLDPI, FLDLG2, FLDLN2, FLDZ (D9 E8+which).

    The SDM says the 387+ round an internal 66-bit constant by RC, without PE or C1,
    and that round-to-nearest gives the 8087's constants.  Rounding a 66-bit copy to
    nearest would make log10(2) (...F798 followed by binary 10) a tie and give the
    even ...F798, where the 8087 has ...F799; rounding the true values by RC gives
    every 8087 constant in round-to-nearest, so that is what this does."""
    cdef int idx
    cdef const f80t_k* k
    cdef uint64_t sig
    if which == 0:
        return _one(0)
    if which == 6:
        return f80_zero(0)
    if which == 1:
        idx = F80T_K_L2T
    elif which == 2:
        idx = F80T_K_L2E
    elif which == 3:
        idx = F80T_K_PI
    elif which == 4:
        idx = F80T_K_LG2
    elif which == 5:
        idx = F80T_K_LN2
    else:
        return f80_indefinite()         # D9 EF is not a constant
    k = &F80T_NAMED[idx]
    sig = k.hi
    # every constant is positive and irrational: lo != 0 and never exactly half
    if c.rc == RC_UP or (c.rc == RC_NEAREST and k.lo > J):
        sig += 1
    return f80_make(0, k.e + BIAS, sig)


# ---------------------------------------------------------------- Python access
FUNCTIONS = ("sin", "cos", "sincos", "tan", "atan", "2xm1", "yl2x", "yl2xp1")


def calc(str name, *operands, int cw=0x037F):
    """Run one transcendental on 80-bit values given as ints ((se << 64) | sig).

    calc("sin"|"cos"|"tan"|"2xm1", x)   -> (result, flags, out_of_range)
    calc("sincos", x)                   -> ((sin, cos), flags, out_of_range)
    calc("atan", y, x)                  -> FPATAN, y = ST1, x = ST0
    calc("yl2x", x, y), calc("yl2xp1", x, y)   (x = ST0, y = ST1, as the C functions)

    cw is the x87 control word (RC in bits 10-11, the exception masks in bits 0-5).
    flags are the FLAG_* bits raised (FLAG_C1 = 0x200 when rounded up in magnitude);
    out_of_range is True only for a trig argument with |x| >= 2^63.
    """
    cdef FCtx c
    cdef bint oor = 0
    cdef F80 a, b, r, r2
    c = f80_ctx(cw & 0xFFFF)
    want = 2 if name in ("atan", "yl2x", "yl2xp1") else 1
    if name not in FUNCTIONS:
        raise ValueError("unknown function %r" % (name,))
    if len(operands) != want:
        raise TypeError("%s takes %d operand(s)" % (name, want))
    a = f80_from_py(operands[0])
    b = f80_from_py(operands[want - 1])
    if name == "sin":
        r = f80_sin(&c, a, &oor)
    elif name == "cos":
        r = f80_cos(&c, a, &oor)
    elif name == "tan":
        r = f80_tan(&c, a, &oor)
    elif name == "sincos":
        f80_sincos(&c, a, &r, &r2, &oor)
        return (f80_to_py(r), f80_to_py(r2)), c.flags, bool(oor)
    elif name == "atan":
        r = f80_atan(&c, a, b)
    elif name == "2xm1":
        r = f80_2xm1(&c, a)
    elif name == "yl2x":
        r = f80_yl2x(&c, a, b)
    else:
        r = f80_yl2xp1(&c, a, b)
    return f80_to_py(r), c.flags, bool(oor)


def const(int which, int cw=0x037F):
    """FLD1..FLDZ: which = the low 3 bits of D9 E8..EE.  Returns (value, flags)."""
    cdef FCtx c
    c = f80_ctx(cw & 0xFFFF)
    r = f80_const(&c, which)
    return f80_to_py(r), c.flags
