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


class ByteDevice:
    """An 8-bit device: records every access it sees."""

    def __init__(self, bus, first, count, base_value, width=1):
        self.log = []
        self.base_value = base_value
        bus.register_io(first, count, self.read, self.write, width=width)

    def read(self, port, width):
        self.log.append(("r", port, width))
        return self.base_value + port

    def write(self, port, width, value):
        self.log.append(("w", port, width, value))


def test_wide_in_out_reach_a_byte_device_as_byte_cycles_low_port_first():
    m = Machine("80386", 1 << 20)
    dev = ByteDevice(m.bus, 0x300, 8, 0x10)
    wide = ByteDevice(m.bus, 0x310, 8, 0x1000, width=4)
    cpu = load(m, nasm("""
        mov dx, 0x301
        in ax, dx
        mov bx, ax
        mov ax, 0xBBAA
        out dx, ax
        mov dx, 0x304
        in eax, dx
        mov ecx, eax
        mov eax, 0x44332211
        out dx, eax
        mov dx, 0x312
        in eax, dx
        out dx, ax
        hlt"""))
    m.run(10_000)
    assert cpu.bx == 0x1211                             # 0x301 -> 0x11, 0x302 -> 0x12
    assert cpu.ecx == 0x17161514
    assert dev.log == [("r", 0x301, 1), ("r", 0x302, 1),
                       ("w", 0x301, 1, 0xAA), ("w", 0x302, 1, 0xBB),
                       ("r", 0x304, 1), ("r", 0x305, 1), ("r", 0x306, 1), ("r", 0x307, 1),
                       ("w", 0x304, 1, 0x11), ("w", 0x305, 1, 0x22),
                       ("w", 0x306, 1, 0x33), ("w", 0x307, 1, 0x44)]
    # A device that takes wide accesses still sees each one whole.
    assert cpu.eax == 0x1312
    assert wide.log == [("r", 0x312, 4), ("w", 0x312, 2, 0x1312)]
    assert m.bus.unclaimed_ports == {}


def test_split_bytes_stay_with_the_device_that_decoded_the_first():
    b = Bus(1 << 20, 32)
    dev = ByteDevice(b, 0x3F6, 1, 0x10)
    other = ByteDevice(b, 0x3F7, 1, 0x20)
    # The byte at 0x3F7 belongs to another chip and the one at 0x3F8 to nobody: each
    # floats high and its write goes nowhere, as when the first device split them itself.
    assert b.port_read(0x3F6, 4) == 0xFFFFFF06
    b.port_write(0x3F6, 2, 0x5A01)
    assert dev.log == [("r", 0x3F6, 1), ("w", 0x3F6, 1, 0x01)]
    assert other.log == [] and b.unclaimed_ports == {}
    assert b.port_read(0x3F7, 2) == 0xFF17               # its own first byte it does see
    # The handlers of one object are one device, whichever registration they came from.
    b.unregister_io(0x3F7, 1)
    b.register_io(0x3F7, 1, dev.read, dev.write, width=1)
    assert b.port_read(0x3F6, 2) == 0x0706


def test_a_16_bit_device_takes_a_32_bit_access_as_two_words():
    b = Bus(1 << 20, 32)
    dev = ByteDevice(b, 0x1CC, 4, 0xA000, width=2)
    assert b.port_read(0x1CC, 4) == 0xA1CEA1CC
    b.port_write(0x1CC, 4, 0x56781234)
    b.port_write(0x1CF, 1, 0x99)
    assert b.port_read(0x1CE, 4) == 0xFFFFA1CE          # 0x1D0 is nobody's
    assert dev.log == [("r", 0x1CC, 2), ("r", 0x1CE, 2),
                       ("w", 0x1CC, 2, 0x1234), ("w", 0x1CE, 2, 0x5678), ("w", 0x1CF, 1, 0x99),
                       ("r", 0x1CE, 2)]
    with pytest.raises(ValueError, match="width"):
        b.register_io(0x200, 1, dev.read, dev.write, width=3)


def test_io_observer_sees_the_access_the_cpu_made():
    b = Bus(1 << 20, 32)
    ByteDevice(b, 0x60, 4, 0x10)
    seen = []
    b.io_observer = lambda port, width, value, write: seen.append((port, width, value, write))
    assert b.port_read(0x61, 2) == 0x7271
    b.port_write(0x60, 4, 0x12345678)
    assert seen == [(0x61, 2, 0x7271, False), (0x60, 4, 0x12345678, True)]


def test_rom_buffers_are_freed_with_their_last_page():
    """A firmware's shadowing maps ROM, then RAM, then ROM again over the same segments,
    over and over: each ROM buffer goes when no page shows it any more (issue 15's leak:
    every switch back to ROM used to keep a new buffer for good)."""
    from core.bus import Bus
    bus = Bus(1 << 20)
    image = bytes(range(256)) * 256               # 64 KiB
    bus.map_rom(0xF0000, image)
    assert bus.rom_buffers == 1
    for _ in range(50):
        bus.map_ram(0xF0000, 0x4000)               # shadow: the first 16 KiB become RAM
        bus.map_rom(0xF0000, image[:0x4000])       # and back to ROM
    assert bus.rom_buffers == 2                    # the big one (its other pages) + one
    assert bus.read(0xF0000, 4) == image[:4] and bus.read(0xF8000, 4) == image[0x8000:0x8004]
    bus.map_ram(0xF0000, 0x10000)
    assert bus.rom_buffers == 0
    bus.map_rom(0xF0000, image)
    bus.map_mmio(0xF0000, 0x10000, lambda a, w: 0, lambda a, w, v: None)
    assert bus.rom_buffers == 0


def test_a_read_across_4_gib_wraps_as_a_write_does():
    """The physical address is 32 bits: bytes past FFFFFFFFh come from address 0 on, for
    read() as for write().  read() used to index its page map with the 64-bit sum, one
    entry past the end of the map (the debugger's `xp` at the top of memory reached it;
    found by the fuzz harness, issue 15)."""
    from core.bus import Bus
    bus = Bus(1 << 20)
    bus.map_rom(0xFFFFF000, b"\x11" * 0x1000)
    bus.write(0, b"ABCD")
    assert bus.read(0xFFFFFFFC, 8) == b"\x11" * 4 + b"ABCD"
    bus.write(0xFFFFFFFE, b"xyz")              # ROM drops the first two, RAM takes the 'z'
    assert bus.read(0, 2) == b"zB"
    with pytest.raises(ValueError, match="past 4 GiB"):
        bus.load_rom_image(0xFFFFFFFE, b"1234")
