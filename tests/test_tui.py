"""The debugger TUI (debugger/tui.py) driven through Textual's Pilot on the bundled demo guest.

Each test runs the app headless (App.run_test) with asyncio.run, so no pytest plugin is
needed.  The assertions read the panes' rendered content and the controller's state: the
keys must move the real guest and the panes must show what the CPU holds.
"""
import asyncio
import html
import re
import threading
import time
from collections import defaultdict

from rich.style import Style

from core.bench import BENCH_ROM, make_machine
from debugger.controller import Breakpoint, Debugger
from debugger.tui import DebuggerApp, demo_debugger, describe_descriptor
from debugger.tui_widgets import HelpScreen, MemoryPane

SIZE = (200, 60)


def drive(script, dbg=None, size=SIZE):
    """Run `script(app, pilot)` inside a headless app over `dbg` (the demo by default)."""
    dbg = dbg or demo_debugger()
    app = DebuggerApp(dbg)

    async def main():
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await script(app, pilot)

    asyncio.run(main())
    return app, dbg


async def settle(app, pilot, timeout=10.0):
    """Wait until the run worker is done and its GuestDone message has been handled."""
    end = time.monotonic() + timeout
    await pilot.pause()
    while app.running:
        assert time.monotonic() < end, "the guest worker did not finish"
        await app.workers.wait_for_complete()
        await pilot.pause()
    await pilot.pause()


async def run_key(app, pilot, *keys, timeout=10.0):
    """Press keys that start a run of the guest and wait until that run has been shown."""
    before = app.runs_done
    await pilot.press(*keys)
    end = time.monotonic() + timeout
    while app.runs_done == before or app.running:
        assert time.monotonic() < end, "the guest worker did not finish"
        await app.workers.wait_for_complete()
        await pilot.pause()
    await pilot.pause()


def registers_text(app):
    return str(app.query_one("#registers").render())


def status_text(app):
    return str(app.query_one("#status").render())


def log_text(app):
    return "\n".join(strip.text for strip in app.query_one("#log").lines)


def disassembly_rows(app):
    """The disassembly table as lists of cell texts."""
    table = app.query_one("#disassembly")
    return [[str(c) for c in table.get_row_at(r)] for r in range(table.row_count)]


def svg_lines(svg):
    """The screen lines of an exported SVG screenshot: the <text> runs of each row, in
    x order (Rich writes every styled run as one <text> element)."""
    rows = defaultdict(list)
    for m in re.finditer(r'<text[^>]*?x="([\d.]+)" y="([\d.]+)"[^>]*>([^<]*)</text>', svg):
        rows[float(m.group(2))].append((float(m.group(1)), html.unescape(m.group(3)).replace("\xa0", " ")))
    return ["".join(t for _, t in sorted(r)) for _, r in sorted(rows.items())]


# ---------------------------------------------------------------- stepping

def test_opens_at_the_reset_vector():
    async def script(app, pilot):
        regs = registers_text(app)
        assert "EIP 0000FFF0" in regs and "CS F000" in regs
        rows = disassembly_rows(app)
        current = [r for r in rows if ">" in r[0]]
        assert len(current) == 1 and current[0][1] == "F000:FFF0"
        assert "jmp" in current[0][4]        # the far jump to `start`
        assert "stopped" in status_text(app) and "mode real" in status_text(app)

    drive(script)


def test_f11_steps_and_registers_follow_the_guest():
    async def script(app, pilot):
        await run_key(app, pilot, "f11")                 # the far jump to F000:0000
        assert "EIP 00000000" in registers_text(app)
        for _ in range(5):                               # cli, cld, xor, mov ss, mov sp
            await run_key(app, pilot, "f11")
        regs = registers_text(app)
        assert "EIP 00000009" in regs
        # `mov sp, 0x7c00` ran last: ESP shows the value and is highlighted as changed.
        assert "ESP 00007C00" in regs
        rendered = app.query_one("#registers").render()
        changed = {rendered.plain[s.start:s.end] for s in rendered.spans if "yellow" in str(s.style)}
        assert "00007C00" in changed and "00000009" in changed
        assert "EAX" in regs and "00000000" not in changed   # EAX did not change this step
        current = [r for r in disassembly_rows(app) if ">" in r[0]]
        assert current[0][1] == "F000:0009"
        trace = str(app.query_one("#trace").render())
        assert "mov sp, 0x7c00" in trace and "cli" in trace

    app, dbg = drive(script)
    assert dbg.cpu.eip == 9 and dbg.cpu.get("esp") == 0x7C00


def test_f10_steps_over_a_call():
    async def script(app, pilot):
        for _ in range(8):                               # to `call install_vectors`
            await run_key(app, pilot, "f11")
        assert app.debugger.cpu.eip == 0x0D
        assert app.query_one("#disassembly").selected().is_call
        await run_key(app, pilot, "f10")
        assert "EIP 00000010" in registers_text(app)     # the instruction after the call
        assert app.debugger.cpu.get("esp") == 0x7C00     # and the call has returned

    drive(script)


# ---------------------------------------------------------------- breakpoints

def row_of(app, linear):
    table = app.query_one("#disassembly")
    return [i.linear for i in table.insns].index(linear)


def test_f9_toggles_a_linear_breakpoint_from_the_disassembly():
    async def script(app, pilot):
        await run_key(app, pilot, "f11")                 # into F000:0000
        table = app.query_one("#disassembly")
        target = row_of(app, 0xF0006)                    # mov sp, 0x7c00
        start = table.cursor_row
        for _ in range(target - start):
            await pilot.press("down")
        assert table.selected().linear == 0xF0006
        await pilot.press("f9")
        await pilot.pause()
        points = app.debugger.list_points()
        assert len(points) == 1
        bp = points[0]
        assert isinstance(bp, Breakpoint) and bp.kind == "lin" and bp.address == 0xF0006
        gutter = disassembly_rows(app)[row_of(app, 0xF0006)][0]
        assert "*" in gutter
        bps = app.query_one("#breakpoints")
        assert bps.row_count == 1
        assert "0x000f0006" in str(bps.get_row_at(0)[4])
        await pilot.press("f9")                          # again: removed
        await pilot.pause()
        assert app.debugger.list_points() == []
        assert "*" not in disassembly_rows(app)[row_of(app, 0xF0006)][0]
        assert app.query_one("#breakpoints").row_count == 0

    drive(script)


def test_clicking_the_gutter_toggles_a_breakpoint():
    async def script(app, pilot):
        await run_key(app, pilot, "f11")
        row = row_of(app, 0xF0009)
        # Border (1 line) and header (1 line) above the first row; the gutter is column 0.
        await pilot.click("#disassembly", offset=(2, 2 + row))
        await pilot.pause()
        assert [p.address for p in app.debugger.list_points()] == [0xF0009]
        assert "*" in disassembly_rows(app)[row][0]

    drive(script)


def test_f5_runs_to_the_breakpoint_in_a_worker():
    async def script(app, pilot):
        await run_key(app, pilot, "f11")
        table = app.query_one("#disassembly")
        # `round: call detect_cpu`: after the banner has been printed.
        calls = [i for i in table.insns if i.is_call]
        target = calls[2]
        table.move_cursor(row=row_of(app, target.linear))
        await pilot.press("f9")
        await pilot.pause()
        await run_key(app, pilot, "f5")
        assert app.debugger.current_linear() == target.linear
        status = status_text(app)
        assert "stopped (breakpoint)" in status
        assert "F000:%04X" % target.address in status
        current = [r for r in disassembly_rows(app) if ">" in r[0]]
        assert current[0][0].startswith("*") and current[0][1] == "F000:%04X" % target.address
        assert app.debugger.list_points()[0].hits == 1
        assert "breakpoint" in str(app.query_one("#trace").render())
        console = "\n".join(app.query_one("#console").lines)
        assert "cycle86 demo guest" in console

    drive(script)


def test_f5_runs_the_demo_to_its_end_and_the_console_shows_its_output():
    async def script(app, pilot):
        await run_key(app, pilot, "f5", timeout=60)
        console = "\n".join(app.query_one("#console").lines)
        assert "cycle86 demo guest" in console and "done" in console
        assert "stopped (exit)" in status_text(app)
        # The guest installed its interrupt vectors: the table pane shows the IVT.
        tables = str(app.query_one("#tables").render())
        assert "interrupt vector table" in tables
        assert re.search(r"\n  00  F000:[0-9A-F]{4}", tables)
        devices = str(app.query_one("#devices").render())
        assert "debug ports" in devices and "exit status 1" in devices

    drive(script)


def test_ctrl_c_breaks_a_running_guest_and_does_not_quit():
    machine, _port = make_machine(BENCH_ROM.read_bytes())   # rounds forever
    dbg = Debugger(machine)

    async def script(app, pilot):
        await pilot.press("f5")
        deadline = time.monotonic() + 5
        while dbg.cpu.icount < 2_000_000:                # wait until it is well under way
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.6)                         # a few status ticks
        assert app.running
        status = status_text(app)
        assert "running continue" in status
        mips = float(re.search(r"([\d.]+) MIPS", status).group(1))
        assert mips > 0
        await pilot.press("f11")                         # refused while running
        await run_key(app, pilot, "ctrl+c")
        assert "stopped (break)" in status_text(app)
        assert app.is_running                            # Ctrl+C did not quit
        await pilot.press("ctrl+c")                      # nothing to break: still there
        await pilot.pause()
        assert app.is_running

    drive(script, dbg)


def test_the_break_button_breaks_too():
    machine, _port = make_machine(BENCH_ROM.read_bytes())
    dbg = Debugger(machine)

    async def script(app, pilot):
        await pilot.press("f5")
        while dbg.cpu.icount < 500_000:
            await asyncio.sleep(0.02)
        await pilot.click("#break-button")
        await settle(app, pilot)
        assert "stopped (break)" in status_text(app)

    drive(script, dbg)


def test_a_stop_made_by_another_thread_updates_the_panes():
    """What the gdb stub does: run the controller from its own thread."""
    async def script(app, pilot):
        t = threading.Thread(target=lambda: app.debugger.step(1))
        t.start()
        t.join()
        await pilot.pause()
        await pilot.pause()
        assert "EIP 00000000" in registers_text(app)

    drive(script)


# ---------------------------------------------------------------- the command line

def test_command_line_runs_r_and_shows_the_output():
    async def script(app, pilot):
        await run_key(app, pilot, "f11", "f11")
        await pilot.press("colon")
        assert app.focused.id == "command"
        await run_key(app, pilot, "r", "enter")
        out = log_text(app).lower()
        assert "> r" in out
        assert re.search(r"eip\W+(0x)?0*1\b", out), out
        assert app.query_one("#command").value == ""

    drive(script)


def test_command_line_steps_the_guest_and_the_panes_follow():
    async def script(app, pilot):
        await run_key(app, pilot, "colon", "s", "space", "3", "enter")
        assert app.debugger.cpu.eip == 2
        assert "EIP 00000002" in registers_text(app)

    drive(script)


def test_command_history_and_completion():
    async def script(app, pilot):
        box = app.query_one("#command")
        await run_key(app, pilot, "colon", "r", "enter")
        await pilot.press("up")
        assert box.value == "r"
        await pilot.press("down")
        assert box.value == ""
        await pilot.press("f", "i", "n", "tab")
        assert box.value.startswith("finish")

    drive(script)


def test_typing_q_in_the_command_line_does_not_quit():
    async def script(app, pilot):
        await pilot.press("colon", "q")
        await pilot.pause()
        assert app.is_running and app.query_one("#command").value == "q"
        await pilot.press("escape")
        assert app.focused.id == "disassembly"

    drive(script)


def test_quit_command_and_key():
    async def script(app, pilot):
        await pilot.press("colon", "q", "u", "i", "t", "enter")
        await pilot.pause()

    app, _ = drive(script)
    assert app.return_code == 0 and not app.is_running

    async def script2(app, pilot):
        await pilot.press("q")
        await pilot.pause()

    app, _ = drive(script2)
    assert not app.is_running


# ---------------------------------------------------------------- other panes

def test_help_screen_lists_the_keys():
    async def script(app, pilot):
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-text").render())
        for key in ("F5", "F9", "F10", "F11", "Shift+F11", "Ctrl+C"):
            assert key in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)

    drive(script)


def test_memory_pane_goes_to_an_address_and_edits_a_byte():
    async def script(app, pilot):
        app.query_one("#tabs").active = "tab-memory"
        await pilot.pause()
        pane = app.query_one("#memory", MemoryPane)
        pane.focus()
        await pilot.press("g")
        assert app.focused.id == "memory-goto"
        for ch in "p:600":
            await pilot.press(ch)
        await pilot.press("enter")
        await pilot.pause()
        assert app.focused is pane and pane.space == "phys" and pane.cursor == 0x600
        await pilot.press("4", "1", "4", "2")
        await pilot.pause()
        assert app.debugger.read(0x600, 2, space="phys") == b"AB"
        text = str(pane.render())
        assert "p:00000600  41 42" in text and "AB" in text
        await pilot.press("down", "p")                   # a line on, linear addresses
        assert pane.cursor == 0x612 and pane.space == "lin"
        # A segmented address: DS:SI with the registers the guest has.
        app.query_one("#memory-goto").value = "f000:fff0"
        await pilot.press("g", "enter")
        await pilot.pause()
        assert pane.cursor == 0xFFFF0
        assert "000FFFF0  EA" in str(pane.render())      # the reset vector's far jump

    drive(script)


def test_stack_pane_shows_the_return_address_of_a_call():
    async def script(app, pilot):
        for _ in range(9):                               # into install_vectors
            await run_key(app, pilot, "f11")
        stack = str(app.query_one("#stack").render())
        assert stack.splitlines()[0] == "0000:7BFE 0010"    # return to F000:0010

    drive(script)


def test_screen_pane_shows_the_text_buffer_with_colours():
    dbg = demo_debugger()
    # No VGA model on the demo machine: the pane reads the colour text buffer itself.
    dbg.write(0xB8000, b"H\x1fi\x4e", space="phys")

    async def script(app, pilot):
        screen = app.query_one("#screen").render()
        assert screen.plain.startswith("Hi")
        def rgb(span):
            style = Style.parse(str(span.style))
            return tuple(style.color.triplet), tuple(style.bgcolor.triplet)

        assert rgb(screen.spans[0]) == ((255, 255, 255), (0, 0, 170))   # white on blue
        assert rgb(screen.spans[1]) == ((255, 255, 85), (170, 0, 0))    # yellow on red

    drive(script, dbg)


def test_descriptor_decoding():
    # A flat 4 GiB 32-bit ring-0 code segment, and a 386 interrupt gate.
    assert describe_descriptor(0x00CF9A000000FFFF) == \
        "code r- base 00000000 limit FFFFFFFF 32-bit dpl 0"
    assert describe_descriptor(0x00CF92000000FFFF) == \
        "data w- base 00000000 limit FFFFFFFF 32-bit dpl 0"
    gate = (0x1234 << 48) | (0x8E << 40) | (0x0008 << 16) | 0x5678
    assert describe_descriptor(gate) == "int gate32 0008:12345678 dpl 0"
    assert describe_descriptor(0) == "null"


# ---------------------------------------------------------------- a screenshot

def test_screenshot_shows_every_pane_and_the_current_instruction():
    async def script(app, pilot):
        await run_key(app, pilot, "f11")
        lines = svg_lines(app.export_screenshot())
        text = "\n".join(lines)
        for title in ("Registers", "Disassembly", "Stack", "Screen", "Console", "Memory",
                      "Breakpoints", "Trace", "Devices", "Tables", "Command output"):
            assert title in text, title
        current = [line for line in lines if "F000:0000" in line and "cli" in line]
        assert len(current) == 1 and ">" in current[0]
        assert any("EIP 00000000" in line for line in lines)
        assert any("stopped (step)" in line and "F000:0000" in line for line in lines)
        assert any("f5 Continue" in line for line in lines)

    drive(script)


def test_disassembly_shows_symbols():
    dbg = demo_debugger()
    dbg.symbols.add("start", 0xF0000)

    async def script(app, pilot):
        await run_key(app, pilot, "f11")
        current = [r for r in disassembly_rows(app) if ">" in r[0]]
        assert current[0][4] == "start: cli"

    drive(script, dbg)


# ---------------------------------------------------------------- protected mode

def protected_mode_debugger():
    """The demo machine put straight into 32-bit protected mode with paging: a flat GDT,
    an identity-mapped first 4 MiB, and `mov eax, 0x12345678; nop` at 0x2000."""
    dbg = demo_debugger()
    gdt = (0).to_bytes(8, "little") + (0x00CF9A000000FFFF).to_bytes(8, "little") \
        + (0x00CF92000000FFFF).to_bytes(8, "little")
    dbg.write(0x1000, gdt, space="phys")
    dbg.write(0x10000, (0x11000 | 3).to_bytes(4, "little"), space="phys")
    dbg.write(0x11000, b"".join((k << 12 | 3).to_bytes(4, "little") for k in range(1024)),
              space="phys")
    dbg.write(0x2000, bytes.fromhex("b878563412 90"), space="phys")
    cpu = dbg.cpu
    cpu.gdtr = (0x1000, 23)
    cpu.set("cr3", 0x10000)
    cpu.set("cr0", 0x80000001)
    cpu.set_segment("cs", 0x08, base=0, limit=0xFFFFFFFF, access=0x00CF9B00)
    for seg in ("ds", "es", "ss", "fs", "gs"):
        cpu.set_segment(seg, 0x10, base=0, limit=0xFFFFFFFF, access=0x00CF9300)
    cpu.set("esp", 0x8000)
    cpu.set("eip", 0x2000)
    return dbg


def test_protected_mode_registers_disassembly_and_tables():
    dbg = protected_mode_debugger()
    assert dbg.mode() == "protected" and dbg.paging() and dbg.code_bits() == 32

    async def script(app, pilot):
        regs = registers_text(app)
        assert "protected + paging, 32-bit code" in regs
        assert "CR0 80000001" in regs and "CR3 00010000" in regs
        assert "GDTR 00001000:0017" in regs
        current = [r for r in disassembly_rows(app) if ">" in r[0]]
        assert current[0][1] == "0008:00002000"
        assert current[0][4] == "mov eax, 0x12345678"
        await run_key(app, pilot, "f11")
        assert "EAX 12345678" in registers_text(app)
        assert "mode protected, paging" in status_text(app)
        tables = str(app.query_one("#tables").render())
        assert "0008  code r- base 00000000 limit FFFFFFFF 32-bit dpl 0" in tables
        assert "0010  data w- base 00000000 limit FFFFFFFF 32-bit dpl 0" in tables
        assert "00000000-003FFFFF  table at 00011000 ws, 1024 of 1024 pages present" in tables
        stack = str(app.query_one("#stack").render())
        assert stack.splitlines()[0].startswith("0010:00008000 ")   # dwords on a 32-bit stack

    drive(script, dbg)


def test_another_front_end_running_the_guest_shows_and_breaks():
    """The gdb stub runs the guest from its own thread: the status says so, the screen
    panes keep updating, Ctrl+C breaks it and the panes show where it stopped."""
    machine, _port = make_machine(BENCH_ROM.read_bytes())
    dbg = Debugger(machine)

    async def script(app, pilot):
        result = []
        t = threading.Thread(target=lambda: result.append(dbg.cont()))
        t.start()
        while dbg.cpu.icount < 500_000:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.5)
        assert "running (gdb)" in status_text(app)
        await pilot.press("f11")                         # refused: the controller is busy
        await settle(app, pilot)
        assert "the guest is running: Ctrl+C breaks it" in log_text(app)
        await pilot.press("ctrl+c")
        t.join(5)
        assert result and result[0].reason == "break"
        await pilot.pause()
        await pilot.pause()
        assert "stopped (break)" in status_text(app)
        assert "EIP %08X" % dbg.cpu.eip in registers_text(app)

    drive(script, dbg)


def test_console_pane_shows_serial_output_with_its_port():
    from peripherals.uart import UART
    dbg = demo_debugger()
    UART(dbg.machine, com=1)                             # nothing attached on the host side

    async def script(app, pilot):
        bus = dbg.bus
        for offset, value in ((3, 0x80), (0, 1), (1, 0), (3, 0x03), (2, 0x07)):  # 8N1, FIFO
            bus.port_write(0x3F8 + offset, 1, value)
        for ch in b"Hi\n":
            bus.port_write(0x3F8, 1, ch)                 # THR, into the 16-byte FIFO
        dbg.run_to_cycle(dbg.clock.now + 2_000_000)      # time for the bits to go out
        await pilot.pause()
        await pilot.pause()
        console = "\n".join(app.query_one("#console").lines)
        assert "[com1] Hi" in console
        assert "cycle86 demo guest" in console           # port 0xE9, on its own lines

    drive(script, dbg)


def test_enter_on_a_disassembly_line_toggles_a_breakpoint():
    async def script(app, pilot):
        await pilot.press("down", "enter")
        await pilot.pause()
        table = app.query_one("#disassembly")
        assert [p.address for p in app.debugger.list_points()] == [table.selected().linear]

    drive(script)


def test_shift_f7_steps_back_and_shift_f5_continues_back():
    """The reverse keys, shown in the footer: two F11 steps, Shift+F7 goes back to where
    the first one ended; with a breakpoint passed, Shift+F5 goes back to its hit."""
    dbg = demo_debugger()
    dbg.record()
    seen = {}

    async def script(app, pilot):
        footer = app.screen.query_one("Footer")
        text = " ".join(str(getattr(k, "description", "")) for k in footer.query("FooterKey"))
        seen["footer"] = text
        await run_key(app, pilot, "f11")
        seen["one"] = (dbg.clock.now, dbg.cpu.icount, dbg.cpu.eip)
        await run_key(app, pilot, "f11")
        await run_key(app, pilot, "shift+f7")
        seen["back"] = (dbg.clock.now, dbg.cpu.icount, dbg.cpu.eip)
        bp = dbg.break_at("lin", dbg.current_linear() + 0)
        seen["bp"] = (dbg.clock.now, dbg.cpu.icount)
        dbg.step(5)
        await run_key(app, pilot, "shift+f5")
        seen["rc"] = (dbg.clock.now, dbg.cpu.icount, dbg.last_stop.reason)
        dbg.delete(bp.id)

    drive(script, dbg)
    assert "Back step" in seen["footer"] and "Back cont" in seen["footer"]
    assert seen["back"] == seen["one"]
    assert seen["rc"] == seen["bp"] + ("breakpoint",)
