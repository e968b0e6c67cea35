"""`cycle86 run`'s progress line (debugger/console.Progress): guest time, MIPS and the last
POST code, redrawn on a terminal, nothing when the output is not one.  The interactive
`--display terminal` console is driven in a real terminal by tests/test_tui_tmux.py."""
import io

from core import pc as pcmod
from debugger.console import Progress, progress_line
from tests.boot import boot_sector, floppy_image


class Terminal(io.StringIO):
    def isatty(self):
        return True


def machine(tmp_path):
    image = tmp_path / "boot.img"
    image.write_bytes(floppy_image(boot_sector()))
    return pcmod.build_pc(pcmod.PCConfig(machine="isapc", fda=str(image), e9=None))


def test_progress_on_a_terminal_shows_guest_time_mips_and_post(tmp_path):
    p = machine(tmp_path)
    try:
        out = Terminal()
        with Progress(p, stream=out) as progress:
            progress._last = -1.0
            p.run(max_cycles=50_000_000)
            progress.tick()
            progress.live.refresh()
        line = progress_line(p, 0.0, 0)
        assert line.startswith("guest 0.500 s ") and "MIPS" in line     # 50 M at 100 MHz
        assert "POST %02Xh" % p.debugport.post_codes[-1] in line
        assert "MIPS" in out.getvalue()
    finally:
        p.close()


def test_progress_is_quiet_when_not_a_terminal(tmp_path):
    p = machine(tmp_path)
    try:
        out = io.StringIO()
        with Progress(p, stream=out) as progress:
            p.run(max_cycles=1_000_000, after_slice=progress.tick)
        assert out.getvalue() == "" and progress.live is None
    finally:
        p.close()
