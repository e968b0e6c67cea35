"""The debugger controller (debugger/controller.py) on small NASM guests: every breakpoint,
watchpoint and catchpoint kind stops at the right instruction with the right state; step,
next over a CALL, finish, until, run to a cycle, break on request; and trace recording.

The expected values come from the guest programs below (what their instructions do), not
from output of the code under test.
"""
import struct
import threading
import time

import pytest

from asm import nasm
from core.machine import Machine
from debugger.controller import Breakpoint, Catchpoint, DebugError, Debugger, Watchpoint

CODE = 0x7C00                       # real-mode guests run at 0000:7C00
STACK = 0x7000


def real_guest(source, cpu="80386", ivt=None):
    """A Machine running `source` at 0000:7C00 with SS:SP = 0000:7000."""
    m = Machine(cpu)
    m.bus.write(CODE, nasm(source))
    for vec, (seg, off) in (ivt or {}).items():
        m.bus.write(vec * 4, struct.pack("<HH", off, seg))
    cpu_ = m.cpu
    cpu_.set("cs", 0)
    cpu_.set("eip", CODE)
    cpu_.set("ss", 0)
    cpu_.set("esp", STACK)
    return m, Debugger(m)


# ---------------------------------------------------------------- protected mode set-up
GDT, IDT, PD, PT = 0x1000, 0x2000, 0x10000, 0x11000
PM_CODE, HANDLERS, PM_STACK = 0x20000, 0x30000, 0x9F000


def _descriptor(base, limit, access, flags):
    return struct.pack("<HHBBBB", limit & 0xFFFF, base & 0xFFFF, (base >> 16) & 0xFF, access,
                       ((limit >> 16) & 0xF) | (flags << 4), base >> 24)


def pm_guest(source, handlers=None, paging=False, cpu="80486", unmapped=()):
    """A Machine already in 32-bit protected mode (flat CS 0x08 / DS 0x10, CPL 0) running
    `source` at PM_CODE.  `handlers` maps vector -> NASM source placed in its own 256-byte
    slot; every other vector has no gate (so a fault there escalates to #DF, then shutdown).
    With `paging`, the first 4 MiB are identity-mapped except the pages in `unmapped`."""
    m = Machine(cpu, memory=4 << 20)
    bus, c = m.bus, m.cpu
    bus.write(GDT, bytes(8) + _descriptor(0, 0xFFFFF, 0x9A, 0xC) + _descriptor(0, 0xFFFFF, 0x92, 0xC))
    for vec, src in (handlers or {}).items():
        addr = HANDLERS + vec * 0x100
        bus.write(addr, nasm(src, bits=32))
        bus.write(IDT + vec * 8, struct.pack("<HHBBH", addr & 0xFFFF, 0x08, 0, 0x8E, addr >> 16))
    bus.write(PM_CODE, nasm(source, bits=32))
    c.gdtr = (GDT, 0x17)
    c.idtr = (IDT, 0x7FF)
    c.set("cr0", 0x11)
    c.set_segment("cs", 0x08, 0, 0xFFFFFFFF, 0xC09B00)
    for s in ("ds", "es", "ss", "fs", "gs"):
        c.set_segment(s, 0x10, 0, 0xFFFFFFFF, 0xC09300)
    c.set("eip", PM_CODE)
    c.set("esp", PM_STACK)
    if paging:
        bus.write(PD, struct.pack("<I", PT | 3) + bytes(4092))
        bus.write(PT, b"".join(struct.pack("<I", 0 if (i << 12) in unmapped else (i << 12) | 3)
                               for i in range(1024)))
        c.set("cr3", PD)
        c.set("cr0", 0x80000011)
    return m, Debugger(m)


# ================================================================ breakpoints

def test_linear_physical_and_virtual_breakpoints_stop_before_the_instruction():
    m, d = real_guest("""
        mov ax, 1
    here:
        mov ax, 2
        mov ax, 3
        hlt
    """)
    bp = d.break_at("lin", CODE + 3)
    ev = d.cont()
    assert ev.reason == "breakpoint" and ev.point is bp
    assert (m.cpu.get("eip"), m.cpu.get("ax")) == (CODE + 3, 1)     # mov ax, 2 not yet run
    assert bp.hits == 1
    d.delete(bp.id)
    # Physical and seg:off forms; CS:IP 07C0:0006 is linear 0x7C06 too.
    m.cpu.set("cs", 0x7C0)
    m.cpu.set("eip", 0)
    vb = d.break_at("virt", 6, segment=0x7C0)
    ev = d.cont()
    assert ev.point is vb and m.cpu.get("ax") == 2 and m.cpu.get("eip") == 6
    d.delete(vb.id)
    m.cpu.set("eip", 0)
    pb = d.break_at("phys", CODE + 6)
    ev = d.cont()
    assert ev.point is pb and m.cpu.get("ax") == 2


def test_virtual_breakpoint_needs_the_same_cs_selector():
    m, d = real_guest("""
        mov ax, 1
        mov ax, 2
        hlt
    """)
    d.break_at("virt", CODE + 3, segment=0x1234)     # same offset, other segment
    assert d.cont().reason == "halt"


def test_resuming_from_a_breakpoint_does_not_stop_there_again():
    m, d = real_guest("""
        mov cx, 3
    top:
        dec cx
        jnz top
        hlt
    """)
    bp = d.break_at("lin", CODE + 3)
    counts = []
    while d.cont().reason == "breakpoint":
        counts.append(m.cpu.get("cx"))
    assert counts == [3, 2, 1]
    assert bp.hits == 3


def test_condition_and_ignore_count():
    m, d = real_guest("""
        xor cx, cx
    top:
        inc cx
        mov [0x600], cx
        cmp cx, 10
        jne top
        hlt
    """)
    bp = d.break_at("lin", CODE + 2, condition="cx == 6 || word [0x600] == 8")
    assert d.cont().reason == "breakpoint" and m.cpu.get("cx") == 6
    assert d.cont().reason == "breakpoint" and m.cpu.get("cx") == 8
    assert d.cont().reason == "halt"
    bp.condition, bp._compiled = None, None
    m.cpu.set("eip", CODE)
    m.cpu.halted = False
    bp.ignore_count = 4
    assert d.cont().reason == "breakpoint" and m.cpu.get("cx") == 4


def test_bad_condition_is_rejected_when_set():
    _, d = real_guest("hlt")
    with pytest.raises(DebugError, match="bad condition"):
        d.break_at("lin", CODE, condition="ax ==")


def test_temporary_breakpoint_is_deleted_after_it_stops():
    m, d = real_guest("""
    top:
        inc ax
        jmp top
    """)
    bp = d.break_at("lin", CODE, temporary=True)
    assert d.cont(max_cycles=10_000).point is bp      # the guest is at CODE already... (resume)
    assert bp.id not in d.points


def test_disabled_breakpoint_does_not_stop():
    m, d = real_guest("""
        mov ax, 1
        mov ax, 2
        hlt
    """)
    bp = d.break_at("lin", CODE + 3)
    d.enable(bp.id, False)
    assert d.cont().reason == "halt"
    with pytest.raises(DebugError, match="no breakpoint"):
        d.delete(99)


# ================================================================ watchpoints

def test_write_watchpoint_reports_old_and_new_value_after_the_write():
    m, d = real_guest("""
        mov word [0x500], 0x1111
        mov ax, [0x500]
        mov word [0x502], 0x2222
        mov word [0x501], 0xABCD
        hlt
    """)
    w = d.watch("lin", 0x502, 2, "w")
    ev = d.cont()
    assert ev.reason == "watchpoint" and ev.point is w
    assert m.cpu.get("eip") == CODE + 15            # after the writing instruction (6+3+6)
    assert ev.details["old"] == 0 and ev.details["new"] == 0x2222 and ev.details["write"]
    ev = d.cont()                                   # an overlapping write at 0x501
    assert ev.point is w and ev.details["linear"] == 0x501
    assert ev.details["old"] == 0x2211 and ev.details["new"] == 0xABCD


def test_read_watchpoint_ignores_writes_and_instruction_fetches():
    m, d = real_guest("""
        mov word [0x500], 7
        mov bx, [0x500]
        hlt
    """)
    w = d.watch("lin", 0x500, 1, "r")
    d.watch("lin", CODE, 16, "r")                   # the code itself: fetches do not count
    ev = d.cont()
    assert ev.point is w and not ev.details["write"] and m.cpu.get("bx") == 7


def test_physical_watchpoint_through_paging_and_stack_pushes():
    m, d = pm_guest("""
        mov dword [0x3FF000], 0x12345678
        push dword 0x55
        hlt
    """, paging=True)
    # Remap linear 0x3FF000 to physical 0x5000.
    m.bus.write(PT + 0x3FF * 4, struct.pack("<I", 0x5000 | 3))
    w = d.watch("phys", 0x5000, 4, "w")
    ev = d.cont()
    assert ev.point is w and ev.details["linear"] == 0x3FF000 and ev.details["physical"] == 0x5000
    assert ev.details["new"] == 0x12345678
    ws = d.watch("lin", PM_STACK - 4, 4, "w")
    ev = d.cont()
    assert ev.point is ws and ev.details["new"] == 0x55


def test_watchpoint_inside_rep_movs_stops_at_the_iteration():
    m, d = real_guest("""
        push ds
        pop es
        mov si, 0x600
        mov di, 0x700
        mov cx, 16
        cld
        rep movsb
        hlt
    """)
    w = d.watch("lin", 0x705, 1, "w")
    ev = d.cont()
    assert ev.point is w
    # Stopped after the 6th byte moved, on the REP MOVSB itself (it resumes from there).
    assert (m.cpu.get("di"), m.cpu.get("cx")) == (0x706, 10)
    assert d.cont().reason == "halt" and m.cpu.get("cx") == 0


# ================================================================ catchpoints

def test_io_catchpoint_by_direction():
    m, d = real_guest("""
        mov al, 0x41
        out 0xE9, al
        mov dx, 0x80
        in al, dx
        out dx, al
        hlt
    """)
    c = d.catch_io(0x80, access="r")
    ev = d.cont()
    assert ev.reason == "io" and ev.point is c
    assert ev.details["port"] == 0x80 and not ev.details["write"]
    assert m.cpu.get("eip") == CODE + 8
    d.catch_io(0xE0, 0xEF, access="w")
    assert d.cont().reason == "halt"                # OUT 0x80 is not in the ranges


def test_vector_catchpoint_on_software_and_hardware_interrupts():
    m, d = real_guest("""
        sti
        int 0x21
        hlt
    """, ivt={0x21: (0, 0x600)})
    m.bus.write(0x600, bytes([0xCF]))               # iret
    c = d.catch_vector(0x21, kinds=("software",))
    ev = d.cont()
    assert ev.reason == "vector" and ev.point is c
    assert ev.details["vector"] == 0x21 and ev.details["kind"] == "software"
    assert (m.cpu.get("cs"), m.cpu.get("eip")) == (0, 0x600)   # at the handler's entry
    assert ev.details["eip"] == CODE + 3            # where the INT was taken (return IP)


def test_exception_catchpoints_page_fault_and_general_protection():
    m, d = pm_guest("""
        mov eax, [0x300000]
        mov ax, 0x50
        mov ds, ax
        hlt
    """, handlers={14: "add esp, 4\nadd dword [esp], 5\niretd",
                   13: "hlt"}, paging=True, unmapped={0x300000})
    pf = d.catch_vector(14)
    gp = d.catch_vector(13)
    ev = d.cont()
    assert ev.point is pf and ev.details["error"] == 0 and m.cpu.cr2 == 0x300000
    assert ev.details["eip"] == PM_CODE             # the faulting instruction
    assert m.cpu.get("eip") == HANDLERS + 14 * 0x100
    ev = d.cont()
    assert ev.point is gp and ev.details["error"] == 0x50
    assert ev.details["eip"] == PM_CODE + 9


def test_double_fault_and_triple_fault_stop_before_the_machine_goes_on():
    m, d = pm_guest("""
        mov eax, [0x300000]
        hlt
    """, paging=True, unmapped={0x300000})          # no #PF gate: #PF -> #GP -> #DF
    df = d.catch_vector(8)
    ev = d.cont()
    # Vector 14 has no gate: the #GP while delivering it becomes #DF, which has none
    # either, so the CPU shuts down; the stop names the #DF it caught and the shutdown.
    assert ev.reason == "shutdown" and m.cpu.shutdown
    assert ev.details["also"][0].point is df
    assert "Triple fault" in ev.message and "(#DF)" in ev.message
    assert m.cpu.cr2 == 0x300000                    # the state is there to inspect
    assert m.cpu.get("eip") == PM_CODE              # at the instruction that began it
    assert d.cont().reason == "shutdown"            # and it stays there


def test_mode_switch_catchpoint():
    m, d = real_guest("""
        mov eax, cr0
        or al, 1
        mov cr0, eax
        and al, 0xFE
        mov cr0, eax
        hlt
    """)
    c = d.catch_mode()
    ev = d.cont()
    assert ev.reason == "mode" and ev.details == {"old": "real", "new": "protected"}
    assert m.cpu.get("eip") == CODE + 8             # after MOV CR0, EAX
    ev = d.cont()
    assert ev.details == {"old": "protected", "new": "real"}


def test_magic_breakpoint_is_opt_in():
    m, d = real_guest("""
        xchg bx, bx
        mov ax, 5
        xchg bx, bx
        hlt
    """)
    m2, d2 = real_guest("xchg bx, bx\nhlt")
    assert d2.cont().reason == "halt"               # not armed: just an exchange
    d.step()
    d.catch_magic()
    ev = d.cont()
    assert ev.reason == "magic" and m.cpu.get("ax") == 5 and m.cpu.get("eip") == CODE + 7


# ================================================================ execution control

def test_step_counts_instructions_and_next_steps_over_a_call():
    m, d = real_guest("""
        mov ax, 1
        call sub
        mov bx, 2
        hlt
    sub:
        mov cx, 3
        call sub2
        ret
    sub2:
        ret
    """)
    d.step(2)
    assert m.cpu.get("eip") == CODE + 10            # inside sub
    d.step()
    ev = d.next()                                   # over call sub2
    assert ev.reason == "step" and m.cpu.get("eip") == CODE + 16
    m.cpu.set("eip", CODE)
    m.cpu.set("esp", STACK)
    d.step()
    d.next()                                        # over call sub (with its inner call)
    assert m.cpu.get("eip") == CODE + 6 and m.cpu.get("cx") == 3
    assert m.cpu.get("esp") == STACK


def test_next_over_a_recursive_call_returns_to_the_same_depth():
    m, d = real_guest("""
        mov cx, 4
        call rec
        hlt
    rec:
        dec cx
        jz done
        call rec
    done:
        ret
    """)
    d.step()
    d.next()
    assert m.cpu.get("eip") == CODE + 6 and m.cpu.get("esp") == STACK and m.cpu.get("cx") == 0


def test_next_stops_at_a_breakpoint_inside_the_call():
    m, d = real_guest("""
        call sub
        hlt
    sub:
        mov ax, 9
        ret
    """)
    bp = d.break_at("lin", CODE + 4)
    ev = d.next()
    assert ev.point is bp and m.cpu.get("eip") == CODE + 4


def test_finish_returns_to_the_caller():
    m, d = real_guest("""
        call sub
        mov bx, 1
        hlt
    sub:
        push ax
        call sub2
        pop ax
        ret
    sub2:
        ret
    """)
    d.step(3)                                       # call sub, push ax, call sub2
    ev = d.finish()                                 # returns from sub2 only
    assert ev.reason == "finish" and m.cpu.get("eip") == CODE + 11
    ev = d.finish()
    assert ev.reason == "finish" and m.cpu.get("eip") == CODE + 3


def test_until_and_run_to_cycle():
    m, d = real_guest("""
        mov cx, 100
    top:
        loop top
        mov ax, 7
        hlt
    """)
    ev = d.until(CODE + 5)
    assert ev.reason == "until" and m.cpu.get("eip") == CODE + 5 and m.cpu.get("cx") == 0
    m2, d2 = real_guest("top: inc ax\njmp top")
    ev = d2.run_to_cycle(5000)
    assert ev.reason == "cycle" and 5000 <= m2.clock.now < 5100
    with pytest.raises(DebugError):
        d2.run_to_cycle(10)


def test_step_through_hlt_waits_for_the_interrupt():
    m, d = real_guest("""
        sti
        hlt
        mov ax, 1
        hlt
    """, ivt={8: (0, 0x600)})
    m.bus.write(0x600, bytes([0xCF]))
    fired = []

    def raise_irq(deadline):
        m.cpu.intr = True
        fired.append(deadline)

    m.cpu.intr_ack = lambda: (setattr(m.cpu, "intr", False), 8)[1]
    m.clock.schedule(10_000, raise_irq)
    d.step(2)                                       # sti, hlt
    assert m.cpu.halted
    d.step()                                        # time passes; the IRQ is delivered
    assert fired and m.cpu.get("eip") == 0x600 and not m.cpu.halted


def test_request_break_from_another_thread():
    m, d = real_guest("top: inc ax\njmp top")
    timer = threading.Timer(0.2, d.request_break)
    timer.start()
    t0 = time.perf_counter()
    ev = d.cont()
    assert ev.reason == "break" and time.perf_counter() - t0 < 5
    assert not d.running
    assert d.step().reason == "step"                # a stale break does not stop the next run


def test_running_twice_at_once_is_refused():
    m, d = real_guest("top: inc ax\njmp top")
    t = threading.Thread(target=d.cont)
    t.start()
    while not d.running:
        time.sleep(0.01)
    with pytest.raises(DebugError, match="already running"):
        d.step()
    d.request_break()
    t.join(5)


def test_points_are_listed_and_described():
    _, d = real_guest("hlt")
    b = d.break_at("virt", 0x10, segment=0x7C0)
    w = d.watch("phys", 0xB8000, 4, "rw")
    c = d.catch_io(0x3F8, 0x3FF, "w")
    v = d.catch_vector(0x0E, kinds=("exception",))
    assert [p.id for p in d.list_points()] == [b.id, w.id, c.id, v.id]
    assert isinstance(b, Breakpoint) and isinstance(w, Watchpoint) and isinstance(c, Catchpoint)
    assert "07c0:00000010" in b.describe()
    assert "access watchpoint phys 0x000b8000 len 4" == w.describe()
    assert "0x3f8-0x3ff" in c.describe() and "0x0e" in v.describe()
    d.delete_all()
    assert d.list_points() == []


# ================================================================ memory and state

def test_read_write_and_translate_without_side_effects():
    m, d = pm_guest("hlt", paging=True, unmapped={0x200000})
    m.bus.write(PT + 0x100 * 4, struct.pack("<I", 0x6000 | 3))     # 0x100000 -> 0x6000
    d.write(0x100FFE, b"\x01\x02\x03\x04")          # straddles into the next page
    assert d.read(0x100FFE, 4) == b"\x01\x02\x03\x04"
    assert m.bus.read(0x6FFE, 2) == b"\x01\x02" and m.bus.read(0x101000, 2) == b"\x03\x04"
    assert d.translate(0x100123) == 0x6123 and d.translate(0x200000) is None
    with pytest.raises(DebugError, match="0x00200000"):
        d.read(0x1FFFFE, 4)
    pte = struct.unpack("<I", m.bus.read(PT + 0x100 * 4, 4))[0]
    assert pte & 0x60 == 0                           # no accessed/dirty bits set by the debugger


def test_seg_to_linear_uses_descriptor_bases_in_protected_mode():
    m, d = pm_guest("hlt")
    m.bus.write(GDT + 0x18, _descriptor(0x123000, 0xFFFF, 0x92, 0x4))
    m.cpu.gdtr = (GDT, 0x1F)
    assert d.seg_to_linear(0x18, 0x10) == 0x123010
    assert d.seg_to_linear("ds", 0x10) == 0x10
    m2, d2 = real_guest("hlt")
    assert d2.seg_to_linear(0x7C0, 0x10) == 0x7C10


# ================================================================ trace recording

def _record(tmp_path, name):
    from debugger.trace import TraceReader
    m, d = real_guest("""
        mov cx, 3
    top:
        mov [0x650], cx
        out 0xE9, al
        loop top
        int 0x21
        hlt
    """, ivt={0x21: (0, 0x600)})
    m.bus.write(0x600, bytes([0xCF]))
    path = tmp_path / name
    d.trace_start(str(path))
    assert d.cont().reason == "halt"
    d.trace_stop()
    return path, list(TraceReader(str(path)))


def test_trace_of_the_same_run_twice_is_identical(tmp_path):
    a, recs = _record(tmp_path, "a.c86t")
    b, _ = _record(tmp_path, "b.c86t")
    assert a.read_bytes() == b.read_bytes()
    insns = [r for r in recs if r.kind == "insn"]
    # mov cx; 3 x (mov, out, loop); int; iret; hlt
    assert [r.linear for r in insns[:5]] == [CODE, CODE + 3, CODE + 7, CODE + 9, CODE + 3]
    writes = [w for r in insns for w in r.mem_writes if w[0] == 0x650]
    assert [w[3] for w in writes] == [3, 2, 1]
    outs = [io for r in insns for io in r.io]
    assert len(outs) == 3 and all(io[0] == 0xE9 and io[2] for io in outs)
    ints = [i for r in insns for i in r.interrupts]
    assert ints == [(0x21, 1, None)]
