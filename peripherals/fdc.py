"""The Intel 82077AA floppy disk controller in PC/AT mode, with drives A: and B:.

Registers (base 0x3F0): DOR at +2, TDR at +3, MSR (read) / DSR (write) at +4, the data
FIFO at +5, DIR (read) / CCR (write) at +7.  SRA/SRB (+0, +1) exist only in the PS/2
modes and +6 belongs to the hard disk controller, so those ports are left unclaimed.
Interrupts go to IRQ6 and DMA to channel 2 of peripherals/dma.py; both outputs are gated
by DOR bit 3 (DMAGATE), as in PC/AT mode.

The disk is modelled as it turns.  A drive's disk starts spinning when its motor bit
goes on in the DOR, and the index hole passes at that cycle and every revolution after
it (300 or 360 rpm).  A track has the IBM System/34 (MFM) layout: gap 4a, sync, index
mark, gap 1, then each sector as sync, ID address mark, C H R N, CRC, gap 2, sync, data
address mark, the data, CRC and gap 3, every byte taking 8 bit times at the data rate.
So a READ DATA finds its sector when the sector's ID passes the head, each data byte
reaches the FIFO (and DMA moves it to memory) at the moment it has come off the disk,
and the command ends when the last sector's CRC has passed.  A sector that is not on
the track ends the command at the second index pulse (ND, or MA for a track without
any readable ID: unformatted, the wrong data rate, FM, a missing side).  Seeks take
the SPECIFY step rate per track.  Without a disk, or with its motor off, a drive gives
no index pulses and a data command waits, as the datasheet warns, until the controller
is reset (or the motor is turned on / a disk inserted, when the search starts then).

The model is lazy: bytes move when anything looks (a port read or write of the FDC or
the DMA controller) and at the command's own edges (a sector's end, the result phase,
the byte at which an unserviced FIFO would overrun); see docs/devices/dma-fdc.md.

Datasheet: Intel 82077AA CHMOS Single-Chip Floppy Disk Controller (order 290166); the
command set is the NEC uPD765A/Intel 8272A one plus VERSION, CONFIGURE, LOCK, DUMPREG,
PERPENDICULAR MODE and RELATIVE SEEK.
"""
import math
import os
from collections import namedtuple
from fractions import Fraction

from peripherals.device import Device
from peripherals.diskimage import DiskImage, DiskImageError

BASE = 0x3F0
IRQ = 6
DMA_CHANNEL = 2

# Data rate select (DSR/CCR bits 1-0), bits per second.
RATE_BPS = {0: 500_000, 1: 300_000, 2: 250_000, 3: 1_000_000}
RATE_NAMES = {0: "500 kbit/s", 1: "300 kbit/s", 2: "250 kbit/s", 3: "1 Mbit/s"}

# MSR bits.
MSR_RQM, MSR_DIO, MSR_NDMA, MSR_CB = 0x80, 0x40, 0x20, 0x10
# DOR bits.
DOR_RESET, DOR_DMAGATE = 0x04, 0x08
# ST0: interrupt code (bits 7-6), seek end, equipment check, head, drive.
IC_NORMAL, IC_ABNORMAL, IC_INVALID, IC_POLL = 0x00, 0x40, 0x80, 0xC0
ST0_SE, ST0_EC = 0x20, 0x10
# ST1.
ST1_EN, ST1_DE, ST1_OR, ST1_ND, ST1_NW, ST1_MA = 0x80, 0x20, 0x10, 0x04, 0x02, 0x01
# ST2.
ST2_CM, ST2_DD, ST2_WC, ST2_BC, ST2_MD = 0x40, 0x20, 0x10, 0x02, 0x01

# Track layout in bytes (IBM System/34 double density).  Positions within a sector start
# at its sync field: the ID address mark ends at 16 (the controller must be looking by
# the time the mark begins, at 12), the ID field with CRC is read by 22, the data begin
# at 60 and the data CRC ends 62 bytes plus the data after the sector start.
TRACK_PREAMBLE = 80 + 12 + 4 + 50      # gap 4a, sync, index mark, gap 1
ID_MARK = 12
ID_FIELD = 16                           # C H R N written by FORMAT from here
ID_END = 22
DATA_START = 60
SECTOR_OVERHEAD = 62                    # sync .. data CRC, without the data

# The 82077AA samples TRK0 for at most 79 step pulses during a RECALIBRATE.
RECALIBRATE_STEPS = 79

MediaFormat = namedtuple("MediaFormat",
                         "name size cylinders heads sectors rates gap3 tracks")
# rates: data rate code -> spindle rpm with which a drive reads the medium at that rate
# (5.25" double density: 250 kbit/s at 300 rpm in a 360K drive, 300 kbit/s at 360 rpm in
# a 1.2M drive).  gap3: the standard FORMAT gap length, which spaces the sectors.
# tracks: how many head positions the drive's stepper reaches.
_DD525 = {2: 300, 1: 360}
MEDIA = (
    MediaFormat("160K", 163_840, 40, 1, 8, _DD525, 80, 42),
    MediaFormat("180K", 184_320, 40, 1, 9, _DD525, 80, 42),
    MediaFormat("320K", 327_680, 40, 2, 8, _DD525, 80, 42),
    MediaFormat("360K", 368_640, 40, 2, 9, _DD525, 80, 42),
    MediaFormat("720K", 737_280, 80, 2, 9, {2: 300}, 80, 84),
    MediaFormat("1.2M", 1_228_800, 80, 2, 15, {0: 360}, 84, 84),
    MediaFormat("1.44M", 1_474_560, 80, 2, 18, {0: 300}, 108, 84),
    MediaFormat("2.88M", 2_949_120, 80, 2, 36, {3: 300}, 83, 84),
)
MEDIA_BY_SIZE = {m.size: m for m in MEDIA}
EMPTY_DRIVE_TRACKS = 84


def media_for(path, size):
    """The floppy format of an image of `size` bytes; a clear error otherwise."""
    media = MEDIA_BY_SIZE.get(size)
    if media is None:
        raise DiskImageError(
            "%s: %d bytes is not the size of a floppy image (expected one of %s)"
            % (path, size, ", ".join("%s = %d" % (m.name, m.size) for m in MEDIA)))
    return media


class FloppyDrive:
    """A drive on the cable: its head position, motor and disk-change line, and the disk."""

    def __init__(self, index):
        self.index = index
        self.image = None
        self.media = None
        self.write_protect = False
        self.track = 0                  # physical head position
        self.motor_origin = None        # cycle the spindle started (an index pulse)
        # DSKCHG is active at power-on and while no disk is in; a step pulse with a
        # disk in clears it.
        self.changed = True

    @property
    def tracks(self):
        return self.media.tracks if self.media else EMPTY_DRIVE_TRACKS

    def insert(self, image, media, write_protect=False):
        self.image, self.media, self.write_protect = image, media, write_protect
        self.changed = True

    def eject(self):
        image = self.image
        self.image = self.media = None
        self.changed = True
        return image


class _Op:
    """A command in its execution phase (a data transfer, FORMAT or READ ID)."""

    FIELDS = ("kind", "deleted", "skip", "mt", "mfm", "ec", "ds", "hds", "drive", "c", "h",
              "r", "n", "eot", "gpl", "dtl", "fmt_sc", "fmt_gpl", "fmt_d", "stage", "m0",
              "cpb", "rev", "s", "b", "size", "buf", "fifo", "tc", "st1", "st2", "sectors",
              "end", "found", "skipping")

    def __init__(self, **kw):
        for f in self.FIELDS:
            setattr(self, f, None)
        self.b = 0
        self.size = 0
        self.buf = bytearray()
        self.fifo = bytearray()
        self.tc = False
        self.st1 = self.st2 = 0
        self.sectors = 0
        self.skipping = False
        for k, v in kw.items():
            setattr(self, k, v)

    # Rotation: positions are bytes since the spindle's origin index pulse.
    def cycle(self, pos):
        return self.m0 + math.ceil(pos * self.cpb)

    def pos(self, cycle):
        return Fraction(cycle - self.m0) / self.cpb

    def due(self, cycle, first, count):
        """How many of `count` bytes at positions first, first+1, ... have passed by
        `cycle` (the byte at position p has passed at cycle(p))."""
        k = math.floor(self.pos(cycle) - first) + 1
        return max(0, min(count, k))

    def get_state(self, now):
        """Plain data; cycles (m0, end) as offsets from `now`."""
        out = {}
        for f in self.FIELDS:
            v = getattr(self, f)
            if isinstance(v, Fraction):
                v = ("fraction", v.numerator, v.denominator)
            elif isinstance(v, bytearray):
                v = bytes(v)
            out[f] = v
        for f in ("m0", "end"):
            if out[f] is not None:
                out[f] -= now
        return out

    @classmethod
    def from_state(cls, state, now):
        op = cls()
        for f, v in state.items():
            if isinstance(v, (tuple, list)) and len(v) == 3 and v[0] == "fraction":
                v = Fraction(v[1], v[2])
            elif f in ("buf", "fifo"):
                v = bytearray(v)
            setattr(op, f, v)
        for f in ("m0", "end"):
            if getattr(op, f) is not None:
                setattr(op, f, getattr(op, f) + now)
        return op


# Command decoding: (mask, value, name, length in bytes).  The data commands keep their
# MT/MFM/SK option bits in the top three bits of the first byte.
COMMANDS = (
    (0xFF, 0x03, "SPECIFY", 3),
    (0xFF, 0x04, "SENSE DRIVE STATUS", 2),
    (0xFF, 0x07, "RECALIBRATE", 2),
    (0xFF, 0x08, "SENSE INTERRUPT STATUS", 1),
    (0xFF, 0x0F, "SEEK", 3),
    (0xBF, 0x8F, "RELATIVE SEEK", 3),
    (0xFF, 0x0E, "DUMPREG", 1),
    (0xFF, 0x10, "VERSION", 1),
    (0xFF, 0x12, "PERPENDICULAR MODE", 2),
    (0xFF, 0x13, "CONFIGURE", 4),
    (0x7F, 0x14, "LOCK", 1),
    (0x1F, 0x06, "READ DATA", 9),
    (0x1F, 0x0C, "READ DELETED DATA", 9),
    (0x3F, 0x05, "WRITE DATA", 9),
    (0x3F, 0x09, "WRITE DELETED DATA", 9),
    (0x1F, 0x16, "VERIFY", 9),
    (0xBF, 0x0A, "READ ID", 2),
    (0xBF, 0x0D, "FORMAT TRACK", 6),
)
# Commands that end with an interrupt: issuing one drops the interrupt statuses still
# waiting for a SENSE INTERRUPT STATUS (the datasheet warns they are lost otherwise).
INTERRUPTING = {"RECALIBRATE", "SEEK", "RELATIVE SEEK", "READ DATA", "READ DELETED DATA",
                "WRITE DATA", "WRITE DELETED DATA", "VERIFY", "READ ID", "FORMAT TRACK"}

IDLE, COMMAND, EXECUTION, RESULT = "idle", "command", "execution", "result"
_TIMER_ORDER = {"poll": 0, "seek0": 1, "seek1": 2, "seek2": 3, "seek3": 4, "op": 5}


def decode(byte):
    for mask, value, name, length in COMMANDS:
        if byte & mask == value:
            return name, length
    return None, 1


class FDC(Device):
    """The 82077AA with drives 0 (A:) and 1 (B:); drives 2 and 3 are not connected.

    ``fda``/``fdb``: image paths (or None for an empty drive); ``write_protect`` and
    ``commit`` apply to both (see DiskImage: without commit, guest writes stay in a
    copy-on-write overlay).  ``dma``: the peripherals.dma.DMA device (looked up on the
    machine when not given).
    """

    name = "fdc"

    def __init__(self, machine, dma=None, *, fda=None, fdb=None, write_protect=False,
                 commit=False, base=BASE, irq=IRQ, dma_channel=DMA_CHANNEL):
        super().__init__(machine)
        self.base = base
        self.irq = irq
        self.dma_channel = dma_channel
        self.dma = dma if dma is not None else machine.device("dma")
        self.drives = [FloppyDrive(0), FloppyDrive(1), None, None]
        self._event = None
        self._timers = {}
        self._irq_level = False
        self.reset()
        for i, path in enumerate((fda, fdb)):
            if path is not None:
                self.insert(i, path, write_protect=write_protect, commit=commit)
        bus = self.bus
        # Byte registers: the bus turns a wider access into byte cycles.
        bus.register_io(base + 2, 4, self._read_port, self._write_port, width=1)
        bus.register_io(base + 7, 1, self._read_port, self._write_port, width=1)
        if self.dma is not None:
            self.dma.connect(dma_channel, self._sync)

    # ================================================================ disks

    def insert(self, drive, image, write_protect=False, commit=False):
        """Put a disk in drive 0 or 1: a path or an open DiskImage.  The media format
        comes from the image size; any other size is a DiskImageError naming the file."""
        d = self._attached(drive)
        if not isinstance(image, DiskImage):
            path = os.fspath(image)
            image = DiskImage(path, commit=commit, read_only=write_protect)
        try:
            media = media_for(image.path, image.size)
        except DiskImageError:
            image.close()
            raise
        self._advance(self.clock.now)
        if d.image is not None:
            d.image.close()
        d.insert(image, media, write_protect or image.read_only)
        self._resume_waiting(self.clock.now)
        self._reschedule()
        return media

    def eject(self, drive):
        """Take the disk out of drive 0 or 1 (the disk-change line goes active)."""
        self._advance(self.clock.now)
        image = self._attached(drive).eject()
        if image is not None:
            image.close()
        self._reschedule()

    def _attached(self, drive):
        if drive not in (0, 1):
            raise ValueError("floppy drive %r is not 0 (A:) or 1 (B:)" % (drive,))
        return self.drives[drive]

    # ================================================================ reset

    def reset(self):
        """Hardware RESET: everything to power-on values, the DOR holds the controller
        in reset (a BIOS writes it to start the controller)."""
        self.dor = 0
        self.tdr = 0
        self.rate = 2                   # 250 kbit/s after a hardware reset
        self.precomp = 0
        self.powerdown = 0
        self.srt = self.hut = self.hlt = 0
        self.nd = 0
        self.lock = 0
        self.perp_drives = 0
        self.sc_eot = 0
        self.chrn = [0, 0, 0, 0]
        self.fifo_latch = 0
        for d in self.drives:
            if d is not None:
                d.motor_origin = None
        self._soft_reset_registers()
        self._enter_reset(self.clock.now)

    def _soft_reset_registers(self):
        # LOCK keeps EFIFO, FIFOTHR and PRETRK through a DOR/DSR reset (82077AA, LOCK
        # command); a reset always clears EIS, re-enables polling and clears the
        # perpendicular GAP and WGATE bits.
        if not self.lock:
            self.efifo = 1
            self.fifothr = 0
            self.pretrk = 0
        self.eis = 0
        self.poll_disabled = 0
        self.perp_gap = 0
        self.perp_wgate = 0

    def _enter_reset(self, now):
        self.in_reset = True
        self.phase = IDLE
        self.command = []
        self.cmd_name = None
        self.cmd_length = 0
        self.result = []
        self.result_int = False
        self.pending = []               # [drive, ST0] waiting for SENSE INTERRUPT STATUS
        self.pcn = [0, 0, 0, 0]
        self.busy = 0
        self.seek_target = {}           # drive select -> physical track at seek end
        self.op = None
        self._timers = {}
        if self.dma is not None:
            self.dma.request(self.dma_channel, False)
        self._soft_reset_registers()
        self._update_irq()
        self._reschedule()

    def _leave_reset(self, now):
        self.in_reset = False
        # The drive-polling loop after a reset finds the four (simulated) drives
        # "became ready" and interrupts once; see poll_cycles().
        self._timers["poll"] = now + self.poll_cycles()
        self._reschedule()

    def poll_cycles(self):
        """Cycles from leaving reset to the polling interrupt: one pass of the 82077AA's
        drive-polling loop, taken as 250 us at 250 kbit/s and scaling with the
        data-rate clock (125 us at 500 kbit/s); see docs/devices/dma-fdc.md."""
        return math.ceil(Fraction(self.clock.frequency * 250, 1_000_000)
                         * Fraction(250_000, RATE_BPS[self.rate]))

    # ================================================================ timing

    def step_cycles(self, steps):
        """Cycles for `steps` step pulses at the SPECIFY step rate: (16 - SRT) ms at
        500 kbit/s, scaled by the data-rate clock (0.5 ms units at 1 Mbit/s, 2 ms at
        250 kbit/s)."""
        seconds = Fraction(16 - self.srt, 1000) * Fraction(500_000, RATE_BPS[self.rate])
        return math.ceil(steps * seconds * self.clock.frequency)

    def _rotation(self, drive):
        """(m0, cycles per byte, bytes per revolution, readable) of a turning disk, or
        None when the drive gives no index pulses."""
        if drive is None or drive.image is None or drive.motor_origin is None:
            return None
        if not self.dor & (0x10 << drive.index):
            return None
        bps = RATE_BPS[self.rate]
        rpm = drive.media.rates.get(self.rate)
        readable = rpm is not None
        if rpm is None:
            rpm = next(iter(drive.media.rates.values()))
        cpb = Fraction(self.clock.frequency * 8, bps)
        rev = Fraction(bps * 60, 8 * rpm)
        return drive.motor_origin, cpb, rev, readable

    # ================================================================ the clock

    def _sync(self):
        """Called by the DMA controller around guest accesses to its registers."""
        self._advance(self.clock.now)
        self._reschedule()

    def _reschedule(self):
        if not self._timers:
            if self._event is not None and self._event.pending:
                self.clock.cancel(self._event)
            return
        when = min(self._timers.values())
        if self._event is None:
            self._event = self.clock.schedule(when, self._on_event)
        elif not self._event.pending or self._event.deadline != when:
            self.clock.reschedule(self._event, when)

    def _on_event(self, deadline):
        self._advance(deadline)
        self._reschedule()

    def _advance(self, now):
        """Bring the controller up to cycle `now`: every edge due by then, in order."""
        while self._timers:
            name, when = min(self._timers.items(), key=lambda kv: (kv[1], _TIMER_ORDER[kv[0]]))
            if when > now:
                break
            del self._timers[name]
            if name == "op":
                self._op_edge(when)
            elif name == "poll":
                if not self.poll_disabled:
                    self.pending[:0] = [[d, IC_POLL | d] for d in range(4)]
                    self._update_irq()
            else:
                self._seek_done(int(name[4:]), when)
        op = self.op
        if op is not None and op.stage in ("data", "format"):
            self._op_bytes(now)
            if self.op is op:
                self._set_op_timer()

    # ================================================================ interrupt line

    def _int_pin(self):
        return self.result_int or bool(self.pending) or self._pio_request()

    def _update_irq(self):
        level = bool(self._int_pin() and self.dor & DOR_DMAGATE and not self.in_reset)
        if level != self._irq_level:
            self._irq_level = level
            self.machine.set_irq(self.irq, level)

    # ================================================================ ports

    def _read_port(self, port, width):
        reg = port - self.base
        now = self.clock.now
        self._advance(now)
        if reg == 2:
            return self.dor
        if reg == 3:
            return 0xFC | self.tdr      # bits 7-2 are not driven in PC/AT mode
        if reg == 4:
            return self.msr()
        if reg == 5:
            value = self._fifo_read(now)
            self._reschedule()
            return value
        if reg == 7:
            # DIR: bit 7 is the selected drive's disk-change line; bits 6-0 are not
            # driven by the 82077AA in PC/AT mode and read as the ISA bus's pull-ups.
            d = self.drives[self.dor & 3]
            return 0x7F | (0x80 if d is not None and d.changed else 0)
        return 0xFF

    def _write_port(self, port, width, value):
        reg = port - self.base
        now = self.clock.now
        self._advance(now)
        if reg == 2:
            self._write_dor(now, value)
        elif reg == 3:
            self.tdr = value & 3
        elif reg == 4:
            self.rate = value & 3
            self.precomp = (value >> 2) & 7
            self.powerdown = (value >> 6) & 1
            if value & 0x80:
                # DSR software reset: a pulse, the bit clears itself.
                self._enter_reset(now)
                if self.dor & DOR_RESET:
                    self._leave_reset(now)
        elif reg == 5:
            self._fifo_write(now, value)
        elif reg == 7:
            self.rate = value & 3       # CCR
        self._reschedule()

    def _write_dor(self, now, value):
        old = self.dor
        self.dor = value
        for d in self.drives[:2]:
            bit = 0x10 << d.index
            if value & bit and not old & bit:
                d.motor_origin = now
            elif old & bit and not value & bit:
                d.motor_origin = None
        if old & DOR_RESET and not value & DOR_RESET:
            self._enter_reset(now)
        elif not old & DOR_RESET and value & DOR_RESET:
            self._leave_reset(now)
        self._resume_waiting(now)
        self._update_irq()

    def msr(self):
        """The main status register as the guest reads it now (no side effects)."""
        if self.in_reset:
            return 0
        v = self.busy
        if self.phase == IDLE:
            v |= MSR_RQM
        elif self.phase == COMMAND:
            v |= MSR_RQM | MSR_CB
        elif self.phase == RESULT:
            v |= MSR_RQM | MSR_DIO | MSR_CB
        else:
            v |= MSR_CB
            op = self.op
            if self.nd:
                v |= MSR_NDMA
                if self._pio_request():
                    v |= MSR_RQM | (MSR_DIO if op.kind in ("read",) else 0)
        return v

    def _pio_request(self):
        """Non-DMA execution: the FIFO has a byte for the host (reads) or room for one
        (writes, FORMAT); this is also the INT output in that phase."""
        op = self.op
        if op is None or not self.nd or self.phase != EXECUTION or op.stage not in (
                "data", "format"):
            return False
        if op.kind == "read":
            return len(op.fifo) > 0
        if op.kind in ("write", "format"):
            return len(op.fifo) < self._fifo_depth() and op.b + len(op.fifo) < op.size
        return False

    def _fifo_depth(self):
        return 1 if self.efifo else 16

    def _fifo_read(self, now):
        if self.phase == RESULT:
            value = self.result.pop(0)
            if self.result_int:
                # Reading the first result byte clears the interrupt.
                self.result_int = False
            if not self.result:
                self.phase = IDLE
            self.fifo_latch = value
            self._update_irq()
            return value
        op = self.op
        if (self.phase == EXECUTION and self.nd and op.kind == "read" and op.fifo):
            value = op.fifo.pop(0)
            self.fifo_latch = value
            self._set_op_timer()
            self._update_irq()
            return value
        return self.fifo_latch

    def _fifo_write(self, now, value):
        if self.in_reset:
            return
        if self.phase == IDLE:
            name, length = decode(value)
            self.fifo_latch = value
            if name is None:
                # An invalid opcode: one result byte, ST0 = 80h, no interrupt.
                self._start_result([IC_INVALID], interrupt=False)
                return
            if name in INTERRUPTING:
                self.pending = []
                self.result_int = False
            self.cmd_name, self.cmd_length = name, length
            self.command = [value]
            self.phase = COMMAND
        elif self.phase == COMMAND:
            self.command.append(value)
        elif (self.phase == EXECUTION and self.nd and self.op.kind in ("write", "format")
              and self._pio_request()):
            self.op.fifo.append(value)
            self._set_op_timer()
            self._update_irq()
            return
        else:
            return
        if len(self.command) == self.cmd_length:
            self._execute(now)
        self._update_irq()

    # ================================================================ commands

    def _start_result(self, data, interrupt):
        self.phase = RESULT
        self.result = list(data)
        self.result_int = interrupt
        self._update_irq()

    def _execute(self, now):
        name, cmd = self.cmd_name, self.command
        self.phase = IDLE
        if name == "SPECIFY":
            self.srt, self.hut = cmd[1] >> 4, cmd[1] & 0x0F
            self.hlt, self.nd = cmd[2] >> 1, cmd[2] & 1
        elif name == "SENSE DRIVE STATUS":
            self._start_result([self._st3(cmd[1])], interrupt=False)
        elif name == "RECALIBRATE":
            self._recalibrate(now, cmd[1] & 3)
        elif name == "SENSE INTERRUPT STATUS":
            if self.pending:
                ds, st0 = self.pending.pop(0)
                self._start_result([st0, self.pcn[ds]], interrupt=False)
            else:
                self._start_result([IC_INVALID], interrupt=False)
        elif name == "SEEK":
            self._seek(now, cmd[1] & 3, cmd[2])
        elif name == "RELATIVE SEEK":
            ds = cmd[1] & 3
            step = cmd[2] if cmd[0] & 0x40 else -cmd[2]
            self._seek(now, ds, self.pcn[ds] + step)
        elif name == "DUMPREG":
            self._start_result(self.pcn + [
                (self.srt << 4) | self.hut, (self.hlt << 1) | self.nd, self.sc_eot,
                (self.lock << 7) | (self.perp_drives << 2) | (self.perp_gap << 1)
                | self.perp_wgate,
                (self.eis << 6) | (self.efifo << 5) | (self.poll_disabled << 4) | self.fifothr,
                self.pretrk], interrupt=False)
        elif name == "VERSION":
            self._start_result([0x90], interrupt=False)
        elif name == "PERPENDICULAR MODE":
            if cmd[1] & 0x80:
                self.perp_drives = (cmd[1] >> 2) & 0x0F
            self.perp_gap, self.perp_wgate = (cmd[1] >> 1) & 1, cmd[1] & 1
        elif name == "CONFIGURE":
            self.eis, self.efifo = (cmd[2] >> 6) & 1, (cmd[2] >> 5) & 1
            self.poll_disabled, self.fifothr = (cmd[2] >> 4) & 1, cmd[2] & 0x0F
            self.pretrk = cmd[3]
            if self.poll_disabled:
                self._timers.pop("poll", None)
        elif name == "LOCK":
            self.lock = cmd[0] >> 7
            self._start_result([self.lock << 4], interrupt=False)
        elif name in ("READ DATA", "READ DELETED DATA", "WRITE DATA", "WRITE DELETED DATA",
                      "VERIFY"):
            self._start_data(now, name, cmd)
        elif name == "READ ID":
            self._start_op(now, _Op(kind="readid", mfm=(cmd[0] >> 6) & 1, ds=cmd[1] & 3,
                                    hds=(cmd[1] >> 2) & 1))
        elif name == "FORMAT TRACK":
            self.sc_eot = cmd[3]
            self._start_op(now, _Op(kind="format", mfm=(cmd[0] >> 6) & 1, ds=cmd[1] & 3,
                                    hds=(cmd[1] >> 2) & 1, n=cmd[2], fmt_sc=cmd[3],
                                    fmt_gpl=cmd[4], fmt_d=cmd[5], size=4 * cmd[3]))

    def _st3(self, select):
        drive = self.drives[self.dor & 3]
        st3 = 0x28 | (select & 7)            # bits 5 and 3 are always 1 on the 82077AA
        if drive is not None:
            if drive.image is None or drive.write_protect:
                st3 |= 0x40
            if drive.track == 0:
                st3 |= 0x10
        return st3

    # ---------------------------------------------------------------- seeks

    def _seek(self, now, ds, target):
        """SEEK / RELATIVE SEEK: step the selected drive from PCN to `target`; the
        seek-end interrupt comes after the last step time."""
        steps = target - self.pcn[ds]
        self.pcn[ds] = target & 0xFF
        drive = self.drives[self.dor & 3]
        track = None
        if drive is not None:
            track = min(max(drive.track + steps, 0), drive.tracks - 1)
            if steps and drive.image is not None:
                drive.changed = False
        self._start_seek(now, ds, abs(steps), IC_NORMAL | ST0_SE | ds, track)

    def _recalibrate(self, now, ds):
        drive = self.drives[self.dor & 3]
        self.pcn[ds] = 0
        if drive is None:
            # No TRK0 signal ever: equipment check after 79 step pulses.
            self._start_seek(now, ds, RECALIBRATE_STEPS,
                             IC_ABNORMAL | ST0_SE | ST0_EC | ds, None)
            return
        steps = min(drive.track, RECALIBRATE_STEPS)
        st0 = IC_NORMAL | ST0_SE | ds
        if drive.track > RECALIBRATE_STEPS:
            st0 = IC_ABNORMAL | ST0_SE | ST0_EC | ds
        if steps and drive.image is not None:
            drive.changed = False
        self._start_seek(now, ds, steps, st0, drive.track - steps)

    def _start_seek(self, now, ds, steps, st0, track):
        self.busy |= 1 << ds
        self.seek_target[ds] = (self.dor & 3, track, st0)
        self._timers["seek%d" % ds] = now + self.step_cycles(steps)

    def _seek_done(self, ds, when):
        unit, track, st0 = self.seek_target.pop(ds)
        drive = self.drives[unit]
        if drive is not None and track is not None:
            drive.track = track
        self.busy &= ~(1 << ds)
        self.pending.append([ds, st0])
        self._update_irq()

    # ---------------------------------------------------------------- data commands

    def _start_data(self, now, name, cmd):
        kind = {"READ DATA": "read", "READ DELETED DATA": "read", "WRITE DATA": "write",
                "WRITE DELETED DATA": "write", "VERIFY": "verify"}[name]
        op = _Op(kind=kind, deleted="DELETED" in name, mt=cmd[0] >> 7,
                 mfm=(cmd[0] >> 6) & 1, skip=(cmd[0] >> 5) & 1 if kind != "write" else 0,
                 ec=cmd[1] >> 7 if kind == "verify" else 0, ds=cmd[1] & 3,
                 hds=(cmd[1] >> 2) & 1, c=cmd[2], h=cmd[3], r=cmd[4], n=cmd[5],
                 eot=cmd[6], gpl=cmd[7], dtl=cmd[8])
        self.sc_eot = op.eot
        self.chrn = [op.c, op.h, op.r, op.n]
        self._start_op(now, op)

    def _start_op(self, now, op):
        op.drive = self.dor & 3
        self.op = op
        self.phase = EXECUTION
        drive = self.drives[op.drive]
        if op.kind in ("write", "format") and drive is not None and (
                drive.image is not None and drive.write_protect):
            # The write-protect line is checked before anything moves.
            self._finish(now, IC_ABNORMAL, ST1_NW, 0, self._op_chrn(op))
            return
        if op.kind in ("read", "write", "verify") and self.eis and op.c != self.pcn[op.ds]:
            # Implied seek (CONFIGURE EIS): step to C first; no seek interrupt.
            steps = op.c - self.pcn[op.ds]
            self.pcn[op.ds] = op.c
            if drive is not None:
                drive.track = min(max(drive.track + steps, 0), drive.tracks - 1)
                if drive.image is not None:
                    drive.changed = False
            op.stage = "seek"
            op.end = now + self.step_cycles(abs(steps))
            self.busy |= 1 << op.ds
            self._set_op_timer()
            return
        self._begin_search(now)

    def _resume_waiting(self, now):
        if self.op is not None and self.op.stage == "wait":
            self._begin_search(now)

    def _begin_search(self, now):
        op = self.op
        drive = self.drives[op.drive]
        rot = self._rotation(drive)
        if rot is None:
            op.stage = "wait"            # no index pulses: nothing happens until one comes
            self._timers.pop("op", None)
            return
        op.m0, op.cpb, op.rev, readable = rot
        if op.kind == "format":
            # FORMAT starts at the index hole and writes one revolution.
            p = op.pos(now)
            op.s = math.ceil(p / op.rev) * op.rev
            op.b = 0
            op.fifo = bytearray() if not self.nd else op.fifo
            op.buf = bytearray()
            op.stage = "format"
            slot = SECTOR_OVERHEAD + (128 << min(op.n, 7)) + op.fmt_gpl
            last = op.s + TRACK_PREAMBLE + op.fmt_sc * slot
            op.end = op.cycle(math.ceil(last / op.rev) * op.rev) if op.fmt_sc else \
                op.cycle(op.s + op.rev)
            self._set_op_timer()
            return
        media = drive.media
        track_ok = (readable and op.mfm and op.hds < media.heads
                    and drive.track < media.cylinders)
        p = op.pos(now)
        sb = SECTOR_OVERHEAD + 512 + media.gap3
        if op.kind == "readid":
            if track_ok:
                k = math.floor(p / op.rev)
                while True:
                    base = k * op.rev + TRACK_PREAMBLE
                    i = max(0, math.ceil((p - base - ID_MARK) / sb))
                    if i < media.sectors:
                        break
                    k += 1
                op.s = base + i * sb
                op.found = [drive.track, op.hds, i + 1, 2]
                op.stage = "readid"
                op.end = op.cycle(op.s + ID_END)
            else:
                op.stage = "fail"
                op.st1, op.st2 = ST1_MA, 0
                op.end = op.cycle(self._second_index(op, p))
            self._set_op_timer()
            return
        # READ / WRITE / VERIFY: look for the ID (C, H, R, N) on this track.
        want = (op.c, op.h, op.r, op.n)
        match = (track_ok and want[0] == drive.track and want[1] == op.hds and want[3] == 2
                 and 1 <= want[2] <= media.sectors)
        if not match:
            op.stage = "fail"
            if not track_ok:
                op.st1, op.st2 = ST1_MA, 0
            else:
                op.st1 = ST1_ND
                op.st2 = 0
                if op.c != drive.track:
                    op.st2 = ST2_WC | (ST2_BC if drive.track == 0xFF else 0)
            op.end = op.cycle(self._second_index(op, p))
            self._set_op_timer()
            return
        i = op.r - 1
        k = math.ceil((p - TRACK_PREAMBLE - i * sb - ID_MARK) / op.rev)
        op.s = k * op.rev + TRACK_PREAMBLE + i * sb
        op.b = 0
        op.size = 512
        op.stage = "data"
        op.end = op.cycle(op.s + SECTOR_OVERHEAD + 512)
        lba = (drive.track * media.heads + op.hds) * media.sectors + i
        op.found = lba
        if op.kind == "read":
            op.buf = bytearray(drive.image.read(lba))
        else:
            op.buf = bytearray()
        if op.kind != "write":
            op.fifo = bytearray()
        # Our images hold normal data marks only: READ DELETED DATA finds "the other"
        # mark (CM); with SK it skips the sector, without SK it reads it and stops.
        op.skipping = bool(op.deleted and op.kind == "read" and op.skip)
        if op.deleted and op.kind == "read":
            op.st2 |= ST2_CM
        self._set_op_timer()

    @staticmethod
    def _second_index(op, p):
        """Position of the second index pulse from position p on (a pulse exactly at p
        counts as the first)."""
        return (math.ceil(p / op.rev) + 1) * op.rev

    # Bytes of the current sector move at their own times.  A read byte reaches the
    # FIFO when it has passed the head; a written byte is taken from the FIFO (or DMA)
    # one byte time before it is written.
    def _byte_offset(self, op):
        return DATA_START + 1 if op.kind == "read" else DATA_START - 1

    def _op_bytes(self, now):
        op = self.op
        if op.kind == "format":
            self._write_bytes(now, op)
            return
        if op.kind == "verify" or op.skipping:
            op.b = op.due(now, op.s + self._byte_offset(op), op.size)
            return
        if op.kind == "read":
            self._read_bytes(now, op)
        else:
            self._write_bytes(now, op)

    def _read_bytes(self, now, op):
        first = op.s + self._byte_offset(op)
        due = op.due(now, first, op.size)
        if due <= op.b:
            return
        chunk = op.buf[op.b:due]
        if op.tc:
            op.b = due                   # after terminal count nothing more is moved
            return
        dma = None if self.nd else self.dma
        if dma is not None and self.dor & DOR_DMAGATE and dma.ready(self.dma_channel):
            pending = op.fifo + chunk
            n, tc = dma.transfer(self.dma_channel, pending)
            op.fifo = bytearray(pending[n:])
            if tc:
                op.tc = True
                op.fifo = bytearray()
            op.b = due
            dma.request(self.dma_channel, bool(op.fifo))
            return
        room = self._fifo_depth() - len(op.fifo)
        if len(chunk) > room:
            # The byte that finds the FIFO full is an overrun.
            op.fifo += chunk[:room]
            op.b += room
            self._overrun(op.cycle(first + op.b))
            return
        op.fifo += chunk
        op.b = due
        if dma is not None:
            dma.request(self.dma_channel, bool(op.fifo))
        self._update_irq()

    def _write_bytes(self, now, op):
        if op.kind == "format":
            due = self._format_due(now, op)
        else:
            due = op.due(now, op.s + self._byte_offset(op), op.size)
        while op.b < due:
            need = due - op.b
            if op.fifo:
                take = op.fifo[:need]
                del op.fifo[:len(take)]
                op.buf += take
                op.b += len(take)
                continue
            if op.tc:
                op.buf += bytes(need)    # after terminal count the sector is filled with 00
                op.b = due
                break
            dma = None if self.nd else self.dma
            if dma is not None and self.dor & DOR_DMAGATE and dma.ready(self.dma_channel):
                data, tc = dma.fetch(self.dma_channel, need)
                op.buf += data
                op.b += len(data)
                if tc:
                    op.tc = True
                if data or tc:
                    continue
            # Nobody supplied the byte in time: underrun (reported as OR).
            at = (self._format_cycle(op, op.b) if op.kind == "format"
                  else op.cycle(op.s + self._byte_offset(op) + op.b))
            self._overrun(at)
            return
        if self.nd:
            self._update_irq()

    def _format_cycle(self, op, j):
        slot = SECTOR_OVERHEAD + (128 << min(op.n, 7)) + op.fmt_gpl
        return op.cycle(op.s + TRACK_PREAMBLE + (j // 4) * slot + ID_FIELD + (j % 4))

    def _format_due(self, now, op):
        j = op.b
        while j < op.size and self._format_cycle(op, j) <= now:
            j += 1
        return j

    def _set_op_timer(self):
        op = self.op
        if op is None or op.stage == "wait":
            self._timers.pop("op", None)
            return
        if op.stage in ("seek", "fail", "readid"):
            self._timers["op"] = op.end
            return
        when = op.end
        if op.b < op.size and not op.tc and op.kind != "verify" and not op.skipping:
            dma_ok = (not self.nd and self.dma is not None and self.dor & DOR_DMAGATE
                      and self.dma.ready(self.dma_channel))
            if not dma_ok:
                # Wake at the next byte that matters: one that would overrun the FIFO,
                # or (non-DMA) every byte, since each one moves the INT/RQM lines.
                if op.kind == "read":
                    ahead = 0 if self.nd else self._fifo_depth() - len(op.fifo)
                    j = min(op.b + ahead, op.size - 1)
                    nxt = op.cycle(op.s + self._byte_offset(op) + j)
                elif op.kind == "format":
                    nxt = self._format_cycle(op, op.b)
                else:
                    nxt = op.cycle(op.s + self._byte_offset(op) + op.b)
                when = min(when, nxt)
        self._timers["op"] = when

    def _op_edge(self, when):
        op = self.op
        if op is None:
            return
        if op.stage == "seek":
            self.busy &= ~(1 << op.ds)
            self._begin_search(when)
        elif op.stage == "fail":
            self._finish(when, IC_ABNORMAL, op.st1, op.st2, self._op_chrn(op))
        elif op.stage == "readid":
            self.chrn = list(op.found)
            self._finish(when, IC_NORMAL, 0, 0, op.found)
        elif op.stage == "format":
            self._write_bytes(when, op)
            if self.op is op:
                if when >= op.end:
                    self._format_done(when, op)
                else:
                    self._set_op_timer()
        elif op.stage == "data":
            self._op_bytes(when)
            if self.op is not op:
                return                    # an overrun ended the command
            if when >= op.end:
                self._sector_done(when, op)
            else:
                self._set_op_timer()

    def _overrun(self, when):
        op = self.op
        self._finish(when, IC_ABNORMAL, ST1_OR, op.st2, self._op_chrn(op))

    def _sector_done(self, when, op):
        drive = self.drives[op.drive]
        if op.kind == "read" and op.fifo:
            # Data the host or DMA never took: the FIFO overran at the sector's end.
            self._overrun(when)
            return
        if op.kind == "write":
            try:
                drive.image.write(op.found, bytes(op.buf[:512]))
            except DiskImageError:
                self._finish(when, IC_ABNORMAL, ST1_NW, 0, self._op_chrn(op))
                return
        op.sectors += 1
        skipped = op.skipping
        if op.tc:
            self._finish(when, IC_NORMAL, 0, op.st2, self._next_chrn(op))
            return
        if op.deleted and op.kind == "read" and not skipped:
            self._finish(when, IC_NORMAL, 0, op.st2, self._next_chrn(op))
            return
        if op.kind == "verify" and op.ec and op.sectors >= op.dtl:
            self._finish(when, IC_NORMAL, 0, op.st2, self._next_chrn(op))
            return
        if op.r == op.eot:
            if op.mt and op.hds == 0:
                op.hds, op.h, op.r = 1, op.h ^ 1, 1
                self._begin_search(when)
                return
            if op.kind == "verify" and not op.ec:
                self._finish(when, IC_NORMAL, 0, op.st2, self._next_chrn(op))
                return
            # Past the last sector without TC: end of cylinder.
            self._finish(when, IC_ABNORMAL, ST1_EN, op.st2, self._next_chrn(op))
            return
        op.r += 1
        self._begin_search(when)

    def _format_done(self, when, op):
        self._apply_format(op)
        last = op.buf[-4:] if len(op.buf) >= 4 else bytes([0, 0, 0, op.n])
        self._finish(when, IC_NORMAL, 0, 0, list(last))

    def _apply_format(self, op):
        """Write the filler byte to every sector whose new ID the image can hold; an
        image keeps its geometry, so other IDs are counted, not stored."""
        drive = self.drives[op.drive]
        if drive is None or drive.image is None:
            return
        media = drive.media
        for j in range(0, len(op.buf) - 3, 4):
            c, h, r, n = op.buf[j:j + 4]
            if (n == 2 and op.n == 2 and c == drive.track and h == op.hds
                    and drive.track < media.cylinders and op.hds < media.heads
                    and 1 <= r <= media.sectors):
                lba = (c * media.heads + h) * media.sectors + r - 1
                drive.image.write(lba, bytes([op.fmt_d]) * 512)
            else:
                self.unstored_format_ids += 1

    unstored_format_ids = 0

    def _op_chrn(self, op):
        if op.kind == "format":
            return list(op.buf[-4:]) if len(op.buf) >= 4 else [0, 0, 0, op.n]
        if op.kind == "readid":
            return list(self.chrn)
        return [op.c, op.h, op.r, op.n]

    @staticmethod
    def _next_chrn(op):
        """The ID the result phase reports after the last sector (82077AA Table 5-6)."""
        if op.r != op.eot:
            return [op.c, op.h, (op.r + 1) & 0xFF, op.n]
        if op.mt and op.hds == 0:
            return [op.c, op.h ^ 1, 1, op.n]
        if op.mt:
            return [(op.c + 1) & 0xFF, op.h ^ 1, 1, op.n]
        return [(op.c + 1) & 0xFF, op.h, 1, op.n]

    def _finish(self, when, ic, st1, st2, chrn):
        op = self.op
        st0 = ic | (op.hds << 2) | op.ds
        self.op = None
        self._timers.pop("op", None)
        if self.dma is not None:
            self.dma.request(self.dma_channel, False)
        if op.kind in ("read", "write", "verify"):
            self.chrn = list(chrn)
        self._start_result([st0, st1, st2] + [v & 0xFF for v in chrn], interrupt=True)


    # ================================================================ snapshots and views

    def get_state(self):
        now = self.clock.now
        self._advance(now)
        self._reschedule()
        drives = []
        for d in self.drives[:2]:
            drives.append({
                "track": d.track, "changed": d.changed, "write_protect": d.write_protect,
                "motor_origin": None if d.motor_origin is None else d.motor_origin - now,
                "image": None if d.image is None else d.image.get_state(),
            })
        return {
            "dor": self.dor, "tdr": self.tdr, "rate": self.rate, "precomp": self.precomp,
            "powerdown": self.powerdown, "srt": self.srt, "hut": self.hut, "hlt": self.hlt,
            "nd": self.nd, "lock": self.lock, "eis": self.eis, "efifo": self.efifo,
            "poll_disabled": self.poll_disabled, "fifothr": self.fifothr,
            "pretrk": self.pretrk, "perp_drives": self.perp_drives, "perp_gap": self.perp_gap,
            "perp_wgate": self.perp_wgate, "sc_eot": self.sc_eot, "chrn": list(self.chrn),
            "fifo_latch": self.fifo_latch, "in_reset": self.in_reset, "phase": self.phase,
            "command": list(self.command), "cmd_name": self.cmd_name,
            "cmd_length": self.cmd_length, "result": list(self.result),
            "result_int": self.result_int, "pending": [list(p) for p in self.pending],
            "pcn": list(self.pcn), "busy": self.busy,
            "seek_target": {str(k): list(v) for k, v in self.seek_target.items()},
            "op": None if self.op is None else self.op.get_state(now),
            "timers": {k: v - now for k, v in self._timers.items()},
            "drives": drives, "unstored_format_ids": self.unstored_format_ids,
        }

    def set_state(self, state):
        now = self.clock.now
        for key in ("dor", "tdr", "rate", "precomp", "powerdown", "srt", "hut", "hlt", "nd",
                    "lock", "eis", "efifo", "poll_disabled", "fifothr", "pretrk",
                    "perp_drives", "perp_gap", "perp_wgate", "sc_eot", "fifo_latch",
                    "in_reset", "phase", "cmd_name", "cmd_length", "result_int", "busy",
                    "unstored_format_ids"):
            setattr(self, key, state[key])
        self.chrn = list(state["chrn"])
        self.command = list(state["command"])
        self.result = list(state["result"])
        self.pending = [list(p) for p in state["pending"]]
        self.pcn = list(state["pcn"])
        self.seek_target = {int(k): tuple(v) for k, v in state["seek_target"].items()}
        self.op = None if state["op"] is None else _Op.from_state(state["op"], now)
        self._timers = {k: v + now for k, v in state["timers"].items()}
        for d, ds in zip(self.drives, state["drives"]):
            d.track, d.changed = ds["track"], ds["changed"]
            d.write_protect = ds["write_protect"]
            d.motor_origin = None if ds["motor_origin"] is None else ds["motor_origin"] + now
            img = ds["image"]
            if img is None:
                if d.image is not None:
                    d.eject()
            else:
                if d.image is None or d.image.path != img["path"]:
                    image = DiskImage(img["path"], read_only=d.write_protect)
                    d.image, d.media = image, media_for(image.path, image.size)
                d.image.set_state(img)
        self._irq_level = None
        self._update_irq()
        self._reschedule()

    def info(self):
        self._advance(self.clock.now)
        self._reschedule()
        lines = ["82077AA floppy controller at %03X-%03X, IRQ %d, DMA %d%s"
                 % (self.base + 2, self.base + 7, self.irq, self.dma_channel,
                    "  (held in reset)" if self.in_reset else "")]
        lines.append("DOR %02X (drive %d, %s, motors %s)  MSR %02X  data rate %s  %s"
                     % (self.dor, self.dor & 3,
                        "DMA+IRQ enabled" if self.dor & DOR_DMAGATE else "DMA+IRQ gated off",
                        "".join("AB"[i] for i in range(2) if self.dor & (0x10 << i)) or "off",
                        self.msr(), RATE_NAMES[self.rate], "non-DMA" if self.nd else "DMA"))
        lines.append("SPECIFY SRT %X HUT %X HLT %02X  CONFIGURE EIS %d EFIFO %d POLL %s "
                     "FIFOTHR %d PRETRK %d  LOCK %d  PERPENDICULAR %X/%d/%d"
                     % (self.srt, self.hut, self.hlt, self.eis, self.efifo,
                        "off" if self.poll_disabled else "on", self.fifothr, self.pretrk,
                        self.lock, self.perp_drives, self.perp_gap, self.perp_wgate))
        phase = self.phase
        if self.op is not None:
            phase += " (%s %s, stage %s)" % (self.cmd_name, "C%d H%d R%d" % (
                self.op.c or 0, self.op.h or 0, self.op.r or 0), self.op.stage)
        lines.append("phase: %s  INT %s  pending statuses %s  PCN %s"
                     % (phase, "high" if self._int_pin() else "low",
                        " ".join("%02X" % st for _, st in self.pending) or "none",
                        " ".join(str(p) for p in self.pcn)))
        if self.result:
            lines.append("result bytes waiting: %s" % " ".join("%02X" % b for b in self.result))
        for d in self.drives[:2]:
            if d.image is None:
                disk = "empty"
            else:
                disk = "%s %s%s%s" % (d.media.name, d.image.path,
                                      " write-protected" if d.write_protect else "",
                                      " (%d sectors in the overlay)" % len(d.image.overlay)
                                      if d.image.overlay else "")
            lines.append("drive %s: track %d, motor %s, disk change %s: %s"
                         % ("AB"[d.index], d.track, "on" if d.motor_origin is not None
                            else "off", "active" if d.changed else "clear", disk))
        return "\n".join(lines)
