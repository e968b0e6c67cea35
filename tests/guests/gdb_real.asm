; gdb_real.asm - the real-mode guest of the gdb stub's tests (tests/test_gdbstub.py).
;
; A boot-sector-like snippet: tests/asm.py's nasm() assembles it (bits 16, org 0) and the
; test loads it at linear 0x7C00, as CS:IP 07C0:0000 or 0000:7C00, with DS = 0.  The labels
; the test sets breakpoints on sit at fixed offsets from the start, so the test knows their
; linear addresses without a symbol file (the `times` padding before each label fails to
; assemble if the code before it grows past it).

start:                                  ; +0x00
        mov ax, 0x1234
        mov bx, 0x5678
        mov byte [0x500], 0xAA
        mov word [0x502], 0xBEEF
        times 0x20 - ($ - $$) nop

stop1:                                  ; +0x20: the first breakpoint
        mov cx, 0x0003                  ; 3 bytes: stepi lands on +0x23
        mov dx, 0xCAFE
        mov word [0x600], 0x1111        ; the watched word
        mov word [0x600], 0x2222
        out 0x80, al                    ; for an I/O catchpoint
        times 0x40 - ($ - $$) nop

spin:                                   ; +0x40: runs until gdb interrupts it
        inc si
        jmp spin
