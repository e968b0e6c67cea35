"""The host-pointer TLB and the instruction-fetch window (core/cpu.pyx) against what
the hardware does: code and data that change under them, remapped pages, A20, the
dirty bit, limits and page edges.  Each test first runs through a page so that its
translation is cached, then changes something, then checks the next access sees it."""
from core.machine import Machine
from tests.asm import load, nasm

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


# ---------------------------------------------------------------- the fetch window
# The window outlives the instruction (a fetch inside it is a subtraction, a compare and
# a load): everything that changes which bytes EIP names, or whether it may fetch them,
# must close it.  These run code once so the window is open on its page, then change
# the bytes, the CS limit or the D bit, and check the next fetch obeys the change.

def descriptor(base, limit, access):
    """An 8-byte GDT entry; `access` as in CODE32 (byte 5 in bits 8-15, D/B in bit 22)."""
    lo = ((base & 0xFFFF) << 16) | (limit & 0xFFFF)
    hi = ((base >> 16) & 0xFF) | (access & 0xF0FF00) | (limit & 0xF0000) | (base & 0xFF000000)
    return lo | (hi << 32)


def with_gdt(m, c, entries, handler=0x11000):
    """A GDT at 0x800 (selector 8 * i for entries[i - 1]) and an IDT at 0x600 whose #GP
    gate (vector 13) leads to `hlt` at `handler`."""
    for i, d in enumerate(entries, 1):
        m.mem.write32(0x800 + 8 * i, d & 0xFFFFFFFF)
        m.mem.write32(0x800 + 8 * i + 4, d >> 32)
    c.gdtr_base, c.gdtr_limit = 0x800, 8 * (len(entries) + 1) - 1
    interrupt_gate(m, 13, handler)
    c.idtr_base, c.idtr_limit = 0x600, 0x7FF
    m.mem.write8(handler, 0xF4)


def interrupt_gate(m, vector, handler):
    """Point vector's gate in the IDT at 0x600 (with_gdt's) at `handler`: a 32-bit
    interrupt gate, DPL 0, to selector 8."""
    m.mem.write32(0x600 + vector * 8, (0x08 << 16) | (handler & 0xFFFF))
    m.mem.write32(0x600 + vector * 8 + 4, (handler & 0xFFFF0000) | 0x8E00)


def test_a_loop_rewriting_its_own_immediate_sees_each_new_value():
    # The store and the instruction it patches share the window's page: every iteration
    # must run the bytes as the previous one left them.
    for paging in (False, True):
        m, c = flat32(paging=paging)
        run_at(m, 0x10000, nasm("""
            mov ecx, 3
            xor ebx, ebx
        again:
            mov [0x10000 + patch + 2], cl
        patch:
            add bl, 0
            loop again
            hlt""", bits=32))
        assert c.ebx == 3 + 2 + 1


def test_code_loaded_by_floppy_dma_while_the_guest_polls_in_the_same_page(tmp_path):
    # The guest runs a routine at 2000:0100, then has the 82077AA read a sector over it
    # by DMA channel 2 (the transfer happens while the guest's polling loop runs from
    # the same page), and calls the routine again.  The controller is set up from
    # outside as a BIOS would leave it (tests/test_fdc.py's moves).
    from peripherals.dma import DMA
    from peripherals.fdc import FDC
    from tests.test_fdc import IrqLog
    image = bytearray(1_474_560)
    new = nasm("mov ax, 0x2222\nret")
    image[4 * 512:4 * 512 + len(new)] = new                    # C 0, H 0, R 5
    (tmp_path / "a.img").write_bytes(bytes(image))
    m = Machine("80386", memory=4 << 20)
    m.pic = IrqLog(m.clock)
    dma = DMA(m)
    fdc = FDC(m, dma, fda=tmp_path / "a.img")

    def out(port, value):
        m.bus.port_write(port, 1, value)

    def command(*data):
        for b in data:
            out(0x3F5, b)

    def results(n):
        return [m.bus.port_read(0x3F5, 1) for _ in range(n)]

    out(0xD6, 0xC0)                 # DMA2 channel 4: cascade, unmasked (as POST does)
    out(0xD4, 0x00)
    out(0x3F2, 0x1C)                # DOR: out of reset, drive A, motor A, DMA on
    until = m.clock.now + fdc.poll_cycles()
    while m.clock.next_deadline <= until:
        m.clock.now = max(m.clock.now, m.clock.next_deadline)
        m.clock.run_due()
    m.clock.now = until
    for _ in range(4):
        command(0x08)               # SENSE INTERRUPT STATUS: the reset's four polls
        results(2)
    out(0x3F7, 0x00)                # 500 kbit/s
    command(0x03, 0xDF, 0x02)       # SPECIFY, DMA mode
    out(0x0A, 0x06)                 # channel 2: 512 bytes to 0x20100, device to memory
    out(0x0C, 0)
    out(0x04, 0x00)
    out(0x04, 0x01)
    out(0x05, 0xFF)
    out(0x05, 0x01)
    out(0x0B, 0x46)
    out(0x81, 0x02)
    out(0x0A, 0x02)
    code = nasm("""
        call target
        mov bx, ax
        mov si, read_cmd
        mov cx, 9
    send:
        mov dx, 0x3F4
    ready:
        in al, dx
        and al, 0xC0
        cmp al, 0x80            ; RQM, DIO = 0: the FIFO takes a byte
        jne ready
        inc dx
        cs lodsb
        out dx, al
        loop send
        mov cx, 7
    result:
        mov dx, 0x3F4
    waiting:
        in al, dx               ; the sector moves by DMA while this loop runs
        and al, 0xC0
        cmp al, 0xC0            ; RQM, DIO = 1: a result byte waits
        jne waiting
        inc dx
        in al, dx
        loop result
        call target
        hlt
    read_cmd:
        db 0x46, 0x00, 0, 0, 5, 2, 18, 0x1B, 0xFF    ; READ DATA C0 H0 R5, 512 bytes
        times 0x100-($-$$) db 0x90
    target:
        mov ax, 0x1111
        ret""")
    load(m, code, cs=0x2000)
    c = m.cpu
    assert m.run(200_000_000) == "halt"
    assert m.mem.read(0x20100, len(new)) == new
    assert (c.bx, c.ax) == (0x1111, 0x2222)


def test_cs_limit_lowered_between_runs_is_checked_at_the_next_fetch():
    # Real mode on the 386 keeps CS's cached limit; here the debugger (or a loader)
    # lowers it while the window is open on the page: MOV AX, imm16 now ends past the
    # limit and is #GP before it runs.
    m = Machine("80386", 1 << 20)
    c = m.cpu
    m.mem.write16(13 * 4, 0x0)
    m.mem.write16(13 * 4 + 2, 0x0500)
    m.mem.write8(0x5000, 0xF4)
    m.mem.write(0x10000, nasm("mov ax, 0x1111\nhlt\nmov ax, 0x2222\nhlt"))
    c.set_segment("cs", 0x1000, base=0x10000, limit=0xFFFF, access=0x9B00)
    c.ip, c.ss, c.sp = 0, 0x3000, 0xFFFE
    assert m.run(1_000_000) == "halt" and c.ip == 4
    c.set_segment("cs", 0x1000, base=0x10000, limit=0x0005, access=0x9B00)
    c.halted = False
    assert m.run(1_000_000) == "halt"
    assert (c.cs, c.ax) == (0x0500, 0x1111)
    assert m.mem.read16(0x30000 + c.sp) == 0x0004       # the instruction that faulted


def test_far_jump_to_a_code_segment_with_a_lower_limit():
    # Protected mode: a far JMP loads a code descriptor with the same base and a limit
    # that ends inside the page the window is open on; the instruction that crosses it
    # is #GP, the one before it runs.
    m, c = flat32(model="80386")
    with_gdt(m, c, [descriptor(0, 0xFFFFF, CODE32 | 0x800000),   # 08: flat code, 4 KiB units
                    descriptor(0, 0xFFFFF, DATA32 | 0x800000),   # 10: flat data
                    descriptor(0, 0x10020, CODE32)])             # 18: code, limit 0x10020
    code = nasm("""
        jmp 0x18:0x10000 + next
    next:
        mov ebx, 0x1111
        times 0x20 - ($ - $$) - 2 nop
        mov ecx, 0x2222         ; bytes 0x1E..0x22: its last byte is past the limit
        hlt""", bits=32)
    run_at(m, 0x10000, code)
    assert c.eip == 0x11001                             # the #GP handler's HLT ran
    assert (c.ebx, c.ecx) == (0x1111, 0)
    assert m.mem.read32(c.esp) == 0                     # the error code
    assert m.mem.read32(c.esp + 4) == 0x1001E           # EIP of the faulting MOV
    assert m.mem.read32(c.esp + 8) == 0x18


def test_far_jump_to_a_16_bit_code_segment_decodes_the_same_bytes_anew():
    # The D bit decides operand size and IP width: after a far JMP into a 16-bit code
    # segment (same page, D = 0) B8 imm is MOV AX, imm16 and the next two bytes are an
    # instruction of their own.
    m, c = flat32(model="80386")
    with_gdt(m, c, [descriptor(0, 0xFFFFF, CODE32 | 0x800000),
                    descriptor(0, 0xFFFFF, DATA32 | 0x800000),
                    descriptor(0x10000, 0xFFFF, CODE32 & ~0x400000)])  # 18: 16-bit code
    code = nasm("""
        mov eax, 0x11111111
        mov ebx, 0x90909090
        jmp 0x18:run16
    run16:
        db 0xB8, 0x34, 0x12     ; 16-bit: MOV AX, 0x1234
        db 0x43, 0x43           ; INC BX, INC BX
        hlt""", bits=32)
    run_at(m, 0x10000, code)
    assert c.eax == 0x11111234
    assert c.ebx == 0x90909092


def test_code_on_a_supervisor_page_is_not_fetched_at_cpl_3():
    # The window was opened on a supervisor-only page at CPL 0; at CPL 3 the next
    # fetch from it is a #PF (U=1), not a read through the open window.
    m, c = flat32(paging=True)
    m.mem.write32(PD, PT | PTE_PRW | 4)
    for i in range(1024):
        m.mem.write32(PT + 4 * i, (i << 12) | PTE_PRW | 4)       # user pages ...
    m.mem.write32(PT + 4 * 0x60, 0x60000 | PTE_PRW)              # ... but this one
    run_at(m, 0x60000, nasm("mov eax, 1\nhlt\nmov ebx, 2\nhlt", bits=32))
    assert (c.eax, c.eip) == (1, 0x60006)
    c.set_segment("ss", 0x23, base=0, limit=0xFFFFFFFF, access=DATA32 | 0x6000)
    c.set_segment("ds", 0x23, base=0, limit=0xFFFFFFFF, access=DATA32 | 0x6000)
    c.set_segment("cs", 0x1B, base=0, limit=0xFFFFFFFF, access=CODE32 | 0x6000)
    assert c.cpl == 3
    c.halted = False
    # No IDT: the #PF escalates to a triple fault; CR2 names the instruction's address.
    assert m.run(1_000_000) == "shutdown"
    assert (c.cr2, c.ebx) == (0x60006, 0)


def test_8086_ip_wraps_inside_the_segment_mid_instruction():
    # The 8086 has no CS limit: IP wraps from FFFF to 0000 inside the segment, so an
    # instruction starting at CS:FFFF takes its next byte from CS:0000.
    m = Machine("8086", 1 << 20)
    c = m.cpu
    m.mem.write(0x10000, bytes([0x34, 0xF4]))                   # CS:0000 = imm8, HLT
    m.mem.write(0x1FFF0, bytes([0x90] * 15 + [0xB0]))           # NOPs, MOV AL, imm8
    c.cs, c.ip, c.ss, c.sp = 0x1000, 0xFFF0, 0x3000, 0xFFFE
    assert m.run(1_000_000) == "halt"
    assert (c.al, c.ip) == (0x34, 0x0002)
