"""The 16550A UART (peripherals/uart.py) against the PC16550D datasheet.

Times are checked to the cycle: the 80386 model runs at 33 MHz, so one 1.8432 MHz crystal
period is 6875/384 cycles and a 9600-baud 8N1 character (10 bits x 16 x 12 crystal periods)
is exactly 34375 cycles.  Tests move `clock.now` by hand and fire due events, as the run
loop does between slices, except the guest tests, which run real NASM programs.
"""
import io
import os
import socket
import time
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.clock import ClockDomain
from core.machine import Machine
from peripherals.debugport import DebugPort
from peripherals.uart import (
    XTAL_HZ, FileBackend, MemoryBackend, NullBackend, ReplayBackend, SerialSpec,
    SerialSpecError, StdioBackend, TcpBackend, UART, load_recording, open_serial,
    parse_serial_spec, save_recording)
from tests.asm import load, nasm

CPU = "80386"
FREQ = 33_000_000
CHAR_9600 = 34375                   # cycles per 10-bit character at 9600 baud
T0 = 1237                           # any cycle: characters are timed from the write
# Internal time unit of the model: a cycle is A units, a crystal period B units.
A, B = Fraction(XTAL_HZ, FREQ).numerator, Fraction(XTAL_HZ, FREQ).denominator

RBR = THR = DLL = 0
IER = DLM = 1
IIR = FCR = 2
LCR, MCR, LSR, MSR, SCR = 3, 4, 5, 6, 7


class RecordingPic:
    """Stands in for the 8259: records every level change on every line."""

    def __init__(self, machine):
        self.machine = machine
        self.level = {}
        self.changes = []
        machine.pic = self

    def set_irq(self, line, level):
        self.level[line] = level
        self.changes.append((self.machine.clock.now, line, level))


class WirePic(RecordingPic):
    """The least interrupt controller a guest can run with: INTR is high while any line is,
    and the vector is 8 + the lowest line high (the BIOS's master PIC base)."""

    def __init__(self, machine):
        super().__init__(machine)
        machine.cpu.intr_ack = self.acknowledge

    def set_irq(self, line, level):
        super().set_irq(line, level)
        self.machine.cpu.intr = any(self.level.values())

    def acknowledge(self):
        return 8 + min(line for line, up in self.level.items() if up)


def make(com=1, backend=None, **kw):
    m = Machine(CPU)
    pic = RecordingPic(m)
    b = MemoryBackend() if backend is None else backend
    u = UART(m, com, b, **kw)
    return m, u, b, pic


def out(u, reg, value):
    u.machine.bus.port_write(u.base + reg, 1, value)


def inp(u, reg):
    return u.machine.bus.port_read(u.base + reg, 1)


def at(m, cycle):
    """Move time to `cycle` and fire what became due, as Machine.run does."""
    assert cycle >= m.clock.now
    m.clock.now = cycle
    m.clock.run_due()


def program(u, divisor=12, lcr=0x03, fcr=None, ier=0, mcr=0):
    out(u, LCR, 0x80)
    out(u, DLL, divisor & 0xFF)
    out(u, DLM, divisor >> 8)
    out(u, LCR, lcr)
    if fcr is not None:
        out(u, FCR, fcr)
    out(u, MCR, mcr)
    out(u, IER, ier)


def ceil(x):
    return -(-x // 1)


# ====================================================================== ports and registers

def test_four_ports_at_the_pc_addresses():
    m = Machine(CPU)
    uarts = [UART(m, n) for n in (1, 2, 3, 4)]
    assert [(u.base, u.irq, u.name) for u in uarts] == [
        (0x3F8, 4, "com1"), (0x2F8, 3, "com2"), (0x3E8, 4, "com3"), (0x2E8, 3, "com4")]
    assert m.device("com3") is uarts[2]
    for n, u in enumerate(uarts):   # each answers on its own eight ports only
        out(u, SCR, 0x11 * (n + 1))
    assert [inp(u, SCR) for u in uarts] == [0x11, 0x22, 0x33, 0x44]
    assert m.bus.port_read(0x3F8 + 8, 1) == 0xFF          # 0x400: nobody's
    with pytest.raises(ValueError, match="com must be"):
        UART(m, 5)


def test_reset_values():
    m, u, b, pic = make()
    assert inp(u, IER) == 0x00
    assert inp(u, IIR) == 0x01
    assert inp(u, LCR) == 0x00
    assert inp(u, MCR) == 0x00
    assert inp(u, LSR) == 0x60              # THRE and TEMT
    assert inp(u, MSR) & 0xF0 == 0xB0       # host side: CTS, DSR, DCD asserted
    out(u, SCR, 0x5A)
    program(u, divisor=3, lcr=0x1B, fcr=0xC1, ier=0x0F, mcr=0x1F)
    u.reset()
    assert (inp(u, IER), inp(u, IIR), inp(u, LCR), inp(u, MCR), inp(u, LSR)) == (
        0, 0x01, 0, 0, 0x60)
    assert inp(u, SCR) == 0x5A              # the master reset leaves SCR and the divisor
    out(u, LCR, 0x80)
    assert (inp(u, DLL), inp(u, DLM)) == (3, 0)


def test_dlab_switches_offsets_0_and_1_to_the_divisor_latch():
    m, u, b, pic = make()
    out(u, IER, 0x05)
    out(u, LCR, 0x83)
    out(u, DLL, 0x34)
    out(u, DLM, 0x12)
    assert (inp(u, DLL), inp(u, DLM)) == (0x34, 0x12)
    assert inp(u, LCR) == 0x83
    out(u, LCR, 0x03)
    assert inp(u, IER) == 0x05                  # IER was not touched by the DLM write
    assert u.divisor == 0x1234
    assert u.baud == Fraction(XTAL_HZ, 16 * 0x1234)
    assert b.output == b""                      # nor was a character sent by the DLL write
    out(u, THR, 0x41)                           # with DLAB=0, offset 0 is THR again
    assert not inp(u, LSR) & 0x40


def test_ier_keeps_four_bits_and_mcr_five():
    m, u, b, pic = make()
    out(u, IER, 0xFF)
    out(u, MCR, 0xFF)
    assert (inp(u, IER), inp(u, MCR)) == (0x0F, 0x1F)


def test_word_access_is_two_byte_accesses():
    m, u, b, pic = make()
    m.bus.port_write(0x3FB, 2, 0x0B83)          # LCR=0x83, MCR=0x0B
    assert (inp(u, LCR), inp(u, MCR)) == (0x83, 0x0B)
    m.bus.port_write(0x3F8, 2, 0x0006)          # DLL=6, DLM=0
    assert u.divisor == 6
    assert m.bus.port_read(0x3FF, 2) & 0xFF00 == 0xFF00     # 0x400 is not ours


# ====================================================================== transmit timing

def test_character_at_9600_8n1_reaches_the_host_exactly_10_bit_times_later():
    m, u, b, pic = make()
    program(u, divisor=12, lcr=0x03)
    write = 40 * T0
    at(m, write)
    out(u, THR, ord("A"))
    bit = Fraction(16 * 12 * FREQ, XTAL_HZ)             # one bit time in cycles
    assert 10 * bit == CHAR_9600
    at(m, write + CHAR_9600 - 1)
    assert b.output == b""
    at(m, write + CHAR_9600)
    assert b.output == b"A"
    assert b.stamps == [write + CHAR_9600]


@pytest.mark.parametrize("write", [1, 1000, 6874, 123457])
def test_character_timing_from_any_cycle_is_exact(write):
    # The start bit begins at the write; 10 bit times later its stop bit ends.
    m, u, b, pic = make()
    program(u, divisor=12, lcr=0x03)
    at(m, write)
    out(u, THR, 0x55)
    done = write + ClockDomain(FREQ, 9600).to_cycles(10)
    assert done == write + CHAR_9600
    at(m, done - 1)
    assert inp(u, LSR) & 0x60 == 0x20
    at(m, done)
    assert inp(u, LSR) & 0x60 == 0x60
    assert b.stamps == [done]


def test_character_timing_at_a_baud_rate_that_is_not_a_whole_number_of_cycles():
    # 115200 baud at 33 MHz: a bit is 286.458.. cycles.  Characters back to back end at
    # exact multiples of the character time, each seen at the next whole cycle.
    m, u, b, pic = make()
    program(u, divisor=1, lcr=0x03, fcr=0x01)
    write = 777
    at(m, write)
    for c in range(16):
        out(u, THR, c)
    at(m, 10**6)
    char = Fraction(10 * 16 * FREQ, XTAL_HZ)
    assert char.denominator != 1
    assert b.stamps == [write + ceil(k * char) for k in range(1, 17)]


@pytest.mark.parametrize("lcr, bits16", [
    (0x00, 7 * 16),             # 5N1: start + 5 + stop
    (0x04, 6 * 16 + 24),        # 5N1.5
    (0x1A, 10 * 16),            # 7E1
    (0x07, 11 * 16),            # 8N2
    (0x0F, 12 * 16),            # 8O2
    (0x3B, 11 * 16),            # 8, stick parity, 1 stop
])
def test_character_length_follows_lcr(lcr, bits16):
    m, u, b, pic = make()
    program(u, divisor=1, lcr=lcr)
    at(m, 1001)
    out(u, THR, 0xFF)
    out(u, THR, 0xFF)
    at(m, 1001 + 10**6)
    char = Fraction(bits16 * FREQ, XTAL_HZ)
    assert b.stamps == [1001 + ceil(char), 1001 + ceil(2 * char)]
    mask = (1 << (5 + (lcr & 3))) - 1
    assert b.output == bytes([0xFF & mask]) * 2         # only the data bits go out
    assert u.char_cycles == Fraction(bits16 * FREQ, XTAL_HZ)


def test_divisor_zero_divides_by_65536():
    m, u, b, pic = make()
    program(u, divisor=0, lcr=0x03)
    out(u, THR, 1)
    at(m, 10**11)
    assert b.stamps == [ceil(Fraction(160 * 65536 * FREQ, XTAL_HZ))]


def test_thre_and_temt_follow_the_holding_and_shift_registers():
    m, u, b, pic = make()
    program(u, divisor=12, lcr=0x03)                    # 16450 mode
    t0 = 10 * T0
    at(m, t0)
    out(u, THR, ord("a"))           # straight into the shift register
    assert inp(u, LSR) & 0x60 == 0x20
    out(u, THR, ord("b"))           # waits in THR
    assert inp(u, LSR) & 0x60 == 0x00
    at(m, t0 + CHAR_9600 - 1)
    assert inp(u, LSR) & 0x60 == 0x00
    at(m, t0 + CHAR_9600)           # 'a' done, 'b' moves to the shift register
    assert inp(u, LSR) & 0x60 == 0x20
    at(m, t0 + 2 * CHAR_9600 - 1)
    assert inp(u, LSR) & 0x60 == 0x20
    at(m, t0 + 2 * CHAR_9600)
    assert inp(u, LSR) & 0x60 == 0x60
    assert b.output == b"ab"
    assert b.stamps == [t0 + CHAR_9600, t0 + 2 * CHAR_9600]


def test_thr_overwritten_in_16450_mode_and_fifo_full_drops():
    m, u, b, pic = make()
    program(u, divisor=1, lcr=0x03)
    for c in b"xyz":                # x shifts; y is overwritten by z in THR
        out(u, THR, c)
    at(m, 10**6)
    assert b.output == b"xz" and u.tx_dropped == 1
    b.clear()
    out(u, FCR, 0x01)
    for c in range(20):             # 1 shifts + 16 in the FIFO; 3 dropped
        out(u, THR, 0x40 + c)
    at(m, m.clock.now + 10**6)
    assert b.output == bytes(range(0x40, 0x40 + 17))
    assert u.tx_dropped == 1 + 3


def test_fifo_burst_goes_out_back_to_back():
    m, u, b, pic = make()
    program(u, divisor=12, lcr=0x03, fcr=0x07)
    t0 = 3 * T0
    at(m, t0)
    for c in b"0123456789ABCDEF":
        out(u, THR, c)
    # Only the edge that empties the FIFO is on the clock, not one per character.
    assert len(m.clock.pending()) == 1
    at(m, t0 + 20 * CHAR_9600)
    assert b.output == b"0123456789ABCDEF"
    assert b.stamps == [t0 + (k + 1) * CHAR_9600 for k in range(16)]


def test_character_in_flight_keeps_its_timing_when_the_divisor_changes():
    m, u, b, pic = make()
    program(u, divisor=12, lcr=0x03)
    out(u, THR, 1)
    out(u, THR, 2)
    at(m, 100)
    program(u, divisor=6, lcr=0x03)     # 19200 from the next character on
    at(m, 10**6)
    assert b.stamps == [CHAR_9600, ceil(CHAR_9600 + Fraction(CHAR_9600, 2))]


# ====================================================================== interrupts

def test_thre_interrupt_16450_mode_and_out2_gating():
    m, u, b, pic = make()
    program(u, divisor=12, lcr=0x03, mcr=0x00)
    out(u, IER, 0x02)               # ETBEI with THRE=1: interrupt at once
    assert inp(u, IIR) == 0x02
    assert inp(u, IIR) == 0x01      # reading IIR cleared it
    out(u, IER, 0x00)
    out(u, IER, 0x02)               # enabled again: a new one
    assert 4 not in pic.level       # OUT2 is 0: the PC's IRQ buffer is off
    out(u, MCR, 0x08)
    assert pic.level[4] is True
    t0 = 2 * T0
    at(m, t0)
    out(u, THR, ord("x"))           # clears it; x goes to the TSR, THR is empty again
    assert pic.level[4] is True     # and in 16450 mode THRE interrupts again at once
    assert inp(u, IIR) == 0x02
    assert pic.level[4] is False
    out(u, THR, ord("y"))           # waits in THR until x is done
    at(m, t0 + CHAR_9600 - 1)
    assert pic.level[4] is False
    at(m, t0 + CHAR_9600)
    assert pic.level[4] is True
    assert pic.changes[-1] == (t0 + CHAR_9600, 4, True)
    out(u, MCR, 0x00)               # OUT2 off: the line drops, the IIR still says THRE
    assert pic.level[4] is False
    assert inp(u, IIR) == 0x02


def test_fifo_thre_interrupt_for_a_lone_byte_is_delayed():
    # PC16550D: with FIFOs on, the XMIT FIFO empty interrupt comes one character time less
    # the stop bit late when no two bytes were in the FIFO together since THRE was last 1.
    m, u, b, pic = make()
    program(u, divisor=12, lcr=0x03, fcr=0x01, mcr=0x08)
    out(u, IER, 0x02)
    assert inp(u, IIR) == 0xC2          # the first one after setting FCR0 is immediate
    t0 = 5 * T0
    at(m, t0)
    out(u, THR, ord("1"))
    assert inp(u, LSR) & 0x20           # LSR.THRE is not delayed
    due = t0 + CHAR_9600 - CHAR_9600 // 10
    at(m, due - 1)
    assert inp(u, IIR) == 0xC1 and pic.level[4] is False
    at(m, due)
    assert pic.changes[-1] == (due, 4, True)
    assert inp(u, IIR) == 0xC2
    # Three bytes: two sat in the FIFO together, so the interrupt comes as the FIFO empties
    # (the third byte moving to the shift register after two character times).
    t1 = m.clock.now + 10 * T0
    at(m, t1)
    for c in b"abc":
        out(u, THR, c)
    at(m, t1 + 2 * CHAR_9600 - 1)
    assert inp(u, IIR) == 0xC1
    at(m, t1 + 2 * CHAR_9600)
    assert inp(u, IIR) == 0xC2
    assert pic.changes[-1][0] == t1 + 2 * CHAR_9600


def test_rx_fifo_trigger_level_interrupt():
    m, u, b, pic = make()
    program(u, divisor=12, lcr=0x03, fcr=0x41, ier=0x01, mcr=0x08)    # trigger 4
    t0 = 7 * T0
    at(m, t0)
    u.receive(b"WXYZ")
    at(m, t0 + 4 * CHAR_9600 - 1)
    assert inp(u, LSR) & 1 and inp(u, IIR) == 0xC1          # 3 in the FIFO: below 4
    assert pic.level.get(4) is not True
    at(m, t0 + 4 * CHAR_9600)
    assert pic.changes[-1] == (t0 + 4 * CHAR_9600, 4, True)
    assert inp(u, IIR) == 0xC4
    assert inp(u, RBR) == ord("W")                          # 3 left: below the trigger
    assert pic.level[4] is False
    assert inp(u, IIR) == 0xC1


@pytest.mark.parametrize("fcr, level", [(0x01, 1), (0x41, 4), (0x81, 8), (0xC1, 14)])
def test_each_trigger_level(fcr, level):
    m, u, b, pic = make()
    program(u, divisor=1, lcr=0x03, fcr=fcr, ier=0x01)
    at(m, 5)
    u.receive(bytes(range(16)))
    char = Fraction(160 * FREQ, XTAL_HZ)
    arrival = [5 + ceil(k * char) for k in range(17)]
    at(m, arrival[level] - 1)
    assert inp(u, IIR) == 0xC1
    at(m, arrival[level])
    assert inp(u, IIR) == 0xC4


def test_character_timeout_after_four_character_times():
    m, u, b, pic = make()
    program(u, divisor=12, lcr=0x03, fcr=0x81, ier=0x01, mcr=0x08)    # trigger 8
    t0 = 11 * T0
    at(m, t0)
    u.receive(b"k")
    arrive = t0 + CHAR_9600
    at(m, arrive + 4 * CHAR_9600 - 1)
    assert inp(u, IIR) == 0xC1 and pic.level.get(4) is not True
    at(m, arrive + 4 * CHAR_9600)
    assert pic.changes[-1] == (arrive + 4 * CHAR_9600, 4, True)
    assert inp(u, IIR) == 0xCC
    assert inp(u, RBR) == ord("k")              # reading clears it
    assert inp(u, IIR) == 0xC1 and pic.level[4] is False


def test_timeout_timer_restarts_on_each_read_and_arrival():
    m, u, b, pic = make()
    program(u, divisor=12, lcr=0x03, fcr=0x81, ier=0x01)
    t0 = 2 * T0
    at(m, t0)
    u.receive(b"pq")
    at(m, t0 + 3 * CHAR_9600)                   # both arrived, the last at t0 + 2 chars
    read = t0 + 5 * CHAR_9600
    at(m, read)
    assert inp(u, IIR) == 0xC1                  # 3 character times since the last arrival
    assert inp(u, RBR) == ord("p")
    at(m, read + 4 * CHAR_9600 - 1)
    assert inp(u, IIR) == 0xC1
    at(m, read + 4 * CHAR_9600)
    assert inp(u, IIR) == 0xCC


def test_no_timeout_in_16450_mode():
    m, u, b, pic = make()
    program(u, divisor=1, lcr=0x03, ier=0x01)
    u.receive(b"z")
    at(m, 10**6)
    assert inp(u, IIR) == 0x04                  # data available, never a timeout


def test_iir_priorities():
    m, u, b, pic = make(flow_control=False)
    program(u, divisor=1, lcr=0x03, fcr=0x01, mcr=0x08)
    u.receive(bytes(17))                        # 16 fill the FIFO, the 17th overruns
    u.set_modem_inputs(cts=False)               # a modem status change
    at(m, 10**6)
    out(u, IER, 0x0F)                           # THRE is 1: its interrupt latches too
    assert pic.level[4] is True
    assert inp(u, IIR) == 0xC6                  # 1: line status (overrun)
    assert inp(u, LSR) & 0x02
    assert inp(u, IIR) == 0xC4                  # 2: data available
    for _ in range(16):
        inp(u, RBR)
    assert inp(u, IIR) == 0xC2                  # 3: THR empty; reading IIR clears it
    assert inp(u, IIR) == 0xC0                  # 4: modem status
    assert inp(u, MSR) & 0x0F == 0x01           # DCTS; reading MSR clears it
    assert inp(u, IIR) == 0xC1
    assert pic.level[4] is False


def test_line_status_interrupt_only_when_enabled():
    m, u, b, pic = make(flow_control=False)
    program(u, divisor=1, lcr=0x03, ier=0x01)    # 16450 mode
    u.receive(b"12")
    at(m, 10**6)
    assert inp(u, IIR) == 0x04                  # OE is there but ELSI is off
    out(u, IER, 0x05)
    assert inp(u, IIR) == 0x06
    lsr = inp(u, LSR)
    assert lsr & 0x03 == 0x03
    assert inp(u, LSR) & 0x02 == 0              # cleared by the read
    assert inp(u, RBR) == ord("2")              # the newer character overwrote the older


def test_shared_irq_line_is_high_while_any_uart_drives_it():
    m = Machine(CPU)
    pic = RecordingPic(m)
    com1, com3 = UART(m, 1), UART(m, 3)
    for u in (com1, com3):
        out(u, MCR, 0x08)
    out(com1, IER, 0x02)
    assert pic.level[4] is True
    out(com3, IER, 0x02)
    assert com3.irq_output
    inp(com1, IIR)                              # COM1 stops; COM3 still holds IRQ4
    assert pic.level[4] is True
    inp(com3, IIR)
    assert pic.level[4] is False


# ====================================================================== receive path

def test_received_bytes_arrive_one_character_time_apart():
    m, u, b, pic = make()
    program(u, divisor=12, lcr=0x03, fcr=0x01)
    t0 = 4 * T0
    at(m, t0)
    u.receive(b"ab")
    at(m, t0 + CHAR_9600 - 1)
    assert not inp(u, LSR) & 1
    at(m, t0 + CHAR_9600)
    assert inp(u, LSR) & 1
    at(m, t0 + 2 * CHAR_9600 - 1)
    assert inp(u, RBR) == ord("a") and not inp(u, LSR) & 1
    at(m, t0 + 2 * CHAR_9600)
    assert inp(u, RBR) == ord("b")
    assert inp(u, RBR) == ord("b")              # an empty RBR reads the last character


def test_flow_control_holds_host_bytes_until_there_is_room():
    m, u, b, pic = make()
    program(u, divisor=1, lcr=0x03, fcr=0x01)
    data = bytes(range(40))
    u.receive(data)
    at(m, 10**6)
    assert len(u._rxq) == 16 and not inp(u, LSR) & 0x02
    got = bytearray()
    while len(got) < len(data):
        if inp(u, LSR) & 1:
            got.append(inp(u, RBR))
        else:
            at(m, m.clock.now + 500)
    assert bytes(got) == data


def test_without_flow_control_the_fifo_overruns():
    m, u, b, pic = make(flow_control=False)
    program(u, divisor=1, lcr=0x03, fcr=0x01)
    u.receive(bytes(range(20)))
    at(m, 10**6)
    lsr = inp(u, LSR)
    assert lsr & 0x03 == 0x03
    assert bytes(inp(u, RBR) for _ in range(16)) == bytes(range(16))   # FIFO kept; rest lost
    assert not inp(u, LSR) & 1


def test_errors_show_when_their_character_reaches_the_top():
    m, u, b, pic = make()
    program(u, divisor=1, lcr=0x03, fcr=0x01, ier=0x04, mcr=0x08)
    u.receive(b"a")
    u.receive(b"b", parity_error=True)
    at(m, 10**6)
    lsr = inp(u, LSR)
    assert lsr & 0x9F == 0x81                   # DR and "error in FIFO", no PE yet
    assert inp(u, IIR) == 0xC1
    assert inp(u, RBR) == ord("a")              # now 'b' is at the top
    assert inp(u, IIR) == 0xC6 and pic.level[4] is True
    assert inp(u, LSR) & 0x8D == 0x85           # PE, and bit 7 while 'b' is still there
    assert inp(u, RBR) == ord("b")
    # Bit 7 clears at the first LSR read that finds no error left in the FIFO.
    assert inp(u, LSR) & 0x9E == 0x80
    assert inp(u, LSR) & 0x9E == 0x00


def test_host_break():
    m, u, b, pic = make()
    program(u, divisor=12, lcr=0x03, fcr=0x01)
    at(m, T0)
    u.receive_break()
    at(m, T0 + CHAR_9600)
    assert inp(u, LSR) & 0x19 == 0x19           # BI, FE, DR
    assert inp(u, RBR) == 0
    assert inp(u, LSR) & 0x19 == 0


def test_word_length_masks_received_bytes():
    m, u, b, pic = make()
    program(u, divisor=1, lcr=0x02)             # 7N1
    u.receive(b"\xff")
    at(m, 10**6)
    assert inp(u, RBR) == 0x7F


# ====================================================================== loopback and modem

def test_loopback_echo_and_nothing_on_the_wire():
    m, u, b, pic = make()
    program(u, divisor=12, lcr=0x03, fcr=0x07, mcr=0x10)
    t0 = 9 * T0
    at(m, t0)
    for c in b"loop":
        out(u, THR, c)
    at(m, t0 + CHAR_9600 - 1)
    assert not inp(u, LSR) & 1
    at(m, t0 + CHAR_9600)
    assert inp(u, RBR) == ord("l")
    at(m, t0 + 4 * CHAR_9600)
    assert bytes(inp(u, RBR) for _ in range(3)) == b"oop"
    assert b.output == b""                      # SOUT is held at mark in loopback
    assert u.tx_count == 0


def test_loopback_holds_host_input_back():
    m, u, b, pic = make()
    program(u, divisor=1, lcr=0x03, fcr=0x01, mcr=0x10)
    u.receive(b"H")
    out(u, THR, ord("L"))
    at(m, 10**6)
    assert inp(u, RBR) == ord("L")              # only the looped-back byte came in
    assert not inp(u, LSR) & 1
    out(u, MCR, 0x00)                           # SIN connected again: the host sends
    at(m, m.clock.now + 10**5)
    assert inp(u, RBR) == ord("H")


def test_loopback_modem_wiring_and_deltas():
    m, u, b, pic = make()
    out(u, MCR, 0x10)
    inp(u, MSR)
    assert inp(u, MSR) == 0x00
    out(u, MCR, 0x10 | 0x02)                    # RTS -> CTS
    assert inp(u, MSR) == 0x10 | 0x01
    out(u, MCR, 0x10 | 0x03)                    # DTR -> DSR
    assert inp(u, MSR) == 0x30 | 0x02
    out(u, MCR, 0x10 | 0x0B)                    # OUT2 -> DCD
    assert inp(u, MSR) == 0xB0 | 0x08
    out(u, MCR, 0x10 | 0x0F)                    # OUT1 -> RI: leading edge, no TERI
    assert inp(u, MSR) == 0xF0
    out(u, MCR, 0x10 | 0x0B)                    # RI's trailing edge: TERI
    assert inp(u, MSR) == 0xB0 | 0x04


def test_modem_status_interrupt_in_loopback_reaches_iir_but_not_the_pc_irq():
    m, u, b, pic = make()
    out(u, MCR, 0x18)                           # loopback + OUT2
    inp(u, MSR)
    out(u, IER, 0x08)
    out(u, MCR, 0x1A)                           # RTS -> CTS changes
    assert inp(u, IIR) == 0x00
    assert pic.level.get(4) is not True         # OUT2's pin is forced inactive
    inp(u, MSR)
    assert inp(u, IIR) == 0x01


def test_host_modem_inputs():
    m, u, b, pic = make()
    program(u, mcr=0x08, ier=0x08)
    u.set_modem_inputs(dcd=False, ri=True)
    assert inp(u, IIR) == 0x00 and pic.level[4] is True
    assert inp(u, MSR) == 0x70 | 0x08           # RI's leading edge sets no delta
    u.set_modem_inputs(ri=False)
    assert inp(u, MSR) == 0x30 | 0x04


def test_loopback_break():
    m, u, b, pic = make()
    program(u, divisor=12, lcr=0x03, fcr=0x01, mcr=0x10)
    t0 = 6 * T0
    at(m, t0)
    out(u, LCR, 0x43)
    at(m, t0 + CHAR_9600 - 1)
    assert not inp(u, LSR) & 1
    at(m, t0 + CHAR_9600)
    assert inp(u, LSR) & 0x19 == 0x19
    at(m, t0 + 10 * CHAR_9600)                  # held longer: still only one character
    assert inp(u, RBR) == 0 and not inp(u, LSR) & 1


def test_break_goes_to_the_host_side():
    m, u, b, pic = make()
    program(u, divisor=12, lcr=0x03)
    at(m, T0)
    out(u, LCR, 0x43)
    out(u, THR, ord("x"))                       # shifted out while the line is at space
    at(m, T0 + 3 * CHAR_9600)
    out(u, LCR, 0x03)
    assert b.breaks == [(True, T0), (False, T0 + 3 * CHAR_9600)]
    assert b.output == b""


# ====================================================================== FIFO control

def test_fcr_enable_resets_and_iir_fifo_bits():
    m, u, b, pic = make()
    program(u, divisor=1, lcr=0x03)
    assert inp(u, IIR) & 0xC0 == 0
    out(u, FCR, 0x01)
    assert inp(u, IIR) & 0xC0 == 0xC0
    u.receive(b"abc")
    at(m, 10**6)
    out(u, FCR, 0x03)                           # RCVR FIFO reset
    assert not inp(u, LSR) & 1
    out(u, THR, 1)
    out(u, THR, 2)
    out(u, THR, 3)
    out(u, FCR, 0x05)                           # XMIT FIFO reset: the shift register goes on
    assert inp(u, LSR) & 0x60 == 0x20
    at(m, m.clock.now + 10**5)
    assert b.output == b"\x01"
    out(u, FCR, 0xC6)                           # FCR0=0: only the FIFO disable happens
    assert inp(u, IIR) & 0xC0 == 0 and u.trigger == 1
    out(u, FCR, 0xC9)
    assert u.trigger == 14 and u.dma_mode


# ====================================================================== snapshots and info

def test_state_round_trip_mid_character():
    m, u, b, pic = make()
    program(u, divisor=12, lcr=0x03, fcr=0x01, ier=0x05, mcr=0x08)
    out(u, THR, ord("s"))
    out(u, THR, ord("t"))
    u.receive(b"rx")
    at(m, CHAR_9600 // 2)
    state = u.get_state()

    m2 = Machine(CPU)
    RecordingPic(m2)
    b2 = MemoryBackend()
    u2 = UART(m2, 1, b2)
    m2.clock.now = m.clock.now
    u2.set_state(state)
    assert u2.get_state() == state
    for mm in (m, m2):
        at(mm, 3 * CHAR_9600)
    assert b2.output == b.output == b"st"
    assert b2.stamps == b.stamps == [CHAR_9600, 2 * CHAR_9600]
    assert [inp(x, RBR) for x in (u, u2)] == [ord("r")] * 2


def test_info_describes_the_line():
    m, u, b, pic = make()
    program(u, divisor=1, lcr=0x1B, fcr=0x81)
    text = u.info()
    assert "COM1" in text and "0x3F8" in text and "IRQ 4" in text
    assert "115200 baud 8E1" in text and "trigger 8" in text
    assert "memory" in text


# ====================================================================== host backends and specs

def test_parse_serial_spec():
    assert parse_serial_spec("stdio") == SerialSpec("stdio")
    assert parse_serial_spec("null") == SerialSpec("null")
    assert parse_serial_spec("file:/tmp/x.log") == SerialSpec("file", path="/tmp/x.log")
    assert parse_serial_spec("file:out.txt,in=keys.txt") == SerialSpec(
        "file", path="out.txt", input_path="keys.txt")
    assert parse_serial_spec("tcp:127.0.0.1:4555") == SerialSpec(
        "tcp", host="127.0.0.1", port=4555)
    assert parse_serial_spec("tcp:localhost:23").port == 23


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("serial", "unknown serial spec"),
    ("file:", "needs a path"),
    ("file:x,in=", "needs an input file"),
    ("tcp:4555", "expected tcp:127.0.0.1:PORT"),
    ("tcp:0.0.0.0:4555", "only listens on 127.0.0.1"),
    ("tcp:10.0.0.1:23", "only listens on 127.0.0.1"),
    ("tcp:127.0.0.1:http", "port must be a number"),
    ("tcp:127.0.0.1:0", "port must be a number"),
    ("tcp:127.0.0.1:70000", "port must be a number"),
    ("stdio:x", "takes no argument"),
])
def test_bad_serial_specs(text, message):
    with pytest.raises(SerialSpecError, match=message):
        parse_serial_spec(text)


def test_open_serial_makes_backends(tmp_path):
    assert isinstance(open_serial("null"), NullBackend)
    assert isinstance(open_serial("stdio"), StdioBackend)
    f = open_serial("file:%s" % (tmp_path / "o.txt"))
    assert isinstance(f, FileBackend)
    f.close()
    with pytest.raises(OSError, match="serial output file"):
        open_serial("file:%s" % (tmp_path / "no" / "such" / "dir.txt"))


def test_file_backend_appends_and_sends_its_input(tmp_path):
    log = tmp_path / "serial.log"
    log.write_bytes(b"old\n")
    keys = tmp_path / "keys"
    keys.write_bytes(b"go")
    m = Machine(CPU)
    u = UART(m, 1, parse_serial_spec("file:%s,in=%s" % (log, keys)).open())
    program(u, divisor=1, lcr=0x03, fcr=0x01)
    for c in b"new\n":
        out(u, THR, c)
    at(m, 10**6)
    assert bytes(inp(u, RBR) for _ in range(2)) == b"go"
    u.close()
    assert log.read_bytes() == b"old\nnew\n"


def test_stdio_backend_output_and_input(tmp_path):
    r, w = os.pipe()
    os.write(w, b"in")
    os.close(w)
    sink = io.BytesIO()
    with os.fdopen(r, "rb", buffering=0) as stdin:
        be = StdioBackend(stdin=stdin, stdout=sink)
        assert be.polled
        m = Machine(CPU)
        u = UART(m, 1, be)
        program(u, divisor=1, lcr=0x03, fcr=0x01)
        out(u, THR, ord("!"))
        at(m, 3 * (FREQ // 1000) + 1)           # three polls: input, then end of file
        assert not be.polled
        assert bytes(inp(u, RBR) for _ in range(2)) == b"in"
        u.close()
    assert sink.getvalue() == b"!"
    period = FREQ // 1000
    assert u.input_log == [(period, b"in")]
    # The replay is polled until the cycle where the input ended, like the original.
    rec = u.recording()
    assert rec["poll_end"] == 2 * period
    m2 = Machine(CPU)
    replay = ReplayBackend(rec)
    u2 = UART(m2, 1, replay)
    assert [e.deadline for e in m2.clock.pending()] == [period]
    at(m2, period)
    at(m2, 2 * period)
    assert not replay.polled and m2.clock.pending() == []
    assert u2.input_log == u.input_log


def test_polled_memory_backend_delivers_at_poll_cycles_and_replays():
    def run(backend, feed):
        m = Machine(CPU)
        u = UART(m, 1, backend)
        program(u, divisor=1, lcr=0x03, fcr=0x01)
        got = []
        for cycle in range(0, 200_000, 777):
            at(m, cycle)
            if feed and cycle in feed:
                backend.feed(feed[cycle])
            while inp(u, LSR) & 1:
                got.append((m.clock.now, inp(u, RBR)))
        return u, got

    live = MemoryBackend(polled=True)
    u1, got1 = run(live, {777 * 3: b"ab", 777 * 100: b"c"})
    period = FREQ // 1000
    assert u1.input_log == [(period, b"ab"), (3 * period, b"c")]
    u2, got2 = run(ReplayBackend(u1.recording()), None)
    assert got2 == got1
    assert u2.input_log == u1.input_log


def test_recording_file_round_trip(tmp_path):
    rec = {"polled": True, "poll_hz": 1000, "poll_end": 132000,
           "input": [(33000, b"\x00hi"), (99000, b"!")]}
    path = tmp_path / "rec.json"
    save_recording(rec, path)
    assert load_recording(path) == rec


# ====================================================================== TCP on loopback

def _recv_until(sock, wanted, timeout=10.0):
    sock.settimeout(0.1)
    data = b""
    end = time.monotonic() + timeout
    while wanted not in data and time.monotonic() < end:
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            continue
        if not chunk:
            break
        data += chunk
    return data


def test_tcp_backend_with_a_real_client():
    be = TcpBackend(0)
    m = Machine(CPU)
    u = UART(m, 1, be)
    program(u, divisor=1, lcr=0x03, fcr=0x01)
    client = socket.create_connection(("127.0.0.1", be.port), timeout=5)
    try:
        for c in b"hello":              # sent before the server accepted: kept, not lost
            out(u, THR, c)
        client.sendall(b"typed")
        got = bytearray()
        deadline = time.monotonic() + 10
        while len(got) < 5 and time.monotonic() < deadline:
            at(m, m.clock.now + FREQ // 1000)
            while inp(u, LSR) & 1:
                got.append(inp(u, RBR))
        assert bytes(got) == b"typed"
        assert be.connected
        assert _recv_until(client, b"hello") == b"hello"
        # Every delivery is stamped with the cycle of a poll.
        assert u.input_log and all(c % (FREQ // 1000) == 0 for c, _ in u.input_log)
        assert b"".join(d for _, d in u.input_log) == b"typed"
    finally:
        client.close()
    # The client went away: the server listens again and takes the next one.
    at(m, m.clock.now + 2 * (FREQ // 1000))
    assert not be.connected
    client = socket.create_connection(("127.0.0.1", be.port), timeout=5)
    try:
        out(u, THR, ord("2"))
        at(m, m.clock.now + 2 * (FREQ // 1000))
        assert _recv_until(client, b"2") == b"2"
    finally:
        client.close()
        u.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", be.port), timeout=1).close()


def test_tcp_port_in_use_is_a_clear_error():
    first = TcpBackend(0)
    try:
        with pytest.raises(OSError, match="serial TCP server on 127.0.0.1:%d" % first.port):
            TcpBackend(first.port)
    finally:
        first.close()


# ====================================================================== guests

PRINT_GUEST = r"""
    push cs
    pop ds
    mov dx, 0x3FB
    mov al, 0x80            ; DLAB
    out dx, al
    mov dx, 0x3F8
    mov al, 12              ; 115200 / 12 = 9600 baud
    out dx, al
    inc dx
    xor al, al
    out dx, al
    mov dx, 0x3FB
    mov al, 0x03            ; 8N1
    out dx, al
    mov dx, 0x3FA
    mov al, 0x07            ; FIFOs on and cleared
    out dx, al
    mov si, msg
.next:
    lodsb
    test al, al
    jz .drain
    mov ah, al
    mov dx, 0x3FD
.wait:
    in al, dx
    test al, 0x20           ; THRE
    jz .wait
    mov al, ah
    mov dx, 0x3F8
    out dx, al
    jmp .next
.drain:
    mov dx, 0x3FD
.temt:
    in al, dx
    test al, 0x40           ; TEMT: the last stop bit has gone
    jz .temt
    cli
    hlt
msg: db "Hello from COM1", 13, 10, 0
"""


def test_real_mode_guest_prints_through_com1():
    m = Machine(CPU)
    b = MemoryBackend()
    u = UART(m, 1, b)
    load(m, nasm(PRINT_GUEST))
    assert m.run(max_cycles=50_000_000) == "halt"
    assert b.output == b"Hello from COM1\r\n"
    # The guest refills the FIFO as soon as THRE says so: back to back, 10 bits apart.
    gaps = {b - a for a, b in zip(b.stamps, b.stamps[1:])}
    assert gaps == {CHAR_9600}
    assert m.clock.now >= b.stamps[-1]          # it waited for TEMT before halting


ECHO_GUEST = r"""
    cli
    xor ax, ax
    mov es, ax
    mov word [es:0x0C*4], isr       ; IRQ4 -> vector 0x0C
    mov [es:0x0C*4+2], cs
    mov dx, 0x3FB
    mov al, 0x80
    out dx, al
    mov dx, 0x3F8
    mov al, 1                       ; 115200 baud
    out dx, al
    inc dx
    xor al, al
    out dx, al
    mov dx, 0x3FB
    mov al, 0x03
    out dx, al
    mov dx, 0x3FA
    mov al, 0x07
    out dx, al
    mov dx, 0x3F9
    mov al, 0x01                    ; ERBFI
    out dx, al
    mov dx, 0x3FC
    mov al, 0x0B                    ; DTR, RTS, OUT2 (the PC's IRQ enable)
    out dx, al
    mov si, banner
.banner:
    cs lodsb
    test al, al
    jz .idle
    mov dx, 0x3F8
    out dx, al
    jmp .banner
.idle:
    sti
    hlt
    cmp byte [cs:done], 0
    je .idle
    cli
    mov dx, 0x3FD
.temt:
    in al, dx
    test al, 0x40
    jz .temt
    out 0xF4, al                    ; isa-debug-exit: stop
    hlt

isr:
    push ax
    push dx
.more:
    mov dx, 0x3FD
    in al, dx
    test al, 1
    jz .out
    mov dx, 0x3F8
    in al, dx
    cmp al, '.'
    jne .echo
    mov byte [cs:done], 1
.echo:
    cmp al, 'a'
    jb .send
    cmp al, 'z'
    ja .send
    sub al, 0x20
.send:
    out dx, al
    jmp .more
.out:
    pop dx
    pop ax
    iret
done: db 0
banner: db "ready> ", 0
"""


def run_echo_guest(backend, send=None):
    m = Machine(CPU)
    WirePic(m)
    DebugPort(m)
    u = UART(m, 1, backend)
    load(m, nasm(ECHO_GUEST))
    if send is not None:
        send(m, u)
    reason = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        reason = m.run(max_cycles=5_000_000)
        if reason != "budget":
            break
    return m, u, reason


def test_interrupt_driven_guest_echoes_host_input():
    b = MemoryBackend()
    m, u, reason = run_echo_guest(b, send=lambda m, u: u.receive(b"hello, uart."))
    assert reason == "stop"
    assert b.output == b"ready> HELLO, UART."
    assert u.rx_count == len(b"hello, uart.")


def test_tcp_guest_session_and_exact_replay():
    be = TcpBackend(0)
    client = socket.create_connection(("127.0.0.1", be.port), timeout=5)
    try:
        client.sendall(b"tcp works.")
        m, u, reason = run_echo_guest(be)
        assert reason == "stop"
        u.close()
        assert _recv_until(client, b"WORKS.") == b"ready> TCP WORKS."
    finally:
        client.close()
    rec = u.recording()
    assert rec["polled"] and b"".join(d for _, d in rec["input"]) == b"tcp works."

    replay = ReplayBackend(rec)
    m2, u2, reason2 = run_echo_guest(replay)
    assert reason2 == "stop"
    assert replay.output == b"ready> TCP WORKS."
    assert u2.input_log == u.input_log
    assert (m2.clock.now, m2.cpu.icount) == (m.clock.now, m.cpu.icount)


# ====================================================================== FIFO properties

class Reference:
    """An eager model of the loopback path: each accepted character's start and end are
    computed when it is written; the receiver replays the ends in order."""

    def __init__(self, fifo, char, trigger):
        self.fifo, self.char, self.trigger = fifo, char, trigger
        self.chars = []             # [start, end, byte] of every accepted character
        self.arrived = 0
        self.rx = []
        self.oe = False
        self.activity = 0
        self.last = 0
        self.out = []               # (end, byte) in order
        self.dropped = 0

    def catch_up(self, t, loop):
        for c in self.chars[self.arrived:]:
            if c[1] > t:
                break
            self.arrived += 1
            if not loop:
                self.out.append((c[1], c[2]))
                continue
            if self.fifo:
                if len(self.rx) < 16:
                    self.rx.append(c[2])
                    self.activity = c[1]
                else:
                    self.oe = True
            else:
                if self.rx:
                    self.oe = True
                    self.rx.clear()
                self.rx.append(c[2])
                self.activity = c[1]

    def write(self, t, byte):
        waiting = [c for c in self.chars if c[0] > t]
        if self.fifo:
            if len(waiting) >= 16:
                self.dropped += 1
                return
        elif waiting:
            waiting[0][2] = byte
            self.dropped += 1
            return
        start = t if not self.chars or self.chars[-1][1] <= t else self.chars[-1][1]
        self.chars.append([start, start + self.char, byte])

    def read_rbr(self, t):
        if self.rx:
            self.last = self.rx.pop(0)
            self.activity = t
        return self.last

    def lsr(self, t):
        v = (0x01 if self.rx else 0) | (0x02 if self.oe else 0)
        if not any(c[0] > t for c in self.chars):
            v |= 0x20
            if not any(c[1] > t for c in self.chars):
                v |= 0x40
        self.oe = False
        return v

    def iir(self, t):
        base = 0xC0 if self.fifo else 0
        if self.oe:
            return base | 0x06
        if self.rx and (not self.fifo or len(self.rx) >= self.trigger):
            return base | 0x04
        if self.fifo and self.rx and t >= self.activity + 4 * self.char:
            return base | 0x0C
        return base | 0x01


# Runs of the same access: a run of THR writes a few cycles apart fills the XMIT FIFO, a
# run of waits lets the RCVR FIFO fill and overrun, a run of RBR reads empties it.
RUNS = st.lists(st.tuples(st.sampled_from(["thr", "rbr", "lsr", "iir", "wait"]),
                          st.integers(1, 24),
                          st.one_of(st.integers(0, 300), st.integers(0, 20_000)),
                          st.integers(0, 255)),
                min_size=1, max_size=12)


def expand(runs):
    return [(op, gap, (byte + k) & 0xFF) for op, count, gap, byte in runs
            for k in range(count)]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs=RUNS, fifo=st.booleans(), loop=st.booleans(), trig=st.integers(0, 3),
       divisor=st.integers(1, 3))
def test_fifo_behaviour_matches_a_reference_model(runs, fifo, loop, trig, divisor):
    check_against_reference(expand(runs), fifo, loop, trig, divisor)


def check_against_reference(ops, fifo, loop, trig, divisor):
    m, u, b, pic = make()
    fcr = (trig << 6) | 0x01 if fifo else 0
    program(u, divisor=divisor, lcr=0x03, fcr=fcr, ier=0x05 if loop else 0,
            mcr=0x10 if loop else 0)
    char = 160 * divisor * B
    ref = Reference(fifo, char, (1, 4, 8, 14)[trig] if fifo else 1)
    ref.activity = m.clock.now * A
    for op, dt, byte in ops:
        at(m, m.clock.now + dt)
        t = m.clock.now * A
        ref.catch_up(t, loop)
        if op == "thr":
            out(u, THR, byte)
            ref.write(t, byte)
        elif op == "rbr" and loop:
            assert inp(u, RBR) == ref.read_rbr(t)
        elif op == "lsr":
            assert inp(u, LSR) & 0x63 == ref.lsr(t)
        elif op == "iir" and loop:
            assert inp(u, IIR) == ref.iir(t)
    assert u.tx_dropped == ref.dropped
    at(m, m.clock.now + 40 * 2 * 3000)
    ref.catch_up(m.clock.now * A, loop)
    if not loop:
        assert b.output == bytes(byte for _, byte in ref.out)
        assert b.stamps == [-(-end // A) for end, _ in ref.out]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(st.binary(max_size=20), st.integers(0, 20_000),
                                st.integers(0, 20)), min_size=1, max_size=30),
       fifo=st.booleans())
def test_flow_controlled_host_input_is_never_lost(steps, fifo):
    m, u, b, pic = make()
    program(u, divisor=1, lcr=0x03, fcr=0x01 if fifo else None)
    sent = bytearray()
    got = bytearray()
    arrivals = []
    for data, dt, reads in steps:
        u.receive(data)
        sent += data
        at(m, m.clock.now + dt)
        for _ in range(reads):
            lsr = inp(u, LSR)
            assert not lsr & 0x02
            if lsr & 1:
                got.append(inp(u, RBR))
    while len(got) < len(sent):
        at(m, m.clock.now + 3000)
        while inp(u, LSR) & 1:
            got.append(inp(u, RBR))
    assert bytes(got) == bytes(sent)
