"""The global event clock (core/clock.pyx): event order, cancel/reschedule, next_deadline
upkeep, and exact clock-domain conversion."""
import gc
import random
import weakref
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from core.clock import (
    DEFAULT_FREQUENCY,
    NEVER,
    PRIORITY_DEBUG,
    PRIORITY_DEVICE,
    Clock,
    ClockDomain,
    Event,
)

# The PC's 14.31818 MHz colour-burst crystal, exactly; the 8088 runs at /3, the 8254 at /12.
XTAL = Fraction(157_500_000, 11)
PC_CPU_HZ = XTAL / 3
PIT_HZ = Fraction(105_000_000, 88)


class Recorder:
    """Callbacks that log (label, deadline) in the order they fire."""

    def __init__(self):
        self.log = []

    def __call__(self, label):
        def fire(deadline):
            self.log.append((label, deadline))
        fire.__qualname__ = f"fire_{label}"
        return fire


# --------------------------------------------------------------------------- basics


def test_new_clock_is_empty():
    clock = Clock()
    assert clock.now == 0
    assert clock.next_deadline == NEVER == 0xFFFFFFFFFFFFFFFF
    assert clock.frequency == DEFAULT_FREQUENCY
    assert clock.run_due() == 0
    assert clock.pending() == []
    assert clock.snapshot() == []


def test_frequency_must_be_a_positive_int():
    assert Clock(frequency=33_000_000).frequency == 33_000_000
    with pytest.raises(ValueError):
        Clock(frequency=0)
    with pytest.raises(TypeError):
        Clock(frequency=4.77e6)


def test_events_fire_in_deadline_order_not_scheduling_order():
    clock, rec = Clock(), Recorder()
    for label, when in (("c", 300), ("a", 100), ("d", 400), ("b", 200)):
        clock.schedule(when, rec(label))
    assert clock.next_deadline == 100
    clock.now = 1000
    assert clock.run_due() == 4
    assert rec.log == [("a", 100), ("b", 200), ("c", 300), ("d", 400)]
    assert clock.next_deadline == NEVER


def test_only_events_due_by_now_fire():
    clock, rec = Clock(), Recorder()
    clock.schedule(10, rec("at10"))
    clock.schedule(11, rec("at11"))
    clock.now = 9
    assert clock.run_due() == 0
    clock.now = 10                      # deadline == now is due
    assert clock.run_due() == 1
    assert rec.log == [("at10", 10)]
    assert clock.next_deadline == 11


def test_callback_gets_its_own_deadline_when_the_cpu_overshoots():
    # A lazy device must catch up to the edge's cycle, not to where the CPU stopped.
    clock, rec = Clock(), Recorder()
    clock.schedule(1000, rec("tc"))
    clock.now = 1007
    clock.run_due()
    assert rec.log == [("tc", 1000)]


def test_ties_break_by_priority_then_scheduling_order():
    clock, rec = Clock(), Recorder()
    clock.schedule(50, rec("dev1"))
    clock.schedule(50, rec("late"), priority=5)
    clock.schedule(50, rec("dev2"), priority=PRIORITY_DEVICE)
    clock.schedule(50, rec("brk"), priority=PRIORITY_DEBUG)
    clock.schedule(49, rec("earlier"), priority=1000)
    clock.now = 50
    assert clock.run_due() == 5
    assert [label for label, _ in rec.log] == ["earlier", "brk", "dev1", "dev2", "late"]


def test_debug_priority_sorts_before_devices():
    assert PRIORITY_DEBUG < PRIORITY_DEVICE == 0


def test_a_past_deadline_fires_at_the_next_run_due():
    clock, rec = Clock(), Recorder()
    clock.now = 500
    clock.schedule(100, rec("late"))
    assert clock.next_deadline == 100
    assert clock.run_due() == 1
    assert rec.log == [("late", 100)]


def test_deadlines_use_the_full_64_bits():
    clock, rec = Clock(), Recorder()
    clock.schedule(NEVER - 1, rec("end"))
    clock.schedule(2**63, rec("mid"))
    assert clock.next_deadline == 2**63
    clock.now = NEVER - 1
    clock.run_due()
    assert rec.log == [("mid", 2**63), ("end", NEVER - 1)]
    clock.now = NEVER                    # the last cycle: nothing left, nothing to pop
    assert clock.run_due() == 0
    last = clock.schedule(NEVER, rec("last"))
    assert clock.run_due() == 1 and not last.pending
    assert rec.log[-1] == ("last", NEVER)
    with pytest.raises(OverflowError):
        clock.schedule(-1, rec("negative"))
    with pytest.raises(OverflowError):
        clock.schedule(2**64, rec("too far"))


# --------------------------------------------------------------------------- events


def test_event_fields_are_read_only():
    clock = Clock()
    cb = lambda d: None
    ev = clock.schedule(7, cb, priority=3)
    assert (ev.deadline, ev.priority, ev.pending, ev.callback) == (7, 3, True, cb)
    for field in ("deadline", "priority", "pending", "callback", "seq"):
        with pytest.raises(AttributeError):
            setattr(ev, field, 1)
    with pytest.raises(TypeError):
        Event()


def test_sequence_numbers_follow_scheduling_order():
    clock = Clock()
    events = [clock.schedule(100 - i, lambda d: None) for i in range(5)]
    assert [ev.seq for ev in events] == sorted(ev.seq for ev in events)
    assert len({ev.seq for ev in events}) == 5


def test_event_is_not_pending_after_it_fires():
    clock = Clock()
    ev = clock.schedule(1, lambda d: None)
    clock.now = 1
    clock.run_due()
    assert not ev.pending
    assert clock.cancel(ev) is False


def test_event_from_another_clock_is_refused():
    a, b = Clock(), Clock()
    ev = a.schedule(5, lambda d: None)
    with pytest.raises(ValueError):
        b.cancel(ev)
    with pytest.raises(ValueError):
        b.reschedule(ev, 9)
    with pytest.raises(TypeError):
        a.cancel("not an event")
    assert ev.pending and a.next_deadline == 5 and b.next_deadline == NEVER


# --------------------------------------------------------------------------- cancel


def test_cancel_returns_whether_the_event_was_pending():
    clock, rec = Clock(), Recorder()
    ev = clock.schedule(10, rec("x"))
    assert clock.cancel(ev) is True
    assert clock.cancel(ev) is False
    assert not ev.pending
    clock.now = 100
    assert clock.run_due() == 0
    assert rec.log == []


def test_cancelling_the_earliest_event_moves_next_deadline():
    clock = Clock()
    first = clock.schedule(10, lambda d: None)
    second = clock.schedule(20, lambda d: None)
    third = clock.schedule(30, lambda d: None)
    assert clock.cancel(second)          # not the earliest: next_deadline unchanged
    assert clock.next_deadline == 10
    assert clock.cancel(first)           # the earliest; the cancelled 20 must be skipped too
    assert clock.next_deadline == 30
    assert clock.cancel(third)
    assert clock.next_deadline == NEVER


def test_cancelled_events_are_released_when_they_dominate_the_heap():
    # Lazy deletion must not keep a device's dead callbacks alive forever.
    class Callback:
        def __call__(self, deadline):
            pass

    clock = Clock()
    refs, events = [], []
    for i in range(1000):
        cb = Callback()
        refs.append(weakref.ref(cb))
        events.append(clock.schedule(10_000 + i, cb))
    keep = events[::10]
    for i, ev in enumerate(events):
        if i % 10:
            clock.cancel(ev)
    del events, cb, ev
    gc.collect()
    alive = sum(ref() is not None for ref in refs)
    assert alive < 1000 * 0.6            # most of the 900 cancelled entries were dropped
    assert clock.pending() == keep
    assert clock.next_deadline == 10_000
    clock.now = 20_000
    assert clock.run_due() == 100


# --------------------------------------------------------------------------- reschedule


def test_reschedule_moves_a_pending_event_later_and_earlier():
    clock, rec = Clock(), Recorder()
    ev = clock.schedule(10, rec("ev"))
    clock.schedule(20, rec("other"))
    assert clock.reschedule(ev, 30) is ev
    assert (ev.deadline, ev.pending, clock.next_deadline) == (30, True, 20)
    clock.reschedule(ev, 5)
    assert clock.next_deadline == 5
    clock.now = 100
    clock.run_due()
    assert rec.log == [("ev", 5), ("other", 20)]


def test_reschedule_revives_cancelled_and_fired_events():
    clock, rec = Clock(), Recorder()
    cancelled = clock.schedule(10, rec("cancelled"))
    clock.schedule(5, rec("anchor"))     # keeps `cancelled` off the heap root
    fired = clock.schedule(1, rec("fired"))
    clock.cancel(cancelled)
    clock.now = 1
    clock.run_due()
    assert not fired.pending and not cancelled.pending
    clock.reschedule(cancelled, 40)
    clock.reschedule(fired, 30)
    assert cancelled.pending and fired.pending
    assert clock.next_deadline == 5
    assert clock.cancel(cancelled) is True
    clock.now = 100
    assert clock.run_due() == 2
    assert rec.log == [("fired", 1), ("anchor", 5), ("fired", 30)]


def test_reschedule_takes_a_new_sequence_number_and_keeps_priority():
    clock, rec = Clock(), Recorder()
    moved = clock.schedule(10, rec("moved"), priority=2)
    clock.schedule(20, rec("stay"), priority=2)
    old_seq = moved.seq
    clock.reschedule(moved, 20)
    assert moved.seq > old_seq and moved.priority == 2
    clock.now = 20
    clock.run_due()
    # Same deadline and priority: the reschedule counts as the later scheduling.
    assert rec.log == [("stay", 20), ("moved", 20)]


# --------------------------------------------------------------------------- callbacks


def test_events_scheduled_by_a_callback_for_now_fire_in_the_same_call():
    clock, rec = Clock(), Recorder()

    def chain(deadline):
        rec.log.append(("chain", deadline))
        clock.schedule(deadline + 3, rec("child_due"))      # <= now: same call
        clock.schedule(deadline - 1, rec("child_past"))     # in the past: same call, first
        clock.schedule(deadline + 100, rec("child_later"))  # > now: waits

    clock.schedule(10, chain)
    clock.schedule(12, rec("sibling"))
    clock.now = 15
    assert clock.run_due() == 4
    assert rec.log == [("chain", 10), ("child_past", 9), ("sibling", 12), ("child_due", 13)]
    assert clock.next_deadline == 110


def test_periodic_timer_by_rescheduling_itself():
    clock = Clock()
    edges = []

    def tick(deadline):
        edges.append(deadline)
        clock.reschedule(ev, deadline + 7)

    ev = clock.schedule(7, tick)
    clock.now = 50
    assert clock.run_due() == 7
    assert edges == [7, 14, 21, 28, 35, 42, 49]
    assert clock.next_deadline == 56 and ev.pending


def test_a_callback_can_cancel_a_due_event():
    clock, rec = Clock(), Recorder()
    victim = None

    def killer(deadline):
        rec.log.append(("killer", deadline))
        assert clock.cancel(victim)

    clock.schedule(5, killer)
    victim = clock.schedule(6, rec("victim"))
    clock.schedule(7, rec("survivor"))
    clock.now = 10
    assert clock.run_due() == 2
    assert rec.log == [("killer", 5), ("survivor", 7)]


def test_an_exception_in_a_callback_propagates_and_leaves_the_clock_consistent():
    clock, rec = Clock(), Recorder()

    def broken(deadline):
        raise RuntimeError("device fault")

    clock.schedule(1, rec("before"))
    bad = clock.schedule(2, broken)
    clock.schedule(3, rec("after"))
    clock.schedule(50, rec("future"))
    clock.now = 10
    with pytest.raises(RuntimeError, match="device fault"):
        clock.run_due()
    assert rec.log == [("before", 1)]
    assert not bad.pending
    assert clock.next_deadline == 3
    assert clock.run_due() == 1
    assert rec.log == [("before", 1), ("after", 3)]
    assert clock.next_deadline == 50


# --------------------------------------------------------------------------- debugger views


def test_pending_snapshot_and_repr():
    clock = Clock(frequency=8_000_000)

    def pit_terminal_count(deadline):
        pass

    def uart_char_done(deadline):
        pass

    clock.now = 100
    a = clock.schedule(400, pit_terminal_count)
    b = clock.schedule(150, uart_char_done)
    c = clock.schedule(400, uart_char_done, priority=PRIORITY_DEBUG)
    d = clock.schedule(90, uart_char_done)           # overdue, not yet run
    clock.cancel(d)
    assert clock.pending() == [b, c, a]
    assert clock.snapshot() == [
        (50, 0, "test_pending_snapshot_and_repr.<locals>.uart_char_done"),
        (300, -100, "test_pending_snapshot_and_repr.<locals>.uart_char_done"),
        (300, 0, "test_pending_snapshot_and_repr.<locals>.pit_terminal_count"),
    ]
    text = repr(clock)
    assert "now=100" in text and "next_deadline=150" in text and "pending=3" in text
    assert "pit_terminal_count" in repr(a) and "400" in repr(a)
    clock.cancel(a), clock.cancel(b), clock.cancel(c)
    assert "next_deadline=never" in repr(clock)


def test_snapshot_of_an_overdue_event_has_a_negative_offset():
    clock = Clock()
    clock.now = 10
    clock.schedule(4, lambda d: None)
    assert [offset for offset, _, _ in clock.snapshot()] == [-6]


# --------------------------------------------------------------------------- reference model


class ClockModel(RuleBasedStateMachine):
    """Random schedule/cancel/reschedule/advance sequences against a plain sorted-list model.

    Some events, when they fire, schedule a child `delta` cycles after their deadline;
    delta 0 checks that work created during run_due for the current cycle runs in the
    same call, in key order."""

    def __init__(self):
        super().__init__()
        self.clock = Clock()
        self.fired = []                    # (label, deadline) as the clock fired them
        self.handles = []                  # label -> Event
        self.model = {}                    # label -> [deadline, priority, seq, pending, child]
        self.seq = 0
        self.model_fired = []

    # The model assigns sequence numbers exactly as the spec says: one per schedule or
    # reschedule, in call order, including calls made from inside a firing callback.
    def _model_schedule(self, when, priority, child):
        label = len(self.model)
        self.model[label] = [when, priority, self.seq, True, child]
        self.seq += 1
        return label

    def _callback(self, label, child):
        # Clock side: a child gets the next label, as the model's child does, so the two
        # stay aligned only if both fire the same events in the same order.
        def fire(deadline):
            self.fired.append((label, deadline))
            if child is not None:
                self._clock_schedule(deadline + child, 0, None)
        return fire

    def _clock_schedule(self, when, priority, child):
        label = len(self.handles)
        self.handles.append(self.clock.schedule(when, self._callback(label, child), priority))

    def _model_run(self):
        count = 0
        while True:
            due = [(d, p, s, lbl) for lbl, (d, p, s, live, _) in self.model.items()
                   if live and d <= self.clock.now]
            if not due:
                return count
            d, _, _, lbl = min(due)
            self.model[lbl][3] = False
            self.model_fired.append((lbl, d))
            count += 1
            child = self.model[lbl][4]
            if child is not None:
                self._model_schedule(d + child, 0, None)

    @initialize()
    def start(self):
        self.clock.now = 0

    @rule(offset=st.integers(0, 60), priority=st.sampled_from([PRIORITY_DEBUG, -1, 0, 0, 3]),
          child=st.none() | st.integers(0, 20))
    def schedule(self, offset, priority, child):
        # Offsets may land before now (an overdue event) as well as after it.
        when = max(0, self.clock.now + offset - 10)
        self._model_schedule(when, priority, child)
        self._clock_schedule(when, priority, child)

    @precondition(lambda self: self.handles)
    @rule(data=st.data())
    def cancel(self, data):
        label = data.draw(st.integers(0, len(self.handles) - 1))
        was_pending = self.model[label][3]
        assert self.clock.cancel(self.handles[label]) is was_pending
        self.model[label][3] = False

    @precondition(lambda self: self.handles)
    @rule(data=st.data(), offset=st.integers(0, 60))
    def reschedule(self, data, offset):
        label = data.draw(st.integers(0, len(self.handles) - 1))
        when = max(0, self.clock.now + offset - 10)
        assert self.clock.reschedule(self.handles[label], when) is self.handles[label]
        entry = self.model[label]
        entry[0], entry[2], entry[3] = when, self.seq, True
        self.seq += 1

    @rule(step=st.integers(0, 40))
    def advance_and_run(self, step):
        self.clock.now += step
        start_model, start_clock = len(self.model_fired), len(self.fired)
        expected = self._model_run()
        assert self.clock.run_due() == expected
        assert self.fired[start_clock:] == self.model_fired[start_model:]
        assert len(self.handles) == len(self.model)

    @invariant()
    def next_deadline_is_the_earliest_pending(self):
        live = [v[0] for v in self.model.values() if v[3]]
        assert self.clock.next_deadline == (min(live) if live else NEVER)

    @invariant()
    def pending_lists_the_model_in_key_order(self):
        expect = sorted((v[0], v[1], v[2], k) for k, v in self.model.items() if v[3])
        got = self.clock.pending()
        assert [self.handles[k] for *_, k in expect] == got
        assert all(ev.pending for ev in got)
        assert all(self.handles[k].pending == v[3] for k, v in self.model.items())


ClockModel.TestCase.settings = settings(
    max_examples=150, stateful_step_count=60, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
TestClockAgainstModel = ClockModel.TestCase


@settings(max_examples=100, deadline=None)
@given(initial=st.lists(st.tuples(st.integers(0, 5_000), st.integers(-2, 2)),
                        min_size=64, max_size=300),
       tenths_cancelled=st.integers(0, 10), seed=st.integers(),
       ops=st.lists(st.tuples(st.sampled_from("ccccrsa"), st.integers(0, 10_000)),
                    max_size=400))
def test_heavy_cancellation_against_model(initial, tenths_cancelled, seed, ops):
    # A big heap that is then mostly cancelled, so the lazily deleted entries come to
    # dominate it and it gets compacted, with runs interleaved: same events, same order.
    clock = Clock()
    fired, handles, model = [], [], {}     # model: label -> (deadline, priority, seq)
    seq = 0

    def schedule(when, prio):
        nonlocal seq
        label = len(handles)
        handles.append(clock.schedule(when, lambda d: fired.append((label, d)), prio))
        model[label] = (when, prio, seq)
        seq += 1

    for when, prio in initial:
        schedule(when, prio)
    rng = random.Random(seed)
    for label in range(len(handles)):
        if rng.randrange(10) < tenths_cancelled:
            assert clock.cancel(handles[label])
            del model[label]
    for op, value in ops:
        label = value % len(handles)
        if op == "s":
            schedule(clock.now + value, value % 3 - 1)
        elif op == "c":
            assert clock.cancel(handles[label]) is (label in model)
            model.pop(label, None)
        elif op == "r":
            clock.reschedule(handles[label], clock.now + value)
            model[label] = (clock.now + value, handles[label].priority, seq)
            seq += 1
        else:
            clock.now += value // 4
            due = sorted((key, lbl) for lbl, key in model.items() if key[0] <= clock.now)
            start = len(fired)
            assert clock.run_due() == len(due)
            assert fired[start:] == [(lbl, key[0]) for key, lbl in due]
            for _, lbl in due:
                del model[lbl]
        live = [key[0] for key in model.values()]
        assert clock.next_deadline == (min(live) if live else NEVER)
    assert clock.pending() == [handles[lbl] for _, lbl in
                               sorted((key, lbl) for lbl, key in model.items())]
    clock.now = NEVER - 1
    start = len(fired)
    assert clock.run_due() == len(model)
    assert fired[start:] == [(lbl, key[0]) for key, lbl in
                             sorted((key, lbl) for lbl, key in model.items())]


# --------------------------------------------------------------------------- clock domains


def test_pc_pit_runs_at_exactly_a_quarter_of_the_8088_clock():
    dom = ClockDomain(PC_CPU_HZ, PIT_HZ)
    assert dom.ratio == Fraction(1, 4)
    assert [dom.to_ticks(c) for c in range(9)] == [0, 0, 0, 0, 1, 1, 1, 1, 2]
    assert [dom.to_cycles(t) for t in range(4)] == [0, 4, 8, 12]


def test_rounding_rule_floor_for_ticks_ceil_for_cycles():
    dom = ClockDomain(3, 2)              # two device ticks every three CPU cycles
    # tick t happens at cycle 1.5 t: floor gives ticks elapsed, ceil the first cycle after
    assert [dom.to_ticks(c) for c in range(7)] == [0, 0, 1, 2, 2, 3, 4]
    assert [dom.to_cycles(t) for t in range(5)] == [0, 2, 3, 5, 6]


def test_integer_cpu_frequency_against_the_pit_crystal():
    dom = ClockDomain(DEFAULT_FREQUENCY, PIT_HZ)
    assert dom.ratio == PIT_HZ / DEFAULT_FREQUENCY
    assert dom.cpu_hz == DEFAULT_FREQUENCY and dom.dev_hz == PIT_HZ
    one_second = DEFAULT_FREQUENCY
    assert dom.to_ticks(one_second) == 1_193_181  # floor(105e6 / 88)
    assert "ClockDomain" in repr(dom)


def test_clock_domain_refuses_floats_and_non_positive_rates():
    with pytest.raises(TypeError):
        ClockDomain(4.77e6, 1_193_182)
    with pytest.raises(TypeError):
        ClockDomain(4_772_727, 1.193182e6)
    with pytest.raises(ValueError):
        ClockDomain(0, 1)
    with pytest.raises(ValueError):
        ClockDomain(10, Fraction(-1, 2))
    dom = ClockDomain(10, 3)
    with pytest.raises(TypeError):
        dom.to_ticks(1.5)
    with pytest.raises(TypeError):
        dom.to_cycles(Fraction(1, 2))


def test_conversions_past_64_bits_stay_exact():
    # A ratio with a large numerator makes the 64-bit products overflow early; the
    # conversion must switch to big integers rather than wrap.
    dom = ClockDomain(3, 2**40 + 1)
    for c in (0, 1, 2**23, 2**24 - 1, 2**24, 2**24 + 1, 2**64 - 1, 2**64, 2**90):
        assert dom.to_ticks(c) == c * (2**40 + 1) // 3
    slow = ClockDomain(2**40 + 1, 3)
    for t in (0, 1, 2**23, 2**24, 2**24 + 1, 2**64 - 1, 2**64, 2**90):
        assert slow.to_cycles(t) == -(-t * (2**40 + 1) // 3)
    huge = ClockDomain(Fraction(1, 3**50), Fraction(1, 7**40))   # terms beyond 64 bits
    assert huge.ratio == Fraction(3**50, 7**40)
    assert huge.to_ticks(7**40) == 3**50
    assert huge.to_cycles(3**50) == 7**40


rates = st.one_of(
    st.integers(1, 10**10),
    st.builds(Fraction, st.integers(1, 10**12), st.integers(1, 10**6)),
    st.sampled_from([PC_CPU_HZ, PIT_HZ, 32_768, 1_843_200, 33_333_333, DEFAULT_FREQUENCY]),
)
times = st.one_of(st.integers(0, 10**9), st.integers(0, 2**72))


@settings(max_examples=400)
@given(cpu=rates, dev=rates, c=times)
def test_to_ticks_is_the_exact_floor(cpu, dev, c):
    dom = ClockDomain(cpu, dev)
    ticks = dom.to_ticks(c)
    assert type(ticks) is int
    assert ticks == (Fraction(c) * Fraction(dev) / Fraction(cpu)).__floor__()


@settings(max_examples=400)
@given(cpu=rates, dev=rates, t=times)
def test_to_cycles_is_the_exact_ceiling(cpu, dev, t):
    dom = ClockDomain(cpu, dev)
    cycles = dom.to_cycles(t)
    assert type(cycles) is int
    assert cycles == (Fraction(t) * Fraction(cpu) / Fraction(dev)).__ceil__()


@settings(max_examples=400)
@given(cpu=rates, dev=rates, c=times, t=times)
def test_galois_pair(cpu, dev, c, t):
    # "tick t has happened by cycle c" has one answer whichever way it is converted.
    dom = ClockDomain(cpu, dev)
    assert (dom.to_ticks(c) >= t) == (c >= dom.to_cycles(t))


@settings(max_examples=300)
@given(cpu=rates, dev=rates, a=times, b=times)
def test_conversions_are_monotonic(cpu, dev, a, b):
    dom = ClockDomain(cpu, dev)
    lo, hi = min(a, b), max(a, b)
    assert dom.to_ticks(lo) <= dom.to_ticks(hi)
    assert dom.to_cycles(lo) <= dom.to_cycles(hi)


@settings(max_examples=300)
@given(cpu=rates, dev=rates, t=times)
def test_round_trip_from_ticks(cpu, dev, t):
    dom = ClockDomain(cpu, dev)
    edge = dom.to_cycles(t)
    if Fraction(dev) <= Fraction(cpu):
        assert dom.to_ticks(edge) == t       # every tick has its own first cycle
    else:
        assert dom.to_ticks(edge) >= t       # a fast device may tick twice in one cycle
    if edge > 0:
        assert dom.to_ticks(edge - 1) < t    # and it is the *first* such cycle


@settings(max_examples=300)
@given(cpu=rates, dev=rates, c=times)
def test_round_trip_from_cycles(cpu, dev, c):
    dom = ClockDomain(cpu, dev)
    t = dom.to_ticks(c)
    assert dom.to_cycles(t) <= c < dom.to_cycles(t + 1)


@settings(max_examples=200, deadline=None)
@given(cpu=rates, dev=rates, base=st.integers(0, 10**9),
       steps=st.lists(st.one_of(st.integers(1, 50), st.integers(1, 10**8)), max_size=300))
def test_no_drift_over_a_billion_cycles(cpu, dev, base, steps):
    # A lazy device catches up in arbitrary increments (tiny ones between close port
    # accesses, huge ones across idle stretches): summing the tick deltas of each catch-up
    # must land on the same count as converting the total once, at 10^9 cycles.
    dom = ClockDomain(cpu, dev)
    total = 10**9
    points, now = [base], base
    for step in steps:
        now = min(total, now + step)
        points.append(now)
    points.append(total)
    last = ticks = 0
    for now in points:
        ticks += dom.to_ticks(now) - dom.to_ticks(last)
        last = now
        assert ticks == (now * Fraction(dev) / Fraction(cpu)).__floor__()
    assert ticks == dom.to_ticks(total)


@pytest.mark.parametrize("seed", range(3))
def test_pit_edges_scheduled_through_the_clock_do_not_drift(seed):
    # An 8254 in mode 2 with reload 65536 (the BIOS's 18.2 Hz timer) arms its next terminal
    # count from the absolute tick number. Run a billion cycles in random CPU slices that
    # overshoot deadlines, as the CPU does mid-instruction, and check every edge.
    clock = Clock(frequency=DEFAULT_FREQUENCY)
    pit = ClockDomain(PC_CPU_HZ, PIT_HZ)
    reload = 65536
    edges = []

    def terminal_count(deadline):
        edges.append(deadline)
        clock.reschedule(timer, pit.to_cycles((len(edges) + 1) * reload))

    timer = clock.schedule(pit.to_cycles(reload), terminal_count)
    rng = random.Random(seed)
    total = 10**9
    while clock.now < total:
        clock.now = min(total, min(clock.next_deadline, clock.now + rng.randrange(1, 10**6))
                        + rng.randrange(0, 40))
        clock.run_due()
    assert len(edges) == pit.to_ticks(clock.now) // reload
    assert edges == [pit.to_cycles(k * reload) for k in range(1, len(edges) + 1)]
    assert edges[-1] == len(edges) * reload * 4       # exactly four CPU cycles per PIT tick
