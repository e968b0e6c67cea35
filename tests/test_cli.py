"""The `cycle86` command line: the subcommand table, one-line errors, demo and bench."""
import pytest

from core import cli


def run(capsys, *argv):
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(err, *words):
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in err, (word, err)


# ---------------------------------------------------------------- parsing and errors

def test_help_lists_every_command(capsys):
    status, out, _ = run(capsys, "-h")
    assert status == 0
    for command in cli.COMMANDS:
        assert command.name in out and command.help in out


def test_no_command_is_a_usage_error(capsys):
    status, out, err = run(capsys)
    assert status == 2 and out == ""
    assert_one_line_error(err, "no command given", "demo", "bench")


def test_unknown_command(capsys):
    status, _, err = run(capsys, "frobnicate")
    assert status == 2
    assert_one_line_error(err, "frobnicate")


@pytest.mark.parametrize("argv, words", [
    (["bench", "--seconds", "soon"], ["--seconds", "'soon'"]),
    (["bench", "--seconds", "-1"], ["--seconds", "'-1'"]),
    (["bench", "--seconds", "nan"], ["--seconds", "'nan'"]),
    (["bench", "--memory", "12X"], ["--memory", "'12X'"]),
    (["bench", "--cpu", "z80"], ["--cpu", "z80"]),
    (["demo", "--cpu", "68000"], ["--cpu", "68000"]),
    (["demo", "--colour"], ["--colour"]),
    (["bench", "--seconds"], ["--seconds"]),
])
def test_bad_options_are_one_line_errors(capsys, argv, words):
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == ""
    assert_one_line_error(err, "cycle86 %s" % argv[0], *words)


@pytest.mark.parametrize("text, size", [("640K", 640 << 10), ("16M", 16 << 20),
                                        ("16MiB", 16 << 20), ("1g", 1 << 30),
                                        ("65536", 65536)])
def test_memory_sizes(text, size):
    assert cli.memory_size(text) == size


def test_cpu_aliases_resolve_to_model_names():
    assert cli.cpu_model("386") == "80386"
    assert cli.cpu_model("8088") == "8088"


def test_missing_command_module_is_reported_not_raised(capsys, monkeypatch):
    ghost = cli.Command("ghost", "a command whose module is not there",
                        cli._from_module("core.no_such_module"))
    monkeypatch.setattr(cli, "COMMANDS", cli.COMMANDS + (ghost,))
    status, _, err = run(capsys, "ghost")
    assert status == 2
    assert_one_line_error(err, "cycle86 ghost", "core.no_such_module")
    # and the other commands still parse
    status, _, _ = run(capsys, "bench", "-h")
    assert status == 0


def test_internal_errors_are_one_line(capsys, monkeypatch):
    def add(subparsers):
        subparsers.add_parser("boom")

    def boom(args):
        raise RuntimeError("the frobnicator jammed")

    monkeypatch.setattr(cli, "COMMANDS", cli.COMMANDS + (cli.Command("boom", "", lambda:
                                                                    (add, boom)),))
    monkeypatch.delenv("CYCLE86_TRACEBACK", raising=False)
    status, _, err = run(capsys, "boom")
    assert status == 2
    assert_one_line_error(err, "internal error", "RuntimeError", "the frobnicator jammed")


def test_missing_compiled_core_is_a_setup_message(capsys, monkeypatch):
    def add(subparsers):
        subparsers.add_parser("needscore")

    def needs_core(args):
        raise ModuleNotFoundError("No module named 'core.cpu'", name="core.cpu")

    monkeypatch.setattr(cli, "COMMANDS", cli.COMMANDS + (
        cli.Command("needscore", "", lambda: (add, needs_core)),))
    status, _, err = run(capsys, "needscore")
    assert status == 2
    assert_one_line_error(err, "core.cpu", "build_ext")


# ---------------------------------------------------------------- --bios files

def test_bios_file_that_does_not_exist(capsys, tmp_path):
    missing = tmp_path / "nope.rom"
    status, _, err = run(capsys, "bench", "--bios", str(missing))
    assert status == 2
    assert_one_line_error(err, "cycle86 bench", str(missing), "no such file")


def test_bios_that_is_a_directory(capsys, tmp_path):
    status, _, err = run(capsys, "bench", "--bios", str(tmp_path))
    assert status == 2
    assert_one_line_error(err, str(tmp_path), "directory")


@pytest.mark.parametrize("size, words", [(0, ["empty"]), (1000, ["1000 bytes", "4 KiB"])])
def test_bios_of_a_bad_size(capsys, tmp_path, size, words):
    pytest.importorskip("core.machine", reason="the compiled core is not built")
    rom = tmp_path / "bad.rom"
    rom.write_bytes(b"\x90" * size)
    status, _, err = run(capsys, "bench", "--bios", str(rom))
    assert status == 2
    assert_one_line_error(err, "cycle86 bench", *words)


# ---------------------------------------------------------------- running guests

def tiny_rom():
    """A 4 KiB BIOS whose reset vector prints 'hi' and exits through isa-debug-exit with 5."""
    code = bytes([0xB0, ord("h"), 0xE6, 0xE9,      # mov al,'h' ; out 0xE9,al
                  0xB0, ord("i"), 0xE6, 0xE9,      # mov al,'i' ; out 0xE9,al
                  0xB0, 0x0A, 0xE6, 0xE9,          # mov al,10  ; out 0xE9,al
                  0xB0, 0x05, 0xE6, 0xF4])         # mov al,5   ; out 0xF4,al
    return b"\xF4" * (4096 - 16) + code            # F000:FFF0 is the last 16 bytes


@pytest.mark.parametrize("model", ["8086", "80286", "80386"])
def test_bench_runs_a_bios_file(capsys, tmp_path, model):
    pytest.importorskip("core.machine", reason="the compiled core is not built")
    rom = tmp_path / "tiny.rom"
    rom.write_bytes(tiny_rom())
    status, out, err = run(capsys, "bench", "--bios", str(rom), "--cpu", model)
    assert status == 0, err
    assert "\nhi\n" in out
    assert "isa-debug-exit 0x05 (exit status 11)" in out
    assert "MIPS" in out and "cycles/s" in out


def test_demo_command(capsys):
    pytest.importorskip("core.machine", reason="the compiled core is not built")
    status, out, err = run(capsys, "demo")
    assert status == 0, err
    assert out.startswith("cycle86 demo guest\ncpu: 80386 or later\n")
    assert "\ndone\n---\n" in out
    assert "isa-debug-exit 0x00 (exit status 1)" in out
    assert "instructions" in out and "MIPS" in out


def test_bench_command(capsys):
    pytest.importorskip("core.machine", reason="the compiled core is not built")
    status, out, err = run(capsys, "bench", "--seconds", "0.2", "--cpu", "286")
    assert status == 0, err
    assert "cpu 80286" in out and "MIPS" in out and "cycles/s" in out


def test_memory_beyond_the_bus_is_one_line_before_anything_runs(capsys):
    pytest.importorskip("core.machine", reason="the compiled core is not built")
    status, out, err = run(capsys, "bench", "--memory", "5G")
    assert status == 2 and out == ""
    assert_one_line_error(err, "cycle86 bench", "memory")
