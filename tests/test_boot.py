"""Boot tests with the real firmware from Debian's packages (bochsbios, vgabios, seabios;
.ci/run installs them): each BIOS POSTs on its machine type and boots a NASM boot sector
from a floppy, a hard disk and (BIOS-bochs-latest, SeaBIOS) an El Torito CD-ROM.  The boot
sector prints one line through int 10h and on port 0xE9, then exits through
isa-debug-exit; the test checks the 0xE9 text, the VGA text screen and the exit status.

These are the integration tests of the platform: they need every chip of the PC (PIC,
PIT, RTC/CMOS, i8042, DMA, FDC, ATA/ATAPI, VGA) and fail while one is missing.
"""
import hashlib
import os
import time

import pytest

from core import pc as pcmod
from tests import boot

# Guest cycles allowed from reset to the boot sector's exit: several seconds of guest time
# on every model here; a healthy POST needs a fraction of it.
MAX_CYCLES = 1_500_000_000

FIRMWARE = {
    "bochs-legacy": ("isapc", pcmod.FIRMWARE_NAMES["bochs-legacy"]),
    "bochs-latest": ("pc", pcmod.FIRMWARE_NAMES["bochs-latest"]),
    "seabios": ("pc", pcmod.FIRMWARE_NAMES["seabios"]),
}
CASES = [
    ("bochs-legacy", "floppy"), ("bochs-legacy", "disk"),
    ("bochs-latest", "floppy"), ("bochs-latest", "disk"), ("bochs-latest", "cdrom"),
    ("seabios", "floppy"), ("seabios", "disk"), ("seabios", "cdrom"),
]
EXPECTED_DRIVE = {"floppy": "00", "disk": "80"}


def require_firmware(name):
    _, path = FIRMWARE[name]
    vga = [p for p in pcmod.VGABIOS_NAMES.values() if p.is_file()]
    if path.is_file() and vga:
        return path
    if os.environ.get("CYCLE86_REQUIRE_SHARED") == "1":
        pytest.fail("%s or a VGA BIOS is missing (apt-get install bochsbios vgabios seabios)"
                    % path)
    pytest.skip("%s is not installed" % path)


def media(tmp_path, medium):
    sector = boot.boot_sector()
    if medium == "floppy":
        path, data, key = tmp_path / "boot.img", boot.floppy_image(sector), "fda"
    elif medium == "disk":
        path, data, key = tmp_path / "disk.img", boot.disk_image(sector), "hda"
    else:
        path, data, key = tmp_path / "boot.iso", boot.iso_image(sector), "cdrom"
    path.write_bytes(data)
    return {key: str(path)}


def build(tmp_path, firmware, medium):
    machine, bios = FIRMWARE[firmware]
    config = pcmod.PCConfig(machine=machine, bios=str(bios), memory=32 << 20, boot=medium,
                            **media(tmp_path, medium))
    return pcmod.build_pc(config)


@pytest.mark.parametrize("firmware, medium", CASES, ids=["%s-%s" % c for c in CASES])
def test_firmware_boots_the_boot_sector(tmp_path, firmware, medium):
    require_firmware(firmware)
    pc = build(tmp_path, firmware, medium)
    t0 = time.perf_counter()
    outcome = pc.run(max_cycles=MAX_CYCLES)
    wall = time.perf_counter() - t0
    print("%s %s: %s; %d cycles, %d instructions, %.2f s, %.2f MIPS"
          % (firmware, medium, outcome.description, outcome.cycles, outcome.instructions,
             wall, outcome.mips))
    text = pc.debugport.text
    assert boot.BOOT_MESSAGE in text, (
        "no boot-sector line on port 0xE9 (%s); POST codes %s; screen:\n%s\n"
        "firmware log (end):\n%s"
        % (outcome.description, [hex(c) for c in pc.debugport.post_codes[-8:]],
           "\n".join(pc.screen_text() or []),
           pc.debugport.bios_log[-1500:].decode("latin-1")))
    line = text[text.index(boot.BOOT_MESSAGE):].splitlines()[0]
    if medium in EXPECTED_DRIVE:
        assert line.endswith("dl=" + EXPECTED_DRIVE[medium]), line
    else:
        assert int(line[-2:], 16) >= 0x80, line       # a CD-ROM drive number
    screen = "\n".join(pc.screen_text() or [])
    assert boot.BOOT_MESSAGE in screen, "not on the VGA text screen:\n" + screen
    assert outcome.reason == "stop" and outcome.exit_status == boot.EXIT_STATUS


def test_seabios_posts_on_the_pc_platform(tmp_path):
    """SeaBIOS finds what it needs in the platform itself: the i440FX (shadowing itself
    through the PAM registers), fw_cfg (the e820 map, its VGA BIOS as vgaroms/), the
    PIIX3 IDE function; with no disk it ends at "No bootable device"."""
    require_firmware("seabios")
    config = pcmod.PCConfig(machine="pc", bios="seabios", memory=32 << 20)
    pc = pcmod.build_pc(config)
    done = b"No bootable device"
    outcome = pc.run(max_cycles=MAX_CYCLES, until=lambda p: done in p.debugport.bios_log)
    log = pc.debugport.bios_log.decode("latin-1")
    assert "Running on QEMU (i440fx)" in log and "Found QEMU fw_cfg" in log, log[-2000:]
    assert "qemu/e820: addr 0x0000000000000000 len 0x0000000002000000 [RAM]" in log
    assert "Found 3 PCI devices" in log
    assert "ATA controller 1 at 1f0/3f4/0 (irq 14 dev 9)" in log
    assert "Running option rom at c000:0003" in log, log[-2000:]
    assert done.decode() in log, (outcome.description, log[-2000:])
    i440fx = pc.chips["i440fx"]
    # POST ends with the BIOS write-protected in RAM: PAM0 = 10h (read-only DRAM).
    assert i440fx.config[0x59] == 0x10
    screen = "\n".join(pc.screen_text() or [])
    assert "SeaBIOS" in screen, screen


def test_bochs_latest_posts_on_the_pc_platform(tmp_path):
    """BIOS-bochs-latest's 32-bit setup (rombios32) finds the i440FX and the PIIX3 through
    configuration mechanism #1, programs the ELCR and the IDE bus-master BAR, builds its
    tables in the shadowed F segment and write-protects it."""
    require_firmware("bochs-latest")
    pc = pcmod.build_pc(pcmod.PCConfig(machine="pc", bios="bochs-latest", memory=32 << 20))
    outcome = pc.run(max_cycles=MAX_CYCLES, until=lambda p: b"bios_table_cur_addr"
                     in p.debugport.bios_log)
    log = pc.debugport.bios_log.decode("latin-1")
    assert "ram_size=0x02000000" in log, log[-2000:]
    for device in ("vendor_id=0x8086 device_id=0x1237 class=0x0600",
                   "vendor_id=0x8086 device_id=0x7000 class=0x0601",
                   "vendor_id=0x8086 device_id=0x7010 class=0x0101"):
        assert device in log, log[-2000:]
    assert "region 4: 0x0000c000" in log
    assert outcome.reason == "until", outcome.description
    assert pc.chips["piix3-ide"].bar_address(4) == 0xC000


def _traced_boot(tmp_path, step=2_000_000):
    """Boot SeaBIOS from a floppy in fixed steps, hashing the CPU state after each."""
    pc = build(tmp_path, "seabios", "floppy")
    h = hashlib.sha256()
    m = pc.machine
    reason = "budget"
    while m.clock.now < MAX_CYCLES:
        reason = m.run(max_cycles=step)
        pc.state_hash(h)
        if reason != "budget":
            break
    return reason, m.clock.now, m.cpu.icount, h.hexdigest(), pc.debugport.text


def test_boot_is_deterministic(tmp_path):
    require_firmware("seabios")
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
    first = _traced_boot(tmp_path / "a")
    second = _traced_boot(tmp_path / "b")
    assert first == second
    assert first[0] == "stop" and boot.BOOT_MESSAGE in first[4]
    # The slicing of the run loop is the host's business: a run in adaptive slices ends
    # at the same cycle.
    pc = build(tmp_path / "a", "seabios", "floppy")
    outcome = pc.run(max_cycles=MAX_CYCLES)
    assert pc.machine.clock.now == first[1] and pc.machine.cpu.icount == first[2]
    assert outcome.reason == "stop"


def test_cycle86_run_boots_a_floppy_and_prints_the_screen(tmp_path, capsys):
    """The same boot through the command line: `cycle86 run --machine isapc --fda IMAGE
    --screen` exits with the guest's status and prints the screen."""
    from core import cli
    require_firmware("bochs-legacy")
    image = media(tmp_path, "floppy")["fda"]
    status = cli.main(["run", "--machine", "isapc", "--fda", image, "--screen",
                       "--max-cycles", str(MAX_CYCLES)])
    out, err = capsys.readouterr()
    assert status == boot.EXIT_STATUS, err
    assert out.count(boot.BOOT_MESSAGE) == 2          # port 0xE9, then the screen
    assert "Bochs" in out                             # the BIOS's banner on the screen


def test_trace_of_a_boot_is_the_same_however_the_run_is_sliced(tmp_path):
    """Same config and images -> the same trace, byte for byte: SeaBIOS's first 1.5 M
    cycles recorded once through `PC.run` (slices sized by host speed), once through the
    debugger's `cont` (fixed slices, then single steps at the end), and once as `cycle86
    run --trace` records (TraceWriter.start, the CPU recording into the writer's buffers,
    slices capped by max_slice)."""
    from debugger.controller import Debugger
    from debugger.trace import TraceReader, TraceWriter
    require_firmware("seabios")
    cycles = 1_500_000
    files = []
    for way in ("pc-run", "debugger", "start"):
        (tmp_path / way).mkdir()
        pc = build(tmp_path / way, "seabios", "floppy")
        m = pc.machine
        path = tmp_path / way / "boot.c86t"
        if way == "pc-run":
            writer = TraceWriter.for_machine(str(path), m, "boot")
            m.cpu.trace_start()
            pc.run(max_cycles=cycles, after_slice=lambda: writer.write(m.cpu.trace_take()))
            m.cpu.trace_stop()
            writer.write(m.cpu.trace_take())
            writer.close()
        elif way == "start":
            writer = TraceWriter.start(str(path), m, "boot")
            slices = [m.clock.now]

            def drain():
                slices.append(m.clock.now)
                writer.drain(m.cpu)
            pc.run(max_cycles=cycles, after_slice=drain, max_slice=100_000)
            m.cpu.trace_stop()
            writer.drain(m.cpu, last=True)
            writer.close()
            # (uncapped, PC.run's slices start at 1 M cycles and grow)
            assert len(slices) > cycles // 100_000
        else:
            d = Debugger(pc)
            d.trace_start(str(path), "boot")
            d.cont(max_cycles=cycles - 200)
            while m.clock.now < cycles:
                d.step()
            d.trace_stop()
        files.append(path.read_bytes())
        pc.close()
    assert files[0] == files[1] == files[2]
    records = list(TraceReader(str(tmp_path / "pc-run" / "boot.c86t")))
    # SeaBIOS starts with a far jump at the reset vector, and does port I/O during POST.
    assert records[0].linear == 0xFFFFFFF0 and records[0].bytes[0] == 0xEA
    assert any(r.io for r in records)
