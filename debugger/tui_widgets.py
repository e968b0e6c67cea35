"""The panes of the debugger TUI (debugger/tui.py): one widget per pane.

Every pane shows a `View`, the machine state the app reads once per stop (registers, mode,
CS base, the point list), so the panes of one stop agree and the registers are read once.
The panes never run the guest; they post messages (ToggleBreakpoint, ...) and the app,
which owns the run worker, acts on them.
"""
from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import DataTable, Input, Static

from debugger import x87
from debugger.controller import Breakpoint, DebugError, Watchpoint
from debugger.disasm import disassemble

# EFLAGS bits shown by name, most significant first (Intel SDM vol. 1, 3.4.3).
FLAG_BITS = ((21, "ID"), (19, "VIP"), (18, "AC"), (17, "VM"), (16, "RF"), (14, "NT"),
             (11, "OF"), (10, "DF"), (9, "IF"), (8, "TF"), (7, "SF"), (6, "ZF"), (4, "AF"),
             (2, "PF"), (0, "CF"))
CHANGED = "bold black on yellow"
CURRENT = "bold reverse"

# The 16 colours of the CGA/EGA/VGA text palette (attribute nibbles), as RGB.
TEXT_PALETTE = ("#000000", "#0000aa", "#00aa00", "#00aaaa", "#aa0000", "#aa00aa",
                "#aa5500", "#aaaaaa", "#555555", "#5555ff", "#55ff55", "#55ffff",
                "#ff5555", "#ff55ff", "#ffff55", "#ffffff")


# ===================================================================== the state of one stop

@dataclass
class View:
    """What the panes show for one stop of the guest.  `regs` carries the x87 too, as
    regs["fpu"] (a debugger.x87.FPUState, None without an FPU), so that the previous
    stop's FPU is kept with its registers."""
    dbg: object
    regs: dict
    prev: dict | None                # the registers at the previous stop (for highlighting)
    mode: str                        # "real", "protected", "v86"
    paging: bool
    bits: int                        # 16 or 32: the code segment's default size
    cs_base: int
    linear: int                      # CS base + EIP
    points: list = field(default_factory=list)

    @classmethod
    def read(cls, dbg, prev=None):
        regs = dbg.registers()
        regs["fpu"] = dbg.fpu_state()
        return cls(dbg=dbg, regs=regs, prev=prev, mode=dbg.mode(), paging=dbg.paging(),
                   bits=dbg.code_bits(), cs_base=dbg.segment("cs").base,
                   linear=dbg.current_linear(), points=list(dbg.list_points()))

    def changed(self, name):
        return self.prev is not None and self.prev.get(name) != self.regs.get(name)


# ===================================================================== disassembly

def decode_at(view, linear, count):
    """`count` instructions from `linear` in the current code segment, or [] if unmapped."""
    dbg = view.dbg
    want = count * 15
    try:
        code = dbg.read(linear, want)
    except DebugError:
        # Up to the end of the mapped page, which may be short of `want`.
        room = 0x1000 - (linear & 0xFFF)
        try:
            code = dbg.read(linear, min(room, want))
        except DebugError:
            return []
    offset = (linear - view.cs_base) & (0xFFFF if view.bits == 16 else 0xFFFFFFFF)
    return disassemble(code, offset, bits=view.bits, count=count, linear_base=view.cs_base)


def around(view, linear, before, after):
    """Instructions around `linear`: up to `before` lines ahead of it found by decoding from
    a little earlier and keeping a start that falls exactly on `linear` (x86 cannot be
    decoded backwards for certain), then `after` lines from it."""
    lines = []
    for back in range(min(before * 4, 48), 0, -1):
        if view.bits == 16 and back > ((linear - view.cs_base) & 0xFFFF):
            continue                 # would start before the segment's offset 0
        start = (linear - back) & 0xFFFFFFFF
        insns = decode_at(view, start, before * 4 + 4)
        ends = [i for i in insns if i.linear == linear]
        if ends:
            k = insns.index(ends[0])
            lines = insns[max(0, k - before):k]
            break
    return lines + decode_at(view, linear, after)


def marks_for(view, insns):
    """{linear: "on"/"off"} for the breakpoints that sit on these instructions."""
    out = {}
    dbg = view.dbg
    cs = view.regs["cs"]
    for p in view.points:
        if not isinstance(p, Breakpoint):
            continue
        for i in insns:
            hit = False
            if p.kind == "lin":
                hit = p.address == i.linear
            elif p.kind == "virt":
                hit = p.segment == cs and p.address == i.address
            else:
                hit = dbg.translate(i.linear) == p.address
            if hit:
                out[i.linear] = "on" if p.enabled or out.get(i.linear) == "on" else "off"
    return out


def points_at(view, insn):
    """The breakpoints that mark `insn`'s line (what F9 on that line removes)."""
    dbg = view.dbg
    found = []
    for p in view.points:
        if not isinstance(p, Breakpoint):
            continue
        if ((p.kind == "lin" and p.address == insn.linear)
                or (p.kind == "virt" and p.segment == view.regs["cs"]
                    and p.address == insn.address)
                or (p.kind == "phys" and dbg.translate(insn.linear) == p.address)):
            found.append(p)
    return found


def format_where(view, insn):
    """seg:off in real and v86 mode and for 16-bit code, selector:offset32 otherwise."""
    cs = view.regs["cs"]
    if view.bits == 16:
        return "%04X:%04X" % (cs, insn.address & 0xFFFF)
    return "%04X:%08X" % (cs, insn.address)


class Pane:
    """Mixin: the border title is the pane's name (it is what a screenshot shows)."""

    TITLE = ""

    def on_mount(self):
        self.border_title = self.TITLE


class DisassemblyPane(Pane, DataTable):
    """The code around CS:EIP.  The first column (the gutter) marks the current instruction
    (>) and breakpoints (* enabled, o disabled); clicking the gutter or pressing F9/Enter on
    a line toggles a linear breakpoint there."""

    TITLE = "Disassembly"
    BEFORE, AFTER = 6, 26

    class ToggleBreakpoint(Message):
        def __init__(self, insn):
            super().__init__()
            self.insn = insn

    def __init__(self, **kw):
        super().__init__(cursor_type="row", zebra_stripes=False, **kw)
        self.insns = []

    def on_mount(self):
        super().on_mount()
        self.add_columns(" ", "address", "linear", "bytes", "instruction")

    def show(self, view):
        insns = around(view, view.linear, self.BEFORE, self.AFTER)
        marks = marks_for(view, insns)
        self.insns = insns
        symbols = getattr(view.dbg, "symbols", None)
        if symbols is not None and not len(symbols):
            symbols = None
        self.clear()
        current_row = 0
        for row, i in enumerate(insns):
            current = i.linear == view.linear
            if current:
                current_row = row
            mark = marks.get(i.linear)
            gutter = Text(("*" if mark == "on" else "o" if mark == "off" else " ")
                          + (">" if current else " "),
                          style="bold red" if mark else "bold")
            style = "bold" if current else ""
            text = Text(i.text, style=style)
            label = symbols.format(i.linear, 0) if symbols is not None else ""
            if label:        # a symbol starts here
                text = Text.assemble((label + ": ", "bold magenta"), text)
            self.add_row(gutter, Text(format_where(view, i), style=style),
                         Text("%08X" % i.linear, style="dim"),
                         Text(i.bytes.hex(" ")[:23], style="dim"), text,
                         key="%x" % i.linear)
        if not insns:
            self.add_row(" ", "%08X" % view.linear, "", "", "(not mapped)")
        self.move_cursor(row=current_row, animate=False)

    def selected(self):
        """The instruction on the cursor's line, or None."""
        row = self.cursor_row
        return self.insns[row] if 0 <= row < len(self.insns) else None

    def on_data_table_row_selected(self, event):
        event.stop()
        insn = self.selected()
        if insn is not None:
            self.post_message(self.ToggleBreakpoint(insn))

    async def _on_click(self, event: events.Click) -> None:
        meta = event.style.meta
        row, column = meta.get("row", -1), meta.get("column", -1)
        if column == 0 and 0 <= row < len(self.insns):
            # The gutter: toggle there at once (the rest of the line only moves the cursor).
            event.prevent_default()
            event.stop()
            self.move_cursor(row=row, animate=False)
            self.post_message(self.ToggleBreakpoint(self.insns[row]))


# ===================================================================== registers and stack

class RegistersPane(Pane, Static):
    """General registers, EIP, EFLAGS decoded, segment selectors; CR0-CR4 and the table
    registers in protected mode.  Values changed since the last stop are highlighted."""

    TITLE = "Registers"

    def show(self, view):
        r = view.regs
        t = Text(no_wrap=True)

        def val(name, digits=8):
            t.append("%0*X" % (digits, r[name]), style=CHANGED if view.changed(name) else "")

        for a, b in (("eax", "esi"), ("ebx", "edi"), ("ecx", "ebp"), ("edx", "esp")):
            t.append("%s " % a.upper(), style="cyan")
            val(a)
            t.append("  %s " % b.upper(), style="cyan")
            val(b)
            t.append("\n")
        t.append("EIP ", style="cyan")
        val("eip")
        t.append("  EFL ", style="cyan")
        val("eflags")
        t.append("\n")
        flags = r["eflags"]
        old = view.prev["eflags"] if view.prev else flags
        shown = 0
        for bit, name in FLAG_BITS:
            on = bool(flags >> bit & 1)
            if bit > 16 and not on and view.mode == "real":
                continue             # the 386's extra flags, when they are not in play
            style = CHANGED if (old ^ flags) >> bit & 1 else ("bold" if on else "dim")
            t.append(name if on else name.lower(), style=style)
            shown += 1
            t.append("\n" if shown % 8 == 0 else " ")
        t.append("IOPL=%d" % (flags >> 12 & 3), style="dim")
        t.append("\n")
        for names in (("cs", "ds", "es"), ("ss", "fs", "gs")):
            for k, n in enumerate(names):
                t.append(("  " if k else "") + n.upper() + " ", style="cyan")
                val(n, 4)
            t.append("\n")
        t.append("mode ", style="cyan")
        t.append("%s%s, %d-bit code" % (view.mode, " + paging" if view.paging else "",
                                       view.bits))
        t.append("\n")
        if view.mode != "real" or r["cr0"] & 1:
            for a, b in (("cr0", "cr2"), ("cr3", "cr4")):
                t.append("%s " % a.upper(), style="cyan")
                val(a)
                t.append("  %s " % b.upper(), style="cyan")
                val(b)
                t.append("\n")
            for name in ("gdtr", "idtr"):
                base, limit = r[name]
                t.append("%s " % name.upper(), style="cyan")
                t.append("%08X:%04X\n" % (base, limit),
                         style=CHANGED if view.changed(name) else "")
            t.append("LDTR ", style="cyan")
            val("ldtr", 4)
            t.append("  TR ", style="cyan")
            val("tr", 4)
        else:
            t.append("CR0 ", style="cyan")
            val("cr0")
        self.update(t)


class FpuPane(Pane, Static):
    """The x87 FPU: TOP and the condition codes, the status word's flags, the control
    word's rounding, precision and masks, the tag word, the last opcode and pointers, then
    ST0-ST7 with the physical register each is, its tag, its raw encoding and its decimal
    value.  What changed since the last stop is highlighted (a row when its ST(i) holds
    another value or tag; after a push or a pop every row does)."""

    TITLE = "FPU"

    def show(self, view):
        s = view.regs.get("fpu")
        if s is None:
            self.update(Text("no x87 FPU on this model", style="dim"))
            return
        old = view.prev.get("fpu") if view.prev else None
        t = Text(no_wrap=True)

        def label(text):
            t.append(text, style="cyan")

        def word(name, value, digits=4):
            changed = old is not None and getattr(old, name) != value
            t.append("%0*X" % (digits, value), style=CHANGED if changed else "")

        def bit_names(value, table, mask_old=None):
            for name, b in table:
                on = bool(value >> b & 1)
                flip = mask_old is not None and bool((mask_old ^ value) >> b & 1)
                t.append((name if on else name.lower()) + " ",
                         style=CHANGED if flip else ("bold" if on else "dim"))

        label("TOP ")
        word("top", s.top, 1)
        t.append("  ")
        for name, b in (("C3", 14), ("C2", 10), ("C1", 9), ("C0", 8)):
            label(name + " ")
            on = s.sw >> b & 1
            flip = old is not None and (old.sw ^ s.sw) >> b & 1
            t.append("%d  " % on, style=CHANGED if flip else ("bold" if on else ""))
        t.append("\n")
        label("SW ")
        word("sw", s.sw)
        t.append("  ")
        bit_names(s.sw, (("B", 15), ("ES", 7), ("SF", 6)) + x87.EXCEPTIONS,
                  old.sw if old is not None else None)
        t.append("\n")
        label("CW ")
        word("cw", s.cw)
        t.append("  RC %s  PC %s  " % (s.rounding, s.precision))
        bit_names(s.cw, x87.MASKS, old.cw if old is not None else None)
        if s.cw & x87.CW_IC:
            t.append("IC", style="bold")
        t.append("\n")
        label("TW ")
        word("tw", s.tw)
        label("  FOP ")
        word("fop", s.fop, 3)
        t.append(" (%02X %02X)" % x87.last_opcode(s.fop), style="dim")
        t.append("\n")
        label("FIP ")
        t.append("%04X:%08X" % (s.fcs, s.fip),
                 style=CHANGED if old is not None and (old.fcs, old.fip) != (s.fcs, s.fip)
                 else "")
        label("  FDP ")
        t.append("%04X:%08X" % (s.fds, s.fdp),
                 style=CHANGED if old is not None and (old.fds, old.fdp) != (s.fds, s.fdp)
                 else "")
        t.append("\n")
        for i in range(8):
            raw, tag = s.st(i), s.st_tag(i)
            changed = old is not None and (old.st(i), old.st_tag(i)) != (raw, tag)
            empty = tag == x87.TAG_EMPTY
            label("ST%d " % i)
            t.append("R%d " % s.phys(i), style="dim")
            t.append("%-7s " % x87.TAG_NAMES[tag], style="dim" if empty else "")
            t.append("%04X:%016X " % (raw >> 64, raw & 0xFFFFFFFFFFFFFFFF),
                     style=CHANGED if changed else ("dim" if empty else ""))
            t.append(x87.decimal(raw), style="dim" if empty else "bold")
            t.append("\n")
        self.update(t)


class StackPane(Pane, Static):
    """Words (16-bit stack) or dwords (32-bit stack) from SS:ESP upwards."""

    TITLE = "Stack"
    ENTRIES = 24

    def show(self, view):
        dbg = view.dbg
        ss = dbg.segment("ss")
        big = view.mode == "protected" and ss.access & 0x400000
        size = 4 if big else 2
        sp = view.regs["esp"] & (0xFFFFFFFF if big else 0xFFFF)
        t = Text(no_wrap=True)
        for k in range(self.ENTRIES):
            off = (sp + k * size) & (0xFFFFFFFF if big else 0xFFFF)
            lin = (ss.base + off) & 0xFFFFFFFF
            try:
                value = "%0*X" % (size * 2, dbg.read_int(lin, size))
            except DebugError:
                value = "-" * (size * 2)
            t.append("%04X:%0*X " % (view.regs["ss"], 8 if big else 4, off),
                     style="bold" if k == 0 else "dim")
            t.append(value + "\n")
        self.update(t)


# ===================================================================== memory

HEX_DIGIT = re.compile(r"^[0-9a-fA-F]$")


class MemoryPane(Pane, Widget, can_focus=True):
    """A hex dump of 16 bytes a line, linear or physical.  Arrows and PageUp/PageDown
    move; typing two hex digits writes the byte under the cursor; `p` switches between
    linear and physical addresses; `g` goes to an address (the Input above)."""

    TITLE = "Memory"
    ROWS = 16
    BINDINGS = [
        Binding("up", "cursor_by(-16)", "Up", show=False),
        Binding("down", "cursor_by(16)", "Down", show=False),
        Binding("left", "cursor_by(-1)", "Left", show=False),
        Binding("right", "cursor_by(1)", "Right", show=False),
        Binding("pageup", "cursor_by(-256)", "Page up", show=False),
        Binding("pagedown", "cursor_by(256)", "Page down", show=False),
        Binding("p", "toggle_space", "lin/phys", show=False),
        Binding("g", "goto", "Go to", show=False),
    ]

    class Goto(Message):
        pass

    def __init__(self, **kw):
        super().__init__(**kw)
        self.dbg = None
        self.address = 0              # of the first line
        self.cursor = 0               # the byte under the cursor (an address)
        self.space = "lin"
        self._nibble = None           # the high nibble typed so far
        self.error = None

    def set_debugger(self, dbg):
        self.dbg = dbg

    def goto(self, address, space=None):
        if space is not None:
            self.space = space
        self.cursor = address & 0xFFFFFFFF
        self.address = self.cursor & ~0xF
        self._nibble = None
        self.refresh()

    def show(self, view):
        self.dbg = view.dbg
        self.refresh()

    def action_cursor_by(self, delta):
        self.cursor = (self.cursor + delta) & 0xFFFFFFFF
        self._nibble = None
        if self.cursor < self.address:
            self.address = self.cursor & ~0xF
        elif self.cursor >= self.address + 16 * self.ROWS:
            self.address = (self.cursor & ~0xF) - 16 * (self.ROWS - 1)
        self.refresh()

    def action_toggle_space(self):
        self.space = "phys" if self.space == "lin" else "lin"
        self.refresh()

    def action_goto(self):
        self.post_message(self.Goto())

    def on_key(self, event):
        if event.character and HEX_DIGIT.match(event.character) and self.dbg is not None:
            event.stop()
            digit = int(event.character, 16)
            if self._nibble is None:
                self._nibble = digit
            else:
                value = self._nibble << 4 | digit
                self._nibble = None
                try:
                    self.dbg.write(self.cursor, bytes([value]), space=self.space)
                    self.error = None
                except DebugError as e:
                    self.error = str(e)
                self.action_cursor_by(1)
            self.refresh()

    def rows(self):
        """The dump as (address, bytes or None per byte) lines."""
        out = []
        for r in range(self.ROWS):
            base = (self.address + 16 * r) & 0xFFFFFFFF
            try:
                data = self.dbg.read(base, 16, space=self.space)
                out.append((base, list(data)))
            except DebugError:
                out.append((base, [None] * 16))
        return out

    def render(self):
        if self.dbg is None:
            return Text("")
        t = Text(no_wrap=True)
        t.append("%s  cursor %08X%s\n" % ("physical" if self.space == "phys" else "linear",
                                            self.cursor, "  " + self.error if self.error else ""),
                 style="bold")
        for base, data in self.rows():
            t.append("%s%08X  " % ("p:" if self.space == "phys" else "", base), style="cyan")
            for k, b in enumerate(data):
                at = (base + k) & 0xFFFFFFFF
                cell = "--" if b is None else "%02X" % b
                if at == self.cursor and self._nibble is not None:
                    cell = "%X_" % self._nibble
                t.append(cell, style=CURRENT if at == self.cursor and self.has_focus
                         else "underline" if at == self.cursor else "")
                t.append("  " if k == 7 else " ")
            t.append(" ")
            t.append("".join("." if b is None or not 32 <= b < 127 else chr(b) for b in data),
                     style="dim")
            t.append("\n")
        return t


def parse_address(dbg, text):
    """(address, space) from what the user typed in the memory pane's goto line:
    `p:ADDR` physical, `l:ADDR` or `ADDR` linear, `SEG:OFF` a segmented address.
    A bare run of hex digits is hex (as every hex dump reads it); anything else is an
    expression of the command language (`esi+4`, `0x100`)."""
    text = text.strip()
    space = "lin"
    low = text.lower()
    if low.startswith("p:") or low.startswith("l:"):
        space = "phys" if low[0] == "p" else "lin"
        text = text[2:].strip()

    def number(s):
        s = s.strip()
        if re.fullmatch(r"[0-9a-fA-F]+h?", s):
            return int(s.rstrip("hH"), 16)
        try:
            return int(dbg.evaluate(s))
        except Exception:
            return int(s, 0)

    if ":" in text:
        seg, off = text.split(":", 1)
        seg = seg.strip().lower()
        segv = seg if seg in ("cs", "ds", "es", "ss", "fs", "gs") else number(seg)
        return dbg.seg_to_linear(segv, number(off)), space
    return number(text) & 0xFFFFFFFF, space


# ===================================================================== the guest's screen

class ScreenPane(Pane, Static):
    """The guest's screen: text modes as characters in their attribute colours (blink
    shown as bright background off, as most emulators do), graphics modes as half-block
    cells (two pixels a cell, scaled to the pane).

    Focused (click it, or Tab to it), it passes the keyboard to the guest: every key the
    terminal reports becomes a press and release of the PS/2 keyboard (core/keys.py), the
    debugger's own keys (F5, F9, Ctrl+C ...) included.  Ctrl+] is the escape: then `d`
    sends Ctrl+Alt+Del, `q` or Esc gives the keyboard back to the debugger, and Ctrl+]
    sends Ctrl+] itself."""

    TITLE = "Screen"
    can_focus = True
    ESCAPE = "ctrl+right_square_bracket"

    class Keys(Message):
        """A keys-script line (core/keys.py) for the guest's keyboard."""

        def __init__(self, line):
            super().__init__()
            self.line = line

    class Release(Message):
        """Give the keyboard back to the debugger."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.escape_pending = False

    def on_focus(self, event):
        self.border_subtitle = "keys go to the guest: Ctrl+] then q releases, d Ctrl+Alt+Del"

    def on_blur(self, event):
        self.border_subtitle = ""
        self.escape_pending = False

    def on_key(self, event):
        event.stop()
        event.prevent_default()
        key = event.key
        if self.escape_pending:
            self.escape_pending = False
            if key == "d":
                self.post_message(self.Keys("key lctrl-lalt-delete"))
            elif key in ("q", "escape"):
                self.post_message(self.Release())
            elif key == self.ESCAPE:
                self.post_message(self.Keys("key lctrl-]"))
            return
        if key == self.ESCAPE:
            self.escape_pending = True
            return
        from core.keys import terminal_key
        line = terminal_key(key, event.character)
        if line is not None:
            self.post_message(self.Keys(line))

    def show_cells(self, rows):
        if rows is None:
            self.update(Text("(the VGA is in a graphics mode)", style="dim"))
            return
        t = Text(no_wrap=True)
        for row in rows:
            for ch, attr in row:
                fg, bg = TEXT_PALETTE[attr & 0xF], TEXT_PALETTE[(attr >> 4) & 0x7]
                t.append(ch if ch >= " " else " ", style="%s on %s" % (fg, bg))
            t.append("\n")
        self.update(t)

    def show_image(self, image):
        """A graphics-mode picture (rgb, width, height) as half blocks fitted to the pane."""
        cols = max(1, self.content_size.width or 80)
        rows = max(1, self.content_size.height or 25)
        self.update(half_blocks(image, cols, rows))


def half_blocks(image, cols, rows):
    """`image` (rgb bytes, width, height) scaled into cols x rows cells of "▀", each the
    upper pixel in the foreground colour over the lower one in the background (nearest
    neighbour, keeping the aspect ratio of a 4:3 screen of square-ish cells)."""
    rgb, width, height = image
    # A cell is about twice as tall as wide, and holds two pixel rows.
    scale = max(width / cols, height / (2 * rows))
    out_w, out_h = max(1, int(width / scale)), max(2, int(height / scale) // 2 * 2)
    t = Text(no_wrap=True)
    for cy in range(out_h // 2):
        for cx in range(out_w):
            x = min(width - 1, int(cx * scale))
            top = min(height - 1, int(2 * cy * scale)) * width + x
            bottom = min(height - 1, int((2 * cy + 1) * scale)) * width + x
            t.append("\u2580", style="#%s on #%s" % (rgb[3 * top:3 * top + 3].hex(),
                                                      rgb[3 * bottom:3 * bottom + 3].hex()))
        t.append("\n")
    return t


def screen_image(dbg):
    """The VGA's picture (rgb, width, height) in a graphics mode, else None."""
    pc = getattr(dbg, "pc", None)
    vga = pc.chips.get("vga") if pc is not None else None
    if vga is None or not hasattr(vga, "render") or vga.is_text_mode():
        return None
    return vga.render()


def screen_cells(dbg):
    """Rows of (character, attribute): from the VGA model when the machine has one, else
    the colour text buffer at 0xB8000 (80x25); None in a graphics mode."""
    pc = getattr(dbg, "pc", None)
    vga = pc.chips.get("vga") if pc is not None else None
    if vga is not None and hasattr(vga, "screen_cells"):
        rows = vga.screen_cells()
        return rows or None
    raw = dbg.read(0xB8000, 80 * 25 * 2, space="phys")
    chars = bytes(raw[0::2]).decode("cp437")
    return [[(chars[r * 80 + c], raw[2 * (r * 80 + c) + 1]) for c in range(80)]
            for r in range(25)]


# ===================================================================== lists and logs

class BreakpointsPane(Pane, DataTable):
    """Breakpoints, watchpoints and catchpoints.  Space toggles the one on the cursor,
    Delete removes it."""

    TITLE = "Breakpoints"
    BINDINGS = [Binding("space", "toggle", "Enable/disable", show=False),
                Binding("delete", "remove", "Delete", show=False)]

    class Changed(Message):
        pass

    def __init__(self, **kw):
        super().__init__(cursor_type="row", **kw)
        self.dbg = None
        self.ids = []

    def on_mount(self):
        super().on_mount()
        self.add_columns("Num", "Type", "Enb", "Hits", "What", "Condition")

    def show(self, view):
        self.dbg = view.dbg
        self.clear()
        self.ids = []
        for p in view.points:
            extra = ""
            if isinstance(p, Watchpoint) and p.old is not None:
                extra = "  old %x new %x" % (p.old, p.new if p.new is not None else 0)
            self.add_row(str(p.id), p.what, "y" if p.enabled else "n", str(p.hits),
                         p.describe() + extra, p.condition or "")
            self.ids.append(p.id)

    def _current(self):
        row = self.cursor_row
        return self.ids[row] if 0 <= row < len(self.ids) else None

    def action_toggle(self):
        pid = self._current()
        if pid is not None:
            self.dbg.enable(pid, not self.dbg.points[pid].enabled)
            self.post_message(self.Changed())

    def action_remove(self):
        pid = self._current()
        if pid is not None:
            self.dbg.delete(pid)
            self.post_message(self.Changed())


class TracePane(Pane, Static):
    """The last instructions executed by stepping, and where each run stopped."""

    TITLE = "Trace"

    def __init__(self, length=200, **kw):
        super().__init__(**kw)
        self.entries = deque(maxlen=length)

    def add(self, line):
        self.entries.append(line)

    def show_entries(self):
        self.update(Text("\n".join(self.entries) if self.entries else "(nothing yet)",
                         no_wrap=True))


class TextPane(Pane, Static):
    """A pane of plain text (device views, system tables)."""

    def __init__(self, title, **kw):
        super().__init__(**kw)
        self.TITLE = title

    def show_text(self, text):
        self.update(Text(text, no_wrap=True))


# ===================================================================== the command line

class CommandInput(Input):
    """The command line: Up/Down walk the history, Tab completes (the interpreter's
    `complete`), Enter runs."""

    BINDINGS = [
        Binding("up", "history(-1)", "Previous", show=False),
        Binding("down", "history(1)", "Next", show=False),
        Binding("tab", "complete", "Complete", show=False, priority=True),
    ]

    def __init__(self, complete=None, **kw):
        super().__init__(**kw)
        self.history = []
        self._pos = 0
        self._complete = complete

    def remember(self, line):
        if line and (not self.history or self.history[-1] != line):
            self.history.append(line)
        self._pos = len(self.history)

    def action_history(self, delta):
        if not self.history:
            return
        self._pos = max(0, min(len(self.history), self._pos + delta))
        self.value = self.history[self._pos] if self._pos < len(self.history) else ""
        self.cursor_position = len(self.value)

    def action_complete(self):
        if self._complete is None:
            return
        text = self.value
        try:
            options = list(self._complete(text))
        except Exception:
            options = []
        if not options:
            return
        # The interpreter may offer whole lines or completions of the last word.
        head = text[:len(text) - len(text.split(" ")[-1])]
        full = [o if o.startswith(text) else head + o for o in options]
        if len(full) == 1:
            self.value = full[0] if full[0].endswith(" ") else full[0] + " "
        else:
            common = _common_prefix(full)
            if len(common) > len(text):
                self.value = common
            self.app.notify("  ".join(o[len(head):] for o in full[:40]),
                            title="completions", timeout=4)
        self.cursor_position = len(self.value)


def _common_prefix(words):
    first, last = min(words), max(words)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    return first[:n]


# ===================================================================== help

KEYS = (
    ("F5", "continue (run until a breakpoint, Ctrl+C or the guest stops)"),
    ("F11 / F7", "step into: one instruction"),
    ("F10 / F8", "step over: calls, INT n and REP strings run to the next line"),
    ("Shift+F11", "finish: run until the current procedure returns"),
    ("F9 / Enter", "toggle a breakpoint on the disassembly line under the cursor"),
    ("click gutter", "toggle a breakpoint on that disassembly line"),
    ("Ctrl+C", "break: stop the running guest (never quits)"),
    (":", "go to the command line (Up/Down history, Tab completes)"),
    ("Escape", "leave the command line (back to the disassembly)"),
    ("g", "memory pane: go to an address (p:ADDR physical, SEG:OFF, expression)"),
    ("p", "memory pane: switch linear / physical"),
    ("0-9 a-f", "memory pane: type two hex digits to write the byte under the cursor"),
    ("Space / Del", "breakpoints pane: enable-disable / delete"),
    ("F1 / ?", "this help"),
    ("q / Ctrl+Q", "quit"),
)


class HelpScreen(ModalScreen):
    """The keys, and where the command language is described."""

    BINDINGS = [Binding("escape,q,f1,question_mark", "dismiss", "Close")]

    def compose(self):
        t = Text()
        t.append("cycle86 debugger: keys\n\n", style="bold")
        for key, what in KEYS:
            t.append("%-14s" % key, style="bold cyan")
            t.append(what + "\n")
        t.append("\nThe command line takes the Bochs-style commands (type `help`).\n"
                 "Escape closes this screen.", style="dim")
        yield Static(t, id="help-text")
