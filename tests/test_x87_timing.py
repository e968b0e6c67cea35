"""x87 clocks: the CPU charges core/timing.x87_clocks for each x87 form (the Intel486 and
Pentium manuals' clock tables; the P6's latencies), instead of the integer table's ESC line."""
import pytest

from core import timing
from core.machine import Machine

# (model, code after FNINIT and two FLD1, expected clocks of that instruction) from the
# manuals' tables, written out here rather than read back from core/timing.py.
CASES = [
    ("80486", bytes([0xD8, 0xF1]), 73),          # FDIV ST, ST(1)
    ("80486", bytes([0xD8, 0xC9]), 16),          # FMUL ST, ST(1)
    ("80486", bytes([0xD9, 0xFA]), 83),          # FSQRT
    ("80486", bytes([0xD9, 0xC9]), 4),           # FXCH
    ("80486", bytes([0xDD, 0x1E, 0x00, 0x05]), 8),   # FSTP m64
    ("pentium", bytes([0xD8, 0xF1]), 39),
    ("pentium", bytes([0xD8, 0xC1]), 3),         # FADD ST, ST(1)
    ("pentium", bytes([0xD9, 0xFE]), 16),        # FSIN
    ("pentium2", bytes([0xD8, 0xC9]), 5),        # FMUL: the P6's latency
    ("pentium2", bytes([0xDB, 0xF1]), 1),        # FCOMI
]


@pytest.mark.parametrize("model,code,clocks", CASES)
def test_x87_instruction_clocks(model, code, clocks):
    m = Machine(cpu=model, memory=1 << 20)
    prologue = bytes([0xDB, 0xE3, 0xD9, 0xE8, 0xD9, 0xE8])     # FNINIT, FLD1, FLD1
    m.mem.write(0x7C00, prologue + code + b"\xf4")
    c = m.cpu
    c.cs, c.ds, c.eip = 0, 0, 0x7C00
    for _ in range(3):
        m.step()
    assert m.step() == clocks


def test_every_documented_form_has_clocks():
    """Each model with an FPU has a figure for every form that has a class."""
    for model in ("80486", "pentium", "pentium2"):
        table = timing.x87_clocks(model)
        for esc in range(8):
            for reg in range(8):
                if timing.x87_class(esc, reg << 3) is not None:
                    assert table[esc * 8 + reg] > 0, (model, esc, reg)
            for low in range(64):
                if timing.x87_class(esc, 0xC0 | low) is not None:
                    assert table[64 + esc * 64 + low] > 0, (model, esc, hex(0xC0 | low))
    assert not any(timing.x87_clocks("80386"))       # no FPU, no x87 clocks
