"""The gdb remote stub: GDB's Remote Serial Protocol over TCP, on top of one Debugger.

    server = GdbServer(debugger, "127.0.0.1", 1234, monitor=interp.execute_capture)
    port = server.start()            # listens in a background thread
    ...                              # gdb: target remote 127.0.0.1:1234
    server.close()

The protocol is the one of the GDB manual, appendix "Remote Serial Protocol"; docs/gdb.md
says what is supported and why the choices below were made.  In short:

- One client at a time, one thread (id 1), all-stop mode.
- Addresses gdb sends (m/M/X, Z0-Z4) are *linear* addresses (segmentation applied, paging
  not), so `x/4xb 0x7c00` and `break *0x7c00` mean linear 0x7c00 in every mode.
- gdb's pc (the "eip" of org.gnu.gdb.i386.core) is the linear address of CS:EIP, so that
  breakpoints, `x/i $pc` and `stepi` agree in real mode whatever CS holds.  The real EIP is
  the register "eip_offset" of the custom feature org.cycle86.sys, with cr0-cr4 and the
  segment bases.  Writing pc moves EIP (or, in real mode, CS:IP) to that linear address.
- The guest runs in the server thread (Debugger.cont/step); while it runs, a watcher thread
  reads the socket and turns gdb's interrupt byte (Ctrl+C, 0x03) into request_break().
- Stops the user did not ask gdb for (catchpoints, a halted or shut-down guest, a guest
  exit) are reported as signals, never as a process exit, so the machine stays inspectable;
  their message is printed on gdb's console first (an O packet).
- Detach (D, gdb's `detach`/`quit`) leaves the guest stopped and waits for the next client;
  kill (k, vKill) stops the server.  Either way the stub removes the points it created.
"""
from __future__ import annotations

import select
import socket
import threading
import traceback
from dataclasses import dataclass

from debugger.controller import Breakpoint, DebugError, Descriptor, Watchpoint

# gdb's own signal numbers (include/gdb/signals.def), which the protocol uses.
SIG_0, SIGINT, SIGTRAP, SIGABRT, SIGTERM = 0, 2, 5, 6, 15

# Which signal a stop reports, by StopEvent.reason; anything else is SIGTRAP.
STOP_SIGNALS = {"break": SIGINT, "shutdown": SIGABRT, "exit": SIGTERM}
# Stops gdb asked for and explains itself; the others get their message printed first.
QUIET_REASONS = ("step", "breakpoint", "watchpoint", "break")

PACKET_SIZE = 0x4000                 # the largest packet we accept (qSupported PacketSize)
INTERRUPT = b"\x03"
POLL = 0.05                          # seconds between checks of the closing flag

# ===================================================================== target description


@dataclass(frozen=True)
class Reg:
    """One register of the target description; the tuple REGISTERS below is gdb's order
    (the regnum of p/P and the layout of the g packet)."""
    name: str
    bits: int = 32
    type: str = "int32"
    group: str | None = None
    feature: str = "org.gnu.gdb.i386.core"
    writable: bool = True


CORE = "org.gnu.gdb.i386.core"
SYS = "org.cycle86.sys"

# org.gnu.gdb.i386.core must hold these 32 registers for gdb's i386 to accept the
# description (GDB manual, "i386 Features"), the x87 ones included.  They are the FPU's
# (debugger/x87.py): st0-st7 as 10-byte extended values (gdb's i387_ext), ftag the full
# 16-bit tag word (two bits per physical register, what gdb's i387 code reads from a
# remote target's ftag; it converts only FXSAVE's abridged form), fop the 11-bit opcode.
# On a model without an FPU they read as zero and writes to them are ignored.
REGISTERS = (
    tuple(Reg(n, type=t) for n, t in (
        ("eax", "int32"), ("ecx", "int32"), ("edx", "int32"), ("ebx", "int32"),
        ("esp", "data_ptr"), ("ebp", "data_ptr"), ("esi", "int32"), ("edi", "int32")))
    + (Reg("eip", type="code_ptr"), Reg("eflags", type="i386_eflags"))
    + tuple(Reg(n) for n in ("cs", "ss", "ds", "es", "fs", "gs"))
    + tuple(Reg("st%d" % i, 80, "i387_ext", "float") for i in range(8))
    + tuple(Reg(n, group="float") for n in ("fctrl", "fstat", "ftag", "fiseg", "fioff",
                                            "foseg", "fooff", "fop"))
    + (Reg("cr0", type="cr0_flags", group="system", feature=SYS),
       Reg("cr2", type="data_ptr", group="system", feature=SYS),
       Reg("cr3", group="system", feature=SYS),
       Reg("cr4", type="cr4_flags", group="system", feature=SYS),
       Reg("eip_offset", type="int32", group="system", feature=SYS))
    + tuple(Reg(n + "_base", type="data_ptr", group="system", feature=SYS, writable=False)
            for n in ("cs", "ss", "ds", "es", "fs", "gs"))
)
X87 = frozenset(r.name for r in REGISTERS if r.group == "float")
# The order in which a G packet's x87 registers are written (the others: 1, as they come).
_G_ORDER = {"fctrl": 0, "fstat": 0, "ftag": 2}
REG_INDEX = {r.name: i for i, r in enumerate(REGISTERS)}
PC_REGNUM, SP_REGNUM, FP_REGNUM = REG_INDEX["eip"], REG_INDEX["esp"], REG_INDEX["ebp"]

# Flag fields for gdb's display: Intel SDM vol. 3, 2.3 (EFLAGS) and 2.5 (control registers).
_EFLAGS_FIELDS = (("CF", 0), ("", 1), ("PF", 2), ("AF", 4), ("ZF", 6), ("SF", 7), ("TF", 8),
                  ("IF", 9), ("DF", 10), ("OF", 11), ("NT", 14), ("RF", 16), ("VM", 17),
                  ("AC", 18), ("VIF", 19), ("VIP", 20), ("ID", 21))
_CR0_FIELDS = (("PE", 0), ("MP", 1), ("EM", 2), ("TS", 3), ("ET", 4), ("NE", 5), ("WP", 16),
               ("AM", 18), ("NW", 29), ("CD", 30), ("PG", 31))
_CR4_FIELDS = (("VME", 0), ("PVI", 1), ("TSD", 2), ("DE", 3), ("PSE", 4), ("PAE", 5),
               ("MCE", 6), ("PGE", 7), ("PCE", 8), ("OSFXSR", 9), ("OSXMMEXCPT", 10))


def _flags_xml(type_id, fields):
    lines = ['  <flags id="%s" size="4">' % type_id]
    lines += ['    <field name="%s" start="%d" end="%d"/>' % (n, b, b) for n, b in fields]
    lines.append("  </flags>")
    return lines


def target_xml(architecture="i386"):
    """The target description gdb reads with qXfer:features:read:target.xml.

    `architecture` is "i386" or "i8086": gdb disassembles 16-bit code only when the
    description says i8086 (with "i386" it ignores `set architecture i8086`, while with
    "i8086" both `set architecture` directions work), so the stub names the code size of
    the moment gdb connects.  OS ABI "none": a bare machine, not a GNU/Linux process."""
    lines = ['<?xml version="1.0"?>', '<!DOCTYPE target SYSTEM "gdb-target.dtd">',
             "<target>", "<architecture>%s</architecture>" % architecture,
             "<osabi>none</osabi>"]
    types = {CORE: _flags_xml("i386_eflags", _EFLAGS_FIELDS),
             SYS: _flags_xml("cr0_flags", _CR0_FIELDS) + _flags_xml("cr4_flags", _CR4_FIELDS)}
    for feature in (CORE, SYS):
        lines.append('<feature name="%s">' % feature)
        lines += types[feature]
        for regnum, r in enumerate(REGISTERS):
            if r.feature != feature:
                continue
            attrs = 'name="%s" bitsize="%d" type="%s" regnum="%d"' % (r.name, r.bits, r.type,
                                                                       regnum)
            if r.group:
                attrs += ' group="%s"' % r.group
            lines.append("  <reg %s/>" % attrs)
        lines.append("</feature>")
    lines.append("</target>")
    return "\n".join(lines) + "\n"


# ===================================================================== encoding


def checksum(data: bytes) -> int:
    return sum(data) & 0xFF


def frame(payload: bytes) -> bytes:
    """`$payload#cs`, the way every packet travels."""
    return b"$" + payload + b"#%02x" % checksum(payload)


def escape_binary(data: bytes) -> bytes:
    """Binary data in a packet: '#', '$', '}' and '*' go as '}' then the byte XOR 0x20."""
    out = bytearray()
    for b in data:
        if b in (0x23, 0x24, 0x7D, 0x2A):
            out += bytes((0x7D, b ^ 0x20))
        else:
            out.append(b)
    return bytes(out)


def unescape_binary(data: bytes) -> bytes:
    out, i = bytearray(), 0
    while i < len(data):
        b = data[i]
        if b == 0x7D and i + 1 < len(data):
            out.append(data[i + 1] ^ 0x20)
            i += 2
        else:
            out.append(b)
            i += 1
    return bytes(out)


def hex_le(value: int, bits: int) -> bytes:
    return (value & ((1 << bits) - 1)).to_bytes(bits // 8, "little").hex().encode()


def _hex_int(text: bytes) -> int:
    return int(text, 16)


class ProtocolError(Exception):
    """A packet we cannot parse: answered with an error reply."""


# ===================================================================== the connection


class _Link:
    """One client's byte stream: framing, checksums and acknowledgements."""

    def __init__(self, sock, log, closing):
        self.sock = sock
        self.buf = bytearray()
        self.ack = True                  # until QStartNoAckMode
        self.log = log
        self.closing = closing           # a threading.Event: the server is shutting down
        self.eof = False

    def fill(self, timeout):
        """Read what has arrived within `timeout` seconds; False at end of stream."""
        if self.eof:
            return False
        try:
            ready, _, _ = select.select([self.sock], [], [], timeout)
            if not ready:
                return True
            data = self.sock.recv(65536)
        except (OSError, ValueError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def read_packet(self):
        """The next packet's payload (bytes), or None when the client has gone or the
        server closes.  Stray acks and interrupt bytes while stopped are dropped."""
        while True:
            start = self.buf.find(b"$")
            if start < 0:
                self.buf.clear()
            else:
                del self.buf[:start]
                end = self.buf.find(b"#")
                if end >= 0 and len(self.buf) >= end + 3:
                    payload = bytes(self.buf[1:end])
                    given = bytes(self.buf[end + 1:end + 3])
                    del self.buf[:end + 3]
                    try:
                        good = int(given, 16) == checksum(payload)
                    except ValueError:
                        good = False
                    if self.ack:
                        self._send_raw(b"+" if good else b"-")
                    if good or not self.ack:
                        self._log("<- %r" % payload[:200])
                        return payload
                    self._log("<- bad checksum %r" % given)
                    continue
            if self.closing.is_set() or not self.fill(POLL):
                return None

    def send(self, payload: bytes):
        """Send one packet; with acks on, resend it until the client acknowledges it."""
        self._log("-> %r" % payload[:200])
        data = frame(payload)
        for _ in range(10):
            self._send_raw(data)
            if not self.ack:
                return
            reply = self._wait_ack()
            if reply != b"-":
                return

    def _wait_ack(self):
        while True:
            while self.buf[:1] == INTERRUPT:
                del self.buf[:1]
            if self.buf[:1] in (b"+", b"-"):
                reply = bytes(self.buf[:1])
                del self.buf[:1]
                return reply
            if self.buf[:1] == b"$":      # a packet: the ack was lost; take it as given
                return b"+"
            if self.buf:
                del self.buf[:1]
                continue
            if self.closing.is_set() or not self.fill(POLL):
                return None

    def _send_raw(self, data):
        try:
            self.sock.sendall(data)
        except OSError:
            self.eof = True

    def _log(self, text):
        if self.log is not None:
            self.log(text)


# ===================================================================== the server


class GdbServer:
    """Serve gdb's Remote Serial Protocol for `debugger` on host:port (port 0: any free one).

    `monitor` is a callable(str) -> str that runs a command of the command language and
    returns its output (`monitor info gdt` in gdb); `log` a callable(str) or a file that
    receives every packet, for debugging the stub itself.
    """

    def __init__(self, debugger, host="127.0.0.1", port=1234, monitor=None, log=None):
        self.dbg = debugger
        self.host = host
        self.port = port
        self.monitor = monitor
        if log is not None and not callable(log):
            log = _line_writer(log)
        self.log = log
        self._listener = None
        self._thread = None
        self._closing = threading.Event()
        self._running = False            # the guest runs on behalf of gdb
        self.killed = False              # a client sent k: serve_forever has returned
        self._client_done = threading.Event()    # a client session ended

    # ------------------------------------------------------------ life cycle
    def listen(self):
        """Bind and listen (once); returns the port, which is the chosen one for port 0."""
        if self._listener is None:
            family, _, _, _, address = socket.getaddrinfo(
                self.host, self.port, type=socket.SOCK_STREAM)[0]
            s = socket.socket(family, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(address)
                s.listen(1)
            except OSError:
                s.close()
                raise
            self._listener = s
            self.port = s.getsockname()[1]
        return self.port

    def start(self):
        """Listen, then serve clients one after the other in a daemon thread until a client
        kills the session or close() is called.  Returns the port."""
        port = self.listen()
        self._thread = threading.Thread(target=self.serve_forever, name="gdbstub",
                                        daemon=True)
        self._thread.start()
        return port

    def serve_forever(self):
        self.listen()
        while not self._closing.is_set():
            if self.serve_one() in ("kill", "closed"):
                break

    def serve_one(self):
        """Wait for one client and serve it until it detaches ("detach"), kills ("kill"),
        or goes away ("disconnect"); "closed" if close() was called meanwhile."""
        self.listen()
        sock = None
        while sock is None:
            if self._closing.is_set():
                return "closed"
            try:
                ready, _, _ = select.select([self._listener], [], [], POLL)
                if ready:
                    sock, _ = self._listener.accept()
            except (OSError, ValueError):
                return "closed"
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._log("client connected")
        session = _Session(self, _Link(sock, self.log, self._closing))
        try:
            end = session.run()
        finally:
            session.remove_points()
            try:
                sock.close()
            except OSError:
                pass
        if end == "kill":
            self.killed = True
        self._log("client gone: %s" % end)
        # A connection that never sent a packet (a port scan, a health check, a gdb that
        # gave up before speaking) is not a debugging session: a headless stub keeps
        # waiting for the real client instead of ending with it.
        if session.spoke or end == "kill":
            self._client_done.set()
        return "closed" if self._closing.is_set() else end

    def close(self):
        """Stop serving: the current client (if any) is dropped, a running guest stopped."""
        self._closing.set()
        if self._running:
            self.dbg.request_break()
        if self._listener is not None:
            try:
                self._listener.close()
            except OSError:
                pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)

    def wait_client(self, timeout=None):
        """Wait until a client session ends (detach, kill or disconnect), counting one
        that already ended; True if one did.  A headless `cycle86 debug --gdb` with no
        more commands to read exits then."""
        return self._client_done.wait(timeout)

    def wait(self, timeout=None):
        """Wait for the serving thread to end (a client killed the session, or close())."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _log(self, text):
        if self.log is not None:
            self.log(text)


class _Session:
    """The state of one client: its breakpoints and watchpoints, the last stop."""

    def __init__(self, server, link):
        self.server = server
        self.dbg = server.dbg
        self.link = link
        self.points = {}                 # (Z type, address, length) -> Point id
        self.hw_ids = set()              # ids of Z1 breakpoints (reported as hwbreak)
        self.last_stop = "T%02xthread:1;" % SIGTRAP
        self.xml = None                  # the description being read, fixed at offset 0
        self.spoke = False               # a whole packet arrived: a debugger, not a probe

    # ------------------------------------------------------------ the loop
    def run(self):
        while True:
            payload = self.link.read_packet()
            if payload is None:
                return "disconnect"
            self.spoke = True
            try:
                reply = self.handle(payload)
            except _End as end:
                if end.reply is not None:
                    self.link.send(end.reply)
                return end.how
            except (ProtocolError, ValueError, IndexError, DebugError):
                reply = b"E01"           # (an O packet saying why is not allowed here)
            except Exception:            # a bug must cost one packet, not the session
                self.server._log("error handling %r:\n%s" % (payload[:200],
                                                             traceback.format_exc()))
                reply = b"E01"
            if reply is not None:
                self.link.send(reply)

    def handle(self, p: bytes):
        """The reply to packet `p` (bytes), or None for none."""
        head = p[:1]
        if head == b"?":
            return self.last_stop.encode()
        if head == b"g":
            return b"".join(self.read_reg(i) for i in range(len(REGISTERS)))
        if head == b"G":
            return self.write_all(p[1:])
        if head == b"p":
            n = _hex_int(p[1:])
            if n >= len(REGISTERS):
                return b"E00"
            return self.read_reg(n)
        if head == b"P":
            n, value = p[1:].split(b"=")
            return self.write_reg(_hex_int(n), value)
        if head == b"m":
            addr, length = p[1:].split(b",")
            return self.read_memory(_hex_int(addr), _hex_int(length))
        if head == b"M":
            where, data = p[1:].split(b":")
            addr, length = where.split(b",")
            data = bytes.fromhex(data.decode())
            if len(data) != _hex_int(length):
                raise ProtocolError("M length")
            self.dbg.write(_hex_int(addr), data)
            return b"OK"
        if head == b"X":
            colon = p.index(b":")
            addr, length = p[1:colon].split(b",")
            data = unescape_binary(p[colon + 1:])
            if len(data) != _hex_int(length):
                raise ProtocolError("X length")
            if data:
                self.dbg.write(_hex_int(addr), data)
            return b"OK"
        if head in (b"c", b"C"):
            return self.resume("c")
        if head in (b"s", b"S"):
            return self.resume("s")
        if p in (b"bs", b"bc"):
            # Reverse step and continue (gdb's reverse-stepi, reverse-continue), from the
            # recorded history (debugger/reverse.py).
            return self.resume(p.decode())
        if head in (b"Z", b"z"):
            return self.point(p)
        if head == b"H":
            return b"OK"                 # one thread: whichever gdb selects is it
        if head == b"T":
            return b"OK" if p[1:] in (b"1", b"-1", b"0") else b"E01"
        if head == b"D":
            raise _End("detach", b"OK")
        if head == b"k":
            raise _End("kill", None)
        if head == b"v":
            return self.handle_v(p)
        if head == b"q" or head == b"Q":
            return self.handle_query(p)
        return b""                       # unknown: the empty reply says so

    def handle_v(self, p):
        if p == b"vCont?":
            return b"vCont;c;C;s;S;t"
        if p.startswith(b"vCont;"):
            action = self.vcont_action(p[6:])
            if action == "t":
                return ("T%02xthread:1;" % SIG_0).encode()
            if action is None:
                return b"E01"
            return self.resume(action)
        if p.startswith(b"vKill"):
            raise _End("kill", b"OK")
        return b""                       # vMustReplyEmpty and all we do not know

    @staticmethod
    def vcont_action(text):
        """The action for our only thread: the first whose thread-id is absent, 1 or -1."""
        for item in text.split(b";"):
            action, _, thread = item.partition(b":")
            if thread and thread.split(b".")[-1] not in (b"1", b"-1", b"0"):
                continue
            kind = action[:1].lower()
            if kind in (b"c", b"s", b"t"):
                return kind.decode()
        return None

    def handle_query(self, p):
        name, _, args = p.partition(b":")
        if name == b"qSupported":
            return (b"PacketSize=%x;qXfer:features:read+;vContSupported+;swbreak+;hwbreak+;"
                    b"QStartNoAckMode+;ReverseStep+;ReverseContinue+" % PACKET_SIZE)
        if name == b"QStartNoAckMode":
            self.link.send(b"OK")        # acknowledged the old way, then acks stop
            self.link.ack = False
            return None
        if name == b"qXfer":
            return self.xfer(args)
        if name == b"qAttached":
            return b"1"                  # gdb's quit detaches rather than kills
        if name == b"qC":
            return b"QC1"
        if name == b"qfThreadInfo":
            return b"m1"
        if name == b"qsThreadInfo":
            return b"l"
        if name.startswith(b"qRcmd,"):
            return self.rcmd(bytes.fromhex(name[6:].decode()).decode("latin-1"))
        return b""

    def xfer(self, args):
        parts = args.split(b":")
        if len(parts) != 4 or parts[0] != b"features" or parts[1] != b"read":
            return b""
        if parts[2] != b"target.xml":
            return b"E00"
        offset, length = (_hex_int(x) for x in parts[3].split(b","))
        if offset == 0 or self.xml is None:
            self.xml = target_xml("i8086" if self.dbg.code_bits() == 16 else "i386").encode()
        data = self.xml
        chunk = data[offset:offset + min(length, PACKET_SIZE // 2)]
        more = offset + len(chunk) < len(data)
        return (b"m" if more else b"l") + escape_binary(chunk)

    # ------------------------------------------------------------ registers
    def reg_value(self, name):
        dbg = self.dbg
        if name == "eip":
            return dbg.current_linear()
        if name == "eip_offset":
            return dbg.register("eip")
        if name.endswith("_base"):
            return dbg.segment(name[:2]).base
        if name in X87:
            return dbg.register(name) if dbg.fpu is not None else 0
        return dbg.register(name)

    def read_reg(self, regnum):
        r = REGISTERS[regnum]
        return hex_le(self.reg_value(r.name), r.bits)

    def write_reg(self, regnum, text):
        if regnum >= len(REGISTERS):
            return b"E00"
        r = REGISTERS[regnum]
        raw = bytes.fromhex(text.decode())
        if len(raw) != r.bits // 8:
            return b"E01"
        value = int.from_bytes(raw, "little")
        if not r.writable:
            return b"OK" if value == self.reg_value(r.name) else b"E01"
        self.set_reg(r.name, value)
        return b"OK"

    def write_all(self, text):
        """G: every register at once; only those that changed are written, so that an
        unchanged selector is not reloaded and read-only registers are ignored."""
        pos, values = 0, []
        for r in REGISTERS:
            width = r.bits // 4
            chunk = text[pos:pos + width]
            if len(chunk) < width:
                break
            values.append((r, int.from_bytes(bytes.fromhex(chunk.decode()), "little")))
            pos += width
        # fstat (TOP) before st0-st7, which it places; ftag after them, since writing a
        # register sets its tag: the tag word gdb sent wins.
        values.sort(key=lambda rv: _G_ORDER.get(rv[0].name, 1))
        for r, value in values:
            if r.writable and value != self.reg_value(r.name):
                self.set_reg(r.name, value)
        return b"OK"

    def set_reg(self, name, value):
        dbg = self.dbg
        if name in X87:
            if dbg.fpu is not None:      # without an FPU: accepted and dropped
                dbg.set_register(name, value)
            return
        if name == "eip":
            self.set_pc(value)
        elif name == "eip_offset":
            dbg.set_register("eip", value)
        elif name in ("cs", "ss", "ds", "es", "fs", "gs"):
            self.load_segment(name, value & 0xFFFF)
        else:
            dbg.set_register(name, value)

    def set_pc(self, linear):
        """gdb's pc is linear: move EIP so that CS base + EIP is `linear`.  In real and v86
        mode, when the offset would leave CS's 64 KiB, CS:IP becomes (linear >> 4):(linear
        & 15) instead, which is what `set $pc = 0x7c00` means to a real-mode user."""
        dbg = self.dbg
        base = dbg.segment("cs").base
        offset = (linear - base) & 0xFFFFFFFF
        if dbg.mode() != "protected" and offset > 0xFFFF:
            if linear > 0x10FFEF:
                raise DebugError("pc 0x%x cannot be reached as a real-mode CS:IP" % linear)
            dbg.set_register("cs", min(linear >> 4, 0xFFFF))
            offset = linear - (min(linear >> 4, 0xFFFF) << 4)
        dbg.set_register("eip", offset)

    def load_segment(self, name, selector):
        """A selector written from gdb: real/v86 mode loads base = selector * 16; protected
        mode reads the descriptor, as MOV would (without its checks or the accessed bit)."""
        dbg = self.dbg
        if dbg.mode() != "protected":
            dbg.set_register(name, selector)
            return
        if selector & 0xFFFC == 0:
            if name in ("cs", "ss"):
                raise DebugError("a null selector cannot be loaded into %s" % name)
            dbg.cpu.set_segment(name, selector, 0, 0, 0)
            return
        d = dbg.descriptor(selector)
        if d is None:
            raise DebugError("selector 0x%04x is outside its descriptor table" % selector)
        desc = Descriptor(d)
        # The CPU keeps the descriptor's high dword bits 8-23 with the accessed bit set
        # (core/cpu.pyx, load_cache).
        dbg.cpu.set_segment(name, selector, desc.base, desc.limit,
                            ((d >> 32) & 0x00F0FF00) | 0x100)

    # ------------------------------------------------------------ memory
    def read_memory(self, addr, length):
        """m: as many bytes as are mapped from `addr` on (gdb accepts a short read), E14
        if the first byte is not."""
        length = min(length, (PACKET_SIZE - 8) // 2)
        out = b""
        while len(out) < length:
            n = min(length - len(out), 0x1000 - ((addr + len(out)) & 0xFFF))
            try:
                out += self.dbg.read((addr + len(out)) & 0xFFFFFFFF, n)
            except DebugError:
                break
        if not out and length:
            return b"E14"
        return out.hex().encode()

    # ------------------------------------------------------------ break and watch points
    def point(self, p):
        """Z/z: insert or remove a breakpoint (0 software, 1 hardware: the same to us) or a
        watchpoint (2 write, 3 read, 4 access) at a linear address.

        gdb removes its points at every stop and inserts them again before it resumes; the
        stub disables and re-enables the same Debugger point, so that the other front ends
        see stable numbers and hit counts."""
        insert = p[:1] == b"Z"
        kind, addr, length = p[1:].split(b";")[0].split(b",")[:3]
        kind, addr, length = int(kind), _hex_int(addr), _hex_int(length)
        if kind > 4:
            return b""
        key = (kind, addr, length if kind >= 2 else 0)
        pid = self.points.get(key)
        if pid is not None and pid not in self.dbg.points:
            pid = None                   # deleted meanwhile by another front end
        if not insert:
            if pid is not None:
                self.dbg.enable(pid, False)
            return b"OK"
        if pid is not None:
            self.dbg.enable(pid, True)   # also when gdb inserts it twice, as it may
            return b"OK"
        if kind <= 1:
            pt = self.dbg.break_at("lin", addr)
            if kind == 1:
                self.hw_ids.add(pt.id)
        else:
            pt = self.dbg.watch("lin", addr, max(length, 1), {2: "w", 3: "r", 4: "rw"}[kind])
        self.points[key] = pt.id
        return b"OK"

    def remove_points(self):
        for pid in self.points.values():
            if pid in self.dbg.points:
                try:
                    self.dbg.delete(pid)
                except DebugError:
                    pass
        self.points.clear()
        self.hw_ids.clear()

    # ------------------------------------------------------------ running
    def resume(self, action):
        """Run (c) or step (s) the guest and return the stop reply.  The guest runs here;
        a watcher thread reads the socket meanwhile and turns 0x03 into request_break."""
        dbg, server = self.dbg, self.server
        done = threading.Event()
        interrupted = threading.Event()

        def watch():
            while not done.is_set():
                if interrupted.is_set():
                    # Repeat the request: one made as the run was starting must not be
                    # lost if the controller clears the flag when it begins.
                    dbg.request_break()
                    done.wait(POLL)
                    continue
                alive = self.link.fill(POLL)
                if INTERRUPT in self.link.buf or not alive or server._closing.is_set():
                    self.link.buf = self.link.buf.replace(INTERRUPT, b"")
                    interrupted.set()
                    dbg.request_break()

        watcher = threading.Thread(target=watch, name="gdbstub-break", daemon=True)
        server._running = True
        watcher.start()
        try:
            try:
                if action == "s":
                    event = dbg.step(1)
                elif action == "bs":
                    event = dbg.reverse_step(1)
                elif action == "bc":
                    event = dbg.reverse_continue()
                else:
                    event = dbg.cont()
            except DebugError as e:
                self.console("cycle86: %s" % e)
                return b"E01"            # gdb reports this as a stop with no signal
        finally:
            done.set()
            watcher.join()
            server._running = False
        # A break that came as the guest stopped for another reason is left pending; the
        # controller drops stale requests when the next run starts.
        reply = self.stop_reply(event)
        self.last_stop = reply
        return reply.encode()

    def stop_reply(self, event):
        sig = STOP_SIGNALS.get(event.reason, SIGTRAP)
        if event.reason not in QUIET_REASONS or (
                event.reason in ("breakpoint", "watchpoint")
                and (event.point is None or event.point.id not in self.points.values())):
            if event.message:
                self.console("cycle86: %s" % event.message)
        text = "T%02x" % sig
        point = event.point
        if event.reason == "watchpoint" and isinstance(point, Watchpoint):
            kind = {"w": "watch", "r": "rwatch", "rw": "awatch"}[point.access]
            addr = event.details.get("linear", point.address)
            text += "%s:%x;" % (kind, addr)
        elif event.reason == "breakpoint" and isinstance(point, Breakpoint):
            text += "hwbreak:;" if point.id in self.hw_ids else "swbreak:;"
        elif event.reason == "history":
            text += "replaylog:begin;"       # reverse execution reached its first state
        # pc, sp and fp come with the stop, so gdb need not ask for them.
        for regnum in (PC_REGNUM, SP_REGNUM, FP_REGNUM):
            text += "%02x:%s;" % (regnum, self.read_reg(regnum).decode())
        return text + "thread:1;"

    # ------------------------------------------------------------ monitor
    def rcmd(self, command):
        """qRcmd (gdb's `monitor CMD`): the command language's output, as O packets."""
        monitor = self.server.monitor
        if monitor is None:
            self.console("cycle86: monitor commands need the command language\n")
            return b"OK"
        try:
            output = monitor(command)
        except Exception as e:           # a front end's error must not drop the session
            output = "error: %s\n" % e
        if output:
            if not output.endswith("\n"):
                output += "\n"
            self.console(output, newline=False)
        return b"OK"

    def console(self, text, newline=True):
        """Print `text` on gdb's console (O packets, split to fit a packet)."""
        if newline and not text.endswith("\n"):
            text += "\n"
        data = text.encode("utf-8", "replace")
        step = (PACKET_SIZE - 8) // 2
        for i in range(0, len(data), step):
            self.link.send(b"O" + data[i:i + step].hex().encode())


def _line_writer(stream):
    def write(text):
        stream.write(text + "\n")
        stream.flush()
    return write


class _End(Exception):
    """The session ends: `how` is "detach" or "kill"; `reply` is sent first if not None."""

    def __init__(self, how, reply):
        super().__init__(how)
        self.how, self.reply = how, reply
