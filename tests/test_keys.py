"""Keyboard input from the host (core/keys.py): `--keys`, keys scripts, `sendkey`, Ctrl+Alt+Del,
and the input log that replays a run with input to the identical trace."""
import json

import pytest

from core import cli, keys
from tests.asm import nasm
from tests.boot import floppy_image

# A boot sector that echoes what int 16h returns to port 0xE9 until Enter, then exits
# (isa-debug-exit 21h).  It leaves a mark in RAM at 0:0600, so after a warm reboot
# (Ctrl+Alt+Del through the BIOS's int 9 handler) it exits with 33h instead.
ECHO_ASM = r"""
start:  cli
        xor ax, ax
        mov ds, ax
        mov ss, ax
        mov sp, 0x7C00
        sti
        cmp word [0x600], 0xC86C
        je again
        mov word [0x600], 0xC86C
echo:   xor ah, ah
        int 0x16
        out 0xE9, al
        cmp al, 13
        jne echo
        mov al, 0x21
        out 0xF4, al
again:  mov al, 0x33
        out 0xF4, al
hang:   hlt
        jmp hang
        times 510 - ($ - start) db 0
        dw 0xAA55
"""
ENTER_STATUS = (0x21 << 1) | 1
REBOOT_STATUS = (0x33 << 1) | 1


@pytest.fixture
def floppy(tmp_path):
    image = tmp_path / "echo.img"
    image.write_bytes(floppy_image(nasm(ECHO_ASM)))
    return str(image)


def run(capsys, *argv):
    status = cli.main(["run", "--max-cycles", "3G"] + list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("machine", ["isapc", "pc"])
def test_keys_reach_the_guest_through_the_bios(floppy, capsys, machine):
    # The Bochs BIOS of isapc resets the keyboard late in its POST (keys typed before are
    # lost, as on a PC), and boots the floppy at 3.0 s of guest time; SeaBIOS at 0.34 s.
    status, out, err = run(capsys, "--machine", machine, "--fda", floppy,
                           "--keys", "Hi, there! 42\\n", "--keys-at", "3500ms")
    assert status == ENTER_STATUS, err
    assert out == "Hi, there! 42\r"


def test_keys_file_with_waits_and_a_ctrl_alt_delete(floppy, tmp_path, capsys):
    script = tmp_path / "keys.txt"
    script.write_text("# the Bochs BIOS boots the floppy at 3.0 s of guest time\n"
                      "wait 3.5s\n"
                      "type ab\n"
                      "wait 200ms   # then the three-finger salute\n"
                      "key ctrl-alt-delete\n")
    status, out, err = run(capsys, "--machine", "isapc", "--fda", floppy,
                           "--keys-file", str(script))
    assert status == REBOOT_STATUS, err
    assert out == "ab"                      # echoed, then the warm reboot


def test_replaying_the_input_log_gives_the_identical_trace(floppy, tmp_path, capsys):
    log = tmp_path / "input.json"
    first, second = tmp_path / "first.c86t", tmp_path / "second.c86t"
    # SeaBIOS boots in 0.34 s of guest time: a short trace (13 M entries).
    status, out1, _ = run(capsys, "--machine", "pc", "--fda", floppy, "--keys", "xyz\\n",
                          "--keys-at", "400ms",
                          "--input-log", str(log), "--trace", str(first))
    assert status == ENTER_STATUS and out1 == "xyz\r"
    data = json.loads(log.read_text())
    assert data["format"] == "cycle86-input" and data["version"] == 1
    presses = [e for _, e in data["keyboard"] if e[0] == "key" and e[2]]
    assert [e[1] for e in presses] == ["x", "y", "z", "enter"]
    status, out2, _ = run(capsys, "--machine", "pc", "--fda", floppy,
                          "--replay-input", str(log), "--trace", str(second))
    assert status == ENTER_STATUS and out2 == out1
    # The entry streams are byte for byte the same (the headers differ only in the
    # command line they record).  `cycle86 trace diff` would say so too, slowly.
    assert entry_stream_digest(first) == entry_stream_digest(second)


def entry_stream_digest(path):
    """SHA-256 of a trace's entry stream: the bytes after the JSON header
    (docs/trace-format.md)."""
    import hashlib
    import struct
    h = hashlib.sha256()
    with open(path, "rb") as f:
        head = f.read(16)
        assert head[:8] == b"C86TRACE"
        f.seek(16 + struct.unpack_from("<I", head, 12)[0])
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def test_sendkey_command(floppy, capsys):
    from core import pc as pcmod
    from debugger.commands import CommandInterpreter
    from debugger.controller import Debugger
    p = pcmod.build_pc(pcmod.PCConfig(machine="isapc", fda=floppy, e9=None))
    try:
        dbg = Debugger(p)
        out = []
        interp = CommandInterpreter(dbg, write=out.append)
        p.run(max_cycles=350_000_000)                     # the boot sector waits for keys
        interp.execute('sendkey "ok"')
        interp.execute("sendkey shift-1 enter")
        assert any("sent" in line for line in out)
        p.run(max_cycles=400_000_000)
        assert p.debugport.output == b"ok!\r"
        out.clear()
        interp.execute("sendkey ctrl-alt-nosuchkey")
        assert out and "unknown key 'nosuchkey'" in out[-1]
    finally:
        p.close()


@pytest.mark.parametrize("line,words", [
    ("wait soon", "not a guest time"), ("wait 1.5", "whole number"),
    ("key", "needs a key"), ("key ctrl-foo", "unknown key 'foo'"),
    ("type caf\u00e9", "no US-layout key"), ("type a\\q", "unknown escape"),
    ("jump 3", "unknown command 'jump'"),
    # Found by the fuzz harness (issue 15): a time past 2**64 cycles raised
    # OverflowError from the clock when the keys were scheduled.
    ("wait 99999999999999999999s", "past the clock")])
def test_bad_script_lines_are_named(line, words):
    with pytest.raises(keys.KeysError, match="line 2: .*" + words.replace("(", r"\(")):
        keys.events(["wait 1ms", line], 1_000_000)


def test_script_timing_is_guest_time():
    # 1 MHz clock: a microsecond is a cycle.  Each key is held 50 ms, then 50 ms apart.
    evs = keys.events("wait 2ms\ntype A\nkey ctrl-c\npress lalt\nrelease lalt", 1_000_000, 10)
    assert evs == [
        (2010, ("key", "lshift", True)), (2010, ("key", "a", True)),
        (52010, ("key", "a", False)), (52010, ("key", "lshift", False)),
        (102010, ("key", "lctrl", True)), (102010, ("key", "c", True)),
        (152010, ("key", "c", False)), (152010, ("key", "lctrl", False)),
        (202010, ("key", "lalt", True)), (202010, ("key", "lalt", False))]


def test_bad_input_log_is_refused_by_name(tmp_path, floppy, capsys):
    bad = tmp_path / "bad.json"
    for text, words in (("not json", "not JSON"), ('{"format": "x"}', "not a cycle86 input log"),
                        ('{"format": "cycle86-input", "version": 9}', "version 9"),
                        ('{"format": "cycle86-input", "version": 1, "keyboard": [[1, ["zap"]]]}',
                         "malformed"),
                        # Found by the fuzz harness (tests/fuzz, files target): entries
                        # the i8042 cannot take were accepted, and failed with a KeyError
                        # or TypeError in the middle of the run when their cycle came.
                        ('{"format": "cycle86-input", "version": 1, '
                         '"keyboard": [[1000, ["key", "zz", true]]]}', "unknown event"),
                        ('{"format": "cycle86-input", "version": 1, '
                         '"keyboard": [[1000, ["key", "a"]]]}', "unknown event"),
                        ('{"format": "cycle86-input", "version": 1, '
                         '"keyboard": [[1000, {"key": 1}]]}', "unknown event"),
                        ('{"format": "cycle86-input", "version": 1, '
                         '"keyboard": [[1000, ["mouse", "x", 0, null, 0]]]}', "unknown event"),
                        ('{"format": "cycle86-input", "version": 1, '
                         '"keyboard": [[-5, ["key", "a", true]]]}', "before power-on"),
                        ('{"format": "cycle86-input", "version": 1, "keyboard": [], '
                         '"serial": {"polled": true, "poll_end": [], "input": []}}',
                         "poll_end"),
                        ('{"format": "cycle86-input", "version": 1, "keyboard": [], '
                         '"serial": {"polled": true, "poll_hz": "x", "input": []}}',
                         "poll_hz"),
                        ('{"format": "cycle86-input", "version": 1, '
                         '"keyboard": [[1180591620717411303424, ["key", "a", true]]]}',
                         "past the clock"),
                        ('{"format": "cycle86-input", "version": 1, "keyboard": [], '
                         '"serial": {"polled": true, "input": [[1e30, "41"]]}}',
                         "past the clock")):
        bad.write_text(text)
        status, _, err = run(capsys, "--machine", "isapc", "--fda", floppy,
                             "--replay-input", str(bad))
        assert status == 2 and str(bad) in err and words in err
