"""Direct kernel boot, as QEMU's -kernel/-initrd/-append: a Linux bzImage or a Multiboot
kernel started by the BIOS after its POST instead of a boot sector.

The host side of it lives here: the kernel file is read and checked, its pieces are laid
out in guest memory and handed to fw_cfg (QEMU's classic items FW_CFG_SETUP_*,
FW_CFG_KERNEL_*, FW_CFG_INITRD_*, FW_CFG_CMDLINE_*), and the option ROM
core/guests/kboot.asm gets a parameter block saying what to do with them.  The ROM hooks
INT 19h during POST and, when the BIOS boots, loads the pieces with fw_cfg DMA and starts
the kernel (docs/kernel-boot.md).

* Linux [Documentation/arch/x86/boot.rst]: protocol 2.02 or later, a bzImage (LOADED_HIGH).
  The real-mode code (boot sector and setup, with the setup header filled in) goes to
  0x10000, the command line to 0x20000, the protected-mode kernel to 1 MiB; the ROM puts
  the initrd as high as the BIOS's memory map and initrd_addr_max allow and runs the setup
  code in real mode, as a 16-bit boot loader does.  The setup code then calls the BIOS
  (E820, video) itself.
* Multiboot [Multiboot Specification 0.6.96]: the header in the first 8 KiB; an ELF32
  kernel (PT_LOAD segments at their physical addresses) or the a.out kludge (flag 16).
  Modules (--initrd a,b with an optional command line after a space) are page aligned
  after the kernel; the boot information is at 0x10000 and the ROM fills in its memory
  fields and memory map from the BIOS.

Nothing here writes to the user's files.
"""
import struct
from dataclasses import dataclass, field
from pathlib import Path

from peripherals import fwcfg

ROM_PATH = Path(__file__).resolve().parent / "guests" / "kboot.rom"
ROM_NAME = "genroms/kboot.rom"          # the fw_cfg file SeaBIOS runs
ROM_BLOCK = 2048                        # option ROMs sit on 2 KiB boundaries
ISA_ROM_FIRST = 0xC8000                 # where the Bochs BIOS starts scanning ...
ISA_ROM_END = 0xE0000                   # ... and where it stops
PARAMS_OFFSET = 0x40
PNP_OFFSET = 0x20
PARAMS_MAGIC = b"C86K"
KIND_LINUX, KIND_MULTIBOOT = 1, 2

# Guest memory layout
BOOT_DATA = 0x10000             # Linux real-mode code / Multiboot boot information
LINUX_CMDLINE = 0x20000         # the Linux command line (X + 0x10000 in boot.rst)
LOW_LIMIT = 0x9F000             # keep the low-memory pieces below the EBDA
HIGH_LOAD = 0x100000            # 1 MiB

# Linux setup header offsets [boot.rst, "The Real-Mode Kernel Header"]
HDR_SETUP_SECTS = 0x1F1
HDR_SYSSIZE = 0x1F4
HDR_VID_MODE = 0x1FA
HDR_BOOT_FLAG = 0x1FE
HDR_HEADER = 0x202
HDR_VERSION = 0x206
HDR_TYPE_OF_LOADER = 0x210
HDR_LOADFLAGS = 0x211
HDR_CODE32_START = 0x214
HDR_RAMDISK_IMAGE = 0x218
HDR_RAMDISK_SIZE = 0x21C
HDR_HEAP_END_PTR = 0x224
HDR_EXT_LOADER_VER = 0x226
HDR_EXT_LOADER_TYPE = 0x227
HDR_CMD_LINE_PTR = 0x228
HDR_INITRD_ADDR_MAX = 0x22C
HDR_KERNEL_ALIGNMENT = 0x230
HDR_RELOCATABLE = 0x234
HDR_CMDLINE_SIZE = 0x238
HDR_PREF_ADDRESS = 0x258
HDR_INIT_SIZE = 0x260
LOADED_HIGH = 0x01
QUIET_FLAG = 0x20
CAN_USE_HEAP = 0x80
TYPE_OF_LOADER = 0xFF            # "undefined": cycle86 has no assigned boot loader id
LINUX_HEAP_END = 0x10000         # heap and stack take the rest of the 64 KiB segment
LINUX_SP = 0xFFF0
SETUP_MAX_SECTS = 64             # the kernel's build tool refuses more (SETUP_SECT_MAX)

# Multiboot [Multiboot 0.6.96, 3.1 "OS image format", 3.3 "Boot information format"]
MB_MAGIC = 0x1BADB002
MB_BOOT_MAGIC = 0x2BADB002
MB_SEARCH = 8192
MB_PAGE_ALIGN = 1 << 0
MB_MEMORY_INFO = 1 << 1
MB_VIDEO_MODE = 1 << 2
MB_AOUT_KLUDGE = 1 << 16
MB_KNOWN_REQUIRED = MB_PAGE_ALIGN | MB_MEMORY_INFO | MB_VIDEO_MODE
MBI_SIZE = 0x80                  # the structure with room to spare (0.6.96 uses 88 bytes)
MBI_MMAP_ROOM = 64 * 24          # up to 64 memory map entries
MBI_F_MEM, MBI_F_BOOTDEV, MBI_F_CMDLINE, MBI_F_MODS = 1 << 0, 1 << 1, 1 << 2, 1 << 3
MBI_F_MMAP, MBI_F_LOADER = 1 << 6, 1 << 9
LOADER_NAME = "cycle86"


class KernelBootError(Exception):
    """A kernel, initrd or command line that cannot be booted: one line naming the file."""


@dataclass
class Module:
    path: str
    string: str                  # what the kernel gets as the module's command line
    data: bytes
    start: int = 0


@dataclass
class BootPlan:
    """What the host prepared: fw_cfg items and the ROM's parameter block."""
    kind: str                    # "linux" or "multiboot"
    items: dict                  # fw_cfg selector -> bytes
    params: dict                 # the ROM's parameter block, by field name
    description: list = field(default_factory=list)
    header: dict = field(default_factory=dict)     # Linux: the setup header as parsed
    modules: list = field(default_factory=list)    # Multiboot
    info: bytes = b""            # Multiboot: the boot information as handed over
    entry: int = 0


# ===================================================================== reading files

def read_input(path, what):
    try:
        return Path(path).expanduser().read_bytes()
    except FileNotFoundError:
        raise KernelBootError("%s: no such %s file" % (path, what)) from None
    except IsADirectoryError:
        raise KernelBootError("%s: is a directory, not a %s" % (path, what)) from None
    except OSError as e:
        raise KernelBootError("%s: cannot read it (%s)" % (path, e.strerror or e)) from None


def parse_initrd_list(text):
    """`--initrd` as QEMU takes it: files separated by commas; for Multiboot each may be
    followed by its command line after a space ("mod.bin arg1 arg2,other.bin").
    Returns [(path, whole entry)]."""
    out = []
    for entry in (text or "").split(","):
        entry = entry.strip()
        if not entry:
            continue
        out.append((entry.split()[0], entry))
    return out


def _u8(d, o):
    return d[o]


def _u16(d, o):
    return struct.unpack_from("<H", d, o)[0]


def _u32(d, o):
    return struct.unpack_from("<I", d, o)[0]


def _u64(d, o):
    return struct.unpack_from("<Q", d, o)[0]


def _align_up(v, a):
    return (v + a - 1) // a * a if a > 1 else v


# ===================================================================== Linux

def is_bzimage(data):
    return len(data) >= HDR_HEADER + 4 and data[HDR_HEADER:HDR_HEADER + 4] == b"HdrS"


def parse_linux_header(data, path="kernel"):
    """The boot-protocol fields of a Linux image as a dict; raises KernelBootError
    naming `path` for what cycle86 cannot boot."""
    if not is_bzimage(data):
        raise KernelBootError("%s: not a Linux kernel (no \"HdrS\" setup header at 0x202)"
                              % path)
    h = {"version": _u16(data, HDR_VERSION)}
    version = h["version"]
    h["version_text"] = "%d.%02d" % (version >> 8, version & 0xFF)
    if version < 0x0202:
        raise KernelBootError("%s: boot protocol %s is too old (cycle86 boots 2.02 and later)"
                              % (path, h["version_text"]))
    if len(data) < 0x300:
        raise KernelBootError("%s: truncated: %d bytes, shorter than the setup header"
                              % (path, len(data)))
    if _u16(data, HDR_BOOT_FLAG) != 0xAA55:
        raise KernelBootError("%s: the boot sector has no 55 AA boot flag at 0x1FE" % path)
    h["loadflags"] = data[HDR_LOADFLAGS]
    if not h["loadflags"] & LOADED_HIGH:
        raise KernelBootError("%s: a zImage (LOADED_HIGH clear in loadflags): cycle86 boots "
                              "bzImage kernels only" % path)
    sects = data[HDR_SETUP_SECTS] or 4
    if sects > SETUP_MAX_SECTS:
        raise KernelBootError("%s: setup_sects is %d, more than the %d a kernel can have"
                              % (path, sects, SETUP_MAX_SECTS))
    h["setup_sects"] = sects
    setup_size = (sects + 1) * 512
    h["setup_size"] = setup_size
    if len(data) <= setup_size:
        raise KernelBootError("%s: truncated: %d bytes, but the real-mode code alone is %d "
                              "(setup_sects %d)" % (path, len(data), setup_size, sects))
    if version >= 0x0204:
        h["syssize"] = _u32(data, HDR_SYSSIZE)
        # syssize counts 16-byte paragraphs rounded up, so the file may end up to 15
        # bytes short of syssize * 16 (memtest86+'s images do; boot loaders load them).
        need = setup_size + h["syssize"] * 16
        if len(data) <= need - 16:
            raise KernelBootError("%s: truncated: %d bytes, but setup_sects and syssize say "
                                  "%d" % (path, len(data), need))
    else:
        h["syssize"] = _u16(data, HDR_SYSSIZE)
    h["kernel_size"] = len(data) - setup_size
    h["cmdline_size"] = _u32(data, HDR_CMDLINE_SIZE) if version >= 0x0206 else 255
    h["initrd_addr_max"] = _u32(data, HDR_INITRD_ADDR_MAX) if version >= 0x0203 else 0x37FFFFFF
    h["code32_start"] = _u32(data, HDR_CODE32_START)
    h["relocatable"] = bool(data[HDR_RELOCATABLE]) if version >= 0x0205 else False
    h["kernel_alignment"] = _u32(data, HDR_KERNEL_ALIGNMENT) if version >= 0x0205 else 0
    h["pref_address"] = _u64(data, HDR_PREF_ADDRESS) if version >= 0x020A else HIGH_LOAD
    h["init_size"] = _u32(data, HDR_INIT_SIZE) if version >= 0x020A else 0
    # Where the kernel runs while it unpacks itself [boot.rst, init_size]: a
    # relocatable kernel at the load address rounded up to its alignment, any other
    # one at its preferred address.
    if h["relocatable"]:
        h["runtime_start"] = _align_up(HIGH_LOAD, max(1, h["kernel_alignment"]))
    else:
        h["runtime_start"] = h["pref_address"] or HIGH_LOAD
    h["kernel_end"] = max(HIGH_LOAD + h["kernel_size"], h["runtime_start"] + h["init_size"])
    return h


def vga_mode(cmdline):
    """vid_mode from a vga= option on the command line [boot.rst, "Special command line
    options"]: normal (0xFFFF, also the default), ext (0xFFFE), ask (0xFFFD) or a number."""
    mode = 0xFFFF
    for word in cmdline.split():
        if word.startswith("vga="):
            value = word[4:]
            named = {"normal": 0xFFFF, "ext": 0xFFFE, "ask": 0xFFFD}
            if value in named:
                mode = named[value]
            else:
                try:
                    mode = int(value, 0) & 0xFFFF
                except ValueError:
                    raise KernelBootError("--append: vga=%s is not normal, ext, ask or a "
                                          "number" % value) from None
    return mode


def linux_plan(data, path, initrds, cmdline, ram_size):
    h = parse_linux_header(data, path)
    raw = cmdline.encode("latin-1", errors="replace")
    if len(raw) > h["cmdline_size"]:
        raise KernelBootError("--append: the command line is %d characters, more than the "
                              "%d that %s takes (cmdline_size)" % (len(raw), h["cmdline_size"],
                                                                  path))
    if len(initrds) > 1:
        raise KernelBootError("--initrd: a Linux kernel takes one initrd, not %d files"
                              % len(initrds))
    if h["kernel_end"] > ram_size:
        raise KernelBootError("%s: the kernel needs RAM up to 0x%X (init_size 0x%X from "
                              "0x%X), more than the %d MiB given"
                              % (path, h["kernel_end"], h["init_size"], h["runtime_start"],
                                 ram_size >> 20))
    setup = bytearray(data[:h["setup_size"]])
    vid = vga_mode(cmdline)
    setup[HDR_VID_MODE:HDR_VID_MODE + 2] = struct.pack("<H", vid)
    setup[HDR_TYPE_OF_LOADER] = TYPE_OF_LOADER
    setup[HDR_LOADFLAGS] = (setup[HDR_LOADFLAGS] | CAN_USE_HEAP) & ~QUIET_FLAG & 0xFF
    struct.pack_into("<H", setup, HDR_HEAP_END_PTR, LINUX_HEAP_END - 0x200)
    setup[HDR_EXT_LOADER_VER] = 0
    setup[HDR_EXT_LOADER_TYPE] = 0
    struct.pack_into("<I", setup, HDR_CMD_LINE_PTR, LINUX_CMDLINE)
    struct.pack_into("<II", setup, HDR_RAMDISK_IMAGE, 0, 0)   # the ROM fills them in
    kernel = data[h["setup_size"]:]
    initrd = b""
    initrd_end = min(h["initrd_addr_max"] + 1, 1 << 32)
    initrd_min = _align_up(h["kernel_end"], 4096)
    if initrds:
        ipath = initrds[0][0]
        initrd = read_input(ipath, "initrd")
        room = min(initrd_end, ram_size) - initrd_min
        if len(initrd) > room:
            raise KernelBootError(
                "%s: the initrd (%d bytes) does not fit in RAM: there are %d bytes between "
                "the kernel's end (0x%X) and min(initrd_addr_max + 1, RAM) (0x%X)"
                % (ipath, len(initrd), max(0, room), initrd_min, min(initrd_end, ram_size)))
    cmd = raw + b"\0"
    items = {
        fwcfg.FW_CFG_SETUP_ADDR: struct.pack("<I", BOOT_DATA),
        fwcfg.FW_CFG_SETUP_SIZE: struct.pack("<I", len(setup)),
        fwcfg.FW_CFG_SETUP_DATA: bytes(setup),
        fwcfg.FW_CFG_KERNEL_ADDR: struct.pack("<I", HIGH_LOAD),
        fwcfg.FW_CFG_KERNEL_SIZE: struct.pack("<I", len(kernel)),
        fwcfg.FW_CFG_KERNEL_DATA: kernel,
        fwcfg.FW_CFG_KERNEL_ENTRY: struct.pack("<I", h["code32_start"]),
        fwcfg.FW_CFG_CMDLINE_ADDR: struct.pack("<I", LINUX_CMDLINE),
        fwcfg.FW_CFG_CMDLINE_SIZE: struct.pack("<I", len(cmd)),
        fwcfg.FW_CFG_CMDLINE_DATA: cmd,
        fwcfg.FW_CFG_KERNEL_CMDLINE: struct.pack("<I", LINUX_CMDLINE),
        fwcfg.FW_CFG_INITRD_ADDR: struct.pack("<I", 0),
        fwcfg.FW_CFG_INITRD_SIZE: struct.pack("<I", len(initrd)),
        fwcfg.FW_CFG_INITRD_DATA: initrd,
    }
    params = dict(kind=KIND_LINUX, sp=LINUX_SP, initrd_end=initrd_end,
                  initrd_min=initrd_min, need_top=initrd_min, base=BOOT_DATA)
    h.update(vid_mode=vid, heap_end_ptr=LINUX_HEAP_END - 0x200, cmd_line_ptr=LINUX_CMDLINE,
             type_of_loader=TYPE_OF_LOADER)
    desc = ["Linux bzImage %s, boot protocol %s: real-mode code %d bytes at 0x%X, kernel %d "
            "bytes at 0x%X, command line at 0x%X" % (path, h["version_text"], len(setup),
                                                     BOOT_DATA, len(kernel), HIGH_LOAD,
                                                     LINUX_CMDLINE)]
    if initrd:
        desc.append("initrd %s, %d bytes, placed by the option ROM below 0x%X"
                    % (initrds[0][0], len(initrd), initrd_end))
    return BootPlan("linux", items, params, desc, header=h, entry=h["code32_start"])


# ===================================================================== Multiboot

def find_multiboot_header(data, path="kernel"):
    """(offset, flags) of a valid Multiboot header in the first 8 KiB, or None."""
    limit = min(len(data), MB_SEARCH) - 12
    bad = None
    for off in range(0, limit + 1, 4):
        if _u32(data, off) != MB_MAGIC:
            continue
        flags, checksum = _u32(data, off + 4), _u32(data, off + 8)
        if (MB_MAGIC + flags + checksum) & 0xFFFFFFFF == 0:
            return off, flags
        bad = off
    if bad is not None:
        raise KernelBootError("%s: the Multiboot header at offset 0x%X has a bad checksum"
                              % (path, bad))
    return None


def _multiboot_aout(data, path, off):
    if len(data) < off + 32:
        raise KernelBootError("%s: truncated Multiboot header at offset 0x%X" % (path, off))
    header_addr, load_addr, load_end, bss_end, entry = struct.unpack_from("<5I", data, off + 12)
    if load_addr > header_addr:
        raise KernelBootError("%s: Multiboot load_addr 0x%X is above header_addr 0x%X"
                              % (path, load_addr, header_addr))
    file_off = off - (header_addr - load_addr)
    if file_off < 0:
        raise KernelBootError("%s: Multiboot header_addr - load_addr (0x%X) reaches before "
                              "the start of the file" % (path, header_addr - load_addr))
    if load_end == 0:
        load_end = load_addr + len(data) - file_off
    if load_end < load_addr:
        raise KernelBootError("%s: Multiboot load_end_addr 0x%X is below load_addr 0x%X"
                              % (path, load_end, load_addr))
    if file_off + (load_end - load_addr) > len(data):
        raise KernelBootError("%s: truncated: the Multiboot header loads %d bytes from offset "
                              "%d, the file has %d" % (path, load_end - load_addr, file_off,
                                                       len(data)))
    if bss_end == 0:
        bss_end = load_end
    if bss_end < load_end:
        raise KernelBootError("%s: Multiboot bss_end_addr 0x%X is below load_end_addr 0x%X"
                              % (path, bss_end, load_end))
    segments = [(load_addr, data[file_off:file_off + load_end - load_addr], bss_end - load_addr)]
    return segments, entry, "a.out kludge"


def _multiboot_elf(data, path):
    if data[:4] != b"\x7fELF":
        raise KernelBootError("%s: a Multiboot kernel without the a.out kludge (flag 16) must "
                              "be an ELF file, and this is not one" % path)
    if len(data) < 52:
        raise KernelBootError("%s: truncated ELF header" % path)
    if data[4] != 1:
        raise KernelBootError("%s: a 64-bit ELF file: a Multiboot kernel is ELF32" % path)
    if data[5] != 1:
        raise KernelBootError("%s: a big-endian ELF file, not an x86 kernel" % path)
    e_type, e_machine = struct.unpack_from("<HH", data, 16)
    if e_machine != 3:
        raise KernelBootError("%s: ELF machine %d is not i386 (3)" % (path, e_machine))
    if e_type != 2:
        raise KernelBootError("%s: ELF type %d is not an executable (2)" % (path, e_type))
    e_entry, e_phoff = struct.unpack_from("<II", data, 24)
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 42)
    if e_phnum == 0 or e_phentsize < 32 or e_phoff + e_phnum * e_phentsize > len(data):
        raise KernelBootError("%s: truncated or missing ELF program headers" % path)
    segments = []
    entry = e_entry
    for i in range(e_phnum):
        p_type, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz = struct.unpack_from(
            "<6I", data, e_phoff + i * e_phentsize)
        if p_type != 1 or p_memsz == 0:                  # PT_LOAD only
            continue
        if p_offset + p_filesz > len(data):
            raise KernelBootError("%s: truncated: ELF segment %d needs bytes %d..%d, the file "
                                  "has %d" % (path, i, p_offset, p_offset + p_filesz, len(data)))
        if p_filesz > p_memsz:
            raise KernelBootError("%s: ELF segment %d has p_filesz > p_memsz" % (path, i))
        segments.append((p_paddr, data[p_offset:p_offset + p_filesz], p_memsz))
        # The entry point is a virtual address; a kernel linked high and loaded low
        # gives it inside a segment's virtual range: take its physical twin.
        if p_vaddr != p_paddr and p_vaddr <= e_entry < p_vaddr + p_memsz:
            entry = e_entry - p_vaddr + p_paddr
    if not segments:
        raise KernelBootError("%s: the ELF file has no loadable segment" % path)
    return segments, entry, "ELF"


def multiboot_plan(data, path, initrds, cmdline, ram_size, boot_drive=0x80):
    found = find_multiboot_header(data, path)
    if found is None:
        raise KernelBootError("%s: not a kernel cycle86 can boot: no Linux setup header "
                              "(\"HdrS\" at 0x202) and no Multiboot header in the first 8 KiB"
                              % path)
    off, flags = found
    required = flags & 0xFFFF
    if required & ~MB_KNOWN_REQUIRED:
        raise KernelBootError("%s: the Multiboot header requires features this loader does "
                              "not have (flags 0x%08X; known: bits 0, 1, 2)" % (path, flags))
    if flags & MB_AOUT_KLUDGE:
        segments, entry, fmt = _multiboot_aout(data, path, off)
    else:
        segments, entry, fmt = _multiboot_elf(data, path)
    lo = min(a for a, _, _ in segments)
    hi = max(a + m for a, _, m in segments)
    if lo < HIGH_LOAD:
        raise KernelBootError("%s: the kernel loads at 0x%X, below 1 MiB (cycle86 loads "
                              "Multiboot kernels at 1 MiB and above)" % (path, lo))
    if hi > ram_size:
        raise KernelBootError("%s: the kernel loads up to 0x%X, beyond the %d MiB of RAM"
                              % (path, hi, ram_size >> 20))
    if not lo <= entry < hi:
        raise KernelBootError("%s: the entry point 0x%X is outside the loaded kernel "
                              "(0x%X-0x%X)" % (path, entry, lo, hi))
    image = bytearray(hi - lo)
    for addr, chunk, _ in segments:
        image[addr - lo:addr - lo + len(chunk)] = chunk

    # Modules: page aligned, one after the other, after the kernel.
    modules = []
    cursor = _align_up(hi, 4096)
    first = cursor
    blob = bytearray()
    for mpath, string in initrds:
        mdata = read_input(mpath, "module")
        modules.append(Module(mpath, string, mdata, cursor))
        blob += bytes(cursor - first - len(blob)) + mdata
        cursor = _align_up(cursor + len(mdata), 4096)
    mods_end = first + len(blob)
    if mods_end > ram_size:
        raise KernelBootError("%s: the modules do not fit in RAM: they end at 0x%X, the RAM "
                              "at 0x%X" % (modules[-1].path, mods_end, ram_size))

    # The boot information: the structure, the memory map's room, the module list, the
    # strings.
    base = BOOT_DATA
    mmap_addr = base + MBI_SIZE
    mods_addr = mmap_addr + MBI_MMAP_ROOM
    strings = bytearray()
    str_base = mods_addr + 16 * len(modules)

    def add_string(text):
        addr = str_base + len(strings)
        strings.extend(text.encode("latin-1", errors="replace") + b"\0")
        return addr

    kernel_cmdline = ("%s %s" % (path, cmdline)).strip() if cmdline else str(path)
    cmdline_addr = add_string(kernel_cmdline)
    loader_addr = add_string(LOADER_NAME)
    mod_table = bytearray()
    for m in modules:
        mod_table += struct.pack("<IIII", m.start, m.start + len(m.data), add_string(m.string), 0)
    info_flags = MBI_F_BOOTDEV | MBI_F_CMDLINE | MBI_F_MODS | MBI_F_MMAP | MBI_F_LOADER
    boot_device = ((boot_drive & 0xFF) << 24) | 0xFFFFFF
    mbi = bytearray(MBI_SIZE)
    struct.pack_into("<IIIIIII", mbi, 0, info_flags, 0, 0, boot_device, cmdline_addr,
                     len(modules), mods_addr)
    struct.pack_into("<II", mbi, 44, 0, mmap_addr)
    struct.pack_into("<I", mbi, 64, loader_addr)
    info = bytes(mbi) + bytes(MBI_MMAP_ROOM) + bytes(mod_table) + bytes(strings)
    if base + len(info) > LOW_LIMIT:
        raise KernelBootError("--append/--initrd: the Multiboot boot information (%d bytes of "
                              "structures and strings) does not fit below 0x%X"
                              % (len(info), LOW_LIMIT))
    items = {
        fwcfg.FW_CFG_SETUP_ADDR: struct.pack("<I", base),
        fwcfg.FW_CFG_SETUP_SIZE: struct.pack("<I", len(info)),
        fwcfg.FW_CFG_SETUP_DATA: info,
        fwcfg.FW_CFG_KERNEL_ADDR: struct.pack("<I", lo),
        fwcfg.FW_CFG_KERNEL_SIZE: struct.pack("<I", len(image)),
        fwcfg.FW_CFG_KERNEL_DATA: bytes(image),
        fwcfg.FW_CFG_KERNEL_ENTRY: struct.pack("<I", entry),
        fwcfg.FW_CFG_KERNEL_CMDLINE: struct.pack("<I", cmdline_addr),
        fwcfg.FW_CFG_CMDLINE_ADDR: struct.pack("<I", 0),
        fwcfg.FW_CFG_CMDLINE_SIZE: struct.pack("<I", 0),     # it is in the boot information
        fwcfg.FW_CFG_CMDLINE_DATA: b"",
        fwcfg.FW_CFG_INITRD_ADDR: struct.pack("<I", first),
        fwcfg.FW_CFG_INITRD_SIZE: struct.pack("<I", len(blob)),
        fwcfg.FW_CFG_INITRD_DATA: bytes(blob),
    }
    params = dict(kind=KIND_MULTIBOOT, need_top=max(_align_up(hi, 4096), mods_end), base=base,
                  entry=entry, mmap_addr=mmap_addr, mmap_room=MBI_MMAP_ROOM)
    desc = ["Multiboot kernel %s (%s, flags 0x%08X): 0x%X-0x%X, entry 0x%X; boot "
            "information at 0x%X" % (path, fmt, flags, lo, hi, entry, base)]
    for m in modules:
        desc.append("module %s: %d bytes at 0x%X" % (m.path, len(m.data), m.start))
    if flags & MB_VIDEO_MODE:
        desc.append("the kernel asks for a video mode; it gets the BIOS's text mode (no "
                    "VBE information)")
    plan = BootPlan("multiboot", items, params, desc, modules=modules, info=info, entry=entry)
    plan.header = {"flags": flags, "format": fmt, "load": (lo, hi), "cmdline": kernel_cmdline,
                   "mods_addr": mods_addr, "mmap_addr": mmap_addr}
    return plan


# ===================================================================== both

def prepare(kernel, initrd=None, append=None, ram_size=32 << 20, boot_drive=0x80):
    """The BootPlan for `kernel` (a path), `initrd` (the --initrd text) and `append`."""
    data = read_input(kernel, "kernel")
    if not data:
        raise KernelBootError("%s: the kernel file is empty" % kernel)
    initrds = parse_initrd_list(initrd)
    cmdline = append or ""
    if is_bzimage(data):
        return linux_plan(data, str(kernel), initrds, cmdline, ram_size)
    return multiboot_plan(data, str(kernel), initrds, cmdline, ram_size, boot_drive)


PARAM_FIELDS = (("magic", "4s"), ("kind", "H"), ("sp", "H"), ("initrd_end", "I"),
                ("initrd_min", "I"), ("need_top", "I"), ("base", "I"), ("entry", "I"),
                ("mmap_addr", "I"), ("mmap_room", "I"))


def option_rom(params, image=None):
    """The option ROM with `params` in its parameter block and both checksums set (the
    PnP header's and the whole image's, each summing to 0 modulo 256)."""
    rom = bytearray(ROM_PATH.read_bytes() if image is None else image)
    values = dict(params, magic=PARAMS_MAGIC)
    fmt = "<" + "".join(f for _, f in PARAM_FIELDS)
    block = struct.pack(fmt, *[values.get(name, 0) if name != "initrd_end"
                               else min(values.get(name, 0), 0xFFFFFFFF)
                               for name, _ in PARAM_FIELDS])
    rom[PARAMS_OFFSET:PARAMS_OFFSET + len(block)] = block
    pnp_len = rom[PNP_OFFSET + 5] * 16
    rom[PNP_OFFSET + 9] = 0
    rom[PNP_OFFSET + 9] = (-sum(rom[PNP_OFFSET:PNP_OFFSET + pnp_len])) & 0xFF
    rom[-1] = 0
    rom[-1] = (-sum(rom)) & 0xFF
    return bytes(rom)


def isa_rom_address(vgabios_size):
    """Where the ROM goes in the ISA option-ROM area: the first 2 KiB boundary after the
    VGA BIOS, and not below 0xC8000 (where the Bochs BIOS's scan starts)."""
    return max(ISA_ROM_FIRST, 0xC0000 + _align_up(vgabios_size, ROM_BLOCK))
