"""The 16550A UART (National PC16550D): the PC's serial ports COM1-COM4.

Register map (base + offset; DLAB is LCR bit 7):

    0  RBR (read) / THR (write); DLL when DLAB=1
    1  IER;                      DLM when DLAB=1
    2  IIR (read) / FCR (write)
    3  LCR    4  MCR    5  LSR    6  MSR    7  SCR

Time.  The 1.8432 MHz crystal (XIN) is divided by the 16-bit divisor latch to give the 16x
clock (BAUDOUT), so one bit lasts 16 x divisor crystal periods and a character of start +
5..8 data + parity + 1/1.5/2 stop bits lasts a whole number of crystal periods.  The model
keeps every time as an integer count of a unit that divides both the CPU cycle and the
crystal period (from the exact ratio of core.clock.ClockDomain), so times convert to CPU
cycles exactly and nothing drifts.  A character's start bit begins at the cycle THR is
written (or, back to back, when the previous stop bit ends), and its stop bit ends exactly
one character time later; the CPU sees the edge at the first whole cycle at or after it.
(The real chip first synchronises to its 16x clock, a phase no guest can observe.)

Lazy.  Register reads and writes first catch the chip up to `clock.now` (characters that
finished shifting out, characters that finished arriving), then act.  Only edges the guest
can see are put on the global clock: the end of a character when the holding register or
FIFO refills the shift register in a way that changes THRE, a received character, the
delayed FIFO THRE interrupt, the character timeout and a break.

Host side.  A backend object carries the serial line to the host: MemoryBackend (tests and
scripts), StdioBackend, FileBackend, TcpBackend (a server on 127.0.0.1 for one client),
NullBackend and ReplayBackend.  `parse_serial_spec` turns the CLI strings `stdio`,
`file:PATH`, `tcp:127.0.0.1:PORT` and `null` into a spec whose `open()` makes the backend.
Backends that read from the host asynchronously (stdio, TCP) are polled from an event on the
guest clock every millisecond of guest time, never by blocking, so a run is a function of
its inputs: every delivery is stamped with the guest cycle of the poll that took it
(`UART.input_log`), and `UART.recording()` + ReplayBackend feed the same bytes back at the
same cycles.

The host end is a well-behaved peer: by default it waits while the receiver has no room
(`flow_control=True`, as a terminal emulator honouring RTS would), so characters typed or
pasted into a slow guest are not lost.  With flow_control=False, host bytes arrive at line
rate regardless and overrun like on a real wire.  Loopback always runs at line rate.

On a PC the chip's INTRPT output reaches the ISA IRQ line through a buffer enabled by the
OUT2 pin, so the IRQ is driven only while MCR.OUT2 is set; in loopback mode the datasheet
forces the OUT2 pin inactive, so no interrupt reaches the PIC (the IIR still works).  COM1
and COM3 (IRQ4), COM2 and COM4 (IRQ3) share their lines: the line is high while any UART
on it drives it.

See docs/devices/uart.md.
"""
import collections
import json
import os
import select
import socket
import sys
from fractions import Fraction

from core.clock import ClockDomain
from peripherals.device import Device

XTAL_HZ = 1_843_200             # the PC's UART crystal
FIFO_SIZE = 16
TRIGGER_LEVELS = (1, 4, 8, 14)  # FCR bits 7:6
COM_PORTS = {1: (0x3F8, 4), 2: (0x2F8, 3), 3: (0x3E8, 4), 4: (0x2E8, 3)}
POLL_HZ = 1000                  # host polls per second of guest time
HOST_QUEUE_LOW = 64             # take more host input only below this many waiting bytes
POLL_LIMIT = 4096               # most bytes taken from the host per poll

# Register offsets.
RBR = THR = DLL = 0
IER = DLM = 1
IIR = FCR = 2
LCR = 3
MCR = 4
LSR = 5
MSR = 6
SCR = 7

IER_ERBFI = 0x01      # received data available (and, in FIFO mode, character timeout)
IER_ETBEI = 0x02      # transmitter holding register empty
IER_ELSI = 0x04       # receiver line status
IER_EDSSI = 0x08      # modem status

IIR_NONE = 0x01
IIR_MS = 0x00
IIR_THRE = 0x02
IIR_RDA = 0x04
IIR_RLS = 0x06
IIR_CTI = 0x0C        # character timeout (FIFO mode)
IIR_FIFO = 0xC0       # FIFOs enabled (16550A)

FCR_ENABLE = 0x01
FCR_RX_RESET = 0x02
FCR_TX_RESET = 0x04
FCR_DMA = 0x08

LCR_WLS = 0x03
LCR_STB = 0x04
LCR_PEN = 0x08
LCR_EPS = 0x10
LCR_STICK = 0x20
LCR_BREAK = 0x40
LCR_DLAB = 0x80

MCR_DTR = 0x01
MCR_RTS = 0x02
MCR_OUT1 = 0x04
MCR_OUT2 = 0x08
MCR_LOOP = 0x10

LSR_DR = 0x01
LSR_OE = 0x02
LSR_PE = 0x04
LSR_FE = 0x08
LSR_BI = 0x10
LSR_THRE = 0x20
LSR_TEMT = 0x40
LSR_RXFE = 0x80       # error in RCVR FIFO

MSR_DCTS = 0x01
MSR_DDSR = 0x02
MSR_TERI = 0x04
MSR_DDCD = 0x08
MSR_CTS = 0x10
MSR_DSR = 0x20
MSR_RI = 0x40
MSR_DCD = 0x80

_NEVER = 1 << 120     # "no edge": later than any reachable time


class SerialSpecError(ValueError):
    """A --serial string that does not say what to connect."""


# ====================================================================== the chip

class UART(Device):
    """One 16550A.  `com` (1-4) picks the PC's base port and IRQ; `base`/`irq` override.

    backend: where the serial line goes on the host (see the backend classes; None = null).
    flow_control: the host end waits while the receiver has no room (see the module doc).
    """

    def __init__(self, machine, com=1, backend=None, *, base=None, irq=None, name=None,
                 flow_control=True):
        if base is None or irq is None:
            if com not in COM_PORTS:
                raise ValueError("com must be 1, 2, 3 or 4 (or give base= and irq=), not %r"
                                 % (com,))
            base = COM_PORTS[com][0] if base is None else base
            irq = COM_PORTS[com][1] if irq is None else irq
        self.name = name or ("com%d" % com if COM_PORTS.get(com, (None,))[0] == base
                             else "uart%X" % base)
        self.base = base
        self.irq = irq
        self.flow_control = flow_control
        super().__init__(machine)
        self.dom = ClockDomain(self.clock.frequency, XTAL_HZ)
        # Internal times are integers in a unit that divides both periods: a CPU cycle is
        # _A units and a crystal period _B units (crystal periods per cycle = _A / _B).
        self._A = self.dom.ratio.numerator
        self._B = self.dom.ratio.denominator
        # Byte registers: the bus turns a wider access into byte cycles on consecutive ports.
        self.bus.register_io(base, 8, self._io_read, self._io_write, width=1)
        self.backend = None
        self._event = None
        self._event_cycle = None
        self._poll_event = None
        self._irq_drive = False
        self._t = self._units(self.clock.now)
        # Not touched by a master reset (datasheet, "Reset" table).  The divisor latch is
        # undefined at power-on; 12 (9600 baud) is a useful guess.
        self.dll, self.dlm, self.scr = 12, 0, 0
        self._rbr_last = 0
        # Host side: CTS, DSR and DCD asserted (a terminal is attached), RI not.
        self._ext_msr = MSR_CTS | MSR_DSR | MSR_DCD
        self._hostq = collections.deque()           # (byte, LSR error bits) not yet sent
        self.input_log = []                         # (cycle, bytes) delivered by the backend
        self.tx_count = self.rx_count = 0
        self.tx_dropped = 0                          # THR writes with no room
        self._mr()
        self.attach(backend)

    # ------------------------------------------------------------------ reset

    def reset(self):
        """Master reset (MR pin): the registers the datasheet lists go to their reset
        values; DLL, DLM, SCR and RBR keep theirs; the host connection stays."""
        self._sync()
        self._mr()

    def _mr(self):
        t = self._t
        self.ier = 0
        self.lcr = 0
        self.mcr = 0
        self.fifo_enabled = False
        self.dma_mode = False
        self.trigger = 1
        self._char = self._char_units()
        self._txq = collections.deque()             # THR, or the XMIT FIFO
        self._tsr = None                            # the character shifting out
        self._tsr_end = 0
        self._tx_two = False                        # two bytes in the XMIT FIFO at once
        self._thre_ip = False                       # THRE interrupt latched
        self._thre_at = None                        # delayed FIFO THRE interrupt, time
        self._rxq = collections.deque()             # RBR, or the RCVR FIFO: (byte, errs)
        rsr = getattr(self, "_rsr", None)
        if rsr is not None:                         # the host resends a cut-off character
            self._hostq.appendleft(rsr)
        self._rsr = None                            # a host character arriving
        self._rsr_end = 0
        self._rx_activity = t                       # last arrival or RBR read (timeout)
        self._lsr_err = 0                           # OE | PE | FE | BI as LSR shows them
        self._fifo_err = False                      # LSR bit 7
        self._brk_at = None                         # loopback break detected at this time
        self._msr_delta = 0
        self._msr_in = self._inputs()
        self._rx_start(t)
        self._after(t)

    # ------------------------------------------------------------------ host side

    def attach(self, backend):
        """Connect the serial line to `backend` (None: nothing; output is discarded)."""
        if self._poll_event is not None:
            self.clock.cancel(self._poll_event)
            self._poll_event = None
        self.backend = backend
        self._backend_polled = bool(backend is not None and backend.polled)
        self._poll_end = None
        if backend is None:
            return
        now = self.clock.now
        first = backend.initial_input(now)
        if first:
            self._deliver(first, now)
        if backend.polled:
            self._poll_event = self.clock.schedule(now + self._poll_period(), self._on_poll)

    def close(self):
        """Flush and close the backend and stop polling it."""
        self._sync()
        if self._poll_event is not None:
            self.clock.cancel(self._poll_event)
            self._poll_event = None
        if self.backend is not None:
            self.backend.close()

    def receive(self, data, *, parity_error=False, framing_error=False):
        """The host sends `data` (bytes) now, at `clock.now`.  Each byte then takes one
        character time on the wire.  The error flags mark every byte as received with a
        parity or framing error (a noisy line, for tests)."""
        errs = (LSR_PE if parity_error else 0) | (LSR_FE if framing_error else 0)
        t = self._sync()
        self._hostq.extend((b, errs) for b in bytes(data))
        self._rx_start(t)
        self._after(t)

    def receive_break(self):
        """The host holds the line at space for a character time: the receiver reports a
        break (BI, and FE since the stop bit is a space) with a zero character."""
        t = self._sync()
        self._hostq.append((0, LSR_BI | LSR_FE))
        self._rx_start(t)
        self._after(t)

    def set_modem_inputs(self, *, cts=None, dsr=None, ri=None, dcd=None):
        """Drive the modem status inputs from the host side (True = asserted)."""
        t = self._sync()
        for flag, bit in ((cts, MSR_CTS), (dsr, MSR_DSR), (ri, MSR_RI), (dcd, MSR_DCD)):
            if flag is not None:
                self._ext_msr = (self._ext_msr | bit) if flag else (self._ext_msr & ~bit)
        self._inputs_changed()
        self._after(t)

    def recording(self):
        """The host input so far as plain data, for ReplayBackend."""
        return {"polled": self._backend_polled, "poll_hz": POLL_HZ,
                "poll_end": self._poll_end,
                "input": [(c, bytes(d)) for c, d in self.input_log]}

    def _deliver(self, data, cycle):
        self.input_log.append((cycle, bytes(data)))
        t = max(self._units(cycle), self._t)
        if t > self._t:
            self._advance(t)
        self._hostq.extend((b, 0) for b in data)
        self._rx_start(t)
        self._after(t)

    def _poll_period(self):
        return max(1, self.clock.frequency // POLL_HZ)

    def _on_poll(self, deadline):
        backend = self.backend
        if backend is None or not backend.polled:
            self._poll_event = None
            return
        limit = POLL_LIMIT if len(self._hostq) < HOST_QUEUE_LOW else 0
        data = backend.poll(limit, deadline)
        if data:
            self._deliver(data, deadline)
        if backend.polled:
            self.clock.reschedule(self._poll_event, deadline + self._poll_period())
        else:
            self._poll_event = None
            self._poll_end = deadline       # the host input ended (end of file)

    # ------------------------------------------------------------------ time

    def _units(self, cycle):
        return cycle * self._A

    def _cycle(self, units):
        """The first CPU cycle at or after time `units`."""
        return -(-units // self._A)

    def _char_units(self):
        return self._char_ticks() * self._B

    def _char_ticks(self):
        """Crystal periods per character at the current divisor and LCR."""
        lcr = self.lcr
        div = (self.dlm << 8 | self.dll) or 0x10000      # a 16-bit counter loaded with 0
        bits = 1 + 5 + (lcr & LCR_WLS) + (1 if lcr & LCR_PEN else 0)
        if not lcr & LCR_STB:
            stop16 = 16
        else:
            stop16 = 24 if (lcr & LCR_WLS) == 0 else 32     # 1.5 stop bits with 5 data bits
        return div * (16 * bits + stop16)

    @property
    def divisor(self):
        return self.dlm << 8 | self.dll

    @property
    def baud(self):
        """The bit rate as a Fraction (crystal / 16 / divisor)."""
        return Fraction(XTAL_HZ, 16 * ((self.dlm << 8 | self.dll) or 0x10000))

    @property
    def char_cycles(self):
        """One character time in CPU cycles, exactly (a Fraction)."""
        return Fraction(self._char, self._A)

    def _bit_units(self):
        return 16 * ((self.dlm << 8 | self.dll) or 0x10000) * self._B

    def _sync(self):
        """Catch up to clock.now; return the current time (units)."""
        t = self._units(self.clock.now)
        if t < self._t:
            t = self._t
        if t >= self._next_tick:
            self._advance(t)
        self._t = t
        return t

    def _advance(self, t):
        """Process every internal edge up to and including time t, in order."""
        while True:
            e = _NEVER
            which = 0
            if self._tsr is not None:
                e, which = self._tsr_end, 1
            if self._rsr is not None and self._rsr_end < e:
                e, which = self._rsr_end, 2
            if self._thre_at is not None and self._thre_at < e:
                e, which = self._thre_at, 3
            if self._brk_at is not None and self._brk_at < e:
                e, which = self._brk_at, 4
            if e > t:
                break
            if which == 1:
                self._tx_done(e)
            elif which == 2:
                self._rx_done(e)
            elif which == 3:
                self._thre_at = None
                self._thre_ip = True
            else:
                # The receiver saw a whole character time of space: one zero character
                # with BI (and FE), then nothing until the line goes back to mark.
                self._brk_at = None
                self._rx_arrive(e, 0, LSR_BI | LSR_FE)
        self._t = max(self._t, t)

    def _after(self, t):
        """Re-arm the clock event for the next edge and update the IRQ output."""
        nxt = _NEVER
        if self._tsr is not None:
            nxt = self._tsr_end
        if self._rsr is not None and self._rsr_end < nxt:
            nxt = self._rsr_end
        if self._thre_at is not None and self._thre_at < nxt:
            nxt = self._thre_at
        if self._brk_at is not None and self._brk_at < nxt:
            nxt = self._brk_at
        self._next_tick = nxt
        # The clock event: the same edges, except that in FIFO mode without loopback the
        # ends of the characters before the FIFO runs dry change nothing the guest can see
        # (THRE stays 0), so the event waits for the one that empties it.
        wake = nxt
        if (self._tsr is not None and nxt == self._tsr_end and self._txq
                and self.fifo_enabled and not self.mcr & MCR_LOOP
                and not self.lcr & LCR_BREAK):
            wake = self._tsr_end + (len(self._txq) - 1) * self._char
            for other in (self._rsr_end if self._rsr is not None else _NEVER,
                          self._thre_at if self._thre_at is not None else _NEVER,
                          self._brk_at if self._brk_at is not None else _NEVER):
                wake = min(wake, other)
        if self.fifo_enabled and self._rxq:
            timeout = self._rx_activity + 4 * self._char
            if t < timeout < wake:
                wake = timeout
        if wake >= _NEVER:
            if self._event is not None and self._event_cycle is not None:
                self.clock.cancel(self._event)
                self._event_cycle = None
        else:
            cycle = self._cycle(wake)
            if cycle != self._event_cycle:
                if self._event is None:
                    self._event = self.clock.schedule(cycle, self._on_edge)
                else:
                    self.clock.reschedule(self._event, cycle)
                self._event_cycle = cycle
        self._update_irq(t)

    def _on_edge(self, deadline):
        self._event_cycle = None
        t = self._units(deadline)
        if t < self._t:
            t = self._t
        if t >= self._next_tick:
            self._advance(t)
        self._t = t
        self._after(t)

    # ------------------------------------------------------------------ transmitter

    def _tx_load(self, t):
        """THR / FIFO top -> TSR at time t; the start bit begins at t."""
        self._tsr = self._txq.popleft() & ((1 << (5 + (self.lcr & LCR_WLS))) - 1)
        self._tsr_end = t + self._char
        if not self._txq:
            self._thre_rises(t)

    def _thre_rises(self, t):
        # PC16550D, FIFO interrupt mode: the XMIT FIFO empty interrupt comes one character
        # time less the last stop bit late unless two bytes sat in the FIFO together since
        # THRE was last 1 (so a lone byte does not interrupt at once).  LSR.THRE is not
        # delayed.  In 16450 mode the interrupt follows THRE at once.
        if self.fifo_enabled and not self._tx_two:
            self._thre_at = t + self._char - self._bit_units()
        else:
            self._thre_at = None
            self._thre_ip = True
        self._tx_two = False

    def _tx_done(self, e):
        byte = self._tsr
        self._tsr = None
        if self.lcr & LCR_BREAK:
            pass                        # SOUT held at space: nobody receives it
        elif self.mcr & MCR_LOOP:
            self._rx_arrive(e, byte, 0)
        else:
            self.tx_count += 1
            if self.backend is not None:
                self.backend.write(byte, self._cycle(e))
        if self._txq:
            self._tx_load(e)

    def _write_thr(self, value, t):
        self._thre_ip = False
        self._thre_at = None
        q = self._txq
        if self.fifo_enabled:
            if len(q) < FIFO_SIZE:
                q.append(value)
                if len(q) >= 2:
                    self._tx_two = True
            else:
                self.tx_dropped += 1
        elif q:
            q[0] = value                # the holding register is simply overwritten
            self.tx_dropped += 1
        else:
            q.append(value)
        if self._tsr is None:
            self._tx_load(t)

    # ------------------------------------------------------------------ receiver

    def _rx_start(self, t):
        """Start the next host character on the wire at time t, if it may go."""
        if self._rsr is not None or not self._hostq or self.mcr & MCR_LOOP:
            return
        if self.flow_control and len(self._rxq) >= (FIFO_SIZE if self.fifo_enabled else 1):
            return
        self._rsr = self._hostq.popleft()
        self._rsr_end = t + self._char

    def _rx_done(self, e):
        byte, errs = self._rsr
        self._rsr = None
        self._rx_arrive(e, byte, errs)
        self._rx_start(e)

    def _rx_arrive(self, e, byte, errs):
        byte &= (1 << (5 + (self.lcr & LCR_WLS))) - 1
        q = self._rxq
        if self.fifo_enabled:
            if len(q) >= FIFO_SIZE:
                # The FIFO keeps its contents; the character in the shift register is lost.
                self._lsr_err |= LSR_OE
                return
            q.append((byte, errs))
            if len(q) == 1:
                self._lsr_err |= errs   # errors show when their character is at the top
            if errs:
                self._fifo_err = True
        else:
            if q:
                # 16450 mode: the new character overwrites the unread one in RBR.
                self._lsr_err |= LSR_OE
                q.clear()
            q.append((byte, errs))
            self._lsr_err |= errs
        self._rx_activity = e
        self.rx_count += 1

    def _read_rbr(self, t):
        q = self._rxq
        if not q:
            return self._rbr_last
        byte = q.popleft()[0]
        self._rbr_last = byte
        if q:
            self._lsr_err |= q[0][1]
        self._rx_activity = t
        self._rx_start(t)
        return byte

    def _timeout(self, t):
        return (self.fifo_enabled and bool(self._rxq)
                and t >= self._rx_activity + 4 * self._char)

    # ------------------------------------------------------------------ status

    def _lsr(self):
        v = self._lsr_err
        if self._rxq:
            v |= LSR_DR
        if not self._txq:
            v |= LSR_THRE
            if self._tsr is None:
                v |= LSR_TEMT
        if self.fifo_enabled and self._fifo_err:
            v |= LSR_RXFE
        return v

    def _iir(self, t):
        ier = self.ier
        q = self._rxq
        if ier & IER_ELSI and self._lsr_err:
            iid = IIR_RLS
        elif ier & IER_ERBFI and q and (not self.fifo_enabled or len(q) >= self.trigger):
            iid = IIR_RDA
        elif ier & IER_ERBFI and self._timeout(t):
            iid = IIR_CTI
        elif ier & IER_ETBEI and self._thre_ip:
            iid = IIR_THRE
        elif ier & IER_EDSSI and self._msr_delta:
            iid = IIR_MS
        else:
            iid = IIR_NONE
        return iid | (IIR_FIFO if self.fifo_enabled else 0)

    def _inputs(self):
        m = self.mcr
        if m & MCR_LOOP:
            # Loopback: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD inside the chip.
            return ((m & MCR_RTS) << 3 | (m & MCR_DTR) << 5
                    | (m & MCR_OUT1) << 4 | (m & MCR_OUT2) << 4)
        return self._ext_msr

    def _inputs_changed(self):
        new = self._inputs()
        old = self._msr_in
        diff = old ^ new
        delta = 0
        if diff & MSR_CTS:
            delta |= MSR_DCTS
        if diff & MSR_DSR:
            delta |= MSR_DDSR
        if diff & MSR_DCD:
            delta |= MSR_DDCD
        if old & MSR_RI and not new & MSR_RI:
            delta |= MSR_TERI         # trailing edge: RI went from asserted to not
        self._msr_delta |= delta
        self._msr_in = new

    @property
    def irq_output(self):
        """Whether this UART drives its IRQ line now (INTRPT gated by OUT2)."""
        return self._irq_drive

    def _update_irq(self, t):
        drive = not (self._iir(t) & 1) and (self.mcr & (MCR_OUT2 | MCR_LOOP)) == MCR_OUT2
        if drive != self._irq_drive:
            self._irq_drive = drive
            level = drive or any(
                d is not self and isinstance(d, UART) and d.irq == self.irq and d._irq_drive
                for d in self.machine.devices)
            self.machine.set_irq(self.irq, level)

    # ------------------------------------------------------------------ ports

    def _io_read(self, port, width):
        return self.read_register(port - self.base)

    def _io_write(self, port, width, value):
        self.write_register(port - self.base, value)

    def read_register(self, offset):
        """A guest read of register `offset` (0-7), with its side effects."""
        t = self._sync()
        dlab = self.lcr & LCR_DLAB
        if offset == RBR:
            v = self.dll if dlab else self._read_rbr(t)
        elif offset == IER:
            v = self.dlm if dlab else self.ier
        elif offset == IIR:
            v = self._iir(t)
            if (v & 0x0F) == IIR_THRE:
                self._thre_ip = False   # reading IIR clears THRE when it is the source
        elif offset == LCR:
            v = self.lcr
        elif offset == MCR:
            v = self.mcr
        elif offset == LSR:
            v = self._lsr()
            self._lsr_err = 0
            self._fifo_err = any(e for _, e in self._rxq)
        elif offset == MSR:
            v = self._msr_in | self._msr_delta
            self._msr_delta = 0
        else:
            v = self.scr
        self._after(t)
        return v

    def write_register(self, offset, value):
        """A guest write of `value` to register `offset` (0-7)."""
        t = self._sync()
        value &= 0xFF
        dlab = self.lcr & LCR_DLAB
        if offset == THR:
            if dlab:
                self.dll = value
                self._char = self._char_units()
            else:
                self._write_thr(value, t)
        elif offset == IER:
            if dlab:
                self.dlm = value
                self._char = self._char_units()
            else:
                old = self.ier
                self.ier = value & 0x0F
                # Enabling ETBEI while THRE is 1 raises the THRE interrupt.
                if value & IER_ETBEI and not old & IER_ETBEI and not self._txq:
                    self._thre_ip = True
                    self._thre_at = None
                    self._tx_two = False
        elif offset == FCR:
            self._write_fcr(value, t)
        elif offset == LCR:
            old = self.lcr
            self.lcr = value
            self._char = self._char_units()
            if (old ^ value) & LCR_BREAK:
                self._break_changed(t)
        elif offset == MCR:
            old = self.mcr
            self.mcr = value & 0x1F
            if (old ^ self.mcr) & MCR_LOOP:
                self._loop_changed(t)
            self._inputs_changed()
        elif offset == SCR:
            self.scr = value
        self._after(t)

    def _write_fcr(self, value, t):
        enable = bool(value & FCR_ENABLE)
        if enable != self.fifo_enabled:
            # Changing FCR0 empties both FIFOs; the next THRE interrupt is not delayed.
            self.fifo_enabled = enable
            had_tx = bool(self._txq)
            self._txq.clear()
            self._rxq.clear()
            self._fifo_err = False
            self._tx_two = True
            if had_tx:
                self._thre_rises(t)
            self._rx_start(t)
        if not enable:
            return                      # the other bits are written only with FCR0 = 1
        if value & FCR_RX_RESET:
            self._rxq.clear()           # the shift register is not touched
            self._fifo_err = False
            self._rx_start(t)
        if value & FCR_TX_RESET and self._txq:
            self._txq.clear()
            self._thre_rises(t)
        self.dma_mode = bool(value & FCR_DMA)
        self.trigger = TRIGGER_LEVELS[value >> 6]

    def _break_changed(self, t):
        on = bool(self.lcr & LCR_BREAK)
        if self.mcr & MCR_LOOP:
            self._brk_at = t + self._char if on else None
        elif self.backend is not None:
            self.backend.set_break(on, self._cycle(t))

    def _loop_changed(self, t):
        if self.mcr & MCR_LOOP:
            # SIN is disconnected: a host character on its way is cut off and resent later.
            if self._rsr is not None:
                self._hostq.appendleft(self._rsr)
                self._rsr = None
            if self.lcr & LCR_BREAK:
                self._brk_at = t + self._char
        else:
            self._brk_at = None
            self._rx_start(t)

    # ------------------------------------------------------------------ snapshots

    def get_state(self):
        """Plain data; times are relative to now, in units of 1 / (CPU Hz x crystal Hz / gcd)
        seconds (a cycle is `_A` units, a crystal period `_B`; see Device.get_state)."""
        t = self._sync()

        def rel(x):
            return None if x is None else x - t

        return {
            "ier": self.ier, "lcr": self.lcr, "mcr": self.mcr, "scr": self.scr,
            "dll": self.dll, "dlm": self.dlm, "fifo_enabled": self.fifo_enabled,
            "dma_mode": self.dma_mode, "trigger": self.trigger,
            "txq": list(self._txq), "tsr": self._tsr,
            "tsr_end": rel(self._tsr_end if self._tsr is not None else None),
            "tx_two": self._tx_two, "thre_ip": self._thre_ip, "thre_at": rel(self._thre_at),
            "rxq": [list(x) for x in self._rxq],
            "rsr": None if self._rsr is None else list(self._rsr),
            "rsr_end": rel(self._rsr_end if self._rsr is not None else None),
            "rx_activity": rel(self._rx_activity), "lsr_err": self._lsr_err,
            "fifo_err": self._fifo_err, "rbr_last": self._rbr_last,
            "brk_at": rel(self._brk_at),
            "ext_msr": self._ext_msr, "msr_in": self._msr_in, "msr_delta": self._msr_delta,
            "hostq": [list(x) for x in self._hostq],
            "irq_drive": self._irq_drive,
            "tx_count": self.tx_count, "rx_count": self.rx_count,
            "tx_dropped": self.tx_dropped,
            "poll_in": (self._poll_event.deadline - self.clock.now
                        if self._poll_event is not None and self._poll_event.pending
                        else None),
        }

    def set_state(self, s):
        # Now is the restored clock's now, which may lie before the time this UART had
        # caught up to (a snapshot of the past): nothing is run to get there.
        t = self._units(self.clock.now)
        self._t = t

        def absolute(x):
            return None if x is None else t + x

        self.ier, self.lcr, self.mcr, self.scr = s["ier"], s["lcr"], s["mcr"], s["scr"]
        self.dll, self.dlm = s["dll"], s["dlm"]
        self.fifo_enabled, self.dma_mode = s["fifo_enabled"], s["dma_mode"]
        self.trigger = s["trigger"]
        self._char = self._char_units()
        self._txq = collections.deque(s["txq"])
        self._tsr = s["tsr"]
        self._tsr_end = absolute(s["tsr_end"]) or 0
        self._tx_two, self._thre_ip = s["tx_two"], s["thre_ip"]
        self._thre_at = absolute(s["thre_at"])
        self._rxq = collections.deque(tuple(x) for x in s["rxq"])
        self._rsr = None if s["rsr"] is None else tuple(s["rsr"])
        self._rsr_end = absolute(s["rsr_end"]) or 0
        self._rx_activity = absolute(s["rx_activity"])
        self._lsr_err, self._fifo_err = s["lsr_err"], s["fifo_err"]
        self._rbr_last = s["rbr_last"]
        self._brk_at = absolute(s["brk_at"])
        self._ext_msr, self._msr_in = s["ext_msr"], s["msr_in"]
        self._msr_delta = s["msr_delta"]
        self._hostq = collections.deque(tuple(x) for x in s["hostq"])
        self.tx_count, self.rx_count = s["tx_count"], s["rx_count"]
        self.tx_dropped = s["tx_dropped"]
        if self._poll_event is not None:
            self.clock.cancel(self._poll_event)
            self._poll_event = None
        if self.backend is not None and self.backend.polled:
            offset = s["poll_in"] if s["poll_in"] is not None else self._poll_period()
            self._poll_event = self.clock.schedule(self.clock.now + offset, self._on_poll)
        self._irq_drive = not s["irq_drive"]     # force _update_irq to drive the line
        self._after(t)

    # ------------------------------------------------------------------ debugger view

    def info(self):
        t = self._sync()
        lcr = self.lcr
        parity = "N"
        if lcr & LCR_PEN:
            parity = ("MS"[bool(lcr & LCR_EPS)] if lcr & LCR_STICK
                      else "OE"[bool(lcr & LCR_EPS)])
        stop = ("1" if not lcr & LCR_STB else "1.5" if (lcr & LCR_WLS) == 0 else "2")
        baud = self.baud
        baud_text = str(baud.numerator) if baud.denominator == 1 else "%.2f" % float(baud)
        char_us = self._char_ticks() * 1_000_000 / XTAL_HZ
        iir = self._iir(t)
        names = {IIR_NONE: "none", IIR_RLS: "line status", IIR_RDA: "data available",
                 IIR_CTI: "character timeout", IIR_THRE: "THR empty", IIR_MS: "modem status"}
        if self._tsr is not None:
            shifting = "shifting 0x%02X until cycle %d" % (
                self._tsr, self._cycle(self._tsr_end))
        else:
            shifting = "shift register empty"
        if self._rsr is not None:
            receiving = "receiving 0x%02X until cycle %d" % (
                self._rsr[0], self._cycle(self._rsr_end))
        else:
            receiving = "receiver idle"
        backend = self.backend.describe() if self.backend is not None else "not connected"
        mode = "FIFO (trigger %d%s)" % (self.trigger, ", DMA mode 1" if self.dma_mode else "") \
            if self.fifo_enabled else "16450 (no FIFOs)"
        return "\n".join([
            "%s: 16550A at 0x%03X, IRQ %d (%s)%s" % (
                self.name.upper(), self.base, self.irq,
                "driven" if self._irq_drive else "not driven",
                ", loopback" if self.mcr & MCR_LOOP else ""),
            "line: %s baud %d%s%s (divisor %d), %s%s, character %.1f us = %d crystal periods"
            % (baud_text, 5 + (lcr & LCR_WLS), parity, stop, self.divisor,
               mode, ", BREAK" if lcr & LCR_BREAK else "", char_us, self._char_ticks()),
            "IER=%02X IIR=%02X (%s) LCR=%02X MCR=%02X LSR=%02X MSR=%02X SCR=%02X" % (
                self.ier, iir, names[iir & 0x0F], lcr, self.mcr, self._lsr(),
                self._msr_in | self._msr_delta, self.scr),
            "transmit: %d/%d queued, %s; %d sent, %d dropped" % (
                len(self._txq), FIFO_SIZE if self.fifo_enabled else 1, shifting,
                self.tx_count, self.tx_dropped),
            "receive: %d/%d queued, %s; %d received; host has %d waiting" % (
                len(self._rxq), FIFO_SIZE if self.fifo_enabled else 1, receiving,
                self.rx_count, len(self._hostq)),
            "host: %s" % backend,
        ])


# ====================================================================== host backends

class Backend:
    """The host end of the serial line.  Subclasses override what they need.

    write(byte, cycle): a character finished (its stop bit ended) at guest `cycle`.
    poll(limit, cycle) -> bytes: host input available now, at most `limit` bytes, never
        blocking; called every millisecond of guest time while `polled` is true.
    initial_input(cycle) -> bytes: input there from the start (a file), read at attach.
    set_break(on, cycle): the guest started or ended a break (LCR bit 6).
    """

    polled = False

    def write(self, byte, cycle):
        pass

    def poll(self, limit, cycle):
        return b""

    def initial_input(self, cycle):
        return b""

    def set_break(self, on, cycle):
        pass

    def flush(self):
        pass

    def close(self):
        self.flush()

    def describe(self):
        return type(self).__name__


class NullBackend(Backend):
    """Nothing attached: output is discarded, nothing ever arrives."""

    def describe(self):
        return "null"


class MemoryBackend(Backend):
    """Keeps what the guest sends, with the cycle each character finished
    (`output`, `stamps`, `text`, `breaks`).  `feed(data)` queues host input that a polled
    backend (polled=True) hands over at the next poll; otherwise use UART.receive."""

    def __init__(self, polled=False):
        self._out = bytearray()
        self.stamps = []
        self.breaks = []
        self._in = bytearray()
        self.polled = polled

    def write(self, byte, cycle):
        self._out.append(byte)
        self.stamps.append(cycle)

    def set_break(self, on, cycle):
        self.breaks.append((on, cycle))

    def feed(self, data):
        self._in += data

    def poll(self, limit, cycle):
        data = bytes(self._in[:limit])
        del self._in[:limit]
        return data

    @property
    def output(self):
        return bytes(self._out)

    @property
    def text(self):
        return self._out.decode("latin-1")

    def clear(self):
        self._out.clear()
        self.stamps.clear()
        self.breaks.clear()

    def describe(self):
        return "memory (%d bytes out, %d waiting in)" % (len(self._out), len(self._in))


class ReplayBackend(MemoryBackend):
    """Plays back `UART.recording()`: each recorded delivery is handed over at the first
    poll at or after its cycle (the same poll, when the machine runs the same way).  It is
    polled when the recorded backend was, and stops where that one's input ended, so the
    clock sees the same events as in the recorded run.  Guest output is kept as in
    MemoryBackend."""

    def __init__(self, recording):
        super().__init__(polled=bool(recording.get("polled")))
        self._entries = collections.deque((int(c), bytes(d)) for c, d in recording["input"])
        self._poll_end = recording.get("poll_end")

    def _due(self, cycle, limit):
        out = bytearray()
        while self._entries and self._entries[0][0] <= cycle and len(out) < limit:
            out += self._entries.popleft()[1]
        return bytes(out)

    def initial_input(self, cycle):
        return self._due(cycle, 1 << 62)

    def poll(self, limit, cycle):
        data = self._due(cycle, limit) if limit else b""
        if self._poll_end is not None and cycle >= self._poll_end:
            self.polled = False
        return data

    @property
    def remaining(self):
        return len(self._entries)

    def describe(self):
        return "replay (%d deliveries left)" % len(self._entries)


def save_recording(recording, path):
    """Write UART.recording() to `path` as JSON (bytes as hex)."""
    with open(path, "w") as f:
        json.dump({"polled": recording["polled"], "poll_hz": recording.get("poll_hz", POLL_HZ),
                   "poll_end": recording.get("poll_end"),
                   "input": [[c, d.hex()] for c, d in recording["input"]]}, f)
        f.write("\n")


def load_recording(path):
    with open(path) as f:
        data = json.load(f)
    return {"polled": bool(data["polled"]), "poll_hz": data.get("poll_hz", POLL_HZ),
            "poll_end": data.get("poll_end"),
            "input": [(int(c), bytes.fromhex(d)) for c, d in data["input"]]}


class _StreamOutput:
    """Output to a binary stream, flushed at newlines and polls (a person watching sees
    whole lines and prompts); after a write error it stops and keeps the error."""

    def __init__(self, stream):
        self._stream = stream
        self._buf = bytearray()
        self.failed = None

    def put(self, byte):
        self._buf.append(byte)
        if byte == 0x0A or len(self._buf) >= 4096:
            self.flush()

    def flush(self):
        if self.failed is not None or not self._buf or self._stream is None:
            self._buf.clear()
            return
        try:
            self._stream.write(bytes(self._buf))
            self._stream.flush()
        except (OSError, ValueError) as e:
            self.failed = e
        self._buf.clear()


class StdioBackend(Backend):
    """Guest output to stdout; guest input from stdin, read without blocking (select) at
    each poll until end of file."""

    def __init__(self, stdin=None, stdout=None):
        stdin = sys.stdin if stdin is None else stdin
        stdout = sys.stdout if stdout is None else stdout
        if hasattr(stdout, "buffer"):
            stdout.flush()
            stdout = stdout.buffer
        self._out = _StreamOutput(stdout)
        try:
            self._fd = stdin.fileno()
        except (AttributeError, OSError, ValueError):
            self._fd = None             # no real stdin (pytest captures it): output only
        self.polled = self._fd is not None

    def write(self, byte, cycle):
        self._out.put(byte)

    def poll(self, limit, cycle):
        self._out.flush()
        if self._fd is None or not limit:
            return b""
        try:
            ready, _, _ = select.select([self._fd], [], [], 0)
            if not ready:
                return b""
            data = os.read(self._fd, limit)
        except (OSError, ValueError):
            data = b""
        if not data:
            self.polled = False         # end of file: stop polling
            self._fd = None
        return data

    def flush(self):
        self._out.flush()

    def describe(self):
        return "stdio" + ("" if self.polled else " (output only)")


class FileBackend(Backend):
    """Guest output appended to `path`; with `input_path`, that file's bytes are sent to
    the guest from the start (at line rate, as the receiver takes them)."""

    def __init__(self, path, input_path=None):
        self.path = path
        self.input_path = input_path
        try:
            self._f = open(path, "ab")
        except OSError as e:
            raise OSError("serial output file %s: %s" % (path, e.strerror or e)) from None
        self._input = b""
        if input_path is not None:
            try:
                with open(input_path, "rb") as f:
                    self._input = f.read()
            except OSError as e:
                self._f.close()
                raise OSError("serial input file %s: %s" % (input_path, e.strerror or e)) \
                    from None
        self._out = _StreamOutput(self._f)

    def write(self, byte, cycle):
        self._out.put(byte)

    def initial_input(self, cycle):
        data, self._input = self._input, b""
        return data

    def flush(self):
        self._out.flush()

    def close(self):
        self._out.flush()
        self._f.close()

    def describe(self):
        text = "file %s" % self.path
        if self.input_path is not None:
            text += " (input from %s)" % self.input_path
        return text


class TcpBackend(Backend):
    """A TCP server on 127.0.0.1:`port` for one client (port 0: any free port, see
    `.port`).  Everything is non-blocking: polls accept a waiting client, read what it sent
    and send what is pending.  While no client is connected, output is kept (up to
    `backlog` bytes, oldest dropped first) and sent when one connects; when the client
    goes away the server listens again."""

    polled = True

    def __init__(self, port, host="127.0.0.1", backlog=65536):
        if host not in ("127.0.0.1", "localhost"):
            raise SerialSpecError("serial TCP server must listen on 127.0.0.1, not %r" % host)
        self.host = "127.0.0.1"
        self._backlog = backlog
        self._pending = bytearray()
        self._client = None
        self.dropped = 0
        self.connections = 0
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((self.host, port))
            s.listen(1)
            s.setblocking(False)
        except OSError as e:
            s.close()
            raise OSError("serial TCP server on %s:%d: %s" % (self.host, port,
                                                             e.strerror or e)) from None
        self._server = s
        self.port = s.getsockname()[1]

    @property
    def connected(self):
        return self._client is not None

    def _accept(self):
        if self._client is not None or self._server is None:
            return
        try:
            client, _ = self._server.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return
        client.setblocking(False)
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._client = client
        self.connections += 1

    def _drop_client(self):
        try:
            self._client.close()
        except OSError:
            pass
        self._client = None

    def _send(self):
        if self._client is None or not self._pending:
            return
        try:
            n = self._client.send(self._pending)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop_client()
            return
        del self._pending[:n]

    def write(self, byte, cycle):
        self._pending.append(byte)
        if len(self._pending) > self._backlog:
            excess = len(self._pending) - self._backlog
            del self._pending[:excess]
            self.dropped += excess
        if len(self._pending) >= 512:
            self._accept()
            self._send()

    def poll(self, limit, cycle):
        self._accept()
        self._send()
        if self._client is None or not limit:
            return b""
        try:
            data = self._client.recv(limit)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError:
            self._drop_client()
            return b""
        if not data:                    # the client closed: listen for the next one
            self._drop_client()
            self._accept()
        return data

    def flush(self):
        self._accept()
        self._send()

    def close(self):
        self.flush()
        if self._client is not None:
            self._drop_client()
        if self._server is not None:
            self._server.close()
            self._server = None
        self.polled = False

    def describe(self):
        state = "client connected" if self._client is not None else "waiting for a client"
        return "tcp %s:%d (%s, %d bytes pending)" % (self.host, self.port, state,
                                                      len(self._pending))


# ====================================================================== --serial specs

class SerialSpec:
    """A parsed --serial string; `open()` makes the backend it names."""

    def __init__(self, kind, path=None, input_path=None, host=None, port=None):
        self.kind = kind
        self.path = path
        self.input_path = input_path
        self.host = host
        self.port = port

    def open(self):
        if self.kind == "null":
            return NullBackend()
        if self.kind == "stdio":
            return StdioBackend()
        if self.kind == "file":
            return FileBackend(self.path, self.input_path)
        return TcpBackend(self.port, self.host)

    def __eq__(self, other):
        return isinstance(other, SerialSpec) and vars(self) == vars(other)

    def __repr__(self):
        fields = ", ".join("%s=%r" % kv for kv in vars(self).items() if kv[1] is not None)
        return "SerialSpec(%s)" % fields


_SPEC_HELP = "expected stdio, file:PATH, tcp:127.0.0.1:PORT or null"


def parse_serial_spec(text):
    """Parse `stdio`, `null`, `file:PATH` (output appended to PATH; `file:PATH,in=INPUT`
    also sends INPUT's bytes to the guest) or `tcp:127.0.0.1:PORT`.  Raises
    SerialSpecError (a ValueError) naming what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise SerialSpecError("empty serial spec (%s)" % _SPEC_HELP)
    kind, sep, rest = text.partition(":")
    kind = kind.strip().lower()
    if kind in ("stdio", "null", "none"):
        if sep:
            raise SerialSpecError("serial spec %r: %s takes no argument" % (text, kind))
        return SerialSpec("null" if kind == "none" else kind)
    if kind == "file":
        path, input_path = rest, None
        if ",in=" in rest:
            path, _, input_path = rest.partition(",in=")
            if not input_path:
                raise SerialSpecError("serial spec %r: ',in=' needs an input file" % text)
        if not path:
            raise SerialSpecError("serial spec %r: file: needs a path (file:PATH)" % text)
        return SerialSpec("file", path=path, input_path=input_path)
    if kind == "tcp":
        host, sep2, port_text = rest.rpartition(":")
        if not sep2 or not host:
            raise SerialSpecError("serial spec %r: expected tcp:127.0.0.1:PORT" % text)
        if host not in ("127.0.0.1", "localhost"):
            raise SerialSpecError("serial spec %r: the TCP server only listens on "
                                  "127.0.0.1 (loopback), not %r" % (text, host))
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise SerialSpecError("serial spec %r: port must be a number from 1 to 65535, "
                                  "not %r" % (text, port_text))
        return SerialSpec("tcp", host="127.0.0.1", port=int(port_text))
    raise SerialSpecError("unknown serial spec %r (%s)" % (text, _SPEC_HELP))


def open_serial(text):
    """parse_serial_spec(text).open(): the backend, or SerialSpecError / OSError."""
    return parse_serial_spec(text).open()
