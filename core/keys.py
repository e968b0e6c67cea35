"""Scripted keyboard input in guest time: `cycle86 run --keys TEXT`, `--keys-file FILE`, the
`sendkey` command, and the input log that replays a session exactly.

A keys script is a list of lines, run in order from its start cycle; time moves only by the
script's own steps, all in guest time (the clock's cycles), so a run with a script is a
pure function of its inputs:

    # a comment (also after any command but type, whose text runs to the line's end)
    wait 1.5s              guest time: s, ms, us, or a bare number of cycles
    type dir /w\\n          US-layout text; escapes \\n (Enter), \\t, \\e (Esc), \\b, \\\\
    key ctrl-alt-delete    a chord: pressed left to right, released right to left
    key f1                 one key (names of peripherals/i8042.KEYS and their aliases)
    press lshift           hold a key down ...
    release lshift         ... and let it go

Each key of `type` and `key` is held HOLD (50 ms) and followed by GAP (50 ms) before the next,
a typist's pace that every BIOS keyboard routine keeps up with.

The input log (`--input-log FILE`, `--replay-input FILE`) is JSON: what reached the
keyboard controller and COM1 from the host, each with the guest cycle it was delivered at.
Replaying it delivers the same events at the same cycles, so the run is the same run:
{"format": "cycle86-input", "version": 1, "keyboard": [[cycle, ["key", name, pressed]] or
[cycle, ["mouse", dx, dy, buttons, wheel]], ...], "serial": null or COM1's recording
(peripherals/uart.UART.recording(): whether its host side was polled, where polling ended,
and [[cycle, "hex bytes"], ...] delivered)}.
"""
import json
import re

HOLD_US = 50_000
GAP_US = 50_000
LOG_FORMAT = "cycle86-input"
LOG_VERSION = 1

_ESCAPES = {"n": "\n", "t": "\t", "e": "\x1b", "b": "\b", "\\": "\\", "s": " "}
_TIME = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|ms|us|cycles?)?$")


class KeysError(Exception):
    """A bad line of a keys script; the message names the line and what is wrong."""


def unescape(text):
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt not in _ESCAPES:
                raise KeysError("unknown escape \\%s (known: %s)"
                                % (nxt, " ".join("\\" + k for k in _ESCAPES)))
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def guest_cycles(text, frequency):
    """Cycles of a guest-time amount: "1.5s", "200ms", "50us" or a bare cycle count."""
    m = _TIME.match(text.strip())
    if not m:
        raise KeysError("%r is not a guest time (e.g. 1.5s, 200ms, 50us, 1000000)" % text)
    value, unit = m.group(1), m.group(2)
    if unit is None or unit.startswith("cycle"):
        if "." in value:
            raise KeysError("%r: a cycle count is a whole number" % text)
        return int(value)
    scale = {"s": 1, "ms": 1_000, "us": 1_000_000}[unit]
    from fractions import Fraction
    return int(Fraction(value) * frequency / scale)


def _key(name):
    from peripherals.i8042 import key_name
    try:
        return key_name(name)
    except ValueError:
        raise KeysError("unknown key %r" % name) from None


def chord(spec):
    """The keys of a chord "ctrl-alt-delete" ("-" itself is the key "minus")."""
    if spec in ("-", "minus"):
        return ["-"]
    return [_key("-" if part == "minus" else part) for part in spec.split("-")]


def events(script, frequency, start=0):
    """(cycle, event) pairs of a keys script (a string or a list of lines) from `start`;
    KeysError names the line that is wrong."""
    from peripherals.i8042 import char_keys
    hold = guest_cycles("%dus" % HOLD_US, frequency)
    step = hold + guest_cycles("%dus" % GAP_US, frequency)
    lines = script.splitlines() if isinstance(script, str) else list(script)
    t, out = start, []
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word.lower() == "type":
            rest = raw.lstrip()[5:].rstrip("\r\n")       # spaces at its end are text
        word = word.lower()
        try:
            if word != "type" and "#" in rest:
                rest = rest.split("#", 1)[0]
            rest = rest.strip() if word != "type" else rest
            if word == "wait":
                t += guest_cycles(rest, frequency)
            elif word == "type":
                for ch in unescape(rest):
                    try:
                        key, shifted = char_keys(ch)
                    except ValueError:
                        raise KeysError("no US-layout key types %r" % ch) from None
                    if shifted:
                        out.append((t, ("key", "lshift", True)))
                    out.append((t, ("key", key, True)))
                    out.append((t + hold, ("key", key, False)))
                    if shifted:
                        out.append((t + hold, ("key", "lshift", False)))
                    t += step
            elif word == "key":
                if not rest:
                    raise KeysError("key needs a key or a chord (ctrl-alt-delete)")
                for spec in rest.split():
                    keys = chord(spec)
                    out += [(t, ("key", k, True)) for k in keys]
                    out += [(t + hold, ("key", k, False)) for k in reversed(keys)]
                    t += step
            elif word in ("press", "release"):
                for name in rest.split():
                    out.append((t, ("key", _key(name), word == "press")))
            else:
                raise KeysError("unknown command %r (wait, type, key, press, release)" % word)
            if out and out[-1][0] >= 1 << 64 or t >= 1 << 64:
                raise KeysError("the script runs past the clock's 64 bits of cycles")
        except KeysError as e:
            raise KeysError("line %d: %s" % (number, e)) from None
    return out


def send(kbc, script):
    """Keys from a person (sendkey, the TUI): from now, or after the keys sent earlier
    that are still to come, so two quick sends queue instead of mixing.  Returns the
    (cycle, event) pairs scheduled."""
    frequency = kbc.clock.frequency
    start = max(kbc.clock.now, getattr(kbc, "keys_until", 0))
    evs = events(script, frequency, start)
    schedule(kbc, evs)
    if evs:
        kbc.keys_until = max(c for c, _ in evs) + guest_cycles("%dus" % GAP_US, frequency)
    return evs


def schedule(kbc, evs):
    """Hand (cycle, event) pairs to the keyboard controller (delivered at their cycles)."""
    for when, event in evs:
        kbc.post(event, when)


# ---- the input log

def _uart(pc):
    return pc.chips.get("uart")


def input_log(pc):
    """What the host gave the guest so far: keyboard events and COM1's input, by cycle."""
    kbc, uart = pc.chips.get("i8042"), _uart(pc)
    serial = None
    if uart is not None and uart.input_log:
        rec = uart.recording()
        serial = {"polled": rec["polled"], "poll_hz": rec["poll_hz"],
                  "poll_end": rec["poll_end"],
                  "input": [[c, bytes(d).hex()] for c, d in rec["input"]]}
    return {"format": LOG_FORMAT, "version": LOG_VERSION,
            "keyboard": [[c, list(e)] for c, e in (kbc.input_log if kbc else [])],
            "serial": serial}


def save_input_log(pc, path):
    with open(path, "w") as f:
        json.dump(input_log(pc), f)
        f.write("\n")


def load_input_log(path):
    """(keyboard events, COM1 recording or None) of the log in `path`; KeysError naming
    the file and the problem."""
    try:
        with open(path) as f:
            data = json.load(f)
    except OSError as e:
        raise KeysError("%s: cannot read the input log (%s)" % (path, e.strerror or e)) from None
    except ValueError as e:
        raise KeysError("%s: not an input log (not JSON: %s)" % (path, e)) from None
    if not isinstance(data, dict) or data.get("format") != LOG_FORMAT:
        raise KeysError("%s: not a cycle86 input log" % path)
    if data.get("version") != LOG_VERSION:
        raise KeysError("%s: input log version %r; this cycle86 reads version %d"
                        % (path, data.get("version"), LOG_VERSION))
    try:
        keyboard = [(int(c), tuple(e)) for c, e in data.get("keyboard") or []]
        for c, e in keyboard:
            _check_cycle(c)
            _check_event(e)
        serial = data.get("serial")
        if serial is not None:
            serial = {"polled": bool(serial["polled"]), "poll_hz": serial.get("poll_hz"),
                      "poll_end": serial.get("poll_end"),
                      "input": [(int(c), bytes.fromhex(d)) for c, d in serial["input"]]}
            # The recording's numbers are compared with guest cycles during the run:
            # anything but a count (or null) would fail there, not here.
            for key in ("poll_hz", "poll_end"):
                v = serial[key]
                if v is not None and (not isinstance(v, int) or isinstance(v, bool)
                                      or not 0 <= v < 1 << 64):
                    raise ValueError("serial %s %r is not a number of cycles or Hz"
                                     % (key, v))
            for c, _ in serial["input"]:
                _check_cycle(c)
    except (TypeError, ValueError, KeyError) as e:
        raise KeysError("%s: a malformed entry (%s)" % (path, e)) from None
    return keyboard, serial


def _check_cycle(c):
    """ValueError unless guest cycle `c` is one the clock can reach (0 .. 2**64-1)."""
    if c < 0:
        raise ValueError("cycle %d is before power-on" % c)
    if c >= 1 << 64:
        raise ValueError("cycle %d is past the clock's 64 bits" % c)


def _check_event(e):
    """ValueError unless `e` is an event the i8042 model takes: ("key", a key name as the
    log writes it, pressed) or ("mouse", dx, dy, buttons or None, wheel).  Checked when
    the log is read, so that a bad entry is refused with the file's name instead of
    failing in the middle of the run when its cycle comes."""
    from peripherals.i8042 import KEYS

    def integer(v):
        return isinstance(v, int) and not isinstance(v, bool)
    if e and e[0] == "key":
        if len(e) == 3 and isinstance(e[1], str) and e[1] in KEYS and isinstance(e[2], bool):
            return
    elif e and e[0] == "mouse":
        if (len(e) == 5 and integer(e[1]) and integer(e[2]) and integer(e[4])
                and (e[3] is None or integer(e[3]))):
            return
    raise ValueError("unknown event %r" % (list(e),))


def replay(pc, path):
    """Deliver a saved input log's events again at their cycles."""
    keyboard, serial = load_input_log(path)
    if keyboard:
        kbc = pc.chips.get("i8042")
        if kbc is None:
            raise KeysError("%s: the log has keyboard input, this machine no i8042" % path)
        kbc.replay(keyboard)
    if serial is not None:
        uart = _uart(pc)
        if uart is None:
            raise KeysError("%s: the log has serial input, this machine no COM1" % path)
        from peripherals.uart import ReplayBackend
        uart.attach(ReplayBackend(serial))


# ---- keys from a terminal (the TUI's Screen pane, `cycle86 run --display`)
# A terminal reports a key press as a whole (no release, no lone modifier), by Textual's
# names: "a", "A", "ctrl+c", "shift+tab", "f5", "pageup", "right_square_bracket" ...

_TERMINAL_NAMES = {
    "escape": "esc", "enter": "enter", "tab": "tab", "backspace": "backspace",
    "delete": "delete", "insert": "insert", "home": "home", "end": "end",
    "pageup": "pageup", "pagedown": "pagedown", "up": "up", "down": "down", "left": "left",
    "right": "right", "space": "space", "minus": "-", "plus": "=", "equals_sign": "=",
    "left_square_bracket": "[", "right_square_bracket": "]", "backslash": "\\",
    "semicolon": ";", "apostrophe": "'", "comma": ",", "full_stop": ".", "slash": "/",
    "grave_accent": "`", "ctrl+i": "tab", "ctrl+m": "enter", "ctrl+h": "backspace",
}
_MODIFIERS = {"ctrl": "lctrl", "shift": "lshift", "alt": "lalt", "meta": "lalt"}


def terminal_key(key, character=None):
    """A keys-script line for one key press a terminal reported ("type A", "key ctrl-c",
    "key f5"), or None for a key this keyboard has no way to make."""
    from peripherals.i8042 import KEYS
    if character and len(character) == 1 and " " <= character < "\x7f" and "+" not in key:
        return "type " + ("\\\\" if character == "\\" else character)
    if key in _TERMINAL_NAMES:
        return "key " + _TERMINAL_NAMES[key]
    *mods, base = key.split("+")
    if not all(m in _MODIFIERS for m in mods):
        return None
    base = _TERMINAL_NAMES.get(base, base)
    if len(base) == 1 and base.isupper():
        mods, base = mods + ["shift"], base.lower()
    if base not in KEYS:
        return None
    names = [_MODIFIERS[m] for m in dict.fromkeys(mods)] + ["minus" if base == "-" else base]
    return "key " + "-".join(names)
