"""The 82077AA floppy controller (peripherals/fdc.py) with the 8237A (peripherals/dma.py).

Most tests drive the controller's ports from Python on a real Machine and step the global
clock edge by edge, so interrupt times are exact: the IRQ6 level changes are recorded by
a stand-in for the interrupt controller.  Expected times are computed here from the
datasheet facts the model is built on (see docs/devices/dma-fdc.md):

* the 80386 model runs at 33 MHz; at 500 kbit/s a byte takes 16 us = 528 cycles;
* a 1.44M disk turns at 300 rpm (200 ms = 6,600,000 cycles per revolution), the index
  hole passes when the motor is switched on and every revolution after;
* a track starts with 146 bytes (gap 4a, sync, index mark, gap 1) and each sector takes
  62 + 512 + gap 3 (108 on a 1.44M disk) = 682 bytes; a read ends 574 bytes into the
  sector (the data CRC);
* SPECIFY SRT=D steps every 3 ms at 500 kbit/s (16 - SRT ms, doubled at 250 kbit/s).

The last tests run a real-mode NASM guest on the 80386 that programs the DMA controller and
the FDC itself.
"""
import math
from fractions import Fraction

import pytest

from core.machine import Machine
from peripherals.diskimage import DiskImageError
from peripherals.dma import DMA
from peripherals.fdc import FDC, MEDIA
from tests.asm import load, nasm

FREQ = 33_000_000
BYTE_500K = 528                     # cycles per byte at 500 kbit/s
REV_300 = 6_600_000                 # cycles per revolution at 300 rpm
PRE = 146
SLOT_144 = 682
MSR, FIFO, DOR, DIR = 0x3F4, 0x3F5, 0x3F2, 0x3F7


class IrqLog:
    """Stands in for the 8259A: records every change of an IRQ line with its cycle."""

    def __init__(self, clock):
        self.clock = clock
        self.log = []

    def set_irq(self, line, level):
        self.log.append((self.clock.now, line, level))

    def rises(self, line=6):
        return [t for t, ln, lv in self.log if ln == line and lv]


def make_image(path, size, seed=0):
    """An image whose every sector is distinct: byte i = f(i, seed)."""
    data = bytes(((i * 7) ^ (i >> 9) ^ seed) & 0xFF for i in range(size))
    path.write_bytes(data)
    return data


def lba(c, h, r, heads=2, spt=18):
    return (c * heads + h) * spt + r - 1


class Rig:
    """A machine with the DMA pair and the FDC, and the moves a driver makes."""

    def __init__(self, tmp_path, size=1_474_560, **kw):
        self.path = tmp_path / "a.img"
        self.data = make_image(self.path, size)
        self.m = Machine("80386", memory=4 << 20)
        self.irq = IrqLog(self.m.clock)
        self.m.pic = self.irq
        self.dma = DMA(self.m)
        self.fdc = FDC(self.m, self.dma, fda=self.path, **kw)
        self.out(0xD6, 0xC0)            # DMA2 channel 4: cascade, unmasked (as POST does)
        self.out(0xD4, 0x00)

    @property
    def now(self):
        return self.m.clock.now

    def out(self, port, value):
        self.m.bus.port_write(port, 1, value)

    def inp(self, port):
        return self.m.bus.port_read(port, 1)

    def settle(self, until):
        """Run the clock to cycle `until`, firing every event at its own deadline."""
        clock = self.m.clock
        while clock.next_deadline <= until:
            clock.now = max(clock.now, clock.next_deadline)
            clock.run_due()
        clock.now = until

    def wait(self, cycles):
        self.settle(self.now + cycles)

    def command(self, *data):
        for b in data:
            assert self.inp(MSR) & 0xC0 == 0x80, "FDC not ready for a command byte"
            self.out(FIFO, b)

    def results(self, n=None):
        out = []
        while self.inp(MSR) & 0xC0 == 0xC0:
            out.append(self.inp(FIFO))
        if n is not None:
            assert len(out) == n, out
        return out

    def start(self, dor=0x1C):
        """Take the controller out of reset (motor A on) and take the 4 polling statuses."""
        self.out(DOR, dor)
        self.wait(self.fdc.poll_cycles())
        got = []
        for _ in range(4):
            self.command(0x08)
            got.append(tuple(self.results(2)))
        return got

    def dma_read(self, address, count, mode=0x46):
        """Channel 2 for a device-to-memory transfer of `count` bytes at `address`."""
        self.out(0x0A, 0x06)
        self.out(0x0C, 0)
        self.out(0x04, address & 0xFF)
        self.out(0x04, (address >> 8) & 0xFF)
        self.out(0x05, (count - 1) & 0xFF)
        self.out(0x05, (count - 1) >> 8)
        self.out(0x0B, mode)
        self.out(0x81, address >> 16)
        self.out(0x0A, 0x02)

    def dma_write(self, address, count):
        self.dma_read(address, count, mode=0x4A)

    def sense(self):
        self.command(0x08)
        return tuple(self.results())

    def sector(self, c, h, r):
        i = lba(c, h, r)
        return self.data[i * 512:(i + 1) * 512]


@pytest.fixture
def rig(tmp_path):
    return Rig(tmp_path)


# ---------------------------------------------------------------- images and ports

def test_geometry_from_the_image_size(tmp_path):
    m = Machine("80386")
    fdc = FDC(m, DMA(m))
    expect = {163_840: (40, 1, 8), 184_320: (40, 1, 9), 327_680: (40, 2, 8),
              368_640: (40, 2, 9), 737_280: (80, 2, 9), 1_228_800: (80, 2, 15),
              1_474_560: (80, 2, 18), 2_949_120: (80, 2, 36)}
    assert {md.size for md in MEDIA} == set(expect)
    for size, chs in expect.items():
        p = tmp_path / ("%d.img" % size)
        p.write_bytes(bytes(size))
        media = fdc.insert(0, p)
        assert (media.cylinders, media.heads, media.sectors) == chs


def test_bad_image_sizes_are_clear_errors_naming_the_file(tmp_path):
    m = Machine("80386")
    dma = DMA(m)
    bad = tmp_path / "odd.img"
    bad.write_bytes(bytes(1_474_560 + 512))
    with pytest.raises(DiskImageError, match=r"odd\.img: 1475072 bytes is not the size of a "
                                             r"floppy image .*1\.44M = 1474560"):
        FDC(m, dma, fda=bad)
    with pytest.raises(DiskImageError, match=r"missing\.img: no such disk image"):
        FDC(m, dma, fdb=tmp_path / "missing.img")
    empty = tmp_path / "empty.img"
    empty.write_bytes(b"")
    with pytest.raises(DiskImageError, match=r"empty\.img: the disk image is empty"):
        FDC(m, dma, fda=empty)


def test_ports_claimed(rig):
    bus = rig.m.bus
    for port in (0x3F2, 0x3F3, 0x3F4, 0x3F5, 0x3F7):
        bus.port_read(port, 1)
    assert bus.unclaimed_ports == {}
    for port in (0x3F0, 0x3F1, 0x3F6):          # PS/2-only registers, and the IDE port
        bus.port_read(port, 1)
    assert set(bus.unclaimed_ports) == {0x3F0, 0x3F1, 0x3F6}


# ---------------------------------------------------------------- reset

def test_power_on_holds_the_controller_in_reset_until_the_dor_releases_it(rig):
    assert rig.inp(MSR) == 0x00
    assert rig.inp(DOR) == 0x00
    rig.out(DOR, 0x0C)
    t = rig.now
    assert rig.inp(MSR) == 0x80
    rig.wait(100_000)
    # One polling loop after leaving reset: 250 us at 250 kbit/s (the power-on rate).
    assert rig.irq.rises() == [t + 8250]
    got = []
    for _ in range(4):
        rig.command(0x08)
        got.append(tuple(rig.results(2)))
    assert got == [(0xC0, 0), (0xC1, 0), (0xC2, 0), (0xC3, 0)]
    assert rig.irq.log[-1][2] is False           # the fourth SENSE INTERRUPT cleared INT
    assert rig.sense() == (0x80,)                # nothing pending: invalid


def test_dsr_software_reset_pulses_and_keeps_locked_configuration(rig):
    rig.start()
    rig.command(0x13, 0x00, 0x47, 0x21)         # CONFIGURE: EIS, FIFO on, thr 7, PRETRK 21
    rig.command(0x03, 0xAF, 0x1E)               # SPECIFY
    rig.command(0x0E)
    before = rig.results(10)
    assert before[7:] == [0x00, 0x47, 0x21]
    rig.command(0x94)                           # LOCK
    assert rig.results(1) == [0x10]
    rig.out(MSR, 0x80)                          # DSR reset (self-clearing)
    assert rig.inp(MSR) == 0x80
    rig.wait(rig.fdc.poll_cycles())
    assert [rig.sense() for _ in range(4)] == [(0xC0, 0), (0xC1, 0), (0xC2, 0), (0xC3, 0)]
    rig.command(0x0E)
    after = rig.results(10)
    assert after[7] == 0x80                     # LOCK survives the software reset
    assert after[8:] == [0x07, 0x21]            # so do EFIFO/FIFOTHR/PRETRK; EIS does not
    assert after[4:6] == [0xAF, 0x1E]
    rig.command(0x14)                           # unlock
    assert rig.results(1) == [0x00]
    rig.out(DOR, 0x18)                          # DOR reset now clears the configuration
    rig.out(DOR, 0x1C)
    rig.wait(rig.fdc.poll_cycles())
    for _ in range(4):
        rig.sense()
    rig.command(0x0E)
    assert rig.results(10)[8:] == [0x20, 0x00]  # EFIFO=1 (FIFO off), the reset values


def test_version_invalid_perpendicular_and_dumpreg(rig):
    rig.start()
    rig.command(0x10)
    assert rig.results(1) == [0x90]             # 82077AA: enhanced controller
    rises = len(rig.irq.rises())
    rig.command(0x1F)                           # not a command
    assert rig.results(1) == [0x80]
    assert len(rig.irq.rises()) == rises        # no interrupt for an invalid command
    rig.command(0x12, 0x80 | (0x5 << 2) | 0x3)  # OW, D0 and D2, GAP, WGATE
    rig.command(0x12, 0x00)                     # OW=0: drives kept, GAP/WGATE cleared
    rig.command(0x0E)
    dump = rig.results(10)
    assert dump[:4] == [0, 0, 0, 0]
    assert dump[7] == 0x5 << 2


def test_sense_drive_status(rig):
    rig.start()
    rig.command(0x04, 0x04)                     # head 1, drive 0
    assert rig.results(1) == [0x28 | 0x10 | 0x04]      # T0, bits 5 and 3 set
    rig.fdc.eject(0)
    rig.command(0x04, 0x00)
    assert rig.results(1) == [0x28 | 0x10 | 0x40]      # no disk: reads write-protected


# ---------------------------------------------------------------- seeks

def test_seek_interrupt_comes_after_one_step_time_per_track(rig):
    rig.start()
    rig.out(DIR, 0x00)                          # CCR: 500 kbit/s
    rig.command(0x03, 0xDF, 0x02)               # SRT=D: 3 ms per step at 500 kbit/s
    rig.command(0x0F, 0x00, 10)
    t = rig.now
    assert rig.inp(MSR) == 0x81                 # drive 0 busy seeking, RQM
    rig.wait(2_000_000)
    assert rig.irq.rises()[-1] == t + 10 * 3 * 33_000
    assert rig.inp(MSR) == 0x80
    assert rig.sense() == (0x20, 10)
    assert rig.fdc.drives[0].track == 10
    # At 250 kbit/s the same SRT means 6 ms per step.
    rig.out(DIR, 0x02)
    rig.command(0x0F, 0x00, 7)
    t = rig.now
    rig.wait(2_000_000)
    assert rig.irq.rises()[-1] == t + 3 * 6 * 33_000
    assert rig.sense() == (0x20, 7)


def test_relative_seek_and_recalibrate(rig):
    rig.start()
    rig.command(0x03, 0xDF, 0x02)
    rig.command(0xCF, 0x00, 12)                 # relative seek in by 12
    rig.wait(10_000_000)
    assert rig.sense() == (0x20, 12)
    rig.command(0x8F, 0x00, 5)                  # out by 5
    rig.wait(10_000_000)
    assert rig.sense() == (0x20, 7)
    assert rig.fdc.drives[0].track == 7
    rig.command(0x07, 0x00)
    t = rig.now
    rig.wait(10_000_000)
    assert rig.irq.rises()[-1] == t + 7 * rig.fdc.step_cycles(1)
    assert rig.sense() == (0x20, 0)
    assert rig.fdc.drives[0].track == 0


def test_recalibrate_gives_up_after_79_steps(rig):
    rig.start()
    rig.command(0x03, 0xFF, 0x02)               # SRT=F: 1 ms per step at 250 kbit/s... x2
    rig.command(0x0F, 0x00, 83)                 # the drive's last track
    rig.wait(50_000_000)
    rig.sense()
    rig.command(0x07, 0x00)
    t = rig.now
    rig.wait(50_000_000)
    assert rig.irq.rises()[-1] == t + rig.fdc.step_cycles(79)
    assert rig.sense() == (0x70, 0)             # abnormal, seek end, equipment check
    assert rig.fdc.drives[0].track == 4
    rig.command(0x07, 0x00)                     # a second one gets there
    rig.wait(50_000_000)
    assert rig.sense() == (0x20, 0)
    # A drive that is not connected never shows track 0.
    rig.out(DOR, 0x1E)                          # select drive 2
    rig.command(0x07, 0x02)
    rig.wait(50_000_000)
    assert rig.sense() == (0x72, 0)


def test_disk_change_line(rig):
    rig.start()
    assert rig.inp(DIR) & 0x80                  # active since power-on
    rig.command(0x07, 0x00)                     # already on track 0: no step pulse
    rig.wait(1_000_000)
    rig.sense()
    assert rig.inp(DIR) & 0x80
    rig.command(0x0F, 0x00, 1)                  # a step with a disk in clears it
    rig.wait(10_000_000)
    rig.sense()
    assert not rig.inp(DIR) & 0x80
    rig.fdc.eject(0)
    assert rig.inp(DIR) & 0x80
    rig.fdc.insert(0, rig.path)
    rig.command(0x0F, 0x00, 0)
    rig.wait(10_000_000)
    rig.sense()
    assert not rig.inp(DIR) & 0x80


# ---------------------------------------------------------------- data transfers

def seek(rig, cylinder, head=0):
    rig.command(0x0F, head << 2, cylinder)
    rig.wait(20_000_000)
    assert rig.sense() == (0x20, cylinder)


def ready_500k(rig):
    rig.start()
    t_motor = rig.now - rig.fdc.poll_cycles()
    rig.out(DIR, 0x00)
    rig.command(0x03, 0xDF, 0x02)
    return t_motor


def test_read_sector_by_dma_takes_its_real_time(rig):
    t_motor = ready_500k(rig)
    rig.dma_read(0x20000, 512)
    rig.command(0x46, 0x00, 0, 0, 5, 2, 18, 0x1B, 0xFF)
    assert rig.inp(MSR) == 0x10                 # execution, DMA mode: no RQM
    rig.wait(3 * REV_300)
    end = t_motor + (PRE + 4 * SLOT_144 + 574) * BYTE_500K
    assert rig.irq.rises()[-1] == end
    assert rig.inp(MSR) == 0xD0
    assert rig.results(7) == [0x00, 0x00, 0x00, 0, 0, 6, 2]   # TC: next sector is R=6
    assert rig.m.mem.read(0x20000, 512) == rig.sector(0, 0, 5)
    assert rig.inp(0x08) & 0x04                 # DMA channel 2 reached terminal count


def test_dma_registers_track_the_disk_byte_by_byte(rig):
    t_motor = ready_500k(rig)
    rig.dma_read(0x20000, 512)
    rig.command(0x46, 0x00, 0, 0, 1, 2, 18, 0x1B, 0xFF)
    first = t_motor + (PRE + 61) * BYTE_500K       # the first data byte has passed
    rig.settle(first + 99 * BYTE_500K)              # 100 bytes in
    rig.out(0x0C, 0)
    addr = rig.inp(0x04) | rig.inp(0x04) << 8
    count = rig.inp(0x05) | rig.inp(0x05) << 8
    assert (addr, count) == (100, 511 - 100)
    assert rig.m.mem.read(0x20000, 100) == rig.sector(0, 0, 1)[:100]


def test_multi_sector_and_multi_track_reads(rig):
    ready_500k(rig)
    seek(rig, 3)
    # MT: sectors 17-18 of head 0 then 1-2 of head 1; TC after 4 sectors.
    rig.dma_read(0x30000, 4 * 512)
    rig.command(0xC6, 0x00, 3, 0, 17, 2, 18, 0x1B, 0xFF)
    rig.wait(4 * REV_300)
    assert rig.results(7) == [0x04, 0x00, 0x00, 3, 1, 3, 2]   # ended on head 1, R=3
    expect = rig.sector(3, 0, 17) + rig.sector(3, 0, 18) + rig.sector(3, 1, 1) + \
        rig.sector(3, 1, 2)
    assert rig.m.mem.read(0x30000, 4 * 512) == expect
    # TC on the last sector of the track: C+1, R=1 (82077AA Table 5-6, MT=0).
    rig.dma_read(0x30000, 512)
    rig.command(0x46, 0x04, 3, 1, 18, 2, 18, 0x1B, 0xFF)
    rig.wait(2 * REV_300)
    assert rig.results(7) == [0x04, 0x00, 0x00, 4, 1, 1, 2]


def test_read_past_eot_without_terminal_count_is_end_of_cylinder(rig):
    ready_500k(rig)
    rig.dma_read(0x20000, 4096)                 # more than the two sectors to EOT
    rig.command(0x46, 0x00, 0, 0, 17, 2, 18, 0x1B, 0xFF)
    rig.wait(2 * REV_300)
    assert rig.results(7) == [0x40, 0x80, 0x00, 1, 0, 1, 2]    # abnormal, EN
    assert rig.m.mem.read(0x20000, 1024) == rig.sector(0, 0, 17) + rig.sector(0, 0, 18)


def test_missing_sector_is_no_data_at_the_second_index_pulse(rig):
    t_motor = ready_500k(rig)
    rig.dma_read(0x20000, 512)
    rig.command(0x46, 0x00, 0, 0, 19, 2, 18, 0x1B, 0xFF)       # a 1.44M track has 18
    rig.wait(3 * REV_300)
    assert rig.irq.rises()[-1] == t_motor + 2 * REV_300
    assert rig.results(7) == [0x40, 0x04, 0x00, 0, 0, 19, 2]   # ST1 ND, ST2 clear
    # The wrong cylinder: ND and, in ST2, WC.
    seek(rig, 5)
    rig.command(0x46, 0x04, 6, 1, 1, 2, 18, 0x1B, 0xFF)
    rig.wait(3 * REV_300)
    assert rig.results(7) == [0x44, 0x04, 0x10, 6, 1, 1, 2]
    # A data rate the medium was not written at: no ID at all, MA.
    rig.out(DIR, 0x02)
    rig.command(0x46, 0x00, 5, 0, 1, 2, 18, 0x1B, 0xFF)
    rig.wait(3 * REV_300)
    assert rig.results(7) == [0x40, 0x01, 0x00, 5, 0, 1, 2]


def test_no_motor_no_index_pulses_until_the_motor_starts(rig):
    rig.start(dor=0x0C)                         # motor off
    rig.out(DIR, 0x00)
    rig.dma_read(0x20000, 512)
    rig.command(0x46, 0x00, 0, 0, 1, 2, 18, 0x1B, 0xFF)
    rig.wait(10 * REV_300)
    assert rig.inp(MSR) == 0x10                 # still executing
    rig.out(DOR, 0x1C)
    t_motor = rig.now
    rig.wait(REV_300)
    assert rig.irq.rises()[-1] == t_motor + (PRE + 574) * BYTE_500K
    assert rig.results(7)[:3] == [0, 0, 0]


def test_masked_dma_channel_overruns(rig):
    t_motor = ready_500k(rig)
    rig.dma_read(0x20000, 512)
    rig.out(0x0A, 0x06)                         # mask channel 2 again
    rig.command(0x46, 0x00, 0, 0, 1, 2, 18, 0x1B, 0xFF)
    rig.wait(REV_300)
    # FIFO off (one byte deep): the second byte finds it full.
    assert rig.irq.rises()[-1] == t_motor + (PRE + 61 + 1) * BYTE_500K
    assert rig.results(7) == [0x40, 0x10, 0x00, 0, 0, 1, 2]   # OR
    assert rig.inp(0x08) & 0x40 == 0            # DREQ dropped with the command


def test_unmasking_in_time_rescues_the_transfer(rig):
    t_motor = ready_500k(rig)
    rig.dma_read(0x20000, 512)
    rig.out(0x0A, 0x06)
    rig.command(0x46, 0x00, 0, 0, 1, 2, 18, 0x1B, 0xFF)
    rig.settle(t_motor + (PRE + 61) * BYTE_500K)  # first byte waits in the FIFO
    assert rig.inp(0x08) & 0x40                 # DREQ2 pending in the DMA status
    rig.out(0x0A, 0x02)                         # unmask before the next byte
    rig.wait(REV_300)
    assert rig.results(7)[:3] == [0, 0, 0]
    assert rig.m.mem.read(0x20000, 512) == rig.sector(0, 0, 1)


def test_masking_mid_sector_overruns_at_the_exact_byte(rig):
    t_motor = ready_500k(rig)
    rig.dma_read(0x20000, 512)
    rig.command(0x46, 0x00, 0, 0, 1, 2, 18, 0x1B, 0xFF)
    first = t_motor + (PRE + 61) * BYTE_500K
    rig.settle(first + 99 * BYTE_500K + 10)     # bytes 0-99 are in memory
    rig.out(0x0A, 0x06)                         # mask: byte 100 waits, byte 101 overruns
    rig.wait(REV_300)
    assert rig.irq.rises()[-1] == first + 101 * BYTE_500K
    assert rig.results(7)[:3] == [0x40, 0x10, 0x00]
    assert rig.m.mem.read(0x20000, 101) == rig.sector(0, 0, 1)[:100] + b"\x00"


def test_non_dma_read_by_polling_the_msr(rig):
    t_motor = ready_500k(rig)
    rig.command(0x03, 0xDF, 0x03)               # ND: non-DMA
    rig.command(0x46, 0x00, 0, 0, 2, 2, 2, 0x1B, 0xFF)  # EOT=2: one sector
    got = bytearray()
    first = t_motor + (PRE + SLOT_144 + 61) * BYTE_500K
    rig.settle(first - 1)
    assert rig.inp(MSR) == 0x30                 # NDMA, busy, no data yet
    rises = len(rig.irq.rises())
    for i in range(512):
        rig.settle(first + i * BYTE_500K)
        assert rig.inp(MSR) == 0xF0             # RQM, DIO, NDMA, CB
        if i == 100:
            rig.out(FIFO, 0x55)                 # a write in the wrong direction is ignored
        got.append(rig.inp(FIFO))
    assert bytes(got) == rig.sector(0, 0, 2)
    assert len(rig.irq.rises()) == rises + 512  # INT asks for every byte
    rig.wait(REV_300)
    # No TC in non-DMA mode: the command ends past EOT.
    assert rig.results(7) == [0x40, 0x80, 0x00, 1, 0, 1, 2]


def test_non_dma_read_overruns_when_the_host_is_late(rig):
    t_motor = ready_500k(rig)
    rig.command(0x03, 0xDF, 0x03)
    rig.command(0x46, 0x00, 0, 0, 1, 2, 18, 0x1B, 0xFF)
    second = t_motor + (PRE + 62) * BYTE_500K   # the second byte finds the first unread
    rig.settle(second - 1)
    assert rig.inp(MSR) == 0xF0
    rig.settle(second)
    assert rig.inp(MSR) == 0xD0                 # result phase; INT stays high throughout
    assert rig.irq.log[-1] == (second - BYTE_500K, 6, True)
    assert rig.results(7)[:2] == [0x40, 0x10]


def test_write_goes_to_the_overlay_and_reads_back(rig):
    ready_500k(rig)
    before = rig.path.read_bytes()
    pattern = bytes((i * 13 + 5) & 0xFF for i in range(1024))
    rig.m.mem.write(0x40000, pattern)
    seek(rig, 2)
    rig.dma_write(0x40000, 1024)
    rig.command(0xC5, 0x04, 2, 1, 7, 2, 18, 0x1B, 0xFF)      # R=7,8 of head 1
    rig.wait(2 * REV_300)
    assert rig.results(7) == [0x04, 0x00, 0x00, 2, 1, 9, 2]
    rig.dma_read(0x50000, 1024)
    rig.command(0xE6, 0x04, 2, 1, 7, 2, 18, 0x1B, 0xFF)
    rig.wait(2 * REV_300)
    assert rig.results(7)[:3] == [0x04, 0, 0]
    assert rig.m.mem.read(0x50000, 1024) == pattern
    assert rig.path.read_bytes() == before                 # the user's file is untouched
    image = rig.fdc.drives[0].image
    assert sorted(image.overlay) == [lba(2, 1, 7), lba(2, 1, 8)]


def test_terminal_count_mid_sector_fills_the_rest_with_zeros(rig):
    ready_500k(rig)
    rig.m.mem.write(0x40000, b"\xAB" * 100)
    rig.dma_write(0x40000, 100)
    rig.command(0x45, 0x00, 0, 0, 3, 2, 18, 0x1B, 0xFF)
    rig.wait(REV_300)
    assert rig.results(7) == [0x00, 0x00, 0x00, 0, 0, 4, 2]
    assert rig.fdc.drives[0].image.read(lba(0, 0, 3)) == b"\xAB" * 100 + bytes(412)


def test_write_protected_disk(tmp_path):
    rig = Rig(tmp_path, write_protect=True)
    ready_500k(rig)
    rig.command(0x04, 0x00)
    assert rig.results(1)[0] & 0x40             # ST3 WP
    rig.dma_write(0x40000, 512)
    rig.command(0x45, 0x00, 0, 0, 1, 2, 18, 0x1B, 0xFF)
    t = rig.now
    assert rig.irq.rises()[-1] == t             # refused at once
    assert rig.results(7) == [0x40, 0x02, 0x00, 0, 0, 1, 2]   # NW


def test_commit_writes_through_to_the_file(tmp_path):
    rig = Rig(tmp_path, commit=True)
    ready_500k(rig)
    rig.m.mem.write(0x40000, b"\x5A" * 512)
    rig.dma_write(0x40000, 512)
    rig.command(0x45, 0x00, 0, 0, 1, 2, 18, 0x1B, 0xFF)
    rig.wait(REV_300)
    rig.results(7)
    rig.fdc.drives[0].image.close()
    assert rig.path.read_bytes()[:512] == b"\x5A" * 512


def test_format_track_writes_the_filler_in_one_revolution(rig):
    t_motor = ready_500k(rig)
    seek(rig, 1)
    ids = b"".join(bytes([1, 1, r, 2]) for r in range(1, 19))
    rig.m.mem.write(0x60000, ids)
    rig.dma_write(0x60000, len(ids))
    rig.command(0x4D, 0x04, 2, 18, 0x6C, 0xF6)
    t = rig.now
    rig.wait(3 * REV_300)
    first_index = t_motor + math.ceil((t - t_motor) / REV_300) * REV_300
    assert rig.irq.rises()[-1] == first_index + REV_300
    assert rig.results(7)[:3] == [0x04, 0x00, 0x00]
    image = rig.fdc.drives[0].image
    assert all(image.read(lba(1, 1, r)) == b"\xF6" * 512 for r in range(1, 19))
    assert image.read(lba(1, 0, 1)) == rig.sector(1, 0, 1)


def test_read_id_returns_the_next_sector_header(rig):
    t_motor = ready_500k(rig)
    seek(rig, 4)
    p = (rig.now - t_motor) / BYTE_500K % (REV_300 / BYTE_500K)
    rig.command(0x4A, 0x04)
    rig.wait(REV_300)
    # The first ID mark at or after the head's position.
    i = max(0, math.ceil((p - PRE - 12) / SLOT_144))
    assert rig.results(7) == [0x04, 0, 0, 4, 1, i + 1, 2]


@pytest.mark.parametrize("size, rate, bps, rpm, gap3, heads, spt", [
    (163_840, 2, 250_000, 300, 80, 1, 8),       # 160K in a 360K drive
    (368_640, 1, 300_000, 360, 80, 2, 9),       # 360K read as a 1.2M drive does
    (737_280, 2, 250_000, 300, 80, 2, 9),
    (1_228_800, 0, 500_000, 360, 84, 2, 15),
    (2_949_120, 3, 1_000_000, 300, 83, 2, 36),
])
def test_every_format_reads_at_its_own_rate_and_speed(tmp_path, size, rate, bps, rpm, gap3,
                                                      heads, spt):
    rig = Rig(tmp_path, size=size)
    rig.start()
    t_motor = rig.now - rig.fdc.poll_cycles()
    rig.out(DIR, rate)
    rig.command(0x03, 0xDF, 0x02)
    rig.dma_read(0x20000, 512)
    rig.command(0x46, 0x00, 0, 0, 2, 2, spt, 0x1B, 0xFF)
    rig.wait(2 * FREQ * 60 // rpm)
    byte = Fraction(FREQ * 8, bps)
    assert rig.irq.rises()[-1] == t_motor + math.ceil((PRE + (62 + 512 + gap3) + 574) * byte)
    assert rig.results(7) == [0x00, 0x00, 0x00, 0, 0, 3, 2]
    i = lba(0, 0, 2, heads, spt)
    assert rig.m.mem.read(0x20000, 512) == rig.data[i * 512:(i + 1) * 512]
    if heads == 1:
        # The second side of a single-sided disk has no address marks at all.
        rig.command(0x46, 0x04, 0, 1, 1, 2, spt, 0x1B, 0xFF)
        t = rig.now
        rig.wait(3 * FREQ * 60 // rpm)
        assert rig.results(7) == [0x44, 0x01, 0x00, 0, 1, 1, 2]
        rev = FREQ * 60 // rpm
        assert rig.irq.rises()[-1] == t_motor + (math.ceil((t - t_motor) / rev) + 1) * rev


def test_implied_seek(rig):
    ready_500k(rig)
    rig.command(0x13, 0x00, 0x60, 0x00)         # CONFIGURE: EIS, FIFO off
    rig.dma_read(0x20000, 512)
    rig.command(0x46, 0x00, 9, 0, 1, 2, 18, 0x1B, 0xFF)
    t = rig.now
    assert rig.inp(MSR) == 0x11                 # busy seeking inside the command
    rig.settle(t + 9 * rig.fdc.step_cycles(1) - 1)
    assert rig.inp(MSR) == 0x11
    rig.settle(t + 9 * rig.fdc.step_cycles(1))
    assert rig.inp(MSR) == 0x10
    rig.wait(2 * REV_300)
    assert rig.results(7) == [0x00, 0x00, 0x00, 9, 0, 2, 2]
    assert rig.fdc.drives[0].track == 9
    assert rig.m.mem.read(0x20000, 512) == rig.sector(9, 0, 1)
    assert rig.sense() == (0x80,)               # an implied seek does not interrupt


def test_verify_checks_sectors_without_moving_data(rig):
    ready_500k(rig)
    rig.dma_read(0x20000, 512)
    rig.command(0xD6, 0x80, 0, 0, 4, 2, 18, 0x1B, 3)    # MT, EC: verify 3 sectors
    rig.wait(2 * REV_300)
    assert rig.results(7) == [0x00, 0x00, 0x00, 0, 0, 7, 2]
    assert rig.m.mem.read(0x20000, 512) == bytes(512)
    rig.out(0x0C, 0)
    assert rig.inp(0x05) | rig.inp(0x05) << 8 == 511    # no DMA cycles


def test_non_dma_write(rig):
    t_motor = ready_500k(rig)
    rig.command(0x03, 0xDF, 0x03)
    rig.command(0x45, 0x00, 0, 0, 1, 2, 1, 0x1B, 0xFF)
    assert rig.inp(MSR) == 0xB0                 # RQM, NDMA, CB: send the first byte
    payload = bytes((i * 3) & 0xFF for i in range(512))
    rig.out(FIFO, payload[0])
    assert rig.inp(MSR) == 0x30                 # one byte deep: full
    for i in range(1, 512):
        # Byte i-1 is taken one byte time before it is written (at 60 + (i-1)).
        rig.settle(t_motor + (PRE + 59 + i - 1) * BYTE_500K)
        assert rig.inp(MSR) == 0xB0
        rig.out(FIFO, payload[i])
    rig.wait(REV_300)
    assert rig.results(7) == [0x40, 0x80, 0x00, 1, 0, 1, 2]   # EOT without TC: EN
    assert rig.fdc.drives[0].image.read(0) == payload


def test_hardware_reset_clears_lock_and_holds_the_controller(rig):
    rig.start()
    rig.command(0x94)
    rig.results(1)
    rig.command(0x13, 0x00, 0x07, 0x00)
    rig.m.reset()
    assert rig.inp(MSR) == 0x00                 # DOR = 0: held in reset
    rig.start()
    rig.command(0x0E)
    dump = rig.results(10)
    assert dump[7] == 0x00 and dump[8] == 0x20


def test_dmagate_off_keeps_irq6_low(rig):
    rig.start()
    rig.out(DOR, 0x14)                          # DMA/IRQ gate off, motor A
    rig.command(0x0F, 0x00, 3)
    rig.wait(10_000_000)
    assert rig.irq.log[-1][2] is False
    rig.out(DOR, 0x1C)
    assert rig.irq.log[-1][2] is True           # the pending seek status shows now
    assert rig.sense() == (0x20, 3)


def test_snapshot_mid_transfer_resumes_identically(tmp_path):
    def run(snapshot_at=None):
        rig = Rig(tmp_path)
        t_motor = ready_500k(rig)
        rig.dma_read(0x20000, 1024)
        rig.command(0x46, 0x00, 0, 0, 3, 2, 18, 0x1B, 0xFF)
        if snapshot_at is not None:
            rig.settle(t_motor + snapshot_at)
            fdc_state, dma_state = rig.fdc.get_state(), rig.dma.get_state()
            mem = rig.m.mem.read(0, 4 << 20)
            now = rig.now
            rig = Rig(tmp_path)
            rig.m.clock.now = now
            rig.m.mem.write(0, mem)
            rig.dma.set_state(dma_state)
            rig.fdc.set_state(fdc_state)
        rig.settle(t_motor + 2 * REV_300)
        return rig.irq.rises()[-1], rig.results(7), rig.m.mem.read(0x20000, 1024)
    plain = run()
    assert run(snapshot_at=(PRE + 2 * SLOT_144 + 300) * BYTE_500K) == plain


def test_info_names_the_registers_and_the_disk(rig):
    rig.start()
    text = rig.fdc.info()
    assert "82077AA" in text and "DOR 1C" in text and "1.44M" in text
    assert "drive A: track 0, motor on" in text


# ---------------------------------------------------------------- a real-mode guest

GUEST = r"""
; Results go to 2000:0000 in order; buffers at 3000:0 (read), 4000:0 (data to write),
; 5000:0 (read back).
start:
    mov ax, 0x2000
    mov es, ax
    xor di, di
    cld
    mov al, 0xC0            ; DMA2 channel 4: cascade, unmasked
    out 0xD6, al
    xor al, al
    out 0xD4, al
    mov dx, 0x3F2           ; FDC reset, then DMA+IRQ gate, motor A
    xor al, al
    out dx, al
    mov al, 0x1C
    out dx, al
    mov cx, 4               ; the four polling statuses after a reset
.polls:
    call sense
    cmp bl, 0x80            ; the polling loop has not run yet
    je .polls
    mov ax, bx
    stosw
    loop .polls
    mov al, 0x03            ; SPECIFY SRT=D HUT=F HLT=1, DMA mode
    call send
    mov al, 0xDF
    call send
    mov al, 0x02
    call send
    mov dx, 0x3F7           ; CCR: 500 kbit/s
    xor al, al
    out dx, al
    mov al, 0x07            ; RECALIBRATE drive 0
    call send
    xor al, al
    call send
    call wait_seek
    mov ax, bx
    stosw
    mov al, 0x0F            ; SEEK drive 0 head 1 to cylinder 5
    call send
    mov al, 0x04
    call send
    mov al, 5
    call send
    call wait_seek
    mov ax, bx
    stosw
    mov bl, 0x46            ; DMA: write to memory at 3000:0
    mov bh, 3
    call dma512
    mov bl, 3               ; READ DATA C=5 H=1 R=3
    mov al, 0xE6
    call rw
    mov bl, 0x4A            ; DMA: read from memory at 4000:0
    mov bh, 4
    call dma512
    mov bl, 4               ; WRITE DATA C=5 H=1 R=4
    mov al, 0xC5
    call rw
    mov bl, 0x46            ; DMA: write to memory at 5000:0
    mov bh, 5
    call dma512
    mov bl, 4               ; READ DATA C=5 H=1 R=4: what was written
    mov al, 0xE6
    call rw
    mov bl, 20              ; READ DATA R=20: not on the track
    mov al, 0xE6
    call rw
    cli
    hlt

send:                       ; AL -> FIFO when RQM=1, DIO=0
    mov ah, al
    mov dx, 0x3F4
.w: in al, dx
    and al, 0xC0
    cmp al, 0x80
    jne .w
    inc dx
    mov al, ah
    out dx, al
    ret

recv:                       ; FIFO -> AL when RQM=1, DIO=1
    mov dx, 0x3F4
.w: in al, dx
    and al, 0xC0
    cmp al, 0xC0
    jne .w
    inc dx
    in al, dx
    ret

sense:                      ; SENSE INTERRUPT STATUS -> BL=ST0, BH=PCN (if any)
    mov al, 0x08
    call send
    call recv
    mov bl, al
    mov bh, 0xFF
    cmp bl, 0x80
    je .done
    call recv
    mov bh, al
.done:
    ret

wait_seek:                  ; wait for drive 0 to finish seeking, then SENSE
    mov dx, 0x3F4
.w: in al, dx
    test al, 0x01
    jnz .w
    call sense
    ret

dma512:                     ; channel 2, mode BL, page BH, offset 0, 512 bytes
    mov al, 0x06
    out 0x0A, al
    out 0x0C, al
    xor al, al
    out 0x04, al
    out 0x04, al
    mov al, 0xFF
    out 0x05, al
    mov al, 0x01
    out 0x05, al
    mov al, bl
    out 0x0B, al
    mov al, bh
    out 0x81, al
    mov al, 0x02
    out 0x0A, al
    ret

rw:                         ; command AL, drive 0 head 1, C=5 H=1 R=BL N=2 EOT=18
    push bx
    call send
    mov al, 0x04
    call send
    mov al, 5
    call send
    mov al, 1
    call send
    pop bx
    mov al, bl
    call send
    mov al, 2
    call send
    mov al, 18
    call send
    mov al, 0x1B
    call send
    mov al, 0xFF
    call send
    mov cx, 7
.r: call recv
    stosb
    loop .r
    ret
"""


def test_guest_resets_recalibrates_seeks_reads_and_writes_through_dma(tmp_path):
    path = tmp_path / "guest.img"
    data = make_image(path, 1_474_560, seed=0x5C)
    before = path.read_bytes()
    m = Machine("80386", memory=1 << 20)
    dma = DMA(m)
    fdc = FDC(m, dma, fda=path)
    pattern = bytes((i * 31 + 7) & 0xFF for i in range(512))
    m.mem.write(0x40000, pattern)
    load(m, nasm(GUEST), cs=0x1000, ss=0x7000)
    assert m.run(max_cycles=200_000_000) == "halt"

    res = m.mem.read(0x20000, 8 * 2 + 2 * 2 + 4 * 7)
    polls = [tuple(res[i:i + 2]) for i in range(0, 8, 2)]
    assert polls == [(0xC0, 0), (0xC1, 0), (0xC2, 0), (0xC3, 0)]
    assert tuple(res[8:10]) == (0x20, 0)            # recalibrated: seek end, PCN 0
    assert tuple(res[10:12]) == (0x20, 5)           # seek: PCN 5
    read1, write, read2, missing = (list(res[12 + 7 * i:19 + 7 * i]) for i in range(4))
    assert read1 == [0x04, 0x00, 0x00, 5, 1, 4, 2]
    assert write == [0x04, 0x00, 0x00, 5, 1, 5, 2]
    assert read2 == [0x04, 0x00, 0x00, 5, 1, 5, 2]
    assert missing == [0x44, 0x04, 0x00, 5, 1, 20, 2]

    sector = lambda r: data[lba(5, 1, r) * 512:(lba(5, 1, r) + 1) * 512]  # noqa: E731
    assert m.mem.read(0x30000, 512) == sector(3)
    assert m.mem.read(0x50000, 512) == pattern
    assert fdc.drives[0].image.read(lba(5, 1, 4)) == pattern
    assert path.read_bytes() == before              # the overlay kept the file intact
    assert fdc.drives[0].track == 5
