"""A separate coprocessor beside the 8086-80386 (`--fpu 8087|287|387`): which chip fits which
CPU, the unit's level, concurrency (BUSY#/TEST# and WAIT), CR0.ET, how errors are reported
without and with the PC/AT board logic, and the configuration paths (CLI, machine file,
equipment word).  Clock figures are the data sheets' minimums, written out here."""
import struct

import pytest

from core import pc as pcmod
from core.machine import Machine
from core.models import coprocessor
from tests.asm import nasm

FNINIT_FLD1_FLD1_WAIT = bytes([0xDB, 0xE3, 0xD9, 0xE8, 0xD9, 0xE8, 0x9B])


def machine(cpu, fpu, code):
    """The code at 07C0:0000 (its labels are offsets from 0), DS = SS = 0."""
    m = Machine(cpu=cpu, memory=1 << 20, fpu=fpu)
    m.mem.write(0x7C00, code)
    c = m.cpu
    c.cs, c.ds, c.ss, c.eip, c.esp = 0x7C0, 0, 0, 0, 0x7000
    return m


def run_to_hlt(m):
    for _ in range(10000):
        if m.cpu.halted:
            return
        m.step()
    raise AssertionError("no HLT")


def run_parser():
    from core import cli
    return cli.build_parser(next(c for c in cli.COMMANDS if c.name == "run"))[0]


@pytest.mark.parametrize("cpu,fpu,want", [
    ("8086", "8087", "8087"), ("8088", "i8087", "8087"), ("80286", "80287", "287"),
    ("80386", "287", "287"), ("80386", "387", "387"), ("80386", "none", None),
    ("80286", None, None)])
def test_sockets(cpu, fpu, want):
    assert coprocessor(cpu, fpu) == want


@pytest.mark.parametrize("cpu,fpu,message", [
    ("80286", "387", "the 80286 takes 287, not a 387"),
    ("8086", "287", "the 8086 takes 8087, not a 287"),
    ("80186", "8087", "the 80186 takes no coprocessor"),
    ("80486", "387", "has its x87 on chip"),
    ("80386", "487", "unknown coprocessor '487'")])
def test_wrong_chip_is_refused_with_a_reason(cpu, fpu, message):
    with pytest.raises(ValueError, match=message):
        Machine(cpu=cpu, fpu=fpu)


@pytest.mark.parametrize("cpu,fpu,level", [("8086", "8087", 1), ("80286", "287", 2),
                                           ("80386", "287", 2), ("80386", "387", 3)])
def test_the_unit_is_that_generation(cpu, fpu, level):
    m = Machine(cpu=cpu, fpu=fpu)
    assert m.cpu.fpu is not None and m.cpu.fpu.level == level
    assert m.cpu.coprocessor == fpu
    assert Machine(cpu=cpu).cpu.fpu is None           # the socket is empty by default


def test_arithmetic_reaches_memory_through_the_8086():
    # 1 + 1 stored as a 64-bit real; the 8087 decodes it from the 8086's queue and bus.
    code = nasm("""
        fninit
        fld1
        fld1
        faddp st1, st0
        fstp qword [0x600]
        fwait
        hlt
    """)
    m = machine("8086", "8087", code)
    run_to_hlt(m)
    assert struct.unpack("<d", bytes(m.mem.read(0x600, 8)))[0] == 2.0


def test_8087_control_word_and_no_fstsw_ax():
    # FNINIT on the 8087 masks interrupts too (IEM, 03FFh); DF E0 (FSTSW AX, 287 on) is not
    # an 8087 instruction, and the 8086 has no invalid-opcode trap: AX stays as it was.
    code = nasm("""
        fninit
        fnstcw [0x600]
        mov ax, 0x1234
        db 0xdf, 0xe0
        hlt
    """)
    m = machine("8086", "8087", code)
    run_to_hlt(m)
    assert m.mem.read(0x600, 2) == b"\xff\x03"
    assert m.cpu.ax == 0x1234
    # On the 287 the same bytes store the status word in AX.
    m = machine("80286", "287", code)
    run_to_hlt(m)
    assert m.mem.read(0x600, 2) == b"\x7f\x03" and m.cpu.ax == 0


@pytest.mark.parametrize("cpu,fpu,fsqrt", [("8086", "8087", 180), ("80386", "387", 122)])
def test_wait_idles_until_the_coprocessor_is_done(cpu, fpu, fsqrt):
    m = machine(cpu, fpu, FNINIT_FLD1_FLD1_WAIT + bytes([0xD9, 0xFA, 0x9B, 0x9B, 0xF4]))
    for _ in range(4):
        m.step()
    start = m.clock.now
    sqrt_cpu = m.step()                    # the CPU's part of FSQRT: its ESC line only
    assert sqrt_cpu < fsqrt
    wait = m.step()                        # WAIT: the rest of the FSQRT, and its own clocks
    assert m.clock.now - start >= fsqrt
    idle = m.step()                        # a second WAIT finds the unit free
    assert wait - idle == fsqrt - sqrt_cpu
    assert idle < 10


def test_80386_samples_busy_before_the_next_esc():
    # Two FSQRTs back to back: the second waits for the first (no WAIT in between).
    m = machine("80386", "387", FNINIT_FLD1_FLD1_WAIT + bytes([0xD9, 0xFA, 0xD9, 0xFA, 0xF4]))
    for _ in range(4):
        m.step()
    first = m.step()
    second = m.step()
    assert second - first == 122 - first
    # The 8086 does not sample TEST# before an ESC: the program must WAIT.
    m = machine("8086", "8087", FNINIT_FLD1_FLD1_WAIT + bytes([0xD9, 0xFA, 0xD9, 0xFA, 0xF4]))
    for _ in range(4):
        m.step()
    assert m.step() == m.step()


@pytest.mark.parametrize("fpu,et", [("387", 0x10), ("287", 0), (None, 0)])
def test_80386_sets_et_for_an_80387(fpu, et):
    m = Machine(cpu="80386", fpu=fpu)
    assert m.cpu.cr0 & 0x10 == et
    m.cpu.cr0 = 0
    m.reset()
    assert m.cpu.cr0 & 0x10 == et


DIVIDE_BY_ZERO_UNMASKED = """
        fninit
        fldcw [cs:cw]
        fldz
        fld1
        fdiv st0, st1          ; 1 / 0 with ZE unmasked: ES, and the error output
        mov byte [0x500], 1
        fwait
        mov byte [0x501], 1
        hlt
cw:     dw 0x03fb              ; ZE unmasked; the 8087's IEM set (reserved on the 287)
"""


def test_287_error_without_board_logic_is_exception_16():
    # ERROR# straight to the 80286's ERROR# pin: the next FWAIT takes vector 16.
    code = nasm(DIVIDE_BY_ZERO_UNMASKED)
    m = machine("80286", "287", code)
    m.mem.write(16 * 4, struct.pack("<HH", 0x7E00, 0))
    m.mem.write(0x7E00, nasm("mov byte [0x502], 0x16\nhlt"))
    run_to_hlt(m)
    assert bytes(m.mem.read(0x500, 3)) == b"\x01\x00\x16"
    assert m.cpu.fpu.sw & 0x84 == 0x84          # ES and ZE stay set for the handler


def test_8087_interrupt_needs_feni():
    # The 8087's INT output follows IR only with IEM clear: FNINIT sets IEM, FENI clears it.
    seen = []
    for enable in (False, True):
        code = nasm(DIVIDE_BY_ZERO_UNMASKED.replace("fldcw [cs:cw]",
                                                    "fldcw [cs:cw]\n" + ("feni" if enable else "")))
        m = machine("8086", "8087", code)
        m.cpu.ferr_hook = seen.append
        run_to_hlt(m)
        # The 8086 has no ERROR# input: it never freezes or traps on it.
        assert bytes(m.mem.read(0x500, 2)) == b"\x01\x01"
        assert len(seen) == (1 if enable else 0)


def test_pc_at_routes_the_287_error_to_irq13_and_holds_busy():
    # The AT's board logic: ERROR# latched onto IRQ13; BUSY# held until OUT F0h, so the
    # FWAIT waits (the 80286 never sees ERROR#) [IBM PC AT Technical Reference].
    from peripherals.npx import NPX
    m = machine("80286", "287", nasm(DIVIDE_BY_ZERO_UNMASKED))
    lines = []
    m.set_irq = lambda line, level: lines.append((line, level))
    NPX(m)
    for _ in range(200):
        m.step()
    assert lines == [(13, True)]
    assert bytes(m.mem.read(0x500, 2)) == b"\x01\x00"      # frozen at the FWAIT
    m.bus.port_write(0xF0, 1, 0)                           # the IRQ13 handler's OUT F0h
    assert lines[-1] == (13, False)
    run_to_hlt(m)
    assert bytes(m.mem.read(0x500, 3)) == b"\x01\x01\x00"   # went on; no vector 16


def test_equipment_reports_the_coprocessor():
    cfg = pcmod.PCConfig(machine="isapc", cpu="80286", fpu="287", bios="bochs-legacy",
                         fda=None)
    assert pcmod._has_fpu(cfg)
    values = pcmod.cmos_values(cfg, [0, 0], [None, None], ["floppy"])
    assert values[0x14] & 0x02                   # CMOS equipment byte: coprocessor present
    cfg = pcmod.PCConfig(machine="isapc", cpu="80286")
    assert not pcmod._has_fpu(cfg)
    assert not pcmod.cmos_values(cfg, [0, 0], [None, None], ["floppy"])[0x14] & 2


def test_cli_and_machine_file_take_fpu(tmp_path):
    from core import cli
    args = run_parser().parse_args(["run", "--cpu", "386", "--fpu", "80387"])
    assert cli.run_config(args).fpu == "387"
    toml = tmp_path / "m.toml"
    toml.write_text('cpu = "8088"\nfpu = "8087"\n')
    args = run_parser().parse_args(["run", str(toml)])
    config = cli.run_config(args)
    assert (config.cpu, config.fpu) == ("8088", "8087")
    toml.write_text('cpu = "8088"\nfpu = "8089"\n')
    with pytest.raises(cli.CliError, match="fpu: unknown coprocessor '8089'"):
        cli.run_config(run_parser().parse_args(["run", str(toml)]))
