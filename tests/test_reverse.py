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
from tests.test_gdbstub import REAL_BASE, STOP1, Stub, real_machine, run_gdb, values


def state(target):
    st = snapshot.capture(target)
    return snapshot.decode(st.blob), st.pages


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


def test_reverse_continue_stops_at_the_previous_watchpoint_hit(seabios):
    """The BIOS timer tick (BDA 0x46C, written by SeaBIOS's IRQ0 handler): reverse-continue
    goes back to the hit before the current one, with the values of that write, and
    continuing forward from there meets the later hits again, state for state."""
    pc, dbg = seabios
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


def test_gdb_reverse_stepi_and_reverse_continue(stubs=None):
    stub = Stub(real_machine())
    try:
        stub.dbg.record()
        out = run_gdb(stub.port,
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
