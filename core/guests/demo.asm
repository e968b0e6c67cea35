; demo.asm - the bundled demo guest of cycle86: a 64 KiB BIOS ROM image, real mode only.
;
;   nasm -f bin -o demo.rom demo.asm              (the demo: one round, then exit)
;   nasm -f bin -DBENCH=1 -o bench.rom demo.asm   (the benchmark: rounds forever)
;
; Memory layout
;   ROM   F000:0000-FFFF  this image, mapped at physical 0xF0000-0xFFFFF and aliased at the
;                         top of the address space for the 286 and later, because their reset
;                         fetch comes from there (CS base 0xFFFF0000, IP 0xFFF0).
;         F000:FFF0       the reset vector: a far jump to `start`, which loads CS = F000 and
;                         so leaves the alias for the ordinary real-mode copy.
;   RAM   0000:0000-007F  interrupt vectors 0-31, all pointing at `unexpected`
;         0000:0500       variables (see V_*)
;         0000:0600       string buffer for the rotations, 0000:0680 its scratch copy
;         0000:7C00       top of the stack (SS = 0)
;         1000:0000       sieve flags, one byte per number below SIEVE_N
;         2000:0000       CRC-32 lookup table, 256 dwords (386 path only)
;
; What it does, and what each part exercises
;   cpu detection   shift-count masking (8086 vs 186), FLAGS bits 12-15 (186 vs 286 vs 386)
;   sieve           REP STOSW, MUL, byte stores, REPE SCASB with early exit, ADD/ADC pairs
;   fib             recursion through CALL/RET and PUSH/POP
;   crc32           386: MOVZX, 32-bit registers, FS and a scaled 32-bit index (66h/67h
;                   prefixes); 8086-286: the same polynomial with DX:AX shifts (SHR/RCR)
;   rotate          overlapping REP MOVSB forwards (CLD) and backwards (STD), REP MOVSW,
;                   REPNE SCASB
;   printing        DIV chains for decimal, ROL for hex, OUT to port 0xE9
;
; Output goes to port 0xE9 (the Bochs console port); the demo then stops the machine through
; isa-debug-exit (port 0xF4) with value 0, or 1 if an unexpected interrupt or exception arrived.
; The expected results are recomputed in Python by tests/test_demo.py, not stored here.
;
; The common code is checked by NASM against the 8086 instruction set (`cpu 8086`); only the
; block after `cpu 386` uses newer instructions, and it runs only when the detection found a 386.

%ifndef BENCH
%define BENCH 0
%endif

ROM_SEG     equ 0xF000
STACK_TOP   equ 0x7C00
SIEVE_SEG   equ 0x1000
TABLE_SEG   equ 0x2000
SIEVE_N     equ 10000
FIB_N       equ 20
POLY_HI     equ 0xEDB8              ; the reflected CRC-32 polynomial 0xEDB88320, in halves
POLY_LO     equ 0x8320

PORT_E9     equ 0xE9                ; console
PORT_EXIT   equ 0xF4                ; isa-debug-exit

V_CLASS     equ 0x0500              ; byte: 0 = 8086/8088, 1 = 80186, 2 = 80286, 3 = 80386+
V_CALLS     equ 0x0502              ; word: calls made by fib
BUF         equ 0x0600
TMP         equ 0x0680
ALPHA_LEN   equ 26

; Print the string that follows the call (NUL-terminated), then continue after it.
%macro PRINT 1
        call print_inline
        db %1, 0
%endmacro

        cpu 8086
        bits 16
        org 0

start:
        cli
        cld
        xor ax, ax
        mov ss, ax
        mov sp, STACK_TOP
        mov ax, cs
        mov ds, ax
        call install_vectors
        PRINT `cycle86 demo guest\n`

round:
        call detect_cpu
        call run_sieve
        call run_fib
        call run_crc
        call run_rotate
        PRINT `done\n`
%if BENCH
        jmp round
%else
        xor al, al
        jmp exit
%endif

; ------------------------------------------------------------------------ exceptions
; Vectors 0-31 each get a 5-byte stub that loads its number into AL, so a stray fault or
; software interrupt is reported by number instead of running whatever RAM holds.
install_vectors:
        xor ax, ax
        mov es, ax
        xor di, di
        mov ax, stubs
        mov cx, 32
.next:  stosw                       ; offset
        push ax
        mov ax, ROM_SEG
        stosw                       ; segment
        pop ax
        add ax, STUB_SIZE
        loop .next
        ret

STUB_SIZE equ 5
stubs:
%assign n 0
%rep 32
        mov al, n
        jmp near unexpected
%assign n n+1
%endrep
%if ($ - stubs) != 32 * STUB_SIZE
%error "interrupt stubs are not 5 bytes each"
%endif

unexpected:                         ; AL = vector; the stack holds IP, CS, FLAGS
        mov bp, sp
        push cs
        pop ds
        PRINT `unexpected interrupt `
        call print_hex8
        PRINT ` at `
        mov ax, [bp+2]
        call print_hex16
        mov al, ':'
        out PORT_E9, al
        mov ax, [bp]
        call print_hex16
        mov al, `\n`
        out PORT_E9, al
        mov al, 1
        ; fall through to exit

exit:                               ; AL = isa-debug-exit value
        out PORT_EXIT, al
.stop:  cli
        hlt
        jmp .stop

; ------------------------------------------------------------------------ cpu detection
; 8086/8088 use every bit of a shift count; the 80186 and later mask it to 5 bits, so a
; count of 32 shifts nothing.  FLAGS bits 12-15 always read as 1 on the 8086 and 80186,
; always as 0 on the 80286 in real mode, and can be changed on the 80386 (IOPL and NT).
detect_cpu:
        mov ax, 1
        mov cl, 32
        shl ax, cl
        mov bl, 0
        test ax, ax
        jz .found                   ; every bit shifted out: 8086
        pushf
        pop ax
        and ax, 0x0FFF
        push ax
        popf
        pushf
        pop ax
        mov bl, 1
        and ax, 0xF000
        cmp ax, 0xF000
        je .found                   ; bits 12-15 stuck at 1: 80186
        or ax, 0xF000
        push ax
        popf
        pushf
        pop ax
        mov bl, 2
        test ax, 0xF000
        jz .found                   ; bits 12-15 stuck at 0: 80286
        mov bl, 3
.found: mov [ss:V_CLASS], bl
        push ax                     ; leave IOPL/NT clear again
        xor ax, ax
        push ax
        popf
        pop ax
        PRINT `cpu: `
        mov bl, [ss:V_CLASS]
        xor bh, bh
        shl bx, 1
        mov si, [cs:cpu_names + bx]
        call print_str
        mov al, `\n`
        out PORT_E9, al
        ret

cpu_names:  dw name_8086, name_80186, name_80286, name_80386
name_8086:  db "8086/8088", 0
name_80186: db "80186", 0
name_80286: db "80286", 0
name_80386: db "80386 or later", 0

; ------------------------------------------------------------------------ sieve
; Flags at SIEVE_SEG:n, 0 = prime, 1 = composite (0 and 1 are marked composite too).
run_sieve:
        mov ax, SIEVE_SEG
        mov es, ax
        xor di, di
        xor ax, ax
        mov cx, SIEVE_N / 2
        rep stosw
        mov word [es:0], 0x0101
        mov bx, 2                   ; p
.outer: mov ax, bx
        mul bx                      ; p*p fits in AX: p stays below 101
        cmp ax, SIEVE_N
        jae .count
        cmp byte [es:bx], 0
        jne .nextp
        mov di, ax
.mark:  mov byte [es:di], 1
        add di, bx
        cmp di, SIEVE_N
        jb .mark
.nextp: inc bx
        jmp .outer

; REPE SCASB skips runs of composite flags; it stops just past the next prime.
.count: xor di, di
        mov cx, SIEVE_N
        mov al, 1
        xor bp, bp                  ; number of primes
        xor si, si                  ; their sum, DX:SI
        xor dx, dx
.scan:  jcxz .done                  ; with CX = 0 a REP does nothing and leaves ZF stale
        repe scasb
        je .done                    ; ran out while still on composites
        lea bx, [di - 1]            ; the prime (also the largest so far)
        inc bp
        add si, bx
        adc dx, 0
        jmp .scan
.done:  push dx
        push si
        PRINT `sieve: `
        mov ax, bp
        call print_dec16
        PRINT ` primes below `
        mov ax, SIEVE_N
        call print_dec16
        PRINT `, largest `
        mov ax, bx
        call print_dec16
        PRINT `, sum `
        pop ax
        pop dx
        call print_dec32
        mov al, `\n`
        out PORT_E9, al
        ret

; ------------------------------------------------------------------------ fibonacci
run_fib:
        mov word [ss:V_CALLS], 0
        mov ax, FIB_N
        call fib
        push ax
        PRINT `fib(`
        mov ax, FIB_N
        call print_dec16
        PRINT `) = `
        pop ax
        call print_dec16
        PRINT ` in `
        mov ax, [ss:V_CALLS]
        call print_dec16
        PRINT ` calls\n`
        ret

fib:                                ; AX = n -> AX = fib(n), naively
        inc word [ss:V_CALLS]
        cmp ax, 2
        jb .leaf
        push ax
        dec ax
        call fib
        pop bx
        push ax
        lea ax, [bx - 2]
        call fib
        pop bx
        add ax, bx
.leaf:  ret

; ------------------------------------------------------------------------ crc-32
; The reflected CRC-32 of zlib and Ethernet: start 0xFFFFFFFF, polynomial 0xEDB88320,
; final complement.  Run over the standard check string and over the sieve flags.
run_crc:
        cmp byte [ss:V_CLASS], 3
        jne .small
        PRINT `crc32 code: 32-bit table\n`
        call crc32_table_init
        jmp .go
.small: PRINT `crc32 code: 16-bit bitwise\n`
.go:    push cs
        pop ds
        mov si, check_str
        mov cx, CHECK_LEN
        call crc32
        push dx
        push ax
        PRINT `crc32("123456789") = `
        pop ax
        pop dx
        call print_hex32
        mov al, `\n`
        out PORT_E9, al

        mov ax, SIEVE_SEG
        mov ds, ax
        xor si, si
        mov cx, SIEVE_N
        call crc32
        push cs
        pop ds
        push dx
        push ax
        PRINT `crc32(sieve flags) = `
        pop ax
        pop dx
        call print_hex32
        mov al, `\n`
        out PORT_E9, al
        ret

check_str:  db "123456789"
CHECK_LEN   equ $ - check_str

crc32:                              ; DS:SI data, CX length (> 0) -> DX:AX = CRC-32
        cmp byte [ss:V_CLASS], 3
        jne .bits
        jmp crc32_386
.bits:  mov ax, 0xFFFF
        mov dx, ax
.byte:  xor al, [si]
        inc si
        mov bl, 8
.bit:   shr dx, 1
        rcr ax, 1
        jnc .nox
        xor dx, POLY_HI
        xor ax, POLY_LO
.nox:   dec bl
        jnz .bit
        loop .byte
        not ax
        not dx
        ret

        cpu 386
; Only reached when detect_cpu found a 386: these use 32-bit registers, MOVZX, FS and a
; scaled index, all of which fault (or mean something else) on older processors.
crc32_table_init:                   ; TABLE_SEG:4*i = CRC of the byte i
        push es
        mov ax, TABLE_SEG
        mov es, ax
        xor di, di
        xor ecx, ecx
.entry: mov eax, ecx
        mov bl, 8
.bit:   shr eax, 1
        jnc .nox
        xor eax, (POLY_HI << 16) | POLY_LO
.nox:   dec bl
        jnz .bit
        stosd
        inc cx
        cmp cx, 256
        jb .entry
        pop es
        ret

crc32_386:
        push fs
        mov ax, TABLE_SEG
        mov fs, ax
        or eax, -1
.byte:  movzx ebx, byte [si]
        inc si
        xor bl, al
        shr eax, 8
        xor eax, [fs:ebx * 4]
        loop .byte
        not eax
        mov edx, eax
        shr edx, 16                 ; hand back DX:AX like the 16-bit version
        pop fs
        ret
        cpu 8086

; ------------------------------------------------------------------------ string moves
; Rotate the alphabet left by 5 with a forward overlapping move, then right by 2 with a
; backward one; the result is the alphabet rotated left by 3.  Then find 'Z' with REPNE SCASB.
run_rotate:
        xor ax, ax
        mov es, ax
        mov si, alphabet            ; DS = ROM
        mov di, BUF
        mov cx, ALPHA_LEN / 2
        rep movsw
        mov byte [es:BUF + ALPHA_LEN], 0

        mov ds, ax                  ; from here both sides are in RAM
        mov si, BUF                 ; save the first 5
        mov di, TMP
        mov cx, 5
        rep movsb
        mov si, BUF + 5             ; slide the rest down over them
        mov di, BUF
        mov cx, ALPHA_LEN - 5
        rep movsb
        mov si, TMP                 ; and put the saved 5 at the end
        mov cx, 5
        rep movsb

        mov si, BUF + ALPHA_LEN - 2 ; save the last 2
        mov di, TMP
        mov cx, 2
        rep movsb
        std                         ; slide the rest up, last byte first
        mov si, BUF + ALPHA_LEN - 3
        mov di, BUF + ALPHA_LEN - 1
        mov cx, ALPHA_LEN - 2
        rep movsb
        cld
        mov si, TMP                 ; and put the saved 2 in front
        mov di, BUF
        movsw

        mov di, BUF                 ; where is the 'Z' now?
        mov cx, ALPHA_LEN
        mov al, 'Z'
        repne scasb
        sub di, BUF + 1
        push di

        push cs
        pop ds
        PRINT `rotate: `
        xor ax, ax
        mov ds, ax
        mov si, BUF
        call print_str
        push cs
        pop ds
        PRINT `, 'Z' at `
        pop ax
        call print_dec16
        mov al, `\n`
        out PORT_E9, al
        ret

alphabet:   db "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

; ------------------------------------------------------------------------ printing
; All of these keep every register except where they return something (none do).

print_inline:                       ; the string follows the CALL
        push bp
        mov bp, sp
        push ax
        push si
        mov si, [bp + 2]
.next:  cs lodsb
        test al, al
        jz .done
        out PORT_E9, al
        jmp .next
.done:  mov [bp + 2], si
        pop si
        pop ax
        pop bp
        ret

print_str:                          ; DS:SI, NUL-terminated
        push ax
        push si
.next:  lodsb
        test al, al
        jz .done
        out PORT_E9, al
        jmp .next
.done:  pop si
        pop ax
        ret

print_dec16:                        ; AX, unsigned
        push dx
        xor dx, dx
        call print_dec32
        pop dx
        ret

print_dec32:                        ; DX:AX, unsigned: divide by 10 a word at a time
        push ax
        push bx
        push cx
        push dx
        push si
        mov si, 10
        xor cx, cx                  ; digits pushed
.div:   mov bx, ax
        mov ax, dx
        xor dx, dx
        div si                      ; high word / 10
        xchg ax, bx                 ; BX = high quotient, AX = low word
        div si                      ; (remainder:low) / 10
        push dx
        inc cx
        mov dx, bx                  ; DX:AX = quotient
        mov bx, ax
        or bx, dx
        jnz .div
.out:   pop ax
        add al, '0'
        out PORT_E9, al
        loop .out
        pop si
        pop dx
        pop cx
        pop bx
        pop ax
        ret

print_hex32:                        ; DX:AX
        push ax
        mov ax, dx
        call print_hex16
        pop ax
        ; fall through

print_hex16:                        ; AX
        push ax
        push cx
        mov cl, 8
        rol ax, cl                  ; high byte first
        call print_hex8
        rol ax, cl
        call print_hex8
        pop cx
        pop ax
        ret

print_hex8:                         ; AL
        push ax
        push cx
        mov ah, al
        mov cl, 4
        shr al, cl
        call .digit
        mov al, ah
        and al, 0x0F
        call .digit
        pop cx
        pop ax
        ret
.digit: add al, '0'
        cmp al, '9'
        jbe .put
        add al, 'A' - '9' - 1
.put:   out PORT_E9, al
        ret

; ------------------------------------------------------------------------ reset vector
%if ($ - $$) > 0xFFF0
%error "code overlaps the reset vector"
%endif
        times 0xFFF0 - ($ - $$) db 0xFF
reset:  jmp ROM_SEG:start
        times 0x10000 - ($ - $$) db 0xFF
