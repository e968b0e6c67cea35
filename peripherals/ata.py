"""The ATA/IDE host adapter: two channels of two devices, hard disks and ATAPI CD-ROMs.

Names, register semantics and protocols follow the T13 standards ATA/ATAPI-4 to -6 ("ATA-6"
below), the packet command set of SFF-8020i and the MMC command set for the CD-ROM, which is
what a BIOS needs for an El Torito boot.  docs/devices/ata.md is the user's description.

Ports (the legacy ISA/PIIX decoding):

    primary   0x1F0-0x1F7 command block, 0x3F6 control block, IRQ14
    secondary 0x170-0x177 command block, 0x376 control block, IRQ15

    base+0 Data            base+4 LBA Mid  (Cylinder Low,  ATAPI Byte Count Low)
    base+1 Error/Features  base+5 LBA High (Cylinder High, ATAPI Byte Count High)
    base+2 Sector Count    base+6 Device (Drive/Head)
    base+3 LBA Low         base+7 Status/Command
    ctrl   Alternate Status / Device Control
    (ATAPI: Sector Count is the Interrupt Reason register, Features carries the DMA bit.)

The control block's second port (0x3F7/0x377) is the floppy controller's DIR on a PC and is
not claimed here.

Model of the bus.  Both devices on a cable see every register write and latch it (ATA-6,
the register descriptions): each keeps its own copy, and the selected one (DEV bit of the
Device register) drives the bus on reads.  A write while a device is BSY is ignored by
that device.  A read of a command block register while the selected device is BSY returns
the Status register, as the earlier ATA standards specify; a host must not rely on more.

Absent devices (a documented choice, see docs/devices/ata.md):
* by default nobody drives the bus for an absent device: every register reads `empty_bus`,
  7Fh: DD7 is pulled down by the 10 kOhm resistor ATA-3 and later require of the host (so
  BSY reads 0 and no host waits for a device that is not there) and DD6-DD0 float high.
  Data port reads give FF7Fh.  Commands to it go nowhere (EXECUTE DEVICE DIAGNOSTIC still
  reaches the device that is there).  Pass empty_bus=0xFF for a host adapter without the
  pull-down.
* device0_answers=True gives ATA-6's rule for a device 0 alone on its cable: when device 1
  is selected, device 0 answers: Status and Alternate Status read 00h, the other registers
  read device 0's copies, commands are ignored except EXECUTE DEVICE DIAGNOSTIC.  It is not
  the default because a BIOS detecting drives by signature alone (a 55h/AAh register
  pattern, a soft reset, then the signature: the Bochs BIOS) then finds a phantom device 1,
  an ATAPI one behind a CD-ROM device 0, which never answers IDENTIFY PACKET DEVICE.

Timing: every command runs on the global clock.  Writing the Command register sets BSY at
once; the device's response (DRQ for a data block, or completion) is an event scheduled at
the time the figures in `HardDisk.TIMING` / `CDROM.TIMING` give (nanoseconds, converted to
CPU cycles once).  Media timing is modelled on a 7200 rpm ATA-6 era disk and a 24x CD-ROM
drive: a transfer that continues where the head is (sequential access, served from the
read-ahead) costs only the per-sector media time; any other access pays a seek that grows
linearly with the distance plus, on the disk, half a revolution of rotational latency.
The media keeps reading ahead while the host empties the buffer, so the next DRQ block is
ready at max(host done + block turnaround, media done with that block).  The PIO data
transfer itself costs what the CPU's IN/OUT/INS/OUTS instructions charge.

The Status register read is the hot path (BIOSes poll it tens of thousands of times): it
returns an int kept up to date on every state change, with no allocation and no clock
arithmetic.  Reading it (not the Alternate Status) acknowledges the pending interrupt.
"""
import os

from peripherals.device import Device
from peripherals.diskimage import DiskImage, DiskImageError

NS_PER_S = 1_000_000_000

# ---------------------------------------------------------------- register bits [ATA-6,
# the Status, Error, Device Control and Device register descriptions]
# Status
BSY, DRDY, DF, DSC, DRQ, CORR, IDX, ERR = 0x80, 0x40, 0x20, 0x10, 0x08, 0x04, 0x02, 0x01
# Error
ICRC, UNC, MC, IDNF, MCR, ABRT, TK0NF, AMNF = 0x80, 0x40, 0x20, 0x10, 0x08, 0x04, 0x02, 0x01
# Device Control
HOB, SRST, NIEN = 0x80, 0x04, 0x02
# Device
DEV, LBA = 0x10, 0x40
# ATAPI Interrupt Reason (in the Sector Count register)
IR_COD, IR_IO, IR_REL = 0x01, 0x02, 0x04

# Command block register offsets
R_DATA, R_ERROR, R_COUNT, R_LBA_LOW, R_LBA_MID, R_LBA_HIGH, R_DEVICE, R_STATUS = range(8)

# Diagnostic code of a device that passed [ATA-6 EXECUTE DEVICE DIAGNOSTIC]
DIAG_PASSED = 0x01

# Signatures placed by reset and EXECUTE DEVICE DIAGNOSTIC: Sector Count, LBA Low,
# LBA Mid, LBA High (the Device register becomes 00h) [ATA-6, signature and persistence].
SIGNATURE_ATA = (0x01, 0x01, 0x00, 0x00)
SIGNATURE_PACKET = (0x01, 0x01, 0x14, 0xEB)

MAX_MULTIPLE = 16               # IDENTIFY word 47: largest READ/WRITE MULTIPLE block

# ---------------------------------------------------------------- SCSI/MMC sense [SPC, MMC]
SK_NO_SENSE, SK_NOT_READY, SK_MEDIUM_ERROR = 0x0, 0x2, 0x3
SK_ILLEGAL_REQUEST, SK_UNIT_ATTENTION = 0x5, 0x6
ASC_INVALID_OPCODE = (0x20, 0x00)
ASC_LBA_OUT_OF_RANGE = (0x21, 0x00)
ASC_INVALID_FIELD = (0x24, 0x00)
ASC_MEDIUM_CHANGED = (0x28, 0x00)         # not ready to ready change, medium may have changed
ASC_POWER_ON_RESET = (0x29, 0x00)         # power on, reset or bus device reset occurred
ASC_SAVING_NOT_SUPPORTED = (0x39, 0x00)
ASC_MEDIUM_NOT_PRESENT = (0x3A, 0x00)
ASC_REMOVAL_PREVENTED = (0x53, 0x02)

CD_SECTOR = 2048
CD_FRAMES_PER_SECOND = 75
CD_LEAD_IN_FRAMES = 150                   # MSF 00:02:00 is LBA 0
CD_MAX_SECTORS = 74 * 60 * CD_FRAMES_PER_SECOND    # a 74-minute disc, for the seek model


class CommandError(Exception):
    """An ATA command ends in error with these Error register bits."""

    def __init__(self, error):
        super().__init__(error)
        self.error = error


class SenseError(Exception):
    """A packet command ends with CHECK CONDITION and this sense key / ASC / ASCQ."""

    def __init__(self, key, asc_ascq):
        super().__init__(key, asc_ascq)
        self.key = key
        self.asc, self.ascq = asc_ascq


def ata_string(text, words):
    """An IDENTIFY string field: ASCII padded with spaces, the first character of each pair
    in the high byte of its word [ATA-6, byte ordering of ATA strings]."""
    raw = text.encode("ascii")[:2 * words].ljust(2 * words, b" ")
    out = bytearray(2 * words)
    out[0::2] = raw[1::2]
    out[1::2] = raw[0::2]
    return bytes(out)


def identify_block(words):
    """512 bytes from {word index: value} plus the integrity word 255 [ATA-6 word 255]:
    signature A5h in bits 7:0 and a checksum making the 512 bytes sum to 0 mod 256."""
    data = bytearray(512)
    for index, value in words.items():
        if isinstance(value, bytes):
            data[2 * index:2 * index + len(value)] = value
        else:
            data[2 * index:2 * index + 2] = (value & 0xFFFF).to_bytes(2, "little")
    data[510] = 0xA5
    data[511] = (-sum(data[:511])) & 0xFF
    return bytes(data)


def default_geometry(total):
    """The CHS geometry a drive reports in IDENTIFY words 1, 3 and 6 for `total` sectors.

    Drives since ATA-2 report 16 heads and 63 sectors per track, with cylinders capped at
    16383 (ATA-6 annex: a device of more than 16,514,064 sectors reports 16383/16/63); a BIOS
    then builds its own int 13h translation from these figures.  An image too small for
    one 16x63 cylinder gets the largest heads x sectors that fits it.
    """
    if total >= 16 * 63:
        return min(total // (16 * 63), 16383), 16, 63
    sectors = min(63, total)
    heads = max(1, min(16, total // sectors))
    return total // (heads * sectors), heads, sectors


def _cycles(ns, frequency):
    return ns * frequency // NS_PER_S


# ======================================================================== the device base

class Drive:
    """What a hard disk and a CD-ROM share: the register file of one device, its PIO data
    engine and its clock event.  Subclasses give the command set."""

    kind = "drive"
    SERIAL_PREFIX = "DR"
    SIGNATURE = SIGNATURE_ATA
    TIMING = {}
    COMMANDS = {}
    # The plain-data fields a snapshot saves (the event is saved as an offset).
    STATE = ("feature", "feature_hob", "count", "count_hob", "lba_low", "lba_low_hob",
             "lba_mid", "lba_mid_hob", "lba_high", "lba_high_hob", "device", "error",
             "status", "ready", "intrq", "cmd", "phase", "buf", "pos", "end_in", "end_out",
             "on_block", "action", "pending_error", "head", "power",
             "x_lba", "x_left", "x_block", "x_n", "x_mode", "x_limit", "x_media0", "x_done",
             "x_first", "x_data", "x_fetched", "diag_irq")

    def __init__(self, *, model, serial, firmware, timing=None):
        self.model_name = model
        self.serial = serial
        self.firmware = firmware
        self.timing = dict(self.TIMING)
        for key, value in (timing or {}).items():
            if key not in self.timing:
                raise ValueError("unknown %s timing %r (known: %s)"
                                 % (self.kind, key, ", ".join(sorted(self.timing))))
            if not isinstance(value, int) or value < 0:
                raise ValueError("timing %r must be a non-negative number of ns" % key)
            self.timing[key] = value
        self.channel = None
        self.unit = 0
        self.clock = None
        self.t = {}
        self.event = None
        self._at = None
        self._power_on_registers()

    # ------------------------------------------------------------ wiring and time

    def attach(self, channel, unit):
        self.channel = channel
        self.unit = unit
        self.clock = channel.clock
        f = self.clock.frequency
        self.t = {key: _cycles(ns, f) for key, ns in self.timing.items()}
        if self.serial is None:
            self.serial = "CY86%s%d%d" % (self.SERIAL_PREFIX, channel.index, unit)

    def now(self):
        """The current cycle: an event's own deadline while it is handled (the CPU may have
        overshot it by part of an instruction), otherwise the clock."""
        return self.clock.now if self._at is None else self._at

    def schedule_at(self, when, action):
        """Run method `action` (a name, so snapshots stay plain data) at cycle `when`."""
        self.action = action
        if self.event is None:
            self.event = self.clock.schedule(when, self._fire)
        else:
            self.clock.reschedule(self.event, when)

    def schedule(self, delay, action):
        self.schedule_at(self.now() + delay, action)

    def cancel(self):
        if self.event is not None and self.event.pending:
            self.clock.cancel(self.event)
        self.action = None

    def _fire(self, deadline):
        action = self.action
        self.action = None
        if action is None:
            return
        self._at = deadline
        try:
            getattr(self, action)()
        finally:
            self._at = None

    # ------------------------------------------------------------ registers

    def _power_on_registers(self):
        self.feature = self.feature_hob = 0
        self.count = self.count_hob = 0
        self.lba_low = self.lba_low_hob = 0
        self.lba_mid = self.lba_mid_hob = 0
        self.lba_high = self.lba_high_hob = 0
        self.device = 0
        self.error = DIAG_PASSED
        self.ready = 0
        self.status = 0
        self.intrq = False
        self.cmd = None
        self.phase = "idle"
        self.buf = b""
        self.pos = self.end_in = self.end_out = 0
        self.on_block = None
        self.action = None
        self.pending_error = 0
        self.head = 0
        self.power = 0xFF
        self.x_lba = self.x_left = self.x_block = self.x_n = 0
        self.x_mode = None
        self.x_limit = 0
        self.x_media0 = self.x_done = self.x_fetched = 0
        self.x_first = False
        self.x_data = b""
        self.diag_irq = False

    def signature(self):
        (self.count, self.lba_low, self.lba_mid, self.lba_high) = self.SIGNATURE
        self.count_hob = self.lba_low_hob = self.lba_mid_hob = self.lba_high_hob = 0
        self.device = 0

    def idle_status(self):
        """The Status register of the device at rest after a reset."""
        return self.ready

    def hardware_reset(self):
        """Power-on or RESET-: complete at once (the drive is taken as spun up)."""
        self.cancel()
        self.intrq = False
        self._end_transfer()
        self.after_reset(hardware=True)
        self.signature()
        self.error = DIAG_PASSED
        self.status = self.idle_status()
        self.phase = "idle"

    def after_reset(self, hardware):
        """Subclass hook: what a reset does to the device's settings."""

    def begin_soft_reset(self):
        """SRST set: abort whatever runs and hold BSY [ATA-6 software reset protocol]."""
        self.cancel()
        self.intrq = False
        self._end_transfer()
        self.status = BSY
        self.phase = "reset"

    def end_soft_reset(self):
        """SRST cleared: the reset completes after the device's reset time, without INTRQ."""
        self.status = BSY
        self.schedule(self.t["reset"], "_reset_done")

    def _reset_done(self):
        self.after_reset(hardware=False)
        self.signature()
        self.error = DIAG_PASSED
        self.status = self.idle_status()
        self.phase = "idle"
        self.channel.signature_placed(self)

    def write_reg(self, reg, value):
        """A host write to a command block register other than Data and Command.  Every
        register but Device is a two-byte FIFO for the 48-bit feature set: the previous
        content is what a read with HOB=1 returns [ATA-6 48-bit Address feature set]."""
        if self.status & BSY:
            return
        if reg == R_ERROR:
            self.feature_hob, self.feature = self.feature, value
        elif reg == R_COUNT:
            self.count_hob, self.count = self.count, value
        elif reg == R_LBA_LOW:
            self.lba_low_hob, self.lba_low = self.lba_low, value
        elif reg == R_LBA_MID:
            self.lba_mid_hob, self.lba_mid = self.lba_mid, value
        elif reg == R_LBA_HIGH:
            self.lba_high_hob, self.lba_high = self.lba_high, value
        elif reg == R_DEVICE:
            self.device = value

    def read_reg(self, reg, hob):
        if self.status & BSY:
            return self.status
        if reg == R_ERROR:
            return self.error
        if reg == R_COUNT:
            return self.count_hob if hob else self.count
        if reg == R_LBA_LOW:
            return self.lba_low_hob if hob else self.lba_low
        if reg == R_LBA_MID:
            return self.lba_mid_hob if hob else self.lba_mid
        if reg == R_LBA_HIGH:
            return self.lba_high_hob if hob else self.lba_high
        return self.device

    # ------------------------------------------------------------ commands

    def command(self, code):
        """The host wrote the Command register (this device is selected and not BSY)."""
        self.cancel()
        self._end_transfer()
        self.cmd = code
        self.pending_error = 0
        # The Error register is meaningful only with ERR; a new command starts it clean
        # (the power-on diagnostic code is gone once the host issues a command).
        self.error = 0
        handler = self.COMMANDS.get(code)
        self.status = BSY | self.ready
        self.phase = "busy"
        try:
            if handler is None:
                raise CommandError(ABRT)
            getattr(self, handler)(code)
        except CommandError as e:
            self.fail_after(self.t["command"], e.error)

    def fail_after(self, delay, error):
        self.pending_error = error
        self.schedule(delay, "_fail_pending")

    def _fail_pending(self):
        self.fail(self.pending_error)

    def fail(self, error):
        """End the command in error: ERR, the Error register, INTRQ."""
        self._end_transfer()
        self.error = error
        self.status = self.ready | ERR
        self.phase = "idle"
        self.raise_intrq()

    def complete(self):
        """End the command successfully with an interrupt (non-data and PIO-out)."""
        self._end_transfer()
        self.status = self.ready
        self.phase = "idle"
        self.raise_intrq()

    def raise_intrq(self):
        self.intrq = True
        self.channel.update_irq()

    # ------------------------------------------------------------ the PIO data engine
    # Per word the host costs one Python call and a few integer operations; everything
    # else happens once per DRQ block through `on_block`, a method name.

    def present_in(self, data, irq=True):
        """Open a data-in DRQ block: the host reads `data` through the Data register."""
        if len(data) & 1:
            data = bytes(data) + b"\0"
        self.buf = data
        self.pos = 0
        self.end_in = len(data)
        self.end_out = 0
        self.status = self.ready | DRQ
        self.phase = "in"
        if irq:
            self.raise_intrq()

    def request_out(self, nbytes, irq):
        """Open a data-out DRQ block of `nbytes` for the host to fill."""
        self.buf = bytearray(nbytes)
        self.pos = 0
        self.end_out = nbytes
        self.end_in = 0
        self.status = self.ready | DRQ
        self.phase = "out"
        if irq:
            self.raise_intrq()

    def _end_transfer(self):
        self.end_in = self.end_out = 0
        self.pos = 0
        self.buf = b""
        self.on_block = None

    def read_word(self):
        p = self.pos
        end = self.end_in
        if p >= end:
            return 0xFFFF               # no DRQ: nothing drives the data lines
        b = self.buf
        self.pos = p + 2
        value = b[p] | (b[p + 1] << 8)
        if p + 2 >= end:
            self.end_in = 0
            self.buf = b""
            self._block_done()
        return value

    def write_word(self, value):
        p = self.pos
        if p >= self.end_out:
            return
        b = self.buf
        b[p] = value & 0xFF
        b[p + 1] = (value >> 8) & 0xFF
        self.pos = p + 2
        if p + 2 >= self.end_out:
            self.end_out = 0
            self._block_done()

    def _block_done(self):
        action = self.on_block
        self.on_block = None
        self.status = BSY | self.ready
        self.phase = "busy"
        if action is not None:
            getattr(self, action)()

    def _identify_ready(self):
        """IDENTIFY (PACKET) DEVICE: one PIO data-in block of 512 bytes, with INTRQ."""
        self.on_block = "_identify_done"
        self.present_in(self.identify_data())

    def _identify_done(self):
        self.status = self.ready
        self.phase = "idle"

    def identify_data(self):
        raise NotImplementedError

    # ------------------------------------------------------------ diagnostics

    def start_diagnostic(self, interrupts):
        """EXECUTE DEVICE DIAGNOSTIC: both devices run it whichever is selected; device 0
        reports the result and interrupts [ATA-6 EXECUTE DEVICE DIAGNOSTIC]."""
        self.cancel()
        self._end_transfer()
        self.intrq = False
        self.cmd = 0x90
        self.status = BSY
        self.phase = "busy"
        self.diag_irq = interrupts
        self.schedule(self.t["diagnostic"], "_diagnostic_done")

    def _diagnostic_done(self):
        self.signature()
        self.error = DIAG_PASSED
        self.status = self.idle_status()
        self.phase = "idle"
        self.channel.signature_placed(self)
        if self.diag_irq:
            self.raise_intrq()

    def hardware_reset_result(self):
        """IDENTIFY word 93: how the last hardware reset went [ATA-6 word 93]."""
        other = self.channel.drives[self.unit ^ 1] if self.channel else None
        if self.unit == 0:
            word = 0x4000 | 0x0001 | (0b01 << 1) | 0x0008
            if other is not None:
                word |= 0x0010 | 0x0020          # PDIAG- and DASP- seen from device 1
            elif self.channel.device0_answers:
                word |= 0x0040                   # responds when device 1 is selected
            return word
        return 0x4000 | 0x0100 | (0b01 << 9) | 0x0800

    # ------------------------------------------------------------ snapshots and views

    def get_state(self):
        state = {}
        for name in self.STATE:
            value = getattr(self, name)
            if isinstance(value, (bytearray, memoryview)):
                value = bytes(value)
            state[name] = value
        state["buf_mutable"] = isinstance(self.buf, bytearray)
        state["x_data_mutable"] = isinstance(self.x_data, bytearray)
        if self.event is not None and self.event.pending:
            state["event_in"] = self.event.deadline - self.clock.now
        else:
            state["event_in"] = None
        return state

    def set_state(self, state):
        for name in self.STATE:
            setattr(self, name, state[name])
        if state.get("buf_mutable"):
            self.buf = bytearray(self.buf)
        if state.get("x_data_mutable"):
            self.x_data = bytearray(self.x_data)
        action = self.action
        if self.event is not None and self.event.pending:
            self.clock.cancel(self.event)
        if state.get("event_in") is not None and action is not None:
            self.schedule_at(self.clock.now + state["event_in"], action)
        else:
            self.action = None

    def describe(self):
        return self.kind

    def info_lines(self):
        lines = [self.describe()]
        lines.append("  status %02X error %02X  count %02X/%02X lba %02X%02X%02X/%02X%02X%02X"
                     "  device %02X  feature %02X  intrq %s"
                     % (self.status, self.error, self.count_hob, self.count,
                        self.lba_high_hob, self.lba_mid_hob, self.lba_low_hob,
                        self.lba_high, self.lba_mid, self.lba_low, self.device,
                        self.feature, "pending" if self.intrq else "clear"))
        cmd = "none" if self.cmd is None else "%02Xh" % self.cmd
        line = "  command %s, phase %s" % (cmd, self.phase)
        if self.end_in or self.end_out:
            line += ", DRQ block %d/%d bytes" % (self.pos, self.end_in or self.end_out)
        if self.event is not None and self.event.pending:
            line += ", next %s at cycle %d" % (self.action, self.event.deadline)
        lines.append(line)
        return lines


# ======================================================================== hard disk

class HardDisk(Drive):
    """An ATA hard disk on a raw image (512-byte sectors) through a DiskImage.

    image: a path or a DiskImage.  commit: write guest writes through to the file (default:
    into the copy-on-write overlay).  cylinders/heads/sectors: the default CHS geometry of
    IDENTIFY words 1/3/6 (see `default_geometry` for what is chosen otherwise).
    write_cache: the power-on state of the write cache (SET FEATURES 02h/82h).
    timing: overrides of `TIMING` entries, in nanoseconds.
    """

    kind = "ata"
    SERIAL_PREFIX = "HD"
    SIGNATURE = SIGNATURE_ATA
    # A 7200 rpm drive of the ATA-6 era (figures in nanoseconds):
    TIMING = {
        "command": 50_000,          # command decode by the firmware, before any work
        "block": 400,               # turnaround after the host empties or fills a block:
                                    # the next block is already in the buffer (read-ahead,
                                    # write cache); ATA allows 400 ns to assert BSY
        "sector": 20_000,           # media time of one sector (about 25 MB/s)
        "track_to_track": 1_000_000,  # shortest seek
        "full_stroke": 15_000_000,  # longest seek; a seek grows linearly in between
        "half_revolution": 4_166_667,  # average rotational latency at 7200 rpm
        "reset": 1_000_000,         # SRST cleared to BSY cleared
        "diagnostic": 2_000_000,    # EXECUTE DEVICE DIAGNOSTIC
    }
    COMMANDS = {
        0x20: "_cmd_read", 0x21: "_cmd_read", 0x24: "_cmd_read",
        0xC4: "_cmd_read", 0x29: "_cmd_read",
        0x30: "_cmd_write", 0x31: "_cmd_write", 0x34: "_cmd_write",
        0xC5: "_cmd_write", 0x39: "_cmd_write",
        0x40: "_cmd_verify", 0x41: "_cmd_verify", 0x42: "_cmd_verify",
        0x70: "_cmd_seek",
        0x91: "_cmd_initialize_parameters",
        0xC6: "_cmd_set_multiple",
        0xE7: "_cmd_flush", 0xEA: "_cmd_flush",
        0xEC: "_cmd_identify",
        0xEF: "_cmd_set_features",
        0xE0: "_cmd_power", 0xE1: "_cmd_power", 0xE2: "_cmd_power", 0xE3: "_cmd_power",
        0x94: "_cmd_power", 0x95: "_cmd_power", 0x96: "_cmd_power", 0x97: "_cmd_power",
        0xE5: "_cmd_check_power", 0x98: "_cmd_check_power",
    }
    for _code in range(0x10, 0x20):          # RECALIBRATE: 1xh, x obsolete step rate
        COMMANDS[_code] = "_cmd_recalibrate"
    for _code in range(0x71, 0x80):          # SEEK: 7xh
        COMMANDS[_code] = "_cmd_seek"
    del _code
    STATE = Drive.STATE + ("multiple", "cur_cylinders", "cur_heads", "cur_sectors",
                           "chs_valid", "write_cache", "look_ahead", "revert", "pio_mode",
                           "dirty")
    READ_EXT = (0x24, 0x29, 0x42)
    WRITE_EXT = (0x34, 0x39)
    MULTIPLE = (0xC4, 0xC5, 0x29, 0x39)

    def __init__(self, image, *, cylinders=None, heads=None, sectors=None, commit=False,
                 write_cache=True, model="CYCLE86 HARDDISK", serial=None, firmware="1.0",
                 timing=None):
        if isinstance(image, DiskImage):
            if image.sector_size != 512:
                raise DiskImageError("%s: a hard disk image needs 512-byte sectors, not %d"
                                     % (image.path, image.sector_size))
            self.image = image
        else:
            self.image = DiskImage(image, commit=commit)
        self.total = self.image.sectors
        if self.total == 0:
            raise DiskImageError("%s: the disk image is smaller than one 512-byte sector"
                                 % self.image.path)
        self.cylinders, self.heads, self.sectors = self._geometry(cylinders, heads, sectors)
        self.write_cache_default = bool(write_cache)
        super().__init__(model=model, serial=serial, firmware=firmware, timing=timing)
        self.after_reset(hardware=True)

    def _geometry(self, cylinders, heads, sectors):
        if cylinders is None and heads is None and sectors is None:
            return default_geometry(self.total)
        heads = 16 if heads is None else heads
        sectors = 63 if sectors is None else sectors
        if not 1 <= heads <= 16:
            raise ValueError("%s: heads must be 1..16 (the Device register has 4 head bits),"
                             " not %r" % (self.image.path, heads))
        if not 1 <= sectors <= 255:
            raise ValueError("%s: sectors per track must be 1..255, not %r"
                             % (self.image.path, sectors))
        if cylinders is None:
            cylinders = min(self.total // (heads * sectors), 65535)
        if not 1 <= cylinders <= 65535:
            raise ValueError("%s: cylinders must be 1..65535, not %r"
                             % (self.image.path, cylinders))
        if cylinders * heads * sectors > self.total:
            raise ValueError("%s: geometry %d/%d/%d is %d sectors, more than the image's %d"
                             % (self.image.path, cylinders, heads, sectors,
                                cylinders * heads * sectors, self.total))
        return cylinders, heads, sectors

    def after_reset(self, hardware):
        # Settings survive a software reset unless SET FEATURES CCh asked for power-on
        # defaults; a hardware reset always restores them [ATA-6 SET FEATURES 66h/CCh].
        if hardware:
            self.multiple = 0
            self.cur_cylinders, self.cur_heads, self.cur_sectors = (
                self.cylinders, self.heads, self.sectors)
            self.chs_valid = True
            self.revert = False
        if hardware or self.revert:
            self.write_cache = self.write_cache_default
            self.look_ahead = True
            self.pio_mode = 4
        if hardware:
            self.dirty = 0
        self.ready = DRDY | DSC

    # ------------------------------------------------------------ addressing

    def _address(self, ext):
        """(first LBA, sector count, mode) from the task file [ATA-6 "LBA/CHS addressing"]."""
        if ext:
            lba = (self.lba_high_hob << 40 | self.lba_mid_hob << 32 | self.lba_low_hob << 24
                   | self.lba_high << 16 | self.lba_mid << 8 | self.lba_low)
            return lba, (self.count_hob << 8 | self.count) or 0x10000, "lba48"
        count = self.count or 256
        if self.device & LBA:
            lba = ((self.device & 0x0F) << 24 | self.lba_high << 16 | self.lba_mid << 8
                   | self.lba_low)
            return lba, count, "lba28"
        if not self.chs_valid:
            raise CommandError(ABRT)
        c = self.lba_high << 8 | self.lba_mid
        h = self.device & 0x0F
        s = self.lba_low
        if s == 0 or s > self.cur_sectors or h >= self.cur_heads or c >= self.cur_cylinders:
            raise CommandError(IDNF)
        return (c * self.cur_heads + h) * self.cur_sectors + s - 1, count, "chs"

    def _limit(self, mode):
        """One past the last sector reachable in `mode`."""
        if mode == "chs":
            return min(self.total, self.cur_cylinders * self.cur_heads * self.cur_sectors)
        if mode == "lba28":
            return min(self.total, 0x0FFFFFFF)
        return self.total

    def _first_bad(self, lba, n):
        limit = self._limit(self.x_mode)
        if lba + n <= limit:
            return None
        return max(lba, limit)

    def set_address(self, lba):
        """Leave `lba` in the address registers the way the command addressed it."""
        mode = self.x_mode
        if mode == "chs":
            per_cyl = self.cur_heads * self.cur_sectors
            c, rest = divmod(lba, per_cyl)
            h, s = divmod(rest, self.cur_sectors)
            self.lba_low = s + 1
            self.lba_mid = c & 0xFF
            self.lba_high = (c >> 8) & 0xFF
            self.device = (self.device & 0xF0) | h
        else:
            self.lba_low = lba & 0xFF
            self.lba_mid = (lba >> 8) & 0xFF
            self.lba_high = (lba >> 16) & 0xFF
            if mode == "lba48":
                self.lba_low_hob = (lba >> 24) & 0xFF
                self.lba_mid_hob = (lba >> 32) & 0xFF
                self.lba_high_hob = (lba >> 40) & 0xFF
            else:
                self.device = (self.device & 0xF0) | ((lba >> 24) & 0x0F)

    def set_count(self, n):
        self.count = n & 0xFF
        if self.x_mode == "lba48":
            self.count_hob = (n >> 8) & 0xFF

    def access_time(self, lba):
        """Cycles from the end of command decode until sector `lba` is under the head:
        nothing for a sequential access, else a seek linear in the distance plus half a
        revolution."""
        if lba == self.head:
            return 0
        t = self.t
        span = self.total
        distance = min(abs(lba - self.head), span)
        seek = t["track_to_track"] + (t["full_stroke"] - t["track_to_track"]) * distance // span
        return seek + t["half_revolution"]

    def _fail_at_sector(self, lba, left):
        """IDNF with the registers naming the sector in error [ATA-6 READ SECTORS error
        outputs]."""
        self.set_address(lba)
        self.set_count(left)
        self.fail(IDNF)

    # ------------------------------------------------------------ data commands

    def _setup_transfer(self, code, ext):
        lba, count, mode = self._address(ext)
        if code in self.MULTIPLE:
            if not self.multiple:
                raise CommandError(ABRT)
            block = self.multiple
        else:
            block = 1
        self.x_lba, self.x_left, self.x_mode, self.x_block = lba, count, mode, block
        self.x_done = 0
        self.power = 0xFF

    def _cmd_read(self, code):
        """READ SECTORS (20h/21h), READ SECTORS EXT (24h), READ MULTIPLE (C4h) and READ
        MULTIPLE EXT (29h): PIO data-in, INTRQ at each DRQ block, none at the end."""
        self._setup_transfer(code, code in self.READ_EXT)
        start = self.now() + self.t["command"]
        self.x_media0 = start + self.access_time(self.x_lba)
        n = min(self.x_block, self.x_left)
        self.schedule_at(self.x_media0 + n * self.t["sector"], "_read_block")

    def _read_block(self):
        n = min(self.x_block, self.x_left)
        bad = self._first_bad(self.x_lba, n)
        if bad is not None:
            self._fail_at_sector(bad, self.x_left - (bad - self.x_lba))
            return
        data = self.image.read(self.x_lba, n)
        self.x_n = n
        self.set_address(self.x_lba + n - 1)
        self.set_count(self.x_left - n)
        self.on_block = "_read_block_done"
        self.present_in(data)

    def _read_block_done(self):
        n = self.x_n
        self.x_lba += n
        self.x_left -= n
        self.x_done += n
        self.head = self.x_lba
        if self.x_left == 0:
            self.status = self.ready
            self.phase = "idle"
            return
        nxt = min(self.x_block, self.x_left)
        ready = self.x_media0 + (self.x_done + nxt) * self.t["sector"]
        self.schedule_at(max(self.now() + self.t["block"], ready), "_read_block")

    def _cmd_write(self, code):
        """WRITE SECTORS (30h/31h), WRITE SECTORS EXT (34h), WRITE MULTIPLE (C5h) and
        WRITE MULTIPLE EXT (39h): PIO data-out, no INTRQ for the first DRQ block, INTRQ
        for each later one and at completion."""
        self._setup_transfer(code, code in self.WRITE_EXT)
        self.x_first = True
        self.schedule(self.t["command"], "_write_request")

    def _write_request(self):
        n = min(self.x_block, self.x_left)
        bad = self._first_bad(self.x_lba, n)
        if bad is not None:
            self._fail_at_sector(bad, self.x_left - (bad - self.x_lba))
            return
        self.x_n = n
        self.on_block = "_write_block_done"
        self.request_out(n * 512, irq=not self.x_first)

    def _write_block_done(self):
        n = self.x_n
        try:
            self.image.write(self.x_lba, bytes(self.buf))
        except DiskImageError:
            self.set_address(self.x_lba)
            self.set_count(self.x_left)
            self.fail(ABRT)
            return
        self.set_address(self.x_lba + n - 1)
        self.set_count(self.x_left - n)
        if self.write_cache:
            delay = self.t["block"]
            self.dirty += n
        else:
            delay = self.t["block"] + n * self.t["sector"]
            if self.x_first:
                delay += self.access_time(self.x_lba)
        self.x_first = False
        self.x_lba += n
        self.x_left -= n
        self.head = self.x_lba
        self.buf = b""
        self.schedule(delay, "_write_block_end")

    def _write_block_end(self):
        if self.x_left == 0:
            self.complete()
        else:
            self._write_request()

    def _cmd_verify(self, code):
        """READ VERIFY SECTORS (40h/41h) and its EXT form (42h): read the media, transfer
        nothing, INTRQ at the end."""
        self._setup_transfer(code, code in self.READ_EXT)
        start = self.now() + self.t["command"]
        media0 = start + self.access_time(self.x_lba)
        bad = self._first_bad(self.x_lba, self.x_left)
        good = self.x_left if bad is None else bad - self.x_lba
        self.x_n = good
        self.head = self.x_lba + good
        self.schedule_at(media0 + max(good, 1) * self.t["sector"], "_verify_done")

    def _verify_done(self):
        if self.x_n < self.x_left:
            bad = self.x_lba + self.x_n
            self._fail_at_sector(bad, self.x_left - self.x_n)
            return
        self.set_address(self.x_lba + self.x_left - 1)
        self.set_count(0)
        self.complete()

    # ------------------------------------------------------------ positioning

    def seek_time(self, lba):
        if lba == self.head:
            return 0
        t = self.t
        distance = min(abs(lba - self.head), self.total)
        return t["track_to_track"] + (
            (t["full_stroke"] - t["track_to_track"]) * distance // self.total)

    def _cmd_recalibrate(self, code):
        """RECALIBRATE (1xh): move the heads to cylinder 0."""
        delay = self.t["command"] + self.seek_time(0)
        self.head = 0
        self.schedule(delay, "complete")

    def _cmd_seek(self, code):
        """SEEK (7xh): position the heads; an address outside the media is IDNF."""
        lba, _count, mode = self._address(False)
        self.x_mode = mode
        if lba >= self._limit(mode):
            raise CommandError(IDNF)
        delay = self.t["command"] + self.seek_time(lba)
        self.head = lba
        self.schedule(delay, "complete")

    # ------------------------------------------------------------ configuration

    def _cmd_initialize_parameters(self, code):
        """INITIALIZE DEVICE PARAMETERS (91h): the CHS translation for sectors per track
        (Sector Count) and heads (Device bits 3:0 + 1).  An unusable one is aborted and
        leaves CHS addressing invalid until a good one [ATA-6 INITIALIZE DEVICE PARAMETERS]."""
        heads = (self.device & 0x0F) + 1
        sectors = self.count
        cylinders = min(self.total // (heads * sectors), 65535) if sectors else 0
        if cylinders == 0:
            self.chs_valid = False
            raise CommandError(ABRT)
        self.cur_cylinders, self.cur_heads, self.cur_sectors = cylinders, heads, sectors
        self.chs_valid = True
        self.schedule(self.t["command"], "complete")

    def _cmd_set_multiple(self, code):
        """SET MULTIPLE MODE (C6h): sectors per DRQ block of the MULTIPLE commands, a power
        of two up to word 47's maximum; 0 disables them."""
        n = self.count
        if n not in (0, 1, 2, 4, 8, 16, 32, 64, 128) or n > MAX_MULTIPLE:
            raise CommandError(ABRT)
        self.multiple = n
        self.schedule(self.t["command"], "complete")

    def _cmd_set_features(self, code):
        """SET FEATURES (EFh), by the Features register."""
        sub = self.feature
        if sub == 0x02:
            self.write_cache = True
        elif sub == 0x82:
            self.write_cache = False
        elif sub == 0x03:
            mode = self.count
            if mode in (0x00, 0x01):
                self.pio_mode = 2               # PIO default mode
            elif mode >> 3 == 0x01 and (mode & 7) <= 4:
                self.pio_mode = mode & 7         # PIO flow-control mode x
            else:
                raise CommandError(ABRT)         # DMA modes: not implemented
        elif sub == 0xAA:
            self.look_ahead = True
        elif sub == 0x55:
            self.look_ahead = False
        elif sub == 0x66:
            self.revert = False
        elif sub == 0xCC:
            self.revert = True
        else:
            raise CommandError(ABRT)
        self.schedule(self.t["command"], "complete")

    def _cmd_flush(self, code):
        """FLUSH CACHE (E7h) / FLUSH CACHE EXT (EAh): write what the cache holds."""
        delay = self.t["command"]
        if self.dirty:
            delay += self.t["half_revolution"] + self.dirty * self.t["sector"]
        self.dirty = 0
        self.schedule(delay, "complete")

    def _cmd_power(self, code):
        """IDLE / STANDBY (IMMEDIATE): no spin-down is modelled; the mode is recorded for
        CHECK POWER MODE."""
        self.power = 0x00 if code in (0xE0, 0xE2, 0x94, 0x96) else 0x80
        self.schedule(self.t["command"], "complete")

    def _cmd_check_power(self, code):
        """CHECK POWER MODE (E5h): Sector Count 00h standby, 80h idle, FFh active."""
        self.count = self.power
        self.schedule(self.t["command"], "complete")

    def _cmd_identify(self, code):
        self.schedule(self.t["command"], "_identify_ready")

    def identify_data(self):
        """The 512 bytes of IDENTIFY DEVICE [ATA-6 IDENTIFY DEVICE, table of words]."""
        lba28 = min(self.total, 0x0FFFFFFF)
        current = self.cur_cylinders * self.cur_heads * self.cur_sectors
        supported82 = 0x4000 | 0x0040 | 0x0020 | 0x0008    # NOP, look-ahead, cache, PM
        enabled85 = 0x4000 | 0x0008
        if self.look_ahead:
            enabled85 |= 0x0040
        if self.write_cache:
            enabled85 |= 0x0020
        words = {
            0: 0x0040,                       # ATA device, fixed (not removable)
            1: self.cylinders,
            2: 0xC837,                       # no SET FEATURES needed to spin up; complete
            3: self.heads,
            # Retired words 4/5 (ATA-1 bytes per track and per sector) keep their formatted
            # values as ATA-2/3 drives gave them: the Bochs BIOS takes its PIO block size
            # from word 5.
            4: (512 * self.sectors) & 0xFFFF,
            5: 512,
            6: self.sectors,
            10: ata_string(self.serial, 10),
            20: 3, 21: 512, 22: 4,           # retired: buffer type/size, ECC bytes
            23: ata_string(self.firmware, 4),
            27: ata_string(self.model_name, 20),
            47: 0x8000 | MAX_MULTIPLE,
            49: 0x0E00,                      # IORDY supported/disableable, LBA; no DMA
            50: 0x4000,
            51: 0x0200,                      # obsolete PIO timing mode 2
            53: 0x0002 | (0x0001 if self.chs_valid else 0),   # words 64-70, 54-58 valid
            54: self.cur_cylinders if self.chs_valid else 0,
            55: self.cur_heads if self.chs_valid else 0,
            56: self.cur_sectors if self.chs_valid else 0,
            57: (current if self.chs_valid else 0) & 0xFFFF,
            58: (current if self.chs_valid else 0) >> 16,
            59: (0x0100 | self.multiple) if self.multiple else 0,
            60: lba28 & 0xFFFF,
            61: lba28 >> 16,
            64: 0x0003,                      # PIO modes 3 and 4
            67: 120,                         # ns: PIO cycle without / with IORDY
            68: 120,
            80: 0x007E,                      # ATA-1 .. ATA/ATAPI-6
            82: supported82,
            83: 0x4000 | 0x2000 | 0x1000 | 0x0400,    # FLUSH CACHE (EXT), 48-bit address
            84: 0x4000,
            85: enabled85,
            86: 0x2000 | 0x1000 | 0x0400,
            87: 0x4000,
            93: self.hardware_reset_result(),
            100: self.total & 0xFFFF,
            101: (self.total >> 16) & 0xFFFF,
            102: (self.total >> 32) & 0xFFFF,
            103: (self.total >> 48) & 0xFFFF,
        }
        return identify_block(words)

    # ------------------------------------------------------------ views

    def describe(self):
        size = self.total * 512
        return ("hard disk %s: %d sectors (%.1f MiB), CHS %d/%d/%d (current %s), multiple %d,"
                " write cache %s%s" % (
                    self.image.path, self.total, size / (1 << 20), self.cylinders, self.heads,
                    self.sectors,
                    ("%d/%d/%d" % (self.cur_cylinders, self.cur_heads, self.cur_sectors))
                    if self.chs_valid else "invalid",
                    self.multiple, "on" if self.write_cache else "off",
                    ", commit" if self.image.commit else ", overlay %d sectors"
                    % len(self.image.overlay)))

    def get_state(self):
        state = super().get_state()
        state["image"] = self.image.get_state()
        return state

    def set_state(self, state):
        super().set_state(state)
        self.image.set_state(state["image"])


# ======================================================================== ATAPI CD-ROM

class CDROM(Drive):
    """An ATAPI CD-ROM drive (SFF-8020i packet interface, MMC commands) on an ISO image.

    image: a path, a DiskImage with 2048-byte sectors, or None for an empty drive.
    unit_attention: report the power-on UNIT ATTENTION (29h) to the first command after a
    reset, as real drives do.  timing: overrides of `TIMING` entries (nanoseconds).
    """

    kind = "atapi"
    SERIAL_PREFIX = "CD"
    SIGNATURE = SIGNATURE_PACKET
    # A 24x drive (figures in nanoseconds):
    TIMING = {
        "command": 100_000,         # packet command processing by the firmware
        "packet": 20_000,           # PACKET to DRQ for the command packet (accelerated DRQ)
        "block": 2_000,             # turnaround after the host empties a data block
        "sector": 555_556,          # 2048 bytes at 24 x 75 sectors/s
        "seek_min": 20_000_000,     # shortest access
        "seek_full": 200_000_000,   # full-stroke access (so 1/3 stroke is about 80 ms)
        "reset": 1_000_000,
        "diagnostic": 2_000_000,
    }
    COMMANDS = {
        0x08: "_cmd_device_reset",
        0xA0: "_cmd_packet",
        0xA1: "_cmd_identify_packet",
        0xEC: "_cmd_identify_device",
        0xEF: "_cmd_set_features",
        0xE0: "_cmd_power", 0xE1: "_cmd_power", 0xE2: "_cmd_power", 0xE3: "_cmd_power",
        0x94: "_cmd_power", 0x95: "_cmd_power", 0x96: "_cmd_power", 0x97: "_cmd_power",
        0xE5: "_cmd_check_power", 0x98: "_cmd_check_power",
    }
    PACKET_COMMANDS = {
        0x00: "_scsi_test_unit_ready",
        0x03: "_scsi_request_sense",
        0x12: "_scsi_inquiry",
        0x1B: "_scsi_start_stop",
        0x1E: "_scsi_prevent_allow",
        0x25: "_scsi_read_capacity",
        0x28: "_scsi_read",
        0xA8: "_scsi_read",
        0x43: "_scsi_read_toc",
        0x46: "_scsi_get_configuration",
        0x5A: "_scsi_mode_sense",
    }
    # Commands that neither report nor clear a pending unit attention [SPC, MMC].
    NO_UNIT_ATTENTION = (0x03, 0x12, 0x46, 0x4A)
    STATE = Drive.STATE + ("sense", "unit_attention", "locked", "tray_open", "cdb")

    def __init__(self, image=None, *, unit_attention=True, model="CYCLE86 ATAPI CD-ROM",
                 vendor="CYCLE86", product="CD-ROM", serial=None, firmware="1.0",
                 timing=None):
        self.image = None
        self.vendor = vendor
        self.product = product
        self.report_power_on = unit_attention
        super().__init__(model=model, serial=serial, firmware=firmware, timing=timing)
        self.sense = (SK_NO_SENSE, 0, 0)
        self.unit_attention = None
        self.locked = False
        self.tray_open = False
        self.cdb = b""
        if image is not None:
            self.image = self._open(image)
        self.after_reset(hardware=True)

    @staticmethod
    def _open(image):
        if isinstance(image, DiskImage):
            if image.sector_size != CD_SECTOR:
                raise DiskImageError("%s: a CD-ROM image needs 2048-byte sectors, not %d"
                                     % (image.path, image.sector_size))
        else:
            image = DiskImage(image, read_only=True, sector_size=CD_SECTOR)
        if image.sectors == 0:
            raise DiskImageError("%s: the CD-ROM image is smaller than one 2048-byte sector"
                                 % image.path)
        return image

    # ------------------------------------------------------------ the medium (Python API)

    @property
    def medium_present(self):
        return self.image is not None and not self.tray_open

    def insert(self, image):
        """Put a disc in and close the tray; the guest sees UNIT ATTENTION 28h/00h."""
        self.image = self._open(image)
        self.tray_open = False
        self.unit_attention = (SK_UNIT_ATTENTION,) + ASC_MEDIUM_CHANGED

    def eject(self, force=False):
        """Press the eject button: opens the tray unless the guest prevents medium removal
        (PREVENT ALLOW MEDIUM REMOVAL); `force` opens it anyway.  Returns True if opened."""
        if self.locked and not force:
            return False
        self.tray_open = True
        return True

    def after_reset(self, hardware):
        # A packet device shows DRDY=0 after reset until it executes a command.
        self.ready = 0
        if hardware:
            self.locked = False
        if self.report_power_on:
            self.unit_attention = (SK_UNIT_ATTENTION,) + ASC_POWER_ON_RESET

    def idle_status(self):
        return 0x00

    # ------------------------------------------------------------ ATA commands

    def command(self, code):
        self.ready = DRDY
        super().command(code)

    def fail(self, error):
        super().fail(error)
        self.count = IR_IO | IR_COD

    def _cmd_identify_device(self, code):
        """IDENTIFY DEVICE to a packet device: aborted, with the packet signature in the
        registers so the host learns what it talks to [ATA-6 IDENTIFY DEVICE]."""
        self.schedule(self.t["command"], "_identify_device_abort")

    def _identify_device_abort(self):
        self.fail(ABRT)
        self.signature()
        self.device = self.unit << 4

    def _cmd_identify_packet(self, code):
        self.schedule(self.t["command"], "_identify_ready")

    def identify_data(self):
        """The 512 bytes of IDENTIFY PACKET DEVICE [ATA-6, SFF-8020i]."""
        words = {
            # ATAPI (10b), CD-ROM command set (05h), removable, accelerated DRQ (50 us),
            # 12-byte packets.
            0: 0x8000 | 0x0500 | 0x0080 | 0x0040,
            10: ata_string(self.serial, 10),
            23: ata_string(self.firmware, 4),
            27: ata_string(self.model_name, 20),
            49: 0x0E00,                      # IORDY, LBA; no DMA, no overlap
            50: 0x4000,
            51: 0x0200,
            53: 0x0002,
            64: 0x0003,
            67: 120,
            68: 120,
            80: 0x007E,
            82: 0x4000 | 0x0200 | 0x0010 | 0x0008,   # NOP, DEVICE RESET, PACKET, PM
            83: 0x4000,
            84: 0x4000,
            85: 0x4000 | 0x0200 | 0x0010 | 0x0008,
            87: 0x4000,
            93: self.hardware_reset_result(),
        }
        return identify_block(words)

    def _cmd_device_reset(self, code):
        """DEVICE RESET (08h): reset this packet device; accepted even while BSY, ends
        with the signature and without INTRQ."""
        self.status = BSY
        self.schedule(self.t["reset"], "_device_reset_done")

    def _device_reset_done(self):
        self.after_reset(hardware=False)
        self.signature()
        self.device = self.unit << 4
        self.error = DIAG_PASSED
        self.status = self.idle_status()
        self.phase = "idle"

    def _cmd_set_features(self, code):
        if self.feature == 0x03 and (self.count in (0, 1) or
                                     (self.count >> 3 == 1 and (self.count & 7) <= 4)):
            self.schedule(self.t["command"], "_ata_done")
            return
        raise CommandError(ABRT)

    def _cmd_power(self, code):
        self.power = 0x00 if code in (0xE0, 0xE2, 0x94, 0x96) else 0x80
        self.schedule(self.t["command"], "_ata_done")

    def _cmd_check_power(self, code):
        self.count = self.power
        self.schedule(self.t["command"], "_ata_done")

    def _ata_done(self):
        count = self.count
        self.complete()
        if self.cmd not in (0xE5, 0x98):
            self.count = IR_IO | IR_COD
        else:
            self.count = count

    # ------------------------------------------------------------ the packet protocol

    def _cmd_packet(self, code):
        """PACKET (A0h): the host then writes the 12-byte command packet while DRQ is set
        with CoD=1, IO=0; the Byte Count registers carry its byte count limit
        [ATA-6 PACKET command protocol]."""
        if self.feature & 0x01:
            raise CommandError(ABRT)         # DMA data transfer: not implemented
        limit = self.lba_high << 8 | self.lba_mid
        self.x_limit = limit
        self.schedule(self.t["packet"], "_packet_request")

    def _packet_request(self):
        self.count = IR_COD
        self.on_block = "_packet_received"
        self.request_out(12, irq=False)

    def _packet_received(self):
        cdb = bytes(self.buf)
        self.cdb = cdb
        self.buf = b""
        op = cdb[0]
        self.x_left = 0
        self.x_data = bytearray()
        self.x_fetched = 0
        self.x_media0 = self.now() + self.t["command"]
        try:
            if op not in self.NO_UNIT_ATTENTION and self.unit_attention is not None:
                sense, self.unit_attention = self.unit_attention, None
                raise SenseError(sense[0], sense[1:])
            if op != 0x03:
                self.sense = (SK_NO_SENSE, 0, 0)
            handler = self.PACKET_COMMANDS.get(op)
            if handler is None:
                raise SenseError(SK_ILLEGAL_REQUEST, ASC_INVALID_OPCODE)
            data = getattr(self, handler)(cdb)
        except SenseError as e:
            self.sense = (e.key, e.asc, e.ascq)
            self.schedule(self.t["command"], "_packet_check_condition")
            return
        if data is not None:
            self.x_data = bytearray(data)
        if self._remaining() == 0:
            self.schedule_at(self.x_media0, "_packet_complete")
        else:
            self.schedule_at(max(self.x_media0, self._chunk_ready()), "_data_chunk")

    def _packet_check_condition(self):
        """CHECK CONDITION: ERR (CHK) with the sense key in Error bits 7:4."""
        self.fail(self.sense[0] << 4)

    def _packet_complete(self):
        self._end_transfer()
        self.status = self.ready
        self.phase = "idle"
        self.count = IR_IO | IR_COD
        self.raise_intrq()

    def _remaining(self):
        return len(self.x_data) + self.x_left * CD_SECTOR

    def _chunk_size(self):
        """Bytes in the next DRQ data block: at most the byte count limit (FFFEh if the host
        left it 0), whole sectors when the limit holds one, even unless it is the last."""
        remaining = self._remaining()
        limit = self.x_limit or 0xFFFE
        if self.x_left and limit >= CD_SECTOR:
            want = min(remaining, limit - limit % CD_SECTOR)
        else:
            want = min(remaining, limit)
        if want < remaining and want & 1:
            want = want - 1 or min(remaining, 2)
        return want

    def _chunk_ready(self):
        """The cycle the media has read all sectors the next block needs."""
        need = self._chunk_size() - len(self.x_data)
        if need <= 0:
            return 0
        sectors = -(-need // CD_SECTOR)
        return self.x_media0 + (self.x_fetched + sectors) * self.t["sector"]

    def _data_chunk(self):
        want = self._chunk_size()
        need = want - len(self.x_data)
        if need > 0:
            sectors = -(-need // CD_SECTOR)
            self.x_data += self.image.read(self.x_lba, sectors)
            self.x_lba += sectors
            self.x_left -= sectors
            self.x_fetched += sectors
            self.head = self.x_lba
        chunk = bytes(self.x_data[:want])
        del self.x_data[:want]
        self.lba_mid = want & 0xFF
        self.lba_high = (want >> 8) & 0xFF
        self.count = IR_IO
        self.on_block = "_data_chunk_done"
        self.present_in(chunk)

    def _data_chunk_done(self):
        if self._remaining():
            ready = self._chunk_ready()
            self.schedule_at(max(self.now() + self.t["block"], ready), "_data_chunk")
        else:
            self.schedule(self.t["block"], "_packet_complete")

    # ------------------------------------------------------------ SCSI / MMC commands
    # Each takes the CDB and returns the data-in bytes (None: no data) or raises SenseError.

    def _need_medium(self):
        if not self.medium_present:
            raise SenseError(SK_NOT_READY, ASC_MEDIUM_NOT_PRESENT)

    @staticmethod
    def _allocation(data, length):
        return bytes(data[:length])

    def _scsi_test_unit_ready(self, cdb):
        self._need_medium()
        return None

    def _scsi_request_sense(self, cdb):
        """REQUEST SENSE (03h): fixed-format sense data, then the sense is cleared."""
        if self.unit_attention is not None:
            key, asc, ascq = self.unit_attention
            self.unit_attention = None
        else:
            key, asc, ascq = self.sense
        self.sense = (SK_NO_SENSE, 0, 0)
        data = bytearray(18)
        data[0] = 0x70                       # current error, fixed format
        data[2] = key
        data[7] = 10                         # additional sense length
        data[12] = asc
        data[13] = ascq
        return self._allocation(data, cdb[4])

    def _scsi_inquiry(self, cdb):
        """INQUIRY (12h): standard data, peripheral type 05h (CD-ROM), removable."""
        if cdb[1] & 0x01 or cdb[2]:
            raise SenseError(SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD)   # no VPD pages
        data = bytearray(36)
        data[0] = 0x05
        data[1] = 0x80
        data[2] = 0x00
        data[3] = 0x21                       # ATAPI version 2, response data format 1
        data[4] = 31
        data[8:16] = self.vendor.encode("ascii")[:8].ljust(8)
        data[16:32] = self.product.encode("ascii")[:16].ljust(16)
        data[32:36] = self.firmware.encode("ascii")[:4].ljust(4)
        return self._allocation(data, cdb[4])

    def _scsi_start_stop(self, cdb):
        """START STOP UNIT (1Bh): LoEj with Start loads (closes the tray), without Start
        ejects unless medium removal is prevented."""
        start, loej = cdb[4] & 0x01, cdb[4] & 0x02
        if loej:
            if start:
                if self.tray_open:
                    self.tray_open = False
                    if self.image is not None:
                        self.unit_attention = (SK_UNIT_ATTENTION,) + ASC_MEDIUM_CHANGED
            else:
                if self.locked:
                    raise SenseError(SK_ILLEGAL_REQUEST, ASC_REMOVAL_PREVENTED)
                self.tray_open = True
        return None

    def _scsi_prevent_allow(self, cdb):
        self.locked = bool(cdb[4] & 0x01)
        return None

    def _scsi_read_capacity(self, cdb):
        """READ CAPACITY (25h): last LBA and the block length, big-endian."""
        self._need_medium()
        return (self.image.sectors - 1).to_bytes(4, "big") + CD_SECTOR.to_bytes(4, "big")

    def _scsi_read(self, cdb):
        """READ(10) (28h) and READ(12) (A8h) of 2048-byte blocks."""
        self._need_medium()
        lba = int.from_bytes(cdb[2:6], "big")
        if cdb[0] == 0x28:
            count = int.from_bytes(cdb[7:9], "big")
        else:
            count = int.from_bytes(cdb[6:10], "big")
        if lba + count > self.image.sectors:
            raise SenseError(SK_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE)
        if count:
            self.x_media0 += self.access_time(lba)
        self.x_lba = lba
        self.x_left = count
        self.power = 0xFF
        return None

    def access_time(self, lba):
        if lba == self.head:
            return 0
        t = self.t
        distance = min(abs(lba - self.head), CD_MAX_SECTORS)
        return t["seek_min"] + (t["seek_full"] - t["seek_min"]) * distance // CD_MAX_SECTORS

    @staticmethod
    def _address_field(lba, msf):
        if not msf:
            return lba.to_bytes(4, "big")
        frames = lba + CD_LEAD_IN_FRAMES
        minutes, rest = divmod(frames, 60 * CD_FRAMES_PER_SECOND)
        seconds, frame = divmod(rest, CD_FRAMES_PER_SECOND)
        return bytes((0, minutes & 0xFF, seconds, frame))

    def _scsi_read_toc(self, cdb):
        """READ TOC/PMA/ATIP (43h) formats 0 (TOC) and 1 (session info) of a one-track data
        disc: track 1 at LBA 0, lead-out (AAh) at the capacity."""
        self._need_medium()
        msf = bool(cdb[1] & 0x02)
        fmt = cdb[2] & 0x0F
        if fmt == 0 and cdb[9] >> 6:
            fmt = cdb[9] >> 6                # the SFF-8020i place of the format field
        track = cdb[6]
        length = int.from_bytes(cdb[7:9], "big")
        if fmt == 0:
            descriptors = b""
            if track <= 1:
                descriptors += bytes((0, 0x14, 1, 0)) + self._address_field(0, msf)
            elif track != 0xAA:
                raise SenseError(SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD)
            descriptors += bytes((0, 0x14, 0xAA, 0)) + self._address_field(
                self.image.sectors, msf)
            body = bytes((1, 1)) + descriptors
        elif fmt == 1:
            body = bytes((1, 1)) + bytes((0, 0x14, 1, 0)) + self._address_field(0, msf)
        else:
            raise SenseError(SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD)
        data = len(body).to_bytes(2, "big") + body
        return self._allocation(data, length)

    def _mode_pages(self, changeable):
        """The mode pages this drive has: R/W error recovery (01h), CD device parameters
        (0Dh), CD capabilities and mechanical status (2Ah)."""
        if changeable:
            return {0x01: bytes((0x01, 0x06)) + bytes(6),
                    0x0D: bytes((0x0D, 0x06)) + bytes(6),
                    0x2A: bytes((0x2A, 0x12)) + bytes(18)}
        speed = 24 * 176                     # kB/s at 24x
        cap = bytearray(20)
        cap[0:2] = b"\x2A\x12"
        cap[4] = 0x71                        # audio play, mode 2 form 1/2, multisession
        cap[5] = 0x00
        cap[6] = 0x29 | (0x02 if self.locked else 0)   # tray, eject, lock (+ state)
        cap[8:10] = speed.to_bytes(2, "big")             # maximum read speed
        cap[10:12] = (256).to_bytes(2, "big")            # volume levels
        cap[12:14] = (512).to_bytes(2, "big")            # buffer size, KiB
        cap[14:16] = speed.to_bytes(2, "big")            # current read speed
        return {
            0x01: bytes((0x01, 0x06, 0x00, 5, 0, 0, 0, 0)),
            0x0D: bytes((0x0D, 0x06, 0x00, 0x00, 0x00, 60, 0x00, 75)),
            0x2A: bytes(cap),
        }

    def _scsi_mode_sense(self, cdb):
        """MODE SENSE(10) (5Ah) with no block descriptors."""
        pc, page = cdb[2] >> 6, cdb[2] & 0x3F
        length = int.from_bytes(cdb[7:9], "big")
        if pc == 3:
            raise SenseError(SK_ILLEGAL_REQUEST, ASC_SAVING_NOT_SUPPORTED)
        pages = self._mode_pages(changeable=(pc == 1))
        if page == 0x3F:
            body = b"".join(pages[p] for p in sorted(pages))
        elif page in pages:
            body = pages[page]
        else:
            raise SenseError(SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD)
        if self.medium_present:
            medium = 0x01                    # 120 mm CD-ROM data only
        else:
            medium = 0x71 if self.tray_open else 0x70
        header = (len(body) + 6).to_bytes(2, "big") + bytes((medium, 0, 0, 0, 0, 0))
        return self._allocation(header + body, length)

    def _scsi_get_configuration(self, cdb):
        """GET CONFIGURATION (46h): the profile list (CD-ROM), Core, Removable Medium,
        Random Readable and CD Read features."""
        rt = cdb[1] & 0x03
        start = int.from_bytes(cdb[2:4], "big")
        length = int.from_bytes(cdb[7:9], "big")
        present = self.medium_present
        cur = 0x01 if present else 0x00
        features = [
            (0x0000, True, bytes((0x00, 0x00, 0x03, 4)) + bytes((0x00, 0x08, cur, 0))),
            (0x0001, True, bytes((0x00, 0x01, 0x03, 4)) + (2).to_bytes(4, "big")),
            (0x0003, True, bytes((0x00, 0x03, 0x03, 4,
                                  0x29 | (0x01 if self.locked else 0), 0, 0, 0))),
            (0x0010, present, bytes((0x00, 0x10, 0x00 | cur, 8)) +
             CD_SECTOR.to_bytes(4, "big") + bytes((0, 1, 0, 0))),
            (0x001E, present, bytes((0x00, 0x1E, 0x00 | cur, 0))),
        ]
        if rt == 3:
            raise SenseError(SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD)
        body = b""
        for number, current, descriptor in features:
            if rt == 2 and number != start:
                continue
            if number < start or (rt == 1 and not current):
                continue
            body += descriptor
        profile = 0x0008 if present else 0x0000
        header = (len(body) + 4).to_bytes(4, "big") + bytes(2) + profile.to_bytes(2, "big")
        return self._allocation(header + body, length)

    # ------------------------------------------------------------ views

    def describe(self):
        if self.image is None:
            medium = "no disc"
        else:
            medium = "%s, %d sectors" % (self.image.path, self.image.sectors)
        return "ATAPI CD-ROM: %s%s%s, sense %X/%02X/%02X" % (
            medium, ", tray open" if self.tray_open else "",
            ", locked" if self.locked else "", *self.sense)


# ======================================================================== channels

class Channel:
    """One ATA cable: command block at `base`, control block at `ctrl`, interrupt `irq`."""

    def __init__(self, ata, index, base, ctrl, irq):
        self.ata = ata
        self.machine = ata.machine
        self.clock = ata.clock
        self.index = index
        self.base = base
        self.ctrl = ctrl
        self.irq = irq
        self.drives = [None, None]
        self.dev = 0
        self.devctl = 0
        self.irq_level = False
        self.cur = None               # the selected drive, None if it is absent
        self.device0_answers = ata.device0_answers
        self.absent_status = ata.empty_bus
        bus = ata.bus
        # Only Data is 16 bits wide; a wider access to the other registers reaches them
        # as byte cycles on consecutive ports (the bus splits it).
        bus.register_io(base, 1, self._read_data, self._write_data)
        bus.register_io(base + 1, 6, self._read_taskfile, self._write_taskfile, width=1)
        bus.register_io(base + 7, 1, self._read_status, self._write_command, width=1)
        bus.register_io(ctrl, 1, self._read_alt_status, self._write_devctl, width=1)

    @property
    def name(self):
        return ("primary", "secondary")[self.index] if self.index < 2 else "ch%d" % self.index

    # ------------------------------------------------------------ selection and IRQ

    def _select(self, dev, drive_irq=True):
        self.dev = dev
        drive = self.drives[dev]
        self.cur = drive
        # An absent device leaves the bus floating, unless device 0 answers for an absent
        # device 1 (ATA-6's device-0-only rule, on request) with status 00h.
        if drive is None and dev == 1 and self.device0_answers \
                and self.drives[0] is not None:
            self.absent_status = 0x00
        else:
            self.absent_status = self.ata.empty_bus
        if drive_irq:
            self.update_irq()

    def _responder(self):
        """The drive whose registers a read of registers 1-6 returns, or None (floating)."""
        drive = self.cur
        if drive is None and self.dev == 1 and self.device0_answers:
            drive = self.drives[0]
        return drive

    def update_irq(self):
        """INTRQ is driven by the selected device when nIEN=0 [ATA-6 INTRQ]."""
        drive = self.cur
        level = drive is not None and drive.intrq and not (self.devctl & NIEN)
        if level != self.irq_level:
            self.irq_level = level
            self.machine.set_irq(self.irq, level)

    def signature_placed(self, drive):
        """A reset or diagnostic put 00h in the Device register: device 0 is selected."""
        if self.dev != 0:
            self._select(0)

    def attach(self, unit, drive):
        drive.attach(self, unit)
        self.drives[unit] = drive
        drive.hardware_reset()
        self._select(self.dev)

    def hardware_reset(self):
        self.devctl = 0
        for drive in self.drives:
            if drive is not None:
                drive.hardware_reset()
        self._select(0)
        self.update_irq()

    # ------------------------------------------------------------ port handlers

    def _read_status(self, port, width):
        drive = self.cur
        if drive is None:
            return self.absent_status
        if drive.intrq:
            drive.intrq = False
            if self.irq_level:
                self.update_irq()
        return drive.status

    def _read_alt_status(self, port, width):
        drive = self.cur
        if drive is None:
            return self.absent_status
        return drive.status

    def _read_data(self, port, width):
        drive = self.cur
        if drive is None:
            float_word = 0xFF00 | self.ata.empty_bus
            return float_word if width <= 2 else float_word | float_word << 16
        if width == 2:
            return drive.read_word()
        if width == 4:
            # A 32-bit access is two 16-bit transfers, as on PCI IDE host adapters.
            low = drive.read_word()
            return low | (drive.read_word() << 16)
        return drive.read_word() & 0xFF      # an 8-bit IN still moves one word

    def _write_data(self, port, width, value):
        drive = self.cur
        if drive is None:
            return
        if width == 4:
            drive.write_word(value & 0xFFFF)
            drive.write_word(value >> 16)
        elif width == 2:
            drive.write_word(value)
        else:
            drive.write_word(0xFF00 | value)   # the high data lines float

    def _read_taskfile(self, port, width):
        drive = self._responder()
        if drive is None:
            return self.ata.empty_bus
        return drive.read_reg(port - self.base, self.devctl & HOB)

    def _write_taskfile(self, port, width, value):
        reg = port - self.base
        # Writing any command block register clears HOB [ATA-6 Device Control register].
        self.devctl &= ~HOB
        for drive in self.drives:
            if drive is not None:
                drive.write_reg(reg, value)
        if reg == R_DEVICE:
            dev = (value >> 4) & 1
            if dev != self.dev:
                self._select(dev)

    def _write_command(self, port, width, value):
        self.devctl &= ~HOB
        if value == 0x90:
            # EXECUTE DEVICE DIAGNOSTIC goes to both devices whichever is selected.
            present = [d for d in self.drives if d is not None]
            for drive in present:
                drive.start_diagnostic(interrupts=(drive is present[0]))
            self.update_irq()
            return
        drive = self.cur
        if drive is None:
            return                            # nobody selected to take it
        if drive.status & BSY and not (value == 0x08 and isinstance(drive, CDROM)):
            return
        drive.intrq = False
        drive.command(value)
        self.update_irq()

    def _write_devctl(self, port, width, value):
        old = self.devctl
        self.devctl = value & (HOB | SRST | NIEN)
        if value & SRST and not old & SRST:
            for drive in self.drives:
                if drive is not None:
                    drive.begin_soft_reset()
        elif old & SRST and not value & SRST:
            for drive in self.drives:
                if drive is not None:
                    drive.end_soft_reset()
        self.update_irq()

    # ------------------------------------------------------------ snapshots and views

    def get_state(self):
        return {
            "dev": self.dev,
            "devctl": self.devctl,
            "irq_level": self.irq_level,
            "drives": [None if d is None else d.get_state() for d in self.drives],
        }

    def set_state(self, state):
        for drive, ds in zip(self.drives, state["drives"]):
            if (drive is None) != (ds is None):
                raise ValueError("the snapshot's %s channel has other drives attached"
                                 % self.name)
            if drive is not None:
                drive.set_state(ds)
        self.devctl = state["devctl"]
        # The interrupt controller's snapshot holds the line as it was: restore our idea
        # of it without driving an edge.
        self._select(state["dev"], drive_irq=False)
        self.irq_level = state["irq_level"]

    def info_lines(self):
        lines = ["%s channel: ports %03X-%03X, %03X, IRQ%d  Device Control %02X (%s)  "
                 "device %d selected, INTRQ %s"
                 % (self.name, self.base, self.base + 7, self.ctrl, self.irq, self.devctl,
                    " ".join(n for n, b in (("HOB", HOB), ("SRST", SRST), ("nIEN", NIEN))
                             if self.devctl & b) or "-",
                    self.dev, "high" if self.irq_level else "low")]
        for unit, drive in enumerate(self.drives):
            role = ("master", "slave")[unit]
            if drive is None:
                lines.append(" %s: none" % role)
            else:
                sub = drive.info_lines()
                lines.append(" %s: %s" % (role, sub[0]))
                lines.extend(" " + line for line in sub[1:])
        return lines


# ======================================================================== the host adapter

class ATA(Device):
    """The two legacy IDE channels with their devices.

    hda, hdb, hdc, hdd: primary master/slave, secondary master/slave, each a path or a
    DiskImage (a hard disk) or a HardDisk/CDROM object.  cdrom: a path (or CDROM) for a
    CD-ROM drive on the secondary master.  commit: hard disk writes go to the image files
    instead of the copy-on-write overlay.  empty_bus: what a register read returns when no
    device drives the bus (7Fh: the DD7 pull-down; FFh without it).  device0_answers: a
    device 0 alone on its channel answers for device 1 as ATA-6 specifies (see above).
    """

    name = "ata"
    CHANNELS = ((0x1F0, 0x3F6, 14), (0x170, 0x376, 15))

    def __init__(self, machine, *, hda=None, hdb=None, hdc=None, hdd=None, cdrom=None,
                 commit=False, empty_bus=0x7F, device0_answers=False):
        super().__init__(machine)
        if not 0 <= empty_bus <= 0xFF:
            raise ValueError("empty_bus must be a byte value")
        self.empty_bus = empty_bus
        self.device0_answers = bool(device0_answers)
        self.channels = [Channel(self, i, base, ctrl, irq)
                         for i, (base, ctrl, irq) in enumerate(self.CHANNELS)]
        if cdrom is not None and hdc is not None:
            raise ValueError("cdrom goes on the secondary master, where hdc already is")
        if cdrom is not None:
            hdc = cdrom if isinstance(cdrom, CDROM) else CDROM(cdrom)
        for index, spec in enumerate((hda, hdb, hdc, hdd)):
            if spec is not None:
                self.attach(index // 2, index % 2, self._drive(spec, commit))
        self.reset()

    @staticmethod
    def _drive(spec, commit):
        if isinstance(spec, Drive):
            return spec
        if isinstance(spec, (DiskImage, str, os.PathLike)):
            return HardDisk(spec, commit=commit)
        raise TypeError("a drive is a path, a DiskImage, a HardDisk or a CDROM, not %r"
                        % (spec,))

    def attach(self, channel, unit, drive):
        """Connect `drive` as device `unit` (0 master, 1 slave) of `channel` (0, 1)."""
        if self.channels[channel].drives[unit] is not None:
            raise ValueError("%s %s already has a drive" % (
                self.channels[channel].name, ("master", "slave")[unit]))
        self.channels[channel].attach(unit, drive)
        return drive

    def drive(self, channel, unit):
        return self.channels[channel].drives[unit]

    def reset(self):
        """RESET- to every device: the power-on state, with the signatures in place."""
        for channel in self.channels:
            channel.hardware_reset()

    def get_state(self):
        return {"channels": [c.get_state() for c in self.channels]}

    def set_state(self, state):
        for channel, cs in zip(self.channels, state["channels"]):
            channel.set_state(cs)

    def info(self):
        lines = ["ATA host adapter (empty bus reads %02Xh%s)" % (
            self.empty_bus, ", device 0 answers for device 1" if self.device0_answers else "")]
        for channel in self.channels:
            lines.extend(channel.info_lines())
        return "\n".join(lines)
