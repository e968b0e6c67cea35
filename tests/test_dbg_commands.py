"""The debugger's command language (debugger/commands.py) on small NASM guests.

The expectations come from what the guests do (tests/guests/dbg_*.asm: the values they
load, the bytes they write, the labels NASM assigned), never from output captured from
the debugger itself.
"""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from core.machine import Machine
from debugger.commands import CommandInterpreter
from debugger.controller import Debugger

GUESTS = Path(__file__).resolve().parent / "guests"
REAL_CS = 0x1000                     # dbg_real.asm runs at 1000:0000
REAL_BASE = REAL_CS << 4


def assemble(name, tmp_path):
    """(code, labels) of tests/guests/NAME.asm; labels from NASM's symbol map."""
    exe = shutil.which("nasm")
    if exe is None:
        pytest.fail("nasm is required (apt-get install nasm)")
    wrapper = tmp_path / ("%s_wrap.asm" % name)
    mapfile = tmp_path / ("%s.map" % name)
    out = tmp_path / ("%s.bin" % name)
    wrapper.write_text('[map symbols %s]\n%%include "%s"\n' % (mapfile, GUESTS / (name + ".asm")))
    subprocess.run([exe, "-f", "bin", "-o", str(out), str(wrapper)], check=True,
                   capture_output=True)
    labels = {}
    for line in mapfile.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and re.fullmatch(r"[0-9A-F]+", parts[0]) and \
                re.fullmatch(r"[0-9A-F]+", parts[1]):
            labels[parts[2]] = int(parts[1], 16)
    return out.read_bytes(), labels


class Session:
    """A Debugger and a CommandInterpreter whose output is collected line by line."""

    def __init__(self, machine, labels):
        self.machine = machine
        self.dbg = Debugger(machine)
        self.lines = []
        self.interp = CommandInterpreter(self.dbg, write=self.lines.append)
        self.labels = labels

    def run(self, *commands):
        """Run commands; returns their output lines (and checks none failed)."""
        start = len(self.lines)
        for c in commands:
            assert self.interp.execute(c) is True
            assert self.interp.last_error is None, (c, self.lines[start:])
        return self.lines[start:]

    def fail(self, command):
        """Run a command that must fail; returns its one output line."""
        start = len(self.lines)
        assert self.interp.execute(command) is True
        out = self.lines[start:]
        assert len(out) == 1 and out[0].startswith("error: "), out
        assert self.interp.last_error
        return out[0]

    def text(self, *commands):
        return "\n".join(self.run(*commands))


@pytest.fixture
def real(tmp_path):
    code, labels = assemble("dbg_real", tmp_path)
    m = Machine(cpu="80386", memory=1 << 20)
    m.bus.write(REAL_BASE, code)
    cpu = m.cpu
    cpu.cs, cpu.ip, cpu.ss, cpu.sp = REAL_CS, 0, 0x3000, 0xFFFE
    return Session(m, labels)


@pytest.fixture
def pm(tmp_path):
    code, labels = assemble("dbg_pm", tmp_path)
    m = Machine(cpu="80386", memory=4 << 20)
    m.bus.write(0x8000, code)
    cpu = m.cpu
    cpu.cs, cpu.ip, cpu.ss, cpu.sp = 0, 0x8000, 0, 0x7000
    return Session(m, labels)


def next_at(lines, cs, offset):
    """The Bochs 'next instruction' line is for CS:OFFSET (16-bit)."""
    line = [l for l in lines if l.startswith("(0) [")][-1]
    assert " %04x:%04x " % (cs, offset) in line, line
    return line


def lab(s, name):
    return s.labels[name]


# ---------------------------------------------------------------- state and memory

def test_registers_at_a_breakpoint(real):
    out = real.run("vb 0x1000:%d" % lab(real, "func"), "c")
    assert out[0].startswith("Breakpoint 1: vbreakpoint 1000:")
    assert any(l.startswith("Breakpoint 1,") for l in out)
    next_at(out, REAL_CS, lab(real, "func"))
    regs = real.run("r")
    assert "eax: 0x00001234 4660" in regs
    assert "ebx: 0x00005678 22136" in regs
    assert "eip: 0x%08x" % lab(real, "func") in regs
    flags = [l for l in regs if l.startswith("eflags 0x")][0]
    # xor cx,cx left ZF and PF set; the mov instructions since change no flag.
    assert " ZF " in flags and " PF " in flags and " cf" in flags.split(":")[1] + " "
    assert "IOPL=0" in flags


def test_examine_memory_the_guest_wrote(real):
    real.run("lb 0x%x" % (REAL_BASE + lab(real, "call_func")), "c")
    out = real.run("x /4bx 0x500")
    assert out[-1] == "0x00000500:\t0x11\t0x22\t0x33\t0x44"
    assert real.run("x /1hx 0x502")[-1] == "0x00000502:\t0x4433"
    assert real.run("x/1wx 0x500")[-1] == "0x00000500:\t0x44332211"
    assert real.run("xp /2bu 0x500")[-1] == "0x00000500:\t17\t34"
    assert real.run("x /2bd 0x502")[-1] == "0x00000502:\t51\t68"
    assert real.run("x /1bt 0x500")[-1] == "0x00000500:\t00010001"
    # the IVT entry the guest installed for INT 30h
    assert real.run("info ivt 0x30")[-1] == "INT# 30 > 1000:%04x (0x%08x)" % (
        lab(real, "int30"), REAL_BASE + lab(real, "int30"))


def test_disassembly_shows_the_assembled_instructions(real):
    out = real.run("u /3")
    assert len(out) == 3
    assert out[0].startswith("=> 00010000: 1000:0000: mov ax, 0x1234 ; b83412")
    assert "mov bx, 0x5678" in out[1] and "xor cx, cx" in out[2]
    out = real.run("u /2 0x1000:%d" % lab(real, "func"))
    assert "1000:%04x: push bp" % lab(real, "func") in out[0]
    assert "mov bp, sp" in out[1]
    # a linear address inside CS is shown as CS:offset
    out = real.run("u /1 0x%x" % (REAL_BASE + lab(real, "int30")))
    assert "1000:%04x: mov cx, 0x3030" % lab(real, "int30") in out[0]


def test_step_and_the_next_line(real):
    out = real.run("s")
    assert out[0].startswith("Next at t=")
    assert out[1] == "(0) [0x000000010003] 1000:0003 (unk. ctxt): mov bx, 0x5678 ; bb7856"
    out = real.run("s 3")
    assert "mov byte ptr [0x500], 0x11" in out[-1]
    regs = real.run("r")
    assert "eax: 0x00001234 4660" in regs and "ecx: 0x00000000 0" in regs
    # an empty line repeats the last step
    real.run("")
    assert real.dbg.read(0x500, 1) == b"\x11"


def test_ptime_counts_the_steps(real):
    real.run("s 3")
    out = real.run("ptime")
    assert out[0] == "ptime: %d" % real.machine.clock.now
    assert out[1].startswith("instructions: 3,")


def test_set_and_print(real):
    real.run("set eax = 0x10 + 2", "set $bl = 7")
    regs = real.run("r")
    assert "eax: 0x00000012 18" in regs and "ebx: 0x00000007 7" in regs
    assert real.run("print eax * 2") == ["0x24 36"]
    assert real.run("? 0x1000:0x10") == ["0x10010 65552"]
    real.run("r ecx = 0xffff")
    assert real.machine.cpu.ecx == 0xFFFF


def test_setpmem_writemem_loadmem(real, tmp_path):
    real.run("setpmem 0x600 2 0xabcd")
    assert real.run("xp /2bx 0x600")[-1] == "0x00000600:\t0xcd\t0xab"
    f = tmp_path / "dump.bin"
    real.run("writemem %s 0x10000 6" % f)
    assert f.read_bytes() == real.machine.bus.read(0x10000, 6)
    g = tmp_path / "in.bin"
    g.write_bytes(b"\x01\x02\x03")
    real.run("loadmem %s 0x700" % g)
    assert real.run("x /3bx 0x700")[-1] == "0x00000700:\t0x01\t0x02\t0x03"


def test_info_cpu_and_segments(real):
    text = real.text("sreg")
    assert "cs:0x1000, dh=0x00009b01, dl=0x0000ffff, valid=1" in text
    assert "Code segment, base=0x00010000, limit=0x0000ffff" in text
    assert "ss:0x3000" in text and "idtr:base=0x00000000, limit=0x3ff" in text
    text = real.text("creg")
    assert "CR0=0x00000000: pg cd nw am wp ne et ts em mp pe" in text
    text = real.text("info cpu")
    assert "eax: 0x" in text and "cs:0x1000" in text and "CR0=" in text and "DR7=" in text
    assert "mode: real" in text
    assert "no x87" in real.text("fp")
    assert real.run("info eflags")[0].startswith("eflags 0x00000002: id vip")


# ---------------------------------------------------------------- running

def test_next_steps_over_a_call(real):
    real.run("until 0x1000:%d" % lab(real, "call_func"))
    out = real.run("n")
    next_at(out, REAL_CS, lab(real, "after_call"))
    # the call ran: func wrote 0xbeef and read the word at 0x500 into AX
    assert real.run("x /1hx 0x510")[-1] == "0x00000510:\t0xbeef"
    assert "eax: 0x00002211 8721" in real.run("r")


def test_backtrace_and_finish(real):
    real.run("vb 0x1000:%d" % lab(real, "inner_body"), "c")
    out = real.run("bt")
    assert out == ["#0  1000:%04x" % lab(real, "inner_body"),
                   "#1  1000:%04x" % lab(real, "after_inner"),
                   "#2  1000:%04x" % lab(real, "after_call")]
    stack = real.run("print-stack 2")
    assert stack[0] == "Stack address size 2"
    assert stack[2].endswith("[0x%04x]" % lab(real, "after_inner"))
    out = real.run("finish")
    next_at(out, REAL_CS, lab(real, "after_inner"))


def test_watchpoints_stop_after_the_access(real):
    out = real.run("watch w 0x510 2")
    assert out == ["Watchpoint 1: write watchpoint lin 0x00000510 len 2"]
    out = real.run("c")
    assert any("Watchpoint 1" in l and "0xbeef" in l for l in out), out
    next_at(out, REAL_CS, lab(real, "after_write"))
    real.run("watch r 0x500")
    out = real.run("c")
    assert any("Watchpoint 2" in l and "read" in l for l in out), out
    next_at(out, REAL_CS, lab(real, "after_read"))
    listing = real.run("watch")
    assert len(listing) == 2 and listing[0].startswith("1: write watchpoint")
    assert real.run("unwatch") == ["Deleted 2 watchpoints"]
    assert real.run("watch") == ["No watchpoints."]


def test_catch_io_int_and_magic(real):
    assert real.run("catch io 0xe9 out") == ["Catchpoint 1: catch io 0xe9 out"]
    out = real.run("c")
    assert any("port 0x00e9" in l and "0x41" in l for l in out), out
    next_at(out, REAL_CS, lab(real, "after_out"))
    real.run("catch int 0x30")
    out = real.run("c")
    assert any("0x30" in l for l in out), out
    line = next_at(out, REAL_CS, lab(real, "int30"))
    assert "mov cx, 0x3030" in line
    real.run("magic on")
    out = real.run("c")
    assert any("Magic breakpoint" in l for l in out), out
    next_at(out, REAL_CS, lab(real, "after_magic"))


def test_info_break_counts_hits(real):
    real.run("lb 0x%x" % (REAL_BASE + lab(real, "loop_top")))
    real.run("pb 0x10000 + %d" % lab(real, "done"))
    real.run("bpd 2")
    for _ in range(3):                # mov si,3 then two taken jnz: loop_top runs 3 times
        next_at(real.run("c"), REAL_CS, lab(real, "loop_top"))
    out = real.run("info break")
    assert out[0].split() == ["Num", "Type", "Disp", "Enb", "Address", "What"]
    assert out[1].split()[:5] == ["1", "lbreakpoint", "keep", "y",
                                  "0x%08x" % (REAL_BASE + lab(real, "loop_top"))]
    assert out[2].strip() == "hit 3 times"
    assert out[3].split()[:5] == ["2", "pbreakpoint", "keep", "n",
                                  "0x%08x" % (REAL_BASE + lab(real, "done"))]
    real.run("bpe 2", "d 1")
    next_at(real.run("c"), REAL_CS, lab(real, "done"))
    real.run("d")
    assert real.run("blist") == ["No breakpoints, watchpoints or catchpoints."]


def test_conditional_and_temporary_breakpoints(real):
    out = real.run('lb 0x%x if "si == 1"' % (REAL_BASE + lab(real, "loop_top")))
    assert out[0].endswith('if "si == 1"')
    real.run("c")
    assert "esi: 0x00000001 1" in real.run("r")
    real.run("d 1", "tb 0x1000:%d" % lab(real, "done"))
    assert "del" in real.run("info break")[1].split()
    next_at(real.run("c"), REAL_CS, lab(real, "done"))
    assert real.run("info break") == ["No breakpoints, watchpoints or catchpoints."]


def test_trace_prints_each_instruction(real):
    assert real.run("trace on") == ["Tracing enabled"]
    out = real.run("s 3")
    traced = [l for l in out if l.startswith("[t=")]
    assert len(traced) == 3
    assert "mov ax, 0x1234" in traced[0] and "mov bx, 0x5678" in traced[1]
    assert "xor cx, cx" in traced[2]
    real.run("trace off", "trace-reg on")
    out = real.run("s")
    assert any(l.startswith("eax: 0x00001234") for l in out)
    real.run("trace-reg off", "trace-mem on")
    out = real.run("s")                                     # mov byte [0x500], 0x11
    assert "  mem write: lin 0x00000500 phys 0x00000500 size 1 value 0x11" in out


def test_trace_on_with_continue_stops_at_breakpoints(real):
    real.run("vb 0x1000:%d" % lab(real, "after_call"), "trace on")
    out = real.run("c")
    traced = [l for l in out if l.startswith("[t=")]
    # every instruction up to the breakpoint: 10 before the call, 10 in func and inner
    assert any("call 0x%x" % lab(real, "func") in l for l in traced)
    assert any("mov cx, 0x3030" in l for l in traced) is False
    next_at(out, REAL_CS, lab(real, "after_call"))


def test_show_int_and_call_print_and_continue(real):
    real.run("vb 0x1000:%d" % lab(real, "done"), "show int", "show call")
    out = real.run("c")
    shows = [l for l in out if l.startswith("show ")]
    assert any(l.startswith("show int:") and "0x30" in l for l in shows), out
    calls = [l for l in shows if l.startswith("show call:")]
    assert len(calls) == 2                            # call func, call inner
    assert "call 0x%x" % lab(real, "func") in calls[0]
    next_at(out, REAL_CS, lab(real, "done"))
    assert real.run("info break")[1].split()[1] == "vbreakpoint"   # show's are not listed
    real.run("show off")
    assert real.interp.show == set()


def test_symbols(real, tmp_path):
    symfile = tmp_path / "real.sym"
    symfile.write_text("".join("%x %s\n" % (REAL_BASE + a, n) for n, a in real.labels.items()))
    out = real.run("ldsym %s" % symfile)
    assert out == ["loaded %d symbols from %s" % (len(real.labels), symfile)]
    out = real.run("until inner_body")
    assert out[-1] == ("(0) [0x%012x] 1000:%04x (inner_body): nop ; 90"
                       % (REAL_BASE + lab(real, "inner_body"), lab(real, "inner_body")))
    bt = real.run("bt")
    assert bt[1] == "#1  1000:%04x in after_inner" % lab(real, "after_inner")
    assert "0x%08x: func" % (REAL_BASE + lab(real, "func")) in real.run("info symbols f")
    assert real.run("print func - start") == ["0x%x %d" % (lab(real, "func"), lab(real, "func"))]
    assert real.interp.complete("lb inn") == ["lb inner", "lb inner_body"]


# ---------------------------------------------------------------- protected mode

def test_catch_mode_switch(pm):
    pm.run("catch mode")
    out = pm.run("c")
    assert any("mode switch real -> protected" in l for l in out), out
    next_at(out, 0, pm.labels["entered"])


def test_protected_mode_tables(pm):
    out = pm.run("lb 0x%x" % pm.labels["paging_on"], "c")
    assert "0008:%08x" % pm.labels["paging_on"] in out[-1]
    assert "mov dword ptr [0x400000], 0xcafef00d" in out[-1]
    gdt = pm.run("info gdt")
    assert gdt[0] == "Global Descriptor Table (base=0x%08x, limit=39):" % pm.labels["gdt"]
    assert gdt[1].startswith("GDT[0x00]=??? descriptor hi=0x00000000, lo=0x00000000")
    # loading CS and DS set the descriptors' accessed bits; 0x20 was never loaded
    assert gdt[2] == ("GDT[0x01]=Code segment, base=0x00000000, limit=0xffffffff, "
                      "Execute/Read, Non-Conforming, Accessed, 32-bit, DPL=0")
    assert gdt[3].startswith("GDT[0x02]=Data segment, base=0x00000000, limit=0xffffffff, "
                             "Read/Write, Accessed")
    # LTR marked the TSS busy
    assert gdt[4] == "GDT[0x03]=32-Bit TSS (Busy), base=0x%08x, limit=0x00000067, DPL=0" \
        % pm.labels["tss"]
    assert gdt[5] == ("GDT[0x04]=Code segment, base=0x00010000, limit=0x0000ffff, "
                      "Execute/Read, Non-Conforming, 16-bit, DPL=0")
    assert pm.run("info gdt 1")[1].startswith("GDT[0x01]=Code segment")
    assert len(pm.run("info gdt 1 2")) == 3
    assert pm.run("info idt 0x40")[1] == (
        "IDT[0x40]=32-Bit Interrupt Gate target=0x0008:0x%08x, DPL=0" % pm.labels["handler40"])
    assert pm.run("info tab") == ["cr3: 0x00020000",
                                  "0x00000000-0x003fffff -> 0x00000000-0x003fffff",
                                  "0x00400000-0x00400fff -> 0x00100000-0x00100fff"]
    tss = pm.run("info tss")
    assert tss[0].startswith("tr:s=0x0018, base=0x%08x, limit=0x67" % pm.labels["tss"])
    assert "cs:0x0008" in pm.text("sreg")
    creg = pm.run("creg")[0]
    assert creg == "CR0=0x80000001: PG cd nw am wp ne et ts em mp PE"     # reset CR0 0, then PE, PG
    pm.run("s")
    assert pm.run("x /1wx 0x400000")[-1] == "0x00400000:\t0xcafef00d"
    assert pm.run("xp /1wx 0x100000")[-1] == "0x00100000:\t0xcafef00d"
    assert pm.run("pb 0x400000")[0] == "Breakpoint 2: pbreakpoint 0x00400000"
    assert pm.run("pb 0x0:0x400000")[0] == "Breakpoint 3: pbreakpoint 0x00100000"
    out = pm.run("s")
    next_at_line = out[-1]
    assert "0008:%08x" % pm.labels["handler40"] in next_at_line


# ---------------------------------------------------------------- errors and the interface

@pytest.mark.parametrize("command, words", [
    ("frobnicate", ["unknown command 'frobnicate'"]),
    ("x /4bx", ["missing address"]),
    ("x /4qx 0x500", ["'q'"]),
    ("b nosuchsym", ["nosuchsym"]),
    ("set eqx = 1", ["unknown register 'eqx'"]),
    ("set eax 1", ["REG = EXPR"]),
    ("s zero", ["zero"]),
    ("s 0", ["'0'"]),
    ("info nope", ["'nope'"]),
    ("bpd 99", ["99"]),
    ("d x", ["'x'"]),
    ("watch q 0x500", ["q"]),
    ("catch io 0x20-0x10", ["0x20-0x10"]),
    ("catch int 300", ["300"]),
    ("catch sometimes", ["'sometimes'"]),
    ("vb 0x1234", ["SEG:OFF"]),
    ("trace maybe", ["'maybe'"]),
    ("setpmem 0x500 3 1", ["3"]),
    ("setpmem 0x500 1 0x100", ["0x100"]),
    ("ldsym /no/such/file", ["/no/such/file"]),
    ("source /no/such/file", ["/no/such/file"]),
    ("info device nosuch", ["'nosuch'"]),
    ("help nosuch", ["'nosuch'"]),
    ('lb 0x10000 if "eax =="', ["eax =="]),
    ("u /0", ["'0'"]),
    ("u bits 64", ["64"]),
    ("cycle 0", ["not in the future"]),
])
def test_errors_are_one_line(real, command, words):
    line = real.fail(command)
    for w in words:
        assert w in line, (w, line)


def test_quit(real):
    assert real.interp.execute("q") is False
    assert real.interp.execute("exit") is False


def test_execute_capture(real):
    text = real.interp.execute_capture("x /2bx 0x10000")
    assert text == "[linear memory]\n0x00010000:\t0xb8\t0x34\n"
    assert real.interp.execute_capture("nonsense").startswith("error: unknown command")
    assert real.lines == []               # nothing went to the normal output


def test_run_script_stops_at_the_first_error(real, tmp_path):
    script = tmp_path / "s.dbg"
    script.write_text("# a comment\ns 2\n\nbogus 1\ns\n")
    assert real.interp.run_script(str(script)) is False
    assert real.lines[-1] == "%s:4: error: unknown command 'bogus' (help lists the commands)" \
        % script
    assert real.machine.cpu.icount == 2           # the last line never ran
    good = tmp_path / "g.dbg"
    good.write_text("s\nsource %s\n" % script)
    assert real.interp.run_script(str(good)) is False
    ok = tmp_path / "ok.dbg"
    ok.write_text("s\nr\n")
    assert real.interp.run_script(str(ok)) is True


def test_help_and_completion(real):
    text = real.text("help")
    for group in ("Execution:", "Breakpoints and watchpoints:", "Memory:"):
        assert group in text
    for name in ("vb|vbreak", "x [/NUF] ADDR", "print-stack", "ldsym"):
        assert name in text
    x = real.run("help x")
    assert x[0] == "x [/NUF] ADDR"
    assert "aliases: cont, continue" in real.text("help c")
    assert "info gdt [N [M]]" in real.text("help info")
    assert real.interp.complete("inf") == ["info"]
    assert real.interp.complete("info g") == ["info gdt"]
    assert "set eax" in real.interp.complete("set ea")
    assert "print $esp" in real.interp.complete("print $es")


def test_info_device_on_a_pc_chip(real):
    from peripherals.pic import PIC
    PIC(real.machine)
    listing = real.run("info device")
    assert listing[0].startswith("Devices")
    assert any(l.split()[0] == "pic" for l in listing[1:])
    text = real.text("info device pic")
    assert text == real.machine.device("pic").info().rstrip("\n")


def test_next_and_finish_while_tracing(real):
    real.run("until 0x1000:%d" % lab(real, "call_func"), "trace on")
    out = real.run("n")
    traced = [l for l in out if l.startswith("[t=")]
    # the whole call is traced: call, func's 7 instructions, inner's 5
    assert "call 0x%x" % lab(real, "func") in traced[0]
    assert traced[-1].split(": ", 1)[1].startswith("ret")
    next_at(out, REAL_CS, lab(real, "after_call"))


def test_finish_while_tracing(real):
    real.run("vb 0x1000:%d" % lab(real, "inner_body"), "c", "d", "trace on")
    out = real.run("finish")
    traced = [l for l in out if l.startswith("[t=")]
    assert [t.split(": ", 1)[1].split(" ;")[0] for t in traced] == ["nop", "pop bp", "ret"]
    next_at(out, REAL_CS, lab(real, "after_inner"))


# ---------------------------------------------------------------- PAE page tables

def test_pae_page_tables(tmp_path):
    """info tab, x and the TUI's page-table summary walk PAE tables (pentium2): tables
    written here, PAE paging turned on through the register API (which loads the PDPTEs)."""
    from types import SimpleNamespace
    from debugger.tui import paging_text
    m = Machine(cpu="pentium2", memory=4 << 20)
    P, W = 1, 2

    def entry(addr, value):
        m.bus.write(addr, value.to_bytes(8, "little"))
    entry(0x1000 + 0 * 8, 0x2000 | P)                     # PDPTE 0 -> PD at 0x2000
    entry(0x1000 + 2 * 8, 0x4000 | P)                     # PDPTE 2 -> PD at 0x4000
    entry(0x2000 + 0 * 8, 0x3000 | W | P)                 # 0-2 MiB: page table at 0x3000
    entry(0x2000 + 1 * 8, 0x200000 | 0x80 | W | P)        # 2-4 MiB: a 2 MiB page
    for k in range(4):
        entry(0x3000 + 8 * k, (k << 12) | W | P)          # 0-16 KiB identity
    entry(0x3000 + 0x10 * 8, 0x100000000 | W | P)         # 0x10000 -> above 4 GiB
    entry(0x3000 + 0x11 * 8, (1 << 40) | W | P)           # reserved bit 40: no mapping
    entry(0x4000, 0x80 | W | P)                           # 0x80000000: 2 MiB at 0
    m.bus.write(0x10, (0x600DCAFE).to_bytes(4, "little"))
    cpu = m.cpu
    cpu.set("cr4", 0x20)
    cpu.set("cr3", 0x1000)
    cpu.set("cr0", 0x80000001)
    assert cpu.pdptes == (0x2001, 0, 0x4001, 0)
    s = Session(m, {})
    assert s.run("info tab") == [
        "cr3: 0x00001000 (PAE: PDPTEs 0x000002001 0x000000000 0x000004001 0x000000000)",
        "0x00000000-0x00003fff -> 0x00000000-0x00003fff",
        "0x00010000-0x00010fff -> 0x100000000-0x100000fff",
        "0x00200000-0x003fffff -> 0x00200000-0x003fffff",
        "0x80000000-0x801fffff -> 0x00000000-0x001fffff"]
    assert s.dbg.translate(0x10004) == 0x100000004
    assert s.dbg.translate(0x11000) is None
    assert s.run("x /1wx 0x80000010")[-1] == "0x80000010:\t0x600dcafe"
    assert s.run("x /1wx 0x10000")[-1] == "0x00010000:\t0xffffffff"    # nothing above 4 GiB
    view = SimpleNamespace(regs={"cr0": cpu.cr0, "cr3": cpu.cr3, "cr4": cpu.cr4}, paging=True)
    assert paging_text(s.dbg, view).splitlines() == [
        "paging on (PAE): PDPT at 00001000, PDPTEs 000002001 000000000 000004001 000000000",
        "  00000000-001FFFFF  table at 00003000 ws, 5 of 512 pages present",
        "  00200000-003FFFFF  2M page at 00200000 ws",
        "  80000000-801FFFFF  2M page at 00000000 ws"]
