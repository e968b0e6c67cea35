"""The PC builder: a Machine wired up as an ISA PC/AT (`isapc`) or an i440FX PCI PC (`pc`).

The two machine types are QEMU's:

* ``isapc``: the CPU, RAM and the AT chips on the ISA bus: 8259A PIC pair, 8254 PIT,
  MC146818 RTC/CMOS, i8042 keyboard controller, 16550A UARTs, 8237 DMA and the 82077AA
  floppy controller, ATA/ATAPI on the two legacy IDE channels, VGA, the debug ports.
  Debian's BIOS-bochs-legacy runs here.
* ``pc``: all of that plus the i440FX host bridge with its shadow-RAM (PAM) registers, the
  PIIX3 (ISA bridge, IDE function, reset control at 0xCF9) behind PCI configuration
  mechanism #1, and QEMU's fw_cfg.  This is what BIOS-bochs-latest and Debian's SeaBIOS
  (a QEMU build) expect.

Firmware is mapped as on the real board: the system BIOS ends at the top of the 4 GiB
space (16 MiB on a 286, 1 MiB on an 8086), where the reset fetch comes from, and its last
128 KiB at most also end at 1 MiB; the VGA BIOS is the option ROM at 0xC0000.  On `pc`
the low copies sit behind the PAM registers, so the BIOS can shadow itself into RAM.

Each chip is built by a small adapter function below (one per module of peripherals/).
"""
import hashlib
import os
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

from core.machine import Machine
from peripherals.ata import ATA, CDROM
from peripherals.dma import DMA
from peripherals.fdc import FDC
from peripherals.i8042 import I8042
from peripherals.npx import NPX
from peripherals.pic import PIC
from peripherals.pit import PIT
from peripherals.rtc import RTC
from peripherals.uart import UART, open_serial
from peripherals.vga import Vga
from peripherals.diskimage import DiskImageError

MACHINE_TYPES = ("pc", "isapc")
DEFAULT_CPU = {"pc": "pentium", "isapc": "80486"}
DEFAULT_MEMORY = 32 << 20
BOOT_DEVICES = ("floppy", "disk", "cdrom")

# Process exit statuses of `cycle86 run` (see README.md): isa-debug-exit gives the guest's
# odd (value << 1) | 1; these are even so that no guest value can be taken for them.
EXIT_CLEAN = 0               # Bochs shutdown port, a clean stop or a halt for good
EXIT_TRIPLE_FAULT = 4        # the CPU shut down (triple fault)
EXIT_CYCLE_LIMIT = 124       # --max-cycles ran out first (as timeout(1) says 124)

MAX_MEMORY = 0xF0000000      # RAM below the PCI hole and the BIOS at the top of 4 GiB
LOW_BIOS_LIMIT = 128 << 10
VGA_BIOS_BASE = 0xC0000

# Where Debian's packages install the firmware (bochsbios, vgabios, seabios).
BOCHS_DIR = Path("/usr/share/bochs")
VGABIOS_DIR = Path("/usr/share/vgabios")
SEABIOS_DIR = Path("/usr/share/seabios")
FIRMWARE_NAMES = {
    "bochs-legacy": BOCHS_DIR / "BIOS-bochs-legacy",
    "bochs-latest": BOCHS_DIR / "BIOS-bochs-latest",
    "seabios": SEABIOS_DIR / "bios.bin",
}
VGABIOS_NAMES = {
    "vgabios": VGABIOS_DIR / "vgabios.bin",                 # LGPL VGABios, Bochs VBE
    "seavgabios": SEABIOS_DIR / "vgabios-isavga.bin",      # SeaVGABIOS for an ISA VGA
}
DEFAULT_BIOS = {"isapc": ("bochs-legacy",), "pc": ("seabios", "bochs-latest")}

FLOPPY_TYPES = {        # image size -> (CMOS drive type, description)
    368640: (1, "360K 5.25\""),
    1228800: (2, "1.2M 5.25\""),
    737280: (3, "720K 3.5\""),
    1474560: (4, "1.44M 3.5\""),
    2949120: (5, "2.88M 3.5\""),
}


class PlatformError(Exception):
    """A machine that cannot be built: one line naming the file or setting at fault."""


# ===================================================================== configuration

@dataclass
class PCConfig:
    """Everything that defines a VM; the `cycle86 run` options and TOML keys map onto it."""
    machine: str = "pc"
    cpu: str = None                  # default: DEFAULT_CPU[machine]
    fpu: str = None                  # a coprocessor beside an 8086-80386: 8087, 287, 387
    bus_timing: bool = None          # 8086/8088: bus model (default) or False: tables
    memory: int = DEFAULT_MEMORY
    bios: str = None                 # a path, a name from FIRMWARE_NAMES, or None: discover
    vgabios: str = None              # a path, a name, "none", or None: discover
    fda: str = None
    fdb: str = None
    hda: str = None
    hdb: str = None
    cdrom: str = None
    boot: str = None                 # floppy | disk | cdrom; default: the first medium given
    serial: str = None               # stdio | file:PATH | tcp:127.0.0.1:PORT | None
    e9: str = None                   # stdout | file:PATH | None (kept in memory only)
    max_cycles: int = None
    screen: bool = False
    screenshot: str = None           # a PNG of the screen when the run ends
    realtime: bool = False
    commit: bool = False
    rtc_start: str = None            # ISO date for the RTC; None: the RTC's default
    kernel: str = None               # direct kernel boot: a bzImage or Multiboot kernel
    initrd: str = None               # its initrd, or Multiboot modules "a args,b"
    append: str = None               # the kernel command line
    overlays: str = None             # a directory keeping the disks' overlays between runs
    keys_text: str = None            # --keys: typed on the keyboard from keys_at (core/keys.py)
    keys_file: str = None            # a keys script: wait/type/key/press/release lines
    keys_at: str = None              # guest time --keys starts at (default 1s)
    input_log: str = None            # write the host's input (keys, COM1) here at exit
    replay_input: str = None         # deliver a saved input log's events again
    bios_only: bool = False          # only --bios was asked for: a raw ROM, no VGA BIOS

    @classmethod
    def keys(cls):
        return [f.name for f in fields(cls)]


# ===================================================================== firmware

def resolve_firmware(value, names, what):
    """A firmware path from a user's value: an existing file, or a known name."""
    if value in names:
        path = names[value]
        if not path.is_file():
            raise PlatformError("%s %r: %s is not installed (apt-get install %s)"
                                % (what, value, path, _package_of(path)))
        return path
    path = Path(value).expanduser()
    if not path.exists():
        raise PlatformError("%s: no such %s file" % (path, what))
    if path.is_dir():
        raise PlatformError("%s: is a directory, not a %s image" % (path, what))
    return path


def _package_of(path):
    return {BOCHS_DIR: "bochsbios", VGABIOS_DIR: "vgabios",
            SEABIOS_DIR: "seabios"}.get(Path(path).parent, "the firmware package")


def discover_bios(machine):
    """The default system BIOS of a machine type, from the Debian packages."""
    for name in DEFAULT_BIOS[machine]:
        if FIRMWARE_NAMES[name].is_file():
            return FIRMWARE_NAMES[name]
    wanted = " or ".join(str(FIRMWARE_NAMES[n]) for n in DEFAULT_BIOS[machine])
    raise PlatformError("no BIOS given and none found at %s (apt-get install %s, or give "
                        "--bios PATH)" % (wanted, " ".join(sorted(
                            {_package_of(FIRMWARE_NAMES[n]) for n in DEFAULT_BIOS[machine]}))))


def is_seabios(image):
    return b"SeaBIOS" in image


def discover_vgabios(bios_image):
    """The VGA BIOS that goes with a system BIOS: SeaVGABIOS with SeaBIOS, the LGPL
    VGABios otherwise; either one if only one is installed; None if neither is."""
    order = (("seavgabios", "vgabios") if is_seabios(bios_image)
             else ("vgabios", "seavgabios"))
    for name in order:
        if VGABIOS_NAMES[name].is_file():
            return VGABIOS_NAMES[name]
    return None


def read_file(path, what):
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise PlatformError("%s: no such %s file" % (path, what)) from None
    except IsADirectoryError:
        raise PlatformError("%s: is a directory, not a %s image" % (path, what)) from None
    except OSError as e:
        raise PlatformError("%s: cannot read it (%s)" % (path, e.strerror or e)) from None


def check_bios(path, image, address_bits):
    """Raise a PlatformError naming `path` unless `image` can be a system BIOS."""
    size = len(image)
    if size == 0:
        raise PlatformError("%s: the BIOS image is empty" % path)
    if size % 4096:
        raise PlatformError("%s: the BIOS image is %d bytes, not a whole number of 4 KiB "
                            "pages" % (path, size))
    limit = min((1 << address_bits) // 2, 16 << 20) if address_bits > 20 else LOW_BIOS_LIMIT
    if size > limit:
        raise PlatformError("%s: the BIOS image is %d bytes, too large (at most %d)"
                            % (path, size, limit))
    if image[-16:] in (b"\xff" * 16, b"\x00" * 16):
        raise PlatformError("%s: the last 16 bytes, where the reset vector is, are blank: "
                            "not a BIOS image" % path)


def check_option_rom(path, image):
    """Raise a PlatformError naming `path` unless `image` is a PC option ROM."""
    if len(image) < 3 or image[0] != 0x55 or image[1] != 0xAA:
        raise PlatformError("%s: not an option ROM (no 55 AA signature)" % path)
    declared = image[2] * 512
    if declared == 0 or declared > len(image) + 511:
        raise PlatformError("%s: the ROM header says %d bytes but the file has %d"
                            % (path, declared, len(image)))
    if len(image) > 0x20000:
        raise PlatformError("%s: %d bytes is too large for a VGA BIOS (at most 128 KiB)"
                            % (path, len(image)))


# ===================================================================== CMOS contents

def floppy_type(path, size):
    try:
        return FLOPPY_TYPES[size][0]
    except KeyError:
        sizes = ", ".join("%d (%s)" % (s, d) for s, (_, d) in sorted(FLOPPY_TYPES.items()))
        raise PlatformError("%s: %d bytes is not a floppy image size (%s)"
                            % (path, size, sizes)) from None


def disk_geometry(sectors):
    """(cylinders, heads, sectors per track) of a hard disk of `sectors` 512-byte sectors,
    as the BIOS setup of a Bochs or QEMU PC gives it: 16 heads and 63 sectors per track,
    cylinders rounded down, at most 16383."""
    heads, spt = 16, 63
    cylinders = max(1, min(16383, sectors // (heads * spt)))
    return cylinders, heads, spt


def cmos_values(config, floppies, disks, boot_order):
    """The NVRAM bytes a PC's BIOS setup would have stored: {index: value}.

    `floppies`: CMOS drive types of A: and B: (0 = none); `disks`: geometry (c, h, s) or
    None for the two drives of the primary channel; `boot_order`: up to three of
    "floppy", "disk", "cdrom".
    Fields: IBM PC/AT technical reference (0x10-0x2F), and the extensions Bochs and QEMU
    firmware read (0x34/0x35 memory above 16 MiB, 0x38/0x3D boot order, 0x39 ATA
    translation, 0x5B-0x5D memory above 4 GiB, 0x5F CPU count - 1).
    """
    v = {}
    mem = config.memory
    base_kb = min(640, mem >> 10)
    ext_kb = min(0xFFFF, max(0, (mem - (1 << 20)) >> 10))
    above16 = min(0xFFFF, max(0, (mem - (16 << 20)) >> 16))
    v[0x0F] = 0x00                                   # shutdown status: normal POST
    v[0x10] = (floppies[0] << 4) | floppies[1]
    drives = sum(1 for t in floppies if t)
    equipment = 0x02 if _has_fpu(config) else 0  # bits 5:4 = 00: EGA/VGA
    if drives:
        equipment |= 0x01 | ((drives - 1) << 6)
    v[0x14] = equipment
    v[0x15], v[0x16] = base_kb & 0xFF, base_kb >> 8
    v[0x17], v[0x18] = ext_kb & 0xFF, ext_kb >> 8
    v[0x30], v[0x31] = ext_kb & 0xFF, ext_kb >> 8
    v[0x34], v[0x35] = above16 & 0xFF, above16 >> 8
    hd = 0
    translation = 0
    for i, geometry in enumerate(disks[:2]):
        base = 0x1B + 9 * i
        if geometry is None:
            continue
        c, h, s = geometry
        hd |= 0xF0 >> (4 * i)                        # type 15: see 0x19/0x1A
        v[0x19 + i] = 47                             # user-defined type
        v[base], v[base + 1] = c & 0xFF, c >> 8
        v[base + 2] = h
        v[base + 3], v[base + 4] = 0xFF, 0xFF       # no write precompensation
        v[base + 5] = 0xC0 | (0x08 if h > 8 else 0)
        v[base + 6], v[base + 7] = c & 0xFF, c >> 8  # landing zone
        v[base + 8] = s
        if c > 1024:
            translation |= 1 << (2 * i)              # LBA translation
    v[0x12] = hd
    v[0x39] = translation
    codes = {"floppy": 1, "disk": 2, "cdrom": 3}
    order = [codes[d] for d in boot_order][:3] + [0, 0, 0]
    v[0x3D] = order[0] | (order[1] << 4)
    v[0x38] = order[2] << 4               # bit 0 clear: check the floppy's boot signature
    v[0x5B], v[0x5C], v[0x5D] = 0, 0, 0
    v[0x5F] = 0                                       # one CPU
    # Checksum of 0x10-0x2D, big-endian at 0x2E [PC/AT technical reference].
    total = sum(v.get(i, 0) for i in range(0x10, 0x2E))
    v[0x2E], v[0x2F] = (total >> 8) & 0xFF, total & 0xFF
    return v


def _has_fpu(config):
    """An x87 on chip or in the coprocessor socket (the equipment word's bit 1)."""
    from core.models import coprocessor, get_model
    if not config.cpu:
        return False
    return bool(get_model(config.cpu).fpu) or coprocessor(config.cpu, config.fpu) is not None


# ===================================================================== the machine

@dataclass
class RunOutcome:
    """What one `PC.run` did."""
    reason: str              # "stop", "halt", "shutdown", "budget", "time"
    exit_status: int         # the process exit status it maps to
    description: str
    cycles: int
    instructions: int
    wall: float

    @property
    def mips(self):
        return self.instructions / self.wall / 1e6 if self.wall > 0 else 0.0


@dataclass
class PC:
    """A built machine: the Machine and its chips by name."""
    config: PCConfig
    machine: Machine
    chips: dict = field(default_factory=dict)
    media: dict = field(default_factory=dict)        # slot -> DiskImage
    bios_path: Path = None
    vgabios_path: Path = None
    notes: list = field(default_factory=list)
    kernel_plan: object = None                       # core.kboot.BootPlan of --kernel
    kboot_rom_address: int = None                    # where the ROM sits in the ISA area
    notes_info: list = field(default_factory=list)   # what was loaded (informational)

    @property
    def debugport(self):
        return self.chips["debugport"]

    def chip(self, name):
        return self.chips.get(name)

    # ------------------------------------------------------------ running
    def run(self, max_cycles=None, realtime=False, seconds=None, until=None, after_slice=None,
            max_slice=None):
        """Run until the guest stops, the CPU shuts down, `max_cycles` guest cycles pass,
        `seconds` of host time pass, or `until(pc)` (called between slices of at most a
        million cycles) returns true (reason "until").  `realtime` sleeps the host so
        that guest time does not run ahead of the wall clock (the guest sees nothing of
        it).  `after_slice()` is called after every slice (the trace recorder drains the
        CPU's buffer there); `max_slice` caps a slice's cycles (a recording's slices are
        shorter: debugger/trace.py, RECORD_SLICE_CYCLES)."""
        m = self.machine
        clock, cpu = m.clock, m.cpu
        start_cycles, start_icount = clock.now, cpu.icount
        end = None if max_cycles is None else start_cycles + max_cycles
        freq = clock.frequency
        slice_cycles = max(1, freq // 100) if realtime else 1_000_000
        cap = 1_000_000 if until is not None else 1 << 40
        if max_slice is not None:
            cap = min(cap, max(1, max_slice))
            slice_cycles = min(slice_cycles, cap)
        t_start = time.perf_counter()
        reason = "budget"
        while True:
            budget = slice_cycles
            if end is not None:
                if clock.now >= end:
                    reason = "budget"
                    break
                budget = min(budget, end - clock.now)
            t0 = time.perf_counter()
            reason = m.run(max_cycles=budget)
            dt = time.perf_counter() - t0
            if after_slice is not None:
                after_slice()
            if reason != "budget":
                break
            if until is not None and until(self):
                reason = "until"
                break
            if seconds is not None and time.perf_counter() - t_start >= seconds:
                reason = "time"
                break
            if realtime:
                ahead = (clock.now - start_cycles) / freq - (time.perf_counter() - t_start)
                if ahead > 0:
                    time.sleep(ahead)
            elif dt > 0:
                target = int(budget * 0.05 / dt)
                slice_cycles = max(10_000, min(target, slice_cycles * 4, cap))
        wall = time.perf_counter() - t_start
        status, text = self.exit_status(reason)
        return RunOutcome(reason, status, text, clock.now - start_cycles,
                          cpu.icount - start_icount, wall)

    def exit_status(self, reason):
        """(process exit status, description) for Machine.run's `reason`."""
        port = self.debugport
        if reason == "stop" and port.exit_status is not None:
            return port.exit_status, "the guest stopped: %s (exit status %d)" % (
                port.stop_reason, port.exit_status)
        if reason in ("stop", "halt"):
            return EXIT_CLEAN, ("the CPU halted with nothing to wake it" if reason == "halt"
                                else "stopped")
        if reason == "shutdown":
            return EXIT_TRIPLE_FAULT, "the CPU shut down (triple fault)"
        if reason == "time":
            return EXIT_CYCLE_LIMIT, "the time was up"
        if reason == "until":
            return EXIT_CLEAN, "the condition was met"
        return EXIT_CYCLE_LIMIT, "the cycle limit was reached"

    # ------------------------------------------------------------ looking at it
    def screen_text(self):
        """The VGA text screen as lines (trailing blanks removed), or None if the VGA is
        not in a text mode."""
        vga = self.chips.get("vga")
        if vga is not None:
            for name in ("text_screen", "screen_text", "text_lines", "text"):
                fn = getattr(vga, name, None)
                if callable(fn):
                    text = fn()
                    if isinstance(text, str):
                        text = text.split("\n")
                    return [line.rstrip() for line in text] if text else None
        # No VGA model: the colour text buffer as plain memory (80x25 char/attribute pairs).
        raw = self.machine.bus.read(0xB8000, 80 * 25 * 2)
        return [bytes(raw[r * 160:(r + 1) * 160:2]).decode("cp437").rstrip()
                for r in range(25)]

    def state_hash(self, h=None):
        """Feed the CPU state and the cycle count into a hash (for determinism tests)."""
        h = h or hashlib.sha256()
        state = self.machine.cpu.get_state()
        h.update(repr(sorted(state.items())).encode())
        h.update(str(self.machine.clock.now).encode())
        return h

    def close(self):
        for image in self.media.values():
            try:
                image.close()
            except Exception:
                pass
        for chip in self.chips.values():
            close = getattr(chip, "close", None)
            if callable(close) and chip is not self.chips.get("debugport"):
                try:
                    close()
                except Exception:
                    pass


def build_pc(config, echo=None):
    """Build the machine `config` describes.  `echo` receives the port 0xE9 bytes (see
    peripherals.debugport.file_sink); raises PlatformError for a bad setting or file."""
    from core.models import coprocessor, get_model
    from peripherals.debugport import DebugPort
    from peripherals.diskimage import DiskImage

    if config.machine not in MACHINE_TYPES:
        raise PlatformError("unknown machine type %r (choose from %s)"
                            % (config.machine, ", ".join(MACHINE_TYPES)))
    config.cpu = config.cpu or DEFAULT_CPU[config.machine]
    try:
        model = get_model(config.cpu)
    except ValueError as e:
        raise PlatformError(str(e)) from None
    config.cpu = model.name
    try:
        config.fpu = coprocessor(model, config.fpu)
    except ValueError as e:
        raise PlatformError("fpu: %s" % e) from None
    if config.bus_timing and model.name not in ("8086", "8088"):
        raise PlatformError("bus timing models the 8086 and 8088 only, not the %s"
                            % model.name)
    if not isinstance(config.memory, int) or config.memory <= 0:
        raise PlatformError("memory must be a positive number of bytes, not %r"
                            % (config.memory,))
    if config.memory > MAX_MEMORY:
        raise PlatformError("memory: %d bytes of RAM is more than this PC can address "
                            "(3.75 GiB)" % config.memory)
    if config.boot is not None and config.boot not in BOOT_DEVICES:
        raise PlatformError("unknown boot device %r (choose from %s)"
                            % (config.boot, ", ".join(BOOT_DEVICES)))

    # ---- firmware
    bios_path = (resolve_firmware(config.bios, FIRMWARE_NAMES, "BIOS") if config.bios
                 else discover_bios(config.machine))
    bios = read_file(bios_path, "BIOS")
    check_bios(bios_path, bios, model.address_bits)
    if config.vgabios in ("none", "off"):
        vga_path = None
    elif config.vgabios:
        vga_path = resolve_firmware(config.vgabios, VGABIOS_NAMES, "VGA BIOS")
    elif config.bios_only:
        vga_path = None
    else:
        vga_path = discover_vgabios(bios)
    vgabios = None
    if vga_path is not None:
        vgabios = read_file(vga_path, "VGA BIOS")
        check_option_rom(vga_path, vgabios)

    # ---- media (opened first: a bad image is reported before anything is built)
    media = {}
    try:
        for slot in ("fda", "fdb", "hda", "hdb"):
            path = getattr(config, slot)
            if path:
                journal = None
                if config.overlays and not config.commit:
                    # A named machine's disks: the guest's writes persist beside the
                    # machine file, never in the image (peripherals/diskimage.py).
                    try:
                        os.makedirs(config.overlays, exist_ok=True)
                    except OSError as e:
                        raise DiskImageError("%s: cannot create the overlay directory (%s)"
                                             % (config.overlays, e.strerror or e)) from None
                    journal = os.path.join(config.overlays, slot + ".overlay")
                media[slot] = DiskImage(path, commit=config.commit, overlay_file=journal)
        if config.cdrom:
            media["cdrom"] = DiskImage(config.cdrom, read_only=True, sector_size=2048)
    except DiskImageError as e:
        for image in media.values():
            image.close()
        raise PlatformError(str(e)) from None
    floppies = [floppy_type(media[s].path, media[s].size) if s in media else 0
                for s in ("fda", "fdb")]
    for slot in ("hda", "hdb"):
        if slot in media and media[slot].size % 512:
            raise PlatformError("%s: %d bytes is not a whole number of 512-byte sectors"
                                % (media[slot].path, media[slot].size))
    if "cdrom" in media and media["cdrom"].size % 2048:
        raise PlatformError("%s: %d bytes is not a whole number of 2048-byte sectors (not "
                            "an ISO image)" % (media["cdrom"].path, media["cdrom"].size))
    boot_order = _boot_order(config, media)
    plan = None
    if config.kernel:
        try:
            plan = _kernel_plan(config, model, boot_order)
        except PlatformError:
            for image in media.values():
                image.close()
            raise

    # ---- scripted and recorded input, checked before anything is built
    try:
        key_events, replay_log = _input_plan(config, model)
    except PlatformError:
        for image in media.values():
            image.close()
        raise

    # ---- the machine
    m = Machine(cpu=model.name, memory=config.memory, fpu=config.fpu,
                bus_timing=config.bus_timing)
    pc = PC(config=config, machine=m, media=media, bios_path=bios_path, vgabios_path=vga_path)
    pc.chips["debugport"] = DebugPort(m, echo=echo)
    isa_image = _isa_image(m, bios, vgabios)
    kboot_rom = None
    if plan is not None:
        isa_image, kboot_rom = _kernel_rom(pc, plan, isa_image, vgabios)
    _map_high_bios(m, bios)

    for name, builder in CHIP_BUILDERS:
        if name in ("pci", "fwcfg") and config.machine != "pc":
            continue
        chip = builder(pc)
        if chip is not None:
            pc.chips[name] = chip

    if config.machine == "pc":
        _build_pci(pc, isa_image, vgabios, boot_order)
    else:
        _map_isa_image(m, isa_image)
        if plan is not None:
            # QEMU's isapc has fw_cfg too; here it is built only for a kernel boot,
            # which is the one thing on isapc that reads it.
            from peripherals.fwcfg import FwCfg
            letter = {"floppy": "a", "disk": "c", "cdrom": "d"}[boot_order[0]]
            pc.chips["fwcfg"] = FwCfg(m, ram_size=config.memory, boot_device=letter,
                                      dma=True)
    if plan is not None:
        _install_kernel(pc, plan, kboot_rom)

    _fill_cmos(pc, floppies, _disk_geometries(pc), boot_order)
    _isa_timing(pc)
    if key_events:
        from core import keys
        keys.schedule(pc.chips["i8042"], key_events)
    if replay_log is not None:
        from core import keys
        try:
            keys.replay(pc, config.replay_input)
        except keys.KeysError as e:
            pc.close()
            raise PlatformError(str(e)) from None
    return pc


def _isa_timing(pc):
    """Port I/O to the chips on the ISA bus costs the CPU the ISA bus cycle (about 1 us),
    as Linux's PIT calibration and every BIOS delay loop through port 0x80 expect.  On
    the `pc` machine the PIIX3's legacy chips (8237, 8254, 8259) and the X-bus devices
    (RTC, 8042, COM1, FDC, NPX, POST port) answer on ISA; the VGA and the IDE channels
    are PCI functions there, and fw_cfg and the PCI configuration ports are not ISA
    devices.  On `isapc` everything is on ISA."""
    from peripherals.fwcfg import FwCfg
    from peripherals.pci import PCIBus
    off_isa = (FwCfg, PCIBus)
    if pc.config.machine == "pc":
        from peripherals.ata import Channel
        from peripherals.vga import Vga
        off_isa += (Channel, Vga)
    m = pc.machine
    m.bus.set_isa_timing(m.clock.frequency, lambda owner: not isinstance(owner, off_isa))


def _input_plan(config, model):
    """The keyboard events of --keys/--keys-file and the input log of --replay-input."""
    from core import keys
    out = []
    try:
        if config.keys_text is not None:
            start = keys.guest_cycles(config.keys_at or "1s", model.frequency)
            out += keys.events(["type " + config.keys_text], model.frequency, start)
        if config.keys_file:
            try:
                with open(config.keys_file, encoding="utf-8") as f:
                    script = f.read()
            except OSError as e:
                raise PlatformError("%s: cannot read the keys file (%s)"
                                    % (config.keys_file, e.strerror or e)) from None
            try:
                out += keys.events(script, model.frequency)
            except keys.KeysError as e:
                raise PlatformError("%s: %s" % (config.keys_file, e)) from None
        replay_log = keys.load_input_log(config.replay_input) if config.replay_input else None
    except keys.KeysError as e:
        raise PlatformError("keys: %s" % e if "input log" not in str(e) else str(e)) from None
    return sorted(out, key=lambda ce: ce[0]), replay_log


def _kernel_plan(config, model, boot_order):
    """The direct kernel boot of --kernel/--initrd/--append (core/kboot.py)."""
    from core import kboot
    from core.models import ISA_386
    if model.isa < ISA_386:
        raise PlatformError("--kernel: booting a kernel needs a 386 or later CPU, not the %s"
                            % model.name)
    try:
        return kboot.prepare(config.kernel, config.initrd, config.append,
                             ram_size=config.memory,
                             boot_drive=0x00 if boot_order[0] == "floppy" else 0x80)
    except kboot.KernelBootError as e:
        raise PlatformError(str(e)) from None


def _kernel_rom(pc, plan, isa_image, vgabios):
    """The kernel boot option ROM, also placed in the ISA option-ROM area (where the
    Bochs BIOSes find it; SeaBIOS takes it from fw_cfg)."""
    from core import kboot
    rom = kboot.option_rom(plan.params)
    where = kboot.isa_rom_address(len(vgabios) if vgabios is not None else 0)
    if where + len(rom) > kboot.ISA_ROM_END:
        raise PlatformError("no room for the kernel boot ROM after the VGA BIOS")
    image = bytearray(isa_image)
    off = where - 0xC0000
    image[off:off + len(rom)] = rom
    pc.kboot_rom_address = where
    return bytes(image), rom


def _install_kernel(pc, plan, rom):
    from core import kboot
    fw = pc.chips["fwcfg"]
    for key, value in plan.items.items():
        fw.add(key, value)
    fw.add_file(kboot.ROM_NAME, rom)
    pc.kernel_plan = plan
    pc.notes_info = list(plan.description)


def _boot_order(config, media):
    if config.boot:
        first = config.boot
    elif "fda" in media:
        first = "floppy"
    elif "hda" in media or "hdb" in media:
        first = "disk"
    elif "cdrom" in media:
        first = "cdrom"
    else:
        first = "disk"
    rest = [d for d in ("floppy", "disk", "cdrom") if d != first]
    return [first] + rest


def _isa_image(m, bios, vgabios):
    """The 256 KiB of 0xC0000-0xFFFFF as the ISA side shows it: VGA BIOS, BIOS, 0xFF."""
    image = bytearray(b"\xff" * 0x40000)
    low = bios[-LOW_BIOS_LIMIT:]
    image[len(image) - len(low):] = low
    if vgabios is not None:
        image[0:len(vgabios)] = vgabios
    return bytes(image)


def _map_isa_image(m, image):
    """Map the ISA image at 0xC0000 as ROM.  Its empty parts too: a PC/AT has no RAM
    between 640 KiB and 1 MiB, so they read 0xFF and drop writes."""
    m.bus.map_rom(0xC0000, image)


def _map_high_bios(m, bios):
    top = 1 << m.bus.address_bits
    if top > (1 << 20):
        m.bus.map_rom(top - len(bios), bios)


# ===================================================================== chip adapters
# One function per peripherals/ module: it builds the chip from the configuration.

def _chip_pic(pc):
    # On `pc` the edge/level control registers (ELCR, 0x4D0/0x4D1) of the PIIX3 are
    # modelled with the PIC, whose inputs they configure.
    return PIC(pc.machine, elcr=pc.config.machine == "pc")


def _chip_pit(pc):
    return PIT(pc.machine)


def _chip_rtc(pc):
    cls = RTC
    try:
        return cls(pc.machine, time=pc.config.rtc_start)
    except ValueError as e:
        raise PlatformError("rtc start %r: %s" % (pc.config.rtc_start, e)) from None


# The Bochs BIOS waits for the keyboard's reply to Reset (0xFF) with a counted loop of
# 65535 status reads, a few milliseconds on a fast CPU; it was written for emulated
# keyboards that pass their Basic Assurance Test at once.  The i8042 model's BAT takes
# 300 ms (a real keyboard's figure), which makes that BIOS halt with "Keyboard error:31".
# The PC's keyboard therefore passes its BAT this fast.
PC_KEYBOARD_BAT_US = 2_000


def _chip_i8042(pc):
    return I8042(pc.machine, port92=True, bat_us=PC_KEYBOARD_BAT_US)


def _chip_uart(pc):
    backend = None
    if pc.config.serial:
        try:
            backend = open_serial(pc.config.serial)
        except ValueError as e:
            raise PlatformError("--serial: %s" % e) from None
        except OSError as e:
            raise PlatformError("--serial %s: %s" % (pc.config.serial, e.strerror or e)) from None
    return UART(pc.machine, com=1, backend=backend)


def _chip_dma(pc):
    return DMA(pc.machine)


def _chip_fdc(pc):
    fdc = FDC(pc.machine)
    first = None
    for unit, slot in enumerate(("fda", "fdb")):
        image = pc.media.get(slot)
        if image is not None:
            media = fdc.insert(unit, image)
            first = first or media
    # The 82077AA comes out of a hardware reset at 250 kbit/s.  A PC BIOS programs the
    # data rate (CCR, 0x3F7) before it reads, but the Bochs BIOS never does (its emulator
    # ignores the rate), so a 1.44M disk, written at 500 kbit/s, would read as missing
    # address marks.  The board starts with the rate of the disk in drive A, as if the
    # setup code of a real BIOS had run; the Bochs BIOS then reads what it expects.
    rates = getattr(first, "rates", None)
    if rates and hasattr(fdc, "rate"):
        fdc.rate = min(rates)
    return fdc


def _chip_ata(pc):
    cls = ATA
    cdrom = pc.media.get("cdrom")
    if cdrom is not None:
        cdrom = CDROM(cdrom)        # the secondary master, as QEMU's -cdrom
    try:
        return cls(pc.machine, hda=pc.media.get("hda"), hdb=pc.media.get("hdb"),
                   cdrom=cdrom, commit=pc.config.commit)
    except (ValueError, DiskImageError) as e:
        raise PlatformError(str(e)) from None


def _disk_geometries(pc):
    """(cylinders, heads, sectors) of hard disks 0 and 1 as their drives report them in
    IDENTIFY (the CMOS must say the same), or computed when there is no ATA model."""
    ata = pc.chips.get("ata")
    out = []
    for unit, slot in enumerate(("hda", "hdb")):
        if slot not in pc.media:
            out.append(None)
            continue
        drive = ata.drive(0, unit) if ata is not None else None
        if drive is not None and hasattr(drive, "cylinders"):
            out.append((drive.cylinders, drive.heads, drive.sectors))
        else:
            out.append(disk_geometry(pc.media[slot].sectors))
    return out


def _chip_vga(pc):
    return Vga(pc.machine)


def _chip_npx(pc):
    return NPX(pc.machine)


CHIP_BUILDERS = (
    ("pic", _chip_pic),
    ("pit", _chip_pit),
    ("rtc", _chip_rtc),
    ("i8042", _chip_i8042),
    ("uart", _chip_uart),
    ("dma", _chip_dma),
    ("fdc", _chip_fdc),
    ("ata", _chip_ata),
    ("vga", _chip_vga),
    ("npx", _chip_npx),
)


def _build_pci(pc, isa_image, vgabios, boot_order):
    from peripherals.fwcfg import FwCfg
    from peripherals.pci import I440FX, PCIBus, PIIX3IDE, PIIX3ISA

    m = pc.machine
    bus = PCIBus(m)
    host = bus.add(0, 0, I440FX(m, isa_image=isa_image))
    pic = pc.chips.get("pic")
    pic_owns_elcr = pic is not None and bool(getattr(pic, "has_elcr", False))
    isa = bus.add(1, 0, PIIX3ISA(m, own_elcr=not pic_owns_elcr))
    bus.reset_port = isa
    ide = bus.add(1, 1, PIIX3IDE(m))
    pc.chips["pci"] = bus
    pc.chips["i440fx"] = host
    pc.chips["piix3"] = isa
    pc.chips["piix3-ide"] = ide
    letter = {"floppy": "a", "disk": "c", "cdrom": "d"}[boot_order[0]]
    fw = FwCfg(m, ram_size=pc.config.memory, boot_device=letter, dma=True)
    if vgabios is not None:
        # SeaBIOS (a QEMU build) does not scan 0xC0000 for an ISA VGA BIOS: it loads the
        # "vgaroms/" files, as QEMU hands its ISA VGA's ROM over.
        fw.add_file("vgaroms/" + (pc.vgabios_path.name if pc.vgabios_path else "vgabios.bin"),
                    vgabios)
    pc.chips["fwcfg"] = fw


FLOPPY_NAMES = {0: None, 1: "360K", 2: "1.2M", 3: "720K", 4: "1.44M", 5: "2.88M"}


def _fill_cmos(pc, floppies, disks, boot_order):
    """Store the BIOS setup's NVRAM fields in the RTC (see cmos_values)."""
    rtc = pc.chips.get("rtc")
    values = cmos_values(pc.config, floppies, disks, boot_order)
    pc.cmos = values
    if rtc is None:
        return
    configure = getattr(rtc, "configure_bios", None)
    poke = getattr(rtc, "poke", None)
    if configure is not None and poke is not None:
        configure(pc.config.memory,
                  floppies=[FLOPPY_NAMES[t] for t in floppies],
                  disk_types=[47 if g else None for g in disks],
                  boot_order=boot_order, fpu=_has_fpu(pc.config),
                  ata_translation=[("lba" if g[0] > 1024 else "none") if g else None
                                   for g in disks])
        # What the RTC's setup leaves out: the user-defined geometry of disks 0 and 1
        # (type 47, bytes 0x1B-0x2C), memory above 4 GiB and the CPU count.
        for index in list(range(0x1B, 0x2D)) + [0x5B, 0x5C, 0x5D, 0x5F]:
            poke(index, values.get(index, 0))
        getattr(rtc, "update_checksum", lambda: None)()
        return
    for name in ("nvram_write", "set_nvram", "cmos_write", "write_nvram", "poke"):
        fn = getattr(rtc, name, None)
        if callable(fn):
            for index, value in values.items():
                fn(index, value)
            return
    pc.notes.append("the RTC model offers no way to fill its NVRAM; CMOS left as it is")


# ===================================================================== machine files

def _resolve_first_word(base, entry):
    """An --initrd entry ("file args") with its file made relative to `base`."""
    entry = entry.strip()
    name, _, rest = entry.partition(" ")
    p = Path(name).expanduser()
    if not p.is_absolute():
        p = (base / p).resolve()
    return (str(p) + " " + rest.strip()).strip()


# The machine file's keys whose values name files (e9 and serial: "file:PATH").
FILE_KEYS = ("bios", "vgabios", "fda", "fdb", "hda", "hdb", "cdrom", "kernel", "initrd",
             "overlays", "screenshot", "keys_file", "input_log", "replay_input", "e9",
             "serial")


def load_machine_file(name_or_path, search=None):
    """A PCConfig's keys from a TOML machine file, with paths made absolute.

    `name_or_path`: a path to a .toml file, or a name looked up as NAME.toml in the
    current directory and then in the machine directory (core/machines.machine_dir:
    $CYCLE86_MACHINES, else ~/.config/cycle86/machines).
    """
    try:
        import tomllib
    except ModuleNotFoundError:              # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise PlatformError("reading a machine file needs Python 3.11 or the "
                                "'tomli' package") from None
    path = Path(name_or_path).expanduser()
    candidates = [path]
    if path.suffix != ".toml":
        candidates = [Path(str(path) + ".toml")]
        from core.machines import machine_dir
        for d in (search or [Path.cwd(), machine_dir()]):
            candidates.append(Path(d) / (path.name + ".toml"))
    for c in candidates:
        if c.is_file():
            path = c
            break
    else:
        raise PlatformError("%s: no such machine file (looked for %s)"
                            % (name_or_path, ", ".join(str(c) for c in candidates)))
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise PlatformError("%s: not valid TOML: %s" % (path, e)) from None
    except OSError as e:
        raise PlatformError("%s: cannot read it (%s)" % (path, e.strerror or e)) from None
    if "machine" in data and isinstance(data["machine"], dict):
        data = dict(data["machine"], **{k: v for k, v in data.items() if k != "machine"})
    out = {}
    known = set(PCConfig.keys()) - {"bios_only"}
    for key, value in data.items():
        k = key.replace("-", "_")
        if k == "type":
            k = "machine"
        if k not in known:
            raise PlatformError("%s: unknown key %r (known: %s)"
                                % (path, key, ", ".join(sorted(known))))
        if k in FILE_KEYS and isinstance(value, str) and "\0" in value:
            # No file name holds one; the OS calls would raise ValueError on it.
            raise PlatformError("%s: %s: %r is not a file name (it has a NUL byte)"
                                % (path, key, value))
        if k == "initrd" and isinstance(value, str):
            value = ",".join(_resolve_first_word(path.parent, entry)
                             for entry in value.split(",") if entry.strip())
        if k in ("bios", "vgabios", "fda", "fdb", "hda", "hdb", "cdrom", "kernel", "overlays",
                 "screenshot", "keys_file", "input_log", "replay_input") \
                and isinstance(value, str):
            # Names of installed firmware and the VGA BIOS's "none"/"off" are not files;
            # anything else is a path relative to the machine file.
            if not ((k == "bios" and value in FIRMWARE_NAMES)
                    or (k == "vgabios" and (value in VGABIOS_NAMES or value in ("none", "off")))):
                value = str((path.parent / Path(value).expanduser()).resolve()) \
                    if not os.path.isabs(os.path.expanduser(value)) else os.path.expanduser(value)
        if k == "e9" or k == "serial":
            if isinstance(value, str) and value.startswith("file:"):
                p = Path(value[5:]).expanduser()
                if not p.is_absolute():
                    value = "file:" + str(path.parent / p)
        out[k] = value
    return path, out
