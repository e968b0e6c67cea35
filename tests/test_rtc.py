"""The MC146818A RTC/CMOS (peripherals/rtc.py) against its data sheet.

Timing tests drive the real Machine's clock: `advance_to` fires every event due on the way
at its own cycle, so the IRQ8 edges the recorder sees carry the exact cycle the device
scheduled, and port reads go through the real bus.  Expected cycles are computed from the
data sheet's numbers in 32.768 kHz ticks, converted with ClockDomain (ceil to the first CPU
cycle at or after the tick).  The last test runs the BIOS's UIP-wait-then-read loop as real
instructions.
"""
import datetime as dt

import pytest
from hypothesis import example, given, settings, strategies as st

from core.clock import ClockDomain
from core.machine import Machine
from peripherals import rtc as rtcmod
from peripherals.rtc import RTC

FREQ = 33_000_000          # the 80386 model's clock
TICK = ClockDomain(FREQ, 32768)


class IrqRecorder:
    """Stands in for the PIC: records (cycle, line, level) of every IRQ change."""

    def __init__(self, machine):
        self.machine = machine
        self.log = []

    def set_irq(self, line, level):
        self.log.append((self.machine.clock.now, line, bool(level)))

    def edges(self, line=8, level=True):
        return [c for c, l, v in self.log if l == line and v == level]


def make(time=None, **kw):
    m = Machine(cpu="80386", memory=1 << 20)
    assert m.clock.frequency == FREQ
    m.pic = IrqRecorder(m)
    return m, RTC(m, time=time, **kw)


def advance_to(m, cycle):
    """Move the guest clock to `cycle`, firing every event on the way at its deadline."""
    clock = m.clock
    while clock.next_deadline <= cycle:
        clock.now = max(clock.now, clock.next_deadline)
        clock.run_due()
    clock.now = max(clock.now, cycle)


def cyc(ticks):
    """The first CPU cycle at or after 32.768 kHz tick `ticks`."""
    return TICK.to_cycles(ticks)


def rd(m, index):
    m.bus.port_write(0x70, 1, index)
    return m.bus.port_read(0x71, 1)


def wr(m, index, value):
    m.bus.port_write(0x70, 1, index)
    m.bus.port_write(0x71, 1, value)


def bcd(v):
    return ((v // 10) << 4) | (v % 10)


# ---------------------------------------------------------------- power-on state

def test_power_on_holds_the_deterministic_start_date_in_bcd():
    m, r = make()
    # 2024-01-01 00:00:00 is a Monday: day of week 2 (Sunday = 1).
    assert [rd(m, i) for i in (0, 2, 4, 6, 7, 8, 9)] == [0, 0, 0, 2, 1, 1, 0x24]
    assert rd(m, 0x32) == 0x20
    assert rd(m, 0x0A) == 0x26            # 32.768 kHz, 1024 Hz, UIP clear
    assert rd(m, 0x0B) == 0x02            # 24 hours, BCD
    assert rd(m, 0x0C) == 0x00
    assert rd(m, 0x0D) == 0x80            # VRT
    assert r.time() == dt.datetime(2024, 1, 1)
    m2, r2 = make()
    assert r2.cmos == r.cmos              # deterministic by default


def test_configured_start_and_host_time():
    m, r = make(time=dt.datetime(1999, 12, 31, 23, 59, 58))
    assert [rd(m, i) for i in (0, 2, 4, 6, 7, 8, 9, 0x32)] == [
        0x58, 0x59, 0x23, 0x06, 0x31, 0x12, 0x99, 0x19]
    m, r = make(time="2031-07-04T12:30:00")
    assert r.time() == dt.datetime(2031, 7, 4, 12, 30)
    before = dt.datetime.now().replace(microsecond=0)
    m, r = make(time="host")
    after = dt.datetime.now()
    assert before <= r.time() <= after


def test_index_port_keeps_the_nmi_mask_bit():
    m, r = make()
    m.bus.port_write(0x70, 1, 0x8D)
    assert r.nmi_masked and r.index == 0x0D
    assert m.bus.port_read(0x71, 1) == 0x80
    m.bus.port_write(0x70, 1, 0x0E)
    assert not r.nmi_masked and r.index == 0x0E
    assert m.bus.port_read(0x70, 1) == 0xFF        # write-only on the AT


def test_word_write_sets_index_and_data():
    m, r = make()
    m.bus.port_write(0x70, 2, 0x5A40)              # index 0x40, then 0x5A to it
    assert r.ram[0x40] == 0x5A


def test_ram_bytes_are_plain_storage_and_c_d_are_read_only():
    m, r = make()
    for i in range(0x0E, 0x80):
        wr(m, i, i ^ 0xA5)
    assert all(rd(m, i) == i ^ 0xA5 for i in range(0x0E, 0x80))
    wr(m, 0x0C, 0xFF)
    wr(m, 0x0D, 0x00)
    assert rd(m, 0x0C) == 0 and rd(m, 0x0D) == 0x80


# ---------------------------------------------------------------- the update cycle

def test_update_every_second_and_the_uip_window():
    """UIP rises 244 us (8 ticks) before the update cycle at 1 s and falls 1984 us (65 ticks)
    into it; the new seconds value appears when it falls."""
    m, r = make()
    uip_on, update_end = cyc(32768 - 8), cyc(32768 + 65)
    advance_to(m, uip_on - 1)
    assert rd(m, 0x0A) & 0x80 == 0
    advance_to(m, uip_on)
    assert rd(m, 0x0A) & 0x80
    assert rd(m, 0) == 0x00
    advance_to(m, update_end - 1)
    assert rd(m, 0x0A) & 0x80 and rd(m, 0) == 0x00
    advance_to(m, update_end)
    assert rd(m, 0x0A) & 0x80 == 0
    assert rd(m, 0) == 0x01
    # ... and every second after that, in phase with the divider.
    for k in range(2, 6):
        advance_to(m, cyc(k * 32768 + 65) - 1)
        assert rd(m, 0) == bcd(k - 1)
        advance_to(m, cyc(k * 32768 + 65))
        assert rd(m, 0) == bcd(k)


@settings(max_examples=60, deadline=None)
@example(cyc(32768 - 8) - 1)                          # the last cycle before UIP rises
@example(cyc(32768 + 65))                             # the first after it falls
@given(st.integers(min_value=0, max_value=6 * FREQ))
def test_uip_clear_promises_244us_without_an_update(cycle):
    m, r = make()
    advance_to(m, cycle)
    if rd(m, 0x0A) & 0x80:
        return
    seconds = rd(m, 0)
    # 244 us later (rounded down to a whole cycle) the time must still be the same.
    advance_to(m, cycle + (244 * FREQ) // 1_000_000)
    assert rd(m, 0) == seconds


def test_lazy_catch_up_over_a_long_idle_time():
    m, r = make()
    advance_to(m, cyc(3 * 86400 * 32768 + 65))       # three days later, nothing scheduled
    assert r.time() == dt.datetime(2024, 1, 4)
    assert rd(m, 6) == 5                              # Thursday


def test_set_bit_stops_updates_clears_uip_and_uie():
    m, r = make()
    wr(m, 0x0B, 0x12)                                 # UIE, 24h
    advance_to(m, cyc(32768 - 4))                     # inside the UIP window
    assert rd(m, 0x0A) & 0x80
    wr(m, 0x0B, 0x82 | 0x10)                          # SET (UIE written too)
    assert rd(m, 0x0B) == 0x82                        # SET going high cleared UIE
    assert rd(m, 0x0A) & 0x80 == 0                    # and UIP
    advance_to(m, cyc(5 * 32768))
    assert rd(m, 0) == 0                              # no update happened
    assert rd(m, 0x0C) & 0x10 == 0
    wr(m, 0, 0x30)                                    # set the time while stopped
    wr(m, 0x0B, 0x02)
    advance_to(m, cyc(5 * 32768 + 65) - 1)            # the divider kept its phase
    assert rd(m, 0) == 0x30
    advance_to(m, cyc(5 * 32768 + 65))
    assert rd(m, 0) == 0x31


def test_divider_reset_then_first_update_half_a_second_later():
    m, r = make()
    advance_to(m, 1000)
    wr(m, 0x0A, 0x66)                                 # DV = 110: chain in reset
    advance_to(m, cyc(3 * 32768))
    assert rd(m, 0) == 0 and rd(m, 0x0A) & 0x80 == 0
    release = m.clock.now
    wr(m, 0x0A, 0x26)
    t0 = TICK.to_ticks(release)
    advance_to(m, cyc(t0 + 16384 + 65) - 1)
    assert rd(m, 0) == 0
    advance_to(m, cyc(t0 + 16384 + 65))
    assert rd(m, 0) == 1
    advance_to(m, cyc(t0 + 16384 + 32768 + 65))
    assert rd(m, 0) == 2


def test_other_time_bases_keep_no_time():
    m, r = make()
    wr(m, 0x0A, 0x06)                                 # DV = 000 with a 32.768 kHz crystal
    wr(m, 0x0B, 0x42)
    advance_to(m, cyc(4 * 32768))
    assert rd(m, 0) == 0 and r.irq is False and rd(m, 0x0C) == 0


# ---------------------------------------------------------------- interrupts

@pytest.mark.parametrize("rs, hz", [(1, 256), (2, 128), (3, 8192), (4, 4096), (6, 1024),
                                    (9, 128), (12, 16), (15, 2)])
def test_periodic_interrupt_at_its_rate(rs, hz):
    m, r = make()
    wr(m, 0x0A, 0x20 | rs)
    wr(m, 0x0B, 0x42)                                 # PIE
    period = 32768 // hz
    for k in range(1, 6):
        advance_to(m, cyc(k * period))
        assert m.pic.edges()[-1] == cyc(k * period)
        assert len(m.pic.edges()) == k
        assert rd(m, 0x0C) & 0xC0 == 0xC0             # IRQF | PF (UF too at 2 Hz)
        assert r.irq is False and m.pic.log[-1][2] is False
    assert r.periodic_rate() == hz


def test_periodic_rate_zero_means_none():
    m, r = make()
    wr(m, 0x0A, 0x20)
    wr(m, 0x0B, 0x42)
    advance_to(m, cyc(2 * 32768))
    assert m.pic.edges() == [] and rd(m, 0x0C) & 0x40 == 0


def test_irq8_is_held_until_register_c_is_read():
    m, r = make()
    wr(m, 0x0B, 0x42)                                 # 1024 Hz periodic
    advance_to(m, cyc(10 * 32))                       # ten periods, C never read
    assert m.pic.edges() == [cyc(32)]                 # one rising edge, level held
    assert r.irq is True
    assert rd(m, 0x0C) == 0xC0
    assert r.irq is False
    advance_to(m, cyc(11 * 32))
    assert m.pic.edges() == [cyc(32), cyc(11 * 32)]


def test_flags_are_set_without_their_enables_and_cleared_on_read():
    m, r = make()
    advance_to(m, cyc(32768 + 65))
    assert m.pic.log == []                            # nothing enabled: no IRQ, no event
    assert m.clock.pending() == []
    assert rd(m, 0x0C) == 0x50                        # PF and UF, no IRQF
    assert rd(m, 0x0C) == 0x00


def test_enabling_a_pending_flag_raises_irq8_at_once():
    m, r = make()
    advance_to(m, cyc(32768 + 65) + 10)
    wr(m, 0x0B, 0x12)                                 # UIE while UF is set
    assert r.irq is True and m.pic.edges() == [m.clock.now]
    wr(m, 0x0B, 0x02)                                 # IRQF = UF.UIE follows the enable
    assert r.irq is False


def test_update_ended_interrupt():
    m, r = make()
    wr(m, 0x0B, 0x12)
    advance_to(m, cyc(3 * 32768))
    assert m.pic.edges() == [cyc(32768 + 65)]
    assert rd(m, 0x0C) == 0xD0                        # IRQF, UF and PF (PF runs anyway)
    advance_to(m, cyc(3 * 32768 + 65))
    assert m.pic.edges()[-1] == cyc(3 * 32768 + 65)   # the next update after the read


def test_alarm_interrupt_at_the_matching_second():
    m, r = make()
    wr(m, 1, 0x05)
    wr(m, 3, 0x00)
    wr(m, 5, 0x00)
    wr(m, 0x0B, 0x22)                                 # AIE
    advance_to(m, cyc(10 * 32768))
    assert m.pic.edges() == [cyc(5 * 32768 + 65)]
    assert rd(m, 0x0C) == 0xF0                        # IRQF, PF, AF, UF


def test_alarm_dont_care_codes_fire_every_second():
    m, r = make()
    for reg in (1, 3, 5):
        wr(m, reg, 0xC0)
    wr(m, 0x0B, 0x22)
    for k in range(1, 4):
        advance_to(m, cyc(k * 32768 + 65))
        assert m.pic.edges()[-1] == cyc(k * 32768 + 65)
        assert rd(m, 0x0C) & 0xA0 == 0xA0


def test_alarm_a_day_ahead_is_one_event_not_polling():
    m, r = make(time=dt.datetime(2024, 3, 1, 12, 0, 0))
    wr(m, 1, 0x00)
    wr(m, 3, 0x00)
    wr(m, 5, 0x11)                                    # 11:00:00, 23 hours ahead
    wr(m, 0x0B, 0x22)
    (event,) = m.clock.pending()
    assert event.deadline == cyc(23 * 3600 * 32768 + 65)


def test_reset_pin_clears_enables_and_flags():
    m, r = make()
    wr(m, 0x0B, 0x7A)
    advance_to(m, cyc(32))
    assert r.irq
    m.reset()
    assert rd(m, 0x0B) == 0x02 and rd(m, 0x0C) == 0 and r.irq is False
    assert r.time() == dt.datetime(2024, 1, 1)        # the clock keeps running


# ---------------------------------------------------------------- formats

def test_binary_mode_counts_in_binary():
    m, r = make()
    wr(m, 0x0B, 0x86)                                 # SET, binary, 24h
    for reg, v in ((0, 58), (2, 59), (4, 23), (6, 7), (7, 31), (8, 12), (9, 99)):
        wr(m, reg, v)
    wr(m, 0x0B, 0x06)
    advance_to(m, cyc(2 * 32768 + 65))
    assert [rd(m, i) for i in (0, 2, 4, 6, 7, 8, 9)] == [0, 0, 0, 1, 1, 1, 0]


def test_twelve_hour_mode_am_pm():
    m, r = make()
    wr(m, 0x0B, 0x80)                                 # SET, BCD, 12h
    for reg, v in ((0, 0x59), (2, 0x59), (4, 0x11), (6, 3), (7, 0x15), (8, 0x06), (9, 0x24)):
        wr(m, reg, v)                                 # 11:59:59 AM
    wr(m, 0x0B, 0x00)
    advance_to(m, cyc(32768 + 65))
    assert rd(m, 4) == 0x92                           # 12 PM: bit 7 + BCD 12
    wr(m, 0x0B, 0x80)
    wr(m, 0, 0x59)
    wr(m, 2, 0x59)
    wr(m, 4, 0x91)                                    # 11:59:59 PM
    wr(m, 0x0B, 0x00)
    advance_to(m, cyc(2 * 32768 + 65))
    assert [rd(m, i) for i in (0, 2, 4, 6, 7)] == [0, 0, 0x12, 4, 0x16]   # 12 AM next day
    advance_to(m, cyc(3602 * 32768 + 65))
    assert rd(m, 4) == 0x01
    assert r.time() == dt.datetime(2024, 6, 16, 1, 0, 0)


def test_twelve_hour_binary_alarm_matches_pm_hours():
    m, r = make()
    wr(m, 0x0B, 0x84)                                 # SET, binary, 12h
    for reg, v in ((0, 59), (2, 59), (4, 0x80 | 2), (1, 0), (3, 0), (5, 0x80 | 3)):
        wr(m, reg, v)                                 # 2:59:59 PM, alarm 3:00:00 PM
    wr(m, 0x0B, 0x24)
    advance_to(m, cyc(2 * 32768))
    assert m.pic.edges() == [cyc(32768 + 65)]
    assert rd(m, 4) == 0x83


def test_format_change_does_not_convert_the_registers():
    m, r = make(time=dt.datetime(2024, 1, 1, 0, 0, 25))
    wr(m, 0x0B, 0x06)                                 # binary now; 0x25 reads as 37
    advance_to(m, cyc(32768 + 65))
    assert rd(m, 0) == 0x26                           # 37 + 1 = 38 = 0x26


def test_impossible_value_wraps_at_the_next_update():
    m, r = make()
    wr(m, 0x0B, 0x82)
    wr(m, 0, 0x7A)                                    # not a BCD second
    wr(m, 0x0B, 0x02)
    advance_to(m, cyc(32768 + 65))
    assert rd(m, 0) == 0x00 and rd(m, 2) == 0x01


def test_daylight_saving_april_and_october():
    # 2024-04-28 is the last Sunday in April; 2024-10-27 the last in October.
    m, r = make(time=dt.datetime(2024, 4, 28, 1, 59, 58))
    wr(m, 0x0B, 0x03)                                 # DSE
    advance_to(m, cyc(2 * 32768 + 65))
    assert r.time() == dt.datetime(2024, 4, 28, 3, 0, 0)
    m, r = make(time=dt.datetime(2024, 10, 27, 1, 59, 59))
    wr(m, 0x0B, 0x03)
    advance_to(m, cyc(32768 + 65))
    assert r.time() == dt.datetime(2024, 10, 27, 1, 0, 0)
    advance_to(m, cyc(3601 * 32768 + 65))             # the repeated hour is not repeated again
    assert r.time() == dt.datetime(2024, 10, 27, 2, 0, 0)
    # An earlier Sunday in April is not the last one.
    m, r = make(time=dt.datetime(2024, 4, 21, 1, 59, 59))
    wr(m, 0x0B, 0x03)
    advance_to(m, cyc(32768 + 65))
    assert r.time() == dt.datetime(2024, 4, 21, 2, 0, 0)


# ---------------------------------------------------------------- date arithmetic

dates = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2089, 12, 31))


@settings(max_examples=300, deadline=None)
@given(dates, st.integers(min_value=0, max_value=10 * 366 * 86400))
def test_update_arithmetic_matches_datetime(start, seconds):
    start = start.replace(microsecond=0)
    f = [start.second, start.minute, start.hour, rtcmod.day_of_week(start), start.day,
         start.month, start.year % 100]
    rtcmod.advance_fields(f, seconds)
    end = start + dt.timedelta(seconds=seconds)
    assert f == [end.second, end.minute, end.hour, rtcmod.day_of_week(end), end.day,
                 end.month, end.year % 100]


@settings(max_examples=80, deadline=None)
@given(dates, st.integers(min_value=1, max_value=3 * 366 * 86400),
       st.sampled_from([0x02, 0x06, 0x00, 0x04]))
def test_the_chip_keeps_datetime_time_in_every_format(start, seconds, mode):
    """Leap days, month and year ends, through the ports in BCD/binary, 12/24 hours."""
    start = start.replace(microsecond=0)
    m, r = make(time=start)
    wr(m, 0x0B, 0x80 | mode)
    r.set_time(start)                                 # re-encode in the chosen format
    wr(m, 0x0B, mode)
    advance_to(m, cyc(seconds * 32768 + 65))          # `seconds` update cycles have ended
    assert r.time() == start + dt.timedelta(seconds=seconds)


@settings(max_examples=60, deadline=None)
# Around the daylight-saving days, where the lazy path splits its work.
@example(dt.datetime(2024, 4, 28, 1, 59, 50), 4000, True, (0, 0, 2))
@example(dt.datetime(2024, 4, 28, 1, 59, 50), 4000, True, (0, 0, 3))
@example(dt.datetime(2024, 10, 27, 1, 29, 0), 4000, True, (0, 30, 1))
@example(dt.datetime(2024, 10, 27, 0, 59, 0), 4000, True, (None, 59, 1))
@given(dates, st.integers(min_value=1, max_value=4000), st.booleans(),
       st.tuples(*[st.one_of(st.none(), st.integers(0, 59)) for _ in range(2)]
                 + [st.one_of(st.none(), st.integers(0, 23))]))
def test_lazy_alarm_flag_equals_stepping_second_by_second(start, n, dse, alarm):
    start = start.replace(microsecond=0)
    runs = []
    for step in (n, 1):
        m, r = make(time=start)
        wr(m, 0x0B, 0x03 if dse else 0x02)
        for reg, v in zip((1, 3, 5), alarm):
            wr(m, reg, 0xC0 if v is None else bcd(v))
        hit = False
        k = 0
        while k < n:
            k = min(n, k + step)
            advance_to(m, cyc(k * 32768 + 65))
            hit |= bool(rd(m, 0x0C) & 0x20)
        runs.append((hit, r.time()))
    assert runs[0] == runs[1]


@given(st.integers(0, 86399), st.tuples(st.one_of(st.none(), st.integers(0, 59)),
                                        st.one_of(st.none(), st.integers(0, 59)),
                                        st.one_of(st.none(), st.integers(0, 23))))
def test_next_alarm_delta_is_the_first_match(sod, alarm):
    d = rtcmod.next_alarm_delta(sod, alarm)
    assert 1 <= d <= 86400

    def match(t):
        t %= 86400
        return all(a is None or a == v for a, v in zip(alarm, (t % 60, t // 60 % 60, t // 3600)))
    assert match(sod + d)
    if d <= 400:
        assert not any(match(sod + i) for i in range(1, d))


# ---------------------------------------------------------------- the BIOS's NVRAM

def test_configure_bios_fields_and_checksum():
    m, r = make()
    r.configure_bios(32 << 20, floppies=("1.44M", "1.2M"), disk_types=(47, 2),
                     boot_order=("cdrom", "disk", "floppy"), fpu=True, display="vga",
                     ata_translation=("lba", None, "large"))
    c = r.cmos
    assert c[0x10] == 0x42
    assert c[0x12] == 0xF2 and c[0x19] == 47 and c[0x1A] == 0
    assert c[0x14] == 0b01000011                       # two drives, FPU, drives present, VGA
    assert c[0x15] | c[0x16] << 8 == 640
    assert c[0x17] | c[0x18] << 8 == 31 * 1024
    assert c[0x30] | c[0x31] << 8 == 31 * 1024
    assert c[0x34] | c[0x35] << 8 == (16 << 20) // 65536
    assert c[0x3D] == 0x23 and c[0x38] & 0xF0 == 0x10 and c[0x38] & 1 == 0
    assert c[0x2D] & 0x20 == 0                         # legacy: hard disk before floppy
    assert c[0x39] == 0x21 and c[0x3A] == 0
    assert c[0x2E] << 8 | c[0x2F] == sum(c[0x10:0x2E])
    assert c[0x32] == 0x20


def test_configure_bios_small_machine_and_floppy_first():
    m, r = make()
    r.configure_bios(512 << 10, floppies=("360K",), boot_order=("floppy", "disk"))
    c = r.cmos
    assert c[0x15] | c[0x16] << 8 == 512
    assert c[0x17] == c[0x18] == c[0x30] == c[0x31] == c[0x34] == c[0x35] == 0
    assert c[0x10] == 0x10 and c[0x14] & 0xC1 == 0x01
    assert c[0x2D] & 0x20 and c[0x3D] == 0x21
    with pytest.raises(ValueError):
        r.configure_bios(1 << 20, floppies=("1.68M",))
    with pytest.raises(ValueError):
        r.configure_bios(1 << 20, boot_order=("usb",))


def test_large_memory_caps_the_16_bit_fields():
    m, r = make()
    r.configure_bios(3 << 30)
    c = r.cmos
    assert c[0x30] | c[0x31] << 8 == 0xFFFF
    assert c[0x34] | c[0x35] << 8 == ((3 << 30) - (16 << 20)) // 65536


def test_nvram_file_round_trip(tmp_path):
    path = str(tmp_path / "cmos.bin")
    m, r = make(nvram_file=path)
    r.configure_bios(4 << 20, floppies=("1.44M",))
    wr(m, 0x50, 0x77)
    wr(m, 0x0A, 0x2A)                                  # a guest-chosen periodic rate
    r.save_nvram()
    data = open(path, "rb").read()
    assert len(data) == 128 and data[0x50] == 0x77
    m2, r2 = make(time=dt.datetime(2030, 5, 5), nvram_file=path)
    assert rd(m2, 0x50) == 0x77 and rd(m2, 0x10) == 0x40 and rd(m2, 0x0A) == 0x2A
    assert r2.time() == dt.datetime(2030, 5, 5)        # time from the configuration
    (tmp_path / "bad.bin").write_bytes(b"\0" * 64)
    with pytest.raises(ValueError, match="128 bytes"):
        make(nvram_file=str(tmp_path / "bad.bin"))


# ---------------------------------------------------------------- snapshots and views

def test_snapshot_restores_the_same_future():
    m, r = make()
    wr(m, 0x0B, 0x52)                                  # PIE + UIE
    wr(m, 0x0A, 0x2F)                                  # 2 Hz
    advance_to(m, cyc(20000))
    rd(m, 0x0C)
    state = r.get_state()
    now = m.clock.now
    advance_to(m, cyc(5 * 32768))
    expected = [c for c in m.pic.edges() if c > now]

    m2, r2 = make()
    m2.clock.now = now
    r2.set_state(state)
    advance_to(m2, cyc(5 * 32768))
    assert m2.pic.edges() == expected
    assert r2.cmos == r.cmos


def test_info_names_the_registers():
    m, r = make()
    text = r.info()
    assert "2024-01-01 00:00:00" in text and "A=26" in text and "1024 Hz" in text


# ---------------------------------------------------------------- on the CPU

def test_bios_style_read_waits_for_uip_on_the_cpu():
    """The INT 1Ah way: poll register A until UIP is clear, then read seconds."""
    from tests.asm import load, nasm
    m, r = make()
    src = """
        cli
    poll:
        mov al, 0x0A
        out 0x70, al
        in al, 0x71
        test al, 0x80
        jnz poll
        mov al, 0x00
        out 0x70, al
        in al, 0x71
        mov [0x600], al
        hlt
    """
    load(m, nasm(src))
    m.clock.now = cyc(32768 - 4)                       # start inside the UIP window
    assert m.run(max_cycles=FREQ) == "halt"
    assert m.mem.read8(0x600) == 0x01                   # waited for the update to end
    assert m.clock.now >= cyc(32768 + 65)
