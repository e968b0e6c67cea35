"""The 8259A programmable interrupt controller pair of the PC/AT.

Two 8259As, wired as on the AT system board: the master at ports 0x20/0x21 drives the CPU's
INTR pin, the slave at 0xA0/0xA1 has its INT output on the master's IR2.  The ISA bus has no
IRQ2 of its own on an AT: the bus pin that carried IRQ2 on the XT is wired to the slave's IR1
(IRQ9), so ``set_irq(2, ...)`` drives IRQ9 too.  On the PCI machine the PIIX3's edge/level
control registers (ELCR1/ELCR2, ports 0x4D0/0x4D1) are added with ``elcr=True``.

The behaviour follows the Intel 8259A data sheet (order number 231468):

* ICW1 starts initialisation (the "master clear" of Figure 9 resets each priority cell: IRR
  edge latches, ISR, IMR), then ICW2 (vector), ICW3 (only when SNGL=0) and ICW4 (only when
  IC4=1; otherwise every ICW4 function is zero) follow on the odd port.
* OCW1 is the IMR; OCW2 the EOI / rotation / set-priority commands; OCW3 selects the status
  register read at the even port, issues the poll command and sets special mask mode.
* Edge mode: a low-to-high transition sets the IRR bit; the request must stay high until the
  INTA sequence, as the data sheet requires, so a request withdrawn before then clears it.
  Level mode (ICW1.LTIM, or the ELCR on the PCI machine, where the PIIX3 ignores LTIM): IRR
  follows the input.
* An INTA with no request left (it went away after INT was raised) answers with IR7 of the
  chip that was asked and sets no ISR bit: the spurious IRQ7, or IRQ15 when the master had
  picked the slave's IR2 (the master's ISR bit 2 is then set and needs its EOI).

The CPU samples INTR at an instruction boundary and calls ``acknowledge`` at once, so INT is
exactly "the priority resolver has something", recomputed whenever a line, a register or an
EOI changes it.  ``begin_acknowledge`` / ``finish_acknowledge`` are the two INTA pulses on
their own, for whoever wants to change a line between them.
"""
from peripherals.device import Device

MASTER_BASE = 0x20
SLAVE_BASE = 0xA0
ELCR_BASE = 0x4D0
CASCADE_IR = 2          # the master input the slave's INT is wired to
IRQ9_ALIAS = 2          # ISA bus IRQ2 reaches the slave's IR1 (IRQ9) on an AT
# PIIX3 ELCR: IRQ0, 1, 2, 8 and 13 are edge-only (their bits are reserved, read as 0).
ELCR_MASKS = (0xF8, 0xDE)


def _bits(value):
    return "".join("1" if value & (1 << i) else "." for i in range(8))


class I8259:
    """One 8259A.  The registers are plain attributes a debugger may read:

    ``irr``, ``isr``, ``imr`` (8-bit), ``lines`` (the IR input levels), ``lowest`` (the IR
    level with the lowest priority; priority runs from lowest+1 upwards, modulo 8),
    ``special_mask`` (OCW3 SMM), ``read_isr`` (OCW3 RIS: the even port reads ISR instead of
    IRR), ``poll`` (a poll command waits for the next read), ``rotate_aeoi``, ``init_step``
    (0 when initialised, else the ICW expected next) and the decoded ICW fields
    (``ltim``, ``single``, ``ic4``, ``adi``, ``call_addr``, ``icw2``, ``cascade`` on the
    master, ``slave_id`` on the slave, ``upm``, ``aeoi``, ``buffered``, ``buffer_master``,
    ``sfnm``).  ``elcr`` is the PIIX3 edge/level register for this chip's eight lines, or
    None on an ISA machine.
    """

    def __init__(self, name, is_master, elcr=False):
        self.name = name
        self.is_master = is_master
        self.elcr = 0 if elcr else None
        self.lines = 0
        self.reset()

    def reset(self):
        # The data sheet leaves the power-on state undefined.  Start with every request
        # masked, in 8086 mode at vector 0, so that nothing reaches the CPU before the
        # firmware has programmed the chip.
        self.initialised = False
        self.init_step = 0
        self.ltim = False
        self.single = False
        self.ic4 = True
        self.adi = False
        self.call_addr = 0
        self.icw2 = 0
        self.cascade = 1 << CASCADE_IR if self.is_master else 0
        self.slave_id = CASCADE_IR
        self.upm = True
        self.aeoi = False
        self.buffered = False
        self.buffer_master = False
        self.sfnm = False
        self.imr = 0xFF
        self.isr = 0
        self.lowest = 7
        self.rotate_aeoi = False
        self.special_mask = False
        self.read_isr = False
        self.poll = False
        if self.elcr is not None:
            self.elcr = 0
        self.irr = self.lines & self.level_mask

    # ------------------------------------------------------------ priority resolution

    @property
    def level_mask(self):
        """IR inputs that are level-sensed (1) rather than edge-sensed (0)."""
        if self.elcr is not None:
            return self.elcr
        return 0xFF if self.ltim else 0

    def priority(self, level):
        """0 for the highest priority, 7 for the lowest (the current rotation)."""
        return (level - self.lowest - 1) & 7

    def highest(self, bits):
        """The IR level of `bits` with the highest priority, or None."""
        if not bits:
            return None
        level = (self.lowest + 1) & 7
        for _ in range(8):
            if bits & (1 << level):
                return level
            level = (level + 1) & 7
        return None

    def resolve(self):
        """The level the priority resolver would interrupt for now, or None.

        A request needs its IMR bit clear and a priority above every level in service.  In
        special mask mode an in-service level whose mask bit is set blocks nothing (that is
        how a handler opens lower levels).  In special fully nested mode the master also
        lets a request on a cascade input through while that input is in service, so a
        slave's higher-priority request can interrupt the slave's own handler.
        """
        request = self.irr & ~self.imr & 0xFF
        if not request:
            return None
        level = self.highest(request)
        blocking = self.isr & ~self.imr if self.special_mask else self.isr
        top = self.highest(blocking & 0xFF)
        if top is None:
            return level
        if self.priority(level) < self.priority(top):
            return level
        if level == top and self.sfnm and self.cascade_mask & (1 << level):
            return level
        return None

    @property
    def cascade_mask(self):
        """The inputs that have a slave (ICW3 of a master in cascade mode)."""
        if self.is_master and not self.single:
            return self.cascade
        return 0

    @property
    def vector_base(self):
        return self.icw2 & 0xF8

    def vector(self, level):
        """The byte the chip drives on the data bus in the INTA cycle that the CPU reads.

        8086 mode: T7-T3 of ICW2 and the level.  MCS-80/85 mode (ICW4.uPM=0, or no ICW4)
        would send a CALL over three INTA cycles; an x86 reads its second INTA byte, which
        there is the low byte of the CALL address (A7-A5 of ICW1 with a 4-byte interval,
        A7-A6 with an 8-byte one)."""
        if self.upm:
            return self.vector_base | level
        if self.adi:
            return (self.call_addr & 0xE0) | (level << 2)
        return (self.call_addr & 0xC0) | (level << 3)

    # ------------------------------------------------------------ inputs and INTA

    def set_line(self, level_no, high):
        bit = 1 << level_no
        was = self.lines & bit
        if high:
            self.lines |= bit
        else:
            self.lines &= ~bit
        if self.level_mask & bit:
            self.irr = (self.irr & ~bit) | (self.lines & bit)
        elif high and not was:
            self.irr |= bit                 # the edge-sense latch saw a rising edge
        elif not high:
            self.irr &= ~bit                # withdrawn before INTA: no request any more

    def service(self, level):
        """First INTA (or a poll): the level goes in service; an edge request is consumed."""
        bit = 1 << level
        self.isr |= bit
        if not self.level_mask & bit:
            self.irr &= ~bit

    def end_of_inta(self, level):
        """Trailing edge of the last INTA: automatic EOI (and rotation) if programmed."""
        if self.aeoi:
            self.isr &= ~(1 << level)
            if self.rotate_aeoi:
                self.lowest = level

    # ------------------------------------------------------------ registers

    def write(self, a0, value):
        value &= 0xFF
        if a0 == 0:
            if value & 0x10:
                self._icw1(value)
            elif value & 0x08:
                self._ocw3(value)
            else:
                self._ocw2(value)
        elif self.init_step == 2:
            self.icw2 = value
            self._next_icw(3 if not self.single else (4 if self.ic4 else 0))
        elif self.init_step == 3:
            if self.is_master:
                self.cascade = value
            else:
                self.slave_id = value & 7
            self._next_icw(4 if self.ic4 else 0)
        elif self.init_step == 4:
            self._icw4(value)
            self._next_icw(0)
        else:
            self.imr = value                # OCW1

    def _next_icw(self, step):
        self.init_step = step
        if step == 0:
            self.initialised = True

    def _icw1(self, value):
        self.call_addr = value & 0xE0
        self.ltim = bool(value & 0x08)
        self.adi = bool(value & 0x04)
        self.single = bool(value & 0x02)
        self.ic4 = bool(value & 0x01)
        self.init_step = 2
        self.initialised = False
        # Master clear of the priority cells, IR7 lowest, slave address 7, SMM off, status
        # read set to IRR; without IC4 every ICW4 function is zero.
        self.imr = 0
        self.isr = 0
        self.irr = self.lines & self.level_mask
        self.lowest = 7
        self.slave_id = 7
        self.special_mask = False
        self.read_isr = False
        self.poll = False
        if not self.ic4:
            self._icw4(0)

    def _icw4(self, value):
        self.upm = bool(value & 0x01)
        self.aeoi = bool(value & 0x02)
        self.buffer_master = bool(value & 0x04)
        self.buffered = bool(value & 0x08)
        self.sfnm = bool(value & 0x10)

    def _ocw2(self, value):
        command = value >> 5                # R, SL, EOI
        level = value & 7
        if command == 0b001:                # non-specific EOI
            self._nonspecific_eoi(rotate=False)
        elif command == 0b011:              # specific EOI
            self.isr &= ~(1 << level)
        elif command == 0b101:              # rotate on non-specific EOI
            self._nonspecific_eoi(rotate=True)
        elif command == 0b100:              # rotate in automatic EOI mode (set)
            self.rotate_aeoi = True
        elif command == 0b000:              # rotate in automatic EOI mode (clear)
            self.rotate_aeoi = False
        elif command == 0b111:              # rotate on specific EOI
            self.isr &= ~(1 << level)
            self.lowest = level
        elif command == 0b110:              # set priority: `level` becomes the lowest
            self.lowest = level
        # 0b010: no operation

    def _nonspecific_eoi(self, rotate):
        # The highest-priority level in service is the one being finished.  In special
        # mask mode an in-service level whose mask bit is set is not cleared by it.
        candidates = self.isr & ~self.imr if self.special_mask else self.isr
        level = self.highest(candidates & 0xFF)
        if level is None:
            return
        self.isr &= ~(1 << level)
        if rotate:
            self.lowest = level

    def _ocw3(self, value):
        if value & 0x40:                    # ESMM: SMM is taken into account
            self.special_mask = bool(value & 0x20)
        if value & 0x04:
            self.poll = True
        if value & 0x02:                    # RR: RIS selects the register read
            self.read_isr = bool(value & 0x01)

    def read(self, a0):
        if self.poll:
            return self._poll_read()
        if a0 == 1:
            return self.imr
        return self.isr if self.read_isr else self.irr

    def _poll_read(self):
        # The data sheet: the RD after a poll command is taken as an interrupt acknowledge
        # (the IS bit is set) and returns I......W2W1W0.  There is no INTA sequence, so no
        # automatic EOI.  With nothing requesting, I is 0 and the level bits are 0.
        self.poll = False
        level = self.resolve()
        if level is None:
            return 0x00
        self.service(level)
        return 0x80 | level

    # ------------------------------------------------------------ snapshots and views

    FIELDS = ("lines", "irr", "isr", "imr", "lowest", "rotate_aeoi", "special_mask",
              "read_isr", "poll", "init_step", "initialised", "ltim", "single", "ic4", "adi",
              "call_addr", "icw2", "cascade", "slave_id", "upm", "aeoi", "buffered",
              "buffer_master", "sfnm", "elcr")

    def get_state(self):
        return {name: getattr(self, name) for name in self.FIELDS}

    def set_state(self, state):
        for name in self.FIELDS:
            if name == "elcr" and self.elcr is None:
                continue
            setattr(self, name, state[name])

    def info(self):
        mode = "level" if self.level_mask == 0xFF else (
            "edge" if self.level_mask == 0 else "edge/level " + _bits(self.level_mask))
        flags = [mode]
        if not self.initialised:
            flags.append("uninitialised (ICW%d next)" % self.init_step
                         if self.init_step else "not initialised")
        if self.aeoi:
            flags.append("AEOI" + (" rotate" if self.rotate_aeoi else ""))
        if self.sfnm:
            flags.append("SFNM")
        if self.special_mask:
            flags.append("special mask")
        if not self.upm:
            flags.append("MCS-80/85 mode")
        if self.poll:
            flags.append("poll pending")
        role = ("slaves on " + _bits(self.cascade_mask)) if self.is_master and not self.single \
            else ("slave id %d" % self.slave_id if not self.is_master else "single")
        pending = self.resolve()
        return ("%s: vector base 0x%02X, lowest priority IR%d, %s, %s\n"
                "  IR  01234567\n  lines %s\n  IRR   %s\n  ISR   %s\n  IMR   %s\n"
                "  INT %s" % (
                    self.name, self.vector_base, self.lowest, role, ", ".join(flags),
                    _bits(self.lines), _bits(self.irr), _bits(self.isr), _bits(self.imr),
                    "high (IR%d)" % pending if pending is not None else "low"))


class PIC(Device):
    """The cascaded 8259A pair of a PC/AT, installed as ``machine.pic``.

    ``elcr``: add the PIIX3 edge/level control registers at 0x4D0/0x4D1 (the PCI ``pc``
    machine); the ISA machine has none.

    ``master`` and ``slave`` are the two I8259 chips.  ``set_irq(line, level)`` drives ISA
    interrupt line 0-15; ``acknowledge()`` is the INTA sequence (``machine.cpu.intr_ack``)
    and returns the vector; ``int_output`` is the master's INT pin (``machine.cpu.intr``).
    ``acknowledged`` counts INTA sequences and ``spurious`` those answered with a
    default IR7.
    """

    name = "pic"

    def __init__(self, machine, *, elcr=False):
        super().__init__(machine)
        self.master = I8259("master", True, elcr)
        self.slave = I8259("slave", False, elcr)
        self.has_elcr = bool(elcr)
        self.bus_lines = 0              # ISA IRQ0-15 as driven by the devices
        self.int_output = False
        self.acknowledged = 0
        self.spurious = 0
        self._inta_level = None
        # 8-bit chips: the bus turns a wider access into byte cycles on consecutive ports.
        self.bus.register_io(MASTER_BASE, 2, self._read, self._write, width=1)
        self.bus.register_io(SLAVE_BASE, 2, self._read, self._write, width=1)
        if elcr:
            self.bus.register_io(ELCR_BASE, 2, self._read_elcr, self._write_elcr, width=1)
        machine.pic = self
        self.cpu = getattr(machine, "cpu", None)
        if self.cpu is not None:
            self.cpu.intr_ack = self.acknowledge
        self._update()

    def reset(self):
        """Power-on state of both chips (the IR inputs keep their levels: they are wires)."""
        self.master.reset()
        self.slave.reset()
        self.acknowledged = 0
        self.spurious = 0
        self._inta_level = None
        self._update()

    # ------------------------------------------------------------ wiring

    def set_irq(self, line, level):
        """Drive ISA interrupt line `line` (0-15) high (True) or low (False)."""
        if not 0 <= line <= 15:
            raise ValueError("IRQ line must be 0-15, not %r" % (line,))
        bit = 1 << line
        if level:
            self.bus_lines |= bit
        else:
            self.bus_lines &= ~bit
        if line == IRQ9_ALIAS or line == 9:
            self.slave.set_line(1, bool(self.bus_lines & ((1 << 9) | (1 << IRQ9_ALIAS))))
        elif line < 8:
            self.master.set_line(line, bool(level))
        else:
            self.slave.set_line(line - 8, bool(level))
        self._update()

    def _update(self):
        # Slave INT -> master IR2; master INT -> CPU INTR.
        slave_int = self.slave.resolve() is not None
        if bool(self.master.lines & (1 << CASCADE_IR)) != slave_int:
            self.master.set_line(CASCADE_IR, slave_int)
        self.int_output = self.master.resolve() is not None
        if self.cpu is not None:
            self.cpu.intr = self.int_output

    def acknowledge(self):
        """The INTA sequence (``machine.cpu.intr_ack``): returns the vector the CPU reads."""
        self.begin_acknowledge()
        return self.finish_acknowledge()

    def begin_acknowledge(self):
        """The first INTA pulse: the master freezes its requests and the highest one goes
        in service.  Returns that IR level, or None (a default IR7 will follow).

        The CPU calls ``acknowledge``, which is both pulses at once.  The two halves are
        here for a test or a debugger that changes a line between the pulses: a slave
        request that went away by then is answered as the slave's IR7 (IRQ15)."""
        self.acknowledged += 1
        level = self.master.resolve()
        self._inta_level = level
        if level is not None:
            self.master.service(level)
        self._update()
        return level

    def finish_acknowledge(self):
        """The second INTA pulse: the vector goes on the data bus (from the slave whose ID
        the master put on the cascade lines, if the level has one); automatic EOI."""
        master, slave = self.master, self.slave
        level, self._inta_level = self._inta_level, None
        if level is None:
            self.spurious += 1
            vector = master.vector(7)
        else:
            if master.cascade_mask & (1 << level):
                if not slave.single and slave.slave_id == level:
                    slave_level = slave.resolve()
                    if slave_level is None:
                        self.spurious += 1
                        vector = slave.vector(7)
                    else:
                        slave.service(slave_level)
                        vector = slave.vector(slave_level)
                        slave.end_of_inta(slave_level)
                else:
                    vector = 0xFF           # no slave answers the CAS address: bus floats
            else:
                vector = master.vector(level)
            master.end_of_inta(level)
        self._update()
        return vector

    # ------------------------------------------------------------ ports

    def _chip(self, port):
        return self.master if port < SLAVE_BASE else self.slave

    def _read(self, port, width):
        value = self._chip(port).read(port & 1)
        self._update()                      # a poll read can set an ISR bit
        return value

    def _write(self, port, width, value):
        self._chip(port).write(port & 1, value)
        self._update()

    def _read_elcr(self, port, width):
        return (self.master, self.slave)[port - ELCR_BASE].elcr

    def _write_elcr(self, port, width, value):
        p = port - ELCR_BASE
        chip = (self.master, self.slave)[p]
        chip.elcr = value & ELCR_MASKS[p]
        # A line switched to level mode requests while it is high; one switched
        # to edge mode keeps a latched request only while its input stays high.
        chip.irr = ((chip.irr & chip.lines & ~chip.elcr)
                    | (chip.lines & chip.elcr)) & 0xFF
        self._update()

    @property
    def elcr(self):
        """(ELCR1, ELCR2), or None on a machine without them."""
        if not self.has_elcr:
            return None
        return (self.master.elcr, self.slave.elcr)

    # ------------------------------------------------------------ snapshots and views

    def get_state(self):
        return {
            "master": self.master.get_state(),
            "slave": self.slave.get_state(),
            "bus_lines": self.bus_lines,
            "acknowledged": self.acknowledged,
            "spurious": self.spurious,
            "inta_level": self._inta_level,
        }

    def set_state(self, state):
        self.master.set_state(state["master"])
        self.slave.set_state(state["slave"])
        self.bus_lines = state["bus_lines"]
        self.acknowledged = state["acknowledged"]
        self.spurious = state["spurious"]
        self._inta_level = state["inta_level"]
        self._update()

    def info(self):
        lines = ["8259A pair: INTR %s; %d INTA, %d spurious" % (
            "high" if self.int_output else "low", self.acknowledged, self.spurious)]
        lines.append(self.master.info())
        lines.append(self.slave.info())
        if self.has_elcr:
            lines.append("ELCR 0x4D0=%02X 0x4D1=%02X" % self.elcr)
        return "\n".join(lines)
