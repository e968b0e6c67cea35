"""Trace format version 2 (docs/trace-format.md): the entries that leave out what the
reader can tell (an INSN's EIP, bytes and physical address), REG16, the short MEMW; the
same runs read the same as in version 1; the recorder's code cache against code that
changes under it."""
import pytest

from debugger import trace as tr

FIELDS = ("kind", "cycle", "icount", "mode", "cs", "cs_base", "eip", "linear", "physical",
          "bytes", "regs_after", "mem_writes", "io", "interrupts", "state_before",
          "state_after")

START_REGS = {"esp": 0xFFFE, "cs": 0x1000, "ss": 0x3000, "eflags": 0x0002}
PAGED = tr.MODE_PROTECTED | tr.MODE_PAGING | tr.MODE_CODE32


def header():
    return tr.make_header("80386", 16_000_000, 1000, "synthetic")


def events(e):
    """One run as StreamEncoder calls: a loop run three times, an IRQ between
    instructions, paged code in two pages and back, registers changing in their low half
    and in whole, memory writes of each size with and without a physical address."""
    out = [e.key(1000, 50, START_REGS, 0x0000), e.ctx(0, 0x1000, 0x10000),
           e.insn(0, 0x0000, bytes.fromhex("b90300")),                  # mov cx, 3
           e.reg("ecx", 3)]
    for i in range(3):
        out += [e.insn(2, 0x0003, bytes.fromhex("a30020")),              # mov [0x2000], ax
                e.memw(2, 0x12000, 0x12000, 0x0041),
                e.insn(13, 0x0006, bytes.fromhex("49")),                 # dec cx
                e.reg("ecx", 2 - i), e.reg("eflags", 0x0002 | (0x44 if i == 2 else 0)),
                e.insn(3, 0x0007, bytes.fromhex("75fa"))]                # jnz 3
    out += [e.int(8, tr.INT_HARDWARE),                                   # IRQ 0
            e.memw(2, 0x3FFFC, 0x3FFFC, 0x0046), e.memw(2, 0x3FFFA, 0x3FFFA, 0x1000),
            e.memw(2, 0x3FFF8, 0x3FFF8, 0x0009),
            e.reg("esp", 0xFFF8), e.reg("cs", 0xF000),
            e.ctx(0, 0xF000, 0xF0000),
            e.insn(60, 0xFEA5, bytes.fromhex("cd10")),                   # int 0x10
            e.int(0x10, tr.INT_SOFTWARE), e.reg("esp", 0xFFF2),
            e.insn(40, 0xF065, bytes.fromhex("ec")),                     # in al, dx
            e.reg("eax", 0x1C), e.io(0x60, 1, False, 0x1C),
            e.ctx(PAGED, 0x0008, 0)]
    # 32-bit code at linear C0001000 (physical 00101000) and C0002000 (00207000), with a
    # write through an alias, a byte and a dword write, a delta of 31 and one above 2^16.
    for _ in range(2):
        out += [e.insn(7, 0xC0001000, bytes.fromhex("8918"), 0x00101000),  # mov [eax], ebx
                e.memw(4, 0x1C, 0x0040001C, 0x12345678),
                e.insn(31, 0xC0001002, bytes.fromhex("8818"), 0x00101002),  # mov [eax], bl
                e.memw(1, 0x1C, 0x1C, 0x78),
                e.insn(5, 0xC0001004, bytes.fromhex("e9f70f0000"), 0x00101004),
                e.insn(70000, 0xC0002000, bytes.fromhex("bb00000100"), 0x00207000),
                e.reg("ebx", 0x00010000),
                e.insn(4, 0xC0002005, bytes.fromhex("e9f6efffff"), 0x00207005)]
    out += [e.insn(7, 0xC0001000, bytes.fromhex("8918"), 0x00101000),
            e.int(14, tr.INT_EXCEPTION, 2), e.reg("cr2", 0x1C),
            e.key(1000 + (1 << 33), 99, START_REGS, 0x0007),             # forgets the code
            e.ctx(0, 0x1000, 0x10000),
            e.insn(1, 0x0007, bytes.fromhex("75fa")),
            e.shutdown()]
    return b"".join(out)


def read(tmp_path, raw, version, name="t.c86t"):
    path = tmp_path / name
    tr.write_trace(path, header(), raw, version=version)
    with tr.TraceReader(path) as t:
        assert t.version == version
        return list(t), list(t.warnings)


def test_version_2_reads_as_version_1_does(tmp_path):
    raw1, raw2 = events(tr.StreamEncoder(1)), events(tr.StreamEncoder(2))
    recs1, warn1 = read(tmp_path, raw1, 1, "a.c86t")
    recs2, warn2 = read(tmp_path, raw2, 2, "b.c86t")
    assert warn1 == warn2 == []
    assert len(recs1) == len(recs2) == 26
    for a, b in zip(recs1, recs2):
        assert [getattr(a, f) for f in FIELDS] == [getattr(b, f) for f in FIELDS]
    assert len(raw2) < 0.7 * len(raw1)             # two KEYs of 97 bytes in both
    loop = [r for r in recs2 if r.kind == "insn" and r.cs == 0x1000]
    assert [r.eip for r in loop] == [0, 3, 6, 7, 3, 6, 7, 3, 6, 7, 7]
    paged = [r for r in recs2 if r.kind == "insn" and r.paging]
    assert [r.physical for r in paged] == [0x00101000, 0x00101002, 0x00101004, 0x00207000,
                                            0x00207005] * 2 + [0x00101000]
    assert recs2[-2].bytes == bytes.fromhex("75fa") and recs2[-2].cycle == 1 + 1000 + (1 << 33)


def test_insn_entries_byte_for_byte():
    e = tr.StreamEncoder(2)
    e.key(0, 0, {}, 0x100)
    e.ctx(0, 0, 0)
    # the first time at an address: bytes; EIP is the KEY's, so left out
    assert e.insn(3, 0x100, b"\xeb\xfe") == bytes.fromhex("a3 02 ebfe")
    # the next EIP is 0x102; 0x100 again: 2 bytes back, the bytes known
    assert e.insn(5, 0x100, b"\xeb\xfe") == bytes.fromhex("c5 fe")
    assert e.insn(31, 0x12345678, b"\xeb\xfe") == bytes.fromhex(
        "ff 1f000000 80 78563412 02 ebfe")
    assert e.insn(30, 0x1234567A, b"\x90") == bytes.fromhex("be 01 90")
    assert e.insn(0, 0x1234567B, b"\x90") == bytes.fromhex("a0 01 90")
    assert e.insn(2, 0x1234567A, b"\x90") == bytes.fromhex("c2 fe")
    # the displacement's ends, and one past them
    assert e.insn(2, 0x1234567B + 127, b"\x90") == bytes.fromhex("e2 7f 01 90")
    assert e.insn(2, 0x1234567C, b"\x90") == bytes.fromhex("e2 81 01 90")
    assert e.insn(2, 0x1234567D - 128, b"\x90") == bytes.fromhex("e2 80 fd553412 01 90")
    assert e.insn(2, 0xFFFFFFFF, b"\x90") == bytes.fromhex("e2 80 ffffffff 01 90")
    assert e.insn(2, 0x00000010, b"\x90") == bytes.fromhex("e2 10 01 90")   # wraps
    # other bytes at a known address: given again
    assert e.insn(2, 0x10, b"\x40") == bytes.fromhex("e2 ff 01 40")


def test_phys_gives_a_page_mapping():
    e = tr.StreamEncoder(2)
    e.key(0, 0, {}, 0)
    e.ctx(PAGED, 8, 0)
    assert e.insn(1, 0x00401000, b"\x90", 0x00007000) == bytes.fromhex(
        "03 00700000 e1 80 00104000 01 90")
    assert e.insn(1, 0x00401001, b"\x90", 0x00007001) == bytes.fromhex("a1 01 90")
    # the next page is not mapped for the reader; an identity-mapped one needs no PHYS,
    # and the mapping of the first page holds on
    assert e.insn(1, 0x00402000, b"\x90", 0x00402000) == bytes.fromhex(
        "e1 80 00204000 01 90")
    assert e.insn(1, 0x00401002, b"\x90", 0x00007002) == bytes.fromhex(
        "e1 80 02104000 01 90")
    # a remapped page: PHYS again
    assert e.insn(1, 0x00401003, b"\x90", 0x00009003) == bytes.fromhex("03 03900000 a1 01 90")


def test_reg_and_memw_entries_byte_for_byte():
    e = tr.StreamEncoder(2)
    e.key(0, 0, {"eax": 0x12340000}, 0)
    assert e.reg("eax", 0x12345678) == bytes.fromhex("40 7856")
    assert e.reg("eax", 0x00005678) == bytes.fromhex("20 78560000")
    assert e.reg("eax", 0x0000567F) == bytes.fromhex("60 7f")
    assert e.reg("eax", 0x0000577F) == bytes.fromhex("40 7f57")
    assert e.reg("cr4", 0x20) == bytes.fromhex("72 20")
    assert e.reg("esp", 0xFFFC) == bytes.fromhex("44 fcff")
    assert e.memw(1, 0x1000, 0x1000, 0x41) == bytes.fromhex("10 00100000 41")
    assert e.memw(2, 0x1000, 0x1000, 0x4142) == bytes.fromhex("11 00100000 4241")
    assert e.memw(4, 0x1000, 0x9000, 0x41424344) == bytes.fromhex(
        "16 00100000 00900000 44434241")


def entry_boundaries_v2(raw):
    """Entry start offsets of a version 2 stream, from the table in docs/trace-format.md."""
    fixed = {tr.CTX: 8, tr.PHYS: 5, tr.IO: 8, tr.INT: 7, tr.KEY: 97, tr.SHUTDOWN: 1}
    out, off = set(), 0
    while off < len(raw):
        out.add(off)
        tag = raw[off]
        if tag & 0x80:
            size = 1 + (4 if tag & 0x1F == 0x1F else 0)
            if tag & 0x40:
                size += 5 if raw[off + size] == 0x80 else 1
            if tag & 0x20:
                size += 1 + raw[off + size]
        elif 0x20 <= tag < 0x40:
            size = 5
        elif 0x40 <= tag < 0x60:
            size = 3
        elif 0x60 <= tag < 0x80:
            size = 2
        elif 0x10 <= tag < 0x18:
            size = 5 + (4 if tag & 4 else 0) + (1 << (tag & 3))
        else:
            size = fixed[tag]
        off += size
    return out


def test_every_truncation_reads_cleanly(tmp_path):
    raw = events(tr.StreamEncoder(2))
    full, _ = read(tmp_path, raw, 2)
    boundaries = entry_boundaries_v2(raw)
    head_len = len(tr.encode_file_header(header()))
    for cut in range(1, len(raw)):
        recs, warnings = read(tmp_path, raw[:cut], 2)
        assert bool(warnings) == (cut not in boundaries), cut
        if warnings:
            assert "offset %d" % (head_len + max(b for b in boundaries if b < cut)) \
                in warnings[0]
        for a, b in zip(recs, full):
            assert (a.kind, a.cycle, a.eip, a.physical, a.bytes) == \
                (b.kind, b.cycle, b.eip, b.physical, b.bytes)


@pytest.mark.parametrize("tail, message", [
    (bytes.fromhex("80"), "INSN without bytes at physical address 0x0"),
    (bytes.fromhex("a0 00"), "INSN length 0"),
    (bytes.fromhex("a0 01 90 13 00000000 00"), "MEMW size code 3"),
    (bytes.fromhex("a0 01 90 33 00000000"), "REG index 19"),
    (bytes.fromhex("a0 01 90 53 0000"), "REG index 19"),
    (bytes.fromhex("a0 01 90 e0 80 00000000 00"), "INSN length 0"),
    (bytes.fromhex("01 00000000 00000000 01 90"), "unknown entry tag 0x01"),
    (bytes.fromhex("a0 01 90 04 00 00000000"), "unknown entry tag 0x04"),
    (bytes.fromhex("a0 01 90 73 00"), "REG index 19"),
    (bytes.fromhex("a0 01 90 0c"), "unknown entry tag 0x0c"),      # (0x0a is BUS, 0x0b CYCLE)
    (bytes.fromhex("a0 01 90 18"), "unknown entry tag 0x18"),
])
def test_bad_entries(tmp_path, tail, message):
    good = tr.encode_key(0, 0, {}, 0) + tr.encode_ctx(0, 0, 0)
    path = tmp_path / "bad.c86t"
    tr.write_trace(path, header(), good + tail)
    with tr.TraceReader(path) as t, pytest.raises(tr.TraceError, match=message):
        list(t)


def test_a_key_forgets_the_code(tmp_path):
    e = tr.StreamEncoder(2)
    raw = (e.key(0, 0, {}, 0) + e.ctx(0, 0, 0) + e.insn(1, 0, b"\x90")
           + tr.encode_key(5, 1, {}, 0) + tr.encode_ctx(0, 0, 0) + bytes.fromhex("80"))
    path = tmp_path / "k.c86t"
    tr.write_trace(path, header(), raw)
    with tr.TraceReader(path) as t, pytest.raises(tr.TraceError, match="none were recorded"):
        list(t)


# ---------------------------------------------------------------- the recorder

def record(code, cpu_model="80386", max_cycles=200_000, **load_kw):
    """Run `code` at 1000:0000 (or per load_kw) until it halts, recording; the raw stream
    and its records."""
    from core.machine import Machine
    from tests.asm import load
    m = Machine(cpu_model)
    cpu = load(m, code, **load_kw)
    cpu.trace_start()
    assert m.run(max_cycles=max_cycles) == "halt"
    raw = cpu.trace_take()
    cpu.trace_stop()
    return m, raw


def records_of(tmp_path, raw, name="r.c86t"):
    recs, warnings = read(tmp_path, raw, 2, name)
    assert warnings == []
    return [r for r in recs if r.kind == "insn"]


def test_a_loop_costs_a_byte_an_instruction_and_its_registers(tmp_path):
    from tests.asm import nasm
    m, raw = record(nasm("mov cx, 100\nl: dec cx\njnz l\nhlt"))
    insns = records_of(tmp_path, raw)
    assert [r.eip for r in insns] == [0] + [3, 4] * 100 + [6]
    assert all(r.bytes == b"\x49" for r in insns[1::2][:100])
    assert insns[-1].regs()["ecx"] == 0 == m.cpu.ecx
    tags = [raw[r.offset - len(tr.encode_file_header(header()))] for r in insns]
    # after the first pass: dec after the jump back has its EIP (3 bytes back from the
    # expected 6), jnz nothing but the tag
    head = len(tr.encode_file_header(header()))
    assert all(t & 0xE0 == 0xC0 and raw[r.offset - head + 1] == 0xFD
               for t, r in list(zip(tags, insns))[3:-1:2])
    assert all(t & 0xE0 == 0x80 for t in tags[4:-1:2])
    # KEY + CTX + the first pass, then per iteration: two tags, an EIP, ECX and EFLAGS
    # (their low bytes)
    assert len(raw) < 97 + 8 + 20 + 100 * (2 + 1 + 2 + 2) + 10


def test_code_written_over_is_recorded_again(tmp_path):
    from tests.asm import nasm
    code = nasm("""
        mov ax, cs
        mov ds, ax
        mov cx, 2
    l:  mov ax, 1
        mov byte [l + 1], 2
        dec cx
        jnz l
        hlt""")
    m, raw = record(code)
    movs = [r for r in records_of(tmp_path, raw) if r.bytes[0] == 0xB8 and r.eip > 2]
    assert [(r.bytes, r.regs_after.get("eax")) for r in movs] == [
        (bytes.fromhex("b80100"), 1), (bytes.fromhex("b80200"), 2)]


def test_the_same_bytes_in_32_bit_code_are_another_instruction(tmp_path):
    """`same` runs as 16-bit code (mov [0x200], ax; add [bx+si], al), then from a 32-bit
    segment at the same base (mov [0x200], eax): the bytes at that physical address are
    those recorded before, but the instruction is longer."""
    from tests.asm import nasm
    code = nasm("""
        cli
        mov ax, cs
        mov ds, ax
        xor bx, bx
        mov si, 0x300
        mov ax, 0x1234
        call same
        o32 lgdt [gdtr]
        mov eax, cr0
        or al, 1
        mov cr0, eax
        jmp dword 0x08:pm32
    bits 32
    pm32:
        mov ax, 0x10
        mov ds, ax
        mov ss, ax
        mov esp, 0x8000
        mov eax, 0x89abcdef
        call same
        hlt
    same:
        db 0xa3, 0x00, 0x02, 0x00, 0x00
        ret
    align 8
    gdt:
        dq 0
        dw 0xffff, 0x0000
        db 0x01, 0x9a, 0x40, 0x00       ; code: base 0x10000, 32-bit
        dw 0xffff, 0x0000
        db 0x01, 0x92, 0x40, 0x00       ; data: base 0x10000
    gdtr:
        dw 23
        dd 0x10000 + gdt""")
    m, raw = record(code)
    insns = records_of(tmp_path, raw)
    at_same = [r for r in insns if r.bytes[0] == 0xA3]
    assert [(r.code32, r.physical, r.bytes, r.mem_writes) for r in at_same] == [
        (False, at_same[0].physical, bytes.fromhex("a30002"), [(0x10200, 0x10200, 2, 0x1234)]),
        (True, at_same[0].physical, bytes.fromhex("a300020000"),
         [(0x10200, 0x10200, 4, 0x89ABCDEF)])]
    add = insns[insns.index(at_same[0]) + 1]
    assert add.bytes == b"\x00\x00" and add.mem_writes == [(0x10300, 0x10300, 1, 0x34)]
    assert insns[-1].regs()["esp"] == 0x8000 == m.cpu.esp


def test_more_code_than_the_recorder_keeps(tmp_path):
    # 6000 one-byte instructions, twice: more addresses than the recorder's code cache
    # holds, so some bytes come again; the reader follows either way.
    from tests.asm import nasm
    m, raw = record(nasm("mov cx, 2\nl: times 6000 inc ax\ndec cx\njnz l\nhlt"),
                    max_cycles=2_000_000)
    insns = records_of(tmp_path, raw)
    assert len(insns) == 1 + 2 * 6002 + 1
    body = [r for r in insns if r.bytes == b"\x40"]
    assert [r.eip for r in body] == list(range(3, 6003)) * 2
    assert insns[-1].regs()["eax"] == 12000 == m.cpu.eax


def test_far_and_near_forms_of_ff(tmp_path):
    """FF /3 and /5 (CALL and JMP far through memory) change CS, the other FF forms
    only GPRs: each record has its own register changes and the CS:EIP it ran at."""
    from tests.asm import nasm
    code = nasm("""
        mov ax, cs
        mov ds, ax
        mov bx, near_target
        call bx                 ; FF /2
        call far [far_in]       ; FF /3
        push word [far_in]      ; FF /6
        inc word [counter]      ; FF /0
        hlt
    near_target:
        ret
    counter: dw 0
    far_in: dw 0x0000, 0x2000
    far_back: dw back, 0x1000
    back:
        retf
    """)
    from core.machine import Machine
    from tests.asm import load
    m = Machine("80386")
    cpu = load(m, code)
    m.mem.write(0x20000, nasm("jmp far [cs:0x10]\ntimes 0x10 - ($ - $$) nop\n"
                              "dw 0x%x, 0x1000" % code.index(bytes.fromhex("cb"))))
    cpu.trace_start()
    assert m.run(max_cycles=100_000) == "halt"
    raw = cpu.trace_take()
    insns = records_of(tmp_path, raw)
    where = [(r.cs, r.eip, tr.mnemonic(r)) for r in insns]
    assert [w[2] for w in where] == ["mov", "mov", "mov", "call", "ret", "lcall", "ljmp",
                                     "retf", "push", "inc", "hlt"]
    far = [i for i, r in enumerate(insns) if r.bytes[:2] == bytes.fromhex("ff1e")][0]
    assert insns[far].regs_after == {"esp": 0xFFFA, "cs": 0x2000}
    assert where[far + 1] == (0x2000, 0, "ljmp")                        # FF /5
    assert insns[far + 1].regs_after == {"cs": 0x1000}
    assert insns[far + 2].cs == 0x1000 and insns[far + 2].cs_base == 0x10000
    assert insns[far + 2].regs_after == {"esp": 0xFFFE}                 # retf
    push = insns[far + 3]
    assert push.bytes[:2] == bytes.fromhex("ff36") and push.regs_after == {"esp": 0xFFFC}
    inc = insns[far + 4]
    assert inc.bytes[:2] == bytes.fromhex("ff06") and inc.mem_writes[0][2:] == (2, 1)
    assert insns[-1].regs()["cs"] == 0x1000 == m.cpu.cs


def test_registers_written_between_trace_start_and_the_run_are_in_the_recording(tmp_path):
    # The KEY of trace_start holds the registers as they were; a register written after
    # it (from the Python API, or a debugger's `set`) and before any instruction has no
    # record for a REG entry to belong to: the recorder writes the KEY again, and the
    # reader sees the new values from the first instruction on.
    from core.machine import Machine
    from debugger.trace import TraceReader, make_header, write_trace, REG_NAMES
    from tests.asm import nasm
    for name, value in (("eax", 5), ("ds", 0x1000), ("eflags", 0x202)):
        m = Machine("80386", 1 << 20)
        c = m.cpu
        m.mem.write(0x80000, nasm("again: inc ax\njmp again"))
        c.cs, c.eip = 0x8000, 0
        c.trace_start()
        setattr(c, name, value)
        m.run(5)
        c.trace_stop()
        path = tmp_path / ("%s.c86t" % name)
        write_trace(path, make_header("80386", m.clock.frequency), c.trace_take())
        records = list(TraceReader(path).records())
        assert records and records[0].eip == 0
        assert records[0].state_before[REG_NAMES.index(name)] == value
