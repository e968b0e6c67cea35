"""The PC platform: the builder, PCI configuration space, PAM shadowing, fw_cfg, and the
`cycle86 run` command's settings and errors."""
import struct

import pytest

from core import cli
from core import pc as pcmod
from core.machine import Machine
from peripherals import fwcfg, pci

BIOS_BASE = 0xF0000


def rom(size=0x10000, fill=0xA5):
    """A fake BIOS image: `fill` bytes, a far jump at the reset vector."""
    image = bytearray([fill]) * size
    image[-16:-11] = b"\xEA\x00\x00\x00\xF0"
    return bytes(image)


def write_rom(tmp_path, name="bios.rom", data=None):
    path = tmp_path / name
    path.write_bytes(rom() if data is None else data)
    return path


def config_cycle(m, bdf, reg, width=4, value=None):
    """A configuration access through mechanism #1 as a guest does it."""
    dev, fn = bdf
    m.bus.port_write(0xCF8, 4, 0x80000000 | (dev << 11) | (fn << 8) | (reg & 0xFC))
    port = 0xCFC + (reg & 3)
    if value is None:
        return m.bus.port_read(port, width)
    m.bus.port_write(port, width, value)
    return None


@pytest.fixture
def board():
    """A Machine with a PCI bus, the i440FX (BIOS 0xA5 at 0xF0000, ROM 0x5A at 0xC0000)
    and the PIIX3."""
    m = Machine(cpu="pentium", memory=8 << 20)
    image = bytearray(b"\xff" * 0x40000)
    image[0x30000:] = b"\xA5" * 0x10000
    image[0:0x8000] = b"\x5A" * 0x8000
    bus = pci.PCIBus(m)
    host = bus.add(0, 0, pci.I440FX(m, isa_image=bytes(image)))
    isa = bus.add(1, 0, pci.PIIX3ISA(m))
    bus.reset_port = isa
    ide = bus.add(1, 1, pci.PIIX3IDE(m))
    return m, bus, host, isa, ide


# ---------------------------------------------------------------- configuration space

def test_ids_of_the_functions(board):
    m, *_ = board
    assert config_cycle(m, (0, 0), 0) == 0x12378086
    assert config_cycle(m, (1, 0), 0) == 0x70008086
    assert config_cycle(m, (1, 1), 0) == 0x70108086
    assert config_cycle(m, (0, 0), 8) >> 8 == 0x060000          # host bridge
    assert config_cycle(m, (1, 0), 8) >> 8 == 0x060100          # ISA bridge
    assert config_cycle(m, (1, 1), 8) >> 8 == 0x010180          # IDE, legacy + bus master
    assert config_cycle(m, (1, 0), 0x0E, 1) & 0x80                # multi-function
    assert config_cycle(m, (0, 0), 0x2C) == 0x11001AF4           # QEMU's subsystem IDs


def test_absent_function_and_disabled_mechanism_read_all_ones(board):
    m, *_ = board
    assert config_cycle(m, (5, 0), 0) == 0xFFFFFFFF
    assert config_cycle(m, (0, 3), 0, 2) == 0xFFFF
    m.bus.port_write(0xCF8, 4, 0x00000000)                      # enable bit clear
    assert m.bus.port_read(0xCFC, 4) == 0xFFFFFFFF
    m.bus.port_write(0xCF8, 4, 0x80010000)                      # bus 1: nothing there
    assert m.bus.port_read(0xCFC, 4) == 0xFFFFFFFF


def test_config_address_readback_and_narrow_access(board):
    m, *_ = board
    m.bus.port_write(0xCF8, 4, 0x80000A57)
    assert m.bus.port_read(0xCF8, 4) == 0x80000A54              # bits 1:0 read as 0
    # Byte and word reads of CONFIG_DATA pick lanes of the selected dword.
    assert config_cycle(m, (0, 0), 0x02, 2) == 0x1237
    assert config_cycle(m, (0, 0), 0x03, 1) == 0x12
    assert config_cycle(m, (0, 0), 0x01, 1) == 0x80


def test_read_only_registers_keep_their_value(board):
    m, *_ = board
    config_cycle(m, (0, 0), 0x00, 4, 0xDEADBEEF)
    assert config_cycle(m, (0, 0), 0) == 0x12378086
    config_cycle(m, (0, 0), 0x3C, 1, 0x0B)                      # interrupt line: writable
    assert config_cycle(m, (0, 0), 0x3C, 1) == 0x0B


def test_bar_sizing(board):
    m, *_ = board
    config_cycle(m, (1, 1), 0x20, 4, 0xFFFFFFFF)
    assert config_cycle(m, (1, 1), 0x20) == 0xFFFFFFF1          # 16 bytes of I/O
    config_cycle(m, (1, 1), 0x20, 4, 0xC000)
    assert config_cycle(m, (1, 1), 0x20) == 0xC001


def test_bus_master_registers_appear_at_bmiba(board):
    m, bus, host, isa, ide = board
    config_cycle(m, (1, 1), 0x20, 4, 0xC000)
    assert m.bus.port_read(0xC002, 1) == 0xFF                   # I/O decode still off
    config_cycle(m, (1, 1), 0x04, 2, 0x0001)
    m.bus.port_write(0xC004, 4, 0x12345678)
    assert m.bus.port_read(0xC004, 4) == 0x12345678
    assert m.bus.port_read(0xC002, 1) == 0x00


def test_bmiba_over_another_devices_ports_gives_them_back_when_it_moves(board):
    # A BAR the guest points at the ELCR's ports: the PCI function's positive decode
    # answers there while it is, and the ELCR answers again once the BAR moves away.
    m, bus, host, isa, ide = board
    m.bus.port_write(0x4D0, 2, 0x0C00)
    config_cycle(m, (1, 1), 0x20, 4, 0x4D0)
    config_cycle(m, (1, 1), 0x04, 2, 0x0001)
    assert m.bus.io_owner(0x4D0) is ide and m.bus.port_read(0x4D0, 1) == 0x00
    config_cycle(m, (1, 1), 0x20, 4, 0xC000)
    assert m.bus.io_owner(0x4D0) is isa and m.bus.io_owner(0xC000) is ide
    assert m.bus.port_read(0x4D0, 2) == 0x0C00
    config_cycle(m, (1, 1), 0x04, 2, 0x0000)                    # decode off: no claim
    assert m.bus.io_owner(0xC000) is None and m.bus.io_owner(0x4D0) is isa


def test_pirq_routing_and_elcr(board):
    m, bus, host, isa, ide = board
    assert [config_cycle(m, (1, 0), 0x60 + i, 1) for i in range(4)] == [0x80] * 4
    config_cycle(m, (1, 0), 0x60, 4, 0x0B0A0B0A)
    assert [isa.pirq_route(i) for i in range(4)] == [10, 11, 10, 11]
    config_cycle(m, (1, 0), 0x61, 1, 0x02)                      # IRQ2 is reserved
    assert isa.pirq_route(1) is None
    m.bus.port_write(0x4D0, 2, 0xFFFF)
    # IRQ 0, 1, 2, 8 and 13 cannot be level-triggered.
    assert m.bus.port_read(0x4D0, 2) == 0xDEF8


def test_reset_control_register(board):
    m, bus, host, isa, ide = board
    m.bus.port_write(0xCF9, 1, 0x02)                            # SRST alone: no reset
    assert isa.resets_requested == 0 and m.bus.port_read(0xCF9, 1) == 0x02
    m.bus.port_write(0xCF9, 1, 0x06)                            # RCPU 0 -> 1: reset
    assert isa.resets_requested == 1
    assert m._reset_requested and m._hard_reset


def test_hard_reset_returns_the_pam_to_rom(board):
    m, bus, host, isa, ide = board
    config_cycle(m, (0, 0), 0x59, 1, 0x30)
    m.bus.write8(BIOS_BASE, 0x11)
    assert m.bus.read8(BIOS_BASE) == 0x11
    m.request_reset(hard=True)
    m._take_reset()
    assert config_cycle(m, (0, 0), 0x59, 1) == 0x00
    assert m.bus.read8(BIOS_BASE) == 0xA5


# ---------------------------------------------------------------- PAM shadowing

def test_pam_power_on_reads_rom_and_drops_writes(board):
    m, *_ = board
    assert m.bus.read8(BIOS_BASE) == 0xA5 and m.bus.read8(0xC0000) == 0x5A
    assert m.bus.read8(0xD0000) == 0xFF                         # nothing on the ISA side
    m.bus.write8(BIOS_BASE, 0x00)
    assert m.bus.read8(BIOS_BASE) == 0xA5
    assert m.bus.page_kind(BIOS_BASE) == "rom"


def test_pam_shadowing_the_way_a_bios_does_it(board):
    m, bus, host, *_ = board
    # Copy the ROM to a scratch buffer, make the segment read/write RAM, copy it back,
    # patch it, then write-protect it (the sequence of the Bochs BIOS's shadow setup).
    saved = m.bus.read(BIOS_BASE, 0x10000)
    config_cycle(m, (0, 0), 0x59, 1, 0x30)
    assert m.bus.page_kind(BIOS_BASE) == "ram"
    m.bus.write(BIOS_BASE, saved)
    m.bus.write8(BIOS_BASE + 5, 0x42)
    assert m.bus.read8(BIOS_BASE + 5) == 0x42
    config_cycle(m, (0, 0), 0x59, 1, 0x10)                      # read-only RAM
    assert m.bus.page_kind(BIOS_BASE) == "rom"
    m.bus.write8(BIOS_BASE + 5, 0x99)
    assert m.bus.read8(BIOS_BASE + 5) == 0x42                   # write dropped
    config_cycle(m, (0, 0), 0x59, 1, 0x00)                      # back to the ROM
    assert m.bus.read8(BIOS_BASE + 5) == 0xA5
    assert host.shadow_ram(BIOS_BASE + 5, 1) == b"\x42"         # RAM kept underneath
    config_cycle(m, (0, 0), 0x59, 1, 0x30)
    assert m.bus.read8(BIOS_BASE + 5) == 0x42


def test_pam_write_only_reads_rom_writes_ram(board):
    m, bus, host, *_ = board
    config_cycle(m, (0, 0), 0x5A, 1, 0x02)                      # C0000-C3FFF write-only
    assert m.bus.read8(0xC0010) == 0x5A
    m.bus.write8(0xC0010, 0x77)
    assert m.bus.read8(0xC0010) == 0x5A                         # reads still from ROM
    assert host.shadow_ram(0xC0010, 1) == b"\x77"
    config_cycle(m, (0, 0), 0x5A, 1, 0x01)                      # read-only: RAM shows
    assert m.bus.read8(0xC0010) == 0x77
    assert m.bus.read8(0xC4000) == 0x5A                         # the high nibble: ROM


def test_pam_dword_write_covers_several_segments(board):
    m, bus, host, *_ = board
    config_cycle(m, (0, 0), 0x58, 4, 0x33330010)                # DRAMT, PAM0-2
    config_cycle(m, (0, 0), 0x5C, 4, 0x33333333)                # PAM3-6
    assert all(host.pam_mode(i) == pci.PAM_READ_WRITE for i in range(1, 13))
    assert host.pam_mode(0) == pci.PAM_PCI
    assert config_cycle(m, (0, 0), 0x58, 1) == 0x10
    config_cycle(m, (0, 0), 0x59, 1, 0xFF)                      # reserved bits stay 0
    assert config_cycle(m, (0, 0), 0x59, 1) == 0x30


def test_cpu_code_runs_from_shadow_ram(board):
    m, bus, host, *_ = board
    config_cycle(m, (0, 0), 0x59, 1, 0x30)
    m.bus.write(BIOS_BASE, b"\xB8\x34\x12\xF4")                 # mov ax, 1234h; hlt
    cpu = m.cpu
    cpu.cs, cpu.ip = 0xF000, 0
    m.step()
    assert cpu.ax == 0x1234


# ---------------------------------------------------------------- fw_cfg

def read_item(m, key, n):
    m.bus.port_write(0x510, 2, key)
    return bytes(m.bus.port_read(0x511, 1) for _ in range(n))


def test_fwcfg_signature_id_and_ram():
    m = Machine(cpu="pentium", memory=32 << 20)
    fwcfg.FwCfg(m, ram_size=32 << 20, cpus=1)
    assert read_item(m, 0x0000, 4) == b"QEMU"
    assert struct.unpack("<I", read_item(m, 0x0001, 4))[0] == 1    # no DMA interface
    assert struct.unpack("<Q", read_item(m, 0x0003, 8))[0] == 32 << 20
    assert struct.unpack("<H", read_item(m, 0x0005, 2))[0] == 1
    assert struct.unpack("<H", read_item(m, 0x000E, 2))[0] == 0    # no boot menu
    # Past the end of an item, and for an unknown one, the data port reads 0.
    assert read_item(m, 0x0000, 6)[4:] == b"\0\0"
    assert read_item(m, 0x1234, 2) == b"\0\0"


def test_fwcfg_file_directory_and_e820():
    m = Machine(cpu="pentium", memory=16 << 20)
    dev = fwcfg.FwCfg(m, ram_size=16 << 20)
    dev.add_file("vgaroms/test.bin", b"\x55\xAA\x01")
    m.bus.port_write(0x510, 2, 0x19)
    count = struct.unpack(">I", bytes(m.bus.port_read(0x511, 1) for _ in range(4)))[0]
    entries = {}
    for _ in range(count):
        raw = bytes(m.bus.port_read(0x511, 1) for _ in range(64))
        size, select, _ = struct.unpack(">IHH", raw[:8])
        entries[raw[8:].rstrip(b"\0").decode()] = (size, select)
    assert "etc/e820" in entries and "vgaroms/test.bin" in entries
    assert list(entries) == sorted(entries)
    size, select = entries["etc/e820"]
    data = read_item(m, select, size)
    assert struct.unpack("<QQI", data[:20]) == (0, 16 << 20, 1)
    assert read_item(m, entries["vgaroms/test.bin"][1], 3) == b"\x55\xAA\x01"


def test_fwcfg_selector_resets_offset_and_ignores_data_writes():
    m = Machine(cpu="pentium", memory=1 << 20)
    fwcfg.FwCfg(m)
    m.bus.port_write(0x510, 2, 0)
    assert m.bus.port_read(0x511, 1) == ord("Q")
    m.bus.port_write(0x511, 1, 0x00)
    assert m.bus.port_read(0x511, 1) == ord("E")
    m.bus.port_write(0x510, 2, 0x4000)                          # write channel of item 0
    assert m.bus.port_read(0x511, 1) == ord("Q")


# ---------------------------------------------------------------- the builder

def test_build_isapc_with_a_raw_rom(tmp_path):
    path = write_rom(tmp_path)
    p = pcmod.build_pc(pcmod.PCConfig(machine="isapc", bios=str(path), bios_only=True))
    m = p.machine
    assert p.config.cpu == "80486"
    assert m.bus.read8(0xFFFF0) == 0xEA and m.bus.read8(0xFFFFFFF0) == 0xEA
    assert m.bus.read8(0xD0000) == 0xFF                          # no RAM in the ISA hole
    m.bus.write8(0xD0000, 1)
    assert m.bus.read8(0xD0000) == 0xFF
    assert "pci" not in p.chips and "fwcfg" not in p.chips
    assert m.bus.port_read(0xCFC, 4) == 0xFFFFFFFF


def test_build_pc_has_pci_and_fwcfg(tmp_path):
    path = write_rom(tmp_path)
    p = pcmod.build_pc(pcmod.PCConfig(machine="pc", bios=str(path), memory=16 << 20))
    m = p.machine
    assert p.config.cpu == "pentium"
    assert config_cycle(m, (0, 0), 0) == 0x12378086
    assert read_item(m, 0, 4) == b"QEMU"
    assert m.bus.read8(0xFFFF0) == 0xEA                          # through the PAM: ROM
    assert p.chips["fwcfg"].file("etc/e820") == fwcfg.e820_table([(0, 16 << 20, 1)])


def test_cpu_starts_at_the_bios_reset_vector(tmp_path):
    image = bytearray(rom())
    image[-16:-11] = b"\xEA\x00\x00\x00\xF0"                     # jmp F000:0000
    image[0:4] = b"\xB0\x07\xE6\xF4"                             # mov al, 7; out 0F4h, al
    path = write_rom(tmp_path, data=bytes(image))
    for machine in ("pc", "isapc"):
        p = pcmod.build_pc(pcmod.PCConfig(machine=machine, bios=str(path), bios_only=True))
        outcome = p.run(max_cycles=100_000)
        assert outcome.reason == "stop" and outcome.exit_status == 15


def test_cmos_values():
    cfg = pcmod.PCConfig(memory=32 << 20, cpu="pentium")
    v = pcmod.cmos_values(cfg, [4, 0], [(20, 16, 63), None], ["floppy", "disk", "cdrom"])
    assert (v[0x15], v[0x16]) == (0x80, 0x02)                   # 640 KiB
    assert v[0x17] | v[0x18] << 8 == 31 * 1024                  # KiB above 1 MiB
    assert v[0x34] | v[0x35] << 8 == (16 << 20) >> 16           # 64 KiB above 16 MiB
    assert v[0x10] == 0x40 and v[0x14] & 0xC1 == 0x01
    assert v[0x12] == 0xF0 and v[0x19] == 47
    assert v[0x1B] == 20 and v[0x1D] == 16 and v[0x23] == 63
    assert v[0x3D] == 0x21 and v[0x38] == 0x30
    total = sum(v.get(i, 0) for i in range(0x10, 0x2E))
    assert v[0x2E] << 8 | v[0x2F] == total


def test_disk_geometry():
    assert pcmod.disk_geometry(20 * 16 * 63) == (20, 16, 63)
    assert pcmod.disk_geometry(100) == (1, 16, 63)


@pytest.mark.parametrize("setting, words", [
    (dict(bios="/nonexistent/bios.bin"), ["/nonexistent/bios.bin", "no such"]),
    (dict(machine="xt"), ["xt", "isapc"]),
    (dict(cpu="z80"), ["z80"]),
    (dict(memory=0xF8000000), ["3.75 GiB"]),
])
def test_builder_errors(tmp_path, setting, words):
    cfg = pcmod.PCConfig(**dict(dict(bios=str(write_rom(tmp_path))), **setting))
    with pytest.raises(pcmod.PlatformError) as e:
        pcmod.build_pc(cfg)
    for w in words:
        assert w in str(e.value)


def test_malformed_firmware_is_named(tmp_path):
    odd = write_rom(tmp_path, "odd.rom", b"\x90" * 5000)
    blank = write_rom(tmp_path, "blank.rom", b"\xff" * 0x10000)
    for path, word in ((odd, "4 KiB"), (blank, "reset vector")):
        with pytest.raises(pcmod.PlatformError) as e:
            pcmod.build_pc(pcmod.PCConfig(bios=str(path)))
        assert str(path) in str(e.value) and word in str(e.value)
    bad_vga = write_rom(tmp_path, "vga.rom", b"\x00" * 4096)
    with pytest.raises(pcmod.PlatformError) as e:
        pcmod.build_pc(pcmod.PCConfig(bios=str(write_rom(tmp_path)), vgabios=str(bad_vga)))
    assert str(bad_vga) in str(e.value) and "55 AA" in str(e.value)


def test_bad_media_are_named(tmp_path):
    bios = str(write_rom(tmp_path))
    odd = tmp_path / "odd.img"
    odd.write_bytes(b"\0" * 1000)
    with pytest.raises(pcmod.PlatformError) as e:
        pcmod.build_pc(pcmod.PCConfig(bios=bios, fda=str(odd)))
    assert str(odd) in str(e.value) and "floppy" in str(e.value)
    with pytest.raises(pcmod.PlatformError) as e:
        pcmod.build_pc(pcmod.PCConfig(bios=bios, hda=str(tmp_path / "none.img")))
    assert "none.img" in str(e.value)
    with pytest.raises(pcmod.PlatformError) as e:
        pcmod.build_pc(pcmod.PCConfig(bios=bios, cdrom=str(odd)))
    assert "2048" in str(e.value)


# ---------------------------------------------------------------- cycle86 run

def run_cli(capsys, *argv):
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def exit_rom(tmp_path, value):
    image = bytearray(rom())
    image[0:4] = bytes([0xB0, value, 0xE6, 0xF4])                # mov al, value; out 0F4h
    return str(write_rom(tmp_path, "exit%d.rom" % value, bytes(image)))


def test_run_exit_status_is_the_guests(tmp_path, capsys):
    status, out, err = run_cli(capsys, "run", "--bios", exit_rom(tmp_path, 3))
    assert status == 7


def test_run_shutdown_port_and_e9(tmp_path, capsys):
    src = (b"\xBE\x20\x00\xB9\x05\x00\x2E\xAC\xE6\xE9\xE2\xFA"   # print "hi!\n" x
           b"\xBA\x00\x89\xBE\x30\x00\xB9\x08\x00\x2E\xAC\xEE\xE2\xFB\xF4")
    image = bytearray(rom())
    image[0:len(src)] = src
    image[0x20:0x25] = b"hi!\n\n"
    image[0x30:0x38] = b"Shutdown"
    path = write_rom(tmp_path, "sd.rom", bytes(image))
    status, out, err = run_cli(capsys, "run", "--e9", "stdout", "--bios", str(path))
    assert status == 0 and "hi!" in out
    e9 = tmp_path / "e9.txt"
    status, out, err = run_cli(capsys, "run", "--e9", "file:%s" % e9, "--bios", str(path))
    assert status == 0 and "hi!" not in out and e9.read_bytes().startswith(b"hi!")


def test_run_cycle_limit_and_triple_fault(tmp_path, capsys):
    image = bytearray(rom())
    image[0:2] = b"\xEB\xFE"                                     # jmp $
    loop = write_rom(tmp_path, "loop.rom", bytes(image))
    status, _, err = run_cli(capsys, "run", "--bios", str(loop), "--max-cycles", "100K")
    assert status == pcmod.EXIT_CYCLE_LIMIT and "cycle limit" in err
    # lidt of a zero-limit IDT, then int3: #GP, #DF, then shutdown.
    image[0:12] = b"\x66\x2E\x0F\x01\x1E\x10\x00\xCC\xEB\xFE\x00\x00"
    image[0x10:0x16] = bytes(6)
    tf = write_rom(tmp_path, "tf.rom", bytes(image))
    status, _, err = run_cli(capsys, "run", "--bios", str(tf), "--max-cycles", "1M")
    assert status == pcmod.EXIT_TRIPLE_FAULT and "triple fault" in err


def test_run_errors_are_one_line(tmp_path, capsys):
    for argv, words in (
            (["--bios", str(tmp_path / "nope.rom")], ["nope.rom", "no such"]),
            (["--bios", exit_rom(tmp_path, 0), "--hda", str(tmp_path / "no.img")],
             ["no.img"]),
            (["--serial", "tcp:10.0.0.1:23"], ["loopback"]),
            (["--memory", "lots"], ["lots"]),
            (["--machine", "xt"], ["xt"]),
            ([str(tmp_path / "missing.toml")], ["missing.toml", "no such machine file"]),
    ):
        status, out, err = run_cli(capsys, "run", *argv)
        assert status == 2, (argv, err)
        assert err.count("\n") == 1 and "Traceback" not in err, err
        for w in words:
            assert w in err, (w, err)


def test_machine_file(tmp_path, capsys):
    exit_rom(tmp_path, 5)
    (tmp_path / "vm.toml").write_text(
        'machine = "isapc"\ncpu = "386"\nmemory = "4M"\nbios = "exit5.rom"\n'
        'max-cycles = 1000000\n')
    status, out, err = run_cli(capsys, "run", str(tmp_path / "vm.toml"))
    assert status == 11, err
    args = cli.build_parser(next(c for c in cli.COMMANDS if c.name == "run"))[0].parse_args(
        ["run", str(tmp_path / "vm"), "--memory", "8M"])
    cfg = cli.run_config(args)
    assert (cfg.machine, cfg.cpu, cfg.memory, cfg.max_cycles) == ("isapc", "80386", 8 << 20,
                                                                  1000000)
    assert cfg.bios == str(tmp_path / "exit5.rom")
    (tmp_path / "bad.toml").write_text('colour = "blue"\n')
    status, out, err = run_cli(capsys, "run", str(tmp_path / "bad.toml"))
    assert status == 2 and "colour" in err
    (tmp_path / "bad2.toml").write_text('memory = "lots"\n')
    status, out, err = run_cli(capsys, "run", str(tmp_path / "bad2.toml"))
    assert status == 2 and "memory" in err and "lots" in err


def test_a_bad_value_in_a_machine_file_is_refused_with_the_files_path(tmp_path, capsys):
    # Found by the fuzz harness (tests/fuzz, files target): the message said only
    # "machine file", which does not tell a user with several which one; and a disk
    # slot holding a number or a date was taken for a path.
    for text, words in (('max-cycles = "none"\n', ["max_cycles", "none"]),
                        ("hda = 1979-05-27T07:32:00Z\n", ["hda", "not a string"]),
                        ("fda = 3\n", ["fda", "not a string"]),
                        ("commit = []\n", ["commit", "true or false"]),
                        ('hda = "a\\u0000b.img"\n', ["hda", "NUL byte"]),
                        ('initrd = "x\\u0000"\n', ["initrd", "NUL byte"]),
                        ('e9 = "file:out\\u0000"\n', ["e9", "NUL byte"]),
                        ('memory = "8G"\n', ["memory", "more than this PC"])):
        path = tmp_path / "vm.toml"
        path.write_text(text)
        status, out, err = run_cli(capsys, "run", str(path))
        assert status == 2 and "Traceback" not in err, err
        for w in [str(path)] + words:
            assert w in err, (w, err)
    # A disk named "none" is a file beside the machine file, named by its whole path.
    path.write_text('hda = "none"\n')
    status, out, err = run_cli(capsys, "run", str(path))
    assert status == 2 and str(tmp_path / "none") + ": no such disk image" in err, err


def test_realtime_only_sleeps_the_host(tmp_path):
    image = bytearray(rom())
    image[0:2] = b"\xEB\xFE"                                     # jmp $
    path = str(write_rom(tmp_path, "loop.rom", bytes(image)))
    results = []
    for realtime in (False, True):
        p = pcmod.build_pc(pcmod.PCConfig(machine="isapc", cpu="80386", bios=path,
                                          bios_only=True))
        cycles = p.machine.clock.frequency // 5                  # 0.2 s of guest time
        outcome = p.run(max_cycles=cycles, realtime=realtime)
        results.append((outcome, p.state_hash().hexdigest()))
    (fast, h1), (paced, h2) = results
    assert fast.cycles == paced.cycles and h1 == h2
    assert paced.wall >= 0.19


def test_run_until_stops_between_slices(tmp_path):
    image = bytearray(rom())
    image[0:2] = b"\xEB\xFE"
    p = pcmod.build_pc(pcmod.PCConfig(bios=str(write_rom(tmp_path, data=bytes(image))),
                                      bios_only=True))
    outcome = p.run(max_cycles=50_000_000, until=lambda pc: pc.machine.clock.now > 3_000_000)
    assert outcome.reason == "until" and 3_000_000 < outcome.cycles <= 4_100_000


def test_run_the_shared_benchmark_rom(tmp_path, capsys):
    """`cycle86 run --memory 32M --e9 stdout --bios bench.rom`, as ../shared/bench/peers.sh
    runs it, prints the result line the reference model predicts."""
    from tests.test_shared_bench import _build, _require_bench
    _require_bench()
    image, line, _ = _build(tmp_path, 2, 0)
    path = tmp_path / "bench.rom"
    path.write_bytes(image)
    status, out, err = run_cli(capsys, "run", "--memory", "32M", "--e9", "stdout",
                               "--bios", str(path))
    assert status == 0 and line in out, (out, err)


def test_pci_snapshot_restores_config_and_mapping(board):
    m, bus, host, isa, ide = board
    config_cycle(m, (0, 0), 0x59, 1, 0x30)
    config_cycle(m, (1, 1), 0x20, 4, 0xC000)
    config_cycle(m, (1, 1), 0x04, 2, 0x0001)
    m.bus.write8(BIOS_BASE, 0x11)
    state = bus.get_state()
    config_cycle(m, (0, 0), 0x59, 1, 0x00)
    config_cycle(m, (1, 1), 0x04, 2, 0x0000)
    assert m.bus.read8(BIOS_BASE) == 0xA5
    bus.set_state(state)
    assert m.bus.read8(BIOS_BASE) == 0x11 and config_cycle(m, (0, 0), 0x59, 1) == 0x30
    m.bus.port_write(0xC004, 4, 0x1234)
    assert m.bus.port_read(0xC004, 4) == 0x1234
    assert "PAM 59h" in bus.info() and "BMIBA C000" in bus.info()


@pytest.mark.parametrize("commit", [False, True])
def test_disk_writes_reach_the_image_only_with_commit(tmp_path, commit):
    disk = tmp_path / "disk.img"
    disk.write_bytes(bytes(16 * 63 * 512))
    p = pcmod.build_pc(pcmod.PCConfig(bios=str(write_rom(tmp_path)), hda=str(disk),
                                      commit=commit))
    p.media["hda"].write(0, b"\xAB" * 512)
    assert p.media["hda"].read(0, 1) == b"\xAB" * 512
    p.close()
    assert (disk.read_bytes()[:512] == b"\xAB" * 512) == commit


@pytest.mark.parametrize("machine", ["pc", "isapc"])
def test_port_io_to_isa_chips_takes_the_isa_bus_cycle(tmp_path, machine):
    """An IN from the 8254 costs the CPU the ISA bus cycle (6 BCLKs of 8.33 MHz, 0.72 us),
    so two back-to-back reads of the PIT are more than one PIT tick (0.84 us) apart, as
    Linux's quick PIT calibration relies on; an IN from a port that is not on ISA (the
    PCI configuration address) costs only the CPU's own clocks."""
    p = pcmod.build_pc(pcmod.PCConfig(machine=machine, cpu="pentium2",
                                      bios=str(write_rom(tmp_path)), e9=None))
    try:
        m = p.machine
        code = bytes([0xE4, 0x42, 0xE4, 0x42,          # in al, 42h (twice)
                      0x66, 0xBA, 0xF8, 0x0C, 0, 0,    # mov edx, 0CF8h
                      0x66, 0xED])                     # in eax, dx
        m.mem.write(0x7C00, code)
        cpu = m.cpu
        cpu.cs, cpu.eip = 0, 0x7C00
        freq = m.clock.frequency
        isa8 = -(-6 * freq // 8_333_333)
        first = m.step()
        second = m.step()
        assert first == second >= isa8 and first / freq >= 0.72e-6
        assert (first + second) / freq > 1 / 1_193_182      # more than one PIT tick
        m.step()
        pci = m.step()
        if machine == "pc":
            assert pci < isa8                      # the host bridge, not ISA
        else:
            assert pci >= 4 * isa8                 # nobody there: ISA byte cycles
    finally:
        p.close()
