"""The host-pointer TLB and the instruction-fetch window (core/cpu.pyx) against what
the hardware does: code and data that change under them, remapped pages, A20, the
dirty bit, limits and page edges.  Each test first runs through a page so that its
translation is cached, then changes something, then checks the next access sees it."""
from core.machine import Machine
from tests.asm import nasm

CODE32 = 0x409B00           # present, ring 0, code read/execute, accessed, D=1
DATA32 = 0x409300           # present, ring 0, data read/write, accessed, B=1
PD, PT = 0x1000, 0x2000     # page directory and the table for 0-4 MiB
PTE_PRW = 0x3               # present, writable, supervisor
PTE_A, PTE_D = 0x20, 0x40


def flat32(model="pentium", paging=False, memory=8 << 20):
    """A CPU in 32-bit flat protected mode at CPL 0 (optionally with 0-4 MiB identity
    mapped by 4 KiB pages), interrupts off, stack at 0x90000."""
    m = Machine(model, memory)
    c = m.cpu
    c.cr0 = 1
    for s in ("ds", "es", "ss", "fs", "gs"):
        c.set_segment(s, 0x10, base=0, limit=0xFFFFFFFF, access=DATA32)
    c.set_segment("cs", 0x08, base=0, limit=0xFFFFFFFF, access=CODE32)
    c.esp = 0x90000
    if paging:
        m.mem.write32(PD, PT | PTE_PRW)
        for i in range(1024):
            m.mem.write32(PT + 4 * i, (i << 12) | PTE_PRW)
        c.cr3 = PD
        c.cr0 = 0x80000001
    return m, c


def run_at(m, addr, code):
    m.mem.write(addr, code)
    m.cpu.eip = addr
    m.cpu.halted = False
    assert m.run(1_000_000) == "halt"


def resume(m):
    m.cpu.halted = False
    assert m.run(1_000_000) == "halt"


def pte(m, page):
    return m.mem.read32(PT + 4 * page)


def test_store_into_the_next_instruction_runs_the_new_bytes():
    # Pentium and later snoop the prefetch queue: a store to the next instruction's
    # bytes is seen when it executes (SDM vol. 3 "Self-Modifying Code").
    for paging in (False, True):
        m, c = flat32(paging=paging)
        run_at(m, 0x10000, nasm("""
            mov byte [0x10000 + patch + 1], 0x55
        patch:
            mov al, 0x11
            hlt""", bits=32))
        assert c.eax & 0xFF == 0x55


def test_code_rewritten_by_rep_movs_after_it_ran():
    # The routine at 0x20000 runs once (its page is now in the fetch window and TLB),
    # is overwritten by REP MOVSB with one returning another value, and runs again.
    for paging in (False, True):
        m, c = flat32(paging=paging)
        m.mem.write(0x20000, nasm("mov eax, 1\nret", bits=32))
        m.mem.write(0x30000, nasm("mov eax, 2\nret", bits=32))
        # nasm assembles at org 0 and the code runs at 0x10000: a call's target
        # is written as an offset from there.
        run_at(m, 0x10000, nasm("""
            call 0x20000 - 0x10000
            mov ebx, eax
            mov esi, 0x30000
            mov edi, 0x20000
            mov ecx, 6
            cld
            rep movsb
            call 0x20000 - 0x10000
            hlt""", bits=32))
        assert (c.ebx, c.eax) == (1, 2)


def test_code_written_from_outside_between_runs():
    # A device (DMA, a loader) writes guest memory through the bus: the next fetch from
    # that page must see the new bytes.
    m, c = flat32(paging=True)
    run_at(m, 0x20000, nasm("mov eax, 1\nhlt\nmov eax, 3\nhlt", bits=32))
    assert c.eax == 1
    m.mem.write(c.eip, nasm("mov eax, 2\nhlt", bits=32))
    resume(m)
    assert c.eax == 2


def test_remapped_code_page_after_invlpg_and_cr3_reload():
    m, c = flat32(paging=True)
    # Linear page 0x300 is first backed by physical 0x20000, then by 0x21000.
    m.mem.write(0x20000, nasm("mov eax, 1\nret", bits=32))
    m.mem.write(0x21000, nasm("mov eax, 2\nret", bits=32))
    m.mem.write32(PT + 4 * 0x300, 0x20000 | PTE_PRW)
    run_at(m, 0x10000, nasm("""
        call 0x300000 - 0x10000
        mov ebx, eax
        mov dword [%d], 0x21000 | 3
        invlpg [0x300000]
        call 0x300000 - 0x10000
        mov ecx, eax
        mov dword [%d], 0x20000 | 3
        mov eax, cr3
        mov cr3, eax
        call 0x300000 - 0x10000
        hlt""" % (PT + 4 * 0x300, PT + 4 * 0x300), bits=32))
    assert (c.ebx, c.ecx, c.eax) == (1, 2, 1)


def test_remapped_data_page_after_invlpg():
    m, c = flat32(paging=True)
    m.mem.write32(0x40000, 0x11111111)
    m.mem.write32(0x41000, 0x22222222)
    m.mem.write32(PT + 4 * 0x300, 0x40000 | PTE_PRW)
    run_at(m, 0x10000, nasm("""
        mov ebx, [0x300000]
        mov dword [0x300004], 0xAAAA
        mov dword [%d], 0x41000 | 3
        invlpg [0x300000]
        mov ecx, [0x300000]
        mov dword [0x300004], 0xBBBB
        hlt""" % (PT + 4 * 0x300), bits=32))
    assert (c.ebx, c.ecx) == (0x11111111, 0x22222222)
    assert (m.mem.read32(0x40004), m.mem.read32(0x41004)) == (0xAAAA, 0xBBBB)


def test_first_write_after_reads_sets_the_dirty_bit():
    # Reads cache the page for reading only: the first write still walks the tables
    # and sets D (SDM vol. 3 "Accessed and Dirty Flags"), also after software clears it.
    m, c = flat32(paging=True)
    run_at(m, 0x10000, nasm("""
        mov eax, [0x50000]
        mov eax, [0x50008]
        hlt
        mov dword [0x50010], 1
        hlt
        and dword [%d], ~0x40
        invlpg [0x50000]
        mov eax, [0x50000]
        hlt
        mov byte [0x50020], 2
        hlt""" % (PT + 4 * 0x50), bits=32))
    assert pte(m, 0x50) & (PTE_A | PTE_D) == PTE_A
    resume(m)
    assert pte(m, 0x50) & (PTE_A | PTE_D) == PTE_A | PTE_D
    resume(m)
    assert pte(m, 0x50) & (PTE_A | PTE_D) == PTE_A
    resume(m)
    assert pte(m, 0x50) & (PTE_A | PTE_D) == PTE_A | PTE_D


def test_user_access_to_a_supervisor_page_faults_after_a_supervisor_access():
    # The cached translation is per privilege level: a supervisor read of the page
    # must not let a later CPL 3 read through (U/S is checked, #PF with U=1, P=1).
    m, c = flat32(paging=True)
    m.mem.write32(PD, PT | PTE_PRW | 4)
    for i in range(1024):
        m.mem.write32(PT + 4 * i, (i << 12) | PTE_PRW | 4)       # user pages ...
    m.mem.write32(PT + 4 * 0x60, 0x60000 | PTE_PRW)              # ... but this one
    run_at(m, 0x10000, nasm("mov eax, [0x60000]\nhlt", bits=32))
    c.set_segment("ss", 0x23, base=0, limit=0xFFFFFFFF, access=DATA32 | 0x6000)
    c.set_segment("ds", 0x23, base=0, limit=0xFFFFFFFF, access=DATA32 | 0x6000)
    c.set_segment("cs", 0x1B, base=0, limit=0xFFFFFFFF, access=CODE32 | 0x6000)
    assert c.cpl == 3
    # No IDT: the #PF escalates to a triple fault, CR2 names the address.
    m.mem.write(0x11000, nasm("mov ebx, [0x60004]\nhlt", bits=32))
    c.eip = 0x11000
    c.halted = False
    assert m.run(1_000_000) == "shutdown"
    assert c.cr2 == 0x60004


def test_a20_change_between_runs_and_by_an_out():
    # Real mode, FFFF:0010 is physical 0x100000 with A20 on and 0 with it off.
    m = Machine("80386", 2 << 20)
    c = m.cpu
    m.mem.write32(0x0, 0x11111111)
    m.mem.write32(0x100000, 0x22222222)
    m.bus.register_io(0xE0, 1, None, lambda port, width, value: setattr(m.bus, "a20", bool(value)))
    m.mem.write(0x10000, nasm("""
        mov ax, 0xFFFF
        mov ds, ax
        mov ebx, [0x10]
        hlt
        mov ecx, [0x10]
        mov al, 1
        out 0xE0, al
        mov edx, [0x10]
        hlt""", bits=16))
    c.cs, c.ip = 0x1000, 0
    assert m.run(1_000_000) == "halt"
    assert c.ebx == 0x22222222
    m.bus.a20 = False
    resume(m)
    assert (c.ecx, c.edx) == (0x11111111, 0x22222222)


def test_shadow_ram_mapped_over_rom_by_an_out():
    # The chipset's shadow control turns a ROM page into RAM: reads after the OUT
    # come from RAM, and writes, dropped before, now stick.
    m = Machine("80386", 2 << 20)
    c = m.cpu
    m.mem.write32(0xE0000, 0x33333333)             # the RAM under the ROM
    m.bus.map_rom(0xE0000, b"\x44" * 4096)
    m.bus.register_io(0xE0, 1, None, lambda port, width, value: m.bus.map_ram(0xE0000, 0x1000))
    m.mem.write(0x10000, nasm("""
        mov ax, 0xE000
        mov ds, ax
        mov ebx, [0]
        mov dword [4], 0x55555555
        mov ecx, [4]
        out 0xE0, al
        mov edx, [0]
        mov dword [4], 0x66666666
        mov esi, [4]
        hlt""", bits=16))
    c.cs, c.ip = 0x1000, 0
    assert m.run(1_000_000) == "halt"
    assert (c.ebx, c.ecx) == (0x44444444, 0x44444444)
    assert (c.edx, c.esi) == (0x33333333, 0x66666666)


def test_immediate_across_a_page_edge_with_pages_mapped_apart():
    # mov eax, imm32 whose opcode ends one linear page and whose immediate starts the
    # next, the two pages backed by physical pages far apart.
    m, c = flat32(paging=True)
    m.mem.write32(PT + 4 * 0x301, 0x70000 | PTE_PRW)
    code = nasm("mov eax, 0x12345678\nhlt", bits=32)        # B8 78 56 34 12 F4
    m.mem.write(0x300FFE, code[:2])
    m.mem.write(0x70000, code[2:])
    c.eip = 0x300FFE
    assert m.run(1_000_000) == "halt"
    assert c.eax == 0x12345678


def test_immediate_past_the_cs_limit_faults_before_it_is_used():
    # Real mode on the 386 with a CS limit of 0x1001: MOV AX, imm16 at 0x1000 has its
    # last byte at 0x1002, outside the limit: #GP (vector 13), AX unchanged.
    m = Machine("80386", 1 << 20)
    c = m.cpu
    m.mem.write16(13 * 4, 0x0)
    m.mem.write16(13 * 4 + 2, 0x0500)
    m.mem.write8(0x5000, 0xF4)
    m.mem.write(0x10000, nasm("mov ax, 0x1111\njmp 0x1000\ntimes 0x1000-($-$$) nop\nmov ax, 0x2222",
                              bits=16))
    c.set_segment("cs", 0x1000, base=0x10000, limit=0x1001, access=0x9B00)
    c.ip, c.ss, c.sp = 0, 0x3000, 0xFFFE
    assert m.run(1_000_000) == "halt"
    assert (c.cs, c.ax) == (0x0500, 0x1111)
    assert m.mem.read16(0x30000 + c.sp) == 0x1000       # the faulting instruction


def test_invlpg_anywhere_in_a_4mb_page_drops_all_of_it():
    # INVLPG drops the translation of the whole page holding the address, 4 MiB with
    # CR4.PSE (SDM vol. 2 INVLPG): a granule cached from another part of that page
    # must not survive it.
    m, c = flat32(paging=True, memory=16 << 20)
    m.mem.write32(0x805000, 0x11111111)
    m.mem.write32(0xC05000, 0x22222222)
    m.mem.write32(PD + 4, 0x800000 | 0x80 | PTE_PRW)            # 4-4 MiB -> 8 MiB, PS
    c.cr4 = 0x10                                                # PSE
    run_at(m, 0x10000, nasm("""
        mov ebx, [0x405000]
        mov dword [%d], 0xC00000 | 0x83
        invlpg [0x400000]
        mov ecx, [0x405000]
        hlt""" % (PD + 4), bits=32))
    assert (c.ebx, c.ecx) == (0x11111111, 0x22222222)
