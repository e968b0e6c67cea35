"""The global event clock and exact clock-domain conversion.

Time is one unsigned 64-bit count of CPU cycles since power-on (`Clock.now`). The CPU adds
each instruction's cost to `now` itself and runs in slices that end at `next_deadline`; the
machine then calls `run_due()`, which fires every event whose deadline has been reached.
Devices are lazy, so only their edges are scheduled (a PIT terminal count, a UART character
done), and a fired callback receives its own deadline so the device can catch up to the exact
cycle of the edge even when the CPU overshot it by part of an instruction.

Ties are broken by (deadline, priority, sequence number) so that a run is a pure function of
its inputs: lower priority values fire first, and among equal priorities the event scheduled
first fires first.
"""
from fractions import Fraction
from operator import index as _as_int

cimport cython
from libc.stdint cimport uint64_t

NEVER = 0xFFFFFFFFFFFFFFFF
# Debug and breakpoint events fire before any device event due on the same cycle, so a
# "run to cycle N" stop sees the machine before the devices have acted on cycle N.
PRIORITY_DEBUG = -100
PRIORITY_DEVICE = 0
# The IBM PC/XT 8088 clock: the 157.5/11 MHz (14.31818 MHz) colour-burst crystal divided by
# 3, i.e. 4.7727 MHz, rounded to the nearest Hz because `frequency` is an integer. Machine
# builds the clock with the selected CPU model's own frequency; this is only the default.
DEFAULT_FREQUENCY = 4_772_727

cdef uint64_t _NEVER = 0xFFFFFFFFFFFFFFFF
# Below this many heap entries, cancelled leftovers cost less than rebuilding the heap.
cdef Py_ssize_t _COMPACT_MIN = 64


cdef inline bint _before(Event a, Event b):
    if a.deadline != b.deadline:
        return a.deadline < b.deadline
    if a.priority != b.priority:
        return a.priority < b.priority
    return a.seq < b.seq


def _name_of(callback):
    name = getattr(callback, "__qualname__", None) or getattr(callback, "__name__", None)
    return name if isinstance(name, str) else repr(callback)


@cython.freelist(64)
cdef class Event:
    """A scheduled callback; obtained from Clock.schedule, never built directly.

    `deadline`, `priority`, `seq`, `callback` and `pending` are read-only: change the
    deadline with Clock.reschedule so the clock's heap stays ordered.
    """

    def __init__(self, *args, **kwargs):
        raise TypeError("events are created by Clock.schedule()")

    @property
    def name(self):
        """The callback's qualified name, used by the debugger and in snapshots."""
        return _name_of(self.callback)

    def __repr__(self):
        state = "pending" if self.pending else "idle"
        return (f"<Event {self.name} at {self.deadline} priority={self.priority} "
                f"seq={self.seq} {state}>")


cdef class Clock:
    """The machine's single time base and its queue of pending events."""

    def __init__(self, frequency=DEFAULT_FREQUENCY):
        frequency = _as_int(frequency)
        if frequency <= 0:
            raise ValueError(f"CPU frequency must be positive, got {frequency}")
        self.frequency = frequency
        self.now = 0
        self.next_deadline = _NEVER
        self._heap = []
        self._seq = 0
        self._cancelled_count = 0

    # --- heap primitives: every move keeps Event._index equal to the event's slot ---

    cdef void _sift_up(self, Py_ssize_t i):
        cdef list heap = self._heap
        cdef Event ev = <Event>heap[i]
        cdef Event parent
        cdef Py_ssize_t p
        while i > 0:
            p = (i - 1) >> 1
            parent = <Event>heap[p]
            if not _before(ev, parent):
                break
            heap[i] = parent
            parent._index = i
            i = p
        heap[i] = ev
        ev._index = i

    cdef void _sift_down(self, Py_ssize_t i):
        cdef list heap = self._heap
        cdef Py_ssize_t n = len(heap)
        cdef Event ev = <Event>heap[i]
        cdef Event child, right
        cdef Py_ssize_t c
        while True:
            c = 2 * i + 1
            if c >= n:
                break
            child = <Event>heap[c]
            if c + 1 < n:
                right = <Event>heap[c + 1]
                if _before(right, child):
                    c += 1
                    child = right
            if not _before(child, ev):
                break
            heap[i] = child
            child._index = i
            i = c
        heap[i] = ev
        ev._index = i

    cdef Event _pop_top(self):
        cdef list heap = self._heap
        cdef Event top = <Event>heap[0]
        cdef Event last = <Event>heap.pop()
        if len(heap) > 0:
            heap[0] = last
            last._index = 0
            self._sift_down(0)
        top._index = -1
        return top

    cdef void _settle_top(self):
        # Invariant: the heap's root is pending (or the heap is empty), so next_deadline is
        # just the root's deadline. Cancelled entries that surface at the root are dropped.
        cdef list heap = self._heap
        cdef Event top
        while len(heap) > 0:
            top = <Event>heap[0]
            if top.pending:
                self.next_deadline = top.deadline
                return
            self._pop_top()
            self._cancelled_count -= 1
        self.next_deadline = _NEVER

    cdef void _compact(self):
        cdef list live = []
        cdef Event ev
        cdef Py_ssize_t i, n
        for ev in self._heap:
            if ev.pending:
                live.append(ev)
            else:
                ev._index = -1
        self._heap = live
        self._cancelled_count = 0
        n = len(live)
        for i in range(n):
            (<Event>live[i])._index = i
        for i in range((n >> 1) - 1, -1, -1):
            self._sift_down(i)

    cdef Event _own(self, object event):
        cdef Event ev = <Event?>event
        if ev._clock is not self:
            raise ValueError(f"{event!r} belongs to another clock")
        return ev

    # --- the public interface ---

    cpdef object schedule(self, uint64_t when, object callback, int priority=0):
        """Call `callback(when)` once `now` reaches cycle `when` (absolute), in
        (deadline, priority, scheduling order). A deadline already in the past fires at the
        next run_due(). Returns the Event, the handle for cancel/reschedule."""
        cdef Event ev = Event.__new__(Event)
        ev.deadline = when
        ev.priority = priority
        ev.seq = self._seq
        self._seq += 1
        ev.callback = callback
        ev.pending = True
        ev._clock = self
        self._heap.append(ev)
        self._sift_up(len(self._heap) - 1)
        if when < self.next_deadline:
            self.next_deadline = when
        return ev

    cpdef bint cancel(self, object event):
        """Stop a pending event from firing. Returns True if it was pending."""
        cdef Event ev = self._own(event)
        if not ev.pending:
            return False
        ev.pending = False
        if ev._index == 0:
            self._pop_top()
            self._settle_top()
            return True
        # Lazy deletion: leave the entry where it is; it is dropped when it reaches the root
        # or when cancelled entries make up most of the heap.
        self._cancelled_count += 1
        if (self._cancelled_count * 2 > len(self._heap)
                and len(self._heap) >= _COMPACT_MIN):
            self._compact()
        return True

    cpdef object reschedule(self, object event, uint64_t when):
        """Move `event` to deadline `when`, whether it is pending, cancelled or has fired; it
        becomes pending with a fresh sequence number (it sorts after events already
        scheduled for the same cycle and priority) and keeps its priority and callback."""
        cdef Event ev = self._own(event)
        ev.deadline = when
        ev.seq = self._seq
        self._seq += 1
        if ev._index >= 0:
            # Still in the heap, pending or a lazily cancelled leftover: re-key it in place.
            if not ev.pending:
                ev.pending = True
                self._cancelled_count -= 1
            self._sift_up(ev._index)
            self._sift_down(ev._index)
        else:
            ev.pending = True
            self._heap.append(ev)
            self._sift_up(len(self._heap) - 1)
        # Moving the root later can lift a cancelled leftover into its place, so re-establish
        # the pending-root invariant rather than just reading the root's deadline.
        self._settle_top()
        return ev

    cpdef int run_due(self) except -1:
        """Fire, in order, every pending event with deadline <= now, including those that
        callbacks schedule for a cycle <= now. Each callback gets its event's own deadline.
        Returns the number fired. An exception from a callback propagates; the event that
        raised counts as fired and the clock is consistent for the next call."""
        cdef int fired = 0
        cdef Event ev
        # next_deadline is NEVER both for "nothing pending" and for an event due at the very
        # last cycle, so at now == NEVER the heap itself says whether anything is left.
        while self.next_deadline <= self.now and len(self._heap) > 0:
            ev = self._pop_top()
            ev.pending = False
            self._settle_top()
            fired += 1
            ev.callback(ev.deadline)
        return fired

    def pending(self):
        """The pending events in the order they will fire."""
        cdef Event ev
        live = [ev for ev in self._heap if ev.pending]
        live.sort(key=lambda e: ((<Event>e).deadline, (<Event>e).priority, (<Event>e).seq))
        return live

    def snapshot(self):
        """Pending events as plain data, in firing order: (cycles from now, priority, name).
        Offsets rather than absolute deadlines, so devices can re-arm them after a restore;
        an overdue event (not yet run by run_due) has a negative offset."""
        cdef Event ev
        now = self.now
        return [(ev.deadline - now, ev.priority, ev.name) for ev in self.pending()]

    @property
    def next_seq(self):
        """The sequence number the next scheduled event gets (snapshots save it)."""
        return self._seq

    def set_order(self, pairs, next_seq):
        """Give pending events the sequence numbers they had when a snapshot was taken
        (`pairs`: (event, seq)) and the counter `next_seq`, so that events due on the
        same cycle fire in the saved order and so do the ones scheduled from now on."""
        cdef Event ev
        for event, seq in pairs:
            ev = self._own(event)
            ev.seq = seq
        self._seq = next_seq
        self._compact()
        self._settle_top()

    def __repr__(self):
        live = len(self._heap) - self._cancelled_count
        nxt = "never" if self.next_deadline == _NEVER else str(self.next_deadline)
        return (f"<Clock now={self.now} next_deadline={nxt} pending={live} "
                f"frequency={self.frequency}Hz>")


cdef class ClockDomain:
    """Exact conversion between CPU cycles and the ticks of a device clock.

    Both clocks start at cycle 0 = tick 0. With r = dev_hz / cpu_hz kept as a reduced
    fraction of two integers:

    * to_ticks(cycles) = floor(cycles * r): the number of device ticks that have elapsed by
      CPU cycle `cycles` (a tick that falls inside a cycle counts from the next cycle on);
    * to_cycles(ticks) = ceil(ticks / r): the first CPU cycle at or after device tick `ticks`,
      i.e. when a device edge on that tick becomes visible to the CPU.

    They form a Galois pair: to_ticks(c) >= t exactly when c >= to_cycles(t). So
    to_ticks(to_cycles(t)) == t whenever the device is no faster than the CPU, and converting
    absolute times (never summed increments) accumulates no drift. Floats are never used.
    """

    def __init__(self, cpu_hz, dev_hz):
        for label, hz in (("cpu_hz", cpu_hz), ("dev_hz", dev_hz)):
            if not isinstance(hz, (int, Fraction)) or isinstance(hz, bool):
                raise TypeError(f"{label} must be an int or a Fraction, got {hz!r}")
            if hz <= 0:
                raise ValueError(f"{label} must be positive, got {hz!r}")
        self.cpu_hz = cpu_hz
        self.dev_hz = dev_hz
        ratio = Fraction(dev_hz) / Fraction(cpu_hz)
        self._num = ratio.numerator
        self._den = ratio.denominator
        self._fast = self._num <= NEVER and self._den <= NEVER
        if self._fast:
            self._cnum = self._num
            self._cden = self._den
            self._ticks_arg_max = _NEVER // self._cnum
            self._cycles_arg_max = (_NEVER - (self._cnum - 1)) // self._cden

    @property
    def ratio(self):
        """Device ticks per CPU cycle, exactly."""
        return Fraction(self._num, self._den)

    cpdef object to_ticks(self, object cycles):
        """Device ticks elapsed by CPU cycle `cycles`: floor(cycles * dev_hz / cpu_hz)."""
        cdef uint64_t c
        if self._fast and type(cycles) is int:
            try:
                c = cycles
            except OverflowError:
                pass
            else:
                if c <= self._ticks_arg_max:
                    return c * self._cnum // self._cden
        return _as_int(cycles) * self._num // self._den

    cpdef object to_cycles(self, object ticks):
        """First CPU cycle at or after device tick `ticks`: ceil(ticks * cpu_hz / dev_hz)."""
        cdef uint64_t t
        if self._fast and type(ticks) is int:
            try:
                t = ticks
            except OverflowError:
                pass
            else:
                if t <= self._cycles_arg_max:
                    return (t * self._cden + self._cnum - 1) // self._cnum
        return -((-_as_int(ticks) * self._den) // self._num)

    def __repr__(self):
        return f"ClockDomain(cpu_hz={self.cpu_hz!r}, dev_hz={self.dev_hz!r})"
