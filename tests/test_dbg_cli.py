"""`cycle86 debug` (debugger/cli.py) as a user runs it: a subprocess on the bundled demo
guest (core/guests/demo.rom), in batch mode and at the --no-tui prompt."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO = (ROOT / "core" / "guests" / "demo.rom").read_bytes()
# The demo is a BIOS-less ROM: its last 16 bytes hold the reset vector's instruction.
RESET_BYTES = DEMO[-16:]


def cycle86(*args, stdin="", timeout=120):
    env = dict(os.environ)
    env.pop("CYCLE86_TRACEBACK", None)
    return subprocess.run([sys.executable, "-m", "core.cli", "debug"] + list(args),
                          input=stdin, capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=timeout)


def script(tmp_path, text, name="s.dbg"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def one_line_error(err, *words):
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for w in words:
        assert w in err, (w, err)


def test_batch_on_the_demo_guest_paused_at_the_reset_vector(tmp_path):
    assert RESET_BYTES[0] == 0xEA                    # jmp far: the reset instruction
    target_off = int.from_bytes(RESET_BYTES[1:3], "little")
    target_seg = int.from_bytes(RESET_BYTES[3:5], "little")
    p = cycle86("--batch", script(tmp_path, "r\nx /5bx 0xffff0\nsreg\ns\n"))
    assert p.returncode == 0, p.stderr
    out = p.stdout.splitlines()
    assert "eip: 0x0000fff0" in out
    assert "0x000ffff0:\t%s" % "\t".join("0x%02x" % b for b in RESET_BYTES[:5]) in out
    assert any(l.startswith("cs:0xf000,") for l in out)
    # after one step the far jump has gone to its target
    assert out[-1].startswith("(0) [0x%012x] %04x:%04x (unk. ctxt): "
                              % ((target_seg << 4) + target_off, target_seg, target_off))


def test_batch_stops_at_the_first_failing_command(tmp_path):
    path = script(tmp_path, "s\nfoo bar\nr\n")
    p = cycle86("--batch", path)
    assert p.returncode == 1
    assert "%s:2: error: unknown command 'foo'" % path in p.stdout
    assert "eax:" not in p.stdout                     # the line after never ran


def test_break_option_and_continue(tmp_path):
    target_off = int.from_bytes(RESET_BYTES[1:3], "little")
    target_seg = int.from_bytes(RESET_BYTES[3:5], "little")
    where = "0x%x" % ((target_seg << 4) + target_off)
    p = cycle86("--break", where, "--batch", script(tmp_path, "c\ninfo break\n"))
    assert p.returncode == 0, p.stderr
    assert "Breakpoint 1, %04x:%04x" % (target_seg, target_off) in p.stdout
    assert "hit 1 time" in p.stdout


def test_symbols_option(tmp_path):
    syms = tmp_path / "demo.sym"
    syms.write_text("fffffff0 reset_vector\n")
    p = cycle86("--symbols", str(syms), "--batch", script(tmp_path, "print reset_vector\n"))
    assert p.returncode == 0, p.stderr
    assert "0xfffffff0 4294967280" in p.stdout


def test_trace_option_records_the_steps(tmp_path):
    trace = tmp_path / "t.c86trace"
    p = cycle86("--trace", str(trace), "--batch", script(tmp_path, "s 5\n"))
    assert p.returncode == 0, p.stderr
    from debugger.trace import TraceReader
    with TraceReader(str(trace)) as r:
        insns = [rec for rec in r if rec.kind == "insn"]
    assert len(insns) == 5
    assert insns[0].bytes == RESET_BYTES[:5]


def test_no_tui_prompt_with_piped_stdin():
    p = cycle86("--no-tui", stdin="r\nbogus\nu /1\nquit\nr\n")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert out.startswith("(0) [0x0000fffffff0] f000:fff0 (unk. ctxt): ljmp")
    assert out.count("<cycle86> ") == 4                # r, bogus, u, quit; nothing after
    assert "eip: 0x0000fff0" in out
    assert "error: unknown command 'bogus'" in out
    assert "=> fffffff0: f000:fff0: ljmp" in out


def test_no_tui_ends_at_end_of_input():
    p = cycle86("--no-tui", stdin="s\n\n")            # an empty line repeats the step
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("Next at t=") == 2


@pytest.mark.parametrize("args, words", [
    (["--batch", "/no/such/script"], ["--batch", "/no/such/script"]),
    (["--symbols", "/no/such.sym", "--batch", "/dev/null"], ["--symbols", "/no/such.sym"]),
    (["--break", "nowhere", "--batch", "/dev/null"], ["--break", "nowhere"]),
    (["--gdb", "localhost"], ["--gdb", "'localhost'"]),
    (["--cpu", "z80"], ["--cpu", "z80"]),
    (["--frobnicate"], ["--frobnicate"]),
])
def test_bad_options_exit_2_with_one_line(args, words):
    p = cycle86(*args)
    assert p.returncode == 2, (p.stdout, p.stderr)
    one_line_error(p.stderr, "cycle86 debug", *words)


def test_debug_has_the_run_machine_options():
    from core import cli
    _, run_parser, _ = cli.build_parser(next(c for c in cli.COMMANDS if c.name == "run"))
    _, debug_parser, _ = cli.build_parser(next(c for c in cli.COMMANDS if c.name == "debug"))
    # --display is run's own front end (the debugger's is its TUI); --stats and --trace
    # are run's reports (the debugger has ptime and its own trace options).
    run_opts = {o for a in run_parser._actions for o in a.option_strings} - {
        "--stats", "--trace", "--display", "--snapshot-at"}
    debug_opts = {o for a in debug_parser._actions for o in a.option_strings}
    assert run_opts <= debug_opts


def test_headless_gdb_session_with_the_real_gdb_ends_when_gdb_detaches():
    """`cycle86 debug --no-tui --gdb HOST:0` with no commands on stdin serves one gdb
    client: the real gdb attaches, steps, reads a register and a monitor command's output
    (the command language), detaches, and cycle86 exits 0."""
    import re
    import shutil
    gdb = shutil.which("gdb")
    if gdb is None:
        pytest.fail("gdb is required (apt-get install gdb; .ci/run installs it)")
    proc = subprocess.Popen([sys.executable, "-m", "core.cli", "debug", "--no-tui",
                             "--gdb", "127.0.0.1:0"], cwd=ROOT, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        port = int(re.search(r"listening on 127\.0\.0\.1:(\d+)", line).group(1))
        out = subprocess.run(
            [gdb, "-nx", "-batch", "-ex", "target remote 127.0.0.1:%d" % port,
             "-ex", "stepi", "-ex", "p/x $pc", "-ex", "monitor r", "-ex", "detach"],
            capture_output=True, text=True, timeout=60)
        out = out.stdout + out.stderr
        # The demo ROM's reset vector is a far jump to F000:0000 (linear 0xF0000).
        assert "$1 = 0xf0000" in out
        assert "eip: 0x00000000" in out          # `r` through monitor: EIP is the offset
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
