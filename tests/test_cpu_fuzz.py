"""Whatever bytes the guest executes, the CPU answers with guest events (#UD, #GP, #DE,
halts, shutdown), never a Python exception, and the same input gives the same result."""
from hypothesis import given, settings, strategies as st

from core.machine import Machine

MODELS = ("8088", "8086", "80186", "80286", "80386")


def run_bytes(model, code, regs, steps):
    m = Machine(model, 1 << 20)
    cpu = m.cpu
    # Every vector points at a HLT so faults are visible but do not run away.
    for v in range(256):
        m.mem.write16(v * 4, 0x0000)
        m.mem.write16(v * 4 + 2, 0x0500)
    m.mem.write8(0x5000, 0xF4)
    m.mem.write(0x10000, code)
    cpu.cs, cpu.ip = 0x1000, 0
    for name, value in regs.items():
        setattr(cpu, name, value)
    for _ in range(steps):
        m.step()
        if cpu.halted or cpu.shutdown:
            break
    return cpu.get_state(), m.clock.now, m.mem.read(0, 0x20000)


@settings(max_examples=300, deadline=None)
@given(model=st.sampled_from(MODELS),
       code=st.binary(min_size=1, max_size=32),
       regs=st.fixed_dictionaries({n: st.integers(0, 0xFFFF) for n in
                                   ("ax", "bx", "cx", "dx", "si", "di", "bp", "sp", "ds", "es")}),
       steps=st.integers(1, 20))
def test_random_code_never_raises_and_is_deterministic(model, code, regs, steps):
    first = run_bytes(model, code, regs, steps)
    second = run_bytes(model, code, regs, steps)
    assert first == second
