"""The decoded-instruction cache (core/cpu.pyx, DInsn and dc_loop) against the generic
decoder it stands in for: the same instruction from the same state must leave the same
registers, flags, memory, clock and instruction count either way, in real mode, in
protected mode at CPL 0 and 3, with and without paging, through faults, and over whole
firmware runs.  The cache is tagged by the instruction bytes, so code that changes under
it (a store, REP MOVS, DMA, a remapped page) is checked here too.  `cpu.decoded_cache`
turns it off for the reference runs."""
import hashlib

import pytest
from hypothesis import given

from core import strategies as S
from core.machine import Machine
from tests.asm import nasm
from tests.test_cpu_tlb import (CODE32, DATA32, descriptor, flat32, interrupt_gate, run_at,
                                 with_gdt)


def _run(case, cached):
    """One case on cycle86 with the cache on or off.  A NOP is run first from the byte
    before the instruction, so the fetch window is open when the instruction starts, as
    it is for all but the first instruction of a page in a real run (the cache is used
    only inside an open window)."""
    m = S.prepare_cycle86(case)
    cpu = m.cpu
    cpu.decoded_cache = cached
    eip = cpu.eip
    lin = cpu.get_segment("cs")[1] + eip - 1
    lead = S.pm_translate(lin, case.mode.cpl) if case.mode.protected else lin & 0xFFFFF
    if eip >= 1 and lead is not None:
        m.mem.write8(lead, 0x90)
        cpu.eip = eip - 1
        m.step()
    t0, n0 = m.clock.now, cpu.icount
    m.step()
    regs = {r: getattr(cpu, r) for r in case.mode.state_keys}
    size = S.PM_RAM_SIZE if case.mode.protected else S.WINDOW_END
    memory = hashlib.sha256(bytes(m.mem.read(0, size))).hexdigest()
    form = cpu.decoded_form(eip) if cached else None
    return (regs, memory, m.clock.now - t0, cpu.icount - n0), form


def _same_either_way(cases, n, min_decoded):
    decoded = 0

    @S.examples(n)
    @given(cases)
    def prop(case):
        nonlocal decoded
        generic, _ = _run(case, False)
        cached, form = _run(case, True)
        assert cached == generic, f"{case.insn.name}: cache and generic path differ"
        if form not in (None, "generic"):
            decoded += 1
    prop()
    # The property means something only if the cache ran a good part of the cases.
    assert decoded >= min_decoded, f"only {decoded} of {n} cases ran from the cache"


@pytest.mark.parametrize("family", ["alu", "shifts", "addressing", "branches", "misc", "muldiv"])
def test_real_mode_instructions_same_with_and_without_the_cache(family):
    _same_either_way(S.cases(S.FAMILIES[family]()), 300, 60)


def test_any_real_mode_instruction_same_with_and_without_the_cache():
    _same_either_way(S.cases(S.any_instruction()), 600, 90)


@pytest.mark.parametrize("mode", [S.protected_mode(cpl=0), S.protected_mode(cpl=3),
                                  S.protected_mode(cpl=3, model="80486")],
                         ids=["386-cpl0", "386-cpl3", "486-cpl3"])
def test_protected_mode_instructions_same_with_and_without_the_cache(mode):
    _same_either_way(S.cases(S.any_instruction(mode=mode), mode=mode), 300, 30)


@pytest.mark.parametrize("mode", [S.protected_mode(cpl=0), S.protected_mode(cpl=3, model="80486", wp=True)],
                         ids=["386-cpl0", "486-cpl3"])
def test_page_faults_same_with_and_without_the_cache(mode):
    # Loads, stores and read-modify-writes into pages that are not present, read-only
    # or supervisor-only: the fault leaves the state (flags of a read-modify-write
    # included) and charges the clocks as the generic path does.
    _same_either_way(S.cases(S.page_faults(mode=mode), mode=mode), 300, 25)


# --- what the decoder takes, and what it leaves to the generic path ---------------------

FORMS = [
    (32, "add eax, ebx", "alu_rr32"),
    (16, "add ax, bx", "alu_rm_r"),
    (32, "adc edx, eax", "alu_rr32"),
    (32, "cmp ecx, [ebx]", "alu_r_rm"),
    (32, "sbb eax, 0x12345678", "alu_ri32"),
    (32, "cmp eax, byte -1", "alu_ri32"),
    (32, "sub ecx, [esi+edi*4+0x12345678]", "alu_r_rm"),
    (32, "cmp dword [ebp-8], 5", "alu_rm_imm"),
    (32, "and al, 0x7F", "alu_rm_imm"),
    (32, "o16 adc word [fs:ebx], 0x1234", "alu_rm_imm"),
    (16, "xor si, [bp+di+0x10]", "alu_r_rm"),
    (16, "mov ax, [0x1234]", "mov_r_rm"),
    (32, "mov [es:0x12345678], al", "mov_rm_r"),
    (32, "a16 mov eax, [0x1234]", "mov_r_rm"),
    (32, "mov [esp+4], edx", "mov_rm_r"),
    (32, "mov ecx, 0xDEADBEEF", "mov_rm_imm"),
    (32, "mov byte [eax], 7", "mov_rm_imm"),
    (32, "lea eax, [ebx+ecx*8+4]", "lea"),
    (32, "a32 lea ax, [ebx]", "lea"),
    (32, "inc dword [edi]", "incdec"),
    (32, "dec ecx", "incdec_r32"),
    (32, "inc cx", "incdec"),
    (32, "inc dword [ebx]", "incdec"),
    (32, "push ebx", "push_rm"),
    (32, "push dword [ebx]", "push_rm"),
    (32, "pop esi", "pop_r"),
    (32, "push byte -1", "push_imm"),
    (32, "jnz $+0x40", "jcc"),
    (32, "jl near $+0x400", "jcc"),
    (32, "jmp $+0x10", "jmp"),
    (32, "call $+0x100", "call"),
    (32, "ret", "ret"),
    (32, "ret 8", "ret"),
    (32, "call [ebx]", "call_rm"),
    (32, "jmp eax", "jmp_rm"),
    (32, "movzx eax, byte [esi]", "movx"),
    (32, "movsx ecx, dx", "movx"),
    (32, "shl eax, 3", "shift_ri32"),
    (32, "shr ebx, 1", "shift_ri32"),
    (32, "sar edx, 31", "shift_ri32"),
    (32, "sal esi, 7", "shift_ri32"),
    (32, "shl eax, 32", "shift"),                # a count of 0 after the mask: no flags
    (32, "rol eax, 3", "shift"),
    (32, "shr ax, 3", "shift"),
    (32, "sar dword [ebx], 1", "shift"),
    (32, "rol ecx, cl", "shift_cl"),
    (32, "setz al", "setcc"),
    (32, "cmovnz eax, [ebx]", "generic"),         # a P6 instruction: #UD on the Pentium
    (32, "test eax, 0x100", "alu_ri32"),
    (32, "test al, 1", "test_rm_imm"),
    (32, "test byte [ebx], 1", "test_rm_imm"),
    (32, "test ecx, edx", "alu_rr32"),
    (32, "test cx, dx", "test_rm_r"),
    (32, "cdq", "cwd"),
    (32, "cwde", "cbw"),
    (32, "leave", "leave"),
    (32, "xchg eax, ecx", "xchg_ax"),
    (32, "nop", "nop"),
    (32, "imul eax, ecx", "imul"),
    (32, "imul ecx, [ebx], 12", "imul"),
    (16, "imul ax, bx, 0x1234", "imul"),
    # Left to the generic path: REP and LOCK, strings, far transfers, system and
    # segment instructions, x87, multiply and divide, and XCHG r/m (Bochs's magic
    # breakpoint is XCHG BX,BX).
    (32, "rep movsb", "generic"),
    (32, "lock add [eax], ebx", "generic"),
    (32, "mov ds, ax", "generic"),
    (32, "mul ecx", "generic"),
    (32, "imul ecx", "generic"),                  # the one-operand form: EDX:EAX
    (32, "xchg ebx, [eax]", "generic"),
    (32, "fld dword [eax]", "generic"),
    (32, "pushfd", "generic"),
    (32, "in al, dx", "generic"),
]


def _form_of(bits, source, model="pentium"):
    m, c = flat32(model=model)
    code = nasm(source, bits=bits)
    at = 0x10
    # The window opens with the NOP; its page holds the instruction and 16 bytes after.
    m.mem.write(0x10000 + at - 1, b"\x90" + code + b"\x90" * 16)
    c.set_segment("cs", 0x08, base=0x10000, limit=0xFFFFF,
                  access=0x409B00 if bits == 32 else 0x009B00)
    c.eip = at - 1
    c.esp = 0x90000
    c.ebx = c.eax = c.esi = c.edi = 0x20000
    c.ebp = 0x30000
    m.step()
    m.step()
    return c.decoded_form(at)


@pytest.mark.parametrize("bits,source,form", FORMS, ids=[f[1] for f in FORMS])
def test_decoded_forms(bits, source, form):
    assert _form_of(bits, source) == form


def test_cmov_is_decoded_where_the_model_has_it():
    assert _form_of(32, "cmovnz eax, [ebx]", model="pentium2") == "cmov"


def test_a_loop_rewriting_its_own_immediate_runs_each_new_value_from_the_cache():
    # The patched ADD is of a decoded form; its entry was decoded from the old bytes,
    # so each iteration's hit check must see the new immediate and decode again.
    for paging in (False, True):
        m, c = flat32(paging=paging)
        code = nasm("""
            mov ecx, 5
            xor ebx, ebx
        again:
            mov [0x10000 + patch + 2], cl
        patch:
            add ebx, byte 0
            loop again
            hlt""", bits=32)
        run_at(m, 0x10000, code)
        assert c.ebx == 5 + 4 + 3 + 2 + 1
        assert c.decoded_form(0x10000 + code.index(b"\x83\xc3")) == "alu_ri32"


def test_the_same_bytes_elsewhere_run_from_one_entry_with_their_own_targets():
    # An entry does not hold an address: a relative CALL copied to another place (the
    # same index of the cache) reaches its own target.
    m, c = flat32()
    body = nasm("call $+0x20", bits=32)
    for at in (0x10000, 0x11000):
        m.mem.write(at, b"\x90" + body + b"\xf4" + b"\x90" * 0x40)
        m.mem.write(at + 1 + 0x20, b"\xf4")
        c.eip, c.esp = at, 0x90000
        c.halted = False
        m.run(1000)
        assert c.eip == at + 1 + 0x20 + 1            # after the HLT at the target
        assert m.mem.read32(0x90000 - 4) == at + 1 + len(body)


WORKOUT = """
    mov esi, 0x40000
    mov ecx, 200
    xor eax, eax
    xor edx, edx
again:
    add eax, [esi+ecx*4-4]
    adc edx, 0
    mov ebx, eax
    shl ebx, 3
    xor ebx, edx
    rol ebx, cl
    mov [esi+ecx*4+0x800], ebx
    movzx edi, bl
    movsx ebp, bh
    lea edi, [edi+ebp*2+7]
    cmp edi, 100
    setl bl
    jle .keep
    mov ebp, edi
.keep:
    push ebp
    call sub1
    pop ebp
    inc dword [esi+0x1000]
    dec ecx
    jnz again
    mov ax, 0x1234
    cwde
    cdq
    xchg eax, edx
    hlt
sub1:
    push ebp
    mov ebp, esp
    sub esp, 8
    mov [ebp-4], eax
    test dword [ebp+8], 1
    jz .even
    sar dword [ebp-4], 1
.even:
    mov eax, [ebp-4]
    leave
    ret
"""


@pytest.mark.parametrize("model,paging", [("80386", False), ("80486", True), ("pentium", True)])
def test_a_program_gives_the_same_state_and_clocks_either_way(model, paging):
    results = []
    for cached in (False, True):
        m, c = flat32(model=model, paging=paging)
        c.decoded_cache = cached
        code = nasm(WORKOUT, bits=32)
        m.mem.write(0x40000, bytes(range(256)) * 24)
        run_at(m, 0x10000, code)
        results.append((c.get_state(), hashlib.sha256(bytes(m.mem.read(0, 1 << 20))).digest(),
                        m.clock.now, c.icount))
    assert results[0] == results[1]
    assert results[0][3] > 200 * 20


def test_seabios_post_same_with_and_without_the_cache(tmp_path):
    """SeaBIOS POSTing with a floppy, 40 M cycles: the trace recorder's bytes (every
    instruction, register change and store), the final state of the machine, the cycle
    and the instruction count are the same with the cache off and on."""
    from core import snapshot
    from tests.test_boot import build, require_firmware
    require_firmware("seabios")
    runs = []
    for cached in (False, True):
        pc = build(tmp_path, "seabios", "floppy")      # the same paths: they are in the state
        m = pc.machine
        m.cpu.decoded_cache = cached
        pc.run(max_cycles=20_000_000)                 # untraced: dc_loop's own run loop
        chunks = []
        m.cpu.trace_start()
        pc.run(max_cycles=20_000_000, after_slice=lambda: chunks.append(m.cpu.trace_take()))
        m.cpu.trace_stop()
        chunks.append(m.cpu.trace_take())
        st = snapshot.capture(pc)
        runs.append((hashlib.sha256(b"".join(chunks)).hexdigest(), m.clock.now,
                     m.cpu.icount, st.decoded(), st.pages))
    assert runs[0] == runs[1]
    assert runs[0][2] > 3_000_000


def test_a_jump_to_another_page_runs_from_the_cache_there():
    # The fetch window is per page; dc_loop reopens it on the page a jump lands in when
    # the TLB already holds that page, instead of leaving the first instruction there to
    # the generic path.
    for paging in (False, True):
        m, c = flat32(paging=paging)
        code = nasm("""
            mov ecx, 3
        again:
            jmp 0x11000 - 0x10000 + $$
        back:
            loop again
            hlt""", bits=32)
        there = nasm("""
            add eax, 1
            jmp 0x10000 + 7 - 0x11000 + $$""", bits=32)
        m.mem.write(0x11000, there)
        run_at(m, 0x10000, code)
        assert c.eax == 3
        assert c.decoded_form(0x11000) == "alu_ri32"


# --- a conditional jump fused to the instruction before it (dc_fuse) ---------------------

FUSED_LOOP = """
    mov ecx, 300
    xor eax, eax
    xor ebx, ebx
again:
    add eax, ecx
    shr eax, 1
    jnc .even
    xor eax, 0xEDB88320
.even:
    cmp eax, 0x1000
    jb .small
    sub eax, 0x800
.small:
    test al, 4
    jz .z
    inc ebx
.z:
    dec ecx
    jnz again
    hlt
"""


def _stops_to_halt(m, budgets):
    """Run m to its HLT in runs of the given clock budgets; where each run ended: EIP,
    clock and instruction count."""
    ends = []
    for budget in budgets:
        reason = m.run(budget)
        ends.append((m.cpu.eip, m.clock.now, m.cpu.icount))
        if reason == "halt":
            return ends


def _budgeted_run(m, seed):
    """m run to its HLT in budgets drawn from seed: where each run ended, and the
    state and memory (first MiB) it ended with."""
    ends = _stops_to_halt(m, _random_budgets(seed))
    return ends, m.cpu.get_state(), hashlib.sha256(bytes(m.mem.read(0, 1 << 20))).digest()


def _random_budgets(seed):
    """Budgets of 1 to 13 clocks drawn at random (so that they do not fall into step
    with a loop), the same for a seed."""
    import random
    rng = random.Random(seed)
    while True:
        yield rng.randint(1, 13)


@pytest.mark.parametrize("model", ["80386", "pentium"])
def test_fused_pairs_stop_between_their_two_instructions_like_any_two(model):
    # Budgets of 1 to 13 clocks end runs anywhere, between the two instructions of a
    # fused pair too: every run must end at the same EIP, clock and instruction count
    # with the cache off and on, as if the pair were two entries.
    import itertools
    runs = []
    for cached in (False, True):
        m, c = flat32(model=model)
        c.decoded_cache = cached
        code = nasm(FUSED_LOOP, bits=32)
        m.mem.write(0x10000, code)
        c.eip = 0x10000
        ends = _stops_to_halt(m, itertools.cycle((1, 2, 3, 5, 7, 11, 13)))
        runs.append((ends, c.get_state()))
    assert runs[0] == runs[1]
    # Many of those runs ended between a pair: at a jump, its compare run.
    at_jump = [eip for eip, _, _ in runs[0][0] if 0x70 <= (code + b"\0")[eip - 0x10000] <= 0x7F]
    assert len(at_jump) > 100
    dec = 0x10000 + code.index(b"\x49\x75")                 # dec ecx; jnz again
    assert c.decoded_form(dec) == "incdec_r32+jcc"
    # A straight run to the end gives the same too, from fused entries.
    finals = []
    for cached in (False, True):
        m, c = flat32(model=model)
        c.decoded_cache = cached
        run_at(m, 0x10000, code)
        finals.append((c.get_state(), m.clock.now, c.icount))
    assert finals[0] == finals[1] == (runs[0][1], finals[0][1], finals[0][2])


def test_a_fused_jump_past_the_cs_limit_faults_at_the_jump():
    # The compare runs; the jump's target is past CS's limit, so the #GP names the
    # jump (the generic path raises it), with the compare's flags already set.
    for cached in (False, True):
        m, c = flat32(model="80386")
        c.decoded_cache = cached
        with_gdt(m, c, [descriptor(0, 0xFFFFF, CODE32 | 0x800000),
                        descriptor(0, 0xFFFFF, DATA32 | 0x800000),
                        descriptor(0, 0x10FFF, CODE32)])             # 18: limit 0x10FFF
        code = nasm("""
            jmp 0x18:0x10000 + next
        next:
            mov ecx, 3
        again:
            cmp ecx, 1
            je 0x10000 + 0x2000 - 0x10000 + $$     ; past the limit
            dec ecx
            jnz again
            hlt""", bits=32)
        run_at(m, 0x10000, code)
        je = 0x10000 + code.index(b"\x83\xf9\x01") + 3
        assert c.eip == 0x11001                                     # the #GP handler ran
        assert m.mem.read32(c.esp + 4) == je                        # EIP of the JE
        assert (c.ecx, c.eflags & 0x40) == (1, 0x40)                # CMP ran: ZF
        assert c.decoded_form(je - 3) == ("alu_ri32+jcc+incdec_r32+jcc" if cached else None)


def _real_mode_machine(model, cached):
    """A real-mode machine with CS at 1000h (base 10000h), SS:SP at 3000:FFFE."""
    m = Machine(model, 1 << 20)
    c = m.cpu
    c.decoded_cache = cached
    c.set_segment("cs", 0x1000, base=0x10000, limit=0xFFFF, access=0x9B00)
    c.ss, c.sp = 0x3000, 0xFFFE
    return m, c


def test_a_fused_jump_in_16_bit_code_wraps_ip_inside_the_segment():
    # Real mode: DEC CX at CS:FF80 and a JNZ whose target is 10000h: IP wraps to the
    # segment's start, as the unfused jump does (the 386 keeps a 64 KiB limit).
    results = []
    for cached in (False, True):
        m, c = _real_mode_machine("80386", cached)
        m.mem.write(0x10000, nasm("inc bx\njmp 0xFF80"))
        m.mem.write(0x1FF80, b"\x49\x75\x7d\xf4")           # dec cx; jnz 0000; hlt
        c.ip, c.cx, c.bx = 0xFF80, 4, 0
        assert m.run(1_000_000) == "halt"
        assert (c.bx, c.cx, c.ip) == (3, 0, 0xFF84)
        results.append((c.get_state(), m.clock.now, c.icount))
        assert c.decoded_form(0xFF80) == ("incdec+jcc" if cached else None)
    assert results[0] == results[1]


def test_rewriting_the_jump_of_a_fused_pair_runs_the_new_jump():
    # The pair's entry is tagged by both instructions' bytes: a store that turns the
    # JNZ into a JZ must be seen at the next lookup.
    for paging in (False, True):
        m, c = flat32(paging=paging)
        code = nasm("""
            mov ecx, 5
            xor ebx, ebx
        again:
            inc ebx
            cmp ebx, 3
            jne .same
            mov byte [0x10000 + patch], 0x74    ; JNZ -> JZ
        .same:
            dec ecx
        patch:
            jnz again
            hlt""", bits=32)
        run_at(m, 0x10000, code)
        # Iterations 1-3 loop while ECX != 0; at the third the jump becomes JZ, which
        # falls through with ECX = 2.
        assert (c.ebx, c.ecx) == (3, 2)


def test_shifts_by_an_immediate_same_as_the_bit_serial_shift():
    # shift_ri32 computes in one step what shift() does bit by bit: every count, the
    # values that set each flag, with CF and OF set and clear before.
    values = (0, 1, 0x80000000, 0x7FFFFFFF, 0xFFFFFFFF, 0xC0000001, 0x12345678, 0x40000000)
    seen = {}
    for cached in (False, True):
        m, c = flat32(model="80386")
        c.decoded_cache = cached
        out = []
        for mnemonic in ("shl", "shr", "sar", "sal"):
            for count in range(1, 32):
                code = nasm(f"{mnemonic} eax, {count}", bits=32)
                m.mem.write(0x10000, b"\x90" + code + b"\x90" * 16)
                for v in values:
                    for flags in (0x002, 0x8D7):
                        c.eip, c.eax, c.eflags = 0x10000, v, flags
                        m.step()                # the NOP opens the window
                        m.step()
                        out.append((c.eax, c.eflags, m.clock.now, c.icount))
                assert c.decoded_form(0x10001) == ("shift_ri32" if cached else None)
        seen[cached] = out
    assert seen[False] == seen[True]


# --- the trace recorder on the decoded path (DC_TRACE, stamps, fused pairs) --------------

TRACED = """
    mov ecx, 60
    xor eax, eax
again:
    add eax, ecx
    cmp eax, 1000
    jb .small
    sub eax, 700
.small:
    call 0x11000 - 0x10000 + $$
    cmp ecx, 40
    jne .not40
    mov dword [0x2000 + 0x11 * 4], 0x12000 | 3     ; linear 0x11000 -> physical 0x12000
    invlpg [0x11000]
.not40:
    cmp ecx, 20
    jne .not20
    mov dword [0x2000 + 0x11 * 4], 0x13000 | 3     ; -> physical 0x13000, by a CR3 load
    mov esi, cr3
    mov cr3, esi
    mov byte [0x10000 + patch + 2], 5              ; and a new immediate in this page
.not20:
patch:
    add edx, byte 1
    test dl, 3
    jz .skip
    push edx
    pop edi
.skip:
    dec ecx
    jnz again
    hlt
"""


def _recorded_to_halt(m, cycles=1_000_000):
    """m's run to its HLT, recorded: the entries, and the state, clock and instruction
    count it ended with."""
    c = m.cpu
    c.trace_start()
    assert m.run(cycles) == "halt"
    c.trace_stop()
    return c.trace_take(), c.get_state(), m.clock.now, c.icount


@pytest.mark.parametrize("model", ["80486", "pentium"])
def test_a_recording_is_the_same_with_and_without_the_cache(model, tmp_path):
    # The decoded path records each instruction (fused pairs as two) with the entries
    # the generic path writes, byte for byte, while the code it runs is remapped by
    # INVLPG and by a CR3 load and rewritten by a store; stamps (trace_stamp) must not
    # outlive any of these.
    from debugger.trace import TraceReader, make_header, write_trace
    runs = []
    for cached in (False, True):
        m, c = flat32(model=model, paging=True)
        c.decoded_cache = cached
        # The same bytes in three physical pages: only the recorder's PHYS entries
        # tell the remaps apart.
        for page in (0x11000, 0x12000, 0x13000):
            m.mem.write(page, nasm("inc ebx\nret", bits=32))
        code = nasm(TRACED, bits=32)
        m.mem.write(0x10000, code)
        c.eip = 0x10000
        runs.append(_recorded_to_halt(m))
    assert runs[0] == runs[1]
    assert c.ebx == 60
    # The recording says where the subroutine was fetched from each time.
    path = tmp_path / "remap.c86t"
    write_trace(path, make_header(model, m.clock.frequency), runs[1][0])
    where = [r.physical for r in TraceReader(path).records() if r.linear == 0x11000]
    assert where == [0x11000] * 21 + [0x12000] * 20 + [0x13000] * 19
    assert c.decoded_form(0x10000 + code.index(b"\x49\x75")) == "incdec_r32+jcc"


@pytest.mark.parametrize("model,paging", [("80386", False), ("pentium", True)])
def test_a_recorded_program_is_the_same_with_and_without_the_cache(model, paging):
    # Every decoded form in one program, recorded: the registers each form writes
    # (dc_writes) are the ones the generic path's full compare finds changed.
    runs = []
    for cached in (False, True):
        m, c = flat32(model=model, paging=paging)
        c.decoded_cache = cached
        m.mem.write(0x40000, bytes(range(256)) * 24)
        m.mem.write(0x10000, nasm(WORKOUT, bits=32))
        c.eip = 0x10000
        runs.append(_recorded_to_halt(m))
    assert runs[0] == runs[1]
    assert runs[0][3] > 200 * 20


# --- the decoded path under the debugger's points (DC_DEBUG) -----------------------------

DEBUGGED = """
    mov ecx, 40
    xor eax, eax
again:
    add eax, ecx
    mov [0x50000 + ecx*4], eax      ; watched at ECX = 17
    call 0x11000 - 0x10000 + $$     ; a subroutine on another page (a breakpoint there)
    cmp eax, 500
    jb .small
    sub eax, 300
.small:
    dec ecx
    jnz again
    hlt
"""


def _debug_session(cached, tracing, tmp_path):
    """Stops of a debugger session (breakpoints on the loop's page and another, a write
    watchpoint, a breakpoint on a page never run) with the cache off or on."""
    from debugger.controller import Debugger
    m, c = flat32(model="pentium", paging=True)
    c.decoded_cache = cached
    code = nasm(DEBUGGED, bits=32)
    m.mem.write(0x10000, code)
    m.mem.write(0x11000, nasm("inc ebx\nret", bits=32))
    c.eip = 0x10000
    d = Debugger(m)
    cmp_at = 0x10000 + code.index(b"\x3d\xf4\x01\x00\x00")     # cmp eax, 500
    d.break_at("lin", 0x00300000)                               # never reached
    bp = d.break_at("lin", cmp_at)
    d.watch("lin", 0x50000 + 17 * 4, 4, "w")
    if tracing:
        d.trace_start(str(tmp_path / ("t%d.c86t" % cached)))
    stops = []
    for n in range(60):
        ev = d.cont(max_cycles=1_000_000)
        stops.append((ev.reason, ev.eip, ev.cycle, ev.icount, c.eax, c.ebx, c.ecx))
        if ev.reason == "halt":
            break
        if n == 5:
            d.delete(bp.id)                                     # run on to the watchpoint
            d.break_at("lin", 0x11000)                          # and the subroutine
    data = None
    if tracing:
        from debugger.trace import TraceReader, record_to_dict
        d.trace_stop()
        data = [record_to_dict(r) for r in TraceReader(tmp_path / ("t%d.c86t" % cached)).records()]
    return stops, data, c.get_state(), m.clock.now


@pytest.mark.parametrize("tracing", [False, True])
def test_breakpoints_and_watchpoints_stop_alike_on_the_decoded_path(tracing, tmp_path):
    # With points armed the decoded path runs on (checking each instruction's page in
    # the breakpoint bitmap, and watch hits after it); every stop must be the generic
    # path's: before the breakpoint's instruction, after the watched store, at the same
    # cycle and instruction count, and a recording made meanwhile the same bytes.
    off = _debug_session(False, tracing, tmp_path)
    on = _debug_session(True, tracing, tmp_path)
    assert on[0] == off[0]
    assert on[2:] == off[2:]
    if tracing:
        assert on[1] == off[1] and len(on[1]) > 300           # every record alike
    reasons = [s[0] for s in on[0]]
    assert reasons[:6] == ["breakpoint"] * 6
    assert "watchpoint" in reasons and reasons[-1] == "halt"
    watch = on[0][reasons.index("watchpoint")]
    assert watch[6] == 17 and watch[1] == 0x10000 + nasm(DEBUGGED, bits=32).index(b"\xe8")


# --- register-only instructions fused after an entry's first (DInsn.ops) ----------------

OPS_LOOP = """
    mov esi, 0x40000
    mov ecx, 200
    xor eax, eax
    xor edx, edx
again:
    mov ebx, [esi+ecx*4]            ; a load, then four register-only instructions
    add eax, ebx
    mov edi, eax
    shr edi, 3
    cmp edi, 0x4000
    jb .small
    mov [esi+ecx*4+0x800], edi      ; a store, then one more (the next does not fit)
    sub eax, 0x3000
    mov edx, 0x55
    xor edx, ecx
    jnz .small                      ; never taken: on to the next two
.small:
    inc edx
    and edx, 0xFFF
    test ecx, 3
    jz .skip                        ; taken one time in four: the rest not run
    add edx, eax
.skip:
    lea ebp, [eax+ecx*2+7]
    xor edx, ebp
    dec ecx
    jnz again
    hlt
"""


def _loop_machine(source, data, model, cached, paging=False):
    """A flat 32-bit machine with `source` assembled at 0x10000 (EIP there) and `data`
    at 0x40000."""
    m, c = flat32(model=model, paging=paging)
    c.decoded_cache = cached
    code = nasm(source, bits=32)
    m.mem.write(0x40000, data)
    m.mem.write(0x10000, code)
    c.eip = 0x10000
    return m, c, code


def _ops_machine(model, cached, paging=False):
    return _loop_machine(OPS_LOOP, bytes(range(256)) * 24, model, cached, paging)


@pytest.mark.parametrize("model", ["80386", "pentium"])
def test_fused_ops_stop_between_any_two_of_their_instructions(model):
    # Budgets of 1 to 13 clocks (drawn at random, so that they do not fall into step
    # with the loop) end runs anywhere, inside a group of fused instructions too: every
    # run ends at the same EIP, clock and count with the cache off and on.
    runs = []
    for cached in (False, True):
        m, c, code = _ops_machine(model, cached)
        runs.append(_budgeted_run(m, 86))
    assert runs[0] == runs[1]
    group = 0x10000 + code.index(b"\x8b\x1c\x8e")              # mov ebx, [esi+ecx*4]
    inside = {group + 3, group + 5, group + 7, group + 10}      # the four fused after it
    assert sum(1 for eip, _, _ in runs[0][0] if eip in inside) > 100
    assert c.decoded_form(group) == "mov_r_rm+alu_rr32+mov_rm_r+shift_ri32+alu_ri32"
    small = 0x10000 + code.index(b"\x42\x81\xe2")               # inc edx; and edx, ...
    assert c.decoded_form(small) == "incdec_r32+alu_ri32+alu_ri32+jcc"
    store = 0x10000 + code.index(b"\x89\xbc\x8e")
    assert c.decoded_form(store) == "mov_rm_r+alu_ri32"
    assert c.decoded_form(store + 12) == "mov_rm_imm+alu_rr32+jcc+incdec_r32+alu_ri32"
    add = 0x10000 + code.index(b"\x01\xc2\x8d")                # add edx, eax; lea ...
    assert c.decoded_form(add) == "alu_rr32+lea+alu_rr32+incdec_r32+jcc"
    assert c.decoded_form(add + 2) == "lea+alu_rr32+incdec_r32+jcc"


@pytest.mark.parametrize("model,paging", [("80386", False), ("pentium", True)])
def test_fused_ops_are_recorded_as_the_generic_path_records_them(model, paging):
    # Each fused instruction is recorded as an instruction of its own: the same bytes
    # as the generic path's recording, stamps and all (the loop runs 200 times).
    runs = []
    for cached in (False, True):
        m, c, code = _ops_machine(model, cached, paging)
        runs.append(_recorded_to_halt(m))
    assert runs[0] == runs[1]
    assert runs[0][3] > 200 * 14


def test_a_store_into_the_instructions_fused_after_it_is_seen():
    # The first instruction of an entry writes the immediate of the ADD fused after it,
    # then the condition of the jump fused after that: both are run as written.
    results = []
    for cached in (False, True):
        m, c = flat32()
        c.decoded_cache = cached
        code = nasm("""
            mov ecx, 5
            xor ebx, ebx
        again:
            mov [0x10000 + patch + 2], cl     ; the ADD's immediate
        patch:
            add ebx, byte 0
            inc edx
            dec ecx
            jnz again
            mov ecx, 5
            mov al, 0x75
        again2:
            cmp ecx, 2
            jne .w
            mov al, 0x74                      ; JNZ -> JZ at ECX = 2
        .w:
            mov [0x10000 + patch2], al        ; the jump's opcode
            dec ecx
        patch2:
            jnz again2
            hlt""", bits=32)
        run_at(m, 0x10000, code)
        assert (c.ebx, c.ecx) == (5 + 4 + 3 + 2 + 1, 1)
        results.append((c.get_state(), m.clock.now, c.icount))
    assert results[0] == results[1]
    # After each store the run went on from the ADD's own entry, decoded from the new
    # bytes (the store's entry was tagged by the old ones).
    assert c.decoded_form(0x10000 + code.index(b"\x83\xc3")) == \
        "alu_ri32+incdec_r32+incdec_r32+jcc+mov_rm_imm"


def _ops_debug_session(cached, points):
    from debugger.controller import Debugger
    m, c, code = _ops_machine("pentium", cached)
    d = Debugger(m)
    group = 0x10000 + code.index(b"\x8b\x1c\x8e")          # mov ebx, [esi+ecx*4]
    points(d, group)
    run = []
    for _ in range(12):
        ev = d.cont(max_cycles=1_000_000)
        run.append((ev.reason, ev.eip - group, ev.cycle, ev.icount, c.eax, c.ebx, c.ecx, c.edi))
        if ev.reason == "halt":
            break
    return run, c.get_state()


def test_a_breakpoint_inside_a_fused_group_stops_before_its_instruction():
    def points(d, group):
        d.break_at("lin", group + 5)                           # mov edi, eax
    off, on = _ops_debug_session(False, points), _ops_debug_session(True, points)
    assert on == off
    assert [s[:2] for s in on[0]] == [("breakpoint", 5)] * 12


def test_breakpoints_elsewhere_run_the_groups_after_loads_and_stores_alike():
    # With only breakpoints armed (none on the loop's page) no access can stop the run,
    # so the instructions fused after a load or a store run from their entry: to the
    # end the same as on the generic path.
    def points(d, group):
        d.break_at("lin", 0x00300000)
    off, on = _ops_debug_session(False, points), _ops_debug_session(True, points)
    assert on == off
    assert [s[0] for s in on[0]] == ["halt"]


def test_a_watched_load_stops_before_the_instructions_fused_after_it():
    # The loop's page has no breakpoint (one is armed elsewhere), so the decoded path
    # runs it; the read watchpoint on the group's load stops right after the load.
    def points(d, group):
        d.break_at("lin", 0x00300000)
        d.watch("lin", 0x40000 + 195 * 4, 4, "r")
    off, on = _ops_debug_session(False, points), _ops_debug_session(True, points)
    assert on == off
    assert [s[:2] for s in on[0]] == [("watchpoint", 3), ("halt", on[0][1][1])]
    assert on[0][0][6] == 195


def test_an_accessed_bit_written_into_the_fused_bytes_by_a_load_is_seen():
    # A load is no store, but its page walk writes the accessed bit of its PTE; here
    # the code page is also the page table of 4-8 MiB, and the ADD fused after the
    # load has that PTE as its immediate: it must add the PTE as the walk left it.
    from tests.test_cpu_tlb import PD, PTE_PRW
    results = []
    for cached in (False, True):
        m, c = flat32(paging=True)
        c.decoded_cache = cached
        m.mem.write32(PD + 4, 0x10000 | PTE_PRW)             # PDE 1: the code page
        code = nasm("""
            xor ebx, ebx
            nop
            nop
            nop
            mov eax, [0x403000]            ; PTE 3 of that table: the ADD's immediate
            add ebx, 0x00050003            ; (at 0x1000C) frame 0x50000, present, RW
            hlt""", bits=32)
        assert code.index(b"\x81\xc3") == 0x0A
        m.mem.write32(0x50000, 0x1234)
        run_at(m, 0x10000, code)
        assert (c.eax, c.ebx) == (0x1234, 0x00050023)             # accessed bit set
        results.append((c.get_state(), m.clock.now, c.icount))
    assert results[0] == results[1]


# --- the registers each decoded form writes (dc_writes), over random programs -----------

def _straight_line_programs():
    """Random straight-line bodies of the forms the cache decodes and fuses, with every
    operand size and the high byte registers, in a loop run twice: on the second pass
    the recorder knows every instruction's bytes, so it compares only the registers the
    entry says the form can write (DInsn.twr, DOp.twr: its GPRs, and EFLAGS when the form can
    write them)."""
    from hypothesis import strategies as st
    return st.lists(_lines(), min_size=1, max_size=14)


def _lines():
    """One line of those programs (an instruction, or PUSH and POP)."""
    from hypothesis import strategies as st
    r32 = st.sampled_from(("eax", "ebx", "ecx", "edx", "edi", "ebp"))   # not ESI, ESP
    r16 = st.sampled_from(("ax", "bx", "cx", "dx", "di", "bp"))
    r8 = st.sampled_from(("al", "bl", "cl", "dl", "ah", "bh", "ch", "dh"))
    alu = st.sampled_from(("add", "or", "adc", "sbb", "and", "sub", "xor", "cmp", "test"))
    shift = st.sampled_from(("shl", "shr", "sar", "rol", "ror"))
    cc = st.sampled_from(("z", "nz", "c", "nc", "l", "ge", "be", "a", "s", "o", "p"))
    imm = st.integers(0, 0xFFFFFFFF)
    disp = st.integers(0, 0x3F).map(lambda d: d * 4)
    mem = disp.map(lambda d: "[esi+%d]" % d)
    line = st.one_of(
        st.builds("{} {}, {}".format, alu, r32, r32),
        st.builds("{} {}, {}".format, alu, r32, imm),
        st.builds("{} {}, {}".format, alu, r16, r16),
        st.builds("{} {}, {}".format, alu, r8, r8),
        st.builds("{} {}, {}".format, alu, r16, st.integers(0, 0xFFFF)),
        st.builds("{} {}, {}".format, alu, r8, st.integers(0, 0xFF)),
        st.builds("{} {}, {}".format, alu, r32, mem),
        st.builds("{} {}, {}".format, alu, mem, r32),
        st.builds("{} byte {}, {}".format, alu, mem, st.integers(0, 255)),
        st.builds("mov {}, {}".format, r32, r32),
        st.builds("mov {}, {}".format, r32, imm),
        st.builds("mov {}, {}".format, r8, st.integers(0, 255)),
        st.builds("mov {}, {}".format, r16, st.integers(0, 0xFFFF)),
        st.builds("mov {}, {}".format, r16, r16),
        st.builds("mov {}, {}".format, r8, r8),
        st.builds("mov {}, word {}".format, r16, mem),
        st.builds("mov {}, {}".format, mem, r8),
        st.builds("lea {}, [{}+{}*{}+{}]".format, r32, r32, r32, st.sampled_from((1, 2, 4, 8)),
                  st.integers(-128, 1000)),
        st.builds("{} {}".format, st.sampled_from(("inc", "dec")), st.one_of(r32, r16, r8)),
        st.builds("{} dword {}".format, st.sampled_from(("inc", "dec")), mem),
        st.builds("{} {}, {}".format, shift, r32, st.integers(1, 31)),
        st.builds("{} {}, 1".format, shift, r8),
        st.builds("{} {}, cl".format, shift, st.one_of(r32, r16)),
        st.builds("movzx {}, {}".format, r32, r8),
        st.builds("movsx {}, word {}".format, r32, mem),
        st.builds("set{} {}".format, cc, r8),
        st.builds("xchg eax, {}".format, r32),
        st.sampled_from(("cbw", "cwde", "cdq", "nop")),
        st.builds("imul {}, {}, {}".format, r32, r32, st.integers(-1000, 1000)),
        st.builds("imul {}, {}".format, r32, mem),
        st.builds("push {}\n    pop {}".format, r32, r32),
    )
    return line


def _run_loop_body(body, passes):
    """The body in a loop run `passes` times, recorded with the cache off and on (and
    the CPU of the second run)."""
    source = ("    mov esi, 0x40000\n    mov dword [0x7000], %d\nagain:\n    " % passes
              + "\n    ".join(body) + "\n    dec dword [0x7000]\n    jnz again\n    hlt\n")
    code = nasm(source, bits=32)
    runs = []
    for cached in (False, True):
        m, c = flat32(model="pentium")
        c.decoded_cache = cached
        m.mem.write(0x40000, bytes((7 * i + 3) & 0xFF for i in range(256)))
        m.mem.write(0x10000, code)
        c.eip = 0x10000
        runs.append(_recorded_to_halt(m, 100_000))
    return source, runs, c


def test_random_programs_with_jumps_over_their_lines_record_alike():
    # Conditional jumps over one line of the body, taken or not by the flags the line
    # before left: inside an entry they run on from the fused target's slot, or leave
    # it; the recording, state and clocks are the generic path's.
    from hypothesis import given as given_, strategies as st
    cc = st.sampled_from(("z", "nz", "c", "nc", "s", "ns", "o", "no", "p", "l", "g", "be"))
    item = st.one_of(_lines(), st.tuples(cc, _lines()))

    @S.examples(40)
    @given_(st.lists(item, min_size=1, max_size=10))
    def prop(items):
        body = [("j%s .s%d\n    %s\n.s%d:" % (x[0], i, x[1], i)) if isinstance(x, tuple) else x
                for i, x in enumerate(items)]
        source, runs, _ = _run_loop_body(body, 3)
        assert runs[0] == runs[1], source
    prop()


def test_random_programs_record_alike_with_and_without_the_cache():
    from hypothesis import given as given_
    decoded = 0

    @S.examples(60)
    @given_(_straight_line_programs())
    def prop(body):
        nonlocal decoded
        source, runs, c = _run_loop_body(body, 2)
        assert runs[0] == runs[1], source
        if c.decoded_form(0x10000 + 5 + 10) not in (None, "generic"):
            decoded += 1
    prop()
    assert decoded >= 30, f"only {decoded} of the programs started from a decoded entry"


REAL_MODE_OPS = """
    mov cx, 300
    xor ax, ax
    xor bx, bx
    xor si, si
again:
    mov dx, [si]                    ; a load, then 16- and 8-bit register instructions
    add ax, dx
    mov di, ax
    inc bl
    cmp di, 0x4000
    jb .small
    sub ax, 0x3000
    xor bh, al
.small:
    add si, 2
    and si, 0x3FF
    dec cx
    jnz again
    hlt
"""


@pytest.mark.parametrize("model", ["8086", "80386"])
def test_fused_16_and_8_bit_register_instructions_in_real_mode(model):
    # Real-mode code fuses its register instructions too (through get_reg/set_reg):
    # budgets drawn at random end runs inside the groups, every stop the same with
    # the cache off and on.
    runs = []
    for cached in (False, True):
        m, c = _real_mode_machine(model, cached)
        c.set_segment("ds", 0x2000, base=0x20000, limit=0xFFFF, access=0x9300)
        code = nasm(REAL_MODE_OPS)
        m.mem.write(0x10000, code)
        m.mem.write(0x20000, bytes((5 * i + 1) & 0xFF for i in range(0x400)))
        c.ip = 0
        ends = _stops_to_halt(m, _random_budgets(16))            # (EIP: IP in real mode)
        runs.append((ends, c.get_state()))
    assert runs[0] == runs[1]
    group = code.index(b"\x8b\x14")                            # mov dx, [si]
    assert sum(1 for ip, _, _ in runs[0][0] if group < ip < group + 10) > 100
    assert c.decoded_form(group) == "mov_r_rm+alu_rr16+mov_rm_r16+incdec_r8+alu_ri16"


# --- fused instructions that can fault: loads, stores, PUSH and POP (DMem) ---------------

MEM_OPS = """
    mov esi, 0x40000
    mov ecx, 300
    xor eax, eax
    xor edx, edx
again:
    mov ebx, ecx                    ; a register instruction, then loads and stores
    and ebx, 63
    mov edi, [esi+ebx*4]
    add eax, edi
    mov [esi+ebx*4+0x400], eax
    xor edx, [esi+ebx*2+0x100]
    cmp byte [esi+ebx+0x20], 0x80
    jb .low
    add dword [esi+0x800], 3        ; a read-modify-write
    push edx
    movzx ebp, byte [esi+ebx+0x41]
    pop edi
    test dword [esi+ebx*4], 0x10
    jz .low
    sub [esi+0x804], ebp
    inc word [esi+0x808]
.low:
    mov ebp, ecx
    shr ebp, 2
    mov [esi+ebp+0x900], dl
    add edx, [esi+ebp*4]
    dec ecx
    jnz again
    hlt
"""


def _mem_ops_machine(model, cached, paging=False):
    return _loop_machine(MEM_OPS, bytes((7 * i + 3) & 0xFF for i in range(0x1000)), model, cached, paging)


@pytest.mark.parametrize("model", ["80386", "pentium"])
def test_fused_loads_and_stores_stop_between_any_two_of_their_instructions(model):
    # Loads, stores, read-modify-writes, PUSH and POP fused after an entry's first run
    # as their own entries would: budgets drawn at random end runs before and after
    # each, with the same EIP, clock, count, registers and memory either way.
    runs = []
    for cached in (False, True):
        m, c, code = _mem_ops_machine(model, cached)
        runs.append(_budgeted_run(m, 87))
    assert runs[0] == runs[1]
    at = lambda b: 0x10000 + code.index(b)
    group = at(b"\x89\xcb\x83\xe3")                            # mov ebx, ecx; and ebx, 63
    assert c.decoded_form(group) == "mov_rm_r+alu_ri32+mem:mov_r_rm+alu_rr32"
    assert c.decoded_form(at(b"\x52\x0f\xb6")) == "push_rm+mem:movx+mem:pop_r"
    assert c.decoded_form(at(b"\x89\xcd\xc1")) == "mov_rm_r+shift_ri32+mem:mov_rm_r"
    fused = {group + 5, group + 8, at(b"\x0f\xb6"), at(b"\x0f\xb6") + 5, at(b"\x89\xcd\xc1") + 5}
    assert sum(1 for eip, _, _ in runs[0][0] if eip in fused) > 100


@pytest.mark.parametrize("model,paging", [("80386", False), ("pentium", True)])
def test_fused_loads_and_stores_are_recorded_as_the_generic_path_records_them(model, paging):
    runs = []
    for cached in (False, True):
        m, c, code = _mem_ops_machine(model, cached, paging)
        runs.append(_recorded_to_halt(m))
    assert runs[0] == runs[1]
    assert runs[0][3] > 300 * 17


PF_LOOP = """
    mov ecx, 120
    xor eax, eax
    xor edx, edx
again:
    test cl, 3
    jnz .mapped
    and dword [0x2140], ~1          ; PTE of 0x50000: not present from here
    invlpg [0x50000]
.mapped:
    mov ebx, ecx                    ; then a fused load, store or read-modify-write
    and ebx, 15                     ; of that page faults, its handler maps the page,
    mov edi, [0x50000+ebx*4]        ; and the instruction runs again from its start
    add eax, edi
    test cl, 4
    jz .next
    mov ebx, ecx
    mov [0x50400+ebx*4], eax
    inc edx
    add dword [0x50800], 5
.next:
    and dword [0x2140], ~1
    invlpg [0x50000]
    add dword [0x50800], 5          ; the first of its entry
    mov ebp, ecx
    and dword [0x2140], ~1
    invlpg [0x50000]
    mov ebp, ecx
    cmp dword [0x50804], 7          ; fused: its immediate is fetched after the read
    dec ecx
    jnz again
    hlt
handler:                            ; #PF: map the page again, count the fault
    or dword [0x2140], 1
    inc dword [0x7000]
    add esp, 4
    iretd
"""


def _pf_machine(model, cached):
    from tests.test_cpu_tlb import PT
    m, c = flat32(model=model, paging=True)
    c.decoded_cache = cached
    with_gdt(m, c, [descriptor(0, 0xFFFFF, CODE32 | 0x800000), descriptor(0, 0xFFFFF, DATA32 | 0x800000)])
    code = nasm(PF_LOOP, bits=32)
    m.mem.write(0x10000, code)
    handler = 0x10000 + code.index(b"\x83\x0d\x40\x21")
    interrupt_gate(m, 14, handler)                  # #PF
    m.mem.write(0x50000, bytes((5 * i + 1) & 0xFF for i in range(0x1000)))
    assert m.mem.read32(PT + 0x50 * 4) & 1
    c.eip = 0x10000
    return m, c, code


@pytest.mark.parametrize("model", ["80486", "pentium"])
def test_a_page_fault_in_a_fused_load_or_store_restarts_it_alike(model):
    # The fault leaves the state the generic path leaves (EIP at the fused instruction,
    # the ones before it done, its own work undone, its clocks and count charged as a
    # faulting instruction's), run whole, in budgets drawn at random, and recorded: the
    # recording of an instruction that faults at its memory operand's read holds the
    # bytes fetched by then, which for ALU with an immediate are all but the immediate
    # (the generic path fetches it after the read).
    runs = []
    for cached in (False, True):
        m, c, code = _pf_machine(model, cached)
        runs.append(_budgeted_run(m, 14))
        m, c, code = _pf_machine(model, cached)
        runs.append(_recorded_to_halt(m))
    assert runs[0] == runs[2] and runs[1] == runs[3]
    assert m.mem.read32(0x7000) == 120 // 4 + 2 * 120          # the faults taken
    load = 0x10000 + code.index(b"\x89\xcb\x83\xe3\x0f")
    assert c.decoded_form(load) == "mov_rm_r+alu_ri32+mem:mov_r_rm+alu_rr32"
    assert c.decoded_form(0x10000 + code.index(b"\x89\xcd\x83\x3d")) == "mov_rm_r+mem:alu_rm_imm+incdec_r32+jcc"


def test_a_fused_store_into_the_instructions_after_it_is_seen():
    # The store is fused after the entry's first instruction and writes the immediate
    # of the MOV fused after it (a new value every other time round): the MOV runs
    # as written each time.
    results = []
    for cached in (False, True):
        m, c = flat32()
        c.decoded_cache = cached
        code = nasm("""
            mov ecx, 7
            xor eax, eax
        again:
            lea ebx, [ecx+1]
            shr ebx, 1
            mov [0x10000 + patch + 1], bl
        patch:
            mov edx, 0
            add eax, edx
            dec ecx
            jnz again
            hlt""", bits=32)
        run_at(m, 0x10000, code)
        assert c.eax == 4 + 3 + 3 + 2 + 2 + 1 + 1
        results.append((c.get_state(), m.clock.now, c.icount))
    assert results[0] == results[1]
    # (the last two stores wrote what was there: the entry holds the bytes as they are)
    assert c.decoded_form(0x10000 + code.index(b"\x8d\x59\x01")) == "lea+shift_ri32+mem:mov_rm_r+mov_rm_imm"


def test_a_watched_fused_load_stops_right_after_it():
    # With a watchpoint armed, the decoded path stops before a fused instruction that
    # touches memory and leaves it to the checked path: the stop comes right after the
    # watched access, as without the cache.
    from debugger.controller import Debugger

    def session(cached):
        m, c, code = _mem_ops_machine("pentium", cached)
        d = Debugger(m)
        d.break_at("lin", 0x00300000)
        d.watch("lin", 0x40000 + 0x100 + 2 * 37, 1, "r")     # xor edx, [esi+ebx*2+0x100]
        run = []
        for _ in range(8):
            ev = d.cont(max_cycles=1_000_000)
            run.append((ev.reason, ev.eip, ev.cycle, ev.icount, c.edx, c.ebx))
            if ev.reason == "halt":
                break
        return run, c.get_state()
    off, on = session(False), session(True)
    assert on == off
    assert on[0][0][0] == "watchpoint" and on[0][0][5] == 37


def test_a_fault_on_an_instruction_fetch_costs_the_same_whichever_path_ran_before():
    # A #PF on the fetch of an instruction's first byte has no form of its own to
    # charge.  It used to be charged the timing index left by the last instruction the
    # generic path ran, which the decoded path does not set: the charge depended on the
    # path (the MUL's clocks with the cache on, the CALL's without), and a Linux boot
    # took other cycles from the first demand-paged code fetch on.
    results = []
    for cached in (False, True):
        m, c = flat32(paging=True)
        c.decoded_cache = cached
        with_gdt(m, c, [descriptor(0, 0xFFFFF, CODE32 | 0x800000), descriptor(0, 0xFFFFF, DATA32 | 0x800000)])
        code = nasm("""
            mov ecx, 3
        again:
            and dword [0x2180], ~1          ; PTE of 0x60000: not present
            invlpg [0x60000]
            mul ecx                         ; the generic path
            add eax, 1
            mov edx, 0x60000
            call edx                        ; #PF fetching there; the handler maps it
            dec ecx
            jnz again
            hlt
        handler:
            or dword [0x2180], 1
            inc dword [0x7000]
            add esp, 4
            iretd""", bits=32)
        m.mem.write(0x10000, code)
        m.mem.write8(0x60000, 0xC3)                                 # ret
        handler = 0x10000 + code.index(b"\x83\x0d\x80\x21")
        interrupt_gate(m, 14, handler)              # #PF
        run_at(m, 0x10000, b"")
        assert m.mem.read32(0x7000) == 3
        results.append((c.get_state(), m.clock.now, c.icount))
    assert results[0] == results[1]


JUMPS_IN_ENTRY = """
    mov ecx, 400
    xor eax, eax
    mov edx, 3
again:
    mov ebx, ecx
    shr ebx, 1
    jnc .even                       ; taken: to the ADD fused in the same entry
    xor eax, 0x1234
.even:
    add eax, edx
    mov ebx, ecx
    and ebx, 3
    inc ebx
.inner:
    add edx, ebx                    ; a loop inside one entry: JNZ back to the ADD
    dec ebx
    jnz .inner
    dec ecx
    jnz again
    mov ecx, 300
tight:
    shr eax, 1                      ; the first of its entry
    jnc .nc                         ; forward inside the entry
    xor eax, 0xEDB88320
.nc:
    dec ecx
    jnz tight                       ; back to the entry's first: no lookup
    mov ecx, 6
    mov ebx, 0
self:
    mov [0x10000 + patch + 1], cl   ; the first stores into the MOV fused after it
patch:
    mov edx, 0
    add ebx, edx
    dec ecx
    jnz self
    mov ecx, 6
self2:
    mov [0x10000 + patch2 + 1], ch  ; the same, storing what is there (0)
patch2:
    mov edx, 0
    add ebx, edx
    dec ecx
    jnz self2
    hlt
"""


@pytest.mark.parametrize("model", ["80386", "pentium"])
def test_a_jump_taken_to_an_instruction_fused_in_the_same_entry_runs_on_in_it(model):
    # A fused conditional jump whose target is another instruction of its entry runs on
    # from that instruction's slot (the skipped XOR; the inner loop's body), or from the
    # entry's first instruction without a lookup (a loop of one entry; one whose first
    # instruction rewrites the immediate fused after it): stops under random budgets,
    # the state, and the recording are those of the generic path.
    runs = []
    for cached in (False, True):
        m, c = flat32(model=model)
        c.decoded_cache = cached
        code = nasm(JUMPS_IN_ENTRY, bits=32)
        m.mem.write(0x10000, code)
        c.eip = 0x10000
        runs.append(_budgeted_run(m, 31))
        c.eip = 0x10000
        c.halted = False
        runs.append(_recorded_to_halt(m))
    assert runs[0] == runs[2] and runs[1] == runs[3]
    at = lambda b: 0x10000 + code.index(b)
    group = at(b"\x89\xcb\xd1\xeb")                            # mov ebx, ecx; shr ebx, 1
    assert c.decoded_form(group) == "mov_rm_r+shift_ri32+jcc+alu_ri32+alu_rr32"
    inner = at(b"\x43\x01\xda")                                # inc ebx; add edx, ebx
    assert c.decoded_form(inner) == "incdec_r32+alu_rr32+incdec_r32+jcc+incdec_r32"
    targets = {at(b"\x01\xd0\x89"), inner + 1}                 # the ADD after the XOR; .inner
    assert sum(1 for eip, _, _ in runs[0][0] if eip in targets) > 50
    assert c.decoded_form(at(b"\xd1\xe8\x73")) == "shift_ri32+jcc+alu_ri32+incdec_r32+jcc"
    assert c.ebx == 6 + 5 + 4 + 3 + 2 + 1
    assert c.decoded_form(at(b"\x88\x2d")) == "mov_rm_r+mov_rm_imm+alu_rr32+incdec_r32+jcc"


def test_a_fused_jump_to_the_byte_before_its_entry_leaves_the_entry():
    # The JNZ's target is one byte before the entry's first instruction (the INC the
    # loop enters past): no instruction of the entry starts there, not even the second
    # slot of the load fused before it, so the jump leaves the entry for a lookup.
    results = []
    for cached in (False, True):
        m, c = flat32()
        c.decoded_cache = cached
        code = nasm("""
            mov ecx, 5
            mov ebx, 0x20000
            xor edx, edx
            xor esi, esi
            xor eax, eax
            jmp body
        again:
            inc esi
        body:
            add edx, eax
            mov eax, [ebx]
            dec ecx
            jnz again
            hlt""", bits=32)
        m.mem.write32(0x20000, 7)
        run_at(m, 0x10000, code)
        assert (c.esi, c.edx, c.ecx) == (4, 4 * 7, 0)
        body = 0x10000 + code.index(b"\x01\xc2\x8b\x03")
        assert c.decoded_form(body) == ("alu_rr32+mem:mov_r_rm+incdec_r32+jcc" if cached else None)
        results.append((c.get_state(), m.clock.now, c.icount))
    assert results[0] == results[1]


def _recorded_in_budgets(m, seed):
    """m's run to its HLT in budgets drawn from seed, recorded: the entries, and the
    state, clock and count it ended with."""
    c = m.cpu
    c.trace_start()
    _stops_to_halt(m, _random_budgets(seed))
    c.trace_stop()
    return c.trace_take(), c.get_state(), m.clock.now, c.icount


@pytest.mark.parametrize("source,data", [(OPS_LOOP, bytes(range(256)) * 24), (JUMPS_IN_ENTRY, b"")])
def test_fused_runs_recorded_in_any_budgets_are_the_generic_paths_recording(source, data):
    # The recorder's run through fused instructions (dc_trace_run) stops where the
    # clock does, between any two of them, after a jump taken inside its entry or back
    # to its first: the recording is the generic path's, byte for byte.
    runs = []
    for cached in (False, True):
        m, c, code = _loop_machine(source, data, "pentium", cached)
        runs.append(_recorded_in_budgets(m, 57))
    assert runs[0] == runs[1]


STORE_THEN_REGS = """
    mov ecx, 300
    mov ebx, 0x40000
    xor edx, edx
again:
    dec ecx                 ; first
    mov [ebx], ecx          ; a fused store, then register-only ones
    jnz again               ; taken back to the first but at the end, so that
    add edx, ecx            ; this one runs for the first time after 299 rounds
    mov ecx, 200
again2:
    add edx, ecx            ; first (register-only: the run goes on through it)
    mov [ebx+4], edx        ; a fused store
    dec ecx                 ; recorded by the run again, after the store
    jnz again2
    hlt
"""


def test_fused_instructions_after_a_fused_store_are_recorded_as_the_generic_path_records_them():
    # After a fused load or store the general path recorded, the recorder's run goes on
    # through the register-only instructions after it, when their stamps say the reader
    # holds their bytes: one never run before (the ADD after the first loop) is recorded
    # with its bytes.  In any budgets, the recording is the generic path's, byte for
    # byte, and reads back.
    from debugger.trace import TraceReader
    runs = []
    for cached in (False, True):
        m, c, code = _loop_machine(STORE_THEN_REGS, b"", "pentium", cached)
        for seed in (None, 11):
            if seed is not None:
                m, c, code = _loop_machine(STORE_THEN_REGS, b"", "pentium", cached)
            runs.append(_recorded_to_halt(m) if seed is None else _recorded_in_budgets(m, seed))
        assert c.edx == 200 * 201 // 2
        if cached:
            assert c.decoded_form(0x10000 + code.index(b"\x49\x89\x0b")) == \
                "incdec_r32+mem:mov_rm_r+jcc+alu_rr32"
    assert runs[0] == runs[2] and runs[1] == runs[3]
    records = list(TraceReader.from_stream(runs[2][0]).records())
    assert len(records) == runs[2][3] and records[-1].bytes == b"\xf4"


def test_a_long_first_instruction_before_fused_ones_is_recorded_with_its_delta(tmp_path):
    # An 80286 shift by CL takes a clock a bit (of up to 31) besides its 5, more than
    # an INSN tag's cycle delta holds (30): the fused instruction after it takes the
    # general path, which writes the delta in full; the ones after that are recorded
    # as they run again.
    from debugger.trace import TraceReader, make_header, write_trace
    source = """
        mov bp, 40
        mov cl, 31
    again:
        mov ax, bp
        shl ax, cl
        add dx, ax
        xor si, dx
        dec bp
        jnz again
        hlt"""
    runs = []
    for cached in (False, True):
        m, c = _real_mode_machine("80286", cached)
        code = nasm(source)
        m.mem.write(0x10000, code)
        c.ip = 0
        runs.append(_recorded_to_halt(m))
    shift = code.index(b"\xd3\xe0")
    assert c.decoded_form(shift) == "shift_cl+alu_rr16+alu_rr16+incdec_r16+jcc"
    assert runs[0] == runs[1]
    path = tmp_path / "shift.c86t"
    write_trace(path, make_header("80286", m.clock.frequency), runs[1][0])
    records = [r for r in TraceReader(path).records() if r.kind == "insn"]
    after = [b.cycle - a.cycle for a, b in zip(records, records[1:]) if a.eip == shift]
    assert len(after) == 40 and min(after) > 30
