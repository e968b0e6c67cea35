"""The ATA/ATAPI host adapter (peripherals/ata.py) against ATA/ATAPI-6, SFF-8020i and MMC.

Most tests drive the ports from Python on a real Machine (its bus and clock) and move the
clock by hand, so every deadline is checked to the cycle.  Two tests run real-mode guests
assembled with NASM on the 80386: one reads and writes a disk in CHS, LBA28 and LBA48 with
16- and 32-bit PIO, the other boots a CD-ROM image the El Torito way over ATAPI.
"""
import hashlib
import struct
import sys

import pytest

from core.machine import Machine
from peripherals.ata import (ATA, CDROM, HardDisk, ata_string, default_geometry,
                             BSY, DRDY, DSC, DRQ, ERR, ABRT, IDNF, NIEN, SRST, HOB,
                             IR_COD, IR_IO)
from peripherals.debugport import DebugPort
from peripherals.diskimage import DiskImage, DiskImageError
from tests.asm import load, nasm

PRI, PRI_CTL = 0x1F0, 0x3F6
SEC, SEC_CTL = 0x170, 0x376
FREQ = 33_000_000                     # the 80386 model's clock


def cycles(ns):
    return ns * FREQ // 1_000_000_000


_STEPS = bytes((i * 7) & 0xFF for i in range(496))
_ADD = [bytes((j + k) & 0xFF for j in range(256)) for k in range(256)]


def pattern(sectors, seed=0):
    """Deterministic image contents: every sector differs from every other."""
    out = bytearray(sectors * 512)
    for s in range(sectors):
        head = struct.pack("<IIII", s, s ^ 0xA5A5A5A5, seed, 0x12345678)
        out[s * 512:(s + 1) * 512] = head + _STEPS.translate(_ADD[(s * 31 + seed) & 0xFF])
    return bytes(out)


class IrqRecorder:
    """Stands in for the 8259: records every level change of every line with its cycle."""

    def __init__(self, clock):
        self.clock = clock
        self.changes = []
        self.level = {}

    def set_irq(self, line, level):
        self.changes.append((self.clock.now, line, level))
        self.level[line] = level

    def rises(self, line):
        return [t for t, l, v in self.changes if l == line and v]


class PortIO:
    """Port I/O and time travel from Python on `self.m` (a Machine), `self.clock` its
    clock; the device tests' rigs build on it."""

    def out(self, port, value, width=1):
        self.m.bus.port_write(port, width, value)

    def inp(self, port, width=1):
        return self.m.bus.port_read(port, width)

    def advance(self, n):
        """Let n cycles pass, firing what falls due (as the CPU's slices would)."""
        end = self.clock.now + n
        while self.clock.next_deadline <= end:
            self.clock.now = max(self.clock.now, self.clock.next_deadline)
            self.clock.run_due()
        self.clock.now = end


class Rig(PortIO):
    """A Machine with the adapter, and port I/O and time travel from Python."""

    def __init__(self, **drives):
        self.m = Machine("80386", memory=1 << 20)
        assert self.m.clock.frequency == FREQ
        self.irq = IrqRecorder(self.m.clock)
        self.m.pic = self.irq
        self.ata = ATA(self.m, **drives)
        self.clock = self.m.clock

    def next_event(self):
        """Jump to the next pending event and fire it; return the cycle."""
        assert self.clock.pending(), "nothing is scheduled"
        self.clock.now = self.clock.next_deadline
        self.clock.run_due()
        return self.clock.now

    def wait_not_busy(self, base=PRI, ctl=PRI_CTL):
        while self.inp(ctl) & BSY:
            self.next_event()
        return self.inp(ctl)

    def words(self, n, base=PRI):
        return [self.inp(base, 2) for _ in range(n)]

    def read_data(self, nbytes, base=PRI):
        return b"".join(struct.pack("<H", self.inp(base, 2)) for _ in range((nbytes + 1) // 2))

    def write_data(self, data, base=PRI):
        for i in range(0, len(data), 2):
            self.out(base, data[i] | data[i + 1] << 8, 2)

    def taskfile(self, base=PRI):
        return [self.inp(base + r) for r in range(1, 8)]

    def lba28(self, command, lba, count, dev=0, base=PRI):
        self.out(base + 2, count & 0xFF)
        self.out(base + 3, lba & 0xFF)
        self.out(base + 4, (lba >> 8) & 0xFF)
        self.out(base + 5, (lba >> 16) & 0xFF)
        self.out(base + 6, 0xE0 | dev << 4 | (lba >> 24) & 0x0F)
        self.out(base + 7, command)

    def lba48(self, command, lba, count, dev=0, base=PRI):
        for hi, lo, port in (((count >> 8), count, 2), (lba >> 24, lba, 3),
                             (lba >> 32, lba >> 8, 4), (lba >> 40, lba >> 16, 5)):
            self.out(base + port, hi & 0xFF)
            self.out(base + port, lo & 0xFF)
        self.out(base + 6, 0x40 | dev << 4)
        self.out(base + 7, command)

    def chs(self, command, c, h, s, count, dev=0, base=PRI):
        self.out(base + 2, count & 0xFF)
        self.out(base + 3, s)
        self.out(base + 4, c & 0xFF)
        self.out(base + 5, c >> 8)
        self.out(base + 6, 0xA0 | dev << 4 | h)
        self.out(base + 7, command)

    def identify(self, base=PRI, ctl=PRI_CTL, command=0xEC):
        self.out(base + 7, command)
        status = self.wait_not_busy(base, ctl)
        assert status & DRQ, hex(status)
        return self.read_data(512, base)


def identify_words(data):
    return struct.unpack("<256H", data)


def ata_text(data, first, count):
    """Decode an IDENTIFY string field (words first..first+count-1)."""
    raw = data[2 * first:2 * (first + count)]
    return bytes(b for pair in zip(raw[1::2], raw[0::2]) for b in pair).decode()


@pytest.fixture
def disk(tmp_path):
    """A 20 MiB image (40960 sectors) with a known pattern."""
    path = tmp_path / "disk.img"
    path.write_bytes(pattern(40960))
    return path


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ====================================================================== IDENTIFY DEVICE

def test_identify_device_contents(disk):
    rig = Rig(hda=HardDisk(disk, serial="SN-0042", model="Test Disk 20M", firmware="FW1.23"))
    data = rig.identify()
    w = identify_words(data)
    assert len(data) == 512
    # Strings: ASCII, space padded, the first character of a pair in the word's high byte.
    assert ata_text(data, 10, 10) == "SN-0042".ljust(20)
    assert ata_text(data, 23, 4) == "FW1.23".ljust(8)
    assert ata_text(data, 27, 20) == "Test Disk 20M".ljust(40)
    assert data[2 * 27:2 * 27 + 4] == b"eTts"       # byte-swapped on the wire
    assert w[0] == 0x0040                           # ATA, fixed device
    assert (w[1], w[3], w[6]) == (40, 16, 63)        # 40960 // (16*63) = 40 cylinders
    assert (w[4], w[5]) == (512 * 63, 512)           # retired, but BIOSes still read w5
    assert w[48] == 0                                # no doubleword I/O claim (ATA-1)
    assert (w[54], w[55], w[56]) == (40, 16, 63)     # current translation = default
    assert w[57] | w[58] << 16 == 40 * 16 * 63
    assert w[53] & 0x0003 == 0x0003                  # words 54-58 and 64-70 valid
    assert w[47] == 0x8010                           # up to 16 sectors per MULTIPLE block
    assert w[59] == 0                                # multiple mode off after power-on
    assert w[49] & (1 << 9)                          # LBA supported
    assert not w[49] & (1 << 8)                      # no DMA
    assert w[50] == 0x4000
    assert w[60] | w[61] << 16 == 40960              # LBA28 capacity
    assert w[64] == 0x0003                           # PIO modes 3 and 4
    assert (w[67], w[68]) == (120, 120)
    assert w[80] & (1 << 6)                          # ATA/ATAPI-6
    assert w[83] & (1 << 10) and w[86] & (1 << 10)   # 48-bit addressing supported, enabled
    assert w[83] & (1 << 12) and w[83] & (1 << 13)   # FLUSH CACHE and FLUSH CACHE EXT
    assert w[83] >> 14 == 0b01 and w[84] >> 14 == 0b01 and w[87] >> 14 == 0b01
    assert w[82] & (1 << 5) and w[85] & (1 << 5)     # write cache supported, enabled
    assert w[93] & 0x6001 == 0x4001                  # device 0, valid word
    assert sum(w[100:104][i] << (16 * i) for i in range(4)) == 40960
    assert w[255] & 0xFF == 0xA5 and sum(data) % 256 == 0     # integrity word


def test_identify_timing_status_and_interrupt(disk):
    rig = Rig(hda=disk)
    t0 = rig.clock.now
    rig.out(PRI + 7, 0xEC)
    assert rig.inp(PRI_CTL) == BSY | DRDY | DSC
    # Reads of the other registers while BSY give the Status register.
    assert rig.inp(PRI + 2) == BSY | DRDY | DSC
    due = t0 + cycles(HardDisk.TIMING["command"])
    rig.advance(due - 1 - rig.clock.now)
    assert rig.inp(PRI_CTL) & BSY and not rig.irq.changes
    rig.advance(1)
    assert rig.inp(PRI_CTL) == DRDY | DSC | DRQ
    assert rig.irq.changes == [(due, 14, True)]
    # The alternate status does not acknowledge; the status register does.
    rig.inp(PRI_CTL)
    assert rig.irq.level[14] is True
    assert rig.inp(PRI + 7) == DRDY | DSC | DRQ
    assert rig.irq.level[14] is False
    rig.read_data(510)
    assert rig.inp(PRI_CTL) & DRQ
    rig.read_data(2)
    assert rig.inp(PRI_CTL) == DRDY | DSC            # no interrupt after the last word
    assert len(rig.irq.rises(14)) == 1


def test_identify_reflects_settings(disk):
    rig = Rig(hda=disk)
    rig.out(PRI + 2, 8)
    rig.out(PRI + 7, 0xC6)                            # SET MULTIPLE MODE 8
    assert rig.wait_not_busy() == DRDY | DSC
    rig.out(PRI + 6, 0xA0 | 3)                        # 4 heads
    rig.out(PRI + 2, 17)                              # 17 sectors per track
    rig.out(PRI + 7, 0x91)                            # INITIALIZE DEVICE PARAMETERS
    assert rig.wait_not_busy() == DRDY | DSC
    rig.out(PRI + 1, 0x82)
    rig.out(PRI + 7, 0xEF)                            # SET FEATURES: write cache off
    assert rig.wait_not_busy() == DRDY | DSC
    w = identify_words(rig.identify())
    assert w[59] == 0x0108
    assert (w[54], w[55], w[56]) == (40960 // (4 * 17), 4, 17)
    assert (w[1], w[3], w[6]) == (40, 16, 63)         # the default stays
    assert not w[85] & (1 << 5)


def test_default_geometry_like_drives_report_it():
    assert default_geometry(40960) == (40, 16, 63)
    assert default_geometry(16514064) == (16383, 16, 63)
    assert default_geometry(1 << 30) == (16383, 16, 63)       # capped: 8.4 GB and above
    assert default_geometry(2880) == (2, 16, 63)
    c, h, s = default_geometry(100)                            # smaller than a cylinder
    assert c * h * s <= 100 and s <= 63 and h <= 16 and c >= 1


def test_geometry_override_and_errors(disk):
    rig = Rig(hda=HardDisk(disk, cylinders=600, heads=4, sectors=17))
    w = identify_words(rig.identify())
    assert (w[1], w[3], w[6]) == (600, 4, 17)
    assert (w[54], w[55], w[56]) == (600, 4, 17)
    with pytest.raises(ValueError, match="disk.img.*more than"):
        HardDisk(disk, cylinders=1000, heads=16, sectors=63)
    with pytest.raises(ValueError, match="heads"):
        HardDisk(disk, heads=17)
    assert HardDisk(disk, heads=8, sectors=32).cylinders == 40960 // 256


def test_ata_strings_and_drives_from_disk_images(disk, tmp_path):
    assert ata_string("ABC", 2) == b"BA C"           # pairs swapped, space padded
    image = DiskImage(disk)
    rig = Rig(hda=image)
    assert rig.ata.drive(0, 0).image is image
    with pytest.raises(DiskImageError, match="2048-byte sectors"):
        CDROM(DiskImage(disk))
    with pytest.raises(DiskImageError, match="512-byte sectors"):
        HardDisk(DiskImage(disk, sector_size=2048))
    with pytest.raises(ValueError, match="hdc already"):
        ATA(Machine("80386"), hdc=disk, cdrom=disk)


def test_bad_images_are_clear_errors(tmp_path):
    with pytest.raises(DiskImageError, match="missing.img"):
        HardDisk(tmp_path / "missing.img")
    (tmp_path / "tiny.img").write_bytes(b"x" * 100)
    with pytest.raises(DiskImageError, match="tiny.img.*smaller than one 512-byte"):
        HardDisk(tmp_path / "tiny.img")
    (tmp_path / "small.iso").write_bytes(b"x" * 1000)
    with pytest.raises(DiskImageError, match="small.iso.*2048"):
        CDROM(tmp_path / "small.iso")


# ====================================================================== reads and writes

def test_read_sectors_lba28_timing_and_registers(disk):
    rig = Rig(hda=disk)
    t = HardDisk.TIMING
    t0 = rig.clock.now
    rig.lba28(0x20, 1000, 3)
    # Head at 0 after reset: seek of 1000/40960 of the stroke plus half a revolution.
    seek = cycles(t["track_to_track"]) + (
        (cycles(t["full_stroke"]) - cycles(t["track_to_track"])) * 1000 // 40960)
    first = t0 + cycles(t["command"]) + seek + cycles(t["half_revolution"]) + cycles(t["sector"])
    assert rig.next_event() == first
    assert rig.inp(PRI + 7) == DRDY | DSC | DRQ
    image = disk.read_bytes()
    assert rig.read_data(512) == image[1000 * 512:1001 * 512]
    # The host took no time: block 2 comes one media sector after block 1.
    assert rig.inp(PRI_CTL) & BSY
    assert rig.next_event() == first + cycles(t["sector"])
    # A slow host: the media has read ahead meanwhile, so block 3 follows the turnaround
    # once the host has emptied block 2.
    rig.advance(cycles(1_000_000))
    assert rig.inp(PRI + 7) == DRDY | DSC | DRQ       # acknowledges the interrupt
    assert rig.read_data(512) == image[1001 * 512:1002 * 512]
    assert rig.inp(PRI_CTL) & BSY
    now = rig.clock.now
    assert rig.next_event() == now + cycles(t["block"])
    assert rig.inp(PRI + 7) == DRDY | DSC | DRQ
    assert rig.read_data(512) == image[1002 * 512:1003 * 512]
    assert rig.inp(PRI + 7) == DRDY | DSC
    assert len(rig.irq.rises(14)) == 3                # one per DRQ block
    # The registers name the last sector transferred; the count has run down to 0.
    assert rig.taskfile()[1:6] == [0, 1002 & 0xFF, 1002 >> 8, 0, 0xE0]
    # Sequential: the next command pays no access time.
    t1 = rig.clock.now
    rig.lba28(0x20, 1003, 1)
    assert rig.next_event() == t1 + cycles(t["command"]) + cycles(t["sector"])
    assert rig.read_data(512) == image[1003 * 512:1004 * 512]


def test_read_sectors_chs_uses_the_current_translation(disk):
    rig = Rig(hda=disk)
    image = disk.read_bytes()
    rig.chs(0x21, 2, 5, 9, 2)                         # READ SECTORS without retries
    lba = (2 * 16 + 5) * 63 + 8
    rig.wait_not_busy()
    assert rig.read_data(512) == image[lba * 512:(lba + 1) * 512]
    rig.wait_not_busy()
    assert rig.read_data(512) == image[(lba + 1) * 512:(lba + 2) * 512]
    # The registers hold the CHS address of the last sector (2/5/10).
    assert rig.taskfile()[1:6] == [0, 10, 2, 0, 0xA5]
    # Track boundary after INITIALIZE DEVICE PARAMETERS 2 heads x 10 sectors.
    rig.out(PRI + 6, 0xA1)
    rig.out(PRI + 2, 10)
    rig.out(PRI + 7, 0x91)
    rig.wait_not_busy()
    rig.chs(0x20, 3, 1, 10, 2)                        # C3 H1 S10 then C4 H0 S1
    rig.wait_not_busy()
    lba = (3 * 2 + 1) * 10 + 9
    assert rig.read_data(512) == image[lba * 512:(lba + 1) * 512]
    rig.wait_not_busy()
    assert rig.read_data(512) == image[(lba + 1) * 512:(lba + 2) * 512]
    assert rig.taskfile()[1:6] == [0, 1, 4, 0, 0xA0]


def test_read_multiple_blocks_and_32_bit_pio(disk):
    rig = Rig(hda=disk)
    image = disk.read_bytes()
    rig.out(PRI + 2, 4)
    rig.out(PRI + 7, 0xC6)
    rig.wait_not_busy()
    rig.inp(PRI + 7)
    rises = len(rig.irq.rises(14))
    rig.lba28(0xC4, 77, 10)                           # blocks of 4, 4, 2 sectors
    got = b""
    for block in (4, 4, 2):
        rig.wait_not_busy()
        assert rig.inp(PRI + 7) == DRDY | DSC | DRQ   # acknowledges the block's interrupt
        got += b"".join(struct.pack("<I", rig.inp(PRI, 4)) for _ in range(block * 128))
        if block == 4:
            assert rig.inp(PRI_CTL) & BSY             # the block ended exactly there
    assert got == image[77 * 512:87 * 512]
    assert rig.inp(PRI + 7) == DRDY | DSC
    assert len(rig.irq.rises(14)) - rises == 3


def test_read_multiple_needs_set_multiple(disk):
    rig = Rig(hda=disk)
    rig.lba28(0xC4, 0, 1)
    assert rig.wait_not_busy() == DRDY | DSC | ERR
    assert rig.inp(PRI + 1) == ABRT
    for bad in (3, 32):
        rig.out(PRI + 2, bad)
        rig.out(PRI + 7, 0xC6)
        assert rig.wait_not_busy() & ERR and rig.inp(PRI + 1) == ABRT


def test_lba48_read_above_lba28_range_and_hob(tmp_path):
    path = tmp_path / "big.img"
    total = (1 << 28) + 4096                          # 128 GiB, sparse
    lba = (1 << 28) + 0x123
    with open(path, "wb") as f:
        f.truncate(total * 512)
        f.seek(lba * 512)
        f.write(pattern(2, seed=9))
    rig = Rig(hda=path)
    w = identify_words(rig.identify())
    assert w[60] | w[61] << 16 == 0x0FFFFFFF          # LBA28 capacity saturates
    assert sum(w[100 + i] << (16 * i) for i in range(4)) == total
    assert (w[1], w[3], w[6]) == (16383, 16, 63)
    rig.lba48(0x24, lba, 2)                           # READ SECTORS EXT
    got = b""
    for _ in range(2):
        rig.wait_not_busy()
        got += rig.read_data(512)
    assert got == pattern(2, seed=9)
    # Last sector's address: low bytes with HOB=0, high bytes with HOB=1.
    last = lba + 1
    assert [rig.inp(PRI + r) for r in (3, 4, 5)] == [last & 0xFF, last >> 8 & 0xFF,
                                                      last >> 16 & 0xFF]
    rig.out(PRI_CTL, HOB)
    assert [rig.inp(PRI + r) for r in (3, 4, 5)] == [last >> 24 & 0xFF, last >> 32 & 0xFF,
                                                      last >> 40 & 0xFF]
    rig.out(PRI + 2, 0)                               # any register write clears HOB
    assert rig.inp(PRI + 3) == last & 0xFF
    # LBA28 cannot reach that far: the same low bits address another sector.
    rig.lba28(0x20, lba & 0x0FFFFFFF, 1)
    rig.wait_not_busy()
    assert rig.read_data(512) == bytes(512)


def test_sector_count_zero_means_256_and_65536(disk):
    rig = Rig(hda=disk)
    rig.lba28(0x40, 0, 0)                             # READ VERIFY 256 sectors
    rig.wait_not_busy()
    assert rig.inp(PRI + 7) == DRDY | DSC
    assert rig.inp(PRI + 3) == 255
    rig.lba48(0x42, 0, 0)                             # 65536 sectors: past the end (40960)
    rig.wait_not_busy()
    assert rig.inp(PRI + 7) == DRDY | DSC | ERR and rig.inp(PRI + 1) == IDNF
    assert rig.inp(PRI + 3) | rig.inp(PRI + 4) << 8 == 40960


def test_write_sectors_go_to_the_overlay(disk):
    before = sha(disk)
    drive = HardDisk(disk)
    rig = Rig(hda=drive)
    data = pattern(3, seed=77)
    rig.lba28(0x30, 500, 3)                           # WRITE SECTORS
    status = rig.wait_not_busy()
    assert status == DRDY | DSC | DRQ
    assert not rig.irq.changes                        # no interrupt for the first block
    for i in range(3):
        rig.write_data(data[i * 512:(i + 1) * 512])
        assert rig.inp(PRI_CTL) & BSY
        status = rig.wait_not_busy()
        assert status == (DRDY | DSC | (DRQ if i < 2 else 0))
        assert rig.inp(PRI + 7) == status
    assert len(rig.irq.rises(14)) == 3                # blocks 2 and 3, and completion
    assert drive.image.read(500, 3) == data
    assert sorted(drive.image.overlay) == [500, 501, 502]
    # Read back through the device.
    rig.lba28(0x20, 500, 3)
    got = b""
    for _ in range(3):
        rig.wait_not_busy()
        got += rig.read_data(512)
    assert got == data
    drive.image.close()
    assert sha(disk) == before


def test_write_timing_with_and_without_write_cache(disk):
    t = HardDisk.TIMING
    rig = Rig(hda=disk)
    rig.lba28(0x30, 0, 1)
    t0 = rig.clock.now
    assert rig.next_event() == t0 + cycles(t["command"])
    rig.write_data(bytes(512))
    t1 = rig.clock.now
    assert rig.next_event() == t1 + cycles(t["block"])    # into the cache
    rig.out(PRI + 7, 0xE7)                                 # FLUSH CACHE pays the media
    t2 = rig.clock.now
    assert rig.next_event() == t2 + cycles(t["command"]) + cycles(t["half_revolution"]) \
        + cycles(t["sector"])
    rig.out(PRI + 1, 0x82)
    rig.out(PRI + 7, 0xEF)                                 # write cache off
    rig.wait_not_busy()
    rig.lba28(0x30, 1, 2)                                  # sequential after sector 0
    rig.wait_not_busy()
    rig.write_data(bytes(512))
    t3 = rig.clock.now
    assert rig.next_event() == t3 + cycles(t["block"]) + cycles(t["sector"])


def test_write_multiple_and_ext_and_commit(tmp_path):
    path = tmp_path / "c.img"
    path.write_bytes(bytes(512 * 64))
    rig = Rig(hda=path, commit=True)
    rig.out(PRI + 2, 2)
    rig.out(PRI + 7, 0xC6)
    rig.wait_not_busy()
    data = pattern(5, seed=3)
    rig.lba28(0xC5, 10, 5)                             # WRITE MULTIPLE, blocks 2, 2, 1
    for start, n in ((0, 2), (2, 2), (4, 1)):
        assert rig.wait_not_busy() & DRQ
        rig.write_data(data[start * 512:(start + n) * 512])
    assert rig.wait_not_busy() == DRDY | DSC
    rig.lba48(0x34, 40, 1)                             # WRITE SECTORS EXT
    rig.wait_not_busy()
    rig.write_data(data[:512])
    assert rig.wait_not_busy() == DRDY | DSC
    raw = path.read_bytes()                            # commit: the file has them
    assert raw[10 * 512:15 * 512] == data
    assert raw[40 * 512:41 * 512] == data[:512]


# ====================================================================== errors

def test_read_beyond_the_end_is_idnf(disk):
    rig = Rig(hda=disk)
    rig.lba28(0x20, 40960, 1)
    assert rig.wait_not_busy() == DRDY | DSC | ERR
    assert rig.inp(PRI + 1) == IDNF
    assert len(rig.irq.rises(14)) == 1
    # A transfer running off the end delivers the good sectors first.
    image = disk.read_bytes()
    rig.inp(PRI + 7)
    rig.lba28(0x20, 40958, 4)
    for lba in (40958, 40959):
        assert rig.wait_not_busy() == DRDY | DSC | DRQ
        assert rig.read_data(512) == image[lba * 512:(lba + 1) * 512]
    assert rig.wait_not_busy() == DRDY | DSC | ERR
    assert rig.inp(PRI + 1) == IDNF
    # The registers name the sector in error; two sectors were left.
    assert rig.taskfile()[1:5] == [2, 40960 & 0xFF, 40960 >> 8 & 0xFF, 0]
    # Writes and LBA48 too.
    rig.lba48(0x34, 1 << 40, 1)
    assert rig.wait_not_busy() == DRDY | DSC | ERR and rig.inp(PRI + 1) == IDNF
    rig.lba28(0x30, 40960, 1)
    assert rig.wait_not_busy() == DRDY | DSC | ERR and rig.inp(PRI + 1) == IDNF


def test_chs_address_errors(disk):
    rig = Rig(hda=disk)
    for c, h, s in ((0, 0, 0), (0, 0, 64), (40, 0, 1)):
        rig.chs(0x20, c, h, s, 1)
        assert rig.wait_not_busy() == DRDY | DSC | ERR, (c, h, s)
        assert rig.inp(PRI + 1) == IDNF
    # A translation that does not fit is aborted and CHS commands are aborted after it.
    rig.out(PRI + 2, 0)
    rig.out(PRI + 7, 0x91)
    assert rig.wait_not_busy() & ERR and rig.inp(PRI + 1) == ABRT
    rig.chs(0x20, 0, 0, 1, 1)
    assert rig.wait_not_busy() & ERR and rig.inp(PRI + 1) == ABRT
    assert identify_words(rig.identify())[53] & 1 == 0


def test_unknown_and_packet_commands_abort_on_a_disk(disk):
    rig = Rig(hda=disk)
    for command in (0x00, 0x08, 0xA0, 0xA1, 0xFF):
        rig.out(PRI + 7, command)
        assert rig.wait_not_busy() == DRDY | DSC | ERR, hex(command)
        assert rig.inp(PRI + 1) == ABRT
    rig.out(PRI + 1, 0x03)
    rig.out(PRI + 2, 0x42)                            # SET FEATURES: UDMA 2, no DMA here
    rig.out(PRI + 7, 0xEF)
    assert rig.wait_not_busy() & ERR
    rig.out(PRI + 2, 0x0C)                            # PIO mode 4
    rig.out(PRI + 7, 0xEF)
    assert rig.wait_not_busy() == DRDY | DSC


def test_non_data_commands(disk):
    rig = Rig(hda=disk)
    t = HardDisk.TIMING
    for command in (0xE0, 0xE1, 0xE3, 0x94, 0xE7, 0xEA):
        rig.out(PRI + 7, command)
        assert rig.wait_not_busy() == DRDY | DSC
    rig.out(PRI + 7, 0xE0)                            # STANDBY IMMEDIATE
    rig.wait_not_busy()
    rig.out(PRI + 7, 0xE5)                            # CHECK POWER MODE
    rig.wait_not_busy()
    assert rig.inp(PRI + 2) == 0x00
    rig.lba28(0x40, 5, 1)                             # any media access: active again
    rig.wait_not_busy()
    rig.out(PRI + 7, 0xE5)
    rig.wait_not_busy()
    assert rig.inp(PRI + 2) == 0xFF
    # SEEK then RECALIBRATE, with the seek model.
    rig.lba28(0x70, 20480, 0)
    t0 = rig.clock.now
    full = cycles(t["full_stroke"]) - cycles(t["track_to_track"])
    assert rig.next_event() == t0 + cycles(t["command"]) + cycles(t["track_to_track"]) + (
        full * (20480 - 6) // 40960)
    assert rig.inp(PRI + 7) == DRDY | DSC
    rig.out(PRI + 7, 0x10)
    t1 = rig.clock.now
    assert rig.next_event() == t1 + cycles(t["command"]) + cycles(t["track_to_track"]) + (
        full * 20480 // 40960)
    rig.lba28(0x70, 50000, 0)
    assert rig.wait_not_busy() & ERR and rig.inp(PRI + 1) == IDNF


# ====================================================================== interrupts, nIEN

def test_nien_masks_intrq_and_status_read_acknowledges(disk):
    rig = Rig(hda=disk)
    rig.out(PRI_CTL, NIEN)
    rig.out(PRI + 7, 0xE1)                            # IDLE IMMEDIATE
    rig.wait_not_busy()
    assert not rig.irq.changes                        # pending but not driven
    rig.out(PRI_CTL, 0)
    assert rig.irq.changes[-1][1:] == (14, True)      # the pending interrupt shows now
    rig.inp(PRI_CTL)
    assert rig.irq.level[14] is True
    rig.inp(PRI + 7)
    assert rig.irq.level[14] is False
    # Writing the Command register also clears a pending interrupt.
    rig.out(PRI + 7, 0xE1)
    rig.wait_not_busy()
    assert rig.irq.level[14] is True
    rig.out(PRI + 7, 0xE1)
    assert rig.irq.level[14] is False


def test_secondary_channel_uses_irq15(disk):
    rig = Rig(hdc=disk)
    rig.out(SEC + 7, 0xE1)
    rig.wait_not_busy(SEC, SEC_CTL)
    assert rig.irq.changes[-1][1:] == (15, True)
    assert 14 not in rig.irq.level


# ====================================================================== resets, signatures

def test_soft_reset_places_signatures(disk, tmp_path):
    iso = tmp_path / "cd.iso"
    iso.write_bytes(bytes(2048 * 20))
    rig = Rig(hda=disk, hdb=CDROM(iso))
    # Scribble on the registers and leave a command half done.
    rig.lba28(0x20, 1234, 5)
    rig.wait_not_busy()
    t0 = rig.clock.now
    rises = len(rig.irq.rises(14))
    rig.out(PRI_CTL, SRST | NIEN)
    assert rig.inp(PRI_CTL) == BSY
    assert rig.inp(PRI + 2) == BSY                    # BSY: the status on every register
    rig.advance(cycles(5_000))                        # hold SRST 5 us
    rig.out(PRI_CTL, NIEN)
    t1 = rig.clock.now
    assert rig.inp(PRI_CTL) == BSY
    done = t1 + cycles(HardDisk.TIMING["reset"])
    assert rig.next_event() == done
    # Device 0 (the disk): ATA signature, diagnostic code 01h, DRDY|DSC.
    assert rig.taskfile() == [0x01, 0x01, 0x01, 0x00, 0x00, 0x00, DRDY | DSC]
    rig.out(PRI + 6, 0x10)                            # select device 1, the CD-ROM
    assert rig.taskfile() == [0x01, 0x01, 0x01, 0x14, 0xEB, 0x10, 0x00]
    rig.out(PRI_CTL, 0)
    assert len(rig.irq.rises(14)) == rises            # a reset does not interrupt
    assert rig.clock.now - t0 < cycles(10_000_000)


def test_power_on_signatures_and_execute_device_diagnostic(disk, tmp_path):
    iso = tmp_path / "cd.iso"
    iso.write_bytes(bytes(2048 * 20))
    rig = Rig(hda=disk, hdc=CDROM(iso))
    assert rig.taskfile(PRI) == [0x01, 0x01, 0x01, 0x00, 0x00, 0x00, DRDY | DSC]
    assert rig.taskfile(SEC) == [0x01, 0x01, 0x01, 0x14, 0xEB, 0x00, 0x00]
    rig.out(PRI + 2, 0x55)
    rig.out(PRI + 6, 0x10)                            # select the absent slave, then EDD
    rig.out(PRI + 7, 0x90)
    t0 = rig.clock.now
    done = rig.next_event()
    assert done == t0 + cycles(HardDisk.TIMING["diagnostic"])
    assert rig.irq.changes[-1] == (done, 14, True)    # device 0 interrupts
    assert rig.taskfile(PRI) == [0x01, 0x01, 0x01, 0x00, 0x00, 0x00, DRDY | DSC]
    assert rig.ata.channels[0].dev == 0


# ====================================================================== absent devices

def test_empty_channel_floats_with_the_dd7_pull_down(disk):
    rig = Rig(hda=disk)
    assert [rig.inp(SEC + r) for r in range(1, 8)] == [0x7F] * 7
    assert rig.inp(SEC_CTL) == 0x7F
    assert rig.inp(SEC, 2) == 0xFF7F
    rig.out(SEC + 2, 0x55)
    rig.out(SEC + 7, 0xEC)
    assert rig.inp(SEC + 2) == 0x7F and rig.inp(SEC + 7) == 0x7F
    assert not rig.clock.pending()
    rig2 = Rig(empty_bus=0xFF)
    assert rig2.inp(PRI + 7) == 0xFF and rig2.inp(PRI, 2) == 0xFFFF


def test_absent_slave_floats_by_default(disk):
    rig = Rig(hda=disk)
    rig.out(PRI + 2, 0x55)
    rig.out(PRI + 6, 0xB0)                            # select device 1
    assert [rig.inp(PRI + r) for r in range(1, 8)] == [0x7F] * 7
    assert rig.inp(PRI_CTL) == 0x7F and rig.inp(PRI, 2) == 0xFF7F
    rig.out(PRI + 7, 0xEC)                            # goes nowhere
    assert not rig.clock.pending()
    rig.out(PRI + 6, 0xA0)                            # device 0 latched the writes too
    assert rig.inp(PRI + 7) == DRDY | DSC and rig.inp(PRI + 2) == 0x55
    w = identify_words(rig.identify())
    assert not w[93] & 0x0040                         # does not answer for device 1
    # An absent device 0: device 1 never answers for it.
    rig2 = Rig(hdb=disk)
    assert rig2.inp(PRI + 7) == 0x7F and rig2.inp(PRI + 2) == 0x7F
    rig2.out(PRI + 6, 0x10)
    assert rig2.inp(PRI + 7) == DRDY | DSC


def test_device0_answers_for_an_absent_device1_on_request(disk):
    rig = Rig(hda=disk, device0_answers=True)
    rig.out(PRI + 6, 0xB0)                            # select device 1
    assert rig.inp(PRI + 7) == 0x00 and rig.inp(PRI_CTL) == 0x00
    # Register writes reach device 0, and device 0 answers the reads.
    rig.out(PRI + 2, 0x55)
    rig.out(PRI + 3, 0xAA)
    assert (rig.inp(PRI + 2), rig.inp(PRI + 3)) == (0x55, 0xAA)
    assert rig.inp(PRI + 6) == 0xB0
    rig.out(PRI + 7, 0xEC)                            # ignored
    assert rig.inp(PRI + 7) == 0x00 and not rig.clock.pending()
    rig.out(PRI + 6, 0xA0)
    assert rig.inp(PRI + 7) == DRDY | DSC
    w = identify_words(rig.identify())
    assert w[93] & 0xDF61 == 0x4041                   # "device 0 responds for device 1"


def bios_style_detect(rig, base, ctl, slave):
    """The detection a PC BIOS runs: a register pattern, a soft reset, the signature."""
    dh = 0xB0 if slave else 0xA0
    rig.out(ctl, 0x0A)                                # nIEN
    rig.out(base + 6, dh)
    for sc, sn in ((0x55, 0xAA), (0xAA, 0x55), (0x55, 0xAA)):
        rig.out(base + 2, sc)
        rig.out(base + 3, sn)
    if (rig.inp(base + 2), rig.inp(base + 3), rig.inp(base + 6)) != (0x55, 0xAA, dh):
        return "none"
    rig.out(ctl, 0x0E)                                # SRST (a BIOS waits to see BSY,
    rig.inp(base + 7)                                 # in vain for status 00h)
    rig.out(ctl, 0x0A)
    rig.advance(cycles(2_000_000))                    # 2 ms, then wait for BSY clear
    rig.wait_not_busy(base, ctl)
    rig.out(base + 6, dh)
    if (rig.inp(base + 2), rig.inp(base + 3)) != (1, 1):
        return "unknown"
    cl, ch, st = rig.inp(base + 4), rig.inp(base + 5), rig.inp(base + 7)
    if (cl, ch) == (0x14, 0xEB):
        return "atapi"
    if (cl, ch) == (0, 0) and st != 0:
        return "ata"
    return "unknown"


def test_bios_style_detection_finds_exactly_the_drives(disk, tmp_path):
    iso = tmp_path / "cd.iso"
    iso.write_bytes(bytes(2048 * 20))
    rig = Rig(hda=disk, cdrom=iso)
    found = [bios_style_detect(rig, base, ctl, slave)
             for base, ctl in ((PRI, PRI_CTL), (SEC, SEC_CTL)) for slave in (0, 1)]
    assert found == ["ata", "none", "atapi", "none"]
    # Under ATA-6's device-0-only rule the same BIOS logic sees device 0's signature for
    # device 1: with status 00h it cannot pass for a disk, but behind a CD-ROM it looks
    # like a second ATAPI device (why the rule is not the default).
    rig = Rig(hda=disk, cdrom=iso, device0_answers=True)
    found = [bios_style_detect(rig, base, ctl, slave)
             for base, ctl in ((PRI, PRI_CTL), (SEC, SEC_CTL)) for slave in (0, 1)]
    assert found == ["ata", "unknown", "atapi", "atapi"]


def test_device_register_reads_back_exactly(disk):
    rig = Rig(hda=disk, hdb=disk)
    for value in (0x10, 0x00, 0xB0, 0xEF):
        rig.out(PRI + 6, value)
        assert rig.inp(PRI + 6) == value


# ====================================================================== port widths

def test_port_widths(disk):
    rig = Rig(hda=disk)
    image = disk.read_bytes()
    rig.lba28(0x20, 3, 1)
    rig.wait_not_busy()
    # An 8-bit IN of the data port moves a whole word and returns its low byte.
    assert rig.inp(PRI, 1) == image[3 * 512]
    assert rig.inp(PRI, 4) == struct.unpack_from("<I", image, 3 * 512 + 2)[0]
    rest = rig.read_data(506)
    assert rest == image[3 * 512 + 6:4 * 512]
    assert rig.inp(PRI, 2) == 0xFFFF                  # no DRQ: nothing on the bus
    # Task file registers are bytes: a word access is two byte cycles.
    rig.out(PRI + 2, 0xBBAA, 2)                       # Sector Count AAh, LBA Low BBh
    assert (rig.inp(PRI + 2), rig.inp(PRI + 3)) == (0xAA, 0xBB)
    assert rig.inp(PRI + 2, 2) == 0xBBAA
    assert rig.inp(PRI + 7, 2) == 0xFF00 | DRDY | DSC  # 1F8h is nobody's


# ====================================================================== snapshots, info

def test_snapshot_mid_transfer_round_trip(disk):
    rig = Rig(hda=disk)
    image = disk.read_bytes()
    rig.lba28(0x20, 100, 3)
    rig.wait_not_busy()
    first = rig.read_data(100)
    state = rig.ata.get_state()
    _check_plain(state)
    rest = rig.read_data(412)
    rig.wait_not_busy()
    second = rig.read_data(512)
    # Back to the snapshot: the same bytes come again, at the same times.
    rig.ata.set_state(state)
    assert rig.read_data(412) == rest
    assert rig.inp(PRI_CTL) & BSY
    rig.wait_not_busy()
    assert rig.read_data(512) == second == image[101 * 512:102 * 512]
    assert first + rest == image[100 * 512:101 * 512]


def _check_plain(value):
    if isinstance(value, dict):
        for k, v in value.items():
            assert isinstance(k, (str, int))
            _check_plain(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _check_plain(v)
    else:
        assert value is None or isinstance(value, (int, str, bytes, bool)), type(value)


def test_info_names_the_drives(disk, tmp_path):
    iso = tmp_path / "cd.iso"
    iso.write_bytes(bytes(2048 * 20))
    rig = Rig(hda=disk, cdrom=iso)
    text = rig.ata.machine.device("ata").info()
    assert "primary channel" in text and "IRQ14" in text and "IRQ15" in text
    assert "disk.img" in text and "40/16/63" in text
    assert "ATAPI CD-ROM" in text and "cd.iso" in text
    assert "slave: none" in text


def test_status_read_does_not_allocate(disk):
    rig = Rig(hda=disk)
    read = rig.m.bus.port_read
    for _ in range(1000):
        read(PRI + 7, 1)
    before = sys.getallocatedblocks()
    for _ in range(20000):
        read(PRI + 7, 1)
    assert sys.getallocatedblocks() - before < 50


# ====================================================================== ATAPI

def make_iso(path, sectors=64, boot_image=None):
    """An image of 2048-byte sectors, each starting with its number, with an ISO 9660
    volume descriptor set and an El Torito boot record and catalog when asked."""
    data = bytearray()
    for s in range(sectors):
        data += struct.pack("<I", s) + bytes(((s * 5 + i) & 0xFF) for i in range(2044))
    if boot_image is not None:
        catalog, image_lba = 20, 21
        pvd = bytearray(2048)
        pvd[0:7] = b"\x01CD001\x01"
        data[16 * 2048:17 * 2048] = pvd
        brvd = bytearray(2048)
        brvd[0:7] = b"\x00CD001\x01"
        brvd[7:7 + 23] = b"EL TORITO SPECIFICATION"
        brvd[0x47:0x4B] = struct.pack("<I", catalog)
        data[17 * 2048:18 * 2048] = brvd
        term = bytearray(2048)
        term[0:7] = b"\xFFCD001\x01"
        data[18 * 2048:19 * 2048] = term
        validation = bytearray(32)
        validation[0] = 1                                # header ID
        validation[4:4 + 7] = b"cycle86"
        validation[0x1E:0x20] = b"\x55\xAA"
        checksum = (-sum(struct.unpack("<16H", bytes(validation)))) & 0xFFFF
        validation[0x1C:0x1E] = struct.pack("<H", checksum)
        count = (len(boot_image) + 511) // 512
        initial = bytearray(32)
        initial[0] = 0x88                                 # bootable
        initial[1] = 0                                    # no emulation
        initial[2:4] = struct.pack("<H", 0)               # load segment 0: 07C0h
        initial[6:8] = struct.pack("<H", count)           # virtual 512-byte sectors
        initial[8:12] = struct.pack("<I", image_lba)
        data[catalog * 2048:catalog * 2048 + 64] = validation + initial
        padded = boot_image.ljust(-(-len(boot_image) // 2048) * 2048, b"\0")
        data[image_lba * 2048:image_lba * 2048 + len(padded)] = padded
    path.write_bytes(bytes(data))
    return bytes(data)


class Atapi:
    """The packet protocol from Python, checking each phase as ATA-6 describes it."""

    def __init__(self, rig, base=SEC, ctl=SEC_CTL, line=15):
        self.rig, self.base, self.ctl, self.line = rig, base, ctl, line
        self.phases = []

    def command(self, cdb, limit=0x800, check_irqs=True):
        rig, base = self.rig, self.base
        cdb = bytes(cdb).ljust(12, b"\0")
        rig.out(base + 1, 0)                              # PIO
        rig.out(base + 4, limit & 0xFF)
        rig.out(base + 5, limit >> 8)
        rig.out(base + 7, 0xA0)
        status = rig.wait_not_busy(base, self.ctl)
        assert status & DRQ and not status & ERR, hex(status)
        assert rig.inp(base + 2) & 3 == IR_COD           # command packet expected
        rises = len(rig.irq.rises(self.line))
        rig.write_data(cdb, base)
        assert rig.inp(self.ctl) & BSY
        data = b""
        self.phases = []
        while True:
            status = rig.wait_not_busy(base, self.ctl)
            reason = rig.inp(base + 2) & 3
            if not status & DRQ:
                break
            assert reason == IR_IO, reason                # data to the host
            count = rig.inp(base + 4) | rig.inp(base + 5) << 8
            self.phases.append(count)
            rig.inp(base + 7)
            data += rig.read_data(count, base)[:count]
        assert reason == IR_IO | IR_COD                   # status phase
        self.status = rig.inp(base + 7)
        self.error = rig.inp(base + 1)
        if check_irqs:
            assert len(rig.irq.rises(self.line)) - rises == len(self.phases) + 1
        return data

    def ok(self, cdb, **kw):
        data = self.command(cdb, **kw)
        assert self.status == DRDY, (hex(self.status), hex(self.error), self.sense())
        return data

    def sense(self):
        raw = self.command([0x03, 0, 0, 0, 18, 0])
        return raw[2] & 0x0F, raw[12], raw[13]

    def ready(self):
        """What a BIOS does first: TEST UNIT READY until the power-on attention is gone."""
        self.command([0x00])
        assert self.status & ERR and self.error >> 4 == 0x6
        assert self.sense() == (0x6, 0x29, 0x00)
        self.ok([0x00])


def read10(lba, count):
    return [0x28, 0] + list(struct.pack(">I", lba)) + [0] + list(struct.pack(">H", count))


@pytest.fixture
def cd(tmp_path):
    path = tmp_path / "cd.iso"
    data = make_iso(path, sectors=64)
    rig = Rig(cdrom=path)
    return rig, Atapi(rig), data


def test_identify_packet_device_and_identify_device_abort(cd):
    rig, atapi, _ = cd
    rig.out(SEC + 7, 0xEC)                                 # IDENTIFY DEVICE
    status = rig.wait_not_busy(SEC, SEC_CTL)
    assert status & ERR and rig.inp(SEC + 1) == ABRT
    assert [rig.inp(SEC + r) for r in (2, 3, 4, 5)] == [0x01, 0x01, 0x14, 0xEB]
    data = rig.identify(SEC, SEC_CTL, command=0xA1)
    w = identify_words(data)
    assert w[0] >> 14 == 0b10                              # ATAPI
    assert (w[0] >> 8) & 0x1F == 0x05                      # CD-ROM
    assert w[0] & 0x80                                     # removable
    assert (w[0] >> 5) & 3 == 0b10 and w[0] & 3 == 0       # 50 us DRQ, 12-byte packets
    assert ata_text(data, 27, 20).rstrip() == "CYCLE86 ATAPI CD-ROM"
    assert w[49] & (1 << 9)
    assert w[82] & (1 << 4)                                # PACKET feature set
    assert w[255] & 0xFF == 0xA5 and sum(data) % 256 == 0
    assert rig.inp(SEC + 7) == DRDY


def test_atapi_read10_packet_protocol(cd):
    rig, atapi, iso = cd
    atapi.ready()
    t = CDROM.TIMING
    t0 = rig.clock.now
    rig.out(SEC + 4, 0x00)
    rig.out(SEC + 5, 0x08)                                # byte count limit 2048
    rig.out(SEC + 7, 0xA0)
    assert rig.inp(SEC_CTL) == BSY | DRDY
    assert rig.next_event() == t0 + cycles(t["packet"])
    assert rig.inp(SEC_CTL) == DRDY | DRQ
    assert rig.inp(SEC + 2) == IR_COD
    assert rig.irq.rises(15)[-1] < rig.clock.now      # no interrupt for the packet phase
    rig.write_data(bytes(read10(17, 2)).ljust(12, b"\0"), SEC)
    t1 = rig.clock.now
    # Head at 0 after the power-on: an access of 17 sectors' distance, then one sector.
    access = cycles(t["seek_min"]) + (cycles(t["seek_full"]) - cycles(t["seek_min"])) * 17 \
        // (74 * 60 * 75)
    first = t1 + cycles(t["command"]) + access + cycles(t["sector"])
    assert rig.next_event() == first
    assert rig.inp(SEC_CTL) == DRDY | DRQ
    assert rig.inp(SEC + 2) == IR_IO
    assert rig.inp(SEC + 4) | rig.inp(SEC + 5) << 8 == 2048
    assert rig.irq.changes[-1] == (first, 15, True)
    assert rig.inp(SEC + 7) == DRDY | DRQ               # acknowledge
    assert rig.read_data(2048, SEC) == iso[17 * 2048:18 * 2048]
    assert rig.next_event() == first + cycles(t["sector"])
    assert rig.irq.changes[-1] == (first + cycles(t["sector"]), 15, True)
    assert rig.inp(SEC + 7) == DRDY | DRQ
    assert rig.read_data(2048, SEC) == iso[18 * 2048:19 * 2048]
    last = rig.next_event()
    assert last == first + cycles(t["sector"]) + cycles(t["block"])
    assert rig.inp(SEC + 2) == IR_IO | IR_COD
    assert rig.inp(SEC + 7) == DRDY
    assert rig.irq.changes[-2] == (last, 15, True)


def test_atapi_byte_count_limit_shapes_the_drq_blocks(cd):
    rig, atapi, iso = cd
    atapi.ready()
    assert atapi.ok(read10(5, 3), limit=0xFFFE) == iso[5 * 2048:8 * 2048]
    assert atapi.phases == [6144]                          # whole sectors in one block
    assert atapi.ok(read10(5, 3), limit=0x1000) == iso[5 * 2048:8 * 2048]
    assert atapi.phases == [4096, 2048]
    assert atapi.ok(read10(9, 1), limit=1000) == iso[9 * 2048:10 * 2048]
    assert atapi.phases == [1000, 1000, 48]                # smaller than a sector
    assert atapi.ok(read10(9, 1), limit=0) == iso[9 * 2048:10 * 2048]   # 0: FFFEh
    assert atapi.ok([0xA8, 0, 0, 0, 0, 30, 0, 0, 0, 2]) == iso[30 * 2048:32 * 2048]  # READ(12)
    assert atapi.ok(read10(0, 0)) == b""                   # nothing to transfer
    assert atapi.phases == []


def test_atapi_unit_attention_and_sense(cd):
    rig, atapi, _ = cd
    inquiry = atapi.ok([0x12, 0, 0, 0, 36, 0])             # INQUIRY passes the attention
    assert inquiry[0] == 0x05 and inquiry[1] & 0x80 and inquiry[4] == 31
    assert inquiry[8:16] == b"CYCLE86 " and inquiry[16:32] == b"CD-ROM".ljust(16)
    atapi.command(read10(0, 1))
    assert atapi.status == DRDY | ERR and atapi.error == 0x60     # UNIT ATTENTION
    assert atapi.sense() == (0x6, 0x29, 0x00)
    assert atapi.sense() == (0x0, 0x00, 0x00)              # REQUEST SENSE clears it
    atapi.ok([0x00])


def test_atapi_read_capacity_toc_and_errors(cd):
    rig, atapi, iso = cd
    atapi.ready()
    assert atapi.ok([0x25]) == struct.pack(">II", 63, 2048)
    toc = atapi.ok([0x43, 0, 0, 0, 0, 0, 0, 0, 100, 0])
    assert toc == bytes((0, 18, 1, 1, 0, 0x14, 1, 0, 0, 0, 0, 0,
                         0, 0x14, 0xAA, 0, 0, 0, 0, 64))
    msf = atapi.ok([0x43, 0x02, 0, 0, 0, 0, 0, 0, 100, 0])
    assert msf[8:12] == bytes((0, 0, 2, 0))                # LBA 0 = 00:02:00
    assert msf[16:20] == bytes((0, 0, 2, 64))              # lead-out 64 = 00:02:64
    leadout_only = atapi.ok([0x43, 0, 0, 0, 0, 0, 0xAA, 0, 100, 0])
    assert leadout_only[:4] == bytes((0, 10, 1, 1)) and leadout_only[6] == 0xAA
    session = atapi.ok([0x43, 0, 1, 0, 0, 0, 0, 0, 12, 0])
    assert session == bytes((0, 10, 1, 1, 0, 0x14, 1, 0, 0, 0, 0, 0))
    assert atapi.ok([0x43, 0, 0, 0, 0, 0, 0, 0, 4, 0]) == bytes((0, 18, 1, 1))  # allocation
    # Errors leave sense data.
    atapi.command(read10(63, 2))
    assert atapi.status & ERR and atapi.error >> 4 == 0x5
    assert atapi.sense() == (0x5, 0x21, 0x00)              # LBA out of range
    atapi.command([0xFF])
    assert atapi.sense() == (0x5, 0x20, 0x00)              # invalid operation code
    atapi.command([0x43, 0, 0, 0, 0, 0, 5, 0, 100, 0])
    assert atapi.sense() == (0x5, 0x24, 0x00)              # no track 5
    atapi.command([0x5A, 0, 0x3F | 0xC0, 0, 0, 0, 0, 0, 255, 0])
    assert atapi.sense() == (0x5, 0x39, 0x00)              # saved values


def test_atapi_mode_sense_and_get_configuration(cd):
    rig, atapi, _ = cd
    atapi.ready()
    page = atapi.ok([0x5A, 0, 0x2A, 0, 0, 0, 0, 0, 255, 0])
    assert int.from_bytes(page[0:2], "big") == len(page) - 2
    assert page[2] == 0x01 and page[6:8] == b"\0\0"         # CD-ROM, no block descriptors
    assert page[8] == 0x2A and page[9] == len(page) - 10
    assert page[8 + 6] & 0x08                               # eject supported
    everything = atapi.ok([0x5A, 0, 0x3F, 0, 0, 0, 0, 0, 255, 0])
    assert [everything[8], everything[16], everything[24]] == [0x01, 0x0D, 0x2A]
    config = atapi.ok([0x46, 0, 0, 0, 0, 0, 0, 0, 255, 0])
    assert int.from_bytes(config[0:4], "big") == len(config) - 4
    assert config[6:8] == b"\x00\x08"                       # current profile: CD-ROM
    assert config[8:10] == b"\x00\x00" and config[12:14] == b"\x00\x08"
    one = atapi.ok([0x46, 2, 0, 1, 0, 0, 0, 0, 255, 0])     # RT=2: feature 0001h only
    assert one[8:10] == b"\x00\x01" and len(one) == 8 + 8


def test_atapi_eject_lock_and_no_medium(cd):
    rig, atapi, _ = cd
    atapi.ready()
    atapi.ok([0x1E, 0, 0, 0, 1, 0])                        # PREVENT MEDIUM REMOVAL
    atapi.command([0x1B, 0, 0, 0, 0x02, 0])                # eject: refused
    assert atapi.sense() == (0x5, 0x53, 0x02)
    drive = rig.ata.drive(1, 0)
    assert drive.eject() is False
    atapi.ok([0x1E, 0, 0, 0, 0, 0])
    atapi.ok([0x1B, 0, 0, 0, 0x02, 0])                     # eject
    atapi.command([0x00])
    assert atapi.sense() == (0x2, 0x3A, 0x00)              # medium not present
    atapi.command([0x25])
    assert atapi.sense() == (0x2, 0x3A, 0x00)
    config = atapi.ok([0x46, 0, 0, 0, 0, 0, 0, 0, 255, 0])
    assert config[6:8] == b"\x00\x00"
    atapi.ok([0x1B, 0, 0, 0, 0x03, 0])                     # load: the disc is back
    atapi.command([0x00])
    assert atapi.sense() == (0x6, 0x28, 0x00)
    atapi.ok([0x00])
    # An empty drive.
    rig2 = Rig(cdrom=CDROM(None, unit_attention=False))
    a2 = Atapi(rig2)
    a2.command([0x00])
    assert a2.sense() == (0x2, 0x3A, 0x00)


def test_atapi_device_reset_and_dma_refused(cd):
    rig, atapi, _ = cd
    atapi.ready()
    rig.out(SEC + 1, 0x01)                                 # DMA: not implemented
    rig.out(SEC + 7, 0xA0)
    assert rig.wait_not_busy(SEC, SEC_CTL) & ERR and rig.inp(SEC + 1) == ABRT
    rig.out(SEC + 1, 0)
    rig.out(SEC + 7, 0xA0)                                 # hang in the packet phase
    rig.wait_not_busy(SEC, SEC_CTL)
    rig.out(SEC + 7, 0x08)                                 # DEVICE RESET
    rig.wait_not_busy(SEC, SEC_CTL)
    assert rig.taskfile(SEC) == [0x01, 0x01, 0x01, 0x14, 0xEB, 0x00, 0x00]
    atapi.command([0x00])
    assert atapi.sense() == (0x6, 0x29, 0x00)


def test_atapi_snapshot_round_trip(cd):
    rig, atapi, iso = cd
    atapi.ready()
    rig.out(SEC + 4, 0)
    rig.out(SEC + 5, 0x08)
    rig.out(SEC + 7, 0xA0)
    rig.wait_not_busy(SEC, SEC_CTL)
    rig.write_data(bytes(read10(40, 3)).ljust(12, b"\0"), SEC)
    rig.wait_not_busy(SEC, SEC_CTL)
    state = rig.ata.get_state()
    _check_plain(state)
    a = rig.read_data(2048, SEC)
    rig.ata.set_state(state)
    assert rig.read_data(2048, SEC) == a == iso[40 * 2048:41 * 2048]
    rig.wait_not_busy(SEC, SEC_CTL)
    assert rig.read_data(2048, SEC) == iso[41 * 2048:42 * 2048]


# ====================================================================== guests

DISK_GUEST = r"""
%macro OUTB 2
    mov dx, %1
    mov al, %2
    out dx, al
%endmacro

start:
    cli
    mov ax, cs
    mov ds, ax
    OUTB 0x3F6, 0x00                ; nIEN=0: interrupts go to IRQ14
    mov ax, 0x2000
    mov es, ax

    ; 1. CHS C0/H1/S1, 2 sectors -> 2000:0000
    call wait_bsy
    OUTB 0x1F2, 2
    OUTB 0x1F3, 1
    OUTB 0x1F4, 0
    OUTB 0x1F5, 0
    OUTB 0x1F6, 0xA1
    OUTB 0x1F7, 0x20
    xor di, di
    mov cx, 2
    call read16
    call record

    ; 2. CHS C1/H2/S10 (READ SECTORS without retries) -> 2000:0400
    OUTB 0x1F2, 1
    OUTB 0x1F3, 10
    OUTB 0x1F4, 1
    OUTB 0x1F5, 0
    OUTB 0x1F6, 0xA2
    OUTB 0x1F7, 0x21
    mov di, 0x400
    mov cx, 1
    call read16
    call record

    ; 3. LBA28 0x1234, 3 sectors -> 2000:0600
    OUTB 0x1F2, 3
    OUTB 0x1F3, 0x34
    OUTB 0x1F4, 0x12
    OUTB 0x1F5, 0
    OUTB 0x1F6, 0xE0
    OUTB 0x1F7, 0x20
    mov di, 0x600
    mov cx, 3
    call read16
    call record

    ; 4. LBA48 on the slave: 1000_0123h, 2 sectors -> 2000:0C00
    OUTB 0x1F6, 0x50
    call wait_bsy
    OUTB 0x1F2, 0
    OUTB 0x1F2, 2
    OUTB 0x1F3, 0x10                ; LBA 31:24
    OUTB 0x1F3, 0x23                ; LBA 7:0
    OUTB 0x1F4, 0                   ; LBA 39:32
    OUTB 0x1F4, 0x01                ; LBA 15:8
    OUTB 0x1F5, 0                   ; LBA 47:40
    OUTB 0x1F5, 0                   ; LBA 23:16
    OUTB 0x1F7, 0x24
    mov di, 0xC00
    mov cx, 2
    call read16
    call record

    ; 5. SET MULTIPLE 4 on the master, READ MULTIPLE LBA 500, 6 sectors, 32-bit PIO
    OUTB 0x1F6, 0xE0
    call wait_bsy
    OUTB 0x1F2, 4
    OUTB 0x1F7, 0xC6
    call record
    OUTB 0x1F2, 6
    OUTB 0x1F3, 0xF4
    OUTB 0x1F4, 0x01
    OUTB 0x1F5, 0
    OUTB 0x1F6, 0xE0
    OUTB 0x1F7, 0xC4
    mov di, 0x1000
    mov cx, 6
    call readmult32
    call record

    ; 6. WRITE SECTORS CHS C2/H3/S4 from wbuf
    OUTB 0x1F2, 1
    OUTB 0x1F3, 4
    OUTB 0x1F4, 2
    OUTB 0x1F5, 0
    OUTB 0x1F6, 0xA3
    OUTB 0x1F7, 0x30
    mov si, wbuf
    mov cx, 1
    call write16
    call record

    ; 7. WRITE SECTORS LBA28 3000 (0BB8h), 2 sectors
    OUTB 0x1F2, 2
    OUTB 0x1F3, 0xB8
    OUTB 0x1F4, 0x0B
    OUTB 0x1F5, 0
    OUTB 0x1F6, 0xE0
    OUTB 0x1F7, 0x30
    mov si, wbuf
    mov cx, 2
    call write16
    call record

    ; 8. WRITE SECTORS EXT on the slave: 1000_0200h, 1 sector
    OUTB 0x1F6, 0x50
    call wait_bsy
    OUTB 0x1F2, 0
    OUTB 0x1F2, 1
    OUTB 0x1F3, 0x10
    OUTB 0x1F3, 0x00
    OUTB 0x1F4, 0
    OUTB 0x1F4, 0x02
    OUTB 0x1F5, 0
    OUTB 0x1F5, 0
    OUTB 0x1F7, 0x34
    mov si, wbuf + 512
    mov cx, 1
    call write16
    call record

    ; 9. WRITE MULTIPLE on the master, LBA 4000 (0FA0h), 2 sectors (one block of 2)
    OUTB 0x1F6, 0xE0
    call wait_bsy
    OUTB 0x1F2, 2
    OUTB 0x1F3, 0xA0
    OUTB 0x1F4, 0x0F
    OUTB 0x1F5, 0
    OUTB 0x1F6, 0xE0
    OUTB 0x1F7, 0xC5
    call wait_drq
    jc .wm_fail
    mov si, wbuf
    mov cx, 512
    mov dx, 0x1F0
    rep outsw
.wm_fail:
    call record

    ; 10. read LBA 3000, 2 sectors back -> 4000:0000
    mov ax, 0x4000
    mov es, ax
    OUTB 0x1F2, 2
    OUTB 0x1F3, 0xB8
    OUTB 0x1F4, 0x0B
    OUTB 0x1F5, 0
    OUTB 0x1F6, 0xE0
    OUTB 0x1F7, 0x20
    xor di, di
    mov cx, 2
    call read16
    call record

    ; 11. READ VERIFY LBA 10, 8 sectors
    OUTB 0x1F2, 8
    OUTB 0x1F3, 10
    OUTB 0x1F4, 0
    OUTB 0x1F5, 0
    OUTB 0x1F6, 0xE0
    OUTB 0x1F7, 0x40
    call record

    ; 12. beyond the end: LBA 40960 (A000h)
    OUTB 0x1F2, 1
    OUTB 0x1F3, 0x00
    OUTB 0x1F4, 0xA0
    OUTB 0x1F5, 0
    OUTB 0x1F6, 0xE0
    OUTB 0x1F7, 0x20
    call record

    hlt

wait_bsy:                           ; -> AL = status with BSY clear
    mov dx, 0x1F7
.l: in al, dx
    test al, 0x80
    jnz .l
    ret

wait_drq:                           ; CF=1 unless DRQ without ERR
    call wait_bsy
    test al, 0x01
    jnz .bad
    test al, 0x08
    jz .bad
    clc
    ret
.bad:
    stc
    ret

read16:                             ; CX sectors, one per DRQ block, into ES:DI
.next:
    call wait_drq
    jc .out
    push cx
    mov cx, 256
    mov dx, 0x1F0
    rep insw
    pop cx
    loop .next
.out:
    ret

readmult32:                         ; CX sectors in blocks of 4, REP INSD
.next:
    call wait_drq
    jc .out
    mov bx, 4
    cmp cx, bx
    jae .full
    mov bx, cx
.full:
    sub cx, bx
    push cx
    mov cx, bx
    shl cx, 7                       ; dwords
    mov dx, 0x1F0
    rep insd
    pop cx
    test cx, cx
    jnz .next
.out:
    ret

write16:                            ; CX sectors from DS:SI
.next:
    call wait_drq
    jc .out
    push cx
    mov cx, 256
    mov dx, 0x1F0
    rep outsw
    pop cx
    loop .next
.out:
    ret

record:                             ; status and error of the finished command
    call wait_bsy
    mov bx, [resptr]
    mov [bx], al
    mov dx, 0x1F1
    in al, dx
    mov [bx+1], al
    add word [resptr], 2
    ret

resptr: dw results
results: times 32 db 0xEE

align 16
wbuf:
%assign i 0
%rep 1024
    db (i * 13 + 5) & 0xFF
%assign i i + 1
%endrep
"""


def test_real_mode_guest_reads_and_writes_chs_lba28_lba48(tmp_path):
    master = tmp_path / "master.img"
    image = pattern(40960)
    master.write_bytes(image)
    slave = tmp_path / "slave.img"
    total = (1 << 28) + 4096
    with open(slave, "wb") as f:
        f.truncate(total * 512)
        f.seek(0x10000123 * 512)
        f.write(pattern(2, seed=5))
    # The slave is 128 GiB but sparse: fingerprint it by its metadata and its data.
    def slave_print():
        st = slave.stat()
        with open(slave, "rb") as f:
            f.seek(0x10000100 * 512)
            return st.st_size, st.st_mtime_ns, st.st_blocks, f.read(512 * 0x100)
    sums = (sha(master), slave_print())

    m = Machine("80386", memory=1 << 20)
    irq = IrqRecorder(m.clock)
    m.pic = irq
    hda, hdb = HardDisk(master), HardDisk(slave)
    ATA(m, hda=hda, hdb=hdb)
    code = nasm(DISK_GUEST)
    load(m, code, cs=0x1000)
    assert m.run(max_cycles=200_000_000) == "halt"

    res_off = code.index(bytes([0xEE] * 32))
    results = m.mem.read(0x10000 + res_off, 26)
    statuses = [(results[i], results[i + 1]) for i in range(0, 26, 2)]
    ok = (DRDY | DSC, 0x00)
    assert statuses[:12] == [ok] * 12, statuses
    assert statuses[12] == (DRDY | DSC | ERR, IDNF)

    def sectors(lba, n, img=image):
        return img[lba * 512:(lba + n) * 512]

    mem = m.mem.read
    assert mem(0x20000, 1024) == sectors(63, 2)                       # CHS 0/1/1
    assert mem(0x20400, 512) == sectors((1 * 16 + 2) * 63 + 9, 1)      # CHS 1/2/10
    assert mem(0x20600, 1536) == sectors(0x1234, 3)                    # LBA28
    assert mem(0x20C00, 1024) == pattern(2, seed=5)                    # LBA48, slave
    assert mem(0x21000, 3072) == sectors(500, 6)                       # READ MULTIPLE
    wbuf = bytes(((i * 13 + 5) & 0xFF) for i in range(1024))
    assert mem(0x40000, 1024) == wbuf                                  # written, read back

    # The writes are in the overlays, the image files untouched.
    assert hda.image.read((2 * 16 + 3) * 63 + 3) == wbuf[:512]        # CHS 2/3/4
    assert hda.image.read(3000, 2) == wbuf
    assert hda.image.read(4000, 2) == wbuf
    assert hdb.image.read(0x10000200) == wbuf[512:]
    assert sorted(hda.image.overlay) == [2208, 3000, 3001, 4000, 4001]
    assert sorted(hdb.image.overlay) == [0x10000200]
    hda.image.close()
    hdb.image.close()
    assert (sha(master), slave_print()) == sums

    # One interrupt per DRQ block of data-in, per later block and completion of data-out,
    # at completion of the others.
    expected = 2 + 1 + 3 + 2 + 1 + 2 + 1 + 2 + 1 + 1 + 2 + 1 + 1
    assert len(irq.rises(14)) == expected
    assert m.clock.now > cycles(8 * 4_000_000)       # real seek and rotation times passed


BOOT_GUEST = r"""
%macro OUTB 2
    mov dx, %1
    mov al, %2
    out dx, al
%endmacro

start:
    cli
    mov ax, cs
    mov ds, ax
    mov es, ax
    OUTB 0x376, 0x02                ; nIEN: poll
    OUTB 0x176, 0x00                ; secondary master

    mov bp, 4
.tur:
    mov si, pkt_tur
    call packet
    jnc .ready
    mov si, pkt_sense
    mov di, sense
    call packet
    dec bp
    jnz .tur
    jmp fail

.ready:
    mov ax, 0x5000                  ; the boot record volume descriptor, LBA 17
    mov es, ax
    mov eax, 17
    mov cx, 1
    call read_cd
    jc fail
    cmp dword [es:1], 'CD00'
    jne fail
    mov si, torito
    mov di, 7
    mov cx, 23
    repe cmpsb
    jne fail
    mov eax, [es:0x47]              ; the boot catalog
    mov cx, 1
    call read_cd
    jc fail
    cmp byte [es:0], 1              ; validation entry
    jne fail
    cmp word [es:0x1E], 0xAA55
    jne fail
    xor ax, ax
    xor bx, bx
    mov cx, 16
.sum:
    add ax, [es:bx]
    add bx, 2
    loop .sum
    test ax, ax
    jnz fail
    cmp byte [es:0x20], 0x88        ; the initial entry: bootable
    jne fail
    mov ax, [es:0x22]               ; load segment (0: 07C0h)
    test ax, ax
    jnz .seg
    mov ax, 0x07C0
.seg:
    mov cx, [es:0x26]               ; 512-byte sectors
    add cx, 3
    shr cx, 2                       ; CD sectors
    mov eax, [es:0x28]
    push word 0x07C0
    pop es
    call read_cd
    jc fail
    jmp 0x0000:0x7C00

fail:
    mov si, failmsg
    mov dx, 0xE9
.l: lodsb
    test al, al
    jz .h
    out dx, al
    jmp .l
.h: hlt

read_cd:                            ; EAX = LBA, CX = sectors, into ES:0
    mov [pkt_read + 5], al
    mov [pkt_read + 4], ah
    shr eax, 16
    mov [pkt_read + 3], al
    mov [pkt_read + 2], ah
    mov [pkt_read + 8], cl
    mov [pkt_read + 7], ch
    mov si, pkt_read
    xor di, di
    ; fall through

packet:                             ; DS:SI = 12-byte packet, ES:DI = data buffer
    call wait_bsy
    OUTB 0x171, 0
    OUTB 0x174, 0x00
    OUTB 0x175, 0x08                ; byte count limit 2048
    OUTB 0x177, 0xA0
    call wait_bsy
    test al, 0x08
    jz .fail
    mov cx, 6
    mov dx, 0x170
    rep outsw
.data:
    call wait_bsy
    test al, 0x01
    jnz .fail
    test al, 0x08
    jz .ok
    mov dx, 0x174
    in al, dx
    mov cl, al
    inc dx
    in al, dx
    mov ch, al
    inc cx
    shr cx, 1
    mov dx, 0x170
    rep insw
    jmp .data
.ok:
    clc
    ret
.fail:
    stc
    ret

wait_bsy:
    mov dx, 0x177
.l: in al, dx
    test al, 0x80
    jnz .l
    ret

pkt_tur:   db 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
pkt_sense: db 0x03, 0, 0, 0, 18, 0, 0, 0, 0, 0, 0, 0
pkt_read:  db 0x28, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
torito:    db "EL TORITO SPECIFICATION"
failmsg:   db "boot failed", 10, 0
sense:     times 18 db 0
"""

BOOT_IMAGE = r"""
    mov ax, 0x07C0
    mov ds, ax
    mov si, msg
    mov dx, 0xE9
.l: lodsb
    test al, al
    jz .done
    out dx, al
    jmp .l
.done:
    cli
    hlt
msg: db "El Torito boot OK", 10, 0
times 2500 - ($ - $$) db 0x90       ; two CD sectors' worth (5 virtual sectors)
"""


def test_real_mode_guest_boots_an_el_torito_image_over_atapi(tmp_path):
    iso = tmp_path / "boot.iso"
    boot = nasm(BOOT_IMAGE)
    make_iso(iso, sectors=64, boot_image=boot)
    before = sha(iso)
    m = Machine("80386", memory=1 << 20)
    port = DebugPort(m)
    ATA(m, cdrom=iso)
    load(m, nasm(BOOT_GUEST), cs=0x1000)
    assert m.run(max_cycles=300_000_000) == "halt"
    assert port.text == "El Torito boot OK\n"
    assert m.mem.read(0x7C00, len(boot)) == boot
    # Three accesses away from the head (17, the catalog at 20, the image at 21 are near,
    # but the first one pays the shortest access at least).
    assert m.clock.now > cycles(CDROM.TIMING["seek_min"])
    assert sha(iso) == before
