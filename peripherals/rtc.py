"""The Motorola MC146818A real-time clock and its battery-backed RAM (the PC/AT "CMOS").

Ports (IBM PC/AT): 0x70 is the index register, write-only; its bit 7 is not the chip's but
the AT's NMI mask latch (1 = NMI disabled), which shares the port.  0x71 reads and writes
the addressed byte.  Bytes 0x00-0x0D are the clock (seconds, alarms, ..., registers A-D),
0x0E-0x7F are RAM (the chip has 50 bytes; the PC/AT clones that followed decode 128, and
the BIOSes this project boots use bytes above 0x3F).

Timing, from the MC146818A data sheet with the PC's 32.768 kHz crystal (DV2-DV0 = 010):

* The divider chain runs in its own clock domain (`ClockDomain(cpu_hz, 32768)`, exact).
  An update cycle begins every 32768 ticks (1 s).  At power-on the chain is at a second
  boundary, so the first update cycle begins at exactly 1 s of guest time; after the
  divider is released from reset (DV = 11x -> 010) the first one begins 500 ms later.
* UIP (register A bit 7) rises t_BUC = 244 us (8 ticks) before an update cycle and falls
  when it ends, t_UC = 1984 us (65 ticks) later.  The new time, UF and AF appear when the
  cycle ends.  SET (register B bit 7) inhibits updates and clears UIP; SET going high
  clears UIE.
* The periodic interrupt taps the divider: rate select RS3-RS0 gives 256 Hz (1), 128 Hz
  (2) or 65536 >> RS Hz (3-15), so PF is set every 32768 / rate ticks, aligned to the chain.
* IRQF = PF.PIE + AF.AIE + UF.UIE drives IRQ8 (through the AT's inverter) and stays
  asserted until register C is read, which clears every flag.

The chip is modelled lazily: the time registers and flags are computed from the guest
clock when the CPU reads them, and the only clock event is the next edge of IRQ8, armed
only while an enabled interrupt can still raise it.  Only DV = 010 keeps time: with the
32.768 kHz crystal of a PC the other time bases are not usable (the DS12887 that clones
this chip turns its oscillator off for them), so anything but 010 stops updates and the
periodic interrupt, and DV = 11x holds the chain in reset.

The time registers hold raw bytes, as on the chip: changing DM (binary/BCD) or 24/12 does
not convert them, the update cycle counts in whatever format register B says.  A field
holding an impossible value (e.g. seconds = 0x75) wraps to its first value with a carry on
the next update, as if it were at its maximum; the data sheet leaves this undefined.
"""
import datetime as _dt
import os

from core.clock import ClockDomain
from peripherals.device import Device

PORT_INDEX = 0x70
PORT_DATA = 0x71

# The clock registers (MC146818A Figure "Address map").
REG_SECONDS = 0x00
REG_SECONDS_ALARM = 0x01
REG_MINUTES = 0x02
REG_MINUTES_ALARM = 0x03
REG_HOURS = 0x04
REG_HOURS_ALARM = 0x05
REG_DAY_OF_WEEK = 0x06
REG_DATE = 0x07
REG_MONTH = 0x08
REG_YEAR = 0x09
REG_A = 0x0A
REG_B = 0x0B
REG_C = 0x0C
REG_D = 0x0D

A_UIP = 0x80
A_DV = 0x70
A_RS = 0x0F
DV_32K = 0x20            # DV2-DV0 = 010: 32.768 kHz time base, chain running
DV_RESET = 0x60          # DV2-DV1 = 11: divider chain held in reset

B_SET = 0x80
B_PIE = 0x40
B_AIE = 0x20
B_UIE = 0x10
B_SQWE = 0x08
B_DM = 0x04              # 1 = binary, 0 = BCD
B_24H = 0x02             # 1 = 24-hour mode
B_DSE = 0x01

C_IRQF = 0x80
C_PF = 0x40
C_AF = 0x20
C_UF = 0x10

D_VRT = 0x80

# The bytes of RAM that PC firmware reads (IBM PC/AT Technical Reference "CMOS RAM
# address map", plus the QEMU/Bochs conventions the Bochs BIOS and SeaBIOS rely on).
CMOS_SHUTDOWN = 0x0F
CMOS_FLOPPY = 0x10            # high nibble drive A, low nibble drive B
CMOS_DISK = 0x12              # high nibble disk 0, low nibble disk 1 (0xF: see 0x19/0x1A)
CMOS_EQUIPMENT = 0x14
CMOS_BASE_MEMORY = 0x15       # KiB below 1 MiB, low byte first
CMOS_EXT_MEMORY = 0x17        # KiB above 1 MiB (copy of 0x30)
CMOS_DISK0_TYPE = 0x19
CMOS_DISK1_TYPE = 0x1A
CMOS_BOOT_LEGACY = 0x2D       # bit 5: 1 = floppy first, 0 = hard disk first
CMOS_CHECKSUM = 0x2E          # big-endian sum of 0x10-0x2D
CMOS_EXT_MEMORY2 = 0x30
CMOS_CENTURY = 0x32
CMOS_MEMORY_ABOVE_16M = 0x34  # 64 KiB blocks above 16 MiB
CMOS_BOOT_THIRD = 0x38        # high nibble: third boot device; bit 0: skip floppy signature
CMOS_ATA_TRANSLATION = 0x39   # 2 bits per ATA device (0x39: channels 0-1, 0x3A: 2-3)
CMOS_BOOT_ORDER = 0x3D        # low nibble first boot device, high nibble second

CHECKSUM_FIRST = 0x10
CHECKSUM_LAST = 0x2D

FLOPPY_TYPES = {None: 0, "none": 0, "360K": 1, "1.2M": 2, "720K": 3, "1.44M": 4, "2.88M": 5}
BOOT_DEVICES = {None: 0, "none": 0, "floppy": 1, "disk": 2, "cdrom": 3, "network": 4}
ATA_TRANSLATIONS = {None: 0, "none": 0, "lba": 1, "large": 2, "rechs": 3}
DISPLAYS = {"vga": 0, "ega": 0, "cga40": 1, "cga80": 2, "mda": 3}

OSC_HZ = 32768                # the PC's crystal
TICKS_PER_SECOND = OSC_HZ
T_BUC = 8                     # UIP leads the update cycle by 244 us = 8 ticks
T_UC = 65                     # an update cycle lasts 1984 us = 65 ticks
FIRST_UPDATE_AFTER_RESET = OSC_HZ // 2

# The deterministic default start date: a run is a function of its inputs, not of when it
# was started.  time="host" asks for the host's local time instead.
DEFAULT_START = _dt.datetime(2024, 1, 1, 0, 0, 0)

SECONDS_PER_DAY = 86400
# Seconds of the day at which daylight saving (DSE) acts: the update from 1:59:59 AM.
_DSE_SOD = 1 * 3600 + 59 * 60 + 59


# ---------------------------------------------------------------- calendar arithmetic
# Pure functions on the decoded clock fields [sec, min, hour index 0-23, day of week 1-7,
# date 1-31, month 1-12, year 0-99]; they are what the update cycle does, so the tests can
# hold them against Python's datetime.

def bcd_to_int(value):
    """A packed-BCD byte as a number; a nibble above 9 counts as its binary value, so an
    impossible byte decodes to an out-of-range number rather than a valid one."""
    return (value >> 4) * 10 + (value & 0x0F)


def int_to_bcd(value):
    return ((value // 10) << 4) | (value % 10)


def days_in_month(month, year):
    """Days in `month` of two-digit `year`: the chip takes every year divisible by 4 as a
    leap year (right for 1901-2099).  An impossible month counts as 31 days."""
    if month == 2:
        return 29 if year % 4 == 0 else 28
    if month in (4, 6, 9, 11):
        return 30
    return 31


def _count(value, steps, first, size):
    """Advance a counter field holding first..first+size-1 by `steps`; returns (value,
    carries).  A value beyond the last wraps like the last; one below the first reaches the
    first on its next step without a carry."""
    if steps == 0:
        return value, 0
    pos = min(value - first, size - 1)
    if pos < -1:
        pos = -1
    total = pos + steps
    return first + total % size, total // size


def _advance_days(f, days):
    f[3] = _count(f[3], days, 1, 7)[0]
    date, month, year = f[4], f[5], f[6]
    while days > 0:
        last = days_in_month(month, year)
        if date >= last:
            date = 1
            days -= 1
            month, carry = _count(month, 1, 1, 12)
            if carry:
                year = _count(year, 1, 0, 100)[0]
            continue
        step = min(days, last - date)
        date += step
        days -= step
    f[4], f[5], f[6] = date, month, year


def advance_fields(f, seconds):
    """Advance the decoded fields `f` (a list, changed in place) by `seconds` updates, as
    the update cycle does without daylight saving."""
    f[0], carry = _count(f[0], seconds, 0, 60)
    f[1], carry = _count(f[1], carry, 0, 60)
    f[2], days = _count(f[2], carry, 0, 24)
    if days:
        _advance_days(f, days)


def day_of_week(date):
    """The chip's day-of-week number of a date: Sunday = 1 ... Saturday = 7."""
    return (date.weekday() + 1) % 7 + 1


def next_alarm_delta(sod, alarm):
    """Seconds (1..86400) from second-of-day `sod` to the next time whose hours, minutes and
    seconds match `alarm` = (sec, min, hour index), None meaning "don't care"."""
    a_sec, a_min, a_hour = alarm
    hours = range(24) if a_hour is None else (a_hour,)
    minutes = range(60) if a_min is None else (a_min,)
    seconds = range(60) if a_sec is None else (a_sec,)
    for day in (0, SECONDS_PER_DAY):
        for h in hours:
            base_h = day + h * 3600
            if base_h + 3599 <= sod:
                continue
            for m in minutes:
                base_m = base_h + m * 60
                if base_m + 59 <= sod:
                    continue
                for s in seconds:
                    if base_m + s > sod:
                        return base_m + s - sod
    return SECONDS_PER_DAY


def _alarm_matches(alarm, f):
    a_sec, a_min, a_hour = alarm
    return ((a_sec is None or a_sec == f[0]) and (a_min is None or a_min == f[1])
            and (a_hour is None or a_hour == f[2]))


def _start_datetime(time):
    if time is None:
        return DEFAULT_START
    if isinstance(time, str):
        if time == "host":
            return _dt.datetime.now().replace(microsecond=0)
        return _dt.datetime.fromisoformat(time)
    if isinstance(time, _dt.datetime):
        return time.replace(microsecond=0, tzinfo=None)
    if isinstance(time, _dt.date):
        return _dt.datetime(time.year, time.month, time.day)
    raise TypeError("time must be None, 'host', an ISO date string or a datetime, not %r"
                    % (time,))


class RTC(Device):
    """The MC146818A at ports 0x70/0x71 driving IRQ8.

    `time`: the date and time the clock holds at power-on: None for DEFAULT_START
    (deterministic), "host" for the host's local time, a datetime or an ISO 8601 string.
    `nvram_file`: a 128-byte file to load the RAM from (if it exists) and `save_nvram()` to.
    """

    name = "rtc"
    IRQ = 8

    def __init__(self, machine, time=None, nvram_file=None):
        super().__init__(machine)
        self._domain = ClockDomain(self.clock.frequency, OSC_HZ)
        self.nvram_file = nvram_file
        self.start_time = _start_datetime(time)
        self.ram = bytearray(128)
        self.index = 0
        self.nmi_masked = False
        self._event = None
        self._irq = False
        self._flags = 0
        self._tick = self._domain.to_ticks(self.clock.now)
        # Update cycles begin at _origin + k * 32768 ticks, k >= 1.
        self._origin = self._tick
        self._dse_repeat = False     # inside the repeated hour of an October DSE change
        # The state a BIOS leaves in the battery-backed registers: 32.768 kHz time base,
        # 1024 Hz periodic rate, 24-hour BCD, no interrupts, valid RAM and time.
        self.ram[REG_A] = DV_32K | 0x06
        self.ram[REG_B] = B_24H
        self.ram[REG_D] = D_VRT
        if nvram_file is not None and os.path.exists(nvram_file):
            self.load_nvram(nvram_file)
        self.set_time(self.start_time)
        # Byte ports: the bus turns a wider access into byte cycles on consecutive ports.
        self.bus.register_io(PORT_INDEX, 2, self._io_read, self._io_write, width=1)

    # ------------------------------------------------------------ the RESET pin

    def reset(self):
        """The RESET pin: clears PIE, AIE, UIE, SQWE and the flags (so IRQ8 falls); the
        time, the divider, registers A and the RAM are kept, as on a PC where the battery
        keeps the chip running across resets."""
        self.sync()
        self.ram[REG_B] &= ~(B_PIE | B_AIE | B_UIE | B_SQWE) & 0xFF
        self._flags = 0
        self._update_irq()
        self._schedule()

    # ------------------------------------------------------------ time base

    def _running(self):
        return (self.ram[REG_A] & A_DV) == DV_32K

    def periodic_ticks(self):
        """The periodic interrupt's period in 32.768 kHz ticks, or None (RS = 0)."""
        rs = self.ram[REG_A] & A_RS
        if rs == 0:
            return None
        if rs == 1:
            return 128           # 256 Hz: the 32.768 kHz column of the rate table
        if rs == 2:
            return 256           # 128 Hz
        return 1 << (rs - 1)     # 65536 >> rs Hz

    def periodic_rate(self):
        """The periodic interrupt rate in Hz, or None."""
        p = self.periodic_ticks()
        return None if p is None else OSC_HZ / p

    def _updates_ended(self, tick):
        """How many update cycles (k >= 1) have ended by `tick`."""
        return max(0, (tick - self._origin - T_UC) // TICKS_PER_SECOND)

    def sync(self):
        """Catch the chip up to the current guest cycle."""
        self._advance_to(self._domain.to_ticks(self.clock.now))

    def _advance_to(self, tick):
        before = self._tick
        if tick <= before:
            return
        self._tick = tick
        if not self._running():
            return
        period = self.periodic_ticks()
        if period is not None and ((tick - self._origin) // period
                                   > (before - self._origin) // period):
            self._flags |= C_PF
        updates = self._updates_ended(tick) - self._updates_ended(before)
        if updates > 0 and not (self.ram[REG_B] & B_SET):
            if self._run_updates(updates):
                self._flags |= C_AF
            self._flags |= C_UF

    def _uip(self):
        if not self._running() or self.ram[REG_B] & B_SET:
            return False
        since = self._tick - self._origin
        phase = since % TICKS_PER_SECOND
        if phase >= TICKS_PER_SECOND - T_BUC:
            return since + T_BUC >= TICKS_PER_SECOND       # before update k >= 1
        if phase < T_UC:
            return since >= TICKS_PER_SECOND
        return False

    # ------------------------------------------------------------ the time registers

    def _binary(self):
        return bool(self.ram[REG_B] & B_DM)

    def _decode(self, raw):
        return raw if self._binary() else bcd_to_int(raw)

    def _encode(self, value):
        return value if self._binary() else int_to_bcd(value)

    def _hour_index(self, raw):
        """An hours byte as 0-23 (12 AM = 0), or 24 if it holds no valid hour."""
        if self.ram[REG_B] & B_24H:
            return min(self._decode(raw), 24)
        hour = self._decode(raw & 0x7F)
        if not 1 <= hour <= 12:
            return 24
        return hour % 12 + (12 if raw & 0x80 else 0)

    def _encode_hour(self, index):
        if self.ram[REG_B] & B_24H:
            return self._encode(index)
        hour = index % 12 or 12
        return self._encode(hour) | (0x80 if index >= 12 else 0)

    _FIELD_REGS = (REG_SECONDS, REG_MINUTES, REG_HOURS, REG_DAY_OF_WEEK, REG_DATE,
                   REG_MONTH, REG_YEAR)

    def _fields(self):
        r = self.ram
        d = self._decode
        return [d(r[REG_SECONDS]), d(r[REG_MINUTES]), self._hour_index(r[REG_HOURS]),
                d(r[REG_DAY_OF_WEEK]), d(r[REG_DATE]), d(r[REG_MONTH]), d(r[REG_YEAR])]

    def _store_fields(self, f, before):
        for i, reg in enumerate(self._FIELD_REGS):
            if f[i] != before[i]:
                self.ram[reg] = (self._encode_hour(f[i]) if reg == REG_HOURS
                                 else self._encode(f[i])) & 0xFF

    def _alarm(self):
        """The alarm as (sec, min, hour index) with None for "don't care" (11xxxxxx), or
        None if a byte holds a value the time can never have."""
        out = []
        for reg, limit in ((REG_SECONDS_ALARM, 60), (REG_MINUTES_ALARM, 60)):
            raw = self.ram[reg]
            if raw & 0xC0 == 0xC0:
                out.append(None)
                continue
            value = self._decode(raw)
            if value >= limit:
                return None
            out.append(value)
        raw = self.ram[REG_HOURS_ALARM]
        if raw & 0xC0 == 0xC0:
            out.append(None)
        else:
            hour = self._hour_index(raw)
            if hour >= 24:
                return None
            out.append(hour)
        return tuple(out)

    def _step(self, f, dse):
        """One update cycle on fields `f`, with the MC146818A's daylight-saving rule: on
        the last Sunday in April 1:59:59 AM is followed by 3:00:00 AM; on the last Sunday
        in October the first 1:59:59 AM is followed by 1:00:00 AM."""
        if dse and f[0] == 59 and f[1] == 59 and f[2] == 1 and f[3] == 1:
            if f[5] == 4 and f[4] >= 24:
                f[0], f[1], f[2] = 0, 0, 3
                return
            if f[5] == 10 and f[4] >= 25:
                if not self._dse_repeat:
                    f[0], f[1], f[2] = 0, 0, 1
                    self._dse_repeat = True
                    return
                self._dse_repeat = False
        advance_fields(f, 1)

    def _run_updates(self, n):
        """Apply `n` update cycles; True if the alarm matched after any of them."""
        dse = bool(self.ram[REG_B] & B_DSE)
        f = self._fields()
        before = list(f)
        alarm = self._alarm()
        hit = False
        while n > 0:
            s, m, h = f[0], f[1], f[2]
            sod = h * 3600 + m * 60 + s
            if s >= 60 or m >= 60 or h >= 24 or (dse and sod == _DSE_SOD):
                self._step(f, dse)
                n -= 1
                if alarm is not None and not hit and _alarm_matches(alarm, f):
                    hit = True
                continue
            chunk = n
            if dse:
                chunk = min(n, (_DSE_SOD - sod) % SECONDS_PER_DAY)
            if alarm is not None and not hit and next_alarm_delta(sod, alarm) <= chunk:
                hit = True
            advance_fields(f, chunk)
            n -= chunk
        self._store_fields(f, before)
        return hit

    def _updates_to_alarm(self):
        """Update cycles from now until the one that sets AF (1 = the next one), or None."""
        alarm = self._alarm()
        if alarm is None:
            return None
        f = self._fields()
        if f[0] >= 60 or f[1] >= 60 or f[2] >= 24:
            return 1                       # re-evaluate once the update has fixed them
        sod = f[0] + f[1] * 60 + f[2] * 3600
        n = next_alarm_delta(sod, alarm)
        if self.ram[REG_B] & B_DSE:
            n = min(n, (_DSE_SOD - sod) % SECONDS_PER_DAY + 1)
        return n

    # ------------------------------------------------------------ IRQ8

    def _irqf(self):
        return bool(self._flags & self.ram[REG_B] & (C_PF | C_AF | C_UF))

    def _update_irq(self):
        level = self._irqf()
        if level != self._irq:
            self._irq = level
            self.machine.set_irq(self.IRQ, level)

    @property
    def irq(self):
        """The level of IRQ8 (IRQF)."""
        return self._irq

    def _next_irq_tick(self):
        if self._irq or not self._running():
            return None                    # only reading C can make IRQF rise again
        b = self.ram[REG_B]
        tick = self._tick
        candidates = []
        if b & B_PIE:
            period = self.periodic_ticks()
            if period is not None:
                candidates.append(self._origin
                                  + period * ((tick - self._origin) // period + 1))
        if not (b & B_SET) and b & (B_UIE | B_AIE):
            k = max(1, (tick - self._origin - T_UC) // TICKS_PER_SECOND + 1)
            end = self._origin + k * TICKS_PER_SECOND + T_UC
            if b & B_UIE:
                candidates.append(end)
            if b & B_AIE:
                n = self._updates_to_alarm()
                if n is not None:
                    candidates.append(end + (n - 1) * TICKS_PER_SECOND)
        return min(candidates) if candidates else None

    def _schedule(self):
        tick = self._next_irq_tick()
        if tick is None:
            if self._event is not None:
                self.clock.cancel(self._event)
            return
        when = self._domain.to_cycles(tick)
        if self._event is None:
            self._event = self.clock.schedule(when, self._on_edge)
        elif not self._event.pending or self._event.deadline != when:
            self.clock.reschedule(self._event, when)

    def _on_edge(self, deadline):
        # Catch up to the edge's own cycle, not to wherever the CPU overshot it.
        self._advance_to(self._domain.to_ticks(deadline))
        self._update_irq()
        self._schedule()

    # ------------------------------------------------------------ register access

    def read_register(self, index):
        """Read clock byte `index` as the CPU does (reading C clears the flags)."""
        index &= 0x7F
        self.sync()
        if index == REG_A:
            return (self.ram[REG_A] & ~A_UIP & 0xFF) | (A_UIP if self._uip() else 0)
        if index == REG_C:
            value = self._flags | (C_IRQF if self._irqf() else 0)
            self._flags = 0
            self._update_irq()
            self._schedule()
            return value
        if index == REG_D:
            return D_VRT
        return self.ram[index]

    def write_register(self, index, value):
        """Write clock byte `index` as the CPU does."""
        index &= 0x7F
        value &= 0xFF
        self.sync()
        if index == REG_A:
            was_running = self._running()
            self.ram[REG_A] = value & ~A_UIP & 0xFF
            if self._running() and not was_running:
                # Released from reset: the first update cycle begins 500 ms later.
                self._origin = self._tick + FIRST_UPDATE_AFTER_RESET - TICKS_PER_SECOND
        elif index == REG_B:
            if value & B_SET and not self.ram[REG_B] & B_SET:
                value &= ~B_UIE
            self.ram[REG_B] = value
        elif index in (REG_C, REG_D):
            return                       # read-only
        else:
            self.ram[index] = value
            if index in self._FIELD_REGS:
                self._dse_repeat = False
        self._update_irq()
        self._schedule()

    def peek(self, index):
        """Byte `index` without side effects (C is not cleared), for the host and debugger."""
        index &= 0x7F
        self.sync()
        if index == REG_A:
            return (self.ram[REG_A] & 0x7F) | (A_UIP if self._uip() else 0)
        if index == REG_C:
            return self._flags | (C_IRQF if self._irqf() else 0)
        if index == REG_D:
            return D_VRT
        return self.ram[index]

    def poke(self, index, value):
        """Store into byte `index` directly (RAM and time bytes; no register side effects)."""
        self.sync()
        self.ram[index & 0x7F] = value & 0xFF
        self._schedule()

    @property
    def cmos(self):
        """All 128 bytes as the guest would read them, without side effects."""
        return bytes(self.peek(i) for i in range(128))

    # The index latch is write-only on the AT; a read of 0x70 floats.
    def _io_read(self, port, width):
        if port == PORT_DATA:
            return self.read_register(self.index)
        return 0xFF

    def _io_write(self, port, width, value):
        if port == PORT_INDEX:
            self.index = value & 0x7F
            self.nmi_masked = bool(value & 0x80)
        else:
            self.write_register(self.index, value)

    # ------------------------------------------------------------ host-side time

    def set_time(self, when):
        """Set the clock to the datetime `when` (in the current register format, with the
        century byte 0x32), as a BIOS setup program does."""
        self.sync()
        when = _start_datetime(when)
        if not 1900 <= when.year <= 2999:
            raise ValueError("the RTC holds years 1900-2999 (century byte), not %d"
                             % when.year)
        hour = self._encode_hour(when.hour)
        e = self._encode
        for reg, value in ((REG_SECONDS, e(when.second)), (REG_MINUTES, e(when.minute)),
                           (REG_HOURS, hour), (REG_DAY_OF_WEEK, e(day_of_week(when))),
                           (REG_DATE, e(when.day)), (REG_MONTH, e(when.month)),
                           (REG_YEAR, e(when.year % 100)), (CMOS_CENTURY, e(when.year // 100))):
            self.ram[reg] = value & 0xFF
        self._dse_repeat = False
        self._schedule()

    def time(self):
        """The clock's current date and time as a datetime (century from byte 0x32), or
        None if the registers do not hold a valid one."""
        self.sync()
        f = self._fields()
        century = self._decode(self.ram[CMOS_CENTURY])
        try:
            return _dt.datetime(century * 100 + f[6], f[5], f[4], f[2], f[1], f[0])
        except ValueError:
            return None

    # ------------------------------------------------------------ the BIOS's RAM

    def configure_bios(self, memory, floppies=(None, None), disk_types=(None, None),
                       boot_order=("floppy", "disk"), fpu=False, display="vga",
                       ata_translation=(), floppy_signature_check=True):
        """Fill the RAM fields a PC BIOS reads, then the checksum.

        `memory`: RAM size in bytes.  `floppies`: types of drives A and B ("360K", "1.2M",
        "720K", "1.44M", "2.88M" or None).  `disk_types`: the AT fixed-disk type numbers
        of disks 0 and 1 (1-14 in the nibble of 0x12; 15 and up as 0xF there and the
        number in 0x19/0x1A; 47 is "user defined", what BIOSes with ATA detection expect).
        `boot_order`: up to three of "floppy", "disk", "cdrom", "network" (Bochs BIOS:
        0x3D, 0x38; its legacy build: 0x2D bit 5).  `display`: "vga", "cga40", "cga80" or
        "mda" (equipment byte bits 5-4).  `ata_translation`: up to four of None, "none",
        "lba", "large", "rechs" for ATA devices 0-7 (channel 0 master, slave, channel 1...).
        """
        self.sync()
        r = self.ram
        kib = memory // 1024
        base = min(kib, 640)
        ext = min(max(kib - 1024, 0), 0xFFFF)
        above16 = min(max((memory - (16 << 20)) // 65536, 0), 0xFFFF)
        r[CMOS_BASE_MEMORY], r[CMOS_BASE_MEMORY + 1] = base & 0xFF, base >> 8
        for reg in (CMOS_EXT_MEMORY, CMOS_EXT_MEMORY2):
            r[reg], r[reg + 1] = ext & 0xFF, ext >> 8
        r[CMOS_MEMORY_ABOVE_16M], r[CMOS_MEMORY_ABOVE_16M + 1] = above16 & 0xFF, above16 >> 8

        drives = list(floppies) + [None] * (2 - len(floppies))
        codes = []
        for d in drives[:2]:
            if d not in FLOPPY_TYPES:
                raise ValueError("unknown floppy type %r (one of %s)"
                                 % (d, ", ".join(k for k in FLOPPY_TYPES if k)))
            codes.append(FLOPPY_TYPES[d])
        r[CMOS_FLOPPY] = (codes[0] << 4) | codes[1]
        count = sum(1 for c in codes if c)

        disks = list(disk_types) + [None] * (2 - len(disk_types))
        nibbles = []
        for reg, t in ((CMOS_DISK0_TYPE, disks[0]), (CMOS_DISK1_TYPE, disks[1])):
            t = t or 0
            if not 0 <= t <= 255:
                raise ValueError("a fixed-disk type is 0-255, not %r" % (t,))
            nibbles.append(t if t < 15 else 0xF)
            r[reg] = t if t >= 15 else 0
        r[CMOS_DISK] = (nibbles[0] << 4) | nibbles[1]

        if display not in DISPLAYS:
            raise ValueError("unknown display %r (one of %s)" % (display, ", ".join(DISPLAYS)))
        equipment = DISPLAYS[display] << 4
        if count:
            equipment |= 0x01 | ((count - 1) << 6)
        if fpu:
            equipment |= 0x02
        r[CMOS_EQUIPMENT] = equipment

        order = list(boot_order)
        if len(order) > 3:
            raise ValueError("at most three boot devices, not %r" % (boot_order,))
        for d in order:
            if d not in BOOT_DEVICES:
                raise ValueError("unknown boot device %r (one of floppy, disk, cdrom, network)"
                                 % (d,))
        order += [None] * (3 - len(order))
        dev = [BOOT_DEVICES[d] for d in order]
        r[CMOS_BOOT_ORDER] = dev[0] | (dev[1] << 4)
        r[CMOS_BOOT_THIRD] = (dev[2] << 4) | (0 if floppy_signature_check else 0x01)
        floppy = order.index("floppy") if "floppy" in order else None
        disk = order.index("disk") if "disk" in order else None
        if floppy is not None and (disk is None or floppy < disk):
            r[CMOS_BOOT_LEGACY] |= 0x20
        else:
            r[CMOS_BOOT_LEGACY] &= ~0x20 & 0xFF

        translation = [0, 0]
        for i, t in enumerate(ata_translation):
            if i >= 8 or t not in ATA_TRANSLATIONS:
                raise ValueError("ATA translation %d: %r is not one of none, lba, large, "
                                 "rechs (8 devices at most)" % (i, t))
            translation[i // 4] |= ATA_TRANSLATIONS[t] << (2 * (i % 4))
        r[CMOS_ATA_TRANSLATION], r[CMOS_ATA_TRANSLATION + 1] = translation
        self.update_checksum()

    def checksum(self):
        """The sum of bytes 0x10-0x2D, as the BIOS computes it."""
        return sum(self.ram[CHECKSUM_FIRST:CHECKSUM_LAST + 1]) & 0xFFFF

    def update_checksum(self):
        value = self.checksum()
        self.ram[CMOS_CHECKSUM] = value >> 8
        self.ram[CMOS_CHECKSUM + 1] = value & 0xFF

    # ------------------------------------------------------------ persistence

    # Bytes that come from the configured start date and the chip's live state, not from
    # a saved file: the time and date, registers C and D, and the century byte.
    _LIVE = frozenset(_FIELD_REGS) | {REG_C, REG_D, CMOS_CENTURY}

    def load_nvram(self, path):
        """Load the RAM, alarms and registers A/B from a 128-byte file; the time and date
        stay those of the configured start (a run is a function of its inputs)."""
        with open(path, "rb") as f:
            data = f.read()
        if len(data) != 128:
            raise ValueError("%s: an RTC NVRAM file is 128 bytes, this one is %d"
                             % (path, len(data)))
        self.sync()
        for i, byte in enumerate(data):
            if i not in self._LIVE:
                self.ram[i] = byte
        self.ram[REG_A] &= 0x7F
        self._schedule()

    def save_nvram(self, path=None):
        """Write the 128 bytes (as the guest reads them) to `path` or `nvram_file`."""
        path = path or self.nvram_file
        if path is None:
            raise ValueError("no NVRAM file configured")
        data = self.cmos
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)

    # ------------------------------------------------------------ snapshots and views

    def get_state(self):
        self.sync()
        return {
            "ram": bytes(self.ram),
            "index": self.index,
            "nmi_masked": self.nmi_masked,
            "flags": self._flags,
            "irq": self._irq,
            # The divider's phase relative to now, so a restore re-creates the same edges.
            "origin_offset": self._origin - self._tick,
            "dse_repeat": self._dse_repeat,
        }

    def set_state(self, state):
        self.ram = bytearray(state["ram"])
        self.index = state["index"]
        self.nmi_masked = state["nmi_masked"]
        self._flags = state["flags"]
        self._tick = self._domain.to_ticks(self.clock.now)
        self._origin = self._tick + state["origin_offset"]
        self._dse_repeat = state["dse_repeat"]
        self._irq = state["irq"]
        self.machine.set_irq(self.IRQ, self._irq)
        self._schedule()

    def info(self):
        self.sync()
        now = self.time()
        a, b = self.peek(REG_A), self.ram[REG_B]
        rate = self.periodic_rate()
        flags = [n for bit, n in ((C_PF, "PF"), (C_AF, "AF"), (C_UF, "UF"))
                 if self._flags & bit]
        enables = [n for bit, n in ((B_SET, "SET"), (B_PIE, "PIE"), (B_AIE, "AIE"),
                                    (B_UIE, "UIE"), (B_SQWE, "SQWE"), (B_DSE, "DSE"))
                   if b & bit]
        raw_time = " ".join("%02X" % self.ram[r] for r in range(10))
        nxt = self._event.deadline if self._event is not None and self._event.pending \
            else None
        return "\n".join([
            "MC146818A RTC: ports 0x70/0x71, IRQ8 %s" % ("high" if self._irq else "low"),
            "time: %s (%s, %s)" % (now.isoformat(sep=" ") if now else "invalid",
                                   "binary" if b & B_DM else "BCD",
                                   "24h" if b & B_24H else "12h"),
            "bytes 00-09: %s" % raw_time,
            "A=%02X (DV=%d%s, RS=%d%s) B=%02X [%s] C flags [%s] D=%02X" % (
                a, (a >> 4) & 7, " running" if self._running() else " stopped",
                a & A_RS, " %g Hz" % rate if rate else "", b, " ".join(enables),
                " ".join(flags), D_VRT),
            "index %02X, NMI %s; next IRQ8 edge at cycle %s" % (
                self.index, "masked" if self.nmi_masked else "enabled",
                nxt if nxt is not None else "none"),
        ])
