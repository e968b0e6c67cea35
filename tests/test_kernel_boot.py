"""Direct kernel boot (`cycle86 run --kernel`, core/kboot.py, core/guests/kboot.asm).

* The Multiboot guest (tests/guests/multiboot.asm, built as ELF and as an a.out-kludge
  image) boots under SeaBIOS and BIOS-bochs-latest on `pc` and under BIOS-bochs-legacy on
  `isapc`, with two modules and a command line; every field it prints is checked against
  what this test knows: the files it wrote, the RAM size it configured.
* The fake bzImage (tests/guests/fake_bzimage.asm) goes through the Linux boot protocol:
  its real-mode part prints the setup header fields the loader wrote, its protected-mode
  part at 1 MiB the initrd's first bytes and checksum.
* The Linux header parsing and placement on synthetic images built byte by byte here, the
  error messages for bad input, and that the user's files are left alone.
"""
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from core import kboot
from core import pc as pcmod
from peripherals import fwcfg

GUESTS = Path(__file__).resolve().parent / "guests"
MEMORY = 32 << 20
MAX_CYCLES = 1_500_000_000
MB_EXIT = (0x21 << 1) | 1
BZ_EXIT = (0x2B << 1) | 1
FIRMWARE = {"seabios": "pc", "bochs-latest": "pc", "bochs-legacy": "isapc"}


def nasm_exe():
    exe = shutil.which("nasm")
    if exe is None:
        if os.environ.get("CYCLE86_REQUIRE_SHARED") == "1":
            pytest.fail("nasm is required (apt-get install nasm)")
        pytest.skip("nasm is not installed")
    return exe


def assemble(tmp, name, *defines, out=None):
    out = tmp / (out or name)
    proc = subprocess.run([nasm_exe(), "-f", "bin", "-w+error", *defines, "-o", str(out),
                           str(GUESTS / (name + ".asm"))], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return out


def require_firmware(name):
    path = pcmod.FIRMWARE_NAMES[name]
    if path.is_file() and any(p.is_file() for p in pcmod.VGABIOS_NAMES.values()):
        return path
    if os.environ.get("CYCLE86_REQUIRE_SHARED") == "1":
        pytest.fail("%s is missing (apt-get install bochsbios vgabios seabios)" % path)
    pytest.skip("%s is not installed" % path)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    d = tmp_path_factory.mktemp("kboot")
    return {
        "elf": assemble(d, "multiboot", out="multiboot.elf"),
        "aout": assemble(d, "multiboot", "-DAOUT", out="multiboot.bin"),
        "bzimage": assemble(d, "fake_bzimage"),
    }


def run(firmware, tmp_path, **kernel):
    require_firmware(firmware)
    config = pcmod.PCConfig(machine=FIRMWARE[firmware], bios=firmware, memory=MEMORY,
                            **kernel)
    pc = pcmod.build_pc(config)
    outcome = pc.run(max_cycles=MAX_CYCLES)
    return pc, outcome, pc.debugport.text


# ===================================================================== Multiboot

def modules(tmp_path):
    one = tmp_path / "one.txt"
    one.write_bytes(b"first module, with text\n")
    two = tmp_path / "two.bin"
    two.write_bytes(bytes((i * 7 + 3) & 0xFF for i in range(10_000)))
    return [(one, "%s alpha beta=1" % one), (two, str(two))]


def fields(text):
    out = {}
    for line in text.splitlines():
        key, eq, value = line.partition("=")
        if eq:
            out[key.removeprefix("pm ")] = value
    return out


@pytest.mark.parametrize("firmware, image", [("seabios", "elf"), ("seabios", "aout"),
                                             ("bochs-latest", "elf"),
                                             ("bochs-latest", "aout"),
                                             ("bochs-legacy", "elf")])
def test_multiboot_kernel_gets_its_boot_information(built, tmp_path, firmware, image):
    mods = modules(tmp_path)
    kernel = built[image]
    append = "console=e9 answer=42"
    pc, outcome, text = run(firmware, tmp_path, kernel=str(kernel),
                            initrd=",".join(s for _, s in mods), append=append)
    assert outcome.exit_status == MB_EXIT, (outcome.description, text)
    f = fields(text)
    assert f["magic"] == "2BADB002"
    # memory, boot device, command line, modules, memory map, loader name
    assert int(f["flags"], 16) == (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 6) | (1 << 9)
    assert "state: pe=1 pg=0 if=0 a20=1 bss_zero=1" in text
    assert 600 <= int(f["mem_lower"]) <= 640
    assert f["boot_device"] == "80FFFFFF"
    assert f["cmdline"] == "%s %s" % (kernel, append)
    assert f["loader"] == "cycle86"

    mod_lines = [l for l in text.splitlines() if l.startswith("mod ")]
    assert int(f["mods_count"]) == len(mods) == len(mod_lines)
    kernel_end = 0x200000 + 0x3000
    previous_end = kernel_end
    for i, ((path, string), line) in enumerate(zip(mods, mod_lines)):
        m = re.match(r"mod (\d+) start=([0-9A-F]{8}) end=([0-9A-F]{8}) bytes=([0-9A-F ]+) "
                     r"string=(.*)$", line)
        assert m, line
        data = path.read_bytes()
        start, end = int(m.group(2), 16), int(m.group(3), 16)
        assert int(m.group(1)) == i
        assert start % 4096 == 0 and start >= previous_end
        assert end - start == len(data)
        assert m.group(4) == " ".join("%02X" % b for b in data[:8])
        assert m.group(5) == string
        previous_end = end

    entries = []
    for line in text.splitlines():
        m = re.match(r"mmap base=([0-9A-F]{16}) length=([0-9A-F]{16}) type=(\d+)$", line)
        if m:
            entries.append((int(m.group(1), 16), int(m.group(2), 16), int(m.group(3))))
    assert int(f["mmap_length"]) == 24 * len(entries)
    assert entries[0][0] == 0 and entries[0][2] == 1
    high = [e for e in entries if e[0] == 0x100000]
    assert high and high[0][2] == 1
    # mem_upper is the RAM from 1 MiB to the first hole: the map's block at 1 MiB.
    assert int(f["mem_upper"]) * 1024 == high[0][1]
    # The map accounts for the configured RAM: its RAM and firmware blocks end at it.
    assert max(b + n for b, n, _ in entries if b < 0xF0000000) == MEMORY
    assert high[0][1] >= MEMORY - (1 << 20) - (1 << 20)      # the firmware keeps < 1 MiB
    assert previous_end <= 0x100000 + high[0][1]


def test_multiboot_without_modules_or_command_line(built, tmp_path):
    pc, outcome, text = run("seabios", tmp_path, kernel=str(built["elf"]))
    assert outcome.exit_status == MB_EXIT, text
    f = fields(text)
    assert f["mods_count"] == "0"
    assert f["cmdline"] == str(built["elf"])


def test_cycle86_run_kernel_from_the_command_line_and_a_machine_file(built, tmp_path, capsys):
    from core import cli
    require_firmware("seabios")
    mod = tmp_path / "m.bin"
    mod.write_bytes(b"MODULE!!")
    status = cli.main(["run", "--kernel", str(built["aout"]), "--initrd", "%s x" % mod,
                       "--append", "hello", "--max-cycles", str(MAX_CYCLES)])
    out, err = capsys.readouterr()
    assert status == MB_EXIT, err
    assert "cmdline=%s hello" % built["aout"] in out
    assert "string=%s x" % mod in out
    # The same from a TOML file, with paths relative to it.
    shutil.copy(built["aout"], tmp_path / "k.bin")
    (tmp_path / "vm.toml").write_text(
        'kernel = "k.bin"\ninitrd = "m.bin arg"\nappend = "from-file"\nmax-cycles = %d\n'
        % MAX_CYCLES)
    status = cli.main(["run", str(tmp_path / "vm.toml")])
    out, err = capsys.readouterr()
    assert status == MB_EXIT, err
    assert "cmdline=%s from-file" % (tmp_path / "k.bin") in out
    assert "string=%s arg" % (tmp_path / "m.bin") in out


def test_cycle86_debug_takes_the_kernel_options(built, tmp_path, capsys):
    """`cycle86 debug --kernel`: the same machine, stopped at the kernel's entry."""
    from core import cli
    require_firmware("seabios")
    script = tmp_path / "script.dbg"
    script.write_text("c\nr\n")
    entry = 0x200000 + 0x60                 # the ELF guest's e_entry
    status = cli.main(["debug", "--batch", str(script), "--kernel", str(built["elf"]),
                       "--break", "0x%x" % entry])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "Breakpoint 1, 0008:%08X" % entry in out
    assert "2badb002" in out.lower()


# ===================================================================== the fake bzImage

@pytest.mark.parametrize("firmware", ["seabios", "bochs-latest", "bochs-legacy"])
def test_fake_bzimage_gets_the_linux_boot_parameters(built, tmp_path, firmware):
    initrd = tmp_path / "initrd.img"
    data = bytes((i * 13 + (i >> 8)) & 0xFF for i in range(300_000))
    initrd.write_bytes(data)
    append = "console=ttyS0 vga=ext root=/dev/ram0"
    pc, outcome, text = run(firmware, tmp_path, kernel=str(built["bzimage"]),
                            initrd=str(initrd), append=append)
    assert outcome.exit_status == BZ_EXIT, (outcome.description, text)
    f = fields(text)
    # Entered at SEG+20h:0 with DS = SS = SEG (the real-mode code at 0x10000).
    assert (f["cs"], f["ds"], f["ss"]) == ("1020", "1000", "1000")
    assert f["sp"] == "%04X" % kboot.LINUX_SP
    assert f["type_of_loader"] == "FF"
    assert int(f["loadflags"], 16) == 0x01 | 0x80           # LOADED_HIGH | CAN_USE_HEAP
    assert f["heap_end_ptr"] == "FE00"
    assert f["vid_mode"] == "FFFE"                         # vga=ext
    assert int(f["cmd_line_ptr"], 16) == 0x20000
    assert f["cmdline"] == append
    image, size = int(f["ramdisk_image"], 16), int(f["ramdisk_size"], 16)
    assert size == len(data)
    # As high as possible below initrd_addr_max (16 MiB - 1 in the guest's header), page
    # aligned, above the kernel.
    assert image % 4096 == 0 and image + size <= 0x1000000
    assert 0x1000000 - (image + size) < 4096
    assert int(f["e820_entries"], 16) >= 3
    assert int(f["entry"], 16) == 0x100000
    assert int(f["esi"], 16) == 0x10000
    assert f["initrd bytes"] == " ".join("%02X" % b for b in data[:8])
    assert int(f["initrd sum"], 16) == sum(data) & 0xFFFFFFFF


def test_initrd_goes_below_the_top_of_ram_when_that_is_lower(built, tmp_path):
    """With 12 MiB of RAM the top of RAM (less what the BIOS keeps: SeaBIOS here keeps
    nothing above 1 MiB in its memory map), not initrd_addr_max, limits the initrd."""
    require_firmware("seabios")
    initrd = tmp_path / "initrd.img"
    initrd.write_bytes(b"\x5A" * 5000)
    config = pcmod.PCConfig(machine="pc", bios="seabios", memory=12 << 20,
                            kernel=str(built["bzimage"]), initrd=str(initrd))
    pc = pcmod.build_pc(config)
    outcome = pc.run(max_cycles=MAX_CYCLES)
    text = pc.debugport.text
    assert outcome.exit_status == BZ_EXIT, text
    f = fields(text)
    image = int(f["ramdisk_image"], 16)
    assert image + 5000 <= 12 << 20 and (12 << 20) - image < (1 << 20)
    assert f["cmdline"] == ""


def test_the_rom_reports_an_initrd_that_the_bios_leaves_no_room_for(built, tmp_path):
    """The host's check uses the configured RAM; the ROM's uses the BIOS's memory map,
    which keeps the top of RAM for the firmware (the Bochs BIOS's ACPI tables, the top
    64 KiB): an initrd that fits the first but not the second stops the boot with the
    ROM's message on port 0xE9 and the screen."""
    require_firmware("bochs-latest")
    ram = 12 << 20
    kernel_end = 0x100000 + 0x20000                   # the fake bzImage's init_size
    initrd = tmp_path / "initrd.img"
    initrd.write_bytes(bytes(ram - kernel_end - 4096))
    config = pcmod.PCConfig(machine="pc", bios="bochs-latest", memory=ram,
                            kernel=str(built["bzimage"]), initrd=str(initrd))
    pc = pcmod.build_pc(config)
    outcome = pc.run(max_cycles=MAX_CYCLES)
    assert outcome.reason == "halt", outcome.description
    assert "cycle86 kernel boot: the initrd does not fit" in pc.debugport.text
    assert "fake bzImage" not in pc.debugport.text


def test_linux_kernel_that_needs_more_ram(tmp_path):
    path = tmp_path / "vmlinuz"
    path.write_bytes(synthetic_bzimage(init_size=0x3000000))
    with pytest.raises(kboot.KernelBootError, match="needs RAM up to 0x3200000.*32 MiB"):
        kboot.prepare(str(path), None, "", MEMORY)


# ===================================================================== header parsing

def synthetic_bzimage(version=0x020F, setup_sects=4, loadflags=0x01, pm_size=0x3000,
                      cmdline_size=2047, initrd_addr_max=0x7FFFFFFF, relocatable=1,
                      kernel_alignment=0x200000, init_size=0x100000, magic=b"HdrS",
                      syssize=None, truncate=0):
    """A bzImage-shaped file built field by field [boot.rst, "The Real-Mode Kernel
    Header"]: the setup sectors hold 0x11 bytes, the protected-mode part 0x22."""
    sects = setup_sects or 4
    setup = bytearray(b"\x11" * ((sects + 1) * 512))
    setup[0x1F1] = setup_sects
    struct.pack_into("<I", setup, 0x1F4, (pm_size + 15) // 16 if syssize is None else syssize)
    struct.pack_into("<H", setup, 0x1FA, 0xFFFF)
    struct.pack_into("<H", setup, 0x1FE, 0xAA55)
    setup[0x200:0x202] = b"\xEB\x66"
    setup[0x202:0x206] = magic
    struct.pack_into("<H", setup, 0x206, version)
    for off, fmt, value in ((0x210, "B", 0), (0x211, "B", loadflags), (0x214, "I", 0x100000),
                            (0x218, "I", 0), (0x21C, "I", 0), (0x224, "H", 0),
                            (0x228, "I", 0), (0x22C, "I", initrd_addr_max),
                            (0x230, "I", kernel_alignment), (0x234, "B", relocatable),
                            (0x238, "I", cmdline_size), (0x258, "Q", 0x1000000),
                            (0x260, "I", init_size)):
        struct.pack_into("<" + fmt, setup, off, value)
    image = bytes(setup) + b"\x22" * pm_size
    return image[:len(image) - truncate] if truncate else image


def test_linux_header_is_read_and_the_setup_header_filled_in(tmp_path):
    path = tmp_path / "bzImage"
    path.write_bytes(synthetic_bzimage(setup_sects=0))       # 0 means 4
    initrd = tmp_path / "initrd"
    initrd.write_bytes(b"\x33" * 1000)
    plan = kboot.prepare(str(path), str(initrd), "root=/dev/sda1 vga=0x317", MEMORY)
    assert plan.kind == "linux"
    h = plan.header
    assert h["version_text"] == "2.15" and h["setup_sects"] == 4
    assert h["cmdline_size"] == 2047 and h["initrd_addr_max"] == 0x7FFFFFFF
    assert h["runtime_start"] == 0x200000            # 1 MiB rounded up to the alignment
    assert h["kernel_end"] == 0x200000 + 0x100000    # ... plus init_size
    setup = plan.items[fwcfg.FW_CFG_SETUP_DATA]
    assert len(setup) == 5 * 512
    assert setup[0x210] == 0xFF                              # type_of_loader
    assert setup[0x211] == 0x81                              # LOADED_HIGH | CAN_USE_HEAP
    assert struct.unpack_from("<H", setup, 0x224)[0] == 0xFE00
    assert struct.unpack_from("<I", setup, 0x228)[0] == 0x20000
    assert struct.unpack_from("<H", setup, 0x1FA)[0] == 0x317
    assert struct.unpack_from("<II", setup, 0x218) == (0, 0)  # the ROM places the initrd
    assert plan.items[fwcfg.FW_CFG_KERNEL_DATA] == b"\x22" * 0x3000
    assert struct.unpack("<I", plan.items[fwcfg.FW_CFG_KERNEL_ADDR])[0] == 0x100000
    assert plan.items[fwcfg.FW_CFG_CMDLINE_DATA] == b"root=/dev/sda1 vga=0x317\0"
    assert plan.items[fwcfg.FW_CFG_INITRD_DATA] == b"\x33" * 1000
    assert plan.params["initrd_end"] == 0x80000000
    assert plan.params["initrd_min"] == 0x300000
    assert plan.params["base"] == 0x10000


def test_option_rom_checksums_and_parameter_block():
    rom = kboot.option_rom(dict(kind=kboot.KIND_MULTIBOOT, base=0x10000, entry=0x123456))
    assert rom[:2] == b"\x55\xAA" and rom[2] * 512 == len(rom)
    assert sum(rom) & 0xFF == 0
    pnp = rom[kboot.PNP_OFFSET:kboot.PNP_OFFSET + 32]
    assert pnp[:4] == b"$PnP" and sum(pnp) & 0xFF == 0
    assert rom[kboot.PARAMS_OFFSET:kboot.PARAMS_OFFSET + 4] == b"C86K"


def test_committed_rom_is_the_assembled_source(tmp_path):
    out = tmp_path / "kboot.rom"
    subprocess.run([nasm_exe(), "-f", "bin", "-o", str(out),
                    str(kboot.ROM_PATH.with_suffix(".asm"))], check=True)
    assert out.read_bytes() == kboot.ROM_PATH.read_bytes(), (
        "core/guests/kboot.rom is stale: rebuild it with nasm -f bin -o core/guests/kboot.rom "
        "core/guests/kboot.asm")


@pytest.mark.parametrize("kwargs, message", [
    (dict(magic=b"XXXX"), "not a kernel cycle86 can boot"),
    (dict(version=0x0201), "boot protocol 2.01 is too old"),
    (dict(loadflags=0), "a zImage"),
    (dict(truncate=100), "truncated"),
    (dict(syssize=0x10000), "truncated"),
    (dict(setup_sects=80), "setup_sects is 80"),
])
def test_bad_linux_images_are_reported_with_the_file_name(tmp_path, kwargs, message):
    path = tmp_path / "vmlinuz"
    path.write_bytes(synthetic_bzimage(**kwargs))
    with pytest.raises(kboot.KernelBootError) as e:
        kboot.prepare(str(path), None, "", MEMORY)
    assert str(e.value).startswith(str(path)) or str(path) in str(e.value)
    assert message in str(e.value)


def test_last_syssize_paragraph_may_be_short(tmp_path):
    """syssize counts 16-byte paragraphs rounded up [boot.rst]: a protected-mode part that
    ends inside its last paragraph (memtest86+'s images do) loads; one whole paragraph
    missing is a truncated file."""
    path = tmp_path / "vmlinuz"
    path.write_bytes(synthetic_bzimage(pm_size=0x3000 - 8))
    plan = kboot.prepare(str(path), None, "", MEMORY)
    assert plan.header["syssize"] == 0x300
    assert plan.items[fwcfg.FW_CFG_KERNEL_DATA] == b"\x22" * (0x3000 - 8)
    path.write_bytes(synthetic_bzimage(truncate=16))
    with pytest.raises(kboot.KernelBootError, match="truncated"):
        kboot.prepare(str(path), None, "", MEMORY)


def test_command_line_longer_than_cmdline_size(tmp_path):
    path = tmp_path / "vmlinuz"
    path.write_bytes(synthetic_bzimage(cmdline_size=16))
    with pytest.raises(kboot.KernelBootError, match="more than the 16 .*cmdline_size"):
        kboot.prepare(str(path), None, "x" * 17, MEMORY)
    kboot.prepare(str(path), None, "x" * 16, MEMORY)


def test_initrd_that_does_not_fit_in_ram(tmp_path):
    path = tmp_path / "vmlinuz"
    path.write_bytes(synthetic_bzimage())
    initrd = tmp_path / "big.img"
    initrd.write_bytes(bytes(30 << 20))
    with pytest.raises(kboot.KernelBootError) as e:
        kboot.prepare(str(path), str(initrd), "", MEMORY)
    assert str(initrd) in str(e.value) and "does not fit in RAM" in str(e.value)


def test_other_bad_input(tmp_path, built):
    with pytest.raises(kboot.KernelBootError, match="no such kernel file"):
        kboot.prepare(str(tmp_path / "missing"), None, "", MEMORY)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with pytest.raises(kboot.KernelBootError, match="empty"):
        kboot.prepare(str(empty), None, "", MEMORY)
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x90" * 20000)
    with pytest.raises(kboot.KernelBootError, match="no Multiboot header in the first 8 KiB"):
        kboot.prepare(str(junk), None, "", MEMORY)
    with pytest.raises(kboot.KernelBootError, match="no such module file"):
        kboot.prepare(str(built["elf"]), str(tmp_path / "nomod"), "", MEMORY)
    bz = tmp_path / "bz"
    bz.write_bytes(synthetic_bzimage())
    with pytest.raises(kboot.KernelBootError, match="one initrd, not 2"):
        kboot.prepare(str(bz), "%s,%s" % (junk, junk), "", MEMORY)
    # A Multiboot header with a bad checksum, and one that asks for unknown features.
    bad = bytearray(built["aout"].read_bytes())
    off = bad.find(struct.pack("<I", kboot.MB_MAGIC))
    bad[off + 8] ^= 1
    (tmp_path / "badsum").write_bytes(bad)
    with pytest.raises(kboot.KernelBootError, match="bad checksum"):
        kboot.prepare(str(tmp_path / "badsum"), None, "", MEMORY)
    need = bytearray(built["aout"].read_bytes())
    flags = struct.unpack_from("<I", need, off + 4)[0] | (1 << 5)
    struct.pack_into("<II", need, off + 4, flags, (-(kboot.MB_MAGIC + flags)) & 0xFFFFFFFF)
    (tmp_path / "need").write_bytes(need)
    with pytest.raises(kboot.KernelBootError, match="requires features"):
        kboot.prepare(str(tmp_path / "need"), None, "", MEMORY)
    # A module that does not fit in RAM.
    big = tmp_path / "big"
    big.write_bytes(bytes(3 << 20))
    with pytest.raises(kboot.KernelBootError, match="do not fit in RAM"):
        kboot.prepare(str(built["elf"]), str(big), "", 4 << 20)


def test_errors_through_the_command_line(tmp_path, capsys):
    from core import cli
    junk = tmp_path / "notakernel"
    junk.write_bytes(b"hello" * 100)
    status = cli.main(["run", "--kernel", str(junk)])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and str(junk) in err and "not a kernel" in err
    status = cli.main(["run", "--cpu", "286", "--kernel", str(junk)])
    assert status == 2 and "386 or later" in capsys.readouterr().err


def test_user_files_are_not_modified(built, tmp_path):
    kernel = tmp_path / "bz"
    shutil.copy(built["bzimage"], kernel)
    initrd = tmp_path / "initrd"
    initrd.write_bytes(b"\x01\x02\x03" * 1000)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (kernel, initrd)}
    pc, outcome, text = run("seabios", tmp_path, kernel=str(kernel), initrd=str(initrd),
                            append="a=b")
    assert outcome.exit_status == BZ_EXIT, text
    assert before == {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (kernel, initrd)}


def test_fw_cfg_dma_reads_an_item_and_reports_errors():
    """The DMA interface on its own: select + read into RAM, skip, read past the end
    (zeros), and an access structure outside RAM is ignored."""
    from core.machine import Machine
    m = Machine(cpu="80386", memory=1 << 20)
    fw = fwcfg.FwCfg(m, ram_size=1 << 20, dma=True)
    fw.add(fwcfg.FW_CFG_KERNEL_DATA, b"ABCDEFGH")
    bus = m.bus

    def dma(control, length, address, at=0x1000):
        bus.write(at, struct.pack(">IIQ", control, length, address))
        bus.port_write(0x514, 4, 0)
        bus.port_write(0x518, 4, int.from_bytes(struct.pack(">I", at), "little"))
        return struct.unpack(">I", bus.read(at, 4))[0]

    assert bus.port_read(0x514, 4).to_bytes(4, "little") == b"QEMU"
    assert bus.port_read(0x518, 4).to_bytes(4, "little") == b" CFG"
    assert dma((fwcfg.FW_CFG_KERNEL_DATA << 16) | 0x0A, 3, 0x2000) == 0
    assert bus.read(0x2000, 3) == b"ABC"
    assert dma(0x04, 2, 0) == 0                                     # skip "DE"
    assert dma(0x02, 6, 0x3000) == 0                                # "FGH" + zeros
    assert bus.read(0x3000, 6) == b"FGH\0\0\0"
    assert dma(0x0A | (1 << 16), 4, 0xFFFFF) == fwcfg.DMA_CTL_ERROR    # beyond RAM
    assert struct.unpack("<I", fw.items[fwcfg.FW_CFG_ID])[0] == 3
