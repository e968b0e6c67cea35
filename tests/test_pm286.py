"""80286 protected mode: entered with LMSW, 16-bit gates and a 286 TSS, 24-bit bases.
(The shared PM guests start at the 386; this covers the 286's own formats.)"""
from core.machine import Machine
from tests.asm import nasm

GDT = 0x800
IDT = 0x900
TSS_A = 0xA00
TSS_B = 0xA40
RESULTS = 0x600


def descriptor(base, limit, access):
    """A 286 descriptor: limit 15:0, base 23:0, access byte, reserved word."""
    return (limit & 0xFFFF).to_bytes(2, "little") + (base & 0xFFFFFF).to_bytes(3, "little") + \
        bytes([access]) + b"\0\0"


def gate(selector, offset, access, params=0):
    return offset.to_bytes(2, "little") + selector.to_bytes(2, "little") + bytes([params, access]) + b"\0\0"


SOURCE = """
cpu 286
start:
    lgdt [cs:gdtr - start]
    lidt [cs:idtr - start]
    smsw ax
    or ax, 1
    lmsw ax                     ; PE on: still 16-bit, CS cache as in real mode
    jmp 0x08:pm - start
pm:
    mov ax, 0x10
    mov ds, ax
    mov ss, ax
    mov sp, 0x7000
    mov word [0x600], 1         ; reached protected mode
    mov ax, 0x38                ; a selector past the GDT limit: #GP(0x38)
    mov es, ax
after_gp:
    mov ax, 0x18                ; LTR the 286 TSS of this task
    ltr ax
    call 0x20:0                 ; task switch through a 286 TSS descriptor
    mov word [0x604], 3         ; back after the nested task's IRET
    hlt
gdtr: dw 0x37
      dd 0x800
idtr: dw 0x6F
      dd 0x900
"""

HANDLER = """
cpu 286
gp_handler:                     ; IDT 13: record the error code, skip the faulting MOV
    pop ax
    mov [0x602], ax
    pop ax
    add ax, 2
    push ax
    iret
"""

TASK_B = """
cpu 286
    mov word [0x606], 0x4242    ; runs in the nested task
    iret                        ; NT set: back to the caller through the back link
"""


def test_286_protected_mode_gp_error_code_and_task_switch():
    m = Machine("80286", 1 << 20)
    code = nasm(SOURCE)
    handler = nasm(HANDLER)
    task_b = nasm(TASK_B)
    mem = m.mem
    mem.write(0x10000, code)
    mem.write(0x11000, handler)
    mem.write(0x12000, task_b)
    # GDT: null, code at 0x10000, flat data, TSS A, TSS B (limit 0x2B: the 286 TSS
    # size), the #GP handler's code, task B's code.
    gdt = (b"\0" * 8 + descriptor(0x10000, 0xFFFF, 0x9A) + descriptor(0, 0xFFFF, 0x92)
           + descriptor(TSS_A, 0x2B, 0x81) + descriptor(TSS_B, 0x2B, 0x81)
           + descriptor(0x11000, 0xFFFF, 0x9A) + descriptor(0x12000, 0xFFFF, 0x9A))
    mem.write(GDT, gdt)
    # IDT: vector 13 -> 286 interrupt gate to selector 0x28 (the handler's code segment)
    idt = bytearray(0x70)
    idt[13 * 8:13 * 8 + 8] = gate(0x28, 0, 0x86)
    mem.write(IDT, bytes(idt))
    # TSS B: IP 0, FLAGS 2, SP, and its segment registers (ES CS SS DS at 0x22..0x28)
    tss_b = bytearray(0x2C)
    tss_b[0x0E:0x10] = (0).to_bytes(2, "little")
    tss_b[0x10:0x12] = (2).to_bytes(2, "little")
    tss_b[0x1A:0x1C] = (0x6000).to_bytes(2, "little")         # SP
    tss_b[0x22:0x24] = (0x10).to_bytes(2, "little")           # ES
    tss_b[0x24:0x26] = (0x30).to_bytes(2, "little")           # CS -> task B code
    tss_b[0x26:0x28] = (0x10).to_bytes(2, "little")           # SS
    tss_b[0x28:0x2A] = (0x10).to_bytes(2, "little")           # DS
    mem.write(TSS_B, bytes(tss_b))
    cpu = m.cpu
    cpu.cs, cpu.ip = 0x1000, 0
    assert m.run(1_000_000) == "halt"
    assert mem.read16(RESULTS) == 1
    assert mem.read16(RESULTS + 2) == 0x38          # #GP error code: the selector
    assert mem.read16(RESULTS + 6) == 0x4242        # the nested task ran
    assert mem.read16(RESULTS + 4) == 3             # and IRET came back
    assert cpu.get_segment("tr").selector == 0x18
    # Task A's busy bit is set again, task B's cleared after the return.
    assert mem.read8(GDT + 0x18 + 5) & 0x02
    assert not mem.read8(GDT + 0x20 + 5) & 0x02
    assert mem.read16(TSS_B + 0) == 0x18            # back link in the nested TSS
    # Task A's state was saved in its 286 TSS on the way out: DS, and IP after the CALL.
    assert mem.read16(TSS_A + 0x28) == 0x10
