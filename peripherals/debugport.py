"""The debug ports that guests and test ROMs script with.

None of these exist on a real PC/AT; they are the conventions of the emulators people test
with, so a guest written for Bochs or QEMU prints and stops the same way here:

* 0xE9, the Bochs "port e9 hack": each byte written is console output.  Reading it returns
  0xE9, which is how a guest detects that the port is there.
* 0x80, the POST code port: firmware writes progress codes there for a diagnostic card to
  show.  Every code is recorded; reading returns the last one, as Bochs does.
* 0x8900, the Bochs shutdown port: writing the bytes of "Shutdown" one after the other
  requests a stop with exit status 0.
* 0xF4, QEMU's isa-debug-exit device: writing v requests a stop with exit status
  (v << 1) | 1.  QEMU shifts the value so that no guest can fake a clean exit (status 0);
  a test ROM chooses its own "passed" value.
* 0x402/0x403, the firmware's debug console: SeaBIOS built for QEMU writes its log to
  0x402 (QEMU's debugcon), the Bochs BIOS writes its BX_INFO/BX_DEBUG messages to
  0x403/0x402.  The bytes are kept apart from the 0xE9 console in ``bios_log``.

A stop goes through ``machine.request_stop()``, so ``Machine.run`` returns "stop"; the status
stays in ``exit_status`` for whoever runs the machine (the CLI turns it into the process
status).
"""
import io

PORT_E9 = 0xE9
PORT_POST = 0x80
PORT_SHUTDOWN = 0x8900
PORT_DEBUG_EXIT = 0xF4
PORT_BIOS_DEBUG = 0x402             # and 0x403

SHUTDOWN_MAGIC = b"Shutdown"


def file_sink(f):
    """A sink that writes console bytes to the file object ``f`` (text or binary).

    Text files get the bytes decoded as Latin-1 so that every byte shows as one character and
    nothing is lost or raises; a newline flushes, so a person watching sees whole lines.
    If writing fails (a closed pipe, a full disk) the sink stops writing and keeps the error
    in ``sink.failed`` for its owner to report: the bus would otherwise report it again for
    every byte the guest writes.
    """
    binary = getattr(f, "buffer", None)
    if binary is not None:
        # A text stream over a binary one (sys.stdout): write the guest's bytes unchanged
        # underneath, after whatever text is already waiting, so the order is kept.
        f.flush()
        f = binary
    is_binary = not isinstance(f, io.TextIOBase)

    def sink(data):
        if sink.failed is not None:
            return
        try:
            f.write(data if is_binary else data.decode("latin-1"))
            if b"\n" in data:
                f.flush()
        except OSError as e:
            sink.failed = e

    sink.failed = None
    return sink


class DebugPort:
    """The console, POST, shutdown and exit ports as one device on ``machine.bus``.

    ``keep``: keep console output in memory (``output`` / ``text``).
    ``echo``: a callable given each chunk of console bytes as it is written (see
    ``file_sink`` to send it to stdout or a file), or None.
    """

    PORTS = (
        (PORT_E9, 1),
        (PORT_POST, 1),
        (PORT_SHUTDOWN, 1),
        (PORT_DEBUG_EXIT, 1),
    )

    def __init__(self, machine, *, keep=True, echo=None, bios_echo=None):
        self.machine = machine
        self.keep = keep
        self.echo = echo
        self.bios_echo = bios_echo
        self.clear()
        self.reset()
        bus = machine.bus
        bus.register_io(PORT_E9, 1, self._read_e9, self._write_e9)
        bus.register_io(PORT_POST, 1, self._read_post, self._write_post)
        bus.register_io(PORT_SHUTDOWN, 1, self._read_unused, self._write_shutdown)
        bus.register_io(PORT_DEBUG_EXIT, 1, self._read_unused, self._write_debug_exit)
        bus.register_io(PORT_BIOS_DEBUG, 2, self._read_bios_debug, self._write_bios_debug)
        devices = getattr(machine, "devices", None)
        if devices is not None:          # so Machine.reset() and the device views find it
            devices.append(self)

    def reset(self):
        """A machine reset: a half-written "Shutdown" and any stop request are forgotten.

        The console output and the POST codes are a log of what the guest did, like the
        terminal and the POST card's display, so they survive a reset; ``clear()`` empties them.
        """
        self._shutdown_matched = 0
        self.exit_status = None
        self.stop_reason = None

    def clear(self):
        """Empty the console output and the POST code list."""
        self._output = bytearray()
        self.console_bytes = 0
        self.post_codes = []
        self._bios_log = bytearray()

    # ---------------------------------------------------------------- results

    @property
    def output(self):
        """Console bytes kept so far."""
        return bytes(self._output)

    @property
    def bios_log(self):
        """Bytes the firmware wrote to its debug console (0x402/0x403)."""
        return bytes(self._bios_log)

    @property
    def text(self):
        """Console output as text (UTF-8, undecodable bytes replaced)."""
        return self._output.decode("utf-8", errors="replace")

    # ---------------------------------------------------------------- port handlers
    # A write wider than a byte to one of these 8-bit ports carries its bytes low first, as
    # the bus cycles of an 8-bit device would see them.

    @staticmethod
    def _bytes_of(width, value):
        return (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little")

    @staticmethod
    def _unclaimed_above(width, low_byte):
        # The neighbouring ports are not ours, so those lanes read as an unclaimed port does.
        return ((1 << (8 * width)) - 1) & ~0xFF | low_byte

    def _read_e9(self, port, width):
        return self._unclaimed_above(width, 0xE9)

    def _write_e9(self, port, width, value):
        data = self._bytes_of(width, value)
        self.console_bytes += len(data)
        if self.keep:
            self._output += data
        if self.echo is not None:
            self.echo(data)

    def _read_post(self, port, width):
        last = self.post_codes[-1] if self.post_codes else 0
        return self._unclaimed_above(width, last)

    def _write_post(self, port, width, value):
        # A POST card latches the byte on the low data lines; that is the code.
        self.post_codes.append(value & 0xFF)

    def _read_bios_debug(self, port, width):
        # QEMU's debugcon answers 0xE9 to a read, which is how SeaBIOS detects it.
        return self._unclaimed_above(width, 0xE9)

    def _write_bios_debug(self, port, width, value):
        data = self._bytes_of(width, value)
        if len(self._bios_log) < (1 << 20):          # a log, not a sink: cap it
            self._bios_log += data
        if self.bios_echo is not None:
            self.bios_echo(data)

    def _read_unused(self, port, width):
        return (1 << (8 * width)) - 1

    def _write_shutdown(self, port, width, value):
        for byte in self._bytes_of(width, value):
            if byte == SHUTDOWN_MAGIC[self._shutdown_matched]:
                self._shutdown_matched += 1
            else:
                # Restart the match here, so "SShutdown" still counts.
                self._shutdown_matched = 1 if byte == SHUTDOWN_MAGIC[0] else 0
            if self._shutdown_matched == len(SHUTDOWN_MAGIC):
                self._shutdown_matched = 0
                self._stop(0, "shutdown port 0x8900")

    def _write_debug_exit(self, port, width, value):
        value &= (1 << (8 * width)) - 1
        self._stop((value << 1) | 1, "isa-debug-exit 0x%02X" % value)

    def _stop(self, status, reason):
        self.exit_status = status
        self.stop_reason = reason
        self.machine.request_stop()

    # ---------------------------------------------------------------- snapshots and views

    def get_state(self):
        """Plain data for a snapshot (the sinks are configuration, not state)."""
        return {
            "output": bytes(self._output),
            "console_bytes": self.console_bytes,
            "post_codes": list(self.post_codes),
            "bios_log": bytes(self._bios_log),
            "shutdown_matched": self._shutdown_matched,
            "exit_status": self.exit_status,
            "stop_reason": self.stop_reason,
        }

    def set_state(self, state):
        self._output = bytearray(state["output"])
        self.console_bytes = state["console_bytes"]
        self.post_codes = list(state["post_codes"])
        self._bios_log = bytearray(state.get("bios_log", b""))
        self._shutdown_matched = state["shutdown_matched"]
        self.exit_status = state["exit_status"]
        self.stop_reason = state["stop_reason"]

    def info(self):
        """A few lines for the debugger's device view."""
        codes = " ".join("%02X" % c for c in self.post_codes[-16:]) or "none"
        exit_text = ("exit status %d (%s)" % (self.exit_status, self.stop_reason)
                     if self.exit_status is not None else "no stop requested")
        return "\n".join([
            "debug ports: console 0xE9, POST 0x80, shutdown 0x8900, isa-debug-exit 0xF4, "
            "firmware log 0x402/0x403 (%d bytes)" % len(self._bios_log),
            "console: %d bytes written" % self.console_bytes,
            "POST codes (last 16): %s" % codes,
            "shutdown: %d of %d bytes of %r matched" % (
                self._shutdown_matched, len(SHUTDOWN_MAGIC), SHUTDOWN_MAGIC.decode()),
            exit_text,
        ])
