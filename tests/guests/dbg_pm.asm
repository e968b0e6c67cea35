; dbg_pm - a protected-mode guest for the debugger's command tests (info gdt, idt, tab, tss,
; catch mode, 32-bit disassembly).
;
; Loaded at 0000:8000 (linear 0x8000, so labels are linear addresses).  It loads the GDT and
; IDT written below, enters protected mode, loads flat 32-bit segments and a TSS, builds page
; tables (0-4 MiB identity, linear 0x400000 -> physical 0x100000 for one page), turns paging
; on, and raises INT 40h through a 32-bit interrupt gate.

bits 16
org 0x8000
BASE    equ 0x8000
PD      equ 0x20000
PT0     equ 0x21000
PT1     equ 0x22000

start:
        cli
        xor ax, ax
        mov ds, ax
        lgdt [gdtr]
        lidt [idtr]
        mov eax, cr0
        or al, 1
        mov cr0, eax
entered:
        jmp dword 0x08:pm32

bits 32
pm32:
        mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov esp, 0x7000
        mov ax, 0x18
        ltr ax
        ; PT0: identity map of the first 4 MiB
        mov edi, PT0
        mov eax, 3
        mov ecx, 1024
.fill:  mov [edi], eax
        add eax, 0x1000
        add edi, 4
        loop .fill
        mov dword [PT1], 0x100003        ; linear 0x400000 -> physical 0x100000
        mov dword [PD], PT0 + 3
        mov dword [PD + 4], PT1 + 3
        mov eax, PD
        mov cr3, eax
        mov eax, cr0
        or eax, 0x80000000
        mov cr0, eax
paging_on:
        mov dword [0x400000], 0xcafef00d  ; lands at physical 0x100000
        int 0x40
after_int:
        hlt

handler40:
        mov ebx, 0x40
        iretd

align 8
gdt:
        dq 0                                    ; 0x00 null
        dq 0x00cf9a000000ffff                   ; 0x08 code, base 0, 4 GiB, 32-bit
        dq 0x00cf92000000ffff                   ; 0x10 data, base 0, 4 GiB
        ; 0x18 32-bit TSS at tss, limit 0x67
        dw 0x67
        dw (tss - $$ + BASE) & 0xffff
        db ((tss - $$ + BASE) >> 16) & 0xff
        db 0x89, 0x00, 0
        dq 0x00009a010000ffff                   ; 0x20 code, base 0x10000, 64 KiB, 16-bit
gdt_end:

idt:
        times 0x40 dq 0
        ; 0x40: 32-bit interrupt gate to 0008:handler40, DPL 0
        dw (handler40 - $$ + BASE) & 0xffff
        dw 0x08
        db 0, 0x8e
        dw (handler40 - $$ + BASE) >> 16
idt_end:

gdtr:   dw gdt_end - gdt - 1
        dd gdt
idtr:   dw idt_end - idt - 1
        dd idt

align 4
tss:    times 0x68 db 0
