"""Differential properties: cycle86's 80386 against Unicorn, one instruction in real mode.

Each property draws a random real-mode state and one instruction of a family from
core/strategies.py, runs it on both machines and compares every register, the status
flags the SDM defines for that instance, and RAM below 0xA0000 (IVT, data and code
windows).  A divide error is compared through its delivery: IVT vector 0, the pushed
FLAGS/CS/IP, the handler's CS:IP.

Unicorn emulates a later CPU than the 386.  Where the two legitimately differ, the
strategies keep out of the narrow case and a hand-written test below pins down the 386
behaviour instead:

* POPFD cannot set AC (bit 18, new in the 486) or ID (bit 21, new in the Pentium) on a
  386; Unicorn sets both.  The popf strategy clears them in the popped image.
* Real-mode segment limits: a 386 raises #GP/#SS for an access crossing offset 0xFFFF,
  or a near branch beyond it; QEMU never checks.  The strategies keep every access and
  branch target inside its segment.
* Results the SDM calls undefined or implementation dependent (BSF/BSR with a zero
  source, the upper half of MOV r32,Sreg, the upper word of a 32-bit PUSH Sreg slot, a
  16-bit SHLD/SHRD count above 16) are masked or avoided, never compared.

Examples are derandomized, so a run is reproducible; set CYCLE86_DIFF_PROFILE=explore
to search with fresh random examples (and ten times more of them).
"""
import pytest
from hypothesis import given

from core import strategies as S
from core.machine import Machine


@S.examples(400)
@given(S.cases(S.alu()))
def test_alu(case):
    S.assert_same(case)


@S.examples(400)
@given(S.cases(S.shifts()))
def test_shifts(case):
    S.assert_same(case)


@S.examples(400)
@given(S.cases(S.muldiv()))
def test_muldiv(case):
    S.assert_same(case)


@S.examples(300)
@given(S.cases(S.bcd()))
def test_bcd(case):
    S.assert_same(case)


@S.examples(400)
@given(S.cases(S.bitops()))
def test_bitops(case):
    S.assert_same(case)


@S.examples(400)
@given(S.cases(S.strings()))
def test_strings(case):
    S.assert_same(case)


@S.examples(500)
@given(S.cases(S.addressing()))
def test_addressing(case):
    S.assert_same(case)


@S.examples(400)
@given(S.cases(S.misc()))
def test_misc(case):
    S.assert_same(case)


@S.examples(300)
@given(S.cases(S.branches()))
def test_branches(case):
    # Near JMP/Jcc/CALL/RET/LOOP/JCXZ: the oracle stops at the target or after.
    S.assert_same(case)


# --- 386 behaviour where Unicorn models a later CPU -------------------------------------

CODE_SEG, STACK_SEG = 0x8000, 0x2000


def _machine_at(code, **regs):
    m = Machine(cpu="80386", memory=S.RAM_SIZE)
    cpu = m.cpu
    cpu.cs, cpu.ss, cpu.ds, cpu.es = CODE_SEG, STACK_SEG, 0x3000, 0x4000
    cpu.eip = 0x100
    m.mem.write(CODE_SEG * 16 + 0x100, bytes(code))
    for name, value in regs.items():
        setattr(cpu, name, value)
    return m


@pytest.mark.parametrize("image", [S.AC | S.ID | 0x2, 0xFFFFFFFF & ~S.TF])
def test_popfd_cannot_set_ac_or_id_on_386(image):
    # Intel's own CPU identification relies on this: a 386 is the processor whose EFLAGS.AC
    # cannot be toggled (SDM Vol. 1, 19.1 / 22.x "Identification of earlier processors").
    m = _machine_at([0x66, 0x9D], esp=0x100, eflags=0x2)
    m.mem.write(STACK_SEG * 16 + 0x100, image.to_bytes(4, "little"))
    m.step()
    assert m.cpu.eflags & (S.AC | S.ID) == 0
    assert m.cpu.esp == 0x104
    # The bits a 386 does have are loaded (TF excluded above: it would trap next).
    assert m.cpu.eflags & S.REAL_MODE_SETTABLE == image & S.REAL_MODE_SETTABLE


def test_pushfd_after_popfd_shows_no_ac_on_386():
    # The identification sequence itself: POPFD with AC set, PUSHFD, read bit 18 back.
    m = _machine_at([0x66, 0x9D, 0x66, 0x9C], esp=0x100, eflags=0x2)
    m.mem.write(STACK_SEG * 16 + 0x100, (S.AC | 0x2).to_bytes(4, "little"))
    m.step()
    m.step()
    assert m.cpu.esp == 0x100
    assert m.mem.read32(STACK_SEG * 16 + 0x100) & S.AC == 0


# --- real-mode segment limits, which QEMU does not check ------------------------------

def _fault_machine(code, **regs):
    """A machine at 8000:0100 with IVT vectors 12 and 13 pointing at distinct handlers."""
    m = _machine_at(code, esp=0x200, eflags=0x0202, **regs)
    m.mem.write16(12 * 4, 0x1200)
    m.mem.write16(12 * 4 + 2, 0x9000)
    m.mem.write16(13 * 4, 0x1300)
    m.mem.write16(13 * 4 + 2, 0x9000)
    return m


@pytest.mark.parametrize("code,regs,vector", [
    # mov ax,[0FFFFh]: a word at DS:FFFF crosses the limit -> interrupt 13.
    ([0xA1, 0xFF, 0xFF], {}, 13),
    # mov ax,[bp-1] with BP = 0: the offset wraps to FFFF in SS -> interrupt 12.
    ([0x8B, 0x46, 0xFF], {"ebp": 0}, 12),
    # mov al,[eax] with a 32-bit offset of 10000h -> interrupt 13.
    ([0x67, 0x8A, 0x00], {"eax": 0x10000}, 13),
    # mov [ebp],al with EBP = 10000h: SS-relative -> interrupt 12.
    ([0x67, 0x88, 0x45, 0x00], {"ebp": 0x10000}, 12),
])
def test_real_mode_limit_violation_faults(code, regs, vector):
    # 80386 PRM 14.1 and 15.6: an offset outside 0-FFFFh raises interrupt 13, or 12 for
    # SS, with no error code, and the pushed CS:IP is the faulting instruction's.
    m = _fault_machine(code, eax=regs.get("eax", 0x1111), **{k: v for k, v in regs.items()
                                                              if k != "eax"})
    before = dict(m.cpu.get_state())
    m.step()
    cpu = m.cpu
    assert (cpu.cs, cpu.ip) == (0x9000, {12: 0x1200, 13: 0x1300}[vector])
    assert cpu.sp == 0x200 - 6
    frame = m.mem.read(STACK_SEG * 16 + 0x200 - 6, 6)
    assert frame == bytes([0x00, 0x01, 0x00, 0x80, 0x02, 0x02])     # IP CS FLAGS
    assert cpu.eflags & S.IF == 0
    for r in ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp"):
        assert getattr(cpu, r) == before[r]
