"""The debugger's command language: what Bochs users type by habit (docs/debugger.md).

One CommandInterpreter serves every front end: the REPL and batch scripts of
``cycle86 debug`` (debugger/cli.py), the TUI's command line and the gdb stub's ``monitor``
(both through execute_capture).  It only parses, formats and calls the controller
(debugger/controller.py); it never reaches into the CPU itself, so the three front ends
agree about what a breakpoint or a step is.

The commands are one table, COMMANDS: names, argument syntax, help text and handler.
Parsing, ``help`` and completion all read it.  ``info`` has its own small table of topics.
Every error is one line "error: ..." naming the bad argument; nothing raises out of
execute().
"""
from __future__ import annotations

import os
import shlex
from dataclasses import dataclass

from debugger import x87
from debugger.controller import (Breakpoint, Catchpoint, DebugError, Descriptor,
                                 EXCEPTION_NAMES, Watchpoint)
from debugger.trace import TraceError, TraceReader


class CommandError(Exception):
    """A command that cannot run as typed; the message names the bad argument."""


@dataclass(frozen=True)
class Cmd:
    names: tuple          # the first is the canonical name, the others aliases
    syntax: str           # the arguments, as shown by help
    help: str             # one line
    handler: str          # the CommandInterpreter method that runs it: handler(args_text)
    group: str
    repeat: bool = False  # an empty line repeats it (the run commands, as in gdb)


GROUPS = ("Execution", "Breakpoints and watchpoints", "CPU state", "Memory", "Devices",
          "Tracing", "Symbols and scripts", "Debugger")

COMMANDS = (
    # ---- execution
    Cmd(("c", "cont", "continue"), "", "continue until a breakpoint, watchpoint or "
        "catchpoint stops the guest, or Ctrl+C", "do_continue", "Execution", True),
    Cmd(("s", "step", "si", "stepi"), "[N]", "execute N instructions (default 1), into "
        "calls and interrupts", "do_step", "Execution", True),
    Cmd(("n", "next", "p"), "", "execute one instruction, stepping over CALL, INT n and "
        "REP string instructions", "do_next", "Execution", True),
    Cmd(("finish",), "", "run until the current procedure returns", "do_finish",
        "Execution", True),
    Cmd(("until",), "ADDR", "run until execution reaches ADDR (linear, or SEG:OFF)",
        "do_until", "Execution"),
    Cmd(("cycle", "run-to-cycle"), "N", "run until the clock reaches cycle N",
        "do_cycle", "Execution"),
    Cmd(("rs", "rsi", "reverse-stepi", "reverse-step"), "[N]", "go back N instructions "
        "(default 1): where step was N steps ago", "do_reverse_step", "Execution", True),
    Cmd(("rn", "reverse-next"), "", "go back one instruction, over a call or interrupt "
        "handler that just returned", "do_reverse_next", "Execution", True),
    Cmd(("rf", "reverse-finish"), "", "go back to the call of the current procedure",
        "do_reverse_finish", "Execution", True),
    Cmd(("rc", "reverse-continue"), "", "go back to the previous hit of a breakpoint, "
        "watchpoint or catchpoint (or the start of the history)", "do_reverse_continue",
        "Execution", True),
    Cmd(("record",), "[on [BUDGET]|off]", "record for reverse execution (snapshots within "
        "BUDGET bytes, default 1G); no argument: what is recorded", "do_record",
        "Execution"),
    # ---- points
    Cmd(("pb", "b", "break", "pbreak"), 'ADDR [if "EXPR"]', "breakpoint at a physical "
        "address (SEG:OFF and symbols are translated now)", "do_pbreak",
        "Breakpoints and watchpoints"),
    Cmd(("vb", "vbreak"), 'SEG:OFF [if "EXPR"]', "breakpoint at CS selector SEG and "
        "offset OFF", "do_vbreak", "Breakpoints and watchpoints"),
    Cmd(("lb", "lbreak"), 'ADDR [if "EXPR"]', "breakpoint at a linear address",
        "do_lbreak", "Breakpoints and watchpoints"),
    Cmd(("tb", "tbreak"), 'ADDR [if "EXPR"]', "temporary breakpoint (deleted when hit): "
        "vb for SEG:OFF, else lb", "do_tbreak", "Breakpoints and watchpoints"),
    Cmd(("blist",), "", "list breakpoints, watchpoints and catchpoints (info break)",
        "do_blist", "Breakpoints and watchpoints"),
    Cmd(("d", "del", "delete"), "[N...]", "delete points N (all of them without N)",
        "do_delete", "Breakpoints and watchpoints"),
    Cmd(("bpe", "enable"), "N...", "enable points N", "do_enable",
        "Breakpoints and watchpoints"),
    Cmd(("bpd", "disable"), "N...", "disable points N", "do_disable",
        "Breakpoints and watchpoints"),
    Cmd(("watch",), '[r|w|rw] [phys] ADDR [LEN] [if "EXPR"]', "watchpoint on LEN bytes "
        "(default 1) at a linear (or physical) address; no arguments: list watchpoints",
        "do_watch", "Breakpoints and watchpoints"),
    Cmd(("unwatch",), "[N...]", "delete watchpoints N (all watchpoints without N)",
        "do_unwatch", "Breakpoints and watchpoints"),
    Cmd(("catch",), "io PORT[-PORT] [in|out] | int N[-M] [KIND...] | mode | magic",
        "stop on I/O port access, interrupt/exception vector, mode switch, or xchg bx,bx",
        "do_catch", "Breakpoints and watchpoints"),
    Cmd(("modebp",), "", "toggle the mode-switch catchpoint (Bochs)", "do_modebp",
        "Breakpoints and watchpoints"),
    Cmd(("magic",), "on|off", "stop at the magic breakpoint xchg bx,bx (Bochs)", "do_magic",
        "Breakpoints and watchpoints"),
    # ---- CPU state
    Cmd(("r", "reg", "regs", "registers"), "", "general registers, EIP and EFLAGS",
        "do_registers", "CPU state"),
    Cmd(("sreg",), "", "segment registers with their descriptor caches, GDTR, IDTR",
        "do_sreg", "CPU state"),
    Cmd(("creg",), "", "control registers CR0, CR2, CR3, CR4, decoded", "do_creg",
        "CPU state"),
    Cmd(("dreg",), "", "debug registers DR0-DR3, DR6, DR7", "do_dreg", "CPU state"),
    Cmd(("fp", "fpu"), "", "the x87 FPU: status, control and tag words, pointers, "
        "opcode, R0-R7 with ST(i), tag and value", "do_fpu", "CPU state"),
    Cmd(("mmx",), "", "the MMX registers MM0-MM7 (the significands of the x87's R0-R7)",
        "do_mmx", "CPU state"),
    Cmd(("info",), "TOPIC [ARGS]", "cpu, eflags, fpu, mmx, break, gdt, idt, ldt, tss, tab, ivt, "
        "device, symbols, registers, bus (help info)", "do_info", "CPU state"),
    Cmd(("set",), "REG = EXPR", "set a register (also $REG); st0-st7 take a number "
        "(set st0 = 1.5)", "do_set", "CPU state"),
    Cmd(("print", "?", "calc"), "EXPR", "evaluate an expression: hex and decimal",
        "do_print", "CPU state"),
    Cmd(("ptime",), "", "cycles, instructions and guest time so far", "do_ptime",
        "CPU state"),
    Cmd(("print-stack",), "[N]", "N stack entries from SS:ESP (default 16)",
        "do_print_stack", "CPU state"),
    Cmd(("bt", "backtrace"), "[N]", "call stack by the (E)BP frame chain (at most N "
        "frames, default 16)", "do_backtrace", "CPU state"),
    # ---- memory
    Cmd(("x",), "[/NUF] ADDR", "examine memory at a linear address: N units of U "
        "(b h w g) in format F (x d u o t c s i)", "do_x", "Memory"),
    Cmd(("xp",), "[/NUF] ADDR", "examine memory at a physical address (as x)", "do_xp",
        "Memory"),
    Cmd(("u", "disasm", "disassemble"), "[/N] [ADDR] [bits 16|32]", "disassemble N "
        "instructions (default 10) from ADDR (default CS:EIP)", "do_disasm", "Memory"),
    Cmd(("setpmem",), "ADDR SIZE VALUE", "write VALUE as SIZE (1, 2 or 4) bytes at a "
        "physical address", "do_setpmem", "Memory"),
    Cmd(("writemem",), "FILE ADDR LEN", "save LEN bytes of linear memory to a host file",
        "do_writemem", "Memory"),
    Cmd(("loadmem",), "FILE ADDR", "load a host file into linear memory at ADDR",
        "do_loadmem", "Memory"),
    # ---- devices
    Cmd(("sendkey",), 'CHORD... | "TEXT"', "press and release keys on the guest's "
        "keyboard from now on: chords like ctrl-alt-delete, f1, enter; \"TEXT\" types "
        "(\\n is Enter)", "do_sendkey", "Devices"),
    Cmd(("screenshot",), "FILE", "save the guest's screen (text in its own font, VGA "
        "graphics, VBE) as a PNG file", "do_screenshot", "Devices"),
    # ---- tracing
    Cmd(("trace",), "on|off", "print each instruction as it executes", "do_trace",
        "Tracing"),
    Cmd(("trace-reg",), "on|off", "print the registers before each instruction",
        "do_trace_reg", "Tracing"),
    Cmd(("trace-mem",), "on|off", "print the memory each instruction writes",
        "do_trace_mem", "Tracing"),
    Cmd(("show",), "[int|mode|call|all|off]", "print a line at each interrupt, mode "
        "switch or call and keep running", "do_show", "Tracing"),
    # ---- symbols and scripts
    Cmd(("ldsym",), "[global] FILE [OFFSET]", "load symbols: an ELF file or a Bochs "
        "symbol file (\"ADDR NAME\" lines), OFFSET added", "do_ldsym",
        "Symbols and scripts"),
    Cmd(("slist",), "[PREFIX]", "list symbols (info symbols)", "do_slist",
        "Symbols and scripts"),
    Cmd(("source",), "FILE", "run the commands in FILE", "do_source",
        "Symbols and scripts"),
    # ---- the debugger
    Cmd(("snapshot",), "save|load|delete NAME | list", "save the whole machine to "
        "snapshots/NAME.c86snap (or a path), load one back, list or delete them",
        "do_snapshot", "Debugger"),
    Cmd(("help", "h"), "[COMMAND]", "list the commands, or describe one", "do_help",
        "Debugger"),
    Cmd(("q", "quit", "exit"), "", "leave the debugger", "do_quit", "Debugger"),
)

INFO_TOPICS = {
    # topic: (handler, syntax, help); aliases map to the same tuple below
    "cpu": ("info_cpu", "", "registers, segments, control and debug registers"),
    "registers": ("info_registers", "", "as r"),
    "eflags": ("info_eflags", "", "EFLAGS decoded"),
    "fpu": ("info_fpu", "", "the x87 FPU (as fp)"),
    "mmx": ("info_mmx", "", "the MMX registers (as mmx)"),
    "break": ("info_break", "", "breakpoints, watchpoints, catchpoints with hit counts"),
    "watch": ("info_watch", "", "watchpoints"),
    "gdt": ("info_gdt", "[N [M]]", "GDT entries (indexes N to M)"),
    "idt": ("info_idt", "[N [M]]", "IDT gates (vectors N to M)"),
    "ldt": ("info_ldt", "[N [M]]", "LDT entries"),
    "tss": ("info_tss", "", "the current task state segment"),
    "tab": ("info_tab", "", "page-table mappings, coalesced into ranges"),
    "ivt": ("info_ivt", "[N [M]]", "real-mode interrupt vectors as SEG:OFF"),
    "device": ("info_device", "[NAME]", "the machine's devices, or one device's state"),
    "symbols": ("info_symbols", "[PREFIX]", "loaded symbols"),
    "bus": ("info_bus", "", "the last instruction's clocks on the 8086/8088 bus model: "
            "ALE, address, segment, bus status, T-state, BHE#, queue operation"),
}
INFO_ALIASES = {"r": "registers", "reg": "registers", "regs": "registers", "b": "break",
                "breakpoints": "break", "dev": "device", "devices": "device",
                "symbol": "symbols", "sym": "symbols", "fp": "fpu", "float": "fpu",
                "clocks": "bus"}

GENERAL = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi")
SEGMENTS = ("es", "cs", "ss", "ds", "fs", "gs")
# EFLAGS as Bochs prints them: high bits first, set flags in upper case.
EFLAGS_BITS = (("id", 21), ("vip", 20), ("vif", 19), ("ac", 18), ("vm", 17), ("rf", 16),
               ("nt", 14), ("IOPL", 12), ("of", 11), ("df", 10), ("if", 9), ("tf", 8),
               ("sf", 7), ("zf", 6), ("af", 4), ("pf", 2), ("cf", 0))
CR0_BITS = (("pg", 31), ("cd", 30), ("nw", 29), ("am", 18), ("wp", 16), ("ne", 5),
            ("et", 4), ("ts", 3), ("em", 2), ("mp", 1), ("pe", 0))
CR4_BITS = (("osxmmexcpt", 10), ("osfxsr", 9), ("pce", 8), ("pge", 7), ("mce", 6),
            ("pae", 5), ("pse", 4), ("de", 3), ("tsd", 2), ("pvi", 1), ("vme", 0))
UNITS = {"b": 1, "h": 2, "w": 4, "g": 8}
FORMATS = "xduotcsi"
PER_LINE = {1: 8, 2: 8, 4: 4, 8: 2}
VECTOR_KIND_WORDS = {"exception": "exception", "exc": "exception", "software": "software",
                     "soft": "software", "hardware": "hardware", "hard": "hardware",
                     "irq": "hardware", "nmi": "nmi"}
SYSTEM_TYPES = {1: "16-Bit TSS (Available)", 2: "LDT", 3: "16-Bit TSS (Busy)",
                4: "16-Bit Call Gate", 5: "Task Gate", 6: "16-Bit Interrupt Gate",
                7: "16-Bit Trap Gate", 9: "32-Bit TSS (Available)", 0xB: "32-Bit TSS (Busy)",
                0xC: "32-Bit Call Gate", 0xE: "32-Bit Interrupt Gate",
                0xF: "32-Bit Trap Gate"}
# The run commands accept this many instructions per `s N` (a typo of a huge N should not
# hang the debugger for hours).
MAX_STEPS = 100_000_000


def _on_off(args, what):
    word = args.strip().lower()
    if word in ("on", "1", "yes"):
        return True
    if word in ("off", "0", "no"):
        return False
    raise CommandError("%s takes on or off, not %r" % (what, args.strip()))


def _split(args):
    """Words of an argument string; double quotes group (for `if "expr"`)."""
    try:
        return shlex.split(args, posix=True)
    except ValueError as e:
        raise CommandError("bad quoting: %s" % e) from None


def _split_condition(args):
    """('ADDR...', condition or None) from 'ADDR... if "EXPR"'."""
    words = args.split()
    for i, w in enumerate(words):
        if w == "if":
            head = " ".join(words[:i])
            tail = args[args.index(" if ") + 4:] if " if " in args else ""
            cond = tail.strip()
            if len(cond) >= 2 and cond[0] == cond[-1] and cond[0] in "\"'":
                cond = cond[1:-1]
            if not cond:
                raise CommandError("'if' needs a condition in quotes: if \"eax == 1\"")
            return head, cond
    return args.strip(), None


def _top_level_colon(text):
    """Index of a ':' outside brackets and parentheses, or -1."""
    depth = 0
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == ":" and depth == 0:
            return i
    return -1


def decode_descriptor(d):
    """One line for an 8-byte descriptor, in Bochs's words."""
    desc = Descriptor(d)
    lo, hi = d & 0xFFFFFFFF, d >> 32
    t = desc.type
    if not desc.present and (hi & 0x1F00) == 0:
        return "??? descriptor hi=0x%08x, lo=0x%08x" % (hi, lo)
    if not desc.system:
        if t & 8:
            parts = ["Code segment", "base=0x%08x" % desc.base, "limit=0x%08x" % desc.limit,
                     "Execute/Read" if t & 2 else "Execute-Only",
                     "Conforming" if t & 4 else "Non-Conforming"]
        else:
            parts = ["Data segment", "base=0x%08x" % desc.base, "limit=0x%08x" % desc.limit,
                     "Read/Write" if t & 2 else "Read-Only"]
            if t & 4:
                parts.append("Expand-down")
        if t & 1:
            parts.append("Accessed")
        if t & 8:
            parts.append("32-bit" if desc.big else "16-bit")
        text = ", ".join(parts)
    else:
        name = SYSTEM_TYPES.get(t)
        if name is None:
            return "??? descriptor hi=0x%08x, lo=0x%08x" % (hi, lo)
        if t in (4, 6, 7, 0xC, 0xE, 0xF):
            text = "%s target=0x%04x:0x%08x" % (name, desc.selector, desc.offset)
        elif t == 5:
            text = "%s target=0x%04x" % (name, desc.selector)
        else:
            text = "%s, base=0x%08x, limit=0x%08x" % (name, desc.base, desc.limit)
    text += ", DPL=%d" % desc.dpl
    if not desc.present:
        text += ", not present"
    return text


def format_eflags(value):
    words = []
    for name, bit in EFLAGS_BITS:
        if name == "IOPL":
            words.append("IOPL=%d" % ((value >> 12) & 3))
        else:
            words.append(name.upper() if value & (1 << bit) else name)
    return " ".join(words)


def _bits_words(value, table):
    return " ".join(n.upper() if value & (1 << b) else n for n, b in table)


# Bochs's names for the classes of an 80-bit value; ours has a few it lacks.
FPU_CLASSES = {"zero": "ZERO", "denormal": "DENORMAL", "normal": "NORMAL", "SNaN": "SNAN",
               "QNaN": "QNAN", "indefinite": "QNAN (indefinite)",
               "pseudo-denormal": "PSEUDO-DENORMAL", "unnormal": "UNNORMAL",
               "pseudo-NaN": "PSEUDO-NAN"}
BOCHS_PRECISION = ("32", "RES", "64", "80")      # PC by the format's total bits


def fpu_text(s):
    """The x87 state the way Bochs's `fp` prints it: the status word with TOP and every
    bit (upper case when set), the control word with RC, PC and the masks, the tag word,
    the last opcode ("operand", Bochs's label for FOP), FIP/FCS/FDP/FDS, then the eight
    physical registers FPi with the ST(i) each is (=> marks TOP), the tag (v valid,
    0 zero, s special, e empty), the raw value, its decimal value and its class.  The
    decimal is exact to 19 significant digits where Bochs prints a host double."""
    sw, cw = s.sw, s.cw

    def bit(mask, name):
        return name.upper() if sw & mask else name.lower()

    lines = ["status  word: 0x%04x: %s %s TOS%d %s %s %s %s %s %s" % (
        sw, bit(x87.SW_B, "b"), bit(x87.SW_C3, "c3"), s.top, bit(x87.SW_C2, "c2"),
        bit(x87.SW_C1, "c1"), bit(x87.SW_C0, "c0"), bit(x87.SW_ES, "es"),
        bit(x87.SW_SF, "sf"), _bits_words(sw, [(n.lower(), b) for n, b in x87.EXCEPTIONS]))]
    lines.append("control word: 0x%04x: %s RC_%s PC_%s %s" % (
        cw, "INF" if cw & x87.CW_IC else "inf", s.rounding.upper(),
        BOCHS_PRECISION[(cw >> 8) & 3], _bits_words(cw, [(n.lower(), b)
                                                          for n, b in x87.MASKS])))
    lines.append("tag word:     0x%04x" % s.tw)
    lines.append("operand:      0x%04x (last opcode %02X %02X)"
                 % ((s.fop,) + x87.last_opcode(s.fop)))
    lines.append("fip:          0x%08x" % s.fip)
    lines.append("fcs:          0x%04x" % s.fcs)
    lines.append("fdp:          0x%08x" % s.fdp)
    lines.append("fds:          0x%04x" % s.fds)
    for p in range(8):
        raw = s.regs[p]
        cls = x87.classify(raw)
        if cls in ("infinity", "pseudo-infinity"):
            name = ("-" if raw >> 79 & 1 else "+") + "INF" + ("" if cls == "infinity"
                                                              else " (pseudo)")
        else:
            name = FPU_CLASSES[cls]
        lines.append("%sFP%d ST%d(%s):        raw %s (%s) (%s)" % (
            "=>" if p == s.top else "  ", p, (p - s.top) & 7, "v0se"[s.tag(p)],
            x87.raw_text(raw), x87.decimal(raw), name))
    return "\n".join(lines)


def mmx_text(s):
    """MM0-MM7 the way Bochs's `info mmx` lists them, high and low doubleword: an MMX
    register is the low 64 bits of the physical register Ri, whatever TOP is [SDM vol. 1
    9.2.1]."""
    return "\n".join("MM[%d]: %08x_%08x" % (p, (s.regs[p] >> 32) & 0xFFFFFFFF,
                                            s.regs[p] & 0xFFFFFFFF) for p in range(8))


class CommandInterpreter:
    """Parse and run debugger commands against `debugger` (a controller.Debugger);
    `write(text)` receives each line of output (print by default)."""

    def __init__(self, debugger, write=print):
        self.dbg = debugger
        self.write = write
        self._by_name = {}
        for cmd in COMMANDS:
            for name in cmd.names:
                assert name not in self._by_name, name
                self._by_name[name] = cmd
        self.last_repeat = None          # the last run command line (an empty line repeats it)
        self.last_error = None
        self.tracing = False             # trace on
        self.trace_regs = False          # trace-reg on
        self.trace_mem = False           # trace-mem on
        self.show = set()                # "int", "mode", "call"
        self._show_points = {}           # what -> Catchpoint id (the show catchpoints)
        self._interrupted = False
        self._sources = []               # the scripts being sourced (recursion guard)
        self.max_cycles = None           # a budget for each continue (cycle86 debug)

    # ------------------------------------------------------------ the public API
    def execute(self, line):
        """Run one command line; False when the user asked to quit.  Errors are written
        as one line "error: ..." and recorded in last_error."""
        ok, quit_ = self._execute(line)
        return not quit_

    def execute_capture(self, line):
        """Run one command line and return what it printed (for the gdb stub's monitor
        and the TUI's command line)."""
        out = []
        saved = self.write
        self.write = out.append
        try:
            self._execute(line)
        finally:
            self.write = saved
        return "".join(s if s.endswith("\n") else s + "\n" for s in out)

    def run_script(self, path):
        """Run the commands in the file at `path` (blank lines and '#' comments skipped).
        Stops at the first failing command with "FILE:LINE: error: ..."; returns True
        when every command ran (a `quit` ends the script early and counts as success)."""
        if os.path.abspath(path) in self._sources:
            self.write("error: %s is already being sourced (a loop)" % path)
            self.last_error = "recursive source"
            return False
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()
        except OSError as e:
            self.last_error = "%s: %s" % (path, e.strerror or e)
            self.write("error: cannot read %s" % self.last_error)
            return False
        self._sources.append(os.path.abspath(path))
        try:
            for number, line in enumerate(lines, 1):
                text = line.strip()
                if not text or text.startswith("#"):
                    continue
                ok, quit_ = self._execute(text, script=(path, number))
                if not ok:
                    return False
                if quit_:
                    self.quit_requested = True
                    return True
            return True
        finally:
            self._sources.pop()

    quit_requested = False

    def complete(self, text):
        """Completions of the command line `text` (the whole line up to the cursor), as
        whole lines: command names for the first word, info topics after `info`,
        register and symbol names for the later words."""
        words = text.split(" ")
        last = words[-1]
        head = text[:len(text) - len(last)]
        if len(words) == 1:
            names = sorted(self._by_name)
        elif words[0] in ("info",) and len(words) == 2:
            names = sorted(set(INFO_TOPICS) | set(INFO_ALIASES))
        elif words[0] in ("help", "h") and len(words) == 2:
            names = sorted(self._by_name)
        else:
            from core.cpu import REGISTER_NAMES
            regs = [n.rstrip("_") for n in REGISTER_NAMES] + ["ldtr", "tr"]
            if self.dbg.fpu is not None:
                regs += list(x87.NAMES)
            prefix = "$" if last.startswith("$") else ""
            names = [prefix + r for r in regs] + self._symbol_names()
        return [head + n for n in names if n.startswith(last)]

    def help(self, topic=None):
        """The help text: all commands by group, or one command (or info topic)."""
        if topic:
            topic = topic.strip()
            words = topic.split()
            if words[0] == "info" and len(words) > 1:
                t = INFO_ALIASES.get(words[1], words[1])
                if t not in INFO_TOPICS:
                    raise CommandError("no info topic %r (help info lists them)" % words[1])
                _, syntax, text = INFO_TOPICS[t]
                return "info %s %s\n    %s" % (t, syntax, text)
            cmd = self._by_name.get(words[0])
            if cmd is None:
                raise CommandError("no command %r (help lists them)" % words[0])
            lines = ["%s %s" % (cmd.names[0], cmd.syntax) if cmd.syntax else cmd.names[0],
                     "    " + cmd.help]
            if len(cmd.names) > 1:
                lines.append("    aliases: " + ", ".join(cmd.names[1:]))
            if cmd.repeat:
                lines.append("    an empty line repeats it")
            if cmd.names[0] == "info":
                for name, (_, syntax, text) in INFO_TOPICS.items():
                    lines.append("    info %-20s %s" % ((name + " " + syntax).strip(), text))
            return "\n".join(lines)
        lines = []
        for group in GROUPS:
            lines.append(group + ":")
            for cmd in COMMANDS:
                if cmd.group == group:
                    usage = "%s %s" % ("|".join(cmd.names), cmd.syntax)
                    lines.append("  %-36s %s" % (usage.strip(), cmd.help))
        lines.append("Addresses and values are expressions: numbers (0x hex), registers, "
                     "symbols, SEG:OFF, [memory]. 'help CMD' for one command.")
        return "\n".join(lines)

    def interrupt(self):
        """Stop a running command at the next instruction (Ctrl+C; signal-handler safe)."""
        self._interrupted = True
        self.dbg.request_break()

    # ------------------------------------------------------------ dispatch
    def _execute(self, line, script=None):
        """(ok, quit) for one command line."""
        self.last_error = None
        text = line.strip()
        if not text:
            if self.last_repeat is None or script is not None:
                return True, False
            text = self.last_repeat
        if text.startswith("#"):
            return True, False
        name, _, args = text.partition(" ")
        cmd = self._by_name.get(name)
        if cmd is None:
            # "x/4bx 0x500" and "u/10": the /NUF option glued to the command name.
            head, slash, rest = name.partition("/")
            if slash and head in self._by_name:
                cmd = self._by_name[head]
                args = "/" + rest + (" " + args if args else "")
        if cmd is None:
            return self._fail("unknown command %r (help lists the commands)" % name, script)
        if cmd.repeat:
            self.last_repeat = text
        try:
            result = getattr(self, cmd.handler)(args.strip())
        except (CommandError, DebugError) as e:
            return self._fail(str(e), script)
        except KeyboardInterrupt:
            return self._fail("interrupted", script)
        except Exception as e:             # noqa: BLE001 - a front end must survive
            from debugger import expr
            if isinstance(e, expr.ExprError):
                return self._fail(str(e), script)
            if isinstance(e, OSError):
                return self._fail("%s: %s" % (e.filename or "", e.strerror or e), script)
            return self._fail("%s: %s: %s" % (cmd.names[0], type(e).__name__, e), script)
        return True, result is QUIT

    def _fail(self, message, script):
        self.last_error = message
        if script is not None:
            self.write("%s:%d: error: %s" % (script[0], script[1], message))
        else:
            self.write("error: " + message)
        return False, False

    def _out(self, text):
        for line in text.split("\n"):
            self.write(line)

    # ------------------------------------------------------------ argument helpers
    def value(self, text, what="value"):
        """An expression's value; CommandError naming `text` if it does not evaluate."""
        from debugger import expr
        text = text.strip()
        if not text:
            raise CommandError("missing %s" % what)
        try:
            v = self.dbg.evaluate(text)
        except expr.ExprError as e:
            raise CommandError("bad %s %r: %s" % (what, text, e)) from None
        except KeyError as e:
            raise CommandError("bad %s %r: unknown name %s" % (what, text, e)) from None
        if isinstance(v, bool):
            v = int(v)
        if not isinstance(v, int):
            raise CommandError("bad %s %r: not an integer" % (what, text))
        return v

    def count(self, text, what="count", default=None, low=1, high=MAX_STEPS):
        if not text.strip():
            if default is None:
                raise CommandError("missing %s" % what)
            return default
        n = self.value(text, what)
        if not low <= n <= high:
            raise CommandError("%s %r must be %d to %d" % (what, text.strip(), low, high))
        return n

    def seg_off(self, text):
        """(selector, offset) from 'SEG:OFF', or None when `text` has no top-level colon."""
        i = _top_level_colon(text)
        if i < 0:
            return None
        seg_text, off_text = text[:i].strip(), text[i + 1:].strip()
        if seg_text.lower() in SEGMENTS:
            seg = self.dbg.register(seg_text.lower())
        else:
            seg = self.value(seg_text, "segment")
        if not 0 <= seg <= 0xFFFF:
            raise CommandError("segment %r is not a 16-bit selector" % seg_text)
        return seg, self.value(off_text, "offset") & 0xFFFFFFFF

    def linear(self, text, what="address"):
        """A linear address: an expression, or SEG:OFF through the segment's base."""
        so = self.seg_off(text)
        if so is not None:
            try:
                return self.dbg.seg_to_linear(*so)
            except DebugError as e:
                raise CommandError("bad %s %r: %s" % (what, text.strip(), e)) from None
        return self.value(text, what) & 0xFFFFFFFF

    def physical(self, text):
        lin = self.linear(text)
        if _top_level_colon(text) < 0 and not self._names_symbol(text):
            return lin                   # a number is already physical
        p = self.dbg.translate(lin)
        if p is None:
            raise CommandError("address %r (linear 0x%08x) is not mapped" % (text.strip(), lin))
        return p

    def _names_symbol(self, text):
        t = text.strip()
        return t.isidentifier() and self._symbol(t) is not None

    def _symbol(self, name):
        try:
            return self.dbg.symbols.lookup(name)
        except Exception:                # noqa: BLE001 - any table error means "no"
            return None

    def _symbol_names(self):
        try:
            return list(self.dbg.symbols.names())
        except Exception:                # noqa: BLE001 - completion must not fail
            return []

    def _symbol_items(self):
        """(address, name) pairs of the loaded symbols, sorted by address."""
        return [(s.address, s.name) for s in self.dbg.symbols.symbols()]

    def context(self, linear):
        """'name+0x10' for an address near a symbol, else None."""
        try:
            near = self.dbg.symbols.nearest(linear)
        except Exception:                # noqa: BLE001
            return None
        if not near:
            return None
        name, off = near
        return name if off == 0 else "%s+0x%x" % (name, off)

    # ------------------------------------------------------------ instruction lines
    def _decode_at(self, cs_selector, cs_base, offset, bits, count=1):
        from debugger import disasm
        mask = 0xFFFF if bits == 16 else 0xFFFFFFFF
        want = 15 * count
        code = bytearray()
        # Read page by page: a line may end where memory stops being mapped.
        off = offset & mask
        while len(code) < want:
            lin = (cs_base + off) & 0xFFFFFFFF
            n = min(want - len(code), 0x1000 - (lin & 0xFFF))
            if bits == 16:
                n = min(n, 0x10000 - off)
            try:
                code += self.dbg.read(lin, n)
            except DebugError:
                break
            off = (off + n) & mask
        if not code:
            raise CommandError("linear address 0x%08x is not mapped"
                               % ((cs_base + offset) & 0xFFFFFFFF))
        return disasm.disassemble(bytes(code), offset & mask, bits=bits, count=count,
                                  linear_base=cs_base)

    def _insn_text(self, insn, cs, bits):
        where = ("%04x:%04x" % (cs, insn.address) if bits == 16
                 else "%04x:%08x" % (cs, insn.address))
        return where, "%s ; %s" % (insn.text, insn.bytes.hex())

    def next_line(self):
        """Bochs's line for the instruction about to execute:
        "(0) [0x000000007c00] 0000:7c00 (unk. ctxt): mov ax, 0x7c0 ; b8c007"."""
        dbg = self.dbg
        cs = dbg.segment("cs")
        bits = dbg.code_bits()
        eip = dbg.register("eip") & (0xFFFF if bits == 16 and dbg.mode() != "protected"
                                      else 0xFFFFFFFF)
        lin = (cs.base + eip) & 0xFFFFFFFF
        phys = dbg.translate(lin)
        ctxt = self.context(lin) or "unk. ctxt"
        phys_text = "0x%012x" % phys if phys is not None else "(unmapped)"
        try:
            insn = self._decode_at(cs.selector, cs.base, eip, bits)[0]
        except CommandError as e:
            return "(0) [%s] %04x:%04x (%s): ??? (%s)" % (phys_text, cs.selector, eip, ctxt, e)
        where, text = self._insn_text(insn, cs.selector, bits)
        return "(0) [%s] %s (%s): %s" % (phys_text, where, ctxt, text)

    def report_stop(self, event):
        if event.reason != "step" and event.message:
            self._out(str(event.message))
        self.write("Next at t=%d" % self.dbg.clock.now)
        self.write(self.next_line())

    # ------------------------------------------------------------ running the guest
    def _slow_path(self):
        """Whether execution must go one instruction at a time (trace, show call)."""
        return self.tracing or self.trace_regs or self.trace_mem or "call" in self.show

    def _run(self, action, step_count=None):
        """Run the guest by `action` (a controller method, no arguments), handling the
        show catchpoints (print and go on) and the tracing modes (one step at a time);
        then report where it stopped."""
        self._interrupted = False
        if self._slow_path():
            event = self._run_slowly(action, step_count)
        else:
            while True:
                event = action()
                if not self._shown(event) or self._interrupted:
                    break
                if step_count is not None:
                    # A show catchpoint ended a step early: the instruction still ran.
                    step_count -= 1
                    if step_count <= 0:
                        break
                    action = lambda n=step_count: self.dbg.step(n)  # noqa: E731
        self.report_stop(event)
        return event

    def _shown(self, event):
        """Print the line for a show catchpoint; True if the event was only that."""
        point = event.point
        if point is None or point.id not in self._show_points.values():
            return False
        d = event.details or {}
        if point.on == "vector":
            vector = d.get("vector", "?")
            name = EXCEPTION_NAMES.get(vector, "") if isinstance(vector, int) else ""
            kind = d.get("kind", "")
            self.write("show int: t=%d vector 0x%s%s%s, handler at %s" % (
                event.cycle, "%02x" % vector if isinstance(vector, int) else vector,
                " (%s)" % kind if kind else "", " %s" % name if name and kind == "exception"
                else "", self.dbg.location()))
        elif point.on == "mode":
            self.write("show mode: t=%d switched to %s mode%s, now at %s" % (
                event.cycle, self.dbg.mode(), ", paging on" if self.dbg.paging() else "",
                self.dbg.location()))
        return True

    def _run_slowly(self, action, step_count):
        """Single-step with the trace output, until what `action` would stop at.

        `action` is one of the controller's run methods; its stop condition is rebuilt
        here from the instruction stream: step N counts, continue runs to any other stop,
        next/finish/until/cycle stop where the controller's own method would."""
        dbg = self.dbg
        target = self._slow_target
        steps = 0
        start_esp = dbg.register("esp")
        while True:
            if self._interrupted:
                return self._break_event()
            if steps:
                # step(1) never stops at a breakpoint where it starts (that is where the
                # user already is), so a run made of single steps checks them itself.
                bp = dbg.breakpoint_stop()
                if bp is not None:
                    return bp
            if "call" in self.show or self.tracing or self.trace_regs:
                self._trace_before()
            before = self._mem_snapshot() if self.trace_mem else None
            if self.trace_mem and before is None and not self._mem_warned:
                self._mem_warned = True
                self.write("trace-mem: a trace file is being recorded; memory writes go "
                           "there")
            before_step = getattr(target, "before", None)
            if before_step is not None:
                before_step()
            event = dbg.step(1)
            steps += 1
            if before is not None:
                self._trace_after(before)
            if event.reason != "step":
                if self._shown(event):
                    if step_count is not None and steps >= step_count:
                        return event
                    continue
                return event
            if step_count is not None and steps >= step_count:
                return event
            if target is not None and target(start_esp):
                return event

    _slow_target = None
    _mem_warned = False

    def _break_event(self):
        from debugger.controller import StopEvent
        cs = self.dbg.segment("cs")
        return StopEvent("break", "stopped by request", cycle=self.dbg.clock.now,
                         cs=cs.selector, eip=self.dbg.register("eip"),
                         linear=self.dbg.current_linear(), mode=self.dbg.mode())

    def _trace_before(self):
        dbg = self.dbg
        if self.trace_regs:
            self._out(self._registers_text())
        line = self.next_line()
        if self.tracing:
            self.write("[t=%d] %s" % (dbg.clock.now, line[4:]))
        if "call" in self.show:
            cs = dbg.segment("cs")
            bits = dbg.code_bits()
            try:
                insn = self._decode_at(cs.selector, cs.base, dbg.register("eip"), bits)[0]
            except CommandError:
                return
            if insn.is_call:
                where, _ = self._insn_text(insn, cs.selector, bits)
                self.write("show call: t=%d %s %s" % (dbg.clock.now, where, insn.text))

    def _mem_snapshot(self):
        """Start collecting the CPU's trace entries for one instruction (trace-mem), unless
        a trace file is being recorded (the controller owns the stream then)."""
        if self.dbg.trace is not None:
            return None
        cpu = self.dbg.cpu
        cpu.trace_take()
        cpu.trace_start()
        return True

    def _trace_after(self, before):
        cpu = self.dbg.cpu
        cpu.trace_stop()
        for lin, phys, size, value in _memory_writes(cpu.trace_take()):
            self.write("  mem write: lin 0x%08x phys 0x%08x size %d value 0x%0*x"
                       % (lin, phys, size, 2 * size, value))

    # ---- the run commands
    def do_continue(self, args):
        if args:
            raise CommandError("continue takes no arguments (got %r)" % args)
        budget = self.max_cycles
        self._slow_target = None
        return self._run(lambda: self.dbg.cont(max_cycles=budget) if budget
                         else self.dbg.cont())

    def do_step(self, args):
        n = self.count(args, "step count", default=1)
        self._slow_target = None
        if self._slow_path():
            return self._run(lambda: self.dbg.step(1), step_count=n)
        return self._run(lambda: self.dbg.step(n), step_count=n)

    def _current_insn(self):
        dbg = self.dbg
        cs = dbg.segment("cs")
        try:
            return self._decode_at(cs.selector, cs.base, dbg.register("eip"),
                                   dbg.code_bits())[0]
        except CommandError:
            return None

    def do_next(self, args):
        if args:
            raise CommandError("next takes no arguments (got %r)" % args)
        self._slow_target = None
        if not self._slow_path():
            return self._run(self.dbg.next)
        insn = self._current_insn()
        if insn is None or not (insn.is_call or insn.is_int or insn.is_rep_string):
            return self._run(self.dbg.next, step_count=1)
        # Traced: single-step through the call to the instruction after it, back at the
        # same stack depth (recursion passes that address deeper first).
        cs = self.dbg.segment("cs")
        after = (cs.base + insn.next_address) & 0xFFFFFFFF
        ss = self.dbg.register("ss")
        self._slow_target = lambda esp0: self.dbg.current_linear() == after and (
            self.dbg.register("ss") != ss or self.dbg.register("esp") >= esp0)
        try:
            return self._run(self.dbg.next)
        finally:
            self._slow_target = None

    def do_finish(self, args):
        if args:
            raise CommandError("finish takes no arguments (got %r)" % args)
        self._slow_target = None
        if not self._slow_path():
            return self._run(self.dbg.finish)
        # Traced: stop after a return that leaves the stack above where it is now.
        ss = self.dbg.register("ss")
        state = {"ret": False}

        def returned(esp0):
            return state["ret"] and (self.dbg.register("ss") != ss
                                     or self.dbg.register("esp") > esp0)
        returned.before = lambda: state.update(ret=bool(
            (self._current_insn() or _NOT_RETURN).is_return))
        self._slow_target = returned
        try:
            return self._run(self.dbg.finish)
        finally:
            self._slow_target = None

    # ------------------------------------------------------------ reverse execution
    def _reverse(self, action):
        try:
            event = action()
        except DebugError as e:
            raise CommandError(str(e)) from None
        self.report_stop(event)
        return event

    def do_reverse_step(self, args):
        n = self.count(args, "step count", default=1)
        return self._reverse(lambda: self.dbg.reverse_step(n))

    def do_reverse_next(self, args):
        if args:
            raise CommandError("reverse-next takes no arguments (got %r)" % args)
        return self._reverse(self.dbg.reverse_next)

    def do_reverse_finish(self, args):
        if args:
            raise CommandError("reverse-finish takes no arguments (got %r)" % args)
        return self._reverse(self.dbg.reverse_finish)

    def do_reverse_continue(self, args):
        if args:
            raise CommandError("reverse-continue takes no arguments (got %r)" % args)
        return self._reverse(self.dbg.reverse_continue)

    def do_record(self, args):
        words = _split(args)
        dbg = self.dbg
        if not words:
            h = dbg.history
            if h is None:
                self.write("not recording for reverse execution (record on)")
                return
            first = h.snapshots[0]
            self.write("recording for reverse execution since cycle %d: %d snapshots, "
                       "%.1f MiB of %.0f MiB, %d host inputs journalled"
                       % (first.cycle, len(h.snapshots), h.memory() / 2**20,
                          h.budget / 2**20, len(h.inputs)))
            return
        if words[0] == "off":
            dbg.record(False)
            self.write("reverse execution off; its history is dropped")
            return
        if words[0] != "on" or len(words) > 2:
            raise CommandError("record on [BUDGET] | off")
        budget = None
        if len(words) == 2:
            from core.cli import memory_size as parse_size
            try:
                budget = parse_size(words[1])
            except Exception:
                raise CommandError("bad memory budget %r (e.g. 512M, 2G)" % words[1]) from None
        try:
            dbg.record(True, budget=budget)
        except DebugError as e:
            raise CommandError(str(e)) from None
        self.write("recording for reverse execution from cycle %d" % dbg.clock.now)

    SNAPSHOT_DIR = "snapshots"

    def _snapshot_path(self, name):
        import os
        if os.sep in name or name.endswith(".c86snap"):
            return name
        return os.path.join(self.SNAPSHOT_DIR, name + ".c86snap")

    def do_snapshot(self, args):
        import os
        from core import snapshot
        words = _split(args)
        if not words or words[0] not in ("save", "load", "list", "delete", "rm"):
            raise CommandError("snapshot save|load|delete NAME, or snapshot list")
        action = words[0]
        target = self.dbg.pc or self.dbg.machine
        if action == "list":
            folder = words[1] if len(words) > 1 else self.SNAPSHOT_DIR
            try:
                names = sorted(n for n in os.listdir(folder) if n.endswith(".c86snap"))
            except OSError:
                names = []
            if not names:
                self.write("no snapshots in %s/" % folder)
            for n in names:
                path = os.path.join(folder, n)
                try:
                    meta = snapshot.read_meta(path)
                    self.write("%-20s cycle %d, %d instructions, %s, %s%s" % (
                        n[:-8], meta.get("cycle", 0), meta.get("icount", 0),
                        meta.get("model", "?"), meta.get("created", "?"),
                        (": " + meta["description"]) if meta.get("description") else ""))
                except snapshot.SnapshotError as e:
                    self.write("%-20s %s" % (n[:-8], e))
            return
        if len(words) < 2:
            raise CommandError("snapshot %s needs NAME" % action)
        path = self._snapshot_path(words[1])
        try:
            if action == "save":
                folder = os.path.dirname(path)
                if folder:
                    os.makedirs(folder, exist_ok=True)
                size = snapshot.save(target, path, " ".join(words[2:]))
                self.write("saved the machine at cycle %d to %s (%d bytes)"
                           % (self.dbg.clock.now, path, size))
            elif action == "load":
                snapshot.restore(target, snapshot.load(path), path)
                if self.dbg.history is not None:
                    self.dbg.record(True, budget=self.dbg.history.budget)   # a new timeline
                self.write("loaded %s: now at cycle %d" % (path, self.dbg.clock.now))
                self.write(self.next_line())
            else:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    raise CommandError("%s: no such snapshot" % path) from None
                self.write("deleted %s" % path)
        except snapshot.SnapshotError as e:
            raise CommandError(str(e)) from None

    def do_until(self, args):
        lin = self.linear(args)
        self._slow_target = lambda _esp: self.dbg.current_linear() == lin
        try:
            return self._run(lambda: self.dbg.until(lin))
        finally:
            self._slow_target = None

    def do_cycle(self, args):
        n = self.count(args, "cycle", low=0, high=1 << 62)
        if n <= self.dbg.clock.now:
            raise CommandError("cycle %d is not in the future (now t=%d)"
                               % (n, self.dbg.clock.now))
        self._slow_target = lambda _esp: self.dbg.clock.now >= n
        try:
            return self._run(lambda: self.dbg.run_to_cycle(n))
        finally:
            self._slow_target = None

    # ------------------------------------------------------------ points
    def _new_break(self, kind, args, temporary=False):
        where, cond = _split_condition(args)
        if not where:
            raise CommandError("missing address")
        symbol = where if self._names_symbol(where) else None
        if kind == "virt":
            so = self.seg_off(where)
            if so is None:
                raise CommandError("vb needs SEG:OFF, not %r" % where)
            p = self.dbg.break_at("virt", so[1], segment=so[0], condition=cond,
                                  temporary=temporary, symbol=symbol)
        elif kind == "lin":
            p = self.dbg.break_at("lin", self.linear(where), condition=cond,
                                  temporary=temporary, symbol=symbol)
        else:
            p = self.dbg.break_at("phys", self.physical(where), condition=cond,
                                  temporary=temporary, symbol=symbol)
        self.write("%s %d: %s%s" % ("Temporary breakpoint" if temporary else "Breakpoint",
                                    p.id, p.describe(),
                                    ' if "%s"' % cond if cond else ""))
        return p

    def do_pbreak(self, args):
        self._new_break("phys", args.lstrip("*").strip())

    def do_vbreak(self, args):
        self._new_break("virt", args)

    def do_lbreak(self, args):
        self._new_break("lin", args)

    def do_tbreak(self, args):
        where, _ = _split_condition(args)
        kind = "virt" if _top_level_colon(where) >= 0 else "lin"
        self._new_break(kind, args, temporary=True)

    def do_blist(self, args):
        self.info_break(args)

    def _ids(self, args, what):
        words = args.replace(",", " ").split()
        ids = []
        for w in words:
            try:
                ids.append(int(w, 0))
            except ValueError:
                raise CommandError("%s: %r is not a point number" % (what, w)) from None
        return ids

    def do_delete(self, args):
        ids = self._ids(args, "delete")
        if not ids:
            shown = set(self._show_points.values())
            for p in self.dbg.list_points():
                if p.id not in shown:
                    self.dbg.delete(p.id)
            self.write("Deleted all breakpoints, watchpoints and catchpoints")
            return
        for i in ids:
            self._user_point(i)
            self.dbg.delete(i)

    def _user_point(self, i):
        if i in self._show_points.values():
            raise CommandError("point %d belongs to 'show' (use show off)" % i)
        for p in self.dbg.list_points():
            if p.id == i:
                return p
        raise CommandError("no breakpoint, watchpoint or catchpoint number %d" % i)

    def do_enable(self, args):
        ids = self._ids(args, "bpe")
        if not ids:
            raise CommandError("bpe needs a point number (info break lists them)")
        for i in ids:
            self._user_point(i)
            self.dbg.enable(i, True)

    def do_disable(self, args):
        ids = self._ids(args, "bpd")
        if not ids:
            raise CommandError("bpd needs a point number (info break lists them)")
        for i in ids:
            self._user_point(i)
            self.dbg.enable(i, False)

    def do_watch(self, args):
        head, cond = _split_condition(args)
        words = head.split()
        if not words:
            self.info_watch("")
            return
        access = "w"
        space = "lin"
        access_words = {"r": "r", "read": "r", "w": "w", "write": "w", "rw": "rw",
                        "a": "rw", "access": "rw"}
        if words and words[0].lower() in access_words:
            access = access_words[words.pop(0).lower()]
        if words and words[0].lower() in ("phys", "p", "physical", "lin", "linear"):
            space = "phys" if words.pop(0).lower().startswith("p") else "lin"
        if not words:
            raise CommandError("watch needs an address")
        if len(words) > 2:
            raise CommandError("watch takes ADDR [LEN], not %r" % " ".join(words))
        addr = self.linear(words[0]) if space == "lin" else self.value(words[0], "address")
        length = self.count(words[1] if len(words) > 1 else "", "length", default=1,
                            high=0x100000)
        p = self.dbg.watch(space, addr, length, access, condition=cond)
        self.write("Watchpoint %d: %s%s" % (p.id, p.describe(),
                                            ' if "%s"' % cond if cond else ""))

    def do_unwatch(self, args):
        ids = self._ids(args, "unwatch")
        watches = [p for p in self.dbg.list_points() if isinstance(p, Watchpoint)]
        if not ids:
            for p in watches:
                self.dbg.delete(p.id)
            self.write("Deleted %d watchpoint%s" % (len(watches), "" if len(watches) == 1
                                                     else "s"))
            return
        for i in ids:
            if not any(p.id == i for p in watches):
                raise CommandError("no watchpoint number %d" % i)
            self.dbg.delete(i)

    def _range(self, text, what, high):
        first_text, dash, last_text = text.partition("-")
        first = self.value(first_text, what)
        last = self.value(last_text, what) if dash else first
        if not 0 <= first <= last <= high:
            raise CommandError("%s range %r must be 0 to 0x%x, first <= last"
                               % (what, text, high))
        return first, last

    def do_catch(self, args):
        head, cond = _split_condition(args)
        words = head.split()
        if not words:
            raise CommandError("catch what? io PORT[-PORT] [in|out], int N[-M] [KIND...], "
                               "mode or magic")
        what = words[0].lower()
        if what == "io":
            if len(words) < 2:
                raise CommandError("catch io needs a port or PORT-PORT")
            first, last = self._range(words[1], "port", 0xFFFF)
            access = "rw"
            if len(words) > 2:
                access = {"in": "r", "r": "r", "read": "r", "out": "w", "w": "w",
                          "write": "w", "inout": "rw", "rw": "rw"}.get(words[2].lower())
                if access is None or len(words) > 3:
                    raise CommandError("catch io: %r is not in or out" % words[2])
            p = self.dbg.catch_io(first, last, access, condition=cond)
        elif what in ("int", "vector", "interrupt", "exception"):
            if len(words) < 2:
                raise CommandError("catch int needs a vector or N-M")
            first, last = self._range(words[1], "vector", 255)
            kinds = []
            for w in words[2:]:
                k = VECTOR_KIND_WORDS.get(w.lower())
                if k is None:
                    raise CommandError("catch int: %r is not exception, software, hardware "
                                       "or nmi" % w)
                kinds.append(k)
            if what == "exception" and not kinds:
                kinds = ["exception"]
            kw = {"kinds": tuple(kinds)} if kinds else {}
            p = self.dbg.catch_vector(first, last, condition=cond, **kw)
        elif what == "mode":
            p = self.dbg.catch_mode()
        elif what == "magic":
            p = self._catch_magic()
        else:
            raise CommandError("catch: %r is not io, int, mode or magic" % words[0])
        self.write("Catchpoint %d: %s" % (p.id, p.describe()))

    def _catch_magic(self):
        self.dbg.magic_enabled = True
        for p in self.dbg.list_points():
            if isinstance(p, Catchpoint) and p.on == "magic":
                return p
        return self.dbg.catch_magic()

    def do_modebp(self, args):
        for p in self.dbg.list_points():
            if isinstance(p, Catchpoint) and p.on == "mode":
                self.dbg.delete(p.id)
                self.write("mode switch break disabled")
                return
        self.dbg.catch_mode()
        self.write("mode switch break enabled")

    def do_magic(self, args):
        if _on_off(args, "magic"):
            self._catch_magic()
            self.write("magic breakpoint (xchg bx,bx) on")
        else:
            self.dbg.magic_enabled = False
            for p in self.dbg.list_points():
                if isinstance(p, Catchpoint) and p.on == "magic":
                    self.dbg.delete(p.id)
            self.write("magic breakpoint (xchg bx,bx) off")

    def info_break(self, args):
        shown = set(self._show_points.values())
        points = [p for p in self.dbg.list_points() if p.id not in shown]
        if not points:
            self.write("No breakpoints, watchpoints or catchpoints.")
            return
        self.write("Num Type           Disp Enb Address            What")
        for p in points:
            if isinstance(p, Breakpoint):
                kind = {"phys": "pbreakpoint", "lin": "lbreakpoint",
                        "virt": "vbreakpoint"}[p.kind]
                address = ("%04x:%08x" % (p.segment, p.address) if p.kind == "virt"
                           else "0x%08x" % p.address)
                what = "<%s>" % p.symbol if p.symbol else (self.context(p.address) or ""
                                                           if p.kind != "phys" else "")
            elif isinstance(p, Watchpoint):
                kind = {"r": "rd watchpoint", "w": "wr watchpoint",
                        "rw": "acc watchpoint"}[p.access]
                address = "%s 0x%08x" % (p.space, p.address)
                what = "len %d" % p.length
                if p.old is not None or p.new is not None:
                    what += " (last %s -> %s)" % (
                        "?" if p.old is None else "0x%x" % p.old,
                        "?" if p.new is None else "0x%x" % p.new)
            else:
                kind = "catchpoint"
                address = ""
                what = p.describe()
            self.write("%-3d %-14s %-4s %-3s %-18s %s" % (
                p.id, kind, "del" if p.temporary else "keep", "y" if p.enabled else "n",
                address, what))
            extra = []
            if p.condition:
                extra.append('stop only if "%s"' % p.condition)
            if p.hits:
                extra.append("hit %d time%s" % (p.hits, "" if p.hits == 1 else "s"))
            for e in extra:
                self.write("        " + e)

    def info_watch(self, args):
        watches = [p for p in self.dbg.list_points() if isinstance(p, Watchpoint)]
        if not watches:
            self.write("No watchpoints.")
            return
        for p in watches:
            self.write("%d: %s%s, hit %d time%s" % (
                p.id, p.describe(), "" if p.enabled else " (disabled)", p.hits,
                "" if p.hits == 1 else "s"))

    # ------------------------------------------------------------ CPU state
    def _registers_text(self):
        dbg = self.dbg
        lines = []
        for name in GENERAL:
            v = dbg.register(name)
            lines.append("%s: 0x%08x %d" % (name, v, v))
        lines.append("eip: 0x%08x" % dbg.register("eip"))
        ef = dbg.register("eflags")
        lines.append("eflags 0x%08x: %s" % (ef, format_eflags(ef)))
        return "\n".join(lines)

    def do_registers(self, args):
        if args:
            if "=" in args:
                return self.do_set(args)
            raise CommandError("r takes no arguments (got %r); set REG = EXPR changes one"
                               % args)
        self._out(self._registers_text())

    def info_registers(self, args):
        self.do_registers(args)

    def _segment_lines(self, name):
        seg = self.dbg.segment(name)
        raw_limit = seg.limit >> 12 if seg.access & 0x800000 else seg.limit
        dl = ((seg.base & 0xFFFF) << 16) | (raw_limit & 0xFFFF)
        dh = ((seg.base & 0xFF000000) | ((seg.base >> 16) & 0xFF) | (seg.access & 0x00F0FF00)
              | (raw_limit & 0xF0000))
        valid = 1 if seg.access & 0x8000 else 0
        return ["%s:0x%04x, dh=0x%08x, dl=0x%08x, valid=%d" % (name, seg.selector, dh, dl,
                                                               valid),
                "\t" + decode_descriptor((dh << 32) | dl)]

    def do_sreg(self, args):
        lines = []
        for name in SEGMENTS + ("ldtr", "tr"):
            lines += self._segment_lines(name)
        gb, gl = self.dbg.cpu.gdtr
        ib, il = self.dbg.cpu.idtr
        lines.append("gdtr:base=0x%08x, limit=0x%x" % (gb, gl))
        lines.append("idtr:base=0x%08x, limit=0x%x" % (ib, il))
        self._out("\n".join(lines))

    def do_creg(self, args):
        dbg = self.dbg
        cr0 = dbg.register("cr0")
        cr3 = dbg.register("cr3")
        cr4 = dbg.register("cr4")
        self._out("\n".join([
            "CR0=0x%08x: %s" % (cr0, _bits_words(cr0, CR0_BITS)),
            "CR2=page fault laddr=0x%08x" % dbg.register("cr2"),
            "CR3=0x%08x" % cr3,
            "    PCD=page-level cache disable=%d" % ((cr3 >> 4) & 1),
            "    PWT=page-level write-through=%d" % ((cr3 >> 3) & 1),
            "CR4=0x%08x: %s" % (cr4, _bits_words(cr4, CR4_BITS)),
        ]))

    def do_dreg(self, args):
        dbg = self.dbg
        lines = ["DR%d=0x%08x" % (i, dbg.register("dr%d" % i)) for i in range(4)]
        dr6, dr7 = dbg.register("dr6"), dbg.register("dr7")
        lines.append("DR6=0x%08x: %s" % (dr6, " ".join(
            n.upper() if dr6 & (1 << b) else n
            for n, b in (("BT", 15), ("BS", 14), ("BD", 13), ("B3", 3), ("B2", 2),
                         ("B1", 1), ("B0", 0)))))
        rw = {0: "exec", 1: "write", 2: "io", 3: "rw"}
        parts = []
        for i in range(4):
            if dr7 & (3 << (2 * i)):
                parts.append("DR%d %s%s len=%d" % (
                    i, "L" if dr7 & (1 << 2 * i) else "", "G" if dr7 & (2 << 2 * i) else "",
                    (1, 2, 8, 4)[(dr7 >> (18 + 4 * i)) & 3]) + " " +
                    rw[(dr7 >> (16 + 4 * i)) & 3])
        lines.append("DR7=0x%08x: %s" % (dr7, ", ".join(parts) or "no breakpoint enabled"))
        self._out("\n".join(lines))

    def do_fpu(self, args):
        if args:
            raise CommandError("fp takes no arguments (got %r); set st0 = 1.5 changes a "
                               "register" % args)
        state = self.dbg.fpu_state()
        if state is None:
            from core.models import MODELS
            have = [n for n, m in MODELS.items() if m.fpu]
            self.write("the %s model has no x87 FPU (the models with one: %s)"
                       % (self.dbg.model_name(), ", ".join(have)))
            return
        self._out(fpu_text(state))

    def info_fpu(self, args):
        self.do_fpu(args)

    def do_mmx(self, args):
        if args:
            raise CommandError("mmx takes no arguments (got %r)" % args)
        from core.models import MODELS, get_model
        if not get_model(self.dbg.model_name()).has_mmx:
            have = [n for n, m in MODELS.items() if m.has_mmx]
            self.write("the %s model has no MMX (the models with it: %s)"
                       % (self.dbg.model_name(), ", ".join(have)))
            return
        self._out(mmx_text(self.dbg.fpu_state()))

    def info_mmx(self, args):
        self.do_mmx(args)

    def info_cpu(self, args):
        self.do_registers("")
        self.do_sreg("")
        self.do_creg("")
        self.do_dreg("")
        self.write("mode: %s%s, CPL %d, %d-bit code" % (
            self.dbg.mode(), ", paging" if self.dbg.paging() else "",
            self.dbg.segment("cs").selector & 3 if self.dbg.mode() == "protected" else
            (3 if self.dbg.mode() == "v86" else 0), self.dbg.code_bits()))

    def info_eflags(self, args):
        ef = self.dbg.register("eflags")
        self.write("eflags 0x%08x: %s" % (ef, format_eflags(ef)))

    def do_info(self, args):
        topic, _, rest = args.partition(" ")
        if not topic:
            raise CommandError("info what? %s" % ", ".join(INFO_TOPICS))
        topic = INFO_ALIASES.get(topic.lower(), topic.lower())
        entry = INFO_TOPICS.get(topic)
        if entry is None:
            raise CommandError("no info topic %r (%s)" % (topic, ", ".join(INFO_TOPICS)))
        return getattr(self, entry[0])(rest.strip())

    def do_set(self, args):
        name, eq, expression = args.partition("=")
        name = name.strip().lstrip("$").lower()
        if not eq or not name:
            raise CommandError("set needs REG = EXPR (e.g. set eax = 0x10)")
        from core.cpu import REGISTER_NAMES
        if name in x87.NAMES:
            if self.dbg.fpu is None:
                raise CommandError("the %s model has no x87 FPU (no %s register)"
                                   % (self.dbg.model_name(), name))
            if name in x87.ST_NAMES:
                return self.dbg.set_register(name, self._real(expression))
        elif name not in REGISTER_NAMES and name != "if":
            raise CommandError("unknown register %r" % name)
        v = self.value(expression, "value")
        if name in SEGMENTS and self.dbg.mode() == "protected":
            raise CommandError("set %s: loading a selector in protected mode needs its "
                               "descriptor; not supported" % name)
        self.dbg.set_register(name, v)

    def _real(self, text):
        """The 80-bit encoding of a number typed for st0-st7: a signed decimal (`-2.5`,
        `1e-3`), inf, nan..., read exactly (debugger/x87.py), or else an expression
        (`st1 * 2`, `eax`), its value rounded to the nearest 80-bit value."""
        from debugger import expr
        raw = x87.parse(text)
        if raw is not None:
            return raw
        text = text.strip()
        if not text:
            raise CommandError("missing value")
        try:
            v = self.dbg.evaluate_value(text)
        except expr.ExprError as e:
            raise CommandError("bad value %r: %s" % (text, e)) from None
        return x87.encode(v)

    def do_print(self, args):
        from debugger import expr
        text = args.strip()
        if not text:
            raise CommandError("missing expression")
        try:
            v = self.dbg.evaluate_value(text)
        except expr.ExprError as e:
            raise CommandError("bad expression %r: %s" % (text, e)) from None
        except KeyError as e:
            raise CommandError("bad expression %r: unknown name %s" % (text, e)) from None
        if not isinstance(v, int):
            raw = x87.encode(v)
            self.write("%s (%s)" % (x87.decimal(raw), x87.raw_text(raw)))
            return
        self.write("0x%x %d" % (v & 0xFFFFFFFFFFFFFFFF if v < 0 else v, v))

    def do_ptime(self, args):
        dbg = self.dbg
        now = dbg.clock.now
        freq = getattr(dbg.clock, "frequency", 0)
        self.write("ptime: %d" % now)
        self.write("instructions: %d, guest time: %.6f s%s" % (
            dbg.cpu.icount, now / freq if freq else 0.0,
            " at %g MHz" % (freq / 1e6) if freq else ""))

    def _stack_width(self):
        ss = self.dbg.segment("ss")
        return 4 if self.dbg.mode() == "protected" and ss.access & 0x400000 else 2

    def do_print_stack(self, args):
        n = self.count(args, "count", default=16, high=4096)
        width = self._stack_width()
        ss = self.dbg.segment("ss")
        sp = self.dbg.register("esp") & (0xFFFF if width == 2 else 0xFFFFFFFF)
        mask = 0xFFFF if width == 2 else 0xFFFFFFFF
        self.write("Stack address size %d" % width)
        for i in range(n):
            off = (sp + i * width) & mask
            lin = (ss.base + off) & 0xFFFFFFFF
            try:
                v = self.dbg.read_int(lin, width)
            except DebugError:
                self.write(" | STACK 0x%08x [unmapped]" % lin)
                break
            ctxt = self.context(v)
            self.write(" | STACK 0x%0*x [0x%0*x]%s" % (
                2 * width, off, 2 * width, v, " (%s)" % ctxt if ctxt else ""))

    def do_backtrace(self, args):
        n = self.count(args, "frame count", default=16, high=1024)
        dbg = self.dbg
        width = 4 if dbg.code_bits() == 32 else 2
        mask = 0xFFFF if width == 2 else 0xFFFFFFFF
        ss = dbg.segment("ss")
        cs = dbg.segment("cs")
        ip = dbg.register("eip") & mask
        bp = dbg.register("ebp") & mask
        frame = 0
        while True:
            lin = (cs.base + ip) & 0xFFFFFFFF
            ctxt = self.context(lin)
            self.write("#%d  %04x:%0*x%s" % (frame, cs.selector, 2 * width, ip,
                                             " in %s" % ctxt if ctxt else ""))
            frame += 1
            if frame >= n or bp == 0:
                break
            try:
                saved_bp = dbg.read_int((ss.base + bp) & 0xFFFFFFFF, width)
                ip = dbg.read_int((ss.base + bp + width) & 0xFFFFFFFF, width)
            except DebugError:
                break
            if saved_bp != 0 and saved_bp <= bp:
                # The chain must go up the stack; anything else is not a frame.
                bp = 0
            else:
                bp = saved_bp

    # ---- system tables
    def _table_range(self, args, count, what):
        words = args.split()
        if len(words) > 2:
            raise CommandError("info %s takes [N [M]]" % what)
        first = self.value(words[0], "index") if words else 0
        last = self.value(words[1], "index") if len(words) > 1 else (
            first if words else count - 1)
        if not 0 <= first <= last:
            raise CommandError("bad range %r" % args)
        return first, min(last, count - 1)

    def _descriptor_table(self, title, tag, base, limit, args, what):
        count = (limit + 1) // 8
        if count == 0:
            self.write("%s (base=0x%08x, limit=%d): empty" % (title, base, limit))
            return
        first, last = self._table_range(args, count, what)
        self.write("%s (base=0x%08x, limit=%d):" % (title, base, limit))
        for i in range(first, last + 1):
            try:
                d = self.dbg.read_int(base + 8 * i, 8)
            except DebugError as e:
                self.write("%s[0x%02x]=<%s>" % (tag, i, e))
                continue
            self.write("%s[0x%02x]=%s" % (tag, i, decode_descriptor(d)))
        if not args:
            self.write("You can list individual entries with 'info %s [NUM]' or groups "
                       "with 'info %s [NUM] [NUM]'" % (what, what))

    def info_gdt(self, args):
        base, limit = self.dbg.cpu.gdtr
        self._descriptor_table("Global Descriptor Table", "GDT", base, limit, args, "gdt")

    def info_ldt(self, args):
        ldtr = self.dbg.segment("ldtr")
        if (ldtr.selector & 0xFFFC) == 0 and self.dbg.mode() == "protected":
            self.write("Local Descriptor Table: LDTR is null (no LDT loaded)")
            return
        self._descriptor_table("Local Descriptor Table", "LDT", ldtr.base, ldtr.limit,
                               args, "ldt")

    def info_idt(self, args):
        base, limit = self.dbg.cpu.idtr
        if self.dbg.mode() == "real":
            self.write("real mode: the IDTR points at the interrupt vector table")
            return self.info_ivt(args)
        self._descriptor_table("Interrupt Descriptor Table", "IDT", base, limit, args, "idt")

    def info_ivt(self, args):
        base, limit = self.dbg.cpu.idtr
        if self.dbg.mode() != "real":
            base, limit = 0, 0x3FF
            self.write("(not in real mode: showing the table at 0)")
        count = min(256, (limit + 1) // 4)
        first, last = self._table_range(args, count, "ivt")
        self.write("Interrupt Vector Table (base=0x%08x, limit=%d):" % (base, limit))
        for i in range(first, last + 1):
            v = self.dbg.read_int(base + 4 * i, 4)
            seg, off = v >> 16, v & 0xFFFF
            self.write("INT# %02x > %04x:%04x (0x%08x)" % (i, seg, off, (seg << 4) + off))

    def info_tss(self, args):
        dbg = self.dbg
        tr = dbg.segment("tr")
        if dbg.mode() == "real" or (tr.selector & 0xFFFC) == 0:
            self.write("tr:s=0x%04x, base=0x%08x, limit=0x%x: no task loaded"
                       % (tr.selector, tr.base, tr.limit))
            return
        t = (tr.access >> 8) & 0xF
        self.write("tr:s=0x%04x, base=0x%08x, limit=0x%x, %s" % (
            tr.selector, tr.base, tr.limit, SYSTEM_TYPES.get(t, "type %d" % t)))

        def rd(off, size):
            return dbg.read_int(tr.base + off, size)
        if t in (9, 0xB):
            self.write("backlink=0x%04x" % rd(0, 2))
            for i in range(3):
                self.write("ss:esp(%d): 0x%04x:0x%08x" % (i, rd(8 + 8 * i, 2), rd(4 + 8 * i, 4)))
            self.write("cr3: 0x%08x" % rd(28, 4))
            self.write("eip: 0x%08x" % rd(32, 4))
            self.write("eflags: 0x%08x" % rd(36, 4))
            self.write(" ".join("%s: 0x%08x" % (n, rd(40 + 4 * i, 4))
                                for i, n in enumerate(GENERAL[:4])))
            self.write(" ".join("%s: 0x%08x" % (n, rd(56 + 4 * i, 4))
                                for i, n in enumerate(GENERAL[4:])))
            self.write(" ".join("%s: 0x%04x" % (n, rd(72 + 4 * i, 2))
                                for i, n in enumerate(SEGMENTS)))
            self.write("ldt: 0x%04x" % rd(96, 2))
            self.write("trap: %d, iomap base: 0x%04x" % (rd(100, 2) & 1, rd(102, 2)))
        else:
            self.write("backlink=0x%04x" % rd(0, 2))
            for i in range(3):
                self.write("ss:sp(%d): 0x%04x:0x%04x" % (i, rd(4 + 4 * i, 2), rd(2 + 4 * i, 2)))
            self.write("ip: 0x%04x flags: 0x%04x" % (rd(14, 2), rd(16, 2)))
            self.write(" ".join("%s: 0x%04x" % (n[1:], rd(18 + 2 * i, 2))
                                for i, n in enumerate(GENERAL)))
            self.write(" ".join("%s: 0x%04x" % (n, rd(34 + 2 * i, 2))
                                for i, n in enumerate(("es", "cs", "ss", "ds"))))
            self.write("ldt: 0x%04x" % rd(42, 2))

    def info_tab(self, args):
        dbg = self.dbg
        if not dbg.paging():
            self.write("paging is off (CR0.PG=0): linear addresses are physical")
            return
        cr3 = dbg.register("cr3")
        if dbg.register("cr4") & 0x20:
            self.write("cr3: 0x%08x (PAE: PDPTEs %s)" % (cr3 & 0xFFFFFFE0, " ".join(
                "0x%09x" % e for e in dbg.cpu.pdptes)))
        else:
            self.write("cr3: 0x%08x" % (cr3 & 0xFFFFF000))
        ranges = []                       # [lin_start, phys_start, length]

        def add(lin, phys, size):
            if ranges and ranges[-1][0] + ranges[-1][2] == lin and \
                    ranges[-1][1] + ranges[-1][2] == phys:
                ranges[-1][2] += size
            else:
                ranges.append([lin, phys, size])
        for lin, span, pde, large in dbg.page_directory():
            if large:
                add(lin, pde & (0xFFFFFFFFF & -span), span)
                continue
            for off, pte in dbg.page_table(pde):
                add(lin + off, pte & 0xFFFFFF000, 4096)
        if not ranges:
            self.write("(no pages mapped)")
        for lin, phys, size in ranges:
            self.write("0x%08x-0x%08x -> 0x%08x-0x%08x" % (lin, lin + size - 1, phys,
                                                          phys + size - 1))

    def _devices(self):
        dbg = self.dbg
        if dbg.pc is not None:
            return dict(dbg.pc.chips)
        out = {}
        for d in getattr(dbg.machine, "devices", []):
            out.setdefault(getattr(d, "name", None) or type(d).__name__.lower(), d)
        return out

    def info_device(self, args):
        devices = self._devices()
        if not args:
            if not devices:
                self.write("no devices")
                return
            self.write("Devices (info device NAME shows one):")
            for name, d in devices.items():
                doc = (type(d).__doc__ or "").strip().split("\n")[0].replace("``", "")
                self.write("  %-12s %s" % (name, doc or type(d).__name__))
            return
        d = devices.get(args.strip())
        if d is None:
            raise CommandError("no device %r (%s)" % (args.strip(), ", ".join(devices)))
        info = d.info() if callable(getattr(d, "info", None)) else None
        if isinstance(info, dict):
            width = max((len(str(k)) for k in info), default=0)
            for k, v in info.items():
                if isinstance(v, int) and not isinstance(v, bool):
                    v = "0x%x (%d)" % (v, v) if v > 9 else str(v)
                self.write("%-*s  %s" % (width, k, v))
        elif info:
            self._out(str(info).rstrip("\n"))
        else:
            self.write("%s: no state to show" % args.strip())

    def info_bus(self, args):
        if args:
            raise CommandError("info bus takes no arguments")
        try:
            last = self.dbg.bus_clocks()
        except DebugError as e:
            raise CommandError(str(e)) from None
        if last is None:
            self.write("no instruction has run on the bus model yet")
            return
        start, cs, ip, cycles, clocks = last
        where = "%04x:%04x at t=%d" % (cs, ip, start)
        if not clocks:
            self.write("%s: %d cycles from the documented table; the bus model did not time "
                       "it (an NMI, an interrupt out of HLT, a halted CPU, or an "
                       "instruction it does not cover)" % (where, cycles))
            return
        from debugger.trace import BusClock, format_clock
        self.write("%s: %d clocks on the bus model" % (where, len(clocks)))
        self.write("    clk A addr  sg stat T  BHE queue")
        for i, c in enumerate(clocks):
            self.write(format_clock(i, BusClock(*c)))

    # ------------------------------------------------------------ memory
    def _parse_nuf(self, args, default_unit="w"):
        """(count, unit size, format, rest) from '/NUF rest'."""
        args = args.strip()
        count, unit, fmt = 1, UNITS[default_unit], "x"
        if args.startswith("/"):
            spec, _, args = args[1:].partition(" ")
            digits = ""
            while spec and spec[0].isdigit():
                digits, spec = digits + spec[0], spec[1:]
            if digits:
                count = int(digits)
            for ch in spec:
                if ch in UNITS:
                    unit = UNITS[ch]
                elif ch in FORMATS:
                    fmt = ch
                else:
                    raise CommandError("bad /NUF letter %r (units b h w g, formats %s)"
                                       % (ch, " ".join(FORMATS)))
            if count < 1 or count > 65536:
                raise CommandError("count %d must be 1 to 65536" % count)
        return count, unit, fmt, args.strip()

    def _format_unit(self, v, size, fmt):
        if fmt == "x":
            return "0x%0*x" % (2 * size, v)
        if fmt == "d":
            return str(v - (1 << 8 * size) if v >> (8 * size - 1) else v)
        if fmt == "u":
            return str(v)
        if fmt == "o":
            return "0%o" % v
        if fmt == "t":
            return format(v, "0%db" % (8 * size))
        if fmt == "c":
            chars = v.to_bytes(size, "little")
            return "".join(chr(c) if 32 <= c < 127 else "\\x%02x" % c for c in chars)
        raise AssertionError(fmt)

    def _examine(self, args, space):
        count, unit, fmt, rest = self._parse_nuf(args)
        if not rest:
            raise CommandError("missing address")
        addr = self.linear(rest) if space == "lin" else self.value(rest, "address")
        label = "linear" if space == "lin" else "physical"
        self.write("[%s memory]" % label)
        if fmt == "i":
            self._disasm_lines(count, addr, None, None)
            return
        if fmt == "s":
            for _ in range(count):
                data = bytearray()
                a = addr
                while len(data) < 4096:
                    b = self.dbg.read(a, 1, space)[0]
                    a += 1
                    if b == 0:
                        break
                    data.append(b)
                text = "".join(chr(c) if 32 <= c < 127 else "\\x%02x" % c for c in data)
                self.write("0x%08x: \"%s\"" % (addr, text))
                addr = a
            return
        data = self.dbg.read(addr, count * unit, space)
        per = PER_LINE[unit]
        for i in range(0, count, per):
            a = addr + i * unit
            ctxt = self.context(a) if space == "lin" else None
            values = [self._format_unit(int.from_bytes(data[j * unit:(j + 1) * unit],
                                                       "little"), unit, fmt)
                      for j in range(i, min(count, i + per))]
            self.write("0x%08x%s:\t%s" % (a, " <%s>" % ctxt if ctxt else "",
                                          "\t".join(values)))

    def do_x(self, args):
        self._examine(args, "lin")

    def do_xp(self, args):
        self._examine(args, "phys")

    def do_disasm(self, args):
        count = 10
        args = args.strip()
        if args.startswith("/"):
            spec, _, args = args[1:].partition(" ")
            if not spec.isdigit() or not 1 <= int(spec) <= 10000:
                raise CommandError("u /N: %r is not a count of 1 to 10000" % spec)
            count = int(spec)
        words = args.split()
        bits = None
        if len(words) >= 2 and words[-2].lower() == "bits":
            if words[-1] not in ("16", "32"):
                raise CommandError("bits must be 16 or 32, not %r" % words[-1])
            bits = int(words[-1])
            words = words[:-2]
        where = " ".join(words)
        self._disasm_lines(count, None if not where else where, bits, where)

    def _disasm_lines(self, count, addr, bits, text):
        """Disassemble from `addr` (a linear int, an address text, or None for CS:EIP)."""
        dbg = self.dbg
        cs = dbg.segment("cs")
        mode = dbg.mode()
        bits = bits or dbg.code_bits()
        if addr is None:
            seg, base, off = cs.selector, cs.base, dbg.register("eip")
        elif isinstance(addr, str) and self.seg_off(addr) is not None:
            seg, off = self.seg_off(addr)
            base = dbg.seg_to_linear(seg, 0) if mode != "protected" or dbg.descriptor(seg) \
                is not None else 0
        else:
            lin = self.linear(addr) if isinstance(addr, str) else addr
            if 0 <= lin - cs.base <= cs.limit:
                seg, base, off = cs.selector, cs.base, lin - cs.base
            elif mode != "protected":
                seg, base, off = (lin >> 4) & 0xF000, lin & 0xF0000, lin & 0xFFFF
            else:
                seg, base, off = cs.selector, 0, lin
        if bits == 16:
            off &= 0xFFFF
        current = dbg.current_linear()
        bps = {p.address for p in dbg.list_points()
               if isinstance(p, Breakpoint) and p.kind == "lin" and p.enabled}
        for insn in self._decode_at(seg, base, off, bits, count):
            where, body = self._insn_text(insn, seg, bits)
            mark = "=>" if insn.linear == current else (" *" if insn.linear in bps else "  ")
            ctxt = self.context(insn.linear)
            self.write("%s %08x: %s%s: %s" % (mark, insn.linear, where,
                                              " (%s)" % ctxt if ctxt else "", body))

    def do_setpmem(self, args):
        words = args.split()
        if len(words) != 3:
            raise CommandError("setpmem needs ADDR SIZE VALUE")
        addr = self.value(words[0], "address")
        size = self.value(words[1], "size")
        if size not in (1, 2, 4):
            raise CommandError("size %r must be 1, 2 or 4" % words[1])
        v = self.value(words[2], "value")
        if not -(1 << (8 * size - 1)) <= v < (1 << 8 * size):
            raise CommandError("value %r does not fit in %d byte%s" % (
                words[2], size, "" if size == 1 else "s"))
        self.dbg.write(addr, (v & ((1 << 8 * size) - 1)).to_bytes(size, "little"), "phys")

    def do_writemem(self, args):
        words = _split(args)
        if len(words) != 3:
            raise CommandError("writemem needs FILE ADDR LEN")
        addr = self.linear(words[1])
        length = self.count(words[2], "length", high=1 << 30)
        data = self.dbg.read(addr, length)
        with open(words[0], "wb") as f:
            f.write(data)
        self.write("wrote %d bytes from 0x%08x to %s" % (length, addr, words[0]))

    def do_loadmem(self, args):
        words = _split(args)
        if len(words) != 2:
            raise CommandError("loadmem needs FILE ADDR")
        addr = self.linear(words[1])
        with open(words[0], "rb") as f:
            data = f.read()
        self.dbg.write(addr, data)
        self.write("loaded %d bytes from %s at 0x%08x" % (len(data), words[0], addr))

    # ------------------------------------------------------------ devices
    def do_sendkey(self, args):
        from core import keys
        words = _split(args)
        if not words:
            raise CommandError('sendkey needs keys: sendkey ctrl-alt-delete, sendkey "dir\\n"')
        kbc = self._devices().get("i8042")
        if kbc is None:
            raise CommandError("this machine has no keyboard controller")
        quoted = args.strip().startswith('"')
        script = ["type " + " ".join(words)] if quoted else ["key " + " ".join(words)]
        # Keys sent earlier that have not all gone yet go first (keys.send).
        try:
            # Through the controller: journalled for reverse execution's re-runs.
            events = self.dbg.host_input(lambda: keys.send(kbc, script))
        except keys.KeysError as e:
            raise CommandError(str(e).replace("line 1: ", "")) from None
        if events is None:
            self.write("the keys go in when the REP string instruction the guest is "
                       "stopped in goes on")
            return
        self.write("sent %d key events, from cycle %d to %d"
                   % (len(events), events[0][0], events[-1][0]))

    def do_screenshot(self, args):
        words = _split(args)
        if len(words) != 1:
            raise CommandError("screenshot needs FILE (a .png to write)")
        vga = self._devices().get("vga")
        if vga is None or not callable(getattr(vga, "screenshot", None)):
            raise CommandError("this machine has no VGA: no screen to save")
        width, height, mode = vga.screenshot(words[0])
        self.write("wrote %s: %dx%d, %s" % (words[0], width, height, mode))

    # ------------------------------------------------------------ tracing
    def do_trace(self, args):
        self.tracing = _on_off(args, "trace")
        self.write("Tracing %s" % ("enabled" if self.tracing else "disabled"))

    def do_trace_reg(self, args):
        self.trace_regs = _on_off(args, "trace-reg")
        self.write("Register-Tracing %s" % ("enabled" if self.trace_regs else "disabled"))

    def do_trace_mem(self, args):
        self.trace_mem = _on_off(args, "trace-mem")
        self.write("Memory-Tracing %s" % ("enabled" if self.trace_mem else "disabled"))

    def do_show(self, args):
        word = args.strip().lower()
        if not word:
            self.write("show: %s" % (", ".join(sorted(self.show)) or "off"))
            return
        if word == "off":
            targets = set()
        elif word == "all":
            targets = {"int", "mode", "call"}
        elif word in ("int", "mode", "call"):
            targets = self.show ^ {word}      # toggles, as in Bochs
        else:
            raise CommandError("show: %r is not int, mode, call, all or off" % word)
        self.show = targets
        for what in ("int", "mode"):
            pid = self._show_points.get(what)
            if what in targets and pid is None:
                p = (self.dbg.catch_vector(0, 255) if what == "int"
                     else self.dbg.catch_mode())
                self._show_points[what] = p.id
            elif what not in targets and pid is not None:
                if pid in self.dbg.points:
                    self.dbg.delete(pid)
                del self._show_points[what]
        self.write("show: %s" % (", ".join(sorted(self.show)) or "off"))

    # ------------------------------------------------------------ symbols and scripts
    def do_ldsym(self, args):
        words = _split(args)
        if words and words[0] == "global":
            words = words[1:]
        if not 1 <= len(words) <= 2:
            raise CommandError("ldsym needs [global] FILE [OFFSET]")
        path = words[0]
        offset = self.value(words[1], "offset") if len(words) > 1 else 0
        with open(path, "rb") as f:
            magic = f.read(4)
        before = len(self._symbol_names())
        try:
            if magic == b"\x7fELF":
                self.dbg.symbols.load_elf(path, offset)
            else:
                self.dbg.symbols.load_bochs(path, offset)
        except Exception as e:           # noqa: BLE001 - SymbolError, ELF parse errors
            text = str(e)
            raise CommandError(text if text.startswith(path) else "%s: %s" % (path, text)) \
                from None
        after = len(self._symbol_names())
        self.write("loaded %d symbols from %s" % (after - before, path))

    def do_slist(self, args):
        self.info_symbols(args)

    def info_symbols(self, args):
        prefix = args.strip()
        items = [(a, n) for a, n in self._symbol_items() if n.startswith(prefix)]
        if not items:
            self.write("no symbols%s" % (" starting with %r" % prefix if prefix else ""))
            return
        for a, n in items:
            self.write("0x%08x: %s" % (a, n))

    def do_source(self, args):
        words = _split(args)
        if len(words) != 1:
            raise CommandError("source needs one FILE")
        if not os.path.exists(words[0]):
            raise CommandError("%s: no such file" % words[0])
        if not self.run_script(words[0]):
            raise CommandError("%s stopped at an error" % words[0])
        if self.quit_requested:
            return QUIT

    def do_help(self, args):
        self._out(self.help(args or None))

    def do_quit(self, args):
        return QUIT


QUIT = object()


class _NOT_RETURN:
    is_return = False

def _memory_writes(data):
    """(linear, physical, size, value) of each memory write in a CPU trace stream."""
    out = []
    try:
        for rec in TraceReader.from_stream(data):
            out.extend(rec.mem_writes)
    except TraceError:
        pass                             # what was read up to a damaged entry
    return out
