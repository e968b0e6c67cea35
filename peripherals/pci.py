"""PCI: configuration mechanism #1, the i440FX host bridge and the PIIX3.

Configuration mechanism #1 [PCI Local Bus Specification 2.1, 3.7.4.1]: a 32-bit write to
CONFIG_ADDRESS (port 0xCF8) selects bus, device, function and register; CONFIG_DATA (ports
0xCFC-0xCFF) then reads or writes that dword of the function's 256-byte configuration
space, any byte lane of it with an 8- or 16-bit access.  Only 32-bit accesses reach
CONFIG_ADDRESS; a byte at 0xCF9 is the PIIX3's reset control register and the other narrow
accesses are not claimed.  Bus 0 is the only bus; a function that is not there reads as
all ones (the master abort of a configuration read).

The functions of QEMU's `pc` machine, the one Debian's SeaBIOS is built for:

* 00:00.0 82441FX PMC, the i440FX host bridge (8086:1237).  Its PAM registers 59h-5Fh
  [82441FX datasheet, 3.2.18] choose for each of 13 segments of 0xC0000-0xFFFFF whether a
  read goes to DRAM (RE) or to PCI/ISA, where the ROMs are, and whether a write goes to
  DRAM (WE) or is dropped.  This is how the BIOS shadows itself into RAM.
* 00:01.0 82371SB PIIX3 PCI-to-ISA bridge (8086:7000): PIRQ route control 60h-63h
  [PIIX3 datasheet, 2.2.9] and the ELCR at I/O 4D0h/4D1h [2.6.2], unless the interrupt
  controller model already owns those ports.
* 00:01.1 PIIX3 IDE (8086:7010) in legacy (compatibility) mode: the channels are at the
  ISA addresses 1F0h/3F6h (IRQ14) and 170h/376h (IRQ15) whatever the BARs say
  [PIIX3 datasheet, 2.3]; BAR4 is the bus-master interface base (BMIBA).
* The PIIX3 reset control register RC at I/O 0CF9h [PIIX3 datasheet, 2.4.1]: a 0->1 edge
  of RCPU (bit 2) resets the CPU, a hard reset (SRST, bit 1) also resets the chipset.

Accesses from the guest are rare (tens to a few thousand in a POST), so this is plain Python.
"""
from peripherals.device import Device

CONFIG_ADDRESS = 0xCF8
CONFIG_DATA = 0xCFC
RESET_CONTROL = 0xCF9
ELCR_PORT = 0x4D0

# Standard header registers [PCI 2.1, 6.1]
VENDOR_ID, DEVICE_ID, COMMAND, STATUS = 0x00, 0x02, 0x04, 0x06
REVISION_ID, CLASS_PROG, HEADER_TYPE = 0x08, 0x09, 0x0E
BAR0, SUBSYSTEM_VENDOR_ID, SUBSYSTEM_ID = 0x10, 0x2C, 0x2E
INTERRUPT_LINE, INTERRUPT_PIN = 0x3C, 0x3D

# The segments the PAM registers control: (register, high nibble?, base, size).
PAM_FIRST = 0x59
PAM_SEGMENTS = ((0x59, True, 0xF0000, 0x10000),) + tuple(
    (0x5A + i // 2, bool(i & 1), 0xC0000 + i * 0x4000, 0x4000) for i in range(12))
SHADOW_BASE, SHADOW_END = 0xC0000, 0x100000

# The attribute of a PAM segment: bit 0 RE (read from DRAM), bit 1 WE (write to DRAM).
PAM_PCI, PAM_READ_ONLY, PAM_WRITE_ONLY, PAM_READ_WRITE = 0, 1, 2, 3
PAM_NAMES = {PAM_PCI: "PCI/ROM", PAM_READ_ONLY: "RAM read-only",
             PAM_WRITE_ONLY: "RAM write-only", PAM_READ_WRITE: "RAM read/write"}


class PCIFunction:
    """The 256-byte configuration space of one function, with the bits software may write.

    `wmask` holds the writable bits of each byte; `w1c` the status bits that a write of 1
    clears.  A BAR is described by its size and kind: its writable bits are the address
    bits above the size, so writing all ones and reading back gives the size, as
    [PCI 2.1, 6.2.5.1] specifies.  Subclasses react to writes in `config_written`.
    """

    name = "pci-function"

    def __init__(self, vendor, device, class_code, revision=0, header_type=0,
                 subsystem=None, interrupt_pin=0):
        self.config = bytearray(256)
        self.wmask = bytearray(256)
        self.w1c = bytearray(256)
        self.bars = {}                # BAR number -> (size, is_io)
        self.address = None           # (device, function) once on a bus
        self.bus = None
        c = self.config
        c[0:2] = vendor.to_bytes(2, "little")
        c[2:4] = device.to_bytes(2, "little")
        c[REVISION_ID] = revision
        c[CLASS_PROG:CLASS_PROG + 3] = (class_code & 0xFFFFFF).to_bytes(3, "little")
        c[HEADER_TYPE] = header_type
        if subsystem is not None:
            c[SUBSYSTEM_VENDOR_ID:SUBSYSTEM_VENDOR_ID + 2] = subsystem[0].to_bytes(2, "little")
            c[SUBSYSTEM_ID:SUBSYSTEM_ID + 2] = subsystem[1].to_bytes(2, "little")
        c[INTERRUPT_PIN] = interrupt_pin
        self.set_writable(INTERRUPT_LINE, 0xFF)
        # Command: I/O space, memory space, bus master enables are the common writable bits.
        self.set_writable(COMMAND, 0x07)
        self.reset_config = None

    # ------------------------------------------------------------ declaring the space
    def set_writable(self, offset, mask, width=1):
        self.wmask[offset:offset + width] = mask.to_bytes(width, "little")

    def set_default(self, offset, value, width=1):
        self.config[offset:offset + width] = value.to_bytes(width, "little")

    def add_bar(self, number, size, io):
        """Declare BAR `number` (0-5) decoding `size` bytes (a power of two) of I/O or
        memory space; its low bits are the read-only type bits."""
        assert size & (size - 1) == 0 and size >= (4 if io else 16)
        self.bars[number] = (size, io)
        offset = BAR0 + 4 * number
        self.config[offset:offset + 4] = (1 if io else 0).to_bytes(4, "little")
        # All the address bits above the size are writable, the upper half of an I/O BAR
        # too (as QEMU's are: SeaBIOS sizes an I/O BAR from all 32 bits); an I/O BAR
        # programmed above 0xFFFF decodes nothing, the x86 having 64 KiB of ports.
        mask = ~(size - 1) & (0xFFFFFFFC if io else 0xFFFFFFF0)
        self.set_writable(offset, mask, 4)

    def bar_address(self, number):
        """The base address programmed in BAR `number` (type bits masked off)."""
        size, io = self.bars[number]
        raw = self.read_config(BAR0 + 4 * number, 4)
        return raw & (0xFFFFFFFC if io else 0xFFFFFFF0)

    def freeze_defaults(self):
        """Remember the current contents as the power-on state (after __init__)."""
        self.reset_config = bytes(self.config)

    # ------------------------------------------------------------ access
    def read_config(self, offset, width):
        return int.from_bytes(self.config[offset:offset + width], "little")

    def write_config(self, offset, width, value):
        changed = []
        for i in range(width):
            o = offset + i
            if o > 0xFF:
                break
            byte = (value >> (8 * i)) & 0xFF
            old = self.config[o]
            new = (old & ~self.wmask[o]) | (byte & self.wmask[o])
            new &= ~(byte & self.w1c[o]) & 0xFF
            if new != old:
                self.config[o] = new
            changed.append(o)
        if changed:
            self.config_written(changed[0], len(changed))

    def config_written(self, offset, width):
        """Hook: bytes offset..offset+width-1 were written (whether or not they changed)."""

    def reset(self):
        if self.reset_config is not None:
            self.config[:] = self.reset_config

    def info(self):
        c = self.config
        return "%s %04X:%04X class %06X" % (
            self.name, self.read_config(VENDOR_ID, 2), self.read_config(DEVICE_ID, 2),
            int.from_bytes(c[CLASS_PROG:CLASS_PROG + 3], "little"))


class PCIBus(Device):
    """PCI bus 0 behind configuration mechanism #1 (ports 0xCF8 and 0xCFC-0xCFF)."""

    name = "pci"

    def __init__(self, machine):
        super().__init__(machine)
        self.functions = {}           # (device, function) -> PCIFunction
        self.config_address = 0
        self.config_reads = 0
        self.config_writes = 0
        self.bus.register_io(CONFIG_ADDRESS, 1, self._read_cf8, self._write_cf8)
        self.bus.register_io(CONFIG_ADDRESS + 2, 2, self._read_narrow, self._ignore)
        self.bus.register_io(CONFIG_DATA, 4, self._read_data, self._write_data)
        self.reset_port = None        # the function owning 0xCF9 (the PIIX3), if any
        self.bus.register_io(RESET_CONTROL, 1, self._read_cf9, self._write_cf9)
        machine.pci = self

    def add(self, device, function, pci_function):
        """Put `pci_function` at 00:device.function."""
        key = (device, function)
        if key in self.functions:
            raise ValueError("PCI 00:%02X.%d is already taken" % key)
        pci_function.address = key
        pci_function.bus = self
        if pci_function.reset_config is None:
            pci_function.freeze_defaults()
        self.functions[key] = pci_function
        return pci_function

    def function(self, device, function=0):
        return self.functions.get((device, function))

    # ------------------------------------------------------------ the registers
    def _selected(self):
        """(function object or None, register offset) CONFIG_ADDRESS points at."""
        a = self.config_address
        if not a & 0x80000000:
            return None, None
        bus_no = (a >> 16) & 0xFF
        dev = (a >> 11) & 0x1F
        fn = (a >> 8) & 0x7
        if bus_no != 0:
            return None, a & 0xFC
        return self.functions.get((dev, fn)), a & 0xFC

    def _read_cf8(self, port, width):
        if width == 4:
            return self.config_address
        if width == 1 and self.reset_port is not None and port == RESET_CONTROL:
            return self._read_cf9(port, width)
        # A byte or word at 0xCF8 is not CONFIG_ADDRESS [PCI 2.1, 3.7.4.1]; the word
        # covering 0xCF9 shows the reset control register in its high byte.
        low = 0xFF
        if width == 2:
            return low | (self._read_cf9(RESET_CONTROL, 1) << 8)
        return low

    def _write_cf8(self, port, width, value):
        if width == 4:
            self.config_address = value & 0x80FFFFFC
        elif width == 2:
            self._write_cf9(RESET_CONTROL, 1, (value >> 8) & 0xFF)

    def _read_narrow(self, port, width):
        return (1 << (8 * width)) - 1

    def _ignore(self, port, width, value):
        pass

    def _read_data(self, port, width):
        fn, reg = self._selected()
        self.config_reads += 1
        if reg is None:
            return (1 << (8 * width)) - 1      # disabled: the data port is not decoded
        if fn is None:
            return (1 << (8 * width)) - 1      # master abort: all ones
        offset = reg + (port & 3)
        width = min(width, 4 - (port & 3))
        return fn.read_config(offset, width)

    def _write_data(self, port, width, value):
        fn, reg = self._selected()
        self.config_writes += 1
        if fn is None:
            return
        offset = reg + (port & 3)
        width = min(width, 4 - (port & 3))
        fn.write_config(offset, width, value)

    def _read_cf9(self, port, width):
        if self.reset_port is None:
            return 0xFF
        return self.reset_port.read_rc()

    def _write_cf9(self, port, width, value):
        if self.reset_port is not None:
            self.reset_port.write_rc(value & 0xFF)

    # ------------------------------------------------------------ the Device contract
    def reset(self):
        self.config_address = 0
        for fn in self.functions.values():
            fn.reset()

    def get_state(self):
        return {"config_address": self.config_address,
                "functions": {"%02X.%d" % k: bytes(f.config)
                              for k, f in sorted(self.functions.items())},
                "extra": {"%02X.%d" % k: f.get_extra_state()
                          for k, f in sorted(self.functions.items())
                          if hasattr(f, "get_extra_state")}}

    def set_state(self, state):
        self.config_address = state["config_address"]
        for key, data in state["functions"].items():
            dev, fn = key.split(".")
            f = self.functions[(int(dev, 16), int(fn))]
            f.config[:] = data
        for key, extra in state.get("extra", {}).items():
            dev, fn = key.split(".")
            self.functions[(int(dev, 16), int(fn))].set_extra_state(extra)
        for f in self.functions.values():
            if hasattr(f, "apply_config"):
                f.apply_config()

    def info(self):
        a = self.config_address
        lines = ["PCI bus 0, CONFIG_ADDRESS %08X (%s, 00:%02X.%d reg %02X); "
                 "%d config reads, %d writes"
                 % (a, "enabled" if a & 0x80000000 else "disabled", (a >> 11) & 0x1F,
                    (a >> 8) & 7, a & 0xFC, self.config_reads, self.config_writes)]
        for (dev, fn), f in sorted(self.functions.items()):
            lines.append("  00:%02X.%d %s" % (dev, fn, f.info()))
        return "\n".join(lines)


# ================================================================ 82441FX host bridge

class I440FX(PCIFunction):
    """The 82441FX PCI and Memory Controller (PMC), function 00:00.0.

    `isa_image` is what the 0xC0000-0xFFFFF range shows when a segment is not shadowed:
    the ROMs on the ISA/PCI side (the VGA BIOS, the system BIOS) and 0xFF where nothing
    answers.  Shadowing is done by remapping the bus's page map, so the guest's accesses to
    a shadowed segment stay on the fast RAM path:

    * PCI (RE=0, WE=0): the segment maps the ROM bytes; writes are dropped.
    * read/write (RE=1, WE=1): the segment maps its RAM.
    * read-only (RE=1, WE=0): the segment maps a ROM copy of its RAM; RAM cannot change
      while writes are dropped, so the copy is exact, and RAM is mapped again unchanged
      when WE comes back.
    * write-only (RE=0, WE=1): reads come from the ROM and writes go to RAM, which the
      page map cannot say in one page; the segment becomes MMIO over a copy of its RAM,
      written back to RAM when the mode changes.  The BIOSes here never stay long in it.
    """

    name = "i440FX host bridge"

    # Power-on values of the 82441FX registers [82441FX datasheet, table 3-1].
    DEFAULTS = ((0x50, 0x00), (0x51, 0x01), (0x52, 0x80), (0x53, 0x80), (0x55, 0x00),
                (0x56, 0x00), (0x57, 0x01), (0x58, 0x10), (0x71, 0x10), (0x72, 0x02))

    def __init__(self, machine, isa_image=None, ram_size=None, subsystem=(0x1AF4, 0x1100)):
        # The subsystem IDs are those of QEMU's i440FX, which the QEMU builds of SeaBIOS
        # check to know they run on the machine they were built for.
        super().__init__(0x8086, 0x1237, 0x060000, revision=0x02, subsystem=subsystem)
        self.machine = machine
        self.membus = machine.bus
        c = self
        c.set_default(COMMAND, 0x0006, 2)
        c.set_default(STATUS, 0x0280, 2)
        c.set_writable(COMMAND, 0x00, 2)
        c.set_writable(COMMAND, 0x0146, 2)     # MAE/BME fixed on; SERR#, parity writable
        c.set_default(COMMAND, 0x0006, 2)
        c.set_writable(0x0D, 0xF8)             # master latency timer
        c.w1c[STATUS + 1] = 0xF9
        for reg, value in self.DEFAULTS:
            c.set_default(reg, value)
            c.set_writable(reg, 0xFF)
        c.set_writable(0x54, 0xFF)
        for reg in range(0x60, 0x68):          # DRB0-7: DRAM row boundaries (8 MB units)
            c.set_writable(reg, 0xFF)
        for reg in (0x68, 0x70, 0x90, 0x93):
            c.set_writable(reg, 0xFF)
        c.set_writable(0x91, 0x00)
        c.w1c[0x91] = 0xFF
        c.set_writable(PAM_FIRST, 0x30)
        for reg in range(PAM_FIRST + 1, PAM_FIRST + 7):
            c.set_writable(reg, 0x33)
        ram = self.membus.ram_size if ram_size is None else ram_size
        # Row boundaries as a BIOS would have sized the DRAM: all of it in row 0.
        units = min(255, max(1, (ram + (8 << 20) - 1) >> 23))
        for reg in range(0x60, 0x68):
            c.set_default(reg, units)
        self.freeze_defaults()
        if isa_image is None:
            isa_image = self.membus.read(SHADOW_BASE, SHADOW_END - SHADOW_BASE)
        if len(isa_image) != SHADOW_END - SHADOW_BASE:
            raise ValueError("the ISA image of 0xC0000-0xFFFFF must be 256 KiB")
        self.isa_image = bytes(isa_image)
        self.shadow_capable = self.membus.ram_size >= SHADOW_END
        self._modes = [None] * len(PAM_SEGMENTS)
        self._write_only = {}                  # segment index -> bytearray copy of RAM
        self.apply_config()

    # ------------------------------------------------------------ PAM
    def pam_mode(self, index):
        reg, high, _, _ = PAM_SEGMENTS[index]
        value = self.config[reg]
        return (value >> 4) & 3 if high else value & 3

    def segment_of(self, address):
        for i, (_, _, base, size) in enumerate(PAM_SEGMENTS):
            if base <= address < base + size:
                return i
        return None

    def config_written(self, offset, width):
        if offset <= PAM_FIRST + 6 and offset + width > PAM_FIRST:
            self.apply_config()

    def apply_config(self):
        """Bring the page map in line with the PAM registers."""
        for i in range(len(PAM_SEGMENTS)):
            mode = self.pam_mode(i) if self.shadow_capable else PAM_PCI
            if mode != self._modes[i]:
                self._set_mode(i, mode)

    def _set_mode(self, index, mode):
        _, _, base, size = PAM_SEGMENTS[index]
        bus = self.membus
        rom = self.isa_image[base - SHADOW_BASE:base - SHADOW_BASE + size]
        pending = self._write_only.pop(index, None)
        if pending is not None:                # leaving write-only: RAM gets its writes
            bus.map_ram(base, size)
            bus.write(base, bytes(pending))
        if mode == PAM_PCI:
            bus.map_rom(base, rom)
        elif mode == PAM_READ_WRITE:
            bus.map_ram(base, size)
        elif mode == PAM_READ_ONLY:
            bus.map_ram(base, size)
            bus.map_rom(base, bus.read(base, size))
        else:
            bus.map_ram(base, size)
            copy = bytearray(bus.read(base, size))
            self._write_only[index] = copy

            def read(addr, width, rom=rom, base=base):
                o = addr - base
                return int.from_bytes(rom[o:o + width].ljust(width, b"\xff"), "little")

            def write(addr, width, value, copy=copy, base=base, size=size):
                o = addr - base
                for i in range(width):
                    if o + i < size:
                        copy[o + i] = (value >> (8 * i)) & 0xFF

            bus.map_mmio(base, size, read, write)
        self._modes[index] = mode

    def shadow_ram(self, address, n):
        """n bytes of the DRAM under the shadow range, whatever is mapped over it (for
        tests and the debugger)."""
        out = bytearray()
        for a in range(address, address + n):
            i = self.segment_of(a)
            if i is None or self._modes[i] in (PAM_READ_WRITE, PAM_READ_ONLY):
                out.append(self.membus.read8(a))     # RAM, or an exact copy of it
            elif i in self._write_only:
                out.append(self._write_only[i][a - PAM_SEGMENTS[i][2]])
            else:
                out.append(self._peek_ram(i, a))
        return bytes(out)

    def _peek_ram(self, index, address):
        # Map the segment's RAM for a moment to look underneath the ROM.
        _, _, base, size = PAM_SEGMENTS[index]
        self.membus.map_ram(base, size)
        value = self.membus.read8(address)
        self.membus.map_rom(base, self.isa_image[base - SHADOW_BASE:base - SHADOW_BASE + size])
        return value

    def reset(self):
        super().reset()
        for i, pending in list(self._write_only.items()):
            _, _, base, size = PAM_SEGMENTS[i]
            self.membus.map_ram(base, size)
            self.membus.write(base, bytes(pending))
        self._write_only.clear()
        self._modes = [None] * len(PAM_SEGMENTS)
        self.apply_config()

    def get_extra_state(self):
        return {"write_only": {i: bytes(c) for i, c in self._write_only.items()}}

    def set_extra_state(self, state):
        # The registers are restored (PCIBus.set_state loads them first) and so is RAM:
        # map every segment again from them.  A read-only segment's ROM copy is taken
        # from the restored RAM; a write-only segment's pending writes are the saved
        # ones, while the RAM under it keeps its restored contents.
        self._write_only.clear()
        self._modes = [None] * len(PAM_SEGMENTS)
        self.apply_config()
        for i, data in state.get("write_only", {}).items():
            copy = self._write_only.get(int(i))
            if copy is None or len(copy) != len(data):
                raise ValueError("PAM segment %s is not write-only in the restored "
                                 "registers" % i)
            copy[:] = data

    def info(self):
        lines = [super().info()]
        for i, (reg, high, base, size) in enumerate(PAM_SEGMENTS):
            lines.append("    PAM %02Xh[%s] %05X-%05X: %s"
                         % (reg, "7:4" if high else "3:0", base, base + size - 1,
                            PAM_NAMES[self.pam_mode(i)]))
        return "\n".join(lines)


# ================================================================ PIIX3

class PIIX3ISA(PCIFunction):
    """The PIIX3 PCI-to-ISA bridge, function 00:01.0 (multi-function device).

    PIRQRC[A:D] (60h-63h) route the PCI interrupt lines to ISA IRQs: bit 7 set disables
    the routing, bits 3:0 give the IRQ (3-7, 9-12, 14, 15; others are reserved)
    [PIIX3 datasheet, 2.2.9].  The reset control register at I/O 0CF9h belongs to this
    chip too, and so do the ELCR ports 4D0h/4D1h.
    """

    name = "PIIX3 ISA bridge"
    PIRQ_IRQS = frozenset((3, 4, 5, 6, 7, 9, 10, 11, 12, 14, 15))

    def __init__(self, machine, own_elcr=True):
        super().__init__(0x8086, 0x7000, 0x060100, revision=0x00, header_type=0x80)
        self.machine = machine
        self.set_default(COMMAND, 0x0007, 2)
        self.set_writable(COMMAND, 0x0148, 2)
        self.set_default(STATUS, 0x0200, 2)
        self.w1c[STATUS + 1] = 0x38
        for reg, value in ((0x4C, 0x4D), (0x4E, 0x03), (0x4F, 0x00), (0x60, 0x80),
                           (0x61, 0x80), (0x62, 0x80), (0x63, 0x80), (0x69, 0x02),
                           (0x6A, 0x00), (0x6B, 0x00), (0x70, 0x80), (0x71, 0x80),
                           (0x76, 0x0C), (0x77, 0x0C), (0x78, 0x02), (0x79, 0x00),
                           (0x80, 0x00), (0xA0, 0x08), (0xA2, 0x00), (0xA4, 0x00),
                           (0xA8, 0x0F), (0xAA, 0x00), (0xAB, 0x00), (0xAC, 0x00),
                           (0xAE, 0x00)):
            self.set_default(reg, value)
            self.set_writable(reg, 0xFF)
        for reg in (0x60, 0x61, 0x62, 0x63, 0x70, 0x71):
            self.set_writable(reg, 0x8F)
        self.freeze_defaults()
        self.rc = 0                      # reset control register (I/O 0CF9h)
        self.elcr = [0, 0]
        self.pirq_levels = [0, 0, 0, 0]  # how many devices drive each PIRQ line low
        self.own_elcr = own_elcr
        self.resets_requested = 0
        if own_elcr:
            machine.bus.register_io(ELCR_PORT, 2, self._read_elcr, self._write_elcr, width=1)

    # ------------------------------------------------------------ PIRQ routing
    def pirq_route(self, pirq):
        """The ISA IRQ PCI interrupt line PIRQ[A+pirq] goes to, or None if disabled."""
        value = self.config[0x60 + pirq]
        if value & 0x80:
            return None
        irq = value & 0x0F
        return irq if irq in self.PIRQ_IRQS else None

    def set_pirq(self, pirq, level):
        """A PCI function drives PIRQ[A+pirq] (level-triggered, shared)."""
        self.pirq_levels[pirq] = max(0, self.pirq_levels[pirq] + (1 if level else -1))
        irq = self.pirq_route(pirq)
        if irq is not None:
            self.machine.set_irq(irq, any(self.pirq_levels[p] for p in range(4)
                                          if self.pirq_route(p) == irq))

    # ------------------------------------------------------------ ELCR
    def _read_elcr(self, port, width):
        return self.elcr[port - ELCR_PORT]

    def _write_elcr(self, port, width, value):
        # IRQ0, 1, 2, 8 and 13 are edge-triggered only [PIIX3 datasheet, 2.6.2].
        p = port - ELCR_PORT
        self.elcr[p] = value & (0xF8 if p == 0 else 0xDE)
        pic = getattr(self.machine, "pic", None)
        setter = getattr(pic, "set_elcr", None)
        if setter is not None:
            setter(self.elcr[0] | (self.elcr[1] << 8))

    # ------------------------------------------------------------ reset control (0CF9h)
    def read_rc(self):
        return self.rc & 0x0E

    def write_rc(self, value):
        old = self.rc
        self.rc = value & 0x0E
        if value & 0x04 and not old & 0x04:
            # RCPU 0->1: a reset, hard (SRST=1, the whole chipset) or soft (the CPU's
            # INIT).  Either way the CPU starts again at its reset vector.
            self.resets_requested += 1
            hard = bool(value & 0x02)
            self.rc &= ~0x04
            self.machine.request_reset(hard=hard)

    def reset(self):
        super().reset()
        self.rc = 0
        self.elcr = [0, 0]

    def get_extra_state(self):
        return {"rc": self.rc, "elcr": list(self.elcr), "pirq_levels": list(self.pirq_levels)}

    def set_extra_state(self, state):
        self.rc = state["rc"]
        self.elcr = list(state["elcr"])
        self.pirq_levels = list(state["pirq_levels"])

    def info(self):
        routes = " ".join("%s:%s" % ("ABCD"[p], self.pirq_route(p) if self.pirq_route(p)
                                     is not None else "off") for p in range(4))
        return "%s\n    PIRQ %s; ELCR %02X %02X%s; RC %02X" % (
            super().info(), routes, self.elcr[0], self.elcr[1],
            "" if self.own_elcr else " (the PIC's)", self.rc)


class PIIX3IDE(PCIFunction):
    """The PIIX3 IDE interface, function 00:01.1, in compatibility mode.

    Programming interface 80h: bus-master capable, both channels fixed at their ISA
    addresses (BAR0-3 are not used; the PIIX3 does not implement native mode).  IDETIM
    40h/42h bit 15 enables a channel's decode; the ATA model answers at the legacy ports
    whatever it says, as QEMU's does (the firmware always enables both).  BAR4 is BMIBA,
    16 bytes of I/O for the bus-master registers, which are kept but move no data:
    the firmware here transfers by PIO.
    """

    name = "PIIX3 IDE"

    def __init__(self, machine):
        super().__init__(0x8086, 0x7010, 0x010180, revision=0x00)
        self.machine = machine
        self.set_default(COMMAND, 0x0000, 2)
        self.set_writable(COMMAND, 0x0005, 2)
        self.set_default(STATUS, 0x0280, 2)
        self.w1c[STATUS + 1] = 0x38
        self.set_writable(0x0D, 0xF0)
        self.add_bar(4, 16, io=True)
        for reg in (0x40, 0x41, 0x42, 0x43, 0x44):
            self.set_writable(reg, 0xFF if reg != 0x41 and reg != 0x43 else 0xF3)
        self.freeze_defaults()
        self.bm_registers = bytearray(16)
        self._bm_base = None

    def channel_enabled(self, channel):
        return bool(self.config[0x41 + 2 * channel] & 0x80)

    def config_written(self, offset, width):
        self.apply_config()

    def apply_config(self):
        base = self.bar_address(4) if self.config[COMMAND] & 1 else None
        if base == 0 or (base is not None and base > 0xFFF0):
            base = None
        if base != self._bm_base:
            if self._bm_base is not None:
                self.machine.bus.unregister_io(self._bm_base, 16)
            if base is not None:
                self.machine.bus.register_io(base, 16, self._read_bm, self._write_bm, width=1)
            self._bm_base = base

    # Byte registers (BMICx, BMISx, the bytes of BMIDTPx): the bus splits wider accesses.
    def _read_bm(self, port, width):
        return self.bm_registers[port - self._bm_base]

    def _write_bm(self, port, width, value):
        r = port - self._bm_base
        if r in (2, 10):                 # BMISx: interrupt and error bits write-1-clear
            old = self.bm_registers[r]
            self.bm_registers[r] = (old & ~(value & 0x06) & 0x07) | (value & 0x60)
        else:
            self.bm_registers[r] = value

    def reset(self):
        super().reset()
        self.bm_registers[:] = bytes(16)
        self.apply_config()

    def info(self):
        return "%s\n    primary %s, secondary %s, BMIBA %s" % (
            super().info(), "on" if self.channel_enabled(0) else "off",
            "on" if self.channel_enabled(1) else "off",
            "%04X" % self._bm_base if self._bm_base is not None else "off")
