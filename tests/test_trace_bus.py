"""BUS entries (docs/trace-format.md): the per-clock bus view of the 8086/8088 bus model
(core/biu8086.py) in a trace, written by core.machine.Machine while the CPU records, read
back by debugger/trace.py and shown by `cycle86 trace show --clocks`."""
import json

import pytest

from core import cli
from core.machine import Machine
from debugger import trace as tr
from tests.asm import load, nasm

# Fetches, memory reads and writes (a word at an odd address: two byte cycles on the 8086),
# the stack, port I/O, a multiply whose time depends on its operands, a REP string
# instruction and taken jumps (queue flushes), then HLT with interrupts off.
PROGRAM = """
  mov ax, cs
  mov ds, ax
  mov es, ax
  mov cx, 12
  mov bx, data
again:
  add [bx], ax
  mov dx, [bx+1]          ; odd address
  push dx
  pop si
  mov al, 0x41
  out 0xe9, al
  in al, 0x60
  mov ax, 0x1234
  mul cx
  inc bx
  loop again
  mov si, data
  mov di, data + 0x20
  mov cx, 5
  cld
  rep movsb
  jmp short over
  nop
over:
  cli
  hlt
data:
  times 64 db 0x5a
"""


def _machine(model, bus_timing=True):
    m = Machine(cpu=model, memory=1 << 20, bus_timing=bus_timing)
    load(m, nasm(PROGRAM), cs=0x1000, ip=0x0100, ss=0x2000, sp=0x0100)
    return m


def _record(path, model, bus_timing=True, stepping=True, keep=None):
    """Run PROGRAM to its HLT while recording into `path`; `keep` gets each step's
    bus-model records."""
    m = _machine(model, bus_timing)
    with tr.TraceWriter.for_machine(path, m, "PROGRAM") as w:
        m.cpu.trace_start()
        if stepping:
            while not m.cpu.halted:
                m.step()
                if keep is not None:
                    keep.append(list(m.bus_timing.records))
        else:
            assert m.run(max_cycles=1_000_000) == "halt"
        m.cpu.trace_stop()
        m.cpu.trace_drain(w.write)
    return m


def _read(path):
    with tr.TraceReader(path) as t:
        assert t.warnings == []
        return t.version, t.header, list(t.records())


@pytest.mark.parametrize("model", ["8086", "8088"])
def test_the_trace_holds_the_bus_models_records_of_each_instruction(tmp_path, model):
    path = tmp_path / "bus.c86t"
    _record(path, model)
    version, header, recs = _read(path)
    assert version == 2 and header["bus_timing"] is True

    # The same run without a recording, asking the bus model for its records: what the
    # trace holds for each instruction is what a user of machine.bus_timing sees.
    m = _machine(model)
    m.bus_timing.record = True
    expected = []
    while not m.cpu.halted:
        cs, ip = m.cpu.cs, m.cpu.ip
        m.step()
        expected.append(((cs, ip), list(m.bus_timing.records), m.bus_timing.modelled))
    assert [r.kind for r in recs] == ["insn"] * len(expected)
    for rec, ((cs, ip), records, modelled) in zip(recs, expected):
        assert (rec.cs, rec.eip) == (cs, ip)
        assert [c[:8] for c in rec.clocks] == records, tr.format_record(rec)
        assert bool(rec.clocks) == modelled
        assert all(c.data is None for c in rec.clocks)     # the model reports no data

    # The model timed every instruction before the HLT, and every clock is accounted
    # for: an instruction's clocks are the cycles from its start to the next one's.
    assert all(rec.clocks for rec in recs[:-1]) and recs[-1].bytes == b"\xf4"
    for rec, nxt in zip(recs, recs[1:]):
        assert len(rec.clocks) == nxt.cycle - rec.cycle, tr.format_record(rec)
    # What the clocks show: the loop's OUT and IN, the odd-address word read split into
    # two byte cycles on the 8086, the queue emptied by the taken jumps.
    bus = [c for rec in recs for c in rec.clocks]
    assert any(c.ale and c.status == "IOW" and c.address == 0xE9 for c in bus)
    assert any(c.ale and c.status == "IOR" and c.address == 0x60 for c in bus)
    assert any(c.qop == "E" for c in bus)
    mov_dx = next(r for r in recs if r.bytes[:2] == bytes.fromhex("8b57"))
    reads = [c for c in mov_dx.clocks if c.ale and c.status == "MEMR"]
    assert len(reads) == 2 and reads[1].address == reads[0].address + 1
    assert reads[0].address & 1


def test_run_and_step_record_the_same_bytes_and_recording_twice_too(tmp_path):
    files = []
    for name, stepping in (("a", True), ("b", True), ("c", False)):
        path = tmp_path / (name + ".c86t")
        _record(path, "8086", stepping=stepping)
        files.append(path.read_bytes())
    assert files[0] == files[1] == files[2]


def test_a_recording_without_bus_timing_has_no_bus_entries(tmp_path):
    path = tmp_path / "table.c86t"
    m = _record(path, "8086", bus_timing=False)
    assert m.bus_timing is None
    version, header, recs = _read(path)
    assert version == 2 and "bus_timing" not in header
    assert recs and all(r.clocks == [] for r in recs)


@pytest.mark.parametrize("model", ["8086", "8088"])
def test_bus_entries_between_instructions_leave_the_compact_stream_intact(tmp_path, model):
    # Version 2 leaves out what the reader can tell from the entries before (the EIP
    # after the last instruction, the bytes last recorded at an address); Machine appends
    # a BUS entry after each instruction.  The same program recorded on the tables
    # (no BUS entries) must read as the same instructions, addresses, bytes, register
    # changes, writes and I/O: only the cycles and the clocks differ.
    bus_path, table_path = tmp_path / "bus.c86t", tmp_path / "table.c86t"
    _record(bus_path, model)
    _record(table_path, model, bus_timing=False)
    _, _, bus = _read(bus_path)
    _, _, table = _read(table_path)

    def what(r):
        return (r.kind, r.icount, r.mode, r.cs, r.eip, r.linear, r.physical, r.bytes,
                r.regs_after, r.mem_writes, r.io, r.interrupts)
    assert [what(r) for r in bus] == [what(r) for r in table]
    assert sum(len(r.clocks) for r in bus) > len(bus)
    # The loop and REP MOVSB came back to bytes the reader knew: the recorder wrote those
    # INSNs without code bytes even with a BUS entry after every instruction.
    raw = bus_path.read_bytes()
    one_byte = sum(1 for r in bus if raw[r.offset] & tr.INSN2
                   and not raw[r.offset] & (tr.INSN2_CODE | tr.INSN2_EIP))
    assert one_byte > 12


def test_a_bus_timed_machine_that_is_not_recording_pays_for_no_records():
    m = _machine("8086")
    m.step()
    assert m.bus_timing.modelled and m.bus_timing.records == []
    assert m.bus_timing.record is False


def test_recording_leaves_the_record_switch_as_it_was(tmp_path):
    m = _record(tmp_path / "r.c86t", "8086")
    assert m.bus_timing.record is False


def test_an_interrupt_delivery_has_its_acknowledge_clocks(tmp_path):
    # IRQ 0 pending with interrupts on: the bus model times the delivery too (two INTA
    # bus cycles, then the vector read and the pushes), and its clocks, like each
    # instruction's, add up to its cycle delta.
    m = _machine("8086")
    cpu = m.cpu
    handler = 0x0400
    m.mem.write((0x1000 << 4) + handler, bytes.fromhex("fa f4"))        # cli; hlt
    m.mem.write(0x08 * 4, (handler | 0x1000 << 16).to_bytes(4, "little"))
    m.mem.write((0x1000 << 4) + 0x0100, bytes.fromhex("fb 90 90"))      # sti; nop; nop

    def acknowledge():
        cpu.intr = False
        return 0x08
    cpu.intr_ack = acknowledge
    cpu.intr = True
    path = tmp_path / "irq.c86t"
    with tr.TraceWriter.for_machine(path, m) as w:
        cpu.trace_start()
        while not cpu.halted:
            m.step()
        cpu.trace_stop()
        cpu.trace_drain(w.write)
    _, _, recs = _read(path)
    kinds = [(r.kind, r.eip) for r in recs]
    assert kinds == [("insn", 0x100), ("insn", 0x101), ("interrupt", None),
                     ("insn", handler), ("insn", handler + 1)]
    sti, nop, irq, cli_, hlt = recs
    assert sti.clocks and cli_.clocks and irq.clocks
    assert [c.status for c in irq.clocks if c.ale] [:2] == ["INTA", "INTA"]
    for rec, nxt in zip(recs, recs[1:]):
        assert not rec.clocks or len(rec.clocks) == nxt.cycle - rec.cycle


# ---------------------------------------------------------------- the entry itself

def _clock(t="Ti", status="PASV", address=0, segment="--", ale=0, qop="-", qbyte=0, bhe=1,
           data=None):
    return tr.BusClock(ale, address, segment, status, t, qop, qbyte, bhe, data)


BUS_CYCLE = [
    _clock("T1", "MEMW", 0x2FFFE, "SS", ale=1, qop="F", qbyte=0x50, bhe=0),
    _clock("T2", "MEMW", 0x2FFFE, "SS", bhe=0),
    _clock("T3", "PASV", 0x2FFFE, "SS", bhe=0, data=0x1234),
    _clock("Tw", "PASV", 0x2FFFE, "SS", bhe=0, data=0x1234),
    _clock("T4", "PASV", 0x2FFFE, "SS", bhe=0),
    _clock("Ti", qop="E"),
    _clock("T1", "IOR", 0x60, ale=1, qop="S", qbyte=0),
    _clock("T2", "IOR", 0x60),
]


def _stream(*bus_entries, version=tr.VERSION):
    """push ax, its BUS entries, nop (whose EIP, in version 2, is the one after the push's:
    its INSN has no EIP field)."""
    enc = tr.StreamEncoder(version)
    return b"".join([enc.key(0, 0, {"cs": 0x1000}, 0), enc.ctx(0, 0x1000, 0x10000),
                     enc.insn(0, 0, b"\x50"), *bus_entries,
                     enc.insn(len(BUS_CYCLE), 1, b"\x90")])


def _write(tmp_path, raw, version=tr.VERSION, name="t.c86t"):
    path = tmp_path / name
    tr.write_trace(path, tr.make_header("8086", 4_772_727, 0, bus_timing=True), raw,
                   version)
    return path


def test_clock_records_are_a_few_bytes_and_read_back_as_written(tmp_path):
    entry = tr.encode_bus(BUS_CYCLE)
    # 3 bytes of header; 2 a clock; the address once (T1 of each cycle), the queue bytes
    # that are not 0, the data where it was given.
    assert len(entry) == 3 + 2 * len(BUS_CYCLE) + 3 * 2 + 1 + 2 * 2
    _, _, recs = _read(_write(tmp_path, _stream(entry)))
    push, nop = recs
    assert push.clocks == BUS_CYCLE and nop.clocks == []


def test_a_bus_entry_keeps_what_the_next_insn_leaves_out(tmp_path):
    # push ax; nop; a jump back to the push and the nop again, a BUS entry after each:
    # the last two INSNs are one byte (EIP and bytes implied), the first of them with a
    # one-byte displacement, the last with nothing but its tag.
    enc = tr.StreamEncoder()
    bus = enc.bus(BUS_CYCLE)
    n = len(BUS_CYCLE)
    parts = [enc.key(0, 0, {"cs": 0x1000}, 0), enc.ctx(0, 0x1000, 0x10000),
             enc.insn(0, 0, b"\x50"), enc.reg("esp", 0xFFFE), bus,
             enc.insn(n, 1, b"\x90"), bus]
    again = enc.insn(n, 0, b"\x50")
    parts += [again, enc.reg("esp", 0xFFFC), bus]
    last = enc.insn(n, 1, b"\x90")
    parts += [last, bus]
    assert again == bytes((tr.INSN2 | tr.INSN2_EIP | n, 0xFE))
    assert last == bytes((tr.INSN2 | n,))
    _, _, recs = _read(_write(tmp_path, b"".join(parts)))
    assert [(r.eip, r.bytes, r.cycle, r.regs_after) for r in recs] == [
        (0, b"\x50", 0, {"esp": 0xFFFE}), (1, b"\x90", n, {}),
        (0, b"\x50", 2 * n, {"esp": 0xFFFC}), (1, b"\x90", 3 * n, {})]
    assert all(r.clocks == BUS_CYCLE for r in recs)


def test_an_instruction_longer_than_one_entry_gets_several(tmp_path):
    clocks = [_clock("T1" if k % 4 == 0 else "T2", "CODE", 0x10000 + k // 4, "CS",
                     ale=int(k % 4 == 0)) for k in range(tr.BUS_MAX_CLOCKS + 10)]
    raw = tr.encode_bus(clocks)
    assert raw[0] == tr.BUS and raw.count(bytes([tr.BUS, 0xFF, 0xFF])) >= 1
    _, _, recs = _read(_write(tmp_path, _stream(raw)))
    assert recs[0].clocks == clocks


@pytest.mark.parametrize("bad", [
    [],
    [("x",)],
    [(0, 0, "--", "PASV", "T9", "-", 0, 1)],
    [(0, 0, "FS", "PASV", "Ti", "-", 0, 1)],
    [(2, 0, "--", "PASV", "Ti", "-", 0, 1)],
    [(0, 1 << 24, "--", "PASV", "Ti", "-", 0, 1)],
    [(0, 0, "--", "PASV", "Ti", "F", 256, 1)],
    [(0, 0, "--", "PASV", "Ti", "F", 0, 1, 1 << 16)],
])
def test_encode_bus_refuses_what_is_not_a_clock(bad):
    with pytest.raises(ValueError):
        tr.encode_bus(bad)


def _errors(tmp_path, raw, version=tr.VERSION):
    with pytest.raises(tr.TraceError) as e:
        _read(_write(tmp_path, raw, version))
    return str(e.value)


def test_damaged_bus_entries(tmp_path):
    entry = tr.encode_bus(BUS_CYCLE)
    key = tr.encode_key(0, 0, {}, 0)
    # In a version-1 file the tag is unknown.
    assert "unknown entry tag 0x0a" in _errors(tmp_path, _stream(entry, version=1), 1)
    with pytest.raises(ValueError):
        tr.StreamEncoder(1).bus(BUS_CYCLE)
    # With no instruction to belong to, no clocks, a T-state or segment code that is none.
    assert "BUS entry outside" in _errors(tmp_path, key + entry)
    assert "no clocks" in _errors(tmp_path, _stream(bytes([tr.BUS, 0, 0])))
    bad_t = bytes([tr.BUS, 1, 0, 7 | 6 << 3, 4 << 2])
    assert "T-state 6" in _errors(tmp_path, _stream(bad_t))
    bad_seg = bytes([tr.BUS, 1, 0, 7, 5 << 2])
    message = _errors(tmp_path, _stream(bad_seg))
    assert "segment 5" in message and "offset" in message


def test_a_cut_bus_entry_ends_the_trace_cleanly(tmp_path):
    entry = tr.encode_bus(BUS_CYCLE)
    raw = _stream(entry)
    cut = raw[:raw.index(entry) + len(entry) - 4]       # into the last clock records
    path = _write(tmp_path, cut)
    with tr.TraceReader(path) as t:
        recs = list(t)
        assert t.warnings and "(BUS) is cut short" in t.warnings[0]
    assert len(recs) == 1 and recs[0].clocks == []


def test_diff_compares_the_clocks(tmp_path):
    a = _write(tmp_path, _stream(tr.encode_bus(BUS_CYCLE)), name="a.c86t")
    other = list(BUS_CYCLE)
    other[6] = other[6]._replace(address=0x61)
    b = _write(tmp_path, _stream(tr.encode_bus(other)), name="b.c86t")
    with tr.TraceReader(a) as ta, tr.TraceReader(b) as tb:
        ra, rb = next(iter(ta)), next(iter(tb))
        fields = dict((f, (x, y)) for f, x, y in tr.compare_records(ra, rb))
        assert set(fields) == {"clocks"}
        assert "+6 A 00060" in fields["clocks"][0] and "+6 A 00061" in fields["clocks"][1]
        assert tr.compare_records(ra, rb, cycles=False) == []


# ---------------------------------------------------------------- cycle86 trace

def _cli(capsys, *argv):
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_trace_show_clocks(tmp_path, capsys):
    path = tmp_path / "bus.c86t"
    _record(path, "8086")
    _, _, recs = _read(path)
    status, out, err = _cli(capsys, "trace", "show", str(path), "--clocks", "--limit", "3")
    assert status == 0 and err == ""
    lines = out.splitlines()[1:]
    assert len(lines) == 3 + sum(len(r.clocks) for r in recs[:3])
    assert lines[0].startswith("c=0 i=0 1000:0100")
    assert lines[1:1 + len(recs[0].clocks)] == tr.format_clocks(recs[0])
    # Without --clocks, one line a record as before.
    status, out, _ = _cli(capsys, "trace", "show", str(path), "--limit", "3")
    assert len(out.splitlines()) == 4
    status, out, _ = _cli(capsys, "trace", "show", str(path), "--clocks", "--limit", "1",
                          "--format", "jsonl")
    clocks = json.loads(out)["clocks"]
    assert [tuple(c.values())[:8] for c in clocks] == [tuple(c[:8]) for c in recs[0].clocks]
    status, out, _ = _cli(capsys, "trace", "stats", str(path))
    total = sum(len(r.clocks) for r in recs)
    timed = sum(1 for r in recs if r.clocks)
    assert "bus model: %s clocks over %d records" % (format(total, ","), timed) in out


def test_format_clock_columns():
    assert tr.format_clock(0, BUS_CYCLE[0]) == "     +0 A 2fffe SS MEMW T1 BHE F 50"
    assert tr.format_clock(3, BUS_CYCLE[3]) == "     +3 . 2fffe SS PASV Tw BHE - d=1234"
    assert tr.format_clock(12, BUS_CYCLE[5]) == "    +12 . 00000 -- PASV Ti     E"


# ---------------------------------------------------------------- the debugger: info bus

def _debugger(machine):
    from debugger.commands import CommandInterpreter
    from debugger.controller import Debugger
    return CommandInterpreter(Debugger(machine), write=lambda text: None)


def test_info_bus_shows_the_last_instructions_clocks():
    m = _machine("8086")
    interp = _debugger(m)
    assert interp.execute_capture("info bus").strip() == \
        "no instruction has run on the bus model yet"
    interp.execute("s 5")
    start, ip = m.clock.now, m.cpu.ip
    interp.execute("s")                          # add [bx], ax: a read and a write of DS:BX
    lines = interp.execute_capture("info bus").splitlines()
    clocks = m.clock.now - start
    assert lines[0] == "1000:%04x at t=%d: %d clocks on the bus model" % (ip, start, clocks)
    body = lines[2:]
    assert len(body) == clocks and body[0].split()[0] == "+0"
    operand = (0x1000 << 4) + m.cpu.bx
    assert sum(" A %05x DS MEMR T1 " % operand in line for line in body) == 1
    assert sum(" A %05x DS MEMW T1 " % operand in line for line in body) == 1
    assert interp.execute_capture("info clocks") == interp.execute_capture("info bus")


def test_trace_mem_on_the_bus_model_reads_the_stream_with_its_bus_entries():
    # trace-mem records each stepped instruction; on the bus model the step appends a BUS
    # entry after the instruction's MEMW, and the write is still found.
    m = _machine("8086")
    out = []
    from debugger.commands import CommandInterpreter
    from debugger.controller import Debugger
    interp = CommandInterpreter(Debugger(m), write=out.append)
    interp.execute("s 5")
    interp.execute("trace-mem on")
    del out[:]
    interp.execute("s")                          # add [bx], ax
    operand = (0x1000 << 4) + m.cpu.bx
    word = m.mem.read16(operand)
    assert "  mem write: lin 0x%08x phys 0x%08x size 2 value 0x%04x" % (
        operand, operand, word) in out
    assert m.bus_timing.modelled


def test_info_bus_without_the_bus_model_or_its_timing():
    interp = _debugger(Machine(cpu="8086", memory=1 << 20, bus_timing=False))
    out = interp.execute_capture("info bus")
    assert out.startswith("error:") and "--bus-timing" in out
    # HLT is not replayed by the model (docs/8086-timing.md): its step keeps the table time.
    m = _machine("8086")
    m.mem.write((0x1000 << 4) + 0x0100, bytes.fromhex("90 f4"))         # nop; hlt
    interp = _debugger(m)
    interp.execute("s")
    interp.execute("s")
    out = interp.execute_capture("info bus")
    assert "the bus model did not time it" in out
