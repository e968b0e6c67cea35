"""The debug port device: console, POST codes, Bochs shutdown and isa-debug-exit.

Most tests drive the handlers through a stand-in bus that keeps the registered handlers, so
they run without the compiled core; the last ones run real OUT/IN instructions on the
emulated CPU, through the real bus.
"""
import io

import pytest

from peripherals.debugport import DebugPort, file_sink


class FakeBus:
    """Records register_io calls and dispatches port accesses the way the bus does."""

    def __init__(self):
        self.handlers = {}

    def register_io(self, first, count, read, write):
        for port in range(first, first + count):
            assert port not in self.handlers, "port 0x%X claimed twice" % port
            self.handlers[port] = (read, write)

    def out(self, port, value, width=1):
        self.handlers[port][1](port, width, value)

    def inp(self, port, width=1):
        return self.handlers[port][0](port, width)


class FakeMachine:
    def __init__(self):
        self.bus = FakeBus()
        self.devices = []
        self.stops = 0

    def request_stop(self):
        self.stops += 1


@pytest.fixture
def machine():
    return FakeMachine()


def out_text(bus, port, text):
    for byte in text.encode("latin-1"):
        bus.out(port, byte)


def test_claims_exactly_its_ports(machine):
    port = DebugPort(machine)
    assert sorted(machine.bus.handlers) == [0x80, 0xE9, 0xF4, 0x402, 0x403, 0x8900]
    assert machine.devices == [port]


def test_firmware_log_is_kept_apart(machine):
    chunks = []
    port = DebugPort(machine, bios_echo=chunks.append)
    out_text(machine.bus, 0x402, "SeaBIOS\n")
    out_text(machine.bus, 0x403, "rombios")
    assert port.bios_log == b"SeaBIOS\nrombios" and port.output == b""
    assert b"".join(chunks) == port.bios_log
    assert machine.bus.handlers[0x402][0](0x402, 1) == 0xE9


def test_console_bytes_are_kept_in_order(machine):
    port = DebugPort(machine)
    out_text(machine.bus, 0xE9, "hello\n")
    assert port.output == b"hello\n"
    assert port.text == "hello\n"
    assert machine.stops == 0


def test_console_echo_gets_every_byte(machine):
    chunks = []
    port = DebugPort(machine, keep=False, echo=chunks.append)
    out_text(machine.bus, 0xE9, "ab")
    assert chunks == [b"a", b"b"]
    assert port.output == b""             # keep=False keeps nothing
    assert port.console_bytes == 2


def test_wide_console_write_gives_bytes_low_first(machine):
    port = DebugPort(machine)
    machine.bus.out(0xE9, 0x6948, width=2)              # 'H' 'i'
    machine.bus.out(0xE9, 0x0A212121, width=4)          # '!' '!' '!' '\n'
    assert port.output == b"Hi!!!\n"


def test_reading_e9_identifies_the_port(machine):
    DebugPort(machine)
    assert machine.bus.inp(0xE9) == 0xE9
    # The neighbours of the byte port are nobody's, so their lanes read as all ones.
    assert machine.bus.inp(0xE9, width=2) == 0xFFE9


def test_text_replaces_undecodable_bytes(machine):
    port = DebugPort(machine)
    machine.bus.out(0xE9, 0xFF)
    assert port.output == b"\xff"
    assert port.text == "\ufffd"


def test_post_codes_are_recorded_and_read_back(machine):
    port = DebugPort(machine)
    assert machine.bus.inp(0x80) == 0x00
    for code in (0x01, 0x13, 0xFF, 0x13):
        machine.bus.out(0x80, code)
    machine.bus.out(0x80, 0xBEEF, width=2)              # only the low byte reaches the card
    assert port.post_codes == [0x01, 0x13, 0xFF, 0x13, 0xEF]
    assert machine.bus.inp(0x80) == 0xEF
    assert machine.stops == 0


def test_shutdown_string_stops_with_status_zero(machine):
    port = DebugPort(machine)
    out_text(machine.bus, 0x8900, "Shutdow")
    assert machine.stops == 0 and port.exit_status is None
    out_text(machine.bus, 0x8900, "n")
    assert machine.stops == 1
    assert port.exit_status == 0
    assert "0x8900" in port.stop_reason


@pytest.mark.parametrize("noise", ["Shut down", "shutdown", "Shutdow", "XShutdow"])
def test_shutdown_needs_the_exact_string(machine, noise):
    port = DebugPort(machine)
    out_text(machine.bus, 0x8900, noise)
    assert machine.stops == 0 and port.exit_status is None


def test_shutdown_match_restarts_after_noise(machine):
    port = DebugPort(machine)
    out_text(machine.bus, 0x8900, "ShutSShutdown")
    assert machine.stops == 1 and port.exit_status == 0


def test_shutdown_word_writes_are_bytes_low_first(machine):
    port = DebugPort(machine)
    for pair in ("Sh", "ut", "do", "wn"):
        machine.bus.out(0x8900, int.from_bytes(pair.encode(), "little"), width=2)
    assert machine.stops == 1 and port.exit_status == 0


@pytest.mark.parametrize("value, status", [(0, 1), (1, 3), (0x10, 33), (0x7F, 255),
                                           (0xFF, 511)])
def test_debug_exit_status_is_value_shifted_with_low_bit_set(machine, value, status):
    port = DebugPort(machine)
    machine.bus.out(0xF4, value)
    assert machine.stops == 1
    assert port.exit_status == status
    assert port.exit_status != 0          # a guest can never fake a clean exit here


def test_debug_exit_uses_the_whole_written_width(machine):
    port = DebugPort(machine)
    machine.bus.out(0xF4, 0x1234, width=2)
    assert port.exit_status == (0x1234 << 1) | 1


def test_reset_forgets_the_stop_but_keeps_the_log(machine):
    port = DebugPort(machine)
    out_text(machine.bus, 0xE9, "x")
    machine.bus.out(0x80, 5)
    machine.bus.out(0xF4, 2)
    out_text(machine.bus, 0x8900, "Shut")
    port.reset()
    assert (port.exit_status, port.stop_reason) == (None, None)
    assert (port.output, port.post_codes) == (b"x", [5])
    out_text(machine.bus, 0x8900, "down")           # the half-matched prefix is gone too
    assert port.exit_status is None


def test_clear_empties_the_log(machine):
    port = DebugPort(machine)
    out_text(machine.bus, 0xE9, "x")
    machine.bus.out(0x80, 5)
    port.clear()
    assert (port.output, port.console_bytes, port.post_codes) == (b"", 0, [])


def test_state_round_trips(machine):
    port = DebugPort(machine)
    out_text(machine.bus, 0xE9, "abc")
    machine.bus.out(0x80, 0x42)
    out_text(machine.bus, 0x8900, "Shutd")
    state = port.get_state()

    other_machine = FakeMachine()
    other = DebugPort(other_machine)
    other.set_state(state)
    assert other.output == b"abc" and other.post_codes == [0x42]
    out_text(other_machine.bus, 0x8900, "own")       # finishes the match saved mid-way
    assert other.exit_status == 0
    assert port.get_state() == state                  # the original is untouched


def test_info_mentions_codes_and_exit(machine):
    port = DebugPort(machine)
    machine.bus.out(0x80, 0xAB)
    machine.bus.out(0xF4, 0x10)
    text = port.info()
    assert "AB" in text and "exit status 33" in text


def test_file_sink_binary_and_text():
    raw = io.BytesIO()
    sink = file_sink(raw)
    sink(b"caf\xe9\n")
    assert raw.getvalue() == b"caf\xe9\n"

    text = io.StringIO()
    sink = file_sink(text)
    sink(b"caf\xe9\n")
    assert text.getvalue() == "caf\xe9\n"             # Latin-1: every byte is one character

    wrapped = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    wrapped.write("before ")
    sink = file_sink(wrapped)                         # like sys.stdout: bytes go underneath
    sink(b"\xe9\n")
    assert wrapped.buffer.getvalue() == b"before \xe9\n"


# ---------------------------------------------------------------- on the emulated CPU

def test_guest_out_and_in_reach_the_device():
    machine_mod = pytest.importorskip("core.machine", reason="the compiled core is not built")
    m = machine_mod.Machine(cpu="80386", memory=1 << 20)
    port = DebugPort(m)
    code = bytes([
        0xB0, ord("o"), 0xE6, 0xE9,        # mov al,'o' ; out 0xE9,al
        0xB0, ord("k"), 0xE6, 0xE9,        # mov al,'k' ; out 0xE9,al
        0xE4, 0xE9,                        # in al,0xE9
        0xE6, 0x80,                        # out 0x80,al   (records 0xE9 as a POST code)
        0xBA, 0x00, 0x89,                  # mov dx,0x8900
    ]) + b"".join(bytes([0xB0, c, 0xEE]) for c in b"Shutdown") + bytes([  # out dx,al
        0xF4,                              # hlt (not reached: the stop comes first)
    ])
    m.mem.write(0x1000, code)
    m.cpu.cs = 0
    m.cpu.eip = 0x1000
    assert m.run(max_cycles=100_000) == "stop"
    assert port.output == b"ok"
    assert port.post_codes == [0xE9]
    assert port.exit_status == 0

    m.reset()                                         # Machine.reset reaches the device
    assert port.exit_status is None and port.output == b"ok"


def test_guest_word_out_to_debug_exit():
    machine_mod = pytest.importorskip("core.machine", reason="the compiled core is not built")
    m = machine_mod.Machine(cpu="8086", memory=1 << 20)
    port = DebugPort(m)
    m.mem.write(0x500, bytes([0xB8, 0x34, 0x12,      # mov ax,0x1234
                              0xE7, 0xF4,            # out 0xF4,ax
                              0xF4]))                # hlt
    m.cpu.cs = 0
    m.cpu.ip = 0x500
    assert m.run(max_cycles=10_000) == "stop"
    assert port.exit_status == (0x1234 << 1) | 1


def test_file_sink_stops_at_the_first_write_error():
    class Closed(io.RawIOBase):
        writes = 0

        def writable(self):
            return True

        def write(self, data):
            Closed.writes += 1
            raise BrokenPipeError(32, "Broken pipe")

    sink = file_sink(Closed())
    sink(b"a")
    sink(b"b")
    assert isinstance(sink.failed, BrokenPipeError)
    assert Closed.writes == 1                          # reported once, then quiet
