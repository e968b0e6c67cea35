"""Machine: the clock, the bus and the CPU assembled, and the run loop between them."""
from core.bus import Bus
from core.clock import Clock
from core.cpu import CPU
from core.models import get_model

NEVER = 0xFFFFFFFFFFFFFFFF
# The models a bus model times clock by clock (Machine(bus_timing=...)).
BUS_TIMED = ("8086", "8088")


class Machine:
    """A CPU of one model with `memory` bytes of RAM from physical address 0, and
    optionally a coprocessor beside it (`fpu`: "8087", "287" or "387" where it fits).
    An 8086/8088 is timed by its bus model unless `bus_timing` is False (then, as every
    later model, by the documented tables).

    The CPU executes a slice of instructions up to the next clock deadline (or the
    budget); due events then fire between instructions.  See docs/python-api.md.
    """

    def __init__(self, cpu="8086", memory=1 << 20, frequency=None, fpu=None, bus_timing=None):
        self.model = get_model(cpu)
        if not isinstance(memory, int) or memory <= 0:
            raise ValueError("memory must be a positive number of bytes, not %r" % (memory,))
        self.clock = Clock(frequency or self.model.frequency)
        self.bus = Bus(memory, self.model.address_bits)
        self.mem = self.bus
        # fpu: a coprocessor beside an 8086-80386 ("8087", "287", "387"; core/models.py)
        self.cpu = CPU(self.model.name, self.clock, self.bus, fpu)
        # The 8086/8088 are timed clock by clock by a model of their bus interface unit
        # and prefetch queue (core/biu.pyx, core/biu8086.py): that is how those chips
        # spend their clocks, so it is their default.  The later models use the documented
        # tables and never pay for it.  bus_timing=False gives an 8086/8088 the tables too.
        if bus_timing is None:
            bus_timing = self.model.name in BUS_TIMED
        elif bus_timing and self.model.name not in BUS_TIMED:
            raise ValueError("bus timing models the 8086 and 8088 only, not the %s (the "
                             "later models are timed by their documented tables)"
                             % self.model.name)
        self.bus_timing = None
        # (start cycle, CS, IP, cycles) of the last step through the bus model, while
        # bus_timing.record keeps its records.
        self.last_timed_step = None
        if bus_timing:
            from core.biu import BusTiming
            self.bus_timing = BusTiming(self.model.bus_bits)
            # Its recordings (version 2) give each interrupt delivery's start cycle (a
            # CYCLE entry), where its clocks begin: docs/trace-format.md.
            self.cpu.trace_cycles = True
        self.devices = []
        # The interrupt controller the CPU's INTR line comes from (peripherals/pic.py
        # installs itself here); IRQ lines go to it through set_irq.
        self.pic = None
        self._reset_requested = False
        self._hard_reset = False
        self.resets = 0

    def add_device(self, device):
        """Attach a device (peripherals.device.Device subclasses call this themselves)."""
        if device not in self.devices:
            self.devices.append(device)

    def device(self, name):
        """The attached device called `name` (e.g. "pic", "pit"), or None."""
        for d in self.devices:
            if getattr(d, "name", None) == name:
                return d
        return None

    def set_irq(self, line, level):
        """Drive ISA interrupt line `line` (0-15) high (True) or low (False)."""
        if self.pic is not None:
            self.pic.set_irq(line, level)

    def reset(self):
        """Reset the CPU (and devices); RAM keeps its contents, as on a warm reset."""
        self.cpu.reset()
        if self.bus_timing is not None:
            self.bus_timing.synced = False
        for d in self.devices:
            reset = getattr(d, "reset", None)
            if reset is not None:
                reset()

    def step(self):
        """Execute one instruction; fire events that became due; return its cycles."""
        timing = self.bus_timing
        if timing is not None:
            if timing.record or self.cpu.tracing:
                cycles = self._timed_step()
            else:
                cycles = timing.step(self)
        else:
            cycles = self.cpu.step()
        if self.clock.next_deadline <= self.clock.now:
            self.clock.run_due()
        if self._take_reset():
            self.cpu.stop_requested = False
        return cycles

    def run(self, max_cycles=None):
        """Run until the budget is spent, the CPU halts for good, a stop is requested or
        the CPU shuts down.  Returns "budget", "halt", "stop" or "shutdown"."""
        clock, cpu = self.clock, self.cpu
        end = NEVER if max_cycles is None else min(NEVER, clock.now + max_cycles)
        timing = self.bus_timing
        while True:
            if timing is None:
                reason = cpu.run(min(end, clock.next_deadline))
            else:
                if timing.record or cpu.tracing:
                    # One instruction at a time, so that each one's clocks are kept (the
                    # debugger's `info bus`) or go into the recording as its BUS entry,
                    # with everything the run loop does between instructions: a run
                    # step ends at the first instruction boundary at or past its limit
                    # (timing.run_step: the same step as the model's loop takes).
                    self._timed_step(min(end, clock.next_deadline))
                    reason = timing.result
                else:
                    # The bus model's own loop (core/biu.pyx, in C), up to the next device
                    # event or `end`, with the same boundaries.
                    reason = timing.run(self, end)
            if clock.next_deadline <= clock.now:
                clock.run_due()
            if reason == "stop" and self._take_reset():
                continue
            if reason != "budget":
                return reason
            if clock.now >= end:
                return "budget"

    def _timed_step(self, limit=None):
        """One instruction through the bus model when its records are asked for (by
        bus_timing.record, or a trace recording).  While the CPU records a trace, the
        instruction's per-clock records go into it as a BUS entry right after the
        instruction's own entries (docs/trace-format.md), which is where the reader
        looks for them; a recording of a machine without bus timing has none and pays
        nothing for them."""
        timing, cpu = self.bus_timing, self.cpu
        asked = timing.record
        if asked:
            # Whoever keeps the records (the debugger's `info bus`) also wants to know
            # which instruction they are of.
            start = (self.clock.now, cpu.get("cs"), cpu.get("ip"))
        if not cpu.tracing:
            cycles = self._model_step(limit)
        else:
            timing.record = True
            try:
                cycles = self._model_step(limit)
            finally:
                timing.record = asked
            # A step the model did not time (an NMI, a delivery out of HLT, a halted
            # CPU, an instruction it does not cover) has no records and gets no entry;
            # the next record's cycle still counts the table's time.  A BUS entry leaves
            # what the compact stream keeps implicit (expected EIP, code bytes, page
            # mapping) as it was, so the CPU's next INSN needs to know nothing of it.
            if timing.records:
                from debugger.trace import encode_bus
                cpu.trace_append(encode_bus(timing.records))
        if asked:
            self.last_timed_step = start + (cycles,)
        return cycles

    def _model_step(self, limit):
        # Machine.step: one instruction (cpu.step); Machine.run: one step of the model's
        # run loop, which may also be a halted CPU sleeping up to `limit`.
        if limit is None:
            return self.bus_timing.step(self)
        return self.bus_timing.run_step(self, limit)

    def request_reset(self, hard=False):
        """A CPU RESET from the platform (8042 pulse, port 0x92, port 0xCF9): the CPU
        restarts at its reset vector at the next instruction boundary; RAM and devices
        keep their state, as on a PC's warm reset.  `hard` (a PIIX3 hard reset through
        port 0xCF9) also resets every device, as the chipset's PCIRST# does; RAM keeps
        its contents either way."""
        self._reset_requested = True
        self._hard_reset = self._hard_reset or hard
        self.cpu.request_stop()

    def _take_reset(self):
        if self._reset_requested:
            self._reset_requested = False
            self.resets += 1
            if self._hard_reset:
                self._hard_reset = False
                self.reset()
            else:
                self.cpu.reset()
            return True
        return False

    def request_stop(self):
        """Ask the run loop to return "stop" at the next instruction boundary."""
        self.cpu.request_stop()
