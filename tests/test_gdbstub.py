"""The gdb remote stub (debugger/gdbstub.py).

Two halves:
- the protocol, packet by packet, through a small socket client written here (framing,
  checksums, acks, registers, memory, points, running, the target description, monitor);
- end to end with the real gdb (Debian's gdb 13) in batch mode on NASM guests in real mode
  (tests/guests/gdb_real.asm) and 32-bit protected mode (tests/guests/gdb_pm.asm): breakpoints,
  watchpoints, stepi, registers, memory, monitor, Ctrl+C, a guest exit.

Everything runs on a real Machine under the real Debugger.
"""
import io
import re
import shutil
import signal
import socket
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from core import bench
from core.machine import Machine
from debugger import gdbstub
from debugger.controller import Debugger
from debugger.gdbstub import REGISTERS, GdbServer, checksum, frame, target_xml
from tests.asm import load, nasm

GUESTS = Path(__file__).resolve().parent / "guests"
REAL_BASE = 0x7C00                   # where gdb_real.asm is loaded (linear)
STOP1, SPIN = REAL_BASE + 0x20, REAL_BASE + 0x40
PM_FLAT, PM_MARK, ROM_CODE = 0xF0100, 0xF0140, 0xF0180
G_HEX_CHARS = sum(r.bits for r in REGISTERS) // 4
TIMEOUT = 60


# ---------------------------------------------------------------- fixtures and helpers

def real_machine(cs=0x07C0, ip=0):
    """gdb_real.asm at linear 0x7C00 as cs:ip, on a 386 (32-bit registers for gdb)."""
    m = Machine("80386")
    code = nasm(GUESTS.joinpath("gdb_real.asm").read_text())
    load(m, code, cs=cs, ip=ip)
    assert (cs << 4) + ip == REAL_BASE
    return m


def pm_machine():
    """gdb_pm.asm as the BIOS ROM of a 386, at its reset vector."""
    exe = shutil.which("nasm")
    if exe is None:
        pytest.fail("nasm is required (apt-get install nasm)")
    out = subprocess.run([exe, "-f", "bin", "-o", "/dev/stdout", str(GUESTS / "gdb_pm.asm")],
                         check=True, capture_output=True).stdout
    m, _port = bench.make_machine(out, cpu="80386", memory=4 << 20)
    return m


class Stub:
    """A GdbServer on a free port in its thread, closed at the end of the test."""

    def __init__(self, machine, monitor=None, log=None):
        self.dbg = Debugger(machine)
        self.server = GdbServer(self.dbg, port=0, monitor=monitor, log=log)
        self.port = self.server.start()

    def close(self):
        self.server.close()


@pytest.fixture
def stubs():
    made = []

    def make(machine, **kw):
        s = Stub(machine, **kw)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


class Client:
    """The gdb end of the protocol, by hand: frames packets, checks checksums, acks."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.buf = b""
        self.ack = True
        self.console = []                # text of the O packets received

    def close(self):
        self.sock.close()

    def _more(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("the stub closed the connection")
        self.buf += data

    def read_byte(self):
        while not self.buf:
            self._more()
        b, self.buf = self.buf[:1], self.buf[1:]
        return b

    def read_packet(self):
        """The next packet's payload (O packets are collected into .console)."""
        while True:
            while b"$" not in self.buf or not re.search(rb"#[0-9a-f]{2}", self.buf):
                self._more()
            start = self.buf.index(b"$")
            assert self.buf[:start].strip(b"+") == b"", "junk before a packet: %r" % self.buf
            end = self.buf.index(b"#", start)
            payload, given = self.buf[start + 1:end], self.buf[end + 1:end + 3]
            self.buf = self.buf[end + 3:]
            assert int(given, 16) == checksum(payload), "bad checksum from the stub"
            if self.ack:
                self.sock.sendall(b"+")
            if payload.startswith(b"O") and payload != b"OK":
                self.console.append(bytes.fromhex(payload[1:].decode()).decode())
                continue
            return payload

    def send(self, payload):
        self.sock.sendall(frame(payload))
        if self.ack:
            assert self.read_byte() == b"+"

    def ask(self, payload):
        self.send(payload)
        return self.read_packet()


@pytest.fixture
def client(stubs):
    clients = []

    def make(machine, **kw):
        stub = stubs(machine, **kw)
        c = Client(stub.port)
        clients.append(c)
        return stub, c
    yield make
    for c in clients:
        c.close()


def reg_hex(c, name):
    return int.from_bytes(bytes.fromhex(c.ask(b"p%x" % gdbstub.REG_INDEX[name]).decode()),
                          "little")


# ================================================================ the protocol

def test_checksum_and_frame():
    assert checksum(b"OK") == 0x9A
    assert frame(b"OK") == b"$OK#9a"
    assert frame(b"") == b"$#00"


def test_acks_and_a_bad_checksum_is_refused(client):
    stub, c = client(real_machine())
    c.sock.sendall(b"$qC#00")            # wrong checksum: the stub asks for it again
    assert c.read_byte() == b"-"
    assert c.ask(b"qC") == b"QC1"


def test_no_ack_mode(client):
    stub, c = client(real_machine())
    assert c.ask(b"QStartNoAckMode") == b"OK"
    c.ack = False
    c.sock.sendall(frame(b"qC"))
    assert c.read_packet() == b"QC1"
    assert c.buf == b""                  # and no '+' came before the reply


def test_qsupported_names_our_features(client):
    stub, c = client(real_machine())
    reply = c.ask(b"qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386").decode()
    features = dict(f.split("=") if "=" in f else (f[:-1], f[-1]) for f in reply.split(";"))
    assert int(features["PacketSize"], 16) >= 0x1000
    for name in ("qXfer:features:read", "vContSupported", "swbreak", "hwbreak",
                 "QStartNoAckMode"):
        assert features[name] == "+", name


def test_unknown_packets_get_the_empty_reply(client):
    stub, c = client(real_machine())
    for p in (b"vMustReplyEmpty", b"qTStatus", b"qFooBar", b"!", b"Z9,0,0",
              b"qXfer:osdata:read::0,100"):
        assert c.ask(p) == b"", p


def test_thread_queries(client):
    stub, c = client(real_machine())
    assert c.ask(b"qAttached") == b"1"
    assert c.ask(b"qC") == b"QC1"
    assert c.ask(b"qfThreadInfo") == b"m1"
    assert c.ask(b"qsThreadInfo") == b"l"
    assert c.ask(b"Hg0") == b"OK"
    assert c.ask(b"Hc-1") == b"OK"
    assert c.ask(b"T1") == b"OK"
    assert c.ask(b"?").startswith(b"T05")


def test_g_packet_layout(client):
    m = real_machine()
    stub, c = client(m)
    m.cpu.set("eax", 0x11223344)
    m.cpu.set("esi", 0xA5A5)
    g = c.ask(b"g").decode()
    assert len(g) == G_HEX_CHARS == (16 * 32 + 8 * 80 + 8 * 32 + 11 * 32) // 4

    def field(name):
        i = gdbstub.REG_INDEX[name]
        start = sum(r.bits for r in REGISTERS[:i]) // 4
        return int.from_bytes(bytes.fromhex(g[start:start + REGISTERS[i].bits // 4]), "little")
    assert field("eax") == 0x11223344
    assert field("esi") == 0xA5A5
    assert field("eip") == REAL_BASE         # pc is linear: 07c0:0000
    assert field("eip_offset") == 0
    assert field("cs") == 0x07C0
    assert field("cs_base") == 0x7C00
    assert field("ss") == 0x3000
    assert field("esp") == 0xFFFE
    assert field("eflags") == m.cpu.get("eflags")
    assert field("st0") == 0


def test_p_and_P(client):
    m = real_machine()
    stub, c = client(m)
    assert c.ask(b"P0=efbeadde") == b"OK"             # eax, little-endian
    assert m.cpu.get("eax") == 0xDEADBEEF
    assert reg_hex(c, "eax") == 0xDEADBEEF
    assert c.ask(b"p%x" % len(REGISTERS)) == b"E00"
    assert c.ask(b"P0=1234") == b"E01"                # wrong width
    # Read-only: a segment base is not a register of its own.
    base = gdbstub.REG_INDEX["ds_base"]
    assert c.ask(b"P%x=00100000" % base) == b"E01"
    assert c.ask(b"P%x=00000000" % base) == b"OK"     # writing what it holds is harmless
    # The x87 registers read as zero and take writes without effect (the 80386 has no FPU).
    assert c.ask(b"P%x=%s" % (gdbstub.REG_INDEX["st0"], b"11" * 10)) == b"OK"
    assert reg_hex(c, "st0") == 0


def test_real_mode_segment_write_sets_the_base(client):
    m = real_machine()
    stub, c = client(m)
    assert c.ask(b"P%x=00200000" % gdbstub.REG_INDEX["ds"]) == b"OK"
    assert m.cpu.get_segment("ds").base == 0x20000
    assert reg_hex(c, "ds_base") == 0x20000


def test_writing_pc_in_real_mode(client):
    m = real_machine(cs=0x07C0, ip=0)
    stub, c = client(m)
    pc = gdbstub.REG_INDEX["eip"]
    # Inside CS's 64 KiB: only IP moves.
    assert c.ask(b"P%x=%s" % (pc, (0x7C40).to_bytes(4, "little").hex().encode())) == b"OK"
    assert (m.cpu.get("cs"), m.cpu.get("eip")) == (0x07C0, 0x40)
    # Below CS's base: CS:IP is rebuilt from the linear address.
    assert c.ask(b"P%x=%s" % (pc, (0x0500).to_bytes(4, "little").hex().encode())) == b"OK"
    assert (m.cpu.get("cs"), m.cpu.get("eip")) == (0x0050, 0x0)
    assert reg_hex(c, "eip") == 0x500
    # eip_offset is EIP itself.
    assert c.ask(b"P%x=07000000" % gdbstub.REG_INDEX["eip_offset"]) == b"OK"
    assert m.cpu.get("eip") == 7 and reg_hex(c, "eip") == 0x507


def test_G_writes_what_changed(client):
    m = real_machine()
    stub, c = client(m)
    g = bytearray(c.ask(b"g"))
    g[0:8] = b"78563412"                 # eax
    assert c.ask(b"G" + bytes(g)) == b"OK"
    assert m.cpu.get("eax") == 0x12345678
    assert m.cpu.get("cs") == 0x07C0 and m.cpu.get("eip") == 0


def test_memory_m_M_and_X(client):
    m = real_machine()
    stub, c = client(m)
    assert c.ask(b"m7c00,3") == b"b83412"            # mov ax, 0x1234
    assert c.ask(b"M800,4:01020304") == b"OK"
    assert bytes(m.bus.read(0x800, 4)) == b"\x01\x02\x03\x04"
    # X: binary, with '#', '$', '}' and '*' escaped as '}' then the byte XOR 0x20.
    data = bytes([0x23, 0x24, 0x7D, 0x2A, 0x00, 0xFF])
    assert c.ask(b"X900,6:" + gdbstub.escape_binary(data)) == b"OK"
    assert bytes(m.bus.read(0x900, 6)) == data
    assert c.ask(b"m900,6") == data.hex().encode()
    assert c.ask(b"X900,0:") == b"OK"                # gdb's probe for X
    assert c.ask(b"M800,4:0102") == b"E01"           # length and data disagree


def test_memory_reads_stop_at_an_unmapped_page(client):
    """With paging on, m returns the mapped part of a range and E14 when nothing is."""
    m = real_machine()
    stub, c = client(m)
    # Identity-map the first 4 MiB except the page at 0x5000 (SDM vol. 3, 4.3).
    pd, pt = 0x10000, 0x11000
    m.bus.write(pd, (pt | 3).to_bytes(4, "little"))
    for i in range(1024):
        m.bus.write(pt + 4 * i, ((i << 12) | 3 if i != 5 else 0).to_bytes(4, "little"))
    m.bus.write(0x4FFE, b"\x5A\xA5")
    m.cpu.set("cr3", pd)
    m.cpu.set("cr0", 0x80000001)
    assert c.ask(b"m4ffe,4") == b"5aa5"
    assert c.ask(b"m5000,1") == b"E14"


def test_breakpoints_and_watchpoints_from_Z_packets(client):
    stub, c = client(real_machine())
    dbg = stub.dbg
    assert c.ask(b"Z0,7c20,1") == b"OK"
    assert c.ask(b"Z0,7c20,1") == b"OK"              # gdb may insert it twice
    bps = dbg.list_points()
    assert [(p.what, p.kind, p.address) for p in bps] == [("breakpoint", "lin", 0x7C20)]
    assert c.ask(b"Z1,7c23,1") == b"OK"
    assert c.ask(b"Z2,600,2") == b"OK"
    assert c.ask(b"Z3,604,4") == b"OK"
    assert c.ask(b"Z4,608,1") == b"OK"
    watches = [(p.space, p.address, p.length, p.access) for p in dbg.list_points()
               if p.what == "watchpoint"]
    assert watches == [("lin", 0x600, 2, "w"), ("lin", 0x604, 4, "r"), ("lin", 0x608, 1, "rw")]
    ids = [p.id for p in dbg.list_points()]
    # gdb removes its points at each stop and inserts them again to resume: the same
    # Debugger points are disabled and enabled, so their numbers stay.
    for p in (b"z0,7c20,1", b"z1,7c23,1", b"z2,600,2", b"z3,604,4", b"z4,608,1"):
        assert c.ask(p) == b"OK", p
    assert [p.enabled for p in dbg.list_points()] == [False] * 5
    assert c.ask(b"Z0,7c20,1") == b"OK"
    assert [p.id for p in dbg.list_points() if p.enabled] == ids[:1]
    assert c.ask(b"z0,1234,1") == b"OK"              # removing what is not there is harmless
    dbg.delete(ids[0])                               # another front end deletes one
    assert c.ask(b"Z0,7c20,1") == b"OK"
    assert [(p.kind, p.address) for p in dbg.list_points() if p.enabled] == [("lin", 0x7C20)]


def test_continue_to_a_breakpoint_and_step(client):
    m = real_machine()
    stub, c = client(m)
    assert c.ask(b"Z0,%x,1" % STOP1) == b"OK"
    reply = c.ask(b"vCont;c").decode()
    assert reply.startswith("T05swbreak:;")
    assert "08:%s;" % STOP1.to_bytes(4, "little").hex() in reply   # pc, expedited
    assert "thread:1;" in reply
    assert m.cpu.get("eip") == 0x20 and m.cpu.get("ax") == 0x1234
    assert c.ask(b"?").decode() == reply
    reply = c.ask(b"vCont;s:1").decode()
    assert reply.startswith("T05") and "swbreak" not in reply
    assert m.cpu.get("eip") == 0x23 and m.cpu.get("cx") == 3
    assert c.ask(b"s").startswith(b"T05")             # the old packets do the same
    assert m.cpu.get("eip") == 0x26


def test_hardware_breakpoint_reports_hwbreak(client):
    stub, c = client(real_machine())
    assert c.ask(b"Z1,%x,1" % STOP1) == b"OK"
    assert c.ask(b"c").startswith(b"T05hwbreak:;")


def test_watchpoint_stop_reply(client):
    m = real_machine()
    stub, c = client(m)
    assert c.ask(b"Z2,600,2") == b"OK"
    reply = c.ask(b"vCont;c")
    assert reply.startswith(b"T05watch:600;")
    assert bytes(m.bus.read(0x600, 2)) == b"\x11\x11"     # stopped after the write
    assert c.ask(b"z2,600,2") == b"OK"
    assert c.ask(b"Z4,600,2") == b"OK"
    assert c.ask(b"vCont;c").startswith(b"T05awatch:600;")


def test_ctrl_c_interrupts_a_running_guest(client):
    m = real_machine()
    stub, c = client(m)
    c.send(b"vCont;c")
    deadline = time.monotonic() + TIMEOUT
    while not m.cpu.get("si") and time.monotonic() < deadline:    # spinning
        time.sleep(0.01)
    c.sock.sendall(b"\x03")
    reply = c.read_packet()
    assert reply.startswith(b"T02")
    assert SPIN <= m.cpu.get_segment("cs").base + m.cpu.get("eip") <= SPIN + 3
    # The break was consumed: the next step is one instruction, not another stop.
    before = m.cpu.icount
    assert c.ask(b"vCont;s").startswith(b"T05")
    assert m.cpu.icount == before + 1


def test_a_stop_gdb_did_not_ask_for_is_explained_on_its_console(client):
    stub, c = client(real_machine())
    stub.dbg.catch_io(0x80)              # set by another front end (the command language)
    assert c.ask(b"c").startswith(b"T05")
    assert any("OUT to port 0x0080" in text for text in c.console)


def test_vcont_query_and_stop_action(client):
    stub, c = client(real_machine())
    assert c.ask(b"vCont?") == b"vCont;c;C;s;S;t"
    assert c.ask(b"vCont;t").startswith(b"T00")
    assert c.ask(b"vCont;s:2") == b"E01"              # no thread 2


def test_target_xml(client):
    stub, c = client(real_machine())
    data, offset = b"", 0
    while True:                          # small chunks: the stub must page through it
        reply = c.ask(b"qXfer:features:read:target.xml:%x,100" % offset)
        assert reply[:1] in (b"m", b"l")
        chunk = gdbstub.unescape_binary(reply[1:])
        data += chunk
        offset += len(chunk)
        if reply[:1] == b"l":
            break
    assert data.decode() == target_xml("i8086")      # real mode: 16-bit disassembly
    root = ET.fromstring(data)
    assert root.tag == "target"
    assert root.find("architecture").text == "i8086"
    features = {f.get("name"): f for f in root.findall("feature")}
    assert set(features) == {"org.gnu.gdb.i386.core", "org.cycle86.sys"}
    core = [r.get("name") for r in features["org.gnu.gdb.i386.core"].findall("reg")]
    assert core[:16] == ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip",
                         "eflags", "cs", "ss", "ds", "es", "fs", "gs"]
    assert len(core) == 32                # with the x87 registers gdb's i386 requires
    system = [r.get("name") for r in features["org.cycle86.sys"].findall("reg")]
    assert system[:5] == ["cr0", "cr2", "cr3", "cr4", "eip_offset"]
    regs = root.iter("reg")
    assert [int(r.get("regnum")) for r in regs] == list(range(len(REGISTERS)))
    assert sum(int(r.get("bitsize")) for r in root.iter("reg")) // 4 == G_HEX_CHARS
    assert c.ask(b"qXfer:features:read:other.xml:0,100") == b"E00"


def test_target_xml_in_32_bit_protected_mode(client):
    m = pm_machine()
    stub, c = client(m)
    stub.dbg.until(PM_MARK)
    reply = c.ask(b"qXfer:features:read:target.xml:0,4000")
    assert reply[:1] == b"l"
    assert ET.fromstring(gdbstub.unescape_binary(reply[1:])).find("architecture").text == "i386"


def test_monitor_passes_the_command_and_returns_its_output(client):
    seen = []

    def monitor(command):
        seen.append(command)
        return "GDT base=0x00001000 limit=0x17\n  entry 1: code"
    stub, c = client(real_machine(), monitor=monitor)
    assert c.ask(b"qRcmd," + b"info gdt".hex().encode()) == b"OK"
    assert seen == ["info gdt"]
    assert "".join(c.console) == "GDT base=0x00001000 limit=0x17\n  entry 1: code\n"


def test_monitor_errors_and_no_monitor(client):
    def monitor(command):
        raise RuntimeError("no such command %r" % command)
    stub, c = client(real_machine(), monitor=monitor)
    assert c.ask(b"qRcmd," + b"frob".hex().encode()) == b"OK"
    assert "no such command 'frob'" in "".join(c.console)
    stub2, c2 = client(real_machine())
    assert c2.ask(b"qRcmd," + b"r".hex().encode()) == b"OK"
    assert "command language" in "".join(c2.console)


def test_monitor_output_longer_than_a_packet(client):
    text = "".join("line %05d\n" % i for i in range(3000))
    stub, c = client(real_machine(), monitor=lambda cmd: text)
    assert c.ask(b"qRcmd," + b"x".hex().encode()) == b"OK"
    assert len(c.console) > 1 and "".join(c.console) == text


def test_detach_keeps_the_guest_stopped_and_serves_the_next_client(client):
    m = real_machine()
    stub, c = client(m)
    assert c.ask(b"Z0,%x,1" % STOP1) == b"OK"
    assert c.ask(b"Z2,600,2") == b"OK"
    eip = m.cpu.get("eip")
    assert c.ask(b"D") == b"OK"
    with pytest.raises(EOFError):
        c.read_byte()
    assert stub.dbg.list_points() == []              # the client's points go with it
    assert m.cpu.get("eip") == eip                   # and the guest did not run
    c2 = Client(stub.port)
    try:
        assert c2.ask(b"qC") == b"QC1"
    finally:
        c2.close()


def test_a_client_that_vanishes_leaves_no_points(client):
    stub, c = client(real_machine())
    assert c.ask(b"Z0,%x,1" % STOP1) == b"OK"
    c.close()
    deadline = time.monotonic() + TIMEOUT
    while stub.dbg.list_points() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stub.dbg.list_points() == []


def test_a_port_probe_is_not_a_session(client):
    """A connection that closes without a packet (a port scan, a health check) does not
    count as a debugging session: a headless `cycle86 debug --gdb` keeps serving, and
    the next real client is served."""
    stub, c = client(real_machine())
    c.close()                                          # the fixture's client says nothing
    for _ in range(3):
        probe = socket.create_connection(("127.0.0.1", stub.port), timeout=TIMEOUT)
        probe.close()
    time.sleep(0.3)
    assert not stub.server.wait_client(0.2)
    c2 = Client(stub.port)
    try:
        assert c2.ask(b"qC") == b"QC1"
        c2.send(b"D")
    finally:
        c2.close()
    assert stub.server.wait_client(TIMEOUT)            # that one was a session


def test_kill_stops_the_server(client):
    stub, c = client(real_machine())
    c.send(b"k")
    stub.server.wait(TIMEOUT)
    assert stub.server.killed
    assert not stub.server._thread.is_alive()


def test_close_stops_a_running_guest(client):
    m = real_machine()
    stub, c = client(m)
    c.send(b"vCont;c")
    deadline = time.monotonic() + TIMEOUT
    while not m.cpu.get("si") and time.monotonic() < deadline:
        time.sleep(0.01)
    stub.server.close()
    assert not stub.server._thread.is_alive()
    assert not stub.dbg.running


def test_log_receives_the_packets(client):
    lines = []
    stub, c = client(real_machine(), log=lines.append)
    c.ask(b"qC")
    assert any("qC" in line for line in lines) and any("QC1" in line for line in lines)


def test_log_to_a_file(client):
    stream = io.StringIO()
    stub, c = client(real_machine(), log=stream)
    c.ask(b"qC")
    assert "<- b'qC'" in stream.getvalue() and "-> b'QC1'" in stream.getvalue()


def test_a_failing_request_costs_one_packet_not_the_session(client):
    stub, c = client(real_machine())

    def broken(name):
        raise RuntimeError("a bug")
    stub.dbg.register = broken
    assert c.ask(b"p0") == b"E01"
    assert c.ask(b"qC") == b"QC1"
    assert c.ask(b"T2") == b"E01"                    # no thread 2 either


def test_port_zero_picks_a_free_port():
    server = GdbServer(Debugger(real_machine()), port=0)
    try:
        port = server.listen()
        assert port != 0 and server.port == port
    finally:
        server.close()


# ================================================================ with the real gdb

def run_gdb(port, *commands, arch=None, timeout=TIMEOUT):
    """gdb in batch mode: connect, run `commands`, return stdout + stderr (the monitor's
    and the stub's console output go to stderr)."""
    exe = shutil.which("gdb")
    if exe is None:
        pytest.fail("gdb is required for the gdb stub's tests (apt-get install gdb)")
    args = [exe, "-nx", "-batch", "-ex", "set confirm off",
            "-ex", "target remote 127.0.0.1:%d" % port]
    for c in commands:
        args += ["-ex", c]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    return proc.stdout + proc.stderr


def values(output):
    """gdb's `$N = value` lines, in order."""
    return re.findall(r"^\$\d+ = (.*)$", output, re.M)


@pytest.mark.parametrize("cs, ip", [(0x07C0, 0x0000), (0x0000, 0x7C00)])
def test_gdb_real_mode(stubs, cs, ip):
    m = real_machine(cs, ip)
    stub = stubs(m, monitor=lambda cmd: "monitor got %r, ax=%04x" % (cmd, m.cpu.get("ax")))
    out = run_gdb(
        stub.port,
        "p/x $pc", "x/2i $pc",
        "break *0x%x" % STOP1, "continue",
        "info registers eax ebx eip cs",
        "x/4xb 0x500",
        "stepi", "p/x $pc", "p/x $eip_offset", "p/x $cx",
        "watch *(short *)0x600", "continue",
        "delete",
        "set $eax = 0xdeadbeef", "set {char}0x700 = 0x5a", "x/1xb 0x700",
        "monitor r")
    assert "x/2i" not in out
    vals = values(out)
    assert vals[0] == "0x7c00"                      # pc is linear whatever CS holds
    assert "mov    $0x1234,%ax" in out             # 16-bit disassembly in real mode
    assert "mov    $0x5678,%bx" in out
    assert re.search(r"Breakpoint 1, 0x0*7c20 in", out)
    assert re.search(r"^eax\s+0x1234\s", out, re.M)
    assert re.search(r"^ebx\s+0x5678\s", out, re.M)
    assert re.search(r"^eip\s+0x7c20\s", out, re.M)
    assert re.search(r"^cs\s+0x%x\s" % cs, out, re.M)
    assert "0x500:\t0xaa\t0x00\t0xef\t0xbe" in out
    assert vals[1:4] == ["0x7c23", hex(ip + 0x23), "0x3"]
    assert "Hardware watchpoint 2: *(short *)0x600" in out
    assert re.search(r"Old value = 0\s+New value = 4369", out)
    assert "0x700:\t0x5a" in out
    assert "monitor got 'r', ax=beef" in out          # after gdb's write to eax
    assert "Remote connection closed" not in out and "error" not in out.lower()
    # What gdb wrote reached the machine.
    assert m.cpu.get("eax") == 0xDEADBEEF
    assert bytes(m.bus.read(0x700, 1)) == b"\x5a"
    assert stub.dbg.list_points() == []             # gdb's quit detached and cleaned up


def test_gdb_protected_mode(stubs):
    m = pm_machine()
    stub = stubs(m)
    out = run_gdb(
        stub.port,
        "p/x $pc", "p/x $eip_offset", "p/x $cs_base",
        "break *0x%x" % PM_MARK, "continue",
        "info registers cr0 eax ebx cs ds",
        "x/1xw 0x2000",
        "set architecture i386", "x/1i $pc",
        "watch *(int *)0x2004", "continue",
        "delete",
        "break *0x%x" % ROM_CODE, "continue",
        "p/x $pc", "p/x $eip_offset", "p/x $cs", "p/x $cs_base",
        "stepi", "p/x $edx",
        "continue", "p/x $eip_offset",
        "continue")                     # gdb passes SIGTERM back: vCont;C0f
    vals = values(out)
    assert vals[:3] == ["0xfffffff0", "0xfff0", "0xffff0000"]       # the reset vector
    assert re.search(r"Breakpoint 1, 0x0*f0140 in", out)
    assert re.search(r"^cr0\s+%s\s+\[ PE\b" % hex(m.cpu.get("cr0")), out, re.M)
    assert re.search(r"^eax\s+0x11223344\s", out, re.M)
    assert re.search(r"^ebx\s+0x55667788\s", out, re.M)
    assert re.search(r"^cs\s+0x8\s", out, re.M)
    assert re.search(r"^ds\s+0x10\s", out, re.M)
    assert "0x2000:\t0xcafebabe" in out
    assert "mov    $0xc0ffee,%ecx" in out          # 32-bit disassembly after the switch
    assert re.search(r"Old value = 0\s+New value = 4660", out)
    # In the ROM-based code segment pc is linear, EIP the offset.
    assert re.search(r"Breakpoint 3, 0x0*f0180 in", out)
    assert vals[3:7] == ["0xf0180", "0x180", "0x18", "0xf0000"]
    assert vals[7] == "0xd00d"
    # The guest's exit is a stop the user can still inspect, not the end of the process.
    assert "The guest stopped" in out
    assert "SIGTERM" in out
    assert vals[8] == "0x189"                       # after the OUT
    assert "exited" not in out
    # Continuing runs the HLT after it: a halt with nothing to wake the CPU.
    assert "The CPU halted with interrupts disabled" in out
    assert "0x000f018a in" in out


def test_gdb_ctrl_c(stubs):
    """Ctrl+C in gdb (SIGINT to it) interrupts a running guest: gdb sends 0x03."""
    m = real_machine()
    stub = stubs(m)
    exe = shutil.which("gdb")
    if exe is None:
        pytest.fail("gdb is required for the gdb stub's tests (apt-get install gdb)")
    proc = subprocess.Popen(
        [exe, "-nx", "-batch", "-ex", "target remote 127.0.0.1:%d" % stub.port,
         "-ex", "continue", "-ex", "p/x $pc", "-ex", "p/x $si"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (stub.dbg.running and m.cpu.get("si") > 1000):
            assert time.monotonic() < deadline, "the guest never ran"
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Program received signal SIGINT" in out
    vals = values(out)
    assert SPIN <= int(vals[0], 16) <= SPIN + 3
    assert int(vals[1], 16) > 1000
