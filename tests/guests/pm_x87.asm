; pm_x87 - the x87 as the CPU sees it: presence, #NM, #MF, FERR#/IRQ13, pointers and tags.
;
; Detection as software does it (FNINIT, FNSTSW into a word preset to 5A5Ah: no FPU leaves
; it, SDM vol. 1 8.1.3 and the 387 data sheet's detection code); CR0.EM and CR0.TS give
; #NM for every ESC instruction and CR0.MP with TS for WAIT (SDM vol. 3 Table 2-2, "Action
; taken for combinations of EM, MP and TS"), CLTS lets the instruction run (lazy FPU
; context switching); an unmasked exception is reported at the next waiting x87
; instruction, not at the one that raised it: #MF with CR0.NE = 1 (SDM vol. 1 8.6,
; vol. 3 6.15 "Interrupt 16"), while FNSTSW, FNCLEX and the other no-wait forms do not
; check; with CR0.NE = 0 on a PC the error arrives as IRQ13 through the slave 8259: the
; P6 asserts FERR# as the faulting instruction completes, the 486 and Pentium freeze
; before the next waiting instruction and assert it then, so either way the interrupt
; is taken with the next waiting instruction's address on the stack; the handler's OUT to
; port F0h clears the latch (SDM vol. 1 D.2, vol. 3 "Assertion of the FERR# pin"; IBM PC AT
; Technical Reference).  Also: FNSTENV's instruction and data pointers, selectors and
; opcode in 32-bit protected mode (SDM vol. 1 Figure 8-9), the tag word and TOP after two
; loads, and the masked stack-overflow response (IE, SF, C1 = 1, the real indefinite).
;
; Without an FPU (80386, 80486SX) only the #NM checks run (the i486SX raises #NM for any
; x87 instruction).  Without 8259s (no PIC answers at port 21h) the IRQ13 checks are left
; out.  The INFO line says which.
;
;   nasm -f bin -i tests/guests/ -o pm_x87.rom tests/guests/pm_x87.asm

%define GUEST_NAME "pm_x87"
%include "pm.inc"

VEC_IRQ13       equ 0x75                ; the slave 8259 at vectors 70h-77h, input 5
CR0_MP          equ 1 << 1
CR0_EM          equ 1 << 2
CR0_TS          equ 1 << 3
CR0_NE          equ 1 << 5

V_WORD          equ GVARS + 0x00
V_CW            equ GVARS + 0x04
V_SW            equ GVARS + 0x08
V_ENV           equ GVARS + 0x20        ; 28-byte FNSTENV image
V_HAS_FPU       equ GVARS + 0x40
V_HAS_PIC       equ GVARS + 0x44
V_IRQ_COUNT     equ GVARS + 0x48
V_IRQ_EIP       equ GVARS + 0x4C
V_IRQ_SW        equ GVARS + 0x50
V_ONE           equ GVARS + 0x60        ; 1.0 as a single
V_RESULT        equ GVARS + 0x70        ; 10 bytes

%macro CR0_SET 1
        mov eax, cr0
        or eax, %1
        mov cr0, eax
%endmacro

%macro CR0_CLEAR 1
        mov eax, cr0
        and eax, ~(%1)
        mov cr0, eax
%endmacro

guest_main:
        mov dword [V_ONE], 0x3F800000
        call detect
        call check_nm
        cmp dword [V_HAS_FPU], 0
        je .done
        call check_state
        cmp dword [cpu_class], 3
        je .no_ne                       ; CR0.NE is the 486's
        call check_mf
.no_ne:
        cmp dword [V_HAS_PIC], 0
        je .done
        call check_irq13
.done:
        ret

; ---------------------------------------------------------------- detection
detect:
        ; The i486SX raises #NM for FNINIT whatever CR0 says: then there is no FPU.
        mov word [V_WORD], 0x5A5A
        TRY .nm
        fninit
        fnstsw [V_WORD]
.nm:    mov dword [recover_eip], 0
        xor eax, eax
        cmp word [V_WORD], 0
        jne .none
        fnstcw [V_WORD]
        cmp word [V_WORD], 0x037F       ; FNINIT's control word
        jne .none
        inc eax
.none:  mov [V_HAS_FPU], eax
        ; A PIC answers its mask register: write and read back OCW1.
        mov al, 0xA5
        out 0x21, al
        in al, 0x21
        xor ebx, ebx
        cmp al, 0xA5
        jne .nopic
        inc ebx
.nopic: mov [V_HAS_PIC], ebx
        mov al, 0xFF
        out 0x21, al
        PRINT "INFO fpu="
        cmp dword [V_HAS_FPU], 0
        je .f0
        PRINT "yes"
        jmp .f1
.f0:    PRINT "no"
.f1:    PRINT " pic="
        cmp dword [V_HAS_PIC], 0
        je .p0
        PRINT `yes\n`
        ret
.p0:    PRINT `no\n`
        ret

; ---------------------------------------------------------------- #NM
check_nm:
        CR0_SET CR0_EM
        EXPECT "nm-em-fadd", 7, 0, fadd dword [V_ONE]
        EXPECT "nm-em-fninit", 7, 0, fninit
        CR0_CLEAR CR0_EM
        cmp dword [V_HAS_FPU], 0
        je .nofpu
        CR0_SET CR0_TS | CR0_MP
        EXPECT "nm-ts-fld", 7, 0, fld1
        EXPECT "nm-ts-fnstsw", 7, 0, fnstsw ax
        EXPECT "nm-ts-mp-wait", 7, 0, wait
        CR0_CLEAR CR0_MP
        EXPECT_OK "ts-without-mp-wait-runs", wait
        clts
        EXPECT_OK "clts-then-fld-runs", fld1
        fninit
.nofpu:
        ret

; ---------------------------------------------------------------- the unit's state
check_state:
        fninit
        fld dword [V_ONE]               ; 1.0: valid
.fld:   fldz                            ; 0.0: zero
        fnstenv [V_ENV]
        mov eax, [V_ENV + 8]
        CHECK_MASKED "tag-word-two-loads", 0xFFFF, 0x1FFF
        mov eax, [V_ENV + 4]
        CHECK_MASKED "top-after-two-loads", 0x3800, 6 << 11
        mov eax, [V_ENV + 12]           ; FIP: the last non-control instruction, FLDZ
        CHECK_EAX "fstenv-fip", .fld
        mov eax, [V_ENV + 16]
        CHECK_EAX "fstenv-fcs-fop", SEL_CODE32 | (0x1EE << 16)   ; D9 EE
        fninit
        fld dword [V_ONE]
        fnstenv [V_ENV]
        mov eax, [V_ENV + 20]
        CHECK_EAX "fstenv-fdp", V_ONE
        mov eax, [V_ENV + 24]
        CHECK_MASKED "fstenv-fds", 0xFFFF, SEL_DATA32
        mov eax, [V_ENV + 16]
        CHECK_EAX "fstenv-fop-memory-form", SEL_CODE32 | (0x105 << 16)  ; D9 05: FLD m32
        ; Nine pushes: the ninth finds ST(7) full.  Masked: IE, SF, C1 = 1, indefinite.
        fninit
%rep 9
        fld1
%endrep
        fnstsw ax
        CHECK_MASKED "stack-overflow-ie-sf-c1", 0x0241, 0x0241
        fstp tword [V_RESULT]
        mov eax, [V_RESULT + 6]
        CHECK_EAX "stack-overflow-indefinite", 0xFFFFC000
        fninit
        ret

; ---------------------------------------------------------------- #MF (CR0.NE = 1)
check_mf:
        CR0_SET CR0_NE
        fninit
        mov word [V_CW], 0x037B         ; ZE unmasked
        fldcw [V_CW]
        fld1
        fldz
        EXPECT_OK "mf-not-at-faulting-insn", fdivp st1, st0
        fnstsw ax                       ; no-wait: does not check
        CHECK_MASKED "mf-pending-es-b-ze", 0x8084, 0x8084
        EXPECT "mf-at-next-waiting-insn", 16, 0, fld1
        EXPECT "mf-wait", 16, 0, wait
        fnclex
        EXPECT_OK "fnclex-clears-pending", fld1
        fninit
        CR0_CLEAR CR0_NE
        ret

; ---------------------------------------------------------------- FERR# -> IRQ13 (CR0.NE = 0)
check_irq13:
        ; Master at 20h, slave at 70h; only IRQ2 (cascade) and IRQ13 unmasked.
        mov al, 0x11
        out 0x20, al
        out 0xA0, al
        mov al, 0x20
        out 0x21, al
        mov al, 0x70
        out 0xA1, al
        mov al, 4
        out 0x21, al
        mov al, 2
        out 0xA1, al
        mov al, 1
        out 0x21, al
        out 0xA1, al
        mov al, 0xFB
        out 0x21, al
        mov al, 0xDF
        out 0xA1, al
        mov ecx, VEC_IRQ13
        mov eax, irq13_handler
        mov dx, SEL_CODE32
        mov bx, 0x8E00
        call set_idt
        mov dword [V_IRQ_COUNT], 0
        fninit
        mov word [V_CW], 0x037B
        fldcw [V_CW]
        fld1
        fldz
        sti
        fdivp st1, st0                  ; ZE, unmasked: FERR# (now, or deferred)
.after: fwait                           ; a 486 or Pentium freezes here and asserts FERR#
        cli
        mov eax, [V_IRQ_COUNT]
        CHECK_EAX "irq13-delivered-once", 1
        mov eax, [V_IRQ_EIP]
        CHECK_EAX "irq13-after-faulting-insn", .after
        mov eax, [V_IRQ_SW]
        CHECK_MASKED "irq13-sees-ze", 0x0084, 0x0084
        fninit
        mov al, 0xFF
        out 0x21, al
        out 0xA1, al
        ret

irq13_handler:
        push eax
        inc dword [V_IRQ_COUNT]
        mov eax, [esp + 4]
        mov [V_IRQ_EIP], eax
        fnstsw ax
        mov [V_IRQ_SW], eax
        fnclex
        xor al, al
        out 0xF0, al                    ; clear the FERR# latch (IGNNE#)
        mov al, 0x20
        out 0xA0, al                    ; EOI to the slave, then the master
        out 0x20, al
        pop eax
        iretd

        align 8
guest_gdt:
guest_gdt_end:

        ROM_END
