"""The Intel 8237A DMA controller pair of the IBM PC/AT, with its page registers.

DMA1 serves the 8-bit channels 0-3 at ports 0x00-0x0F.  DMA2 serves the 16-bit channels
4-7 at ports 0xC0-0xDF: the AT wires its address lines A0-A3 to SA1-SA4, so its registers
sit on even ports and each odd port is an alias of the even one below it.  DMA2's
channel 4 is the cascade input of DMA1, so DMA1 moves nothing until the guest puts
channel 4 in cascade mode and unmasks it (every PC BIOS does this during POST).

The 8237A generates 16 address bits; the page registers (a 74LS612 on the AT, sixteen
8-bit registers at ports 0x80-0x8F) supply A16-A23.  The channel-to-port map is the
AT's: 0x87 ch0, 0x83 ch1, 0x81 ch2, 0x82 ch3, 0x8F ch4, 0x8B ch5, 0x89 ch6, 0x8A ch7;
the other registers are plain storage.  Port 0x80 is register 0 of the same chip, but
no channel uses it and it is the POST code port, which peripherals/debugport.py owns
(reading it returns the last code written, as the '612 would): this module claims
0x81-0x8F only.

On DMA2 the address register counts *words*: the physical address is
((page & 0xFE) << 16) | (address << 1), so a transfer wraps at a 128 KiB boundary;
on DMA1 it wraps at 64 KiB (the carry out of the 8237A's 16 bits never reaches the
page register).  A count register holding N means N + 1 transfers.

Devices move data with the API below, the way DREQ/DACK/TC work on the bus:

* ``connect(channel, sync)``: ``sync()`` is called before the guest reads or writes any
  DMA register, so a lazy device can first move the bytes that are due by now (the
  registers the guest then sees are exact to the cycle), and again after a write, so the
  device can re-plan under the new programming.
* ``request(channel, active)``: the device's DREQ line (shown in the status register).
* ``ready(channel)``: whether a DREQ on the channel would be granted now.
* ``transfer(channel, data) -> (n, tc)``: the device offers bytes for memory (the 8237A
  "write" transfer); ``n`` bytes were taken, ``tc`` is the terminal count (EOP) the
  device sees on the last of them.
* ``fetch(channel, count) -> (data, tc)``: the device asks for bytes from memory (a
  "read" transfer).

The transfer type programmed in the mode register decides what the 8237A does, whatever
the device intended: in a verify transfer addresses and counts advance but memory is
neither read nor written, and a transfer in the direction opposite to the device's
(a guest programming error) reads or writes memory with what the bus carries.  The
transfer cycles are not charged to the CPU (no bus-cycle stealing), and memory-to-memory
transfers (command bit 0) are not modelled: see docs/devices/dma-fdc.md.
"""
from peripherals.device import Device

# Mode register bits 3-2 (8237A datasheet, "Mode Register").
VERIFY, WRITE, READ, ILLEGAL = 0, 1, 2, 3
# Mode register bits 7-6.
DEMAND, SINGLE, BLOCK, CASCADE = 0, 1, 2, 3
MODE_NAMES = ("demand", "single", "block", "cascade")
TYPE_NAMES = ("verify", "write", "read", "illegal")

# Command register bits.
CMD_MEM_TO_MEM = 0x01
CMD_DISABLE = 0x04

# Page register (index = port - 0x80) of each channel, IBM PC/AT.
PAGE_PORT = (0x87, 0x83, 0x81, 0x82, 0x8F, 0x8B, 0x89, 0x8A)

DMA1_BASE = 0x00
DMA2_BASE = 0xC0
PAGE_FIRST = 0x81          # 0x80 is the POST port (peripherals/debugport.py)
PAGE_LAST = 0x8F


class _Channel:
    __slots__ = ("base_address", "current_address", "base_count", "current_count",
                 "mode", "dreq")

    def __init__(self):
        self.base_address = 0
        self.current_address = 0
        self.base_count = 0
        self.current_count = 0
        self.mode = 0
        self.dreq = False

    @property
    def transfer_type(self):
        return (self.mode >> 2) & 3

    @property
    def autoinit(self):
        return bool(self.mode & 0x10)

    @property
    def decrement(self):
        return bool(self.mode & 0x20)

    @property
    def service_mode(self):
        return self.mode >> 6


class _Controller:
    """One 8237A: four channels and the registers they share."""

    def __init__(self, first_channel):
        self.first_channel = first_channel
        self.channels = [_Channel() for _ in range(4)]
        self.master_clear()

    def master_clear(self):
        # 8237A: Master Clear clears the Command, Status, Request and Temporary registers
        # and the byte pointer flip-flop, and sets the four mask bits.  The mode, address
        # and count registers are left as they were.
        self.command = 0
        self.tc = 0              # status bits 0-3: channel reached terminal count
        self.request = 0         # software request bits
        self.temporary = 0
        self.flipflop = 0
        self.mask = 0x0F

    @property
    def enabled(self):
        return not (self.command & CMD_DISABLE)

    def status(self):
        dreq = 0
        for i, ch in enumerate(self.channels):
            if ch.dreq:
                dreq |= 1 << i
        return ((dreq | self.request) << 4) | self.tc


class DMA(Device):
    """The two 8237A controllers and the page registers of a PC/AT."""

    name = "dma"

    def __init__(self, machine):
        super().__init__(machine)
        self.controllers = [_Controller(0), _Controller(4)]
        self.pages = [0] * 16
        self._sync = {}                  # channel -> callable, see connect()
        self._syncing = False
        self.reset()
        # 8-bit chips: the bus turns a wider access into byte cycles on consecutive ports.
        self.bus.register_io(DMA1_BASE, 16, self._read_dma1, self._write_dma1, width=1)
        self.bus.register_io(DMA2_BASE, 32, self._read_dma2, self._write_dma2, width=1)
        self.bus.register_io(PAGE_FIRST, PAGE_LAST - PAGE_FIRST + 1,
                             self._read_page, self._write_page, width=1)

    def reset(self):
        """Power-on: both controllers master-cleared, registers and pages zero."""
        for ctl in self.controllers:
            for ch in ctl.channels:
                ch.__init__()
            ctl.master_clear()
        self.pages = [0] * 16

    # ------------------------------------------------------------ device side

    def connect(self, channel, sync):
        """Call ``sync()`` before every guest access to the DMA registers (see module doc)."""
        self._check_channel(channel)
        self._sync[channel] = sync

    def request(self, channel, active=True):
        """Drive the channel's DREQ line."""
        self._channel(channel).dreq = bool(active)

    def ready(self, channel):
        """Would the 8237A acknowledge a request on ``channel`` now?"""
        ctl, ch = self._controller_of(channel), self._channel(channel)
        if not ctl.enabled or ctl.mask & (1 << (channel & 3)):
            return False
        if ch.service_mode == CASCADE:
            return False
        if channel < 4:
            # DMA1's HRQ reaches the CPU only through DMA2's channel 4 in cascade mode.
            dma2 = self.controllers[1]
            if (not dma2.enabled or dma2.mask & 1
                    or dma2.channels[0].service_mode != CASCADE):
                return False
        return True

    def transfer(self, channel, data):
        """Device-to-memory transfers of ``data`` (bytes; an even number on channels
        4-7).  Returns (bytes taken, terminal count reached)."""
        data = bytes(data)
        unit = 2 if channel >= 4 else 1
        if not self.ready(channel):
            return 0, False
        ch = self._channel(channel)
        units = len(data) // unit
        n = min(units, ch.current_count + 1)
        if n == 0:
            return 0, False
        kind = ch.transfer_type
        if kind == WRITE:
            self._store(channel, ch, data[:n * unit])
        elif kind == READ:
            # The 8237A reads memory (MEMR) and strobes IOW: the device's bytes are lost.
            self._load(channel, ch, n * unit)
        tc = self._advance(channel, ch, n)
        return n * unit, tc

    def fetch(self, channel, count):
        """Memory-to-device transfers of ``count`` bytes.  Returns (data, terminal count
        reached); ``data`` is shorter than asked when the count ran out."""
        unit = 2 if channel >= 4 else 1
        if not self.ready(channel):
            return b"", False
        ch = self._channel(channel)
        n = min(count // unit, ch.current_count + 1)
        if n == 0:
            return b"", False
        kind = ch.transfer_type
        if kind == READ:
            data = self._load(channel, ch, n * unit)
        elif kind == WRITE:
            # MEMW with IOR: nothing drives the data lines, so memory gets all ones.
            data = b"\xFF" * (n * unit)
            self._store(channel, ch, data)
        else:
            data = b"\xFF" * (n * unit)
        tc = self._advance(channel, ch, n)
        return data, tc

    def address(self, channel):
        """The physical address of the channel's next transfer."""
        ch = self._channel(channel)
        return self._physical(channel, ch.current_address)

    # ------------------------------------------------------------ transfers

    def _physical(self, channel, address):
        page = self.pages[PAGE_PORT[channel] - 0x80]
        if channel >= 4:
            return ((page & 0xFE) << 16) | ((address << 1) & 0x1FFFF)
        return (page << 16) | address

    def _runs(self, channel, ch, units):
        """Split ``units`` transfers into runs of consecutive physical addresses:
        (physical start, units) in transfer order, for an incrementing channel."""
        addr = ch.current_address
        while units:
            run = min(units, 0x10000 - addr)
            yield self._physical(channel, addr), run
            units -= run
            addr = (addr + run) & 0xFFFF

    def _store(self, channel, ch, data):
        mem = self.machine.mem
        unit = 2 if channel >= 4 else 1
        units = len(data) // unit
        if not ch.decrement:
            done = 0
            for phys, run in self._runs(channel, ch, units):
                mem.write(phys, data[done:done + run * unit])
                done += run * unit
        else:
            addr = ch.current_address
            for i in range(units):
                mem.write(self._physical(channel, addr), data[i * unit:(i + 1) * unit])
                addr = (addr - 1) & 0xFFFF

    def _load(self, channel, ch, nbytes):
        mem = self.machine.mem
        unit = 2 if channel >= 4 else 1
        units = nbytes // unit
        out = bytearray()
        if not ch.decrement:
            for phys, run in self._runs(channel, ch, units):
                out += mem.read(phys, run * unit)
        else:
            addr = ch.current_address
            for _ in range(units):
                out += mem.read(self._physical(channel, addr), unit)
                addr = (addr - 1) & 0xFFFF
        return bytes(out)

    def _advance(self, channel, ch, units):
        """Step address and count by ``units`` transfers; handle terminal count."""
        step = -units if ch.decrement else units
        ch.current_address = (ch.current_address + step) & 0xFFFF
        tc = units == ch.current_count + 1
        ch.current_count = (ch.current_count - units) & 0xFFFF
        if tc:
            ctl = self.controllers[channel >> 2]
            bit = 1 << (channel & 3)
            ctl.tc |= bit
            ctl.request &= ~bit
            if ch.autoinit:
                # Autoinitialize: the base registers reload the current ones after EOP
                # and the channel stays unmasked.
                ch.current_address = ch.base_address
                ch.current_count = ch.base_count
            else:
                ctl.mask |= bit
        return tc

    # ------------------------------------------------------------ guest side (ports)

    def _sync_devices(self):
        if self._syncing:
            return
        self._syncing = True
        try:
            for sync in self._sync.values():
                sync()
        finally:
            self._syncing = False

    def _read_dma1(self, port, width):
        self._sync_devices()
        return self._read_register(self.controllers[0], port - DMA1_BASE)

    def _write_dma1(self, port, width, value):
        self._write_synced(self.controllers[0], port - DMA1_BASE, value)

    # The second 8237 sits on even ports (its A0 is the bus's A1): each register twice.
    def _read_dma2(self, port, width):
        self._sync_devices()
        return self._read_register(self.controllers[1], (port - DMA2_BASE) // 2)

    def _write_dma2(self, port, width, value):
        self._write_synced(self.controllers[1], (port - DMA2_BASE) // 2, value)

    def _write_synced(self, ctl, reg, value):
        # Devices catch up under the old programming, then re-plan under the new one
        # (an unmask can rescue a transfer, a mask can make it overrun).
        self._sync_devices()
        self._write_register(ctl, reg, value)
        self._sync_devices()

    def _read_register(self, ctl, reg):
        if reg < 8:
            ch = ctl.channels[reg >> 1]
            value = ch.current_count if reg & 1 else ch.current_address
            byte = (value >> 8) if ctl.flipflop else value & 0xFF
            ctl.flipflop ^= 1
            return byte & 0xFF
        if reg == 8:
            status = ctl.status()
            ctl.tc = 0               # reading the status register clears the TC bits
            return status
        if reg == 13:
            return ctl.temporary
        return 0xFF                  # write-only registers: nothing drives the bus

    def _write_register(self, ctl, reg, value):
        if reg < 8:
            ch = ctl.channels[reg >> 1]
            shift = 8 if ctl.flipflop else 0
            keep = 0x00FF if shift else 0xFF00
            if reg & 1:
                ch.base_count = (ch.base_count & keep) | (value << shift)
                ch.current_count = ch.base_count
            else:
                ch.base_address = (ch.base_address & keep) | (value << shift)
                ch.current_address = ch.base_address
            ctl.flipflop ^= 1
        elif reg == 8:
            ctl.command = value
        elif reg == 9:
            bit = 1 << (value & 3)
            ctl.request = (ctl.request | bit) if value & 4 else (ctl.request & ~bit)
        elif reg == 10:
            bit = 1 << (value & 3)
            ctl.mask = (ctl.mask | bit) if value & 4 else (ctl.mask & ~bit)
        elif reg == 11:
            ctl.channels[value & 3].mode = value & 0xFC
        elif reg == 12:
            ctl.flipflop = 0
        elif reg == 13:
            ctl.master_clear()
        elif reg == 14:
            ctl.mask = 0
        elif reg == 15:
            ctl.mask = value & 0x0F

    def _read_page(self, port, width):
        self._sync_devices()
        return self.pages[port - 0x80]

    def _write_page(self, port, width, value):
        self._sync_devices()
        self.pages[port - 0x80] = value
        self._sync_devices()

    # ------------------------------------------------------------ helpers

    @staticmethod
    def _check_channel(channel):
        if not 0 <= channel <= 7:
            raise ValueError("DMA channel %r is not 0-7" % (channel,))

    def _controller_of(self, channel):
        self._check_channel(channel)
        return self.controllers[channel >> 2]

    def _channel(self, channel):
        self._check_channel(channel)
        return self.controllers[channel >> 2].channels[channel & 3]

    # ------------------------------------------------------------ snapshots and views

    def get_state(self):
        ctls = []
        for ctl in self.controllers:
            ctls.append({
                "command": ctl.command, "tc": ctl.tc, "request": ctl.request,
                "temporary": ctl.temporary, "flipflop": ctl.flipflop, "mask": ctl.mask,
                "channels": [{
                    "base_address": ch.base_address, "current_address": ch.current_address,
                    "base_count": ch.base_count, "current_count": ch.current_count,
                    "mode": ch.mode, "dreq": ch.dreq,
                } for ch in ctl.channels],
            })
        return {"controllers": ctls, "pages": list(self.pages)}

    def set_state(self, state):
        for ctl, s in zip(self.controllers, state["controllers"]):
            for key in ("command", "tc", "request", "temporary", "flipflop", "mask"):
                setattr(ctl, key, s[key])
            for ch, cs in zip(ctl.channels, s["channels"]):
                for key, value in cs.items():
                    setattr(ch, key, value)
        self.pages = list(state["pages"])

    def info(self):
        lines = ["8237A DMA pair (DMA1 ports 00-0F, DMA2 ports C0-DF, pages 81-8F)"]
        for n, ctl in enumerate(self.controllers):
            lines.append("DMA%d: command %02X%s  status %02X  mask %X  flip-flop %d  temp %02X"
                         % (n + 1, ctl.command, " (disabled)" if not ctl.enabled else "",
                            ctl.status(), ctl.mask, ctl.flipflop, ctl.temporary))
            for i, ch in enumerate(ctl.channels):
                c = ctl.first_channel + i
                lines.append(
                    "  ch%d: %s %-7s %-7s%s%s  address %04X/%04X  count %04X/%04X  page %02X"
                    "  -> %06X%s%s"
                    % (c, "masked  " if ctl.mask & (1 << i) else "unmasked",
                       MODE_NAMES[ch.service_mode], TYPE_NAMES[ch.transfer_type],
                       " autoinit" if ch.autoinit else "", " down" if ch.decrement else "",
                       ch.current_address, ch.base_address, ch.current_count, ch.base_count,
                       self.pages[PAGE_PORT[c] - 0x80], self._physical(c, ch.current_address),
                       "  TC" if ctl.tc & (1 << i) else "", "  DREQ" if ch.dreq else ""))
        return "\n".join(lines)
