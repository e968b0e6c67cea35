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


HANDLER = 0x0400


def _interrupt_machine(model, program, handler=b"\xfa\xf4"):
    """`program` at 1000:0100, the handler of vectors 2 (NMI) and 8 (IRQ 0) at 1000:0400
    (CLI; HLT unless told), and an interrupt controller that answers vector 8 and lowers
    INTR; returns the machine and a list the acknowledge cycles go into."""
    m = Machine(cpu=model, memory=1 << 20)
    load(m, program, cs=0x1000, ip=0x0100, ss=0x2000, sp=0x0100)
    m.mem.write((0x1000 << 4) + HANDLER, handler)
    for vector in (2, 8):
        m.mem.write(vector * 4, (HANDLER | 0x1000 << 16).to_bytes(4, "little"))
    acks = []

    def acknowledge():
        acks.append(m.clock.now)
        m.cpu.intr = False
        return 0x08
    m.cpu.intr_ack = acknowledge
    return m, acks


def _record_until_halt(tmp_path, m, stepping, before_step=None):
    path = tmp_path / "irq.c86t"
    steps = []
    with tr.TraceWriter.for_machine(path, m) as w:
        m.cpu.trace_start()
        if stepping:
            while not m.cpu.halted:
                if before_step is not None:
                    before_step(len(steps))
                start = m.clock.now
                steps.append((start, m.step()))
        else:
            assert m.run(max_cycles=100_000) == "halt"
        m.cpu.trace_stop()
        m.cpu.trace_drain(w.write)
    _, _, recs = _read(path)
    return recs, steps


def _assert_cycles_add_up(recs):
    # What a bus-timed recording promises: the clocks of an instruction or a delivery are
    # the cycles to the next record, and every record starts where the clocks before it
    # ended (a delivery too: it begins when the instruction before it is done).
    for rec, nxt in zip(recs, recs[1:]):
        assert nxt.cycle >= rec.cycle
        if rec.clocks:
            assert nxt.cycle - rec.cycle == len(rec.clocks), (rec, nxt)


@pytest.mark.parametrize("stepping", [True, False])
@pytest.mark.parametrize("model, inta_clocks", [("8086", 61), ("8088", 81)])
def test_an_interrupt_delivery_has_its_acknowledge_clocks(tmp_path, model, inta_clocks,
                                                          stepping):
    # IRQ 0 pending with interrupts on: the bus model times the delivery too (two INTA
    # bus cycles, then the vector read and the pushes), and its clocks, like each
    # instruction's, add up to its cycle delta.  STI holds it off for one instruction.
    m, acks = _interrupt_machine(model, bytes.fromhex("fb 90 90"))       # sti; nop; nop
    m.cpu.intr = True
    recs, steps = _record_until_halt(tmp_path, m, stepping)
    kinds = [(r.kind, r.eip) for r in recs]
    assert kinds == [("insn", 0x100), ("insn", 0x101), ("interrupt", None),
                     ("insn", HANDLER), ("insn", HANDLER + 1)]
    sti, nop, irq, cli_, hlt = recs
    assert sti.clocks and nop.clocks and cli_.clocks
    assert [c.status for c in irq.clocks if c.ale][:2] == ["INTA", "INTA"]
    # From the NOP's end: its last clock takes the next byte, which the delivery gives
    # back, so the queue is full and the bus idle, and it takes Intel's figure.
    assert irq.cycle == nop.cycle + len(nop.clocks) == acks[0]
    assert len(irq.clocks) == inta_clocks
    assert irq.interrupts == [(0x08, tr.INT_HARDWARE, None)]
    _assert_cycles_add_up(recs)
    if stepping:
        # The machine's clock went as the model says: each step took the clocks of its
        # record, from the cycle the record gives.
        for rec, (start, cycles) in zip(recs, steps):
            assert rec.cycle == start
            assert not rec.clocks or cycles == len(rec.clocks)


def test_an_nmi_is_delivered_where_the_instruction_before_ended(tmp_path):
    # The bus model does not replay an NMI (it keeps the table time and the queue starts
    # full after it), but the delivery still starts after the NOP's modelled clocks.
    m, _ = _interrupt_machine("8086", bytes.fromhex("90 90 90"))         # nop; nop; nop

    def raise_nmi(step):
        if step == 2:                           # after the second NOP
            m.cpu.nmi = True
    recs, steps = _record_until_halt(tmp_path, m, True, raise_nmi)
    assert [(r.kind, r.eip) for r in recs] == [
        ("insn", 0x100), ("insn", 0x101), ("interrupt", None),
        ("insn", HANDLER), ("insn", HANDLER + 1)]
    nop0, nop1, nmi, cli_, _ = recs
    assert nmi.interrupts == [(2, tr.INT_NMI, None)] and nmi.clocks == []
    assert nmi.cycle == nop1.cycle + len(nop1.clocks) == steps[2][0]
    # Its cycles are the step's (the table's NMI time) up to the handler's first insn.
    assert cli_.cycle - nmi.cycle == steps[2][1] > 0
    _assert_cycles_add_up(recs)


@pytest.mark.parametrize("stepping", [True, False])
def test_an_interrupt_that_wakes_a_halted_cpu_is_at_the_cycle_it_woke(tmp_path, stepping):
    # STI; HLT: the CPU waits until a device raises IRQ 0 at cycle 500.  The delivery
    # (the table's time: the model does not place one out of HLT) starts then, not where
    # the HLT started.  A second IRQ follows, which the bus model times again: stepping,
    # raised while the NOP the handler (IRET) returns to runs, so taken after that NOP;
    # running, raised by a device during the first delivery, so taken as soon as the
    # IRET has set IF again, after it.
    m, acks = _interrupt_machine("8086", bytes.fromhex("fb f4 90 90 fa f4"),
                                 handler=b"\xcf")                        # iret
    raised = []

    def irq(_deadline=None):
        raised.append(m.clock.now)
        m.cpu.intr = True
    m.clock.schedule(500, irq)

    def before_step():
        if m.cpu.halted:
            # A halted CPU's step does not wait (Machine.run sleeps to the next event).
            m.clock.now = m.clock.next_deadline
            m.clock.run_due()
        elif m.cpu.ip == 0x103 and len(raised) == 1:
            irq()                                   # the NOP at 0x102 has run

    path = tmp_path / "wake.c86t"
    with tr.TraceWriter.for_machine(path, m) as w:
        m.cpu.trace_start()
        if stepping:
            while not (m.cpu.halted and m.cpu.ip == 0x106):
                before_step()
                m.step()
        else:
            first_ack = m.cpu.intr_ack

            def acknowledge():
                if not acks:
                    m.clock.schedule(m.clock.now + 1, irq)
                return first_ack()
            m.cpu.intr_ack = acknowledge
            assert m.run(max_cycles=100_000) == "halt"
        m.cpu.trace_stop()
        m.cpu.trace_drain(w.write)
    _, _, recs = _read(path)
    woke, second = [r for r in recs if r.kind == "interrupt"]
    assert woke.cycle == raised[0] == acks[0] == 500
    assert recs[recs.index(woke) - 1].eip == 0x101                     # the HLT
    before = recs[recs.index(second) - 1]
    assert before.eip == (0x102 if stepping else HANDLER) and before.clocks
    assert second.cycle == before.cycle + len(before.clocks) == acks[1]
    # (Not always Intel's 61: a fetch the instruction left running finishes first.)
    assert [c.status for c in second.clocks if c.ale and c.status == "INTA"] == ["INTA"] * 2
    _assert_cycles_add_up(recs)


@pytest.mark.parametrize("model", ["8086", "8088"])
def test_the_instructions_after_a_wake_from_hlt_are_timed_by_the_model(tmp_path, model):
    # A device event wakes HLT at cycle 500 and no other event is due after it.  The run
    # loop's step that delivers the interrupt must end there: the instructions after it
    # are replayed on the bus model one by one, as Machine.step does, and not run in
    # the same slice on the tables up to the next event (there is none here).
    program = bytes.fromhex("fb f4"                 # sti; hlt
                            "b8 34 12 b9 78 56 f7 e1"  # mov ax, 0x1234; mov cx, 0x5678; mul cx
                            "50 5b 90 fa f4")        # push ax; pop bx; nop; cli; hlt

    def machine():
        m, _ = _interrupt_machine(model, program, handler=b"\xcf")      # iret

        def irq(_deadline):
            m.cpu.intr = True
        m.clock.schedule(500, irq)
        return m

    stepped = machine()
    while not (stepped.cpu.halted and stepped.clock.now > 500):
        if stepped.cpu.halted:
            stepped.clock.now = stepped.clock.next_deadline       # what a run's sleep does
            stepped.clock.run_due()
        stepped.step()
    ran = machine()
    assert ran.run(max_cycles=100_000) == "halt"
    assert ran.clock.now == stepped.clock.now
    # Recorded, every instruction after the delivery has the model's clocks.
    recorded = machine()
    recs, _ = _record_until_halt(tmp_path, recorded, False)
    assert recorded.clock.now == stepped.clock.now
    woke = [r.kind for r in recs].index("interrupt")
    assert recs[woke].cycle == 500
    after = recs[woke + 1:-1]                       # IRET .. CLI (HLT is not replayed)
    assert [r.bytes[0] for r in after] == [0xCF, 0xB8, 0xB9, 0xF7, 0x50, 0x5B, 0x90, 0xFA]
    assert all(r.clocks for r in after)
    _assert_cycles_add_up(recs)


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


def _delivery_stream(*between, enc=None):
    """PUSH with its clocks, then `between` (a CYCLE and an INT, built with `enc`), then a
    NOP."""
    enc = enc or tr.StreamEncoder()
    return b"".join([enc.key(100, 7, {"cs": 0x1000}, 0), enc.ctx(0, 0x1000, 0x10000),
                     enc.insn(0, 0, b"\x50"), tr.encode_bus(BUS_CYCLE), *between,
                     enc.insn(len(BUS_CYCLE) + 61, 1, b"\x90")])


def test_a_cycle_entry_gives_the_delivery_its_start_cycle(tmp_path):
    enc = tr.StreamEncoder()
    raw = _delivery_stream(tr.encode_cycle(len(BUS_CYCLE)), tr.encode_int(8, tr.INT_HARDWARE),
                           enc.memw(2, 0x2FFFE, 0x2FFFE, 0x0202), enc=enc)
    assert tr.encode_cycle(5) == bytes([tr.CYCLE, 5, 0, 0, 0])
    _, _, (push, irq, nop) = _read(_write(tmp_path, raw))
    assert (push.cycle, irq.cycle, nop.cycle) == (100, 100 + len(BUS_CYCLE),
                                                  100 + len(BUS_CYCLE) + 61)
    # It dates the delivery only: the next INSN's delta still counts from the PUSH.
    assert irq.kind == "interrupt" and irq.interrupts == [(8, tr.INT_HARDWARE, None)]
    assert irq.mem_writes == [(0x2FFFE, 0x2FFFE, 2, 0x0202)] and push.mem_writes == []
    assert (push.icount, irq.icount, nop.icount) == (7, 8, 8)
    # Without one (a recording on the tables) the delivery has the cycle of the
    # instruction before it.
    _, _, (_, irq, _) = _read(_write(tmp_path, _delivery_stream(
        tr.encode_int(8, tr.INT_HARDWARE)), name="v2.c86t"))
    assert irq.cycle == 100


def test_damaged_cycle_entries(tmp_path):
    cycle, irq = tr.encode_cycle(3), tr.encode_int(8, tr.INT_HARDWARE)
    key = tr.encode_key(0, 0, {}, 0)
    assert "unknown entry tag 0x0b" in _errors(tmp_path, key + cycle + irq, 1)   # version 1
    assert "CYCLE entry not followed by an INT" in _errors(tmp_path, _delivery_stream(cycle))
    message = _errors(tmp_path, _delivery_stream(cycle, tr.encode_int(13, tr.INT_EXCEPTION)))
    assert "INT kind 0 after a CYCLE" in message
    assert "CYCLE before the first KEY" in _errors(tmp_path, cycle + irq)
    # Cut right after it (a recording killed there), or inside it: the end is clean up
    # to the entry before.
    whole = _delivery_stream(cycle, irq)
    at = whole.index(cycle)
    for cut in (at + len(cycle), at + 2):
        with tr.TraceReader(_write(tmp_path, whole[:cut], name="cut%d.c86t" % cut)) as t:
            recs = list(t)
            assert bool(t.warnings) == (cut < at + len(cycle))
        assert [r.kind for r in recs] == ["insn"] and recs[0].clocks == BUS_CYCLE


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
    # (The 8086 is bus-timed by default: the tables are asked for.)
    interp = _debugger(Machine(cpu="8086", memory=1 << 20, bus_timing=False))
    out = interp.execute_capture("info bus")
    assert out.startswith("error:") and "--bus-timing" in out
    # An NMI delivery is a step the model does not replay (an INTR delivery it does).
    m = _machine("8086")
    m.mem.write((0x1000 << 4) + 0x0100, bytes.fromhex("fb 90 90"))      # sti; nop; nop
    m.mem.write(0x02 * 4, (0x0100 | 0x1000 << 16).to_bytes(4, "little"))
    interp = _debugger(m)
    interp.execute("s")
    m.cpu.nmi = True
    interp.execute("s")
    interp.execute("s")
    out = interp.execute_capture("info bus")
    assert "the bus model did not time it" in out
