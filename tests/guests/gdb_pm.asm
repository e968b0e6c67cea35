; gdb_pm.asm - the protected-mode guest of the gdb stub's tests (tests/test_gdbstub.py).
;
; A 64 KiB BIOS ROM (core/bench.py maps it at 0xF0000 and at the top of the 4 GiB space).
; From the reset vector it enters 32-bit protected mode with flat segments, sets registers
; and memory the test reads through gdb, then jumps into a 32-bit code segment based at the
; ROM (0xF0000), where gdb's pc (a linear address) and EIP differ, and finally stops the
; machine through isa-debug-exit (port 0xF4).  The labels the test sets breakpoints on sit at
; fixed ROM offsets (the `times` padding before each label fails to assemble if the code
; before it grows past it).
;
;   nasm -f bin -o gdb_pm.rom tests/guests/gdb_pm.asm

ROM_BASE        equ 0xF0000
SEL_FLAT_CODE   equ 0x08                ; base 0, 4 GiB, 32-bit
SEL_FLAT_DATA   equ 0x10                ; base 0, 4 GiB
SEL_ROM_CODE    equ 0x18                ; base 0xF0000, 64 KiB, 32-bit
PORT_EXIT       equ 0xF4

        bits 16
        org 0

start16:
        cli
        xor ax, ax
        mov ds, ax
        mov ss, ax
        mov sp, 0x7000
        o32 lgdt [cs:gdt_desc]
        mov eax, cr0
        or al, 1                        ; CR0.PE
        mov cr0, eax
        jmp dword SEL_FLAT_CODE:ROM_BASE + pm_flat

        bits 32
        times 0x100 - ($ - $$) nop
pm_flat:                                ; ROM offset 0x100: linear 0xF0100, flat CS
        mov ax, SEL_FLAT_DATA
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov esp, 0x9000
        mov eax, 0x11223344
        mov ebx, 0x55667788
        mov dword [0x2000], 0xCAFEBABE
        times 0x140 - ($ - $$) nop

pm_mark:                                ; 0x140: the first breakpoint (linear 0xF0140)
        mov ecx, 0xC0FFEE
        mov dword [0x2004], 0x1234      ; the watched dword
        jmp SEL_ROM_CODE:rom_code
        times 0x180 - ($ - $$) nop

rom_code:                               ; 0x180: CS base 0xF0000 and EIP 0x180
        mov edx, 0xD00D
        mov al, 0
        out PORT_EXIT, al               ; isa-debug-exit: the machine stops
        hlt

        align 8
gdt:    dq 0
        dw 0xFFFF, 0x0000               ; SEL_FLAT_CODE
        db 0x00, 0x9A, 0xCF, 0x00
        dw 0xFFFF, 0x0000               ; SEL_FLAT_DATA
        db 0x00, 0x92, 0xCF, 0x00
        dw 0xFFFF, 0x0000               ; SEL_ROM_CODE: base 0x0F0000, byte granular
        db 0x0F, 0x9A, 0x40, 0x00
gdt_end:
gdt_desc:
        dw gdt_end - gdt - 1
        dd ROM_BASE + gdt

        times 0xFFF0 - ($ - $$) db 0xFF
        bits 16
reset:                                  ; the reset vector: 0xFFFFFFF0
        jmp 0xF000:start16
        times 0x10000 - ($ - $$) db 0xFF
