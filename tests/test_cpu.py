"""CPU behaviour that the hardware suites do not pin down: model quirks, exceptions
delivered as guest events, the Python API, and determinism."""
import pytest

from core.machine import Machine
from tests.asm import load, nasm

IVT_HANDLER_CS = 0x0500


def install_handlers(m, vectors):
    """Point each vector at its own HLT so a test can see which one was taken."""
    for v in vectors:
        m.mem.write16(v * 4, v)                 # IP = vector number
        m.mem.write16(v * 4 + 2, IVT_HANDLER_CS)
        m.mem.write8((IVT_HANDLER_CS << 4) + v, 0xF4)


def run_code(model, source, **regs):
    m = Machine(model, 1 << 20)
    cpu = load(m, nasm(source))
    install_handlers(m, range(16))
    for k, v in regs.items():
        setattr(cpu, k, v)
    reason = m.run(1_000_000)
    return m, cpu, reason


def taken_vector(cpu):
    assert cpu.cs == IVT_HANDLER_CS, "no exception was delivered (cs=%04x)" % cpu.cs
    return cpu.ip - 1            # the handler HLT is at offset = vector


def test_api_registers_round_trip():
    m = Machine("80386", 1 << 20)
    c = m.cpu
    c.eax = 0x12345678
    assert (c.ax, c.al, c.ah) == (0x5678, 0x78, 0x56)
    c.ah = 0xAB
    assert c.eax == 0x1234AB78
    c.ds = 0x1234
    seg = c.get_segment("ds")
    assert (seg.selector, seg.base, seg.limit) == (0x1234, 0x12340, 0xFFFF)
    c.set_segment("fs", 0x10, base=0x200000, limit=0xFFFFFFFF, access=0x9300)
    assert c.get_segment("fs").base == 0x200000
    c.cf, c.zf = 1, 1
    assert c.flags & 0x41 == 0x41 and c.cf == 1
    state = c.get_state()
    m2 = Machine("80386", 1 << 20)
    m2.cpu.set_state(state)
    assert m2.cpu.get_state() == state


def test_reset_vectors():
    assert Machine("8086").cpu.get_segment("cs").base + Machine("8086").cpu.ip == 0xFFFF0
    c = Machine("80386", 1 << 20).cpu
    assert (c.cs, c.ip, c.get_segment("cs").base) == (0xF000, 0xFFF0, 0xFFFF0000)


def test_unknown_model_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown CPU model"):
        Machine("z80")


@pytest.mark.parametrize("model", ["80186", "80286", "80386"])
def test_invalid_opcode_raises_ud_in_the_guest(model):
    # 0F FF is undefined on every model here: #UD, delivered through the IVT.
    m, cpu, reason = run_code(model, "db 0x0f, 0xff\nhlt" if model != "80186" else "db 0x0f\nhlt")
    assert reason == "halt"
    assert taken_vector(cpu) == 6
    # The pushed return address is the faulting instruction (restartable).
    assert m.mem.read16((cpu.ss << 4) + cpu.sp) == 0


def test_8086_has_no_invalid_opcode_trap_0f_is_pop_cs():
    m = Machine("8086", 1 << 20)
    # 0x68 (PUSH imm) is itself an alias (JS) on the 8086, so push through AX.
    cpu = load(m, nasm("mov ax, 0x2000\npush ax\ndb 0x0f"))
    m.mem.write8(0x20005, 0xF4)         # execution continues at 2000:0005
    assert m.run(10_000) == "halt"
    assert (cpu.cs, cpu.ip) == (0x2000, 6)


def test_divide_error_return_address_per_model():
    src = "xor bl, bl\ndiv bl\nhlt"
    for model, expect_next in (("8086", True), ("80286", False), ("80386", False)):
        m, cpu, reason = run_code(model, src, ax=0x1234)
        assert taken_vector(cpu) == 0
        ret = m.mem.read16((cpu.ss << 4) + cpu.sp)
        assert ret == (4 if expect_next else 2), model


def test_8086_aam_zero_leaves_the_flags_of_a_zero_result():
    # SingleStepTests 8086 D4 with a zero immediate: the divide error is taken with ZF and
    # PF set and SF, CF, OF, AF clear, whatever the flags and AL were; AX is unchanged.
    for ax, flags in ((0xC4C4, 0xFC43), (0xAF0B, 0xF003), (0x0828, 0xF8D6)):
        m, cpu, reason = run_code("8086", "aam 0\nhlt", ax=ax, flags=flags)
        assert taken_vector(cpu) == 0
        pushed = m.mem.read16((cpu.ss << 4) + cpu.sp + 4)
        assert pushed & 0x8D5 == 0x44, hex(pushed)         # ZF PF; not SF OF AF CF
        assert pushed & 0x400 == flags & 0x400            # DF kept
        assert cpu.ax == ax


def test_286_rep_word_string_fault_at_ffff_counts_cx_by_the_faulting_access():
    # SingleStepTests 80286 (full upstream set), REP MOVSW/STOSW with a word at offset
    # FFFFh: a faulting store leaves CX two lower than before the iteration, a faulting
    # load one lower; the faulting access's pointer is advanced either way.
    m, cpu, reason = run_code("80286", "rep stosw\nhlt", cx=49, di=0xFFFF, flags=0xF002)
    assert taken_vector(cpu) == 13
    assert (cpu.cx, cpu.di) == (47, 0x0001)
    m, cpu, reason = run_code("80286", "rep movsw\nhlt", cx=22, si=36711, di=0xFFFF,
                              flags=0xF402)
    assert taken_vector(cpu) == 13
    assert (cpu.cx, cpu.si, cpu.di) == (20, 36709, 65533)
    m, cpu, reason = run_code("80286", "rep movsw\nhlt", cx=40, si=0xFFFF, di=63509,
                              flags=0xF002)
    assert taken_vector(cpu) == 13
    assert (cpu.cx, cpu.si, cpu.di) == (39, 0x0001, 63509)


def test_pop_rm_store_fault_keeps_sp_popped_on_286_only():
    # POP word [si] with SI = FFFFh: the store faults (#GP, 13).  The 286 keeps the pop's
    # SP (SingleStepTests 80286: the frame is 6 bytes below SP + 2); the 386 restores SP.
    for model, popped in (("80286", True), ("80386", False)):
        m, cpu, reason = run_code(model, "pop word [si]\nhlt", si=0xFFFF, sp=0x5A67)
        assert taken_vector(cpu) == 13, model
        assert cpu.sp == (0x5A67 + 2 if popped else 0x5A67) - 6, model


def test_286_esc_without_287_checks_the_first_word_of_its_operand():
    # SingleStepTests 80286 (full set), D8 with no coprocessor: a dword at offset FFFEh
    # runs on, one at FFFFh (whose first word crosses the limit) is #GP.
    m, cpu, reason = run_code("80286", "fadd dword [si]\nhlt", si=0xFFFE)
    assert cpu.cs != IVT_HANDLER_CS and reason == "halt"
    m, cpu, reason = run_code("80286", "fadd dword [si]\nhlt", si=0xFFFF)
    assert taken_vector(cpu) == 13


def test_push_sp_quirk():
    for model, pushed in (("8086", 0xFFFC), ("80186", 0xFFFC), ("80286", 0xFFFE), ("80386", 0xFFFE)):
        m, cpu, _ = run_code(model, "push sp\nhlt")
        assert m.mem.read16((0x3000 << 4) + 0xFFFC) == pushed, model


def test_shift_count_masking():
    # SHL by CL=33: the 8086 shifts 33 times (result 0); 186+ use 33 & 31 = 1.
    for model, expect in (("8086", 0), ("80186", 2), ("80386", 2)):
        _, cpu, _ = run_code(model, "mov cl, 33\nmov ax, 1\nshl ax, cl\nhlt")
        assert cpu.ax == expect, model


def test_8086_flags_high_bits_read_as_one():
    _, cpu, _ = run_code("8086", "xor ax, ax\npush ax\npopf\npushf\npop ax\nhlt")
    assert cpu.ax & 0xF000 == 0xF000
    _, cpu, _ = run_code("80286", "push word 0xffff\npopf\npushf\npop ax\nhlt")
    assert cpu.ax & 0xF000 == 0           # IOPL/NT cannot be set in real mode on the 286
    _, cpu, _ = run_code("80386", "push word 0x7000\npopf\npushf\npop ax\nhlt")
    assert cpu.ax & 0x7000 == 0x7000      # ... but can on the 386


def test_rep_idiv_negates_quotient_on_8086_only():
    src = "mov ax, 100\nmov bl, 7\ndb 0xf3\nidiv bl\nhlt"
    _, cpu, _ = run_code("8086", src)
    assert cpu.al == (-14) & 0xFF and cpu.ah == 2
    _, cpu, _ = run_code("80286", src)
    assert cpu.al == 14 and cpu.ah == 2


def test_segment_overrun_on_286_is_gp_and_wraps_on_8086():
    src = "mov bx, 0xffff\nmov ax, [bx]\nhlt"
    m, cpu, _ = run_code("80286", src)
    assert taken_vector(cpu) == 13
    m = Machine("8086", 1 << 20)
    cpu = load(m, nasm(src))
    m.mem.write8(0xFFFF, 0x34)     # DS=0: DS:FFFF then wraps to DS:0000
    m.mem.write8(0x0000, 0x12)
    m.run(10_000)
    assert cpu.ax == 0x1234


def test_esc_traps_on_186_and_with_em_on_286():
    _, cpu, _ = run_code("80186", "fld dword [0x100]\nhlt")
    assert taken_vector(cpu) == 7
    _, cpu, _ = run_code("80286", "fld dword [0x100]\nhlt")
    assert cpu.cs == 0x1000          # MSW.EM = 0: no trap
    _, cpu, _ = run_code("80286", "smsw ax\nor al, 4\nlmsw ax\nfld dword [0x100]\nhlt")
    assert taken_vector(cpu) == 7


def test_lock_on_non_lockable_instruction_is_ud_on_386():
    _, cpu, _ = run_code("80386", "lock mov ax, bx\nhlt")
    assert taken_vector(cpu) == 6
    _, cpu, _ = run_code("80386", "lock add [0x100], ax\nhlt")
    assert cpu.cs == 0x1000


def test_286_instruction_longer_than_10_bytes_faults():
    code = "db 0x26, 0x26, 0x26, 0x26, 0x26\nadd word [si+0x1234], 0x5678\nhlt"
    _, cpu, _ = run_code("80286", code)
    assert taken_vector(cpu) == 13
    _, cpu, _ = run_code("80386", code)
    assert cpu.cs == 0x1000


def test_32bit_operands_and_addressing_in_real_mode():
    src = """
    mov eax, 0x12345678
    mov ebx, 0x100
    mov ecx, 4
    mov [ebx+ecx*4+8], eax
    movzx edx, byte [ebx+ecx*4+11]
    bswap_skip: shld eax, ebx, 8
    bsf esi, ebx
    hlt"""
    _, cpu, _ = run_code("80386", src)
    assert cpu.edx == 0x12
    assert cpu.eax == 0x34567800
    assert cpu.esi == 8


def test_32bit_offset_beyond_limit_faults_in_real_mode_unless_unreal():
    src = "mov ebx, 0x150000\nmov al, [ebx]\nhlt"
    _, cpu, _ = run_code("80386", src)
    assert taken_vector(cpu) == 13
    m = Machine("80386", 1 << 21)
    cpu = load(m, nasm(src))
    cpu.set_segment("ds", 0, base=0, limit=0xFFFFFFFF, access=0x9300)   # unreal mode
    m.mem.write8(0x150000, 0x5A)
    m.run(10_000)
    assert cpu.al == 0x5A


def test_string_copy_and_compare():
    src = """
    cld
    mov si, 0x100
    mov di, 0x200
    mov cx, 5
    rep movsb
    mov si, 0x100
    mov di, 0x200
    mov cx, 5
    repe cmpsb
    hlt"""
    m = Machine("80286", 1 << 20)
    cpu = load(m, nasm(src))
    cpu.ds = cpu.es = 0x2000
    m.mem.write(0x20100, b"hello")
    m.run(100_000)
    assert m.mem.read(0x20200, 5) == b"hello"
    assert cpu.cx == 0 and cpu.zf == 1 and cpu.si == 0x105


def test_int_and_iret_round_trip():
    src = "int 0x21\nhlt"
    m = Machine("8086", 1 << 20)
    cpu = load(m, nasm(src))
    m.mem.write16(0x21 * 4, 0x0000)
    m.mem.write16(0x21 * 4 + 2, 0x0600)
    m.mem.write(0x6000, bytes([0xB0, 0x42, 0xCF]))    # mov al, 42h ; iret
    m.run(10_000)
    assert cpu.al == 0x42 and cpu.cs == 0x1000 and cpu.ip == 3 and cpu.sp == 0xFFFE


def test_single_step_trap():
    src = "nop\nnop\nhlt"
    m = Machine("80286", 1 << 20)
    cpu = load(m, nasm(src))
    install_handlers(m, [1])
    cpu.tf = 1
    m.step()
    assert cpu.cs == IVT_HANDLER_CS and cpu.ip == 1 and cpu.tf == 0
    assert m.mem.read16((cpu.ss << 4) + cpu.sp) == 1       # returns after the first NOP


def test_step_returns_cycles_and_clock_advances():
    m = Machine("8086", 1 << 20)
    load(m, nasm("nop\nmov ax, [0x100]\nhlt"))
    t0 = m.clock.now
    c1 = m.step()
    c2 = m.step()
    assert c1 > 0 and c2 > c1           # a memory operand costs more than NOP
    assert m.clock.now - t0 == c1 + c2
    assert m.cpu.icount == 2


def test_run_budget_and_stop():
    m = Machine("80386", 1 << 20)
    load(m, nasm("l: inc ax\njmp l"))
    assert m.run(1000) == "budget"
    assert 1000 <= m.clock.now < 1100
    m.clock.schedule(m.clock.now + 500, lambda t: m.request_stop())
    assert m.run(100_000) == "stop"


def test_triple_fault_shuts_down():
    # IDT limit 0: every interrupt faults, the #GP faults, the #DF faults -> shutdown.
    m = Machine("80286", 1 << 20)
    load(m, nasm("lidt [cs:idt]\nint 3\nhlt\nidt: dw 0, 0, 0"))
    m.cpu.ds = 0x1000
    assert m.run(10_000) == "shutdown"


def test_determinism_same_program_same_state_and_cycles():
    src = """
    mov cx, 500
    l: mov ax, cx
    imul ax, ax, 7
    xor [0x100], ax
    rol word [0x100], 3
    loop l
    hlt"""
    states = []
    for _ in range(2):
        m = Machine("80386", 1 << 20)
        load(m, nasm(src))
        m.run()
        states.append((m.cpu.get_state(), m.clock.now, m.mem.read(0, 0x400)))
    assert states[0] == states[1]


def test_cli_hlt_halts_even_with_device_events_pending():
    # A polling device keeps an event pending; with IF=0 only NMI or RESET could wake
    # the CPU, so run() reports the halt instead of sleeping through the budget.
    m = Machine("80386", 1 << 20)
    load(m, nasm("cli\nhlt"))
    m.clock.schedule(m.clock.now + 1_000, lambda t: None)
    assert m.run(10_000_000) == "halt"
    assert m.clock.now < 1_000


def test_pae_pdpte_registers_survive_a_state_round_trip():
    """The PDPTEs are registers (P6 PAE): get_state/set_state carry them, so a restored
    machine translates with what was loaded, not with what the PDPT in memory says now."""
    m = Machine("pentium2", 4 << 20)
    m.bus.write(0x1000, (0x2000 | 1).to_bytes(8, "little"))         # PDPTE 0 -> PD 0x2000
    m.bus.write(0x2000, (0x200000 | 0x83).to_bytes(8, "little"))    # 2 MiB page at 2 MiB
    c = m.cpu
    c.set("cr4", 0x20)
    c.set("cr3", 0x1000)
    c.set("cr0", 0x80000001)
    assert c.pdptes == (0x2001, 0, 0, 0)
    assert c.probe_phys(0x1234) == 0x201234
    state = c.get_state()
    m.bus.write(0x1000, bytes(8))                 # the PDPT in memory changes afterwards
    m2 = Machine("pentium2", 4 << 20)
    m2.bus.write(0x1000, bytes(8))
    m2.bus.write(0x2000, (0x200000 | 0x83).to_bytes(8, "little"))
    m2.cpu.set_state(state)
    assert m2.cpu.pdptes == (0x2001, 0, 0, 0)
    assert m2.cpu.probe_phys(0x1234) == 0x201234
    assert m2.cpu.get_state() == state


def _long_rep(memory=1 << 20):
    """A 386 in unreal mode (DS reaches 4 GiB) about to run A32 REP LODSB over four
    billion bytes, on a machine where no device ever schedules an event."""
    m = Machine("80386", memory)
    m.mem.write(0x10000, bytes([0x67, 0xF3, 0xAC, 0xF4]))      # a32 rep lodsb ; hlt
    cpu = m.cpu
    cpu.cs, cpu.ip = 0x1000, 0
    cpu.set_segment("ds", 0, 0, 0xFFFFFFFF, 0x9300)
    cpu.esi, cpu.ecx = 0, 0xFFFFFFFF
    return m


def test_a_long_rep_cannot_hold_the_run_loop_past_its_budget():
    """A REP string instruction yields between iterations at device events, and after
    at most 2**18 iterations even without one, restarting from its prefix; so a run's
    budget holds on a machine with nothing scheduled (it used to run all four billion
    iterations inside one slice: minutes of host time; found by the fuzz harness, issue
    15).  The yield points do not depend on how the run is sliced."""
    m = _long_rep()
    cpu = m.cpu
    assert m.run(max_cycles=10_000) == "budget"
    done = 0xFFFFFFFF - cpu.ecx
    assert 0 < done <= 1 << 18 and cpu.esi == done
    assert (cpu.cs << 4) + cpu.ip == 0x10000                  # restarts at the prefix
    end = m.clock.now + 3_000_000
    m.run(max_cycles=3_000_000)
    sliced = _long_rep()
    sliced.run(max_cycles=10_000)
    while sliced.clock.now < end:
        sliced.run(max_cycles=1000)
    assert (sliced.clock.now, sliced.cpu.icount, sliced.cpu.ecx) == (m.clock.now, cpu.icount,
                                                                      cpu.ecx)
