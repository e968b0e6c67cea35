"""QEMU's firmware configuration device (fw_cfg) at I/O ports 0x510/0x511.

The interface is QEMU's, specified in its docs/specs/fw_cfg.txt: a 16-bit write to the
selector register (0x510) picks an item and rewinds its data offset; each byte read from the
data register (0x511) returns the next byte of the item, and 0 past its end.  Items at
selector 0x20 and up are "files", listed by name in the file directory (selector 0x19): a
big-endian count, then 64-byte entries {u32 size, u16 select, u16 reserved, char name[56]},
sizes and selectors big-endian.  Bit 14 of the selector asks for write access, which QEMU
has ignored since v2.4; so does this model.  Numbers inside the classic items are
little-endian.

Debian's SeaBIOS is a QEMU build: it takes the RAM size from the CMOS, then reads the
signature, the feature word, the legacy items (boot menu, CPU counts, NUMA, ACPI/SMBIOS
counts, IRQ0 override, the reserved-ranges table 0x8003) and the file directory, and loads
"etc/e820" (the memory map), "bootorder" and "vgaroms/*" (its VGA BIOS) from the files.

The DMA interface (port 0x514) is not offered: the feature word says so (bit 1 clear), and
SeaBIOS then reads everything through the data port.
"""
import struct

from peripherals.device import Device

SELECTOR_PORT = 0x510
DATA_PORT = 0x511

# Selector keys [fw_cfg.txt and QEMU's fw_cfg.h list of classic items]
FW_CFG_SIGNATURE = 0x00
FW_CFG_ID = 0x01
FW_CFG_UUID = 0x02
FW_CFG_RAM_SIZE = 0x03
FW_CFG_NOGRAPHIC = 0x04
FW_CFG_NB_CPUS = 0x05
FW_CFG_MACHINE_ID = 0x06
FW_CFG_BOOT_DEVICE = 0x0C
FW_CFG_NUMA = 0x0D
FW_CFG_BOOT_MENU = 0x0E
FW_CFG_MAX_CPUS = 0x0F
FW_CFG_FILE_DIR = 0x19
FW_CFG_FILE_FIRST = 0x20
FW_CFG_WRITE_CHANNEL = 0x4000
FW_CFG_ARCH_LOCAL = 0x8000
FW_CFG_ACPI_TABLES = FW_CFG_ARCH_LOCAL + 0
FW_CFG_SMBIOS_ENTRIES = FW_CFG_ARCH_LOCAL + 1
FW_CFG_IRQ0_OVERRIDE = FW_CFG_ARCH_LOCAL + 2
FW_CFG_E820_TABLE = FW_CFG_ARCH_LOCAL + 3

FILE_NAME_MAX = 56

# e820 entry types
E820_RAM = 1
E820_RESERVED = 2


def e820_table(entries):
    """The "etc/e820" file: packed little-endian {u64 address, u64 length, u32 type}."""
    return b"".join(struct.pack("<QQI", a, n, t) for a, n, t in entries)


def pc_e820(ram_size):
    """The memory map of a PC with `ram_size` bytes of RAM from address 0, as the QEMU
    `pc` machine gives it: one RAM block (the firmware carves out the legacy holes)."""
    return [(0, ram_size, E820_RAM)]


class FwCfg(Device):
    """The fw_cfg items and the selector/data ports."""

    name = "fw_cfg"

    def __init__(self, machine, *, ram_size=None, cpus=1, boot_device="c",
                 boot_menu=False, nographic=False, e820=None):
        super().__init__(machine)
        ram = machine.bus.ram_size if ram_size is None else ram_size
        self.items = {}                # key -> bytes
        self.files = []                # (name, key) in directory order
        self.selector = 0
        self.offset = 0
        self.reads = 0
        self.add(FW_CFG_SIGNATURE, b"QEMU")
        self.add(FW_CFG_ID, struct.pack("<I", 1))             # traditional interface only
        self.add(FW_CFG_UUID, bytes(16))
        self.add(FW_CFG_RAM_SIZE, struct.pack("<Q", ram))
        self.add(FW_CFG_NOGRAPHIC, struct.pack("<H", int(nographic)))
        self.add(FW_CFG_NB_CPUS, struct.pack("<H", cpus))
        self.add(FW_CFG_MAX_CPUS, struct.pack("<H", cpus))
        self.add(FW_CFG_MACHINE_ID, struct.pack("<I", 0))
        self.add(FW_CFG_BOOT_DEVICE, struct.pack("<H", ord(boot_device[:1] or "c")))
        self.add(FW_CFG_BOOT_MENU, struct.pack("<H", int(boot_menu)))
        self.add(FW_CFG_NUMA, struct.pack("<Q", 0))           # no NUMA nodes
        self.add(FW_CFG_ACPI_TABLES, struct.pack("<H", 0))    # no extra ACPI tables
        self.add(FW_CFG_SMBIOS_ENTRIES, struct.pack("<H", 0))
        self.add(FW_CFG_IRQ0_OVERRIDE, b"\x01")
        self.add(FW_CFG_E820_TABLE, struct.pack("<I", 0))     # no reserved ranges
        self.add_file("etc/e820", e820_table(e820 if e820 is not None else pc_e820(ram)))
        self.add_file("etc/boot-cpus", struct.pack("<H", cpus))
        # The selector is a 16-bit register, the data register an 8-bit one (fw_cfg.txt,
        # "Width"): the bus splits wider accesses into cycles of those widths.
        machine.bus.register_io(SELECTOR_PORT, 1, self._read_selector, self._write_selector,
                                width=2)
        machine.bus.register_io(DATA_PORT, 1, self._read_data, self._write_data, width=1)
        machine.fw_cfg = self

    # ------------------------------------------------------------ the items
    def add(self, key, data):
        """Set item `key` to `data` (bytes)."""
        self.items[key] = bytes(data)

    def add_file(self, name, data):
        """Add (or replace) the file `name` and return its selector key."""
        raw = name.encode("ascii")
        if len(raw) >= FILE_NAME_MAX:
            raise ValueError("fw_cfg file name %r is longer than %d characters"
                             % (name, FILE_NAME_MAX - 1))
        for n, key in self.files:
            if n == name:
                self.items[key] = bytes(data)
                self._rebuild_directory()
                return key
        key = FW_CFG_FILE_FIRST + len(self.files)
        self.files.append((name, key))
        self.items[key] = bytes(data)
        self._rebuild_directory()
        return key

    def file(self, name):
        """The data of file `name`, or None."""
        for n, key in self.files:
            if n == name:
                return self.items[key]
        return None

    def _rebuild_directory(self):
        # The directory is sorted by name, as the firmware that bisects it expects.
        entries = sorted(self.files)
        out = bytearray(struct.pack(">I", len(entries)))
        for name, key in entries:
            out += struct.pack(">IHH", len(self.items[key]), key, 0)
            out += name.encode("ascii").ljust(FILE_NAME_MAX, b"\0")
        self.items[FW_CFG_FILE_DIR] = bytes(out)

    # ------------------------------------------------------------ the ports
    def _write_selector(self, port, width, value):
        # A 16-bit write selects; a byte write selects with the low byte (the high one
        # reads as zero), which is what an 8-bit bus cycle delivers.
        self.selector = value & 0xFFFF
        self.offset = 0

    def _write_data(self, port, width, value):
        pass                                     # ignored (fw_cfg.txt: since QEMU v2.4)

    def _read_selector(self, port, width):
        if width == 1:
            return 0xFF                          # the selector is write-only
        # A word read at 0x510 covers 0x511: the data byte arrives in the high lane.
        return 0xFF | (self._read_data(DATA_PORT, 1) << 8)

    def _read_data(self, port, width):
        self.reads += 1
        data = self.items.get(self.selector & ~FW_CFG_WRITE_CHANNEL & 0xFFFF)
        if data is None or self.offset >= len(data):
            return 0
        b = data[self.offset]
        self.offset += 1
        return b

    # ------------------------------------------------------------ the Device contract
    def reset(self):
        self.selector = 0
        self.offset = 0

    def get_state(self):
        return {"selector": self.selector, "offset": self.offset}

    def set_state(self, state):
        self.selector = state["selector"]
        self.offset = state["offset"]

    def info(self):
        names = ", ".join("%s (%d bytes)" % (n, len(self.items[k])) for n, k in sorted(self.files))
        return ("fw_cfg: selector %04X offset %d; %d data bytes read\n  files: %s"
                % (self.selector, self.offset, self.reads, names or "none"))
