"""The Textual TUI of the debugger: panes over one Debugger, the guest run in a worker.

    run_tui(debugger, interpreter=None, gdb=None)    what `cycle86 debug` calls
    demo_debugger()                                   the bundled demo guest, at the reset vector
    python -m debugger.tui                            the TUI on the demo guest

Layout: registers, disassembly and stack on top; below them the less central panes in tabs
(the guest's screen, the 0xE9/serial console, memory, breakpoints, trace, devices, system
tables) beside the command log; then the command line, the status bar and the key bar.
The panes live in debugger/tui_widgets.py and the stylesheet in debugger/tui.tcss.

Threads: the guest only ever runs in one thread worker (`_run_guest`): F5/F10/F11/finish
and every command line (a command such as `c` may run the guest for a long time).  The
worker posts GuestDone when it returns; the controller's on_stop callback posts Refresh,
so a stop caused by another front end (the gdb stub's thread) updates the panes too.
While the guest runs, a 4 Hz timer updates only what is safe and useful to read on the
fly: the status bar (cycles, guest MIPS), the guest's screen and the console.
"""
from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import App
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.message import Message
from textual.widgets import (Button, Footer, Input, Log, RichLog, Static, TabbedContent,
                             TabPane)

from debugger.controller import DebugError, Descriptor, StopEvent
from debugger.tui_widgets import (BreakpointsPane, CommandInput, DisassemblyPane, FpuPane,
                                  HelpScreen, MemoryPane, RegistersPane, ScreenPane,
                                  StackPane, TextPane, TracePane, View, around,
                                  format_where, parse_address, points_at, screen_cells,
                                  screen_image)

REFRESH_HZ = 4
QUIT_WORDS = ("q", "quit", "exit")


# ===================================================================== the demo machine

def demo_debugger(cpu="80386"):
    """A Debugger over the bundled demo guest (core/guests/demo.rom), paused at the reset
    vector: what `cycle86 debug` opens with no arguments."""
    from core.bench import DEMO_ROM, make_machine
    from debugger.controller import Debugger
    machine, _port = make_machine(DEMO_ROM.read_bytes(), cpu=cpu)
    return Debugger(machine)


# ===================================================================== console capture

def _writes_to_terminal(sink):
    """True if `sink` (a debugport.file_sink) writes to a terminal: the TUI owns the
    terminal, so such a sink is replaced by the console pane, not chained."""
    for cell in getattr(sink, "__closure__", None) or ():
        try:
            f = cell.cell_contents
        except ValueError:
            continue
        fileno = getattr(f, "fileno", None)
        if fileno is None:
            continue
        try:
            if os.isatty(fileno()):
                return True
        except (OSError, ValueError, io.UnsupportedOperation):
            pass
    return False


class ConsoleTap:
    """Collects what the guest prints on port 0xE9 and on the serial ports, for the console
    pane.  The sinks run in the guest's thread; `drain()` runs in the UI's."""

    def __init__(self, dbg):
        from peripherals.debugport import DebugPort
        self._lock = threading.Lock()
        self._chunks = []
        self._undo = []
        self.sources = []
        pc = getattr(dbg, "pc", None)
        devices = list(pc.chips.values()) if pc is not None else []
        devices += [d for d in dbg.machine.devices if d not in devices]
        for dev in devices:
            if isinstance(dev, DebugPort):
                self._tap_debugport(dev)
        from peripherals.uart import UART
        for dev in devices:
            if isinstance(dev, UART):
                self._tap_uart(dev)

    def _add(self, prefix, data):
        with self._lock:
            self._chunks.append((prefix, bytes(data)))

    def _tap_debugport(self, port):
        previous = port.echo
        chain = previous if previous is not None and not _writes_to_terminal(previous) else None

        def sink(data):
            self._add("", data)
            if chain is not None:
                chain(data)

        port.echo = sink
        self._undo.append(lambda: setattr(port, "echo", previous))
        self.sources.append("port 0xE9")
        if port.output:              # what the guest printed before the TUI started
            self._add("", port.output)

    def _tap_uart(self, uart):
        from peripherals.uart import MemoryBackend
        backend = uart.backend
        name = getattr(uart, "name", "uart")
        if backend is None or "stdio" in backend.describe():
            # Nothing attached, or the terminal (which the TUI owns): keep it in memory.
            old = backend
            backend = MemoryBackend()
            uart.attach(backend)
            self._undo.append(lambda: uart.attach(old))
        write = backend.write
        prefix = "[%s] " % name

        def tee(byte, cycle):
            write(byte, cycle)
            self._add(prefix, bytes([byte]))

        backend.write = tee
        self._undo.append(lambda: backend.__dict__.pop("write", None))
        self.sources.append(name)

    def drain(self):
        """Text printed since the last call (serial bytes marked with their port at the
        start of each line)."""
        with self._lock:
            chunks, self._chunks = self._chunks, []
        out = []
        last = getattr(self, "_last_prefix", None)
        for prefix, data in chunks:
            text = data.decode("latin-1")
            if prefix != last:
                if out and not out[-1].endswith("\n"):
                    out.append("\n")
                if prefix:
                    out.append(prefix)
                last = prefix
            out.append(text)
        self._last_prefix = last
        return "".join(out)

    def close(self):
        for undo in reversed(self._undo):
            undo()
        self._undo = []


# ===================================================================== text views

def devices_text(dbg):
    """Every device's info(), under its name."""
    pc = getattr(dbg, "pc", None)
    if pc is not None:
        items = list(pc.chips.items())
    else:
        items = [(getattr(d, "name", type(d).__name__.lower()), d) for d in dbg.machine.devices]
    if not items:
        return "(no devices)"
    out = []
    seen = set()
    for name, dev in items:
        if id(dev) in seen:
            continue
        seen.add(id(dev))
        info = getattr(dev, "info", None)
        try:
            text = info() if callable(info) else repr(dev)
        except Exception as e:       # a view must not take the debugger down
            text = "(info() failed: %s)" % e
        out.append("== %s ==\n%s\n" % (name, text))
    return "\n".join(out)


SYSTEM_TYPES = {1: "TSS16 avail", 2: "LDT", 3: "TSS16 busy", 4: "call gate16",
                5: "task gate", 6: "int gate16", 7: "trap gate16", 9: "TSS32 avail",
                11: "TSS32 busy", 12: "call gate32", 14: "int gate32", 15: "trap gate32"}


def describe_descriptor(d):
    """One GDT/LDT/IDT entry (the 8 bytes as an int) in words."""
    desc = Descriptor(d)
    typ, np = desc.type, "" if desc.present else " NP"
    if not desc.present and d == 0:
        return "null"
    if not desc.system:
        kind = ("code %s%s" % ("r" if typ & 2 else "-", "c" if typ & 4 else "-") if typ & 8
                else "data %s%s" % ("w" if typ & 2 else "-", "e" if typ & 4 else "-"))
        return "%s base %08X limit %08X %s-bit dpl %d%s" % (
            kind, desc.base, desc.limit, "32" if desc.big else "16", desc.dpl, np)
    name = SYSTEM_TYPES.get(typ, "reserved %d" % typ)
    if typ in (4, 5, 6, 7, 12, 14, 15):
        return "%s %04X:%08X dpl %d%s" % (name, desc.selector, desc.offset, desc.dpl, np)
    return "%s base %08X limit %05X dpl %d%s" % (name, desc.base, desc.raw_limit, desc.dpl, np)


def tables_text(dbg, view, max_entries=64):
    """The IVT in real mode; GDT, IDT and a page-table summary in protected mode."""
    out = []
    if view.mode == "real" and not view.regs["cr0"] & 1:
        base, limit = view.regs["idtr"]
        out.append("real mode: interrupt vector table at %08X (limit %04X)" % (base, limit))
        for v in range(min(max_entries, (limit + 1) // 4)):
            try:
                off, seg = dbg.read_int(base + 4 * v, 2), dbg.read_int(base + 4 * v + 2, 2)
            except DebugError:
                break
            out.append("  %02X  %04X:%04X" % (v, seg, off))
        return "\n".join(out)
    for name in ("gdtr", "idtr"):
        base, limit = view.regs[name]
        out.append("%s base %08X limit %04X" % (name.upper()[:3], base, limit))
        for k in range(min(max_entries, (limit + 1) // 8)):
            try:
                d = dbg.read_int(base + 8 * k, 8)
            except DebugError:
                out.append("  (not mapped from entry %d)" % k)
                break
            label = "%04X" % (8 * k) if name == "gdtr" else "%02X" % k
            out.append("  %s  %s" % (label, describe_descriptor(d)))
        out.append("")
    out.append(paging_text(dbg, view))
    return "\n".join(out)


def paging_text(dbg, view):
    """Which 4 MiB regions (2 MiB under PAE) the page directory maps (present PDEs), with
    the number of present pages in each: a summary, not every PTE."""
    cr0, cr3, cr4 = view.regs["cr0"], view.regs["cr3"], view.regs["cr4"]
    if not view.paging:
        return "paging off (CR0.PG=0)"
    pae = bool(cr4 & 0x20)
    if pae:
        lines = ["paging on (PAE): PDPT at %08X, PDPTEs %s" % (
            cr3 & 0xFFFFFFE0, " ".join("%09X" % e for e in dbg.cpu.pdptes))]
    else:
        lines = ["paging on: page directory at %08X%s" % (cr3 & 0xFFFFF000,
                                                         " (PSE)" if cr4 & 0x10 else "")]
    try:
        directory = dbg.page_directory()
    except DebugError:
        return lines[0] + " (not readable)"
    per_table = 512 if pae else 1024
    for lin, span, pde, large in directory:
        rights = "%s%s" % ("w" if pde & 2 else "r", "u" if pde & 4 else "s")
        if large:
            lines.append("  %08X-%08X  %s page at %08X %s" % (
                lin, lin + span - 1, "2M" if pae else "4M", pde & (0xFFFFFFFFF & -span), rights))
            continue
        try:
            present = len(dbg.page_table(pde))
        except DebugError:
            continue
        lines.append("  %08X-%08X  table at %08X %s, %d of %d pages present"
                     % (lin, lin + span - 1, pde & 0xFFFFFF000, rights, present, per_table))
        if len(lines) > 64:
            lines.append("  ...")
            break
    return "\n".join(lines)


def make_interpreter(dbg):
    """The command language's interpreter (debugger/commands.py), its output kept here."""
    from debugger.commands import CommandInterpreter
    out = io.StringIO()
    return CommandInterpreter(dbg, write=out.write)


# ===================================================================== messages

class GuestDone(Message):
    """The run worker finished: `result` is a StopEvent or command output, or `error`."""

    def __init__(self, label, result=None, error=None, line=None):
        super().__init__()
        self.label = label
        self.result = result
        self.error = error
        self.line = line


class LogLine(Message):
    """Text the interpreter wrote outside a command (from any thread)."""

    def __init__(self, text):
        super().__init__()
        self.text = text


class Refresh(Message):
    """The controller stopped (from any thread): update the panes."""

    def __init__(self, event):
        super().__init__()
        self.event = event


# ===================================================================== the app

def _gone_at_exit(handler):
    """A handler of a late message (a stop, a timer tick) that may arrive while the app is
    shutting down and its panes are already gone: then there is nothing to show."""
    import functools

    @functools.wraps(handler)
    def wrapper(self, *args):
        try:
            return handler(self, *args)
        except NoMatches:
            # Only teardown removes panes; the key paths (refresh_panes after F9...) are
            # not wrapped, so a pane id that is simply wrong still fails loudly.
            return None
    return wrapper


class DebuggerApp(App):
    """The cycle86 debugger: panes over `debugger`, commands through `interpreter`."""

    CSS_PATH = str(Path(__file__).with_name("tui.tcss"))
    TITLE = "cycle86 debugger"
    ENABLE_COMMAND_PALETTE = False

    BINDINGS = [
        Binding("f5", "cont", "Continue", priority=True),
        Binding("f9", "toggle_breakpoint", "Breakpoint", priority=True),
        Binding("f10", "next", "Step over", priority=True),
        Binding("f11", "step", "Step", priority=True),
        Binding("shift+f11", "finish", "Finish", priority=True),
        Binding("shift+f7", "reverse_step", "Back step", priority=True),
        Binding("shift+f5", "reverse_cont", "Back cont", priority=True),
        Binding("f8", "next", "Step over", show=False, priority=True),
        Binding("f7", "step", "Step", show=False, priority=True),
        Binding("ctrl+c", "break", "Break", priority=True),
        Binding("f1", "help", "Help", priority=True),
        Binding("question_mark", "help", "Help", show=False),
        Binding("colon", "focus_command", "Command", show=False),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(self, debugger, interpreter=None, gdb=None, **kw):
        super().__init__(**kw)
        self.debugger = debugger
        self.interpreter = interpreter if interpreter is not None else make_interpreter(debugger)
        self.gdb = gdb
        self.running = False           # the run worker is active
        self.run_label = ""
        self.last_event = None         # the StopEvent of the last stop
        self.view = None
        self._prev_regs = None         # registers at the stop before the current one
        self._handled = None
        self._run_start = None         # (wall, icount, cycles) when the run began
        self._tick = None              # (wall, icount) at the last status tick
        self.mips = 0.0
        self.runs_done = 0             # worker runs finished (tests wait on it)
        self.tap = ConsoleTap(debugger)
        self._on_stop = lambda event: self.post_message(Refresh(event))
        self._saved_write = None

    # ------------------------------------------------------------ layout
    def compose(self):
        with Vertical(id="main"):
            with Horizontal(id="top"):
                yield RegistersPane(id="registers")
                yield DisassemblyPane(id="disassembly")
                yield StackPane(id="stack")
            with Horizontal(id="bottom"):
                pc = getattr(self.debugger, "pc", None)
                # Without a display adapter the guest talks through the console ports.
                first = "tab-screen" if pc is not None and pc.chips.get("vga") else "tab-console"
                with TabbedContent(id="tabs", initial=first):
                    with TabPane("Screen", id="tab-screen"):
                        yield ScreenPane(id="screen")
                    with TabPane("Console", id="tab-console"):
                        yield Log(id="console", max_lines=5000)
                    with TabPane("Memory", id="tab-memory"):
                        yield Input(placeholder="go to: 7c00, p:b8000, ds:si, esi+4 (Enter)",
                                    id="memory-goto")
                        yield MemoryPane(id="memory")
                    if self.debugger.fpu is not None:
                        with TabPane("FPU", id="tab-fpu"):
                            with VerticalScroll():
                                yield FpuPane(id="fpu")
                    with TabPane("Breakpoints", id="tab-breakpoints"):
                        yield BreakpointsPane(id="breakpoints")
                    with TabPane("Trace", id="tab-trace"):
                        with VerticalScroll():
                            yield TracePane(id="trace")
                    with TabPane("Devices", id="tab-devices"):
                        with VerticalScroll():
                            yield TextPane("Devices", id="devices")
                    with TabPane("Tables", id="tab-tables"):
                        with VerticalScroll():
                            yield TextPane("System tables", id="tables")
                yield RichLog(id="log", markup=False, highlight=False, wrap=True,
                              max_lines=5000)
            yield CommandInput(complete=getattr(self.interpreter, "complete", None),
                               placeholder="command (help, r, s, c, b 0x7c00, x /8xb ds:si, "
                                           "u ...); : to focus, Esc to leave",
                               id="command")
            with Horizontal(id="statusrow"):
                yield Static(id="status")
                yield Button("Break", id="break-button", variant="error")
        yield Footer()

    def on_mount(self):
        # The live panes, kept so that the 4 Hz timer never has to look them up (it can
        # fire while the screen is being torn down).
        self._status = self.query_one("#status", Static)
        self._screen_pane = self.query_one("#screen", ScreenPane)
        self._console = self.query_one("#console", Log)
        self._console.border_title = "Console (0xE9, serial)"
        self.query_one("#log", RichLog).border_title = "Command output"
        self.debugger.on_stop.append(self._on_stop)
        if hasattr(self.interpreter, "write"):
            # The TUI owns the terminal: what the interpreter prints between commands
            # (a stop reported while the gdb stub runs the guest...) goes to the log.
            self._saved_write = self.interpreter.write
            self.interpreter.write = lambda text: self.post_message(LogLine(str(text)))
        self.query_one("#memory", MemoryPane).set_debugger(self.debugger)
        self.query_one("#memory", MemoryPane).goto(self.debugger.current_linear())
        self.refresh_panes()
        self.query_one("#disassembly").focus()
        self.set_interval(1 / REFRESH_HZ, self._tick_running)
        log = self.query_one("#log", RichLog)
        log.write("cycle86 debugger: F11 step, F10 step over, F5 continue, F9 breakpoint, "
                  "Ctrl+C break, F1 help.  Type `help` for the commands.")
        if self.tap.sources:
            log.write("console pane: %s" % ", ".join(self.tap.sources))
        if self.gdb is not None:
            log.write("gdb stub: %s" % self._gdb_address())

    def on_unmount(self):
        if self._on_stop in self.debugger.on_stop:
            self.debugger.on_stop.remove(self._on_stop)
        if self.running:
            self.debugger.request_break()
        self.tap.close()
        if self._saved_write is not None:
            self.interpreter.write = self._saved_write

    @_gone_at_exit
    def on_log_line(self, message):
        self.query_one("#log", RichLog).write(Text(message.text.rstrip("\n")))

    def _gdb_address(self):
        for name in ("address", "addr"):
            a = getattr(self.gdb, name, None)
            if a:
                return "%s:%s" % tuple(a[:2]) if isinstance(a, tuple) else str(a)
        host, port = getattr(self.gdb, "host", None), getattr(self.gdb, "port", None)
        return "%s:%s" % (host, port) if port else "listening"

    # ------------------------------------------------------------ showing the state
    def refresh_panes(self):
        """Read the machine once and show it in every pane (at a stop)."""
        dbg = self.debugger
        view = View.read(dbg, prev=self._prev_regs)
        self.view = view
        for pane in ("#registers", "#disassembly", "#stack", "#memory", "#breakpoints"):
            self.query_one(pane).show(view)
        if self.debugger.fpu is not None:
            self.query_one("#fpu", FpuPane).show(view)
        self.query_one("#devices", TextPane).show_text(devices_text(dbg))
        try:
            tables = tables_text(dbg, view)
        except DebugError as e:
            tables = str(e)
        self.query_one("#tables", TextPane).show_text(tables)
        self.query_one("#trace", TracePane).show_entries()
        self._refresh_live()

    def _refresh_live(self):
        """What is worth showing while the guest runs: screen, console, status."""
        try:
            cells = screen_cells(self.debugger)
            image = screen_image(self.debugger) if cells is None else None
            if image is not None:
                self._screen_pane.show_image(image)
            else:
                self._screen_pane.show_cells(cells)
        except DebugError as e:
            self._screen_pane.update(str(e))
        text = self.tap.drain()
        if text:
            self._console.write(text)
        self.update_status()

    def guest_running(self):
        """Our worker runs the guest, or another front end does (the gdb stub)."""
        return self.running or bool(getattr(self.debugger, "running", False))

    def update_status(self):
        dbg = self.debugger
        cpu = dbg.cpu
        if self.guest_running():
            state = Text("running %s" % (self.run_label if self.running else "(gdb)"),
                         style="bold green")
        else:
            state = Text("stopped", style="bold red")
            if self.last_event is not None:
                state.append(" (%s)" % self.last_event.reason, style="red")
        t = Text.assemble(state, "  ")
        t.append("cycle %s  icount %s  " % (format(dbg.clock.now, ","), format(cpu.icount, ",")))
        mode = dbg.mode() + (", paging" if dbg.paging() else "")
        t.append("mode %s  " % mode)
        t.append("%.2f MIPS  " % self.mips)
        if not self.guest_running():
            wide = self.view is not None and self.view.bits == 32
            t.append("%04X:%0*X" % (cpu.get("cs"), 8 if wide else 4, cpu.eip))
        if self.gdb is not None:
            t.append("  gdb %s" % self._gdb_address(), style="dim")
        self._status.update(t)

    @_gone_at_exit
    def _tick_running(self):
        if not self.guest_running():
            if self._tick is not None and not self.running:
                self._tick = None
                self.update_status()
            return
        now, icount = time.perf_counter(), self.debugger.cpu.icount
        if self._tick is not None:
            dt = now - self._tick[0]
            if dt > 0:
                self.mips = (icount - self._tick[1]) / dt / 1e6
        self._tick = (now, icount)
        self._refresh_live()

    def _record(self, line):
        self.query_one("#trace", TracePane).add(line)

    # ------------------------------------------------------------ running the guest
    def start(self, label, fn, line=None):
        """Run `fn` (it runs the guest or a command) in the worker; False if busy."""
        if self.guest_running():
            self.query_one("#log", RichLog).write(
                Text("the guest is running: Ctrl+C breaks it", style="yellow"))
            return False
        self.running = True
        self.run_label = label
        self._prev_regs = self.view.regs if self.view is not None else None
        self._run_start = (time.perf_counter(), self.debugger.cpu.icount)
        self._tick = self._run_start
        self.update_status()
        self._run_guest(label, fn, line)
        return True

    @work(thread=True, exclusive=True, group="guest")
    def _run_guest(self, label, fn, line):
        try:
            result = fn()
        except Exception as e:       # reported in the log; the app keeps going
            self.post_message(GuestDone(label, error=e, line=line))
        else:
            self.post_message(GuestDone(label, result=result, line=line))

    @_gone_at_exit
    def on_guest_done(self, message):
        self.running = False
        self.runs_done += 1
        wall = time.perf_counter() - self._run_start[0]
        done = self.debugger.cpu.icount - self._run_start[1]
        self.mips = done / wall / 1e6 if wall > 0 and done > 1000 else self.mips
        log = self.query_one("#log", RichLog)
        if message.error is not None:
            e = message.error
            log.write(Text("%s: %s" % (type(e).__name__ if not isinstance(e, DebugError)
                                       else "error", e), style="bold red"))
        elif isinstance(message.result, StopEvent):
            self._stopped(message.result)
            if message.label != "step":
                log.write(Text(str(message.result)))
        elif message.result:
            log.write(Text(str(message.result).rstrip("\n")))
        if message.line is not None and getattr(self.interpreter, "quit_requested", False):
            self.exit()
            return
        stop = self.debugger.last_stop
        if stop is not None and stop is not self._handled:
            self._stopped(stop)
        self.refresh_panes()

    @_gone_at_exit
    def on_refresh(self, message):
        """A stop reported by the controller (ours, a command's, or the gdb stub's)."""
        if not self.running and message.event is not self._handled:
            if self.view is not None:
                self._prev_regs = self.view.regs
            self._stopped(message.event)
            self.refresh_panes()

    def _stopped(self, event):
        if event is self._handled:
            return
        self._handled = event
        self.last_event = event
        if event.reason != "step":
            self._record("-- stopped: %s at %04X:%08X (lin %08X), cycle %d"
                         % (event.reason, event.cs, event.eip, event.linear, event.cycle))

    # ------------------------------------------------------------ actions
    def _record_current(self):
        """Before a step: the instruction about to run, for the trace tail."""
        view = self.view or View.read(self.debugger)
        insns = around(view, view.linear, 0, 1)
        text = insns[0].text if insns else "?"
        where = format_where(view, insns[0]) if insns else "%08X" % view.linear
        self._record("%12d  %s  %s" % (self.debugger.clock.now, where, text))

    def action_step(self):
        if not self.guest_running():
            self._record_current()
        self.start("step", lambda: self.debugger.step(1))

    def action_next(self):
        if not self.guest_running():
            self._record_current()
        self.start("next", self.debugger.next)

    def action_finish(self):
        self.start("finish", self.debugger.finish)

    def action_cont(self):
        self.start("continue", self.debugger.cont)

    # Reverse execution (debugger/reverse.py): back one instruction, back to the previous
    # hit of a breakpoint, watchpoint or catchpoint.
    def action_reverse_step(self):
        self.start("reverse-step", lambda: self.debugger.reverse_step(1))

    def action_reverse_cont(self):
        self.start("reverse-continue", self.debugger.reverse_continue)

    # ------------------------------------------------------------ the guest's keyboard
    # The debugger's keys that act even while another widget has the focus: while the
    # Screen pane has it, they go to the guest instead.
    GUEST_KEYS_OVERRIDE = frozenset(("cont", "toggle_breakpoint", "next", "step", "finish",
                                     "break", "help", "quit", "focus_command",
                                     "reverse_step", "reverse_cont"))

    def check_action(self, action, parameters):
        focused = self.focused
        if isinstance(focused, ScreenPane) and action in self.GUEST_KEYS_OVERRIDE:
            return False
        return True

    def on_screen_pane_keys(self, message):
        pc = getattr(self.debugger, "pc", None)
        kbc = pc.chips.get("i8042") if pc is not None else None
        if kbc is None:
            self.notify("this machine has no keyboard controller")
            return
        from core import keys
        line = message.line
        # The worker thread owns the machine while the guest runs: the keys are handed
        # over between two of its slices (and at once while it is stopped).
        self.debugger.call_between_slices(lambda: keys.send(kbc, [line]))

    def on_screen_pane_release(self, message):
        self.action_focus_command()

    def action_break(self):
        if self.guest_running():
            self.debugger.request_break()
            self.notify("break requested")
        else:
            self.notify("the guest is not running")

    def on_button_pressed(self, event):
        if event.button.id == "break-button":
            self.action_break()

    def action_toggle_breakpoint(self):
        pane = self.query_one("#disassembly", DisassemblyPane)
        insn = pane.selected()
        if insn is not None:
            self.toggle_breakpoint(insn)

    def on_disassembly_pane_toggle_breakpoint(self, message):
        self.toggle_breakpoint(message.insn)

    def toggle_breakpoint(self, insn):
        """Remove the breakpoints on `insn`'s line, or set a linear one there."""
        if self.running:
            self.notify("stop the guest first (Ctrl+C)", severity="warning")
            return
        dbg = self.debugger
        view = View.read(dbg, prev=self._prev_regs)
        found = points_at(view, insn)
        log = self.query_one("#log", RichLog)
        try:
            if found:
                for p in found:
                    dbg.delete(p.id)
                    log.write("deleted breakpoint %d (%s)" % (p.id, p.describe()))
            else:
                p = dbg.break_at("lin", insn.linear)
                log.write("breakpoint %d: %s" % (p.id, p.describe()))
        except DebugError as e:
            log.write(Text(str(e), style="bold red"))
        keep = self.query_one("#disassembly", DisassemblyPane).cursor_row
        self.refresh_panes()
        self.query_one("#disassembly", DisassemblyPane).move_cursor(row=keep, animate=False)

    def on_breakpoints_pane_changed(self, message):
        self.refresh_panes()

    def action_help(self):
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_focus_command(self):
        # At once, not after the next refresh (Widget.focus): keys typed right after the
        # colon must land in the command line.
        self.screen.set_focus(self.query_one("#command"))

    def on_key(self, event):
        if event.key == "escape" and self.focused is self.query_one("#command"):
            self.query_one("#disassembly").focus()
            event.stop()

    # ------------------------------------------------------------ memory pane
    def on_memory_pane_goto(self, message):
        self.query_one("#memory-goto", Input).focus()

    # ------------------------------------------------------------ the command line
    def on_input_submitted(self, event):
        if event.input.id == "memory-goto":
            self._memory_goto(event.value)
            return
        if event.input.id != "command":
            return
        line = event.value.strip()
        box = self.query_one("#command", CommandInput)
        box.value = ""
        if not line:
            return
        box.remember(line)
        words = line.split()
        if words[0] in QUIT_WORDS:
            self.exit()
            return
        log = self.query_one("#log", RichLog)
        if self.guest_running():
            log.write(Text("the guest is running: Ctrl+C breaks it, then type %r" % line,
                           style="yellow"))
            return
        log.write(Text("> " + line, style="bold cyan"))
        self.start("command", lambda: self.interpreter.execute_capture(line), line=line)

    def _memory_goto(self, text):
        pane = self.query_one("#memory", MemoryPane)
        try:
            address, space = parse_address(self.debugger, text)
        except Exception as e:
            self.notify("cannot go to %r: %s" % (text, e), severity="error")
            return
        pane.goto(address, space)
        pane.focus()


def run_tui(debugger, interpreter=None, gdb=None):
    """Run the TUI over `debugger` until the user quits; returns the exit status (0)."""
    app = DebuggerApp(debugger, interpreter=interpreter, gdb=gdb)
    app.run()
    return 0


def main(argv=None):
    """`python -m debugger.tui`: the TUI over the demo guest (see demo_debugger)."""
    return run_tui(demo_debugger())


if __name__ == "__main__":
    raise SystemExit(main())
