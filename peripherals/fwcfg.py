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
"etc/e820" (the memory map), "bootorder", "vgaroms/*" (its VGA BIOS) and "genroms/*"
(other option ROMs, such as the kernel boot ROM) from the files.  With DMA offered it reads
the items through DMA, the legacy ports only for the signature and the feature word.

The DMA interface (fw_cfg.txt, "DMA interface") is offered when the device is built with
``dma=True`` (the `pc` machine does): the feature word has bit 1 set, and a read of the 64-bit
big-endian DMA address register at 0x514-0x51B returns the signature "QEMU CFG".  The guest
writes the physical address of a FWCfgDmaAccess {be32 control; be32 length; be64 address}
there, the high half at 0x514 first; the write of the low half (0x518) starts the transfer.
Control bits: 0x01 error, 0x02 read, 0x04 skip, 0x08 select (the item in bits 31:16),
0x10 write (ignored, as for the data port).  The transfer is done at once, before the OUT
instruction completes, and the control word then reads 0 (or 0x01 on an error).  It is the
fast path for direct kernel boot (core/kboot.py): a kernel goes into guest RAM at the speed
of a memory copy instead of one I/O instruction per byte.  A transfer takes no guest time:
QEMU's is synchronous too, and no real chip exists to time it after.

The direct kernel boot items (FW_CFG_KERNEL_*, FW_CFG_INITRD_*, FW_CFG_CMDLINE_*,
FW_CFG_SETUP_*) are QEMU's selectors 0x07-0x18; core/kboot.py fills them.
"""
import struct

from peripherals.device import Device

SELECTOR_PORT = 0x510
DATA_PORT = 0x511
DMA_PORT = 0x514                 # 8 bytes: the big-endian DMA address register

# FW_CFG_ID feature bits
FW_CFG_VERSION = 0x01
FW_CFG_VERSION_DMA = 0x02

# FWCfgDmaAccess control bits
DMA_CTL_ERROR = 0x01
DMA_CTL_READ = 0x02
DMA_CTL_SKIP = 0x04
DMA_CTL_SELECT = 0x08
DMA_CTL_WRITE = 0x10
DMA_SIGNATURE = b"QEMU CFG"

# Selector keys [fw_cfg.txt and QEMU's fw_cfg.h list of classic items]
FW_CFG_SIGNATURE = 0x00
FW_CFG_ID = 0x01
FW_CFG_UUID = 0x02
FW_CFG_RAM_SIZE = 0x03
FW_CFG_NOGRAPHIC = 0x04
FW_CFG_NB_CPUS = 0x05
FW_CFG_MACHINE_ID = 0x06
FW_CFG_KERNEL_ADDR = 0x07
FW_CFG_KERNEL_SIZE = 0x08
FW_CFG_KERNEL_CMDLINE = 0x09
FW_CFG_INITRD_ADDR = 0x0A
FW_CFG_INITRD_SIZE = 0x0B
FW_CFG_BOOT_DEVICE = 0x0C
FW_CFG_NUMA = 0x0D
FW_CFG_BOOT_MENU = 0x0E
FW_CFG_MAX_CPUS = 0x0F
FW_CFG_KERNEL_ENTRY = 0x10
FW_CFG_KERNEL_DATA = 0x11
FW_CFG_INITRD_DATA = 0x12
FW_CFG_CMDLINE_ADDR = 0x13
FW_CFG_CMDLINE_SIZE = 0x14
FW_CFG_CMDLINE_DATA = 0x15
FW_CFG_SETUP_ADDR = 0x16
FW_CFG_SETUP_SIZE = 0x17
FW_CFG_SETUP_DATA = 0x18
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
                 boot_menu=False, nographic=False, e820=None, dma=False):
        super().__init__(machine)
        ram = machine.bus.ram_size if ram_size is None else ram_size
        self.items = {}                # key -> bytes
        self.files = []                # (name, key) in directory order
        self.selector = 0
        self.offset = 0
        self.reads = 0
        self.dma = bool(dma)
        self.dma_address = 0           # the DMA address register (64 bits)
        self.dma_transfers = 0
        self.dma_bytes = 0
        self.add(FW_CFG_SIGNATURE, b"QEMU")
        self.add(FW_CFG_ID, struct.pack("<I", FW_CFG_VERSION
                                        | (FW_CFG_VERSION_DMA if self.dma else 0)))
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
        if self.dma:
            machine.bus.register_io(DMA_PORT, 8, self._read_dma, self._write_dma, width=4)
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

    # ------------------------------------------------------------ the DMA interface
    def _read_dma(self, port, width):
        # The register reads as the signature, big-endian ("QEMU CFG" from 0x514 on).
        off = port - DMA_PORT
        return int.from_bytes(DMA_SIGNATURE[off:off + width].ljust(width, b"\xff"), "little")

    def _write_dma(self, port, width, value):
        # Bytes land in the big-endian register as they appear on the bus: the byte at
        # 0x514 is bit 63..56.  A write that reaches 0x51B (the last byte of the low half)
        # starts the transfer, as QEMU does on its write of the low 32 bits.
        reg = bytearray(self.dma_address.to_bytes(8, "big"))
        off = port - DMA_PORT
        for i in range(width):
            if off + i < 8:
                reg[off + i] = (value >> (8 * i)) & 0xFF
        self.dma_address = int.from_bytes(reg, "big")
        if off + width - 1 >= 7:
            self._dma_transfer(self.dma_address & 0xFFFFFFFF if self.dma_address >> 32 == 0
                               else None)

    def _dma_transfer(self, address):
        bus = self.machine.bus
        if address is None or address + 16 > bus.ram_size:
            return                                  # the access structure is not in RAM
        control, length, target = struct.unpack(">IIQ", bus.read(address, 16))
        self.dma_transfers += 1
        if control & DMA_CTL_SELECT:
            self.selector = control >> 16
            self.offset = 0
        error = False
        if control & (DMA_CTL_READ | DMA_CTL_SKIP | DMA_CTL_WRITE):
            data = self.items.get(self.selector & ~FW_CFG_WRITE_CHANNEL & 0xFFFF, b"")
            if control & DMA_CTL_READ:
                if target + length > bus.ram_size:
                    error = True
                else:
                    chunk = data[self.offset:self.offset + length]
                    # Past the end of the item the guest gets zeros (as from QEMU).
                    bus.write(target, chunk + bytes(length - len(chunk)))
                    self.dma_bytes += length
            if not error:
                self.offset += length
        bus.write(address, struct.pack(">I", DMA_CTL_ERROR if error else 0))

    # ------------------------------------------------------------ the Device contract
    def reset(self):
        self.selector = 0
        self.offset = 0
        self.dma_address = 0

    def get_state(self):
        return {"selector": self.selector, "offset": self.offset,
                "dma_address": self.dma_address}

    def set_state(self, state):
        self.selector = state["selector"]
        self.offset = state["offset"]
        self.dma_address = state.get("dma_address", 0)

    def info(self):
        names = ", ".join("%s (%d bytes)" % (n, len(self.items[k])) for n, k in sorted(self.files))
        dma = (("; DMA at 0x514: %d transfers, %d bytes" % (self.dma_transfers, self.dma_bytes))
               if self.dma else "; no DMA interface")
        return ("fw_cfg: selector %04X offset %d; %d data bytes read%s\n  files: %s"
                % (self.selector, self.offset, self.reads, dma, names or "none"))
