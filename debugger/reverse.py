"""Reverse execution: automatic in-memory snapshots plus deterministic re-execution.

While the debugger runs the guest, `History` takes a snapshot (core/snapshot.py) of the
whole machine every `interval` seconds of host time; consecutive snapshots share the RAM
pages that did not change, and when their total passes the memory budget every other old
snapshot is dropped (the first is kept), so older history gets sparser.  Host input that
reaches the machine between slices (keys from the TUI or `sendkey`) is journalled with
the cycle it was applied at.

Going back to an earlier point is: restore the last snapshot before it, then run forward
to it.  A run is a pure function of the machine state and the input (docs/snapshots.md),
so the re-execution passes through exactly the states the first one did; the journal
puts the host input back at its cycles.  Every arrival is checked against the position
(cycle and instruction count) it must reach, so a divergence is an error, never a silently
wrong state.

Positions are instruction boundaries as the debugger's `step` visits them, named by
(cycle, instructions retired).  Each instruction costs at least one cycle, so cycles
alone order them; running to "the first boundary at or after cycle c" (the CPU's
run(until)) lands exactly on a boundary that a step visited.

reverse-stepi finds the previous boundary by stepping forward through a window before
the current position (4 Ki cycles, widened as needed) and going to the last boundary in
it; reverse-next does the same with a condition on the stack pointer, reverse-finish
looks for the CALL whose return address is still on the stack;
reverse-continue re-runs the stretches between snapshots, newest first, with the points
armed, and goes to the last hit before the current position.
"""
from __future__ import annotations

import time

from core import snapshot

NEVER = 0xFFFFFFFFFFFFFFFF
DEFAULT_BUDGET = 1 << 30
DEFAULT_INTERVAL = 0.25        # seconds of host time between automatic snapshots
FIRST_WINDOW = 4096            # cycles stepped through before the current position
CAPTURE_SHARE_INVERSE = 33     # the interval is at least 33 times a snapshot's cost


class ReverseError(Exception):
    """Reverse execution cannot do what was asked (no history that far back...)."""


class SerialJournal:
    """Stands between COM1 and its live host backend while history is recorded: each
    poll's answer is journalled by its cycle the first time, and when re-execution polls
    at that cycle again it gets the journalled answer, not the host's (which has moved
    on); output the guest sends again while re-executing is not sent to the host twice."""

    def __init__(self, live):
        self.live = live
        self.initial_polled = bool(live.polled)
        self.polled = self.initial_polled
        self.entries = {}               # poll cycle -> (data, polled after), when not b""/same
        self.frontier = -1              # the last cycle the live backend was polled at
        self.out = (-1, 0)              # the last output sent: (cycle, n-th at that cycle)
        self._re = (-1, 0)

    def __getattr__(self, name):
        return getattr(self.live, name)

    def poll(self, limit, cycle):
        if cycle <= self.frontier:
            data, self.polled = self.entries.get(cycle, (b"", self.polled))
            return data
        data = self.live.poll(limit, cycle)
        polled = bool(self.live.polled)
        if data or polled != self.polled:
            self.entries[cycle] = (bytes(data), polled)
        self.polled = polled
        self.frontier = cycle
        return data

    def _fresh(self, cycle):
        n = self._re[1] + 1 if self._re[0] == cycle else 1
        self._re = (cycle, n)
        if (cycle, n) <= self.out:
            return False
        self.out = (cycle, n)
        return True

    def write(self, byte, cycle):
        if self._fresh(cycle):
            self.live.write(byte, cycle)

    def set_break(self, on, cycle):
        if self._fresh(cycle):
            self.live.set_break(on, cycle)

    def rewind(self, cycle):
        """The machine goes back to `cycle`: `polled` as it was then."""
        self.polled = self.initial_polled
        for c in sorted(self.entries):
            if c >= cycle:
                break
            self.polled = self.entries[c][1]
        self._re = (-1, 0)

    def truncate(self, cycle):
        """The future after `cycle` is rewritten: poll the host from there on."""
        self.entries = {c: e for c, e in self.entries.items() if c < cycle}
        self.frontier = min(self.frontier, cycle - 1)


class History:
    """The snapshots and input journal of one debugging session (see the module doc)."""

    def __init__(self, dbg, budget=DEFAULT_BUDGET, interval=None):
        """`interval`: seconds of host time between snapshots; None for the default,
        which adapts to what a snapshot costs (a given interval is kept as it is)."""
        self.dbg = dbg
        self.adapt = interval is None
        interval = DEFAULT_INTERVAL if interval is None else interval
        self.budget = budget
        self.base_interval = self.interval = interval
        self.snapshots = []          # States, in increasing position
        self.inputs = []             # (cycle, fn) host input, in order
        self._next = 0               # how many of them the machine's state has had
        self._last = time.perf_counter()
        self.replaying = False
        # The snapshot taken at the start of the last scan (reverse-stepi): the next
        # steps back start from it instead of re-running from an older snapshot.
        self._transient = []
        self.captures = 0
        self.capture_time = 0.0
        self.serial = None
        uart = dbg.pc.chips.get("uart") if dbg.pc is not None else None
        if uart is not None and uart.backend is not None:
            self.serial = uart.backend = SerialJournal(uart.backend)
        self.take()

    def close(self):
        """Stop recording: COM1 talks to its host backend directly again."""
        uart = self.dbg.pc.chips.get("uart") if self.dbg.pc is not None else None
        if self.serial is not None and uart is not None and uart.backend is self.serial:
            uart.backend = self.serial.live
        self.serial = None

    # ------------------------------------------------------------ recording
    def position(self):
        return (self.dbg.clock.now, self.dbg.cpu.icount)

    def take(self):
        """Snapshot the machine now (if it is past the newest snapshot)."""
        pos = self.position()
        if self.snapshots and (self.snapshots[-1].cycle, self.snapshots[-1].icount) >= pos:
            return
        t0 = time.perf_counter()
        prev = self.snapshots[-1] if self.snapshots else None
        self.snapshots.append(self._capture(prev))
        self._last = time.perf_counter()
        self.capture_time += self._last - t0
        self.captures += 1
        # The interval adapts so that taking snapshots costs at most about 3% of the
        # run: a machine with more memory to compare waits longer between them.
        if self.adapt:
            self.interval = max(self.base_interval,
                                (self._last - t0) * CAPTURE_SHARE_INVERSE)
        self._trim()

    def maybe_take(self):
        """Between slices: a snapshot when `interval` of host time has passed."""
        if not self.replaying and time.perf_counter() - self._last >= self.interval:
            self.take()

    def memory(self):
        """Bytes the snapshots hold (shared pages once)."""
        counted = set()
        return sum(s.size(counted) for s in self.snapshots)

    def _trim(self):
        while len(self.snapshots) > 2 and self.memory() > self.budget:
            # Drop every other snapshot of the older half (never the first).
            half = len(self.snapshots) // 2
            keep = [s for i, s in enumerate(self.snapshots[:half]) if i % 2 == 0]
            self.snapshots = keep + self.snapshots[half:]

    def _capture(self, prev):
        # The snapshot says how much of the journal its machine has had.
        return snapshot.capture(self.dbg.pc or self.dbg.machine, prev,
                                meta={"inputs": self._next})

    def note_input(self, fn):
        """Host input applied now: journalled for re-execution.  Input given at a point
        in the past replaces the future it would change."""
        now = self.dbg.clock.now
        self.truncate(now)
        self.inputs.append((now, fn))
        self._next = len(self.inputs)

    def truncate(self, cycle):
        """Forget what was recorded after `cycle` (the future of a changed past)."""
        if self.serial is not None:
            self.serial.truncate(cycle)
        self._transient = [s for s in self._transient if s.cycle <= cycle]
        self.inputs = self.inputs[:self._next]
        self.snapshots = [s for s in self.snapshots if s.cycle <= cycle] or self.snapshots[:1]

    # ------------------------------------------------------------ moving in time
    def _restore(self, state):
        if self.serial is not None:
            self.serial.rewind(state.cycle)
        snapshot.restore(self.dbg.pc or self.dbg.machine, state, "reverse execution")
        self._next = state.meta.get("inputs", 0)

    def _snapshot_before(self, pos):
        """The latest snapshot (kept or transient) strictly before position `pos`."""
        best = None
        for s in self.snapshots + self._transient:
            if (s.cycle, s.icount) < pos and (best is None
                                               or (s.cycle, s.icount) > (best.cycle, best.icount)):
                best = s
        if best is None:
            raise ReverseError("no recorded history before cycle %d (recording started at "
                               "cycle %d)" % (pos[0], self.snapshots[0].cycle))
        return best

    def apply_inputs(self, cycle):
        """Apply the journalled input due by `cycle` that the machine has not had (a
        re-executed run reached the cycle it was given at)."""
        while self._next < len(self.inputs) and self.inputs[self._next][0] <= cycle:
            fn = self.inputs[self._next][1]
            self._next += 1
            fn()

    def next_input(self, after=None):
        """The cycle of the next journalled input the machine has not had (NEVER)."""
        return self.inputs[self._next][0] if self._next < len(self.inputs) else NEVER

    def run_to_cycle(self, cycle, stop=None):
        """Run forward to the first boundary at or after `cycle`, re-applying journalled
        input at its cycles.  The armed points stop the CPU as usual; `stop(hits)` is
        called with the hits and returns True to stop there (without it, or when it says
        False, the run goes on past them)."""
        m, cpu, clock = self.dbg.machine, self.dbg.cpu, self.dbg.clock
        while clock.now < cycle:
            self.apply_inputs(clock.now)
            nxt = min(cycle, self.next_input())
            reason = m.run(max_cycles=nxt - clock.now)
            if reason == "debug":
                hits = cpu.dbg_hits()
                if stop is not None and stop(hits):
                    return "debug"
                cpu.dbg_resume()
                continue
            if reason in ("halt", "shutdown", "stop"):
                if reason == "stop" and not cpu.shutdown and not m._reset_requested:
                    continue                 # the guest's exit request: run on through it
                return reason
        return "cycle"

    def step_once(self):
        """One step as Debugger.step takes it (a halted CPU first waits for its wakeup)."""
        m, cpu, clock = self.dbg.machine, self.dbg.cpu, self.dbg.clock
        while cpu.halted and not cpu.shutdown:
            if clock.next_deadline == NEVER or not (cpu.eflags & 0x200):
                return False
            self.run_to_cycle(min(clock.next_deadline, clock.now + 2_000_000))
            if cpu.intr:
                break
        if cpu.shutdown:
            return False
        before = clock.now
        self.apply_inputs(clock.now)
        m.step()
        cpu.dbg_hits()
        cpu.dbg_resume()
        return clock.now != before

    def goto(self, pos):
        """Bring the machine to position `pos` (cycle, icount) of the recorded history."""
        self._restore(self._snapshot_before((pos[0] + 1, 0)))
        with self._quiet():
            # A point hit inside a REP string instruction is a position between two of
            # its iterations: stop there when the armed points stop there.
            self.run_to_cycle(pos[0], lambda hits: self.position() == tuple(pos))
        if self.position() != pos:
            raise ReverseError("re-execution diverged: reached cycle %d, instruction %d; "
                               "expected cycle %d, instruction %d"
                               % (self.position() + tuple(pos)))

    def find_back(self, count=1, predicate=None):
        """The position of the `count`-th boundary before now (with `predicate()` true,
        if given), searching windows that widen towards the last snapshot and then the
        ones before it.  Leaves the machine at that position."""
        target = self.position()
        window = FIRST_WINDOW
        seg_end = target
        while True:
            snap = self._snapshot_before(seg_end)
            start = max(snap.cycle, seg_end[0] - window)
            found = self._scan(snap, start, seg_end, predicate)
            if len(found) >= count:
                pos = found[-count]
                self.goto(pos)
                return pos
            if start > snap.cycle:
                window *= 8             # widen towards the snapshot and look again
                continue
            count -= len(found)
            if snap is self.snapshots[0]:
                self.goto(target)
                raise ReverseError("no earlier instruction%s in the recorded history"
                                   % ("" if predicate is None else " that fits"))
            seg_end = (snap.cycle, snap.icount)
            window = FIRST_WINDOW

    def find_call(self, info):
        """Go back to the CALL (or INT n) that entered the current procedure: the last
        boundary before now whose instruction is one (`info()` -> (ss, esp, is_call))
        and whose pushed return address is still on the stack (ESP stayed below its
        value there, on the same stack, ever since).  Returns the position."""
        target = self.position()
        ss0, esp0, _ = info()
        later_max = esp0               # the highest ESP after the stretch being searched
        window = FIRST_WINDOW
        seg_end = target
        while True:
            snap = self._snapshot_before(seg_end)
            start = max(snap.cycle, seg_end[0] - window)
            entries = self._scan(snap, start, seg_end, None, info)
            top = later_max
            for pos, (ss, esp, is_call) in reversed(entries):
                if ss == ss0 and is_call and top < esp:
                    self.goto(pos)
                    return pos
                if ss == ss0:
                    top = max(top, esp)
            if start > snap.cycle:
                window *= 8
                continue
            if snap is self.snapshots[0]:
                self.goto(target)
                raise ReverseError("no call of the current procedure in the recorded "
                                   "history")
            later_max = top
            seg_end = (snap.cycle, snap.icount)
            window = FIRST_WINDOW

    def _scan(self, snap, start, end, predicate, info=None):
        """Boundaries in [start, end) (positions), stepping from `snap`."""
        self._restore(snap)
        out = []
        with self._quiet():
            self.run_to_cycle(start)
            if self.position() < end and self.position() > (snap.cycle, snap.icount):
                self._transient = [self._capture(snap)]
            while self.position() < end:
                pos = self.position()
                if info is not None:
                    out.append((pos, info()))
                elif predicate is None or predicate():
                    out.append(pos)
                if not self.step_once():
                    break
        return out

    def find_hits(self, stop):
        """The last position before now where `stop(hits)` (the controller's evaluation
        of the armed points) says a point stops, searching back one stretch between
        snapshots at a time; leaves the machine there and returns (position, value of
        stop).  ReverseError if there is none."""
        target = self.position()
        seg_end = target
        while True:
            snap = self._snapshot_before(seg_end)
            self._restore(snap)
            hits = []

            def note(h):
                ev = stop(h)
                if ev is not None and self.position() < target:
                    hits.append((self.position(), ev))
                return False
            with self._quiet():
                self.run_to_cycle(seg_end[0], note)
            # A hit where a later stretch starts (a snapshot taken at a stop) belongs to
            # this stretch: the later one starts after it.
            hits = [x for x in hits if x[0] <= seg_end and x[0] < target]
            if hits:
                pos, ev = hits[-1]
                self.goto(pos)
                return pos, ev
            if snap is self.snapshots[0]:
                self.goto(target)
                raise ReverseError("no earlier breakpoint, watchpoint or catchpoint hit in "
                                   "the recorded history")
            seg_end = (snap.cycle, snap.icount)

    class _Quiet:
        def __init__(self, history):
            self.h = history

        def __enter__(self):
            h = self.h
            h.replaying = True
            port = h.dbg.debugport()
            self.port = port
            self.echo = getattr(port, "echo", None)
            self.bios_echo = getattr(port, "bios_echo", None)
            if port is not None:
                port.echo = port.bios_echo = None      # the guest's output was shown once

        def __exit__(self, *exc):
            if self.port is not None:
                self.port.echo, self.port.bios_echo = self.echo, self.bios_echo
            self.h.replaying = False

    def _quiet(self):
        return History._Quiet(self)
