"""The TUI's Screen pane as the guest's keyboard and display (Textual Pilot): keys typed
in the focused pane reach a NASM guest through the BIOS (the debugger's own keys too),
Ctrl+] d sends Ctrl+Alt+Del, Ctrl+] q gives the keyboard back; graphics modes are drawn in
half blocks."""
import asyncio
import time

from core import pc as pcmod
from debugger.controller import Debugger
from debugger.tui import DebuggerApp
from debugger.tui_widgets import ScreenPane, half_blocks
from tests.asm import nasm
from tests.boot import floppy_image
from tests.test_keys import ECHO_ASM


def echo_machine(tmp_path):
    image = tmp_path / "echo.img"
    image.write_bytes(floppy_image(nasm(ECHO_ASM)))
    p = pcmod.build_pc(pcmod.PCConfig(machine="pc", fda=str(image), e9=None))
    dbg = Debugger(p)
    dbg.until(0x7C00)                        # SeaBIOS has booted the sector
    return p, dbg


def drive(dbg, script):
    app = DebuggerApp(dbg)

    async def main():
        async with app.run_test(size=(160, 50)) as pilot:
            await pilot.pause()
            await script(app, pilot)

    asyncio.run(main())
    return app


async def wait_until(pilot, condition, timeout=30.0):
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        await pilot.pause(0.05)


def test_keys_typed_in_the_screen_pane_reach_the_guest(tmp_path):
    p, dbg = echo_machine(tmp_path)
    port = p.debugport

    async def script(app, pilot):
        app.query_one("#screen", ScreenPane).focus()
        await pilot.pause()
        app.start("continue", dbg.cont)
        # F5 is the debugger's Continue, but with the Screen focused it is the guest's F5
        # (int 16h gives AL = 0 for it).
        await pilot.press("h", "f5", "I", "enter")
        await wait_until(pilot, lambda: port.exit_status is not None)
        await wait_until(pilot, lambda: not app.running)

    try:
        drive(dbg, script)
        assert port.output == b"h\x00I\r"
        kbc = p.chips["i8042"]
        pressed = [e[1] for _, e in kbc.input_log if e[0] == "key" and e[2]]
        assert pressed == ["h", "f5", "lshift", "i", "enter"]
        # The interactive session's input log replays, headless, to the same run: the
        # guest exits at the same cycle and instruction with the same output and state.
        from core import keys
        log = tmp_path / "session.json"
        keys.save_input_log(p, str(log))
        # The guest idles in HLT between the keys, so guest time flies while a person
        # types: the keys came seconds of guest time apart.
        a_lot = p.machine.clock.now + 1_000_000_000
        again = pcmod.build_pc(pcmod.PCConfig(machine="pc", fda=p.config.fda, e9=None,
                                              replay_input=str(log)))
        try:
            again.run(max_cycles=a_lot)
            a, b = p.machine, again.machine
            assert again.debugport.output == port.output
            assert (b.clock.now, b.cpu.icount) == (a.clock.now, a.cpu.icount)
            assert b.cpu.get_state() == a.cpu.get_state()
        finally:
            again.close()
    finally:
        p.close()


def test_ctrl_bracket_d_sends_ctrl_alt_del_and_q_releases(tmp_path):
    p, dbg = echo_machine(tmp_path)
    port = p.debugport
    seen = {}

    async def script(app, pilot):
        screen = app.query_one("#screen", ScreenPane)
        screen.focus()
        await pilot.pause()
        app.start("continue", dbg.cont)
        await pilot.press("ctrl+right_square_bracket", "d")
        # The BIOS's int 9 handler reboots; the sector finds its mark and exits with 33h.
        await wait_until(pilot, lambda: port.exit_status is not None)
        await wait_until(pilot, lambda: not app.running)
        await pilot.press("ctrl+right_square_bracket", "q")
        await pilot.pause()
        seen["focused"] = app.focused.id if app.focused is not None else None
        seen["subtitle"] = screen.border_subtitle

    try:
        drive(dbg, script)
        assert port.exit_status == (0x33 << 1) | 1
        assert seen["focused"] == "command" and seen["subtitle"] == ""
    finally:
        p.close()


def test_half_blocks_put_two_pixel_rows_in_a_cell():
    red, green, blue, white = b"\xff\0\0", b"\0\xff\0", b"\0\0\xff", b"\xff\xff\xff"
    # 2x2 pixels into 2 columns, 1 row: each cell is top over bottom.
    text = half_blocks((red + green + blue + white, 2, 2), 2, 1)
    assert text.plain == "\u2580\u2580\n"
    styles = [str(span.style) for span in text.spans]
    assert styles == ["#ff0000 on #0000ff", "#00ff00 on #ffffff"]
    # A big picture is scaled down to fit, keeping its shape.
    text = half_blocks((bytes(3 * 320 * 200), 320, 200), 80, 50)
    lines = text.plain.splitlines()
    assert len(lines[0]) == 80 and len(lines) == 25
