; pm_exceptions - the protected-mode exceptions, their error codes and return addresses.
;
; One or more causes of each of #DE #DB #BP #OF #BR #UD #NM #DF #TS #NP #SS #GP #PF and (on a
; 486 or later) #AC, following SDM vol. 3 6.15 "Exception and Interrupt Reference" and
; chapter 17 (debug registers): a fault pushes the address of the faulting instruction, a
; trap that of the next one; #DF's saved EIP is undefined and not checked.  The double-fault
; rules of table 6-5 are checked both ways: a contributory fault while delivering a
; contributory one is #DF, while delivering a benign one it is not.
;
;   nasm -f bin -i tests/guests/ -o pm_exceptions.rom tests/guests/pm_exceptions.asm

%define GUEST_NAME "pm_exceptions"
%include "pm.inc"

SEL_TSS_SMALL   equ SEL_GUEST + 0x00    ; a TSS with limit 0x50 < 0x67
SEL_NP          equ SEL_GUEST + 0x08    ; data, not present
SEL_SS1M        equ SEL_GUEST + 0x10    ; data, limit 0xFFFFF bytes (a stack)

TSS_SMALL_BASE  equ 0x4000
DATA            equ GVARS + 0x40        ; dwords watched by data breakpoints
DATA2           equ GVARS + 0x48
DATA3           equ GVARS + 0x50
BOUNDS          equ GVARS + 0x60        ; BOUND's pair: 10, 20
PD              equ PAGE_TABLES
PT0             equ PAGE_TABLES + 0x1000
PAGE_NP         equ 0x207000

DR7_LE_GE       equ 3 << 8
CR0_MP          equ 1 << 1
CR0_EM          equ 1 << 2
CR0_TS          equ 1 << 3
CR0_AM          equ 1 << 18

guest_main:
        ; ------------------------------------------------------------ #DE
        xor ecx, ecx
        EXPECT "de-div-by-zero", 0, 0, div ecx
        mov eax, 0x80000000
        mov edx, 0xFFFFFFFF
        mov ecx, -1
        EXPECT "de-idiv-overflow", 0, 0, idiv ecx
        mov eax, 0x1000
        mov cl, 0x10
        EXPECT "de-div8-quotient-too-big", 0, 0, div cl

        ; ------------------------------------------------------------ #DB
        ; Single step: POPF sets TF; the trap follows the instruction after the POPF.
        xor eax, eax
        mov dr6, eax
        TRY .r1
        pushfd
        or dword [esp], FL_TF
        popfd
        nop
.after_step:
.r1:    CHECK_FAULT "db-single-step", 1, 0, .after_step
        mov eax, [fault_dr6]
        CHECK_MASKED "db-single-step-dr6-bs", 0x4000 | 0xF, 0x4000
        mov eax, [fault_eflags]
        CHECK_MASKED "db-single-step-pushed-tf", FL_TF, FL_TF
        ; A MOV SS holds the single-step trap back for one more instruction (SDM 6.8.3).
        TRY .r1b
        mov ax, ss
        pushfd
        or dword [esp], FL_TF
        popfd
        mov ss, ax
        nop
.after_ss_step:
.r1b:   CHECK_FAULT "db-single-step-after-mov-ss-delayed", 1, 0, .after_ss_step
        ; An instruction breakpoint (DR0, R/W=00, LEN=00) is a fault.
        xor eax, eax
        mov dr6, eax
        mov eax, .bp_insn
        mov dr0, eax
        mov eax, 1                      ; L0
        mov dr7, eax
        TRY .r2
        nop
.bp_insn:
        nop
.r2:    xor eax, eax
        mov dr7, eax
        CHECK_FAULT "db-instruction-breakpoint", 1, 0, .bp_insn
        mov eax, [fault_dr6]
        CHECK_MASKED "db-instruction-breakpoint-dr6", 0x4000 | 0xF, 1
        ; A data write breakpoint (DR1, R/W=01, LEN=11: a dword) is a trap.
        xor eax, eax
        mov dr6, eax
        mov eax, DATA
        mov dr1, eax
        mov eax, DR7_LE_GE | (1 << 2) | (01b << 20) | (11b << 22)
        mov dr7, eax
        EXPECT_TRAP "db-data-write", 1, 0, mov byte [DATA + 2], 5
        xor eax, eax
        mov dr7, eax
        mov eax, [fault_dr6]
        CHECK_MASKED "db-data-write-dr6", 0x4000 | 0xF, 2
        ; R/W=11 traps reads too (DR2).
        xor eax, eax
        mov dr6, eax
        mov eax, DATA2
        mov dr2, eax
        mov eax, DR7_LE_GE | (1 << 4) | (11b << 24) | (11b << 26)
        mov dr7, eax
        EXPECT_TRAP "db-data-read", 1, 0, mov eax, [DATA2]
        xor eax, eax
        mov dr7, eax
        mov eax, [fault_dr6]
        CHECK_MASKED "db-data-read-dr6", 0x4000 | 0xF, 4
        ; R/W=01 LEN=00 (DR3): one byte, writes only.
        xor eax, eax
        mov dr6, eax
        mov eax, DATA3
        mov dr3, eax
        mov eax, DR7_LE_GE | (1 << 6) | (01b << 28) | (00b << 30)
        mov dr7, eax
        EXPECT_OK "db-write-breakpoint-ignores-read", mov al, [DATA3]
        EXPECT_OK "db-byte-breakpoint-misses-next-byte", mov byte [DATA3 + 1], 1
        EXPECT_TRAP "db-byte-write", 1, 0, mov byte [DATA3], 1
        xor eax, eax
        mov dr7, eax
        mov eax, [fault_dr6]
        CHECK_MASKED "db-byte-write-dr6", 0x4000 | 0xF, 8
        ; DR7.GD: the next MOV to or from a debug register is a #DB fault with DR6.BD,
        ; and the processor clears GD to let the handler use the registers.
        xor eax, eax
        mov dr6, eax
        mov eax, 1 << 13
        mov dr7, eax
        EXPECT "db-general-detect", 1, 0, mov dr0, eax
        mov eax, [fault_dr6]
        CHECK_MASKED "db-general-detect-dr6-bd", 0x2000, 0x2000
        mov eax, dr7
        CHECK_MASKED "db-general-detect-clears-gd", 1 << 13, 0
        xor eax, eax
        mov dr7, eax

        ; ------------------------------------------------------------ #BP #OF #BR
        EXPECT_TRAP "bp-int3", 3, 0, int3
        EXPECT_TRAP "bp-int-3-two-bytes", 3, 0, int 3
        mov al, 0x7F
        add al, 1                       ; OF=1
        EXPECT_TRAP "of-into", 4, 0, into
        xor eax, eax                    ; OF=0
        EXPECT_OK "of-into-no-overflow", into
        mov dword [BOUNDS], 10
        mov dword [BOUNDS + 4], 20
        mov eax, 21
        EXPECT "br-bound-above", 5, 0, bound eax, [BOUNDS]
        mov eax, 9
        EXPECT "br-bound-below", 5, 0, bound eax, [BOUNDS]
        mov eax, 20
        EXPECT_OK "br-bound-inside", bound eax, [BOUNDS]

        ; ------------------------------------------------------------ #UD
        EXPECT "ud-ud2", 6, 0, ud2
        EXPECT "ud-lock-nop", 6, 0, db 0xF0, 0x90
        EXPECT "ud-mov-cs", 6, 0, db 0x8E, 0xC8
        EXPECT "ud-lea-register", 6, 0, db 0x8D, 0xC0

        ; ------------------------------------------------------------ #NM
        mov eax, cr0
        or eax, CR0_EM
        mov cr0, eax
        EXPECT "nm-esc-em", 7, 0, fninit
        mov eax, cr0
        and eax, ~(CR0_EM | CR0_MP)
        or eax, CR0_TS
        mov cr0, eax
        EXPECT "nm-esc-ts", 7, 0, fninit
        EXPECT_OK "wait-ts-without-mp", wait
        mov eax, cr0
        or eax, CR0_MP
        mov cr0, eax
        EXPECT "nm-wait-mp-ts", 7, 0, wait
        mov eax, cr0
        and eax, ~(CR0_TS | CR0_MP)
        or eax, CR0_EM
        mov cr0, eax
        EXPECT_OK "wait-ignores-em", wait
        mov eax, cr0
        and eax, ~(CR0_EM | CR0_MP | CR0_TS)
        mov cr0, eax

        ; ------------------------------------------------------------ #DF and the benign rule
        ; #DE (contributory) whose gate is not present: the #NP is contributory too -> #DF.
        and byte [IDT_BASE + 0 * 8 + 5], 0x7F
        xor ecx, ecx
        TRY .r_df
        div ecx
.r_df:  CHECK_FAULT "df-de-gate-not-present", 8, 0, ANY    ; #DF's saved EIP is undefined
        mov ecx, 0
        call reset_idt
        ; #UD (benign) whose gate is not present: just #NP(IDT vector, EXT=1).
        and byte [IDT_BASE + 6 * 8 + 5], 0x7F
        EXPECT "np-ud-gate-not-present", 11, 6 * 8 + 2 + 1, ud2
        mov ecx, 6
        call reset_idt
        ; INT3 is a software interrupt: EXT=0.
        and byte [IDT_BASE + 3 * 8 + 5], 0x7F
        EXPECT "np-int3-gate-not-present", 11, 3 * 8 + 2, int3
        mov ecx, 3
        call reset_idt

        ; ------------------------------------------------------------ #TS #NP #SS #GP
        mov edi, TSS_SMALL_BASE
        mov ecx, 0x68
        xor al, al
        rep stosb
        EXPECT "ts-tss-limit-below-67h", 10, SEL_TSS_SMALL, jmp SEL_TSS_SMALL:0
        mov eax, SEL_NP
        EXPECT "np-data-segment", 11, SEL_NP, mov es, ax
        mov eax, SEL_NP
        EXPECT "ss-stack-segment-not-present", 12, SEL_NP, mov ss, ax
        TRY .r3
        mov ax, SEL_SS1M
        mov ss, ax
.f3:    mov eax, [ss:0x100000]
        mov ax, SEL_DATA32
        mov ss, ax
.r3:    CHECK_FAULT "ss-stack-limit", 12, 0, .f3
        mov eax, SEL_BEYOND_GDT
        EXPECT "gp-selector-beyond-gdt", 13, SEL_BEYOND_GDT, mov ds, ax
        EXPECT "gp-instruction-too-long", 13, 0, db 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x90
        EXPECT_OK "gp-instruction-15-bytes-ok", db 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x3E, 0x90
        mov word [GVARS + 0x80], 0x40 * 8 - 1   ; an IDT of 64 vectors
        mov dword [GVARS + 0x82], IDT_BASE
        lidt [GVARS + 0x80]
        EXPECT "gp-int-beyond-idt-limit", 13, 0x50 * 8 + 2, int 0x50
        lidt [idtr_rom]
        mov ecx, 0x51                   ; a TSS descriptor is no gate
        mov eax, TSS_SMALL_BASE
        mov dx, 0x0068
        mov bx, 0x8900
        call set_idt
        EXPECT "gp-idt-entry-not-a-gate", 13, 0x51 * 8 + 2, int 0x51
        call reset_idt

        ; ------------------------------------------------------------ #PF
        mov edi, PD
        mov ecx, 2 * 1024
        xor eax, eax
        rep stosd
        mov edi, PT0
        mov eax, 7
        mov ecx, 1024
.pte:   stosd
        add eax, 0x1000
        loop .pte
        mov dword [PD], PT0 | 7
        mov dword [PT0 + (PAGE_NP >> 12) * 4], 0
        mov eax, PD
        mov cr3, eax
        mov eax, cr0
        or eax, 0x80000000
        mov cr0, eax
        jmp .paged
.paged: EXPECT "pf-read-not-present", 14, 0, mov eax, [PAGE_NP + 0x44]
        mov eax, [fault_cr2]
        CHECK_EAX "pf-read-not-present-cr2", PAGE_NP + 0x44
        EXPECT "pf-write-not-present", 14, 2, mov [PAGE_NP + 0x48], eax
        mov eax, cr0
        and eax, 0x7FFFFFFF
        mov cr0, eax

        ; ------------------------------------------------------------ #AC
        cmp dword [cpu_class], 4
        jb .no_ac
        mov eax, cr0
        or eax, CR0_AM
        mov cr0, eax
        RING3_EXPECT "ac-misaligned-dword", 17, 0, FL_AC | 2, mov eax, [ss:STACK3_TOP - 0x11]
        RING3_EXPECT "ac-misaligned-word", 17, 0, FL_AC | 2, mov ax, [ss:STACK3_TOP - 0x11]
        RING3_OK "ac-aligned-dword", FL_AC | 2, mov eax, [ss:STACK3_TOP - 0x10]
        RING3_OK "ac-byte-never", FL_AC | 2, mov al, [ss:STACK3_TOP - 0x11]
        RING3_OK "ac-flag-clear", 2, mov eax, [ss:STACK3_TOP - 0x11]
        TRY .r4
        pushfd
        or dword [esp], FL_AC
        popfd
        mov eax, [STACK3_TOP - 0x11]    ; CPL 0: never checked
        pushfd
        and dword [esp], ~FL_AC
        popfd
.r4:    CHECK_FAULT "ac-ring0-never", NO_FAULT, ANY, ANY
        mov eax, cr0
        and eax, ~CR0_AM
        mov cr0, eax
        RING3_OK "ac-am-clear", FL_AC | 2, mov eax, [ss:STACK3_TOP - 0x11]
.no_ac:
        ret

guest_gdt:
        DESC TSS_SMALL_BASE, 0x50, 0x89, 0x0    ; SEL_TSS_SMALL
        DESC 0, 0xFFFFF, 0x12, 0xC              ; SEL_NP
        DESC 0, 0xFFFFF, 0x92, 0x4              ; SEL_SS1M
guest_gdt_end:

        ROM_END
