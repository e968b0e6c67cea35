; pm_selectors - loading segment registers in protected mode, and using what was loaded.
;
; The checks of MOV Sreg / POP Sreg (SDM vol. 2, MOV "Protected Mode Exceptions"; 80386 PRM
; chapter 6), in the order the processor makes them: null selector, table limit, descriptor
; type, privilege (RPL, DPL, CPL), presence.  Then the checks every access makes against the
; loaded descriptor cache: null selector, writability, limit (expand-up, expand-down with
; B=0 and B=1, the G bit, SS and CS); the accessed bit the processor sets in the GDT; and the
; selector-checking instructions LAR, LSL, VERR and VERW.
;
;   nasm -f bin -i tests/guests/ -o pm_selectors.rom tests/guests/pm_selectors.asm

%define GUEST_NAME "pm_selectors"
%include "pm.inc"

SEL_RO          equ SEL_GUEST + 0x00    ; data, read-only
SEL_XO          equ SEL_GUEST + 0x08    ; code, execute-only
SEL_XR          equ SEL_GUEST + 0x10    ; code, execute/read
SEL_XRC         equ SEL_GUEST + 0x18    ; code, execute/read, conforming
SEL_NP          equ SEL_GUEST + 0x20    ; data, not present
SEL_LIM         equ SEL_GUEST + 0x28    ; data, base 1 MiB, limit 0xFFF
SEL_ED32        equ SEL_GUEST + 0x30    ; data, expand-down, limit 0xFFF, B=1
SEL_ED16        equ SEL_GUEST + 0x38    ; data, expand-down, limit 0xFFF, B=0
SEL_G           equ SEL_GUEST + 0x40    ; data, limit 0 with G=1: 0xFFF
SEL_SS1M        equ SEL_GUEST + 0x48    ; data, base 0, limit 0xFFFFF bytes (a stack)
SEL_ACC         equ SEL_GUEST + 0x50    ; data, never loaded before the accessed-bit check
SEL_LDTD        equ SEL_GUEST + 0x58    ; the LDT at LDT_BASE, 3 entries
SEL_CODE1M      equ SEL_GUEST + 0x60    ; code, 32-bit, base 0, limit 0xFFFFF bytes
SEL_LARD        equ SEL_GUEST + 0x68    ; data, DPL 2, AVL, odd base and limit: LAR/LSL
SEL_G1          equ SEL_GUEST + 0x70    ; data, limit 1 with G=1: 0x1FFF

LDT_DATA        equ (1 << 3) | 4        ; LDT entry 1: data, base 1 MiB
LDT_BEYOND      equ (3 << 3) | 4        ; beyond the LDT's limit

SEG_MEM         equ 0x100000            ; where the small segments are based

SAVED_ESP       equ GVARS + 0x00

; Load FS with %1 (AX is used).
%macro LOAD_FS 1
        mov ax, %1
        mov fs, ax
%endmacro

guest_main:
        ; ------------------------------------------------------------ null selectors
        xor eax, eax
        EXPECT "ss-null", 13, 0, mov ss, ax
        xor eax, eax
        EXPECT_OK "ds-null-load", mov ds, ax
        mov eax, 3
        EXPECT_OK "es-null-rpl3-load", mov es, ax
        TRY .r1
        xor eax, eax
        mov ds, ax
.f1:    mov ecx, [VARS]
.r1:    CHECK_FAULT "ds-null-use", 13, 0, .f1
        TRY .r2
        xor eax, eax
        mov es, ax
        mov edi, GVARS + 0x80
.f2:    stosb
.r2:    CHECK_FAULT "es-null-stos", 13, 0, .f2
        TRY .r3
        xor eax, eax
        mov fs, ax
.f3:    mov [fs:GVARS + 0x80], eax
.r3:    CHECK_FAULT "fs-null-write", 13, 0, .f3

        ; ------------------------------------------------------------ table limits
        mov eax, SEL_BEYOND_GDT
        EXPECT "gdt-beyond-limit", 13, SEL_BEYOND_GDT, mov ds, ax
        mov eax, SEL_BEYOND_GDT | 3     ; the error code has no RPL
        EXPECT "gdt-beyond-limit-rpl3", 13, SEL_BEYOND_GDT, mov es, ax
        xor eax, eax                    ; a null LDTR: every LDT reference faults
        lldt ax
        mov eax, LDT_DATA
        EXPECT "ldt-selector-no-ldt", 13, LDT_DATA, mov ds, ax
        call build_ldt
        mov eax, SEL_LDTD
        lldt ax
        mov eax, LDT_DATA
        EXPECT_OK "ldt-selector-load", mov fs, ax
        TRY .r4
        mov eax, LDT_DATA
        mov fs, ax
        mov dword [fs:0x10], 0x1D71D7
.r4:    CHECK_FAULT "ldt-segment-write", NO_FAULT, ANY, ANY
        mov eax, [SEG_MEM + 0x10]
        CHECK_EAX "ldt-segment-base", 0x1D71D7
        mov eax, LDT_BEYOND
        EXPECT "ldt-beyond-limit", 13, LDT_BEYOND, mov ds, ax
        mov eax, SEL_TSS
        EXPECT "lldt-tss-descriptor", 13, SEL_TSS, lldt ax

        ; ------------------------------------------------------------ descriptor types
        mov eax, SEL_TSS
        EXPECT "ds-tss-descriptor", 13, SEL_TSS, mov ds, ax
        mov eax, SEL_LDTD
        EXPECT "fs-ldt-descriptor", 13, SEL_LDTD, mov fs, ax
        mov eax, SEL_EXIT
        EXPECT "gs-call-gate", 13, SEL_EXIT & ~3, mov gs, ax
        mov eax, SEL_XO
        EXPECT "ds-execute-only-code", 13, SEL_XO, mov ds, ax
        mov eax, SEL_XR
        EXPECT_OK "ds-execute-read-code", mov ds, ax
        TRY .r5
        mov eax, SEL_XR
        mov ds, ax
        mov eax, [ROM_BASE]
.r5:    CHECK_FAULT "execute-read-code-read", NO_FAULT, ANY, ANY
        TRY .r6
        mov eax, SEL_XR
        mov ds, ax
.f6:    mov [GVARS + 0x80], eax
.r6:    CHECK_FAULT "execute-read-code-write", 13, 0, .f6
        mov eax, SEL_XR
        EXPECT "ss-code", 13, SEL_XR, mov ss, ax
        mov eax, SEL_RO
        EXPECT_OK "ds-read-only-load", mov ds, ax
        TRY .r7
        mov eax, SEL_RO
        mov ds, ax
.f7:    mov [GVARS + 0x80], eax
.r7:    CHECK_FAULT "read-only-write", 13, 0, .f7
        TRY .r8
        mov eax, SEL_RO
        mov es, ax
        mov edi, GVARS + 0x80
.f8:    stosd
.r8:    CHECK_FAULT "read-only-stos", 13, 0, .f8
        mov eax, SEL_RO
        EXPECT "ss-read-only", 13, SEL_RO, mov ss, ax

        ; ------------------------------------------------------------ privilege
        mov eax, SEL_DATA32 | 3
        EXPECT "ds-rpl3-dpl0", 13, SEL_DATA32, mov ds, ax
        mov eax, SEL_DATA3
        EXPECT_OK "ds-dpl3-at-cpl0", mov ds, ax
        mov eax, SEL_DATA3
        EXPECT "ss-dpl3-at-cpl0", 13, SEL_DATA3 & ~3, mov ss, ax
        mov eax, SEL_DATA32 | 3
        EXPECT "ss-rpl3-at-cpl0", 13, SEL_DATA32, mov ss, ax
        mov eax, SEL_XRC | 3            ; no privilege check for conforming code
        EXPECT_OK "ds-conforming-rpl3", mov ds, ax
        mov eax, SEL_XR | 3
        EXPECT "ds-code-rpl3-dpl0", 13, SEL_XR, mov ds, ax
        TRY .r9
        RING3 2, .ring3_ds
.ring3_ds:
        mov ax, SEL_DATA32
.f9:    mov ds, ax
        EXIT3
.r9:    CHECK_FAULT "ds-dpl0-at-cpl3", 13, SEL_DATA32, .f9
        mov eax, [fault_cs]
        CHECK_EAX "ds-dpl0-at-cpl3-cs", SEL_CODE3
        TRY .r10
        RING3 2, .ring3_ss
.ring3_ss:
        mov ax, SEL_DATA32 | 3
.f10:   mov ss, ax
        EXIT3
.r10:   CHECK_FAULT "ss-dpl0-at-cpl3", 13, SEL_DATA32, .f10

        ; ------------------------------------------------------------ presence
        mov eax, SEL_NP
        EXPECT "ds-not-present", 11, SEL_NP, mov ds, ax
        mov eax, SEL_NP
        EXPECT "gs-not-present", 11, SEL_NP, mov gs, ax
        mov eax, SEL_NP
        EXPECT "ss-not-present", 12, SEL_NP, mov ss, ax
        mov eax, SEL_NP | 3             ; privilege is checked before presence
        EXPECT "not-present-rpl3-is-gp", 13, SEL_NP, mov ds, ax

        ; POP DS faults before it pops: ESP still points at the selector.
        TRY .r11
        push dword SEL_XO
        mov [SAVED_ESP], esp
.f11:   pop ds
.r11:   CHECK_FAULT "pop-ds-execute-only", 13, SEL_XO, .f11
        mov eax, [fault_frame]
        add eax, 16                     ; past the error code, EIP, CS and EFLAGS
        sub eax, [SAVED_ESP]
        CHECK_EAX "pop-ds-fault-keeps-esp", 0

        ; ------------------------------------------------------------ limits
        ; Expand-up, byte granular, limit 0xFFF: offsets 0 to 0xFFF, the whole access.
        LOAD_FS SEL_LIM
        EXPECT_OK "limit-last-byte", mov al, [fs:0xFFF]
        LOAD_FS SEL_LIM
        EXPECT_OK "limit-last-dword", mov eax, [fs:0xFFC]
        LOAD_FS SEL_LIM
        EXPECT "limit-dword-crosses", 13, 0, mov eax, [fs:0xFFD]
        LOAD_FS SEL_LIM
        EXPECT "limit-beyond", 13, 0, mov byte [fs:0x1000], 0
        LOAD_FS SEL_LIM
        EXPECT "limit-far-beyond", 13, 0, mov al, [fs:0x80000000]
        ; Expand-down with B=1: offsets limit+1 to 0xFFFFFFFF.
        LOAD_FS SEL_ED32
        EXPECT_OK "expand-down-b1-above-limit", mov al, [fs:0x1000]
        LOAD_FS SEL_ED32
        EXPECT_OK "expand-down-b1-high", mov eax, [fs:0xFFF00010]
        LOAD_FS SEL_ED32
        EXPECT "expand-down-b1-at-limit", 13, 0, mov al, [fs:0xFFF]
        LOAD_FS SEL_ED32
        EXPECT "expand-down-b1-offset-0", 13, 0, mov al, [fs:0]
        LOAD_FS SEL_ED32
        EXPECT "expand-down-b1-dword-crosses", 13, 0, mov eax, [fs:0xFFE]
        ; Expand-down with B=0: offsets limit+1 to 0xFFFF.
        LOAD_FS SEL_ED16
        EXPECT_OK "expand-down-b0-top-byte", mov al, [fs:0xFFFF]
        LOAD_FS SEL_ED16
        EXPECT "expand-down-b0-above-64k", 13, 0, mov al, [fs:0x10000]
        LOAD_FS SEL_ED16
        EXPECT "expand-down-b0-word-at-top", 13, 0, mov ax, [fs:0xFFFF]
        LOAD_FS SEL_ED16
        EXPECT "expand-down-b0-at-limit", 13, 0, mov al, [fs:0xFFF]
        ; G=1 scales the limit by 4 KiB and fills the low 12 bits with ones.
        LOAD_FS SEL_G
        EXPECT_OK "granular-limit-0-last", mov al, [fs:0xFFF]
        LOAD_FS SEL_G
        EXPECT "granular-limit-0-beyond", 13, 0, mov al, [fs:0x1000]
        LOAD_FS SEL_G1
        EXPECT_OK "granular-limit-1-last", mov al, [fs:0x1FFF]
        LOAD_FS SEL_G1
        EXPECT "granular-limit-1-beyond", 13, 0, mov al, [fs:0x2000]
        ; SS: a limit violation is #SS(0).
        TRY .r12
        mov ax, SEL_SS1M
        mov ss, ax
.f12:   mov eax, [ss:0x100000]
        mov ax, SEL_DATA32
        mov ss, ax
.r12:   CHECK_FAULT "ss-limit", 12, 0, .f12
        TRY .r13
        mov ax, SEL_SS1M
        mov ss, ax
        mov ebp, 0xFFFFE
.f13:   mov eax, [ebp]                  ; EBP-based: SS
        mov ax, SEL_DATA32
        mov ss, ax
.r13:   CHECK_FAULT "ss-limit-ebp-dword", 12, 0, .f13
        ; CS: a jump beyond the code segment's limit faults at the jump.
        mov al, [GDT_BASE + SEL_CODE1M + 5]
        movzx eax, al
        CHECK_EAX "code-accessed-clear-before", 0x9A
        ; Should the jump be taken, the code at 0x100000 comes back to report it.
        mov byte [0x100000], 0xEA       ; JMP FAR SEL_CODE32:.r14
        mov dword [0x100001], .r14
        mov word [0x100005], SEL_CODE32
        TRY .r14
        jmp SEL_CODE1M:.in_small_cs
.in_small_cs:
.f14:   jmp near 0x100000
.r14:   CHECK_FAULT "cs-limit-jmp", 13, 0, .f14
        mov eax, [fault_cs]
        CHECK_EAX "cs-limit-jmp-cs", SEL_CODE1M
        movzx eax, byte [GDT_BASE + SEL_CODE1M + 5]
        CHECK_EAX "code-accessed-set", 0x9B

        ; ------------------------------------------------------------ accessed bit
        movzx eax, byte [GDT_BASE + SEL_ACC + 5]
        CHECK_EAX "data-accessed-clear-before", 0x92
        mov ax, SEL_ACC
        mov gs, ax
        movzx eax, byte [GDT_BASE + SEL_ACC + 5]
        CHECK_EAX "data-accessed-set", 0x93
        movzx eax, byte [LDT_BASE + (LDT_DATA & ~7) + 5]
        CHECK_EAX "ldt-accessed-set", 0x93

        ; ------------------------------------------------------------ LAR LSL VERR VERW
        ; LAR: the descriptor's second dword AND 00F0FF00H; LSL: the limit in bytes.
        xor eax, eax
        mov ecx, SEL_LARD
        lar eax, ecx
        call zf_into_ebx
        CHECK_EAX "lar-data", 0x0050D200
        mov eax, ebx
        CHECK_EAX "lar-data-zf", 1
        mov ecx, SEL_LARD
        lsl eax, ecx
        CHECK_EAX "lsl-byte-granular", 0x5ABCD
        mov ecx, SEL_G1
        lsl eax, ecx
        CHECK_EAX "lsl-page-granular", 0x1FFF
        mov ecx, SEL_TSS
        lsl eax, ecx
        CHECK_EAX "lsl-tss", TSS_LIMIT
        mov ecx, SEL_EXIT
        lar eax, ecx
        call zf_into_ebx
        and eax, 0xFF00
        CHECK_EAX "lar-call-gate", 0xEC00
        mov ecx, SEL_EXIT               ; a gate has no limit: LSL leaves ZF clear
        mov eax, 0x12345678
        lsl eax, ecx
        call zf_into_ebx
        CHECK_EAX "lsl-call-gate-unchanged", 0x12345678
        mov eax, ebx
        CHECK_EAX "lsl-call-gate-zf", 0
        mov ecx, SEL_BEYOND_GDT
        lar eax, ecx
        call zf_into_ebx
        mov eax, ebx
        CHECK_EAX "lar-beyond-limit-zf", 0
        xor ecx, ecx
        lar eax, ecx
        call zf_into_ebx
        mov eax, ebx
        CHECK_EAX "lar-null-zf", 0
        mov ecx, SEL_LARD | 3           ; DPL 2 < RPL 3
        lar eax, ecx
        call zf_into_ebx
        mov eax, ebx
        CHECK_EAX "lar-rpl-above-dpl-zf", 0
        mov cx, SEL_XO
        verr cx
        call zf_into_ebx
        mov eax, ebx
        CHECK_EAX "verr-execute-only", 0
        mov cx, SEL_XR
        verr cx
        call zf_into_ebx
        mov eax, ebx
        CHECK_EAX "verr-execute-read", 1
        mov cx, SEL_XR
        verw cx
        call zf_into_ebx
        mov eax, ebx
        CHECK_EAX "verw-code", 0
        mov cx, SEL_RO
        verw cx
        call zf_into_ebx
        mov eax, ebx
        CHECK_EAX "verw-read-only", 0
        mov cx, SEL_DATA32
        verw cx
        call zf_into_ebx
        mov eax, ebx
        CHECK_EAX "verw-data", 1
        mov cx, SEL_DATA32 | 3
        verr cx
        call zf_into_ebx
        mov eax, ebx
        CHECK_EAX "verr-rpl3-dpl0", 0
        mov ecx, SEL_NP                 ; LAR does not look at P
        lar eax, ecx
        call zf_into_ebx
        and eax, 0xFF00
        CHECK_EAX "lar-not-present", 0x1200
        ; ARPL raises a selector's RPL to another's and says so in ZF.
        mov eax, 0xABCD0010
        mov ecx, 0x0003
        arpl ax, cx
        call zf_into_ebx
        CHECK_EAX "arpl-raises-rpl", 0xABCD0013
        mov eax, ebx
        CHECK_EAX "arpl-raises-rpl-zf", 1
        mov eax, 0x0012
        mov ecx, 0x0001
        arpl ax, cx
        call zf_into_ebx
        CHECK_EAX "arpl-keeps-higher-rpl", 0x0012
        mov eax, ebx
        CHECK_EAX "arpl-keeps-higher-rpl-zf", 0
        ret

; EBX = 1 if ZF is set, else 0 (flags and other registers kept).
zf_into_ebx:
        mov ebx, 0
        jnz .z
        inc ebx
.z:     ret

; LDT: entry 1 is a read/write data segment at SEG_MEM (64 KiB); entries 0 and 2 are null.
build_ldt:
        mov edi, LDT_BASE
        xor eax, eax
        mov ecx, 6
        rep stosd
        mov dword [LDT_BASE + 8], ((SEG_MEM & 0xFFFF) << 16) | 0xFFFF
        mov dword [LDT_BASE + 12], ((SEG_MEM >> 16) & 0xFF) | (0x92 << 8) | (SEG_MEM & 0xFF000000)
        ret

guest_gdt:
        DESC 0, 0xFFFFF, 0x90, 0xC              ; SEL_RO
        DESC 0, 0xFFFFF, 0x98, 0xC              ; SEL_XO
        DESC 0, 0xFFFFF, 0x9A, 0xC              ; SEL_XR
        DESC 0, 0xFFFFF, 0x9E, 0xC              ; SEL_XRC
        DESC 0, 0xFFFFF, 0x12, 0xC              ; SEL_NP
        DESC SEG_MEM, 0xFFF, 0x92, 0x4          ; SEL_LIM
        DESC SEG_MEM, 0xFFF, 0x96, 0x4          ; SEL_ED32
        DESC SEG_MEM, 0xFFF, 0x96, 0x0          ; SEL_ED16
        DESC SEG_MEM, 0, 0x92, 0xC              ; SEL_G
        DESC 0, 0xFFFFF, 0x92, 0x4              ; SEL_SS1M
        DESC SEG_MEM, 0xFFFF, 0x92, 0x4         ; SEL_ACC
        DESC LDT_BASE, 3 * 8 - 1, 0x82, 0x0     ; SEL_LDTD
        DESC 0, 0xFFFFF, 0x9A, 0x4              ; SEL_CODE1M
        DESC 0x12345678, 0x5ABCD, 0xD2, 0x5     ; SEL_LARD
        DESC SEG_MEM, 1, 0x92, 0xC              ; SEL_G1
guest_gdt_end:

        ROM_END
