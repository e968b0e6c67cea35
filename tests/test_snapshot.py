"""Machine snapshots (core/snapshot.py, docs/snapshots.md): a snapshot restored into the
same machine or into a fresh one built from the same configuration runs on exactly as the
saved machine did: the same instruction trace, the same cycle counts, the same final state
of the CPU, RAM and every device.  Devices are caught in the middle of their work (a
floppy DMA transfer, a UART FIFO draining, the PIT in mode 3, an ATA READ MULTIPLE).  Bad
files are refused with a message naming the file and the problem."""
import hashlib
import struct

import pytest

from core import snapshot
from core.machine import Machine
from peripherals.ata import ATA, BSY, DRQ
from peripherals.pic import PIC
from peripherals.pit import PIT
from peripherals.uart import UART
from tests.test_ata import PortIO
from tests.test_boot import build, require_firmware


def traced(pc, cycles):
    """Run `cycles` recording the trace; (trace digest, cycle, icount, full state)."""
    m = pc.machine
    chunks = []
    m.cpu.trace_start()
    pc.run(max_cycles=cycles, after_slice=lambda: chunks.append(m.cpu.trace_take()))
    m.cpu.trace_stop()
    chunks.append(m.cpu.trace_take())
    return (hashlib.sha256(b"".join(chunks)).hexdigest(), m.clock.now, m.cpu.icount,
            full_state(pc))


def full_state(target):
    st = snapshot.capture(target)
    return st.decoded(), st.pages


def test_save_run_load_run_gives_the_same_trace_and_state(tmp_path):
    """SeaBIOS POSTing with a floppy: snapshot after 6 M cycles, run 12 M cycles traced;
    restore (into the same machine, and from the file into a freshly built one) and run
    the 12 M again: the traces and the final states are identical, and equal to a run
    that never took a snapshot."""
    require_firmware("seabios")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    pc = build(tmp_path / "a", "seabios", "floppy")
    pc.run(max_cycles=6_000_000)
    state = snapshot.capture(pc)
    path = tmp_path / "post.c86snap"
    snapshot.save(pc, str(path), state=state, description="SeaBIOS POST")
    first = traced(pc, 12_000_000)
    assert first[2] > state.icount + 1_000_000       # it really ran

    snapshot.restore(pc, state)
    assert full_state(pc) == (state.decoded(), state.pages)
    again = traced(pc, 12_000_000)
    assert again == first

    fresh = build(tmp_path / "a", "seabios", "floppy")
    snapshot.restore(fresh, snapshot.load(str(path)))
    assert traced(fresh, 12_000_000) == first

    untouched = build(tmp_path / "a", "seabios", "floppy")
    untouched.run(max_cycles=6_000_000)
    assert traced(untouched, 12_000_000) == first
    meta = snapshot.read_meta(str(path))
    assert meta["cycle"] == state.cycle and meta["description"] == "SeaBIOS POST"


def test_floppy_dma_transfer_round_trips(tmp_path):
    """SeaBIOS reading the boot sector: the snapshot is taken while the 82077AA is in
    the execution phase of its READ DATA, moving bytes by DMA channel 2."""
    require_firmware("seabios")
    (tmp_path / "a").mkdir()
    pc = build(tmp_path / "a", "seabios", "floppy")
    fdc = pc.chips["fdc"]
    while fdc.op is None:
        assert pc.machine.run(max_cycles=2_000) == "budget"
    pc.machine.run(max_cycles=20_000)                  # a few bytes into the sector
    assert fdc.op is not None and fdc.op.get_state(pc.machine.clock.now)
    state = snapshot.capture(pc)
    first = traced(pc, 3_000_000)
    fresh = build(tmp_path / "a", "seabios", "floppy")
    snapshot.restore(fresh, state)
    assert traced(fresh, 3_000_000) == first


class Rig(PortIO):
    """A bare Machine with an 8259A pair, 8254, 16550A and ATA adapter, driven by port
    I/O from Python with time moved by hand."""

    def __init__(self, disk):
        self.m = Machine("80386", memory=1 << 20)
        self.pic = PIC(self.m)
        self.pit = PIT(self.m)
        self.uart = UART(self.m, com=1)
        self.ata = ATA(self.m, hda=disk)
        self.clock = self.m.clock


@pytest.fixture
def disk(tmp_path):
    path = tmp_path / "disk.img"
    path.write_bytes(bytes((i * 7 + (i >> 9)) & 0xFF for i in range(2048 * 512)))
    return path


def round_trip(disk, tmp_path, start, finish):
    """start(rig) brings the devices mid-operation; finish(rig) returns what the guest
    would see from then on.  The same from a snapshot file restored into a fresh rig."""
    a = Rig(disk)
    start(a)
    path = tmp_path / "mid.c86snap"
    snapshot.save(a.m, str(path))
    seen = finish(a)
    b = Rig(disk)
    snapshot.restore(b.m, snapshot.load(str(path)))
    assert finish(b) == seen
    assert full_state(b.m) == full_state(a.m)
    return seen


def test_uart_fifo_round_trips(disk, tmp_path):
    """16550A in loopback with the FIFOs on: ten bytes written, two of them shifted out
    and received when the snapshot is taken; the rest arrive at the same cycles after."""
    base = 0x3F8

    def start(r):
        r.out(base + 3, 0x80)
        r.out(base + 0, 12)                        # 9600 baud
        r.out(base + 1, 0)
        r.out(base + 3, 0x03)                      # 8N1
        r.out(base + 2, 0x07)                      # FIFOs on, cleared
        r.out(base + 4, 0x10)                      # loopback
        for b in b"0123456789":
            r.out(base, b)
        r.advance(r.clock.frequency * 25 // 10_000)   # 2.5 character times
        assert r.uart.get_state()["rxq"] and r.uart.get_state()["txq"]

    def finish(r):
        got = []
        for _ in range(40):
            r.advance(r.clock.frequency // 5_000)
            while r.inp(base + 5) & 1:
                got.append((r.clock.now, r.inp(base)))
        return got

    seen = round_trip(disk, tmp_path, start, finish)
    assert bytes(b for _, b in seen) == b"0123456789"[len(b"0123456789") - len(seen):]


def test_pit_mode_3_round_trips(disk, tmp_path):
    """Counter 0 in mode 3 (square wave) and counter 2 in mode 3 with its gate on:
    latched counts and IRQ0 edges after the restore are those of the saved run."""

    def start(r):
        r.out(0x43, 0x36)
        r.out(0x40, 0x9B)
        r.out(0x40, 0x2E)                          # 11931: 100 Hz
        r.out(0x61, 0x01)
        r.out(0x43, 0xB6)
        r.out(0x42, 0x34)
        r.out(0x42, 0x12)
        r.advance(123_457)

    def finish(r):
        seen = []
        for _ in range(50):
            r.advance(77_777)
            r.out(0x43, 0x00)
            lo, hi = r.inp(0x40), r.inp(0x40)
            r.out(0x43, 0x80)
            lo2, hi2 = r.inp(0x42), r.inp(0x42)
            seen.append((r.clock.now, lo | hi << 8, lo2 | hi2 << 8, r.inp(0x61) & 0x20,
                         r.pic.master.irr))
        return seen

    round_trip(disk, tmp_path, start, finish)


def test_ata_read_multiple_round_trips(disk, tmp_path):
    """READ MULTIPLE of 10 sectors in blocks of 4, snapshot taken with the second block
    half read: the rest of the data, the status and the timing are the same after."""
    pri, ctl = 0x1F0, 0x3F6

    def wait(r):
        while r.inp(ctl) & BSY:
            r.clock.now = r.clock.next_deadline
            r.clock.run_due()

    def start(r):
        r.out(pri + 2, 4)
        r.out(pri + 7, 0xC6)                       # SET MULTIPLE MODE: 4
        wait(r)
        r.inp(pri + 7)
        r.out(pri + 2, 10)
        r.out(pri + 3, 77)
        r.out(pri + 4, 0)
        r.out(pri + 5, 0)
        r.out(pri + 6, 0xE0)
        r.out(pri + 7, 0xC4)                       # READ MULTIPLE, LBA 77
        wait(r)
        for _ in range(4 * 256):
            r.inp(pri, 2)
        wait(r)
        for _ in range(300):
            r.inp(pri, 2)
        assert r.inp(ctl) & DRQ

    def finish(r):
        data, status = [], []
        while len(data) < (10 * 512 - 4 * 512 - 600) // 2:
            wait(r)
            status.append((r.clock.now, r.inp(pri + 7)))
            while r.inp(ctl) & DRQ:
                data.append(r.inp(pri, 2))
        return data, status

    data, _ = round_trip(disk, tmp_path, start, finish)
    image = disk.read_bytes()
    assert struct.pack("<%dH" % len(data), *data) == image[77 * 512 + 4 * 512 + 600:87 * 512]


# ------------------------------------------------------------ bad files

@pytest.fixture
def saved(tmp_path, disk):
    r = Rig(disk)
    r.advance(1000)
    path = tmp_path / "good.c86snap"
    snapshot.save(r.m, str(path))
    return path


def test_truncated_file_is_refused(saved):
    data = saved.read_bytes()
    for cut in (5, 30, len(data) // 2, len(data) - 1):
        saved.write_bytes(data[:cut])
        with pytest.raises(snapshot.SnapshotError) as e:
            snapshot.load(str(saved))
        assert str(saved) in str(e.value) and "truncated" in str(e.value)


def test_corrupted_file_is_refused(saved):
    data = bytearray(saved.read_bytes())
    data[len(data) // 2] ^= 0x40
    saved.write_bytes(bytes(data))
    with pytest.raises(snapshot.SnapshotError) as e:
        snapshot.load(str(saved))
    assert str(saved) in str(e.value) and "corrupted" in str(e.value)


def test_wrong_version_and_not_a_snapshot_are_refused(saved, tmp_path):
    data = bytearray(saved.read_bytes())
    data[8:12] = struct.pack("<I", snapshot.VERSION + 1)
    saved.write_bytes(bytes(data))
    with pytest.raises(snapshot.SnapshotError) as e:
        snapshot.load(str(saved))
    assert str(saved) in str(e.value) and "version %d" % (snapshot.VERSION + 1) in str(e.value)
    other = tmp_path / "other.bin"
    other.write_bytes(b"hello world, not a snapshot at all")
    with pytest.raises(snapshot.SnapshotError, match="not a cycle86 snapshot"):
        snapshot.load(str(other))


def test_snapshot_of_another_machine_is_refused(saved, tmp_path):
    m = Machine("80486", memory=1 << 20)
    with pytest.raises(snapshot.SnapshotError, match="another machine"):
        snapshot.restore(m, snapshot.load(str(saved)), str(saved))


def test_codec_round_trips_plain_data():
    value = {"a": [1, -2, 1 << 90, -(1 << 70)], 3: (b"\0\xff", bytearray(b"x")), None: 1.5,
             "n": None, "t": True, "f": False, "s": "\u00e9"}
    assert snapshot.decode(snapshot.encode(value)) == value
    with pytest.raises(TypeError, match="state"):
        snapshot.encode({"x": object()})


def test_restoring_rewrites_a_named_machines_overlay_journal(tmp_path):
    """A disk with an overlay journal (a named machine's): restoring a snapshot taken
    before a write leaves the journal holding only what the restored overlay holds."""
    from peripherals.diskimage import DiskImage
    image = tmp_path / "d.img"
    image.write_bytes(bytes(512 * 8))
    journal = tmp_path / "d.overlay"
    disk = DiskImage(str(image), overlay_file=str(journal))
    disk.write(1, b"\x11" * 512)
    before = disk.get_state()
    disk.write(2, b"\x22" * 512)
    disk.set_state(before)
    disk.close()
    again = DiskImage(str(image), overlay_file=str(journal))
    assert again.read(1) == b"\x11" * 512 and again.read(2) == bytes(512)
    again.close()
    assert image.read_bytes() == bytes(512 * 8)


def test_cycle86_run_snapshot_at_and_resume(tmp_path, capsys):
    """`cycle86 run --snapshot-at` saves the demo guest on the way; `--snapshot` resumes
    it and prints the rest of what the guest prints, with the same exit status; machine
    options with --snapshot and a damaged file are errors naming the problem."""
    from core import bench, cli
    rom = str(bench.DEMO_ROM)
    path = tmp_path / "demo.c86snap"
    full = cli.main(["run", "--machine", "isapc", "--cpu", "80386", "--bios", rom])
    whole = capsys.readouterr().out
    status = cli.main(["run", "--machine", "isapc", "--cpu", "80386", "--bios", rom,
                       "--snapshot-at", "400K", str(path)])
    out, err = capsys.readouterr()
    assert status == full and out == whole and "saved the machine at cycle" in err
    status = cli.main(["run", "--snapshot", str(path)])
    rest, err = capsys.readouterr()
    assert status == full and rest and whole.endswith(rest) and rest != whole
    assert cli.main(["run", "--snapshot", str(path), "--memory", "8M"]) == 2
    assert "--memory cannot change it" in capsys.readouterr().err
    path.write_bytes(path.read_bytes()[:100])
    assert cli.main(["run", "--snapshot", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "truncated" in err
