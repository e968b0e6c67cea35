"""The VM console: `cycle86 run --display` draws the guest's screen in the terminal and
passes the keyboard through, and `cycle86 run` shows its progress while it goes.

The console is a small Textual app: the Screen pane of the debugger TUI
(debugger/tui_widgets.ScreenPane, text in colour, graphics in half blocks) filling the
terminal, focused, so every key goes to the guest's PS/2 keyboard; a status line with the
guest time, the host's MIPS and the last POST code.  Ctrl+] is the escape: `q` ends the
run, `d` sends Ctrl+Alt+Del.  The guest runs in a worker thread (core/pc.PC.run, with
--realtime pacing if asked); keys are handed to it between slices, each stamped with its
guest cycle in the input log, so an interactive session replays exactly
(`--input-log`, `--replay-input`).
"""
from __future__ import annotations

import collections
import sys
import time

REFRESH_HZ = 10


def progress_line(pc, start_wall, start_icount):
    """"guest 1.234 s  23.5 MIPS  POST 3Eh" for the status of a running machine."""
    m = pc.machine
    wall = max(1e-9, time.perf_counter() - start_wall)
    mips = (m.cpu.icount - start_icount) / wall / 1e6
    codes = getattr(pc.debugport, "post_codes", None)
    post = ("  POST %02Xh" % codes[-1]) if codes else ""
    return "guest %.3f s  %.1f MIPS%s" % (m.clock.now / m.clock.frequency, mips, post)


class Progress:
    """The progress of a headless `cycle86 run` on stderr, redrawn in place a few times a
    second (Rich), when stderr is a terminal; nothing otherwise."""

    def __init__(self, pc, stream=None):
        self.pc = pc
        self.stream = stream if stream is not None else sys.stderr
        self.live = None
        self.enabled = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._start = (time.perf_counter(), pc.machine.cpu.icount)
        self._last = 0.0

    def __enter__(self):
        if self.enabled:
            from rich.console import Console
            from rich.live import Live
            self.live = Live("", console=Console(file=self.stream), refresh_per_second=4,
                             transient=True)
            self.live.__enter__()
        return self

    def tick(self):
        """Called between slices: redraw at most 4 times a second."""
        if self.live is None:
            return
        now = time.perf_counter()
        if now - self._last >= 0.25:
            self._last = now
            self.live.update(progress_line(self.pc, *self._start))

    def __exit__(self, *exc):
        if self.live is not None:
            self.live.__exit__(*exc)
            self.live = None
        return False


def run_console(pc, config, after_slice=None, max_slice=None):
    """Run `pc` in the console app until the guest ends or the user quits; returns the
    RunOutcome (reason "stop" when the user ended it).  after_slice and max_slice: as
    for PC.run."""
    from rich.text import Text
    from textual import work
    from textual.app import App
    from textual.binding import Binding
    from textual.widgets import Static

    from core import keys
    from debugger.tui_widgets import ScreenPane

    calls = collections.deque()
    result = {}

    class ConsoleApp(App):
        TITLE = "cycle86"
        ENABLE_COMMAND_PALETTE = False
        CSS = """
        ScreenPane { height: 1fr; border: round $accent; }
        #status { height: 1; }
        """
        BINDINGS = [Binding("ctrl+q", "quit_run", "Quit", show=False, priority=True)]

        def compose(self):
            yield ScreenPane(id="screen")
            yield Static(id="status")

        def on_mount(self):
            self.screen_pane = self.query_one("#screen", ScreenPane)
            self.screen_pane.border_title = "%s  (Ctrl+] q quits, Ctrl+] d Ctrl+Alt+Del)" % (
                config.cpu)
            self.screen_pane.focus()
            self.started = (time.perf_counter(), pc.machine.cpu.icount)
            self.set_interval(1 / REFRESH_HZ, self.refresh_screen)
            self.run_guest()

        @work(thread=True, exclusive=True)
        def run_guest(self):
            def slice_done():
                while calls:
                    calls.popleft()()
                if after_slice is not None:
                    after_slice()
            try:
                result["outcome"] = pc.run(max_cycles=config.max_cycles,
                                           realtime=config.realtime, after_slice=slice_done,
                                           max_slice=max_slice)
            except BaseException as e:      # handed to the caller after the app closes
                result["error"] = e
            self.call_from_thread(self.guest_ended)

        def guest_ended(self):
            outcome = result.get("outcome")
            self.refresh_screen()
            if outcome is not None and outcome.reason == "stop" and result.get("quit"):
                self.exit()
                return
            text = outcome.description if outcome is not None else str(result.get("error"))
            self.query_one("#status", Static).update(
                Text("ended: %s  (Ctrl+] q closes)" % text, style="bold"))
            result["ended"] = True

        def refresh_screen(self):
            from debugger.tui_widgets import screen_cells, screen_image
            view = _ScreenSource(pc)
            cells = screen_cells(view)
            if cells is None:
                image = screen_image(view)
                if image is not None:
                    self.screen_pane.show_image(image)
            else:
                self.screen_pane.show_cells(cells)
            if not result.get("ended"):
                self.query_one("#status", Static).update(progress_line(pc, *self.started))

        def on_screen_pane_keys(self, message):
            kbc = pc.chips.get("i8042")
            if kbc is not None:
                line = message.line
                calls.append(lambda: keys.send(kbc, [line]))

        def on_screen_pane_release(self, message):
            self.action_quit_run()

        def action_quit_run(self):
            if result.get("ended"):
                self.exit()
                return
            result["quit"] = True
            pc.machine.request_stop()

    app = ConsoleApp()
    app.run()
    if "error" in result:
        raise result["error"]
    return result.get("outcome")


class _ScreenSource:
    """What screen_cells/screen_image read: the PC, and guest memory for a machine
    without a VGA."""

    def __init__(self, pc):
        self.pc = pc

    def read(self, address, length, space="phys"):
        return self.pc.machine.bus.read(address, length)
