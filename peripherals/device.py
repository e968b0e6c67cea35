"""The interface every chip model implements (one module per chip in peripherals/).

A device is *lazy*: it keeps the clock cycle it last caught up to and computes its state
from `clock.now` when the CPU touches it (as a real 8254 counter is a function of the time
left to its next terminal count).  It schedules only *edges* on the global clock (a
terminal count, a character done, an RTC update), never per-cycle polling.  Devices talk
to the CPU only through IRQ lines (`machine.set_irq`) and the bus (ports, MMIO, memory
for DMA), never by reaching into each other.
"""


class Device:
    """Base class of the chip models.

    Subclasses set `name`, claim their ports in __init__ with
    `machine.bus.register_io(first, count, read, write)` (read(port, width) -> int,
    write(port, width, value), width in bytes; `width=1` for byte registers, which the
    bus then reaches with byte accesses only), schedule edges with
    `machine.clock.schedule(cycle, callback)` (callback(deadline)), and raise or lower
    interrupt lines with `machine.set_irq(line, level)`.
    """

    name = "device"

    def __init__(self, machine):
        self.machine = machine
        self.clock = machine.clock
        self.bus = machine.bus
        machine.add_device(self)

    def reset(self):
        """Return to the power-on state (RESET pin)."""

    def get_state(self):
        """The device's state as plain data (dicts, lists, ints, str, bytes) for a
        snapshot; pending clock events are saved as offsets from `clock.now`."""
        return {}

    def set_state(self, state):
        """Restore what get_state returned (re-scheduling events from their offsets)."""

    def info(self):
        """A readable multi-line description of the registers, for the debugger."""
        return self.name
