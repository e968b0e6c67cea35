"""The strategies in core/strategies.py keep their promises, checked on Unicorn alone.

A differential test is only as good as its inputs: an encoding that does not decode to
what its metadata says, or an operand that strays across a segment limit, would make the
oracle wrong.  These properties hold the strategies to that.
"""
import pytest
from capstone import CS_ARCH_X86, CS_MODE_16, Cs
from hypothesis import HealthCheck, given, settings

from core import strategies as S

DISASM = Cs(CS_ARCH_X86, CS_MODE_16)
CHECK = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@pytest.mark.parametrize("family", sorted(S.FAMILIES))
def test_family_runs_where_it_says(family):
    @CHECK
    @given(S.cases(S.FAMILIES[family]()))
    def prop(case):
        out = S.run_unicorn(case, trace=True)
        if out.exception is not None:
            # Only divide errors, and only from instances drawn to raise them.
            assert case.insn.may_fault and out.exception == 0
            assert (out.regs["cs"], out.regs["eip"]) == case.ivt0
            return
        decoded = list(DISASM.disasm(case.insn.code, 0))
        assert decoded and decoded[0].size == len(case.insn.code)
        assert out.regs["eip"] == case.state["eip"] + len(case.insn.code)
        # Every byte read or written lies in a range the strategy declared, and every
        # declared range lies inside its 64 KiB segment.
        allowed = set()
        for seg, off, n in case.insn.touches:
            assert 0 <= off and off + n <= 0x10000
            base = case.state[seg] * 16
            allowed.update(range(base + off, base + off + n))
        assert out.accessed <= allowed
    prop()


@CHECK
@given(S.cpu_states())
def test_states_are_real_mode_legal(state):
    assert state["eflags"] & S.EFLAGS_ONE
    assert state["eflags"] & ~S.REAL_MODE_SETTABLE == S.EFLAGS_ONE
    assert not state["eflags"] & S.TF
    for seg in S.DATA_SEGS:
        assert S.DATA_SELECTORS[0] <= state[seg] <= S.DATA_SELECTORS[1]
    assert S.CODE_SELECTORS[0] <= state["cs"] <= S.CODE_SELECTORS[1]
    assert state["cs"] * 16 + state["eip"] + 15 < S.WINDOW_END


@CHECK
@given(S.cases(S.muldiv()))
def test_divide_modes_fault_exactly_when_drawn_to(case):
    out = S.run_unicorn(case)
    name = case.insn.name
    if "(fits)" in name:
        assert out.exception is None
    elif "(zero)" in name or "(overflow)" in name:
        assert out.exception == 0


def test_divide_error_frame_is_the_faulting_instruction():
    # div bl with BL = 0, behind a segment prefix: the frame holds the prefix's address.
    state = dict(eax=0x1234, ecx=0, edx=0, ebx=0, esp=0x0100, ebp=0, esi=0, edi=0,
                 eflags=0x0202 | S.CF, eip=0x40, cs=0x8000, ds=0x1000, es=0x1000,
                 ss=0x2000, fs=0x1000, gs=0x1000)
    insn = S.Insn(code=bytes([0x26, 0xF6, 0xF3]), family="muldiv", name="div", may_fault=True)
    case = S.Case(state=state, memory=S.MemoryImage(0), insn=insn, ivt0=(0x8123, 0x4567))
    out = S.run_unicorn(case)
    assert out.exception == 0
    assert (out.regs["cs"], out.regs["eip"], out.regs["esp"]) == (0x8123, 0x4567, 0x00FA)
    assert out.regs["eflags"] == 0x0002 | S.CF          # IF cleared, the rest kept
    frame = out.memory[0x200FA:0x20100]
    assert frame == bytes([0x40, 0x00, 0x00, 0x80, 0x03, 0x02])   # IP, CS, FLAGS


def test_compare_masks_only_undefined_flags():
    state = dict(eax=0, ecx=0, edx=0, ebx=0, esp=0, ebp=0, esi=0, edi=0, eflags=2, eip=0,
                 cs=0x8000, ds=0x1000, es=0x1000, ss=0x1000, fs=0x1000, gs=0x1000)
    insn = S.Insn(code=b"\x90", family="t", name="t", defined_flags=S.CF | S.OF)
    case = S.Case(state=state, memory=S.MemoryImage(0), insn=insn, ivt0=(0x8000, 0))
    mem = bytes(S.WINDOW_END)
    base = S.Outcome(regs=dict(state), memory=mem)
    other = S.Outcome(regs={**state, "eflags": 2 | S.ZF | S.SF | S.AF | S.PF}, memory=mem)
    assert S.compare(case, base, other) == []
    for bit in (S.CF, S.OF, S.DF, S.IF):
        diffs = S.compare(case, base, S.Outcome(regs={**state, "eflags": 2 | bit}, memory=mem))
        assert len(diffs) == 1 and diffs[0].startswith("eflags")


def test_compare_masks_undefined_register_bits_and_memory():
    state = dict(eax=0, ecx=0, edx=0, ebx=0, esp=0x10, ebp=0, esi=0, edi=0, eflags=2, eip=0,
                 cs=0x8000, ds=0x1000, es=0x1000, ss=0x1000, fs=0x1000, gs=0x1000)
    insn = S.Insn(code=b"\x90", family="t", name="t", undefined=(("eax", 0xFFFF0000),),
                  undefined_mem=(("ss", 0x0E, 2),))
    case = S.Case(state=state, memory=S.MemoryImage(0), insn=insn, ivt0=(0x8000, 0))
    mem = bytearray(S.WINDOW_END)
    base = S.Outcome(regs=dict(state), memory=bytes(mem))
    mem[0x1000E] = 0xAA
    assert S.compare(case, base, S.Outcome(regs={**state, "eax": 0xFFFF0000},
                                           memory=bytes(mem))) == []
    assert S.compare(case, base, S.Outcome(regs={**state, "eax": 1}, memory=bytes(mem)))
    mem[0x1000D] = 0xAA
    assert S.compare(case, base, S.Outcome(regs=dict(state), memory=bytes(mem)))

