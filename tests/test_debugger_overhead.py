"""python -m debugger.overhead, the debugger-cost benchmark: it runs each set-up on the
bundled guest or a ROM given with --bios, and names a bad ROM instead of failing inside.
(Its figures are not checked: they depend on the host.)"""
import pytest

from debugger import overhead
from tests.asm import nasm


def test_each_set_up_runs_and_reports_a_rate(capsys):
    assert overhead.main(["--cycles", "200000", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "core/guests/bench.rom" in out
    for label in ("no debugger", "debugger attached", "trace recording to a file"):
        assert label in out


def test_a_rom_given_with_bios_is_the_guest(tmp_path, capsys):
    # A 64 KiB ROM that spins at its reset vector: every set-up runs it.
    code = nasm("again: inc ax\njmp again")
    rom = bytearray(b"\xf4" * 0x10000)
    rom[0x0000:len(code)] = code
    rom[0xFFF0:0xFFF5] = b"\xea\x00\x00\x00\xf0"          # jmp f000:0000
    path = tmp_path / "spin.rom"
    path.write_bytes(bytes(rom))
    assert overhead.main(["--bios", str(path), "--cycles", "100000", "--repeat", "1",
                          "--setup", "trace"]) == 0
    out = capsys.readouterr().out
    assert str(path) in out and "bytes per instruction" in out


def test_a_missing_rom_is_named():
    with pytest.raises(SystemExit) as e:
        overhead.main(["--bios", "/no/such/bench.rom", "--setup", "plain"])
    assert "/no/such/bench.rom" in str(e.value) and "no such file" in str(e.value)


def test_a_pc_saved_in_a_snapshot_is_the_guest_from_where_it_was_saved(tmp_path, capsys):
    # The bundled guest on a PC saved after 300,000 cycles: each run starts there, and
    # the figures count only the instructions it ran (so the recording's bytes per
    # instruction are those of the recorded stretch: some 5, not a fraction of that).
    import re
    from core import cli
    from core.guests import __path__ as guests
    snap = tmp_path / "bench.snap"
    rom = "%s/bench.rom" % guests[0]
    cli.main(["run", "--bios", rom, "--max-cycles", "400000", "--e9", "none",
              "--snapshot-at", "300000", str(snap)])
    assert "saved the machine at cycle 300000" in capsys.readouterr().err
    assert overhead.main(["--snapshot", str(snap), "--cycles", "200000", "--repeat", "1",
                          "--setup", "trace"]) == 0
    out = capsys.readouterr().out
    assert str(snap) in out
    per_insn = float(re.search(r"([\d.]+) bytes per instruction", out).group(1))
    assert 3 < per_insn < 20


def test_a_snapshot_that_cannot_be_run_is_named(tmp_path):
    bad = tmp_path / "not.snap"
    bad.write_bytes(b"not a snapshot")
    for path in ("/no/such/linux.snap", str(bad)):
        with pytest.raises(SystemExit) as e:
            overhead.main(["--snapshot", path, "--setup", "plain"])
        assert path in str(e.value)
    with pytest.raises(SystemExit):
        overhead.main(["--snapshot", str(bad), "--bios", "x.rom"])
