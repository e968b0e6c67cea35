"""The bus: RAM/ROM/MMIO page map, unmapped memory, A20, the I/O port map."""
import pytest

from core.bus import Bus
from core.machine import Machine
from tests.asm import load, nasm


def test_ram_round_trip_and_sizes():
    b = Bus(1 << 20, 20)
    b.write(0x1234, b"\x01\x02\x03\x04")
    assert b.read(0x1234, 4) == b"\x01\x02\x03\x04"
    assert b.read16(0x1234) == 0x0201 and b.read32(0x1234) == 0x04030201
    b.write32(0xFFE, 0xAABBCCDD)                       # across a page boundary
    assert b.read32(0xFFE) == 0xAABBCCDD
    assert b.page_kind(0) == "ram"


def test_unmapped_memory_reads_all_ones_and_drops_writes():
    b = Bus(1 << 20, 32)
    assert b.page_kind(0x200000) == "unmapped"
    b.write8(0x200000, 0x12)
    assert b.read8(0x200000) == 0xFF


def test_rom_is_read_only_and_can_alias():
    b = Bus(1 << 20, 32)
    image = bytes(range(256)) * 16
    b.map_rom(0xF0000, image)
    b.map_rom(0xFFFF0000, image)
    b.write8(0xF0010, 0x99)
    assert b.read8(0xF0010) == 0x10 and b.read8(0xFFFF0010) == 0x10
    assert b.page_kind(0xF0000) == "rom"
    with pytest.raises(ValueError, match="aligned"):
        b.map_rom(0x123, b"x")


def test_mmio_page_calls_the_device():
    b = Bus(1 << 20, 32)
    log = []
    b.map_mmio(0xA0000, 0x1000, lambda a, w: 0x5A, lambda a, w, v: log.append((a, w, v)))
    assert b.read8(0xA0010) == 0x5A
    b.write8(0xA0020, 7)
    assert log == [(0xA0020, 1, 7)]


def test_cpu_sees_mmio_and_rom():
    m = Machine("80386", 1 << 20)
    seen = []
    m.bus.map_mmio(0xB0000, 0x1000, lambda a, w: 0x1234, lambda a, w, v: seen.append((a, w, v)))
    cpu = load(m, nasm("mov ax, [0]\nmov word [2], 0xbeef\nhlt"))
    cpu.ds = 0xB000
    m.run(10_000)
    assert cpu.ax == 0x1234
    assert seen == [(0xB0002, 2, 0xBEEF)]


def test_a20_gate_wraps_at_1mib():
    m = Machine("80286", 4 << 20)
    m.mem.write8(0x100000, 0xAA)
    m.mem.write8(0x000000, 0x55)
    code = nasm("mov al, [0x10]\nhlt")
    for a20, expect in ((True, 0xAA), (False, 0x55)):
        m.bus.a20 = a20
        cpu = load(m, code)
        cpu.ds = 0xFFFF                 # FFFF:0010 = 0x100000
        cpu.halted = False
        m.run(10_000)
        assert cpu.al == expect


def test_8086_address_bus_is_20_bits():
    m = Machine("8086", 1 << 20)
    cpu = load(m, nasm("mov al, [0x10]\nhlt"))
    m.mem.write8(0, 0x77)
    cpu.ds = 0xFFFF
    m.run(10_000)
    assert cpu.al == 0x77


def test_io_ports_dispatch_and_unclaimed_read_all_ones():
    m = Machine("80386", 1 << 20)
    writes = []
    m.bus.register_io(0x300, 4, lambda p, w: 0x1000 + p, lambda p, w, v: writes.append((p, w, v)))
    cpu = load(m, nasm("""
        mov dx, 0x301
        in ax, dx
        mov bx, ax
        out dx, al
        in eax, 0x40
        mov ecx, eax
        in al, 0x302
        hlt""".replace("in al, 0x302", "mov dx, 0x302\nin al, dx")))
    m.run(10_000)
    assert cpu.bx == 0x1301
    assert writes == [(0x301, 1, 0x01)]
    assert cpu.ecx == 0xFFFFFFFF
    assert cpu.al == 0x02                    # 0x1302 truncated to a byte
    assert m.bus.unclaimed_ports == {0x40: 1}


def test_bad_memory_size_is_a_clear_error():
    with pytest.raises(ValueError, match="memory"):
        Machine("8086", 0)
