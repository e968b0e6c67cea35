"""The 8042 keyboard controller, its PS/2 keyboard and mouse, and port 0x92
(peripherals/i8042.py).

Most tests talk to the real bus of a real Machine and move its clock with `advance_to`,
which fires every event at its own deadline, so the cycle a byte lands in the output buffer
can be asserted exactly: the controller takes CONTROLLER_US to act on a byte, a PS/2 frame
takes 11 bit times (12 plus the request-to-send towards a device), a device answers
RESPONSE_US after a byte.  The tests at the end run real instructions: the BIOS's keyboard
POST sequence, the A20 wrap test, resets through the 8042 and port 0x92, and a guest reading
typed keys, recorded and replayed bit for bit.
"""
import pytest
from hypothesis import given, settings, strategies as st

from core.clock import ClockDomain
from core.machine import Machine
from peripherals import i8042 as kbc
from peripherals.i8042 import I8042, translate

FREQ = 33_000_000
US = ClockDomain(FREQ, 1_000_000)


def us(n):
    return US.to_cycles(n)


LATENCY = us(kbc.CONTROLLER_US)
RX = us(11 * kbc.PS2_BIT_US)                         # a frame from a device
TX = us(kbc.RTS_US) + us(12 * kbc.PS2_BIT_US)        # a frame to a device, with its ACK bit
RESP = us(kbc.RESPONSE_US)
# A command byte written at t to the keyboard: its first answer is in the buffer at
# t + ROUND_TRIP.
ROUND_TRIP = LATENCY + TX + RESP + RX


class IrqRecorder:
    def __init__(self, machine):
        self.machine = machine
        self.log = []

    def set_irq(self, line, level):
        self.log.append((self.machine.clock.now, line, bool(level)))

    def edges(self, line, level=True):
        return [c for c, l, v in self.log if l == line and v == level]


def make(**kw):
    m = Machine(cpu="80386", memory=4 << 20)
    m.pic = IrqRecorder(m)
    return m, I8042(m, **kw)


def advance_to(m, cycle):
    clock = m.clock
    while clock.next_deadline <= cycle:
        clock.now = max(clock.now, clock.next_deadline)
        clock.run_due()
    clock.now = max(clock.now, cycle)


def advance(m, cycles):
    advance_to(m, m.clock.now + cycles)


def status(m):
    return m.bus.port_read(0x64, 1)


def data(m):
    return m.bus.port_read(0x60, 1)


def command(m, byte):
    m.bus.port_write(0x64, 1, byte)


def write(m, byte):
    m.bus.port_write(0x60, 1, byte)


def settle(m, limit=2_000_000_000):
    """Run until nothing is scheduled (or `limit` cycles)."""
    end = m.clock.now + limit
    while m.clock.next_deadline <= end:
        advance_to(m, m.clock.next_deadline)


def read_byte(m, limit=us(1_000_000)):
    """Wait (in guest time) for OBF like a polling driver, then read 0x60."""
    end = m.clock.now + limit
    while not status(m) & 1:
        assert m.clock.next_deadline <= end, "no byte arrived"
        advance_to(m, m.clock.next_deadline)
    return data(m)


def drain(m, limit=us(1_000_000)):
    out = []
    end = m.clock.now + limit
    while True:
        if status(m) & 1:
            out.append(data(m))
            continue
        if m.clock.next_deadline > end:
            return out
        advance_to(m, m.clock.next_deadline)


def controller(m, cmd, *args):
    """A controller command with its data bytes, BIOS style (wait for IBF clear)."""
    command(m, cmd)
    for a in args:
        while status(m) & 2:
            advance_to(m, m.clock.next_deadline)
        write(m, a)
    while status(m) & 2:
        advance_to(m, m.clock.next_deadline)


def set_command_byte(m, value):
    controller(m, 0x60, value)


# ---------------------------------------------------------------- the controller

def test_power_on_status_and_command_byte():
    m, k = make()
    assert status(m) == 0x10                          # not inhibited, nothing else
    command(m, 0x20)
    assert status(m) == 0x1A                          # IBF and "command" until it is taken
    assert read_byte(m) == 0x60                       # XLATE, mouse interface off
    assert m.bus.a20


def test_self_test_timing_and_system_flag():
    m, k = make()
    t0 = m.clock.now
    command(m, 0xAA)
    advance_to(m, t0 + LATENCY - 1)
    assert status(m) & 0x03 == 0x02                   # IBF still set
    advance_to(m, t0 + LATENCY)
    assert status(m) & 0x07 == 0x05                   # taken: result in the buffer, SYS
    assert data(m) == 0x55
    assert status(m) & 0x01 == 0


def test_interface_tests_and_input_port():
    m, k = make()
    command(m, 0xAB)
    assert read_byte(m) == 0x00
    command(m, 0xA9)
    assert read_byte(m) == 0x00
    command(m, 0xC0)
    assert read_byte(m) == kbc.INPUT_PORT
    command(m, 0xE0)                                  # test inputs: keyboard clock high
    assert read_byte(m) == 0x01


def test_command_byte_write_read_and_ram():
    m, k = make()
    set_command_byte(m, 0x47)
    command(m, 0x20)
    assert read_byte(m) == 0x47
    assert status(m) & 0x04                           # SYS mirrors bit 2
    controller(m, 0x65, 0x99)                         # RAM byte 5
    command(m, 0x25)
    assert read_byte(m) == 0x99


@pytest.mark.parametrize("cmd, bit, expected", [(0xAD, 0x10, True), (0xAE, 0x10, False),
                                                 (0xA7, 0x20, True), (0xA8, 0x20, False)])
def test_port_enable_disable_commands(cmd, bit, expected):
    m, k = make()
    set_command_byte(m, 0x00 if expected else 0x30)
    command(m, cmd)
    advance(m, LATENCY)
    command(m, 0x20)
    assert bool(read_byte(m) & bit) == expected


def test_output_buffer_interrupt_follows_the_command_byte():
    m, k = make()
    set_command_byte(m, 0x01)                         # INT1
    command(m, 0xAA)
    advance(m, LATENCY)
    assert m.pic.edges(1) == [m.clock.now]
    data(m)
    assert m.pic.edges(1, False) == [m.clock.now]
    # Enabling the interrupt while a byte waits raises IRQ1 then.
    set_command_byte(m, 0x00)
    command(m, 0xAA)
    advance(m, LATENCY)
    assert len(m.pic.edges(1)) == 1
    set_command_byte(m, 0x01)                         # queued behind the 0x55: no wait
    assert len(m.pic.edges(1)) == 2


def test_write_output_buffers_as_keyboard_and_mouse():
    m, k = make()
    set_command_byte(m, 0x03)
    controller(m, 0xD2, 0x5A)
    assert status(m) & 0x21 == 0x01 and data(m) == 0x5A
    controller(m, 0xD3, 0xA5)
    assert status(m) & 0x21 == 0x21 and data(m) == 0xA5
    assert m.pic.edges(1) and m.pic.edges(12)


def test_read_output_port_shows_a20_and_buffer_bits():
    m, k = make()
    command(m, 0xD0)
    assert read_byte(m) == 0xCF
    controller(m, 0xD1, 0xDD)
    assert not m.bus.a20
    command(m, 0xD0)
    advance(m, LATENCY)
    # Bits 4/5 are the buffer-full lines, sampled while the buffer was still empty.
    assert data(m) == 0xDD & ~0x30
    controller(m, 0xDF)
    assert m.bus.a20


# ---------------------------------------------------------------- the keyboard

def test_keyboard_reset_ack_then_bat_with_exact_timing():
    m, k = make()
    t0 = m.clock.now
    write(m, 0xFF)
    advance_to(m, t0 + ROUND_TRIP - 1)
    assert not status(m) & 1
    advance_to(m, t0 + ROUND_TRIP)
    assert status(m) & 1 and data(m) == 0xFA
    t_bat = t0 + LATENCY + TX + us(kbc.RESPONSE_US + kbc.BAT_US) + RX
    advance_to(m, t_bat - 1)
    assert not status(m) & 1
    advance_to(m, t_bat)
    assert data(m) == 0xAA


def test_keyboard_commands_with_translation():
    m, k = make()
    write(m, 0xED)                                    # LEDs
    assert read_byte(m) == 0xFA
    write(m, 0x07)
    assert read_byte(m) == 0xFA and k.keyboard.leds == 7
    write(m, 0xEE)
    assert read_byte(m) == 0xEE                       # echo, no ACK
    write(m, 0xF2)
    assert drain(m) == [0xFA, 0xAB, 0x41]             # 0x83 translated
    write(m, 0xF0)
    assert read_byte(m) == 0xFA
    write(m, 0x00)
    assert drain(m) == [0xFA, 0x41]                   # set 2, translated
    write(m, 0xF3)
    assert read_byte(m) == 0xFA
    write(m, 0x20)
    assert read_byte(m) == 0xFA and k.keyboard.typematic == 0x20
    write(m, 0xF1)
    assert read_byte(m) == 0xFE                       # not a command: resend


def test_keyboard_commands_untranslated():
    m, k = make()
    set_command_byte(m, 0x00)
    write(m, 0xF2)
    assert drain(m) == [0xFA, 0xAB, 0x83]
    write(m, 0xF0)
    assert read_byte(m) == 0xFA
    write(m, 0x03)
    assert read_byte(m) == 0xFA and k.keyboard.scan_set == 3
    write(m, 0xF0)
    read_byte(m)
    write(m, 0x00)
    assert drain(m) == [0xFA, 0x03]
    write(m, 0xFE)                                    # resend: the last byte again
    assert read_byte(m) == 0x03


def test_scan_codes_through_the_ports_with_set1_translation():
    m, k = make()                                     # power-on: XLATE
    k.press("a")
    k.release("a")
    k.press("right")
    k.release("right")
    assert drain(m) == [0x1E, 0x9E, 0xE0, 0x4D, 0xE0, 0xCD]


def test_scan_codes_untranslated_set2():
    m, k = make()
    set_command_byte(m, 0x00)
    k.press("a")
    k.release("a")
    k.press("rctrl")
    k.release("rctrl")
    assert drain(m) == [0x1C, 0xF0, 0x1C, 0xE0, 0x14, 0xE0, 0xF0, 0x14]


def test_keyboard_in_set1_sends_set1_without_translation():
    m, k = make()
    set_command_byte(m, 0x00)
    write(m, 0xF0)
    read_byte(m)
    write(m, 0x01)
    read_byte(m)
    k.press("esc")
    k.release("esc")
    assert drain(m) == [0x01, 0x81]


def test_scan_code_byte_timing():
    """A make code lands one frame after the press; the next byte's frame starts only when
    the CPU has read the buffer; a translated break costs two frames (F0, then the code)."""
    m, k = make()
    t0 = m.clock.now
    k.press("up")                                     # E0 75 -> E0 48
    advance_to(m, t0 + RX - 1)
    assert not status(m) & 1
    advance_to(m, t0 + RX)
    assert status(m) & 1
    advance(m, us(5000))                              # the CPU reads late
    t1 = m.clock.now
    assert data(m) == 0xE0                            # nothing else came meanwhile
    advance_to(m, t1 + RX - 1)
    assert not status(m) & 1
    advance_to(m, t1 + RX)
    assert data(m) == 0x48
    t2 = m.clock.now
    k.release("up")                                   # E0 F0 75 -> E0 C8
    advance_to(m, t2 + RX)
    assert data(m) == 0xE0
    t3 = m.clock.now
    advance_to(m, t3 + 2 * RX - 1)
    assert not status(m) & 1
    advance_to(m, t3 + 2 * RX)
    assert data(m) == 0xC8


def test_irq1_for_each_scan_code():
    m, k = make()
    set_command_byte(m, 0x41)
    k.press("b")
    advance(m, RX)
    assert m.pic.edges(1) == [m.clock.now]
    assert data(m) == 0x30
    assert m.pic.log[-1][1:] == (1, False)


def test_disabled_keyboard_interface_holds_codes_until_enabled():
    m, k = make()
    command(m, 0xAD)
    advance(m, LATENCY)
    k.press("z")
    advance(m, us(10_000))
    assert not status(m) & 1
    t = m.clock.now
    command(m, 0xAE)
    advance_to(m, t + LATENCY + RX)
    assert data(m) == 0x2C


def test_disabling_mid_frame_resends_the_byte():
    m, k = make()
    k.press("q")
    advance(m, us(3 * kbc.PS2_BIT_US))                # three bits into the frame
    command(m, 0xAD)
    advance(m, LATENCY + RX)
    assert not status(m) & 1
    command(m, 0xAE)
    assert read_byte(m) == 0x10                       # the whole byte, sent again


def test_fake_shifts_and_special_keys():
    m, k = make()
    write(m, 0xED)
    read_byte(m)
    write(m, 0x02)                                    # NumLock LED on
    read_byte(m)
    k.press("insert")
    k.release("insert")
    assert drain(m) == [0xE0, 0x2A, 0xE0, 0x52, 0xE0, 0xD2, 0xE0, 0xAA]
    write(m, 0xED)
    read_byte(m)
    write(m, 0x00)
    read_byte(m)
    k.press("lshift")
    k.press("home")
    k.release("home")
    k.release("lshift")
    assert drain(m) == [0x2A, 0xE0, 0xAA, 0xE0, 0x47, 0xE0, 0xC7, 0xE0, 0x2A, 0xAA]
    k.press("pause")
    k.release("pause")
    assert drain(m) == [0xE1, 0x1D, 0x45, 0xE1, 0x9D, 0xC5]
    k.press("printscreen")
    k.release("printscreen")
    assert drain(m) == [0xE0, 0x2A, 0xE0, 0x37, 0xE0, 0xB7, 0xE0, 0xAA]
    k.press("lctrl")
    k.press("pause")
    k.release("pause")
    k.release("lctrl")
    assert drain(m) == [0x1D, 0xE0, 0x46, 0xE0, 0xC6, 0x9D]


def test_typematic_repeat_after_delay_at_rate():
    m, k = make()
    t0 = m.clock.now
    k.press("x")
    codes = []
    times = []
    end = t0 + us(1_000_000)
    while m.clock.next_deadline <= end:
        advance_to(m, m.clock.next_deadline)
        if status(m) & 1:
            times.append(m.clock.now)
            codes.append(data(m))
    assert codes[0] == 0x2D and len(codes) > 3 and set(codes) == {0x2D}
    # Default 0x2B: 500 ms delay, then (8 + 3) * 2 * 4.17 ms = 91.74 ms.
    assert times[1] == t0 + us(500_000) + RX
    assert times[2] - times[1] == us(91_740)
    k.release("x")
    assert drain(m) == [0xAD]


def test_key_buffer_overrun():
    m, k = make()
    set_command_byte(m, 0x10)                         # no translation, keyboard held off
    for key in "qwertyuiop":                          # ten makes now, breaks 1 ms later
        k.tap(key, hold_us=1000)
    settle(m, us(50_000))
    command(m, 0xAE)
    got = drain(m)
    makes = [kbc.KEYS[c][0] for c in "qwertyuiop"]
    # 16 bytes fit: ten makes and three breaks; the 17th position gets the overrun code
    # and every later keystroke is lost.
    assert got == makes + [0xF0, makes[0], 0xF0, makes[1], 0xF0, makes[2], 0x00]


def test_unknown_key_name_is_an_error():
    m, k = make()
    with pytest.raises(ValueError, match="unknown key"):
        k.press("hyper")


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(sorted(kbc.KEYS)))
def test_set1_codes_are_translated_set2(name):
    """Every key: the keyboard in set 1 sends what the 8042 makes of its set-2 codes, and a
    break is the make with bit 7 set (except Pause, which has no break)."""
    m, k = make()
    kb = k.keyboard
    make2, break2 = kb.codes(name, True), kb.codes(name, False)
    kb.scan_set = 1
    make1, break1 = kb.codes(name, True), kb.codes(name, False)
    assert make1 == translate(make2) and break1 == translate(break2)
    if name not in ("pause", "printscreen"):          # those two add fake shifts/E1 codes
        assert break1 == make1[:-1] + bytes((make1[-1] | 0x80,))


def test_translation_table_facts():
    assert kbc.XLATE_TABLE[0x00] == 0xFF
    assert kbc.XLATE_TABLE[0x76] == 0x01              # Esc
    assert kbc.XLATE_TABLE[0x83] == 0x41 and kbc.XLATE_TABLE[0x84] == 0x54
    assert kbc.XLATE_TABLE[0xFA] == 0xFA and kbc.XLATE_TABLE[0xAA] == 0xAA
    assert sorted(kbc.XLATE_TABLE[1:0x80]) == list(range(1, 0x80))   # 01-7F: one-to-one


# ---------------------------------------------------------------- the mouse

def mouse_cmd(m, byte):
    controller(m, 0xD4, byte)


def test_mouse_reset_and_id():
    m, k = make()
    set_command_byte(m, 0x03)                         # both interfaces on, both IRQs
    mouse_cmd(m, 0xFF)
    got = []
    while len(got) < 3:
        b = read_byte(m)
        assert status(m) & 0x20 == 0                  # AUXB cleared by the read
        got.append(b)
    assert got == [0xFA, 0xAA, 0x00]
    assert len(m.pic.edges(12)) == 3 and m.pic.edges(1) == []
    mouse_cmd(m, 0xF2)
    assert drain(m) == [0xFA, 0x00]


def test_mouse_stream_packets_at_the_sample_rate():
    m, k = make()
    set_command_byte(m, 0x03)
    mouse_cmd(m, 0xF4)
    assert read_byte(m) == 0xFA
    t0 = m.clock.now
    k.move(5, -3, buttons=1)
    period = ClockDomain(FREQ, 100)                   # default 100 samples/s
    sample = period.to_cycles(period.to_ticks(t0) + 1)
    advance_to(m, sample + RX - 1)
    assert not status(m) & 1
    advance_to(m, sample + RX)
    assert status(m) & 0x21 == 0x21
    assert drain(m) == [0x08 | 0x20 | 0x01, 5, 0xFD]
    k.move(-300, 0)                                   # overflow
    assert drain(m) == [0x08 | 0x40 | 0x10 | 0x01, 0x00, 0x00]


def test_mouse_settings_and_status_request():
    m, k = make()
    set_command_byte(m, 0x03)
    for b in (0xF3, 40, 0xE8, 3, 0xE7, 0xF0):
        mouse_cmd(m, b)
        assert read_byte(m) == 0xFA
    mouse_cmd(m, 0xE9)
    assert drain(m) == [0xFA, 0x50, 3, 40]             # remote, scaling 2:1
    k.move(4, 1, buttons=4)                            # middle button
    mouse_cmd(m, 0xEB)                                 # read data in remote mode
    assert drain(m) == [0xFA, 0x08 | 0x04, 6, 1]       # 2:1 scaling: 4 -> 6
    mouse_cmd(m, 0xF3)
    read_byte(m)
    mouse_cmd(m, 33)                                   # not a sample rate
    assert read_byte(m) == 0xFE


def test_intellimouse_wheel():
    m, k = make()
    set_command_byte(m, 0x03)
    for b in (0xF3, 200, 0xF3, 100, 0xF3, 80):
        mouse_cmd(m, b)
        read_byte(m)
    mouse_cmd(m, 0xF2)
    assert drain(m) == [0xFA, 0x03]
    mouse_cmd(m, 0xF4)
    read_byte(m)
    k.move(0, 0, wheel=-2)
    assert drain(m) == [0x08, 0, 0, 0xFE]


def test_mouse_wrap_mode_echoes():
    m, k = make()
    set_command_byte(m, 0x03)
    mouse_cmd(m, 0xEE)
    read_byte(m)
    mouse_cmd(m, 0x12)
    assert read_byte(m) == 0x12
    mouse_cmd(m, 0xEC)
    assert read_byte(m) == 0xFA


def test_mouse_bytes_wait_while_the_aux_port_is_disabled():
    m, k = make()                                      # power-on: mouse interface disabled
    mouse_cmd(m, 0xF2)
    advance(m, us(20_000))
    assert not status(m) & 1
    command(m, 0xA8)
    assert drain(m) == [0xFA, 0x00]


# ---------------------------------------------------------------- A20, reset, port 0x92

def test_port92_fast_a20_and_reset_edge():
    m, k = make()
    resets = []
    m.request_reset = lambda: resets.append(m.clock.now)
    controller(m, 0xD1, 0xDD)                         # the 8042's gate closed
    assert not m.bus.a20
    m.bus.port_write(0x92, 1, 0x02)
    assert m.bus.a20 and m.bus.port_read(0x92, 1) == 0x02
    m.bus.port_write(0x92, 1, 0x00)
    assert not m.bus.a20
    controller(m, 0xD1, 0xDF)                         # either input opens the gate
    assert m.bus.a20
    m.bus.port_write(0x92, 1, 0x01)
    assert resets == [m.clock.now]
    m.bus.port_write(0x92, 1, 0x01)                   # no new 0 -> 1 edge
    assert len(resets) == 1


def test_pulse_reset_happens_when_the_controller_takes_the_command():
    m, k = make()
    resets = []
    m.request_reset = lambda: resets.append(m.clock.now)
    t0 = m.clock.now
    command(m, 0xFE)
    settle(m)
    assert resets == [t0 + LATENCY]
    command(m, 0xFF)                                  # pulses nothing
    settle(m)
    assert len(resets) == 1
    controller(m, 0xD1, 0xDE)                         # output port bit 0 low
    assert len(resets) == 2
    command(m, 0xD0)
    assert read_byte(m) & 0x03 == 0x03                # line released again afterwards


RESET_ROM_BASE = 0xFFFF0000


def machine_with_reset_rom():
    """A 386 whose reset vector holds `cli; hlt`, so a CPU reset ends in a clean halt."""
    m = Machine(cpu="80386", memory=4 << 20)
    m.pic = IrqRecorder(m)
    rom = bytearray(b"\xF4" * 0x10000)
    rom[0xFFF0:0xFFF2] = b"\xFA\xF4"
    m.bus.map_rom(RESET_ROM_BASE, bytes(rom))
    return m, I8042(m)


@pytest.mark.parametrize("how", ["pulse", "output_port", "port92"])
def test_guest_resets_the_machine(how):
    from tests.asm import load, nasm
    m, k = machine_with_reset_rom()
    code = {
        "pulse": "mov al, 0xFE\nout 0x64, al",
        "output_port": "mov al, 0xD1\nout 0x64, al\nw: in al, 0x64\ntest al, 2\njnz w\n"
                       "mov al, 0xFE\nout 0x60, al",
        "port92": "in al, 0x92\nor al, 1\nout 0x92, al",
    }[how]
    load(m, nasm("cli\n" + code + "\nspin: jmp spin"))
    assert m.run(max_cycles=1_000_000) == "halt"
    assert m.resets == 1
    assert m.cpu.cs == 0xF000 and m.cpu.ip == 0xFFF2


def test_guest_a20_wrap_test():
    """The classic check: with A20 off FFFF:0510 is 0000:0500; on, they differ."""
    from tests.asm import load, nasm
    m, k = make()
    src = """
        cli
        xor ax, ax
        mov ds, ax
        mov ax, 0xFFFF
        mov es, ax
        call kbc_wait
        mov al, 0xD1
        out 0x64, al
        call kbc_wait
        mov al, 0xDD            ; A20 off
        out 0x60, al
        call kbc_wait
        call probe
        mov [0x700], al
        call kbc_wait
        mov al, 0xD1
        out 0x64, al
        call kbc_wait
        mov al, 0xDF            ; A20 on
        out 0x60, al
        call kbc_wait
        call probe
        mov [0x701], al
        hlt
    probe:                      ; al = 1 if memory wraps at 1 MiB
        mov byte [0x500], 0x11
        mov byte [es:0x510], 0x22
        mov al, [0x500]
        cmp al, 0x22
        sete al
        ret
    kbc_wait:
        in al, 0x64
        test al, 2
        jnz kbc_wait
        ret
    """
    load(m, nasm(src))
    assert m.run(max_cycles=5_000_000) == "halt"
    assert m.mem.read8(0x700) == 1 and m.mem.read8(0x701) == 0


BIOS_KBD_POST = """
        cli
        mov al, 0xAD            ; disable the keyboard interface
        out 0x64, al
        call wait_ibf
    flush:
        in al, 0x64
        test al, 1
        jz flushed
        in al, 0x60
        jmp flush
    flushed:
        mov al, 0xAA            ; controller self test
        out 0x64, al
        call read_obf
        mov [0x700], al
        mov al, 0xAB            ; keyboard interface test
        out 0x64, al
        call read_obf
        mov [0x701], al
        mov al, 0x60            ; command byte: XLATE, SYS, INT1
        out 0x64, al
        call wait_ibf
        mov al, 0x65
        out 0x60, al
        call wait_ibf
        mov al, 0xAE
        out 0x64, al
        call wait_ibf
        mov al, 0xFF            ; reset the keyboard: ACK, then the BAT result
        out 0x60, al
        call read_obf
        mov [0x702], al
        call read_obf
        mov [0x703], al
        mov al, 0xF4            ; enable scanning
        out 0x60, al
        call read_obf
        mov [0x704], al
        mov al, 0x20
        out 0x64, al
        call read_obf
        mov [0x705], al
        in al, 0x64
        mov [0x706], al
        hlt
    wait_ibf:
        in al, 0x64
        test al, 2
        jnz wait_ibf
        ret
    read_obf:
        in al, 0x64
        test al, 1
        jz read_obf
        in al, 0x60
        ret
"""


def test_bios_keyboard_post_sequence_on_the_cpu():
    from tests.asm import load, nasm
    m, k = make()
    k.press("a")                                      # a key already down at power-on
    load(m, nasm(BIOS_KBD_POST))
    assert m.run(max_cycles=100_000_000) == "halt"
    assert list(m.mem.read(0x700, 7)) == [0x55, 0x00, 0xFA, 0xAA, 0xFA, 0x65, 0x1C]
    # The reset took the keyboard's BAT time.
    assert m.clock.now > us(kbc.BAT_US)
    # Status 0x1C: keylock off, last write a command, system flag (set by the self test).


TYPE_READER = """
        cli
        xor ax, ax
        mov es, ax
        mov di, 0x800
    next:
        in al, 0x64
        test al, 1
        jz next
        in al, 0x60
        stosb
        cmp di, 0x800 + %d
        jne next
        hlt
"""


def run_typing(text, log=None):
    from tests.asm import load, nasm
    m, k = make()
    expected = []
    for ch in text:
        key, shifted = kbc.char_keys(ch)
        kb = k.keyboard
        seq = b""
        if shifted:
            seq += kb.codes("lshift", True)
        seq += kb.codes(key, True) + kb.codes(key, False)
        if shifted:
            seq += kb.codes("lshift", False)
        expected += list(translate(seq))
    load(m, nasm(TYPE_READER % len(expected)))
    if log is None:
        k.type_text(text, at=us(1000))
    else:
        k.replay(log)
    assert m.run(max_cycles=200_000_000) == "halt"
    return m, k, expected


def test_guest_reads_typed_text_and_replay_is_identical():
    m, k, expected = run_typing("Hi!\n")
    got = list(m.mem.read(0x800, len(expected)))
    assert got == expected
    assert got[:2] == [0x2A, 0x23]                    # LShift, h
    log = list(k.input_log)
    assert [e for _, e in log][:2] == [("key", "lshift", True), ("key", "h", True)]
    assert all(c >= us(1000) for c, _ in log)

    m2, k2, _ = run_typing("Hi!\n", log=log)
    assert m2.mem.read(0x800, len(expected)) == m.mem.read(0x800, len(expected))
    assert m2.clock.now == m.clock.now
    assert m2.cpu.icount == m.cpu.icount
    assert k2.input_log == log


def test_host_events_in_the_past_are_refused():
    m, k = make()
    advance(m, 1000)
    with pytest.raises(ValueError, match="past"):
        k.press("a", at=10)


# ---------------------------------------------------------------- snapshots and views

def test_snapshot_mid_conversation_restores_the_same_future():
    m, k = make()
    set_command_byte(m, 0x43)
    k.type_text("ok", at=m.clock.now + us(300))
    write(m, 0xF2)
    advance(m, us(1500))                              # mid-frame, timers pending
    state = k.get_state()
    now = m.clock.now
    got = drain(m)

    m2, k2 = make()
    m2.clock.now = now
    k2.set_state(state)
    assert drain(m2) == got
    assert k2.keyboard.scan_set == 2 and k2.input_log == k.input_log


def test_machine_reset_returns_to_power_on():
    m, k = make()
    set_command_byte(m, 0x03)
    controller(m, 0xD1, 0xDD)
    m.bus.port_write(0x92, 1, 0x00)
    m.reset()
    assert m.bus.a20
    command(m, 0x20)
    assert read_byte(m) == kbc.COMMAND_BYTE_POWER_ON


def test_info_lists_the_state():
    m, k = make()
    text = k.info()
    assert "status 10" in text and "command byte 60" in text
    assert "keyboard: set 2" in text and "mouse: id 0" in text
