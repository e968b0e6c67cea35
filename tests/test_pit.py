"""The 8254 PIT and port 0x61: exact timing against the 82C54 data sheet.

The device is lazy (closed-form state from the tick of its last access); these tests check it
at exact CPU cycles against what the data sheet says happens pulse by pulse, and a hypothesis
property compares it with a reference model that steps one CLK pulse at a time.

Time: a port access at CPU cycle c falls after PIT tick to_ticks(c); a count written then is
loaded on tick L = to_ticks(c) + 1; an OUT change on tick k is seen from CPU cycle
to_cycles(k) on.
"""
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.machine import Machine
from peripherals.pit import PIT, PIT_FREQUENCY, REFRESH_TICKS, from_bcd, to_bcd

CPU = "80386"


class IrqRecorder:
    """Stands in for the PIC: records (cycle, line, level) of every IRQ line change."""

    def __init__(self, machine):
        self.machine = machine
        self.levels = {}
        self.log = []

    def set_irq(self, line, level):
        level = bool(level)
        if self.levels.get(line) != level:
            self.levels[line] = level
            self.log.append((self.machine.clock.now, line, level))


def advance_to(m, cycle):
    """Move the clock to `cycle`, firing each due event exactly at its deadline (what the
    run loop does when every instruction boundary falls on an event)."""
    clock = m.clock
    while clock.next_deadline <= cycle:
        clock.now = max(clock.now, clock.next_deadline)
        clock.run_due()
    clock.now = cycle


def make(cpu=CPU, frequency=None):
    m = Machine(cpu, frequency=frequency)
    rec = IrqRecorder(m)
    m.pic = rec
    pit = PIT(m)
    rec.log.clear()
    return m, pit, rec


def out(m, port, value):
    m.bus.port_write(port, 1, value)


def inp(m, port):
    return m.bus.port_read(port, 1)


def program(m, counter, mode, count, bcd=False, rw=3):
    out(m, 0x43, (counter << 6) | (rw << 4) | (mode << 1) | int(bcd))
    if rw in (1, 3):
        out(m, 0x40 + counter, count & 0xFF)
    if rw in (2, 3):
        out(m, 0x40 + counter, (count >> 8) & 0xFF)


def read_latched(m, counter):
    out(m, 0x43, counter << 6)
    lo = inp(m, 0x40 + counter)
    return lo | inp(m, 0x40 + counter) << 8


# ---------------------------------------------------------------- the clock

def test_pit_clock_is_exactly_105_88_mhz_of_the_cpu_clock():
    m, pit, _ = make()
    assert PIT_FREQUENCY == Fraction(105_000_000, 88)
    assert pit.domain.ratio == Fraction(105_000_000, 88) / m.clock.frequency
    # One second of CPU time is 1193181 whole ticks (1193181.818...).
    assert pit.tick(m.clock.frequency) == 1_193_181
    # No drift: a million PIT periods of 65536 ticks land where the exact ratio says.
    ticks = 65536 * 1_000_000
    assert pit.domain.to_cycles(ticks) == -(-ticks * 88 * m.clock.frequency // 105_000_000)


# ---------------------------------------------------------------- mode 2 and IRQ0

@pytest.mark.parametrize("n,start", [(2, 0), (3, 5), (100, 0), (1193, 12345), (0, 77)])
def test_mode2_irq0_edges_at_exact_cycles(n, start):
    m, pit, rec = make()
    advance_to(m, start)
    program(m, 0, 2, n)
    period = n or 65536
    load = pit.tick(start) + 1
    to_cycles = pit.domain.to_cycles
    # Writing the mode sets OUT high: IRQ0 rises at once (it was low since power-on).
    assert rec.log == [(start, 0, True)]
    end = to_cycles(load + 5 * period) + 1
    advance_to(m, end)
    expected = [(start, 0, True)]
    for k in range(1, 6):
        # OUT goes low on the pulse that takes the count to 1, high again on the next.
        expected.append((to_cycles(load + k * period - 1), 0, False))
        expected.append((to_cycles(load + k * period), 0, True))
    assert rec.log == expected


def test_mode2_irq0_rises_at_to_cycles_of_k_times_n_from_a_tick_zero_load():
    # Written just before tick 1 would make the load tick 0: the first tick of the machine
    # is tick 1, so the load lands on tick 1 and IRQ0 rises at to_cycles(1 + k*N).
    m, pit, rec = make()
    program(m, 0, 2, 11932)
    advance_to(m, pit.domain.to_cycles(1 + 3 * 11932))
    rises = [c for c, _, level in rec.log if level][1:]
    assert rises == [pit.domain.to_cycles(1 + k * 11932) for k in (1, 2, 3)]


def test_mode2_counter_values_and_null_count():
    m, pit, _ = make()
    advance_to(m, 1000)
    program(m, 0, 2, 10)
    load = pit.tick(1000) + 1
    to_cycles = pit.domain.to_cycles
    # Before the load pulse the status says NULL COUNT.
    out(m, 0x43, 0xE2)                       # read-back: status of counter 0
    assert inp(m, 0x40) == 0b1_1_110100     # OUT high, null count, RW=11, mode 2, binary
    for k in range(0, 25):
        advance_to(m, to_cycles(load + k))
        expected = 10 - (k % 10)
        assert pit.read_count(0) == expected
        assert pit.out(0) == (expected != 1)
    out(m, 0x43, 0xE2)
    assert inp(m, 0x40) & 0x40 == 0         # loaded: no null count


def test_mode2_new_count_takes_effect_at_the_end_of_the_period():
    m, pit, rec = make()
    program(m, 0, 2, 50)
    load = 1
    to_cycles = pit.domain.to_cycles
    advance_to(m, to_cycles(load + 20))
    program_count = 30
    out(m, 0x40, program_count & 0xFF)
    out(m, 0x40, 0)
    out(m, 0x43, 0xE2)
    assert inp(m, 0x40) & 0x40               # null count until the reload
    advance_to(m, to_cycles(load + 50 + 2 * 30))
    rises = [c for c, _, level in rec.log if level][1:]
    assert rises == [to_cycles(load + 50), to_cycles(load + 80), to_cycles(load + 110)]


# ---------------------------------------------------------------- mode 0

@pytest.mark.parametrize("n", [1, 2, 5, 1000, 0])
def test_mode0_out_goes_high_n_plus_1_ticks_after_the_write(n):
    m, pit, rec = make()
    advance_to(m, 333)
    program(m, 0, 0, n)
    write_tick = pit.tick(333)
    high = write_tick + (n or 65536) + 1
    to_cycles = pit.domain.to_cycles
    advance_to(m, to_cycles(high) - 1)
    assert not pit.out(0)
    advance_to(m, to_cycles(high) + 10)
    assert rec.log == [(to_cycles(high), 0, True)]
    # After the terminal count the counter keeps counting down, past zero.
    assert pit.read_count(0) == (-pit.tick() + high) % 65536


def test_mode0_first_byte_stops_counting_and_sets_out_low():
    m, pit, rec = make()
    program(m, 0, 0, 10)
    to_cycles = pit.domain.to_cycles
    advance_to(m, to_cycles(20))
    assert pit.out(0)
    out(m, 0x40, 5)                          # LSB: OUT low at once, counting stops
    assert rec.log[-1] == (to_cycles(20), 0, False)
    value = pit.read_count(0)
    advance_to(m, to_cycles(40))
    assert pit.read_count(0) == value
    out(m, 0x40, 0)                          # MSB: count 5 loads on the next pulse
    advance_to(m, to_cycles(40 + 1 + 5) + 3)
    assert rec.log[-1] == (to_cycles(46), 0, True)


def test_mode0_gate_low_holds_the_count():
    m, pit, _ = make()
    program(m, 2, 0, 100)                    # GATE 2 is low after reset
    to_cycles = pit.domain.to_cycles
    advance_to(m, to_cycles(50))
    assert pit.read_count(2) == 100          # loaded on tick 1, not counting
    out(m, 0x61, 0x01)                       # GATE 2 high from tick 51 on
    advance_to(m, to_cycles(60))
    assert pit.read_count(2) == 90
    # 100 pulses after GATE went high (ticks 51-150): OUT high on tick 150.
    advance_to(m, to_cycles(150) - 1)
    assert not pit.out(2)
    advance_to(m, to_cycles(150))
    assert pit.out(2)
    assert inp(m, 0x61) & 0x20


# ---------------------------------------------------------------- mode 3

@pytest.mark.parametrize("n", [2, 4, 5, 7, 1000, 1001, 0])
def test_mode3_square_wave_halves(n):
    m, pit, rec = make()
    program(m, 0, 3, n)
    period = n or 65536
    high, low = (period + 1) // 2, period // 2
    load = 1
    to_cycles = pit.domain.to_cycles
    advance_to(m, to_cycles(load + 3 * period))
    expected = [(0, 0, True)]
    for k in range(3):
        expected.append((to_cycles(load + k * period + high), 0, False))
        expected.append((to_cycles(load + (k + 1) * period), 0, True))
    assert rec.log == expected


def test_mode3_counter_values_even_and_odd():
    m, pit, _ = make()
    to_cycles = pit.domain.to_cycles
    program(m, 0, 3, 6)
    seen = []
    for k in range(13):
        advance_to(m, to_cycles(1 + k))
        seen.append((read_latched(m, 0), int(pit.out(0))))
    assert seen == [(6, 1), (4, 1), (2, 1), (6, 0), (4, 0), (2, 0),
                    (6, 1), (4, 1), (2, 1), (6, 0), (4, 0), (2, 0), (6, 1)]
    m, pit, _ = make()
    program(m, 0, 3, 5)
    seen = []
    for k in range(11):
        advance_to(m, to_cycles(1 + k))
        seen.append((read_latched(m, 0), int(pit.out(0))))
    # 82C54: load 5, -1, then -2; expire -> low, reload 5, -3, then -2; expire -> high.
    assert seen == [(5, 1), (4, 1), (2, 1), (5, 0), (2, 0),
                    (5, 1), (4, 1), (2, 1), (5, 0), (2, 0), (5, 1)]


def test_mode3_gate_low_forces_out_high_and_restarts():
    m, pit, _ = make()
    out(m, 0x61, 0x01)
    program(m, 2, 3, 20)
    to_cycles = pit.domain.to_cycles
    advance_to(m, to_cycles(1 + 12))
    assert not pit.out(2)
    out(m, 0x61, 0x00)                       # GATE low while OUT low: high at once
    assert pit.out(2)
    advance_to(m, to_cycles(40))
    out(m, 0x61, 0x01)                       # trigger: reload on tick 41
    advance_to(m, to_cycles(41 + 9))
    assert pit.out(2)
    advance_to(m, to_cycles(41 + 10))
    assert not pit.out(2)


# ---------------------------------------------------------------- modes 1, 4, 5

def test_mode1_one_shot_on_gate_and_retrigger():
    m, pit, _ = make()
    program(m, 2, 1, 10)
    to_cycles = pit.domain.to_cycles
    advance_to(m, to_cycles(5))
    assert pit.out(2)                        # armed, waiting for a trigger
    out(m, 0x61, 0x01)                       # trigger between ticks 5 and 6
    advance_to(m, to_cycles(6))
    assert not pit.out(2)
    assert pit.read_count(2) == 10
    advance_to(m, to_cycles(12))
    out(m, 0x61, 0x00)                       # GATE has no effect on OUT in mode 1
    out(m, 0x61, 0x01)                       # retrigger: reload on tick 13
    advance_to(m, to_cycles(13 + 10) - 1)
    assert not pit.out(2)
    advance_to(m, to_cycles(13 + 10))
    assert pit.out(2)
    assert inp(m, 0x61) & 0x20


def test_mode4_strobe_is_one_tick_n_plus_1_after_the_write():
    m, pit, rec = make()
    program(m, 0, 4, 8)                      # OUT high after the control word
    to_cycles = pit.domain.to_cycles
    advance_to(m, to_cycles(30))
    assert rec.log == [(0, 0, True), (to_cycles(9), 0, False), (to_cycles(10), 0, True)]


def test_mode5_strobe_after_a_gate_trigger():
    m, pit, _ = make()
    program(m, 2, 5, 4)
    to_cycles = pit.domain.to_cycles
    advance_to(m, to_cycles(3))
    out(m, 0x61, 0x01)                       # trigger: load on tick 4, strobe on tick 8
    advance_to(m, to_cycles(8) - 1)
    assert pit.out(2)
    advance_to(m, to_cycles(8))
    assert not pit.out(2)
    advance_to(m, to_cycles(9))
    assert pit.out(2)


# ---------------------------------------------------------------- reading

def test_latch_freezes_the_count_and_a_second_latch_is_ignored():
    m, pit, _ = make()
    program(m, 0, 2, 1000)
    to_cycles = pit.domain.to_cycles
    advance_to(m, to_cycles(1 + 100))
    out(m, 0x43, 0x00)                       # latch: 900
    advance_to(m, to_cycles(1 + 200))
    out(m, 0x43, 0x00)                       # ignored: not read yet
    assert inp(m, 0x40) == 900 & 0xFF
    advance_to(m, to_cycles(1 + 300))
    assert inp(m, 0x40) == 900 >> 8
    # Released: the next reads follow the counter.
    assert inp(m, 0x40) | inp(m, 0x40) << 8 == 700


def test_unlatched_reads_and_interleaved_writes_use_separate_byte_pointers():
    m, pit, _ = make()
    program(m, 1, 2, 0x1234)
    to_cycles = pit.domain.to_cycles
    advance_to(m, to_cycles(1 + 0x10))
    assert inp(m, 0x41) == 0x24              # LSB of 0x1224
    out(m, 0x41, 0x00)                       # LSB of a new count
    assert inp(m, 0x41) == 0x12              # MSB read
    out(m, 0x41, 0x20)                       # MSB: new count 0x2000 at the next reload


def test_lsb_only_and_msb_only_access():
    m, pit, _ = make()
    program(m, 0, 2, 0x80, rw=1)
    advance_to(m, pit.domain.to_cycles(1 + 0x10))
    assert inp(m, 0x40) == 0x70
    assert inp(m, 0x40) == 0x70
    program(m, 1, 2, 0x0300, rw=2)
    t = pit.tick()
    advance_to(m, pit.domain.to_cycles(t + 1 + 0x100))
    assert inp(m, 0x41) == 0x02              # 0x0200: MSB only


def test_read_back_status_and_count_order():
    m, pit, _ = make()
    program(m, 2, 0, 50)
    out(m, 0x61, 0x01)
    to_cycles = pit.domain.to_cycles
    advance_to(m, to_cycles(1 + 20))
    out(m, 0x43, 0b11_0_0_100_0)             # latch count and status of counter 2
    assert inp(m, 0x42) == 0b0_0_110000      # OUT low, loaded, RW=11, mode 0, binary
    assert inp(m, 0x42) == 30
    assert inp(m, 0x42) == 0
    out(m, 0x43, 0b11_1_0_100_0)             # status only
    advance_to(m, to_cycles(1 + 60))
    out(m, 0x43, 0b11_1_0_100_0)             # ignored: the first status is not read
    assert inp(m, 0x42) == 0b0_0_110000
    out(m, 0x43, 0b11_1_0_100_0)
    assert inp(m, 0x42) == 0b1_0_110000      # terminal count passed: OUT high


def test_bcd_counting():
    m, pit, rec = make()
    program(m, 0, 2, 0x1000, bcd=True)       # 1000 decimal
    to_cycles = pit.domain.to_cycles
    advance_to(m, to_cycles(1 + 1))
    assert read_latched(m, 0) == 0x0999
    advance_to(m, to_cycles(1 + 1 + 998))
    assert read_latched(m, 0) == 0x0001
    advance_to(m, to_cycles(1 + 1000))
    assert read_latched(m, 0) == 0x1000
    assert rec.log[-1] == (to_cycles(1001), 0, True)
    # Count 0 is 10000 in BCD.
    program(m, 1, 0, 0x0000, bcd=True)
    t = pit.tick()
    advance_to(m, to_cycles(t + 1 + 1))
    assert read_latched(m, 1) == 0x9999
    assert to_bcd(1234) == 0x1234 and from_bcd(0x9999) == 9999


def test_power_on_state_and_control_register_reads():
    m, pit, rec = make()
    assert inp(m, 0x43) == 0xFF
    for i in range(3):
        out(m, 0x43, 0b11_1_0_0000 | (2 << i))
        assert inp(m, 0x40 + i) == 0b0_1_110000   # mode 0, null count, OUT low
    assert inp(m, 0x61) & 0x2F == 0


# ---------------------------------------------------------------- port 0x61

def test_refresh_toggle_every_18_ticks():
    m, pit, _ = make()
    to_cycles = pit.domain.to_cycles
    for k in range(1, 6):
        edge = to_cycles(REFRESH_TICKS * k)
        advance_to(m, edge - 1)
        before = inp(m, 0x61) & 0x10
        advance_to(m, edge)
        assert inp(m, 0x61) & 0x10 != before
    # 18 ticks of 105/88 MHz: 15.0857 us.
    assert abs(float(Fraction(REFRESH_TICKS) / PIT_FREQUENCY) - 15.0857e-6) < 1e-10


def test_port_61_bits_read_back():
    m, pit, _ = make()
    out(m, 0x61, 0xFF)
    assert inp(m, 0x61) & 0xCF == 0x0F       # bits 6-7: no parity / channel check
    out(m, 0x61, 0x00)
    assert inp(m, 0x61) & 0xCF == 0x00


def test_speaker_edges_are_recorded_with_their_cycles():
    m, pit, _ = make()
    to_cycles = pit.domain.to_cycles
    program(m, 2, 3, 10)                     # 119318 Hz / 10
    out(m, 0x61, 0x03)                       # gate + speaker data at cycle 0
    advance_to(m, to_cycles(100))
    t = pit.tick(0)
    load = t + 1
    edges = pit.take_speaker_edges()
    # The speaker follows OUT2 from the moment the data bit is set (OUT2 was high).
    expected = [(0, 1)]
    for k in range(10):
        expected.append((to_cycles(load + 10 * k + 5), 0))
        if load + 10 * (k + 1) <= 100:
            expected.append((to_cycles(load + 10 * (k + 1)), 1))
    assert edges == [e for e in expected if e[0] <= to_cycles(100)]
    advance_to(m, to_cycles(103))            # OUT2 high again since tick 101
    out(m, 0x61, 0x01)                       # speaker data off: the speaker drops now
    assert pit.take_speaker_edges() == [(to_cycles(101), 1), (to_cycles(103), 0)]
    advance_to(m, to_cycles(300))            # OUT2 keeps going, the speaker does not
    assert pit.speaker_edges == []
    assert inp(m, 0x61) & 0x20 == (0x20 if (300 - load) % 10 < 5 else 0)


# ---------------------------------------------------------------- snapshots and views

def test_state_round_trip_keeps_the_irq0_schedule():
    m, pit, rec = make()
    program(m, 0, 2, 100)
    to_cycles = pit.domain.to_cycles
    advance_to(m, to_cycles(150))
    state = pit.get_state()
    assert state["events"]["irq0_edge"] == to_cycles(200) - m.clock.now
    m2, pit2, rec2 = make()
    m2.clock.now = m.clock.now
    pit2.set_state(state)
    advance_to(m, to_cycles(450))
    advance_to(m2, to_cycles(450))
    tail = [e for e in rec.log if e[0] > to_cycles(150)]
    assert [e for e in rec2.log if e[0] > to_cycles(150)] == tail
    assert pit2.get_state() == pit.get_state()
    assert "counter 0: mode 2" in pit.info()


# ---------------------------------------------------------------- the CPU takes IRQ0

def test_cpu_counts_irq0_ticks_through_the_pic():
    from core import timing
    from peripherals.pic import PIC
    from tests.asm import nasm, load

    m = Machine(CPU, memory=1 << 20)
    PIC(m)
    pit = PIT(m)
    n = 1193                                 # about 1 kHz
    code = nasm("""
        cli
        xor ax, ax
        mov ds, ax
        mov word [8*4], irq0
        mov word [8*4+2], cs
        mov al, 0x11            ; ICW1: edge, cascade, ICW4
        out 0x20, al
        mov al, 0x08            ; ICW2: vectors 08h-0Fh
        out 0x21, al
        mov al, 0x04            ; ICW3: slave on IR2
        out 0x21, al
        mov al, 0x01            ; ICW4: 8086 mode
        out 0x21, al
        mov al, 0xFE            ; OCW1: only IRQ0
        out 0x21, al
        mov al, 0x34            ; counter 0, LSB/MSB, mode 2
        out 0x43, al
        mov al, %d
        out 0x40, al
        mov al, %d
        out 0x40, al
        mov word [0x500], 0
        sti
    idle:
        hlt
        jmp idle
    irq0:
        out 0x80, al            ; entry marker for the test
        inc word [0x500]
        push ax
        mov al, 0x20            ; non-specific EOI
        out 0x20, al
        pop ax
        iret
    """ % (n & 0xFF, n >> 8))
    load(m, code, cs=0x1000)
    writes = []
    m.bus.io_observer = lambda port, width, value, write: (
        writes.append((port, m.clock.now)) if write else None)
    # The set-up runs instruction by instruction up to the first HLT: a slice that
    # schedules an event and then halts sleeps to the end of the slice, past the event
    # (core/cpu.pyx run_slice), which this test is not about.
    for _ in range(200):
        m.step()
        if m.cpu.halted:
            break
    assert m.cpu.halted
    m.run(max_cycles=m.clock.frequency // 50)          # 20 ms: about 20 ticks
    count_write = [c for p, c in writes if p == 0x40][-1]
    entries = [c for p, c in writes if p == 0x80]
    load_tick = pit.tick(count_write) + 1
    t_intr = timing.interrupt_timing(CPU)["intr"]
    # Setting mode 2 raised OUT0 from its power-on low: that edge was pending in IRR when
    # STI opened the interrupts, and was taken at once.
    assert entries[0] < pit.domain.to_cycles(load_tick + n)
    expected = []
    k = 1
    while pit.domain.to_cycles(load_tick + k * n) + t_intr <= m.clock.now:
        expected.append(pit.domain.to_cycles(load_tick + k * n) + t_intr)
        k += 1
    # The CPU halts between ticks, so each interrupt is taken on the exact cycle of the
    # rising edge of OUT0 and the handler starts after the interrupt sequence's cycles.
    assert entries[1:] == expected
    assert len(expected) >= 19
    assert m.mem.read16(0x500) == len(entries)


# ---------------------------------------------------------------- the property

class RefCounter:
    """One 8254 counter stepped one CLK pulse at a time, from the data sheet's text."""

    def __init__(self, gate):
        self.gate = gate
        self.mode, self.bcd, self.rw, self.control = 0, False, 3, 0x30
        self.count, self.written, self.null = 0, False, True
        self.out, self.ce, self.loaded, self.armed = False, 0, False, False
        self.load_next = False
        self.wmsb = self.rmsb = False
        self.wlsb = 0
        self.latch = self.status = None

    def m(self):
        return 10000 if self.bcd else 65536

    def n(self):
        return self.count or self.m()

    def pulse(self):
        """One CLK pulse; returns True if OUT changed."""
        before = self.out
        if self.load_next:
            self.load_next = False
            self.ce, self.null, self.loaded = self.n(), False, True
            self.armed = self.mode in (0, 1, 4, 5)
            if self.mode == 1:
                self.out = False
            elif self.mode:
                self.out = True
            return self.out != before
        if self.mode in (4, 5) and not self.out:
            self.out = True
        counting = self.loaded and (self.mode in (1, 5) or self.gate)
        if counting:
            if self.mode in (0, 1, 4, 5):
                self.ce = self.ce - 1 if self.ce else self.m() - 1
                if self.armed and self.ce == 0:
                    self.armed = False
                    self.out = self.mode in (0, 1)
            elif self.mode == 2:
                if self.ce == 1:
                    self.ce, self.out, self.null = self.n(), True, False
                else:
                    self.ce -= 1
                    self.out = self.ce != 1
            else:
                if self.ce & 1:
                    self.ce -= 1 if self.out else 3
                else:
                    self.ce -= 2
                if self.ce <= 0:
                    self.ce, self.null = self.n(), False
                    self.out = not self.out or self.n() == 1
        return self.out != before

    def value(self):
        v = self.ce % self.m()
        return int(str(v), 16) if self.bcd else v

    def control_word(self, value):
        self.control = value & 0x3F
        self.rw = (value >> 4) & 3
        mode = (value >> 1) & 7
        self.mode = mode - 4 if mode >= 6 else mode
        self.bcd = bool(value & 1)
        self.null, self.written, self.loaded, self.armed = True, False, False, False
        self.load_next = self.wmsb = self.rmsb = False
        self.latch = self.status = None
        self.out = self.mode != 0

    def write(self, byte):
        if self.rw == 3 and not self.wmsb:
            self.wmsb, self.wlsb = True, byte
            if self.mode == 0:
                self.loaded = self.armed = self.out = False
            return
        raw = {1: byte, 2: byte << 8, 3: self.wlsb | byte << 8}[self.rw]
        self.wmsb = False
        self.count = int("%x" % raw) % 10000 if self.bcd else raw
        self.written, self.null = True, True
        if self.mode == 0:
            self.out = self.loaded = self.armed = False
            self.load_next = True
        elif self.mode == 4 or (self.mode in (2, 3) and not self.loaded):
            self.load_next = True

    def set_gate(self, level):
        if level == self.gate:
            return
        self.gate = level
        if self.mode in (2, 3) and not level:
            self.out = True
        if level and self.mode in (1, 2, 3, 5) and self.written:
            self.load_next = True

    def read(self):
        if self.status is not None:
            v, self.status = self.status, None
            return v
        v = self.latch if self.latch is not None else self.value()
        if self.rw != 3 or self.rmsb:
            self.latch = None
        if self.rw == 1:
            return v & 0xFF
        if self.rw == 2:
            return v >> 8
        self.rmsb = not self.rmsb
        return v >> 8 if not self.rmsb else v & 0xFF


count_strategy = st.one_of(st.integers(1, 60), st.integers(0, 0xFFFF))
program_strategy = st.tuples(st.just("program"), st.integers(0, 2),
                             st.sampled_from([1, 2, 3, 3, 3]), st.integers(0, 7), st.booleans(),
                             count_strategy)
op_strategy = st.one_of(
    program_strategy,
    st.tuples(st.just("control"), st.integers(0, 2), st.integers(1, 3), st.integers(0, 7),
              st.booleans()),
    st.tuples(st.just("count"), st.integers(0, 2), count_strategy),
    st.tuples(st.just("latch"), st.integers(0, 2)),
    st.tuples(st.just("readback"), st.integers(0, 7), st.booleans(), st.booleans()),
    st.tuples(st.just("read"), st.integers(0, 2)),
    st.tuples(st.just("read"), st.integers(0, 2)),
    st.tuples(st.just("gate"), st.booleans()),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 200), program_strategy), min_size=0, max_size=3),
       st.lists(st.tuples(st.integers(0, 2000), op_strategy), min_size=1, max_size=40))
def test_property_counters_match_a_pulse_by_pulse_model(setup, steps):
    """Random programming, gate changes, latches and reads at random cycles: every byte
    read, every OUT and every IRQ0 edge (with its cycle) agree with the reference."""
    steps = setup + steps
    m, pit, rec = make()
    ref = [RefCounter(True), RefCounter(True), RefCounter(False)]
    ref_edges = []
    domain = pit.domain
    tick = 0
    now = 0
    for delta, op in steps:
        now += delta
        target = domain.to_ticks(now)
        while tick < target:
            tick += 1
            if ref[0].pulse():
                ref_edges.append((domain.to_cycles(tick), ref[0].out))
            ref[1].pulse()
            ref[2].pulse()
        advance_to(m, now)
        kind = op[0]
        if kind == "program":
            _, i, rw, mode, bcd, raw = op
            ops = [("control", i, rw, mode, bcd), ("count", i, raw)]
        else:
            ops = [op]
        for op in ops:
            apply_op(m, ref, ref_edges, now, op)
        for i in range(3):
            assert pit.out(i) == ref[i].out, (i, op, now)
        assert bool(inp(m, 0x61) & 0x20) == ref[2].out
    # Let pending edges happen, then compare every IRQ0 edge with its cycle.
    end = now + 3000
    target = domain.to_ticks(end)
    while tick < target:
        tick += 1
        if ref[0].pulse():
            ref_edges.append((domain.to_cycles(tick), ref[0].out))
    advance_to(m, end)
    got = [(c, level) for c, line, level in rec.log if line == 0]
    want = []
    level = False
    for c, l in ref_edges:
        if l != level:
            want.append((c, l))
            level = l
    assert got == want


def apply_op(m, ref, ref_edges, now, op):
    """One bus operation on the device and on the reference model."""
    kind = op[0]
    if kind == "control":
        _, i, rw, mode, bcd = op
        value = (i << 6) | (rw << 4) | (mode << 1) | bcd
        before = ref[i].out
        out(m, 0x43, value)
        ref[i].control_word(value)
        if i == 0 and ref[0].out != before:
            ref_edges.append((now, ref[0].out))
    elif kind == "count":
        _, i, raw = op
        if ref[i].bcd:
            raw = to_bcd(raw % 10000)
        parts = {1: [raw & 0xFF], 2: [raw >> 8], 3: [raw & 0xFF, raw >> 8]}[ref[i].rw]
        for byte in parts:
            before = ref[i].out
            out(m, 0x40 + i, byte)
            ref[i].write(byte)
            if i == 0 and ref[0].out != before:
                ref_edges.append((now, ref[0].out))
    elif kind == "latch":
        _, i = op
        out(m, 0x43, i << 6)
        if ref[i].latch is None:
            ref[i].latch = ref[i].value()
    elif kind == "readback":
        _, sel, count, status = op
        sel = sel or 1
        out(m, 0x43, 0xC0 | (0 if count else 0x20) | (0 if status else 0x10) | sel << 1)
        for i in range(3):
            if sel & (1 << i):
                if count and ref[i].latch is None:
                    ref[i].latch = ref[i].value()
                if status and ref[i].status is None:
                    r = ref[i]
                    r.status = r.out << 7 | r.null << 6 | r.control
    elif kind == "read":
        _, i = op
        assert inp(m, 0x40 + i) == ref[i].read(), (op, now)
    elif kind == "gate":
        _, level = op
        out(m, 0x61, int(level))
        ref[2].set_gate(level)



@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 5), st.booleans(), st.integers(1, 40), st.booleans(),
       st.lists(st.tuples(st.integers(0, 400),
                          st.sampled_from(["look", "look", "gate", "rewrite", "first byte"]),
                          st.integers(1, 40)),
                min_size=1, max_size=60))
def test_property_one_counter_value_and_status_at_random_times(mode, bcd, count, gate, steps):
    """Counter 2 in one mode: its latched count and status byte at random cycles, through
    gate changes and count rewrites, agree with the pulse-by-pulse reference."""
    m, pit, _ = make()
    ref = RefCounter(False)
    domain = pit.domain
    tick, now = 0, 0

    def catch_up():
        nonlocal tick
        while tick < domain.to_ticks(now):
            tick += 1
            ref.pulse()

    def write_count(value, first_only=False):
        raw = to_bcd(value) if bcd else value
        for byte in (raw & 0xFF, raw >> 8)[:1 if first_only else 2]:
            out(m, 0x42, byte)
            ref.write(byte)

    out(m, 0x61, int(gate))
    ref.set_gate(gate)
    control = 0x80 | 0x30 | (mode << 1) | int(bcd)
    out(m, 0x43, control)
    ref.control_word(control)
    write_count(count)
    for delta, what, value in steps:
        now += delta
        advance_to(m, now)
        catch_up()
        if what == "gate":
            gate = not gate
            out(m, 0x61, int(gate))
            ref.set_gate(gate)
        elif what == "rewrite":
            if ref.wmsb:                 # a half-written count: its MSB completes it
                out(m, 0x42, 0)
                ref.write(0)
            else:
                write_count(value)
        elif what == "first byte" and not ref.wmsb:
            write_count(value, first_only=True)
        out(m, 0x43, 0b11_0_0_100_0)     # read-back: count and status of counter 2
        status = inp(m, 0x42)
        lo, hi = inp(m, 0x42), inp(m, 0x42)
        expected = ref.out << 7 | ref.null << 6 | ref.control
        assert status == expected, (now, what)
        assert lo | hi << 8 == ref.value(), (now, what)
        assert bool(inp(m, 0x61) & 0x20) == ref.out
