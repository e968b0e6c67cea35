"""Reverse execution (debugger/reverse.py): reverse-stepi then stepi comes back to the same
machine state; reverse-continue stops at the previous hit of a watchpoint in a SeaBIOS
boot; the command language's rs/rc/rn/rf; gdb's reverse-stepi and reverse-continue over
the remote protocol (bs/bc) with the real gdb in batch mode."""
import re

import pytest

from core import snapshot
from debugger.commands import CommandInterpreter
from debugger.controller import DebugError, Debugger
from tests.test_boot import build, require_firmware
from tests.test_gdbstub import REAL_BASE, STOP1, real_machine, run_gdb, values


def state(target):
    st = snapshot.capture(target)
    return st.decoded(), st.pages


@pytest.fixture
def seabios(tmp_path):
    require_firmware("seabios")
    pc = build(tmp_path, "seabios", "floppy")
    dbg = Debugger(pc)
    dbg.record()
    yield pc, dbg
    pc.close()


def test_reverse_stepi_then_stepi_returns_to_the_same_state(seabios):
    pc, dbg = seabios
    dbg.cont(max_cycles=8_000_000)
    seen = []
    for _ in range(6):
        seen.append(state(pc))
        dbg.step()
    seen.append(state(pc))
    dbg.reverse_step()
    assert state(pc) == seen[-2]
    dbg.step()
    assert state(pc) == seen[-1]
    dbg.reverse_step(4)
    assert state(pc) == seen[-5]
    for k in range(4):
        dbg.step()
        assert state(pc) == seen[-4 + k]


@pytest.mark.parametrize("interval", [None, 1e-9], ids=["default", "every-slice"])
def test_reverse_continue_stops_at_the_previous_watchpoint_hit(seabios, interval):
    """The BIOS timer tick (BDA 0x46C, written by SeaBIOS's IRQ0 handler): reverse-continue
    goes back to the hit before the current one, with the values of that write, and
    continuing forward from there meets the later hits again, state for state.  Also with
    a snapshot after every slice of the run (so hits fall where stretches start)."""
    pc, dbg = seabios
    dbg.record(interval=interval)
    dbg.cont(max_cycles=6_000_000)
    dbg.watch("phys", 0x46C, 4, "w")
    hits = []
    for _ in range(3):
        ev = dbg.cont(max_cycles=20_000_000)
        assert ev.reason == "watchpoint", ev.message
        hits.append((ev.details["old"], ev.details["new"], dbg.clock.now, state(pc)))
    back = dbg.reverse_continue()
    assert back.reason == "watchpoint"
    assert (back.details["old"], back.details["new"], dbg.clock.now) == hits[1][:3]
    assert state(pc) == hits[1][3]
    back = dbg.reverse_continue()
    assert (back.details["new"], dbg.clock.now) == (hits[0][1], hits[0][2])
    assert state(pc) == hits[0][3]
    ev = dbg.cont(max_cycles=20_000_000)
    assert (ev.details["new"], dbg.clock.now) == (hits[1][1], hits[1][2])
    assert state(pc) == hits[1][3]
    ev = dbg.cont(max_cycles=20_000_000)
    assert state(pc) == hits[2][3]
    if interval:
        assert len(dbg.history.snapshots) > 5


def test_reverse_commands_and_the_start_of_history(seabios, tmp_path, monkeypatch):
    pc, dbg = seabios
    out = []
    interp = CommandInterpreter(dbg, write=out.append)
    monkeypatch.chdir(tmp_path)
    assert interp.execute("cycle 3000000")
    assert interp.execute("s 3")
    where = (dbg.clock.now, dbg.cpu.icount)
    assert interp.execute("rs 3") and not interp.last_error
    assert interp.execute("s 3") and (dbg.clock.now, dbg.cpu.icount) == where
    assert interp.execute("snapshot save here")
    assert interp.execute("snapshot list")
    assert any(line.startswith("here") for line in out)
    assert interp.execute("record")
    assert any("recording for reverse execution since cycle 0" in line for line in out)
    assert interp.execute("rc")                   # no point set: back to the start
    assert dbg.clock.now == 0 and dbg.last_stop.reason == "history"
    assert interp.execute("snapshot load here") and (dbg.clock.now, dbg.cpu.icount) == where
    assert interp.execute("snapshot delete here")
    interp.execute("snapshot load here")
    assert "no such snapshot file" in interp.last_error


def test_without_recording_reverse_is_an_error():
    dbg = Debugger(real_machine())
    with pytest.raises(DebugError, match="record"):
        dbg.reverse_step()


def test_gdb_reverse_stepi_and_reverse_continue(tmp_path, monkeypatch):
    from debugger.commands import CommandInterpreter
    monkeypatch.chdir(tmp_path)
    m = real_machine()
    dbg = Debugger(m)
    interp = CommandInterpreter(dbg)
    from debugger.gdbstub import GdbServer

    class _Stub:
        pass
    stub = _Stub()
    stub.dbg = dbg
    stub.server = GdbServer(dbg, port=0, monitor=interp.execute_capture)
    stub.port = stub.server.start()
    stub.close = stub.server.close
    try:
        stub.dbg.record()
        out = run_gdb(stub.port, "monitor snapshot save start", "monitor record",
                      "break *0x%x" % STOP1, "continue",
                      "stepi", "stepi", "p/x $pc",
                      "reverse-stepi", "p/x $pc",
                      "stepi", "p/x $pc",
                      "reverse-continue", "p/x $pc",
                      "reverse-continue", "p/x $pc")
    finally:
        stub.close()
    vals = values(out)
    assert len(vals) == 5, out
    after2, back1, again, at_bp, start = (int(v, 16) for v in vals)
    assert STOP1 < back1 < after2 == again
    assert at_bp == STOP1
    assert re.search(r"Breakpoint 1, 0x0*%x in" % STOP1, out)
    assert start == REAL_BASE                       # the start of the recorded history
    assert "No more reverse-execution history" in out
    assert "saved the machine at cycle 0" in out and (tmp_path / "snapshots" /
                                                      "start.c86snap").is_file()
    assert "recording for reverse execution since cycle 0" in out


REP_GUEST = """
    cld
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov si, 0x1000
    mov di, 0x2000
    mov cx, 300
    rep movsb
    mov cx, 50
    mov di, 0x3000
    rep stosw
    hlt
"""


def test_a_rep_split_by_a_watchpoint_costs_the_guest_nothing():
    """Watchpoint hits inside REP MOVSB and REP STOSW stop the run between iterations;
    the instruction then resumes without being charged its start-up again, so the run
    ends at the same cycle and instruction count as one with no points (what re-running
    history with other points armed relies on)."""
    from core.machine import Machine
    from tests.asm import load, nasm

    def run(watch):
        m = Machine("80386")
        load(m, nasm(REP_GUEST))
        dbg = Debugger(m)
        if watch:
            dbg.watch("phys", 0x2010, 1, "w")
            dbg.watch("phys", 0x3020, 2, "w")
        stops = []
        while True:
            ev = dbg.cont(max_cycles=100_000)
            stops.append((ev.reason, m.cpu.get("cx")))
            if ev.reason != "watchpoint":
                break
        return stops, m.clock.now, m.cpu.icount

    plain, watched = run(False), run(True)
    assert watched[0] == [("watchpoint", 300 - 17), ("watchpoint", 50 - 17), ("halt", 0)]
    assert watched[1:] == plain[1:]


def test_reverse_continue_to_a_watchpoint_set_afterwards_inside_a_rep():
    """History recorded with no points; a watchpoint set at the end finds the write in
    the middle of REP MOVSB that happened long before, between two iterations."""
    from core.machine import Machine
    from tests.asm import load, nasm
    m = Machine("80386")
    load(m, nasm(REP_GUEST))
    dbg = Debugger(m)
    dbg.record()
    assert dbg.cont(max_cycles=100_000).reason == "halt"
    end = (m.clock.now, m.cpu.icount)
    dbg.watch("phys", 0x2010, 1, "w")
    ev = dbg.reverse_continue()
    assert ev.reason == "watchpoint" and m.cpu.get("cx") == 300 - 17
    assert m.cpu.get("di") == 0x2011
    assert dbg.cont(max_cycles=100_000).reason == "halt"
    assert (m.clock.now, m.cpu.icount) == end


CALL_GUEST = """
    mov cx, 3
top:
    call sub1
    dec cx
    jnz top
    hlt
sub1:
    push ax
    mov ax, 1
    call sub2
    add ax, 2
    pop ax
    ret
sub2:
    nop
    nop
    ret
"""


def test_reverse_finish_and_reverse_next_around_calls():
    """rf inside a procedure goes back to its CALL (from sub2 to the CALL in sub1, from
    sub1 to the CALL in the loop); rn after a call returned goes back over the whole call."""
    from core.machine import Machine
    from tests.asm import load, nasm
    m = Machine("80386")
    load(m, nasm(CALL_GUEST))
    dbg = Debugger(m)
    dbg.record()
    cpu = m.cpu

    def where():
        return (m.clock.now, cpu.icount, cpu.eip)

    dbg.step()                                     # mov cx, 3
    dbg.next()                                     # over the first round's call sub1
    dbg.step(2)                                    # dec cx, jnz top
    at_call = where()                              # the second round's call sub1
    assert dbg.read(dbg.current_linear(), 1) == b"\xe8"
    dbg.step(3)                                    # call sub1, push ax, mov ax, 1
    at_inner_call = where()                        # call sub2
    assert dbg.read(dbg.current_linear(), 1) == b"\xe8"
    dbg.step(2)                                    # call sub2, nop: inside sub2
    dbg.reverse_finish()
    assert where() == at_inner_call
    dbg.reverse_finish()                           # from sub1 back to the loop's call
    assert where() == at_call
    dbg.next()                                     # over the whole call
    assert cpu.eip == at_call[2] + 3 and cpu.get("ax") == 0
    after = where()
    dbg.reverse_next()
    assert where() == at_call
    dbg.next()
    assert where() == after


def test_serial_input_is_journalled_for_re_execution(seabios):
    """Bytes from COM1's host side arrive once; going back and running forward again
    delivers them from the journal at the same cycles (the host has nothing left)."""
    from peripherals.uart import MemoryBackend
    pc, dbg = seabios
    live = MemoryBackend(polled=True)
    uart = pc.chips["uart"]
    dbg.record(False)
    uart.attach(live)
    dbg.record()
    dbg.cont(max_cycles=2_000_000)
    live.feed(b"hello")
    dbg.cont(max_cycles=2_000_000)
    end = (dbg.clock.now, dbg.cpu.icount)
    got = state(pc)
    received = uart.rx_count
    assert received >= 1 and not live._in                      # the host's bytes are taken
    assert dbg.reverse_continue().reason == "history"        # back to the start
    assert uart.rx_count == 0
    dbg.run_to_cycle(end[0])
    assert (dbg.clock.now, dbg.cpu.icount) == end
    assert uart.rx_count == received and state(pc) == got
    dbg.record(False)
    assert uart.backend is live


def test_reverse_continue_to_breakpoint_hits_keeps_the_hit_counts():
    """A breakpoint on sub2, the guest run to its end: rc goes to the third call's entry,
    then the second's (CX tells which round); the hit count is what the forward run made."""
    from core.machine import Machine
    from tests.asm import load, nasm
    m = Machine("80386")
    code = nasm(CALL_GUEST)
    load(m, code)
    dbg = Debugger(m)
    dbg.record()
    sub2 = 0x10000 + code.index(b"\x90\x90\xc3")
    bp = dbg.break_at("lin", sub2)
    rounds = []
    while True:
        ev = dbg.cont(max_cycles=100_000)
        if ev.reason != "breakpoint":
            break
        rounds.append((m.clock.now, m.cpu.get("cx")))
    assert ev.reason == "halt" and [cx for _, cx in rounds] == [3, 2, 1] and bp.hits == 3
    ev = dbg.reverse_continue()
    assert ev.reason == "breakpoint" and (m.clock.now, m.cpu.get("cx")) == rounds[2]
    ev = dbg.reverse_continue()
    assert ev.reason == "breakpoint" and (m.clock.now, m.cpu.get("cx")) == rounds[1]
    assert bp.hits == 3


def test_host_input_while_stopped_inside_a_rep_waits_for_a_real_boundary():
    """Stopped by a watchpoint between two iterations of REP MOVSB, host input is held
    until the guest has gone on (a re-executed run does not stop there), then journalled
    at the cycle it went in and applied there again when the run is re-executed."""
    from core.machine import Machine
    from tests.asm import load, nasm
    m = Machine("80386")
    load(m, nasm(REP_GUEST))
    dbg = Debugger(m)
    dbg.record()
    dbg.watch("phys", 0x2010, 1, "w")
    assert dbg.cont(max_cycles=100_000).reason == "watchpoint"
    assert m.cpu.rep_split
    applied = []
    assert dbg.host_input(lambda: applied.append((m.clock.now, m.cpu.icount))) is None
    assert applied == []
    dbg.delete_all()
    assert dbg.cont(max_cycles=100_000).reason == "halt"
    assert len(applied) == 1 and applied[0][0] > 0
    first = applied[0]
    end = (m.clock.now, m.cpu.icount)
    assert dbg.reverse_continue().reason == "history"
    dbg.cont(max_cycles=100_000)
    assert applied == [first, first] and (m.clock.now, m.cpu.icount) == end


def test_keys_sent_are_journalled_and_arrive_again_at_their_cycles(seabios):
    """`sendkey` during a SeaBIOS boot: going back before it and running forward again
    delivers the keys at the same cycles (the i8042's input log and the whole machine are
    as they were); keys sent in the past replace the recorded future."""
    pc, dbg = seabios
    out = []
    interp = CommandInterpreter(dbg, write=out.append)
    assert interp.execute("cycle 2000000")
    assert interp.execute('sendkey "ab"') and not interp.last_error
    assert interp.execute("cycle 15000000")
    end = (dbg.clock.now, dbg.cpu.icount)
    got = state(pc)
    log = list(pc.chips["i8042"].input_log)
    assert len(log) == 4                            # a and b, pressed and released
    assert dbg.reverse_continue().reason == "history"
    assert pc.chips["i8042"].input_log == []
    dbg.run_to_cycle(end[0])
    assert (dbg.clock.now, dbg.cpu.icount) == end and state(pc) == got
    assert pc.chips["i8042"].input_log == log
    dbg.reverse_step(3)
    assert interp.execute('sendkey "c"')             # a new future
    assert len(dbg.history.inputs) == 2
    dbg.run_to_cycle(19_000_000)                   # c goes after b's release and gap
    assert len(pc.chips["i8042"].input_log) == 6
    assert pc.chips["i8042"].input_log[4][1] == ("key", "c", True)
