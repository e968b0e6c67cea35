"""Measure the error of core/f80_trans against mpmath, in ulps, over random operands.

    python core/f80_trans_accuracy.py [SAMPLES_PER_FUNCTION_AND_RC] [SEED]

A measurement, not a test (tests/test_f80_trans.py holds the checks): it prints the
largest error seen per function and rounding mode.  The operands are drawn as in the
tests' domains.  The trig references: "sin" is the SDM's sin(x * pi / Pi) with the
66-bit Pi, "sin model" the reduction the module implements (exact r = x - k*Pi/2, then
the true sin(r + k*pi/2)).
"""
import os
import random
import sys
import time

import mpmath

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from core import f80_trans  # noqa: E402

mp = mpmath.mp
BIAS = 16383
J = 1 << 63
with mp.workprec(400):
    PI66 = mpmath.ldexp(mpmath.mpf(0xC90FDAA22168C234C), 2 - 68)
    LIM = 1 - mpmath.sqrt(2) / 2


def make(sign, exp, sig):
    return (((sign & 1) << 15 | exp) << 64) | sig


def value(bits):
    se, sig = bits >> 64, bits & (2 ** 64 - 1)
    e = se & 0x7FFF
    v = mpmath.ldexp(mpmath.mpf(sig), (e if e else 1) - BIAS - 63)
    return -v if se >> 15 else v


def ulp_error(bits, ref):
    e = int(mpmath.floor(mpmath.log(abs(ref), 2)))
    while mpmath.ldexp(1, e) > abs(ref):
        e -= 1
    while mpmath.ldexp(1, e + 1) <= abs(ref):
        e += 1
    return abs(value(bits) - ref) / mpmath.ldexp(1, max(e, 1 - BIAS) - 63)


def rnd(rng, lo, hi, signs=(0, 1)):
    return make(rng.choice(signs), rng.randint(lo, hi), J | rng.getrandbits(63))


def trig(fn):
    def ref(x):
        return fn(value(x) * mpmath.pi / PI66)
    return ref


def reduced(fn):
    """The reduction model: r = x - k*Pi/2 exactly, then the true fn(r + k*pi/2)."""
    def ref(x):
        k = mpmath.nint(value(x) / (PI66 / 2))
        return fn(value(x) - k * PI66 / 2 + k * mpmath.pi / 2)
    return ref


def small_log1p_arg(rng):
    while True:
        x = rnd(rng, BIAS - 80, BIAS - 2)
        if abs(value(x)) < LIM:
            return x


CASES = {
    # name: (operand generator, reference, (y, x) order for calc)
    "sin": (lambda r: (rnd(r, BIAS - 70, BIAS + 62),), trig(mpmath.sin)),
    "cos": (lambda r: (rnd(r, BIAS - 70, BIAS + 62),), trig(mpmath.cos)),
    "tan": (lambda r: (rnd(r, BIAS - 70, BIAS + 62),), trig(mpmath.tan)),
    "sin model": (lambda r: (rnd(r, BIAS - 70, BIAS + 62),), reduced(mpmath.sin)),
    "cos model": (lambda r: (rnd(r, BIAS - 70, BIAS + 62),), reduced(mpmath.cos)),
    "tan model": (lambda r: (rnd(r, BIAS - 70, BIAS + 62),), reduced(mpmath.tan)),
    "atan": (lambda r: (rnd(r, BIAS - 200, BIAS + 200), rnd(r, BIAS - 200, BIAS + 200)),
             lambda y, x: mpmath.atan2(value(y), value(x))),
    "2xm1": (lambda r: (rnd(r, BIAS - 80, BIAS - 1),),
             lambda x: mpmath.expm1(value(x) * mpmath.log(2))),
    "yl2x": (lambda r: (rnd(r, 1, 0x7FFE, (0,)), make(0, BIAS, J)),
             lambda x, y: value(y) * mpmath.log(value(x), 2)),
    "yl2x y!=1": (lambda r: (rnd(r, 1, 0x7FFE, (0,)), rnd(r, BIAS - 60, BIAS + 60)),
                  lambda x, y: value(y) * mpmath.log(value(x), 2)),
    "yl2xp1": (lambda r: (small_log1p_arg(r), make(0, BIAS, J)),
               lambda x, y: value(y) * mpmath.log1p(value(x)) / mpmath.log(2)),
    "yl2xp1 y!=1": (lambda r: (small_log1p_arg(r), rnd(r, BIAS - 60, BIAS + 60)),
                    lambda x, y: value(y) * mpmath.log1p(value(x)) / mpmath.log(2)),
}


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    print("samples per function and RC: %d, seed %d" % (n, seed))
    print("%-12s %10s %10s %10s %10s %9s" % ("function", "nearest", "down", "up", "chop", "us/call"))
    for name, (gen, ref) in CASES.items():
        rng = random.Random("%s-%d" % (name, seed))
        worst = []
        calls = 0.0
        for rc in range(4):
            cw = 0x037F | (rc << 10)
            m = mpmath.mpf(0)
            for _ in range(n):
                ops = gen(rng)
                t0 = time.perf_counter()
                r, flags, _ = f80_trans.calc(name.split()[0], *ops, cw=cw)
                calls += time.perf_counter() - t0
                with mp.workprec(400):
                    v = ref(*ops)
                    if v == 0 or abs(v) < mpmath.ldexp(1, 1 - BIAS):
                        continue        # exact zero (yl2x of 1) or underflow
                    m = max(m, ulp_error(r, v))
            worst.append(float(m))
        print("%-12s %10.6f %10.6f %10.6f %10.6f %9.1f" % ((name,) + tuple(worst) + (1e6 * calls / (4 * n),)))


if __name__ == "__main__":
    main()
