"""The Intel 8042 keyboard controller of the PC/AT and PS/2, with a PS/2 keyboard and mouse
behind it, and the PS/2 system control port A (0x92).

Sources: the IBM PC/AT Technical Reference (keyboard controller, the keyboard's command
set and serial interface), the IBM PS/2 references for the auxiliary (mouse) port, and the
scan code tables of the MF2 keyboard.  Names follow them: the *status register* (port 0x64
read), the *controller command byte* (RAM byte 0), the *input port* (P1), the *output port*
(P2: bit 0 system reset, bit 1 A20 gate, bits 4/5 the IRQ1/IRQ12 outputs).

Timing, all on the global clock in exact conversions (`ClockDomain`):

* Every byte the CPU writes to 0x60/0x64 sets IBF; the controller's firmware takes it
  `CONTROLLER_US` later (IBF clears then) and acts on it; a result byte goes to the
  output buffer at that moment.
* The keyboard and mouse talk over 11-bit serial frames (start, 8 data, odd parity, stop)
  clocked by the device: a byte takes 11 bit times (`PS2_BIT_US` each, a 12.5 kHz clock,
  inside the 10-16.7 kHz the PS/2 interface allows).  A byte to a device takes the
  request-to-send (`RTS_US`, the controller holding the clock low) plus 11 bits and the
  device's acknowledge bit.  The device answers `RESPONSE_US` after a byte has arrived;
  a Reset (0xFF) answers ACK and then, after the Basic Assurance Test (`BAT_US`), 0xAA.
* The controller inhibits a device (clock line low) while its output buffer is full, while
  it talks to a device, and while the command byte disables the port; a device byte cut off
  before its 10th bit is sent again later, as the IBM reference describes.  So scan codes
  arrive at most one per frame time, and only after the CPU has read the previous one.
* With the command byte's XLATE bit the controller turns set-2 codes into set-1 codes with
  the 8042's translation table: 0xF0 (break prefix) is absorbed and ORs 0x80 into the byte
  after it.  Mouse bytes are never translated.

The host side (a person, a script, the debugger) presses and releases keys by name and moves
the mouse; each input is delivered at a guest cycle (now, or one given) and is recorded in
`input_log` as (cycle, event).  `replay(log)` delivers the same events at the same cycles
again, so a run with input is still a pure function of its inputs.
"""
import heapq
from collections import deque

from core.clock import ClockDomain
from peripherals.device import Device

PORT_DATA = 0x60
PORT_STATUS = 0x64          # read: status register; write: controller command
PORT_SYSCTRL_A = 0x92       # PS/2 system control port A

# Status register (port 0x64).
ST_OBF = 0x01               # output buffer full
ST_IBF = 0x02               # input buffer full
ST_SYS = 0x04               # system flag (command byte bit 2)
ST_A2 = 0x08                # last write was a command (0x64)
ST_INH = 0x10               # 1 = keyboard not inhibited by the keylock switch
ST_AUXB = 0x20              # the output buffer holds a mouse byte
ST_TIMEOUT = 0x40
ST_PARITY = 0x80

# Controller command byte (RAM byte 0).
CB_KBD_INT = 0x01           # IRQ1 when the output buffer holds a keyboard byte
CB_AUX_INT = 0x02           # IRQ12 when it holds a mouse byte
CB_SYS = 0x04
CB_KBD_DISABLE = 0x10       # keyboard clock held low
CB_AUX_DISABLE = 0x20       # mouse clock held low
CB_XLATE = 0x40             # translate set 2 to set 1

# Output port P2.
OP_RESET = 0x01             # 0 = reset the CPU
OP_A20 = 0x02
OP_IRQ1 = 0x10
OP_IRQ12 = 0x20
OUTPUT_PORT_POWER_ON = 0xCF  # reset inactive, A20 on, clock/data lines released, no IRQs

# Input port P1 (AT): bit 7 keylock off, bit 6 colour display, bit 5 no manufacturing
# jumper, bit 4 256K on the system board; bits 1-0 the mouse and keyboard data lines (PS/2),
# idle high.
INPUT_PORT = 0xB3

# The command byte before a BIOS writes it: translation on, keyboard interface enabled,
# mouse interface disabled, no interrupts, system flag clear (power on, not a warm boot).
COMMAND_BYTE_POWER_ON = CB_XLATE | CB_AUX_DISABLE

# Port 0x92.
P92_RESET = 0x01            # a 0 -> 1 transition resets the CPU
P92_A20 = 0x02

# Device responses.
ACK = 0xFA
RESEND = 0xFE
BAT_OK = 0xAA
ECHO = 0xEE
KEYBOARD_ID = (0xAB, 0x83)  # MF2 keyboard
MOUSE_ID = 0x00
INTELLIMOUSE_ID = 0x03

# Timing (microseconds).  PS2_BIT_US and RTS_US are from the PS/2 interface (10-16.7 kHz
# clock; the host holds the clock low at least 100 us to request to send); the others are
# this model's choices within what the references require (a device answers within 20 ms).
CONTROLLER_US = 20
PS2_BIT_US = 80
RTS_US = 100
RESPONSE_US = 200
BAT_US = 300_000
RX_BITS = 11                # start, 8 data, parity, stop
TX_BITS = 12                # the same plus the device's acknowledge bit
ABORT_BITS = 10             # a frame inhibited before its 10th clock is sent again

KEY_BUFFER = 16             # the keyboard's FIFO (IBM: 16 bytes, then an overrun code)

# The 8042's set-2 to set-1 translation table for 0x00-0x7F; 0x80-0xFF pass unchanged
# except 0x83 (F7) and 0x84 (Alt-SysRq).  A hardware fact, listed here in rows of 16.
_XLATE_LOW = bytes.fromhex(
    "ff 43 41 3f 3d 3b 3c 58 64 44 42 40 3e 0f 29 59"  # 00
    "65 38 2a 70 1d 10 02 5a 66 71 2c 1f 1e 11 03 5b"  # 10
    "67 2e 2d 20 12 05 04 5c 68 39 2f 21 14 13 06 5d"  # 20
    "69 31 30 23 22 15 07 5e 6a 72 32 24 16 08 09 5f"  # 30
    "6b 33 25 17 18 0b 0a 60 6c 34 35 26 27 19 0c 61"  # 40
    "6d 73 28 74 1a 0d 62 6e 3a 36 1c 1b 75 2b 63 76"  # 50
    "55 56 77 78 79 7a 0e 7b 7c 4f 7d 4b 47 7e 7f 6f"  # 60
    "52 53 50 4c 4d 48 01 45 57 4e 51 4a 37 49 46 54")  # 70
XLATE_TABLE = bytes(_XLATE_LOW) + bytes(
    0x41 if b == 0x83 else 0x54 if b == 0x84 else b for b in range(0x80, 0x100))


def translate(codes):
    """Set-1 bytes for a stream of set-2 bytes, as the 8042 translates them."""
    out = []
    prefix = 0
    for b in codes:
        if b == 0xF0:
            prefix = 0x80
            continue
        out.append(XLATE_TABLE[b] | prefix)
        prefix = 0
    return bytes(out)


# ---------------------------------------------------------------- the keys
# name: (set-2 make code, E0-prefixed?, set-3 code).  The 101/102-key MF2 layout.
KEYS = {
    "`": (0x0E, False, 0x0E), "1": (0x16, False, 0x16), "2": (0x1E, False, 0x1E),
    "3": (0x26, False, 0x26), "4": (0x25, False, 0x25), "5": (0x2E, False, 0x2E),
    "6": (0x36, False, 0x36), "7": (0x3D, False, 0x3D), "8": (0x3E, False, 0x3E),
    "9": (0x46, False, 0x46), "0": (0x45, False, 0x45), "-": (0x4E, False, 0x4E),
    "=": (0x55, False, 0x55), "backspace": (0x66, False, 0x66), "tab": (0x0D, False, 0x0D),
    "q": (0x15, False, 0x15), "w": (0x1D, False, 0x1D), "e": (0x24, False, 0x24),
    "r": (0x2D, False, 0x2D), "t": (0x2C, False, 0x2C), "y": (0x35, False, 0x35),
    "u": (0x3C, False, 0x3C), "i": (0x43, False, 0x43), "o": (0x44, False, 0x44),
    "p": (0x4D, False, 0x4D), "[": (0x54, False, 0x54), "]": (0x5B, False, 0x5B),
    "\\": (0x5D, False, 0x5C), "capslock": (0x58, False, 0x14),
    "a": (0x1C, False, 0x1C), "s": (0x1B, False, 0x1B), "d": (0x23, False, 0x23),
    "f": (0x2B, False, 0x2B), "g": (0x34, False, 0x34), "h": (0x33, False, 0x33),
    "j": (0x3B, False, 0x3B), "k": (0x42, False, 0x42), "l": (0x4B, False, 0x4B),
    ";": (0x4C, False, 0x4C), "'": (0x52, False, 0x52), "enter": (0x5A, False, 0x5A),
    "lshift": (0x12, False, 0x12), "z": (0x1A, False, 0x1A), "x": (0x22, False, 0x22),
    "c": (0x21, False, 0x21), "v": (0x2A, False, 0x2A), "b": (0x32, False, 0x32),
    "n": (0x31, False, 0x31), "m": (0x3A, False, 0x3A), ",": (0x41, False, 0x41),
    ".": (0x49, False, 0x49), "/": (0x4A, False, 0x4A), "rshift": (0x59, False, 0x59),
    "lctrl": (0x14, False, 0x11), "lalt": (0x11, False, 0x19), "space": (0x29, False, 0x29),
    "ralt": (0x11, True, 0x39), "rctrl": (0x14, True, 0x58),
    "insert": (0x70, True, 0x67), "delete": (0x71, True, 0x64), "home": (0x6C, True, 0x6E),
    "end": (0x69, True, 0x65), "pageup": (0x7D, True, 0x6F), "pagedown": (0x7A, True, 0x6D),
    "left": (0x6B, True, 0x61), "up": (0x75, True, 0x63), "down": (0x72, True, 0x60),
    "right": (0x74, True, 0x6A), "numlock": (0x77, False, 0x76),
    "kp7": (0x6C, False, 0x6C), "kp8": (0x75, False, 0x75), "kp9": (0x7D, False, 0x7D),
    "kp4": (0x6B, False, 0x6B), "kp5": (0x73, False, 0x73), "kp6": (0x74, False, 0x74),
    "kp1": (0x69, False, 0x69), "kp2": (0x72, False, 0x72), "kp3": (0x7A, False, 0x7A),
    "kp0": (0x70, False, 0x70), "kp.": (0x71, False, 0x71), "kp/": (0x4A, True, 0x77),
    "kp*": (0x7C, False, 0x7E), "kp-": (0x7B, False, 0x84), "kp+": (0x79, False, 0x7C),
    "kpenter": (0x5A, True, 0x79), "esc": (0x76, False, 0x08),
    "f1": (0x05, False, 0x07), "f2": (0x06, False, 0x0F), "f3": (0x04, False, 0x17),
    "f4": (0x0C, False, 0x1F), "f5": (0x03, False, 0x27), "f6": (0x0B, False, 0x2F),
    "f7": (0x83, False, 0x37), "f8": (0x0A, False, 0x3F), "f9": (0x01, False, 0x47),
    "f10": (0x09, False, 0x4F), "f11": (0x78, False, 0x56), "f12": (0x07, False, 0x5E),
    "printscreen": (0x7C, True, 0x57), "scrolllock": (0x7E, False, 0x5F),
    "pause": (0x77, False, 0x62),
    "lwin": (0x1F, True, 0x8B), "rwin": (0x27, True, 0x8C), "menu": (0x2F, True, 0x8D),
    "iso\\": (0x61, False, 0x13),        # the 102nd key, left of Z on ISO keyboards
}
KEY_ALIASES = {
    "escape": "esc", "return": "enter", "shift": "lshift", "ctrl": "lctrl",
    "control": "lctrl", "alt": "lalt", "altgr": "ralt", "ins": "insert", "del": "delete",
    "pgup": "pageup", "pgdn": "pagedown", "bksp": "backspace", "prtsc": "printscreen",
    "sysrq": "printscreen", "break": "pause", " ": "space", "\n": "enter", "\t": "tab",
}
# The ten grey navigation keys get fake shifts (Brouwer, "Keyboard scancodes" 1.6).
_NAV_KEYS = frozenset(("insert", "delete", "home", "end", "pageup", "pagedown",
                       "left", "up", "down", "right"))
# Scan code set 3 defaults: these keys send break codes, all others make codes only and
# repeat (observed on IBM-compatible keyboards; the PS/2 references leave it to the keyboard).
_SET3_MAKE_BREAK = frozenset(("capslock", "lshift", "rshift", "lctrl", "lalt",
                              "lwin", "rwin", "menu"))

# US layout for type_text: character -> (key, shifted).
_US_SHIFTED = dict(zip('~!@#$%^&*()_+{}|:"<>?', "`1234567890-=[]\\;',./"))
_US_PLAIN = set("`1234567890-=[]\\;',./")


def key_name(name):
    """The canonical name of a key ("A" -> "a", "Escape" -> "esc"); ValueError if unknown."""
    if name in KEY_ALIASES:
        return KEY_ALIASES[name]
    low = name.lower()
    low = KEY_ALIASES.get(low, low)
    if low not in KEYS:
        raise ValueError("unknown key %r" % (name,))
    return low


def char_keys(ch):
    """The key and shift state that type character `ch` on a US keyboard."""
    if ch in KEY_ALIASES:
        return KEY_ALIASES[ch], False
    if ch.isalpha() and ch.isascii():
        return ch.lower(), ch.isupper()
    if ch.isdigit() or ch in _US_PLAIN:
        return ch, False
    if ch in _US_SHIFTED:
        return _US_SHIFTED[ch], True
    raise ValueError("no US-layout key types %r" % (ch,))


class _Queue:
    """Bytes a PS/2 device waits to send: (earliest cycle, byte) pairs, responses to the
    host's commands ahead of input data (responses do not occupy the key buffer)."""

    def __init__(self):
        self.responses = deque()
        self.data = deque()

    def head(self):
        if self.responses:
            return self.responses, self.responses[0][0]
        if self.data:
            return self.data, self.data[0][0]
        return None, None

    def clear_data(self):
        self.data.clear()

    def clear(self):
        self.responses.clear()
        self.data.clear()

    def state(self, now):
        return {"responses": [[t - now, b] for t, b in self.responses],
                "data": [[t - now, b] for t, b in self.data]}

    def load(self, state, now):
        self.responses = deque((now + t, b) for t, b in state["responses"])
        self.data = deque((now + t, b) for t, b in state["data"])


class PS2Keyboard:
    """An MF2 keyboard: scan code sets 1, 2 (default) and 3, the PS/2 command set,
    typematic repeat, a 16-byte buffer with overrun code, and fake shifts."""

    def __init__(self, kbc):
        self.kbc = kbc
        self.out = _Queue()
        self.power_on()

    def power_on(self):
        self.out.clear()
        self.down = []                 # keys held, in the order they were pressed
        self.leds = 0
        self.numlock = False           # the keyboard's private NumLock mode
        self.last_sent = RESEND
        self.busy_until = 0
        self._expect = None            # the command whose parameter byte comes next
        self._defaults()

    def _defaults(self):
        self.scan_set = 2
        self.scanning = True
        self.typematic = 0x2B          # 10.9 characters/s after 500 ms
        self.set3_all = None           # F7-FA: one key type for every key, or None
        self.set3_types = {}           # FB-FD: key -> (repeats, breaks)
        self.repeat_key = None
        self.overrun = False

    # -------------------------------------------------- timing

    def typematic_delay_us(self):
        """(1 + bits 6-5) * 250 ms."""
        return (((self.typematic >> 5) & 3) + 1) * 250_000

    def typematic_period_us(self):
        """(8 + A) * 2^B * 4.17 ms (IBM PC/AT Technical Reference, Set Typematic Rate)."""
        a = self.typematic & 7
        b = (self.typematic >> 3) & 3
        return (8 + a) * (1 << b) * 4170

    # -------------------------------------------------- codes

    def _set3_type(self, name):
        if name in self.set3_types:
            return self.set3_types[name]
        if self.set3_all is not None:
            return self.set3_all
        if name in _SET3_MAKE_BREAK:
            return (False, True)
        return (True, False)

    def repeats(self, name):
        if self.scan_set == 3:
            return self._set3_type(name)[0]
        return name != "pause"

    def _set2(self, name, make):
        """Set-2 bytes for a make or break of `name`, with the MF2 fake shifts."""
        code, e0, _ = KEYS[name]
        held = set(self.down)
        lshift, rshift = "lshift" in held, "rshift" in held
        ctrl = "lctrl" in held or "rctrl" in held
        alt = "lalt" in held or "ralt" in held
        if name == "pause":
            if not make:
                return b""
            if ctrl:
                return bytes((0xE0, 0x7E, 0xE0, 0xF0, 0x7E))
            return bytes((0xE1, 0x14, 0x77, 0xE1, 0xF0, 0x14, 0xF0, 0x77))
        if name == "printscreen":
            if alt:
                return bytes((0x84,)) if make else bytes((0xF0, 0x84))
            if lshift or rshift or ctrl:
                return bytes((0xE0, 0x7C)) if make else bytes((0xE0, 0xF0, 0x7C))
            return (bytes((0xE0, 0x12, 0xE0, 0x7C)) if make
                    else bytes((0xE0, 0xF0, 0x7C, 0xE0, 0xF0, 0x12)))
        key = bytes((0xE0, code)) if e0 else bytes((code,))
        brk = bytes((0xE0, 0xF0, code)) if e0 else bytes((0xF0, code))
        if name in _NAV_KEYS or name == "kp/":
            if lshift or rshift:
                # Fake shift releases around the key, then the shifts pressed again.
                up = (b"\xE0\xF0\x12" if lshift else b"") + (b"\xE0\xF0\x59" if rshift else b"")
                dn = (b"\xE0\x12" if lshift else b"") + (b"\xE0\x59" if rshift else b"")
                return up + key if make else brk + dn
            if name != "kp/" and self.numlock:
                return b"\xE0\x12" + key if make else brk + b"\xE0\xF0\x12"
        return key if make else brk

    def codes(self, name, make):
        """The bytes the keyboard sends for a make or break of key `name` in its set."""
        if self.scan_set == 3:
            code = KEYS[name][2]
            if make:
                return bytes((code,))
            return bytes((0xF0, code)) if self._set3_type(name)[1] else b""
        seq = self._set2(name, make)
        return translate(seq) if self.scan_set == 1 else seq

    def repeat_codes(self, name):
        """A typematic repeat sends the key's own make code, without fake shifts."""
        if self.scan_set == 3:
            return bytes((KEYS[name][2],))
        code, e0, _ = KEYS[name]
        seq = bytes((0xE0, code)) if e0 else bytes((code,))
        return translate(seq) if self.scan_set == 1 else seq

    def _queue_keys(self, seq, t):
        data = self.out.data
        if not seq:
            return
        if not data:
            self.overrun = False
        if len(data) + len(seq) <= KEY_BUFFER:
            data.extend((t, b) for b in seq)
        elif not self.overrun:
            # The 17th position holds the overrun code; the keystroke is lost.
            data.append((t, 0xFF if self.scan_set == 1 else 0x00))
            self.overrun = True

    # -------------------------------------------------- host side

    def key(self, name, pressed, t):
        """Key `name` goes down (pressed) or up at cycle t.  The keyboard tracks the keys
        held even while it does not scan (for its fake shifts), but reports nothing then."""
        if pressed == (name in self.down):
            return
        if pressed:
            self.down.append(name)
            if name == "numlock":
                self.numlock = not self.numlock
        if t >= self.busy_until and self.scanning:
            self._queue_keys(self.codes(name, pressed), t)
            if pressed and self.repeats(name):
                # Only the last key pressed repeats (IBM: typematic operation).
                self.repeat_key = name
                self.kbc._set_timer("kbd_repeat",
                                    t + self.kbc._us(self.typematic_delay_us()))
            elif pressed or name == self.repeat_key:
                self._stop_repeat()
        if not pressed:
            self.down.remove(name)

    def _stop_repeat(self):
        self.repeat_key = None
        self.kbc._cancel_timer("kbd_repeat")

    def repeat(self, t):
        name = self.repeat_key
        if name is None or name not in self.down or not self.scanning:
            self.repeat_key = None
            return
        # While the interface is inhibited only the first make code is kept (IBM).
        if not self.out.data:
            self._queue_keys(self.repeat_codes(name), t)
        self.kbc._set_timer("kbd_repeat", t + self.kbc._us(self.typematic_period_us()))

    # -------------------------------------------------- the command set

    def _respond(self, t, *data, delay_us=RESPONSE_US):
        when = t + self.kbc._us(delay_us)
        self.out.responses.extend((when, b) for b in data)

    def receive(self, byte, t):
        """A byte from the controller has arrived at cycle t."""
        expect = self._expect
        # A parameter byte; a command byte (0xED and up) instead starts a new command.
        if expect is not None and byte < 0xED:
            self._expect = None
            if expect == "ED":
                self.leds = byte & 0x07
                self.numlock = bool(byte & 0x02)
                self._respond(t, ACK)
            elif expect == "F3":
                self.typematic = byte & 0x7F
                self._respond(t, ACK)
            elif expect == "F0":
                if byte == 0:
                    self._respond(t, ACK, self.scan_set)
                elif byte in (1, 2, 3):
                    self.scan_set = byte
                    self._respond(t, ACK)
                else:
                    self._expect = "F0"
                    self._respond(t, RESEND)
            else:                            # FB/FC/FD: a list of set-3 key codes
                for name, (_, _, s3) in KEYS.items():
                    if s3 == byte:
                        self.set3_types[name] = {"FB": (True, False), "FC": (False, True),
                                                 "FD": (False, False)}[expect]
                self._expect = expect
                self._respond(t, ACK)
            return
        self._expect = None
        if byte == 0xFF:                     # Reset: ACK, then the BAT and its result
            self.out.clear()
            self._defaults()
            self.leds = 0
            self.numlock = False
            self._stop_repeat()
            self._respond(t, ACK)
            self.busy_until = t + self.kbc._us(RESPONSE_US + self.kbc.bat_us)
            self._respond(t, BAT_OK, delay_us=RESPONSE_US + self.kbc.bat_us)
        elif byte == 0xFE:                   # Resend
            self._respond(t, self.last_sent)
        elif byte in (0xFB, 0xFC, 0xFD):     # set-3 key types, key list follows
            self._expect = "%02X" % byte
            self._respond(t, ACK)
        elif byte in (0xF7, 0xF8, 0xF9, 0xFA):
            self.set3_all = {0xF7: (True, False), 0xF8: (False, True),
                             0xF9: (False, False), 0xFA: (True, True)}[byte]
            self.set3_types = {}
            self._respond(t, ACK)
        elif byte == 0xF6:                   # Set Default (scanning state kept)
            scanning = self.scanning
            self.out.clear_data()
            self._defaults()
            self.scanning = scanning
            self._respond(t, ACK)
        elif byte == 0xF5:                   # Default Disable
            self.out.clear_data()
            self._defaults()
            self.scanning = False
            self._respond(t, ACK)
        elif byte == 0xF4:                   # Enable
            self.out.clear_data()
            self.scanning = True
            self.repeat_key = None
            self._respond(t, ACK)
        elif byte == 0xF3:                   # Set Typematic Rate/Delay
            self._expect = "F3"
            self._respond(t, ACK)
        elif byte == 0xF2:                   # Read ID
            self._respond(t, ACK, *KEYBOARD_ID)
        elif byte == 0xF0:                   # Select Alternate Scan Codes
            self.out.clear_data()
            self._stop_repeat()
            self._expect = "F0"
            self._respond(t, ACK)
        elif byte == 0xEE:                   # Echo
            self._respond(t, ECHO)
        elif byte == 0xED:                   # Set/Reset Mode Indicators
            self._expect = "ED"
            self._respond(t, ACK)
        else:                                # EF, F1, and anything below ED
            self._respond(t, RESEND)

    def sent(self, byte):
        self.last_sent = byte

    def state(self, now):
        return {
            "out": self.out.state(now), "down": list(self.down), "leds": self.leds,
            "numlock": self.numlock, "last_sent": self.last_sent,
            "busy_until": self.busy_until - now, "expect": self._expect,
            "scan_set": self.scan_set, "scanning": self.scanning,
            "typematic": self.typematic,
            "set3_all": list(self.set3_all) if self.set3_all else None,
            "set3_types": {k: list(v) for k, v in self.set3_types.items()},
            "repeat_key": self.repeat_key, "overrun": self.overrun,
        }

    def load(self, s, now):
        self.out.load(s["out"], now)
        self.down = list(s["down"])
        self.leds, self.numlock, self.last_sent = s["leds"], s["numlock"], s["last_sent"]
        self.busy_until = now + s["busy_until"]
        self._expect = s["expect"]
        self.scan_set, self.scanning, self.typematic = s["scan_set"], s["scanning"], \
            s["typematic"]
        self.set3_all = tuple(s["set3_all"]) if s["set3_all"] else None
        self.set3_types = {k: tuple(v) for k, v in s["set3_types"].items()}
        self.repeat_key, self.overrun = s["repeat_key"], s["overrun"]

    def info(self):
        return "keyboard: set %d, %s, LEDs %s%s%s, typematic %02X, held [%s], %d byte(s) queued" % (
            self.scan_set, "scanning" if self.scanning else "disabled",
            "S" if self.leds & 1 else "-", "N" if self.leds & 2 else "-",
            "C" if self.leds & 4 else "-", self.typematic, " ".join(self.down),
            len(self.out.responses) + len(self.out.data))


class PS2Mouse:
    """A PS/2 mouse (and IntelliMouse wheel after the 200/100/80 sample-rate sequence):
    stream and remote modes, wrap mode, sample rate, resolution, scaling, status request."""

    RATES = (10, 20, 40, 60, 80, 100, 200)

    def __init__(self, kbc):
        self.kbc = kbc
        self.out = _Queue()
        self.power_on()

    def power_on(self):
        self.out.clear()
        self.last_packet = (RESEND,)
        self.busy_until = 0
        self._expect = None
        self.device_id = MOUSE_ID
        self._rates = []
        self.buttons = 0
        self._defaults()

    def _defaults(self):
        self.sample_rate = 100
        self.resolution = 2            # 4 counts/mm
        self.scaling = 1
        self.remote = False
        self.wrap = False
        self.reporting = False
        self.dx = self.dy = self.dz = 0
        self.dirty = False

    def _respond(self, t, *data, delay_us=RESPONSE_US):
        when = t + self.kbc._us(delay_us)
        self.out.responses.extend((when, b) for b in data)

    def _scaled(self, v):
        if self.scaling != 2:
            return v
        a = abs(v)
        s = {0: 0, 1: 1, 2: 1, 3: 3, 4: 6, 5: 9}.get(a, 2 * a)
        return -s if v < 0 else s

    def packet(self):
        """Build a movement packet from the counters and clear them."""
        dx, dy = self._scaled(self.dx), self._scaled(self.dy)
        xo, yo = not -256 <= dx <= 255, not -256 <= dy <= 255
        dx, dy = max(-256, min(255, dx)), max(-256, min(255, dy))
        b0 = (0x08 | (self.buttons & 0x07) | (0x10 if dx < 0 else 0) | (0x20 if dy < 0 else 0)
              | (0x40 if xo else 0) | (0x80 if yo else 0))
        data = [b0, dx & 0xFF, dy & 0xFF]
        if self.device_id == INTELLIMOUSE_ID:
            data.append(max(-8, min(7, self.dz)) & 0xFF)
        self.dx = self.dy = self.dz = 0
        self.dirty = False
        self.last_packet = tuple(data)
        return data

    def status(self):
        b = self.buttons
        b0 = ((0x40 if self.remote else 0) | (0x20 if self.reporting else 0)
              | (0x10 if self.scaling == 2 else 0)
              | (0x04 if b & 1 else 0) | (0x02 if b & 4 else 0) | (0x01 if b & 2 else 0))
        return (b0, self.resolution, self.sample_rate)

    # -------------------------------------------------- host side

    def move(self, dx, dy, buttons, dz, t):
        if t < self.busy_until:
            return
        changed = buttons is not None and buttons != self.buttons
        if buttons is not None:
            self.buttons = buttons & 0x07
        self.dx += dx
        self.dy += dy
        self.dz += dz
        if dx or dy or dz or changed:
            self.dirty = True
        self.kbc._arm_sample(t)

    def sample(self, t):
        """A sample-rate tick in stream mode: send a packet if anything changed and the
        last one has gone (the mouse keeps counting while the host holds it off)."""
        if self.dirty and self.reporting and not self.remote and not self.wrap \
                and not self.out.data:
            data = self.packet()
            self.out.data.extend((t, b) for b in data)

    # -------------------------------------------------- the command set

    def receive(self, byte, t):
        if self.wrap and byte not in (0xEC, 0xFF):
            self._respond(t, byte)           # wrap (echo) mode
            return
        expect = self._expect
        self._expect = None
        if expect == "F3":
            if byte in self.RATES:
                self.sample_rate = byte
                self._rates = (self._rates + [byte])[-3:]
                if self._rates == [200, 100, 80]:
                    self.device_id = INTELLIMOUSE_ID
                self._respond(t, ACK)
            else:
                self._respond(t, RESEND)
            return
        if expect == "E8":
            if byte <= 3:
                self.resolution = byte
                self._respond(t, ACK)
            else:
                self._respond(t, RESEND)
            return
        if byte != 0xF3:
            self._rates = []
        if byte == 0xFF:                     # Reset: ACK, BAT, then the device ID
            self.out.clear()
            self._defaults()
            self.device_id = MOUSE_ID
            self._respond(t, ACK)
            self.busy_until = t + self.kbc._us(RESPONSE_US + self.kbc.bat_us)
            self._respond(t, BAT_OK, MOUSE_ID, delay_us=RESPONSE_US + self.kbc.bat_us)
        elif byte == 0xFE:                   # Resend the last packet
            self._respond(t, *self.last_packet)
        elif byte == 0xF6:                   # Set Defaults
            self.out.clear_data()
            self._defaults()
            self._respond(t, ACK)
        elif byte == 0xF5:                   # Disable Data Reporting
            self.out.clear_data()
            self.reporting = False
            self._respond(t, ACK)
        elif byte == 0xF4:                   # Enable Data Reporting
            self.out.clear_data()
            self.reporting = True
            self.dx = self.dy = self.dz = 0
            self.dirty = False
            self._respond(t, ACK)
        elif byte == 0xF3:                   # Set Sample Rate
            self._expect = "F3"
            self._respond(t, ACK)
        elif byte == 0xF2:                   # Get Device ID
            self._respond(t, ACK, self.device_id)
        elif byte == 0xF0:                   # Set Remote Mode
            self.remote = True
            self._respond(t, ACK)
        elif byte == 0xEE:                   # Set Wrap Mode
            self.wrap = True
            self._respond(t, ACK)
        elif byte == 0xEC:                   # Reset Wrap Mode
            self.wrap = False
            self._respond(t, ACK)
        elif byte == 0xEB:                   # Read Data
            self._respond(t, ACK, *self.packet())
        elif byte == 0xEA:                   # Set Stream Mode
            self.remote = False
            self._respond(t, ACK)
        elif byte == 0xE9:                   # Status Request
            self._respond(t, ACK, *self.status())
        elif byte == 0xE8:                   # Set Resolution
            self._expect = "E8"
            self._respond(t, ACK)
        elif byte == 0xE7:
            self.scaling = 2
            self._respond(t, ACK)
        elif byte == 0xE6:
            self.scaling = 1
            self._respond(t, ACK)
        else:
            self._respond(t, RESEND)

    def sent(self, byte):
        pass

    def state(self, now):
        return {
            "out": self.out.state(now), "last_packet": list(self.last_packet),
            "busy_until": self.busy_until - now, "expect": self._expect,
            "device_id": self.device_id, "rates": list(self._rates),
            "buttons": self.buttons, "sample_rate": self.sample_rate,
            "resolution": self.resolution, "scaling": self.scaling, "remote": self.remote,
            "wrap": self.wrap, "reporting": self.reporting,
            "counters": [self.dx, self.dy, self.dz], "dirty": self.dirty,
        }

    def load(self, s, now):
        self.out.load(s["out"], now)
        self.last_packet = tuple(s["last_packet"])
        self.busy_until = now + s["busy_until"]
        self._expect, self.device_id, self._rates = s["expect"], s["device_id"], \
            list(s["rates"])
        self.buttons, self.sample_rate, self.resolution = s["buttons"], s["sample_rate"], \
            s["resolution"]
        self.scaling, self.remote, self.wrap = s["scaling"], s["remote"], s["wrap"]
        self.reporting, self.dirty = s["reporting"], s["dirty"]
        self.dx, self.dy, self.dz = s["counters"]

    def info(self):
        return ("mouse: id %d, %s mode%s, %s, %d samples/s, resolution %d, scaling %d:1, "
                "buttons %d, %d byte(s) queued" % (
                    self.device_id, "remote" if self.remote else "stream",
                    " (wrap)" if self.wrap else "",
                    "reporting" if self.reporting else "not reporting", self.sample_rate,
                    self.resolution, self.scaling, self.buttons,
                    len(self.out.responses) + len(self.out.data)))


NEVER = 0xFFFFFFFFFFFFFFFF

# Fixed order for internal timers due on the same cycle.
_TIMER_ORDER = ("input", "tx", "rx", "host", "kbd_repeat", "mouse_sample", "wake")


class I8042(Device):
    """The keyboard controller at 0x60/0x64 with its keyboard (IRQ1) and mouse (IRQ12),
    and port 0x92.  `keyboard` and `mouse` are the PS/2 devices behind it.

    The A20 gate on the bus is open when either the output port's bit 1 or port 0x92's
    bit 1 is set (the two inputs of the chipset's A20 logic); a system reset through the
    output port (bit 0 low, or the 0xFE pulse) or a 0 -> 1 edge of port 0x92 bit 0 asks
    the machine for a CPU reset (`machine.request_reset()`).
    """

    name = "i8042"
    IRQ_KEYBOARD = 1
    IRQ_MOUSE = 12

    def __init__(self, machine, port92=True, bat_us=None):
        super().__init__(machine)
        self._us_domain = ClockDomain(self.clock.frequency, 1_000_000)
        # How long the keyboard and mouse take for their Basic Assurance Test after a
        # reset: a real keyboard's figure by default; a platform may choose a faster one.
        self.bat_us = BAT_US if bat_us is None else bat_us
        self.keyboard = PS2Keyboard(self)
        self.mouse = PS2Mouse(self)
        self.input_log = []
        self._host = []                 # heap of (cycle, seq, event) still to deliver
        self._host_seq = 0
        self._timers = {}
        self._next_due = NEVER          # earliest timer, so a poll of 0x64 costs little
        self._event = None
        self._in_sync = False
        self._sample_domain = None
        self._power_on()
        # Byte ports: the bus turns a wider access into byte cycles on consecutive ports.
        self.bus.register_io(PORT_DATA, 1, self._io_read, self._io_write, width=1)
        self.bus.register_io(PORT_STATUS, 1, self._io_read, self._io_write, width=1)
        self.has_port92 = port92
        if port92:
            self.bus.register_io(PORT_SYSCTRL_A, 1, self._io_read, self._io_write, width=1)

    def _power_on(self):
        self.ram = bytearray(32)
        self.ram[0] = COMMAND_BYTE_POWER_ON
        self.obuf = 0
        self.obf = False
        self.aux = False                # the output buffer holds a mouse byte
        self.status_errors = 0          # timeout / parity bits
        self.a2 = False
        self._input = None              # (value, is_command) waiting in the input buffer
        self._pending = None            # what the next data byte is for
        self.output_port = OUTPUT_PORT_POWER_ON
        self.port92 = 0
        self._xlat_prefix = 0
        self._ctrl_out = deque()        # controller results waiting for the output buffer
        self._rx = None                 # [device, queue, byte, start] a byte coming in
        self._tx = None                 # (device, byte) a byte going out
        self._busy_until = 0
        self._irq1 = self._irq12 = False
        for name in list(self._timers):
            if name != "host":
                del self._timers[name]
        self.keyboard.power_on()
        self.mouse.power_on()
        self._apply_a20()

    def reset(self):
        """Power-on state of the controller, keyboard and mouse (the input log is kept)."""
        self._power_on()
        self._update_irqs()
        self._arm()

    # ------------------------------------------------------------ timing helpers

    def _us(self, microseconds):
        """A duration in microseconds as CPU cycles (rounded up)."""
        return self._us_domain.to_cycles(microseconds)

    def _bits(self, n):
        return self._us(n * PS2_BIT_US)

    def _set_timer(self, name, when):
        self._timers[name] = when
        if not self._in_sync:
            self._arm()

    def _cancel_timer(self, name):
        self._timers.pop(name, None)
        if not self._in_sync:
            self._arm()

    def _arm(self):
        if not self._timers:
            self._next_due = NEVER
            if self._event is not None:
                self.clock.cancel(self._event)
            return
        when = min(self._timers.values())
        self._next_due = when
        if self._event is None:
            self._event = self.clock.schedule(when, self._on_event)
        elif not self._event.pending or self._event.deadline != when:
            self.clock.reschedule(self._event, when)

    def _on_event(self, deadline):
        self.sync()

    def sync(self, limit=None):
        """Run every internal edge due by cycle `limit` (default: now), each at its own
        cycle, in order."""
        if limit is None:
            limit = self.clock.now
        if self._next_due > limit or self._in_sync:
            return
        self._in_sync = True
        try:
            while self._timers:
                name = min(self._timers, key=lambda n: (self._timers[n], _TIMER_ORDER.index(n)))
                when = self._timers[name]
                if when > limit:
                    break
                del self._timers[name]
                getattr(self, "_timer_" + name)(when)
        finally:
            self._in_sync = False
        self._arm()

    # ------------------------------------------------------------ IRQs and A20

    def _update_irqs(self):
        cb = self.ram[0]
        irq1 = self.obf and not self.aux and bool(cb & CB_KBD_INT)
        irq12 = self.obf and self.aux and bool(cb & CB_AUX_INT)
        if irq1 != self._irq1:
            self._irq1 = irq1
            self.machine.set_irq(self.IRQ_KEYBOARD, irq1)
        if irq12 != self._irq12:
            self._irq12 = irq12
            self.machine.set_irq(self.IRQ_MOUSE, irq12)

    def _apply_a20(self):
        self.bus.a20 = bool(self.output_port & OP_A20) or bool(self.port92 & P92_A20)

    @property
    def a20(self):
        return bool(self.bus.a20)

    # ------------------------------------------------------------ the output buffer

    def _fill(self, byte, aux, t):
        self.obuf = byte & 0xFF
        self.obf = True
        self.aux = aux
        self._update_irqs()

    def _port_enabled(self, dev):
        bit = CB_KBD_DISABLE if dev is self.keyboard else CB_AUX_DISABLE
        return not self.ram[0] & bit

    def _pump(self, t):
        """Give the output buffer its next byte, or let a device start sending one."""
        if self.obf or self._rx is not None:
            return
        if self._ctrl_out:
            byte, aux = self._ctrl_out.popleft()
            self._fill(byte, aux, t)
            return
        if self._tx is not None:
            return                       # the controller is busy clocking a byte out
        wake = None
        for dev in (self.keyboard, self.mouse):
            if not self._port_enabled(dev):
                continue
            queue, ready = dev.out.head()
            if queue is None:
                continue
            if ready > t:
                wake = ready if wake is None else min(wake, ready)
                continue
            _, byte = queue.popleft()
            self._rx = [dev, queue, byte, t]
            self._set_timer("rx", t + self._bits(RX_BITS))
            self._cancel_timer("wake")
            return
        if wake is not None:
            self._set_timer("wake", wake)

    def _abort_rx(self, t, dev=None):
        """Inhibit a device mid-frame: before its 10th bit the byte goes back to the device
        to be sent again; after it the frame completes.  Returns the cycle the line is free."""
        rx = self._rx
        if rx is None or (dev is not None and rx[0] is not dev):
            return t
        if t - rx[3] < self._bits(ABORT_BITS):
            rx[1].appendleft((rx[3], rx[2]))
            self._rx = None
            self._cancel_timer("rx")
            return t
        return rx[3] + self._bits(RX_BITS)

    def _timer_rx(self, t):
        dev, _, byte, _ = self._rx
        self._rx = None
        dev.sent(byte)
        if dev is self.keyboard and self.ram[0] & CB_XLATE:
            if byte == 0xF0:
                self._xlat_prefix = 0x80
                self._pump(t)
                return
            byte = XLATE_TABLE[byte] | self._xlat_prefix
            self._xlat_prefix = 0
        self._fill(byte, dev is self.mouse, t)

    def _timer_wake(self, t):
        self._pump(t)

    # ------------------------------------------------------------ the input buffer

    def _write_input(self, value, is_command):
        t = self.clock.now
        self._input = (value & 0xFF, is_command)
        self.a2 = is_command
        start = max(t, self._busy_until)
        self._set_timer("input", start + self._us(CONTROLLER_US))

    def _timer_input(self, t):
        if self._input is None:
            return
        value, is_command = self._input
        self._input = None
        if is_command:
            self._command(value, t)
        else:
            self._data(value, t)
        self._pump(t)

    def _output(self, byte, aux=False):
        self._ctrl_out.append((byte & 0xFF, aux))

    def _set_command_byte(self, value, t):
        old = self.ram[0]
        self.ram[0] = value & 0xFF
        if value & CB_KBD_DISABLE and not old & CB_KBD_DISABLE:
            self._abort_rx(t, self.keyboard)
        if value & CB_AUX_DISABLE and not old & CB_AUX_DISABLE:
            self._abort_rx(t, self.mouse)
        self._update_irqs()

    def _read_output_port(self):
        value = self.output_port & ~(OP_IRQ1 | OP_IRQ12) & 0xFF
        if self._irq1 or (self.obf and not self.aux):
            value |= OP_IRQ1
        if self._irq12 or (self.obf and self.aux):
            value |= OP_IRQ12
        return value

    def _write_output_port(self, value):
        self.output_port = (value | OP_RESET) & 0xFF
        self._apply_a20()
        if not value & OP_RESET:
            # The reset line goes low and the CPU restarts; the controller is not reset,
            # so its output port shows the line released again afterwards.
            self.machine.request_reset()

    def _command(self, cmd, t):
        self._pending = None
        cb = self.ram[0]
        if 0x20 <= cmd <= 0x3F:                  # read controller RAM
            self._output(self.ram[cmd & 0x1F])
        elif 0x60 <= cmd <= 0x7F:                # write controller RAM
            self._pending = ("ram", cmd & 0x1F)
        elif cmd == 0xA7:                        # disable mouse interface
            self._set_command_byte(cb | CB_AUX_DISABLE, t)
        elif cmd == 0xA8:                        # enable mouse interface
            self._set_command_byte(cb & ~CB_AUX_DISABLE, t)
        elif cmd == 0xA9:                        # mouse interface test: no error
            self._output(0x00)
        elif cmd == 0xAA:                        # self test: passed, and the system flag
            self._set_command_byte(cb | CB_SYS, t)
            self._output(0x55)
        elif cmd == 0xAB:                        # keyboard interface test: no error
            self._output(0x00)
        elif cmd == 0xAD:                        # disable keyboard interface
            self._set_command_byte(cb | CB_KBD_DISABLE, t)
        elif cmd == 0xAE:                        # enable keyboard interface
            self._set_command_byte(cb & ~CB_KBD_DISABLE, t)
        elif cmd == 0xC0:                        # read input port
            self._output(INPUT_PORT)
        elif cmd == 0xD0:                        # read output port
            self._output(self._read_output_port())
        elif cmd == 0xD1:                        # write output port
            self._pending = ("outport",)
        elif cmd == 0xD2:                        # write keyboard output buffer
            self._pending = ("kbd_obuf",)
        elif cmd == 0xD3:                        # write mouse output buffer
            self._pending = ("aux_obuf",)
        elif cmd == 0xD4:                        # write to mouse
            self._pending = ("aux",)
        elif cmd == 0xDD:                        # A20 off (HP Vectra and most 8042 clones)
            self._write_output_port(self.output_port & ~OP_A20)
        elif cmd == 0xDF:                        # A20 on
            self._write_output_port(self.output_port | OP_A20)
        elif cmd == 0xE0:                        # read test inputs T0/T1: the clock lines
            self._output((0 if cb & CB_KBD_DISABLE else 1) | (0 if cb & CB_AUX_DISABLE else 2))
        elif 0xF0 <= cmd <= 0xFF:                # pulse output port bits 3-0 low (~6 us)
            if not cmd & OP_RESET:
                self.machine.request_reset()
        # Other commands are vendor extensions; the controller ignores them.

    def _data(self, value, t):
        pending, self._pending = self._pending, None
        if pending is None:
            # A byte for the keyboard; sending it releases the keyboard clock (Brouwer:
            # "any keyboard command enables the keyboard again").
            self._set_command_byte(self.ram[0] & ~CB_KBD_DISABLE, t)
            self._transmit(self.keyboard, value, t)
        elif pending[0] == "ram":
            if pending[1] == 0:
                self._set_command_byte(value, t)
            else:
                self.ram[pending[1]] = value
        elif pending[0] == "outport":
            self._write_output_port(value)
        elif pending[0] == "kbd_obuf":
            self._output(value, False)
        elif pending[0] == "aux_obuf":
            self._output(value, True)
        elif pending[0] == "aux":
            self._transmit(self.mouse, value, t)

    def _transmit(self, dev, byte, t):
        start = self._abort_rx(t)
        done = start + self._us(RTS_US) + self._bits(TX_BITS)
        self._tx = (dev, byte)
        self._busy_until = done
        self._set_timer("tx", done)

    def _timer_tx(self, t):
        dev, byte = self._tx
        self._tx = None
        dev.receive(byte, t)
        if dev is self.mouse:
            self._arm_sample(t)
        self._pump(t)

    # ------------------------------------------------------------ mouse sampling

    def _arm_sample(self, t):
        m = self.mouse
        if not (m.dirty and m.reporting and not m.remote):
            self._cancel_timer("mouse_sample")
            return
        if self._sample_domain is None or self._sample_domain.dev_hz != m.sample_rate:
            self._sample_domain = ClockDomain(self.clock.frequency, m.sample_rate)
        d = self._sample_domain
        if "mouse_sample" not in self._timers:
            self._set_timer("mouse_sample", d.to_cycles(d.to_ticks(t) + 1))

    def _timer_mouse_sample(self, t):
        self.mouse.sample(t)
        self._pump(t)
        self._arm_sample(t)

    def _timer_kbd_repeat(self, t):
        self.keyboard.repeat(t)
        self._pump(t)

    # ------------------------------------------------------------ port access

    def _io_read(self, port, width):
        self.sync()
        if port == PORT_DATA:
            value = self.obuf
            if self.obf:
                self.obf = False
                self.aux = False
                self._update_irqs()
                self._pump(self.clock.now)
        elif port == PORT_STATUS:
            value = self.status()
        else:
            value = self.port92
        return value

    def _io_write(self, port, width, value):
        self.sync()
        if port == PORT_DATA:
            self._write_input(value, False)
        elif port == PORT_STATUS:
            self._write_input(value, True)
        else:
            self._write_port92(value)

    def status(self):
        """The status register as the CPU reads it (without catching up)."""
        return ((ST_OBF if self.obf else 0) | (ST_IBF if self._input is not None else 0)
                | (ST_SYS if self.ram[0] & CB_SYS else 0) | (ST_A2 if self.a2 else 0)
                | ST_INH | (ST_AUXB if self.obf and self.aux else 0) | self.status_errors)

    def _write_port92(self, value):
        old = self.port92
        self.port92 = value & 0xFF
        self._apply_a20()
        if value & P92_RESET and not old & P92_RESET:
            self.machine.request_reset()

    # ------------------------------------------------------------ the host side

    def _deliver(self, event, t):
        self.input_log.append((t, event))
        kind = event[0]
        if kind == "key":
            self.keyboard.key(event[1], event[2], t)
        elif kind == "mouse":
            self.mouse.move(event[1], event[2], event[3], event[4], t)
        else:
            raise ValueError("unknown input event %r" % (event,))
        self._pump(t)

    def post(self, event, at=None):
        """Deliver a host input event now or at guest cycle `at` (not in the past).
        Events: ("key", name, pressed), ("mouse", dx, dy, buttons or None, wheel)."""
        self.sync()
        now = self.clock.now
        if at is None or at <= now:
            if at is not None and at < now:
                raise ValueError("cycle %d is in the past (now %d)" % (at, now))
            self._deliver(tuple(event), now)
        else:
            heapq.heappush(self._host, (at, self._host_seq, tuple(event)))
            self._host_seq += 1
            self._set_timer("host", self._host[0][0])
        self._arm()

    def _timer_host(self, t):
        while self._host and self._host[0][0] <= t:
            when, _, event = heapq.heappop(self._host)
            self._deliver(event, when)
        if self._host:
            self._timers["host"] = self._host[0][0]

    def press(self, key, at=None):
        """Press key `key` (a name from KEYS, e.g. "a", "enter", "lshift", "f1")."""
        self.post(("key", key_name(key), True), at)

    def release(self, key, at=None):
        self.post(("key", key_name(key), False), at)

    def tap(self, key, at=None, hold_us=50_000):
        """Press and, `hold_us` later, release a key."""
        start = self.clock.now if at is None else at
        self.press(key, start)
        self.release(key, start + self._us(hold_us))

    def type_text(self, text, at=None, hold_us=50_000, gap_us=50_000):
        """Type `text` on a US layout, one key every hold_us + gap_us; returns the cycle of
        the last release."""
        t = self.clock.now if at is None else at
        step = self._us(hold_us + gap_us)
        hold = self._us(hold_us)
        for ch in text:
            key, shifted = char_keys(ch)
            if shifted:
                self.press("lshift", t)
            self.press(key, t)
            self.release(key, t + hold)
            if shifted:
                self.release("lshift", t + hold)
            t += step
        return t - step + hold if text else t

    def move(self, dx=0, dy=0, buttons=None, wheel=0, at=None):
        """Move the mouse by (dx, dy) counts (dy positive = away from the user, as PS/2
        reports it), set the buttons (bit 0 left, 1 right, 2 middle; None = unchanged)
        and turn the wheel."""
        self.post(("mouse", int(dx), int(dy), None if buttons is None else int(buttons),
                   int(wheel)), at)

    def replay(self, log):
        """Deliver recorded (cycle, event) pairs again at their cycles."""
        for when, event in log:
            self.post(tuple(event), when)

    # ------------------------------------------------------------ snapshots and views

    def get_state(self):
        self.sync()
        now = self.clock.now
        devs = {id(self.keyboard): "keyboard", id(self.mouse): "mouse"}

        def qname(dev, q):
            return "responses" if q is dev.out.responses else "data"

        rx = self._rx
        return {
            "ram": bytes(self.ram), "obuf": self.obuf, "obf": self.obf, "aux": self.aux,
            "status_errors": self.status_errors, "a2": self.a2,
            "input": list(self._input) if self._input else None,
            "pending": list(self._pending) if self._pending else None,
            "output_port": self.output_port, "port92": self.port92,
            "xlat_prefix": self._xlat_prefix,
            "ctrl_out": [list(x) for x in self._ctrl_out],
            "rx": [devs[id(rx[0])], qname(rx[0], rx[1]), rx[2], rx[3] - now] if rx else None,
            "tx": [devs[id(self._tx[0])], self._tx[1]] if self._tx else None,
            "busy_until": self._busy_until - now,
            "irq": [self._irq1, self._irq12],
            "timers": {n: w - now for n, w in self._timers.items()},
            "host": [[w - now, s, list(e)] for w, s, e in sorted(self._host)],
            "host_seq": self._host_seq,
            "input_log": [[c, list(e)] for c, e in self.input_log],
            # where keys sent by a person start (core/keys.send queues after it)
            "keys_until": getattr(self, "keys_until", 0) - now,
            "keyboard": self.keyboard.state(now),
            "mouse": self.mouse.state(now),
        }

    def set_state(self, s):
        now = self.clock.now
        devs = {"keyboard": self.keyboard, "mouse": self.mouse}
        self.ram = bytearray(s["ram"])
        self.obuf, self.obf, self.aux = s["obuf"], s["obf"], s["aux"]
        self.status_errors, self.a2 = s["status_errors"], s["a2"]
        self._input = tuple(s["input"]) if s["input"] else None
        self._pending = tuple(s["pending"]) if s["pending"] else None
        self.output_port, self.port92 = s["output_port"], s["port92"]
        self._xlat_prefix = s["xlat_prefix"]
        self._ctrl_out = deque(tuple(x) for x in s["ctrl_out"])
        self.keyboard.load(s["keyboard"], now)
        self.mouse.load(s["mouse"], now)
        if s["rx"]:
            dev = devs[s["rx"][0]]
            q = dev.out.responses if s["rx"][1] == "responses" else dev.out.data
            self._rx = [dev, q, s["rx"][2], now + s["rx"][3]]
        else:
            self._rx = None
        self._tx = (devs[s["tx"][0]], s["tx"][1]) if s["tx"] else None
        self._busy_until = now + s["busy_until"]
        self._timers = {n: now + off for n, off in s["timers"].items()}
        self._host = [(now + off, seq, tuple(e)) for off, seq, e in s["host"]]
        heapq.heapify(self._host)
        self._host_seq = s["host_seq"]
        self.input_log = [(c, tuple(e)) for c, e in s["input_log"]]
        self.keys_until = now + s.get("keys_until", -now)
        self._irq1, self._irq12 = s["irq"]
        self.machine.set_irq(self.IRQ_KEYBOARD, self._irq1)
        self.machine.set_irq(self.IRQ_MOUSE, self._irq12)
        self._apply_a20()
        self._arm()

    def info(self):
        self.sync()
        st = self.status()
        cb = self.ram[0]
        bits = [n for bit, n in ((ST_OBF, "OBF"), (ST_IBF, "IBF"), (ST_SYS, "SYS"),
                                 (ST_A2, "CMD"), (ST_AUXB, "AUX")) if st & bit]
        cbits = [n for bit, n in ((CB_KBD_INT, "INT1"), (CB_AUX_INT, "INT12"),
                                  (CB_SYS, "SYS"), (CB_KBD_DISABLE, "KBD-OFF"),
                                  (CB_AUX_DISABLE, "AUX-OFF"), (CB_XLATE, "XLATE")) if cb & bit]
        return "\n".join([
            "i8042: ports 0x60/0x64%s; IRQ1 %s, IRQ12 %s; A20 %s" % (
                ", 0x92" if self.has_port92 else "", "high" if self._irq1 else "low",
                "high" if self._irq12 else "low", "on" if self.bus.a20 else "off"),
            "status %02X [%s], output buffer %02X%s" % (
                st, " ".join(bits), self.obuf, "" if self.obf else " (read)"),
            "command byte %02X [%s], output port %02X, port 0x92 %02X" % (
                cb, " ".join(cbits), self._read_output_port(), self.port92),
            self.keyboard.info(),
            self.mouse.info(),
            "host input: %d delivered, %d scheduled" % (len(self.input_log), len(self._host)),
        ])
