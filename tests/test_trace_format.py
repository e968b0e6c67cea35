"""Trace files (debugger/trace.py, debugger/trace_cli.py): encode -> file -> records, damaged
files, diff, stats, the `cycle86 trace` command."""
import json
import os
import subprocess
import sys

import pytest

from core import cli
from debugger import trace as tr
from debugger.trace import (INT_EXCEPTION, INT_HARDWARE, INT_SOFTWARE, encode_ctx,
                            encode_insn, encode_int, encode_io, encode_key, encode_memw,
                            encode_phys, encode_reg, encode_shutdown)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

START_REGS = {"esp": 0xFFFE, "cs": 0x1000, "ss": 0x3000, "eflags": 0x0002}


def header(**kw):
    return tr.make_header("80386", 16_000_000, 1000, "synthetic", **kw)


def write_v1(path, hdr, raw):
    """A version 1 file: the encode_* functions build version 1 entries (version 2 has
    tests of its own in test_trace_v2.py)."""
    tr.write_trace(path, hdr, raw, version=1)


def sample_stream():
    """A small real-mode run: mov, out, a store, an IRQ 0 between instructions, INT 10h
    in the handler, a paged 32-bit instruction that faults, then a shutdown."""
    return b"".join([
        encode_key(1000, 50, START_REGS, 0x0000),
        encode_ctx(0, 0x1000, 0x10000),
        encode_insn(0, 0x0000, bytes.fromhex("b84100")),          # mov ax, 0x41
        encode_reg("eax", 0x41),
        encode_insn(4, 0x0003, bytes.fromhex("e6e9")),            # out 0xe9, al
        encode_io(0xE9, 1, True, 0x41),
        encode_insn(10, 0x0005, bytes.fromhex("a30020")),         # mov [0x2000], ax
        encode_memw(2, 0x12000, 0x12000, 0x0041),
        # IRQ 0 (vector 8) delivered before the next instruction
        encode_int(8, INT_HARDWARE),
        encode_memw(2, 0x3FFFC, 0x3FFFC, 0x0002),
        encode_memw(2, 0x3FFFA, 0x3FFFA, 0x1000),
        encode_memw(2, 0x3FFF8, 0x3FFF8, 0x0008),
        encode_reg("esp", 0xFFF8),
        encode_reg("cs", 0xF000),
        encode_ctx(0, 0xF000, 0xF0000),
        encode_insn(60, 0xFEA5, bytes.fromhex("cd10")),           # int 0x10
        encode_int(0x10, INT_SOFTWARE),
        encode_reg("esp", 0xFFF2),
        encode_insn(40, 0xF065, bytes.fromhex("ec")),             # in al, dx
        encode_reg("eax", 0x1C),
        encode_io(0x60, 1, False, 0x1C),
        # 32-bit paged code; the instruction faults with #PF (error code 2)
        encode_ctx(tr.MODE_PROTECTED | tr.MODE_PAGING | tr.MODE_CODE32, 0x0008, 0),
        encode_phys(0x00101000),
        encode_insn(7, 0xC0001000, bytes.fromhex("8918")),         # mov [eax], ebx
        encode_int(14, INT_EXCEPTION, 2),
        encode_reg("cr2", 0x1C),
        encode_shutdown(),
    ])


@pytest.fixture
def sample(tmp_path):
    path = tmp_path / "sample.c86t"
    write_v1(path, header(), sample_stream())
    return path


def read_all(path):
    with tr.TraceReader(path) as t:
        return list(t), t.warnings


# ---------------------------------------------------------------- encode -> file -> records

def test_round_trip_records(sample):
    recs, warnings = read_all(sample)
    assert warnings == []
    kinds = [r.kind for r in recs]
    assert kinds == ["insn", "insn", "insn", "interrupt", "insn", "insn", "insn", "shutdown"]
    mov, out, store, irq, int10, inal, fault, down = recs

    assert (mov.cycle, mov.icount, mov.cs, mov.eip, mov.linear, mov.physical) == \
        (1000, 50, 0x1000, 0, 0x10000, 0x10000)
    assert mov.bytes == bytes.fromhex("b84100") and mov.regs_after == {"eax": 0x41}
    assert mov.mode_name == "real" and mov.bits == 16 and not mov.paging
    assert (out.cycle, out.icount) == (1004, 51)
    assert out.io == [(0xE9, 1, True, 0x41)] and out.regs_after == {}
    assert store.mem_writes == [(0x12000, 0x12000, 2, 0x41)]

    # the IRQ is its own record, between the store and INT 10h
    assert irq.interrupts == [(8, INT_HARDWARE, None)] and irq.eip is None
    assert len(irq.mem_writes) == 3 and irq.regs_after == {"esp": 0xFFF8, "cs": 0xF000}
    assert irq.icount == 53 and irq.cycle == 1014

    assert (int10.cycle, int10.icount, int10.cs, int10.eip, int10.linear) == \
        (1074, 53, 0xF000, 0xFEA5, 0xFFEA5)
    assert int10.interrupts == [(0x10, INT_SOFTWARE, None)]
    assert inal.io == [(0x60, 1, False, 0x1C)]

    assert fault.mode_name == "protected" and fault.paging and fault.bits == 32
    assert (fault.cs, fault.eip, fault.linear, fault.physical) == \
        (8, 0xC0001000, 0xC0001000, 0x00101000)
    assert fault.interrupts == [(14, INT_EXCEPTION, 2)] and fault.regs_after == {"cr2": 0x1C}
    assert down.kind == "shutdown" and down.icount == 56


def test_register_state_is_tracked(sample):
    recs, _ = read_all(sample)
    mov, out, store, irq, int10, inal, fault, down = recs
    assert mov.regs_before()["eax"] == 0 and mov.regs()["eax"] == 0x41
    assert mov.regs_before()["esp"] == 0xFFFE and mov.regs()["ss"] == 0x3000
    assert int10.regs_before()["cs"] == 0xF000 and int10.regs_before()["esp"] == 0xFFF8
    assert int10.regs()["esp"] == 0xFFF2
    assert fault.regs() == dict(down.regs_before())
    assert fault.regs()["eax"] == 0x1C and fault.regs()["cr2"] == 0x1C
    # records that change nothing share the state of the one before
    assert out.state_before is out.state_after
    with tr.TraceReader(sample) as t:
        state = t.state_at(53)
        assert state["eip"] == 0xFEA5 and state["cycle"] == 1074 and state["cs"] == 0xF000
        assert t.state_at(1000) is None


def test_key_mid_stream_resets_cycle_base_and_count(tmp_path):
    raw = b"".join([
        encode_key(10, 0, {}, 0), encode_ctx(0, 0, 0),
        encode_insn(0, 0, b"\x90"), encode_insn(3, 1, b"\x90"),
        encode_key(10 + (1 << 33), 7, {"eax": 5}, 2), encode_ctx(0, 0, 0),
        encode_insn(2, 2, b"\x90"),
    ])
    path = tmp_path / "k.c86t"
    write_v1(path, header(), raw)
    recs, _ = read_all(path)
    assert [(r.cycle, r.icount) for r in recs] == [(10, 0), (13, 1), (12 + (1 << 33), 7)]
    assert recs[2].regs_before()["eax"] == 5


def test_a_missing_ctx_is_derived_from_the_key(tmp_path):
    raw = encode_key(0, 0, {"cs": 0xF000}, 0xFFF0) + encode_insn(0, 0xFFF0, b"\xea")
    path = tmp_path / "noctx.c86t"
    write_v1(path, header(), raw)
    (rec,), _ = read_all(path)
    assert rec.mode_name == "real" and rec.cs_base == 0xF0000 and rec.linear == 0xFFFF0


def test_exception_during_a_hardware_delivery_stays_with_it(tmp_path):
    raw = b"".join([
        encode_key(0, 0, {}, 0), encode_ctx(1 | 8, 8, 0),
        encode_insn(0, 0x100, b"\x90"),
        encode_int(0x20, INT_HARDWARE), encode_int(13, INT_EXCEPTION, 0x102),
        encode_reg("esp", 0x1000),
        encode_ctx(1 | 8, 8, 0), encode_insn(50, 0x2000, b"\xcf"),
    ])
    path = tmp_path / "nested.c86t"
    write_v1(path, header(), raw)
    recs, _ = read_all(path)
    assert [r.kind for r in recs] == ["insn", "interrupt", "insn"]
    assert recs[1].interrupts == [(0x20, INT_HARDWARE, None), (13, INT_EXCEPTION, 0x102)]
    assert recs[0].interrupts == [] and recs[1].regs_after == {"esp": 0x1000}


def test_records_window_by_cycle(sample):
    with tr.TraceReader(sample) as t:
        assert [r.cycle for r in t.records(from_cycle=1004, to_cycle=1074)] == \
            [1004, 1014, 1014, 1074]
        assert [r.cycle for r in t.records(from_cycle=1100)] == [1114, 1121, 1121]


def test_header_round_trip(sample):
    with tr.TraceReader(sample) as t:
        assert t.version == 1
        assert t.header["cpu"] == "80386" and t.header["frequency"] == 16_000_000
        assert t.header["start_cycle"] == 1000 and "created" not in t.header
        assert "cycle86_version" in t.header


def test_encode_rejects_impossible_entries():
    with pytest.raises(ValueError):
        encode_insn(0, 0, b"")
    with pytest.raises(ValueError):
        encode_insn(0, 0, b"\x90" * 16)
    with pytest.raises(ValueError):
        encode_key(0, 0, [0] * 5, 0)
    assert len(encode_key(0, 0, {}, 0)) == 97
    assert [len(e) for e in (encode_ctx(0, 0, 0), encode_phys(0), encode_reg(0, 0),
                             encode_memw(1, 0, 0, 0), encode_io(0, 1, False, 0),
                             encode_int(0, 0), encode_shutdown())] == [8, 5, 6, 14, 8, 7, 1]


# ---------------------------------------------------------------- determinism

def test_same_input_gives_byte_identical_files(tmp_path):
    from core.machine import Machine
    files = []
    for name in ("a.c86t", "b.c86t"):
        m = Machine("80386")
        with tr.TraceWriter.for_machine(tmp_path / name, m, "unit test") as w:
            w.write(sample_stream()[:100])
            w.write(sample_stream()[100:])
        files.append((tmp_path / name).read_bytes())
    assert files[0] == files[1]
    with tr.TraceReader(tmp_path / "a.c86t") as t:
        assert t.header["cpu"] == "80386" and t.header["description"] == "unit test"
        assert t.header["frequency"] == Machine("80386").clock.frequency


def test_writer_reuses_nothing_it_was_given_and_reports_a_failed_write(tmp_path):
    # The writer's thread stores the entries after write() returns: the caller's buffer
    # (the recorder's, passed by trace_drain) may change at once without changing the file.
    path = tmp_path / "w.c86t"
    stream = sample_stream()
    buf = bytearray(stream)
    with tr.TraceWriter(path, header(), 1) as w:
        w.write(memoryview(buf))
        buf[:] = bytes(len(buf))
        w.write(stream)
    assert path.read_bytes().endswith(stream + stream)

    def full(view, offset):
        raise OSError(28, "No space left on device")

    w = tr.TraceWriter(tmp_path / "x.c86t", header(), 1)
    w._store = full
    w.write(stream * 2000)              # (more than a block: queued for the thread)
    with pytest.raises(OSError, match="No space"):
        w.close()
    assert w.closed


def test_created_only_when_given(tmp_path):
    path = tmp_path / "c.c86t"
    write_v1(path, header(created="2024-01-02T03:04:05Z"), b"")
    with tr.TraceReader(path) as t:
        assert t.header["created"] == "2024-01-02T03:04:05Z"
        assert list(t) == []


# ---------------------------------------------------------------- damaged files

def test_every_truncation_reads_cleanly(tmp_path):
    raw = sample_stream()
    full, _ = read_all_from(tmp_path, raw)
    head_len = len(tr.encode_file_header(header(), 1))
    boundaries = entry_boundaries(raw)
    for cut in range(1, len(raw)):
        recs, warnings = read_all_from(tmp_path, raw[:cut])
        assert bool(warnings) == (cut not in boundaries), cut
        if warnings:
            assert "offset %d" % (head_len + max(b for b in boundaries if b < cut)) \
                in warnings[0]
            assert "cut short" in warnings[0]
        # what was read is the start of the full trace (the last record may be partial)
        for a, b in zip(recs, full):
            assert (a.kind, a.cycle, a.eip, a.bytes) == (b.kind, b.cycle, b.eip, b.bytes)
        assert len(recs) <= len(full)


def entry_boundaries(raw):
    out, off = set(), 0
    while off < len(raw):
        out.add(off)
        size = tr.ENTRY_SIZES[raw[off]]
        if raw[off] == tr.INSN:
            size += raw[off + 9]
        off += size
    return out


def read_all_from(tmp_path, raw):
    path = tmp_path / "cut.c86t"
    write_v1(path, header(), raw)
    return read_all(path)


def test_truncated_trace_stats_count_whole_entries(tmp_path):
    raw = sample_stream()
    path = tmp_path / "cut.c86t"
    write_v1(path, header(), raw[:-3])      # into the last REG
    with tr.TraceReader(path) as t:
        s = t.stats()
    assert s.instructions == 6 and s.warnings
    assert s.stream_bytes == len(raw) - 1 - 6       # up to the cut REG entry


def write_raw_file(tmp_path, data, name="bad.c86t"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("data, words", [
    (b"", ["empty file"]),
    (b"NOTATRACE" * 4, ["offset 0", "not a cycle86 trace"]),
    (b"C86TRACE\x01", ["cut short"]),
    (b"C86TRACE\x03\x00\x00\x00\x02\x00\x00\x00{}", ["offset 8", "version 3 is newer",
                                                      "newer cycle86"]),
    (b"C86TRACE\x01\x00\x01\x00\x02\x00\x00\x00{}", ["offset 10", "flags 0x0001"]),
    (b"C86TRACE\x01\x00\x00\x00\x09\x00\x00\x00{}", ["JSON header", "cut short"]),
    (b"C86TRACE\x01\x00\x00\x00\x02\x00\x00\x00{]", ["offset 16", "JSON header"]),
    (b"C86TRACE\x01\x00\x00\x00\x02\x00\x00\x00[]", ["offset 16", "not an object"]),
])
def test_bad_headers(tmp_path, data, words):
    path = write_raw_file(tmp_path, data)
    with pytest.raises(tr.TraceError) as e:
        tr.TraceReader(path)
    for word in words:
        assert word in str(e.value), str(e.value)
    assert str(path) in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(tr.TraceError, match="cannot open"):
        tr.TraceReader(tmp_path / "nothing.c86t")


@pytest.mark.parametrize("tail, message", [
    (b"\x3f", "unknown entry tag 0x3f"),
    (encode_insn(0, 0, b"\x90")[:9] + b"\x00", "INSN length 0"),
    (tr._REG.pack(tr.REG, 19, 0), "REG index 19"),
    (tr._MEMW.pack(tr.MEMW, 3, 0, 0, 0), "MEMW size 3"),
    (tr._IO.pack(tr.IO, 0x83, 0, 0), "IO flags 0x83"),
    (tr._INT.pack(tr.INT, 0, 4, -1), "INT kind 4"),
    (tr._CTX.pack(tr.CTX, 3, 0, 0), "CTX mode 0x03"),
])
def test_bad_entries_name_file_and_offset(tmp_path, tail, message):
    good = encode_key(0, 0, {}, 0) + encode_ctx(0, 0, 0) + encode_insn(0, 0, b"\x90")
    path = tmp_path / "bad.c86t"
    write_v1(path, header(), good + tail)
    offset = len(tr.encode_file_header(header(), 1)) + len(good)
    with tr.TraceReader(path) as t:
        with pytest.raises(tr.TraceError) as e:
            list(t)
    assert str(e.value) == "%s: offset %d: %s" % (path, offset, str(e.value).split(": ", 2)[2])
    assert message in str(e.value)


def test_entries_before_the_first_key_are_errors(tmp_path):
    for raw, message in ((encode_insn(0, 0, b"\x90"), "before the first KEY"),
                         (encode_reg("eax", 1), "outside any instruction")):
        path = tmp_path / "nokey.c86t"
        write_v1(path, header(), raw)
        with tr.TraceReader(path) as t, pytest.raises(tr.TraceError, match=message):
            list(t)


# ---------------------------------------------------------------- text and JSON

def test_text_format(sample):
    recs, _ = read_all(sample)
    line = tr.format_record(recs[0])
    assert line.startswith("c=1000 i=50 1000:0000 (l=0x00010000 p=0x00010000) b8 41 00")
    assert "mov ax, 0x41" in line and line.endswith("| eax=00000041")
    assert tr.format_record(recs[1]).endswith("| [out 0xe9=0x41]")
    assert tr.format_record(recs[2]).endswith("| [w 0x12000=0x0041]")
    irq = tr.format_record(recs[3])
    assert "interrupt" in irq and "[irq 0x08]" in irq and "cs=f000" in irq
    assert "int 0x10" in tr.format_record(recs[4])
    fault = tr.format_record(recs[6])
    assert "0008:c0001000 (l=0xc0001000 p=0x00101000)" in fault
    assert "mov dword ptr [eax], ebx" in fault and "[exc 0x0e err=0x2]" in fault
    assert "shutdown" in tr.format_record(recs[7])


def test_real_mode_branch_targets_are_offsets_in_cs(tmp_path):
    raw = (encode_key(0, 0, {"cs": 0xF000}, 0xFFF0) + encode_ctx(0, 0xF000, 0xF0000)
           + encode_insn(0, 0xE05B, bytes.fromhex("ebfe")))
    path = tmp_path / "jmp.c86t"
    write_v1(path, header(), raw)
    (rec,), _ = read_all(path)
    assert "jmp 0xe05b" in tr.format_record(rec)


def test_json_lines(sample):
    recs, _ = read_all(sample)
    d = json.loads(tr.format_json(recs[2]))
    assert d["kind"] == "insn" and d["eip"] == 5 and d["bytes"] == "a30020"
    assert d["mem_writes"] == [{"linear": 0x12000, "physical": 0x12000, "size": 2,
                                "value": 0x41}]
    d = json.loads(tr.format_json(recs[6]))
    assert d["interrupts"] == [{"vector": 14, "kind": "exception", "error": 2}]
    assert d["mode"] == "protected" and d["paging"] and d["bits"] == 32


# ---------------------------------------------------------------- stats

def test_stats_figures(sample):
    with tr.TraceReader(sample) as t:
        s = t.stats()
    assert s.instructions == 6 and s.interrupt_records == 1 and s.shutdowns == 1
    assert s.first_cycle == 1000 and s.last_cycle == 1121 and s.cycles == 121
    assert s.mnemonics == {"mov": 3, "out": 1, "int": 1, "in": 1}
    assert s.interrupts == {(8, INT_HARDWARE): 1, (0x10, INT_SOFTWARE): 1,
                            (14, INT_EXCEPTION): 1}
    assert s.ports == {(0xE9, True): 1, (0x60, False): 1}
    assert s.mem_writes == 4 and s.mode_changes == 1
    assert s.stream_bytes == len(sample_stream())
    assert s.bytes_per_instruction == pytest.approx(len(sample_stream()) / 6)


def test_stats_hottest_addresses(tmp_path):
    loop = [encode_key(0, 0, {}, 0), encode_ctx(0, 0x1000, 0x10000)]
    for _ in range(10):
        loop += [encode_insn(3, 0x10, b"\x49"), encode_reg("ecx", 1),
                 encode_insn(2, 0x11, b"\x75\xfd")]
    loop += [encode_insn(3, 0x13, b"\xf4")]
    path = tmp_path / "loop.c86t"
    write_v1(path, header(), b"".join(loop))
    with tr.TraceReader(path) as t:
        s = t.stats()
    assert s.addresses.most_common(3) == [((0x1000, 0x10, 0x10010), 10),
                                          ((0x1000, 0x11, 0x10011), 10),
                                          ((0x1000, 0x13, 0x10013), 1)]
    assert s.mnemonics == {"dec": 10, "jne": 10, "hlt": 1}


# ---------------------------------------------------------------- diff

def two_traces(tmp_path, change):
    """Two traces of the sample, B with the entry at `change` (index) replaced."""
    entries = [encode_key(0, 0, START_REGS, 0), encode_ctx(0, 0x1000, 0x10000)]
    for i in range(20):
        entries += [encode_insn(3, i * 2, b"\x40\x90"), encode_reg("eax", i + 1),
                    encode_memw(1, 0x500 + i, 0x500 + i, i)]
    a = list(entries)
    b = list(entries)
    index, entry = change
    if entry is None:
        del b[index:]
    else:
        b[index] = entry
    pa, pb = tmp_path / "a.c86t", tmp_path / "b.c86t"
    write_v1(pa, header(), b"".join(a))
    write_v1(pb, header(), b"".join(b))
    return pa, pb


def cli_run(capsys, *argv):
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def entry_index(record):
    return 2 + 3 * record


@pytest.mark.parametrize("change, field", [
    ((entry_index(12) + 1, encode_reg("eax", 99)), "regs"),
    ((entry_index(12) + 1, encode_reg("ebx", 13)), "regs"),
    ((entry_index(12) + 2, encode_memw(1, 0x500 + 12, 0x500 + 12, 0xAA)), "mem_writes"),
    ((entry_index(12) + 2, encode_io(0x80, 1, True, 12)), "io"),
    ((entry_index(12), encode_insn(3, 24, b"\x48\x90")), "bytes"),
    ((entry_index(12), encode_insn(3, 25, b"\x40\x90")), "cs:eip"),
    ((entry_index(12), encode_insn(4, 24, b"\x40\x90")), "cycle"),
    ((entry_index(12) + 2, encode_int(3, INT_SOFTWARE)), "interrupts"),
])
def test_diff_finds_the_injected_divergence(tmp_path, capsys, change, field):
    pa, pb = two_traces(tmp_path, change)
    status, out, err = cli_run(capsys, "trace", "diff", str(pa), str(pb), "--context", "3")
    assert status == 1 and err == ""
    assert "divergence at record 12 " in out, out
    assert "in: %s" % field in out.splitlines()[4], out
    lines = out.splitlines()
    assert lines[0] == "common records before the divergence:"
    assert lines[1].lstrip().startswith("c=30 i=9 ")       # records 9, 10, 11
    assert lines[3].lstrip().startswith("c=36 i=11 ")
    assert lines[5].startswith("A c=39 i=12 ") and lines[6].startswith("B c=")
    assert "registers before (both): eax=0000000c" in out


def test_diff_ignore_cycles(tmp_path, capsys):
    pa, pb = two_traces(tmp_path, (entry_index(12), encode_insn(4, 24, b"\x40\x90")))
    status, out, _ = cli_run(capsys, "trace", "diff", str(pa), str(pb), "--ignore-cycles")
    # the later records start one cycle later too, but nothing else differs
    assert status == 0 and "agree" in out


def test_diff_identical_and_shorter(tmp_path, capsys):
    pa, pb = two_traces(tmp_path, (0, encode_key(0, 0, START_REGS, 0)))
    status, out, _ = cli_run(capsys, "trace", "diff", str(pa), str(pb))
    assert status == 0 and out.strip() == "the traces agree: 20 records"
    pa, pb = two_traces(tmp_path, (entry_index(15), None))
    status, out, _ = cli_run(capsys, "trace", "diff", str(pa), str(pb), "--context", "0")
    assert status == 1
    assert out.startswith("divergence at record 15: %s ends there; %s continues" % (pb, pa))


def test_diff_key_state_difference(tmp_path, capsys):
    regs = dict(START_REGS, esi=0x1234)
    pa, pb = two_traces(tmp_path, (0, encode_key(0, 0, regs, 0)))
    status, out, _ = cli_run(capsys, "trace", "diff", str(pa), str(pb))
    assert status == 1 and "divergence at record 0 " in out and "in: state" in out
    assert "esi=00001234" in out


def test_diff_of_a_bad_file_is_an_error(tmp_path, capsys):
    pa, _ = two_traces(tmp_path, (0, encode_key(0, 0, START_REGS, 0)))
    bad = write_raw_file(tmp_path, b"garbage!")
    status, out, err = cli_run(capsys, "trace", "diff", str(pa), str(bad))
    assert status == 2 and err.count("\n") == 1 and "offset 0" in err and str(bad) in err


# ---------------------------------------------------------------- the command line

def test_cli_show_text(sample, capsys):
    status, out, err = cli_run(capsys, "trace", "show", str(sample))
    assert status == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("# %s: format 1 cpu=80386" % sample)
    assert len(lines) == 9 and lines[1].startswith("c=1000 i=50 1000:0000")


@pytest.mark.parametrize("filters, eips", [
    (["io"], [3, 0xF065]),
    (["int"], [None, 0xFEA5, 0xC0001000]),
    (["port=0x3f8"], []),
    (["port=0xe9"], [3]),
    (["port=0x60-0x64"], [0xF065]),
    (["mnemonic=mov"], [0, 5, 0xC0001000]),
    (["mnemonic=i*"], [0xFEA5, 0xF065]),
    (["cs=0xf000"], [0xFEA5, 0xF065]),
    (["eip=0-4"], [0, 3]),
    (["mem=0x12000-0x12000"], [5]),
    (["mem=0x3fff9"], [None]),
    (["mem"], [5, None]),
    (["reg=cr2"], [0xC0001000]),
    (["vector=14"], [0xC0001000]),
    (["kind=shutdown"], [None]),
    (["mode=protected"], [0xC0001000, None]),        # and the shutdown that follows
    (["io", "cs=0x1000"], [3]),
    (["io,cs=0x1000"], [3]),
    (["int", "mnemonic=int"], [0xFEA5]),
])
def test_cli_show_filters(sample, capsys, filters, eips):
    argv = ["trace", "show", str(sample), "--format", "jsonl"]
    for f in filters:
        argv += ["--filter", f]
    status, out, err = cli_run(capsys, *argv)
    assert status == 0, err
    assert [json.loads(line).get("eip") for line in out.splitlines()] == eips


def test_cli_show_from_to_limit(sample, capsys):
    status, out, _ = cli_run(capsys, "trace", "show", str(sample), "--from", "1004",
                             "--to", "1074", "--limit", "2", "--format", "jsonl")
    assert status == 0
    assert [json.loads(line)["cycle"] for line in out.splitlines()] == [1004, 1014]


@pytest.mark.parametrize("argv, words", [
    (["--filter", "bogus"], ["unknown filter", "bogus"]),
    (["--filter", "eip=zz"], ["eip=zz", "not a number"]),
    (["--filter", "eip=9-1"], ["ends before it starts"]),
    (["--filter", "reg=rax"], ["not a register"]),
    (["--from", "200", "--to", "100"], ["--to 100 is before --from 200"]),
    (["--limit", "0"], ["--limit", "'0'"]),
    (["--from", "soon"], ["--from", "'soon'"]),
])
def test_cli_show_usage_errors(sample, capsys, argv, words):
    status, out, err = cli_run(capsys, "trace", "show", str(sample), *argv)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    for word in words:
        assert word in err, err


def test_cli_bad_file_is_one_line_with_offset(tmp_path, capsys):
    raw = encode_key(0, 0, {}, 0) + b"\x3f"
    path = tmp_path / "trace.c86t"
    write_v1(path, header(), raw)
    offset = len(tr.encode_file_header(header(), 1)) + len(raw) - 1
    for action in ("show", "stats", "export"):
        status, out, err = cli_run(capsys, "trace", action, str(path))
        assert status == 2
        assert err == "cycle86 trace: %s: offset %d: unknown entry tag 0x3f\n" % (path, offset)


def test_cli_truncated_file_warns(tmp_path, capsys):
    path = tmp_path / "cut.c86t"
    write_v1(path, header(), sample_stream()[:-4])
    status, out, err = cli_run(capsys, "trace", "show", str(path))
    assert status == 0 and len(out.splitlines()) == 8
    assert err.startswith("cycle86 trace: warning: %s: offset " % path) and "cut short" in err


def test_cli_stats(sample, capsys):
    status, out, _ = cli_run(capsys, "trace", "stats", str(sample))
    assert status == 0
    assert "instructions: 6" in out and "cycles: 121" in out
    assert "  mov" in out and "0x0e exception" in out and "0x08 irq" in out
    assert "0x00e9  in          0  out          1" in out
    assert "bytes per instruction" in out
    status, out, _ = cli_run(capsys, "trace", "stats", str(sample), "--format", "json")
    d = json.loads(out)
    assert d["instructions"] == 6 and d["mnemonics"][0] == ["mov", 3]
    assert d["header"]["cpu"] == "80386"


def test_cli_export(sample, tmp_path, capsys):
    out_path = tmp_path / "out.jsonl"
    status, out, _ = cli_run(capsys, "trace", "export", str(sample), "-o", str(out_path))
    assert status == 0 and out == ""
    lines = out_path.read_text().splitlines()
    assert len(lines) == 8 and json.loads(lines[-1])["kind"] == "shutdown"
    status, out, _ = cli_run(capsys, "trace", "export", str(sample), "--format", "text")
    assert status == 0 and out.splitlines()[1].startswith("c=1000 ")
    status, _, err = cli_run(capsys, "trace", "export", str(sample), "-o",
                             str(tmp_path / "no" / "such" / "dir.txt"))
    assert status == 2 and "cannot open for writing" in err


def test_cli_in_a_subprocess(sample):
    p = subprocess.run([sys.executable, "-m", "core.cli", "trace", "show", str(sample),
                        "--filter", "io", "--limit", "1"],
                       cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[1].startswith("c=1004 i=51 1000:0003")
    p = subprocess.run([sys.executable, "-m", "core.cli", "trace", "show",
                        str(sample) + ".missing"], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "cannot open" in p.stderr


def test_trace_is_listed_in_help(capsys):
    status, out, _ = cli_run(capsys, "trace", "-h")
    assert status == 0 and "show" in out and "diff" in out and "mnemonic=" in out


# ---------------------------------------------------------------- recordings of real runs
# The CPU's recorder (core/cpu.pyx: trace_start/trace_take/trace_stop) against the reader.

REAL_GUEST = """
start:
  mov ax, cs
  mov ds, ax
  mov ax, 0x1234
  mov [0x0100], ax
  mov al, 0x41
  out 0xe9, al
  int 0x10
  sti                 ; the pending IRQ is taken after the next instruction
  nop
  nop
  cli
  hlt
handler10:
  mov bx, 0x5678
  iret
handler08:
  mov cx, 0x9abc
  iret
"""


def need_recorder():
    from core.cpu import CPU
    if not hasattr(CPU, "trace_start"):
        pytest.skip("this CPU has no trace recorder")


def record_real_guest(path, patch=None):
    """Run REAL_GUEST at 1000:0000 with IRQ 0 (vector 8) pending, recording it."""
    from core.machine import Machine
    from tests.asm import load, nasm
    need_recorder()
    code = bytearray(nasm(REAL_GUEST))
    h10 = code.index(bytes.fromhex("bb7856"))
    h08 = code.index(bytes.fromhex("b9bc9a"))
    if patch is not None:
        patch(code, h10)
    m = Machine("80386")
    cpu = load(m, bytes(code))
    m.mem.write(0x10 * 4, (h10 | 0x1000 << 16).to_bytes(4, "little"))
    m.mem.write(0x08 * 4, (h08 | 0x1000 << 16).to_bytes(4, "little"))

    def acknowledge():
        cpu.intr = False
        return 0x08
    cpu.intr_ack = acknowledge
    cpu.intr = True
    with tr.TraceWriter.for_machine(path, m, "REAL_GUEST") as w:
        cpu.trace_start()
        assert m.run(max_cycles=100_000) == "halt"
        w.write(cpu.trace_take())
        cpu.trace_stop()
    return m, h10, h08


def test_recorded_real_mode_run(tmp_path):
    path = tmp_path / "real.c86t"
    m, h10, h08 = record_real_guest(path)
    recs, warnings = read_all(path)
    assert warnings == []
    insns = [r for r in recs if r.kind == "insn"]
    assert [tr.mnemonic(r) for r in insns] == [
        "mov", "mov", "mov", "mov", "mov", "out", "int", "mov", "iret", "sti", "nop",
        "mov", "iret", "nop", "cli", "hlt"]
    assert all(r.cs == 0x1000 and r.cs_base == 0x10000 and r.mode_name == "real"
               and r.linear == r.physical == 0x10000 + r.eip for r in insns)
    assert [r.icount for r in insns] == list(range(16))
    assert insns[0].cycle == 0 and all(a.cycle < b.cycle for a, b in zip(insns, insns[1:]))
    assert insns[-1].icount + 1 == m.cpu.icount

    assert insns[2].regs_after == {"eax": 0x1234}
    assert insns[3].mem_writes == [(0x10100, 0x10100, 2, 0x1234)]     # mov [0x100], ax
    assert insns[5].io == [(0xE9, 1, True, 0x41)]                      # out 0xe9, al
    int10 = insns[6]
    assert int10.interrupts == [(0x10, tr.INT_SOFTWARE, None)]
    assert int10.regs_after["esp"] == 0xFFF8                           # flags, cs, ip pushed
    assert [w[2:] for w in int10.mem_writes] == [(2, 0x0002), (2, 0x1000), (2, 0x0010)]
    assert insns[7].eip == h10 and insns[7].regs_after == {"ebx": 0x5678}

    # IRQ 0 arrives between the nop after sti and the next nop, as its own record
    kinds = [r.kind for r in recs]
    irq = recs[kinds.index("interrupt")]
    assert recs[kinds.index("interrupt") - 1].eip == insns[10].eip
    assert irq.interrupts == [(0x08, tr.INT_HARDWARE, None)] and irq.icount == 11
    assert [w[3] for w in irq.mem_writes] == [0x0202, 0x1000, 0x0012]
    assert insns[11].eip == h08 and insns[11].regs_after == {"ecx": 0x9ABC}

    # the state rebuilt from the KEY and REG entries is the CPU's at the end
    final = recs[-1].regs()
    for name in tr.REG_NAMES:
        assert final[name] == getattr(m.cpu, name), name


def test_recording_the_same_run_twice_is_byte_identical(tmp_path):
    record_real_guest(tmp_path / "a.c86t")
    record_real_guest(tmp_path / "b.c86t")
    assert (tmp_path / "a.c86t").read_bytes() == (tmp_path / "b.c86t").read_bytes()


def test_diff_finds_a_changed_instruction_in_real_runs(tmp_path, capsys):
    def patch(code, h10):
        code[h10 + 1] = 0x79                                    # mov bx, 0x5679
    record_real_guest(tmp_path / "a.c86t")
    record_real_guest(tmp_path / "b.c86t", patch)
    status, out, _ = cli_run(capsys, "trace", "diff", str(tmp_path / "a.c86t"),
                             str(tmp_path / "b.c86t"), "--context", "2")
    assert status == 1
    assert "divergence at record 7 " in out and "in: bytes, regs" in out, out
    assert "ebx=00005678" in out and "ebx=00005679" in out
    assert "int 0x10" in out                                    # in the context


def test_recorded_protected_mode_guest_with_paging(tmp_path):
    """pm_paging (tests/guests): paged code shows PHYS, page faults show as exceptions,
    and the port 0xE9 text rebuilt from the IO entries is what the guest printed."""
    from core import bench
    need_recorder()
    exe = __import__("shutil").which("nasm")
    if exe is None:
        pytest.skip("nasm is not installed")
    guests = os.path.join(ROOT, "tests", "guests")
    rom = tmp_path / "pm_paging.rom"
    subprocess.run([exe, "-f", "bin", "-i", guests + os.sep, "-o", str(rom),
                    os.path.join(guests, "pm_paging.asm")], check=True, capture_output=True)
    files = []
    for name in ("a.c86t", "b.c86t"):
        m, port = bench.make_machine(rom.read_bytes(), cpu="80386", memory=16 << 20)
        path = tmp_path / name
        with tr.TraceWriter.for_machine(path, m, "pm_paging") as w:
            m.cpu.trace_start()
            for _ in range(100):                # fixed slices: the run is the same each time
                reason = m.run(max_cycles=50_000)
                w.write(m.cpu.trace_take())
                if reason != "budget":
                    break
        assert port.exit_status is not None
        files.append(path.read_bytes())
    assert files[0] == files[1]

    with tr.TraceReader(tmp_path / "a.c86t") as t:
        recs = list(t)
        assert t.warnings == []
        stats = t.stats()
    insns = [r for r in recs if r.kind == "insn"]
    # One INSN per executed instruction: a REP string instruction that runs to the end in
    # one go is one INSN, whose iterations the CPU's own icount counts one by one.
    assert [r.icount for r in insns] == list(range(len(insns)))
    assert stats.instructions == len(insns) <= m.cpu.icount
    e9 = bytes(v for r in recs for port_, size, out, v in r.io if port_ == 0xE9 and out)
    assert e9 == port.output and b"PASS" in e9
    modes = {r.mode_name for r in insns}
    assert {"real", "protected"} <= modes
    paged = [r for r in insns if r.paging]
    assert paged
    aliased = [w for r in recs for w in r.mem_writes if w[0] != w[1]]
    assert (0x40001234, 0x00301234, 4, 0x1234ABCD) in aliased     # "pse-4m-alias" and kin
    assert any(r.code32 for r in insns)
    page_faults = [i for r in recs for i in r.interrupts if i[:2] == (14, tr.INT_EXCEPTION)]
    assert page_faults and all(err is not None for _, _, err in page_faults)
    assert any("cr3" in r.regs_after for r in insns)
    final = recs[-1].regs()
    for name in tr.REG_NAMES:
        assert final[name] == getattr(m.cpu, name), name


def test_recorded_wrap_at_1_mib_shows_the_physical_address(tmp_path):
    """An 8086 fetching at FFFF:0020 reads physical 0x00010 (20 address lines): PHYS."""
    from core.machine import Machine
    from tests.asm import load
    need_recorder()
    m = Machine("8086")
    cpu = load(m, bytes.fromhex("b80700f4"), cs=0xFFFF, ip=0x20)    # mov ax, 7; hlt
    path = tmp_path / "wrap.c86t"
    with tr.TraceWriter.for_machine(path, m) as w:
        cpu.trace_start()
        m.run(max_cycles=1000)
        w.write(cpu.trace_take())
    recs, _ = read_all(path)
    assert [(r.cs, r.eip, r.linear, r.physical) for r in recs] == [
        (0xFFFF, 0x20, 0x100010, 0x10), (0xFFFF, 0x23, 0x100013, 0x13)]
    assert recs[0].regs_after == {"eax": 7}
    assert tr.format_record(recs[0]).startswith(
        "c=0 i=0 ffff:0020 (l=0x00100010 p=0x00000010) b8 07 00")


# ---------------------------------------------------------------- the writer's two ways

def test_direct_and_cached_writes_make_the_same_file_with_flushes_between(tmp_path):
    # O_DIRECT writes whole blocks and keeps the rest for the next write; flush() writes
    # that rest padded and cuts the file to its size, and the next write writes the block
    # again.  Chunks of every size around the block, a header longer than a block, and
    # flushes at random points give the file the cached writer makes, and after each
    # flush the file is what was written so far.
    import random
    rng = random.Random(86)
    hdr = tr.make_header("80386", 16_000_000, 0, "x" * 5000)   # (spans blocks alone)
    data = bytes(rng.randrange(256) for _ in range(60000))
    files = []
    # (and with buffers made ahead by the writer's thread, smaller than some chunks)
    for direct, size in ((True, None), (False, None), (True, 8192)):
        path = tmp_path / ("%s%s.c86t" % ("d" if direct else "c", size or ""))
        w = tr.TraceWriter(path, hdr, direct=direct, buffer_size=size)
        assert w.direct == (direct and _o_direct_works(tmp_path))
        head = tr.encode_file_header(hdr)
        assert path.read_bytes() == head             # the header, before any entry
        pos = 0
        r = random.Random(7)
        while pos < len(data):
            n = r.choice([1, 5, 4095, 4096, 4097, 8191, r.randrange(1, 9000)])
            w.write(memoryview(data)[pos:pos + n])
            pos += n
            if r.random() < 0.3:
                w.flush()
                assert path.read_bytes() == head + data[:pos]
        w.close()
        files.append(path.read_bytes())
        assert files[-1] == head + data
    assert files[0] == files[1] == files[2]


def _o_direct_works(folder):
    """Whether a block written with O_DIRECT in folder is written (the test's own try)."""
    import mmap
    if not hasattr(os, "O_DIRECT"):
        return False
    path = os.path.join(folder, "probe")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_DIRECT)
    except OSError:
        return False
    try:
        return os.pwrite(fd, mmap.mmap(-1, 4096), 0) == 4096
    except OSError:
        return False
    finally:
        os.close(fd)
        os.unlink(path)


def test_a_file_system_without_o_direct_takes_cached_writes(tmp_path, monkeypatch):
    # (tmpfs, FAT, and systems with no O_DIRECT at all refuse it at open or at the first
    # write: the writer says so and writes through the cache)
    real_open = os.open

    def refuse_direct(path, flags, *args):
        if flags & getattr(os, "O_DIRECT", 0):
            raise OSError(22, "Invalid argument")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", refuse_direct)
    path = tmp_path / "n.c86t"
    with tr.TraceWriter(path, header()) as w:
        assert not w.direct
        w.write(sample_stream())
    assert path.read_bytes() == tr.encode_file_header(header()) + sample_stream()


def test_a_debugger_recording_is_the_stream_the_cpu_makes(tmp_path, monkeypatch):
    # The debugger hands each slice's entries to its TraceWriter by cpu.trace_swap: the
    # CPU records into the writer's buffers, passed on in whole blocks, the part-block
    # kept for the next.  Across short slices, then slices far longer than the buffer the
    # writer sized by the last one (the CPU outgrows it and goes on in memory of its own),
    # the file holds the stream that trace_drain gives for the same run.  The CPU records
    # into the writer's buffers from the start (trace_start hands it one), all but the
    # first made by the writer's thread with their pages faulted in.
    from core import bench
    from debugger import controller
    from debugger.controller import Debugger

    class Collect:
        path = "(memory)"

        def __init__(self):
            self.data = bytearray()

        def write(self, raw):
            self.data += raw

        def close(self):
            pass

    def record(trace):
        m, _port = bench.bench_machine(cpu="80386")
        d = Debugger(m)
        # (the writer's buffers are sized for slices of 20,000 cycles)
        monkeypatch.setattr(tr, "RECORD_SLICE_CYCLES", 20_000)
        if trace is None:
            d.trace_start(str(tmp_path / "t.c86t"))
        else:
            m.cpu.trace_start()
            d.trace = trace
        for slice_cycles, cycles in ((20_000, 600_000), (1_500_000, 3_000_000), (7_000, 100_000)):
            monkeypatch.setattr(controller, "TRACE_SLICE_CYCLES", slice_cycles)
            d.cont(max_cycles=cycles)
        d.trace_stop()
        return m.cpu.icount

    collected = Collect()
    n = record(collected)
    assert record(None) == n > 100_000
    with tr.TraceReader(tmp_path / "t.c86t") as t:
        head = t.header
    data = (tmp_path / "t.c86t").read_bytes()
    assert data == tr.encode_file_header(head) + bytes(collected.data)


def test_a_writer_whose_thread_cannot_make_its_buffers_ahead_makes_them_when_wanted(tmp_path,
                                                                                    monkeypatch):
    # Buffers made ahead (buffer_size) are only faster: when the writer's thread cannot
    # make them (memory), the recording makes them as it needs them, and the file is
    # the same.
    from core import bench
    from debugger.controller import Debugger
    made = tr.TraceWriter._new_buffer

    def no_memory(self, size, populate=False):
        if populate:
            raise MemoryError
        return made(self, size, populate)

    files = []
    for patched in (False, True):
        if patched:
            monkeypatch.setattr(tr.TraceWriter, "_new_buffer", no_memory)
        m, _port = bench.bench_machine(cpu="80386")
        d = Debugger(m)
        path = tmp_path / ("%d.c86t" % patched)
        d.trace_start(str(path))
        d.cont(max_cycles=5_000_000)
        d.trace_stop()
        files.append(path.read_bytes())
    assert files[0] == files[1] and len(files[0]) > 1_000_000


def test_trace_swap_refuses_what_it_cannot_record_into_and_a_writer_goes_on_after_drains(tmp_path):
    import mmap
    from core import bench
    m, _port = bench.bench_machine(cpu="80386")
    c = m.cpu
    c.trace_start()
    m.run(max_cycles=200_000)
    pending = c.trace_size
    assert pending > 4096
    with pytest.raises(ValueError, match="trace_swap"):
        c.trace_swap(mmap.mmap(-1, 4096))                  # its entries do not fit
    with pytest.raises(ValueError, match="trace_swap"):
        c.trace_swap(None)                                 # it holds no buffer of ours
    with pytest.raises(ValueError, match="block 0"):
        c.trace_swap(mmap.mmap(-1, 1 << 22), 0)            # no such block
    with pytest.raises((BufferError, TypeError)):
        c.trace_swap(b"read-only")
    assert c.trace_size == pending                         # nothing was lost on the way
    c.trace_take()
    c.trace_start()                                        # (a KEY: a stream of its own)
    path = tmp_path / "s.c86t"
    w = tr.TraceWriter(path, header())
    for _ in range(3):
        m.run(max_cycles=150_000)
        w.drain(c)
    with pytest.raises(ValueError, match="trace_swap"):
        c.trace_take()                                     # (it would take the kept part-block)
    m.run(max_cycles=50_000)
    w.drain(c, last=True)
    w.write(b"\x09")                                       # the writer goes on after the last drain
    w.close()
    c.trace_stop()
    data = path.read_bytes()
    head = tr.encode_file_header(header())
    assert data.startswith(head) and data.endswith(b"\x09")
    with tr.TraceReader(path) as t:
        records = list(t)
    assert len(records) > 10_000 and records[-1].kind == "shutdown"
