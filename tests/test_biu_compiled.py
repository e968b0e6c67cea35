"""The compiled bus model (core/biu.pyx) against the Python one it is ported from
(core/biu8086.py): on the same machine state and code, every instruction gets the same
clocks and the same per-clock records, instruction after instruction (the queue and bus
state carried between them).  The 8086 suite's figures (tests/test_biu8086.py) run through
the compiled model; this covers what the suite does not: runs of instructions, the 8088,
and random operands."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import biu8086 as P
from core.machine import Machine

REGS = ("ax", "bx", "dx", "sp", "bp", "si", "di", "ds", "es", "ss", "cs", "ip")


def _machine(model, state, fill, code, compiled):
    m = Machine(cpu=model, memory=1 << 20, bus_timing=True)
    if not compiled:
        m.bus_timing = P.BusTiming(m.model.bus_bits)
    m.bus_timing.record = True
    cpu = m.cpu
    for name, value in state.items():
        cpu.set(name, value)
    # Interrupt vectors and data bytes spread over memory, the same on both machines.
    for k, b in enumerate(fill):
        m.mem.write8(k * 257 % (1 << 20), b)
    base = (state["cs"] << 4) + state["ip"]
    for k, b in enumerate(code):
        m.mem.write8((base + k) & 0xFFFFF, b)
    return m


# Instructions the model covers, as byte strings the random operands follow.
OPCODES = st.sampled_from(
    [o for o in range(0x40) if (o & 7) < 6] + list(range(0x40, 0x60)) + list(range(0x70, 0x80))
    + list(range(0x80, 0x90)) + list(range(0x90, 0xA0)) + list(range(0xA0, 0xB0))
    + list(range(0xB0, 0xC0)) + [0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xCA, 0xCB, 0xCC, 0xCD,
                                 0xCE, 0xCF, 0xD0, 0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD7]
    + list(range(0xE0, 0xF0)) + [0xF2, 0xF3, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFC, 0xFD, 0xFE,
                                 0xFF, 0x26, 0x2E, 0x36, 0x3E])
INSN = st.tuples(OPCODES, st.binary(min_size=5, max_size=5)).map(lambda t: bytes([t[0]]) + t[1])


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(model=st.sampled_from(["8086", "8088"]),
       regs=st.fixed_dictionaries({r: st.integers(0, 0xFFFF) for r in REGS}),
       cx=st.integers(0, 24), flags=st.integers(0, 0xFFF),
       fill=st.binary(min_size=64, max_size=64),
       code=st.lists(INSN, min_size=4, max_size=12),
       irqs=st.lists(st.tuples(st.integers(0, 15), st.integers(0, 255)), max_size=3))
def test_compiled_model_gives_the_python_models_clocks_and_records(model, regs, cx, flags,
                                                                   fill, code, irqs):
    # A small CX keeps REP and LOOP short; `irqs`: (step, vector) of INTR raised for one
    # step (taken when IF is set and no MOV SS/STI shadow holds it off).
    state = dict(regs, cx=cx, flags=flags)
    program = b"".join(code) + bytes([0xF4])
    a, b = (_machine(model, state, fill, program, compiled) for compiled in (True, False))
    irq = dict(irqs)
    for k in range(len(code) + 4):
        if a.cpu.halted or a.cpu.shutdown:
            break
        for m in (a, b):
            m.cpu.intr = k in irq
            m.cpu.intr_ack = lambda v=irq.get(k, 0): v
        na, nb = a.step(), b.step()
        assert (na, a.bus_timing.modelled) == (nb, b.bus_timing.modelled)
        assert a.bus_timing.records == b.bus_timing.records
        assert a.clock.now == b.clock.now
        assert a.bus_timing.synced == b.bus_timing.synced

