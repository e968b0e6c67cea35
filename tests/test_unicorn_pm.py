"""Differential properties: cycle86 against Unicorn, one instruction in flat 32-bit
protected mode with paging on.

The machine is the layout of core/strategies.py: flat 4 GiB code and data segments at
CPL 0 or CPL 3, CR0.PG = 1, and page tables that shuffle and alias physical frames,
start with random accessed/dirty bits and mix read-only and supervisor pages in.  Each
property draws a state and one instruction of a family, runs it on both machines and
compares every register, CR2, the status flags the SDM defines for that instance, all
of physical RAM (so page-table accessed/dirty bits, GDT accessed bits and exception
frames too), and cycle86's descriptor caches against the GDT.  An exception is compared
through its delivery: the IDT's 32-bit interrupt gate, the frame on the ring-0 stack
(the TSS's at CPL 3), CR2 for #PF.

Where Unicorn (QEMU) is not the CPU the SDM describes, the strategies keep out of the
narrow case, and a hand-written test below asserts the SDM behaviour on cycle86:

* Segment checks on data accesses: QEMU checks types and limits when a segment register
  is loaded but not when memory is accessed, so every segment is flat and writable,
  nothing goes through a CS override, and limits, read-only and expand-down data
  segments, execute-only code and null selectors are tested here by hand.
* #AC: QEMU has no alignment checking (CR0.AM, EFLAGS.AC, CPL 3); the strategies keep
  AM clear, the hand tests set it.
* CR0.WP does not exist on a 386, while Unicorn honours it; WP runs only on the 80486.
* RET imm16 releases an unsigned count; QEMU sign-extends it, which shows with a 32-bit
  ESP.  Protected-mode strategies keep the count below 8000h.
* SHLD/SHRD with a count of 0: the SDM says "no operation", QEMU writes the operand back
  (setting the page's dirty bit).  That dirty bit is not compared.
* Instruction-fetch page faults: Unicorn reads the byte before its stop address first,
  so its CR2 (and that page's accessed bit) are wrong for a fetch that faults; the
  page-fault property takes CR2 for fetches from the SDM rules instead.
* The accessed bit of a PDE on a walk that faults: QEMU sets it before it checks the
  PTE; the 386 manual does not say, so that bit is not compared.
* Unicorn cannot report an exception's error code: the #PF error code comes from the
  SDM rules (`strategies.expected_page_fault`, also asserted directly below), the only
  other error codes the strategies provoke are #GP(0)s.
* Unicorn walks the page tables for the address it stops at (and the byte before it);
  after a branch those accessed bits are not compared.

Examples are derandomized, so a run is reproducible; set CYCLE86_DIFF_PROFILE=explore
to search with fresh random examples (and more of them).  `strategies.survey` lists
every distinct mismatch of a family at once (see docs/strategies.md).
"""
import pytest
from hypothesis import given

from core import strategies as S


PM0 = S.protected_mode(cpl=0)
PM3 = S.protected_mode(cpl=3)
PM486 = S.protected_mode(cpl=0, model="80486")
PM486_3 = S.protected_mode(cpl=3, model="80486")
PM486_WP = S.protected_mode(cpl=0, model="80486", wp=True)


def _differential(family, mode, n):
    @S.examples(n)
    @given(S.cases(family(mode=mode), mode=mode))
    def prop(case):
        S.assert_same(case)
    prop()


# --- the families, at CPL 0 and CPL 3 --------------------------------------------------

CPL0 = {"alu": 300, "shifts": 300, "muldiv": 300, "bcd": 150, "bitops": 300,
        "strings": 300, "addressing": 400, "misc": 300, "branches": 300}
CPL3 = {"alu": 150, "shifts": 150, "muldiv": 150, "bcd": 100, "bitops": 150,
        "strings": 200, "addressing": 200, "misc": 250, "branches": 200}


@pytest.mark.parametrize("family", sorted(CPL0))
def test_family_at_cpl0(family):
    _differential(S.FAMILIES[family], PM0, CPL0[family])


@pytest.mark.parametrize("family", sorted(CPL3))
def test_family_at_cpl3(family):
    # Ring 3: user pages only, IOPL-sensitive CLI/STI raise #GP(0) when IOPL < 3, POPF
    # keeps IOPL (and IF unless IOPL = 3), faults go to the ring-0 stack of the TSS.
    _differential(S.FAMILIES[family], PM3, CPL3[family])


@pytest.mark.parametrize("mode,n", [(PM486, 300), (PM486_3, 150)], ids=["cpl0", "cpl3"])
def test_486_additions(mode, n):
    # BSWAP, XADD, CMPXCHG on the 80486 model.
    _differential(S.i486, mode, n)


# --- page faults -----------------------------------------------------------------------

def _frame(m, n):
    """The top `n` dwords of the stack, read through the layout's page tables."""
    sp = m.cpu.esp
    return [m.mem.read32(S.pm_translate(sp + 4 * i)) for i in range(n)]


def _assert_sdm_page_fault(case):
    """cycle86 raises #PF exactly when the SDM rules say so, with their CR2 and error
    code (P = present, W/R = the faulting access, U/S = CPL 3), and only then."""
    rule = S.expected_page_fault(case.insn, case.mode)
    m = S.prepare_cycle86(case)
    m.step()
    cpu = m.cpu
    if rule is None:
        assert cpu.eip != S.HANDLER_LIN + 16 * 14, "unexpected #PF"
        return
    cr2, err = rule
    assert (cpu.cs, cpu.eip) == (0x08, S.HANDLER_LIN + 16 * 14), "no #PF"
    assert cpu.cr2 == cr2, f"CR2 {cpu.cr2:08x}, the SDM rules give {cr2:08x}"
    assert _frame(m, 1)[0] == err, f"error code {_frame(m, 1)[0]:x}, the rules give {err:x}"


@pytest.mark.parametrize("mode,n", [(PM0, 300), (PM3, 400), (PM486_WP, 300), (PM486_3, 200)],
                         ids=["386-cpl0", "386-cpl3", "486-cpl0-wp", "486-cpl3"])
def test_page_faults(mode, n):
    # Loads, stores, read-modify-writes and instruction fetches in and across pages that
    # are not present (PTE or PDE), read-only or supervisor-only (PTE or PDE).  Unicorn
    # says whether the access faults and where (CR2, except for a fetch); the error
    # code and, for fetches, CR2 follow from the SDM rules.
    @S.examples(n)
    @given(S.cases(S.page_faults(mode=mode), mode=mode))
    def prop(case):
        S.assert_same(case)
        _assert_sdm_page_fault(case)
    prop()


# --- what Unicorn does not model: the SDM behaviour, by hand --------------------------

def _case(code, mode=PM0, **regs):
    """A case with `code` at the start of the code window, plain registers, a zero
    background, and the selectors of the mode's CPL unless `regs` says otherwise."""
    state = dict(eax=0, ecx=0, edx=0, ebx=0, esp=S.HIGH_LIN[0] + 0x800, ebp=0, esi=0, edi=0,
                 eflags=S.EFLAGS_ONE, eip=S.CODE_LIN[0], cr2=0)
    for s in S.SEGS:
        state[s] = mode.initial_selectors(s)[0]
    state.update(regs)
    insn = S.Insn(code=bytes(code), family="hand", name="hand", bits=32)
    return S.Case(state=state, memory=S.MemoryImage(0), insn=insn, mode=mode)


def _step(case, cr0=0, eflags=0):
    m = S.prepare_cycle86(case)
    m.cpu.cr0 |= cr0
    m.cpu.eflags |= eflags
    m.step()
    return m


def _assert_fault(m, vector, err):
    cpu = m.cpu
    assert (cpu.cs, cpu.eip) == (0x08, S.HANDLER_LIN + 16 * vector), \
        f"expected vector {vector}, at {cpu.cs:04x}:{cpu.eip:08x}"
    assert _frame(m, 1)[0] == err


def _assert_ran(m, case):
    assert m.cpu.eip == case.start + len(case.insn.code)


DATA = S.HIGH_LIN[0] + 0x100          # a writable data address in the layout


@pytest.mark.parametrize("sel,code,vector", [
    # DS limit FFFh (byte granular): a dword at FFDh crosses it -> #GP(0).
    (0x40, [0xA1, 0xFD, 0x0F, 0x00, 0x00], 13),
    # SS limit FFFh: a read through SS at 1000h -> #SS(0) (SDM MOV, "#SS(0) If a memory
    # operand effective address is outside the SS segment limit").
    (0x40, [0x36, 0xA1, 0x00, 0x10, 0x00, 0x00], 12),
    # Expand-down with limit FFFh and B = 1: valid offsets are 1000h-FFFFFFFFh.
    (0x50, [0xA1, 0x00, 0x08, 0x00, 0x00], 13),
    # A read-only data segment cannot be written.
    (0x48, [0xA3] + list(DATA.to_bytes(4, "little")), 13),
    # A null selector in DS: any access is #GP(0).
    (0x00, [0xA1] + list(DATA.to_bytes(4, "little")), 13),
], ids=["ds-limit", "ss-limit", "expand-down", "read-only", "null"])
def test_protected_mode_segment_checks(sel, code, vector):
    # SDM Vol. 3, 5.3 "Limit checking" and 5.5 "Privilege levels"/type checks on
    # memory accesses; QEMU checks none of these after the segment load.
    # (The stack stays inside SS's limit, so the #SS frame can be pushed.)
    regs = {"ss": sel, "esp": 0x800} if vector == 12 else {"ds": sel}
    m = _step(_case(code, **regs))
    _assert_fault(m, vector, 0)


@pytest.mark.parametrize("sel,code", [
    (0x40, [0xA1, 0xFC, 0x0F, 0x00, 0x00]),                       # the last dword inside
    (0x50, [0xA1, 0x00, 0x10, 0x00, 0x00]),                       # expand-down, just above
    (0x48, [0xA1] + list(DATA.to_bytes(4, "little"))),           # reading read-only data
], ids=["ds-limit", "expand-down", "read-only"])
def test_protected_mode_segment_checks_allow_the_legal_access(sel, code):
    case = _case(code, ds=sel)
    _assert_ran(_step(case), case)


def test_read_modify_write_fault_leaves_flags_alone():
    # ADD to a read-only data segment: the read succeeds, the write is #GP(0).  A fault
    # restores the state before the instruction (SDM Vol. 3, 6.5 "Faults"), so EFLAGS,
    # live and in the frame, is what it was; memory is untouched.
    case = _case([0x00, 0x05] + list(DATA.to_bytes(4, "little")), ds=0x48, eax=0x80)
    m = S.prepare_cycle86(case)
    m.mem.write8(S.pm_translate(DATA), 0x80)
    m.step()
    _assert_fault(m, 13, 0)
    assert _frame(m, 4)[1:] == [case.start, 0x08, S.EFLAGS_ONE]
    assert m.cpu.eflags == S.EFLAGS_ONE
    assert m.mem.read8(S.pm_translate(DATA)) == 0x80


def test_write_through_cs_override_faults():
    # A code segment is never writable (SDM Vol. 3, 5.4.1); a CS override on a store
    # is #GP(0).  Reading through it is fine: the code segment is readable.
    _assert_fault(_step(_case([0x2E, 0xA3] + list(DATA.to_bytes(4, "little")))), 13, 0)
    case = _case([0x2E, 0xA1] + list(DATA.to_bytes(4, "little")))
    _assert_ran(_step(case), case)


def test_read_through_execute_only_code_faults():
    # CS = an execute-only segment: fetching works, a CS-relative read is #GP(0).
    case = _case([0x2E, 0xA1] + list(DATA.to_bytes(4, "little")), cs=0x58)
    _assert_fault(_step(case), 13, 0)
    case = _case([0x90], cs=0x58)
    _assert_ran(_step(case), case)


AM = 1 << 18


@pytest.mark.parametrize("mode,cr0,eflags,address,faults", [
    (PM486_3, AM, S.AC, DATA + 1, True),       # all three conditions: #AC(0)
    (PM486_3, AM, S.AC, DATA + 4, False),      # aligned
    (PM486_3, 0, S.AC, DATA + 1, False),       # CR0.AM clear
    (PM486_3, AM, 0, DATA + 1, False),         # EFLAGS.AC clear
    (PM486, AM, S.AC, DATA + 1, False),        # CPL 0
], ids=["faults", "aligned", "am-clear", "ac-clear", "cpl0"])
def test_486_alignment_check(mode, cr0, eflags, address, faults):
    # SDM Vol. 3, 6.15 "Interrupt 17 - Alignment Check Exception (#AC)": a misaligned
    # access at CPL 3 with CR0.AM and EFLAGS.AC set raises #AC with error code 0.
    # QEMU does not implement alignment checking.
    case = _case([0x8B, 0x00], mode=mode, eax=address)          # mov eax,[eax]
    m = _step(case, cr0=cr0, eflags=eflags)
    if faults:
        _assert_fault(m, 17, 0)
        assert _frame(m, 6)[1:] == [case.start, 0x1B, S.EFLAGS_ONE | S.AC,
                                   case.state["esp"], 0x23]
    else:
        _assert_ran(m, case)


def test_386_has_no_alignment_check():
    # The 80386 has neither CR0.AM nor EFLAGS.AC (they came with the Intel486).
    case = _case([0x8B, 0x00], mode=PM3, eax=DATA + 1)
    _assert_ran(_step(case, cr0=AM, eflags=S.AC), case)


RO_PAGE = S.FAULT_LIN + 0x1000        # present, read-only, user (FAULT_KINDS[1])


@pytest.mark.parametrize("model,faults", [("80386", False), ("80486", True)])
def test_cr0_wp(model, faults):
    # MOV CR0 with WP, then a supervisor write to a read-only page.  The 80386 has no
    # WP bit (CR0 bits 5-30 are reserved there), so the write goes through; the 80486
    # honours WP: #PF with P = 1, W = 1, U/S = 0 (SDM Vol. 3, 4.6 "Access rights").
    mode = S.protected_mode(model=model)
    code = [0x0F, 0x22, 0xC0,                                     # mov cr0,eax
            0x89, 0x1D] + list(RO_PAGE.to_bytes(4, "little"))     # mov [RO_PAGE],ebx
    case = _case(code, mode=mode, eax=mode.cr0 | 0x10000, ebx=0x12345678)
    m = S.prepare_cycle86(case)
    m.step()
    assert bool(m.cpu.cr0 & 0x10000) == (model == "80486")
    m.step()
    if faults:
        _assert_fault(m, 14, 3)
        assert m.cpu.cr2 == RO_PAGE
    else:
        assert m.cpu.eip == case.start + len(code)
        assert m.mem.read32(S.pm_translate(RO_PAGE)) == 0x12345678


@pytest.mark.parametrize("prefix,size", [([], 4), ([0x66], 2)])
def test_ret_imm16_is_unsigned(prefix, size):
    # SDM RET: "ESP <- ESP + SRC" with SRC an unsigned word; QEMU sign-extends it.
    target = S.CODE_LIN[0] + 0x40
    case = _case(prefix + [0xC2, 0x00, 0x80], esp=S.HIGH_LIN[0] + 0x100)
    m = S.prepare_cycle86(case)
    m.mem.write(S.pm_translate(case.state["esp"]), (target & 0xFFFF if size == 2 else target)
                .to_bytes(size, "little"))
    m.step()
    assert m.cpu.esp == case.state["esp"] + size + 0x8000
    assert m.cpu.eip == (target & 0xFFFF if size == 2 else target)


@pytest.mark.parametrize("code,kind", [
    ([0x8B, 0x03], "r"),                # mov eax,[ebx]
    ([0x89, 0x03], "w"),                # mov [ebx],eax
    ([0x01, 0x03], "rw"),               # add [ebx],eax
])
@pytest.mark.parametrize("lin", [S.FAULT_LIN + 0x5000 - 2, S.FAULT_LIN + 0x5000 - 3],
                         ids=["2-in-2", "3-in-1"])
def test_straddling_access_reports_the_first_byte_in_the_faulting_page(code, kind, lin):
    # A dword from a present page into a missing one: the fault is on the second page,
    # and CR2 is the first byte of the access inside it, the page's start (SDM Vol. 3,
    # 6.15: "the linear address that generated the exception"; Unicorn, and Bochs,
    # report the same).  Nothing is written.  (Whether the present page's dirty bit
    # is set on the way is left open: QEMU sets it, so the differential test shows it.)
    case = _case(code, ebx=lin, eax=0x12345678)
    m = S.prepare_cycle86(case)
    before = m.mem.read32(S.pm_translate(lin & ~0xFFF | 0xFFC))
    m.step()
    _assert_fault(m, 14, 2 if kind == "w" else 0)
    assert m.cpu.cr2 == S.FAULT_LIN + 0x5000
    assert m.mem.read32(S.pm_translate(lin & ~0xFFF | 0xFFC)) == before
    assert S.expected_page_fault(S.Insn(code=b"", family="", name="",
                                        page_access=((lin, 4, kind),)), PM0) == (m.cpu.cr2, _frame(m, 1)[0])


@pytest.mark.parametrize("eip,cr2", [
    (S.FAULT_LIN, S.FAULT_LIN),                             # starts in a missing page
    (S.FAULT_LIN + 0x5000 - 2, S.FAULT_LIN + 0x5000),      # runs into one from a present page
], ids=["starts-in", "runs-into"])
@pytest.mark.parametrize("mode,err", [(PM0, 0), (PM3, 4)], ids=["cpl0", "cpl3"])
def test_fetch_page_fault(eip, cr2, mode, err):
    # A fetch that faults reports the first byte it could not fetch in CR2 (SDM Vol. 3,
    # 6.15 "Interrupt 14": "the linear address that generated the exception"); W/R = 0,
    # U/S = CPL 3.  The pushed EIP is the instruction's start.
    case = _case([0xB8, 1, 2, 3, 4], mode=mode, eip=eip)          # mov eax,04030201h
    m = _step(case)
    _assert_fault(m, 14, err)
    assert m.cpu.cr2 == cr2
    assert _frame(m, 2)[1] == eip


def test_double_shift_by_zero_writes_nothing():
    # SDM SHLD/SHRD: "IF (COUNT = 0) THEN No operation".  The operand's page stays
    # clean (QEMU writes the operand back and sets the dirty bit), memory and flags
    # are unchanged.
    pte = S.pm_entries(DATA)[1]
    for code in ([0x0F, 0xA4, 0x18, 0x00], [0x0F, 0xAD, 0x18]):      # shld [eax],ebx,0 / shrd [eax],ebx,cl
        case = _case(code, eax=DATA, ebx=0xFFFFFFFF, ecx=0x20, eflags=S.EFLAGS_ONE | S.CF)
        m = S.prepare_cycle86(case)
        m.mem.write32(pte, m.mem.read32(pte) & ~S.PTE_D)
        m.mem.write32(S.pm_translate(DATA), 0x89ABCDEF)
        m.step()
        _assert_ran(m, case)
        assert m.mem.read32(S.pm_translate(DATA)) == 0x89ABCDEF
        assert m.cpu.eflags == S.EFLAGS_ONE | S.CF
        assert not m.mem.read32(pte) & S.PTE_D


def test_write_straddling_into_a_faulting_page_reports_its_first_byte():
    # A dword write from 0x01006FFE at CPL 3 whose second page (0x01007000) the user may
    # not write: #PF with CR2 = the first byte of the access inside that page, and
    # nothing written to the first page.
    m = _step(_case(b"\x89\x00", mode=PM3, eax=0x01006FFE))
    cpu = m.cpu
    assert (cpu.cs, cpu.eip) == (0x08, S.HANDLER_LIN + 16 * 14)
    assert cpu.cr2 == 0x01007000
