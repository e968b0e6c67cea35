"""A smoke test of the real terminal UI: `cycle86 debug` in a tmux session, driven by keys.

This is the only test that goes through a real terminal (escape sequences for F-keys,
Ctrl+C as a byte, the alternate screen), which App.run_test does not exercise.
"""
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WIDTH, HEIGHT = 200, 60


# `cycle86 debug` with no arguments: the demo guest in the TUI.
DEBUG_COMMAND = [sys.executable, "-m", "core.cli", "debug"]


class Tmux:
    def __init__(self, command):
        self.name = "cycle86-tui-%d-%d" % (os.getpid(), time.monotonic_ns())
        self.status_file = Path("/tmp/%s.status" % self.name)
        self.status_file.unlink(missing_ok=True)
        shell = "cd %s && %s; echo $? > %s; sleep 60" % (
            ROOT, " ".join(command), self.status_file)
        env = dict(os.environ, TERM="xterm-256color")
        # A server of our own (-L), so no other tmux user can get in the way.
        self.tmux = ["tmux", "-L", self.name]
        subprocess.run(self.tmux + ["new-session", "-d", "-s", self.name, "-x", str(WIDTH),
                        "-y", str(HEIGHT), shell], check=True, env=env)

    def keys(self, *keys):
        subprocess.run(self.tmux + ["send-keys", "-t", self.name, *keys], check=True)

    def screen(self):
        return subprocess.run(self.tmux + ["capture-pane", "-p", "-t", self.name],
                              check=True, capture_output=True, text=True).stdout

    def wait_for(self, pattern, timeout=30.0):
        end = time.monotonic() + timeout
        while True:
            text = self.screen()
            if re.search(pattern, text):
                return text
            if time.monotonic() > end:
                raise AssertionError("%r not on screen after %ss:\n%s" % (pattern, timeout, text))
            time.sleep(0.2)

    def wait_gone(self, pattern, timeout=10.0):
        end = time.monotonic() + timeout
        while re.search(pattern, self.screen()):
            if time.monotonic() > end:
                raise AssertionError("%r still on screen after %ss" % (pattern, timeout))
            time.sleep(0.2)

    def exit_status(self, timeout=15.0):
        end = time.monotonic() + timeout
        while not self.status_file.exists() or not self.status_file.read_text().strip():
            if time.monotonic() > end:
                raise AssertionError("the TUI did not exit:\n%s" % self.screen())
            time.sleep(0.2)
        return int(self.status_file.read_text())

    def close(self):
        socket = subprocess.run(self.tmux + ["display-message", "-p", "#{socket_path}"],
                                capture_output=True, text=True).stdout.strip()
        subprocess.run(self.tmux + ["kill-server"], capture_output=True)
        if socket.endswith(self.name):   # the server leaves its socket file behind
            Path(socket).unlink(missing_ok=True)
        self.status_file.unlink(missing_ok=True)


def test_debug_in_a_real_terminal():
    t = Tmux(DEBUG_COMMAND)
    try:
        t.wait_for(r"EIP 0000FFF0")
        time.sleep(0.5)                  # the terminal's start-up replies are read first
        # The status line can come a frame after the panels (seen on a loaded machine):
        # the screen is taken once it has both words.
        first = t.wait_for(r"(?s)(?=.*stopped)(?=.*mode real)")
        for title in ("Registers", "Disassembly", "Stack", "Console", "Command output"):
            assert title in first, title
        assert re.search(r">\s+F000:FFF0\s+FFFFFFF0\s+ea 00 00 00 f0\s+l?jmp 0xf000:0", first), first
        assert "stopped" in first and "mode real" in first

        for _ in range(3):               # the far jump, cli, cld
            t.keys("F11")
            time.sleep(0.3)
        screen = t.wait_for(r"EIP 00000002")
        assert re.search(r">\s+F000:0002\s+000F0002\s+31 c0\s+xor ax, ax", screen), screen
        assert "stopped (step)" in screen

        t.keys("F5")                     # the demo runs to its end
        screen = t.wait_for(r"stopped \(exit\)")
        assert "cycle86 demo guest" in screen and "done" in screen   # the console pane

        t.keys("C-c")                    # nothing running: a notice, not a quit
        t.wait_for(r"not running")
        assert "Registers" in t.screen()

        t.keys("F1")
        t.wait_for(r"cycle86 debugger: keys")
        t.keys("Escape")
        t.wait_gone(r"cycle86 debugger: keys")

        t.keys(":")                      # the command line
        t.wait_gone(r"q Quit")           # focused: the key bar no longer offers q
        t.keys("-l", "r")
        t.wait_for(r"▊  r ")             # typed into the command line
        t.keys("Enter")
        t.wait_for(r"> r")

        t.keys("Escape")
        time.sleep(0.3)
        t.keys("q")
        assert t.exit_status() == 0
    finally:
        t.close()


def test_run_display_terminal_is_a_console(tmp_path):
    """`cycle86 run --display terminal`: the guest's screen in the terminal, keys passed
    through to a NASM guest that echoes them on its screen and exits at Enter."""
    from tests.asm import nasm
    from tests.boot import floppy_image
    image = tmp_path / "echo.img"
    image.write_bytes(floppy_image(nasm(TELETYPE_ECHO_ASM)))
    t = Tmux([sys.executable, "-m", "core.cli", "run", "--display", "terminal",
              "--fda", str(image)])
    try:
        t.wait_for(r"type here>")
        t.wait_for(r"guest \d+\.\d+ s .* MIPS")
        time.sleep(0.5)
        t.keys("c", "y", "c", "l", "e", "8", "6")
        screen = t.wait_for(r"type here>cycle86")
        t.keys("Enter")
        t.wait_for(r"ended: the guest stopped")
        t.keys("C-]", "q")
        assert t.exit_status() == (0x21 << 1) | 1
        assert "Ctrl+] q quits" in screen
    finally:
        t.close()


# Prints a prompt with int 10h, echoes each key on the screen until Enter, then exits.
TELETYPE_ECHO_ASM = r"""
start:  xor ax, ax
        mov ds, ax
        mov si, 0x7C00 + prompt - start
.p:     lodsb
        test al, al
        jz .key
        mov ah, 0x0E
        mov bx, 7
        int 0x10
        jmp .p
.key:   xor ah, ah
        int 0x16
        cmp al, 13
        je .done
        mov ah, 0x0E
        mov bx, 7
        int 0x10
        jmp .key
.done:  mov al, 0x21
        out 0xF4, al
.hang:  hlt
        jmp .hang
prompt: db "type here>", 0
        times 510 - ($ - start) db 0
        dw 0xAA55
"""
