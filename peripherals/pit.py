"""The 8254 programmable interval timer of the PC/AT, and system control port B (0x61).

Three counters at ports 0x40-0x42 and the control word register at 0x43, clocked at the PC's
14.31818 MHz crystal divided by 12: exactly 105/88 MHz (1.193181818... MHz), converted to and
from CPU cycles with core.clock.ClockDomain so no drift accumulates.  Counter 0's OUT is IRQ0;
counter 1 is the DRAM refresh timer and only counts; counter 2's GATE and the speaker come
through port 0x61.

The behaviour follows the Intel 82C54 data sheet (order number 231244):

* The counters are lazy.  A counter keeps the CLK pulse (tick) it was last brought up to and
  its state after that tick; reading it or writing it first computes the state at the
  current tick in closed form.  Only OUT edges of counter 0 are scheduled on the global clock,
  at the first CPU cycle at or after the tick of the edge, where they drive IRQ0.
* An access at CPU cycle c falls between PIT ticks to_ticks(c) and to_ticks(c) + 1.  A count
  written then is loaded into the counting element (CE) on the next tick, which does not
  decrement it ("the counter is loaded on the next CLK pulse").
* Modes 0-5, binary and BCD, LSB / MSB / LSB-then-MSB access with separate read and write
  byte pointers, the counter latch command, the read-back command with the status byte
  (OUTPUT, NULL COUNT, and the programmed RW/mode/BCD bits), and GATE as the data sheet has
  it for each mode.  Mode 3 with an odd count follows the 82C54 text: the count is loaded,
  decremented by one, then by two; at expiry OUT goes low and the count is reloaded, the
  next pulse decrements by three, then by two; high for (N+1)/2 pulses, low for (N-1)/2.
* What the data sheet leaves undefined is made deterministic and documented in
  docs/devices/pic-pit.md: the power-on state (each counter as after a mode-0 control word
  with no count), the CE after a control word (it holds its value until a count is loaded),
  the illegal count 1 in modes 2 and 3 (OUT stays high), invalid BCD digits (weighted as
  written, modulo 10000).

Port 0x61 (IBM PC/AT Technical Reference, system board I/O): bit 0 GATE 2, bit 1 speaker
data, bits 2-3 parity/channel check enables (stored, read back), bit 4 refresh detect (toggles
on every refresh request: every 18 PIT ticks, 15.0857 us, the AT's counter-1 rate, taken
from the global clock), bit 5 OUT2; bits 6-7 (parity and I/O channel check) read 0 here.
The speaker signal, OUT2 AND the speaker data bit, is recorded as a list of
(cycle, level) edges for the audio output (``speaker_edges``, ``take_speaker_edges``).
"""
import copy
from fractions import Fraction

from core.clock import ClockDomain
from peripherals.device import Device

# 157.5/11 MHz (the NTSC colour-burst crystal x4) / 12.
PIT_FREQUENCY = Fraction(105_000_000, 88)
COUNTER_BASE = 0x40
CONTROL_PORT = 0x43
PORT_B = 0x61
# The AT BIOS programs counter 1 in mode 2 with 18: one refresh request every 18 ticks.
REFRESH_TICKS = 18
# The pending edge of counter 0 fires as a device event.
IRQ0_EDGE = "irq0_edge"


def to_bcd(value):
    """0..9999 as four BCD digits."""
    return (value % 10 | (value // 10 % 10) << 4 | (value // 100 % 10) << 8
            | (value // 1000 % 10) << 12)


def from_bcd(raw):
    """A 16-bit BCD count as a number.  Digits above 9 are weighted as written (the data
    sheet leaves them undefined); the result is modulo 10000."""
    return ((raw & 0xF) + ((raw >> 4) & 0xF) * 10 + ((raw >> 8) & 0xF) * 100
            + ((raw >> 12) & 0xF) * 1000) % 10000


def _m3_left(ce, out):
    """Mode 3: pulses until the count expires, from a counting element holding `ce`.

    An odd value is only held on the pulse that loaded an odd count: it then needs one more
    pulse while OUT is high (-1 first) and one fewer while low (-3 first)."""
    if ce & 1:
        return (ce + 1) // 2 if out else (ce - 1) // 2
    return ce // 2


def _m3_value(ce, out, d):
    """Mode 3: the counting element `d` pulses into a half-cycle that holds `ce` now."""
    if d == 0:
        return ce
    if ce & 1:
        return ce + 1 - 2 * d if out else ce - 1 - 2 * d
    return ce - 2 * d


class Counter:
    """One 8254 counter.  Attributes a debugger may read:

    ``mode`` (0-5), ``bcd``, ``rw`` (1 LSB, 2 MSB, 3 LSB then MSB), ``control`` (bits 5-0
    of the last control word, as the status byte reports them), ``count`` (the count
    register: the last complete count written, as a number, 0 meaning the maximum),
    ``count_written`` (one was written since the control word), ``null_count``, ``out``,
    ``gate``, ``ce`` (the counting element after tick ``anchor``, 1..65536 / 1..10000 just
    after a load of 0), ``loaded`` (counting has started since the control word),
    ``armed`` (a one-shot terminal count is still to come in modes 0, 1, 4, 5) and
    ``load_at`` (the tick of a pending count register -> CE transfer, or None).
    """

    def __init__(self, index):
        self.index = index
        self.gate = True
        self.power_on(0)

    def power_on(self, tick):
        self.control = 0x30                 # mode 0, binary, LSB then MSB
        self.mode = 0
        self.bcd = False
        self.rw = 3
        self.count = 0
        self.count_written = False
        self.null_count = True
        self.write_lsb = 0
        self.write_msb_next = False
        self.read_msb_next = False
        self.output_latch = None            # a latched count not read yet
        self.status_latch = None
        self.out = False
        self.ce = 0
        self.anchor = tick
        self.load_at = None
        self.loaded = False
        self.armed = False

    # ------------------------------------------------------------ time

    @property
    def modulus(self):
        return 10000 if self.bcd else 0x10000

    def _n(self):
        """The count register as a number of pulses (0 is the maximum count)."""
        return self.count or self.modulus

    def counting(self):
        """Whether the CE decrements on the pulses after the anchor."""
        if not self.loaded:
            return False
        return self.mode in (1, 5) or self.gate

    def advance(self, t):
        """Bring the state up to just after tick `t` (no external event in between)."""
        if t <= self.anchor:
            return
        if self.load_at is not None and self.load_at <= t:
            self._run(self.load_at - 1)
            self._load(self.load_at)
        self._run(t)

    def _load(self, tick):
        # The count register goes into the CE on this pulse, which does not decrement it.
        self.anchor = tick
        self.load_at = None
        self.null_count = False
        self.loaded = True
        self.ce = self._n()
        mode = self.mode
        if mode == 1:
            self.out = False
        elif mode != 0:
            self.out = True
        self.armed = mode in (0, 1, 4, 5)

    def _run(self, t):
        d = t - self.anchor
        if d <= 0:
            return
        mode = self.mode
        self.anchor = t
        if mode >= 4 and not self.out:
            self.out = True                 # the strobe lasts one pulse
        if not self.loaded or not (self.gate or mode == 1 or mode == 5):
            return
        if mode in (0, 1, 4, 5):
            if self.armed and self.ce <= d:
                self.armed = False
                if mode in (0, 1):
                    self.out = True
                else:
                    self.out = self.ce != d
            self.ce = (self.ce - d) % self.modulus
        elif mode == 2:
            c = self.ce
            if d < c:
                self.ce = c - d
                self.out = self.ce != 1
                return
            # Reloaded on the pulse after CE was 1, from the count register.
            n = self._n()
            self.null_count = False
            if n == 1:                      # illegal in mode 2: OUT stays high
                self.ce, self.out = 1, True
                return
            self.ce = n - (d - c) % n
            self.out = self.ce != 1
        else:
            left = _m3_left(self.ce, self.out)
            if d < left:
                self.ce = _m3_value(self.ce, self.out, d)
                return
            # The half-cycle ends: OUT flips and the count register is reloaded.
            n = self._n()
            self.null_count = False
            d -= left
            out = not self.out
            high, low = (n + 1) // 2, n // 2
            if low == 0:                    # count 1, illegal: OUT stays high
                self.ce, self.out = n, True
                return
            p = d % n
            first = high if out else low
            if p >= first:
                p -= first
                out = not out
            self.ce = _m3_value(n, out, p)
            self.out = out

    def next_edge(self):
        """The tick of the next OUT change if nothing external happens, or None."""
        if self.load_at is not None:
            probe = copy.copy(self)
            probe.advance(self.load_at)
            if probe.out != self.out:
                return self.load_at
            return probe._next_edge_counting()
        return self._next_edge_counting()

    def _next_edge_counting(self):
        a, mode = self.anchor, self.mode
        if mode in (4, 5) and not self.out:
            return a + 1
        if not self.counting():
            return None
        if mode in (0, 1, 4, 5):
            return a + self.ce if self.armed else None
        if mode == 2:
            if not self.out:
                return a + 1
            if self.ce >= 2:
                return a + self.ce - 1
            n = self._n()
            return a + n if n >= 2 else None
        if self.out and self._n() == 1:
            return None
        return a + max(1, _m3_left(self.ce, self.out))

    # ------------------------------------------------------------ the bus side

    def value(self):
        """The count as a read returns it (BCD-coded in BCD mode)."""
        v = self.ce % self.modulus
        return to_bcd(v) if self.bcd else v

    def status(self):
        return (self.out << 7) | (self.null_count << 6) | self.control

    def write_control(self, value):
        """A control word selecting this counter with RW != 0 (a mode set)."""
        self.control = value & 0x3F
        self.rw = (value >> 4) & 3
        mode = (value >> 1) & 7
        self.mode = mode - 4 if mode >= 6 else mode
        self.bcd = bool(value & 1)
        self.null_count = True
        self.count_written = False
        self.loaded = False
        self.armed = False
        self.load_at = None
        self.write_msb_next = False
        self.read_msb_next = False
        self.output_latch = None
        self.status_latch = None
        self.out = self.mode != 0

    def latch_count(self):
        if self.output_latch is None:       # a second latch before the read is ignored
            self.output_latch = self.value()

    def latch_status(self):
        if self.status_latch is None:
            self.status_latch = self.status()

    def read(self):
        if self.status_latch is not None:
            value, self.status_latch = self.status_latch, None
            return value
        value = self.output_latch if self.output_latch is not None else self.value()
        if self.rw == 1:
            self.output_latch = None
            return value & 0xFF
        if self.rw == 2:
            self.output_latch = None
            return value >> 8
        if not self.read_msb_next:
            self.read_msb_next = True
            return value & 0xFF
        self.read_msb_next = False
        self.output_latch = None
        return value >> 8

    def write(self, byte, tick):
        """A byte written to the counter's port between ticks `tick` and `tick` + 1."""
        if self.rw == 1:
            self._set_count(byte, tick)
        elif self.rw == 2:
            self._set_count(byte << 8, tick)
        elif not self.write_msb_next:
            self.write_lsb = byte
            self.write_msb_next = True
            if self.mode == 0:
                # Mode 0: the first byte stops the count and sets OUT low at once.
                self.loaded = False
                self.armed = False
                self.out = False
        else:
            self.write_msb_next = False
            self._set_count(self.write_lsb | (byte << 8), tick)

    def _set_count(self, raw, tick):
        self.count = from_bcd(raw) if self.bcd else raw
        self.count_written = True
        self.null_count = True
        mode = self.mode
        if mode == 0:
            self.out = False
            self.loaded = False
            self.armed = False
            self.load_at = tick + 1
        elif mode == 4:
            self.load_at = tick + 1
        elif mode in (2, 3) and not self.loaded:
            self.load_at = tick + 1
        # Modes 2 and 3 take a new count at the end of the period / half-cycle; modes 1
        # and 5 wait for a trigger.

    def set_gate(self, level, tick):
        """GATE changes between ticks `tick` and `tick` + 1."""
        level = bool(level)
        if level == self.gate:
            return
        self.gate = level
        mode = self.mode
        if mode in (2, 3) and not level:
            self.out = True                 # OUT is set high at once, no CLK needed
        if level and mode in (1, 2, 3, 5) and self.count_written:
            self.load_at = tick + 1         # a trigger: reload on the next pulse

    # ------------------------------------------------------------ snapshots

    FIELDS = ("control", "mode", "bcd", "rw", "count", "count_written", "null_count",
              "write_lsb", "write_msb_next", "read_msb_next", "output_latch",
              "status_latch", "out", "gate", "ce", "loaded", "armed")

    def get_state(self, base):
        state = {name: getattr(self, name) for name in self.FIELDS}
        state["anchor"] = self.anchor - base
        state["load_at"] = None if self.load_at is None else self.load_at - base
        return state

    def set_state(self, state, base):
        for name in self.FIELDS:
            setattr(self, name, state[name])
        self.anchor = state["anchor"] + base
        self.load_at = None if state["load_at"] is None else state["load_at"] + base


class PIT(Device):
    """The 8254 at 0x40-0x43 and port 0x61.

    ``counters``: the three Counter objects.  ``domain``: the ClockDomain between the CPU
    clock and the 105/88 MHz PIT clock.  ``port_b``: bits 0-3 of port 0x61 as written.
    ``speaker_log_limit``: how many speaker edges are kept (the oldest are dropped and
    counted in ``speaker_dropped``).
    """

    name = "pit"

    def __init__(self, machine, *, speaker_log_limit=1 << 20):
        super().__init__(machine)
        self.domain = ClockDomain(self.clock.frequency, PIT_FREQUENCY)
        self.counters = [Counter(i) for i in range(3)]
        self.speaker_log_limit = speaker_log_limit
        self._speaker_log = []
        self.speaker_dropped = 0
        self._speaker = False
        self.port_b = 0
        self._event = None
        self._event_tick = None
        # Byte ports: the bus turns a wider access into byte cycles on consecutive ports.
        self.bus.register_io(COUNTER_BASE, 4, self._read, self._write, width=1)
        self.bus.register_io(PORT_B, 1, self._read_port_b, self._write_port_b, width=1)
        self.reset()

    def reset(self):
        """Power-on state: each counter as after a mode-0 control word with no count (the
        data sheet leaves it undefined), GATE 2 and the speaker off."""
        tick = self.tick()
        for c in self.counters:
            c.power_on(tick)
            c.gate = c.index != 2           # GATE 0 and 1 are tied high; GATE 2 is port B
        self.port_b = 0
        self._speaker_edge(self.clock.now, False)
        self.machine.set_irq(0, False)
        self._arm()

    # ------------------------------------------------------------ time

    def tick(self, cycle=None):
        """PIT ticks elapsed by CPU cycle `cycle` (default: now)."""
        return self.domain.to_ticks(self.clock.now if cycle is None else cycle)

    def _sync(self, i, tick):
        """Bring counter i up to `tick`, delivering the OUT edges on the way.

        Counter 0's next edge is known (it is scheduled), so an access between edges only
        advances the counter; counter 2's edges are only worked out while the speaker
        listens; counter 1's never."""
        c = self.counters[i]
        if i == 0:
            if self._event_tick is not None and self._event_tick <= tick:
                self._deliver(c, i, tick)
                c.advance(tick)
                self._arm()
                return c
        elif i == 2 and self.port_b & 2:
            self._deliver(c, i, tick)
        c.advance(tick)
        return c

    def _deliver(self, c, i, tick):
        to_cycles = self.domain.to_cycles
        while True:
            edge = c.next_edge()
            if edge is None or edge > tick or edge <= c.anchor:
                return
            c.advance(edge)
            self._edge(i, to_cycles(edge), c.out)

    def _edge(self, i, cycle, level):
        if i == 0:
            self.machine.set_irq(0, level)
        elif i == 2:
            self._speaker_edge(cycle, level and bool(self.port_b & 2))

    def _speaker_edge(self, cycle, level):
        if level == self._speaker:
            return
        self._speaker = level
        log = self._speaker_log
        log.append((cycle, int(level)))
        if len(log) >= 2 * self.speaker_log_limit:
            drop = len(log) - self.speaker_log_limit
            del log[:drop]
            self.speaker_dropped += drop

    def _arm(self):
        """(Re)schedule the next OUT edge of counter 0 on the global clock."""
        edge = self.counters[0].next_edge()
        self._event_tick = edge
        if edge is None:
            if self._event is not None:
                self.clock.cancel(self._event)
            return
        deadline = self.domain.to_cycles(edge)
        if self._event is None:
            self._event = self.clock.schedule(deadline, self._on_irq0_edge)
        else:
            self.clock.reschedule(self._event, deadline)

    def _on_irq0_edge(self, deadline):
        self._sync(0, self._event_tick)

    def _changed(self, i, out_before):
        c = self.counters[i]
        if c.out != out_before:
            self._edge(i, self.clock.now, c.out)
        if i == 0:
            self._arm()

    # ------------------------------------------------------------ ports

    def _read(self, port, width):
        if port == CONTROL_PORT:
            return 0xFF                     # the control register is write-only
        return self._sync(port - COUNTER_BASE, self.tick()).read()

    def _write(self, port, width, value):
        if port == CONTROL_PORT:
            self.write_control(value)
        else:
            self.write_counter(port - COUNTER_BASE, value)

    def write_counter(self, i, byte):
        """A byte written to counter i's port (0x40 + i)."""
        tick = self.tick()
        c = self._sync(i, tick)
        before = c.out
        c.write(byte & 0xFF, tick)
        self._changed(i, before)

    def write_control(self, value):
        """A byte written to the control word register (0x43)."""
        tick = self.tick()
        select = value >> 6
        if select == 3:                     # read-back
            for i in range(3):
                if value & (2 << i):
                    c = self._sync(i, tick)
                    if not value & 0x20:
                        c.latch_count()
                    if not value & 0x10:
                        c.latch_status()
            return
        c = self._sync(select, tick)
        if (value >> 4) & 3 == 0:
            c.latch_count()
            return
        before = c.out
        c.write_control(value)
        self._changed(select, before)

    def _read_port_b(self, port, width):
        tick = self.tick()
        c = self._sync(2, tick)
        refresh = (tick // REFRESH_TICKS) & 1
        return (self.port_b & 0x0F) | (refresh << 4) | (c.out << 5)

    def _write_port_b(self, port, width, value):
        tick = self.tick()
        c = self._sync(2, tick)
        self.port_b = value & 0x0F
        c.set_gate(bool(value & 1), tick)
        # OUT2 may have changed (GATE low sets it high in modes 2 and 3), and the speaker
        # data bit gates it onto the speaker.
        self._edge(2, self.clock.now, c.out)

    # ------------------------------------------------------------ the Python side

    def set_gate(self, i, level):
        """Drive GATE of counter i (on a PC only GATE 2 is wired, through port 0x61)."""
        tick = self.tick()
        c = self._sync(i, tick)
        before = c.out
        c.set_gate(level, tick)
        self._changed(i, before)

    def out(self, i):
        """OUT of counter i now."""
        return self._sync(i, self.tick()).out

    def read_count(self, i):
        """The count a read of counter i would return now, without the side effects."""
        return self._sync(i, self.tick()).value()

    @property
    def refresh_toggle(self):
        return (self.tick() // REFRESH_TICKS) & 1

    @property
    def speaker_edges(self):
        """The speaker signal's edges so far, as (cycle, level) pairs."""
        self._sync(2, self.tick())
        return list(self._speaker_log)

    def take_speaker_edges(self):
        """The speaker edges recorded since the last call, removed from the log."""
        self._sync(2, self.tick())
        log, self._speaker_log = self._speaker_log, []
        return log

    # ------------------------------------------------------------ snapshots and views

    def get_state(self):
        """Counter ticks are offsets from the tick of `clock.now`; the pending IRQ0 edge
        is saved as its offset in cycles from `clock.now` (it is a function of counter 0's
        state and is re-armed from it on restore)."""
        base = self.tick()
        pending = None
        if self._event is not None and self._event.pending:
            pending = self._event.deadline - self.clock.now
        return {
            "counters": [c.get_state(base) for c in self.counters],
            "port_b": self.port_b,
            "speaker": int(self._speaker),
            "speaker_log": [list(e) for e in self._speaker_log],
            "speaker_dropped": self.speaker_dropped,
            "events": {IRQ0_EDGE: pending},
        }

    def set_state(self, state):
        base = self.tick()
        for c, s in zip(self.counters, state["counters"]):
            c.set_state(s, base)
        self.port_b = state["port_b"]
        self._speaker = bool(state["speaker"])
        self._speaker_log = [tuple(e) for e in state["speaker_log"]]
        self.speaker_dropped = state["speaker_dropped"]
        self.machine.set_irq(0, self.counters[0].out)
        self._arm()

    MODE_NAMES = ("interrupt on terminal count", "hardware one-shot", "rate generator",
                  "square wave", "software strobe", "hardware strobe")
    RW_NAMES = {1: "LSB", 2: "MSB", 3: "LSB then MSB"}

    def info(self):
        now_tick = self.tick()
        lines = ["8254 PIT at 105/88 MHz: tick %d (cycle %d)" % (now_tick, self.clock.now)]
        for i, c in enumerate(self.counters):
            self._sync(i, now_tick)
            extra = []
            if c.output_latch is not None:
                extra.append("latched %04X" % c.output_latch)
            if c.status_latch is not None:
                extra.append("status latched %02X" % c.status_latch)
            if c.null_count:
                extra.append("null count")
            if c.write_msb_next:
                extra.append("MSB write next")
            if c.read_msb_next:
                extra.append("MSB read next")
            lines.append("counter %d: mode %d (%s), %s, %s; count %d, CE %s, OUT %d, "
                         "GATE %d%s" % (
                             i, c.mode, self.MODE_NAMES[c.mode], "BCD" if c.bcd else "binary",
                             self.RW_NAMES[c.rw], c._n() if c.count_written else 0,
                             ("%04X" % c.value()) if c.loaded else "not loaded",
                             c.out, c.gate, ("; " + ", ".join(extra)) if extra else ""))
        if self._event_tick is not None:
            lines.append("next IRQ0 edge: tick %d, cycle %d" % (
                self._event_tick, self.domain.to_cycles(self._event_tick)))
        lines.append("port 0x61: %02X (GATE2 %d, speaker data %d, refresh %d, OUT2 %d); "
                     "%d speaker edges logged" % (
                         self._read_port_b(PORT_B, 1), self.port_b & 1, (self.port_b >> 1) & 1,
                         self.refresh_toggle, self.counters[2].out, len(self._speaker_log)))
        return "\n".join(lines)
