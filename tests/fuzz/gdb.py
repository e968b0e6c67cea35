"""Random gdb remote packets to the stub (debugger/gdbstub.py), over a real TCP socket.

The stub serves a 386 running a small real-mode loop.  A case sends a random mix of
well-formed packets of every kind the stub knows (registers, memory at any address and
length, breakpoints and watchpoints of every type, steps, continues followed by gdb's
interrupt byte, qXfer, monitor commands of the command language, vCont, no-ack mode),
packets with random payloads, bad checksums, oversized packets, and raw bytes; it reads
whatever comes back.  At the end the stub must still answer "?" (else a HANG), and its
log must not show an exception it caught while handling a packet (an EXCEPTION: the
stub survives those, but each is a bug that cost gdb a packet).
"""
import random
import socket
import time

from tests.fuzz import EXCEPTION, HANG, OK

LOOP = 0x7C00                     # EB FE: jmp $ ; with random bytes after it


def frame(payload):
    return b"$" + payload + b"#%02x" % (sum(payload) & 0xFF)


MONITOR = ("r", "info gdt", "info idt", "info tab", "x /16bx 0", "x /4wx 0xfffffffc",
           "u 0x7c00", "sreg", "creg", "info cpu", "lb 0xffffffff", "bogus", "",
           "x /999999bx 0", "page 0xfffff000", "info tss", "info ldt", "xp /8bx 0xfffffff8",
           "setpmem 0xfffffffe 4 0", "dump", "info device pic")


def addr(rng):
    return rng.choice((0, 0x7C00, 0xFFFFFFFF, 0xFFFFFFF0, 0x100000, 0xFFFFF,
                       rng.getrandbits(32), 0x1_0000_0000, rng.getrandbits(64)))


def packet(rng):
    r = rng.random()
    h = lambda v: b"%x" % v                                  # noqa: E731
    if r < 0.03:
        return None                                          # raw garbage instead
    choice = rng.choice((
        lambda: b"?", lambda: b"g",
        lambda: b"G" + rng.randbytes(rng.choice((0, 4, 100, 1000))).hex().encode(),
        lambda: b"p" + h(rng.randrange(80)),
        lambda: b"P" + h(rng.randrange(80)) + b"=" + rng.randbytes(rng.choice((4, 10, 1))).hex().encode(),
        lambda: b"m" + h(addr(rng)) + b"," + h(rng.choice((0, 1, 4, 4096, 0x4000, 0xFFFFF))),
        lambda: b"M" + h(addr(rng)) + b"," + h(4) + b":" + rng.randbytes(4).hex().encode(),
        lambda: b"M" + h(addr(rng)) + b",2:zz",
        lambda: b"X" + h(addr(rng)) + b"," + h(3) + b":" + bytes([0x7D, 0x5D, 1, 2]),
        lambda: b"Z%d," % rng.randrange(6) + h(addr(rng)) + b"," + h(rng.choice((1, 2, 4, 8, 3, 0))),
        lambda: b"z%d," % rng.randrange(6) + h(addr(rng)) + b"," + h(rng.choice((1, 2, 4))),
        lambda: b"s", lambda: b"s" + h(addr(rng)), lambda: b"c",
        lambda: b"vCont?", lambda: b"vCont;s", lambda: b"vCont;c", lambda: b"vCont;x",
        lambda: b"Hg0", lambda: b"Hc-1", lambda: b"T1", lambda: b"T7",
        lambda: b"qSupported:multiprocess+;swbreak+;hwbreak+",
        lambda: b"qXfer:features:read:target.xml:" + h(rng.choice((0, 100, 10 ** 9))) + b","
        + h(rng.choice((0, 1, 0xFFF, 10 ** 9))),
        lambda: b"qXfer:features:read:" + rng.choice((b"nosuch.xml", b"", b"x")) + b":0,10",
        lambda: b"qRcmd," + rng.choice(MONITOR).encode().hex().encode(),
        lambda: b"qRcmd,zz", lambda: b"qC", lambda: b"qfThreadInfo", lambda: b"qAttached",
        lambda: b"qOffsets", lambda: b"qSymbol::", lambda: b"QStartNoAckMode",
        lambda: b"q" + rng.randbytes(8), lambda: rng.randbytes(rng.randrange(1, 40)),
        lambda: b"D",
    ))
    return choice()


class Client:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.settimeout(0.2)

    def send(self, data):
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def drain(self, wait=0.2):
        """Read what the stub says within `wait` seconds; acknowledge its packets."""
        got = b""
        end = time.monotonic() + wait
        while time.monotonic() < end:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return None
            if not data:
                return None
            got += data
            if b"#" in data:
                self.send(b"+")
                if got.rstrip()[-3:-2] == b"#":
                    break
        return got

    def close(self):
        self.sock.close()


def run(seed, case_dir=None):
    from core.machine import Machine
    from debugger.commands import CommandInterpreter
    from debugger.controller import Debugger
    from debugger.gdbstub import GdbServer
    rng = random.Random("gdb:%d" % seed)
    m = Machine(rng.choice(("80386", "80486", "pentium2", "8086")), 1 << 20)
    m.mem.write(LOOP, b"\xEB\xFE" + rng.randbytes(64))
    m.cpu.cs, m.cpu.ip = 0, LOOP
    dbg = Debugger(m)
    log = []
    interp = CommandInterpreter(dbg, write=lambda *a, **k: None)
    server = GdbServer(dbg, port=0, monitor=interp.execute_capture, log=log.append)
    port = server.start()
    packets = 0
    try:
        # Port probes first: connections that close without a packet must not end the
        # session a headless stub waits for (issue 15's known bug, fixed).
        for _ in range(rng.randrange(3)):
            socket.create_connection(("127.0.0.1", port), timeout=10).close()
            time.sleep(0.1)
        client = Client(port)
        if server.wait_client(0):
            return {"outcome": EXCEPTION, "packets": 0,
                    "detail": "a port probe ended the stub's session"}
        for _ in range(rng.randrange(20, 120)):
            p = packet(rng)
            if p is None:
                data = rng.choice((b"$", b"#", b"$#00", b"+", b"-", b"\x03",
                                   b"$" + b"g" * 20000 + b"#00", rng.randbytes(50)))
            else:
                data = frame(p)
                if rng.random() < 0.05:
                    data = data[:-2] + b"zz"                  # a bad checksum
            if not client.send(data):
                client = Client(port)                         # the stub dropped us
                continue
            packets += 1
            if p in (b"c", b"vCont;c") or (p or b"").startswith(b"s"):
                time.sleep(0.01)
                client.send(b"\x03")
            if client.drain(0.05) is None:
                client.close()
                time.sleep(0.05)
                client = Client(port)
        # The stub must still answer, a new client after this one (which may have
        # detached, or left the guest running).
        client.send(b"\x03")
        client.drain(0.3)
        client.close()
        client = Client(port)
        client.send(frame(b"?"))
        reply = b""
        for _ in range(20):
            got = client.drain(0.5)
            if got is None:
                break
            reply += got
            if b"$" in reply:
                break
        client.close()
    finally:
        server.close()
    errors = [line for line in log if line.startswith("error handling")]
    if errors:
        return {"outcome": EXCEPTION, "packets": packets, "detail": errors[0][-3000:]}
    if b"$" not in reply:
        return {"outcome": HANG, "packets": packets,
                "detail": "the stub did not answer '?' at the end; log tail: %s" % log[-5:]}
    return {"outcome": OK, "packets": packets}
